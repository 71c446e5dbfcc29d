/* The cryptographic operations: sign/verify, encrypt/decrypt, wrap/unwrap,
 * derive, random. Every operation works on an already parsed key and on
 * algorithm objects fetched once; plaintext and key bytes only ever sit in
 * secret memory (arca_secret) or the caller's builder. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "arca/log.h"
#include "crypto_internal.h"

/* Input cap: the largest operation input plus room for IV/tag/padding. */
#define CRYPTO_MAX_INPUT ((size_t)ARCA_DATA_MAX + 1024u)
#define GCM_IV_LEN 12u
#define CBC_IV_LEN 16u
#define MAX_SIG_LEN 1024u
#define HKDF_MAX_INFO 1024u

/* ---- mechanism table ---- */

#define OPS_SIGN ((1u << ARCA_OP_SIGN) | (1u << ARCA_OP_VERIFY))
#define OPS_CRYPT ((1u << ARCA_OP_ENCRYPT) | (1u << ARCA_OP_DECRYPT))
#define OPS_WRAP ((1u << ARCA_OP_WRAP) | (1u << ARCA_OP_UNWRAP))
#define OPS_DERIVE (1u << ARCA_OP_DERIVE)

static const struct {
    uint32_t mech;
    uint32_t ops;
} MECHS[] = {
    {CKM_RSA_PKCS, OPS_SIGN | OPS_CRYPT},
    {CKM_SHA256_RSA_PKCS, OPS_SIGN},
    {CKM_SHA384_RSA_PKCS, OPS_SIGN},
    {CKM_SHA512_RSA_PKCS, OPS_SIGN},
    {CKM_RSA_PKCS_PSS, OPS_SIGN},
    {CKM_SHA256_RSA_PKCS_PSS, OPS_SIGN},
    {CKM_SHA384_RSA_PKCS_PSS, OPS_SIGN},
    {CKM_SHA512_RSA_PKCS_PSS, OPS_SIGN},
    {CKM_ECDSA, OPS_SIGN},
    {CKM_ECDSA_SHA256, OPS_SIGN},
    {CKM_ECDSA_SHA384, OPS_SIGN},
    {CKM_ECDSA_SHA512, OPS_SIGN},
    {CKM_EDDSA, OPS_SIGN},
    {CKM_SHA256_HMAC, OPS_SIGN},
    {CKM_SHA384_HMAC, OPS_SIGN},
    {CKM_SHA512_HMAC, OPS_SIGN},
    {CKM_AES_GCM, OPS_CRYPT},
    {CKM_AES_CBC_PAD, OPS_CRYPT},
    {CKM_RSA_PKCS_OAEP, OPS_CRYPT | OPS_WRAP},
    {CKM_AES_KEY_WRAP, OPS_WRAP},
    {CKM_AES_KEY_WRAP_KWP, OPS_WRAP},
    {CKM_ECDH1_DERIVE, OPS_DERIVE},
    {CKM_HKDF_DERIVE, OPS_DERIVE},
    {CKM_SP800_108_COUNTER_KDF, OPS_DERIVE},
};

bool arca_crypto_mechanism_allowed(uint32_t mechanism, arca_crypto_op op)
{
    switch (op) {
    case ARCA_OP_SIGN:
    case ARCA_OP_VERIFY:
    case ARCA_OP_ENCRYPT:
    case ARCA_OP_DECRYPT:
    case ARCA_OP_WRAP:
    case ARCA_OP_UNWRAP:
    case ARCA_OP_DERIVE: break;
    default: return false;
    }
    for (size_t i = 0; i < sizeof(MECHS) / sizeof(MECHS[0]); i++)
        if (MECHS[i].mech == mechanism) return (MECHS[i].ops & (1u << op)) != 0;
    return false;
}

/* ---- small helpers ---- */

static const EVP_MD *md_for_hash(const arca_algs *a, uint32_t ckm, bool allow_sha1)
{
    switch (ckm) {
    case CKM_SHA_1: return allow_sha1 ? a->sha1 : NULL;
    case CKM_SHA256: return a->sha256;
    case CKM_SHA384: return a->sha384;
    case CKM_SHA512: return a->sha512;
    default: return NULL;
    }
}

static const char *md_name_for_hash(uint32_t ckm)
{
    switch (ckm) {
    case CKM_SHA256: return "SHA256";
    case CKM_SHA384: return "SHA384";
    case CKM_SHA512: return "SHA512";
    default: return NULL;
    }
}

static const EVP_MD *md_for_mgf(const arca_algs *a, uint32_t mgf)
{
    switch (mgf) {
    case CKG_MGF1_SHA1: return a->sha1;
    case CKG_MGF1_SHA256: return a->sha256;
    case CKG_MGF1_SHA384: return a->sha384;
    case CKG_MGF1_SHA512: return a->sha512;
    default: return NULL;
    }
}

/* Copy a library output into the builder and wipe the library's copy. */
static arca_status add_and_wipe(arca_builder *out, arca_secret *tmp, size_t n)
{
    arca_status st = arca_builder_add_bytes(out, tmp->data, n);
    arca_secret_free(tmp);
    return st;
}

static size_t rsa_bytes(const arca_key *k) { return (size_t)EVP_PKEY_get_size(k->pkey); }

/* ---- signatures ---- */

typedef enum sig_family {
    SIG_RSA_PKCS,     /* PKCS#1 v1.5 */
    SIG_RSA_PSS,
    SIG_ECDSA,
    SIG_EDDSA,
    SIG_HMAC,
} sig_family;

typedef struct sig_plan {
    sig_family family;
    const EVP_MD *md;     /* hash-then-sign digest; NULL when the input is the hash / raw */
    const EVP_MD *in_md;  /* raw PSS: the hash the input is */
    const EVP_MD *mgf_md; /* PSS */
    int salt_len;         /* PSS */
    const char *hmac_md;  /* HMAC digest name */
} sig_plan;

