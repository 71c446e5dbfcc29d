/* Keystore tests: the real LMDB store in a temporary directory, the dev
 * sealing backend, scrypt cost lowered for speed. */
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

/* kms_internal.h first: p11-kit's pkcs11.h renames some identifiers with
 * macros (iv_len, public_data, ...), so it must precede every struct that
 * uses them for the names to agree. */
#include "kms_internal.h"

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "arca/kms.h"
#include "arca/log.h"
#include "arca/sealing.h"
#include "kms_internal.h"
#include "arca/local_proto.h"
#include "arca/ratls.h"
#include "request.h"
#include "store_lmdb.h"

#define ADMIN_PIN "admin-pin-1"
#define SO_PIN "so-pin-1"
#define USER_PIN "user-pin-1"

typedef struct fx {
    char dir[128];
    char seal_dir[160];
    char store_dir[160];
    char log_path[160];
    int log_fd;
    arca_sealing *sealing;
    arca_store_lmdb *lmdb;
    const arca_store_ops *store;
    arca_kms_config cfg;
    arca_kms *kms;
    arca_kms_session *sess; /* user of partition "p1" */
} fx;

static const uint8_t k_true = 1, k_false = 0;
#define A_BOOL(t, v) {(t), (v) ? &k_true : &k_false, 1}
#define A_BYTES(t, p, n) {(t), (const uint8_t *)(p), (n)}
#define A_STR(t, s) {(t), (const uint8_t *)(s), sizeof(s) - 1}

/* u32 values for templates: a small pool of static buffers. */
static const uint8_t *u32v(uint32_t v)
{
    static uint8_t pool[64][4];
    static unsigned next;
    uint8_t *b = pool[next++ % 64];
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
    return b;
}
#define A_U32(t, v) {(t), u32v(v), 4}

static const uint8_t P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t P521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

static void kms_reopen(fx *f)
{
    arca_kms_session_free(f->sess);
    f->sess = NULL;
    arca_kms_free(f->kms);
    f->kms = NULL;
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
    assert_int_equal(arca_kms_session_new(f->kms, &f->sess), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, f->sess, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
}

/* Everything but initialisation: an empty keystore. */
static fx *open_fresh(void)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/arca-kms-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->seal_dir, sizeof(f->seal_dir), "%s/seal", f->dir);
    snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
    snprintf(f->log_path, sizeof(f->log_path), "%s/log", f->dir);
    assert_int_equal(mkdir(f->seal_dir, 0700), 0);
    f->log_fd = open(f->log_path, O_CREAT | O_WRONLY | O_APPEND, 0600);
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
    return f;
}

/* An appliance not yet initialised; f->sess is a session without a peer
 * or login (the tests make their own peer sessions). */
static int setup_fresh(void **state)
{
    fx *f = open_fresh();
    assert_int_equal(arca_kms_session_new(f->kms, &f->sess), ARCA_OK);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    fx *f = open_fresh();
    arca_kms_session *admin;
    assert_int_equal(arca_kms_session_new(f->kms, &admin), ARCA_OK);
    assert_int_equal(arca_kms_initialise(f->kms, admin, ADMIN_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, admin, "p1", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, admin, "p2", SO_PIN, USER_PIN), ARCA_OK);
    arca_kms_session_free(admin);
    assert_int_equal(arca_kms_session_new(f->kms, &f->sess), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, f->sess, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    uint64_t n = 0;
    /* Every test ends with a verifying audit chain. */
    if (f->sess != NULL && f->kms != NULL) {
        arca_kms_session *s = NULL;
        assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
        assert_int_equal(arca_kms_login(f->kms, s, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN), ARCA_OK);
        assert_int_equal(arca_kms_audit_verify(f->kms, s, &n), ARCA_OK);
        assert_true(n > 0);
        arca_kms_session_free(s);
    }
    arca_kms_session_free(f->sess);
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

static bool log_contains(fx *f, const char *needle)
{
    FILE *fp = fopen(f->log_path, "r");
    char line[2048];
    bool found = false;
    if (fp == NULL) return false;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strstr(line, needle) != NULL) found = true;
    }
    fclose(fp);
    return found;
}

static arca_object_id gen_aes(fx *f, arca_kms_session *s, uint32_t len, const char *label)
{
    arca_object_id id;
    arca_attr t[] = {A_U32(CKA_VALUE_LEN, len), {CKA_LABEL, (const uint8_t *)label, strlen(label)}};
    assert_int_equal(arca_kms_generate_key(f->kms, s, CKM_AES_KEY_GEN, t, 2, &id), ARCA_OK);
    return id;
}

/* Encrypt + decrypt round trip with AES-GCM (random IV, prepended). */
static void check_aes(fx *f, const arca_object_id *id)
{
    arca_mechanism m = {.type = CKM_AES_GCM};
    const uint8_t pt[] = "attack at dawn";
    arca_builder ct, back;
    assert_int_equal(arca_builder_init(&ct, 64, 4096), ARCA_OK);
    assert_int_equal(arca_builder_init_secret(&back, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, id, &m, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(arca_kms_decrypt(f->kms, f->sess, id, &m, ct.data, ct.len, &back), ARCA_OK);
    assert_int_equal(back.len, sizeof(pt));
    assert_memory_equal(back.data, pt, sizeof(pt));
    arca_builder_cleanup(&ct);
    arca_builder_cleanup(&back);
}

static void check_sign(fx *f, const arca_object_id *priv, const arca_object_id *pub, uint32_t mech)
{
    arca_mechanism m = {.type = mech};
    const uint8_t msg[] = "message to sign";
    arca_builder sig;
    assert_int_equal(arca_builder_init(&sig, 64, 8192), ARCA_OK);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, priv, &m, msg, sizeof(msg), &sig), ARCA_OK);
    assert_int_equal(arca_kms_verify(f->kms, f->sess, pub, &m, msg, sizeof(msg), sig.data, sig.len), ARCA_OK);
    sig.data[0] ^= 1;
    assert_int_equal(arca_kms_verify(f->kms, f->sess, pub, &m, msg, sizeof(msg), sig.data, sig.len),
                     ARCA_ERR_SIGNATURE_INVALID);
    arca_builder_cleanup(&sig);
}

static void gen_pair(fx *f, uint32_t mech, const arca_attr *pub, size_t npub, arca_object_id *out_pub,
                     arca_object_id *out_priv)
{
    arca_attr priv[] = {A_STR(CKA_LABEL, "pair")};
    assert_int_equal(arca_kms_generate_key_pair(f->kms, f->sess, mech, pub, npub, priv, 1, out_pub, out_priv),
                     ARCA_OK);
}

/* ---------------------------------------------------------------------- */

static void test_appliance_and_pins(void **state)
{
    fx *f = *state;
    arca_kms_session *s, *so;
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    assert_int_equal(arca_kms_initialise(f->kms, s, ADMIN_PIN), ARCA_ERR_ALREADY_INITIALISED);
    assert_true(arca_kms_is_initialised(f->kms));
    /* Not admin: not logged in, or a user. */
    assert_int_equal(arca_kms_partition_create(f->kms, s, "p3", SO_PIN, USER_PIN), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_partition_create(f->kms, f->sess, "p3", SO_PIN, USER_PIN), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_login(f->kms, s, NULL, ARCA_ROLE_ADMIN, "wrong-admin"), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, s, NULL, ARCA_ROLE_ADMIN, "abc"), ARCA_ERR_PIN_INVALID);
    assert_int_equal(arca_kms_login(f->kms, s, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN), ARCA_ERR_ALREADY_LOGGED_IN);
    assert_int_equal(arca_kms_partition_create(f->kms, s, "p1", SO_PIN, USER_PIN), ARCA_ERR_EXISTS);
    assert_int_equal(arca_kms_partition_create(f->kms, s, "p3", "so", USER_PIN), ARCA_ERR_PIN_INVALID);
    char longname[ARCA_PARTITION_NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(arca_kms_partition_create(f->kms, s, longname, SO_PIN, USER_PIN), ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_kms_partition_create(f->kms, s, "", SO_PIN, USER_PIN), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_partition_create(f->kms, s, "p3", SO_PIN, USER_PIN), ARCA_OK);
    arca_builder names;
    assert_int_equal(arca_builder_init(&names, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_partition_list(f->kms, s, &names), ARCA_OK);
    assert_int_equal(names.len, 9);
    assert_memory_equal(names.data, "p1\0p2\0p3\0", 9);
    arca_builder_cleanup(&names);
    assert_int_equal(arca_kms_logout(f->kms, s), ARCA_OK);
    assert_int_equal(arca_kms_logout(f->kms, s), ARCA_ERR_NOT_LOGGED_IN);

    /* Wrong user PIN, then lockout after ARCA_PIN_MAX_FAILURES, persisted. */
    assert_int_equal(arca_kms_login(f->kms, s, "nope", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_NOT_FOUND);
    for (unsigned i = 0; i < ARCA_PIN_MAX_FAILURES; i++) {
        assert_int_equal(arca_kms_login(f->kms, s, "p3", ARCA_ROLE_USER, "wrong-pin"), ARCA_ERR_PIN_INCORRECT);
    }
    assert_int_equal(arca_kms_login(f->kms, s, "p3", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PIN_LOCKED);
    arca_kms_session_free(s);
    kms_reopen(f);
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s, "p3", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PIN_LOCKED);
    /* The SO resets (and unlocks) the user PIN. A user may not. */
    assert_int_equal(arca_kms_init_user_pin(f->kms, s, "new-user-pin"), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_init_user_pin(f->kms, f->sess, "new-user-pin"), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_session_new(f->kms, &so), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, so, "p3", ARCA_ROLE_SO, SO_PIN), ARCA_OK);
    assert_int_equal(arca_kms_session_role(so), ARCA_ROLE_SO);
    assert_int_equal(arca_kms_init_user_pin(f->kms, so, "x"), ARCA_ERR_PIN_INVALID);
    assert_int_equal(arca_kms_init_user_pin(f->kms, so, "new-user-pin"), ARCA_OK);
    /* The SO cannot use keys. */
    arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16)};
    arca_object_id id;
    assert_int_equal(arca_kms_generate_key(f->kms, so, CKM_AES_KEY_GEN, t, 1, &id), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_login(f->kms, s, "p3", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, s, "p3", ARCA_ROLE_USER, "new-user-pin"), ARCA_OK);
    assert_int_equal(arca_kms_session_role(s), ARCA_ROLE_USER);
    arca_kms_session_free(so);
    arca_kms_session_free(s);
}

static void test_not_logged_in(void **state)
{
    fx *f = *state;
    arca_kms_session *s;
    arca_object_id id;
    size_t n;
    uint64_t recs;
    arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16)};
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    assert_int_equal(arca_kms_generate_key(f->kms, s, CKM_AES_KEY_GEN, t, 1, &id), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_find(f->kms, s, NULL, 0, &id, 1, &n), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_audit_verify(f->kms, s, &recs), ARCA_ERR_NOT_LOGGED_IN);
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_kms_random(f->kms, s, 32, &b), ARCA_OK);
    assert_int_equal(b.len, 32);
    assert_int_equal(arca_kms_random(f->kms, s, ARCA_DATA_MAX + 1, &b), ARCA_ERR_DATA_LEN);
    arca_builder_cleanup(&b);
    arca_kms_session_free(s);
}

static void test_templates(void **state)
{
    fx *f = *state;
    arca_object_id id, pub, priv;
    {
        arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16), A_BYTES(0x7777u, "x", 1)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 2, &id), ARCA_ERR_ATTRIBUTE_TYPE);
    }
    {
        uint8_t two = 2;
        arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16), {CKA_SIGN, &two, 1}};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 2, &id), ARCA_ERR_ATTRIBUTE_VALUE);
        arca_attr t2[] = {A_BYTES(CKA_VALUE_LEN, "ab", 2)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t2, 1, &id), ARCA_ERR_ATTRIBUTE_VALUE);
        char big[ARCA_LABEL_MAX + 1];
        memset(big, 'l', sizeof(big));
        arca_attr t3[] = {A_U32(CKA_VALUE_LEN, 16), A_BYTES(CKA_LABEL, big, sizeof(big))};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t3, 2, &id), ARCA_ERR_ATTRIBUTE_VALUE);
        arca_attr t4[] = {A_U32(CKA_VALUE_LEN, 16), A_STR(CKA_START_DATE, "2024-1-1")};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t4, 2, &id), ARCA_ERR_ATTRIBUTE_VALUE);
    }
    {
        arca_attr t[] = {A_STR(CKA_LABEL, "x")};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 1, &id),
                         ARCA_ERR_TEMPLATE_INCOMPLETE);
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_GENERIC_SECRET_KEY_GEN, t, 1, &id),
                         ARCA_ERR_TEMPLATE_INCOMPLETE);
        assert_int_equal(arca_kms_generate_key_pair(f->kms, f->sess, CKM_RSA_PKCS_KEY_PAIR_GEN, t, 1, t, 1, &pub, &priv),
                         ARCA_ERR_TEMPLATE_INCOMPLETE);
        assert_int_equal(arca_kms_generate_key_pair(f->kms, f->sess, CKM_EC_KEY_PAIR_GEN, t, 1, t, 1, &pub, &priv),
                         ARCA_ERR_TEMPLATE_INCOMPLETE);
    }
    {
        arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16), A_U32(CKA_CLASS, CKO_PRIVATE_KEY)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 2, &id),
                         ARCA_ERR_TEMPLATE_INCONSISTENT);
        arca_attr t2[] = {A_U32(CKA_VALUE_LEN, 16), A_U32(CKA_KEY_TYPE, CKK_RSA)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t2, 2, &id),
                         ARCA_ERR_TEMPLATE_INCONSISTENT);
        arca_attr t3[] = {A_U32(CKA_VALUE_LEN, 16), A_U32(CKA_VALUE_LEN, 32)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t3, 2, &id),
                         ARCA_ERR_TEMPLATE_INCONSISTENT);
        arca_attr t4[] = {A_U32(CKA_VALUE_LEN, 16), A_U32(CKA_MODULUS_BITS, 2048)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t4, 2, &id),
                         ARCA_ERR_TEMPLATE_INCONSISTENT);
    }
    {
        uint32_t ro[] = {CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL, ARCA_CKA_KEY_VERSION,
                         ARCA_CKA_OBJECT_ID, ARCA_CKA_PRIMARY};
        for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
            uint8_t v[16] = {1};
            arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16), {ro[i], v, ro[i] == ARCA_CKA_OBJECT_ID ? 16u : 1u}};
            assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 2, &id),
                             ARCA_ERR_ATTRIBUTE_READ_ONLY);
        }
    }
    {
        arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_DES3_KEY_GEN, t, 1, &id), ARCA_ERR_MECHANISM);
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_RSA_PKCS_KEY_PAIR_GEN, t, 1, &id),
                         ARCA_ERR_MECHANISM);
        assert_int_equal(arca_kms_generate_key_pair(f->kms, f->sess, CKM_AES_KEY_GEN, t, 0, t, 0, &pub, &priv),
                         ARCA_ERR_MECHANISM);
        arca_attr t2[] = {A_U32(CKA_VALUE_LEN, 20)};
        assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t2, 1, &id), ARCA_ERR_KEY_SIZE);
        arca_attr e[] = {A_U32(CKA_MODULUS_BITS, 2048), A_BYTES(CKA_PUBLIC_EXPONENT, "\x03", 1)};
        assert_int_equal(arca_kms_generate_key_pair(f->kms, f->sess, CKM_RSA_PKCS_KEY_PAIR_GEN, e, 2, NULL, 0, &pub,
                                                    &priv),
                         ARCA_ERR_ATTRIBUTE_VALUE);
    }
    /* Import: class and value are required. */
    {
        arca_attr t[] = {A_U32(CKA_KEY_TYPE, CKK_AES), A_BYTES(CKA_VALUE, "0123456789abcdef", 16)};
        assert_int_equal(arca_kms_create_object(f->kms, f->sess, t, 2, &id), ARCA_ERR_TEMPLATE_INCOMPLETE);
        arca_attr t2[] = {A_U32(CKA_CLASS, CKO_SECRET_KEY), A_U32(CKA_KEY_TYPE, CKK_AES)};
        assert_int_equal(arca_kms_create_object(f->kms, f->sess, t2, 2, &id), ARCA_ERR_TEMPLATE_INCOMPLETE);
        arca_attr t3[] = {A_U32(CKA_CLASS, CKO_SECRET_KEY), A_U32(CKA_KEY_TYPE, CKK_AES),
                          A_BYTES(CKA_VALUE, "0123456789abcdefg", 17)};
        assert_int_equal(arca_kms_create_object(f->kms, f->sess, t3, 3, &id), ARCA_ERR_KEY_SIZE);
    }
}

