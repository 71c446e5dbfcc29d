/* Unit tests for enclave image signature structures (image_sig.h). */
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

#include "arca/image_sig.h"
#include "arca/log.h"

/* Offsets in the signature structure. */
enum {
    OFF_FORMAT = 8,
    OFF_MEASUREMENT = 10,
    OFF_SIGNER = 42,
    OFF_PRODUCT = 74,
    OFF_SVN = 76,
    OFF_FLAGS = 78,
    OFF_SPKI_LEN = 82,
};

typedef struct fixture {
    char dir[64];
    char key[128];
    char key2[128];
    uint8_t image[4096];
    uint8_t *sig;
    size_t sig_len;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/arca-test-imgsig-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->key, sizeof f->key, "%s/signer.pem", f->dir);
    snprintf(f->key2, sizeof f->key2, "%s/other.pem", f->dir);
    assert_int_equal(arca_image_signer_genkey(f->key), ARCA_OK);
    assert_int_equal(arca_image_signer_genkey(f->key2), ARCA_OK);
    for (size_t i = 0; i < sizeof f->image; i++) f->image[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(arca_image_sign(f->image, sizeof f->image, f->key, 3, 12, false, &f->sig, &f->sig_len),
                     ARCA_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->sig);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* signer_id as the header defines it: SHA-256 of the DER SPKI. */
static void signer_id_of(const char *pem, uint8_t out[32])
{
    FILE *fp = fopen(pem, "r");
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

static void test_genkey(void **state)
{
    fixture *f = *state;
    struct stat sb;
    assert_int_equal(stat(f->key, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    /* Never overwrites. */
    uint8_t before[32], after[32];
    signer_id_of(f->key, before);
    assert_int_equal(arca_image_signer_genkey(f->key), ARCA_ERR_EXISTS);
    signer_id_of(f->key, after);
    assert_memory_equal(before, after, 32);
    /* Nor follows a symlink. */
    char link[160];
    snprintf(link, sizeof link, "%s/link.pem", f->dir);
    assert_int_equal(symlink("/tmp/arca-test-imgsig-nonexistent-target", link), 0);
    assert_int_equal(arca_image_signer_genkey(link), ARCA_ERR_EXISTS);
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir.pem", f->dir);
    assert_int_equal(arca_image_signer_genkey(nodir), ARCA_ERR_IO);
    assert_int_equal(arca_image_signer_genkey(""), ARCA_ERR_ARGS);
}

static void test_sign_verify(void **state)
{
    fixture *f = *state;
    arca_enclave_identity id;
    uint8_t want_signer[32], want_measurement[32];
    unsigned int hl = 0;
    signer_id_of(f->key, want_signer);
    assert_int_equal(EVP_Digest(f->image, sizeof f->image, want_measurement, &hl, EVP_sha256(), NULL), 1);

    assert_memory_equal(f->sig, "ARCASIG1", 8);
    assert_true(f->sig_len <= ARCA_IMAGE_SIG_MAX);
    memset(&id, 0, sizeof id);
    assert_int_equal(arca_image_verify(f->sig, f->sig_len, f->image, sizeof f->image, NULL, &id), ARCA_OK);
    assert_memory_equal(id.measurement, want_measurement, 32);
    assert_memory_equal(id.signer_id, want_signer, 32);
    assert_int_equal(id.product_id, 3);
    assert_int_equal(id.svn, 12);
    assert_false(id.debug);
    /* With the right expected signer. */
    assert_int_equal(arca_image_verify(f->sig, f->sig_len, f->image, sizeof f->image, want_signer, &id), ARCA_OK);
    /* Parse alone gives the same identity. */
    arca_enclave_identity parsed;
    assert_int_equal(arca_image_sig_parse(f->sig, f->sig_len, &parsed), ARCA_OK);
    assert_memory_equal(&parsed, &id, sizeof id);

    /* Debug flag. */
    uint8_t *sig = NULL;
    size_t len = 0;
    assert_int_equal(arca_image_sign(f->image, sizeof f->image, f->key, 65535, 0, true, &sig, &len), ARCA_OK);
    assert_int_equal(arca_image_verify(sig, len, f->image, sizeof f->image, NULL, &id), ARCA_OK);
    assert_true(id.debug);
    assert_int_equal(id.product_id, 65535);
    assert_int_equal(id.svn, 0);
    free(sig);
    /* An empty image can be signed (and is then what is measured). */
    assert_int_equal(arca_image_sign(NULL, 0, f->key, 1, 1, false, &sig, &len), ARCA_OK);
    assert_int_equal(arca_image_verify(sig, len, NULL, 0, NULL, &id), ARCA_OK);
    assert_int_equal(arca_image_verify(sig, len, f->image, 1, NULL, &id), ARCA_ERR_IMAGE_MEASUREMENT);
    free(sig);
}

static void test_measurement_mismatch(void **state)
{
    fixture *f = *state;
    arca_enclave_identity id;
    memset(&id, 0x5c, sizeof id);
    f->image[100] ^= 1;
    assert_int_equal(arca_image_verify(f->sig, f->sig_len, f->image, sizeof f->image, NULL, &id),
                     ARCA_ERR_IMAGE_MEASUREMENT);
    assert_int_equal(id.product_id, 0x5c5c); /* untouched on failure */
    f->image[100] ^= 1;
    assert_int_equal(arca_image_verify(f->sig, f->sig_len, f->image, sizeof f->image - 1, NULL, &id),
                     ARCA_ERR_IMAGE_MEASUREMENT);
}

static void test_signer_mismatch(void **state)
{
    fixture *f = *state;
    arca_enclave_identity id;
    uint8_t signer1[32], signer2[32];
    signer_id_of(f->key, signer1);
    signer_id_of(f->key2, signer2);
    assert_int_equal(arca_image_verify(f->sig, f->sig_len, f->image, sizeof f->image, signer2, &id),
                     ARCA_ERR_IMAGE_SIGNER);
    /* A valid signature by the other key is also not ours. */
    uint8_t *sig = NULL;
    size_t len = 0;
    assert_int_equal(arca_image_sign(f->image, sizeof f->image, f->key2, 3, 12, false, &sig, &len), ARCA_OK);
    assert_int_equal(arca_image_verify(sig, len, f->image, sizeof f->image, signer1, &id), ARCA_ERR_IMAGE_SIGNER);
    assert_int_equal(arca_image_verify(sig, len, f->image, sizeof f->image, signer2, &id), ARCA_OK);
    /* Documented order: the signer is checked before the measurement. */
    f->image[0] ^= 1;
    assert_int_equal(arca_image_verify(sig, len, f->image, sizeof f->image, signer1, &id), ARCA_ERR_IMAGE_SIGNER);
    f->image[0] ^= 1;
    free(sig);
}

static void test_tampered_signature(void **state)
{
    fixture *f = *state;
    arca_enclave_identity id;
    uint8_t *copy = malloc(f->sig_len + 1);
    assert_non_null(copy);
    const size_t spki_off = OFF_SPKI_LEN + 2;
    const size_t spki_len = ((size_t)f->sig[OFF_SPKI_LEN] << 8) | f->sig[OFF_SPKI_LEN + 1];
    assert_int_equal(spki_len, 44);
    const size_t sig_off = spki_off + spki_len + 2;
    assert_int_equal(sig_off + 64, f->sig_len);

    /* Every signed field except format and flags (structure checks) and the
     * SPKI (may stop being a key): a signature failure. */
    for (size_t off = OFF_MEASUREMENT; off < OFF_FLAGS; off++) {
        memcpy(copy, f->sig, f->sig_len);
        copy[off] ^= 1;
        arca_status got = arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id);
        if (got != ARCA_ERR_IMAGE_SIGNATURE) fail_msg("byte %zu: got %d", off, (int)got);
    }
    /* Debug flag flipped on: signed, so the signature fails. */
    memcpy(copy, f->sig, f->sig_len);
    copy[OFF_FLAGS + 3] ^= 1;
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id),
                     ARCA_ERR_IMAGE_SIGNATURE);
    for (size_t off = sig_off; off < f->sig_len; off++) {
        memcpy(copy, f->sig, f->sig_len);
        copy[off] ^= 0x20;
        assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id),
                         ARCA_ERR_IMAGE_SIGNATURE);
    }
    /* Another key swapped in, signer_id left alone: the signer_id no longer
     * names the key. */
    FILE *fp = fopen(f->key2, "r");
    assert_non_null(fp);
    EVP_PKEY *k2 = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k2);
    uint8_t *der = NULL;
    assert_int_equal(i2d_PUBKEY(k2, &der), 44);
    memcpy(copy, f->sig, f->sig_len);
    memcpy(copy + spki_off, der, 44);
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id),
                     ARCA_ERR_IMAGE_SIGNATURE);
    /* ... and with signer_id updated to match, the signature still fails. */
    uint8_t h[32];
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest(der, 44, h, &hl, EVP_sha256(), NULL), 1);
    memcpy(copy + OFF_SIGNER, h, 32);
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id),
                     ARCA_ERR_IMAGE_SIGNATURE);
    assert_int_equal(arca_image_sig_parse(copy, f->sig_len, &id), ARCA_ERR_IMAGE_SIGNATURE);
    OPENSSL_free(der);
    EVP_PKEY_free(k2);
    free(copy);
}