static arca_status sig_plan_make(const arca_algs *a, const arca_key *k, const arca_mechanism *m, size_t len,
                                 sig_plan *p)
{
    uint32_t implied = 0;

    memset(p, 0, sizeof(*p));
    switch (m->type) {
    case CKM_RSA_PKCS:
        ARCA_ENSURE(k->type == CKK_RSA, ARCA_ERR_KEY_TYPE);
        ARCA_ENSURE(len > 0 && len + 11 <= rsa_bytes(k), ARCA_ERR_DATA_LEN);
        p->family = SIG_RSA_PKCS;
        return ARCA_OK;
    case CKM_SHA256_RSA_PKCS:
    case CKM_SHA384_RSA_PKCS:
    case CKM_SHA512_RSA_PKCS:
        ARCA_ENSURE(k->type == CKK_RSA, ARCA_ERR_KEY_TYPE);
        p->family = SIG_RSA_PKCS;
        p->md = m->type == CKM_SHA256_RSA_PKCS ? a->sha256 : m->type == CKM_SHA384_RSA_PKCS ? a->sha384 : a->sha512;
        return ARCA_OK;
    case CKM_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS:
    case CKM_SHA384_RSA_PKCS_PSS:
    case CKM_SHA512_RSA_PKCS_PSS: {
        const EVP_MD *h;
        ARCA_ENSURE(k->type == CKK_RSA, ARCA_ERR_KEY_TYPE);
        p->family = SIG_RSA_PSS;
        if (m->type == CKM_SHA256_RSA_PKCS_PSS) implied = CKM_SHA256;
        if (m->type == CKM_SHA384_RSA_PKCS_PSS) implied = CKM_SHA384;
        if (m->type == CKM_SHA512_RSA_PKCS_PSS) implied = CKM_SHA512;
        if (implied != 0) {
            ARCA_ENSURE(m->hash == 0 || m->hash == implied, ARCA_ERR_MECHANISM_PARAM);
            h = md_for_hash(a, implied, false);
            p->md = h;
        } else {
            h = md_for_hash(a, m->hash, true);
            ARCA_ENSURE(h != NULL, ARCA_ERR_MECHANISM_PARAM);
            ARCA_ENSURE(len == (size_t)EVP_MD_get_size(h), ARCA_ERR_DATA_LEN);
            p->in_md = h;
        }
        p->mgf_md = m->mgf == 0 ? h : md_for_mgf(a, m->mgf);
        ARCA_ENSURE(p->mgf_md != NULL, ARCA_ERR_MECHANISM_PARAM);
        /* emLen - hLen - 2 bounds the salt (RFC 8017 9.1.1). */
        ARCA_ENSURE((size_t)m->salt_len + (size_t)EVP_MD_get_size(h) + 2 <= rsa_bytes(k),
                    ARCA_ERR_MECHANISM_PARAM);
        p->salt_len = (int)m->salt_len;
        return ARCA_OK;
    }
    case CKM_ECDSA:
        ARCA_ENSURE(k->type == CKK_EC, ARCA_ERR_KEY_TYPE);
        ARCA_ENSURE(len > 0 && len <= EVP_MAX_MD_SIZE, ARCA_ERR_DATA_LEN);
        p->family = SIG_ECDSA;
        return ARCA_OK;
    case CKM_ECDSA_SHA256:
    case CKM_ECDSA_SHA384:
    case CKM_ECDSA_SHA512:
        ARCA_ENSURE(k->type == CKK_EC, ARCA_ERR_KEY_TYPE);
        p->family = SIG_ECDSA;
        p->md = m->type == CKM_ECDSA_SHA256 ? a->sha256 : m->type == CKM_ECDSA_SHA384 ? a->sha384 : a->sha512;
        return ARCA_OK;
    case CKM_EDDSA:
        ARCA_ENSURE(k->type == CKK_EC_EDWARDS, ARCA_ERR_KEY_TYPE);
        p->family = SIG_EDDSA;
        return ARCA_OK;
    case CKM_SHA256_HMAC:
    case CKM_SHA384_HMAC:
    case CKM_SHA512_HMAC:
        ARCA_ENSURE(k->type == CKK_GENERIC_SECRET || k->type == CKK_AES, ARCA_ERR_KEY_TYPE);
        p->family = SIG_HMAC;
        p->hmac_md = m->type == CKM_SHA256_HMAC ? "SHA256" : m->type == CKM_SHA384_HMAC ? "SHA384" : "SHA512";
        return ARCA_OK;
    default:
        return ARCA_ERR_MECHANISM;
    }
}

static arca_status rsa_params(EVP_PKEY_CTX *pctx, const sig_plan *p)
{
    if (p->family == SIG_RSA_PKCS) {
        ARCA_GUARD_OSSL(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING));
        return ARCA_OK;
    }
    if (p->family != SIG_RSA_PSS) return ARCA_OK;
    ARCA_GUARD_OSSL(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING));
    if (p->in_md != NULL) ARCA_GUARD_OSSL(EVP_PKEY_CTX_set_signature_md(pctx, p->in_md));
    ARCA_GUARD_OSSL(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, p->mgf_md));
    ARCA_GUARD_OSSL(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, p->salt_len));
    return ARCA_OK;
}

/* The key's HMAC context for md_name, keyed once (crypto_internal.h);
 * borrowed. NULL on failure. */
static EVP_MAC_CTX *hmac_template(const arca_algs *a, const arca_key *k, const char *md_name)
{
    int i = strcmp(md_name, "SHA256") == 0 ? 0 : strcmp(md_name, "SHA384") == 0 ? 1 : 2;
    EVP_MAC_CTX **slot = (EVP_MAC_CTX **)&k->hmac_tmpl[i];
    EVP_MAC_CTX *t = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *expect = NULL;
    OSSL_PARAM params[2];

    if (t != NULL) return t;
    t = EVP_MAC_CTX_new(a->hmac);
    if (t == NULL) return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md_name, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(t, k->secret.data, k->secret.len, params) != 1) {
        EVP_MAC_CTX_free(t);
        return NULL;
    }
    if (!__atomic_compare_exchange_n(slot, &expect, t, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        EVP_MAC_CTX_free(t); /* another thread was first */
        return expect;
    }
    return t;
}

static arca_status hmac_compute(const arca_algs *a, const arca_key *k, const char *md_name, const uint8_t *data,
                                size_t len, uint8_t *mac, size_t *mac_len)
{
    arca_status st = ARCA_OK;
    EVP_MAC_CTX *tmpl = hmac_template(a, k, md_name);
    EVP_MAC_CTX *ctx = NULL;

    ARCA_ENSURE(tmpl != NULL, ARCA_ERR_CRYPTO);
    ctx = EVP_MAC_CTX_dup(tmpl);
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(EVP_MAC_update(ctx, data, len));
    ARCA_GUARD_OSSL_OUT(EVP_MAC_final(ctx, mac, mac_len, EVP_MAX_MD_SIZE));
out:
    EVP_MAC_CTX_free(ctx);
    return st;
}

