/* Unit tests for sealing/: the dev backend, the blob format, key
 * derivation, the counter and evidence. Each test gets its own state dir
 * under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "arca/log.h"
#include "arca/sealing.h"
#include "arca/secret.h"

/* Header field offsets (see sealing.h). */
enum {
    OFF_MAGIC = 0,
    OFF_FORMAT = 4,
    OFF_ALG = 6,
    OFF_KEYGEN = 8,
    OFF_SVN = 12,
    OFF_RESERVED = 14,
    OFF_FLAGS = 16,
    OFF_OBJID = 20,
    OFF_VERSION = 36,
    OFF_PURPOSE = 44,
    OFF_PTLEN = 46,
    OFF_IV = 50,
};

typedef struct fixture {
    char dir[64];
    char log_path[96];
    int log_fd;
    arca_sealing_config cfg;
    arca_enclave_identity id;
} fixture;

static const uint8_t k_aad[] = "partition-0001";
static const uint8_t k_pt[] = "a secret key object, serialised";

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void make_identity(arca_enclave_identity *id, uint8_t signer_byte, uint16_t product, uint16_t svn)
{
    memset(id, 0, sizeof *id);
    memset(id->measurement, 0xA5, sizeof id->measurement);
    memset(id->signer_id, signer_byte, sizeof id->signer_id);
    id->product_id = product;
    id->svn = svn;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/arca-test-sealing-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->log_path, sizeof f->log_path, "/tmp/arca-test-sealing-log-%d", (int)getpid());
    f->log_fd = open(f->log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(f->log_fd >= 0);
    arca_log_set_fd(f->log_fd);
    f->cfg.mode = "dev";
    f->cfg.state_dir = f->dir;
    make_identity(&f->id, 0x11, 7, 5);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    arca_log_set_fd(2);
    close(f->log_fd);
    unlink(f->log_path);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Everything logged since setup, NUL-terminated (static buffer). */
static const char *log_text(fixture *f)
{
    static char buf[16384];
    ssize_t n = pread(f->log_fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void path_in(fixture *f, const char *name, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s/%s", f->dir, name);
}

static arca_sealing *open_as(fixture *f, const arca_enclave_identity *id)
{
    arca_sealing *s = NULL;
    assert_int_equal(arca_sealing_open(&f->cfg, id, &s), ARCA_OK);
    assert_non_null(s);
    return s;
}

static void meta_for(arca_blob_meta *m, uint8_t id_byte, uint16_t purpose)
{
    memset(m, 0, sizeof *m);
    memset(m->object_id, id_byte, sizeof m->object_id);
    m->object_version = 42;
    m->purpose = purpose;
}

static void seal_one(arca_sealing *s, const arca_blob_meta *m, uint8_t **blob, size_t *len)
{
    assert_int_equal(arca_sealing_seal(s, m, k_aad, sizeof k_aad, k_pt, sizeof k_pt, blob, len), ARCA_OK);
}

static arca_status unseal_one(arca_sealing *s, const arca_blob_meta *expect, const uint8_t *blob, size_t len)
{
    arca_secret pt = {0};
    arca_blob_meta out;
    arca_status st = arca_sealing_unseal(s, expect, k_aad, sizeof k_aad, blob, len, &out, &pt);
    if (st == ARCA_OK) {
        assert_int_equal(pt.len, sizeof k_pt);
        assert_memory_equal(pt.data, k_pt, sizeof k_pt);
    } else {
        assert_null(pt.data);
    }
    arca_secret_free(&pt);
    return st;
}

static void test_roundtrip(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    assert_string_equal(arca_sealing_mode(s), "dev");
    assert_true(arca_sealing_is_insecure(s));
    assert_non_null(strstr(log_text(f), "INSECURE"));

    arca_blob_meta m, out;
    meta_for(&m, 0x01, ARCA_SEAL_OBJECT);
    uint8_t *blob = NULL, *blob2 = NULL;
    size_t len = 0, len2 = 0;
    seal_one(s, &m, &blob, &len);
    assert_int_equal(len, ARCA_SEALED_OVERHEAD + sizeof k_pt);
    assert_memory_equal(blob, "ASB1", 4);
    /* The plaintext does not appear in the blob. */
    assert_null(memmem(blob, len, k_pt, 8));
    /* A fresh IV each time. */
    seal_one(s, &m, &blob2, &len2);
    assert_int_equal(len, len2);
    assert_memory_not_equal(blob + OFF_IV, blob2 + OFF_IV, 12);

    arca_secret pt = {0};
    assert_int_equal(arca_sealing_unseal(s, &m, k_aad, sizeof k_aad, blob, len, &out, &pt), ARCA_OK);
    assert_int_equal(pt.len, sizeof k_pt);
    assert_memory_equal(pt.data, k_pt, sizeof k_pt);
    assert_true(arca_secmem_owns(pt.data));
    assert_memory_equal(out.object_id, m.object_id, ARCA_OBJECT_ID_LEN);
    assert_int_equal(out.object_version, 42);
    assert_int_equal(out.purpose, ARCA_SEAL_OBJECT);
    assert_int_equal(out.svn, 5);
    assert_int_equal(out.key_generation, 1);
    arca_secret_free(&pt);
    assert_int_equal(unseal_one(s, &m, blob2, len2), ARCA_OK);

    /* A reopened handle (same identity) reads it too. */
    arca_sealing_free(s);
    s = open_as(f, &f->id);
    assert_int_equal(unseal_one(s, &m, blob, len), ARCA_OK);
    /* Empty caller AAD works when used on both sides. */
    free(blob);
    assert_int_equal(arca_sealing_seal(s, &m, NULL, 0, k_pt, sizeof k_pt, &blob, &len), ARCA_OK);
    assert_int_equal(arca_sealing_unseal(s, &m, NULL, 0, blob, len, NULL, &pt), ARCA_OK);
    arca_secret_free(&pt);

    free(blob);
    free(blob2);
    arca_sealing_free(s);
    /* Nothing logged contains the plaintext. */
    assert_null(strstr(log_text(f), (const char *)k_pt));
}

static void test_seal_args(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    arca_blob_meta m;
    uint8_t *blob = NULL;
    size_t len = 0;
    meta_for(&m, 1, ARCA_SEAL_STATE);
    assert_int_equal(arca_sealing_seal(s, &m, NULL, 0, k_pt, 0, &blob, &len), ARCA_ERR_ARGS);
    uint8_t *big = calloc(1, ARCA_SEALED_MAX_PLAINTEXT + 1);
    assert_non_null(big);
    assert_int_equal(arca_sealing_seal(s, &m, NULL, 0, big, ARCA_SEALED_MAX_PLAINTEXT + 1, &blob, &len),
                     ARCA_ERR_TOO_LARGE);
    /* The maximum itself is fine. */
    assert_int_equal(arca_sealing_seal(s, &m, NULL, 0, big, ARCA_SEALED_MAX_PLAINTEXT, &blob, &len), ARCA_OK);
    free(blob);
    blob = NULL;
    free(big);
    m.purpose = 99;
    assert_int_equal(arca_sealing_seal(s, &m, NULL, 0, k_pt, sizeof k_pt, &blob, &len), ARCA_ERR_ARGS);
    m.purpose = 0;
    assert_int_equal(arca_sealing_seal(s, &m, NULL, 0, k_pt, sizeof k_pt, &blob, &len), ARCA_ERR_ARGS);
    assert_null(blob);
    arca_sealing_free(s);
}

static arca_status tampered(arca_sealing *s, const arca_blob_meta *m, const uint8_t *blob, size_t len, size_t off,
                            uint8_t xor_mask)
{
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, blob, len);
    copy[off] ^= xor_mask;
    arca_status st = unseal_one(s, m, copy, len);
    free(copy);
    return st;
}

static void test_tamper_header(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id); /* svn 5 */
    arca_blob_meta m;
    uint8_t *blob = NULL;
    size_t len = 0;
    meta_for(&m, 0x33, ARCA_SEAL_OBJECT);
    seal_one(s, &m, &blob, &len);

    for (size_t off = 0; off < ARCA_SEALED_HEADER_LEN; off++) {
        arca_status want;
        if (off < OFF_KEYGEN) want = ARCA_ERR_DECODE;                    /* magic, format, alg */
        else if (off < OFF_KEYGEN + 3) want = ARCA_ERR_INTEGRITY;        /* generation we lack */
        else if (off == OFF_KEYGEN + 3) want = ARCA_ERR_DECODE;          /* generation 0 */
        else if (off == OFF_SVN) want = ARCA_ERR_SVN;                     /* 0x0105 > 5 */
        else if (off == OFF_SVN + 1) want = ARCA_ERR_INTEGRITY;           /* 4: other key */
        else if (off < OFF_OBJID) want = ARCA_ERR_DECODE;                 /* reserved, flags */
        else if (off < OFF_PTLEN) want = ARCA_ERR_INTEGRITY;              /* id, version, purpose */
        else if (off < OFF_IV) want = ARCA_ERR_DECODE;                    /* length disagrees */
        else want = ARCA_ERR_INTEGRITY;                                   /* iv */
        arca_status got = tampered(s, &m, blob, len, off, 0x01);
        if (got != want) fail_msg("header byte %zu: got %d want %d", off, (int)got, (int)want);
    }
    /* Untouched still works. */
    assert_int_equal(unseal_one(s, &m, blob, len), ARCA_OK);
    free(blob);
    arca_sealing_free(s);
}

static void test_tamper_body(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    arca_blob_meta m;
    uint8_t *blob = NULL;
    size_t len = 0;
    meta_for(&m, 0x44, ARCA_SEAL_OBJECT);
    seal_one(s, &m, &blob, &len);
    for (size_t off = ARCA_SEALED_HEADER_LEN; off < len; off++) {
        arca_status got = tampered(s, &m, blob, len, off, 0x80);
        if (got != ARCA_ERR_INTEGRITY) fail_msg("body byte %zu: got %d", off, (int)got);
    }
    free(blob);
    arca_sealing_free(s);
}

static void test_truncated_and_extended(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    arca_blob_meta m;
    uint8_t *blob = NULL;
    size_t len = 0;
    meta_for(&m, 0x55, ARCA_SEAL_OBJECT);
    seal_one(s, &m, &blob, &len);
    for (size_t n = 0; n < len; n++) assert_int_equal(unseal_one(s, &m, blob, n), ARCA_ERR_DECODE);
    uint8_t *longer = calloc(1, len + 1);
    assert_non_null(longer);
    memcpy(longer, blob, len);
    assert_int_equal(unseal_one(s, &m, longer, len + 1), ARCA_ERR_DECODE);
    /* A header that claims more than the cap. */
    memcpy(longer, blob, len);
    longer[OFF_PTLEN] = 0x7f;
    assert_int_equal(unseal_one(s, &m, longer, len), ARCA_ERR_DECODE);
    free(longer);
    free(blob);
    arca_sealing_free(s);
}

static void test_swapped_object_and_purpose(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    arca_blob_meta a, b;
    uint8_t *blob_a = NULL, *blob_b = NULL;
    size_t len_a = 0, len_b = 0;
    meta_for(&a, 0xAA, ARCA_SEAL_OBJECT);
    meta_for(&b, 0xBB, ARCA_SEAL_OBJECT);
    seal_one(s, &a, &blob_a, &len_a);
    seal_one(s, &b, &blob_b, &len_b);
    /* The host hands back B's blob when asked for A. */
    assert_int_equal(unseal_one(s, &a, blob_b, len_b), ARCA_ERR_INTEGRITY);
    assert_int_equal(unseal_one(s, &b, blob_a, len_a), ARCA_ERR_INTEGRITY);
    /* Right object, wrong purpose. */
    arca_blob_meta state_a = a;
    state_a.purpose = ARCA_SEAL_STATE;
    assert_int_equal(unseal_one(s, &state_a, blob_a, len_a), ARCA_ERR_INTEGRITY);
    /* B's header grafted onto A's body. */
    memcpy(blob_a, blob_b, ARCA_SEALED_HEADER_LEN);
    assert_int_equal(unseal_one(s, &b, blob_a, len_a), ARCA_ERR_INTEGRITY);
    free(blob_a);
    free(blob_b);
    arca_sealing_free(s);
}

static void test_wrong_aad(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    arca_blob_meta m;
    uint8_t *blob = NULL;
    size_t len = 0;
    arca_secret pt = {0};
    meta_for(&m, 0x66, ARCA_SEAL_OBJECT);
    seal_one(s, &m, &blob, &len);
    static const uint8_t other[] = "partition-0002";
    assert_int_equal(arca_sealing_unseal(s, &m, other, sizeof other, blob, len, NULL, &pt), ARCA_ERR_INTEGRITY);
    assert_int_equal(arca_sealing_unseal(s, &m, NULL, 0, blob, len, NULL, &pt), ARCA_ERR_INTEGRITY);
    assert_int_equal(arca_sealing_unseal(s, &m, k_aad, sizeof k_aad - 1, blob, len, NULL, &pt), ARCA_ERR_INTEGRITY);
    assert_null(pt.data);
    free(blob);
    arca_sealing_free(s);
}

static void test_other_signer_or_product(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    arca_blob_meta m;
    uint8_t *blob = NULL;
    size_t len = 0;
    meta_for(&m, 0x77, ARCA_SEAL_OBJECT);
    seal_one(s, &m, &blob, &len);

    arca_enclave_identity other;
    make_identity(&other, 0x22, 7, 5);
    arca_sealing *s2 = open_as(f, &other);
    assert_int_equal(unseal_one(s2, &m, blob, len), ARCA_ERR_INTEGRITY);
    arca_sealing_free(s2);

    make_identity(&other, 0x11, 8, 5);
    s2 = open_as(f, &other);
    assert_int_equal(unseal_one(s2, &m, blob, len), ARCA_ERR_INTEGRITY);
    arca_sealing_free(s2);

    /* The measurement is not part of the sealing identity (MRSIGNER-like):
     * a rebuilt image from the same signer/product/svn can read it. */
    make_identity(&other, 0x11, 7, 5);
    memset(other.measurement, 0x5A, sizeof other.measurement);
    s2 = open_as(f, &other);
    assert_int_equal(unseal_one(s2, &m, blob, len), ARCA_OK);
    arca_sealing_free(s2);

    /* A debug-signed image of the same signer, product and SVN cannot read
     * what a production image sealed. */
    make_identity(&other, 0x11, 7, 5);
    other.debug = true;
    s2 = open_as(f, &other);
    assert_int_equal(unseal_one(s2, &m, blob, len), ARCA_ERR_INTEGRITY);
    arca_sealing_free(s2);

    free(blob);
    arca_sealing_free(s);
}

static void test_svn(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s5 = open_as(f, &f->id);
    arca_enclave_identity id4, id6;
    make_identity(&id4, 0x11, 7, 4);
    make_identity(&id6, 0x11, 7, 6);
    arca_sealing *s4 = open_as(f, &id4);
    arca_sealing *s6 = open_as(f, &id6);
    arca_blob_meta m, out;
    uint8_t *blob5 = NULL, *blob6 = NULL;
    size_t len5 = 0, len6 = 0;
    arca_secret pt = {0};
    meta_for(&m, 0x88, ARCA_SEAL_STATE);
    seal_one(s5, &m, &blob5, &len5);
    seal_one(s6, &m, &blob6, &len6);

    /* A downgrade cannot read what a newer version sealed. */
    assert_int_equal(unseal_one(s4, &m, blob5, len5), ARCA_ERR_SVN);
    assert_int_equal(unseal_one(s5, &m, blob6, len6), ARCA_ERR_SVN);
    assert_non_null(strstr(log_text(f), "SVN 6"));
    /* An upgrade reads older blobs and reports the blob's svn. */
    assert_int_equal(arca_sealing_unseal(s6, &m, k_aad, sizeof k_aad, blob5, len5, &out, &pt), ARCA_OK);
    assert_int_equal(out.svn, 5);
    assert_memory_equal(pt.data, k_pt, sizeof k_pt);
    arca_secret_free(&pt);
    assert_int_equal(unseal_one(s6, &m, blob6, len6), ARCA_OK);
    /* And reseals at its own svn. */
    free(blob5);
    seal_one(s6, &m, &blob5, &len5);
    assert_int_equal(blob5[OFF_SVN + 1], 6);
    free(blob5);
    free(blob6);
    arca_sealing_free(s4);
    arca_sealing_free(s5);
    arca_sealing_free(s6);
}

static arca_status open_status(fixture *f)
{
    arca_sealing *s = NULL;
    arca_status st = arca_sealing_open(&f->cfg, &f->id, &s);
    if (st == ARCA_OK) assert_non_null(s);
    else assert_null(s);
    arca_sealing_free(s);
    return st;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_seed_problems(void **state)
{
    fixture *f = *state;
    char seed[128], moved[128];
    uint8_t buf[64] = {0};
    path_in(f, "dev-seed", seed, sizeof seed);
    path_in(f, "seed.bak", moved, sizeof moved);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    struct stat sb;
    assert_int_equal(stat(seed, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size, 32);
    assert_int_equal(open_status(f), ARCA_OK);

    /* Missing. */
    assert_int_equal(rename(seed, moved), 0);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "dev-seed: missing"));
    /* Wrong size: short and long. */
    write_file(seed, buf, 31, 0600);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "dev-seed: wrong size 31"));
    write_file(seed, buf, 33, 0600);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    write_file(seed, buf, 0, 0600);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    unlink(seed);
    /* Group/other readable. */
    assert_int_equal(rename(moved, seed), 0);
    assert_int_equal(chmod(seed, 0644), 0);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "mode 0644"));
    assert_int_equal(chmod(seed, 0640), 0);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    assert_int_equal(chmod(seed, 0600), 0);
    assert_int_equal(open_status(f), ARCA_OK);
    /* A symbolic link is refused, even to a good file. */
    assert_int_equal(rename(seed, moved), 0);
    assert_int_equal(symlink(moved, seed), 0);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "symbolic link"));
    unlink(seed);
    /* A directory. */
    assert_int_equal(mkdir(seed, 0700), 0);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "not a regular file"));
    rmdir(seed);
    assert_int_equal(rename(moved, seed), 0);
    assert_int_equal(open_status(f), ARCA_OK);

    /* The state directory itself is missing. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope", f->dir);
    f->cfg.state_dir = missing;
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    f->cfg.state_dir = f->dir;
}

static void test_counter_file_problems(void **state)
{
    fixture *f = *state;
    char ctr[128], moved[128];
    path_in(f, "dev-counter", ctr, sizeof ctr);
    path_in(f, "ctr.bak", moved, sizeof moved);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    assert_int_equal(rename(ctr, moved), 0);
    assert_int_equal(open_status(f), ARCA_ERR_IO);
    assert_non_null(strstr(log_text(f), "dev-counter"));
    uint8_t buf[9] = {0};
    write_file(ctr, buf, 7, 0600);
    assert_int_equal(open_status(f), ARCA_ERR_DECODE);
    write_file(ctr, buf, 9, 0600);
    assert_int_equal(open_status(f), ARCA_ERR_DECODE);
    unlink(ctr);
    assert_int_equal(symlink(moved, ctr), 0); /* a link to a good file */
    assert_int_equal(open_status(f), ARCA_ERR_IO);
    unlink(ctr);
    assert_int_equal(mkdir(ctr, 0700), 0);
    assert_int_equal(open_status(f), ARCA_ERR_IO);
    rmdir(ctr);
    assert_int_equal(rename(moved, ctr), 0);
    assert_int_equal(open_status(f), ARCA_OK);

    /* The attestation key must be private too, and a key. */
    char key[128];
    path_in(f, "dev-attest.pem", key, sizeof key);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(open_status(f), ARCA_ERR_SEED);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(rename(key, moved), 0);
    write_file(key, "not a key\n", 10, 0600);
    assert_int_equal(open_status(f), ARCA_ERR_DECODE);
    assert_int_equal(rename(moved, key), 0);
    assert_int_equal(open_status(f), ARCA_OK);
}

