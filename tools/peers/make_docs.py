#!/usr/bin/python3
"""Regenerates the generated sections of docs/BENCHMARKS.md and the plots in docs/bench/ from
the JSON the benchmark scripts wrote:

    tools/peers/make_docs.py [--docs docs]      (Debian python3 + python3-matplotlib: /usr/bin/python3)

Inputs (under DOCS/bench/): bench.json (`hugeshim bench --json`), peers.json
(tools/peers/peers.py), latency.json (tools/latency/latency.py); a missing file leaves its
section saying so. Only the text between `<!-- generated:NAME -->` and
`<!-- /generated:NAME -->` is replaced (NAME: bench, peers, small, fragmented, latency); every
other line of BENCHMARKS.md stays as written. Plots: DOCS/bench/*.png (matplotlib, Agg).
"""
import argparse
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SECTIONS = ("bench", "peers", "small", "fragmented", "latency")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def fmt(x, digits=3):
    return f"{x:.{digits}f}"


def cell(s, digits=3):
    """median (min-max) of a stats dict."""
    return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}-{fmt(s['max'], digits)})"


def size_text(b):
    return f"{b >> 30}G" if b >= 1 << 30 and b % (1 << 30) == 0 else f"{b >> 20}M"


def verdict(ok):
    return "**met**" if ok else "**not met**"


def host_line(h, load_start, load_end):
    return (f"Machine: kernel {h.get('kernel')}, {h.get('cpus')} vCPUs, "
            f"{(h.get('mem_total_bytes') or 0) / 2**30:.0f} GiB, THP `{h.get('thp_enabled')}`, defrag "
            f"`{h.get('thp_defrag')}`; shared with other builds (load average {load_start} at the start, "
            f"{load_end} at the end).")


def bench_section(b, out_dir):
    if not b:
        return "No `docs/bench/bench.json` yet: run `hugeshim bench --json > docs/bench/bench.json`.\n"
    h = b["host"]
    lines = [host_line(h, h.get("loadavg"), h.get("loadavg_after")) + f" Raw: `docs/bench/bench.json`, "
             f"{b['settings']['repeat']} interleaved rounds, {b['wall_seconds']:.0f} s in all.", "",
             "Seconds per GiB (three significant digits), median (min-max), and the median's ratio to base "
             "pages (same size and phase).", ""]
    backings = ["base", "thp", "hugetlb-2M", "hugetlb-1G", "shim"]
    rows = {}
    for r in b["results"]:
        rows[(r["phase"], r["size_bytes"], r["backing"])] = r
    phases = [p for p in ("reserve", "populate", "mlock", "cudaHostRegister", "cudaHostAlloc")
              if any(k[0] == p for k in rows)]
    present = [x for x in backings if any(k[2] == x for k in rows)]
    for phase in phases:
        lines.append(f"**{phase}**")
        lines.append("")
        lines.append("| size | " + " | ".join(present) + " |")
        lines.append("| --- |" + " ---: |" * len(present))
        for size in b["settings"]["sizes_bytes"]:
            cells = []
            for x in present:
                r = rows.get((phase, size, x))
                if not r:
                    cells.append("-")
                    continue
                ratio = r.get("ratio_to_base")
                sp = r["seconds_per_gib"]
                cells.append(f"{sp['median']:.3g} ({sp['min']:.3g}-{sp['max']:.3g})" +
                             (f" {ratio:.2f}x" if ratio is not None else ""))
            lines.append(f"| {size_text(size)} | " + " | ".join(cells) + " |")
        lines.append("")
    for k, why in b.get("skipped", {}).items():
        lines.append(f"- {k}: not measured, {why}.")
    lines.append(f"- CUDA: {h.get('cuda')}.")
    lines.append(f"- hugetlb pool restored after the run: {b.get('pool_restored')}.")
    # Plot: populate seconds per GiB against size.
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for x in present:
        pts = [(s, rows[("populate", s, x)]["seconds_per_gib"]["median"]) for s in b["settings"]["sizes_bytes"]
               if ("populate", s, x) in rows]
        if pts:
            ax.plot([p[0] / 2**20 for p in pts], [p[1] for p in pts], marker="o", label=x)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("size (MiB)")
    ax.set_ylabel("populate, s per GiB (median)")
    ax.set_title("hugeshim bench: populate cost per backing")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "bench-populate.png"), dpi=110)
    plt.close(fig)
    lines += ["", "![populate cost per backing](bench/bench-populate.png)"]
    return "\n".join(lines) + "\n"


