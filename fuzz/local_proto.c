/* libFuzzer target: the local request protocol (local_proto.h), both
 * directions: the request decoder the enclave runs on every client request,
 * and the response decoder the client library runs on every answer.
 *
 * Input: byte 0 picks the decoder (even: request; odd: response, with
 * byte 1 choosing the op the response answers, 0..ARCA_LP_OP_MAX + 1 so
 * that unknown ops are tried too); the rest is the payload. Whatever
 * decodes must re-encode to exactly the input bytes (the encodings are
 * canonical), and decoding that again must give the same values. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/local_proto.h"
#include "fuzz_check.h"

static bool same(const arca_lp_bytes *a, const arca_lp_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static bool same_template(const arca_lp_template *a, const arca_lp_template *b)
{
    if (a->num != b->num) return false;
    for (size_t i = 0; i < a->num; i++) {
        arca_lp_bytes va = {a->attrs[i].value, a->attrs[i].len}, vb = {b->attrs[i].value, b->attrs[i].len};
        if (a->attrs[i].type != b->attrs[i].type || !same(&va, &vb)) return false;
    }
    return true;
}

static bool same_mechanism(const arca_lp_mechanism *a, const arca_lp_mechanism *b)
{
    return a->type == b->type && a->hash == b->hash && a->mgf == b->mgf && a->salt_len == b->salt_len &&
           a->tag_bits == b->tag_bits && same(&a->iv, &b->iv) && same(&a->aad, &b->aad) &&
           same(&a->label, &b->label) && same(&a->salt, &b->salt) && same(&a->info, &b->info) &&
           same(&a->public_data, &b->public_data);
}

static bool same_request(const arca_lp_request *a, const arca_lp_request *b)
{
    return a->op == b->op && same(&a->partition, &b->partition) && a->role == b->role && same(&a->pin, &b->pin) &&
           same(&a->pin2, &b->pin2) && a->mech_type == b->mech_type && same_mechanism(&a->mech, &b->mech) &&
           same_template(&a->tmpl, &b->tmpl) && same_template(&a->tmpl2, &b->tmpl2) &&
           memcmp(a->id, b->id, ARCA_LP_ID_LEN) == 0 && memcmp(a->id2, b->id2, ARCA_LP_ID_LEN) == 0 &&
           a->value == b->value && same(&a->data, &b->data) && same(&a->sig, &b->sig) && same(&a->name, &b->name) &&
           a->value64 == b->value64;
}

/* Finish b and require exactly data; returns the encoding (caller frees). */
static uint8_t *check_same(arca_builder *b, const uint8_t *data, size_t len)
{
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    CHECK(arca_builder_finish(b, &enc, &enc_len) == ARCA_OK);
    CHECK(enc_len == len && (len == 0 || memcmp(enc, data, len) == 0));
    return enc;
}

static void fuzz_request(const uint8_t *data, size_t len)
{
    arca_cursor c;
    arca_lp_request *r = malloc(sizeof *r), *r2 = malloc(sizeof *r2);
    CHECK(r != NULL && r2 != NULL);
    arca_cursor_init(&c, data, len);
    arca_status st = arca_lp_request_decode(&c, r);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_TOO_LARGE);
        goto out;
    }
    CHECK(arca_lp_op_shape(r->op) != 0);
    CHECK(r->tmpl.num <= ARCA_LP_MAX_ATTRS && r->tmpl2.num <= ARCA_LP_MAX_ATTRS);
    CHECK(r->pin.len <= ARCA_LP_PIN_MAX && r->pin2.len <= ARCA_LP_PIN_MAX && r->partition.len <= ARCA_LP_NAME_MAX);
    CHECK(r->data.len <= ARCA_LP_DATA_MAX && r->sig.len <= ARCA_LP_DATA_MAX);
    CHECK(r->mech.iv.len <= ARCA_LP_IV_MAX);

    arca_builder b;
    CHECK(arca_builder_init(&b, 0, ARCA_LP_FRAME_MAX + 4096u) == ARCA_OK);
    CHECK(arca_lp_request_encode(r, &b) == ARCA_OK);
    uint8_t *enc = check_same(&b, data, len);
    arca_cursor_init(&c, enc, len);
    CHECK(arca_lp_request_decode(&c, r2) == ARCA_OK);
    CHECK(same_request(r, r2));
    free(enc);
out:
    free(r);
    free(r2);
}

/* Walk a validated list the way the client does: exactly num_items items,
 * nothing left over. */
