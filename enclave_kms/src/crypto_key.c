/* Key material: generation, import, serialisation and public attributes.
 * Symmetric values live in arca_secret; asymmetric keys in an EVP_PKEY
 * that stays parsed for the key's lifetime. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "arca/log.h"
#include "crypto_internal.h"

#define SECRET_MIN 1u
#define SECRET_MAX 512u

/* Serialised kinds (u8 kind | u32-prefixed payload). */
enum {
    KIND_AES = 1,     /* raw value */
    KIND_GENERIC = 2, /* raw value */
    KIND_PRIVATE = 3, /* PKCS#8 DER */
    KIND_PUBLIC = 4,  /* SPKI DER */
};

/* ---- algorithm objects, fetched once ---- */

static arca_algs g_algs;
static bool g_algs_ok;
static pthread_once_t g_algs_once = PTHREAD_ONCE_INIT;

static void algs_init(void)
{
    static const char *const gcm[3] = {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"};
    static const char *const cbc[3] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};
    static const char *const wrap[3] = {"AES-128-WRAP", "AES-192-WRAP", "AES-256-WRAP"};
    static const char *const wrap_pad[3] = {"AES-128-WRAP-PAD", "AES-192-WRAP-PAD", "AES-256-WRAP-PAD"};
    static const char *const ecb[3] = {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"};
    bool ok = true;

    g_algs.sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    g_algs.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    g_algs.sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
    g_algs.sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    ok = ok && g_algs.sha1 && g_algs.sha256 && g_algs.sha384 && g_algs.sha512;
    for (size_t i = 0; i < 3; i++) {
        g_algs.gcm[i] = EVP_CIPHER_fetch(NULL, gcm[i], NULL);
        g_algs.cbc[i] = EVP_CIPHER_fetch(NULL, cbc[i], NULL);
        g_algs.wrap[i] = EVP_CIPHER_fetch(NULL, wrap[i], NULL);
        g_algs.wrap_pad[i] = EVP_CIPHER_fetch(NULL, wrap_pad[i], NULL);
        g_algs.ecb[i] = EVP_CIPHER_fetch(NULL, ecb[i], NULL);
        ok = ok && g_algs.gcm[i] && g_algs.cbc[i] && g_algs.wrap[i] && g_algs.wrap_pad[i] && g_algs.ecb[i];
    }
    g_algs.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    g_algs.hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    g_algs.kbkdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
    ok = ok && g_algs.hmac && g_algs.hkdf && g_algs.kbkdf;
    if (!ok) arca_log_openssl_errors("crypto: fetching algorithms");
    g_algs_ok = ok;
}

const arca_algs *arca_crypto_algs(void)
{
    if (pthread_once(&g_algs_once, algs_init) != 0) return NULL;
    return g_algs_ok ? &g_algs : NULL;
}

int arca_aes_index(size_t key_len)
{
    switch (key_len) {
    case 16: return 0;
    case 24: return 1;
    case 32: return 2;
    default: return -1;
    }
}

/* ---- curves ---- */

static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_P521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t OID_ED25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

static const arca_curve CURVES[] = {
    {"prime256v1", OID_P256, sizeof(OID_P256), 32},
    {"secp384r1", OID_P384, sizeof(OID_P384), 48},
    {"secp521r1", OID_P521, sizeof(OID_P521), 66},
};

static const arca_curve *curve_by_oid(const uint8_t *der, size_t len)
{
    for (size_t i = 0; i < sizeof(CURVES) / sizeof(CURVES[0]); i++)
        if (der != NULL && len == CURVES[i].oid_der_len && memcmp(der, CURVES[i].oid_der, len) == 0)
            return &CURVES[i];
    return NULL;
}

bool arca_key_ec_params_is_ed25519(const uint8_t *der, size_t len)
{
    static const uint8_t PRINTABLE_ED25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};

    if (der == NULL) return false;
    return (len == sizeof(OID_ED25519) && memcmp(der, OID_ED25519, len) == 0) ||
           (len == sizeof(PRINTABLE_ED25519) && memcmp(der, PRINTABLE_ED25519, len) == 0);
}

const arca_curve *arca_curve_of_pkey(const EVP_PKEY *pkey)
{
    char name[64];
    size_t name_len = 0;

    if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &name_len) != 1) return NULL;
    for (size_t i = 0; i < sizeof(CURVES) / sizeof(CURVES[0]); i++)
        if (strcmp(name, CURVES[i].group) == 0) return &CURVES[i];
    /* OpenSSL also answers with NIST names for these groups. */
    if (strcmp(name, "P-256") == 0) return &CURVES[0];
    if (strcmp(name, "P-384") == 0) return &CURVES[1];
    if (strcmp(name, "P-521") == 0) return &CURVES[2];
    return NULL;
}

