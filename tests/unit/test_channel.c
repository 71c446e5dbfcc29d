/* Unit tests: the host channel frame codec, send/recv, start parameters. */
#include <dirent.h>
#include <fcntl.h>
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

static int sp[2] = {-1, -1};

static int setup_pair(void **state)
{
    (void)state;
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
}

static int teardown_pair(void **state)
{
    (void)state;
    if (sp[0] >= 0) close(sp[0]);
    if (sp[1] >= 0) close(sp[1]);
    sp[0] = sp[1] = -1;
    return 0;
}

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    size_t n = 0;
    while (readdir(d) != NULL) n++;
    closedir(d);
    return n;
}

static void write_all(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void raw_header(int fd, uint16_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    arca_frame_header h = {type, flags, id, len};
    uint8_t b[ARCA_FRAME_HEADER_LEN];
    arca_frame_header_encode(&h, b);
    write_all(fd, b, sizeof(b));
}

static void test_caps(void **state)
{
    (void)state;
    assert_int_equal(arca_frame_cap(ARCA_ECALL_START, false), 64 * 1024);
    assert_int_equal(arca_frame_cap(ARCA_ECALL_START, true), 4096);
    assert_int_equal(arca_frame_cap(ARCA_ECALL_CONNECTION, false), 1024);
    assert_int_equal(arca_frame_cap(ARCA_ECALL_CONNECTION, true), 64);
    assert_int_equal(arca_frame_cap(ARCA_ECALL_SHUTDOWN, false), 0);
    assert_int_equal(arca_frame_cap(ARCA_ECALL_SHUTDOWN, true), 16);
    assert_int_equal(arca_frame_cap(ARCA_ECALL_STATUS, false), 16);
    assert_int_equal(arca_frame_cap(ARCA_ECALL_STATUS, true), 4096);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_STORE_GET, false), 1024);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_STORE_GET, true), (1 << 20) + 16);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_STORE_COMMIT, false), 8 << 20);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_STORE_COMMIT, true), 64);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_STORE_SCAN, false), 2048);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_STORE_SCAN, true), 4 << 20);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_CONN_CLOSED, false), 8);
    assert_int_equal(arca_frame_cap(ARCA_OCALL_CONN_CLOSED, true), 0); /* a notification: no reply */
    assert_int_equal(arca_frame_cap(0, false), 0);
    assert_int_equal(arca_frame_cap(0x0105, true), 0);
    assert_int_equal(arca_frame_cap(0x0105, false), 0);
    assert_true(arca_frame_is_notification(ARCA_OCALL_CONN_CLOSED));
    assert_false(arca_frame_is_notification(ARCA_OCALL_STORE_GET));
    assert_false(arca_frame_is_notification(ARCA_ECALL_CONNECTION));
    assert_false(arca_frame_is_notification(0x0105));
}

static void test_header_codec(void **state)
{
    (void)state;
    arca_frame_header h = {ARCA_OCALL_STORE_SCAN, ARCA_FRAME_REPLY, 0x01020304, 0x00000a0b};
    uint8_t b[ARCA_FRAME_HEADER_LEN];
    arca_frame_header_encode(&h, b);
    static const uint8_t want[] = {0x01, 0x03, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x0a, 0x0b};
    assert_memory_equal(b, want, sizeof(want));
    arca_frame_header out;
    assert_int_equal(arca_frame_header_decode(b, &out), ARCA_OK);
    assert_int_equal(out.type, h.type);
    assert_int_equal(out.flags, h.flags);
    assert_int_equal(out.request_id, h.request_id);
    assert_int_equal(out.payload_len, h.payload_len);
}

static arca_status decode_fields(uint16_t type, uint16_t flags, uint32_t len, arca_frame_header *out)
{
    arca_frame_header h = {type, flags, 7, len};
    uint8_t b[ARCA_FRAME_HEADER_LEN];
    arca_frame_header_encode(&h, b);
    return arca_frame_header_decode(b, out);
}

