/* The local request protocol codec (docs/protocol.md). Each op's body is a
 * fixed sequence of fields; one table says which, so the encoder and the
 * decoder cannot drift apart. */
#include "arca/local_proto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arca/secret.h"

typedef enum field {
    F_END = 0,
    F_PARTITION, /* u16-prefixed, <= NAME_MAX, no NUL */
    F_ROLE,      /* u8 */
    F_PIN,       /* u16-prefixed, <= PIN_MAX, no NUL */
    F_PIN2,
    F_MECH_TYPE, /* u32 */
    F_MECH,      /* mechanism */
    F_TMPL,      /* template */
    F_TMPL2,
    F_ID,        /* 16 bytes */
    F_ID2,
    F_VALUE,     /* u32 */
    F_DATA,      /* u32-prefixed, <= DATA_MAX */
    F_SIG,       /* u32-prefixed, <= DATA_MAX */
    F_NAME,      /* u16-prefixed, <= IDENTITY_NAME_MAX, no NUL */
    F_PARTS,     /* data: u16-prefixed, <= PARTITIONS_MAX, no NUL */
    F_CA,        /* data: u32-prefixed, <= CLIENT_CA_MAX */
    F_NONCE,     /* data: u32-prefixed, <= NONCE_MAX */
    F_VALUE64,   /* u64 */
    F_CN,        /* name: u16-prefixed, <= CN_MAX, no NUL */
    F_CHAIN,     /* data: u32-prefixed, <= CERT_CHAIN_MAX */
    F_MESSAGE,   /* data: u16-prefixed, <= REVOKE_MESSAGE_MAX, no NUL */
} field;

#define MAX_FIELDS 5

typedef struct op_desc {
    const char *name;
    arca_lp_shape shape;
    uint8_t fields[MAX_FIELDS];
} op_desc;

