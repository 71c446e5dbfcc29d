#!/usr/bin/env bash
# Per-key permissions (ARCA_CKA_ALLOWED_IDENTITIES, set with `key permit`):
# a key permitted to some identities of its partition is refused to the
# others (ARCA_ERR_PERMISSION, audited ACCESS_DENIED naming key and
# identity), invisible to them in key list, and only a permitted identity
# may change the list.
. "$(dirname "$0")/lib.sh"
fresh_appliance

# A second application identity on p1, issued by the operator CA as
# deploy/make-pki.sh issues arca-client.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/client2.key" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$T/leaf.ext"
openssl req -new -key "$PKI/client2.key" -subj "/O=Arca/CN=arca-client2" -out "$T/client2.csr"
openssl x509 -req -in "$T/client2.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
  -sha256 -days 30 -extfile "$T/leaf.ext" -out "$PKI/client2.pem" 2>/dev/null || fail "issue arca-client2"
write_client_conf "$T/client2.conf" client2
kc client add arca-client2 --roles user --partitions p1 >/dev/null || fail "client add arca-client2"
kcu2() { "$BIN_CLIENT" --config "$T/client2.conf" -p p1 "$@"; }
kcu2 whoami | grep -qx "identity: arca-client2" || fail "arca-client2 whoami: $(kcu2 whoami)"

echo "data to sign" >"$T/msg"
k=$(kcu key generate --type ec --label perm-key | awk '$2 == "private" {print $1}')
kpub=$(kcu key list --label perm-key --class public | first_field)
[ -n "$k" ] && [ -n "$kpub" ] || fail "generate perm-key"
other=$(kcu key generate --type aes --bits 256 --label open-key | first_field)
# Before any permission: both identities use the key.
kcu2 sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig0" || fail "arca-client2 signs before permit"
kcu key show "$k" | grep -qx "allowed_identities: (every identity of the partition)" \
  || fail "key show without permissions: $(kcu key show "$k")"

out=$(kcu key permit "$k" --identities arca-client) || fail "key permit: $out"
[ "$out" = "$k: allowed identities arca-client" ] || fail "key permit printed: $out"
kcu key show "$k" | grep -qx "allowed_identities: arca-client" || fail "key show: $(kcu key show "$k")"
kcu key show --json "$k" | /usr/bin/python3 -c '
import json, sys
assert json.load(sys.stdin)["allowed_identities"] == "arca-client"' || fail "key show --json allowed_identities"

# 1. The permitted identity signs; the other is refused, with the exact error.
kcu sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig1" || fail "arca-client signs its permitted key"
set +e
out=$(kcu2 sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig2" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "arca-client2 sign: exit $rc: $out"
[ "$out" = "kms-client: error: ARCA_ERR_PERMISSION: permission denied" ] || fail "arca-client2 sign: $out"
[ ! -s "$T/sig2" ] || fail "a signature was written for a refused identity"
denied_msg=$out
# The admin identity logged in as p1's user is not in the list either.
expect_error ARCA_ERR_PERMISSION kcp sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig3"
# Any access is refused: attributes and the other key operations too.
expect_error ARCA_ERR_PERMISSION kcu2 key show "$k"
expect_error ARCA_ERR_PERMISSION kcu2 key destroy "$k"
pass "a key permitted to arca-client is refused to arca-client2 and arca-admin ($denied_msg)"

# 2. key list: not shown to arca-client2; the unrestricted key is.
kcu key list | grep -q "^$k " || fail "arca-client does not list its permitted key"
list2=$(kcu2 key list) || fail "arca-client2 key list"
grep -q "^$k " <<<"$list2" && fail "arca-client2 lists a key it may not use: $list2"
grep -q "^$other " <<<"$list2" || fail "arca-client2 does not list the unrestricted key: $list2"
grep -q "^$kpub " <<<"$list2" || fail "arca-client2 does not list the (unrestricted) public key: $list2"
pass "key list hides the restricted key from arca-client2"

# 3. The refusal is audited, naming the key and the identity.
rec=$(kc audit show --max 1024 | grep " ACCESS_DENIED " | grep "actor=arca-client2" | grep "object=$k" | head -n1)
[ -n "$rec" ] || fail "no ACCESS_DENIED record for arca-client2 on $k: $(kc audit show --max 1024 | tail -n 5)"
grep -q " ARCA_ERR_PERMISSION " <<<"$rec" || fail "ACCESS_DENIED record status: $rec"
pass "refusal audited: $rec"

# 4. Only a permitted identity changes the list.
set +e
out=$(kcu2 key permit "$k" --identities arca-client2 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q "^kms-client: error: ARCA_ERR_PERMISSION: " <<<"$out" \
  || fail "key permit by a non-permitted identity: rc $rc: $out"
kcu key show "$k" | grep -qx "allowed_identities: arca-client" || fail "the list changed: $(kcu key show "$k")"
kcu key permit "$k" --identities arca-client,arca-client2 >/dev/null || fail "permit both"
kcu2 sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig4" || fail "arca-client2 signs once permitted"
kcu2 key list | grep -q "^$k " || fail "arca-client2 lists the key once permitted"
out=$(kcu2 key permit "$k" --identities "") || fail "clear by a permitted identity: $out"
[ "$out" = "$k: every identity of the partition allowed" ] || fail "clear printed: $out"
kcp sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig5" || fail "arca-admin signs after the list was cleared"
kcu key show "$k" | grep -qx "allowed_identities: (every identity of the partition)" || fail "cleared list shown"
pass "key permit: refused to a non-permitted identity; widened, then cleared by a permitted one"

# 5. Local refusals of malformed lists (exit 2, nothing sent).
for bad in "a,,b" ",a" "a b" "$(printf 'x%.0s' $(seq 1 65))"; do
  set +e
  out=$(kcu key permit "$k" --identities "$bad" 2>&1); rc=$?
  set -e
  [ $rc -eq 2 ] || fail "--identities '$bad': exit $rc: $out"
done
pass "malformed --identities refused locally"
