/* The KMIP envelope of an Arca Call (plan §2, docs/protocol.md). */
#include "client_wire.h"

#include <stdio.h>
#include <string.h>

#include "arca/client.h"
#include "arca/ttlv.h"

_Static_assert(ARCA_CLIENT_RESPONSE_MAX == ARCA_KMIP_WIRE_MAX, "the plan's cap");

#define KMIP_MAJOR 2
#define KMIP_MINOR 0

arca_status arca_client_wire_wrap(arca_builder *b, const uint8_t *lp, size_t lp_len)
{
    size_t msg, hdr, ver, item, payload;
    ARCA_ENSURE(b != NULL && (lp != NULL || lp_len == 0), ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_REQUEST_MESSAGE, &msg));
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_REQUEST_HEADER, &hdr));
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_PROTOCOL_VERSION, &ver));
    ARCA_GUARD(arca_ttlv_add_int(b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, KMIP_MAJOR));
    ARCA_GUARD(arca_ttlv_add_int(b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, KMIP_MINOR));
    ARCA_GUARD(arca_ttlv_end_struct(b, ver));
    ARCA_GUARD(arca_ttlv_add_int(b, ARCA_KMIP_TAG_BATCH_COUNT, 1));
    ARCA_GUARD(arca_ttlv_end_struct(b, hdr));
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_BATCH_ITEM, &item));
    ARCA_GUARD(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_OPERATION, ARCA_KMIP_OP_ARCA_CALL));
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_REQUEST_PAYLOAD, &payload));
    ARCA_GUARD(arca_ttlv_add_bytes(b, ARCA_KMIP_TAG_ARCA_REQUEST, lp, lp_len));
    ARCA_GUARD(arca_ttlv_end_struct(b, payload));
    ARCA_GUARD(arca_ttlv_end_struct(b, item));
    return arca_ttlv_end_struct(b, msg);
}

arca_status arca_client_wire_response_len(const uint8_t hdr[8], size_t *out_len)
{
    ARCA_ENSURE(hdr != NULL && out_len != NULL, ARCA_ERR_ARGS);
    uint32_t tag = (uint32_t)hdr[0] << 16 | (uint32_t)hdr[1] << 8 | hdr[2];
    ARCA_ENSURE(tag == ARCA_KMIP_TAG_RESPONSE_MESSAGE && hdr[3] == ARCA_TTLV_STRUCTURE, ARCA_ERR_DECODE);
    return arca_ttlv_message_len(hdr, ARCA_TTLV_HEADER_LEN, ARCA_CLIENT_RESPONSE_MAX, out_len);
}

static arca_status reason_status(uint32_t reason)
{
    switch (reason) {
    case ARCA_KMIP_REASON_INVALID_MESSAGE:
    case ARCA_KMIP_REASON_INVALID_FIELD:
    case ARCA_KMIP_REASON_CODEC_ERROR:
        return ARCA_ERR_DECODE;
    case ARCA_KMIP_REASON_PERMISSION_DENIED:
    case ARCA_KMIP_REASON_AUTHENTICATION_NOT_SUCCESSFUL:
        return ARCA_ERR_PERMISSION;
    case ARCA_KMIP_REASON_ITEM_NOT_FOUND:
        return ARCA_ERR_NOT_FOUND;
    case ARCA_KMIP_REASON_RESPONSE_TOO_LARGE:
        return ARCA_ERR_TOO_LARGE;
    case ARCA_KMIP_REASON_OPERATION_NOT_SUPPORTED:
    case ARCA_KMIP_REASON_FEATURE_NOT_SUPPORTED:
    case ARCA_KMIP_REASON_UNSUPPORTED_PROTOCOL_VERSION:
        return ARCA_ERR_UNSUPPORTED;
    case ARCA_KMIP_REASON_SERVER_LIMIT_EXCEEDED:
        return ARCA_ERR_BUSY;
    case ARCA_KMIP_REASON_CRYPTOGRAPHIC_FAILURE:
        return ARCA_ERR_CRYPTO;
    default:
        return ARCA_ERR_INTERNAL;
    }
}

static void set_msg(char *message, size_t msg_len, const char *reason, const uint8_t *text, size_t text_len)
{
    if (message == NULL || msg_len == 0) return;
    /* The server's text is untrusted: keep printable ASCII only. */
    int n = snprintf(message, msg_len, "%s: ", reason);
    size_t at = n < 0 ? 0 : (size_t)n;
    for (size_t i = 0; i < text_len && at + 1 < msg_len; i++)
        message[at++] = (text[i] >= 0x20 && text[i] < 0x7f) ? (char)text[i] : '?';
    if (at < msg_len) message[at] = 0;
}

