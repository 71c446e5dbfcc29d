#!/usr/bin/env bash
# libarca-pkcs11.so under GnuTLS (deploy/packages.sh: gnutls-bin), as the
# application identity arca-client on partition p1, the module named with
# --provider:
#  - p11tool --list-tokens shows the token p1 (manufacturer Arca);
#  - p11tool --login --generate-privkey makes an RSA 2048 and an ECDSA P-256
#    key in the appliance; --list-privkeys then shows both labels;
#  - certtool --generate-self-signed with the key as a pkcs11: URL makes a
#    self-signed certificate for each; openssl verify and certtool --verify
#    accept it, and its public key is the token's;
#  - gnutls-serv with the key as a pkcs11: URL and that certificate serves a
#    TLS 1.3 handshake to gnutls-cli (the certificate as CA), for ECDSA and
#    for RSA (RSA-PSS signatures made in the appliance), and application data
#    goes both ways.
. "$(dirname "$0")/lib.sh"
for p in p11tool certtool gnutls-serv gnutls-cli; do
  command -v $p >/dev/null || fail "$p is not installed (deploy/packages.sh: gnutls-bin)"
done
MOD=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MOD" ] || fail "$MOD not built"
# A sanitizer build of the module needs its runtimes preloaded into the
# (unsanitized) GnuTLS programs; their own leaks are not ours.
PRELOAD=$(sanitizer_preload "$MOD")
gt() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 "$@"; }

fresh_appliance
export ARCA_PKCS11_CONF=$T/client.conf
export GNUTLS_PIN=$ARCA_PIN

gt p11tool --provider "$MOD" --list-tokens >"$T/tokens.out" 2>&1 || { cat "$T/tokens.out"; fail "p11tool --list-tokens"; }
grep -q "^	URL: pkcs11:model=arca-partition;manufacturer=Arca;serial=[0-9a-f]*;token=p1$" "$T/tokens.out" ||
  { cat "$T/tokens.out"; fail "--list-tokens: no token p1"; }
grep -q "^	Label: p1$" "$T/tokens.out" || { cat "$T/tokens.out"; fail "--list-tokens: label"; }
grep -q "^	Manufacturer: Arca$" "$T/tokens.out" || { cat "$T/tokens.out"; fail "--list-tokens: manufacturer"; }
pass "p11tool lists the token p1"

gt p11tool --provider "$MOD" --login --generate-privkey rsa --bits 2048 --label g-rsa "pkcs11:token=p1" \
  >"$T/genrsa.out" 2>&1 || { cat "$T/genrsa.out"; fail "p11tool --generate-privkey rsa"; }
gt p11tool --provider "$MOD" --login --generate-privkey ecdsa --curve secp256r1 --label g-ec "pkcs11:token=p1" \
  >"$T/genec.out" 2>&1 || { cat "$T/genec.out"; fail "p11tool --generate-privkey ecdsa"; }
gt p11tool --provider "$MOD" --login --list-privkeys "pkcs11:token=p1" >"$T/priv.out" 2>&1 ||
  { cat "$T/priv.out"; fail "p11tool --list-privkeys"; }
[ "$(grep -c "^	Type: Private key" "$T/priv.out")" = 2 ] || { cat "$T/priv.out"; fail "expected 2 private keys"; }
grep -q "^	Label: g-rsa$" "$T/priv.out" && grep -q "^	Label: g-ec$" "$T/priv.out" ||
  { cat "$T/priv.out"; fail "--list-privkeys: labels"; }
grep -q "Type: Private key (RSA-2048)" "$T/priv.out" && grep -q "Type: Private key (EC/ECDSA-SECP256R1)" "$T/priv.out" ||
  { cat "$T/priv.out"; fail "--list-privkeys: key types"; }
pass "p11tool generates RSA 2048 and ECDSA P-256 keys in the token"

