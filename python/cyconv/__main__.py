"""Command line: ``python -m cyconv demo [--out DIR] [--epochs N] [--seed S] [--no-figures] [--fast]``."""

import argparse
import sys


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _parser():
    parser = argparse.ArgumentParser(prog="python -m cyconv", description="cyconv: CNN primitives for NumPy.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    demo = commands.add_parser(
        "demo",
        help="run the chapter's examples and train a small CNN on scikit-learn's digits",
        description="The D2L chapter 6 examples, learning an edge kernel, and a LeNet-style CNN on "
                    "scikit-learn's bundled 8x8 digits (needs: pip install \"cyconv[demo]\").",
    )
    demo.add_argument("--out", default="cyconv-demo", metavar="DIR",
                      help="directory for the PNG figures (default: ./cyconv-demo)")
    demo.add_argument("--epochs", type=_positive_int, default=None, metavar="N",
                      help="training epochs of the digits CNN (default: 12, or 3 with --fast)")
    demo.add_argument("--seed", type=int, default=0, metavar="S",
                      help="random seed; the same seed gives the same numbers (default: 0)")
    demo.add_argument("--no-figures", action="store_true", help="do not write figures (no matplotlib needed)")
    demo.add_argument("--fast", action="store_true", help="a quick run on a small subset (for tests)")
    return parser


def main(argv=None):
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command and return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import MissingDependency, run

        try:
            run(out=args.out, epochs=args.epochs, seed=args.seed, figures=not args.no_figures, fast=args.fast)
        except MissingDependency as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"error: cannot write the figures into {args.out!r}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
