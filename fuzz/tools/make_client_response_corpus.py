#!/usr/bin/env python3
"""Writes the seeds of the client_response fuzz target:

    python3 fuzz/tools/make_client_response_corpus.py fuzz/corpus/client_response

KMIP Response Messages shaped as arca-enclave writes them (Response
Header: Protocol Version, Time Stamp, Batch Count; Batch Item: Operation,
optional Unique Batch Item ID, Result Status, then the Response Payload or
Result Reason + Result Message): Arca Call successes carrying a
local-protocol response (u32 status | body), each Operation Failed reason
the client maps to a status, the framing-error answer (no Operation, 2.1)
and a few that the client must refuse as malformed (batch count 2,
another operation, Result Status Pending, two payload items). Tag, operation
and reason values are read from common/include/arca/kmip.h.
Deterministic: rerunning writes the same bytes."""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KMIP_H = os.path.join(HERE, "..", "..", "common", "include", "arca", "kmip.h")


def load_tables():
    text = open(KMIP_H).read()
    tables = {}
    for macro in ("ARCA_KMIP_TAGS", "ARCA_KMIP_OPERATIONS", "ARCA_KMIP_REASONS"):
        body = text.split("#define %s(X)" % macro, 1)[1].split("\n\n", 1)[0]
        tables[macro] = {n: int(v, 16) for n, v in re.findall(r"X\((\w+), (0x[0-9A-Fa-f]+),", body)}
    tables["ARCA_RESPONSE"] = int(re.search(r"#define ARCA_KMIP_TAG_ARCA_RESPONSE (0x[0-9A-Fa-f]+)", text).group(1), 16)
    tables["ARCA_CALL"] = int(re.search(r"#define ARCA_KMIP_OP_ARCA_CALL (0x[0-9A-Fa-f]+)", text).group(1), 16)
    return tables


TB = load_tables()
TAG, OP, REASON = TB["ARCA_KMIP_TAGS"], TB["ARCA_KMIP_OPERATIONS"], TB["ARCA_KMIP_REASONS"]
TAG["ARCA_RESPONSE"] = TB["ARCA_RESPONSE"]
OP["ARCA_CALL"] = TB["ARCA_CALL"]

STRUCTURE, INTEGER, ENUMERATION, TEXT, BYTES, DATETIME = 0x01, 0x02, 0x05, 0x07, 0x08, 0x09
SUCCESS, OPERATION_FAILED, PENDING = 0, 1, 2
TIME = 1795449600  # a fixed Time Stamp


def item(tag, typ, value):
    pad = (8 - len(value) % 8) % 8
    return struct.pack(">I", (TAG[tag] << 8) | typ) + struct.pack(">I", len(value)) + value + b"\0" * pad


def s(tag, *children):
    return item(tag, STRUCTURE, b"".join(children))


def i32(tag, v):
    return item(tag, INTEGER, struct.pack(">i", v))


def enum(tag, v):
    return item(tag, ENUMERATION, struct.pack(">I", v))


def header(major, minor, count):
    return s("RESPONSE_HEADER",
             s("PROTOCOL_VERSION", i32("PROTOCOL_VERSION_MAJOR", major), i32("PROTOCOL_VERSION_MINOR", minor)),
             item("TIME_STAMP", DATETIME, struct.pack(">q", TIME)), i32("BATCH_COUNT", count))


def response(items, major=2, minor=0, count=None):
    return s("RESPONSE_MESSAGE", header(major, minor, len(items) if count is None else count), *items)


def lp_response(status, body=b""):
    return struct.pack(">I", status) + body


def ok_item(lp, op="ARCA_CALL", batch_id=None, extra=b""):
    return s("BATCH_ITEM", enum("OPERATION", OP[op]),
             item("UNIQUE_BATCH_ITEM_ID", BYTES, batch_id) if batch_id else b"",
             enum("RESULT_STATUS", SUCCESS),
             s("RESPONSE_PAYLOAD", item("ARCA_RESPONSE", BYTES, lp), extra))


def failed_item(reason, text, op="ARCA_CALL"):
    return s("BATCH_ITEM", enum("OPERATION", OP[op]) if op else b"",
             enum("RESULT_STATUS", OPERATION_FAILED), enum("RESULT_REASON", REASON[reason]),
             item("RESULT_MESSAGE", TEXT, text.encode()))


def seeds():
    yield "ok_empty", response([ok_item(lp_response(0))])
    yield "ok_body", response([ok_item(lp_response(0, struct.pack(">H", 5) + b"hello" + bytes(range(32))))])
    yield "ok_inner_error", response([ok_item(lp_response(9))])
    yield "ok_batch_id", response([ok_item(lp_response(0, b"\x00\x01"), batch_id=b"\x01\x02\x03\x04")])
    yield "ok_large", response([ok_item(lp_response(0, bytes(i & 0xFF for i in range(32768))))])
    yield "ok_v14", response([ok_item(lp_response(0, b"x" * 13))], 1, 4)
    for reason, text in (("INVALID_MESSAGE", "malformed TTLV message"),
                         ("INVALID_FIELD", "field Operation has the wrong type or is repeated"),
                         ("PERMISSION_DENIED", "not allowed"),
                         ("AUTHENTICATION_NOT_SUCCESSFUL", "log in first"),
                         ("ITEM_NOT_FOUND", "no such object"),
                         ("RESPONSE_TOO_LARGE", "response over the cap"),
                         ("OPERATION_NOT_SUPPORTED", "unknown operation"),
                         ("SERVER_LIMIT_EXCEEDED", "busy"),
                         ("CRYPTOGRAPHIC_FAILURE", "bad tag"),
                         ("GENERAL_FAILURE", "internal error")):
        yield "failed_" + reason.lower(), response([failed_item(reason, text)])
    # The enclave's framing-error answer: no Operation, version 2.1.
    yield "failed_framing", response([failed_item("INVALID_MESSAGE", "not a KMIP Request Message "
                                                  "(tag 0x420078, type Structure)", op=None)], 2, 1)
    yield "failed_no_reason", response([s("BATCH_ITEM", enum("OPERATION", OP["ARCA_CALL"]),
                                          enum("RESULT_STATUS", OPERATION_FAILED))])
    yield "failed_control_chars", response([failed_item("ITEM_NOT_FOUND", "line\nbreak\x1b[31m\x7f")])
    # Malformed for the client (ARCA_ERR_DECODE).
    yield "bad_batch_count_2", response([ok_item(lp_response(0)), ok_item(lp_response(0))])
    yield "bad_count_mismatch", response([ok_item(lp_response(0))], count=2)
    yield "bad_other_operation", response([ok_item(lp_response(0), op="DISCOVER_VERSIONS")])
    yield "bad_pending", response([s("BATCH_ITEM", enum("OPERATION", OP["ARCA_CALL"]),
                                     enum("RESULT_STATUS", PENDING))])
    yield "bad_two_payload_items", response([ok_item(lp_response(0), extra=item("ARCA_RESPONSE", BYTES, b"x"))])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_client_response_corpus.py DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
