/* The enclave's end of the host channel, driven with byte buffers: the
 * permission table (frame type x direction x state), caps, malformed
 * payloads, each with its exact status and the reply arcad would see; and
 * the OCALL store proxy against hostile replies. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "arca/channel.h"
#include "arca/log.h"
#include "host_channel.h"

typedef struct fake {
    int starts, connections, shutdowns;
    uint64_t conn_id;
    char peer[300];
    int conn_fd;
    arca_status start_result;
} fake;

static arca_status f_start(void *ctx, uint32_t id, const uint8_t *p, size_t n)
{
    (void)id;
    (void)p;
    (void)n;
    fake *f = ctx;
    f->starts++;
    return f->start_result;
}

static arca_status f_connection(void *ctx, uint64_t conn_id, const char *peer, int fd)
{
    fake *f = ctx;
    f->connections++;
    f->conn_id = conn_id;
    strcpy(f->peer, peer);
    f->conn_fd = fd;
    return ARCA_OK;
}

static void f_shutdown(void *ctx)
{
    ((fake *)ctx)->shutdowns++;
}

static arca_status f_status(void *ctx, arca_builder *out)
{
    (void)ctx;
    return arca_builder_add_bytes(out, "state: READY\n", 13);
}

typedef struct fixture {
    int sv[2]; /* sv[0]: enclave side, sv[1]: the test plays arcad */
    fake f;
    arca_host_channel *hc;
} fixture;

static int setup(void **state)
{
    fixture *x = calloc(1, sizeof(*x));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x->sv), 0);
    x->f.conn_fd = -1;
    arca_hc_handlers h = {.ctx = &x->f,
                          .on_start = f_start,
                          .on_connection = f_connection,
                          .on_shutdown = f_shutdown,
                          .can_stop = NULL,
                          .on_status = f_status};
    assert_int_equal(arca_host_channel_new(x->sv[0], &h, &x->hc), ARCA_OK);
    arca_log_set_level(ARCA_LOG_ERROR); /* the refusals are logged at WARN */
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    fixture *x = *state;
    arca_host_channel_free(x->hc);
    if (x->f.conn_fd >= 0) close(x->f.conn_fd);
    close(x->sv[0]);
    close(x->sv[1]);
    free(x);
    return 0;
}

static size_t frame(uint8_t *buf, uint16_t type, uint16_t flags, uint32_t id, const void *payload, size_t len)
{
    arca_frame_header h = {type, flags, id, (uint32_t)len};
    arca_frame_header_encode(&h, buf);
    if (len) memcpy(buf + ARCA_FRAME_HEADER_LEN, payload, len);
    return ARCA_FRAME_HEADER_LEN + len;
}

static arca_status send_bytes(fixture *x, uint16_t type, uint16_t flags, uint32_t id, const void *payload,
                              size_t len, int fd)
{
    static uint8_t buf[64 * 1024];
    size_t n = frame(buf, type, flags, id, payload, len);
    return arca_host_channel_dispatch_bytes(x->hc, buf, n, fd);
}

