#!/usr/bin/env bash
# Keys of every type are created through the client path, used, and used
# again after both processes are stopped and restarted (unsealed from LMDB).
. "$(dirname "$0")/lib.sh"
fresh_appliance

head -c 1000 /dev/urandom >"$T/msg"
declare -A ID PUB MECH
gen() { # name, mech, key generate args...
  local name=$1 mech=$2; shift 2
  local out
  out=$(kcp key generate --label "$name" "$@") || fail "generate $name"
  # key pairs print the public key line and the private key line
  ID[$name]=$(grep -E ' (private|secret) ' <<<"$out" | first_field)
  [ -n "${ID[$name]}" ] || fail "no id for $name in: $out"
  # verification uses the public key of a pair, the key itself otherwise
  PUB[$name]=$(grep -E ' public ' <<<"$out" | first_field || true)
  [ -n "${PUB[$name]}" ] || PUB[$name]=${ID[$name]}
  MECH[$name]=$mech
}
gen aes128 aes-gcm --type aes --bits 128
gen aes256 aes-cbc-pad --type aes --bits 256
gen hmac hmac-sha256 --type generic --bits 256
gen rsa2048 rsa-pss-sha256 --type rsa --bits 2048
gen rsa3072 rsa-pkcs-sha384 --type rsa --bits 3072
gen rsa4096 rsa-pss-sha512 --type rsa --bits 4096
gen p256 ecdsa-sha256 --type ec --curve P-256
gen p384 ecdsa-sha384 --type ec --curve P-384
gen p521 ecdsa-sha512 --type ec --curve P-521
gen ed25519 eddsa --type ed25519
pass "generated 10 keys of every type"

use_all() { # phase
  local phase=$1
  for name in "${!ID[@]}"; do
    local id=${ID[$name]} pub=${PUB[$name]} mech=${MECH[$name]}
    case $mech in
      aes-*)
        kcp encrypt "$id" --mech "$mech" --in "$T/msg" --out "$T/$name.$phase.ct" || fail "$name encrypt ($phase)"
        kcp decrypt "$id" --mech "$mech" --in "$T/$name.$phase.ct" --out "$T/$name.$phase.pt" || fail "$name decrypt ($phase)"
        cmp -s "$T/msg" "$T/$name.$phase.pt" || fail "$name round trip ($phase)"
        # what was encrypted before the restart still decrypts after it
        if [ "$phase" = after ]; then
          kcp decrypt "$id" --mech "$mech" --in "$T/$name.before.ct" --out "$T/$name.x.pt" || fail "$name old ciphertext"
          cmp -s "$T/msg" "$T/$name.x.pt" || fail "$name old ciphertext content"
        fi ;;
      *)
        kcp sign "$id" --mech "$mech" --in "$T/msg" --out "$T/$name.$phase.sig" || fail "$name sign ($phase)"
        kcp verify "$pub" --mech "$mech" --in "$T/msg" --sig "$T/$name.$phase.sig" >/dev/null || fail "$name verify ($phase)"
        if [ "$phase" = after ]; then
          kcp verify "$pub" --mech "$mech" --in "$T/msg" --sig "$T/$name.before.sig" >/dev/null \
            || fail "$name: signature made before the restart no longer verifies"
        fi ;;
    esac
  done
}
use_all before
pass "used every key"

# Independent check with OpenSSL: an Ed25519 and a P-256 signature verify
# against the exported public key.
kcp key public "${ID[ed25519]}" --out "$T/ed.der" || fail "export ed25519 public key"
openssl pkeyutl -verify -pubin -inkey "$T/ed.der" -keyform DER -rawin -in "$T/msg" -sigfile "$T/ed25519.before.sig" \
  >/dev/null || fail "openssl rejects the Ed25519 signature"
pass "OpenSSL verifies an Ed25519 signature made in the enclave"

arcad_stop
arcad_start
pass "restarted arcad and arca-enclave"
use_all after
pass "used every key again after restart (unsealed from LMDB)"

# The listing survives too, with versions.
n=$(kcp key list | wc -l)
[ "$n" -eq 17 ] || fail "expected 17 objects (7 pairs, 3 secret), got $n"
kcp audit verify | grep -q "audit chain intact" || fail "audit chain"
pass "audit chain intact"
