/* Key management for Arca keys (RSA, EC, Ed25519): a key object is a
 * reference to the appliance's private key plus its public half, an
 * ordinary EVP_PKEY of the default provider. Keys come from this
 * provider's store (load) or are generated in the appliance (gen, with the
 * parameter arca-label naming the new key); there is no import, so OpenSSL
 * never moves a foreign key into this provider: operations on keys that
 * are not Arca's stay where they are. Public parameters (bits, security
 * bits, max size, group, the public key) are answered from the public
 * half; export hands out the public half only, and refuses a selection
 * that asks for the private key (see km_export: that refusal is what lets
 * OpenSSL 3.0 fall back to this provider's signature when another
 * provider is listed first). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <string.h>

#include "prov.h"

static void km_free(void *keydata)
{
    arca_prov_key_free(keydata);
}

/* reference: the bytes of a pointer to a key object of this provider,
 * handed out by its store; the store keeps its own reference until closed. */
static void *km_load(const void *reference, size_t reference_sz)
{
    arca_prov_key *k;
    if (reference == NULL || reference_sz != sizeof k) return NULL;
    memcpy(&k, reference, sizeof k);
    if (k == NULL || k->magic != ARCA_PROV_KEY_MAGIC) return NULL;
    return arca_prov_key_ref(k);
}

static void *km_dup(const void *keydata, int selection)
{
    /* Key objects never change after the store made them: share one. */
    return arca_prov_key_ref((arca_prov_key *)keydata);
}

static int km_has(const void *keydata, int selection)
{
    const arca_prov_key *k = keydata;
    if (k == NULL) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !k->has_private) return 0;
    return k->pub != NULL;
}

static int km_get_params(void *keydata, OSSL_PARAM params[])
{
    arca_prov_key *k = keydata;
    OSSL_PARAM *q;
    /* Everything public (bits, security-bits, max-size, group, encoded
     * public key, default digest) is the public half's answer. */
    if (!EVP_PKEY_get_params(k->pub, params)) return 0;
    if (k->type == ARCA_PROV_KEY_ED25519 &&
        (q = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MANDATORY_DIGEST)) != NULL && !OSSL_PARAM_set_utf8_string(q, ""))
        return 0;
    return 1;
}

static const OSSL_PARAM *km_gettable_params(void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}

static int km_match(const void *keydata1, const void *keydata2, int selection)
{
    const arca_prov_key *a = keydata1, *b = keydata2;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
        (a->has_private != b->has_private || memcmp(a->id.b, b->id.b, sizeof a->id.b) != 0))
        return 0;
    return EVP_PKEY_eq(a->pub, b->pub) == 1;
}

/* The public half (so OpenSSL can compare an Arca key with a certificate's
 * key and encode the public key). A selection that includes the private
 * key is refused: private key material never leaves the appliance, and
 * handing out the public half as if it were the whole key would let
 * OpenSSL 3.0 "export" an Arca key to another provider listed before
 * arca and sign there with a public key only ("missing private key").
 * Refused, EVP_PKEY_sign_init and friends try the key's own provider next
 * (evp_pkey_signature_init's second pass): `-provider default -provider
 * arca` works. */
static int km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    arca_prov_key *k = keydata;
    OSSL_PARAM *params = NULL;
    int ok;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) return 0;
    if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) == 0) return 0;
    if (EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params) != 1) return 0;
    ok = cb(params, cbarg);
    OSSL_PARAM_free(params);
    return ok;
}

static const OSSL_PARAM *rsa_export_types(int selection)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}

static const OSSL_PARAM *ec_export_types(int selection)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}

static const OSSL_PARAM *ed_export_types(int selection)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}

static const char *ec_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}


/* ---- Generation in the appliance ---------------------------------------- */

/* = ARCA_LABEL_MAX of enclave_kms/include/arca/kms.h (the keystore's cap;
 * that header is the enclave's, not a client one) */
#define GEN_LABEL_MAX 256u

/* DER OIDs of the curves the appliance offers (CKA_EC_PARAMS). */
static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_P521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

typedef struct gen_ctx {
    arca_prov *prov;
    arca_prov_key_type type;
    char label[GEN_LABEL_MAX + 1]; /* "" = not set */
    const uint8_t *ec_oid;         /* EC: the group; NULL = not set */
    size_t ec_oid_len;
    size_t bits; /* RSA modulus bits */
} gen_ctx;

static const struct {
    const char *name;
    const uint8_t *oid;
    size_t oid_len;
} groups[] = {
    {"P-256", OID_P256, sizeof OID_P256}, {"prime256v1", OID_P256, sizeof OID_P256},
    {"secp256r1", OID_P256, sizeof OID_P256}, {"P-384", OID_P384, sizeof OID_P384},
    {"secp384r1", OID_P384, sizeof OID_P384}, {"P-521", OID_P521, sizeof OID_P521},
    {"secp521r1", OID_P521, sizeof OID_P521},
};

