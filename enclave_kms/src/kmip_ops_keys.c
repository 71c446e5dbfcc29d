/* KMIP operations on managed objects: Create, Create Key Pair, Register,
 * Locate, Get, Get Attributes, Get Attribute List, Destroy, Re-key. */
#include "kmip_server.h"

#include <stdlib.h>
#include <string.h>

#define LOCATE_MAX 4096u

static uint32_t attr_value_reason(const kmip_ctx *c)
{
    return kmip_v2(c) ? ARCA_KMIP_REASON_INVALID_ATTRIBUTE_VALUE : ARCA_KMIP_REASON_INVALID_FIELD;
}

/* The attribute container of a Create / Register / Locate payload. */
static arca_status attrs_of(kmip_ctx *c, const arca_ttlv_node *p, uint32_t v1_tag, uint32_t v2_tag,
                            kmip_attr_list *list)
{
    const arca_ttlv_node *ta;
    ARCA_GUARD(kmip_opt_child(c, p, kmip_v2(c) ? v2_tag : v1_tag, ARCA_TTLV_STRUCTURE, &ta));
    return kmip_attrs_collect(c, ta, list);
}

static arca_status add_created(arca_builder *out, uint32_t object_type, const arca_object_id *id)
{
    ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_OBJECT_TYPE, object_type));
    return kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, id);
}

/* ---- Create ---------------------------------------------------------------- */

arca_status kmip_op_create(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    const arca_ttlv_node *otn;
    kmip_attr_list list;
    kmip_key_spec spec;
    kmip_p11 t;
    uint32_t mech;
    arca_object_id id;
    arca_status st;

    memset(&list, 0, sizeof(list));
    memset(&t, 0, sizeof(t));
    ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_OBJECT_TYPE, ARCA_TTLV_ENUMERATION, &otn));
    if (otn->u32 != ARCA_KMIP_OBJECT_SYMMETRIC_KEY) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE,
                         kmip_v2(c) ? ARCA_KMIP_REASON_INVALID_OBJECT_TYPE : ARCA_KMIP_REASON_INVALID_FIELD,
                         "Create makes Symmetric Keys only (use Create Key Pair or Register)");
    }
    ARCA_GUARD(attrs_of(c, p, ARCA_KMIP_TAG_TEMPLATE_ATTRIBUTE, ARCA_KMIP_TAG_ATTRIBUTES, &list));
    ARCA_GUARD(kmip_spec_parse(c, &list, false, &spec));
    if (spec.has_type && spec.object_type != ARCA_KMIP_OBJECT_SYMMETRIC_KEY) {
        return kmip_fail(c, ARCA_ERR_TEMPLATE_INCONSISTENT, attr_value_reason(c),
                         "Object Type attribute contradicts the request's Object Type");
    }
    if (!spec.has_alg || !spec.has_len) {
        return kmip_fail(c, ARCA_ERR_TEMPLATE_INCOMPLETE, ARCA_KMIP_REASON_INVALID_FIELD,
                         "Create needs Cryptographic Algorithm and Cryptographic Length attributes");
    }
    switch (spec.alg) {
    case ARCA_KMIP_ALG_AES: mech = CKM_AES_KEY_GEN; break;
    case ARCA_KMIP_ALG_HMAC_SHA256:
    case ARCA_KMIP_ALG_HMAC_SHA384:
    case ARCA_KMIP_ALG_HMAC_SHA512: mech = CKM_GENERIC_SECRET_KEY_GEN; break;
    default:
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, attr_value_reason(c),
                         "Cryptographic Algorithm 0x%x: Create supports AES and HMAC-SHA256/384/512",
                         (unsigned)spec.alg);
    }
    if (spec.len <= 0 || spec.len % 8 != 0) {
        return kmip_fail(c, ARCA_ERR_KEY_SIZE, attr_value_reason(c), "Cryptographic Length must be a multiple of 8");
    }
    ARCA_GUARD(kmip_p11_add_u32(&t, CKA_VALUE_LEN, (uint32_t)spec.len / 8));
    ARCA_GUARD(kmip_spec_to_p11(c, &spec, CKO_SECRET_KEY, &t));
    ARCA_GUARD(kmip_p11_add_initial_state(&spec, &t));
    st = arca_kms_generate_key(c->kms, c->sess, mech, t.a, t.num, &id);
    if (st == ARCA_ERR_KEY_SIZE) {
        return kmip_fail(c, st, attr_value_reason(c), "Cryptographic Length %d is not supported for this algorithm",
                         (int)spec.len);
    }
    ARCA_GUARD(st);
    kmip_set_placeholder(c, &id);
    return add_created(out, ARCA_KMIP_OBJECT_SYMMETRIC_KEY, &id);
}

/* ---- Create Key Pair ------------------------------------------------------- */

