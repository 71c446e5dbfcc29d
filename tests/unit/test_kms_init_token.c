/* Keystore: INIT_TOKEN (arca_kms_init_token, PKCS#11 C_InitToken), on the
 * real LMDB store with the dev sealing backend (scrypt cost lowered):
 * exact refusals, the erasure of one partition's token objects (blobs and
 * index entries, over several deletion commits) leaving other partitions
 * alone, the cleared user PIN, the audit record, and all of it after a
 * restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* kms_internal.h first (p11-kit's pkcs11.h macros, see test_kms.c). */
#include "kms_internal.h"

#include <cmocka.h>

#include "arca/kms.h"
#include "arca/local_proto.h"
#include "arca/log.h"
#include "arca/sealing.h"
#include "store_lmdb.h"

#define ADMIN_PIN "admin-pin-1"
#define SO_PIN "so-pin-1"
#define USER_PIN "user-pin-1"

typedef struct fx {
    char dir[128];
    char seal_dir[160];
    char store_dir[160];
    int log_fd;
    arca_sealing *sealing;
    arca_store_lmdb *lmdb;
    const arca_store_ops *store;
    arca_kms_config cfg;
    arca_kms *kms;
} fx;

static const uint8_t *u32v(uint32_t v)
{
    static uint8_t pool[16][4];
    static unsigned next;
    uint8_t *b = pool[next++ % 16];
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
    return b;
}

static arca_kms_session *session(fx *f)
{
    arca_kms_session *s = NULL;
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    return s;
}

static arca_kms_session *login(fx *f, const char *part, arca_role role, const char *pin)
{
    arca_kms_session *s = session(f);
    assert_int_equal(arca_kms_login(f->kms, s, part, role, pin), ARCA_OK);
    return s;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/arca-inittok-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->seal_dir, sizeof(f->seal_dir), "%s/seal", f->dir);
    snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
    assert_int_equal(mkdir(f->seal_dir, 0700), 0);
    char log_path[200];
    snprintf(log_path, sizeof(log_path), "%s/log", f->dir);
    f->log_fd = open(log_path, O_CREAT | O_WRONLY | O_APPEND, 0600);
    assert_true(f->log_fd >= 0);
    arca_log_set_fd(f->log_fd);
    arca_sealing_config sc = {.mode = "dev", .state_dir = f->seal_dir};
    arca_enclave_identity id;
    memset(&id, 0, sizeof(id));
    id.svn = 1;
    id.product_id = 1;
    assert_int_equal(arca_sealing_initialise(&sc), ARCA_OK);
    assert_int_equal(arca_sealing_open(&sc, &id, &f->sealing), ARCA_OK);
    assert_int_equal(arca_store_lmdb_open(f->store_dir, 256u << 20, ARCA_STORE_LMDB_CREATE, &f->lmdb), ARCA_OK);
    f->store = arca_store_lmdb_ops(f->lmdb);
    f->cfg.pin_hash_cost = 10;
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
    arca_kms_session *admin = session(f);
    assert_int_equal(arca_kms_initialise(f->kms, admin, ADMIN_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, admin, "p1", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, admin, "p2", SO_PIN, USER_PIN), ARCA_OK);
    arca_kms_session_free(admin);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    uint64_t n = 0;
    arca_kms_session *s = login(f, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN);
    assert_int_equal(arca_kms_audit_verify(f->kms, s, &n), ARCA_OK); /* the chain still verifies */
    arca_kms_session_free(s);
    arca_kms_free(f->kms);
    arca_store_lmdb_close(f->lmdb);
    arca_sealing_free(f->sealing);
    arca_log_set_fd(2);
    close(f->log_fd);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void reopen(fx *f)
{
    arca_kms_free(f->kms);
    f->kms = NULL;
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
}

static arca_object_id gen_aes(fx *f, arca_kms_session *s, bool token, const char *label)
{
    arca_object_id id;
    uint8_t tok = token ? 1 : 0;
    arca_attr t[] = {{CKA_VALUE_LEN, u32v(16), 4}, {CKA_LABEL, (const uint8_t *)label, strlen(label)},
                     {CKA_TOKEN, &tok, 1}};
    assert_int_equal(arca_kms_generate_key(f->kms, s, CKM_AES_KEY_GEN, t, 3, &id), ARCA_OK);
    return id;
}

static size_t count_all(fx *f, arca_kms_session *s)
{
    arca_object_id ids[512];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, s, NULL, 0, ids, 512, &n), ARCA_OK);
    return n;
}

