"""python3-pykcs11 scenario against libarca-pkcs11.so and a real appliance
(run by test_pkcs11_pykcs11.sh with /usr/bin/python3).
argv: module path, token label, user PIN. Exit 0 when every check passed."""
import sys

import PyKCS11
from PyKCS11 import *  # noqa: F401,F403 (CK* constants)
from PyKCS11.LowLevel import ckbytelist

MODULE, TOKEN, PIN = sys.argv[1], sys.argv[2], sys.argv[3]
P256 = bytes.fromhex("06082a8648ce3d030107")
ED25519 = bytes.fromhex("06032b6570")


def ok(what):
    print("ok: " + what, flush=True)


def fail(what):
    print("FAIL: " + what, flush=True)
    sys.exit(1)


def expect_rv(code, fn, what):
    try:
        fn()
    except PyKCS11Error as e:
        if e.value != code:
            fail("%s: expected %s, got %s" % (what, CKR[code], CKR.get(e.value, hex(e.value))))
        ok("%s -> %s" % (what, CKR[code]))
        return
    fail("%s: expected %s, but it succeeded" % (what, CKR[code]))


lib = PyKCS11Lib()
lib.load(MODULE)
slot = None
for sl in lib.getSlotList(tokenPresent=True):
    if lib.getTokenInfo(sl).label.strip() == TOKEN:
        slot = sl
if slot is None:
    fail("no token " + TOKEN)
mechs = lib.getMechanismList(slot)
for m in ("CKM_ECDSA_SHA256", "CKM_SHA256_RSA_PKCS_PSS", "CKM_EDDSA", "CKM_AES_GCM", "CKM_AES_KEY_WRAP"):
    if m not in mechs:
        fail("mechanism list lacks " + m)
info = lib.getMechanismInfo(slot, "CKM_RSA_PKCS_KEY_PAIR_GEN")
if (info.ulMinKeySize, info.ulMaxKeySize) != (2048, 4096):
    fail("RSA key sizes %d..%d" % (info.ulMinKeySize, info.ulMaxKeySize))
ok("mechanism list and info")

s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
s.login(PIN)
data = b"message to sign " * 8

# ---- EC P-256: generate, sign / verify, find by label and id ----
pub_t = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_EC), (CKA_TOKEN, True), (CKA_EC_PARAMS, P256),
         (CKA_VERIFY, True), (CKA_LABEL, "py-ec"), (CKA_ID, (0x42, 0x01))]
priv_t = [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_EC), (CKA_TOKEN, True), (CKA_SIGN, True),
          (CKA_LABEL, "py-ec"), (CKA_ID, (0x42, 0x01))]
ec_pub, ec_priv = s.generateKeyPair(pub_t, priv_t, mecha=Mechanism(CKM_EC_KEY_PAIR_GEN, None))
point = bytes(s.getAttributeValue(ec_pub, [CKA_EC_POINT])[0])
if len(point) != 67 or point[0] != 0x04 or point[2] != 0x04:
    fail("CKA_EC_POINT is not a DER OCTET STRING around an uncompressed point: " + point.hex())
sig = bytes(s.sign(ec_priv, data, Mechanism(CKM_ECDSA_SHA256, None)))
if len(sig) != 64:
    fail("ECDSA P-256 signature length %d" % len(sig))
if not s.verify(ec_pub, data, sig, Mechanism(CKM_ECDSA_SHA256, None)):
    fail("ECDSA verify")
bad = bytes([sig[0] ^ 1]) + sig[1:]
if s.verify(ec_pub, data, bad, Mechanism(CKM_ECDSA_SHA256, None)):
    fail("ECDSA verify accepted a changed signature")
ok("EC P-256 generate, ECDSA-SHA256 sign/verify, bad signature refused")
found = s.findObjects([(CKA_LABEL, "py-ec"), (CKA_CLASS, CKO_PRIVATE_KEY)])
if [o.value() for o in found] != [ec_priv.value()]:
    fail("find by label: %r" % [o.value() for o in found])
