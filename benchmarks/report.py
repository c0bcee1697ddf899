"""Turn measured results into rows, the printed table, the JSON file, the PNG chart and the
Markdown snippet for the README."""

import json
import math
import os

import libraries
import targets as targets_mod
import timer
from cases import Conv

SECTION_TITLES = {
    "conv2d": "conv2d forward",
    "conv2d_backward": "conv2d backward (input + weight + bias grads)",
    "nhwc": "conv2d forward, NHWC (layout='NHWC') vs NCHW vs PyTorch channels_last",
    "nhwc_backward": "conv2d backward, NHWC vs NCHW vs PyTorch channels_last",
    "dask": "cyconv.dask conv2d, batch chunked along N, threaded scheduler, vs one in-memory call",
    "dask_backward": "cyconv.dask conv2d_backward, batch chunked along N, vs one in-memory call",
    "train": "training loop: the README's / demo's LeNet step, default threads vs one",
    "build": "kernel builds: default vs forced AVX2 and portable (CYCONV_KERNELS)",
    "max_pool2d": "pooling forward", "avg_pool2d": "pooling forward",
    "max_pool2d_backward": "pooling backward", "avg_pool2d_backward": "pooling backward",
    "correlate2d": "single plane: correlate2d (valid)",
}
SHORT = {"onnxruntime": "ort", "torch channels_last": "pt cl", "torch NCHW": "pt NCHW", "cyconv NHWC": "cy NHWC",
         "cyconv NCHW": "cy NCHW", "cyconv.dask": "cy.dask", "cyconv portable": "cy portable",
         "cyconv avx2": "cy avx2", "cyconv 1 thread": "cy 1 thread", "torch": "torch"}
ROOFS = ("matmul", "copy")
PRIMARY = ("cyconv NHWC", "cyconv.dask", "cyconv")


def fmt_ratio(v):
    if v is None:
        return "n/a"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.2g}"


def short(label):
    return SHORT.get(label, label)


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


def _fmt_num(x):
    if x >= 0.001:
        return f"{x:.3g}" if x < 1000 else f"{x:.0f}"
    return f"{x:.1e}".replace("e-0", "e-")


def spec_dict(spec):
    d = {"text": spec.text}
    if isinstance(spec, Conv):
        d.update(note=spec.note, gemm_bound=spec.gemm_bound, is_1x1=spec.is_1x1, gemm=list(spec.gemm),
                 stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups)
    return d


def summarise(raw):
    """One measured case as a plain dict (what goes to JSON, the tables and the targets)."""
    case = raw["case"]
    st = {lab: timer.stats(s) for lab, s in raw["samples"].items()}
    for lab, c in raw["calls"].items():
        if lab in st:
            st[lab]["calls_per_sample"] = c
    med = {lab: s["median_s"] for lab, s in st.items()}
    primary = next((p for p in PRIMARY if p in case.contenders), "cyconv")
    cy = med.get(primary)
    ratios = {lab: cy / m for lab, m in med.items() if cy and lab != primary and lab not in ROOFS}
    rate = case.work / cy / 1e9 if cy else None
    row = {
        "id": case.id, "section": case.section, "case": case.name, "dtype": case.dtype, "shape": case.spec.text,
        "spec": spec_dict(case.spec), "work": case.work, "unit": case.unit, "primary": primary,
        "contenders": list(case.contenders), "timings": st,
        "rates": {lab: case.work / m / 1e9 for lab, m in med.items() if lab not in ROOFS},
        "cyconv_rate": rate, "ratios": ratios, "roof": case.roof, "roof_rate": None, "fraction_of_roof": None,
        "errors": raw["errors"], "skipped": raw["skipped"], "wrong": raw["wrong"], "reference": raw["reference"],
        "rounds": raw.get("rounds"), "quiet_wait_s": raw["quiet_wait_s"], "load_1min": raw["load_1min"],
        "elapsed_s": raw["elapsed_s"],
    }
    if case.roof in med:
        row["roof_rate"] = libraries.roof_work(case) / med[case.roof] / 1e9
        if rate:
            row["fraction_of_roof"] = rate / row["roof_rate"]
    if case.section.startswith("nhwc"):
        row["nhwc_over_nchw"] = ratios.get("cyconv NCHW")
        row["nhwc_over_torch_cl"] = ratios.get("torch channels_last")
    if case.section.startswith("dask"):
        row["dask_over_inmemory"] = ratios.get("cyconv")
    if case.section == "train" and cy:
        row["threads_over_one"] = ratios.get("cyconv 1 thread")
        row["demo_training_s"] = cy * case.spec.steps
        row["demo_steps"] = case.spec.steps
    if case.section == "build" and "cyconv portable" in med:
        ref = "cyconv avx2" if "cyconv avx2" in med else "cyconv"
        if ref in med:
            row["baseline_fraction"] = med[ref] / med["cyconv portable"]
            row["baseline_against"] = ref
    return row


