/* arca_store_ops over LMDB. See store_lmdb.h. */
#include "store_lmdb.h"

#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arca/log.h"

#define DEFAULT_MAP_SIZE ((size_t)4096 * 1024 * 1024)
#define NUM_DBS 4

static const char *const db_names[NUM_DBS] = {"blobs", "index", "audit", "state"};

struct arca_store_lmdb {
    MDB_env *env;
    MDB_dbi dbi[NUM_DBS]; /* indexed by arca_store_db - 1 */
    size_t map_size;
    char *path;
    arca_store_ops ops;
};

/* Translate an LMDB failure into ARCA_ERR_STORE, saying what happened. */
static arca_status lmdb_fail(const arca_store_lmdb *s, const char *what, int rc)
{
    if (rc == MDB_MAP_FULL) {
        ARCA_ERROR("store %s is full (map size %zu MiB) during %s: raise store_map_size_mb in the config",
                   s->path, s->map_size / (1024 * 1024), what);
    } else {
        ARCA_ERROR("store %s: %s failed: %s", s->path, what, mdb_strerror(rc));
    }
    return ARCA_ERR_STORE;
}

static arca_status dbi_for(const arca_store_lmdb *s, uint8_t db, MDB_dbi *out)
{
    switch (db) {
    case ARCA_DB_BLOBS:
    case ARCA_DB_INDEX:
    case ARCA_DB_AUDIT:
    case ARCA_DB_STATE:
        *out = s->dbi[db - 1];
        return ARCA_OK;
    default:
        return ARCA_ERR_ARGS;
    }
}

static bool key_ok(const uint8_t *key, size_t key_len)
{
    return key != NULL && key_len > 0 && key_len <= ARCA_STORE_MAX_KEY;
}

static arca_status lmdb_get(void *ctx, uint8_t db, const uint8_t *key, size_t key_len, uint8_t **out_val,
                            size_t *out_len)
{
    arca_store_lmdb *s = ctx;
    ARCA_ENSURE(s != NULL && out_val != NULL && out_len != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(key_ok(key, key_len), ARCA_ERR_ARGS);
    MDB_dbi dbi;
    ARCA_GUARD(dbi_for(s, db, &dbi));

    arca_status st = ARCA_OK;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) return lmdb_fail(s, "begin read transaction", rc);
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        st = ARCA_ERR_NOT_FOUND;
        goto out;
    }
    if (rc != 0) {
        st = lmdb_fail(s, "get", rc);
        goto out;
    }
    /* malloc(0) may return NULL; always hand out a real pointer. */
    uint8_t *copy = malloc(v.mv_size > 0 ? v.mv_size : 1);
    ARCA_ENSURE_OUT(copy != NULL, ARCA_ERR_NOMEM);
    if (v.mv_size > 0) memcpy(copy, v.mv_data, v.mv_size);
    *out_val = copy;
    *out_len = v.mv_size;
out:
    mdb_txn_abort(txn);
    return st;
}

static arca_status lmdb_commit(void *ctx, const arca_store_op *ops, size_t num_ops)
{
    arca_store_lmdb *s = ctx;
    ARCA_ENSURE(s != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(num_ops <= ARCA_STORE_MAX_OPS, ARCA_ERR_ARGS);
    ARCA_ENSURE(num_ops == 0 || ops != NULL, ARCA_ERR_ARGS);
    /* Validate everything before touching the store. */
    for (size_t i = 0; i < num_ops; i++) {
        MDB_dbi dbi;
        ARCA_GUARD(dbi_for(s, ops[i].db, &dbi));
        ARCA_ENSURE(key_ok(ops[i].key, ops[i].key_len), ARCA_ERR_ARGS);
        switch (ops[i].kind) {
        case ARCA_STORE_PUT:
            ARCA_ENSURE(ops[i].val_len <= ARCA_STORE_MAX_VALUE, ARCA_ERR_ARGS);
            ARCA_ENSURE(ops[i].val != NULL || ops[i].val_len == 0, ARCA_ERR_ARGS);
            break;
        case ARCA_STORE_DEL:
            break;
        default:
            return ARCA_ERR_ARGS;
        }
    }
    if (num_ops == 0) return ARCA_OK;

    arca_status st = ARCA_OK;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) return lmdb_fail(s, "begin write transaction", rc);
    for (size_t i = 0; i < num_ops; i++) {
        MDB_dbi dbi = s->dbi[ops[i].db - 1];
        MDB_val k = {.mv_size = ops[i].key_len, .mv_data = (void *)ops[i].key};
        if (ops[i].kind == ARCA_STORE_PUT) {
            static const uint8_t empty = 0;
            MDB_val v = {.mv_size = ops[i].val_len, .mv_data = (void *)(ops[i].val != NULL ? ops[i].val : &empty)};
            rc = mdb_put(txn, dbi, &k, &v, 0);
            if (rc != 0) {
                st = lmdb_fail(s, "put", rc);
                goto out;
            }
        } else {
            rc = mdb_del(txn, dbi, &k, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND) {
                st = lmdb_fail(s, "delete", rc);
                goto out;
            }
        }
    }
    rc = mdb_txn_commit(txn);
    txn = NULL; /* commit frees the transaction even when it fails */
    if (rc != 0) st = lmdb_fail(s, "commit", rc);
out:
    if (txn != NULL) mdb_txn_abort(txn);
    return st;
}

