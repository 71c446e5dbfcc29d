/* Attribute lists, the attribute vocabulary the keystore accepts, template
 * checks and the defaults of new key objects. */
#include <stdlib.h>
#include <string.h>

#include "arca/secret.h"
#include "kms_internal.h"

enum attr_kind { AK_BOOL = 1, AK_ULONG, AK_BYTES, AK_LABEL, AK_DATE, AK_ID16, AK_STATE, AK_IDENTITIES, AK_MECHS };

/* Classes an attribute applies to. */
#define C_S 1u /* secret key */
#define C_V 2u /* private key */
#define C_P 4u /* public key */
#define C_ALL (C_S | C_V | C_P)

enum attr_flags {
    AF_RO = 1,     /* never set by a caller (read-only) */
    AF_INPUT = 2,  /* consumed at creation, not stored as an attribute */
    AF_STORED = 4, /* copied from the template into the stored list */
};

typedef struct attr_def {
    uint32_t type;
    uint8_t kind;
    uint8_t classes;
    uint8_t flags;
} attr_def;

static const attr_def k_defs[] = {
    {CKA_CLASS, AK_ULONG, C_ALL, 0}, /* checked by the caller, stored by build */
    {CKA_KEY_TYPE, AK_ULONG, C_ALL, 0},
    {CKA_TOKEN, AK_BOOL, C_ALL, AF_STORED},
    {CKA_PRIVATE, AK_BOOL, C_ALL, AF_STORED},
    {CKA_MODIFIABLE, AK_BOOL, C_ALL, AF_STORED},
    {CKA_LABEL, AK_LABEL, C_ALL, AF_STORED},
    {CKA_ID, AK_BYTES, C_ALL, AF_STORED},
    {CKA_START_DATE, AK_DATE, C_ALL, AF_STORED},
    {CKA_END_DATE, AK_DATE, C_ALL, AF_STORED},
    {CKA_DERIVE, AK_BOOL, C_ALL, AF_STORED},
    {CKA_SENSITIVE, AK_BOOL, C_S | C_V, AF_STORED},
    {CKA_EXTRACTABLE, AK_BOOL, C_S | C_V, AF_STORED},
    {CKA_ENCRYPT, AK_BOOL, C_S | C_P, AF_STORED},
    {CKA_DECRYPT, AK_BOOL, C_S | C_V, AF_STORED},
    {CKA_SIGN, AK_BOOL, C_S | C_V, AF_STORED},
    {CKA_VERIFY, AK_BOOL, C_S | C_P, AF_STORED},
    {CKA_WRAP, AK_BOOL, C_S | C_P, AF_STORED},
    {CKA_UNWRAP, AK_BOOL, C_S | C_V, AF_STORED},
    {CKA_SIGN_RECOVER, AK_BOOL, C_V, AF_STORED},
    {CKA_VERIFY_RECOVER, AK_BOOL, C_P, AF_STORED},
    {CKA_VALUE_LEN, AK_ULONG, C_S, AF_INPUT},
    {CKA_MODULUS_BITS, AK_ULONG, C_V | C_P, AF_INPUT},
    {CKA_PUBLIC_EXPONENT, AK_BYTES, C_V | C_P, AF_INPUT},
    {CKA_EC_PARAMS, AK_BYTES, C_V | C_P, AF_INPUT},
    {CKA_VALUE, AK_BYTES, C_S | C_V, AF_INPUT},
    {CKA_PUBLIC_KEY_INFO, AK_BYTES, C_P, AF_INPUT},
    {CKA_ALWAYS_SENSITIVE, AK_BOOL, C_S | C_V, AF_RO},
    {CKA_NEVER_EXTRACTABLE, AK_BOOL, C_S | C_V, AF_RO},
    {CKA_LOCAL, AK_BOOL, C_ALL, AF_RO},
    {CKA_MODULUS, AK_BYTES, C_V | C_P, AF_RO},
    {CKA_EC_POINT, AK_BYTES, C_V | C_P, AF_RO},
    {CKA_PRIVATE_EXPONENT, AK_BYTES, C_V, AF_RO},
    {CKA_PRIME_1, AK_BYTES, C_V, AF_RO},
    {CKA_PRIME_2, AK_BYTES, C_V, AF_RO},
    {CKA_EXPONENT_1, AK_BYTES, C_V, AF_RO},
    {CKA_EXPONENT_2, AK_BYTES, C_V, AF_RO},
    {CKA_COEFFICIENT, AK_BYTES, C_V, AF_RO},
    {ARCA_CKA_KEY_VERSION, AK_ULONG, C_ALL, AF_RO},
    {ARCA_CKA_PRIMARY, AK_BOOL, C_ALL, AF_RO},
    {ARCA_CKA_OBJECT_ID, AK_ID16, C_ALL, AF_RO},
    /* Stored; at creation only Pre-Active or Active (kms_attrs_build);
     * changes go through activate / revoke (apply_changes refuses). */
    {ARCA_CKA_STATE, AK_STATE, C_ALL, AF_STORED},
    /* Per-key permissions (kms.h); changed through set_attributes. */
    {ARCA_CKA_ALLOWED_IDENTITIES, AK_IDENTITIES, C_ALL, AF_STORED},
    /* CK_MECHANISM_TYPE array as u32 each (kms.h); enforced by key use. */
    {CKA_ALLOWED_MECHANISMS, AK_MECHS, C_ALL, AF_STORED},
};

