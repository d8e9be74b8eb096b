"""Turns the JSON lines of tools/gpu-check.sh into its Markdown tables.

usage: summarize.py RESULTS.jsonl > table.md

One row per (test, size, metric) with the native value, the shim value and
shim/native; then the issue-7 PyTorch table (2**k bytes, k = 30..34); then
the goals of issue 4 with PASS/FAIL/n.a. Standard library only.
"""
import json
import sys

GiB = 1 << 30


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


def main():
    rows = load(sys.argv[1])
    out = []
    out.append("| test | size | metric | native | shim | shim/native |")
    out.append("| --- | --- | --- | ---: | ---: | ---: |")

    def line(test, size, metric, n, s):
        out.append(f"| {test} | {size} | {metric} | {fmt(n)} | {fmt(s)} | {ratio(n, s)} |")

    sizes = sorted({r["bytes"] for r in rows if r.get("test") == "alloc"})
    for b in sizes:
        n, s = pick(rows, test="alloc", run="native", bytes=b), pick(rows, test="alloc", run="shim", bytes=b)
        for key, label in [("alloc_s", "alloc s"), ("free_s", "free s"), ("h2d_gbps", "H2D GB/s"),
                           ("d2h_gbps", "D2H GB/s"), ("mismatches", "mismatches"), ("flags", "cudaHostGetFlags")]:
            line("cudaHostAlloc", size_name(b), label, n and n.get(key), s and s.get(key))

    for conf_label, conf_pred in [("torch default", lambda c: "pinned_use_cuda_host_register" not in c),
                                  ("torch host_register", lambda c: "pinned_use_cuda_host_register" in c)]:
        trs = [r for r in rows if r.get("test") == "torch" and conf_pred(r.get("conf", ""))]
        for b in sorted({r["bytes"] for r in trs if r["bytes"] in (GiB, 4 * GiB, 16 * GiB)}):
            n = next((r for r in trs if r["bytes"] == b and r["run"] == "native"), None)
            s = next((r for r in trs if r["bytes"] == b and r["run"] == "shim"), None)
            for key, label in [("alloc_s", "alloc s"), ("free_s", "free s"), ("h2d_gbps", "H2D GB/s"),
                               ("d2h_gbps", "D2H GB/s"), ("roundtrip_ok", "round trip")]:
                line(conf_label, size_name(b), label, n and n.get(key), s and s.get(key))

    bn, bs = pick(rows, test="boundary", run="native"), pick(rows, test="boundary", run="shim")
    if bn or bs:
        size = size_name((bn or bs)["bytes"])
        for key, label in [("boundaries", "chunk boundaries crossed"), ("copy_mismatches", "copy mismatches"),
                           ("zero_copy_mismatches", "zero-copy mismatches"), ("flags", "cudaHostGetFlags"),
                           ("devptr_rc", "cudaHostGetDevicePointer rc"), ("devptr_is_hostptr", "devptr == hostptr"),
                           ("attr_rc", "cudaPointerGetAttributes rc"), ("attr_type", "attributes.type"),
                           ("register_again_rc", "cudaHostRegister on it rc"),
                           ("unregister_rc", "cudaHostUnregister on it rc"), ("free_rc", "cudaFreeHost rc"),
                           ("can_use_host_ptr", "CanUseHostPointerForRegisteredMem")]:
            line("chunk boundary", size, label, bn and bn.get(key), bs and bs.get(key))

    sn, ss = pick(rows, test="stall", run="native"), pick(rows, test="stall", run="shim")
    if sn or ss:
        size = size_name((sn or ss)["bytes"])
        for key, label in [("pin_s", "pin s"), ("base_p50_us", "loop p50 us, idle"), ("base_p99_us", "loop p99 us, idle"),
                           ("during_n", "loop iterations during pin"), ("p50_us", "loop p50 us, during pin"),
                           ("p99_us", "loop p99 us, during pin"), ("max_us", "loop max us, during pin"),
                           ("free_s", "free s")]:
            line("stall (concurrent pin)", size, label, sn and sn.get(key), ss and ss.get(key))
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
    a16n, a16s = pick(rows, test="alloc", run="native", bytes=16 * GiB), pick(rows, test="alloc", run="shim", bytes=16 * GiB)
    if a16n and a16s and a16s["alloc_s"] > 0:
        sp = a16n["alloc_s"] / a16s["alloc_s"]
        goals.append(("16 GiB pinned allocation >= 3x faster", sp >= 3, f"{sp:.2f}x"))
    else:
        goals.append(("16 GiB pinned allocation >= 3x faster", None, "not measured"))
    h2d = [(pick(rows, test="alloc", run="native", bytes=b), pick(rows, test="alloc", run="shim", bytes=b)) for b in sizes]
    h2d = [s["h2d_gbps"] / n["h2d_gbps"] for n, s in h2d if n and s and n.get("h2d_gbps")]
    goals.append(("H2D bandwidth from shim memory >= 0.98x native (worst size)",
                  (min(h2d) >= 0.98) if h2d else None, f"{min(h2d):.3f}x" if h2d else "not measured"))
    checked = [r for r in rows if r.get("test") in ("alloc", "boundary", "torch")]
    bad = sum(r.get("mismatches", 0) for r in rows if r.get("test") == "alloc")
    bad += sum(r.get("copy_mismatches", 0) + r.get("zero_copy_mismatches", 0) for r in rows if r.get("test") == "boundary")
    bad += sum(0 if r.get("roundtrip_ok") else 1 for r in rows if r.get("test") == "torch")
    goals.append(("zero data mismatches", (bad == 0) if checked else None,
                  f"{bad} mismatching words/tensors in {len(checked)} checks"))
    if sn and ss and ss.get("p99_us"):
        q = sn["p99_us"] / ss["p99_us"]
        goals.append(("loop p99 during concurrent 16 GiB pin >= 3x smaller", q >= 3, f"{q:.2f}x"))
    else:
        goals.append(("loop p99 during concurrent 16 GiB pin >= 3x smaller", None, "not measured"))
    print("| goal (issue 4) | result | value |")
    print("| --- | --- | --- |")
    for name, ok, value in goals:
        print(f"| {name} | {'n/a' if ok is None else ('PASS' if ok else 'FAIL')} | {value} |")


if __name__ == "__main__":
    main()
