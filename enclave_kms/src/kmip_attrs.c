/* KMIP attributes <-> the PKCS#11 object model of the keystore.
 *
 *   Object Type               CKA_CLASS
 *   Cryptographic Algorithm   CKA_KEY_TYPE (AES, generic secret = HMAC,
 *                             RSA, EC, EC Edwards = Ed25519)
 *   Cryptographic Length      CKA_VALUE_LEN * 8 / CKA_MODULUS_BITS / curve
 *   Recommended Curve         CKA_EC_PARAMS (P-256, P-384, P-521)
 *   Cryptographic Usage Mask  CKA_ENCRYPT/DECRYPT/SIGN/VERIFY/WRAP/UNWRAP/
 *                             DERIVE (only the flags of the object's class)
 *   Name                      CKA_LABEL
 *   Sensitive, Extractable,   CKA_SENSITIVE, CKA_EXTRACTABLE,
 *   Always Sensitive,         CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE
 *   Never Extractable         (KMIP 2.x attributes)
 *   State                     ARCA_CKA_STATE (kept and enforced by the
 *                             keystore; changed by Activate and Revoke)
 *   Activation Date,          CKA_START_DATE / CKA_END_DATE (whole days,
 *   Deactivation Date         UTC: the keystore stamps them at activation /
 *                             revocation), reported when named only */
#include "kmip_server.h"

#include <string.h>
#include <time.h>

static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_P521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

const uint8_t *kmip_curve_oid(uint32_t curve, size_t *out_len)
{
    switch (curve) {
    case ARCA_KMIP_CURVE_P_256: *out_len = sizeof(OID_P256); return OID_P256;
    case ARCA_KMIP_CURVE_P_384: *out_len = sizeof(OID_P384); return OID_P384;
    case ARCA_KMIP_CURVE_P_521: *out_len = sizeof(OID_P521); return OID_P521;
    default: *out_len = 0; return NULL;
    }
}

bool kmip_curve_from_len(int32_t len, uint32_t *out_curve)
{
    switch (len) {
    case 256: *out_curve = ARCA_KMIP_CURVE_P_256; return true;
    case 384: *out_curve = ARCA_KMIP_CURVE_P_384; return true;
    case 521: *out_curve = ARCA_KMIP_CURVE_P_521; return true;
    default: return false;
    }
}

static bool curve_from_oid(const uint8_t *oid, size_t len, uint32_t *out_curve, int32_t *out_bits)
{
    static const uint32_t curves[] = {ARCA_KMIP_CURVE_P_256, ARCA_KMIP_CURVE_P_384, ARCA_KMIP_CURVE_P_521};
    static const int32_t bits[] = {256, 384, 521};
    for (size_t i = 0; i < 3; i++) {
        size_t n;
        const uint8_t *o = kmip_curve_oid(curves[i], &n);
        if (n == len && memcmp(o, oid, n) == 0) {
            *out_curve = curves[i];
            *out_bits = bits[i];
            return true;
        }
    }
    return false;
}

bool kmip_object_type_to_class(uint32_t object_type, uint32_t *out_cls)
{
    switch (object_type) {
    case ARCA_KMIP_OBJECT_SYMMETRIC_KEY: *out_cls = CKO_SECRET_KEY; return true;
    case ARCA_KMIP_OBJECT_PUBLIC_KEY: *out_cls = CKO_PUBLIC_KEY; return true;
    case ARCA_KMIP_OBJECT_PRIVATE_KEY: *out_cls = CKO_PRIVATE_KEY; return true;
    default: return false;
    }
}

uint32_t kmip_class_to_object_type(uint32_t cls)
{
    switch (cls) {
    case CKO_SECRET_KEY: return ARCA_KMIP_OBJECT_SYMMETRIC_KEY;
    case CKO_PUBLIC_KEY: return ARCA_KMIP_OBJECT_PUBLIC_KEY;
    case CKO_PRIVATE_KEY: return ARCA_KMIP_OBJECT_PRIVATE_KEY;
    default: return 0;
    }
}

/* ---- Collecting the request's attributes -------------------------------- */

static uint32_t unsupported_reason(const kmip_ctx *c)
{
    return kmip_v2(c) ? ARCA_KMIP_REASON_UNSUPPORTED_ATTRIBUTE : ARCA_KMIP_REASON_INVALID_FIELD;
}

