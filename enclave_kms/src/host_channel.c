/* The enclave's end of the host channel. See host_channel.h and
 * docs/channel.md. */
#include "host_channel.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arca/log.h"

/* Permission table: which frames may arrive in which state. Anything not
 * listed (including OCALL requests from the host and replies to ECALLs,
 * which the enclave never sends) is ARCA_ERR_FRAME_STATE in every state. */
#define S_STARTING (1u << ARCA_HC_STARTING)
#define S_OPENING (1u << ARCA_HC_OPENING)
#define S_READY (1u << ARCA_HC_READY)
#define S_STOPPING (1u << ARCA_HC_STOPPING)

static const struct permission {
    uint16_t type;
    bool reply;
    unsigned states;
} permissions[] = {
    {ARCA_ECALL_START, false, S_STARTING},
    {ARCA_ECALL_CONNECTION, false, S_READY},
    {ARCA_ECALL_SHUTDOWN, false, S_READY},
    {ARCA_ECALL_STATUS, false, S_READY},
    {ARCA_OCALL_STORE_GET, true, S_OPENING | S_READY | S_STOPPING},
    {ARCA_OCALL_STORE_COMMIT, true, S_OPENING | S_READY | S_STOPPING},
    {ARCA_OCALL_STORE_SCAN, true, S_OPENING | S_READY | S_STOPPING},
};

typedef struct pending {
    uint32_t id;
    uint16_t type;
    bool done;
    uint8_t *payload; /* the whole reply payload (status || body) */
    size_t len;
    struct pending *next;
} pending;

struct arca_host_channel {
    int fd;
    arca_hc_handlers h;
    pthread_mutex_t send_mu; /* serialises frames on fd */
    pthread_mutex_t mu;      /* everything below */
    pthread_cond_t cond;
    arca_hc_state state;
    bool broken;      /* reader gone: OCALLs fail */
    bool stop;        /* run() returns exit_status */
    arca_status exit_status;
    uint32_t next_id;
    pending *pending;
};

const char *arca_hc_state_name(arca_hc_state s)
{
    switch (s) {
    case ARCA_HC_STARTING:
        return "STARTING";
    case ARCA_HC_OPENING:
        return "OPENING";
    case ARCA_HC_READY:
        return "READY";
    case ARCA_HC_STOPPING:
        return "STOPPING";
    default:
        return "INVALID";
    }
}

