# Shared helpers for the integration tests: each test runs a real arcad and
# arca-enclave (two processes) in its own temporary state directory and
# talks to them only through kms-client, the path clients use: mutual TLS
# 1.3 terminated in the enclave, over arcad's unix socket (or TCP).
set -euo pipefail

: "${ARCA_BUILD_DIR:?ARCA_BUILD_DIR must point at the build directory}"
BIN_ARCAD=$ARCA_BUILD_DIR/appliance/arcad
BIN_ENCLAVE=$ARCA_BUILD_DIR/enclave_kms/arca-enclave
BIN_CLIENT=$ARCA_BUILD_DIR/client/kms-client
BIN_MEMSCAN=$ARCA_BUILD_DIR/tests/memscan
BIN_STORETOOL=$ARCA_BUILD_DIR/tests/store_tool
MAKE_PKI=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../deploy" && pwd)/make-pki.sh

T=$(mktemp -d /tmp/arca-it.XXXXXX)
chmod 0711 "$T" # the enclave may run as another user (enclave_user)
STATE=$T/state
CONF=$T/arcad.conf
export ARCA_SOCKET=$T/arcad.sock
export ARCA_ADMIN_PIN=admin-pin-1234
export ARCA_SO_PIN=so-pin-1234
export ARCA_PIN=user-pin-1234
ARCAD_PID=
ARCAD_LOG=$T/arcad.log
ARCA_TCP_PORT=
PKI=$T/pki

# The sealing mode the appliance runs in (ctest registers each test in both,
# see tests/CMakeLists.txt): dev (the default) or tpm. In tpm mode write_conf
# starts a swtpm of this test's own (state in $T/swtpm, stopped by cleanup)
# and adds sealing_mode = tpm, tpm_tcti (the mssim TCTI that
# tests/tools/swtpm-run.sh prints) and tpm_pcr = $ARCA_TEST_PCR.
ARCA_TEST_MODE=${ARCA_TEST_MODE:-dev}
case $ARCA_TEST_MODE in dev | tpm) ;; *) echo "FAIL: ARCA_TEST_MODE must be dev or tpm, not '$ARCA_TEST_MODE'" >&2; exit 1 ;; esac
export ARCA_TEST_MODE
ARCA_TEST_PCR=15
ARCA_TEST_TCTI=
SWTPM_RUN=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)/swtpm-run.sh

