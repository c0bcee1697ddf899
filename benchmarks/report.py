"""Turn measured results into the printed table, the JSON file and the PNG chart."""

import json
import math
import os

from targets import IMPORT_LIMIT_MS, evaluate, targets_for

LIBRARIES = ("cyconv", "torch", "scipy", "numpy")
SECTION_TITLES = {
    "conv2d": "conv2d forward",
    "conv2d_backward": "conv2d backward (input + weight + bias grads)",
    "max_pool2d": "pooling forward",
    "avg_pool2d": "pooling forward",
    "max_pool2d_backward": "pooling backward",
    "avg_pool2d_backward": "pooling backward",
    "correlate2d": "single plane: correlate2d (valid)",
}


def fmt_time(seconds, spread=None):
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale or unit == "us":
            text = f"{seconds / scale:.3g}{unit}"
            break
    if spread is not None:
        text += f"±{spread * 100:.0f}%"
    return text


def summarise(case, timings, errors, verdicts, skipped, roof_work, rates):
    """One row of results as a plain dict (what goes to JSON and the table).

    The roof a row is compared with is the probe timed in its own rounds when there is one
    (``roof_work`` set), else the run's machine rate for the dtype.
    """
    timings = dict(timings)
    probe = timings.pop("roof", None)
    medians = {lib: t.median for lib, t in timings.items()}
    cy = medians.get("cyconv")
    scale = 1e9
    rate = case.work / cy / scale if cy else None
    machine = rates.get(case.dtype, {})
    roof_rates = {"matmul": machine.get("matmul_gflops"), "copy": machine.get("copy_gbps")}
    roof_source = "run"
    if probe is not None and roof_work:
        roof_rates[case.roof] = roof_work / probe.median / scale
        roof_source = "interleaved"
    pct_of = "matmul" if case.unit == "GFLOP/s" and case.section.startswith("conv") else (
        "copy" if case.unit == "GB/s" else None)
    row = {
        "id": case.id,
        "section": case.section,
        "case": case.name,
        "dtype": case.dtype,
        "shape": case.shape,
        "work": case.work,
        "unit": case.unit,
        "timings": {lib: t.as_dict() for lib, t in timings.items()},
        "rates": {lib: case.work / m / scale for lib, m in medians.items()},
        "cyconv_rate": rate,
        "fraction_of": pct_of,
        "roof_rate": roof_rates.get(pct_of) if pct_of else None,
        "roof_source": roof_source if pct_of == case.roof else "run",
        "roof_timing": probe.as_dict() if probe is not None else None,
        "fraction_of_machine": (rate / roof_rates[pct_of]) if rate and pct_of and roof_rates[pct_of] else None,
        "ratio_cyconv_torch": (cy / medians["torch"]) if cy and "torch" in medians else None,
        "errors": errors,
        "skipped": skipped,
        "wrong": {lib: v for lib, v in verdicts.items() if v},
        "targets": [],
    }
    for t in targets_for(case.section, case.name, case.dtype):
        value, met = evaluate(t, medians, rate, roof_rates.get(t.against))
        if "cyconv" in row["wrong"]:
            met = False if met is not None else None
        row["targets"].append({"target": t.label(), "kind": t.kind, "limit": t.limit, "against": t.against,
                               "value": value, "met": met})
    return row


def _fmt_num(x):
    """3 significant digits without exponent clutter: 153, 14.4, 0.967, 4.2e-5."""
    if x >= 0.001:
        return f"{x:.3g}" if x < 1000 else f"{x:.0f}"
    return f"{x:.1e}".replace("e-0", "e-")


def _cell(row, lib):
    if lib in row["timings"]:
        t = row["timings"][lib]
        text = fmt_time(t["median_s"], t["spread"])
        return text + ("!" if lib in row["wrong"] else "")
    if lib in row["errors"]:
        return "n/a"
    return "-"


def _target_text(row):
    parts = []
    for t in row["targets"]:
        if t["met"] is None:
            verdict = "n/a"
        else:
            verdict = "met" if t["met"] else "MISSED"
        value = ""
        if t["value"] is not None:
            value = f"={t['value']:.0%}" if t["kind"] == "roof" else f"={t['value']:.2f}"
        parts.append(f"{t['target']}{value} {verdict}")
    return "; ".join(parts)


