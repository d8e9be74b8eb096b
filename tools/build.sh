#!/usr/bin/env bash
# Installs dependencies and builds hugeshim (Release with debug info) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
