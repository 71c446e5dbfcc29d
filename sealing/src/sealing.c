/* The backend-independent half of the platform root of trust: backend
 * selection, the sealed blob format, key derivation, and dispatch of the
 * counter and evidence to the backend chosen at open. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/log.h"
#include "arca/secret.h"
#include "sealing_internal.h"

#define SEAL_MAGIC "ASB1"
#define SEAL_FORMAT 1u
#define SEAL_ALG_AES256GCM 1u
#define SEAL_IV_LEN 12u
#define SEAL_TAG_LEN 16u
#define SEAL_KEY_LEN 32u
/* The sealing key generation new blobs are sealed under. Older generations
 * stay readable; a later key rotation bumps this. */
#define SEAL_KEY_GENERATION_CURRENT 1u
#define DERIVE_PURPOSE_MAX 128u

struct arca_sealing {
    const sealing_backend_ops *ops;
    void *state;
    arca_enclave_identity self;
    arca_secret seal_key; /* for self.svn and the current generation */
};

static const sealing_backend_ops *backend_for(const char *mode)
{
    if (mode == NULL) return NULL;
    if (strcmp(mode, "dev") == 0) return &arca_sealing_dev_ops;
    if (strcmp(mode, "tpm") == 0) return &arca_sealing_tpm_ops;
    return NULL;
}

/* HKDF-SHA256(ikm; salt; info) -> 32 bytes straight into secret memory. */
static arca_status hkdf32(const arca_secret *ikm, const char *salt, const uint8_t *info, size_t info_len,
                          arca_secret *out)
{
    arca_status st = ARCA_OK;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    arca_secret key = {0};
    OSSL_PARAM params[5];
    size_t n = 0;

    ARCA_ENSURE(ikm != NULL && ikm->data != NULL && ikm->len > 0, ARCA_ERR_INTERNAL);
    kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    ARCA_ENSURE_OUT(kdf != NULL, ARCA_ERR_CRYPTO);
    kctx = EVP_KDF_CTX_new(kdf);
    ARCA_ENSURE_OUT(kctx != NULL, ARCA_ERR_NOMEM);
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm->data, ikm->len);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, strlen(salt));
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    params[n] = OSSL_PARAM_construct_end();
    ARCA_GUARD_OUT(arca_secret_alloc(&key, SEAL_KEY_LEN));
    ARCA_GUARD_OSSL_OUT(EVP_KDF_derive(kctx, key.data, key.len, params));
    *out = key;
    key = (arca_secret){0};
out:
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("HKDF");
    arca_secret_free(&key);
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return st;
}

/* The sealing key for (our signer, product, svn, generation). */
static arca_status derive_seal_key(const arca_sealing *s, uint16_t svn, uint32_t generation, arca_secret *out)
{
    /* The debug flag is part of the key (as SGX's DEBUG attribute is): a
     * debug-signed image never reads what a production image sealed. */
    uint8_t info[32 + 2 + 2 + 4 + 1];
    arca_builder b;
    arca_builder_init_fixed(&b, info, sizeof info);
    ARCA_GUARD(arca_builder_add_bytes(&b, s->self.signer_id, sizeof s->self.signer_id));
    ARCA_GUARD(arca_builder_add_u16(&b, s->self.product_id));
    ARCA_GUARD(arca_builder_add_u16(&b, svn));
    ARCA_GUARD(arca_builder_add_u32(&b, generation));
    ARCA_GUARD(arca_builder_add_u8(&b, s->self.debug ? 1 : 0));
    ARCA_ENSURE(b.len == sizeof info, ARCA_ERR_INTERNAL);
    return hkdf32(s->ops->seed(s->state), "arca-seal-v1", info, sizeof info, out);
}

static arca_status check_purpose(uint16_t purpose)
{
    switch ((arca_seal_purpose)purpose) {
    case ARCA_SEAL_OBJECT:
    case ARCA_SEAL_STATE:
    case ARCA_SEAL_AUDIT_HEAD:
        return ARCA_OK;
    default:
        return ARCA_ERR_ARGS;
    }
}

arca_status arca_sealing_initialise(const arca_sealing_config *cfg)
{
    ARCA_ENSURE(cfg != NULL, ARCA_ERR_ARGS);
    const sealing_backend_ops *ops = backend_for(cfg->mode);
    if (ops == NULL) {
        ARCA_ERROR("unknown sealing mode '%s' (expected dev or tpm)", cfg->mode ? cfg->mode : "(none)");
        return ARCA_ERR_CONFIG;
    }
    return ops->initialise(cfg);
}

