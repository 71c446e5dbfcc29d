#!/usr/bin/env bash
# The benchmark keeps working (issue 7: "CI runs a 5-second smoke version"):
# bench/run.sh --smoke --no-build on this build's binaries starts its own
# throwaway appliance and SoftHSM2 token, runs one ECDSA P-256 cell of each
# (1 s) and openssl speed, and prints its table: the header names the Arca
# columns, the ECDSA row has an Arca figure (operations were made, none
# failed) and SoftHSM2 and OpenSSL figures; --json gives the same as JSON.
# Nothing about speed is asserted.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
for c in softhsm2-util openssl python3 cc; do
  command -v "$c" >/dev/null || fail "$c is missing (deploy/packages.sh test installs it)"
done

ARCA_BENCH_BUILD=$ARCA_BUILD_DIR bash "$SRC/bench/run.sh" --smoke --no-build --keep-raw "$T/raw" >"$T/table" 2>"$T/bench.err" ||
  { cat "$T/bench.err" "$T/table"; fail "bench/run.sh --smoke exited with an error"; }
grep -q "some cells failed" "$T/bench.err" && { cat "$T/bench.err"; fail "a benchmark cell failed"; }
header=$(grep '^| workload |' "$T/table") || { cat "$T/table"; fail "no table header"; }
grep -q '| Arca 1t |' <<<"$header" || fail "no Arca column: $header"
row=$(grep '^| ECDSA P-256 sign |' "$T/table") || { cat "$T/table"; fail "no ECDSA row"; }
# columns: workload, OpenSSL 1c, OpenSSL 2c, SoftHSM2 1t, SoftHSM2 2t, Arca 1t, ...
IFS='|' read -r _ _ ossl1 _ hsm1 _ arca1 _ <<<"$row"
num() { tr -d ' ,' <<<"$1"; }
[[ "$(num "$arca1")" =~ ^[0-9]+$ ]] && [ "$(num "$arca1")" -gt 0 ] || fail "no Arca figure in the ECDSA row: $row"
[[ "$(num "$hsm1")" =~ ^[0-9]+$ ]] && [ "$(num "$hsm1")" -gt 0 ] || fail "no SoftHSM2 figure in the ECDSA row: $row"
[[ "$(num "$ossl1")" =~ ^[0-9]+$ ]] && [ "$(num "$ossl1")" -gt 0 ] || fail "no OpenSSL figure in the ECDSA row: $row"
grep -q '^RESULT arca ecdsa 1 [1-9][0-9]* .* 0$' "$T/raw" || fail "the Arca cell did not run cleanly: $(grep '^RESULT' "$T/raw")"
pass "bench/run.sh --smoke printed its table: ECDSA P-256 Arca $(num "$arca1") ops/s, SoftHSM2 $(num "$hsm1"), OpenSSL $(num "$ossl1")"

python3 "$SRC/bench/report.py" --json "$T/raw" >"$T/json" || fail "report.py --json"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
row = [r for r in d["workloads"] if r["workload"] == "ecdsa"][0]
assert row["arca_1t"] and row["arca_1t"] > 0, row
assert row["softhsm2_1t"] and row["softhsm2_1t"] > 0, row
assert row["enclave_cpu_us_per_op_1t"] is not None, row
assert d["failed_cells"] == [], d["failed_cells"]' "$T/json" || fail "report.py --json: $(cat "$T/json")"
pass "report.py --json reads the same raw figures"