typedef struct pair_case {
    uint32_t mech;
    const uint8_t *params;
    size_t params_len;
    uint32_t bits;
    uint32_t sign_mech;
} pair_case;

static void test_all_key_types(void **state)
{
    fx *f = *state;
    arca_object_id aes128 = gen_aes(f, f->sess, 16, "aes128");
    arca_object_id aes256 = gen_aes(f, f->sess, 32, "aes256");
    arca_object_id gen;
    arca_attr gt[] = {A_U32(CKA_VALUE_LEN, 32), A_STR(CKA_LABEL, "hmac")};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_GENERIC_SECRET_KEY_GEN, gt, 2, &gen), ARCA_OK);
    const pair_case cases[] = {
        {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, 2048, CKM_SHA256_RSA_PKCS},
        {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, 3072, CKM_SHA384_RSA_PKCS_PSS},
        {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, 4096, CKM_SHA512_RSA_PKCS},
        {CKM_EC_KEY_PAIR_GEN, P256, sizeof(P256), 0, CKM_ECDSA_SHA256},
        {CKM_EC_KEY_PAIR_GEN, P384, sizeof(P384), 0, CKM_ECDSA_SHA384},
        {CKM_EC_KEY_PAIR_GEN, P521, sizeof(P521), 0, CKM_ECDSA_SHA512},
        {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0, 0, CKM_EDDSA},
    };
    const size_t nc = sizeof(cases) / sizeof(cases[0]);
    arca_object_id pubs[7], privs[7];
    for (size_t i = 0; i < nc; i++) {
        arca_attr pt[2];
        size_t np = 0;
        if (cases[i].bits) pt[np++] = (arca_attr)A_U32(CKA_MODULUS_BITS, cases[i].bits);
        if (cases[i].params) pt[np++] = (arca_attr){CKA_EC_PARAMS, cases[i].params, cases[i].params_len};
        gen_pair(f, cases[i].mech, pt, np, &pubs[i], &privs[i]);
    }
    for (int round = 0; round < 2; round++) {
        check_aes(f, &aes128);
        check_aes(f, &aes256);
        check_sign(f, &gen, &gen, CKM_SHA256_HMAC);
        check_sign(f, &aes256, &aes256, CKM_SHA512_HMAC);
        for (size_t i = 0; i < nc; i++) {
            arca_mechanism m = {.type = cases[i].sign_mech, .hash = CKM_SHA384, .salt_len = 48};
            if (cases[i].sign_mech == CKM_SHA384_RSA_PKCS_PSS) {
                const uint8_t msg[] = "pss";
                arca_builder sig;
                assert_int_equal(arca_builder_init(&sig, 64, 8192), ARCA_OK);
                assert_int_equal(arca_kms_sign(f->kms, f->sess, &privs[i], &m, msg, 3, &sig), ARCA_OK);
                assert_int_equal(arca_kms_verify(f->kms, f->sess, &pubs[i], &m, msg, 3, sig.data, sig.len), ARCA_OK);
                arca_builder_cleanup(&sig);
            } else {
                check_sign(f, &privs[i], &pubs[i], cases[i].sign_mech);
            }
        }
        /* RSA OAEP encrypt with the public key, decrypt with the private. */
        arca_mechanism oaep = {.type = CKM_RSA_PKCS_OAEP, .hash = CKM_SHA256};
        arca_builder ct, back;
        assert_int_equal(arca_builder_init(&ct, 64, 8192), ARCA_OK);
        assert_int_equal(arca_builder_init_secret(&back, 64, 8192), ARCA_OK);
        assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &pubs[0], &oaep, (const uint8_t *)"hi", 2, &ct), ARCA_OK);
        assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &privs[0], &oaep, ct.data, ct.len, &back), ARCA_OK);
        assert_int_equal(back.len, 2);
        assert_memory_equal(back.data, "hi", 2);
        arca_builder_cleanup(&ct);
        arca_builder_cleanup(&back);
        /* ECDH derive between two P-256 keys: both sides get the same secret. */
        if (round == 0) {
            arca_builder pt1;
            assert_int_equal(arca_builder_init(&pt1, 64, 1024), ARCA_OK);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &pubs[3], CKA_EC_POINT, &pt1), ARCA_OK);
            assert_true(pt1.len == 67 && pt1.data[0] == 0x04 && pt1.data[2] == 0x04);
            /* The private key exposes its public half too. */
            arca_builder pt2;
            assert_int_equal(arca_builder_init(&pt2, 64, 1024), ARCA_OK);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &privs[3], CKA_EC_POINT, &pt2), ARCA_OK);
            assert_int_equal(pt1.len, pt2.len);
            assert_memory_equal(pt1.data, pt2.data, pt1.len);
            arca_mechanism ecdh = {.type = CKM_ECDH1_DERIVE, .public_data = pt1.data + 2, .public_data_len = 65};
            arca_attr dt[] = {A_U32(CKA_KEY_TYPE, CKK_GENERIC_SECRET), A_U32(CKA_VALUE_LEN, 32),
                              A_BOOL(CKA_SENSITIVE, false), A_BOOL(CKA_EXTRACTABLE, true)};
            arca_object_id d;
            assert_int_equal(arca_kms_derive(f->kms, f->sess, &privs[3], &ecdh, dt, 4, &d), ARCA_OK);
            arca_builder v;
            assert_int_equal(arca_builder_init_secret(&v, 64, 1024), ARCA_OK);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &d, CKA_VALUE, &v), ARCA_OK);
            assert_int_equal(v.len, 32);
            arca_builder_cleanup(&v);
            /* Derived from a local key, but extractable: never-extractable false. */
            assert_int_equal(arca_builder_init(&v, 8, 64), ARCA_OK);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &d, CKA_NEVER_EXTRACTABLE, &v), ARCA_OK);
            assert_true(v.len == 1 && v.data[0] == 0);
            arca_builder_cleanup(&v);
            /* CKA_DERIVE is not set on RSA private keys. */
            assert_int_equal(arca_kms_derive(f->kms, f->sess, &privs[0], &ecdh, dt, 4, &d), ARCA_ERR_KEY_FUNCTION);
            arca_builder_cleanup(&pt1);
            arca_builder_cleanup(&pt2);
            /* RSA public parts of the private key. */
            assert_int_equal(arca_builder_init(&v, 8, 1024), ARCA_OK);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &privs[0], CKA_PUBLIC_EXPONENT, &v), ARCA_OK);
            assert_int_equal(v.len, 3);
            arca_builder_cleanup(&v);
            assert_int_equal(arca_builder_init(&v, 8, 1024), ARCA_OK);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &privs[1], CKA_MODULUS, &v), ARCA_OK);
            assert_int_equal(v.len, 384);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &privs[1], CKA_PRIVATE_EXPONENT, &v),
                             ARCA_ERR_ATTRIBUTE_SENSITIVE);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &privs[1], CKA_VALUE, &v),
                             ARCA_ERR_ATTRIBUTE_SENSITIVE);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &aes128, CKA_MODULUS, &v),
                             ARCA_ERR_ATTRIBUTE_TYPE);
            assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &aes128, 0x7777u, &v), ARCA_ERR_ATTRIBUTE_TYPE);
            arca_builder_cleanup(&v);
            /* The pair shares its label. */
            arca_attr q[] = {A_STR(CKA_LABEL, "pair"), A_U32(CKA_CLASS, CKO_PUBLIC_KEY)};
            arca_object_id found[16];
            size_t n = 0;
            assert_int_equal(arca_kms_find(f->kms, f->sess, q, 2, found, 16, &n), ARCA_OK);
            assert_int_equal(n, nc);
        }
        if (round == 0) {
            /* Every key again after a restart, unsealed from LMDB. */
            kms_reopen(f);
            arca_kms_stats st;
            arca_kms_get_stats(f->kms, &st);
            assert_int_equal(st.unseal_count, 0);
            assert_int_equal(st.cache_objects, 0);
        }
    }
    arca_kms_stats st;
    arca_kms_get_stats(f->kms, &st);
    assert_true(st.unseal_count >= 3 + 2 * nc);
}

static void test_import_and_policy(void **state)
{
    fx *f = *state;
    static const uint8_t key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                    0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
    static const uint8_t iv[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const uint8_t pt[] = "a known answer for the imported key";
    arca_object_id id, ext, noext, nosign, ec_pub, ec_priv;
    arca_attr t[] = {A_U32(CKA_CLASS, CKO_SECRET_KEY), A_U32(CKA_KEY_TYPE, CKK_AES), A_BYTES(CKA_VALUE, key, 16),
                     A_STR(CKA_LABEL, "imported")};
    assert_int_equal(arca_kms_create_object(f->kms, f->sess, t, 4, &id), ARCA_OK);

    /* Independent computation with OpenSSL. */
    uint8_t expect[128];
    int l1 = 0, l2 = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, expect, &l1, pt, sizeof(pt)), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, expect + l1, &l2), 1);
    EVP_CIPHER_CTX_free(c);
    arca_mechanism cbc = {.type = CKM_AES_CBC_PAD, .iv = iv, .iv_len = 16};
    arca_builder ct;
    assert_int_equal(arca_builder_init(&ct, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &id, &cbc, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(ct.len, (size_t)(l1 + l2));
    assert_memory_equal(ct.data, expect, ct.len);
    arca_builder_cleanup(&ct);

    /* Imported keys are not local and never "always sensitive". */
    arca_builder v;
    assert_int_equal(arca_builder_init(&v, 8, 64), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &id, CKA_LOCAL, &v), ARCA_OK);
    assert_true(v.len == 1 && v.data[0] == 0);
    arca_builder_cleanup(&v);

    /* Mechanism valid for signing, but not for an AES key. */
    arca_mechanism ecdsa = {.type = CKM_ECDSA_SHA256};
    assert_int_equal(arca_builder_init(&v, 8, 4096), ARCA_OK);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &id, &ecdsa, pt, sizeof(pt), &v), ARCA_ERR_KEY_TYPE);
    /* Not a signing mechanism at all. */
    arca_mechanism kw = {.type = CKM_AES_KEY_WRAP};
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &id, &kw, pt, sizeof(pt), &v), ARCA_ERR_MECHANISM);
    /* Data over the cap. */
    uint8_t *big = calloc(1, ARCA_DATA_MAX + 1);
    arca_mechanism hm = {.type = CKM_SHA256_HMAC};
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &id, &hm, big, ARCA_DATA_MAX + 1, &v), ARCA_ERR_DATA_LEN);
    free(big);

    /* Usage flag off: KEY_FUNCTION before any crypto. */
    arca_attr ns[] = {A_U32(CKA_VALUE_LEN, 32), A_BOOL(CKA_SIGN, false)};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, ns, 2, &nosign), ARCA_OK);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &nosign, &hm, pt, sizeof(pt), &v), ARCA_ERR_KEY_FUNCTION);
    arca_attr ect[] = {A_BYTES(CKA_EC_PARAMS, P256, sizeof(P256))};
    arca_attr ecv[] = {A_BOOL(CKA_SIGN, false)};
    assert_int_equal(arca_kms_generate_key_pair(f->kms, f->sess, CKM_EC_KEY_PAIR_GEN, ect, 1, ecv, 1, &ec_pub, &ec_priv),
                     ARCA_OK);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &ec_priv, &ecdsa, pt, sizeof(pt), &v), ARCA_ERR_KEY_FUNCTION);
    /* A public key has no CKA_SIGN. */
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &ec_pub, &ecdsa, pt, sizeof(pt), &v), ARCA_ERR_KEY_FUNCTION);
    arca_builder_cleanup(&v);

    /* CKA_VALUE: unextractable -> sensitive; extractable, non-sensitive -> value. */
    assert_int_equal(arca_builder_init_secret(&v, 8, 1024), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &id, CKA_VALUE, &v), ARCA_ERR_ATTRIBUTE_SENSITIVE);
    arca_attr et[] = {A_U32(CKA_VALUE_LEN, 16), A_BOOL(CKA_EXTRACTABLE, true), A_BOOL(CKA_SENSITIVE, false)};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, et, 3, &ext), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &ext, CKA_VALUE, &v), ARCA_OK);
    assert_int_equal(v.len, 16);
    uint8_t ext_value[16];
    memcpy(ext_value, v.data, 16);
    arca_builder_cleanup(&v);
    arca_attr st_[] = {A_U32(CKA_VALUE_LEN, 16), A_BOOL(CKA_EXTRACTABLE, true)}; /* sensitive by default */
    arca_object_id ext_sens;
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, st_, 2, &ext_sens), ARCA_OK);
    assert_int_equal(arca_builder_init_secret(&v, 8, 1024), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &ext_sens, CKA_VALUE, &v), ARCA_ERR_ATTRIBUTE_SENSITIVE);
    arca_builder_cleanup(&v);

    /* Wrap: unextractable target refused; extractable one wraps and unwraps. */
    noext = gen_aes(f, f->sess, 16, "noext");
    arca_object_id kek = gen_aes(f, f->sess, 32, "kek");
    arca_mechanism wrapm = {.type = CKM_AES_KEY_WRAP};
    arca_builder w;
    assert_int_equal(arca_builder_init(&w, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_wrap(f->kms, f->sess, &kek, &wrapm, &noext, &w), ARCA_ERR_KEY_UNEXTRACTABLE);
    assert_int_equal(arca_kms_wrap(f->kms, f->sess, &kek, &wrapm, &ext, &w), ARCA_OK);
    assert_int_equal(w.len, 24);
    /* The wrapping key needs CKA_WRAP. */
    assert_int_equal(arca_kms_wrap(f->kms, f->sess, &nosign, &wrapm, &ext, &w), ARCA_OK);
    arca_attr nw[] = {A_U32(CKA_VALUE_LEN, 32), A_BOOL(CKA_WRAP, false)};
    arca_object_id nowrap;
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, nw, 2, &nowrap), ARCA_OK);
    arca_builder w2;
    assert_int_equal(arca_builder_init(&w2, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_wrap(f->kms, f->sess, &nowrap, &wrapm, &ext, &w2), ARCA_ERR_KEY_FUNCTION);
    arca_builder_cleanup(&w2);
    arca_attr ut[] = {A_U32(CKA_CLASS, CKO_SECRET_KEY), A_U32(CKA_KEY_TYPE, CKK_AES), A_BOOL(CKA_SENSITIVE, false),
                      A_BOOL(CKA_EXTRACTABLE, true)};
    arca_object_id unwrapped;
    assert_int_equal(arca_kms_unwrap(f->kms, f->sess, &kek, &wrapm, w.data, 24, ut, 4, &unwrapped), ARCA_OK);
    assert_int_equal(arca_kms_unwrap(f->kms, f->sess, &kek, &wrapm, w.data, 24, ut, 2, &unwrapped), ARCA_OK);
    assert_int_equal(arca_kms_unwrap(f->kms, f->sess, &kek, &wrapm, w.data, 24, ut, 1, &unwrapped),
                     ARCA_ERR_TEMPLATE_INCOMPLETE);
    assert_int_equal(arca_kms_unwrap(f->kms, f->sess, &kek, &wrapm, w.data, 24, ut, 4, &unwrapped), ARCA_OK);
    w.data[3] ^= 0x40;
    arca_object_id bad;
    assert_int_equal(arca_kms_unwrap(f->kms, f->sess, &kek, &wrapm, w.data, 24, ut, 4, &bad), ARCA_ERR_DATA_INVALID);
    arca_builder_cleanup(&w);
    assert_int_equal(arca_builder_init_secret(&v, 8, 1024), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &unwrapped, CKA_VALUE, &v), ARCA_OK);
    assert_int_equal(v.len, 16);
    assert_memory_equal(v.data, ext_value, 16);
    arca_builder_cleanup(&v);

    /* set_attributes: narrowing allowed, widening refused. */
    arca_attr off[] = {A_BOOL(CKA_ENCRYPT, false), A_STR(CKA_LABEL, "renamed")};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &kek, off, 2), ARCA_OK);
    arca_mechanism gcm = {.type = CKM_AES_GCM};
    assert_int_equal(arca_builder_init(&v, 8, 4096), ARCA_OK);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &kek, &gcm, pt, sizeof(pt), &v), ARCA_ERR_KEY_FUNCTION);
    arca_builder_cleanup(&v);
    arca_attr on[] = {A_BOOL(CKA_ENCRYPT, true)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &kek, on, 1), ARCA_ERR_ATTRIBUTE_READ_ONLY);
    arca_attr ex[] = {A_BOOL(CKA_EXTRACTABLE, true)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &kek, ex, 1), ARCA_ERR_ATTRIBUTE_READ_ONLY);
    arca_attr cls[] = {A_U32(CKA_CLASS, CKO_PRIVATE_KEY)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &kek, cls, 1), ARCA_ERR_ATTRIBUTE_READ_ONLY);
    arca_attr loc[] = {A_BOOL(CKA_LOCAL, false)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &kek, loc, 1), ARCA_ERR_ATTRIBUTE_READ_ONLY);
    arca_attr sens[] = {A_BOOL(CKA_SENSITIVE, true)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &ext, sens, 1), ARCA_OK);
    assert_int_equal(arca_builder_init_secret(&v, 8, 1024), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &ext, CKA_VALUE, &v), ARCA_ERR_ATTRIBUTE_SENSITIVE);
    arca_builder_cleanup(&v);
    arca_attr insens[] = {A_BOOL(CKA_SENSITIVE, false)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &ext, insens, 1), ARCA_ERR_ATTRIBUTE_READ_ONLY);
    /* Changes persist and the index follows the new label. */
    kms_reopen(f);
    arca_attr q[] = {A_STR(CKA_LABEL, "renamed")};
    arca_object_id found[4];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 4, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(found[0].b, kek.b, 16);
    arca_attr q2[] = {A_STR(CKA_LABEL, "kek")};
    assert_int_equal(arca_kms_find(f->kms, f->sess, q2, 1, found, 4, &n), ARCA_OK);
    assert_int_equal(n, 0);
    arca_attr nm[] = {A_BOOL(CKA_MODIFIABLE, false)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &kek, nm, 1), ARCA_OK);
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &kek, q2, 1), ARCA_ERR_ATTRIBUTE_READ_ONLY);

    /* Destroy: gone, also after restart. */
    assert_int_equal(arca_kms_destroy(f->kms, f->sess, &kek), ARCA_OK);
    assert_int_equal(arca_kms_destroy(f->kms, f->sess, &kek), ARCA_ERR_NOT_FOUND);
    kms_reopen(f);
    assert_int_equal(arca_builder_init(&v, 8, 64), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &kek, CKA_LABEL, &v), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 4, &n), ARCA_OK);
    assert_int_equal(n, 0);
    arca_builder_cleanup(&v);
}

