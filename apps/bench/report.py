"""The outputs of a run: the printed table, the JSON file with every figure, a Markdown table and the PNG charts.

Ratios are minigrad's time divided by the peer's: 2.0 means minigrad takes twice
as long, below 1.0 it is faster. Times are medians over rounds with the min-max
spread beside them; GFLOP/s and "% peak" are minigrad's, the peak being numpy's
BLAS on a square GEMM of the same FLOP count measured in the same run.
"""

import json
import math
import os

PEER_LABELS = {"minigrad": "minigrad", "torch": "PyTorch", "numpy": "numpy"}


def _unit(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if seconds >= scale:
            return unit, scale
    return "us", 1e-6


def _num(value):
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def fmt_time(seconds):
    if seconds is None:
        return "-"
    unit, scale = _unit(seconds)
    return f"{_num(seconds / scale)} {unit}"


def _cell(peer_stats):
    """'4.56 ms (4.50-4.70)': the median, then min and max in the median's unit."""
    if not peer_stats:
        return "-"
    unit, scale = _unit(peer_stats["median"])
    return (f"{_num(peer_stats['median'] / scale)} {unit} "
            f"({_num(peer_stats['min'] / scale)}-{_num(peer_stats['max'] / scale)})")


def _ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def rows(report):
    """One list of cells per workload, in the order of ``columns()``."""
    out = []
    for r in report["results"]:
        p = r["peers"]
        mg = p.get("minigrad") or {}
        out.append([
            r["name"], _cell(p.get("minigrad")), _cell(p.get("torch")), _cell(p.get("numpy")),
            _ratio(r["ratios"].get("minigrad/torch")), _ratio(r["ratios"].get("minigrad/numpy")),
            f"{mg['gflops']:.1f}" if mg.get("gflops") else "-",
            f"{r['pct_gemm_peak']:.0f}%" if r["pct_gemm_peak"] is not None else "-",
            "busy" if r["load"]["busy"] else "",
        ])
    return out


def columns():
    return ["workload", "minigrad (min-max)", "PyTorch (min-max)", "numpy ref (min-max)",
            "mg/torch", "mg/numpy", "GFLOP/s", "% peak", "load"]


def header_lines(report):
    s, m = report["settings"], report["machine"]
    used = [f"{PEER_LABELS[k]} {v}" for k, v in report["peers"].items() if v and k in PEER_LABELS]
    missing = [PEER_LABELS[k] for k, v in report["peers"].items() if not v and k in PEER_LABELS]
    lines = [
        f"minigrad bench{' --quick' if s['quick'] else ''}: {s['threads']} threads, {s['dtype']}, "
        f"median of {s['rounds']} interleaved rounds after warm-up"
        + (f" (at least 3: fewer when {s['rounds']} would exceed {s['round_budget_s']:g} s)" if s.get("round_budget_s") and s["rounds"] > 3 else "")
        + ", time per call",
        f"peers used: {', '.join(used)} (numpy = the plain im2col reference engine); "
        f"peak = numpy BLAS on a square GEMM of the same FLOPs (best round)" + (f"; not installed: {', '.join(missing)}" if missing else ""),
        f"machine: {m.get('cpu')}, {m.get('cores')} cores, BLAS {m.get('numpy_blas')}, "
        f"Numba threading layer {m.get('numba_threading_layer')}, OMP_WAIT_POLICY={m.get('omp_wait_policy')}",
        "mg/X = minigrad time / X time (2.00x: minigrad takes twice as long; below 1: faster)",
    ]
    return lines


def load_lines(report):
    load = report["load"]
    before, after = load["before"], load["after"]
    def one(d):
        other = "n/a" if d.get("other_cores") is None else f"{d['other_cores']:.2f}"
        return f"other processes {other} cores, loadavg {d.get('loadavg') or 0:.2f}, spin probe {d['spin_probe']:.2f}"
    verdict = "BUSY: the numbers are noisier than usual" if load["busy"] else "quiet"
    lines = [f"machine load: {verdict} (before: {one(before)}; after: {one(after)})"]
    if load["busy_workloads"]:
        lines.append(f"  rows marked busy: other processes used > {load['threshold_other_cores']} cores while they ran")
    return lines


def jit_lines(report):
    jit = report.get("jit")
    if not jit:
        return []
    out = []
    for kind in ("cold", "cached"):
        d = jit.get(kind)
        if not d:
            continue
        if "error" in d:
            out.append(f"JIT {kind}: failed ({d['error']})")
        else:
            out.append(f"JIT {kind}: import {fmt_time(d['import_s'])}, first conv+pool step "
                       f"{fmt_time(d['first_call_s'])} (compile/load {fmt_time(d['compile_s'])}), "
                       f"warm {fmt_time(d['warm_call_s'])}")
    return out


def geomean_lines(report):
    """The geometric mean of each ratio over each group: one summary number per kind of work."""
    out = []
    groups = []
    for r in report["results"]:
        if r["group"] not in groups:
            groups.append(r["group"])
    for group in groups:
        cells = []
        for key in ("minigrad/torch", "minigrad/numpy"):
            values = [r["ratios"][key] for r in report["results"] if r["group"] == group and key in r["ratios"]]
            if values:
                g = math.exp(sum(math.log(v) for v in values) / len(values))
                cells.append(f"{key} {g:.2f}x over {len(values)}")
        if cells:
            out.append(f"  {group:<12} " + "; ".join(cells))
    return ["geometric mean of the ratios by group:"] + out if out else []


def memory_lines(report):
    """`--memory`: each workload's peak numpy allocation for one minigrad call, and VGG-16's peak RSS."""
    if not report.get("memory"):
        return []
    out = ["peak numpy allocation of one minigrad call (tracemalloc, inputs excluded):"]
    out += [f"  {r['name']:<40} {r['peak_numpy_mb']:.1f} MB" for r in report["results"] if "peak_numpy_mb" in r]
    vgg = report["memory"].get("vgg16") or {}
    if "error" in vgg:
        out.append(f"VGG-16 peak RSS probe failed: {vgg['error']}")
    elif vgg:
        out.append(f"VGG-16 convs + pools, batch {vgg['batch']}, 224 x 224, forward + backward: "
                   f"peak RSS {vgg['peak_rss_bytes'] / 2**30:.2f} GiB")
    return out


def error_lines(report):
    return [f"error: {r['name']}: {peer}: {msg}" for r in report["results"] for peer, msg in r["errors"].items()]


def text_table(report):
    cols, body = columns(), rows(report)
    widths = [max(len(c), *(len(row[i]) for row in body)) if body else len(c) for i, c in enumerate(cols)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = header_lines(report) + [""] + [line(cols).rstrip(), "  ".join("-" * w for w in widths)]
    out += [line(row).rstrip() for row in body]
    out += [""] + geomean_lines(report) + jit_lines(report) + memory_lines(report) + load_lines(report)
    out += error_lines(report)
    return "\n".join(out)


def markdown_table(report):
    cols, body = columns(), rows(report)
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(out)


def write_json(report, path):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1, default=str)
    os.replace(tmp, path)


def ratio_chart(report, path):
    """Horizontal bars of minigrad/PyTorch and minigrad/numpy per workload, log scale, 1.0 marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in report["results"] if r["ratios"] and not r["group"].startswith("scale")]
    if not results:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(results) + 1.6))
    ys = range(len(results))
    for k, (key, color) in enumerate((("minigrad/torch", "tab:red"), ("minigrad/numpy", "tab:blue"))):
        values = [r["ratios"].get(key, float("nan")) for r in results]
        ax.barh([y + 0.4 * k - 0.2 for y in ys], values, height=0.4, color=color, label=f"{key} time")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(list(ys), [r["name"] for r in results], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("minigrad time / peer time (log; right of 1 = minigrad slower)")
    ax.set_title(f"minigrad vs peers, {report['settings']['threads']} threads" + (" (machine busy)" if report["load"]["busy"] else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scaling_chart(report, path):
    """Time against batch size and against image size for one ResNet BasicBlock, minigrad and PyTorch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    panels = [("scale-batch", "batch size"), ("scale-size", "image size (pixels per side)")]
    if not any(r["group"] == g for r in report["results"] for g, _ in panels):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (group, xlabel) in zip(axes, panels):
        rs = sorted((r for r in report["results"] if r["group"] == group), key=lambda r: r["x"])
        for peer, color in (("minigrad", "tab:green"), ("torch", "tab:red")):
            pts = [(r["x"], r["peers"][peer]) for r in rs if peer in r["peers"]]
            if pts:
                xs = [x for x, _ in pts]
                med = [s["median"] * 1e3 for _, s in pts]
                err = [[(s["median"] - s["min"]) * 1e3 for _, s in pts], [(s["max"] - s["median"]) * 1e3 for _, s in pts]]
                ax.errorbar(xs, med, yerr=err, marker="o", color=color, capsize=3, label=PEER_LABELS[peer])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        if rs:  # label the measured sizes themselves, not powers of two
            ax.set_xticks([r["x"] for r in rs], [str(r["x"]) for r in rs])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ms per forward+backward (median, min-max)")
        ax.set_title(rs[0]["name"].split(" b")[0] + (" vs batch" if group == "scale-batch" else " vs size") if rs else group)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(report, out_dir):
    """bench.json, bench.md, ratios.png and scaling.png under out_dir; returns {kind: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "bench.json"), "markdown": os.path.join(out_dir, "bench.md")}
    for kind, fn in (("ratios_png", ratio_chart), ("scaling_png", scaling_chart)):
        written = fn(report, os.path.join(out_dir, kind.replace("_png", ".png")))
        if written:
            paths[kind] = written
    report["outputs"] = paths
    write_json(report, paths["json"])
    with open(paths["markdown"], "w") as f:
        f.write("\n".join(header_lines(report)) + "\n\n" + markdown_table(report) + "\n\n"
                + "\n".join(geomean_lines(report) + jit_lines(report) + memory_lines(report) + load_lines(report)
                            + error_lines(report)) + "\n")
    return paths


BEGIN, END = "<!-- minigrad bench: begin -->", "<!-- minigrad bench: end -->"


def results_section(report, chart_names):
    """The Markdown of a full run for benchmarks/RESULTS.md: command, machine, load, table, charts."""
    m, load = report["machine"], report["load"]
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('threading_layer')})" for b in m.get("blas", []))
    lines = [
        "## minigrad bench: minigrad vs PyTorch vs numpy",
        "",
        "The latest full run of `minigrad bench`, written by `--results-md` (rerun it to replace this "
        "section; the README's Benchmarks section explains the columns). The figures of every round are in "
        "the run's bench.json.",
        "",
        f"Command: `{report['command']}` (started {report['started']}, {report['elapsed_s'] / 60:.1f} min of workloads).",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores; {report['settings']['threads']} threads for every peer; "
        f"BLAS {m.get('numpy_blas')} [{blas}]; Numba {m.get('numba')} ({m.get('numba_threading_layer')} layer); "
        f"numpy {m.get('numpy')}; PyTorch {m.get('torch') or 'not installed'}; Python {m.get('python')}; "
        f"OMP_WAIT_POLICY={m.get('omp_wait_policy')}.",
        "",
        "; ".join(line.strip() for line in load_lines(report)).replace("machine load: ", "Machine load: ", 1) + ".",
        "",
    ]
    lines += header_lines(report)[3:] + ["", markdown_table(report), ""]
    lines += ["```"] + geomean_lines(report) + jit_lines(report) + memory_lines(report) + error_lines(report)
    lines += ["```", ""]
    lines += [f"![{name}]({name})" for name in chart_names]
    return "\n".join(lines)


def update_results_md(report, path):
    """Replace (or append) this tool's section of ``path``, between BEGIN and END; copy the PNGs beside it.

    Other sections of the file (written by hand or by other reports) are left as they are.
    """
    import shutil

    directory = os.path.dirname(os.path.abspath(path))
    names = []
    for kind in ("ratios_png", "scaling_png"):
        source = report.get("outputs", {}).get(kind)
        if source:
            name = f"bench-{os.path.basename(source)}"
            shutil.copyfile(source, os.path.join(directory, name))
            names.append(name)
    block = f"{BEGIN}\n{results_section(report, names)}\n{END}"
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
    return path
