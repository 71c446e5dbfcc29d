/* The mechanism table and mechanism parameter parsing.
 *
 * The table says exactly what the appliance's keystore does
 * (enclave_kms/src/crypto_ops.c, keygen.c, crypto_key.c): RSA 2048, 3072
 * and 4096 bits with e = 65537; P-256/384/521; Ed25519 (pure EdDSA only);
 * AES 16/24/32 bytes; generic secrets 1..512 bytes. Digests run locally.
 * Not offered because the keystore has no such operation: CKM_RSA_X_509,
 * CKM_AES_KEY_WRAP_PAD (RFC 3394 + PKCS#7 padding; RFC 5649 is offered as
 * CKM_AES_KEY_WRAP_KWP), the *_HMAC_GENERAL variants, HKDF with a salt key.
 *
 * Parsing checks ulParameterLen against the exact structure size and every
 * field against what the keystore accepts, so that a bad parameter fails
 * at C_*Init with CKR_MECHANISM_PARAM_INVALID instead of later. */
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

enum param_kind {
    P_NONE = 0,  /* pParameter NULL, ulParameterLen 0 */
    P_PSS,       /* CK_RSA_PKCS_PSS_PARAMS */
    P_OAEP,      /* CK_RSA_PKCS_OAEP_PARAMS */
    P_GCM,       /* CK_GCM_PARAMS */
    P_CBC_IV,    /* 16-byte IV */
    P_KW_IV,     /* optional 8-byte alternative IV */
    P_KWP_IV,    /* optional 4-byte alternative IV */
    P_EDDSA,     /* optional CK_EDDSA_PARAMS (pure Ed25519 only) */
    P_ECDH,      /* CK_ECDH1_DERIVE_PARAMS */
    P_HKDF,      /* CK_HKDF_PARAMS */
    P_SP800_108, /* CK_SP800_108_KDF_PARAMS (counter mode, see below) */
};

#define NOKEY CK_UNAVAILABLE_INFORMATION
#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
#define RSA_MIN 2048ul
#define RSA_MAX 4096ul
#define EC_MIN 256ul
#define EC_MAX 521ul
#define AES_MIN 16ul
#define AES_MAX 32ul
#define GENERIC_MIN 1ul
#define GENERIC_MAX 512ul
#define GCM_IV_LEN 12ul
#define KDF_INFO_MAX 1024ul /* the keystore's cap on HKDF info / SP 800-108 context */

