#!/usr/bin/env bash
# The .deb end to end on this machine: build it (cpack) from the build tree,
# lintian (no errors; warnings listed), install it with apt-get, then from the
# installed paths only (a clean environment: no build tree on PATH or
# LD_LIBRARY_PATH) run a python3 program under `hugeshim run` and read its
# report, check what the library links (glibc only), the version, man pages,
# completion, find_package(hugeshim), the tmpfiles entry, and
# `systemd-analyze verify` of the installed units and the vLLM drop-in.
# The package is purged afterwards, whatever happened.
#   package_test.sh BUILD_DIR SOURCE_DIR
# Exit 77 (CTest: skipped) when not root, without apt-get, or when a
# hugeshim package is already installed (this test must not replace it).
set -euo pipefail
build=$1 source=$2

skip() {
  echo "SKIPPED: $*"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "installing a package needs root"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || skip "no apt-get/dpkg on this machine"
if dpkg-query -W -f='${Status}' hugeshim 2>/dev/null | grep -q "ok installed"; then
  skip "a hugeshim package is already installed here; not touching it"
fi

work=$(mktemp -d /tmp/hugeshim-package-XXXXXX)
chmod 755 "$work"
installed=0
cleanup() {
  if ((installed)); then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 purge -y -qq hugeshim >/dev/null 2>&1 ||
      echo "FAIL: could not purge hugeshim" >&2
    if dpkg-query -W -f='${Status}' hugeshim 2>/dev/null | grep -q "ok installed"; then
      echo "FAIL: hugeshim is still installed" >&2
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
step() { echo "== $*"; }

step "cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$work/package" >"$work/cpack.log" 2>&1) || {
  cat "$work/cpack.log"
  echo "FAIL: cpack"
  exit 1
}
deb=$(ls "$work"/package/hugeshim_*.deb)
echo "$deb"
dpkg-deb -f "$deb" Package Version Depends

step "lintian"
lintian --tag-display-limit 0 "$deb" >"$work/lintian.txt" 2>&1 || true
grep -v "running with root privileges" "$work/lintian.txt" || true
grep -q "^E: " "$work/lintian.txt" && fail "lintian reports errors"
# Run-time dependencies: no build-time package, no CUDA.
if dpkg-deb -f "$deb" Depends | grep -E -q -e '-dev\b' -e cuda -e libnuma; then
  fail "Depends names a build-time or optional package: $(dpkg-deb -f "$deb" Depends)"
fi

step "apt-get install $deb"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "$deb" >"$work/apt.log" 2>&1 || {
  cat "$work/apt.log"
  echo "FAIL: apt-get install"
  exit 1
}

# Everything below runs with the installed paths only.
clean=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LANG=C.UTF-8)
step "which hugeshim"
[[ $("${clean[@]}" sh -c 'command -v hugeshim') == /usr/bin/hugeshim ]] || fail "hugeshim is not /usr/bin/hugeshim"

step "hugeshim --version"
version=$("${clean[@]}" hugeshim --version)
echo "$version"
[[ $version =~ ^hugeshim\ [0-9]+\.[0-9]+\.[0-9]+\ \(git\ ([0-9a-f]{12}|unknown)\)$ ]] || fail "--version: '$version'"
commit=$(git -C "$source" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[[ $version == *"(git $commit)" ]] || fail "--version names another commit than $commit"

step "hugeshim run -- python3 (installed paths only)"
cat >"$work/program.py" <<'PY'
import mmap
# 8 x 16 MiB anonymous maps, written: large requests the shim takes. Also
# say which shim this process loaded.
maps = [mmap.mmap(-1, 16 << 20) for _ in range(8)]
for m in maps:
    m.write(b"x" * (16 << 20))
print(sorted({l.split()[-1] for l in open("/proc/self/maps") if "libhugeshim" in l}))
PY
# thp: no hugetlb pool pages, so this test does not take the pool lock.
(cd "$work" && "${clean[@]}" HUGESHIM_PAGES=thp hugeshim run -o "$work/run.db" -- python3 "$work/program.py") \
  >"$work/run.out" 2>"$work/run.err" || fail "hugeshim run exited $?"
cat "$work/run.out" "$work/run.err"
grep -q "'/usr/lib/libhugeshim.so.0.1.0'" "$work/run.out" || fail "the program did not load /usr/lib/libhugeshim.so.0.1.0"
grep -q "$build" "$work/run.out" "$work/run.err" && fail "the build tree appears in the run's output"
"${clean[@]}" hugeshim report "$work/run.db" --format json >"$work/report.json" || fail "hugeshim report"
python3 - "$work/report.json" <<'PY' || fail "the report does not show the program's 8 maps"
import json, sys
report = json.load(open(sys.argv[1]))
text = json.dumps(report)
procs = report.get("processes", [])
events = sum(api.get("events", api.get("count", 0)) for p in procs for api in p.get("apis", []))
print(f"report: {len(procs)} process(es), {events} event(s)")
sys.exit(0 if procs and events >= 8 else 1)
PY

step "ldd /usr/lib/libhugeshim.so.0"
ldd /usr/lib/libhugeshim.so.0 | tee "$work/ldd.txt"
while read -r name _; do
  case $name in
    linux-vdso.so.* | libc.so.6 | /lib64/ld-linux-x86-64.so.2 | libm.so.6 | libpthread.so.0 | libdl.so.2) ;;
    *) fail "libhugeshim.so.0 links $name (only glibc is allowed)" ;;
  esac
