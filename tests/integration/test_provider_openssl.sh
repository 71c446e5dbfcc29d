#!/usr/bin/env bash
# The arca OpenSSL provider (docs/openssl.md) against a real appliance:
# pkeyutl signatures (RSA-PSS, RSA PKCS#1, ECDSA P-256, Ed25519) verified
# with the exported public key, a self-signed certificate with openssl req,
# OAEP decryption, a C program (OSSL_PROVIDER_load, OSSL_STORE,
# EVP_DigestSign), configuration through OPENSSL_CONF only, and the bad
# inputs: an unknown label, a bad URI, a key without sign permission, the
# appliance unreachable (bounded by timeout_ms).
source "$(dirname "$0")/lib.sh"
PROV_DIR=$ARCA_BUILD_DIR/provider
[ -f "$PROV_DIR/arca.so" ] || fail "arca.so not built"
export OPENSSL_MODULES=$PROV_DIR
# A sanitizer build of arca.so loads into the uninstrumented openssl binary
# only with the ASan runtime preloaded (leak checks are openssl's, not ours).
# Only the programs that load arca.so get it (not swtpm, its proxy or
# kms-client: a preloaded runtime in those made the tpm-mode run hang).
asan_rt=$(sanitizer_preload "$PROV_DIR/arca.so")
with_rt() {
  if [ -n "$asan_rt" ]; then
    LD_PRELOAD=$asan_rt ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 "$@"
  else
    "$@"
  fi
}
openssl() { with_rt command openssl "$@"; }
fresh_appliance

export ARCA_CLIENT_CONF=$T/client.conf ARCA_PARTITION=p1
P=(-provider arca -provider default)

gen() { # type label [extra...]: writes $T/<label>.pub.pem, prints nothing
  local type=$1 label=$2; shift 2
  local out pubid
  out=$(kcu key generate --type "$type" --label "$label" "$@") || fail "key generate $type $label"
  pubid=$(head -n1 <<<"$out" | first_field)
  kcu key public "$pubid" --out "$T/$label.pub.der" >/dev/null || fail "key public $label"
  openssl pkey -pubin -inform DER -in "$T/$label.pub.der" -out "$T/$label.pub.pem" || fail "pub pem $label"
}
gen rsa rsa1
gen ec ec1 --curve P-256
gen ed25519 ed1
printf 'the quick brown fox' >"$T/msg"
openssl dgst -sha256 -binary -out "$T/dgst" "$T/msg"

# ---- pkeyutl sign, verify with the public key (default provider only) ----
openssl pkeyutl -sign "${P[@]}" -inkey "arca:label=rsa1" -in "$T/dgst" -out "$T/rsa-pss.sig" \
  -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest || fail "RSA-PSS sign"
openssl pkeyutl -verify -pubin -inkey "$T/rsa1.pub.pem" -in "$T/dgst" -sigfile "$T/rsa-pss.sig" \
  -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest | grep -q "Signature Verified Successfully" \
  || fail "RSA-PSS verify"
pass "pkeyutl RSA-PSS signature verified with the exported public key"
openssl pkeyutl -sign "${P[@]}" -inkey "arca:label=rsa1" -in "$T/dgst" -out "$T/rsa-pkcs1.sig" -pkeyopt digest:sha256 \
  || fail "RSA PKCS#1 sign"
openssl pkeyutl -verify -pubin -inkey "$T/rsa1.pub.pem" -in "$T/dgst" -sigfile "$T/rsa-pkcs1.sig" -pkeyopt digest:sha256 \
  | grep -q "Signature Verified Successfully" || fail "RSA PKCS#1 verify"
pass "pkeyutl RSA PKCS#1 v1.5 signature verified"
openssl pkeyutl -sign "${P[@]}" -inkey "arca:label=ec1" -in "$T/dgst" -out "$T/ec.sig" || fail "ECDSA sign"
openssl pkeyutl -verify -pubin -inkey "$T/ec1.pub.pem" -in "$T/dgst" -sigfile "$T/ec.sig" \
  | grep -q "Signature Verified Successfully" || fail "ECDSA verify"
