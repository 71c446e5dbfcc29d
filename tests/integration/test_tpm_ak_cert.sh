#!/usr/bin/env bash
# The TPM attestation key chained to the TPM maker: swtpm manufactured with
# an EK certificate from a local test maker CA (swtpm_setup, swtpm_localca);
# the AK enrolled with the operator's attestation CA by credential
# activation (tests/tools/tpm-ak-enrol.sh: the CA checks the EK certificate
# against the maker CA and makes a credential for the AK's name; only the
# TPM holding that EK can activate it); the AK certificate installed in
# state_dir and carried in the enclave's evidence; clients with
# `tpm_ak_ca` accept only evidence whose AK is certified by that CA.
# Faults: an EK certificate from another maker, a credential activated on
# another TPM, an AK certificate from another CA, one for another TPM's AK,
# and no AK certificate: each refused, naming the check.
ARCA_TEST_MODE=tpm
. "$(dirname "$0")/lib.sh"
ENROL=$(cd "$(dirname "$0")/../tools" && pwd)/tpm-ak-enrol.sh
for c in swtpm_setup swtpm_localca tpm2_makecredential tpm2_activatecredential; do
  command -v $c >/dev/null || fail "$c is not installed (swtpm-tools, tpm2-tools: deploy/packages.sh test)"
done

# This test's TPM, manufactured by the test maker (lib.sh reuses it), and a
# second TPM from the same maker (stopped by the trap below).
ARCA_TEST_TCTI=$("$SWTPM_RUN" start "$T/swtpm" --ek-ca "$T/maker") || fail "cannot start a manufactured swtpm"
TCTI_B=$("$SWTPM_RUN" start "$T/swtpm-b" --ek-ca "$T/maker") || fail "cannot start the second swtpm"
trap 'rc=$?; "$SWTPM_RUN" stop "$T/swtpm-b" >/dev/null 2>&1 || true; (exit $rc); cleanup' EXIT
cat "$T/maker/swtpm-localca-rootca-cert.pem" "$T/maker/issuercert.pem" >"$T/maker-chain.pem"
grep -q "Successfully created NVRAM area 0x1c00002 for RSA 2048 EK certificate" "$T/swtpm/manufacture.log" \
  || fail "swtpm_setup wrote no EK certificate: $(cat "$T/swtpm/manufacture.log")"
tpm2_nvread -T "$ARCA_TEST_TCTI" 0x01c00002 -o "$T/ek.der" 2>/dev/null || fail "no EK certificate in NV"
openssl verify -CAfile "$T/maker/swtpm-localca-rootca-cert.pem" -untrusted "$T/maker/issuercert.pem" \
  <(openssl x509 -inform der -in "$T/ek.der") >/dev/null || fail "the EK certificate does not chain to the maker CA"
pass "swtpm manufactured with an EK certificate (NV 0x01c00002) issued by the test maker CA"

# The operator's attestation CA, and an unrelated one.
new_ca() { # name CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" -out "$T/$1.pem" \
    -subj "/CN=$2" -days 30 -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || fail "openssl req ($1)"
}
new_ca attest-ca "Arca test attestation CA"
new_ca other-ca "Some other CA"
new_ca other-maker "Another TPM maker"

enrol() { # tcti name: request, challenge, activate, issue -> $T/name.crt
  "$ENROL" request "$1" "$T/$2.req" >/dev/null || fail "enrol $2: request"
  "$ENROL" challenge "$T/$2.req" "$T/maker-chain.pem" "$T/$2.chal" >/dev/null || fail "enrol $2: challenge"
  "$ENROL" activate "$1" "$T/$2.req" "$T/$2.chal/cred.blob" "$T/$2.answer" >/dev/null || fail "enrol $2: activate"
  "$ENROL" issue "$T/$2.req" "$T/$2.chal" "$T/$2.answer" "$T/attest-ca.pem" "$T/attest-ca.key" "$T/$2.crt" \
    >/dev/null || fail "enrol $2: issue"
}
# Enrolment touches the TPM with tpm2-tools (no resource manager here):
# done while no appliance uses it.
enrol "$ARCA_TEST_TCTI" ak-a
enrol "$TCTI_B" ak-b
openssl verify -CAfile "$T/attest-ca.pem" "$T/ak-a.crt" >/dev/null || fail "the AK certificate does not verify"
for t in "$ARCA_TEST_TCTI" "$TCTI_B"; do
  [ -z "$(tpm2_getcap -T "$t" handles-transient)$(tpm2_getcap -T "$t" handles-loaded-session)" ] \
    || fail "enrolment left TPM handles behind on $t"
done
pass "AKs of both TPMs enrolled by credential activation; AK certificates issued by the attestation CA; no TPM handles left"

