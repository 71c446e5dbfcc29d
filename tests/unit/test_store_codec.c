/* Unit tests: store OCALL payload codec (store_codec.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arca/store_api.h"

static uint8_t *finish(arca_builder *b, size_t *len)
{
    uint8_t *out = NULL;
    assert_int_equal(arca_builder_finish(b, &out, len), ARCA_OK);
    return out;
}

static void new_builder(arca_builder *b)
{
    assert_int_equal(arca_builder_init(b, 0, 16u << 20), ARCA_OK);
}

static void test_db_valid(void **state)
{
    (void)state;
    assert_false(arca_store_db_valid(0));
    assert_true(arca_store_db_valid(ARCA_DB_BLOBS));
    assert_true(arca_store_db_valid(ARCA_DB_INDEX));
    assert_true(arca_store_db_valid(ARCA_DB_AUDIT));
    assert_true(arca_store_db_valid(ARCA_DB_STATE));
    assert_false(arca_store_db_valid(5));
    assert_false(arca_store_db_valid(255));
    arca_store_entries_free(NULL, 3);
}

static void test_get_req(void **state)
{
    (void)state;
    arca_builder b;
    new_builder(&b);
    assert_int_equal(arca_store_get_req_encode(&b, ARCA_DB_STATE, (const uint8_t *)"head", 4), ARCA_OK);
    size_t len;
    uint8_t *buf = finish(&b, &len);
    static const uint8_t want[] = {4, 0, 4, 'h', 'e', 'a', 'd'};
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    arca_cursor c;
    uint8_t db;
    const uint8_t *key;
    size_t key_len;
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_OK);
    assert_int_equal(db, ARCA_DB_STATE);
    assert_int_equal(key_len, 4);
    assert_ptr_equal(key, buf + 3);
    free(buf);

    /* Negative decodes. */
    static const uint8_t bad_db[] = {9, 0, 1, 'k'};
    static const uint8_t empty_key[] = {1, 0, 0};
    static const uint8_t short_key[] = {1, 0, 2, 'k'};
    static const uint8_t trailing[] = {1, 0, 1, 'k', 0};
    arca_cursor_init(&c, bad_db, sizeof(bad_db));
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_ERR_DECODE);
    arca_cursor_init(&c, empty_key, sizeof(empty_key));
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_ERR_DECODE);
    arca_cursor_init(&c, short_key, sizeof(short_key));
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_ERR_DECODE);
    arca_cursor_init(&c, trailing, sizeof(trailing));
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_remaining(&c), sizeof(trailing)); /* not moved */
    arca_cursor_init(&c, NULL, 0);
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_ERR_DECODE);

    /* Over-cap key: 512 bytes. */
    uint8_t big[3 + 512] = {1, 0x02, 0x00};
    memset(big + 3, 'k', 512);
    arca_cursor_init(&c, big, sizeof(big));
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_ERR_TOO_LARGE);
    /* 511 is the limit and fine. */
    big[1] = 0x01;
    big[2] = 0xff;
    arca_cursor_init(&c, big, sizeof(big) - 1);
    assert_int_equal(arca_store_get_req_decode(&c, &db, &key, &key_len), ARCA_OK);
    assert_int_equal(key_len, 511);

    /* Negative encodes. */
    new_builder(&b);
    assert_int_equal(arca_store_get_req_encode(&b, 0, (const uint8_t *)"k", 1), ARCA_ERR_ARGS);
    assert_int_equal(arca_store_get_req_encode(&b, 1, (const uint8_t *)"k", 0), ARCA_ERR_ARGS);
    assert_int_equal(arca_store_get_req_encode(&b, 1, NULL, 3), ARCA_ERR_ARGS);
    assert_int_equal(arca_store_get_req_encode(&b, 1, big, 512), ARCA_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    arca_builder_cleanup(&b);
}

