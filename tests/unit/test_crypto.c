/* Unit tests for enclave_kms/src/crypto*.c: every key type with each of its
 * mechanisms, checked against independent OpenSSL calls and published test
 * vectors, and every error path with its exact status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "crypto.h"

static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_P521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t OID_SECP256K1[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};
static const uint8_t OID_ED25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

/* Keys shared by the tests (RSA generation is slow). */
static arca_key *g_rsa, *g_p256, *g_p384, *g_p521, *g_ed, *g_aes128, *g_aes256, *g_hmac;

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned int v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void bnew(arca_builder *b) { assert_int_equal(arca_builder_init(b, 64, 1u << 20), ARCA_OK); }

static EVP_PKEY *ossl_pub(const arca_key *k)
{
    arca_builder b;
    const unsigned char *p;
    EVP_PKEY *pk;

    bnew(&b);
    assert_int_equal(arca_key_public_info(k, &b), ARCA_OK);
    p = b.data;
    pk = d2i_PUBKEY(NULL, &p, (long)b.len);
    assert_non_null(pk);
    arca_builder_cleanup(&b);
    return pk;
}

static arca_mechanism mech(uint32_t type)
{
    arca_mechanism m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    return m;
}

static int group_setup(void **state)
{
    (void)state;
    if (arca_key_generate_rsa(2048, &g_rsa) != ARCA_OK) return -1;
    if (arca_key_generate_ec(OID_P256, sizeof(OID_P256), &g_p256) != ARCA_OK) return -1;
    if (arca_key_generate_ec(OID_P384, sizeof(OID_P384), &g_p384) != ARCA_OK) return -1;
    if (arca_key_generate_ec(OID_P521, sizeof(OID_P521), &g_p521) != ARCA_OK) return -1;
    if (arca_key_generate_ed25519(&g_ed) != ARCA_OK) return -1;
    if (arca_key_generate_secret(CKK_AES, 16, &g_aes128) != ARCA_OK) return -1;
    if (arca_key_generate_secret(CKK_AES, 32, &g_aes256) != ARCA_OK) return -1;
    if (arca_key_generate_secret(CKK_GENERIC_SECRET, 48, &g_hmac) != ARCA_OK) return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    arca_key_free(g_rsa);
    arca_key_free(g_p256);
    arca_key_free(g_p384);
    arca_key_free(g_p521);
    arca_key_free(g_ed);
    arca_key_free(g_aes128);
    arca_key_free(g_aes256);
    arca_key_free(g_hmac);
    return 0;
}

/* ---- generation and import ---- */

static void test_generate_sizes(void **state)
{
    arca_key *k = NULL;
    (void)state;
    assert_int_equal(arca_key_generate_secret(CKK_AES, 24, &k), ARCA_OK);
    assert_int_equal(arca_key_type(k), CKK_AES);
    assert_true(arca_key_is_secret(k));
    assert_false(arca_key_is_private(k));
    assert_int_equal(arca_key_bits(k), 192);
    arca_key_free(k);
    assert_int_equal(arca_key_generate_secret(CKK_AES, 20, &k), ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_key_generate_secret(CKK_GENERIC_SECRET, 0, &k), ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_key_generate_secret(CKK_GENERIC_SECRET, 513, &k), ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_key_generate_secret(CKK_GENERIC_SECRET, 512, &k), ARCA_OK);
    arca_key_free(k);
    assert_int_equal(arca_key_generate_secret(CKK_DES3, 24, &k), ARCA_ERR_ATTRIBUTE_VALUE);
    assert_int_equal(arca_key_from_secret(CKK_AES, (const uint8_t *)"0123456789abcdef0123", 20, &k),
                     ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_key_generate_rsa(1024, &k), ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_key_generate_rsa(2560, &k), ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_key_generate_ec(OID_SECP256K1, sizeof(OID_SECP256K1), &k), ARCA_ERR_ATTRIBUTE_VALUE);
    assert_int_equal(arca_key_generate_ec(OID_P256, sizeof(OID_P256) - 1, &k), ARCA_ERR_ATTRIBUTE_VALUE);
    assert_int_equal(arca_key_generate_ec(NULL, 0, &k), ARCA_ERR_ATTRIBUTE_VALUE);

    assert_true(arca_key_ec_params_is_ed25519(OID_ED25519, sizeof(OID_ED25519)));
    assert_true(arca_key_ec_params_is_ed25519((const uint8_t *)"\x13\x0c" "edwards25519", 14));
    assert_false(arca_key_ec_params_is_ed25519(OID_P256, sizeof(OID_P256)));
    assert_false(arca_key_ec_params_is_ed25519(OID_ED25519, sizeof(OID_ED25519) - 1));
    assert_false(arca_key_ec_params_is_ed25519(NULL, 0));

    assert_int_equal(arca_key_type(g_rsa), CKK_RSA);
    assert_int_equal(arca_key_bits(g_rsa), 2048);
    assert_true(arca_key_is_private(g_rsa));
    assert_int_equal(arca_key_type(g_p384), CKK_EC);
    assert_int_equal(arca_key_bits(g_p384), 384);
    assert_int_equal(arca_key_bits(g_p521), 521);
    assert_int_equal(arca_key_type(g_ed), CKK_EC_EDWARDS);
    assert_true(arca_key_mem_estimate(g_rsa) > 1024);
}

static arca_status import_ossl_private(EVP_PKEY *pk, arca_key **out)
{
    unsigned char *der = NULL;
    int n;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
    arca_status st;

    assert_non_null(p8);
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    assert_true(n > 0);
    st = arca_key_from_private_der(der, (size_t)n, out);
    OPENSSL_clear_free(der, (size_t)n);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return st;
}

static void test_import_private(void **state)
{
    arca_key *k = NULL;
    EVP_PKEY *pk;
    (void)state;

    pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    assert_int_equal(import_ossl_private(pk, &k), ARCA_ERR_KEY_SIZE);
    EVP_PKEY_free(pk);

    pk = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    assert_int_equal(import_ossl_private(pk, &k), ARCA_ERR_ATTRIBUTE_VALUE);
    EVP_PKEY_free(pk);

    pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    assert_int_equal(import_ossl_private(pk, &k), ARCA_ERR_ATTRIBUTE_VALUE);
    EVP_PKEY_free(pk);

    pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_int_equal(import_ossl_private(pk, &k), ARCA_OK);
    assert_int_equal(arca_key_type(k), CKK_EC);
    assert_int_equal(arca_key_bits(k), 384);
    assert_true(arca_key_is_private(k));
    EVP_PKEY_free(pk);
    arca_key_free(k);

    {
        static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
        assert_int_equal(arca_key_from_private_der(junk, sizeof(junk), &k), ARCA_ERR_ATTRIBUTE_VALUE);
    }
    /* Trailing byte after a valid PKCS#8. */
    {
        arca_builder b;
        bnew(&b);
        assert_int_equal(arca_key_serialize(g_p256, &b), ARCA_OK);
        assert_int_equal(arca_builder_add_u8(&b, 0), ARCA_OK);
        assert_int_equal(arca_key_from_private_der(b.data + 5, b.len - 5, &k), ARCA_ERR_ATTRIBUTE_VALUE);
        assert_int_equal(arca_key_from_private_der(b.data + 5, b.len - 6, &k), ARCA_OK);
        arca_key_free(k);
        arca_builder_cleanup(&b);
    }
}

