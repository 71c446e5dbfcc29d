#!/usr/bin/env bash
# Client identities: a connection is admitted only with a certificate from
# the client CA whose CN is a registered identity; every refusal is
# audited (CONNECTION_REFUSED, naming the CN). An identity is confined to
# its roles and partitions (certificate AND PIN), and five wrong PINs lock
# a partition user even against the right PIN.
. "$(dirname "$0")/lib.sh"
fresh_appliance
ARCA_SO_PIN=so-pin-2222 ARCA_PIN=user-pin-2222 kc partition create p2 >/dev/null || fail "partition p2"

# The identities after fresh_appliance: the operator (first admin, every
# role, every partition) and the application identity.
out=$(kc client list) || fail "client list"
[ "$out" = "$(printf 'arca-admin admin,officer,auditor,user *\narca-client user p1')" ] || fail "client list: $out"
kc client list --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d == {"identities": [
    {"name": "arca-admin", "roles": ["admin", "officer", "auditor", "user"], "partitions": "*"},
    {"name": "arca-client", "roles": ["user"], "partitions": "p1"}]}, d' || fail "client list --json"
k=$(kcu key generate --type aes --label app | first_field) || fail "arca-client generates a key in p1"
kcu key list | grep -q "^$k " || fail "arca-client lists its key"
pass "arca-admin and arca-client registered; arca-client works in p1"

refusals() { kc audit show --max 1024 | grep -c " CONNECTION_REFUSED " || true; }

