"""Run the cyconv benchmark: steady-state times of cyconv and its peers, each in its own process.

    python benchmarks/run.py                  # everything (estimated 11-13 min on 2 quiet cores)
    python benchmarks/run.py --quick          # smoke run, 1-2 min
    python benchmarks/run.py --cases 'resnet' # a regex on the case ids (see --list)
    python benchmarks/run.py --list
    python benchmarks/run.py --render benchmarks/results/bench.json   # re-print a saved run

Prints the tables and the targets, writes JSON (benchmarks/results/bench.json), a PNG chart
and a Markdown snippet for the README (results/README-table.md). See benchmarks/README.md.
"""

import argparse
import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cases as case_defs  # noqa: E402
import harness as harness_mod  # noqa: E402
import load as load_mod  # noqa: E402
import machine as machine_mod  # noqa: E402
import memory as memory_mod  # noqa: E402
import plain_loop  # noqa: E402
import report  # noqa: E402
import startup  # noqa: E402
import targets as targets_mod  # noqa: E402
from libraries import WORKER_OF  # noqa: E402
from worker import quiet  # noqa: E402

LOAD_ID = f"load/{case_defs.LOAD_CONV}/float32"
CROSS_ID = f"crosscheck/{case_defs.LOAD_CONV}/float32"
CROSS_CASE = f"conv2d/{case_defs.LOAD_CONV}/float32"
# --quick: one or two of each kind, float32 (plus one float64), short samples
QUICK = (r"^conv2d(_backward)?/(resnet|1x1|notes6x8|depthwise)/float32$|^conv2d/resnet/float64$"
         r"|^nhwc/resnet/float32$|^dask/|^build/|^train/|^max_pool2d(_backward)?/.*/float32$|^correlate2d/512k3/float32$"
         r"|^load/|^crosscheck/|^imports$|^memory/resnet/float32$")


