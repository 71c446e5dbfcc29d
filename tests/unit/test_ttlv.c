/* Unit tests: the KMIP TTLV codec (ttlv.h) and the KMIP tables (kmip.h).
 *
 * Known answers come from two independent sources: the TTLV examples of
 * the KMIP specification (section "TTLV encoding", the examples of each
 * item type), and messages encoded by PyKMIP 0.10 (Debian python3-pykmip;
 * the script that made them is described above each one). Every
 * malformation the decoder refuses is asserted with its exact status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arca/kmip.h"
#include "arca/ttlv.h"

/* ---- Helpers ------------------------------------------------------------ */

/* Hex to bytes; spaces and '|' are ignored. Returns the length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p != '\0'; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
            continue;
        }
        assert_true(n < cap);
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    assert_int_equal(hi, -1);
    return n;
}

static arca_status decode_buf(const uint8_t *buf, size_t len, const arca_ttlv_limits *lim, arca_ttlv_tree **out)
{
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    arca_status st = arca_ttlv_decode(&c, lim, out);
    if (st == ARCA_OK) {
        assert_int_equal(arca_cursor_remaining(&c), 0);
    } else {
        assert_null(*out);
        assert_int_equal(arca_cursor_remaining(&c), len); /* did not move */
    }
    return st;
}

static arca_status decode_hex(const char *hex, arca_ttlv_tree **out)
{
    static uint8_t buf[4096];
    size_t len = unhex(hex, buf, sizeof(buf));
    return decode_buf(buf, len, NULL, out);
}

/* Finish b and require exactly want[0..want_len). */
static void expect_built(arca_builder *b, const uint8_t *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(arca_builder_finish(b, &out, &out_len), ARCA_OK);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
    free(out);
}

/* Re-encoding a decoded tree gives the input bytes back. */
static void expect_reencodes(const arca_ttlv_tree *t, const uint8_t *buf, size_t len)
{
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 1u << 20), ARCA_OK);
    assert_int_equal(arca_ttlv_encode_node(&b, arca_ttlv_root(t)), ARCA_OK);
    expect_built(&b, buf, len);
}

static void expect_text(const arca_ttlv_node *n, const char *want)
{
    const uint8_t *p;
    size_t len;
    assert_non_null(n);
    assert_int_equal(arca_ttlv_get_text(n, &p, &len), ARCA_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(p, want, len);
}

/* ---- Known answers: the specification's examples ----------------------- */

typedef struct spec_case {
    const char *hex;
    arca_ttlv_type type;
} spec_case;

static const spec_case spec_cases[] = {
    {"42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00", ARCA_TTLV_INTEGER},
    {"42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00", ARCA_TTLV_LONG_INTEGER},
    {"42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00", ARCA_TTLV_BIG_INTEGER},
    {"42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00", ARCA_TTLV_ENUMERATION},
    {"42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01", ARCA_TTLV_BOOLEAN},
    {"42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00", ARCA_TTLV_TEXT_STRING},
    {"42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00", ARCA_TTLV_BYTE_STRING},
    {"42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8", ARCA_TTLV_DATE_TIME},
    {"42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00", ARCA_TTLV_INTERVAL},
    {"42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | 42 00 05 | 02 | "
     "00 00 00 04 | 00 00 00 FF 00 00 00 00",
     ARCA_TTLV_STRUCTURE},
};

static void test_spec_examples_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++) {
        uint8_t buf[128];
        size_t len = unhex(spec_cases[i].hex, buf, sizeof(buf));
        arca_ttlv_tree *t = NULL;
        assert_int_equal(decode_buf(buf, len, NULL, &t), ARCA_OK);
        const arca_ttlv_node *n = arca_ttlv_root(t);
        assert_int_equal(n->tag, 0x420020);
        assert_int_equal(n->type, spec_cases[i].type);
        expect_reencodes(t, buf, len);
        arca_ttlv_free(t);
    }
}

static void test_spec_examples_values(void **state)
{
    (void)state;
    arca_ttlv_tree *t = NULL;
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    bool b;
    const uint8_t *p;
    size_t len;

    assert_int_equal(decode_hex(spec_cases[0].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_int(arca_ttlv_root(t), &i32), ARCA_OK);
    assert_int_equal(i32, 8);
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[1].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_long(arca_ttlv_root(t), &i64), ARCA_OK);
    assert_true(i64 == 123456789000000000LL);
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[2].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_bigint(arca_ttlv_root(t), &p, &len), ARCA_OK);
    static const uint8_t big[] = {0x00, 0x00, 0x00, 0x00, 0x03, 0xFD, 0x35, 0xEB,
                                  0x6B, 0xC2, 0xDF, 0x46, 0x18, 0x08, 0x00, 0x00};
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(p, big, sizeof(big));
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[3].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_enum(arca_ttlv_root(t), &u32), ARCA_OK);
    assert_int_equal(u32, 255);
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[4].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_bool(arca_ttlv_root(t), &b), ARCA_OK);
    assert_true(b);
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[5].hex, &t), ARCA_OK);
    expect_text(arca_ttlv_root(t), "Hello World");
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[6].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_bytes(arca_ttlv_root(t), &p, &len), ARCA_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(p, "\x01\x02\x03", 3);
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[7].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_datetime(arca_ttlv_root(t), &i64), ARCA_OK);
    assert_true(i64 == 1205495800); /* 2008-03-14 11:56:40 UTC */
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[8].hex, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_interval(arca_ttlv_root(t), &u32), ARCA_OK);
    assert_int_equal(u32, 864000); /* 10 days */
    arca_ttlv_free(t);

    assert_int_equal(decode_hex(spec_cases[9].hex, &t), ARCA_OK);
    const arca_ttlv_node *s = arca_ttlv_root(t);
    assert_int_equal(s->num_children, 2);
    assert_int_equal(arca_ttlv_child_enum(s, 0x420004, &u32), ARCA_OK);
    assert_int_equal(u32, 254);
    assert_int_equal(arca_ttlv_child_int(s, 0x420005, &i32), ARCA_OK);
    assert_int_equal(i32, 255);
    assert_int_equal(arca_ttlv_num_nodes(t), 3);
    arca_ttlv_free(t);
}

/* The encoder writes the specification's bytes from values. */
static void test_spec_examples_encode(void **state)
{
    (void)state;
    static const uint8_t big[] = {0x03, 0xFD, 0x35, 0xEB, 0x6B, 0xC2, 0xDF, 0x46, 0x18, 0x08, 0x00, 0x00};
    for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++) {
        uint8_t want[128];
        size_t want_len = unhex(spec_cases[i].hex, want, sizeof(want));
        arca_builder b;
        size_t mark;
        assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
        switch (spec_cases[i].type) {
        case ARCA_TTLV_INTEGER:
            assert_int_equal(arca_ttlv_add_int(&b, 0x420020, 8), ARCA_OK);
            break;
        case ARCA_TTLV_LONG_INTEGER:
            assert_int_equal(arca_ttlv_add_long(&b, 0x420020, 123456789000000000LL), ARCA_OK);
            break;
        case ARCA_TTLV_BIG_INTEGER:
            assert_int_equal(arca_ttlv_add_bigint(&b, 0x420020, big, sizeof(big)), ARCA_OK);
            break;
        case ARCA_TTLV_ENUMERATION:
            assert_int_equal(arca_ttlv_add_enum(&b, 0x420020, 255), ARCA_OK);
            break;
        case ARCA_TTLV_BOOLEAN:
            assert_int_equal(arca_ttlv_add_bool(&b, 0x420020, true), ARCA_OK);
            break;
        case ARCA_TTLV_TEXT_STRING:
            assert_int_equal(arca_ttlv_add_text(&b, 0x420020, "Hello World", 11), ARCA_OK);
            break;
        case ARCA_TTLV_BYTE_STRING:
            assert_int_equal(arca_ttlv_add_bytes(&b, 0x420020, "\x01\x02\x03", 3), ARCA_OK);
            break;
        case ARCA_TTLV_DATE_TIME:
            assert_int_equal(arca_ttlv_add_datetime(&b, 0x420020, 1205495800), ARCA_OK);
            break;
        case ARCA_TTLV_INTERVAL:
            assert_int_equal(arca_ttlv_add_interval(&b, 0x420020, 864000), ARCA_OK);
            break;
        case ARCA_TTLV_STRUCTURE:
            assert_int_equal(arca_ttlv_begin_struct(&b, 0x420020, &mark), ARCA_OK);
            assert_int_equal(arca_ttlv_add_enum(&b, 0x420004, 254), ARCA_OK);
            assert_int_equal(arca_ttlv_add_int(&b, 0x420005, 255), ARCA_OK);
            assert_int_equal(arca_ttlv_end_struct(&b, mark), ARCA_OK);
            break;
        default:
            fail();
        }
        expect_built(&b, want, want_len);
    }
}