arca_status arca_host_channel_new(int fd, const arca_hc_handlers *handlers, arca_host_channel **out)
{
    ARCA_ENSURE(fd >= 0 && handlers != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_host_channel *hc = calloc(1, sizeof(*hc));
    ARCA_ENSURE(hc != NULL, ARCA_ERR_NOMEM);
    hc->fd = fd;
    hc->h = *handlers;
    hc->state = ARCA_HC_STARTING;
    hc->next_id = 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&hc->send_mu, NULL);
    pthread_mutex_init(&hc->mu, NULL);
    pthread_cond_init(&hc->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = hc;
    return ARCA_OK;
}

void arca_host_channel_free(arca_host_channel *hc)
{
    if (hc == NULL) return;
    while (hc->pending) {
        pending *p = hc->pending;
        hc->pending = p->next;
        free(p->payload);
        free(p);
    }
    pthread_cond_destroy(&hc->cond);
    pthread_mutex_destroy(&hc->mu);
    pthread_mutex_destroy(&hc->send_mu);
    free(hc);
}

arca_hc_state arca_host_channel_state(arca_host_channel *hc)
{
    pthread_mutex_lock(&hc->mu);
    arca_hc_state s = hc->state;
    pthread_mutex_unlock(&hc->mu);
    return s;
}

static void set_state(arca_host_channel *hc, arca_hc_state s)
{
    pthread_mutex_lock(&hc->mu);
    hc->state = s;
    pthread_mutex_unlock(&hc->mu);
}

static void request_stop(arca_host_channel *hc, arca_status exit_status)
{
    pthread_mutex_lock(&hc->mu);
    hc->stop = true;
    hc->exit_status = exit_status;
    pthread_mutex_unlock(&hc->mu);
}

static arca_status send_frame(arca_host_channel *hc, uint16_t type, uint16_t flags, uint32_t id, const uint8_t *p,
                              size_t n)
{
    pthread_mutex_lock(&hc->send_mu);
    arca_status st = arca_channel_send(hc->fd, type, flags, id, p, n, -1);
    pthread_mutex_unlock(&hc->send_mu);
    return st;
}

arca_status arca_host_channel_reply(arca_host_channel *hc, uint16_t type, uint32_t request_id, arca_status st,
                                    const uint8_t *body, size_t body_len)
{
    arca_builder b;
    uint8_t *buf = NULL;
    size_t len = 0;
    arca_status rs;
    ARCA_GUARD(arca_builder_init(&b, 4 + body_len, 4 + body_len));
    (void)!arca_builder_add_u32(&b, (uint32_t)st);
    if (body_len) (void)!arca_builder_add_bytes(&b, body, body_len);
    rs = arca_builder_finish(&b, &buf, &len); /* reports the first add error */
    if (rs == ARCA_OK) rs = send_frame(hc, type, ARCA_FRAME_REPLY, request_id, buf, len);
    free(buf);
    arca_builder_cleanup(&b);
    return rs;
}

static bool permitted(uint16_t type, bool reply, arca_hc_state state)
{
    for (size_t i = 0; i < sizeof(permissions) / sizeof(permissions[0]); i++)
        if (permissions[i].type == type && permissions[i].reply == reply) return (permissions[i].states >> state) & 1u;
    return false;
}

/* Refuse a frame: log it and, for a request of a type the channel knows,
 * answer with the status. Replies are never answered; a reply to a frame
 * type that does not exist would itself be refused by arcad's decoder. */
static arca_status refuse(arca_host_channel *hc, const arca_frame_header *h, arca_hc_state state, arca_status why)
{
    bool reply = (h->flags & ARCA_FRAME_REPLY) != 0;
    ARCA_WARN("host channel: refused frame type 0x%04x in state %s: %s (%s, request id %u)", (unsigned)h->type,
              arca_hc_state_name(state), arca_status_name(why), reply ? "reply" : "request",
              (unsigned)h->request_id);
    if (!reply && arca_frame_cap(h->type, true) > 0) {
        arca_status st = arca_host_channel_reply(hc, h->type, h->request_id, why, NULL, 0);
        if (st != ARCA_OK) ARCA_WARN("host channel: cannot send refusal: %s", arca_status_name(st));
    }
    return why;
}

static arca_status handle_reply(arca_host_channel *hc, const arca_frame_header *h, const uint8_t *payload,
                                size_t len)
{
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        ARCA_ENSURE(copy != NULL, ARCA_ERR_NOMEM);
        memcpy(copy, payload, len);
    }
    pthread_mutex_lock(&hc->mu);
    pending *p = hc->pending;
    while (p && p->id != h->request_id) p = p->next;
    if (p == NULL || p->done || p->type != h->type) {
        pthread_mutex_unlock(&hc->mu);
        free(copy);
        return ARCA_ERR_FRAME_STATE; /* nobody asked for this */
    }
    p->payload = copy;
    p->len = len;
    p->done = true;
    pthread_cond_broadcast(&hc->cond);
    pthread_mutex_unlock(&hc->mu);
    return ARCA_OK;
}

static arca_status handle_connection(arca_host_channel *hc, const arca_frame_header *h, const uint8_t *payload,
                                     size_t len, int *pass_fd)
{
    arca_cursor c, peer;
    uint64_t conn_id;
    char text[ARCA_HC_PEER_MAX + 1];
    arca_cursor_init(&c, payload, len);
    ARCA_GUARD(arca_cursor_get_u64(&c, &conn_id));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &peer));
    ARCA_GUARD(arca_cursor_finish(&c));
    ARCA_ENSURE(peer.len <= ARCA_HC_PEER_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(*pass_fd >= 0, ARCA_ERR_DECODE); /* a connection without its descriptor */
    ARCA_ENSURE(hc->h.on_connection != NULL, ARCA_ERR_UNSUPPORTED);
    if (peer.len) memcpy(text, peer.data, peer.len);
    text[peer.len] = 0;
    if (memchr(text, 0, peer.len) != NULL) return ARCA_ERR_DECODE;
    arca_status st = hc->h.on_connection(hc->h.ctx, conn_id, text, *pass_fd);
    if (st == ARCA_OK) *pass_fd = -1; /* the handler owns it */
    ARCA_GUARD(st);
    return arca_host_channel_reply(hc, h->type, h->request_id, ARCA_OK, NULL, 0) == ARCA_OK ? ARCA_OK
                                                                                            : ARCA_ERR_CHANNEL;
}

