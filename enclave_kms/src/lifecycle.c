/* Reading and changing objects: get/set attributes, lifecycle state
 * (activate, revoke), destroy, rotate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "arca/log.h"
#include "kms_internal.h"

#define ROTATE_MAX_VERSIONS 256u

arca_status arca_kms_get_attribute(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, uint32_t type,
                                   arca_builder *out)
{
    arca_status st;
    kms_object *o = NULL;
    ARCA_ENSURE(kms != NULL && sess != NULL && id != NULL && out != NULL, ARCA_ERR_ARGS);
    /* A session in public access reads public objects only. */
    ARCA_GUARD(kms_object_get_read(kms, sess, id, &o));
    if (type == CKA_VALUE && kms_object_class(o) == CKO_SECRET_KEY) {
        /* The only attribute that exports key material: audited; never
         * without a user login, even from a public secret key. */
        bool allowed = sess->role == ARCA_ROLE_USER && !kms_attrs_bool(&o->attrs, CKA_SENSITIVE, true) &&
                       kms_attrs_bool(&o->attrs, CKA_EXTRACTABLE, false);
        arca_builder tmp = {0};
        st = allowed ? ARCA_OK : ARCA_ERR_ATTRIBUTE_SENSITIVE;
        if (st == ARCA_OK) st = arca_builder_init_secret(&tmp, 64, ARCA_ATTR_VALUE_MAX);
        if (st == ARCA_OK) st = arca_key_secret_value(o->key, &tmp);
        arca_status ast = kms_audit_use(kms, sess, ARCA_AUDIT_GET_VALUE, st, id, "CKA_VALUE");
        if (st == ARCA_OK) st = ast;
        if (st == ARCA_OK) st = arca_builder_add_bytes(out, tmp.data, tmp.len);
        arca_builder_cleanup(&tmp);
        goto out;
    }
    st = kms_object_attr_value(o, type, out);
out:
    kms_object_release(&kms->cache, o);
    return st;
}

static bool is_usage(uint32_t type)
{
    switch (type) {
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_DERIVE:
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER:
        return true;
    default:
        return false;
    }
}

/* Apply tmpl to attrs under the change rules: label, id and dates freely;
 * usage flags and CKA_MODIFIABLE only cleared; CKA_SENSITIVE only set;
 * CKA_EXTRACTABLE only cleared; everything else read-only. Setting a value
 * to what it already is is always allowed. */
static arca_status apply_changes(kms_attrs *attrs, const arca_attr *tmpl, size_t num)
{
    for (size_t i = 0; i < num; i++) {
        uint32_t type = tmpl[i].type;
        const kms_attr *cur = kms_attrs_find(attrs, type);
        bool nv = false;
        if (cur != NULL && cur->len == tmpl[i].len && (cur->len == 0 || memcmp(cur->value, tmpl[i].value, cur->len) == 0)) {
            continue;
        }
        switch (type) {
        case CKA_LABEL:
        case CKA_ID:
        case CKA_START_DATE:
        case CKA_END_DATE:
        case ARCA_CKA_ALLOWED_IDENTITIES: /* by a session allowed on the key (kms_object_get) */
            break;
        default:
            if (is_usage(type) || type == CKA_MODIFIABLE || type == CKA_EXTRACTABLE) {
                ARCA_ENSURE(cur != NULL, ARCA_ERR_TEMPLATE_INCONSISTENT); /* not applicable to the class */
                nv = tmpl[i].value[0] != 0;
                ARCA_ENSURE(!nv, ARCA_ERR_ATTRIBUTE_READ_ONLY);
            } else if (type == CKA_SENSITIVE) {
                ARCA_ENSURE(cur != NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
                nv = tmpl[i].value[0] != 0;
                ARCA_ENSURE(nv, ARCA_ERR_ATTRIBUTE_READ_ONLY);
            } else {
                return ARCA_ERR_ATTRIBUTE_READ_ONLY;
            }
            break;
        }
        ARCA_GUARD(kms_attrs_set(attrs, type, tmpl[i].value, tmpl[i].len));
    }
    return ARCA_OK;
}

/* Audit detail of a change: permission changes are named. */
static const char *acl_detail(const arca_attr *tmpl, size_t num)
{
    return kms_tmpl_find(tmpl, num, ARCA_CKA_ALLOWED_IDENTITIES) != NULL ? "allowed identities changed" : NULL;
}

arca_status arca_kms_set_attributes(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                    const arca_attr *tmpl, size_t num_attrs)
{
    arca_status st;
    kms_object *o = NULL;
    kms_attrs attrs = {0};
    kms_txn t;
    arca_audit_event ev;

    ARCA_ENSURE(kms != NULL && sess != NULL && id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_GUARD(kms_tmpl_check(tmpl, num_attrs));
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->write_mu);
    ARCA_GUARD_OUT(kms_object_get(kms, sess, id, &o));
    ARCA_ENSURE_OUT(kms_attrs_bool(&o->attrs, CKA_MODIFIABLE, true), ARCA_ERR_ATTRIBUTE_READ_ONLY);
    ARCA_GUARD_OUT(kms_attrs_clone(&o->attrs, &attrs));
    ARCA_GUARD_OUT(apply_changes(&attrs, tmpl, num_attrs));
    if (!o->token) {
        /* Session objects are used by this session's thread only. */
        kms_attrs_free(&o->attrs);
        o->attrs = attrs;
        memset(&attrs, 0, sizeof(attrs));
        st = kms_audit_use(kms, sess, ARCA_AUDIT_SET_ATTRIBUTES, ARCA_OK, id, acl_detail(tmpl, num_attrs));
        goto out;
    }
    ARCA_GUARD_OUT(kms_txn_put_object(kms, &t, &o->id, o->partition_id, o->version + 1, &attrs, o->key, &o->attrs));
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_SET_ATTRIBUTES, ARCA_OK, id, acl_detail(tmpl, num_attrs));
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    /* The next use unseals the new version. */
    kms_cache_remove(&kms->cache, id);
out:
    pthread_mutex_unlock(&kms->write_mu);
    kms_object_release(&kms->cache, o);
    kms_attrs_free(&attrs);
    kms_txn_cleanup(&t);
    return st;
}

