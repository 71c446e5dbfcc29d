#!/usr/bin/env bash
# Installs a built Arca into the file system layout the systemd units and
# the container expect (a Debian package would put its files in the same
# places):
#
#   deploy/install.sh BUILD_DIR [DESTDIR]     # DESTDIR: a staging root, default /
#
#   /usr/sbin/arcad                                   the host daemon
#   /usr/libexec/arca/arca-enclave, arca-enclave.sig  the enclave image and its signature
#   /usr/bin/kms-client, /usr/bin/arca-sign
#   <p11-kit module dir>/libarca-pkcs11.so            (pkg-config p11-kit-1: p11_module_path)
#   <OpenSSL MODULESDIR>/arca.so                      (openssl version -m)
#   /lib/systemd/system/arcad.service, arcad-init.service
#   /usr/lib/sysusers.d/arca.conf                     (then: systemd-sysusers)
#   /usr/share/doc/arca/                              docs/*.md, examples/ (drop-ins, sample config), runbooks/
#   /etc/arca/arcad.conf                              from deploy/arcad.conf.example, only if absent
#
# The enclave image keeps the signature the build gave it (the build's
# development signer, SVN 1). A production image is signed with the
# operator's key: arca-sign sign --key signer.pem --image
# /usr/libexec/arca/arca-enclave --out /usr/libexec/arca/arca-enclave.sig
# --product-id 1 --svn N (docs/operations.md, runbooks/enclave-upgrade.md).
# Exit 1 (naming the file) if something to install is missing.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BUILD_DIR [DESTDIR]" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
DEST=${2:-}
DEST=${DEST%/}
SRC=$(cd "$(dirname "$0")/.." && pwd)

p11dir=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null || true)
[ -n "$p11dir" ] || p11dir=/usr/lib/$(gcc -print-multiarch)/pkcs11
ossldir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
[ -n "$ossldir" ] || { echo "install.sh: cannot find OpenSSL's MODULESDIR (openssl version -m)" >&2; exit 1; }

put() { # mode source target
  [ -f "$2" ] || { echo "install.sh: missing $2 (build it first: cmake --build $BUILD)" >&2; exit 1; }
  install -D -m "$1" "$2" "$DEST$3"
}
put 0755 "$BUILD/appliance/arcad" /usr/sbin/arcad
put 0755 "$BUILD/enclave_kms/arca-enclave" /usr/libexec/arca/arca-enclave
put 0644 "$BUILD/enclave_kms/arca-enclave.sig" /usr/libexec/arca/arca-enclave.sig
put 0755 "$BUILD/client/kms-client" /usr/bin/kms-client
put 0755 "$BUILD/appliance/arca-sign" /usr/bin/arca-sign
put 0644 "$BUILD/pkcs11/libarca-pkcs11.so" "$p11dir/libarca-pkcs11.so"
put 0644 "$BUILD/provider/arca.so" "$ossldir/arca.so"
put 0644 "$SRC/deploy/systemd/arcad.service" /lib/systemd/system/arcad.service
put 0644 "$SRC/deploy/systemd/arcad-init.service" /lib/systemd/system/arcad-init.service
put 0644 "$SRC/deploy/systemd/arca.sysusers" /usr/lib/sysusers.d/arca.conf
for f in "$SRC"/docs/*.md; do put 0644 "$f" "/usr/share/doc/arca/$(basename "$f")"; done
for f in "$SRC"/deploy/runbooks/*.md; do put 0644 "$f" "/usr/share/doc/arca/runbooks/$(basename "$f")"; done
for f in "$SRC"/deploy/systemd/dropins/*.conf; do put 0644 "$f" "/usr/share/doc/arca/examples/systemd/$(basename "$f")"; done
put 0644 "$SRC/deploy/arcad.conf.example" /usr/share/doc/arca/examples/arcad.conf
if [ ! -e "$DEST/etc/arca/arcad.conf" ]; then
  put 0644 "$SRC/deploy/arcad.conf.example" /etc/arca/arcad.conf
fi
echo "install.sh: installed Arca from $BUILD into ${DEST:-/}"