static arca_status handle_status(arca_host_channel *hc, const arca_frame_header *h, size_t len)
{
    ARCA_ENSURE(len == 0, ARCA_ERR_DECODE);
    ARCA_ENSURE(hc->h.on_status != NULL, ARCA_ERR_UNSUPPORTED);
    arca_builder b, out;
    uint8_t *buf = NULL;
    size_t n = 0;
    arca_status st;
    /* The reply (status, u32 length, text) must fit the STATUS reply cap. */
    size_t cap = arca_frame_cap(ARCA_ECALL_STATUS, true) - 8;
    ARCA_GUARD(arca_builder_init(&b, 512, cap));
    st = arca_builder_init(&out, 512, cap + 4);
    if (st != ARCA_OK) {
        arca_builder_cleanup(&b);
        return st;
    }
    ARCA_GUARD_OUT(hc->h.on_status(hc->h.ctx, &b));
    ARCA_GUARD_OUT(arca_builder_add_u32_prefixed(&out, b.data, b.len));
    ARCA_GUARD_OUT(arca_builder_finish(&out, &buf, &n));
    st = arca_host_channel_reply(hc, h->type, h->request_id, ARCA_OK, buf, n) == ARCA_OK ? ARCA_OK
                                                                                          : ARCA_ERR_CHANNEL;
out:
    free(buf);
    arca_builder_cleanup(&out);
    arca_builder_cleanup(&b);
    return st;
}

arca_status arca_host_channel_process(arca_host_channel *hc, const arca_frame_header *h, arca_status hdr_st,
                                      const uint8_t *payload, size_t len, int pass_fd)
{
    arca_status st;
    bool reply = (h->flags & ARCA_FRAME_REPLY) != 0;
    arca_hc_state state = arca_host_channel_state(hc);

    if (hdr_st != ARCA_OK) {
        st = refuse(hc, h, state, hdr_st == ARCA_ERR_FRAME_TYPE || hdr_st == ARCA_ERR_FRAME_SIZE ? hdr_st
                                                                                                 : ARCA_ERR_DECODE);
        goto out;
    }
    if (!permitted(h->type, reply, state)) {
        st = refuse(hc, h, state, ARCA_ERR_FRAME_STATE);
        goto out;
    }
    if (reply) {
        st = handle_reply(hc, h, payload, len);
        if (st != ARCA_OK) st = refuse(hc, h, state, st);
        goto out;
    }

    switch ((arca_frame_type)h->type) {
    case ARCA_ECALL_START:
        if (hc->h.on_start == NULL) {
            st = refuse(hc, h, state, ARCA_ERR_UNSUPPORTED);
            break;
        }
        set_state(hc, ARCA_HC_OPENING);
        st = hc->h.on_start(hc->h.ctx, h->request_id, payload, len);
        if (st != ARCA_OK) {
            set_state(hc, ARCA_HC_STARTING);
            st = refuse(hc, h, state, st);
        }
        break;
    case ARCA_ECALL_CONNECTION:
        st = handle_connection(hc, h, payload, len, &pass_fd);
        if (st != ARCA_OK) st = refuse(hc, h, state, st);
        break;
    case ARCA_ECALL_SHUTDOWN:
        if (len != 0) {
            st = refuse(hc, h, state, ARCA_ERR_DECODE);
            break;
        }
        ARCA_INFO("host channel: shutdown requested");
        set_state(hc, ARCA_HC_STOPPING);
        if (hc->h.on_shutdown) hc->h.on_shutdown(hc->h.ctx);
        st = arca_host_channel_reply(hc, h->type, h->request_id, ARCA_OK, NULL, 0);
        break;
    case ARCA_ECALL_STATUS:
        st = handle_status(hc, h, len);
        if (st != ARCA_OK) st = refuse(hc, h, state, st);
        break;
    case ARCA_OCALL_STORE_GET:
    case ARCA_OCALL_STORE_COMMIT:
    case ARCA_OCALL_STORE_SCAN:
    case ARCA_OCALL_CONN_CLOSED:
    default:
        st = refuse(hc, h, state, ARCA_ERR_FRAME_STATE);
        break;
    }
out:
    if (pass_fd >= 0) close(pass_fd);
    return st;
}

