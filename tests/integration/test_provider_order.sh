#!/usr/bin/env bash
# Provider order and keys that are not Arca's (docs/openssl.md, "Provider
# order"). Both `-provider arca -provider default` and `-provider default
# -provider arca` (and both orders in openssl.cnf) sign with Arca keys
# (ECDSA, RSA-PSS, Ed25519, verified by the default provider), make
# certificates (req -x509) and decrypt (OAEP). With arca loaded, in either
# order, ordinary file keys still sign, verify, derive (ECDH), make
# certificates and serve TLS 1.3 through the default provider, and the
# arca provider never sees them (no appliance call: the test's appliance is
# stopped for that part).
source "$(dirname "$0")/lib.sh"
PROV_DIR=$ARCA_BUILD_DIR/provider
[ -f "$PROV_DIR/arca.so" ] || fail "arca.so not built"
export OPENSSL_MODULES=$PROV_DIR
asan_rt=$(sanitizer_preload "$PROV_DIR/arca.so")
RT=()
[ -z "$asan_rt" ] || RT=("LD_PRELOAD=$asan_rt" "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0")
OPENSSL_BIN=$(command -v openssl)
openssl() { env "${RT[@]}" "$OPENSSL_BIN" "$@"; }
fresh_appliance
export ARCA_CLIENT_CONF=$T/client.conf ARCA_PARTITION=p1
AF=(-provider arca -provider default)
DF=(-provider default -provider arca)

for c in "ec1 ec" "rsa1 rsa" "ed1 ed25519"; do
  read -r label type <<<"$c"
  pubid=$(kcu key generate --type "$type" --label "$label" | head -n1 | first_field) || fail "key generate $label"
  kcu key public "$pubid" --out "$T/$label.pub.der" >/dev/null || fail "key public $label"
  openssl pkey -pubin -inform DER -in "$T/$label.pub.der" -out "$T/$label.pub.pem" || fail "pub pem $label"
done
printf 'ordering matters not' >"$T/msg"
openssl dgst -sha256 -binary -out "$T/dgst" "$T/msg"
verified() { [ "$1" = "Signature Verified Successfully" ]; }

# ---- Arca keys in both orders ---------------------------------------------
for o in AF DF; do
  declare -n PO=$o
  openssl pkeyutl -sign "${PO[@]}" -inkey arca:label=ec1 -in "$T/dgst" -out "$T/ec.sig" || fail "$o: ECDSA sign"
  verified "$(openssl pkeyutl -verify -pubin -inkey "$T/ec1.pub.pem" -in "$T/dgst" -sigfile "$T/ec.sig")" || fail "$o: ECDSA verify"
  openssl pkeyutl -sign "${PO[@]}" -inkey arca:label=rsa1 -in "$T/dgst" -out "$T/pss.sig" -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest || fail "$o: RSA-PSS sign"
  verified "$(openssl pkeyutl -verify -pubin -inkey "$T/rsa1.pub.pem" -in "$T/dgst" -sigfile "$T/pss.sig" \
    -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest)" || fail "$o: RSA-PSS verify"
  openssl pkeyutl -sign "${PO[@]}" -rawin -inkey arca:label=ed1 -in "$T/msg" -out "$T/ed.sig" || fail "$o: Ed25519 sign"
  verified "$(openssl pkeyutl -verify -pubin -rawin -inkey "$T/ed1.pub.pem" -in "$T/msg" -sigfile "$T/ed.sig")" \
    || fail "$o: Ed25519 verify"
  for k in ec1 rsa1 ed1; do
    openssl req -new -x509 "${PO[@]}" -key "arca:label=$k" -subj "/CN=$k" -days 2 -out "$T/$k.$o.crt" || fail "$o: req $k"
    [ "$(openssl verify -CAfile "$T/$k.$o.crt" "$T/$k.$o.crt")" = "$T/$k.$o.crt: OK" ] || fail "$o: verify cert $k"
  done
  printf 'oaep' >"$T/pt"
  openssl pkeyutl -encrypt -pubin -inkey "$T/rsa1.pub.pem" -in "$T/pt" -out "$T/ct" -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha256 || fail "$o: encrypt"
  openssl pkeyutl -decrypt "${PO[@]}" -inkey arca:label=rsa1 -in "$T/ct" -out "$T/pt2" -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha256 || fail "$o: OAEP decrypt"
  cmp -s "$T/pt" "$T/pt2" || fail "$o: OAEP plaintext"
  pass "${PO[*]}: ECDSA, RSA-PSS, Ed25519 signatures verified; req -x509 for all three; OAEP decryption"
  unset -n PO
