/* Private to sealing/: the TPM 2.0 helpers shared by the `tpm` backend
 * (sealing_tpm.c) and TPM evidence (tpm_evidence.c).
 *
 * All TPM access goes through tss2-esys over a TCTI named in the config.
 * Every helper that makes a transient object or session here either hands
 * its ESYS_TR to the caller (who flushes it with tpm_flush) or flushes it
 * before returning, on every path. */
#ifndef ARCA_TPM_INTERNAL_H
#define ARCA_TPM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "arca/sealing.h"
#include "arca/status.h"

#define TPM_SEED_LEN 32u
#define TPM_SEED_PUB_FILE "tpm-seed.pub"
#define TPM_SEED_PRIV_FILE "tpm-seed.priv"
#define TPM_SEED_IDENTITY_FILE "tpm-seed.identity"
#define TPM_AK_CERT_FILE "tpm-ak.crt"
#define TPM_AK_CERT_MAX 2048u /* DER; keeps the evidence under its 4 KiB cap */

/* A live connection: the TCTI and the ESAPI context on it. */
typedef struct tpm_conn {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
} tpm_conn;

/* The resolved TPM settings of a sealing config. */
typedef struct tpm_settings {
    const char *tcti;
    uint32_t pcr;
    uint32_t nv_index;
} tpm_settings;

/* Check cfg's TPM fields and apply defaults. ARCA_ERR_CONFIG (logged) for a
 * missing TCTI, a TCTI other than device:/swtpm:/mssim:, a PCR outside
 * 1..23 or an NV index outside the owner range. */
arca_status tpm_settings_from(const arca_sealing_config *cfg, tpm_settings *out);

/* Connect. ARCA_ERR_IO (logged, naming the TCTI) if the TPM cannot be
 * reached. Close with tpm_disconnect (NULL-safe, idempotent). */
arca_status tpm_connect(const tpm_settings *ts, tpm_conn *out);
void tpm_disconnect(tpm_conn *c);

/* The name of a TPM response code as the TPM 2.0 specification spells it
 * ("TPM_RC_POLICY_FAIL"), after stripping the handle/session/parameter
 * number; "TPM_RC_?" for one not in the table, a short phrase for codes
 * from the TSS layers (TCTI, ESAPI). Never NULL; static storage. */
const char *tpm_rc_name(TSS2_RC rc);

/* Log "tpm: <what> failed: <TPM_RC name>: <decoded rc> (0x...)" and
 * return ARCA_ERR_IO. */
arca_status tpm_fail(const char *what, TSS2_RC rc);
/* The TPM's response code with the layer and the handle/session/parameter
 * number stripped, for comparison with TPM2_RC_* constants. */
TSS2_RC tpm_rc_base(TSS2_RC rc);

/* Flush a transient object or session and set *h to ESYS_TR_NONE; a no-op
 * for ESYS_TR_NONE. Failures are logged (nothing else can be done). */
void tpm_flush(tpm_conn *c, ESYS_TR *h);

/* The storage root key: an ECC P-256 restricted decryption primary in the
 * owner hierarchy, made from a fixed template, so it is the same key every
 * time and need not be persisted. The caller flushes *out. */
arca_status tpm_create_srk(tpm_conn *c, ESYS_TR *out);
/* The attestation key: an ECC P-256 restricted ECDSA-SHA256 signing
 * primary in the endorsement hierarchy (deterministic, so its public key
 * is stable for the life of the TPM's endorsement seed). *out_pub is
 * ESAPI-allocated (Esys_Free). The caller flushes *out. */
arca_status tpm_create_ak(tpm_conn *c, ESYS_TR *out, TPM2B_PUBLIC **out_pub);

/* Start a session salted by srk with AES-128-CFB parameter encryption and
 * the given attributes (TPMA_SESSION_*; CONTINUESESSION is always added, so
 * the caller always flushes). type is TPM2_SE_HMAC, _POLICY or _TRIAL. */
arca_status tpm_start_session(tpm_conn *c, ESYS_TR srk, TPM2_SE type, TPMA_SESSION attrs, ESYS_TR *out);

/* The PCR selection for one sha256 PCR. */
void tpm_pcr_selection(uint32_t pcr, TPML_PCR_SELECTION *out);
/* Read the sha256 value of one PCR. */
arca_status tpm_pcr_read(tpm_conn *c, uint32_t pcr, uint8_t out[32]);

/* SHA-256(signer_id || u16 product_id || u16 svn || u8 debug), big-endian:
 * what the launcher extends into the PCR. */
arca_status tpm_identity_digest(const arca_enclave_identity *id, uint8_t out[32]);
/* The PCR value after exactly one extension of a zero PCR with id's
 * digest: SHA-256(0^32 || tpm_identity_digest(id)). */
arca_status tpm_identity_pcr_value(const arca_enclave_identity *id, uint8_t out[32]);

/* Uncompressed P-256 point (x, y from a TPM public area) -> DER SPKI;
 * *out malloc'd. ARCA_ERR_DECODE if the area is not an ECC P-256 key. */
arca_status tpm_ecc_public_spki(const TPM2B_PUBLIC *pub, uint8_t **out, size_t *out_len);

/* Quote the PCR with the attestation key, qualifying data =
 * SHA-256(report_data), and build kind-2 evidence (format in
 * tpm_evidence.c) carrying ak_cert (DER, borrowed; NULL/0 when the AK is
 * not enrolled); *out malloc'd. The AK is created and flushed here.
 * ARCA_ERR_IO (logged) if the TPM fails. */
arca_status tpm_evidence_create(tpm_conn *c, uint32_t pcr, const arca_enclave_identity *id,
                                const uint8_t report_data[ARCA_REPORT_DATA_LEN], const uint8_t *ak_cert,
                                size_t ak_cert_len, uint8_t **out, size_t *out_len);

#endif