/* ---- Lifecycle state ------------------------------------------------------ */

static const char *state_name(uint32_t s)
{
    switch (s) {
    case ARCA_STATE_PRE_ACTIVE:
        return "Pre-Active";
    case ARCA_STATE_ACTIVE:
        return "Active";
    case ARCA_STATE_DEACTIVATED:
        return "Deactivated";
    case ARCA_STATE_COMPROMISED:
        return "Compromised";
    default:
        return "unknown";
    }
}

/* Today (UTC) as a CK_DATE, "YYYYMMDD". */
static arca_status today(uint8_t out[8])
{
    char buf[9];
    struct tm tm;
    time_t now = time(NULL);
    ARCA_ENSURE(gmtime_r(&now, &tm) != NULL, ARCA_ERR_INTERNAL);
    ARCA_ENSURE(strftime(buf, sizeof(buf), "%Y%m%d", &tm) == 8, ARCA_ERR_INTERNAL);
    memcpy(out, buf, 8);
    return ARCA_OK;
}

typedef enum state_change { CHANGE_ACTIVATE = 1, CHANGE_DEACTIVATE, CHANGE_COMPROMISE } state_change;

/* The state after `change` from `from`, or ARCA_ERR_OBJECT_STATE when KMIP
 * has no such transition. */
static arca_status next_state(state_change change, uint32_t from, uint32_t *out)
{
    switch (change) {
    case CHANGE_ACTIVATE:
        ARCA_ENSURE(from == ARCA_STATE_PRE_ACTIVE, ARCA_ERR_OBJECT_STATE);
        *out = ARCA_STATE_ACTIVE;
        return ARCA_OK;
    case CHANGE_DEACTIVATE:
        ARCA_ENSURE(from == ARCA_STATE_ACTIVE, ARCA_ERR_OBJECT_STATE);
        *out = ARCA_STATE_DEACTIVATED;
        return ARCA_OK;
    case CHANGE_COMPROMISE:
        ARCA_ENSURE(from == ARCA_STATE_PRE_ACTIVE || from == ARCA_STATE_ACTIVE || from == ARCA_STATE_DEACTIVATED,
                    ARCA_ERR_OBJECT_STATE);
        *out = ARCA_STATE_COMPROMISED;
        return ARCA_OK;
    default:
        return ARCA_ERR_INTERNAL;
    }
}

/* One state change: checked under write_mu, then the re-sealed object and
 * its audit record in one commit (session objects: in place, audited on
 * its own). A refused change is audited too. */
