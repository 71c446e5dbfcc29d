/* The storage interface the enclave sees, and the codec of its OCALLs.
 *
 * arcad implements it over LMDB; inside arca-enclave it is a proxy that
 * sends OCALLs over the host channel; unit tests plug LMDB in directly.
 * The store only ever holds what the enclave hands it: sealed blobs, blind
 * indexes, audit records and sealed state. Nothing it returns is trusted. */
#ifndef ARCA_STORE_API_H
#define ARCA_STORE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/status.h"

/* Named sub-databases of the one LMDB environment. */
typedef enum arca_store_db {
    ARCA_DB_BLOBS = 1, /* object id (16) -> sealed object blob */
    ARCA_DB_INDEX = 2, /* blind index (32) || object id (16) -> empty */
    ARCA_DB_AUDIT = 3, /* sequence (u64 BE) -> audit record */
    ARCA_DB_STATE = 4, /* name -> sealed state (partitions, appliance config, heads) */
} arca_store_db;

#define ARCA_STORE_MAX_KEY 511u         /* LMDB's default key limit */
#define ARCA_STORE_MAX_VALUE (1u << 20) /* 1 MiB per value */
#define ARCA_STORE_MAX_OPS 1024u        /* per commit */
#define ARCA_STORE_MAX_SCAN 4096u       /* entries per scan reply */

typedef enum arca_store_op_kind {
    ARCA_STORE_PUT = 1,
    ARCA_STORE_DEL = 2, /* deleting a missing key is not an error */
} arca_store_op_kind;

typedef struct arca_store_op {
    uint8_t kind; /* arca_store_op_kind */
    uint8_t db;   /* arca_store_db */
    const uint8_t *key;
    size_t key_len;
    const uint8_t *val; /* PUT only */
    size_t val_len;
} arca_store_op;

typedef struct arca_store_entry {
    uint8_t *key; /* owned by the array returned from scan */
    size_t key_len;
    uint8_t *val; /* NULL unless values were asked for */
    size_t val_len;
} arca_store_entry;

typedef struct arca_store_ops {
    void *ctx;
    /* Fetch one value. ARCA_ERR_NOT_FOUND if absent. *out_val is malloc'd. */
    arca_status (*get)(void *ctx, uint8_t db, const uint8_t *key, size_t key_len, uint8_t **out_val,
                       size_t *out_len);
    /* Apply all ops in one durable transaction: all or nothing, synced to
     * disk before it returns ARCA_OK. */
    arca_status (*commit)(void *ctx, const arca_store_op *ops, size_t num_ops);
    /* Keys starting with prefix, in key order (reverse: descending), strictly
     * after `after` when after_len > 0, at most limit (<= ARCA_STORE_MAX_SCAN).
     * *out is an array freed with arca_store_entries_free. */
    arca_status (*scan)(void *ctx, uint8_t db, const uint8_t *prefix, size_t prefix_len, const uint8_t *after,
                        size_t after_len, uint32_t limit, bool with_values, bool reverse,
                        arca_store_entry **out, size_t *out_num);
} arca_store_ops;

void arca_store_entries_free(arca_store_entry *entries, size_t num);
bool arca_store_db_valid(uint8_t db);

/* OCALL payload codec (docs/channel.md), shared by the enclave's proxy and
 * arcad's server. Decoders borrow from the cursor and validate db ids, key
 * and value caps and counts; *out_ops is malloc'd (free()). */
ARCA_MUST_CHECK arca_status arca_store_get_req_encode(arca_builder *b, uint8_t db, const uint8_t *key, size_t key_len);
ARCA_MUST_CHECK arca_status arca_store_get_req_decode(arca_cursor *c, uint8_t *out_db, const uint8_t **out_key,
                                                      size_t *out_key_len);
ARCA_MUST_CHECK arca_status arca_store_commit_req_encode(arca_builder *b, const arca_store_op *ops, size_t num_ops);
ARCA_MUST_CHECK arca_status arca_store_commit_req_decode(arca_cursor *c, arca_store_op **out_ops, size_t *out_num);
typedef struct arca_store_scan_req {
    uint8_t db;
    const uint8_t *prefix;
    size_t prefix_len;
    const uint8_t *after;
    size_t after_len;
    uint32_t limit;
    bool with_values;
    bool reverse;
} arca_store_scan_req;
ARCA_MUST_CHECK arca_status arca_store_scan_req_encode(arca_builder *b, const arca_store_scan_req *r);
ARCA_MUST_CHECK arca_status arca_store_scan_req_decode(arca_cursor *c, arca_store_scan_req *out);
/* Reply bodies (after the u32 status): GET: u32-prefixed value.
 * SCAN: u32 count, then per entry u16-prefixed key, u32-prefixed value. */
ARCA_MUST_CHECK arca_status arca_store_scan_reply_encode(arca_builder *b, const arca_store_entry *e, size_t num);
ARCA_MUST_CHECK arca_status arca_store_scan_reply_decode(arca_cursor *c, uint32_t limit, arca_store_entry **out,
                                                         size_t *out_num);

#endif