# --- text tables --------------------------------------------------------------------------


def _cell(row, lab):
    t = row["timings"].get(lab)
    if t:
        return fmt_time(t["median_s"], t["half_iqr"]) + ("!" if lab in row["wrong"] else "")
    if lab in row["skipped"]:
        return "skip"
    if lab in row["errors"]:
        return "n/a"
    return "-"


def _label(row):
    name = row["case"] if "pool" not in row["section"] else row["section"].split("_")[0] + " " + row["case"]
    return f"{name} {row['dtype'].replace('float', 'f')}"


def _groups(rows):
    """Rows by section title, with the union of their contenders (in case order)."""
    groups = {}
    for r in rows:
        if r["section"] in SECTION_TITLES:
            g = groups.setdefault(SECTION_TITLES[r["section"]], {"rows": [], "labs": [], "primary": r["primary"]})
            g["rows"].append(r)
            g["labs"] += [lab for lab in r["contenders"] if lab not in g["labs"]]
    for g in groups.values():
        g["peers"] = [lab for lab in g["labs"] if lab != g["primary"] and lab not in ROOFS]
    return groups


def table_lines(rows):
    lines = []
    rows = [r for r in rows if r["section"] in SECTION_TITLES]
    for title, g in _groups(rows).items():
        labs, peers = g["labs"], g["peers"]
        head = f"{'case':<20}" + "".join(f"{short(lab):>13}" for lab in labs)
        head += "".join(f"{'cy/' + short(p):>{max(8, len(short(p)) + 4)}}" for p in peers)
        lines += ["", f"== {title} ==", head + f" {'cyconv rate':>15} {'of roof':>7}"]
        for row in g["rows"]:
            text = f"{_label(row):<20}" + "".join(f"{_cell(row, lab):>13}" for lab in labs)
            for p in peers:
                v = row["ratios"].get(p)
                text += f"{fmt_ratio(v):>{max(8, len(short(p)) + 4)}}"
            rate = f"{_fmt_num(row['cyconv_rate'])} {row['unit']}" if row["cyconv_rate"] else "n/a"
            frac = f"{row['fraction_of_roof']:.0%}" if row["fraction_of_roof"] is not None else ""
            lines.append(f"{text} {rate:>15} {frac:>7}")
    notes = sorted({f"{short(lab)}: {why}" for row in rows for d in (row["errors"], row["skipped"])
                    for lab, why in d.items()})
    wrong = [f"{row['id']} {lab}: {why}" for row in rows for lab, why in row["wrong"].items()]
    if rows:
        lines += ["", "times: median per call over interleaved rounds ± half the inter-quartile range; "
                      "cy/X: ratio of medians (below 1: cyconv faster); of roof: cyconv's rate as a fraction of "
                      "the NumPy matmul of the equivalent GEMM (conv) or of the threaded copy (pooling), timed "
                      "in the same rounds"]
    if notes:
        lines += ["skip / n/a:"] + [f"  {n}" for n in notes]
    if wrong:
        lines += ["", "! = result differs from the reference (time shown, but not a valid comparison):"]
        lines += ["  " + w for w in wrong]
    return lines


def header_lines(payload):
    m, s = payload["machine"], payload["settings"]
    w = payload.get("workers", {})
    cy = w.get("cyconv", {})
    lines = [f"cyconv benchmarks, {payload['created_utc'][:16].replace('T', ' ')} UTC, "
             f"{'quick' if s['quick'] else 'full'} run: {s['rounds']} interleaved rounds per case (at least 3 where "
             f"a case would take over {s.get('case_budget_s')} s), samples of >= {s['min_time_s']:g} s of "
             f"back-to-back calls, one worker process per library",
             f"machine: {m['cpu_model']}, {m['cpus']} CPUs ({m.get('hypervisor') or 'no hypervisor'}); "
             f"threads: {s['threads']} for every library",
             f"kernel build: {kernel_build(payload)}",
             "cyconv show_config: " + " | ".join(" ".join(ln.split()) for ln in cy.get("config", []))]
    vers = [f"{lib} {i.get('version')}" for lib, i in w.items() if not lib.startswith("cyconv-")]
    lines.append("versions: " + ", ".join(vers) + f", python {m['python']}")
    blas = {f"{p['internal_api']} {p['version']} ({p['architecture']})"
            for p in cy.get("threadpools", []) if p["user_api"] == "blas"}
    if blas:
        lines.append("BLAS (NumPy): " + ", ".join(sorted(blas)))
    if "jax" in w:
        lines.append(f"jax: XLA CPU pool sized from the process's CPU affinity {w['jax'].get('affinity')}")
    la, le = m.get("loadavg_start"), m.get("loadavg_end")
    if la:
        busy = max(la[0], (le or la)[0]) > 0.5 * (m["cpus"] or 1)
        lines.append(f"load average (1/5/15 min) at start {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}"
                     + (f", at end {le[0]:.2f}/{le[1]:.2f}/{le[2]:.2f}" if le else "")
                     + ("  -- WARNING: machine busy, timings are noisy" if busy else ""))
    for note in payload.get("notes", []):
        lines.append("note: " + note)
    return lines


