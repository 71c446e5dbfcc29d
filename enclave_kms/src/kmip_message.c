/* KMIP message handling: framing of the Request / Response Message,
 * protocol versions, batches, header credentials, the arca_status ->
 * Result Reason table, and dispatch to the operations. */
#include "arca/hex.h"
#include "kmip_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "arca/cursor.h"
#include "arca/local_proto.h"
#include "arca/secret.h"

#define MAX_BATCH_ITEMS 64u
#define ITEM_MAX_LEN ARCA_KMIP_WIRE_MAX
#define ERROR_ITEM_RESERVE 512u /* room an error item needs at most */

typedef struct op_entry {
    uint32_t op;
    kmip_op_fn fn;
} op_entry;

/* In enum order (Query lists them this way). */
static const op_entry ops[] = {
    {ARCA_KMIP_OP_CREATE, kmip_op_create},
    {ARCA_KMIP_OP_CREATE_KEY_PAIR, kmip_op_create_key_pair},
    {ARCA_KMIP_OP_REGISTER, kmip_op_register},
    {ARCA_KMIP_OP_REKEY, kmip_op_rekey},
    {ARCA_KMIP_OP_DERIVE_KEY, kmip_op_derive_key},
    {ARCA_KMIP_OP_LOCATE, kmip_op_locate},
    {ARCA_KMIP_OP_GET, kmip_op_get},
    {ARCA_KMIP_OP_GET_ATTRIBUTES, kmip_op_get_attributes},
    {ARCA_KMIP_OP_GET_ATTRIBUTE_LIST, kmip_op_get_attribute_list},
    {ARCA_KMIP_OP_ADD_ATTRIBUTE, kmip_op_add_attribute},
    {ARCA_KMIP_OP_MODIFY_ATTRIBUTE, kmip_op_modify_attribute},
    {ARCA_KMIP_OP_DELETE_ATTRIBUTE, kmip_op_delete_attribute},
    {ARCA_KMIP_OP_ACTIVATE, kmip_op_activate},
    {ARCA_KMIP_OP_REVOKE, kmip_op_revoke},
    {ARCA_KMIP_OP_DESTROY, kmip_op_destroy},
    {ARCA_KMIP_OP_QUERY, kmip_op_query},
    {ARCA_KMIP_OP_REKEY_KEY_PAIR, kmip_op_rekey_key_pair},
    {ARCA_KMIP_OP_DISCOVER_VERSIONS, kmip_op_discover_versions},
    {ARCA_KMIP_OP_ENCRYPT, kmip_op_encrypt},
    {ARCA_KMIP_OP_DECRYPT, kmip_op_decrypt},
    {ARCA_KMIP_OP_SIGN, kmip_op_sign},
    {ARCA_KMIP_OP_SIGNATURE_VERIFY, kmip_op_signature_verify},
    {ARCA_KMIP_OP_MAC, kmip_op_mac},
    {ARCA_KMIP_OP_MAC_VERIFY, kmip_op_mac_verify},
    {ARCA_KMIP_OP_RNG_RETRIEVE, kmip_op_rng_retrieve},
};

#define NUM_OPS (sizeof(ops) / sizeof(ops[0]))

size_t kmip_num_supported_ops(void)
{
    return NUM_OPS;
}

uint32_t kmip_supported_op(size_t i)
{
    return i < NUM_OPS ? ops[i].op : 0;
}


/* ---- The one table: arca_status -> Result Reason ------------------------
 * Per version, because the reasons grew: 1.2 is the base; 1.4 added
 * Sensitive, Not Extractable, Object Already Exists; 2.0 added the precise
 * ones (usage mask, attribute, cryptographic parameters...). 0 = as the
 * column to the left. */
typedef struct reason_row {
    arca_status st;
    uint32_t v12, v14, v20;
} reason_row;

