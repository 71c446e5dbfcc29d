/* KMIP cryptographic operations: Encrypt, Decrypt, Sign, Signature Verify,
 * MAC, MAC Verify. Each is a single-shot call (no streaming with
 * Correlation Value / Init / Final Indicator). Cryptographic Parameters
 * select the PKCS#11 mechanism; without them the key's type decides
 * (docs/protocol.md, "KMIP"). */
#include "kmip_server.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "arca/secret.h"

#define GCM_IV_LEN 12u
#define CBC_IV_LEN 16u

typedef struct cparams {
    bool has_mode, has_pad, has_hash, has_dsa, has_alg, has_tag_len, has_salt_len, has_mgf_hash;
    uint32_t mode, pad, hash, dsa, alg, mgf_hash;
    int32_t tag_len, salt_len;
} cparams;

static arca_status parse_cparams(kmip_ctx *c, const arca_ttlv_node *p, cparams *cp)
{
    const arca_ttlv_node *n;
    memset(cp, 0, sizeof(*cp));
    ARCA_GUARD(kmip_opt_child(c, p, ARCA_KMIP_TAG_CRYPTOGRAPHIC_PARAMETERS, ARCA_TTLV_STRUCTURE, &n));
    if (n == NULL) return ARCA_OK;
    ARCA_GUARD(kmip_opt_enum(c, n, ARCA_KMIP_TAG_BLOCK_CIPHER_MODE, &cp->mode, &cp->has_mode));
    ARCA_GUARD(kmip_opt_enum(c, n, ARCA_KMIP_TAG_PADDING_METHOD, &cp->pad, &cp->has_pad));
    ARCA_GUARD(kmip_opt_enum(c, n, ARCA_KMIP_TAG_HASHING_ALGORITHM, &cp->hash, &cp->has_hash));
    ARCA_GUARD(kmip_opt_enum(c, n, ARCA_KMIP_TAG_DIGITAL_SIGNATURE_ALGORITHM, &cp->dsa, &cp->has_dsa));
    ARCA_GUARD(kmip_opt_enum(c, n, ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, &cp->alg, &cp->has_alg));
    ARCA_GUARD(kmip_opt_int(c, n, ARCA_KMIP_TAG_TAG_LENGTH, &cp->tag_len, &cp->has_tag_len));
    ARCA_GUARD(kmip_opt_int(c, n, ARCA_KMIP_TAG_SALT_LENGTH, &cp->salt_len, &cp->has_salt_len));
    ARCA_GUARD(kmip_opt_enum(c, n, ARCA_KMIP_TAG_MASK_GENERATOR_HASHING_ALGORITHM, &cp->mgf_hash, &cp->has_mgf_hash));
    return ARCA_OK;
}

static uint32_t ckm_hash(uint32_t kmip_hash)
{
    switch (kmip_hash) {
    case ARCA_KMIP_HASH_SHA_1: return CKM_SHA_1;
    case ARCA_KMIP_HASH_SHA_256: return CKM_SHA256;
    case ARCA_KMIP_HASH_SHA_384: return CKM_SHA384;
    case ARCA_KMIP_HASH_SHA_512: return CKM_SHA512;
    default: return 0;
    }
}

static uint32_t ckg_mgf(uint32_t kmip_hash)
{
    switch (kmip_hash) {
    case ARCA_KMIP_HASH_SHA_1: return CKG_MGF1_SHA1;
    case ARCA_KMIP_HASH_SHA_256: return CKG_MGF1_SHA256;
    case ARCA_KMIP_HASH_SHA_384: return CKG_MGF1_SHA384;
    case ARCA_KMIP_HASH_SHA_512: return CKG_MGF1_SHA512;
    default: return 0;
    }
}

static arca_status bad_params(kmip_ctx *c, const char *what)
{
    return kmip_fail(c, ARCA_ERR_MECHANISM, kmip_reason_for(c, ARCA_ERR_MECHANISM), "%s", what);
}