static void test_malformed(void **state)
{
    fixture *f = *state;
    arca_enclave_identity id;
    uint8_t *copy = calloc(1, ARCA_IMAGE_SIG_MAX + 1);
    assert_non_null(copy);
    for (size_t n = 0; n < f->sig_len; n++)
        assert_int_equal(arca_image_verify(f->sig, n, f->image, sizeof f->image, NULL, &id), ARCA_ERR_DECODE);
    memcpy(copy, f->sig, f->sig_len);
    assert_int_equal(arca_image_verify(copy, f->sig_len + 1, f->image, sizeof f->image, NULL, &id),
                     ARCA_ERR_DECODE);
    assert_int_equal(arca_image_verify(copy, ARCA_IMAGE_SIG_MAX + 1, f->image, sizeof f->image, NULL, &id),
                     ARCA_ERR_DECODE);
    memcpy(copy, f->sig, f->sig_len);
    copy[0] = 'X';
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id), ARCA_ERR_DECODE);
    memcpy(copy, f->sig, f->sig_len);
    copy[OFF_FORMAT + 1] = 2;
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id), ARCA_ERR_DECODE);
    memcpy(copy, f->sig, f->sig_len);
    copy[OFF_FLAGS] = 0x80; /* unknown flag */
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id), ARCA_ERR_DECODE);
    memcpy(copy, f->sig, f->sig_len);
    copy[OFF_SPKI_LEN + 2] = 0x05; /* SPKI no longer DER */
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id), ARCA_ERR_DECODE);
    memcpy(copy, f->sig, f->sig_len);
    copy[OFF_SPKI_LEN + 1] = 45; /* length prefix past the key */
    assert_int_equal(arca_image_verify(copy, f->sig_len, f->image, sizeof f->image, NULL, &id), ARCA_ERR_DECODE);
    /* A 63-byte signature field. */
    memcpy(copy, f->sig, f->sig_len);
    copy[f->sig_len - 65] = 63;
    assert_int_equal(arca_image_verify(copy, f->sig_len - 1, f->image, sizeof f->image, NULL, &id),
                     ARCA_ERR_DECODE);
    free(copy);
}

static void test_sign_key_problems(void **state)
{
    fixture *f = *state;
    uint8_t *sig = NULL;
    size_t len = 0;
    char p[160];
    snprintf(p, sizeof p, "%s/missing.pem", f->dir);
    assert_int_equal(arca_image_sign(f->image, 10, p, 1, 1, false, &sig, &len), ARCA_ERR_IO);
    snprintf(p, sizeof p, "%s/garbage.pem", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n", fp);
    fclose(fp);
    assert_int_equal(arca_image_sign(f->image, 10, p, 1, 1, false, &sig, &len), ARCA_ERR_DECODE);
    /* An EC key is not an Ed25519 signer key. */
    snprintf(p, sizeof p, "%s/ec.pem", f->dir);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    fp = fopen(p, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, ec, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    EVP_PKEY_free(ec);
    assert_int_equal(arca_image_sign(f->image, 10, p, 1, 1, false, &sig, &len), ARCA_ERR_KEY_TYPE);
    assert_null(sig);
}

int main(void)
{
    arca_log_set_level(ARCA_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_genkey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measurement_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signer_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_key_problems, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
