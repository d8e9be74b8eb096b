"""Turns the JSON lines of tools/gpu-check.sh into its Markdown tables.

usage: summarize.py RESULTS.jsonl [HUGESHIM-REPORT.json] > table.md

One row per (test, size, metric) with the native value, the shim value and
shim/native (for API answers: same/DIFFERS); then the issue-7 PyTorch table
(2**k bytes, k = 30..34); then the goals of issue 4 with PASS/FAIL/n/a.
These are left out when the run had none of their rows (--only registration).

Then the registration scenarios (issue 12; "test": "register" and
"neighbour" lines): one row per scenario, round and side, and the cold round
and the median of the warm rounds side by side. "whole s" is the registration
call as the program timed it (the shim's preparation included); "inside s"
is the forwarded call alone: for the shim from the telemetry report
(HUGESHIM-REPORT.json, default hugeshim-report.json beside RESULTS; the
process is found by the tag= in its command line), natively the whole call
(nothing is prepared).

Then the issue-17 tables ("test": "machine", "pool_warmup", "pin",
"decode_neighbour", "copy" lines): the machine; the pool warm-up; cudaHostAlloc
cold and warm rounds (median, min-max, n per side, native/shim); the decode
loop next to a pin, per round and per side; copy bandwidth per size and memory
kind; and the issue-17 goals, each MET / NOT MET / n/a computed from those
lines (and the registration rounds above), never typed in. Lines of the
fake-sleep test double (decode_neighbour.py --model fake-sleep) are shown but
never count towards a goal.

Then the DMA section (issue 16; "copy" lines with phase "dma" and the
recordings' reports dma-native-hostalloc.json, dma-shim-hostalloc.json,
dma-native-pageable.json beside RESULTS): copy bandwidth measured by CUPTI per
direction and size class (p50 / p99 / n from `hugeshim report --format
json`), the program's own cudaEvent bandwidth per size, and the DMA verdict
lines: shim pinned against native pinned and against pageable, per size class
and per size. Standard library only.

    summarize.py RESULTS.jsonl [HUGESHIM-REPORT.json]
"""
import json
import os
import statistics
import sys

GiB = 1 << 30
# A loop that completed fewer iterations than this while the pin ran was
# blocked: its percentiles are its few (huge) samples, not a distribution.
BLOCKED_BELOW = 100


def size_name(n):
    if n >= GiB:
        return f"{n / GiB:g} GiB"
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return rows


def pick(rows, **want):
    for r in rows:
        if all(r.get(k) == v for k, v in want.items()):
            return r
    return None


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "ok" if v else "MISMATCH"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def ratio(native, shim):
    if not isinstance(native, (int, float)) or not isinstance(shim, (int, float)):
        return ""
    if isinstance(native, bool) or native == 0:
        return ""
    return f"{shim / native:.2f}x"


def same(native, shim):
    """For API answers (return codes, flags): equality, not a ratio."""
    if native is None or shim is None:
        return ""
    return "same" if native == shim else "DIFFERS"


def no_ratio(native, shim):
    return ""


def blocked(r):
    return r is not None and r.get("during_n", 0) < BLOCKED_BELOW


def during(r, key):
    """A during-pin percentile, or the words saying the loop was blocked."""
    if r is None:
        return None
    if blocked(r):
        return f"blocked ({r.get('during_n', 0)} iterations)"
    return r.get(key)


def effective_p99(r):
    """p99 of the loop during the pin; a blocked loop's p99 is its longest stall."""
    return r.get("max_us") if blocked(r) else r.get("p99_us")


def main():
    rows = load(sys.argv[1])
    legacy = [r for r in rows if r.get("test") in ("alloc", "windows", "stall", "torch")]
    if legacy:
        legacy_tables(rows)
    report = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])),
                                                                 "hugeshim-report.json")
    telemetry = load_telemetry(report)
    registration_tables(rows, telemetry)
    if any(r.get("test") in ISSUE17_TESTS for r in rows) or registration_rounds(rows, telemetry):
        issue17_tables(rows, telemetry)
    dma = load_dma_reports(os.path.dirname(os.path.abspath(sys.argv[1])))
    if dma or any(r.get("phase") == "dma" for r in rows):
        dma_tables(rows, dma)


