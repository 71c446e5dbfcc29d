/* Unit tests for arcad's connection accounting (appliance/src/conn_limits.c):
 * caps in total and per client, and the enclave's hostile reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "conn_limits.h"

static arca_conn_client uid_client(uint32_t uid)
{
    arca_conn_client c;
    char peer[ARCA_CONN_PEER_LEN], label[ARCA_CONN_LABEL_LEN];
    arca_conn_client_from_uid(uid, 1, &c, peer, label);
    return c;
}

static arca_conn_client v4_client(const char *addr, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, addr, &a.sin_addr), 1);
    arca_conn_client c;
    char peer[ARCA_CONN_PEER_LEN], label[ARCA_CONN_LABEL_LEN];
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&a, sizeof a, &c, peer, label), ARCA_OK);
    return c;
}

static void test_peer_text(void **state)
{
    (void)state;
    char peer[ARCA_CONN_PEER_LEN], label[ARCA_CONN_LABEL_LEN];
    arca_conn_client c, c2;

    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(5555);
    assert_int_equal(inet_pton(AF_INET, "1.2.3.4", &a4.sin_addr), 1);
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&a4, sizeof a4, &c, peer, label), ARCA_OK);
    assert_string_equal(peer, "tcp:1.2.3.4:5555");
    assert_string_equal(label, "1.2.3.4");
    assert_int_equal(c.kind, ARCA_CONN_CLIENT_IPV4);

    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(65535);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr), 1);
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&a6, sizeof a6, &c2, peer, label), ARCA_OK);
    assert_string_equal(peer, "tcp:[2001:db8::1]:65535");
    assert_string_equal(label, "2001:db8::1");
    assert_int_equal(c2.kind, ARCA_CONN_CLIENT_IPV6);

    /* An IPv4 client of a dual-stack listener is the same client. */
    assert_int_equal(inet_pton(AF_INET6, "::ffff:1.2.3.4", &a6.sin6_addr), 1);
    a6.sin6_port = htons(7);
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&a6, sizeof a6, &c2, peer, label), ARCA_OK);
    assert_string_equal(peer, "tcp:1.2.3.4:7");
    assert_string_equal(label, "1.2.3.4");
    assert_memory_equal(&c, &c2, sizeof c);

    /* The longest texts fit. */
    assert_int_equal(inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", &a6.sin6_addr), 1);
    a6.sin6_port = htons(65535);
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&a6, sizeof a6, &c2, peer, label), ARCA_OK);
    assert_string_equal(peer, "tcp:[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535");
    arca_conn_client_from_uid(UINT32_MAX, 2147483647, &c2, peer, label);
    assert_string_equal(peer, "unix:uid=4294967295,pid=2147483647");
    assert_string_equal(label, "uid 4294967295");

    arca_conn_client_from_uid(1000, 42, &c2, peer, label);
    assert_string_equal(peer, "unix:uid=1000,pid=42");
    assert_string_equal(label, "uid 1000");
    assert_int_equal(c2.kind, ARCA_CONN_CLIENT_UID);

    /* Other families and short addresses: refused, outputs untouched. */
    struct sockaddr_storage other;
    memset(&other, 0, sizeof other);
    other.ss_family = AF_UNIX;
    strcpy(peer, "unchanged");
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&other, sizeof other, &c2, peer, label),
                     ARCA_ERR_ARGS);
    assert_string_equal(peer, "unchanged");
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&a4, sizeof a4 - 1, &c2, peer, label),
                     ARCA_ERR_ARGS);
    assert_int_equal(arca_conn_client_from_addr((struct sockaddr *)&a6, sizeof a6 - 1, &c2, peer, label),
                     ARCA_ERR_ARGS);
    assert_int_equal(arca_conn_client_from_addr(NULL, 0, &c2, peer, label), ARCA_ERR_ARGS);
    assert_string_equal(peer, "unchanged");
}

static void test_new_rejects(void **state)
{
    (void)state;
    arca_conn_limits *l = NULL;
    assert_int_equal(arca_conn_limits_new(0, 0, &l), ARCA_ERR_ARGS);
    assert_int_equal(arca_conn_limits_new(65537, 1, &l), ARCA_ERR_ARGS);
    assert_int_equal(arca_conn_limits_new(4, 5, &l), ARCA_ERR_ARGS);
    assert_int_equal(arca_conn_limits_new(4, 0, &l), ARCA_ERR_ARGS);
    assert_int_equal(arca_conn_limits_new(4, 4, NULL), ARCA_ERR_ARGS);
    assert_null(l);
    arca_conn_limits_free(NULL);
}

