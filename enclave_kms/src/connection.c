/* Client connections: one worker thread each. See connection.h. */
#include "kmip_server.h" /* first: p11-kit's macros, see kmip_server.h */
#include "connection.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arca/cursor.h"
#include "arca/kmip.h"
#include "arca/log.h"
#include "arca/secret.h"
#include "arca/ttlv.h"
#include "tls_server.h"

typedef struct conn {
    arca_conn_mgr *mgr;
    uint64_t id;
    int fd;
    struct conn *next;
} conn;

struct arca_conn_mgr {
    arca_request_ctx ctx;
    arca_conn_closed_fn on_close; /* may be NULL */
    void *close_ctx;
    uint32_t max;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopped;
    size_t active;
    conn *conns;
};

/* Send a KMIP error response for refused framing (best effort: the
 * connection is closed after it either way). */
static void answer_framing_error(arca_tls_conn *tc, uint64_t conn_id, const char *msg)
{
    arca_builder b;
    uint8_t *out = NULL;
    size_t n = 0;
    ARCA_WARN("connection %llu: %s: closing", (unsigned long long)conn_id, msg);
    if (arca_builder_init(&b, 256, 4096) != ARCA_OK) return;
    if (arca_kmip_framing_error(&b, msg) == ARCA_OK && arca_builder_finish(&b, &out, &n) == ARCA_OK)
        (void)!arca_tls_write(tc, out, n, ARCA_TLS_MESSAGE_TIMEOUT_MS);
    free(out);
    arca_builder_cleanup(&b);
}

/* One KMIP Request Message in, one Response Message out. ARCA_OK: go on
 * with the next message; ARCA_ERR_CHANNEL: the client closed cleanly;
 * anything else: close the connection. */
static arca_status serve_one(const arca_request_ctx *ctx, arca_kms_session *sess, arca_tls_conn *tc,
                             uint64_t conn_id)
{
    arca_status st;
    uint8_t hdr[ARCA_TTLV_HEADER_LEN];
    uint8_t *req = NULL, *out = NULL;
    size_t total = 0, out_len = 0;
    arca_builder resp = {0};
    arca_cursor cur;
    uint32_t tag_type = 0;

    /* Idle between messages for as long as the client likes; once a
     * message begins it must arrive in time. */
    st = arca_tls_read(tc, hdr, sizeof(hdr), true, ARCA_TLS_MESSAGE_TIMEOUT_MS);
    if (st == ARCA_ERR_CHANNEL) return st;
    if (st != ARCA_OK) {
        ARCA_WARN("connection %llu: cannot read a message header: %s", (unsigned long long)conn_id,
                  arca_status_name(st));
        return st;
    }
    arca_cursor_init(&cur, hdr, sizeof(hdr));
    ARCA_GUARD(arca_cursor_get_u32(&cur, &tag_type));
    if (tag_type != ((uint32_t)ARCA_KMIP_TAG_REQUEST_MESSAGE << 8 | ARCA_TTLV_STRUCTURE)) {
        answer_framing_error(tc, conn_id, "not a KMIP Request Message (tag 0x420078, type Structure)");
        return ARCA_ERR_DECODE;
    }
    st = arca_ttlv_message_len(hdr, sizeof(hdr), ARCA_KMIP_WIRE_MAX, &total);
    if (st == ARCA_ERR_TOO_LARGE) {
        char msg[96];
        snprintf(msg, sizeof(msg), "message longer than the server's limit of %u bytes", ARCA_KMIP_WIRE_MAX);
        answer_framing_error(tc, conn_id, msg);
        return st;
    }
    if (st != ARCA_OK) {
        answer_framing_error(tc, conn_id, "malformed TTLV message header");
        return st;
    }
    /* Requests may carry key material and plaintext: secret memory. */
    req = arca_secmem_alloc(total);
    ARCA_ENSURE(req != NULL, ARCA_ERR_NOMEM);
    memcpy(req, hdr, sizeof(hdr));
    st = arca_tls_read(tc, req + sizeof(hdr), total - sizeof(hdr), false, ARCA_TLS_MESSAGE_TIMEOUT_MS);
    if (st != ARCA_OK) {
        ARCA_WARN("connection %llu: %s message: %s", (unsigned long long)conn_id,
                  st == ARCA_ERR_DECODE ? "truncated" : "cannot read a", arca_status_name(st));
        goto out;
    }
    ARCA_GUARD_OUT(arca_builder_init_secret(&resp, 1024, ARCA_KMIP_WIRE_MAX));
    st = arca_kmip_handle_ctx(ctx, sess, req, total, &resp);
    arca_secmem_free(req);
    req = NULL;
    if (st != ARCA_OK) {
        ARCA_WARN("connection %llu: no response could be built: %s", (unsigned long long)conn_id,
                  arca_status_name(st));
        goto out;
    }
    ARCA_GUARD_OUT(arca_builder_finish(&resp, &out, &out_len));
    st = arca_tls_write(tc, out, out_len, ARCA_TLS_MESSAGE_TIMEOUT_MS);
    if (st != ARCA_OK)
        ARCA_WARN("connection %llu: cannot answer: %s", (unsigned long long)conn_id, arca_status_name(st));
out:
    arca_secmem_free(req);
    arca_secmem_free(out);
    arca_builder_cleanup(&resp);
    return st;
}