def kernel_build(payload):
    """What cyconv's show_config says about the kernel build (or that it says nothing)."""
    cfg = payload.get("workers", {}).get("cyconv", {}).get("config", [])
    named = [ln.strip() for ln in cfg if any(k in ln.lower() for k in ("kernel", "simd", "isa", "engine"))]
    build_type = [ln.split(":", 1)[1].strip() for ln in cfg if ln.lower().startswith("build type")]
    if named:
        return "; ".join(named)
    return (f"show_config names none (build type {build_type[0] if build_type else '?'}; "
            "kernels chosen at import: AVX2+FMA where the CPU has it, unless CYCONV_BASELINE_KERNELS=1)")


def load_lines(load):
    if not load:
        return []
    if load.get("error"):
        return ["", "== under load ==", f"n/a: {load['error']}"]
    lines = ["", f"== under load: {load['case']}, {load['burners']} CPU-burning processes beside it ==",
             f"{'library':<10}{'idle':>14}{'loaded':>14}{'slowdown':>10}"]
    for lib in ("cyconv", "torch"):
        i, ld = load["idle"].get(lib), load["loaded"].get(lib)
        sd = load.get(f"slowdown_{lib}")
        lines.append(f"{lib:<10}{fmt_time(i and i['median_s'], i and i['half_iqr']):>14}"
                     f"{fmt_time(ld and ld['median_s'], ld and ld['half_iqr']):>14}"
                     f"{(f'{sd:.1f}x' if sd else 'n/a'):>10}")
    lines.append(f"load average (1 min) during the loaded rounds: {load.get('load_1min_loaded')}")
    return lines


def crosscheck_lines(cc):
    if not cc:
        return []
    lines = ["", f"== cross-check: {cc['case']}, harness vs each library alone in a plain loop in its own process =="]
    for lib, r in cc["libs"].items():
        if r.get("error"):
            lines.append(f"{lib:<10} n/a: {r['error']}")
            continue
        lines.append(f"{lib:<10} harness {fmt_time(r['harness_s'], r.get('harness_half_iqr'))}, plain loop "
                     f"{fmt_time(r['plain_s'])} (chunks {fmt_time(r['plain_min_s'])}..{fmt_time(r['plain_max_s'])}, "
                     f"{r['plain_calls']} calls): harness/plain {r['ratio']:.2f}")
        pp = r.get("pyperf")
        if pp and not pp.get("error"):
            lines.append(f"{'':<10} pyperf ({pp['processes']} processes, {pp['values']} values): median "
                         f"{fmt_time(pp['median_s'])}, mean {fmt_time(pp['mean_s'])} ± {fmt_time(pp['stdev_s'])}: "
                         f"harness/pyperf {r['harness_s'] / pp['median_s']:.2f}")
        elif pp:
            lines.append(f"{'':<10} pyperf n/a: {pp['error']}")
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
        lines.append(f"import cyconv after numpy adds {added:.1f} ms "
                     f"(+{imports.get('cyconv_added_maxrss_mib', float('nan')):.1f} MiB peak RSS)")
    for name, err in imports["errors"].items():
        lines.append(f"{name}: n/a ({err})")
    return lines


def _mib(n):
    return "n/a" if n is None else f"{n / 2**20:.1f}"


def memory_lines(memory):
    if not memory:
        return []
    lines = ["", "== extra memory of one conv2d call beyond its inputs and output, MiB "
                 "(RSS high-water mark in a fresh process; cyconv also tracemalloc) ==",
             f"{'case':<18}{'im2col':>8}{'in':>8}{'out':>8}{'cy RSS':>8}{'cy trace':>10}{'pt RSS':>8}"]
    for r in memory:
        s, t = r["rss_extra"], r["tracemalloc_extra"]
        lines.append(f"{r['case'] + ' ' + r['dtype'].replace('float', 'f'):<18}{_mib(r['im2col_bytes']):>8}"
                     f"{_mib(r['input_bytes']):>8}{_mib(r['output_bytes']):>8}{_mib(s.get('cyconv')):>8}"
                     f"{_mib(t.get('cyconv')):>10}{_mib(s.get('torch')):>8}")
    errs = sorted({f"{lib}: {e}" for r in memory for lib, e in r["errors"].items()})
    if errs:
        lines.append("n/a: " + "; ".join(errs))
    return lines