static void test_partition_isolation(void **state)
{
    fx *f = *state;
    arca_kms_session *s2;
    arca_object_id id = gen_aes(f, f->sess, 16, "mine");
    assert_int_equal(arca_kms_session_new(f->kms, &s2), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s2, "p2", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    arca_mechanism gcm = {.type = CKM_AES_GCM};
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 8, 4096), ARCA_OK);
    /* From the cache ... */
    assert_int_equal(arca_kms_encrypt(f->kms, s2, &id, &gcm, (const uint8_t *)"x", 1, &b), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_kms_get_attribute(f->kms, s2, &id, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_kms_destroy(f->kms, s2, &id), ARCA_ERR_NOT_FOUND);
    /* ... and from the store. */
    arca_kms_session_free(s2);
    kms_reopen(f);
    assert_int_equal(arca_kms_session_new(f->kms, &s2), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s2, "p2", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, s2, &id, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    arca_attr q[] = {A_STR(CKA_LABEL, "mine")};
    arca_object_id found[4];
    size_t n = 9;
    assert_int_equal(arca_kms_find(f->kms, s2, q, 1, found, 4, &n), ARCA_OK);
    assert_int_equal(n, 0);
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 4, &n), ARCA_OK);
    assert_int_equal(n, 1);
    /* Now cached: the other partition still sees nothing. */
    assert_int_equal(arca_kms_get_attribute(f->kms, s2, &id, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    arca_builder_cleanup(&b);
    arca_kms_session_free(s2);
}

static void put_blob(fx *f, const arca_object_id *id, const uint8_t *v, size_t len)
{
    arca_store_op op = {ARCA_STORE_PUT, ARCA_DB_BLOBS, id->b, 16, v, len};
    assert_int_equal(f->store->commit(f->store->ctx, &op, 1), ARCA_OK);
}

static void test_tamper(void **state)
{
    fx *f = *state;
    arca_object_id a = gen_aes(f, f->sess, 16, "a"), b = gen_aes(f, f->sess, 16, "b"),
                   c = gen_aes(f, f->sess, 16, "c"), d = gen_aes(f, f->sess, 16, "d"),
                   ok = gen_aes(f, f->sess, 16, "ok");
    uint8_t *va, *vb, *vc, *vd;
    size_t la, lb, lc, ld;
    assert_int_equal(f->store->get(f->store->ctx, ARCA_DB_BLOBS, a.b, 16, &va, &la), ARCA_OK);
    assert_int_equal(f->store->get(f->store->ctx, ARCA_DB_BLOBS, b.b, 16, &vb, &lb), ARCA_OK);
    assert_int_equal(f->store->get(f->store->ctx, ARCA_DB_BLOBS, c.b, 16, &vc, &lc), ARCA_OK);
    assert_int_equal(f->store->get(f->store->ctx, ARCA_DB_BLOBS, d.b, 16, &vd, &ld), ARCA_OK);
    va[la - 20] ^= 0x01;          /* flip a ciphertext byte */
    put_blob(f, &a, va, la);
    put_blob(f, &b, vb, lb / 2);  /* truncate */
    put_blob(f, &c, vd, ld);      /* swap c and d */
    put_blob(f, &d, vc, lc);
    free(va);
    free(vb);
    free(vc);
    free(vd);
    kms_reopen(f);
    const arca_object_id *bad[] = {&a, &b, &c, &d};
    arca_mechanism gcm = {.type = CKM_AES_GCM};
    arca_builder out;
    assert_int_equal(arca_builder_init(&out, 8, 4096), ARCA_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(arca_kms_encrypt(f->kms, f->sess, bad[i], &gcm, (const uint8_t *)"x", 1, &out),
                         ARCA_ERR_INTEGRITY);
        assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, bad[i], CKA_LABEL, &out), ARCA_ERR_INTEGRITY);
    }
    arca_builder_cleanup(&out);
    char hex[33];
    kms_id_hex(&a, hex);
    char needle[128];
    snprintf(needle, sizeof(needle), "object %s: sealed blob failed integrity check", hex);
    assert_true(log_contains(f, needle));
    kms_id_hex(&c, hex);
    snprintf(needle, sizeof(needle), "object %s: sealed blob failed integrity check", hex);
    assert_true(log_contains(f, needle));
    check_aes(f, &ok);
    /* find skips damaged objects. */
    arca_attr q[] = {A_U32(CKA_CLASS, CKO_SECRET_KEY)};
    arca_object_id found[8];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(found[0].b, ok.b, 16);
    /* A clear partition prefix rewritten by the host only breaks the blob. */
    uint8_t *vo;
    size_t lo;
    assert_int_equal(f->store->get(f->store->ctx, ARCA_DB_BLOBS, ok.b, 16, &vo, &lo), ARCA_OK);
    put_blob(f, &ok, vo, 3);
    free(vo);
    kms_reopen(f);
    assert_int_equal(arca_builder_init(&out, 8, 4096), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &ok, CKA_LABEL, &out), ARCA_ERR_INTEGRITY);
    arca_builder_cleanup(&out);
}

static void test_bogus_index(void **state)
{
    fx *f = *state;
    arca_object_id target = gen_aes(f, f->sess, 16, "target");
    arca_object_id other = gen_aes(f, f->sess, 16, "other");
    /* The host copies target's label-index prefix onto other's id, and
     * onto an id that does not exist. It can see the prefixes, not labels. */
    uint8_t h[32];
    assert_int_equal(kms_index_hmac(&f->kms->k_index, f->sess->partition_id, CKA_LABEL, (const uint8_t *)"target", 6,
                                    NULL, 0, h),
                     ARCA_OK);
    uint8_t k1[48], k2[48];
    memcpy(k1, h, 32);
    memcpy(k1 + 32, other.b, 16);
    memcpy(k2, h, 32);
    memset(k2 + 32, 0xAB, 16);
    arca_store_op ops[2] = {{ARCA_STORE_PUT, ARCA_DB_INDEX, k1, 48, (const uint8_t *)"", 0},
                            {ARCA_STORE_PUT, ARCA_DB_INDEX, k2, 48, (const uint8_t *)"", 0}};
    assert_int_equal(f->store->commit(f->store->ctx, ops, 2), ARCA_OK);
    kms_reopen(f);
    arca_attr q[] = {A_STR(CKA_LABEL, "target")};
    arca_object_id found[8];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(found[0].b, target.b, 16);
    /* max_ids is honoured. */
    arca_attr all[] = {A_U32(CKA_KEY_TYPE, CKK_AES)};
    assert_int_equal(arca_kms_find(f->kms, f->sess, all, 1, found, 1, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(arca_kms_find(f->kms, f->sess, all, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 2);
    /* Unknown attribute types simply match nothing. */
    arca_attr unk[] = {A_STR(CKA_LABEL, "target"), A_BYTES(0x7777u, "x", 1)};
    assert_int_equal(arca_kms_find(f->kms, f->sess, unk, 2, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 0);
}

static void test_find_scale(void **state)
{
    fx *f = *state;
    char label[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(label, sizeof(label), "bulk-%d", i);
        (void)gen_aes(f, f->sess, 16, label);
    }
    for (int i = 0; i < 3; i++) (void)gen_aes(f, f->sess, 16, "needle");
    kms_reopen(f);
    arca_kms_stats st;
    arca_kms_get_stats(f->kms, &st);
    assert_int_equal(st.unseal_count, 0);
    arca_attr q[] = {A_STR(CKA_LABEL, "needle")};
    arca_object_id found[8];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 3);
    arca_kms_get_stats(f->kms, &st);
    assert_int_equal(st.unseal_count, 3);
    /* Find by CKA_ID also uses its index. */
    arca_attr q2[] = {A_STR(CKA_ID, "no-such-id")};
    assert_int_equal(arca_kms_find(f->kms, f->sess, q2, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 0);
    arca_kms_get_stats(f->kms, &st);
    assert_int_equal(st.unseal_count, 3);
}

static void test_cache_budget(void **state)
{
    fx *f = *state;
    arca_object_id ids[60];
    for (int i = 0; i < 60; i++) ids[i] = gen_aes(f, f->sess, 32, "cached");
    f->cfg.cache_bytes = 8192;
    kms_reopen(f);
    arca_kms_stats st;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 60; i++) {
            check_aes(f, &ids[i]);
            arca_kms_get_stats(f->kms, &st);
            assert_true(st.cache_bytes <= 8192);
            assert_true(st.cache_objects >= 1);
        }
    }
    arca_kms_get_stats(f->kms, &st);
    assert_true(st.cache_objects < 60);
    assert_true(st.unseal_count > 60); /* evicted objects were unsealed again */
}

static void test_rotation(void **state)
{
    fx *f = *state;
    arca_object_id v1 = gen_aes(f, f->sess, 32, "rot"), v2, v3;
    arca_mechanism gcm = {.type = CKM_AES_GCM};
    arca_builder ct, pt, b;
    assert_int_equal(arca_builder_init(&ct, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &v1, &gcm, (const uint8_t *)"old data", 8, &ct), ARCA_OK);
    assert_int_equal(arca_kms_rotate(f->kms, f->sess, &v1, &v2), ARCA_OK);
    assert_memory_not_equal(v1.b, v2.b, 16);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(arca_builder_init(&b, 8, 64), ARCA_OK);
        assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &v2, ARCA_CKA_KEY_VERSION, &b), ARCA_OK);
        assert_memory_equal(b.data, "\0\0\0\2", 4);
        arca_builder_cleanup(&b);
        assert_int_equal(arca_builder_init(&b, 8, 64), ARCA_OK);
        assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &v1, ARCA_CKA_PRIMARY, &b), ARCA_OK);
        assert_true(b.len == 1 && b.data[0] == 0);
        arca_builder_cleanup(&b);
        arca_attr q[] = {A_STR(CKA_LABEL, "rot")};
        arca_attr qp[] = {A_STR(CKA_LABEL, "rot"), A_BOOL(ARCA_CKA_PRIMARY, true)};
        arca_attr qv[] = {A_STR(CKA_LABEL, "rot"), A_U32(ARCA_CKA_KEY_VERSION, 1)};
        arca_object_id found[8];
        size_t n = 0;
        assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 8, &n), ARCA_OK);
        assert_int_equal(n, 2);
        assert_int_equal(arca_kms_find(f->kms, f->sess, qp, 2, found, 8, &n), ARCA_OK);
        assert_int_equal(n, 1);
        assert_memory_equal(found[0].b, v2.b, 16);
        assert_int_equal(arca_kms_find(f->kms, f->sess, qv, 2, found, 8, &n), ARCA_OK);
        assert_int_equal(n, 1);
        assert_memory_equal(found[0].b, v1.b, 16);
        /* v1 still decrypts; v2 is a different key. */
        assert_int_equal(arca_builder_init_secret(&pt, 64, 4096), ARCA_OK);
        assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &v1, &gcm, ct.data, ct.len, &pt), ARCA_OK);
        assert_memory_equal(pt.data, "old data", 8);
        assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &v2, &gcm, ct.data, ct.len, &pt),
                         ARCA_ERR_SIGNATURE_INVALID);
        arca_builder_cleanup(&pt);
        check_aes(f, &v2);
        if (round == 0) kms_reopen(f);
    }
    /* Rotating from an old version still numbers from the maximum. */
    assert_int_equal(arca_kms_rotate(f->kms, f->sess, &v1, &v3), ARCA_OK);
    assert_int_equal(arca_builder_init(&b, 8, 64), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &v3, ARCA_CKA_KEY_VERSION, &b), ARCA_OK);
    assert_memory_equal(b.data, "\0\0\0\3", 4);
    arca_builder_cleanup(&b);
    /* A key pair rotates as a pair; unnamed keys cannot rotate. */
    arca_object_id pub, priv, npriv;
    arca_attr ect[] = {A_BYTES(CKA_EC_PARAMS, P256, sizeof(P256))};
    gen_pair(f, CKM_EC_KEY_PAIR_GEN, ect, 1, &pub, &priv);
    assert_int_equal(arca_kms_rotate(f->kms, f->sess, &priv, &npriv), ARCA_OK);
    assert_int_equal(arca_kms_rotate(f->kms, f->sess, &pub, &npriv), ARCA_ERR_KEY_TYPE);
    arca_attr qp[] = {A_STR(CKA_LABEL, "pair"), A_BOOL(ARCA_CKA_PRIMARY, true)};
    arca_object_id found[8];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, qp, 2, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 2);
    arca_attr nt[] = {A_U32(CKA_VALUE_LEN, 16)};
    arca_object_id unnamed, x;
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, nt, 1, &unnamed), ARCA_OK);
    assert_int_equal(arca_kms_rotate(f->kms, f->sess, &unnamed, &x), ARCA_ERR_TEMPLATE_INCOMPLETE);
    arca_builder_cleanup(&ct);
}