#define R(x) ARCA_KMIP_REASON_##x
static const reason_row reasons[] = {
    {ARCA_ERR_INTERNAL, R(GENERAL_FAILURE), 0, 0},
    {ARCA_ERR_NOMEM, R(GENERAL_FAILURE), 0, R(SERVER_LIMIT_EXCEEDED)},
    {ARCA_ERR_ARGS, R(INVALID_FIELD), 0, 0},
    {ARCA_ERR_DECODE, R(INVALID_MESSAGE), 0, 0},
    {ARCA_ERR_TOO_LARGE, R(INVALID_FIELD), 0, R(SERVER_LIMIT_EXCEEDED)},
    {ARCA_ERR_BUFFER_TOO_SMALL, R(RESPONSE_TOO_LARGE), 0, 0},
    {ARCA_ERR_CRYPTO, R(CRYPTOGRAPHIC_FAILURE), 0, 0},
    {ARCA_ERR_INTEGRITY, R(GENERAL_FAILURE), 0, 0},
    {ARCA_ERR_NOT_FOUND, R(ITEM_NOT_FOUND), 0, 0},
    {ARCA_ERR_EXISTS, R(ILLEGAL_OPERATION), R(OBJECT_ALREADY_EXISTS), 0},
    {ARCA_ERR_STORE, R(GENERAL_FAILURE), 0, 0},
    {ARCA_ERR_NOT_INITIALISED, R(ILLEGAL_OPERATION), 0, 0},
    {ARCA_ERR_PIN_INCORRECT, R(PERMISSION_DENIED), 0, 0},
    {ARCA_ERR_PIN_LOCKED, R(PERMISSION_DENIED), 0, 0},
    {ARCA_ERR_PIN_INVALID, R(PERMISSION_DENIED), 0, 0},
    {ARCA_ERR_NOT_LOGGED_IN, R(PERMISSION_DENIED), 0, 0},
    {ARCA_ERR_PERMISSION, R(PERMISSION_DENIED), 0, 0},
    {ARCA_ERR_CERT_UNTRUSTED, R(AUTHENTICATION_NOT_SUCCESSFUL), 0, 0},
    {ARCA_ERR_IDENTITY_UNKNOWN, R(AUTHENTICATION_NOT_SUCCESSFUL), 0, 0},
    {ARCA_ERR_KEY_SIZE, R(INVALID_FIELD), 0, R(INVALID_ATTRIBUTE_VALUE)},
    {ARCA_ERR_KEY_TYPE, R(INVALID_FIELD), 0, R(INVALID_OBJECT_TYPE)},
    {ARCA_ERR_MECHANISM, R(CRYPTOGRAPHIC_FAILURE), 0, R(UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS)},
    {ARCA_ERR_MECHANISM_PARAM, R(INVALID_FIELD), 0, R(BAD_CRYPTOGRAPHIC_PARAMETERS)},
    {ARCA_ERR_KEY_FUNCTION, R(PERMISSION_DENIED), 0, R(INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK)},
    {ARCA_ERR_KEY_UNEXTRACTABLE, R(PERMISSION_DENIED), R(NOT_EXTRACTABLE), 0},
    {ARCA_ERR_ATTRIBUTE_SENSITIVE, R(PERMISSION_DENIED), R(SENSITIVE), 0},
    {ARCA_ERR_ATTRIBUTE_TYPE, R(INVALID_FIELD), 0, R(INVALID_ATTRIBUTE)},
    {ARCA_ERR_ATTRIBUTE_VALUE, R(INVALID_FIELD), 0, R(INVALID_ATTRIBUTE_VALUE)},
    {ARCA_ERR_ATTRIBUTE_READ_ONLY, R(PERMISSION_DENIED), 0, R(ATTRIBUTE_READ_ONLY)},
    {ARCA_ERR_TEMPLATE_INCOMPLETE, R(INVALID_FIELD), 0, 0},
    {ARCA_ERR_TEMPLATE_INCONSISTENT, R(INVALID_FIELD), 0, R(INVALID_ATTRIBUTE_VALUE)},
    {ARCA_ERR_SIGNATURE_INVALID, R(CRYPTOGRAPHIC_FAILURE), 0, 0},
    {ARCA_ERR_DATA_INVALID, R(CRYPTOGRAPHIC_FAILURE), 0, 0},
    {ARCA_ERR_DATA_LEN, R(INVALID_FIELD), 0, 0},
    {ARCA_ERR_UNSUPPORTED, R(FEATURE_NOT_SUPPORTED), 0, 0},
    {ARCA_ERR_BUSY, R(GENERAL_FAILURE), 0, R(SERVER_LIMIT_EXCEEDED)},
    /* 1.x has no lifecycle reason: Permission Denied, as PyKMIP's server
     * answers; 2.0 has the precise one. */
    {ARCA_ERR_OBJECT_STATE, R(PERMISSION_DENIED), 0, R(WRONG_KEY_LIFECYCLE_STATE)},
};

uint32_t kmip_reason_for(const kmip_ctx *c, arca_status st)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].st != st) continue;
        uint32_t r = reasons[i].v12;
        if (kmip_at_least(c, 1, 4) && reasons[i].v14 != 0) r = reasons[i].v14;
        if (kmip_v2(c) && reasons[i].v20 != 0) r = reasons[i].v20;
        return r;
    }
    return R(GENERAL_FAILURE);
}
#undef R

arca_status kmip_fail(kmip_ctx *c, arca_status st, uint32_t reason, const char *fmt, ...)
{
    va_list ap;
    c->reason = reason;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return st;
}

/* ---- Field helpers ----------------------------------------------------- */