def _fig(entry, v):
    if v is None:
        return "n/a"
    return fmt_ratio(v) if entry["fmt"] == "{:.2f}" else entry["fmt"].format(v)


def target_lines(entries):
    lines = ["", "== targets (issue 8, issue 10, earlier), checked against this run =="]
    for e in entries:
        v = targets_mod.verdict(e)
        worst = e["worst"]
        fig = f"; worst {worst['id']} = {_fig(e, worst['figure'])}" if worst else ""
        lines.append(f"[{v:>12}] {e['target']} ({e['source']}): {e['met']} met, {e['missed']} missed"
                     + (f", {e['not_measured']} not measured" if e["not_measured"] else "") + fig)
        misses = [c for c in e["checks"] if c["met"] is False]
        if misses and len(misses) <= 12:
            lines.append("               missed: " + ", ".join(
                f"{c['id'].split('/', 1)[1]} {_fig(e, c['figure'])}" for c in misses))
        elif misses:
            lines.append(f"               missed on {len(misses)} cases (see the JSON)")
    for src, text in targets_mod.NOT_MEASURED_HERE:
        lines.append(f"[not measured] {text} ({src})")
    met = sum(e["met"] for e in entries)
    missed = sum(e["missed"] for e in entries)
    lines.append(f"checks: {met} met, {missed} missed")
    return lines


def render_lines(payload):
    lines = header_lines(payload)
    lines += table_lines(payload["rows"])
    lines += load_lines(payload.get("load"))
    lines += crosscheck_lines(payload.get("crosscheck"))
    lines += import_lines(payload.get("imports"))
    lines += memory_lines(payload.get("memory"))
    lines += target_lines(payload["targets"])
    return lines


def write_json(path, payload):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
        fh.write("\n")
    os.replace(tmp, path)


# --- Markdown snippet for the README ------------------------------------------------------


