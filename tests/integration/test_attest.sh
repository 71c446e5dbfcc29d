#!/usr/bin/env bash
# Attestation from the client's side: the trust policy of the client
# configuration is applied to the enclave's RA-TLS certificate BEFORE any
# request is sent, and each mismatch is refused with an error naming it
# (another signer, an SVN below the minimum, dev evidence not allowed);
# `kms-client attest` fetches fresh evidence bound to this TLS session and
# prints the enclave identity (text and --json).
. "$(dirname "$0")/lib.sh"
fresh_appliance

status=$(kc status) || fail "status"
signer=$(awk '/^signer_id:/{print $2}' <<<"$status")
svn=$(awk '/^svn:/{print $2}' <<<"$status")
[ ${#signer} -eq 64 ] && [ -n "$svn" ] || fail "status names no signer / svn: $status"

# A policy that matches: pinned signer and the image's own SVN as minimum.
write_client_conf "$T/good.conf" admin "expected_signer = $signer" "min_svn = $svn"
out=$(kc --config "$T/good.conf" attest --nonce 00112233445566778899aabbccddeeff) || fail "attest: $out"
# The mode the suite runs in (lib.sh: ARCA_TEST_MODE dev or tpm).
if [ "$ARCA_TEST_MODE" = dev ]; then mode_line="mode: dev (INSECURE)" insecure=yes; else mode_line="mode: tpm" insecure=no; fi
for want in "$mode_line" "signer_id: $signer" "svn: $svn" "debug: no" "insecure_dev: $insecure" \
            "nonce: 00112233445566778899aabbccddeeff" "fresh: bound to this TLS session"; do
  grep -qxF "$want" <<<"$out" || fail "attest does not print '$want': $out"
done
if [ "$ARCA_TEST_MODE" = dev ]; then
  grep -qE '^measurement: [0-9a-f]{64}$' <<<"$out" || fail "attest prints no measurement: $out"
else # a TPM quote covers the PCR (signer, product, SVN), not the image hash
  grep -qxF 'measurement: (not attested by a TPM quote)' <<<"$out" || fail "tpm attest, measurement line: $out"
fi
grep -qE '^product_id: [0-9]+$' <<<"$out" || fail "attest prints no product id: $out"
kc --config "$T/good.conf" attest --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["signer_id"] == sys.argv[1], d
assert d["svn"] == int(sys.argv[2]), d
assert d["mode"] == sys.argv[3] and d["insecure_dev"] is (sys.argv[3] == "dev") and d["debug"] is False, d
assert d["fresh"] is True and d["bound_to"] == "this TLS session", d
assert (len(d["measurement"]) == 64) if sys.argv[3] == "dev" else d["measurement"] is None, d
assert len(d["nonce"]) == 64, d
assert isinstance(d["product_id"], int), d' "$signer" "$svn" "$ARCA_TEST_MODE" || fail "attest --json"
# two attestations use two fresh nonces
n1=$(kc attest | awk '/^nonce:/{print $2}'); n2=$(kc attest | awk '/^nonce:/{print $2}')
[ ${#n1} -eq 64 ] && [ "$n1" != "$n2" ] || fail "attest nonces not fresh: $n1 $n2"
kc --config "$T/good.conf" status --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["signer_id"] == sys.argv[1], d' "$signer" || fail "status --json"
expect_error "usage" kc attest --nonce 0g
pass "kms-client attest with a matching policy: identity printed, fresh, bound to this TLS session (text, --json)"

# Mismatches: refused at connection (exit 3) with the verifier's message,
# and nothing was sent: the request they carried never happened.
refused() { # status, message, config lines...
  local st=$1 msg=$2; shift 2
  write_client_conf "$T/bad.conf" admin "$@"
  local out rc=0
  out=$(kc --config "$T/bad.conf" client add intruder --roles admin --partitions '*' 2>&1) || rc=$?
  [ $rc -eq 3 ] || fail "policy '$*': exit $rc (expected 3): $out"
  grep -q "^kms-client: error: $st: cannot connect to unix:$ARCA_SOCKET: .*$msg" <<<"$out" \
    || fail "policy '$*': expected $st '$msg', got: $out"
  echo "ok: refused: $out"
}
other=$(printf '%064d' 1)
refused ARCA_ERR_IMAGE_SIGNER "evidence signer $signer is not the expected signer $other" "expected_signer = $other"
refused ARCA_ERR_SVN "SVN $svn is below the minimum $((svn + 1))" "min_svn = $((svn + 1))"
write_client_conf "$T/bad.conf" admin
sed -i 's/^allow_dev_evidence = yes$/allow_dev_evidence = no/' "$T/bad.conf"
if [ "$ARCA_TEST_MODE" = dev ]; then
  out=$(kc --config "$T/bad.conf" client add intruder --roles admin --partitions '*' 2>&1) && fail "dev evidence accepted"
  grep -q "^kms-client: error: ARCA_ERR_ATTEST_INSECURE: cannot connect to unix:$ARCA_SOCKET: .*dev evidence refused by policy" \
    <<<"$out" || fail "allow_dev_evidence = no: $out"
  echo "ok: refused: $out"
  kc client list | grep -q "^intruder " && fail "a refused connection's request was executed"
  pass "signer, SVN and dev-evidence mismatches are refused before anything is sent, each named"
else
  # TPM evidence is not dev evidence: the strict policy accepts it.
  out=$(kc --config "$T/bad.conf" status 2>&1) || fail "allow_dev_evidence = no refused TPM evidence: $out"
  pass "signer and SVN mismatches are refused before anything is sent, each named; TPM evidence passes allow_dev_evidence = no"
fi

# Configuration errors: none, unreadable, malformed: exit 3 with the reason.
set +e
out=$(env -u ARCA_CLIENT_CONF "$BIN_CLIENT" status 2>&1); rc=$?
set -e
[ $rc -eq 3 ] && grep -q "no client configuration: use --config FILE or set ARCA_CLIENT_CONF" <<<"$out" \
  || fail "no configuration: rc=$rc $out"
set +e
out=$(kc --config "$T/nonexistent.conf" status 2>&1); rc=$?
set -e
[ $rc -eq 3 ] && grep -q "^kms-client: error: ARCA_ERR_IO: $T/nonexistent.conf: cannot open" <<<"$out" \
  || fail "unreadable configuration: rc=$rc $out"
echo "no_such = 1" >"$T/broken.conf"
set +e
out=$(kc --config "$T/broken.conf" status 2>&1); rc=$?
set -e
[ $rc -eq 3 ] && grep -q "^kms-client: error: ARCA_ERR_CONFIG: $T/broken.conf:1: unknown key 'no_such'" <<<"$out" \
  || fail "broken configuration: rc=$rc $out"
sed "s|^address = .*|address = unix:$T/nothing.sock|" "$T/admin.conf" >"$T/nowhere.conf"
set +e
out=$(kc --config "$T/nowhere.conf" status 2>&1); rc=$?
set -e
[ $rc -eq 3 ] && [ "$out" = "kms-client: error: ARCA_ERR_IO: cannot connect to $T/nothing.sock: No such file or directory" ] \
  || fail "unreachable address: rc=$rc $out"
pass "no, unreadable or malformed configuration, unreachable address: exit 3 naming the problem"

# TCP: the same enclave, the same policy, over arcad's TCP listener.
[ -n "$ARCA_TCP_PORT" ] || fail "arcad's ready line gave no TCP port"
write_client_conf "$T/tcp.conf" admin "expected_signer = $signer"
sed -i "s|^address = .*|address = 127.0.0.1:$ARCA_TCP_PORT|" "$T/tcp.conf"
kc --config "$T/tcp.conf" attest | grep -qxF "fresh: bound to this TLS session" || fail "attest over TCP"
pass "attest over TCP 127.0.0.1:$ARCA_TCP_PORT"

# The command line itself: per-command help (exit 0, stdout), --json only
# where it is defined (usage error, exit 2, otherwise).
out=$(env -u ARCA_CLIENT_CONF "$BIN_CLIENT" key create --help) || fail "key create --help exit $?"
grep -q "^  key create --type aes|generic|rsa|ec|ed25519 " <<<"$out" || fail "key create --help: $out"
[ "$(grep -c '^  [a-z]' <<<"$out")" -eq 1 ] || fail "key create --help prints other commands: $out"
out=$("$BIN_CLIENT" client --help) || fail "client --help"
[ "$(grep -c '^  client ' <<<"$out")" -eq 3 ] || fail "client --help: $out"
set +e
out=$(kc sign --json 00 2>&1); rc=$?
set -e
[ $rc -eq 2 ] && grep -q "^kms-client: --json is not supported by this command" <<<"$out" || fail "sign --json: rc=$rc $out"
pass "per-command --help; --json refused where undefined"