/* Entries in a store database (all of it). */
static size_t store_count(fx *f, uint8_t db)
{
    size_t total = 0, after_len = 0;
    uint8_t after[ARCA_STORE_MAX_KEY];
    for (;;) {
        arca_store_entry *e = NULL;
        size_t n = 0;
        assert_int_equal(f->store->scan(f->store->ctx, db, NULL, 0, after, after_len, 1024, false, false, &e, &n),
                         ARCA_OK);
        if (n > 0) {
            memcpy(after, e[n - 1].key, e[n - 1].key_len);
            after_len = e[n - 1].key_len;
        }
        total += n;
        arca_store_entries_free(e, n);
        if (n < 1024) break;
    }
    return total;
}

static bool blob_exists(fx *f, const arca_object_id *id)
{
    uint8_t *v = NULL;
    size_t len = 0;
    arca_status st = f->store->get(f->store->ctx, ARCA_DB_BLOBS, id->b, sizeof(id->b), &v, &len);
    free(v);
    assert_true(st == ARCA_OK || st == ARCA_ERR_NOT_FOUND);
    return st == ARCA_OK;
}

/* The detail of the last INIT_TOKEN audit record and its status; false if none. */
static bool last_init_token(fx *f, char *detail, size_t detail_len, uint32_t *status)
{
    arca_kms_session *s = login(f, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN);
    arca_builder b;
    bool found = false;
    assert_int_equal(arca_builder_init(&b, 256, 4u << 20), ARCA_OK);
    assert_int_equal(arca_kms_audit_read(f->kms, s, 1, ARCA_AUDIT_READ_MAX, &b), ARCA_OK);
    arca_cursor c;
    uint32_t num = 0;
    arca_cursor_init(&c, b.data, b.len);
    assert_int_equal(arca_cursor_get_u32(&c, &num), ARCA_OK);
    for (uint32_t i = 0; i < num; i++) {
        arca_lp_record r;
        assert_int_equal(arca_lp_record_next(&c, &r), ARCA_OK);
        if (r.event.len == 10 && memcmp(r.event.data, "INIT_TOKEN", 10) == 0) {
            snprintf(detail, detail_len, "%.*s", (int)r.detail.len, (const char *)r.detail.data);
            *status = r.status;
            found = true;
        }
    }
    arca_builder_cleanup(&b);
    arca_kms_session_free(s);
    return found;
}

/* Refusals, each with its exact status, and nothing erased by them. */
static void test_refusals(void **state)
{
    fx *f = *state;
    uint64_t n = 99;
    char detail[128];
    uint32_t status = 0;
    arca_kms_session *user = login(f, "p1", ARCA_ROLE_USER, USER_PIN);
    arca_object_id k = gen_aes(f, user, true, "keep");
    arca_kms_session *s = session(f);

    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", NULL, &n), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", "abc", &n), ARCA_ERR_PIN_INVALID);
    assert_int_equal(arca_kms_init_token(f->kms, s, "nope", SO_PIN, &n), ARCA_ERR_NOT_FOUND);
    /* The PIN is checked before anything is said about other sessions. */
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", "wrong-so-pin", &n), ARCA_ERR_PIN_INCORRECT);
    assert_true(last_init_token(f, detail, sizeof(detail), &status));
    assert_string_equal(detail, "partition p1; so pin incorrect");
    assert_int_equal(status, ARCA_ERR_PIN_INCORRECT);
    /* A user of p1 is logged in (another connection): busy. */
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", SO_PIN, &n), ARCA_ERR_BUSY);
    assert_true(last_init_token(f, detail, sizeof(detail), &status));
    assert_string_equal(detail, "partition p1; 1 sessions logged in");
    assert_int_equal(status, ARCA_ERR_BUSY);
    /* So is an SO login; a logout ends it; a freed session too. */
    arca_kms_session *so = login(f, "p1", ARCA_ROLE_SO, SO_PIN);
    assert_int_equal(arca_kms_logout(f->kms, user), ARCA_OK);
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", SO_PIN, &n), ARCA_ERR_BUSY);
    /* A logged-in session cannot ask. */
    assert_int_equal(arca_kms_init_token(f->kms, so, "p1", SO_PIN, &n), ARCA_ERR_ALREADY_LOGGED_IN);
    arca_kms_session_free(so);
    /* A login to another partition does not count. */
    arca_kms_session *other = login(f, "p2", ARCA_ROLE_USER, USER_PIN);
    assert_int_equal(n, 99);
    assert_true(blob_exists(f, &k));
    assert_int_equal(arca_kms_login(f->kms, user, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    assert_int_equal(count_all(f, user), 1);
    assert_int_equal(arca_kms_logout(f->kms, user), ARCA_OK);

    /* Lock-out: the SO PIN's failure counter (shared with SO logins; the
     * SO login above reset it). */
    for (unsigned i = 0; i < ARCA_PIN_MAX_FAILURES; i++)
        assert_int_equal(arca_kms_init_token(f->kms, s, "p1", "wrong-so-pin", &n), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", SO_PIN, &n), ARCA_ERR_PIN_LOCKED);
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_SO, SO_PIN), ARCA_ERR_PIN_LOCKED);
    assert_true(blob_exists(f, &k));
    arca_kms_session_free(other);
    arca_kms_session_free(user);
    arca_kms_session_free(s);
}