def table_lines(rows, rates):
    lines = []
    header = (f"{'case':<24}{'cyconv':>13}{'torch':>13}{'scipy':>13}{'numpy':>13}"
              f" {'cy/pt':>6} {'cyconv rate':>15} {'of roof':>7}  targets")
    last = None
    for row in rows:
        title = SECTION_TITLES[row["section"]]
        if title != last:
            lines += ["", f"== {title} ==", header]
            last = title
        name = row["case"] if row["section"] in ("conv2d", "conv2d_backward", "correlate2d") else (
            row["section"].split("_")[0] + " " + row["case"])
        label = f"{name} {row['dtype'].replace('float', 'f')}"
        ratio = f"{row['ratio_cyconv_torch']:.2f}" if row["ratio_cyconv_torch"] is not None else "n/a"
        rate = f"{_fmt_num(row['cyconv_rate'])} {row['unit']}" if row["cyconv_rate"] else "n/a"
        frac = f"{row['fraction_of_machine']:.0%}" if row["fraction_of_machine"] is not None else ""
        if frac and row["roof_source"] == "interleaved":
            frac += "*"
        cells = "".join(f"{_cell(row, lib):>13}" for lib in LIBRARIES)
        lines.append(f"{label:<24}{cells} {ratio:>6} {rate:>15} {frac:>7}  {_target_text(row)}")
    notes = sorted({f"{lib}: {why}" for row in rows for lib, why in row["errors"].items()})
    wrong = [f"{row['id']} {lib}: {why}" for row in rows for lib, why in row["wrong"].items()]
    lines += ["", "of roof: cyconv's rate as a fraction of NumPy matmul (convolutions) or copy bandwidth "
                  "(pooling), same dtype; * = the probe timed in the same rounds as the row, else the "
                  "run's roof above"]
    if notes:
        lines += ["n/a = " + "; ".join(notes)]
    if wrong:
        lines += ["", "! = result differs from PyTorch's (time shown, but not a valid comparison):"]
        lines += ["  " + w for w in wrong]
    return lines


def machine_lines(machine, rates, threads):
    lines = [
        f"machine: {machine['cpu_model']}, {machine['cpus']} CPUs; threads used: {threads} "
        f"(cyconv, torch, BLAS)",
        f"numpy {machine['numpy']}, torch {machine.get('torch')}, scipy {machine.get('scipy')}, "
        f"cyconv {machine['cyconv']}; BLAS: " + ", ".join(
            f"{p['internal_api']} {p['version']} ({p['architecture']})"
            for p in (machine.get("threadpools") or []) if p["user_api"] == "blas"),
    ]
    load = machine.get("loadavg_start")
    if load is not None:
        end = machine.get("loadavg_end", load)
        busy = max(load[0], end[0]) > 0.5 * (machine["cpus"] or 1)
        lines.append(f"load average (1 min) at start {load[0]:.2f}, at end {end[0]:.2f}"
                     + ("  -- WARNING: machine busy, timings are noisy" if busy else ""))
    for dt, r in rates.items():
        copies = ", ".join(f"{k.removeprefix('copy_')} {v:.3g}" for k, v in r["copy_gbps_by_method"].items())
        lines.append(f"roofs {dt} (best seen in the run): matmul {r['matmul_gflops']:.3g} GFLOP/s "
                     f"(n={r['matmul_n']}); copy {r['copy_gbps']:.3g} GB/s "
                     f"({r['copy_bytes'] / 2**20:.0f} MiB; {copies})")
    return lines


def import_lines(imports):
    if not imports:
        return []
    lines = ["", f"== import cost (fresh interpreters, median of {imports['repeat']}) ==",
             f"{'import':<16}{'time':>10}{'peak RSS':>12}"]
    for name, v in imports["variants"].items():
        lines.append(f"{name:<16}{v['import_ms']:>8.1f}ms{v['maxrss_mib']:>9.1f}MiB")
    added = imports.get("cyconv_added_ms")
    if added is not None:
        verdict = "met" if added <= IMPORT_LIMIT_MS else "MISSED"
        lines.append(f"import cyconv after numpy adds {added:.1f} ms "
                     f"(+{imports.get('cyconv_added_maxrss_mib', float('nan')):.1f} MiB peak RSS): "
                     f"target <= {IMPORT_LIMIT_MS:g} ms {verdict}")
    for name, err in imports["errors"].items():
        lines.append(f"{name}: n/a ({err})")
    return lines


