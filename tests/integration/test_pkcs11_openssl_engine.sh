#!/usr/bin/env bash
# libarca-pkcs11.so under OpenSSL 3 through libp11's engine (Debian:
# libengine-pkcs11-openssl, engine id pkcs11), configured in an openssl.cnf
# engine section with MODULE_PATH, as the application identity arca-client
# on partition p1:
#  - openssl req -new -x509 -engine pkcs11 -keyform engine -key "pkcs11:..."
#    (PIN in the URI's pin-value) makes a self-signed certificate with an
#    ECDSA P-256 and with an RSA 2048 key of the token; openssl verify accepts
#    each, and its public key is the token's;
#  - openssl s_server with the key (PIN through -pass) completes a TLS 1.3
#    handshake with openssl s_client (the certificate as CA): ECDSA, and RSA
#    with RSA-PSS signatures made in the appliance; data goes both ways
#    (s_server -rev answers each line reversed);
#  - openssl dgst -sign with the engine key: the signature verifies with
#    the certificate's public key (ECDSA and RSA PKCS#1 v1.5 / PSS).
. "$(dirname "$0")/lib.sh"
ENGINE=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
[ -f "$ENGINE" ] || fail "$ENGINE missing (deploy/packages.sh test: libengine-pkcs11-openssl)"
command -v pkcs11-tool >/dev/null || fail "pkcs11-tool is not installed (deploy/packages.sh test: opensc)"
MOD=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MOD" ] || fail "$MOD not built"
# A sanitizer build of the module needs its runtimes preloaded into the
# (unsanitized) programs that load it; their own leaks are not ours.
PRELOAD=$(sanitizer_preload "$MOD")
ossl() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 OPENSSL_CONF="$T/openssl.cnf" openssl "$@"; }
p11u() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 pkcs11-tool --module "$MOD" --login --pin "$ARCA_PIN" "$@"; }

fresh_appliance
export ARCA_PKCS11_CONF=$T/client.conf
cat >"$T/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $MOD
init = 0
CNF

p11u --keypairgen --key-type EC:prime256v1 --label o-ec --id 21 >"$T/gen.out" 2>&1 || { cat "$T/gen.out"; fail "keypairgen EC"; }
p11u --keypairgen --key-type rsa:2048 --label o-rsa --id 22 >"$T/gen.out" 2>&1 || { cat "$T/gen.out"; fail "keypairgen RSA"; }

for k in o-ec o-rsa; do
  ossl req -new -x509 -subj /CN=localhost -addext "subjectAltName=DNS:localhost" -days 30 -engine pkcs11 -keyform engine \
    -key "pkcs11:token=p1;object=$k;type=private;pin-value=$ARCA_PIN" -out "$T/$k.pem" >"$T/req-$k.out" 2>&1 ||
    { cat "$T/req-$k.out"; fail "openssl req -x509 with the engine key $k"; }
  out=$(openssl verify -CAfile "$T/$k.pem" "$T/$k.pem" 2>&1) || fail "openssl verify ($k): $out"
  [ "$out" = "$T/$k.pem: OK" ] || fail "openssl verify ($k): $out"
  # The certificate's key is the token's public key (read with kms-client:
  # pkcs11-tool 0.23's own --read-object of an EC key reads freed memory,
  # which a sanitizer build reports).
  pubid=$(kcu key list --label "$k" --class public | first_field)
  [ -n "$pubid" ] || fail "no public key $k"
  kcu key public "$pubid" --out "$T/$k.pub.der" >/dev/null || fail "read public key $k"
  cmp -s <(openssl pkey -pubin -inform DER -in "$T/$k.pub.der" -outform DER) \
         <(openssl x509 -in "$T/$k.pem" -noout -pubkey | openssl pkey -pubin -outform DER) ||
    fail "the certificate's public key ($k) is not the token's"
