/* Attribute values between the PKCS#11 API and the wire: CK_ULONG is 8
 * bytes here and a u32 big-endian there (arca/kms.h "Encoding of attribute
 * values"); CK_BBOOL is one byte 0/1 on both sides. The one place that
 * converts (plan: "convert in one place"). */
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

/* The appliance's vendor attributes (values of arca/kms.h). */
#define P11_CKA_KEY_VERSION 0xC1524301UL
#define P11_CKA_PRIMARY 0xC1524302UL
#define P11_CKA_STATE 0xC1524304UL

void arca_p11_put_u32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

uint32_t arca_p11_get_u32(const uint8_t in[4])
{
    return ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) | in[3];
}

arca_p11_attr_kind arca_p11_attr_kind_of(CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_CLASS:
    case CKA_KEY_TYPE:
    case CKA_CERTIFICATE_TYPE:
    case CKA_CERTIFICATE_CATEGORY:
    case CKA_JAVA_MIDP_SECURITY_DOMAIN:
    case CKA_VALUE_LEN:
    case CKA_MODULUS_BITS:
    case CKA_PRIME_BITS:
    case CKA_SUB_PRIME_BITS:
    case CKA_VALUE_BITS:
    case CKA_KEY_GEN_MECHANISM:
    case CKA_MECHANISM_TYPE:
    case CKA_HW_FEATURE_TYPE:
    case CKA_NAME_HASH_ALGORITHM:
    case P11_CKA_KEY_VERSION:
    case P11_CKA_STATE:
        return ARCA_P11_ATTR_ULONG;
    case CKA_TOKEN:
    case CKA_PRIVATE:
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_DESTROYABLE:
    case CKA_TRUSTED:
    case CKA_SENSITIVE:
    case CKA_EXTRACTABLE:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_DERIVE:
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER:
    case CKA_LOCAL:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_WRAP_WITH_TRUSTED:
    case CKA_ALWAYS_AUTHENTICATE:
    case CKA_RESET_ON_INIT:
    case CKA_HAS_RESET:
    case P11_CKA_PRIMARY:
        return ARCA_P11_ATTR_BOOL;
    case CKA_ALLOWED_MECHANISMS:
        return ARCA_P11_ATTR_ULONG_ARRAY;
    default:
        /* Attribute arrays (CKA_WRAP_TEMPLATE, ...) are not supported. */
        if ((type & CKF_ARRAY_ATTRIBUTE) != 0) return ARCA_P11_ATTR_UNSUPPORTED;
        return ARCA_P11_ATTR_BYTES;
    }
}

void arca_p11_tmpl_free(arca_p11_tmpl *t)
{
    if (t == NULL) return;
    for (size_t i = 0; i < ARCA_LP_MAX_ATTRS; i++) free(t->owned[i]);
    arca_wipe(t, sizeof(*t));
}

static CK_RV add_attr(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, const uint8_t *v, size_t len)
{
    if (t->num >= ARCA_LP_MAX_ATTRS) return CKR_ARGUMENTS_BAD;
    if (type > UINT32_MAX) return CKR_ATTRIBUTE_TYPE_INVALID;
    for (size_t i = 0; i < t->num; i++) {
        if (t->attrs[i].type == (uint32_t)type) return CKR_TEMPLATE_INCONSISTENT;
    }
    t->attrs[t->num].type = (uint32_t)type;
    t->attrs[t->num].value = v;
    t->attrs[t->num].len = len;
    t->num++;
    return CKR_OK;
}

