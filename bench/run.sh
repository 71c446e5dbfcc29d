#!/usr/bin/env bash
# Issue 7's one command: PKCS#11 throughput and latency of Arca against
# SoftHSM2 and raw OpenSSL, in one run on this machine.
#
#   bench/run.sh [--seconds N] [--json] [--keep-raw FILE] [--smoke] [--no-build]
#
# Builds arcad, arca-enclave, kms-client and libarca-pkcs11.so
# (RelWithDebInfo, in build-bench/ or $ARCA_BENCH_BUILD), compiles
# bench/p11_bench.c and bench/fsync_rate.c with cc, starts a throwaway
# appliance (operator PKI, init, partition "bench", application identity
# arca-client), sets up a SoftHSM2 token in a temporary directory, then
# runs, N seconds per cell (default 3):
#   - p11_bench against libarca-pkcs11.so and libsofthsm2.so, 1 and 2
#     threads (each its own session): ECDSA P-256, RSA-2048 PKCS#1,
#     Ed25519, AES-256-GCM 4 KiB, HMAC-SHA-256 64 B, EC P-256 generation
#     (token objects);
#   - two processes, one thread each, on the same Arca token at once (ECDSA);
#   - openssl speed (-multi 1 and 2) for ecdsap256, rsa2048, ed25519 and
#     -evp aes-256-gcm -bytes 4096;
#   - fsync_rate: synced 4 KiB writes per second on the file system of the
#     appliance's state directory (every lifecycle change, e.g. a key
#     generation, is one synced LMDB commit; key-use audit records are
#     stored in batches, docs/performance.md);
# and prints one table (bench/report.py) with the ratios of issue 7, or
# JSON with --json. It asserts nothing about time; the exit status is not
# 0 only when something failed to run.
# Needs: deploy/packages.sh build, plus softhsm2, python3 and openssl.
# --smoke: a few seconds in all, for the test suite (tests/integration/
# test_bench_smoke.sh): ECDSA P-256 with one thread only, 1 s per cell, no
# two-process run, openssl speed for ecdsap256 on one core only.
# --no-build: use the binaries already in $ARCA_BENCH_BUILD as they are
# (no cmake, no package check); the test suite passes its own build.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_CELL=3
JSON=
KEEP_RAW=
SMOKE=
NO_BUILD=
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER_CELL=$2; shift 2 ;;
    --json) JSON=--json; shift ;;
    --keep-raw) KEEP_RAW=$2; shift 2 ;;
    --smoke) SMOKE=1; SECONDS_PER_CELL=1; shift ;;
    --no-build) NO_BUILD=1; shift ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $SECONDS_PER_CELL in ''|*[!0-9]*) echo "bench/run.sh: --seconds takes a whole number" >&2; exit 2 ;; esac
[ "$SECONDS_PER_CELL" -ge 1 ] || { echo "bench/run.sh: --seconds must be at least 1" >&2; exit 2; }
log() { echo "bench: $*" >&2; }

[ -n "$NO_BUILD" ] || bash deploy/packages.sh build >&2
SOFTHSM_MOD=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$m" ] && { SOFTHSM_MOD=$m; break; }
done
for c in softhsm2-util python3 openssl cc pkg-config; do
  command -v "$c" >/dev/null || { echo "bench/run.sh: $c is missing (deploy/packages.sh test installs it)" >&2; exit 1; }
done
[ -n "$SOFTHSM_MOD" ] || { echo "bench/run.sh: libsofthsm2.so not found (apt-get install softhsm2)" >&2; exit 1; }

B=${ARCA_BENCH_BUILD:-$PWD/build-bench}
if [ -n "$NO_BUILD" ]; then
  log "using the binaries in $B as they are"
else
  log "building in $B (RelWithDebInfo)"
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$B" -j"$(nproc)" --target arcad arca-enclave kms-client arca-pkcs11 >/dev/null
fi
MOD=$B/pkcs11/libarca-pkcs11.so
for f in "$B/appliance/arcad" "$B/enclave_kms/arca-enclave" "$B/client/kms-client" "$MOD"; do
  [ -f "$f" ] || { echo "bench/run.sh: $f is missing" >&2; exit 1; }
done
# What to run: everything, or (--smoke) one cell of each kind.
if [ -n "$SMOKE" ]; then
  P11_SET=(--threads 1 --workloads ecdsa)
  OSSL_CORES="1"
  OSSL_ALGS=(ecdsap256)
  FSYNC_S=1
else
  P11_SET=(--threads 1,2)
  OSSL_CORES="1 2"
  OSSL_ALGS=(ecdsap256 rsa2048 ed25519)
  FSYNC_S=2
fi
# A sanitizer build of the module (the test suite's ASan build) needs its
# runtime preloaded into p11_bench.
PRELOAD=$(ldd "$MOD" | awk '/libasan|libubsan/ {printf "%s ", $3}')

T=$(mktemp -d /tmp/arca-bench.XXXXXX)
chmod 0711 "$T"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
RAW=$T/raw.txt
: >"$RAW"

CFLAGS="-std=c11 -O2 -g -Wall -Wextra -Wshadow -Wformat=2 -Werror"
# shellcheck disable=SC2046,SC2086
cc $CFLAGS -o "$T/p11_bench" bench/p11_bench.c $(pkg-config --cflags p11-kit-1) -ldl -lpthread
# shellcheck disable=SC2086
cc $CFLAGS -o "$T/fsync_rate" bench/fsync_rate.c