done
openssl x509 -in "$T/o-ec.pem" -noout -text | grep -q "Signature Algorithm: ecdsa-with-SHA256" || fail "o-ec: signature algorithm"
openssl x509 -in "$T/o-rsa.pem" -noout -text | grep -q "Signature Algorithm: sha256WithRSAEncryption" || fail "o-rsa: signature algorithm"
pass "openssl req -x509 -engine pkcs11 makes self-signed ECDSA and RSA certificates; openssl verify accepts them"

# openssl dgst -sign through the engine; verified with the certificate's key.
head -c 3000 /dev/urandom >"$T/data"
for k in o-ec o-rsa; do
  openssl x509 -in "$T/$k.pem" -noout -pubkey >"$T/$k.pub.pem"
  ossl dgst -sha256 -engine pkcs11 -keyform engine -sign "pkcs11:token=p1;object=$k;type=private;pin-value=$ARCA_PIN" \
    -out "$T/$k.sig" "$T/data" >"$T/dgst.out" 2>&1 || { cat "$T/dgst.out"; fail "openssl dgst -sign ($k)"; }
  out=$(openssl dgst -sha256 -verify "$T/$k.pub.pem" -signature "$T/$k.sig" "$T/data" 2>&1) || fail "verify dgst ($k): $out"
  [ "$out" = "Verified OK" ] || fail "verify dgst ($k): $out"
done
ossl dgst -sha256 -engine pkcs11 -keyform engine -sign "pkcs11:token=p1;object=o-rsa;type=private;pin-value=$ARCA_PIN" \
  -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -out "$T/pss.sig" "$T/data" >"$T/dgst.out" 2>&1 ||
  { cat "$T/dgst.out"; fail "openssl dgst -sign PSS"; }
out=$(openssl dgst -sha256 -verify "$T/o-rsa.pub.pem" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
      -signature "$T/pss.sig" "$T/data" 2>&1) || fail "verify PSS: $out"
[ "$out" = "Verified OK" ] || fail "verify PSS: $out"
pass "openssl dgst -sign with engine keys: ECDSA, RSA PKCS#1 v1.5 and RSA-PSS signatures verify"

for k in o-ec o-rsa; do
  LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 OPENSSL_CONF="$T/openssl.cnf" openssl s_server -engine pkcs11 -keyform engine -key "pkcs11:token=p1;object=$k;type=private" -pass env:ARCA_PIN \
    -cert "$T/$k.pem" -accept 127.0.0.1:0 -tls1_3 -naccept 1 -rev >"$T/serv-$k.out" 2>&1 &
  spid=$!
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/serv-$k.out")
    [ -n "$port" ] && break
    kill -0 $spid 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$T/serv-$k.out"; kill $spid 2>/dev/null; fail "openssl s_server ($k) did not start"; }
  out=$( (echo "hello-$k"; sleep 1) | openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$T/$k.pem" \
          -tls1_3 -verify_return_error -brief 2>&1) || { echo "$out"; cat "$T/serv-$k.out"; kill $spid; fail "openssl s_client ($k)"; }
  wait $spid || { cat "$T/serv-$k.out"; fail "openssl s_server ($k) exited with an error"; }
  grep -q "^Protocol version: TLSv1.3$" <<<"$out" || { echo "$out"; fail "s_client ($k): not TLS 1.3"; }
  grep -q "^Verification: OK$" <<<"$out" || { echo "$out"; fail "s_client ($k): verification"; }
  want=ECDSA; [ $k = o-rsa ] && want=RSA-PSS
  grep -q "^Signature type: $want$" <<<"$out" || { echo "$out"; fail "s_client ($k): signature type is not $want"; }
  grep -q "^$(rev <<<"hello-$k")$" <<<"$out" || { echo "$out"; cat "$T/serv-$k.out"; fail "s_client ($k): no reversed echo"; }
  echo "  $k: $(grep "^Ciphersuite\|^Signature type" <<<"$out" | tr '\n' ' ')"
done
pass "openssl s_server with engine keys completes TLS 1.3 handshakes with s_client (ECDSA, RSA-PSS)"
