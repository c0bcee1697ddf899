"""The cross-check again, the pyperf way: one library, one case, in pyperf's worker processes.

    python benchmarks/pyperf_loop.py --lib torch --case conv2d/resnet/float32 --fast
    python benchmarks/pyperf_loop.py --lib cyconv --case conv2d/resnet/float32 -p 4 -n 3 -o cy.json

pyperf spawns fresh processes (``-p``), each importing the library with the harness's thread
settings, calibrating the loop count so a value lasts >= 100 ms, discarding warm-ups (``-w``)
and reporting mean ± standard deviation of the values (``-n`` per process). Every other
pyperf option works (``--help``). ``run.py`` runs it in full runs beside ``plain_loop.py``, as
an independent measurement of the harness's ResNet-block row (see README, "The cross-check").
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _add_cmdline_args(cmd, args):
    cmd.extend(("--lib", args.lib, "--case", args.case, "--threads", str(args.threads)))


_STATE = {}


def _fn(args):
    if "fn" not in _STATE:
        import cases
        import libraries
        import worker

        case = cases.by_id()[args.case]
        _STATE["info"] = worker._setup(libraries.WORKER_OF[args.lib], args.threads)  # keeps the BLAS limit
        _STATE["fn"] = libraries.build(args.lib, case, args.threads).fn
    return _STATE["fn"]


def main():
    import pyperf

    runner = pyperf.Runner(add_cmdline_args=_add_cmdline_args)
    runner.argparser.add_argument("--lib", required=True, help="contender label: cyconv, torch, ...")
    runner.argparser.add_argument("--case", required=True, help="case id, e.g. conv2d/resnet/float32")
    runner.argparser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = runner.parse_args()

    def timed(loops):
        fn = _fn(args)
        t0 = pyperf.perf_counter()
        for _ in range(loops):
            fn()
        return pyperf.perf_counter() - t0

    runner.bench_time_func(f"{args.lib} {args.case}", timed)


if __name__ == "__main__":
    main()
