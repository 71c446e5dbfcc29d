/* Unit tests: arca_builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/secret.h"

static void test_integers_big_endian(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 64), ARCA_OK);
    assert_int_equal(arca_builder_add_u8(&b, 0x01), ARCA_OK);
    assert_int_equal(arca_builder_add_u16(&b, 0x0203), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 0x04050607), ARCA_OK);
    assert_int_equal(arca_builder_add_u64(&b, 0x08090a0b0c0d0e0full), ARCA_OK);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_OK);
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    free(out);
    /* The builder was reset by finish. */
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    arca_builder_cleanup(&b);
}

static void test_prefixed_round_trip(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 4, 1 << 20), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, "hello", 5), ARCA_OK);
    assert_int_equal(arca_builder_add_u32_prefixed(&b, NULL, 0), ARCA_OK);
    uint8_t big[300];
    memset(big, 0x5a, sizeof(big));
    assert_int_equal(arca_builder_add_u32_prefixed(&b, big, sizeof(big)), ARCA_OK);
    uint8_t *out;
    size_t len;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_OK);
    assert_int_equal(len, 2 + 5 + 4 + 4 + 300);

    arca_cursor c, f;
    arca_cursor_init(&c, out, len);
    assert_int_equal(arca_cursor_get_u16_prefixed(&c, &f), ARCA_OK);
    assert_int_equal(f.len, 5);
    assert_memory_equal(f.data, "hello", 5);
    assert_int_equal(arca_cursor_get_u32_prefixed(&c, &f), ARCA_OK);
    assert_int_equal(f.len, 0);
    assert_int_equal(arca_cursor_get_u32_prefixed(&c, &f), ARCA_OK);
    assert_memory_equal(f.data, big, sizeof(big));
    assert_int_equal(arca_cursor_finish(&c), ARCA_OK);
    free(out);
}

static void test_cap_and_poison(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 2, 6), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 1), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 2), ARCA_ERR_TOO_LARGE);
    assert_int_equal(b.len, 4); /* nothing partial was written */
    /* Poisoned: even an add that would fit fails with the first error. */
    assert_int_equal(arca_builder_add_u8(&b, 1), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_builder_add_bytes(&b, "x", 1), ARCA_ERR_TOO_LARGE);
    assert_int_equal(b.len, 4);
    uint8_t *out = (uint8_t *)&b; /* must stay untouched */
    size_t len = 77;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_ERR_TOO_LARGE);
    assert_ptr_equal(out, (uint8_t *)&b);
    assert_int_equal(len, 77);
    assert_null(b.data); /* finish failure released the buffer */
    arca_builder_cleanup(&b);
}

static void test_exact_cap_fits(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 6), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, "abcd", 4), ARCA_OK);
    assert_int_equal(b.len, 6);
    assert_int_equal(arca_builder_add_bytes(&b, NULL, 0), ARCA_OK);
    assert_int_equal(arca_builder_add_u8(&b, 0), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);
}

static void test_prefix_overflow(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 1 << 20), ARCA_OK);
    uint8_t *big = calloc(1, 70000);
    assert_non_null(big);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, big, 70000), ARCA_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.error, ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);
    free(big);

    /* A prefixed add that does not fit the cap adds neither prefix nor body. */
    assert_int_equal(arca_builder_init(&b, 0, 5), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, "abcd", 4), ARCA_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    arca_builder_cleanup(&b);

    assert_int_equal(arca_builder_init(&b, 0, 5), ARCA_OK);
    assert_int_equal(arca_builder_add_bytes(&b, NULL, 3), ARCA_ERR_ARGS);
    assert_int_equal(arca_builder_add_u8(&b, 1), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
}

static void test_reserve_and_patch(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 100), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 0), ARCA_OK); /* length placeholder */
    uint8_t *p;
    assert_int_equal(arca_builder_reserve(&b, 3, &p), ARCA_OK);
    assert_int_equal(p[0] | p[1] | p[2], 0);
    memcpy(p, "xyz", 3);
    assert_int_equal(arca_builder_patch_u32(&b, 0, 0xdeadbeef), ARCA_OK);
    assert_int_equal(arca_builder_patch_u32(&b, 4, 1), ARCA_ERR_ARGS); /* 4+4 > 7 */
    uint8_t *out;
    size_t len;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_ERR_ARGS);

    assert_int_equal(arca_builder_init(&b, 0, 100), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 0), ARCA_OK);
    assert_int_equal(arca_builder_add_bytes(&b, "xyz", 3), ARCA_OK);
    assert_int_equal(arca_builder_patch_u32(&b, 0, 0xdeadbeef), ARCA_OK);
    assert_int_equal(arca_builder_patch_u32(&b, 3, 0x01020304), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_OK);
    static const uint8_t want[] = {0xde, 0xad, 0xbe, 0x01, 0x02, 0x03, 0x04};
    assert_int_equal(len, 7);
    assert_memory_equal(out, want, 7);
    free(out);

    assert_int_equal(arca_builder_init(&b, 0, 10), ARCA_OK);
    assert_int_equal(arca_builder_reserve(&b, 11, &p), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);
}