def run_of(p, section):
    """The run a section of peers.json came from: (host, reps, command)."""
    r = (p.get("section_runs") or {}).get(section)
    if r:
        return r["host"], r["reps"], r["command"]
    return p["host"], p["reps"], p["command"]


def bars(path, title, groups, series, values, ylabel, log=False):
    """Grouped bars: groups on x, one bar per series; values[(group, series)]."""
    fig, ax = plt.subplots(figsize=(max(6, len(groups) * 1.6), 3.8))
    width = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        xs = [g + i * width for g in range(len(groups))]
        ax.bar(xs, [values.get((grp, s), 0) for grp in groups], width, label=s)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups, fontsize=8, rotation=10)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def peers_section(p, out_dir):
    if not p or "large" not in p:
        return "No large-allocation data in `docs/bench/peers.json` yet: run `tools/peers/peers.py`.\n"
    h, reps, command = run_of(p, "large")
    lines = [host_line(h, h.get("loadavg_start"), h.get("loadavg_end")) +
             f" {h.get('date')}. Raw: `docs/bench/peers.json` (`{command}`), {reps} interleaved rounds; "
             f"hugetlb pool {p.get('pool_pages')} pages (2 MiB) during the run"
             + (", each faulted once before the first round (`hugeshim doctor --warm`), so no case pays the "
                "host's first touch of a pool page." if p.get("pool_warmed") else "."), "",
             "Seconds, median (min-max); ratio = median / glibc's median.", ""]
    allocs = list(next(iter(p["large"].values())).keys())
    lines.append("| allocator | " + " | ".join(p["large"]) + " |")
    lines.append("| --- |" + " ---: |" * len(p["large"]))
    for a in allocs:
        cells = []
        for w, row in p["large"].items():
            cells.append(f"{cell(row[a])} {row[a]['median'] / row['glibc']['median']:.2f}x")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines.append("")
    batch, loop = list(p["large"].items())[0], list(p["large"].items())[1]
    best_batch = min(v["median"] for a, v in batch[1].items() if a != "shim")
    best_loop = min(v["median"] for a, v in loop[1].items() if a != "shim")
    rb = batch[1]["shim"]["median"] / best_batch
    rl = loop[1]["shim"]["median"] / best_loop
    lines.append(f"- Goal, batch at most the best peer's time: {verdict(rb <= 1.0)} (shim / best peer = {rb:.2f}).")
    lines.append(f"- Goal, loop at most half the best peer's time: {verdict(rl <= 0.5)} (shim / best peer = {rl:.2f}).")
    values = {(w, a): row[a]["median"] for w, row in p["large"].items() for a in allocs}
    bars(os.path.join(out_dir, "peers-large.png"), "Large allocations (median seconds)", list(p["large"]), allocs,
         values, "seconds")
    lines += ["", "![large allocations per allocator](bench/peers-large.png)"]
    return "\n".join(lines) + "\n"