static int gen_set_params(void *vctx, const OSSL_PARAM params[])
{
    gen_ctx *g = vctx;
    const OSSL_PARAM *q;
    if (params == NULL) return 1;
    if ((q = OSSL_PARAM_locate_const(params, ARCA_PROV_PARAM_LABEL)) != NULL) {
        const char *v = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(q, &v) || v[0] == '\0' || strlen(v) > GEN_LABEL_MAX) {
            arca_prov_error(g->prov, ARCA_PROV_R_GEN, "arca-label must be 1 to %u bytes", GEN_LABEL_MAX);
            return 0;
        }
        memcpy(g->label, v, strlen(v) + 1);
    }
    if (g->type == ARCA_PROV_KEY_EC && (q = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL) {
        const char *v = NULL;
        size_t i;
        if (!OSSL_PARAM_get_utf8_string_ptr(q, &v)) return 0;
        for (i = 0; i < sizeof groups / sizeof groups[0]; i++) {
            if (OPENSSL_strcasecmp(v, groups[i].name) == 0) break;
        }
        if (i == sizeof groups / sizeof groups[0]) {
            arca_prov_error(g->prov, ARCA_PROV_R_GEN, "group '%s' is not offered by the appliance (P-256, P-384, P-521)",
                            v);
            return 0;
        }
        g->ec_oid = groups[i].oid;
        g->ec_oid_len = groups[i].oid_len;
    }
    if (g->type == ARCA_PROV_KEY_RSA && (q = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS)) != NULL) {
        size_t bits = 0;
        if (!OSSL_PARAM_get_size_t(q, &bits)) return 0;
        if (bits < 2048 || bits > 4096) {
            arca_prov_error(g->prov, ARCA_PROV_R_GEN, "RSA keys in the appliance are 2048 to 4096 bits, not %zu", bits);
            return 0;
        }
        g->bits = bits;
    }
    if (g->type == ARCA_PROV_KEY_RSA && (q = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_PRIMES)) != NULL) {
        size_t primes = 0;
        if (!OSSL_PARAM_get_size_t(q, &primes) || primes != 2) {
            arca_prov_error(g->prov, ARCA_PROV_R_GEN, "RSA keys in the appliance have 2 primes");
            return 0;
        }
    }
    return 1;
}

static const OSSL_PARAM *gen_settable_common(void)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_utf8_string(ARCA_PROV_PARAM_LABEL, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}
static const OSSL_PARAM *ed_gen_settable_params(void *vctx, void *provctx)
{
    return gen_settable_common();
}
static const OSSL_PARAM *ec_gen_settable_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_utf8_string(ARCA_PROV_PARAM_LABEL, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}
static const OSSL_PARAM *rsa_gen_settable_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_utf8_string(ARCA_PROV_PARAM_LABEL, NULL, 0),
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_PRIMES, NULL),
        OSSL_PARAM_END,
    };
    return t;
}

static void *gen_init(void *provctx, int selection, const OSSL_PARAM params[], arca_prov_key_type type)
{
    gen_ctx *g;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) return NULL; /* no parameter-only generation */
    g = OPENSSL_zalloc(sizeof *g);
    if (g == NULL) return NULL;
    g->prov = provctx;
    g->type = type;
    g->bits = 2048;
    if (!gen_set_params(g, params)) {
        OPENSSL_free(g);
        return NULL;
    }
    return g;
}
static void *rsa_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return gen_init(provctx, selection, params, ARCA_PROV_KEY_RSA);
}
static void *ec_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return gen_init(provctx, selection, params, ARCA_PROV_KEY_EC);
}
static void *ed_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return gen_init(provctx, selection, params, ARCA_PROV_KEY_ED25519);
}

static void gen_cleanup(void *vctx)
{
    OPENSSL_free(vctx);
}

typedef struct attrs {
    arca_lp_attr a[8];
    uint8_t store[8][4];
    size_t n;
} attrs;

static void attr_bytes(attrs *t, uint32_t type, const void *v, size_t len)
{
    t->a[t->n] = (arca_lp_attr){type, v, len};
    t->n++;
}
static void attr_u32(attrs *t, uint32_t type, uint32_t v)
{
    uint8_t *s = t->store[t->n];
    s[0] = (uint8_t)(v >> 24);
    s[1] = (uint8_t)(v >> 16);
    s[2] = (uint8_t)(v >> 8);
    s[3] = (uint8_t)v;
    attr_bytes(t, type, s, 4);
}
static void attr_bool(attrs *t, uint32_t type, bool v)
{
    t->store[t->n][0] = v ? 1 : 0;
    attr_bytes(t, type, t->store[t->n], 1);
}

/* Generate the pair in the appliance (token objects, private key
 * sensitive and not extractable, the keystore's default usages, as
 * `kms-client key generate` makes them) and return it as a key object.
 * The label must be free: a second key pair under one label would make
 * arca:label=NAME ambiguous. */