static void test_commit_round_trip(void **state)
{
    (void)state;
    uint8_t *bigval = malloc(ARCA_STORE_MAX_VALUE);
    assert_non_null(bigval);
    memset(bigval, 0x3c, ARCA_STORE_MAX_VALUE);
    arca_store_op ops[] = {
        {ARCA_STORE_PUT, ARCA_DB_BLOBS, (const uint8_t *)"obj1", 4, (const uint8_t *)"blob", 4},
        {ARCA_STORE_PUT, ARCA_DB_INDEX, (const uint8_t *)"idx", 3, NULL, 0},
        {ARCA_STORE_DEL, ARCA_DB_BLOBS, (const uint8_t *)"old", 3, (const uint8_t *)"ignored", 7},
        {ARCA_STORE_PUT, ARCA_DB_AUDIT, (const uint8_t *)"\x00\x00\x00\x01", 4, bigval, ARCA_STORE_MAX_VALUE},
    };
    arca_builder b;
    new_builder(&b);
    assert_int_equal(arca_store_commit_req_encode(&b, ops, 4), ARCA_OK);
    size_t len;
    uint8_t *buf = finish(&b, &len);
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    arca_store_op *out = NULL;
    size_t num = 0;
    assert_int_equal(arca_store_commit_req_decode(&c, &out, &num), ARCA_OK);
    assert_int_equal(num, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(out[i].kind, ops[i].kind);
        assert_int_equal(out[i].db, ops[i].db);
        assert_int_equal(out[i].key_len, ops[i].key_len);
        assert_memory_equal(out[i].key, ops[i].key, ops[i].key_len);
    }
    assert_int_equal(out[0].val_len, 4);
    assert_memory_equal(out[0].val, "blob", 4);
    assert_int_equal(out[1].val_len, 0);
    assert_null(out[2].val); /* DEL carries no value */
    assert_int_equal(out[2].val_len, 0);
    assert_int_equal(out[3].val_len, ARCA_STORE_MAX_VALUE);
    assert_memory_equal(out[3].val, bigval, ARCA_STORE_MAX_VALUE);
    free(out);
    free(buf);
    free(bigval);
}

/* One op as bytes: kind, db, key, value. */
static size_t put_op(uint8_t *p, uint8_t kind, uint8_t db, const char *key, uint32_t val_len)
{
    size_t n = 0, kl = strlen(key);
    p[n++] = kind;
    p[n++] = db;
    p[n++] = (uint8_t)(kl >> 8);
    p[n++] = (uint8_t)kl;
    memcpy(p + n, key, kl);
    n += kl;
    p[n++] = (uint8_t)(val_len >> 24);
    p[n++] = (uint8_t)(val_len >> 16);
    p[n++] = (uint8_t)(val_len >> 8);
    p[n++] = (uint8_t)val_len;
    memset(p + n, 'v', val_len);
    return n + val_len;
}

static arca_status decode_commit(const uint8_t *p, size_t n)
{
    arca_cursor c;
    arca_cursor_init(&c, p, n);
    arca_store_op *ops = (arca_store_op *)&c;
    size_t num = 12345;
    arca_status st = arca_store_commit_req_decode(&c, &ops, &num);
    if (st == ARCA_OK) {
        free(ops);
    } else {
        assert_ptr_equal(ops, (arca_store_op *)&c); /* untouched */
        assert_int_equal(num, 12345);
        assert_int_equal(arca_cursor_remaining(&c), n);
    }
    return st;
}

