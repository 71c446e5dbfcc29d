#!/usr/bin/env bash
# An operator-issued server certificate: kms-client tls csr gives a PKCS#10
# request for the enclave's TLS key (carrying the RA-TLS evidence as a
# requested extension); the operator CA issues it; tls install makes the
# enclave present it. A stock TLS client then verifies the server against
# the operator CA, kms-client still verifies the evidence (the extension is
# in the issued certificate), the certificate survives an arcad restart,
# and a certificate for another key or a garbage file is refused.
. "$(dirname "$0")/lib.sh"
fresh_appliance

# The enclave's own RA-TLS certificate before the change.
s_client() { # extra s_client arguments
  timeout 20 openssl s_client -connect "127.0.0.1:$ARCA_TCP_PORT" -tls1_3 -cert "$PKI/admin.pem" -key "$PKI/admin.key" \
    -showcerts "$@" </dev/null 2>&1 || true
}
presented() { # the leaf the server presents, PEM
  s_client | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' | sed -n '1,/-----END CERTIFICATE-----/p'
}
[ -n "$ARCA_TCP_PORT" ] || fail "arcad has no TCP port"
presented >"$T/ratls.pem"
openssl x509 -in "$T/ratls.pem" -noout >/dev/null || fail "no certificate presented before the install"
out=$(s_client -CAfile "$PKI/ca.pem" -verify_return_error)
grep -q "Verify return code: 0 (ok)" <<<"$out" && fail "the self-signed RA-TLS certificate verified against the operator CA"
signer=$(kc attest --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["signer_id"])') || fail "attest"
[ ${#signer} -eq 64 ] || fail "signer id: $signer"

# 1. The request.
out=$(kc tls csr --cn arca.example --out "$T/csr.pem") || fail "tls csr: $out"
openssl req -in "$T/csr.pem" -noout -verify 2>&1 | grep -q "verify OK" || fail "the request's signature does not verify"
subj=$(openssl req -in "$T/csr.pem" -noout -subject)
[ "$subj" = "subject=CN = arca.example" ] || fail "request subject: $subj"
# The request is for the key the enclave presents now.
[ "$(openssl req -in "$T/csr.pem" -noout -pubkey)" = "$(openssl x509 -in "$T/ratls.pem" -noout -pubkey)" ] \
  || fail "the request is not for the enclave's TLS key"
kc tls csr --cn arca.example --out - | grep -q "^-----BEGIN CERTIFICATE REQUEST-----$" || fail "tls csr --out -"
expect_error ARCA_ERR_PERMISSION kcu tls csr --cn arca.example --out "$T/csr2.pem"
set +e
out=$(kc tls csr --cn "$(printf 'c%.0s' $(seq 1 65))" --out "$T/x" 2>&1); rc=$?
set -e
[ $rc -eq 2 ] || fail "a 65-character CN: exit $rc: $out"
pass "tls csr: a PEM request for the enclave's TLS key, CN arca.example, admin only"

# 2. The operator CA issues it (with the request's extensions, the evidence
# among them) for server authentication.
printf '%s\n' "extendedKeyUsage=serverAuth" "basicConstraints=critical,CA:FALSE" >"$T/server.ext"
openssl x509 -req -in "$T/csr.pem" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -copy_extensions copyall -days 30 \
  -set_serial "0x$(openssl rand -hex 16)" -extfile "$T/server.ext" -out "$T/cert.pem" 2>"$T/x509.err" \
  || fail "openssl x509 -req: $(cat "$T/x509.err")"
cat "$T/cert.pem" "$PKI/ca.pem" >"$T/chain.pem"
out=$(kc tls install --chain "$T/chain.pem") || fail "tls install: $out"
[ "$out" = "installed the TLS certificate chain from $T/chain.pem (new connections present it)" ] || fail "install: $out"

# 3. A stock TLS client verifies the server against the operator CA.
out=$(s_client -CAfile "$PKI/ca.pem" -verify_return_error)
grep -q "Verify return code: 0 (ok)" <<<"$out" || fail "s_client does not verify the server: $out"
grep -q "^subject=CN = arca.example$" <<<"$out" || fail "presented subject: $(grep '^subject=' <<<"$out")"
grep -q "^issuer=O = Arca, CN = Arca operator client CA$" <<<"$out" || fail "presented issuer: $(grep '^issuer=' <<<"$out")"
presented >"$T/now.pem"
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
[ "$(fp "$T/now.pem")" = "$(fp "$T/cert.pem")" ] || fail "the presented certificate is not the issued one"
pass "openssl s_client verifies the server against the operator CA (Verify return code: 0), subject CN = arca.example"

# 4. kms-client still verifies the evidence: with the signer pinned, and
# refused with another signer pinned.
write_client_conf "$T/pinned.conf" admin "expected_signer = $signer"
out=$(kc --config "$T/pinned.conf" status 2>&1) || fail "status with expected_signer: $out"
wrong=$(printf '%064d' 0)
write_client_conf "$T/wrong.conf" admin "expected_signer = $wrong"
set +e
out=$(kc --config "$T/wrong.conf" status 2>&1); rc=$?
set -e
[ $rc -eq 3 ] || fail "a wrong pinned signer was accepted with the operator certificate: rc $rc: $out"
grep -q "ARCA_ERR_IMAGE_SIGNER" <<<"$out" || fail "wrong signer: $out"
kc attest --json | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); assert d['signer_id']=='$signer', d" \
  || fail "fresh attestation after the install"
kcu key generate --type aes --label after-install >/dev/null || fail "arca-client works after the install"
pass "kms-client verifies the evidence in the operator certificate (signer pinned; a wrong pin is refused)"

# 5. After a restart the same certificate is presented.
arcad_stop
arcad_start
presented >"$T/restart.pem"
[ "$(fp "$T/restart.pem")" = "$(fp "$T/cert.pem")" ] || fail "after a restart another certificate is presented"
out=$(s_client -CAfile "$PKI/ca.pem" -verify_return_error)
grep -q "Verify return code: 0 (ok)" <<<"$out" || fail "after a restart s_client does not verify: $out"
kc --config "$T/pinned.conf" status >/dev/null || fail "status with expected_signer after the restart"
pass "after an arcad restart the operator certificate is presented"

# 6. Refusals: a certificate for another key, a garbage file; the installed
# certificate stays.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.key" 2>/dev/null
openssl req -new -key "$T/other.key" -subj "/CN=arca.example" -out "$T/other.csr"
openssl x509 -req -in "$T/other.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -days 30 -extfile "$T/server.ext" \
  -set_serial 7 -out "$T/other.pem" 2>/dev/null || fail "issue the other certificate"
set +e
out=$(kc tls install --chain "$T/other.pem" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "a certificate for another key: exit $rc: $out"
[ "$out" = "kms-client: error: ARCA_ERR_ARGS: the leaf certificate is not for the enclave's TLS key" ] || fail "a certificate for another key: $out"
head -c 700 /dev/urandom >"$T/garbage.bin"
set +e
out=$(kc tls install --chain "$T/garbage.bin" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "a garbage file: exit $rc: $out"
[ "$out" = "kms-client: error: ARCA_ERR_DECODE: the chain is not DER certificates (leaf first, at most 8 more)" ] || fail "a garbage file: $out"
expect_error ARCA_ERR_PERMISSION kcu tls install --chain "$T/chain.pem"
presented >"$T/still.pem"
[ "$(fp "$T/still.pem")" = "$(fp "$T/cert.pem")" ] || fail "a refused install changed the presented certificate"
pass "refused: a certificate for another key, a garbage file, a non-admin; the operator certificate stays"