static arca_status change_state(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                state_change change, const char *why)
{
    arca_status st;
    kms_object *o = NULL;
    kms_attrs attrs = {0};
    kms_txn t;
    arca_audit_event ev;
    uint32_t from, to = 0;
    uint8_t date[8];
    char detail[160];
    uint16_t op = change == CHANGE_ACTIVATE ? ARCA_AUDIT_ACTIVATE : ARCA_AUDIT_REVOKE;
    uint32_t date_attr = change == CHANGE_ACTIVATE ? CKA_START_DATE : CKA_END_DATE;
    const char *target = change == CHANGE_ACTIVATE     ? "Active"
                         : change == CHANGE_DEACTIVATE ? "Deactivated"
                                                       : "Compromised";

    ARCA_ENSURE(kms != NULL && sess != NULL && id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->write_mu);
    ARCA_GUARD_OUT(kms_object_get(kms, sess, id, &o));
    from = kms_attrs_u32(&o->attrs, ARCA_CKA_STATE, ARCA_STATE_ACTIVE);
    st = next_state(change, from, &to);
    snprintf(detail, sizeof(detail), "%s -> %s%s%s", state_name(from), target, why != NULL ? "; " : "",
             why != NULL ? why : "");
    if (st != ARCA_OK) {
        (void)kms_audit_use(kms, sess, op, st, id, detail);
        goto out;
    }
    ARCA_GUARD_OUT(kms_attrs_clone(&o->attrs, &attrs));
    ARCA_GUARD_OUT(kms_attrs_set_u32(&attrs, ARCA_CKA_STATE, to));
    {
        const kms_attr *d = kms_attrs_find(&attrs, date_attr);
        if (d == NULL || d->len == 0) {
            ARCA_GUARD_OUT(today(date));
            ARCA_GUARD_OUT(kms_attrs_set(&attrs, date_attr, date, sizeof(date)));
        }
    }
    if (!o->token) {
        /* Session objects are used by this session's thread only. */
        kms_attrs_free(&o->attrs);
        o->attrs = attrs;
        memset(&attrs, 0, sizeof(attrs));
        st = kms_audit_use(kms, sess, op, ARCA_OK, id, detail);
        goto out;
    }
    ARCA_GUARD_OUT(kms_txn_put_object(kms, &t, &o->id, o->partition_id, o->version + 1, &attrs, o->key, &o->attrs));
    kms_audit_event_init(&ev, sess, op, ARCA_OK, id, detail);
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    /* The next use unseals the new version. */
    kms_cache_remove(&kms->cache, id);
out:
    pthread_mutex_unlock(&kms->write_mu);
    kms_object_release(&kms->cache, o);
    kms_attrs_free(&attrs);
    kms_txn_cleanup(&t);
    return st;
}

arca_status arca_kms_activate(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id)
{
    return change_state(kms, sess, id, CHANGE_ACTIVATE, NULL);
}

arca_status arca_kms_revoke(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, bool compromised,
                            const char *detail)
{
    return change_state(kms, sess, id, compromised ? CHANGE_COMPROMISE : CHANGE_DEACTIVATE, detail);
}

arca_status arca_kms_destroy(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id)
{
    arca_status st;
    kms_object *o = NULL;
    kms_txn t;
    arca_audit_event ev;

    ARCA_ENSURE(kms != NULL && sess != NULL && id != NULL, ARCA_ERR_ARGS);
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->write_mu);
    ARCA_GUARD_OUT(kms_object_get(kms, sess, id, &o));
    if (!o->token) {
        kms_object **pp = &sess->objects;
        while (*pp != NULL && *pp != o) pp = &(*pp)->snext;
        if (*pp == o) {
            *pp = o->snext;
            o->snext = NULL;
            sess->num_objects--;
            kms_object_release(&kms->cache, o); /* the session's reference */
        }
        st = kms_audit_use(kms, sess, ARCA_AUDIT_DESTROY, ARCA_OK, id, "session object");
        goto out;
    }
    ARCA_GUARD_OUT(kms_txn_delete_object(kms, &t, o));
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_DESTROY, ARCA_OK, id, NULL);
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    kms_cache_remove(&kms->cache, id);
out:
    pthread_mutex_unlock(&kms->write_mu);
    kms_object_release(&kms->cache, o);
    kms_txn_cleanup(&t);
    return st;
}

/* All versions of a named key (objects with this label). */
typedef struct versions_ctx {
    const kms_attr *label;
    kms_object *objs[ROTATE_MAX_VERSIONS];
    size_t num;
    bool overflow;
    kms_cache *cache;
} versions_ctx;