/* The keystore's refusals, with a message that says what to change. */
static arca_status use_failed(kmip_ctx *c, arca_status st)
{
    switch (st) {
    case ARCA_ERR_KEY_FUNCTION:
        return kmip_fail(c, st, kmip_reason_for(c, st),
                         "the key's Cryptographic Usage Mask does not allow this operation");
    case ARCA_ERR_KEY_TYPE:
        return kmip_fail(c, st, kmip_reason_for(c, st), "the key's type does not fit the cryptographic parameters");
    case ARCA_ERR_MECHANISM_PARAM:
        return kmip_fail(c, st, kmip_reason_for(c, st), "invalid cryptographic parameters (IV, tag or salt length)");
    case ARCA_ERR_DATA_LEN:
        return kmip_fail(c, st, kmip_reason_for(c, st), "the data has the wrong length for this key and mechanism");
    default:
        return st;
    }
}

/* Common start: key id, its type, the parameters; refuses streaming. */
static arca_status begin(kmip_ctx *c, const arca_ttlv_node *p, arca_object_id *id, uint32_t *ktype, cparams *cp)
{
    const arca_ttlv_node *x;
    ARCA_GUARD(kmip_get_uid(c, p, id));
    ARCA_GUARD(parse_cparams(c, p, cp));
    x = arca_ttlv_find(p, ARCA_KMIP_TAG_CORRELATION_VALUE);
    if (x == NULL) x = arca_ttlv_find(p, ARCA_KMIP_TAG_INIT_INDICATOR);
    if (x == NULL) x = arca_ttlv_find(p, ARCA_KMIP_TAG_FINAL_INDICATOR);
    if (x != NULL) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                         "streaming (Correlation Value, Init / Final Indicator) is not supported");
    }
    return kmip_obj_u32(c, id, CKA_KEY_TYPE, ktype);
}

static arca_status req_data(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, const uint8_t **d, size_t *len)
{
    const arca_ttlv_node *n;
    ARCA_GUARD(kmip_req_child(c, p, tag, ARCA_TTLV_BYTE_STRING, &n));
    if (n->len > ARCA_DATA_MAX) {
        return kmip_fail(c, ARCA_ERR_DATA_LEN, ARCA_KMIP_REASON_INVALID_FIELD, "%s longer than %u bytes",
                         arca_kmip_tag_name(tag), ARCA_DATA_MAX);
    }
    *d = n->data;
    *len = n->len;
    return ARCA_OK;
}

/* ---- Encrypt, Decrypt ------------------------------------------------------ */

typedef enum cipher_kind { CK_GCM, CK_CBC, CK_RSA } cipher_kind;