{
  echo "MACHINE cores $(nproc)"
  echo "MACHINE cpu $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "MACHINE openssl $(openssl version | cut -d' ' -f1-2)"
  echo "MACHINE softhsm2 $(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || echo unknown)"
  echo "MACHINE fs $(df -T "$T" | awk 'NR==2 {print $2 " on " $1}')"
  echo "LOAD start $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$RAW"

# ---- the throwaway appliance (as bench/store_100k.sh) ----
log "starting a throwaway appliance in $T"
cat >"$T/arcad.conf" <<CONF
state_dir = $T/state
listen_socket = $T/arcad.sock
enclave_image = $B/enclave_kms/arca-enclave
CONF
bash deploy/make-pki.sh "$T/pki" >/dev/null
for who in admin client; do
  cat >"$T/$who.conf" <<CONF
address = unix:$T/arcad.sock
cert = pki/$who.pem
key = pki/$who.key
allow_dev_evidence = yes
CONF
done
export ARCA_CLIENT_CONF=$T/admin.conf ARCA_ADMIN_PIN=bench-admin ARCA_SO_PIN=bench-so ARCA_PIN=bench-user
"$B/appliance/arcad" -c "$T/arcad.conf" init >>"$T/arcad.log" 2>&1
"$B/appliance/arcad" -c "$T/arcad.conf" >>"$T/arcad.log" 2>&1 &
pid=$!
for _ in $(seq 1 400); do
  grep -q "arcad: ready" "$T/arcad.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$T/arcad.log" >&2; exit 1; }
  sleep 0.05
done
grep -q "arcad: ready" "$T/arcad.log" || { cat "$T/arcad.log" >&2; echo "bench/run.sh: arcad not ready" >&2; exit 1; }
"$B/client/kms-client" init --client-ca "$T/pki/ca.pem" >/dev/null
"$B/client/kms-client" partition create bench >/dev/null
"$B/client/kms-client" client add arca-client --roles user --partitions bench >/dev/null
enclave=$(pgrep -P "$pid" -f arca-enclave | head -n1)

# Around every timed cell: the CPU time (utime + stime, clock ticks) of the
# enclave and of arcad, so the report can say where the time goes.
cat >"$T/hook.sh" <<HOOK
#!/bin/sh
ticks() { awk '{print \$14 + \$15}' /proc/\$1/stat 2>/dev/null || echo 0; }
echo "CPU \$1 \$2 \$3 \$4 \$(ticks $enclave) \$(ticks $pid) \$(cut -d' ' -f1 /proc/uptime) \$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
HOOK
chmod +x "$T/hook.sh"
echo "CLK_TCK $(getconf CLK_TCK)" >>"$RAW"

log "fsync rate of $(df -T "$T" | awk 'NR==2 {print $1}')"
"$T/fsync_rate" "$T" "$FSYNC_S" >>"$RAW"

CELL_LIMIT=$((SECONDS_PER_CELL * 20 + 300))
p11b() {
  timeout "$CELL_LIMIT" env LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 ARCA_PKCS11_CONF="$T/client.conf" \
    "$T/p11_bench" "$@"
}
log "Arca (libarca-pkcs11.so): ${P11_SET[*]} x ${SECONDS_PER_CELL} s"
p11b "$MOD" --token bench --pin "$ARCA_PIN" \
  --tag arca --seconds "$SECONDS_PER_CELL" "${P11_SET[@]}" --hook "$T/hook.sh" >>"$RAW" || log "arca: some cells failed (see above)"

if [ -z "$SMOKE" ]; then
  log "Arca: two processes, one thread each, at once (ECDSA P-256)"
  start_at=$(awk -v t="$(date +%s.%N)" 'BEGIN {printf "%.3f", t + 3}')
  procs=()
  for i in 1 2; do
    p11b "$MOD" --token bench --pin "$ARCA_PIN" \
      --tag "arca-proc$i" --seconds "$SECONDS_PER_CELL" --threads 1 --workloads ecdsa --start-at "$start_at" >"$T/proc$i.out" &
    procs+=($!)
  done
  for p in "${procs[@]}"; do wait "$p" || log "a two-process run failed"; done
  cat "$T/proc1.out" "$T/proc2.out" >>"$RAW"
fi
echo "ARCA_STORE $(du -sk "$T/state" | cut -f1)" >>"$RAW"

log "SoftHSM2 ($SOFTHSM_MOD): ${P11_SET[*]} x ${SECONDS_PER_CELL} s"
mkdir -p "$T/softhsm/tokens"
printf 'directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >"$T/softhsm/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm/softhsm2.conf
softhsm2-util --init-token --free --label bench --pin bench-user --so-pin bench-so-pin >/dev/null
p11b "$SOFTHSM_MOD" --token bench --pin bench-user --tag softhsm2 \
  --seconds "$SECONDS_PER_CELL" "${P11_SET[@]}" >>"$RAW" || log "softhsm2: some cells failed (see above)"

log "raw OpenSSL (openssl speed, ${SECONDS_PER_CELL} s per algorithm and operation)"
for n in $OSSL_CORES; do
  openssl speed -mr -seconds "$SECONDS_PER_CELL" -multi "$n" "${OSSL_ALGS[@]}" 2>/dev/null |
    sed -n "s/^+F\([246]\):/OSSL $n F\1:/p" >>"$RAW"
  [ -n "$SMOKE" ] || openssl speed -mr -seconds "$SECONDS_PER_CELL" -multi "$n" -evp aes-256-gcm -bytes 4096 2>/dev/null |
    sed -n "s/^+F:/OSSL $n F:/p" >>"$RAW"
done
echo "LOAD end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW"

[ -z "$KEEP_RAW" ] || cp "$RAW" "$KEEP_RAW"
python3 bench/report.py $JSON "$RAW"