/* ---- Known answers: messages encoded by PyKMIP ------------------------- */

/* kmip.core.messages.RequestMessage, KMIP 1.2, one batch item: Create a
 * Symmetric Key with a Template-Attribute of Cryptographic Algorithm AES,
 * Cryptographic Length 256, Usage Mask Encrypt|Decrypt, Name "key-1". */
static const char HEX_create12[] =
    "42007801000001604200770100000038420069010000002042006a0200000004000000010000000042006b0200000004"
    "000000020000000042000d0200000004000000010000000042000f010000011842005c05000000040000000100000000"
    "42007901000001004200570500000004000000020000000042009101000000e8420008010000003042000a0700000017"
    "43727970746f6772617068696320416c676f726974686d0042000b050000000400000003000000004200080100000030"
    "42000a070000001443727970746f67726170686963204c656e6774680000000042000b02000000040000010000000000"
    "420008010000003042000a070000001843727970746f67726170686963205573616765204d61736b42000b0200000004"
    "0000000c00000000420008010000003842000a07000000044e616d650000000042000b01000000204200550700000005"
    "6b65792d3100000042005405000000040000000100000000"
    ;

/* The same Create in KMIP 2.0 (Attributes instead of Template-Attribute). */
static const char HEX_create20[] =
    "42007801000000d04200770100000038420069010000002042006a0200000004000000020000000042006b0200000004"
    "000000000000000042000d0200000004000000010000000042000f010000008842005c05000000040000000100000000"
    "420079010000007042005705000000040000000200000000420125010000005842002805000000040000000300000000"
    "42002a0200000004000001000000000042002c02000000040000000c0000000042005301000000204200550700000005"
    "6b65792d3100000042005405000000040000000100000000"
    ;

/* KMIP 1.2, two batch items: DiscoverVersions offering 2.0 and 1.2, and
 * Encrypt of "hello world" with key "1", GCM, tag length 16, an IV, and
 * Unique Batch Item ID 0x01. */
static const char HEX_batch12[] =
    "42007801000001484200770100000038420069010000002042006a0200000004000000010000000042006b0200000004"
    "000000020000000042000d0200000004000000020000000042000f010000006842005c05000000040000001e00000000"
    "4200790100000050420069010000002042006a0200000004000000020000000042006b02000000040000000000000000"
    "420069010000002042006a0200000004000000010000000042006b0200000004000000020000000042000f0100000090"
    "42005c05000000040000001f000000004200930800000001010000000000000042007901000000684200940700000001"
    "310000000000000042002b0100000020420011050000000400000009000000004200ce02000000040000001000000000"
    "4200c2080000000b68656c6c6f20776f726c64000000000042003d080000000c30313233343536373839616200000000"
    ;

/* A ResponseMessage, KMIP 1.2, Time Stamp 1700000000, two items: a Get of
 * Symmetric Key "42" (Raw, AES-256, key bytes 00..1f) that succeeded and a
 * Destroy that failed with Permission Denied, "not yours". */
static const char HEX_getresp12[] =
    "42007b010000016042007a0100000048420069010000002042006a0200000004000000010000000042006b0200000004"
    "00000002000000004200920900000008000000006553f10042000d0200000004000000020000000042000f01000000b8"
    "42005c05000000040000000a0000000042007f0500000004000000000000000042007c01000000904200570500000004"
    "00000002000000004200940700000002343200000000000042008f010000006842004001000000604200420500000004"
    "000000010000000042004501000000284200430800000020000102030405060708090a0b0c0d0e0f1011121314151617"
    "18191a1b1c1d1e1f4200280500000004000000030000000042002a0200000004000001000000000042000f0100000048"
    "42005c0500000004000000140000000042007f0500000004000000010000000042007e05000000040000000c00000000"
    "42007d07000000096e6f7420796f75727300000000000000"
    ;

static uint8_t msg_buf[4096];

static void add_header(arca_builder *b, int32_t major, int32_t minor, int32_t count)
{
    size_t hdr, ver;
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_REQUEST_HEADER, &hdr), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_PROTOCOL_VERSION, &ver), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, major), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, minor), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, ver), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_BATCH_COUNT, count), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, hdr), ARCA_OK);
}

static void add_name(arca_builder *b, uint32_t tag)
{
    size_t name;
    assert_int_equal(arca_ttlv_begin_struct(b, tag, &name), ARCA_OK);
    assert_int_equal(arca_ttlv_add_text(b, ARCA_KMIP_TAG_NAME_VALUE, "key-1", 5), ARCA_OK);
    assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_NAME_TYPE, ARCA_KMIP_NAME_UNINTERPRETED_TEXT_STRING), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, name), ARCA_OK);
}

/* A 1.x Attribute: { Attribute Name (text), Attribute Value }. The value is
 * added by the caller between begin and end. */
static size_t begin_attr(arca_builder *b, const char *name)
{
    size_t mark;
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_ATTRIBUTE, &mark), ARCA_OK);
    assert_int_equal(arca_ttlv_add_text(b, ARCA_KMIP_TAG_ATTRIBUTE_NAME, name, strlen(name)), ARCA_OK);
    return mark;
}

static void build_create(arca_builder *b, bool v2)
{
    size_t msg, item, payload, attrs, a;
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_REQUEST_MESSAGE, &msg), ARCA_OK);
    add_header(b, v2 ? 2 : 1, v2 ? 0 : 2, 1);
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_BATCH_ITEM, &item), ARCA_OK);
    assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_OPERATION, ARCA_KMIP_OP_CREATE), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_REQUEST_PAYLOAD, &payload), ARCA_OK);
    assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_OBJECT_TYPE, ARCA_KMIP_OBJECT_SYMMETRIC_KEY), ARCA_OK);
    int32_t usage = ARCA_KMIP_USAGE_ENCRYPT | ARCA_KMIP_USAGE_DECRYPT;
    if (v2) {
        assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_ATTRIBUTES, &attrs), ARCA_OK);
        assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, ARCA_KMIP_ALG_AES), ARCA_OK);
        assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 256), ARCA_OK);
        assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, usage), ARCA_OK);
        add_name(b, ARCA_KMIP_TAG_NAME);
    } else {
        assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_TEMPLATE_ATTRIBUTE, &attrs), ARCA_OK);
        a = begin_attr(b, "Cryptographic Algorithm");
        assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_ATTRIBUTE_VALUE, ARCA_KMIP_ALG_AES), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(b, a), ARCA_OK);
        a = begin_attr(b, "Cryptographic Length");
        assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_ATTRIBUTE_VALUE, 256), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(b, a), ARCA_OK);
        a = begin_attr(b, "Cryptographic Usage Mask");
        assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_ATTRIBUTE_VALUE, usage), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(b, a), ARCA_OK);
        a = begin_attr(b, "Name");
        add_name(b, ARCA_KMIP_TAG_ATTRIBUTE_VALUE);
        assert_int_equal(arca_ttlv_end_struct(b, a), ARCA_OK);
    }
    assert_int_equal(arca_ttlv_end_struct(b, attrs), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, payload), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, item), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, msg), ARCA_OK);
}