static bool pending_data(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* Read the reply the enclave sent; return its status. */
static uint32_t read_reply(fixture *x, uint16_t want_type, uint32_t want_id)
{
    arca_frame_header h;
    uint8_t *payload = NULL;
    int fd = -1;
    assert_true(pending_data(x->sv[1]));
    assert_int_equal(arca_channel_recv(x->sv[1], &h, &payload, &fd), ARCA_OK);
    assert_int_equal(h.type, want_type);
    assert_int_equal(h.flags, ARCA_FRAME_REPLY);
    assert_int_equal(h.request_id, want_id);
    assert_true(h.payload_len >= 4);
    uint32_t st = ((uint32_t)payload[0] << 24) | ((uint32_t)payload[1] << 16) | ((uint32_t)payload[2] << 8) |
                  payload[3];
    free(payload);
    return st;
}

static void go_ready(fixture *x)
{
    assert_int_equal(send_bytes(x, ARCA_ECALL_START, 0, 1, "params", 6, -1), ARCA_OK);
    assert_int_equal(arca_host_channel_state(x->hc), ARCA_HC_OPENING);
    arca_host_channel_start_done(x->hc, 1, ARCA_OK, false, ARCA_OK);
    assert_int_equal(read_reply(x, ARCA_ECALL_START, 1), ARCA_OK);
    assert_int_equal(arca_host_channel_state(x->hc), ARCA_HC_READY);
}

static void test_starting_permits_only_start(void **state)
{
    fixture *x = *state;
    assert_int_equal(send_bytes(x, ARCA_ECALL_STATUS, 0, 5, NULL, 0, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_STATUS, 5), ARCA_ERR_FRAME_STATE);
    assert_int_equal(send_bytes(x, ARCA_ECALL_SHUTDOWN, 0, 6, NULL, 0, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_SHUTDOWN, 6), ARCA_ERR_FRAME_STATE);
    /* a CONNECTION before READY: refused, and its descriptor closed */
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    uint8_t p[11] = {0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 'x'};
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 7, p, sizeof(p), sp[0]), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 7), ARCA_ERR_FRAME_STATE);
    char c;
    assert_int_equal(read(sp[1], &c, 1), 0); /* the enclave closed its end */
    close(sp[1]);
    assert_int_equal(x->f.connections, 0);
    /* an OCALL reply nobody waits for */
    assert_int_equal(send_bytes(x, ARCA_OCALL_STORE_GET, ARCA_FRAME_REPLY, 8, "\0\0\0\0", 4, -1),
                     ARCA_ERR_FRAME_STATE);
    assert_false(pending_data(x->sv[1])); /* replies are never answered */
    assert_int_equal(arca_host_channel_state(x->hc), ARCA_HC_STARTING);
    assert_int_equal(x->f.starts, 0);
}

static void test_start_and_second_start(void **state)
{
    fixture *x = *state;
    go_ready(x);
    assert_int_equal(x->f.starts, 1);
    assert_int_equal(send_bytes(x, ARCA_ECALL_START, 0, 2, "params", 6, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_START, 2), ARCA_ERR_FRAME_STATE);
    assert_int_equal(x->f.starts, 1);
}

static void test_start_refused_by_handler(void **state)
{
    fixture *x = *state;
    x->f.start_result = ARCA_ERR_NOMEM;
    assert_int_equal(send_bytes(x, ARCA_ECALL_START, 0, 3, "p", 1, -1), ARCA_ERR_NOMEM);
    assert_int_equal(read_reply(x, ARCA_ECALL_START, 3), ARCA_ERR_NOMEM);
    assert_int_equal(arca_host_channel_state(x->hc), ARCA_HC_STARTING);
}

static void test_opening_permits_only_replies(void **state)
{
    fixture *x = *state;
    assert_int_equal(send_bytes(x, ARCA_ECALL_START, 0, 1, "params", 6, -1), ARCA_OK);
    assert_int_equal(send_bytes(x, ARCA_ECALL_STATUS, 0, 2, NULL, 0, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_STATUS, 2), ARCA_ERR_FRAME_STATE);
    assert_int_equal(send_bytes(x, ARCA_ECALL_START, 0, 3, "params", 6, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_START, 3), ARCA_ERR_FRAME_STATE);
}

static void test_unknown_type(void **state)
{
    fixture *x = *state;
    go_ready(x);
    assert_int_equal(send_bytes(x, 0x0042, 0, 9, "zz", 2, -1), ARCA_ERR_FRAME_TYPE);
    /* no reply: a reply of an unknown type would itself be refused */
    assert_false(pending_data(x->sv[1]));
    assert_int_equal(arca_host_channel_state(x->hc), ARCA_HC_READY);
}

static void test_over_cap(void **state)
{
    fixture *x = *state;
    uint8_t hdr[ARCA_FRAME_HEADER_LEN];
    arca_frame_header h = {ARCA_ECALL_START, 0, 4, (uint32_t)arca_frame_cap(ARCA_ECALL_START, false) + 1};
    arca_frame_header_encode(&h, hdr);
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, hdr, sizeof(hdr), -1), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(read_reply(x, ARCA_ECALL_START, 4), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(x->f.starts, 0);
    /* SHUTDOWN carries nothing: one byte is over its cap */
    go_ready(x);
    assert_int_equal(send_bytes(x, ARCA_ECALL_SHUTDOWN, 0, 5, "x", 1, -1), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(read_reply(x, ARCA_ECALL_SHUTDOWN, 5), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(x->f.shutdowns, 0);
}

static void test_malformed_headers(void **state)
{
    fixture *x = *state;
    uint8_t buf[32] = {0};
    /* shorter than a header */
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, 5, -1), ARCA_ERR_DECODE);
    /* unknown flag bits: the stream cannot be trusted */
    size_t n = frame(buf, ARCA_ECALL_STATUS, 0x8000, 1, NULL, 0);
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, n, -1), ARCA_ERR_DECODE);
    /* payload length differs from the header's */
    n = frame(buf, ARCA_ECALL_START, 0, 1, "abc", 3);
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, n - 1, -1), ARCA_ERR_DECODE);
    assert_false(pending_data(x->sv[1]));
}