static void test_public_import_and_attrs(void **state)
{
    arca_builder b, b2;
    arca_key *pub = NULL;
    EVP_PKEY *pk;
    BIGNUM *n = NULL;
    uint8_t nbuf[512];
    size_t plen = 0;
    uint8_t pt[200];
    (void)state;

    /* RSA modulus and exponent against OpenSSL. */
    bnew(&b);
    assert_int_equal(arca_key_rsa_modulus(g_rsa, &b), ARCA_OK);
    pk = ossl_pub(g_rsa);
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(b.len, 256);
    assert_int_equal(BN_bn2bin(n, nbuf), 256);
    assert_memory_equal(b.data, nbuf, 256);
    BN_free(n);
    EVP_PKEY_free(pk);
    arca_builder_cleanup(&b);
    bnew(&b);
    assert_int_equal(arca_key_rsa_public_exponent(g_rsa, &b), ARCA_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\x01\x00\x01", 3);
    arca_builder_cleanup(&b);

    /* EC params and point. */
    bnew(&b);
    assert_int_equal(arca_key_ec_params(g_p256, &b), ARCA_OK);
    assert_int_equal(b.len, sizeof(OID_P256));
    assert_memory_equal(b.data, OID_P256, sizeof(OID_P256));
    arca_builder_cleanup(&b);
    bnew(&b);
    assert_int_equal(arca_key_ec_point(g_p256, &b), ARCA_OK);
    pk = ossl_pub(g_p256);
    assert_int_equal(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &plen), 1);
    assert_int_equal(plen, 65);
    assert_int_equal(b.len, 67);
    assert_int_equal(b.data[0], 0x04);
    assert_int_equal(b.data[1], 65);
    assert_memory_equal(b.data + 2, pt, 65);
    EVP_PKEY_free(pk);
    arca_builder_cleanup(&b);
    bnew(&b);
    assert_int_equal(arca_key_ec_point(g_p521, &b), ARCA_OK);
    assert_int_equal(b.len, 3 + 133);
    assert_memory_equal(b.data, "\x04\x81\x85\x04", 4);
    arca_builder_cleanup(&b);

    /* Ed25519 params and point. */
    bnew(&b);
    assert_int_equal(arca_key_ec_params(g_ed, &b), ARCA_OK);
    assert_int_equal(b.len, sizeof(OID_ED25519));
    assert_memory_equal(b.data, OID_ED25519, sizeof(OID_ED25519));
    arca_builder_cleanup(&b);
    bnew(&b);
    assert_int_equal(arca_key_ec_point(g_ed, &b), ARCA_OK);
    assert_int_equal(b.len, 34);
    assert_memory_equal(b.data, "\x04\x20", 2);
    arca_builder_cleanup(&b);

    /* Not applicable. */
    bnew(&b);
    assert_int_equal(arca_key_public_info(g_aes128, &b), ARCA_ERR_ATTRIBUTE_TYPE);
    assert_int_equal(arca_key_rsa_modulus(g_p256, &b), ARCA_ERR_ATTRIBUTE_TYPE);
    assert_int_equal(arca_key_ec_params(g_rsa, &b), ARCA_ERR_ATTRIBUTE_TYPE);
    assert_int_equal(arca_key_ec_point(g_hmac, &b), ARCA_ERR_ATTRIBUTE_TYPE);
    assert_int_equal(arca_key_secret_value(g_rsa, &b), ARCA_ERR_ATTRIBUTE_TYPE);
    arca_builder_cleanup(&b);

    /* Public half: SPKI import round trip. */
    assert_int_equal(arca_key_public_from_private(g_p384, &pub), ARCA_OK);
    assert_false(arca_key_is_private(pub));
    assert_false(arca_key_is_secret(pub));
    assert_int_equal(arca_key_type(pub), CKK_EC);
    bnew(&b);
    bnew(&b2);
    assert_int_equal(arca_key_public_info(pub, &b), ARCA_OK);
    assert_int_equal(arca_key_public_info(g_p384, &b2), ARCA_OK);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    {
        arca_key *none = NULL;
        assert_int_equal(arca_key_from_public_der(b.data, b.len - 1, &none), ARCA_ERR_ATTRIBUTE_VALUE);
        assert_null(none);
    }
    arca_builder_cleanup(&b);
    arca_builder_cleanup(&b2);
    arca_key_free(pub);
}

static void test_check_value(void **state)
{
    static const uint8_t zero[16];
    arca_key *k = NULL;
    arca_builder b;
    (void)state;

    assert_int_equal(arca_key_from_secret(CKK_AES, zero, 16, &k), ARCA_OK);
    bnew(&b);
    assert_int_equal(arca_key_check_value(k, &b), ARCA_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\x66\xe9\x4b", 3); /* AES-128(0^16, 0^16) = 66e94bd4... */
    arca_builder_cleanup(&b);
    bnew(&b);
    assert_int_equal(arca_key_check_value(g_p256, &b), ARCA_OK);
    assert_int_equal(b.len, 3);
    arca_builder_cleanup(&b);
    arca_key_free(k);
}

static void roundtrip(const arca_key *k)
{
    arca_builder b, b2;
    arca_cursor c;
    arca_key *k2 = NULL;

    assert_int_equal(arca_builder_init_secret(&b, 64, 1u << 16), ARCA_OK);
    assert_int_equal(arca_key_serialize(k, &b), ARCA_OK);
    arca_cursor_init(&c, b.data, b.len);
    assert_int_equal(arca_key_deserialize(&c, &k2), ARCA_OK);
    assert_int_equal(arca_key_type(k2), arca_key_type(k));
    assert_int_equal(arca_key_bits(k2), arca_key_bits(k));
    assert_int_equal(arca_key_is_private(k2), arca_key_is_private(k));
    assert_int_equal(arca_key_is_secret(k2), arca_key_is_secret(k));
    assert_int_equal(arca_builder_init_secret(&b2, 64, 1u << 16), ARCA_OK);
    assert_int_equal(arca_key_serialize(k2, &b2), ARCA_OK);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    arca_key_free(k2);
    /* Truncated input. */
    arca_cursor_init(&c, b.data, b.len - 1);
    assert_int_equal(arca_key_deserialize(&c, &k2), ARCA_ERR_DECODE);
    arca_cursor_init(&c, b.data, 1);
    assert_int_equal(arca_key_deserialize(&c, &k2), ARCA_ERR_DECODE);
    /* Trailing byte. */
    assert_int_equal(arca_builder_add_u8(&b, 0), ARCA_OK);
    arca_cursor_init(&c, b.data, b.len);
    assert_int_equal(arca_key_deserialize(&c, &k2), ARCA_ERR_DECODE);
    arca_builder_cleanup(&b);
    arca_builder_cleanup(&b2);
}

static void test_serialize(void **state)
{
    arca_key *pub = NULL, *k = NULL;
    arca_cursor c;
    static const uint8_t bad_kind[] = {9, 0, 0, 0, 1, 2};
    static const uint8_t short_aes[] = {1, 0, 0, 0, 3, 1, 2, 3};
    static const uint8_t bad_der[] = {3, 0, 0, 0, 2, 0x30, 0x00};
    (void)state;

    roundtrip(g_rsa);
    roundtrip(g_p256);
    roundtrip(g_p521);
    roundtrip(g_ed);
    roundtrip(g_aes128);
    roundtrip(g_hmac);
    assert_int_equal(arca_key_public_from_private(g_rsa, &pub), ARCA_OK);
    roundtrip(pub);
    arca_key_free(pub);

    arca_cursor_init(&c, bad_kind, sizeof(bad_kind));
    assert_int_equal(arca_key_deserialize(&c, &k), ARCA_ERR_DECODE);
    arca_cursor_init(&c, bad_kind, 0);
    assert_int_equal(arca_key_deserialize(&c, &k), ARCA_ERR_DECODE);
    arca_cursor_init(&c, short_aes, sizeof(short_aes));
    assert_int_equal(arca_key_deserialize(&c, &k), ARCA_ERR_DECODE);
    arca_cursor_init(&c, bad_der, sizeof(bad_der));
    assert_int_equal(arca_key_deserialize(&c, &k), ARCA_ERR_DECODE);
}

/* ---- signatures ---- */

static void sign_ok(const arca_key *k, const arca_mechanism *m, const uint8_t *data, size_t len, arca_builder *sig)
{
    bnew(sig);
    assert_int_equal(arca_crypto_sign(k, m, data, len, sig), ARCA_OK);
    assert_int_equal(arca_crypto_verify(k, m, data, len, sig->data, sig->len), ARCA_OK);
    /* Flip one bit: invalid. */
    sig->data[sig->len / 2] ^= 0x01;
    assert_int_equal(arca_crypto_verify(k, m, data, len, sig->data, sig->len), ARCA_ERR_SIGNATURE_INVALID);
    sig->data[sig->len / 2] ^= 0x01;
}

/* Independent check of an r||s signature with OpenSSL. */
static void ossl_verify_ecdsa(const arca_key *k, const EVP_MD *md, const uint8_t *data, size_t len,
                              const uint8_t *raw, size_t raw_len)
{
    EVP_PKEY *pk = ossl_pub(k);
    size_t fb = raw_len / 2;
    ECDSA_SIG *s = ECDSA_SIG_new();
    unsigned char *der = NULL;
    int der_len;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();

    assert_int_equal(ECDSA_SIG_set0(s, BN_bin2bn(raw, (int)fb, NULL), BN_bin2bn(raw + fb, (int)fb, NULL)), 1);
    der_len = i2d_ECDSA_SIG(s, &der);
    assert_true(der_len > 0);
    if (md != NULL) {
        assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, md, NULL, pk), 1);
        assert_int_equal(EVP_DigestVerify(mctx, der, (size_t)der_len, data, len), 1);
    } else {
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pk, NULL);
        assert_int_equal(EVP_PKEY_verify_init(pctx), 1);
        assert_int_equal(EVP_PKEY_verify(pctx, der, (size_t)der_len, data, len), 1);
        EVP_PKEY_CTX_free(pctx);
    }
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
    EVP_PKEY_free(pk);
}