def extra_ids():
    return ([LOAD_ID, CROSS_ID] + [f"memory/{n}/{d}" for n in memory_mod.MEMORY_CASES for d in case_defs.DTYPES]
            + ["imports"])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: a few cases, 3 rounds, short samples")
    p.add_argument("--cases", metavar="REGEX", help="only the case ids this regex finds (see --list)")
    p.add_argument("--threads", type=int, default=None, help="threads for every library (default: the usable CPUs)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per case (default 5, quick 3)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds of back-to-back calls per sample (default 0.15, quick 0.05)")
    p.add_argument("--min-calls", type=int, default=1, help="at least this many calls per sample (default 1)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of warm-up calls before each sample of a call under 0.1 s (default 0.02)")
    p.add_argument("--case-budget", type=float, default=10.0,
                   help="seconds of sampling per case; slower cases get fewer rounds, never under 3 (default 10)")
    p.add_argument("--cross-seconds", type=float, default=None,
                   help="plain-loop length of the cross-check (5, quick 1.5)")
    p.add_argument("--pyperf", action=argparse.BooleanOptionalAction, default=None,
                   help="also cross-check with pyperf_loop.py (4 processes x 3 values; default: full runs only)")
    p.add_argument("--json", help="JSON output (default results/bench.json, quick: results/quick.json)")
    p.add_argument("--png", help="PNG chart (default results/bench.png, quick: results/quick.png)")
    p.add_argument("--md", help="Markdown snippet (default results/README-table.md, quick: results/quick.md)")
    p.add_argument("--skip", default="", metavar="LIBS",
                   help="comma-separated contenders or worker libraries to leave out, e.g. jax,onnxruntime")
    p.add_argument("--list", action="store_true", help="list the case ids and exit")
    p.add_argument("--render", metavar="JSON", help="re-print and redraw a saved run; no timing")
    a = p.parse_args(argv)
    a.rounds = a.rounds or (3 if a.quick else 5)
    a.min_time = a.min_time if a.min_time is not None else (0.05 if a.quick else 0.15)
    a.warmup = a.warmup if a.warmup is not None else 0.02
    a.cross_seconds = a.cross_seconds or (1.5 if a.quick else 5.0)
    a.threads = a.threads or len(os.sched_getaffinity(0))
    a.pyperf = (not a.quick) if a.pyperf is None else a.pyperf
    stem = "quick" if a.quick else "bench"
    a.json = a.json or os.path.join(HERE, "results", f"{stem}.json")
    a.png = a.png or os.path.join(HERE, "results", f"{stem}.png")
    a.md = a.md or os.path.join(HERE, "results", "quick.md" if a.quick else "README-table.md")
    if a.rounds < 1 or a.threads < 1:
        p.error("--rounds and --threads must be >= 1")
    return a


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        with open(args.render) as fh:
            payload = json.load(fh)
        if "rows" not in payload:
            print(f"{args.render} was written by the previous benchmark harness; it cannot be re-rendered",
                  file=sys.stderr)
            return 2
        output(payload, None, args.png, None)
        return 0
    all_cases = case_defs.all_cases()
    if args.list:
        print("\n".join([c.id for c in all_cases] + extra_ids()))
        return 0
    pattern = re.compile(args.cases or (QUICK if args.quick else "."))

    def wanted(case_id):
        return pattern.search(case_id) is not None

    started = time.time()

    def log(msg):
        print(f"[{time.time() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    machine = machine_mod.describe(args.threads)
    machine["loadavg_start"] = machine_mod.loadavg()
    h = harness_mod.Harness(args.threads, rounds=args.rounds, min_time=args.min_time, min_calls=args.min_calls,
                            warmup=args.warmup, case_budget=args.case_budget, log=log)
    notes = []
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    selected = [dataclasses.replace(c, contenders=tuple(lab for lab in c.contenders
                                                         if lab not in skip and WORKER_OF[lab] not in skip))
                for c in all_cases if wanted(c.id)]
    if skip:
        notes.append(f"left out on request: {', '.join(sorted(skip))}")
    try:
        log("starting the workers")
        h.start(["cyconv"])
        if "cyconv" not in h.workers:
            print(f"cyconv worker failed: {h.failed.get('cyconv')}", file=sys.stderr)
            return 1
        feats = h.workers["cyconv"].info
        for sec, ok, why in (("nhwc", feats.get("nhwc"), "cyconv.conv2d has no layout= on this branch"),
                             ("nhwc_backward", feats.get("nhwc_backward"),
                              "cyconv.conv2d_backward has no layout= on this branch"),
                             ("dask", feats.get("dask"), "no cyconv.dask on this branch"),
                             ("dask_backward", feats.get("dask"), "no cyconv.dask on this branch")):
            dropped = [c.id for c in selected if c.section == sec]
            if dropped and not ok:
                selected = [c for c in selected if c.section != sec]
                notes.append(f"skipped {len(dropped)} {sec} case(s): {why}")
                log(notes[-1])
        h.start(sorted({WORKER_OF[lab] for c in selected for lab in c.contenders}))
        rows = []
        for i, case in enumerate(selected, 1):
            log(f"({i}/{len(selected)}) {case.id}")
            rows.append(report.summarise(h.measure(case)))
        load = None
        if wanted(LOAD_ID):
            log(f"{LOAD_ID}: idle rounds, then with {load_mod.BURNERS} CPU burners")
            load = load_mod.measure(h, case_defs.by_id()[f"conv2d/{case_defs.LOAD_CONV}/float32"], log=log)
        cross = None
        if wanted(CROSS_ID):
            cross = crosscheck(h, rows, args, log)
        workers = h.info()
        log_dir = h.log_dir
    finally:
        h.close()
    imports = None
    if wanted("imports"):
        log("import cost (fresh interpreters)")
        variants = ("python", "numpy", "numpy+cyconv", "cyconv") + (() if args.quick else ("torch",))
        imports = startup.measure(repeat=3 if args.quick else 7, variants=variants)
    memory = None
    mem = [(n, d) for n in memory_mod.MEMORY_CASES for d in case_defs.DTYPES if wanted(f"memory/{n}/{d}")]
    if mem:
        log("extra memory of a conv2d call (fresh processes)")
        memory = []
        for n, d in mem:
            memory += memory_mod.measure(args.threads, dtypes=(d,), names=(n,))
    machine["loadavg_end"] = machine_mod.loadavg()
    for w in workers.values():
        w.pop("pid", None)
    payload = {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"quick": args.quick, "cases": args.cases, "skip": sorted(skip), "threads": args.threads, "rounds": args.rounds,
                     "min_time_s": args.min_time, "min_calls": args.min_calls, "warmup_s": args.warmup,
                     "case_budget_s": args.case_budget},
        "machine": machine, "workers": workers, "notes": notes, "rows": rows, "load": load, "crosscheck": cross,
        "imports": imports, "memory": memory, "worker_logs": log_dir, "elapsed_s": time.time() - started,
    }
    report.write_json(args.json, payload)  # first, so a reporting bug cannot lose a run
    output(payload, args.json, args.png, args.md)
    log(f"done in {time.time() - started:.0f} s; wrote {args.json}, {args.png}, {args.md}")
    return 0


