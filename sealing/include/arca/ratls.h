/* RA-TLS: an X.509 certificate that carries the enclave's evidence.
 *
 * The interoperable form of the Confidential Computing Consortium: the
 * certificate for the enclave's TLS key has a non-critical extension
 *   2.23.133.5.4.9 (tcg-dice-tagged-evidence)
 * whose extnValue holds the DER of an OCTET STRING whose content is CBOR:
 *   #6.<tag>([ evidence: bstr, claims: bstr ])
 * claims is the encoded CBOR map
 *   { "pubkey-hash": [ "sha-256", bstr .size 32 ],   ; over the certificate's
 *                                                     ; DER SubjectPublicKeyInfo
 *     ? "nonce": bstr .size (1..64) }
 * and the evidence's report data is SHA-512(claims bytes), so the evidence
 * vouches for exactly these claims, which name exactly this key.
 *
 * CBOR tags. The evidence formats are Arca's own ("ARCAEVD1", see
 * evidence.c), so the tags are Arca's own too, chosen in the IANA CBOR tag
 * registry's First Come First Served range (32768 and up) and NOT (yet)
 * registered there: the ASCII of "ARCD" and "ARCT" as a 32-bit number.
 * Register them (or move to registered ones) before interoperating with
 * verifiers outside Arca.
 *
 * Verification treats the certificate as hostile: the DER is capped, the
 * CBOR is walked by a bounds-checked pre-pass (depth, item count, no
 * indefinite lengths, every length within the bytes that remain) before
 * libcbor loads it, and every size is capped. */
#ifndef ARCA_RATLS_H
#define ARCA_RATLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "arca/sealing.h"
#include "arca/status.h"

#define ARCA_RATLS_OID "2.23.133.5.4.9"
#define ARCA_RATLS_TAG_DEV 0x41524344u /* "ARCD": Arca dev evidence (insecure) */
#define ARCA_RATLS_TAG_TPM 0x41524354u /* "ARCT": Arca TPM evidence */

#define ARCA_RATLS_MAX_CERT_LEN (32u * 1024u)    /* DER certificate */
#define ARCA_RATLS_MAX_EXT_LEN (16u * 1024u)     /* the CBOR in the extension */
#define ARCA_RATLS_MAX_EVIDENCE_LEN (12u * 1024u) /* evidence bstr */
#define ARCA_RATLS_MAX_CLAIMS_LEN 1024u          /* claims bstr */
#define ARCA_RATLS_MAX_NONCE_LEN 64u
#define ARCA_RATLS_MAX_CN_LEN 64u
#define ARCA_RATLS_MAX_VALIDITY_SECS (10u * 366u * 24u * 3600u)
#define ARCA_RATLS_MAX_EXPORTER_LEN 255u
/* A message buffer of this size always holds the whole failure message. */
#define ARCA_RATLS_MSG_LEN 256u

typedef struct arca_ratls_cert_params {
    const char *subject_cn; /* required: 1..ARCA_RATLS_MAX_CN_LEN bytes */
    uint32_t validity_secs; /* 1..ARCA_RATLS_MAX_VALIDITY_SECS; notBefore is now - 60 s */
    const uint8_t *nonce;   /* optional "nonce" claim (NULL, or nonce_len bytes) */
    size_t nonce_len;       /* 0, or 1..ARCA_RATLS_MAX_NONCE_LEN */
} arca_ratls_cert_params;

/* Make a self-signed X.509 v3 certificate for tls_key (signed by it; SHA-256,
 * or pure EdDSA for Ed25519/Ed448), with a random serial, subject = issuer =
 * CN, basicConstraints CA:FALSE, keyUsage digitalSignature, extKeyUsage
 * serverAuth+clientAuth, and the evidence extension: claims over the SPKI
 * (and nonce), evidence from arca_sealing_evidence_create over
 * SHA-512(claims). The tag follows the sealing backend's mode.
 * Outputs: *out_cert (free with X509_free) and/or *out_der (malloc'd, free
 * with free()); either pointer may be NULL but not both; set only on
 * success. tls_key is borrowed (only its public half goes into the
 * certificate; it signs). ARCA_ERR_ARGS for a missing/overlong CN, a bad
 * validity or nonce length; ARCA_ERR_UNSUPPORTED for a backend with no
 * evidence tag; the evidence backend's status; ARCA_ERR_CRYPTO if OpenSSL
 * fails. */
ARCA_MUST_CHECK arca_status arca_ratls_cert_create(arca_sealing *s, EVP_PKEY *tls_key,
                                                   const arca_ratls_cert_params *params, X509 **out_cert,
                                                   uint8_t **out_der, size_t *out_der_len);

/* Trust policy for verification. Pointers name 32-byte values, or NULL for
 * "any". With no signer and no measurement the caller accepts any enclave
 * the evidence verifies for (fine for displaying, not for trusting). */
