/* Making key objects: generate, generate a pair, import (create_object),
 * and publishing new objects (persist + cache, or join the session). */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "arca/log.h"
#include "kms_internal.h"

arca_status kms_publish(arca_kms *kms, arca_kms_session *sess, kms_object **objs, size_t num, uint16_t audit_op,
                        const char *detail, size_t audit_index, arca_object_id *out_ids)
{
    arca_status st;
    kms_txn t;
    size_t num_token = 0, num_session = 0;
    arca_audit_event ev;

    for (size_t i = 0; i < num; i++) {
        if (objs[i]->token) num_token++;
        else num_session++;
    }
    ARCA_ENSURE(sess->num_objects + num_session <= KMS_SESSION_OBJECTS_MAX, ARCA_ERR_BUSY);
    for (size_t i = 0; i < num; i++) {
        ARCA_ENSURE(RAND_bytes(objs[i]->id.b, ARCA_OBJECT_ID_LEN) == 1, ARCA_ERR_CRYPTO);
        objs[i]->version = 1;
    }
    kms_txn_init(&t);
    kms_audit_event_init(&ev, sess, audit_op, ARCA_OK, &objs[audit_index]->id, detail);
    if (num_token > 0) {
        for (size_t i = 0; i < num; i++) {
            if (!objs[i]->token) continue;
            ARCA_GUARD_OUT(kms_txn_put_object(kms, &t, &objs[i]->id, objs[i]->partition_id, objs[i]->version,
                                              &objs[i]->attrs, objs[i]->key, NULL));
        }
        ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    } else {
        ARCA_GUARD_OUT(arca_audit_append(kms->audit, &ev));
    }
    for (size_t i = 0; i < num; i++) {
        kms_object *o = objs[i];
        out_ids[i] = o->id;
        if (o->token) {
            kms_cache_insert(&kms->cache, o, 0, true);
            kms_object_release(&kms->cache, o);
        } else {
            o->snext = sess->objects;
            sess->objects = o;
            sess->num_objects++;
        }
    }
    st = ARCA_OK;
out:
    kms_txn_cleanup(&t);
    return st;
}

arca_status kms_key_generate_like(const arca_key *like, arca_key **out)
{
    arca_status st;
    arca_builder b;
    switch (arca_key_type(like)) {
    case CKK_AES:
    case CKK_GENERIC_SECRET:
        return arca_key_generate_secret(arca_key_type(like), arca_key_bits(like) / 8, out);
    case CKK_RSA:
        return arca_key_generate_rsa((uint32_t)arca_key_bits(like), out);
    case CKK_EC_EDWARDS:
        return arca_key_generate_ed25519(out);
    case CKK_EC:
        ARCA_GUARD(arca_builder_init(&b, 32, 1024));
        st = arca_key_ec_params(like, &b);
        if (st == ARCA_OK) st = b.error;
        if (st == ARCA_OK) st = arca_key_generate_ec(b.data, b.len, out);
        arca_builder_cleanup(&b);
        return st;
    default:
        return ARCA_ERR_KEY_TYPE;
    }
}

static bool tmpl_token(const arca_attr *tmpl, size_t num)
{
    bool v = true;
    (void)kms_tmpl_bool(tmpl, num, CKA_TOKEN, &v);
    return v;
}