static const attr_def *def_find(uint32_t type)
{
    for (size_t i = 0; i < sizeof(k_defs) / sizeof(k_defs[0]); i++) {
        if (k_defs[i].type == type) return &k_defs[i];
    }
    return NULL;
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void kms_attrs_free(kms_attrs *l)
{
    if (l == NULL) return;
    for (size_t i = 0; i < l->num; i++) arca_secmem_free(l->a[i].value);
    arca_secmem_free(l->a);
    l->a = NULL;
    l->num = 0;
}

const kms_attr *kms_attrs_find(const kms_attrs *l, uint32_t type)
{
    for (size_t i = 0; i < l->num; i++) {
        if (l->a[i].type == type) return &l->a[i];
    }
    return NULL;
}

arca_status kms_attrs_set(kms_attrs *l, uint32_t type, const uint8_t *value, size_t len)
{
    ARCA_ENSURE(len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_ATTRIBUTE_VALUE);
    uint8_t *copy = arca_secmem_alloc(len > 0 ? len : 1);
    ARCA_ENSURE(copy != NULL, ARCA_ERR_NOMEM);
    if (len > 0) memcpy(copy, value, len);
    for (size_t i = 0; i < l->num; i++) {
        if (l->a[i].type == type) {
            arca_secmem_free(l->a[i].value);
            l->a[i].value = copy;
            l->a[i].len = (uint32_t)len;
            return ARCA_OK;
        }
    }
    kms_attr *grown = arca_secmem_realloc(l->a, (l->num + 1) * sizeof(*grown));
    if (grown == NULL) {
        arca_secmem_free(copy);
        return ARCA_ERR_NOMEM;
    }
    l->a = grown;
    l->a[l->num].type = type;
    l->a[l->num].value = copy;
    l->a[l->num].len = (uint32_t)len;
    l->num++;
    return ARCA_OK;
}

arca_status kms_attrs_set_bool(kms_attrs *l, uint32_t type, bool v)
{
    uint8_t b = v ? 1 : 0;
    return kms_attrs_set(l, type, &b, 1);
}

arca_status kms_attrs_set_u32(kms_attrs *l, uint32_t type, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return kms_attrs_set(l, type, b, 4);
}

arca_status kms_attrs_clone(const kms_attrs *src, kms_attrs *out)
{
    kms_attrs l = {0};
    for (size_t i = 0; i < src->num; i++) {
        arca_status st = kms_attrs_set(&l, src->a[i].type, src->a[i].value, src->a[i].len);
        if (st != ARCA_OK) {
            kms_attrs_free(&l);
            return st;
        }
    }
    *out = l;
    return ARCA_OK;
}

bool kms_attrs_bool(const kms_attrs *l, uint32_t type, bool dflt)
{
    const kms_attr *a = kms_attrs_find(l, type);
    if (a == NULL || a->len != 1) return dflt;
    return a->value[0] != 0;
}

uint32_t kms_attrs_u32(const kms_attrs *l, uint32_t type, uint32_t dflt)
{
    const kms_attr *a = kms_attrs_find(l, type);
    if (a == NULL || a->len != 4) return dflt;
    return be32(a->value);
}

bool kms_attrs_mechanism_allowed(const kms_attrs *l, uint32_t mechanism)
{
    const kms_attr *a = kms_attrs_find(l, CKA_ALLOWED_MECHANISMS);
    if (a == NULL || a->len == 0) return true;
    for (size_t i = 0; i + 4 <= a->len; i += 4) {
        if (be32(a->value + i) == mechanism) return true;
    }
    return false;
}

/* What secret memory really holds for these attributes (size classes and
 * headers), so that the cache budget bounds the enclave's memory rather
 * than the attribute bytes alone. */
size_t kms_attrs_mem(const kms_attrs *l)
{
    size_t n = arca_secmem_block_size(l->a);
    for (size_t i = 0; i < l->num; i++) n += arca_secmem_block_size(l->a[i].value);
    return n;
}

const arca_attr *kms_tmpl_find(const arca_attr *tmpl, size_t num, uint32_t type)
{
    for (size_t i = 0; i < num; i++) {
        if (tmpl[i].type == type) return &tmpl[i];
    }
    return NULL;
}

bool kms_tmpl_bool(const arca_attr *tmpl, size_t num, uint32_t type, bool *out)
{
    const arca_attr *a = kms_tmpl_find(tmpl, num, type);
    if (a == NULL || a->len != 1 || a->value == NULL) return false;
    *out = a->value[0] != 0;
    return true;
}

bool kms_tmpl_u32(const arca_attr *tmpl, size_t num, uint32_t type, uint32_t *out)
{
    const arca_attr *a = kms_tmpl_find(tmpl, num, type);
    if (a == NULL || a->len != 4 || a->value == NULL) return false;
    *out = be32(a->value);
    return true;
}

static arca_status value_check(const attr_def *d, const arca_attr *a)
{
    ARCA_ENSURE(a->len == 0 || a->value != NULL, ARCA_ERR_ARGS);
    switch (d->kind) {
    case AK_BOOL:
        ARCA_ENSURE(a->len == 1 && (a->value[0] == 0 || a->value[0] == 1), ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    case AK_ULONG:
        ARCA_ENSURE(a->len == 4, ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    case AK_BYTES:
        ARCA_ENSURE(a->len <= ARCA_ATTR_VALUE_MAX, ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    case AK_LABEL:
        ARCA_ENSURE(a->len <= ARCA_LABEL_MAX, ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    case AK_DATE:
        /* CK_DATE: empty, or YYYYMMDD as ASCII digits. */
        ARCA_ENSURE(a->len == 0 || a->len == 8, ARCA_ERR_ATTRIBUTE_VALUE);
        for (size_t i = 0; i < a->len; i++) {
            ARCA_ENSURE(a->value[i] >= '0' && a->value[i] <= '9', ARCA_ERR_ATTRIBUTE_VALUE);
        }
        return ARCA_OK;
    case AK_ID16:
        ARCA_ENSURE(a->len == ARCA_OBJECT_ID_LEN, ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    case AK_STATE: {
        ARCA_ENSURE(a->len == 4, ARCA_ERR_ATTRIBUTE_VALUE);
        uint32_t v = be32(a->value);
        ARCA_ENSURE(v >= ARCA_STATE_PRE_ACTIVE && v <= ARCA_STATE_DESTROYED_COMPROMISED, ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    }
    case AK_IDENTITIES:
        ARCA_ENSURE(kms_identity_list_ok(a->value, a->len), ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    case AK_MECHS:
        ARCA_ENSURE(a->len % 4 == 0 && a->len / 4 <= ARCA_ALLOWED_MECHANISMS_MAX, ARCA_ERR_ATTRIBUTE_VALUE);
        return ARCA_OK;
    default:
        return ARCA_ERR_INTERNAL;
    }
}

/* Items of a comma-separated list: each 1..ARCA_IDENTITY_NAME_MAX
 * printable ASCII bytes (identity names). */
bool kms_identity_list_ok(const uint8_t *v, size_t len)
{
    if (len == 0) return true;
    if (len > ARCA_ALLOWED_IDENTITIES_MAX || v == NULL) return false;
    size_t item = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || v[i] == ',') {
            if (item == 0 || item > ARCA_IDENTITY_NAME_MAX) return false;
            item = 0;
            continue;
        }
        if (v[i] < 0x20 || v[i] > 0x7e) return false;
        item++;
    }
    return true;
}

bool kms_identity_list_has(const uint8_t *v, size_t len, const char *name)
{
    size_t n = strlen(name), start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || v[i] == ',') {
            if (i - start == n && n > 0 && memcmp(v + start, name, n) == 0) return true;
            start = i + 1;
        }
    }
    return false;
}

arca_status kms_tmpl_check(const arca_attr *tmpl, size_t num)
{
    ARCA_ENSURE(num == 0 || tmpl != NULL, ARCA_ERR_ARGS);
    for (size_t i = 0; i < num; i++) {
        const attr_def *d = def_find(tmpl[i].type);
        ARCA_ENSURE(d != NULL, ARCA_ERR_ATTRIBUTE_TYPE);
        ARCA_ENSURE((d->flags & AF_RO) == 0, ARCA_ERR_ATTRIBUTE_READ_ONLY);
        ARCA_GUARD(value_check(d, &tmpl[i]));
        for (size_t j = 0; j < i; j++) {
            ARCA_ENSURE(tmpl[j].type != tmpl[i].type, ARCA_ERR_TEMPLATE_INCONSISTENT);
        }
    }
    return ARCA_OK;
}

arca_status kms_tmpl_expect_u32(const arca_attr *tmpl, size_t num, uint32_t type, uint32_t expect)
{
    uint32_t v;
    if (kms_tmpl_find(tmpl, num, type) == NULL) return ARCA_OK;
    ARCA_ENSURE(kms_tmpl_u32(tmpl, num, type, &v), ARCA_ERR_ATTRIBUTE_VALUE);
    ARCA_ENSURE(v == expect, ARCA_ERR_TEMPLATE_INCONSISTENT);
    return ARCA_OK;
}

static uint8_t class_bit(uint32_t cls)
{
    switch (cls) {
    case CKO_SECRET_KEY:
        return C_S;
    case CKO_PRIVATE_KEY:
        return C_V;
    case CKO_PUBLIC_KEY:
        return C_P;
    default:
        return 0;
    }
}

/* Defaults a network HSM user expects: token, private, sensitive and
 * unextractable key objects; usage flags that fit the key type. */
static arca_status set_defaults(kms_attrs *l, uint32_t cls, uint32_t ktype)
{
    bool rsa = ktype == CKK_RSA, ec = ktype == CKK_EC;
    ARCA_GUARD(kms_attrs_set_bool(l, CKA_TOKEN, true));
    ARCA_GUARD(kms_attrs_set_bool(l, CKA_PRIVATE, cls != CKO_PUBLIC_KEY));
    ARCA_GUARD(kms_attrs_set_bool(l, CKA_MODIFIABLE, true));
    ARCA_GUARD(kms_attrs_set(l, CKA_LABEL, NULL, 0));
    ARCA_GUARD(kms_attrs_set(l, CKA_ID, NULL, 0));
    ARCA_GUARD(kms_attrs_set(l, CKA_START_DATE, NULL, 0));
    ARCA_GUARD(kms_attrs_set(l, CKA_END_DATE, NULL, 0));
    /* Usable at once, as a network HSM user expects (kms.h). */
    ARCA_GUARD(kms_attrs_set_u32(l, ARCA_CKA_STATE, ARCA_STATE_ACTIVE));
    switch (cls) {
    case CKO_SECRET_KEY:
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_SENSITIVE, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_EXTRACTABLE, false));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_ENCRYPT, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_DECRYPT, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_SIGN, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_VERIFY, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_WRAP, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_UNWRAP, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_DERIVE, false));
        return ARCA_OK;
    case CKO_PRIVATE_KEY:
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_SENSITIVE, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_EXTRACTABLE, false));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_SIGN, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_SIGN_RECOVER, false));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_DECRYPT, rsa));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_UNWRAP, rsa));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_DERIVE, ec));
        return ARCA_OK;
    case CKO_PUBLIC_KEY:
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_VERIFY, true));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_VERIFY_RECOVER, false));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_ENCRYPT, rsa));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_WRAP, rsa));
        ARCA_GUARD(kms_attrs_set_bool(l, CKA_DERIVE, false));
        return ARCA_OK;
    default:
        return ARCA_ERR_ATTRIBUTE_VALUE;
    }
}