static arca_status push(kmip_ctx *c, kmip_attr_list *list, uint32_t tag, const arca_ttlv_node *v)
{
    if (list->num >= KMIP_MAX_ATTRS) {
        return kmip_fail(c, ARCA_ERR_TOO_LARGE, ARCA_KMIP_REASON_INVALID_FIELD, "more than %u attributes",
                         KMIP_MAX_ATTRS);
    }
    list->a[list->num].tag = tag;
    list->a[list->num].value = v;
    list->num++;
    return ARCA_OK;
}

arca_status kmip_attrs_collect(kmip_ctx *c, const arca_ttlv_node *container, kmip_attr_list *list)
{
    if (container == NULL) return ARCA_OK;
    if (container->type != ARCA_TTLV_STRUCTURE) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD, "%s must be a structure",
                         arca_kmip_tag_name(container->tag));
    }
    for (const arca_ttlv_node *ch = container->first_child; ch != NULL; ch = ch->next) {
        if (kmip_v2(c)) {
            ARCA_GUARD(push(c, list, ch->tag, ch));
            continue;
        }
        if (ch->tag == ARCA_KMIP_TAG_NAME) {
            return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                             "templates (Name in a Template-Attribute) are not supported");
        }
        if (ch->tag != ARCA_KMIP_TAG_ATTRIBUTE) continue; /* other payload fields: the caller's */
        const arca_ttlv_node *name, *value;
        ARCA_GUARD(kmip_req_child(c, ch, ARCA_KMIP_TAG_ATTRIBUTE_NAME, ARCA_TTLV_TEXT_STRING, &name));
        value = arca_ttlv_find(ch, ARCA_KMIP_TAG_ATTRIBUTE_VALUE);
        if (value == NULL) {
            return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD, "Attribute '%.*s' without a value",
                             (int)(name->len > 64 ? 64 : name->len), (const char *)name->data);
        }
        uint32_t tag = arca_kmip_tag_by_name(name->data, name->len);
        if (tag == 0) {
            return kmip_fail(c, ARCA_ERR_ATTRIBUTE_TYPE, unsupported_reason(c), "attribute '%.*s' is not supported",
                             (int)(name->len > 64 ? 64 : name->len), (const char *)name->data);
        }
        ARCA_GUARD(push(c, list, tag, value));
    }
    return ARCA_OK;
}

/* ---- Interpreting them --------------------------------------------------- */

static arca_status want_type(kmip_ctx *c, const kmip_attr *a, arca_ttlv_type type)
{
    if (a->value->type == type) return ARCA_OK;
    return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, kmip_v2(c) ? ARCA_KMIP_REASON_INVALID_ATTRIBUTE_VALUE
                                                             : ARCA_KMIP_REASON_INVALID_FIELD,
                     "attribute %s has the wrong type", arca_kmip_tag_name(a->tag));
}

static arca_status once(kmip_ctx *c, bool *seen, uint32_t tag)
{
    if (!*seen) {
        *seen = true;
        return ARCA_OK;
    }
    return kmip_fail(c, ARCA_ERR_TEMPLATE_INCONSISTENT,
                     kmip_v2(c) ? ARCA_KMIP_REASON_ATTRIBUTE_SINGLE_VALUED : ARCA_KMIP_REASON_INVALID_FIELD,
                     "attribute %s given more than once", arca_kmip_tag_name(tag));
}