cleanup() {
  local rc=$?
  if [ -n "${ARCAD_PID:-}" ] && kill -0 "$ARCAD_PID" 2>/dev/null; then
    kill -TERM "$ARCAD_PID" 2>/dev/null || true
    wait "$ARCAD_PID" 2>/dev/null || true
  fi
  [ ! -d "$T/swtpm" ] || "$SWTPM_RUN" stop "$T/swtpm" >/dev/null 2>&1 || true
  if [ $rc -ne 0 ]; then
    echo "---- arcad log ($ARCAD_LOG) ----"; tail -n 60 "$ARCAD_LOG" 2>/dev/null || true
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# The sanitizer runtime libraries that a sanitizer build of the shared
# object $1 (our PKCS#11 module or OpenSSL provider, loaded into an
# uninstrumented tool: pkcs11-tool, openssl, python3...) needs preloaded
# into that tool; empty for a normal build. Preload it only into the tools
# that load our library (never into swtpm, its proxy or kms-client).
sanitizer_preload() { ldd "$1" | awk '/libasan|libubsan/ {printf "%s ", $3}'; }

pass() { echo "ok: $*"; }

# In tpm mode: this test's swtpm (started once, reused by later calls); its
# TCTI in ARCA_TEST_TCTI.
tpm_for_test() {
  [ -z "$ARCA_TEST_TCTI" ] || return 0
  ARCA_TEST_TCTI=$("$SWTPM_RUN" start "$T/swtpm") || fail "cannot start swtpm ($SWTPM_RUN)"
}

write_conf() { # extra config lines as arguments; an extra line replaces a default of the same key
  local defaults=("state_dir = $STATE" "listen_socket = $ARCA_SOCKET" "enclave_image = $BIN_ENCLAVE"
                  "listen_port = 0")
  # tpm mode: after the extra lines (an error's line number in a test stays
  # that of dev mode); none if an extra line chooses the sealing mode.
  local tail=() l
  if [ "$ARCA_TEST_MODE" = tpm ]; then
    tail=("sealing_mode = tpm")
    for l in "$@"; do [ "${l%% =*}" = sealing_mode ] && tail=(); done
    if [ ${#tail[@]} -gt 0 ]; then
      tpm_for_test
      tail+=("tpm_tcti = $ARCA_TEST_TCTI" "tpm_pcr = $ARCA_TEST_PCR")
    fi
  fi
  {
    for d in "${defaults[@]}"; do
      local k=${d%% =*} skip=
      for l in "$@"; do [ "${l%% =*}" = "$k" ] && skip=1; done
      [ -n "$skip" ] || echo "$d"
    done
    for l in "$@"; do echo "$l"; done
    for d in "${tail[@]}"; do
      local k=${d%% =*} skip=
      for l in "$@"; do [ "${l%% =*}" = "$k" ] && skip=1; done
      [ -n "$skip" ] || echo "$d"
    done
  } >"$CONF"
}

arcad_init() { "$BIN_ARCAD" -c "$CONF" init >>"$ARCAD_LOG" 2>&1 || fail "arcad init failed"; }

# Start arcad in the background and wait for its ready line
# ("arcad: ready on <socket> and <addr>:<port> (...)"); the TCP port it
# listens on (listen_port = 0: the kernel's choice) goes to ARCA_TCP_PORT
# (empty when TCP is off).
arcad_start() {
  : >"$ARCAD_LOG.cur"
  "$BIN_ARCAD" -c "$CONF" >"$ARCAD_LOG.cur" 2>&1 &
  ARCAD_PID=$!
  for _ in $(seq 1 200); do
    if grep -q "arcad: ready" "$ARCAD_LOG.cur"; then
      cat "$ARCAD_LOG.cur" >>"$ARCAD_LOG"
      ARCA_TCP_PORT=$(sed -n 's/^.*arcad: ready on .* and [^ ]*:\([0-9][0-9]*\) .*$/\1/p' "$ARCAD_LOG.cur" | tail -n1)
      export ARCA_TCP_PORT
      return 0
    fi
    kill -0 "$ARCAD_PID" 2>/dev/null || { cat "$ARCAD_LOG.cur" >>"$ARCAD_LOG"; fail "arcad exited during start"; }
    sleep 0.05
  done
  cat "$ARCAD_LOG.cur" >>"$ARCAD_LOG"
  fail "arcad did not become ready"
}

arcad_stop() {
  kill -TERM "$ARCAD_PID"
  local rc=0
  wait "$ARCAD_PID" || rc=$?
  cat "$ARCAD_LOG.cur" >>"$ARCAD_LOG"
  [ $rc -eq 0 ] || fail "arcad exited with $rc on SIGTERM"
  ARCAD_PID=
}

enclave_pid() { pgrep -P "$ARCAD_PID" -f arca-enclave | head -n1; }

# Client configurations (docs/kms-client.md): the operator's admin identity
# (every role, every partition) and an application identity arca-client
# (role user, partition p1 once fresh_appliance has run). Dev evidence is
# allowed: the tests run the dev sealing backend (or a swtpm).
write_client_conf() { # file cert-name extra lines...
  local f=$1 name=$2; shift 2
  {
    echo "# kms-client configuration ($name)"
    echo "address = unix:$ARCA_SOCKET"
    echo "cert = $PKI/$name.pem"
    echo "key = $PKI/$name.key"
    echo "allow_dev_evidence = yes"
    for l in "$@"; do echo "$l"; done
  } >"$f"
}
"$MAKE_PKI" "$PKI" >"$T/make-pki.log" 2>&1 || { cat "$T/make-pki.log"; fail "make-pki.sh"; }
write_client_conf "$T/admin.conf" admin
write_client_conf "$T/client.conf" client
export ARCA_CLIENT_CONF=$T/admin.conf

kc() { "$BIN_CLIENT" "$@"; }                                               # admin identity
kcp() { "$BIN_CLIENT" -p "${PARTITION:-p1}" "$@"; }                        # admin identity, partition user
kcu() { "$BIN_CLIENT" --config "$T/client.conf" -p "${PARTITION:-p1}" "$@"; } # arca-client identity
# Initialise the appliance with the test PKI's client CA (the admin
# certificate's CN, arca-admin, becomes the first admin identity).
kc_init() { kc init --client-ca "$PKI/ca.pem"; }

# Run a command that must fail with the given ARCA_ERR_* name on stderr.
expect_error() {
  local err=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "expected $err, but '$*' succeeded: $out"
  grep -q "$err" <<<"$out" || fail "expected $err from '$*', got: $out"
}

# A fresh appliance with one partition p1 (admin, SO and user PINs above),
# initialised with the test PKI ($PKI, made by deploy/make-pki.sh) and the
# client identity arca-client (role user, partition p1).
fresh_appliance() {
  write_conf "$@"
  arcad_init
  arcad_start
  kc_init >/dev/null || fail "kms-client init --client-ca"
  kc partition create p1 >/dev/null || fail "kms-client partition create p1"
  kc client add arca-client --roles user --partitions p1 >/dev/null || fail "kms-client client add arca-client"
}

first_field() { awk '{print $1}'; }

# Invert one byte of a file in place (a change that is never a no-op).
flip_byte() { # file offset
  local b
  b=$(xxd -s "$2" -l 1 -p "$1")
  printf "\\x$(printf '%02x' $((0x$b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
