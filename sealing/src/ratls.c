/* RA-TLS certificates: the enclave's evidence in an X.509 extension (see
 * ratls.h for the format and the choice of CBOR tags).
 *
 * CBOR from a certificate is hostile. libcbor 0.8 has no depth or size
 * limits of its own and allocates a definite array's slots from its header
 * before reading them, so every CBOR input first goes through cbor_precheck:
 * a bounds-checked walk with arca_cursor that caps nesting depth and item
 * count, refuses indefinite lengths and reserved encodings, and demands that
 * every count and length fits in the bytes that remain. Only then does
 * cbor_load see it, and only a complete, single item is accepted. */
#include "arca/ratls.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cbor.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/hex.h"
#include "sealing_internal.h"

#define CBOR_MAX_DEPTH 8u
#define CBOR_MAX_ITEMS 64u
#define NOT_BEFORE_SKEW_SECS 60
#define HASH_ALG_SHA256_TEXT "sha-256"
#define HASH_ALG_SHA256_IANA 1 /* IANA Named Information Hash Algorithm Registry */
#define FRESH_LABEL "arca-fresh-v1"

/* ---- messages ---- */

static arca_status fail(char *msg, size_t msg_len, arca_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static arca_status fail(char *msg, size_t msg_len, arca_status st, const char *fmt, ...)
{
    if (msg != NULL && msg_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, msg_len, fmt, ap);
        va_end(ap);
        if (n < 0) msg[0] = '\0';
    }
    return st;
}

static void hex32(const uint8_t v[32], char out[65])
{
    arca_hex(v, 32, out);
}

/* ---- hashing ---- */

static arca_status sha512(const uint8_t *data, size_t len, uint8_t out[64])
{
    unsigned int n = 0;
    ARCA_GUARD_OSSL(EVP_Digest(data, len, out, &n, EVP_sha512(), NULL));
    ARCA_ENSURE(n == 64, ARCA_ERR_INTERNAL);
    return ARCA_OK;
}

/* SHA-256 of the certificate's DER SubjectPublicKeyInfo. */
static arca_status spki_hash(const X509 *cert, uint8_t out[32])
{
    arca_status st = ARCA_OK;
    uint8_t *der = NULL;
    const X509_PUBKEY *pk = X509_get_X509_PUBKEY(cert);
    ARCA_ENSURE(pk != NULL, ARCA_ERR_DECODE);
    int n = i2d_X509_PUBKEY(pk, &der);
    ARCA_ENSURE(n > 0, ARCA_ERR_DECODE);
    ARCA_GUARD_OUT(arca_sha256(der, (size_t)n, out));
out:
    OPENSSL_free(der);
    return st;
}

/* ---- CBOR pre-check ---- */

static arca_status cbor_head(arca_cursor *c, uint8_t *out_major, uint64_t *out_arg, uint8_t *out_ai)
{
    uint8_t ib = 0;
    uint64_t arg = 0;
    ARCA_GUARD(arca_cursor_get_u8(c, &ib));
    const uint8_t major = ib >> 5, ai = ib & 0x1f;
    if (ai < 24) {
        arg = ai;
    } else if (ai == 24) {
        uint8_t v = 0;
        ARCA_GUARD(arca_cursor_get_u8(c, &v));
        arg = v;
    } else if (ai == 25) {
        uint16_t v = 0;
        ARCA_GUARD(arca_cursor_get_u16(c, &v));
        arg = v;
    } else if (ai == 26) {
        uint32_t v = 0;
        ARCA_GUARD(arca_cursor_get_u32(c, &v));
        arg = v;
    } else if (ai == 27) {
        ARCA_GUARD(arca_cursor_get_u64(c, &arg));
    } else {
        return ARCA_ERR_DECODE; /* 28..30 reserved, 31 indefinite / break */
    }
    *out_major = major;
    *out_arg = arg;
    *out_ai = ai;
    return ARCA_OK;
}

