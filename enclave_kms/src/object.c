/* Key objects: their sealed form, loading them (session list, cache,
 * store), their attribute values, and the store ops that persist them.
 *
 * Stored value in ARCA_DB_BLOBS under the object id:
 *   u32 partition id (clear, so the enclave knows the AAD before
 *   unsealing and can answer NOT_FOUND for other partitions) ||
 *   sealed blob (purpose ARCA_SEAL_OBJECT, object id, object version,
 *   AAD = u32 partition id).
 * A host that edits the clear partition id only makes the unseal fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/hex.h"
#include "arca/log.h"
#include "kms_internal.h"

#define OBJECT_FORMAT 1u
#define OBJECT_MAX_ATTRS 64u

void kms_id_hex(const arca_object_id *id, char out[2 * ARCA_OBJECT_ID_LEN + 1])
{
    arca_hex(id->b, ARCA_OBJECT_ID_LEN, out);
}

arca_status kms_object_new(uint32_t partition_id, bool token, kms_attrs *attrs, arca_key *key, kms_object **out)
{
    kms_object *o = arca_secmem_alloc(sizeof(*o));
    if (o == NULL) {
        kms_attrs_free(attrs);
        arca_key_free(key);
        return ARCA_ERR_NOMEM;
    }
    o->partition_id = partition_id;
    o->token = token;
    o->attrs = *attrs;
    memset(attrs, 0, sizeof(*attrs));
    o->key = key;
    o->version = 1;
    o->refs = 1;
    o->mem = arca_secmem_block_size(o) + kms_attrs_mem(&o->attrs) + (key != NULL ? arca_key_mem_estimate(key) : 0);
    *out = o;
    return ARCA_OK;
}

void kms_object_free(kms_object *o)
{
    if (o == NULL) return;
    kms_attrs_free(&o->attrs);
    arca_key_free(o->key);
    arca_secmem_free(o);
}

uint32_t kms_object_class(const kms_object *o)
{
    return kms_attrs_u32(&o->attrs, CKA_CLASS, 0xFFFFFFFFu);
}

arca_status kms_object_serialize(const arca_object_id *id, uint32_t partition_id, const kms_attrs *attrs,
                                 const arca_key *key, arca_builder *out)
{
    size_t len_at;
    ARCA_ENSURE(attrs->num <= OBJECT_MAX_ATTRS, ARCA_ERR_INTERNAL);
    ARCA_GUARD(arca_builder_add_u16(out, OBJECT_FORMAT));
    ARCA_GUARD(arca_builder_add_u32(out, partition_id));
    ARCA_GUARD(arca_builder_add_bytes(out, id->b, ARCA_OBJECT_ID_LEN));
    ARCA_GUARD(arca_builder_add_u16(out, (uint16_t)attrs->num));
    for (size_t i = 0; i < attrs->num; i++) {
        ARCA_GUARD(arca_builder_add_u32(out, attrs->a[i].type));
        ARCA_GUARD(arca_builder_add_u16_prefixed(out, attrs->a[i].value, attrs->a[i].len));
    }
    len_at = out->len;
    ARCA_GUARD(arca_builder_add_u32(out, 0));
    ARCA_GUARD(arca_key_serialize(key, out));
    return arca_builder_patch_u32(out, len_at, (uint32_t)(out->len - len_at - 4));
}

arca_status kms_object_parse(const uint8_t *pt, size_t pt_len, kms_object **out)
{
    arca_status st;
    arca_cursor c, kc;
    uint16_t fmt, num;
    uint32_t pid;
    arca_object_id id;
    kms_attrs attrs = {0};
    arca_key *key = NULL;
    kms_object *o = NULL;

    arca_cursor_init(&c, pt, pt_len);
    ARCA_GUARD_OUT(arca_cursor_get_u16(&c, &fmt));
    ARCA_ENSURE_OUT(fmt == OBJECT_FORMAT, ARCA_ERR_DECODE);
    ARCA_GUARD_OUT(arca_cursor_get_u32(&c, &pid));
    ARCA_GUARD_OUT(arca_cursor_copy_bytes(&c, id.b, ARCA_OBJECT_ID_LEN));
    ARCA_GUARD_OUT(arca_cursor_get_u16(&c, &num));
    ARCA_ENSURE_OUT(num <= OBJECT_MAX_ATTRS, ARCA_ERR_DECODE);
    for (uint16_t i = 0; i < num; i++) {
        uint32_t type;
        arca_cursor v;
        ARCA_GUARD_OUT(arca_cursor_get_u32(&c, &type));
        ARCA_GUARD_OUT(arca_cursor_get_u16_prefixed(&c, &v));
        ARCA_ENSURE_OUT(kms_attrs_find(&attrs, type) == NULL, ARCA_ERR_DECODE);
        ARCA_GUARD_OUT(kms_attrs_set(&attrs, type, v.data, v.len));
    }
    ARCA_GUARD_OUT(arca_cursor_get_u32_prefixed(&c, &kc));
    ARCA_GUARD_OUT(arca_key_deserialize(&kc, &key));
    ARCA_GUARD_OUT(arca_cursor_finish(&kc));
    ARCA_GUARD_OUT(arca_cursor_finish(&c));
    ARCA_GUARD_OUT(kms_object_new(pid, true, &attrs, key, &o));
    key = NULL;
    o->id = id;
    *out = o;
    return ARCA_OK;
out:
    kms_attrs_free(&attrs);
    arca_key_free(key);
    return st;
}

static bool is_private_component(uint32_t type)
{
    switch (type) {
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
        return true;
    default:
        return false;
    }
}

arca_status kms_object_attr_value(const kms_object *o, uint32_t type, arca_builder *out)
{
    uint32_t cls = kms_object_class(o);
    const kms_attr *a;
    switch (type) {
    case ARCA_CKA_OBJECT_ID:
        return arca_builder_add_bytes(out, o->id.b, ARCA_OBJECT_ID_LEN);
    case CKA_VALUE:
        ARCA_ENSURE(cls == CKO_SECRET_KEY || cls == CKO_PRIVATE_KEY, ARCA_ERR_ATTRIBUTE_TYPE);
        return ARCA_ERR_ATTRIBUTE_SENSITIVE;
    case CKA_PUBLIC_KEY_INFO:
        ARCA_ENSURE(cls != CKO_SECRET_KEY, ARCA_ERR_ATTRIBUTE_TYPE);
        return arca_key_public_info(o->key, out);
    case CKA_VALUE_LEN:
        /* Derived from the key (bytes), not read from the stored list. */
        ARCA_ENSURE(cls == CKO_SECRET_KEY, ARCA_ERR_ATTRIBUTE_TYPE);
        return arca_builder_add_u32(out, (uint32_t)(arca_key_bits(o->key) / 8));
    case CKA_MODULUS:
        ARCA_ENSURE(cls != CKO_SECRET_KEY, ARCA_ERR_ATTRIBUTE_TYPE);
        return arca_key_rsa_modulus(o->key, out);
    case CKA_PUBLIC_EXPONENT:
        ARCA_ENSURE(cls != CKO_SECRET_KEY, ARCA_ERR_ATTRIBUTE_TYPE);
        return arca_key_rsa_public_exponent(o->key, out);
    case CKA_EC_PARAMS:
        ARCA_ENSURE(cls != CKO_SECRET_KEY, ARCA_ERR_ATTRIBUTE_TYPE);
        return arca_key_ec_params(o->key, out);
    case CKA_EC_POINT:
        ARCA_ENSURE(cls != CKO_SECRET_KEY, ARCA_ERR_ATTRIBUTE_TYPE);
        return arca_key_ec_point(o->key, out);
    case ARCA_CKA_ALLOWED_IDENTITIES:
        /* Absent (objects made without it) reads as empty: everyone. */
        a = kms_attrs_find(&o->attrs, type);
        return a != NULL ? arca_builder_add_bytes(out, a->value, a->len) : ARCA_OK;
    case ARCA_CKA_STATE: {
        /* Objects sealed before lifecycle states existed are Active. */
        uint32_t v = kms_attrs_u32(&o->attrs, ARCA_CKA_STATE, ARCA_STATE_ACTIVE);
        uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        return arca_builder_add_bytes(out, b, sizeof(b));
    }
    default:
        if (is_private_component(type)) {
            ARCA_ENSURE(cls == CKO_PRIVATE_KEY && arca_key_type(o->key) == CKK_RSA, ARCA_ERR_ATTRIBUTE_TYPE);
            return ARCA_ERR_ATTRIBUTE_SENSITIVE;
        }
        a = kms_attrs_find(&o->attrs, type);
        ARCA_ENSURE(a != NULL, ARCA_ERR_ATTRIBUTE_TYPE);
        return arca_builder_add_bytes(out, a->value, a->len);
    }
}

