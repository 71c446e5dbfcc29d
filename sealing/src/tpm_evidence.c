/* TPM evidence: kind 2 of the "ARCAEVD1" structure.
 *
 *   "ARCAEVD1" | u16 format(1) | u8 kind(2) |
 *   signer_id[32] | u16 product_id | u16 svn | u8 debug(0/1) | u8 pcr_index |
 *   u16-prefixed TPMS_ATTEST (the marshalled quote, as signed by the AK) |
 *   u16-prefixed TPMT_SIGNATURE (marshalled; ECDSA P-256 / SHA-256) |
 *   u16-prefixed AK SubjectPublicKeyInfo (DER, ECC P-256) |
 *   u16-prefixed AK certificate (DER X.509; empty when the TPM's AK is not
 *   enrolled: state_dir/tpm-ak.crt, tests/tools/tpm-ak-enrol.sh)
 *
 * The quote's qualifying data (extraData) is SHA-256(report_data). The
 * identity fields are claims that the verifier checks against the quoted
 * PCR: the PCR must hold exactly one extension of zero with
 * SHA-256(signer_id || product_id || svn || debug) (what
 * arca_sealing_tpm_extend_identity puts there). The image measurement is
 * not in the PCR and is not carried.
 *
 * What a verifier learns from arca_evidence_verify: that a key which only
 * signs TPM-generated data (a restricted TPM signing key) quoted the PCR
 * holding this identity, for this report data. arca_evidence_check_tpm_ak
 * adds that the AK is a genuine TPM's: its certificate, issued by the
 * operator's attestation CA after credential activation against the TPM
 * maker's EK certificate, chains to the CA the relying party accepts and
 * certifies the very key that signed the quote. Nothing is learnt about
 * other PCRs (boot chain). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <tss2/tss2_mu.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/log.h"
#include "sealing_internal.h"
#include "tpm_internal.h"

#define EVD_MAGIC "ARCAEVD1"
#define EVD_FORMAT 1u
#define EVD_MAX 4096u
#define TPM_SIG_MAX 512u

arca_status tpm_evidence_create(tpm_conn *c, uint32_t pcr, const arca_enclave_identity *id,
                                const uint8_t report_data[ARCA_REPORT_DATA_LEN], const uint8_t *ak_cert,
                                size_t ak_cert_len, uint8_t **out, size_t *out_len)
{
    arca_status st = ARCA_OK;
    ESYS_TR ak = ESYS_TR_NONE;
    TPM2B_PUBLIC *ak_pub = NULL;
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *sig = NULL;
    TPM2B_DATA qualifying;
    TPML_PCR_SELECTION sel;
    const TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL}; /* the AK's own: ECDSA-SHA256 */
    uint8_t sig_buf[TPM_SIG_MAX];
    size_t sig_len = 0;
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    arca_builder b = {0};

    memset(&qualifying, 0, sizeof qualifying);
    qualifying.size = 32;
    ARCA_GUARD(arca_sha256(report_data, ARCA_REPORT_DATA_LEN, qualifying.buffer));
    tpm_pcr_selection(pcr, &sel);

    ARCA_GUARD_OUT(tpm_create_ak(c, &ak, &ak_pub));
    TSS2_RC rc = Esys_Quote(c->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qualifying, &scheme, &sel,
                            &quoted, &sig);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("Quote", rc);
        goto out;
    }
    rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sig_buf, sizeof sig_buf, &sig_len);
    ARCA_ENSURE_OUT(rc == TSS2_RC_SUCCESS, ARCA_ERR_INTERNAL);
    ARCA_GUARD_OUT(tpm_ecc_public_spki(ak_pub, &spki, &spki_len));

    ARCA_GUARD_OUT(arca_builder_init(&b, 512, EVD_MAX));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, EVD_MAGIC, 8));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, EVD_FORMAT));
    ARCA_GUARD_OUT(arca_builder_add_u8(&b, ARCA_EVIDENCE_KIND_TPM));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, id->signer_id, sizeof id->signer_id));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, id->product_id));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, id->svn));
    ARCA_GUARD_OUT(arca_builder_add_u8(&b, id->debug ? 1 : 0));
    ARCA_GUARD_OUT(arca_builder_add_u8(&b, (uint8_t)pcr));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, quoted->attestationData, quoted->size));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, sig_buf, sig_len));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, spki, spki_len));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, ak_cert, ak_cert_len));
    ARCA_GUARD_OUT(arca_builder_finish(&b, out, out_len));
out:
    arca_builder_cleanup(&b);
    free(spki);
    Esys_Free(quoted);
    Esys_Free(sig);
    Esys_Free(ak_pub);
    tpm_flush(c, &ak);
    return st;
}

/* --- verification: no TPM and no tss2 needed, only OpenSSL --- */

