#!/usr/bin/python3
"""PyKMIP (Debian's python3-pykmip 0.10) against Arca: one interoperability
scenario with a standard KMIP client, run by test_interop_pykmip.sh.

    /usr/bin/python3 pykmip_client.py --port P --cert C --key K --ca SERVER.pem \
        --user PARTITION --version 1.2|2.0 [--host H] [--prefix NAME]

The user PIN is read from the environment (ARCA_PIN), never from argv.

PyKMIP configuration (all given explicitly, no pykmip.conf is read for these):
  ProxyKmipClient(hostname, port, cert=client certificate (CN arca-client),
                  key=its private key, ca=the server certificate itself,
                  ssl_version='PROTOCOL_TLS', username=partition,
                  password=user PIN, kmip_version=KMIP_1_2 or KMIP_2_0)
PyKMIP 0.10 wraps its socket with the legacy ssl.wrap_socket(): no hostname
check, cert_reqs CERT_REQUIRED (asserted below), and PROTOCOL_TLS negotiates
the highest version both sides have: TLS 1.3 with Arca (which accepts only
1.3; asserted below). The enclave's certificate is a self-signed RA-TLS
certificate, so the "CA" PyKMIP verifies against is that certificate (the
test fetched it first): a pin of the exact certificate the enclave presents.

Every step prints "ok: ..." on success; the first failure prints
"FAIL: ..." and exits 1 (2 for a usage error).
"""
import argparse
import os
import ssl
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # ssl.wrap_socket, PROTOCOL_TLS (PyKMIP 0.10)

from kmip.core import enums  # noqa: E402
from kmip.core.factories import attributes as attr_factory  # noqa: E402
from kmip.pie import client as pie_client  # noqa: E402
from kmip.pie import exceptions as pie_exceptions  # noqa: E402

VERSIONS = {"1.2": enums.KMIPVersion.KMIP_1_2, "2.0": enums.KMIPVersion.KMIP_2_0}


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


def expect_failure(what, fn, reason=None):
    """fn() must raise KmipOperationFailure (with reason, if given)."""
    try:
        fn()
    except pie_exceptions.KmipOperationFailure as e:
        if e.status != enums.ResultStatus.OPERATION_FAILED:
            fail("%s: result status %s, expected Operation Failed" % (what, e.status))
        if reason is not None and e.reason != reason:
            fail("%s: result reason %s (%s), expected %s" % (what, e.reason, e.message, reason))
        return e
    fail("%s: succeeded, expected a failure" % what)
    return None


def attribute_values(client, uid, names):
    """Get Attributes for names; returns {name: value} of what came back."""
    got_uid, attrs = client.get_attributes(uid, names)
    if got_uid != uid:
        fail("Get Attributes answered for %r, asked for %r" % (got_uid, uid))
    out = {}
    for a in attrs:
        out[a.attribute_name.value] = a.attribute_value.value
    return out