static void check_header(const arca_ttlv_node *msg, int32_t major, int32_t minor, int32_t count)
{
    const arca_ttlv_node *hdr, *ver;
    int32_t v;
    assert_int_equal(arca_ttlv_child(msg, ARCA_KMIP_TAG_REQUEST_HEADER, ARCA_TTLV_STRUCTURE, &hdr), ARCA_OK);
    assert_int_equal(arca_ttlv_child(hdr, ARCA_KMIP_TAG_PROTOCOL_VERSION, ARCA_TTLV_STRUCTURE, &ver), ARCA_OK);
    assert_int_equal(arca_ttlv_child_int(ver, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, &v), ARCA_OK);
    assert_int_equal(v, major);
    assert_int_equal(arca_ttlv_child_int(ver, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, &v), ARCA_OK);
    assert_int_equal(v, minor);
    assert_int_equal(arca_ttlv_child_int(hdr, ARCA_KMIP_TAG_BATCH_COUNT, &v), ARCA_OK);
    assert_int_equal(v, count);
    assert_int_equal(arca_ttlv_count(msg, ARCA_KMIP_TAG_BATCH_ITEM), (size_t)count);
}

static void check_name(const arca_ttlv_node *name)
{
    uint32_t e;
    assert_int_equal(name->type, ARCA_TTLV_STRUCTURE);
    expect_text(arca_ttlv_find(name, ARCA_KMIP_TAG_NAME_VALUE), "key-1");
    assert_int_equal(arca_ttlv_child_enum(name, ARCA_KMIP_TAG_NAME_TYPE, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_NAME_UNINTERPRETED_TEXT_STRING);
}

static void test_pykmip_create_1_2(void **state)
{
    (void)state;
    size_t len = unhex(HEX_create12, msg_buf, sizeof(msg_buf));
    arca_ttlv_tree *t = NULL;
    assert_int_equal(decode_buf(msg_buf, len, NULL, &t), ARCA_OK);
    const arca_ttlv_node *msg = arca_ttlv_root(t), *item, *payload, *tmpl;
    assert_int_equal(msg->tag, ARCA_KMIP_TAG_REQUEST_MESSAGE);
    check_header(msg, 1, 2, 1);
    uint32_t e;
    assert_int_equal(arca_ttlv_child(msg, ARCA_KMIP_TAG_BATCH_ITEM, ARCA_TTLV_STRUCTURE, &item), ARCA_OK);
    assert_int_equal(arca_ttlv_child_enum(item, ARCA_KMIP_TAG_OPERATION, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_OP_CREATE);
    assert_int_equal(arca_ttlv_child(item, ARCA_KMIP_TAG_REQUEST_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload), ARCA_OK);
    assert_int_equal(arca_ttlv_child_enum(payload, ARCA_KMIP_TAG_OBJECT_TYPE, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    assert_int_equal(arca_ttlv_child(payload, ARCA_KMIP_TAG_TEMPLATE_ATTRIBUTE, ARCA_TTLV_STRUCTURE, &tmpl),
                     ARCA_OK);
    assert_int_equal(arca_ttlv_count(tmpl, ARCA_KMIP_TAG_ATTRIBUTE), 4);

    /* Walk the attributes the way a 1.x handler does: name -> tag. */
    static const uint32_t want_tags[] = {ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH,
                                         ARCA_KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, ARCA_KMIP_TAG_NAME};
    size_t i = 0;
    for (const arca_ttlv_node *a = arca_ttlv_find(tmpl, ARCA_KMIP_TAG_ATTRIBUTE); a != NULL;
         a = arca_ttlv_find_next(a), i++) {
        const uint8_t *name;
        size_t name_len;
        assert_int_equal(arca_ttlv_child_text(a, ARCA_KMIP_TAG_ATTRIBUTE_NAME, &name, &name_len), ARCA_OK);
        assert_int_equal(arca_kmip_tag_by_name(name, name_len), want_tags[i]);
        const arca_ttlv_node *v = arca_ttlv_find(a, ARCA_KMIP_TAG_ATTRIBUTE_VALUE);
        assert_non_null(v);
        int32_t iv;
        switch (i) {
        case 0:
            assert_int_equal(arca_ttlv_get_enum(v, &e), ARCA_OK);
            assert_int_equal(e, ARCA_KMIP_ALG_AES);
            break;
        case 1:
            assert_int_equal(arca_ttlv_get_int(v, &iv), ARCA_OK);
            assert_int_equal(iv, 256);
            break;
        case 2:
            assert_int_equal(arca_ttlv_get_int(v, &iv), ARCA_OK);
            assert_int_equal(iv, ARCA_KMIP_USAGE_ENCRYPT | ARCA_KMIP_USAGE_DECRYPT);
            break;
        case 3:
            check_name(v);
            break;
        default:
            fail();
        }
    }
    assert_int_equal(i, 4);
    expect_reencodes(t, msg_buf, len);

    /* Our encoder, from values, writes PyKMIP's bytes exactly. */
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    build_create(&b, false);
    expect_built(&b, msg_buf, len);
    arca_ttlv_free(t);
}

static void test_pykmip_create_2_0(void **state)
{
    (void)state;
    size_t len = unhex(HEX_create20, msg_buf, sizeof(msg_buf));
    arca_ttlv_tree *t = NULL;
    assert_int_equal(decode_buf(msg_buf, len, NULL, &t), ARCA_OK);
    const arca_ttlv_node *msg = arca_ttlv_root(t), *item, *payload, *attrs, *name;
    check_header(msg, 2, 0, 1);
    assert_int_equal(arca_ttlv_child(msg, ARCA_KMIP_TAG_BATCH_ITEM, ARCA_TTLV_STRUCTURE, &item), ARCA_OK);
    assert_int_equal(arca_ttlv_child(item, ARCA_KMIP_TAG_REQUEST_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload), ARCA_OK);
    assert_int_equal(arca_ttlv_child(payload, ARCA_KMIP_TAG_ATTRIBUTES, ARCA_TTLV_STRUCTURE, &attrs), ARCA_OK);
    uint32_t e;
    int32_t v;
    assert_int_equal(arca_ttlv_child_enum(attrs, ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_ALG_AES);
    assert_int_equal(arca_ttlv_child_int(attrs, ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH, &v), ARCA_OK);
    assert_int_equal(v, 256);
    assert_int_equal(arca_ttlv_child_int(attrs, ARCA_KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, &v), ARCA_OK);
    assert_int_equal(v, 0x0C);
    assert_int_equal(arca_ttlv_child(attrs, ARCA_KMIP_TAG_NAME, ARCA_TTLV_STRUCTURE, &name), ARCA_OK);
    check_name(name);
    expect_reencodes(t, msg_buf, len);

    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    build_create(&b, true);
    expect_built(&b, msg_buf, len);
    arca_ttlv_free(t);
}

static void test_pykmip_batch(void **state)
{
    (void)state;
    size_t len = unhex(HEX_batch12, msg_buf, sizeof(msg_buf));
    arca_ttlv_tree *t = NULL;
    assert_int_equal(decode_buf(msg_buf, len, NULL, &t), ARCA_OK);
    const arca_ttlv_node *msg = arca_ttlv_root(t), *payload, *params;
    check_header(msg, 1, 2, 2);
    /* Batch Item repeats: child() refuses it as single-valued. */
    assert_int_equal(arca_ttlv_child(msg, ARCA_KMIP_TAG_BATCH_ITEM, ARCA_TTLV_STRUCTURE, &payload), ARCA_ERR_DECODE);

    const arca_ttlv_node *dv = arca_ttlv_find(msg, ARCA_KMIP_TAG_BATCH_ITEM);
    const arca_ttlv_node *enc = arca_ttlv_find_next(dv);
    assert_non_null(enc);
    assert_null(arca_ttlv_find_next(enc));
    uint32_t e;
    assert_int_equal(arca_ttlv_child_enum(dv, ARCA_KMIP_TAG_OPERATION, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_OP_DISCOVER_VERSIONS);
    assert_int_equal(arca_ttlv_child(dv, ARCA_KMIP_TAG_REQUEST_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload), ARCA_OK);
    assert_int_equal(arca_ttlv_count(payload, ARCA_KMIP_TAG_PROTOCOL_VERSION), 2);
    const arca_ttlv_node *ver = arca_ttlv_find(payload, ARCA_KMIP_TAG_PROTOCOL_VERSION);
    int32_t v;
    assert_int_equal(arca_ttlv_child_int(ver, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, &v), ARCA_OK);
    assert_int_equal(v, 2);
    ver = arca_ttlv_find_next(ver);
    assert_int_equal(arca_ttlv_child_int(ver, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, &v), ARCA_OK);
    assert_int_equal(v, 2);

    const uint8_t *p;
    size_t n;
    assert_int_equal(arca_ttlv_child_enum(enc, ARCA_KMIP_TAG_OPERATION, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_OP_ENCRYPT);
    assert_int_equal(arca_ttlv_child_bytes(enc, ARCA_KMIP_TAG_UNIQUE_BATCH_ITEM_ID, &p, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(p[0], 0x01);
    assert_int_equal(arca_ttlv_child(enc, ARCA_KMIP_TAG_REQUEST_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload), ARCA_OK);
    assert_int_equal(arca_ttlv_child_text(payload, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &p, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(p[0], '1');
    assert_int_equal(arca_ttlv_child(payload, ARCA_KMIP_TAG_CRYPTOGRAPHIC_PARAMETERS, ARCA_TTLV_STRUCTURE, &params),
                     ARCA_OK);
    assert_int_equal(arca_ttlv_child_enum(params, ARCA_KMIP_TAG_BLOCK_CIPHER_MODE, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_MODE_GCM);
    assert_int_equal(arca_ttlv_child_int(params, ARCA_KMIP_TAG_TAG_LENGTH, &v), ARCA_OK);
    assert_int_equal(v, 16);
    assert_int_equal(arca_ttlv_child_bytes(payload, ARCA_KMIP_TAG_DATA, &p, &n), ARCA_OK);
    assert_int_equal(n, 11);
    assert_memory_equal(p, "hello world", 11);
    assert_int_equal(arca_ttlv_child_bytes(payload, ARCA_KMIP_TAG_IV_COUNTER_NONCE, &p, &n), ARCA_OK);
    assert_int_equal(n, 12);
    assert_memory_equal(p, "0123456789ab", 12);
    expect_reencodes(t, msg_buf, len);
    arca_ttlv_free(t);
}

static void test_pykmip_response(void **state)
{
    (void)state;
    size_t len = unhex(HEX_getresp12, msg_buf, sizeof(msg_buf));
    arca_ttlv_tree *t = NULL;
    assert_int_equal(decode_buf(msg_buf, len, NULL, &t), ARCA_OK);
    const arca_ttlv_node *msg = arca_ttlv_root(t), *hdr, *payload, *key, *block, *value;
    assert_int_equal(msg->tag, ARCA_KMIP_TAG_RESPONSE_MESSAGE);
    assert_int_equal(arca_ttlv_child(msg, ARCA_KMIP_TAG_RESPONSE_HEADER, ARCA_TTLV_STRUCTURE, &hdr), ARCA_OK);
    int64_t ts;
    assert_int_equal(arca_ttlv_child_datetime(hdr, ARCA_KMIP_TAG_TIME_STAMP, &ts), ARCA_OK);
    assert_true(ts == 1700000000);

    const arca_ttlv_node *get = arca_ttlv_find(msg, ARCA_KMIP_TAG_BATCH_ITEM);
    const arca_ttlv_node *destroy = arca_ttlv_find_next(get);
    uint32_t e;
    assert_int_equal(arca_ttlv_child_enum(get, ARCA_KMIP_TAG_RESULT_STATUS, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_STATUS_SUCCESS);
    assert_int_equal(arca_ttlv_child(get, ARCA_KMIP_TAG_RESPONSE_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload), ARCA_OK);
    expect_text(arca_ttlv_find(payload, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER), "42");
    assert_int_equal(arca_ttlv_child(payload, ARCA_KMIP_TAG_SYMMETRIC_KEY, ARCA_TTLV_STRUCTURE, &key), ARCA_OK);
    assert_int_equal(arca_ttlv_child(key, ARCA_KMIP_TAG_KEY_BLOCK, ARCA_TTLV_STRUCTURE, &block), ARCA_OK);
    assert_int_equal(arca_ttlv_child_enum(block, ARCA_KMIP_TAG_KEY_FORMAT_TYPE, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_KEY_FORMAT_RAW);
    assert_int_equal(arca_ttlv_child(block, ARCA_KMIP_TAG_KEY_VALUE, ARCA_TTLV_STRUCTURE, &value), ARCA_OK);
    const uint8_t *km;
    size_t km_len;
    assert_int_equal(arca_ttlv_child_bytes(value, ARCA_KMIP_TAG_KEY_MATERIAL, &km, &km_len), ARCA_OK);
    assert_int_equal(km_len, 32);
    for (size_t i = 0; i < 32; i++) assert_int_equal(km[i], i);
    /* Borrowed, not copied: the key bytes are the message's own. */
    assert_true(km > msg_buf && km + km_len <= msg_buf + len);

    assert_int_equal(arca_ttlv_child_enum(destroy, ARCA_KMIP_TAG_OPERATION, &e), ARCA_OK);
    assert_string_equal(arca_kmip_operation_name(e), "Destroy");
    assert_int_equal(arca_ttlv_child_enum(destroy, ARCA_KMIP_TAG_RESULT_STATUS, &e), ARCA_OK);
    assert_string_equal(arca_kmip_status_name(e), "Operation Failed");
    assert_int_equal(arca_ttlv_child_enum(destroy, ARCA_KMIP_TAG_RESULT_REASON, &e), ARCA_OK);
    assert_int_equal(e, ARCA_KMIP_REASON_PERMISSION_DENIED);
    assert_string_equal(arca_kmip_reason_name(e), "Permission Denied");
    expect_text(arca_ttlv_find(destroy, ARCA_KMIP_TAG_RESULT_MESSAGE), "not yours");
    expect_reencodes(t, msg_buf, len);
    arca_ttlv_free(t);
}

/* ---- Malformed input: each with its exact status ----------------------- */

typedef struct bad_case {
    const char *what;
    const char *hex;
    arca_status want;
} bad_case;

static const bad_case bad_cases[] = {
    {"empty", "", ARCA_ERR_DECODE},
    {"short header", "42 00 20 02 00 00 00", ARCA_ERR_DECODE},
    {"header only, value missing", "42 00 20 | 02 | 00 00 00 04", ARCA_ERR_DECODE},
    {"integer value cut short", "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00", ARCA_ERR_DECODE},
    {"structure length beyond buffer", "42 00 20 | 01 | 00 00 00 18 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00",
     ARCA_ERR_DECODE},
    {"text length beyond buffer", "42 00 20 | 07 | 00 00 00 09 | 41 41 41 41 41 41 41 41", ARCA_ERR_DECODE},
    {"byte string length 4 GiB", "42 00 20 | 08 | FF FF FF FF | 00 00 00 00 00 00 00 00", ARCA_ERR_DECODE},
    {"text padding missing", "42 00 20 | 07 | 00 00 00 03 | 41 42 43", ARCA_ERR_DECODE},
    {"non-zero integer padding", "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 01", ARCA_ERR_DECODE},
    {"non-zero enumeration padding", "42 00 20 | 05 | 00 00 00 04 | 00 00 00 08 80 00 00 00", ARCA_ERR_DECODE},
    {"non-zero interval padding", "42 00 20 | 0A | 00 00 00 04 | 00 00 00 08 00 01 00 00", ARCA_ERR_DECODE},
    {"non-zero text padding", "42 00 20 | 07 | 00 00 00 03 | 41 42 43 00 00 00 00 20", ARCA_ERR_DECODE},
    {"non-zero byte string padding", "42 00 20 | 08 | 00 00 00 01 | 01 FF 00 00 00 00 00 00", ARCA_ERR_DECODE},
    {"integer of length 8", "42 00 20 | 02 | 00 00 00 08 | 00 00 00 00 00 00 00 08", ARCA_ERR_DECODE},
    {"enumeration of length 0", "42 00 20 | 05 | 00 00 00 00", ARCA_ERR_DECODE},
    {"interval of length 8", "42 00 20 | 0A | 00 00 00 08 | 00 00 00 00 00 00 00 08", ARCA_ERR_DECODE},
    {"long integer of length 4", "42 00 20 | 03 | 00 00 00 04 | 00 00 00 08 00 00 00 00", ARCA_ERR_DECODE},
    {"date-time of length 16", "42 00 20 | 09 | 00 00 00 10 | 00 00 00 00 47 DA 67 F8 00 00 00 00 00 00 00 00",
     ARCA_ERR_DECODE},
    {"date-time extended of length 4", "42 00 20 | 0B | 00 00 00 04 | 00 00 00 08 00 00 00 00", ARCA_ERR_DECODE},
    {"boolean of length 4", "42 00 20 | 06 | 00 00 00 04 | 00 00 00 01 00 00 00 00", ARCA_ERR_DECODE},
    {"boolean 2", "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 02", ARCA_ERR_DECODE},
    {"boolean with high bits", "42 00 20 | 06 | 00 00 00 08 | 01 00 00 00 00 00 00 01", ARCA_ERR_DECODE},
    {"big integer of length 3", "42 00 20 | 04 | 00 00 00 03 | 01 02 03 00 00 00 00 00", ARCA_ERR_DECODE},
    {"big integer of length 12", "42 00 20 | 04 | 00 00 00 0C | 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00",
     ARCA_ERR_DECODE},
    {"type 0", "42 00 20 | 00 | 00 00 00 00", ARCA_ERR_DECODE},
    {"type 0x0C", "42 00 20 | 0C | 00 00 00 00", ARCA_ERR_DECODE},
    {"type 0xFF", "42 00 20 | FF | 00 00 00 00", ARCA_ERR_DECODE},
    {"tag 0x000000", "00 00 00 | 01 | 00 00 00 00", ARCA_ERR_DECODE},
    {"tag 0x430001", "43 00 01 | 01 | 00 00 00 00", ARCA_ERR_DECODE},
    {"child with a bad tag", "42 00 20 | 01 | 00 00 00 08 | 00 00 00 | 01 | 00 00 00 00", ARCA_ERR_DECODE},
    {"trailing byte", "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00 | 00", ARCA_ERR_DECODE},
    {"two top-level items",
     "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00 | 42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00",
     ARCA_ERR_DECODE},
    {"structure shorter than its child",
     "42 00 20 | 01 | 00 00 00 08 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00", ARCA_ERR_DECODE},
    {"structure length not a multiple of 8",
     "42 00 20 | 01 | 00 00 00 0C | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00", ARCA_ERR_DECODE},
    {"structure length cuts a child header",
     "42 00 20 | 01 | 00 00 00 14 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00 | 42 00 05 | 02 | 00 00 00 04 "
     "| 00 00 00 01 00 00 00 00",
     ARCA_ERR_DECODE},
    {"structure longer than its children",
     "42 00 20 | 01 | 00 00 00 18 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00 | 00 00 00 00 00 00 00 00",
     ARCA_ERR_DECODE},
    {"child of the inner structure escapes",
     "42 00 20 | 01 | 00 00 00 18 | 42 00 21 | 01 | 00 00 00 08 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00",
     ARCA_ERR_DECODE},
    /* UTF-8 */
    {"utf8 lone continuation", "42 00 20 | 07 | 00 00 00 01 | 80 00 00 00 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 overlong 2-byte", "42 00 20 | 07 | 00 00 00 02 | C0 80 00 00 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 overlong 3-byte", "42 00 20 | 07 | 00 00 00 03 | E0 80 AF 00 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 overlong 4-byte", "42 00 20 | 07 | 00 00 00 04 | F0 8F BF BF 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 surrogate", "42 00 20 | 07 | 00 00 00 03 | ED A0 80 00 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 above U+10FFFF", "42 00 20 | 07 | 00 00 00 04 | F4 90 80 80 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 F5 lead", "42 00 20 | 07 | 00 00 00 01 | F5 00 00 00 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 truncated sequence", "42 00 20 | 07 | 00 00 00 02 | E2 82 00 00 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 bad continuation", "42 00 20 | 07 | 00 00 00 03 | E2 28 A1 00 00 00 00 00", ARCA_ERR_DECODE},
    {"utf8 FF", "42 00 20 | 07 | 00 00 00 01 | FF 00 00 00 00 00 00 00", ARCA_ERR_DECODE},
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        uint8_t buf[256];
        size_t len = unhex(bad_cases[i].hex, buf, sizeof(buf));
        arca_ttlv_tree *t = (arca_ttlv_tree *)buf; /* must come back NULL */
        arca_status st = decode_buf(buf, len, NULL, &t);
        if (st != bad_cases[i].want) print_error("case '%s': got %s\n", bad_cases[i].what, arca_status_name(st));
        assert_int_equal(st, bad_cases[i].want);
    }
}

static void test_utf8_valid_forms(void **state)
{
    (void)state;
    /* é (2 bytes), € (3), U+10FFFF, 😀 (4), U+D7FF and U+E000 (around the
     * surrogates), NUL (valid UTF-8). */
    static const char *ok[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF4\x8F\xBF\xBF", "\xF0\x9F\x98\x80",
                               "\xED\x9F\xBF", "\xEE\x80\x80", "plain ascii"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(arca_ttlv_utf8_valid((const uint8_t *)ok[i], strlen(ok[i])));
        arca_builder b;
        assert_int_equal(arca_builder_init(&b, 0, 256), ARCA_OK);
        assert_int_equal(arca_ttlv_add_text(&b, ARCA_KMIP_TAG_NAME_VALUE, ok[i], strlen(ok[i])), ARCA_OK);
        uint8_t *enc;
        size_t enc_len;
        assert_int_equal(arca_builder_finish(&b, &enc, &enc_len), ARCA_OK);
        arca_ttlv_tree *t = NULL;
        assert_int_equal(decode_buf(enc, enc_len, NULL, &t), ARCA_OK);
        expect_text(arca_ttlv_root(t), ok[i]);
        arca_ttlv_free(t);
        free(enc);
    }
    assert_true(arca_ttlv_utf8_valid((const uint8_t *)"\0", 1));
    assert_true(arca_ttlv_utf8_valid(NULL, 0));
    assert_false(arca_ttlv_utf8_valid(NULL, 1));
}

/* depth nested empty structures; *out_len set. */
static uint8_t *make_nested(size_t depth, size_t *out_len)
{
    size_t len = depth * 8;
    uint8_t *buf = calloc(1, len);
    assert_non_null(buf);
    for (size_t i = 0; i < depth; i++) {
        uint8_t *h = buf + i * 8;
        uint32_t inner = (uint32_t)(8 * (depth - 1 - i));
        h[0] = 0x42;
        h[1] = 0x00;
        h[2] = 0x20;
        h[3] = ARCA_TTLV_STRUCTURE;
        h[4] = (uint8_t)(inner >> 24);
        h[5] = (uint8_t)(inner >> 16);
        h[6] = (uint8_t)(inner >> 8);
        h[7] = (uint8_t)inner;
    }
    *out_len = len;
    return buf;
}

static void test_depth_cap(void **state)
{
    (void)state;
    size_t len;
    arca_ttlv_tree *t = NULL;
    uint8_t *buf = make_nested(ARCA_TTLV_DEFAULT_MAX_DEPTH, &len);
    assert_int_equal(decode_buf(buf, len, NULL, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_num_nodes(t), ARCA_TTLV_DEFAULT_MAX_DEPTH);
    expect_reencodes(t, buf, len);
    arca_ttlv_free(t);
    free(buf);

    buf = make_nested(ARCA_TTLV_DEFAULT_MAX_DEPTH + 1, &len);
    assert_int_equal(decode_buf(buf, len, NULL, &t), ARCA_ERR_TOO_LARGE);
    arca_ttlv_limits lim = {0, ARCA_TTLV_DEFAULT_MAX_DEPTH + 1, 0};
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_OK);
    arca_ttlv_free(t);
    free(buf);

    buf = make_nested(1000, &len); /* the "nesting 1,000 deep" */
    assert_int_equal(decode_buf(buf, len, NULL, &t), ARCA_ERR_TOO_LARGE);
    lim.max_depth = ARCA_TTLV_LIMIT_MAX_DEPTH;
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_ERR_TOO_LARGE);
    free(buf);

    buf = make_nested(3, &len);
    lim.max_depth = 2;
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_ERR_TOO_LARGE);
    lim.max_depth = 3;
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_OK);
    arca_ttlv_free(t);
    free(buf);
}

/* A structure of num empty byte strings: num + 1 items. */
static uint8_t *make_wide(size_t num, size_t *out_len)
{
    arca_builder b;
    size_t mark;
    assert_int_equal(arca_builder_init(&b, 0, 8 + 8 * num), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&b, 0x420020, &mark), ARCA_OK);
    for (size_t i = 0; i < num; i++) assert_int_equal(arca_ttlv_add_bytes(&b, 0x420021, NULL, 0), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&b, mark), ARCA_OK);
    uint8_t *buf;
    assert_int_equal(arca_builder_finish(&b, &buf, out_len), ARCA_OK);
    return buf;
}

static void test_node_cap(void **state)
{
    (void)state;
    size_t len;
    arca_ttlv_tree *t = NULL;
    uint8_t *buf = make_wide(ARCA_TTLV_DEFAULT_MAX_NODES - 1, &len);
    assert_int_equal(decode_buf(buf, len, NULL, &t), ARCA_OK);
    assert_int_equal(arca_ttlv_num_nodes(t), ARCA_TTLV_DEFAULT_MAX_NODES);
    assert_int_equal(arca_ttlv_root(t)->num_children, ARCA_TTLV_DEFAULT_MAX_NODES - 1);
    assert_int_equal(arca_ttlv_count(arca_ttlv_root(t), 0x420021), ARCA_TTLV_DEFAULT_MAX_NODES - 1);
    expect_reencodes(t, buf, len);
    arca_ttlv_free(t);
    free(buf);

    buf = make_wide(ARCA_TTLV_DEFAULT_MAX_NODES, &len);
    assert_int_equal(decode_buf(buf, len, NULL, &t), ARCA_ERR_TOO_LARGE);
    arca_ttlv_limits lim = {0, 0, ARCA_TTLV_DEFAULT_MAX_NODES + 1};
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_OK);
    arca_ttlv_free(t);
    lim.max_nodes = 10;
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_ERR_TOO_LARGE);
    free(buf);
}

static void test_size_cap(void **state)
{
    (void)state;
    size_t len;
    arca_ttlv_tree *t = NULL;
    uint8_t *buf = make_wide(8, &len); /* 72 bytes */
    assert_int_equal(len, 72);
    arca_ttlv_limits lim = {72, 0, 0};
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_OK);
    arca_ttlv_free(t);
    lim.max_message_len = 71;
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_ERR_TOO_LARGE);
    free(buf);

    /* The default cap: 1 MiB is accepted, one item more is not. */
    size_t big = ARCA_TTLV_DEFAULT_MAX_MESSAGE / 8 - 1;
    lim = (arca_ttlv_limits){0, 0, ARCA_TTLV_LIMIT_MAX_NODES};
    buf = make_wide(big, &len);
    assert_int_equal(len, ARCA_TTLV_DEFAULT_MAX_MESSAGE);
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_OK);
    arca_ttlv_free(t);
    free(buf);
    buf = make_wide(big + 1, &len);
    assert_int_equal(decode_buf(buf, len, &lim, &t), ARCA_ERR_TOO_LARGE);
    free(buf);

    /* Limits beyond the hard limits are the caller's mistake. */
    uint8_t one[16];
    size_t one_len = unhex(spec_cases[0].hex, one, sizeof(one));
    arca_ttlv_limits over[] = {{ARCA_TTLV_LIMIT_MAX_MESSAGE + 1, 0, 0},
                               {0, ARCA_TTLV_LIMIT_MAX_DEPTH + 1, 0},
                               {0, 0, ARCA_TTLV_LIMIT_MAX_NODES + 1}};
    for (size_t i = 0; i < 3; i++) assert_int_equal(decode_buf(one, one_len, &over[i], &t), ARCA_ERR_ARGS);
    arca_cursor c;
    arca_cursor_init(&c, one, one_len);
    assert_int_equal(arca_ttlv_decode(NULL, NULL, &t), ARCA_ERR_ARGS);
    assert_int_equal(arca_ttlv_decode(&c, NULL, NULL), ARCA_ERR_ARGS);
}

static void test_message_len(void **state)
{
    (void)state;
    uint8_t h[16];
    size_t out = 7;
    unhex("42 00 78 | 01 | 00 00 01 60", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_OK);
    assert_int_equal(out, 8 + 0x160);
    unhex("42 00 20 | 07 | 00 00 00 03", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_OK);
    assert_int_equal(out, 16);
    unhex("42 00 20 | 02 | 00 00 00 04", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_OK);
    assert_int_equal(out, 16);

    out = 7;
    /* A 4 GiB length field is refused before anything is read. */
    unhex("42 00 78 | 01 | FF FF FF F8", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_ERR_TOO_LARGE);
    unhex("42 00 20 | 08 | FF FF FF FF", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_ERR_TOO_LARGE);
    unhex("42 00 78 | 01 | 00 10 00 00", h, sizeof(h)); /* 1 MiB + header */
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_ttlv_message_len(h, 8, ARCA_TTLV_DEFAULT_MAX_MESSAGE + 8, &out), ARCA_OK);
    assert_int_equal(out, ARCA_TTLV_DEFAULT_MAX_MESSAGE + 8);
    out = 7;
    unhex("42 00 78 | 01 | 00 00 00 0C", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_ERR_DECODE);
    unhex("00 00 78 | 01 | 00 00 00 08", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_ERR_DECODE);
    unhex("42 00 78 | 0D | 00 00 00 08", h, sizeof(h));
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, &out), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_message_len(h, 7, 0, &out), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_message_len(h, 8, ARCA_TTLV_LIMIT_MAX_MESSAGE + 1, &out), ARCA_ERR_ARGS);
    assert_int_equal(arca_ttlv_message_len(h, 8, 0, NULL), ARCA_ERR_ARGS);
    assert_int_equal(out, 7); /* untouched by every failure */
}

