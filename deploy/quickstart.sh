#!/usr/bin/env bash
# Quick start: install what Arca needs, build it, bring up a development
# appliance (dev mode: software root of trust, INSECURE, local LMDB), make an
# operator PKI (a client CA with an admin and a client certificate),
# initialise the appliance with that CA, and as the client create a key,
# sign a file and verify the signature. Every client connection is KMIP over
# mutual TLS 1.3, terminated inside the enclave. Each step is printed; the
# last line is the verified signature.
#
# The appliance keeps running afterwards (state in ./run/quickstart); the
# lines before the last step say how to use and stop it. Run again to start
# from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash deploy/packages.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null  # the build type the test suite checks
cmake --build build -j"$(nproc)" >/dev/null
KC=$ROOT/build/client/kms-client

RUN=$ROOT/run/quickstart
if [ -f "$RUN/state/arcad.pid" ]; then kill "$(cat "$RUN/state/arcad.pid")" 2>/dev/null || true; sleep 1; fi
rm -rf "$RUN"; mkdir -p "$RUN"
cat >"$RUN/arcad.conf" <<CONF
# Paths, ports and sizes only: security settings live sealed in the appliance.
state_dir = $RUN/state
listen_socket = $RUN/arcad.sock
# KMIP over mutual TLS on TCP too (standard KMIP clients); 0 = a free port.
listen_address = 127.0.0.1
listen_port = 0
enclave_image = $ROOT/build/enclave_kms/arca-enclave
cache_size_mb = 64
CONF
step() { echo; echo "== $*"; }
start() { # each start logs to its own file; wait for its ready line
  starts=$((${starts:-0} + 1))
  "$ROOT/build/appliance/arcad" -c "$RUN/arcad.conf" >"$RUN/arcad.$starts.log" 2>&1 &
  for _ in $(seq 1 100); do grep -q "arcad: ready" "$RUN/arcad.$starts.log" && break; sleep 0.1; done
  grep "^arcad: ready" "$RUN/arcad.$starts.log" || { cat "$RUN/arcad.$starts.log"; exit 1; }
}
# Demo PINs: a real deployment takes them from the operators, never from argv.
ADMIN_PIN=quickstart-admin
export ARCA_SO_PIN=quickstart-so ARCA_PIN=quickstart-user
# The operator (identity arca-admin; admin PIN only for these commands) and
# the application (identity arca-client, user of partition demo).
admin() { echo "\$ kms-client --config admin.conf $*" >&2; ARCA_ADMIN_PIN=$ADMIN_PIN "$KC" --config "$RUN/admin.conf" "$@"; }
app() { echo "\$ kms-client --config client.conf -p demo $*" >&2; "$KC" --config "$RUN/client.conf" -p demo "$@"; }

step "start a new appliance (dev mode: creates the dev platform seed; INSECURE)"
"$ROOT/build/appliance/arcad" -c "$RUN/arcad.conf" init 2>"$RUN/arcad.init.log" || { cat "$RUN/arcad.init.log"; exit 1; }
start

step "make the operator PKI: a client CA, an admin and a client certificate (deploy/make-pki.sh)"
bash deploy/make-pki.sh "$RUN/pki" >"$RUN/make-pki.log" || { cat "$RUN/make-pki.log"; exit 1; }
grep -E "made .*\.pem$" "$RUN/make-pki.log"
for id in admin client; do
  cat >"$RUN/$id.conf" <<CONF
# kms-client configuration: identity arca-$id (KMIP over mutual TLS 1.3)
address = unix:$RUN/arcad.sock
cert = pki/$id.pem
key = pki/$id.key
# the quick start's appliance runs the dev root of trust: accept its evidence
allow_dev_evidence = yes
CONF
done
echo "client configurations: $RUN/admin.conf (arca-admin), $RUN/client.conf (arca-client)"

step "initialise the appliance with the client CA; arca-admin becomes the first admin"
admin init --client-ca "$RUN/pki/ca.pem"
admin partition create demo
admin client add arca-client --roles user --partitions demo
admin client list

step "as arca-client: generate a signing key inside the enclave (sealed before the answer)"
app key generate --type ec --curve P-256 --label signing-key | tee "$RUN/ec.ids"
ec=$(awk '/ private /{print $1}' "$RUN/ec.ids"); ec_pub=$(awk '/ public /{print $1}' "$RUN/ec.ids")
[ -n "$ec" ] && [ -n "$ec_pub" ] || { echo "quickstart: no key pair ids in: $(cat "$RUN/ec.ids")"; exit 1; }

step "sign a file"
echo "hello from arca" >"$RUN/msg.txt"
app sign "$ec" --mech ecdsa-sha256 --in "$RUN/msg.txt" --out "$RUN/msg.sig"
echo "signature: $(wc -c <"$RUN/msg.sig") bytes in $RUN/msg.sig"

step "restart arcad and the enclave: the key is unsealed on demand from the store"
kill -TERM "$(cat "$RUN/state/arcad.pid")"; while [ -e "$RUN/arcad.sock" ]; do sleep 0.1; done
start
app key list
port=$(sed -n 's/^.*arcad: ready on .* and [^ ]*:\([0-9][0-9]*\) .*$/\1/p' "$RUN/arcad.$starts.log" | tail -n1)

cat <<MSG

The appliance keeps running (dev mode, INSECURE root of trust); KMIP over
mutual TLS on unix:$RUN/arcad.sock and 127.0.0.1:${port:-?}. Try:
  export ARCA_CLIENT_CONF=$RUN/client.conf ARCA_PIN=$ARCA_PIN
  $KC -p demo key list
Stop it with: kill \$(cat $RUN/state/arcad.pid)
MSG

step "verify the signature (the public key, inside the enclave)"
app verify "$ec_pub" --mech ecdsa-sha256 --in "$RUN/msg.txt" --sig "$RUN/msg.sig"
