#!/usr/bin/env python3
"""Writes the seeds of the kmip_request fuzz target:

    python3 fuzz/tools/make_kmip_corpus.py fuzz/corpus/kmip_request

Real KMIP Request Messages (TTLV, big-endian, values padded to 8 bytes),
with tag and enumeration values read from common/include/arca/kmip.h so
that they cannot drift from the handler's table. The keystore the target
opens holds "fuzz-aes" (AES-256), "fuzz-hmac" (generic secret) and the EC
P-256 pair "fuzz-ec" under random ids, so operations on existing keys are
batches: Locate by name, then the operation with the ID Placeholder (no
Unique Identifier). Deterministic: rerunning writes the same bytes."""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KMIP_H = os.path.join(HERE, "..", "..", "common", "include", "arca", "kmip.h")


def load_tables():
    text = open(KMIP_H).read()
    tags, ops, enums = {}, {}, {}
    for macro, table in (("ARCA_KMIP_TAGS", tags), ("ARCA_KMIP_OPERATIONS", ops)):
        body = text.split("#define %s(X)" % macro, 1)[1].split("\n\n", 1)[0]
        for name, value in re.findall(r"X\((\w+), (0x[0-9A-Fa-f]+),", body):
            table[name] = int(value, 16)
    for name, value in re.findall(r"\b(ARCA_KMIP_\w+) = (0x[0-9A-Fa-f]+)", text):
        enums[name[len("ARCA_KMIP_"):]] = int(value, 16)
    return tags, ops, enums


TAG, OP, E = load_tables()

STRUCTURE, INTEGER, ENUMERATION, BOOLEAN, TEXT, BYTES = 0x01, 0x02, 0x05, 0x06, 0x07, 0x08


def item(tag, typ, value):
    pad = (8 - len(value) % 8) % 8
    return struct.pack(">I", (TAG[tag] << 8) | typ) + struct.pack(">I", len(value)) + value + b"\0" * pad


def s(tag, *children):
    return item(tag, STRUCTURE, b"".join(children))


def i32(tag, v):
    return item(tag, INTEGER, struct.pack(">i", v))


def enum(tag, v):
    return item(tag, ENUMERATION, struct.pack(">I", v))


def boolean(tag, v):
    return item(tag, BOOLEAN, struct.pack(">Q", 1 if v else 0))


def text(tag, v):
    return item(tag, TEXT, v.encode())


def data(tag, v):
    return item(tag, BYTES, v)


def message(major, minor, items, cont=None, auth=None):
    header = [s("PROTOCOL_VERSION", i32("PROTOCOL_VERSION_MAJOR", major), i32("PROTOCOL_VERSION_MINOR", minor))]
    if auth is not None:
        user, password = auth
        header.append(s("AUTHENTICATION", s("CREDENTIAL",
                                            enum("CREDENTIAL_TYPE", E["CREDENTIAL_USERNAME_AND_PASSWORD"]),
                                            s("CREDENTIAL_VALUE", text("USERNAME", user),
                                              text("PASSWORD", password)))))
    if cont is not None:
        header.append(enum("BATCH_ERROR_CONTINUATION_OPTION", cont))
    header.append(i32("BATCH_COUNT", len(items)))
    return s("REQUEST_MESSAGE", s("REQUEST_HEADER", *header), *items)


def batch_item(op, *payload, batch_id=None):
    fields = [enum("OPERATION", OP[op])]
    if batch_id is not None:
        fields.append(data("UNIQUE_BATCH_ITEM_ID", batch_id))
    fields.append(s("REQUEST_PAYLOAD", *payload))
    return s("BATCH_ITEM", *fields)


class Attrs:
    """1.x: Attribute structures (Name, Value) in a Template-Attribute;
    2.x: attributes by tag in an Attributes structure."""

    def __init__(self, major):
        self.v2 = major >= 2

    def one(self, tag, encode):
        if self.v2:
            return encode(tag)
        name = {"CRYPTOGRAPHIC_ALGORITHM": "Cryptographic Algorithm", "CRYPTOGRAPHIC_LENGTH": "Cryptographic Length",
                "CRYPTOGRAPHIC_USAGE_MASK": "Cryptographic Usage Mask", "NAME": "Name",
                "OBJECT_TYPE": "Object Type",
                "CRYPTOGRAPHIC_DOMAIN_PARAMETERS": "Cryptographic Domain Parameters"}[tag]
        return s("ATTRIBUTE", text("ATTRIBUTE_NAME", name), encode("ATTRIBUTE_VALUE"))

    def alg(self, v):
        return self.one("CRYPTOGRAPHIC_ALGORITHM", lambda t: enum(t, v))

    def length(self, v):
        return self.one("CRYPTOGRAPHIC_LENGTH", lambda t: i32(t, v))

    def usage(self, v):
        return self.one("CRYPTOGRAPHIC_USAGE_MASK", lambda t: i32(t, v))

    def object_type(self, v):
        return self.one("OBJECT_TYPE", lambda t: enum(t, v))

    def name(self, v):
        return self.one("NAME", lambda t: s(t, text("NAME_VALUE", v),
                                            enum("NAME_TYPE", E["NAME_UNINTERPRETED_TEXT_STRING"])))

    def curve(self, v):
        return self.one("CRYPTOGRAPHIC_DOMAIN_PARAMETERS", lambda t: s(t, enum("RECOMMENDED_CURVE", v)))

    def container(self, v1_tag, v2_tag, *attrs):
        return s(v2_tag if self.v2 else v1_tag, *attrs)


