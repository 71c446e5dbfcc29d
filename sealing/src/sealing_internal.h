/* Private to sealing/: the backend table and shared helpers.
 *
 * A backend supplies the root secret (seed), the monotonic counter and
 * evidence signing. Everything else — blob format, key derivation, the
 * evidence structure — is shared code in sealing.c / evidence.c so that a
 * new backend (tpm, sgx) is a swap of this table, not a rewrite. */
#ifndef ARCA_SEALING_INTERNAL_H
#define ARCA_SEALING_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "arca/cursor.h"
#include "arca/sealing.h"

/* Evidence kinds carried in the "ARCAEVD1" structure. */
enum {
    ARCA_EVIDENCE_KIND_DEV = 1, /* signed by a file key: insecure */
    ARCA_EVIDENCE_KIND_TPM = 2, /* a TPM2_Quote (tpm_evidence.c) */
};

typedef struct sealing_backend_ops {
    const char *name;
    bool insecure;
    /* Create the platform root. ARCA_ERR_EXISTS if one is there. */
    arca_status (*initialise)(const arca_sealing_config *cfg);
    /* Open for the running enclave `self`; *out_state is the backend's own
     * state, freed by close. */
    arca_status (*open)(const arca_sealing_config *cfg, const arca_enclave_identity *self, void **out_state);
    void (*close)(void *state); /* NULL is a no-op */
    /* The seal key source: a secret owned by the backend state, valid until
     * close. */
    const arca_secret *(*seed)(void *state);
    arca_status (*counter_read)(void *state, uint64_t *out);
    arca_status (*counter_increment)(void *state, uint64_t *out_new);
    /* Evidence over (id, report_data); *out malloc'd. */
    arca_status (*evidence_create)(void *state, const arca_enclave_identity *id,
                                   const uint8_t report_data[ARCA_REPORT_DATA_LEN], uint8_t **out, size_t *out_len);
} sealing_backend_ops;

extern const sealing_backend_ops arca_sealing_dev_ops;
extern const sealing_backend_ops arca_sealing_tpm_ops;

/* --- Ed25519 helpers (ed25519_util.c) --- */

/* Generate an Ed25519 key and write it as PKCS#8 PEM to name relative to
 * dirfd (AT_FDCWD for a path) with O_EXCL|O_NOFOLLOW, mode 0600, fsync'd.
 * ARCA_ERR_EXISTS if the file exists, ARCA_ERR_IO on other OS failures. */
arca_status arca_ed25519_generate_file(int dirfd, const char *name);
/* Load an Ed25519 private key from an open fd (consumed: always closed).
 * ARCA_ERR_DECODE if it is not a PEM private key, ARCA_ERR_KEY_TYPE if it is
 * not Ed25519. */
arca_status arca_ed25519_load_fd(int fd, EVP_PKEY **out);
/* DER SubjectPublicKeyInfo of key; *out malloc'd. */
arca_status arca_ed25519_spki(EVP_PKEY *key, uint8_t **out, size_t *out_len);
/* Parse a DER SPKI that must be exactly one Ed25519 public key
 * (ARCA_ERR_DECODE otherwise). */
arca_status arca_ed25519_parse_spki(const uint8_t *der, size_t der_len, EVP_PKEY **out);
/* One-shot Ed25519 sign; sig has room for 64 bytes. */
arca_status arca_ed25519_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, uint8_t sig[64]);
/* ARCA_OK if valid, ARCA_ERR_SIGNATURE_INVALID if not. */
arca_status arca_ed25519_verify(EVP_PKEY *pub, const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len);
/* SHA-256 one-shot. */
arca_status arca_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* --- evidence structure (evidence.c) --- */

/* Build and sign an "ARCAEVD1" structure of the given kind. */
arca_status arca_evidence_build(uint8_t kind, const arca_enclave_identity *id,
                                const uint8_t report_data[ARCA_REPORT_DATA_LEN], EVP_PKEY *attest_key, uint8_t **out,
                                size_t *out_len);

/* Verify kind-2 (TPM quote) evidence; c is positioned just after the kind
 * byte. Failures as for arca_evidence_verify (sealing.h). */
arca_status arca_evidence_verify_tpm(arca_cursor *c, const uint8_t report_data[ARCA_REPORT_DATA_LEN],
                                     arca_evidence_claims *out);

#endif