arca_status kmip_op_create_key_pair(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    kmip_attr_list priv_list, pub_list;
    kmip_key_spec priv, pub;
    kmip_p11 pt, vt;
    const arca_ttlv_node *common, *pn, *vn;
    uint32_t mech, alg, curve = 0;
    int32_t len = 0;
    bool has_len, has_curve;
    arca_object_id pub_id, priv_id;
    bool v2 = kmip_v2(c);

    memset(&priv_list, 0, sizeof(priv_list));
    memset(&pub_list, 0, sizeof(pub_list));
    memset(&pt, 0, sizeof(pt));
    memset(&vt, 0, sizeof(vt));
    ARCA_GUARD(kmip_opt_child(c, p, v2 ? ARCA_KMIP_TAG_COMMON_ATTRIBUTES : ARCA_KMIP_TAG_COMMON_TEMPLATE_ATTRIBUTE,
                              ARCA_TTLV_STRUCTURE, &common));
    ARCA_GUARD(kmip_opt_child(c, p,
                              v2 ? ARCA_KMIP_TAG_PRIVATE_KEY_ATTRIBUTES : ARCA_KMIP_TAG_PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
                              ARCA_TTLV_STRUCTURE, &pn));
    ARCA_GUARD(kmip_opt_child(c, p,
                              v2 ? ARCA_KMIP_TAG_PUBLIC_KEY_ATTRIBUTES : ARCA_KMIP_TAG_PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
                              ARCA_TTLV_STRUCTURE, &vn));
    ARCA_GUARD(kmip_attrs_collect(c, common, &priv_list));
    ARCA_GUARD(kmip_attrs_collect(c, pn, &priv_list));
    ARCA_GUARD(kmip_attrs_collect(c, common, &pub_list));
    ARCA_GUARD(kmip_attrs_collect(c, vn, &pub_list));
    ARCA_GUARD(kmip_spec_parse(c, &priv_list, false, &priv));
    ARCA_GUARD(kmip_spec_parse(c, &pub_list, false, &pub));
    if ((priv.has_type && priv.object_type != ARCA_KMIP_OBJECT_PRIVATE_KEY) ||
        (pub.has_type && pub.object_type != ARCA_KMIP_OBJECT_PUBLIC_KEY)) {
        return kmip_fail(c, ARCA_ERR_TEMPLATE_INCONSISTENT, attr_value_reason(c),
                         "Object Type attributes must be Private Key / Public Key");
    }
    if (!priv.has_alg && !pub.has_alg) {
        return kmip_fail(c, ARCA_ERR_TEMPLATE_INCOMPLETE, ARCA_KMIP_REASON_INVALID_FIELD,
                         "Create Key Pair needs a Cryptographic Algorithm attribute");
    }
    alg = priv.has_alg ? priv.alg : pub.alg;
    if (priv.has_alg && pub.has_alg && priv.alg != pub.alg) {
        return kmip_fail(c, ARCA_ERR_TEMPLATE_INCONSISTENT, attr_value_reason(c),
                         "the two halves name different Cryptographic Algorithms");
    }
    has_len = priv.has_len || pub.has_len;
    if (has_len) len = priv.has_len ? priv.len : pub.len;
    has_curve = priv.has_curve || pub.has_curve;
    if (has_curve) curve = priv.has_curve ? priv.curve : pub.curve;

    switch (alg) {
    case ARCA_KMIP_ALG_RSA:
        if (!has_len) {
            return kmip_fail(c, ARCA_ERR_TEMPLATE_INCOMPLETE, ARCA_KMIP_REASON_INVALID_FIELD,
                             "RSA needs a Cryptographic Length (the modulus size in bits)");
        }
        if (len < 2048 || len > 4096) {
            return kmip_fail(c, ARCA_ERR_KEY_SIZE, attr_value_reason(c),
                             "RSA modulus of %d bits: 2048 to 4096 supported",
                             (int)len);
        }
        mech = CKM_RSA_PKCS_KEY_PAIR_GEN;
        ARCA_GUARD(kmip_p11_add_u32(&vt, CKA_MODULUS_BITS, (uint32_t)len));
        break;
    case ARCA_KMIP_ALG_EC:
    case ARCA_KMIP_ALG_ECDSA:
    case ARCA_KMIP_ALG_ECDH: {
        size_t oid_len = 0;
        const uint8_t *oid;
        if (!has_curve && !(has_len && kmip_curve_from_len(len, &curve))) {
            return kmip_fail(c, ARCA_ERR_TEMPLATE_INCOMPLETE, attr_value_reason(c),
                             "EC keys need a Recommended Curve (P-256, P-384, P-521) or Cryptographic "
                             "Length 256/384/521");
        }
        oid = kmip_curve_oid(curve, &oid_len);
        if (oid == NULL) {
            return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, attr_value_reason(c),
                             "Recommended Curve 0x%x: P-256, P-384 and P-521 are supported", (unsigned)curve);
        }
        mech = CKM_EC_KEY_PAIR_GEN;
        ARCA_GUARD(kmip_p11_add(&vt, CKA_EC_PARAMS, oid, oid_len));
        break;
    }
    case ARCA_KMIP_ALG_ED25519: mech = CKM_EC_EDWARDS_KEY_PAIR_GEN; break;
    default:
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, attr_value_reason(c),
                         "Cryptographic Algorithm 0x%x: Create Key Pair supports RSA, EC (ECDSA, ECDH) and Ed25519",
                         (unsigned)alg);
    }
    ARCA_GUARD(kmip_spec_to_p11(c, &priv, CKO_PRIVATE_KEY, &pt));
    ARCA_GUARD(kmip_spec_to_p11(c, &pub, CKO_PUBLIC_KEY, &vt));
    ARCA_GUARD(kmip_p11_add_initial_state(&priv, &pt));
    ARCA_GUARD(kmip_p11_add_initial_state(&pub, &vt));
    ARCA_GUARD(arca_kms_generate_key_pair(c->kms, c->sess, mech, vt.a, vt.num, pt.a, pt.num, &pub_id, &priv_id));
    kmip_set_placeholder(c, &priv_id);
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER, &priv_id));
    return kmip_add_uid(out, ARCA_KMIP_TAG_PUBLIC_KEY_UNIQUE_IDENTIFIER, &pub_id);
}

/* ---- Register -------------------------------------------------------------- */

static uint32_t object_tag(uint32_t object_type)
{
    switch (object_type) {
    case ARCA_KMIP_OBJECT_SYMMETRIC_KEY: return ARCA_KMIP_TAG_SYMMETRIC_KEY;
    case ARCA_KMIP_OBJECT_PUBLIC_KEY: return ARCA_KMIP_TAG_PUBLIC_KEY;
    case ARCA_KMIP_OBJECT_PRIVATE_KEY: return ARCA_KMIP_TAG_PRIVATE_KEY;
    default: return 0;
    }
}

