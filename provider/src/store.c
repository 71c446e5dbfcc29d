/* OSSL_STORE loader for arca: and pkcs11: URIs (docs/openssl.md).
 *
 *   arca:label=NAME[;version=N]   the primary (or version N) key named NAME
 *   arca:id=HEX                   the appliance object id (32 hex digits)
 *   pkcs11:object=NAME;id=%01%02;type=private|public  (RFC 7512)
 *
 * The lookup runs at open (so an unknown key fails OSSL_STORE_open with a
 * clear error). Loading yields the private key as a reference to this
 * provider's key object, then the public key as DER SubjectPublicKeyInfo
 * that the default provider decodes. */
#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov.h"

/* = enclave_kms/include/arca/kms.h (the enclave's header is not a client one) */
#define ARCA_CKA_KEY_VERSION 0xC1524301u
#define ARCA_CKA_PRIMARY 0xC1524302u

#define FIND_MAX 16u
#define VALUE_MAX 256u

typedef struct store_ctx {
    arca_prov *prov;
    arca_prov_key *key; /* the key found (private, or public only) */
    uint8_t *spki;
    size_t spki_len;
    int expect;   /* OSSL_STORE_INFO_* or 0 */
    int step;     /* 0: private next, 1: public next, 2: done */
} store_ctx;

typedef struct uri_query {
    char label[VALUE_MAX + 1];
    bool has_label;
    uint8_t ckaid[VALUE_MAX];
    size_t ckaid_len;
    bool has_ckaid;
    arca_client_id object_id;
    bool has_object_id;
    uint32_t version;
    bool has_version;
    bool public_only;
} uri_query;

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n) into out (at most max bytes). */
static bool pct_decode(const char *s, size_t n, uint8_t *out, size_t max, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n) return false;
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return false;
            c = h * 16 + l;
            i += 2;
        }
        if (o >= max) return false;
        out[o++] = (uint8_t)c;
    }
    *out_len = o;
    return true;
}

static bool parse_hex(const char *s, size_t n, uint8_t *out, size_t want)
{
    if (n != 2 * want) return false;
    for (size_t i = 0; i < want; i++) {
        int h = hexval((unsigned char)s[2 * i]), l = hexval((unsigned char)s[2 * i + 1]);
        if (h < 0 || l < 0) return false;
        out[i] = (uint8_t)(h * 16 + l);
    }
    return true;
}

/* Parse the URI; on failure put "bad arca URI ..." on the queue. */
static bool parse_uri(arca_prov *p, const char *uri, uri_query *q)
{
    bool pkcs11;
    const char *s, *end;
    memset(q, 0, sizeof *q);
    if (OPENSSL_strncasecmp(uri, "arca:", 5) == 0) {
        pkcs11 = false;
        s = uri + 5;
    } else if (OPENSSL_strncasecmp(uri, "pkcs11:", 7) == 0) {
        pkcs11 = true;
        s = uri + 7;
    } else {
        return false; /* not ours: no error, another loader may take it */
    }
    end = s + strcspn(s, "?"); /* pkcs11 query attributes (pin-source, ...) are ignored */
    if (!pkcs11 && *end != '\0') goto bad;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *eq, *v;
        size_t kn, vn;
        uint8_t buf[VALUE_MAX];
        size_t blen = 0;
        if (semi == NULL) semi = end;
        eq = memchr(s, '=', (size_t)(semi - s));
        if (eq == NULL) goto bad;
        kn = (size_t)(eq - s);
        v = eq + 1;
        vn = (size_t)(semi - v);
        if (!pct_decode(v, vn, buf, sizeof buf, &blen)) goto bad;
        if ((!pkcs11 && kn == 5 && memcmp(s, "label", 5) == 0) || (pkcs11 && kn == 6 && memcmp(s, "object", 6) == 0)) {
            if (blen == 0 || memchr(buf, '\0', blen) != NULL) goto bad;
            memcpy(q->label, buf, blen);
            q->label[blen] = '\0';
            q->has_label = true;
        } else if (!pkcs11 && kn == 2 && memcmp(s, "id", 2) == 0) {
            if (!parse_hex(v, vn, q->object_id.b, sizeof q->object_id.b)) goto bad;
            q->has_object_id = true;
        } else if (pkcs11 && kn == 2 && memcmp(s, "id", 2) == 0) {
            memcpy(q->ckaid, buf, blen);
            q->ckaid_len = blen;
            q->has_ckaid = true;
        } else if (!pkcs11 && kn == 7 && memcmp(s, "version", 7) == 0) {
            char num[16];
            char *e;
            unsigned long n;
            if (vn == 0 || vn >= sizeof num || !isdigit((unsigned char)v[0])) goto bad;
            memcpy(num, v, vn);
            num[vn] = '\0';
            n = strtoul(num, &e, 10);
            if (*e != '\0' || n == 0 || n > UINT32_MAX) goto bad;
            q->version = (uint32_t)n;
            q->has_version = true;
        } else if (pkcs11 && kn == 4 && memcmp(s, "type", 4) == 0) {
            if (blen == 6 && memcmp(buf, "public", 6) == 0) q->public_only = true;
            else if (!(blen == 7 && memcmp(buf, "private", 7) == 0)) goto bad;
        } else if (!pkcs11) {
            goto bad; /* unknown arca: attribute */
        } /* other pkcs11 path attributes (token, manufacturer, ...) are ignored */
        s = semi < end ? semi + 1 : end;
    }
    if (!q->has_label && !q->has_object_id && !q->has_ckaid) goto bad;
    if (q->has_object_id && (q->has_label || q->has_version)) goto bad;
    if (q->has_version && !q->has_label) goto bad;
    return true;