def small_section(p, out_dir):
    if not p or "small" not in p:
        return "No small-allocation data in `docs/bench/peers.json` yet: run `tools/peers/peers.py`.\n"
    h, reps, command = run_of(p, "small")
    lines = [host_line(h, h.get("loadavg_start"), h.get("loadavg_end")) +
             f" {h.get('date')}. Raw: `docs/bench/peers.json` (`{command}`), {reps} interleaved rounds. "
             "Seconds, median (min-max); ratio = median / glibc's median.", ""]
    allocs = list(next(iter(p["small"].values())).keys())
    lines.append("| workload | " + " | ".join(allocs) + " |")
    lines.append("| --- |" + " ---: |" * len(allocs))
    worst = 0
    for w, row in p["small"].items():
        cells = [f"{cell(row[a])} {row[a]['median'] / row['glibc']['median']:.2f}x" for a in allocs]
        worst = max(worst, row["shim"]["median"] / row["glibc"]["median"])
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    lines.append("")
    if "callgrind" in p:
        lines.append("Instructions (callgrind `Ir`), shim against no preload: (Ir at 3N - Ir at N), so start-up "
                     "cancels out; independent of load. forward-preload (tools/peers/forward_preload.c) is an "
                     "interposer that only jumps to glibc: the least any `LD_PRELOAD` interposer adds. Run: "
                     f"`{run_of(p, 'callgrind')[2]}`, {run_of(p, 'callgrind')[0]['date']}.")
        lines.append("")
        lines.append("| workload | N | none | shim | ratio | forward-preload ratio |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for w, c in p["callgrind"].items():
            floor = f"{c['forwarder_ratio']:.3f}" if "forwarder_ratio" in c else "not measured"
            lines.append(f"| {w} | {c['n']} | {c['none']['ir_per_2n']} | {c['shim']['ir_per_2n']} | {c['ratio']:.3f} "
                         f"| {floor} |")
        lines.append("")
        worst_ir = max(c["ratio"] for c in p["callgrind"].values())
        beyond = [f"{w} ({c['forwarder_ratio']:.3f})" for w, c in p["callgrind"].items()
                  if c.get("forwarder_ratio", 0) > 1.01]
        floor_note = (f"; an interposer that only forwards is already above 1.01 on {', '.join(beyond)}, so no "
                      f"`LD_PRELOAD` interposer meets it there; elsewhere the shim's pointer and size checks "
                      f"cost more than 1%, see [small-overhead](bench/small-overhead.md)") if beyond else ""
        lines.append(f"- Goal, small-allocation overhead ratio <= 1.01 on every benchmark: "
                     f"{verdict(worst_ir <= 1.01 and worst <= 1.01)} (instructions: worst {worst_ir:.3f}{floor_note}; "
                     f"timed medians: worst {worst:.2f}; timed ratios on this loaded machine swing by tens of "
                     f"percent between runs, see the ranges).")
    if "programs" in p:
        lines += ["", "Real programs, wall seconds, median (min-max), shim against no preload "
                  "(outputs compared byte for byte):", "",
                  "| program | none | shim | ratio | same output |", "| --- | ---: | ---: | ---: | :---: |"]
        for name, row in p["programs"].items():
            lines.append(f"| {name} | {cell(row['none'])} | {cell(row['shim'])} | "
                         f"{row['shim']['median'] / row['none']['median']:.3f} | {'yes' if row['same_output'] else 'NO'} |")
    values = {(w, a): row[a]["median"] / row["glibc"]["median"] for w, row in p["small"].items() for a in allocs}
    bars(os.path.join(out_dir, "peers-small.png"), "Small allocations: median time / glibc", list(p["small"]),
         allocs, values, "ratio to glibc")
    lines += ["", "![small allocations, ratio to glibc](bench/peers-small.png)"]
    return "\n".join(lines) + "\n"


def fragmented_section(p, out_dir):
    if not p or "fragmented" not in p:
        return "No fragmented-host data in `docs/bench/peers.json` yet: run `tools/peers/peers.py`.\n"
    f = p["fragmented"]
    if "error" in f:
        return f"The fragmented run failed: `{f['error']}`\n"
    st = p.get("fragmented_state") or {}
    h, reps, command = run_of(p, "fragmented")
    lines = [host_line(h, h.get("loadavg_start"), h.get("loadavg_end")) +
             f" {h.get('date')}. Raw: `docs/bench/peers.json` (section `fragmented`, `{command}`), {reps} "
             "interleaved rounds while "
             f"`build/bin/fragment-memory --no-compaction` held one pinned page in each of {st.get('blocks')} "
             f"blocks ({st.get('free_2m_blocks_before')} free 2 MiB blocks before, {st.get('free_2m_blocks_after')} "
             "after, compaction off; see tools/fragment/fragment_memory.cpp). Seconds, median (min-max); "
             "ratio = median / glibc (base pages).", ""]
    allocs = list(next(iter(f.values())).keys())
    lines.append("| allocator | " + " | ".join(f) + " |")
    lines.append("| --- |" + " ---: |" * len(f))
    base = "glibc (base pages)"
    for a in allocs:
        lines.append(f"| {a} | " + " | ".join(f"{cell(row[a])} {row[a]['median'] / row[base]['median']:.2f}x"
                                                 for row in f.values()) + " |")
    lines.append("")
    for mode in ("shim THP rung (lazy)", "shim THP rung (eager)"):
        worst = max(row[mode]["median"] / row[base]["median"] for row in f.values())
        lines.append(f"- Goal, {mode} no slower than plain glibc (ratio <= 1.0): {verdict(worst <= 1.0)} "
                     f"(worst ratio {worst:.2f}).")
    values = {(w, a): row[a]["median"] for w, row in f.items() for a in allocs}
    bars(os.path.join(out_dir, "fragmented.png"), "Fragmented host (median seconds)", list(f), allocs, values,
         "seconds")
    lines += ["", "![large allocations on a fragmented host](bench/fragmented.png)"]
    return "\n".join(lines) + "\n"


def latency_section(lat, out_dir):
    if not lat:
        return "No `docs/bench/latency.json` yet: run `tools/latency/latency.py`.\n"
    lines = [f"Raw: `docs/bench/latency.json` (`{lat['command']}`, {lat['date']}), {lat['reps']} interleaved "
             f"rounds; interferer: {lat['gib']} GiB in {lat['chunk_mib']} MiB pieces (malloc, memset, mlock) on "
             f"another thread; THP defrag `{lat['thp_defrag']}`; load average {lat['loadavg_start']} at the start, "
             f"{lat['loadavg_end']} at the end. Microseconds per unit of work, median over the rounds (min-max).",
             "", "| host | preload | p50 | p99 | p99.9 | max | interferer s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    values = {}
    groups = []
    for state in ("current", "fragmented"):
        data = lat.get(state) or {}
        if "error" in data:
            lines.append(f"| {state} | (failed: {data['error'][:80]}) | | | | | |")
            continue
        for preload, row in data.items():
            lines.append(f"| {state} | {preload} | " + " | ".join(cell(row[k], 1) for k in
                                                                 ("p50_us", "p99_us", "p999_us", "max_us")) +
                         f" | {cell(row['interferer_s'], 2)} |")
            g = f"{state}, {preload}"
            groups.append(g)
            for k in ("p50_us", "p99_us", "p999_us", "max_us"):
                values[(g, k)] = row[k]["median"]
    if groups:
        bars(os.path.join(out_dir, "latency.png"), "Loop latency under interference (median, us)", groups,
             ["p50_us", "p99_us", "p999_us", "max_us"], values, "microseconds", log=True)
        lines += ["", "![latency percentiles](bench/latency.png)"]
    return "\n".join(lines) + "\n"


def replace(text, name, body):
    begin, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"make_docs.py: BENCHMARKS.md has no '{begin}' ... '{end}' markers")
    return pattern.sub(lambda _: f"{begin}\n{body}{end}", text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", default="docs")
    args = ap.parse_args()
    out_dir = os.path.join(args.docs, "bench")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(args.docs, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    peers = load(os.path.join(out_dir, "peers.json"))
    bodies = {"bench": bench_section(load(os.path.join(out_dir, "bench.json")), out_dir),
              "peers": peers_section(peers, out_dir), "small": small_section(peers, out_dir),
              "fragmented": fragmented_section(peers, out_dir),
              "latency": latency_section(load(os.path.join(out_dir, "latency.json")), out_dir)}
    for name in SECTIONS:
        text = replace(text, name, bodies[name])
    with open(path, "w") as f:
        f.write(text)
    print(f"make_docs.py: regenerated {', '.join(SECTIONS)} in {path}")


if __name__ == "__main__":
    main()