static void test_ecdsa(void **state)
{
    const uint8_t msg[] = "the quick brown fox";
    uint8_t h[32];
    arca_builder sig;
    arca_mechanism m;
    struct {
        arca_key *k;
        size_t fb;
    } keys[] = {{g_p256, 32}, {g_p384, 48}, {g_p521, 66}};
    (void)state;

    SHA256(msg, sizeof(msg), h);
    for (size_t i = 0; i < 3; i++) {
        m = mech(CKM_ECDSA);
        sign_ok(keys[i].k, &m, h, sizeof(h), &sig);
        assert_int_equal(sig.len, 2 * keys[i].fb);
        ossl_verify_ecdsa(keys[i].k, NULL, h, sizeof(h), sig.data, sig.len);
        /* Wrong length: invalid. */
        assert_int_equal(arca_crypto_verify(keys[i].k, &m, h, sizeof(h), sig.data, sig.len - 1),
                         ARCA_ERR_SIGNATURE_INVALID);
        arca_builder_cleanup(&sig);

        m = mech(CKM_ECDSA_SHA256);
        sign_ok(keys[i].k, &m, msg, sizeof(msg), &sig);
        ossl_verify_ecdsa(keys[i].k, EVP_sha256(), msg, sizeof(msg), sig.data, sig.len);
        arca_builder_cleanup(&sig);
        m = mech(CKM_ECDSA_SHA384);
        sign_ok(keys[i].k, &m, msg, sizeof(msg), &sig);
        ossl_verify_ecdsa(keys[i].k, EVP_sha384(), msg, sizeof(msg), sig.data, sig.len);
        arca_builder_cleanup(&sig);
        m = mech(CKM_ECDSA_SHA512);
        sign_ok(keys[i].k, &m, msg, sizeof(msg), &sig);
        ossl_verify_ecdsa(keys[i].k, EVP_sha512(), msg, sizeof(msg), sig.data, sig.len);
        arca_builder_cleanup(&sig);
    }
    /* Errors. */
    bnew(&sig);
    m = mech(CKM_ECDSA);
    assert_int_equal(arca_crypto_sign(g_aes128, &m, h, sizeof(h), &sig), ARCA_ERR_KEY_TYPE);
    assert_int_equal(arca_crypto_sign(g_rsa, &m, h, sizeof(h), &sig), ARCA_ERR_KEY_TYPE);
    assert_int_equal(arca_crypto_sign(g_p256, &m, h, 0, &sig), ARCA_ERR_DATA_LEN);
    m = mech(CKM_MD5);
    assert_int_equal(arca_crypto_sign(g_p256, &m, h, sizeof(h), &sig), ARCA_ERR_MECHANISM);
    m = mech(CKM_AES_GCM); /* known, but not for signing */
    assert_int_equal(arca_crypto_sign(g_p256, &m, h, sizeof(h), &sig), ARCA_ERR_MECHANISM);
    assert_int_equal(sig.len, 0);
    {
        arca_key *pub = NULL;
        m = mech(CKM_ECDSA);
        assert_int_equal(arca_key_public_from_private(g_p256, &pub), ARCA_OK);
        assert_int_equal(arca_crypto_sign(pub, &m, h, sizeof(h), &sig), ARCA_ERR_KEY_TYPE);
        /* The public half verifies what the private half signed. */
        assert_int_equal(arca_crypto_sign(g_p256, &m, h, sizeof(h), &sig), ARCA_OK);
        assert_int_equal(arca_crypto_verify(pub, &m, h, sizeof(h), sig.data, sig.len), ARCA_OK);
        arca_key_free(pub);
    }
    arca_builder_cleanup(&sig);
}

static void test_eddsa(void **state)
{
    const uint8_t msg[] = "message to sign with Ed25519";
    arca_builder sig;
    arca_mechanism m = mech(CKM_EDDSA);
    EVP_PKEY *pk;
    EVP_MD_CTX *mctx;
    (void)state;

    sign_ok(g_ed, &m, msg, sizeof(msg), &sig);
    assert_int_equal(sig.len, 64);
    pk = ossl_pub(g_ed);
    mctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(mctx, sig.data, sig.len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pk);
    arca_builder_cleanup(&sig);
    bnew(&sig);
    assert_int_equal(arca_crypto_sign(g_p256, &m, msg, sizeof(msg), &sig), ARCA_ERR_KEY_TYPE);
    m = mech(CKM_ECDSA);
    assert_int_equal(arca_crypto_sign(g_ed, &m, msg, 32, &sig), ARCA_ERR_KEY_TYPE);
    arca_builder_cleanup(&sig);
}

static void test_rsa_pkcs1(void **state)
{
    static const uint8_t sha256_prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                            0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    const uint8_t msg[] = "sign me with RSA";
    uint8_t di[sizeof(sha256_prefix) + 32];
    arca_builder s1, s2;
    arca_mechanism m;
    EVP_PKEY *pk;
    EVP_MD_CTX *mctx;
    uint8_t big[256];
    (void)state;

    memcpy(di, sha256_prefix, sizeof(sha256_prefix));
    SHA256(msg, sizeof(msg), di + sizeof(sha256_prefix));
    m = mech(CKM_RSA_PKCS);
    sign_ok(g_rsa, &m, di, sizeof(di), &s1);
    m = mech(CKM_SHA256_RSA_PKCS);
    sign_ok(g_rsa, &m, msg, sizeof(msg), &s2);
    /* PKCS#1 v1.5 is deterministic: raw DigestInfo == hash-then-sign. */
    assert_int_equal(s1.len, 256);
    assert_int_equal(s1.len, s2.len);
    assert_memory_equal(s1.data, s2.data, s1.len);
    pk = ossl_pub(g_rsa);
    mctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(mctx, s2.data, s2.len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pk);
    arca_builder_cleanup(&s1);
    arca_builder_cleanup(&s2);

    m = mech(CKM_SHA384_RSA_PKCS);
    sign_ok(g_rsa, &m, msg, sizeof(msg), &s1);
    arca_builder_cleanup(&s1);
    m = mech(CKM_SHA512_RSA_PKCS);
    sign_ok(g_rsa, &m, msg, sizeof(msg), &s1);
    arca_builder_cleanup(&s1);

    /* Raw input longer than k - 11. */
    memset(big, 1, sizeof(big));
    bnew(&s1);
    m = mech(CKM_RSA_PKCS);
    assert_int_equal(arca_crypto_sign(g_rsa, &m, big, 246, &s1), ARCA_ERR_DATA_LEN);
    assert_int_equal(arca_crypto_sign(g_rsa, &m, big, 245, &s1), ARCA_OK);
    m = mech(CKM_SHA256_RSA_PKCS);
    assert_int_equal(arca_crypto_sign(g_p256, &m, msg, sizeof(msg), &s1), ARCA_ERR_KEY_TYPE);
    arca_builder_cleanup(&s1);
}

