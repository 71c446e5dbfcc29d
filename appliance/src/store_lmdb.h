/* arca_store_ops over one LMDB environment (a directory holding data.mdb
 * and lock.mdb) with the named sub-databases "blobs", "index", "audit" and
 * "state". Self-contained: needs only arca_common and liblmdb, so enclave
 * unit tests link it as their real store.
 *
 * Durability: default LMDB sync flags; commit() returns ARCA_OK only after
 * the write transaction is on disk. One write transaction per commit().
 * Not thread-safe for concurrent calls on one handle (arcad is
 * single-threaded; tests serialise). */
#ifndef ARCA_APPLIANCE_STORE_LMDB_H
#define ARCA_APPLIANCE_STORE_LMDB_H

#include <stddef.h>
#include <stdint.h>

#include "arca/status.h"
#include "arca/store_api.h"

/* Create the directory (0700) and the sub-databases if they do not exist.
 * Without it, open refuses a directory that is not an Arca store. */
#define ARCA_STORE_LMDB_CREATE 0x1u

typedef struct arca_store_lmdb arca_store_lmdb;

/* Open (or with ARCA_STORE_LMDB_CREATE, create) the store at path with the
 * given map size in bytes (0 = 4 GiB). Fails with ARCA_ERR_STORE, logging
 * the path and the reason (LMDB's error text, "not an Arca store", ...).
 * ARCA_ERR_ARGS on bad arguments, ARCA_ERR_NOMEM. *out is owned by the
 * caller (arca_store_lmdb_close). */
ARCA_MUST_CHECK arca_status arca_store_lmdb_open(const char *path, size_t map_size, unsigned flags,
                                                 arca_store_lmdb **out);
/* Close the environment; NULL is a no-op. Outstanding ops become invalid. */
void arca_store_lmdb_close(arca_store_lmdb *s);
/* The store interface bound to s (borrowed; valid until close). Its
 * functions return ARCA_ERR_ARGS for bad db ids, empty/oversized keys,
 * oversized values, too many ops, limit 0 or > ARCA_STORE_MAX_SCAN;
 * ARCA_ERR_NOT_FOUND (get); ARCA_ERR_STORE for LMDB failures (map full:
 * the log says to raise store_map_size_mb); ARCA_ERR_NOMEM. */
const arca_store_ops *arca_store_lmdb_ops(arca_store_lmdb *s);

#endif
