#!/usr/bin/env bash
# kms-client's surface: every command's --help, data through stdin and
# stdout, key lifecycle (activate / revoke) with the exact refusals, key
# export, whoami (text and JSON) and pin change (user and SO PIN).
. "$(dirname "$0")/lib.sh"

# 1. --help for every command and subcommand: exit 0, the synopsis on stdout,
# no configuration needed.
helps=("init" "partition create" "partition list" "pin change" "client add" "client remove" "client list"
       "key generate" "key create" "key import" "key list" "key show" "key value" "key public"
       "key destroy" "key rotate" "key activate" "key revoke" "key export" "key permit"
       "sign" "verify" "encrypt" "decrypt" "wrap" "unwrap" "derive" "random"
       "audit show" "audit verify" "attest" "status" "whoami" "tls csr" "tls install")
for h in "${helps[@]}"; do
  # shellcheck disable=SC2086
  out=$(ARCA_CLIENT_CONF= "$BIN_CLIENT" $h --help) || fail "'$h --help' exited $?"
  grep -q "^  $h " <<<"$out" || grep -q "^  $h\$" <<<"$out" || fail "'$h --help' does not show its synopsis: $out"
done
out=$(ARCA_CLIENT_CONF= "$BIN_CLIENT" --help) || fail "--help exited $?"
for h in "${helps[@]}"; do grep -q "^  $h" <<<"$out" || fail "--help does not list '$h'"; done
pass "--help for ${#helps[@]} commands exits 0 with the synopsis"

fresh_appliance
set +e
out=$(kcp key frobnicate 0123456789abcdef0123456789abcdef 2>&1); rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown subcommand: exit $rc, expected 2: $out"