bad:
    arca_prov_error(p, ARCA_PROV_R_URI,
                    "bad URI '%s' (expected arca:label=NAME[;version=N], arca:id=HEX32 or pkcs11:object=NAME[;id=...])",
                    uri);
    return false;
}

static void be32(uint32_t v, uint8_t out[4])
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

static arca_status get_u32(arca_client *c, const arca_client_id *id, uint32_t type, uint32_t *out)
{
    uint8_t *v = NULL;
    size_t n = 0;
    arca_status st = arca_client_get_attribute(c, id, type, &v, &n);
    if (st == ARCA_OK && n == 4) {
        *out = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
    } else if (st == ARCA_OK && n == 8) { /* CK_ULONG stored wide */
        *out = (uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 | (uint32_t)v[6] << 8 | v[7];
    } else if (st == ARCA_OK) {
        st = ARCA_ERR_DECODE;
    }
    free(v);
    return st;
}

/* Find the object of class cls matching q; ARCA_ERR_NOT_FOUND when none. */
static arca_status find_one(arca_client *c, const uri_query *q, uint32_t cls, arca_client_id *out)
{
    uint8_t cls_b[4], ver_b[4];
    arca_lp_attr t[4];
    size_t n = 0, num = 0;
    arca_client_id ids[FIND_MAX];
    be32(cls, cls_b);
    t[n++] = (arca_lp_attr){CKA_CLASS, cls_b, 4};
    if (q->has_label) t[n++] = (arca_lp_attr){CKA_LABEL, (const uint8_t *)q->label, strlen(q->label)};
    if (q->has_ckaid) t[n++] = (arca_lp_attr){CKA_ID, q->ckaid, q->ckaid_len};
    if (q->has_version) {
        be32(q->version, ver_b);
        t[n++] = (arca_lp_attr){ARCA_CKA_KEY_VERSION, ver_b, 4};
    }
    ARCA_GUARD(arca_client_find(c, t, n, ids, FIND_MAX, &num));
    ARCA_ENSURE(num > 0, ARCA_ERR_NOT_FOUND);
    if (num == 1) {
        *out = ids[0];
        return ARCA_OK;
    }
    /* Several versions of a named key: the primary one. */
    for (size_t i = 0; i < num; i++) {
        uint8_t *v = NULL;
        size_t vn = 0;
        arca_status st = arca_client_get_attribute(c, &ids[i], ARCA_CKA_PRIMARY, &v, &vn);
        bool primary = st == ARCA_OK && vn == 1 && v[0] != 0;
        free(v);
        if (primary) {
            *out = ids[i];
            return ARCA_OK;
        }
    }
    *out = ids[0];
    return ARCA_OK;
}

static const char *describe(const uri_query *q, char *buf, size_t len)
{
    if (q->has_object_id) {
        (void)snprintf(buf, len, "id ");
        for (size_t i = 0; i < sizeof q->object_id.b && strlen(buf) + 3 < len; i++) {
            (void)snprintf(buf + strlen(buf), len - strlen(buf), "%02x", q->object_id.b[i]);
        }
    } else if (q->has_label && q->has_version) {
        (void)snprintf(buf, len, "label '%.96s' version %u", q->label, (unsigned)q->version);
    } else if (q->has_label) {
        (void)snprintf(buf, len, "label '%.96s'", q->label);
    } else {
        (void)snprintf(buf, len, "the given CKA_ID");
    }
    return buf;
}

static arca_status lookup(store_ctx *sc, const uri_query *q)
{
    arca_prov *p = sc->prov;
    arca_client *c = NULL;
    arca_client_id id;
    uint32_t cls = CKO_PRIVATE_KEY, ktype = 0;
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    arca_prov_key_type type;
    char what[128];
    const char *step = "find";
    arca_status st;

    ARCA_GUARD(arca_prov_acquire(p, &c));
    if (q->has_object_id) {
        id = q->object_id;
        step = "class";
        st = get_u32(c, &id, CKA_CLASS, &cls);
        if (st == ARCA_OK && cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY) st = ARCA_ERR_KEY_TYPE;
    } else {
        st = q->public_only ? ARCA_ERR_NOT_FOUND : find_one(c, q, CKO_PRIVATE_KEY, &id);
        if (st == ARCA_ERR_NOT_FOUND) {
            cls = CKO_PUBLIC_KEY;
            st = find_one(c, q, CKO_PUBLIC_KEY, &id);
        }
    }
    if (st == ARCA_OK) {
        step = "key type";
        st = get_u32(c, &id, CKA_KEY_TYPE, &ktype);
    }
    if (st == ARCA_OK) {
        step = "public key";
        st = arca_client_get_attribute(c, &id, CKA_PUBLIC_KEY_INFO, &spki, &spki_len);
    }
    if (st == ARCA_ERR_NOT_FOUND) {
        arca_prov_error(p, ARCA_PROV_R_NOT_FOUND, "no key with %s in the Arca partition", describe(q, what, sizeof what));
    } else if (st != ARCA_OK) {
        arca_prov_error_status(p, st, step, arca_client_last_message(c));
    }
    arca_prov_release(p, c, st);
    ARCA_GUARD_OUT(st);

    switch (ktype) {
    case CKK_RSA: type = ARCA_PROV_KEY_RSA; break;
    case CKK_EC: type = ARCA_PROV_KEY_EC; break;
    case CKK_EC_EDWARDS: type = ARCA_PROV_KEY_ED25519; break;
    default:
        arca_prov_error(p, ARCA_PROV_R_UNSUPPORTED, "key type 0x%x is not supported", (unsigned)ktype);
        st = ARCA_ERR_KEY_TYPE;
        goto out;
    }
    st = arca_prov_key_from_spki(p, type, cls == CKO_PRIVATE_KEY, &id, spki, spki_len, &sc->key);
    ARCA_GUARD_OUT(st);
    sc->spki = spki;
    sc->spki_len = spki_len;
    spki = NULL;
out:
    free(spki);
    return st;
}

static void *store_open(void *provctx, const char *uri)
{
    arca_prov *p = provctx;
    uri_query q;
    store_ctx *sc;
    if (!parse_uri(p, uri, &q)) return NULL;
    sc = OPENSSL_zalloc(sizeof *sc);
    if (sc == NULL) return NULL;
    sc->prov = p;
    if (lookup(sc, &q) != ARCA_OK) {
        OPENSSL_free(sc);
        return NULL;
    }
    if (!sc->key->has_private) sc->step = 1;
    return sc;
}

static const OSSL_PARAM *store_settable_ctx_params(void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_END,
    };
    return t;
}

