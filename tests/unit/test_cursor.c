/* Unit tests: arca_cursor (and the status table it reports through). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arca/cursor.h"
#include "arca/status.h"

static void test_status_table_complete(void **state)
{
    (void)state;
    for (int i = 0; i < ARCA_STATUS_COUNT; i++) {
        const char *name = arca_status_name((arca_status)i);
        const char *msg = arca_status_message((arca_status)i);
        assert_non_null(name);
        assert_non_null(msg);
        assert_int_equal(strncmp(name, "ARCA_", 5), 0);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(name, "ARCA_ERR_UNKNOWN");
    }
    assert_string_equal(arca_status_name(ARCA_OK), "ARCA_OK");
    assert_string_equal(arca_status_name(ARCA_ERR_INTEGRITY), "ARCA_ERR_INTEGRITY");
    assert_string_equal(arca_status_name(ARCA_ERR_BUSY), "ARCA_ERR_BUSY");
    assert_string_equal(arca_status_name(ARCA_STATUS_COUNT), "ARCA_ERR_UNKNOWN");
    assert_string_equal(arca_status_name((arca_status)-1), "ARCA_ERR_UNKNOWN");
    assert_string_equal(arca_status_message((arca_status)9999), "unknown status");
}

static void test_integers_big_endian(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
                                 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15};
    arca_cursor c;
    arca_cursor_init(&c, in, sizeof(in));
    uint8_t a;
    uint16_t b;
    uint32_t d;
    uint64_t e;
    assert_int_equal(arca_cursor_get_u8(&c, &a), ARCA_OK);
    assert_int_equal(a, 0x01);
    assert_int_equal(arca_cursor_get_u16(&c, &b), ARCA_OK);
    assert_int_equal(b, 0x0203);
    assert_int_equal(arca_cursor_get_u32(&c, &d), ARCA_OK);
    assert_int_equal(d, 0x04050607u);
    assert_int_equal(arca_cursor_get_u64(&c, &e), ARCA_OK);
    assert_true(e == 0x08090a0b0c0d0e0full);
    assert_int_equal(arca_cursor_remaining(&c), 6);
    assert_int_equal(arca_cursor_finish(&c), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_skip(&c, 6), ARCA_OK);
    assert_int_equal(arca_cursor_finish(&c), ARCA_OK);
}

static void test_short_reads_do_not_move(void **state)
{
    (void)state;
    static const uint8_t in[] = {0xaa, 0xbb, 0xcc};
    arca_cursor c;
    arca_cursor_init(&c, in, sizeof(in));
    uint32_t v32 = 0x11111111;
    uint64_t v64 = 0x2222;
    assert_int_equal(arca_cursor_get_u32(&c, &v32), ARCA_ERR_DECODE);
    assert_int_equal(v32, 0x11111111); /* outputs untouched on failure */
    assert_int_equal(arca_cursor_get_u64(&c, &v64), ARCA_ERR_DECODE);
    assert_true(v64 == 0x2222);
    assert_int_equal(arca_cursor_remaining(&c), 3);
    const uint8_t *p = NULL;
    assert_int_equal(arca_cursor_get_bytes(&c, 4, &p), ARCA_ERR_DECODE);
    assert_null(p);
    assert_int_equal(arca_cursor_skip(&c, 4), ARCA_ERR_DECODE);
    uint8_t buf[4] = {0};
    assert_int_equal(arca_cursor_copy_bytes(&c, buf, 4), ARCA_ERR_DECODE);
    assert_int_equal(buf[0], 0);
    arca_cursor sub = {0};
    assert_int_equal(arca_cursor_get_sub(&c, 4, &sub), ARCA_ERR_DECODE);
    assert_null(sub.data);
    /* Huge n must not wrap around. */
    assert_int_equal(arca_cursor_get_bytes(&c, SIZE_MAX, &p), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_remaining(&c), 3);

    uint16_t v16;
    assert_int_equal(arca_cursor_get_u16(&c, &v16), ARCA_OK);
    assert_int_equal(v16, 0xaabb);
    assert_int_equal(arca_cursor_get_u16(&c, &v16), ARCA_ERR_DECODE);
    assert_int_equal(v16, 0xaabb);
    uint8_t v8;
    assert_int_equal(arca_cursor_get_u8(&c, &v8), ARCA_OK);
    assert_int_equal(v8, 0xcc);
    assert_int_equal(arca_cursor_get_u8(&c, &v8), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_finish(&c), ARCA_OK);
}

