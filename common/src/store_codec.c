/* Store OCALL payload codec (see store_api.h and docs/channel.md).
 *
 *   GET req     u8 db | u16-prefixed key
 *   COMMIT req  u32 num | num x (u8 kind | u8 db | u16-prefixed key |
 *                                u32-prefixed value (empty for DEL))
 *   SCAN req    u8 db | u16-prefixed prefix | u16-prefixed after |
 *               u32 limit | u8 flags (bit 0 with_values, bit 1 reverse)
 *   SCAN reply  u32 count | count x (u16-prefixed key | u32-prefixed value)
 *
 * Limits, identical on encode and decode: keys 1..ARCA_STORE_MAX_KEY bytes
 * (a scan prefix or `after` may be empty), values up to
 * ARCA_STORE_MAX_VALUE, 1..ARCA_STORE_MAX_OPS ops per commit, scan limit
 * 1..ARCA_STORE_MAX_SCAN. Exceeding a cap is ARCA_ERR_TOO_LARGE; any other
 * bad value is ARCA_ERR_DECODE when decoding and ARCA_ERR_ARGS when
 * encoding. Decoders consume the whole cursor (trailing bytes are
 * ARCA_ERR_DECODE) and move it only on success. */
#include "arca/store_api.h"

#include <stdlib.h>
#include <string.h>

#define SCAN_FLAG_VALUES 0x01u
#define SCAN_FLAG_REVERSE 0x02u
#define MIN_OP_LEN 9u    /* kind, db, u16 len, 1-byte key, u32 len */
#define MIN_ENTRY_LEN 7u /* u16 len, 1-byte key, u32 len */

void arca_store_entries_free(arca_store_entry *entries, size_t num)
{
    if (entries == NULL) return;
    for (size_t i = 0; i < num; i++) {
        free(entries[i].key);
        free(entries[i].val);
    }
    free(entries);
}

bool arca_store_db_valid(uint8_t db)
{
    switch (db) {
    case ARCA_DB_BLOBS:
    case ARCA_DB_INDEX:
    case ARCA_DB_AUDIT:
    case ARCA_DB_STATE:
        return true;
    default:
        return false;
    }
}

/* ---- shared field checks ------------------------------------------- */

static arca_status check_key(size_t len, bool may_be_empty, arca_status bad)
{
    ARCA_ENSURE(len <= ARCA_STORE_MAX_KEY, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(len > 0 || may_be_empty, bad);
    return ARCA_OK;
}

static arca_status read_key(arca_cursor *c, bool may_be_empty, const uint8_t **out, size_t *out_len)
{
    arca_cursor f;
    ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &f));
    size_t n = arca_cursor_remaining(&f);
    ARCA_GUARD(check_key(n, may_be_empty, ARCA_ERR_DECODE));
    ARCA_GUARD(arca_cursor_get_bytes(&f, n, out));
    *out_len = n;
    return ARCA_OK;
}