static void test_connection(void **state)
{
    fixture *x = *state;
    go_ready(x);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    uint8_t p[8 + 2 + 5] = {0, 0, 0, 0, 0, 0, 1, 2, 0, 5, 'p', 'e', 'e', 'r', '1'};
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 10, p, sizeof(p), sp[0]), ARCA_OK);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 10), ARCA_OK);
    assert_int_equal(x->f.connections, 1);
    assert_int_equal(x->f.conn_id, 0x102);
    assert_string_equal(x->f.peer, "peer1");
    assert_int_equal(x->f.conn_fd, sp[0]);
    close(sp[1]);

    /* without its descriptor */
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 11, p, sizeof(p), -1), ARCA_ERR_DECODE);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 11), ARCA_ERR_DECODE);
    /* short payload */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 12, p, 9, sp[0]), ARCA_ERR_DECODE);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 12), ARCA_ERR_DECODE);
    char c;
    assert_int_equal(read(sp[1], &c, 1), 0);
    close(sp[1]);
    /* trailing byte */
    uint8_t longer[sizeof(p) + 1];
    memcpy(longer, p, sizeof(p));
    longer[sizeof(p)] = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 13, longer, sizeof(longer), sp[0]), ARCA_ERR_DECODE);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 13), ARCA_ERR_DECODE);
    close(sp[1]);
    /* peer text over ARCA_HC_PEER_MAX */
    static uint8_t big[8 + 2 + ARCA_HC_PEER_MAX + 1];
    memset(big, 'a', sizeof(big));
    memset(big, 0, 8);
    big[8] = (uint8_t)((ARCA_HC_PEER_MAX + 1) >> 8);
    big[9] = (uint8_t)(ARCA_HC_PEER_MAX + 1);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 14, big, sizeof(big), sp[0]), ARCA_ERR_TOO_LARGE);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 14), ARCA_ERR_TOO_LARGE);
    close(sp[1]);
    /* a NUL inside the peer text */
    uint8_t nul[8 + 2 + 3] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 'a', 0, 'b'};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 15, nul, sizeof(nul), sp[0]), ARCA_ERR_DECODE);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 15), ARCA_ERR_DECODE);
    close(sp[1]);
    assert_int_equal(x->f.connections, 1);
}

static void test_status_and_shutdown(void **state)
{
    fixture *x = *state;
    go_ready(x);
    assert_int_equal(send_bytes(x, ARCA_ECALL_STATUS, 0, 20, NULL, 0, -1), ARCA_OK);
    arca_frame_header h;
    uint8_t *payload = NULL;
    int fd = -1;
    assert_int_equal(arca_channel_recv(x->sv[1], &h, &payload, &fd), ARCA_OK);
    assert_int_equal(h.request_id, 20);
    assert_int_equal(h.payload_len, 4 + 4 + 13);
    assert_memory_equal(payload + 8, "state: READY\n", 13);
    free(payload);
    /* STATUS with a payload is malformed */
    assert_int_equal(send_bytes(x, ARCA_ECALL_STATUS, 0, 21, "abcd", 4, -1), ARCA_ERR_DECODE);
    assert_int_equal(read_reply(x, ARCA_ECALL_STATUS, 21), ARCA_ERR_DECODE);
    /* an OCALL request from the host */
    assert_int_equal(send_bytes(x, ARCA_OCALL_STORE_GET, 0, 22, "k", 1, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_OCALL_STORE_GET, 22), ARCA_ERR_FRAME_STATE);
    /* a reply to an ECALL the enclave never sent */
    assert_int_equal(send_bytes(x, ARCA_ECALL_STATUS, ARCA_FRAME_REPLY, 23, "\0\0\0\0", 4, -1),
                     ARCA_ERR_FRAME_STATE);
    assert_false(pending_data(x->sv[1]));

    assert_int_equal(send_bytes(x, ARCA_ECALL_SHUTDOWN, 0, 24, NULL, 0, -1), ARCA_OK);
    assert_int_equal(read_reply(x, ARCA_ECALL_SHUTDOWN, 24), ARCA_OK);
    assert_int_equal(x->f.shutdowns, 1);
    assert_int_equal(arca_host_channel_state(x->hc), ARCA_HC_STOPPING);
    /* STOPPING: only replies */
    assert_int_equal(send_bytes(x, ARCA_ECALL_STATUS, 0, 25, NULL, 0, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_STATUS, 25), ARCA_ERR_FRAME_STATE);
    assert_int_equal(send_bytes(x, ARCA_ECALL_SHUTDOWN, 0, 26, NULL, 0, -1), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_SHUTDOWN, 26), ARCA_ERR_FRAME_STATE);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    uint8_t p[10] = {0, 0, 0, 0, 0, 0, 0, 3, 0, 0};
    assert_int_equal(send_bytes(x, ARCA_ECALL_CONNECTION, 0, 27, p, sizeof(p), sp[0]), ARCA_ERR_FRAME_STATE);
    assert_int_equal(read_reply(x, ARCA_ECALL_CONNECTION, 27), ARCA_ERR_FRAME_STATE);
    close(sp[1]);
}

