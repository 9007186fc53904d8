#!/usr/bin/env bash
# setup.sh -- installs the Debian packages curate needs (only the missing ones) and builds it.
#
# Safe to run again: apt-get runs only when a package is missing, and the
# build is incremental.  Builds build/ (release).  Needs root or sudo for apt.
# --bench also installs what the benchmarks compare against (PyTorch, for
# scripts/bench/clip); the tests do not need it.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config sqlite3 libsqlite3-dev libvips-dev
          libopenblas-dev libarchive-dev libexpat1-dev libcjson-dev libdnnl-dev libutf8proc-dev
          libjpeg-dev libpng-dev nettle-dev libfaiss-dev libmicrohttpd-dev
          chromium  # the browser tests (tests/browser), driven by puppeteer-core
          dataset-fashion-mnist python3-pil
          clang libclang-rt-14-dev   # the libFuzzer build (scripts/fuzz)
          slurm-wlm munge)           # the one-node Slurm of test_slurm_slow (scripts/slurm)
[ "${1:-}" = "--bench" ] && PACKAGES+=(python3-torch python3-torchvision)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm run the browser tests; a machine that has them from elsewhere
# (e.g. NodeSource, whose nodejs conflicts with Debian's npm) keeps them.
command -v npm > /dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser tests' driver (tests/browser): puppeteer-core from the lockfile,
# which never downloads a browser (Debian's chromium above is the one used).
if command -v npm > /dev/null && [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) ||
    echo "setup: npm ci in tests/browser failed; the browser test will skip"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/curate"