arca_status arca_sealing_open(const arca_sealing_config *cfg, const arca_enclave_identity *self, arca_sealing **out)
{
    arca_status st = ARCA_OK;
    arca_sealing *s = NULL;

    ARCA_ENSURE(cfg != NULL && self != NULL && out != NULL, ARCA_ERR_ARGS);
    const sealing_backend_ops *ops = backend_for(cfg->mode);
    if (ops == NULL) {
        ARCA_ERROR("unknown sealing mode '%s' (expected dev or tpm)", cfg->mode ? cfg->mode : "(none)");
        return ARCA_ERR_CONFIG;
    }
    s = calloc(1, sizeof *s);
    ARCA_ENSURE(s != NULL, ARCA_ERR_NOMEM);
    s->ops = ops;
    s->self = *self;
    ARCA_GUARD_OUT(ops->open(cfg, self, &s->state));
    /* Cache the hot-path key once, so sealing a blob is one AES-GCM pass. */
    ARCA_GUARD_OUT(derive_seal_key(s, self->svn, SEAL_KEY_GENERATION_CURRENT, &s->seal_key));
    *out = s;
    s = NULL;
out:
    arca_sealing_free(s);
    return st;
}

void arca_sealing_free(arca_sealing *s)
{
    if (s == NULL) return;
    arca_secret_free(&s->seal_key);
    if (s->state != NULL) s->ops->close(s->state);
    arca_wipe(s, sizeof *s);
    free(s);
}

const char *arca_sealing_mode(const arca_sealing *s)
{
    return s != NULL ? s->ops->name : "none";
}

bool arca_sealing_is_insecure(const arca_sealing *s)
{
    return s == NULL || s->ops->insecure;
}

static arca_status gcm_init(EVP_CIPHER_CTX **out_ctx, int enc, const uint8_t *key, const uint8_t *iv)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_IV_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return ARCA_ERR_CRYPTO;
    }
    *out_ctx = ctx;
    return ARCA_OK;
}

/* Feed AAD = header || caller aad. */
static arca_status gcm_aad(EVP_CIPHER_CTX *ctx, const uint8_t *hdr, const uint8_t *aad, size_t aad_len)
{
    int n = 0;
    ARCA_GUARD_OSSL(EVP_CipherUpdate(ctx, NULL, &n, hdr, (int)ARCA_SEALED_HEADER_LEN));
    if (aad_len > 0) ARCA_GUARD_OSSL(EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len));
    return ARCA_OK;
}

arca_status arca_sealing_seal(arca_sealing *s, const arca_blob_meta *meta, const uint8_t *aad, size_t aad_len,
                              const uint8_t *pt, size_t pt_len, uint8_t **out_blob, size_t *out_len)
{
    arca_status st = ARCA_OK;
    arca_builder b = {0};
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t iv[SEAL_IV_LEN];
    uint8_t *body = NULL;
    int n = 0;

    ARCA_ENSURE(s != NULL && meta != NULL && pt != NULL && out_blob != NULL && out_len != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(aad != NULL || aad_len == 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(aad_len <= INT32_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(pt_len > 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(pt_len <= ARCA_SEALED_MAX_PLAINTEXT, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(check_purpose(meta->purpose));
    ARCA_ENSURE(RAND_bytes(iv, sizeof iv) == 1, ARCA_ERR_CRYPTO);

    const size_t total = ARCA_SEALED_OVERHEAD + pt_len;
    ARCA_GUARD_OUT(arca_builder_init(&b, total, total));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, SEAL_MAGIC, 4));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, SEAL_FORMAT));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, SEAL_ALG_AES256GCM));
    ARCA_GUARD_OUT(arca_builder_add_u32(&b, SEAL_KEY_GENERATION_CURRENT));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, s->self.svn));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, 0)); /* reserved */
    ARCA_GUARD_OUT(arca_builder_add_u32(&b, 0)); /* flags */
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, meta->object_id, ARCA_OBJECT_ID_LEN));
    ARCA_GUARD_OUT(arca_builder_add_u64(&b, meta->object_version));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, meta->purpose));
    ARCA_GUARD_OUT(arca_builder_add_u32(&b, (uint32_t)pt_len));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, iv, sizeof iv));
    ARCA_ENSURE_OUT(b.len == ARCA_SEALED_HEADER_LEN, ARCA_ERR_INTERNAL);
    ARCA_GUARD_OUT(arca_builder_reserve(&b, pt_len + SEAL_TAG_LEN, &body));

    ARCA_GUARD_OUT(gcm_init(&ctx, 1, s->seal_key.data, iv));
    ARCA_GUARD_OUT(gcm_aad(ctx, b.data, aad, aad_len));
    ARCA_GUARD_OSSL_OUT(EVP_EncryptUpdate(ctx, body, &n, pt, (int)pt_len));
    ARCA_ENSURE_OUT((size_t)n == pt_len, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(EVP_EncryptFinal_ex(ctx, body + pt_len, &n));
    ARCA_ENSURE_OUT(n == 0, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, body + pt_len));
    ARCA_GUARD_OUT(arca_builder_finish(&b, out_blob, out_len));