arca_status kmip_op_register(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    const arca_ttlv_node *otn, *obj, *kb, *kv, *km, *x;
    kmip_attr_list list;
    kmip_key_spec spec;
    kmip_p11 t;
    uint32_t fmt, cls, alg = 0;
    bool has_alg = false;
    const uint8_t *material;
    size_t material_len;
    arca_object_id id;

    memset(&list, 0, sizeof(list));
    memset(&t, 0, sizeof(t));
    ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_OBJECT_TYPE, ARCA_TTLV_ENUMERATION, &otn));
    if (!kmip_object_type_to_class(otn->u32, &cls)) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE,
                         kmip_v2(c) ? ARCA_KMIP_REASON_INVALID_OBJECT_TYPE : ARCA_KMIP_REASON_INVALID_FIELD,
                         "Register takes Symmetric Key, Private Key and Public Key objects");
    }
    ARCA_GUARD(attrs_of(c, p, ARCA_KMIP_TAG_TEMPLATE_ATTRIBUTE, ARCA_KMIP_TAG_ATTRIBUTES, &list));
    ARCA_GUARD(kmip_spec_parse(c, &list, false, &spec));
    ARCA_GUARD(kmip_req_child(c, p, object_tag(otn->u32), ARCA_TTLV_STRUCTURE, &obj));
    ARCA_GUARD(kmip_req_child(c, obj, ARCA_KMIP_TAG_KEY_BLOCK, ARCA_TTLV_STRUCTURE, &kb));
    ARCA_GUARD(kmip_req_child(c, kb, ARCA_KMIP_TAG_KEY_FORMAT_TYPE, ARCA_TTLV_ENUMERATION, &x));
    fmt = x->u32;
    ARCA_GUARD(kmip_opt_child(c, kb, ARCA_KMIP_TAG_KEY_WRAPPING_DATA, ARCA_TTLV_STRUCTURE, &x));
    if (x != NULL) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                         "Register of wrapped key material is not supported");
    }
    ARCA_GUARD(kmip_opt_enum(c, kb, ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, &alg, &has_alg));
    if (!has_alg && spec.has_alg) {
        alg = spec.alg;
        has_alg = true;
    }
    ARCA_GUARD(kmip_req_child(c, kb, ARCA_KMIP_TAG_KEY_VALUE, ARCA_TTLV_STRUCTURE, &kv));
    km = arca_ttlv_find(kv, ARCA_KMIP_TAG_KEY_MATERIAL);
    if (km == NULL) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD, "missing required field Key Material");
    }
    if (cls == CKO_SECRET_KEY && fmt == ARCA_KMIP_KEY_FORMAT_TRANSPARENT_SYMMETRIC_KEY) {
        ARCA_ENSURE(km->type == ARCA_TTLV_STRUCTURE,
                    kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                              "Transparent Symmetric Key material must be a structure with Key"));
        ARCA_GUARD(kmip_req_child(c, km, ARCA_KMIP_TAG_KEY, ARCA_TTLV_BYTE_STRING, &x));
        km = x;
    } else if (!((cls == CKO_SECRET_KEY && fmt == ARCA_KMIP_KEY_FORMAT_RAW) ||
                 (cls == CKO_PRIVATE_KEY && fmt == ARCA_KMIP_KEY_FORMAT_PKCS_8) ||
                 (cls == CKO_PUBLIC_KEY && fmt == ARCA_KMIP_KEY_FORMAT_X_509))) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
                         "Key Format Type 0x%x: Register takes Raw / Transparent Symmetric Key, PKCS#8 private "
                         "and X.509 (SubjectPublicKeyInfo) public keys",
                         (unsigned)fmt);
    }
    if (km->type != ARCA_TTLV_BYTE_STRING) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD, "Key Material must be a byte string");
    }
    material = km->data;
    material_len = km->len;

    ARCA_GUARD(kmip_p11_add_u32(&t, CKA_CLASS, cls));
    if (cls == CKO_SECRET_KEY) {
        uint32_t ktype;
        if (!has_alg) {
            return kmip_fail(c, ARCA_ERR_TEMPLATE_INCOMPLETE, ARCA_KMIP_REASON_INVALID_FIELD,
                             "a Symmetric Key needs a Cryptographic Algorithm");
        }
        if (alg == ARCA_KMIP_ALG_AES) {
            ktype = CKK_AES;
        } else if (alg == ARCA_KMIP_ALG_HMAC_SHA256 || alg == ARCA_KMIP_ALG_HMAC_SHA384 ||
                   alg == ARCA_KMIP_ALG_HMAC_SHA512) {
            ktype = CKK_GENERIC_SECRET;
        } else {
            return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, attr_value_reason(c),
                             "Cryptographic Algorithm 0x%x: symmetric keys are AES or HMAC-SHA256/384/512",
                             (unsigned)alg);
        }
        ARCA_GUARD(kmip_p11_add_u32(&t, CKA_KEY_TYPE, ktype));
        ARCA_GUARD(kmip_p11_add(&t, CKA_VALUE, material, material_len));
    } else if (cls == CKO_PRIVATE_KEY) {
        ARCA_GUARD(kmip_p11_add(&t, CKA_VALUE, material, material_len));
    } else {
        ARCA_GUARD(kmip_p11_add(&t, CKA_PUBLIC_KEY_INFO, material, material_len));
    }
    ARCA_GUARD(kmip_spec_to_p11(c, &spec, cls, &t));
    ARCA_GUARD(kmip_p11_add_initial_state(&spec, &t));
    arca_status st = arca_kms_create_object(c->kms, c->sess, t.a, t.num, &id);
    if (st == ARCA_ERR_ATTRIBUTE_VALUE || st == ARCA_ERR_KEY_SIZE) {
        return kmip_fail(c, st, attr_value_reason(c), "the key material is not a valid key of this type and format");
    }
    ARCA_GUARD(st);
    kmip_set_placeholder(c, &id);
    return kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id);
}

/* ---- Locate ---------------------------------------------------------------- */