static arca_status cipher_mechanism(kmip_ctx *c, uint32_t ktype, const cparams *cp, arca_mechanism *m,
                                    cipher_kind *kind)
{
    memset(m, 0, sizeof(*m));
    if (ktype == CKK_AES) {
        uint32_t mode = cp->has_mode ? cp->mode : ARCA_KMIP_MODE_GCM;
        if (mode == ARCA_KMIP_MODE_GCM) {
            *kind = CK_GCM;
            m->type = CKM_AES_GCM;
            if (cp->has_tag_len) {
                if (cp->tag_len < 12 || cp->tag_len > 16) {
                    return kmip_fail(c, ARCA_ERR_MECHANISM_PARAM, kmip_reason_for(c, ARCA_ERR_MECHANISM_PARAM),
                                     "GCM Tag Length must be 12 to 16 bytes");
                }
                m->tag_bits = (uint32_t)cp->tag_len * 8;
            }
            return ARCA_OK;
        }
        if (mode == ARCA_KMIP_MODE_CBC && (!cp->has_pad || cp->pad == ARCA_KMIP_PADDING_PKCS5)) {
            *kind = CK_CBC;
            m->type = CKM_AES_CBC_PAD;
            return ARCA_OK;
        }
        return bad_params(c, "AES: Block Cipher Mode GCM, or CBC with Padding Method PKCS5");
    }
    if (ktype == CKK_RSA) {
        uint32_t pad = cp->has_pad ? cp->pad : ARCA_KMIP_PADDING_OAEP;
        *kind = CK_RSA;
        if (pad == ARCA_KMIP_PADDING_OAEP) {
            m->type = CKM_RSA_PKCS_OAEP;
            m->hash = ckm_hash(cp->has_hash ? cp->hash : ARCA_KMIP_HASH_SHA_256);
            m->mgf = cp->has_mgf_hash ? ckg_mgf(cp->mgf_hash) : 0;
            if (m->hash == 0 || (cp->has_mgf_hash && m->mgf == 0)) {
                return bad_params(c, "RSA-OAEP: Hashing Algorithm SHA-1, SHA-256, SHA-384 or SHA-512");
            }
            return ARCA_OK;
        }
        if (pad == ARCA_KMIP_PADDING_PKCS1_V1_5) {
            m->type = CKM_RSA_PKCS;
            return ARCA_OK;
        }
        return bad_params(c, "RSA: Padding Method OAEP or PKCS1 v1.5");
    }
    return kmip_fail(c, ARCA_ERR_KEY_TYPE, kmip_reason_for(c, ARCA_ERR_KEY_TYPE),
                     "Encrypt and Decrypt take AES and RSA keys");
}

arca_status kmip_op_encrypt(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_status st;
    arca_object_id id;
    uint32_t ktype;
    cparams cp;
    arca_mechanism m;
    cipher_kind kind;
    const uint8_t *data = NULL, *iv = NULL, *aad = NULL;
    size_t data_len = 0, iv_len = 0, aad_len = 0;
    bool has_iv = false, has_aad = false;
    uint8_t gen_iv[CBC_IV_LEN];
    arca_builder ct = {0}, rnd;

    ARCA_GUARD(begin(c, p, &id, &ktype, &cp));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_DATA, &data, &data_len));
    ARCA_GUARD(kmip_opt_bytes(c, p, ARCA_KMIP_TAG_IV_COUNTER_NONCE, &iv, &iv_len, &has_iv));
    ARCA_GUARD(kmip_opt_bytes(c, p, ARCA_KMIP_TAG_AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, &aad, &aad_len, &has_aad));
    ARCA_GUARD(cipher_mechanism(c, ktype, &cp, &m, &kind));
    if (kind == CK_GCM) {
        if (has_iv) {
            m.iv = iv;
            m.iv_len = iv_len;
        }
        m.aad = aad;
        m.aad_len = aad_len;
    } else if (kind == CK_CBC) {
        if (!has_iv) {
            /* The server makes the IV and returns it (KMIP Random IV). */
            arca_builder_init_fixed(&rnd, gen_iv, sizeof(gen_iv));
            ARCA_GUARD(arca_kms_random(c->kms, c->sess, sizeof(gen_iv), &rnd));
            iv = gen_iv;
            iv_len = sizeof(gen_iv);
        }
        m.iv = iv;
        m.iv_len = iv_len;
    }
    ARCA_GUARD(arca_builder_init(&ct, data_len + 64, ARCA_DATA_MAX + 1024));
    st = arca_kms_encrypt(c->kms, c->sess, &id, &m, data, data_len, &ct);
    if (st != ARCA_OK) {
        st = use_failed(c, st);
        goto out;
    }
    ARCA_GUARD_OUT(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id));
    if (kind == CK_GCM) {
        size_t tag_len = m.tag_bits == 0 ? 16 : m.tag_bits / 8;
        size_t skip = has_iv ? 0 : GCM_IV_LEN;
        ARCA_ENSURE_OUT(ct.len >= skip + tag_len, ARCA_ERR_INTERNAL);
        /* 1.2 and 1.3 have no tag field: the tag follows the ciphertext. */
        bool tag_field = kmip_at_least(c, 1, 4);
        ARCA_GUARD_OUT(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_DATA, ct.data + skip,
                                           ct.len - skip - (tag_field ? tag_len : 0)));
        if (!has_iv) ARCA_GUARD_OUT(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_IV_COUNTER_NONCE, ct.data, GCM_IV_LEN));
        if (tag_field) {
            ARCA_GUARD_OUT(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_AUTHENTICATED_ENCRYPTION_TAG,
                                               ct.data + ct.len - tag_len, tag_len));
        }
    } else {
        ARCA_GUARD_OUT(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_DATA, ct.data, ct.len));
        if (kind == CK_CBC && !has_iv) {
            ARCA_GUARD_OUT(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_IV_COUNTER_NONCE, iv, iv_len));
        }
    }
