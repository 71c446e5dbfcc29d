#!/usr/bin/env bash
# Find by label through the PKCS#11 module among many token objects
# (issue 4: "a find by label among 100,000 token objects answers in under
# 5 ms"). Starts a throwaway appliance, creates N AES-256 token keys
# labelled bench-<i> through libarca-client (bench_keys create, CONNECTIONS
# in parallel; prints the creation rate), then times K finds of a random
# label through libarca-pkcs11.so (C_FindObjectsInit + C_FindObjects +
# C_FindObjectsFinal on one logged-in session; bench/pkcs11_find.c loads the
# module with dlopen) and prints p50 / p99 / max / mean.
# Usage: bench/pkcs11_find_100k.sh [N] [K] [CONNECTIONS]   (defaults 100000 1000 2)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
K=${2:-1000}
CONN=${3:-2}
bash deploy/packages.sh build
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-bench -j"$(nproc)" --target arcad arca-enclave kms-client bench_keys arca-pkcs11 >/dev/null
B=$PWD/build-bench
T=$(mktemp -d /tmp/arca-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
cc -std=c11 -O2 -Wall -Werror -o "$T/pkcs11_find" bench/pkcs11_find.c $(pkg-config --cflags p11-kit-1) -ldl
cat >"$T/arcad.conf" <<CONF
state_dir = $T/state
listen_socket = $T/arcad.sock
enclave_image = $B/enclave_kms/arca-enclave
CONF
bash deploy/make-pki.sh "$T/pki" >/dev/null
# The admin identity (every partition): the module shows the partition
# "bench" as the token "bench".
cat >"$T/client.conf" <<CONF
address = unix:$T/arcad.sock
cert = $T/pki/admin.pem
key = $T/pki/admin.key
allow_dev_evidence = yes
CONF
export ARCA_CLIENT_CONF=$T/client.conf ARCA_PKCS11_CONF=$T/client.conf
export ARCA_ADMIN_PIN=bench-admin ARCA_SO_PIN=bench-so ARCA_PIN=bench-user ARCA_PARTITION=bench
"$B/appliance/arcad" -c "$T/arcad.conf" init >>"$T/arcad.log" 2>&1
"$B/appliance/arcad" -c "$T/arcad.conf" >>"$T/arcad.log" 2>&1 & pid=$!
until grep -q "arcad: ready" "$T/arcad.log" 2>/dev/null; do sleep 0.05; done
"$B/client/kms-client" init --client-ca "$T/pki/ca.pem" >/dev/null
"$B/client/kms-client" partition create bench >/dev/null

echo "== creating $N AES-256 token keys over $CONN connections (libarca-client)"
"$B/bench/bench_keys" create "$N" "$CONN"
echo "== $K finds by label through libarca-pkcs11.so"
"$T/pkcs11_find" "$B/pkcs11/libarca-pkcs11.so" bench "$N" "$K"
