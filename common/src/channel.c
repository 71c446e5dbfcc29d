/* The host channel's frame codec and blocking send/recv (see channel.h and
 * docs/channel.md).
 *
 * Payload caps, in bytes, checked on both send and receive, before any
 * allocation. A reply payload begins with the u32 arca_status.
 *
 *   type                  request        reply
 *   ECALL_START           64 KiB         4 KiB
 *   ECALL_CONNECTION      1 KiB          64
 *   ECALL_SHUTDOWN        0              16
 *   ECALL_STATUS          16             4 KiB
 *   OCALL_STORE_GET       1 KiB          1 MiB + 16   (status, u32 len, value)
 *   OCALL_STORE_COMMIT    8 MiB          64
 *   OCALL_STORE_SCAN      2 KiB          4 MiB
 *   OCALL_CONN_CLOSED     8              (none: a notification)
 *
 * STORE_COMMIT's 8 MiB bounds a whole transaction, so a commit of many
 * large values must be split by the caller; a scan reply is bounded by
 * 4 MiB as well as by ARCA_STORE_MAX_SCAN entries, so the server must stop
 * adding entries before it reaches the cap. */
#include "arca/channel.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)
#define MAX_RECV_FDS 8

typedef struct frame_caps {
    uint16_t type;
    size_t request;
    size_t reply;
    bool notification; /* no reply exists; the REPLY flag does not decode */
} frame_caps;

static const frame_caps caps[] = {
    {ARCA_ECALL_START, 64 * KIB, 4 * KIB, false},
    {ARCA_ECALL_CONNECTION, 1 * KIB, 64, false},
    {ARCA_ECALL_SHUTDOWN, 0, 16, false},
    {ARCA_ECALL_STATUS, 16, 4 * KIB, false},
    {ARCA_OCALL_STORE_GET, 1 * KIB, 1 * MIB + 16, false},
    {ARCA_OCALL_STORE_COMMIT, 8 * MIB, 64, false},
    {ARCA_OCALL_STORE_SCAN, 2 * KIB, 4 * MIB, false},
    {ARCA_OCALL_CONN_CLOSED, 8, 0, true},
};

static const frame_caps *caps_of(uint16_t type)
{
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        if (caps[i].type == type) return &caps[i];
    return NULL;
}

size_t arca_frame_cap(uint16_t type, bool reply)
{
    const frame_caps *c = caps_of(type);
    if (c == NULL) return 0;
    return reply ? c->reply : c->request;
}

bool arca_frame_is_notification(uint16_t type)
{
    const frame_caps *c = caps_of(type);
    return c != NULL && c->notification;
}

static arca_status validate(const arca_frame_header *h)
{
    const frame_caps *c = caps_of(h->type);
    ARCA_ENSURE(c != NULL, ARCA_ERR_FRAME_TYPE);
    ARCA_ENSURE((h->flags & ~ARCA_FRAME_REPLY) == 0, ARCA_ERR_DECODE);
    ARCA_ENSURE(!(c->notification && (h->flags & ARCA_FRAME_REPLY) != 0), ARCA_ERR_DECODE);
    size_t cap = (h->flags & ARCA_FRAME_REPLY) != 0 ? c->reply : c->request;
    ARCA_ENSURE(h->payload_len <= cap, ARCA_ERR_FRAME_SIZE);
    return ARCA_OK;
}

arca_status arca_frame_header_decode(const uint8_t in[ARCA_FRAME_HEADER_LEN], arca_frame_header *out)
{
    ARCA_ENSURE(in != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_cursor c;
    arca_frame_header h;
    arca_cursor_init(&c, in, ARCA_FRAME_HEADER_LEN);
    ARCA_GUARD(arca_cursor_get_u16(&c, &h.type));
    ARCA_GUARD(arca_cursor_get_u16(&c, &h.flags));
    ARCA_GUARD(arca_cursor_get_u32(&c, &h.request_id));
    ARCA_GUARD(arca_cursor_get_u32(&c, &h.payload_len));
    ARCA_GUARD(arca_cursor_finish(&c));
    *out = h; /* filled in even when invalid, for the caller's log line */
    return validate(&h);
}

void arca_frame_header_encode(const arca_frame_header *h, uint8_t out[ARCA_FRAME_HEADER_LEN])
{
    const uint32_t words[3] = {((uint32_t)h->type << 16) | h->flags, h->request_id, h->payload_len};
    for (size_t w = 0; w < 3; w++)
        for (size_t i = 0; i < 4; i++) out[4 * w + i] = (uint8_t)(words[w] >> (8 * (3 - i)));
}

static arca_status wait_fd(int fd, short events)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int r = poll(&pfd, 1, -1);
        if (r > 0) return ARCA_OK;
        if (r < 0 && errno != EINTR) return ARCA_ERR_CHANNEL;
    }
}