static bool versions_cb(kms_object *o, void *ctx)
{
    versions_ctx *v = ctx;
    const kms_attr *l = kms_attrs_find(&o->attrs, CKA_LABEL);
    if (l == NULL || l->len != v->label->len || memcmp(l->value, v->label->value, l->len) != 0) return true;
    if (v->num >= ROTATE_MAX_VERSIONS) {
        v->overflow = true;
        return false;
    }
    kms_object_ref(v->cache, o);
    v->objs[v->num++] = o;
    return true;
}

static arca_status rotated_attrs(const kms_attrs *old, uint32_t version, kms_attrs *out)
{
    arca_status st;
    kms_attrs a = {0};
    ARCA_GUARD(kms_attrs_clone(old, &a));
    ARCA_GUARD_OUT(kms_attrs_set_u32(&a, ARCA_CKA_KEY_VERSION, version));
    ARCA_GUARD_OUT(kms_attrs_set_bool(&a, ARCA_CKA_PRIMARY, true));
    ARCA_GUARD_OUT(kms_attrs_set_bool(&a, CKA_LOCAL, true));
    /* A new version is a new, usable key whatever became of the old one
     * (which may have been rotated away because it was revoked). */
    ARCA_GUARD_OUT(kms_attrs_set_u32(&a, ARCA_CKA_STATE, ARCA_STATE_ACTIVE));
    ARCA_GUARD_OUT(kms_attrs_set(&a, CKA_END_DATE, NULL, 0));
    if (kms_attrs_find(&a, CKA_SENSITIVE) != NULL) {
        ARCA_GUARD_OUT(kms_attrs_set_bool(&a, CKA_ALWAYS_SENSITIVE, kms_attrs_bool(&a, CKA_SENSITIVE, true)));
        ARCA_GUARD_OUT(kms_attrs_set_bool(&a, CKA_NEVER_EXTRACTABLE, !kms_attrs_bool(&a, CKA_EXTRACTABLE, false)));
    }
    *out = a;
    return ARCA_OK;
out:
    kms_attrs_free(&a);
    return st;
}