static CK_RV convert_one(arca_p11_tmpl *t, const CK_ATTRIBUTE *a)
{
    if (a->pValue == NULL && a->ulValueLen != 0) return CKR_ATTRIBUTE_VALUE_INVALID;
    size_t slot = t->num;
    if (slot >= ARCA_LP_MAX_ATTRS) return CKR_ARGUMENTS_BAD;
    switch (arca_p11_attr_kind_of(a->type)) {
    case ARCA_P11_ATTR_ULONG: {
        CK_ULONG v;
        if (a->ulValueLen != sizeof(CK_ULONG)) return CKR_ATTRIBUTE_VALUE_INVALID;
        memcpy(&v, a->pValue, sizeof(v));
        if (v > UINT32_MAX) return CKR_ATTRIBUTE_VALUE_INVALID;
        arca_p11_put_u32(t->ulongs[slot], (uint32_t)v);
        return add_attr(t, a->type, t->ulongs[slot], 4);
    }
    case ARCA_P11_ATTR_BOOL: {
        if (a->ulValueLen != sizeof(CK_BBOOL)) return CKR_ATTRIBUTE_VALUE_INVALID;
        /* Any non-zero CK_BBOOL is true (some applications pass 0xFF). */
        t->ulongs[slot][0] = *(const CK_BBOOL *)a->pValue != CK_FALSE ? 1 : 0;
        return add_attr(t, a->type, t->ulongs[slot], 1);
    }
    case ARCA_P11_ATTR_ULONG_ARRAY: {
        size_t n = a->ulValueLen / sizeof(CK_ULONG);
        if (a->ulValueLen % sizeof(CK_ULONG) != 0 || n * 4 > ARCA_LP_ATTR_VALUE_MAX) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        uint8_t *w = NULL;
        if (n > 0) {
            w = malloc(n * 4);
            if (w == NULL) return CKR_HOST_MEMORY;
        }
        for (size_t i = 0; i < n; i++) {
            CK_ULONG v;
            memcpy(&v, (const uint8_t *)a->pValue + i * sizeof(CK_ULONG), sizeof(v));
            if (v > UINT32_MAX) {
                free(w);
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            arca_p11_put_u32(w + i * 4, (uint32_t)v);
        }
        CK_RV rv = add_attr(t, a->type, w, n * 4);
        if (rv != CKR_OK) {
            free(w);
            return rv;
        }
        t->owned[slot] = w;
        return CKR_OK;
    }
    case ARCA_P11_ATTR_BYTES:
        if (a->ulValueLen > ARCA_LP_ATTR_VALUE_MAX) return CKR_ATTRIBUTE_VALUE_INVALID;
        return add_attr(t, a->type, a->pValue, a->ulValueLen);
    case ARCA_P11_ATTR_UNSUPPORTED:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    default:
        return CKR_GENERAL_ERROR;
    }
}

CK_RV arca_p11_tmpl_from_ck(const CK_ATTRIBUTE *t, CK_ULONG n, arca_p11_tmpl *out)
{
    memset(out, 0, sizeof(*out));
    if (n > 0 && t == NULL) return CKR_ARGUMENTS_BAD;
    if (n > ARCA_LP_MAX_ATTRS) return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_RV rv = convert_one(out, &t[i]);
        if (rv != CKR_OK) {
            arca_p11_tmpl_free(out);
            return rv;
        }
    }
    return CKR_OK;
}

CK_RV arca_p11_tmpl_add_ulong(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};
    if (arca_p11_attr_kind_of(type) != ARCA_P11_ATTR_ULONG) return CKR_ATTRIBUTE_TYPE_INVALID;
    return convert_one(t, &a);
}

CK_RV arca_p11_tmpl_add_bool(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, bool v)
{
    CK_BBOOL b = v ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE a = {type, &b, sizeof(b)};
    if (arca_p11_attr_kind_of(type) != ARCA_P11_ATTR_BOOL) return CKR_ATTRIBUTE_TYPE_INVALID;
    return convert_one(t, &a);
}

CK_RV arca_p11_tmpl_add_bytes(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, const void *v, size_t len)
{
    if (arca_p11_attr_kind_of(type) != ARCA_P11_ATTR_BYTES) return CKR_ATTRIBUTE_TYPE_INVALID;
    if (len > ARCA_LP_ATTR_VALUE_MAX || (v == NULL && len > 0)) return CKR_ATTRIBUTE_VALUE_INVALID;
    return add_attr(t, type, v, len);
}

