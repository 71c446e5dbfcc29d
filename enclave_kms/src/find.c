/* Finding objects through blind indexes. The most selective index the
 * template allows is scanned (label+version > label+primary > label > id >
 * class > all objects of the partition), in pages; every candidate is
 * loaded and checked against the whole template, because the host may
 * add, drop or keep stale index entries. Objects the session's identity
 * may not use (ARCA_CKA_ALLOWED_IDENTITIES) are skipped without audit. A
 * session in public access (arca_kms_select_partition) sees only objects
 * with CKA_PRIVATE false: the others load as NOT_FOUND and are skipped. */
#include <stdlib.h>
#include <string.h>

#include "arca/log.h"
#include "kms_internal.h"

#define WALK_PAGE 256u

arca_status kms_index_walk(arca_kms *kms, arca_kms_session *sess, uint32_t type, const uint8_t *v1, size_t v1_len,
                           const uint8_t *v2, size_t v2_len, kms_index_cb cb, void *ctx)
{
    uint8_t prefix[KMS_INDEX_HMAC_LEN];
    uint8_t after[KMS_INDEX_KEY_LEN];
    size_t after_len = 0;
    bool go_on = true;

    ARCA_GUARD(kms_index_hmac(&kms->k_index, sess->partition_id, type, v1, v1_len, v2, v2_len, prefix));
    while (go_on) {
        arca_store_entry *e = NULL;
        size_t n = 0;
        arca_status st = ARCA_OK;
        ARCA_GUARD(kms->store->scan(kms->store->ctx, ARCA_DB_INDEX, prefix, sizeof(prefix), after, after_len, WALK_PAGE,
                                    false, false, &e, &n));
        if (n > WALK_PAGE) n = WALK_PAGE; /* a host that sends more is ignored beyond the page */
        for (size_t i = 0; i < n && go_on; i++) {
            arca_object_id id;
            kms_object *o = NULL;
            if (e[i].key_len != KMS_INDEX_KEY_LEN || memcmp(e[i].key, prefix, sizeof(prefix)) != 0 ||
                (after_len > 0 && memcmp(e[i].key, after, KMS_INDEX_KEY_LEN) <= 0)) {
                ARCA_WARN("keystore: ignoring a malformed or out-of-order index entry from the store");
                go_on = false; /* a lying scan could loop us forever */
                break;
            }
            memcpy(after, e[i].key, KMS_INDEX_KEY_LEN);
            after_len = KMS_INDEX_KEY_LEN;
            memcpy(id.b, e[i].key + KMS_INDEX_HMAC_LEN, ARCA_OBJECT_ID_LEN);
            st = kms_object_load_read(kms, sess, &id, &o);
            if (st == ARCA_ERR_NOT_FOUND || st == ARCA_ERR_INTEGRITY) {
                st = ARCA_OK; /* stale or bogus entry, or a damaged blob (logged) */
                continue;
            }
            if (st != ARCA_OK) break;
            /* Session objects are reported by the caller, not through the index. */
            if (o->token && kms_object_allowed(sess, o)) go_on = cb(o, ctx);
            kms_object_release(&kms->cache, o);
        }
        arca_store_entries_free(e, n);
        ARCA_GUARD(st);
        if (n < WALK_PAGE) break;
    }
    return ARCA_OK;
}

typedef struct find_ctx {
    const arca_attr *tmpl;
    size_t num;
    arca_object_id *out;
    size_t max, count;
} find_ctx;

static bool already(const find_ctx *f, const arca_object_id *id)
{
    for (size_t i = 0; i < f->count; i++) {
        if (memcmp(f->out[i].b, id->b, ARCA_OBJECT_ID_LEN) == 0) return true;
    }
    return false;
}

static bool find_cb(kms_object *o, void *ctx)
{
    find_ctx *f = ctx;
    if (f->count >= f->max) return false;
    if (kms_object_matches(o, f->tmpl, f->num) && !already(f, &o->id)) f->out[f->count++] = o->id;
    return f->count < f->max;
}

arca_status arca_kms_find(arca_kms *kms, arca_kms_session *sess, const arca_attr *tmpl, size_t num_attrs,
                          arca_object_id *out_ids, size_t max_ids, size_t *out_num)
{
    find_ctx f;
    const arca_attr *label, *id, *cls;
    uint32_t version;
    bool primary = false;

    ARCA_ENSURE(kms != NULL && sess != NULL && out_num != NULL && (max_ids == 0 || out_ids != NULL), ARCA_ERR_ARGS);
    ARCA_ENSURE(num_attrs == 0 || tmpl != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(kms_session_may_read(sess), ARCA_ERR_NOT_LOGGED_IN);
    *out_num = 0;
    for (size_t i = 0; i < num_attrs; i++) {
        ARCA_ENSURE(tmpl[i].len == 0 || tmpl[i].value != NULL, ARCA_ERR_ARGS);
        ARCA_ENSURE(tmpl[i].len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_ATTRIBUTE_VALUE);
    }
    f.tmpl = tmpl;
    f.num = num_attrs;
    f.out = out_ids;
    f.max = max_ids;
    f.count = 0;
    for (kms_object *o = sess->objects; o != NULL && f.count < f.max; o = o->snext) {
        if (kms_object_visible(sess, o) && kms_object_allowed(sess, o) && kms_object_matches(o, tmpl, num_attrs)) f.out[f.count++] = o->id;
    }
    if (f.count < f.max) {
        label = kms_tmpl_find(tmpl, num_attrs, CKA_LABEL);
        id = kms_tmpl_find(tmpl, num_attrs, CKA_ID);
        cls = kms_tmpl_find(tmpl, num_attrs, CKA_CLASS);
        if (label != NULL && kms_tmpl_u32(tmpl, num_attrs, ARCA_CKA_KEY_VERSION, &version)) {
            const arca_attr *v = kms_tmpl_find(tmpl, num_attrs, ARCA_CKA_KEY_VERSION);
            ARCA_GUARD(kms_index_walk(kms, sess, KMS_IDX_LABEL_VERSION, label->value, label->len, v->value, 4, find_cb,
                                      &f));
        } else if (label != NULL && kms_tmpl_bool(tmpl, num_attrs, ARCA_CKA_PRIMARY, &primary) && primary) {
            ARCA_GUARD(kms_index_walk(kms, sess, KMS_IDX_LABEL_PRIMARY, label->value, label->len, NULL, 0, find_cb, &f));
        } else if (label != NULL) {
            ARCA_GUARD(kms_index_walk(kms, sess, CKA_LABEL, label->value, label->len, NULL, 0, find_cb, &f));
        } else if (id != NULL) {
            ARCA_GUARD(kms_index_walk(kms, sess, CKA_ID, id->value, id->len, NULL, 0, find_cb, &f));
        } else if (cls != NULL) {
            ARCA_GUARD(kms_index_walk(kms, sess, CKA_CLASS, cls->value, cls->len, NULL, 0, find_cb, &f));
        } else {
            ARCA_GUARD(kms_index_walk(kms, sess, KMS_IDX_ALL, NULL, 0, NULL, 0, find_cb, &f));
        }
    }
    *out_num = f.count;
    return ARCA_OK;
}