def scenario(client, prefix, v2):
    af = attr_factory.AttributeFactory()
    # KMIP 1.x has no lifecycle Result Reason: Arca answers Permission Denied
    # there (as PyKMIP's own server does), Wrong Key Lifecycle State in 2.0.
    wrong_state = enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE if v2 else enums.ResultReason.PERMISSION_DENIED
    Alg, Mask = enums.CryptographicAlgorithm, enums.CryptographicUsageMask

    # ---- AES-256: create, activate, encrypt/decrypt round trip -----------------
    aes_name = prefix + "-aes"
    aes = client.create(Alg.AES, 256, name=aes_name, cryptographic_usage_mask=[Mask.ENCRYPT, Mask.DECRYPT])
    if not isinstance(aes, str) or aes == "":
        fail("Create returned no Unique Identifier: %r" % (aes,))
    ok("Create AES-256 %s" % aes)
    state = attribute_values(client, aes, ["State"]).get("State")
    if state != enums.State.PRE_ACTIVE:
        fail("a KMIP-created key starts Pre-Active in Arca; State is %r" % (state,))
    cbc = {"cryptographic_algorithm": Alg.AES, "block_cipher_mode": enums.BlockCipherMode.CBC,
           "padding_method": enums.PaddingMethod.PKCS5, "random_iv": True}
    plaintext = b"interop with PyKMIP: " + prefix.encode() + b" " + bytes(range(40))
    expect_failure("Encrypt with a Pre-Active key", lambda: client.encrypt(plaintext, uid=aes, cryptographic_parameters=cbc),
                   wrong_state)
    client.activate(aes)
    state = attribute_values(client, aes, ["State"]).get("State")
    if state != enums.State.ACTIVE:
        fail("after Activate, State is %r" % (state,))
    ok("Activate (Pre-Active -> Active; Encrypt refused before with %s)" % wrong_state.name)
    ct, iv = client.encrypt(plaintext, uid=aes, cryptographic_parameters=cbc)
    if iv is None or len(iv) != 16:
        fail("Encrypt (CBC, Random IV) returned IV %r" % (iv,))
    if len(ct) != (len(plaintext) // 16 + 1) * 16 or plaintext in ct:
        fail("CBC/PKCS5 ciphertext has length %d for %d bytes of plaintext" % (len(ct), len(plaintext)))
    pt = client.decrypt(ct, uid=aes, cryptographic_parameters=cbc, iv_counter_nonce=iv)
    if pt != plaintext:
        fail("Decrypt did not give the plaintext back")
    ok("Encrypt/Decrypt AES-256-CBC PKCS5 round trip (server-made IV)")
    bad = bytearray(ct)
    bad[-1] ^= 0x01
    expect_failure("Decrypt of a damaged ciphertext",
                   lambda: client.decrypt(bytes(bad), uid=aes, cryptographic_parameters=cbc, iv_counter_nonce=iv),
                   enums.ResultReason.CRYPTOGRAPHIC_FAILURE)
    ok("a damaged ciphertext: Cryptographic Failure")
    gcm = {"cryptographic_algorithm": Alg.AES, "block_cipher_mode": enums.BlockCipherMode.GCM, "random_iv": True}
    if not v2:
        # KMIP 1.2 has no Authenticated Encryption Tag field: Arca appends the
        # 16-byte tag to the Data, and takes it back the same way.
        gct, giv = client.encrypt(plaintext, uid=aes, cryptographic_parameters=gcm)
        if giv is None or len(giv) != 12 or len(gct) != len(plaintext) + 16:
            fail("Encrypt AES-GCM (1.2): %d data bytes and IV %r" % (len(gct), giv))
        if client.decrypt(gct, uid=aes, cryptographic_parameters=gcm, iv_counter_nonce=giv) != plaintext:
            fail("Decrypt AES-GCM (1.2) did not give the plaintext back")
        bad = bytearray(gct)
        bad[0] ^= 0x01
        expect_failure("Decrypt AES-GCM of a damaged ciphertext",
                       lambda: client.decrypt(bytes(bad), uid=aes, cryptographic_parameters=gcm, iv_counter_nonce=giv),
                       enums.ResultReason.CRYPTOGRAPHIC_FAILURE)
        ok("Encrypt/Decrypt AES-256-GCM round trip (tag after the data); a damaged one: Cryptographic Failure")
    # KMIP 2.0 returns the GCM tag in its own field, which PyKMIP 0.10's
    # ProxyKmipClient.encrypt() drops (it returns only Data and IV): no GCM
    # round trip through PyKMIP's client API in 2.0.

    # ---- RSA-2048: create key pair, sign, verify --------------------------------
    pub, priv = client.create_key_pair(Alg.RSA, 2048, public_name=prefix + "-rsa-pub", private_name=prefix + "-rsa",
                                       public_usage_mask=[Mask.VERIFY], private_usage_mask=[Mask.SIGN])
    ok("Create Key Pair RSA-2048 public %s private %s" % (pub, priv))
    client.activate(priv)
    client.activate(pub)
    sig_params = {"cryptographic_algorithm": Alg.RSA, "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
                  "padding_method": enums.PaddingMethod.PKCS1v15}
    message = b"a message PyKMIP had Arca sign " + prefix.encode()
    sig = client.sign(message, uid=priv, cryptographic_parameters=sig_params)
    if not isinstance(sig, bytes) or len(sig) != 256:
        fail("Sign returned %r bytes, expected a 256-byte RSA-2048 signature" % (len(sig) if sig else sig,))
    ok("Sign SHA-256 with RSA PKCS#1 v1.5 (256 bytes)")
    v = client.signature_verify(message, sig, uid=pub, cryptographic_parameters=sig_params)
    if v != enums.ValidityIndicator.VALID:
        fail("Signature Verify of the signature: %r, expected Valid" % (v,))
    flipped = bytearray(sig)
    flipped[100] ^= 0xFF
    v = client.signature_verify(message, bytes(flipped), uid=pub, cryptographic_parameters=sig_params)
    if v != enums.ValidityIndicator.INVALID:
        fail("Signature Verify of a signature with one byte flipped: %r, expected Invalid" % (v,))
    v = client.signature_verify(message + b"!", sig, uid=pub, cryptographic_parameters=sig_params)
    if v != enums.ValidityIndicator.INVALID:
        fail("Signature Verify of another message: %r, expected Invalid" % (v,))
    ok("Signature Verify: Valid; a flipped signature byte and another message: Invalid")

    # ---- Locate by name, Get Attributes ------------------------------------------
    found = client.locate(attributes=[af.create_attribute(enums.AttributeType.NAME, aes_name)])
    if found != [aes]:
        fail("Locate Name=%s found %r, expected [%r]" % (aes_name, found, aes))
    found = client.locate(attributes=[af.create_attribute(enums.AttributeType.NAME, prefix + "-rsa")])
    if found != [priv]:
        fail("Locate Name=%s-rsa found %r, expected [%r]" % (prefix, found, priv))
    found = client.locate(attributes=[af.create_attribute(enums.AttributeType.NAME, prefix + "-nothing")])
    if found != []:
        fail("Locate of a name nobody has found %r" % (found,))
    ok("Locate by Name (the AES key, the RSA private key, nothing for an unknown name)")
    want = ["Cryptographic Algorithm", "Cryptographic Length", "Object Type"]
    got = attribute_values(client, aes, want)
    expect = {"Cryptographic Algorithm": Alg.AES, "Cryptographic Length": 256,
              "Object Type": enums.ObjectType.SYMMETRIC_KEY}
    if got != expect:
        fail("Get Attributes of the AES key: %r, expected %r" % (got, expect))
    got = attribute_values(client, pub, want)
    expect = {"Cryptographic Algorithm": Alg.RSA, "Cryptographic Length": 2048,
              "Object Type": enums.ObjectType.PUBLIC_KEY}
    if got != expect:
        fail("Get Attributes of the RSA public key: %r, expected %r" % (got, expect))
    ok("Get Attributes: AES/256/Symmetric Key, RSA/2048/Public Key")

    # ---- Revoke, Destroy, Get fails ----------------------------------------------
    expect_failure("Destroy of an Active key", lambda: client.destroy(aes))
    for uid in (aes, priv, pub):
        client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        state = attribute_values(client, uid, ["State"]).get("State")
        if state != enums.State.DEACTIVATED:
            fail("after Revoke (cessation of operation), State of %s is %r" % (uid, state))
    ok("Revoke: Deactivated (Destroy of the Active key was refused before)")
    expect_failure("Encrypt with a Deactivated key", lambda: client.encrypt(plaintext, uid=aes, cryptographic_parameters=cbc),
                   wrong_state)
    if client.decrypt(ct, uid=aes, cryptographic_parameters=cbc, iv_counter_nonce=iv) != plaintext:
        fail("a Deactivated key no longer decrypts what it encrypted")
    ok("a Deactivated key: Encrypt refused, Decrypt still works")
    for uid in (aes, priv, pub):
        client.destroy(uid)
        expect_failure("Get after Destroy of %s" % uid, lambda: client.get(uid), enums.ResultReason.ITEM_NOT_FOUND)
    if client.locate(attributes=[af.create_attribute(enums.AttributeType.NAME, aes_name)]) != []:
        fail("Locate still finds the destroyed AES key")
    ok("Destroy: Get answers Item Not Found; Locate finds nothing")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True, help="PEM the server certificate must verify against")
    ap.add_argument("--user", required=True, help="partition name (KMIP Username)")
    ap.add_argument("--version", choices=sorted(VERSIONS), required=True)
    ap.add_argument("--prefix", default="interop")
    ap.add_argument("--expect-refused", action="store_true",
                    help="only check that the connection (client certificate) is refused")
    ap.add_argument("--expect-bad-pin", action="store_true",
                    help="only check that a Locate with this (wrong) PIN is answered Permission Denied")
    a = ap.parse_args()
    pin = os.environ.get("ARCA_PIN")
    if not pin:
        print("pykmip_client.py: ARCA_PIN (the partition's user PIN) is not set", file=sys.stderr)
        sys.exit(2)

    client = pie_client.ProxyKmipClient(hostname=a.host, port=a.port, cert=a.cert, key=a.key, ca=a.ca,
                                        ssl_version="PROTOCOL_TLS", username=a.user, password=pin,
                                        kmip_version=VERSIONS[a.version])
    if client.proxy.cert_reqs != ssl.CERT_REQUIRED:
        fail("PyKMIP would not verify the server certificate (cert_reqs %r): a pykmip.conf overrides it?"
             % (client.proxy.cert_reqs,))
    try:
        client.open()
    except (ssl.SSLError, OSError) as e:
        if a.expect_refused:
            ok("connection refused as expected: %s" % (e,))
            return
        fail("TLS connection to %s:%d: %s" % (a.host, a.port, e))
    try:
        tls = client.proxy.socket.version()
        if tls != "TLSv1.3":
            fail("negotiated %s, expected TLSv1.3" % tls)
        if a.expect_refused:
            # TLS 1.3: a refused client certificate is reported after the
            # handshake, on the first read.
            try:
                client.locate(maximum_items=1)
            except (ssl.SSLError, OSError, pie_exceptions.KmipOperationFailure) as e:
                ok("refused as expected: %s" % (e,))
                return
            except Exception as e:  # PyKMIP raises assorted errors on a closed stream
                ok("refused as expected (%s: %s)" % (type(e).__name__, e))
                return
            fail("the server accepted a connection that should be refused")
        if a.expect_bad_pin:
            e = expect_failure("Locate with a wrong PIN", lambda: client.locate(maximum_items=1),
                               enums.ResultReason.AUTHENTICATION_NOT_SUCCESSFUL)
            ok("a wrong PIN: Authentication Not Successful (%s)" % (e.message,))
            return
        ok("KMIP %s over %s, cipher %s, client certificate %s" % (a.version, tls, client.proxy.socket.cipher()[0],
                                                                  a.cert))
        scenario(client, "%s-%s" % (a.prefix, a.version), a.version == "2.0")
    finally:
        client.close()
    ok("PyKMIP KMIP %s scenario complete" % a.version)


if __name__ == "__main__":
    main()
