#!/usr/bin/env python3
"""Tail latency of a request-like loop while another thread of the process allocates,
populates and mlocks several GiB, with and without the shim, on the host as it is and on a
fragmented host.

    tools/latency/latency.py [--build build] [--reps 3] [--gib 2] [--out docs/bench/latency.json]

Runs build/bin/latency-probe GIB 256 (see its source) as a fresh process per case; the
shim runs with HUGESHIM_PAGES=thp (no hugetlb pool needed, so it runs beside other tests) and
its ring off. "fragmented" runs the same cases under
build/bin/fragment-memory --no-compaction (needs root). Repeats are interleaved; each
percentile is the median over the repeats, with min and max. Writes JSON
(schema "hugeshim-latency/1") for tools/peers/make_docs.py.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

KEYS = ("p50_us", "p99_us", "p999_us", "max_us", "interferer_s")


def run_cases(probe, shim, gib, reps):
    cases = {"none": {}, "shim": {"LD_PRELOAD": shim, "HUGESHIM_PAGES": "thp", "HUGESHIM_RING": "off"}}
    samples = {c: [] for c in cases}
    names = list(cases)
    for r in range(reps):
        for c in names[r % 2:] + names[:r % 2]:
            out = subprocess.run([probe, str(gib), "256"], env=dict(os.environ, **cases[c]),
                                 capture_output=True, text=True, check=True).stdout
            samples[c].append(json.loads(out))
    result = {}
    for c, runs in samples.items():
        result[c] = {k: {"median": statistics.median(x[k] for x in runs), "min": min(x[k] for x in runs),
                         "max": max(x[k] for x in runs)} for k in KEYS}
        result[c]["units"] = statistics.median(x["units"] for x in runs)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--gib", type=float, default=2)
    ap.add_argument("--out", default="docs/bench/latency.json")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    probe, shim = os.path.join(build, "bin", "latency-probe"), os.path.join(build, "lib", "libhugeshim.so")
    for p in (probe, shim):
        if not os.path.exists(p):
            sys.exit(f"latency.py: {p} not found (build the release preset first)")
    if args.inner:
        with open(args.inner, "w") as f:
            json.dump(run_cases(probe, shim, args.gib, args.reps), f)
        return
    defrag = re.search(r"\[(\w[\w+]*)\]", open("/sys/kernel/mm/transparent_hugepage/defrag").read())
    doc = {"schema": "hugeshim-latency/1", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "gib": args.gib, "chunk_mib": 256, "reps": args.reps, "thp_defrag": defrag.group(1) if defrag else None,
           "loadavg_start": open("/proc/loadavg").read().strip(),
           "command": "tools/latency/latency.py " + " ".join(sys.argv[1:])}
    doc["current"] = run_cases(probe, shim, args.gib, args.reps)
    inner = f"/tmp/hugeshim-latency-{os.getpid()}.json"
    r = subprocess.run([os.path.join(build, "bin", "fragment-memory"), "--no-compaction", "--", sys.executable,
                        os.path.abspath(__file__), "--build", build, "--reps", str(args.reps), "--gib", str(args.gib),
                        "--inner", inner], capture_output=True, text=True)
    if r.returncode == 0 and os.path.exists(inner):
        with open(inner) as f:
            doc["fragmented"] = json.load(f)
        os.unlink(inner)
        m = re.search(r"fragment-memory: (\{.*\})", r.stderr)
        doc["fragmented_state"] = json.loads(m.group(1)) if m else None
    else:
        doc["fragmented"] = {"error": r.stderr.strip()[-500:]}
    doc["loadavg_end"] = open("/proc/loadavg").read().strip()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"latency.py: wrote {args.out}")


if __name__ == "__main__":
    main()