/* DER ECDSA-Sig-Value -> r||s, each field_bytes wide. */
static arca_status ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t fb, arca_builder *out)
{
    arca_status st = ARCA_OK;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    uint8_t *dst = NULL;

    ARCA_ENSURE(sig != NULL, ARCA_ERR_CRYPTO);
    ECDSA_SIG_get0(sig, &r, &s);
    ARCA_GUARD_OUT(arca_builder_reserve(out, 2 * fb, &dst));
    ARCA_ENSURE_OUT(BN_bn2binpad(r, dst, (int)fb) == (int)fb, ARCA_ERR_CRYPTO);
    ARCA_ENSURE_OUT(BN_bn2binpad(s, dst + fb, (int)fb) == (int)fb, ARCA_ERR_CRYPTO);
out:
    ECDSA_SIG_free(sig);
    return st;
}

/* r||s -> DER into der (cap bytes). */
static arca_status ecdsa_raw_to_der(const uint8_t *raw, size_t fb, uint8_t *der, size_t cap, size_t *der_len)
{
    arca_status st = ARCA_OK;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)fb, NULL);
    BIGNUM *s = BN_bin2bn(raw + fb, (int)fb, NULL);
    unsigned char *p = der;
    int n;

    ARCA_ENSURE_OUT(sig != NULL && r != NULL && s != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(ECDSA_SIG_set0(sig, r, s));
    r = s = NULL;
    n = i2d_ECDSA_SIG(sig, NULL);
    ARCA_ENSURE_OUT(n > 0 && (size_t)n <= cap, ARCA_ERR_CRYPTO);
    ARCA_ENSURE_OUT(i2d_ECDSA_SIG(sig, &p) == n, ARCA_ERR_CRYPTO);
    *der_len = (size_t)n;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return st;
}