static const op_desc ops[ARCA_LP_OP_MAX + 1] = {
    [ARCA_LP_INITIALISE] = {"INITIALISE", ARCA_LP_SHAPE_EMPTY, {F_PIN}},
    [ARCA_LP_LOGIN] = {"LOGIN", ARCA_LP_SHAPE_EMPTY, {F_PARTITION, F_ROLE, F_PIN}},
    [ARCA_LP_LOGOUT] = {"LOGOUT", ARCA_LP_SHAPE_EMPTY, {F_END}},
    [ARCA_LP_PARTITION_CREATE] = {"PARTITION_CREATE", ARCA_LP_SHAPE_EMPTY, {F_PARTITION, F_PIN, F_PIN2}},
    [ARCA_LP_PARTITION_LIST] = {"PARTITION_LIST", ARCA_LP_SHAPE_NAMES, {F_END}},
    [ARCA_LP_INIT_USER_PIN] = {"INIT_USER_PIN", ARCA_LP_SHAPE_EMPTY, {F_PIN}},
    [ARCA_LP_GENERATE_KEY] = {"GENERATE_KEY", ARCA_LP_SHAPE_ID, {F_MECH_TYPE, F_TMPL}},
    [ARCA_LP_GENERATE_KEY_PAIR] = {"GENERATE_KEY_PAIR", ARCA_LP_SHAPE_ID_PAIR, {F_MECH_TYPE, F_TMPL, F_TMPL2}},
    [ARCA_LP_CREATE_OBJECT] = {"CREATE_OBJECT", ARCA_LP_SHAPE_ID, {F_TMPL}},
    [ARCA_LP_FIND] = {"FIND", ARCA_LP_SHAPE_IDS, {F_TMPL, F_VALUE}},
    [ARCA_LP_GET_ATTRIBUTE] = {"GET_ATTRIBUTE", ARCA_LP_SHAPE_BYTES, {F_ID, F_VALUE}},
    [ARCA_LP_SET_ATTRIBUTES] = {"SET_ATTRIBUTES", ARCA_LP_SHAPE_EMPTY, {F_ID, F_TMPL}},
    [ARCA_LP_DESTROY] = {"DESTROY", ARCA_LP_SHAPE_EMPTY, {F_ID}},
    [ARCA_LP_ROTATE] = {"ROTATE", ARCA_LP_SHAPE_ID, {F_ID}},
    [ARCA_LP_SIGN] = {"SIGN", ARCA_LP_SHAPE_BYTES, {F_ID, F_MECH, F_DATA}},
    [ARCA_LP_VERIFY] = {"VERIFY", ARCA_LP_SHAPE_EMPTY, {F_ID, F_MECH, F_DATA, F_SIG}},
    [ARCA_LP_ENCRYPT] = {"ENCRYPT", ARCA_LP_SHAPE_BYTES, {F_ID, F_MECH, F_DATA}},
    [ARCA_LP_DECRYPT] = {"DECRYPT", ARCA_LP_SHAPE_BYTES, {F_ID, F_MECH, F_DATA}},
    [ARCA_LP_WRAP] = {"WRAP", ARCA_LP_SHAPE_BYTES, {F_ID, F_MECH, F_ID2}},
    [ARCA_LP_UNWRAP] = {"UNWRAP", ARCA_LP_SHAPE_ID, {F_ID, F_MECH, F_DATA, F_TMPL}},
    [ARCA_LP_DERIVE] = {"DERIVE", ARCA_LP_SHAPE_ID, {F_ID, F_MECH, F_TMPL}},
    [ARCA_LP_RANDOM] = {"RANDOM", ARCA_LP_SHAPE_BYTES, {F_VALUE}},
    [ARCA_LP_AUDIT_VERIFY] = {"AUDIT_VERIFY", ARCA_LP_SHAPE_U64, {F_END}},
    [ARCA_LP_STATUS] = {"STATUS", ARCA_LP_SHAPE_PAIRS, {F_END}},
    [ARCA_LP_INITIALISE_DOMAIN] = {"INITIALISE_DOMAIN", ARCA_LP_SHAPE_EMPTY, {F_PIN, F_CA}},
    [ARCA_LP_IDENTITY_PUT] = {"IDENTITY_PUT", ARCA_LP_SHAPE_EMPTY, {F_NAME, F_VALUE, F_PARTS}},
    [ARCA_LP_IDENTITY_REMOVE] = {"IDENTITY_REMOVE", ARCA_LP_SHAPE_EMPTY, {F_NAME}},
    [ARCA_LP_IDENTITY_LIST] = {"IDENTITY_LIST", ARCA_LP_SHAPE_IDENTITIES, {F_END}},
    [ARCA_LP_ATTEST] = {"ATTEST", ARCA_LP_SHAPE_BYTES, {F_NONCE}},
    [ARCA_LP_AUDIT_READ] = {"AUDIT_READ", ARCA_LP_SHAPE_RECORDS, {F_VALUE64, F_VALUE}},
    [ARCA_LP_TLS_CSR] = {"TLS_CSR", ARCA_LP_SHAPE_BYTES, {F_CN}},
    [ARCA_LP_TLS_CERT_INSTALL] = {"TLS_CERT_INSTALL", ARCA_LP_SHAPE_EMPTY, {F_CHAIN}},
    [ARCA_LP_WHOAMI] = {"WHOAMI", ARCA_LP_SHAPE_WHOAMI, {F_END}},
    [ARCA_LP_ACTIVATE] = {"ACTIVATE", ARCA_LP_SHAPE_EMPTY, {F_ID}},
    [ARCA_LP_REVOKE] = {"REVOKE", ARCA_LP_SHAPE_EMPTY, {F_ID, F_VALUE, F_MESSAGE}},
    [ARCA_LP_SELECT_PARTITION] = {"SELECT_PARTITION", ARCA_LP_SHAPE_EMPTY, {F_PARTITION}},
    [ARCA_LP_SET_PIN] = {"SET_PIN", ARCA_LP_SHAPE_EMPTY, {F_PIN, F_PIN2}},
    [ARCA_LP_INIT_TOKEN] = {"INIT_TOKEN", ARCA_LP_SHAPE_U64, {F_PARTITION, F_PIN}},
};