static arca_status cbor_skip(arca_cursor *c, unsigned depth, size_t *budget)
{
    uint8_t major = 0, ai = 0;
    uint64_t arg = 0;
    ARCA_ENSURE(depth <= CBOR_MAX_DEPTH, ARCA_ERR_DECODE);
    ARCA_ENSURE(*budget > 0, ARCA_ERR_DECODE);
    (*budget)--;
    ARCA_GUARD(cbor_head(c, &major, &arg, &ai));
    switch (major) {
    case 0: /* unsigned */
    case 1: /* negative */
        return ARCA_OK;
    case 2: /* byte string */
    case 3: /* text string */
        ARCA_ENSURE(arg <= arca_cursor_remaining(c), ARCA_ERR_DECODE);
        return arca_cursor_skip(c, (size_t)arg);
    case 4: /* array: each member is at least one byte */
        ARCA_ENSURE(arg <= arca_cursor_remaining(c), ARCA_ERR_DECODE);
        for (uint64_t i = 0; i < arg; i++) ARCA_GUARD(cbor_skip(c, depth + 1, budget));
        return ARCA_OK;
    case 5: /* map: each pair is at least two bytes */
        ARCA_ENSURE(arg <= arca_cursor_remaining(c) / 2, ARCA_ERR_DECODE);
        for (uint64_t i = 0; i < 2 * arg; i++) ARCA_GUARD(cbor_skip(c, depth + 1, budget));
        return ARCA_OK;
    case 6: /* tag */
        return cbor_skip(c, depth + 1, budget);
    case 7: /* simple values and floats; the head already consumed them */
        return ARCA_OK;
    default:
        return ARCA_ERR_INTERNAL;
    }
}

/* Load exactly one well-formed CBOR item from data (capped at max_len).
 * *out is a new reference. */
