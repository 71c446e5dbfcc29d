#!/usr/bin/env bash
# Run a command against a throw-away appliance:
#
#   deploy/dev-run.sh [--mode tpm|dev] [--build DIR] -- COMMAND [ARGS...]
#
# In a fresh temporary directory it starts a swtpm (tpm mode only; reached
# through tests/tools/swtpm-mssim-proxy.py on 127.0.0.1, the mssim TCTI)
# and arcad + arca-enclave from the build directory (default
# ./build, or $ARCA_BUILD_DIR), with KMIP over mutual TLS on arcad's unix
# socket and on 127.0.0.1 (a port the kernel picks). Then, as the operator:
#   - makes a test PKI with deploy/make-pki.sh (operator client CA, admin
#     certificate CN arca-admin, client certificate CN arca-client);
#   - initialises the appliance with that CA (`kms-client init --client-ca`;
#     arca-admin becomes the first admin identity);
#   - creates the partition `arca-dev`;
#   - registers the identity arca-client: role user, partition arca-dev.
# COMMAND runs as the application arca-client, with these exported:
#   ARCA_CLIENT_CONF   client configuration: address (the unix socket), the
#                      arca-client certificate and key, allow_dev_evidence
#   ARCA_TOKEN_LABEL   arca-dev (the partition; also ARCA_PARTITION)
#   ARCA_USER_PIN      dev-run-user (the partition's user PIN; also ARCA_PIN,
#                      which kms-client reads)
#   ARCA_SO_PIN        dev-run-so (the partition's security officer PIN)
#   ARCA_SOCKET        arcad's unix socket
#   ARCA_KMIP_HOST, ARCA_KMIP_PORT   arcad's TCP listener (standard KMIP clients)
#   ARCA_PKI_DIR       the PKI: ca.pem, client.pem/.key, admin.pem/.key, ...
#   ARCA_PKCS11_MODULE the PKCS#11 module (BUILD/pkcs11/libarca-pkcs11.so)
#   ARCA_PKCS11_CONF   its configuration (= ARCA_CLIENT_CONF: identity
#                      arca-client), e.g. pkcs11-tool --module "$ARCA_PKCS11_MODULE" -L
#   ARCA_ADMIN_CONF    the operator's configuration (identity arca-admin); the
#                      admin PIN is dev-run-admin and is NOT exported (with
#                      ARCA_ADMIN_PIN set kms-client logs in as admin, which
#                      arca-client may not). For admin commands:
#                      ARCA_CLIENT_CONF=$ARCA_ADMIN_CONF ARCA_ADMIN_PIN=dev-run-admin kms-client ...
# Afterwards everything is stopped and the directory removed. Exits with
# COMMAND's exit status (1 if the appliance could not be brought up, 2 for
# a usage error). The PINs and keys are throw-away demo values.
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
KC=$BUILD/client/kms-client
PARTITION=arca-dev
ADMIN_PIN=dev-run-admin SO_PIN=dev-run-so USER_PIN=dev-run-user

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
  echo "listen_address = 127.0.0.1"
  echo "listen_port = 0"
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
PORT=$(sed -n 's/^.*arcad: ready on .* and [^ ]*:\([0-9][0-9]*\) .*$/\1/p' "$RUN/arcad.log" | tail -n1)
[ -n "$PORT" ] || die "arcad did not report its TCP port"

# The operator's PKI and the two client configurations.
"$ROOT/deploy/make-pki.sh" "$RUN/pki" >>"$RUN/make-pki.log" 2>&1 || { cat "$RUN/make-pki.log" >&2; die "make-pki.sh failed"; }
client_conf() { # file identity
  {
    echo "# kms-client configuration: identity $2 (deploy/dev-run.sh)"
    echo "address = unix:$RUN/arcad.sock"
    echo "cert = $RUN/pki/$2.pem"
    echo "key = $RUN/pki/$2.key"
    echo "allow_dev_evidence = yes"
  } >"$1"
}
client_conf "$RUN/admin.conf" admin
client_conf "$RUN/client.conf" client

# Initialise as the operator (arca-admin), in a subshell: the admin PIN does
# not reach COMMAND.
(
  export ARCA_CLIENT_CONF=$RUN/admin.conf ARCA_ADMIN_PIN=$ADMIN_PIN ARCA_SO_PIN=$SO_PIN ARCA_PIN=$USER_PIN
  "$KC" init --client-ca "$RUN/pki/ca.pem" >/dev/null || die "kms-client init --client-ca failed"
  "$KC" partition create "$PARTITION" >/dev/null || die "kms-client partition create $PARTITION failed"
  "$KC" client add arca-client --roles user --partitions "$PARTITION" >/dev/null ||
    die "kms-client client add arca-client failed"
)
echo "dev-run: appliance up in $MODE mode (${TCTI:-no TPM}); partition $PARTITION; identity arca-client;" \
  "KMIP on unix:$RUN/arcad.sock and 127.0.0.1:$PORT" >&2

export ARCA_CLIENT_CONF=$RUN/client.conf ARCA_ADMIN_CONF=$RUN/admin.conf ARCA_PKI_DIR=$RUN/pki
export ARCA_TOKEN_LABEL=$PARTITION ARCA_PARTITION=$PARTITION
export ARCA_USER_PIN=$USER_PIN ARCA_PIN=$USER_PIN ARCA_SO_PIN=$SO_PIN
export ARCA_SOCKET=$RUN/arcad.sock ARCA_KMIP_HOST=127.0.0.1 ARCA_KMIP_PORT=$PORT
export ARCA_PKCS11_MODULE=$BUILD/pkcs11/libarca-pkcs11.so ARCA_PKCS11_CONF=$RUN/client.conf
unset ARCA_ADMIN_PIN
rc=0
"$@" || rc=$?
exit $rc
