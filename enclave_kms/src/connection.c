/* Client connections: one worker thread each. See connection.h. */
#include "connection.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arca/local_proto.h"
#include "arca/log.h"
#include "arca/secret.h"

typedef struct conn {
    arca_conn_mgr *mgr;
    uint64_t id;
    int fd;
    struct conn *next;
} conn;

struct arca_conn_mgr {
    arca_request_ctx ctx;
    uint32_t max;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopped;
    size_t active;
    conn *conns;
};

void arca_conn_serve(const arca_request_ctx *ctx, uint64_t conn_id, int fd)
{
    arca_kms_session *sess = NULL;
    arca_status st = arca_kms_session_new(ctx->kms, &sess);
    if (st != ARCA_OK) {
        ARCA_WARN("connection %llu: no session: %s", (unsigned long long)conn_id, arca_status_name(st));
        arca_builder b;
        uint8_t *out = NULL;
        size_t n = 0;
        if (arca_builder_init(&b, 64, 512) == ARCA_OK) {
            if (arca_lp_response_error(&b, st, NULL) == ARCA_OK && arca_builder_finish(&b, &out, &n) == ARCA_OK)
                (void)!arca_lp_frame_write(fd, out, n);
            free(out);
            arca_builder_cleanup(&b);
        }
        return;
    }
    ARCA_INFO("connection %llu: open", (unsigned long long)conn_id);
    for (;;) {
        uint8_t *req = NULL;
        size_t req_len = 0;
        st = arca_lp_frame_read(fd, ARCA_LP_FRAME_MAX, -1, true, &req, &req_len);
        if (st == ARCA_ERR_CHANNEL) break; /* clean close */
        if (st != ARCA_OK) {
            ARCA_WARN("connection %llu: cannot read a request: %s", (unsigned long long)conn_id,
                      arca_status_name(st));
            break;
        }
        arca_builder resp;
        uint8_t *out = NULL;
        size_t out_len = 0;
        st = arca_builder_init_secret(&resp, 256, ARCA_LP_FRAME_MAX);
        if (st != ARCA_OK) {
            arca_secmem_free(req);
            break;
        }
        arca_status handled = arca_request_handle(ctx, sess, req, req_len, &resp);
        arca_secmem_free(req);
        if (handled == ARCA_ERR_NOMEM) {
            arca_builder_cleanup(&resp);
            break;
        }
        st = arca_builder_finish(&resp, &out, &out_len);
        if (st == ARCA_OK) st = arca_lp_frame_write(fd, out, out_len);
        arca_secmem_free(out);
        arca_builder_cleanup(&resp);
        if (st != ARCA_OK) {
            ARCA_WARN("connection %llu: cannot answer: %s", (unsigned long long)conn_id, arca_status_name(st));
            break;
        }
        if (handled != ARCA_OK) {
            ARCA_WARN("connection %llu: malformed request (%s): closing", (unsigned long long)conn_id,
                      arca_status_name(handled));
            break;
        }
    }
    arca_kms_session_free(sess);
    ARCA_INFO("connection %llu: closed", (unsigned long long)conn_id);
}

static void *worker(void *arg)
{
    conn *c = arg;
    arca_conn_mgr *m = c->mgr;
    arca_conn_serve(&m->ctx, c->id, c->fd);
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

arca_status arca_conn_mgr_new(const arca_request_ctx *ctx, uint32_t max_connections, arca_conn_mgr **out)
{
    ARCA_ENSURE(ctx != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_conn_mgr *m = calloc(1, sizeof(*m));
    ARCA_ENSURE(m != NULL, ARCA_ERR_NOMEM);
    m->ctx = *ctx;
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