static const op_desc *op_lookup(uint16_t op)
{
    if (op == 0 || op > ARCA_LP_OP_MAX || ops[op].name == NULL) return NULL;
    return &ops[op];
}

arca_lp_shape arca_lp_op_shape(uint16_t op)
{
    const op_desc *d = op_lookup(op);
    return d ? d->shape : (arca_lp_shape)0;
}

const char *arca_lp_op_name(uint16_t op)
{
    const op_desc *d = op_lookup(op);
    return d ? d->name : "UNKNOWN";
}

/* ---- encoding ---- */

static arca_status add_bytes16(arca_builder *b, const arca_lp_bytes *v, size_t cap)
{
    ARCA_ENSURE(v->len <= cap, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(v->len == 0 || v->data != NULL, ARCA_ERR_ARGS);
    return arca_builder_add_u16_prefixed(b, v->data, v->len);
}

static arca_status add_bytes32(arca_builder *b, const arca_lp_bytes *v, size_t cap)
{
    ARCA_ENSURE(v->len <= cap, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(v->len == 0 || v->data != NULL, ARCA_ERR_ARGS);
    return arca_builder_add_u32_prefixed(b, v->data, v->len);
}

static arca_status add_template(arca_builder *b, const arca_lp_template *t)
{
    ARCA_ENSURE(t->num <= ARCA_LP_MAX_ATTRS, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(arca_builder_add_u32(b, (uint32_t)t->num));
    for (size_t i = 0; i < t->num; i++) {
        arca_lp_bytes v = {t->attrs[i].value, t->attrs[i].len};
        ARCA_GUARD(arca_builder_add_u32(b, t->attrs[i].type));
        ARCA_GUARD(add_bytes32(b, &v, ARCA_LP_ATTR_VALUE_MAX));
    }
    return ARCA_OK;
}

static arca_status add_mechanism(arca_builder *b, const arca_lp_mechanism *m)
{
    ARCA_GUARD(arca_builder_add_u32(b, m->type));
    ARCA_GUARD(arca_builder_add_u32(b, m->hash));
    ARCA_GUARD(arca_builder_add_u32(b, m->mgf));
    ARCA_GUARD(arca_builder_add_u32(b, m->salt_len));
    ARCA_GUARD(arca_builder_add_u32(b, m->tag_bits));
    ARCA_GUARD(add_bytes32(b, &m->iv, ARCA_LP_IV_MAX));
    ARCA_GUARD(add_bytes32(b, &m->aad, ARCA_LP_ATTR_VALUE_MAX));
    ARCA_GUARD(add_bytes32(b, &m->label, ARCA_LP_ATTR_VALUE_MAX));
    ARCA_GUARD(add_bytes32(b, &m->salt, ARCA_LP_ATTR_VALUE_MAX));
    ARCA_GUARD(add_bytes32(b, &m->info, ARCA_LP_ATTR_VALUE_MAX));
    return add_bytes32(b, &m->public_data, ARCA_LP_ATTR_VALUE_MAX);
}

static bool has_nul(const arca_lp_bytes *v)
{
    return v->len > 0 && memchr(v->data, 0, v->len) != NULL;
}

static arca_status encode_field(arca_builder *b, uint8_t f, const arca_lp_request *r)
{
    switch (f) {
    case F_PARTITION:
        ARCA_ENSURE(!has_nul(&r->partition), ARCA_ERR_ARGS);
        return add_bytes16(b, &r->partition, ARCA_LP_NAME_MAX);
    case F_ROLE:
        return arca_builder_add_u8(b, r->role);
    case F_PIN:
        ARCA_ENSURE(!has_nul(&r->pin), ARCA_ERR_ARGS);
        return add_bytes16(b, &r->pin, ARCA_LP_PIN_MAX);
    case F_PIN2:
        ARCA_ENSURE(!has_nul(&r->pin2), ARCA_ERR_ARGS);
        return add_bytes16(b, &r->pin2, ARCA_LP_PIN_MAX);
    case F_MECH_TYPE:
        return arca_builder_add_u32(b, r->mech_type);
    case F_MECH:
        return add_mechanism(b, &r->mech);
    case F_TMPL:
        return add_template(b, &r->tmpl);
    case F_TMPL2:
        return add_template(b, &r->tmpl2);
    case F_ID:
        return arca_builder_add_bytes(b, r->id, ARCA_LP_ID_LEN);
    case F_ID2:
        return arca_builder_add_bytes(b, r->id2, ARCA_LP_ID_LEN);
    case F_VALUE:
        return arca_builder_add_u32(b, r->value);
    case F_DATA:
        return add_bytes32(b, &r->data, ARCA_LP_DATA_MAX);
    case F_SIG:
        return add_bytes32(b, &r->sig, ARCA_LP_DATA_MAX);
    case F_NAME:
        ARCA_ENSURE(!has_nul(&r->name), ARCA_ERR_ARGS);
        return add_bytes16(b, &r->name, ARCA_LP_IDENTITY_NAME_MAX);
    case F_PARTS:
        ARCA_ENSURE(!has_nul(&r->data), ARCA_ERR_ARGS);
        return add_bytes16(b, &r->data, ARCA_LP_PARTITIONS_MAX);
    case F_CA:
        return add_bytes32(b, &r->data, ARCA_LP_CLIENT_CA_MAX);
    case F_NONCE:
        return add_bytes32(b, &r->data, ARCA_LP_NONCE_MAX);
    case F_VALUE64:
        return arca_builder_add_u64(b, r->value64);
    case F_CN:
        ARCA_ENSURE(!has_nul(&r->name), ARCA_ERR_ARGS);
        return add_bytes16(b, &r->name, ARCA_LP_CN_MAX);
    case F_CHAIN:
        return add_bytes32(b, &r->data, ARCA_LP_CERT_CHAIN_MAX);
    case F_MESSAGE:
        ARCA_ENSURE(!has_nul(&r->data), ARCA_ERR_ARGS);
        return add_bytes16(b, &r->data, ARCA_LP_REVOKE_MESSAGE_MAX);
    default:
        return ARCA_ERR_INTERNAL;
    }
}

arca_status arca_lp_request_encode(const arca_lp_request *req, arca_builder *b)
{
    const op_desc *d = op_lookup(req->op);
    ARCA_ENSURE(d != NULL, ARCA_ERR_ARGS);
    if (req->op == ARCA_LP_AUDIT_READ) ARCA_ENSURE(req->value <= ARCA_LP_AUDIT_READ_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(arca_builder_add_u16(b, ARCA_LP_VERSION));
    ARCA_GUARD(arca_builder_add_u16(b, req->op));
    for (size_t i = 0; i < MAX_FIELDS && d->fields[i] != F_END; i++) ARCA_GUARD(encode_field(b, d->fields[i], req));
    return ARCA_OK;
}

/* ---- decoding ---- */

static arca_status get_bytes16(arca_cursor *c, size_t cap, bool text, arca_lp_bytes *out)
{
    arca_cursor sub;
    ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &sub));
    ARCA_ENSURE(sub.len <= cap, ARCA_ERR_TOO_LARGE);
    arca_lp_bytes v = {sub.len ? sub.data : NULL, sub.len};
    ARCA_ENSURE(!text || !has_nul(&v), ARCA_ERR_DECODE);
    *out = v;
    return ARCA_OK;
}

static arca_status get_bytes32(arca_cursor *c, size_t cap, arca_lp_bytes *out)
{
    /* Check the cap before the bounds so an over-cap length is reported as
     * such even when the bytes are not there. */
    arca_cursor peek = *c;
    uint32_t len;
    ARCA_GUARD(arca_cursor_get_u32(&peek, &len));
    ARCA_ENSURE(len <= cap, ARCA_ERR_TOO_LARGE);
    arca_cursor sub;
    ARCA_GUARD(arca_cursor_get_u32_prefixed(c, &sub));
    out->data = sub.len ? sub.data : NULL;
    out->len = sub.len;
    return ARCA_OK;
}

static arca_status get_template(arca_cursor *c, arca_lp_template *t)
{
    uint32_t num;
    ARCA_GUARD(arca_cursor_get_u32(c, &num));
    ARCA_ENSURE(num <= ARCA_LP_MAX_ATTRS, ARCA_ERR_TOO_LARGE);
    for (uint32_t i = 0; i < num; i++) {
        arca_lp_bytes v;
        ARCA_GUARD(arca_cursor_get_u32(c, &t->attrs[i].type));
        ARCA_GUARD(get_bytes32(c, ARCA_LP_ATTR_VALUE_MAX, &v));
        t->attrs[i].value = v.data;
        t->attrs[i].len = v.len;
    }
    t->num = num;
    return ARCA_OK;
}

static arca_status get_mechanism(arca_cursor *c, arca_lp_mechanism *m)
{
    ARCA_GUARD(arca_cursor_get_u32(c, &m->type));
    ARCA_GUARD(arca_cursor_get_u32(c, &m->hash));
    ARCA_GUARD(arca_cursor_get_u32(c, &m->mgf));
    ARCA_GUARD(arca_cursor_get_u32(c, &m->salt_len));
    ARCA_GUARD(arca_cursor_get_u32(c, &m->tag_bits));
    ARCA_GUARD(get_bytes32(c, ARCA_LP_IV_MAX, &m->iv));
    ARCA_GUARD(get_bytes32(c, ARCA_LP_ATTR_VALUE_MAX, &m->aad));
    ARCA_GUARD(get_bytes32(c, ARCA_LP_ATTR_VALUE_MAX, &m->label));
    ARCA_GUARD(get_bytes32(c, ARCA_LP_ATTR_VALUE_MAX, &m->salt));
    ARCA_GUARD(get_bytes32(c, ARCA_LP_ATTR_VALUE_MAX, &m->info));
    return get_bytes32(c, ARCA_LP_ATTR_VALUE_MAX, &m->public_data);
}

static arca_status decode_field(arca_cursor *c, uint8_t f, arca_lp_request *r)
{
    switch (f) {
    case F_PARTITION:
        return get_bytes16(c, ARCA_LP_NAME_MAX, true, &r->partition);
    case F_ROLE:
        return arca_cursor_get_u8(c, &r->role);
    case F_PIN:
        return get_bytes16(c, ARCA_LP_PIN_MAX, true, &r->pin);
    case F_PIN2:
        return get_bytes16(c, ARCA_LP_PIN_MAX, true, &r->pin2);
    case F_MECH_TYPE:
        return arca_cursor_get_u32(c, &r->mech_type);
    case F_MECH:
        return get_mechanism(c, &r->mech);
    case F_TMPL:
        return get_template(c, &r->tmpl);
    case F_TMPL2:
        return get_template(c, &r->tmpl2);
    case F_ID:
        return arca_cursor_copy_bytes(c, r->id, ARCA_LP_ID_LEN);
    case F_ID2:
        return arca_cursor_copy_bytes(c, r->id2, ARCA_LP_ID_LEN);
    case F_VALUE:
        return arca_cursor_get_u32(c, &r->value);
    case F_DATA:
        return get_bytes32(c, ARCA_LP_DATA_MAX, &r->data);
    case F_SIG:
        return get_bytes32(c, ARCA_LP_DATA_MAX, &r->sig);
    case F_NAME:
        return get_bytes16(c, ARCA_LP_IDENTITY_NAME_MAX, true, &r->name);
    case F_PARTS:
        return get_bytes16(c, ARCA_LP_PARTITIONS_MAX, true, &r->data);
    case F_CA:
        return get_bytes32(c, ARCA_LP_CLIENT_CA_MAX, &r->data);
    case F_NONCE:
        return get_bytes32(c, ARCA_LP_NONCE_MAX, &r->data);
    case F_VALUE64:
        return arca_cursor_get_u64(c, &r->value64);
    case F_CN:
        return get_bytes16(c, ARCA_LP_CN_MAX, true, &r->name);
    case F_CHAIN:
        return get_bytes32(c, ARCA_LP_CERT_CHAIN_MAX, &r->data);
    case F_MESSAGE:
        return get_bytes16(c, ARCA_LP_REVOKE_MESSAGE_MAX, true, &r->data);
    default:
        return ARCA_ERR_INTERNAL;
    }
}

arca_status arca_lp_request_decode(arca_cursor *c, arca_lp_request *out)
{
    memset(out, 0, sizeof(*out));
    uint16_t version, op;
    ARCA_GUARD(arca_cursor_get_u16(c, &version));
    ARCA_ENSURE(version == ARCA_LP_VERSION, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16(c, &op));
    const op_desc *d = op_lookup(op);
    ARCA_ENSURE(d != NULL, ARCA_ERR_DECODE);
    out->op = op;
    for (size_t i = 0; i < MAX_FIELDS && d->fields[i] != F_END; i++) ARCA_GUARD(decode_field(c, d->fields[i], out));
    if (op == ARCA_LP_FIND) ARCA_ENSURE(out->value <= ARCA_LP_FIND_MAX, ARCA_ERR_TOO_LARGE);
    if (op == ARCA_LP_RANDOM) ARCA_ENSURE(out->value <= ARCA_LP_DATA_MAX, ARCA_ERR_TOO_LARGE);
    if (op == ARCA_LP_AUDIT_READ) ARCA_ENSURE(out->value <= ARCA_LP_AUDIT_READ_MAX, ARCA_ERR_TOO_LARGE);
    return arca_cursor_finish(c);
}

/* ---- responses ---- */

arca_status arca_lp_response_begin(arca_builder *b)
{
    return arca_builder_add_u32(b, ARCA_OK);
}

arca_status arca_lp_response_error(arca_builder *b, arca_status st, const char *message)
{
    ARCA_ENSURE(st != ARCA_OK, ARCA_ERR_ARGS);
    if (message == NULL) message = arca_status_message(st);
    size_t n = strnlen(message, ARCA_LP_MESSAGE_MAX);
    ARCA_GUARD(arca_builder_add_u32(b, (uint32_t)st));
    return arca_builder_add_u16_prefixed(b, message, n);
}

/* ---- list items ---- */

static arca_status get_text16(arca_cursor *c, arca_lp_bytes *out)
{
    arca_cursor sub;
    ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &sub));
    out->data = sub.len ? sub.data : NULL;
    out->len = sub.len;
    return ARCA_OK;
}

