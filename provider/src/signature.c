/* Signatures with Arca keys: RSA (PKCS#1 v1.5, PSS), ECDSA, Ed25519.
 *
 * RSA and ECDSA hash locally (the data never needs to travel) and send the
 * digest: PKCS#1 v1.5 as a DigestInfo under CKM_RSA_PKCS, PSS under
 * CKM_RSA_PKCS_PSS with the hash, MGF1 hash and salt length, ECDSA under
 * CKM_ECDSA (the appliance's r||s is turned into a DER ECDSA-Sig-Value).
 * Ed25519 is one-shot: the message goes to the appliance (CKM_EDDSA).
 * Verification is not offered here: verify with the public key (the
 * default provider). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <string.h>

#include "prov.h"

#ifndef CKM_EDDSA
#define CKM_EDDSA 0x00001057ul
#endif

typedef struct sig_ctx {
    arca_prov *prov;
    arca_prov_key *key;
    EVP_MD *md;     /* NULL: none set */
    EVP_MD *mgf1;   /* NULL: = md */
    EVP_MD_CTX *mdctx;
    int pad;        /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int saltlen;    /* >= 0, or RSA_PSS_SALTLEN_DIGEST / _MAX / _AUTO */
} sig_ctx;

static void *sig_newctx(void *provctx, const char *propq)
{
    sig_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) return NULL;
    c->prov = provctx;
    c->pad = RSA_PKCS1_PADDING;
    c->saltlen = RSA_PSS_SALTLEN_AUTO;
    return c;
}

static void sig_freectx(void *vctx)
{
    sig_ctx *c = vctx;
    if (c == NULL) return;
    arca_prov_key_free(c->key);
    EVP_MD_free(c->md);
    EVP_MD_free(c->mgf1);
    EVP_MD_CTX_free(c->mdctx);
    OPENSSL_free(c);
}

static void *sig_dupctx(void *vctx)
{
    sig_ctx *c = vctx, *d = OPENSSL_memdup(c, sizeof *c);
    if (d == NULL) return NULL;
    d->mdctx = NULL;
    arca_prov_key_ref(d->key);
    if (d->md != NULL) EVP_MD_up_ref(d->md);
    if (d->mgf1 != NULL) EVP_MD_up_ref(d->mgf1);
    if (c->mdctx != NULL) {
        d->mdctx = EVP_MD_CTX_new();
        if (d->mdctx == NULL || !EVP_MD_CTX_copy_ex(d->mdctx, c->mdctx)) {
            sig_freectx(d);
            return NULL;
        }
    }
    return d;
}

static int set_md(sig_ctx *c, EVP_MD **slot, const char *name)
{
    EVP_MD *md = EVP_MD_fetch(c->prov->libctx, name, NULL);
    if (md == NULL) {
        arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "unknown digest '%s'", name);
        return 0;
    }
    EVP_MD_free(*slot);
    *slot = md;
    return 1;
}