/* LMDB's default key order: memcmp over the common length, then shorter
 * first. */
static int key_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
}

static bool has_prefix(const MDB_val *k, const uint8_t *prefix, size_t prefix_len)
{
    return k->mv_size >= prefix_len && (prefix_len == 0 || memcmp(k->mv_data, prefix, prefix_len) == 0);
}

/* Position cur on the first key of a forward scan, or report MDB_NOTFOUND. */
static int seek_forward(MDB_cursor *cur, MDB_val *k, MDB_val *v, const uint8_t *prefix, size_t prefix_len,
                        const uint8_t *after, size_t after_len)
{
    if (after_len > 0 && key_cmp(after, after_len, prefix, prefix_len) >= 0) {
        k->mv_data = (void *)after;
        k->mv_size = after_len;
        int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
        if (rc != 0) return rc;
        if (key_cmp(k->mv_data, k->mv_size, after, after_len) == 0) return mdb_cursor_get(cur, k, v, MDB_NEXT);
        return 0;
    }
    if (prefix_len == 0) return mdb_cursor_get(cur, k, v, MDB_FIRST);
    k->mv_data = (void *)prefix;
    k->mv_size = prefix_len;
    return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
}

/* Position cur on the last key strictly below the exclusive upper bound
 * (bound == NULL: no bound). */
static int seek_below(MDB_cursor *cur, MDB_val *k, MDB_val *v, const uint8_t *bound, size_t bound_len)
{
    if (bound == NULL) return mdb_cursor_get(cur, k, v, MDB_LAST);
    k->mv_data = (void *)bound;
    k->mv_size = bound_len;
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) return mdb_cursor_get(cur, k, v, MDB_LAST);
    if (rc != 0) return rc;
    return mdb_cursor_get(cur, k, v, MDB_PREV);
}

static int seek_reverse(MDB_cursor *cur, MDB_val *k, MDB_val *v, const uint8_t *prefix, size_t prefix_len,
                        const uint8_t *after, size_t after_len, uint8_t succ[ARCA_STORE_MAX_KEY])
{
    /* Every key with the prefix is < succ(prefix): strip trailing 0xff and
     * increment the last byte; no successor if nothing is left. */
    const uint8_t *bound = NULL;
    size_t bound_len = 0;
    size_t n = prefix_len;
    while (n > 0 && prefix[n - 1] == 0xff) n--;
    if (n > 0) {
        memcpy(succ, prefix, n);
        succ[n - 1]++;
        bound = succ;
        bound_len = n;
    }
    if (after_len > 0 && (bound == NULL || key_cmp(after, after_len, bound, bound_len) < 0)) {
        bound = after;
        bound_len = after_len;
    }
    return seek_below(cur, k, v, bound, bound_len);
}

static void entries_free(arca_store_entry *e, size_t num)
{
    if (e == NULL) return;
    for (size_t i = 0; i < num; i++) {
        free(e[i].key);
        free(e[i].val);
    }
    free(e);
}

static arca_status lmdb_scan(void *ctx, uint8_t db, const uint8_t *prefix, size_t prefix_len, const uint8_t *after,
                             size_t after_len, uint32_t limit, bool with_values, bool reverse,
                             arca_store_entry **out, size_t *out_num)
{
    arca_store_lmdb *s = ctx;
    ARCA_ENSURE(s != NULL && out != NULL && out_num != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(prefix_len <= ARCA_STORE_MAX_KEY && (prefix_len == 0 || prefix != NULL), ARCA_ERR_ARGS);
    ARCA_ENSURE(after_len <= ARCA_STORE_MAX_KEY && (after_len == 0 || after != NULL), ARCA_ERR_ARGS);
    ARCA_ENSURE(limit > 0 && limit <= ARCA_STORE_MAX_SCAN, ARCA_ERR_ARGS);
    MDB_dbi dbi;
    ARCA_GUARD(dbi_for(s, db, &dbi));

    arca_status st = ARCA_OK;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    arca_store_entry *entries = NULL;
    size_t num = 0, cap = 0;
    uint8_t succ[ARCA_STORE_MAX_KEY];

    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) return lmdb_fail(s, "begin read transaction", rc);
    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0) {
        st = lmdb_fail(s, "open cursor", rc);
        goto out;
    }
    MDB_val k, v;
    rc = reverse ? seek_reverse(cur, &k, &v, prefix, prefix_len, after, after_len, succ)
                 : seek_forward(cur, &k, &v, prefix, prefix_len, after, after_len);
    while (rc == 0 && num < limit && has_prefix(&k, prefix, prefix_len)) {
        if (num == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            if (ncap > limit) ncap = limit;
            arca_store_entry *grown = realloc(entries, ncap * sizeof *grown);
            ARCA_ENSURE_OUT(grown != NULL, ARCA_ERR_NOMEM);
            entries = grown;
            cap = ncap;
        }
        arca_store_entry *e = &entries[num];
        memset(e, 0, sizeof *e);
        num++;
        e->key = malloc(k.mv_size);
        ARCA_ENSURE_OUT(e->key != NULL, ARCA_ERR_NOMEM);
        memcpy(e->key, k.mv_data, k.mv_size);
        e->key_len = k.mv_size;
        if (with_values) {
            e->val = malloc(v.mv_size > 0 ? v.mv_size : 1);
            ARCA_ENSURE_OUT(e->val != NULL, ARCA_ERR_NOMEM);
            if (v.mv_size > 0) memcpy(e->val, v.mv_data, v.mv_size);
            e->val_len = v.mv_size;
        }
        rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        st = lmdb_fail(s, "scan", rc);
        goto out;
    }
    *out = entries;
    *out_num = num;
    entries = NULL;