out:
    arca_builder_cleanup(&ct);
    return st;
}

arca_status kmip_op_decrypt(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_status st;
    arca_object_id id;
    uint32_t ktype;
    cparams cp;
    arca_mechanism m;
    cipher_kind kind;
    const uint8_t *data = NULL, *iv = NULL, *aad = NULL, *tag = NULL;
    size_t data_len = 0, iv_len = 0, aad_len = 0, tag_len = 0;
    bool has_iv = false, has_aad = false, has_tag = false;
    uint8_t *joined = NULL;
    arca_builder pt = {0};

    ARCA_GUARD(begin(c, p, &id, &ktype, &cp));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_DATA, &data, &data_len));
    ARCA_GUARD(kmip_opt_bytes(c, p, ARCA_KMIP_TAG_IV_COUNTER_NONCE, &iv, &iv_len, &has_iv));
    ARCA_GUARD(kmip_opt_bytes(c, p, ARCA_KMIP_TAG_AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, &aad, &aad_len, &has_aad));
    ARCA_GUARD(kmip_opt_bytes(c, p, ARCA_KMIP_TAG_AUTHENTICATED_ENCRYPTION_TAG, &tag, &tag_len, &has_tag));
    ARCA_GUARD(cipher_mechanism(c, ktype, &cp, &m, &kind));
    if ((kind == CK_GCM || kind == CK_CBC) && !has_iv) {
        return kmip_fail(c, ARCA_ERR_MECHANISM_PARAM,
                         kmip_v2(c) ? ARCA_KMIP_REASON_MISSING_INITIALIZATION_VECTOR : ARCA_KMIP_REASON_INVALID_FIELD,
                         "Decrypt with AES needs the IV/Counter/Nonce");
    }
    if (kind != CK_RSA) {
        m.iv = iv;
        m.iv_len = iv_len;
    }
    if (kind == CK_GCM) {
        m.aad = aad;
        m.aad_len = aad_len;
        if (has_tag) {
            if (tag_len < 12 || tag_len > 16) {
                return kmip_fail(c, ARCA_ERR_MECHANISM_PARAM, kmip_reason_for(c, ARCA_ERR_MECHANISM_PARAM),
                                 "Authenticated Encryption Tag must be 12 to 16 bytes");
            }
            m.tag_bits = (uint32_t)tag_len * 8;
            /* The keystore takes ciphertext || tag. */
            joined = malloc(data_len + tag_len);
            ARCA_ENSURE(joined != NULL, ARCA_ERR_NOMEM);
            if (data_len > 0) memcpy(joined, data, data_len);
            memcpy(joined + data_len, tag, tag_len);
            data = joined;
            data_len += tag_len;
        }
    }
    ARCA_GUARD_OUT(arca_builder_init_secret(&pt, data_len + 16, ARCA_DATA_MAX + 1024));
    st = arca_kms_decrypt(c->kms, c->sess, &id, &m, data, data_len, &pt);
    if (st == ARCA_ERR_SIGNATURE_INVALID) {
        st = kmip_fail(c, st, ARCA_KMIP_REASON_CRYPTOGRAPHIC_FAILURE,
                       "authentication tag does not verify (wrong key, IV, additional data or tag)");
        goto out;
    }
    if (st == ARCA_ERR_DATA_INVALID) {
        st = kmip_fail(c, st, ARCA_KMIP_REASON_CRYPTOGRAPHIC_FAILURE, "decryption failed (padding)");
        goto out;
    }
    if (st != ARCA_OK) {
        st = use_failed(c, st);
        goto out;
    }
    ARCA_GUARD_OUT(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id));
    ARCA_GUARD_OUT(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_DATA, pt.data, pt.len));