static void test_header_rejects(void **state)
{
    (void)state;
    arca_frame_header out;
    memset(&out, 0, sizeof(out));
    assert_int_equal(decode_fields(0x0999, 0, 0, &out), ARCA_ERR_FRAME_TYPE);
    assert_int_equal(out.type, 0x0999); /* filled in for logging */
    assert_int_equal(out.request_id, 7);
    assert_int_equal(decode_fields(0, 0, 0, &out), ARCA_ERR_FRAME_TYPE);
    assert_int_equal(decode_fields(ARCA_ECALL_STATUS, 0x0002, 0, &out), ARCA_ERR_DECODE);
    assert_int_equal(decode_fields(ARCA_ECALL_STATUS, 0x8001, 0, &out), ARCA_ERR_DECODE);
    assert_int_equal(decode_fields(ARCA_ECALL_START, 0, 64 * 1024, &out), ARCA_OK);
    assert_int_equal(decode_fields(ARCA_ECALL_START, 0, 64 * 1024 + 1, &out), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(out.payload_len, 64 * 1024 + 1);
    assert_int_equal(decode_fields(ARCA_ECALL_START, ARCA_FRAME_REPLY, 4096, &out), ARCA_OK);
    assert_int_equal(decode_fields(ARCA_ECALL_START, ARCA_FRAME_REPLY, 4097, &out), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(decode_fields(ARCA_ECALL_SHUTDOWN, 0, 1, &out), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(decode_fields(ARCA_OCALL_STORE_COMMIT, 0, UINT32_MAX, &out), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(arca_frame_header_decode(NULL, &out), ARCA_ERR_ARGS);
    /* CONN_CLOSED: exactly a u64 fits; there is no reply to it. */
    assert_int_equal(decode_fields(ARCA_OCALL_CONN_CLOSED, 0, 8, &out), ARCA_OK);
    assert_int_equal(decode_fields(ARCA_OCALL_CONN_CLOSED, 0, 0, &out), ARCA_OK); /* the codec's job */
    assert_int_equal(decode_fields(ARCA_OCALL_CONN_CLOSED, 0, 9, &out), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(decode_fields(ARCA_OCALL_CONN_CLOSED, ARCA_FRAME_REPLY, 0, &out), ARCA_ERR_DECODE);
    assert_int_equal(decode_fields(ARCA_OCALL_CONN_CLOSED, ARCA_FRAME_REPLY, 4, &out), ARCA_ERR_DECODE);
    assert_int_equal(out.type, ARCA_OCALL_CONN_CLOSED); /* still filled in for the log line */
    assert_int_equal(out.flags, ARCA_FRAME_REPLY);
}

static void test_conn_closed_codec(void **state)
{
    (void)state;
    uint8_t b[ARCA_CONN_CLOSED_LEN];
    arca_conn_closed_encode(0x0102030405060708ull, b);
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(b, want, sizeof(want));
    uint64_t id = 0;
    assert_int_equal(arca_conn_closed_decode(b, sizeof(b), &id), ARCA_OK);
    assert_int_equal(id, 0x0102030405060708ull);
    arca_conn_closed_encode(UINT64_MAX, b);
    assert_int_equal(arca_conn_closed_decode(b, sizeof(b), &id), ARCA_OK);
    assert_true(id == UINT64_MAX);

    /* Anything but exactly 8 bytes; the output is left alone. */
    uint8_t nine[9] = {0};
    id = 42;
    assert_int_equal(arca_conn_closed_decode(b, 7, &id), ARCA_ERR_DECODE);
    assert_int_equal(arca_conn_closed_decode(nine, sizeof(nine), &id), ARCA_ERR_DECODE);
    assert_int_equal(arca_conn_closed_decode(NULL, 0, &id), ARCA_ERR_DECODE);
    assert_int_equal(id, 42);
    assert_int_equal(arca_conn_closed_decode(NULL, 8, &id), ARCA_ERR_ARGS);
    assert_int_equal(arca_conn_closed_decode(b, 8, NULL), ARCA_ERR_ARGS);
}

static void test_conn_closed_send_recv(void **state)
{
    (void)state;
    uint8_t b[ARCA_CONN_CLOSED_LEN];
    arca_conn_closed_encode(77, b);
    /* Never as a reply, never longer than the id. */
    assert_int_equal(arca_channel_send(sp[0], ARCA_OCALL_CONN_CLOSED, ARCA_FRAME_REPLY, 9, b, sizeof(b), -1),
                     ARCA_ERR_DECODE);
    uint8_t nine[9] = {0};
    assert_int_equal(arca_channel_send(sp[0], ARCA_OCALL_CONN_CLOSED, 0, 9, nine, sizeof(nine), -1),
                     ARCA_ERR_FRAME_SIZE);
    assert_int_equal(arca_channel_send(sp[0], ARCA_OCALL_CONN_CLOSED, 0, 9, b, sizeof(b), -1), ARCA_OK);
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = 99;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_OK);
    assert_int_equal(h.type, ARCA_OCALL_CONN_CLOSED);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.request_id, 9);
    assert_int_equal(fd, -1);
    uint64_t id = 0;
    assert_int_equal(arca_conn_closed_decode(p, h.payload_len, &id), ARCA_OK);
    assert_int_equal(id, 77);
    free(p);
    /* A reply frame of this type from a hostile peer does not decode. */
    raw_header(sp[0], ARCA_OCALL_CONN_CLOSED, ARCA_FRAME_REPLY, 9, 0);
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_ERR_DECODE);
}

static void test_send_recv(void **state)
{
    (void)state;
    const uint8_t payload[] = "hello enclave";
    assert_int_equal(arca_channel_send(sp[0], ARCA_ECALL_START, 0, 42, payload, sizeof(payload), -1), ARCA_OK);
    assert_int_equal(arca_channel_send(sp[0], ARCA_ECALL_SHUTDOWN, 0, 43, NULL, 0, -1), ARCA_OK);
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = 99;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_OK);
    assert_int_equal(h.type, ARCA_ECALL_START);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.request_id, 42);
    assert_int_equal(h.payload_len, sizeof(payload));
    assert_memory_equal(p, payload, sizeof(payload));
    assert_int_equal(fd, -1);
    free(p);
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_OK);
    assert_int_equal(h.type, ARCA_ECALL_SHUTDOWN);
    assert_int_equal(h.request_id, 43);
    assert_null(p);
    assert_int_equal(fd, -1);
}