arca_status kmip_spec_parse(kmip_ctx *c, const kmip_attr_list *list, bool for_locate, kmip_key_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    for (size_t i = 0; i < list->num; i++) {
        const kmip_attr *a = &list->a[i];
        const arca_ttlv_node *v = a->value, *x;
        switch (a->tag) {
        case ARCA_KMIP_TAG_OBJECT_TYPE:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_ENUMERATION));
            ARCA_GUARD(once(c, &spec->has_type, a->tag));
            spec->object_type = v->u32;
            break;
        case ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_ENUMERATION));
            ARCA_GUARD(once(c, &spec->has_alg, a->tag));
            spec->alg = v->u32;
            break;
        case ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_INTEGER));
            ARCA_GUARD(once(c, &spec->has_len, a->tag));
            spec->len = (int32_t)v->i64;
            break;
        case ARCA_KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_INTEGER));
            ARCA_GUARD(once(c, &spec->has_usage, a->tag));
            spec->usage = (uint32_t)v->i64;
            break;
        case ARCA_KMIP_TAG_NAME:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_STRUCTURE));
            /* Name is multi-valued in KMIP; the keystore has one label. */
            if (spec->has_name) {
                return kmip_fail(c, ARCA_ERR_TEMPLATE_INCONSISTENT, ARCA_KMIP_REASON_INVALID_FIELD,
                                 "Arca objects carry one Name (the PKCS#11 label)");
            }
            ARCA_GUARD(kmip_req_child(c, v, ARCA_KMIP_TAG_NAME_VALUE, ARCA_TTLV_TEXT_STRING, &x));
            if (x->len > ARCA_LABEL_MAX) {
                return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, ARCA_KMIP_REASON_INVALID_FIELD,
                                 "Name longer than %u bytes", ARCA_LABEL_MAX);
            }
            spec->has_name = true;
            spec->name = x->data;
            spec->name_len = x->len;
            break;
        case ARCA_KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_STRUCTURE));
            ARCA_GUARD(kmip_req_child(c, v, ARCA_KMIP_TAG_RECOMMENDED_CURVE, ARCA_TTLV_ENUMERATION, &x));
            ARCA_GUARD(once(c, &spec->has_curve, ARCA_KMIP_TAG_RECOMMENDED_CURVE));
            spec->curve = x->u32;
            break;
        case ARCA_KMIP_TAG_RECOMMENDED_CURVE:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_ENUMERATION));
            ARCA_GUARD(once(c, &spec->has_curve, a->tag));
            spec->curve = v->u32;
            break;
        case ARCA_KMIP_TAG_SENSITIVE:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_BOOLEAN));
            ARCA_GUARD(once(c, &spec->has_sensitive, a->tag));
            spec->sensitive = v->b;
            break;
        case ARCA_KMIP_TAG_EXTRACTABLE:
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_BOOLEAN));
            ARCA_GUARD(once(c, &spec->has_extractable, a->tag));
            spec->extractable = v->b;
            break;
        case ARCA_KMIP_TAG_STATE:
            if (for_locate) {
                ARCA_GUARD(want_type(c, a, ARCA_TTLV_ENUMERATION));
                ARCA_GUARD(once(c, &spec->has_state, a->tag));
                spec->state = v->u32;
                /* Destroyed objects are gone; unknown states match nothing. */
                if (v->u32 < ARCA_KMIP_STATE_PRE_ACTIVE || v->u32 > ARCA_KMIP_STATE_COMPROMISED) {
                    spec->match_none = true;
                }
                break;
            }
            return kmip_fail(c, ARCA_ERR_ATTRIBUTE_READ_ONLY,
                             kmip_v2(c) ? ARCA_KMIP_REASON_ATTRIBUTE_READ_ONLY : ARCA_KMIP_REASON_INVALID_FIELD,
                             "State is set by the server");
        case ARCA_KMIP_TAG_ACTIVATION_DATE:
            if (for_locate) {
                return kmip_fail(c, ARCA_ERR_ATTRIBUTE_TYPE, unsupported_reason(c),
                                 "Locate by Activation Date is not supported");
            }
            ARCA_GUARD(want_type(c, a, ARCA_TTLV_DATE_TIME));
            ARCA_GUARD(once(c, &spec->has_activation, a->tag));
            spec->activation = v->i64;
            break;
        default:
            return kmip_fail(c, ARCA_ERR_ATTRIBUTE_TYPE, unsupported_reason(c),
                             "attribute %s (0x%06x) is not supported here", arca_kmip_tag_name(a->tag),
                             (unsigned)a->tag);
        }
    }
    return ARCA_OK;
}

/* ---- PKCS#11 templates ---------------------------------------------------- */

static const uint8_t k_true = 1, k_false = 0;

arca_status kmip_p11_add(kmip_p11 *t, uint32_t type, const uint8_t *v, size_t len)
{
    ARCA_ENSURE(t->num < sizeof(t->a) / sizeof(t->a[0]), ARCA_ERR_TOO_LARGE);
    t->a[t->num].type = type;
    t->a[t->num].value = v;
    t->a[t->num].len = len;
    t->num++;
    return ARCA_OK;
}

arca_status kmip_p11_add_u32(kmip_p11 *t, uint32_t type, uint32_t v)
{
    ARCA_ENSURE(t->num_u32 < sizeof(t->u32buf) / sizeof(t->u32buf[0]), ARCA_ERR_TOO_LARGE);
    uint8_t *b = t->u32buf[t->num_u32++];
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
    return kmip_p11_add(t, type, b, 4);
}

