#!/usr/bin/env python3
"""The shim and the allocators and settings users would otherwise pick, side by side.

    flock /tmp/hugeshim-pool.lock tools/peers/peers.py [--build build] [--reps 5]
        [--sections large,small,programs,callgrind,fragmented] [--out docs/bench/peers.json]

Runs as root (it sizes the hugetlb pool for glibc's hugetlb=2 tunable and the shim's default
ladder, faults its pages once so that no allocator pays the host's first touch of them, and
puts it back on exit, SIGINT and SIGTERM included). Every case is a fresh process;
the repeats are interleaved (round r runs every allocator of a workload, in an order rotated by
r), and each cell is the median with min and max. Writes one JSON document (schema
"hugeshim-peers/1"); tools/peers/make_docs.py turns it into docs/BENCHMARKS.md tables and plots.

Sections:
  large       16 x malloc(64 MiB) + memset, then free all (batch); 16 x (malloc + memset + free)
              (loop, where the shim's region cache reuses memory)
  small       the small-allocation workloads of peer-workloads (larson, xmalloc, cache-scratch,
              glibc simple/thread, realloc-string)
  programs    python3, xz, sort, git under the shim against no preload (outputs compared)
  callgrind   instructions (callgrind Ir) of single-threaded small workloads, shim vs none:
              (Ir at 3N - Ir at N), so start-up cancels out; independent of load. Also under
              forward-preload (tools/peers/forward_preload.c), an interposer that only forwards
              to glibc: the floor of what any LD_PRELOAD interposer adds
  fragmented  the large workloads while tools/fragment/fragment-memory --no-compaction holds
              every free 2 MiB block: base pages, glibc hugetlb=1, jemalloc thp:always, the
              shim's THP rung (HUGESHIM_PAGES=thp), lazy and eager
"""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"


def allocators(shim, ring_dir):
    shim_env = {"LD_PRELOAD": shim, "HUGESHIM_RING_DIR": ring_dir}
    return {
        "glibc": {},
        "glibc hugetlb=1": {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
        "glibc hugetlb=2": {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=2"},
        "mimalloc large pages": {"LD_PRELOAD": f"{LIBDIR}/libmimalloc.so.2", "MIMALLOC_ALLOW_LARGE_OS_PAGES": "1"},
        "jemalloc thp:always": {"LD_PRELOAD": f"{LIBDIR}/libjemalloc.so.2",
                                "MALLOC_CONF": "thp:always,metadata_thp:auto"},
        "shim": shim_env,
    }


LARGE = {"large batch 16 x 64 MiB": ["large-batch", "16", "64"],
         "large loop 16 x 64 MiB": ["large-loop", "16", "64"]}
SMALL = {"larson 2 threads": ["larson", "2", "100"],
         "xmalloc 2 threads": ["xmalloc", "2", "2000000"],
         "cache-scratch 2 threads": ["cache-scratch", "2", "2000000"],
         "glibc simple": ["simple", "10000000"],
         "glibc thread 2 threads": ["thread", "2", "5000000"],
         "realloc string": ["realloc-string", "40000"]}
# Single-threaded workloads for callgrind: argv at N; the run at 3N is derived. glibc simple is
# the worst case (a malloc+free pair and nothing else per iteration); "blocks written" does what
# a program does with its blocks (fills each one), the amount of work per allocation the
# well-known benchmarks have.
CALLGRIND = {"glibc simple": (["simple"], 200000),
             "realloc string": (["realloc-string"], 2000),
             "glibc simple, blocks written": (["simple-touch"], 200000)}


class Pool:
    """nr_hugepages for the run, restored on exit and on SIGINT/SIGTERM."""

    def __init__(self):
        self.before = None

    def set(self, pages):
        if os.geteuid() != 0:
            return False
        with open(NR_HUGEPAGES) as f:
            self.before = int(f.read())
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(pages))
        return True

    def restore(self):
        if self.before is not None:
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(self.before))
            self.before = None

    def _on_signal(self, sig, frame):
        self.restore()
        sys.exit(128 + sig)


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "samples": values}


