/* The audit chain (format in audit.h). Records are built and MACed here,
 * and written only through the store ops; everything read back from the
 * store is hostile until its MAC and chain links check. Key-use records
 * are batched (audit.h, docs/performance.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/hex.h"
#include "arca/local_proto.h"
#include "arca/log.h"
#include "arca/secret.h"
#include "audit.h"

#define AUDIT_FORMAT 1u
#define AUDIT_HASH_LEN 32u
#define AUDIT_MAC_LEN 32u
#define AUDIT_TEXT_MAX 1024u /* longer text fields are truncated */
#define AUDIT_RECORD_MAX (64u + 3u * AUDIT_TEXT_MAX + AUDIT_HASH_LEN + AUDIT_MAC_LEN)
#define AUDIT_PAGE 256u

/* A key-use record chained in memory, not yet stored. */
typedef struct queued {
    uint64_t seq;
    uint8_t key[8];
    uint8_t *rec;
    size_t len;
    uint8_t hash[AUDIT_HASH_LEN];
} queued;

struct arca_audit {
    /* Lock order: flush_mu, then lock. flush_mu serialises every store
     * commit that carries audit records, so batches reach the store in
     * chain order; lock guards the head and the queue and is held from
     * begin() to end(). A batch commit runs without lock, so key use goes
     * on while the store syncs. */
    pthread_mutex_t flush_mu;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* wakes the flusher */
    pthread_t flusher;
    bool flusher_running, stop;
    uint32_t max_delay_ms, max_records;
    uint64_t (*clock_ms)(void);
    const arca_store_ops *store;
    EVP_MAC_CTX *mac_tmpl; /* HMAC-SHA256 keyed with the audit key; duplicated per use */
    EVP_MD *sha256;
    uint64_t head_seq; /* in memory, pending records included; 0 = empty chain */
    uint8_t head_hash[AUDIT_HASH_LEN];
    uint64_t stored_seq; /* the last record known to be in the store */
    uint8_t stored_hash[AUDIT_HASH_LEN];
    /* Key-use records not yet stored, in chain order (seq stored_seq+1 ...). */
    queued *q;
    size_t num_q, cap_q;
    size_t num_inflight; /* taken out of q by a batch commit under way */
    uint64_t first_ms;     /* clock when the oldest pending record was queued */
    arca_status batch_st;  /* last batch commit; not ARCA_OK stops key use */
    /* The record between begin() and end(). */
    bool pending;
    uint8_t pending_key[8];
    uint8_t *pending_rec;
    size_t pending_len;
    uint8_t pending_hash[AUDIT_HASH_LEN];
};

typedef struct audit_record {
    uint64_t seq;
    const uint8_t *prev_hash;
    const uint8_t *mac;
    size_t mac_offset; /* bytes covered by the MAC */
} audit_record;

static void seq_key(uint64_t seq, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)seq;
        seq >>= 8;
    }
}

static arca_status mac_compute(const arca_audit *a, const uint8_t *data, size_t len, uint8_t mac[AUDIT_MAC_LEN])
{
    arca_status st = ARCA_OK;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(a->mac_tmpl);
    size_t out_len = 0;

    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(EVP_MAC_update(ctx, data, len));
    ARCA_GUARD_OSSL_OUT(EVP_MAC_final(ctx, mac, &out_len, AUDIT_MAC_LEN));
    ARCA_ENSURE_OUT(out_len == AUDIT_MAC_LEN, ARCA_ERR_CRYPTO);
out:
    EVP_MAC_CTX_free(ctx);
    return st;
}

static arca_status hash_compute(const arca_audit *a, const uint8_t *data, size_t len,
                                uint8_t hash[AUDIT_HASH_LEN])
{
    unsigned int n = 0;
    ARCA_GUARD_OSSL(EVP_Digest(data, len, hash, &n, a->sha256, NULL));
    ARCA_ENSURE(n == AUDIT_HASH_LEN, ARCA_ERR_CRYPTO);
    return ARCA_OK;
}

/* Parse a stored record and check its MAC. Anything wrong: INTEGRITY. */
static arca_status record_parse(const arca_audit *a, const uint8_t *rec, size_t len, audit_record *out)
{
    arca_cursor c, text;
    uint16_t format, op;
    uint64_t seq, time_ms;
    uint32_t status;
    const uint8_t *object_id, *prev, *mac;
    uint8_t expect[AUDIT_MAC_LEN];
    size_t mac_offset;

    arca_cursor_init(&c, rec, len);
    if (arca_cursor_get_u16(&c, &format) != ARCA_OK || format != AUDIT_FORMAT ||
        arca_cursor_get_u64(&c, &seq) != ARCA_OK || arca_cursor_get_u64(&c, &time_ms) != ARCA_OK ||
        arca_cursor_get_u16(&c, &op) != ARCA_OK || arca_cursor_get_u32(&c, &status) != ARCA_OK ||
        arca_cursor_get_bytes(&c, ARCA_OBJECT_ID_LEN, &object_id) != ARCA_OK ||
        arca_cursor_get_u16_prefixed(&c, &text) != ARCA_OK || arca_cursor_get_u16_prefixed(&c, &text) != ARCA_OK ||
        arca_cursor_get_u16_prefixed(&c, &text) != ARCA_OK ||
        arca_cursor_get_bytes(&c, AUDIT_HASH_LEN, &prev) != ARCA_OK)
        return ARCA_ERR_INTEGRITY;
    mac_offset = len - arca_cursor_remaining(&c);
    if (arca_cursor_get_bytes(&c, AUDIT_MAC_LEN, &mac) != ARCA_OK || arca_cursor_finish(&c) != ARCA_OK)
        return ARCA_ERR_INTEGRITY;
    ARCA_GUARD(mac_compute(a, rec, mac_offset, expect));
    ARCA_ENSURE(CRYPTO_memcmp(expect, mac, AUDIT_MAC_LEN) == 0, ARCA_ERR_INTEGRITY);
    out->seq = seq;
    out->prev_hash = prev;
    out->mac = mac;
    out->mac_offset = mac_offset;
    return ARCA_OK;
}