typedef struct quote_fields {
    const uint8_t *extra; /* extraData */
    size_t extra_len;
    uint16_t num_banks;
    uint16_t bank_hash;
    const uint8_t *select;
    uint8_t select_len;
    const uint8_t *pcr_digest;
    size_t pcr_digest_len;
    uint32_t magic;
    uint16_t type;
} quote_fields;

/* TPMS_ATTEST (structure only; ARCA_ERR_DECODE). The magic and type are
 * returned for the caller to judge once the signature is known good. */
static arca_status parse_attest(const uint8_t *p, size_t len, quote_fields *q)
{
    arca_cursor c, signer, extra, digest;
    uint32_t count = 0;

    arca_cursor_init(&c, p, len);
    ARCA_GUARD(arca_cursor_get_u32(&c, &q->magic));
    ARCA_GUARD(arca_cursor_get_u16(&c, &q->type));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &signer)); /* qualifiedSigner: not needed */
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &extra));
    q->extra_len = arca_cursor_remaining(&extra);
    ARCA_GUARD(arca_cursor_get_bytes(&extra, q->extra_len, &q->extra));
    ARCA_GUARD(arca_cursor_skip(&c, 8 + 4 + 4 + 1)); /* clockInfo */
    ARCA_GUARD(arca_cursor_skip(&c, 8));             /* firmwareVersion */
    if (q->type != TPM2_ST_ATTEST_QUOTE) return ARCA_OK; /* judged later */
    ARCA_GUARD(arca_cursor_get_u32(&c, &count));
    ARCA_ENSURE(count == 1, ARCA_ERR_DECODE); /* we only ever quote one bank */
    q->num_banks = 1;
    ARCA_GUARD(arca_cursor_get_u16(&c, &q->bank_hash));
    ARCA_GUARD(arca_cursor_get_u8(&c, &q->select_len));
    ARCA_ENSURE(q->select_len >= 3 && q->select_len <= 4, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_bytes(&c, q->select_len, &q->select));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &digest));
    q->pcr_digest_len = arca_cursor_remaining(&digest);
    ARCA_GUARD(arca_cursor_get_bytes(&digest, q->pcr_digest_len, &q->pcr_digest));
    return arca_cursor_finish(&c);
}

/* TPMT_SIGNATURE, ECDSA-SHA256 only -> DER ECDSA-Sig-Value; *out malloc'd
 * by OpenSSL (OPENSSL_free). */
static arca_status parse_signature(const uint8_t *p, size_t len, uint8_t **out, size_t *out_len)
{
    arca_status st = ARCA_OK;
    arca_cursor c, rc_, sc_;
    uint16_t alg = 0, hash = 0;
    const uint8_t *r = NULL, *s = NULL;
    ECDSA_SIG *sig = NULL;
    BIGNUM *br = NULL, *bs = NULL;

    arca_cursor_init(&c, p, len);
    ARCA_GUARD(arca_cursor_get_u16(&c, &alg));
    ARCA_GUARD(arca_cursor_get_u16(&c, &hash));
    ARCA_ENSURE(alg == TPM2_ALG_ECDSA && hash == TPM2_ALG_SHA256, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &rc_));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &sc_));
    ARCA_GUARD(arca_cursor_finish(&c));
    size_t r_len = arca_cursor_remaining(&rc_), s_len = arca_cursor_remaining(&sc_);
    ARCA_ENSURE(r_len > 0 && r_len <= 32 && s_len > 0 && s_len <= 32, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_bytes(&rc_, r_len, &r));
    ARCA_GUARD(arca_cursor_get_bytes(&sc_, s_len, &s));

    sig = ECDSA_SIG_new();
    br = BN_bin2bn(r, (int)r_len, NULL);
    bs = BN_bin2bn(s, (int)s_len, NULL);
    ARCA_ENSURE_OUT(sig != NULL && br != NULL && bs != NULL, ARCA_ERR_NOMEM);
    ARCA_ENSURE_OUT(ECDSA_SIG_set0(sig, br, bs) == 1, ARCA_ERR_NOMEM);
    br = bs = NULL; /* owned by sig */
    uint8_t *der = NULL;
    int n = i2d_ECDSA_SIG(sig, &der);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_NOMEM);
    *out = der;
    *out_len = (size_t)n;
out:
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    return st;
}

/* DER SPKI that must be exactly one ECC P-256 public key. */
static arca_status parse_ak(const uint8_t *der, size_t der_len, EVP_PKEY **out)
{
    char group[32];
    size_t group_len = 0;
    const uint8_t *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)der_len);
    if (key == NULL || p != der + der_len || !EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &group_len) != 1 ||
        strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        return ARCA_ERR_DECODE;
    }
    *out = key;
    return ARCA_OK;
}

static arca_status verify_ecdsa(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                                size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_NOMEM);
    int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok ? ARCA_OK : ARCA_ERR_SIGNATURE_INVALID;
}