static void test_send_rejects(void **state)
{
    (void)state;
    uint8_t big[1025] = {0};
    assert_int_equal(arca_channel_send(sp[0], 0x0777, 0, 1, NULL, 0, -1), ARCA_ERR_FRAME_TYPE);
    assert_int_equal(arca_channel_send(sp[0], ARCA_OCALL_STORE_GET, 0, 1, big, sizeof(big), -1),
                     ARCA_ERR_FRAME_SIZE);
    assert_int_equal(arca_channel_send(sp[0], ARCA_ECALL_STATUS, 0x4, 1, NULL, 0, -1), ARCA_ERR_DECODE);
    assert_int_equal(arca_channel_send(sp[0], ARCA_ECALL_STATUS, 0, 1, NULL, 5, -1), ARCA_ERR_ARGS);
    assert_int_equal(arca_channel_send(-1, ARCA_ECALL_STATUS, 0, 1, NULL, 0, -1), ARCA_ERR_ARGS);
    /* Nothing reached the wire. */
    uint8_t b;
    assert_int_equal(recv(sp[1], &b, 1, MSG_DONTWAIT), -1);
}

static void test_send_to_closed_peer(void **state)
{
    (void)state;
    close(sp[1]);
    sp[1] = -1;
    /* MSG_NOSIGNAL: an error, not SIGPIPE. */
    assert_int_equal(arca_channel_send(sp[0], ARCA_ECALL_STATUS, 0, 1, NULL, 0, -1), ARCA_ERR_CHANNEL);
}