static void test_rsa_pss(void **state)
{
    const uint8_t msg[] = "sign me with RSA-PSS";
    uint8_t h[32];
    arca_builder sig;
    arca_mechanism m;
    EVP_PKEY *pk;
    EVP_MD_CTX *mctx;
    EVP_PKEY_CTX *pctx = NULL;
    (void)state;

    SHA256(msg, sizeof(msg), h);
    m = mech(CKM_RSA_PKCS_PSS);
    m.hash = CKM_SHA256;
    m.mgf = CKG_MGF1_SHA256;
    m.salt_len = 32;
    sign_ok(g_rsa, &m, h, sizeof(h), &sig);
    arca_builder_cleanup(&sig);

    m = mech(CKM_SHA256_RSA_PKCS_PSS);
    m.salt_len = 32;
    sign_ok(g_rsa, &m, msg, sizeof(msg), &sig);
    /* The raw-hash mechanism verifies the same signature. */
    {
        arca_mechanism raw = mech(CKM_RSA_PKCS_PSS);
        raw.hash = CKM_SHA256;
        raw.salt_len = 32;
        assert_int_equal(arca_crypto_verify(g_rsa, &raw, h, sizeof(h), sig.data, sig.len), ARCA_OK);
    }
    pk = ossl_pub(g_rsa);
    mctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
    assert_int_equal(EVP_DigestVerify(mctx, sig.data, sig.len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pk);
    arca_builder_cleanup(&sig);

    m = mech(CKM_SHA512_RSA_PKCS_PSS);
    m.salt_len = 64;
    m.mgf = CKG_MGF1_SHA512;
    sign_ok(g_rsa, &m, msg, sizeof(msg), &sig);
    arca_builder_cleanup(&sig);

    bnew(&sig);
    m = mech(CKM_RSA_PKCS_PSS);
    m.hash = CKM_SHA256;
    m.salt_len = 32;
    assert_int_equal(arca_crypto_sign(g_rsa, &m, h, 31, &sig), ARCA_ERR_DATA_LEN);
    m.hash = CKM_MD5;
    assert_int_equal(arca_crypto_sign(g_rsa, &m, h, 32, &sig), ARCA_ERR_MECHANISM_PARAM);
    m.hash = CKM_SHA256;
    m.mgf = 0x77;
    assert_int_equal(arca_crypto_sign(g_rsa, &m, h, 32, &sig), ARCA_ERR_MECHANISM_PARAM);
    m.mgf = 0;
    m.salt_len = 256 - 32 - 1; /* too long for a 2048-bit modulus */
    assert_int_equal(arca_crypto_sign(g_rsa, &m, h, 32, &sig), ARCA_ERR_MECHANISM_PARAM);
    m = mech(CKM_SHA256_RSA_PKCS_PSS);
    m.hash = CKM_SHA384; /* contradicts the mechanism */
    assert_int_equal(arca_crypto_sign(g_rsa, &m, msg, sizeof(msg), &sig), ARCA_ERR_MECHANISM_PARAM);
    assert_int_equal(sig.len, 0);
    arca_builder_cleanup(&sig);
}

static void test_hmac(void **state)
{
    /* RFC 4231 test case 2. */
    const char *data = "what do ya want for nothing?";
    uint8_t expect[32];
    arca_key *k = NULL;
    arca_builder mac;
    arca_mechanism m = mech(CKM_SHA256_HMAC);
    (void)state;

    unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", expect);
    assert_int_equal(arca_key_from_secret(CKK_GENERIC_SECRET, (const uint8_t *)"Jefe", 4, &k), ARCA_OK);
    sign_ok(k, &m, (const uint8_t *)data, strlen(data), &mac);
    assert_int_equal(mac.len, 32);
    assert_memory_equal(mac.data, expect, 32);
    assert_int_equal(arca_crypto_verify(k, &m, (const uint8_t *)data, strlen(data), mac.data, 31),
                     ARCA_ERR_SIGNATURE_INVALID);
    arca_builder_cleanup(&mac);
    m = mech(CKM_SHA384_HMAC);
    sign_ok(g_hmac, &m, (const uint8_t *)data, 3, &mac);
    assert_int_equal(mac.len, 48);
    arca_builder_cleanup(&mac);
    m = mech(CKM_SHA512_HMAC);
    sign_ok(g_aes256, &m, (const uint8_t *)data, 3, &mac);
    assert_int_equal(mac.len, 64);
    arca_builder_cleanup(&mac);
    bnew(&mac);
    assert_int_equal(arca_crypto_sign(g_p256, &m, (const uint8_t *)data, 3, &mac), ARCA_ERR_KEY_TYPE);
    arca_builder_cleanup(&mac);
    arca_key_free(k);
}

/* ---- encryption ---- */

static void test_gcm_vector(void **state)
{
    /* McGrew & Viega, GCM test case 3 (AES-128). */
    uint8_t key[16], iv[12], pt[64], ct[64 + 16];
    arca_key *k = NULL;
    arca_builder out;
    arca_mechanism m = mech(CKM_AES_GCM);
    (void)state;

    unhex("feffe9928665731c6d6a8f9467308308", key);
    unhex("cafebabefacedbaddecaf888", iv);
    unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
          pt);
    unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
          "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
          "4d5c2af327cd64a62cf35abd2ba6fab4",
          ct);
    assert_int_equal(arca_key_from_secret(CKK_AES, key, 16, &k), ARCA_OK);
    m.iv = iv;
    m.iv_len = 12;
    bnew(&out);
    assert_int_equal(arca_crypto_decrypt(k, &m, ct, sizeof(ct), &out), ARCA_OK);
    assert_int_equal(out.len, 64);
    assert_memory_equal(out.data, pt, 64);
    arca_builder_cleanup(&out);
    bnew(&out);
    assert_int_equal(arca_crypto_encrypt(k, &m, pt, sizeof(pt), &out), ARCA_OK);
    assert_int_equal(out.len, sizeof(ct));
    assert_memory_equal(out.data, ct, sizeof(ct));
    arca_builder_cleanup(&out);
    /* Tampered tag and tampered ciphertext. */
    bnew(&out);
    ct[sizeof(ct) - 1] ^= 1;
    assert_int_equal(arca_crypto_decrypt(k, &m, ct, sizeof(ct), &out), ARCA_ERR_SIGNATURE_INVALID);
    ct[sizeof(ct) - 1] ^= 1;
    ct[0] ^= 1;
    assert_int_equal(arca_crypto_decrypt(k, &m, ct, sizeof(ct), &out), ARCA_ERR_SIGNATURE_INVALID);
    ct[0] ^= 1;
    assert_int_equal(out.len, 0); /* no unauthenticated plaintext released */
    assert_int_equal(arca_crypto_decrypt(k, &m, ct, 15, &out), ARCA_ERR_DATA_LEN);
    arca_builder_cleanup(&out);
    arca_key_free(k);
}