printf 'cn = localhost\nexpiration_days = 30\ntls_www_server\ndns_name = localhost\nca\ncert_signing_key\nsigning_key\n' >"$T/tmpl"
for k in g-rsa g-ec; do
  url="pkcs11:token=p1;object=$k;type=private"
  gt certtool --provider "$MOD" --generate-self-signed --load-privkey "$url" --load-pubkey "pkcs11:token=p1;object=$k;type=public" \
    --template "$T/tmpl" --outfile "$T/$k.pem" >"$T/cert-$k.out" 2>&1 || { cat "$T/cert-$k.out"; fail "certtool --generate-self-signed ($k)"; }
  openssl verify -CAfile "$T/$k.pem" "$T/$k.pem" >"$T/verify-$k.out" 2>&1 || { cat "$T/verify-$k.out"; fail "openssl verify ($k)"; }
  grep -qx "$T/$k.pem: OK" "$T/verify-$k.out" || fail "openssl verify ($k): $(cat "$T/verify-$k.out")"
  certtool --verify --load-ca-certificate "$T/$k.pem" --infile "$T/$k.pem" >"$T/cverify-$k.out" 2>&1 ||
    { cat "$T/cverify-$k.out"; fail "certtool --verify ($k)"; }
  grep -q "Chain verification output: Verified" "$T/cverify-$k.out" || { cat "$T/cverify-$k.out"; fail "certtool --verify ($k)"; }
  # The certificate carries the token's public key.
  gt p11tool --provider "$MOD" --login --export-pubkey "$url" --outfile "$T/$k.pub" >/dev/null 2>&1 ||
    fail "p11tool --export-pubkey ($k)"
  cmp -s <(openssl pkey -pubin -in "$T/$k.pub" -outform DER) <(openssl x509 -in "$T/$k.pem" -noout -pubkey | openssl pkey -pubin -outform DER) ||
    fail "the certificate's public key ($k) is not the token's"
done
openssl x509 -in "$T/g-rsa.pem" -noout -text | grep -q "Public-Key: (2048 bit)" || fail "g-rsa certificate: not RSA 2048"
openssl x509 -in "$T/g-ec.pem" -noout -text | grep -q "ASN1 OID: prime256v1" || fail "g-ec certificate: not P-256"
pass "certtool makes self-signed certificates with pkcs11: URL keys; openssl and certtool verify them"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for k in g-ec g-rsa; do
  port=$(free_port)
  LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 gnutls-serv --provider "$MOD" --x509keyfile "pkcs11:token=p1;object=$k;type=private" --x509certfile "$T/$k.pem" \
    --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" --echo -p "$port" >"$T/serv-$k.out" 2>&1 &
  spid=$!
  ok=
  for _ in $(seq 1 100); do
    grep -q "Echo Server listening\|HTTP Server listening\|listening on" "$T/serv-$k.out" 2>/dev/null && { ok=1; break; }
    kill -0 $spid 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] || { cat "$T/serv-$k.out"; kill $spid 2>/dev/null; fail "gnutls-serv ($k) did not start"; }
  out=$( (echo "hello-from-cli-$k"; sleep 1) | gnutls-cli --x509cafile "$T/$k.pem" --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" \
           -p "$port" localhost 2>&1) || { echo "$out"; kill $spid; fail "gnutls-cli handshake with gnutls-serv ($k)"; }
  kill $spid 2>/dev/null; wait $spid 2>/dev/null || true
  grep -q "^- Status: The certificate is trusted." <<<"$out" || { echo "$out"; fail "gnutls-cli ($k): certificate not trusted"; }
  grep -q "^- Description: (TLS1.3-X.509)" <<<"$out" || { echo "$out"; fail "gnutls-cli ($k): not TLS 1.3"; }
  grep -q "^- Handshake was completed" <<<"$out" || { echo "$out"; fail "gnutls-cli ($k): no handshake"; }
  grep -q "^hello-from-cli-$k$" <<<"$out" || { echo "$out"; cat "$T/serv-$k.out"; fail "gnutls-cli ($k): no echo from the server"; }
  echo "$out" | grep "^- Description" | sed "s/^/  $k: /"
done
pass "gnutls-serv serves TLS 1.3 with ECDSA and RSA-PSS keys in the token to gnutls-cli"
