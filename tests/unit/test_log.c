/* Unit tests: log.c — exact formatting, redaction, escaping, truncation. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "arca/log.h"
#include "arca/secret.h"

static int pipe_rd = -1;
static int pipe_wr = -1;
static char captured[8192];

static int setup(void **state)
{
    (void)state;
    /* Initialise secret memory first: its start-up line is not ours. */
    if (arca_secmem_init(0, false) != ARCA_OK) return -1;
    int p[2];
    if (pipe(p) != 0) return -1;
    pipe_rd = p[0];
    pipe_wr = p[1];
    fcntl(pipe_rd, F_SETFL, O_NONBLOCK);
    arca_log_set_fd(pipe_wr);
    arca_log_set_component("test-log");
    arca_log_set_level(ARCA_LOG_DEBUG);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arca_log_set_fd(2);
    close(pipe_rd);
    close(pipe_wr);
    return 0;
}

/* Everything written since the last call. */
static const char *drain(void)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = read(pipe_rd, captured + len, sizeof(captured) - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
    }
    captured[len] = '\0';
    return captured;
}

/* The message part of exactly one captured line, checked for the prefix
 * "<time> test-log[<pid>] <level>: " and a single trailing newline. */
static const char *one_message(const char *level)
{
    const char *line = drain();
    size_t len = strlen(line);
    assert_true(len > 0);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    /* 2024-01-02T03:04:05.678Z */
    assert_true(len > 25);
    assert_int_equal(line[4], '-');
    assert_int_equal(line[10], 'T');
    assert_int_equal(line[19], '.');
    assert_int_equal(line[23], 'Z');
    assert_int_equal(line[24], ' ');
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "test-log[%ld] %s: ", (long)getpid(), level);
    assert_int_equal(strncmp(line + 25, prefix, strlen(prefix)), 0);
    static char msg[4096];
    size_t mlen = len - 25 - strlen(prefix) - 1;
    memcpy(msg, line + 25 + strlen(prefix), mlen);
    msg[mlen] = '\0';
    return msg;
}

static void test_conversions(void **state)
{
    (void)state;
    ARCA_INFO("%s|%d|%u|%ld|%lu|%lld|%llu|%zu|%x|%X|%c|%%|%i", "str", -42, 42u, LONG_MIN, ULONG_MAX, LLONG_MIN,
              ULLONG_MAX, (size_t)12345, 0xbeefu, 0xbeefu, 'q', 7);
    assert_string_equal(one_message("INFO"), "str|-42|42|-9223372036854775808|18446744073709551615|"
                                             "-9223372036854775808|18446744073709551615|12345|beef|BEEF|q|%|7");
    ARCA_WARN("[%5d][%-5d][%05d][%02x][%-4s][%4s][%.3s][%.*s][%08lx][%zx][%d]", 42, 42, -42, 0xa, "ab", "ab",
              "abcdef", 2, "xyz", 0xabcdefUL, (size_t)255, 0);
    assert_string_equal(one_message("WARN"), "[   42][42   ][-0042][0a][ab  ][  ab][abc][xy][00abcdef][ff][0]");
    ARCA_ERROR("no conversions");
    assert_string_equal(one_message("ERROR"), "no conversions");
    ARCA_DEBUG("%d", INT_MIN);
    assert_string_equal(one_message("DEBUG"), "-2147483648");
}

static void test_null_string(void **state)
{
    (void)state;
    const char *volatile nothing = NULL;
    ARCA_INFO("x=%s", nothing);
    assert_string_equal(one_message("INFO"), "x=(null)");
}

static void test_unsupported_conversion_stops(void **state)
{
    (void)state;
    int x = 0;
    ARCA_INFO("a=%d p=%p rest %s", 1, (void *)&x, "never");
    assert_string_equal(one_message("INFO"), "a=1 p=[bad format]");
}

static void test_level_filter(void **state)
{
    (void)state;
    arca_log_set_level(ARCA_LOG_WARN);
    ARCA_INFO("hidden");
    ARCA_DEBUG("hidden");
    assert_string_equal(drain(), "");
    ARCA_WARN("shown");
    assert_string_equal(one_message("WARN"), "shown");
    arca_log_set_level(ARCA_LOG_DEBUG);
}

