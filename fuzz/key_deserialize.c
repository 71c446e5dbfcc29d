/* libFuzzer target: arca_key_deserialize (enclave_kms/src/crypto.h), the
 * decoder of every key object's plaintext after unsealing.
 *
 * Input: the serialised key. Deserialise must fail only with DECODE (NOMEM
 * is not expected here), and must not leak secret memory. What decodes is
 * round-tripped: serialise -> deserialise -> serialise gives the same bytes
 * and a key of the same kind; for secret keys, whose encoding is the raw
 * value, the first serialisation is the input itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/secret.h"
#include "crypto.h"
#include "fuzz_check.h"

static uint8_t *serialize(const arca_key *k, size_t *out_len)
{
    arca_builder b;
    uint8_t *enc = NULL;
    CHECK(arca_builder_init_secret(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_key_serialize(k, &b) == ARCA_OK);
    CHECK(arca_builder_finish(&b, &enc, out_len) == ARCA_OK);
    return enc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const size_t in_use = arca_secmem_in_use();
    arca_cursor c;
    arca_key *k = NULL, *k2 = NULL;
    uint8_t *enc = NULL, *enc2 = NULL;
    size_t enc_len = 0, enc2_len = 0;

    arca_cursor_init(&c, data, len);
    arca_status st = arca_key_deserialize(&c, &k);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE);
        CHECK(k == NULL);
        goto out;
    }
    CHECK(k != NULL && arca_cursor_remaining(&c) == 0);
    CHECK(arca_key_is_secret(k) != (arca_key_is_private(k) || data[0] == 4));
    CHECK(arca_key_bits(k) > 0);

    enc = serialize(k, &enc_len);
    CHECK(enc_len >= 5 && enc[0] == data[0]);
    if (arca_key_is_secret(k)) CHECK(enc_len == len && memcmp(enc, data, len) == 0);
    arca_cursor_init(&c, enc, enc_len);
    CHECK(arca_key_deserialize(&c, &k2) == ARCA_OK);
    CHECK(arca_key_type(k2) == arca_key_type(k) && arca_key_bits(k2) == arca_key_bits(k));
    CHECK(arca_key_is_private(k2) == arca_key_is_private(k) && arca_key_is_secret(k2) == arca_key_is_secret(k));
    enc2 = serialize(k2, &enc2_len);
    CHECK(enc2_len == enc_len && memcmp(enc2, enc, enc_len) == 0);
out:
    arca_secmem_free(enc);
    arca_secmem_free(enc2);
    arca_key_free(k);
    arca_key_free(k2);
    CHECK(arca_secmem_in_use() == in_use);
    return 0;
}