arca_status arca_evidence_verify_tpm(arca_cursor *c, const uint8_t report_data[ARCA_REPORT_DATA_LEN],
                                     arca_evidence_claims *out)
{
    arca_status st = ARCA_OK;
    arca_cursor attest_c, sig_c, spki_c, cert_c;
    const uint8_t *attest = NULL, *sig = NULL, *spki = NULL;
    uint8_t debug = 0, pcr = 0;
    uint8_t *der_sig = NULL;
    size_t der_sig_len = 0;
    uint8_t want_extra[32], want_pcr[32], want_digest[32], select[4] = {0};
    quote_fields q;
    arca_evidence_claims claims;
    EVP_PKEY *ak = NULL;

    memset(&claims, 0, sizeof claims);
    memset(&q, 0, sizeof q);
    ARCA_GUARD(arca_cursor_copy_bytes(c, claims.identity.signer_id, 32));
    ARCA_GUARD(arca_cursor_get_u16(c, &claims.identity.product_id));
    ARCA_GUARD(arca_cursor_get_u16(c, &claims.identity.svn));
    ARCA_GUARD(arca_cursor_get_u8(c, &debug));
    ARCA_ENSURE(debug <= 1, ARCA_ERR_DECODE);
    claims.identity.debug = debug == 1;
    ARCA_GUARD(arca_cursor_get_u8(c, &pcr));
    ARCA_ENSURE(pcr >= 1 && pcr <= 23, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &attest_c));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &sig_c));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &spki_c));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(c, &cert_c)); /* checked by arca_evidence_check_tpm_ak */
    ARCA_GUARD(arca_cursor_finish(c));
    size_t attest_len = arca_cursor_remaining(&attest_c);
    size_t sig_len = arca_cursor_remaining(&sig_c);
    size_t spki_len = arca_cursor_remaining(&spki_c);
    ARCA_GUARD(arca_cursor_get_bytes(&attest_c, attest_len, &attest));
    ARCA_GUARD(arca_cursor_get_bytes(&sig_c, sig_len, &sig));
    ARCA_GUARD(arca_cursor_get_bytes(&spki_c, spki_len, &spki));

    ARCA_GUARD_OUT(parse_attest(attest, attest_len, &q));
    ARCA_GUARD_OUT(parse_signature(sig, sig_len, &der_sig, &der_sig_len));
    ARCA_GUARD_OUT(parse_ak(spki, spki_len, &ak));
    ARCA_GUARD_OUT(verify_ecdsa(ak, attest, attest_len, der_sig, der_sig_len));

    /* Signed by the AK; now is it a TPM quote about what was asked? */
    ARCA_ENSURE_OUT(q.magic == TPM2_GENERATED_VALUE && q.type == TPM2_ST_ATTEST_QUOTE, ARCA_ERR_INTEGRITY);
    ARCA_GUARD_OUT(arca_sha256(report_data, ARCA_REPORT_DATA_LEN, want_extra));
    ARCA_ENSURE_OUT(q.extra_len == sizeof want_extra && memcmp(q.extra, want_extra, sizeof want_extra) == 0,
                    ARCA_ERR_INTEGRITY);
    select[pcr / 8] = (uint8_t)(1u << (pcr % 8));
    ARCA_ENSURE_OUT(q.num_banks == 1 && q.bank_hash == TPM2_ALG_SHA256 && memcmp(q.select, select, 3) == 0 &&
                        (q.select_len == 3 || q.select[3] == 0),
                    ARCA_ERR_INTEGRITY);
    ARCA_ENSURE_OUT(q.pcr_digest_len == 32, ARCA_ERR_INTEGRITY);
    /* pcrDigest = H(the selected PCR values) = H(H(0^32 || identity digest)). */
    ARCA_GUARD_OUT(tpm_identity_pcr_value(&claims.identity, want_pcr));
    ARCA_GUARD_OUT(arca_sha256(want_pcr, sizeof want_pcr, want_digest));
    ARCA_ENSURE_OUT(memcmp(q.pcr_digest, want_digest, sizeof want_digest) == 0, ARCA_ERR_ATTEST_MEASUREMENT);

    memcpy(claims.report_data, report_data, ARCA_REPORT_DATA_LEN);
    ARCA_GUARD_OUT(arca_sha256(spki, spki_len, claims.attester_key_id));
    claims.tpm_quote = true;
    claims.tpm_pcr_index = pcr;
    memcpy(claims.tpm_pcr_digest, q.pcr_digest, 32);
    *out = claims;
out:
    OPENSSL_free(der_sig);
    EVP_PKEY_free(ak);
    return st;
}

/* --- the AK certificate --- */