static void test_session_objects(void **state)
{
    fx *f = *state;
    arca_object_id sid, tid;
    arca_attr t[] = {A_U32(CKA_VALUE_LEN, 16), A_BOOL(CKA_TOKEN, false), A_STR(CKA_LABEL, "ephemeral")};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 3, &sid), ARCA_OK);
    tid = gen_aes(f, f->sess, 16, "ephemeral");
    check_aes(f, &sid);
    uint8_t *v;
    size_t l;
    assert_int_equal(f->store->get(f->store->ctx, ARCA_DB_BLOBS, sid.b, 16, &v, &l), ARCA_ERR_NOT_FOUND);
    arca_attr q[] = {A_STR(CKA_LABEL, "ephemeral")};
    arca_object_id found[8];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 2);
    arca_attr qs[] = {A_STR(CKA_LABEL, "ephemeral"), A_BOOL(CKA_TOKEN, false)};
    assert_int_equal(arca_kms_find(f->kms, f->sess, qs, 2, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(found[0].b, sid.b, 16);
    /* Another session does not see it. */
    arca_kms_session *s2;
    assert_int_equal(arca_kms_session_new(f->kms, &s2), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s2, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 8, 64), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, s2, &sid, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    /* Session object changes and destroy. */
    arca_attr lab[] = {A_STR(CKA_LABEL, "renamed-eph")};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &sid, lab, 1), ARCA_OK);
    arca_object_id sid2;
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 3, &sid2), ARCA_OK);
    assert_int_equal(arca_kms_destroy(f->kms, f->sess, &sid2), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &sid2, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    /* Freeing the session frees its objects; token objects stay. */
    arca_kms_session_free(f->sess);
    f->sess = s2;
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &sid, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(found[0].b, tid.b, 16);
    arca_builder_cleanup(&b);
}

static uint32_t state_u32(fx *f, const arca_object_id *id)
{
    arca_builder b;
    uint32_t v;
    assert_int_equal(arca_builder_init(&b, 8, 64), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, id, ARCA_CKA_STATE, &b), ARCA_OK);
    assert_int_equal(b.len, 4);
    v = (uint32_t)b.data[0] << 24 | (uint32_t)b.data[1] << 16 | (uint32_t)b.data[2] << 8 | b.data[3];
    arca_builder_cleanup(&b);
    return v;
}

/* CKA_ALLOWED_MECHANISMS: a non-empty list limits key use to its
 * mechanisms (ARCA_ERR_MECHANISM, audited); malformed lists are refused. */
static void test_allowed_mechanisms(void **state)
{
    fx *f = *state;
    static const uint8_t iv[16] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    arca_mechanism cbc = {.type = CKM_AES_CBC_PAD, .iv = iv, .iv_len = sizeof(iv)};
    uint8_t only_gcm[4] = {0, 0, (uint8_t)(CKM_AES_GCM >> 8), (uint8_t)CKM_AES_GCM};
    uint8_t bad[3] = {0, 0, 1};
    uint8_t too_many[4 * (ARCA_ALLOWED_MECHANISMS_MAX + 1)];
    const uint8_t pt[] = "allowed mechanisms";
    arca_object_id id, x;
    arca_builder ct, v;
    arca_kms_stats before, after;

    memset(too_many, 0, sizeof(too_many));
    arca_attr t[] = {A_U32(CKA_VALUE_LEN, 32), A_STR(CKA_LABEL, "only-gcm"),
                     {CKA_ALLOWED_MECHANISMS, only_gcm, sizeof(only_gcm)}};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, t, 3, &id), ARCA_OK);
    check_aes(f, &id); /* GCM is in the list */
    assert_int_equal(arca_builder_init(&ct, 64, 4096), ARCA_OK);
    arca_kms_get_stats(f->kms, &before);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &id, &cbc, pt, sizeof(pt), &ct), ARCA_ERR_MECHANISM);
    arca_kms_get_stats(f->kms, &after);
    assert_int_equal(after.audit_records, before.audit_records + 1); /* the refusal is audited */
    assert_int_equal(ct.len, 0);
    arca_builder_cleanup(&ct);
    /* The list reads back as stored. */
    assert_int_equal(arca_builder_init(&v, 16, 1024), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &id, CKA_ALLOWED_MECHANISMS, &v), ARCA_OK);
    assert_int_equal(v.len, 4);
    assert_memory_equal(v.data, only_gcm, 4);
    arca_builder_cleanup(&v);
    /* Malformed: not a multiple of 4 bytes, or over the cap. */
    arca_attr tb[] = {A_U32(CKA_VALUE_LEN, 32), {CKA_ALLOWED_MECHANISMS, bad, sizeof(bad)}};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, tb, 2, &x), ARCA_ERR_ATTRIBUTE_VALUE);
    arca_attr tm[] = {A_U32(CKA_VALUE_LEN, 32), {CKA_ALLOWED_MECHANISMS, too_many, sizeof(too_many)}};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, tm, 2, &x), ARCA_ERR_ATTRIBUTE_VALUE);
    /* An empty list allows everything the key type allows. */
    arca_attr te[] = {A_U32(CKA_VALUE_LEN, 32), {CKA_ALLOWED_MECHANISMS, NULL, 0}};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, te, 2, &x), ARCA_OK);
    assert_int_equal(arca_builder_init(&ct, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &x, &cbc, pt, sizeof(pt), &ct), ARCA_OK);
    arca_builder_cleanup(&ct);
}

static void test_lifecycle_state(void **state)
{
    fx *f = *state;
    arca_mechanism gcm = {.type = CKM_AES_GCM}, hm = {.type = CKM_SHA256_HMAC}, kw = {.type = CKM_AES_KEY_WRAP_KWP};
    arca_mechanism ecdsa = {.type = CKM_ECDSA_SHA256};
    const uint8_t pt[] = "lifecycle";
    arca_builder ct, out, sig;
    arca_object_id def, pre, other, pub, priv, x;
    uint64_t audit_before, audit_after;
    arca_kms_stats st;

    /* Default: Active (usable at once); Pre-Active on request; nothing
     * else at creation; State never through set_attributes. */
    def = gen_aes(f, f->sess, 32, "life-default");
    assert_int_equal(state_u32(f, &def), ARCA_STATE_ACTIVE);
    check_aes(f, &def);
    arca_attr tp[] = {A_U32(CKA_VALUE_LEN, 32), A_STR(CKA_LABEL, "life-pre"), A_U32(ARCA_CKA_STATE, ARCA_STATE_PRE_ACTIVE)};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, tp, 3, &pre), ARCA_OK);
    arca_attr tbad[] = {A_U32(CKA_VALUE_LEN, 32), A_U32(ARCA_CKA_STATE, ARCA_STATE_DEACTIVATED)};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, tbad, 2, &x), ARCA_ERR_ATTRIBUTE_VALUE);
    arca_attr tbad2[] = {A_U32(CKA_VALUE_LEN, 32), A_U32(ARCA_CKA_STATE, 9)};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, tbad2, 2, &x), ARCA_ERR_ATTRIBUTE_VALUE);
    arca_attr set_state[] = {A_U32(ARCA_CKA_STATE, ARCA_STATE_ACTIVE)};
    assert_int_equal(arca_kms_set_attributes(f->kms, f->sess, &pre, set_state, 1), ARCA_ERR_ATTRIBUTE_READ_ONLY);

    /* Pre-Active: nothing cryptographic, not even decrypt. */
    assert_int_equal(arca_builder_init(&ct, 64, 4096), ARCA_OK);
    assert_int_equal(arca_builder_init_secret(&out, 64, 4096), ARCA_OK);
    assert_int_equal(arca_builder_init(&sig, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &pre, &gcm, pt, sizeof(pt), &ct), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &pre, &gcm, pt, sizeof(pt), &out), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &pre, &hm, pt, sizeof(pt), &sig), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_wrap(f->kms, f->sess, &pre, &kw, &def, &sig), ARCA_ERR_OBJECT_STATE);
    assert_true(ct.len == 0 && out.len == 0 && sig.len == 0);

    /* Transitions refused from the wrong state, with the exact status. */
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &pre, false, NULL), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_activate(f->kms, f->sess, &def), ARCA_ERR_OBJECT_STATE);
    arca_kms_get_stats(f->kms, &st);
    audit_before = st.audit_records;
    assert_int_equal(arca_kms_activate(f->kms, f->sess, &pre), ARCA_OK);
    arca_kms_get_stats(f->kms, &st);
    audit_after = st.audit_records;
    assert_int_equal(audit_after, audit_before + 1); /* one lifecycle record */
    assert_int_equal(state_u32(f, &pre), ARCA_STATE_ACTIVE);
    assert_int_equal(arca_kms_activate(f->kms, f->sess, &pre), ARCA_ERR_OBJECT_STATE);
    {
        /* Activation stamps CKA_START_DATE. */
        arca_builder b;
        assert_int_equal(arca_builder_init(&b, 8, 64), ARCA_OK);
        assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &pre, CKA_START_DATE, &b), ARCA_OK);
        assert_int_equal(b.len, 8);
        arca_builder_cleanup(&b);
    }
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &pre, &gcm, pt, sizeof(pt), &ct), ARCA_OK);

    /* Deactivated: decrypt (process) yes, encrypt/sign/wrap (protect) no. */
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &pre, false, "test: superseded"), ARCA_OK);
    assert_int_equal(state_u32(f, &pre), ARCA_STATE_DEACTIVATED);
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &pre, false, NULL), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_activate(f->kms, f->sess, &pre), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &pre, &gcm, ct.data, ct.len, &out), ARCA_OK);
    assert_memory_equal(out.data, pt, sizeof(pt));
    arca_builder_cleanup(&out);
    assert_int_equal(arca_builder_init_secret(&out, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &pre, &gcm, pt, sizeof(pt), &sig), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &pre, &hm, pt, sizeof(pt), &sig), ARCA_ERR_OBJECT_STATE);

    /* Find filters by state (no index needed: checked per object). */
    arca_attr q[] = {A_U32(ARCA_CKA_STATE, ARCA_STATE_DEACTIVATED)};
    arca_object_id found[8];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, found, 8, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(found[0].b, pre.b, 16);

    /* Persisted: after a reopen the states hold and are enforced. */
    kms_reopen(f);
    assert_int_equal(state_u32(f, &pre), ARCA_STATE_DEACTIVATED);
    assert_int_equal(state_u32(f, &def), ARCA_STATE_ACTIVE);
    assert_int_equal(arca_kms_encrypt(f->kms, f->sess, &pre, &gcm, pt, sizeof(pt), &sig), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &pre, &gcm, ct.data, ct.len, &out), ARCA_OK);
    arca_builder_cleanup(&out);
    assert_int_equal(arca_builder_init_secret(&out, 64, 4096), ARCA_OK);

    /* Compromised: from Deactivated; still decrypts; not again. */
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &pre, true, NULL), ARCA_OK);
    assert_int_equal(state_u32(f, &pre), ARCA_STATE_COMPROMISED);
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &pre, true, NULL), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &pre, false, NULL), ARCA_ERR_OBJECT_STATE);
    assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &pre, &gcm, ct.data, ct.len, &out), ARCA_OK);
    /* Compromise straight from Pre-Active and from Active. */
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, tp, 3, &other), ARCA_OK);
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &other, true, NULL), ARCA_OK);
    assert_int_equal(state_u32(f, &other), ARCA_STATE_COMPROMISED);
    assert_int_equal(arca_kms_decrypt(f->kms, f->sess, &other, &gcm, ct.data, ct.len, &out),
                     ARCA_ERR_SIGNATURE_INVALID); /* allowed, but another key */

    /* Key pair: a revoked public key still verifies; a revoked private
     * key no longer signs. */
    arca_attr ect[] = {A_BYTES(CKA_EC_PARAMS, P256, sizeof(P256))};
    gen_pair(f, CKM_EC_KEY_PAIR_GEN, ect, 1, &pub, &priv);
    arca_builder_cleanup(&sig);
    assert_int_equal(arca_builder_init(&sig, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &priv, &ecdsa, pt, sizeof(pt), &sig), ARCA_OK);
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &pub, false, NULL), ARCA_OK);
    assert_int_equal(arca_kms_revoke(f->kms, f->sess, &priv, true, NULL), ARCA_OK);
    assert_int_equal(arca_kms_verify(f->kms, f->sess, &pub, &ecdsa, pt, sizeof(pt), sig.data, sig.len), ARCA_OK);
    arca_builder_cleanup(&sig);
    assert_int_equal(arca_builder_init(&sig, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_sign(f->kms, f->sess, &priv, &ecdsa, pt, sizeof(pt), &sig), ARCA_ERR_OBJECT_STATE);

    /* Rotating a revoked key gives an Active new version. */
    assert_int_equal(arca_kms_rotate(f->kms, f->sess, &pre, &x), ARCA_OK);
    assert_int_equal(state_u32(f, &x), ARCA_STATE_ACTIVE);
    assert_int_equal(state_u32(f, &pre), ARCA_STATE_COMPROMISED);

    /* The keystore destroys in any state (PKCS#11 semantics). */
    assert_int_equal(arca_kms_destroy(f->kms, f->sess, &def), ARCA_OK);
    assert_int_equal(arca_kms_destroy(f->kms, f->sess, &pre), ARCA_OK);
    assert_int_equal(arca_kms_activate(f->kms, f->sess, &pre), ARCA_ERR_NOT_FOUND);

    /* Session objects change state too; other sessions/partitions cannot. */
    arca_attr ts[] = {A_U32(CKA_VALUE_LEN, 16), A_BOOL(CKA_TOKEN, false), A_U32(ARCA_CKA_STATE, ARCA_STATE_PRE_ACTIVE)};
    assert_int_equal(arca_kms_generate_key(f->kms, f->sess, CKM_AES_KEY_GEN, ts, 3, &x), ARCA_OK);
    assert_int_equal(arca_kms_activate(f->kms, f->sess, &x), ARCA_OK);
    assert_int_equal(state_u32(f, &x), ARCA_STATE_ACTIVE);
    arca_kms_session *s2;
    assert_int_equal(arca_kms_session_new(f->kms, &s2), ARCA_OK);
    assert_int_equal(arca_kms_activate(f->kms, s2, &other), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_login(f->kms, s2, "p2", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_revoke(f->kms, s2, &other, true, NULL), ARCA_ERR_NOT_FOUND);
    arca_kms_session_free(s2);

    arca_builder_cleanup(&ct);
    arca_builder_cleanup(&out);
    arca_builder_cleanup(&sig);
}

/* ---- client identities --------------------------------------------------- */

/* A tiny PKI made in-process: EC P-256 keys, a CA and leaf certificates. */
typedef struct cert {
    X509 *x;
    EVP_PKEY *key;
    uint8_t *der;
    size_t len;
} cert;

static void cert_make(cert *c, const char *cn, const cert *issuer, bool ca)
{
    static long serial = 1;
    X509V3_CTX v3;
    memset(c, 0, sizeof(*c)); /* i2d_X509 allocates only when *der is NULL */
    c->key = EVP_EC_gen("P-256");
    assert_non_null(c->key);
    c->x = X509_new();
    assert_non_null(c->x);
    assert_int_equal(X509_set_version(c->x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(c->x), serial++), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(c->x), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(c->x), 3600));
    assert_int_equal(X509_set_pubkey(c->x, c->key), 1);
    X509_NAME *name = X509_get_subject_name(c->x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(c->x, issuer != NULL ? X509_get_subject_name(issuer->x) : name), 1);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer->x : c->x, c->x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
        {"keyUsage", ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {"extendedKeyUsage", ca ? NULL : "clientAuth"},
    };
    for (size_t i = 0; i < 3; i++) {
        if (exts[i][1] == NULL) continue;
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(c->x, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(c->x, issuer != NULL ? issuer->key : c->key, EVP_sha256()) > 0);
    int n = i2d_X509(c->x, &c->der);
    assert_true(n > 0);
    c->len = (size_t)n;
}

static void cert_free(cert *c)
{
    X509_free(c->x);
    EVP_PKEY_free(c->key);
    OPENSSL_free(c->der);
}

typedef struct pki {
    cert ca, other_ca, admin, client, officer, auditor, stranger;
} pki;

static void pki_make(pki *p)
{
    cert_make(&p->ca, "Arca Test CA", NULL, true);
    cert_make(&p->other_ca, "Other CA", NULL, true);
    cert_make(&p->admin, "arca-admin", &p->ca, false);
    cert_make(&p->client, "arca-client", &p->ca, false);
    cert_make(&p->officer, "arca-officer", &p->ca, false);
    cert_make(&p->auditor, "arca-auditor", &p->ca, false);
    cert_make(&p->stranger, "arca-stranger", &p->other_ca, false);
}

static void pki_free(pki *p)
{
    cert *all[] = {&p->ca, &p->other_ca, &p->admin, &p->client, &p->officer, &p->auditor, &p->stranger};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) cert_free(all[i]);
}