arca_status arca_channel_send(int fd, uint16_t type, uint16_t flags, uint32_t request_id, const uint8_t *payload,
                              size_t payload_len, int pass_fd)
{
    ARCA_ENSURE(fd >= 0 && (payload != NULL || payload_len == 0), ARCA_ERR_ARGS);
    ARCA_ENSURE(payload_len <= UINT32_MAX, ARCA_ERR_FRAME_SIZE);
    arca_frame_header h = {.type = type, .flags = flags, .request_id = request_id,
                           .payload_len = (uint32_t)payload_len};
    /* Never put on the wire what our own receiver would reject. */
    ARCA_GUARD(validate(&h));

    uint8_t hdr[ARCA_FRAME_HEADER_LEN];
    arca_frame_header_encode(&h, hdr);

    struct iovec iov[2] = {
        {.iov_base = hdr, .iov_len = sizeof(hdr)},
        {.iov_base = (void *)payload, .iov_len = payload_len},
    };
    size_t total = sizeof(hdr) + payload_len;
    size_t sent = 0;
    bool fd_pending = pass_fd >= 0;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctrl;

    while (sent < total) {
        /* Rebuild the iovec past what has been sent. */
        struct iovec cur[2];
        int n = 0;
        size_t skip = sent;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            cur[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
            cur[n].iov_len = iov[i].iov_len - skip;
            skip = 0;
            n++;
        }
        struct msghdr msg = {.msg_iov = cur, .msg_iovlen = (size_t)n};
        if (fd_pending) {
            /* The descriptor rides on the header's first byte. */
            memset(&ctrl, 0, sizeof(ctrl));
            msg.msg_control = ctrl.buf;
            msg.msg_controllen = sizeof(ctrl.buf);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
        }
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ARCA_GUARD(wait_fd(fd, POLLOUT));
                continue;
            }
            return ARCA_ERR_CHANNEL;
        }
        if (w == 0) return ARCA_ERR_CHANNEL;
        fd_pending = false;
        sent += (size_t)w;
    }
    return ARCA_OK;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Take descriptors out of a received message: keep the first, close the
 * rest (a hostile peer must not fill our descriptor table). */
static void collect_fds(struct msghdr *msg, int *kept)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*kept < 0) {
                *kept = f;
            } else {
                close(f);
            }
        }
    }
}

static arca_status recv_exact(int fd, uint8_t *buf, size_t len, int *kept_fd)
{
    size_t got = 0;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * MAX_RECV_FDS)];
    } ctrl;
    while (got < len) {
        struct iovec iov = {.iov_base = buf + got, .iov_len = len - got};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (kept_fd != NULL) {
            msg.msg_control = ctrl.buf;
            msg.msg_controllen = sizeof(ctrl.buf);
        }
        /* Without a control buffer the kernel discards any passed fds. */
        ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ARCA_GUARD(wait_fd(fd, POLLIN));
                continue;
            }
            return ARCA_ERR_CHANNEL;
        }
        if (kept_fd != NULL && msg.msg_controllen > 0) collect_fds(&msg, kept_fd);
        if (r == 0) return ARCA_ERR_CHANNEL;
        got += (size_t)r;
    }
    return ARCA_OK;
}

arca_status arca_channel_recv(int fd, arca_frame_header *out_hdr, uint8_t **out_payload, int *out_fd)
{
    ARCA_ENSURE(fd >= 0 && out_hdr != NULL && out_payload != NULL && out_fd != NULL, ARCA_ERR_ARGS);
    arca_status st;
    int passed = -1;
    uint8_t *payload = NULL;
    uint8_t hdr_bytes[ARCA_FRAME_HEADER_LEN];
    arca_frame_header h;

    ARCA_GUARD_OUT(recv_exact(fd, hdr_bytes, sizeof(hdr_bytes), &passed));
    st = arca_frame_header_decode(hdr_bytes, &h);
    if (st != ARCA_OK) {
        *out_hdr = h; /* for the caller's log line; the stream is now unusable */
        goto out;
    }
    if (h.payload_len > 0) {
        payload = malloc(h.payload_len);
        ARCA_ENSURE_OUT(payload != NULL, ARCA_ERR_NOMEM);
        ARCA_GUARD_OUT(recv_exact(fd, payload, h.payload_len, NULL));
    }
    *out_hdr = h;
    *out_payload = payload;
    *out_fd = passed;
    return ARCA_OK;

out:
    free(payload);
    close_fd(&passed);
    return st;
}

/* ---- connection closed -------------------------------------------- */

void arca_conn_closed_encode(uint64_t conn_id, uint8_t out[ARCA_CONN_CLOSED_LEN])
{
    arca_builder b;
    arca_builder_init_fixed(&b, out, ARCA_CONN_CLOSED_LEN);
    (void)!arca_builder_add_u64(&b, conn_id); /* exactly fits */
}