# 1. No client certificate: the handshake is refused, and audited.
before=$(refusals)
set +e
out=$(timeout 20 openssl s_client -unix "$ARCA_SOCKET" -tls1_3 -ign_eof </dev/null 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "a client without a certificate was not refused (rc $rc): $out"
grep -q "alert certificate required" <<<"$out" || fail "no 'certificate required' alert: $out"
after=$(refusals)
[ "$after" -eq $((before + 1)) ] || fail "no audit record for the connection without a certificate ($before -> $after)"
kc audit show --max 1024 | grep " CONNECTION_REFUSED " | tail -n1 | grep -q "detail=no client certificate" \
  || fail "the refusal record does not say why: $(kc audit show --max 1024 | grep CONNECTION_REFUSED | tail -n1)"
pass "no client certificate: alert 'certificate required', audited"

# 2. A certificate from another CA.
write_client_conf "$T/stranger.conf" stranger
set +e
out=$(kc --config "$T/stranger.conf" status 2>&1); rc=$?
set -e
[ $rc -eq 3 ] || fail "a certificate from another CA: exit $rc: $out"
# TLS 1.3: the client has finished its handshake when the server refuses
# its certificate; the refusal (alert bad certificate) ends the connection
# under the first request.
refused_msg="^kms-client: error: ARCA_ERR_CHANNEL: (connection to unix:$ARCA_SOCKET lost|.*alert bad certificate)"
grep -qE "$refused_msg" <<<"$out" || fail "a certificate from another CA: $out"
rec=$(kc audit show --max 1024 | grep " CONNECTION_REFUSED " | tail -n1)
grep -q " ARCA_ERR_CERT_UNTRUSTED actor=arca-stranger " <<<"$rec" || fail "refusal of arca-stranger not audited: $rec"
grep -q "detail=certificate not issued by the client CA" <<<"$rec" || fail "refusal reason: $rec"
pass "certificate from another CA refused ($(head -n1 <<<"$out")), audited naming arca-stranger"

# 3. The application identity: not an admin, not in p2.
expect_error ARCA_ERR_PERMISSION kcu client list
ARCA_PIN=user-pin-2222 PARTITION=p2 expect_error ARCA_ERR_PERMISSION kcu key list
ARCA_SO_PIN=so-pin-3333 ARCA_PIN=user-pin-3333 expect_error ARCA_ERR_PERMISSION kcu partition create p3
kc partition list | grep -qx p3 && fail "p3 was created by a non-admin identity"
recs=$(kc audit show --max 1024 | grep " LOGIN_FAILED ARCA_ERR_PERMISSION actor=arca-client" || true)
[ "$(wc -l <<<"$recs")" -ge 3 ] || fail "the refused logins are not audited: $recs"
grep -q "detail=.*identity not authorised" <<<"$recs" || fail "refused login reason: $recs"
pass "arca-client cannot log in as admin nor to p2 (ARCA_ERR_PERMISSION, audited)"

# 4. An identity with no permission for keys (auditor only): Permission
# denied for the partition user, while it may read the audit without a PIN.
kc client add arca-client --roles auditor --partitions p1 >/dev/null || fail "client add (auditor)"
expect_error ARCA_ERR_PERMISSION kcu key list
kc audit show --max 1024 | grep " LOGIN_FAILED ARCA_ERR_PERMISSION actor=arca-client" | tail -n1 | grep -q . \
  || fail "no audit record of the refused login"
env -u ARCA_ADMIN_PIN "$BIN_CLIENT" --config "$T/client.conf" audit show --max 5 >/dev/null \
  || fail "an auditor identity cannot read the audit"
env -u ARCA_ADMIN_PIN "$BIN_CLIENT" --config "$T/client.conf" audit verify | grep -q "^audit chain intact" \
  || fail "an auditor identity cannot verify the audit"
kc client add arca-client --roles user --partitions p1 >/dev/null || fail "client add (user again)"
set +e
out=$(env -u ARCA_ADMIN_PIN "$BIN_CLIENT" --config "$T/client.conf" audit show 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q "ARCA_ERR_NOT_LOGGED_IN" <<<"$out" || fail "a user identity reads the audit: rc=$rc $out"
kcu key list | grep -q "^$k " || fail "arca-client (user again) lists its key"
pass "user role removed: Permission denied (audited); auditor reads the audit without a PIN; role restored"

# 5. Five wrong PINs lock the user; the sixth attempt, with the right PIN, is refused.
for i in 1 2 3 4 5; do ARCA_PIN=wrong-pin-$i expect_error ARCA_ERR_PIN_INCORRECT kcu key list; done
expect_error ARCA_ERR_PIN_LOCKED kcu key list
expect_error ARCA_ERR_PIN_LOCKED kcp key list   # the partition's user PIN, whoever presents it
n=$(kc audit show --max 1024 | grep -c " LOGIN_FAILED ARCA_ERR_PIN_INCORRECT actor=arca-client" || true)
[ "$n" -eq 5 ] || fail "expected 5 audited wrong PINs, got $n"
pass "five wrong PINs lock p1's user (ARCA_ERR_PIN_LOCKED with the right PIN), each failure audited"

# 6. A removed identity is refused at the next connection, and audited.
kc client remove arca-client | grep -qx "identity arca-client removed" || fail "client remove"
set +e
out=$(kcu status 2>&1); rc=$?
set -e
[ $rc -eq 3 ] || fail "a removed identity: exit $rc: $out"
grep -qE "$refused_msg" <<<"$out" || fail "a removed identity: $out"
rec=$(kc audit show --max 1024 | grep " CONNECTION_REFUSED " | tail -n1)
grep -q " ARCA_ERR_IDENTITY_UNKNOWN actor=arca-client " <<<"$rec" || fail "refusal of arca-client not audited: $rec"
[ "$(kc client list)" = "arca-admin admin,officer,auditor,user *" ] || fail "client list after remove: $(kc client list)"
expect_error ARCA_ERR_IDENTITY_UNKNOWN kc client remove arca-client
expect_error ARCA_ERR_PERMISSION kc client remove arca-admin   # the last admin identity stays
pass "removed identity refused at the handshake, audited; the last admin cannot be removed"

kc audit verify | grep -q "audit chain intact" || fail "audit chain"
