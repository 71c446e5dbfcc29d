#!/usr/bin/env bash
# arca-sign: a signer key, a signed image, verification, and a message that
# names what did not match; arcad then runs only an image that verifies.
. "$(dirname "$0")/lib.sh"
SIGN=$ARCA_BUILD_DIR/appliance/arca-sign

"$SIGN" genkey --out "$T/signer.pem" || fail "genkey"
[ "$(stat -c %a "$T/signer.pem")" = 600 ] || fail "signer key is not 0600"
expect_error "refusing to overwrite" "$SIGN" genkey --out "$T/signer.pem"   # never overwrites a key
cp "$BIN_ENCLAVE" "$T/enclave"
"$SIGN" sign --key "$T/signer.pem" --image "$T/enclave" --out "$T/enclave.sig" --product-id 1 --svn 7 || fail "sign"
out=$("$SIGN" verify --image "$T/enclave" --sig "$T/enclave.sig") || fail "verify: $out"
grep -q "^svn: 7$" <<<"$out" || fail "svn not 7: $out"
signer=$(awk '/^signer:/{print $2}' <<<"$out")
[ ${#signer} -eq 64 ] || fail "no signer id: $out"
"$SIGN" verify --image "$T/enclave" --sig "$T/enclave.sig" --signer "$signer" >/dev/null || fail "verify with --signer"
pass "genkey (0600, no overwrite), sign, verify"

set +e
cp "$T/enclave" "$T/enclave.bad"; flip_byte "$T/enclave.bad" 5000
out=$("$SIGN" verify --image "$T/enclave.bad" --sig "$T/enclave.sig" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "tampered image: exit $rc"
grep -q "measurement mismatch" <<<"$out" || fail "tampered image: $out"
set +e
out=$("$SIGN" verify --image "$T/enclave" --sig "$T/enclave.sig" --signer "$(printf '%064d' 1)" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -qi "signer" <<<"$out" || fail "wrong signer: rc=$rc $out"
set +e
"$SIGN" sign --key "$T/signer.pem" --image "$T/enclave" 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "usage error exit $rc"
pass "a tampered image and a wrong signer are named; usage errors exit 2"

# arcad runs the re-signed image, pinned to its signer, and its SVN shows.
write_conf "enclave_image = $T/enclave" "enclave_signer = $signer"
arcad_init
arcad_start
kc_init >/dev/null
kc partition create p1 >/dev/null
kcp status | grep -q "^svn: 7$" || fail "enclave does not report svn 7: $(kcp status)"
kcp status | grep -q "^signer_id: $signer$" || fail "enclave reports another signer"
pass "arcad runs the image signed by the pinned signer; the enclave reports its identity"