/* ---- the OCALL store proxy ---- */

typedef struct call_args {
    arca_store_ops ops;
    int kind; /* 0 get, 1 commit, 2 scan */
    arca_status st;
    uint8_t *val;
    size_t val_len;
    arca_store_entry *entries;
    size_t num;
} call_args;

static void *caller(void *arg)
{
    call_args *a = arg;
    static const uint8_t key[] = {1, 2, 3};
    if (a->kind == 0) {
        a->st = a->ops.get(a->ops.ctx, ARCA_DB_BLOBS, key, sizeof(key), &a->val, &a->val_len);
    } else if (a->kind == 1) {
        arca_store_op op = {ARCA_STORE_PUT, ARCA_DB_STATE, key, sizeof(key), key, sizeof(key)};
        a->st = a->ops.commit(a->ops.ctx, &op, 1);
    } else {
        static const uint8_t prefix[] = {0xab};
        a->st = a->ops.scan(a->ops.ctx, ARCA_DB_INDEX, prefix, 1, NULL, 0, 10, false, false, &a->entries, &a->num);
    }
    return NULL;
}

/* Start an OCALL on a thread, read its request as arcad, answer with
 * `reply` (status || body) through the dispatcher, return the call's
 * status. */
static arca_status ocall_with_reply(fixture *x, int kind, uint16_t type, const uint8_t *reply, size_t reply_len,
                                    call_args *a, arca_status want_dispatch)
{
    memset(a, 0, sizeof(*a));
    arca_host_channel_store_ops(x->hc, &a->ops);
    a->kind = kind;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, caller, a), 0);
    arca_frame_header h;
    uint8_t *payload = NULL;
    int fd = -1;
    assert_int_equal(arca_channel_recv(x->sv[1], &h, &payload, &fd), ARCA_OK);
    assert_int_equal(h.type, type);
    assert_int_equal(h.flags, 0);
    free(payload);
    static uint8_t buf[2 * 1024 * 1024];
    size_t n = frame(buf, type, ARCA_FRAME_REPLY, h.request_id + 1000, reply, reply_len);
    /* a reply with the wrong id is refused and the caller keeps waiting */
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, n, -1), ARCA_ERR_FRAME_STATE);
    n = frame(buf, type, ARCA_FRAME_REPLY, h.request_id, reply, reply_len);
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, n, -1), want_dispatch);
    pthread_join(t, NULL);
    return a->st;
}