/* A new session with c as its peer; expect is set_peer's status. */
static arca_kms_session *peer_session(fx *f, const cert *c, arca_status expect)
{
    arca_kms_session *s;
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    assert_int_equal(arca_kms_session_set_peer(f->kms, s, c->der, c->len, NULL, NULL, 0), expect);
    return s;
}

/* The last audit record, read by an admin session without a peer. */
static void last_record(fx *f, arca_lp_record *out, arca_builder *keep)
{
    arca_kms_session *s;
    arca_kms_stats st;
    arca_cursor c;
    uint32_t num;
    arca_kms_get_stats(f->kms, &st);
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN), ARCA_OK);
    assert_int_equal(arca_builder_init(keep, 256, 1u << 20), ARCA_OK);
    /* the login added one record after the one we want */
    assert_int_equal(arca_kms_audit_read(f->kms, s, st.audit_records, 1, keep), ARCA_OK);
    arca_cursor_init(&c, keep->data, keep->len);
    assert_int_equal(arca_cursor_get_u32(&c, &num), ARCA_OK);
    assert_int_equal(num, 1);
    assert_int_equal(arca_lp_record_next(&c, out), ARCA_OK);
    assert_int_equal(out->seq, st.audit_records);
    arca_kms_session_free(s);
}

static void assert_text(const arca_lp_bytes *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->data, want, b->len);
}

static void assert_refusal_audited(fx *f, const char *cn, arca_status st, const char *detail_prefix)
{
    arca_lp_record r;
    arca_builder keep;
    last_record(f, &r, &keep);
    assert_text(&r.event, "CONNECTION_REFUSED");
    assert_text(&r.actor, cn);
    assert_int_equal(r.status, st);
    assert_true(r.detail.len >= strlen(detail_prefix));
    assert_memory_equal(r.detail.data, detail_prefix, strlen(detail_prefix));
    arca_builder_cleanup(&keep);
}

/* Initialise with a peer: the admin's certificate is registered with every
 * role and "*". */
static arca_kms_session *init_domain(fx *f, pki *p)
{
    arca_kms_session *a = peer_session(f, &p->admin, ARCA_OK);
    assert_int_equal(arca_kms_initialise_domain(f->kms, a, ADMIN_PIN, p->ca.der, p->ca.len), ARCA_OK);
    assert_int_equal(arca_kms_session_role(a), ARCA_ROLE_ADMIN);
    return a;
}

static void test_identity_bootstrap_and_initialise(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    arca_kms_stats st0, st1;

    /* Before initialisation any well-formed certificate is admitted. */
    arca_kms_session *a = peer_session(f, &p.admin, ARCA_OK);
    assert_string_equal(arca_kms_session_identity(a), "arca-admin");
    assert_int_equal(arca_kms_session_set_peer(f->kms, a, p.admin.der, p.admin.len, NULL, NULL, 0),
                     ARCA_ERR_ALREADY_LOGGED_IN);
    arca_kms_session *x = peer_session(f, &p.stranger, ARCA_OK);
    assert_string_equal(arca_kms_session_identity(f->sess), "");

    /* Not a certificate: refused even in bootstrap. */
    arca_kms_get_stats(f->kms, &st0);
    const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    arca_kms_session *j;
    assert_int_equal(arca_kms_session_new(f->kms, &j), ARCA_OK);
    assert_int_equal(arca_kms_session_set_peer(f->kms, j, junk, sizeof(junk), NULL, NULL, 0), ARCA_ERR_DECODE);
    assert_string_equal(arca_kms_session_identity(j), "");
    arca_kms_get_stats(f->kms, &st1);
    assert_int_equal(st1.audit_records, st0.audit_records + 1);

    /* The old entry point is refused to a peer; initialise_domain to a session without one. */
    assert_int_equal(arca_kms_initialise(f->kms, x, ADMIN_PIN), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_initialise_domain(f->kms, f->sess, ADMIN_PIN, p.ca.der, p.ca.len),
                     ARCA_ERR_PERMISSION);
    /* The caller's certificate must chain to the CA it installs. */
    assert_int_equal(arca_kms_initialise_domain(f->kms, x, ADMIN_PIN, p.ca.der, p.ca.len), ARCA_ERR_CERT_UNTRUSTED);
    /* The CA must be a CA, and a certificate. */
    assert_int_equal(arca_kms_initialise_domain(f->kms, a, ADMIN_PIN, p.admin.der, p.admin.len), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_initialise_domain(f->kms, a, ADMIN_PIN, junk, sizeof(junk)), ARCA_ERR_DECODE);
    assert_int_equal(arca_kms_initialise_domain(f->kms, a, "x", p.ca.der, p.ca.len), ARCA_ERR_PIN_INVALID);
    assert_int_equal(arca_kms_initialise_domain(f->kms, a, ADMIN_PIN, p.ca.der, ARCA_CLIENT_CA_MAX + 1),
                     ARCA_ERR_TOO_LARGE);
    assert_false(arca_kms_is_initialised(f->kms));
    assert_int_equal(arca_kms_initialise_domain(f->kms, a, ADMIN_PIN, p.ca.der, p.ca.len), ARCA_OK);
    assert_true(arca_kms_is_initialised(f->kms));
    assert_int_equal(arca_kms_session_role(a), ARCA_ROLE_ADMIN);
    assert_int_equal(arca_kms_initialise_domain(f->kms, a, ADMIN_PIN, p.ca.der, p.ca.len),
                     ARCA_ERR_ALREADY_INITIALISED);

    /* The first identity. */
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 64, 1u << 20), ARCA_OK);
    assert_int_equal(arca_kms_identity_list(f->kms, a, &b), ARCA_OK);
    arca_cursor c;
    uint32_t num;
    arca_lp_identity id;
    arca_cursor_init(&c, b.data, b.len);
    assert_int_equal(arca_cursor_get_u32(&c, &num), ARCA_OK);
    assert_int_equal(num, 1);
    assert_int_equal(arca_lp_identity_next(&c, &id), ARCA_OK);
    assert_text(&id.name, "arca-admin");
    assert_int_equal(id.roles, ARCA_IDENTITY_ROLES_ALL);
    assert_text(&id.partitions, "*");
    assert_int_equal(arca_cursor_remaining(&c), 0);
    arca_builder_cleanup(&b);
    /* The initialisation's own record names the identity. */
    arca_lp_record r;
    last_record(f, &r, &b);
    assert_text(&r.event, "INITIALISE");
    assert_text(&r.actor, "arca-admin/admin");
    arca_builder_cleanup(&b);

    /* After initialisation: another CA's certificate, an unregistered CN,
     * junk: each refused with its status and audited with CN and reason. */
    arca_kms_session *s = peer_session(f, &p.stranger, ARCA_ERR_CERT_UNTRUSTED);
    assert_string_equal(arca_kms_session_identity(s), "");
    arca_kms_session_free(s);
    assert_refusal_audited(f, "arca-stranger", ARCA_ERR_CERT_UNTRUSTED, "certificate not issued by the client CA");
    s = peer_session(f, &p.client, ARCA_ERR_IDENTITY_UNKNOWN);
    arca_kms_session_free(s);
    assert_refusal_audited(f, "arca-client", ARCA_ERR_IDENTITY_UNKNOWN, "identity not registered");
    /* the CA certificate itself is no client certificate (CA:TRUE, no clientAuth chain) */
    s = peer_session(f, &p.other_ca, ARCA_ERR_CERT_UNTRUSTED);
    arca_kms_session_free(s);
    assert_int_equal(arca_kms_audit_refusal(f->kms, "tcp 127.0.0.1", "no client certificate"), ARCA_OK);
    assert_refusal_audited(f, "tcp 127.0.0.1", ARCA_ERR_CERT_UNTRUSTED, "no client certificate");

    /* The CA and the identity survive a restart. */
    arca_kms_session_free(a);
    arca_kms_session_free(x);
    arca_kms_session_free(j);
    arca_kms_session_free(f->sess);
    f->sess = NULL;
    arca_kms_free(f->kms);
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
    assert_int_equal(arca_kms_session_new(f->kms, &f->sess), ARCA_OK);
    a = peer_session(f, &p.admin, ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, a, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN), ARCA_OK);
    arca_kms_session_free(a);
    s = peer_session(f, &p.stranger, ARCA_ERR_CERT_UNTRUSTED);
    arca_kms_session_free(s);
    pki_free(&p);
}

/* An appliance initialised the old way has no client CA: nobody gets in. */
static void test_identity_no_ca(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    arca_kms_session *s = peer_session(f, &p.admin, ARCA_ERR_CERT_UNTRUSTED);
    arca_kms_session_free(s);
    assert_refusal_audited(f, "arca-admin", ARCA_ERR_CERT_UNTRUSTED, "no client CA installed");
    pki_free(&p);
}

