/* KMIP operations that change attributes: Add Attribute, Modify Attribute,
 * Delete Attribute, for the attributes the object model lets change
 * (arca_kms_set_attributes' rules): Name (the label), Cryptographic Usage
 * Mask (narrowed only), Sensitive (set only), Extractable (cleared only).
 * Everything else is read-only. */
#include "kmip_server.h"

#include <string.h>

static uint32_t read_only_reason(const kmip_ctx *c)
{
    return kmip_v2(c) ? ARCA_KMIP_REASON_ATTRIBUTE_READ_ONLY : ARCA_KMIP_REASON_PERMISSION_DENIED;
}

/* The single attribute of the request: 1.x Attribute, 2.x the one child of
 * New Attribute (or Current Attribute for Delete). */
static arca_status the_attribute(kmip_ctx *c, const arca_ttlv_node *p, uint32_t v2_tag, kmip_attr_list *list)
{
    const arca_ttlv_node *n;
    memset(list, 0, sizeof(*list));
    if (kmip_v2(c)) {
        ARCA_GUARD(kmip_req_child(c, p, v2_tag, ARCA_TTLV_STRUCTURE, &n));
        ARCA_GUARD(kmip_attrs_collect(c, n, list));
    } else {
        ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_ATTRIBUTE, ARCA_TTLV_STRUCTURE, &n));
        ARCA_GUARD(kmip_attrs_collect(c, p, list)); /* the payload's Attribute field */
    }
    if (list->num != 1) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD, "exactly one attribute expected");
    }
    return ARCA_OK;
}

static bool is_server_set(uint32_t tag)
{
    switch (tag) {
    case ARCA_KMIP_TAG_UNIQUE_IDENTIFIER:
    case ARCA_KMIP_TAG_OBJECT_TYPE:
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
    case ARCA_KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS:
    case ARCA_KMIP_TAG_STATE:
    case ARCA_KMIP_TAG_ALWAYS_SENSITIVE:
    case ARCA_KMIP_TAG_NEVER_EXTRACTABLE:
        return true;
    default:
        return false;
    }
}

static bool has_name(kmip_ctx *c, const arca_object_id *id, arca_status *st)
{
    uint8_t label[ARCA_LABEL_MAX];
    arca_builder b;
    arca_builder_init_fixed(&b, label, sizeof(label));
    *st = arca_kms_get_attribute(c->kms, c->sess, id, CKA_LABEL, &b);
    return *st == ARCA_OK && b.len > 0;
}

/* Apply one changeable attribute through the keystore. */
static arca_status apply(kmip_ctx *c, const arca_object_id *id, const kmip_attr_list *list)
{
    kmip_key_spec spec;
    kmip_p11 t;
    uint32_t cls, tag = list->a[0].tag;
    arca_status st;

    memset(&t, 0, sizeof(t));
    if (is_server_set(tag)) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_READ_ONLY, read_only_reason(c), "%s is set by the server",
                         arca_kmip_tag_name(tag));
    }
    ARCA_GUARD(kmip_spec_parse(c, list, false, &spec));
    ARCA_GUARD(kmip_obj_u32(c, id, CKA_CLASS, &cls));
    if (cls == CKO_PUBLIC_KEY && (spec.has_sensitive || spec.has_extractable)) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_TYPE, kmip_reason_for(c, ARCA_ERR_ATTRIBUTE_TYPE),
                         "public keys have no %s", arca_kmip_tag_name(tag));
    }
    ARCA_GUARD(kmip_spec_to_p11(c, &spec, cls, &t));
    st = arca_kms_set_attributes(c->kms, c->sess, id, t.a, t.num);
    if (st == ARCA_ERR_ATTRIBUTE_READ_ONLY) {
        return kmip_fail(c, st, read_only_reason(c),
                         "%s may only be narrowed (usage mask, Extractable) or tightened (Sensitive)",
                         arca_kmip_tag_name(tag));
    }
    return st;
}

static arca_status answer(kmip_ctx *c, const arca_ttlv_node *p, const arca_object_id *id, arca_builder *out)
{
    const arca_ttlv_node *a;
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, id));
    if (kmip_v2(c)) return ARCA_OK;
    /* 1.x answers with the attribute as it now is: the request's. */
    a = arca_ttlv_find(p, ARCA_KMIP_TAG_ATTRIBUTE);
    return a != NULL ? arca_ttlv_encode_node(out, a) : ARCA_OK;
}

