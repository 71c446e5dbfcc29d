#!/usr/bin/env bash
# sealing_mode = tpm end to end against a throw-away swtpm: arcad extends the
# PCR with the verified image's identity before each launch, the enclave
# seals the platform seed to that PCR at init and unseals it at every start.
# Keys made before a restart are used after it (unsealed with the TPM-held
# seed); the enclave runs under its seccomp filter in tpm mode; and once
# something else is extended into the PCR, arcad refuses to start, naming
# the PCR and ARCA_ERR_SEED.
. "$(dirname "$0")/lib.sh"

command -v swtpm >/dev/null || fail "swtpm is not installed (deploy/packages.sh test)"
command -v tpm2_pcrextend >/dev/null || fail "tpm2-tools is not installed (deploy/packages.sh test)"

SWTPM_RUN=$(cd "$(dirname "$0")/../tools" && pwd)/swtpm-run.sh
# Stop swtpm before lib.sh's cleanup removes $T (which holds its state and
# sockets); keep the exit status for cleanup to report.
trap 'rc=$?; "$SWTPM_RUN" stop "$T/tpm" >/dev/null 2>&1 || true; (exit $rc); cleanup' EXIT
TCTI=$("$SWTPM_RUN" start "$T/tpm") || fail "cannot start swtpm"
PCR=15

tpm() { "tpm2_$1" -T "$TCTI" "${@:2}"; }
pcr_value() { tpm pcrread "sha256:$PCR" | awk -v p="$PCR:" '$1 == p {print tolower($2)}'; }

[ "$(pcr_value)" = "0x$(printf '0%.0s' $(seq 64))" ] || fail "PCR $PCR of a fresh swtpm is not zero"

fresh_appliance "sealing_mode = tpm" "tpm_tcti = $TCTI" "tpm_pcr = $PCR"
pass "arcad init and start in tpm mode ($TCTI, PCR $PCR)"

# The launcher extended the PCR exactly once, with the signer identity:
# SHA-256(0^32 || SHA-256(signer_id || u16 product || u16 svn || u8 debug)).
measured=$(pcr_value)
[ "$measured" != "0x$(printf '0%.0s' $(seq 64))" ] || fail "arcad did not extend PCR $PCR"
grep -q "extended PCR $PCR with the enclave identity" "$ARCAD_LOG" || fail "no extension logged"
grep -q "already holds this enclave identity" "$ARCAD_LOG" || fail "the start after init extended the PCR again"
pass "PCR $PCR extended once with the enclave identity ($measured), not again on the next start"

# State: the TPM-sealed seed, and no dev seed.
[ -s "$STATE/tpm-seed.pub" ] && [ -s "$STATE/tpm-seed.priv" ] || fail "no tpm-seed.pub/.priv in $STATE"
[ ! -e "$STATE/dev-seed" ] || fail "a dev-seed exists in tpm mode"
pass "state dir holds tpm-seed.pub and tpm-seed.priv, no dev-seed"

status=$(kc status) || fail "kms-client status"
grep -q "^sealing: tpm$" <<<"$status" || fail "status does not say 'sealing: tpm': $status"
pass "kms-client status says 'sealing: tpm'"

# The enclave runs under seccomp (mode 2, filter) in tpm mode.
epid=$(enclave_pid)
[ -n "$epid" ] || fail "no enclave process"
grep -q "^Seccomp:[[:space:]]*2$" "/proc/$epid/status" || fail "enclave not under seccomp: $(grep Seccomp: /proc/$epid/status)"
pass "enclave (pid $epid) runs under a seccomp filter (Seccomp: 2)"

head -c 4000 /dev/urandom >"$T/msg"
out=$(kcp key generate --label tpm-aes --type aes --bits 256) || fail "generate AES key"
AES=$(grep -E ' secret ' <<<"$out" | first_field)
out=$(kcp key generate --label tpm-ec --type ec --curve P-256) || fail "generate EC key"
EC=$(grep -E ' private ' <<<"$out" | first_field)
ECPUB=$(grep -E ' public ' <<<"$out" | first_field)
[ -n "$AES" ] && [ -n "$EC" ] && [ -n "$ECPUB" ] || fail "no key ids in: $out"

