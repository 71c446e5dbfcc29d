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
    const char *tcti;      /* tpm only: "device:/dev/tpmrm0", "swtpm:path=/sock",
                            * "swtpm:host=127.0.0.1,port=N" or "mssim:..." */
    uint32_t tpm_pcr;      /* tpm only: the sha256 PCR holding the enclave
                            * identity, 1..23; 0 = ARCA_TPM_PCR_DEFAULT */
    uint32_t tpm_nv_index; /* tpm only: NV counter index in the owner range
                            * 0x01000000..0x013FFFFF; 0 = ARCA_TPM_NV_INDEX_DEFAULT */
} arca_sealing_config;

#define ARCA_TPM_PCR_DEFAULT 15u
#define ARCA_TPM_NV_INDEX_DEFAULT 0x0100A5CAu

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
    /* TPM evidence (a TPM2_Quote, see "tpm mode" below). For it the
     * verifier has checked that the quoted PCR holds exactly one extension
     * of zero with identity's signer_id, product_id, svn and debug, so those
     * four are attested; identity.measurement is NOT attested and is zero. */
    bool tpm_quote;
    uint8_t tpm_pcr_index;
    uint8_t tpm_pcr_digest[32]; /* pcrDigest of the quote */
} arca_evidence_claims;

/* Verify evidence produced by any backend: the signature, and that
 * report_data matches. Policy checks (signer, SVN, dev allowed) are the
 * caller's, on the returned claims.
 * TPM evidence (kind 2): ARCA_ERR_DECODE for malformed bytes or an AK that
 * is not an ECC P-256 key, ARCA_ERR_SIGNATURE_INVALID if the AK signature
 * over the TPMS_ATTEST does not verify, ARCA_ERR_INTEGRITY if the attest is
 * not a quote, its qualifying data is not SHA-256(report_data) or its PCR
 * selection is not the claimed sha256 PCR, ARCA_ERR_ATTEST_MEASUREMENT if
 * the quoted PCR digest is not the one the claimed identity gives. The AK
 * is not checked here: a relying party either checks its certificate with
 * arca_evidence_check_tpm_ak (below) or pins attester_key_id. */
ARCA_MUST_CHECK arca_status arca_evidence_verify(const uint8_t *evidence, size_t evidence_len,
                                                 const uint8_t report_data[ARCA_REPORT_DATA_LEN],
                                                 arca_evidence_claims *out);

/* TPM evidence (kind 2) that arca_evidence_verify accepted: check that
 * its attestation key is certified by a CA the relying party accepts.
 * ca_file is a PEM file of accepted AK CA certificate(s) (the operator's
 * attestation CA, which issued the AK certificate after credential
 * activation against the TPM maker's EK certificate: see
 * tests/tools/tpm-ak-enrol.sh). Checks, in order: the evidence carries an
 * AK certificate; it chains to a CA in ca_file (X509_verify_cert, current
 * time); its keyUsage, if present, allows digitalSignature; it certifies
 * exactly the key that signed the quote. Reads ca_file on every call.
 * msg (msg_len > 0; always NUL-terminated, "" on success) names the check
 * that failed. Statuses:
 *   ARCA_ERR_ATTEST_ATTESTER  no AK certificate; not issued by an accepted
 *                             CA (with OpenSSL's reason); no
 *                             digitalSignature; certifies another key (a
 *                             quote from another TPM)
 *   ARCA_ERR_DECODE           malformed evidence or certificate
 *   ARCA_ERR_CONFIG           ca_file cannot be read or holds no certificate
 *   ARCA_ERR_ARGS             NULL/empty arguments, or not TPM evidence */
ARCA_MUST_CHECK arca_status arca_evidence_check_tpm_ak(const uint8_t *evidence, size_t evidence_len,
                                                       const char *ca_file, char *msg, size_t msg_len);

/* --- tpm mode ---
 *
 * The seed is 32 random bytes sealed by the TPM under a primary storage
 * key (ECC P-256, re-created from a fixed template at every open, never
 * persisted) as a keyed-hash object whose policy is PolicyPCR over the
 * configured sha256 PCR. state_dir holds tpm-seed.pub / tpm-seed.priv (the
 * TPM-encrypted object: safe on the host). The counter is an NV counter
 * index (TPMA_NV counter type, owner range) that starts wherever the TPM's
 * counters stand (not at 0) and only grows. Evidence is a TPM2_Quote over
 * the PCR by an ECC P-256 restricted signing primary in the endorsement
 * hierarchy, qualifying data = SHA-256(report_data). If state_dir holds
 * tpm-ak.crt (PEM or DER, at most 2048 bytes DER: the AK certificate from
 * the operator's attestation CA, tests/tools/tpm-ak-enrol.sh), it is read
 * at open and carried in every quote's evidence; open refuses a malformed
 * one (ARCA_ERR_CONFIG) and warns if it certifies another key. state_dir
 * also gets tpm-seed.identity (which identity the seed was sealed for), so
 * that a refused unseal says why (another signer, a lower SVN, or a PCR
 * extended with something else). After a TPM failure (e.g. the TPM was
 * unreachable) the next operation starts ESAPI afresh on the same TCTI
 * connection, so the appliance recovers when the TPM is back.
 * TODO (next steps, not done): PolicyAuthorize by the enclave signer's key
 * so that a signed upgrade (same signer, SVN >= sealed) keeps unsealing
 * without re-initialising; a policy on the NV counter so only the enclave
 * can increment it. */

/* Extend the configured PCR (sha256 bank) with the enclave identity
 * digest SHA-256(signer_id || u16 product_id || u16 svn || u8 debug), as
 * the launcher must before the enclave starts. Idempotent across restarts:
 * if the PCR already holds exactly one extension of zero with this
 * identity, nothing is extended (a second extension would lock the same
 * image out until reboot). ARCA_ERR_CONFIG for a bad config, ARCA_ERR_IO if
 * the TPM fails. */
ARCA_MUST_CHECK arca_status arca_sealing_tpm_extend_identity(const arca_sealing_config *cfg,
                                                             const arca_enclave_identity *identity);

#endif
