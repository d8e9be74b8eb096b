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
(nothing is prepared). Standard library only.
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
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / (1 << 20):g} MiB"


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
    registration_tables(rows, load_telemetry(report))


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


if __name__ == "__main__":
    main()