static arca_status child(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, arca_ttlv_type type, bool required,
                         const arca_ttlv_node **out)
{
    arca_status st = arca_ttlv_child(p, tag, type, out);
    if (st == ARCA_ERR_NOT_FOUND) {
        *out = NULL;
        if (!required) return ARCA_OK;
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD, "missing required field %s",
                         arca_kmip_tag_name(tag));
    }
    if (st != ARCA_OK) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                         "field %s has the wrong type or is repeated",
                         arca_kmip_tag_name(tag));
    }
    return ARCA_OK;
}

arca_status kmip_req_child(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, arca_ttlv_type type,
                           const arca_ttlv_node **out)
{
    return child(c, p, tag, type, true, out);
}

arca_status kmip_opt_child(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, arca_ttlv_type type,
                           const arca_ttlv_node **out)
{
    return child(c, p, tag, type, false, out);
}

arca_status kmip_opt_enum(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, uint32_t *out, bool *present)
{
    const arca_ttlv_node *n;
    ARCA_GUARD(kmip_opt_child(c, p, tag, ARCA_TTLV_ENUMERATION, &n));
    if (present != NULL) *present = n != NULL;
    if (n != NULL) *out = n->u32;
    return ARCA_OK;
}

arca_status kmip_opt_int(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, int32_t *out, bool *present)
{
    const arca_ttlv_node *n;
    ARCA_GUARD(kmip_opt_child(c, p, tag, ARCA_TTLV_INTEGER, &n));
    if (present != NULL) *present = n != NULL;
    if (n != NULL) *out = (int32_t)n->i64;
    return ARCA_OK;
}

arca_status kmip_opt_bool(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, bool *out, bool *present)
{
    const arca_ttlv_node *n;
    ARCA_GUARD(kmip_opt_child(c, p, tag, ARCA_TTLV_BOOLEAN, &n));
    if (present != NULL) *present = n != NULL;
    if (n != NULL) *out = n->b;
    return ARCA_OK;
}

arca_status kmip_opt_bytes(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, const uint8_t **out,
                           size_t *out_len, bool *present)
{
    const arca_ttlv_node *n;
    ARCA_GUARD(kmip_opt_child(c, p, tag, ARCA_TTLV_BYTE_STRING, &n));
    if (present != NULL) *present = n != NULL;
    if (n != NULL) {
        *out = n->data;
        *out_len = n->len;
    }
    return ARCA_OK;
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

arca_status kmip_uid_parse(kmip_ctx *c, const arca_ttlv_node *n, arca_object_id *out)
{
    if (n->type != ARCA_TTLV_TEXT_STRING) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD, "%s must be a text string",
                         arca_kmip_tag_name(n->tag));
    }
    if (n->len != KMIP_UID_LEN) {
        return kmip_fail(c, ARCA_ERR_NOT_FOUND, ARCA_KMIP_REASON_ITEM_NOT_FOUND,
                         "no object with this Unique Identifier (Arca ids are 32 hex characters)");
    }
    for (size_t i = 0; i < ARCA_OBJECT_ID_LEN; i++) {
        int hi = hexval(n->data[2 * i]), lo = hexval(n->data[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return kmip_fail(c, ARCA_ERR_NOT_FOUND, ARCA_KMIP_REASON_ITEM_NOT_FOUND,
                             "no object with this Unique Identifier (Arca ids are 32 hex characters)");
        }
        out->b[i] = (uint8_t)(hi << 4 | lo);
    }
    return ARCA_OK;
}

arca_status kmip_get_uid_tag(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, bool placeholder,
                             arca_object_id *out)
{
    const arca_ttlv_node *n;
    ARCA_GUARD(kmip_opt_child(c, p, tag, ARCA_TTLV_TEXT_STRING, &n));
    if (n != NULL) return kmip_uid_parse(c, n, out);
    if (placeholder && c->have_placeholder) {
        *out = c->placeholder;
        return ARCA_OK;
    }
    return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                     "missing %s (and no ID Placeholder from an earlier batch item)", arca_kmip_tag_name(tag));
}

arca_status kmip_get_uid(kmip_ctx *c, const arca_ttlv_node *p, arca_object_id *out)
{
    return kmip_get_uid_tag(c, p, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, true, out);
}

void kmip_uid_format(const arca_object_id *id, char out[KMIP_UID_LEN + 1])
{
    arca_hex(id->b, ARCA_OBJECT_ID_LEN, out);
}

arca_status kmip_add_uid(arca_builder *b, uint32_t tag, const arca_object_id *id)
{
    char uid[KMIP_UID_LEN + 1];
    kmip_uid_format(id, uid);
    return arca_ttlv_add_text(b, tag, uid, KMIP_UID_LEN);
}

void kmip_set_placeholder(kmip_ctx *c, const arca_object_id *id)
{
    c->placeholder = *id;
    c->have_placeholder = true;
}