static void test_gcm(void **state)
{
    const uint8_t pt[] = "plaintext that GCM protects";
    const uint8_t aad[] = "header";
    uint8_t iv[16] = {0};
    arca_builder ct, out;
    arca_mechanism m = mech(CKM_AES_GCM);
    (void)state;

    /* No IV: the enclave makes one and prepends it. */
    m.aad = aad;
    m.aad_len = sizeof(aad);
    bnew(&ct);
    assert_int_equal(arca_crypto_encrypt(g_aes256, &m, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(ct.len, 12 + sizeof(pt) + 16);
    bnew(&out);
    assert_int_equal(arca_crypto_decrypt(g_aes256, &m, ct.data, ct.len, &out), ARCA_OK);
    assert_int_equal(out.len, sizeof(pt));
    assert_memory_equal(out.data, pt, sizeof(pt));
    arca_builder_cleanup(&out);
    /* Wrong AAD. */
    bnew(&out);
    m.aad_len--;
    assert_int_equal(arca_crypto_decrypt(g_aes256, &m, ct.data, ct.len, &out), ARCA_ERR_SIGNATURE_INVALID);
    m.aad_len++;
    assert_int_equal(arca_crypto_decrypt(g_aes256, &m, ct.data, 12 + 15, &out), ARCA_ERR_DATA_LEN);
    arca_builder_cleanup(&ct);

    /* 96-bit tag. */
    m.tag_bits = 96;
    bnew(&ct);
    assert_int_equal(arca_crypto_encrypt(g_aes128, &m, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(ct.len, 12 + sizeof(pt) + 12);
    assert_int_equal(arca_crypto_decrypt(g_aes128, &m, ct.data, ct.len, &out), ARCA_OK);
    assert_memory_equal(out.data, pt, sizeof(pt));
    arca_builder_cleanup(&ct);
    arca_builder_cleanup(&out);

    /* Empty plaintext. */
    m.tag_bits = 0;
    bnew(&ct);
    bnew(&out);
    assert_int_equal(arca_crypto_encrypt(g_aes128, &m, NULL, 0, &ct), ARCA_OK);
    assert_int_equal(ct.len, 28);
    assert_int_equal(arca_crypto_decrypt(g_aes128, &m, ct.data, ct.len, &out), ARCA_OK);
    assert_int_equal(out.len, 0);

    /* Parameter errors. */
    m.tag_bits = 64;
    assert_int_equal(arca_crypto_encrypt(g_aes128, &m, pt, sizeof(pt), &ct), ARCA_ERR_MECHANISM_PARAM);
    m.tag_bits = 100;
    assert_int_equal(arca_crypto_encrypt(g_aes128, &m, pt, sizeof(pt), &ct), ARCA_ERR_MECHANISM_PARAM);
    m.tag_bits = 0;
    m.iv = iv;
    m.iv_len = 16;
    assert_int_equal(arca_crypto_encrypt(g_aes128, &m, pt, sizeof(pt), &ct), ARCA_ERR_MECHANISM_PARAM);
    assert_int_equal(arca_crypto_decrypt(g_aes128, &m, ct.data, ct.len, &out), ARCA_ERR_MECHANISM_PARAM);
    m.iv_len = 8;
    assert_int_equal(arca_crypto_encrypt(g_aes128, &m, pt, sizeof(pt), &ct), ARCA_ERR_MECHANISM_PARAM);
    m.iv_len = 12;
    assert_int_equal(arca_crypto_encrypt(g_hmac, &m, pt, sizeof(pt), &ct), ARCA_ERR_KEY_TYPE);
    assert_int_equal(arca_crypto_encrypt(g_rsa, &m, pt, sizeof(pt), &ct), ARCA_ERR_KEY_TYPE);
    arca_builder_cleanup(&ct);
    arca_builder_cleanup(&out);
}

static void test_cbc_pad(void **state)
{
    uint8_t pt[33], iv[16];
    arca_builder ct, out;
    arca_mechanism m = mech(CKM_AES_CBC_PAD);
    EVP_CIPHER_CTX *ctx;
    uint8_t ref[64];
    int l1 = 0, l2 = 0;
    arca_builder key;
    (void)state;

    memset(pt, 0x5a, sizeof(pt));
    memset(iv, 0x11, sizeof(iv));
    m.iv = iv;
    m.iv_len = 16;
    bnew(&ct);
    assert_int_equal(arca_crypto_encrypt(g_aes256, &m, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(ct.len, 48);
    /* Independent encryption gives the same bytes. */
    bnew(&key);
    assert_int_equal(arca_key_secret_value(g_aes256, &key), ARCA_OK);
    ctx = EVP_CIPHER_CTX_new();
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key.data, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, ref, &l1, pt, sizeof(pt)), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, ref + l1, &l2), 1);
    assert_int_equal(l1 + l2, 48);
    assert_memory_equal(ref, ct.data, 48);
    EVP_CIPHER_CTX_free(ctx);
    arca_builder_cleanup(&key);

    bnew(&out);
    assert_int_equal(arca_crypto_decrypt(g_aes256, &m, ct.data, ct.len, &out), ARCA_OK);
    assert_int_equal(out.len, sizeof(pt));
    assert_memory_equal(out.data, pt, sizeof(pt));
    arca_builder_cleanup(&out);
    bnew(&out);
    assert_int_equal(arca_crypto_decrypt(g_aes256, &m, ct.data, 47, &out), ARCA_ERR_DATA_LEN);
    assert_int_equal(arca_crypto_decrypt(g_aes256, &m, ct.data, 0, &out), ARCA_ERR_DATA_LEN);
    /* Wrong key: the padding check fails. */
    {
        int bad = 0;
        for (int i = 0; i < 4; i++) {
            arca_builder tmp;
            bnew(&tmp);
            arca_status st = arca_crypto_decrypt(g_aes128, &m, ct.data, ct.len, &tmp);
            assert_true(st == ARCA_ERR_DATA_INVALID || st == ARCA_OK);
            bad += st == ARCA_ERR_DATA_INVALID;
            arca_builder_cleanup(&tmp);
            ct.data[31 - i] ^= 0x80;
        }
        assert_true(bad > 0);
    }
    m.iv_len = 12;
    assert_int_equal(arca_crypto_encrypt(g_aes256, &m, pt, sizeof(pt), &out), ARCA_ERR_MECHANISM_PARAM);
    m.iv = NULL;
    m.iv_len = 0;
    assert_int_equal(arca_crypto_encrypt(g_aes256, &m, pt, sizeof(pt), &out), ARCA_ERR_MECHANISM_PARAM);
    arca_builder_cleanup(&out);
    arca_builder_cleanup(&ct);
}

static void test_rsa_encrypt(void **state)
{
    const uint8_t pt[] = "secret for RSA";
    const uint8_t label[] = "a label";
    arca_builder ct, out;
    arca_mechanism m = mech(CKM_RSA_PKCS_OAEP);
    EVP_PKEY *pk;
    EVP_PKEY_CTX *pctx;
    uint8_t ref[256];
    size_t ref_len = sizeof(ref);
    uint8_t big[256] = {0};
    (void)state;

    m.hash = CKM_SHA256;
    m.label = label;
    m.label_len = sizeof(label);
    bnew(&ct);
    bnew(&out);
    assert_int_equal(arca_crypto_encrypt(g_rsa, &m, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(ct.len, 256);
    assert_int_equal(arca_crypto_decrypt(g_rsa, &m, ct.data, ct.len, &out), ARCA_OK);
    assert_int_equal(out.len, sizeof(pt));
    assert_memory_equal(out.data, pt, sizeof(pt));
    arca_builder_cleanup(&out);

    /* Independently encrypted with OpenSSL. */
    pk = ossl_pub(g_rsa);
    pctx = EVP_PKEY_CTX_new(pk, NULL);
    assert_int_equal(EVP_PKEY_encrypt_init(pctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(pctx, OPENSSL_memdup(label, sizeof(label)), sizeof(label)), 1);
    assert_int_equal(EVP_PKEY_encrypt(pctx, ref, &ref_len, pt, sizeof(pt)), 1);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pk);
    bnew(&out);
    assert_int_equal(arca_crypto_decrypt(g_rsa, &m, ref, ref_len, &out), ARCA_OK);
    assert_memory_equal(out.data, pt, sizeof(pt));
    arca_builder_cleanup(&out);

    /* Wrong label / damaged ciphertext: DATA_INVALID. */
    bnew(&out);
    m.label_len--;
    assert_int_equal(arca_crypto_decrypt(g_rsa, &m, ct.data, ct.len, &out), ARCA_ERR_DATA_INVALID);
    m.label_len++;
    assert_int_equal(arca_crypto_decrypt(g_rsa, &m, ct.data, ct.len - 1, &out), ARCA_ERR_DATA_LEN);
    /* Too long for OAEP-SHA256 with a 2048-bit key: max 256 - 66 = 190. */
    assert_int_equal(arca_crypto_encrypt(g_rsa, &m, big, 191, &out), ARCA_ERR_DATA_LEN);
    m.hash = 0;
    assert_int_equal(arca_crypto_encrypt(g_rsa, &m, pt, sizeof(pt), &out), ARCA_ERR_MECHANISM_PARAM);
    m.hash = CKM_SHA256;
    assert_int_equal(arca_crypto_encrypt(g_p256, &m, pt, sizeof(pt), &out), ARCA_ERR_KEY_TYPE);
    arca_builder_cleanup(&out);
    arca_builder_cleanup(&ct);

    /* SHA-1 OAEP (the PKCS#11 default) works too. */
    m.hash = CKM_SHA_1;
    m.mgf = CKG_MGF1_SHA1;
    m.label = NULL;
    m.label_len = 0;
    bnew(&ct);
    bnew(&out);
    assert_int_equal(arca_crypto_encrypt(g_rsa, &m, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(arca_crypto_decrypt(g_rsa, &m, ct.data, ct.len, &out), ARCA_OK);
    assert_memory_equal(out.data, pt, sizeof(pt));
    arca_builder_cleanup(&out);
    arca_builder_cleanup(&ct);

    /* PKCS#1 v1.5. */
    m = mech(CKM_RSA_PKCS);
    bnew(&ct);
    bnew(&out);
    assert_int_equal(arca_crypto_encrypt(g_rsa, &m, pt, sizeof(pt), &ct), ARCA_OK);
    assert_int_equal(arca_crypto_decrypt(g_rsa, &m, ct.data, ct.len, &out), ARCA_OK);
    assert_int_equal(out.len, sizeof(pt));
    assert_memory_equal(out.data, pt, sizeof(pt));
    assert_int_equal(arca_crypto_encrypt(g_rsa, &m, big, 246, &out), ARCA_ERR_DATA_LEN);
    {
        arca_key *pub = NULL;
        assert_int_equal(arca_key_public_from_private(g_rsa, &pub), ARCA_OK);
        assert_int_equal(arca_crypto_decrypt(pub, &m, ct.data, ct.len, &out), ARCA_ERR_KEY_TYPE);
        arca_key_free(pub);
    }
    arca_builder_cleanup(&out);
    arca_builder_cleanup(&ct);
}

/* ---- wrapping ---- */

static void test_aes_kw_vector(void **state)
{
    /* RFC 3394 4.6: 256-bit KEK wraps 256 bits of key data. */
    uint8_t kek[32], data[32], wrapped[40];
    arca_key *kk = NULL, *tk = NULL, *un = NULL;
    arca_builder out, v;
    arca_mechanism m = mech(CKM_AES_KEY_WRAP);
    (void)state;

    unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", kek);
    unhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", data);
    unhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21", wrapped);
    assert_int_equal(arca_key_from_secret(CKK_AES, kek, 32, &kk), ARCA_OK);
    assert_int_equal(arca_key_from_secret(CKK_AES, data, 32, &tk), ARCA_OK);
    bnew(&out);
    assert_int_equal(arca_crypto_wrap(kk, &m, tk, &out), ARCA_OK);
    assert_int_equal(out.len, 40);
    assert_memory_equal(out.data, wrapped, 40);
    arca_builder_cleanup(&out);
    assert_int_equal(arca_crypto_unwrap(kk, &m, wrapped, 40, CKK_AES, &un), ARCA_OK);
    bnew(&v);
    assert_int_equal(arca_key_secret_value(un, &v), ARCA_OK);
    assert_int_equal(v.len, 32);
    assert_memory_equal(v.data, data, 32);
    arca_builder_cleanup(&v);
    arca_key_free(un);
    un = NULL;
    /* Tampered: the integrity check fails. */
    wrapped[20] ^= 1;
    assert_int_equal(arca_crypto_unwrap(kk, &m, wrapped, 40, CKK_AES, &un), ARCA_ERR_DATA_INVALID);
    wrapped[20] ^= 1;
    assert_int_equal(arca_crypto_unwrap(kk, &m, wrapped, 39, CKK_AES, &un), ARCA_ERR_DATA_LEN);
    assert_int_equal(arca_crypto_unwrap(kk, &m, wrapped, 16, CKK_AES, &un), ARCA_ERR_DATA_LEN);
    /* Unwrap into a wrong-size AES key / private key type. */
    assert_int_equal(arca_crypto_unwrap(kk, &m, wrapped, 40, CKK_RSA, &un), ARCA_ERR_KEY_TYPE);
    assert_int_equal(arca_crypto_unwrap(kk, &m, wrapped, 40, CKK_DES3, &un), ARCA_ERR_KEY_TYPE);
    /* KW cannot wrap a private key, nor a 20-byte secret; no one wraps with RSA-PKCS. */
    bnew(&out);
    assert_int_equal(arca_crypto_wrap(kk, &m, g_p256, &out), ARCA_ERR_KEY_TYPE);
    {
        arca_key *odd = NULL;
        assert_int_equal(arca_key_generate_secret(CKK_GENERIC_SECRET, 20, &odd), ARCA_OK);
        assert_int_equal(arca_crypto_wrap(kk, &m, odd, &out), ARCA_ERR_KEY_SIZE);
        arca_key_free(odd);
    }
    assert_int_equal(arca_crypto_wrap(g_hmac, &m, tk, &out), ARCA_ERR_KEY_TYPE);
    m = mech(CKM_RSA_PKCS);
    assert_int_equal(arca_crypto_wrap(g_rsa, &m, tk, &out), ARCA_ERR_MECHANISM);
    assert_int_equal(out.len, 0);
    arca_builder_cleanup(&out);
    arca_key_free(kk);
    arca_key_free(tk);
}

static void test_aes_kwp_vector(void **state)
{
    /* RFC 5649 section 6, both examples (192-bit KEK). */
    uint8_t kek[24], k20[20], w20[32], k7[7], w7[16];
    arca_key *kk = NULL, *tk = NULL, *un = NULL;
    arca_builder out, v;
    arca_mechanism m = mech(CKM_AES_KEY_WRAP_KWP);
    (void)state;

    unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", kek);
    unhex("c37b7e6492584340bed12207808941155068f738", k20);
    unhex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a", w20);
    unhex("466f7250617369", k7);
    unhex("afbeb0f07dfbf5419200f2ccb50bb24f", w7);
    assert_int_equal(arca_key_from_secret(CKK_AES, kek, 24, &kk), ARCA_OK);

    assert_int_equal(arca_key_from_secret(CKK_GENERIC_SECRET, k20, 20, &tk), ARCA_OK);
    bnew(&out);
    assert_int_equal(arca_crypto_wrap(kk, &m, tk, &out), ARCA_OK);
    assert_int_equal(out.len, 32);
    assert_memory_equal(out.data, w20, 32);
    arca_builder_cleanup(&out);
    arca_key_free(tk);
    assert_int_equal(arca_key_from_secret(CKK_GENERIC_SECRET, k7, 7, &tk), ARCA_OK);
    bnew(&out);
    assert_int_equal(arca_crypto_wrap(kk, &m, tk, &out), ARCA_OK);
    assert_int_equal(out.len, 16);
    assert_memory_equal(out.data, w7, 16);
    arca_builder_cleanup(&out);
    arca_key_free(tk);

    assert_int_equal(arca_crypto_unwrap(kk, &m, w20, 32, CKK_GENERIC_SECRET, &un), ARCA_OK);
    bnew(&v);
    assert_int_equal(arca_key_secret_value(un, &v), ARCA_OK);
    assert_int_equal(v.len, 20);
    assert_memory_equal(v.data, k20, 20);
    arca_builder_cleanup(&v);
    arca_key_free(un);
    un = NULL;
    w20[31] ^= 0x40;
    assert_int_equal(arca_crypto_unwrap(kk, &m, w20, 32, CKK_GENERIC_SECRET, &un), ARCA_ERR_DATA_INVALID);
    /* 7 bytes is no AES key size. */
    assert_int_equal(arca_crypto_unwrap(kk, &m, w7, 16, CKK_AES, &un), ARCA_ERR_KEY_SIZE);
    arca_key_free(kk);
}

static void test_kwp_private_keys(void **state)
{
    arca_key *keys[] = {g_rsa, g_p384, g_ed};
    uint32_t types[] = {CKK_RSA, CKK_EC, CKK_EC_EDWARDS};
    arca_mechanism m = mech(CKM_AES_KEY_WRAP_KWP);
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        arca_builder w, p1, p2;
        arca_key *un = NULL;
        bnew(&w);
        assert_int_equal(arca_crypto_wrap(g_aes256, &m, keys[i], &w), ARCA_OK);
        assert_int_equal(arca_crypto_unwrap(g_aes256, &m, w.data, w.len, types[i], &un), ARCA_OK);
        assert_true(arca_key_is_private(un));
        bnew(&p1);
        bnew(&p2);
        assert_int_equal(arca_key_public_info(un, &p1), ARCA_OK);
        assert_int_equal(arca_key_public_info(keys[i], &p2), ARCA_OK);
        assert_int_equal(p1.len, p2.len);
        assert_memory_equal(p1.data, p2.data, p1.len);
        arca_key_free(un);
        un = NULL;
        /* The wrapped form names its own type. */
        assert_int_equal(arca_crypto_unwrap(g_aes256, &m, w.data, w.len, types[(i + 1) % 3], &un),
                         ARCA_ERR_TEMPLATE_INCONSISTENT);
        arca_builder_cleanup(&w);
        arca_builder_cleanup(&p1);
        arca_builder_cleanup(&p2);
    }
    {
        arca_key *pub = NULL;
        arca_builder w;
        bnew(&w);
        assert_int_equal(arca_key_public_from_private(g_p256, &pub), ARCA_OK);
        assert_int_equal(arca_crypto_wrap(g_aes256, &m, pub, &w), ARCA_ERR_KEY_TYPE);
        arca_key_free(pub);
        arca_builder_cleanup(&w);
    }
}

static void test_oaep_wrap(void **state)
{
    arca_mechanism m = mech(CKM_RSA_PKCS_OAEP);
    arca_builder w, v1, v2;
    arca_key *un = NULL;
    (void)state;

    m.hash = CKM_SHA256;
    bnew(&w);
    assert_int_equal(arca_crypto_wrap(g_rsa, &m, g_aes256, &w), ARCA_OK);
    assert_int_equal(w.len, 256);
    assert_int_equal(arca_crypto_unwrap(g_rsa, &m, w.data, w.len, CKK_AES, &un), ARCA_OK);
    bnew(&v1);
    bnew(&v2);
    assert_int_equal(arca_key_secret_value(un, &v1), ARCA_OK);
    assert_int_equal(arca_key_secret_value(g_aes256, &v2), ARCA_OK);
    assert_int_equal(v1.len, 32);
    assert_memory_equal(v1.data, v2.data, 32);
    arca_key_free(un);
    un = NULL;
    w.data[100] ^= 1;
    assert_int_equal(arca_crypto_unwrap(g_rsa, &m, w.data, w.len, CKK_AES, &un), ARCA_ERR_DATA_INVALID);
    assert_int_equal(arca_crypto_unwrap(g_rsa, &m, w.data, w.len, CKK_EC, &un), ARCA_ERR_KEY_TYPE);
    arca_builder_cleanup(&w);
    bnew(&w);
    assert_int_equal(arca_crypto_wrap(g_rsa, &m, g_p256, &w), ARCA_ERR_KEY_TYPE);
    arca_builder_cleanup(&w);
    arca_builder_cleanup(&v1);
    arca_builder_cleanup(&v2);
}

/* ---- derivation ---- */

static void value_of(const arca_key *k, arca_builder *b)
{
    bnew(b);
    assert_int_equal(arca_key_secret_value(k, b), ARCA_OK);
}

static void test_ecdh(void **state)
{
    arca_key *other = NULL, *d1 = NULL, *d2 = NULL, *d3 = NULL, *d4 = NULL;
    arca_builder pt1, pt2, spki, v1, v2, v3;
    arca_mechanism m = mech(CKM_ECDH1_DERIVE);
    (void)state;

    assert_int_equal(arca_key_generate_ec(OID_P256, sizeof(OID_P256), &other), ARCA_OK);
    bnew(&pt1);
    bnew(&pt2);
    assert_int_equal(arca_key_ec_point(g_p256, &pt1), ARCA_OK);
    assert_int_equal(arca_key_ec_point(other, &pt2), ARCA_OK);
    /* Raw uncompressed point. */
    m.public_data = pt2.data + 2;
    m.public_data_len = pt2.len - 2;
    assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_GENERIC_SECRET, 0, &d1), ARCA_OK);
    assert_int_equal(arca_key_bits(d1), 256);
    /* CKA_EC_POINT form on the other side. */
    m.public_data = pt1.data;
    m.public_data_len = pt1.len;
    assert_int_equal(arca_crypto_derive(other, &m, CKK_GENERIC_SECRET, 0, &d2), ARCA_OK);
    value_of(d1, &v1);
    value_of(d2, &v2);
    assert_int_equal(v1.len, 32);
    assert_memory_equal(v1.data, v2.data, 32);
    /* SPKI, truncated to an AES-128 key (trailing 16 bytes). */
    bnew(&spki);
    assert_int_equal(arca_key_public_info(other, &spki), ARCA_OK);
    m.public_data = spki.data;
    m.public_data_len = spki.len;
    assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 16, &d3), ARCA_OK);
    value_of(d3, &v3);
    assert_memory_equal(v3.data, v1.data + 16, 16);
    assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 48, &d4), ARCA_ERR_KEY_SIZE);

    /* A peer on another curve, raw, as CKA_EC_POINT and as SPKI. */
    {
        arca_builder p384, s384;
        bnew(&p384);
        bnew(&s384);
        assert_int_equal(arca_key_ec_point(g_p384, &p384), ARCA_OK);
        assert_int_equal(arca_key_public_info(g_p384, &s384), ARCA_OK);
        m.public_data = p384.data + 2;
        m.public_data_len = p384.len - 2;
        assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 16, &d4), ARCA_ERR_MECHANISM_PARAM);
        m.public_data = p384.data;
        m.public_data_len = p384.len;
        assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 16, &d4), ARCA_ERR_MECHANISM_PARAM);
        m.public_data = s384.data;
        m.public_data_len = s384.len;
        assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 16, &d4), ARCA_ERR_MECHANISM_PARAM);
        arca_builder_cleanup(&p384);
        arca_builder_cleanup(&s384);
    }
    /* A point not on the curve. */
    {
        uint8_t bad[65];
        memcpy(bad, pt2.data + 2, 65);
        bad[64] ^= 1;
        m.public_data = bad;
        m.public_data_len = 65;
        assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 16, &d4), ARCA_ERR_MECHANISM_PARAM);
        m.public_data = NULL;
        m.public_data_len = 0;
        assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 16, &d4), ARCA_ERR_MECHANISM_PARAM);
    }
    m.public_data = pt2.data + 2;
    m.public_data_len = 65;
    assert_int_equal(arca_crypto_derive(g_aes128, &m, CKK_AES, 16, &d4), ARCA_ERR_KEY_TYPE);
    assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_RSA, 16, &d4), ARCA_ERR_ATTRIBUTE_VALUE);

    arca_builder_cleanup(&pt1);
    arca_builder_cleanup(&pt2);
    arca_builder_cleanup(&spki);
    arca_builder_cleanup(&v1);
    arca_builder_cleanup(&v2);
    arca_builder_cleanup(&v3);
    arca_key_free(other);
    arca_key_free(d1);
    arca_key_free(d2);
    arca_key_free(d3);
}