static void test_commit_rejects(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n;

    /* Baseline valid: one PUT. */
    memcpy(buf, "\x00\x00\x00\x01", 4);
    n = 4 + put_op(buf + 4, ARCA_STORE_PUT, ARCA_DB_BLOBS, "k", 2);
    assert_int_equal(decode_commit(buf, n), ARCA_OK);
    /* Every truncation fails. */
    for (size_t i = 0; i < n; i++) assert_int_equal(decode_commit(buf, i), ARCA_ERR_DECODE);
    /* Trailing byte. */
    buf[n] = 0;
    assert_int_equal(decode_commit(buf, n + 1), ARCA_ERR_DECODE);
    /* Unknown kind, bad db. */
    n = 4 + put_op(buf + 4, 3, ARCA_DB_BLOBS, "k", 0);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);
    n = 4 + put_op(buf + 4, 0, ARCA_DB_BLOBS, "k", 0);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);
    n = 4 + put_op(buf + 4, ARCA_STORE_PUT, 0, "k", 0);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);
    n = 4 + put_op(buf + 4, ARCA_STORE_PUT, 5, "k", 0);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);
    /* Empty key. */
    n = 4 + put_op(buf + 4, ARCA_STORE_PUT, ARCA_DB_BLOBS, "", 1);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);
    /* DEL with a value. */
    n = 4 + put_op(buf + 4, ARCA_STORE_DEL, ARCA_DB_BLOBS, "k", 1);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);
    n = 4 + put_op(buf + 4, ARCA_STORE_DEL, ARCA_DB_BLOBS, "k", 0);
    assert_int_equal(decode_commit(buf, n), ARCA_OK);
    /* Zero ops. */
    assert_int_equal(decode_commit((const uint8_t *)"\x00\x00\x00\x00", 4), ARCA_ERR_DECODE);
    /* Too many ops (count checked before anything else). */
    assert_int_equal(decode_commit((const uint8_t *)"\x00\x00\x04\x01", 4), ARCA_ERR_TOO_LARGE);
    assert_int_equal(decode_commit((const uint8_t *)"\xff\xff\xff\xff", 4), ARCA_ERR_TOO_LARGE);
    /* A count the bytes cannot hold. */
    memcpy(buf, "\x00\x00\x04\x00", 4);
    n = 4 + put_op(buf + 4, ARCA_STORE_PUT, ARCA_DB_BLOBS, "k", 0);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);
    /* Second op bad: the first one's allocation is released (ASan checks). */
    memcpy(buf, "\x00\x00\x00\x02", 4);
    n = 4 + put_op(buf + 4, ARCA_STORE_PUT, ARCA_DB_BLOBS, "k", 0);
    n += put_op(buf + n, ARCA_STORE_PUT, 7, "k", 0);
    assert_int_equal(decode_commit(buf, n), ARCA_ERR_DECODE);

    /* Over-cap value length (claimed; not present). */
    memcpy(buf, "\x00\x00\x00\x01", 4);
    buf[4] = ARCA_STORE_PUT;
    buf[5] = ARCA_DB_BLOBS;
    memcpy(buf + 6, "\x00\x01k", 3);
    uint8_t *big = calloc(1, 16 + ARCA_STORE_MAX_VALUE + 1);
    assert_non_null(big);
    memcpy(big, buf, 9);
    uint32_t vl = ARCA_STORE_MAX_VALUE + 1;
    big[9] = (uint8_t)(vl >> 24);
    big[10] = (uint8_t)(vl >> 16);
    big[11] = (uint8_t)(vl >> 8);
    big[12] = (uint8_t)vl;
    assert_int_equal(decode_commit(big, 13 + vl), ARCA_ERR_TOO_LARGE);
    free(big);

    /* Over-cap key. */
    uint8_t kbuf[4 + 2 + 2 + 512 + 4] = {0, 0, 0, 1, ARCA_STORE_PUT, ARCA_DB_BLOBS, 0x02, 0x00};
    memset(kbuf + 8, 'k', 512);
    assert_int_equal(decode_commit(kbuf, sizeof(kbuf)), ARCA_ERR_TOO_LARGE);
}

static void test_commit_encode_rejects(void **state)
{
    (void)state;
    arca_builder b;
    new_builder(&b);
    arca_store_op op = {ARCA_STORE_PUT, ARCA_DB_BLOBS, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1};
    arca_store_op bad;
    assert_int_equal(arca_store_commit_req_encode(&b, &op, 0), ARCA_ERR_ARGS);
    assert_int_equal(arca_store_commit_req_encode(&b, NULL, 1), ARCA_ERR_ARGS);
    assert_int_equal(arca_store_commit_req_encode(&b, &op, ARCA_STORE_MAX_OPS + 1), ARCA_ERR_TOO_LARGE);
    bad = op;
    bad.kind = 9;
    assert_int_equal(arca_store_commit_req_encode(&b, &bad, 1), ARCA_ERR_ARGS);
    bad = op;
    bad.db = 0;
    assert_int_equal(arca_store_commit_req_encode(&b, &bad, 1), ARCA_ERR_ARGS);
    bad = op;
    bad.key_len = 0;
    assert_int_equal(arca_store_commit_req_encode(&b, &bad, 1), ARCA_ERR_ARGS);
    bad = op;
    bad.key_len = ARCA_STORE_MAX_KEY + 1;
    assert_int_equal(arca_store_commit_req_encode(&b, &bad, 1), ARCA_ERR_TOO_LARGE);
    bad = op;
    bad.val_len = ARCA_STORE_MAX_VALUE + 1;
    assert_int_equal(arca_store_commit_req_encode(&b, &bad, 1), ARCA_ERR_TOO_LARGE);
    bad = op;
    bad.val = NULL;
    assert_int_equal(arca_store_commit_req_encode(&b, &bad, 1), ARCA_ERR_ARGS);
    assert_int_equal(b.len, 0); /* validated before writing anything */
    arca_builder_cleanup(&b);
}