static void test_identity_roles(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    arca_kms_session *a = init_domain(f, &p);
    assert_int_equal(arca_kms_partition_create(f->kms, a, "p1", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, a, "p2", SO_PIN, USER_PIN), ARCA_OK);

    /* Arguments. */
    assert_int_equal(arca_kms_identity_put(f->kms, a, "", ARCA_IDENTITY_ROLE_USER, "p1"), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "bad\x01name", ARCA_IDENTITY_ROLE_USER, "p1"), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "n", 0, "p1"), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "n", 0x10, "p1"), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "n", ARCA_IDENTITY_ROLE_USER, ""), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "n", ARCA_IDENTITY_ROLE_USER, "p1,,p2"), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "n", ARCA_IDENTITY_ROLE_USER, "p1,"), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "n", ARCA_IDENTITY_ROLE_USER, "*,p1"), ARCA_ERR_ARGS);

    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-client", ARCA_IDENTITY_ROLE_USER, "p1"), ARCA_OK);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-officer", ARCA_IDENTITY_ROLE_OFFICER, "p2"), ARCA_OK);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-auditor", ARCA_IDENTITY_ROLE_AUDITOR, "*"), ARCA_OK);
    arca_lp_record rec;
    arca_builder keep;
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "IDENTITY_PUT");
    assert_text(&rec.detail, "arca-auditor roles auditor partitions *");
    arca_builder_cleanup(&keep);

    /* Only the admin manages identities. */
    arca_kms_session *c = peer_session(f, &p.client, ARCA_OK);
    assert_string_equal(arca_kms_session_identity(c), "arca-client");
    assert_int_equal(arca_kms_identity_put(f->kms, c, "arca-client", ARCA_IDENTITY_ROLES_ALL, "*"),
                     ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_identity_remove(f->kms, c, "arca-admin"), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_builder_init(&keep, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_identity_list(f->kms, c, &keep), ARCA_ERR_PERMISSION);
    arca_builder_cleanup(&keep);

    /* Logins: certificate AND PIN. The PIN is not even tried (no
     * failure counted) when the identity may not take the role. */
    assert_int_equal(arca_kms_login(f->kms, c, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_login(f->kms, c, "p2", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PERMISSION);
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "LOGIN_FAILED");
    assert_int_equal(rec.status, ARCA_ERR_PERMISSION);
    assert_text(&rec.actor, "arca-client/user");
    arca_builder_cleanup(&keep);
    assert_int_equal(arca_kms_login(f->kms, c, "p1", ARCA_ROLE_USER, "wrong-pin"), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, c, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    /* a user identity is no auditor */
    uint64_t n = 0;
    assert_int_equal(arca_kms_audit_verify(f->kms, c, &n), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_builder_init(&keep, 64, 1u << 20), ARCA_OK);
    assert_int_equal(arca_kms_audit_read(f->kms, c, 1, 10, &keep), ARCA_ERR_PERMISSION);

    arca_kms_session *o = peer_session(f, &p.officer, ARCA_OK);
    assert_int_equal(arca_kms_audit_read(f->kms, o, 1, 10, &keep), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_audit_verify(f->kms, o, &n), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_login(f->kms, o, "p2", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_login(f->kms, o, "p1", ARCA_ROLE_SO, SO_PIN), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_login(f->kms, o, "p2", ARCA_ROLE_SO, SO_PIN), ARCA_OK);

    /* The auditor reads and verifies without a PIN; nothing else. */
    arca_kms_session *au = peer_session(f, &p.auditor, ARCA_OK);
    assert_int_equal(arca_kms_audit_verify(f->kms, au, &n), ARCA_OK);
    assert_true(n > 5);
    assert_int_equal(arca_kms_audit_read(f->kms, au, 1, 0, &keep), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_audit_read(f->kms, au, 1, ARCA_AUDIT_READ_MAX + 1, &keep), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_audit_read(f->kms, au, 2, 3, &keep), ARCA_OK);
    arca_cursor cur;
    uint32_t num;
    arca_cursor_init(&cur, keep.data, keep.len);
    assert_int_equal(arca_cursor_get_u32(&cur, &num), ARCA_OK);
    assert_int_equal(num, 3);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(arca_lp_record_next(&cur, &rec), ARCA_OK);
        assert_int_equal(rec.seq, 2 + i);
        assert_true(rec.time_ms > 0);
    }
    assert_int_equal(arca_cursor_remaining(&cur), 0);
    arca_builder_cleanup(&keep);
    /* past the end: none */
    assert_int_equal(arca_builder_init(&keep, 64, 1u << 20), ARCA_OK);
    assert_int_equal(arca_kms_audit_read(f->kms, au, n + 1000, 10, &keep), ARCA_OK);
    assert_int_equal(keep.len, 4);
    assert_int_equal(keep.data[3], 0);
    arca_builder_cleanup(&keep);
    assert_int_equal(arca_kms_login(f->kms, au, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PERMISSION);

    /* The last ADMIN identity stays. */
    assert_int_equal(arca_kms_identity_remove(f->kms, a, "nobody"), ARCA_ERR_IDENTITY_UNKNOWN);
    assert_int_equal(arca_kms_identity_remove(f->kms, a, "arca-admin"), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-admin", ARCA_IDENTITY_ROLE_USER, "*"),
                     ARCA_ERR_PERMISSION);
    /* ... unless there is another */
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-officer", ARCA_IDENTITY_ROLE_ADMIN, "p2"), ARCA_OK);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-admin", ARCA_IDENTITY_ROLES_ALL, "*"), ARCA_OK);

    /* Removal: no new connection, no new login, audited. */
    assert_int_equal(arca_kms_identity_remove(f->kms, a, "arca-client"), ARCA_OK);
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "IDENTITY_REMOVE");
    assert_text(&rec.detail, "arca-client");
    arca_builder_cleanup(&keep);
    assert_int_equal(arca_kms_logout(f->kms, c), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, c, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_IDENTITY_UNKNOWN);
    arca_kms_session *c2 = peer_session(f, &p.client, ARCA_ERR_IDENTITY_UNKNOWN);
    assert_refusal_audited(f, "arca-client", ARCA_ERR_IDENTITY_UNKNOWN, "identity not registered");

    /* The list is sorted by name. */
    assert_int_equal(arca_builder_init(&keep, 64, 1u << 20), ARCA_OK);
    assert_int_equal(arca_kms_identity_list(f->kms, a, &keep), ARCA_OK);
    arca_cursor_init(&cur, keep.data, keep.len);
    assert_int_equal(arca_cursor_get_u32(&cur, &num), ARCA_OK);
    assert_int_equal(num, 3);
    arca_lp_identity id;
    const char *want[] = {"arca-admin", "arca-auditor", "arca-officer"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(arca_lp_identity_next(&cur, &id), ARCA_OK);
        assert_text(&id.name, want[i]);
    }
    arca_builder_cleanup(&keep);

    arca_kms_session_free(c2);
    arca_kms_session_free(au);
    arca_kms_session_free(o);
    arca_kms_session_free(c);
    arca_kms_session_free(a);
    pki_free(&p);
}

/* Five wrong PINs lock a partition PIN, also for a peer session. */
static void test_identity_lockout(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    assert_int_equal(ARCA_PIN_MAX_FAILURES, 5);
    arca_kms_session *a = init_domain(f, &p);
    assert_int_equal(arca_kms_partition_create(f->kms, a, "p1", SO_PIN, USER_PIN), ARCA_OK);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(arca_kms_login(f->kms, a, "p1", ARCA_ROLE_USER, "wrong-pin"), ARCA_ERR_ALREADY_LOGGED_IN);
    }
    assert_int_equal(arca_kms_logout(f->kms, a), ARCA_OK);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(arca_kms_login(f->kms, a, "p1", ARCA_ROLE_USER, "wrong-pin"), ARCA_ERR_PIN_INCORRECT);
    }
    /* four failures: the right PIN still works and resets the count */
    assert_int_equal(arca_kms_login(f->kms, a, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_logout(f->kms, a), ARCA_OK);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(arca_kms_login(f->kms, a, "p1", ARCA_ROLE_USER, "wrong-pin"), ARCA_ERR_PIN_INCORRECT);
    }
    assert_int_equal(arca_kms_login(f->kms, a, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PIN_LOCKED);
    arca_kms_session_free(a);
    pki_free(&p);
}

static void test_attest(void **state)
{
    fx *f = *state;
    arca_builder ev;
    uint8_t nonce[16], binding[32], rd[ARCA_REPORT_DATA_LEN], big[ARCA_ATTEST_NONCE_MAX + 1];
    arca_evidence_claims claims;
    memset(nonce, 0x11, sizeof(nonce));
    memset(binding, 0x22, sizeof(binding));
    memset(big, 0x33, sizeof(big));
    assert_int_equal(arca_builder_init(&ev, 256, 64 * 1024), ARCA_OK);

    /* No login needed, but a channel binding is. */
    assert_int_equal(arca_kms_attest(f->kms, f->sess, nonce, sizeof(nonce), &ev), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_session_set_channel_binding(f->sess, binding, 0), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_session_set_channel_binding(f->sess, big, ARCA_CHANNEL_BINDING_MAX + 1), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_session_set_channel_binding(f->sess, binding, sizeof(binding)), ARCA_OK);
    assert_int_equal(arca_kms_attest(f->kms, f->sess, nonce, 0, &ev), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_attest(f->kms, f->sess, big, sizeof(big), &ev), ARCA_ERR_ARGS);
    assert_int_equal(ev.len, 0);
    assert_int_equal(arca_kms_attest(f->kms, f->sess, nonce, sizeof(nonce), &ev), ARCA_OK);
    assert_true(ev.len > 0);

    /* The evidence vouches for exactly this nonce and this channel. */
    assert_int_equal(arca_ratls_fresh_report_data(nonce, sizeof(nonce), binding, sizeof(binding), rd), ARCA_OK);
    assert_int_equal(arca_evidence_verify(ev.data, ev.len, rd, &claims), ARCA_OK);
    assert_true(claims.insecure_dev);
    assert_memory_equal(claims.report_data, rd, sizeof(rd));
    binding[0] ^= 1;
    assert_int_equal(arca_ratls_fresh_report_data(nonce, sizeof(nonce), binding, sizeof(binding), rd), ARCA_OK);
    assert_int_equal(arca_evidence_verify(ev.data, ev.len, rd, &claims), ARCA_ERR_INTEGRITY);
    nonce[0] ^= 1;
    binding[0] ^= 1;
    assert_int_equal(arca_ratls_fresh_report_data(nonce, sizeof(nonce), binding, sizeof(binding), rd), ARCA_OK);
    assert_int_equal(arca_evidence_verify(ev.data, ev.len, rd, &claims), ARCA_ERR_INTEGRITY);
    arca_builder_cleanup(&ev);
}

/* Dispatch one request through the local protocol; the decoded response
 * (its buffer stays in *keep). */
static void dispatch(fx *f, arca_kms_session *s, const arca_lp_request *req, arca_lp_response *out,
                     arca_builder *keep)
{
    arca_builder rq;
    arca_request_ctx ctx = {.kms = f->kms, .sealing_mode = "dev"};
    assert_int_equal(arca_builder_init(&rq, 64, ARCA_LP_FRAME_MAX), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(req, &rq), ARCA_OK);
    assert_int_equal(arca_builder_init_secret(keep, 64, ARCA_LP_FRAME_MAX), ARCA_OK);
    assert_int_equal(arca_request_handle(&ctx, s, rq.data, rq.len, keep), ARCA_OK);
    arca_cursor c;
    arca_cursor_init(&c, keep->data, keep->len);
    assert_int_equal(arca_lp_response_decode(&c, req->op, out), ARCA_OK);
    arca_builder_cleanup(&rq);
}

static arca_lp_bytes S(const char *s)
{
    arca_lp_bytes v = {(const uint8_t *)s, strlen(s)};
    return v;
}

/* Ops 25-30 through the dispatcher, and a broken audit chain named in the
 * error message. */
static void test_identity_dispatch(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    arca_lp_request req;
    arca_lp_response r;
    arca_builder keep;
    arca_kms_session *a = peer_session(f, &p.admin, ARCA_OK);

    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_INITIALISE_DOMAIN;
    req.pin = S(ADMIN_PIN);
    req.data.data = p.other_ca.der;
    req.data.len = p.other_ca.len;
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_CERT_UNTRUSTED);
    arca_builder_cleanup(&keep);
    req.data.data = p.ca.der;
    req.data.len = p.ca.len;
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);

    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_IDENTITY_PUT;
    req.name = S("arca-auditor");
    req.value = ARCA_IDENTITY_ROLE_AUDITOR;
    req.data = S("*");
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);
    req.name = S("arca-client");
    req.value = ARCA_IDENTITY_ROLE_USER;
    req.data = S("p1,p2");
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);
    req.value = 0;
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_ARGS);
    arca_builder_cleanup(&keep);

    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_IDENTITY_REMOVE;
    req.name = S("arca-client");
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_IDENTITY_UNKNOWN);
    arca_builder_cleanup(&keep);

    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_IDENTITY_LIST;
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    assert_int_equal(r.num_items, 2);
    arca_lp_identity id;
    assert_int_equal(arca_lp_identity_next(&r.list, &id), ARCA_OK);
    assert_text(&id.name, "arca-admin");
    assert_int_equal(arca_lp_identity_next(&r.list, &id), ARCA_OK);
    assert_text(&id.name, "arca-auditor");
    assert_int_equal(id.roles, ARCA_IDENTITY_ROLE_AUDITOR);
    arca_builder_cleanup(&keep);

    /* ATTEST: without a binding refused, with one the evidence checks. */
    uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8}, binding[32] = {9}, rd[ARCA_REPORT_DATA_LEN];
    arca_kms_session *au = peer_session(f, &p.auditor, ARCA_OK);
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_ATTEST;
    req.data.data = nonce;
    req.data.len = sizeof(nonce);
    dispatch(f, au, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_ARGS);
    arca_builder_cleanup(&keep);
    assert_int_equal(arca_kms_session_set_channel_binding(au, binding, sizeof(binding)), ARCA_OK);
    dispatch(f, au, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_evidence_claims claims;
    assert_int_equal(arca_ratls_fresh_report_data(nonce, sizeof(nonce), binding, sizeof(binding), rd), ARCA_OK);
    assert_int_equal(arca_evidence_verify(r.data.data, r.data.len, rd, &claims), ARCA_OK);
    arca_builder_cleanup(&keep);

    /* AUDIT_READ by the auditor identity (no login). */
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_AUDIT_READ;
    req.value64 = 1;
    req.value = 2;
    dispatch(f, au, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    assert_int_equal(r.num_items, 2);
    arca_lp_record rec;
    assert_int_equal(arca_lp_record_next(&r.list, &rec), ARCA_OK);
    assert_int_equal(rec.seq, 1);
    assert_int_equal(arca_lp_record_next(&r.list, &rec), ARCA_OK);
    assert_int_equal(rec.seq, 2);
    arca_builder_cleanup(&keep);

    /* A record edited in the store: AUDIT_VERIFY names it. */
    uint8_t k8[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    uint8_t *val = NULL;
    size_t val_len = 0;
    assert_int_equal(f->store->get(f->store->ctx, ARCA_DB_AUDIT, k8, 8, &val, &val_len), ARCA_OK);
    val[20] ^= 1;
    arca_store_op op = {ARCA_STORE_PUT, ARCA_DB_AUDIT, k8, 8, val, val_len};
    assert_int_equal(f->store->commit(f->store->ctx, &op, 1), ARCA_OK);
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_AUDIT_VERIFY;
    dispatch(f, au, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_INTEGRITY);
    assert_text(&r.message, "audit record 2: record does not authenticate");
    assert_string_equal(arca_kms_audit_verify_failure(au), "audit record 2: record does not authenticate");
    arca_builder_cleanup(&keep);
    /* ... and AUDIT_READ refuses to pass it on */
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_AUDIT_READ;
    req.value64 = 1;
    req.value = 5;
    dispatch(f, au, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_INTEGRITY);
    arca_builder_cleanup(&keep);
    /* repair, so that teardown's verification holds */
    val[20] ^= 1;
    assert_int_equal(f->store->commit(f->store->ctx, &op, 1), ARCA_OK);
    free(val);

    arca_kms_session_free(au);
    arca_kms_session_free(a);
    pki_free(&p);
}

/* ---- per-key permissions, WHOAMI, ACTIVATE / REVOKE (ops 33-35) ---------- */

static bool bytes_contain(const arca_lp_bytes *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; b->len >= n && i + n <= b->len; i++) {
        if (memcmp(b->data + i, needle, n) == 0) return true;
    }
    return false;
}

static arca_kms_session *user_session(fx *f, const cert *c)
{
    arca_kms_session *s = peer_session(f, c, ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    return s;
}

static bool found(fx *f, arca_kms_session *s, const arca_object_id *id)
{
    arca_object_id ids[16];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, s, NULL, 0, ids, 16, &n), ARCA_OK);
    for (size_t i = 0; i < n; i++) {
        if (memcmp(ids[i].b, id->b, 16) == 0) return true;
    }
    return false;
}

static void assert_denied_audited(fx *f, const arca_object_id *id, const char *identity)
{
    arca_lp_record r;
    arca_builder keep;
    char hx[33];
    last_record(f, &r, &keep);
    assert_text(&r.event, "ACCESS_DENIED");
    assert_int_equal(r.status, ARCA_ERR_PERMISSION);
    kms_id_hex(id, hx);
    assert_text(&r.object, hx);
    assert_true(bytes_contain(&r.detail, identity));
    assert_true(bytes_contain(&r.actor, identity));
    arca_builder_cleanup(&keep);
}

/* Public access (arca_kms_select_partition): without a PIN, an identity
 * allowed on a partition finds and reads its CKA_PRIVATE false objects,
 * nothing else. */
static size_t find_all(fx *f, arca_kms_session *s, arca_object_id *ids, size_t max)
{
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, s, NULL, 0, ids, max, &n), ARCA_OK);
    return n;
}