void arca_conn_serve(const arca_request_ctx *ctx, uint64_t conn_id, int fd)
{
    arca_kms_session *sess = NULL;
    arca_tls_conn *tc = NULL;
    char peer[48];
    snprintf(peer, sizeof(peer), "connection %llu", (unsigned long long)conn_id);

    if (ctx->tls == NULL) {
        ARCA_ERROR("%s: no TLS server: refused", peer);
        return;
    }
    arca_status st = arca_kms_session_new(ctx->kms, &sess);
    if (st != ARCA_OK) {
        /* Nothing can be said to a client before its handshake. */
        ARCA_WARN("%s: no session: %s", peer, arca_status_name(st));
        return;
    }
    st = arca_tls_accept(ctx->tls, ctx->kms, sess, fd, peer, ARCA_TLS_HANDSHAKE_TIMEOUT_MS, &tc);
    if (st != ARCA_OK) {
        ARCA_WARN("%s: TLS handshake refused: %s", peer, arca_status_name(st));
        goto out;
    }
    ARCA_INFO("%s: open, identity \"%s\"", peer, arca_kms_session_identity(sess));
    do {
        st = serve_one(ctx, sess, tc, conn_id);
    } while (st == ARCA_OK);
out:
    arca_tls_conn_free(tc);
    arca_kms_session_free(sess);
    ARCA_INFO("%s: closed", peer);
}

static void *worker(void *arg)
{
    conn *c = arg;
    arca_conn_mgr *m = c->mgr;
    arca_conn_serve(&m->ctx, c->id, c->fd);
    /* Tell the host before the slot is released (not after): once active
     * drops, arca_conn_mgr_free may return and close_ctx go away. The
     * client fd is shut down first so the host never counts a connection
     * that is still open here as closed. */
    shutdown(c->fd, SHUT_RDWR);
    if (m->on_close != NULL) m->on_close(m->close_ctx, c->id);
    pthread_mutex_lock(&m->mu);
    for (conn **pp = &m->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    close(c->fd);
    free(c);
    m->active--;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

arca_status arca_conn_mgr_new(const arca_request_ctx *ctx, uint32_t max_connections, arca_conn_closed_fn on_close,
                              void *close_ctx, arca_conn_mgr **out)
{
    ARCA_ENSURE(ctx != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_conn_mgr *m = calloc(1, sizeof(*m));
    ARCA_ENSURE(m != NULL, ARCA_ERR_NOMEM);
    m->ctx = *ctx;
    m->on_close = on_close;
    m->close_ctx = close_ctx;
    m->max = max_connections ? max_connections : 64;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    *out = m;
    return ARCA_OK;
}

arca_status arca_conn_mgr_add(arca_conn_mgr *m, uint64_t conn_id, int fd)
{
    conn *c = calloc(1, sizeof(*c));
    ARCA_ENSURE(c != NULL, ARCA_ERR_NOMEM);
    c->mgr = m;
    c->id = conn_id;
    c->fd = fd;
    arca_status st = ARCA_OK;
    pthread_mutex_lock(&m->mu);
    if (m->stopped) st = ARCA_ERR_NOT_INITIALISED;
    else if (m->active >= m->max) st = ARCA_ERR_BUSY;
    if (st == ARCA_OK) {
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker, c) != 0) st = ARCA_ERR_NOMEM;
        pthread_attr_destroy(&attr);
    }
    if (st == ARCA_OK) {
        c->next = m->conns;
        m->conns = c;
        m->active++;
    }
    pthread_mutex_unlock(&m->mu);
    if (st != ARCA_OK) {
        ARCA_WARN("connection %llu: refused: %s", (unsigned long long)conn_id, arca_status_name(st));
        free(c);
    }
    return st;
}

void arca_conn_mgr_stop(arca_conn_mgr *m)
{
    pthread_mutex_lock(&m->mu);
    m->stopped = true;
    for (conn *c = m->conns; c; c = c->next) shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&m->mu);
}

size_t arca_conn_mgr_active(arca_conn_mgr *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->active;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void arca_conn_mgr_free(arca_conn_mgr *m)
{
    if (m == NULL) return;
    arca_conn_mgr_stop(m);
    pthread_mutex_lock(&m->mu);
    while (m->active > 0) pthread_cond_wait(&m->cond, &m->mu);
    pthread_mutex_unlock(&m->mu);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
