#!/usr/bin/env bash
# Start or stop a throw-away swtpm (TPM 2.0) for tests, on unix sockets.
#   tests/tools/swtpm-run.sh start DIR   # prints the TCTI to use, e.g.
#                                        #   swtpm:path=DIR/tpm.sock
#   tests/tools/swtpm-run.sh stop DIR
# State lives in DIR/tpmstate; the pid in DIR/swtpm.pid. Fails (exit 1)
# if swtpm is not installed (deploy/packages.sh test installs it).
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?state directory}")
case "$cmd" in
start)
  command -v swtpm >/dev/null || { echo "swtpm is not installed (deploy/packages.sh test)" >&2; exit 1; }
  mkdir -p "$dir/tpmstate"
  rm -f "$dir/tpm.sock" "$dir/tpm.sock.ctrl"
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
  [ -n "$ready" ] || { echo "swtpm did not start in $dir" >&2; exit 1; }
  echo "swtpm:path=$dir/tpm.sock"
  ;;
stop)
  if [ -f "$dir/swtpm.pid" ]; then
    kill "$(cat "$dir/swtpm.pid")" 2>/dev/null || true
    rm -f "$dir/swtpm.pid" "$dir/tpm.sock" "$dir/tpm.sock.ctrl"
  fi
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