arca_status arca_kms_rotate(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                            arca_object_id *out_new_id)
{
    arca_status st;
    kms_object *o = NULL, *old_pub = NULL;
    versions_ctx *v = NULL;
    kms_txn t;
    arca_audit_event ev;
    uint32_t cls, max_version = 0;
    arca_key *new_key = NULL, *new_pub_key = NULL;
    kms_attrs new_attrs = {0}, new_pub_attrs = {0}, demoted = {0};
    kms_object *objs[2] = {NULL, NULL};
    arca_object_id ids[2];
    size_t num_new = 0;

    ARCA_ENSURE(kms != NULL && sess != NULL && id != NULL && out_new_id != NULL, ARCA_ERR_ARGS);
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->write_mu);
    ARCA_GUARD_OUT(kms_object_get(kms, sess, id, &o));
    cls = kms_object_class(o);
    ARCA_ENSURE_OUT(cls == CKO_SECRET_KEY || cls == CKO_PRIVATE_KEY, ARCA_ERR_KEY_TYPE);
    ARCA_ENSURE_OUT(o->token, ARCA_ERR_ATTRIBUTE_VALUE); /* only token keys have versions */
    const kms_attr *label = kms_attrs_find(&o->attrs, CKA_LABEL);
    ARCA_ENSURE_OUT(label != NULL && label->len > 0, ARCA_ERR_TEMPLATE_INCOMPLETE);
    v = calloc(1, sizeof(*v));
    ARCA_ENSURE_OUT(v != NULL, ARCA_ERR_NOMEM);
    v->label = label;
    v->cache = &kms->cache;
    ARCA_GUARD_OUT(kms_index_walk(kms, sess, CKA_LABEL, label->value, label->len, NULL, 0, versions_cb, v));
    ARCA_ENSURE_OUT(!v->overflow, ARCA_ERR_TOO_LARGE);
    for (size_t i = 0; i < v->num; i++) {
        uint32_t ver = kms_attrs_u32(&v->objs[i]->attrs, ARCA_CKA_KEY_VERSION, 0);
        if (ver > max_version) max_version = ver;
        /* The public half of the current primary pair, to copy its attributes. */
        if (cls == CKO_PRIVATE_KEY && kms_object_class(v->objs[i]) == CKO_PUBLIC_KEY &&
            kms_attrs_bool(&v->objs[i]->attrs, ARCA_CKA_PRIMARY, false)) {
            old_pub = v->objs[i];
        }
    }
    if (max_version < kms_attrs_u32(&o->attrs, ARCA_CKA_KEY_VERSION, 1)) {
        max_version = kms_attrs_u32(&o->attrs, ARCA_CKA_KEY_VERSION, 1);
    }
    ARCA_ENSURE_OUT(max_version < UINT32_MAX, ARCA_ERR_TOO_LARGE);

    ARCA_GUARD_OUT(kms_key_generate_like(o->key, &new_key));
    ARCA_GUARD_OUT(rotated_attrs(&o->attrs, max_version + 1, &new_attrs));
    if (cls == CKO_PRIVATE_KEY) {
        ARCA_GUARD_OUT(arca_key_public_from_private(new_key, &new_pub_key));
        if (old_pub != NULL) {
            ARCA_GUARD_OUT(rotated_attrs(&old_pub->attrs, max_version + 1, &new_pub_attrs));
        } else {
            ARCA_GUARD_OUT(kms_attrs_build(CKO_PUBLIC_KEY, new_pub_key, NULL, 0, KMS_ORIGIN_GENERATED, &new_pub_attrs));
            ARCA_GUARD_OUT(kms_attrs_set(&new_pub_attrs, CKA_LABEL, label->value, label->len));
            const kms_attr *ckid = kms_attrs_find(&o->attrs, CKA_ID);
            if (ckid != NULL) ARCA_GUARD_OUT(kms_attrs_set(&new_pub_attrs, CKA_ID, ckid->value, ckid->len));
            ARCA_GUARD_OUT(kms_attrs_set_u32(&new_pub_attrs, ARCA_CKA_KEY_VERSION, max_version + 1));
        }
        st = kms_object_new(sess->partition_id, true, &new_pub_attrs, new_pub_key, &objs[num_new++]);
        new_pub_key = NULL;
        ARCA_GUARD_OUT(st);
    }
    st = kms_object_new(sess->partition_id, true, &new_attrs, new_key, &objs[num_new++]);
    new_key = NULL;
    ARCA_GUARD_OUT(st);
    for (size_t i = 0; i < num_new; i++) {
        ARCA_ENSURE_OUT(RAND_bytes(objs[i]->id.b, ARCA_OBJECT_ID_LEN) == 1, ARCA_ERR_CRYPTO);
        ARCA_GUARD_OUT(kms_txn_put_object(kms, &t, &objs[i]->id, objs[i]->partition_id, 1, &objs[i]->attrs,
                                          objs[i]->key, NULL));
    }
    /* Demote every current primary of this name, in the same commit. */
    for (size_t i = 0; i < v->num; i++) {
        kms_object *p = v->objs[i];
        if (!kms_attrs_bool(&p->attrs, ARCA_CKA_PRIMARY, false)) continue;
        kms_attrs_free(&demoted);
        ARCA_GUARD_OUT(kms_attrs_clone(&p->attrs, &demoted));
        ARCA_GUARD_OUT(kms_attrs_set_bool(&demoted, ARCA_CKA_PRIMARY, false));
        ARCA_GUARD_OUT(kms_txn_put_object(kms, &t, &p->id, p->partition_id, p->version + 1, &demoted, p->key, &p->attrs));
    }
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_ROTATE, ARCA_OK, &objs[num_new - 1]->id, NULL);
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    for (size_t i = 0; i < v->num; i++) {
        if (kms_attrs_bool(&v->objs[i]->attrs, ARCA_CKA_PRIMARY, false)) kms_cache_remove(&kms->cache, &v->objs[i]->id);
    }
    for (size_t i = 0; i < num_new; i++) {
        ids[i] = objs[i]->id;
        kms_cache_insert(&kms->cache, objs[i], 0, true);
        kms_object_release(&kms->cache, objs[i]);
        objs[i] = NULL;
    }
    *out_new_id = ids[num_new - 1];
    ARCA_INFO("keystore: rotated a key to version %u", max_version + 1);
out:
    pthread_mutex_unlock(&kms->write_mu);
    for (size_t i = 0; i < 2; i++) kms_object_free(objs[i]);
    if (v != NULL) {
        for (size_t i = 0; i < v->num; i++) kms_object_release(&kms->cache, v->objs[i]);
        free(v);
    }
    kms_object_release(&kms->cache, o);
    arca_key_free(new_key);
    arca_key_free(new_pub_key);
    kms_attrs_free(&new_attrs);
    kms_attrs_free(&new_pub_attrs);
    kms_attrs_free(&demoted);
    kms_txn_cleanup(&t);
    return st;
}
