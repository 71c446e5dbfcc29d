/* Key use: sign, verify, encrypt, decrypt, wrap, unwrap, derive. Policy
 * first (login, partition, mechanism valid for the operation, the key's
 * usage attribute, CKA_ALLOWED_MECHANISMS), then the cryptography, then one audit record with the
 * outcome. Output reaches the caller only once its audit record is in the
 * chain; the chain stores key-use records in batches (audit.h: within
 * 20 ms or 1,024 records), and a failed batch makes every use fail here
 * with the store's status until a flush succeeds (fail closed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/log.h"
#include "kms_internal.h"

static uint32_t usage_attr(arca_crypto_op op)
{
    switch (op) {
    case ARCA_OP_SIGN:
        return CKA_SIGN;
    case ARCA_OP_VERIFY:
        return CKA_VERIFY;
    case ARCA_OP_ENCRYPT:
        return CKA_ENCRYPT;
    case ARCA_OP_DECRYPT:
        return CKA_DECRYPT;
    case ARCA_OP_WRAP:
        return CKA_WRAP;
    case ARCA_OP_UNWRAP:
        return CKA_UNWRAP;
    case ARCA_OP_DERIVE:
        return CKA_DERIVE;
    default:
        return 0;
    }
}

static uint16_t audit_op_of(arca_crypto_op op)
{
    switch (op) {
    case ARCA_OP_SIGN:
        return ARCA_AUDIT_SIGN;
    case ARCA_OP_VERIFY:
        return ARCA_AUDIT_VERIFY;
    case ARCA_OP_ENCRYPT:
        return ARCA_AUDIT_ENCRYPT;
    case ARCA_OP_DECRYPT:
        return ARCA_AUDIT_DECRYPT;
    case ARCA_OP_WRAP:
        return ARCA_AUDIT_WRAP;
    case ARCA_OP_UNWRAP:
        return ARCA_AUDIT_UNWRAP;
    case ARCA_OP_DERIVE:
        return ARCA_AUDIT_DERIVE;
    default:
        return 0;
    }
}

/* KMIP lifecycle rules: "protect" operations (sign and MAC generation,
 * encrypt, wrap, derive) need an Active key; "process" operations
 * (verify, decrypt, unwrap) also work with a Deactivated or Compromised
 * key, so that data protected earlier stays readable; a Pre-Active key
 * does nothing. */
static bool state_allows(uint32_t state, arca_crypto_op op)
{
    switch (op) {
    case ARCA_OP_VERIFY:
    case ARCA_OP_DECRYPT:
    case ARCA_OP_UNWRAP:
        return state == ARCA_STATE_ACTIVE || state == ARCA_STATE_DEACTIVATED || state == ARCA_STATE_COMPROMISED;
    case ARCA_OP_SIGN:
    case ARCA_OP_ENCRYPT:
    case ARCA_OP_WRAP:
    case ARCA_OP_DERIVE:
        return state == ARCA_STATE_ACTIVE;
    default:
        return false;
    }
}

static void mech_detail(char out[48], uint32_t mech)
{
    snprintf(out, 48, "mechanism 0x%08x", mech);
}

/* Load the key and check policy. On ARCA_OK *out holds a reference. A
 * policy failure on an identified key is audited here. */
static arca_status use_key(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, const arca_mechanism *m,
                           arca_crypto_op op, kms_object **out)
{
    arca_status st;
    kms_object *o = NULL;
    char detail[48];
    ARCA_ENSURE(kms != NULL && sess != NULL && id != NULL && m != NULL, ARCA_ERR_ARGS);
    st = kms_object_get(kms, sess, id, &o);
    if (st == ARCA_ERR_INTEGRITY) (void)kms_audit_use(kms, sess, audit_op_of(op), st, id, "sealed blob damaged");
    ARCA_GUARD(st);
    if (!state_allows(kms_attrs_u32(&o->attrs, ARCA_CKA_STATE, ARCA_STATE_ACTIVE), op)) st = ARCA_ERR_OBJECT_STATE;
    else if (!arca_crypto_mechanism_allowed(m->type, op)) st = ARCA_ERR_MECHANISM;
    else if (!kms_attrs_bool(&o->attrs, usage_attr(op), false)) st = ARCA_ERR_KEY_FUNCTION;
    else if (!kms_attrs_mechanism_allowed(&o->attrs, m->type)) st = ARCA_ERR_MECHANISM;
    if (st != ARCA_OK) {
        mech_detail(detail, m->type);
        (void)kms_audit_use(kms, sess, audit_op_of(op), st, id, detail);
        kms_object_release(&kms->cache, o);
        return st;
    }
    *out = o;
    return ARCA_OK;
}