arca_status kmip_op_locate(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_status st = ARCA_OK;
    kmip_attr_list list;
    kmip_key_spec spec;
    kmip_p11 t;
    int32_t max_items = (int32_t)LOCATE_MAX, offset = 0;
    bool has_max = false, has_off = false;
    arca_object_id *ids = NULL;
    size_t n = 0, cap;
    uint32_t cls;

    memset(&list, 0, sizeof(list));
    memset(&t, 0, sizeof(t));
    ARCA_GUARD(kmip_opt_int(c, p, ARCA_KMIP_TAG_MAXIMUM_ITEMS, &max_items, &has_max));
    ARCA_GUARD(kmip_opt_int(c, p, ARCA_KMIP_TAG_OFFSET_ITEMS, &offset, &has_off));
    if (max_items < 0 || offset < 0) {
        return kmip_fail(c, ARCA_ERR_ARGS, ARCA_KMIP_REASON_INVALID_FIELD,
                         "Maximum Items and Offset Items must not be negative");
    }
    if (kmip_v2(c)) {
        ARCA_GUARD(attrs_of(c, p, 0, ARCA_KMIP_TAG_ATTRIBUTES, &list));
    } else {
        ARCA_GUARD(kmip_attrs_collect(c, p, &list)); /* 1.x: Attribute fields of the payload */
    }
    ARCA_GUARD(kmip_spec_parse(c, &list, true, &spec));
    if (spec.has_usage) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_TYPE,
                         kmip_v2(c) ? ARCA_KMIP_REASON_UNSUPPORTED_ATTRIBUTE : ARCA_KMIP_REASON_INVALID_FIELD,
                         "Locate by Cryptographic Usage Mask is not supported");
    }
    if (spec.has_name) ARCA_GUARD(kmip_p11_add(&t, CKA_LABEL, spec.name, spec.name_len));
    if (spec.has_type) {
        if (!kmip_object_type_to_class(spec.object_type, &cls)) spec.match_none = true;
        else ARCA_GUARD(kmip_p11_add_u32(&t, CKA_CLASS, cls));
    }
    if (spec.has_alg) {
        switch (spec.alg) {
        case ARCA_KMIP_ALG_AES: ARCA_GUARD(kmip_p11_add_u32(&t, CKA_KEY_TYPE, CKK_AES)); break;
        case ARCA_KMIP_ALG_HMAC_SHA256:
        case ARCA_KMIP_ALG_HMAC_SHA384:
        case ARCA_KMIP_ALG_HMAC_SHA512: ARCA_GUARD(kmip_p11_add_u32(&t, CKA_KEY_TYPE, CKK_GENERIC_SECRET)); break;
        case ARCA_KMIP_ALG_RSA: ARCA_GUARD(kmip_p11_add_u32(&t, CKA_KEY_TYPE, CKK_RSA)); break;
        case ARCA_KMIP_ALG_EC:
        case ARCA_KMIP_ALG_ECDSA:
        case ARCA_KMIP_ALG_ECDH: ARCA_GUARD(kmip_p11_add_u32(&t, CKA_KEY_TYPE, CKK_EC)); break;
        case ARCA_KMIP_ALG_ED25519: ARCA_GUARD(kmip_p11_add_u32(&t, CKA_KEY_TYPE, CKK_EC_EDWARDS)); break;
        default: spec.match_none = true; break;
        }
    }
    if (spec.has_len) {
        uint32_t curve;
        size_t oid_len;
        const uint8_t *oid;
        if (!spec.has_alg) {
            return kmip_fail(c, ARCA_ERR_TEMPLATE_INCOMPLETE, ARCA_KMIP_REASON_INVALID_FIELD,
                             "Locate by Cryptographic Length needs a Cryptographic Algorithm too");
        }
        if (spec.alg == ARCA_KMIP_ALG_RSA) {
            ARCA_GUARD(kmip_p11_add_u32(&t, CKA_MODULUS_BITS, (uint32_t)spec.len));
        } else if (spec.alg == ARCA_KMIP_ALG_EC || spec.alg == ARCA_KMIP_ALG_ECDSA || spec.alg == ARCA_KMIP_ALG_ECDH) {
            if (kmip_curve_from_len(spec.len, &curve) && (oid = kmip_curve_oid(curve, &oid_len)) != NULL) {
                ARCA_GUARD(kmip_p11_add(&t, CKA_EC_PARAMS, oid, oid_len));
            } else {
                spec.match_none = true;
            }
        } else if (spec.len > 0 && spec.len % 8 == 0 && spec.alg != ARCA_KMIP_ALG_ED25519) {
            ARCA_GUARD(kmip_p11_add_u32(&t, CKA_VALUE_LEN, (uint32_t)spec.len / 8));
        } else if (spec.alg != ARCA_KMIP_ALG_ED25519 || spec.len != 256) {
            spec.match_none = true;
        }
    }
    if (spec.has_curve) {
        size_t oid_len;
        const uint8_t *oid = kmip_curve_oid(spec.curve, &oid_len);
        if (oid == NULL) spec.match_none = true;
        else ARCA_GUARD(kmip_p11_add(&t, CKA_EC_PARAMS, oid, oid_len));
    }
    if (spec.has_sensitive) ARCA_GUARD(kmip_p11_add_bool(&t, CKA_SENSITIVE, spec.sensitive));
    if (spec.has_extractable) ARCA_GUARD(kmip_p11_add_bool(&t, CKA_EXTRACTABLE, spec.extractable));
    if (spec.has_state && !spec.match_none) ARCA_GUARD(kmip_p11_add_u32(&t, ARCA_CKA_STATE, spec.state));

    cap = (size_t)offset + (has_max ? (size_t)max_items : LOCATE_MAX);
    if (cap > LOCATE_MAX) cap = LOCATE_MAX;
    if (!spec.match_none && cap > 0) {
        ids = calloc(cap, sizeof(*ids));
        ARCA_ENSURE(ids != NULL, ARCA_ERR_NOMEM);
        ARCA_GUARD_OUT(arca_kms_find(c->kms, c->sess, t.a, t.num, ids, cap, &n));
    }
    if (kmip_at_least(c, 1, 3)) ARCA_GUARD_OUT(arca_ttlv_add_int(out, ARCA_KMIP_TAG_LOCATED_ITEMS, (int32_t)n));
    for (size_t i = (size_t)offset; i < n; i++) {
        if (i == (size_t)offset) kmip_set_placeholder(c, &ids[i]);
        ARCA_GUARD_OUT(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &ids[i]));
    }
out:
    free(ids);
    return st;
}

/* ---- Get ------------------------------------------------------------------- */

/* Key Block: format, value (material or wrapped bytes), algorithm,
 * length, and the wrapping data when wrapped. */
static arca_status add_key_object(kmip_ctx *c, arca_builder *out, uint32_t cls, const arca_object_id *id,
                                  uint32_t fmt, const uint8_t *material, size_t material_len, bool wrapped,
                                  const arca_object_id *wrap_id, const arca_ttlv_node *wrap_params)
{
    kmip_obj_crypto_info oc;
    size_t omark, bmark, vmark, kmark, wmark, emark;
    uint32_t object_type = kmip_class_to_object_type(cls);

    ARCA_GUARD(kmip_obj_crypto(c, id, cls, &oc));
    ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_OBJECT_TYPE, object_type));
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, id));
    ARCA_GUARD(arca_ttlv_begin_struct(out, object_tag(object_type), &omark));
    ARCA_GUARD(arca_ttlv_begin_struct(out, ARCA_KMIP_TAG_KEY_BLOCK, &bmark));
    ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_KEY_FORMAT_TYPE, fmt));
    if (wrapped) {
        ARCA_GUARD(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_KEY_VALUE, material, material_len));
    } else {
        ARCA_GUARD(arca_ttlv_begin_struct(out, ARCA_KMIP_TAG_KEY_VALUE, &vmark));
        if (fmt == ARCA_KMIP_KEY_FORMAT_TRANSPARENT_SYMMETRIC_KEY) {
            ARCA_GUARD(arca_ttlv_begin_struct(out, ARCA_KMIP_TAG_KEY_MATERIAL, &kmark));
            ARCA_GUARD(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_KEY, material, material_len));
            ARCA_GUARD(arca_ttlv_end_struct(out, kmark));
        } else {
            ARCA_GUARD(arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_KEY_MATERIAL, material, material_len));
        }
        ARCA_GUARD(arca_ttlv_end_struct(out, vmark));
    }
    if (oc.has_alg) ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, oc.alg));
    if (oc.has_len) ARCA_GUARD(arca_ttlv_add_int(out, ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH, oc.len));
    if (wrapped) {
        ARCA_GUARD(arca_ttlv_begin_struct(out, ARCA_KMIP_TAG_KEY_WRAPPING_DATA, &wmark));
        ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_WRAPPING_METHOD, ARCA_KMIP_WRAP_ENCRYPT));
        ARCA_GUARD(arca_ttlv_begin_struct(out, ARCA_KMIP_TAG_ENCRYPTION_KEY_INFORMATION, &emark));
        ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, wrap_id));
        if (wrap_params != NULL) ARCA_GUARD(arca_ttlv_encode_node(out, wrap_params));
        ARCA_GUARD(arca_ttlv_end_struct(out, emark));
        ARCA_GUARD(arca_ttlv_end_struct(out, wmark));
    }
    ARCA_GUARD(arca_ttlv_end_struct(out, bmark));
    return arca_ttlv_end_struct(out, omark);
}