out:
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("seal");
    EVP_CIPHER_CTX_free(ctx);
    arca_builder_cleanup(&b);
    return st;
}

typedef struct parsed_blob {
    const uint8_t *header;
    uint32_t key_generation;
    uint16_t svn;
    uint8_t object_id[ARCA_OBJECT_ID_LEN];
    uint64_t object_version;
    uint16_t purpose;
    uint32_t pt_len;
    uint8_t iv[SEAL_IV_LEN];
    const uint8_t *ct;
    const uint8_t *tag;
} parsed_blob;

/* Structure only: everything here is ARCA_ERR_DECODE. */
static arca_status parse_blob(const uint8_t *blob, size_t blob_len, parsed_blob *p)
{
    arca_cursor c;
    const uint8_t *magic = NULL;
    uint16_t format = 0, alg = 0, reserved = 0;
    uint32_t flags = 0;

    arca_cursor_init(&c, blob, blob_len);
    p->header = blob;
    ARCA_GUARD(arca_cursor_get_bytes(&c, 4, &magic));
    ARCA_ENSURE(memcmp(magic, SEAL_MAGIC, 4) == 0, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16(&c, &format));
    ARCA_ENSURE(format == SEAL_FORMAT, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16(&c, &alg));
    ARCA_ENSURE(alg == SEAL_ALG_AES256GCM, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u32(&c, &p->key_generation));
    ARCA_ENSURE(p->key_generation != 0, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16(&c, &p->svn));
    ARCA_GUARD(arca_cursor_get_u16(&c, &reserved));
    ARCA_ENSURE(reserved == 0, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u32(&c, &flags));
    ARCA_ENSURE(flags == 0, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_copy_bytes(&c, p->object_id, ARCA_OBJECT_ID_LEN));
    ARCA_GUARD(arca_cursor_get_u64(&c, &p->object_version));
    ARCA_GUARD(arca_cursor_get_u16(&c, &p->purpose));
    ARCA_GUARD(arca_cursor_get_u32(&c, &p->pt_len));
    ARCA_ENSURE(p->pt_len > 0 && p->pt_len <= ARCA_SEALED_MAX_PLAINTEXT, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_copy_bytes(&c, p->iv, SEAL_IV_LEN));
    ARCA_GUARD(arca_cursor_get_bytes(&c, p->pt_len, &p->ct));
    ARCA_GUARD(arca_cursor_get_bytes(&c, SEAL_TAG_LEN, &p->tag));
    ARCA_GUARD(arca_cursor_finish(&c));
    return ARCA_OK;
}