arca_status kmip_op_add_attribute(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    kmip_attr_list list;
    arca_status st;
    ARCA_GUARD(kmip_get_uid(c, p, &id));
    ARCA_GUARD(the_attribute(c, p, ARCA_KMIP_TAG_NEW_ATTRIBUTE, &list));
    /* The model holds one value of each attribute; only a Name can be
     * missing, so only a Name can be added. */
    if (list.a[0].tag == ARCA_KMIP_TAG_NAME) {
        bool present = has_name(c, &id, &st);
        ARCA_GUARD(st);
        if (!present) {
            ARCA_GUARD(apply(c, &id, &list));
            return answer(c, p, &id, out);
        }
    } else if (is_server_set(list.a[0].tag)) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_READ_ONLY, read_only_reason(c), "%s is set by the server",
                         arca_kmip_tag_name(list.a[0].tag));
    }
    return kmip_fail(c, ARCA_ERR_EXISTS,
                     kmip_v2(c) ? ARCA_KMIP_REASON_ATTRIBUTE_SINGLE_VALUED : ARCA_KMIP_REASON_ILLEGAL_OPERATION,
                     "the object already has a %s (Arca holds one value per attribute): use Modify Attribute",
                     arca_kmip_tag_name(list.a[0].tag));
}

arca_status kmip_op_modify_attribute(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    kmip_attr_list list;
    arca_status st;
    ARCA_GUARD(kmip_get_uid(c, p, &id));
    ARCA_GUARD(the_attribute(c, p, ARCA_KMIP_TAG_NEW_ATTRIBUTE, &list));
    if (list.a[0].tag == ARCA_KMIP_TAG_NAME && !has_name(c, &id, &st)) {
        ARCA_GUARD(st);
        return kmip_fail(c, ARCA_ERR_NOT_FOUND,
                         kmip_v2(c) ? ARCA_KMIP_REASON_ATTRIBUTE_NOT_FOUND : ARCA_KMIP_REASON_ITEM_NOT_FOUND,
                         "the object has no Name to modify: use Add Attribute");
    }
    ARCA_GUARD(apply(c, &id, &list));
    return answer(c, p, &id, out);
}

arca_status kmip_op_delete_attribute(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    uint32_t tag = 0;
    const arca_ttlv_node *n;
    arca_status st;
    kmip_p11 t;

    memset(&t, 0, sizeof(t));
    ARCA_GUARD(kmip_get_uid(c, p, &id));
    if (kmip_v2(c)) {
        ARCA_GUARD(kmip_opt_child(c, p, ARCA_KMIP_TAG_CURRENT_ATTRIBUTE, ARCA_TTLV_STRUCTURE, &n));
        if (n != NULL && n->first_child != NULL) {
            tag = n->first_child->tag;
        } else if ((n = arca_ttlv_find(p, ARCA_KMIP_TAG_ATTRIBUTE_REFERENCE)) != NULL) {
            if (n->type == ARCA_TTLV_ENUMERATION) {
                tag = n->u32;
            } else {
                const arca_ttlv_node *an;
                ARCA_GUARD(kmip_req_child(c, n, ARCA_KMIP_TAG_ATTRIBUTE_NAME, ARCA_TTLV_TEXT_STRING, &an));
                tag = arca_kmip_tag_by_name(an->data, an->len);
            }
        } else {
            return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                             "Delete Attribute needs a Current Attribute or an Attribute Reference");
        }
    } else {
        ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_ATTRIBUTE_NAME, ARCA_TTLV_TEXT_STRING, &n));
        tag = arca_kmip_tag_by_name(n->data, n->len);
    }
    if (tag != ARCA_KMIP_TAG_NAME) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_READ_ONLY, read_only_reason(c),
                         "only the Name can be deleted; other attributes are required or set by the server");
    }
    if (!has_name(c, &id, &st)) {
        ARCA_GUARD(st);
        return kmip_fail(c, ARCA_ERR_NOT_FOUND,
                         kmip_v2(c) ? ARCA_KMIP_REASON_ATTRIBUTE_NOT_FOUND : ARCA_KMIP_REASON_ITEM_NOT_FOUND,
                         "the object has no Name");
    }
    ARCA_GUARD(kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id));
    /* 1.x answers with the deleted attribute. */
    if (!kmip_v2(c)) ARCA_GUARD(kmip_attrs_emit(c, &id, &tag, 1, false, out));
    ARCA_GUARD(kmip_p11_add(&t, CKA_LABEL, (const uint8_t *)"", 0));
    return arca_kms_set_attributes(c->kms, c->sess, &id, t.a, t.num);
}