out:
    arca_builder_cleanup(&pt);
    free(joined);
    return st;
}

/* ---- Sign, Signature Verify ------------------------------------------------ */

static uint32_t hash_len(uint32_t ckm)
{
    return ckm == CKM_SHA384 ? 48 : ckm == CKM_SHA512 ? 64 : ckm == CKM_SHA_1 ? 20 : 32;
}

static arca_status sign_mechanism(kmip_ctx *c, uint32_t ktype, const cparams *cp, arca_mechanism *m)
{
    uint32_t hash = cp->has_hash ? ckm_hash(cp->hash) : CKM_SHA256;
    bool pss = cp->has_pad && cp->pad == ARCA_KMIP_PADDING_PSS;
    memset(m, 0, sizeof(*m));
    if (cp->has_dsa) {
        switch (cp->dsa) {
        case ARCA_KMIP_SIG_SHA256_WITH_RSA: hash = CKM_SHA256; pss = false; break;
        case ARCA_KMIP_SIG_SHA384_WITH_RSA: hash = CKM_SHA384; pss = false; break;
        case ARCA_KMIP_SIG_SHA512_WITH_RSA: hash = CKM_SHA512; pss = false; break;
        case ARCA_KMIP_SIG_RSASSA_PSS: pss = true; break;
        case ARCA_KMIP_SIG_ECDSA_WITH_SHA256: hash = CKM_SHA256; break;
        case ARCA_KMIP_SIG_ECDSA_WITH_SHA384: hash = CKM_SHA384; break;
        case ARCA_KMIP_SIG_ECDSA_WITH_SHA512: hash = CKM_SHA512; break;
        default:
            return bad_params(c, "Digital Signature Algorithm: SHA-256/384/512 with RSA, RSASSA-PSS, ECDSA with "
                                 "SHA-256/384/512");
        }
        bool rsa_dsa = cp->dsa <= ARCA_KMIP_SIG_RSASSA_PSS;
        if (rsa_dsa != (ktype == CKK_RSA)) {
            return kmip_fail(c, ARCA_ERR_KEY_TYPE, kmip_reason_for(c, ARCA_ERR_KEY_TYPE),
                             "the Digital Signature Algorithm does not fit the key's type");
        }
    }
    switch (ktype) {
    case CKK_RSA:
        if (cp->has_pad && !pss && cp->pad != ARCA_KMIP_PADDING_PKCS1_V1_5) {
            return bad_params(c, "RSA signatures: Padding Method PKCS1 v1.5 or PSS");
        }
        if (pss) {
            m->type = hash == CKM_SHA256 ? CKM_SHA256_RSA_PKCS_PSS : hash == CKM_SHA384 ? CKM_SHA384_RSA_PKCS_PSS
                    : hash == CKM_SHA512 ? CKM_SHA512_RSA_PKCS_PSS : 0;
            m->hash = hash;
            m->salt_len = cp->has_salt_len ? (uint32_t)cp->salt_len : hash_len(hash);
            m->mgf = cp->has_mgf_hash ? ckg_mgf(cp->mgf_hash) : 0;
            if (cp->has_salt_len && cp->salt_len < 0) m->type = 0;
        } else {
            m->type = hash == CKM_SHA256 ? CKM_SHA256_RSA_PKCS : hash == CKM_SHA384 ? CKM_SHA384_RSA_PKCS
                    : hash == CKM_SHA512 ? CKM_SHA512_RSA_PKCS : 0;
        }
        break;
    case CKK_EC:
        m->type = hash == CKM_SHA256 ? CKM_ECDSA_SHA256 : hash == CKM_SHA384 ? CKM_ECDSA_SHA384
                : hash == CKM_SHA512 ? CKM_ECDSA_SHA512 : 0;
        break;
    case CKK_EC_EDWARDS: m->type = CKM_EDDSA; break;
    default:
        return kmip_fail(c, ARCA_ERR_KEY_TYPE, kmip_reason_for(c, ARCA_ERR_KEY_TYPE),
                         "Sign and Signature Verify take RSA, EC and Ed25519 keys (HMAC keys: MAC)");
    }
    if (m->type == 0) return bad_params(c, "signatures use SHA-256, SHA-384 or SHA-512");
    return ARCA_OK;
}