arca_status arca_crypto_sign(const arca_key *k, const arca_mechanism *m, const uint8_t *data, size_t len,
                             arca_builder *out)
{
    arca_status st = ARCA_OK;
    const arca_algs *a = arca_crypto_algs();
    sig_plan p;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t sig[MAX_SIG_LEN];
    size_t sig_len = sizeof(sig);

    ARCA_ENSURE(k != NULL && m != NULL && out != NULL && (data != NULL || len == 0), ARCA_ERR_ARGS);
    ARCA_ENSURE(a != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE(arca_crypto_mechanism_allowed(m->type, ARCA_OP_SIGN), ARCA_ERR_MECHANISM);
    ARCA_ENSURE(len <= CRYPTO_MAX_INPUT, ARCA_ERR_DATA_LEN);
    ARCA_GUARD(sig_plan_make(a, k, m, len, &p));
    if (p.family == SIG_HMAC) {
        ARCA_GUARD_OUT(hmac_compute(a, k, p.hmac_md, data, len, sig, &sig_len));
        ARCA_GUARD_OUT(arca_builder_add_bytes(out, sig, sig_len));
        goto out;
    }
    ARCA_ENSURE(arca_key_is_private(k), ARCA_ERR_KEY_TYPE);
    ARCA_ENSURE((size_t)EVP_PKEY_get_size(k->pkey) <= sizeof(sig), ARCA_ERR_INTERNAL);
    if (p.md != NULL || p.family == SIG_EDDSA) {
        mctx = EVP_MD_CTX_new();
        ARCA_ENSURE_OUT(mctx != NULL, ARCA_ERR_NOMEM);
        ARCA_GUARD_OSSL_OUT(EVP_DigestSignInit(mctx, &pctx, p.md, NULL, k->pkey));
        ARCA_GUARD_OUT(rsa_params(pctx, &p));
        ARCA_GUARD_OSSL_OUT(EVP_DigestSign(mctx, sig, &sig_len, data, len));
        pctx = NULL; /* owned by mctx */
    } else {
        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
        ARCA_ENSURE_OUT(pctx != NULL, ARCA_ERR_NOMEM);
        ARCA_GUARD_OSSL_OUT(EVP_PKEY_sign_init(pctx));
        ARCA_GUARD_OUT(rsa_params(pctx, &p));
        ARCA_GUARD_OSSL_OUT(EVP_PKEY_sign(pctx, sig, &sig_len, data, len));
    }
    if (p.family == SIG_ECDSA)
        ARCA_GUARD_OUT(ecdsa_der_to_raw(sig, sig_len, k->curve->field_bytes, out));
    else
        ARCA_GUARD_OUT(arca_builder_add_bytes(out, sig, sig_len));
out:
    if (mctx != NULL)
        EVP_MD_CTX_free(mctx);
    else
        EVP_PKEY_CTX_free(pctx);
    arca_wipe(sig, sizeof(sig));
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("crypto: sign");
    return st;
}

arca_status arca_crypto_verify(const arca_key *k, const arca_mechanism *m, const uint8_t *data, size_t len,
                               const uint8_t *sig, size_t sig_len)
{
    arca_status st = ARCA_OK;
    const arca_algs *a = arca_crypto_algs();
    sig_plan p;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t buf[MAX_SIG_LEN];
    size_t buf_len = sizeof(buf);
    int rc;

    ARCA_ENSURE(k != NULL && m != NULL && (data != NULL || len == 0) && (sig != NULL || sig_len == 0),
                ARCA_ERR_ARGS);
    ARCA_ENSURE(a != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE(arca_crypto_mechanism_allowed(m->type, ARCA_OP_VERIFY), ARCA_ERR_MECHANISM);
    ARCA_ENSURE(len <= CRYPTO_MAX_INPUT, ARCA_ERR_DATA_LEN);
    ARCA_GUARD(sig_plan_make(a, k, m, len, &p));
    if (p.family == SIG_HMAC) {
        ARCA_GUARD_OUT(hmac_compute(a, k, p.hmac_md, data, len, buf, &buf_len));
        ARCA_ENSURE_OUT(sig_len == buf_len && CRYPTO_memcmp(buf, sig, buf_len) == 0, ARCA_ERR_SIGNATURE_INVALID);
        goto out;
    }
    ARCA_ENSURE(k->pkey != NULL, ARCA_ERR_KEY_TYPE);
    if (p.family == SIG_ECDSA) {
        /* PKCS#11 signatures are r||s of fixed width; OpenSSL wants DER. */
        ARCA_ENSURE(sig_len == 2 * k->curve->field_bytes, ARCA_ERR_SIGNATURE_INVALID);
        ARCA_GUARD(ecdsa_raw_to_der(sig, k->curve->field_bytes, buf, sizeof(buf), &buf_len));
        sig = buf;
        sig_len = buf_len;
    } else if (p.family != SIG_EDDSA) {
        ARCA_ENSURE(sig_len == rsa_bytes(k), ARCA_ERR_SIGNATURE_INVALID);
    }
    if (p.md != NULL || p.family == SIG_EDDSA) {
        mctx = EVP_MD_CTX_new();
        ARCA_ENSURE_OUT(mctx != NULL, ARCA_ERR_NOMEM);
        ARCA_GUARD_OSSL_OUT(EVP_DigestVerifyInit(mctx, &pctx, p.md, NULL, k->pkey));
        ARCA_GUARD_OUT(rsa_params(pctx, &p));
        rc = EVP_DigestVerify(mctx, sig, sig_len, data, len);
        pctx = NULL;
    } else {
        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
        ARCA_ENSURE_OUT(pctx != NULL, ARCA_ERR_NOMEM);
        ARCA_GUARD_OSSL_OUT(EVP_PKEY_verify_init(pctx));
        ARCA_GUARD_OUT(rsa_params(pctx, &p));
        rc = EVP_PKEY_verify(pctx, sig, sig_len, data, len);
    }
    /* Any failure to verify (including malformed signatures) is "invalid". */
    ARCA_ENSURE_OUT(rc == 1, ARCA_ERR_SIGNATURE_INVALID);
out:
    if (mctx != NULL)
        EVP_MD_CTX_free(mctx);
    else
        EVP_PKEY_CTX_free(pctx);
    arca_wipe(buf, sizeof(buf));
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("crypto: verify");
    ERR_clear_error();
    return st;
}

/* ---- AES-GCM, AES-CBC-PAD ---- */

static arca_status aes_cipher(const arca_key *k, EVP_CIPHER *const *table, const EVP_CIPHER **out)
{
    int idx;

    ARCA_ENSURE(k->type == CKK_AES, ARCA_ERR_KEY_TYPE);
    idx = arca_aes_index(k->secret.len);
    ARCA_ENSURE(idx >= 0, ARCA_ERR_KEY_SIZE);
    *out = table[idx];
    return ARCA_OK;
}

static arca_status gcm_crypt(const arca_algs *a, const arca_key *k, const arca_mechanism *m, const uint8_t *data,
                             size_t len, bool enc, arca_builder *out)
{
    arca_status st = ARCA_OK;
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t iv[GCM_IV_LEN];
    uint8_t tag[16];
    size_t tag_len;
    uint8_t *dst = NULL;
    arca_secret pt = {0};
    int outl = 0, finl = 0;
    uint8_t fin[16];

    ARCA_GUARD(aes_cipher(k, a->gcm, &cipher));
    tag_len = m->tag_bits == 0 ? 16 : m->tag_bits / 8;
    ARCA_ENSURE(m->tag_bits == 0 || (m->tag_bits >= 96 && m->tag_bits <= 128 && m->tag_bits % 8 == 0),
                ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->iv == NULL ? m->iv_len == 0 : m->iv_len == GCM_IV_LEN, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->aad != NULL || m->aad_len == 0, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->aad_len <= CRYPTO_MAX_INPUT, ARCA_ERR_MECHANISM_PARAM);

    if (m->iv != NULL) {
        memcpy(iv, m->iv, GCM_IV_LEN);
    } else if (enc) {
        ARCA_GUARD_OSSL(RAND_bytes(iv, sizeof(iv)));
        ARCA_GUARD(arca_builder_add_bytes(out, iv, sizeof(iv)));
    } else {
        /* iv || ct || tag */
        ARCA_ENSURE(len >= GCM_IV_LEN, ARCA_ERR_DATA_LEN);
        memcpy(iv, data, GCM_IV_LEN);
        data += GCM_IV_LEN;
        len -= GCM_IV_LEN;
    }
    ctx = EVP_CIPHER_CTX_new();
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    if (enc) {
        ARCA_GUARD_OSSL_OUT(EVP_EncryptInit_ex2(ctx, cipher, k->secret.data, iv, NULL));
        if (m->aad_len > 0) ARCA_GUARD_OSSL_OUT(EVP_EncryptUpdate(ctx, NULL, &outl, m->aad, (int)m->aad_len));
        if (len > 0) {
            ARCA_GUARD_OUT(arca_builder_reserve(out, len, &dst));
            ARCA_GUARD_OSSL_OUT(EVP_EncryptUpdate(ctx, dst, &outl, data, (int)len));
            ARCA_ENSURE_OUT((size_t)outl == len, ARCA_ERR_CRYPTO);
        }
        ARCA_GUARD_OSSL_OUT(EVP_EncryptFinal_ex(ctx, fin, &finl));
        ARCA_ENSURE_OUT(finl == 0, ARCA_ERR_CRYPTO);
        ARCA_GUARD_OSSL_OUT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int)tag_len, tag));
        ARCA_GUARD_OUT(arca_builder_add_bytes(out, tag, tag_len));
    } else {
        ARCA_ENSURE_OUT(len >= tag_len, ARCA_ERR_DATA_LEN);
        len -= tag_len;
        memcpy(tag, data + len, tag_len);
        ARCA_GUARD_OSSL_OUT(EVP_DecryptInit_ex2(ctx, cipher, k->secret.data, iv, NULL));
        ARCA_GUARD_OSSL_OUT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)tag_len, tag));
        if (m->aad_len > 0) ARCA_GUARD_OSSL_OUT(EVP_DecryptUpdate(ctx, NULL, &outl, m->aad, (int)m->aad_len));
        /* Plaintext is held back in secret memory until the tag checks. */
        ARCA_GUARD_OUT(arca_secret_alloc(&pt, len > 0 ? len : 1));
        outl = 0;
        if (len > 0) ARCA_GUARD_OSSL_OUT(EVP_DecryptUpdate(ctx, pt.data, &outl, data, (int)len));
        ARCA_ENSURE_OUT(EVP_DecryptFinal_ex(ctx, fin, &finl) == 1 && finl == 0, ARCA_ERR_SIGNATURE_INVALID);
        ARCA_ENSURE_OUT((size_t)outl == len, ARCA_ERR_CRYPTO);
        ARCA_GUARD_OUT(add_and_wipe(out, &pt, len));
    }
out:
    EVP_CIPHER_CTX_free(ctx);
    arca_secret_free(&pt);
    arca_wipe(fin, sizeof(fin));
    ERR_clear_error();
    return st;
}