static void test_proxy_get(void **state)
{
    fixture *x = *state;
    go_ready(x);
    call_args a;
    const uint8_t ok[] = {0, 0, 0, 0, 0, 0, 0, 3, 'v', 'a', 'l'};
    assert_int_equal(ocall_with_reply(x, 0, ARCA_OCALL_STORE_GET, ok, sizeof(ok), &a, ARCA_OK), ARCA_OK);
    assert_int_equal(a.val_len, 3);
    assert_memory_equal(a.val, "val", 3);
    free(a.val);

    const uint8_t nf[] = {0, 0, 0, ARCA_ERR_NOT_FOUND};
    assert_int_equal(ocall_with_reply(x, 0, ARCA_OCALL_STORE_GET, nf, sizeof(nf), &a, ARCA_OK), ARCA_ERR_NOT_FOUND);
    /* the host cannot inject other statuses */
    const uint8_t pin[] = {0, 0, 0, ARCA_ERR_PIN_INCORRECT};
    assert_int_equal(ocall_with_reply(x, 0, ARCA_OCALL_STORE_GET, pin, sizeof(pin), &a, ARCA_OK), ARCA_ERR_STORE);
    /* trailing byte after the value */
    const uint8_t trailing[] = {0, 0, 0, 0, 0, 0, 0, 1, 'v', 'x'};
    assert_int_equal(ocall_with_reply(x, 0, ARCA_OCALL_STORE_GET, trailing, sizeof(trailing), &a, ARCA_OK),
                     ARCA_ERR_DECODE);
    /* value shorter than its prefix */
    const uint8_t shortv[] = {0, 0, 0, 0, 0, 0, 0, 9, 'v'};
    assert_int_equal(ocall_with_reply(x, 0, ARCA_OCALL_STORE_GET, shortv, sizeof(shortv), &a, ARCA_OK),
                     ARCA_ERR_DECODE);
    /* no status at all */
    assert_int_equal(ocall_with_reply(x, 0, ARCA_OCALL_STORE_GET, ok, 2, &a, ARCA_OK), ARCA_ERR_DECODE);
    /* value over ARCA_STORE_MAX_VALUE (fits the frame cap) */
    size_t big_len = 8 + ARCA_STORE_MAX_VALUE + 1;
    uint8_t *big = calloc(1, big_len);
    uint32_t v = ARCA_STORE_MAX_VALUE + 1;
    big[4] = (uint8_t)(v >> 24);
    big[5] = (uint8_t)(v >> 16);
    big[6] = (uint8_t)(v >> 8);
    big[7] = (uint8_t)v;
    assert_int_equal(ocall_with_reply(x, 0, ARCA_OCALL_STORE_GET, big, big_len, &a, ARCA_OK), ARCA_ERR_TOO_LARGE);
    free(big);
}

static void test_proxy_commit_and_scan(void **state)
{
    fixture *x = *state;
    go_ready(x);
    call_args a;
    const uint8_t ok[] = {0, 0, 0, 0};
    assert_int_equal(ocall_with_reply(x, 1, ARCA_OCALL_STORE_COMMIT, ok, sizeof(ok), &a, ARCA_OK), ARCA_OK);
    const uint8_t extra[] = {0, 0, 0, 0, 1};
    assert_int_equal(ocall_with_reply(x, 1, ARCA_OCALL_STORE_COMMIT, extra, sizeof(extra), &a, ARCA_OK),
                     ARCA_ERR_DECODE);
    const uint8_t fail[] = {0, 0, 0, ARCA_ERR_STORE};
    assert_int_equal(ocall_with_reply(x, 1, ARCA_OCALL_STORE_COMMIT, fail, sizeof(fail), &a, ARCA_OK),
                     ARCA_ERR_STORE);

    /* scan: two keys under the prefix, in order */
    const uint8_t good[] = {0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0xab, 1, 0, 0, 0, 0, 0, 2, 0xab, 2, 0, 0, 0, 0};
    assert_int_equal(ocall_with_reply(x, 2, ARCA_OCALL_STORE_SCAN, good, sizeof(good), &a, ARCA_OK), ARCA_OK);
    assert_int_equal(a.num, 2);
    arca_store_entries_free(a.entries, a.num);
    /* a key outside the prefix */
    const uint8_t outside[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0xac, 1, 0, 0, 0, 0};
    assert_int_equal(ocall_with_reply(x, 2, ARCA_OCALL_STORE_SCAN, outside, sizeof(outside), &a, ARCA_OK),
                     ARCA_ERR_STORE);
    /* out of order */
    const uint8_t order[] = {0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0xab, 2, 0, 0, 0, 0, 0, 2, 0xab, 1, 0, 0, 0, 0};
    assert_int_equal(ocall_with_reply(x, 2, ARCA_OCALL_STORE_SCAN, order, sizeof(order), &a, ARCA_OK),
                     ARCA_ERR_STORE);
    /* a value that was not asked for */
    const uint8_t withval[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0xab, 1, 0, 0, 0, 1, 'v'};
    assert_int_equal(ocall_with_reply(x, 2, ARCA_OCALL_STORE_SCAN, withval, sizeof(withval), &a, ARCA_OK),
                     ARCA_ERR_STORE);
}