static arca_status add_text(arca_builder *b, const char *s)
{
    size_t n = s == NULL ? 0 : strnlen(s, AUDIT_TEXT_MAX);
    return arca_builder_add_u16_prefixed(b, s == NULL ? "" : s, n);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static arca_status record_build(const arca_audit *a, uint64_t seq, const arca_audit_event *ev, uint8_t **out,
                                size_t *out_len)
{
    static const uint8_t zero_id[ARCA_OBJECT_ID_LEN];
    arca_status st = ARCA_OK;
    arca_builder b = {0};
    uint8_t *mac = NULL;

    ARCA_GUARD(arca_builder_init(&b, 256, AUDIT_RECORD_MAX));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, AUDIT_FORMAT));
    ARCA_GUARD_OUT(arca_builder_add_u64(&b, seq));
    ARCA_GUARD_OUT(arca_builder_add_u64(&b, now_ms()));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, ev->op));
    ARCA_GUARD_OUT(arca_builder_add_u32(&b, (uint32_t)ev->status));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, ev->object_id != NULL ? ev->object_id : zero_id, ARCA_OBJECT_ID_LEN));
    ARCA_GUARD_OUT(add_text(&b, ev->partition));
    ARCA_GUARD_OUT(add_text(&b, ev->actor != NULL ? ev->actor : ev->actor_buf[0] != '\0' ? ev->actor_buf : NULL));
    ARCA_GUARD_OUT(add_text(&b, ev->detail));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, a->head_hash, AUDIT_HASH_LEN));
    ARCA_GUARD_OUT(arca_builder_reserve(&b, AUDIT_MAC_LEN, &mac));
    ARCA_GUARD_OUT(mac_compute(a, b.data, b.len - AUDIT_MAC_LEN, mac));
    ARCA_GUARD_OUT(arca_builder_finish(&b, out, out_len));
out:
    arca_builder_cleanup(&b);
    return st;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void queue_free(queued *q, size_t num)
{
    for (size_t i = 0; i < num; i++) free(q[i].rec);
}

static void *flusher_main(void *arg);

void arca_audit_free(arca_audit *a)
{
    if (a == NULL) return;
    if (a->flusher_running) {
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->flusher, NULL);
    }
    if (a->num_q > 0) {
        arca_status st = arca_audit_flush(a);
        if (st != ARCA_OK)
            ARCA_ERROR("audit: %zu key-use records (seq %llu..%llu) could not be stored at close: %s; the stored "
                       "chain ends before them",
                       a->num_q, (unsigned long long)a->q[0].seq, (unsigned long long)a->q[a->num_q - 1].seq,
                       arca_status_name(st));
    }
    if (a->pending) ARCA_ERROR("audit: freed with a record pending (begin without end)");
    queue_free(a->q, a->num_q);
    free(a->q);
    free(a->pending_rec);
    EVP_MAC_CTX_free(a->mac_tmpl);
    EVP_MD_free(a->sha256);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->flush_mu);
    free(a);
}

arca_status arca_audit_open(arca_sealing *sealing, const arca_store_ops *store, arca_audit **out)
{
    return arca_audit_open_batched(sealing, store, NULL, out);
}

