/* libFuzzer target: arca_evidence_verify on arbitrary bytes (the
 * "ARCAEVD1" structure a relying party receives from an appliance).
 *
 * Input: the evidence; the verifier asks for fixed report data
 * (fuzz_fixtures.h). Verify must fail only with DECODE, SIGNATURE_INVALID
 * or INTEGRITY. There is no public encoder (evidence is signed by the
 * backend's attestation key); instead accepted evidence's claims are
 * checked against its bytes, and the same evidence must be refused for
 * other report data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "arca/sealing.h"
#include "fuzz_fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const uint8_t empty[1];
    const uint8_t *ev = len ? data : empty;
    arca_evidence_claims claims, other_claims;
    uint8_t other_rd[ARCA_REPORT_DATA_LEN], key_id[32];

    arca_status st = arca_evidence_verify(ev, len, FUZZ_REPORT_DATA, &claims);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_SIGNATURE_INVALID || st == ARCA_ERR_INTEGRITY);
        return 0;
    }
    /* "ARCAEVD1" | u16 format | u8 kind | measurement | signer_id |
     * u16 product | u16 svn | u8 debug | report_data | u16 spki_len | spki */
    CHECK(len > 146);
    CHECK(data[10] == 1 && claims.insecure_dev); /* the only kind so far: dev */
    CHECK(memcmp(claims.identity.measurement, data + 11, 32) == 0);
    CHECK(memcmp(claims.identity.signer_id, data + 43, 32) == 0);
    CHECK(claims.identity.product_id == (uint16_t)(data[75] << 8 | data[76]));
    CHECK(claims.identity.svn == (uint16_t)(data[77] << 8 | data[78]));
    CHECK(claims.identity.debug == (data[79] == 1));
    CHECK(memcmp(claims.report_data, FUZZ_REPORT_DATA, ARCA_REPORT_DATA_LEN) == 0);
    size_t spki_len = (size_t)data[144] << 8 | data[145];
    CHECK(146 + spki_len < len);
    SHA256(data + 146, spki_len, key_id);
    CHECK(memcmp(claims.attester_key_id, key_id, 32) == 0);

    /* Authentic, but not about other report data. */
    memcpy(other_rd, FUZZ_REPORT_DATA, sizeof other_rd);
    other_rd[ARCA_REPORT_DATA_LEN - 1] ^= 1u;
    CHECK(arca_evidence_verify(ev, len, other_rd, &other_claims) == ARCA_ERR_INTEGRITY);
    return 0;
}