bool kms_object_matches(const kms_object *o, const arca_attr *tmpl, size_t num)
{
    for (size_t i = 0; i < num; i++) {
        const kms_attr *a = kms_attrs_find(&o->attrs, tmpl[i].type);
        if (a != NULL) {
            if (a->len != tmpl[i].len || (a->len > 0 && memcmp(a->value, tmpl[i].value, a->len) != 0)) return false;
            continue;
        }
        /* Computed attributes (object id, public key parts). */
        arca_builder b;
        bool eq = false;
        if (arca_builder_init(&b, 64, ARCA_ATTR_VALUE_MAX) != ARCA_OK) return false;
        if (kms_object_attr_value(o, tmpl[i].type, &b) == ARCA_OK && b.error == ARCA_OK) {
            eq = b.len == tmpl[i].len && (b.len == 0 || memcmp(b.data, tmpl[i].value, b.len) == 0);
        }
        arca_builder_cleanup(&b);
        if (!eq) return false;
    }
    return true;
}

static void u32be(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

static arca_status load_from_store(arca_kms *kms, uint32_t partition_id, const arca_object_id *id,
                                   kms_object **out)
{
    arca_status st;
    uint8_t *val = NULL;
    size_t val_len = 0;
    arca_secret pt = {0};
    arca_blob_meta expect = {0}, meta = {0};
    kms_object *o = NULL;
    uint8_t aad[4];
    char hex[2 * ARCA_OBJECT_ID_LEN + 1];
    arca_cursor c;
    uint32_t stored_pid;
    const uint8_t *blob;

    kms_id_hex(id, hex);
    ARCA_GUARD_OUT(kms->store->get(kms->store->ctx, ARCA_DB_BLOBS, id->b, ARCA_OBJECT_ID_LEN, &val, &val_len));
    arca_cursor_init(&c, val, val_len);
    if (arca_cursor_get_u32(&c, &stored_pid) != ARCA_OK) {
        ARCA_ERROR("object %s: sealed blob failed integrity check (truncated)", hex);
        st = ARCA_ERR_INTEGRITY;
        goto out;
    }
    /* Another partition's object is invisible, never "permission denied". */
    ARCA_ENSURE_OUT(stored_pid == partition_id, ARCA_ERR_NOT_FOUND);
    u32be(aad, partition_id);
    memcpy(expect.object_id, id->b, ARCA_OBJECT_ID_LEN);
    expect.purpose = ARCA_SEAL_OBJECT;
    blob = c.data;
    st = arca_sealing_unseal(kms->sealing, &expect, aad, sizeof(aad), blob, arca_cursor_remaining(&c), &meta, &pt);
    if (st == ARCA_ERR_INTEGRITY || st == ARCA_ERR_DECODE) {
        ARCA_ERROR("object %s: sealed blob failed integrity check", hex);
        st = ARCA_ERR_INTEGRITY;
        goto out;
    }
    ARCA_GUARD_OUT(st);
    kms_cache_count_unseal(&kms->cache);
    st = kms_object_parse(pt.data, pt.len, &o);
    if (st == ARCA_OK && (o->partition_id != partition_id || memcmp(o->id.b, id->b, ARCA_OBJECT_ID_LEN) != 0 ||
                          memcmp(meta.object_id, id->b, ARCA_OBJECT_ID_LEN) != 0)) {
        st = ARCA_ERR_INTEGRITY;
    }
    if (st != ARCA_OK) {
        ARCA_ERROR("object %s: sealed content is malformed (%s)", hex, arca_status_name(st));
        st = ARCA_ERR_INTEGRITY;
        goto out;
    }
    o->version = meta.object_version;
    *out = o;
    o = NULL;
out:
    kms_object_free(o);
    arca_secret_free(&pt);
    free(val);
    return st;
}

bool kms_object_allowed(const arca_kms_session *sess, const kms_object *o)
{
    if (!sess->has_peer) return true;
    const kms_attr *a = kms_attrs_find(&o->attrs, ARCA_CKA_ALLOWED_IDENTITIES);
    if (a == NULL || a->len == 0) return true;
    return kms_identity_list_has(a->value, a->len, sess->identity);
}

bool kms_session_may_read(const arca_kms_session *sess)
{
    /* The SO of a partition reads its public objects too (PKCS#11's
     * "R/W SO Functions" state). */
    return sess->role == ARCA_ROLE_USER || sess->role == ARCA_ROLE_SO ||
           (sess->role == ARCA_ROLE_NONE && sess->public_partition_id != 0);
}

bool kms_object_visible(const arca_kms_session *sess, const kms_object *o)
{
    if (sess->role == ARCA_ROLE_USER) return true;
    /* Public access: CKA_PRIVATE false only (absent reads as private). */
    return kms_session_may_read(sess) && !kms_attrs_bool(&o->attrs, CKA_PRIVATE, true);
}

/* The one session check of object access. read: find / get_attribute,
 * which a session in public access may do on public objects. */
static arca_status object_load(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, bool read,
                               kms_object **out)
{
    kms_object *o;
    ARCA_ENSURE(id != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER || (read && kms_session_may_read(sess)), ARCA_ERR_NOT_LOGGED_IN);
    for (o = sess->objects; o != NULL; o = o->snext) {
        if (memcmp(o->id.b, id->b, ARCA_OBJECT_ID_LEN) == 0) {
            kms_object_ref(&kms->cache, o);
            goto found;
        }
    }
    o = kms_cache_get(&kms->cache, id);
    if (o != NULL) {
        if (o->partition_id != sess->partition_id) {
            kms_object_release(&kms->cache, o);
            return ARCA_ERR_NOT_FOUND;
        }
        goto found;
    }
    uint64_t epoch = kms_cache_epoch(&kms->cache);
    ARCA_GUARD(load_from_store(kms, sess->partition_id, id, &o));
    kms_cache_insert(&kms->cache, o, epoch, false);
found:
    if (!kms_object_visible(sess, o)) {
        kms_object_release(&kms->cache, o);
        return ARCA_ERR_NOT_FOUND;
    }
    *out = o;
    return ARCA_OK;
}

static arca_status object_get(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, bool read,
                              kms_object **out)
{
    kms_object *o = NULL;
    ARCA_GUARD(object_load(kms, sess, id, read, &o));
    if (!kms_object_allowed(sess, o)) {
        char detail[ARCA_IDENTITY_NAME_MAX + 48];
        snprintf(detail, sizeof(detail), "identity %s not in the key's allowed identities", sess->identity);
        kms_object_release(&kms->cache, o);
        ARCA_WARN("keystore: %s", detail);
        (void)kms_audit_use(kms, sess, ARCA_AUDIT_ACCESS_DENIED, ARCA_ERR_PERMISSION, id, detail);
        return ARCA_ERR_PERMISSION;
    }
    *out = o;
    return ARCA_OK;
}

arca_status kms_object_get(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, kms_object **out)
{
    return object_get(kms, sess, id, false, out);
}

arca_status kms_object_get_read(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, kms_object **out)
{
    return object_get(kms, sess, id, true, out);
}

arca_status kms_object_load(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, kms_object **out)
{
    return object_load(kms, sess, id, false, out);
}

arca_status kms_object_load_read(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, kms_object **out)
{
    return object_load(kms, sess, id, true, out);
}

static bool key_in(const kms_index_key *set, size_t n, const kms_index_key *k)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(set[i].b, k->b, KMS_INDEX_KEY_LEN) == 0) return true;
    }
    return false;
}

