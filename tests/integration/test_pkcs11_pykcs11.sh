#!/usr/bin/env bash
# python3-pykcs11 (Debian's, with /usr/bin/python3) drives libarca-pkcs11.so
# against a real appliance: generate EC / RSA / Ed25519 / AES keys, sign and
# verify (ECDSA, RSA-PSS, EdDSA), AES-GCM, wrap / unwrap, find by label and
# id, and bad input with the exact CKR codes (pkcs11_pykcs11.py).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODULE=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MODULE" ] || fail "no module at $MODULE"
/usr/bin/python3 -c 'import PyKCS11' 2>/dev/null || fail "python3-pykcs11 is not installed (deploy/packages.sh)"

fresh_appliance
export ARCA_PKCS11_CONF=$T/client.conf
# A sanitizer build of the module needs its runtime loaded first into the
# (uninstrumented) python3.
PRELOAD=$(sanitizer_preload "$MODULE")
LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 \
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/pkcs11_pykcs11.py" "$MODULE" p1 "$ARCA_PIN" ||
  fail "pykcs11 scenario"
pass "pykcs11 scenario"
