"""The cross-check: one library alone, in its own process, in a plain loop.

    python benchmarks/plain_loop.py cyconv conv2d/resnet/float32
    python benchmarks/plain_loop.py torch conv2d/resnet/float32 --seconds 5 --threads 2
    python benchmarks/plain_loop.py --list

No harness: no other library in the process or in any other worker, no interleaving, no quiet
waits. The library is imported with the same thread settings as its benchmark worker and
computes the same callable on the same arrays; then it is called once per iteration of a
plain ``for`` loop, timed with ``perf_counter`` around chunks of about 0.5 s. Prints ms/call
(the whole loop's mean), and the fastest and slowest chunk; ``--json`` prints one JSON line.
``run.py`` runs this for cyconv and PyTorch on the ResNet block and compares with its own
medians (the cross-check section).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def plain(label, case_id, seconds, threads):
    import cases
    import libraries
    import worker

    case = cases.by_id()[case_id]
    info = worker._setup(libraries.WORKER_OF[label], threads)  # noqa: F841 (keeps the BLAS limit)
    fn = libraries.build(label, case, threads).fn
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = 0
    while time.perf_counter() - t0 < min(1.0, seconds / 5) or warm < 2:  # warm-up
        fn()
        warm += 1
    per = (time.perf_counter() - t0) / warm
    chunk = max(1, int(0.5 / per))
    chunks, calls, total = [], 0, 0.0
    while total < seconds or len(chunks) < 3:
        t0 = time.perf_counter()
        for _ in range(chunk):
            fn()
        dt = time.perf_counter() - t0
        chunks.append(dt / chunk)
        calls += chunk
        total += dt
    return {"lib": label, "case": case_id, "threads": threads, "per_call_s": total / calls, "calls": calls,
            "chunk_min_s": min(chunks), "chunk_max_s": max(chunks), "first_call_s": first,
            "loadavg": list(os.getloadavg())}


def run_subprocess(label, case_id, seconds, threads, env=None):
    """Run this script in a fresh interpreter; returns its JSON result (or {"error": ...})."""
    cmd = [sys.executable, os.path.abspath(__file__), label, case_id, "--seconds", str(seconds),
           "--threads", str(threads), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300 + 10 * seconds,
                         env={**os.environ, **(env or {})})
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()
        return {"error": tail[-1][:200] if tail else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lib", nargs="?", help="cyconv, torch, onnxruntime, jax, ... (a contender label)")
    p.add_argument("case", nargs="?", help="a case id, e.g. conv2d/resnet/float32")
    p.add_argument("--seconds", type=float, default=3.0, help="timed loop length (default 3)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--json", action="store_true")
    p.add_argument("--list", action="store_true", help="list case ids")
    args = p.parse_args(argv)
    if args.list or not (args.lib and args.case):
        import cases

        print("\n".join(c.id for c in cases.all_cases()))
        return 0 if args.list else 2
    r = plain(args.lib, args.case, args.seconds, args.threads)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{args.lib} {args.case}: {r['per_call_s'] * 1e3:.3f} ms/call over {r['calls']} calls "
              f"(chunks {r['chunk_min_s'] * 1e3:.3f}..{r['chunk_max_s'] * 1e3:.3f} ms; first call "
              f"{r['first_call_s'] * 1e3:.1f} ms; {args.threads} threads; load {r['loadavg'][0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
