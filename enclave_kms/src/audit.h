/* The audit chain: one record per operation that touches a key, each
 * authenticated by the enclave (HMAC-SHA256 under a key derived from the
 * sealing root) and hash-chained to the one before.
 *
 * Record (stored in ARCA_DB_AUDIT under u64 BE seq):
 *   u16 format(1) | u64 seq | u64 time_ms | u16 op | u32 status |
 *   object_id[16] | u16-prefixed partition | u16-prefixed actor |
 *   u16-prefixed detail | prev_hash[32] | mac[32]
 * mac = HMAC(audit key, everything before mac); the record's hash =
 * SHA-256(whole record), and is the next record's prev_hash. The first
 * record's prev_hash is all zero. Records never hold secrets, PINs or
 * plaintext. */
#ifndef ARCA_ENCLAVE_AUDIT_H
#define ARCA_ENCLAVE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/kms.h"
#include "arca/sealing.h"
#include "arca/status.h"
#include "arca/store_api.h"

typedef enum arca_audit_op {
    ARCA_AUDIT_INITIALISE = 1,
    ARCA_AUDIT_PARTITION_CREATE,
    ARCA_AUDIT_LOGIN,
    ARCA_AUDIT_LOGIN_FAILED,
    ARCA_AUDIT_PIN_CHANGE,
    ARCA_AUDIT_GENERATE,
    ARCA_AUDIT_GENERATE_PAIR,
    ARCA_AUDIT_IMPORT,
    ARCA_AUDIT_SET_ATTRIBUTES,
    ARCA_AUDIT_DESTROY,
    ARCA_AUDIT_ROTATE,
    ARCA_AUDIT_SIGN,
    ARCA_AUDIT_VERIFY,
    ARCA_AUDIT_ENCRYPT,
    ARCA_AUDIT_DECRYPT,
    ARCA_AUDIT_WRAP,   /* an export */
    ARCA_AUDIT_UNWRAP,
    ARCA_AUDIT_DERIVE,
    ARCA_AUDIT_GET_VALUE, /* an export of an extractable, non-sensitive value */
    ARCA_AUDIT_ACTIVATE,  /* lifecycle: Pre-Active -> Active */
    ARCA_AUDIT_REVOKE,    /* lifecycle: -> Deactivated or Compromised */
    ARCA_AUDIT_CONNECTION_REFUSED, /* a client refused at the handshake; actor = CN (if any), detail = reason */
    ARCA_AUDIT_IDENTITY_PUT,       /* client identity added or changed; detail = name, roles, partitions */
    ARCA_AUDIT_IDENTITY_REMOVE,    /* detail = name */
    ARCA_AUDIT_ACCESS_DENIED,      /* an identity not in a key's ARCA_CKA_ALLOWED_IDENTITIES; object = the key */
    ARCA_AUDIT_TLS_CERT_INSTALL,   /* operator TLS certificate installed; detail = leaf subject */
    ARCA_AUDIT_INIT_TOKEN,         /* partition erased by its SO (PKCS#11 C_InitToken); detail = objects destroyed */
    ARCA_AUDIT_OP_MAX = ARCA_AUDIT_INIT_TOKEN,
} arca_audit_op;

/* "LOGIN", "CONNECTION_REFUSED", ...; "UNKNOWN" for other values. */
const char *arca_audit_op_name(uint16_t op);

typedef struct arca_audit_event {
    uint16_t op;       /* arca_audit_op */
    arca_status status; /* outcome */
    const uint8_t *object_id; /* [16] or NULL */
    const char *partition;    /* may be NULL */
    const char *actor;        /* role/identity text, may be NULL: then actor_buf */
    char actor_buf[96];       /* "identity/role" as kms_audit_event_init formats it */
    const char *detail;       /* short text (mechanism name...), never secret; may be NULL */
} arca_audit_event;

typedef struct arca_audit arca_audit;

/* Batching of key-use records (docs/performance.md, docs/threat-model.md
 * "Audit"). Key-use records (arca_audit_is_use_op) are chained in memory
 * at once and stored in one commit per batch: when max_delay_ms have
 * passed since the first unflushed record, when max_records are pending,
 * ahead of any other commit (lifecycle records and the pending use records
 * go in the same store transaction), on arca_audit_flush and at
 * arca_audit_free. A crash loses at most the unflushed window, never a
 * record in the middle: the stored chain is always a prefix of the
 * in-memory one. After a failed batch commit every further key use is
 * refused with the store's status until a flush succeeds. */
#define ARCA_AUDIT_BATCH_DELAY_MS 20u
#define ARCA_AUDIT_BATCH_RECORDS 1024u