static void test_fd_passing(void **state)
{
    (void)state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    uint8_t payload[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_int_equal(arca_channel_send(sp[0], ARCA_ECALL_CONNECTION, 0, 5, payload, sizeof(payload), pfd[1]),
                     ARCA_OK);
    close(pfd[1]);
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_OK);
    assert_int_equal(h.type, ARCA_ECALL_CONNECTION);
    assert_memory_equal(p, payload, sizeof(payload));
    free(p);
    assert_true(fd >= 0);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    write_all(fd, "xy", 2);
    close(fd);
    char buf[4];
    assert_int_equal(read(pfd[0], buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "xy", 2);
    close(pfd[0]);
}

/* Raw sendmsg of a header with n descriptors attached. */
static void send_header_with_fds(int sock, uint16_t type, uint32_t len, const int *fds, size_t n)
{
    arca_frame_header h = {type, 0, 1, len};
    uint8_t b[ARCA_FRAME_HEADER_LEN];
    arca_frame_header_encode(&h, b);
    struct iovec iov = {.iov_base = b, .iov_len = sizeof(b)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } ctrl;
    memset(&ctrl, 0, sizeof(ctrl));
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)sizeof(b));
}

static void test_extra_fds_closed(void **state)
{
    (void)state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    int fds[3] = {pfd[0], pfd[1], pfd[1]};
    send_header_with_fds(sp[0], ARCA_ECALL_SHUTDOWN, 0, fds, 3);
    close(pfd[0]);
    close(pfd[1]);
    size_t before = count_fds();
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_OK);
    assert_true(fd >= 0);
    assert_int_equal(count_fds(), before + 1); /* only the first was kept */
    close(fd);
}

static void test_bad_header_closes_fd(void **state)
{
    (void)state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    send_header_with_fds(sp[0], 0x0555, 0, &pfd[0], 1);
    close(pfd[0]);
    close(pfd[1]);
    size_t before = count_fds();
    arca_frame_header h;
    uint8_t *p = (uint8_t *)&h;
    int fd = 77;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_ERR_FRAME_TYPE);
    assert_int_equal(h.type, 0x0555);
    assert_ptr_equal(p, (uint8_t *)&h); /* outputs untouched */
    assert_int_equal(fd, 77);
    assert_int_equal(count_fds(), before);
}

static void test_recv_rejects_oversize_without_waiting(void **state)
{
    (void)state;
    /* A 4 GiB claim with no payload behind it: refused from the header. */
    raw_header(sp[0], ARCA_OCALL_STORE_COMMIT, 0, 1, UINT32_MAX);
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_ERR_FRAME_SIZE);
    assert_int_equal(h.payload_len, UINT32_MAX);
    assert_null(p);

    raw_header(sp[0], ARCA_ECALL_STATUS, 0x0100, 1, 0);
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_ERR_DECODE);
}

static void test_recv_eof(void **state)
{
    (void)state;
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    /* Mid-payload EOF. */
    raw_header(sp[0], ARCA_ECALL_START, 0, 1, 10);
    write_all(sp[0], "abc", 3);
    shutdown(sp[0], SHUT_WR);
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_ERR_CHANNEL);
    assert_null(p);
    /* Clean EOF. */
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_ERR_CHANNEL);
    assert_int_equal(arca_channel_recv(-1, &h, &p, &fd), ARCA_ERR_ARGS);
}

static void test_recv_eof_mid_header(void **state)
{
    (void)state;
    write_all(sp[0], "\x00\x01\x00", 3);
    close(sp[0]);
    sp[0] = -1;
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_ERR_CHANNEL);
}

typedef struct reader_arg {
    int fd;
    arca_status st;
    arca_frame_header h;
    uint8_t *payload;
} reader_arg;

static void *reader(void *arg)
{
    reader_arg *r = arg;
    usleep(20000); /* let the sender fill the socket buffer first */
    int fd = -1;
    r->st = arca_channel_recv(r->fd, &r->h, &r->payload, &fd);
    if (fd >= 0) close(fd);
    return NULL;
}