/* ---- Versions ---------------------------------------------------------- */

typedef struct version {
    uint32_t major, minor;
} version;

static const version supported[] = {{2, 1}, {2, 0}, {1, 4}, {1, 3}, {1, 2}};

static bool version_supported(int64_t major, int64_t minor)
{
    for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++) {
        if (supported[i].major == major && supported[i].minor == minor) return true;
    }
    return false;
}

/* The version to answer an unsupported one in: the highest of the same
 * major version if Arca speaks that major, else the highest overall. */
static version answer_version(int64_t major)
{
    for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++) {
        if (supported[i].major == major) return supported[i];
    }
    return supported[0];
}

size_t kmip_num_versions(void)
{
    return sizeof(supported) / sizeof(supported[0]);
}

void kmip_version_at(size_t i, uint32_t *major, uint32_t *minor)
{
    *major = supported[i].major;
    *minor = supported[i].minor;
}

/* Read the version from the fixed prefix of a message that did not decode
 * (Request Message, Request Header, Protocol Version, Major, Minor are the
 * first items of every request), so that even an answer to a truncated
 * message uses the client's version. */
static void peek_version(const uint8_t *req, size_t req_len, kmip_ctx *c)
{
    arca_cursor cur;
    uint32_t w[14];
    arca_cursor_init(&cur, req, req_len);
    for (size_t i = 0; i < 14; i++) {
        if (arca_cursor_get_u32(&cur, &w[i]) != ARCA_OK) return;
    }
    if (w[0] != 0x42007801u || w[2] != 0x42007701u || w[4] != 0x42006901u || w[6] != 0x42006A02u ||
        w[7] != 4u || w[10] != 0x42006B02u || w[11] != 4u) {
        return;
    }
    if (version_supported((int32_t)w[8], (int32_t)w[12])) {
        c->major = w[8];
        c->minor = w[12];
    } else {
        version v = answer_version((int32_t)w[8]);
        c->major = v.major;
        c->minor = v.minor;
    }
}

/* ---- Response writing -------------------------------------------------- */

/* The Result Message when the operation gave none: what the status means
 * for a KMIP client. */
static const char *default_message(arca_status st)
{
    switch (st) {
    case ARCA_ERR_NOT_FOUND:
        return "no such object: the Unique Identifier is unknown, destroyed, or of another partition";
    case ARCA_ERR_NOT_LOGGED_IN:
        return "not logged in: authenticate first (client identity, or a Username and Password credential)";
    case ARCA_ERR_PERMISSION:
        return "permission denied for this identity";
    case ARCA_ERR_KEY_FUNCTION:
        return "the key's Cryptographic Usage Mask does not allow this operation";
    case ARCA_ERR_INTEGRITY:
        return "the object's sealed copy failed its integrity check (store tampered with?)";
    case ARCA_ERR_OBJECT_STATE:
        return "the key's State does not allow this: a Pre-Active key needs Activate first; a revoked "
               "(Deactivated or Compromised) key only decrypts, verifies and unwraps";
    default:
        return arca_status_message(st);
    }
}

typedef struct item_result {
    bool have_op;
    uint32_t op;
    const uint8_t *batch_id;
    size_t batch_id_len;
} item_result;

static arca_status write_item(arca_builder *b, const kmip_ctx *c, const item_result *ir, arca_status st,
                              uint32_t reason, const char *msg, const arca_builder *payload)
{
    size_t mark, pmark;
    ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_BATCH_ITEM, &mark));
    if (ir->have_op) ARCA_GUARD(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_OPERATION, ir->op));
    if (ir->batch_id != NULL) {
        ARCA_GUARD(arca_ttlv_add_bytes(b, ARCA_KMIP_TAG_UNIQUE_BATCH_ITEM_ID, ir->batch_id, ir->batch_id_len));
    }
    if (st == ARCA_OK) {
        ARCA_GUARD(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_RESULT_STATUS, ARCA_KMIP_STATUS_SUCCESS));
        if (payload != NULL) {
            ARCA_GUARD(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_RESPONSE_PAYLOAD, &pmark));
            if (payload->len > 0) ARCA_GUARD(arca_builder_add_bytes(b, payload->data, payload->len));
            ARCA_GUARD(arca_ttlv_end_struct(b, pmark));
        }
    } else {
        if (reason == 0) reason = kmip_reason_for(c, st);
        if (msg == NULL || msg[0] == '\0') msg = default_message(st);
        ARCA_GUARD(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_RESULT_STATUS, ARCA_KMIP_STATUS_OPERATION_FAILED));
        ARCA_GUARD(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_RESULT_REASON, reason));
        ARCA_GUARD(arca_ttlv_add_text(b, ARCA_KMIP_TAG_RESULT_MESSAGE, msg, strlen(msg)));
    }
    return arca_ttlv_end_struct(b, mark);
}