/* ---- construction ---- */

static arca_key *key_new(uint32_t type)
{
    arca_key *k = calloc(1, sizeof(*k));
    if (k != NULL) k->type = type;
    return k;
}

void arca_key_free(arca_key *k)
{
    if (k == NULL) return;
    arca_secret_free(&k->secret);
    EVP_PKEY_free(k->pkey);
    for (size_t i = 0; i < sizeof(k->hmac_tmpl) / sizeof(k->hmac_tmpl[0]); i++) EVP_MAC_CTX_free(k->hmac_tmpl[i]);
    arca_wipe(k, sizeof(*k));
    free(k);
}

static arca_status check_secret_size(uint32_t ckk_type, size_t len)
{
    switch (ckk_type) {
    case CKK_AES:
        ARCA_ENSURE(arca_aes_index(len) >= 0, ARCA_ERR_KEY_SIZE);
        return ARCA_OK;
    case CKK_GENERIC_SECRET:
        ARCA_ENSURE(len >= SECRET_MIN && len <= SECRET_MAX, ARCA_ERR_KEY_SIZE);
        return ARCA_OK;
    default:
        return ARCA_ERR_ATTRIBUTE_VALUE;
    }
}

arca_status arca_key_from_secret(uint32_t ckk_type, const uint8_t *value, size_t len, arca_key **out)
{
    arca_status st;
    arca_key *k = NULL;

    ARCA_ENSURE(out != NULL && (value != NULL || len == 0), ARCA_ERR_ARGS);
    ARCA_GUARD(check_secret_size(ckk_type, len));
    k = key_new(ckk_type);
    ARCA_ENSURE(k != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OUT(arca_secret_copy(&k->secret, value, len));
    k->bits = len * 8;
    *out = k;
    k = NULL;
out:
    arca_key_free(k);
    return st;
}

arca_status arca_key_generate_secret(uint32_t ckk_type, size_t value_len, arca_key **out)
{
    arca_status st;
    arca_key *k = NULL;

    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(check_secret_size(ckk_type, value_len));
    k = key_new(ckk_type);
    ARCA_ENSURE(k != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OUT(arca_secret_alloc(&k->secret, value_len));
    ARCA_GUARD_OSSL_OUT(RAND_priv_bytes(k->secret.data, (int)value_len));
    k->bits = value_len * 8;
    *out = k;
    k = NULL;
out:
    arca_key_free(k);
    return st;
}

arca_status arca_key_from_pkey(EVP_PKEY *pkey, bool has_private, arca_key **out)
{
    arca_status st = ARCA_OK;
    arca_key *k = NULL;
    uint32_t type = 0;
    const arca_curve *curve = NULL;
    size_t bits = 0;

    ARCA_ENSURE_OUT(pkey != NULL && out != NULL, ARCA_ERR_ARGS);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        type = CKK_RSA;
        bits = (size_t)EVP_PKEY_get_bits(pkey);
        ARCA_ENSURE_OUT(bits == 2048 || bits == 3072 || bits == 4096, ARCA_ERR_KEY_SIZE);
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        type = CKK_EC;
        curve = arca_curve_of_pkey(pkey);
        ARCA_ENSURE_OUT(curve != NULL, ARCA_ERR_ATTRIBUTE_VALUE);
        bits = (size_t)EVP_PKEY_get_bits(pkey);
        /* CKA_EC_POINT is always the uncompressed point. */
        ARCA_GUARD_OSSL_OUT(EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                           "uncompressed"));
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        type = CKK_EC_EDWARDS;
        bits = 255;
    } else {
        ARCA_ENSURE_OUT(false, ARCA_ERR_ATTRIBUTE_VALUE);
    }
    k = key_new(type);
    ARCA_ENSURE_OUT(k != NULL, ARCA_ERR_NOMEM);
    k->pkey = pkey;
    pkey = NULL;
    k->has_private = has_private;
    k->curve = curve;
    k->bits = bits;
    *out = k;
out:
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return st;
}

arca_status arca_key_generate_rsa(uint32_t modulus_bits, arca_key **out)
{
    EVP_PKEY *pkey;

    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(modulus_bits == 2048 || modulus_bits == 3072 || modulus_bits == 4096, ARCA_ERR_KEY_SIZE);
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)modulus_bits);
    if (pkey == NULL) {
        arca_log_openssl_errors("crypto: RSA key generation");
        return ARCA_ERR_CRYPTO;
    }
    return arca_key_from_pkey(pkey, true, out);
}