done

# openssl.cnf with default listed first.
printf '%s' "$ARCA_PIN" >"$T/pin"
cat >"$T/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
arca = arca_sect
[default_sect]
activate = 1
[arca_sect]
module = $PROV_DIR/arca.so
client_conf = $T/client.conf
partition = p1
pin_file = $T/pin
activate = 1
CNF
(
  unset ARCA_CLIENT_CONF ARCA_PARTITION ARCA_PIN OPENSSL_MODULES
  export OPENSSL_CONF=$T/openssl.cnf
  openssl pkeyutl -sign -inkey arca:label=ec1 -in "$T/dgst" -out "$T/ec5.sig" || exit 1
  verified "$(openssl pkeyutl -verify -pubin -inkey "$T/ec1.pub.pem" -in "$T/dgst" -sigfile "$T/ec5.sig")" || exit 1
) || fail "openssl.cnf with default first"
pass "openssl.cnf listing default before arca: pkeyutl signs with arca:label=ec1"

# ---- Keys that are not Arca's ------------------------------------------------
openssl genpkey -provider default -algorithm EC -pkeyopt group:P-256 -out "$T/f-ec.pem" || fail "file EC key"
openssl genpkey -provider default -algorithm EC -pkeyopt group:P-256 -out "$T/f-ec2.pem" || fail "file EC key 2"
openssl genpkey -provider default -algorithm RSA -pkeyopt bits:2048 -out "$T/f-rsa.pem" || fail "file RSA key"
openssl genpkey -provider default -algorithm ED25519 -out "$T/f-ed.pem" || fail "file Ed25519 key"
for k in f-ec f-ec2 f-rsa f-ed; do openssl pkey -in "$T/$k.pem" -pubout -out "$T/$k.pub.pem" || fail "pub $k"; done
openssl pkeyutl -derive -inkey "$T/f-ec2.pem" -peerkey "$T/f-ec.pub.pem" -out "$T/secret.ref" || fail "reference ECDH"
# The appliance is stopped: any call into it would fail (or time out).
arcad_stop
for o in AF DF; do
  declare -n PO=$o
  openssl pkeyutl -sign "${PO[@]}" -inkey "$T/f-ec.pem" -in "$T/dgst" -out "$T/f-ec.sig" || fail "$o: file ECDSA sign"
  verified "$(openssl pkeyutl -verify "${PO[@]}" -pubin -inkey "$T/f-ec.pub.pem" -in "$T/dgst" -sigfile "$T/f-ec.sig")" \
    || fail "$o: file ECDSA verify"
  openssl pkeyutl -sign "${PO[@]}" -inkey "$T/f-rsa.pem" -in "$T/dgst" -out "$T/f-rsa.sig" -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss || fail "$o: file RSA-PSS sign"
  verified "$(openssl pkeyutl -verify "${PO[@]}" -pubin -inkey "$T/f-rsa.pub.pem" -in "$T/dgst" -sigfile "$T/f-rsa.sig" \
    -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss)" || fail "$o: file RSA-PSS verify"
  openssl pkeyutl -sign "${PO[@]}" -rawin -inkey "$T/f-ed.pem" -in "$T/msg" -out "$T/f-ed.sig" || fail "$o: file Ed25519"
  verified "$(openssl pkeyutl -verify "${PO[@]}" -pubin -rawin -inkey "$T/f-ed.pub.pem" -in "$T/msg" -sigfile "$T/f-ed.sig")" \
    || fail "$o: file Ed25519 verify"
  openssl pkeyutl -derive "${PO[@]}" -inkey "$T/f-ec.pem" -peerkey "$T/f-ec2.pub.pem" -out "$T/secret" || fail "$o: ECDH"
  cmp -s "$T/secret" "$T/secret.ref" || fail "$o: ECDH secret differs"
  openssl req -new -x509 "${PO[@]}" -key "$T/f-ec.pem" -subj /CN=localhost -days 2 -out "$T/f-ec.$o.crt" || fail "$o: req"
  [ "$(openssl verify -CAfile "$T/f-ec.$o.crt" "$T/f-ec.$o.crt")" = "$T/f-ec.$o.crt: OK" ] || fail "$o: verify file cert"
  # TLS 1.3 with the file key on the server, both ends loading arca.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  : >"$T/srv.out" # not the previous server's ACCEPT (the redirect below opens in the background)
  env "${RT[@]}" "$OPENSSL_BIN" s_server "${PO[@]}" -key "$T/f-ec.pem" -cert "$T/f-ec.$o.crt" -accept "127.0.0.1:$port" \
    -naccept 1 -www -tls1_3 >"$T/srv.out" 2>&1 </dev/null &
  srv=$!
  for _ in $(seq 1 200); do grep -q '^ACCEPT' "$T/srv.out" && break; sleep 0.05; done
  out=$(printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client "${PO[@]}" -brief -ign_eof -connect "127.0.0.1:$port" \
    -CAfile "$T/f-ec.$o.crt" -verify_return_error 2>&1) || true
  kill "$srv" 2>/dev/null || true
  wait "$srv" 2>/dev/null || true
  grep -q '^Protocol version: TLSv1.3$' <<<"$out" && grep -q '^Verification: OK$' <<<"$out" \
    && grep -q '^HTTP/1.0 200 ok' <<<"$out" || fail "$o: TLS with a file key: $out"
  pass "${PO[*]}: file keys sign/verify (ECDSA, RSA-PSS, Ed25519), ECDH derive, req -x509, s_server TLS 1.3 - appliance stopped"
  unset -n PO