static void *gen(void *vctx, OSSL_CALLBACK *cb, void *cbarg)
{
    gen_ctx *g = vctx;
    arca_prov *p = g->prov;
    arca_client *c = NULL;
    attrs pub, priv;
    uint32_t ckk, mech;
    arca_client_id pub_id, priv_id, found[1];
    arca_lp_attr by_label;
    size_t num = 0;
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    arca_prov_key *k = NULL;
    arca_status st;

    if (g->label[0] == '\0') {
        arca_prov_error(p, ARCA_PROV_R_GEN,
                        "no arca-label: name the new key with -pkeyopt arca-label:NAME (a key generated by the arca "
                        "provider lives in the appliance)");
        return NULL;
    }
    if (g->type == ARCA_PROV_KEY_EC && g->ec_oid == NULL) {
        arca_prov_error(p, ARCA_PROV_R_GEN, "no EC group: give -pkeyopt group:P-256 (or P-384, P-521)");
        return NULL;
    }
    memset(&pub, 0, sizeof pub);
    memset(&priv, 0, sizeof priv);
    switch (g->type) {
    case ARCA_PROV_KEY_RSA:
        ckk = CKK_RSA;
        mech = CKM_RSA_PKCS_KEY_PAIR_GEN;
        break;
    case ARCA_PROV_KEY_EC:
        ckk = CKK_EC;
        mech = CKM_EC_KEY_PAIR_GEN;
        break;
    case ARCA_PROV_KEY_ED25519:
        ckk = CKK_EC_EDWARDS;
        mech = CKM_EC_EDWARDS_KEY_PAIR_GEN;
        break;
    default: arca_prov_error(p, ARCA_PROV_R_INTERNAL, "key type %d", (int)g->type); return NULL;
    }
    attr_u32(&pub, CKA_CLASS, CKO_PUBLIC_KEY);
    attr_u32(&priv, CKA_CLASS, CKO_PRIVATE_KEY);
    attr_u32(&pub, CKA_KEY_TYPE, ckk);
    attr_u32(&priv, CKA_KEY_TYPE, ckk);
    if (g->type == ARCA_PROV_KEY_RSA) attr_u32(&pub, CKA_MODULUS_BITS, (uint32_t)g->bits);
    if (g->type == ARCA_PROV_KEY_EC) attr_bytes(&pub, CKA_EC_PARAMS, g->ec_oid, g->ec_oid_len);
    attr_bytes(&pub, CKA_LABEL, g->label, strlen(g->label));
    attr_bytes(&priv, CKA_LABEL, g->label, strlen(g->label));
    attr_bool(&pub, CKA_TOKEN, true);
    attr_bool(&priv, CKA_TOKEN, true);
    attr_bool(&priv, CKA_EXTRACTABLE, false);
    attr_bool(&priv, CKA_SENSITIVE, true);

    if (arca_prov_acquire(p, &c) != ARCA_OK) return NULL;
    /* Is the label taken (by any object: a key pair, a public key, a secret)? */
    by_label = (arca_lp_attr){CKA_LABEL, (const uint8_t *)g->label, strlen(g->label)};
    st = arca_client_find(c, &by_label, 1, found, 1, &num);
    if (st == ARCA_OK && num > 0) {
        arca_prov_error(p, ARCA_PROV_R_GEN, "label '%s' is taken in the Arca partition: choose another arca-label",
                        g->label);
        st = ARCA_ERR_EXISTS;
        goto out;
    }
    if (st != ARCA_OK) {
        arca_prov_error_status(p, st, "find label", arca_client_last_message(c));
        goto out;
    }
    st = arca_client_generate_key_pair(c, mech, pub.a, pub.n, priv.a, priv.n, &pub_id, &priv_id);
    if (st != ARCA_OK) {
        arca_prov_error_status(p, st, "generate key pair", arca_client_last_message(c));
        goto out;
    }
    st = arca_client_get_attribute(c, &priv_id, CKA_PUBLIC_KEY_INFO, &spki, &spki_len);
    if (st != ARCA_OK) {
        arca_prov_error_status(p, st, "public key", arca_client_last_message(c));
        goto out;
    }
    st = arca_prov_key_from_spki(p, g->type, true, &priv_id, spki, spki_len, &k);
out:
    arca_prov_release(p, c, st);
    free(spki);
    return st == ARCA_OK ? k : NULL;
}

#define KM_GEN(prefix)                                                                                              \
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))prefix##_gen_init},                                               \
        {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))gen_set_params},                                        \
        {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))prefix##_gen_settable_params},                     \
        {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))gen}, {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))gen_cleanup}

#define KM_COMMON                                                                                                   \
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free}, {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_load},          \
        {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup}, {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},          \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params},                                             \
        {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_params},                                   \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match}, {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export}

const OSSL_DISPATCH arca_prov_rsa_keymgmt_functions[] = {
    KM_COMMON,
    KM_GEN(rsa),
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))rsa_export_types},
    {0, NULL},
};
const OSSL_DISPATCH arca_prov_ec_keymgmt_functions[] = {
    KM_COMMON,
    KM_GEN(ec),
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ec_export_types},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ec_query_operation_name},
    {0, NULL},
};
const OSSL_DISPATCH arca_prov_ed25519_keymgmt_functions[] = {
    KM_COMMON,
    KM_GEN(ed),
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ed_export_types},
    {0, NULL},
};