out:
    entries_free(entries, num);
    if (cur != NULL) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return st;
}

static arca_status prepare_dir(const char *path, unsigned flags)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT && (flags & ARCA_STORE_LMDB_CREATE)) {
            if (mkdir(path, 0700) != 0) {
                e = errno;
                ARCA_ERROR("store %s: cannot create directory: %s", path, strerror(e));
                return ARCA_ERR_STORE;
            }
            return ARCA_OK;
        }
        ARCA_ERROR("store %s: cannot open: %s", path, strerror(e));
        return ARCA_ERR_STORE;
    }
    if (!S_ISDIR(sb.st_mode)) {
        ARCA_ERROR("store %s: not a directory (the store is a directory holding data.mdb)", path);
        return ARCA_ERR_STORE;
    }
    return ARCA_OK;
}

arca_status arca_store_lmdb_open(const char *path, size_t map_size, unsigned flags, arca_store_lmdb **out)
{
    ARCA_ENSURE(path != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE((flags & ~ARCA_STORE_LMDB_CREATE) == 0, ARCA_ERR_ARGS);
    ARCA_GUARD(prepare_dir(path, flags));

    arca_status st = ARCA_OK;
    MDB_txn *txn = NULL;
    arca_store_lmdb *s = calloc(1, sizeof *s);
    ARCA_ENSURE(s != NULL, ARCA_ERR_NOMEM);
    s->map_size = map_size != 0 ? map_size : DEFAULT_MAP_SIZE;
    s->path = strdup(path);
    ARCA_ENSURE_OUT(s->path != NULL, ARCA_ERR_NOMEM);

    if (!(flags & ARCA_STORE_LMDB_CREATE)) {
        /* LMDB would silently create an empty store in any directory. */
        char data_path[4200];
        int n = snprintf(data_path, sizeof data_path, "%s/data.mdb", path);
        ARCA_ENSURE_OUT(n > 0 && (size_t)n < sizeof data_path, ARCA_ERR_ARGS);
        if (access(data_path, F_OK) != 0) {
            ARCA_ERROR("store %s: not an Arca store (no data.mdb)", path);
            st = ARCA_ERR_STORE;
            goto out;
        }
    }

    int rc = mdb_env_create(&s->env);
    if (rc != 0) {
        st = lmdb_fail(s, "create environment", rc);
        goto out;
    }
    rc = mdb_env_set_maxdbs(s->env, 8);
    if (rc == 0) rc = mdb_env_set_mapsize(s->env, s->map_size);
    if (rc != 0) {
        st = lmdb_fail(s, "configure environment", rc);
        goto out;
    }
    /* MDB_NOTLS: read transactions are not tied to a thread (enclave unit
     * tests call the store from several threads, serialised). */
    rc = mdb_env_open(s->env, path, MDB_NOTLS, 0600);
    if (rc != 0) {
        ARCA_ERROR("store %s: cannot open: %s", path, mdb_strerror(rc));
        st = ARCA_ERR_STORE;
        goto out;
    }

    bool create = (flags & ARCA_STORE_LMDB_CREATE) != 0;
    rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != 0) {
        st = lmdb_fail(s, "begin transaction", rc);
        goto out;
    }
    for (int i = 0; i < NUM_DBS; i++) {
        rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &s->dbi[i]);
        if (rc == MDB_NOTFOUND) {
            ARCA_ERROR("store %s: not an Arca store (no '%s' database)", path, db_names[i]);
            st = ARCA_ERR_STORE;
            goto out;
        }
        if (rc != 0) {
            st = lmdb_fail(s, "open database", rc);
            goto out;
        }
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        st = lmdb_fail(s, "open databases", rc);
        goto out;
    }
    s->ops.ctx = s;
    s->ops.get = lmdb_get;
    s->ops.commit = lmdb_commit;
    s->ops.scan = lmdb_scan;
    *out = s;
    s = NULL;
out:
    if (txn != NULL) mdb_txn_abort(txn);
    arca_store_lmdb_close(s);
    return st;
}

void arca_store_lmdb_close(arca_store_lmdb *s)
{
    if (s == NULL) return;
    if (s->env != NULL) mdb_env_close(s->env);
    free(s->path);
    free(s);
}

const arca_store_ops *arca_store_lmdb_ops(arca_store_lmdb *s)
{
    return s != NULL ? &s->ops : NULL;
}