arca_status arca_lp_identity_next(arca_cursor *list, arca_lp_identity *out)
{
    memset(out, 0, sizeof(*out));
    ARCA_GUARD(get_bytes16(list, ARCA_LP_IDENTITY_NAME_MAX, true, &out->name));
    ARCA_GUARD(arca_cursor_get_u32(list, &out->roles));
    return get_bytes16(list, ARCA_LP_PARTITIONS_MAX, true, &out->partitions);
}

arca_status arca_lp_record_next(arca_cursor *list, arca_lp_record *out)
{
    memset(out, 0, sizeof(*out));
    ARCA_GUARD(arca_cursor_get_u64(list, &out->seq));
    ARCA_GUARD(arca_cursor_get_u64(list, &out->time_ms));
    ARCA_GUARD(get_text16(list, &out->actor));
    ARCA_GUARD(get_text16(list, &out->event));
    ARCA_GUARD(arca_cursor_get_u32(list, &out->status));
    ARCA_GUARD(get_text16(list, &out->object));
    return get_text16(list, &out->detail);
}

arca_status arca_lp_identity_add(arca_builder *b, const arca_lp_identity *item)
{
    ARCA_GUARD(add_bytes16(b, &item->name, ARCA_LP_IDENTITY_NAME_MAX));
    ARCA_GUARD(arca_builder_add_u32(b, item->roles));
    return add_bytes16(b, &item->partitions, ARCA_LP_PARTITIONS_MAX);
}