openssl asn1parse -inform DER -in "$T/ec.sig" >/dev/null || fail "ECDSA signature is not DER"
pass "pkeyutl ECDSA P-256 signature (DER) verified"
openssl pkeyutl -sign "${P[@]}" -rawin -inkey "arca:label=ed1" -in "$T/msg" -out "$T/ed.sig" || fail "Ed25519 sign"
openssl pkeyutl -verify -pubin -rawin -inkey "$T/ed1.pub.pem" -in "$T/msg" -sigfile "$T/ed.sig" \
  | grep -q "Signature Verified Successfully" || fail "Ed25519 verify"
pass "pkeyutl Ed25519 signature verified"
# A changed message must not verify (the check above can fail).
printf 'the quick brown fax' >"$T/msg2"
if openssl pkeyutl -verify -pubin -rawin -inkey "$T/ed1.pub.pem" -in "$T/msg2" -sigfile "$T/ed.sig" >/dev/null 2>&1; then
  fail "Ed25519 signature verified for another message"
fi

# pkcs11: URI and arca:id= name the same key.
privid=$(kcu key list --label ec1 --class private | first_field)
openssl pkeyutl -sign "${P[@]}" -inkey "pkcs11:object=ec1;type=private" -in "$T/dgst" -out "$T/ec2.sig" || fail "pkcs11: URI"
openssl pkeyutl -verify -pubin -inkey "$T/ec1.pub.pem" -in "$T/dgst" -sigfile "$T/ec2.sig" >/dev/null || fail "pkcs11: verify"
openssl pkeyutl -sign "${P[@]}" -inkey "arca:id=$privid" -in "$T/dgst" -out "$T/ec3.sig" || fail "arca:id="
openssl pkeyutl -verify -pubin -inkey "$T/ec1.pub.pem" -in "$T/dgst" -sigfile "$T/ec3.sig" >/dev/null || fail "arca:id verify"
pass "pkcs11:object=ec1 and arca:id=<object id> sign with the same key"

# The store's public key is the exported one.
openssl pkey "${P[@]}" -in "arca:label=ec1" -pubout -out "$T/ec1.store.pub.pem" 2>/dev/null \
  || openssl pkey "${P[@]}" -pubin -in "arca:label=ec1" -out "$T/ec1.store.pub.pem" || fail "pkey -pubout from the store"
cmp -s "$T/ec1.store.pub.pem" "$T/ec1.pub.pem" || fail "store public key differs from the exported one"
pass "the public key from arca:label=ec1 is the exported SubjectPublicKeyInfo"

# ---- openssl req -x509 ----------------------------------------------------
for k in ec1 rsa1 ed1; do
  openssl req -new -x509 "${P[@]}" -key "arca:label=$k" -subj "/CN=$k" -days 2 -out "$T/$k.crt" || fail "req -x509 $k"
  openssl verify -CAfile "$T/$k.crt" "$T/$k.crt" | grep -q ": OK" || fail "verify self-signed $k"
  openssl x509 -in "$T/$k.crt" -noout -pubkey | cmp -s - "$T/$k.pub.pem" || fail "certificate key is not $k"
done
pass "openssl req -x509 with arca keys (ECDSA, RSA, Ed25519): certificates verify"

# ---- RSA-OAEP decrypt -------------------------------------------------------
printf 'secret payload' >"$T/pt"
openssl pkeyutl -encrypt -pubin -inkey "$T/rsa1.pub.pem" -in "$T/pt" -out "$T/ct" \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 || fail "encrypt"
openssl pkeyutl -decrypt "${P[@]}" -inkey "arca:label=rsa1" -in "$T/ct" -out "$T/pt2" \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 || fail "OAEP decrypt"
cmp -s "$T/pt" "$T/pt2" || fail "OAEP plaintext differs"
pass "RSA-OAEP (SHA-256) decryption in the appliance"

# ---- C program: OSSL_PROVIDER_load, OSSL_STORE, EVP_DigestSign -------------
cc -Wall -Wextra -Werror -o "$T/provider_client" "$(dirname "$0")/provider_client.c" -lcrypto || fail "cc provider_client"
for k in ec1 rsa1 ed1; do
  out=$(with_rt "$T/provider_client" "arca:label=$k" "$T/$k.pub.pem") || fail "provider_client $k: $out"
  [ "$out" = "signed and verified" ] || fail "provider_client $k: $out"
done
pass "C program: OSSL_PROVIDER_load + OSSL_STORE_open + EVP_DigestSign, verified by the default provider"