def target_rows(payload):
    rows = list(payload["rows"])
    load = payload.get("load")
    if load and not load.get("error"):
        rows.append({"id": load["case"].replace("conv2d/", "load/"), "section": "load", **load})
    imp = payload.get("imports")
    if imp and imp.get("cyconv_added_ms") is not None:
        rows.append({"id": "imports/cyconv after numpy", "section": "imports",
                     "cyconv_added_ms": imp["cyconv_added_ms"]})
    return rows


def crosscheck(h, rows, args, log):
    """Each of cyconv and PyTorch alone in a plain loop in a fresh process vs the harness's median."""
    row = next((r for r in rows if r["id"] == CROSS_CASE), None)
    if row is None:
        log(f"cross-check: measuring {CROSS_CASE} in the harness first")
        row = report.summarise(h.measure(case_defs.by_id()[CROSS_CASE]))
    out = {"case": CROSS_CASE, "seconds": args.cross_seconds, "libs": {}}
    for lib in ("cyconv", "torch"):
        t = row["timings"].get(lib)
        if t is None:
            out["libs"][lib] = {"error": "not measured by the harness"}
            continue
        quiet(list(h.workers.values()), timeout=1.0)
        log(f"cross-check: {lib} alone in a plain loop ({args.cross_seconds:g} s)")
        r = plain_loop.run_subprocess(lib, CROSS_CASE, args.cross_seconds, args.threads)
        if "error" in r:
            out["libs"][lib] = {"error": r["error"]}
            continue
        out["libs"][lib] = {"harness_s": t["median_s"], "harness_half_iqr": t["half_iqr"],
                            "harness_min_s": t["min_s"], "harness_max_s": t["max_s"],
                            "plain_s": r["per_call_s"], "plain_min_s": r["chunk_min_s"],
                            "plain_max_s": r["chunk_max_s"], "plain_calls": r["calls"],
                            "ratio": t["median_s"] / r["per_call_s"], "loadavg": r["loadavg"]}
        if args.pyperf:
            quiet(list(h.workers.values()), timeout=1.0)
            log(f"cross-check: {lib} in pyperf's worker processes")
            out["libs"][lib]["pyperf"] = run_pyperf(lib, CROSS_CASE, args.threads)
    return out


def run_pyperf(lib, case_id, threads):
    """pyperf_loop.py in 4 fresh processes x 3 values (1 warm-up each); its median, mean, std, min, max."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pyperf.json")
        cmd = [sys.executable, os.path.join(HERE, "pyperf_loop.py"), "--lib", lib, "--case", case_id,
               "--threads", str(threads), "-p", "4", "-n", "3", "-w", "1", "--quiet", "-o", path]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return {"error": "timed out"}
        if out.returncode != 0 or not os.path.exists(path):
            tail = out.stderr.strip().splitlines()
            return {"error": tail[-1][:200] if tail else f"exit {out.returncode}"}
        try:
            import pyperf
        except ImportError:
            return {"error": "pyperf missing"}
        b = pyperf.Benchmark.load(path)
        v = b.get_values()
        return {"median_s": b.median(), "mean_s": b.mean(), "stdev_s": b.stdev() if len(v) > 1 else 0.0,
                "min_s": min(v), "max_s": max(v), "values": len(v), "processes": b.get_nrun()}


def output(payload, json_path, png_path, md_path):
    payload["targets"] = targets_mod.check(target_rows(payload))
    lines = report.render_lines(payload)
    print("\n".join(lines))
    payload["table"] = lines
    if json_path:
        report.write_json(json_path, payload)
    if md_path:
        report.write_markdown(md_path, payload)
    if png_path:
        try:
            report.write_png(png_path, payload)
        except ImportError:
            print("matplotlib missing: no PNG written", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