/* ---- Lookups and typed getters ----------------------------------------- */

static void test_getters_wrong_type(void **state)
{
    (void)state;
    arca_ttlv_tree *t = NULL;
    assert_int_equal(decode_hex(spec_cases[9].hex, &t), ARCA_OK); /* { enum 254, int 255 } */
    const arca_ttlv_node *s = arca_ttlv_root(t), *en = s->first_child, *in = en->next;
    int32_t i32 = 7;
    int64_t i64 = 7;
    uint32_t u32 = 7;
    bool b = true;
    const uint8_t *p = NULL;
    size_t len = 7;
    char cbuf[8] = "x";

    assert_int_equal(arca_ttlv_get_int(en, &i32), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_enum(in, &u32), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_long(in, &i64), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_bool(in, &b), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_datetime(in, &i64), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_interval(en, &u32), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_text(in, &p, &len), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_bytes(s, &p, &len), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_bigint(in, &p, &len), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_text_cstr(in, cbuf, sizeof(cbuf)), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_get_int(NULL, &i32), ARCA_ERR_ARGS);
    assert_int_equal(arca_ttlv_get_int(in, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_ttlv_get_text(in, &p, NULL), ARCA_ERR_ARGS);
    /* Outputs untouched by failures. */
    assert_int_equal(i32, 7);
    assert_true(i64 == 7);
    assert_int_equal(u32, 7);
    assert_true(b);
    assert_null(p);
    assert_int_equal(len, 7);
    assert_string_equal(cbuf, "x");

    /* child(): absent, wrong type, parent not a structure. */
    const arca_ttlv_node *n = NULL;
    assert_int_equal(arca_ttlv_child(s, 0x420099, ARCA_TTLV_INTEGER, &n), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_ttlv_child_int(s, 0x420004, &i32), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_child_enum(s, 0x420005, &u32), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_child_text(s, 0x420005, &p, &len), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_child_bytes(s, 0x420099, &p, &len), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_ttlv_child_long(s, 0x420005, &i64), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_child_bool(s, 0x420005, &b), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_child_datetime(s, 0x420005, &i64), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_child(in, 0x420005, ARCA_TTLV_INTEGER, &n), ARCA_ERR_DECODE);
    assert_int_equal(arca_ttlv_child(s, 0x420005, ARCA_TTLV_INTEGER, NULL), ARCA_ERR_ARGS);
    assert_null(n);
    assert_null(arca_ttlv_find(in, 0x420005));
    assert_null(arca_ttlv_find(NULL, 0x420005));
    assert_null(arca_ttlv_find_next(NULL));
    assert_int_equal(arca_ttlv_count(in, 0x420005), 0);
    arca_ttlv_free(t);
}

static void test_duplicate_single_valued(void **state)
{
    (void)state;
    arca_ttlv_tree *t = NULL;
    assert_int_equal(decode_hex("42 00 20 | 01 | 00 00 00 20 | 42 00 05 | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 | "
                                "42 00 05 | 02 | 00 00 00 04 | 00 00 00 02 00 00 00 00",
                                &t),
                     ARCA_OK);
    int32_t v = 9;
    assert_int_equal(arca_ttlv_child_int(arca_ttlv_root(t), 0x420005, &v), ARCA_ERR_DECODE);
    assert_int_equal(v, 9);
    assert_int_equal(arca_ttlv_count(arca_ttlv_root(t), 0x420005), 2);
    arca_ttlv_free(t);
}

static void test_text_cstr(void **state)
{
    (void)state;
    arca_ttlv_tree *t = NULL;
    char buf[12];
    assert_int_equal(decode_hex(spec_cases[5].hex, &t), ARCA_OK); /* "Hello World" */
    assert_int_equal(arca_ttlv_get_text_cstr(arca_ttlv_root(t), buf, 11), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_ttlv_get_text_cstr(arca_ttlv_root(t), buf, sizeof(buf)), ARCA_OK);
    assert_string_equal(buf, "Hello World");
    arca_ttlv_free(t);
    assert_int_equal(decode_hex("42 00 20 | 07 | 00 00 00 03 | 61 00 62 00 00 00 00 00", &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_text_cstr(arca_ttlv_root(t), buf, sizeof(buf)), ARCA_ERR_DECODE);
    arca_ttlv_free(t);
    assert_int_equal(decode_hex("42 00 20 | 07 | 00 00 00 00", &t), ARCA_OK);
    assert_int_equal(arca_ttlv_get_text_cstr(arca_ttlv_root(t), buf, 1), ARCA_OK);
    assert_string_equal(buf, "");
    arca_ttlv_free(t);
}

/* ---- Round trips and the encoder --------------------------------------- */

static const uint8_t bigneg[] = {0xFF, 0x00, 0x01};

static void build_all_types(arca_builder *b)
{
    size_t outer, inner, empty;
    assert_int_equal(arca_ttlv_begin_struct(b, 0x420001, &outer), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, 0x420002, INT32_MIN), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, 0x420003, -1), ARCA_OK);
    assert_int_equal(arca_ttlv_add_long(b, 0x420004, INT64_MIN), ARCA_OK);
    assert_int_equal(arca_ttlv_add_long(b, 0x420005, -2), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint(b, 0x420006, bigneg, sizeof(bigneg)), ARCA_OK);
    assert_int_equal(arca_ttlv_add_enum(b, 0x420007, 0x8000A001u), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bool(b, 0x420008, false), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(b, 0x54A000, &inner), ARCA_OK);
    assert_int_equal(arca_ttlv_add_text(b, 0x420009, "\xE2\x82\xAC 5", 5), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bytes(b, 0x42000A, "\x00\xFF", 2), ARCA_OK);
    assert_int_equal(arca_ttlv_add_text(b, 0x42000B, "", 0), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bytes(b, 0x42000C, NULL, 0), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(b, 0x42000D, &empty), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, empty), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, inner), ARCA_OK);
    assert_int_equal(arca_ttlv_add_datetime(b, 0x42000E, -1), ARCA_OK);
    assert_int_equal(arca_ttlv_add_interval(b, 0x42000F, UINT32_MAX), ARCA_OK);
    assert_int_equal(arca_ttlv_add_datetime_ext(b, 0x420010, 1700000000123456LL), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, outer), ARCA_OK);
}