static void test_caps(void **state)
{
    (void)state;
    arca_conn_limits *l = NULL;
    assert_int_equal(arca_conn_limits_new(3, 2, &l), ARCA_OK);
    arca_conn_client a = v4_client("127.0.0.1", 1000), a_other_port = v4_client("127.0.0.1", 2000);
    arca_conn_client b = v4_client("127.0.0.2", 1000), u = uid_client(0);

    assert_int_equal(arca_conn_limits_check(l, &a), ARCA_CONN_ADMIT);
    assert_int_equal(arca_conn_limits_add(l, 1, 101, &a), ARCA_OK);
    /* The port is not part of the client. */
    assert_int_equal(arca_conn_limits_add(l, 2, 102, &a_other_port), ARCA_OK);
    assert_int_equal(arca_conn_limits_client_open(l, &a), 2);
    assert_int_equal(arca_conn_limits_check(l, &a), ARCA_CONN_OVER_PER_CLIENT);
    assert_int_equal(arca_conn_limits_add(l, 3, 103, &a), ARCA_ERR_BUSY);
    assert_int_equal(arca_conn_limits_check(l, &b), ARCA_CONN_ADMIT);
    assert_int_equal(arca_conn_limits_add(l, 3, 103, &b), ARCA_OK);
    assert_int_equal(arca_conn_limits_open(l), 3);
    /* Full: the total is checked first, for everyone. */
    assert_int_equal(arca_conn_limits_check(l, &b), ARCA_CONN_OVER_TOTAL);
    assert_int_equal(arca_conn_limits_check(l, &a), ARCA_CONN_OVER_TOTAL);
    assert_int_equal(arca_conn_limits_check(l, &u), ARCA_CONN_OVER_TOTAL);
    assert_int_equal(arca_conn_limits_add(l, 4, 104, &u), ARCA_ERR_BUSY);
    assert_int_equal(arca_conn_limits_open(l), 3);

    /* A close frees a slot for its client. */
    assert_int_equal(arca_conn_limits_closed(l, 1), ARCA_OK);
    assert_int_equal(arca_conn_limits_client_open(l, &a), 1);
    assert_int_equal(arca_conn_limits_check(l, &a), ARCA_CONN_ADMIT);
    assert_int_equal(arca_conn_limits_add(l, 4, 104, &u), ARCA_OK);
    assert_int_equal(arca_conn_limits_open(l), 3);
    /* A duplicate id is refused even with room. */
    assert_int_equal(arca_conn_limits_closed(l, 2), ARCA_OK);
    assert_int_equal(arca_conn_limits_add(l, 4, 105, &a), ARCA_ERR_EXISTS);
    assert_int_equal(arca_conn_limits_open(l), 2);
    arca_conn_limits_free(l);
}

static void test_hostile_reports(void **state)
{
    (void)state;
    arca_conn_limits *l = NULL;
    assert_int_equal(arca_conn_limits_new(4, 2, &l), ARCA_OK);
    arca_conn_client a = v4_client("10.0.0.1", 1), u = uid_client(1000);
    assert_int_equal(arca_conn_limits_add(l, 7, 70, &a), ARCA_OK);
    assert_int_equal(arca_conn_limits_add(l, 8, 80, &u), ARCA_OK);

    /* Unknown ids and a second close of the same id change nothing. */
    assert_int_equal(arca_conn_limits_closed(l, 99), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_closed(l, 0), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_closed(l, 7), ARCA_OK);
    assert_int_equal(arca_conn_limits_closed(l, 7), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_open(l), 1);
    assert_int_equal(arca_conn_limits_client_open(l, &u), 1);
    assert_int_equal(arca_conn_limits_closed(l, 8), ARCA_OK);
    assert_int_equal(arca_conn_limits_closed(l, 8), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_open(l), 0);
    assert_int_equal(arca_conn_limits_closed(NULL, 8), ARCA_ERR_ARGS);

    /* Replies: OK keeps counting until CONN_CLOSED; a refusal stops at once;
     * a second reply or one to an unknown request changes nothing. */
    uint64_t id = 0;
    assert_int_equal(arca_conn_limits_add(l, 10, 100, &a), ARCA_OK);
    assert_int_equal(arca_conn_limits_add(l, 11, 110, &a), ARCA_OK);
    assert_int_equal(arca_conn_limits_reply(l, 100, ARCA_OK, &id), ARCA_OK);
    assert_int_equal(id, 10);
    assert_int_equal(arca_conn_limits_open(l), 2);
    assert_int_equal(arca_conn_limits_reply(l, 100, ARCA_ERR_BUSY, &id), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_open(l), 2);
    assert_int_equal(arca_conn_limits_reply(l, 110, ARCA_ERR_BUSY, &id), ARCA_OK);
    assert_int_equal(id, 11);
    assert_int_equal(arca_conn_limits_open(l), 1);
    assert_int_equal(arca_conn_limits_closed(l, 11), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_reply(l, 110, ARCA_OK, NULL), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_reply(l, 12345, ARCA_OK, NULL), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_reply(NULL, 1, ARCA_OK, NULL), ARCA_ERR_ARGS);
    /* CONN_CLOSED before the reply: the late reply finds nothing. */
    assert_int_equal(arca_conn_limits_add(l, 12, 120, &a), ARCA_OK);
    assert_int_equal(arca_conn_limits_closed(l, 12), ARCA_OK);
    assert_int_equal(arca_conn_limits_reply(l, 120, ARCA_ERR_BUSY, NULL), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_open(l), 1);
    assert_int_equal(arca_conn_limits_closed(l, 10), ARCA_OK);
    assert_int_equal(arca_conn_limits_open(l), 0);
    arca_conn_limits_free(l);
}

static void test_reset(void **state)
{
    (void)state;
    arca_conn_limits *l = NULL;
    assert_int_equal(arca_conn_limits_new(2, 2, &l), ARCA_OK);
    arca_conn_client u = uid_client(0);
    assert_int_equal(arca_conn_limits_add(l, 1, 1, &u), ARCA_OK);
    assert_int_equal(arca_conn_limits_add(l, 2, 2, &u), ARCA_OK);
    assert_int_equal(arca_conn_limits_check(l, &u), ARCA_CONN_OVER_TOTAL);
    /* The enclave ended: its connections died with it. */
    assert_int_equal(arca_conn_limits_reset(l), 2);
    assert_int_equal(arca_conn_limits_open(l), 0);
    assert_int_equal(arca_conn_limits_check(l, &u), ARCA_CONN_ADMIT);
    /* The old enclave's reports about them no longer count. */
    assert_int_equal(arca_conn_limits_closed(l, 1), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_conn_limits_reset(l), 0);
    arca_conn_limits_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_text),
        cmocka_unit_test(test_new_rejects),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_hostile_reports),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
