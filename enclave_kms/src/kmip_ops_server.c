/* KMIP operations about the server itself: Discover Versions, Query, RNG
 * Retrieve. */
#include "kmip_server.h"

#include <string.h>

arca_status kmip_op_discover_versions(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    int32_t cmaj[16], cmin[16];
    size_t num_client = 0;
    /* The client's list, in its order of preference; each a structure. */
    for (const arca_ttlv_node *v = arca_ttlv_find(p, ARCA_KMIP_TAG_PROTOCOL_VERSION); v != NULL;
         v = arca_ttlv_find_next(v)) {
        if (num_client >= 16) {
            return kmip_fail(c, ARCA_ERR_TOO_LARGE, ARCA_KMIP_REASON_INVALID_FIELD, "more than 16 Protocol Versions");
        }
        if (arca_ttlv_child_int(v, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, &cmaj[num_client]) != ARCA_OK ||
            arca_ttlv_child_int(v, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, &cmin[num_client]) != ARCA_OK) {
            return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                             "Protocol Version needs Protocol Version Major and Minor integers");
        }
        num_client++;
    }
    /* The answer: the versions both speak, in the client's order, or all of
     * Arca's (highest first) when the client named none. */
    for (size_t i = 0; i < (num_client > 0 ? num_client : kmip_num_versions()); i++) {
        uint32_t major = 0, minor = 0;
        bool ok = false;
        if (num_client == 0) {
            kmip_version_at(i, &major, &minor);
            ok = true;
        }
        for (size_t k = 0; !ok && k < kmip_num_versions(); k++) {
            kmip_version_at(k, &major, &minor);
            ok = (int64_t)major == cmaj[i] && (int64_t)minor == cmin[i];
        }
        if (!ok) continue;
        size_t mark;
        ARCA_GUARD(arca_ttlv_begin_struct(out, ARCA_KMIP_TAG_PROTOCOL_VERSION, &mark));
        ARCA_GUARD(arca_ttlv_add_int(out, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, (int32_t)major));
        ARCA_GUARD(arca_ttlv_add_int(out, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, (int32_t)minor));
        ARCA_GUARD(arca_ttlv_end_struct(out, mark));
    }
    return ARCA_OK;
}

arca_status kmip_op_query(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    bool ops = false, objects = false, info = false;
    for (const arca_ttlv_node *q = arca_ttlv_find(p, ARCA_KMIP_TAG_QUERY_FUNCTION); q != NULL;
         q = arca_ttlv_find_next(q)) {
        if (q->type != ARCA_TTLV_ENUMERATION) {
            return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                             "Query Function must be an enumeration");
        }
        /* Functions Arca has nothing to say about are answered with nothing. */
        if (q->u32 == ARCA_KMIP_QUERY_OPERATIONS) ops = true;
        if (q->u32 == ARCA_KMIP_QUERY_OBJECTS) objects = true;
        if (q->u32 == ARCA_KMIP_QUERY_SERVER_INFORMATION) info = true;
    }
    if (ops) {
        for (size_t i = 0; i < kmip_num_supported_ops(); i++) {
            ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_OPERATION, kmip_supported_op(i)));
        }
    }
    if (objects) {
        ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_OBJECT_TYPE, ARCA_KMIP_OBJECT_SYMMETRIC_KEY));
        ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_OBJECT_TYPE, ARCA_KMIP_OBJECT_PUBLIC_KEY));
        ARCA_GUARD(arca_ttlv_add_enum(out, ARCA_KMIP_TAG_OBJECT_TYPE, ARCA_KMIP_OBJECT_PRIVATE_KEY));
    }
    if (info) {
        static const char vendor[] = "Arca";
        ARCA_GUARD(arca_ttlv_add_text(out, ARCA_KMIP_TAG_VENDOR_IDENTIFICATION, vendor, sizeof(vendor) - 1));
    }
    return ARCA_OK;
}

arca_status kmip_op_rng_retrieve(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    const arca_ttlv_node *n;
    arca_builder rnd = {0};
    arca_status st;
    ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_DATA_LENGTH, ARCA_TTLV_INTEGER, &n));
    if (n->i64 <= 0 || n->i64 > (int64_t)ARCA_DATA_MAX) {
        return kmip_fail(c, ARCA_ERR_DATA_LEN, ARCA_KMIP_REASON_INVALID_FIELD, "Data Length must be 1 to %u bytes",
                         ARCA_DATA_MAX);
    }
    ARCA_GUARD(arca_builder_init_secret(&rnd, (size_t)n->i64, ARCA_DATA_MAX));
    st = arca_kms_random(c->kms, c->sess, (size_t)n->i64, &rnd);
    if (st == ARCA_OK) st = arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_DATA, rnd.data, rnd.len);
    arca_builder_cleanup(&rnd);
    return st;
}