static arca_status cbor_load_checked(const uint8_t *data, size_t len, size_t max_len, cbor_item_t **out)
{
    arca_cursor c;
    size_t budget = CBOR_MAX_ITEMS;
    struct cbor_load_result res;

    ARCA_ENSURE(len <= max_len, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(len > 0, ARCA_ERR_DECODE);
    arca_cursor_init(&c, data, len);
    ARCA_GUARD(cbor_skip(&c, 0, &budget));
    ARCA_GUARD(arca_cursor_finish(&c));
    memset(&res, 0, sizeof res);
    cbor_item_t *item = cbor_load(data, len, &res);
    if (item == NULL) return res.error.code == CBOR_ERR_MEMERROR ? ARCA_ERR_NOMEM : ARCA_ERR_DECODE;
    if (res.error.code != CBOR_ERR_NONE || res.read != len) {
        cbor_decref(&item);
        return ARCA_ERR_DECODE;
    }
    *out = item;
    return ARCA_OK;
}

static bool is_definite_bytes(const cbor_item_t *it)
{
    return cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
}

static bool text_equals(const cbor_item_t *it, const char *s)
{
    size_t n = strlen(s);
    return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
           (n == 0 || memcmp(cbor_string_handle(it), s, n) == 0);
}

/* ---- claims ---- */

typedef struct claims_view {
    uint8_t pubkey_hash[32];
    uint8_t nonce[ARCA_RATLS_MAX_NONCE_LEN];
    size_t nonce_len;
} claims_view;

static arca_status claims_encode(const uint8_t hash[32], const uint8_t *nonce, size_t nonce_len, uint8_t **out,
                                 size_t *out_len)
{
    arca_status st = ARCA_ERR_NOMEM;
    cbor_item_t *map = NULL, *k_hash = NULL, *v_hash = NULL, *alg = NULL, *h = NULL, *k_nonce = NULL,
                *v_nonce = NULL;
    unsigned char *buf = NULL;
    size_t buf_size = 0;

    map = cbor_new_definite_map(nonce_len > 0 ? 2 : 1);
    k_hash = cbor_build_string("pubkey-hash");
    v_hash = cbor_new_definite_array(2);
    alg = cbor_build_string(HASH_ALG_SHA256_TEXT);
    h = cbor_build_bytestring(hash, 32);
    if (map == NULL || k_hash == NULL || v_hash == NULL || alg == NULL || h == NULL) goto out;
    if (!cbor_array_push(v_hash, alg) || !cbor_array_push(v_hash, h)) goto out;
    if (!cbor_map_add(map, (struct cbor_pair){.key = k_hash, .value = v_hash})) goto out;
    if (nonce_len > 0) {
        k_nonce = cbor_build_string("nonce");
        v_nonce = cbor_build_bytestring(nonce, nonce_len);
        if (k_nonce == NULL || v_nonce == NULL) goto out;
        if (!cbor_map_add(map, (struct cbor_pair){.key = k_nonce, .value = v_nonce})) goto out;
    }
    size_t n = cbor_serialize_alloc(map, &buf, &buf_size);
    if (n == 0) goto out;
    ARCA_ENSURE_OUT(n <= ARCA_RATLS_MAX_CLAIMS_LEN, ARCA_ERR_INTERNAL);
    *out = buf;
    *out_len = n;
    buf = NULL;
    st = ARCA_OK;
out:
    free(buf);
    cbor_item_t *items[] = {map, k_hash, v_hash, alg, h, k_nonce, v_nonce};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
        if (items[i] != NULL) cbor_decref(&items[i]);
    return st;
}

static arca_status claims_decode(const uint8_t *data, size_t len, claims_view *out, char *msg, size_t msg_len)
{
    arca_status st = ARCA_OK;
    cbor_item_t *map = NULL;
    bool have_hash = false, have_nonce = false;
    claims_view v;

    memset(&v, 0, sizeof v);
    st = cbor_load_checked(data, len, ARCA_RATLS_MAX_CLAIMS_LEN, &map);
    if (st != ARCA_OK) return fail(msg, msg_len, st, "claims are not well-formed CBOR within the limits");
    if (!cbor_isa_map(map) || !cbor_map_is_definite(map)) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "claims are not a CBOR map");
        goto out;
    }
    const struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        const cbor_item_t *k = pairs[i].key, *val = pairs[i].value;
        if (text_equals(k, "pubkey-hash")) {
            if (have_hash) {
                st = fail(msg, msg_len, ARCA_ERR_DECODE, "claims have pubkey-hash twice");
                goto out;
            }
            have_hash = true;
            if (!cbor_isa_array(val) || !cbor_array_is_definite(val) || cbor_array_size(val) != 2) {
                st = fail(msg, msg_len, ARCA_ERR_DECODE, "pubkey-hash is not [hash-alg, hash]");
                goto out;
            }
            cbor_item_t **hv = cbor_array_handle(val);
            bool sha256 = text_equals(hv[0], HASH_ALG_SHA256_TEXT) ||
                          (cbor_isa_uint(hv[0]) && cbor_get_int(hv[0]) == HASH_ALG_SHA256_IANA);
            if (!sha256) {
                st = fail(msg, msg_len, ARCA_ERR_UNSUPPORTED, "pubkey-hash uses a hash algorithm other than sha-256");
                goto out;
            }
            if (!is_definite_bytes(hv[1]) || cbor_bytestring_length(hv[1]) != 32) {
                st = fail(msg, msg_len, ARCA_ERR_DECODE, "pubkey-hash value is not 32 bytes");
                goto out;
            }
            memcpy(v.pubkey_hash, cbor_bytestring_handle(hv[1]), 32);
        } else if (text_equals(k, "nonce")) {
            if (have_nonce) {
                st = fail(msg, msg_len, ARCA_ERR_DECODE, "claims have nonce twice");
                goto out;
            }
            have_nonce = true;
            if (!is_definite_bytes(val) || cbor_bytestring_length(val) == 0 ||
                cbor_bytestring_length(val) > ARCA_RATLS_MAX_NONCE_LEN) {
                st = fail(msg, msg_len, ARCA_ERR_DECODE, "nonce claim is not 1..%u bytes",
                          (unsigned)ARCA_RATLS_MAX_NONCE_LEN);
                goto out;
            }
            v.nonce_len = cbor_bytestring_length(val);
            memcpy(v.nonce, cbor_bytestring_handle(val), v.nonce_len);
        }
        /* Other claims are not ours to judge; they are covered by the
         * evidence all the same. */
    }
    if (!have_hash) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "claims have no pubkey-hash");
        goto out;
    }
    *out = v;
out:
    cbor_decref(&map);
    return st;
}

/* ---- tagged evidence ---- */

