/* libarca-client connection pool: up to max arca_client connections opened
 * on demand, handed out one caller at a time, all logged in with the
 * pool's remembered credentials. See arca/client.h and docs/client.md. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arca/client.h"
#include "arca/secret.h"

typedef struct pool_slot {
    arca_client *c; /* NULL: free slot, or reserved while being opened */
    bool used;      /* counted against max (open, or being opened) */
    bool lent;      /* handed out by acquire */
    bool logged_in; /* a login was done on this connection */
    uint64_t gen;   /* the pool's credentials generation it was prepared for */
} pool_slot;

typedef struct pool_creds {
    bool set;
    bool has_partition;
    char partition[ARCA_LP_NAME_MAX + 1];
    int role;
    char pin[ARCA_LP_PIN_MAX + 1];
} pool_creds;

struct arca_client_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot became idle or free */
    arca_client_config cfg;
    size_t max;
    pool_slot *slots;
    pool_creds creds; /* the PIN is wiped at logout and free */
    uint64_t gen;     /* bumped at every login / logout */
};

static void pool_msg(char *msg, size_t msg_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pool_msg(char *msg, size_t msg_len, const char *fmt, ...)
{
    if (msg == NULL || msg_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
}

arca_status arca_client_pool_new(const arca_client_config *cfg, size_t max, arca_client_pool **out, char *msg,
                                 size_t msg_len)
{
    pool_msg(msg, msg_len, "%s", "");
    if (cfg == NULL || out == NULL || cfg->address[0] == '\0' || cfg->cert[0] == '\0' || cfg->key[0] == '\0') {
        pool_msg(msg, msg_len, "address, cert and key are required");
        return ARCA_ERR_ARGS;
    }
    if (max < 1 || max > ARCA_CLIENT_POOL_MAX) {
        pool_msg(msg, msg_len, "pool size %zu out of range (allowed 1..%u)", max, ARCA_CLIENT_POOL_MAX);
        return ARCA_ERR_ARGS;
    }
    arca_client_pool *p = calloc(1, sizeof(*p));
    ARCA_ENSURE(p != NULL, ARCA_ERR_NOMEM);
    p->slots = calloc(max, sizeof(*p->slots));
    if (p->slots == NULL) {
        free(p);
        return ARCA_ERR_NOMEM;
    }
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
    if (!ok || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->slots);
        free(p);
        return ARCA_ERR_INTERNAL;
    }
    if (pthread_cond_init(&p->cv, &ca) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p->slots);
        free(p);
        return ARCA_ERR_INTERNAL;
    }
    pthread_condattr_destroy(&ca);
    p->cfg = *cfg;
    if (p->cfg.timeout_ms <= 0) p->cfg.timeout_ms = ARCA_CLIENT_DEFAULT_TIMEOUT_MS;
    p->max = max;
    *out = p;
    return ARCA_OK;
}

void arca_client_pool_free(arca_client_pool *p)
{
    if (p == NULL) return;
    for (size_t i = 0; i < p->max; i++) arca_client_close(p->slots[i].c);
    free(p->slots);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    arca_wipe(p, sizeof(*p));
    free(p);
}

/* Bring a slot's connection (already reserved by the caller, not under
 * the lock) in line with creds/gen: a connection logged in under other
 * credentials is replaced by a new one (no session carries an old login),
 * a missing one is opened, then it logs in when there are credentials. On
 * failure the slot's connection is closed (s->c NULL). */
static arca_status prepare_slot(arca_client_pool *p, pool_slot *s, const pool_creds *creds, uint64_t gen,
                                char *msg, size_t msg_len)
{
    arca_status st;
    if (s->c != NULL && s->logged_in) {
        arca_client_close(s->c);
        s->c = NULL;
        s->logged_in = false;
    }
    if (s->c == NULL) {
        st = arca_client_open(&p->cfg, &s->c, msg, msg_len);
        if (st != ARCA_OK) {
            s->c = NULL;
            return st;
        }
    }
    if (creds->set) {
        st = arca_client_login(s->c, creds->has_partition ? creds->partition : NULL, creds->role, creds->pin);
        if (st != ARCA_OK) {
            pool_msg(msg, msg_len, "%s", arca_client_last_message(s->c));
            arca_client_close(s->c);
            s->c = NULL;
            return st;
        }
        s->logged_in = true;
    }
    s->gen = gen;
    return ARCA_OK;
}

/* Wait on the condition until the absolute monotonic deadline (NULL:
 * forever). ARCA_ERR_TIMEOUT when it passed. */
static arca_status wait_until(arca_client_pool *p, const struct timespec *dl)
{
    if (dl == NULL) {
        pthread_cond_wait(&p->cv, &p->mu);
        return ARCA_OK;
    }
    int rc = pthread_cond_timedwait(&p->cv, &p->mu, dl);
    if (rc == ETIMEDOUT) return ARCA_ERR_TIMEOUT;
    return ARCA_OK;
}

/* Acquire a slot index: an idle connection first, else a free slot
 * (reserved: used, c NULL), else wait. Under the lock. */
static arca_status take_slot(arca_client_pool *p, int timeout_ms, size_t *out)
{
    struct timespec dl, *dlp = NULL;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        dlp = &dl;
    }
    for (;;) {
        size_t free_slot = p->max;
        for (size_t i = 0; i < p->max; i++) {
            pool_slot *s = &p->slots[i];
            if (s->used && !s->lent && s->c != NULL) {
                s->lent = true;
                *out = i;
                return ARCA_OK;
            }
            if (!s->used && free_slot == p->max) free_slot = i;
        }
        if (free_slot < p->max) {
            pool_slot *s = &p->slots[free_slot];
            memset(s, 0, sizeof(*s));
            s->used = true;
            s->lent = true;
            *out = free_slot;
            return ARCA_OK;
        }
        if (timeout_ms == 0) return ARCA_ERR_TIMEOUT;
        ARCA_GUARD(wait_until(p, dlp));
    }
}

