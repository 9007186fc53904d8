#!/usr/bin/env bash
# setup.sh -- installs the Debian packages curate needs (only the missing ones) and builds it.
#
# Safe to run again: apt-get runs only when a package is missing, and the
# build is incremental.  Builds build/ (release).  Needs root or sudo for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config sqlite3 libsqlite3-dev libvips-dev
          libopenblas-dev libarchive-dev libcjson-dev libdnnl-dev libutf8proc-dev
          libjpeg-dev libpng-dev nettle-dev
          dataset-fashion-mnist python3-pil
          clang libclang-rt-14-dev   # the libFuzzer build (scripts/fuzz)
          slurm-wlm munge)           # the one-node Slurm of test_slurm_slow (scripts/slurm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/curate"
