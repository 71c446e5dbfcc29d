/* Enclave image signature structures (see image_sig.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/image_sig.h"
#include "arca/log.h"
#include "sealing_internal.h"

#define SIG_MAGIC "ARCASIG1"
#define SIG_FORMAT 1u
#define SIG_FLAG_DEBUG 1u

arca_status arca_image_signer_genkey(const char *path)
{
    ARCA_ENSURE(path != NULL && path[0] != '\0', ARCA_ERR_ARGS);
    return arca_ed25519_generate_file(AT_FDCWD, path);
}

arca_status arca_image_sign(const uint8_t *image, size_t image_len, const char *signer_key_pem_path,
                            uint16_t product_id, uint16_t svn, bool debug, uint8_t **out, size_t *out_len)
{
    arca_status st = ARCA_OK;
    EVP_PKEY *key = NULL;
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    uint8_t measurement[32], signer_id[32], sig[64];
    arca_builder b = {0};

    ARCA_ENSURE(image != NULL || image_len == 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(signer_key_pem_path != NULL && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    int fd = open(signer_key_pem_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ARCA_ERROR("cannot open signer key %s: %s", signer_key_pem_path, strerror(errno));
        return ARCA_ERR_IO;
    }
    st = arca_ed25519_load_fd(fd, &key);
    if (st != ARCA_OK) {
        ARCA_ERROR("signer key %s is not an Ed25519 private key in PEM (%s)", signer_key_pem_path,
                   arca_status_name(st));
        goto out;
    }
    ARCA_GUARD_OUT(arca_ed25519_spki(key, &spki, &spki_len));
    ARCA_GUARD_OUT(arca_sha256(spki, spki_len, signer_id));
    ARCA_GUARD_OUT(arca_sha256(image, image_len, measurement));

    ARCA_GUARD_OUT(arca_builder_init(&b, 256, ARCA_IMAGE_SIG_MAX));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, SIG_MAGIC, 8));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, SIG_FORMAT));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, measurement, sizeof measurement));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, signer_id, sizeof signer_id));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, product_id));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, svn));
    ARCA_GUARD_OUT(arca_builder_add_u32(&b, debug ? SIG_FLAG_DEBUG : 0));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, spki, spki_len));
    ARCA_GUARD_OUT(arca_ed25519_sign(key, b.data, b.len, sig));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, sig, sizeof sig));
    ARCA_GUARD_OUT(arca_builder_finish(&b, out, out_len));
out:
    arca_builder_cleanup(&b);
    free(spki);
    EVP_PKEY_free(key);
    return st;
}

arca_status arca_image_sig_parse(const uint8_t *sig, size_t sig_len, arca_enclave_identity *out_id)
{
    arca_status st = ARCA_OK;
    arca_cursor c, spki_c, sig_c;
    const uint8_t *magic = NULL, *spki = NULL, *signature = NULL;
    uint16_t format = 0;
    uint32_t flags = 0;
    uint8_t spki_hash[32];
    arca_enclave_identity id;
    EVP_PKEY *pub = NULL;

    ARCA_ENSURE(sig != NULL && out_id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sig_len <= ARCA_IMAGE_SIG_MAX, ARCA_ERR_DECODE);
    memset(&id, 0, sizeof id);
    arca_cursor_init(&c, sig, sig_len);
    ARCA_GUARD(arca_cursor_get_bytes(&c, 8, &magic));
    ARCA_ENSURE(memcmp(magic, SIG_MAGIC, 8) == 0, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16(&c, &format));
    ARCA_ENSURE(format == SIG_FORMAT, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_copy_bytes(&c, id.measurement, 32));
    ARCA_GUARD(arca_cursor_copy_bytes(&c, id.signer_id, 32));
    ARCA_GUARD(arca_cursor_get_u16(&c, &id.product_id));
    ARCA_GUARD(arca_cursor_get_u16(&c, &id.svn));
    ARCA_GUARD(arca_cursor_get_u32(&c, &flags));
    ARCA_ENSURE((flags & ~SIG_FLAG_DEBUG) == 0, ARCA_ERR_DECODE);
    id.debug = (flags & SIG_FLAG_DEBUG) != 0;
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &spki_c));
    const size_t signed_len = sig_len - arca_cursor_remaining(&c);
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &sig_c));
    ARCA_GUARD(arca_cursor_finish(&c));
    const size_t spki_len = arca_cursor_remaining(&spki_c);
    ARCA_GUARD(arca_cursor_get_bytes(&spki_c, spki_len, &spki));
    const size_t signature_len = arca_cursor_remaining(&sig_c);
    ARCA_GUARD(arca_cursor_get_bytes(&sig_c, signature_len, &signature));
    ARCA_ENSURE(signature_len == 64, ARCA_ERR_DECODE);

    ARCA_GUARD_OUT(arca_ed25519_parse_spki(spki, spki_len, &pub));
    ARCA_GUARD_OUT(arca_sha256(spki, spki_len, spki_hash));
    ARCA_ENSURE_OUT(memcmp(spki_hash, id.signer_id, 32) == 0, ARCA_ERR_IMAGE_SIGNATURE);
    st = arca_ed25519_verify(pub, sig, signed_len, signature, signature_len);
    if (st == ARCA_ERR_SIGNATURE_INVALID) st = ARCA_ERR_IMAGE_SIGNATURE;
    if (st != ARCA_OK) goto out;
    *out_id = id;
out:
    EVP_PKEY_free(pub);
    return st;
}

arca_status arca_image_verify(const uint8_t *sig, size_t sig_len, const uint8_t *image, size_t image_len,
                              const uint8_t *expected_signer, arca_enclave_identity *out_id)
{
    arca_enclave_identity id;
    uint8_t measurement[32];

    ARCA_ENSURE(sig != NULL && out_id != NULL && (image != NULL || image_len == 0), ARCA_ERR_ARGS);
    ARCA_GUARD(arca_image_sig_parse(sig, sig_len, &id));
    ARCA_ENSURE(expected_signer == NULL || memcmp(expected_signer, id.signer_id, 32) == 0, ARCA_ERR_IMAGE_SIGNER);
    ARCA_GUARD(arca_sha256(image, image_len, measurement));
    ARCA_ENSURE(memcmp(measurement, id.measurement, 32) == 0, ARCA_ERR_IMAGE_MEASUREMENT);
    *out_id = id;
    return ARCA_OK;
}
