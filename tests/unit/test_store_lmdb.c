/* Unit tests for the LMDB store (appliance/src/store_lmdb.c), on real LMDB
 * in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "arca/log.h"
#include "store_lmdb.h"

typedef struct fixture {
    char dir[64];
    char store[96];
    arca_store_lmdb *s;
    const arca_store_ops *ops;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/arca-test-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    snprintf(f->store, sizeof f->store, "%s/store", f->dir);
    if (arca_store_lmdb_open(f->store, 64u << 20, ARCA_STORE_LMDB_CREATE, &f->s) != ARCA_OK) return -1;
    f->ops = arca_store_lmdb_ops(f->s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    arca_store_lmdb_close(f->s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static arca_status put(const arca_store_ops *ops, uint8_t db, const char *k, const char *v)
{
    arca_store_op op = {.kind = ARCA_STORE_PUT, .db = db, .key = (const uint8_t *)k, .key_len = strlen(k),
                        .val = (const uint8_t *)v, .val_len = strlen(v)};
    return ops->commit(ops->ctx, &op, 1);
}

static void expect_stored(const arca_store_ops *ops, uint8_t db, const char *k, const char *v)
{
    uint8_t *val = NULL;
    size_t len = 0;
    assert_int_equal(ops->get(ops->ctx, db, (const uint8_t *)k, strlen(k), &val, &len), ARCA_OK);
    assert_int_equal(len, strlen(v));
    assert_memory_equal(val, v, len);
    free(val);
}

static void expect_missing(const arca_store_ops *ops, uint8_t db, const char *k)
{
    uint8_t *val = (uint8_t *)0x1;
    size_t len = 77;
    assert_int_equal(ops->get(ops->ctx, db, (const uint8_t *)k, strlen(k), &val, &len), ARCA_ERR_NOT_FOUND);
    assert_ptr_equal(val, (uint8_t *)0x1);
    assert_int_equal(len, 77);
}

/* Scan and compare the keys with a space-separated list. */
static void expect_scan(const arca_store_ops *ops, uint8_t db, const char *prefix, const char *after, uint32_t limit,
                        bool reverse, const char *expected)
{
    arca_store_entry *e = NULL;
    size_t n = 0;
    assert_int_equal(ops->scan(ops->ctx, db, (const uint8_t *)prefix, strlen(prefix), (const uint8_t *)after,
                               strlen(after), limit, false, reverse, &e, &n),
                     ARCA_OK);
    char got[512] = "";
    for (size_t i = 0; i < n; i++) {
        assert_null(e[i].val);
        if (i > 0) strcat(got, " ");
        strncat(got, (const char *)e[i].key, e[i].key_len);
    }
    assert_string_equal(got, expected);
    arca_store_entries_free(e, n);
}