static const arca_p11_mech_desc MECHS[] = {
    /* RSA */
    {CKM_RSA_PKCS_KEY_PAIR_GEN, RSA_MIN, RSA_MAX, CKF_GENERATE_KEY_PAIR, {CKK_RSA, NOKEY}, P_NONE, 0},
    {CKM_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_ENCRYPT | CKF_DECRYPT | CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_NONE, 0},
    {CKM_SHA256_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_NONE, CKM_SHA256},
    {CKM_SHA384_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_NONE, CKM_SHA384},
    {CKM_SHA512_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_NONE, CKM_SHA512},
    {CKM_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_PSS, 0},
    {CKM_SHA256_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_PSS, CKM_SHA256},
    {CKM_SHA384_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_PSS, CKM_SHA384},
    {CKM_SHA512_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, {CKK_RSA, NOKEY}, P_PSS, CKM_SHA512},
    {CKM_RSA_PKCS_OAEP, RSA_MIN, RSA_MAX, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP, {CKK_RSA, NOKEY},
     P_OAEP, 0},
    /* EC (prime curves P-256, P-384, P-521) */
    {CKM_EC_KEY_PAIR_GEN, EC_MIN, EC_MAX, CKF_GENERATE_KEY_PAIR | EC_FLAGS, {CKK_EC, NOKEY}, P_NONE, 0},
    {CKM_ECDSA, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, {CKK_EC, NOKEY}, P_NONE, 0},
    {CKM_ECDSA_SHA256, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, {CKK_EC, NOKEY}, P_NONE, CKM_SHA256},
    {CKM_ECDSA_SHA384, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, {CKK_EC, NOKEY}, P_NONE, CKM_SHA384},
    {CKM_ECDSA_SHA512, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, {CKK_EC, NOKEY}, P_NONE, CKM_SHA512},
    {CKM_ECDH1_DERIVE, EC_MIN, EC_MAX, CKF_DERIVE | EC_FLAGS, {CKK_EC, NOKEY}, P_ECDH, 0},
    /* Ed25519 */
    {CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 255, CKF_GENERATE_KEY_PAIR | CKF_EC_NAMEDCURVE, {CKK_EC_EDWARDS, NOKEY},
     P_NONE, 0},
    {CKM_EDDSA, 255, 255, CKF_SIGN | CKF_VERIFY | CKF_EC_NAMEDCURVE, {CKK_EC_EDWARDS, NOKEY}, P_EDDSA, 0},
    /* AES */
    {CKM_AES_KEY_GEN, AES_MIN, AES_MAX, CKF_GENERATE, {CKK_AES, NOKEY}, P_NONE, 0},
    {CKM_AES_GCM, AES_MIN, AES_MAX, CKF_ENCRYPT | CKF_DECRYPT, {CKK_AES, NOKEY}, P_GCM, 0},
    {CKM_AES_CBC_PAD, AES_MIN, AES_MAX, CKF_ENCRYPT | CKF_DECRYPT, {CKK_AES, NOKEY}, P_CBC_IV, 0},
    {CKM_AES_KEY_WRAP, AES_MIN, AES_MAX, CKF_WRAP | CKF_UNWRAP, {CKK_AES, NOKEY}, P_KW_IV, 0},
    {CKM_AES_KEY_WRAP_KWP, AES_MIN, AES_MAX, CKF_WRAP | CKF_UNWRAP, {CKK_AES, NOKEY}, P_KWP_IV, 0},
    /* HMAC over generic secrets (the keystore also accepts AES keys) */
    {CKM_GENERIC_SECRET_KEY_GEN, GENERIC_MIN, GENERIC_MAX, CKF_GENERATE, {CKK_GENERIC_SECRET, NOKEY}, P_NONE, 0},
    {CKM_SHA256_HMAC, GENERIC_MIN, GENERIC_MAX, CKF_SIGN | CKF_VERIFY, {CKK_GENERIC_SECRET, CKK_AES}, P_NONE,
     CKM_SHA256},
    {CKM_SHA384_HMAC, GENERIC_MIN, GENERIC_MAX, CKF_SIGN | CKF_VERIFY, {CKK_GENERIC_SECRET, CKK_AES}, P_NONE,
     CKM_SHA384},
    {CKM_SHA512_HMAC, GENERIC_MIN, GENERIC_MAX, CKF_SIGN | CKF_VERIFY, {CKK_GENERIC_SECRET, CKK_AES}, P_NONE,
     CKM_SHA512},
    /* Key derivation from secrets */
    {CKM_HKDF_DERIVE, GENERIC_MIN, GENERIC_MAX, CKF_DERIVE, {CKK_GENERIC_SECRET, CKK_AES}, P_HKDF, 0},
    {CKM_SP800_108_COUNTER_KDF, GENERIC_MIN, GENERIC_MAX, CKF_DERIVE, {CKK_GENERIC_SECRET, CKK_AES}, P_SP800_108,
     0},
    /* Digests, computed in the module with OpenSSL */
    {CKM_SHA256, 0, 0, CKF_DIGEST, {NOKEY, NOKEY}, P_NONE, CKM_SHA256},
    {CKM_SHA384, 0, 0, CKF_DIGEST, {NOKEY, NOKEY}, P_NONE, CKM_SHA384},
    {CKM_SHA512, 0, 0, CKF_DIGEST, {NOKEY, NOKEY}, P_NONE, CKM_SHA512},
};

#define NUM_MECHS (sizeof(MECHS) / sizeof(MECHS[0]))

const arca_p11_mech_desc *arca_p11_mech_find(CK_MECHANISM_TYPE type)
{
    for (size_t i = 0; i < NUM_MECHS; i++) {
        if (MECHS[i].type == type) return &MECHS[i];
    }
    return NULL;
}

size_t arca_p11_mech_count(void)
{
    return NUM_MECHS;
}

const arca_p11_mech_desc *arca_p11_mech_at(size_t i)
{
    return i < NUM_MECHS ? &MECHS[i] : NULL;
}