arca_status arca_sealing_unseal(arca_sealing *s, const arca_blob_meta *expect, const uint8_t *aad, size_t aad_len,
                                const uint8_t *blob, size_t blob_len, arca_blob_meta *out_meta, arca_secret *out_pt)
{
    arca_status st = ARCA_OK;
    parsed_blob p;
    arca_secret older_key = {0};
    arca_secret pt = {0};
    const uint8_t *key = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t tag[SEAL_TAG_LEN];
    int n = 0;

    ARCA_ENSURE(s != NULL && expect != NULL && blob != NULL && out_pt != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(aad != NULL || aad_len == 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(aad_len <= INT32_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(parse_blob(blob, blob_len, &p));
    if (p.svn > s->self.svn) {
        ARCA_ERROR("sealed blob was sealed by SVN %u, newer than this enclave's SVN %u", (unsigned)p.svn,
                   (unsigned)s->self.svn);
        return ARCA_ERR_SVN;
    }
    /* A key generation we do not have cannot authenticate anything. */
    ARCA_ENSURE(p.key_generation <= SEAL_KEY_GENERATION_CURRENT, ARCA_ERR_INTEGRITY);
    ARCA_ENSURE(memcmp(p.object_id, expect->object_id, ARCA_OBJECT_ID_LEN) == 0, ARCA_ERR_INTEGRITY);
    ARCA_ENSURE(p.purpose == expect->purpose, ARCA_ERR_INTEGRITY);

    if (p.svn == s->self.svn && p.key_generation == SEAL_KEY_GENERATION_CURRENT) {
        key = s->seal_key.data;
    } else {
        ARCA_GUARD_OUT(derive_seal_key(s, p.svn, p.key_generation, &older_key));
        key = older_key.data;
    }

    ARCA_GUARD_OUT(arca_secret_alloc(&pt, p.pt_len));
    memcpy(tag, p.tag, sizeof tag);
    ARCA_GUARD_OUT(gcm_init(&ctx, 0, key, p.iv));
    ARCA_GUARD_OUT(gcm_aad(ctx, p.header, aad, aad_len));
    ARCA_GUARD_OSSL_OUT(EVP_DecryptUpdate(ctx, pt.data, &n, p.ct, (int)p.pt_len));
    ARCA_ENSURE_OUT((size_t)n == p.pt_len, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag));
    if (EVP_DecryptFinal_ex(ctx, pt.data + p.pt_len, &n) != 1) {
        ERR_clear_error(); /* a forged or damaged blob, not a library fault */
        st = ARCA_ERR_INTEGRITY;
        goto out;
    }

    if (out_meta != NULL) {
        memcpy(out_meta->object_id, p.object_id, ARCA_OBJECT_ID_LEN);
        out_meta->object_version = p.object_version;
        out_meta->purpose = p.purpose;
        out_meta->key_generation = p.key_generation;
        out_meta->svn = p.svn;
    }
    *out_pt = pt;
    pt = (arca_secret){0};
out:
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("unseal");
    EVP_CIPHER_CTX_free(ctx);
    arca_secret_free(&pt);
    arca_secret_free(&older_key);
    return st;
}

arca_status arca_sealing_derive_key(arca_sealing *s, const char *purpose, arca_secret *out)
{
    arca_status st = ARCA_OK;
    uint8_t info[DERIVE_PURPOSE_MAX + 32 + 1];
    arca_builder b;

    ARCA_ENSURE(s != NULL && purpose != NULL && out != NULL, ARCA_ERR_ARGS);
    size_t plen = strlen(purpose);
    /* signer_id is fixed-length and last, so purpose || signer_id is
     * unambiguous without a separator. */
    ARCA_ENSURE(plen > 0 && plen <= DERIVE_PURPOSE_MAX, ARCA_ERR_ARGS);
    arca_builder_init_fixed(&b, info, sizeof info);
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, purpose, plen));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, s->self.signer_id, sizeof s->self.signer_id));
    ARCA_GUARD_OUT(arca_builder_add_u8(&b, s->self.debug ? 1 : 0));
    ARCA_GUARD_OUT(hkdf32(s->ops->seed(s->state), "arca-derive-v1", info, b.len, out));
out:
    return st;
}

arca_status arca_sealing_counter_read(arca_sealing *s, uint64_t *out)
{
    ARCA_ENSURE(s != NULL && out != NULL, ARCA_ERR_ARGS);
    return s->ops->counter_read(s->state, out);
}

arca_status arca_sealing_counter_increment(arca_sealing *s, uint64_t *out_new)
{
    ARCA_ENSURE(s != NULL && out_new != NULL, ARCA_ERR_ARGS);
    return s->ops->counter_increment(s->state, out_new);
}

arca_status arca_sealing_evidence_create(arca_sealing *s, const uint8_t report_data[ARCA_REPORT_DATA_LEN],
                                         uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(s != NULL && report_data != NULL && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    return s->ops->evidence_create(s->state, &s->self, report_data, out, out_len);
}