static void test_put_get_del(void **state)
{
    fixture *f = *state;
    expect_missing(f->ops, ARCA_DB_BLOBS, "k1");
    assert_int_equal(put(f->ops, ARCA_DB_BLOBS, "k1", "v1"), ARCA_OK);
    expect_stored(f->ops, ARCA_DB_BLOBS, "k1", "v1");
    /* sub-databases are separate */
    expect_missing(f->ops, ARCA_DB_STATE, "k1");
    assert_int_equal(put(f->ops, ARCA_DB_BLOBS, "k1", "v2-longer"), ARCA_OK);
    expect_stored(f->ops, ARCA_DB_BLOBS, "k1", "v2-longer");
    /* empty value */
    assert_int_equal(put(f->ops, ARCA_DB_INDEX, "idx", ""), ARCA_OK);
    expect_stored(f->ops, ARCA_DB_INDEX, "idx", "");

    arca_store_op del = {.kind = ARCA_STORE_DEL, .db = ARCA_DB_BLOBS, .key = (const uint8_t *)"k1", .key_len = 2};
    assert_int_equal(f->ops->commit(f->ops->ctx, &del, 1), ARCA_OK);
    expect_missing(f->ops, ARCA_DB_BLOBS, "k1");
    /* deleting a missing key is not an error */
    assert_int_equal(f->ops->commit(f->ops->ctx, &del, 1), ARCA_OK);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    uint8_t *val = NULL;
    size_t len = 0;
    const uint8_t k[] = "k";
    assert_int_equal(f->ops->get(f->ops->ctx, 0, k, 1, &val, &len), ARCA_ERR_ARGS);
    assert_int_equal(f->ops->get(f->ops->ctx, 5, k, 1, &val, &len), ARCA_ERR_ARGS);
    assert_int_equal(f->ops->get(f->ops->ctx, ARCA_DB_BLOBS, k, 0, &val, &len), ARCA_ERR_ARGS);
    uint8_t big[ARCA_STORE_MAX_KEY + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(f->ops->get(f->ops->ctx, ARCA_DB_BLOBS, big, sizeof big, &val, &len), ARCA_ERR_ARGS);

    arca_store_op op = {.kind = ARCA_STORE_PUT, .db = 9, .key = k, .key_len = 1, .val = k, .val_len = 1};
    assert_int_equal(f->ops->commit(f->ops->ctx, &op, 1), ARCA_ERR_ARGS);
    op.db = ARCA_DB_BLOBS;
    op.kind = 3;
    assert_int_equal(f->ops->commit(f->ops->ctx, &op, 1), ARCA_ERR_ARGS);
    op.kind = ARCA_STORE_PUT;
    op.key_len = sizeof big;
    op.key = big;
    assert_int_equal(f->ops->commit(f->ops->ctx, &op, 1), ARCA_ERR_ARGS);
    op.key = k;
    op.key_len = 1;
    op.val_len = ARCA_STORE_MAX_VALUE + 1;
    assert_int_equal(f->ops->commit(f->ops->ctx, &op, 1), ARCA_ERR_ARGS);
    assert_int_equal(f->ops->commit(f->ops->ctx, &op, ARCA_STORE_MAX_OPS + 1), ARCA_ERR_ARGS);

    arca_store_entry *e = NULL;
    size_t n = 0;
    assert_int_equal(f->ops->scan(f->ops->ctx, 0, NULL, 0, NULL, 0, 10, false, false, &e, &n), ARCA_ERR_ARGS);
    assert_int_equal(f->ops->scan(f->ops->ctx, ARCA_DB_AUDIT, NULL, 0, NULL, 0, 0, false, false, &e, &n),
                     ARCA_ERR_ARGS);
    assert_int_equal(f->ops->scan(f->ops->ctx, ARCA_DB_AUDIT, NULL, 0, NULL, 0, ARCA_STORE_MAX_SCAN + 1, false,
                                  false, &e, &n),
                     ARCA_ERR_ARGS);
    assert_null(e);
}

static void fill_scan_data(const arca_store_ops *ops)
{
    const char *keys[] = {"a", "ab", "ab\xff", "abc", "abd", "ac", "b", "b\xff\xff", "c"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) assert_int_equal(put(ops, ARCA_DB_INDEX, keys[i], "v"), ARCA_OK);
}

static void test_scan_forward(void **state)
{
    fixture *f = *state;
    expect_scan(f->ops, ARCA_DB_INDEX, "", "", 100, false, "");
    fill_scan_data(f->ops);
    expect_scan(f->ops, ARCA_DB_INDEX, "", "", 100, false, "a ab abc abd ab\xff ac b b\xff\xff c");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "", 100, false, "ab abc abd ab\xff");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "", 2, false, "ab abc");
    /* after is exclusive, whether or not it exists */
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "abc", 100, false, "abd ab\xff");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "abb", 100, false, "abc abd ab\xff");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "ab\xff", 100, false, "");
    /* after below the prefix starts at the prefix */
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "a", 100, false, "ab abc abd ab\xff");
    expect_scan(f->ops, ARCA_DB_INDEX, "", "ac", 100, false, "b b\xff\xff c");
    expect_scan(f->ops, ARCA_DB_INDEX, "zz", "", 100, false, "");
    expect_scan(f->ops, ARCA_DB_INDEX, "b", "", 100, false, "b b\xff\xff");
}

static void test_scan_reverse(void **state)
{
    fixture *f = *state;
    expect_scan(f->ops, ARCA_DB_INDEX, "", "", 100, true, "");
    fill_scan_data(f->ops);
    expect_scan(f->ops, ARCA_DB_INDEX, "", "", 100, true, "c b\xff\xff b ac ab\xff abd abc ab a");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "", 100, true, "ab\xff abd abc ab");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "", 1, true, "ab\xff");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "abd", 100, true, "abc ab");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "abcc", 100, true, "abc ab");
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "ab", 100, true, "");
    /* after above the prefix range starts at the prefix's last key */
    expect_scan(f->ops, ARCA_DB_INDEX, "ab", "zz", 100, true, "ab\xff abd abc ab");
    /* prefixes ending in 0xff, and the last key of the database */
    expect_scan(f->ops, ARCA_DB_INDEX, "b\xff", "", 100, true, "b\xff\xff");
    expect_scan(f->ops, ARCA_DB_INDEX, "c", "", 100, true, "c");
    expect_scan(f->ops, ARCA_DB_INDEX, "", "b", 2, true, "ac ab\xff");
    expect_scan(f->ops, ARCA_DB_INDEX, "0", "", 100, true, "");
}