/* The mechanism of a Key Wrapping Specification for a wrapping key of
 * type ktype: AES key wrap (RFC 3394; KWP RFC 5649 with Block Cipher Mode
 * AES Key Wrap Padding), RSA-OAEP (SHA-256 unless Hashing Algorithm says
 * SHA-384/512). */
static arca_status wrap_mechanism(kmip_ctx *c, uint32_t ktype, const arca_ttlv_node *cp, arca_mechanism *m)
{
    uint32_t mode = 0, pad = 0, hash = ARCA_KMIP_HASH_SHA_256;
    bool has_mode = false, has_pad = false;
    memset(m, 0, sizeof(*m));
    if (cp != NULL) {
        ARCA_GUARD(kmip_opt_enum(c, cp, ARCA_KMIP_TAG_BLOCK_CIPHER_MODE, &mode, &has_mode));
        ARCA_GUARD(kmip_opt_enum(c, cp, ARCA_KMIP_TAG_PADDING_METHOD, &pad, &has_pad));
        ARCA_GUARD(kmip_opt_enum(c, cp, ARCA_KMIP_TAG_HASHING_ALGORITHM, &hash, NULL));
    }
    if (ktype == CKK_AES) {
        if (!has_mode || mode == ARCA_KMIP_MODE_NIST_KEY_WRAP) {
            m->type = CKM_AES_KEY_WRAP;
            return ARCA_OK;
        }
        if (mode == ARCA_KMIP_MODE_AES_KEY_WRAP_PADDING) {
            m->type = CKM_AES_KEY_WRAP_KWP;
            return ARCA_OK;
        }
    } else if (ktype == CKK_RSA && (!has_pad || pad == ARCA_KMIP_PADDING_OAEP)) {
        m->type = CKM_RSA_PKCS_OAEP;
        m->hash = hash == ARCA_KMIP_HASH_SHA_256 ? CKM_SHA256 : hash == ARCA_KMIP_HASH_SHA_384 ? CKM_SHA384
                : hash == ARCA_KMIP_HASH_SHA_512 ? CKM_SHA512 : 0;
        if (m->hash != 0) return ARCA_OK;
    }
    return kmip_fail(c, ARCA_ERR_MECHANISM, kmip_reason_for(c, ARCA_ERR_MECHANISM),
                     "wrapping: AES key wrap (NIST Key Wrap / AES Key Wrap Padding) or RSA-OAEP with SHA-256/384/512");
}

static arca_status get_wrapped(kmip_ctx *c, const arca_object_id *id, uint32_t cls, bool has_fmt, uint32_t fmt,
                               const arca_ttlv_node *kws, arca_builder *out)
{
    arca_status st;
    const arca_ttlv_node *eki, *cp, *x;
    uint32_t method = ARCA_KMIP_WRAP_ENCRYPT, enc = ARCA_KMIP_ENCODING_NO_ENCODING, ktype;
    arca_object_id wid;
    arca_mechanism m;
    arca_builder wrapped = {0};
    uint32_t want = cls == CKO_SECRET_KEY ? ARCA_KMIP_KEY_FORMAT_RAW : ARCA_KMIP_KEY_FORMAT_PKCS_8;

    ARCA_GUARD(kmip_opt_enum(c, kws, ARCA_KMIP_TAG_WRAPPING_METHOD, &method, NULL));
    ARCA_GUARD(kmip_opt_enum(c, kws, ARCA_KMIP_TAG_ENCODING_OPTION, &enc, NULL));
    ARCA_GUARD(kmip_opt_child(c, kws, ARCA_KMIP_TAG_MAC_SIGNATURE_KEY_INFORMATION, ARCA_TTLV_STRUCTURE, &x));
    if (method != ARCA_KMIP_WRAP_ENCRYPT || x != NULL || enc != ARCA_KMIP_ENCODING_NO_ENCODING) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED,
                         kmip_v2(c) ? ARCA_KMIP_REASON_KEY_WRAP_TYPE_NOT_SUPPORTED
                                    : ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                         "wrapping: only Wrapping Method Encrypt, without MAC/signature or TTLV encoding");
    }
    if (cls == CKO_PUBLIC_KEY) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                         "public keys are returned in the clear; omit the Key Wrapping Specification");
    }
    if (has_fmt && fmt != want) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
                         "a wrapped %s key is returned as %s", cls == CKO_SECRET_KEY ? "symmetric" : "private",
                         cls == CKO_SECRET_KEY ? "Raw" : "PKCS#8");
    }
    ARCA_GUARD(kmip_req_child(c, kws, ARCA_KMIP_TAG_ENCRYPTION_KEY_INFORMATION, ARCA_TTLV_STRUCTURE, &eki));
    ARCA_GUARD(kmip_opt_child(c, eki, ARCA_KMIP_TAG_CRYPTOGRAPHIC_PARAMETERS, ARCA_TTLV_STRUCTURE, &cp));
    /* The wrapping key's own id lives in Encryption Key Information. */
    ARCA_GUARD(kmip_get_uid_tag(c, eki, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, false, &wid));
    st = kmip_obj_u32(c, &wid, CKA_KEY_TYPE, &ktype);
    if (st == ARCA_ERR_NOT_FOUND) {
        return kmip_fail(c, st,
                         kmip_v2(c) ? ARCA_KMIP_REASON_WRAPPING_OBJECT_NOT_FOUND : ARCA_KMIP_REASON_ITEM_NOT_FOUND,
                         "the wrapping key was not found");
    }
    ARCA_GUARD(st);
    ARCA_GUARD(wrap_mechanism(c, ktype, cp, &m));
    ARCA_GUARD(arca_builder_init(&wrapped, 512, ARCA_DATA_MAX));
    st = arca_kms_wrap(c->kms, c->sess, &wid, &m, id, &wrapped);
    if (st == ARCA_ERR_KEY_UNEXTRACTABLE) {
        st = kmip_fail(c, st, kmip_reason_for(c, st), "the key is not extractable: it never leaves the appliance");
    } else if (st == ARCA_ERR_KEY_FUNCTION) {
        st = kmip_fail(c, st, kmip_reason_for(c, st), "the wrapping key's usage mask does not allow Wrap Key");
    }
    if (st == ARCA_OK) st = add_key_object(c, out, cls, id, want, wrapped.data, wrapped.len, true, &wid, cp);
    arca_builder_cleanup(&wrapped);
    return st;
}