# Enrolment faults.
out=$("$ENROL" challenge "$T/ak-a.req" "$T/other-maker.pem" "$T/bad.chal" 2>&1) && fail "EK of another maker accepted: $out"
grep -q "EK certificate does not chain to the TPM maker's CA" <<<"$out" || fail "other maker: $out"
"$ENROL" challenge "$T/ak-b.req" "$T/maker-chain.pem" "$T/b-for-a.chal" >/dev/null || fail "challenge for B"
out=$("$ENROL" activate "$ARCA_TEST_TCTI" "$T/ak-a.req" "$T/b-for-a.chal/cred.blob" "$T/b-for-a.answer" 2>&1) \
  && fail "TPM A activated a credential made for TPM B's EK and AK: $out"
grep -q "ActivateCredential refused" <<<"$out" || fail "activation on another TPM: $out"
head -c 32 /dev/urandom >"$T/guess"
out=$("$ENROL" issue "$T/ak-b.req" "$T/b-for-a.chal" "$T/guess" "$T/attest-ca.pem" "$T/attest-ca.key" "$T/x.crt" 2>&1) \
  && fail "an AK certificate was issued without the secret: $out"
grep -q "the AK is not in the TPM that holds the certified EK" <<<"$out" || fail "wrong answer: $out"
[ ! -e "$T/x.crt" ] || fail "a certificate was written for a wrong answer"
pass "refused: an EK certificate from another maker, a credential activated on another TPM, a wrong answer"

# The appliance, its evidence carrying TPM A's AK certificate.
fresh_appliance
arcad_stop
cp "$T/ak-a.crt" "$STATE/tpm-ak.crt"
arcad_start
grep -q "TPM evidence carries the AK certificate" "$ARCAD_LOG.cur" || fail "the enclave did not load tpm-ak.crt"
write_client_conf "$T/akca.conf" admin "tpm_ak_ca = $T/attest-ca.pem"
write_client_conf "$T/otherca.conf" admin "tpm_ak_ca = $T/other-ca.pem"
kca() { "$BIN_CLIENT" --config "$T/akca.conf" "$@"; }
out=$(kca status) || fail "status with tpm_ak_ca: $out"
grep -q "^sealing: tpm$" <<<"$out" || fail "status: $out"
out=$(kca attest) || fail "attest with tpm_ak_ca: $out"
ak_id=$(openssl x509 -in "$T/ak-a.crt" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -c1-64)
grep -qx "attester_key_id: $ak_id" <<<"$out" || fail "the quote is not by the certified AK ($ak_id): $out"
out=$(kcp key generate --label ak-ok --type ec --curve P-256) || fail "key generate: $out"
pass "a client with tpm_ak_ca accepts the appliance: its quotes are by the certified AK ($ak_id)"

client_refuses() { # conf what
  local out rc=0
  out=$("$BIN_CLIENT" --config "$1" status 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "a client with $(grep tpm_ak_ca "$1") accepted: $out"
  grep -q "ARCA_ERR_ATTEST_ATTESTER" <<<"$out" && grep -qF -- "$2" <<<"$out" || fail "expected '$2': $out"
}
client_refuses "$T/otherca.conf" "is not issued by the accepted AK CA ($T/other-ca.pem)"
pass "a client that accepts another CA refuses: AK not certified by the accepted CA (ARCA_ERR_ATTEST_ATTESTER)"

# TPM B's (valid) AK certificate on the appliance that quotes with TPM A.
arcad_stop
cp "$T/ak-b.crt" "$STATE/tpm-ak.crt"
arcad_start
grep -q "certifies another key than this TPM's attestation key" "$ARCAD_LOG.cur" || fail "no warning for B's cert"
client_refuses "$T/akca.conf" "certifies another key than the one that signed the quote (a quote from another TPM)"
pass "a quote by another TPM's AK than the certified one is refused, and the enclave warned at start"

# Not enrolled: no certificate at all.
arcad_stop
rm "$STATE/tpm-ak.crt"
arcad_start
client_refuses "$T/akca.conf" "carries no AK certificate"
kc status >/dev/null || fail "a client without tpm_ak_ca no longer connects"
pass "evidence without an AK certificate is refused by a tpm_ak_ca client; others connect as before"

# A malformed certificate file: the enclave refuses to start, saying so.
arcad_stop
echo "not a certificate" >"$STATE/tpm-ak.crt"
rc=0; out=$(timeout 60 "$BIN_ARCAD" -c "$CONF" 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "arcad started (or failed oddly, rc $rc) with a malformed tpm-ak.crt: $out"
grep -q "tpm-ak.crt is not one X.509 certificate" <<<"$out" || fail "malformed tpm-ak.crt: $out"
pass "a malformed tpm-ak.crt stops the start with a message naming it"
