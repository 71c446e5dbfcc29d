#!/usr/bin/env bash
# Start or stop a throw-away swtpm (TPM 2.0) for tests and deploy/dev-run.sh.
#   tests/tools/swtpm-run.sh start DIR [--ek-ca CADIR]
#                                        # prints the TCTI to use:
#                                        #   mssim:host=127.0.0.1,port=P
# --ek-ca CADIR: manufacture the TPM first (once, when DIR/tpmstate does not
# exist yet) as a TPM maker does: swtpm_setup creates the RSA 2048 EK
# (persistent handle 0x81010001) and writes its EK certificate (NV index
# 0x01c00002) and a platform certificate, issued by swtpm_localca with the
# test maker CA in CADIR (made on first use, so TPMs manufactured with the
# same CADIR come from the same "maker"): CADIR/swtpm-localca-rootca-cert.pem
# (root) and CADIR/issuercert.pem (intermediate) are the maker's chain.
#   tests/tools/swtpm-run.sh stop DIR
# swtpm listens on the unix socket DIR/tpm.sock (the TCTI
# swtpm:path=DIR/tpm.sock reaches it directly, one connection per command);
# in front of it swtpm-mssim-proxy.py serves the `mssim:` TCTI on
# 127.0.0.1:P and P+1 (P picked by the kernel). Use the mssim TCTI for
# arcad: arca-enclave keeps its TPM connection open after its seccomp
# filter forbids socket/connect, which the mssim TCTI does and the swtpm
# TCTI does not (it reconnects for every command: the enclave was killed
# with SIGSYS at its first TPM use after start-up, e.g. a fresh quote for
# `kms-client attest`). The proxy also lets any number of clients stay
# connected at once (swtpm alone serves one connection at a time).
# State lives in DIR/tpmstate; pids in DIR/swtpm.pid and DIR/proxy.pid.
#
# Faults, for tests (the proxy and its port stay up, so a client such as
# arca-enclave keeps its connection and sees TPM_RC_FAILURE meanwhile):
#   tests/tools/swtpm-run.sh kill DIR [--keep-volatile]
#       SIGKILL swtpm. With --keep-volatile its volatile state (PCRs,
#       loaded objects) is saved first and restored by `restart`, as for a
#       TPM that was unreachable for a while; without it `restart` is a TPM
#       reset (PCRs back to zero), as after a platform restart.
#   tests/tools/swtpm-run.sh restart DIR
#       start swtpm again on the same state and socket; prints the TCTI.
# Fails (exit 1) if swtpm, tpm2-tools or python3 is missing
# (deploy/packages.sh test installs them).
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?state directory}")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stop() {
  local f
  for f in "$dir/proxy.pid" "$dir/swtpm.pid"; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  rm -f "$dir/tpm.sock" "$dir/tpm.sock.ctrl" "$dir/proxy.port"
}
start_swtpm() {
  rm -f "$dir/tpm.sock" "$dir/tpm.sock.ctrl"
  # The swtpm TCTI finds the control socket at <path>.ctrl. A saved volatile
  # state (kill --keep-volatile) is restored by swtpm itself at start.
  swtpm socket --tpm2 --tpmstate "dir=$dir/tpmstate" \
    --server "type=unixio,path=$dir/tpm.sock" --ctrl "type=unixio,path=$dir/tpm.sock.ctrl" \
    --flags not-need-init,startup-clear --pid "file=$dir/swtpm.pid" --daemon
  # Ready = it answers a command (the socket files appear before swtpm
  # listens on both; under load a bare file check raced it).
  local ready=
  for _ in $(seq 200); do
    if [ -S "$dir/tpm.sock" ] && [ -S "$dir/tpm.sock.ctrl" ] &&
      tpm2_getrandom -T "swtpm:path=$dir/tpm.sock" 1 >/dev/null 2>&1; then
      ready=1; break
    fi
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "swtpm did not start in $dir" >&2; stop; exit 1; }
}
# Manufacture DIR/tpmstate with an EK certificate from the maker CA in $1.
manufacture() {
  local ca
  ca=$(realpath -m "$1")
  command -v swtpm_setup >/dev/null && command -v swtpm_localca >/dev/null ||
    { echo "swtpm_setup / swtpm_localca are not installed (swtpm-tools; deploy/packages.sh test)" >&2; exit 1; }
  mkdir -p "$ca" "$dir/tpmstate"
  [ -f "$ca/swtpm-localca.conf" ] || printf '%s\n' "statedir = $ca" "signingkey = $ca/signkey.pem" \
    "issuercert = $ca/issuercert.pem" "certserial = $ca/certserial" >"$ca/swtpm-localca.conf"
  [ -f "$ca/swtpm-localca.options" ] || printf '%s\n' "--platform-manufacturer Arca-Test" \
    "--platform-version 2.1" "--platform-model swtpm" >"$ca/swtpm-localca.options"
  [ -f "$ca/swtpm_setup.conf" ] || printf '%s\n' "create_certs_tool = $(command -v swtpm_localca)" \
    "create_certs_tool_config = $ca/swtpm-localca.conf" "create_certs_tool_options = $ca/swtpm-localca.options" \
    "active_pcr_banks = sha256" >"$ca/swtpm_setup.conf"
  # One maker CA directory may serve several TPMs started at once.
  if ! flock "$ca/.arca-manufacture.lock" swtpm_setup --tpm2 --tpmstate "$dir/tpmstate" \
    --config "$ca/swtpm_setup.conf" --create-ek-cert --create-platform-cert --overwrite \
    >"$dir/manufacture.log" 2>&1; then
    echo "swtpm_setup failed in $dir: $(cat "$dir/manufacture.log")" >&2
    rm -rf "$dir/tpmstate"
    exit 1
  fi
}
case "$cmd" in
start)
  for c in swtpm tpm2_getrandom python3; do
    command -v $c >/dev/null || { echo "$c is not installed (deploy/packages.sh test)" >&2; exit 1; }
  done
  if [ "${3:-}" = --ek-ca ] && [ -n "${4:-}" ]; then
    [ -d "$dir/tpmstate" ] || manufacture "$4"
  elif [ -n "${3:-}" ]; then
    echo "usage: $0 start DIR [--ek-ca CADIR]" >&2; exit 2
  fi
  mkdir -p "$dir/tpmstate"
  rm -f "$dir/proxy.port"
  start_swtpm
  # The proxy, detached from our stdout (the caller reads the TCTI from it).
  python3 "$here/swtpm-mssim-proxy.py" "$dir/tpm.sock" "$dir/proxy.port" \
    </dev/null >>"$dir/proxy.log" 2>&1 &
  echo $! >"$dir/proxy.pid"
  ready=
  for _ in $(seq 200); do
    if [ -s "$dir/proxy.port" ] &&
      tpm2_getrandom -T "mssim:host=127.0.0.1,port=$(cat "$dir/proxy.port")" 1 >/dev/null 2>&1; then
      ready=1; break
    fi
    kill -0 "$(cat "$dir/proxy.pid")" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "the mssim proxy did not start in $dir: $(cat "$dir/proxy.log")" >&2; stop; exit 1; }
  echo "mssim:host=127.0.0.1,port=$(cat "$dir/proxy.port")"
  ;;
