#!/usr/bin/env bash
# Wrong input gets the exact error and has no effect; nothing is reachable
# without the right PIN; one partition cannot see another's keys.
. "$(dirname "$0")/lib.sh"
fresh_appliance
head -c 100 /dev/urandom >"$T/msg"

before=$(kcp key list | wc -l)
expect_error ARCA_ERR_KEY_SIZE kcp key generate --type aes --bits 160 --label bad
expect_error ARCA_ERR_KEY_SIZE kcp key generate --type rsa --bits 1024 --label bad
expect_error ARCA_ERR_KEY_SIZE kcp key import --type aes --value-hex 00112233 --label bad
after=$(kcp key list | wc -l)
[ "$before" = "$after" ] || fail "a refused generation left an object behind"
pass "wrong key sizes: ARCA_ERR_KEY_SIZE, nothing created"

ec=$(kcp key generate --type ec --label ec | grep ' private ' | first_field)
aes=$(kcp key generate --type aes --label aes | first_field)
expect_error ARCA_ERR_KEY_TYPE kcp sign "$aes" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig"
rsa=$(kcp key generate --type rsa --label rsa | grep ' private ' | first_field)
expect_error ARCA_ERR_KEY_TYPE kcp decrypt "$rsa" --mech aes-gcm --in "$T/msg" --out "$T/pt"
pass "mechanism that does not fit the key type: ARCA_ERR_KEY_TYPE"

nosign=$(kcp key generate --type ec --label nosign --no-sign | grep ' private ' | first_field)
expect_error ARCA_ERR_KEY_FUNCTION kcp sign "$nosign" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig"
noenc=$(kcp key generate --type aes --label noenc --no-encrypt | first_field)
expect_error ARCA_ERR_KEY_FUNCTION kcp encrypt "$noenc" --mech aes-gcm --in "$T/msg" --out "$T/ct"
pass "usage flag not set: ARCA_ERR_KEY_FUNCTION"

expect_error ARCA_ERR_ATTRIBUTE_SENSITIVE kcp key value "$aes"
kek=$(kcp key generate --type aes --label kek | first_field)
expect_error ARCA_ERR_KEY_UNEXTRACTABLE kcp wrap "$kek" "$aes" --mech aes-kw --out "$T/w"
exp=$(kcp key generate --type aes --label exportable --extractable --not-sensitive | first_field)
v=$(kcp key value "$exp") || fail "value of an extractable, non-sensitive key"
[ ${#v} -eq 64 ] || fail "value has the wrong length: $v"
kcp wrap "$kek" "$exp" --mech aes-kwp --out "$T/w" || fail "wrap of an extractable key"
un=$(kcp unwrap "$kek" --mech aes-kwp --in "$T/w" --type aes --label unwrapped | first_field)
kcp encrypt "$exp" --mech aes-cbc-pad --in "$T/msg" --out "$T/ct1" || fail "encrypt"
kcp decrypt "$un" --mech aes-cbc-pad --in "$T/ct1" --out "$T/pt1" || fail "unwrapped key decrypts"
cmp -s "$T/msg" "$T/pt1" || fail "unwrapped key differs"
pass "unextractable keys stay inside; an extractable one leaves only wrapped"

# Authentication: wrong PIN, no PIN; lockout.
ARCA_PIN=wrong-pin-0000 expect_error ARCA_ERR_PIN_INCORRECT kcp key list
ARCA_ADMIN_PIN=wrong-pin-0000 ARCA_SO_PIN=x1234 ARCA_PIN=y1234 expect_error ARCA_ERR_PIN_INCORRECT kc partition create p9
expect_error ARCA_ERR_ALREADY_INITIALISED kc_init
pass "wrong PINs refused"

# Partitions: p2 cannot see or use p1's key.
ARCA_SO_PIN=so-pin-2222 ARCA_PIN=user-pin-2222 kc partition create p2 >/dev/null
ARCA_PIN=user-pin-2222 PARTITION=p2 kcp key list >"$T/p2list"
[ ! -s "$T/p2list" ] || fail "p2 sees objects: $(cat "$T/p2list")"
ARCA_PIN=user-pin-2222 PARTITION=p2 expect_error ARCA_ERR_NOT_FOUND kcp sign "$ec" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig"
ARCA_PIN=user-pin-1234 PARTITION=p2 expect_error ARCA_ERR_PIN_INCORRECT kcp key list
pass "another partition's keys are invisible"

for i in $(seq 1 10); do ARCA_PIN=bad-pin-$i PARTITION=p2 kcp key list >/dev/null 2>&1 || true; done
ARCA_PIN=user-pin-2222 PARTITION=p2 expect_error ARCA_ERR_PIN_LOCKED kcp key list
kcp key list >/dev/null || fail "p1 affected by p2's lockout"
pass "10 wrong PINs lock the user PIN, even against the right one"

# None of the PINs or key values reached the logs.
for s in "$ARCA_PIN" "$ARCA_ADMIN_PIN" "$ARCA_SO_PIN" user-pin-2222 "$v"; do
  if grep -q -- "$s" "$ARCAD_LOG" "$ARCAD_LOG.cur"; then fail "a secret appears in the logs: $s"; fi
done
pass "no PIN or key value in the logs"
kcp audit verify | grep -q "audit chain intact" || fail "audit chain"
