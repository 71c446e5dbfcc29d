/* RSA decryption with Arca keys: OAEP (CKM_RSA_PKCS_OAEP with the OAEP
 * digest, MGF1 digest and label) or PKCS#1 v1.5 (CKM_RSA_PKCS). The
 * plaintext is wiped before it is freed. Encryption is a public-key
 * operation: use the public key with the default provider. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <string.h>

#include "prov.h"

typedef struct ac_ctx {
    arca_prov *prov;
    arca_prov_key *key;
    int pad;
    int md_nid, mgf1_nid; /* NID_undef: SHA-1 (OpenSSL's OAEP default) / = md */
    unsigned char *label;
    size_t label_len;
} ac_ctx;

static void *ac_newctx(void *provctx)
{
    ac_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) return NULL;
    c->prov = provctx;
    c->pad = RSA_PKCS1_OAEP_PADDING;
    return c;
}

static void ac_freectx(void *vctx)
{
    ac_ctx *c = vctx;
    if (c == NULL) return;
    arca_prov_key_free(c->key);
    OPENSSL_free(c->label);
    OPENSSL_free(c);
}

static void *ac_dupctx(void *vctx)
{
    ac_ctx *c = vctx, *d = OPENSSL_memdup(c, sizeof *c);
    if (d == NULL) return NULL;
    arca_prov_key_ref(d->key);
    d->label = c->label != NULL ? OPENSSL_memdup(c->label, c->label_len) : NULL;
    if (c->label != NULL && d->label == NULL) {
        ac_freectx(d);
        return NULL;
    }
    return d;
}

static int md_param(const OSSL_PARAM *q, int *out)
{
    char buf[64], *s = buf;
    if (!OSSL_PARAM_get_utf8_string(q, &s, sizeof buf)) return 0;
    *out = OBJ_sn2nid(buf);
    if (*out == NID_undef) *out = OBJ_ln2nid(buf);
    if (*out == NID_undef) {
        EVP_MD *md = EVP_MD_fetch(NULL, buf, NULL);
        if (md != NULL) *out = EVP_MD_get_type(md);
        EVP_MD_free(md);
    }
    return *out != NID_undef;
}

static int ac_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ac_ctx *c = vctx;
    const OSSL_PARAM *q;
    if (params == NULL) return 1;
    if ((q = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
        int pad = 0;
        if (q->data_type == OSSL_PARAM_UTF8_STRING) {
            char buf[32], *s = buf;
            if (!OSSL_PARAM_get_utf8_string(q, &s, sizeof buf)) return 0;
            if (strcmp(buf, OSSL_PKEY_RSA_PAD_MODE_OAEP) == 0) pad = RSA_PKCS1_OAEP_PADDING;
            else if (strcmp(buf, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0) pad = RSA_PKCS1_PADDING;
        } else if (!OSSL_PARAM_get_int(q, &pad)) {
            return 0;
        }
        if (pad != RSA_PKCS1_OAEP_PADDING && pad != RSA_PKCS1_PADDING) {
            arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "RSA padding mode not supported (oaep or pkcs1)");
            return 0;
        }
        c->pad = pad;
    }
    if ((q = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL &&
        !md_param(q, &c->md_nid))
        return 0;
    if ((q = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL &&
        !md_param(q, &c->mgf1_nid))
        return 0;
    if ((q = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL) {
        void *l = NULL;
        size_t n = 0;
        if (!OSSL_PARAM_get_octet_string(q, &l, 0, &n)) return 0;
        OPENSSL_free(c->label);
        c->label = l;
        c->label_len = n;
    }
    return 1;
}

static const OSSL_PARAM *ac_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
        OSSL_PARAM_END,
    };
    return t;
}

static int ac_decrypt_init(void *vctx, void *vkey, const OSSL_PARAM params[])
{
    ac_ctx *c = vctx;
    arca_prov_key *k = vkey;
    if (k == NULL || k->magic != ARCA_PROV_KEY_MAGIC || k->type != ARCA_PROV_KEY_RSA || !k->has_private) return 0;
    arca_prov_key_free(c->key);
    c->key = arca_prov_key_ref(k);
    return ac_set_ctx_params(c, params);
}

static uint32_t ck_hash(int nid)
{
    switch (nid) {
    case NID_undef:
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
    case NID_undef:
    case NID_sha1: return CKG_MGF1_SHA1;
    case NID_sha256: return CKG_MGF1_SHA256;
    case NID_sha384: return CKG_MGF1_SHA384;
    case NID_sha512: return CKG_MGF1_SHA512;
    default: return 0;
    }
}

static int ac_decrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize, const unsigned char *in,
                      size_t inlen)
{
    ac_ctx *c = vctx;
    arca_lp_mechanism m;
    arca_client *cl = NULL;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    arca_status st;
    int ok = 0;
    if (out == NULL) {
        *outlen = (size_t)EVP_PKEY_get_size(c->key->pub);
        return 1;
    }
    memset(&m, 0, sizeof m);
    if (c->pad == RSA_PKCS1_OAEP_PADDING) {
        m.type = CKM_RSA_PKCS_OAEP;
        m.hash = ck_hash(c->md_nid);
        m.mgf = ck_mgf(c->mgf1_nid != NID_undef ? c->mgf1_nid : c->md_nid);
        m.label = (arca_lp_bytes){c->label, c->label_len};
        if (m.hash == 0 || m.mgf == 0) {
            arca_prov_error(c->prov, ARCA_PROV_R_UNSUPPORTED, "OAEP with this digest is not supported");
            return 0;
        }
    } else {
        m.type = CKM_RSA_PKCS;
    }
    if (arca_prov_acquire(c->prov, &cl) != ARCA_OK) return 0;
    st = arca_client_decrypt(cl, &c->key->id, &m, in, inlen, &pt, &pt_len);
    if (st != ARCA_OK) arca_prov_error_status(c->prov, st, "decrypt", arca_client_last_message(cl));
    arca_prov_release(c->prov, cl, st);
    if (st != ARCA_OK) return 0;
    if (pt_len <= outsize) {
        memcpy(out, pt, pt_len);
        *outlen = pt_len;
        ok = 1;
    }
    arca_client_free_secret(pt, pt_len);
    return ok;
}

const OSSL_DISPATCH arca_prov_rsa_asym_cipher_functions[] = {
    {OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))ac_newctx},
    {OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))ac_freectx},
    {OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))ac_dupctx},
    {OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (void (*)(void))ac_decrypt_init},
    {OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))ac_decrypt},
    {OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, (void (*)(void))ac_set_ctx_params},
    {OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, (void (*)(void))ac_settable_ctx_params},
    {0, NULL},
};