static void test_scan_req(void **state)
{
    (void)state;
    arca_store_scan_req in = {ARCA_DB_INDEX, (const uint8_t *)"pre", 3, (const uint8_t *)"pre-after", 9, 100,
                              true, true};
    arca_builder b;
    new_builder(&b);
    assert_int_equal(arca_store_scan_req_encode(&b, &in), ARCA_OK);
    size_t len;
    uint8_t *buf = finish(&b, &len);
    assert_int_equal(len, 1 + 2 + 3 + 2 + 9 + 4 + 1);
    assert_int_equal(buf[len - 1], 0x03);
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    arca_store_scan_req out;
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_OK);
    assert_int_equal(out.db, ARCA_DB_INDEX);
    assert_int_equal(out.prefix_len, 3);
    assert_memory_equal(out.prefix, "pre", 3);
    assert_int_equal(out.after_len, 9);
    assert_memory_equal(out.after, "pre-after", 9);
    assert_int_equal(out.limit, 100);
    assert_true(out.with_values);
    assert_true(out.reverse);

    /* Bad flags, limit 0, limit over cap, trailing, truncated. */
    buf[len - 1] = 0x04;
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_ERR_DECODE);
    buf[len - 1] = 0x01;
    memcpy(buf + len - 5, "\x00\x00\x00\x00", 4);
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_ERR_DECODE);
    memcpy(buf + len - 5, "\x00\x00\x10\x01", 4);
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_ERR_TOO_LARGE);
    memcpy(buf + len - 5, "\x00\x00\x10\x00", 4);
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_OK);
    assert_int_equal(out.limit, ARCA_STORE_MAX_SCAN);
    assert_true(out.with_values);
    assert_false(out.reverse);
    for (size_t i = 0; i < len; i++) {
        arca_cursor_init(&c, buf, i);
        assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_ERR_DECODE);
    }
    buf[0] = 0;
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_ERR_DECODE);
    free(buf);
    uint8_t trailing[] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    arca_cursor_init(&c, trailing, sizeof(trailing));
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_ERR_DECODE);
    arca_cursor_init(&c, trailing, sizeof(trailing) - 1);
    assert_int_equal(arca_store_scan_req_decode(&c, &out), ARCA_OK);
    assert_int_equal(out.prefix_len, 0);
    assert_int_equal(out.after_len, 0);

    /* Encoder checks. */
    new_builder(&b);
    arca_store_scan_req bad = in;
    bad.limit = 0;
    assert_int_equal(arca_store_scan_req_encode(&b, &bad), ARCA_ERR_ARGS);
    bad = in;
    bad.limit = ARCA_STORE_MAX_SCAN + 1;
    assert_int_equal(arca_store_scan_req_encode(&b, &bad), ARCA_ERR_TOO_LARGE);
    bad = in;
    bad.db = 77;
    assert_int_equal(arca_store_scan_req_encode(&b, &bad), ARCA_ERR_ARGS);
    bad = in;
    bad.prefix_len = ARCA_STORE_MAX_KEY + 1;
    assert_int_equal(arca_store_scan_req_encode(&b, &bad), ARCA_ERR_TOO_LARGE);
    bad = in;
    bad.after = NULL;
    assert_int_equal(arca_store_scan_req_encode(&b, &bad), ARCA_ERR_ARGS);
    assert_int_equal(b.len, 0);
    arca_builder_cleanup(&b);
}