static void test_hkdf_vector(void **state)
{
    /* RFC 5869 test case 1. */
    uint8_t ikm[22], salt[13], info[10], okm[42];
    arca_key *base = NULL, *d = NULL;
    arca_builder v;
    arca_mechanism m = mech(CKM_HKDF_DERIVE);
    (void)state;

    memset(ikm, 0x0b, sizeof(ikm));
    unhex("000102030405060708090a0b0c", salt);
    unhex("f0f1f2f3f4f5f6f7f8f9", info);
    unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", okm);
    assert_int_equal(arca_key_from_secret(CKK_GENERIC_SECRET, ikm, sizeof(ikm), &base), ARCA_OK);
    m.hash = CKM_SHA256;
    m.salt = salt;
    m.salt_bytes_len = sizeof(salt);
    m.info = info;
    m.info_len = sizeof(info);
    assert_int_equal(arca_crypto_derive(base, &m, CKK_GENERIC_SECRET, 42, &d), ARCA_OK);
    value_of(d, &v);
    assert_int_equal(v.len, 42);
    assert_memory_equal(v.data, okm, 42);
    arca_builder_cleanup(&v);
    arca_key_free(d);
    d = NULL;

    m.hash = CKM_SHA_1;
    assert_int_equal(arca_crypto_derive(base, &m, CKK_GENERIC_SECRET, 42, &d), ARCA_ERR_MECHANISM_PARAM);
    m.hash = CKM_SHA256;
    assert_int_equal(arca_crypto_derive(base, &m, CKK_AES, 42, &d), ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_crypto_derive(base, &m, CKK_AES, 0, &d), ARCA_ERR_KEY_SIZE);
    assert_int_equal(arca_crypto_derive(g_p256, &m, CKK_AES, 32, &d), ARCA_ERR_KEY_TYPE);
    m = mech(CKM_MD5);
    assert_int_equal(arca_crypto_derive(base, &m, CKK_AES, 32, &d), ARCA_ERR_MECHANISM);
    arca_key_free(base);
}

