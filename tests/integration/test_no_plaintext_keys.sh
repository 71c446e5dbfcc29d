#!/usr/bin/env bash
# A known AES key imported and used is found neither in the LMDB data file
# nor in arcad's memory; the enclave's readable memory does not hold it
# either, and its secret pages cannot be read through /proc/PID/mem.
. "$(dirname "$0")/lib.sh"
fresh_appliance

KEY=$(head -c 32 /dev/urandom | xxd -p -c 64)
LABEL=label-$(head -c 8 /dev/urandom | xxd -p)
id=$(kcp key import --type aes --value-hex "$KEY" --label "$LABEL" | first_field)
[ -n "$id" ] || fail "import"
head -c 4096 /dev/urandom >"$T/msg"
for i in 1 2 3; do
  kcp encrypt "$id" --mech aes-gcm --in "$T/msg" --out "$T/ct" || fail "encrypt"
  kcp decrypt "$id" --mech aes-gcm --in "$T/ct" --out "$T/pt" || fail "decrypt"
done
cmp -s "$T/msg" "$T/pt" || fail "round trip"
# The key really is that key: OpenSSL decrypts the appliance's CBC output.
kcp encrypt "$id" --mech aes-cbc-pad --in "$T/msg" --out "$T/cbc" || fail "cbc encrypt"
iv=$(head -c 16 "$T/cbc" | xxd -p -c 100)
tail -c +17 "$T/cbc" | openssl enc -d -aes-256-cbc -K "$KEY" -iv "$iv" -out "$T/cbc.pt" || fail "openssl decrypt"
cmp -s "$T/msg" "$T/cbc.pt" || fail "the appliance did not encrypt under the imported key"
pass "imported a known AES key and used it"

# The store holds only sealed blobs.
data=$STATE/store/data.mdb
[ -s "$data" ] || fail "no LMDB data file at $data"
# grep -c reads all of its input: with pipefail, grep -q could stop early,
# the writer would die of SIGPIPE and a hit would read as "not found".
hits=$(xxd -p -c 0 "$data" | tr -d '\n' | grep -c "$KEY" || true)
[ "$hits" = 0 ] || fail "key bytes found in $data"
# positive control: the scan would see a value that is there
head -c 16 "$data" | xxd -p | tr -d '\n' | grep -q . || fail "cannot read $data"
pass "key bytes not in the LMDB data file"

# arcad's memory: every readable mapping.
set +e
out=$("$BIN_MEMSCAN" "$ARCAD_PID" "$KEY"); rc=$?
set -e
echo "$out" | tail -n1
[ $rc -eq 0 ] || fail "arcad memory scan: rc=$rc: $out"
# positive control: the socket path is in arcad's memory, and the scanner finds it
sockhex=$(printf '%s' "$ARCA_SOCKET" | xxd -p | tr -d '\n')
set +e; "$BIN_MEMSCAN" "$ARCAD_PID" "$sockhex" >/dev/null; rc=$?; set -e
[ $rc -eq 1 ] || fail "memscan cannot find a string known to be in arcad (rc=$rc)"
pass "key bytes not in arcad's memory (/proc/PID/mem, all readable mappings)"

EPID=$(enclave_pid)
[ -n "$EPID" ] || fail "no enclave process"
set +e
out=$("$BIN_MEMSCAN" "$EPID" "$KEY"); rc=$?
set -e
[ $rc -eq 0 ] || fail "enclave readable memory holds the key: $out"
pass "key bytes not in the enclave's readable memory"
# Unsealed objects live wholly in secret memory: not even the label is readable.
kcp key list --label "$LABEL" | grep -q "$LABEL" || fail "find by label"
set +e
out=$("$BIN_MEMSCAN" "$EPID" "$(printf '%s' "$LABEL" | xxd -p | tr -d '\n')"); rc=$?
set -e
[ $rc -eq 0 ] || fail "enclave readable memory holds the label: $out"
if xxd -p -c 0 "$data" | tr -d '\n' | grep -q "$(printf '%s' "$LABEL" | xxd -p | tr -d '\n')"; then fail "label in LMDB"; fi
pass "the label is neither in the store nor in the enclave's readable memory"

set +e
out=$("$BIN_MEMSCAN" --secret "$EPID"); rc=$?
set -e
echo "$out" | head -n3
mode=$(kcp status | awk -F': ' '/^secret_memory:/{print $2}')
if [ "$mode" = memfd_secret ]; then
  [ $rc -eq 0 ] || fail "secret pages of the enclave: rc=$rc: $out"
  pass "reading the enclave's memfd_secret pages through /proc/PID/mem fails with EIO"
else
  echo "NOTE: kernel lacks memfd_secret (mode: $mode); checking the mlock fallback"
  "$BIN_MEMSCAN" --locked "$EPID" || fail "fallback: enclave has no locked memory"
  pass "fallback: enclave key memory is locked"
fi
