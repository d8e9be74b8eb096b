#!/usr/bin/env bash
# Installs what building and testing hugeshim needs on Debian 12. Idempotent:
# packages already present are not downloaded again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libnuma-dev numactl
  libboost-test-dev
  libsqlite3-dev sqlite3
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  clang libclang-rt-14-dev
  python3 python3-numpy
  xz-utils git coreutils
  # Observability tests: a real Prometheus (promtool, server), headless
  # Chromium for the HTML report, tmux for the interactive `top`.
  prometheus chromium tmux
  # Reading Chromium's screenshots in the HTML report test.
  libpng-dev
  # Packaging and deployment checks: lintian on the .deb, yamllint on the
  # manifests, systemd-analyze on the units.
  lintian yamllint python3-yaml systemd
  # Man pages from the commands' --help; CPack's dependency detection
  # (dpkg-shlibdeps, file) for the .deb.
  help2man dpkg-dev file
  # Peers and plots for the benchmarks.
  libmimalloc2.0 libjemalloc2 python3-matplotlib valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
