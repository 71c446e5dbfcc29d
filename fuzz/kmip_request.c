/* libFuzzer target: arca_kmip_handle on arbitrary bytes, the KMIP request
 * handler (TTLV decode, header, batch, dispatch, every operation's payload
 * parser) that every network client reaches.
 *
 * A real keystore is opened once: dev sealing (fixed seed, fuzz_fixtures.h),
 * LMDB in a temporary directory, initialised, partition "p1", one session
 * logged in as its user, and three keys so that operations on existing
 * objects do something: AES-256 "fuzz-aes" (encrypt/decrypt), an EC P-256
 * pair "fuzz-ec" (sign/verify) and a generic secret "fuzz-hmac"
 * (sign/verify). Object ids are random, so the seeds reach them with Locate
 * by name and the ID Placeholder in a batch.
 *
 * Input: one Request Message, handed to the handler as is, with a heap
 * builder capped at 1 MiB. Checks: ARCA_OK gives exactly one TTLV item
 * that is a Response Message with a Response Header, a Protocol Version,
 * a Batch Count equal to its number of Batch Items (at least one), each
 * with a Result Status; any other return is ARCA_ERR_NOMEM or
 * ARCA_ERR_TOO_LARGE (the builder cap), the only "no response could be
 * built" cases kmip_server.h names besides ARCA_ERR_ARGS, which cannot
 * happen here.
 *
 * Bounded state: KMIP creates token objects only (the handler has no way
 * to ask for session objects), so inputs that Create, Register, Re-key or
 * Derive grow the store, and the audit chain grows with every operation.
 * The whole keystore (store, sealing, kms, session) is therefore thrown
 * away and opened fresh every REOPEN_EVERY inputs. Within one such window
 * an input may depend on earlier ones (a Destroy of "fuzz-aes" hides it
 * from later Locates); a crash that does not reproduce alone should be
 * replayed with its neighbours from the same run.
 *
 * Leaks: libFuzzer's per-input leak check is kept (a leak a client can
 * trigger is a finding), but the keystore keeps its unsealed objects in
 * secret memory (secmem.c: mmap'd chunks) and LeakSanitizer does not scan
 * mappings, so a cached key's heap parts looked leaked while the cache
 * still pointed at them. The secret-memory mappings are therefore
 * registered as LSan root regions (register_secmem_roots). */
#include "kmip_server.h" /* first: p11-kit's macros, see kmip_server.h */

#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/kms.h"
#include "arca/log.h"
#include "arca/secret.h"
#include "arca/ttlv.h"
#include "fuzz_fixtures.h"
#include "store_lmdb.h"

#define REOPEN_EVERY 4000u
#define RESP_CAP (1u << 20)
#define USER_PIN "fuzz-user-pin"

typedef struct keystore {
    char dir[32];
    arca_sealing *sealing;
    arca_store_lmdb *lmdb;
    arca_kms *kms;
    arca_kms_session *sess;
} keystore;

static keystore g_ks;
static unsigned g_runs;