arca_status arca_host_channel_dispatch_bytes(arca_host_channel *hc, const uint8_t *buf, size_t len, int pass_fd)
{
    arca_frame_header h;
    arca_status st = ARCA_ERR_DECODE;
    if (len < ARCA_FRAME_HEADER_LEN) goto fail;
    arca_status hdr_st = arca_frame_header_decode(buf, &h);
    if (hdr_st == ARCA_ERR_FRAME_TYPE || hdr_st == ARCA_ERR_FRAME_SIZE)
        return arca_host_channel_process(hc, &h, hdr_st, NULL, 0, pass_fd);
    if (hdr_st != ARCA_OK) {
        st = hdr_st;
        goto fail;
    }
    if (len - ARCA_FRAME_HEADER_LEN != h.payload_len) goto fail;
    return arca_host_channel_process(hc, &h, ARCA_OK, len > ARCA_FRAME_HEADER_LEN ? buf + ARCA_FRAME_HEADER_LEN : NULL,
                                     h.payload_len, pass_fd);
fail:
    if (pass_fd >= 0) close(pass_fd);
    return st;
}

/* ---- the reader ---- */

/* Read the 12-byte header; a descriptor travels on its first byte. */
static arca_status read_header(int fd, uint8_t hdr[ARCA_FRAME_HEADER_LEN], int *out_fd)
{
    size_t got = 0;
    *out_fd = -1;
    while (got < ARCA_FRAME_HEADER_LEN) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } cbuf;
        struct iovec iov = {.iov_base = hdr + got, .iov_len = ARCA_FRAME_HEADER_LEN - got};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (got == 0) {
            msg.msg_control = cbuf.buf;
            msg.msg_controllen = sizeof(cbuf.buf);
        }
        ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR) continue;
            goto broken;
        }
        if (r == 0) goto broken;
        if (got == 0) {
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
                    cm->cmsg_len == CMSG_LEN(sizeof(int)) && *out_fd < 0)
                    memcpy(out_fd, CMSG_DATA(cm), sizeof(int));
            }
            if (msg.msg_flags & MSG_CTRUNC) ARCA_WARN("host channel: truncated control data");
        }
        got += (size_t)r;
    }
    return ARCA_OK;
broken:
    if (*out_fd >= 0) close(*out_fd);
    *out_fd = -1;
    return ARCA_ERR_CHANNEL;
}

static arca_status read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return ARCA_ERR_CHANNEL;
        p += r;
        n -= (size_t)r;
    }
    return ARCA_OK;
}

/* Skip a refused frame's payload so the stream stays in step. */
static arca_status drain(int fd, size_t n)
{
    uint8_t scratch[4096];
    while (n > 0) {
        size_t k = n < sizeof(scratch) ? n : sizeof(scratch);
        ARCA_GUARD(read_exact(fd, scratch, k));
        n -= k;
    }
    return ARCA_OK;
}

static void mark_broken(arca_host_channel *hc)
{
    pthread_mutex_lock(&hc->mu);
    hc->broken = true;
    pthread_cond_broadcast(&hc->cond);
    pthread_mutex_unlock(&hc->mu);
}

static arca_status read_one(arca_host_channel *hc)
{
    uint8_t hdr[ARCA_FRAME_HEADER_LEN];
    int pass_fd = -1;
    arca_frame_header h;
    ARCA_GUARD(read_header(hc->fd, hdr, &pass_fd));
    arca_status hdr_st = arca_frame_header_decode(hdr, &h);
    if (hdr_st == ARCA_ERR_FRAME_TYPE || hdr_st == ARCA_ERR_FRAME_SIZE) {
        arca_status st = drain(hc->fd, h.payload_len);
        (void)!arca_host_channel_process(hc, &h, hdr_st, NULL, 0, pass_fd);
        return st;
    }
    if (hdr_st != ARCA_OK) {
        ARCA_ERROR("host channel: undecodable frame header (%s): stream desynchronised, ending",
                   arca_status_name(hdr_st));
        if (pass_fd >= 0) close(pass_fd);
        return ARCA_ERR_CHANNEL;
    }
    uint8_t *payload = NULL;
    if (h.payload_len) {
        payload = malloc(h.payload_len);
        if (payload == NULL) {
            if (pass_fd >= 0) close(pass_fd);
            return ARCA_ERR_NOMEM;
        }
        arca_status st = read_exact(hc->fd, payload, h.payload_len);
        if (st != ARCA_OK) {
            free(payload);
            if (pass_fd >= 0) close(pass_fd);
            return st;
        }
    }
    (void)!arca_host_channel_process(hc, &h, ARCA_OK, payload, h.payload_len, pass_fd);
    /* START payloads carry no secret; store replies are sealed blobs. */
    free(payload);
    return ARCA_OK;
}