static int sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    sig_ctx *c = vctx;
    const OSSL_PARAM *q;
    char buf[64];
    char *s = buf;
    if (params == NULL) return 1;
    if ((q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL) {
        if (!OSSL_PARAM_get_utf8_string(q, &s, sizeof buf) || !set_md(c, &c->md, buf)) return 0;
    }
    if ((q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
        if (!OSSL_PARAM_get_utf8_string(q, &s, sizeof buf) || !set_md(c, &c->mgf1, buf)) return 0;
    }
    if ((q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
        int pad = 0;
        if (q->data_type == OSSL_PARAM_UTF8_STRING) {
            if (!OSSL_PARAM_get_utf8_string(q, &s, sizeof buf)) return 0;
            if (strcmp(buf, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0) pad = RSA_PKCS1_PADDING;
            else if (strcmp(buf, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0) pad = RSA_PKCS1_PSS_PADDING;
        } else if (!OSSL_PARAM_get_int(q, &pad)) {
            return 0;
        }
        if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING) {
            arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "RSA padding mode not supported (pkcs1 or pss)");
            return 0;
        }
        c->pad = pad;
    }
    if ((q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
        int sl = 0;
        if (q->data_type == OSSL_PARAM_UTF8_STRING) {
            if (!OSSL_PARAM_get_utf8_string(q, &s, sizeof buf)) return 0;
            if (strcmp(buf, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0) sl = RSA_PSS_SALTLEN_DIGEST;
            else if (strcmp(buf, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0) sl = RSA_PSS_SALTLEN_MAX;
            else if (strcmp(buf, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0) sl = RSA_PSS_SALTLEN_AUTO;
            else sl = atoi(buf);
        } else if (!OSSL_PARAM_get_int(q, &sl)) {
            return 0;
        }
        if (sl < RSA_PSS_SALTLEN_MAX) return 0;
        c->saltlen = sl;
    }
    return 1;
}

static const OSSL_PARAM *sig_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}

static int hash_len(const sig_ctx *c)
{
    return c->md != NULL ? EVP_MD_get_size(c->md) : 0;
}

/* The salt length the PSS signature uses (RFC 8017 9.1.1 bound for max). */
static int pss_salt(const sig_ctx *c)
{
    int em = (EVP_PKEY_get_bits(c->key->pub) - 1 + 7) / 8;
    if (c->saltlen == RSA_PSS_SALTLEN_DIGEST) return hash_len(c);
    if (c->saltlen == RSA_PSS_SALTLEN_MAX || c->saltlen == RSA_PSS_SALTLEN_AUTO) return em - hash_len(c) - 2;
    return c->saltlen;
}

/* The AlgorithmIdentifier for certificates and CMS (DER, malloc'd by
 * OpenSSL); NULL when the combination has none. */
static unsigned char *algorithm_id(const sig_ctx *c, int *out_len)
{
    X509_ALGOR *alg = X509_ALGOR_new();
    unsigned char *der = NULL;
    int nid = NID_undef, md_nid = c->md != NULL ? EVP_MD_get_type(c->md) : NID_undef;
    RSA_PSS_PARAMS *pp = NULL;
    X509_ALGOR *mgfmd = NULL;
    ASN1_STRING *str = NULL;
    if (alg == NULL) return NULL;
    switch (c->key->type) {
    case ARCA_PROV_KEY_ED25519:
        X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL);
        break;
    case ARCA_PROV_KEY_EC:
        if (!OBJ_find_sigid_by_algs(&nid, md_nid, NID_X9_62_id_ecPublicKey)) goto fail;
        X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL);
        break;
    case ARCA_PROV_KEY_RSA:
        if (c->pad == RSA_PKCS1_PADDING) {
            if (!OBJ_find_sigid_by_algs(&nid, md_nid, NID_rsaEncryption)) goto fail;
            X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL);
            break;
        }
        if (c->md == NULL || (pp = RSA_PSS_PARAMS_new()) == NULL) goto fail;
        if ((pp->hashAlgorithm = X509_ALGOR_new()) == NULL || (pp->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
            (mgfmd = X509_ALGOR_new()) == NULL || (pp->saltLength = ASN1_INTEGER_new()) == NULL)
            goto fail;
        X509_ALGOR_set_md(pp->hashAlgorithm, c->md);
        X509_ALGOR_set_md(mgfmd, c->mgf1 != NULL ? c->mgf1 : c->md);
        if ((str = ASN1_item_pack(mgfmd, ASN1_ITEM_rptr(X509_ALGOR), NULL)) == NULL) goto fail;
        X509_ALGOR_set0(pp->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, str);
        str = NULL;
        if (!ASN1_INTEGER_set(pp->saltLength, pss_salt(c))) goto fail;
        if ((str = ASN1_item_pack(pp, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL)) == NULL) goto fail;
        X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, str);
        str = NULL;
        break;
    default: goto fail;
    }
    *out_len = i2d_X509_ALGOR(alg, &der);
    if (*out_len <= 0) der = NULL;
fail:
    ASN1_STRING_free(str);
    X509_ALGOR_free(mgfmd);
    RSA_PSS_PARAMS_free(pp);
    X509_ALGOR_free(alg);
    return der;
}

static int sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    sig_ctx *c = vctx;
    OSSL_PARAM *q;
    if ((q = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL) {
        int len = 0;
        unsigned char *der = c->key != NULL ? algorithm_id(c, &len) : NULL;
        int ok = der != NULL && OSSL_PARAM_set_octet_string(q, der, (size_t)len);
        OPENSSL_free(der);
        if (!ok) return 0;
    }
    if ((q = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL && c->md != NULL &&
        !OSSL_PARAM_set_utf8_string(q, EVP_MD_get0_name(c->md)))
        return 0;
    if ((q = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL && !OSSL_PARAM_set_int(q, c->pad))
        return 0;
    return 1;
}

static const OSSL_PARAM *sig_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL),
        OSSL_PARAM_END,
    };
    return t;
}

static int sig_init(sig_ctx *c, void *vkey, const OSSL_PARAM params[], arca_prov_key_type want)
{
    arca_prov_key *k = vkey;
    if (k == NULL || k->magic != ARCA_PROV_KEY_MAGIC || k->type != want) return 0;
    if (!k->has_private) {
        arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "this Arca key is a public key: it cannot sign");
        return 0;
    }
    arca_prov_key_free(c->key);
    c->key = arca_prov_key_ref(k);
    return sig_set_ctx_params(c, params);
}