static void test_large_frame_partial_writes(void **state)
{
    (void)state;
    int small = 4096;
    assert_int_equal(setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    size_t len = (1 << 20) + 16;
    uint8_t *payload = malloc(len);
    assert_non_null(payload);
    for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)(i * 31 + 7);
    reader_arg r = {.fd = sp[1]};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader, &r), 0);
    assert_int_equal(arca_channel_send(sp[0], ARCA_OCALL_STORE_GET, ARCA_FRAME_REPLY, 9, payload, len, -1),
                     ARCA_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.st, ARCA_OK);
    assert_int_equal(r.h.payload_len, len);
    assert_int_equal(r.h.flags, ARCA_FRAME_REPLY);
    assert_memory_equal(r.payload, payload, len);
    free(r.payload);
    free(payload);
}

static void test_nonblocking_socket(void **state)
{
    (void)state;
    /* EAGAIN on a non-blocking socket is waited out, not an error. */
    int small = 4096;
    assert_int_equal(setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    fcntl(sp[0], F_SETFL, O_NONBLOCK);
    fcntl(sp[1], F_SETFL, O_NONBLOCK);
    size_t len = 200000;
    uint8_t *payload = calloc(1, len);
    assert_non_null(payload);
    payload[len - 1] = 0x42;
    reader_arg r = {.fd = sp[1]};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader, &r), 0);
    assert_int_equal(arca_channel_send(sp[0], ARCA_OCALL_STORE_COMMIT, 0, 3, payload, len, -1), ARCA_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.st, ARCA_OK);
    assert_int_equal(r.h.payload_len, len);
    assert_int_equal(r.payload[len - 1], 0x42);
    free(r.payload);
    free(payload);
}

/* ---- start parameters ---- */

static const uint8_t sig_bytes[] = {0xde, 0xad, 0x00, 0xbe, 0xef};

static void encode_params(const arca_start_params *p, uint8_t **out, size_t *out_len)
{
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 64 * 1024), ARCA_OK);
    assert_int_equal(arca_start_params_encode(p, &b), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, out, out_len), ARCA_OK);
}

static void test_start_params_round_trip(void **state)
{
    (void)state;
    arca_start_params in = {"dev", "/var/lib/arca", sig_bytes, sizeof(sig_bytes), 64u << 20, 128, 1, NULL, 0};
    uint8_t *buf;
    size_t len;
    encode_params(&in, &buf, &len);
    /* A NULL TCTI is an empty str16 (2 bytes) followed by the u32 PCR. */
    assert_int_equal(len, 2 + 3 + 2 + 13 + 4 + 5 + 8 + 4 + 1 + 2 + 4);
    char strbuf[256];
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    arca_start_params out;
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, len + 4), ARCA_OK);
    assert_string_equal(out.sealing_mode, "dev");
    assert_string_equal(out.state_dir, "/var/lib/arca");
    assert_int_equal(out.image_sig_len, sizeof(sig_bytes));
    assert_memory_equal(out.image_sig, sig_bytes, sizeof(sig_bytes));
    assert_ptr_equal(out.image_sig, buf + 2 + 3 + 2 + 13 + 4); /* borrowed */
    assert_true(out.cache_bytes == (64u << 20));
    assert_int_equal(out.max_connections, 128);
    assert_int_equal(out.initialise_platform, 1);
    assert_string_equal(out.tpm_tcti, "");
    assert_int_equal(out.tpm_pcr, 0);
    assert_int_equal(arca_cursor_remaining(&c), 0);
    free(buf);

    /* tpm mode: the TCTI and PCR come last, after the initialise flag. */
    arca_start_params tpm = {"tpm", "/s", sig_bytes, sizeof(sig_bytes), 1, 2, 0, "swtpm:path=/run/t.sock", 15};
    encode_params(&tpm, &buf, &len);
    assert_int_equal(len, 2 + 3 + 2 + 2 + 4 + 5 + 8 + 4 + 1 + 2 + 22 + 4);
    assert_memory_equal(buf + len - 28, "\x00\x16swtpm:path=/run/t.sock\x00\x00\x00\x0f", 28);
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, len + 4), ARCA_OK);
    assert_string_equal(out.sealing_mode, "tpm");
    assert_string_equal(out.state_dir, "/s");
    assert_string_equal(out.tpm_tcti, "swtpm:path=/run/t.sock");
    assert_int_equal(out.tpm_pcr, 15);
    assert_int_equal(out.initialise_platform, 0);
    assert_int_equal(arca_cursor_remaining(&c), 0);
    free(buf);

    /* Empty strings and signature are valid encodings. */
    arca_start_params empty = {"", "", NULL, 0, 0, 0, 0, "", 0};
    encode_params(&empty, &buf, &len);
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_OK);
    assert_string_equal(out.sealing_mode, "");
    assert_int_equal(out.image_sig_len, 0);
    free(buf);
}