static void test_scan_values_and_pagination(void **state)
{
    fixture *f = *state;
    /* audit records keyed by u64 big-endian sequence numbers */
    for (uint64_t i = 1; i <= 50; i++) {
        uint8_t key[8];
        for (int b = 0; b < 8; b++) key[b] = (uint8_t)(i >> (56 - 8 * b));
        char val[16];
        snprintf(val, sizeof val, "rec%llu", (unsigned long long)i);
        arca_store_op op = {.kind = ARCA_STORE_PUT, .db = ARCA_DB_AUDIT, .key = key, .key_len = 8,
                            .val = (const uint8_t *)val, .val_len = strlen(val)};
        assert_int_equal(f->ops->commit(f->ops->ctx, &op, 1), ARCA_OK);
    }
    uint8_t after[8] = {0};
    size_t after_len = 0, total = 0;
    uint64_t expect = 1;
    for (;;) {
        arca_store_entry *e = NULL;
        size_t n = 0;
        assert_int_equal(f->ops->scan(f->ops->ctx, ARCA_DB_AUDIT, NULL, 0, after, after_len, 7, true, false, &e, &n),
                         ARCA_OK);
        if (n == 0) break;
        for (size_t i = 0; i < n; i++, expect++) {
            char val[16];
            snprintf(val, sizeof val, "rec%llu", (unsigned long long)expect);
            assert_int_equal(e[i].key_len, 8);
            assert_int_equal(e[i].key[7], (uint8_t)expect);
            assert_int_equal(e[i].val_len, strlen(val));
            assert_memory_equal(e[i].val, val, e[i].val_len);
        }
        memcpy(after, e[n - 1].key, 8);
        after_len = 8;
        total += n;
        arca_store_entries_free(e, n);
    }
    assert_int_equal(total, 50);

    /* newest first: the last three records */
    arca_store_entry *e = NULL;
    size_t n = 0;
    assert_int_equal(f->ops->scan(f->ops->ctx, ARCA_DB_AUDIT, NULL, 0, NULL, 0, 3, true, true, &e, &n), ARCA_OK);
    assert_int_equal(n, 3);
    assert_int_equal(e[0].key[7], 50);
    assert_int_equal(e[2].key[7], 48);
    assert_memory_equal(e[2].val, "rec48", 5);
    arca_store_entries_free(e, n);
}