/* Audit the outcome, then hand over the output (if any). */
static arca_status finish_use(arca_kms *kms, arca_kms_session *sess, arca_crypto_op op, const arca_object_id *id,
                              const arca_mechanism *m, arca_status outcome, arca_builder *tmp, arca_builder *out)
{
    char detail[48];
    mech_detail(detail, m->type);
    arca_status ast = kms_audit_use(kms, sess, audit_op_of(op), outcome, id, detail);
    if (outcome != ARCA_OK) return outcome;
    ARCA_GUARD(ast);
    if (tmp != NULL) ARCA_GUARD(arca_builder_add_bytes(out, tmp->data, tmp->len));
    return ARCA_OK;
}

static arca_status run_op(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, const arca_mechanism *m,
                          arca_crypto_op op, const uint8_t *data, size_t data_len, const uint8_t *sig,
                          size_t sig_len, arca_builder *out)
{
    arca_status st;
    kms_object *o = NULL;
    arca_builder tmp = {0};
    ARCA_ENSURE(data_len == 0 || data != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess == NULL || sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_ENSURE(data_len <= ARCA_DATA_MAX && sig_len <= ARCA_DATA_MAX, ARCA_ERR_DATA_LEN);
    ARCA_GUARD(use_key(kms, sess, id, m, op, &o));
    if (op != ARCA_OP_VERIFY) {
        ARCA_ENSURE_OUT(out != NULL, ARCA_ERR_ARGS);
        ARCA_GUARD_OUT(arca_builder_init_secret(&tmp, data_len + 64, ARCA_DATA_MAX + 1024));
    }
    switch (op) {
    case ARCA_OP_SIGN:
        st = arca_crypto_sign(o->key, m, data, data_len, &tmp);
        break;
    case ARCA_OP_VERIFY:
        st = arca_crypto_verify(o->key, m, data, data_len, sig, sig_len);
        break;
    case ARCA_OP_ENCRYPT:
        st = arca_crypto_encrypt(o->key, m, data, data_len, &tmp);
        break;
    case ARCA_OP_DECRYPT:
        st = arca_crypto_decrypt(o->key, m, data, data_len, &tmp);
        break;
    default:
        st = ARCA_ERR_INTERNAL;
        break;
    }
    if (st == ARCA_OK) st = tmp.error;
    st = finish_use(kms, sess, op, id, m, st, op == ARCA_OP_VERIFY ? NULL : &tmp, out);
out:
    arca_builder_cleanup(&tmp);
    kms_object_release(&kms->cache, o);
    return st;
}

arca_status arca_kms_sign(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, const arca_mechanism *m,
                          const uint8_t *data, size_t data_len, arca_builder *out)
{
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    return run_op(kms, sess, id, m, ARCA_OP_SIGN, data, data_len, NULL, 0, out);
}

arca_status arca_kms_verify(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id, const arca_mechanism *m,
                            const uint8_t *data, size_t data_len, const uint8_t *sig, size_t sig_len)
{
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sig_len == 0 || sig != NULL, ARCA_ERR_ARGS);
    return run_op(kms, sess, id, m, ARCA_OP_VERIFY, data, data_len, sig, sig_len, NULL);
}

arca_status arca_kms_encrypt(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                             const arca_mechanism *m, const uint8_t *data, size_t data_len, arca_builder *out)
{
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    return run_op(kms, sess, id, m, ARCA_OP_ENCRYPT, data, data_len, NULL, 0, out);
}

arca_status arca_kms_decrypt(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                             const arca_mechanism *m, const uint8_t *data, size_t data_len, arca_builder *out)
{
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    return run_op(kms, sess, id, m, ARCA_OP_DECRYPT, data, data_len, NULL, 0, out);
}

