#!/bin/sh
# Container entry point: initialise the state volume on the first start
# (arcad init: the store and the platform seed), then replace this shell
# with arcad (exec), so that arcad is the container's PID 1 and the SIGTERM
# of `podman stop` / `docker stop` reaches it: it stops the enclave and
# closes the store cleanly. ARCAD and ARCA_CONF override the paths (tests).
set -eu
ARCAD=${ARCAD:-/usr/sbin/arcad}
CONF=${ARCA_CONF:-/etc/arca/arcad.conf}
state_dir=$(sed -n 's/^[[:space:]]*state_dir[[:space:]]*=[[:space:]]*//p' "$CONF" | tail -n1)
[ -n "$state_dir" ] || { echo "entrypoint: no state_dir in $CONF" >&2; exit 1; }
if [ ! -e "$state_dir/store" ]; then
  echo "entrypoint: no store in $state_dir: arcad init" >&2
  "$ARCAD" -c "$CONF" init
fi
exec "$ARCAD" -c "$CONF" "$@"
