#!/usr/bin/env bash
# Interoperability with a standard KMIP client: Debian's python3-pykmip
# (PyKMIP 0.10, ProxyKmipClient) over arcad's TCP port, mutual TLS 1.3 with
# the test PKI's arca-client certificate, Username/Password credential =
# partition p1 / user PIN. The scenario (tests/integration/pykmip_client.py)
# runs with KMIP 1.2 and with KMIP 2.0: AES-256 create, activate,
# encrypt/decrypt; RSA-2048 key pair, sign/verify; locate by name; get
# attributes; revoke; destroy (then Get fails).
#
# Server verification: the enclave's certificate is a self-signed RA-TLS
# certificate. The test fetches it first (openssl s_client with the client
# certificate), checks that it is self-signed and carries the RA-TLS evidence
# extension, and gives that very certificate to PyKMIP as its CA file: a pin
# of the certificate the enclave presents (PyKMIP 0.10 does no hostname check).
# Needs: deploy/packages.sh test (python3-pykmip).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
CLIENT_PY=$(dirname "$0")/pykmip_client.py

"$PY" -c 'import kmip.pie.client' 2>/dev/null || fail "python3-pykmip is not installed (deploy/packages.sh test)"

fresh_appliance
[ -n "$ARCA_TCP_PORT" ] || fail "arcad did not report a TCP port: $(grep 'arcad: ready' "$ARCAD_LOG")"
pass "appliance up; KMIP on 127.0.0.1:$ARCA_TCP_PORT"

# The server certificate, fetched with the client certificate.
openssl s_client -connect "127.0.0.1:$ARCA_TCP_PORT" -tls1_3 -cert "$PKI/client.pem" -key "$PKI/client.key" \
  -showcerts </dev/null >"$T/s_client.out" 2>&1 || true
sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$T/s_client.out" | \
  awk '/-----BEGIN/{n++} n==1' >"$T/server.pem"
openssl x509 -in "$T/server.pem" -noout 2>/dev/null || fail "no server certificate from s_client: $(cat "$T/s_client.out")"
grep -q "^New, TLSv1.3, Cipher is " "$T/s_client.out" || fail "s_client did not negotiate TLS 1.3: $(grep "^New," "$T/s_client.out")"
grep -q "2.23.133.5.4.9" <<<"$(openssl x509 -in "$T/server.pem" -noout -text)" ||
  fail "the server certificate has no RA-TLS evidence extension (2.23.133.5.4.9)"
openssl verify -CAfile "$T/server.pem" -purpose sslserver "$T/server.pem" >/dev/null ||
  fail "the server certificate is not a self-signed TLS server certificate"
pass "server certificate fetched: self-signed RA-TLS ($(openssl x509 -in "$T/server.pem" -noout -subject))"

pykmip() { "$PY" "$CLIENT_PY" --port "$ARCA_TCP_PORT" --user p1 "$@"; }

for v in 1.2 2.0; do
  pykmip --cert "$PKI/client.pem" --key "$PKI/client.key" --ca "$T/server.pem" --version "$v" \
    >"$T/pykmip-$v.out" 2>"$T/pykmip-$v.err" || {
    cat "$T/pykmip-$v.out" "$T/pykmip-$v.err"; fail "PyKMIP scenario, KMIP $v"; }
  grep -q "^ok: PyKMIP KMIP $v scenario complete$" "$T/pykmip-$v.out" || fail "KMIP $v: $(cat "$T/pykmip-$v.out")"
  grep -q "^ok: KMIP $v over TLSv1.3," "$T/pykmip-$v.out" || fail "KMIP $v: not TLS 1.3: $(head -n1 "$T/pykmip-$v.out")"
  pass "PyKMIP, KMIP $v: $(grep -c '^ok:' "$T/pykmip-$v.out") steps ok"
done

# PyKMIP checks the server: a CA file that is not the enclave's certificate
# fails the handshake on the client side.
out=$(pykmip --cert "$PKI/client.pem" --key "$PKI/client.key" --ca "$PKI/ca.pem" --version 2.0 --expect-refused 2>&1) ||
  fail "wrong server CA: $out"
grep -q "CERTIFICATE_VERIFY_FAILED" <<<"$out" || fail "wrong server CA: $out"
pass "PyKMIP refuses a server certificate it cannot verify"

# A certificate from another CA is refused by the enclave.
out=$(pykmip --cert "$PKI/stranger.pem" --key "$PKI/stranger.key" --ca "$T/server.pem" --version 2.0 \
  --expect-refused 2>&1) || fail "stranger certificate: $out"
grep -q "^ok: refused as expected" <<<"$out" || fail "stranger certificate: $out"
pass "a client certificate from another CA is refused"

# The right certificate with a wrong PIN: the credential's login fails.
out=$(ARCA_PIN=not-the-pin pykmip --cert "$PKI/client.pem" --key "$PKI/client.key" --ca "$T/server.pem" \
  --version 1.2 --expect-bad-pin 2>&1) || fail "wrong PIN: $out"
grep -q "^ok: a wrong PIN: Authentication Not Successful" <<<"$out" || fail "wrong PIN: $out"
pass "a wrong PIN in the Username/Password credential: Authentication Not Successful"

# The appliance still serves Arca's own client afterwards.
kcu key list >/dev/null || fail "kms-client (arca-client) after the PyKMIP runs"
pass "kms-client still works"
