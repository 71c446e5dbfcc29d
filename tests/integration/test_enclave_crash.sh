#!/usr/bin/env bash
# arca-enclave killed in the middle of key creations: arcad restarts it,
# the store is intact, and every key either exists whole or not at all.
. "$(dirname "$0")/lib.sh"
fresh_appliance

EPID=$(enclave_pid)
# Generate keys in a loop while the enclave is killed underneath.
( for i in $(seq 1 40); do kcp key generate --type rsa --bits 2048 --label "k$i" >/dev/null 2>&1 || true; done ) &
loop=$!
sleep 1.5
kill -KILL "$EPID"
wait $loop || true

# arcad noticed and restarted the enclave
for _ in $(seq 1 100); do
  NEW=$(enclave_pid || true)
  [ -n "$NEW" ] && [ "$NEW" != "$EPID" ] && break
  sleep 0.05
done
[ -n "$NEW" ] && [ "$NEW" != "$EPID" ] || fail "enclave was not restarted"
kill -0 "$ARCAD_PID" || fail "arcad died with its enclave"
grep -q "restarting" "$ARCAD_LOG.cur" || fail "arcad did not log the restart"
pass "arcad restarted the killed enclave (pid $EPID -> $NEW)"

# Every key that is listed is whole: its private key signs and its public key verifies.
head -c 64 /dev/urandom >"$T/msg"
kcp key list --class private >"$T/priv"
kcp key list --class public >"$T/pub"
count=$(wc -l <"$T/priv")
[ "$count" -ge 1 ] || fail "no key survived at all"
# pairs share their label: sign with each private key, verify with the public key of that label
while read -r line; do
  id=${line%% *}; label=${line##* }
  pub=$(awk -v l="$label" '$NF == l {print $1}' "$T/pub")
  [ -n "$pub" ] || fail "private key $id ($label) has no public key"
  kcp sign "$id" --mech rsa-pss-sha256 --in "$T/msg" --out "$T/sig" || fail "key $id listed but not usable"
  kcp verify "$pub" --mech rsa-pss-sha256 --in "$T/msg" --sig "$T/sig" >/dev/null || fail "key $id signature"
done <"$T/priv"
pub=$(kcp key list --class public | wc -l)
[ "$pub" -eq "$count" ] || fail "$count private keys but $pub public keys: a half-created pair"
kcp audit verify | grep -q "audit chain intact" || fail "audit chain broken by the crash"
pass "$count key pairs, each whole; audit chain intact"