typedef struct arca_audit_batch {
    uint32_t max_delay_ms; /* 0: ARCA_AUDIT_BATCH_DELAY_MS */
    uint32_t max_records;  /* 0: ARCA_AUDIT_BATCH_RECORDS */
    bool no_flusher;       /* no background thread: arca_audit_poll() does the time trigger (tests) */
    uint64_t (*clock_ms)(void); /* monotonic milliseconds; NULL: CLOCK_MONOTONIC */
} arca_audit_batch;

/* Load the chain head (the last record, whose MAC is checked). Default
 * batching, with a background flusher thread. */
ARCA_MUST_CHECK arca_status arca_audit_open(arca_sealing *sealing, const arca_store_ops *store, arca_audit **out);
/* The same with batching parameters (cfg NULL: defaults). ARCA_ERR_ARGS
 * for max_records > 65536. */
ARCA_MUST_CHECK arca_status arca_audit_open_batched(arca_sealing *sealing, const arca_store_ops *store,
                                                    const arca_audit_batch *cfg, arca_audit **out);
/* Stops the flusher, stores what is pending (a failure is logged: those
 * records are lost, the stored chain stays intact), frees. */
void arca_audit_free(arca_audit *a);

/* True for the ops whose records are batched: SIGN, VERIFY, ENCRYPT,
 * DECRYPT, WRAP, UNWRAP, DERIVE, ACCESS_DENIED. */
bool arca_audit_is_use_op(uint16_t op);
/* Append a key-use record to the in-memory chain; it is stored with the
 * next batch. ARCA_OK: the caller may answer. If an earlier batch failed
 * (or max_records are pending) a flush is tried first and its failure
 * (e.g. ARCA_ERR_STORE) is returned, with nothing appended. If this record
 * fills the batch, the batch is committed here and its status returned
 * (the record stays queued on failure). */
ARCA_MUST_CHECK arca_status arca_audit_append_use(arca_audit *a, const arca_audit_event *ev);
/* One store transaction: every pending use record, ops[0..num_ops) and
 * ev's record (ev may be NULL: then ops and the pending records). The head
 * advances only if the commit succeeds. ops are borrowed. */
ARCA_MUST_CHECK arca_status arca_audit_commit(arca_audit *a, const arca_audit_event *ev, const arca_store_op *ops,
                                              size_t num_ops);
/* Store every pending use record now (ARCA_OK when none are pending). */
ARCA_MUST_CHECK arca_status arca_audit_flush(arca_audit *a);
/* Flush if the oldest pending record is max_delay_ms old (what the
 * flusher thread does); ARCA_OK when nothing is due. */
ARCA_MUST_CHECK arca_status arca_audit_poll(arca_audit *a);
/* Records chained in memory but not yet stored. */
size_t arca_audit_pending(arca_audit *a);
/* Status of the last batch commit (ARCA_OK once one succeeds again). */
arca_status arca_audit_batch_status(arca_audit *a);

/* Lifecycle operations put their audit record in the same transaction as
 * the change: begin() stores the pending use records first (their own
 * commit; arca_audit_commit puts them in the same one), builds the record
 * and takes the chain lock; the caller adds *out_op to its commit and then
 * calls end() with the commit's outcome (which releases the lock and
 * advances the head only on ARCA_OK). The op's buffers stay valid until
 * end(). */
ARCA_MUST_CHECK arca_status arca_audit_begin(arca_audit *a, const arca_audit_event *ev, arca_store_op *out_op);
void arca_audit_end(arca_audit *a, arca_status commit_status);
/* Append a record on its own, durably (with the pending use records in
 * the same commit) before returning. */
ARCA_MUST_CHECK arca_status arca_audit_append(arca_audit *a, const arca_audit_event *ev);
/* Verify the whole stored chain (scanning in pages), after storing the
 * pending use records (a failure to store them is returned). */
ARCA_MUST_CHECK arca_status arca_audit_verify(arca_audit *a, uint64_t *out_records);
/* The same; on ARCA_ERR_INTEGRITY why (if why_len > 0; NUL-terminated)
 * says "audit record N: <what failed>", else "". */
ARCA_MUST_CHECK arca_status arca_audit_verify_why(arca_audit *a, uint64_t *out_records, char *why, size_t why_len);
/* Append the local-protocol RECORDS body (u32 count, items as
 * arca_lp_record_add) for up to max records with seq >= from_seq (pending
 * use records are stored first; only up to the head this enclave knows), stopping early before the body would
 * pass max_bytes. Each record's MAC and position are checked
 * (ARCA_ERR_INTEGRITY naming the record in the log); the chain links are
 * arca_audit_verify's. The record's partition is reported at the front
 * of detail ("partition P; detail"). */
ARCA_MUST_CHECK arca_status arca_audit_read(arca_audit *a, uint64_t from_seq, uint32_t max, size_t max_bytes,
                                            arca_builder *out);
uint64_t arca_audit_count(arca_audit *a);

#endif