static arca_status unwrap_tree(const arca_ttlv_node *root, const uint8_t **out_lp, size_t *out_lp_len,
                               char *message, size_t msg_len)
{
    const arca_ttlv_node *hdr, *item, *payload, *n;
    int32_t count = 0;
    uint32_t result = 0, op = 0;
    ARCA_ENSURE(root->tag == ARCA_KMIP_TAG_RESPONSE_MESSAGE && root->type == ARCA_TTLV_STRUCTURE, ARCA_ERR_DECODE);
    ARCA_ENSURE(arca_ttlv_child(root, ARCA_KMIP_TAG_RESPONSE_HEADER, ARCA_TTLV_STRUCTURE, &hdr) == ARCA_OK,
                ARCA_ERR_DECODE);
    ARCA_ENSURE(arca_ttlv_child_int(hdr, ARCA_KMIP_TAG_BATCH_COUNT, &count) == ARCA_OK && count == 1,
                ARCA_ERR_DECODE);
    ARCA_ENSURE(arca_ttlv_count(root, ARCA_KMIP_TAG_BATCH_ITEM) == 1, ARCA_ERR_DECODE);
    ARCA_ENSURE(arca_ttlv_child(root, ARCA_KMIP_TAG_BATCH_ITEM, ARCA_TTLV_STRUCTURE, &item) == ARCA_OK,
                ARCA_ERR_DECODE);
    /* Operation is optional in a failed response to a malformed item. */
    arca_status st = arca_ttlv_child_enum(item, ARCA_KMIP_TAG_OPERATION, &op);
    ARCA_ENSURE(st == ARCA_OK || st == ARCA_ERR_NOT_FOUND, ARCA_ERR_DECODE);
    ARCA_ENSURE(st == ARCA_ERR_NOT_FOUND || op == ARCA_KMIP_OP_ARCA_CALL, ARCA_ERR_DECODE);
    ARCA_ENSURE(arca_ttlv_child_enum(item, ARCA_KMIP_TAG_RESULT_STATUS, &result) == ARCA_OK, ARCA_ERR_DECODE);
    switch (result) {
    case ARCA_KMIP_STATUS_SUCCESS:
        ARCA_ENSURE(op == ARCA_KMIP_OP_ARCA_CALL, ARCA_ERR_DECODE);
        ARCA_ENSURE(arca_ttlv_child(item, ARCA_KMIP_TAG_RESPONSE_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload) == ARCA_OK,
                    ARCA_ERR_DECODE);
        ARCA_ENSURE(payload->num_children == 1, ARCA_ERR_DECODE);
        ARCA_ENSURE(arca_ttlv_child(payload, ARCA_KMIP_TAG_ARCA_RESPONSE, ARCA_TTLV_BYTE_STRING, &n) == ARCA_OK,
                    ARCA_ERR_DECODE);
        *out_lp = n->data;
        *out_lp_len = n->len;
        return ARCA_OK;
    case ARCA_KMIP_STATUS_OPERATION_FAILED: {
        uint32_t reason = ARCA_KMIP_REASON_GENERAL_FAILURE;
        const uint8_t *text = NULL;
        size_t text_len = 0;
        st = arca_ttlv_child_enum(item, ARCA_KMIP_TAG_RESULT_REASON, &reason);
        ARCA_ENSURE(st == ARCA_OK || st == ARCA_ERR_NOT_FOUND, ARCA_ERR_DECODE);
        st = arca_ttlv_child_text(item, ARCA_KMIP_TAG_RESULT_MESSAGE, &text, &text_len);
        ARCA_ENSURE(st == ARCA_OK || st == ARCA_ERR_NOT_FOUND, ARCA_ERR_DECODE);
        set_msg(message, msg_len, arca_kmip_reason_name(reason), text, text_len);
        return reason_status(reason);
    }
    default:
        /* Pending / Undone: never asked for (no asynchronous indicator, no batch). */
        return ARCA_ERR_DECODE;
    }
}

arca_status arca_client_wire_unwrap(const uint8_t *msg, size_t len, const uint8_t **out_lp, size_t *out_lp_len,
                                    char *message, size_t msg_len)
{
    arca_ttlv_tree *tree = NULL;
    arca_cursor c;
    const arca_ttlv_limits limits = {.max_message_len = ARCA_CLIENT_RESPONSE_MAX};
    if (message != NULL && msg_len > 0) message[0] = 0;
    ARCA_ENSURE(msg != NULL && out_lp != NULL && out_lp_len != NULL, ARCA_ERR_ARGS);
    arca_cursor_init(&c, msg, len);
    ARCA_GUARD(arca_ttlv_decode(&c, &limits, &tree));
    arca_status st = unwrap_tree(arca_ttlv_root(tree), out_lp, out_lp_len, message, msg_len);
    arca_ttlv_free(tree);
    return st;
}