static int rsa_sign_init(void *vctx, void *vkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, vkey, params, ARCA_PROV_KEY_RSA);
}
static int ecdsa_sign_init(void *vctx, void *vkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, vkey, params, ARCA_PROV_KEY_EC);
}

static uint32_t ck_hash(int nid)
{
    switch (nid) {
    case NID_sha1: return CKM_SHA_1;
    case NID_sha256: return CKM_SHA256;
    case NID_sha384: return CKM_SHA384;
    case NID_sha512: return CKM_SHA512;
    default: return 0;
    }
}

static uint32_t ck_mgf(int nid)
{
    switch (nid) {
    case NID_sha1: return CKG_MGF1_SHA1;
    case NID_sha256: return CKG_MGF1_SHA256;
    case NID_sha384: return CKG_MGF1_SHA384;
    case NID_sha512: return CKG_MGF1_SHA512;
    default: return 0;
    }
}

/* One SIGN on the appliance. */
static arca_status appliance_sign(sig_ctx *c, const arca_lp_mechanism *m, const uint8_t *in, size_t len,
                                  uint8_t **out, size_t *out_len)
{
    arca_client *cl = NULL;
    arca_status st;
    ARCA_GUARD(arca_prov_acquire(c->prov, &cl));
    st = arca_client_sign(cl, &c->key->id, m, in, len, out, out_len);
    if (st != ARCA_OK) arca_prov_error_status(c->prov, st, "sign", arca_client_last_message(cl));
    arca_prov_release(c->prov, cl, st);
    return st;
}

/* Sign a digest (RSA, ECDSA) into sig (room for sigsize bytes). */
static int sign_digest(sig_ctx *c, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                       size_t tbslen)
{
    arca_lp_mechanism m;
    uint8_t *raw = NULL, *der = NULL;
    size_t raw_len = 0;
    unsigned char *di = NULL;
    int ok = 0;
    memset(&m, 0, sizeof m);
    if (c->md != NULL && tbslen != (size_t)EVP_MD_get_size(c->md)) {
        arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "input is %zu bytes, not a %s digest", tbslen,
                        EVP_MD_get0_name(c->md));
        return 0;
    }
    if (c->key->type == ARCA_PROV_KEY_EC) {
        ECDSA_SIG *es = NULL;
        BIGNUM *r = NULL, *s = NULL;
        int dl;
        m.type = CKM_ECDSA;
        if (appliance_sign(c, &m, tbs, tbslen, &raw, &raw_len) != ARCA_OK) return 0;
        if (raw_len == 0 || raw_len % 2 != 0 || (es = ECDSA_SIG_new()) == NULL ||
            (r = BN_bin2bn(raw, (int)(raw_len / 2), NULL)) == NULL ||
            (s = BN_bin2bn(raw + raw_len / 2, (int)(raw_len / 2), NULL)) == NULL || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            arca_prov_error(c->prov, ARCA_PROV_R_INTERNAL, "malformed ECDSA signature from the appliance");
            goto out;
        }
        dl = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (dl <= 0 || (size_t)dl > sigsize) goto out;
        memcpy(sig, der, (size_t)dl);
        *siglen = (size_t)dl;
        ok = 1;
        goto out;
    }
    /* RSA */
    if (c->pad == RSA_PKCS1_PSS_PADDING) {
        int nid;
        if (c->md == NULL) {
            arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "RSA-PSS needs a digest");
            return 0;
        }
        nid = EVP_MD_get_type(c->md);
        m.type = CKM_RSA_PKCS_PSS;
        m.hash = ck_hash(nid);
        m.mgf = ck_mgf(EVP_MD_get_type(c->mgf1 != NULL ? c->mgf1 : c->md));
        if (m.hash == 0 || m.mgf == 0 || pss_salt(c) < 0) {
            arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "RSA-PSS with these digests is not supported");
            return 0;
        }
        m.salt_len = (uint32_t)pss_salt(c);
        if (appliance_sign(c, &m, tbs, tbslen, &raw, &raw_len) != ARCA_OK) return 0;
    } else {
        const unsigned char *in = tbs;
        size_t in_len = tbslen;
        m.type = CKM_RSA_PKCS;
        if (c->md != NULL) { /* DigestInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING } */
            X509_SIG *xs = X509_SIG_new();
            X509_ALGOR *a = NULL;
            ASN1_OCTET_STRING *os = NULL;
            int dl;
            if (xs == NULL) return 0;
            X509_SIG_getm(xs, &a, &os);
            if (!X509_ALGOR_set0(a, OBJ_nid2obj(EVP_MD_get_type(c->md)), V_ASN1_NULL, NULL) ||
                !ASN1_OCTET_STRING_set(os, tbs, (int)tbslen) || (dl = i2d_X509_SIG(xs, &di)) <= 0) {
                X509_SIG_free(xs);
                return 0;
            }
            X509_SIG_free(xs);
            in = di;
            in_len = (size_t)dl;
        }
        if (appliance_sign(c, &m, in, in_len, &raw, &raw_len) != ARCA_OK) goto out;
    }
    if (raw_len > sigsize) goto out;
    memcpy(sig, raw, raw_len);
    *siglen = raw_len;
    ok = 1;