kill)
  [ -f "$dir/swtpm.pid" ] || { echo "no swtpm running in $dir" >&2; exit 1; }
  pid=$(cat "$dir/swtpm.pid")
  rm -f "$dir/tpmstate/tpm2-00.volatilestate"
  if [ "${3:-}" = --keep-volatile ]; then
    swtpm_ioctl --unix "$dir/tpm.sock.ctrl" -v || { echo "swtpm_ioctl -v failed in $dir" >&2; exit 1; }
  elif [ -n "${3:-}" ]; then
    echo "usage: $0 kill DIR [--keep-volatile]" >&2; exit 2
  fi
  kill -KILL "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  ! kill -0 "$pid" 2>/dev/null || { echo "swtpm $pid did not die" >&2; exit 1; }
  rm -f "$dir/swtpm.pid" "$dir/tpm.sock" "$dir/tpm.sock.ctrl"
  ;;
restart)
  [ -s "$dir/proxy.port" ] && [ -d "$dir/tpmstate" ] || { echo "no swtpm was started in $dir" >&2; exit 1; }
  [ ! -f "$dir/swtpm.pid" ] || { echo "swtpm is still running in $dir (kill it first)" >&2; exit 1; }
  start_swtpm
  echo "mssim:host=127.0.0.1,port=$(cat "$dir/proxy.port")"
  ;;
stop) stop ;;
*) echo "usage: $0 start|stop|kill|restart DIR" >&2; exit 2 ;;
esac