static arca_status cbc_crypt(const arca_algs *a, const arca_key *k, const arca_mechanism *m, const uint8_t *data,
                             size_t len, bool enc, arca_builder *out)
{
    arca_status st = ARCA_OK;
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    arca_secret buf = {0};
    int outl = 0, finl = 0;

    ARCA_GUARD(aes_cipher(k, a->cbc, &cipher));
    ARCA_ENSURE(m->iv != NULL && m->iv_len == CBC_IV_LEN, ARCA_ERR_MECHANISM_PARAM);
    if (!enc) ARCA_ENSURE(len > 0 && len % 16 == 0, ARCA_ERR_DATA_LEN);
    ctx = EVP_CIPHER_CTX_new();
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OUT(arca_secret_alloc(&buf, len + 16));
    if (enc) {
        ARCA_GUARD_OSSL_OUT(EVP_EncryptInit_ex2(ctx, cipher, k->secret.data, m->iv, NULL));
        if (len > 0) ARCA_GUARD_OSSL_OUT(EVP_EncryptUpdate(ctx, buf.data, &outl, data, (int)len));
        ARCA_GUARD_OSSL_OUT(EVP_EncryptFinal_ex(ctx, buf.data + outl, &finl));
    } else {
        ARCA_GUARD_OSSL_OUT(EVP_DecryptInit_ex2(ctx, cipher, k->secret.data, m->iv, NULL));
        ARCA_GUARD_OSSL_OUT(EVP_DecryptUpdate(ctx, buf.data, &outl, data, (int)len));
        ARCA_ENSURE_OUT(EVP_DecryptFinal_ex(ctx, buf.data + outl, &finl) == 1, ARCA_ERR_DATA_INVALID);
    }
    ARCA_GUARD_OUT(add_and_wipe(out, &buf, (size_t)outl + (size_t)finl));
out:
    EVP_CIPHER_CTX_free(ctx);
    arca_secret_free(&buf);
    ERR_clear_error();
    return st;
}

/* ---- RSA encryption (OAEP, PKCS#1 v1.5) ---- */

typedef struct rsa_enc_plan {
    int padding;
    const EVP_MD *md, *mgf_md;
    const uint8_t *label;
    size_t label_len;
} rsa_enc_plan;

static arca_status rsa_enc_plan_make(const arca_algs *a, const arca_key *k, const arca_mechanism *m,
                                     rsa_enc_plan *p)
{
    memset(p, 0, sizeof(*p));
    ARCA_ENSURE(k->type == CKK_RSA, ARCA_ERR_KEY_TYPE);
    if (m->type == CKM_RSA_PKCS) {
        p->padding = RSA_PKCS1_PADDING;
        return ARCA_OK;
    }
    p->padding = RSA_PKCS1_OAEP_PADDING;
    p->md = md_for_hash(a, m->hash, true);
    ARCA_ENSURE(p->md != NULL, ARCA_ERR_MECHANISM_PARAM);
    p->mgf_md = m->mgf == 0 ? p->md : md_for_mgf(a, m->mgf);
    ARCA_ENSURE(p->mgf_md != NULL, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->label != NULL || m->label_len == 0, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->label_len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_MECHANISM_PARAM);
    p->label = m->label;
    p->label_len = m->label_len;
    return ARCA_OK;
}

static size_t rsa_enc_max_input(const arca_key *k, const rsa_enc_plan *p)
{
    size_t kb = rsa_bytes(k);
    size_t overhead = p->padding == RSA_PKCS1_PADDING ? 11 : 2 * (size_t)EVP_MD_get_size(p->md) + 2;
    return kb > overhead ? kb - overhead : 0;
}

static arca_status rsa_enc_ctx(const arca_key *k, const rsa_enc_plan *p, bool enc, EVP_PKEY_CTX **out)
{
    arca_status st = ARCA_OK;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    uint8_t *label = NULL;

    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx));
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_CTX_set_rsa_padding(ctx, p->padding));
    if (p->padding == RSA_PKCS1_OAEP_PADDING) {
        ARCA_GUARD_OSSL_OUT(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, p->md));
        ARCA_GUARD_OSSL_OUT(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, p->mgf_md));
        if (p->label_len > 0) {
            label = OPENSSL_memdup(p->label, p->label_len);
            ARCA_ENSURE_OUT(label != NULL, ARCA_ERR_NOMEM);
            ARCA_GUARD_OSSL_OUT(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)p->label_len));
            label = NULL; /* owned by ctx */
        }
    }
    *out = ctx;
    ctx = NULL;
out:
    OPENSSL_free(label);
    EVP_PKEY_CTX_free(ctx);
    return st;
}

static arca_status rsa_encrypt_raw(const arca_key *k, const rsa_enc_plan *p, const uint8_t *data, size_t len,
                                   arca_builder *out)
{
    arca_status st = ARCA_OK;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t *dst = NULL;
    size_t kb = rsa_bytes(k), outlen = kb;

    ARCA_ENSURE(len <= rsa_enc_max_input(k, p), ARCA_ERR_DATA_LEN);
    ARCA_GUARD(rsa_enc_ctx(k, p, true, &ctx));
    ARCA_GUARD_OUT(arca_builder_reserve(out, kb, &dst));
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_encrypt(ctx, dst, &outlen, data, len));
    ARCA_ENSURE_OUT(outlen == kb, ARCA_ERR_CRYPTO);
out:
    EVP_PKEY_CTX_free(ctx);
    return st;
}

/* Decrypt into secret memory; *pt owned by the caller. */
static arca_status rsa_decrypt_raw(const arca_key *k, const rsa_enc_plan *p, const uint8_t *data, size_t len,
                                   arca_secret *pt, size_t *pt_len)
{
    arca_status st = ARCA_OK;
    EVP_PKEY_CTX *ctx = NULL;
    size_t kb = rsa_bytes(k), outlen = kb;

    ARCA_ENSURE(arca_key_is_private(k), ARCA_ERR_KEY_TYPE);
    ARCA_ENSURE(len == kb, ARCA_ERR_DATA_LEN);
    ARCA_GUARD(rsa_enc_ctx(k, p, false, &ctx));
    ARCA_GUARD_OUT(arca_secret_alloc(pt, kb));
    ARCA_ENSURE_OUT(EVP_PKEY_decrypt(ctx, pt->data, &outlen, data, len) == 1, ARCA_ERR_DATA_INVALID);
    *pt_len = outlen;
out:
    if (st != ARCA_OK) arca_secret_free(pt);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return st;
}

