"""Run the cyconv benchmark suite: cyconv vs PyTorch, SciPy and NumPy, side by side.

    python benchmarks/run.py              # full run (~10 min on 2 cores)
    python benchmarks/run.py --quick      # smoke run (~1 min)
    python benchmarks/run.py --cases 'resnet|pool' --repeat 15

Prints the table, writes JSON and a PNG chart (default under benchmarks/results/).
See benchmarks/README.md for the method.
"""

import argparse
import datetime
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import cases as case_defs  # noqa: E402
import machine as machine_mod  # noqa: E402
import memory as memory_mod  # noqa: E402
import report  # noqa: E402
import startup  # noqa: E402
from timer import measure  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fast smoke run: few repeats, short samples")
    p.add_argument("--repeat", type=int, default=None, help="rounds per case (default 9, quick 3)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per timing sample; fast calls are looped (default 0.02, quick 0.005)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds of idle before each sample so other libraries' spinning threads "
                        "sleep (default 0.05, quick 0.02)")
    p.add_argument("--cases", default=None, metavar="PATTERN",
                   help="regex on case ids such as conv2d/resnet/float32, max_pool2d_backward/2x2s2/float64, "
                        "correlate2d/512k3/float32, memory/resnet/float32, imports")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for cyconv, PyTorch and BLAS (default: cyconv's)")
    p.add_argument("--json", default=None, help="JSON output (default benchmarks/results/bench.json, quick: quick.json)")
    p.add_argument("--png", default=None, help="PNG chart (default benchmarks/results/bench.png, quick: quick.png)")
    p.add_argument("--list", action="store_true", help="list the case ids and exit")
    p.add_argument("--render", metavar="JSON", default=None,
                   help="re-print the table and redraw the PNG (--png) from a saved JSON; no timing")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 9
    if args.min_time is None:
        args.min_time = 0.005 if args.quick else 0.02
    if args.settle is None:
        args.settle = 0.02 if args.quick else 0.05
    stem = "quick" if args.quick else "bench"
    args.json = args.json or os.path.join(HERE, "results", f"{stem}.json")
    args.png = args.png or os.path.join(HERE, "results", f"{stem}.png")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        with open(args.render) as fh:
            payload = json.load(fh)
        render(payload, args.render, args.png)
        return 0
    import cyconv

    pattern = re.compile(args.cases) if args.cases else None

    def wanted(case_id):
        return pattern is None or pattern.search(case_id) is not None

    all_cases = case_defs.all_cases(cyconv, baselines_everywhere=not args.quick)
    if args.list:
        print("\n".join([c.id for c in all_cases] + [f"memory/{n}/{d}" for n in memory_mod.MEMORY_CASES
                                                      for d in case_defs.DTYPES] + ["imports"]))
        return 0

    threads = args.threads or cyconv.get_num_threads()
    cyconv.set_num_threads(threads)
    if case_defs.torch is not None:
        case_defs.torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=threads)  # BLAS (NumPy, SciPy) and OpenMP pools
    except ImportError:
        limiter = None
        print("threadpoolctl missing: BLAS thread count not controlled", file=sys.stderr)

    started = time.time()
    machine = machine_mod.describe(threads)
    machine["loadavg_start"] = os.getloadavg()
    selected = [c for c in all_cases if wanted(c.id)]
    dtypes = sorted({c.dtype for c in selected}) or list(case_defs.DTYPES)

    def progress(msg):
        print(f"[{time.time() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    progress("measuring the machine's matmul rate and copy bandwidth")
    roof_kw = dict(repeat=max(3, args.repeat // 2), min_time=args.min_time * 5, settle=args.settle)
    rates_start = machine_mod.rates(dtypes, case_defs.POOL_SHAPE, threads, **roof_kw)

    rows, loads = [], {}
    for i, case in enumerate(selected, 1):
        progress(f"({i}/{len(selected)}) {case.id}")
        loads[case.id] = os.getloadavg()[0]
        try:
            setup = case.setup()
        except Exception as exc:  # e.g. a cyconv forward needed for set-up is missing
            rows.append((case, {}, {"cyconv": f"set-up failed: {exc!r}"[:120]}, {}, {}, None))
            continue
        ref = setup.reference
        roof_work = None
        if case.roof and not args.quick:
            probe, roof_work = machine_mod.roof_probe(case.roof, case.dtype, case_defs.POOL_SHAPE, threads)
            setup.contenders[machine_mod.ROOF] = probe

        def check(name, result, ref=ref, dtype=case.dtype):
            return None if name == machine_mod.ROOF else compare(result, ref, dtype)

        timings, errors, verdicts = measure(setup.contenders, repeat=args.repeat, min_time=args.min_time,
                                            check=check, settle=args.settle)
        rows.append((case, timings, errors, verdicts, setup.skipped, roof_work))
        del setup

    if args.quick:
        rates_end = rates_start
    else:
        progress("measuring the machine again (the roofs use the better of the two measurements)")
        rates_end = machine_mod.rates(dtypes, case_defs.POOL_SHAPE, threads, **roof_kw)
    rates = {}
    for dt in rates_start:
        a, b = rates_start[dt], rates_end[dt]
        best = dict(a)
        best["matmul_gflops"] = max(a["matmul_gflops"], b["matmul_gflops"])
        best["matmul_spread"] = a["matmul_spread"] if a["matmul_gflops"] >= b["matmul_gflops"] else b["matmul_spread"]
        best["copy_gbps_by_method"] = {k: max(v, b["copy_gbps_by_method"].get(k, 0))
                                       for k, v in a["copy_gbps_by_method"].items()}
        best["copy_gbps"] = max(best["copy_gbps_by_method"].values())
        best["start"], best["end"] = a, b
        best.pop("timings", None)
        rates[dt] = best

    # the machine's rate is the best it showed anywhere in the run, interleaved probes included
    for case, timings, _, _, _, roof_work in rows:
        probe = timings.get(machine_mod.ROOF)
        if probe is not None and roof_work and case.dtype in rates:
            r = rates[case.dtype]
            if case.roof == "matmul":
                r["matmul_gflops"] = max(r["matmul_gflops"], roof_work / probe.median / 1e9)
            else:
                by = r["copy_gbps_by_method"]
                by["copy_numpy-threads"] = max(by.get("copy_numpy-threads", 0), roof_work / probe.median / 1e9)
                r["copy_gbps"] = max(by.values())
    machine["loadavg_end"] = os.getloadavg()
    summary_rows = [report.summarise(*row, rates) for row in rows]
    for row in summary_rows:
        row["loadavg_1min_at_start"] = loads.get(row["id"])

    imports = None
    if wanted("imports"):
        progress("import cost (fresh interpreters)")
        if args.quick:  # PyTorch's import (seconds) has no target: leave it to full runs
            imports = startup.measure(repeat=3, variants=("python", "numpy", "numpy+cyconv", "cyconv"))
        else:
            imports = startup.measure(repeat=7)

    memory = None
    mem_names = [n for n in memory_mod.MEMORY_CASES if any(wanted(f"memory/{n}/{d}") for d in case_defs.DTYPES)]
    if mem_names:
        progress("peak extra memory")
        memory = memory_mod.measure(cyconv, threads, use_rss=not args.quick,
                                    dtypes=[d for d in case_defs.DTYPES
                                            if any(wanted(f"memory/{n}/{d}") for n in mem_names)],
                                    names=mem_names)

    payload = {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"quick": args.quick, "repeat": args.repeat, "min_time_s": args.min_time,
                     "settle_s": args.settle, "cases": args.cases, "threads": threads},
        "machine": machine,
        "roofs": rates,
        "cases": summary_rows,
        "imports": imports,
        "memory": memory,
        "elapsed_s": time.time() - started,
    }
    report.write_json(args.json, payload)  # first, so a reporting bug cannot lose a run
    render(payload, args.json, args.png)
    progress(f"done; wrote {args.json} and {args.png}")
    del limiter
    return 0


def render(payload, json_path, png_path):
    """Print the table, store it (and the target summary) in the JSON, draw the PNG."""
    s = payload["settings"]
    lines = [f"cyconv benchmarks, {payload['created_utc'][:16].replace('T', ' ')} UTC, "
             f"{'quick' if s['quick'] else 'full'} run: {s['repeat']} interleaved rounds per case, "
             f"medians ± half the inter-quartile range"]
    lines += report.machine_lines(payload["machine"], payload["roofs"], s["threads"])
    lines += report.table_lines(payload["cases"], payload["roofs"])
    lines += report.import_lines(payload["imports"])
    lines += report.memory_lines(payload["memory"])
    summary = report.target_summary(payload["cases"], payload["imports"])
    lines += ["", f"targets: {summary['met']} met, {summary['missed']} missed, "
                  f"{summary['not_measured']} not measured (n/a)"]
    print("\n".join(lines))
    payload["targets_summary"] = summary
    payload["table"] = lines
    report.write_json(json_path, payload)
    try:
        report.write_png(png_path, payload["cases"], payload["machine"], s["threads"])
    except ImportError:
        print("matplotlib missing: no PNG written", file=sys.stderr)


def compare(result, reference, dtype):
    """None if ``result`` matches PyTorch's ``reference`` to the dtype's tolerance, else why not."""
    if reference is None:
        return None
    got = case_defs._as_tuple(result if not hasattr(result, "_fields") else tuple(result))
    if len(got) != len(reference):
        return f"{len(got)} outputs, expected {len(reference)}"
    tol = 2e-4 if dtype == "float32" else 1e-10
    for g, r in zip(got, reference):
        if g.shape != r.shape and np.squeeze(g).shape != np.squeeze(r).shape:
            return f"shape {g.shape}, expected {r.shape}"
        if g.dtype != r.dtype:
            return f"dtype {g.dtype}, expected {r.dtype}"
        scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
        err = float(np.max(np.abs(g.astype(np.float64).reshape(r.shape) - r))) if r.size else 0.0
        if not err <= tol * scale:
            return f"max abs error {err:.3g} > {tol * scale:.3g}"
    return None


if __name__ == "__main__":
    sys.exit(main())