def _mib(n):
    return "n/a" if n is None else f"{n / 2**20:.1f}"


def memory_lines(memory):
    if not memory:
        return []
    lines = ["", "== peak extra memory of one conv2d call, MiB above input+output "
                 "(tracemalloc: NumPy allocations; RSS: fresh process, everything) ==",
             f"{'case':<16}{'im2col':>8}{'in':>8}{'out':>8}{'cy trace':>10}{'cy RSS':>8}"
             f"{'pt RSS':>8}{'np trace':>10}{'np RSS':>8}"]
    for r in memory:
        t, s = r["tracemalloc_extra"], r["rss_extra"]
        lines.append(f"{r['case'] + ' ' + r['dtype'].replace('float', 'f'):<16}{_mib(r['im2col_bytes']):>8}"
                     f"{_mib(r['input_bytes']):>8}{_mib(r['output_bytes']):>8}{_mib(t.get('cyconv')):>10}"
                     f"{_mib(s.get('cyconv')):>8}{_mib(s.get('torch')):>8}{_mib(t.get('numpy')):>10}"
                     f"{_mib(s.get('numpy')):>8}")
    return lines


def target_summary(rows, imports):
    met = missed = unknown = 0
    for row in rows:
        for t in row["targets"]:
            if t["met"] is None:
                unknown += 1
            elif t["met"]:
                met += 1
            else:
                missed += 1
    added = (imports or {}).get("cyconv_added_ms")
    if added is not None:
        if added <= IMPORT_LIMIT_MS:
            met += 1
        else:
            missed += 1
    return {"met": met, "missed": missed, "not_measured": unknown}


def write_json(path, payload):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=1, default=float)
        fh.write("\n")


def write_png(path, rows, machine, threads):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    groups = [
        ("conv2d forward", [r for r in rows if r["section"] == "conv2d"]),
        ("conv2d backward", [r for r in rows if r["section"] == "conv2d_backward"]),
        ("pooling forward / backward", [r for r in rows if "pool" in r["section"]]),
        ("single plane correlate2d", [r for r in rows if r["section"] == "correlate2d"]),
    ]
    groups = [g for g in groups if g[1]]
    if not groups:
        return
    colours = {"cyconv": "#d62728", "torch": "#1f77b4", "scipy": "#2ca02c", "numpy": "#7f7f7f"}
    heights = [max(2.0, 0.42 * len(g[1]) + 0.8) for g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    bar = 0.2
    for ax, (title, rs) in zip(axes[:, 0], groups):
        labels, times = [], []
        for i, r in enumerate(rs):
            name = r["case"] if "pool" not in r["section"] else (
                r["section"].replace("_pool2d", "").replace("_backward", " bwd") + " " + r["case"])
            labels.append(f"{name} {r['dtype'].replace('float', 'f')}")
            for j, lib in enumerate(LIBRARIES):
                t = r["timings"].get(lib)
                if t:
                    ms = t["median_s"] * 1e3
                    times.append(ms)
                    ax.barh(i + (j - 1.5) * bar, ms, height=bar, color=colours[lib], label=lib)
            ratio = r["ratio_cyconv_torch"]
            if ratio is not None:
                ms = r["timings"]["cyconv"]["median_s"] * 1e3
                ax.text(ms, i - 1.5 * bar, f" cyconv/torch {ratio:.2f}", va="center", fontsize=6)
        ax.set_yticks(range(len(rs)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        if times:
            ax.set_xlim(10 ** math.floor(math.log10(min(times))), 10 ** math.ceil(math.log10(max(times) * 1.5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(axis="x", which="major", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel("median time per call, ms (log scale; shorter is faster)", fontsize=8)
    found = {}
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            found.setdefault(lab, h)
    libs = [lib for lib in LIBRARIES if lib in found]
    fig.legend([found[lib] for lib in libs], libs, loc="upper right", fontsize=8, ncol=len(libs))
    fig.suptitle(f"cyconv benchmarks: {machine['cpu_model']}, {threads} threads", fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


