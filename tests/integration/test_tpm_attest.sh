#!/usr/bin/env bash
# TPM use after start-up, under the enclave's seccomp filter: a fresh quote
# for `kms-client attest` (no login needed) must not kill arca-enclave. With
# the swtpm: TCTI it did (SIGSYS: that TCTI opens a new socket for every
# command, which the filter forbids); the test swtpm is reached through the
# mssim: TCTI (tests/tools/swtpm-run.sh), which keeps its connection. Also:
# another TPM client (tpm2-tools) is served while the enclave holds its
# connection, and the enclave opens no socket after start-up (strace).
ARCA_TEST_MODE=tpm
. "$(dirname "$0")/lib.sh"

fresh_appliance
[[ $ARCA_TEST_TCTI == mssim:host=127.0.0.1,port=* ]] || fail "swtpm-run.sh gave no mssim TCTI: $ARCA_TEST_TCTI"
grep -qx "tpm_tcti = $ARCA_TEST_TCTI" "$CONF" && grep -qx "sealing_mode = tpm" "$CONF" || fail "lib.sh tpm mode: $(cat "$CONF")"
epid=$(enclave_pid)
[ -n "$epid" ] || fail "no enclave process"
grep -q "^Seccomp:[[:space:]]*2$" "/proc/$epid/status" || fail "enclave not under seccomp"

tracer=
if command -v strace >/dev/null; then
  strace -f -qq -p "$epid" -e trace=socket,connect,bind -o "$T/strace.log" &
  tracer=$!
  sleep 1 # attached
fi
nonces=()
for i in 1 2 3; do
  out=$(kc attest) || fail "attest $i in tpm mode: $out"
  for want in "mode: tpm" "insecure_dev: no" "tpm_pcr: $ARCA_TEST_PCR" "fresh: bound to this TLS session"; do
    grep -qxF "$want" <<<"$out" || fail "attest $i does not print '$want': $out"
  done
  grep -qE '^attester_key_id: [0-9a-f]{64}$' <<<"$out" || fail "attest $i names no attestation key: $out"
  nonces+=("$(awk '/^nonce:/{print $2}' <<<"$out")")
done
[ "${nonces[0]}" != "${nonces[1]}" ] && [ "${nonces[1]}" != "${nonces[2]}" ] || fail "nonces not fresh: ${nonces[*]}"
kc attest --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["mode"] == "tpm" and d["insecure_dev"] is False and d["fresh"] is True, d' || fail "attest --json in tpm mode"
# Another TPM client while the enclave keeps its TPM connection open.
timeout 20 tpm2_pcrread -T "$ARCA_TEST_TCTI" "sha256:$ARCA_TEST_PCR" >/dev/null || fail "tpm2_pcrread while arcad runs"
out=$(kc attest) || fail "attest after another TPM client: $out"
if [ -n "$tracer" ]; then
  kill "$tracer"; wait "$tracer" 2>/dev/null || true
  ! grep -E "socket\(|connect\(" "$T/strace.log" || fail "the enclave opened a socket after start-up"
fi
[ "$(enclave_pid)" = "$epid" ] || fail "the enclave was restarted (pid $epid -> $(enclave_pid))"
! grep -q "signal 31\|Bad system call" "$ARCAD_LOG.cur" || fail "the enclave was killed by seccomp: $(grep 'enclave exited' "$ARCAD_LOG.cur")"
pass "five fresh TPM quotes (attest, attest --json) under seccomp, tpm2_pcrread alongside; same enclave (pid $epid), no socket opened${tracer:+ (strace)}"

# Key use and lifecycle go on, and the enclave shuts down cleanly.
out=$(kcp key generate --label after-attest --type ec --curve P-256) || fail "generate after attest: $out"
arcad_stop
grep -q "enclave stopped (exit code 0)" "$ARCAD_LOG" || fail "the enclave did not exit cleanly: $(grep 'enclave stopped' "$ARCAD_LOG")"
pass "keys made after attestation; the enclave exits cleanly"

# The swtpm: TCTI (a new connection for every TPM command) is refused at
# start, saying why, instead of letting the first quote kill the enclave.
sed -i "s|^tpm_tcti = .*|tpm_tcti = swtpm:path=$T/swtpm/tpm.sock|" "$CONF"
out=$(timeout 30 "$BIN_ARCAD" -c "$CONF" 2>&1) && fail "arcad started with the swtpm: TCTI: $out"
grep -q "opens a new connection for every TPM command" <<<"$out" || fail "no reason given for refusing swtpm: $out"
pass "the swtpm: TCTI is refused at start with the reason"