def markdown(payload):
    m, s = payload["machine"], payload["settings"]
    la, le = m.get("loadavg_start"), m.get("loadavg_end")
    out = [f"Measured {payload['created_utc'][:16].replace('T', ' ')} UTC on {m['cpu_model']} "
           f"({m['cpus']} CPUs), {s['threads']} threads for every library, load average (1 min) "
           f"{la[0]:.2f} at start and {(le or la)[0]:.2f} at end; cyconv kernel build: {kernel_build(payload)}. "
           f"Steady state: medians of {s['rounds']} interleaved rounds of back-to-back calls "
           f"(>= {s['min_time_s']:g} s per sample), each library in its own worker process; "
           f"`python benchmarks/run.py{' --quick' if s['quick'] else ''}`."]
    if max(la[0], (le or la)[0]) > 0.5 * (m["cpus"] or 1):
        out[0] += " **The machine was busy (load average above half the cores): the timings are noisy.**"
    out.append("")
    out += headline(payload["rows"])
    for title, g in _groups(payload["rows"]).items():
        labs, peers = g["labs"], g["peers"]
        head = ["case", "shape"] + [short(lab) for lab in labs] + [f"cy/{short(p)}" for p in peers] + \
            ["cyconv rate", "of roof"]
        out += [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for r in g["rows"]:
            cells = [_label(r), r["shape"]] + [_cell(r, lab) for lab in labs]
            cells += [fmt_ratio(r["ratios"].get(p)) for p in peers]
            cells.append(f"{_fmt_num(r['cyconv_rate'])} {r['unit']}" if r["cyconv_rate"] else "n/a")
            cells.append(f"{r['fraction_of_roof']:.0%}" if r["fraction_of_roof"] is not None else "")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    load = payload.get("load")
    if load and not load.get("error"):
        out += [f"**Under load** ({load['case']}, {load['burners']} CPU-burning processes beside it): "
                + ", ".join(f"{lib} {fmt_time(load['idle'][lib]['median_s'])} idle -> "
                            f"{fmt_time(load['loaded'][lib]['median_s'])} loaded ({load[f'slowdown_{lib}']:.1f}x)"
                            for lib in ("cyconv", "torch") if f"slowdown_{lib}" in load), ""]
    out += ["**Targets**", "", "| target | source | verdict | worst case |", "| --- | --- | --- | --- |"]
    for e in payload["targets"]:
        worst = f"{e['worst']['id']} = {_fig(e, e['worst']['figure'])}" if e["worst"] else ""
        out.append(f"| {e['target']} | {e['source']} | {targets_mod.verdict(e)} "
                   f"({e['met']} met, {e['missed']} missed) | {worst} |")
    return "\n".join(out) + "\n"


def headline(rows):
    """One line per convolution: cyconv/PyTorch forward and backward in both dtypes, and % of roof."""
    by = {(r["section"], r["case"], r["dtype"]): r for r in rows}
    names = list(dict.fromkeys(r["case"] for r in rows if r["section"] in ("conv2d", "conv2d_backward")))
    if not names:
        return []
    cols = [("conv2d", "float32"), ("conv2d", "float64"), ("conv2d_backward", "float32"),
            ("conv2d_backward", "float64")]
    out = ["**cyconv time / PyTorch time** (below 1: cyconv faster; in brackets cyconv's share of NumPy's "
           "matmul rate on the same GEMM, where the case is GEMM-bound or 1x1)", "",
           "| case | shape | forward f32 | forward f64 | backward f32 | backward f64 |",
           "| --- | --- | --- | --- | --- | --- |"]
    for name in names:
        shape = next(r["shape"] for r in rows if r["case"] == name)
        cells = []
        for sec, dt in cols:
            r = by.get((sec, name, dt))
            if r is None:
                cells.append("")
                continue
            text = fmt_ratio(r["ratios"].get("torch"))
            if r["fraction_of_roof"] is not None:
                text += f" ({r['fraction_of_roof']:.0%})"
            cells.append(text + (" !" if r["wrong"].get("cyconv") else ""))
        out.append(f"| {name} | {shape} | " + " | ".join(cells) + " |")
    return out + [""]


def write_markdown(path, payload):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(markdown(payload))


# --- PNG ----------------------------------------------------------------------------------

COLOURS = {"cyconv": "#d62728", "torch": "#1f77b4", "onnxruntime": "#ff7f0e", "jax": "#9467bd",
           "matmul": "#7f7f7f", "copy": "#7f7f7f", "scipy": "#2ca02c", "numpy": "#bcbd22",
           "cyconv NHWC": "#d62728", "cyconv NCHW": "#ff9896", "torch channels_last": "#1f77b4",
           "torch NCHW": "#aec7e8", "cyconv.dask": "#d62728", "cyconv portable": "#ff9896",
           "cyconv avx2": "#e377c2",
           "cyconv 1 thread": "#ff9896"}


def write_png(path, payload):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    groups = {}
    for r in payload["rows"]:
        if r["section"] in SECTION_TITLES and r["timings"]:
            groups.setdefault(SECTION_TITLES[r["section"]].split(",")[0].split(" (")[0], []).append(r)
    if not groups:
        return
    heights = [max(1.6, 0.34 * len(rs) + 0.8) for rs in groups.values()]
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, sum(heights)), gridspec_kw={"height_ratios": heights},
                             squeeze=False)
    for ax, (title, rs) in zip(axes[:, 0], groups.items()):
        labs = list(dict.fromkeys(lab for r in rs for lab in r["contenders"]))
        bar = 0.8 / max(1, len(labs))
        times = []
        for i, r in enumerate(rs):
            for j, lab in enumerate(labs):
                t = r["timings"].get(lab)
                if t:
                    ms = t["median_s"] * 1e3
                    times.append(ms)
                    ax.barh(i + (j - (len(labs) - 1) / 2) * bar, ms, height=bar, color=COLOURS.get(lab, "#333"),
                            label=lab, hatch="//" if lab in ROOFS else None, alpha=0.9)
        ax.set_yticks(range(len(rs)), [_label(r) for r in rs], fontsize=6)
        ax.invert_yaxis()
        ax.set_xscale("log")
        if times:
            ax.set_xlim(10 ** math.floor(math.log10(min(times))), 10 ** math.ceil(math.log10(max(times) * 1.5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(axis="x", which="major", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
        seen = {}
        for hnd, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, hnd)
        ax.legend(list(seen.values()), [short(lab) for lab in seen], fontsize=6, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("median time per call, ms (log scale; shorter is faster)", fontsize=8)
    m = payload["machine"]
    fig.suptitle(f"cyconv benchmarks: {m['cpu_model']}, {payload['settings']['threads']} threads, load average "
                 f"{m['loadavg_start'][0]:.2f} at start\ncyconv kernel build: {kernel_build(payload)[:110]}",
                 fontsize=8, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / sum(heights)))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