arca_status kmip_op_get(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_status st;
    arca_object_id id;
    uint32_t fmt = 0, cls;
    bool has_fmt = false, has_comp = false, flag = false;
    uint32_t comp;
    const arca_ttlv_node *kws;
    arca_builder val = {0};

    ARCA_GUARD(kmip_get_uid(c, p, &id));
    ARCA_GUARD(kmip_opt_enum(c, p, ARCA_KMIP_TAG_KEY_FORMAT_TYPE, &fmt, &has_fmt));
    ARCA_GUARD(kmip_opt_enum(c, p, ARCA_KMIP_TAG_KEY_COMPRESSION_TYPE, &comp, &has_comp));
    ARCA_GUARD(kmip_opt_child(c, p, ARCA_KMIP_TAG_KEY_WRAPPING_SPECIFICATION, ARCA_TTLV_STRUCTURE, &kws));
    if (has_comp) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_KEY_COMPRESSION_TYPE_NOT_SUPPORTED,
                         "Key Compression Type is not supported");
    }
    ARCA_GUARD(kmip_obj_u32(c, &id, CKA_CLASS, &cls));
    if (kws != NULL) return get_wrapped(c, &id, cls, has_fmt, fmt, kws, out);

    if (cls == CKO_PUBLIC_KEY) {
        if (has_fmt && fmt != ARCA_KMIP_KEY_FORMAT_X_509) {
            return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
                             "public keys are returned as X.509 (SubjectPublicKeyInfo DER)");
        }
        ARCA_GUARD(arca_builder_init(&val, 512, ARCA_ATTR_VALUE_MAX));
        st = arca_kms_get_attribute(c->kms, c->sess, &id, CKA_PUBLIC_KEY_INFO, &val);
        if (st == ARCA_OK) {
            st = add_key_object(c, out, cls, &id, ARCA_KMIP_KEY_FORMAT_X_509, val.data, val.len, false, NULL, NULL);
        }
        arca_builder_cleanup(&val);
        return st;
    }
    /* Secret and private keys: in the clear only when extractable and not
     * sensitive (and private keys never); the reason says which. */
    ARCA_GUARD(kmip_obj_bool(c, &id, CKA_EXTRACTABLE, &flag));
    if (!flag) {
        return kmip_fail(c, ARCA_ERR_KEY_UNEXTRACTABLE, kmip_reason_for(c, ARCA_ERR_KEY_UNEXTRACTABLE),
                         "the key is not extractable: it never leaves the appliance");
    }
    if (cls == CKO_PRIVATE_KEY) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_SENSITIVE, kmip_reason_for(c, ARCA_ERR_ATTRIBUTE_SENSITIVE),
                         "private keys leave only wrapped: add a Key Wrapping Specification");
    }
    ARCA_GUARD(kmip_obj_bool(c, &id, CKA_SENSITIVE, &flag));
    if (flag) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_SENSITIVE, kmip_reason_for(c, ARCA_ERR_ATTRIBUTE_SENSITIVE),
                         "the key is sensitive: export it wrapped with a Key Wrapping Specification");
    }
    if (has_fmt && fmt != ARCA_KMIP_KEY_FORMAT_RAW && fmt != ARCA_KMIP_KEY_FORMAT_TRANSPARENT_SYMMETRIC_KEY) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
                         "symmetric keys are returned as Raw or Transparent Symmetric Key");
    }
    ARCA_GUARD(arca_builder_init_secret(&val, 64, ARCA_ATTR_VALUE_MAX));
    st = arca_kms_get_attribute(c->kms, c->sess, &id, CKA_VALUE, &val);
    if (st == ARCA_OK) {
        st = add_key_object(c, out, cls, &id, has_fmt ? fmt : ARCA_KMIP_KEY_FORMAT_RAW, val.data, val.len, false,
                            NULL, NULL);
    }
    arca_builder_cleanup(&val);
    return st;
}

/* ---- Get Attributes, Get Attribute List ------------------------------------ */

arca_status kmip_op_get_attributes(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    uint32_t want[KMIP_MAX_ATTRS];
    size_t num_want = 0;
    size_t mark = 0;

    ARCA_GUARD(kmip_get_uid(c, p, &id));
    for (const arca_ttlv_node *n = p->first_child; n != NULL; n = n->next) {
        uint32_t tag = 0;
        if (n->tag == ARCA_KMIP_TAG_ATTRIBUTE_NAME && n->type == ARCA_TTLV_TEXT_STRING) {
            tag = arca_kmip_tag_by_name(n->data, n->len);
        } else if (n->tag == ARCA_KMIP_TAG_ATTRIBUTE_REFERENCE && n->type == ARCA_TTLV_ENUMERATION) {
            tag = n->u32;
        } else if (n->tag == ARCA_KMIP_TAG_ATTRIBUTE_REFERENCE && n->type == ARCA_TTLV_STRUCTURE) {
            const arca_ttlv_node *an;
            ARCA_GUARD(kmip_req_child(c, n, ARCA_KMIP_TAG_ATTRIBUTE_NAME, ARCA_TTLV_TEXT_STRING, &an));
            tag = arca_kmip_tag_by_name(an->data, an->len);
        } else if (n->tag == ARCA_KMIP_TAG_UNIQUE_IDENTIFIER) {
            continue;
        } else {
            return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                             "Get Attributes takes Attribute Name (1.x) or Attribute Reference (2.x) fields, not %s",
                             arca_kmip_tag_name(n->tag));
        }
        if (num_want >= KMIP_MAX_ATTRS) {
            return kmip_fail(c, ARCA_ERR_TOO_LARGE, ARCA_KMIP_REASON_INVALID_FIELD, "too many attribute names");
        }
        /* An unknown name asks for something no object has: nothing. */
        if (tag != 0) want[num_want++] = tag;
        else want[num_want++] = 0xFFFFFFFFu;
    }
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id));
    if (kmip_v2(c)) ARCA_GUARD(arca_ttlv_begin_struct(out, ARCA_KMIP_TAG_ATTRIBUTES, &mark));
    ARCA_GUARD(kmip_attrs_emit(c, &id, num_want > 0 ? want : NULL, num_want, false, out));
    if (kmip_v2(c)) ARCA_GUARD(arca_ttlv_end_struct(out, mark));
    return ARCA_OK;
}