arca_status arca_host_channel_run(arca_host_channel *hc)
{
    arca_status st;
    for (;;) {
        pthread_mutex_lock(&hc->mu);
        bool stop = hc->stop;
        arca_status exit_status = hc->exit_status;
        arca_hc_state state = hc->state;
        pthread_mutex_unlock(&hc->mu);
        if (stop) {
            st = exit_status;
            break;
        }
        if (state == ARCA_HC_STOPPING && (hc->h.can_stop == NULL || hc->h.can_stop(hc->h.ctx))) {
            st = ARCA_OK;
            break;
        }
        struct pollfd pfd = {.fd = hc->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 200);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) {
            st = ARCA_ERR_CHANNEL;
            break;
        }
        if (pr == 0) continue;
        st = read_one(hc);
        if (st == ARCA_ERR_CHANNEL) {
            ARCA_WARN("host channel: closed by the host");
            break;
        }
        if (st != ARCA_OK) break;
    }
    mark_broken(hc);
    return st;
}

void arca_host_channel_start_done(arca_host_channel *hc, uint32_t request_id, arca_status st, bool then_stop,
                                  arca_status exit_status)
{
    if (st == ARCA_OK && !then_stop) set_state(hc, ARCA_HC_READY);
    arca_status rs = arca_host_channel_reply(hc, ARCA_ECALL_START, request_id, st, NULL, 0);
    if (rs != ARCA_OK) ARCA_ERROR("host channel: cannot send the START reply: %s", arca_status_name(rs));
    if (st != ARCA_OK || then_stop) {
        set_state(hc, ARCA_HC_STOPPING);
        request_stop(hc, st != ARCA_OK ? st : exit_status);
    }
}

/* ---- OCALLs ---- */