static void test_atomic_commit(void **state)
{
    fixture *f = *state;
    assert_int_equal(put(f->ops, ARCA_DB_STATE, "old", "1"), ARCA_OK);
    arca_store_op ops[3] = {
        {.kind = ARCA_STORE_PUT, .db = ARCA_DB_BLOBS, .key = (const uint8_t *)"obj", .key_len = 3,
         .val = (const uint8_t *)"blob", .val_len = 4},
        {.kind = ARCA_STORE_PUT, .db = ARCA_DB_INDEX, .key = (const uint8_t *)"ix", .key_len = 2,
         .val = (const uint8_t *)"", .val_len = 0},
        {.kind = ARCA_STORE_DEL, .db = ARCA_DB_STATE, .key = (const uint8_t *)"old", .key_len = 3},
    };
    assert_int_equal(f->ops->commit(f->ops->ctx, ops, 3), ARCA_OK);
    expect_stored(f->ops, ARCA_DB_BLOBS, "obj", "blob");
    expect_stored(f->ops, ARCA_DB_INDEX, "ix", "");
    expect_missing(f->ops, ARCA_DB_STATE, "old");

    /* one bad op: nothing at all is applied */
    arca_store_op bad[2] = {
        {.kind = ARCA_STORE_PUT, .db = ARCA_DB_BLOBS, .key = (const uint8_t *)"new", .key_len = 3,
         .val = (const uint8_t *)"x", .val_len = 1},
        {.kind = ARCA_STORE_PUT, .db = 42, .key = (const uint8_t *)"k", .key_len = 1,
         .val = (const uint8_t *)"x", .val_len = 1},
    };
    assert_int_equal(f->ops->commit(f->ops->ctx, bad, 2), ARCA_ERR_ARGS);
    expect_missing(f->ops, ARCA_DB_BLOBS, "new");
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_map_full(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/small", f->dir);
    arca_store_lmdb *s = NULL;
    assert_int_equal(arca_store_lmdb_open(path, 1u << 20, ARCA_STORE_LMDB_CREATE, &s), ARCA_OK);
    const arca_store_ops *ops = arca_store_lmdb_ops(s);
    static uint8_t val[256 * 1024];
    memset(val, 0xab, sizeof val);

    char log_path[128];
    snprintf(log_path, sizeof log_path, "%s/log", f->dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(log_fd >= 0);
    arca_log_set_fd(log_fd);
    arca_status st = ARCA_OK;
    int i;
    for (i = 0; i < 16 && st == ARCA_OK; i++) {
        uint8_t key[1] = {(uint8_t)i};
        arca_store_op op = {.kind = ARCA_STORE_PUT, .db = ARCA_DB_BLOBS, .key = key, .key_len = 1, .val = val,
                            .val_len = sizeof val};
        st = ops->commit(ops->ctx, &op, 1);
    }
    arca_log_set_fd(2);
    close(log_fd);
    assert_int_equal(st, ARCA_ERR_STORE);
    assert_true(i > 1); /* the first ones fit */
    assert_non_null(strstr(read_file(log_path), "is full (map size 1 MiB)"));
    assert_non_null(strstr(read_file(log_path), "raise store_map_size_mb"));
    /* the store is still usable and holds what was committed before */
    uint8_t *got = NULL;
    size_t len = 0;
    uint8_t key0[1] = {0};
    assert_int_equal(ops->get(ops->ctx, ARCA_DB_BLOBS, key0, 1, &got, &len), ARCA_OK);
    assert_int_equal(len, sizeof val);
    free(got);
    arca_store_lmdb_close(s);
}

static void test_persistence(void **state)
{
    fixture *f = *state;
    assert_int_equal(put(f->ops, ARCA_DB_STATE, "epoch", "7"), ARCA_OK);
    arca_store_lmdb_close(f->s);
    f->s = NULL;
    /* reopen without CREATE: it is a store now */
    assert_int_equal(arca_store_lmdb_open(f->store, 0, 0, &f->s), ARCA_OK);
    f->ops = arca_store_lmdb_ops(f->s);
    expect_stored(f->ops, ARCA_DB_STATE, "epoch", "7");
}

static void test_open_refusals(void **state)
{
    fixture *f = *state;
    arca_store_lmdb *s = NULL;
    char path[160];

    /* missing directory without CREATE */
    snprintf(path, sizeof path, "%s/missing", f->dir);
    assert_int_equal(arca_store_lmdb_open(path, 0, 0, &s), ARCA_ERR_STORE);
    assert_null(s);

    /* a directory that is not a store */
    snprintf(path, sizeof path, "%s/empty", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(arca_store_lmdb_open(path, 0, 0, &s), ARCA_ERR_STORE);
    char data[200];
    snprintf(data, sizeof data, "%s/data.mdb", path);
    assert_int_equal(access(data, F_OK), -1); /* and it was not turned into one */

    /* an LMDB environment without our databases */
    snprintf(path, sizeof path, "%s/foreign", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    MDB_env *env = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    mdb_env_close(env);
    assert_int_equal(arca_store_lmdb_open(path, 0, 0, &s), ARCA_ERR_STORE);
    assert_null(s);

    /* a corrupt data file: LMDB's own error */
    snprintf(path, sizeof path, "%s/corrupt", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(data, sizeof data, "%s/data.mdb", path);
    int jfd = open(data, O_WRONLY | O_CREAT, 0600);
    assert_true(jfd >= 0);
    char junk[8192];
    memset(junk, 'J', sizeof junk);
    assert_int_equal(write(jfd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(jfd);
    char log_path[160];
    snprintf(log_path, sizeof log_path, "%s/log", f->dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(log_fd >= 0);
    arca_log_set_fd(log_fd);
    arca_status st = arca_store_lmdb_open(path, 0, 0, &s);
    arca_log_set_fd(2);
    close(log_fd);
    assert_int_equal(st, ARCA_ERR_STORE);
    assert_null(s);
    assert_non_null(strstr(read_file(log_path), "MDB_INVALID"));
    assert_int_equal(arca_store_lmdb_open(path, 0, ARCA_STORE_LMDB_CREATE, &s), ARCA_ERR_STORE);

    /* a file where the directory should be */
    snprintf(path, sizeof path, "%s/file", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(arca_store_lmdb_open(path, 0, ARCA_STORE_LMDB_CREATE, &s), ARCA_ERR_STORE);
    assert_null(s);

    /* bad arguments */
    assert_int_equal(arca_store_lmdb_open(NULL, 0, 0, &s), ARCA_ERR_ARGS);
    assert_int_equal(arca_store_lmdb_open(f->store, 0, 0x80, &s), ARCA_ERR_ARGS);
}

static void test_unreadable_store(void **state)
{
    fixture *f = *state;
    assert_int_equal(put(f->ops, ARCA_DB_BLOBS, "k", "v"), ARCA_OK);
    /* root ignores permission bits: check as an unprivileged user */
    bool root = geteuid() == 0;
    assert_int_equal(chmod(f->store, root ? 0700 : 0000), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (root && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(10);
        arca_store_lmdb *s = NULL;
        arca_status st = arca_store_lmdb_open(f->store, 0, 0, &s);
        _exit(st == ARCA_ERR_STORE && s == NULL ? 0 : 20 + (int)st);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(chmod(f->store, 0700), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_reverse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_values_and_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
