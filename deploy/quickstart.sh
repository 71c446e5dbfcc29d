#!/usr/bin/env bash
# Quick start: install what Arca needs, build it, bring up a development
# appliance (dev mode: software root of trust, INSECURE, local LMDB) and
# show it doing real work: keys generated and sealed inside the enclave,
# both processes restarted, the same keys unsealed from the store and used.
#
# The appliance keeps running afterwards (state in ./run/quickstart); the
# last lines say how to use and stop it. Run again to start from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash deploy/packages.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null  # the build type the test suite checks
cmake --build build -j"$(nproc)" >/dev/null

RUN=$ROOT/run/quickstart
if [ -f "$RUN/state/arcad.pid" ]; then kill "$(cat "$RUN/state/arcad.pid")" 2>/dev/null || true; sleep 1; fi
rm -rf "$RUN"; mkdir -p "$RUN"
cat >"$RUN/arcad.conf" <<CONF
# Paths, ports and sizes only: security settings live sealed in the appliance.
state_dir = $RUN/state
listen_socket = $RUN/arcad.sock
enclave_image = $ROOT/build/enclave_kms/arca-enclave
cache_size_mb = 64
CONF
export ARCA_SOCKET=$RUN/arcad.sock
kc() { echo "\$ kms-client $*" >&2; "$ROOT/build/client/kms-client" "$@"; }
start() { # each start logs to its own file; wait for its ready line
  starts=$((${starts:-0} + 1))
  "$ROOT/build/appliance/arcad" -c "$RUN/arcad.conf" >"$RUN/arcad.$starts.log" 2>&1 &
  for _ in $(seq 1 100); do grep -q "arcad: ready" "$RUN/arcad.$starts.log" && break; sleep 0.1; done
  grep "arcad: ready" "$RUN/arcad.$starts.log" || { cat "$RUN/arcad.$starts.log"; exit 1; }
}

echo "== initialise a new appliance (creates the dev platform seed)"
"$ROOT/build/appliance/arcad" -c "$RUN/arcad.conf" init 2>"$RUN/arcad.init.log" || { cat "$RUN/arcad.init.log"; exit 1; }
start
# Demo PINs: a real deployment takes them from the operators, never from argv.
export ARCA_ADMIN_PIN=quickstart-admin ARCA_SO_PIN=quickstart-so ARCA_PIN=quickstart-user
kc init
kc partition create demo
echo "== generate keys inside the enclave (sealed to LMDB before the answer)"
kc -p demo key generate --type ec --curve P-256 --label signing-key | tee "$RUN/ec.ids"
ec=$(awk '/ private /{print $1}' "$RUN/ec.ids"); ec_pub=$(awk '/ public /{print $1}' "$RUN/ec.ids")
aes=$(kc -p demo key generate --type aes --bits 256 --label data-key | tee /dev/stderr | awk '{print $1}')
echo "hello from arca" >"$RUN/msg.txt"
kc -p demo sign "$ec" --mech ecdsa-sha256 --in "$RUN/msg.txt" --out "$RUN/msg.sig"
kc -p demo encrypt "$aes" --mech aes-gcm --in "$RUN/msg.txt" --out "$RUN/msg.enc"

echo "== restart arcad and the enclave"
kill -TERM "$(cat "$RUN/state/arcad.pid")"; while [ -e "$RUN/arcad.sock" ]; do sleep 0.1; done
start
echo "== the same keys, unsealed on demand from the store"
kc -p demo key list
kc -p demo verify "$ec_pub" --mech ecdsa-sha256 --in "$RUN/msg.txt" --sig "$RUN/msg.sig"
kc -p demo decrypt "$aes" --mech aes-gcm --in "$RUN/msg.enc" --out "$RUN/msg.dec"
echo "decrypted after restart: $(cat "$RUN/msg.dec")"
kc -p demo audit verify
kc -p demo status
cat <<MSG

The appliance is running (dev mode, INSECURE root of trust). Try:
  export ARCA_SOCKET=$RUN/arcad.sock ARCA_PIN=quickstart-user
  $ROOT/build/client/kms-client -p demo key list
Stop it with: kill \$(cat $RUN/state/arcad.pid)
MSG