arca_status arca_lp_record_add(arca_builder *b, const arca_lp_record *item)
{
    ARCA_GUARD(arca_builder_add_u64(b, item->seq));
    ARCA_GUARD(arca_builder_add_u64(b, item->time_ms));
    ARCA_GUARD(add_bytes16(b, &item->actor, UINT16_MAX));
    ARCA_GUARD(add_bytes16(b, &item->event, UINT16_MAX));
    ARCA_GUARD(arca_builder_add_u32(b, item->status));
    ARCA_GUARD(add_bytes16(b, &item->object, UINT16_MAX));
    return add_bytes16(b, &item->detail, UINT16_MAX);
}

arca_status arca_lp_whoami_add(arca_builder *b, const arca_lp_identity *identity, uint8_t role,
                               const arca_lp_bytes *partition)
{
    ARCA_GUARD(arca_lp_identity_add(b, identity));
    ARCA_GUARD(arca_builder_add_u8(b, role));
    return add_bytes16(b, partition, ARCA_LP_NAME_MAX);
}

static uint32_t list_cap(arca_lp_shape shape)
{
    switch (shape) {
    case ARCA_LP_SHAPE_IDS:
        return ARCA_LP_FIND_MAX;
    case ARCA_LP_SHAPE_IDENTITIES:
        return ARCA_LP_IDENTITIES_MAX;
    case ARCA_LP_SHAPE_RECORDS:
        return ARCA_LP_AUDIT_READ_MAX;
    default:
        return 65536u;
    }
}

