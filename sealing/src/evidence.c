/* The "ARCAEVD1" evidence structure, built by a backend's attestation key
 * and verified by anyone:
 *   "ARCAEVD1" | u16 format(1) | u8 kind | measurement[32] | signer_id[32] |
 *   u16 product_id | u16 svn | u8 debug(0/1) | report_data[64] |
 *   u16-prefixed attester SPKI (DER, Ed25519) |
 *   u16-prefixed Ed25519 signature over everything before it */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/log.h"
#include "sealing_internal.h"

#define EVD_MAGIC "ARCAEVD1"
#define EVD_FORMAT 1u
#define EVD_MAX 4096u

arca_status arca_evidence_build(uint8_t kind, const arca_enclave_identity *id,
                                const uint8_t report_data[ARCA_REPORT_DATA_LEN], EVP_PKEY *attest_key, uint8_t **out,
                                size_t *out_len)
{
    arca_status st = ARCA_OK;
    arca_builder b = {0};
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    uint8_t sig[64];

    ARCA_ENSURE(id != NULL && report_data != NULL && attest_key != NULL && out != NULL && out_len != NULL,
                ARCA_ERR_ARGS);
    ARCA_GUARD_OUT(arca_ed25519_spki(attest_key, &spki, &spki_len));
    ARCA_GUARD_OUT(arca_builder_init(&b, 512, EVD_MAX));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, EVD_MAGIC, 8));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, EVD_FORMAT));
    ARCA_GUARD_OUT(arca_builder_add_u8(&b, kind));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, id->measurement, sizeof id->measurement));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, id->signer_id, sizeof id->signer_id));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, id->product_id));
    ARCA_GUARD_OUT(arca_builder_add_u16(&b, id->svn));
    ARCA_GUARD_OUT(arca_builder_add_u8(&b, id->debug ? 1 : 0));
    ARCA_GUARD_OUT(arca_builder_add_bytes(&b, report_data, ARCA_REPORT_DATA_LEN));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, spki, spki_len));
    ARCA_GUARD_OUT(arca_ed25519_sign(attest_key, b.data, b.len, sig));
    ARCA_GUARD_OUT(arca_builder_add_u16_prefixed(&b, sig, sizeof sig));
    ARCA_GUARD_OUT(arca_builder_finish(&b, out, out_len));
out:
    arca_builder_cleanup(&b);
    free(spki);
    return st;
}

arca_status arca_evidence_verify(const uint8_t *evidence, size_t evidence_len,
                                 const uint8_t report_data[ARCA_REPORT_DATA_LEN], arca_evidence_claims *out)
{
    arca_status st = ARCA_OK;
    arca_cursor c, spki_c, sig_c;
    const uint8_t *magic = NULL, *rd = NULL, *spki = NULL, *sig = NULL;
    uint16_t format = 0;
    uint8_t kind = 0, debug = 0;
    arca_evidence_claims claims;
    EVP_PKEY *pub = NULL;

    ARCA_ENSURE(evidence != NULL && report_data != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(evidence_len <= EVD_MAX, ARCA_ERR_DECODE);
    memset(&claims, 0, sizeof claims);
    arca_cursor_init(&c, evidence, evidence_len);
    ARCA_GUARD(arca_cursor_get_bytes(&c, 8, &magic));
    ARCA_ENSURE(memcmp(magic, EVD_MAGIC, 8) == 0, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u16(&c, &format));
    ARCA_ENSURE(format == EVD_FORMAT, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u8(&c, &kind));
    switch (kind) {
    case ARCA_EVIDENCE_KIND_DEV:
        claims.insecure_dev = true;
        break;
    case ARCA_EVIDENCE_KIND_TPM:
        return arca_evidence_verify_tpm(&c, report_data, out);
    default:
        return ARCA_ERR_DECODE;
    }
    ARCA_GUARD(arca_cursor_copy_bytes(&c, claims.identity.measurement, 32));
    ARCA_GUARD(arca_cursor_copy_bytes(&c, claims.identity.signer_id, 32));
    ARCA_GUARD(arca_cursor_get_u16(&c, &claims.identity.product_id));
    ARCA_GUARD(arca_cursor_get_u16(&c, &claims.identity.svn));
    ARCA_GUARD(arca_cursor_get_u8(&c, &debug));
    ARCA_ENSURE(debug <= 1, ARCA_ERR_DECODE);
    claims.identity.debug = debug == 1;
    ARCA_GUARD(arca_cursor_get_bytes(&c, ARCA_REPORT_DATA_LEN, &rd));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &spki_c));
    const size_t signed_len = evidence_len - arca_cursor_remaining(&c);
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &sig_c));
    ARCA_GUARD(arca_cursor_finish(&c));
    size_t spki_len = arca_cursor_remaining(&spki_c);
    ARCA_GUARD(arca_cursor_get_bytes(&spki_c, spki_len, &spki));
    size_t sig_len = arca_cursor_remaining(&sig_c);
    ARCA_GUARD(arca_cursor_get_bytes(&sig_c, sig_len, &sig));

    ARCA_GUARD_OUT(arca_ed25519_parse_spki(spki, spki_len, &pub));
    ARCA_GUARD_OUT(arca_ed25519_verify(pub, evidence, signed_len, sig, sig_len));
    /* Authentic; now is it about what the caller asked? */
    ARCA_ENSURE_OUT(memcmp(rd, report_data, ARCA_REPORT_DATA_LEN) == 0, ARCA_ERR_INTEGRITY);
    memcpy(claims.report_data, rd, ARCA_REPORT_DATA_LEN);
    ARCA_GUARD_OUT(arca_sha256(spki, spki_len, claims.attester_key_id));
    *out = claims;
out:
    EVP_PKEY_free(pub);
    return st;
}