static int store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
    store_ctx *sc = loaderctx;
    const OSSL_PARAM *q = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (q != NULL && !OSSL_PARAM_get_int(q, &sc->expect)) return 0;
    return 1;
}

static int store_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    store_ctx *sc = loaderctx;
    int objtype = OSSL_OBJECT_PKEY;
    const char *dtype = arca_prov_key_type_name(sc->key->type);
    arca_prov_key *ref = sc->key;
    OSSL_PARAM params[5];
    size_t n = 0;

    if (sc->step == 0) {
        sc->step = 1;
        if (sc->expect != 0 && sc->expect != OSSL_STORE_INFO_PKEY) return store_load(loaderctx, object_cb,
                                                                                      object_cbarg, pw_cb, pw_cbarg);
        params[n++] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)dtype, 0);
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &ref, sizeof ref);
        params[n] = OSSL_PARAM_construct_end();
        return object_cb(params, object_cbarg);
    }
    if (sc->step == 1) {
        sc->step = 2;
        if (sc->expect != 0 && sc->expect != OSSL_STORE_INFO_PUBKEY) return 0;
        params[n++] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)dtype, 0);
        params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, "SubjectPublicKeyInfo", 0);
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, sc->spki, sc->spki_len);
        params[n] = OSSL_PARAM_construct_end();
        return object_cb(params, object_cbarg);
    }
    return 0;
}

static int store_eof(void *loaderctx)
{
    store_ctx *sc = loaderctx;
    return sc->step >= 2;
}

static int store_close(void *loaderctx)
{
    store_ctx *sc = loaderctx;
    if (sc == NULL) return 1;
    arca_prov_key_free(sc->key);
    free(sc->spki);
    OPENSSL_free(sc);
    return 1;
}

const OSSL_DISPATCH arca_prov_store_functions[] = {
    {OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open},
    {OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))store_settable_ctx_params},
    {OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params},
    {OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load},
    {OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof},
    {OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close},
    {0, NULL},
};

arca_status arca_prov_lookup_uri(arca_prov *p, const char *uri, arca_prov_key **out)
{
    uri_query q;
    store_ctx sc;
    arca_status st;
    ERR_set_mark();
    if (!parse_uri(p, uri, &q)) {
        ERR_pop_to_mark();
        arca_prov_error(p, ARCA_PROV_R_URI, "bad URI '%.80s' (expected arca:id=HEX32 or arca:label=NAME)", uri);
        return ARCA_ERR_ARGS;
    }
    ERR_clear_last_mark();
    memset(&sc, 0, sizeof sc);
    sc.prov = p;
    st = lookup(&sc, &q);
    if (st == ARCA_OK) *out = sc.key;
    free(sc.spki);
    return st;
}