/* ECDSA signatures travel as DER ECDSA-Sig-Value (as X.509, TLS and
 * PyKMIP have them); the keystore speaks PKCS#11's r || s. */
static arca_status ecdsa_raw_to_der(const uint8_t *raw, size_t len, arca_builder *out)
{
    arca_status st = ARCA_ERR_CRYPTO;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    int der_len;
    if (sig == NULL || len == 0 || len % 2 != 0) goto out;
    r = BN_bin2bn(raw, (int)(len / 2), NULL);
    s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    if (r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) goto out;
    r = s = NULL;
    der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0) goto out;
    st = arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_SIGNATURE_DATA, der, (size_t)der_len);
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    OPENSSL_free(der);
    return st;
}

/* DER ECDSA-Sig-Value -> r || s of n bytes each. A signature that does not
 * parse is simply invalid. */
static bool ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t n, uint8_t *raw)
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    bool ok = false;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (sig == NULL || p != der + len) goto out;
    ECDSA_SIG_get0(sig, &r, &s);
    ok = BN_bn2binpad(r, raw, (int)n) == (int)n && BN_bn2binpad(s, raw + n, (int)n) == (int)n;
out:
    ECDSA_SIG_free(sig);
    return ok;
}

arca_status kmip_op_sign(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_status st;
    arca_object_id id;
    uint32_t ktype;
    cparams cp;
    arca_mechanism m;
    const uint8_t *data = NULL;
    size_t data_len = 0;
    arca_builder sig = {0};

    ARCA_GUARD(begin(c, p, &id, &ktype, &cp));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_DATA, &data, &data_len));
    ARCA_GUARD(sign_mechanism(c, ktype, &cp, &m));
    ARCA_GUARD(arca_builder_init(&sig, 512, 16384));
    st = arca_kms_sign(c->kms, c->sess, &id, &m, data, data_len, &sig);
    if (st != ARCA_OK) st = use_failed(c, st);
    if (st == ARCA_OK) st = kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id);
    if (st == ARCA_OK && ktype == CKK_EC) {
        st = ecdsa_raw_to_der(sig.data, sig.len, out);
    } else if (st == ARCA_OK) {
        st = arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_SIGNATURE_DATA, sig.data, sig.len);
    }
    arca_builder_cleanup(&sig);
    return st;
}

/* Verify answers with a Validity Indicator: an invalid signature is a
 * successful operation. */
static arca_status verified(kmip_ctx *c, const arca_object_id *id, arca_status st, arca_builder *out)
{
    uint32_t v;
    if (st == ARCA_OK) v = ARCA_KMIP_VALIDITY_VALID;
    else if (st == ARCA_ERR_SIGNATURE_INVALID) v = ARCA_KMIP_VALIDITY_INVALID;
    else return use_failed(c, st);
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, id));
    return arca_ttlv_add_enum(out, ARCA_KMIP_TAG_VALIDITY_INDICATOR, v);
}