arca_status arca_crypto_encrypt(const arca_key *k, const arca_mechanism *m, const uint8_t *data, size_t len,
                                arca_builder *out)
{
    const arca_algs *a = arca_crypto_algs();
    rsa_enc_plan p;

    ARCA_ENSURE(k != NULL && m != NULL && out != NULL && (data != NULL || len == 0), ARCA_ERR_ARGS);
    ARCA_ENSURE(a != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE(arca_crypto_mechanism_allowed(m->type, ARCA_OP_ENCRYPT), ARCA_ERR_MECHANISM);
    ARCA_ENSURE(len <= CRYPTO_MAX_INPUT, ARCA_ERR_DATA_LEN);
    switch (m->type) {
    case CKM_AES_GCM: return gcm_crypt(a, k, m, data, len, true, out);
    case CKM_AES_CBC_PAD: return cbc_crypt(a, k, m, data, len, true, out);
    case CKM_RSA_PKCS:
    case CKM_RSA_PKCS_OAEP:
        ARCA_GUARD(rsa_enc_plan_make(a, k, m, &p));
        return rsa_encrypt_raw(k, &p, data, len, out);
    default: return ARCA_ERR_MECHANISM;
    }
}

arca_status arca_crypto_decrypt(const arca_key *k, const arca_mechanism *m, const uint8_t *data, size_t len,
                                arca_builder *out)
{
    const arca_algs *a = arca_crypto_algs();
    rsa_enc_plan p;
    arca_secret pt = {0};
    size_t pt_len = 0;

    ARCA_ENSURE(k != NULL && m != NULL && out != NULL && (data != NULL || len == 0), ARCA_ERR_ARGS);
    ARCA_ENSURE(a != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE(arca_crypto_mechanism_allowed(m->type, ARCA_OP_DECRYPT), ARCA_ERR_MECHANISM);
    ARCA_ENSURE(len <= CRYPTO_MAX_INPUT, ARCA_ERR_DATA_LEN);
    switch (m->type) {
    case CKM_AES_GCM: return gcm_crypt(a, k, m, data, len, false, out);
    case CKM_AES_CBC_PAD: return cbc_crypt(a, k, m, data, len, false, out);
    case CKM_RSA_PKCS:
    case CKM_RSA_PKCS_OAEP:
        ARCA_GUARD(rsa_enc_plan_make(a, k, m, &p));
        ARCA_GUARD(rsa_decrypt_raw(k, &p, data, len, &pt, &pt_len));
        return add_and_wipe(out, &pt, pt_len);
    default: return ARCA_ERR_MECHANISM;
    }
}

/* ---- key wrapping ---- */

static arca_status aes_wrap_cipher(const arca_algs *a, const arca_key *k, const arca_mechanism *m,
                                   const EVP_CIPHER **cipher)
{
    bool kwp = m->type == CKM_AES_KEY_WRAP_KWP;

    ARCA_GUARD(aes_cipher(k, kwp ? a->wrap_pad : a->wrap, cipher));
    /* An explicit IV (alternative initial value) is optional: 8 bytes for
     * RFC 3394, 4 for RFC 5649. */
    ARCA_ENSURE(m->iv == NULL ? m->iv_len == 0 : m->iv_len == (kwp ? 4u : 8u), ARCA_ERR_MECHANISM_PARAM);
    return ARCA_OK;
}

static arca_status aes_wrap(const EVP_CIPHER *cipher, const arca_key *kek, const arca_mechanism *m,
                            const uint8_t *in, size_t len, bool kwp, arca_builder *out)
{
    arca_status st = ARCA_OK;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t expect = kwp ? ((len + 7) / 8) * 8 + 8 : len + 8;
    uint8_t *dst = NULL;
    uint8_t fin[16];
    int outl = 0, finl = 0;

    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ARCA_GUARD_OSSL_OUT(EVP_EncryptInit_ex2(ctx, cipher, kek->secret.data, m->iv, NULL));
    ARCA_GUARD_OUT(arca_builder_reserve(out, expect, &dst));
    ARCA_GUARD_OSSL_OUT(EVP_EncryptUpdate(ctx, dst, &outl, in, (int)len));
    ARCA_ENSURE_OUT((size_t)outl == expect, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(EVP_EncryptFinal_ex(ctx, fin, &finl));
    ARCA_ENSURE_OUT(finl == 0, ARCA_ERR_CRYPTO);
out:
    EVP_CIPHER_CTX_free(ctx);
    return st;
}

static arca_status aes_unwrap(const EVP_CIPHER *cipher, const arca_key *kek, const arca_mechanism *m,
                              const uint8_t *in, size_t len, bool kwp, arca_secret *pt, size_t *pt_len)
{
    arca_status st = ARCA_OK;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t fin[16];
    int outl = 0, finl = 0;

    ARCA_ENSURE(len % 8 == 0 && len >= (kwp ? 16u : 24u), ARCA_ERR_DATA_LEN);
    ctx = EVP_CIPHER_CTX_new();
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ARCA_GUARD_OUT(arca_secret_alloc(pt, len));
    ARCA_GUARD_OSSL_OUT(EVP_DecryptInit_ex2(ctx, cipher, kek->secret.data, m->iv, NULL));
    /* The integrity check of RFC 3394/5649 fails inside Update. */
    ARCA_ENSURE_OUT(EVP_DecryptUpdate(ctx, pt->data, &outl, in, (int)len) == 1 && outl > 0, ARCA_ERR_DATA_INVALID);
    ARCA_ENSURE_OUT(EVP_DecryptFinal_ex(ctx, fin, &finl) == 1 && finl == 0, ARCA_ERR_DATA_INVALID);
    *pt_len = (size_t)outl;
out:
    if (st != ARCA_OK) arca_secret_free(pt);
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    return st;
}

arca_status arca_crypto_wrap(const arca_key *wrapping, const arca_mechanism *m, const arca_key *target,
                             arca_builder *out)
{
    arca_status st = ARCA_OK;
    const arca_algs *a = arca_crypto_algs();
    const EVP_CIPHER *cipher = NULL;
    arca_builder der = {0};
    const uint8_t *in;
    size_t in_len;
    rsa_enc_plan p;

    ARCA_ENSURE(wrapping != NULL && m != NULL && target != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(a != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE(arca_crypto_mechanism_allowed(m->type, ARCA_OP_WRAP), ARCA_ERR_MECHANISM);
    /* Public keys are never wrapped; private keys only by KWP (PKCS#8). */
    ARCA_ENSURE(arca_key_is_secret(target) || (arca_key_is_private(target) && m->type == CKM_AES_KEY_WRAP_KWP),
                ARCA_ERR_KEY_TYPE);
    if (arca_key_is_secret(target)) {
        in = target->secret.data;
        in_len = target->secret.len;
    } else {
        ARCA_GUARD(arca_builder_init_secret(&der, 2048, ARCA_ATTR_VALUE_MAX));
        ARCA_GUARD_OUT(arca_key_private_der(target, &der));
        in = der.data;
        in_len = der.len;
    }
    switch (m->type) {
    case CKM_AES_KEY_WRAP:
        ARCA_GUARD_OUT(aes_wrap_cipher(a, wrapping, m, &cipher));
        ARCA_ENSURE_OUT(in_len % 8 == 0 && in_len >= 16, ARCA_ERR_KEY_SIZE);
        ARCA_GUARD_OUT(aes_wrap(cipher, wrapping, m, in, in_len, false, out));
        break;
    case CKM_AES_KEY_WRAP_KWP:
        ARCA_GUARD_OUT(aes_wrap_cipher(a, wrapping, m, &cipher));
        ARCA_GUARD_OUT(aes_wrap(cipher, wrapping, m, in, in_len, true, out));
        break;
    case CKM_RSA_PKCS_OAEP:
        ARCA_GUARD_OUT(rsa_enc_plan_make(a, wrapping, m, &p));
        ARCA_GUARD_OUT(rsa_encrypt_raw(wrapping, &p, in, in_len, out));
        break;
    default: st = ARCA_ERR_MECHANISM; break;
    }
out:
    arca_builder_cleanup(&der);
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("crypto: wrap");
    return st;
}

static arca_status key_from_unwrapped(uint32_t ckk_type, const uint8_t *v, size_t len, arca_key **out)
{
    arca_key *k = NULL;

    switch (ckk_type) {
    case CKK_AES:
    case CKK_GENERIC_SECRET: return arca_key_from_secret(ckk_type, v, len, out);
    case CKK_RSA:
    case CKK_EC:
    case CKK_EC_EDWARDS:
        ARCA_GUARD(arca_key_from_private_der(v, len, &k));
        if (k->type != ckk_type) {
            arca_key_free(k);
            return ARCA_ERR_TEMPLATE_INCONSISTENT;
        }
        *out = k;
        return ARCA_OK;
    default: return ARCA_ERR_ATTRIBUTE_VALUE;
    }
}

arca_status arca_crypto_unwrap(const arca_key *unwrapping, const arca_mechanism *m, const uint8_t *wrapped,
                               size_t len, uint32_t ckk_type, arca_key **out)
{
    arca_status st = ARCA_OK;
    const arca_algs *a = arca_crypto_algs();
    const EVP_CIPHER *cipher = NULL;
    arca_secret pt = {0};
    size_t pt_len = 0;
    rsa_enc_plan p;
    bool secret_type = ckk_type == CKK_AES || ckk_type == CKK_GENERIC_SECRET;

    ARCA_ENSURE(unwrapping != NULL && m != NULL && out != NULL && (wrapped != NULL || len == 0), ARCA_ERR_ARGS);
    ARCA_ENSURE(a != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE(arca_crypto_mechanism_allowed(m->type, ARCA_OP_UNWRAP), ARCA_ERR_MECHANISM);
    ARCA_ENSURE(len <= CRYPTO_MAX_INPUT, ARCA_ERR_DATA_LEN);
    switch (m->type) {
    case CKM_AES_KEY_WRAP:
    case CKM_AES_KEY_WRAP_KWP: {
        bool kwp = m->type == CKM_AES_KEY_WRAP_KWP;
        ARCA_GUARD(aes_wrap_cipher(a, unwrapping, m, &cipher));
        ARCA_ENSURE(kwp || secret_type, ARCA_ERR_KEY_TYPE);
        ARCA_GUARD(aes_unwrap(cipher, unwrapping, m, wrapped, len, kwp, &pt, &pt_len));
        break;
    }
    case CKM_RSA_PKCS_OAEP:
        ARCA_GUARD(rsa_enc_plan_make(a, unwrapping, m, &p));
        ARCA_ENSURE(secret_type, ARCA_ERR_KEY_TYPE);
        ARCA_GUARD(rsa_decrypt_raw(unwrapping, &p, wrapped, len, &pt, &pt_len));
        break;
    default: return ARCA_ERR_MECHANISM;
    }
    st = key_from_unwrapped(ckk_type, pt.data, pt_len, out);
    arca_secret_free(&pt);
    return st;
}

/* ---- derivation ---- */

/* The peer's public key for ECDH: an uncompressed point, the DER OCTET
 * STRING around one (CKA_EC_POINT form) or an SPKI. Anything not on the
 * base key's curve is a bad parameter. */
static arca_status ecdh_peer(const arca_key *base, const uint8_t *pd, size_t len, EVP_PKEY **out)
{
    arca_status st = ARCA_OK;
    size_t pt_len = 1 + 2 * base->curve->field_bytes;
    const uint8_t *point = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *peer = NULL;
    OSSL_PARAM params[3];
    arca_cursor c;

    ARCA_ENSURE(pd != NULL && len > 0 && len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_MECHANISM_PARAM);
    if (pd[0] == 0x04 && len == pt_len) {
        point = pd;
    } else if (pd[0] == 0x04) {
        uint8_t tag, l1, l2 = 0;
        arca_cursor_init(&c, pd, len);
        ARCA_ENSURE(arca_cursor_get_u8(&c, &tag) == ARCA_OK && arca_cursor_get_u8(&c, &l1) == ARCA_OK,
                    ARCA_ERR_MECHANISM_PARAM);
        if (l1 == 0x81) ARCA_ENSURE(arca_cursor_get_u8(&c, &l2) == ARCA_OK, ARCA_ERR_MECHANISM_PARAM);
        ARCA_ENSURE((l1 == 0x81 ? l2 : l1) == pt_len && (l1 == 0x81) == (pt_len >= 0x80), ARCA_ERR_MECHANISM_PARAM);
        ARCA_ENSURE(arca_cursor_get_bytes(&c, pt_len, &point) == ARCA_OK && arca_cursor_finish(&c) == ARCA_OK,
                    ARCA_ERR_MECHANISM_PARAM);
        ARCA_ENSURE(point[0] == 0x04, ARCA_ERR_MECHANISM_PARAM);
    } else if (pd[0] == 0x30) {
        const unsigned char *p = pd;
        peer = d2i_PUBKEY(NULL, &p, (long)len);
        ARCA_ENSURE_OUT(peer != NULL && p == pd + len, ARCA_ERR_MECHANISM_PARAM);
        ARCA_ENSURE_OUT(EVP_PKEY_is_a(peer, "EC") && arca_curve_of_pkey(peer) == base->curve,
                        ARCA_ERR_MECHANISM_PARAM);
        goto out;
    } else {
        return ARCA_ERR_MECHANISM_PARAM;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    ARCA_ENSURE_OUT(ctx != NULL, ARCA_ERR_NOMEM);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)base->curve->group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, pt_len);
    params[2] = OSSL_PARAM_construct_end();
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_fromdata_init(ctx));
    /* fromdata decodes the point, which rejects points not on the curve. */
    ARCA_ENSURE_OUT(EVP_PKEY_fromdata(ctx, &peer, EVP_PKEY_PUBLIC_KEY, params) == 1, ARCA_ERR_MECHANISM_PARAM);
out:
    EVP_PKEY_CTX_free(ctx);
    if (st == ARCA_OK) {
        *out = peer;
    } else {
        EVP_PKEY_free(peer);
    }
    ERR_clear_error();
    return st;
}

static arca_status ecdh_derive(const arca_key *base, const arca_mechanism *m, arca_secret *z)
{
    arca_status st = ARCA_OK;
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    size_t z_len = 0;

    ARCA_ENSURE(base->type == CKK_EC && arca_key_is_private(base), ARCA_ERR_KEY_TYPE);
    ARCA_GUARD(ecdh_peer(base, m->public_data, m->public_data_len, &peer));
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, base->pkey, NULL);
    ARCA_ENSURE_OUT(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_derive_init(ctx));
    ARCA_ENSURE_OUT(EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) == 1, ARCA_ERR_MECHANISM_PARAM);
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_derive(ctx, NULL, &z_len));
    ARCA_GUARD_OUT(arca_secret_alloc(z, z_len));
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_derive(ctx, z->data, &z_len));
    ARCA_ENSURE_OUT(z_len == z->len, ARCA_ERR_CRYPTO);
out:
    if (st != ARCA_OK) arca_secret_free(z);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    ERR_clear_error();
    return st;
}

