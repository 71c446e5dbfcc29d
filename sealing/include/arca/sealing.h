/* The platform root of trust: sealing, a monotonic counter and evidence.
 *
 * One interface, several backends chosen once at start-up: `dev` (a seed
 * in a 0600 file; loudly insecure), later `tpm` (seed sealed by the TPM)
 * and `sgx`. All backends seal blobs the same way (see blob format below):
 * AES-256-GCM under a sealing key derived as
 *   HKDF-SHA256(seed; salt = "arca-seal-v1",
 *               info = signer_id || product_id || svn || key_generation || debug)
 * so an image from another signer or product cannot unseal, and an image
 * with a lower SVN cannot unseal what a higher SVN sealed.
 *
 * Sealed blob = header || ciphertext || tag(16); header (62 bytes):
 *   "ASB1" | u16 format(1) | u16 alg(1 = AES-256-GCM) | u32 key_generation |
 *   u16 svn | u16 reserved(0) | u32 flags(0) | object_id[16] |
 *   u64 object_version | u16 purpose | u32 plaintext_len | iv[12]
 * (The u32 flags, must be zero, makes the fields add up to the 62 bytes of
 * ARCA_SEALED_HEADER_LEN; it is reserved for future format options.)
 * AAD = header || caller's aad (e.g. the partition id). */
#ifndef ARCA_SEALING_H
#define ARCA_SEALING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/secret.h"
#include "arca/status.h"

#define ARCA_OBJECT_ID_LEN 16u
#define ARCA_SEALED_HEADER_LEN 62u
#define ARCA_SEALED_OVERHEAD (ARCA_SEALED_HEADER_LEN + 16u)
#define ARCA_SEALED_MAX_PLAINTEXT (512u * 1024u)
#define ARCA_REPORT_DATA_LEN 64u

/* Who the running enclave is, as established from its signature
 * structure (see image_sig.h). */
typedef struct arca_enclave_identity {
    uint8_t measurement[32]; /* SHA-256 of the enclave image */
    uint8_t signer_id[32];   /* SHA-256 of the signer's DER SubjectPublicKeyInfo */
    uint16_t product_id;
    uint16_t svn;
    bool debug;
} arca_enclave_identity;

typedef struct arca_sealing_config {
    const char *mode;      /* "dev" | "tpm" */
    const char *state_dir; /* dev: holds dev-seed, dev-counter, dev-attest.pem */
    const char *tcti;      /* tpm only */
} arca_sealing_config;

/* What a blob is sealed for; bound into the header and AAD. */
typedef enum arca_seal_purpose {
    ARCA_SEAL_OBJECT = 1,    /* a key object */
    ARCA_SEAL_STATE = 2,     /* appliance / partition state */
    ARCA_SEAL_AUDIT_HEAD = 3,
} arca_seal_purpose;

typedef struct arca_blob_meta {
    uint8_t object_id[ARCA_OBJECT_ID_LEN];
    uint64_t object_version;
    uint16_t purpose; /* arca_seal_purpose */
    uint32_t key_generation; /* output of unseal; ignored by seal (current is used) */
    uint16_t svn;            /* output of unseal */
} arca_blob_meta;

typedef struct arca_sealing arca_sealing;

/* Create the platform root for a new appliance (dev: write a fresh 32-byte
 * seed with mode 0600 using O_EXCL, a zero counter, and a dev attestation
 * key). ARCA_ERR_EXISTS if already initialised. */
ARCA_MUST_CHECK arca_status arca_sealing_initialise(const arca_sealing_config *cfg);

/* Open the backend for the given identity. Refuses to start with
 * ARCA_ERR_SEED (missing, unreadable, wrong size, wrong mode) naming the
 * file and what is wrong in the log. Keeps the counter file open so that
 * no file is opened after start-up. */
ARCA_MUST_CHECK arca_status arca_sealing_open(const arca_sealing_config *cfg, const arca_enclave_identity *self,
                                              arca_sealing **out);
void arca_sealing_free(arca_sealing *s);
const char *arca_sealing_mode(const arca_sealing *s);
bool arca_sealing_is_insecure(const arca_sealing *s);

/* Seal pt for meta (object id, version, purpose). *out_blob is malloc'd.
 * ARCA_ERR_ARGS for an empty plaintext or an unknown purpose,
 * ARCA_ERR_TOO_LARGE above ARCA_SEALED_MAX_PLAINTEXT. Thread-safe. */
ARCA_MUST_CHECK arca_status arca_sealing_seal(arca_sealing *s, const arca_blob_meta *meta, const uint8_t *aad,
                                              size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t **out_blob,
                                              size_t *out_len);
/* Unseal. ARCA_ERR_INTEGRITY for a blob that fails authentication or whose
 * header does not match `expect` (object id, and purpose; the version is
 * returned in *out_meta), ARCA_ERR_DECODE for a malformed header,
 * ARCA_ERR_SVN when sealed by a higher SVN than ours. Plaintext lands in
 * secret memory (*out_pt is set only on success; free with
 * arca_secret_free). expect is required; out_meta may be NULL. */
ARCA_MUST_CHECK arca_status arca_sealing_unseal(arca_sealing *s, const arca_blob_meta *expect, const uint8_t *aad,
                                                size_t aad_len, const uint8_t *blob, size_t blob_len,
                                                arca_blob_meta *out_meta, arca_secret *out_pt);
/* A 32-byte key for a named purpose ("blind-index", "audit-mac"), derived
 * from the platform seed and the signer identity (stable across upgrades). */
ARCA_MUST_CHECK arca_status arca_sealing_derive_key(arca_sealing *s, const char *purpose, arca_secret *out);

ARCA_MUST_CHECK arca_status arca_sealing_counter_read(arca_sealing *s, uint64_t *out);
/* Increment durably (dev: write + fsync through the fd opened at start). */
ARCA_MUST_CHECK arca_status arca_sealing_counter_increment(arca_sealing *s, uint64_t *out_new);

/* Evidence: a signed statement binding report_data to this enclave's
 * identity. Dev evidence is signed by the dev attestation key and carries
 * an "insecure" flag. *out is malloc'd. */
ARCA_MUST_CHECK arca_status arca_sealing_evidence_create(arca_sealing *s,
                                                         const uint8_t report_data[ARCA_REPORT_DATA_LEN],
                                                         uint8_t **out, size_t *out_len);

typedef struct arca_evidence_claims {
    arca_enclave_identity identity;
    uint8_t report_data[ARCA_REPORT_DATA_LEN];
    bool insecure_dev;          /* dev-mode evidence */
    uint8_t attester_key_id[32]; /* SHA-256 of the attestation public key */
} arca_evidence_claims;

/* Verify evidence produced by any backend: the signature, and that
 * report_data matches. Policy checks (signer, SVN, dev allowed) are the
 * caller's, on the returned claims. */
ARCA_MUST_CHECK arca_status arca_evidence_verify(const uint8_t *evidence, size_t evidence_len,
                                                 const uint8_t report_data[ARCA_REPORT_DATA_LEN],
                                                 arca_evidence_claims *out);

#endif
