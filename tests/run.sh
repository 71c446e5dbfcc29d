#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds Arca twice
# (a normal build and an ASan+UBSan build) and runs every test in both.
#   tests/run.sh            # both builds
#   tests/run.sh --quick    # the normal build only
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

status=0
run_suite build || status=1
if [ "${1:-}" != --quick ]; then
  # The sanitizer build runs the same suite with ASan + UBSan.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  run_suite build-asan -DARCA_SANITIZE=ON || status=1
fi

# One closing line over both runs: how many tests ran and how they ended.
passed=0; failed=0
for log in build.ctest.log build-asan.ctest.log; do
  [ -f "$log" ] || continue
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n1 || true)
  [ -n "$line" ] || { failed=$((failed + 1)); continue; }
  f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  t=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
  passed=$((passed + t - f)); failed=$((failed + f))
done
[ "$failed" -eq 0 ] || status=1
echo "tests: $passed passed, $failed failed"
exit $status
