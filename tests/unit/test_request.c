/* The request dispatcher's own paths: a malformed request is answered
 * with an error response carrying the decode status (and the status is
 * returned so the connection closes), before the keystore is touched.
 * (The mapping of each op onto arca_kms_* runs end to end in the
 * integration tests, through kms-client.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arca/local_proto.h"
#include "arca/secret.h"
#include "request.h"

/* Handle req with no keystore at all: only a request that fails to decode
 * can be answered without one. Returns the handler status and the decoded
 * response's status and message. */
static arca_status handle(const uint8_t *req, size_t len, uint16_t op, uint32_t *resp_status, char *msg)
{
    arca_request_ctx ctx = {0};
    arca_builder resp;
    assert_int_equal(arca_builder_init_secret(&resp, 64, ARCA_LP_FRAME_MAX), ARCA_OK);
    arca_status st = arca_request_handle(&ctx, NULL, req, len, &resp);
    arca_cursor c;
    arca_lp_response r;
    arca_cursor_init(&c, resp.data, resp.len);
    assert_int_equal(arca_lp_response_decode(&c, op, &r), ARCA_OK);
    *resp_status = r.status;
    memcpy(msg, r.message.data, r.message.len);
    msg[r.message.len] = 0;
    arca_builder_cleanup(&resp);
    return st;
}

static void test_malformed_requests(void **state)
{
    (void)state;
    uint32_t rs;
    char msg[300];

    const uint8_t empty[1] = {0};
    assert_int_equal(handle(empty, 0, ARCA_LP_LOGIN, &rs, msg), ARCA_ERR_DECODE);
    assert_int_equal(rs, ARCA_ERR_DECODE);
    assert_string_equal(msg, "malformed request");

    const uint8_t version2[] = {0, 2, 0, ARCA_LP_LOGOUT};
    assert_int_equal(handle(version2, sizeof(version2), ARCA_LP_LOGOUT, &rs, msg), ARCA_ERR_DECODE);
    assert_int_equal(rs, ARCA_ERR_DECODE);

    const uint8_t unknown_op[] = {0, 1, 0, 99};
    assert_int_equal(handle(unknown_op, sizeof(unknown_op), ARCA_LP_LOGOUT, &rs, msg), ARCA_ERR_DECODE);
    assert_int_equal(rs, ARCA_ERR_DECODE);

    const uint8_t trailing[] = {0, 1, 0, ARCA_LP_LOGOUT, 0};
    assert_int_equal(handle(trailing, sizeof(trailing), ARCA_LP_LOGOUT, &rs, msg), ARCA_ERR_DECODE);
    assert_int_equal(rs, ARCA_ERR_DECODE);

    /* a LOGIN whose PIN is cut short */
    const uint8_t short_pin[] = {0, 1, 0, ARCA_LP_LOGIN, 0, 1, 'p', 3, 0, 8, '1', '2'};
    assert_int_equal(handle(short_pin, sizeof(short_pin), ARCA_LP_LOGIN, &rs, msg), ARCA_ERR_DECODE);
    assert_int_equal(rs, ARCA_ERR_DECODE);

    /* a template over 64 attributes */
    const uint8_t big_tmpl[] = {0, 1, 0, ARCA_LP_CREATE_OBJECT, 0, 0, 0, 65};
    assert_int_equal(handle(big_tmpl, sizeof(big_tmpl), ARCA_LP_CREATE_OBJECT, &rs, msg), ARCA_ERR_TOO_LARGE);
    assert_int_equal(rs, ARCA_ERR_TOO_LARGE);

    /* RANDOM over the data cap */
    const uint8_t big_random[] = {0, 1, 0, ARCA_LP_RANDOM, 0, 0x04, 0, 1};
    assert_int_equal(handle(big_random, sizeof(big_random), ARCA_LP_RANDOM, &rs, msg), ARCA_ERR_TOO_LARGE);
    assert_int_equal(rs, ARCA_ERR_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