static const uint8_t P256_OID[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t TRUE_BYTE = 1;

/* Big-endian u32 attribute values, as the keystore reads them. */
static const uint8_t LEN_32[4] = {0, 0, 0, 32};

#define A_STR(t, s) {(t), (const uint8_t *)(s), sizeof(s) - 1}
#define A_TRUE(t) {(t), &TRUE_BYTE, 1}

/* Open everything (aborts on failure: a broken fixture, not a finding). */
static void keystore_open(keystore *ks)
{
    arca_kms_config cfg = {.cache_bytes = 0, .pin_hash_cost = 10};
    arca_kms_session *admin = NULL;
    arca_object_id id, pub, priv;
    char path[64];

    memset(ks, 0, sizeof *ks);
    snprintf(ks->dir, sizeof ks->dir, "/tmp/arca-fuzz-kmip-XXXXXX");
    CHECK(mkdtemp(ks->dir) != NULL);
    ks->sealing = fuzz_open_dev_sealing(FUZZ_SVN);
    snprintf(path, sizeof path, "%s/store", ks->dir);
    CHECK(arca_store_lmdb_open(path, 256u << 20, ARCA_STORE_LMDB_CREATE, &ks->lmdb) == ARCA_OK);
    CHECK(arca_kms_open(&cfg, ks->sealing, arca_store_lmdb_ops(ks->lmdb), &ks->kms) == ARCA_OK);
    CHECK(arca_kms_session_new(ks->kms, &admin) == ARCA_OK);
    CHECK(arca_kms_initialise(ks->kms, admin, "fuzz-admin-pin") == ARCA_OK);
    CHECK(arca_kms_partition_create(ks->kms, admin, "p1", "fuzz-so-pin", USER_PIN) == ARCA_OK);
    arca_kms_session_free(admin);
    CHECK(arca_kms_session_new(ks->kms, &ks->sess) == ARCA_OK);
    CHECK(arca_kms_login(ks->kms, ks->sess, "p1", ARCA_ROLE_USER, USER_PIN) == ARCA_OK);

    arca_attr aes[] = {{CKA_VALUE_LEN, LEN_32, 4}, A_STR(CKA_LABEL, "fuzz-aes"), A_TRUE(CKA_ENCRYPT),
                       A_TRUE(CKA_DECRYPT)};
    CHECK(arca_kms_generate_key(ks->kms, ks->sess, CKM_AES_KEY_GEN, aes, 4, &id) == ARCA_OK);
    arca_attr hmac[] = {{CKA_VALUE_LEN, LEN_32, 4}, A_STR(CKA_LABEL, "fuzz-hmac"), A_TRUE(CKA_SIGN),
                        A_TRUE(CKA_VERIFY)};
    CHECK(arca_kms_generate_key(ks->kms, ks->sess, CKM_GENERIC_SECRET_KEY_GEN, hmac, 4, &id) == ARCA_OK);
    arca_attr ec_pub[] = {{CKA_EC_PARAMS, P256_OID, sizeof P256_OID}, A_STR(CKA_LABEL, "fuzz-ec"),
                          A_TRUE(CKA_VERIFY)};
    arca_attr ec_priv[] = {A_STR(CKA_LABEL, "fuzz-ec"), A_TRUE(CKA_SIGN)};
    CHECK(arca_kms_generate_key_pair(ks->kms, ks->sess, CKM_EC_KEY_PAIR_GEN, ec_pub, 3, ec_priv, 2, &pub, &priv) ==
          ARCA_OK);
}

/* Register every secret-memory mapping not registered yet as an LSan root
 * region: walk the process's mappings (skipping huge ones: sanitizer
 * shadow) page by page and take the runs arca_secmem_owns. Adjacent
 * mappings may have been merged by the kernel, hence per page. Runs only
 * when secret memory in use exceeds what it was at the last walk (new
 * chunks are mapped only then); mappings freed since stay registered,
 * which LSan tolerates (it scans only what is mapped). */
static void register_secmem_roots(void)
{
    static uintptr_t done[4096][2];
    static size_t num_done;
    static size_t high;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t in_use = arca_secmem_in_use();
    char line[512];

    if (in_use <= high) return;
    high = in_use;
    FILE *maps = fopen("/proc/self/maps", "r");
    CHECK(maps != NULL);
    while (fgets(line, sizeof line, maps) != NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w') continue;
        if (hi - lo > (256ul << 20)) continue;
        for (uintptr_t p = lo; p < hi;) {
            if (!arca_secmem_owns((const void *)p)) {
                p += page;
                continue;
            }
            uintptr_t start = p;
            while (p < hi && arca_secmem_owns((const void *)p)) p += page;
            bool seen = false;
            for (size_t i = 0; i < num_done && !seen; i++) seen = done[i][0] == start && done[i][1] == p;
            if (seen || num_done == sizeof done / sizeof done[0]) continue;
            done[num_done][0] = start;
            done[num_done][1] = p;
            num_done++;
            __lsan_register_root_region((const void *)start, p - start);
        }
    }
    fclose(maps);
}

static void keystore_close(keystore *ks)
{
    char path[64];
    arca_kms_session_free(ks->sess);
    arca_kms_free(ks->kms);
    arca_store_lmdb_close(ks->lmdb);
    arca_sealing_free(ks->sealing);
    snprintf(path, sizeof path, "%s/store", ks->dir);
    fuzz_remove_dir(path);
    fuzz_remove_dir(ks->dir);
    memset(ks, 0, sizeof *ks);
}

static void at_exit_close(void)
{
    if (g_ks.kms != NULL) keystore_close(&g_ks);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The keystore logs and audits every operation: format it all (that
     * code runs too), but into /dev/null. */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(devnull >= 0);
    arca_log_set_fd(devnull);
    keystore_open(&g_ks);
    register_secmem_roots();
    CHECK(atexit(at_exit_close) == 0);
    return 0;
}

/* The response: one TTLV item, a Response Message whose Batch Count is
 * its number of Batch Items. */
static void check_response(const uint8_t *resp, size_t len)
{
    const arca_ttlv_limits lim = {RESP_CAP, ARCA_TTLV_LIMIT_MAX_DEPTH, ARCA_TTLV_LIMIT_MAX_NODES};
    arca_ttlv_tree *tree = NULL;
    arca_cursor c;
    const arca_ttlv_node *root, *h, *pv;
    int32_t count = -1, major, minor;

    arca_cursor_init(&c, resp, len);
    CHECK(arca_ttlv_decode(&c, &lim, &tree) == ARCA_OK);
    root = arca_ttlv_root(tree);
    CHECK(root->tag == ARCA_KMIP_TAG_RESPONSE_MESSAGE && root->type == ARCA_TTLV_STRUCTURE);
    CHECK(arca_ttlv_child(root, ARCA_KMIP_TAG_RESPONSE_HEADER, ARCA_TTLV_STRUCTURE, &h) == ARCA_OK);
    CHECK(arca_ttlv_child(h, ARCA_KMIP_TAG_PROTOCOL_VERSION, ARCA_TTLV_STRUCTURE, &pv) == ARCA_OK);
    CHECK(arca_ttlv_child_int(pv, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, &major) == ARCA_OK);
    CHECK(arca_ttlv_child_int(pv, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, &minor) == ARCA_OK);
    CHECK(arca_ttlv_child_int(h, ARCA_KMIP_TAG_BATCH_COUNT, &count) == ARCA_OK);
    CHECK(count >= 1 && (size_t)count == arca_ttlv_count(root, ARCA_KMIP_TAG_BATCH_ITEM));
    for (const arca_ttlv_node *it = arca_ttlv_find(root, ARCA_KMIP_TAG_BATCH_ITEM); it != NULL;
         it = arca_ttlv_find_next(it)) {
        uint32_t status;
        CHECK(it->type == ARCA_TTLV_STRUCTURE);
        CHECK(arca_ttlv_child_enum(it, ARCA_KMIP_TAG_RESULT_STATUS, &status) == ARCA_OK);
    }
    arca_ttlv_free(tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const uint8_t empty[1];
    arca_builder resp;
    uint8_t *out = NULL;
    size_t out_len = 0;

    if (++g_runs % REOPEN_EVERY == 0) {
        keystore_close(&g_ks);
        keystore_open(&g_ks);
        register_secmem_roots();
    }
    CHECK(arca_builder_init(&resp, 1024, RESP_CAP) == ARCA_OK);
    arca_status st = arca_kmip_handle(g_ks.kms, g_ks.sess, len ? data : empty, len, &resp);
    register_secmem_roots();
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_NOMEM || st == ARCA_ERR_TOO_LARGE);
        arca_builder_cleanup(&resp);
        return 0;
    }
    CHECK(arca_builder_finish(&resp, &out, &out_len) == ARCA_OK);
    check_response(out, out_len);
    free(out);
    /* The session keeps its login: nothing in KMIP logs it out. */
    CHECK(arca_kms_session_role(g_ks.sess) == ARCA_ROLE_USER);
    return 0;
}