static void test_round_trip_all_types(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    build_all_types(&b);
    uint8_t *enc;
    size_t len;
    assert_int_equal(arca_builder_finish(&b, &enc, &len), ARCA_OK);
    assert_int_equal(len % 8, 0);

    arca_ttlv_tree *t = NULL;
    assert_int_equal(decode_buf(enc, len, NULL, &t), ARCA_OK);
    const arca_ttlv_node *r = arca_ttlv_root(t), *inner, *n;
    assert_int_equal(r->num_children, 11);
    assert_int_equal(arca_ttlv_num_nodes(t), 17);
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    bool bv = true;
    const uint8_t *p;
    size_t plen;
    assert_int_equal(arca_ttlv_child_int(r, 0x420002, &i32), ARCA_OK);
    assert_int_equal(i32, INT32_MIN);
    assert_int_equal(arca_ttlv_child_int(r, 0x420003, &i32), ARCA_OK);
    assert_int_equal(i32, -1);
    assert_int_equal(arca_ttlv_child_long(r, 0x420004, &i64), ARCA_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(arca_ttlv_child_long(r, 0x420005, &i64), ARCA_OK);
    assert_true(i64 == -2);
    assert_int_equal(arca_ttlv_child(r, 0x420006, ARCA_TTLV_BIG_INTEGER, &n), ARCA_OK);
    assert_int_equal(arca_ttlv_get_bigint(n, &p, &plen), ARCA_OK);
    static const uint8_t bigneg_ext[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01};
    assert_int_equal(plen, 8);
    assert_memory_equal(p, bigneg_ext, 8);
    assert_int_equal(arca_ttlv_child_enum(r, 0x420007, &u32), ARCA_OK);
    assert_int_equal(u32, 0x8000A001u);
    assert_int_equal(arca_ttlv_child_bool(r, 0x420008, &bv), ARCA_OK);
    assert_false(bv);
    assert_int_equal(arca_ttlv_child(r, 0x54A000, ARCA_TTLV_STRUCTURE, &inner), ARCA_OK);
    expect_text(arca_ttlv_find(inner, 0x420009), "\xE2\x82\xAC 5");
    assert_int_equal(arca_ttlv_child_bytes(inner, 0x42000A, &p, &plen), ARCA_OK);
    assert_int_equal(plen, 2);
    assert_memory_equal(p, "\x00\xFF", 2);
    expect_text(arca_ttlv_find(inner, 0x42000B), "");
    assert_int_equal(arca_ttlv_child_bytes(inner, 0x42000C, &p, &plen), ARCA_OK);
    assert_int_equal(plen, 0);
    assert_int_equal(arca_ttlv_child(inner, 0x42000D, ARCA_TTLV_STRUCTURE, &n), ARCA_OK);
    assert_int_equal(n->num_children, 0);
    assert_null(n->first_child);
    assert_int_equal(arca_ttlv_child_datetime(r, 0x42000E, &i64), ARCA_OK);
    assert_true(i64 == -1);
    assert_int_equal(arca_ttlv_child(r, 0x42000F, ARCA_TTLV_INTERVAL, &n), ARCA_OK);
    assert_int_equal(arca_ttlv_get_interval(n, &u32), ARCA_OK);
    assert_int_equal(u32, UINT32_MAX);
    assert_int_equal(arca_ttlv_child(r, 0x420010, ARCA_TTLV_DATE_TIME_EXTENDED, &n), ARCA_OK);
    assert_true(n->i64 == 1700000000123456LL);

    /* encode(decode(b)) == b, and decode of that equals the first tree. */
    expect_reencodes(t, enc, len);
    arca_ttlv_tree *t2 = NULL;
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, enc, len);
    assert_int_equal(decode_buf(copy, len, NULL, &t2), ARCA_OK);
    assert_true(arca_ttlv_equal(arca_ttlv_root(t), arca_ttlv_root(t2)));
    arca_ttlv_free(t2);
    /* One value changed: no longer equal. */
    copy[len - 1] ^= 1;
    assert_int_equal(decode_buf(copy, len, NULL, &t2), ARCA_OK);
    assert_false(arca_ttlv_equal(arca_ttlv_root(t), arca_ttlv_root(t2)));
    assert_false(arca_ttlv_equal(arca_ttlv_root(t), inner));
    assert_true(arca_ttlv_equal(NULL, NULL));
    assert_false(arca_ttlv_equal(inner, NULL));
    arca_ttlv_free(t2);
    free(copy);
    arca_ttlv_free(t);
    free(enc);
    arca_ttlv_free(NULL);
}