arca_status kmip_p11_add_bool(kmip_p11 *t, uint32_t type, bool v)
{
    return kmip_p11_add(t, type, v ? &k_true : &k_false, 1);
}

arca_status kmip_p11_add_initial_state(const kmip_key_spec *spec, kmip_p11 *t)
{
    bool active = spec->has_activation && spec->activation <= (int64_t)time(NULL);
    return kmip_p11_add_u32(t, ARCA_CKA_STATE, active ? ARCA_STATE_ACTIVE : ARCA_STATE_PRE_ACTIVE);
}

#define U(x) ARCA_KMIP_USAGE_##x

arca_status kmip_spec_to_p11(kmip_ctx *c, const kmip_key_spec *spec, uint32_t cls, kmip_p11 *t)
{
    uint32_t u = spec->usage;
    if (spec->has_name) ARCA_GUARD(kmip_p11_add(t, CKA_LABEL, spec->name, spec->name_len));
    if (spec->has_usage) {
        bool derive = (u & (U(DERIVE_KEY) | U(KEY_AGREEMENT))) != 0;
        switch (cls) {
        case CKO_SECRET_KEY:
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_ENCRYPT, (u & U(ENCRYPT)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_DECRYPT, (u & U(DECRYPT)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_SIGN, (u & (U(SIGN) | U(MAC_GENERATE))) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_VERIFY, (u & (U(VERIFY) | U(MAC_VERIFY))) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_WRAP, (u & U(WRAP_KEY)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_UNWRAP, (u & U(UNWRAP_KEY)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_DERIVE, derive));
            break;
        case CKO_PRIVATE_KEY:
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_SIGN, (u & U(SIGN)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_DECRYPT, (u & U(DECRYPT)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_UNWRAP, (u & U(UNWRAP_KEY)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_DERIVE, derive));
            break;
        case CKO_PUBLIC_KEY:
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_VERIFY, (u & U(VERIFY)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_ENCRYPT, (u & U(ENCRYPT)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_WRAP, (u & U(WRAP_KEY)) != 0));
            ARCA_GUARD(kmip_p11_add_bool(t, CKA_DERIVE, derive));
            break;
        default:
            return kmip_fail(c, ARCA_ERR_INTERNAL, ARCA_KMIP_REASON_GENERAL_FAILURE, "unexpected object class");
        }
    }
    if (cls != CKO_PUBLIC_KEY) {
        if (spec->has_sensitive) ARCA_GUARD(kmip_p11_add_bool(t, CKA_SENSITIVE, spec->sensitive));
        if (spec->has_extractable) ARCA_GUARD(kmip_p11_add_bool(t, CKA_EXTRACTABLE, spec->extractable));
    }
    return ARCA_OK;
}

/* ---- Reading objects ----------------------------------------------------- */

static arca_status obj_attr(kmip_ctx *c, const arca_object_id *id, uint32_t type, uint8_t *buf, size_t cap,
                            size_t *out_len)
{
    arca_builder b;
    arca_builder_init_fixed(&b, buf, cap);
    ARCA_GUARD(arca_kms_get_attribute(c->kms, c->sess, id, type, &b));
    *out_len = b.len;
    return ARCA_OK;
}

arca_status kmip_obj_u32(kmip_ctx *c, const arca_object_id *id, uint32_t type, uint32_t *out)
{
    uint8_t v[4];
    size_t n = 0;
    ARCA_GUARD(obj_attr(c, id, type, v, sizeof(v), &n));
    ARCA_ENSURE(n == 4, ARCA_ERR_INTERNAL);
    *out = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
    return ARCA_OK;
}

arca_status kmip_obj_bool(kmip_ctx *c, const arca_object_id *id, uint32_t type, bool *out)
{
    uint8_t v[1];
    size_t n = 0;
    ARCA_GUARD(obj_attr(c, id, type, v, sizeof(v), &n));
    ARCA_ENSURE(n == 1, ARCA_ERR_INTERNAL);
    *out = v[0] != 0;
    return ARCA_OK;
}

arca_status kmip_obj_crypto(kmip_ctx *c, const arca_object_id *id, uint32_t cls, kmip_obj_crypto_info *oc)
{
    uint32_t ktype, v;
    uint8_t params[32];
    (void)cls;
    size_t n = 0;
    memset(oc, 0, sizeof(*oc));
    ARCA_GUARD(kmip_obj_u32(c, id, CKA_KEY_TYPE, &ktype));
    switch (ktype) {
    case CKK_AES:
    case CKK_GENERIC_SECRET:
        oc->has_alg = true;
        /* A generic secret is an HMAC key for any SHA-2; it reports SHA-256. */
        oc->alg = ktype == CKK_AES ? ARCA_KMIP_ALG_AES : ARCA_KMIP_ALG_HMAC_SHA256;
        ARCA_GUARD(kmip_obj_u32(c, id, CKA_VALUE_LEN, &v));
        oc->has_len = true;
        oc->len = (int32_t)(v * 8);
        break;
    case CKK_RSA:
        oc->has_alg = true;
        oc->alg = ARCA_KMIP_ALG_RSA;
        ARCA_GUARD(kmip_obj_u32(c, id, CKA_MODULUS_BITS, &v));
        oc->has_len = true;
        oc->len = (int32_t)v;
        break;
    case CKK_EC:
        oc->has_alg = true;
        oc->alg = kmip_v2(c) ? ARCA_KMIP_ALG_EC : ARCA_KMIP_ALG_ECDSA;
        ARCA_GUARD(obj_attr(c, id, CKA_EC_PARAMS, params, sizeof(params), &n));
        oc->has_curve = curve_from_oid(params, n, &oc->curve, &oc->len);
        oc->has_len = oc->has_curve;
        break;
    case CKK_EC_EDWARDS:
        /* Ed25519 is a KMIP 2.0 algorithm; 1.x has no name for it. */
        oc->has_alg = kmip_v2(c);
        oc->alg = ARCA_KMIP_ALG_ED25519;
        oc->has_len = true;
        oc->len = 256;
        break;
    default:
        break;
    }
    oc->key_type = ktype;
    return ARCA_OK;
}

static uint32_t usage_of(kmip_ctx *c, const arca_object_id *id, uint32_t cls)
{
    static const struct {
        uint32_t cka;
        uint32_t secret, priv, pub;
    } map[] = {
        {CKA_ENCRYPT, U(ENCRYPT), 0, U(ENCRYPT)},
        {CKA_DECRYPT, U(DECRYPT), U(DECRYPT), 0},
        {CKA_SIGN, U(MAC_GENERATE), U(SIGN), 0},
        {CKA_VERIFY, U(MAC_VERIFY), 0, U(VERIFY)},
        {CKA_WRAP, U(WRAP_KEY), 0, U(WRAP_KEY)},
        {CKA_UNWRAP, U(UNWRAP_KEY), U(UNWRAP_KEY), 0},
        {CKA_DERIVE, U(DERIVE_KEY), U(DERIVE_KEY), U(DERIVE_KEY)},
    };
    uint32_t mask = 0;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        uint32_t bit = cls == CKO_SECRET_KEY ? map[i].secret : cls == CKO_PRIVATE_KEY ? map[i].priv : map[i].pub;
        bool on = false;
        if (bit != 0 && kmip_obj_bool(c, id, map[i].cka, &on) == ARCA_OK && on) mask |= bit;
    }
    return mask;
}
#undef U

/* ---- Emitting ------------------------------------------------------------ */

/* Attributes Arca reports, in this order. Those marked on_request are
 * left out of "all attributes" (Get Attributes without names) and
 * returned only when named: common clients (PyKMIP among them) fail on
 * attributes they do not know, such as the 2.0 Sensitive / Extractable
 * family or a 1.x Cryptographic Domain Parameters. Get Attribute List
 * names all of them. */
static const struct {
    uint32_t tag;
    bool on_request;
} reportable[] = {
    {ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, false},
    {ARCA_KMIP_TAG_OBJECT_TYPE, false},
    {ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, false},
    {ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH, false},
    {ARCA_KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS, true},
    {ARCA_KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, false},
    {ARCA_KMIP_TAG_NAME, false},
    {ARCA_KMIP_TAG_STATE, false},
    {ARCA_KMIP_TAG_ACTIVATION_DATE, true},
    {ARCA_KMIP_TAG_DEACTIVATION_DATE, true},
    {ARCA_KMIP_TAG_SENSITIVE, true},
    {ARCA_KMIP_TAG_EXTRACTABLE, true},
    {ARCA_KMIP_TAG_ALWAYS_SENSITIVE, true},
    {ARCA_KMIP_TAG_NEVER_EXTRACTABLE, true},
};

static bool is_v2_only(uint32_t tag)
{
    return tag == ARCA_KMIP_TAG_SENSITIVE || tag == ARCA_KMIP_TAG_EXTRACTABLE ||
           tag == ARCA_KMIP_TAG_ALWAYS_SENSITIVE ||
           tag == ARCA_KMIP_TAG_NEVER_EXTRACTABLE;
}

static arca_status attr_begin(kmip_ctx *c, arca_builder *b, uint32_t tag, size_t *mark, uint32_t *vtag)
{
    if (kmip_v2(c)) {
        *vtag = tag;
        return ARCA_OK;
    }
    const char *name = arca_kmip_tag_name(tag);
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_ATTRIBUTE, mark));
    ARCA_GUARD(arca_ttlv_add_text(b, ARCA_KMIP_TAG_ATTRIBUTE_NAME, name, strlen(name)));
    *vtag = ARCA_KMIP_TAG_ATTRIBUTE_VALUE;
    return ARCA_OK;
}

