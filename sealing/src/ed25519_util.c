/* Ed25519 key files, SPKI encoding and one-shot sign/verify, shared by the
 * dev backend (attestation key), evidence and image signatures. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "arca/log.h"
#include "sealing_internal.h"

arca_status arca_ed25519_generate_file(int dirfd, const char *name)
{
    arca_status st = ARCA_OK;
    EVP_PKEY *key = NULL;
    FILE *f = NULL;
    int fd = -1;
    bool created = false;

    ARCA_ENSURE(name != NULL, ARCA_ERR_ARGS);
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ARCA_ENSURE_OUT(key != NULL, ARCA_ERR_CRYPTO);

    fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        ARCA_ERROR("cannot create key file %s: %s", name, strerror(e));
        st = (e == EEXIST) ? ARCA_ERR_EXISTS : ARCA_ERR_IO;
        goto out;
    }
    created = true;
    /* The umask may have narrowed the mode further, never widened it; make
     * it exactly 0600. */
    ARCA_ENSURE_OUT(fchmod(fd, 0600) == 0, ARCA_ERR_IO);
    f = fdopen(fd, "w");
    ARCA_ENSURE_OUT(f != NULL, ARCA_ERR_IO);
    fd = -1;
    ARCA_ENSURE_OUT(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1, ARCA_ERR_CRYPTO);
    ARCA_ENSURE_OUT(fflush(f) == 0, ARCA_ERR_IO);
    ARCA_ENSURE_OUT(fsync(fileno(f)) == 0, ARCA_ERR_IO);
    int close_rc = fclose(f);
    f = NULL;
    ARCA_ENSURE_OUT(close_rc == 0, ARCA_ERR_IO);
out:
    if (f != NULL) fclose(f);
    if (fd >= 0) close(fd);
    if (st != ARCA_OK && created) (void)unlinkat(dirfd, name, 0);
    EVP_PKEY_free(key);
    return st;
}

arca_status arca_ed25519_load_fd(int fd, EVP_PKEY **out)
{
    arca_status st = ARCA_OK;
    EVP_PKEY *key = NULL;
    FILE *f = NULL;

    ARCA_ENSURE(fd >= 0 && out != NULL, ARCA_ERR_ARGS);
    f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return ARCA_ERR_IO;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    ARCA_ENSURE_OUT(key != NULL, ARCA_ERR_DECODE);
    ARCA_ENSURE_OUT(EVP_PKEY_get_id(key) == EVP_PKEY_ED25519, ARCA_ERR_KEY_TYPE);
    *out = key;
    key = NULL;
out:
    fclose(f);
    EVP_PKEY_free(key);
    return st;
}

arca_status arca_ed25519_spki(EVP_PKEY *key, uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(key != NULL && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    ARCA_ENSURE(n > 0 && der != NULL, ARCA_ERR_CRYPTO);
    uint8_t *copy = malloc((size_t)n);
    if (copy == NULL) {
        OPENSSL_free(der);
        return ARCA_ERR_NOMEM;
    }
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *out = copy;
    *out_len = (size_t)n;
    return ARCA_OK;
}

arca_status arca_ed25519_parse_spki(const uint8_t *der, size_t der_len, EVP_PKEY **out)
{
    ARCA_ENSURE(der != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(der_len > 0 && der_len <= 1024, ARCA_ERR_DECODE);
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)der_len);
    ARCA_ENSURE(key != NULL, ARCA_ERR_DECODE);
    if ((size_t)(p - der) != der_len || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return ARCA_ERR_DECODE;
    }
    *out = key;
    return ARCA_OK;
}

arca_status arca_ed25519_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, uint8_t sig[64])
{
    arca_status st = ARCA_OK;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = 64;

    ARCA_ENSURE_OUT(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key));
    ARCA_GUARD_OSSL_OUT(EVP_DigestSign(ctx, sig, &sig_len, msg, msg_len));
    ARCA_ENSURE_OUT(sig_len == 64, ARCA_ERR_CRYPTO);
out:
    EVP_MD_CTX_free(ctx);
    return st;
}

arca_status arca_ed25519_verify(EVP_PKEY *pub, const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len)
{
    arca_status st = ARCA_OK;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    ARCA_ENSURE_OUT(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub));
    if (sig_len != 64 || EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) != 1) {
        ERR_clear_error(); /* an expected outcome, not a library fault */
        st = ARCA_ERR_SIGNATURE_INVALID;
    }
out:
    EVP_MD_CTX_free(ctx);
    return st;
}

arca_status arca_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    ARCA_ENSURE(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32, ARCA_ERR_CRYPTO);
    return ARCA_OK;
}
