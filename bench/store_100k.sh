#!/usr/bin/env bash
# A store of many keys: creates N AES keys (default 100,000) in one store
# through the client path and prints
#   - keys created per second,
#   - arca-enclave resident memory (target: under 96 MiB),
#   - find-by-label and cold-key encrypt latency,
#   - the time from starting arcad to the first successful operation on that
#     store (target: under 2 s).
# Usage: bench/store_100k.sh [N] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
CONN=${2:-2}
bash deploy/packages.sh build
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null  # the build type the test suite checks
cmake --build build-bench -j"$(nproc)" --target arcad arca-enclave kms-client bench_keys >/dev/null
B=$PWD/build-bench
T=$(mktemp -d /tmp/arca-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
cat >"$T/arcad.conf" <<CONF
state_dir = $T/state
listen_socket = $T/arcad.sock
enclave_image = $B/enclave_kms/arca-enclave
CONF
# Mutual TLS: an operator PKI (deploy/make-pki.sh) and a client
# configuration for its admin identity (docs/client.md).
bash deploy/make-pki.sh "$T/pki" >/dev/null
cat >"$T/client.conf" <<CONF
address = unix:$T/arcad.sock
cert = pki/admin.pem
key = pki/admin.key
allow_dev_evidence = yes
CONF
export ARCA_CLIENT_CONF=$T/client.conf ARCA_ADMIN_PIN=bench-admin ARCA_SO_PIN=bench-so ARCA_PIN=bench-user
start() { "$B/appliance/arcad" -c "$T/arcad.conf" >>"$T/arcad.log" 2>&1 & pid=$!; }
ready() { until grep -q "arcad: ready" "$T/arcad.log" 2>/dev/null; do sleep 0.05; done; }
enclave_rss() { local e; e=$(pgrep -P "$pid" -f arca-enclave | head -n1); awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{printf "%.1f MiB (peak %.1f MiB)", r/1024, h/1024}' /proc/$e/status; }

"$B/appliance/arcad" -c "$T/arcad.conf" init >>"$T/arcad.log" 2>&1
start; ready
"$B/client/kms-client" init --client-ca "$T/pki/ca.pem" >/dev/null
"$B/client/kms-client" partition create bench >/dev/null

echo "== creating $N AES-256 keys over $CONN connections"
"$B/bench/bench_keys" create "$N" "$CONN"
echo "arca-enclave resident memory after creating $N keys: $(enclave_rss)"
echo "store size on disk: $(du -sh "$T/state/store" | cut -f1)"

kill -TERM "$pid"; wait "$pid" || true; pid=
: >"$T/arcad.log"
echo "== restart: arcad started, then the first operation on the store"
t0=$(date +%s.%N)
start
"$B/bench/bench_keys" first-op 10 >/dev/null
t1=$(date +%s.%N)
printf 'start of arcad to first successful operation: %.3f s (target < 2 s)\n' "$(echo "$t1 - $t0" | bc -l)"
"$B/bench/bench_keys" use "$N" 2000
echo "arca-enclave resident memory after 2000 cold-key operations: $(enclave_rss) (target < 96 MiB)"
