/* store_tool: what a hostile host can do to the store. Opens the LMDB
 * environment directly (arcad stopped) and lists, reads, overwrites,
 * truncates or swaps records of a sub-database, bypassing the enclave.
 *
 *   store_tool STORE_DIR list DB                 keys (hex), one per line, with value sizes
 *   store_tool STORE_DIR get DB KEYHEX OUTFILE
 *   store_tool STORE_DIR put DB KEYHEX INFILE
 *   store_tool STORE_DIR flip DB KEYHEX OFFSET   flip one bit of the value's byte OFFSET
 *   store_tool STORE_DIR truncate DB KEYHEX LEN
 *   store_tool STORE_DIR swap DB KEYHEX1 KEYHEX2
 *   store_tool STORE_DIR del DB KEYHEX
 * DB is blobs | index | audit | state. Test tool only. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what, int rc)
{
    fprintf(stderr, "store_tool: %s: %s\n", what, rc ? mdb_strerror(rc) : "failed");
    exit(2);
}

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    if (n > cap || strlen(hex) % 2) die("bad hex key", 0);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) die("bad hex key", 0);
        out[i] = (unsigned char)v;
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: store_tool STORE_DIR list|get|put|flip|truncate|swap|del DB ...\n");
        return 2;
    }
    const char *cmd = argv[2];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc;
    if ((rc = mdb_env_create(&env))) die("env_create", rc);
    mdb_env_set_maxdbs(env, 8);
    mdb_env_set_mapsize(env, 4ull << 30);
    if ((rc = mdb_env_open(env, argv[1], 0, 0600))) die("env_open", rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) die("txn_begin", rc);
    if ((rc = mdb_dbi_open(txn, argv[3], 0, &dbi))) die("dbi_open", rc);
    unsigned char k1[512], k2[512];
    MDB_val key, val, key2, val2;
    if (strcmp(cmd, "list") == 0) {
        MDB_cursor *c;
        mdb_cursor_open(txn, dbi, &c);
        while ((rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) == 0) {
            for (size_t i = 0; i < key.mv_size; i++) printf("%02x", ((unsigned char *)key.mv_data)[i]);
            printf(" %zu\n", val.mv_size);
        }
        mdb_cursor_close(c);
        mdb_txn_abort(txn);
        mdb_env_close(env);
        return 0;
    }
    if (argc < 5) die("missing key", 0);
    key.mv_size = unhex(argv[4], k1, sizeof(k1));
    key.mv_data = k1;
    if (strcmp(cmd, "put") == 0 && argc == 6) {
        FILE *f = fopen(argv[5], "rb");
        if (!f) die("open input", 0);
        static unsigned char buf[1 << 20];
        val.mv_size = fread(buf, 1, sizeof(buf), f);
        val.mv_data = buf;
        fclose(f);
        if ((rc = mdb_put(txn, dbi, &key, &val, 0))) die("put", rc);
    } else if (strcmp(cmd, "del") == 0) {
        if ((rc = mdb_del(txn, dbi, &key, NULL))) die("del", rc);
    } else {
        if ((rc = mdb_get(txn, dbi, &key, &val))) die("get", rc);
        unsigned char *copy = malloc(val.mv_size ? val.mv_size : 1);
        memcpy(copy, val.mv_data, val.mv_size);
        val.mv_data = copy;
        if (strcmp(cmd, "get") == 0 && argc == 6) {
            FILE *f = fopen(argv[5], "wb");
            if (!f || fwrite(copy, 1, val.mv_size, f) != val.mv_size) die("write output", 0);
            fclose(f);
            free(copy);
            mdb_txn_abort(txn);
            mdb_env_close(env);
            return 0;
        } else if (strcmp(cmd, "flip") == 0 && argc == 6) {
            size_t off = strtoul(argv[5], NULL, 10);
            if (off >= val.mv_size) die("offset beyond value", 0);
            copy[off] ^= 0x01;
        } else if (strcmp(cmd, "truncate") == 0 && argc == 6) {
            size_t len = strtoul(argv[5], NULL, 10);
            if (len > val.mv_size) die("length beyond value", 0);
            val.mv_size = len;
        } else if (strcmp(cmd, "swap") == 0 && argc == 6) {
            key2.mv_size = unhex(argv[5], k2, sizeof(k2));
            key2.mv_data = k2;
            if ((rc = mdb_get(txn, dbi, &key2, &val2))) die("get second", rc);
            unsigned char *copy2 = malloc(val2.mv_size);
            memcpy(copy2, val2.mv_data, val2.mv_size);
            val2.mv_data = copy2;
            if ((rc = mdb_put(txn, dbi, &key, &val2, 0))) die("put", rc);
            if ((rc = mdb_put(txn, dbi, &key2, &val, 0))) die("put second", rc);
            free(copy2);
            free(copy);
            goto commit;
        } else {
            die("unknown command or wrong arguments", 0);
        }
        if ((rc = mdb_put(txn, dbi, &key, &val, 0))) die("put", rc);
        free(copy);
    }
commit:
    if ((rc = mdb_txn_commit(txn))) die("commit", rc);
    mdb_env_close(env);
    return 0;
}