def legacy_tables(rows):
    out = []
    out.append("| test | size | metric | native | shim | shim/native |")
    out.append("| --- | --- | --- | ---: | ---: | ---: |")

    def line(test, size, metric, n, s, compare=ratio):
        out.append(f"| {test} | {size} | {metric} | {fmt(n)} | {fmt(s)} | {compare(n, s)} |")

    alloc_keys = [("alloc_s", "alloc s", ratio), ("free_s", "free s", ratio), ("h2d_gbps", "H2D GB/s", ratio),
                  ("d2h_gbps", "D2H GB/s", ratio), ("mismatches", "mismatches", ratio),
                  ("flags", "cudaHostGetFlags", same)]
    sizes = sorted({r["bytes"] for r in rows if r.get("test") == "alloc" and r.get("run") in ("native", "shim")})
    for b in sizes:
        n, s = pick(rows, test="alloc", run="native", bytes=b), pick(rows, test="alloc", run="shim", bytes=b)
        for key, label, compare in alloc_keys:
            line("cudaHostAlloc", size_name(b), label, n and n.get(key), s and s.get(key), compare)

    # The shim with HUGESHIM_REGISTER_MAX below the request: not substituted
    # (fallback register_limit), so it must behave and cost as native.
    for lim in [r for r in rows if r.get("test") == "alloc" and r.get("run") == "shim-register-limit"]:
        n = pick(rows, test="alloc", run="native", bytes=lim["bytes"])
        for key, label, compare in alloc_keys:
            line("cudaHostAlloc above HUGESHIM_REGISTER_MAX (native pinning)", size_name(lim["bytes"]), label,
                 n and n.get(key), lim.get(key), compare)

    for conf_label, conf_pred in [("torch default", lambda c: "pinned_use_cuda_host_register" not in c),
                                  ("torch host_register", lambda c: "pinned_use_cuda_host_register" in c)]:
        trs = [r for r in rows if r.get("test") == "torch" and conf_pred(r.get("conf", ""))]
        for b in sorted({r["bytes"] for r in trs if r["bytes"] in (GiB, 4 * GiB, 16 * GiB)}):
            n = next((r for r in trs if r["bytes"] == b and r["run"] == "native"), None)
            s = next((r for r in trs if r["bytes"] == b and r["run"] == "shim"), None)
            for key, label in [("alloc_s", "alloc s"), ("free_s", "free s"), ("h2d_gbps", "H2D GB/s"),
                               ("d2h_gbps", "D2H GB/s"), ("roundtrip_ok", "round trip")]:
                line(conf_label, size_name(b), label, n and n.get(key), s and s.get(key))

    wn, ws = pick(rows, test="windows", run="native"), pick(rows, test="windows", run="shim")
    if wn or ws:
        w = wn or ws
        test = f"{size_name(w['bytes'])}, 64 MiB windows every {size_name(w['step'])}"
        for key, label, compare in [
                ("windows", "windows copied", same), ("copy_mismatches", "copy mismatches", ratio),
                ("zero_copy_mismatches", "zero-copy mismatches", ratio), ("flags", "cudaHostGetFlags", same),
                ("devptr_rc", "cudaHostGetDevicePointer rc (inside)", same),
                ("devptr_is_hostptr", "devptr == hostptr", same),
                ("attr_rc", "cudaPointerGetAttributes rc (inside)", same), ("attr_type", "attributes.type", same),
                ("register_again_rc", "cudaHostRegister on it rc", same),
                ("register_again_last_error", "  cudaGetLastError after it", same),
                ("unregister_rc", "cudaHostUnregister on it rc", same),
                ("unregister_last_error", "  cudaGetLastError after it", same),
                ("unregister_inside_rc", "cudaHostUnregister inside it rc", same),
                ("unregister_inside_last_error", "  cudaGetLastError after it", same),
                ("free_rc", "cudaFreeHost rc", same),
                ("can_use_host_ptr", "CanUseHostPointerForRegisteredMem", same)]:
            line(test, size_name(w["bytes"]), label, wn and wn.get(key), ws and ws.get(key), compare)

    sn, ss = pick(rows, test="stall", run="native"), pick(rows, test="stall", run="shim")
    if sn or ss:
        size = size_name((sn or ss)["bytes"])
        for label, n, s, compare in [
                ("pin s", sn and sn.get("pin_s"), ss and ss.get("pin_s"), ratio),
                ("loop p50 us, idle", sn and sn.get("base_p50_us"), ss and ss.get("base_p50_us"), ratio),
                ("loop p99 us, idle", sn and sn.get("base_p99_us"), ss and ss.get("base_p99_us"), ratio),
                ("loop iterations during pin", sn and sn.get("during_n"), ss and ss.get("during_n"), no_ratio),
                ("longest loop stall ms, during pin", sn and sn.get("max_us", 0) / 1000,
                 ss and ss.get("max_us", 0) / 1000, ratio),
                ("loop p50 us, during pin", during(sn, "p50_us"), during(ss, "p50_us"), ratio),
                ("loop p99 us, during pin", during(sn, "p99_us"), during(ss, "p99_us"), ratio),
                ("free s", sn and sn.get("free_s"), ss and ss.get("free_s"), ratio)]:
            line("stall (concurrent pin)", size, label, n, s, compare)
    print("\n".join(out))

    # Issue 7: torch.empty(2**k, pin_memory=True) + copy to the GPU and back.
    trs = [r for r in rows if r.get("test") == "torch"]
    if trs:
        print()
        print("| k | bytes | default native alloc s | default shim alloc s | register native alloc s "
              "| register shim alloc s | round trips |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for k in range(30, 35):
            b = 1 << k
            cells, oks = [], []
            for reg in (False, True):
                for run in ("native", "shim"):
                    r = next((x for x in trs if x["bytes"] == b and x["run"] == run and
                              ("pinned_use_cuda_host_register" in x.get("conf", "")) == reg), None)
                    cells.append(fmt(r["alloc_s"]) if r else "skipped")
                    if r:
                        oks.append(r["roundtrip_ok"])
            trip = "n/a" if not oks else ("all ok" if all(oks) else "MISMATCH")
            print(f"| {k} | {size_name(b)} | " + " | ".join(cells) + f" | {trip} |")

    # Goals of issue 4.
    print()
    goals = []
    # The allocation goal is judged on the alloc step only; the stall step's
    # 16 GiB pin is another measurement (with a loop competing) and gets its
    # own line, never standing in for a missing alloc row.
    a16n, a16s = pick(rows, test="alloc", run="native", bytes=16 * GiB), pick(rows, test="alloc", run="shim", bytes=16 * GiB)
    if a16n and a16s and a16s["alloc_s"] > 0:
        sp = a16n["alloc_s"] / a16s["alloc_s"]
        goals.append(("16 GiB pinned allocation >= 3x faster", sp >= 3,
                      f"{sp:.2f}x ({a16n['alloc_s']:.3f} s native, {a16s['alloc_s']:.3f} s shim)"))
    else:
        missing = "shim" if a16n else "native" if a16s else "native and shim"
        goals.append(("16 GiB pinned allocation >= 3x faster", None, f"not measured ({missing} alloc step missing)"))
    if sn and ss and ss.get("bytes") == 16 * GiB and ss.get("pin_s", 0) > 0:
        sp = sn["pin_s"] / ss["pin_s"]
        goals.append(("16 GiB pin during the stall test >= 3x faster", sp >= 3,
                      f"{sp:.2f}x ({sn['pin_s']:.3f} s native, {ss['pin_s']:.3f} s shim)"))
    else:
        goals.append(("16 GiB pin during the stall test >= 3x faster", None, "not measured"))
    pairs = [(pick(rows, test="alloc", run="native", bytes=b), pick(rows, test="alloc", run="shim", bytes=b)) for b in sizes]
    h2d = [s["h2d_gbps"] / n["h2d_gbps"] for n, s in pairs if n and s and n.get("h2d_gbps")]
    h2d_missing = sum(1 for n, s in pairs if n and not s)
    h2d_value = f"{min(h2d):.3f}x" if h2d else "not measured"
    if h2d and h2d_missing:
        h2d_value += f" ({h2d_missing} of {len(pairs)} sizes missing for the shim)"
    goals.append(("H2D bandwidth from shim memory >= 0.98x native (worst size)",
                  None if not h2d or h2d_missing else min(h2d) >= 0.98, h2d_value))
    checked = [r for r in rows if r.get("test") in ("alloc", "windows", "torch")]
    bad = sum(r.get("mismatches", 0) for r in rows if r.get("test") == "alloc")
    bad += sum(r.get("copy_mismatches", 0) + r.get("zero_copy_mismatches", 0) for r in rows if r.get("test") == "windows")
    bad += sum(0 if r.get("roundtrip_ok") else 1 for r in rows if r.get("test") == "torch")
    native_checks = sum(1 for r in checked if r.get("run") == "native")
    shim_checks = sum(1 for r in checked if r.get("run") == "shim")
    value = f"{bad} mismatching words/tensors in {len(checked)} checks ({native_checks} native, {shim_checks} shim)"
    complete = shim_checks >= native_checks
    if not complete:
        value += "; shim checks missing (failed or skipped steps: see notes)"
    goals.append(("zero data mismatches", (bad == 0) if checked and complete else (False if bad else None), value))
    # The stall goal compares the p99 and the longest stall: a loop blocked for
    # the whole pin has no meaningful p99 of its own (effective_p99 = max).
    if sn and ss and ss.get("during_n", 0) > 0 and sn.get("during_n", 0) > 0 and ss.get("max_us"):
        q99 = effective_p99(sn) / effective_p99(ss)
        qmax = sn["max_us"] / ss["max_us"]
        note = ""
        if blocked(sn):
            note = f"; native loop blocked: {sn['during_n']} iterations in {sn['pin_s']:.2f} s"
        if blocked(ss):
            note += f"; shim loop blocked: {ss['during_n']} iterations in {ss['pin_s']:.2f} s"
        goals.append(("loop p99 and longest stall during concurrent 16 GiB pin >= 3x smaller",
                      q99 >= 3 and qmax >= 3, f"p99 {q99:.2f}x, longest stall {qmax:.2f}x{note}"))
    else:
        goals.append(("loop p99 and longest stall during concurrent 16 GiB pin >= 3x smaller", None,
                      "not measured"))
    print("| goal (issue 4) | result | value |")
    print("| --- | --- | --- |")
    for name, ok, value in goals:
        print(f"| {name} | {'n/a' if ok is None else ('PASS' if ok else 'FAIL')} | {value} |")


# ------------------------------------------------------ registration (issue 12)
def load_telemetry(path):
    """tag -> {api: (populate_s, register_s)} from `hugeshim report --format json`."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    out = {}
    for p in data.get("processes", []) if isinstance(data, dict) else []:
        tag = next((w[4:] for w in str(p.get("cmdline", "")).split() if w.startswith("tag=")), None)
        if not tag:
            continue
        for a in p.get("apis", []):
            r = a.get("registration")
            if r:
                out.setdefault(tag, {})[a["api"]] = (r.get("populate_ns", 0) / 1e9, r.get("register_ns", 0) / 1e9)
    return out


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def registration_rounds(rows, telemetry):
    """One dict per (scenario, round, run) of the registration scenarios."""
    regs = [r for r in rows if r.get("test") == "register"]
    neigh = [r for r in rows if r.get("test") == "neighbour"]
    keys = sorted({(r.get("scenario"), r.get("round", 0), r.get("run")) for r in regs + neigh},
                  key=lambda k: (str(k[0]), k[1], str(k[2])))
    out = []
    for scen, rnd, run in keys:
        mine = [r for r in regs if (r.get("scenario"), r.get("round", 0), r.get("run")) == (scen, rnd, run)]
        nb = next((r for r in neigh if (r.get("scenario"), r.get("round", 0), r.get("run")) == (scen, rnd, run)), None)
        calls = [r for r in mine if "register_s" in r]  # vllm: one per worker; "all" has none
        errors = [r["error"] for r in mine + ([nb] if nb else []) if r.get("error")]
        whole = max((r["register_s"] for r in calls), default=None)
        inside = prep = None
        if run == "native":
            inside, prep = whole, 0.0
        else:
            tele = [telemetry.get(r.get("tag", ""), {}).get(r.get("api", "cudaHostRegister")) for r in calls]
            tele = [t for t in tele if t]
            if tele and len(tele) == len(calls):
                prep = max(t[0] for t in tele)
                inside = max(t[1] for t in tele)
        bad = sum((r.get("mismatches") or 0) + (r.get("peer_mismatches") or 0) for r in calls)
        phase = next((r.get("phase") for r in mine + ([nb] if nb else []) if r.get("phase")), "")
        out.append({
            "scenario": scen, "round": rnd, "run": run, "phase": phase,
            "whole_s": whole, "inside_s": inside, "prep_s": prep,
            "stall_ms": nb["max_us"] / 1000 if nb and nb.get("max_us") is not None and not nb.get("error") else None,
            "p99_us": (effective_p99(nb) if nb and not nb.get("error") else None),
            "blocked": blocked(nb) if nb and not nb.get("error") else False,
            "neighbour_n": nb.get("during_n") if nb else None,
            "huge_gib": sum(r.get("huge_bytes", 0) for r in calls) / GiB if calls and "huge_bytes" in calls[0] else None,
            "mismatches": bad if calls else None,
            "checks": len(calls),
            "error": "; ".join(errors),
        })
    return out


def registration_tables(rows, telemetry):
    rounds = registration_rounds(rows, telemetry)
    if not rounds:
        return
    print()
    print("Registration scenarios (issue 12), every round; native and shim interleaved, round 0 cold for both.")
    print("whole s: the registration call as the program timed it (shim: preparation included); "
          "inside s: the forwarded call alone (shim: telemetry; native: the whole call).")
    print()
    print("| scenario | round | phase | run | whole s | inside s | preparation s | neighbour longest stall ms "
          "| neighbour p99 us | neighbour iterations | huge pages GiB | mismatches |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rounds:
        p99 = fmt(r["p99_us"]) + (" (blocked: longest)" if r["blocked"] else "")
        bad = fmt(r["mismatches"]) + (f" ERROR: {r['error']}" if r["error"] else "")
        print(f"| {r['scenario']} | {r['round']} | {r['phase']} | {r['run']} | {fmt(r['whole_s'])} | "
              f"{fmt(r['inside_s'])} | {fmt(r['prep_s'])} | {fmt(r['stall_ms'])} | {p99} | "
              f"{fmt(r['neighbour_n'])} | {fmt(r['huge_gib'])} | {bad} |")
    print()
    print("| scenario | metric | cold native | cold shim | warm native (median, n) | warm shim (median, n) "
          "| warm shim/native |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for scen in sorted({r["scenario"] for r in rounds}, key=str):
        mine = [r for r in rounds if r["scenario"] == scen]
        for key, label in [("whole_s", "whole s"), ("inside_s", "inside s"), ("prep_s", "preparation s"),
                           ("stall_ms", "neighbour longest stall ms"), ("p99_us", "neighbour p99 us")]:
            cold = {run: next((r[key] for r in mine if r["round"] == 0 and r["run"] == run), None)
                    for run in ("native", "shim")}
            warm = {run: [r[key] for r in mine if r["round"] > 0 and r["run"] == run] for run in ("native", "shim")}
            wm = {run: median(v) for run, v in warm.items()}
            cells = [fmt(cold["native"]), fmt(cold["shim"])]
            for run in ("native", "shim"):
                n = len([v for v in warm[run] if isinstance(v, (int, float))])
                cells.append(f"{fmt(wm[run])} ({n})" if n else "n/a")
            print(f"| {scen} | {label} | " + " | ".join(cells) + f" | {ratio(wm['native'], wm['shim'])} |")
    total = sum(r["mismatches"] or 0 for r in rounds)
    checks = sum(r["checks"] for r in rounds)
    failed = [f"{r['scenario']} r{r['round']} {r['run']}" for r in rounds if r["error"]]
    print()
    print(f"registration data checks: {total} mismatching words in {checks} checked registrations"
          + (f"; failed: {', '.join(failed)}" if failed else ""))


# ------------------------------------------------------------- issue 17
ISSUE17_TESTS = ("machine", "pool_warmup", "pin", "decode_neighbour", "copy")
MIN_PAIRS = 3  # the issue's "at least 3 pairs each"


def spread(values):
    """'median [min-max] (n)' of the numbers, or 'n/a'."""
    v = [x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool)]
    if not v:
        return "n/a"
    return f"{fmt(float(statistics.median(v)))} [{fmt(float(min(v)))}-{fmt(float(max(v)))}] ({len(v)})"


def speedup(native, shim):
    """native / shim of two medians (times: how many times faster the shim is)."""
    if not native or not shim:
        return None
    return native / shim


def pin_rows(rows, size, phase, run):
    return [r for r in rows if r.get("test") == "pin" and r.get("bytes") == size and r.get("phase") == phase
            and r.get("run") == run and not r.get("error") and isinstance(r.get("alloc_s"), (int, float))]


def counted_neighbour(rows):
    """decode_neighbour lines that may count: the real model, no error, a pin
    window that at least one step overlapped (none means the clocks did not join)."""
    return [r for r in rows if r.get("test") == "decode_neighbour" and r.get("model") == "llama"
            and not r.get("error") and r.get("longest_stall_ms") is not None and (r.get("pin_n") or 0) >= 1]


def copy_medians(rows):
    """(memory, run, bytes) -> (median H2D, median D2H, n) over the rounds."""
    groups = {}
    for r in rows:
        if (r.get("test") == "copy" and not r.get("error") and r.get("h2d_gbps") is not None
                and r.get("phase") != "dma"):  # the DMA section's runs (under CUPTI) have their own table
            groups.setdefault((r.get("memory"), r.get("run"), r.get("bytes")), []).append(r)
    return {k: (statistics.median(x["h2d_gbps"] for x in v), statistics.median(x["d2h_gbps"] for x in v), len(v))
            for k, v in groups.items()}


def per_round(native, shim):
    """'r0 12.000 / 5.000, r1 ...': the rounds in order (round 0 of the first
    size is the only one that can meet memory new to the machine)."""
    rounds = sorted({r.get("round") for r in native + shim}, key=lambda x: (x is None, x))
    cells = []
    for rnd in rounds:
        n = next((fmt(r["alloc_s"]) for r in native if r.get("round") == rnd), "n/a")
        s = next((fmt(r["alloc_s"]) for r in shim if r.get("round") == rnd), "n/a")
        cells.append(f"r{rnd} {n} / {s}")
    return ", ".join(cells)


def alloc_goal(rows, size, phase, factor):
    name = f"{phase}-vs-{phase} {size_name(size)} cudaHostAlloc >= {factor:g}x faster (median of pairs)"
    n, s = pin_rows(rows, size, phase, "native"), pin_rows(rows, size, phase, "shim")
    if not n and not s:
        return name, None, "not measured"
    mn = statistics.median(r["alloc_s"] for r in n) if n else None
    ms = statistics.median(r["alloc_s"] for r in s) if s else None
    value = f"native {spread([r['alloc_s'] for r in n])} s, shim {spread([r['alloc_s'] for r in s])} s"
    sp = speedup(mn, ms)
    if sp is not None:
        value = f"{sp:.2f}x; " + value
    if len(n) < MIN_PAIRS or len(s) < MIN_PAIRS:
        return name, None, value + f"; fewer than {MIN_PAIRS} runs per side"
    return name, sp >= factor, value


def neighbour_goal(rows, size, factor):
    name = f"decode neighbour's longest stall during a {size_name(size)} pin >= {factor:g}x shorter under the shim"
    good = [r for r in counted_neighbour(rows) if r.get("bytes") == size]
    n = [r["longest_stall_ms"] for r in good if r.get("run") == "native"]
    s = [r["longest_stall_ms"] for r in good if r.get("run") == "shim"]
    if not n or not s:
        fakes = sum(1 for r in rows if r.get("test") == "decode_neighbour" and r.get("model") != "llama")
        errs = sum(1 for r in rows if r.get("test") == "decode_neighbour" and r.get("error"))
        why = "not measured" + (f" ({fakes} test-double lines not counted)" if fakes else "") + \
            (f" ({errs} failed rounds)" if errs else "")
        return name, None, why
    sp = speedup(statistics.median(n), statistics.median(s))
    return name, sp >= factor, f"{sp:.1f}x; native {spread(n)} ms, shim {spread(s)} ms"


def registration_goal(rows, telemetry, factor):
    name = f"program registrations (vllm, trt) >= {factor:g}x shorter inside the driver, cold and warm"
    rounds = registration_rounds(rows, telemetry)
    parts, verdicts = [], []
    for scen in ("vllm", "trt"):
        mine = [r for r in rounds if r["scenario"] == scen and not r["error"]]
        for phase, pick_round in (("cold", lambda r: r["round"] == 0), ("warm", lambda r: r["round"] > 0)):
            n = [r["inside_s"] for r in mine if pick_round(r) and r["run"] == "native" and r["inside_s"] is not None]
            s = [r["inside_s"] for r in mine if pick_round(r) and r["run"] == "shim" and r["inside_s"] is not None]
            label = phase if phase == "warm" else next((r["phase"] for r in mine if r["round"] == 0), "cold")
            if not n or not s:
                parts.append(f"{scen} {label}: not measured")
                verdicts.append(None)
                continue
            sp = speedup(statistics.median(n), statistics.median(s))
            parts.append(f"{scen} {label} {sp:.2f}x ({fmt(float(statistics.median(n)))} s -> "
                         f"{fmt(float(statistics.median(s)))} s, n {len(n)}/{len(s)})")
            # A round 0 that could not be made cold ("first") does not stand for cold.
            verdicts.append(None if label not in ("cold", "warm") else sp >= factor)
    if all(v is None for v in verdicts):
        return name, None, "; ".join(parts) if rounds else "not measured"
    if any(v is False for v in verdicts):
        return name, False, "; ".join(parts)
    return name, (True if all(v is True for v in verdicts) else None), "; ".join(parts)


def bandwidth_goal(rows, factor):
    name = f"H2D and D2H bandwidth from shim and prepared memory >= {factor:g}x native cudaHostAlloc (worst size)"
    med = copy_medians(rows)
    native = {b: v for (mem, run, b), v in med.items() if mem == "hostalloc" and run == "native"}
    if not native:
        return name, None, "not measured"
    worst, where, missing = None, "", []
    for mem in ("hostalloc", "register"):
        for b, (nh, nd, _) in sorted(native.items()):
            got = med.get((mem, "shim", b))
            if not got:
                missing.append(f"shim {mem} {size_name(b)}")
                continue
            for direction, n_v, s_v in (("H2D", nh, got[0]), ("D2H", nd, got[1])):
                q = s_v / n_v if n_v else None
                if q is not None and (worst is None or q < worst):
                    worst, where = q, f"shim {mem} {direction} {size_name(b)}"
    if worst is None:
        return name, None, "not measured (no shim copies)"
    value = f"{worst:.3f}x at {where}"
    if missing:
        return name, None if worst >= factor else False, value + f"; missing: {', '.join(missing)}"
    return name, worst >= factor, value


def mismatch_goal(rows, telemetry):
    name = "zero data mismatches (copies, registrations)"
    copies = [r for r in rows if r.get("test") == "copy"]
    regs = registration_rounds(rows, telemetry)
    bad = sum(r.get("mismatches") or 0 for r in copies) + sum(r["mismatches"] or 0 for r in regs)
    checked = sum(r.get("checked_bytes") or 0 for r in copies)
    failed = [r for r in copies if r.get("error")] + [r for r in regs if r["error"]]
    n_checks = len([r for r in copies if not r.get("error")]) + sum(r["checks"] for r in regs)
    if not n_checks and not failed:
        return name, None, "not measured"
    value = (f"{bad} mismatching words in {n_checks} checks ({checked / GiB:.1f} GiB of copies checked byte for "
             f"byte, {sum(r['checks'] for r in regs)} registrations)")
    if failed:
        value += f"; {len(failed)} failed runs (see notes)"
    # A failed run checked nothing: no verdict of "zero" from it.
    return name, False if bad else (None if failed else True), value


def issue17_goals(rows, telemetry):
    """[(goal, True|False|None, value)] from the measured lines."""
    return [
        alloc_goal(rows, 16 * GiB, "cold", 2),
        alloc_goal(rows, 16 * GiB, "warm", 3),
        neighbour_goal(rows, 16 * GiB, 10),
        registration_goal(rows, telemetry, 3),
        bandwidth_goal(rows, 0.98),
        mismatch_goal(rows, telemetry),
    ]


def issue17_tables(rows, telemetry):
    print()
    for m in [r for r in rows if r.get("test") == "machine"][:1]:
        print("| machine | |")
        print("| --- | --- |")
        for key in ("gpu", "driver", "cuda_driver_api", "gpu_memory", "pci_bus_id", "pcie_gen_current",
                    "pcie_gen_max", "pcie_width_current", "pcie_width_max", "numa_node", "iommu", "numa_nodes",
                    "kernel", "cpus", "memory_gib", "thp_enabled", "thp_defrag", "thp_shmem_enabled",
                    "nr_hugepages_2m", "virtio_balloon"):
            if key in m:
                print(f"| {key} | {m[key]} |")
        print()
    for w in [r for r in rows if r.get("test") == "pool_warmup"]:
        print(f"pool warm-up (`{w.get('command', 'hugeshim doctor --warm')}`, once per machine, what provisioning "
              f"pays): {fmt(w.get('seconds'))} s for {w.get('pages', '?')} pages of 2 MiB, exit {w.get('rc')}")
        print()

    pins = [r for r in rows if r.get("test") == "pin"]
    if pins:
        print("cudaHostAlloc alone (`pinned_bench pin`), native and shim interleaved; round r: native first when r "
              "is even. cold: caches dropped, memory compacted, pool emptied and refilled before each run; "
              "warm: after the pool warm-up, nothing reset; neighbour: process A of the decode-loop runs (not pairs "
              "for a goal).")
        print()
        print("| size | phase | native alloc s median [min-max] (n) | shim alloc s median [min-max] (n) "
              "| speed-up (medians) | native free s | shim free s | per round: native / shim alloc s |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for size in sorted({r.get("bytes") for r in pins if r.get("bytes")}):
            for phase in sorted({r.get("phase") for r in pins if r.get("bytes") == size}, key=str):
                n, s = pin_rows(rows, size, phase, "native"), pin_rows(rows, size, phase, "shim")
                sp = speedup(statistics.median(r["alloc_s"] for r in n) if n else None,
                             statistics.median(r["alloc_s"] for r in s) if s else None)
                print(f"| {size_name(size)} | {phase} | {spread([r['alloc_s'] for r in n])} | "
                      f"{spread([r['alloc_s'] for r in s])} | {f'{sp:.2f}x' if sp else 'n/a'} | "
                      f"{spread([r.get('free_s') for r in n])} | {spread([r.get('free_s') for r in s])} | "
                      f"{per_round(n, s)} |")
        failed = [r for r in pins if r.get("error")]
        if failed:
            print(f"\n{len(failed)} pin runs failed: " + "; ".join(str(r.get("error")) for r in failed[:3]))
        print()

    nb = [r for r in rows if r.get("test") == "decode_neighbour"]
    if nb:
        print("Decode loop (process B, transformers Llama, random weights, one token per step + "
              "torch.cuda.mem_get_info) while process A pins (`pinned_bench pin`): step times in ms; longest stall "
              "= longest gap between two completed steps overlapping A's pin.")
        print()
        print("| size | round | run | model | A alloc s | base p50 | base p99 | steps during pin | p50 during pin "
              "| p99 during pin | longest stall during pin | longest stall during free | error |")
        print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in nb:
            print(f"| {size_name(r['bytes']) if r.get('bytes') else 'n/a'} | {fmt(r.get('round'))} | "
                  f"{r.get('run', 'n/a')} | {r.get('model')} | {fmt(r.get('alloc_s'))} | {fmt(r.get('base_p50_ms'))} | "
                  f"{fmt(r.get('base_p99_ms'))} | {fmt(r.get('pin_n'))} | {fmt(r.get('pin_p50_ms'))} | "
                  f"{fmt(r.get('pin_p99_ms'))} | {fmt(r.get('longest_stall_ms'))} | "
                  f"{fmt(r.get('free_longest_stall_ms'))} | {r.get('error', '')} |")
        good = counted_neighbour(rows)
        if good:
            print()
            print("| size | run | longest stall ms median [min-max] (n) | p99 during pin ms | p50 during pin ms "
                  "| base p99 ms |")
            print("| --- | --- | ---: | ---: | ---: | ---: |")
            for size in sorted({r.get("bytes") for r in good if r.get("bytes")}):
                for run in ("native", "shim"):
                    mine = [r for r in good if r.get("bytes") == size and r.get("run") == run]
                    if mine:
                        print(f"| {size_name(size)} | {run} | {spread([r['longest_stall_ms'] for r in mine])} | "
                              f"{spread([r.get('pin_p99_ms') for r in mine])} | "
                              f"{spread([r.get('pin_p50_ms') for r in mine])} | "
                              f"{spread([r.get('base_p99_ms') for r in mine])} |")
        print()

    med = copy_medians(rows)
    if med:
        kinds = [("hostalloc", "native"), ("hostalloc", "shim"), ("register", "native"), ("register", "shim")]
        names = {("hostalloc", "native"): "native cudaHostAlloc", ("hostalloc", "shim"): "shim cudaHostAlloc",
                 ("register", "native"): "native cudaHostRegister", ("register", "shim"): "shim prepared register"}
        print("Copies (`pinned_bench copies`): GB/s H2D / D2H, best of the repetitions in each run, median over "
              "the runs; every byte checked both ways.")
        print()
        print("| size | " + " | ".join(names[k] for k in kinds) + " | shim cudaHostAlloc / native | "
              "shim prepared / native |")
        print("| ---: | " + " | ".join("---:" for _ in kinds) + " | ---: | ---: |")
        for size in sorted({k[2] for k in med}):
            cells = []
            for mem, run in kinds:
                v = med.get((mem, run, size))
                cells.append(f"{fmt(v[0])} / {fmt(v[1])}" if v else "n/a")
            nat = med.get(("hostalloc", "native", size))
            qs = []
            for mem in ("hostalloc", "register"):
                v = med.get((mem, "shim", size))
                qs.append(f"{v[0] / nat[0]:.3f} / {v[1] / nat[1]:.3f}" if v and nat and nat[0] and nat[1] else "n/a")
            print(f"| {size_name(size)} | " + " | ".join(cells) + " | " + " | ".join(qs) + " |")
        bad = sum(r.get("mismatches") or 0 for r in rows if r.get("test") == "copy")
        print(f"\ncopy checks: {bad} mismatching words in "
              f"{sum(1 for r in rows if r.get('test') == 'copy' and not r.get('error'))} checked copies")
        print()

    print("| goal (issue 17) | result | value |")
    print("| --- | --- | --- |")
    for name, ok, value in issue17_goals(rows, telemetry):
        print(f"| {name} | {'n/a' if ok is None else ('MET' if ok else 'NOT MET')} | {value} |")



# ------------------------------------------------------------------ DMA (issue 16)
# The three recordings of the DMA section: label -> (title, the backing its
# pinned copies must have in the report: a prefix of copies.classes[].backing).
DMA_RUNS = {
    "native-hostalloc": ("native pinned", "pinned/native"),
    "shim-hostalloc": ("shim pinned", "pinned/"),
    "native-pageable": ("pageable", "pageable"),
}
SIZE_CLASSES = ["<1 MiB", "1-16 MiB", "16-256 MiB", ">=256 MiB"]
# Shim pinned counts as fast as native pinned from this ratio of p50s up.
DMA_SAME = 0.95


def load_dma_reports(outdir):
    """label -> `hugeshim report --format json` of dma-LABEL.json in OUTDIR (absent or unreadable: left out)."""
    out = {}
    for label in DMA_RUNS:
        try:
            with open(os.path.join(outdir, f"dma-{label}.json")) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out[label] = data
    return out


def dma_classes(report, label):
    """(direction, size class) -> the copy class of the run's expected backing
    (the one with the most bytes when several match), from every process."""
    want = DMA_RUNS[label][1]
    found = {}
    for p in report.get("processes", []):
        copies = p.get("copies") or {}
        for c in copies.get("classes", []):
            backing = str(c.get("backing", ""))
            if not backing.startswith(want) or (want == "pinned/" and backing == "pinned/native"):
                continue
            key = (c.get("direction"), c.get("size_class"))
            if key not in found or (c.get("bytes") or 0) > (found[key].get("bytes") or 0):
                found[key] = c
    return found


def dma_unexpected(report, label):
    """Copies of the run whose backing is not the one it was made for (bytes)."""
    want = DMA_RUNS[label][1]
    n = 0
    for p in report.get("processes", []):
        for c in (p.get("copies") or {}).get("classes", []):
            backing = str(c.get("backing", ""))
            if not backing.startswith(want) or (want == "pinned/" and backing == "pinned/native"):
                n += c.get("bytes") or 0
    return n


def dma_program_medians(rows):
    """(label, bytes) -> (median H2D, median D2H, n): the program's cudaEvent GB/s."""
    groups = {}
    for r in rows:
        if r.get("test") == "copy" and r.get("phase") == "dma" and not r.get("error") and r.get("h2d_gbps") is not None:
            groups.setdefault((f"{r.get('run')}-{r.get('memory')}", r.get("bytes")), []).append(r)
    return {k: (statistics.median(x["h2d_gbps"] for x in v), statistics.median(x["d2h_gbps"] for x in v), len(v))
            for k, v in groups.items()}


def times(a, b):
    return f"{a / b:.2f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "n/a"


def dma_verdicts(rows, reports):
    """The DMA verdict lines: per direction and size class (CUPTI p50 from the
    recordings), then per size (the program's cudaEvent best-of medians)."""
    lines = []
    classes = {label: dma_classes(r, label) for label, r in reports.items()}
    for label, report in reports.items():
        if not any((p.get("copies") or {}).get("count") for p in report.get("processes", [])):
            lines.append(f"{label}: the recording holds no copy records (HUGESHIM_CUPTI=1 recorded nothing)")
        elif dma_unexpected(report, label):
            lines.append(f"{label}: {size_name(dma_unexpected(report, label))} of copies not on "
                         f"{DMA_RUNS[label][1]}* memory as CUPTI and the shim saw it (read dma-{label}.txt)")
    shim = classes.get("shim-hostalloc", {})
    for direction in ("HtoD", "DtoH"):
        for size in SIZE_CLASSES:
            s = shim.get((direction, size))
            n = classes.get("native-hostalloc", {}).get((direction, size))
            g = classes.get("native-pageable", {}).get((direction, size))
            if not s or s.get("p50_gbps") is None:
                continue
            sp, np_, gp = s.get("p50_gbps"), (n or {}).get("p50_gbps"), (g or {}).get("p50_gbps")
            verdict = "n/a"
            if isinstance(np_, (int, float)) and np_:
                verdict = "as fast as native pinned" if sp / np_ >= DMA_SAME else "SLOWER than native pinned"
            lines.append(f"CUPTI {direction} {size}: shim pinned ({s.get('backing')}) {fmt(sp)} GB/s p50 = "
                         f"{times(sp, np_)} native pinned ({fmt(np_)}), {times(sp, gp)} pageable ({fmt(gp)}): {verdict}")
    med = dma_program_medians(rows)
    for size in sorted({k[1] for k in med if k[1]}):
        s, n, g = (med.get((label, size)) for label in ("shim-hostalloc", "native-hostalloc", "native-pageable"))
        if not s:
            continue
        cells = []
        for i, direction in ((0, "H2D"), (1, "D2H")):
            cells.append(f"{direction} {fmt(s[i])} GB/s = {times(s[i], n[i] if n else None)} native pinned, "
                         f"{times(s[i], g[i] if g else None)} pageable")
        lines.append(f"program {size_name(size)}: shim pinned " + "; ".join(cells))
    return lines


def dma_tables(rows, reports):
    print()
    print("DMA (issue 16): host<->device copies measured by CUPTI (HUGESHIM_CUPTI=1) in `hugeshim run` "
          "recordings; GB/s = 10^9 bytes/s over each copy's time on the GPU; p99: 99% of the copies were at "
          "least this fast; n copies. Native pinned and pageable ran with the shim loaded (for CUPTI) and "
          "HUGESHIM_MIN_SIZE above the buffer, so it substituted nothing.")
    print()
    classes = {label: dma_classes(r, label) for label, r in reports.items()}
    print("| direction | size class | " + " | ".join(f"{title} p50 / p99 (n)" for title, _ in DMA_RUNS.values()) +
          " | shim / native | shim / pageable |")
    print("| --- | --- | " + " | ".join("---:" for _ in DMA_RUNS) + " | ---: | ---: |")
    for direction in ("HtoD", "DtoH"):
        for size in SIZE_CLASSES:
            got = [classes.get(label, {}).get((direction, size)) for label in DMA_RUNS]
            if not any(got):
                continue
            cells = [f"{fmt(c.get('p50_gbps'))} / {fmt(c.get('p99_gbps'))} ({c.get('count')})" if c else "n/a"
                     for c in got]
            p50 = [c.get("p50_gbps") if c else None for c in got]
            print(f"| {direction} | {size} | " + " | ".join(cells) + f" | {times(p50[1], p50[0])} | "
                  f"{times(p50[1], p50[2])} |")
    med = dma_program_medians(rows)
    if med:
        print()
        print("The program's own timings (`pinned_bench copies ... phase=dma`, cudaEvent, best of the repetitions): "
              "GB/s H2D / D2H.")
        print()
        print("| size | " + " | ".join(title for title, _ in DMA_RUNS.values()) + " |")
        print("| ---: | " + " | ".join("---:" for _ in DMA_RUNS) + " |")
        for size in sorted({k[1] for k in med if k[1]}):
            cells = []
            for label in DMA_RUNS:
                v = med.get((label, size))
                cells.append(f"{fmt(v[0])} / {fmt(v[1])}" if v else "n/a")
            print(f"| {size_name(size)} | " + " | ".join(cells) + " |")
    for r in rows:
        if r.get("test") == "dma_register":
            print(f"\ndma register (`hugeshim run --kernel`, dma-kernel.txt): {size_name(r.get('bytes') or 0)} "
                  f"cudaHostRegister {fmt(r.get('register_s'))} s, cudaHostUnregister {fmt(r.get('unregister_s'))} s "
                  f"{r.get('error', '')}")
    print()
    print("DMA verdicts:")
    for line in dma_verdicts(rows, reports) or ["no DMA measurements"]:
        print(f"- {line}")


if __name__ == "__main__":
    main()