static void test_start_params_rejects(void **state)
{
    (void)state;
    arca_start_params in = {"dev", "/s", sig_bytes, sizeof(sig_bytes), 1, 2, 0, "mssim:x", 7};
    uint8_t *buf;
    size_t len;
    encode_params(&in, &buf, &len);
    char strbuf[256];
    arca_cursor c;
    arca_start_params out;
    memset(&out, 0, sizeof(out));

    /* Every truncation is DECODE and leaves the cursor and output alone. */
    for (size_t n = 0; n < len; n++) {
        arca_cursor_init(&c, buf, n);
        assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
        assert_int_equal(arca_cursor_remaining(&c), n);
        assert_null(out.sealing_mode);
    }
    /* Trailing byte. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    arca_cursor_init(&c, longer, len + 1);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
    free(longer);
    /* Embedded NUL in a string. */
    buf[3] = '\0'; /* "d\0v" */
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
    buf[3] = 'e';
    /* NUL in state_dir. */
    buf[2 + 3 + 2 + 1] = '\0';
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
    buf[2 + 3 + 2 + 1] = 's';
    /* Initialise flag other than 0/1 (it sits before the str16 TCTI
     * "mssim:x" and the u32 PCR: 2 + 7 + 4 bytes from the end). */
    size_t init_at = len - 4 - 7 - 2 - 1;
    assert_int_equal(buf[init_at], 0);
    buf[init_at] = 2;
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
    buf[init_at] = 0;
    /* NUL in the TCTI. */
    buf[len - 4 - 3] = '\0';
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
    assert_null(out.sealing_mode);
    buf[len - 4 - 3] = 'm';
    /* A TCTI length running past the end. */
    buf[init_at + 2] = 8;
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
    buf[init_at + 2] = 7;
    /* Too small a string buffer: three strings need remaining + 3. */
    arca_cursor_init(&c, buf, len);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, len + 2), ARCA_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(arca_start_params_decode(&c, &out, NULL, 100), ARCA_ERR_ARGS);
    /* And intact it decodes. */
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, len + 3), ARCA_OK);
    assert_string_equal(out.tpm_tcti, "mssim:x");
    assert_int_equal(out.tpm_pcr, 7);
    free(buf);

    /* The encoding before the TCTI and PCR were appended (ending at the
     * initialise flag) is refused, not read with defaults. */
    arca_start_params old = in;
    old.tpm_tcti = NULL;
    encode_params(&old, &buf, &len);
    arca_cursor_init(&c, buf, len - 6);
    assert_int_equal(arca_start_params_decode(&c, &out, strbuf, sizeof(strbuf)), ARCA_ERR_DECODE);
    assert_int_equal(arca_cursor_remaining(&c), len - 6);
    free(buf);

    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 0, 1024), ARCA_OK);
    arca_start_params bad = in;
    bad.sealing_mode = NULL;
    assert_int_equal(arca_start_params_encode(&bad, &b), ARCA_ERR_ARGS);
    bad = in;
    bad.initialise_platform = 2;
    assert_int_equal(arca_start_params_encode(&bad, &b), ARCA_ERR_ARGS);
    bad = in;
    bad.image_sig = NULL;
    assert_int_equal(arca_start_params_encode(&bad, &b), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);
    /* A builder too small for the parameters. */
    assert_int_equal(arca_builder_init(&b, 0, 10), ARCA_OK);
    assert_int_equal(arca_start_params_encode(&in, &b), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);
}

