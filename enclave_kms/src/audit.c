/* The audit chain (format in audit.h). Records are built and MACed here,
 * and written only through the store ops; everything read back from the
 * store is hostile until its MAC and chain links check. */
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

struct arca_audit {
    pthread_mutex_t lock; /* held from begin() to end() */
    const arca_store_ops *store;
    EVP_MAC_CTX *mac_tmpl; /* HMAC-SHA256 keyed with the audit key; duplicated per use */
    EVP_MD *sha256;
    uint64_t head_seq; /* 0 = empty chain */
    uint8_t head_hash[AUDIT_HASH_LEN];
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

void arca_audit_free(arca_audit *a)
{
    if (a == NULL) return;
    if (a->pending) ARCA_ERROR("audit: freed with a record pending (begin without end)");
    free(a->pending_rec);
    EVP_MAC_CTX_free(a->mac_tmpl);
    EVP_MD_free(a->sha256);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

arca_status arca_audit_open(arca_sealing *sealing, const arca_store_ops *store, arca_audit **out)
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

    ARCA_ENSURE(sealing != NULL && store != NULL && out != NULL, ARCA_ERR_ARGS);
    a = calloc(1, sizeof(*a));
    ARCA_ENSURE(a != NULL, ARCA_ERR_NOMEM);
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a);
        return ARCA_ERR_INTERNAL;
    }
    a->store = store;
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

arca_status arca_audit_begin(arca_audit *a, const arca_audit_event *ev, arca_store_op *out_op)
{
    arca_status st = ARCA_OK;
    uint8_t *rec = NULL;
    size_t rec_len = 0;

    ARCA_ENSURE(a != NULL && ev != NULL && out_op != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    ARCA_ENSURE_OUT(!a->pending, ARCA_ERR_INTERNAL);
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
    /* On failure the lock is not held past begin(). */
    if (st != ARCA_OK) pthread_mutex_unlock(&a->lock);
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
    }
    free(a->pending_rec);
    a->pending_rec = NULL;
    a->pending_len = 0;
    a->pending = false;
    pthread_mutex_unlock(&a->lock);
}

arca_status arca_audit_append(arca_audit *a, const arca_audit_event *ev)
{
    arca_store_op op;
    arca_status st;

    ARCA_GUARD(arca_audit_begin(a, ev, &op));
    st = a->store->commit(a->store->ctx, &op, 1);
    arca_audit_end(a, st);
    return st;
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
    /* Snapshot the head; records appended meanwhile are not checked. */
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    head_seq = a->head_seq;
    memcpy(head_hash, a->head_hash, AUDIT_HASH_LEN);
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
    ARCA_ENSURE(pthread_mutex_lock(&a->lock) == 0, ARCA_ERR_INTERNAL);
    head_seq = a->head_seq;
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
