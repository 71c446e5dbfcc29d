#!/usr/bin/env bash
# Issue 6's bench: ECDSA P-256 sign throughput in `dev` and `tpm` sealing
# modes from the same run, and the TPM's transient-object and loaded-session
# counts before and after N sign operations in `tpm` mode.
#
#   bench/tpm_modes.sh [--ops N] [--seconds S] [--attests K] [--no-build]
#
# Builds arcad, arca-enclave, kms-client and libarca-pkcs11.so
# (RelWithDebInfo, in build-bench/ or $ARCA_BENCH_BUILD; --no-build uses
# what is there), compiles bench/p11_bench.c, then for each mode starts a
# throwaway appliance (tpm: a swtpm of its own, tests/tools/swtpm-run.sh)
# and runs p11_bench (PKCS#11 C_SignInit + C_Sign, CKM_ECDSA, one thread)
# for S seconds (default 5). In tpm mode it then reads
# `tpm2_getcap handles-transient` and `handles-loaded-session`, signs until
# at least N operations (default 1,000,000) are done (p11_bench runs of
# S seconds each, summed), and reads both counts again; then K fresh
# attestations (`kms-client attest`, default 100: each a TPM2_Quote by a
# freshly created AK, which the TPM backend must flush) and the counts once
# more.
# Prints one line per measurement and the dev/tpm ratio. Key use never
# touches the TPM (the seed is unsealed once at start), so the two
# throughputs should be within noise of each other (issue 6: within 10%),
# and the counts should not move. Exit status 1 when a count moved or a run
# failed; nothing is asserted about time.
set -euo pipefail
cd "$(dirname "$0")/.."
OPS=1000000
SECS=5
ATTESTS=100
NO_BUILD=
while [ $# -gt 0 ]; do
  case $1 in
    --ops) OPS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --attests) ATTESTS=$2; shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "bench/tpm_modes.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in "$OPS" "$SECS"; do
  case $v in ''|*[!0-9]*|0) echo "bench/tpm_modes.sh: --ops and --seconds take a positive whole number" >&2; exit 2 ;; esac
done
for c in swtpm tpm2_getcap python3 cc pkg-config; do
  command -v "$c" >/dev/null || { echo "bench/tpm_modes.sh: $c is missing (deploy/packages.sh test)" >&2; exit 1; }
done
log() { echo "bench: $*" >&2; }

B=${ARCA_BENCH_BUILD:-$PWD/build-bench}
if [ -z "$NO_BUILD" ]; then
  log "building in $B (RelWithDebInfo)"
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$B" -j2 --target arcad arca-enclave kms-client arca-pkcs11 >/dev/null
fi
MOD=$B/pkcs11/libarca-pkcs11.so
for f in "$B/appliance/arcad" "$B/enclave_kms/arca-enclave" "$B/client/kms-client" "$MOD"; do
  [ -f "$f" ] || { echo "bench/tpm_modes.sh: $f is missing" >&2; exit 1; }
done
PRELOAD=$(ldd "$MOD" | awk '/libasan|libubsan/ {printf "%s ", $3}')
SWTPM_RUN=$PWD/tests/tools/swtpm-run.sh

T=$(mktemp -d /tmp/arca-tpm-bench.XXXXXX)
chmod 0711 "$T"
pid=
stop_appliance() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=
}
cleanup() { stop_appliance; "$SWTPM_RUN" stop "$T/swtpm" >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
cc -std=c11 -O2 -g -Wall -Wextra -Werror -o "$T/p11_bench" bench/p11_bench.c $(pkg-config --cflags p11-kit-1) -ldl -lpthread
bash deploy/make-pki.sh "$T/pki" >/dev/null
export ARCA_ADMIN_PIN=bench-admin ARCA_SO_PIN=bench-so ARCA_PIN=bench-user

TCTI=
start_appliance() { # mode (tpm: sets TCTI)
  local d=$T/$1
  mkdir -p "$d"
  {
    echo "state_dir = $d/state"
    echo "listen_socket = $d/arcad.sock"
    echo "listen_port = 0"
    echo "enclave_image = $B/enclave_kms/arca-enclave"
    if [ "$1" = tpm ]; then
      echo "sealing_mode = tpm"
      echo "tpm_tcti = $TCTI"
      echo "tpm_pcr = 15"
    fi
  } >"$d/arcad.conf"
  for who in admin client; do
    printf 'address = unix:%s/arcad.sock\ncert = %s/pki/%s.pem\nkey = %s/pki/%s.key\nallow_dev_evidence = yes\n' \
      "$d" "$T" "$who" "$T" "$who" >"$d/$who.conf"
  done
  export ARCA_CLIENT_CONF=$d/admin.conf
  "$B/appliance/arcad" -c "$d/arcad.conf" init >>"$d/arcad.log" 2>&1
  "$B/appliance/arcad" -c "$d/arcad.conf" >>"$d/arcad.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 400); do
    grep -q "arcad: ready" "$d/arcad.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$d/arcad.log" >&2; exit 1; }
    sleep 0.05
  done
  grep -q "arcad: ready" "$d/arcad.log" || { cat "$d/arcad.log" >&2; exit 1; }
  "$B/client/kms-client" init --client-ca "$T/pki/ca.pem" >/dev/null
  "$B/client/kms-client" partition create bench >/dev/null
  "$B/client/kms-client" client add arca-client --roles user --partitions bench >/dev/null
}