static arca_status attr_end(kmip_ctx *c, arca_builder *b, size_t mark)
{
    return kmip_v2(c) ? ARCA_OK : arca_ttlv_end_struct(b, mark);
}

static arca_status emit_name_only(kmip_ctx *c, arca_builder *b, uint32_t tag)
{
    const char *name = arca_kmip_tag_name(tag);
    size_t mark;
    if (!kmip_v2(c)) return arca_ttlv_add_text(b, ARCA_KMIP_TAG_ATTRIBUTE_NAME, name, strlen(name));
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_ATTRIBUTE_REFERENCE, &mark));
    ARCA_GUARD(arca_ttlv_add_text(b, ARCA_KMIP_TAG_VENDOR_IDENTIFICATION, "", 0));
    ARCA_GUARD(arca_ttlv_add_text(b, ARCA_KMIP_TAG_ATTRIBUTE_NAME, name, strlen(name)));
    return arca_ttlv_end_struct(b, mark);
}

/* A CK_DATE ("YYYYMMDD", or empty) as POSIX seconds at 00:00 UTC. */
static bool ck_date_time(const uint8_t *d, size_t len, int64_t *out)
{
    struct tm tm;
    int v[8];
    if (len != 8) return false;
    for (size_t i = 0; i < 8; i++) {
        if (d[i] < '0' || d[i] > '9') return false;
        v[i] = d[i] - '0';
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3] - 1900;
    tm.tm_mon = v[4] * 10 + v[5] - 1;
    tm.tm_mday = v[6] * 10 + v[7];
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31) return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