static void test_scan_reply(void **state)
{
    (void)state;
    arca_store_entry in[3] = {
        {(uint8_t *)"a", 1, (uint8_t *)"1", 1},
        {(uint8_t *)"bb", 2, NULL, 0},
        {(uint8_t *)"ccc", 3, (uint8_t *)"333", 3},
    };
    arca_builder b;
    new_builder(&b);
    assert_int_equal(arca_store_scan_reply_encode(&b, in, 3), ARCA_OK);
    size_t len;
    uint8_t *buf = finish(&b, &len);
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    arca_store_entry *out = NULL;
    size_t num = 0;
    assert_int_equal(arca_store_scan_reply_decode(&c, 10, &out, &num), ARCA_OK);
    assert_int_equal(num, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(out[i].key_len, in[i].key_len);
        assert_memory_equal(out[i].key, in[i].key, in[i].key_len);
        assert_int_equal(out[i].val_len, in[i].val_len);
        if (in[i].val_len > 0) assert_memory_equal(out[i].val, in[i].val, in[i].val_len);
    }
    assert_null(out[1].val);
    arca_store_entries_free(out, num);

    /* More entries than asked for. */
    arca_cursor_init(&c, buf, len);
    out = NULL;
    assert_int_equal(arca_store_scan_reply_decode(&c, 2, &out, &num), ARCA_ERR_TOO_LARGE);
    assert_null(out);
    /* Every truncation fails (and frees what it allocated). */
    for (size_t i = 0; i < len; i++) {
        arca_cursor_init(&c, buf, i);
        assert_int_equal(arca_store_scan_reply_decode(&c, 10, &out, &num), ARCA_ERR_DECODE);
        assert_null(out);
    }
    /* Trailing byte. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    arca_cursor_init(&c, longer, len + 1);
    assert_int_equal(arca_store_scan_reply_decode(&c, 10, &out, &num), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_remaining(&c), len + 1);
    free(longer);
    /* Empty key in the last entry. */
    buf[4 + 2 + 1 + 4 + 1 + 2 + 2 + 4 + 1] = 0; /* third key length low byte... */
    buf[4 + 2 + 1 + 4 + 1 + 2 + 2 + 4] = 0;
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_store_scan_reply_decode(&c, 10, &out, &num), ARCA_ERR_DECODE);
    free(buf);

    /* Zero entries: NULL array. */
    static const uint8_t zero[] = {0, 0, 0, 0};
    arca_cursor_init(&c, zero, sizeof(zero));
    out = (arca_store_entry *)&c;
    assert_int_equal(arca_store_scan_reply_decode(&c, 1, &out, &num), ARCA_OK);
    assert_null(out);
    assert_int_equal(num, 0);
    /* Count over the global cap even with a big limit. */
    static const uint8_t many[] = {0, 0, 0x10, 0x01};
    arca_cursor_init(&c, many, sizeof(many));
    assert_int_equal(arca_store_scan_reply_decode(&c, UINT32_MAX, &out, &num), ARCA_ERR_TOO_LARGE);
    /* Count that the bytes cannot hold. */
    static const uint8_t hollow[] = {0, 0, 0x01, 0x00, 0, 1, 'k', 0, 0, 0, 0};
    arca_cursor_init(&c, hollow, sizeof(hollow));
    assert_int_equal(arca_store_scan_reply_decode(&c, 4096, &out, &num), ARCA_ERR_DECODE);

    /* Encoder checks. */
    new_builder(&b);
    arca_store_entry bad = in[0];
    bad.key_len = 0;
    assert_int_equal(arca_store_scan_reply_encode(&b, &bad, 1), ARCA_ERR_ARGS);
    bad = in[0];
    bad.val_len = ARCA_STORE_MAX_VALUE + 1;
    assert_int_equal(arca_store_scan_reply_encode(&b, &bad, 1), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_store_scan_reply_encode(&b, in, ARCA_STORE_MAX_SCAN + 1), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_store_scan_reply_encode(&b, NULL, 1), ARCA_ERR_ARGS);
    assert_int_equal(b.len, 0);
    assert_int_equal(arca_store_scan_reply_encode(&b, NULL, 0), ARCA_OK);
    assert_int_equal(b.len, 4);
    arca_builder_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_db_valid),
        cmocka_unit_test(test_get_req),
        cmocka_unit_test(test_commit_round_trip),
        cmocka_unit_test(test_commit_rejects),
        cmocka_unit_test(test_commit_encode_rejects),
        cmocka_unit_test(test_scan_req),
        cmocka_unit_test(test_scan_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