arca_status arca_kms_wrap(arca_kms *kms, arca_kms_session *sess, const arca_object_id *wrapping,
                          const arca_mechanism *m, const arca_object_id *target, arca_builder *out)
{
    arca_status st;
    kms_object *w = NULL, *t = NULL;
    arca_builder tmp = {0};
    char detail[96], hex[2 * ARCA_OBJECT_ID_LEN + 1];

    ARCA_ENSURE(kms != NULL && sess != NULL && target != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_GUARD(use_key(kms, sess, wrapping, m, ARCA_OP_WRAP, &w));
    ARCA_GUARD_OUT(kms_object_get(kms, sess, target, &t));
    kms_id_hex(wrapping, hex);
    snprintf(detail, sizeof(detail), "export wrapped by %s, mechanism 0x%08x", hex, m->type);
    if (!kms_attrs_bool(&t->attrs, CKA_EXTRACTABLE, false)) {
        st = ARCA_ERR_KEY_UNEXTRACTABLE;
    } else {
        st = arca_builder_init(&tmp, 512, ARCA_DATA_MAX);
        if (st == ARCA_OK) st = arca_crypto_wrap(w->key, m, t->key, &tmp);
        if (st == ARCA_OK) st = tmp.error;
    }
    /* The export is recorded against the exported key. */
    arca_status ast = kms_audit_use(kms, sess, ARCA_AUDIT_WRAP, st, target, detail);
    ARCA_GUARD_OUT(st);
    ARCA_GUARD_OUT(ast);
    st = arca_builder_add_bytes(out, tmp.data, tmp.len);
out:
    arca_builder_cleanup(&tmp);
    kms_object_release(&kms->cache, t);
    kms_object_release(&kms->cache, w);
    return st;
}

/* A new secret or private key object from unwrapped/derived material. */
static arca_status new_key_object(arca_kms *kms, arca_kms_session *sess, arca_key *key, uint32_t cls,
                                  const arca_attr *tmpl, size_t num, kms_origin origin, const kms_object *base,
                                  uint16_t audit_op, const char *detail, arca_object_id *out_id)
{
    arca_status st;
    kms_attrs attrs = {0};
    kms_object *o = NULL;
    bool token = true;
    ARCA_GUARD_OUT(kms_tmpl_expect_u32(tmpl, num, CKA_KEY_TYPE, arca_key_type(key)));
    ARCA_GUARD_OUT(kms_attrs_build(cls, key, tmpl, num, origin, &attrs));
    if (base != NULL) {
        /* PKCS#11: a derived key is always-sensitive / never-extractable
         * only if its base was and it is itself. */
        bool as = kms_attrs_bool(&base->attrs, CKA_ALWAYS_SENSITIVE, false) && kms_attrs_bool(&attrs, CKA_SENSITIVE, true);
        bool ne = kms_attrs_bool(&base->attrs, CKA_NEVER_EXTRACTABLE, false) &&
                  !kms_attrs_bool(&attrs, CKA_EXTRACTABLE, false);
        ARCA_GUARD_OUT(kms_attrs_set_bool(&attrs, CKA_ALWAYS_SENSITIVE, as));
        ARCA_GUARD_OUT(kms_attrs_set_bool(&attrs, CKA_NEVER_EXTRACTABLE, ne));
    }
    (void)kms_tmpl_bool(tmpl, num, CKA_TOKEN, &token);
    st = kms_object_new(sess->partition_id, token, &attrs, key, &o);
    key = NULL;
    ARCA_GUARD_OUT(st);
    st = kms_publish(kms, sess, &o, 1, audit_op, detail, 0, out_id);
    if (st == ARCA_OK) o = NULL;
out:
    kms_object_free(o);
    arca_key_free(key);
    kms_attrs_free(&attrs);
    return st;
}

arca_status arca_kms_unwrap(arca_kms *kms, arca_kms_session *sess, const arca_object_id *unwrapping,
                            const arca_mechanism *m, const uint8_t *wrapped, size_t wrapped_len,
                            const arca_attr *tmpl, size_t num_attrs, arca_object_id *out_id)
{
    arca_status st;
    kms_object *u = NULL;
    arca_key *key = NULL;
    uint32_t cls, ktype;
    char detail[96], hex[2 * ARCA_OBJECT_ID_LEN + 1];

    ARCA_ENSURE(kms != NULL && sess != NULL && out_id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(wrapped_len == 0 || wrapped != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_ENSURE(wrapped_len <= ARCA_DATA_MAX, ARCA_ERR_DATA_LEN);
    ARCA_GUARD(kms_tmpl_check(tmpl, num_attrs));
    ARCA_ENSURE(kms_tmpl_u32(tmpl, num_attrs, CKA_CLASS, &cls), ARCA_ERR_TEMPLATE_INCOMPLETE);
    ARCA_ENSURE(kms_tmpl_u32(tmpl, num_attrs, CKA_KEY_TYPE, &ktype), ARCA_ERR_TEMPLATE_INCOMPLETE);
    ARCA_ENSURE(cls == CKO_SECRET_KEY || cls == CKO_PRIVATE_KEY, ARCA_ERR_TEMPLATE_INCONSISTENT);
    ARCA_ENSURE((cls == CKO_SECRET_KEY) == (ktype == CKK_AES || ktype == CKK_GENERIC_SECRET),
                ARCA_ERR_TEMPLATE_INCONSISTENT);
    ARCA_ENSURE(kms_tmpl_find(tmpl, num_attrs, CKA_VALUE) == NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
    ARCA_GUARD(use_key(kms, sess, unwrapping, m, ARCA_OP_UNWRAP, &u));
    kms_id_hex(unwrapping, hex);
    snprintf(detail, sizeof(detail), "unwrapped by %s, mechanism 0x%08x", hex, m->type);
    st = arca_crypto_unwrap(u->key, m, wrapped, wrapped_len, ktype, &key);
    if (st != ARCA_OK) {
        (void)kms_audit_use(kms, sess, ARCA_AUDIT_UNWRAP, st, unwrapping, detail);
        goto out;
    }
    st = new_key_object(kms, sess, key, cls, tmpl, num_attrs, KMS_ORIGIN_IMPORTED, NULL, ARCA_AUDIT_UNWRAP, detail,
                        out_id);
    key = NULL;
out:
    arca_key_free(key);
    kms_object_release(&kms->cache, u);
    return st;
}

arca_status arca_kms_derive(arca_kms *kms, arca_kms_session *sess, const arca_object_id *base,
                            const arca_mechanism *m, const arca_attr *tmpl, size_t num_attrs, arca_object_id *out_id)
{
    arca_status st;
    kms_object *b = NULL;
    arca_key *key = NULL;
    uint32_t ktype, value_len;
    char detail[96], hex[2 * ARCA_OBJECT_ID_LEN + 1];

    ARCA_ENSURE(kms != NULL && sess != NULL && out_id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_GUARD(kms_tmpl_check(tmpl, num_attrs));
    ARCA_GUARD(kms_tmpl_expect_u32(tmpl, num_attrs, CKA_CLASS, CKO_SECRET_KEY));
    ARCA_ENSURE(kms_tmpl_u32(tmpl, num_attrs, CKA_KEY_TYPE, &ktype), ARCA_ERR_TEMPLATE_INCOMPLETE);
    ARCA_ENSURE(ktype == CKK_AES || ktype == CKK_GENERIC_SECRET, ARCA_ERR_TEMPLATE_INCONSISTENT);
    ARCA_ENSURE(kms_tmpl_u32(tmpl, num_attrs, CKA_VALUE_LEN, &value_len), ARCA_ERR_TEMPLATE_INCOMPLETE);
    ARCA_ENSURE(kms_tmpl_find(tmpl, num_attrs, CKA_VALUE) == NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
    ARCA_GUARD(use_key(kms, sess, base, m, ARCA_OP_DERIVE, &b));
    kms_id_hex(base, hex);
    snprintf(detail, sizeof(detail), "derived from %s, mechanism 0x%08x", hex, m->type);
    st = arca_crypto_derive(b->key, m, ktype, value_len, &key);
    if (st != ARCA_OK) {
        (void)kms_audit_use(kms, sess, ARCA_AUDIT_DERIVE, st, base, detail);
        goto out;
    }
    st = new_key_object(kms, sess, key, CKO_SECRET_KEY, tmpl, num_attrs, KMS_ORIGIN_DERIVED, b, ARCA_AUDIT_DERIVE,
                        detail, out_id);
    key = NULL;
out:
    arca_key_free(key);
    kms_object_release(&kms->cache, b);
    return st;
}
