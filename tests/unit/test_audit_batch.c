/* Unit tests for the batching of key-use audit records (enclave_kms/src/
 * audit.c, audit.h "Batching"): the count, time and lifecycle triggers,
 * batches larger than one store commit, a failed batch stopping key use
 * with the store's status, the flusher thread, concurrent appenders, and a
 * crash (records that never reach the store) leaving a verifiable chain.
 * The store is real LMDB behind a wrapper that counts commits and can
 * fail them; the clock is a fake one where the test drives time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "arca/log.h"
#include "audit.h"
#include "store_lmdb.h"

/* ---- a counting, failing wrapper around the LMDB store ---- */

typedef struct wrap_store {
    pthread_mutex_t mu; /* the LMDB handle is not for concurrent calls */
    const arca_store_ops *inner;
    arca_status fail; /* injected commit failure, ARCA_OK normally */
    size_t commits;   /* successful commits */
    size_t last_num_ops;
    size_t audit_puts; /* audit records stored */
} wrap_store;

static arca_status w_get(void *ctx, uint8_t db, const uint8_t *key, size_t key_len, uint8_t **out, size_t *out_len)
{
    wrap_store *w = ctx;
    pthread_mutex_lock(&w->mu);
    arca_status st = w->inner->get(w->inner->ctx, db, key, key_len, out, out_len);
    pthread_mutex_unlock(&w->mu);
    return st;
}