/* Response Message = header (version, time stamp, batch count) + items. */
static arca_status write_response(arca_builder *resp, const kmip_ctx *c, size_t num_items, const arca_builder *items)
{
    size_t mark, hmark, vmark;
    ARCA_GUARD(arca_ttlv_begin_struct(resp, ARCA_KMIP_TAG_RESPONSE_MESSAGE, &mark));
    ARCA_GUARD(arca_ttlv_begin_struct(resp, ARCA_KMIP_TAG_RESPONSE_HEADER, &hmark));
    ARCA_GUARD(arca_ttlv_begin_struct(resp, ARCA_KMIP_TAG_PROTOCOL_VERSION, &vmark));
    ARCA_GUARD(arca_ttlv_add_int(resp, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, (int32_t)c->major));
    ARCA_GUARD(arca_ttlv_add_int(resp, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, (int32_t)c->minor));
    ARCA_GUARD(arca_ttlv_end_struct(resp, vmark));
    ARCA_GUARD(arca_ttlv_add_datetime(resp, ARCA_KMIP_TAG_TIME_STAMP, (int64_t)time(NULL)));
    ARCA_GUARD(arca_ttlv_add_int(resp, ARCA_KMIP_TAG_BATCH_COUNT, (int32_t)num_items));
    ARCA_GUARD(arca_ttlv_end_struct(resp, hmark));
    if (items != NULL && items->len > 0) ARCA_GUARD(arca_builder_add_bytes(resp, items->data, items->len));
    return arca_ttlv_end_struct(resp, mark);
}

/* The whole message failed before any item ran: one item per batch item
 * found (echoing Operation and Unique Batch Item ID where readable), or a
 * single bare item when none can be read. */
static arca_status message_error(arca_builder *resp, const kmip_ctx *c, const arca_ttlv_node *root, uint32_t reason,
                                 const char *msg)
{
    arca_status st;
    arca_builder items = {0};
    size_t n = 0;

    ARCA_GUARD(arca_builder_init(&items, 256, ITEM_MAX_LEN));
    for (const arca_ttlv_node *it = arca_ttlv_find(root, ARCA_KMIP_TAG_BATCH_ITEM); it != NULL && n < MAX_BATCH_ITEMS;
         it = arca_ttlv_find_next(it)) {
        item_result ir = {0};
        const arca_ttlv_node *x;
        if (arca_ttlv_child(it, ARCA_KMIP_TAG_OPERATION, ARCA_TTLV_ENUMERATION, &x) == ARCA_OK) {
            ir.have_op = true;
            ir.op = x->u32;
        }
        if (arca_ttlv_child(it, ARCA_KMIP_TAG_UNIQUE_BATCH_ITEM_ID, ARCA_TTLV_BYTE_STRING, &x) == ARCA_OK) {
            ir.batch_id = x->data;
            ir.batch_id_len = x->len;
        }
        ARCA_GUARD_OUT(write_item(&items, c, &ir, ARCA_ERR_DECODE, reason, msg, NULL));
        n++;
    }
    if (n == 0) {
        item_result ir = {0};
        ARCA_GUARD_OUT(write_item(&items, c, &ir, ARCA_ERR_DECODE, reason, msg, NULL));
        n = 1;
    }
    st = write_response(resp, c, n, &items);
out:
    arca_builder_cleanup(&items);
    return st;
}

/* ---- Credentials ------------------------------------------------------- */

/* Authentication / Credential (Username and Password: username = partition
 * name, password = user PIN). Used only when the session is not logged in
 * yet; a session that is logged in keeps its login (the TLS identity will
 * select it later). A credential that does not log in is answered with
 * Result Reason Authentication Not Successful (KMIP's reason for a failed
 * message-header Authentication). */
