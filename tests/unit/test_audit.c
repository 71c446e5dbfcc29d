/* Unit tests for enclave_kms/src/audit.c over an in-memory store (a sorted
 * array implementing arca_store_ops) and the dev sealing backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "arca/log.h"
#include "audit.h"

/* ---- fake store ---- */

typedef struct fake_entry {
    uint8_t db;
    uint8_t key[64];
    size_t key_len;
    uint8_t *val;
    size_t val_len;
} fake_entry;

typedef struct fake_store {
    fake_entry *e;
    size_t num, cap;
    arca_status fail_commit; /* injected commit failure, ARCA_OK normally */
    size_t commits;
} fake_store;

static int entry_cmp(uint8_t db, const uint8_t *k, size_t kl, const fake_entry *e)
{
    size_t n = kl < e->key_len ? kl : e->key_len;
    int c;
    if (db != e->db) return db < e->db ? -1 : 1;
    c = memcmp(k, e->key, n);
    if (c != 0) return c;
    return kl < e->key_len ? -1 : kl > e->key_len ? 1 : 0;
}

/* Index of the first entry >= (db, key). */
static size_t lower_bound(fake_store *s, uint8_t db, const uint8_t *k, size_t kl)
{
    size_t i = 0;
    while (i < s->num && entry_cmp(db, k, kl, &s->e[i]) > 0) i++;
    return i;
}

static arca_status fake_get(void *ctx, uint8_t db, const uint8_t *key, size_t key_len, uint8_t **out, size_t *out_len)
{
    fake_store *s = ctx;
    size_t i = lower_bound(s, db, key, key_len);
    if (i == s->num || entry_cmp(db, key, key_len, &s->e[i]) != 0) return ARCA_ERR_NOT_FOUND;
    *out = malloc(s->e[i].val_len + 1);
    memcpy(*out, s->e[i].val, s->e[i].val_len);
    *out_len = s->e[i].val_len;
    return ARCA_OK;
}

static void fake_del_at(fake_store *s, size_t i)
{
    free(s->e[i].val);
    memmove(&s->e[i], &s->e[i + 1], (s->num - i - 1) * sizeof(*s->e));
    s->num--;
}

static arca_status fake_commit(void *ctx, const arca_store_op *ops, size_t num_ops)
{
    fake_store *s = ctx;
    if (s->fail_commit != ARCA_OK) return s->fail_commit;
    for (size_t j = 0; j < num_ops; j++) {
        const arca_store_op *op = &ops[j];
        size_t i = lower_bound(s, op->db, op->key, op->key_len);
        bool found = i < s->num && entry_cmp(op->db, op->key, op->key_len, &s->e[i]) == 0;
        assert_true(op->key_len <= 64);
        if (op->kind == ARCA_STORE_DEL) {
            if (found) fake_del_at(s, i);
            continue;
        }
        if (!found) {
            if (s->num == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 64;
                s->e = realloc(s->e, s->cap * sizeof(*s->e));
            }
            memmove(&s->e[i + 1], &s->e[i], (s->num - i) * sizeof(*s->e));
            s->num++;
            s->e[i].db = op->db;
            memcpy(s->e[i].key, op->key, op->key_len);
            s->e[i].key_len = op->key_len;
            s->e[i].val = NULL;
        }
        free(s->e[i].val);
        s->e[i].val = malloc(op->val_len + 1);
        memcpy(s->e[i].val, op->val, op->val_len);
        s->e[i].val_len = op->val_len;
    }
    s->commits++;
    return ARCA_OK;
}