done <"$work/ldd.txt"
echo "newest glibc symbol version needed: $(objdump -T /usr/lib/libhugeshim.so.0 | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)"

step "man pages and completion"
for page in hugeshim hugeshim-run hugeshim-record hugeshim-report hugeshim-export hugeshim-serve hugeshim-top \
    hugeshim-config hugeshim-doctor hugeshim-node hugeshim-bench; do
  f=/usr/share/man/man1/$page.1.gz
  [[ -f $f ]] && zcat "$f" | grep -q "^\.SH OPTIONS\|^\.SH DESCRIPTION" || fail "man page $f"
done
bash -c 'source /usr/share/bash-completion/completions/hugeshim && complete -p hugeshim' >/dev/null ||
  fail "bash completion"
commands=$(bash -c 'source /usr/share/bash-completion/completions/hugeshim
  COMP_WORDS=(hugeshim d); COMP_CWORD=1; _hugeshim; echo "${COMPREPLY[*]}"')
[[ $commands == doctor ]] || fail "completing 'hugeshim d' gave '$commands', not doctor"

step "find_package(hugeshim)"
mkdir -p "$work/consumer"
cat >"$work/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(ring_consumer CXX)
find_package(hugeshim 0.1 REQUIRED)
add_executable(ring_consumer main.cpp)
target_link_libraries(ring_consumer PRIVATE hugeshim::ring_abi)
CM
cat >"$work/consumer/main.cpp" <<'CPP'
#include <hugeshim/ring.h>
#include <cstdio>
int main() { std::printf("%u %zu\n", HUGESHIM_RING_ABI_VERSION, sizeof(hugeshim_ring_header)); }
CPP
if "${clean[@]}" cmake -S "$work/consumer" -B "$work/consumer/build" -G Ninja >"$work/consumer.log" 2>&1 &&
  "${clean[@]}" cmake --build "$work/consumer/build" >>"$work/consumer.log" 2>&1; then
  echo "ABI version, header size: $("$work/consumer/build/ring_consumer")"
else
  cat "$work/consumer.log"
  fail "a program using find_package(hugeshim) did not build"
fi

step "tmpfiles.d: /run/hugeshim"
systemd-tmpfiles --root="$work/tmpfiles-root" --create /usr/lib/tmpfiles.d/hugeshim.conf
mode=$(stat -c '%a %U' "$work/tmpfiles-root/run/hugeshim")
[[ $mode == "1777 root" ]] || fail "/run/hugeshim would be '$mode', not '1777 root'"

step "systemd-analyze verify"
mkdir -p "$work/units/vllm.service.d"
printf '[Unit]\nDescription=an inference service\n[Service]\nExecStart=/bin/true\n' >"$work/units/vllm.service"
cp "$source/deploy/systemd/vllm.service.d/hugeshim.conf" "$work/units/vllm.service.d/"
for unit in /lib/systemd/system/hugeshim-node.service /lib/systemd/system/hugeshim-exporter.service \
  "$work/units/vllm.service"; do
  out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: exit status $?"
  [[ -z $out ]] || fail "systemd-analyze verify $unit: $out"
done

step "the node service's command, dry run on this host"
"${clean[@]}" hugeshim node --config /etc/hugeshim/node.conf --dry-run >"$work/node.out" 2>&1 ||
  [[ $? -le 5 ]] || fail "hugeshim node --dry-run"
head -3 "$work/node.out"

((failures == 0)) || {
  echo "$failures failure(s)"
  exit 1
}
echo "package test: all checks passed"