out:
    OPENSSL_free(di);
    OPENSSL_free(der);
    free(raw);
    return ok;
}

static int sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                    size_t tbslen)
{
    sig_ctx *c = vctx;
    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(c->key->pub);
        return 1;
    }
    return sign_digest(c, sig, siglen, sigsize, tbs, tbslen);
}

static int digest_init(sig_ctx *c, const char *mdname, void *vkey, const OSSL_PARAM params[],
                       arca_prov_key_type want)
{
    if (!sig_init(c, vkey, params, want)) return 0;
    if (mdname != NULL && mdname[0] != '\0') {
        if (!set_md(c, &c->md, mdname)) return 0;
    } else if (c->md == NULL && !set_md(c, &c->md, "SHA256")) {
        return 0;
    }
    if (c->mdctx == NULL && (c->mdctx = EVP_MD_CTX_new()) == NULL) return 0;
    return EVP_DigestInit_ex2(c->mdctx, c->md, NULL);
}

static int rsa_digest_sign_init(void *vctx, const char *mdname, void *vkey, const OSSL_PARAM params[])
{
    return digest_init(vctx, mdname, vkey, params, ARCA_PROV_KEY_RSA);
}
static int ecdsa_digest_sign_init(void *vctx, const char *mdname, void *vkey, const OSSL_PARAM params[])
{
    return digest_init(vctx, mdname, vkey, params, ARCA_PROV_KEY_EC);
}

static int sig_digest_update(void *vctx, const unsigned char *data, size_t len)
{
    sig_ctx *c = vctx;
    return c->mdctx != NULL && EVP_DigestUpdate(c->mdctx, data, len);
}

static int sig_digest_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    sig_ctx *c = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(c->key->pub);
        return 1;
    }
    if (c->mdctx == NULL || !EVP_DigestFinal_ex(c->mdctx, dgst, &dlen)) return 0;
    return sign_digest(c, sig, siglen, sigsize, dgst, dlen);
}

/* Ed25519: one-shot, no digest. */
static int ed_digest_sign_init(void *vctx, const char *mdname, void *vkey, const OSSL_PARAM params[])
{
    sig_ctx *c = vctx;
    if (mdname != NULL && mdname[0] != '\0') {
        arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "Ed25519 takes no digest");
        return 0;
    }
    return sig_init(c, vkey, params, ARCA_PROV_KEY_ED25519);
}

static int ed_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                          size_t tbslen)
{
    sig_ctx *c = vctx;
    arca_lp_mechanism m;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    int ok = 0;
    if (sig == NULL) {
        *siglen = 64;
        return 1;
    }
    memset(&m, 0, sizeof m);
    m.type = CKM_EDDSA;
    if (appliance_sign(c, &m, tbs, tbslen, &raw, &raw_len) != ARCA_OK) return 0;
    if (raw_len <= sigsize) {
        memcpy(sig, raw, raw_len);
        *siglen = raw_len;
        ok = 1;
    }
    free(raw);
    return ok;
}

#define SIG_COMMON                                                                                                  \
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx},                                                      \
        {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},                                                \
        {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},                                                  \
        {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},                                  \
        {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))sig_gettable_ctx_params},                        \
        {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},                                  \
        {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sig_settable_ctx_params}

const OSSL_DISPATCH arca_prov_rsa_signature_functions[] = {
    SIG_COMMON,
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))rsa_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))rsa_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))sig_digest_final},
    {0, NULL},
};
const OSSL_DISPATCH arca_prov_ecdsa_signature_functions[] = {
    SIG_COMMON,
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))ecdsa_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))ecdsa_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))sig_digest_final},
    {0, NULL},
};
const OSSL_DISPATCH arca_prov_ed25519_signature_functions[] = {
    SIG_COMMON,
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))ed_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))ed_digest_sign},
    {0, NULL},
};