# ---- configured only through openssl.cnf (no -provider flags, no env) ------
# arca is listed before default here; test_provider_order.sh lists default
# first (both work: docs/openssl.md, "Provider order").
printf '%s' "$ARCA_PIN" >"$T/pin"
cat >"$T/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
arca = arca_sect
default = default_sect
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
  openssl pkeyutl -sign -inkey "arca:label=ec1" -in "$T/dgst" -out "$T/ec4.sig" || { echo "conf: pkeyutl sign"; exit 1; }
  openssl pkeyutl -verify -pubin -inkey "$T/ec1.pub.pem" -in "$T/dgst" -sigfile "$T/ec4.sig" >/dev/null || exit 1
  out=$(ARCA_PROVIDER_NO_LOAD=1 with_rt "$T/provider_client" "arca:label=rsa1" "$T/rsa1.pub.pem") || exit 1
  [ "$out" = "signed and verified" ] || { echo "conf: C program: $out"; exit 1; }
) || fail "configuration through OPENSSL_CONF only"
pass "OPENSSL_CONF only: pkeyutl and the C program sign with arca keys"

# ---- bad input ---------------------------------------------------------------
rc=0
out=$(openssl pkeyutl -sign "${P[@]}" -inkey "arca:label=nosuchkey" -in "$T/dgst" -out "$T/x.sig" 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "unknown label: exit $rc, want 1: $out"
grep -q "no key with label 'nosuchkey' in the Arca partition" <<<"$out" || fail "unknown label message: $out"
pass "unknown label: exit 1, 'no key with label 'nosuchkey' in the Arca partition'"

rc=0
out=$(openssl pkeyutl -sign "${P[@]}" -inkey "arca:colour=blue" -in "$T/dgst" -out "$T/x.sig" 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "bad URI: exit $rc"
grep -q "bad URI 'arca:colour=blue'" <<<"$out" || fail "bad URI message: $out"
pass "bad URI: exit 1 with 'bad URI'"

gen ec nosign1 --no-sign
rc=0
out=$(openssl pkeyutl -sign "${P[@]}" -inkey "arca:label=nosign1" -in "$T/dgst" -out "$T/x.sig" 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "no-sign key: exit $rc: $out"
grep -q "sign: ARCA_ERR_KEY_FUNCTION" <<<"$out" || fail "no-sign key message: $out"
pass "key without sign permission: exit 1, 'sign: ARCA_ERR_KEY_FUNCTION'"

# A key of another client's partition is not found (the lookup is per partition).
ARCA_CLIENT_CONF=$T/admin.conf kc partition create p2 >/dev/null || fail "partition create p2"
ARCA_CLIENT_CONF=$T/admin.conf PARTITION=p2 kcp key generate --type ec --label other1 >/dev/null || fail "key in p2"
rc=0
out=$(openssl pkeyutl -sign "${P[@]}" -inkey "arca:label=other1" -in "$T/dgst" -out "$T/x.sig" 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q "no key with label 'other1'" <<<"$out" || fail "another partition's key: $out"
pass "another partition's key: not found"

# Unreachable appliance: a socket that accepts nothing, timeout_ms = 1500.
write_client_conf "$T/dead.conf" client "timeout_ms = 1500"
sed -i "s|^address = .*|address = unix:$T/dead.sock|" "$T/dead.conf"
python3 -c "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0); time.sleep(30)" "$T/dead.sock" &
sink=$!
for _ in $(seq 1 50); do [ -S "$T/dead.sock" ] && break; sleep 0.05; done
start=$(date +%s%N)
rc=0
out=$(ARCA_CLIENT_CONF=$T/dead.conf with_rt timeout 20 openssl pkeyutl -sign "${P[@]}" -inkey "arca:label=ec1" -in "$T/dgst" \
  -out "$T/x.sig" 2>&1) || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill "$sink" 2>/dev/null || true
wait "$sink" 2>/dev/null || true
[ $rc -eq 1 ] || fail "unreachable: exit $rc after ${ms} ms: $out"
grep -q "ARCA_ERR_TIMEOUT" <<<"$out" || fail "unreachable message: $out"
[ $ms -lt 6000 ] || fail "unreachable: took $ms ms (timeout_ms 1500)"
pass "appliance unreachable: exit 1 with ARCA_ERR_TIMEOUT after ${ms} ms (timeout_ms 1500)"
echo "all provider tests passed"