done

# TLS key exchange groups: with default first a P-256 key share is
# negotiated; with arca first OpenSSL 3.0's TLS layer does not offer the
# NIST groups (their key management is arca's: documented).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: >"$T/srv.out"
env "${RT[@]}" "$OPENSSL_BIN" s_server "${DF[@]}" -key "$T/f-ec.pem" -cert "$T/f-ec.DF.crt" -accept "127.0.0.1:$port" \
  -naccept 1 -www -tls1_3 >"$T/srv.out" 2>&1 </dev/null &
srv=$!
for _ in $(seq 1 200); do grep -q '^ACCEPT' "$T/srv.out" && break; sleep 0.05; done
out=$(openssl s_client "${DF[@]}" -groups P-256 -brief -connect "127.0.0.1:$port" -CAfile "$T/f-ec.DF.crt" </dev/null 2>&1) || true
kill "$srv" 2>/dev/null || true
wait "$srv" 2>/dev/null || true
grep -q '^Server Temp Key: ECDH, prime256v1, 256 bits$' <<<"$out" || fail "default first: P-256 key share: $out"
rc=0
out=$(openssl s_client "${AF[@]}" -groups P-256 -brief -connect "127.0.0.1:$port" </dev/null 2>&1) || rc=$?
[ $rc -ne 0 ] && grep -qF "group 'P-256' cannot be set" <<<"$out" || fail "arca first: P-256 group: exit $rc: $out"
pass "TLS group P-256: negotiated with default first; not offered with arca first (\"group 'P-256' cannot be set\")"

# Software key generation: with default first it is the default provider's;
# with arca first OpenSSL 3.0 hands EC/RSA/Ed25519 generation by name to
# arca, which refuses it clearly (documented; X25519 is unaffected).
openssl genpkey "${DF[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/g-df.pem" || fail "default first: genpkey EC"
grep -q "BEGIN PRIVATE KEY" "$T/g-df.pem" || fail "default first: genpkey wrote no software key"
openssl genpkey "${AF[@]}" -algorithm X25519 -out "$T/g-x.pem" || fail "arca first: genpkey X25519"
rc=0
out=$(openssl genpkey "${AF[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/g-af.pem" 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -qF "no arca-label: name the new key with -pkeyopt arca-label:NAME" <<<"$out" \
  || fail "arca first: software EC generation: exit $rc: $out"
pass "software genpkey: default first works; arca first refuses EC with 'no arca-label: ...' (X25519 unaffected)"
echo "all provider order tests passed"