static void test_fixed(void **state)
{
    (void)state;
    uint8_t buf[5] = {0};
    arca_builder b;
    arca_builder_init_fixed(&b, buf, sizeof(buf));
    assert_int_equal(arca_builder_add_u32(&b, 0x01020304), ARCA_OK);
    assert_int_equal(arca_builder_add_u16(&b, 1), ARCA_ERR_TOO_LARGE);
    assert_int_equal(buf[4], 0);
    arca_builder_cleanup(&b); /* no-op: buffer is the caller's */
    assert_int_equal(buf[0], 1);

    arca_builder_init_fixed(&b, buf, sizeof(buf));
    assert_int_equal(arca_builder_add_u8(&b, 9), ARCA_OK);
    uint8_t *out;
    size_t len;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_OK);
    assert_ptr_equal(out, buf);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 9);
}

static void test_empty_finish_gives_buffer(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 10), ARCA_OK);
    uint8_t *out = NULL;
    size_t len = 1;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_OK);
    assert_non_null(out);
    assert_int_equal(len, 0);
    free(out);
}

static void test_zeroed_builder_cleanup_is_safe(void **state)
{
    (void)state;
    arca_builder b;
    memset(&b, 0, sizeof(b));
    arca_builder_cleanup(&b);
    arca_builder_cleanup(NULL);
    /* A zeroed builder has cap 0 and max 0: adds fail cleanly. */
    assert_int_equal(arca_builder_add_u8(&b, 1), ARCA_ERR_TOO_LARGE);
}

static void test_secret_builder(void **state)
{
    (void)state;
    size_t before = arca_secmem_in_use();
    arca_builder b;
    assert_int_equal(arca_builder_init_secret(&b, 16, 1 << 20), ARCA_OK);
    assert_true(arca_secmem_owns(b.data));
    uint8_t pattern[16];
    memset(pattern, 0xc3, sizeof(pattern));
    assert_int_equal(arca_builder_add_bytes(&b, pattern, sizeof(pattern)), ARCA_OK);
    uint8_t *old = b.data;
    /* Growing moves to a bigger block and wipes the old one. */
    assert_int_equal(arca_builder_add_bytes(&b, pattern, sizeof(pattern)), ARCA_OK);
    assert_ptr_not_equal(b.data, old);
    assert_true(arca_secmem_owns(b.data));
    /* The old block is still mapped (it sits on a free list); bytes past the
     * allocator's free-list link must be zero. */
    for (size_t i = sizeof(void *); i < sizeof(pattern); i++) assert_int_equal(old[i], 0);
    uint8_t *out;
    size_t len;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_OK);
    assert_int_equal(len, 32);
    assert_true(arca_secmem_owns(out));
    assert_memory_equal(out, pattern, 16);
    arca_secmem_free(out);
    assert_int_equal(arca_secmem_in_use(), before);

    assert_int_equal(arca_builder_init_secret(&b, 0, 100), ARCA_OK);
    assert_int_equal(arca_builder_add_bytes(&b, pattern, 8), ARCA_OK);
    arca_builder_cleanup(&b);
    assert_null(b.data);
    assert_int_equal(arca_secmem_in_use(), before);
}

static void test_growth_many(void **state)
{
    (void)state;
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 1, 100000), ARCA_OK);
    for (uint32_t i = 0; i < 25000; i++) assert_int_equal(arca_builder_add_u32(&b, i), ARCA_OK);
    assert_int_equal(arca_builder_add_u8(&b, 0), ARCA_ERR_TOO_LARGE);
    uint8_t *out;
    size_t len;
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_ERR_TOO_LARGE);

    assert_int_equal(arca_builder_init(&b, 1, 100000), ARCA_OK);
    for (uint32_t i = 0; i < 25000; i++) assert_int_equal(arca_builder_add_u32(&b, i), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &out, &len), ARCA_OK);
    assert_int_equal(len, 100000);
    arca_cursor c;
    arca_cursor_init(&c, out, len);
    for (uint32_t i = 0; i < 25000; i++) {
        uint32_t v;
        assert_int_equal(arca_cursor_get_u32(&c, &v), ARCA_OK);
        assert_int_equal(v, i);
    }
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_big_endian),
        cmocka_unit_test(test_prefixed_round_trip),
        cmocka_unit_test(test_cap_and_poison),
        cmocka_unit_test(test_exact_cap_fits),
        cmocka_unit_test(test_prefix_overflow),
        cmocka_unit_test(test_reserve_and_patch),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_empty_finish_gives_buffer),
        cmocka_unit_test(test_zeroed_builder_cleanup_is_safe),
        cmocka_unit_test(test_secret_builder),
        cmocka_unit_test(test_growth_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