static arca_status check_list(arca_cursor *c, arca_lp_shape shape, arca_lp_response *out)
{
    uint32_t num;
    ARCA_GUARD(arca_cursor_get_u32(c, &num));
    ARCA_ENSURE(num <= list_cap(shape), ARCA_ERR_TOO_LARGE);
    arca_cursor items = *c;
    for (uint32_t i = 0; i < num; i++) {
        arca_cursor sub;
        arca_lp_identity ident;
        arca_lp_record rec;
        switch (shape) {
        case ARCA_LP_SHAPE_IDENTITIES:
            ARCA_GUARD(arca_lp_identity_next(c, &ident));
            break;
        case ARCA_LP_SHAPE_RECORDS:
            ARCA_GUARD(arca_lp_record_next(c, &rec));
            break;
        case ARCA_LP_SHAPE_IDS:
            ARCA_GUARD(arca_cursor_skip(c, ARCA_LP_ID_LEN));
            break;
        case ARCA_LP_SHAPE_NAMES:
            ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &sub));
            break;
        case ARCA_LP_SHAPE_PAIRS:
            ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &sub));
            ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &sub));
            break;
        default:
            return ARCA_ERR_INTERNAL;
        }
    }
    items.len -= arca_cursor_remaining(c);
    out->list = items;
    out->num_items = num;
    return ARCA_OK;
}

