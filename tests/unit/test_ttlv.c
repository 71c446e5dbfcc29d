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