static arca_status kdf_derive(const arca_algs *a, const arca_key *base, const arca_mechanism *m, size_t value_len,
                              arca_secret *okm)
{
    arca_status st = ARCA_OK;
    const char *md_name = md_name_for_hash(m->hash);
    bool hkdf = m->type == CKM_HKDF_DERIVE;
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM params[8];
    size_t n = 0;

    ARCA_ENSURE(base->type == CKK_GENERIC_SECRET || base->type == CKK_AES, ARCA_ERR_KEY_TYPE);
    ARCA_ENSURE(md_name != NULL, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->salt != NULL || m->salt_bytes_len == 0, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->info != NULL || m->info_len == 0, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(m->info_len <= HKDF_MAX_INFO && m->salt_bytes_len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_MECHANISM_PARAM);
    ARCA_ENSURE(value_len > 0, ARCA_ERR_KEY_SIZE);
    if (hkdf) {
        size_t h = (size_t)EVP_MD_get_size(md_for_hash(a, m->hash, false));
        ARCA_ENSURE(value_len <= 255 * h, ARCA_ERR_KEY_SIZE);
    }
    ctx = EVP_KDF_CTX_new(hkdf ? a->hkdf : a->kbkdf);
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md_name, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, base->secret.data, base->secret.len);
    if (!hkdf) {
        params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *)"counter", 0);
        params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *)"HMAC", 0);
    }
    /* HKDF: salt and info. KBKDF: label (salt) and context (info). */
    if (m->salt_bytes_len > 0)
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)m->salt, m->salt_bytes_len);
    if (m->info_len > 0)
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)m->info, m->info_len);
    params[n] = OSSL_PARAM_construct_end();
    ARCA_GUARD_OUT(arca_secret_alloc(okm, value_len));
    ARCA_GUARD_OSSL_OUT(EVP_KDF_derive(ctx, okm->data, value_len, params));