static arca_status w_commit(void *ctx, const arca_store_op *ops, size_t num)
{
    wrap_store *w = ctx;
    arca_status st;
    pthread_mutex_lock(&w->mu);
    st = w->fail;
    if (st == ARCA_OK) st = w->inner->commit(w->inner->ctx, ops, num);
    if (st == ARCA_OK) {
        w->commits++;
        w->last_num_ops = num;
        for (size_t i = 0; i < num; i++)
            if (ops[i].db == ARCA_DB_AUDIT) w->audit_puts++;
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

static arca_status w_scan(void *ctx, uint8_t db, const uint8_t *prefix, size_t prefix_len, const uint8_t *after,
                          size_t after_len, uint32_t limit, bool with_values, bool reverse, arca_store_entry **out,
                          size_t *out_num)
{
    wrap_store *w = ctx;
    pthread_mutex_lock(&w->mu);
    arca_status st = w->inner->scan(w->inner->ctx, db, prefix, prefix_len, after, after_len, limit, with_values,
                                    reverse, out, out_num);
    pthread_mutex_unlock(&w->mu);
    return st;
}

static void w_set_fail(wrap_store *w, arca_status st)
{
    pthread_mutex_lock(&w->mu);
    w->fail = st;
    pthread_mutex_unlock(&w->mu);
}

static size_t w_commits(wrap_store *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->commits;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* ---- fake clock ---- */

static uint64_t fake_now = 1000;
static uint64_t fake_clock(void)
{
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[64];
    arca_sealing *sealing;
    arca_store_lmdb *lmdb;
    wrap_store w;
    arca_store_ops ops;
    arca_audit *audit;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    arca_sealing_config cfg = {.mode = "dev"};
    arca_enclave_identity id;
    char path[128];

    arca_log_set_level(ARCA_LOG_ERROR);
    memset(&id, 0, sizeof(id));
    memset(id.signer_id, 0x5A, sizeof(id.signer_id));
    memset(id.measurement, 0xC3, sizeof(id.measurement));
    id.product_id = 1;
    id.svn = 1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/arca-auditb-XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    cfg.state_dir = f->dir;
    if (arca_sealing_initialise(&cfg) != ARCA_OK) return -1;
    if (arca_sealing_open(&cfg, &id, &f->sealing) != ARCA_OK) return -1;
    snprintf(path, sizeof(path), "%s/store", f->dir);
    if (arca_store_lmdb_open(path, 64u << 20, ARCA_STORE_LMDB_CREATE, &f->lmdb) != ARCA_OK) return -1;
    pthread_mutex_init(&f->w.mu, NULL);
    f->w.inner = arca_store_lmdb_ops(f->lmdb);
    f->ops.ctx = &f->w;
    f->ops.get = w_get;
    f->ops.commit = w_commit;
    f->ops.scan = w_scan;
    fake_now = 1000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    arca_audit_free(f->audit);
    arca_store_lmdb_close(f->lmdb);
    arca_sealing_free(f->sealing);
    pthread_mutex_destroy(&f->w.mu);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static void open_batched(fixture *f, uint32_t max_records, uint32_t delay_ms, bool flusher)
{
    arca_audit_batch cfg = {.max_delay_ms = delay_ms,
                            .max_records = max_records,
                            .no_flusher = !flusher,
                            .clock_ms = flusher ? NULL : fake_clock};
    assert_int_equal(arca_audit_open_batched(f->sealing, &f->ops, &cfg, &f->audit), ARCA_OK);
}

static arca_audit_event use_event(uint16_t op)
{
    static const uint8_t oid[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    arca_audit_event ev = {.op = op, .status = ARCA_OK, .object_id = oid, .partition = "p1",
                           .actor = "app/user", .detail = "mechanism 0x00001041"};
    return ev;
}

static void append_use_n(fixture *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        arca_audit_event ev = use_event(ARCA_AUDIT_SIGN);
        assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_OK);
    }
}

static void assert_verifies(fixture *f, uint64_t expect)
{
    uint64_t n = 0;
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_int_equal(n, expect);
}

/* ---- tests ---- */

static void test_use_ops(void **state)
{
    (void)state;
    const uint16_t use[] = {ARCA_AUDIT_SIGN,   ARCA_AUDIT_VERIFY, ARCA_AUDIT_ENCRYPT, ARCA_AUDIT_DECRYPT,
                            ARCA_AUDIT_WRAP,   ARCA_AUDIT_UNWRAP, ARCA_AUDIT_DERIVE,  ARCA_AUDIT_ACCESS_DENIED};
    const uint16_t lifecycle[] = {ARCA_AUDIT_INITIALISE, ARCA_AUDIT_LOGIN,    ARCA_AUDIT_LOGIN_FAILED,
                                  ARCA_AUDIT_GENERATE,   ARCA_AUDIT_DESTROY,  ARCA_AUDIT_ROTATE,
                                  ARCA_AUDIT_GET_VALUE,  ARCA_AUDIT_IDENTITY_PUT, ARCA_AUDIT_PIN_CHANGE, 0, 999};
    for (size_t i = 0; i < sizeof(use) / sizeof(use[0]); i++) assert_true(arca_audit_is_use_op(use[i]));
    for (size_t i = 0; i < sizeof(lifecycle) / sizeof(lifecycle[0]); i++)
        assert_false(arca_audit_is_use_op(lifecycle[i]));
}

static void test_open_args(void **state)
{
    fixture *f = *state;
    arca_audit_batch cfg = {.max_records = 65537, .no_flusher = true};
    arca_audit *a = NULL;
    assert_int_equal(arca_audit_open_batched(f->sealing, &f->ops, &cfg, &a), ARCA_ERR_ARGS);
    assert_null(a);
    assert_int_equal(arca_audit_append_use(NULL, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_audit_flush(NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_audit_poll(NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_audit_commit(NULL, NULL, NULL, 0), ARCA_ERR_ARGS);
}

/* The batch is stored when max_records are pending, in one commit. */
static void test_count_trigger(void **state)
{
    fixture *f = *state;
    open_batched(f, 8, 20, false);
    append_use_n(f, 7);
    assert_int_equal(w_commits(&f->w), 0);
    assert_int_equal(arca_audit_pending(f->audit), 7);
    assert_int_equal(arca_audit_count(f->audit), 7);
    append_use_n(f, 1);
    assert_int_equal(w_commits(&f->w), 1);
    assert_int_equal(f->w.last_num_ops, 8);
    assert_int_equal(arca_audit_pending(f->audit), 0);
    assert_int_equal(f->w.audit_puts, 8);
    assert_verifies(f, 8);
}

/* The batch is stored once its oldest record is max_delay_ms old. */
static void test_time_trigger(void **state)
{
    fixture *f = *state;
    open_batched(f, 1024, 20, false);
    assert_int_equal(arca_audit_poll(f->audit), ARCA_OK); /* nothing pending: nothing to do */
    assert_int_equal(w_commits(&f->w), 0);
    append_use_n(f, 3);
    fake_now += 10;
    append_use_n(f, 2); /* does not restart the window */
    fake_now += 9;
    assert_int_equal(arca_audit_poll(f->audit), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 0);
    assert_int_equal(arca_audit_pending(f->audit), 5);
    fake_now += 1;
    assert_int_equal(arca_audit_poll(f->audit), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 1);
    assert_int_equal(f->w.last_num_ops, 5);
    assert_int_equal(arca_audit_pending(f->audit), 0);
    /* A new window starts with the next record. */
    append_use_n(f, 1);
    fake_now += 19;
    assert_int_equal(arca_audit_poll(f->audit), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 1);
    fake_now += 1;
    assert_int_equal(arca_audit_poll(f->audit), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 2);
    assert_verifies(f, 6);
}

/* A lifecycle commit carries the pending use records in its transaction;
 * so does a synchronous append. */
static void test_lifecycle_trigger(void **state)
{
    fixture *f = *state;
    static const uint8_t k1[] = "obj-1", k2[] = "obj-2", v[] = "sealed";
    arca_store_op ops[2] = {
        {.kind = ARCA_STORE_PUT, .db = ARCA_DB_BLOBS, .key = k1, .key_len = 5, .val = v, .val_len = 6},
        {.kind = ARCA_STORE_PUT, .db = ARCA_DB_INDEX, .key = k2, .key_len = 5, .val = v, .val_len = 6},
    };
    arca_audit_event gen = use_event(ARCA_AUDIT_GENERATE);
    arca_audit_event login = use_event(ARCA_AUDIT_LOGIN);

    open_batched(f, 1024, 20, false);
    append_use_n(f, 5);
    assert_int_equal(arca_audit_commit(f->audit, &gen, ops, 2), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 1);
    assert_int_equal(f->w.last_num_ops, 5 + 2 + 1);
    assert_int_equal(arca_audit_pending(f->audit), 0);
    assert_int_equal(arca_audit_count(f->audit), 6);

    append_use_n(f, 3);
    assert_int_equal(arca_audit_append(f->audit, &login), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 2);
    assert_int_equal(f->w.last_num_ops, 3 + 1);
    assert_int_equal(arca_audit_pending(f->audit), 0);

    /* ops without a record of their own still take the pending ones along */
    append_use_n(f, 2);
    assert_int_equal(arca_audit_commit(f->audit, NULL, ops, 1), ARCA_OK);
    assert_int_equal(f->w.last_num_ops, 3);
    /* begin/end store the pending records before the caller's commit */
    append_use_n(f, 4);
    arca_store_op op;
    assert_int_equal(arca_audit_begin(f->audit, &gen, &op), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 4);
    assert_int_equal(f->w.last_num_ops, 4);
    arca_status st = f->ops.commit(f->ops.ctx, &op, 1);
    assert_int_equal(st, ARCA_OK);
    arca_audit_end(f->audit, st);
    assert_verifies(f, 6 + 4 + 2 + 4 + 1);
}

/* More pending records than one store commit may hold: several commits,
 * in chain order, and the chain verifies. */
static void test_larger_than_one_commit(void **state)
{
    fixture *f = *state;
    arca_audit_event gen = use_event(ARCA_AUDIT_GENERATE);
    open_batched(f, 65536, 20, false);
    append_use_n(f, ARCA_STORE_MAX_OPS + 300);
    assert_int_equal(arca_audit_flush(f->audit), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 2);
    assert_int_equal(f->w.last_num_ops, 300);
    append_use_n(f, ARCA_STORE_MAX_OPS + 10);
    assert_int_equal(arca_audit_commit(f->audit, &gen, NULL, 0), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 4);
    assert_int_equal(arca_audit_pending(f->audit), 0);
    assert_verifies(f, 2 * ARCA_STORE_MAX_OPS + 311);
    /* a caller's transaction must leave room for its record */
    static arca_store_op many[ARCA_STORE_MAX_OPS];
    assert_int_equal(arca_audit_commit(f->audit, NULL, many, ARCA_STORE_MAX_OPS), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_audit_commit(f->audit, NULL, NULL, 1), ARCA_ERR_ARGS);
}

/* A failed batch stops key use with the store's status until a flush
 * succeeds; nothing is lost from memory meanwhile. */
static void test_failure_stops_use(void **state)
{
    fixture *f = *state;
    arca_audit_event ev = use_event(ARCA_AUDIT_DECRYPT);
    open_batched(f, 1024, 20, false);
    append_use_n(f, 2);
    w_set_fail(&f->w, ARCA_ERR_STORE);
    fake_now += 20;
    assert_int_equal(arca_audit_poll(f->audit), ARCA_ERR_STORE);
    assert_int_equal(arca_audit_batch_status(f->audit), ARCA_ERR_STORE);
    assert_int_equal(arca_audit_pending(f->audit), 2);
    /* refused, and nothing appended */
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_ERR_STORE);
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_ERR_STORE);
    assert_int_equal(arca_audit_count(f->audit), 2);
    assert_int_equal(arca_audit_pending(f->audit), 2);
    assert_int_equal(arca_audit_verify(f->audit, NULL), ARCA_ERR_STORE);
    /* the store is back: the next use stores the old batch first */
    w_set_fail(&f->w, ARCA_OK);
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_OK);
    assert_int_equal(arca_audit_batch_status(f->audit), ARCA_OK);
    assert_int_equal(w_commits(&f->w), 1);
    assert_int_equal(f->w.last_num_ops, 2);
    assert_int_equal(arca_audit_pending(f->audit), 1);
    assert_verifies(f, 3);
}

/* The record that fills the batch gets the failed commit's status (its
 * output must not leave); later use is refused. */
static void test_failure_on_full_batch(void **state)
{
    fixture *f = *state;
    arca_audit_event ev = use_event(ARCA_AUDIT_SIGN);
    open_batched(f, 4, 20, false);
    append_use_n(f, 3);
    w_set_fail(&f->w, ARCA_ERR_IO);
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_ERR_IO);
    assert_int_equal(arca_audit_pending(f->audit), 4);
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_ERR_IO);
    assert_int_equal(arca_audit_pending(f->audit), 4);
    w_set_fail(&f->w, ARCA_OK);
    assert_int_equal(arca_audit_flush(f->audit), ARCA_OK);
    assert_int_equal(arca_audit_pending(f->audit), 0);
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_OK);
    assert_verifies(f, 5);
}