static arca_status add_index_op(kms_txn *t, uint8_t kind, const kms_index_key *k)
{
    static const uint8_t empty[1] = {0};
    uint8_t *copy = malloc(KMS_INDEX_KEY_LEN);
    ARCA_ENSURE(copy != NULL, ARCA_ERR_NOMEM);
    memcpy(copy, k->b, KMS_INDEX_KEY_LEN);
    return kms_txn_add(t, kind, ARCA_DB_INDEX, copy, KMS_INDEX_KEY_LEN, kind == ARCA_STORE_PUT ? empty : NULL, 0,
                       copy);
}

arca_status kms_txn_put_object(arca_kms *kms, kms_txn *t, const arca_object_id *id, uint32_t partition_id,
                               uint64_t version, const kms_attrs *attrs, const arca_key *key,
                               const kms_attrs *old_attrs)
{
    arca_status st;
    arca_builder b = {0};
    uint8_t *pt = NULL, *blob = NULL, *val = NULL;
    size_t pt_len = 0, blob_len = 0;
    arca_blob_meta meta = {0};
    uint8_t aad[4];
    kms_index_key new_keys[KMS_INDEX_MAX_ENTRIES], old_keys[KMS_INDEX_MAX_ENTRIES];
    size_t num_new = 0, num_old = 0;

    ARCA_GUARD_OUT(arca_builder_init_secret(&b, 1024, ARCA_SEALED_MAX_PLAINTEXT));
    ARCA_GUARD_OUT(kms_object_serialize(id, partition_id, attrs, key, &b));
    ARCA_GUARD_OUT(arca_builder_finish(&b, &pt, &pt_len));
    memcpy(meta.object_id, id->b, ARCA_OBJECT_ID_LEN);
    meta.object_version = version;
    meta.purpose = ARCA_SEAL_OBJECT;
    u32be(aad, partition_id);
    ARCA_GUARD_OUT(arca_sealing_seal(kms->sealing, &meta, aad, sizeof(aad), pt, pt_len, &blob, &blob_len));
    /* One buffer for the op's key (object id) and value (pid || blob). */
    val = malloc(ARCA_OBJECT_ID_LEN + 4 + blob_len);
    ARCA_ENSURE_OUT(val != NULL, ARCA_ERR_NOMEM);
    memcpy(val, id->b, ARCA_OBJECT_ID_LEN);
    u32be(val + ARCA_OBJECT_ID_LEN, partition_id);
    memcpy(val + ARCA_OBJECT_ID_LEN + 4, blob, blob_len);
    st = kms_txn_add(t, ARCA_STORE_PUT, ARCA_DB_BLOBS, val, ARCA_OBJECT_ID_LEN, val + ARCA_OBJECT_ID_LEN,
                     4 + blob_len, val);
    val = NULL;
    ARCA_GUARD_OUT(st);

    ARCA_GUARD_OUT(kms_index_entries(&kms->k_index, partition_id, id, attrs, new_keys, &num_new));
    if (old_attrs != NULL) {
        ARCA_GUARD_OUT(kms_index_entries(&kms->k_index, partition_id, id, old_attrs, old_keys, &num_old));
        for (size_t i = 0; i < num_old; i++) {
            if (!key_in(new_keys, num_new, &old_keys[i])) ARCA_GUARD_OUT(add_index_op(t, ARCA_STORE_DEL, &old_keys[i]));
        }
    }
    for (size_t i = 0; i < num_new; i++) {
        if (!key_in(old_keys, num_old, &new_keys[i])) ARCA_GUARD_OUT(add_index_op(t, ARCA_STORE_PUT, &new_keys[i]));
    }
    st = ARCA_OK;
out:
    if (pt != NULL) {
        arca_wipe(pt, pt_len);
        arca_secmem_free(pt);
    }
    arca_builder_cleanup(&b);
    free(blob);
    free(val);
    return st;
}

arca_status kms_txn_delete_object(arca_kms *kms, kms_txn *t, const kms_object *o)
{
    kms_index_key keys[KMS_INDEX_MAX_ENTRIES];
    size_t num = 0;
    uint8_t *idcopy = malloc(ARCA_OBJECT_ID_LEN);
    ARCA_ENSURE(idcopy != NULL, ARCA_ERR_NOMEM);
    memcpy(idcopy, o->id.b, ARCA_OBJECT_ID_LEN);
    ARCA_GUARD(kms_txn_add(t, ARCA_STORE_DEL, ARCA_DB_BLOBS, idcopy, ARCA_OBJECT_ID_LEN, NULL, 0, idcopy));
    ARCA_GUARD(kms_index_entries(&kms->k_index, o->partition_id, &o->id, &o->attrs, keys, &num));
    for (size_t i = 0; i < num; i++) ARCA_GUARD(add_index_op(t, ARCA_STORE_DEL, &keys[i]));
    return ARCA_OK;
}
