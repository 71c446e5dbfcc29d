#!/usr/bin/env bash
# Installs the Debian 12 packages Arca needs. Usage:
#   deploy/packages.sh build   # to build and run the appliance
#   deploy/packages.sh test    # plus what the test suite uses
# Runs apt-get as root (no sudo); skips apt-get entirely when every
# package is already installed.
set -euo pipefail
build_pkgs=(build-essential cmake pkg-config libssl-dev openssl liblmdb-dev libseccomp-dev
            libcbor-dev libp11-kit-dev libcmocka-dev bc libtss2-dev)
test_pkgs=(lmdb-utils procps xxd clang libclang-rt-14-dev swtpm swtpm-tools tpm2-tools
           python3 python3-pykmip gnutls-bin  # python3-pykmip, gnutls-bin: tests/integration/test_interop_*.sh
           opensc softhsm2 libengine-pkcs11-openssl python3-pykcs11  # tests/integration/test_pkcs11_*.sh
           libnss3-tools)  # tests/integration/test_pkcs11_nss.sh (modutil, certutil)
want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then want+=("${test_pkgs[@]}"); fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