static arca_status fake_scan(void *ctx, uint8_t db, const uint8_t *prefix, size_t prefix_len, const uint8_t *after,
                             size_t after_len, uint32_t limit, bool with_values, bool reverse,
                             arca_store_entry **out, size_t *out_num)
{
    fake_store *s = ctx;
    arca_store_entry *r = calloc(limit + 1, sizeof(*r));
    size_t n = 0;

    for (size_t step = 0; step < s->num && n < limit; step++) {
        size_t i = reverse ? s->num - 1 - step : step;
        fake_entry *e = &s->e[i];
        if (e->db != db) continue;
        if (prefix_len > 0 && (e->key_len < prefix_len || memcmp(e->key, prefix, prefix_len) != 0)) continue;
        if (after_len > 0) {
            int c = entry_cmp(db, after, after_len, e);
            if (reverse ? c <= 0 : c >= 0) continue;
        }
        r[n].key = malloc(e->key_len);
        memcpy(r[n].key, e->key, e->key_len);
        r[n].key_len = e->key_len;
        if (with_values) {
            r[n].val = malloc(e->val_len + 1);
            memcpy(r[n].val, e->val, e->val_len);
            r[n].val_len = e->val_len;
        }
        n++;
    }
    *out = r;
    *out_num = n;
    return ARCA_OK;
}

