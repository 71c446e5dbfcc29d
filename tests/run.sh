#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds Arca twice
# (a normal build and an ASan+UBSan build) and runs every test in both,
# then builds the libFuzzer targets with clang and gives each a short run.
#   tests/run.sh            # all three
#   tests/run.sh --quick    # the normal build only
# ARCA_FUZZ_SECONDS (default 15) is each fuzz target's time budget.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/packages.sh test

jobs=$(nproc)
run_suite() { # name, extra cmake args...
  local dir=$1; shift
  rm -f "$dir.ctest.log"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null 2>"$dir.build.log" || { cat "$dir.build.log"; return 1; }
  local rc=0
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900) | tee "$dir.ctest.log" || rc=$?
  return $rc
}

# The fuzz targets (fuzz/): an instrumented clang build of them alone, and
# `ctest -L fuzz`, each target replaying its seeds and exploring for
# ARCA_FUZZ_SECONDS seconds.
run_fuzz() {
  local dir=build-fuzz
  rm -f "$dir.ctest.log"
  CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARCA_FUZZ=ON -DARCA_WERROR=OFF \
    -DARCA_FUZZ_RUNS=-1 -DARCA_FUZZ_SECONDS="${ARCA_FUZZ_SECONDS:-15}" >/dev/null
  cmake --build "$dir" --target fuzz_all -j"$jobs" >/dev/null 2>"$dir.build.log" || { cat "$dir.build.log"; return 1; }
  local rc=0
  (cd "$dir" && ctest -L fuzz --output-on-failure -j"$jobs" --timeout 300) | tee "$dir.ctest.log" || rc=$?
  return $rc
}

status=0
ran=() # the suites this run attempted; each must leave a ctest summary
rm -f build.ctest.log build-asan.ctest.log build-fuzz.ctest.log
ran+=(build); run_suite build || status=1
if [ "${1:-}" != --quick ]; then
  # The sanitizer build runs the same suite with ASan + UBSan.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  ran+=(build-asan); run_suite build-asan -DARCA_SANITIZE=ON || status=1
  if command -v clang >/dev/null; then
    ran+=(build-fuzz); run_fuzz || status=1
  else
    echo "fuzz: skipped (no clang; deploy/packages.sh test installs it)"
  fi
fi

# One closing line over all runs: how many tests ran and how they ended.
passed=0; failed=0
for suite in "${ran[@]}"; do
  log=$suite.ctest.log
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" 2>/dev/null | tail -n1 || true)
  # a suite that did not build or did not finish counts as one failure
  [ -n "$line" ] || { echo "$suite: no test summary (build or run failed)"; failed=$((failed + 1)); continue; }
  f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  t=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
  passed=$((passed + t - f)); failed=$((failed + f))
done
[ "$failed" -eq 0 ] || status=1
echo "tests: $passed passed, $failed failed"
exit $status