static void test_bigint_encoding(void **state)
{
    (void)state;
    arca_builder b;
    static const uint8_t pos[] = {0x01, 0x02};
    static const uint8_t top[] = {0x80};
    static const uint8_t eight[] = {0x80, 1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint(&b, 0x420020, pos, sizeof(pos)), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint(&b, 0x420020, top, sizeof(top)), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint_unsigned(&b, 0x420020, top, sizeof(top)), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint_unsigned(&b, 0x420020, eight, sizeof(eight)), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint_unsigned(&b, 0x420020, pos, sizeof(pos)), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint(&b, 0x420020, NULL, 0), ARCA_OK);
    uint8_t want[128];
    size_t want_len = unhex("42 00 20 04 00 00 00 08 | 00 00 00 00 00 00 01 02"
                            "42 00 20 04 00 00 00 08 | FF FF FF FF FF FF FF 80"
                            "42 00 20 04 00 00 00 08 | 00 00 00 00 00 00 00 80"
                            "42 00 20 04 00 00 00 10 | 00 00 00 00 00 00 00 00 80 01 02 03 04 05 06 07"
                            "42 00 20 04 00 00 00 08 | 00 00 00 00 00 00 01 02"
                            "42 00 20 04 00 00 00 00",
                            want, sizeof(want));
    expect_built(&b, want, want_len);
}