/* Give a slot back after a failed preparation: it becomes free. */
static void drop_slot(arca_client_pool *p, size_t i)
{
    pthread_mutex_lock(&p->mu);
    arca_client_close(p->slots[i].c);
    memset(&p->slots[i], 0, sizeof(p->slots[i]));
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Take a slot and make it ready for the current credentials. */
static arca_status acquire_slot(arca_client_pool *p, int timeout_ms, size_t *out, char *msg, size_t msg_len)
{
    size_t i;
    pool_creds creds = {0};
    pthread_mutex_lock(&p->mu);
    arca_status st = take_slot(p, timeout_ms, &i);
    if (st != ARCA_OK) {
        pthread_mutex_unlock(&p->mu);
        pool_msg(msg, msg_len, "no pooled connection free within %d ms", timeout_ms);
        return st;
    }
    pool_slot *s = &p->slots[i];
    bool ready = s->c != NULL && s->gen == p->gen;
    uint64_t gen = p->gen;
    if (!ready) creds = p->creds;
    pthread_mutex_unlock(&p->mu);
    if (!ready) {
        /* Opening and logging in happen outside the lock: the slot is
         * lent, so no other thread touches it. */
        st = prepare_slot(p, s, &creds, gen, msg, msg_len);
        arca_wipe(&creds, sizeof(creds));
        if (st != ARCA_OK) {
            drop_slot(p, i);
            return st;
        }
    }
    *out = i;
    return ARCA_OK;
}

arca_status arca_client_pool_acquire(arca_client_pool *p, int timeout_ms, arca_client **out, char *msg,
                                     size_t msg_len)
{
    pool_msg(msg, msg_len, "%s", "");
    ARCA_ENSURE(p != NULL && out != NULL, ARCA_ERR_ARGS);
    size_t i;
    ARCA_GUARD(acquire_slot(p, timeout_ms, &i, msg, msg_len));
    *out = p->slots[i].c;
    return ARCA_OK;
}

arca_status arca_client_pool_release(arca_client_pool *p, arca_client *c, bool broken)
{
    ARCA_ENSURE(p != NULL && c != NULL, ARCA_ERR_ARGS);
    arca_status st = ARCA_ERR_ARGS;
    arca_client *to_close = NULL;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->max; i++) {
        pool_slot *s = &p->slots[i];
        if (s->c != c || !s->lent) continue;
        if (broken) {
            to_close = c;
            memset(s, 0, sizeof(*s));
        } else {
            s->lent = false;
        }
        pthread_cond_signal(&p->cv);
        st = ARCA_OK;
        break;
    }
    pthread_mutex_unlock(&p->mu);
    arca_client_close(to_close);
    return st;
}

arca_status arca_client_pool_login(arca_client_pool *p, const char *partition, int role, const char *pin, char *msg,
                                   size_t msg_len)
{
    pool_msg(msg, msg_len, "%s", "");
    ARCA_ENSURE(p != NULL && pin != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(role >= 0 && role <= 255, ARCA_ERR_ARGS);
    size_t pin_len = strlen(pin), part_len = partition ? strlen(partition) : 0;
    ARCA_ENSURE(pin_len <= ARCA_LP_PIN_MAX && part_len <= ARCA_LP_NAME_MAX, ARCA_ERR_TOO_LARGE);
    pool_creds creds = {.set = true, .has_partition = partition != NULL, .role = role};
    if (part_len) memcpy(creds.partition, partition, part_len);
    memcpy(creds.pin, pin, pin_len);
    size_t i;
    arca_status st = acquire_slot(p, p->cfg.timeout_ms, &i, msg, msg_len);
    if (st != ARCA_OK) {
        arca_wipe(&creds, sizeof(creds));
        return st;
    }
    /* Check the credentials on one connection before remembering them:
     * a wrong PIN is never replayed on the others (lockout). */
    pool_slot *s = &p->slots[i];
    st = prepare_slot(p, s, &creds, 0, msg, msg_len);
    if (st != ARCA_OK) {
        arca_wipe(&creds, sizeof(creds));
        drop_slot(p, i);
        return st;
    }
    /* The new credentials and their generation change together, so that
     * no connection is stamped with a generation it did not log in for. */
    pthread_mutex_lock(&p->mu);
    arca_wipe(&p->creds, sizeof(p->creds));
    p->creds = creds;
    s->gen = ++p->gen;
    s->lent = false;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    arca_wipe(&creds, sizeof(creds));
    return ARCA_OK;
}

void arca_client_pool_logout(arca_client_pool *p)
{
    if (p == NULL) return;
    pthread_mutex_lock(&p->mu);
    arca_wipe(&p->creds, sizeof(p->creds));
    p->gen++;
    /* Idle logged-in connections are closed now; lent ones when they are
     * next acquired (their generation is old). */
    arca_client *idle[ARCA_CLIENT_POOL_MAX];
    size_t n = 0;
    for (size_t i = 0; i < p->max; i++) {
        pool_slot *s = &p->slots[i];
        if (s->used && !s->lent && s->c != NULL && s->logged_in) {
            idle[n++] = s->c;
            memset(s, 0, sizeof(*s));
        }
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++) arca_client_close(idle[i]);
}

void arca_client_pool_stats(arca_client_pool *p, size_t *out_open, size_t *out_lent)
{
    size_t open = 0, lent = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->max; i++) {
        open += p->slots[i].c != NULL;
        lent += p->slots[i].lent;
    }
    pthread_mutex_unlock(&p->mu);
    if (out_open) *out_open = open;
    if (out_lent) *out_lent = lent;
}