typedef struct arca_ratls_policy {
    const uint8_t *expected_signer_id;       /* SHA-256 of the enclave signer's SPKI */
    const uint8_t *expected_measurement;     /* SHA-256 of the enclave image */
    const uint8_t *expected_attester_key_id; /* SHA-256 of the attestation key's SPKI; pins a dev key */
    uint16_t min_svn;
    bool allow_dev;   /* accept dev (insecure, file-key-signed) evidence */
    bool allow_debug; /* accept an enclave identity flagged debug */
    /* PEM file of the accepted TPM AK CA(s), or NULL: TPM evidence must then
     * carry an AK certificate from one of them for the key that signed the
     * quote (arca_evidence_check_tpm_ak). Dev evidence has no AK: it stays
     * governed by allow_dev alone. */
    const char *tpm_ak_ca_file;
} arca_ratls_policy;

/* What a verified certificate says. */
typedef struct arca_ratls_result {
    arca_evidence_claims evidence; /* identity, report data, dev flag, attester key id */
    uint64_t tag;                  /* ARCA_RATLS_TAG_* */
    uint8_t pubkey_hash[32];       /* equals SHA-256 of the certificate's SPKI */
    uint8_t nonce[ARCA_RATLS_MAX_NONCE_LEN];
    size_t nonce_len; /* 0: the claims carry no nonce */
} arca_ratls_result;

/* Verify a certificate's evidence and apply policy: exactly one evidence
 * extension; CBOR well-formed within the caps; a known tag that agrees
 * with the evidence kind; evidence signature and report data =
 * SHA-512(claims); "pubkey-hash" = SHA-256 of this certificate's SPKI;
 * then the policy. It does NOT check the certificate's own signature,
 * validity period or chain: possession of the key is proven by the TLS
 * handshake, and an operator-CA-issued certificate for the same key may
 * carry the same extension.
 * On failure the status says which check failed and msg (if msg_len > 0;
 * always NUL-terminated, truncated to msg_len) names what did not match;
 * on success msg is "". *out is written only on success. Statuses:
 *   ARCA_ERR_TOO_LARGE        DER, extension or a CBOR string over its cap
 *   ARCA_ERR_DECODE           DER or CBOR malformed, wrong tag/shape, duplicate
 *                             evidence extension, tag that disagrees with the evidence
 *   ARCA_ERR_NOT_FOUND        no evidence extension
 *   ARCA_ERR_UNSUPPORTED      pubkey-hash with a hash algorithm other than SHA-256
 *   ARCA_ERR_SIGNATURE_INVALID evidence signature does not verify
 *   ARCA_ERR_INTEGRITY        evidence report data is not SHA-512(claims)
 *   ARCA_ERR_ATTEST_MEASUREMENT (TPM evidence) the quoted PCR does not hold
 *                             the claimed identity: a quote over other PCR values
 *   ARCA_ERR_ATTEST_BINDING   pubkey-hash is not this certificate's key
 *   ARCA_ERR_ATTEST_ATTESTER  evidence signed by another attestation key than pinned;
 *                             with tpm_ak_ca_file: TPM evidence without an AK
 *                             certificate, one not issued by an accepted CA, or
 *                             one for another key (a quote from another TPM)
 *   ARCA_ERR_CONFIG           tpm_ak_ca_file cannot be read
 *   ARCA_ERR_ATTEST_INSECURE  dev or debug evidence the policy does not allow
 *   ARCA_ERR_IMAGE_SIGNER     enclave signer is not the expected one
 *   ARCA_ERR_ATTEST_MEASUREMENT enclave measurement is not the expected one
 *   ARCA_ERR_SVN              enclave SVN below the policy's minimum
 *   ARCA_ERR_ARGS             NULL cert/policy/out */
ARCA_MUST_CHECK arca_status arca_ratls_cert_verify(const X509 *cert, const arca_ratls_policy *policy,
                                                   arca_ratls_result *out, char *msg, size_t msg_len);
/* The same for a DER certificate (exactly one certificate, nothing after
 * it; at most ARCA_RATLS_MAX_CERT_LEN bytes). */
ARCA_MUST_CHECK arca_status arca_ratls_cert_verify_der(const uint8_t *der, size_t der_len,
                                                       const arca_ratls_policy *policy, arca_ratls_result *out,
                                                       char *msg, size_t msg_len);

/* Report data binding a client nonce and a TLS exporter value of the
 * session (fresh attestation):
 *   SHA-512("arca-fresh-v1" || u16 nonce_len || nonce || u16 exporter_len || exporter)
 * lengths big-endian. ARCA_ERR_ARGS for a NULL or empty nonce or exporter,
 * ARCA_ERR_TOO_LARGE for a nonce over ARCA_RATLS_MAX_NONCE_LEN or an
 * exporter over ARCA_RATLS_MAX_EXPORTER_LEN. */
ARCA_MUST_CHECK arca_status arca_ratls_fresh_report_data(const uint8_t *nonce, size_t nonce_len,
                                                         const uint8_t *exporter, size_t exporter_len,
                                                         uint8_t out[ARCA_REPORT_DATA_LEN]);

#endif
