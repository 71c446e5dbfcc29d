#!/usr/bin/env bash
# Hostile clients on the KMIP wire (docs/protocol.md "Transport") while a
# well-behaved client keeps signing: the hostile ones get exactly what the
# protocol promises, the good one never notices, and the enclave neither
# restarts nor grows.
#
# The hostile cases (tests/integration/wire_hostile.py, one TLS 1.3
# connection each, the arca-client certificate, the server's self-signed
# RA-TLS certificate deliberately NOT verified — attestation is
# libarca-client's business and has its own tests):
#   truncated messages then close          -> closed without an answer
#   a header whose length lies, then silence -> closed without an answer
#                                             after the 30 s message time-out
#                                             (waited for: it runs in parallel
#                                             with the other cases, ~35 s total)
#   wrong TTLV types in a well-framed Request Message, 1,000 nested
#   Structures                             -> Operation Failed / Invalid
#                                             Message, connection stays open
#   length fields of 4 GiB (and 8 bytes over the cap), 10 MiB of random
#   bytes                                  -> Operation Failed / Invalid
#                                             Message, then closed
# and a slow-loris: 50 TCP connections that never handshake. The per-IP
# cap is set to 128 here (default 64), so all 50 are handed over to the
# enclave (asserted) and kcu must keep working beside them; the enclave's
# 10 s handshake time-out then closes them (asserted).
#
# Meanwhile kcu (kms-client as arca-client, over TCP from the same address)
# signs in a loop: every operation must succeed. At the end: the enclave's
# pid is unchanged, its VmRSS grew by less than 64 MiB over the baseline
# (the largest legitimate per-connection footprint is a 1 114 112-byte
# request plus a response of at most as much, ~2.2 MiB, and only a few
# messages are in flight at once; allocating what a hostile length field
# claims — 4 GiB — or buffering the 10 MiB would exceed the bound), and
# arcad's log shows no enclave exit, restart or sanitizer report.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HELPER=$(dirname "$0")/wire_hostile.py

fresh_appliance "listen_address = 127.0.0.1" "max_connections = 256" "max_connections_per_client = 128" \
  "log_level = debug"
[ -n "$ARCA_TCP_PORT" ] || fail "no TCP port"
EPID=$(enclave_pid)
[ -n "$EPID" ] || fail "no enclave process"

# kcu over TCP (same address as the hostile clients: the per-IP cap applies to both).
cat >"$T/client-tcp.conf" <<EOF
address = 127.0.0.1:$ARCA_TCP_PORT
cert = $PKI/client.pem
key = $PKI/client.key
allow_dev_evidence = yes
EOF
kcut() { "$BIN_CLIENT" --config "$T/client-tcp.conf" -p p1 "$@"; }
kcut key generate --type ec --curve P-256 --label hostile-signer >"$T/keys" || fail "kcu key generate"
PUB=$(sed -n 1p "$T/keys" | first_field); KEY=$(sed -n 2p "$T/keys" | first_field)
[ ${#KEY} -eq 32 ] || fail "no private key id: '$KEY'"
head -c 1000 /dev/urandom >"$T/data"
kcut sign "$KEY" --mech ecdsa-sha256 --in "$T/data" --out "$T/warm.sig" || fail "warm-up sign"
pass "kcu signs over TCP (key $KEY)"

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$EPID/status"; }
BASE_RSS=$(rss_kib)

# The well-behaved client: sign, check, repeat until told to stop.
: >"$T/loop.fail"
echo 0 >"$T/loop.count"
echo "$BASE_RSS" >"$T/rss.max"
(
  n=0
  while [ ! -e "$T/loop.stop" ]; do
    if kcut sign "$KEY" --mech ecdsa-sha256 --in "$T/data" --out "$T/loop.sig" 2>>"$T/loop.fail.log" &&
       [ -s "$T/loop.sig" ]; then
      n=$((n + 1)); echo "$n" >"$T/loop.count"
    else
      echo "sign #$((n + 1)) failed" >>"$T/loop.fail"
    fi
    r=$(awk '/^VmRSS:/{print $2}' "/proc/$EPID/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$(cat "$T/rss.max")" ] && echo "$r" >"$T/rss.max"
  done
) &
LOOP_PID=$!
stop_loop() { touch "$T/loop.stop"; wait "$LOOP_PID" || true; }
# On failure, what the enclave said (arcad's current log, without the debug lines).
show_log() { echo "---- arcad log (current run, no DEBUG) ----"; grep -v " DEBUG: " "$ARCAD_LOG.cur" | tail -n 40; }

"$PY" "$HELPER" hostile "$ARCA_TCP_PORT" "$PKI/client.pem" "$PKI/client.key" || { stop_loop; show_log; fail "hostile cases"; }
"$PY" "$HELPER" loris "$ARCA_TCP_PORT" "$ARCAD_LOG.cur" 50 -- "$BIN_CLIENT" --config "$T/client-tcp.conf" \
  -p p1 sign "$KEY" --mech ecdsa-sha256 --in "$T/data" --out "$T/loris.sig" || { stop_loop; show_log; fail "slow-loris"; }
stop_loop

COUNT=$(cat "$T/loop.count")
[ ! -s "$T/loop.fail" ] || fail "background kcu failures: $(cat "$T/loop.fail"); $(tail -n 3 "$T/loop.fail.log")"
[ "$COUNT" -ge 10 ] || fail "only $COUNT background signatures"
[ "$(kcut verify "$PUB" --mech ecdsa-sha256 --in "$T/data" --sig "$T/loop.sig")" = "signature valid" ] ||
  fail "the last background signature does not verify"
pass "background kcu: $COUNT signatures, every one succeeded"

[ "$(enclave_pid)" = "$EPID" ] || fail "enclave pid changed: $EPID -> $(enclave_pid)"
pass "enclave pid $EPID unchanged (no restart)"

MAX_RSS=$(cat "$T/rss.max"); END_RSS=$(rss_kib)
[ "$END_RSS" -gt "$MAX_RSS" ] && MAX_RSS=$END_RSS
GROWTH=$((MAX_RSS - BASE_RSS))
[ "$GROWTH" -lt $((64 * 1024)) ] || fail "enclave VmRSS grew by $GROWTH KiB (baseline $BASE_RSS KiB, peak $MAX_RSS KiB)"
pass "enclave VmRSS baseline $BASE_RSS KiB, peak $MAX_RSS KiB, end $END_RSS KiB (growth $GROWTH KiB < 64 MiB)"

if grep -E "enclave exited|restarting|enclave restarted|AddressSanitizer|LeakSanitizer|runtime error:" "$ARCAD_LOG.cur"; then
  fail "arcad log shows an enclave crash or a sanitizer report"
fi
# The enclave said why it closed the hostile connections.
grep -q "not a KMIP Request Message (tag 0x420078, type Structure): closing" "$ARCAD_LOG.cur" ||
  fail "no log line for the random bytes"
grep -q "message longer than the server's limit of 1114112 bytes: closing" "$ARCAD_LOG.cur" ||
  fail "no log line for the 4 GiB length"
grep -q "TLS handshake timed out" "$ARCAD_LOG.cur" || fail "no log line for the handshake time-outs"
pass "arcad log: no enclave crash; the refusals and time-outs are logged"
arcad_stop
pass "arcad stops cleanly"