# p11_bench ECDSA, one thread, S seconds: prints its RESULT line.
sign_run() { # mode tag
  timeout $((SECS * 20 + 300)) env LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 \
    ARCA_PKCS11_CONF="$T/$1/client.conf" "$T/p11_bench" "$MOD" --token bench --pin "$ARCA_PIN" \
    --tag "$2" --seconds "$SECS" --threads 1 --workloads ecdsa | grep '^RESULT'
}
# RESULT TAG WORKLOAD THREADS OPS ELAPSED_S OPS_PER_S P50_US P99_US ERRORS
field() { awk -v n="$1" '{print $n}'; }
count_handles() { # tcti kind
  tpm2_getcap -T "$1" "handles-$2" | grep -c '^- ' || true
}

log "dev mode: ECDSA P-256 sign, 1 thread, $SECS s"
start_appliance dev
dev=$(sign_run dev dev)
stop_appliance
log "tpm mode (swtpm): ECDSA P-256 sign, 1 thread, $SECS s"
TCTI=$("$SWTPM_RUN" start "$T/swtpm")
start_appliance tpm
tpm=$(sign_run tpm tpm)
dev_ops=$(field 7 <<<"$dev")
tpm_ops=$(field 7 <<<"$tpm")
show() { # mode RESULT-line
  echo "$1  ecdsa-p256 sign: $(field 7 <<<"$2") ops/s (p50 $(field 8 <<<"$2") us," \
    "p99 $(field 9 <<<"$2") us, errors $(field 10 <<<"$2"))"
}
show dev "$dev"
show tpm "$tpm"
awk -v d="$dev_ops" -v t="$tpm_ops" 'BEGIN {printf "tpm/dev throughput: %.3f (%+.1f%%)\n", t / d, (t / d - 1) * 100}'
for r in "$dev" "$tpm"; do [ "$(field 10 <<<"$r")" = 0 ] || { log "sign errors: $r"; exit 1; }; done

t0=$(count_handles "$TCTI" transient)
s0=$(count_handles "$TCTI" loaded-session)
echo "tpm  before: transient objects $t0, loaded sessions $s0"
done_ops=$(field 5 <<<"$tpm")
status=0
while [ "$done_ops" -lt "$OPS" ]; do
  r=$(sign_run tpm tpm-n) || { log "a sign run failed"; status=1; break; }
  [ "$(field 10 <<<"$r")" = 0 ] || { log "sign errors: $r"; status=1; }
  done_ops=$((done_ops + $(field 5 <<<"$r")))
  log "$done_ops of $OPS sign operations"
done
t1=$(count_handles "$TCTI" transient)
s1=$(count_handles "$TCTI" loaded-session)
echo "tpm  after $done_ops sign operations: transient objects $t1, loaded sessions $s1"
for _ in $(seq "$ATTESTS"); do
  "$B/client/kms-client" attest >/dev/null || { log "kms-client attest failed"; status=1; break; }
done
t2=$(count_handles "$TCTI" transient)
s2=$(count_handles "$TCTI" loaded-session)
echo "tpm  after $ATTESTS fresh attestations (TPM quotes): transient objects $t2, loaded sessions $s2"
if [ "$t0" != "$t1" ] || [ "$s0" != "$s1" ] || [ "$t0" != "$t2" ] || [ "$s0" != "$s2" ]; then
  echo "tpm  TPM handle counts moved" >&2
  status=1
fi
stop_appliance
exit $status
