/* Key management for Arca keys (RSA, EC, Ed25519): a key object is a
 * reference to the appliance's private key plus its public half, an
 * ordinary EVP_PKEY of the default provider. Keys come only from this
 * provider's store (load); there is no import, so OpenSSL never moves a
 * foreign key into this provider: operations on keys that are not Arca's
 * stay where they are. Public parameters (bits, security bits, max size,
 * group, the public key) are answered from the public half; export hands
 * out the public half only. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
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

/* The public half only, whatever the selection asks (private key material
 * never leaves the appliance): so OpenSSL can compare an Arca key with a
 * certificate's key and encode the public key. */
static int km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    arca_prov_key *k = keydata;
    OSSL_PARAM *params = NULL;
    int ok;
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

#define KM_COMMON                                                                                                   \
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free}, {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_load},          \
        {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup}, {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},          \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params},                                             \
        {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_params},                                   \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match}, {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export}

const OSSL_DISPATCH arca_prov_rsa_keymgmt_functions[] = {
    KM_COMMON,
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))rsa_export_types},
    {0, NULL},
};
const OSSL_DISPATCH arca_prov_ec_keymgmt_functions[] = {
    KM_COMMON,
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ec_export_types},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ec_query_operation_name},
    {0, NULL},
};
const OSSL_DISPATCH arca_prov_ed25519_keymgmt_functions[] = {
    KM_COMMON,
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ed_export_types},
    {0, NULL},
};