static void fake_free(fake_store *s)
{
    for (size_t i = 0; i < s->num; i++) free(s->e[i].val);
    free(s->e);
    memset(s, 0, sizeof(*s));
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[64];
    arca_sealing *sealing;
    fake_store fs;
    arca_store_ops ops;
    arca_audit *audit;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    arca_sealing_config cfg = {.mode = "dev"};
    arca_enclave_identity id;

    arca_log_set_level(ARCA_LOG_ERROR);
    memset(&id, 0, sizeof(id));
    memset(id.signer_id, 0xA5, sizeof(id.signer_id));
    memset(id.measurement, 0x3C, sizeof(id.measurement));
    id.product_id = 1;
    id.svn = 1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/arca-audit-XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    cfg.state_dir = f->dir;
    if (arca_sealing_initialise(&cfg) != ARCA_OK) return -1;
    if (arca_sealing_open(&cfg, &id, &f->sealing) != ARCA_OK) return -1;
    f->ops.ctx = &f->fs;
    f->ops.get = fake_get;
    f->ops.commit = fake_commit;
    f->ops.scan = fake_scan;
    if (arca_audit_open(f->sealing, &f->ops, &f->audit) != ARCA_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    arca_audit_free(f->audit);
    arca_sealing_free(f->sealing);
    fake_free(&f->fs);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static void append_n(fixture *f, size_t n)
{
    static const uint8_t oid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    for (size_t i = 0; i < n; i++) {
        arca_audit_event ev = {
            .op = (uint16_t)(i % 2 ? ARCA_AUDIT_SIGN : ARCA_AUDIT_GENERATE),
            .status = ARCA_OK,
            .object_id = i % 3 ? oid : NULL,
            .partition = "tenant-a",
            .actor = i % 5 ? "user" : NULL,
            .detail = "CKM_ECDSA",
        };
        assert_int_equal(arca_audit_append(f->audit, &ev), ARCA_OK);
    }
}

static fake_entry *audit_entry(fixture *f, uint64_t seq)
{
    for (size_t i = 0; i < f->fs.num; i++) {
        fake_entry *e = &f->fs.e[i];
        uint64_t v = 0;
        if (e->db != ARCA_DB_AUDIT || e->key_len != 8) continue;
        for (int j = 0; j < 8; j++) v = (v << 8) | e->key[j];
        if (v == seq) return e;
    }
    return NULL;
}

/* ---- tests ---- */

static void test_append_verify(void **state)
{
    fixture *f = *state;
    uint64_t n = 0;

    assert_int_equal(arca_audit_count(f->audit), 0);
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_int_equal(n, 0);
    append_n(f, 600); /* more than two scan pages */
    assert_int_equal(arca_audit_count(f->audit), 600);
    assert_int_equal(f->fs.num, 600);
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_int_equal(n, 600);
    /* Record layout: format 1, seq 1, and the first prev_hash is zero. */
    {
        static const uint8_t zero[32];
        fake_entry *e = audit_entry(f, 1);
        assert_non_null(e);
        assert_memory_equal(e->val, "\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01", 10);
        assert_memory_equal(e->val + e->val_len - 64, zero, 32);
        /* partition text present, no secrets. */
        assert_non_null(memmem(e->val, e->val_len, "tenant-a", 8));
    }
}

static void test_edit_middle(void **state)
{
    fixture *f = *state;
    uint64_t n = 0;
    fake_entry *e;

    append_n(f, 20);
    e = audit_entry(f, 10);
    e->val[20] ^= 0x01; /* inside the op/status/object id */
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
    e->val[20] ^= 0x01;
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    /* Edit of the MAC itself, and of a prev-hash. */
    e->val[e->val_len - 1] ^= 0x80;
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
    e->val[e->val_len - 1] ^= 0x80;
    e->val[e->val_len - 40] ^= 0x80;
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
}

static void test_delete_middle(void **state)
{
    fixture *f = *state;
    uint64_t n = 0;

    append_n(f, 20);
    fake_del_at(&f->fs, (size_t)(audit_entry(f, 7) - f->fs.e));
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
}

static void test_delete_first_and_last(void **state)
{
    fixture *f = *state;
    uint64_t n = 0;

    append_n(f, 5);
    fake_del_at(&f->fs, (size_t)(audit_entry(f, 5) - f->fs.e));
    /* A truncated tail is caught against the head the enclave holds. */
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
    fake_del_at(&f->fs, (size_t)(audit_entry(f, 1) - f->fs.e));
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
}

static void test_reorder(void **state)
{
    fixture *f = *state;
    uint64_t n = 0;
    fake_entry *a, *b, tmp;

    append_n(f, 20);
    a = audit_entry(f, 8);
    b = audit_entry(f, 9);
    tmp = *a;
    a->val = b->val;
    a->val_len = b->val_len;
    b->val = tmp.val;
    b->val_len = tmp.val_len;
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
}

static void test_replace_with_other_record(void **state)
{
    fixture *f = *state;
    uint64_t n = 0;
    fake_entry *a, *b;

    /* A valid record copied over another: seq does not match its key. */
    append_n(f, 10);
    a = audit_entry(f, 3);
    b = audit_entry(f, 4);
    free(b->val);
    b->val = malloc(a->val_len);
    memcpy(b->val, a->val, a->val_len);
    b->val_len = a->val_len;
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_ERR_INTEGRITY);
}

static void test_reopen_continues(void **state)
{
    fixture *f = *state;
    uint64_t n = 0;

    append_n(f, 30);
    arca_audit_free(f->audit);
    f->audit = NULL;
    assert_int_equal(arca_audit_open(f->sealing, &f->ops, &f->audit), ARCA_OK);
    assert_int_equal(arca_audit_count(f->audit), 30);
    append_n(f, 5);
    assert_int_equal(arca_audit_count(f->audit), 35);
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_int_equal(n, 35);
}

static void test_open_tampered_head(void **state)
{
    fixture *f = *state;
    arca_audit *a2 = NULL;
    fake_entry *e;

    append_n(f, 3);
    e = audit_entry(f, 3);
    e->val[12] ^= 1; /* the time field of the last record */
    assert_int_equal(arca_audit_open(f->sealing, &f->ops, &a2), ARCA_ERR_INTEGRITY);
    assert_null(a2);
    e->val[12] ^= 1;
    /* A record moved to another key. */
    e->key[7] = 9;
    assert_int_equal(arca_audit_open(f->sealing, &f->ops, &a2), ARCA_ERR_INTEGRITY);
    e->key[7] = 3;
    assert_int_equal(arca_audit_open(f->sealing, &f->ops, &a2), ARCA_OK);
    assert_int_equal(arca_audit_count(a2), 3);
    arca_audit_free(a2);
}

static void test_other_key_rejects(void **state)
{
    fixture *f = *state;
    arca_sealing_config cfg = {.mode = "dev"};
    arca_enclave_identity id;
    arca_sealing *s2 = NULL;
    arca_audit *a2 = NULL;
    char dir[64];
    char cmd[128];

    /* Records MACed under another appliance's audit key do not open. */
    append_n(f, 2);
    snprintf(dir, sizeof(dir), "/tmp/arca-audit2-XXXXXX");
    assert_non_null(mkdtemp(dir));
    cfg.state_dir = dir;
    memset(&id, 0, sizeof(id));
    memset(id.signer_id, 0xA5, sizeof(id.signer_id));
    id.product_id = 1;
    id.svn = 1;
    assert_int_equal(arca_sealing_initialise(&cfg), ARCA_OK);
    assert_int_equal(arca_sealing_open(&cfg, &id, &s2), ARCA_OK);
    assert_int_equal(arca_audit_open(s2, &f->ops, &a2), ARCA_ERR_INTEGRITY);
    arca_sealing_free(s2);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_begin_end_failure(void **state)
{
    fixture *f = *state;
    arca_audit_event ev = {.op = ARCA_AUDIT_DESTROY, .status = ARCA_OK, .detail = "destroy"};
    arca_store_op op;
    uint64_t n = 0;

    append_n(f, 3);
    assert_int_equal(arca_audit_begin(f->audit, &ev, &op), ARCA_OK);
    assert_int_equal(op.kind, ARCA_STORE_PUT);
    assert_int_equal(op.db, ARCA_DB_AUDIT);
    assert_int_equal(op.key_len, 8);
    assert_memory_equal(op.key, "\0\0\0\0\0\0\0\x04", 8);
    /* The commit failed: nothing stored, head unchanged. */
    arca_audit_end(f->audit, ARCA_ERR_STORE);
    assert_int_equal(arca_audit_count(f->audit), 3);
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_int_equal(n, 3);

    /* begin + successful commit + end advances. */
    assert_int_equal(arca_audit_begin(f->audit, &ev, &op), ARCA_OK);
    assert_memory_equal(op.key, "\0\0\0\0\0\0\0\x04", 8);
    assert_int_equal(f->ops.commit(f->ops.ctx, &op, 1), ARCA_OK);
    arca_audit_end(f->audit, ARCA_OK);
    assert_int_equal(arca_audit_count(f->audit), 4);

    /* append with a failing store reports the failure and does not advance. */
    f->fs.fail_commit = ARCA_ERR_STORE;
    assert_int_equal(arca_audit_append(f->audit, &ev), ARCA_ERR_STORE);
    f->fs.fail_commit = ARCA_OK;
    assert_int_equal(arca_audit_count(f->audit), 4);
    append_n(f, 1);
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_int_equal(n, 5);
}

typedef struct thread_arg {
    fixture *f;
    volatile int done;
} thread_arg;

static void *appender(void *p)
{
    thread_arg *t = p;
    arca_audit_event ev = {.op = ARCA_AUDIT_SIGN, .status = ARCA_OK};
    if (arca_audit_append(t->f->audit, &ev) == ARCA_OK) t->done = 1;
    else t->done = -1;
    return NULL;
}

static void test_begin_holds_lock(void **state)
{
    fixture *f = *state;
    arca_audit_event ev = {.op = ARCA_AUDIT_GENERATE, .status = ARCA_OK};
    arca_store_op op;
    pthread_t th;
    thread_arg t = {.f = f, .done = 0};
    uint64_t n = 0;

    assert_int_equal(arca_audit_begin(f->audit, &ev, &op), ARCA_OK);
    assert_int_equal(pthread_create(&th, NULL, appender, &t), 0);
    usleep(100 * 1000);
    assert_int_equal(t.done, 0); /* blocked behind begin() */
    assert_int_equal(f->ops.commit(f->ops.ctx, &op, 1), ARCA_OK);
    arca_audit_end(f->audit, ARCA_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.done, 1);
    assert_int_equal(arca_audit_count(f->audit), 2);
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_int_equal(n, 2);
}

static void test_long_text_truncated(void **state)
{
    fixture *f = *state;
    char big[3000];
    arca_audit_event ev = {.op = ARCA_AUDIT_LOGIN, .status = ARCA_ERR_PIN_INCORRECT};
    uint64_t n = 0;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ev.detail = big;
    ev.actor = big;
    assert_int_equal(arca_audit_append(f->audit, &ev), ARCA_OK);
    assert_int_equal(arca_audit_verify(f->audit, &n), ARCA_OK);
    assert_true(audit_entry(f, 1)->val_len < 2 * 1024 + 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_first_and_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reorder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_with_other_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_tampered_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_key_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_end_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_holds_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_text_truncated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
