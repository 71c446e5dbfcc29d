#!/usr/bin/env bash
# Run a command against a throw-away appliance:
#
#   deploy/dev-run.sh [--mode tpm|dev] [--build DIR] -- COMMAND [ARGS...]
#
# Starts, in a fresh temporary directory, a swtpm (tpm mode only, on a unix
# socket) and arcad + arca-enclave from the build directory (default
# ./build, or $ARCA_BUILD_DIR), initialises the appliance (admin PIN, one
# partition `p1`), runs COMMAND with ARCA_SOCKET, ARCA_ADMIN_PIN, ARCA_SO_PIN,
# ARCA_PIN and ARCA_PARTITION=p1 exported, then stops everything and removes
# the directory. Exits with COMMAND's exit status (1 if the appliance could
# not be brought up, 2 for a usage error). The PINs are throw-away demo PINs.
#
# Needs swtpm and tpm2-tools for tpm mode (deploy/packages.sh test).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=tpm
BUILD=${ARCA_BUILD_DIR:-$ROOT/build}
usage() { echo "usage: $0 [--mode tpm|dev] [--build DIR] -- COMMAND [ARGS...]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --mode) [ $# -ge 2 ] || usage; MODE=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; BUILD=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ $# -gt 0 ] || usage
case $MODE in tpm | dev) ;; *) echo "$0: --mode must be tpm or dev, not '$MODE'" >&2; exit 2 ;; esac
BUILD=$(cd "$BUILD" && pwd) || { echo "$0: no build directory $BUILD" >&2; exit 1; }
for b in appliance/arcad enclave_kms/arca-enclave client/kms-client; do
  [ -x "$BUILD/$b" ] || { echo "$0: $BUILD/$b is missing: build first (cmake --build $BUILD)" >&2; exit 1; }
done

RUN=$(mktemp -d /tmp/arca-dev-run.XXXXXX)
chmod 0711 "$RUN"
ARCAD_PID=
teardown() {
  local rc=$?
  if [ -n "$ARCAD_PID" ] && kill -0 "$ARCAD_PID" 2>/dev/null; then
    kill -TERM "$ARCAD_PID" 2>/dev/null || true
    wait "$ARCAD_PID" 2>/dev/null || true
  fi
  [ "$MODE" != tpm ] || "$ROOT/tests/tools/swtpm-run.sh" stop "$RUN/tpm" >/dev/null 2>&1 || true
  rm -rf "$RUN"
  exit $rc
}
trap teardown EXIT
trap 'exit 130' INT TERM
die() { echo "dev-run: $*" >&2; [ ! -f "$RUN/arcad.log" ] || tail -n 30 "$RUN/arcad.log" >&2; exit 1; }

{
  echo "state_dir = $RUN/state"
  echo "listen_socket = $RUN/arcad.sock"
  echo "enclave_image = $BUILD/enclave_kms/arca-enclave"
  echo "sealing_mode = $MODE"
} >"$RUN/arcad.conf"
if [ "$MODE" = tpm ]; then
  TCTI=$("$ROOT/tests/tools/swtpm-run.sh" start "$RUN/tpm") || die "cannot start swtpm"
  echo "tpm_tcti = $TCTI" >>"$RUN/arcad.conf"
fi

"$BUILD/appliance/arcad" -c "$RUN/arcad.conf" init >>"$RUN/arcad.log" 2>&1 || die "arcad init failed"
"$BUILD/appliance/arcad" -c "$RUN/arcad.conf" >>"$RUN/arcad.log" 2>&1 &
ARCAD_PID=$!
for _ in $(seq 1 200); do
  grep -q "arcad: ready" "$RUN/arcad.log" && break
  kill -0 "$ARCAD_PID" 2>/dev/null || die "arcad exited during start"
  sleep 0.05
done
grep -q "arcad: ready" "$RUN/arcad.log" || die "arcad did not become ready"

export ARCA_SOCKET=$RUN/arcad.sock
export ARCA_ADMIN_PIN=dev-run-admin ARCA_SO_PIN=dev-run-so ARCA_PIN=dev-run-user ARCA_PARTITION=p1
"$BUILD/client/kms-client" init >/dev/null || die "kms-client init failed"
"$BUILD/client/kms-client" partition create p1 >/dev/null || die "kms-client partition create failed"
echo "dev-run: appliance up in $MODE mode (${TCTI:-no TPM}); ARCA_SOCKET=$ARCA_SOCKET" >&2

rc=0
"$@" || rc=$?
exit $rc