found = s.findObjects([(CKA_ID, (0x42, 0x01)), (CKA_CLASS, CKO_PUBLIC_KEY)])
if [o.value() for o in found] != [ec_pub.value()]:
    fail("find by id: %r" % [o.value() for o in found])
ok("find by label and by id")

# Multi-part sign: the data accumulates, one appliance call at C_SignFinal.
s.lib.C_SignInit(s.session, Mechanism(CKM_ECDSA_SHA256, None).to_native(), ec_priv)
for i in range(0, len(data), 10):
    rv = s.lib.C_SignUpdate(s.session, ckbytelist(data[i:i + 10]))
    if rv != CKR_OK:
        fail("C_SignUpdate: " + CKR[rv])
sig_mp = ckbytelist()
rv = s.lib.C_SignFinal(s.session, sig_mp)  # length
rv = rv or s.lib.C_SignFinal(s.session, sig_mp)
if rv != CKR_OK or not s.verify(ec_pub, data, bytes(sig_mp), Mechanism(CKM_ECDSA_SHA256, None)):
    fail("multi-part ECDSA sign")
ok("multi-part sign (update x%d, final)" % ((len(data) + 9) // 10))

# ---- RSA 2048: generate, PSS sign / verify ----
pub_t = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_RSA), (CKA_TOKEN, True), (CKA_MODULUS_BITS, 2048),
         (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_VERIFY, True), (CKA_ENCRYPT, True), (CKA_LABEL, "py-rsa")]
priv_t = [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_RSA), (CKA_TOKEN, True), (CKA_SIGN, True),
          (CKA_DECRYPT, True), (CKA_LABEL, "py-rsa")]
rsa_pub, rsa_priv = s.generateKeyPair(pub_t, priv_t, mecha=Mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN, None))
modulus = bytes(s.getAttributeValue(rsa_pub, [CKA_MODULUS])[0])
if len(modulus) != 256:
    fail("CKA_MODULUS length %d" % len(modulus))
pss = RSA_PSS_Mechanism(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32)
sig = bytes(s.sign(rsa_priv, data, pss))
if len(sig) != 256 or not s.verify(rsa_pub, data, sig, pss):
    fail("RSA-PSS sign/verify")
ok("RSA 2048 generate, SHA256-RSA-PSS sign/verify")

# ---- Ed25519 ----
pub_t = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_EC_EDWARDS), (CKA_TOKEN, False), (CKA_EC_PARAMS, ED25519),
         (CKA_VERIFY, True), (CKA_LABEL, "py-ed")]
priv_t = [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_EC_EDWARDS), (CKA_TOKEN, False), (CKA_SIGN, True),
          (CKA_LABEL, "py-ed")]
ed_pub, ed_priv = s.generateKeyPair(pub_t, priv_t, mecha=Mechanism(CKM_EC_EDWARDS_KEY_PAIR_GEN, None))
sig = bytes(s.sign(ed_priv, data, Mechanism(CKM_EDDSA, None)))
if len(sig) != 64 or not s.verify(ed_pub, data, sig, Mechanism(CKM_EDDSA, None)):
    fail("Ed25519 sign/verify")
ok("Ed25519 generate (session objects), EdDSA sign/verify")

# ---- AES-256: generate, GCM encrypt / decrypt ----
aes_t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32), (CKA_TOKEN, True),
         (CKA_ENCRYPT, True), (CKA_DECRYPT, True), (CKA_WRAP, True), (CKA_UNWRAP, True), (CKA_LABEL, "py-kek")]
kek = s.generateKey(aes_t, mecha=Mechanism(CKM_AES_KEY_GEN, None))
# CKA_VALUE_LEN of a secret key is readable (derived from the key).
vlen = s.getAttributeValue(kek, [CKA_VALUE_LEN])[0]
if vlen != 32:
    fail("AES-256 key: CKA_VALUE_LEN %r, expected 32" % (vlen,))
ok("AES-256 key: CKA_VALUE_LEN 32")
iv = bytes(range(12))
plain = b"attack at dawn, " * 5
gcm = AES_GCM_Mechanism(iv, b"header", 128)
ct = bytes(s.encrypt(kek, plain, gcm))
if len(ct) != len(plain) + 16:
    fail("GCM ciphertext length %d" % len(ct))
