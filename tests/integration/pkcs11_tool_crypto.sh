# Crypto cases through OpenSC's pkcs11-tool, for test_pkcs11_tool.sh to
# call (p11crypto's section; not a test by itself). Needs, from the caller:
# lib.sh loaded, fresh_appliance done, ARCA_PKCS11_CONF set, $MOD = the
# module. Call: pkcs11_tool_crypto_section
pkcs11_tool_crypto_section() {
  local p11c=(pkcs11-tool --module "$MOD" --login --pin "$ARCA_PIN")
  # AES-256 + CBC-PAD encrypt / decrypt round trip
  "${p11c[@]}" --keygen --key-type AES:32 --label ptc-aes --id c1 >"$T/ptc-aes.out" 2>&1 ||
    { cat "$T/ptc-aes.out"; fail "pkcs11-tool AES keygen"; }
  head -c 1000 /dev/urandom >"$T/ptc-plain"
  "${p11c[@]}" --encrypt --id c1 -m AES-CBC-PAD --iv 000102030405060708090a0b0c0d0e0f \
    --input-file "$T/ptc-plain" --output-file "$T/ptc-ct" >"$T/ptc-enc.out" 2>&1 ||
    { cat "$T/ptc-enc.out"; fail "pkcs11-tool AES-CBC-PAD encrypt"; }
  [ "$(stat -c %s "$T/ptc-ct")" -eq 1008 ] || fail "AES-CBC-PAD: ciphertext of 1000 bytes is not 1008 bytes"
  "${p11c[@]}" --decrypt --id c1 -m AES-CBC-PAD --iv 000102030405060708090a0b0c0d0e0f \
    --input-file "$T/ptc-ct" --output-file "$T/ptc-pt" >"$T/ptc-dec.out" 2>&1 ||
    { cat "$T/ptc-dec.out"; fail "pkcs11-tool AES-CBC-PAD decrypt"; }
  cmp -s "$T/ptc-plain" "$T/ptc-pt" || fail "AES-CBC-PAD round trip differs"
  pass "pkcs11-tool AES-CBC-PAD encrypt/decrypt"
  # ECDH: derive against a peer key made by openssl
  "${p11c[@]}" --keypairgen --key-type EC:prime256v1 --label ptc-ecdh --id c2 --usage-derive \
    >"$T/ptc-ec.out" 2>&1 || { cat "$T/ptc-ec.out"; fail "pkcs11-tool EC keygen (derive)"; }
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ptc-peer.pem" 2>/dev/null
  openssl pkey -in "$T/ptc-peer.pem" -pubout -outform DER -out "$T/ptc-peer.der" 2>/dev/null
  "${p11c[@]}" --derive --id c2 -m ECDH1-DERIVE --input-file "$T/ptc-peer.der" \
    --output-file "$T/ptc-z" >"$T/ptc-derive.out" 2>&1 || { cat "$T/ptc-derive.out"; fail "pkcs11-tool ECDH derive"; }
  pass "pkcs11-tool ECDH1-DERIVE"
  # Ed25519: generate and sign with pkcs11-tool, verify with openssl and the
  # public key the module exports (CKA_PUBLIC_KEY_INFO, via pkcs11_sessions.c).
  "${p11c[@]}" --keypairgen --key-type EC:edwards25519 --label ptc-ed --id c3 >"$T/ptc-ed.out" 2>&1 ||
    { cat "$T/ptc-ed.out"; fail "pkcs11-tool Ed25519 keygen"; }
  p11s spki c3 >"$T/ptc-ed.der" || fail "read the Ed25519 public key (CKA_PUBLIC_KEY_INFO)"
  openssl pkey -pubin -inform DER -in "$T/ptc-ed.der" -out "$T/ptc-ed.pem" 2>/dev/null || fail "Ed25519 SPKI"
  "${p11c[@]}" --sign --mechanism EDDSA --id c3 -i "$T/ptc-plain" -o "$T/ptc-ed.sig" >"$T/ptc-eds.out" 2>&1 ||
    { cat "$T/ptc-eds.out"; fail "pkcs11-tool EDDSA sign"; }
  [ "$(stat -c %s "$T/ptc-ed.sig")" -eq 64 ] || fail "Ed25519 signature is not 64 bytes"
  openssl pkeyutl -verify -pubin -inkey "$T/ptc-ed.pem" -rawin -in "$T/ptc-plain" -sigfile "$T/ptc-ed.sig" \
    >/dev/null 2>&1 || fail "Ed25519 signature from pkcs11-tool does not verify"
  pass "pkcs11-tool Ed25519 (EDDSA): signed in the appliance, verified by openssl"
  # AES key wrap (RFC 3394): wrap an extractable AES key under another, unwrap
  # it as a new key, and show that both encrypt alike.
  "${p11c[@]}" --keygen --key-type AES:32 --label ptc-kek --id c4 >"$T/ptc-kek.out" 2>&1 ||
    { cat "$T/ptc-kek.out"; fail "pkcs11-tool AES keygen (wrapping key)"; }
  "${p11c[@]}" --keygen --key-type AES:32 --label ptc-tgt --id c5 --extractable >"$T/ptc-tgt.out" 2>&1 ||
    { cat "$T/ptc-tgt.out"; fail "pkcs11-tool AES keygen (extractable)"; }
  "${p11c[@]}" --wrap --mechanism AES-KEY-WRAP --id c4 --application-id c5 -o "$T/ptc-wrapped" \
    >"$T/ptc-wrap.out" 2>&1 || { cat "$T/ptc-wrap.out"; fail "pkcs11-tool AES-KEY-WRAP wrap"; }
  [ "$(stat -c %s "$T/ptc-wrapped")" -eq 40 ] || fail "wrapped AES-256 key is not 40 bytes"
  "${p11c[@]}" --unwrap --mechanism AES-KEY-WRAP --id c4 -i "$T/ptc-wrapped" --key-type AES: \
    --application-id c6 --application-label ptc-unwrapped >"$T/ptc-unwrap.out" 2>&1 ||
    { cat "$T/ptc-unwrap.out"; fail "pkcs11-tool AES-KEY-WRAP unwrap"; }
  for id in c5 c6; do
    "${p11c[@]}" --encrypt --id $id -m AES-CBC-PAD --iv 000102030405060708090a0b0c0d0e0f \
      --input-file "$T/ptc-plain" --output-file "$T/ptc-ct-$id" >"$T/ptc-enc-$id.out" 2>&1 ||
      { cat "$T/ptc-enc-$id.out"; fail "pkcs11-tool encrypt with key $id"; }
  done
  cmp -s "$T/ptc-ct-c5" "$T/ptc-ct-c6" || fail "the unwrapped key is not the wrapped one"
  pass "pkcs11-tool AES-KEY-WRAP: wrap, unwrap, the unwrapped key encrypts like the original"
  # Generic secret + HMAC-SHA256: sign, verify, and a changed message fails.
  "${p11c[@]}" --keygen --key-type GENERIC:32 --label ptc-hmac --id c7 >"$T/ptc-hk.out" 2>&1 ||
    { cat "$T/ptc-hk.out"; fail "pkcs11-tool generic secret keygen"; }
  "${p11c[@]}" --sign --mechanism SHA256-HMAC --id c7 -i "$T/ptc-plain" -o "$T/ptc-mac" >"$T/ptc-mac.out" 2>&1 ||
    { cat "$T/ptc-mac.out"; fail "pkcs11-tool SHA256-HMAC sign"; }
  [ "$(stat -c %s "$T/ptc-mac")" -eq 32 ] || fail "HMAC-SHA256 is not 32 bytes"
  out=$("${p11c[@]}" --verify --mechanism SHA256-HMAC --id c7 -i "$T/ptc-plain" --signature-file "$T/ptc-mac" 2>&1) ||
    fail "pkcs11-tool SHA256-HMAC verify: $out"
  grep -qx "Signature is valid" <<<"$out" || fail "HMAC verify: $out"
  printf x >"$T/ptc-other"
  out=$("${p11c[@]}" --verify --mechanism SHA256-HMAC --id c7 -i "$T/ptc-other" --signature-file "$T/ptc-mac" 2>&1) || true
  grep -qx "Invalid signature" <<<"$out" || fail "HMAC over other data: $out"
  pass "pkcs11-tool SHA256-HMAC with a generic secret: valid, and invalid over other data"
}