arca_status kmip_op_get_attribute_list(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    ARCA_GUARD(kmip_get_uid(c, p, &id));
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id));
    return kmip_attrs_emit(c, &id, NULL, 0, true, out);
}

/* ---- Destroy, Re-key --------------------------------------------------------- */

/* KMIP: an Active object must be revoked before it is destroyed (there is
 * no Active -> Destroyed transition). The keystore itself destroys in any
 * state (PKCS#11 C_DestroyObject), so the rule is enforced here. The state
 * is read and the object destroyed under separate locks: a concurrent
 * Activate in between can let an object that just became Active be
 * destroyed, which loses nothing a Pre-Active destroy would not. */
arca_status kmip_op_destroy(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    uint32_t state;
    ARCA_GUARD(kmip_get_uid(c, p, &id));
    ARCA_GUARD(kmip_obj_u32(c, &id, ARCA_CKA_STATE, &state));
    if (state == ARCA_STATE_ACTIVE) {
        return kmip_fail(c, ARCA_ERR_OBJECT_STATE, kmip_reason_for(c, ARCA_ERR_OBJECT_STATE),
                         "the object is Active: Revoke it before Destroy");
    }
    ARCA_GUARD(arca_kms_destroy(c->kms, c->sess, &id));
    return kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id);
}

arca_status kmip_op_rekey(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id, new_id;
    arca_status st;
    const arca_ttlv_node *ta;
    ARCA_GUARD(kmip_get_uid(c, p, &id));
    ARCA_GUARD(kmip_opt_child(c, p, kmip_v2(c) ? ARCA_KMIP_TAG_ATTRIBUTES : ARCA_KMIP_TAG_TEMPLATE_ATTRIBUTE,
                              ARCA_TTLV_STRUCTURE, &ta));
    if (ta != NULL && ta->num_children > 0) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                         "Re-key copies the key's attributes; new attributes are not supported");
    }
    st = arca_kms_rotate(c->kms, c->sess, &id, &new_id);
    if (st == ARCA_ERR_TEMPLATE_INCOMPLETE) {
        return kmip_fail(c, st, ARCA_KMIP_REASON_ILLEGAL_OPERATION,
                         "Re-key needs a key with a Name (versions are kept per name)");
    }
    ARCA_GUARD(st);
    kmip_set_placeholder(c, &new_id);
    return kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &new_id);
}

/* ---- Re-key Key Pair -------------------------------------------------------- */

arca_status kmip_op_rekey_key_pair(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id priv, new_priv, new_pub;
    uint8_t label[ARCA_LABEL_MAX], ckid[256];
    arca_builder lb, ib;
    uint32_t cls, version;
    size_t num = 0;
    kmip_p11 t;
    arca_status st;

    memset(&t, 0, sizeof(t));
    ARCA_GUARD(kmip_get_uid_tag(c, p, ARCA_KMIP_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER, true, &priv));
    for (const arca_ttlv_node *x = p->first_child; x != NULL; x = x->next) {
        if (x->tag != ARCA_KMIP_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER && x->tag != ARCA_KMIP_TAG_OFFSET &&
            x->num_children > 0) {
            return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                             "Re-key Key Pair copies the pair's attributes; new attributes are not supported");
        }
    }
    ARCA_GUARD(kmip_obj_u32(c, &priv, CKA_CLASS, &cls));
    if (cls != CKO_PRIVATE_KEY) {
        return kmip_fail(c, ARCA_ERR_KEY_TYPE,
                         kmip_v2(c) ? ARCA_KMIP_REASON_INVALID_OBJECT_TYPE : ARCA_KMIP_REASON_INVALID_FIELD,
                         "Re-key Key Pair takes the private key's identifier");
    }
    st = arca_kms_rotate(c->kms, c->sess, &priv, &new_priv);
    if (st == ARCA_ERR_TEMPLATE_INCOMPLETE) {
        return kmip_fail(c, st, ARCA_KMIP_REASON_ILLEGAL_OPERATION,
                         "Re-key Key Pair needs a pair with a Name (versions are kept per name)");
    }
    ARCA_GUARD(st);
    /* The new public half: same label, CKA_ID and version as the new
     * private key (the keystore makes both in one commit). */
    arca_builder_init_fixed(&lb, label, sizeof(label));
    arca_builder_init_fixed(&ib, ckid, sizeof(ckid));
    ARCA_GUARD(arca_kms_get_attribute(c->kms, c->sess, &new_priv, CKA_LABEL, &lb));
    ARCA_GUARD(arca_kms_get_attribute(c->kms, c->sess, &new_priv, CKA_ID, &ib));
    ARCA_GUARD(kmip_obj_u32(c, &new_priv, ARCA_CKA_KEY_VERSION, &version));
    ARCA_GUARD(kmip_p11_add_u32(&t, CKA_CLASS, CKO_PUBLIC_KEY));
    ARCA_GUARD(kmip_p11_add(&t, CKA_LABEL, label, lb.len));
    ARCA_GUARD(kmip_p11_add(&t, CKA_ID, ckid, ib.len));
    ARCA_GUARD(kmip_p11_add_u32(&t, ARCA_CKA_KEY_VERSION, version));
    ARCA_GUARD(arca_kms_find(c->kms, c->sess, t.a, t.num, &new_pub, 1, &num));
    ARCA_ENSURE(num == 1, kmip_fail(c, ARCA_ERR_INTERNAL, ARCA_KMIP_REASON_GENERAL_FAILURE,
                                    "the new public key of the pair was not found"));
    kmip_set_placeholder(c, &new_priv);
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER, &new_priv));
    return kmip_add_uid(out, ARCA_KMIP_TAG_PUBLIC_KEY_UNIQUE_IDENTIFIER, &new_pub);
}

/* ---- Derive Key ------------------------------------------------------------- */