static void test_encoder_errors(void **state)
{
    (void)state;
    arca_builder b;
    uint8_t *out = NULL;
    size_t out_len = 0, mark = 0;

    /* A tag outside 0x42xxxx / 0x54xxxx poisons the builder. */
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&b, 0x430001, 1), ARCA_ERR_ARGS);
    assert_int_equal(arca_ttlv_add_int(&b, 0x420001, 1), ARCA_ERR_ARGS);
    assert_int_equal(arca_builder_finish(&b, &out, &out_len), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);

    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&b, 0x1420001, &mark), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);

    /* Invalid UTF-8 is never written. */
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_add_text(&b, 0x420001, "\xC0\x80", 2), ARCA_ERR_ARGS);
    assert_int_equal(b.len, 0);
    assert_int_equal(arca_builder_finish(&b, &out, &out_len), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);

    /* NULL data with a length. */
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bytes(&b, 0x420001, NULL, 3), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_add_bigint(&b, 0x420001, NULL, 3), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);

    /* end_struct with a mark that is no structure header. */
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&b, 0x420001, 1), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&b, 0), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&b, 0x420001, &mark), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&b, 4), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&b, 100), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&b, 0x420001, NULL), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
    assert_int_equal(arca_ttlv_add_int(NULL, 0x420001, 1), ARCA_ERR_ARGS);
    assert_int_equal(arca_ttlv_end_struct(NULL, 0), ARCA_ERR_ARGS);
    assert_int_equal(arca_ttlv_encode_node(NULL, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_builder_init(&b, 0, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_encode_node(&b, NULL), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
}

/* The builder's cap is the encoder's cap. */
static void test_encoder_cap(void **state)
{
    (void)state;
    arca_builder b;
    uint8_t *out = NULL;
    size_t out_len = 0, mark;
    assert_int_equal(arca_builder_init(&b, 0, 24), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&b, 0x420001, &mark), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&b, 0x420002, 1), ARCA_OK); /* 24 bytes: full */
    assert_int_equal(arca_ttlv_add_bool(&b, 0x420003, true), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_ttlv_end_struct(&b, mark), ARCA_ERR_TOO_LARGE); /* poisoned */
    assert_int_equal(arca_builder_finish(&b, &out, &out_len), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);

    /* Padding counts: a 1-byte text needs 16 bytes. */
    assert_int_equal(arca_builder_init(&b, 0, 15), ARCA_OK);
    assert_int_equal(arca_ttlv_add_text(&b, 0x420001, "a", 1), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);

    /* A fixed buffer: exactly enough, then one item too many. */
    uint8_t fixed[16];
    arca_builder_init_fixed(&b, fixed, sizeof(fixed));
    assert_int_equal(arca_ttlv_add_enum(&b, 0x420001, 3), ARCA_OK);
    assert_int_equal(arca_ttlv_add_enum(&b, 0x420001, 3), ARCA_ERR_TOO_LARGE);

    /* Re-encoding a big tree into a small builder fails the same way. */
    arca_ttlv_tree *t = NULL;
    size_t len = unhex(HEX_create12, msg_buf, sizeof(msg_buf));
    assert_int_equal(decode_buf(msg_buf, len, NULL, &t), ARCA_OK);
    assert_int_equal(arca_builder_init(&b, 0, len - 1), ARCA_OK);
    assert_int_equal(arca_ttlv_encode_node(&b, arca_ttlv_root(t)), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);
    arca_ttlv_free(t);
}