static arca_status authenticate(kmip_ctx *c, const arca_ttlv_node *header)
{
    arca_status st = ARCA_OK;
    const arca_ttlv_node *auth, *cred, *val, *user, *pass = NULL;
    uint32_t type;
    char name[ARCA_PARTITION_NAME_MAX + 1];
    char pin[ARCA_PIN_MAX + 1];

    memset(pin, 0, sizeof(pin));
    ARCA_GUARD(kmip_opt_child(c, header, ARCA_KMIP_TAG_AUTHENTICATION, ARCA_TTLV_STRUCTURE, &auth));
    if (auth == NULL || arca_kms_session_role(c->sess) != ARCA_ROLE_NONE) return ARCA_OK;
    /* KMIP allows several credentials; Arca reads the first. */
    cred = arca_ttlv_find(auth, ARCA_KMIP_TAG_CREDENTIAL);
    if (cred == NULL || cred->type != ARCA_TTLV_STRUCTURE) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_MESSAGE, "Authentication without a Credential");
    }
    if (arca_ttlv_child_enum(cred, ARCA_KMIP_TAG_CREDENTIAL_TYPE, &type) != ARCA_OK ||
        arca_ttlv_child(cred, ARCA_KMIP_TAG_CREDENTIAL_VALUE, ARCA_TTLV_STRUCTURE, &val) != ARCA_OK) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_MESSAGE,
                         "Credential needs a Credential Type and a Credential Value structure");
    }
    if (type != ARCA_KMIP_CREDENTIAL_USERNAME_AND_PASSWORD) {
        return kmip_fail(c, ARCA_ERR_PERMISSION, ARCA_KMIP_REASON_PERMISSION_DENIED,
                         "only the Username and Password credential is supported");
    }
    if (arca_ttlv_child(val, ARCA_KMIP_TAG_USERNAME, ARCA_TTLV_TEXT_STRING, &user) != ARCA_OK ||
        (arca_ttlv_find(val, ARCA_KMIP_TAG_PASSWORD) != NULL &&
         arca_ttlv_child(val, ARCA_KMIP_TAG_PASSWORD, ARCA_TTLV_TEXT_STRING, &pass) != ARCA_OK)) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_MESSAGE,
                         "Username and Password credential: Username and Password must be text");
    }
    if (pass == NULL) {
        return kmip_fail(c, ARCA_ERR_PERMISSION, ARCA_KMIP_REASON_AUTHENTICATION_NOT_SUCCESSFUL,
                         "authentication failed: a Password (the partition's user PIN) is required");
    }
    if (arca_ttlv_get_text_cstr(user, name, sizeof(name)) != ARCA_OK ||
        arca_ttlv_get_text_cstr(pass, pin, sizeof(pin)) != ARCA_OK) {
        st = kmip_fail(c, ARCA_ERR_PERMISSION, ARCA_KMIP_REASON_AUTHENTICATION_NOT_SUCCESSFUL,
                       "authentication failed: username or password too long");
        goto out;
    }
    st = arca_kms_login(c->kms, c->sess, name, ARCA_ROLE_USER, pin);
    if (st != ARCA_OK) {
        st = kmip_fail(c, st, ARCA_KMIP_REASON_AUTHENTICATION_NOT_SUCCESSFUL, "authentication failed: %s",
                       arca_status_message(st));
    }
out:
    arca_wipe(pin, sizeof(pin));
    return st;
}

/* ---- The handler ------------------------------------------------------- */

/* Arca Call is dispatched here and not through ops[]: Query lists ops[],
 * and a standard client (PyKMIP) cannot decode an extension Operation
 * value in a Query response. Arca's own clients know the operation. */
static kmip_op_fn find_op(const kmip_ctx *c, uint32_t op)
{
    if (op == ARCA_KMIP_OP_ARCA_CALL) return c->rctx != NULL ? kmip_op_arca_call : NULL;
    for (size_t i = 0; i < NUM_OPS; i++) {
        if (ops[i].op == op) return ops[i].fn;
    }
    return NULL;
}

/* ---- Arca Call: one local-protocol request ----------------------------- */

arca_status kmip_op_arca_call(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_status st;
    const arca_ttlv_node *rq = NULL;
    arca_builder inner = {0};

    ARCA_ENSURE(c->rctx != NULL, ARCA_ERR_UNSUPPORTED);
    st = arca_ttlv_child(p, ARCA_KMIP_TAG_ARCA_REQUEST, ARCA_TTLV_BYTE_STRING, &rq);
    if (st != ARCA_OK || p->num_children != 1) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_MESSAGE,
                         "Arca Call: the Request Payload must hold exactly one Arca Request byte string");
    }
    /* The inner answer may carry key bytes and plaintext. A malformed
     * inner request still gets its local-protocol error response (the
     * inner status is the answer); only NOMEM leaves nothing to send. */
    ARCA_GUARD(arca_builder_init_secret(&inner, 256, ARCA_LP_FRAME_MAX));
    st = arca_request_handle(c->rctx, c->sess, rq->data, rq->len, &inner);
    if (st == ARCA_ERR_NOMEM) goto out;
    st = inner.error;
    if (st == ARCA_OK) st = arca_ttlv_add_bytes(out, ARCA_KMIP_TAG_ARCA_RESPONSE, inner.data, inner.len);
out:
    arca_builder_cleanup(&inner);
    return st;
}

/* Run one batch item into items. Returns the item's status (for the
 * continuation option); the write itself failing is reported in *out_fatal. */