if bytes(s.decrypt(kek, ct, gcm)) != plain:
    fail("GCM decrypt")
expect_rv(CKR_ENCRYPTED_DATA_INVALID,
          lambda: s.decrypt(kek, bytes([ct[0] ^ 1]) + ct[1:], gcm), "GCM decrypt of a changed ciphertext")
ok("AES-256 generate, AES-GCM encrypt/decrypt")

# ---- wrap / unwrap ----
tgt_t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 16), (CKA_TOKEN, False),
         (CKA_ENCRYPT, True), (CKA_DECRYPT, True), (CKA_EXTRACTABLE, True), (CKA_LABEL, "py-target")]
target = s.generateKey(tgt_t, mecha=Mechanism(CKM_AES_KEY_GEN, None))
wrapped = bytes(s.wrapKey(kek, target, Mechanism(CKM_AES_KEY_WRAP, None)))
if len(wrapped) != 24:
    fail("AES key wrap of a 16-byte key gave %d bytes" % len(wrapped))
unw_t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False), (CKA_ENCRYPT, True),
         (CKA_DECRYPT, True), (CKA_LABEL, "py-unwrapped")]
unwrapped = s.unwrapKey(kek, wrapped, unw_t, Mechanism(CKM_AES_KEY_WRAP, None))
ct = bytes(s.encrypt(target, plain, gcm))
if bytes(s.decrypt(unwrapped, ct, gcm)) != plain:
    fail("the unwrapped key does not decrypt what the original encrypted")
expect_rv(CKR_WRAPPED_KEY_INVALID,
          lambda: s.unwrapKey(kek, bytes([wrapped[0] ^ 1]) + wrapped[1:], unw_t, Mechanism(CKM_AES_KEY_WRAP, None)),
          "unwrap of a changed wrapped key")
ok("AES key wrap / unwrap")

# ---- ECDH derive: both sides get the same AES key ----
def ec_pair(label):
    pt = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_EC), (CKA_TOKEN, False), (CKA_EC_PARAMS, P256),
          (CKA_LABEL, label)]
    vt = [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_EC), (CKA_TOKEN, False), (CKA_DERIVE, True),
          (CKA_LABEL, label)]
    return s.generateKeyPair(pt, vt, mecha=Mechanism(CKM_EC_KEY_PAIR_GEN, None))


a_pub, a_priv = ec_pair("py-ecdh-a")
b_pub, b_priv = ec_pair("py-ecdh-b")
der_t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32), (CKA_TOKEN, False),
         (CKA_ENCRYPT, True), (CKA_DECRYPT, True)]
a_point = bytes(s.getAttributeValue(a_pub, [CKA_EC_POINT])[0])[2:]
b_point = bytes(s.getAttributeValue(b_pub, [CKA_EC_POINT])[0])[2:]
k_ab = s.deriveKey(a_priv, der_t, ECDH1_DERIVE_Mechanism(b_point))
k_ba = s.deriveKey(b_priv, der_t, ECDH1_DERIVE_Mechanism(a_point))
if bytes(s.decrypt(k_ba, bytes(s.encrypt(k_ab, plain, gcm)), gcm)) != plain:
    fail("ECDH: the two sides derived different keys")
expect_rv(CKR_MECHANISM_PARAM_INVALID,
          lambda: s.deriveKey(a_priv, der_t, ECDH1_DERIVE_Mechanism(b_point, kdf=CKD_SHA1_KDF)),
          "ECDH with kdf CKD_SHA1_KDF")
ok("ECDH1 derive (CKD_NULL) on both sides, same key")

# ---- bad input, each with its exact CKR ----
expect_rv(CKR_DATA_LEN_RANGE, lambda: s.sign(ec_priv, bytes(100), Mechanism(CKM_ECDSA, None)),
          "raw ECDSA over 100 bytes")