static void test_initialise_twice(void **state)
{
    fixture *f = *state;
    char seed[128];
    uint8_t before[32], after[32];
    path_in(f, "dev-seed", seed, sizeof seed);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    int fd = open(seed, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, before, 32), 32);
    close(fd);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_EXISTS);
    fd = open(seed, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, after, 32), 32);
    close(fd);
    assert_memory_equal(before, after, 32);
    /* Files are 0600. */
    const char *names[] = {"dev-counter", "dev-attest.pem"};
    for (size_t i = 0; i < 2; i++) {
        char p[128];
        struct stat sb;
        path_in(f, names[i], p, sizeof p);
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0600);
    }
    assert_int_equal(open_status(f), ARCA_OK);

    /* A state dir that does not exist yet is created. */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/new", f->dir);
    f->cfg.state_dir = sub;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    assert_int_equal(open_status(f), ARCA_OK);
    f->cfg.state_dir = f->dir;
}

static void test_modes(void **state)
{
    fixture *f = *state;
    arca_sealing *s = NULL;
    f->cfg.mode = "tpm"; /* no TCTI configured (the backend: test_sealing_tpm.c) */
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    assert_null(s);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_CONFIG);
    assert_non_null(strstr(log_text(f), "no TCTI configured"));
    f->cfg.mode = "sgx";
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_CONFIG);
    f->cfg.mode = NULL;
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    f->cfg.mode = "dev";
    f->cfg.state_dir = NULL;
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    f->cfg.state_dir = f->dir;
    assert_null(s);
}

