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
}