/* The erasure: p1's token objects (150: several deletion commits) with their
 * index entries, p2 untouched, the user PIN cleared until the SO sets one;
 * the same after a restart. */
static void test_erase(void **state)
{
    fx *f = *state;
    enum { N1 = 150 };
    static arca_object_id ids[N1];
    uint64_t n = 0;
    char detail[128];
    uint32_t status = 1;
    size_t blobs0 = store_count(f, ARCA_DB_BLOBS), index0 = store_count(f, ARCA_DB_INDEX);

    arca_kms_session *u2 = login(f, "p2", ARCA_ROLE_USER, USER_PIN);
    arca_object_id k2 = gen_aes(f, u2, true, "p2-key");
    size_t blobs_p2 = store_count(f, ARCA_DB_BLOBS), index_p2 = store_count(f, ARCA_DB_INDEX);
    arca_kms_session *u1 = login(f, "p1", ARCA_ROLE_USER, USER_PIN);
    for (size_t i = 0; i < N1; i++) {
        char label[32];
        snprintf(label, sizeof(label), "k%zu", i);
        ids[i] = gen_aes(f, u1, true, label);
    }
    (void)gen_aes(f, u1, false, "session-object");
    assert_int_equal(count_all(f, u1), N1 + 1);
    assert_int_equal(store_count(f, ARCA_DB_BLOBS), blobs_p2 + N1);
    arca_kms_session_free(u1); /* no logout: the freed session's login ends too */

    arca_kms_session *s = session(f);
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", SO_PIN, &n), ARCA_OK);
    assert_int_equal(n, N1);
    assert_int_equal(arca_kms_session_role(s), ARCA_ROLE_NONE);
    assert_true(last_init_token(f, detail, sizeof(detail), &status));
    assert_string_equal(detail, "partition p1; 150 token objects destroyed; user pin cleared");
    assert_int_equal(status, ARCA_OK);
    /* Every blob and index entry of p1 is gone from the store; p2's are there. */
    for (size_t i = 0; i < N1; i++) assert_false(blob_exists(f, &ids[i]));
    assert_true(blob_exists(f, &k2));
    assert_int_equal(store_count(f, ARCA_DB_BLOBS), blobs_p2);
    assert_int_equal(store_count(f, ARCA_DB_INDEX), index_p2);
    assert_true(blobs_p2 == blobs0 + 1 && index_p2 > index0);

    for (int round = 0; round < 2; round++) {
        /* No user PIN: a user login is NOT_INITIALISED (not a guess). */
        arca_kms_session *u = session(f);
        assert_int_equal(arca_kms_login(f->kms, u, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_NOT_INITIALISED);
        arca_kms_session_free(u);
        assert_int_equal(count_all(f, u2), 1);
        if (round == 0) {
            arca_kms_session_free(u2);
            reopen(f);
            u2 = login(f, "p2", ARCA_ROLE_USER, USER_PIN);
        }
    }
    /* The SO (same PIN) sets a new user PIN; p1 is empty. */
    arca_kms_session *so = login(f, "p1", ARCA_ROLE_SO, SO_PIN);
    assert_int_equal(arca_kms_set_pin(f->kms, so, SO_PIN, SO_PIN), ARCA_OK);
    assert_int_equal(arca_kms_init_user_pin(f->kms, so, "new-user-pin"), ARCA_OK);
    arca_kms_session_free(so);
    arca_kms_session *u1b = login(f, "p1", ARCA_ROLE_USER, "new-user-pin");
    assert_int_equal(count_all(f, u1b), 0);
    arca_object_id fresh = gen_aes(f, u1b, true, "k0");
    assert_int_equal(count_all(f, u1b), 1);
    assert_true(memcmp(fresh.b, ids[0].b, sizeof(fresh.b)) != 0);
    arca_kms_session_free(u1b);

    /* An empty token re-initialises to 0 destroyed... after its one key. */
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", SO_PIN, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(arca_kms_init_token(f->kms, s, "p1", SO_PIN, &n), ARCA_OK);
    assert_int_equal(n, 0);
    arca_kms_session *u = session(f);
    assert_int_equal(arca_kms_login(f->kms, u, "p1", ARCA_ROLE_USER, "new-user-pin"), ARCA_ERR_NOT_INITIALISED);
    arca_kms_session_free(u);
    arca_kms_session_free(u2);
    arca_kms_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