static void test_public_access(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    arca_kms_session *a = init_domain(f, &p);
    assert_int_equal(arca_kms_partition_create(f->kms, a, "p1", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, a, "p2", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-client", ARCA_IDENTITY_ROLE_USER, "p1"), ARCA_OK);
    /* no USER role: public access needs only the partition in the list */
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-officer", ARCA_IDENTITY_ROLE_OFFICER, "p2"), ARCA_OK);

    /* Objects of p1, made by the user: an EC pair (public half public by
     * default), a pair whose public half only the admin may use, an AES
     * key, and a secret key explicitly made public and readable. */
    arca_kms_session *u = user_session(f, &p.client);
    arca_object_id pub, priv, pub2, priv2, aes, open_key, ids[16];
    arca_attr ec[] = {A_BYTES(CKA_EC_PARAMS, P256, sizeof(P256)), A_STR(CKA_LABEL, "ec1")};
    assert_int_equal(arca_kms_generate_key_pair(f->kms, u, CKM_EC_KEY_PAIR_GEN, ec, 2, NULL, 0, &pub, &priv), ARCA_OK);
    arca_attr ec2[] = {A_BYTES(CKA_EC_PARAMS, P256, sizeof(P256)), A_STR(ARCA_CKA_ALLOWED_IDENTITIES, "arca-admin")};
    assert_int_equal(arca_kms_generate_key_pair(f->kms, u, CKM_EC_KEY_PAIR_GEN, ec2, 2, NULL, 0, &pub2, &priv2),
                     ARCA_OK);
    arca_attr at[] = {A_U32(CKA_VALUE_LEN, 32)};
    assert_int_equal(arca_kms_generate_key(f->kms, u, CKM_AES_KEY_GEN, at, 1, &aes), ARCA_OK);
    arca_attr ot[] = {A_U32(CKA_VALUE_LEN, 32), A_BOOL(CKA_PRIVATE, false), A_BOOL(CKA_SENSITIVE, false),
                      A_BOOL(CKA_EXTRACTABLE, true)};
    assert_int_equal(arca_kms_generate_key(f->kms, u, CKM_AES_KEY_GEN, ot, 4, &open_key), ARCA_OK);
    assert_int_equal(find_all(f, u, ids, 16), 5); /* pub2 is not for arca-client */

    /* Before any selection: nothing. */
    arca_kms_session *s = peer_session(f, &p.client, ARCA_OK);
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, s, NULL, 0, ids, 16, &n), ARCA_ERR_NOT_LOGGED_IN);
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &pub, CKA_EC_POINT, &b), ARCA_ERR_NOT_LOGGED_IN);

    /* Selection: unknown, not allowed (audited), arguments. */
    assert_int_equal(arca_kms_select_partition(f->kms, s, "p9"), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_kms_select_partition(f->kms, s, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_select_partition(f->kms, s, "p2"), ARCA_ERR_PERMISSION);
    arca_lp_record rec;
    arca_builder keep;
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "LOGIN_FAILED");
    assert_int_equal(rec.status, ARCA_ERR_PERMISSION);
    assert_text(&rec.detail, "partition p2; public access: identity not authorised");
    arca_builder_cleanup(&keep);
    assert_int_equal(arca_kms_find(f->kms, s, NULL, 0, ids, 16, &n), ARCA_ERR_NOT_LOGGED_IN);

    assert_int_equal(arca_kms_select_partition(f->kms, s, "p1"), ARCA_OK);
    assert_int_equal(arca_kms_select_partition(f->kms, s, "p1"), ARCA_OK); /* again: harmless */
    assert_int_equal(arca_kms_session_role(s), ARCA_ROLE_NONE);

    /* Find: the public objects the identity may use, nothing else. */
    assert_int_equal(find_all(f, s, ids, 16), 2);
    bool saw_pub = false, saw_open = false;
    for (size_t i = 0; i < 2; i++) {
        saw_pub |= memcmp(ids[i].b, pub.b, sizeof(pub.b)) == 0;
        saw_open |= memcmp(ids[i].b, open_key.b, sizeof(pub.b)) == 0;
    }
    assert_true(saw_pub && saw_open);
    arca_attr by_class[] = {A_U32(CKA_CLASS, CKO_PRIVATE_KEY)};
    assert_int_equal(arca_kms_find(f->kms, s, by_class, 1, ids, 16, &n), ARCA_OK);
    assert_int_equal(n, 0);
    arca_attr by_label[] = {A_STR(CKA_LABEL, "ec1")};
    assert_int_equal(arca_kms_find(f->kms, s, by_label, 1, ids, 16, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0].b, pub.b, sizeof(pub.b));

    /* Get attribute: public objects only; private ones are invisible. */
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &pub, CKA_EC_POINT, &b), ARCA_OK);
    assert_int_equal(b.len, 67);
    b.len = 0;
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &pub, CKA_PRIVATE, &b), ARCA_OK);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 0);
    b.len = 0;
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &priv, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &aes, CKA_CLASS, &b), ARCA_ERR_NOT_FOUND);
    /* the per-key permission still applies (audited ACCESS_DENIED) */
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &pub2, CKA_EC_POINT, &b), ARCA_ERR_PERMISSION);
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "ACCESS_DENIED");
    arca_builder_cleanup(&keep);
    /* key material never leaves without a login, even from a public,
     * non-sensitive, extractable key */
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &open_key, CKA_VALUE, &b), ARCA_ERR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(b.len, 0);
    assert_int_equal(arca_kms_get_attribute(f->kms, u, &open_key, CKA_VALUE, &b), ARCA_OK);
    assert_int_equal(b.len, 32);
    b.len = 0;

    /* Nothing else. */
    const uint8_t msg[] = "message";
    arca_mechanism ecdsa = {.type = CKM_ECDSA_SHA256};
    arca_builder sig;
    assert_int_equal(arca_builder_init(&sig, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_sign(f->kms, s, &priv, &ecdsa, msg, sizeof(msg), &sig), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_sign(f->kms, u, &priv, &ecdsa, msg, sizeof(msg), &sig), ARCA_OK);
    assert_int_equal(arca_kms_verify(f->kms, s, &pub, &ecdsa, msg, sizeof(msg), sig.data, sig.len),
                     ARCA_ERR_NOT_LOGGED_IN);
    arca_attr lt[] = {A_STR(CKA_LABEL, "renamed")};
    assert_int_equal(arca_kms_set_attributes(f->kms, s, &pub, lt, 1), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_destroy(f->kms, s, &pub), ARCA_ERR_NOT_LOGGED_IN);
    arca_object_id nid;
    assert_int_equal(arca_kms_rotate(f->kms, s, &priv, &nid), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_generate_key(f->kms, s, CKM_AES_KEY_GEN, at, 1, &nid), ARCA_ERR_NOT_LOGGED_IN);
    arca_attr pk[] = {A_U32(CKA_CLASS, CKO_PUBLIC_KEY)};
    assert_int_equal(arca_kms_create_object(f->kms, s, pk, 1, &nid), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_activate(f->kms, s, &pub), ARCA_ERR_NOT_LOGGED_IN);
    arca_mechanism kw = {.type = CKM_AES_KEY_WRAP};
    assert_int_equal(arca_kms_wrap(f->kms, s, &aes, &kw, &open_key, &b), ARCA_ERR_NOT_LOGGED_IN);

    /* Login works as usual; a selection while logged in is refused;
     * logout returns to public access of the selected partition. */
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_select_partition(f->kms, s, "p1"), ARCA_ERR_ALREADY_LOGGED_IN);
    assert_int_equal(find_all(f, s, ids, 16), 5);
    assert_int_equal(arca_kms_logout(f->kms, s), ARCA_OK);
    assert_int_equal(find_all(f, s, ids, 16), 2);
    assert_int_equal(arca_kms_get_attribute(f->kms, s, &priv, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);
    assert_int_equal(arca_kms_select_partition(f->kms, u, "p1"), ARCA_ERR_ALREADY_LOGGED_IN);

    /* The SO of the partition sees the public objects too. */
    arca_kms_session *so = peer_session(f, &p.client, ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, so, "p1", ARCA_ROLE_SO, SO_PIN), ARCA_OK);
    assert_int_equal(find_all(f, so, ids, 16), 2);
    assert_int_equal(arca_kms_get_attribute(f->kms, so, &priv, CKA_LABEL, &b), ARCA_ERR_NOT_FOUND);

    /* An identity without the USER role, on its partition; then removed. */
    arca_kms_session *o = peer_session(f, &p.officer, ARCA_OK);
    assert_int_equal(arca_kms_select_partition(f->kms, o, "p1"), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_select_partition(f->kms, o, "p2"), ARCA_OK);
    assert_int_equal(find_all(f, o, ids, 16), 0);
    assert_int_equal(arca_kms_get_attribute(f->kms, o, &pub, CKA_EC_POINT, &b), ARCA_ERR_NOT_FOUND);
    arca_kms_session *o2 = peer_session(f, &p.officer, ARCA_OK);
    assert_int_equal(arca_kms_identity_remove(f->kms, a, "arca-officer"), ARCA_OK);
    assert_int_equal(arca_kms_select_partition(f->kms, o2, "p2"), ARCA_ERR_IDENTITY_UNKNOWN);
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "LOGIN_FAILED");
    assert_int_equal(rec.status, ARCA_ERR_IDENTITY_UNKNOWN);
    arca_builder_cleanup(&keep);

    /* In-process sessions (no peer) are not restricted. */
    arca_kms_session *np;
    assert_int_equal(arca_kms_session_new(f->kms, &np), ARCA_OK);
    assert_int_equal(arca_kms_select_partition(f->kms, np, "p1"), ARCA_OK);
    assert_int_equal(find_all(f, np, ids, 16), 3); /* no identity: pub2 too */

    arca_builder_cleanup(&b);
    arca_builder_cleanup(&sig);
    arca_kms_session *all[] = {a, u, s, so, o, o2, np};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) arca_kms_session_free(all[i]);
    pki_free(&p);
}

static void test_key_permissions(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    arca_kms_session *a = init_domain(f, &p);
    assert_int_equal(arca_kms_partition_create(f->kms, a, "p1", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-client", ARCA_IDENTITY_ROLE_USER, "p1"), ARCA_OK);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-officer", ARCA_IDENTITY_ROLE_USER, "p1"), ARCA_OK);
    arca_kms_session *c = user_session(f, &p.client), *o = user_session(f, &p.officer);

    /* Malformed lists at creation. */
    char big[ARCA_ALLOWED_IDENTITIES_MAX + 2];
    memset(big, 'n', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    for (size_t i = 60; i < sizeof(big) - 1; i += 60) big[i] = ',';
    const char *bad[] = {"a,,b", ",a", "a,", "bad\x01name", big};
    arca_object_id k, k2, other;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        arca_attr t[] = {A_U32(CKA_VALUE_LEN, 32), A_BYTES(ARCA_CKA_ALLOWED_IDENTITIES, bad[i], strlen(bad[i]))};
        assert_int_equal(arca_kms_generate_key(f->kms, c, CKM_AES_KEY_GEN, t, 2, &other), ARCA_ERR_ATTRIBUTE_VALUE);
    }
    char name65[66];
    memset(name65, 'x', 65);
    name65[65] = 0;
    arca_attr t65[] = {A_U32(CKA_VALUE_LEN, 32), A_BYTES(ARCA_CKA_ALLOWED_IDENTITIES, name65, 65)};
    assert_int_equal(arca_kms_generate_key(f->kms, c, CKM_AES_KEY_GEN, t65, 2, &other), ARCA_ERR_ATTRIBUTE_VALUE);

    /* k: only arca-client; k2: everyone (absent). */
    arca_attr tk[] = {A_U32(CKA_VALUE_LEN, 32), A_STR(ARCA_CKA_ALLOWED_IDENTITIES, "arca-client"),
                      A_BOOL(CKA_EXTRACTABLE, true), A_STR(CKA_LABEL, "acl-key")};
    assert_int_equal(arca_kms_generate_key(f->kms, c, CKM_AES_KEY_GEN, tk, 4, &k), ARCA_OK);
    arca_attr tk2[] = {A_U32(CKA_VALUE_LEN, 32)};
    assert_int_equal(arca_kms_generate_key(f->kms, c, CKM_AES_KEY_GEN, tk2, 1, &k2), ARCA_OK);

    /* The allowed identity reads the list; absent reads as empty. */
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, c, &k, ARCA_CKA_ALLOWED_IDENTITIES, &b), ARCA_OK);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, "arca-client", 11);
    b.len = 0;
    assert_int_equal(arca_kms_get_attribute(f->kms, o, &k2, ARCA_CKA_ALLOWED_IDENTITIES, &b), ARCA_OK);
    assert_int_equal(b.len, 0);

    /* Every operation by arca-officer on k: refused and audited. */
    arca_mechanism gcm = {.type = CKM_AES_GCM};
    arca_mechanism kw = {.type = CKM_AES_KEY_WRAP_KWP};
    arca_attr lbl[] = {A_STR(CKA_LABEL, "x")};
    arca_attr mine[] = {A_STR(ARCA_CKA_ALLOWED_IDENTITIES, "arca-officer")};
    arca_object_id rot;
    assert_int_equal(arca_kms_get_attribute(f->kms, o, &k, CKA_LABEL, &b), ARCA_ERR_PERMISSION);
    assert_denied_audited(f, &k, "arca-officer");
    assert_int_equal(arca_kms_encrypt(f->kms, o, &k, &gcm, (const uint8_t *)"hi", 2, &b), ARCA_ERR_PERMISSION);
    assert_denied_audited(f, &k, "arca-officer");
    assert_int_equal(arca_kms_set_attributes(f->kms, o, &k, lbl, 1), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_set_attributes(f->kms, o, &k, mine, 1), ARCA_ERR_PERMISSION);
    assert_denied_audited(f, &k, "arca-officer");
    assert_int_equal(arca_kms_rotate(f->kms, o, &k, &rot), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_activate(f->kms, o, &k), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_revoke(f->kms, o, &k, false, NULL), ARCA_ERR_PERMISSION);
    assert_int_equal(arca_kms_wrap(f->kms, o, &k, &kw, &k2, &b), ARCA_ERR_PERMISSION);  /* as wrapping key */
    assert_int_equal(arca_kms_wrap(f->kms, o, &k2, &kw, &k, &b), ARCA_ERR_PERMISSION);  /* as target */
    assert_denied_audited(f, &k, "arca-officer");
    assert_int_equal(arca_kms_destroy(f->kms, o, &k), ARCA_ERR_PERMISSION);
    assert_denied_audited(f, &k, "arca-officer");
    /* find does not show it to arca-officer; arca-client sees both */
    assert_false(found(f, o, &k));
    assert_true(found(f, o, &k2));
    assert_true(found(f, c, &k));
    assert_true(found(f, c, &k2));
    /* a session without a peer (in-process) is unaffected */
    arca_kms_session *local;
    assert_int_equal(arca_kms_session_new(f->kms, &local), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, local, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    b.len = 0;
    assert_int_equal(arca_kms_encrypt(f->kms, local, &k, &gcm, (const uint8_t *)"hi", 2, &b), ARCA_OK);
    assert_true(found(f, local, &k));
    arca_kms_session_free(local);

    /* The allowed identity changes the list: a SET_ATTRIBUTES commit with its record. */
    arca_attr bad_set[] = {A_STR(ARCA_CKA_ALLOWED_IDENTITIES, "a,,b")};
    assert_int_equal(arca_kms_set_attributes(f->kms, c, &k, bad_set, 1), ARCA_ERR_ATTRIBUTE_VALUE);
    arca_attr both[] = {A_STR(ARCA_CKA_ALLOWED_IDENTITIES, "arca-client,arca-officer")};
    assert_int_equal(arca_kms_set_attributes(f->kms, c, &k, both, 1), ARCA_OK);
    {
        arca_lp_record r;
        arca_builder keep;
        last_record(f, &r, &keep);
        assert_text(&r.event, "SET_ATTRIBUTES");
        assert_int_equal(r.status, ARCA_OK);
        assert_true(bytes_contain(&r.detail, "allowed identities changed"));
        arca_builder_cleanup(&keep);
    }
    b.len = 0;
    assert_int_equal(arca_kms_get_attribute(f->kms, o, &k, CKA_LABEL, &b), ARCA_OK);
    assert_true(found(f, o, &k));
    /* arca-officer, now allowed, narrows it to itself; arca-client is out */
    assert_int_equal(arca_kms_set_attributes(f->kms, o, &k, mine, 1), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, c, &k, CKA_LABEL, &b), ARCA_ERR_PERMISSION);
    assert_denied_audited(f, &k, "arca-client");
    assert_false(found(f, c, &k));
    /* a rotated version keeps the list */
    assert_int_equal(arca_kms_rotate(f->kms, o, &k, &rot), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, c, &rot, CKA_LABEL, &b), ARCA_ERR_PERMISSION);

    /* Sealed with the object: survives a reopen. */
    arca_kms_session_free(c);
    arca_kms_session_free(o);
    arca_kms_session_free(a);
    kms_reopen(f);
    c = user_session(f, &p.client);
    o = user_session(f, &p.officer);
    assert_int_equal(arca_kms_get_attribute(f->kms, c, &k, CKA_LABEL, &b), ARCA_ERR_PERMISSION);
    assert_false(found(f, c, &k));
    b.len = 0;
    assert_int_equal(arca_kms_get_attribute(f->kms, o, &k, ARCA_CKA_ALLOWED_IDENTITIES, &b), ARCA_OK);
    assert_int_equal(b.len, strlen("arca-officer"));
    /* emptied: everyone again; then arca-officer destroys it */
    arca_attr none[] = {{ARCA_CKA_ALLOWED_IDENTITIES, NULL, 0}};
    assert_int_equal(arca_kms_set_attributes(f->kms, o, &k, none, 1), ARCA_OK);
    b.len = 0;
    assert_int_equal(arca_kms_get_attribute(f->kms, c, &k, CKA_LABEL, &b), ARCA_OK);
    assert_int_equal(arca_kms_destroy(f->kms, o, &k), ARCA_OK);

    arca_builder_cleanup(&b);
    arca_kms_session_free(c);
    arca_kms_session_free(o);
    pki_free(&p);
}