/* A failed lifecycle commit that carried pending use records: the change
 * and its record are gone, the use records stay pending, use stops. */
static void test_failure_in_lifecycle_commit(void **state)
{
    fixture *f = *state;
    arca_audit_event gen = use_event(ARCA_AUDIT_GENERATE);
    arca_audit_event ev = use_event(ARCA_AUDIT_VERIFY);
    open_batched(f, 1024, 20, false);
    append_use_n(f, 3);
    w_set_fail(&f->w, ARCA_ERR_STORE);
    assert_int_equal(arca_audit_commit(f->audit, &gen, NULL, 0), ARCA_ERR_STORE);
    assert_int_equal(arca_audit_count(f->audit), 3);
    assert_int_equal(arca_audit_pending(f->audit), 3);
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_ERR_STORE);
    w_set_fail(&f->w, ARCA_OK);
    assert_int_equal(arca_audit_commit(f->audit, &gen, NULL, 0), ARCA_OK);
    assert_int_equal(f->w.last_num_ops, 4);
    assert_int_equal(arca_audit_append_use(f->audit, &ev), ARCA_OK);
    assert_verifies(f, 5);
}

/* A crash: the pending window never reaches the store. The store's chain
 * is a prefix (no gap), verifies, and a reopened audit continues it. */