def create_aes(major, name=None):
    a = Attrs(major)
    attrs = [a.alg(E["ALG_AES"]), a.length(256), a.usage(E["USAGE_ENCRYPT"] | E["USAGE_DECRYPT"])]
    if name is not None:
        attrs.append(a.name(name))
    return batch_item("CREATE", enum("OBJECT_TYPE", E["OBJECT_SYMMETRIC_KEY"]),
                      a.container("TEMPLATE_ATTRIBUTE", "ATTRIBUTES", *attrs))


def create_ec_pair(major):
    a = Attrs(major)
    return batch_item("CREATE_KEY_PAIR",
                      a.container("COMMON_TEMPLATE_ATTRIBUTE", "COMMON_ATTRIBUTES", a.alg(E["ALG_EC"]),
                                  a.curve(E["CURVE_P_256"]), a.name("seed-ec")),
                      a.container("PRIVATE_KEY_TEMPLATE_ATTRIBUTE", "PRIVATE_KEY_ATTRIBUTES",
                                  a.usage(E["USAGE_SIGN"])),
                      a.container("PUBLIC_KEY_TEMPLATE_ATTRIBUTE", "PUBLIC_KEY_ATTRIBUTES",
                                  a.usage(E["USAGE_VERIFY"])))


def locate(major, name, object_type=None):
    a = Attrs(major)
    attrs = [a.name(name)]
    if object_type is not None:
        attrs.append(a.object_type(object_type))
    if a.v2:
        return batch_item("LOCATE", i32("MAXIMUM_ITEMS", 4), s("ATTRIBUTES", *attrs))
    return batch_item("LOCATE", i32("MAXIMUM_ITEMS", 4), *attrs)


def cparams(*fields):
    return s("CRYPTOGRAPHIC_PARAMETERS", *fields)


def seeds():
    pt = b"arca fuzz plaintext, 32 bytes.."
    gcm = cparams(enum("BLOCK_CIPHER_MODE", E["MODE_GCM"]))
    cbc = cparams(enum("BLOCK_CIPHER_MODE", E["MODE_CBC"]), enum("PADDING_METHOD", E["PADDING_PKCS5"]))
    ecdsa = cparams(enum("DIGITAL_SIGNATURE_ALGORITHM", E["SIG_ECDSA_WITH_SHA256"]))
    priv = E["OBJECT_PRIVATE_KEY"]
    pub = E["OBJECT_PUBLIC_KEY"]
    yield "create_aes_12", message(1, 2, [create_aes(1, "seed-aes")])
    yield "create_aes_21", message(2, 1, [create_aes(2)])
    yield "create_key_pair_ec_14", message(1, 4, [create_ec_pair(1)])
    yield "create_key_pair_ec_20", message(2, 0, [create_ec_pair(2)])
    yield "locate_12", message(1, 2, [locate(1, "fuzz-aes")])
    yield "locate_20", message(2, 0, [locate(2, "fuzz-ec", pub)])
    yield "locate_encrypt_gcm_20", message(2, 0, [
        locate(2, "fuzz-aes"), batch_item("ENCRYPT", gcm, data("DATA", pt))])
    yield "locate_encrypt_cbc_13", message(1, 3, [
        locate(1, "fuzz-aes"), batch_item("ENCRYPT", cbc, data("DATA", pt), data("IV_COUNTER_NONCE", b"\x01" * 16))])
    yield "locate_sign_ec_20", message(2, 0, [
        locate(2, "fuzz-ec", priv), batch_item("SIGN", ecdsa, data("DATA", pt))])
    yield "locate_sign_ec_12", message(1, 2, [
        locate(1, "fuzz-ec", priv), batch_item("SIGN", ecdsa, data("DATA", pt))])
    yield "locate_mac_21", message(2, 1, [
        locate(2, "fuzz-hmac"),
        batch_item("MAC", cparams(enum("CRYPTOGRAPHIC_ALGORITHM", E["ALG_HMAC_SHA256"])), data("DATA", pt))])
    yield "locate_get_public_14", message(1, 4, [locate(1, "fuzz-ec", pub), batch_item("GET")])
    yield "locate_get_attributes_20", message(2, 0, [locate(2, "fuzz-aes"), batch_item("GET_ATTRIBUTES")])
    yield "create_encrypt_decrypt_continue_20", message(2, 0, [
        create_aes(2), batch_item("ENCRYPT", data("DATA", pt), batch_id=b"id-2"),
        batch_item("DECRYPT", data("DATA", b"\0" * 32), batch_id=b"id-3")],
        cont=E["BATCH_ERROR_CONTINUE"])
    yield "query_rng_12", message(1, 2, [
        batch_item("QUERY", enum("QUERY_FUNCTION", E["QUERY_OPERATIONS"]),
                   enum("QUERY_FUNCTION", E["QUERY_OBJECTS"])),
        batch_item("RNG_RETRIEVE", i32("DATA_LENGTH", 32))])
    yield "discover_versions_21", message(2, 1, [batch_item("DISCOVER_VERSIONS", s(
        "PROTOCOL_VERSION", i32("PROTOCOL_VERSION_MAJOR", 1), i32("PROTOCOL_VERSION_MINOR", 4)))])
    yield "auth_get_attribute_list_12", message(1, 2, [
        locate(1, "fuzz-hmac"), batch_item("GET_ATTRIBUTE_LIST")], auth=("p1", "fuzz-user-pin"))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_kmip_corpus.py <fuzz/corpus/kmip_request>")
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, msg in seeds():
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(msg)


if __name__ == "__main__":
    main()