static arca_status run_item(kmip_ctx *c, const arca_ttlv_node *it, arca_builder *items, size_t room,
                            arca_status *out_fatal)
{
    arca_status st;
    item_result ir = {0};
    const arca_ttlv_node *opn = NULL, *idn = NULL, *payload = NULL;
    arca_builder tmp = {0};
    kmip_op_fn fn = NULL;

    c->reason = 0;
    c->msg[0] = '\0';
    *out_fatal = ARCA_OK;
    if (it->type != ARCA_TTLV_STRUCTURE) {
        st = kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_MESSAGE, "Batch Item is not a structure");
        goto write;
    }
    st = kmip_opt_child(c, it, ARCA_KMIP_TAG_UNIQUE_BATCH_ITEM_ID, ARCA_TTLV_BYTE_STRING, &idn);
    if (idn != NULL) {
        ir.batch_id = idn->data;
        ir.batch_id_len = idn->len;
    }
    if (st != ARCA_OK) goto write;
    st = kmip_opt_child(c, it, ARCA_KMIP_TAG_OPERATION, ARCA_TTLV_ENUMERATION, &opn);
    if (st == ARCA_OK && opn == NULL) {
        st = kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_MESSAGE, "Batch Item without an Operation");
    }
    if (st != ARCA_OK) {
        c->reason = ARCA_KMIP_REASON_INVALID_MESSAGE;
        goto write;
    }
    ir.have_op = true;
    ir.op = opn->u32;
    fn = find_op(c, ir.op);
    if (fn == NULL) {
        st = kmip_fail(c, ARCA_ERR_UNSUPPORTED, ARCA_KMIP_REASON_OPERATION_NOT_SUPPORTED,
                       "operation 0x%08x (%s) is not supported by Arca", (unsigned)ir.op,
                       arca_kmip_operation_name(ir.op));
        goto write;
    }
    st = kmip_opt_child(c, it, ARCA_KMIP_TAG_REQUEST_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload);
    if (st == ARCA_OK && payload == NULL) {
        st = kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_MESSAGE, "Batch Item without a Request Payload");
    }
    if (st != ARCA_OK) {
        c->reason = ARCA_KMIP_REASON_INVALID_MESSAGE;
        goto write;
    }
    /* Payloads can hold plaintext and key bytes: secret memory. */
    st = arca_builder_init_secret(&tmp, 256, ITEM_MAX_LEN);
    if (st == ARCA_OK) st = fn(c, payload, &tmp);
    if (st == ARCA_OK) st = tmp.error;
    if (st == ARCA_OK && tmp.len + ERROR_ITEM_RESERVE > room) {
        st = kmip_fail(c, ARCA_ERR_TOO_LARGE, ARCA_KMIP_REASON_RESPONSE_TOO_LARGE,
                       "the response to this item exceeds the response size limit");
    }
write:
    *out_fatal = write_item(items, c, &ir, st, c->reason, c->msg, st == ARCA_OK ? &tmp : NULL);
    arca_builder_cleanup(&tmp);
    return st;
}