arca_status kmip_op_derive_key(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    const arca_ttlv_node *otn, *dp, *cp = NULL, *x;
    kmip_attr_list list;
    kmip_key_spec spec;
    kmip_p11 t;
    uint32_t method, hash = ARCA_KMIP_HASH_SHA_256, ktype;
    arca_mechanism m;
    arca_object_id base, id;
    arca_status st;

    memset(&list, 0, sizeof(list));
    memset(&t, 0, sizeof(t));
    memset(&m, 0, sizeof(m));
    ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_OBJECT_TYPE, ARCA_TTLV_ENUMERATION, &otn));
    if (otn->u32 != ARCA_KMIP_OBJECT_SYMMETRIC_KEY) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE,
                         kmip_v2(c) ? ARCA_KMIP_REASON_INVALID_OBJECT_TYPE : ARCA_KMIP_REASON_INVALID_FIELD,
                         "Derive Key makes Symmetric Keys");
    }
    if (arca_ttlv_count(p, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER) > 1) {
        return kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED,
                         "Derive Key from one base key only");
    }
    ARCA_GUARD(kmip_get_uid(c, p, &base));
    ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_DERIVATION_METHOD, ARCA_TTLV_ENUMERATION, &x));
    method = x->u32;
    ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_DERIVATION_PARAMETERS, ARCA_TTLV_STRUCTURE, &dp));
    ARCA_GUARD(kmip_opt_child(c, dp, ARCA_KMIP_TAG_CRYPTOGRAPHIC_PARAMETERS, ARCA_TTLV_STRUCTURE, &cp));
    if (cp != NULL) ARCA_GUARD(kmip_opt_enum(c, cp, ARCA_KMIP_TAG_HASHING_ALGORITHM, &hash, NULL));
    m.hash = hash == ARCA_KMIP_HASH_SHA_256 ? CKM_SHA256 : hash == ARCA_KMIP_HASH_SHA_384 ? CKM_SHA384
           : hash == ARCA_KMIP_HASH_SHA_512 ? CKM_SHA512 : 0;
    if (method == ARCA_KMIP_DERIVE_HKDF) {
        m.type = CKM_HKDF_DERIVE;
    } else if (method == ARCA_KMIP_DERIVE_NIST800_108_C) {
        m.type = CKM_SP800_108_COUNTER_KDF;
    } else if (method == ARCA_KMIP_DERIVE_ASYMMETRIC_KEY) {
        m.type = CKM_ECDH1_DERIVE;
    }
    if (m.type == 0 || (m.type != CKM_ECDH1_DERIVE && m.hash == 0)) {
        return kmip_fail(c, ARCA_ERR_MECHANISM, kmip_reason_for(c, ARCA_ERR_MECHANISM),
                         "Derive Key: Derivation Method HKDF or NIST800-108-C with SHA-256/384/512, "
                         "or Asymmetric Key (ECDH)");
    }
    if (m.type == CKM_ECDH1_DERIVE) {
        /* Asymmetric Key: the base is our EC private key, Derivation Data
         * the other party's public key (uncompressed point or SPKI DER);
         * the key is the raw shared secret Z (its trailing bytes when a
         * shorter length is asked for, as PKCS#11's CKD_NULL). */
        bool have_peer = false;
        m.hash = 0;
        ARCA_GUARD(kmip_opt_bytes(c, dp, ARCA_KMIP_TAG_DERIVATION_DATA, &m.public_data, &m.public_data_len,
                                  &have_peer));
        if (!have_peer || m.public_data_len == 0) {
            return kmip_fail(c, ARCA_ERR_MECHANISM_PARAM, ARCA_KMIP_REASON_INVALID_FIELD,
                             "Derive Key by Asymmetric Key needs the peer's public key as Derivation Data");
        }
    } else {
        /* HKDF: Salt and Derivation Data (info). SP 800-108: Salt (label)
         * and Derivation Data (context). */
        ARCA_GUARD(kmip_opt_bytes(c, dp, ARCA_KMIP_TAG_SALT, &m.salt, &m.salt_bytes_len, NULL));
        ARCA_GUARD(kmip_opt_bytes(c, dp, ARCA_KMIP_TAG_DERIVATION_DATA, &m.info, &m.info_len, NULL));
    }
    ARCA_GUARD(attrs_of(c, p, ARCA_KMIP_TAG_TEMPLATE_ATTRIBUTE, ARCA_KMIP_TAG_ATTRIBUTES, &list));
    ARCA_GUARD(kmip_spec_parse(c, &list, false, &spec));
    if (!spec.has_alg || !spec.has_len || spec.len <= 0 || spec.len % 8 != 0) {
        return kmip_fail(c, ARCA_ERR_TEMPLATE_INCOMPLETE, ARCA_KMIP_REASON_INVALID_FIELD,
                         "Derive Key needs Cryptographic Algorithm and a Cryptographic Length (multiple of 8)");
    }
    if (spec.alg == ARCA_KMIP_ALG_AES) {
        ktype = CKK_AES;
    } else if (spec.alg == ARCA_KMIP_ALG_HMAC_SHA256 || spec.alg == ARCA_KMIP_ALG_HMAC_SHA384 ||
               spec.alg == ARCA_KMIP_ALG_HMAC_SHA512) {
        ktype = CKK_GENERIC_SECRET;
    } else {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, attr_value_reason(c),
                         "derived keys are AES or HMAC-SHA256/384/512");
    }
    ARCA_GUARD(kmip_p11_add_u32(&t, CKA_CLASS, CKO_SECRET_KEY));
    ARCA_GUARD(kmip_p11_add_u32(&t, CKA_KEY_TYPE, ktype));
    ARCA_GUARD(kmip_p11_add_u32(&t, CKA_VALUE_LEN, (uint32_t)spec.len / 8));
    ARCA_GUARD(kmip_spec_to_p11(c, &spec, CKO_SECRET_KEY, &t));
    ARCA_GUARD(kmip_p11_add_initial_state(&spec, &t));
    st = arca_kms_derive(c->kms, c->sess, &base, &m, t.a, t.num, &id);
    if (st == ARCA_ERR_KEY_FUNCTION) {
        return kmip_fail(c, st, kmip_reason_for(c, st), "the base key's Cryptographic Usage Mask has no Derive Key");
    }
    if (st == ARCA_ERR_KEY_SIZE) {
        return kmip_fail(c, st, attr_value_reason(c), "Cryptographic Length %d is not supported", (int)spec.len);
    }
    ARCA_GUARD(st);
    kmip_set_placeholder(c, &id);
    return kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id);
}