static void test_reply_type_mismatch(void **state)
{
    fixture *x = *state;
    go_ready(x);
    call_args a;
    memset(&a, 0, sizeof(a));
    arca_host_channel_store_ops(x->hc, &a.ops);
    a.kind = 1;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, caller, &a), 0);
    arca_frame_header h;
    uint8_t *payload = NULL;
    int fd = -1;
    assert_int_equal(arca_channel_recv(x->sv[1], &h, &payload, &fd), ARCA_OK);
    free(payload);
    uint8_t buf[32];
    /* a GET reply to a pending COMMIT: refused */
    size_t n = frame(buf, ARCA_OCALL_STORE_GET, ARCA_FRAME_REPLY, h.request_id, "\0\0\0\0", 4);
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, n, -1), ARCA_ERR_FRAME_STATE);
    n = frame(buf, ARCA_OCALL_STORE_COMMIT, ARCA_FRAME_REPLY, h.request_id, "\0\0\0\0", 4);
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, n, -1), ARCA_OK);
    pthread_join(t, NULL);
    assert_int_equal(a.st, ARCA_OK);
    /* the same reply again: nobody waits for it */
    assert_int_equal(arca_host_channel_dispatch_bytes(x->hc, buf, n, -1), ARCA_ERR_FRAME_STATE);
}

/* run(): the reader over a real socket keeps in step after refusing an
 * over-cap frame, and ends on an undecodable header. */
static void test_run_reader(void **state)
{
    fixture *x = *state;
    go_ready(x);
    static uint8_t buf[8192];
    /* over-cap STATUS (cap 16) with a 100-byte payload, then SHUTDOWN */
    size_t n = frame(buf, ARCA_ECALL_STATUS, 0, 40, buf + 4096, 100);
    n += frame(buf + n, ARCA_ECALL_SHUTDOWN, 0, 41, NULL, 0);
    assert_int_equal(write(x->sv[1], buf, n), (ssize_t)n);
    assert_int_equal(arca_host_channel_run(x->hc), ARCA_OK); /* STOPPING and can_stop NULL: returns */
    assert_int_equal(read_reply(x, ARCA_ECALL_STATUS, 40), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(read_reply(x, ARCA_ECALL_SHUTDOWN, 41), ARCA_OK);
}

static void test_run_desynchronised(void **state)
{
    fixture *x = *state;
    go_ready(x);
    uint8_t buf[ARCA_FRAME_HEADER_LEN];
    frame(buf, ARCA_ECALL_STATUS, 0x4000, 1, NULL, 0);
    assert_int_equal(write(x->sv[1], buf, sizeof(buf)), (ssize_t)sizeof(buf));
    assert_int_equal(arca_host_channel_run(x->hc), ARCA_ERR_CHANNEL);
    /* afterwards OCALLs fail at once */
    arca_store_ops ops;
    uint8_t *v = NULL;
    size_t len = 0;
    arca_host_channel_store_ops(x->hc, &ops);
    assert_int_equal(ops.get(ops.ctx, ARCA_DB_BLOBS, (const uint8_t *)"k", 1, &v, &len), ARCA_ERR_CHANNEL);
}

static void test_run_host_closes(void **state)
{
    fixture *x = *state;
    close(x->sv[1]);
    x->sv[1] = socket(AF_UNIX, SOCK_STREAM, 0); /* something for teardown to close */
    assert_int_equal(arca_host_channel_run(x->hc), ARCA_ERR_CHANNEL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_starting_permits_only_start),
        T(test_start_and_second_start),
        T(test_start_refused_by_handler),
        T(test_opening_permits_only_replies),
        T(test_unknown_type),
        T(test_over_cap),
        T(test_malformed_headers),
        T(test_connection),
        T(test_status_and_shutdown),
        T(test_proxy_get),
        T(test_proxy_commit_and_scan),
        T(test_reply_type_mismatch),
        T(test_run_reader),
        T(test_run_desynchronised),
        T(test_run_host_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
