#!/usr/bin/env bash
# The audit chain over TLS: after a run of operations `kms-client audit
# verify` passes (text and --json); `audit show` lists the records; a host
# that alters one audit record in LMDB is caught: verify fails with
# ARCA_ERR_INTEGRITY and a message naming exactly that record.
. "$(dirname "$0")/lib.sh"
fresh_appliance

head -c 200 /dev/urandom >"$T/msg"
aes=$(kcp key generate --type aes --label a1 | first_field)
ec=$(kcp key generate --type ec --label e1 | grep ' private ' | first_field)
for i in 1 2 3; do
  kcp encrypt "$aes" --mech aes-gcm --in "$T/msg" --out "$T/ct" || fail "encrypt"
  kcp sign "$ec" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig" || fail "sign"
done
kcu key list >/dev/null || fail "the client identity lists its partition"

out=$(kc audit verify) || fail "audit verify: $out"
n=$(sed -n 's/^audit chain intact: \([0-9][0-9]*\) records$/\1/p' <<<"$out")
[ -n "$n" ] && [ "$n" -ge 10 ] || fail "expected at least 10 records, got: $out"
kc audit verify --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
# each invocation logs in (an audited operation): at least the count above
assert set(d) == {"intact", "records"} and d["intact"] is True and d["records"] >= int(sys.argv[1]), d' "$n" \
  || fail "audit verify --json"
pass "audit chain intact after a run of operations: $n records (text and --json)"

# audit show: every record, in order, with the operations above.
show=$(kc audit show --max 1024)
m=$(wc -l <<<"$show")
[ "$m" -ge "$n" ] || fail "audit show lists $m records, verify counted $n"
[ "$(awk '{print $1}' <<<"$show" | tr '\n' ' ')" = "$(seq 1 "$m" | tr '\n' ' ')" ] || fail "records out of order: $show"
grep -q " actor=arca-admin" <<<"$show" || fail "no record names the admin identity: $show"
[ "$(kc audit show --from 3 --max 2 | awk '{print $1}' | tr '\n' ' ')" = "3 4 " ] || fail "--from 3 --max 2"
kc audit show --json --from 2 --max 3 | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
seqs = [r["seq"] for r in d["records"]]
assert seqs == [2, 3, 4], seqs
assert d["next"] == 5, d["next"]
for r in d["records"]:
    assert set(r) == {"seq", "time_ms", "time", "event", "status", "actor", "object", "detail"}, r
    assert r["status"].startswith("ARCA_"), r' || fail "audit show --json"
pass "audit show lists the records in order (text, --from/--max, --json)"

# The host alters record 3 (one byte of its time stamp; the record is not
# the chain head, which arcad checks at start).
k=$(printf '%016x' 3)
arcad_stop
grep -q "^$k " <<<"$("$BIN_STORETOOL" "$STATE/store" list audit)" || fail "no audit record $k in the store"
"$BIN_STORETOOL" "$STATE/store" flip audit "$k" 12
arcad_start

set +e
out=$(kc audit verify 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "audit verify of an altered chain: exit $rc: $out"
grep -q "^kms-client: error: ARCA_ERR_INTEGRITY: audit record 3: " <<<"$out" || fail "the failure does not name record 3: $out"
set +e
json=$(kc audit verify --json 2>/dev/null); rc=$?
set -e
[ $rc -eq 1 ] || fail "audit verify --json of an altered chain: exit $rc"
/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["error"] == "ARCA_ERR_INTEGRITY", d
assert d["message"].startswith("audit record 3: "), d' "$json" || fail "audit verify --json failure: $json"
pass "one altered audit record: verify fails naming it ($(sed 's/^kms-client: error: //' <<<"$out"))"