static void test_kbkdf(void **state)
{
    uint8_t ref[32];
    const uint8_t ctx_a[] = "context A", ctx_b[] = "context B";
    arca_mechanism m = mech(CKM_SP800_108_COUNTER_KDF);
    arca_key *d1 = NULL, *d2 = NULL;
    arca_builder v1, v2, kv;
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx;
    OSSL_PARAM p[6];
    (void)state;

    m.hash = CKM_SHA384;
    m.info = ctx_a;
    m.info_len = sizeof(ctx_a);
    assert_int_equal(arca_crypto_derive(g_hmac, &m, CKK_AES, 32, &d1), ARCA_OK);
    m.info = ctx_b;
    assert_int_equal(arca_crypto_derive(g_hmac, &m, CKK_AES, 32, &d2), ARCA_OK);
    value_of(d1, &v1);
    value_of(d2, &v2);
    assert_memory_not_equal(v1.data, v2.data, 32);

    /* Same as OpenSSL's KBKDF, counter mode, HMAC-SHA384, context = info. */
    value_of(g_hmac, &kv);
    kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
    kctx = EVP_KDF_CTX_new(kdf);
    p[0] = OSSL_PARAM_construct_utf8_string("mode", (char *)"counter", 0);
    p[1] = OSSL_PARAM_construct_utf8_string("mac", (char *)"HMAC", 0);
    p[2] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA384", 0);
    p[3] = OSSL_PARAM_construct_octet_string("key", kv.data, kv.len);
    p[4] = OSSL_PARAM_construct_octet_string("info", (void *)ctx_a, sizeof(ctx_a));
    p[5] = OSSL_PARAM_construct_end();
    assert_int_equal(EVP_KDF_derive(kctx, ref, sizeof(ref), p), 1);
    assert_memory_equal(ref, v1.data, 32);
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);

    m.hash = 0;
    assert_int_equal(arca_crypto_derive(g_hmac, &m, CKK_AES, 32, &d1), ARCA_ERR_MECHANISM_PARAM);
    arca_builder_cleanup(&v1);
    arca_builder_cleanup(&v2);
    arca_builder_cleanup(&kv);
    arca_key_free(d1);
    arca_key_free(d2);
}