static void test_secret_redacted(void **state)
{
    (void)state;
    char *pin = arca_secmem_alloc(16);
    assert_non_null(pin);
    memcpy(pin, "hunter2", 8);
    ARCA_INFO("user=%s pin=%s pin3=%.3s mid=%s", "alice", pin, pin, pin + 2);
    const char *msg = one_message("INFO");
    assert_string_equal(msg, "user=alice pin=[redacted] pin3=[redacted] mid=[redacted]");
    assert_null(strstr(captured, "hunter"));
    arca_secmem_free(pin);
    /* A heap copy of the same bytes is not secret memory: printed. */
    char heap[] = "hunter2";
    ARCA_INFO("pin=%s", heap);
    assert_string_equal(one_message("INFO"), "pin=hunter2");
}

static void test_control_characters_escaped(void **state)
{
    (void)state;
    ARCA_INFO("peer=%s", "evil\n2024-01-01T00:00:00.000Z arcad[1] ERROR: forged\r\t\x1b[31m\\\x7f\x01 \xc3\xa9");
    assert_string_equal(one_message("INFO"), "peer=evil\\n2024-01-01T00:00:00.000Z arcad[1] ERROR: forged\\r\\t"
                                             "\\x1b[31m\\\\\\x7f\\x01 \xc3\xa9");
    ARCA_INFO("c=%c", '\n');
    assert_string_equal(one_message("INFO"), "c=\\n");
    ARCA_INFO("fmt\ttab");
    assert_string_equal(one_message("INFO"), "fmt\\ttab");
}

static void test_truncation(void **state)
{
    (void)state;
    char big[2001];
    memset(big, 'A', 2000);
    big[2000] = '\0';
    char want[1100];

    ARCA_INFO("%s", big);
    memset(want, 'A', 1024);
    strcpy(want + 1024, " [truncated]");
    assert_string_equal(one_message("INFO"), want);

    /* Exactly 1024 bytes fit without a marker. */
    big[1024] = '\0';
    ARCA_INFO("%s", big);
    want[1024] = '\0';
    assert_string_equal(one_message("INFO"), want);

    /* An escape is never cut in half: 1023 + "\n" (2 bytes) does not fit. */
    big[1023] = '\n';
    ARCA_INFO("%s", big);
    memset(want, 'A', 1023);
    strcpy(want + 1023, " [truncated]");
    assert_string_equal(one_message("INFO"), want);

    /* A long fixed format is truncated the same way. */
    ARCA_INFO("%s%s", big + 500, big);
    const char *msg = one_message("INFO");
    assert_int_equal(strlen(msg), 1024 + strlen(" [truncated]"));
}

static void test_component_sanitised(void **state)
{
    (void)state;
    arca_log_set_component("a b\nc");
    ARCA_INFO("hi");
    const char *line = drain();
    char want[64];
    snprintf(want, sizeof(want), " a_b_c[%ld] INFO: hi\n", (long)getpid());
    assert_non_null(strstr(line, want));
    arca_log_set_component("test-log");
}

static void test_openssl_errors(void **state)
{
    (void)state;
    ERR_clear_error();
    static const unsigned char garbage[] = {0x30, 0x03, 0x02, 0x01};
    const unsigned char *p = garbage;
    EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, sizeof(garbage));
    assert_null(k);
    assert_int_not_equal(ERR_peek_error(), 0);
    arca_log_openssl_errors("loading key");
    const char *out = drain();
    assert_int_equal(ERR_peek_error(), 0); /* drained */
    assert_non_null(strstr(out, "] ERROR: loading key: error:"));
    /* Every line is a complete ERROR line. */
    size_t lines = 0;
    for (const char *s = out; (s = strchr(s, '\n')) != NULL; s++) lines++;
    assert_true(lines >= 1);

    arca_log_openssl_errors("nothing");
    assert_string_equal(one_message("ERROR"), "nothing: failed (no OpenSSL error queued)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_null_string),
        cmocka_unit_test(test_unsupported_conversion_stops),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_secret_redacted),
        cmocka_unit_test(test_control_characters_escaped),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_component_sanitised),
        cmocka_unit_test(test_openssl_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
