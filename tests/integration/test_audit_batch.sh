#!/usr/bin/env bash
# Batched key-use audit (docs/performance.md, docs/threat-model.md "Audit"):
# after a burst of key use through libarca-pkcs11.so (bench/p11_bench.c,
# two threads, ECDSA and AES-GCM) `kms-client audit verify` passes and
# counts a record for every operation; a clean stop of arcad right after a
# burst stores every pending record; a SIGKILL of arca-enclave in the
# middle of a burst loses at most the unflushed window and leaves a chain
# that verifies, which the restarted enclave continues.
. "$(dirname "$0")/lib.sh"
MOD=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MOD" ] || fail "$MOD not built"
PRELOAD=$(sanitizer_preload "$MOD")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cc -std=c11 -O1 -Wall -Wextra -Werror -o "$T/p11_bench" "$SRC/bench/p11_bench.c" $(pkg-config --cflags p11-kit-1) \
  -ldl -lpthread || fail "cannot build bench/p11_bench.c"
bench() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 ARCA_PKCS11_CONF=$T/client.conf \
  "$T/p11_bench" "$MOD" --token p1 --pin "$ARCA_PIN" "$@"; }
# Sum of the OPS column of p11_bench's RESULT lines.
ops_of() { awk '$1 == "RESULT" {n += $5} END {print n + 0}' "$1"; }
records() { sed -n 's/^audit chain intact: \([0-9][0-9]*\) records$/\1/p' <<<"$1"; }

fresh_appliance

# 1. A burst; then verify: intact, and at least one record per operation.
bench --seconds 1 --threads 2 --workloads ecdsa,aesgcm >"$T/b1.out" 2>"$T/b1.err" || { cat "$T/b1.out" "$T/b1.err"; fail "burst 1"; }
ops1=$(ops_of "$T/b1.out")
[ "$ops1" -ge 50 ] || { cat "$T/b1.out"; fail "burst 1 made only $ops1 operations"; }
out=$(kc audit verify) || fail "audit verify after a burst: $out"
n1=$(records "$out")
[ -n "$n1" ] && [ "$n1" -ge "$ops1" ] || fail "after $ops1 operations the chain has ${n1:-no} records: $out"
signs=$(kc audit show --from 1 --max 1024 | grep -c " SIGN " || true)
[ "$signs" -ge 1 ] || fail "no SIGN record among the first 1024"
pass "burst of $ops1 key uses (2 threads): audit chain intact with $n1 records"

# 2. A burst, then at once a clean stop: nothing pending is lost.
bench --seconds 1 --threads 2 --workloads ecdsa >"$T/b2.out" 2>"$T/b2.err" || { cat "$T/b2.out" "$T/b2.err"; fail "burst 2"; }
ops2=$(ops_of "$T/b2.out")
arcad_stop
grep -q "could not be stored" "$ARCAD_LOG" && fail "records lost at a clean stop"
arcad_start
out=$(kc audit verify) || fail "audit verify after a clean restart: $out"
n2=$(records "$out")
[ "$n2" -ge $((n1 + ops2)) ] || fail "after a clean stop: $n2 records, expected at least $n1 + $ops2"
pass "clean stop right after a burst of $ops2: every record stored ($n2 records, chain intact)"

# 3. SIGKILL of the enclave in the middle of a burst.
EPID=$(enclave_pid)
bench --seconds 4 --threads 2 --workloads ecdsa >"$T/b3.out" 2>"$T/b3.err" &
bpid=$!
sleep 1.5
kill -KILL "$EPID"
wait $bpid || true
for _ in $(seq 1 100); do
  NEW=$(enclave_pid || true)
  [ -n "$NEW" ] && [ "$NEW" != "$EPID" ] && break
  sleep 0.05
done
[ -n "$NEW" ] && [ "$NEW" != "$EPID" ] || fail "enclave was not restarted"
out=""
for _ in $(seq 1 50); do
  out=$(kc audit verify 2>&1) && break
  sleep 0.1
done
grep -q "audit chain intact" <<<"$out" || fail "audit chain after SIGKILL mid-burst: $out"
n3=$(records "$out")
[ "$n3" -gt "$n2" ] || fail "no record of the burst before the kill survived ($n3 <= $n2): batches were not stored"
pass "SIGKILL mid-burst: chain intact with $n3 records (was $n2 before the burst)"

# The restarted enclave continues the chain: more use, verify again.
bench --seconds 0.5 --threads 1 --workloads hmac >"$T/b4.out" 2>"$T/b4.err" || { cat "$T/b4.out" "$T/b4.err"; fail "burst 4"; }
out=$(kc audit verify) || fail "audit verify after the restart: $out"
n4=$(records "$out")
[ "$n4" -ge $((n3 + $(ops_of "$T/b4.out"))) ] || fail "after the restart: $n4 records"
pass "the restarted enclave continues the chain ($n4 records, intact)"