static void test_bytes_and_sub(void **state)
{
    (void)state;
    static const uint8_t in[] = {'a', 'b', 'c', 'd', 'e'};
    arca_cursor c;
    arca_cursor_init(&c, in, sizeof(in));
    const uint8_t *p;
    assert_int_equal(arca_cursor_get_bytes(&c, 2, &p), ARCA_OK);
    assert_ptr_equal(p, in);
    uint8_t buf[1];
    assert_int_equal(arca_cursor_copy_bytes(&c, buf, 1), ARCA_OK);
    assert_int_equal(buf[0], 'c');
    arca_cursor sub;
    assert_int_equal(arca_cursor_get_sub(&c, 2, &sub), ARCA_OK);
    assert_ptr_equal(sub.data, in + 3);
    assert_int_equal(arca_cursor_remaining(&sub), 2);
    assert_int_equal(arca_cursor_finish(&c), ARCA_OK);
    /* Zero-length reads succeed at the end. */
    assert_int_equal(arca_cursor_get_bytes(&c, 0, &p), ARCA_OK);
}

static void test_prefixed(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x02, 'h', 'i', 0x00, 0x00, 0x00, 0x01, 'x', 0x00, 0x00};
    arca_cursor c, f;
    arca_cursor_init(&c, in, sizeof(in));
    assert_int_equal(arca_cursor_get_u16_prefixed(&c, &f), ARCA_OK);
    assert_int_equal(arca_cursor_remaining(&f), 2);
    assert_memory_equal(f.data, "hi", 2);
    assert_int_equal(arca_cursor_get_u32_prefixed(&c, &f), ARCA_OK);
    assert_int_equal(arca_cursor_remaining(&f), 1);
    assert_int_equal(f.data[0], 'x');
    /* An empty u16-prefixed field. */
    assert_int_equal(arca_cursor_get_u16_prefixed(&c, &f), ARCA_OK);
    assert_int_equal(arca_cursor_remaining(&f), 0);
    assert_int_equal(arca_cursor_finish(&c), ARCA_OK);
}

static void test_prefixed_overlong_is_atomic(void **state)
{
    (void)state;
    /* Length says 5, only 3 follow: nothing is consumed. */
    static const uint8_t in16[] = {0x00, 0x05, 'a', 'b', 'c'};
    arca_cursor c, f = {0};
    arca_cursor_init(&c, in16, sizeof(in16));
    assert_int_equal(arca_cursor_get_u16_prefixed(&c, &f), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_remaining(&c), sizeof(in16));
    assert_null(f.data);
    static const uint8_t in32[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    arca_cursor_init(&c, in32, sizeof(in32));
    assert_int_equal(arca_cursor_get_u32_prefixed(&c, &f), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_remaining(&c), sizeof(in32));
    /* Prefix itself truncated. */
    arca_cursor_init(&c, in16, 1);
    assert_int_equal(arca_cursor_get_u16_prefixed(&c, &f), ARCA_ERR_DECODE);
    arca_cursor_init(&c, in32, 3);
    assert_int_equal(arca_cursor_get_u32_prefixed(&c, &f), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_remaining(&c), 3);
}

static void test_empty_and_null(void **state)
{
    (void)state;
    arca_cursor c;
    arca_cursor_init(&c, NULL, 10); /* NULL data is an empty cursor */
    assert_int_equal(arca_cursor_remaining(&c), 0);
    assert_int_equal(arca_cursor_finish(&c), ARCA_OK);
    uint8_t v;
    assert_int_equal(arca_cursor_get_u8(&c, &v), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_get_u8(NULL, &v), ARCA_ERR_ARGS);
    assert_int_equal(arca_cursor_finish(NULL), ARCA_ERR_ARGS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table_complete),
        cmocka_unit_test(test_integers_big_endian),
        cmocka_unit_test(test_short_reads_do_not_move),
        cmocka_unit_test(test_bytes_and_sub),
        cmocka_unit_test(test_prefixed),
        cmocka_unit_test(test_prefixed_overlong_is_atomic),
        cmocka_unit_test(test_empty_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