expect_rv(CKR_ENCRYPTED_DATA_LEN_RANGE, lambda: s.decrypt(kek, bytes(5), gcm), "GCM decrypt of 5 bytes")
expect_rv(CKR_MECHANISM_PARAM_INVALID, lambda: s.encrypt(kek, plain, Mechanism(CKM_AES_CBC_PAD, bytes(12))),
          "CBC-PAD with a 12-byte IV")
expect_rv(CKR_MECHANISM_PARAM_INVALID, lambda: s.encrypt(kek, plain, AES_GCM_Mechanism(bytes(16), b"", 128)),
          "GCM with a 16-byte IV")
expect_rv(CKR_MECHANISM_PARAM_INVALID, lambda: s.sign(ec_priv, data, Mechanism(CKM_ECDSA, bytes(4))),
          "ECDSA with a parameter")
expect_rv(CKR_MECHANISM_INVALID, lambda: s.encrypt(kek, plain, Mechanism(CKM_AES_ECB, None)), "CKM_AES_ECB")
expect_rv(CKR_KEY_TYPE_INCONSISTENT, lambda: s.sign(rsa_priv, data, Mechanism(CKM_ECDSA_SHA256, None)),
          "ECDSA with an RSA key")
expect_rv(CKR_KEY_FUNCTION_NOT_PERMITTED, lambda: s.sign(ec_pub, data, Mechanism(CKM_ECDSA_SHA256, None)),
          "sign with a public key")
expect_rv(CKR_SIGNATURE_LEN_RANGE, lambda: s.verify(ec_pub, data, bytes(10), Mechanism(CKM_ECDSA_SHA256, None)),
          "verify with a 10-byte signature")

# Two-call convention with a buffer too small: the op stays active, the
# appliance signs once, the signature arrives on the next call.
rv = s.lib.C_SignInit(s.session, Mechanism(CKM_ECDSA_SHA256, None).to_native(), ec_priv)
small = ckbytelist([0] * 10)
rv = s.lib.C_Sign(s.session, ckbytelist(data), small)
if rv != CKR_BUFFER_TOO_SMALL:
    fail("C_Sign with a 10-byte buffer: " + CKR.get(rv, hex(rv)))
out = ckbytelist()
rv = s.lib.C_Sign(s.session, ckbytelist(data), out)  # NULL: the length (64)
rv = rv or s.lib.C_Sign(s.session, ckbytelist(data), out)
if rv != CKR_OK or len(out) != 64 or not s.verify(ec_pub, data, bytes(out), Mechanism(CKM_ECDSA_SHA256, None)):
    fail("C_Sign after CKR_BUFFER_TOO_SMALL: " + CKR.get(rv, hex(rv)))
rv = s.lib.C_Sign(s.session, ckbytelist(data), out)
if rv != CKR_OPERATION_NOT_INITIALIZED:
    fail("C_Sign after the operation ended: " + CKR.get(rv, hex(rv)))
rv = s.lib.C_SignInit(s.session, Mechanism(CKM_ECDSA_SHA256, None).to_native(), ec_priv)
rv2 = s.lib.C_SignInit(s.session, Mechanism(CKM_ECDSA_SHA256, None).to_native(), ec_priv)
if rv != CKR_OK or rv2 != CKR_OPERATION_ACTIVE:
    fail("second C_SignInit: " + CKR.get(rv2, hex(rv2)))
ok("two-call convention: BUFFER_TOO_SMALL keeps the op, result delivered once, then NOT_INITIALIZED; "
   "OPERATION_ACTIVE")

# Digest locally.
import hashlib  # noqa: E402
if bytes(s.digest(data, Mechanism(CKM_SHA256, None))) != hashlib.sha256(data).digest():
    fail("SHA-256 digest")
expect_rv(CKR_RANDOM_SEED_NOT_SUPPORTED, lambda: s.seedRandom(b"1234"), "C_SeedRandom")
if len(bytes(s.generateRandom(300000))) != 300000:
    fail("C_GenerateRandom over the per-call cap")
ok("digest (local), random")

s.logout()
s.closeSession()
print("all pykcs11 checks passed")