arca_status arca_conn_closed_decode(const uint8_t *p, size_t len, uint64_t *out_conn_id)
{
    ARCA_ENSURE(out_conn_id != NULL && (p != NULL || len == 0), ARCA_ERR_ARGS);
    arca_cursor c;
    uint64_t id;
    arca_cursor_init(&c, p, len);
    ARCA_GUARD(arca_cursor_get_u64(&c, &id));
    ARCA_GUARD(arca_cursor_finish(&c));
    *out_conn_id = id;
    return ARCA_OK;
}

/* ---- start parameters ---------------------------------------------- */

arca_status arca_start_params_encode(const arca_start_params *p, arca_builder *b)
{
    ARCA_ENSURE(p != NULL && b != NULL && p->sealing_mode != NULL && p->state_dir != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(p->image_sig != NULL || p->image_sig_len == 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(p->initialise_platform <= 1, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_builder_add_u16_prefixed(b, p->sealing_mode, strlen(p->sealing_mode)));
    ARCA_GUARD(arca_builder_add_u16_prefixed(b, p->state_dir, strlen(p->state_dir)));
    ARCA_GUARD(arca_builder_add_u32_prefixed(b, p->image_sig, p->image_sig_len));
    ARCA_GUARD(arca_builder_add_u64(b, p->cache_bytes));
    ARCA_GUARD(arca_builder_add_u32(b, p->max_connections));
    ARCA_GUARD(arca_builder_add_u8(b, p->initialise_platform));
    const char *tcti = p->tpm_tcti != NULL ? p->tpm_tcti : "";
    ARCA_GUARD(arca_builder_add_u16_prefixed(b, tcti, strlen(tcti)));
    ARCA_GUARD(arca_builder_add_u32(b, p->tpm_pcr));
    return ARCA_OK;
}

/* Copy a string field into strbuf as a C string; no embedded NULs. */
static arca_status take_string(arca_cursor *field, char **pos, size_t *left, const char **out)
{
    size_t n = arca_cursor_remaining(field);
    ARCA_ENSURE(n < *left, ARCA_ERR_BUFFER_TOO_SMALL);
    const uint8_t *bytes;
    ARCA_GUARD(arca_cursor_get_bytes(field, n, &bytes));
    ARCA_ENSURE(memchr(bytes, '\0', n) == NULL, ARCA_ERR_DECODE);
    memcpy(*pos, bytes, n);
    (*pos)[n] = '\0';
    *out = *pos;
    *pos += n + 1;
    *left -= n + 1;
    return ARCA_OK;
}

arca_status arca_start_params_decode(arca_cursor *c, arca_start_params *out, char *strbuf, size_t strbuf_len)
{
    ARCA_ENSURE(c != NULL && out != NULL && strbuf != NULL, ARCA_ERR_ARGS);
    /* Three strings plus their NULs always fit in remaining + 3 bytes. */
    ARCA_ENSURE(strbuf_len >= arca_cursor_remaining(c) + 3, ARCA_ERR_BUFFER_TOO_SMALL);
    arca_cursor tmp = *c;
    arca_cursor mode_f, dir_f, sig_f, tcti_f;
    arca_start_params p;
    char *pos = strbuf;
    size_t left = strbuf_len;

    ARCA_GUARD(arca_cursor_get_u16_prefixed(&tmp, &mode_f));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&tmp, &dir_f));
    ARCA_GUARD(arca_cursor_get_u32_prefixed(&tmp, &sig_f));
    ARCA_GUARD(arca_cursor_get_u64(&tmp, &p.cache_bytes));
    ARCA_GUARD(arca_cursor_get_u32(&tmp, &p.max_connections));
    ARCA_GUARD(arca_cursor_get_u8(&tmp, &p.initialise_platform));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&tmp, &tcti_f));
    ARCA_GUARD(arca_cursor_get_u32(&tmp, &p.tpm_pcr));
    ARCA_GUARD(arca_cursor_finish(&tmp));
    ARCA_ENSURE(p.initialise_platform <= 1, ARCA_ERR_DECODE);
    ARCA_GUARD(take_string(&mode_f, &pos, &left, &p.sealing_mode));
    ARCA_GUARD(take_string(&dir_f, &pos, &left, &p.state_dir));
    ARCA_GUARD(take_string(&tcti_f, &pos, &left, &p.tpm_tcti));
    p.image_sig_len = arca_cursor_remaining(&sig_f);
    ARCA_GUARD(arca_cursor_get_bytes(&sig_f, p.image_sig_len, &p.image_sig));
    *out = p;
    *c = tmp;
    return ARCA_OK;
}
