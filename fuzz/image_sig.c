/* libFuzzer target: enclave image signature structures (image_sig.h), which
 * arcad reads from <image>.sig next to the image before it launches it.
 *
 * Input: the signature structure, checked against a fixed small image
 * (fuzz_fixtures.h). arca_image_sig_parse and arca_image_verify must agree
 * with each other and fail only with their documented statuses. There is
 * no encoder to round-trip through (making a structure takes the signer's
 * private key); instead an accepted structure's claimed fields are checked
 * against its bytes, and verify is run with the right and a wrong expected
 * signer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "arca/image_sig.h"
#include "fuzz_fixtures.h"

static bool same_identity(const arca_enclave_identity *a, const arca_enclave_identity *b)
{
    return memcmp(a->measurement, b->measurement, 32) == 0 && memcmp(a->signer_id, b->signer_id, 32) == 0 &&
           a->product_id == b->product_id && a->svn == b->svn && a->debug == b->debug;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const uint8_t empty[1];
    const uint8_t *sig = len ? data : empty;
    arca_enclave_identity id, id2, id3;
    uint8_t image_hash[32];

    arca_status st = arca_image_sig_parse(sig, len, &id);
    arca_status vst = arca_image_verify(sig, len, FUZZ_IMAGE, sizeof FUZZ_IMAGE, NULL, &id2);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_IMAGE_SIGNATURE);
        CHECK(vst == st); /* structure and signature are checked first */
        return 0;
    }
    /* Fixed layout up to the key: "ARCASIG1" | u16 format | measurement |
     * signer_id | u16 product | u16 svn | u32 flags. */
    CHECK(len > 84 && len <= ARCA_IMAGE_SIG_MAX);
    CHECK(memcmp(id.measurement, data + 10, 32) == 0 && memcmp(id.signer_id, data + 42, 32) == 0);
    CHECK(id.product_id == (uint16_t)(data[74] << 8 | data[75]) && id.svn == (uint16_t)(data[76] << 8 | data[77]));
    CHECK(id.debug == ((data[81] & 1u) != 0));

    SHA256(FUZZ_IMAGE, sizeof FUZZ_IMAGE, image_hash);
    if (memcmp(image_hash, id.measurement, 32) == 0) {
        CHECK(vst == ARCA_OK && same_identity(&id, &id2));
    } else {
        CHECK(vst == ARCA_ERR_IMAGE_MEASUREMENT);
    }
    /* The signer pin: the right one changes nothing, a wrong one fails
     * before the measurement is looked at. */
    CHECK(arca_image_verify(sig, len, FUZZ_IMAGE, sizeof FUZZ_IMAGE, id.signer_id, &id3) == vst);
    uint8_t other[32];
    memcpy(other, id.signer_id, 32);
    other[0] ^= 1u;
    CHECK(arca_image_verify(sig, len, FUZZ_IMAGE, sizeof FUZZ_IMAGE, other, &id3) == ARCA_ERR_IMAGE_SIGNER);
    return 0;
}
