/* PIN hashing: scrypt (N = 2^cost, r = 8, p = 1, 16-byte salt, 32-byte
 * output) through OpenSSL's EVP_KDF "SCRYPT", compared in constant time.
 * The cost is stored with each hash so that a later change of the
 * configured cost still verifies old PINs. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "arca/log.h"
#include "kms_internal.h"

#define PIN_COST_MIN 1u
#define PIN_COST_MAX 20u

arca_status kms_pin_check_len(const char *pin)
{
    ARCA_ENSURE(pin != NULL, ARCA_ERR_PIN_INVALID);
    size_t n = strnlen(pin, ARCA_PIN_MAX + 1);
    ARCA_ENSURE(n >= ARCA_PIN_MIN && n <= ARCA_PIN_MAX, ARCA_ERR_PIN_INVALID);
    return ARCA_OK;
}

static arca_status scrypt_hash(uint32_t cost, const uint8_t salt[16], const char *pin, uint8_t out[32])
{
    arca_status st = ARCA_ERR_CRYPTO;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    uint64_t n = (uint64_t)1 << cost;
    uint32_t r = 8, p = 1;
    uint64_t maxmem = 128u * r * n + (1u << 20) + 128u * r * p;
    OSSL_PARAM params[7];
    size_t i = 0;

    ARCA_ENSURE(cost >= PIN_COST_MIN && cost <= PIN_COST_MAX, ARCA_ERR_INTERNAL);
    kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    if (kdf == NULL) goto out;
    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL) goto out;
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pin, strlen(pin));
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, 16);
    params[i++] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
    params[i++] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
    params[i++] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
    params[i++] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
    params[i] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, 32, params) != 1) {
        arca_log_openssl_errors("scrypt");
        goto out;
    }
    st = ARCA_OK;
out:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return st;
}

arca_status kms_pin_set(kms_pin *p, uint32_t cost, const char *pin)
{
    kms_pin np = {0};
    ARCA_GUARD(kms_pin_check_len(pin));
    ARCA_ENSURE(RAND_bytes(np.salt, sizeof(np.salt)) == 1, ARCA_ERR_CRYPTO);
    np.cost = (uint8_t)cost;
    ARCA_GUARD(scrypt_hash(cost, np.salt, pin, np.hash));
    *p = np;
    arca_wipe(&np, sizeof(np));
    return ARCA_OK;
}

arca_status kms_pin_verify(const kms_pin *p, const char *pin)
{
    uint8_t h[32];
    ARCA_GUARD(kms_pin_check_len(pin));
    ARCA_ENSURE(p->cost != 0, ARCA_ERR_PIN_INCORRECT); /* no PIN set */
    ARCA_GUARD(scrypt_hash(p->cost, p->salt, pin, h));
    int diff = arca_ct_memcmp(h, p->hash, sizeof(h));
    arca_wipe(h, sizeof(h));
    return diff == 0 ? ARCA_OK : ARCA_ERR_PIN_INCORRECT;
}

/* u8 cost | salt[16] | hash[32] | u32 failures */
arca_status kms_pin_encode(const kms_pin *p, arca_builder *b)
{
    ARCA_GUARD(arca_builder_add_u8(b, p->cost));
    ARCA_GUARD(arca_builder_add_bytes(b, p->salt, sizeof(p->salt)));
    ARCA_GUARD(arca_builder_add_bytes(b, p->hash, sizeof(p->hash)));
    return arca_builder_add_u32(b, p->failures);
}

arca_status kms_pin_decode(arca_cursor *c, kms_pin *out)
{
    kms_pin p = {0};
    ARCA_GUARD(arca_cursor_get_u8(c, &p.cost));
    ARCA_ENSURE(p.cost == 0 || (p.cost >= PIN_COST_MIN && p.cost <= PIN_COST_MAX), ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_copy_bytes(c, p.salt, sizeof(p.salt)));
    ARCA_GUARD(arca_cursor_copy_bytes(c, p.hash, sizeof(p.hash)));
    ARCA_GUARD(arca_cursor_get_u32(c, &p.failures));
    *out = p;
    return ARCA_OK;
}