/* The enclave's sender (host_channel.c): the frame arcad receives, and
 * what happens once the channel is gone. */
static void test_conn_closed_from_enclave(void **state)
{
    (void)state;
    arca_hc_handlers none = {0};
    arca_host_channel *hc = NULL;
    assert_int_equal(arca_host_channel_new(sp[0], &none, &hc), ARCA_OK);
    assert_int_equal(arca_host_channel_notify_closed(hc, 0xfedcba9876543210ull), ARCA_OK);
    arca_host_channel_on_conn_closed(hc, 5); /* the arca_conn_closed_fn form */
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    uint64_t id = 0;
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_OK);
    assert_int_equal(h.type, ARCA_OCALL_CONN_CLOSED);
    assert_int_equal(h.flags, 0);
    assert_int_equal(arca_conn_closed_decode(p, h.payload_len, &id), ARCA_OK);
    assert_true(id == 0xfedcba9876543210ull);
    uint32_t first_id = h.request_id;
    free(p);
    assert_int_equal(arca_channel_recv(sp[1], &h, &p, &fd), ARCA_OK);
    assert_int_equal(h.type, ARCA_OCALL_CONN_CLOSED);
    assert_int_equal(arca_conn_closed_decode(p, h.payload_len, &id), ARCA_OK);
    assert_int_equal(id, 5);
    assert_int_not_equal(h.request_id, first_id);
    free(p);

    /* The host may not send it: refused, and not answered (no reply exists). */
    arca_log_set_level(ARCA_LOG_ERROR);
    uint8_t frame[ARCA_FRAME_HEADER_LEN + ARCA_CONN_CLOSED_LEN];
    arca_frame_header fh = {ARCA_OCALL_CONN_CLOSED, 0, 3, ARCA_CONN_CLOSED_LEN};
    arca_frame_header_encode(&fh, frame);
    arca_conn_closed_encode(5, frame + ARCA_FRAME_HEADER_LEN);
    assert_int_equal(arca_host_channel_dispatch_bytes(hc, frame, sizeof(frame), -1), ARCA_ERR_FRAME_STATE);
    uint8_t b;
    assert_int_equal(recv(sp[1], &b, 1, MSG_DONTWAIT), -1);

    /* Once the channel is gone the notification fails and says so. */
    close(sp[1]);
    sp[1] = -1;
    assert_int_equal(arca_host_channel_run(hc), ARCA_ERR_CHANNEL);
    assert_int_equal(arca_host_channel_notify_closed(hc, 6), ARCA_ERR_CHANNEL);
    arca_host_channel_on_conn_closed(hc, 6); /* logged, no crash */
    assert_int_equal(arca_host_channel_notify_closed(NULL, 6), ARCA_ERR_ARGS);
    arca_log_set_level(ARCA_LOG_INFO);
    arca_host_channel_free(hc);
}

#define PAIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_pair, teardown_pair)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_header_codec),
        cmocka_unit_test(test_header_rejects),
        cmocka_unit_test(test_conn_closed_codec),
        PAIR_TEST(test_conn_closed_send_recv),
        PAIR_TEST(test_conn_closed_from_enclave),
        PAIR_TEST(test_send_recv),
        PAIR_TEST(test_send_rejects),
        PAIR_TEST(test_send_to_closed_peer),
        PAIR_TEST(test_fd_passing),
        PAIR_TEST(test_extra_fds_closed),
        PAIR_TEST(test_bad_header_closes_fd),
        PAIR_TEST(test_recv_rejects_oversize_without_waiting),
        PAIR_TEST(test_recv_eof),
        PAIR_TEST(test_recv_eof_mid_header),
        PAIR_TEST(test_large_frame_partial_writes),
        PAIR_TEST(test_nonblocking_socket),
        cmocka_unit_test(test_start_params_round_trip),
        cmocka_unit_test(test_start_params_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