arca_status arca_lp_response_decode(arca_cursor *c, uint16_t op, arca_lp_response *out)
{
    memset(out, 0, sizeof(*out));
    arca_lp_shape shape = arca_lp_op_shape(op);
    ARCA_ENSURE(shape != 0, ARCA_ERR_ARGS);
    uint32_t status;
    ARCA_GUARD(arca_cursor_get_u32(c, &status));
    ARCA_ENSURE(status < ARCA_STATUS_COUNT, ARCA_ERR_DECODE);
    if (status != ARCA_OK) {
        ARCA_GUARD(get_bytes16(c, ARCA_LP_MESSAGE_MAX, true, &out->message));
        ARCA_GUARD(arca_cursor_finish(c));
        out->status = status;
        return ARCA_OK;
    }
    switch (shape) {
    case ARCA_LP_SHAPE_EMPTY:
        break;
    case ARCA_LP_SHAPE_ID:
        ARCA_GUARD(arca_cursor_copy_bytes(c, out->id, ARCA_LP_ID_LEN));
        break;
    case ARCA_LP_SHAPE_ID_PAIR:
        ARCA_GUARD(arca_cursor_copy_bytes(c, out->id, ARCA_LP_ID_LEN));
        ARCA_GUARD(arca_cursor_copy_bytes(c, out->id2, ARCA_LP_ID_LEN));
        break;
    case ARCA_LP_SHAPE_BYTES:
        ARCA_GUARD(get_bytes32(c, ARCA_LP_FRAME_MAX, &out->data));
        break;
    case ARCA_LP_SHAPE_U64:
        ARCA_GUARD(arca_cursor_get_u64(c, &out->u64));
        break;
    case ARCA_LP_SHAPE_IDS:
    case ARCA_LP_SHAPE_NAMES:
    case ARCA_LP_SHAPE_PAIRS:
    case ARCA_LP_SHAPE_IDENTITIES:
    case ARCA_LP_SHAPE_RECORDS:
        ARCA_GUARD(check_list(c, shape, out));
        break;
    case ARCA_LP_SHAPE_WHOAMI:
        ARCA_GUARD(arca_lp_identity_next(c, &out->identity));
        ARCA_GUARD(arca_cursor_get_u8(c, &out->role));
        ARCA_GUARD(get_bytes16(c, ARCA_LP_NAME_MAX, true, &out->partition));
        break;
    default:
        return ARCA_ERR_INTERNAL;
    }
    ARCA_GUARD(arca_cursor_finish(c));
    out->status = ARCA_OK;
    return ARCA_OK;
}