use_keys() { # phase
  kcp encrypt "$AES" --mech aes-gcm --in "$T/msg" --out "$T/ct.$1" || fail "encrypt ($1)"
  kcp decrypt "$AES" --mech aes-gcm --in "$T/ct.$1" --out "$T/pt.$1" || fail "decrypt ($1)"
  cmp -s "$T/msg" "$T/pt.$1" || fail "AES round trip ($1)"
  kcp sign "$EC" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig.$1" || fail "sign ($1)"
  kcp verify "$ECPUB" --mech ecdsa-sha256 --in "$T/msg" --sig "$T/sig.$1" >/dev/null || fail "verify ($1)"
}
use_keys before
# The enclave still serves requests after all that under seccomp.
kill -0 "$epid" 2>/dev/null || fail "the enclave died while serving requests"
[ "$(enclave_pid)" = "$epid" ] || fail "the enclave was restarted while serving requests"
pass "AES-256-GCM and ECDSA P-256 keys created and used in tpm mode, under seccomp"

arcad_stop
arcad_start
[ "$(pcr_value)" = "$measured" ] || fail "the restart changed PCR $PCR"
use_keys after
kcp decrypt "$AES" --mech aes-gcm --in "$T/ct.before" --out "$T/pt.x" || fail "old ciphertext after restart"
cmp -s "$T/msg" "$T/pt.x" || fail "old ciphertext content after restart"
kcp verify "$ECPUB" --mech ecdsa-sha256 --in "$T/msg" --sig "$T/sig.before" >/dev/null \
  || fail "signature from before the restart"
grep -q "^Seccomp:[[:space:]]*2$" "/proc/$(enclave_pid)/status" || fail "restarted enclave not under seccomp"
pass "after a restart the keys unseal with the TPM-held seed and work (PCR unchanged)"
arcad_stop
# Closing the TPM connection at shutdown happens under seccomp too: the
# enclave must exit cleanly, not be killed by the filter (SIGSYS).
stops=$(grep "enclave stopped" "$ARCAD_LOG")
[ "$(grep -c "(exit code 0)" <<<"$stops")" -ge 2 ] && ! grep -qv "(exit code 0)" <<<"$stops" \
  || fail "the enclave did not exit cleanly at both stops: $(grep "enclave stopped" "$ARCAD_LOG")"
pass "the enclave closes the TPM and exits cleanly under seccomp"

# Something else is measured into the PCR while arcad is stopped (swtpm
# serves one client at a time: arcad must not hold it).
tpm pcrextend "$PCR:sha256=$(printf 'ab%.0s' $(seq 32))" || fail "tpm2_pcrextend"
changed=$(pcr_value)
[ "$changed" != "$measured" ] || fail "tpm2_pcrextend did not change PCR $PCR"
rc=0
timeout 60 "$BIN_ARCAD" -c "$CONF" >"$T/refused.log" 2>&1 || rc=$?
cat "$T/refused.log" >>"$ARCAD_LOG"; [ -z "${SHOW_REFUSAL:-}" ] || cat "$T/refused.log"
[ $rc -eq 1 ] || fail "arcad started (or failed oddly, rc $rc) with PCR $PCR changed: $(cat "$T/refused.log")"
grep -q "PCR $PCR (sha256) does not hold the value the seed was sealed to" "$T/refused.log" \
  || fail "the refusal does not name PCR $PCR: $(cat "$T/refused.log")"
grep -q "enclave refused to start: ARCA_ERR_SEED" "$T/refused.log" \
  || fail "arcad does not say ARCA_ERR_SEED: $(cat "$T/refused.log")"
grep -q "TPM_RC_POLICY_FAIL: tpm:session(1):a policy check failed (0x99d)" "$T/refused.log" \
  || fail "the TPM's policy error is not named and decoded: $(cat "$T/refused.log")"
# (arcad extended the identity once more on top of it before the refusal)
grep -qE "PCR $PCR holds [0-9a-f]{64}, which is not this image's identity measured once: something else was extended" \
  "$T/refused.log" || fail "the refusal does not say the PCR was extended with something else: $(cat "$T/refused.log")"
[ ! -S "$ARCA_SOCKET" ] || fail "a refused arcad left its socket behind"
pass "with PCR $PCR extended by something else, arcad refuses to start (PCR and its value named, TPM_RC_POLICY_FAIL, ARCA_ERR_SEED)"