arca_status kms_attrs_build(uint32_t cls, const arca_key *key, const arca_attr *tmpl, size_t num, kms_origin origin,
                            kms_attrs *out)
{
    arca_status st;
    kms_attrs l = {0};
    uint8_t cbit = class_bit(cls);
    uint32_t ktype = arca_key_type(key);
    ARCA_ENSURE_OUT(cbit != 0, ARCA_ERR_ATTRIBUTE_VALUE);
    ARCA_GUARD_OUT(set_defaults(&l, cls, ktype));
    for (size_t i = 0; i < num; i++) {
        const attr_def *d = def_find(tmpl[i].type);
        ARCA_ENSURE_OUT(d != NULL, ARCA_ERR_ATTRIBUTE_TYPE);
        ARCA_ENSURE_OUT((d->classes & cbit) != 0, ARCA_ERR_TEMPLATE_INCONSISTENT);
        if (tmpl[i].type == ARCA_CKA_STATE) {
            /* A new object starts Pre-Active or Active, never revoked. */
            uint32_t sv = be32(tmpl[i].value);
            ARCA_ENSURE_OUT(sv == ARCA_STATE_PRE_ACTIVE || sv == ARCA_STATE_ACTIVE, ARCA_ERR_ATTRIBUTE_VALUE);
        }
        if (d->flags & AF_STORED) ARCA_GUARD_OUT(kms_attrs_set(&l, tmpl[i].type, tmpl[i].value, tmpl[i].len));
    }
    ARCA_GUARD_OUT(kms_attrs_set_u32(&l, CKA_CLASS, cls));
    ARCA_GUARD_OUT(kms_attrs_set_u32(&l, CKA_KEY_TYPE, ktype));
    ARCA_GUARD_OUT(kms_attrs_set_bool(&l, CKA_LOCAL, origin == KMS_ORIGIN_GENERATED));
    if (cls != CKO_PUBLIC_KEY) {
        bool local = origin == KMS_ORIGIN_GENERATED;
        ARCA_GUARD_OUT(kms_attrs_set_bool(&l, CKA_ALWAYS_SENSITIVE, local && kms_attrs_bool(&l, CKA_SENSITIVE, true)));
        ARCA_GUARD_OUT(
            kms_attrs_set_bool(&l, CKA_NEVER_EXTRACTABLE, local && !kms_attrs_bool(&l, CKA_EXTRACTABLE, false)));
    }
    if (cls == CKO_SECRET_KEY) {
        ARCA_GUARD_OUT(kms_attrs_set_u32(&l, CKA_VALUE_LEN, (uint32_t)(arca_key_bits(key) / 8)));
    } else if (ktype == CKK_RSA) {
        ARCA_GUARD_OUT(kms_attrs_set_u32(&l, CKA_MODULUS_BITS, (uint32_t)arca_key_bits(key)));
    }
    ARCA_GUARD_OUT(kms_attrs_set_u32(&l, ARCA_CKA_KEY_VERSION, 1));
    ARCA_GUARD_OUT(kms_attrs_set_bool(&l, ARCA_CKA_PRIMARY, true));
    *out = l;
    return ARCA_OK;
out:
    kms_attrs_free(&l);
    return st;
}