/* ---- frames ---- */

static arca_status write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK) w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return ARCA_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return ARCA_OK;
}

arca_status arca_lp_frame_write(int fd, const uint8_t *payload, size_t len)
{
    ARCA_ENSURE(len <= ARCA_LP_FRAME_MAX, ARCA_ERR_FRAME_SIZE);
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    ARCA_GUARD(write_all(fd, hdr, sizeof(hdr)));
    return len ? write_all(fd, payload, len) : ARCA_OK;
}

/* Read exactly n bytes. *got counts what arrived (to tell a clean close). */
static arca_status read_all(int fd, uint8_t *p, size_t n, int timeout_ms, size_t *got)
{
    *got = 0;
    while (*got < n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0) {
            if (errno == EINTR) continue;
            return ARCA_ERR_IO;
        }
        if (pr == 0) return ARCA_ERR_TIMEOUT;
        ssize_t r = read(fd, p + *got, n - *got);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return ARCA_ERR_IO;
        }
        if (r == 0) return *got == 0 ? ARCA_ERR_CHANNEL : ARCA_ERR_IO;
        *got += (size_t)r;
    }
    return ARCA_OK;
}

arca_status arca_lp_frame_read(int fd, size_t max_len, int timeout_ms, bool secret, uint8_t **out, size_t *out_len)
{
    uint8_t hdr[4];
    size_t got;
    arca_status st = read_all(fd, hdr, sizeof(hdr), timeout_ms, &got);
    if (st == ARCA_ERR_CHANNEL && got != 0) st = ARCA_ERR_IO;
    ARCA_GUARD(st);
    size_t len = ((size_t)hdr[0] << 24) | ((size_t)hdr[1] << 16) | ((size_t)hdr[2] << 8) | hdr[3];
    ARCA_ENSURE(len <= max_len && len <= ARCA_LP_FRAME_MAX, ARCA_ERR_FRAME_SIZE);
    if (len == 0) {
        *out = NULL;
        *out_len = 0;
        return ARCA_OK;
    }
    uint8_t *buf = secret ? arca_secmem_alloc(len) : malloc(len);
    ARCA_ENSURE(buf != NULL, ARCA_ERR_NOMEM);
    st = read_all(fd, buf, len, timeout_ms, &got);
    if (st == ARCA_ERR_CHANNEL) st = ARCA_ERR_IO; /* EOF mid-frame */
    if (st != ARCA_OK) {
        if (secret) {
            arca_secmem_free(buf);
        } else {
            arca_wipe(buf, len);
            free(buf);
        }
        return st;
    }
    *out = buf;
    *out_len = len;
    return ARCA_OK;
}