const arca_lp_attr *arca_p11_tmpl_find(const arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < t->num; i++) {
        if (t->attrs[i].type == type) return &t->attrs[i];
    }
    return NULL;
}

bool arca_p11_tmpl_ulong(const arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
    const arca_lp_attr *a = arca_p11_tmpl_find(t, type);
    if (a == NULL || a->len != 4 || arca_p11_attr_kind_of(type) != ARCA_P11_ATTR_ULONG) return false;
    *out = arca_p11_get_u32(a->value);
    return true;
}

bool arca_p11_tmpl_bool(const arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, bool *out)
{
    const arca_lp_attr *a = arca_p11_tmpl_find(t, type);
    if (a == NULL || a->len != 1 || arca_p11_attr_kind_of(type) != ARCA_P11_ATTR_BOOL) return false;
    *out = a->value[0] != 0;
    return true;
}

CK_RV arca_p11_attr_to_ck(CK_ATTRIBUTE_TYPE type, const uint8_t *wire, size_t wire_len, CK_ATTRIBUTE *out)
{
    size_t api_len;
    switch (arca_p11_attr_kind_of(type)) {
    case ARCA_P11_ATTR_ULONG:
        if (wire_len != 4) goto bad;
        api_len = sizeof(CK_ULONG);
        break;
    case ARCA_P11_ATTR_BOOL:
        if (wire_len != 1) goto bad;
        api_len = 1;
        break;
    case ARCA_P11_ATTR_ULONG_ARRAY:
        if (wire_len % 4 != 0) goto bad;
        api_len = wire_len / 4 * sizeof(CK_ULONG);
        break;
    case ARCA_P11_ATTR_BYTES:
        api_len = wire_len;
        break;
    case ARCA_P11_ATTR_UNSUPPORTED:
    default:
        goto bad;
    }
    if (out->pValue == NULL) {
        out->ulValueLen = api_len;
        return CKR_OK;
    }
    if (out->ulValueLen < api_len) {
        out->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return CKR_BUFFER_TOO_SMALL;
    }
    switch (arca_p11_attr_kind_of(type)) {
    case ARCA_P11_ATTR_ULONG: {
        CK_ULONG v = arca_p11_get_u32(wire);
        memcpy(out->pValue, &v, sizeof(v));
        break;
    }
    case ARCA_P11_ATTR_ULONG_ARRAY:
        for (size_t i = 0; i < wire_len / 4; i++) {
            CK_ULONG v = arca_p11_get_u32(wire + i * 4);
            memcpy((uint8_t *)out->pValue + i * sizeof(CK_ULONG), &v, sizeof(v));
        }
        break;
    default:
        if (api_len > 0) memcpy(out->pValue, wire, api_len);
        break;
    }
    out->ulValueLen = api_len;
    return CKR_OK;
bad:
    out->ulValueLen = CK_UNAVAILABLE_INFORMATION;
    return CKR_GENERAL_ERROR;
}

CK_RV arca_p11_object_ulong(arca_p11_session *s, const arca_client_id *id, CK_ATTRIBUTE_TYPE type,
                            CK_RV not_found_rv, CK_ULONG *out)
{
    uint8_t *v = NULL;
    size_t len = 0;
    arca_client *c = NULL;
    if (type > UINT32_MAX || arca_p11_attr_kind_of(type) != ARCA_P11_ATTR_ULONG) return CKR_ATTRIBUTE_TYPE_INVALID;
    CK_RV crv = arca_p11_client_for(s, id, not_found_rv, &c, NULL);
    if (crv != CKR_OK) return crv;
    arca_status st = arca_client_get_attribute(c, id, (uint32_t)type, &v, &len);
    if (st != ARCA_OK) return arca_p11_session_rv(s, st, not_found_rv);
    CK_RV rv = CKR_OK;
    if (len != 4) {
        rv = CKR_DEVICE_ERROR;
    } else {
        *out = arca_p11_get_u32(v);
    }
    free(v);
    return rv;
}