arca_status arca_audit_open_batched(arca_sealing *sealing, const arca_store_ops *store, const arca_audit_batch *cfg,
                                    arca_audit **out)
{
    arca_status st = ARCA_OK;
    arca_audit *a = NULL;
    arca_secret key = {0};
    EVP_MAC *hmac = NULL;
    OSSL_PARAM params[2];
    arca_store_entry *e = NULL;
    size_t num = 0;
    audit_record r;
    uint8_t k8[8];
    pthread_condattr_t ca;

    ARCA_ENSURE(sealing != NULL && store != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(cfg == NULL || cfg->max_records <= 65536u, ARCA_ERR_ARGS);
    a = calloc(1, sizeof(*a));
    ARCA_ENSURE(a != NULL, ARCA_ERR_NOMEM);
    if (pthread_condattr_init(&ca) != 0) {
        free(a);
        return ARCA_ERR_INTERNAL;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&a->lock, NULL) != 0 || pthread_mutex_init(&a->flush_mu, NULL) != 0 ||
        pthread_cond_init(&a->cond, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        free(a);
        return ARCA_ERR_INTERNAL;
    }
    pthread_condattr_destroy(&ca);
    a->store = store;
    a->max_delay_ms = cfg != NULL && cfg->max_delay_ms != 0 ? cfg->max_delay_ms : ARCA_AUDIT_BATCH_DELAY_MS;
    a->max_records = cfg != NULL && cfg->max_records != 0 ? cfg->max_records : ARCA_AUDIT_BATCH_RECORDS;
    a->clock_ms = cfg != NULL && cfg->clock_ms != NULL ? cfg->clock_ms : mono_ms;
    a->batch_st = ARCA_OK;
    ARCA_GUARD_OUT(arca_sealing_derive_key(sealing, "audit-mac", &key));
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    ARCA_ENSURE_OUT(hmac != NULL && a->sha256 != NULL, ARCA_ERR_CRYPTO);
    a->mac_tmpl = EVP_MAC_CTX_new(hmac);
    ARCA_ENSURE_OUT(a->mac_tmpl != NULL, ARCA_ERR_NOMEM);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    ARCA_GUARD_OSSL_OUT(EVP_MAC_init(a->mac_tmpl, key.data, key.len, params));

    /* The head is the last record; its MAC must check. */
    ARCA_GUARD_OUT(store->scan(store->ctx, ARCA_DB_AUDIT, NULL, 0, NULL, 0, 1, true, true, &e, &num));
    if (num > 0) {
        ARCA_ENSURE_OUT(e[0].val != NULL && e[0].key_len == 8, ARCA_ERR_INTEGRITY);
        ARCA_GUARD_OUT(record_parse(a, e[0].val, e[0].val_len, &r));
        seq_key(r.seq, k8);
        ARCA_ENSURE_OUT(r.seq != 0 && memcmp(k8, e[0].key, 8) == 0, ARCA_ERR_INTEGRITY);
        a->head_seq = r.seq;
        ARCA_GUARD_OUT(hash_compute(a, e[0].val, e[0].val_len, a->head_hash));
    }
    a->stored_seq = a->head_seq;
    memcpy(a->stored_hash, a->head_hash, AUDIT_HASH_LEN);
    if (cfg == NULL || !cfg->no_flusher) {
        ARCA_ENSURE_OUT(pthread_create(&a->flusher, NULL, flusher_main, a) == 0, ARCA_ERR_NOMEM);
        a->flusher_running = true;
    }
    *out = a;
    a = NULL;
out:
    if (st == ARCA_ERR_INTEGRITY) ARCA_ERROR("audit: the last audit record does not authenticate");
    arca_store_entries_free(e, num);
    EVP_MAC_free(hmac);
    arca_secret_free(&key);
    arca_audit_free(a);
    return st;
}

bool arca_audit_is_use_op(uint16_t op)
{
    switch (op) {
    case ARCA_AUDIT_SIGN:
    case ARCA_AUDIT_VERIFY:
    case ARCA_AUDIT_ENCRYPT:
    case ARCA_AUDIT_DECRYPT:
    case ARCA_AUDIT_WRAP:
    case ARCA_AUDIT_UNWRAP:
    case ARCA_AUDIT_DERIVE:
    case ARCA_AUDIT_ACCESS_DENIED:
        return true;
    default:
        return false;
    }
}

static void ops_of_queue(const queued *q, size_t num, arca_store_op *ops)
{
    for (size_t i = 0; i < num; i++) {
        memset(&ops[i], 0, sizeof(ops[i]));
        ops[i].kind = ARCA_STORE_PUT;
        ops[i].db = ARCA_DB_AUDIT;
        ops[i].key = q[i].key;
        ops[i].key_len = sizeof(q[i].key);
        ops[i].val = q[i].rec;
        ops[i].val_len = q[i].len;
    }
}

/* The first n queued records are stored: forget them (lock held). */
static void queue_drop_front(arca_audit *a, size_t n)
{
    a->stored_seq = a->q[n - 1].seq;
    memcpy(a->stored_hash, a->q[n - 1].hash, AUDIT_HASH_LEN);
    queue_free(a->q, n);
    memmove(a->q, a->q + n, (a->num_q - n) * sizeof(*a->q));
    a->num_q -= n;
    a->batch_st = ARCA_OK;
    if (a->num_q > 0) a->first_ms = a->clock_ms();
}

/* Commit the first n queued records in one transaction, lock held
 * throughout (lifecycle path). */
static arca_status commit_front_locked(arca_audit *a, size_t n)
{
    arca_status st;
    arca_store_op *ops = calloc(n, sizeof(*ops));
    ARCA_ENSURE(ops != NULL, ARCA_ERR_NOMEM);
    ops_of_queue(a->q, n, ops);
    st = a->store->commit(a->store->ctx, ops, n);
    free(ops);
    if (st == ARCA_OK) queue_drop_front(a, n);
    else a->batch_st = st;
    return st;
}

/* One batch of at most ARCA_STORE_MAX_OPS records, committed without the
 * chain lock (flush_mu held by the caller). */
static arca_status flush_one_batch(arca_audit *a, bool *out_more)
{
    arca_status st = ARCA_OK;
    queued *batch = NULL;
    arca_store_op *ops = NULL;
    size_t n;

    *out_more = false;
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    n = a->num_q < ARCA_STORE_MAX_OPS ? a->num_q : ARCA_STORE_MAX_OPS;
    if (n == 0) {
        st = a->batch_st; /* not ARCA_OK only if records were lost from memory */
        pthread_mutex_unlock(&a->lock);
        return st;
    }
    batch = malloc(n * sizeof(*batch));
    ops = calloc(n, sizeof(*ops));
    if (batch == NULL || ops == NULL) {
        pthread_mutex_unlock(&a->lock);
        st = ARCA_ERR_NOMEM;
        goto out;
    }
    /* Take the batch out of the queue; records appended meanwhile chain
     * onto the head and queue behind it. */
    memcpy(batch, a->q, n * sizeof(*batch));
    memmove(a->q, a->q + n, (a->num_q - n) * sizeof(*a->q));
    a->num_q -= n;
    a->num_inflight = n;
    pthread_mutex_unlock(&a->lock);

    ops_of_queue(batch, n, ops);
    st = a->store->commit(a->store->ctx, ops, n);

    pthread_mutex_lock(&a->lock);
    a->num_inflight = 0;
    if (st == ARCA_OK) {
        a->stored_seq = batch[n - 1].seq;
        memcpy(a->stored_hash, batch[n - 1].hash, AUDIT_HASH_LEN);
        a->batch_st = ARCA_OK;
        queue_free(batch, n);
        *out_more = a->num_q > 0 && n == ARCA_STORE_MAX_OPS;
    } else {
        /* Back in front, in order: the next flush stores them. */
        if (a->num_q + n > a->cap_q) {
            queued *nq = realloc(a->q, (a->num_q + n) * sizeof(*nq));
            if (nq == NULL) {
                /* Cannot happen in practice; the records are lost from
                 * memory and the chain would have a gap: stop for good. */
                queue_free(batch, n);
                a->batch_st = ARCA_ERR_NOMEM;
                pthread_mutex_unlock(&a->lock);
                st = ARCA_ERR_NOMEM;
                goto out;
            }
            a->q = nq;
            a->cap_q = a->num_q + n;
        }
        memmove(a->q + n, a->q, a->num_q * sizeof(*a->q));
        memcpy(a->q, batch, n * sizeof(*batch));
        a->num_q += n;
        a->batch_st = st;
        a->first_ms = a->clock_ms(); /* the flusher retries after max_delay_ms */
        ARCA_ERROR("audit: storing %zu key-use records failed: %s; key use is refused until they are stored", n,
                   arca_status_name(st));
    }
    if (a->num_q > 0 && st == ARCA_OK) a->first_ms = a->clock_ms();
    pthread_mutex_unlock(&a->lock);
out:
    free(batch);
    free(ops);
    return st;
}

arca_status arca_audit_flush(arca_audit *a)
{
    arca_status st = ARCA_OK;
    bool more = true;

    ARCA_ENSURE(a != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(pthread_mutex_lock(&a->flush_mu) == 0, ARCA_ERR_INTERNAL);
    while (st == ARCA_OK && more) st = flush_one_batch(a, &more);
    pthread_mutex_unlock(&a->flush_mu);
    return st;
}

static bool flush_due(arca_audit *a, uint64_t *out_wait_ms)
{
    uint64_t now = a->clock_ms(), due = a->first_ms + a->max_delay_ms;
    *out_wait_ms = now >= due ? 0 : due - now;
    return a->num_q > 0 && now >= due;
}

arca_status arca_audit_poll(arca_audit *a)
{
    uint64_t wait_ms;
    bool due;

    ARCA_ENSURE(a != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    due = flush_due(a, &wait_ms);
    pthread_mutex_unlock(&a->lock);
    return due ? arca_audit_flush(a) : ARCA_OK;
}

static void *flusher_main(void *arg)
{
    arca_audit *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stop) {
        uint64_t wait_ms;
        if (a->num_q == 0) {
            pthread_cond_wait(&a->cond, &a->lock);
            continue;
        }
        if (!flush_due(a, &wait_ms)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)(wait_ms / 1000u);
            ts.tv_nsec += (long)(wait_ms % 1000u) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&a->cond, &a->lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&a->lock);
        (void)!arca_audit_flush(a); /* a failure is logged and stops key use */
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

size_t arca_audit_pending(arca_audit *a)
{
    size_t n;
    if (a == NULL || pthread_mutex_lock(&a->lock) != 0) return 0;
    n = a->num_q + a->num_inflight;
    pthread_mutex_unlock(&a->lock);
    return n;
}

arca_status arca_audit_batch_status(arca_audit *a)
{
    arca_status st;
    ARCA_ENSURE(a != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    st = a->batch_st;
    pthread_mutex_unlock(&a->lock);
    return st;
}

arca_status arca_audit_append_use(arca_audit *a, const arca_audit_event *ev)
{
    arca_status st = ARCA_OK;
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    queued *q;
    bool full, wake;

    ARCA_ENSURE(a != NULL && ev != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    /* An appliance that cannot store its audit does not use keys: after a
     * failed batch, or with a full one, store first. */
    for (int tries = 0; a->batch_st != ARCA_OK || a->num_q >= a->max_records; tries++) {
        pthread_mutex_unlock(&a->lock);
        if (tries == 8) return ARCA_ERR_BUSY;
        ARCA_GUARD(arca_audit_flush(a));
        ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    }
    ARCA_ENSURE_OUT(a->head_seq < UINT64_MAX, ARCA_ERR_TOO_LARGE);
    if (a->num_q == a->cap_q) {
        size_t cap = a->cap_q == 0 ? 64 : 2 * a->cap_q;
        queued *nq = realloc(a->q, cap * sizeof(*nq));
        ARCA_ENSURE_OUT(nq != NULL, ARCA_ERR_NOMEM);
        a->q = nq;
        a->cap_q = cap;
    }
    ARCA_GUARD_OUT(record_build(a, a->head_seq + 1, ev, &rec, &rec_len));
    q = &a->q[a->num_q];
    ARCA_GUARD_OUT(hash_compute(a, rec, rec_len, q->hash));
    q->seq = a->head_seq + 1;
    seq_key(q->seq, q->key);
    q->rec = rec;
    q->len = rec_len;
    rec = NULL;
    wake = a->num_q == 0;
    if (wake) a->first_ms = a->clock_ms();
    a->num_q++;
    a->head_seq = q->seq;
    memcpy(a->head_hash, q->hash, AUDIT_HASH_LEN);
    full = a->num_q >= a->max_records;
    if (wake && a->flusher_running) pthread_cond_signal(&a->cond);
out:
    pthread_mutex_unlock(&a->lock);
    free(rec);
    if (st == ARCA_OK && full) st = arca_audit_flush(a);
    return st;
}

arca_status arca_audit_commit(arca_audit *a, const arca_audit_event *ev, const arca_store_op *ops, size_t num_ops)
{
    arca_status st = ARCA_OK;
    uint8_t *rec = NULL;
    size_t rec_len = 0, n = 0, total;
    uint8_t key[8], hash[AUDIT_HASH_LEN];
    arca_store_op *all = NULL;

    ARCA_ENSURE(a != NULL && (num_ops == 0 || ops != NULL), ARCA_ERR_ARGS);
    ARCA_ENSURE(num_ops < ARCA_STORE_MAX_OPS, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(pthread_mutex_lock(&a->flush_mu) == 0, ARCA_ERR_INTERNAL);
    if (pthread_mutex_lock(&a->lock) != 0) {
        pthread_mutex_unlock(&a->flush_mu);
        return ARCA_ERR_INTERNAL;
    }
    /* Pending use records go first, in this transaction when they fit
     * beside it (else in their own commits just before it). */
    while (a->num_q > 0 && a->num_q + num_ops + 1 > ARCA_STORE_MAX_OPS) {
        size_t k = a->num_q + num_ops + 1 - ARCA_STORE_MAX_OPS;
        ARCA_GUARD_OUT(commit_front_locked(a, k < ARCA_STORE_MAX_OPS ? k : ARCA_STORE_MAX_OPS));
    }
    if (ev != NULL) {
        ARCA_ENSURE_OUT(a->head_seq < UINT64_MAX, ARCA_ERR_TOO_LARGE);
        ARCA_GUARD_OUT(record_build(a, a->head_seq + 1, ev, &rec, &rec_len));
        ARCA_GUARD_OUT(hash_compute(a, rec, rec_len, hash));
        seq_key(a->head_seq + 1, key);
    }
    n = a->num_q;
    total = n + num_ops + (ev != NULL ? 1 : 0);
    if (total == 0) goto out;
    all = calloc(total, sizeof(*all));
    ARCA_ENSURE_OUT(all != NULL, ARCA_ERR_NOMEM);
    ops_of_queue(a->q, n, all);
    if (num_ops > 0) memcpy(all + n, ops, num_ops * sizeof(*ops));
    if (ev != NULL) {
        arca_store_op *op = &all[n + num_ops];
        op->kind = ARCA_STORE_PUT;
        op->db = ARCA_DB_AUDIT;
        op->key = key;
        op->key_len = sizeof(key);
        op->val = rec;
        op->val_len = rec_len;
    }
    st = a->store->commit(a->store->ctx, all, total);
    if (st != ARCA_OK) {
        if (n > 0) {
            a->batch_st = st;
            ARCA_ERROR("audit: storing %zu key-use records failed: %s; key use is refused until they are stored",
                       n, arca_status_name(st));
        }
        goto out;
    }
    if (n > 0) queue_drop_front(a, n);
    if (ev != NULL) {
        a->head_seq++;
        memcpy(a->head_hash, hash, AUDIT_HASH_LEN);
        a->stored_seq = a->head_seq;
        memcpy(a->stored_hash, hash, AUDIT_HASH_LEN);
    }
out:
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&a->flush_mu);
    free(all);
    free(rec);
    return st;
}

arca_status arca_audit_begin(arca_audit *a, const arca_audit_event *ev, arca_store_op *out_op)
{
    arca_status st = ARCA_OK;
    uint8_t *rec = NULL;
    size_t rec_len = 0;

    ARCA_ENSURE(a != NULL && ev != NULL && out_op != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(pthread_mutex_lock(&a->flush_mu) == 0, ARCA_ERR_INTERNAL);
    if (pthread_mutex_lock(&a->lock) != 0) {
        pthread_mutex_unlock(&a->flush_mu);
        return ARCA_ERR_INTERNAL;
    }
    ARCA_ENSURE_OUT(!a->pending, ARCA_ERR_INTERNAL);
    /* The caller's commit holds one op of ours: pending use records are
     * stored before it, so that the chain in the store has no gap. */
    while (a->num_q > 0)
        ARCA_GUARD_OUT(commit_front_locked(a, a->num_q < ARCA_STORE_MAX_OPS ? a->num_q : ARCA_STORE_MAX_OPS));
    ARCA_ENSURE_OUT(a->head_seq < UINT64_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD_OUT(record_build(a, a->head_seq + 1, ev, &rec, &rec_len));
    ARCA_GUARD_OUT(hash_compute(a, rec, rec_len, a->pending_hash));
    seq_key(a->head_seq + 1, a->pending_key);
    a->pending_rec = rec;
    a->pending_len = rec_len;
    a->pending = true;
    rec = NULL;
    memset(out_op, 0, sizeof(*out_op));
    out_op->kind = ARCA_STORE_PUT;
    out_op->db = ARCA_DB_AUDIT;
    out_op->key = a->pending_key;
    out_op->key_len = sizeof(a->pending_key);
    out_op->val = a->pending_rec;
    out_op->val_len = a->pending_len;
out:
    free(rec);
    /* On failure the locks are not held past begin(). */
    if (st != ARCA_OK) {
        pthread_mutex_unlock(&a->lock);
        pthread_mutex_unlock(&a->flush_mu);
    }
    return st;
}

void arca_audit_end(arca_audit *a, arca_status commit_status)
{
    if (a == NULL) return;
    if (!a->pending) {
        ARCA_ERROR("audit: end() without begin()");
        return;
    }
    if (commit_status == ARCA_OK) {
        a->head_seq++;
        memcpy(a->head_hash, a->pending_hash, AUDIT_HASH_LEN);
        a->stored_seq = a->head_seq;
        memcpy(a->stored_hash, a->pending_hash, AUDIT_HASH_LEN);
    }
    free(a->pending_rec);
    a->pending_rec = NULL;
    a->pending_len = 0;
    a->pending = false;
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&a->flush_mu);
}

arca_status arca_audit_append(arca_audit *a, const arca_audit_event *ev)
{
    ARCA_ENSURE(a != NULL && ev != NULL, ARCA_ERR_ARGS);
    return arca_audit_commit(a, ev, NULL, 0);
}

uint64_t arca_audit_count(arca_audit *a)
{
    uint64_t n;

    if (a == NULL || pthread_mutex_lock(&a->lock) != 0) return 0;
    n = a->head_seq;
    pthread_mutex_unlock(&a->lock);
    return n;
}

typedef struct why_buf {
    char *p;
    size_t len;
} why_buf;

static arca_status chain_broken(why_buf *w, uint64_t seq, const char *why)
{
    ARCA_ERROR("audit: chain broken at seq %llu: %s", (unsigned long long)seq, why);
    if (w->len > 0) snprintf(w->p, w->len, "audit record %llu: %s", (unsigned long long)seq, why);
    return ARCA_ERR_INTEGRITY;
}

arca_status arca_audit_verify(arca_audit *a, uint64_t *out_records)
{
    return arca_audit_verify_why(a, out_records, NULL, 0);
}

arca_status arca_audit_verify_why(arca_audit *a, uint64_t *out_records, char *why, size_t why_len)
{
    why_buf w = {why, why != NULL ? why_len : 0};
    arca_status st = ARCA_OK;
    uint64_t head_seq, expect = 1;
    uint8_t head_hash[AUDIT_HASH_LEN];
    uint8_t prev[AUDIT_HASH_LEN] = {0};
    uint8_t after[8];
    size_t after_len = 0;
    arca_store_entry *e = NULL;
    size_t num = 0;
    bool done = false;

    ARCA_ENSURE(a != NULL, ARCA_ERR_ARGS);
    if (w.len > 0) w.p[0] = '\0';
    /* Store what is pending, then snapshot the stored head; records
     * appended meanwhile are not checked. */
    ARCA_GUARD(arca_audit_flush(a));
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    head_seq = a->stored_seq;
    memcpy(head_hash, a->stored_hash, AUDIT_HASH_LEN);
    pthread_mutex_unlock(&a->lock);

    while (!done && expect <= head_seq) {
        ARCA_GUARD_OUT(a->store->scan(a->store->ctx, ARCA_DB_AUDIT, NULL, 0, after, after_len, AUDIT_PAGE, true,
                                      false, &e, &num));
        if (num == 0) break;
        ARCA_ENSURE_OUT(num <= AUDIT_PAGE, ARCA_ERR_INTEGRITY);
        for (size_t i = 0; i < num && expect <= head_seq; i++) {
            audit_record r;
            uint8_t k8[8];
            seq_key(expect, k8);
            if (e[i].key_len != 8 || memcmp(e[i].key, k8, 8) != 0) {
                st = chain_broken(&w, expect, "record missing or out of order");
                goto out;
            }
            if (e[i].val == NULL || record_parse(a, e[i].val, e[i].val_len, &r) != ARCA_OK) {
                st = chain_broken(&w, expect, "record does not authenticate");
                goto out;
            }
            if (r.seq != expect) {
                st = chain_broken(&w, expect, "sequence number does not match its position");
                goto out;
            }
            if (CRYPTO_memcmp(r.prev_hash, prev, AUDIT_HASH_LEN) != 0) {
                st = chain_broken(&w, expect, "link to the previous record broken");
                goto out;
            }
            ARCA_GUARD_OUT(hash_compute(a, e[i].val, e[i].val_len, prev));
            expect++;
        }
        /* Every entry of a fully walked page had an 8-byte key. */
        if (num < AUDIT_PAGE || expect > head_seq) done = true;
        else memcpy(after, e[num - 1].key, 8);
        after_len = 8;
        arca_store_entries_free(e, num);
        e = NULL;
        num = 0;
    }
    /* The stored chain must reach the head this enclave knows: a truncated
     * tail is as much an edit as a changed record. */
    if (expect != head_seq + 1 || (head_seq > 0 && CRYPTO_memcmp(prev, head_hash, AUDIT_HASH_LEN) != 0)) {
        st = chain_broken(&w, expect, "chain ends before the known head");
        goto out;
    }
    if (out_records != NULL) *out_records = head_seq;
out:
    arca_store_entries_free(e, num);
    return st;
}

const char *arca_audit_op_name(uint16_t op)
{
    static const char *const names[] = {
        [ARCA_AUDIT_INITIALISE] = "INITIALISE",
        [ARCA_AUDIT_PARTITION_CREATE] = "PARTITION_CREATE",
        [ARCA_AUDIT_LOGIN] = "LOGIN",
        [ARCA_AUDIT_LOGIN_FAILED] = "LOGIN_FAILED",
        [ARCA_AUDIT_PIN_CHANGE] = "PIN_CHANGE",
        [ARCA_AUDIT_GENERATE] = "GENERATE",
        [ARCA_AUDIT_GENERATE_PAIR] = "GENERATE_PAIR",
        [ARCA_AUDIT_IMPORT] = "IMPORT",
        [ARCA_AUDIT_SET_ATTRIBUTES] = "SET_ATTRIBUTES",
        [ARCA_AUDIT_DESTROY] = "DESTROY",
        [ARCA_AUDIT_ROTATE] = "ROTATE",
        [ARCA_AUDIT_SIGN] = "SIGN",
        [ARCA_AUDIT_VERIFY] = "VERIFY",
        [ARCA_AUDIT_ENCRYPT] = "ENCRYPT",
        [ARCA_AUDIT_DECRYPT] = "DECRYPT",
        [ARCA_AUDIT_WRAP] = "WRAP",
        [ARCA_AUDIT_UNWRAP] = "UNWRAP",
        [ARCA_AUDIT_DERIVE] = "DERIVE",
        [ARCA_AUDIT_GET_VALUE] = "GET_VALUE",
        [ARCA_AUDIT_ACTIVATE] = "ACTIVATE",
        [ARCA_AUDIT_REVOKE] = "REVOKE",
        [ARCA_AUDIT_CONNECTION_REFUSED] = "CONNECTION_REFUSED",
        [ARCA_AUDIT_IDENTITY_PUT] = "IDENTITY_PUT",
        [ARCA_AUDIT_IDENTITY_REMOVE] = "IDENTITY_REMOVE",
        [ARCA_AUDIT_ACCESS_DENIED] = "ACCESS_DENIED",
        [ARCA_AUDIT_TLS_CERT_INSTALL] = "TLS_CERT_INSTALL",
        [ARCA_AUDIT_INIT_TOKEN] = "INIT_TOKEN",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == ARCA_AUDIT_OP_MAX + 1, "audit op name table incomplete");
    if (op == 0 || op > ARCA_AUDIT_OP_MAX || names[op] == NULL) return "UNKNOWN";
    return names[op];
}

/* Fields of one authenticated record (borrowed from the stored bytes). */
typedef struct record_fields {
    uint64_t seq, time_ms;
    uint16_t op;
    uint32_t status;
    const uint8_t *object_id;
    arca_cursor partition, actor, detail;
} record_fields;

static arca_status record_fields_get(const uint8_t *rec, size_t len, record_fields *f)
{
    arca_cursor c;
    uint16_t format;
    arca_cursor_init(&c, rec, len);
    ARCA_GUARD(arca_cursor_get_u16(&c, &format));
    ARCA_GUARD(arca_cursor_get_u64(&c, &f->seq));
    ARCA_GUARD(arca_cursor_get_u64(&c, &f->time_ms));
    ARCA_GUARD(arca_cursor_get_u16(&c, &f->op));
    ARCA_GUARD(arca_cursor_get_u32(&c, &f->status));
    ARCA_GUARD(arca_cursor_get_bytes(&c, ARCA_OBJECT_ID_LEN, &f->object_id));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &f->partition));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &f->actor));
    return arca_cursor_get_u16_prefixed(&c, &f->detail);
}

/* One RECORDS item for an authenticated record into out. */
static arca_status record_item(const record_fields *f, arca_builder *out)
{
    static const uint8_t zero_id[ARCA_OBJECT_ID_LEN];
    char object[2 * ARCA_OBJECT_ID_LEN + 1] = "";
    char detail[2 * AUDIT_TEXT_MAX + 32];
    const char *event = arca_audit_op_name(f->op);
    arca_lp_record item;

    if (memcmp(f->object_id, zero_id, ARCA_OBJECT_ID_LEN) != 0) arca_hex(f->object_id, ARCA_OBJECT_ID_LEN, object);
    if (f->partition.len > 0) {
        snprintf(detail, sizeof(detail), "partition %.*s%s%.*s", (int)f->partition.len,
                 (const char *)f->partition.data, f->detail.len > 0 ? "; " : "", (int)f->detail.len,
                 (const char *)f->detail.data);
    } else {
        snprintf(detail, sizeof(detail), "%.*s", (int)f->detail.len, (const char *)f->detail.data);
    }
    memset(&item, 0, sizeof(item));
    item.seq = f->seq;
    item.time_ms = f->time_ms;
    item.actor.data = f->actor.data;
    item.actor.len = f->actor.len;
    item.event.data = (const uint8_t *)event;
    item.event.len = strlen(event);
    item.status = f->status;
    item.object.data = (const uint8_t *)object;
    item.object.len = strlen(object);
    item.detail.data = (const uint8_t *)detail;
    item.detail.len = strlen(detail);
    return arca_lp_record_add(out, &item);
}

arca_status arca_audit_read(arca_audit *a, uint64_t from_seq, uint32_t max, size_t max_bytes, arca_builder *out)
{
    arca_status st = ARCA_OK;
    uint64_t head_seq, next;
    uint8_t after[8];
    size_t after_len = 0;
    arca_store_entry *e = NULL;
    size_t num = 0, count_at, body_start;
    uint32_t count = 0;
    arca_builder item;
    bool item_init = false, done = false;

    ARCA_ENSURE(a != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_audit_flush(a));
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    head_seq = a->stored_seq;
    pthread_mutex_unlock(&a->lock);

    body_start = out->len;
    count_at = out->len;
    ARCA_GUARD(arca_builder_add_u32(out, 0));
    ARCA_GUARD_OUT(arca_builder_init(&item, 256, 4 * AUDIT_TEXT_MAX + 256));
    item_init = true;
    next = from_seq == 0 ? 1 : from_seq;
    if (next > 1) {
        seq_key(next - 1, after);
        after_len = 8;
    }
    while (!done && count < max && next <= head_seq) {
        ARCA_GUARD_OUT(a->store->scan(a->store->ctx, ARCA_DB_AUDIT, NULL, 0, after_len ? after : NULL, after_len,
                                      AUDIT_PAGE, true, false, &e, &num));
        if (num == 0) break;
        for (size_t i = 0; i < num && count < max && next <= head_seq; i++) {
            audit_record r;
            record_fields f;
            uint8_t k8[8];
            seq_key(next, k8);
            if (e[i].key_len != 8 || memcmp(e[i].key, k8, 8) != 0 || e[i].val == NULL ||
                record_parse(a, e[i].val, e[i].val_len, &r) != ARCA_OK || r.seq != next ||
                record_fields_get(e[i].val, e[i].val_len, &f) != ARCA_OK) {
                ARCA_ERROR("audit: record %llu missing or does not authenticate", (unsigned long long)next);
                st = ARCA_ERR_INTEGRITY;
                goto out;
            }
            item.len = 0;
            ARCA_GUARD_OUT(record_item(&f, &item));
            ARCA_GUARD_OUT(item.error);
            if (out->len - body_start + item.len > max_bytes) {
                done = true;
                break;
            }
            ARCA_GUARD_OUT(arca_builder_add_bytes(out, item.data, item.len));
            count++;
            next++;
        }
        if (num < AUDIT_PAGE) done = true;
        else memcpy(after, e[num - 1].key, 8);
        after_len = 8;
        arca_store_entries_free(e, num);
        e = NULL;
        num = 0;
    }
    st = arca_builder_patch_u32(out, count_at, count);
out:
    arca_store_entries_free(e, num);
    if (item_init) arca_builder_cleanup(&item);
    return st;
}