static void test_crash_loses_only_the_window(void **state)
{
    fixture *f = *state;
    open_batched(f, 8, 20, false);
    append_use_n(f, 8 + 8 + 5); /* two batches stored, 5 pending */
    assert_int_equal(w_commits(&f->w), 2);
    assert_int_equal(arca_audit_pending(f->audit), 5);
    /* "crash": the store refuses everything from here, as if the process died */
    w_set_fail(&f->w, ARCA_ERR_CHANNEL);
    arca_audit_free(f->audit);
    f->audit = NULL;
    w_set_fail(&f->w, ARCA_OK);
    open_batched(f, 8, 20, false);
    assert_int_equal(arca_audit_count(f->audit), 16);
    assert_verifies(f, 16);
    append_use_n(f, 2);
    assert_verifies(f, 18);
    /* clean close stores what is pending */
    append_use_n(f, 3);
    arca_audit_free(f->audit);
    f->audit = NULL;
    open_batched(f, 8, 20, false);
    assert_verifies(f, 21);
}

/* The background flusher stores a lone record without anyone asking. */
static void test_flusher_thread(void **state)
{
    fixture *f = *state;
    open_batched(f, 0, 0, true); /* defaults: 20 ms, 1024 */
    append_use_n(f, 1);
    for (int i = 0; i < 500 && arca_audit_pending(f->audit) != 0; i++) usleep(10000);
    assert_int_equal(arca_audit_pending(f->audit), 0);
    assert_int_equal(w_commits(&f->w), 1);
    /* and retries a failed batch on its own once the store is back */
    w_set_fail(&f->w, ARCA_ERR_STORE);
    append_use_n(f, 2);
    for (int i = 0; i < 500 && arca_audit_batch_status(f->audit) == ARCA_OK; i++) usleep(10000);
    assert_int_equal(arca_audit_batch_status(f->audit), ARCA_ERR_STORE);
    w_set_fail(&f->w, ARCA_OK);
    for (int i = 0; i < 500 && arca_audit_pending(f->audit) != 0; i++) usleep(10000);
    assert_int_equal(arca_audit_pending(f->audit), 0);
    assert_int_equal(arca_audit_batch_status(f->audit), ARCA_OK);
    assert_verifies(f, 3);
}