arca_status arca_kms_generate_key(arca_kms *kms, arca_kms_session *sess, uint32_t mechanism, const arca_attr *tmpl,
                                  size_t num_attrs, arca_object_id *out_id)
{
    arca_status st;
    uint32_t ktype, value_len;
    arca_key *key = NULL;
    kms_attrs attrs = {0};
    kms_object *o = NULL;

    ARCA_ENSURE(kms != NULL && sess != NULL && out_id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    switch (mechanism) {
    case CKM_AES_KEY_GEN:
        ktype = CKK_AES;
        break;
    case CKM_GENERIC_SECRET_KEY_GEN:
        ktype = CKK_GENERIC_SECRET;
        break;
    default:
        return ARCA_ERR_MECHANISM;
    }
    ARCA_GUARD(kms_tmpl_check(tmpl, num_attrs));
    ARCA_GUARD(kms_tmpl_expect_u32(tmpl, num_attrs, CKA_CLASS, CKO_SECRET_KEY));
    ARCA_GUARD(kms_tmpl_expect_u32(tmpl, num_attrs, CKA_KEY_TYPE, ktype));
    ARCA_ENSURE(kms_tmpl_find(tmpl, num_attrs, CKA_VALUE) == NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
    ARCA_ENSURE(kms_tmpl_u32(tmpl, num_attrs, CKA_VALUE_LEN, &value_len), ARCA_ERR_TEMPLATE_INCOMPLETE);
    ARCA_GUARD(arca_key_generate_secret(ktype, value_len, &key));
    ARCA_GUARD_OUT(kms_attrs_build(CKO_SECRET_KEY, key, tmpl, num_attrs, KMS_ORIGIN_GENERATED, &attrs));
    st = kms_object_new(sess->partition_id, tmpl_token(tmpl, num_attrs), &attrs, key, &o);
    key = NULL;
    ARCA_GUARD_OUT(st);
    ARCA_GUARD_OUT(kms_publish(kms, sess, &o, 1, ARCA_AUDIT_GENERATE,
                               ktype == CKK_AES ? "CKM_AES_KEY_GEN" : "CKM_GENERIC_SECRET_KEY_GEN", 0, out_id));
    o = NULL;
out:
    kms_object_free(o);
    kms_attrs_free(&attrs);
    arca_key_free(key);
    return st;
}

/* Ed25519 parameters as PKCS#11 3.0 allows them: the OID 1.3.101.112 or
 * the printable string "edwards25519". */
static bool ed25519_params_ok(const arca_attr *a)
{
    static const uint8_t oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    static const uint8_t name[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};
    return (a->len == sizeof(oid) && memcmp(a->value, oid, sizeof(oid)) == 0) ||
           (a->len == sizeof(name) && memcmp(a->value, name, sizeof(name)) == 0);
}

static const arca_attr *either(const arca_attr *t1, size_t n1, const arca_attr *t2, size_t n2, uint32_t type)
{
    const arca_attr *a = kms_tmpl_find(t1, n1, type);
    return a != NULL ? a : kms_tmpl_find(t2, n2, type);
}

static arca_status pair_generate(uint32_t mechanism, const arca_attr *pub, size_t num_pub, const arca_attr *priv,
                                 size_t num_priv, arca_key **out)
{
    const arca_attr *a;
    uint32_t ktype, bits;
    switch (mechanism) {
    case CKM_RSA_PKCS_KEY_PAIR_GEN:
        ktype = CKK_RSA;
        break;
    case CKM_EC_KEY_PAIR_GEN:
        ktype = CKK_EC;
        break;
    case CKM_EC_EDWARDS_KEY_PAIR_GEN:
        ktype = CKK_EC_EDWARDS;
        break;
    default:
        return ARCA_ERR_MECHANISM;
    }
    ARCA_GUARD(kms_tmpl_check(pub, num_pub));
    ARCA_GUARD(kms_tmpl_check(priv, num_priv));
    ARCA_GUARD(kms_tmpl_expect_u32(pub, num_pub, CKA_CLASS, CKO_PUBLIC_KEY));
    ARCA_GUARD(kms_tmpl_expect_u32(priv, num_priv, CKA_CLASS, CKO_PRIVATE_KEY));
    ARCA_GUARD(kms_tmpl_expect_u32(pub, num_pub, CKA_KEY_TYPE, ktype));
    ARCA_GUARD(kms_tmpl_expect_u32(priv, num_priv, CKA_KEY_TYPE, ktype));
    ARCA_ENSURE(kms_tmpl_find(priv, num_priv, CKA_VALUE) == NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
    switch (ktype) {
    case CKK_RSA:
        ARCA_ENSURE(kms_tmpl_find(pub, num_pub, CKA_MODULUS_BITS) != NULL ||
                        kms_tmpl_find(priv, num_priv, CKA_MODULUS_BITS) != NULL,
                    ARCA_ERR_TEMPLATE_INCOMPLETE);
        if (!kms_tmpl_u32(pub, num_pub, CKA_MODULUS_BITS, &bits)) (void)kms_tmpl_u32(priv, num_priv, CKA_MODULUS_BITS, &bits);
        a = either(pub, num_pub, priv, num_priv, CKA_PUBLIC_EXPONENT);
        if (a != NULL) {
            /* Only e = 65537 is supported; leading zero bytes are allowed. */
            size_t i = 0;
            while (i < a->len && a->value[i] == 0) i++;
            ARCA_ENSURE(a->len - i == 3 && a->value[i] == 1 && a->value[i + 1] == 0 && a->value[i + 2] == 1,
                        ARCA_ERR_ATTRIBUTE_VALUE);
        }
        ARCA_ENSURE(either(pub, num_pub, priv, num_priv, CKA_EC_PARAMS) == NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
        return arca_key_generate_rsa(bits, out);
    case CKK_EC:
        a = either(pub, num_pub, priv, num_priv, CKA_EC_PARAMS);
        ARCA_ENSURE(a != NULL, ARCA_ERR_TEMPLATE_INCOMPLETE);
        ARCA_ENSURE(either(pub, num_pub, priv, num_priv, CKA_MODULUS_BITS) == NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
        return arca_key_generate_ec(a->value, a->len, out);
    case CKK_EC_EDWARDS:
        a = either(pub, num_pub, priv, num_priv, CKA_EC_PARAMS);
        ARCA_ENSURE(a == NULL || ed25519_params_ok(a), ARCA_ERR_ATTRIBUTE_VALUE);
        ARCA_ENSURE(either(pub, num_pub, priv, num_priv, CKA_MODULUS_BITS) == NULL, ARCA_ERR_TEMPLATE_INCONSISTENT);
        return arca_key_generate_ed25519(out);
    default:
        return ARCA_ERR_MECHANISM;
    }
}

/* The halves of a pair share CKA_LABEL and CKA_ID: one given only for one
 * half is copied to the other. */
static arca_status share_attr(kms_attrs *pub, kms_attrs *priv, const arca_attr *tpub, size_t npub,
                              const arca_attr *tpriv, size_t npriv, uint32_t type)
{
    const arca_attr *a_pub = kms_tmpl_find(tpub, npub, type), *a_priv = kms_tmpl_find(tpriv, npriv, type);
    if (a_pub != NULL && a_priv == NULL) return kms_attrs_set(priv, type, a_pub->value, a_pub->len);
    if (a_priv != NULL && a_pub == NULL) return kms_attrs_set(pub, type, a_priv->value, a_priv->len);
    return ARCA_OK;
}

arca_status arca_kms_generate_key_pair(arca_kms *kms, arca_kms_session *sess, uint32_t mechanism,
                                       const arca_attr *pub_tmpl, size_t num_pub, const arca_attr *priv_tmpl,
                                       size_t num_priv, arca_object_id *out_pub, arca_object_id *out_priv)
{
    arca_status st;
    arca_key *priv_key = NULL, *pub_key = NULL;
    kms_attrs pub_attrs = {0}, priv_attrs = {0};
    kms_object *objs[2] = {NULL, NULL};
    arca_object_id ids[2];

    ARCA_ENSURE(kms != NULL && sess != NULL && out_pub != NULL && out_priv != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_GUARD(pair_generate(mechanism, pub_tmpl, num_pub, priv_tmpl, num_priv, &priv_key));
    ARCA_GUARD_OUT(arca_key_public_from_private(priv_key, &pub_key));
    ARCA_GUARD_OUT(kms_attrs_build(CKO_PUBLIC_KEY, pub_key, pub_tmpl, num_pub, KMS_ORIGIN_GENERATED, &pub_attrs));
    ARCA_GUARD_OUT(kms_attrs_build(CKO_PRIVATE_KEY, priv_key, priv_tmpl, num_priv, KMS_ORIGIN_GENERATED, &priv_attrs));
    ARCA_GUARD_OUT(share_attr(&pub_attrs, &priv_attrs, pub_tmpl, num_pub, priv_tmpl, num_priv, CKA_LABEL));
    ARCA_GUARD_OUT(share_attr(&pub_attrs, &priv_attrs, pub_tmpl, num_pub, priv_tmpl, num_priv, CKA_ID));
    st = kms_object_new(sess->partition_id, tmpl_token(pub_tmpl, num_pub), &pub_attrs, pub_key, &objs[0]);
    pub_key = NULL;
    ARCA_GUARD_OUT(st);
    st = kms_object_new(sess->partition_id, tmpl_token(priv_tmpl, num_priv), &priv_attrs, priv_key, &objs[1]);
    priv_key = NULL;
    ARCA_GUARD_OUT(st);
    ARCA_GUARD_OUT(kms_publish(kms, sess, objs, 2, ARCA_AUDIT_GENERATE_PAIR,
                               mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN ? "CKM_RSA_PKCS_KEY_PAIR_GEN"
                               : mechanism == CKM_EC_KEY_PAIR_GEN     ? "CKM_EC_KEY_PAIR_GEN"
                                                                      : "CKM_EC_EDWARDS_KEY_PAIR_GEN",
                               1, ids));
    *out_pub = ids[0];
    *out_priv = ids[1];
    objs[0] = objs[1] = NULL;
out:
    kms_object_free(objs[0]);
    kms_object_free(objs[1]);
    kms_attrs_free(&pub_attrs);
    kms_attrs_free(&priv_attrs);
    arca_key_free(priv_key);
    arca_key_free(pub_key);
    return st;
}

arca_status arca_kms_create_object(arca_kms *kms, arca_kms_session *sess, const arca_attr *tmpl, size_t num_attrs,
                                   arca_object_id *out_id)
{
    arca_status st;
    uint32_t cls, ktype, value_len;
    const arca_attr *v;
    arca_key *key = NULL;
    kms_attrs attrs = {0};
    kms_object *o = NULL;

    ARCA_ENSURE(kms != NULL && sess != NULL && out_id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_GUARD(kms_tmpl_check(tmpl, num_attrs));
    ARCA_ENSURE(kms_tmpl_u32(tmpl, num_attrs, CKA_CLASS, &cls), ARCA_ERR_TEMPLATE_INCOMPLETE);
    switch (cls) {
    case CKO_SECRET_KEY:
        ARCA_ENSURE(kms_tmpl_u32(tmpl, num_attrs, CKA_KEY_TYPE, &ktype), ARCA_ERR_TEMPLATE_INCOMPLETE);
        v = kms_tmpl_find(tmpl, num_attrs, CKA_VALUE);
        ARCA_ENSURE(v != NULL, ARCA_ERR_TEMPLATE_INCOMPLETE);
        if (kms_tmpl_u32(tmpl, num_attrs, CKA_VALUE_LEN, &value_len)) {
            ARCA_ENSURE(value_len == v->len, ARCA_ERR_TEMPLATE_INCONSISTENT);
        }
        ARCA_ENSURE(ktype == CKK_AES || ktype == CKK_GENERIC_SECRET, ARCA_ERR_ATTRIBUTE_VALUE);
        ARCA_GUARD(arca_key_from_secret(ktype, v->value, v->len, &key));
        break;
    case CKO_PRIVATE_KEY:
        v = kms_tmpl_find(tmpl, num_attrs, CKA_VALUE);
        ARCA_ENSURE(v != NULL, ARCA_ERR_TEMPLATE_INCOMPLETE);
        ARCA_GUARD(arca_key_from_private_der(v->value, v->len, &key));
        break;
    case CKO_PUBLIC_KEY:
        v = kms_tmpl_find(tmpl, num_attrs, CKA_PUBLIC_KEY_INFO);
        ARCA_ENSURE(v != NULL, ARCA_ERR_TEMPLATE_INCOMPLETE);
        ARCA_GUARD(arca_key_from_public_der(v->value, v->len, &key));
        break;
    default:
        return ARCA_ERR_ATTRIBUTE_VALUE;
    }
    ARCA_GUARD_OUT(kms_tmpl_expect_u32(tmpl, num_attrs, CKA_KEY_TYPE, arca_key_type(key)));
    ARCA_GUARD_OUT(kms_attrs_build(cls, key, tmpl, num_attrs, KMS_ORIGIN_IMPORTED, &attrs));
    st = kms_object_new(sess->partition_id, tmpl_token(tmpl, num_attrs), &attrs, key, &o);
    key = NULL;
    ARCA_GUARD_OUT(st);
    ARCA_GUARD_OUT(kms_publish(kms, sess, &o, 1, ARCA_AUDIT_IMPORT, NULL, 0, out_id));
    o = NULL;
out:
    kms_object_free(o);
    kms_attrs_free(&attrs);
    arca_key_free(key);
    return st;
}