# 2. stdin / stdout.
# key generate prints "<id> public <label>" then "<id> private <label>".
ec=$(kcp key generate --type ec --label cli-ec) || fail "generate ec"
pub=$(awk '$2 == "public" {print $1}' <<<"$ec")
priv=$(awk '$2 == "private" {print $1}' <<<"$ec")
[ -n "$pub" ] && [ -n "$priv" ] || fail "ec pair: $ec"
printf 'message from stdin' >"$T/msg"
printf 'message from stdin' | kcp sign "$priv" --mech ecdsa-sha256 --in - --out - >"$T/sig" || fail "sign stdin->stdout"
[ "$(stat -c %s "$T/sig")" -eq 64 ] || fail "signature on stdout is $(stat -c %s "$T/sig") bytes"
out=$(kcp verify "$pub" --mech ecdsa-sha256 --in - --sig "$T/sig" <"$T/msg") || fail "verify from stdin: $out"
[ "$out" = "signature valid" ] || fail "verify from stdin: $out"
set +e
out=$(printf 'other' | kcp verify "$pub" --mech ecdsa-sha256 --in - --sig "$T/sig" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && [ "$out" = "signature invalid" ] || fail "other message from stdin: rc $rc: $out"

aes=$(kcp key generate --type aes --bits 256 --label cli-aes | first_field) || fail "generate aes"
head -c 5000 /dev/urandom >"$T/plain"
kcp encrypt "$aes" --mech aes-cbc-pad --in - --out - <"$T/plain" | kcp decrypt "$aes" --mech aes-cbc-pad --in - --out - >"$T/back" \
  || fail "encrypt | decrypt through pipes"
cmp -s "$T/plain" "$T/back" || fail "stdin/stdout round trip differs"
kcp encrypt "$aes" --mech aes-gcm --in "$T/plain" --out - >"$T/ct" || fail "encrypt to stdout"
kcp decrypt "$aes" --mech aes-gcm --in - --out "$T/back2" <"$T/ct" || fail "decrypt from stdin"
cmp -s "$T/plain" "$T/back2" || fail "gcm round trip differs"
pass "sign, verify, encrypt, decrypt read stdin and write stdout (--in - / --out -)"

# 3. Lifecycle: a Pre-Active key does nothing until activated; a revoked
# key refuses sign with the exact error.
k=$(kcp key generate --type ec --label cli-life --pre-active | awk '$2 == "private" {print $1}')
[ -n "$k" ] || fail "generate --pre-active"
kcp key show "$k" | grep -qx "state: pre-active" || fail "pre-active key: $(kcp key show "$k")"
set +e
out=$(kcp sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/s1" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "sign with a pre-active key: exit $rc: $out"
grep -q "^kms-client: error: ARCA_ERR_OBJECT_STATE: " <<<"$out" || fail "sign with a pre-active key: $out"
out=$(kcp key activate "$k") || fail "activate: $out"
[ "$out" = "activated $k" ] || fail "activate printed: $out"
kcp key show "$k" | grep -qx "state: active" || fail "activated key: $(kcp key show "$k")"
kcp sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/s1" || fail "sign after activate"
expect_error ARCA_ERR_OBJECT_STATE kcp key activate "$k"
out=$(kcp key revoke "$k" --reason superseded --message "rotated out") || fail "revoke: $out"
[ "$out" = "revoked $k (superseded)" ] || fail "revoke printed: $out"
kcp key show "$k" | grep -qx "state: deactivated" || fail "revoked key: $(kcp key show "$k")"
set +e
out=$(kcp sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/s2" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "sign with a revoked key: exit $rc: $out"
[ "$out" = "kms-client: error: ARCA_ERR_OBJECT_STATE: the object's lifecycle state does not permit this operation" ] \
  || fail "sign with a revoked key: $out"
revoked_err=$out
# A deactivated AES key still decrypts (a KMIP process operation), never encrypts.
kcp key revoke "$aes" --reason cessation >/dev/null || fail "revoke the AES key"
kcp decrypt "$aes" --mech aes-gcm --in "$T/ct" --out "$T/back3" || fail "decrypt with a deactivated key"
cmp -s "$T/plain" "$T/back3" || fail "decrypt with a deactivated key differs"
expect_error ARCA_ERR_OBJECT_STATE kcp encrypt "$aes" --mech aes-gcm --in "$T/plain" --out "$T/ct2"
# Deactivating again is not allowed; compromise is, from Deactivated.
expect_error ARCA_ERR_OBJECT_STATE kcp key revoke "$k"
kcp key revoke "$k" --reason compromise --message "key leaked" >/dev/null || fail "revoke compromise"
kcp key show --json "$k" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["state"]=="compromised", d' \
  || fail "compromised state in key show --json"
kc audit show --max 1024 | grep " REVOKE " | grep -q "reason 2: key leaked" || fail "revoke reason/message not audited: $(kc audit show --max 1024 | grep REVOKE)"
set +e
out=$("$BIN_CLIENT" -p p1 key revoke "$k" --reason bogus 2>&1); rc=$?
set -e
[ $rc -eq 2 ] && grep -q "kms-client: --reason takes compromise, superseded, cessation or unspecified" <<<"$out" \
  || fail "bad --reason: rc $rc: $out"
pass "key activate / revoke: pre-active refused, activated works, revoked refuses sign ($revoked_err)"

# 4. key export = wrap, the other way round.
w=$(kcp key generate --type aes --bits 256 --label cli-wrapper | first_field)
t=$(kcp key generate --type aes --bits 128 --label cli-target --extractable --not-sensitive | first_field)
kcp key export "$t" --wrapping-key "$w" --mech aes-kw --out "$T/exp1" || fail "key export"
kcp wrap "$w" "$t" --mech aes-kw --out "$T/exp2" || fail "wrap"
[ "$(stat -c %s "$T/exp1")" -eq 24 ] || fail "exported key is $(stat -c %s "$T/exp1") bytes"
cmp -s "$T/exp1" "$T/exp2" || fail "key export differs from wrap (AES-KW is deterministic)"
kcp key export "$t" --wrapping-key "$w" --mech aes-kw --out - | cmp -s - "$T/exp1" || fail "key export to stdout"
u=$(kcp unwrap "$w" --mech aes-kw --in "$T/exp1" --type aes --label cli-back --extractable --not-sensitive | first_field) \
  || fail "unwrap export"
v1=$(kcp key value "$u") && v2=$(kcp key value "$t") || fail "key value"
[ ${#v1} -eq 32 ] && [ "$v1" = "$v2" ] || fail "unwrapped export differs: '$v1' '$v2'"
expect_error ARCA_ERR_KEY_UNEXTRACTABLE kcp key export "$w" --wrapping-key "$t" --mech aes-kw --out "$T/no"
pass "key export ID --wrapping-key WID = wrap WID ID"

# 5. whoami.
out=$(kc whoami) || fail "whoami (admin, no login)"
[ "$out" = "$(printf 'identity: arca-admin\nroles: admin,officer,auditor,user\npartitions: *\nlogin: none')" ] || fail "whoami: $out"
kcu whoami --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d == {"identity": "arca-client", "roles": ["user"], "partitions": "p1", "login": "user", "partition": "p1"}, d' \
  || fail "whoami --json (arca-client, logged in): $(kcu whoami --json)"
kc whoami --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["identity"] == "arca-admin" and d["login"] is None and d["partition"] is None, d' || fail "whoami --json (admin)"
pass "whoami (text, --json parsed by python3)"

# 6. pin change: the user PIN (old from ARCA_PIN), then the SO PIN (--so, old
# from ARCA_SO_PIN); the new PIN from ARCA_NEW_PIN. Old PINs stop working.
set +e
out=$(kcp pin change 2>&1); rc=$?
set -e
[ $rc -eq 2 ] || fail "pin change without ARCA_NEW_PIN: exit $rc, expected 2: $out"
out=$(ARCA_NEW_PIN=user-pin-5678 kcp pin change) || fail "pin change"
[ "$out" = "user PIN of partition p1 changed" ] || fail "pin change printed: $out"
ARCA_PIN=user-pin-5678 kcp key list >/dev/null || fail "key list with the new user PIN"
expect_error ARCA_ERR_PIN_INCORRECT kcp key list
ARCA_NEW_PIN=user-pin-9999 expect_error ARCA_ERR_PIN_INCORRECT kcp pin change
user_pin=$ARCA_PIN so_pin=$ARCA_SO_PIN
ARCA_PIN=user-pin-5678 ARCA_NEW_PIN="$user_pin" kcp pin change >/dev/null || fail "pin change back"
kcp key list >/dev/null || fail "key list with the user PIN changed back"
out=$(ARCA_NEW_PIN=so-pin-5678 kcp pin change --so) || fail "pin change --so"
[ "$out" = "SO PIN of partition p1 changed" ] || fail "pin change --so printed: $out"
ARCA_NEW_PIN=so-pin-9999 expect_error ARCA_ERR_PIN_INCORRECT kcp pin change --so
ARCA_SO_PIN=so-pin-5678 ARCA_NEW_PIN="$so_pin" kcp pin change --so >/dev/null || fail "pin change --so back"
ARCA_NEW_PIN=so-pin-9999 kcp pin change --so >/dev/null || fail "pin change --so with the SO PIN changed back"
ARCA_SO_PIN=so-pin-9999 ARCA_NEW_PIN="$so_pin" kcp pin change --so >/dev/null || fail "pin change --so back again"
pass "pin change: user and SO PIN; the old PIN is refused (ARCA_ERR_PIN_INCORRECT)"