static void test_random_and_table(void **state)
{
    arca_builder b;
    (void)state;

    bnew(&b);
    assert_int_equal(arca_crypto_random(64, &b), ARCA_OK);
    assert_int_equal(b.len, 64);
    assert_int_equal(arca_crypto_random(0, &b), ARCA_ERR_DATA_LEN);
    assert_int_equal(arca_crypto_random(ARCA_DATA_MAX + 1, &b), ARCA_ERR_DATA_LEN);
    arca_builder_cleanup(&b);

    assert_true(arca_crypto_mechanism_allowed(CKM_ECDSA, ARCA_OP_SIGN));
    assert_true(arca_crypto_mechanism_allowed(CKM_ECDSA, ARCA_OP_VERIFY));
    assert_false(arca_crypto_mechanism_allowed(CKM_ECDSA, ARCA_OP_ENCRYPT));
    assert_true(arca_crypto_mechanism_allowed(CKM_RSA_PKCS_OAEP, ARCA_OP_WRAP));
    assert_true(arca_crypto_mechanism_allowed(CKM_RSA_PKCS_OAEP, ARCA_OP_DECRYPT));
    assert_false(arca_crypto_mechanism_allowed(CKM_RSA_PKCS, ARCA_OP_WRAP));
    assert_true(arca_crypto_mechanism_allowed(CKM_AES_KEY_WRAP_KWP, ARCA_OP_UNWRAP));
    assert_false(arca_crypto_mechanism_allowed(CKM_AES_GCM, ARCA_OP_WRAP));
    assert_true(arca_crypto_mechanism_allowed(CKM_HKDF_DERIVE, ARCA_OP_DERIVE));
    assert_false(arca_crypto_mechanism_allowed(CKM_MD5, ARCA_OP_SIGN));
    assert_false(arca_crypto_mechanism_allowed(CKM_ECDSA, (arca_crypto_op)99));
}

/* Found by fuzzing: a P-256 PKCS#8 key whose embedded public point is not
 * d*G. It used to be accepted (and then could not be serialised for
 * sealing); it is refused at import. */
static void test_import_mismatched_ec_pair(void **state)
{
    (void)state;
    static const uint8_t der[] = {
        0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
        0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x66,
        0x69, 0x65, 0x6c, 0x64, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x5d, 0x34, 0xab,
        0x75, 0x74, 0x4c, 0x88, 0xa6, 0x39, 0x6e, 0x26, 0x4c, 0x70, 0x91, 0xaa,
        0x1b, 0x14, 0x14, 0x4b, 0xa5, 0x62, 0x45, 0x2c, 0xa1, 0x44, 0x03, 0x42,
        0x00, 0x04, 0x59, 0xe8, 0xf7, 0x32, 0x97, 0x04, 0x01, 0xca, 0x81, 0xd9,
        0xad, 0x9c, 0xa1, 0x6f, 0x08, 0x25, 0xab, 0xa8, 0x93, 0xf6, 0xf0, 0x44,
        0xe6, 0x75, 0x9f, 0xe4, 0x7f, 0xc2, 0xe5, 0x1b, 0xbf, 0x9d, 0x36, 0x0a,
        0x95, 0xe5, 0xb9, 0xc4, 0xae, 0xbf, 0xaf, 0x1f, 0x65, 0x67, 0x80, 0x6b,
        0x59, 0xf2, 0x0a, 0x8e, 0x78, 0x1e, 0x7d, 0x09, 0x76, 0x6a, 0x22, 0x52,
        0x9a, 0xd4, 0x87, 0x90, 0x18, 0x5c,
    };
    arca_key *k = NULL;
    assert_int_equal(arca_key_from_private_der(der, sizeof der, &k), ARCA_ERR_ATTRIBUTE_VALUE);
    assert_null(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_sizes),
        cmocka_unit_test(test_import_private),
        cmocka_unit_test(test_public_import_and_attrs),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_serialize),
        cmocka_unit_test(test_ecdsa),
        cmocka_unit_test(test_eddsa),
        cmocka_unit_test(test_rsa_pkcs1),
        cmocka_unit_test(test_rsa_pss),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_gcm_vector),
        cmocka_unit_test(test_gcm),
        cmocka_unit_test(test_cbc_pad),
        cmocka_unit_test(test_rsa_encrypt),
        cmocka_unit_test(test_aes_kw_vector),
        cmocka_unit_test(test_aes_kwp_vector),
        cmocka_unit_test(test_kwp_private_keys),
        cmocka_unit_test(test_oaep_wrap),
        cmocka_unit_test(test_ecdh),
        cmocka_unit_test(test_hkdf_vector),
        cmocka_unit_test(test_kbkdf),
        cmocka_unit_test(test_random_and_table),
        cmocka_unit_test(test_import_mismatched_ec_pair),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