arca_status kmip_op_signature_verify(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    uint32_t ktype;
    cparams cp;
    arca_mechanism m;
    const uint8_t *data = NULL, *sig = NULL;
    size_t data_len = 0, sig_len = 0;

    ARCA_GUARD(begin(c, p, &id, &ktype, &cp));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_DATA, &data, &data_len));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_SIGNATURE_DATA, &sig, &sig_len));
    ARCA_GUARD(sign_mechanism(c, ktype, &cp, &m));
    if (ktype == CKK_EC) {
        kmip_obj_crypto_info oc;
        uint8_t raw[2 * 66];
        ARCA_GUARD(kmip_obj_crypto(c, &id, CKO_PUBLIC_KEY, &oc));
        size_t n = oc.has_len ? ((size_t)oc.len + 7) / 8 : 0;
        if (n == 0 || n > 66 || !ecdsa_der_to_raw(sig, sig_len, n, raw)) {
            return verified(c, &id, ARCA_ERR_SIGNATURE_INVALID, out);
        }
        return verified(c, &id, arca_kms_verify(c->kms, c->sess, &id, &m, data, data_len, raw, 2 * n), out);
    }
    return verified(c, &id, arca_kms_verify(c->kms, c->sess, &id, &m, data, data_len, sig, sig_len), out);
}

/* ---- MAC, MAC Verify --------------------------------------------------------- */

static arca_status mac_mechanism(kmip_ctx *c, const cparams *cp, arca_mechanism *m)
{
    memset(m, 0, sizeof(*m));
    switch (cp->has_alg ? cp->alg : ARCA_KMIP_ALG_HMAC_SHA256) {
    case ARCA_KMIP_ALG_HMAC_SHA256: m->type = CKM_SHA256_HMAC; return ARCA_OK;
    case ARCA_KMIP_ALG_HMAC_SHA384: m->type = CKM_SHA384_HMAC; return ARCA_OK;
    case ARCA_KMIP_ALG_HMAC_SHA512: m->type = CKM_SHA512_HMAC; return ARCA_OK;
    default: return bad_params(c, "MAC: Cryptographic Algorithm HMAC-SHA256, HMAC-SHA384 or HMAC-SHA512");
    }
}

arca_status kmip_op_mac(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_status st;
    arca_object_id id;
    uint32_t ktype;
    cparams cp;
    arca_mechanism m;
    const uint8_t *data = NULL;
    size_t data_len = 0;
    arca_builder mac = {0};

    ARCA_GUARD(begin(c, p, &id, &ktype, &cp));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_DATA, &data, &data_len));
    ARCA_GUARD(mac_mechanism(c, &cp, &m));
    ARCA_GUARD(arca_builder_init(&mac, 64, 256));
    st = arca_kms_sign(c->kms, c->sess, &id, &m, data, data_len, &mac);
    if (st != ARCA_OK) st = use_failed(c, st);
    if (st == ARCA_OK) st = kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id);
    if (st == ARCA_OK) st = arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_MAC_DATA, mac.data, mac.len);
    arca_builder_cleanup(&mac);
    return st;
}

arca_status kmip_op_mac_verify(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    uint32_t ktype;
    cparams cp;
    arca_mechanism m;
    const uint8_t *data = NULL, *mac = NULL;
    size_t data_len = 0, mac_len = 0;

    ARCA_GUARD(begin(c, p, &id, &ktype, &cp));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_DATA, &data, &data_len));
    ARCA_GUARD(req_data(c, p, ARCA_KMIP_TAG_MAC_DATA, &mac, &mac_len));
    ARCA_GUARD(mac_mechanism(c, &cp, &m));
    return verified(c, &id, arca_kms_verify(c->kms, c->sess, &id, &m, data, data_len, mac, mac_len), out);
}