typedef struct worker_arg {
    fixture *f;
    int n;
    int lifecycle_every; /* 0: never */
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < w->n; i++) {
        arca_audit_event ev = use_event(i % 2 ? ARCA_AUDIT_SIGN : ARCA_AUDIT_ENCRYPT);
        if (w->lifecycle_every != 0 && i % w->lifecycle_every == 0) {
            ev.op = ARCA_AUDIT_SET_ATTRIBUTES;
            if (arca_audit_append(w->f->audit, &ev) != ARCA_OK) w->failures++;
        } else if (arca_audit_append_use(w->f->audit, &ev) != ARCA_OK) {
            w->failures++;
        }
    }
    return NULL;
}

/* Appenders on four threads, lifecycle commits among them, the flusher
 * and the count trigger all at work: every record is stored once, in
 * order. */
static void test_concurrent(void **state)
{
    fixture *f = *state;
    pthread_t t[4];
    worker_arg w[4];
    open_batched(f, 64, 2, true);
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_arg){.f = f, .n = 600, .lifecycle_every = i == 0 ? 50 : 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(arca_audit_count(f->audit), 2400);
    assert_verifies(f, 2400);
    assert_int_equal(f->w.audit_puts, 2400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_use_ops),
        cmocka_unit_test_setup_teardown(test_open_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_larger_than_one_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_stops_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_on_full_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_in_lifecycle_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_loses_only_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flusher_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
