#!/usr/bin/env bash
# A host that edits, truncates or swaps sealed blobs in LMDB is detected:
# the operation on that object fails with an integrity error that names the
# object, and every other object keeps working.
. "$(dirname "$0")/lib.sh"
fresh_appliance

head -c 100 /dev/urandom >"$T/msg"
a=$(kcp key generate --type aes --label a | first_field)
b=$(kcp key generate --type aes --label b | first_field)
c=$(kcp key generate --type aes --label c | first_field)
d=$(kcp key generate --type aes --label d | first_field)
for k in $a $b $c $d; do kcp encrypt "$k" --mech aes-gcm --in "$T/msg" --out "$T/$k.ct" || fail "encrypt $k"; done
arcad_stop

"$BIN_STORETOOL" "$STATE/store" flip blobs "$a" 70        # a ciphertext byte
"$BIN_STORETOOL" "$STATE/store" truncate blobs "$b" 40    # cut inside the header
"$BIN_STORETOOL" "$STATE/store" swap blobs "$c" "$d"      # two objects' blobs exchanged
arcad_start

for k in $a $b $c $d; do
  expect_error ARCA_ERR_INTEGRITY kcp decrypt "$k" --mech aes-gcm --in "$T/$k.ct" --out "$T/out"
  grep -q "$k" "$ARCAD_LOG.cur" || fail "the enclave's log does not name object $k"
done
pass "edited, truncated and swapped blobs each fail with ARCA_ERR_INTEGRITY naming the object"

e=$(kcp key generate --type aes --label e | first_field) || fail "store no longer accepts new keys"
kcp encrypt "$e" --mech aes-gcm --in "$T/msg" --out "$T/e.ct" || fail "new key unusable"
pass "other objects keep working"

# Forged blind-index entries (the host copies every index entry of e so
# that they point at f) do not make find return f.
f=$(kcp key generate --type aes --label f | first_field)
arcad_stop
"$BIN_STORETOOL" "$STATE/store" list index | awk '{print $1}' | grep "$e\$" >"$T/eidx"
[ -s "$T/eidx" ] || fail "no index entries for e"
: >"$T/empty"
while read -r k; do "$BIN_STORETOOL" "$STATE/store" put index "${k%$e}$f" "$T/empty"; done <"$T/eidx"
arcad_start
out=$(kcp key list --label e)
[ "$(wc -l <<<"$out")" -eq 1 ] || fail "find by label e returned: $out"
grep -q "^$e " <<<"$out" || fail "find by label e did not return e: $out"
pass "find returns only objects whose sealed attributes match"