bool arca_p11_mech_key_ok(const arca_p11_mech_desc *d, CK_KEY_TYPE kt)
{
    if (d == NULL || kt == NOKEY) return false;
    return d->key_types[0] == kt || d->key_types[1] == kt;
}

CK_RV arca_p11_mech_list(CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
    if (count == NULL) return CKR_ARGUMENTS_BAD;
    if (list == NULL) {
        *count = NUM_MECHS;
        return CKR_OK;
    }
    if (*count < NUM_MECHS) {
        *count = NUM_MECHS;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (size_t i = 0; i < NUM_MECHS; i++) list[i] = MECHS[i].type;
    *count = NUM_MECHS;
    return CKR_OK;
}

CK_RV arca_p11_mech_info(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
    const arca_p11_mech_desc *d = arca_p11_mech_find(type);

    if (info == NULL) return CKR_ARGUMENTS_BAD;
    if (d == NULL) return CKR_MECHANISM_INVALID;
    info->ulMinKeySize = d->min_key;
    info->ulMaxKeySize = d->max_key;
    /* Everything but a digest runs inside the appliance's enclave, the
     * "device" of this token: CKF_HW (pkcs11-tool --test, among others,
     * exercises only such mechanisms). Digests run here, in software. */
    info->flags = d->flags | ((d->flags & CKF_DIGEST) ? 0 : CKF_HW);
    return CKR_OK;
}

/* ---- parameter parsing ---- */

/* The parameter bytes being collected: each piece is appended to one
 * owned buffer, and the arca_lp_bytes fields are pointed into it at the end
 * (so the buffer can be allocated once with its final size). */
typedef struct piece {
    const void *src;
    size_t len;
    arca_lp_bytes *dst;
} piece;

typedef struct collect {
    piece p[6];
    size_t num;
} collect;

static CK_RV add_piece(collect *c, const void *src, CK_ULONG len, size_t max, arca_lp_bytes *dst)
{
    if (len == 0) return CKR_OK;
    if (src == NULL || len > max) return CKR_MECHANISM_PARAM_INVALID;
    if (c->num >= sizeof(c->p) / sizeof(c->p[0])) return CKR_GENERAL_ERROR;
    c->p[c->num++] = (piece){src, (size_t)len, dst};
    return CKR_OK;
}

static bool sha2(CK_MECHANISM_TYPE h)
{
    return h == CKM_SHA256 || h == CKM_SHA384 || h == CKM_SHA512;
}

static bool mgf_ok(CK_RSA_PKCS_MGF_TYPE mgf, bool sha1)
{
    return mgf == CKG_MGF1_SHA256 || mgf == CKG_MGF1_SHA384 || mgf == CKG_MGF1_SHA512 ||
           (sha1 && mgf == CKG_MGF1_SHA1);
}

static bool fits_u32(CK_ULONG v)
{
    return v <= UINT32_MAX;
}

/* A structure parameter: exactly sizeof(type) bytes at a non-NULL pointer. */
#define STRUCT_PARAM(m, type) ((m)->pParameter != NULL && (m)->ulParameterLen == sizeof(type))

static CK_RV parse_pss(const CK_MECHANISM *m, const arca_p11_mech_desc *d, arca_lp_mechanism *lp)
{
    CK_RSA_PKCS_PSS_PARAMS p;

    if (!STRUCT_PARAM(m, CK_RSA_PKCS_PSS_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&p, m->pParameter, sizeof(p));
    if (d->hash != 0) {
        if (p.hash_alg != d->hash) return CKR_MECHANISM_PARAM_INVALID;
    } else if (!sha2(p.hash_alg) && p.hash_alg != CKM_SHA_1) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (!mgf_ok(p.mgf, true) || !fits_u32(p.s_len) || p.s_len > 512) return CKR_MECHANISM_PARAM_INVALID;
    lp->hash = (uint32_t)p.hash_alg;
    lp->mgf = (uint32_t)p.mgf;
    lp->salt_len = (uint32_t)p.s_len;
    return CKR_OK;
}

static CK_RV parse_oaep(const CK_MECHANISM *m, arca_lp_mechanism *lp, collect *c)
{
    CK_RSA_PKCS_OAEP_PARAMS p;

    if (!STRUCT_PARAM(m, CK_RSA_PKCS_OAEP_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&p, m->pParameter, sizeof(p));
    if ((!sha2(p.hash_alg) && p.hash_alg != CKM_SHA_1) || !mgf_ok(p.mgf, true)) return CKR_MECHANISM_PARAM_INVALID;
    /* source 0 is what many applications pass when there is no label. */
    if (p.source != CKZ_DATA_SPECIFIED && !(p.source == 0 && p.source_data_len == 0))
        return CKR_MECHANISM_PARAM_INVALID;
    lp->hash = (uint32_t)p.hash_alg;
    lp->mgf = (uint32_t)p.mgf;
    return add_piece(c, p.source_data, p.source_data_len, ARCA_LP_ATTR_VALUE_MAX, &lp->label);
}

static CK_RV parse_gcm(const CK_MECHANISM *m, arca_lp_mechanism *lp, collect *c)
{
    CK_GCM_PARAMS p;
    CK_RV rv;

    if (!STRUCT_PARAM(m, CK_GCM_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&p, m->pParameter, sizeof(p));
    /* The keystore takes 96-bit IVs only. ulIvBits: some headers (and
     * PyKCS11) lack the field and leave it 0; otherwise it must agree. */
    if (p.iv_ptr == NULL || p.iv_len != GCM_IV_LEN) return CKR_MECHANISM_PARAM_INVALID;
    if (p.iv_bits != 0 && p.iv_bits != GCM_IV_LEN * 8) return CKR_MECHANISM_PARAM_INVALID;
    if (p.tag_bits < 96 || p.tag_bits > 128 || p.tag_bits % 8 != 0) return CKR_MECHANISM_PARAM_INVALID;
    lp->tag_bits = (uint32_t)p.tag_bits;
    if ((rv = add_piece(c, p.iv_ptr, p.iv_len, ARCA_LP_IV_MAX, &lp->iv)) != CKR_OK) return rv;
    if (p.aad_ptr == NULL && p.aad_len != 0) return CKR_MECHANISM_PARAM_INVALID;
    return add_piece(c, p.aad_ptr, p.aad_len, ARCA_LP_ATTR_VALUE_MAX, &lp->aad);
}

static CK_RV parse_bytes_iv(const CK_MECHANISM *m, CK_ULONG len, bool optional, arca_lp_mechanism *lp, collect *c)
{
    if (optional && m->pParameter == NULL && m->ulParameterLen == 0) return CKR_OK;
    if (m->pParameter == NULL || m->ulParameterLen != len) return CKR_MECHANISM_PARAM_INVALID;
    return add_piece(c, m->pParameter, len, ARCA_LP_IV_MAX, &lp->iv);
}

static CK_RV parse_eddsa(const CK_MECHANISM *m)
{
    CK_EDDSA_PARAMS p;

    if (m->pParameter == NULL && m->ulParameterLen == 0) return CKR_OK;
    if (!STRUCT_PARAM(m, CK_EDDSA_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&p, m->pParameter, sizeof(p));
    /* Ed25519ph and Ed25519ctx are not offered by the keystore. */
    if (p.phFlag != CK_FALSE || p.ulContextDataLen != 0) return CKR_MECHANISM_PARAM_INVALID;
    return CKR_OK;
}

static CK_RV parse_ecdh(const CK_MECHANISM *m, arca_lp_mechanism *lp, collect *c)
{
    CK_ECDH1_DERIVE_PARAMS p;

    if (!STRUCT_PARAM(m, CK_ECDH1_DERIVE_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&p, m->pParameter, sizeof(p));
    if (p.kdf != CKD_NULL || p.shared_data_len != 0) return CKR_MECHANISM_PARAM_INVALID;
    if (p.public_data == NULL || p.public_data_len == 0) return CKR_MECHANISM_PARAM_INVALID;
    return add_piece(c, p.public_data, p.public_data_len, ARCA_LP_ATTR_VALUE_MAX, &lp->public_data);
}

static CK_RV parse_hkdf(const CK_MECHANISM *m, arca_lp_mechanism *lp, collect *c)
{
    CK_HKDF_PARAMS p;
    CK_RV rv;

    if (!STRUCT_PARAM(m, CK_HKDF_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&p, m->pParameter, sizeof(p));
    /* The keystore runs extract-then-expand (RFC 5869) only. */
    if (p.bExtract != CK_TRUE || p.bExpand != CK_TRUE || !sha2(p.prfHashMechanism))
        return CKR_MECHANISM_PARAM_INVALID;
    switch (p.ulSaltType) {
    case CKF_HKDF_SALT_NULL:
        if (p.pSalt != NULL || p.ulSaltLen != 0) return CKR_MECHANISM_PARAM_INVALID;
        break;
    case CKF_HKDF_SALT_DATA:
        if (p.pSalt == NULL || p.ulSaltLen == 0) return CKR_MECHANISM_PARAM_INVALID;
        break;
    default: /* CKF_HKDF_SALT_KEY is not supported; anything else is wrong */
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p.pInfo == NULL && p.ulInfoLen != 0) return CKR_MECHANISM_PARAM_INVALID;
    lp->hash = (uint32_t)p.prfHashMechanism;
    if ((rv = add_piece(c, p.pSalt, p.ulSaltLen, ARCA_LP_ATTR_VALUE_MAX, &lp->salt)) != CKR_OK) return rv;
    return add_piece(c, p.pInfo, p.ulInfoLen, KDF_INFO_MAX, &lp->info);
}

/* SP 800-108 counter mode as the keystore runs it (OpenSSL KBKDF, HMAC):
 * PRF input = [i]32 (big-endian) || Label || 0x00 || Context || [L]32
 * (big-endian, L = bits of the one derived key). The PKCS#11 data
 * parameters must describe exactly that: an ITERATION_VARIABLE of 32
 * big-endian bits first, then one or more BYTE_ARRAYs whose concatenation
 * contains a 0x00 byte (the first one separates Label from Context), then
 * a DKM_LENGTH of 32 big-endian bits, SUM_OF_KEYS. No additional keys.
 * The byte arrays are concatenated into a scratch buffer owned by the
 * caller (*scratch, freed by the caller). */
static CK_RV parse_sp800_108(const CK_MECHANISM *m, arca_lp_mechanism *lp, collect *c, uint8_t **scratch)
{
    CK_SP800_108_KDF_PARAMS p;
    CK_PRF_DATA_PARAM dp;
    CK_SP800_108_COUNTER_FORMAT cf;
    CK_SP800_108_DKM_LENGTH_FORMAT lf;
    size_t total = 0, off = 0;
    uint8_t *buf = NULL, *zero = NULL;
    CK_RV rv;

    if (!STRUCT_PARAM(m, CK_SP800_108_KDF_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&p, m->pParameter, sizeof(p));
    switch (p.prfType) {
    case CKM_SHA256_HMAC: lp->hash = CKM_SHA256; break;
    case CKM_SHA384_HMAC: lp->hash = CKM_SHA384; break;
    case CKM_SHA512_HMAC: lp->hash = CKM_SHA512; break;
    default: return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p.ulAdditionalDerivedKeys != 0 || p.pAdditionalDerivedKeys != NULL) return CKR_MECHANISM_PARAM_INVALID;
    if (p.pDataParams == NULL || p.ulNumberOfDataParams < 3 || p.ulNumberOfDataParams > 16)
        return CKR_MECHANISM_PARAM_INVALID;
    for (CK_ULONG i = 0; i < p.ulNumberOfDataParams; i++) {
        memcpy(&dp, &p.pDataParams[i], sizeof(dp));
        if (i == 0) {
            if (dp.type != CK_SP800_108_ITERATION_VARIABLE || dp.pValue == NULL || dp.ulValueLen != sizeof(cf))
                return CKR_MECHANISM_PARAM_INVALID;
            memcpy(&cf, dp.pValue, sizeof(cf));
            if (cf.bLittleEndian != CK_FALSE || cf.ulWidthInBits != 32) return CKR_MECHANISM_PARAM_INVALID;
        } else if (i == p.ulNumberOfDataParams - 1) {
            if (dp.type != CK_SP800_108_DKM_LENGTH || dp.pValue == NULL || dp.ulValueLen != sizeof(lf))
                return CKR_MECHANISM_PARAM_INVALID;
            memcpy(&lf, dp.pValue, sizeof(lf));
            if (lf.dkmLengthMethod != CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS || lf.bLittleEndian != CK_FALSE ||
                lf.ulWidthInBits != 32)
                return CKR_MECHANISM_PARAM_INVALID;
        } else {
            if (dp.type != CK_SP800_108_BYTE_ARRAY || dp.pValue == NULL || dp.ulValueLen == 0 ||
                dp.ulValueLen > KDF_INFO_MAX * 2 || total + dp.ulValueLen > KDF_INFO_MAX * 2)
                return CKR_MECHANISM_PARAM_INVALID;
            total += dp.ulValueLen;
        }
    }
    buf = malloc(total);
    if (buf == NULL) return CKR_HOST_MEMORY;
    for (CK_ULONG i = 1; i + 1 < p.ulNumberOfDataParams; i++) {
        memcpy(&dp, &p.pDataParams[i], sizeof(dp));
        memcpy(buf + off, dp.pValue, dp.ulValueLen);
        off += dp.ulValueLen;
    }
    zero = memchr(buf, 0, total);
    if (zero == NULL) {
        free(buf);
        return CKR_MECHANISM_PARAM_INVALID;
    }
    *scratch = buf;
    /* Label -> the keystore's salt field, Context -> its info field. */
    if ((rv = add_piece(c, buf, (CK_ULONG)(zero - buf), KDF_INFO_MAX, &lp->salt)) != CKR_OK) return rv;
    return add_piece(c, zero + 1, (CK_ULONG)(total - (size_t)(zero - buf) - 1), KDF_INFO_MAX, &lp->info);
}

static CK_RV parse_kind(const CK_MECHANISM *m, const arca_p11_mech_desc *d, arca_lp_mechanism *lp, collect *c,
                        uint8_t **scratch)
{
    switch ((enum param_kind)d->param) {
    case P_NONE:
        return m->pParameter == NULL && m->ulParameterLen == 0 ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    case P_PSS: return parse_pss(m, d, lp);
    case P_OAEP: return parse_oaep(m, lp, c);
    case P_GCM: return parse_gcm(m, lp, c);
    case P_CBC_IV: return parse_bytes_iv(m, 16, false, lp, c);
    case P_KW_IV: return parse_bytes_iv(m, 8, true, lp, c);
    case P_KWP_IV: return parse_bytes_iv(m, 4, true, lp, c);
    case P_EDDSA: return parse_eddsa(m);
    case P_ECDH: return parse_ecdh(m, lp, c);
    case P_HKDF: return parse_hkdf(m, lp, c);
    case P_SP800_108: return parse_sp800_108(m, lp, c, scratch);
    default: return CKR_GENERAL_ERROR;
    }
}

CK_RV arca_p11_mech_parse(const CK_MECHANISM *m, CK_FLAGS use, arca_lp_mechanism *out_lp, uint8_t **out_param,
                          size_t *out_param_len)
{
    const arca_p11_mech_desc *d;
    arca_lp_mechanism lp;
    collect c;
    uint8_t *scratch = NULL, *buf = NULL;
    size_t total = 0, off = 0;
    CK_RV rv;

    if (m == NULL || out_lp == NULL || out_param == NULL || out_param_len == NULL) return CKR_ARGUMENTS_BAD;
    d = arca_p11_mech_find(m->mechanism);
    if (d == NULL || (d->flags & use) == 0 || use == 0) return CKR_MECHANISM_INVALID;
    if (m->pParameter == NULL && m->ulParameterLen != 0) return CKR_MECHANISM_PARAM_INVALID;
    memset(&lp, 0, sizeof(lp));
    memset(&c, 0, sizeof(c));
    lp.type = (uint32_t)m->mechanism;
    rv = parse_kind(m, d, &lp, &c, &scratch);
    if (rv != CKR_OK) goto out;
    for (size_t i = 0; i < c.num; i++) total += c.p[i].len;
    if (total > 0) {
        buf = malloc(total);
        if (buf == NULL) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        for (size_t i = 0; i < c.num; i++) {
            memcpy(buf + off, c.p[i].src, c.p[i].len);
            c.p[i].dst->data = buf + off;
            c.p[i].dst->len = c.p[i].len;
            off += c.p[i].len;
        }
    }
    *out_lp = lp;
    *out_param = buf;
    *out_param_len = total;
out:
    free(scratch); /* label and context: not secret */
    return rv;
}
