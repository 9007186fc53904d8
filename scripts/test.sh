#!/usr/bin/env bash
# test.sh -- runs the whole test suite in the release build, then again, all
# but the tests labelled slow, in an AddressSanitizer + UndefinedBehaviorSanitizer
# build (build-asan/), and last runs each libFuzzer harness briefly
# (scripts/fuzz-smoke; FUZZ_SECONDS per harness, default 20).
#
# Tests that need ../shared skip with a message when it is absent.  Run
# scripts/setup.sh first (the README's test command does).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# CTest lists a file with skipped cases as "Skipped" without its output:
# print each such file's "SKIPPED K of M cases: case (reason); ..." line.
show_skips() {
  awk '/^[0-9]+\/[0-9]+ Testing: /{name=$3} /^SKIPPED [0-9]+ of [0-9]+ cases:/{print "  " name ": " $0}' \
    "$1/Testing/Temporary/LastTest.log"
}

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
show_skips build

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCURATE_SANITIZE=ON > /dev/null
cmake --build build-asan -j"$jobs"
# libvips and OpenBLAS are not built with ASan; their own allocations stay
# out of the leak report, which covers curate's.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
# The tests labelled slow (real-data and kill-and-resume runs) ran above in
# the release build; under the sanitizers they would take most of the budget.
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)
show_skips build-asan

echo "== fuzz harnesses (libFuzzer, short runs)"
scripts/fuzz-smoke