static arca_status tagged_encode(uint64_t tag, const uint8_t *ev, size_t ev_len, const uint8_t *claims,
                                 size_t claims_len, uint8_t **out, size_t *out_len)
{
    arca_status st = ARCA_ERR_NOMEM;
    cbor_item_t *arr = NULL, *b_ev = NULL, *b_claims = NULL, *tagged = NULL;
    unsigned char *buf = NULL;
    size_t buf_size = 0;

    arr = cbor_new_definite_array(2);
    b_ev = cbor_build_bytestring(ev, ev_len);
    b_claims = cbor_build_bytestring(claims, claims_len);
    if (arr == NULL || b_ev == NULL || b_claims == NULL) goto out;
    if (!cbor_array_push(arr, b_ev) || !cbor_array_push(arr, b_claims)) goto out;
    tagged = cbor_build_tag(tag, arr);
    if (tagged == NULL) goto out;
    size_t n = cbor_serialize_alloc(tagged, &buf, &buf_size);
    if (n == 0) goto out;
    ARCA_ENSURE_OUT(n <= ARCA_RATLS_MAX_EXT_LEN, ARCA_ERR_TOO_LARGE);
    *out = buf;
    *out_len = n;
    buf = NULL;
    st = ARCA_OK;
out:
    free(buf);
    cbor_item_t *items[] = {arr, b_ev, b_claims, tagged};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
        if (items[i] != NULL) cbor_decref(&items[i]);
    return st;
}

typedef struct tagged_view {
    uint64_t tag;
    uint8_t *evidence; /* malloc'd copies */
    size_t evidence_len;
    uint8_t *claims;
    size_t claims_len;
} tagged_view;

static void tagged_view_cleanup(tagged_view *v)
{
    free(v->evidence);
    free(v->claims);
    memset(v, 0, sizeof *v);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);
    if (d != NULL && n > 0) memcpy(d, p, n);
    return d;
}

static arca_status tagged_decode(const uint8_t *data, size_t len, tagged_view *out, char *msg, size_t msg_len)
{
    arca_status st = ARCA_OK;
    cbor_item_t *top = NULL, *arr = NULL;
    tagged_view v;

    memset(&v, 0, sizeof v);
    st = cbor_load_checked(data, len, ARCA_RATLS_MAX_EXT_LEN, &top);
    if (st != ARCA_OK) return fail(msg, msg_len, st, "evidence extension is not well-formed CBOR within the limits");
    if (!cbor_isa_tag(top)) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "evidence extension is not a CBOR tag");
        goto out;
    }
    v.tag = cbor_tag_value(top);
    if (v.tag != ARCA_RATLS_TAG_DEV && v.tag != ARCA_RATLS_TAG_TPM) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "evidence CBOR tag %llu is not an Arca evidence tag",
                  (unsigned long long)v.tag);
        goto out;
    }
    arr = cbor_tag_item(top);
    if (arr == NULL || !cbor_isa_array(arr) || !cbor_array_is_definite(arr) || cbor_array_size(arr) != 2) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "tagged evidence is not an array [evidence, claims]");
        goto out;
    }
    cbor_item_t **m = cbor_array_handle(arr);
    if (!is_definite_bytes(m[0]) || !is_definite_bytes(m[1])) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "evidence and claims are not byte strings");
        goto out;
    }
    v.evidence_len = cbor_bytestring_length(m[0]);
    v.claims_len = cbor_bytestring_length(m[1]);
    if (v.evidence_len > ARCA_RATLS_MAX_EVIDENCE_LEN || v.claims_len > ARCA_RATLS_MAX_CLAIMS_LEN) {
        st = fail(msg, msg_len, ARCA_ERR_TOO_LARGE, "evidence (%zu bytes) or claims (%zu bytes) over the limit",
                  v.evidence_len, v.claims_len);
        goto out;
    }
    v.evidence = dup_bytes(cbor_bytestring_handle(m[0]), v.evidence_len);
    v.claims = dup_bytes(cbor_bytestring_handle(m[1]), v.claims_len);
    if (v.evidence == NULL || v.claims == NULL) {
        st = fail(msg, msg_len, ARCA_ERR_NOMEM, "out of memory");
        goto out;
    }
    *out = v;
    memset(&v, 0, sizeof v);
out:
    tagged_view_cleanup(&v);
    if (arr != NULL) cbor_decref(&arr);
    cbor_decref(&top);
    return st;
}

/* ---- certificate creation ---- */

static arca_status add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    ARCA_ENSURE(ext != NULL, ARCA_ERR_CRYPTO);
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ARCA_ENSURE(ok == 1, ARCA_ERR_CRYPTO);
    return ARCA_OK;
}