/* ---- KMIP tables --------------------------------------------------------- */

static void test_kmip_names(void **state)
{
    (void)state;
    assert_string_equal(arca_kmip_tag_name(ARCA_KMIP_TAG_UNIQUE_IDENTIFIER), "Unique Identifier");
    assert_string_equal(arca_kmip_tag_name(0x420091), "Template-Attribute");
    assert_string_equal(arca_kmip_tag_name(0x42003D), "IV/Counter/Nonce");
    assert_string_equal(arca_kmip_tag_name(0x54A000), "Unknown");
    assert_string_equal(arca_kmip_operation_name(ARCA_KMIP_OP_CREATE_KEY_PAIR), "Create Key Pair");
    assert_string_equal(arca_kmip_operation_name(0x8000A000u), "Unknown");
    assert_string_equal(arca_kmip_reason_name(ARCA_KMIP_REASON_GENERAL_FAILURE), "General Failure");
    assert_string_equal(arca_kmip_reason_name(0x27), "Unknown");
    assert_string_equal(arca_kmip_status_name(ARCA_KMIP_STATUS_SUCCESS), "Success");
    assert_string_equal(arca_kmip_status_name(9), "Unknown");
    assert_int_equal(arca_kmip_tag_by_name((const uint8_t *)"Cryptographic Usage Mask", 24),
                     ARCA_KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK);
    assert_int_equal(arca_kmip_tag_by_name((const uint8_t *)"Cryptographic Usage Mas", 23), 0);
    assert_int_equal(arca_kmip_tag_by_name((const uint8_t *)"Name", 4), ARCA_KMIP_TAG_NAME);
    assert_int_equal(arca_kmip_tag_by_name(NULL, 0), 0);
    /* A few values against the specification (spot checks of the table). */
    assert_int_equal(ARCA_KMIP_TAG_REQUEST_MESSAGE, 0x420078);
    assert_int_equal(ARCA_KMIP_TAG_BATCH_ITEM, 0x42000F);
    assert_int_equal(ARCA_KMIP_TAG_ATTRIBUTES, 0x420125);
    assert_int_equal(ARCA_KMIP_OP_RNG_RETRIEVE, 0x25);
    assert_int_equal(ARCA_KMIP_OP_DISCOVER_VERSIONS, 0x1E);
    assert_int_equal(ARCA_KMIP_REASON_PERMISSION_DENIED, 0x0C);
    /* Arca's reserved blocks sit inside the vendor ranges. */
    assert_true(ARCA_KMIP_TAG_ARCA_FIRST >= ARCA_KMIP_TAG_EXTENSION_FIRST &&
                ARCA_KMIP_TAG_ARCA_LAST <= ARCA_KMIP_TAG_EXTENSION_LAST);
    assert_true((ARCA_KMIP_OP_ARCA_FIRST & ARCA_KMIP_ENUM_EXTENSION_FLAG) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples_decode),
        cmocka_unit_test(test_spec_examples_values),
        cmocka_unit_test(test_spec_examples_encode),
        cmocka_unit_test(test_pykmip_create_1_2),
        cmocka_unit_test(test_pykmip_create_2_0),
        cmocka_unit_test(test_pykmip_batch),
        cmocka_unit_test(test_pykmip_response),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_utf8_valid_forms),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_node_cap),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_message_len),
        cmocka_unit_test(test_getters_wrong_type),
        cmocka_unit_test(test_duplicate_single_valued),
        cmocka_unit_test(test_text_cstr),
        cmocka_unit_test(test_round_trip_all_types),
        cmocka_unit_test(test_bigint_encoding),
        cmocka_unit_test(test_encoder_errors),
        cmocka_unit_test(test_encoder_cap),
        cmocka_unit_test(test_kmip_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
