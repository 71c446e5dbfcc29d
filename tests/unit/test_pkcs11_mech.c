/* Unit tests of pkcs11/src/p11_mech.c: the mechanism table
 * (C_GetMechanismList / C_GetMechanismInfo) and mechanism parameter
 * parsing into arca_lp_mechanism, each bad parameter with its exact CKR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p11_internal.h"

/* ---- the table ---- */

static void test_list_two_call(void **state)
{
    CK_ULONG n = 0, small;
    CK_MECHANISM_TYPE *list;
    (void)state;

    assert_int_equal(arca_p11_mech_list(NULL, &n), CKR_OK);
    assert_int_equal(n, arca_p11_mech_count());
    assert_true(n >= 30);
    list = calloc(n, sizeof(*list));
    assert_non_null(list);
    small = n - 1;
    assert_int_equal(arca_p11_mech_list(list, &small), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(small, n);
    assert_int_equal(arca_p11_mech_list(list, &n), CKR_OK);
    assert_int_equal(n, arca_p11_mech_count());
    for (CK_ULONG i = 0; i < n; i++) {
        CK_MECHANISM_INFO info;
        assert_int_equal(arca_p11_mech_info(list[i], &info), CKR_OK);
        for (CK_ULONG j = i + 1; j < n; j++) assert_true(list[i] != list[j]); /* no duplicates */
    }
    assert_int_equal(arca_p11_mech_list(list, NULL), CKR_ARGUMENTS_BAD);
    free(list);
}

static void test_table_consistent(void **state)
{
    const CK_FLAGS uses = CKF_ENCRYPT | CKF_DECRYPT | CKF_DIGEST | CKF_SIGN | CKF_VERIFY | CKF_WRAP | CKF_UNWRAP |
                          CKF_DERIVE | CKF_GENERATE | CKF_GENERATE_KEY_PAIR;
    (void)state;

    for (size_t i = 0; i < arca_p11_mech_count(); i++) {
        const arca_p11_mech_desc *d = arca_p11_mech_at(i);
        assert_non_null(d);
        assert_ptr_equal(arca_p11_mech_find(d->type), d);
        assert_true((d->flags & uses) != 0);
        assert_true((d->flags & CKF_HW) == 0); /* added by C_GetMechanismInfo */
        CK_MECHANISM_INFO mi;
        assert_int_equal(arca_p11_mech_info(d->type, &mi), CKR_OK);
        assert_int_equal(!!(mi.flags & CKF_HW), !(d->flags & CKF_DIGEST));
        assert_int_equal(mi.flags & ~(CK_FLAGS)CKF_HW, d->flags);
        assert_true(d->min_key <= d->max_key);
        /* sign and verify, encrypt and decrypt, wrap and unwrap come in pairs */
        assert_int_equal(!!(d->flags & CKF_SIGN), !!(d->flags & CKF_VERIFY));
        assert_int_equal(!!(d->flags & CKF_ENCRYPT), !!(d->flags & CKF_DECRYPT));
        assert_int_equal(!!(d->flags & CKF_WRAP), !!(d->flags & CKF_UNWRAP));
        if (d->flags & CKF_DIGEST) {
            assert_int_equal(d->min_key, 0);
            assert_false(arca_p11_mech_key_ok(d, CKK_AES));
        } else {
            assert_true(d->min_key > 0);
            assert_true(arca_p11_mech_key_ok(d, d->key_types[0]));
        }
    }
    assert_null(arca_p11_mech_at(arca_p11_mech_count()));
}

static void expect_info(CK_MECHANISM_TYPE t, CK_ULONG min, CK_ULONG max, CK_FLAGS flags)
{
    CK_MECHANISM_INFO info;
    assert_int_equal(arca_p11_mech_info(t, &info), CKR_OK);
    assert_int_equal(info.ulMinKeySize, min);
    assert_int_equal(info.ulMaxKeySize, max);
    /* CKF_HW on everything the appliance does; digests run in the module. */
    assert_int_equal(info.flags, flags | ((flags & CKF_DIGEST) ? 0 : CKF_HW));
}

static void test_info_values(void **state)
{
    const CK_FLAGS ec = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
    CK_MECHANISM_INFO info;
    (void)state;

    expect_info(CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR);
    expect_info(CKM_RSA_PKCS, 2048, 4096, CKF_ENCRYPT | CKF_DECRYPT | CKF_SIGN | CKF_VERIFY);
    expect_info(CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY);
    expect_info(CKM_RSA_PKCS_OAEP, 2048, 4096, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
    expect_info(CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | ec);
    expect_info(CKM_ECDSA_SHA384, 256, 521, CKF_SIGN | CKF_VERIFY | ec);
    expect_info(CKM_ECDH1_DERIVE, 256, 521, CKF_DERIVE | ec);
    expect_info(CKM_EDDSA, 255, 255, CKF_SIGN | CKF_VERIFY | CKF_EC_NAMEDCURVE);
    expect_info(CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE);
    expect_info(CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT);
    expect_info(CKM_AES_KEY_WRAP_KWP, 16, 32, CKF_WRAP | CKF_UNWRAP);
    expect_info(CKM_GENERIC_SECRET_KEY_GEN, 1, 512, CKF_GENERATE);
    expect_info(CKM_SHA512_HMAC, 1, 512, CKF_SIGN | CKF_VERIFY);
    expect_info(CKM_HKDF_DERIVE, 1, 512, CKF_DERIVE);
    expect_info(CKM_SP800_108_COUNTER_KDF, 1, 512, CKF_DERIVE);
    expect_info(CKM_SHA384, 0, 0, CKF_DIGEST);
    /* not offered: the keystore has no such operation */
    assert_int_equal(arca_p11_mech_info(CKM_RSA_X_509, &info), CKR_MECHANISM_INVALID);
    assert_int_equal(arca_p11_mech_info(CKM_AES_KEY_WRAP_PAD, &info), CKR_MECHANISM_INVALID);
    assert_int_equal(arca_p11_mech_info(CKM_SHA_1, &info), CKR_MECHANISM_INVALID);
    assert_int_equal(arca_p11_mech_info(CKM_SHA256_HMAC_GENERAL, &info), CKR_MECHANISM_INVALID);
    assert_int_equal(arca_p11_mech_info(CKM_AES_ECB, &info), CKR_MECHANISM_INVALID);
    assert_int_equal(arca_p11_mech_info(CKM_AES_GCM, NULL), CKR_ARGUMENTS_BAD);
    assert_true(arca_p11_mech_key_ok(arca_p11_mech_find(CKM_SHA256_HMAC), CKK_GENERIC_SECRET));
    assert_true(arca_p11_mech_key_ok(arca_p11_mech_find(CKM_SHA256_HMAC), CKK_AES));
    assert_false(arca_p11_mech_key_ok(arca_p11_mech_find(CKM_SHA256_HMAC), CKK_RSA));
    assert_false(arca_p11_mech_key_ok(arca_p11_mech_find(CKM_ECDSA), CKK_EC_EDWARDS));
    assert_false(arca_p11_mech_key_ok(NULL, CKK_EC));
}

/* ---- parsing ---- */

static CK_RV parse(CK_MECHANISM_TYPE t, void *p, CK_ULONG len, CK_FLAGS use, arca_lp_mechanism *lp)
{
    CK_MECHANISM m = {t, p, len};
    uint8_t *param = (uint8_t *)1;
    size_t param_len = 12345;
    arca_lp_mechanism local;
    CK_RV rv = arca_p11_mech_parse(&m, use, lp != NULL ? lp : &local, &param, &param_len);

    if (rv != CKR_OK) {
        /* nothing written, nothing allocated */
        assert_ptr_equal(param, (uint8_t *)1);
        assert_int_equal(param_len, 12345);
        return rv;
    }
    if (lp == NULL) free(param);
    return rv;
}

/* Parse successfully and return the owned buffer (caller frees). */
static uint8_t *parse_ok(CK_MECHANISM_TYPE t, void *p, CK_ULONG len, CK_FLAGS use, arca_lp_mechanism *lp)
{
    CK_MECHANISM m = {t, p, len};
    uint8_t *param = NULL;
    size_t param_len = 0;

    assert_int_equal(arca_p11_mech_parse(&m, use, lp, &param, &param_len), CKR_OK);
    assert_int_equal(lp->type, (uint32_t)t);
    return param;
}

static void test_parse_unknown_and_use(void **state)
{
    CK_MECHANISM m = {CKM_AES_GCM, NULL, 0};
    arca_lp_mechanism lp;
    uint8_t *param = NULL;
    size_t param_len = 0;
    (void)state;

    assert_int_equal(parse(CKM_AES_ECB, NULL, 0, CKF_ENCRYPT, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(CKM_RSA_X_509, NULL, 0, CKF_SIGN, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(CKM_AES_KEY_WRAP_PAD, NULL, 0, CKF_WRAP, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(0x80001234ul, NULL, 0, CKF_SIGN, NULL), CKR_MECHANISM_INVALID);
    /* a known mechanism used for something it does not do */
    assert_int_equal(parse(CKM_SHA256, NULL, 0, CKF_SIGN, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(CKM_ECDSA, NULL, 0, CKF_ENCRYPT, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(CKM_AES_GCM, NULL, 0, CKF_WRAP, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(CKM_AES_KEY_GEN, NULL, 0, CKF_GENERATE_KEY_PAIR, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(CKM_EC_KEY_PAIR_GEN, NULL, 0, CKF_GENERATE, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(parse(CKM_ECDSA, NULL, 0, 0, NULL), CKR_MECHANISM_INVALID);
    assert_int_equal(arca_p11_mech_parse(NULL, CKF_SIGN, &lp, &param, &param_len), CKR_ARGUMENTS_BAD);
    assert_int_equal(arca_p11_mech_parse(&m, CKF_ENCRYPT, &lp, NULL, &param_len), CKR_ARGUMENTS_BAD);
}

static void test_parse_no_param(void **state)
{
    uint8_t junk[8] = {0};
    arca_lp_mechanism lp;
    (void)state;

    assert_null(parse_ok(CKM_ECDSA_SHA256, NULL, 0, CKF_SIGN, &lp));
    assert_int_equal(lp.hash, 0);
    assert_int_equal(lp.iv.len, 0);
    assert_int_equal(parse(CKM_ECDSA, junk, sizeof(junk), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_SHA256_HMAC, junk, 4, CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_RSA_PKCS, junk, 0, CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_SHA256, NULL, 4, CKF_DIGEST, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_AES_KEY_GEN, junk, 8, CKF_GENERATE, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_SHA256, NULL, 0, CKF_DIGEST, NULL), CKR_OK);
}

static void test_parse_pss(void **state)
{
    CK_RSA_PKCS_PSS_PARAMS p = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    arca_lp_mechanism lp;
    (void)state;

    assert_null(parse_ok(CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p), CKF_SIGN, &lp));
    assert_int_equal(lp.hash, CKM_SHA256);
    assert_int_equal(lp.mgf, CKG_MGF1_SHA256);
    assert_int_equal(lp.salt_len, 32);
    assert_int_equal(parse(CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p) - 1, CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p) + 8, CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_SHA256_RSA_PKCS_PSS, NULL, sizeof(p), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_SHA256_RSA_PKCS_PSS, NULL, 0, CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    /* the hash must be the one the mechanism names */
    p.hash_alg = CKM_SHA384;
    assert_int_equal(parse(CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_SHA384_RSA_PKCS_PSS, &p, sizeof(p), CKF_VERIFY, NULL), CKR_OK);
    /* raw PSS: any supported hash (SHA-1 included), never an unknown one */
    p.hash_alg = CKM_SHA_1;
    p.mgf = CKG_MGF1_SHA1;
    assert_int_equal(parse(CKM_RSA_PKCS_PSS, &p, sizeof(p), CKF_SIGN, NULL), CKR_OK);
    p.hash_alg = CKM_MD5;
    assert_int_equal(parse(CKM_RSA_PKCS_PSS, &p, sizeof(p), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.hash_alg = CKM_SHA256;
    p.mgf = 0x77;
    assert_int_equal(parse(CKM_RSA_PKCS_PSS, &p, sizeof(p), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.mgf = CKG_MGF1_SHA224;
    assert_int_equal(parse(CKM_RSA_PKCS_PSS, &p, sizeof(p), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.mgf = CKG_MGF1_SHA512;
    p.s_len = 513;
    assert_int_equal(parse(CKM_RSA_PKCS_PSS, &p, sizeof(p), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
}

static void test_parse_oaep(void **state)
{
    uint8_t label[5] = {'l', 'a', 'b', 'e', 'l'};
    CK_RSA_PKCS_OAEP_PARAMS p = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, sizeof(label)};
    arca_lp_mechanism lp;
    uint8_t *owned;
    (void)state;

    owned = parse_ok(CKM_RSA_PKCS_OAEP, &p, sizeof(p), CKF_DECRYPT, &lp);
    assert_non_null(owned);
    assert_int_equal(lp.hash, CKM_SHA256);
    assert_int_equal(lp.mgf, CKG_MGF1_SHA256);
    assert_int_equal(lp.label.len, 5);
    assert_memory_equal(lp.label.data, "label", 5);
    assert_ptr_equal(lp.label.data, owned); /* a copy, not the caller's buffer */
    free(owned);
    p.source_data = NULL;
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.source_data_len = 0;
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &p, sizeof(p), CKF_WRAP, NULL), CKR_OK);
    p.source = 0; /* no label, source left 0: accepted */
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &p, sizeof(p), CKF_UNWRAP, NULL), CKR_OK);
    p.source = 2;
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.source = CKZ_DATA_SPECIFIED;
    p.hash_alg = CKM_SHA224;
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.hash_alg = CKM_SHA_1;
    p.mgf = CKG_MGF1_SHA1;
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_OK);
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &p, sizeof(p) - 8, CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
}

static void test_parse_gcm(void **state)
{
    uint8_t iv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t aad[3] = {0xa, 0xb, 0xc};
    CK_GCM_PARAMS p = {iv, 12, 96, aad, sizeof(aad), 128};
    arca_lp_mechanism lp;
    uint8_t *owned;
    (void)state;

    owned = parse_ok(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, &lp);
    assert_int_equal(lp.iv.len, 12);
    assert_memory_equal(lp.iv.data, iv, 12);
    assert_int_equal(lp.aad.len, 3);
    assert_memory_equal(lp.aad.data, aad, 3);
    assert_int_equal(lp.tag_bits, 128);
    assert_true(lp.iv.data >= owned && lp.aad.data >= owned);
    free(owned);
    p.iv_bits = 0; /* headers without ulIvBits leave it 0 */
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_DECRYPT, NULL), CKR_OK);
    p.aad_ptr = NULL;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.aad_len = 0;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_OK);
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p) - 8, CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_AES_GCM, NULL, 0, CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.iv_bits = 64;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.iv_bits = 96;
    p.iv_len = 16;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.iv_len = 12;
    p.iv_ptr = NULL;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.iv_ptr = iv;
    p.tag_bits = 64;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.tag_bits = 100;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.tag_bits = 136;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.tag_bits = 96;
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_OK);
    p.aad_ptr = aad;
    p.aad_len = ARCA_LP_ATTR_VALUE_MAX + 1; /* over the wire cap (never read: checked first) */
    assert_int_equal(parse(CKM_AES_GCM, &p, sizeof(p), CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
}

static void test_parse_iv_kinds(void **state)
{
    uint8_t iv[16] = {0};
    arca_lp_mechanism lp;
    uint8_t *owned;
    (void)state;

    owned = parse_ok(CKM_AES_CBC_PAD, iv, 16, CKF_ENCRYPT, &lp);
    assert_int_equal(lp.iv.len, 16);
    free(owned);
    assert_int_equal(parse(CKM_AES_CBC_PAD, iv, 12, CKF_ENCRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_AES_CBC_PAD, NULL, 0, CKF_DECRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_AES_CBC_PAD, NULL, 16, CKF_DECRYPT, NULL), CKR_MECHANISM_PARAM_INVALID);
    /* key wrap: the alternative IV is optional, 8 bytes (RFC 3394) or 4 (RFC 5649) */
    assert_null(parse_ok(CKM_AES_KEY_WRAP, NULL, 0, CKF_WRAP, &lp));
    assert_int_equal(lp.iv.len, 0);
    owned = parse_ok(CKM_AES_KEY_WRAP, iv, 8, CKF_UNWRAP, &lp);
    assert_int_equal(lp.iv.len, 8);
    free(owned);
    assert_int_equal(parse(CKM_AES_KEY_WRAP, iv, 4, CKF_WRAP, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_AES_KEY_WRAP_KWP, iv, 4, CKF_WRAP, NULL), CKR_OK);
    assert_int_equal(parse(CKM_AES_KEY_WRAP_KWP, iv, 8, CKF_WRAP, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_AES_KEY_WRAP_KWP, NULL, 0, CKF_UNWRAP, NULL), CKR_OK);
}

static void test_parse_eddsa(void **state)
{
    uint8_t ctx[4] = {1, 2, 3, 4};
    CK_EDDSA_PARAMS p = {CK_FALSE, 0, NULL};
    (void)state;

    assert_int_equal(parse(CKM_EDDSA, NULL, 0, CKF_SIGN, NULL), CKR_OK);
    assert_int_equal(parse(CKM_EDDSA, &p, sizeof(p), CKF_SIGN, NULL), CKR_OK);
    assert_int_equal(parse(CKM_EDDSA, &p, sizeof(p) - 1, CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.phFlag = CK_TRUE; /* Ed25519ph: not offered */
    assert_int_equal(parse(CKM_EDDSA, &p, sizeof(p), CKF_SIGN, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.phFlag = CK_FALSE;
    p.pContextData = ctx;
    p.ulContextDataLen = sizeof(ctx); /* Ed25519ctx: not offered */
    assert_int_equal(parse(CKM_EDDSA, &p, sizeof(p), CKF_VERIFY, NULL), CKR_MECHANISM_PARAM_INVALID);
}

static void test_parse_ecdh(void **state)
{
    uint8_t point[65] = {0x04};
    uint8_t shared[4] = {0};
    CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, sizeof(point), point};
    arca_lp_mechanism lp;
    uint8_t *owned;
    (void)state;

    owned = parse_ok(CKM_ECDH1_DERIVE, &p, sizeof(p), CKF_DERIVE, &lp);
    assert_int_equal(lp.public_data.len, 65);
    assert_int_equal(lp.public_data.data[0], 0x04);
    free(owned);
    assert_int_equal(parse(CKM_ECDH1_DERIVE, &p, sizeof(p) - 8, CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_ECDH1_DERIVE, NULL, 0, CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.kdf = CKD_SHA1_KDF;
    assert_int_equal(parse(CKM_ECDH1_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.kdf = CKD_NULL;
    p.shared_data = shared;
    p.shared_data_len = sizeof(shared);
    assert_int_equal(parse(CKM_ECDH1_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.shared_data = NULL;
    p.shared_data_len = 0;
    p.public_data = NULL;
    assert_int_equal(parse(CKM_ECDH1_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.public_data = point;
    p.public_data_len = 0;
    assert_int_equal(parse(CKM_ECDH1_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
}

static void test_parse_hkdf(void **state)
{
    uint8_t salt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t info[4] = {'i', 'n', 'f', 'o'};
    CK_HKDF_PARAMS p = {CK_TRUE, CK_TRUE, CKM_SHA384, CKF_HKDF_SALT_DATA, salt, sizeof(salt), 0, info, sizeof(info)};
    arca_lp_mechanism lp;
    uint8_t *owned;
    (void)state;

    owned = parse_ok(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, &lp);
    assert_int_equal(lp.hash, CKM_SHA384);
    assert_int_equal(lp.salt.len, 8);
    assert_memory_equal(lp.salt.data, salt, 8);
    assert_int_equal(lp.info.len, 4);
    assert_memory_equal(lp.info.data, "info", 4);
    free(owned);
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p) - 8, CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.bExtract = CK_FALSE; /* expand-only is not offered */
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.bExtract = CK_TRUE;
    p.bExpand = CK_FALSE;
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.bExpand = CK_TRUE;
    p.prfHashMechanism = CKM_SHA_1;
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.prfHashMechanism = CKM_SHA256;
    p.ulSaltType = CKF_HKDF_SALT_KEY;
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.ulSaltType = 8;
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.ulSaltType = CKF_HKDF_SALT_NULL; /* with a salt given: inconsistent */
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.pSalt = NULL;
    p.ulSaltLen = 0;
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_OK);
    p.ulSaltType = CKF_HKDF_SALT_DATA; /* DATA without data */
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.ulSaltType = CKF_HKDF_SALT_NULL;
    p.pInfo = NULL;
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.pInfo = info;
    p.ulInfoLen = 1025; /* over the keystore's info cap (never read: checked first) */
    assert_int_equal(parse(CKM_HKDF_DERIVE, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
}

static void test_parse_sp800_108(void **state)
{
    CK_SP800_108_COUNTER_FORMAT cf = {CK_FALSE, 32};
    CK_SP800_108_DKM_LENGTH_FORMAT lf = {CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, CK_FALSE, 32};
    uint8_t label[6] = {'L', 'A', 'B', 'E', 'L', 0};
    uint8_t context[3] = {'c', 't', 'x'};
    CK_PRF_DATA_PARAM dp[4] = {
        {CK_SP800_108_ITERATION_VARIABLE, &cf, sizeof(cf)},
        {CK_SP800_108_BYTE_ARRAY, label, sizeof(label)},
        {CK_SP800_108_BYTE_ARRAY, context, sizeof(context)},
        {CK_SP800_108_DKM_LENGTH, &lf, sizeof(lf)},
    };
    CK_SP800_108_KDF_PARAMS p = {CKM_SHA256_HMAC, 4, dp, 0, NULL};
    CK_DERIVED_KEY extra = {0};
    arca_lp_mechanism lp;
    uint8_t *owned;
    (void)state;

    owned = parse_ok(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, &lp);
    assert_int_equal(lp.hash, CKM_SHA256);
    assert_int_equal(lp.salt.len, 5); /* Label: before the first 0x00 */
    assert_memory_equal(lp.salt.data, "LABEL", 5);
    assert_int_equal(lp.info.len, 3); /* Context: after it */
    assert_memory_equal(lp.info.data, "ctx", 3);
    free(owned);
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p) - 8, CKF_DERIVE, NULL),
                     CKR_MECHANISM_PARAM_INVALID);
    p.prfType = CKM_AES_CMAC;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.prfType = CKM_SHA512_HMAC;
    p.ulAdditionalDerivedKeys = 1;
    p.pAdditionalDerivedKeys = &extra;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.ulAdditionalDerivedKeys = 0;
    p.pAdditionalDerivedKeys = NULL;
    cf.bLittleEndian = CK_TRUE;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    cf.bLittleEndian = CK_FALSE;
    cf.ulWidthInBits = 16;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    cf.ulWidthInBits = 32;
    lf.dkmLengthMethod = CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    lf.dkmLengthMethod = CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS;
    /* the DKM length must come last, the counter first */
    p.ulNumberOfDataParams = 3;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.ulNumberOfDataParams = 4;
    p.pDataParams = dp + 1;
    p.ulNumberOfDataParams = 3;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    p.pDataParams = dp;
    p.ulNumberOfDataParams = 4;
    /* no 0x00 separator anywhere: cannot be expressed to the keystore */
    label[5] = 'X';
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    label[5] = 0;
    dp[2].pValue = NULL;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    dp[2].pValue = context;
    dp[1].ulValueLen = 0;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    dp[1].ulValueLen = sizeof(label);
    dp[0].ulValueLen = sizeof(cf) - 1;
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_MECHANISM_PARAM_INVALID);
    dp[0].ulValueLen = sizeof(cf);
    assert_int_equal(parse(CKM_SP800_108_COUNTER_KDF, &p, sizeof(p), CKF_DERIVE, NULL), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_two_call),
        cmocka_unit_test(test_table_consistent),
        cmocka_unit_test(test_info_values),
        cmocka_unit_test(test_parse_unknown_and_use),
        cmocka_unit_test(test_parse_no_param),
        cmocka_unit_test(test_parse_pss),
        cmocka_unit_test(test_parse_oaep),
        cmocka_unit_test(test_parse_gcm),
        cmocka_unit_test(test_parse_iv_kinds),
        cmocka_unit_test(test_parse_eddsa),
        cmocka_unit_test(test_parse_ecdh),
        cmocka_unit_test(test_parse_hkdf),
        cmocka_unit_test(test_parse_sp800_108),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