out:
    if (st != ARCA_OK) arca_secret_free(okm);
    EVP_KDF_CTX_free(ctx);
    return st;
}

arca_status arca_crypto_derive(const arca_key *base, const arca_mechanism *m, uint32_t ckk_type, size_t value_len,
                               arca_key **out)
{
    arca_status st = ARCA_OK;
    const arca_algs *a = arca_crypto_algs();
    arca_secret s = {0};
    const uint8_t *v = NULL;

    ARCA_ENSURE(base != NULL && m != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(a != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE(arca_crypto_mechanism_allowed(m->type, ARCA_OP_DERIVE), ARCA_ERR_MECHANISM);
    ARCA_ENSURE(ckk_type == CKK_AES || ckk_type == CKK_GENERIC_SECRET, ARCA_ERR_ATTRIBUTE_VALUE);
    switch (m->type) {
    case CKM_ECDH1_DERIVE:
        ARCA_GUARD(ecdh_derive(base, m, &s));
        if (value_len == 0) value_len = s.len;
        /* PKCS#11: a shorter key drops bytes from the leading end. */
        ARCA_ENSURE_OUT(value_len <= s.len, ARCA_ERR_KEY_SIZE);
        v = s.data + (s.len - value_len);
        break;
    case CKM_HKDF_DERIVE:
    case CKM_SP800_108_COUNTER_KDF:
        ARCA_GUARD(kdf_derive(a, base, m, value_len, &s));
        v = s.data;
        break;
    default: return ARCA_ERR_MECHANISM;
    }
    ARCA_GUARD_OUT(arca_key_from_secret(ckk_type, v, value_len, out));
out:
    arca_secret_free(&s);
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("crypto: derive");
    return st;
}

arca_status arca_crypto_random(size_t len, arca_builder *out)
{
    uint8_t *dst = NULL;

    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(len > 0 && len <= ARCA_DATA_MAX, ARCA_ERR_DATA_LEN);
    ARCA_GUARD(arca_builder_reserve(out, len, &dst));
    ARCA_GUARD_OSSL(RAND_priv_bytes(dst, (int)len));
    return ARCA_OK;
}
