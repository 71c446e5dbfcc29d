#!/usr/bin/env bash
# Start or stop a throw-away swtpm (TPM 2.0) for tests and deploy/dev-run.sh.
#   tests/tools/swtpm-run.sh start DIR   # prints the TCTI to use:
#                                        #   mssim:host=127.0.0.1,port=P
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
case "$cmd" in
start)
  for c in swtpm tpm2_getrandom python3; do
    command -v $c >/dev/null || { echo "$c is not installed (deploy/packages.sh test)" >&2; exit 1; }
  done
  mkdir -p "$dir/tpmstate"
  rm -f "$dir/tpm.sock" "$dir/tpm.sock.ctrl" "$dir/proxy.port"
  # The swtpm TCTI finds the control socket at <path>.ctrl.
  swtpm socket --tpm2 --tpmstate "dir=$dir/tpmstate" \
    --server "type=unixio,path=$dir/tpm.sock" --ctrl "type=unixio,path=$dir/tpm.sock.ctrl" \
    --flags not-need-init,startup-clear --pid "file=$dir/swtpm.pid" --daemon
  # Ready = it answers a command (the socket files appear before swtpm
  # listens on both; under load a bare file check raced it).
  ready=
  for _ in $(seq 200); do
    if [ -S "$dir/tpm.sock" ] && [ -S "$dir/tpm.sock.ctrl" ] &&
      tpm2_getrandom -T "swtpm:path=$dir/tpm.sock" 1 >/dev/null 2>&1; then
      ready=1; break
    fi
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "swtpm did not start in $dir" >&2; stop; exit 1; }
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
stop) stop ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