static arca_status add_evidence_ext(X509 *x, const uint8_t *cbor, size_t cbor_len)
{
    arca_status st = ARCA_OK;
    ASN1_OBJECT *obj = NULL;
    ASN1_OCTET_STRING *inner = NULL, *value = NULL;
    X509_EXTENSION *ext = NULL;
    uint8_t *inner_der = NULL;

    ARCA_ENSURE(cbor_len <= ARCA_RATLS_MAX_EXT_LEN, ARCA_ERR_TOO_LARGE);
    obj = OBJ_txt2obj(ARCA_RATLS_OID, 1);
    inner = ASN1_OCTET_STRING_new();
    value = ASN1_OCTET_STRING_new();
    ARCA_ENSURE_OUT(obj != NULL && inner != NULL && value != NULL, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(ASN1_OCTET_STRING_set(inner, cbor, (int)cbor_len));
    int n = i2d_ASN1_OCTET_STRING(inner, &inner_der);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(ASN1_OCTET_STRING_set(value, inner_der, n));
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, value);
    ARCA_ENSURE_OUT(ext != NULL, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(X509_add_ext(x, ext, -1));
out:
    X509_EXTENSION_free(ext);
    OPENSSL_free(inner_der);
    ASN1_OCTET_STRING_free(value);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
    return st;
}

static arca_status random_serial(X509 *x)
{
    arca_status st = ARCA_OK;
    uint8_t rnd[16];
    BIGNUM *bn = NULL;

    ARCA_GUARD_OSSL(RAND_bytes(rnd, sizeof rnd));
    rnd[0] = (uint8_t)((rnd[0] & 0x7f) | 0x40); /* positive, 16 bytes, never zero */
    bn = BN_bin2bn(rnd, sizeof rnd, NULL);
    ARCA_ENSURE_OUT(bn != NULL, ARCA_ERR_CRYPTO);
    ARCA_ENSURE_OUT(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL, ARCA_ERR_CRYPTO);
out:
    BN_free(bn);
    return st;
}

static arca_status evidence_tag(const arca_sealing *s, uint64_t *out)
{
    const char *mode = arca_sealing_mode(s);
    if (mode != NULL && strcmp(mode, "dev") == 0) {
        *out = ARCA_RATLS_TAG_DEV;
        return ARCA_OK;
    }
    if (mode != NULL && strcmp(mode, "tpm") == 0) {
        *out = ARCA_RATLS_TAG_TPM;
        return ARCA_OK;
    }
    return ARCA_ERR_UNSUPPORTED;
}

arca_status arca_ratls_cert_create(arca_sealing *s, EVP_PKEY *tls_key, const arca_ratls_cert_params *params,
                                   X509 **out_cert, uint8_t **out_der, size_t *out_der_len)
{
    arca_status st = ARCA_OK;
    X509 *x = NULL;
    uint8_t hash[32], rd[ARCA_REPORT_DATA_LEN];
    uint8_t *claims = NULL, *ev = NULL, *tagged = NULL, *der = NULL, *der_copy = NULL;
    size_t claims_len = 0, ev_len = 0, tagged_len = 0;
    uint64_t tag = 0;
    X509V3_CTX ctx;

    ARCA_ENSURE(s != NULL && tls_key != NULL && params != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(out_cert != NULL || out_der != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(out_der == NULL || out_der_len != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(params->subject_cn != NULL, ARCA_ERR_ARGS);
    const size_t cn_len = strnlen(params->subject_cn, ARCA_RATLS_MAX_CN_LEN + 1);
    ARCA_ENSURE(cn_len > 0 && cn_len <= ARCA_RATLS_MAX_CN_LEN, ARCA_ERR_ARGS);
    ARCA_ENSURE(params->validity_secs > 0 && params->validity_secs <= ARCA_RATLS_MAX_VALIDITY_SECS, ARCA_ERR_ARGS);
    ARCA_ENSURE(params->nonce_len <= ARCA_RATLS_MAX_NONCE_LEN, ARCA_ERR_ARGS);
    ARCA_ENSURE(params->nonce_len == 0 || params->nonce != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(evidence_tag(s, &tag));

    x = X509_new();
    ARCA_ENSURE_OUT(x != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(X509_set_version(x, X509_VERSION_3));
    ARCA_GUARD_OUT(random_serial(x));
    X509_NAME *name = X509_get_subject_name(x);
    ARCA_GUARD_OSSL_OUT(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)params->subject_cn,
                                                   (int)cn_len, -1, 0));
    ARCA_GUARD_OSSL_OUT(X509_set_issuer_name(x, name));
    time_t now = time(NULL);
    ARCA_ENSURE_OUT(X509_time_adj_ex(X509_getm_notBefore(x), 0, -NOT_BEFORE_SKEW_SECS, &now) != NULL,
                    ARCA_ERR_CRYPTO);
    ARCA_ENSURE_OUT(X509_time_adj_ex(X509_getm_notAfter(x), 0, (long)params->validity_secs, &now) != NULL,
                    ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(X509_set_pubkey(x, tls_key));

    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ARCA_GUARD_OUT(add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    ARCA_GUARD_OUT(add_conf_ext(x, &ctx, NID_key_usage, "critical,digitalSignature"));
    ARCA_GUARD_OUT(add_conf_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth"));
    ARCA_GUARD_OUT(add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash"));

    ARCA_GUARD_OUT(spki_hash(x, hash));
    ARCA_GUARD_OUT(claims_encode(hash, params->nonce, params->nonce_len, &claims, &claims_len));
    ARCA_GUARD_OUT(sha512(claims, claims_len, rd));
    ARCA_GUARD_OUT(arca_sealing_evidence_create(s, rd, &ev, &ev_len));
    ARCA_ENSURE_OUT(ev_len <= ARCA_RATLS_MAX_EVIDENCE_LEN, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD_OUT(tagged_encode(tag, ev, ev_len, claims, claims_len, &tagged, &tagged_len));
    ARCA_GUARD_OUT(add_evidence_ext(x, tagged, tagged_len));

    /* Ed25519/Ed448 sign the message itself; everything else with SHA-256. */
    const EVP_MD *md = (EVP_PKEY_is_a(tls_key, "ED25519") || EVP_PKEY_is_a(tls_key, "ED448")) ? NULL : EVP_sha256();
    ARCA_ENSURE_OUT(X509_sign(x, tls_key, md) > 0, ARCA_ERR_CRYPTO);

    if (out_der != NULL) {
        int n = i2d_X509(x, &der);
        ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
        ARCA_ENSURE_OUT((size_t)n <= ARCA_RATLS_MAX_CERT_LEN, ARCA_ERR_TOO_LARGE);
        der_copy = dup_bytes(der, (size_t)n);
        ARCA_ENSURE_OUT(der_copy != NULL, ARCA_ERR_NOMEM);
        *out_der = der_copy;
        *out_der_len = (size_t)n;
        der_copy = NULL;
    }
    if (out_cert != NULL) {
        *out_cert = x;
        x = NULL;
    }
out:
    free(der_copy);
    OPENSSL_free(der);
    free(tagged);
    free(ev);
    free(claims);
    X509_free(x);
    return st;
}

/* ---- verification ---- */

/* The CBOR inside the one evidence extension; *out borrows from *out_inner
 * (free with ASN1_OCTET_STRING_free). */
static arca_status find_extension(const X509 *cert, ASN1_OCTET_STRING **out_inner, char *msg, size_t msg_len)
{
    arca_status st = ARCA_OK;
    ASN1_OBJECT *obj = OBJ_txt2obj(ARCA_RATLS_OID, 1);
    ASN1_OCTET_STRING *inner = NULL;

    ARCA_ENSURE(obj != NULL, ARCA_ERR_CRYPTO);
    int pos = X509_get_ext_by_OBJ(cert, obj, -1);
    if (pos < 0) {
        st = fail(msg, msg_len, ARCA_ERR_NOT_FOUND, "no evidence extension (%s) in the certificate", ARCA_RATLS_OID);
        goto out;
    }
    if (X509_get_ext_by_OBJ(cert, obj, pos) >= 0) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "more than one evidence extension (%s)", ARCA_RATLS_OID);
        goto out;
    }
    const ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(X509_get_ext(cert, pos));
    ARCA_ENSURE_OUT(value != NULL, ARCA_ERR_DECODE);
    const int value_len = ASN1_STRING_length(value);
    if (value_len < 0 || (size_t)value_len > ARCA_RATLS_MAX_EXT_LEN + 8) {
        st = fail(msg, msg_len, ARCA_ERR_TOO_LARGE, "evidence extension of %d bytes is over the limit", value_len);
        goto out;
    }
    const unsigned char *p = ASN1_STRING_get0_data(value);
    inner = d2i_ASN1_OCTET_STRING(NULL, &p, value_len);
    if (inner == NULL || p != ASN1_STRING_get0_data(value) + value_len) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "evidence extension is not exactly one DER OCTET STRING");
        goto out;
    }
    *out_inner = inner;
    inner = NULL;
out:
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
    return st;
}

static arca_status evidence_failure(arca_status st, char *msg, size_t msg_len)
{
    switch (st) {
    case ARCA_ERR_SIGNATURE_INVALID:
        return fail(msg, msg_len, st, "evidence signature does not verify");
    case ARCA_ERR_INTEGRITY:
        return fail(msg, msg_len, st, "evidence report data is not the SHA-512 of the claims");
    case ARCA_ERR_DECODE:
        return fail(msg, msg_len, st, "evidence is malformed");
    case ARCA_ERR_ATTEST_MEASUREMENT:
        return fail(msg, msg_len, st,
                    "the TPM quote's PCR does not hold the claimed enclave identity (a quote over other PCR values)");
    default:
        return fail(msg, msg_len, st, "evidence does not verify: %s", arca_status_message(st));
    }
}

static arca_status apply_policy(const arca_ratls_policy *p, const arca_evidence_claims *ev, char *msg,
                                size_t msg_len)
{
    char got[65], want[65];
    const arca_enclave_identity *id = &ev->identity;

    if (p->expected_attester_key_id != NULL && memcmp(ev->attester_key_id, p->expected_attester_key_id, 32) != 0) {
        hex32(ev->attester_key_id, got);
        hex32(p->expected_attester_key_id, want);
        return fail(msg, msg_len, ARCA_ERR_ATTEST_ATTESTER,
                    "evidence attestation key %s is not the expected key %s", got, want);
    }
    if (ev->insecure_dev && !p->allow_dev)
        return fail(msg, msg_len, ARCA_ERR_ATTEST_INSECURE, "dev evidence refused by policy");
    if (id->debug && !p->allow_debug)
        return fail(msg, msg_len, ARCA_ERR_ATTEST_INSECURE, "debug enclave refused by policy");
    if (p->expected_signer_id != NULL && memcmp(id->signer_id, p->expected_signer_id, 32) != 0) {
        hex32(id->signer_id, got);
        hex32(p->expected_signer_id, want);
        return fail(msg, msg_len, ARCA_ERR_IMAGE_SIGNER, "evidence signer %s is not the expected signer %s", got,
                    want);
    }
    if (p->expected_measurement != NULL && memcmp(id->measurement, p->expected_measurement, 32) != 0) {
        hex32(id->measurement, got);
        hex32(p->expected_measurement, want);
        return fail(msg, msg_len, ARCA_ERR_ATTEST_MEASUREMENT,
                    "evidence measurement %s is not the expected measurement %s", got, want);
    }
    if (id->svn < p->min_svn)
        return fail(msg, msg_len, ARCA_ERR_SVN, "SVN %u is below the minimum %u", (unsigned)id->svn,
                    (unsigned)p->min_svn);
    return ARCA_OK;
}

arca_status arca_ratls_cert_verify(const X509 *cert, const arca_ratls_policy *policy, arca_ratls_result *out,
                                   char *msg, size_t msg_len)
{
    arca_status st = ARCA_OK;
    ASN1_OCTET_STRING *inner = NULL;
    tagged_view tv;
    claims_view cv;
    arca_evidence_claims ev;
    uint8_t rd[ARCA_REPORT_DATA_LEN], key_hash[32];

    memset(&tv, 0, sizeof tv);
    if (msg != NULL && msg_len > 0) msg[0] = '\0';
    if (cert == NULL || policy == NULL || out == NULL)
        return fail(msg, msg_len, ARCA_ERR_ARGS, "certificate, policy and result are required");

    ARCA_GUARD_OUT(find_extension(cert, &inner, msg, msg_len));
    ARCA_GUARD_OUT(tagged_decode(ASN1_STRING_get0_data(inner), (size_t)ASN1_STRING_length(inner), &tv, msg, msg_len));
    ARCA_GUARD_OUT(claims_decode(tv.claims, tv.claims_len, &cv, msg, msg_len));
    ARCA_GUARD_OUT(sha512(tv.claims, tv.claims_len, rd));
    memset(&ev, 0, sizeof ev);
    st = arca_evidence_verify(tv.evidence, tv.evidence_len, rd, &ev);
    if (st != ARCA_OK) {
        st = evidence_failure(st, msg, msg_len);
        goto out;
    }
    if ((tv.tag == ARCA_RATLS_TAG_DEV) != ev.insecure_dev) {
        st = fail(msg, msg_len, ARCA_ERR_DECODE, "CBOR tag says %s evidence but the evidence is %s",
                  tv.tag == ARCA_RATLS_TAG_DEV ? "dev" : "TPM", ev.insecure_dev ? "dev" : "not dev");
        goto out;
    }
    ARCA_GUARD_OUT(spki_hash(cert, key_hash));
    if (CRYPTO_memcmp(key_hash, cv.pubkey_hash, 32) != 0) {
        st = fail(msg, msg_len, ARCA_ERR_ATTEST_BINDING, "pubkey-hash does not match the certificate's key");
        goto out;
    }
    ARCA_GUARD_OUT(apply_policy(policy, &ev, msg, msg_len));
    if (policy->tpm_ak_ca_file != NULL && ev.tpm_quote)
        ARCA_GUARD_OUT(arca_evidence_check_tpm_ak(tv.evidence, tv.evidence_len, policy->tpm_ak_ca_file, msg, msg_len));

    memset(out, 0, sizeof *out);
    out->evidence = ev;
    out->tag = tv.tag;
    memcpy(out->pubkey_hash, cv.pubkey_hash, 32);
    memcpy(out->nonce, cv.nonce, cv.nonce_len);
    out->nonce_len = cv.nonce_len;
out:
    if (st != ARCA_OK && msg != NULL && msg_len > 0 && msg[0] == '\0')
        (void)fail(msg, msg_len, st, "certificate evidence check failed: %s", arca_status_message(st));
    tagged_view_cleanup(&tv);
    ASN1_OCTET_STRING_free(inner);
    return st;
}

arca_status arca_ratls_cert_verify_der(const uint8_t *der, size_t der_len, const arca_ratls_policy *policy,
                                       arca_ratls_result *out, char *msg, size_t msg_len)
{
    if (msg != NULL && msg_len > 0) msg[0] = '\0';
    if (der == NULL || der_len == 0) return fail(msg, msg_len, ARCA_ERR_ARGS, "no certificate given");
    if (der_len > ARCA_RATLS_MAX_CERT_LEN)
        return fail(msg, msg_len, ARCA_ERR_TOO_LARGE, "certificate of %zu bytes is over the limit of %u", der_len,
                    (unsigned)ARCA_RATLS_MAX_CERT_LEN);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)der_len);
    if (x == NULL || p != der + der_len) {
        X509_free(x);
        return fail(msg, msg_len, ARCA_ERR_DECODE, "certificate is not exactly one DER X.509 certificate");
    }
    arca_status st = arca_ratls_cert_verify(x, policy, out, msg, msg_len);
    X509_free(x);
    return st;
}

/* ---- freshness ---- */

arca_status arca_ratls_fresh_report_data(const uint8_t *nonce, size_t nonce_len, const uint8_t *exporter,
                                         size_t exporter_len, uint8_t out[ARCA_REPORT_DATA_LEN])
{
    arca_status st = ARCA_OK;
    arca_builder b = {0};
    uint8_t buf[sizeof FRESH_LABEL - 1 + 2 + ARCA_RATLS_MAX_NONCE_LEN + 2 + ARCA_RATLS_MAX_EXPORTER_LEN];

    ARCA_ENSURE(nonce != NULL && nonce_len > 0 && exporter != NULL && exporter_len > 0 && out != NULL,
                ARCA_ERR_ARGS);
    ARCA_ENSURE(nonce_len <= ARCA_RATLS_MAX_NONCE_LEN && exporter_len <= ARCA_RATLS_MAX_EXPORTER_LEN,
                ARCA_ERR_TOO_LARGE);
    arca_builder_init_fixed(&b, buf, sizeof buf);
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, FRESH_LABEL, sizeof FRESH_LABEL - 1));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, nonce, nonce_len));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, exporter, exporter_len));
    ARCA_GUARD_OUT(sha512(b.data, b.len, out));
out:
    arca_builder_cleanup(&b);
    return st;
}