static arca_status handle(arca_kms *kms, const arca_request_ctx *rctx, arca_kms_session *sess,
                          const arca_ttlv_limits *limits, const uint8_t *req, size_t req_len, arca_builder *resp)
{
    arca_status st;
    kmip_ctx c;
    arca_cursor cur;
    arca_ttlv_tree *tree = NULL;
    const arca_ttlv_node *root, *header = NULL, *pv = NULL;
    int32_t major = 0, minor = 0, batch_count = 0;
    uint32_t cont = ARCA_KMIP_BATCH_ERROR_STOP;
    bool have_cont = false;
    arca_builder items = {0};
    size_t num_items = 0, num_req_items;

    ARCA_ENSURE(kms != NULL && sess != NULL && resp != NULL && (req != NULL || req_len == 0), ARCA_ERR_ARGS);
    memset(&c, 0, sizeof(c));
    c.kms = kms;
    c.sess = sess;
    c.rctx = rctx;
    c.major = supported[0].major;
    c.minor = supported[0].minor;
    peek_version(req, req_len, &c);

    arca_cursor_init(&cur, req, req_len);
    st = arca_ttlv_decode(&cur, limits, &tree);
    if (st != ARCA_OK) {
        return message_error(resp, &c, NULL, ARCA_KMIP_REASON_INVALID_MESSAGE,
                             st == ARCA_ERR_TOO_LARGE ? "message exceeds a size, depth or item limit"
                                                      : "malformed TTLV message");
    }
    root = arca_ttlv_root(tree);
    if (root->tag != ARCA_KMIP_TAG_REQUEST_MESSAGE || root->type != ARCA_TTLV_STRUCTURE ||
        arca_ttlv_child(root, ARCA_KMIP_TAG_REQUEST_HEADER, ARCA_TTLV_STRUCTURE, &header) != ARCA_OK ||
        arca_ttlv_child(header, ARCA_KMIP_TAG_PROTOCOL_VERSION, ARCA_TTLV_STRUCTURE, &pv) != ARCA_OK ||
        arca_ttlv_child_int(pv, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, &major) != ARCA_OK ||
        arca_ttlv_child_int(pv, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, &minor) != ARCA_OK) {
        st = message_error(resp, &c, root, ARCA_KMIP_REASON_INVALID_MESSAGE,
                           "not a Request Message with a Request Header and Protocol Version");
        goto out;
    }
    if (!version_supported(major, minor)) {
        char msg[KMIP_MSG_MAX];
        version v = answer_version(major);
        c.major = v.major;
        c.minor = v.minor;
        snprintf(msg, sizeof(msg), "protocol version %d.%d is not supported (Arca speaks 2.1, 2.0, 1.4, 1.3, 1.2)",
                 (int)major, (int)minor);
        st = message_error(resp, &c, root, ARCA_KMIP_REASON_INVALID_MESSAGE, msg);
        goto out;
    }
    c.major = (uint32_t)major;
    c.minor = (uint32_t)minor;

    num_req_items = arca_ttlv_count(root, ARCA_KMIP_TAG_BATCH_ITEM);
    if (arca_ttlv_child_int(header, ARCA_KMIP_TAG_BATCH_COUNT, &batch_count) != ARCA_OK || batch_count < 1 ||
        (size_t)batch_count != num_req_items || num_req_items > MAX_BATCH_ITEMS) {
        st = message_error(resp, &c, root, ARCA_KMIP_REASON_INVALID_MESSAGE,
                           "Batch Count missing, or not the number of Batch Items (1 to 64)");
        goto out;
    }
    if (kmip_opt_enum(&c, header, ARCA_KMIP_TAG_BATCH_ERROR_CONTINUATION_OPTION, &cont, &have_cont) != ARCA_OK ||
        (have_cont && cont != ARCA_KMIP_BATCH_ERROR_CONTINUE && cont != ARCA_KMIP_BATCH_ERROR_STOP &&
         cont != ARCA_KMIP_BATCH_ERROR_UNDO)) {
        st = message_error(resp, &c, root, ARCA_KMIP_REASON_INVALID_FIELD,
                           "Batch Error Continuation Option must be Continue, Stop or Undo");
        goto out;
    }
    st = authenticate(&c, header);
    if (st != ARCA_OK) {
        char msg[KMIP_MSG_MAX];
        uint32_t reason = c.reason != 0 ? c.reason : ARCA_KMIP_REASON_PERMISSION_DENIED;
        memcpy(msg, c.msg, sizeof(msg));
        st = message_error(resp, &c, root, reason, msg);
        goto out;
    }

    ARCA_GUARD_OUT(arca_builder_init_secret(&items, 1024, resp->max_len));
    for (const arca_ttlv_node *it = arca_ttlv_find(root, ARCA_KMIP_TAG_BATCH_ITEM); it != NULL;
         it = arca_ttlv_find_next(it)) {
        arca_status fatal;
        size_t used = resp->len + items.len + 128;
        size_t room = resp->max_len > used ? resp->max_len - used : 0;
        arca_status ist = run_item(&c, it, &items, room, &fatal);
        ARCA_GUARD_OUT(fatal);
        num_items++;
        /* Stop and Undo (Arca cannot undo) end the batch at the first
         * failure; the items after it are not processed and not answered. */
        if (ist != ARCA_OK && cont != ARCA_KMIP_BATCH_ERROR_CONTINUE) break;
    }
    st = write_response(resp, &c, num_items, &items);
out:
    arca_builder_cleanup(&items);
    arca_ttlv_free(tree);
    return st;
}

arca_status arca_kmip_handle(arca_kms *kms, arca_kms_session *sess, const uint8_t *req, size_t req_len,
                             arca_builder *resp)
{
    return handle(kms, NULL, sess, NULL, req, req_len, resp);
}

arca_status arca_kmip_handle_ctx(const arca_request_ctx *ctx, arca_kms_session *sess, const uint8_t *req,
                                 size_t req_len, arca_builder *resp)
{
    static const arca_ttlv_limits wire = {.max_message_len = ARCA_KMIP_WIRE_MAX};
    ARCA_ENSURE(ctx != NULL && ctx->kms != NULL, ARCA_ERR_ARGS);
    return handle(ctx->kms, ctx, sess, &wire, req, req_len, resp);
}

arca_status arca_kmip_framing_error(arca_builder *resp, const char *msg)
{
    kmip_ctx c;
    ARCA_ENSURE(resp != NULL && msg != NULL, ARCA_ERR_ARGS);
    memset(&c, 0, sizeof(c));
    c.major = supported[0].major;
    c.minor = supported[0].minor;
    return message_error(resp, &c, NULL, ARCA_KMIP_REASON_INVALID_MESSAGE, msg);
}