static void check_list(arca_lp_shape shape, const arca_lp_response *r)
{
    arca_cursor c = r->list, sub;
    arca_lp_identity ident;
    arca_lp_record rec;
    for (uint32_t i = 0; i < r->num_items; i++) {
        switch (shape) {
        case ARCA_LP_SHAPE_IDENTITIES:
            CHECK(arca_lp_identity_next(&c, &ident) == ARCA_OK);
            break;
        case ARCA_LP_SHAPE_RECORDS:
            CHECK(arca_lp_record_next(&c, &rec) == ARCA_OK);
            break;
        case ARCA_LP_SHAPE_IDS:
            CHECK(arca_cursor_skip(&c, ARCA_LP_ID_LEN) == ARCA_OK);
            break;
        case ARCA_LP_SHAPE_NAMES:
            CHECK(arca_cursor_get_u16_prefixed(&c, &sub) == ARCA_OK);
            break;
        case ARCA_LP_SHAPE_PAIRS:
            CHECK(arca_cursor_get_u16_prefixed(&c, &sub) == ARCA_OK);
            CHECK(arca_cursor_get_u16_prefixed(&c, &sub) == ARCA_OK);
            break;
        default:
            abort();
        }
    }
    CHECK(arca_cursor_finish(&c) == ARCA_OK);
}

/* The response encoder is the status header (begin / error) plus the body
 * the enclave writes per shape; rebuild it from the decoded values. */
static void encode_response(uint16_t op, const arca_lp_response *r, arca_builder *b)
{
    if (r->status != ARCA_OK) {
        char msg[ARCA_LP_MESSAGE_MAX + 1];
        CHECK(r->message.len <= ARCA_LP_MESSAGE_MAX);
        if (r->message.len) memcpy(msg, r->message.data, r->message.len);
        msg[r->message.len] = '\0';
        CHECK(arca_lp_response_error(b, (arca_status)r->status, msg) == ARCA_OK);
        return;
    }
    CHECK(arca_lp_response_begin(b) == ARCA_OK);
    arca_lp_shape shape = arca_lp_op_shape(op);
    switch (shape) {
    case ARCA_LP_SHAPE_EMPTY:
        break;
    case ARCA_LP_SHAPE_ID:
        CHECK(arca_builder_add_bytes(b, r->id, ARCA_LP_ID_LEN) == ARCA_OK);
        break;
    case ARCA_LP_SHAPE_ID_PAIR:
        CHECK(arca_builder_add_bytes(b, r->id, ARCA_LP_ID_LEN) == ARCA_OK);
        CHECK(arca_builder_add_bytes(b, r->id2, ARCA_LP_ID_LEN) == ARCA_OK);
        break;
    case ARCA_LP_SHAPE_BYTES:
        CHECK(arca_builder_add_u32_prefixed(b, r->data.data, r->data.len) == ARCA_OK);
        break;
    case ARCA_LP_SHAPE_U64:
        CHECK(arca_builder_add_u64(b, r->u64) == ARCA_OK);
        break;
    case ARCA_LP_SHAPE_IDS:
    case ARCA_LP_SHAPE_NAMES:
    case ARCA_LP_SHAPE_PAIRS:
    case ARCA_LP_SHAPE_IDENTITIES:
    case ARCA_LP_SHAPE_RECORDS:
        check_list(shape, r);
        CHECK(arca_builder_add_u32(b, r->num_items) == ARCA_OK);
        CHECK(arca_builder_add_bytes(b, r->list.data, r->list.len) == ARCA_OK);
        break;
    case ARCA_LP_SHAPE_WHOAMI:
        CHECK(arca_lp_whoami_add(b, &r->identity, r->role, &r->partition) == ARCA_OK);
        break;
    default:
        abort();
    }
}

static bool same_response(const arca_lp_response *a, const arca_lp_response *b)
{
    return a->status == b->status && same(&a->message, &b->message) && memcmp(a->id, b->id, ARCA_LP_ID_LEN) == 0 &&
           memcmp(a->id2, b->id2, ARCA_LP_ID_LEN) == 0 && same(&a->data, &b->data) && a->u64 == b->u64 &&
           a->num_items == b->num_items && a->list.len == b->list.len &&
           (a->list.len == 0 || memcmp(a->list.data, b->list.data, a->list.len) == 0);
}

static void fuzz_response(uint16_t op, const uint8_t *data, size_t len)
{
    arca_cursor c;
    arca_lp_response r, r2;
    arca_cursor_init(&c, data, len);
    arca_status st = arca_lp_response_decode(&c, op, &r);
    if (arca_lp_op_shape(op) == 0) {
        CHECK(st == ARCA_ERR_ARGS);
        return;
    }
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_TOO_LARGE);
        return;
    }
    CHECK(r.status < ARCA_STATUS_COUNT);
    CHECK(r.status == ARCA_OK || r.message.len <= ARCA_LP_MESSAGE_MAX);

    arca_builder b;
    CHECK(arca_builder_init(&b, 0, ARCA_LP_FRAME_MAX + 4096u) == ARCA_OK);
    encode_response(op, &r, &b);
    uint8_t *enc = check_same(&b, data, len);
    arca_cursor_init(&c, enc, len);
    CHECK(arca_lp_response_decode(&c, op, &r2) == ARCA_OK);
    CHECK(same_response(&r, &r2));
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1) return 0;
    if ((data[0] & 1u) == 0) {
        fuzz_request(data + 1, len - 1);
        return 0;
    }
    if (len < 2) return 0;
    fuzz_response((uint16_t)(data[1] % (ARCA_LP_OP_MAX + 2u)), data + 2, len - 2);
    return 0;
}