static void unlink_pending(arca_host_channel *hc, pending *p)
{
    for (pending **pp = &hc->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

arca_status arca_host_channel_call(arca_host_channel *hc, uint16_t type, const uint8_t *req, size_t req_len,
                                   uint32_t *out_status, uint8_t **out_body, size_t *out_body_len)
{
    pending *p = calloc(1, sizeof(*p));
    ARCA_ENSURE(p != NULL, ARCA_ERR_NOMEM);
    arca_status st = ARCA_OK;

    pthread_mutex_lock(&hc->mu);
    if (hc->broken) {
        pthread_mutex_unlock(&hc->mu);
        free(p);
        return ARCA_ERR_CHANNEL;
    }
    p->id = hc->next_id++;
    if (hc->next_id == 0) hc->next_id = 1;
    p->type = type;
    p->next = hc->pending;
    hc->pending = p;
    pthread_mutex_unlock(&hc->mu);

    arca_status send_st = send_frame(hc, type, 0, p->id, req, req_len);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ARCA_HC_OCALL_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&hc->mu);
    if (send_st != ARCA_OK) st = ARCA_ERR_CHANNEL;
    while (st == ARCA_OK && !p->done) {
        if (hc->broken) {
            st = ARCA_ERR_CHANNEL;
            break;
        }
        if (pthread_cond_timedwait(&hc->cond, &hc->mu, &deadline) == ETIMEDOUT && !p->done) st = ARCA_ERR_TIMEOUT;
    }
    unlink_pending(hc, p);
    pthread_mutex_unlock(&hc->mu);

    if (st == ARCA_OK) {
        arca_cursor c;
        uint32_t status;
        arca_cursor_init(&c, p->payload, p->len);
        st = arca_cursor_get_u32(&c, &status);
        if (st == ARCA_OK) {
            size_t n = arca_cursor_remaining(&c);
            uint8_t *body = NULL;
            if (n) {
                body = malloc(n);
                if (body == NULL) st = ARCA_ERR_NOMEM;
                else memcpy(body, c.data, n);
            }
            if (st == ARCA_OK) {
                *out_status = status;
                *out_body = body;
                *out_body_len = n;
            }
        }
    } else {
        ARCA_WARN("host channel: OCALL 0x%04x failed: %s", (unsigned)type, arca_status_name(st));
    }
    free(p->payload);
    free(p);
    return st;
}

/* ---- notifications ---- */

arca_status arca_host_channel_notify_closed(arca_host_channel *hc, uint64_t conn_id)
{
    ARCA_ENSURE(hc != NULL, ARCA_ERR_ARGS);
    uint8_t payload[ARCA_CONN_CLOSED_LEN];
    arca_conn_closed_encode(conn_id, payload);
    pthread_mutex_lock(&hc->mu);
    bool broken = hc->broken;
    /* A request id from the OCALL counter, for log lines only: no reply
     * will carry it. */
    uint32_t id = hc->next_id++;
    if (hc->next_id == 0) hc->next_id = 1;
    pthread_mutex_unlock(&hc->mu);
    ARCA_ENSURE(!broken, ARCA_ERR_CHANNEL);
    return send_frame(hc, ARCA_OCALL_CONN_CLOSED, 0, id, payload, sizeof(payload)) == ARCA_OK ? ARCA_OK
                                                                                             : ARCA_ERR_CHANNEL;
}

void arca_host_channel_on_conn_closed(void *hc, uint64_t conn_id)
{
    arca_status st = arca_host_channel_notify_closed(hc, conn_id);
    if (st != ARCA_OK)
        ARCA_DEBUG("host channel: cannot report connection %llu closed: %s", (unsigned long long)conn_id,
                   arca_status_name(st));
}

/* A host status for a store OCALL: only "done" and "not found" mean
 * anything; the host cannot inject other statuses into the keystore. */
static arca_status host_status(uint32_t s, bool not_found_ok)
{
    if (s == ARCA_OK) return ARCA_OK;
    if (not_found_ok && s == ARCA_ERR_NOT_FOUND) return ARCA_ERR_NOT_FOUND;
    return ARCA_ERR_STORE;
}

static arca_status call_encoded(arca_host_channel *hc, uint16_t type, arca_builder *b, uint32_t *status,
                                uint8_t **body, size_t *body_len)
{
    uint8_t *req = NULL;
    size_t req_len = 0;
    ARCA_GUARD(arca_builder_finish(b, &req, &req_len));
    arca_status st = arca_host_channel_call(hc, type, req, req_len, status, body, body_len);
    free(req);
    return st;
}

static arca_status proxy_get(void *ctx, uint8_t db, const uint8_t *key, size_t key_len, uint8_t **out_val,
                             size_t *out_len)
{
    arca_host_channel *hc = ctx;
    arca_builder b;
    uint8_t *body = NULL;
    size_t body_len = 0;
    uint32_t status = 0;
    arca_status st;
    ARCA_GUARD(arca_builder_init(&b, 64 + key_len, ARCA_STORE_MAX_KEY + 64));
    ARCA_GUARD_OUT(arca_store_get_req_encode(&b, db, key, key_len));
    ARCA_GUARD_OUT(call_encoded(hc, ARCA_OCALL_STORE_GET, &b, &status, &body, &body_len));
    ARCA_GUARD_OUT(host_status(status, true));
    arca_cursor c, val;
    arca_cursor_init(&c, body, body_len);
    ARCA_GUARD_OUT(arca_cursor_get_u32_prefixed(&c, &val));
    ARCA_GUARD_OUT(arca_cursor_finish(&c));
    ARCA_ENSURE_OUT(val.len <= ARCA_STORE_MAX_VALUE, ARCA_ERR_TOO_LARGE);
    uint8_t *copy = malloc(val.len ? val.len : 1);
    ARCA_ENSURE_OUT(copy != NULL, ARCA_ERR_NOMEM);
    if (val.len) memcpy(copy, val.data, val.len);
    *out_val = copy;
    *out_len = val.len;
out:
    free(body);
    arca_builder_cleanup(&b);
    return st;
}

static arca_status proxy_commit(void *ctx, const arca_store_op *ops, size_t num_ops)
{
    arca_host_channel *hc = ctx;
    arca_builder b;
    uint8_t *body = NULL;
    size_t body_len = 0;
    uint32_t status = 0;
    arca_status st;
    ARCA_GUARD(arca_builder_init(&b, 4096, arca_frame_cap(ARCA_OCALL_STORE_COMMIT, false)));
    ARCA_GUARD_OUT(arca_store_commit_req_encode(&b, ops, num_ops));
    ARCA_GUARD_OUT(call_encoded(hc, ARCA_OCALL_STORE_COMMIT, &b, &status, &body, &body_len));
    ARCA_GUARD_OUT(host_status(status, false));
    ARCA_ENSURE_OUT(body_len == 0, ARCA_ERR_DECODE);
out:
    free(body);
    arca_builder_cleanup(&b);
    return st;
}

/* LMDB's default order: bytewise, shorter first on a common prefix. */
static int key_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

/* The host answers a scan: every key must carry the prefix, come after
 * `after` in the scan's direction, in strict order, with values only when
 * asked for. Otherwise the host is lying (ARCA_ERR_STORE). */
static arca_status check_scan(const arca_store_scan_req *r, const arca_store_entry *e, size_t num)
{
    int dir = r->reverse ? -1 : 1;
    for (size_t i = 0; i < num; i++) {
        ARCA_ENSURE(e[i].key_len >= r->prefix_len, ARCA_ERR_STORE);
        ARCA_ENSURE(r->prefix_len == 0 || memcmp(e[i].key, r->prefix, r->prefix_len) == 0, ARCA_ERR_STORE);
        if (r->after_len)
            ARCA_ENSURE(dir * key_cmp(e[i].key, e[i].key_len, r->after, r->after_len) > 0, ARCA_ERR_STORE);
        if (i > 0)
            ARCA_ENSURE(dir * key_cmp(e[i].key, e[i].key_len, e[i - 1].key, e[i - 1].key_len) > 0, ARCA_ERR_STORE);
        ARCA_ENSURE(r->with_values || e[i].val_len == 0, ARCA_ERR_STORE);
    }
    return ARCA_OK;
}

static arca_status proxy_scan(void *ctx, uint8_t db, const uint8_t *prefix, size_t prefix_len, const uint8_t *after,
                              size_t after_len, uint32_t limit, bool with_values, bool reverse,
                              arca_store_entry **out, size_t *out_num)
{
    arca_host_channel *hc = ctx;
    arca_builder b;
    uint8_t *body = NULL;
    size_t body_len = 0;
    uint32_t status = 0;
    arca_status st;
    arca_store_scan_req r = {.db = db,
                             .prefix = prefix,
                             .prefix_len = prefix_len,
                             .after = after,
                             .after_len = after_len,
                             .limit = limit,
                             .with_values = with_values,
                             .reverse = reverse};
    ARCA_GUARD(arca_builder_init(&b, 256, 4096));
    ARCA_GUARD_OUT(arca_store_scan_req_encode(&b, &r));
    ARCA_GUARD_OUT(call_encoded(hc, ARCA_OCALL_STORE_SCAN, &b, &status, &body, &body_len));
    ARCA_GUARD_OUT(host_status(status, false));
    arca_cursor c;
    arca_cursor_init(&c, body, body_len);
    arca_store_entry *entries = NULL;
    size_t num = 0;
    ARCA_GUARD_OUT(arca_store_scan_reply_decode(&c, limit, &entries, &num));
    st = arca_cursor_finish(&c);
    if (st != ARCA_OK) {
        arca_store_entries_free(entries, num);
        goto out;
    }
    st = check_scan(&r, entries, num);
    if (st != ARCA_OK) {
        ARCA_WARN("host channel: scan reply violates the request: %s", arca_status_name(st));
        arca_store_entries_free(entries, num);
        goto out;
    }
    *out = entries;
    *out_num = num;
out:
    free(body);
    arca_builder_cleanup(&b);
    return st;
}

void arca_host_channel_store_ops(arca_host_channel *hc, arca_store_ops *out)
{
    out->ctx = hc;
    out->get = proxy_get;
    out->commit = proxy_commit;
    out->scan = proxy_scan;
}