static arca_status read_value(arca_cursor *c, const uint8_t **out, size_t *out_len)
{
    arca_cursor f;
    ARCA_GUARD(arca_cursor_get_u32_prefixed(c, &f));
    size_t n = arca_cursor_remaining(&f);
    ARCA_ENSURE(n <= ARCA_STORE_MAX_VALUE, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(arca_cursor_get_bytes(&f, n, out));
    *out_len = n;
    return ARCA_OK;
}

static arca_status read_db(arca_cursor *c, uint8_t *out)
{
    uint8_t db;
    ARCA_GUARD(arca_cursor_get_u8(c, &db));
    ARCA_ENSURE(arca_store_db_valid(db), ARCA_ERR_DECODE);
    *out = db;
    return ARCA_OK;
}

/* ---- GET ------------------------------------------------------------- */

arca_status arca_store_get_req_encode(arca_builder *b, uint8_t db, const uint8_t *key, size_t key_len)
{
    ARCA_ENSURE(b != NULL && arca_store_db_valid(db) && (key != NULL || key_len == 0), ARCA_ERR_ARGS);
    ARCA_GUARD(check_key(key_len, false, ARCA_ERR_ARGS));
    ARCA_GUARD(arca_builder_add_u8(b, db));
    return arca_builder_add_u16_prefixed(b, key, key_len);
}

arca_status arca_store_get_req_decode(arca_cursor *c, uint8_t *out_db, const uint8_t **out_key, size_t *out_key_len)
{
    ARCA_ENSURE(c != NULL && out_db != NULL && out_key != NULL && out_key_len != NULL, ARCA_ERR_ARGS);
    arca_cursor tmp = *c;
    uint8_t db;
    const uint8_t *key;
    size_t key_len;
    ARCA_GUARD(read_db(&tmp, &db));
    ARCA_GUARD(read_key(&tmp, false, &key, &key_len));
    ARCA_GUARD(arca_cursor_finish(&tmp));
    *out_db = db;
    *out_key = key;
    *out_key_len = key_len;
    *c = tmp;
    return ARCA_OK;
}

/* ---- COMMIT ---------------------------------------------------------- */

arca_status arca_store_commit_req_encode(arca_builder *b, const arca_store_op *ops, size_t num_ops)
{
    ARCA_ENSURE(b != NULL && ops != NULL && num_ops > 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(num_ops <= ARCA_STORE_MAX_OPS, ARCA_ERR_TOO_LARGE);
    for (size_t i = 0; i < num_ops; i++) {
        const arca_store_op *op = &ops[i];
        ARCA_ENSURE(op->kind == ARCA_STORE_PUT || op->kind == ARCA_STORE_DEL, ARCA_ERR_ARGS);
        ARCA_ENSURE(arca_store_db_valid(op->db), ARCA_ERR_ARGS);
        ARCA_ENSURE(op->key != NULL || op->key_len == 0, ARCA_ERR_ARGS);
        ARCA_GUARD(check_key(op->key_len, false, ARCA_ERR_ARGS));
        size_t val_len = op->kind == ARCA_STORE_PUT ? op->val_len : 0;
        ARCA_ENSURE(val_len == 0 || op->val != NULL, ARCA_ERR_ARGS);
        ARCA_ENSURE(val_len <= ARCA_STORE_MAX_VALUE, ARCA_ERR_TOO_LARGE);
    }
    ARCA_GUARD(arca_builder_add_u32(b, (uint32_t)num_ops));
    for (size_t i = 0; i < num_ops; i++) {
        const arca_store_op *op = &ops[i];
        bool put = op->kind == ARCA_STORE_PUT;
        ARCA_GUARD(arca_builder_add_u8(b, op->kind));
        ARCA_GUARD(arca_builder_add_u8(b, op->db));
        ARCA_GUARD(arca_builder_add_u16_prefixed(b, op->key, op->key_len));
        ARCA_GUARD(arca_builder_add_u32_prefixed(b, put ? op->val : NULL, put ? op->val_len : 0));
    }
    return ARCA_OK;
}

arca_status arca_store_commit_req_decode(arca_cursor *c, arca_store_op **out_ops, size_t *out_num)
{
    ARCA_ENSURE(c != NULL && out_ops != NULL && out_num != NULL, ARCA_ERR_ARGS);
    arca_status st;
    arca_cursor tmp = *c;
    arca_store_op *ops = NULL;
    uint32_t num;

    ARCA_GUARD_OUT(arca_cursor_get_u32(&tmp, &num));
    ARCA_ENSURE_OUT(num > 0, ARCA_ERR_DECODE);
    ARCA_ENSURE_OUT(num <= ARCA_STORE_MAX_OPS, ARCA_ERR_TOO_LARGE);
    /* A count the bytes cannot hold is malformed; do not allocate for it. */
    ARCA_ENSURE_OUT((size_t)num * MIN_OP_LEN <= arca_cursor_remaining(&tmp), ARCA_ERR_DECODE);
    ops = calloc(num, sizeof(*ops));
    ARCA_ENSURE_OUT(ops != NULL, ARCA_ERR_NOMEM);
    for (uint32_t i = 0; i < num; i++) {
        arca_store_op *op = &ops[i];
        ARCA_GUARD_OUT(arca_cursor_get_u8(&tmp, &op->kind));
        ARCA_ENSURE_OUT(op->kind == ARCA_STORE_PUT || op->kind == ARCA_STORE_DEL, ARCA_ERR_DECODE);
        ARCA_GUARD_OUT(read_db(&tmp, &op->db));
        ARCA_GUARD_OUT(read_key(&tmp, false, &op->key, &op->key_len));
        ARCA_GUARD_OUT(read_value(&tmp, &op->val, &op->val_len));
        if (op->kind == ARCA_STORE_DEL) {
            ARCA_ENSURE_OUT(op->val_len == 0, ARCA_ERR_DECODE);
            op->val = NULL;
        }
    }
    ARCA_GUARD_OUT(arca_cursor_finish(&tmp));
    *out_ops = ops;
    *out_num = num;
    *c = tmp;
    return ARCA_OK;

out:
    free(ops);
    return st;
}

/* ---- SCAN ------------------------------------------------------------ */

arca_status arca_store_scan_req_encode(arca_builder *b, const arca_store_scan_req *r)
{
    ARCA_ENSURE(b != NULL && r != NULL && arca_store_db_valid(r->db), ARCA_ERR_ARGS);
    ARCA_ENSURE(r->prefix != NULL || r->prefix_len == 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(r->after != NULL || r->after_len == 0, ARCA_ERR_ARGS);
    ARCA_GUARD(check_key(r->prefix_len, true, ARCA_ERR_ARGS));
    ARCA_GUARD(check_key(r->after_len, true, ARCA_ERR_ARGS));
    ARCA_ENSURE(r->limit > 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(r->limit <= ARCA_STORE_MAX_SCAN, ARCA_ERR_TOO_LARGE);
    uint8_t flags = (uint8_t)((r->with_values ? SCAN_FLAG_VALUES : 0u) | (r->reverse ? SCAN_FLAG_REVERSE : 0u));
    ARCA_GUARD(arca_builder_add_u8(b, r->db));
    ARCA_GUARD(arca_builder_add_u16_prefixed(b, r->prefix, r->prefix_len));
    ARCA_GUARD(arca_builder_add_u16_prefixed(b, r->after, r->after_len));
    ARCA_GUARD(arca_builder_add_u32(b, r->limit));
    return arca_builder_add_u8(b, flags);
}

arca_status arca_store_scan_req_decode(arca_cursor *c, arca_store_scan_req *out)
{
    ARCA_ENSURE(c != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_cursor tmp = *c;
    arca_store_scan_req r;
    uint8_t flags;
    ARCA_GUARD(read_db(&tmp, &r.db));
    ARCA_GUARD(read_key(&tmp, true, &r.prefix, &r.prefix_len));
    ARCA_GUARD(read_key(&tmp, true, &r.after, &r.after_len));
    ARCA_GUARD(arca_cursor_get_u32(&tmp, &r.limit));
    ARCA_GUARD(arca_cursor_get_u8(&tmp, &flags));
    ARCA_GUARD(arca_cursor_finish(&tmp));
    ARCA_ENSURE(r.limit > 0, ARCA_ERR_DECODE);
    ARCA_ENSURE(r.limit <= ARCA_STORE_MAX_SCAN, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE((flags & ~(SCAN_FLAG_VALUES | SCAN_FLAG_REVERSE)) == 0, ARCA_ERR_DECODE);
    r.with_values = (flags & SCAN_FLAG_VALUES) != 0;
    r.reverse = (flags & SCAN_FLAG_REVERSE) != 0;
    *out = r;
    *c = tmp;
    return ARCA_OK;
}

arca_status arca_store_scan_reply_encode(arca_builder *b, const arca_store_entry *e, size_t num)
{
    ARCA_ENSURE(b != NULL && (e != NULL || num == 0), ARCA_ERR_ARGS);
    ARCA_ENSURE(num <= ARCA_STORE_MAX_SCAN, ARCA_ERR_TOO_LARGE);
    for (size_t i = 0; i < num; i++) {
        ARCA_ENSURE(e[i].key != NULL || e[i].key_len == 0, ARCA_ERR_ARGS);
        ARCA_GUARD(check_key(e[i].key_len, false, ARCA_ERR_ARGS));
        ARCA_ENSURE(e[i].val != NULL || e[i].val_len == 0, ARCA_ERR_ARGS);
        ARCA_ENSURE(e[i].val_len <= ARCA_STORE_MAX_VALUE, ARCA_ERR_TOO_LARGE);
    }
    ARCA_GUARD(arca_builder_add_u32(b, (uint32_t)num));
    for (size_t i = 0; i < num; i++) {
        ARCA_GUARD(arca_builder_add_u16_prefixed(b, e[i].key, e[i].key_len));
        ARCA_GUARD(arca_builder_add_u32_prefixed(b, e[i].val, e[i].val_len));
    }
    return ARCA_OK;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n);
    if (d != NULL) memcpy(d, p, n);
    return d;
}

arca_status arca_store_scan_reply_decode(arca_cursor *c, uint32_t limit, arca_store_entry **out, size_t *out_num)
{
    ARCA_ENSURE(c != NULL && out != NULL && out_num != NULL, ARCA_ERR_ARGS);
    arca_status st;
    arca_cursor tmp = *c;
    arca_store_entry *entries = NULL;
    uint32_t count = 0;
    uint32_t filled = 0;

    ARCA_GUARD_OUT(arca_cursor_get_u32(&tmp, &count));
    ARCA_ENSURE_OUT(count <= limit && count <= ARCA_STORE_MAX_SCAN, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE_OUT((size_t)count * MIN_ENTRY_LEN <= arca_cursor_remaining(&tmp), ARCA_ERR_DECODE);
    if (count > 0) {
        entries = calloc(count, sizeof(*entries));
        ARCA_ENSURE_OUT(entries != NULL, ARCA_ERR_NOMEM);
    }
    for (; filled < count; filled++) {
        const uint8_t *key, *val;
        size_t key_len, val_len;
        ARCA_GUARD_OUT(read_key(&tmp, false, &key, &key_len));
        ARCA_GUARD_OUT(read_value(&tmp, &val, &val_len));
        arca_store_entry *e = &entries[filled];
        e->key = dup_bytes(key, key_len);
        ARCA_ENSURE_OUT(e->key != NULL, ARCA_ERR_NOMEM);
        e->key_len = key_len;
        if (val_len > 0) {
            /* An empty value decodes as val NULL, val_len 0. */
            e->val = dup_bytes(val, val_len);
            ARCA_ENSURE_OUT(e->val != NULL, ARCA_ERR_NOMEM);
            e->val_len = val_len;
        }
    }
    ARCA_GUARD_OUT(arca_cursor_finish(&tmp));
    *out = entries;
    *out_num = count;
    *c = tmp;
    return ARCA_OK;

out:
    /* calloc'd: entries past `filled` are zero, so freeing all is safe. */
    arca_store_entries_free(entries, count);
    return st;
}