def run_timed(argv, env, cwd=None):
    """Runs a workload printing seconds=S; returns S. Raises on failure."""
    full = dict(os.environ, **env)
    r = subprocess.run(argv, env=full, capture_output=True, text=True, cwd=cwd)
    m = re.search(r"seconds=([0-9.]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"{argv} under {env}: status {r.returncode}: {r.stderr.strip()[-300:]}")
    return float(m.group(1))


def run_wall(argv, env, stdin_path=None):
    """Runs a real program; returns (wall seconds, sha256 of stdout)."""
    full = dict(os.environ, **env)
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    t0 = time.monotonic()
    r = subprocess.run(argv, env=full, stdin=stdin, capture_output=True)
    t = time.monotonic() - t0
    if stdin_path:
        stdin.close()
    if r.returncode != 0:
        raise RuntimeError(f"{argv}: status {r.returncode}: {r.stderr.decode()[-300:]}")
    return t, hashlib.sha256(r.stdout).hexdigest()


def interleaved(cases, reps, measure, progress):
    """cases: name -> arg; returns name -> stats. Round r runs every case, rotated by r."""
    names = list(cases)
    samples = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            progress(f"round {r + 1}/{reps}: {n}")
            samples[n].append(measure(cases[n]))
    return {n: stats(v) for n, v in samples.items()}


def host_info():
    def first(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None

    def bracketed(path):
        s = first(path) or ""
        m = re.search(r"\[(\w+)\]", s)
        return m.group(1) if m else None

    mem = first("/proc/meminfo") or ""
    total = re.search(r"MemTotal:\s+(\d+)", mem)
    return {"kernel": platform.release(), "cpus": os.cpu_count(),
            "mem_total_bytes": int(total.group(1)) * 1024 if total else None,
            "thp_enabled": bracketed("/sys/kernel/mm/transparent_hugepage/enabled"),
            "thp_defrag": bracketed("/sys/kernel/mm/transparent_hugepage/defrag"),
            "glibc": platform.libc_ver()[1], "loadavg_start": first("/proc/loadavg"),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def callgrind_ir(argv, env):
    full = dict(os.environ, **env)
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + argv,
                       env=full, capture_output=True, text=True)
    m = re.search(r"Collected\s*:\s*(\d+)", r.stderr)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"callgrind {argv}: {r.stderr[-300:]}")
    return int(m.group(1))


def make_inputs(tmp):
    """Deterministic inputs for the real programs."""
    text = os.path.join(tmp, "lines.txt")
    small = os.path.join(tmp, "lines-small.txt")
    with open(text, "w") as f, open(small, "w") as g:
        x = 12345
        for i in range(1_500_000):
            x = (x * 1103515245 + 12345) & 0x7fffffff
            line = f"{x:010d} line {i % 977} {'abcdefghij'[x % 10] * (x % 23)}\n"
            f.write(line)
            if i < 300_000:
                g.write(line)
    return text, small


def programs(repo, text, small):
    return {
        "python3 json 300k objects": (["python3", "-c",
                                       "import json\n"
                                       "d=[{'k':i,'v':str(i)*10,'l':list(range(i%20))} for i in range(300000)]\n"
                                       "s=json.dumps(d)\nprint(len(json.loads(s)), len(s))"], None),
        "xz -6 of 9 MB text": (["xz", "-6", "-T1", "-c"], small),
        "sort of 1.5M lines (46 MB)": (["sort", "-S", "256M"], text),
        "git log -p -n 300": (["git", "-C", repo, "log", "-p", "-n", "300", "--no-color"], None),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sections", default="large,small,programs,callgrind,fragmented")
    ap.add_argument("--out", default="docs/bench/peers.json")
    ap.add_argument("--inner-fragmented", help=argparse.SUPPRESS)  # run under fragment-memory
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    workloads = os.path.join(build, "bin", "peer-workloads")
    shim = os.path.join(build, "lib", "libhugeshim.so")
    forwarder = os.path.join(build, "lib", "libforward-preload.so")
    for p in (workloads, shim, forwarder):
        if not os.path.exists(p):
            sys.exit(f"peers.py: {p} not found (build the release preset first)")
    if args.reps < 1:
        sys.exit("peers.py: --reps must be at least 1")
    sections = set(args.sections.split(","))
    unknown = sections - {"large", "small", "programs", "callgrind", "fragmented"}
    if unknown:
        sys.exit(f"peers.py: unknown section(s) {', '.join(sorted(unknown))}")
    tty = sys.stderr.isatty()

    def progress(msg):
        if tty:
            print(f"\r\033[Kpeers: {msg}", end="", file=sys.stderr, flush=True)

    ring_dir = tempfile.mkdtemp(prefix="hugeshim-peers-")
    allocs = allocators(shim, ring_dir)
    measure = lambda case: run_timed([workloads] + case[1], case[0])

    if args.inner_fragmented:
        # Under fragment-memory: the fragmented rows only, to a file.
        rows = {}
        fr = {"glibc (base pages)": {}, "glibc hugetlb=1": allocs["glibc hugetlb=1"],
              "jemalloc thp:always": allocs["jemalloc thp:always"],
              "shim THP rung (lazy)": dict(allocs["shim"], HUGESHIM_PAGES="thp"),
              "shim THP rung (eager)": dict(allocs["shim"], HUGESHIM_PAGES="thp", HUGESHIM_POPULATE="eager")}
        for wname, wargv in LARGE.items():
            rows[wname] = interleaved({a: (env, wargv) for a, env in fr.items()}, args.reps, measure, progress)
        with open(args.inner_fragmented, "w") as f:
            json.dump(rows, f)
        shutil.rmtree(ring_dir, ignore_errors=True)
        return

    # A run of some sections updates those in an existing file and keeps the others; each
    # section names the run it came from (section_runs).
    doc = {}
    every = {"large", "small", "programs", "callgrind", "fragmented"}
    if os.path.exists(args.out) and sections != every:
        with open(args.out) as f:
            doc = json.load(f)
        # A kept section without a run of its own came from the run the top level names, which
        # this run is about to replace: record that run for it first.
        if "host" in doc:
            before = {"host": doc["host"], "reps": doc.get("reps"), "command": doc.get("command")}
            for section in (every - sections) & doc.keys():
                doc.setdefault("section_runs", {}).setdefault(section, before)
    run = {"host": host_info(), "reps": args.reps,
           "command": "flock /tmp/hugeshim-pool.lock tools/peers/peers.py " + " ".join(sys.argv[1:])}
    doc.update({"schema": "hugeshim-peers/1", "host": run["host"], "reps": args.reps, "command": run["command"]})
    pool = Pool()
    try:
        # 16 x 64 MiB at once plus headroom, for glibc hugetlb=2 and the shim's default ladder.
        # (Only the large section can use it; a run without it keeps the recorded pool.)
        if "large" in sections:
            doc["pool_pages"] = 600 if pool.set(600) else None
            # Same start for every allocator: a page new to the pool costs this VM's host its
            # first touch (about 2 s/GiB), which would fall on whichever case faulted it first.
            # `hugeshim doctor --warm` faults every free pool page once, now.
            if doc["pool_pages"]:
                subprocess.run([os.path.join(build, "bin", "hugeshim"), "doctor", "--warm"],
                               stdout=subprocess.DEVNULL, check=True)
            doc["pool_warmed"] = bool(doc["pool_pages"])
        if "large" in sections:
            doc["large"] = {w: interleaved({a: (env, argv) for a, env in allocs.items()}, args.reps, measure, progress)
                            for w, argv in LARGE.items()}
        if "small" in sections:
            doc["small"] = {w: interleaved({a: (env, argv) for a, env in allocs.items()}, args.reps, measure, progress)
                            for w, argv in SMALL.items()}
        if "programs" in sections:
            tmp = tempfile.mkdtemp(prefix="hugeshim-peers-in-")
            try:
                text, small = make_inputs(tmp)
                repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
                doc["programs"] = {}
                for name, (argv, stdin) in programs(repo, text, small).items():
                    digests = set()

                    def one(env):
                        t, digest = run_wall(argv, env, stdin)
                        digests.add(digest)
                        return t

                    doc["programs"][name] = interleaved({"none": {}, "shim": allocs["shim"]}, args.reps, one, progress)
                    doc["programs"][name]["same_output"] = len(digests) == 1
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        if "callgrind" in sections:
            doc["callgrind"] = {}
            for name, (argv, n) in CALLGRIND.items():
                progress(f"callgrind {name}")
                ir = {}
                for label, env in (("none", {}), ("shim", dict(allocs["shim"], HUGESHIM_RING="off")),
                                   ("forwarder", {"LD_PRELOAD": forwarder})):
                    lo = callgrind_ir([workloads] + argv + [str(n)], env)
                    hi = callgrind_ir([workloads] + argv + [str(3 * n)], env)
                    ir[label] = {"ir_n": lo, "ir_3n": hi, "ir_per_2n": hi - lo}
                ir["n"] = n
                ir["ratio"] = ir["shim"]["ir_per_2n"] / ir["none"]["ir_per_2n"]
                ir["forwarder_ratio"] = ir["forwarder"]["ir_per_2n"] / ir["none"]["ir_per_2n"]
                doc["callgrind"][name] = ir
        if "fragmented" in sections:
            fragmenter = os.path.join(build, "bin", "fragment-memory")
            out = tempfile.mktemp(prefix="hugeshim-peers-frag-", suffix=".json")
            r = subprocess.run([fragmenter, "--no-compaction", "--", sys.executable, os.path.abspath(__file__),
                                "--build", build, "--reps", str(args.reps), "--inner-fragmented", out],
                               capture_output=True, text=True)
            m = re.search(r"fragment-memory: (\{.*\})", r.stderr)
            if r.returncode != 0 or not os.path.exists(out):
                doc["fragmented"] = {"error": r.stderr.strip()[-500:]}
            else:
                with open(out) as f:
                    doc["fragmented"] = json.load(f)
                doc["fragmented_state"] = json.loads(m.group(1)) if m else None
                os.unlink(out)
    finally:
        pool.restore()
        shutil.rmtree(ring_dir, ignore_errors=True)
        if tty:
            print("\r\033[K", end="", file=sys.stderr)
    doc["host"]["loadavg_end"] = open("/proc/loadavg").read().strip()
    for section in sections:
        doc.setdefault("section_runs", {})[section] = run
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"peers.py: wrote {args.out}")


if __name__ == "__main__":
    main()