arca_status arca_key_generate_ec(const uint8_t *ec_params_der, size_t len, arca_key **out)
{
    const arca_curve *curve;
    EVP_PKEY *pkey;

    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    curve = curve_by_oid(ec_params_der, len);
    ARCA_ENSURE(curve != NULL, ARCA_ERR_ATTRIBUTE_VALUE);
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve->group);
    if (pkey == NULL) {
        arca_log_openssl_errors("crypto: EC key generation");
        return ARCA_ERR_CRYPTO;
    }
    return arca_key_from_pkey(pkey, true, out);
}

arca_status arca_key_generate_ed25519(arca_key **out)
{
    EVP_PKEY *pkey;

    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pkey == NULL) {
        arca_log_openssl_errors("crypto: Ed25519 key generation");
        return ARCA_ERR_CRYPTO;
    }
    return arca_key_from_pkey(pkey, true, out);
}

arca_status arca_key_from_private_der(const uint8_t *pkcs8, size_t len, arca_key **out)
{
    const unsigned char *p = pkcs8;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *cctx = NULL;
    arca_key *k = NULL;
    arca_builder trial = {0};
    arca_status st = ARCA_OK;

    ARCA_ENSURE(out != NULL && pkcs8 != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(len > 0 && len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_ATTRIBUTE_VALUE);
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    /* The whole input, nothing trailing. */
    ARCA_ENSURE_OUT(p8 != NULL && p == pkcs8 + len, ARCA_ERR_ATTRIBUTE_VALUE);
    pkey = EVP_PKCS82PKEY(p8);
    ARCA_ENSURE_OUT(pkey != NULL, ARCA_ERR_ATTRIBUTE_VALUE);
    /* A private key whose public half does not belong to it (an EC point
     * that is not d*G, an RSA n that is not p*q) is refused: found by
     * fuzzing, such a key parsed but could not be written back. */
    cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    ARCA_ENSURE_OUT(cctx != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE_OUT(EVP_PKEY_pairwise_check(cctx) == 1, ARCA_ERR_ATTRIBUTE_VALUE);
    st = arca_key_from_pkey(pkey, true, &k);
    pkey = NULL;
    ARCA_GUARD_OUT(st);
    /* What is accepted must serialise (it will be sealed). */
    ARCA_GUARD_OUT(arca_builder_init_secret(&trial, 4096, ARCA_ATTR_VALUE_MAX));
    st = arca_key_private_der(k, &trial);
    ARCA_ENSURE_OUT(st == ARCA_OK, ARCA_ERR_ATTRIBUTE_VALUE);
    *out = k;
    k = NULL;
out:
    arca_builder_cleanup(&trial);
    arca_key_free(k);
    EVP_PKEY_CTX_free(cctx);
    PKCS8_PRIV_KEY_INFO_free(p8); /* clears the key octets */
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return st;
}

arca_status arca_key_from_public_der(const uint8_t *spki, size_t len, arca_key **out)
{
    const unsigned char *p = spki;
    EVP_PKEY *pkey;

    ARCA_ENSURE(out != NULL && spki != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(len > 0 && len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_ATTRIBUTE_VALUE);
    pkey = d2i_PUBKEY(NULL, &p, (long)len);
    if (pkey == NULL || p != spki + len) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return ARCA_ERR_ATTRIBUTE_VALUE;
    }
    return arca_key_from_pkey(pkey, false, out);
}

arca_status arca_key_public_from_private(const arca_key *priv, arca_key **out)
{
    arca_status st;
    arca_builder b = {0};
    uint8_t *der = NULL;
    size_t der_len = 0;

    ARCA_ENSURE(priv != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(priv->pkey != NULL, ARCA_ERR_KEY_TYPE);
    ARCA_GUARD(arca_builder_init(&b, 512, ARCA_ATTR_VALUE_MAX));
    ARCA_GUARD_OUT(arca_key_public_info(priv, &b));
    ARCA_GUARD_OUT(arca_builder_finish(&b, &der, &der_len));
    st = arca_key_from_public_der(der, der_len, out);
out:
    arca_builder_cleanup(&b);
    free(der);
    return st;
}

/* ---- properties ---- */

uint32_t arca_key_type(const arca_key *k) { return k->type; }
bool arca_key_is_private(const arca_key *k) { return k->pkey != NULL && k->has_private; }
bool arca_key_is_secret(const arca_key *k) { return k->pkey == NULL; }
size_t arca_key_bits(const arca_key *k) { return k->bits; }

size_t arca_key_mem_estimate(const arca_key *k)
{
    size_t base = sizeof(*k) + k->secret.len;

    switch (k->type) {
    case CKK_RSA: return base + 6 * (k->bits / 8) + 1024; /* n, e, d, p, q, CRT values, BN_CTX */
    case CKK_EC: return base + 8 * (k->bits / 8) + 1024;
    case CKK_EC_EDWARDS: return base + 512;
    case CKK_GENERIC_SECRET: return base + 3 * 1024; /* up to three keyed HMAC contexts (hmac_tmpl) */
    default: return base;
    }
}

/* ---- serialisation ---- */

arca_status arca_key_private_der(const arca_key *k, arca_builder *out)
{
    arca_status st = ARCA_OK;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *p;
    uint8_t *dst = NULL;
    int n;

    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(arca_key_is_private(k), ARCA_ERR_KEY_TYPE);
    p8 = EVP_PKEY2PKCS8(k->pkey);
    ARCA_ENSURE_OUT(p8 != NULL, ARCA_ERR_CRYPTO);
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
    /* Encode straight into the (secret) builder: no temporary copy. */
    ARCA_GUARD_OUT(arca_builder_reserve(out, (size_t)n, &dst));
    p = dst;
    ARCA_ENSURE_OUT(i2d_PKCS8_PRIV_KEY_INFO(p8, &p) == n, ARCA_ERR_CRYPTO);
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (st != ARCA_OK) ERR_clear_error();
    return st;
}

arca_status arca_key_serialize(const arca_key *k, arca_builder *out)
{
    size_t start;

    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    if (arca_key_is_secret(k)) {
        ARCA_GUARD(arca_builder_add_u8(out, k->type == CKK_AES ? KIND_AES : KIND_GENERIC));
        return arca_builder_add_u32_prefixed(out, k->secret.data, k->secret.len);
    }
    ARCA_GUARD(arca_builder_add_u8(out, arca_key_is_private(k) ? KIND_PRIVATE : KIND_PUBLIC));
    /* Length patched in once the DER is written straight into the builder. */
    start = out->len;
    ARCA_GUARD(arca_builder_add_u32(out, 0));
    ARCA_GUARD(arca_key_is_private(k) ? arca_key_private_der(k, out) : arca_key_public_info(k, out));
    ARCA_ENSURE(out->len - start - 4 <= UINT32_MAX, ARCA_ERR_TOO_LARGE);
    return arca_builder_patch_u32(out, start, (uint32_t)(out->len - start - 4));
}

arca_status arca_key_deserialize(arca_cursor *c, arca_key **out)
{
    uint8_t kind;
    size_t n;
    const uint8_t *payload;
    arca_status st;
    arca_cursor body;
    arca_key *k = NULL;

    ARCA_ENSURE(c != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_cursor_get_u8(c, &kind));
    ARCA_GUARD(arca_cursor_get_u32_prefixed(c, &body));
    ARCA_GUARD(arca_cursor_finish(c));
    n = arca_cursor_remaining(&body);
    ARCA_GUARD(arca_cursor_get_bytes(&body, n, &payload));
    switch (kind) {
    case KIND_AES: st = arca_key_from_secret(CKK_AES, payload, n, &k); break;
    case KIND_GENERIC: st = arca_key_from_secret(CKK_GENERIC_SECRET, payload, n, &k); break;
    case KIND_PRIVATE: st = n > 0 ? arca_key_from_private_der(payload, n, &k) : ARCA_ERR_DECODE; break;
    case KIND_PUBLIC: st = n > 0 ? arca_key_from_public_der(payload, n, &k) : ARCA_ERR_DECODE; break;
    default: st = ARCA_ERR_DECODE; break;
    }
    /* Any malformed payload is a decoding failure of the serialised form. */
    if (st != ARCA_OK) return st == ARCA_ERR_NOMEM ? st : ARCA_ERR_DECODE;
    *out = k;
    return ARCA_OK;
}

/* ---- public attributes ---- */

arca_status arca_key_public_info(const arca_key *k, arca_builder *out)
{
    uint8_t *dst = NULL;
    unsigned char *p;
    int n;

    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(k->pkey != NULL, ARCA_ERR_ATTRIBUTE_TYPE);
    n = i2d_PUBKEY(k->pkey, NULL);
    ARCA_ENSURE(n > 0, ARCA_ERR_CRYPTO);
    ARCA_GUARD(arca_builder_reserve(out, (size_t)n, &dst));
    p = dst;
    ARCA_ENSURE(i2d_PUBKEY(k->pkey, &p) == n, ARCA_ERR_CRYPTO);
    return ARCA_OK;
}

static arca_status add_bn_param(const arca_key *k, const char *name, arca_builder *out)
{
    arca_status st = ARCA_OK;
    BIGNUM *bn = NULL;
    uint8_t *dst = NULL;
    int n;

    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(k->type == CKK_RSA, ARCA_ERR_ATTRIBUTE_TYPE);
    ARCA_GUARD_OSSL(EVP_PKEY_get_bn_param(k->pkey, name, &bn));
    n = BN_num_bytes(bn);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OUT(arca_builder_reserve(out, (size_t)n, &dst));
    ARCA_ENSURE_OUT(BN_bn2bin(bn, dst) == n, ARCA_ERR_CRYPTO);
out:
    BN_free(bn);
    return st;
}

arca_status arca_key_rsa_modulus(const arca_key *k, arca_builder *out)
{
    return add_bn_param(k, OSSL_PKEY_PARAM_RSA_N, out);
}

arca_status arca_key_rsa_public_exponent(const arca_key *k, arca_builder *out)
{
    return add_bn_param(k, OSSL_PKEY_PARAM_RSA_E, out);
}

arca_status arca_key_ec_params(const arca_key *k, arca_builder *out)
{
    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    if (k->type == CKK_EC) return arca_builder_add_bytes(out, k->curve->oid_der, k->curve->oid_der_len);
    if (k->type == CKK_EC_EDWARDS) return arca_builder_add_bytes(out, OID_ED25519, sizeof(OID_ED25519));
    return ARCA_ERR_ATTRIBUTE_TYPE;
}

arca_status arca_key_ec_point(const arca_key *k, arca_builder *out)
{
    uint8_t point[1 + 2 * 66];
    size_t point_len = 0;

    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(k->type == CKK_EC || k->type == CKK_EC_EDWARDS, ARCA_ERR_ATTRIBUTE_TYPE);
    ARCA_GUARD_OSSL(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
                                                    &point_len));
    ARCA_ENSURE(point_len > 0 && point_len < 256, ARCA_ERR_CRYPTO);
    /* DER OCTET STRING around the point. */
    ARCA_GUARD(arca_builder_add_u8(out, 0x04));
    if (point_len >= 0x80) ARCA_GUARD(arca_builder_add_u8(out, 0x81));
    ARCA_GUARD(arca_builder_add_u8(out, (uint8_t)point_len));
    return arca_builder_add_bytes(out, point, point_len);
}

arca_status arca_key_secret_value(const arca_key *k, arca_builder *out)
{
    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(arca_key_is_secret(k), ARCA_ERR_ATTRIBUTE_TYPE);
    return arca_builder_add_bytes(out, k->secret.data, k->secret.len);
}

arca_status arca_key_check_value(const arca_key *k, arca_builder *out)
{
    arca_status st = ARCA_OK;
    uint8_t buf[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int outl = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    arca_builder spki = {0};
    const arca_algs *algs = arca_crypto_algs();

    ARCA_ENSURE(k != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(algs != NULL, ARCA_ERR_CRYPTO);
    if (k->type == CKK_AES) {
        static const uint8_t zero[16];
        ctx = EVP_CIPHER_CTX_new();
        ARCA_ENSURE_OUT(ctx != NULL, ARCA_ERR_NOMEM);
        ARCA_GUARD_OSSL_OUT(
            EVP_EncryptInit_ex2(ctx, algs->ecb[arca_aes_index(k->secret.len)], k->secret.data, NULL, NULL));
        ARCA_GUARD_OSSL_OUT(EVP_CIPHER_CTX_set_padding(ctx, 0));
        ARCA_GUARD_OSSL_OUT(EVP_EncryptUpdate(ctx, buf, &outl, zero, sizeof(zero)));
        ARCA_ENSURE_OUT(outl == 16, ARCA_ERR_CRYPTO);
    } else if (k->type == CKK_GENERIC_SECRET) {
        ARCA_GUARD_OSSL_OUT(EVP_Digest(k->secret.data, k->secret.len, buf, &md_len, algs->sha1, NULL));
    } else {
        uint8_t *der = NULL;
        size_t der_len = 0;
        ARCA_GUARD_OUT(arca_builder_init(&spki, 512, ARCA_ATTR_VALUE_MAX));
        ARCA_GUARD_OUT(arca_key_public_info(k, &spki));
        der = spki.data;
        der_len = spki.len;
        ARCA_GUARD_OSSL_OUT(EVP_Digest(der, der_len, buf, &md_len, algs->sha1, NULL));
    }
    ARCA_GUARD_OUT(arca_builder_add_bytes(out, buf, 3));
out:
    arca_wipe(buf, sizeof(buf));
    EVP_CIPHER_CTX_free(ctx);
    arca_builder_cleanup(&spki);
    return st;
}