static arca_status say(char *msg, size_t msg_len, arca_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static arca_status say(char *msg, size_t msg_len, arca_status st, const char *fmt, ...)
{
    if (msg != NULL && msg_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_len, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* The AK SPKI and certificate of kind-2 evidence (structure only). */
static arca_status tpm_ak_fields(const uint8_t *evidence, size_t evidence_len, arca_cursor *out_spki,
                                 arca_cursor *out_cert)
{
    arca_cursor c, skip;
    const uint8_t *magic = NULL;
    uint16_t format = 0;
    uint8_t kind = 0;

    ARCA_ENSURE(evidence_len <= EVD_MAX, ARCA_ERR_DECODE);
    arca_cursor_init(&c, evidence, evidence_len);
    ARCA_GUARD(arca_cursor_get_bytes(&c, 8, &magic));
    ARCA_ENSURE(memcmp(magic, EVD_MAGIC, 8) == 0, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16(&c, &format));
    ARCA_ENSURE(format == EVD_FORMAT, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u8(&c, &kind));
    ARCA_ENSURE(kind == ARCA_EVIDENCE_KIND_TPM, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_cursor_skip(&c, 32 + 2 + 2 + 1 + 1)); /* identity, pcr index */
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &skip)); /* attest */
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &skip)); /* signature */
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, out_spki));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, out_cert));
    return arca_cursor_finish(&c);
}

arca_status arca_evidence_check_tpm_ak(const uint8_t *evidence, size_t evidence_len, const char *ca_file, char *msg,
                                       size_t msg_len)
{
    arca_status st = ARCA_OK;
    arca_cursor spki_c, cert_c;
    const uint8_t *spki = NULL, *der = NULL;
    uint8_t *cert_spki = NULL;
    X509 *cert = NULL;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    char subject[256] = "";

    if (msg != NULL && msg_len > 0) msg[0] = '\0';
    if (evidence == NULL || ca_file == NULL || ca_file[0] == '\0')
        return say(msg, msg_len, ARCA_ERR_ARGS, "evidence and an AK CA file are required");
    st = tpm_ak_fields(evidence, evidence_len, &spki_c, &cert_c);
    if (st == ARCA_ERR_ARGS) return say(msg, msg_len, st, "not TPM evidence: there is no attestation key to check");
    if (st != ARCA_OK) return say(msg, msg_len, ARCA_ERR_DECODE, "TPM evidence is malformed");
    const size_t spki_len = arca_cursor_remaining(&spki_c), cert_len = arca_cursor_remaining(&cert_c);
    if (cert_len == 0)
        return say(msg, msg_len, ARCA_ERR_ATTEST_ATTESTER,
                   "the TPM evidence carries no AK certificate: the TPM's attestation key is not enrolled with an "
                   "attestation CA");
    ARCA_GUARD(arca_cursor_get_bytes(&spki_c, spki_len, &spki));
    ARCA_GUARD(arca_cursor_get_bytes(&cert_c, cert_len, &der));

    const uint8_t *p = der;
    cert = d2i_X509(NULL, &p, (long)cert_len);
    if (cert == NULL || p != der + cert_len) {
        st = say(msg, msg_len, ARCA_ERR_DECODE, "the AK certificate in the TPM evidence is malformed");
        goto out;
    }
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    ARCA_ENSURE_OUT(store != NULL && ctx != NULL, ARCA_ERR_NOMEM);
    if (X509_STORE_load_file(store, ca_file) != 1) {
        st = say(msg, msg_len, ARCA_ERR_CONFIG, "cannot read the accepted AK CA certificate(s) from %s", ca_file);
        goto out;
    }
    ARCA_ENSURE_OUT(X509_STORE_CTX_init(ctx, store, cert, NULL) == 1, ARCA_ERR_CRYPTO);
    if (X509_verify_cert(ctx) != 1) {
        st = say(msg, msg_len, ARCA_ERR_ATTEST_ATTESTER,
                 "the AK certificate (%s) is not issued by the accepted AK CA (%s): %s", subject, ca_file,
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) != 0 &&
        (X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0) {
        st = say(msg, msg_len, ARCA_ERR_ATTEST_ATTESTER, "the AK certificate (%s) does not allow digitalSignature",
                 subject);
        goto out;
    }
    int n = i2d_PUBKEY(X509_get0_pubkey(cert), &cert_spki);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
    if ((size_t)n != spki_len || memcmp(cert_spki, spki, spki_len) != 0) {
        st = say(msg, msg_len, ARCA_ERR_ATTEST_ATTESTER,
                 "the AK certificate (%s) certifies another key than the one that signed the quote (a quote from "
                 "another TPM)",
                 subject);
        goto out;
    }
out:
    if (st == ARCA_ERR_NOMEM || st == ARCA_ERR_CRYPTO) (void)say(msg, msg_len, st, "AK certificate check failed");
    OPENSSL_free(cert_spki);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(cert);
    ERR_clear_error();
    return st;
}