static void test_whoami_lifecycle_dispatch(void **state)
{
    fx *f = *state;
    pki p;
    pki_make(&p);
    arca_lp_request req;
    arca_lp_response r;
    arca_builder keep;
    arca_kms_session *a = init_domain(f, &p);
    assert_int_equal(arca_kms_partition_create(f->kms, a, "p1", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_identity_put(f->kms, a, "arca-client", ARCA_IDENTITY_ROLE_USER, "p1"), ARCA_OK);
    arca_kms_session *c = user_session(f, &p.client);

    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_WHOAMI;
    dispatch(f, c, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    assert_text(&r.identity.name, "arca-client");
    assert_int_equal(r.identity.roles, ARCA_IDENTITY_ROLE_USER);
    assert_text(&r.identity.partitions, "p1");
    assert_int_equal(r.role, ARCA_ROLE_USER);
    assert_text(&r.partition, "p1");
    arca_builder_cleanup(&keep);
    dispatch(f, a, &req, &r, &keep);
    assert_text(&r.identity.name, "arca-admin");
    assert_int_equal(r.identity.roles, ARCA_IDENTITY_ROLES_ALL);
    assert_text(&r.identity.partitions, "*");
    assert_int_equal(r.role, ARCA_ROLE_ADMIN);
    assert_text(&r.partition, "");
    arca_builder_cleanup(&keep);
    dispatch(f, f->sess, &req, &r, &keep); /* no peer, no login */
    assert_int_equal(r.status, ARCA_OK);
    assert_text(&r.identity.name, "");
    assert_int_equal(r.identity.roles, 0);
    assert_int_equal(r.role, ARCA_ROLE_NONE);
    assert_text(&r.partition, "");
    arca_builder_cleanup(&keep);

    /* ACTIVATE / REVOKE */
    arca_object_id k;
    arca_attr tk[] = {A_U32(CKA_VALUE_LEN, 32), A_U32(ARCA_CKA_STATE, ARCA_STATE_PRE_ACTIVE)};
    assert_int_equal(arca_kms_generate_key(f->kms, c, CKM_AES_KEY_GEN, tk, 2, &k), ARCA_OK);
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_ACTIVATE;
    memcpy(req.id, k.b, 16);
    dispatch(f, c, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);
    dispatch(f, c, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_OBJECT_STATE);
    arca_builder_cleanup(&keep);
    dispatch(f, f->sess, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_NOT_LOGGED_IN);
    arca_builder_cleanup(&keep);

    req.op = ARCA_LP_REVOKE;
    req.value = 9; /* not a reason code */
    dispatch(f, c, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_ARGS);
    arca_builder_cleanup(&keep);
    req.value = 5; /* superseded: Active -> Deactivated */
    req.data = S("rolled over");
    dispatch(f, c, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);
    dispatch(f, c, &req, &r, &keep); /* deactivating a Deactivated key */
    assert_int_equal(r.status, ARCA_ERR_OBJECT_STATE);
    arca_builder_cleanup(&keep);
    req.value = 2; /* key compromise */
    req.data = S("leaked");
    dispatch(f, c, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);
    {
        arca_lp_record rec;
        last_record(f, &rec, &keep);
        assert_text(&rec.event, "REVOKE");
        assert_true(bytes_contain(&rec.detail, "reason 2: leaked"));
        arca_builder_cleanup(&keep);
    }
    arca_builder sb;
    assert_int_equal(arca_builder_init(&sb, 8, 64), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, c, &k, ARCA_CKA_STATE, &sb), ARCA_OK);
    assert_int_equal(sb.data[3], ARCA_STATE_COMPROMISED);
    arca_builder_cleanup(&sb);

    /* TLS ops without a TLS server: user refused, admin told unsupported. */
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_TLS_CSR;
    req.name = S("kms.example");
    dispatch(f, c, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_PERMISSION);
    arca_builder_cleanup(&keep);
    dispatch(f, a, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_UNSUPPORTED);
    arca_builder_cleanup(&keep);

    arca_kms_session_free(c);
    arca_kms_session_free(a);
    pki_free(&p);
}

/* arca_kms_set_pin: every status, the new PIN works and the old one not,
 * across a reopen; a wrong old PIN counts towards the lockout. */
static void test_set_pin(void **state)
{
    fx *f = *state;
    arca_kms_session *s, *admin, *so;
    arca_lp_record rec;
    arca_builder keep;
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    assert_int_equal(arca_kms_set_pin(f->kms, s, USER_PIN, "user-pin-2"), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_kms_session_new(f->kms, &admin), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, admin, NULL, ARCA_ROLE_ADMIN, ADMIN_PIN), ARCA_OK);
    assert_int_equal(arca_kms_set_pin(f->kms, admin, ADMIN_PIN, "admin-pin-2"), ARCA_ERR_PERMISSION);
    arca_kms_session_free(admin);

    /* User PIN of p1 (f->sess is its user). */
    assert_int_equal(arca_kms_set_pin(f->kms, f->sess, USER_PIN, "abc"), ARCA_ERR_PIN_INVALID);
    assert_int_equal(arca_kms_set_pin(f->kms, f->sess, "abc", "user-pin-2"), ARCA_ERR_PIN_INVALID);
    assert_int_equal(arca_kms_set_pin(f->kms, f->sess, "wrong-pin", "user-pin-2"), ARCA_ERR_PIN_INCORRECT);
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "PIN_CHANGE");
    assert_int_equal(rec.status, ARCA_ERR_PIN_INCORRECT);
    arca_builder_cleanup(&keep);
    assert_int_equal(arca_kms_set_pin(f->kms, f->sess, USER_PIN, "user-pin-2"), ARCA_OK);
    last_record(f, &rec, &keep);
    assert_text(&rec.event, "PIN_CHANGE");
    assert_int_equal(rec.status, ARCA_OK);
    assert_text(&rec.detail, "partition p1; user pin changed");
    arca_builder_cleanup(&keep);
    /* Still logged in; the old PIN no longer is the PIN. */
    assert_int_equal(arca_kms_session_role(f->sess), ARCA_ROLE_USER);
    assert_int_equal(arca_kms_set_pin(f->kms, f->sess, USER_PIN, "user-pin-3"), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_USER, "user-pin-2"), ARCA_OK);
    assert_int_equal(arca_kms_logout(f->kms, s), ARCA_OK);
    /* The other partition's user PIN is untouched. */
    assert_int_equal(arca_kms_login(f->kms, s, "p2", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_logout(f->kms, s), ARCA_OK);
    arca_kms_session_free(s);

    /* Survives a reopen (kms_reopen logs in with USER_PIN: do it by hand). */
    arca_kms_session_free(f->sess);
    f->sess = NULL;
    arca_kms_free(f->kms);
    f->kms = NULL;
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
    assert_int_equal(arca_kms_session_new(f->kms, &f->sess), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, f->sess, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, f->sess, "p1", ARCA_ROLE_USER, "user-pin-2"), ARCA_OK);

    /* Wrong old PINs count like failed logins: the PIN locks (persisted). */
    for (unsigned i = 0; i < ARCA_PIN_MAX_FAILURES; i++) {
        assert_int_equal(arca_kms_set_pin(f->kms, f->sess, "wrong-pin", "user-pin-3"), ARCA_ERR_PIN_INCORRECT);
    }
    assert_int_equal(arca_kms_set_pin(f->kms, f->sess, "user-pin-2", "user-pin-3"), ARCA_ERR_PIN_LOCKED);
    assert_int_equal(arca_kms_session_new(f->kms, &s), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_USER, "user-pin-2"), ARCA_ERR_PIN_LOCKED);

    /* SO PIN of p1: the SO unlocks the user PIN, then changes its own. */
    assert_int_equal(arca_kms_session_new(f->kms, &so), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, so, "p1", ARCA_ROLE_SO, SO_PIN), ARCA_OK);
    assert_int_equal(arca_kms_init_user_pin(f->kms, so, "user-pin-4"), ARCA_OK);
    assert_int_equal(arca_kms_set_pin(f->kms, so, "wrong-pin", "so-pin-2"), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_set_pin(f->kms, so, SO_PIN, "so-pin-2"), ARCA_OK);
    last_record(f, &rec, &keep);
    assert_text(&rec.detail, "partition p1; so pin changed");
    arca_builder_cleanup(&keep);
    arca_kms_session_free(so);
    assert_int_equal(arca_kms_session_new(f->kms, &so), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, so, "p1", ARCA_ROLE_SO, SO_PIN), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, so, "p1", ARCA_ROLE_SO, "so-pin-2"), ARCA_OK);
    arca_kms_session_free(so);
    /* The user PIN is the SO's reset one; a successful change resets failures. */
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_USER, "wrong-pin"), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_kms_login(f->kms, s, "p1", ARCA_ROLE_USER, "user-pin-4"), ARCA_OK);
    arca_kms_session_free(s);
}

/* CKA_VALUE_LEN of a secret key is derived from the key (not stored):
 * readable for generated keys, across a reopen; not for key pairs. */
static void test_value_len(void **state)
{
    fx *f = *state;
    arca_builder b;
    arca_object_id pub, priv;
    arca_object_id k16 = gen_aes(f, f->sess, 16, "k16");
    arca_object_id k32 = gen_aes(f, f->sess, 32, "k32");
    const uint8_t want16[4] = {0, 0, 0, 16}, want32[4] = {0, 0, 0, 32};
    assert_int_equal(arca_builder_init(&b, 16, 4096), ARCA_OK);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &k16, CKA_VALUE_LEN, &b), ARCA_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, want16, 4);
    b.len = 0;
    kms_reopen(f);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &k32, CKA_VALUE_LEN, &b), ARCA_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, want32, 4);
    b.len = 0;
    arca_attr pt[] = {A_BYTES(CKA_EC_PARAMS, P256, sizeof(P256))};
    gen_pair(f, CKM_EC_KEY_PAIR_GEN, pt, 1, &pub, &priv);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &priv, CKA_VALUE_LEN, &b), ARCA_ERR_ATTRIBUTE_TYPE);
    assert_int_equal(arca_kms_get_attribute(f->kms, f->sess, &pub, CKA_VALUE_LEN, &b), ARCA_ERR_ATTRIBUTE_TYPE);
    /* Find by it, too. */
    arca_attr q[] = {A_U32(CKA_VALUE_LEN, 32)};
    arca_object_id ids[4];
    size_t n = 0;
    assert_int_equal(arca_kms_find(f->kms, f->sess, q, 1, ids, 4, &n), ARCA_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0].b, k32.b, ARCA_OBJECT_ID_LEN);
    arca_builder_cleanup(&b);
}

/* The derivation itself: an object whose stored attributes lack
 * CKA_VALUE_LEN (as objects sealed without it) still answers it. */
static void test_value_len_derived(void **state)
{
    (void)state;
    kms_attrs attrs = {0};
    arca_key *key = NULL;
    kms_object *o = NULL;
    arca_builder b;
    const uint8_t want[4] = {0, 0, 0, 24};
    assert_int_equal(kms_attrs_set_u32(&attrs, CKA_CLASS, CKO_SECRET_KEY), ARCA_OK);
    assert_int_equal(kms_attrs_set_u32(&attrs, CKA_KEY_TYPE, CKK_AES), ARCA_OK);
    assert_null(kms_attrs_find(&attrs, CKA_VALUE_LEN));
    assert_int_equal(arca_key_generate_secret(CKK_AES, 24, &key), ARCA_OK);
    assert_int_equal(kms_object_new(1, true, &attrs, key, &o), ARCA_OK);
    assert_int_equal(arca_builder_init(&b, 16, 64), ARCA_OK);
    assert_int_equal(kms_object_attr_value(o, CKA_VALUE_LEN, &b), ARCA_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, want, 4);
    arca_builder_cleanup(&b);
    kms_object_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appliance_and_pins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_logged_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_len, setup, teardown),
        cmocka_unit_test(test_value_len_derived),
        cmocka_unit_test_setup_teardown(test_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_key_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_and_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partition_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bogus_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_scale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allowed_mechanisms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_bootstrap_and_initialise, setup_fresh, teardown),
        cmocka_unit_test_setup_teardown(test_identity_no_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_roles, setup_fresh, teardown),
        cmocka_unit_test_setup_teardown(test_identity_lockout, setup_fresh, teardown),
        cmocka_unit_test_setup_teardown(test_attest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_dispatch, setup_fresh, teardown),
        cmocka_unit_test_setup_teardown(test_key_permissions, setup_fresh, teardown),
        cmocka_unit_test_setup_teardown(test_public_access, setup_fresh, teardown),
        cmocka_unit_test_setup_teardown(test_whoami_lifecycle_dispatch, setup_fresh, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