static arca_status emit_one(kmip_ctx *c, const arca_object_id *id, uint32_t cls, const kmip_obj_crypto_info *oc,
                            uint32_t tag,
                            bool names_only, arca_builder *b)
{
    size_t mark = 0, smark;
    uint32_t vtag;
    uint8_t label[ARCA_LABEL_MAX];
    size_t label_len = 0;
    bool flag = false;
    uint32_t cka = 0, state = 0;
    int64_t when = 0;
    uint8_t date[16];
    size_t date_len = 0;

    if (is_v2_only(tag) && !kmip_v2(c)) return ARCA_OK;
    /* Skip what this object does not have. */
    switch (tag) {
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
        if (!oc->has_alg) return ARCA_OK;
        break;
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
        if (!oc->has_len) return ARCA_OK;
        break;
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS:
        if (!oc->has_curve) return ARCA_OK;
        break;
    case ARCA_KMIP_TAG_NAME:
        ARCA_GUARD(obj_attr(c, id, CKA_LABEL, label, sizeof(label), &label_len));
        if (label_len == 0) return ARCA_OK;
        break;
    case ARCA_KMIP_TAG_STATE:
        ARCA_GUARD(kmip_obj_u32(c, id, ARCA_CKA_STATE, &state));
        break;
    case ARCA_KMIP_TAG_ACTIVATION_DATE:
    case ARCA_KMIP_TAG_DEACTIVATION_DATE:
        ARCA_GUARD(obj_attr(c, id, tag == ARCA_KMIP_TAG_ACTIVATION_DATE ? CKA_START_DATE : CKA_END_DATE, date,
                            sizeof(date), &date_len));
        if (!ck_date_time(date, date_len, &when)) return ARCA_OK;
        break;
    case ARCA_KMIP_TAG_SENSITIVE: cka = CKA_SENSITIVE; break;
    case ARCA_KMIP_TAG_EXTRACTABLE: cka = CKA_EXTRACTABLE; break;
    case ARCA_KMIP_TAG_ALWAYS_SENSITIVE: cka = CKA_ALWAYS_SENSITIVE; break;
    case ARCA_KMIP_TAG_NEVER_EXTRACTABLE: cka = CKA_NEVER_EXTRACTABLE; break;
    default: break;
    }
    if (cka != 0) {
        if (cls == CKO_PUBLIC_KEY) return ARCA_OK;
        ARCA_GUARD(kmip_obj_bool(c, id, cka, &flag));
    }
    if (names_only) return emit_name_only(c, b, tag);

    ARCA_GUARD(attr_begin(c, b, tag, &mark, &vtag));
    switch (tag) {
    case ARCA_KMIP_TAG_UNIQUE_IDENTIFIER: ARCA_GUARD(kmip_add_uid(b, vtag, id)); break;
    case ARCA_KMIP_TAG_OBJECT_TYPE: ARCA_GUARD(arca_ttlv_add_enum(b, vtag, kmip_class_to_object_type(cls))); break;
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM: ARCA_GUARD(arca_ttlv_add_enum(b, vtag, oc->alg)); break;
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH: ARCA_GUARD(arca_ttlv_add_int(b, vtag, oc->len)); break;
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS:
        ARCA_GUARD(arca_ttlv_begin_struct(b, vtag, &smark));
        ARCA_GUARD(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_RECOMMENDED_CURVE, oc->curve));
        ARCA_GUARD(arca_ttlv_end_struct(b, smark));
        break;
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK:
        ARCA_GUARD(arca_ttlv_add_int(b, vtag, (int32_t)usage_of(c, id, cls)));
        break;
    case ARCA_KMIP_TAG_NAME:
        ARCA_GUARD(arca_ttlv_begin_struct(b, vtag, &smark));
        ARCA_GUARD(arca_ttlv_add_text(b, ARCA_KMIP_TAG_NAME_VALUE, label, label_len));
        ARCA_GUARD(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_NAME_TYPE, ARCA_KMIP_NAME_UNINTERPRETED_TEXT_STRING));
        ARCA_GUARD(arca_ttlv_end_struct(b, smark));
        break;
    case ARCA_KMIP_TAG_STATE: ARCA_GUARD(arca_ttlv_add_enum(b, vtag, state)); break;
    case ARCA_KMIP_TAG_ACTIVATION_DATE:
    case ARCA_KMIP_TAG_DEACTIVATION_DATE: ARCA_GUARD(arca_ttlv_add_datetime(b, vtag, when)); break;
    case ARCA_KMIP_TAG_SENSITIVE:
    case ARCA_KMIP_TAG_EXTRACTABLE:
    case ARCA_KMIP_TAG_ALWAYS_SENSITIVE:
    case ARCA_KMIP_TAG_NEVER_EXTRACTABLE: ARCA_GUARD(arca_ttlv_add_bool(b, vtag, flag)); break;
    default: return ARCA_ERR_INTERNAL;
    }
    return attr_end(c, b, mark);
}

arca_status kmip_attrs_emit(kmip_ctx *c, const arca_object_id *id, const uint32_t *want, size_t num_want,
                            bool names_only, arca_builder *out)
{
    uint32_t cls;
    kmip_obj_crypto_info oc;
    ARCA_GUARD(kmip_obj_u32(c, id, CKA_CLASS, &cls));
    ARCA_GUARD(kmip_obj_crypto(c, id, cls, &oc));
    if (want == NULL) {
        for (size_t i = 0; i < sizeof(reportable) / sizeof(reportable[0]); i++) {
            if (reportable[i].on_request && !names_only) continue;
            ARCA_GUARD(emit_one(c, id, cls, &oc, reportable[i].tag, names_only, out));
        }
        return ARCA_OK;
    }
    /* Requested attributes Arca does not know or the object lacks are
     * simply not returned (as KMIP prescribes for Get Attributes). */
    for (size_t i = 0; i < num_want; i++) {
        for (size_t j = 0; j < sizeof(reportable) / sizeof(reportable[0]); j++) {
            if (reportable[j].tag == want[i]) ARCA_GUARD(emit_one(c, id, cls, &oc, want[i], names_only, out));
        }
    }
    return ARCA_OK;
}
