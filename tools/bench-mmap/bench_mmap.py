#!/usr/bin/env python3
"""Page cache mmap vs HUGESHIM_FILE_MAP=copy for one large file, side by side.

For each repetition, cache state (cold: `echo 3 > /proc/sys/vm/drop_caches`
before the run; warm: file already in the page cache) and access (read every
byte; mlock the mapping), runs bench-mmap three ways in turn:
  page-cache   no shim: the kernel maps the page cache
  copy-2M      shim, copy mode, from a hugetlb pool sized to hold the file
  copy-THP     shim, copy mode, HUGESHIM_PAGES=thp (no hugetlb)
and prints the medians (seconds) and ratios to page-cache as a Markdown table.
The pool is sized once and its pages touched once by an untimed copy before
the runs, as a pool reserved at boot and reused would be (on a VM the first
touch of guest memory also pays a host fault). Needs root (drop_caches,
nr_hugepages); restores the pool afterwards.

  bench_mmap.py --build BUILD_DIR [--size 1G] [--reps 5] [--dir /var/tmp] [--shared]
"""
import argparse
import os
import statistics
import subprocess
import sys


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def write_file(path, size):
    block = os.urandom(1 << 24)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
        f.write(block[: size % len(block)])
    os.sync()


def set_pool(pages):
    with open("/proc/sys/vm/nr_hugepages", "w") as f:
        f.write(str(pages))
    with open("/proc/sys/vm/nr_hugepages") as f:
        return int(f.read())


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def run_once(bench, shim, path, access, variant, shared):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if variant != "page-cache":
        env.update(LD_PRELOAD=shim, HUGESHIM_FILE_MAP="copy", HUGESHIM_RING="off", HUGESHIM_LOG="info",
                   HUGESHIM_PAGES="2M" if variant == "copy-2M" else "thp")
    argv = [bench, path, access] + (["shared"] if shared else [])
    r = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    fields = dict(kv.split("=") for kv in r.stdout.split())
    copied = "file map copy" in r.stderr
    if (variant != "page-cache") != copied:
        sys.exit("unexpected: %s %s copied=%s\n%s" % (variant, access, copied, r.stderr))
    return {k: float(v) for k, v in fields.items() if k.endswith("_s")}, fields["checksum"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build directory holding bin/bench-mmap and lib/libhugeshim.so")
    ap.add_argument("--size", default="1G")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--shared", action="store_true", help="MAP_SHARED (as safetensors) instead of MAP_PRIVATE")
    args = ap.parse_args()
    bench = os.path.join(args.build, "bin", "bench-mmap")
    shim = os.path.join(args.build, "lib", "libhugeshim.so")
    size = parse_size(args.size)
    path = os.path.join(args.dir, "hugeshim-bench-mmap-%d.bin" % os.getpid())
    with open("/proc/sys/vm/nr_hugepages") as f:
        pool_before = int(f.read())
    pages = (size + (2 << 20) - 1) // (2 << 20) + 8
    variants = ["page-cache", "copy-2M", "copy-THP"]
    results = {}  # (cache, access, variant) -> list of timing dicts
    try:
        write_file(path, size)
        if set_pool(pages) < pages:
            sys.exit("the hugetlb pool could not grow to %d pages" % pages)
        run_once(bench, shim, path, "read", "copy-2M", args.shared)  # touch the pool once, untimed
        for rep in range(args.reps):
            for cache in ("cold", "warm"):
                for access in ("read", "mlock"):
                    checksums = set()
                    for variant in variants:
                        if cache == "cold":
                            drop_caches()
                        else:
                            run_once(bench, shim, path, "read", "page-cache", args.shared)  # fill the cache
                        t, checksum = run_once(bench, shim, path, access, variant, args.shared)
                        if access == "read":
                            checksums.add(checksum)
                        results.setdefault((cache, access, variant), []).append(t)
                    if len(checksums) > 1:
                        sys.exit("checksums differ: %s" % checksums)
            print("rep %d/%d done" % (rep + 1, args.reps), file=sys.stderr)
    finally:
        set_pool(pool_before)
        if os.path.exists(path):
            os.unlink(path)

    mode = "MAP_SHARED" if args.shared else "MAP_PRIVATE"
    print("%s file, PROT_READ %s, %d repetitions, medians in seconds (ratio to page-cache total)\n"
          % (args.size, mode, args.reps))
    print("| cache | access | variant | map | access | total | ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for cache in ("cold", "warm"):
        for access in ("read", "mlock"):
            base = statistics.median(t["total_s"] for t in results[(cache, access, "page-cache")])
            for variant in variants:
                ts = results[(cache, access, variant)]
                med = {k: statistics.median(t[k] for t in ts) for k in ("map_s", "access_s", "total_s")}
                print("| %s | %s | %s | %.3f | %.3f | %.3f | %.2f |"
                      % (cache, "map+read" if access == "read" else "map+mlock", variant,
                         med["map_s"], med["access_s"], med["total_s"], med["total_s"] / base))


if __name__ == "__main__":
    main()