static void test_counter_persists(void **state)
{
    fixture *f = *state;
    uint64_t v = 99;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    assert_int_equal(arca_sealing_counter_read(s, &v), ARCA_OK);
    assert_int_equal(v, 0);
    assert_int_equal(arca_sealing_counter_increment(s, &v), ARCA_OK);
    assert_int_equal(v, 1);
    assert_int_equal(arca_sealing_counter_increment(s, &v), ARCA_OK);
    assert_int_equal(v, 2);
    assert_int_equal(arca_sealing_counter_read(s, &v), ARCA_OK);
    assert_int_equal(v, 2);
    arca_sealing_free(s);

    s = open_as(f, &f->id);
    assert_int_equal(arca_sealing_counter_read(s, &v), ARCA_OK);
    assert_int_equal(v, 2);
    /* The increment goes through the fd opened at start-up: it still works
     * after the file's directory entry is gone (as after a sandbox). */
    char ctr[128], moved[128];
    path_in(f, "dev-counter", ctr, sizeof ctr);
    path_in(f, "ctr.moved", moved, sizeof moved);
    assert_int_equal(rename(ctr, moved), 0);
    assert_int_equal(arca_sealing_counter_increment(s, &v), ARCA_OK);
    assert_int_equal(v, 3);
    arca_sealing_free(s);
    assert_int_equal(rename(moved, ctr), 0);
    /* Big-endian on disk. */
    uint8_t raw[8];
    int fd = open(ctr, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, raw, 8), 8);
    close(fd);
    const uint8_t want[8] = {0, 0, 0, 0, 0, 0, 0, 3};
    assert_memory_equal(raw, want, 8);
    /* Near the top the counter refuses to wrap. */
    const uint8_t top[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    write_file(ctr, top, 8, 0600);
    s = open_as(f, &f->id);
    assert_int_equal(arca_sealing_counter_increment(s, &v), ARCA_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(arca_sealing_counter_increment(s, &v), ARCA_ERR_INTERNAL);
    assert_true(v == UINT64_MAX);
    arca_sealing_free(s);
}

static void test_derive_key(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    arca_sealing *s = open_as(f, &f->id);
    arca_secret a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    assert_int_equal(arca_sealing_derive_key(s, "blind-index", &a), ARCA_OK);
    assert_int_equal(a.len, 32);
    assert_true(arca_secmem_owns(a.data));
    assert_int_equal(arca_sealing_derive_key(s, "audit-mac", &b), ARCA_OK);
    assert_memory_not_equal(a.data, b.data, 32);
    arca_sealing_free(s);

    /* Stable across reopen and SVN upgrade; differs for another signer. */
    arca_enclave_identity up, other;
    make_identity(&up, 0x11, 7, 9);
    make_identity(&other, 0x12, 7, 5);
    s = open_as(f, &up);
    assert_int_equal(arca_sealing_derive_key(s, "blind-index", &c), ARCA_OK);
    assert_memory_equal(a.data, c.data, 32);
    assert_int_equal(arca_sealing_derive_key(s, "", &e), ARCA_ERR_ARGS);
    char longp[200];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(arca_sealing_derive_key(s, longp, &e), ARCA_ERR_ARGS);
    assert_null(e.data);
    arca_sealing_free(s);
    s = open_as(f, &other);
    assert_int_equal(arca_sealing_derive_key(s, "blind-index", &d), ARCA_OK);
    assert_memory_not_equal(a.data, d.data, 32);
    arca_sealing_free(s);
    arca_secret_free(&a);
    arca_secret_free(&b);
    arca_secret_free(&c);
    arca_secret_free(&d);
}

/* SHA-256 of the dev attestation key's SPKI, read from the state dir. */
static void attester_id(fixture *f, uint8_t out[32])
{
    char p[128];
    path_in(f, "dev-attest.pem", p, sizeof p);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest(der, (size_t)n, out, &hl, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}

static void test_evidence(void **state)
{
    fixture *f = *state;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    f->id.debug = true;
    arca_sealing *s = open_as(f, &f->id);
    uint8_t rd[ARCA_REPORT_DATA_LEN], other_rd[ARCA_REPORT_DATA_LEN];
    for (size_t i = 0; i < sizeof rd; i++) rd[i] = (uint8_t)i;
    memcpy(other_rd, rd, sizeof rd);
    other_rd[63] ^= 1;
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    arca_evidence_claims claims;
    uint8_t want_attester[32];
    attester_id(f, want_attester);

    assert_int_equal(arca_sealing_evidence_create(s, rd, &ev, &ev_len), ARCA_OK);
    assert_memory_equal(ev, "ARCAEVD1", 8);
    memset(&claims, 0, sizeof claims);
    assert_int_equal(arca_evidence_verify(ev, ev_len, rd, &claims), ARCA_OK);
    assert_true(claims.insecure_dev);
    assert_memory_equal(claims.identity.measurement, f->id.measurement, 32);
    assert_memory_equal(claims.identity.signer_id, f->id.signer_id, 32);
    assert_int_equal(claims.identity.product_id, 7);
    assert_int_equal(claims.identity.svn, 5);
    assert_true(claims.identity.debug);
    assert_memory_equal(claims.report_data, rd, sizeof rd);
    assert_memory_equal(claims.attester_key_id, want_attester, 32);

    /* Wrong report data: authentic but not about this. */
    memset(&claims, 0, sizeof claims);
    assert_int_equal(arca_evidence_verify(ev, ev_len, other_rd, &claims), ARCA_ERR_INTEGRITY);
    assert_false(claims.insecure_dev);

    /* Layout: magic 8, format 2, kind 1, measurement 32, signer 32,
     * product 2, svn 2, debug 1, report_data 64 = 144, then SPKI, sig. */
    const size_t body_start = 11, debug_off = 11 + 32 + 32 + 2 + 2, body_end = 144;
    uint8_t *copy = malloc(ev_len + 1);
    assert_non_null(copy);
    for (size_t off = body_start; off < body_end; off++) {
        memcpy(copy, ev, ev_len);
        copy[off] ^= 1;
        arca_status got = arca_evidence_verify(copy, ev_len, rd, &claims);
        arca_status want = ARCA_ERR_SIGNATURE_INVALID; /* debug 1 -> 0 is still well-formed */
        if (got != want) fail_msg("evidence byte %zu: got %d want %d", off, (int)got, (int)want);
    }
    /* Signature bytes (the last 64). */
    for (size_t off = ev_len - 64; off < ev_len; off++) {
        memcpy(copy, ev, ev_len);
        copy[off] ^= 0x40;
        assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims), ARCA_ERR_SIGNATURE_INVALID);
    }
    /* The embedded key swapped for another Ed25519 key. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(other);
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(other, &der);
    assert_int_equal(n, 44);
    memcpy(copy, ev, ev_len);
    assert_int_equal(copy[body_end], 0);
    assert_int_equal(copy[body_end + 1], 44);
    memcpy(copy + body_end + 2, der, 44);
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims), ARCA_ERR_SIGNATURE_INVALID);
    OPENSSL_free(der);
    EVP_PKEY_free(other);
    /* Structure errors. */
    memcpy(copy, ev, ev_len);
    copy[debug_off] = 2;
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[10] = 9; /* unknown kind */
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[0] = 'X';
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[9] = 2; /* format */
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[body_end + 2] ^= 0xff; /* SPKI no longer DER */
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims), ARCA_ERR_DECODE);
    for (size_t len = 0; len < ev_len; len++)
        assert_int_equal(arca_evidence_verify(ev, len, rd, &claims), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[ev_len] = 0;
    assert_int_equal(arca_evidence_verify(copy, ev_len + 1, rd, &claims), ARCA_ERR_DECODE);
    free(copy);
    free(ev);
    arca_sealing_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_extended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swapped_object_and_purpose, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_aad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_signer_or_product, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_file_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initialise_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_derive_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
