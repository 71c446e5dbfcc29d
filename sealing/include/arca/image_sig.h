/* Enclave image signatures (the analogue of SGX SIGSTRUCT).
 *
 * Signature structure (all big-endian), written by arca-sign next to the
 * image as <image>.sig:
 *   "ARCASIG1" | u16 format(1) | measurement[32] | signer_id[32] |
 *   u16 product_id | u16 svn | u32 flags (bit 0 = debug) |
 *   u16-prefixed signer public key (DER SubjectPublicKeyInfo, Ed25519) |
 *   u16-prefixed signature (Ed25519 over everything before it)
 * measurement = SHA-256 of the image file; signer_id = SHA-256 of the DER
 * public key. */
#ifndef ARCA_IMAGE_SIG_H
#define ARCA_IMAGE_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "arca/sealing.h"
#include "arca/status.h"

#define ARCA_IMAGE_SIG_MAX 4096u

/* Create a signature structure for image bytes with the signer's private
 * key (PEM file). *out is malloc'd. ARCA_ERR_IO if the key file cannot be
 * opened, ARCA_ERR_DECODE if it is not a PEM private key, ARCA_ERR_KEY_TYPE
 * if the key is not Ed25519. */
ARCA_MUST_CHECK arca_status arca_image_sign(const uint8_t *image, size_t image_len, const char *signer_key_pem_path,
                                            uint16_t product_id, uint16_t svn, bool debug, uint8_t **out,
                                            size_t *out_len);

/* Parse and check a signature structure against image bytes:
 * ARCA_ERR_DECODE if malformed, ARCA_ERR_IMAGE_SIGNATURE if the signature
 * does not verify or the signer_id does not match the embedded key,
 * ARCA_ERR_IMAGE_MEASUREMENT if the image hash differs. If expected_signer
 * is non-NULL, ARCA_ERR_IMAGE_SIGNER when it differs. Checked in that
 * order: structure, signature, signer, measurement. On success fills
 * *out_id. */
ARCA_MUST_CHECK arca_status arca_image_verify(const uint8_t *sig, size_t sig_len, const uint8_t *image,
                                              size_t image_len, const uint8_t *expected_signer /* [32] or NULL */,
                                              arca_enclave_identity *out_id);

/* Parse a signature structure and check its own signature (the embedded
 * key signed it and signer_id is that key's hash), without an image:
 * ARCA_ERR_DECODE if malformed, ARCA_ERR_IMAGE_SIGNATURE if it does not
 * verify. Fills *out_id (measurement as claimed) on success. For tools that
 * show or compare a signature; a launcher uses arca_image_verify. */
ARCA_MUST_CHECK arca_status arca_image_sig_parse(const uint8_t *sig, size_t sig_len, arca_enclave_identity *out_id);

/* Generate an Ed25519 signer key and write it as PKCS#8 PEM to path with
 * mode 0600 (O_EXCL|O_NOFOLLOW, fsync'd). ARCA_ERR_EXISTS if path exists
 * (never overwrites), ARCA_ERR_IO for other OS failures. */
ARCA_MUST_CHECK arca_status arca_image_signer_genkey(const char *path);

#endif
