/* libarca-pkcs11 internals without an appliance: attribute conversion
 * between CK_ATTRIBUTE templates and wire attributes (CK_ULONG 8 bytes in
 * the API, u32 big-endian on the wire), the C_GetAttributeValue length
 * rules, the arca_status -> CK_RV table, PIN copies and the object handle
 * table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p11_internal.h"

static void test_ulong_and_bool_to_wire(void **state)
{
    (void)state;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ULONG len = 32;
    CK_BBOOL yes = 0xFF; /* any non-zero is true */
    CK_BBOOL no = CK_FALSE;
    uint8_t label[] = "k1";
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},     {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)}, {CKA_LABEL, label, 2},
    };
    arca_p11_tmpl w;
    assert_int_equal(arca_p11_tmpl_from_ck(t, 5, &w), CKR_OK);
    assert_int_equal(w.num, 5);
    assert_int_equal(w.attrs[0].type, CKA_CLASS);
    assert_int_equal(w.attrs[0].len, 4);
    assert_memory_equal(w.attrs[0].value, "\x00\x00\x00\x04", 4);
    assert_int_equal(w.attrs[1].len, 4);
    assert_memory_equal(w.attrs[1].value, "\x00\x00\x00\x20", 4);
    assert_int_equal(w.attrs[2].len, 1);
    assert_int_equal(w.attrs[2].value[0], 1);
    assert_int_equal(w.attrs[3].value[0], 0);
    assert_ptr_equal(w.attrs[4].value, label); /* bytes are borrowed */
    assert_int_equal(w.attrs[4].len, 2);
    CK_ULONG v = 0;
    bool b = false;
    assert_true(arca_p11_tmpl_ulong(&w, CKA_VALUE_LEN, &v));
    assert_int_equal(v, 32);
    assert_true(arca_p11_tmpl_bool(&w, CKA_TOKEN, &b));
    assert_true(b);
    assert_false(arca_p11_tmpl_ulong(&w, CKA_KEY_TYPE, &v));
    assert_false(arca_p11_tmpl_bool(&w, CKA_LABEL, &b));
    assert_null(arca_p11_tmpl_find(&w, CKA_ID));
    assert_int_equal(arca_p11_tmpl_add_ulong(&w, CKA_KEY_TYPE, CKK_AES), CKR_OK);
    assert_true(arca_p11_tmpl_ulong(&w, CKA_KEY_TYPE, &v));
    assert_int_equal(v, CKK_AES);
    assert_int_equal(arca_p11_tmpl_add_bool(&w, CKA_SENSITIVE, true), CKR_OK);
    assert_true(arca_p11_tmpl_bool(&w, CKA_SENSITIVE, &b));
    assert_true(b);
    /* Adding a type already there, or of the wrong kind. */
    assert_int_equal(arca_p11_tmpl_add_ulong(&w, CKA_CLASS, CKO_DATA), CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(arca_p11_tmpl_add_ulong(&w, CKA_TOKEN, 1), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(arca_p11_tmpl_add_bool(&w, CKA_CLASS, true), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(arca_p11_tmpl_add_bytes(&w, CKA_CLASS, "x", 1), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(arca_p11_tmpl_add_bytes(&w, CKA_ID, NULL, 1), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(arca_p11_tmpl_add_bytes(&w, CKA_ID, "ab", 2), CKR_OK);
    arca_p11_tmpl_free(&w);
}

static void test_template_refusals(void **state)
{
    (void)state;
    arca_p11_tmpl w;
    CK_ULONG big = (CK_ULONG)UINT32_MAX + 1;
    CK_ULONG ok = 1;
    uint32_t short_ulong = 1;
    CK_BBOOL two[2] = {1, 1};
    CK_ATTRIBUTE a;

    assert_int_equal(arca_p11_tmpl_from_ck(NULL, 1, &w), CKR_ARGUMENTS_BAD);
    assert_int_equal(arca_p11_tmpl_from_ck(NULL, 0, &w), CKR_OK);
    assert_int_equal(w.num, 0);

    a = (CK_ATTRIBUTE){CKA_CLASS, &short_ulong, sizeof(short_ulong)};
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_VALUE_INVALID);
    a = (CK_ATTRIBUTE){CKA_VALUE_LEN, &big, sizeof(big)};
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_VALUE_INVALID);
    a = (CK_ATTRIBUTE){CKA_SIGN, two, sizeof(two)};
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_VALUE_INVALID);
    a = (CK_ATTRIBUTE){CKA_LABEL, NULL, 3};
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_VALUE_INVALID);
    a = (CK_ATTRIBUTE){CKA_WRAP_TEMPLATE, NULL, 0};
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_TYPE_INVALID);
    uint8_t *huge = calloc(1, ARCA_LP_ATTR_VALUE_MAX + 1);
    assert_non_null(huge);
    a = (CK_ATTRIBUTE){CKA_ID, huge, ARCA_LP_ATTR_VALUE_MAX + 1};
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_VALUE_INVALID);
    a.ulValueLen = ARCA_LP_ATTR_VALUE_MAX;
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_OK);
    arca_p11_tmpl_free(&w);
    free(huge);

    CK_ATTRIBUTE dup[] = {{CKA_VALUE_LEN, &ok, sizeof(ok)}, {CKA_VALUE_LEN, &ok, sizeof(ok)}};
    assert_int_equal(arca_p11_tmpl_from_ck(dup, 2, &w), CKR_TEMPLATE_INCONSISTENT);

    CK_ATTRIBUTE many[ARCA_LP_MAX_ATTRS + 1];
    uint8_t ids[ARCA_LP_MAX_ATTRS + 1];
    for (size_t i = 0; i < ARCA_LP_MAX_ATTRS + 1; i++) {
        ids[i] = (uint8_t)i;
        many[i] = (CK_ATTRIBUTE){CKA_VENDOR_DEFINED + i, &ids[i], 1};
    }
    assert_int_equal(arca_p11_tmpl_from_ck(many, ARCA_LP_MAX_ATTRS + 1, &w), CKR_ARGUMENTS_BAD);
    assert_int_equal(arca_p11_tmpl_from_ck(many, ARCA_LP_MAX_ATTRS, &w), CKR_OK);
    assert_int_equal(w.num, ARCA_LP_MAX_ATTRS);
    assert_int_equal(arca_p11_tmpl_add_bool(&w, CKA_SIGN, true), CKR_ARGUMENTS_BAD); /* full */
    arca_p11_tmpl_free(&w);
}

static void test_allowed_mechanisms_array(void **state)
{
    (void)state;
    CK_MECHANISM_TYPE m[] = {CKM_ECDSA, CKM_SHA256_RSA_PKCS};
    CK_ATTRIBUTE a = {CKA_ALLOWED_MECHANISMS, m, sizeof(m)};
    arca_p11_tmpl w;
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_OK);
    assert_int_equal(w.attrs[0].len, 8);
    assert_memory_equal(w.attrs[0].value, "\x00\x00\x10\x41\x00\x00\x00\x40", 8);
    arca_p11_tmpl_free(&w);
    a.ulValueLen = sizeof(CK_ULONG) + 1;
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_MECHANISM_TYPE bad[] = {(CK_ULONG)UINT32_MAX + 5};
    a = (CK_ATTRIBUTE){CKA_ALLOWED_MECHANISMS, bad, sizeof(bad)};
    assert_int_equal(arca_p11_tmpl_from_ck(&a, 1, &w), CKR_ATTRIBUTE_VALUE_INVALID);

    /* Back to the API: two entries of 8 bytes. */
    CK_ULONG out[2] = {0, 0};
    CK_ATTRIBUTE o = {CKA_ALLOWED_MECHANISMS, NULL, 0};
    const uint8_t wire[8] = {0, 0, 0x10, 0x41, 0, 0, 0, 0x40};
    assert_int_equal(arca_p11_attr_to_ck(o.type, wire, 8, &o), CKR_OK);
    assert_int_equal(o.ulValueLen, 2 * sizeof(CK_ULONG));
    o.pValue = out;
    assert_int_equal(arca_p11_attr_to_ck(o.type, wire, 8, &o), CKR_OK);
    assert_int_equal(out[0], CKM_ECDSA);
    assert_int_equal(out[1], CKM_SHA256_RSA_PKCS);
    assert_int_equal(arca_p11_attr_to_ck(o.type, wire, 7, &o), CKR_GENERAL_ERROR);
    assert_int_equal(o.ulValueLen, CK_UNAVAILABLE_INFORMATION);
}

static void test_attr_to_ck_length_rules(void **state)
{
    (void)state;
    const uint8_t wire_cls[4] = {0, 0, 0, 3};
    CK_ULONG cls = 0;
    CK_ATTRIBUTE a = {CKA_CLASS, NULL, 0};
    /* First call: the length (of the API form: 8 bytes). */
    assert_int_equal(arca_p11_attr_to_ck(CKA_CLASS, wire_cls, 4, &a), CKR_OK);
    assert_int_equal(a.ulValueLen, sizeof(CK_ULONG));
    /* Too small: CKR_BUFFER_TOO_SMALL, length unavailable. */
    a.pValue = &cls;
    a.ulValueLen = 4;
    assert_int_equal(arca_p11_attr_to_ck(CKA_CLASS, wire_cls, 4, &a), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(cls, 0);
    a.ulValueLen = sizeof(cls);
    assert_int_equal(arca_p11_attr_to_ck(CKA_CLASS, wire_cls, 4, &a), CKR_OK);
    assert_int_equal(cls, CKO_PRIVATE_KEY);
    assert_int_equal(a.ulValueLen, sizeof(CK_ULONG));
    /* A malformed wire value (3 bytes for a ULONG, 2 for a BOOL). */
    assert_int_equal(arca_p11_attr_to_ck(CKA_CLASS, wire_cls, 3, &a), CKR_GENERAL_ERROR);
    assert_int_equal(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    CK_BBOOL b = 0;
    CK_ATTRIBUTE ab = {CKA_SIGN, &b, 1};
    assert_int_equal(arca_p11_attr_to_ck(CKA_SIGN, (const uint8_t *)"\x01\x01", 2, &ab), CKR_GENERAL_ERROR);
    assert_int_equal(arca_p11_attr_to_ck(CKA_SIGN, (const uint8_t *)"\x01", 1, &ab), CKR_OK);
    assert_int_equal(b, CK_TRUE);
    /* Bytes: as they are; a bigger buffer is fine, ulValueLen is exact. */
    uint8_t buf[16];
    CK_ATTRIBUTE al = {CKA_LABEL, buf, sizeof(buf)};
    assert_int_equal(arca_p11_attr_to_ck(CKA_LABEL, (const uint8_t *)"label", 5, &al), CKR_OK);
    assert_int_equal(al.ulValueLen, 5);
    assert_memory_equal(buf, "label", 5);
    al.ulValueLen = 4;
    assert_int_equal(arca_p11_attr_to_ck(CKA_LABEL, (const uint8_t *)"label", 5, &al), CKR_BUFFER_TOO_SMALL);
    /* Empty values. */
    CK_ATTRIBUTE ae = {CKA_ID, NULL, 99};
    assert_int_equal(arca_p11_attr_to_ck(CKA_ID, NULL, 0, &ae), CKR_OK);
    assert_int_equal(ae.ulValueLen, 0);
    /* Attribute arrays are not supported. */
    assert_int_equal(arca_p11_attr_to_ck(CKA_WRAP_TEMPLATE, NULL, 0, &ae), CKR_GENERAL_ERROR);
    assert_int_equal(arca_p11_attr_kind_of(CKA_WRAP_TEMPLATE), ARCA_P11_ATTR_UNSUPPORTED);
    assert_int_equal(arca_p11_attr_kind_of(CKA_MODULUS_BITS), ARCA_P11_ATTR_ULONG);
    assert_int_equal(arca_p11_attr_kind_of(CKA_NEVER_EXTRACTABLE), ARCA_P11_ATTR_BOOL);
    assert_int_equal(arca_p11_attr_kind_of(CKA_EC_POINT), ARCA_P11_ATTR_BYTES);
}

static void test_u32_helpers(void **state)
{
    (void)state;
    uint8_t b[4];
    arca_p11_put_u32(b, 0xC1524304u);
    assert_memory_equal(b, "\xC1\x52\x43\x04", 4);
    assert_int_equal(arca_p11_get_u32(b), 0xC1524304u);
}

static void test_error_table(void **state)
{
    (void)state;
    static const struct {
        arca_status st;
        CK_RV rv;
    } k[] = {
        {ARCA_OK, CKR_OK},
        {ARCA_ERR_NOMEM, CKR_HOST_MEMORY},
        {ARCA_ERR_ARGS, CKR_ARGUMENTS_BAD},
        {ARCA_ERR_NOT_FOUND, CKR_OBJECT_HANDLE_INVALID},
        {ARCA_ERR_PIN_INCORRECT, CKR_PIN_INCORRECT},
        {ARCA_ERR_PIN_LOCKED, CKR_PIN_LOCKED},
        {ARCA_ERR_PIN_INVALID, CKR_PIN_LEN_RANGE},
        {ARCA_ERR_NOT_LOGGED_IN, CKR_USER_NOT_LOGGED_IN},
        {ARCA_ERR_ALREADY_LOGGED_IN, CKR_USER_ALREADY_LOGGED_IN},
        {ARCA_ERR_PERMISSION, CKR_ACTION_PROHIBITED},
        {ARCA_ERR_KEY_SIZE, CKR_KEY_SIZE_RANGE},
        {ARCA_ERR_KEY_TYPE, CKR_KEY_TYPE_INCONSISTENT},
        {ARCA_ERR_MECHANISM, CKR_MECHANISM_INVALID},
        {ARCA_ERR_MECHANISM_PARAM, CKR_MECHANISM_PARAM_INVALID},
        {ARCA_ERR_KEY_FUNCTION, CKR_KEY_FUNCTION_NOT_PERMITTED},
        {ARCA_ERR_OBJECT_STATE, CKR_KEY_FUNCTION_NOT_PERMITTED},
        {ARCA_ERR_KEY_UNEXTRACTABLE, CKR_KEY_UNEXTRACTABLE},
        {ARCA_ERR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_SENSITIVE},
        {ARCA_ERR_ATTRIBUTE_TYPE, CKR_ATTRIBUTE_TYPE_INVALID},
        {ARCA_ERR_ATTRIBUTE_VALUE, CKR_ATTRIBUTE_VALUE_INVALID},
        {ARCA_ERR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_READ_ONLY},
        {ARCA_ERR_TEMPLATE_INCOMPLETE, CKR_TEMPLATE_INCOMPLETE},
        {ARCA_ERR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT},
        {ARCA_ERR_SIGNATURE_INVALID, CKR_SIGNATURE_INVALID},
        {ARCA_ERR_DATA_INVALID, CKR_DATA_INVALID},
        {ARCA_ERR_DATA_LEN, CKR_DATA_LEN_RANGE},
        {ARCA_ERR_TOO_LARGE, CKR_DATA_LEN_RANGE},
        {ARCA_ERR_BUFFER_TOO_SMALL, CKR_BUFFER_TOO_SMALL},
        {ARCA_ERR_IO, CKR_DEVICE_ERROR},
        {ARCA_ERR_CHANNEL, CKR_DEVICE_ERROR},
        {ARCA_ERR_TIMEOUT, CKR_DEVICE_ERROR},
        {ARCA_ERR_DECODE, CKR_DEVICE_ERROR},
        {ARCA_ERR_ATTEST_MEASUREMENT, CKR_DEVICE_ERROR},
        {ARCA_ERR_IDENTITY_UNKNOWN, CKR_DEVICE_ERROR},
        {ARCA_ERR_CRYPTO, CKR_FUNCTION_FAILED},
        {ARCA_ERR_UNSUPPORTED, CKR_FUNCTION_FAILED},
        {ARCA_ERR_BUSY, CKR_DEVICE_MEMORY},
        {ARCA_ERR_INTERNAL, CKR_GENERAL_ERROR},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        assert_int_equal(arca_p11_rv_from_status(k[i].st), k[i].rv);
    }
    /* Every failure maps to a failure; values out of the enum to
     * CKR_GENERAL_ERROR. */
    for (int s = 1; s < ARCA_STATUS_COUNT; s++) assert_int_not_equal(arca_p11_rv_from_status((arca_status)s), CKR_OK);
    assert_int_equal(arca_p11_rv_from_status(ARCA_STATUS_COUNT), CKR_GENERAL_ERROR);
    assert_int_equal(arca_p11_rv_from_status((arca_status)12345), CKR_GENERAL_ERROR);
}

static void test_pad(void **state)
{
    (void)state;
    CK_UTF8CHAR f[8];
    arca_p11_pad(f, sizeof(f), "ab");
    assert_memory_equal(f, "ab      ", 8);
    arca_p11_pad(f, sizeof(f), "0123456789");
    assert_memory_equal(f, "01234567", 8);
    arca_p11_pad(f, sizeof(f), NULL);
    assert_memory_equal(f, "        ", 8);
}

static void test_pin_copy(void **state)
{
    (void)state;
    arca_secret p = {0};
    assert_int_equal(arca_p11_pin_copy(NULL, 4, CKR_PIN_LEN_RANGE, &p), CKR_ARGUMENTS_BAD);
    assert_int_equal(arca_p11_pin_copy((const CK_UTF8CHAR *)"abc", 3, CKR_PIN_LEN_RANGE, &p), CKR_PIN_LEN_RANGE);
    assert_int_equal(arca_p11_pin_copy((const CK_UTF8CHAR *)"abc", 3, CKR_PIN_INCORRECT, &p), CKR_PIN_INCORRECT);
    CK_UTF8CHAR long_pin[ARCA_P11_PIN_MAX + 1];
    memset(long_pin, 'a', sizeof(long_pin));
    assert_int_equal(arca_p11_pin_copy(long_pin, sizeof(long_pin), CKR_PIN_LEN_RANGE, &p), CKR_PIN_LEN_RANGE);
    assert_int_equal(arca_p11_pin_copy((const CK_UTF8CHAR *)"ab\0cd", 5, CKR_PIN_LEN_RANGE, &p), CKR_PIN_INVALID);
    assert_null(p.data);
    assert_int_equal(arca_p11_pin_copy(long_pin, ARCA_P11_PIN_MAX, CKR_PIN_LEN_RANGE, &p), CKR_OK);
    arca_secret_free(&p);
    assert_int_equal(arca_p11_pin_copy((const CK_UTF8CHAR *)"1234xyz", 4, CKR_PIN_LEN_RANGE, &p), CKR_OK);
    assert_int_equal(p.len, 5);
    assert_string_equal((const char *)p.data, "1234");
    arca_secret_free(&p);
}

static void test_handle_table(void **state)
{
    (void)state;
    arca_client_id a, b, out;
    memset(a.b, 0xAA, sizeof(a.b));
    memset(b.b, 0xBB, sizeof(b.b));
    CK_OBJECT_HANDLE ha = 0, ha2 = 0, hb = 0;
    assert_int_equal(arca_p11_handle_from_id(&a, &ha), CKR_OK);
    assert_int_equal(arca_p11_handle_from_id(&b, &hb), CKR_OK);
    assert_int_equal(arca_p11_handle_from_id(&a, &ha2), CKR_OK);
    assert_int_not_equal(ha, CK_INVALID_HANDLE);
    assert_int_equal(ha, ha2); /* same id, same handle */
    assert_int_not_equal(ha, hb);
    assert_int_equal(arca_p11_handle_to_id(hb, CKR_OBJECT_HANDLE_INVALID, &out), CKR_OK);
    assert_memory_equal(out.b, b.b, sizeof(b.b));
    assert_int_equal(arca_p11_handle_to_id(CK_INVALID_HANDLE, CKR_KEY_HANDLE_INVALID, &out), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(arca_p11_handle_to_id(hb + 1000, CKR_OBJECT_HANDLE_INVALID, &out), CKR_OBJECT_HANDLE_INVALID);
    /* Many ids (the table grows and rehashes): every one keeps its handle. */
    enum { N = 5000 };
    CK_OBJECT_HANDLE *hs = calloc(N, sizeof(*hs));
    assert_non_null(hs);
    for (uint32_t i = 0; i < N; i++) {
        arca_client_id id = {{0}};
        arca_p11_put_u32(id.b, i);
        arca_p11_put_u32(id.b + 12, i * 7919u);
        assert_int_equal(arca_p11_handle_from_id(&id, &hs[i]), CKR_OK);
    }
    for (uint32_t i = 0; i < N; i++) {
        arca_client_id id = {{0}};
        CK_OBJECT_HANDLE h;
        arca_p11_put_u32(id.b, i);
        arca_p11_put_u32(id.b + 12, i * 7919u);
        assert_int_equal(arca_p11_handle_from_id(&id, &h), CKR_OK);
        assert_int_equal(h, hs[i]);
        assert_int_equal(arca_p11_handle_to_id(h, CKR_OBJECT_HANDLE_INVALID, &out), CKR_OK);
        assert_memory_equal(out.b, id.b, sizeof(id.b));
    }
    assert_int_equal(arca_p11_handle_from_id(&a, &ha2), CKR_OK);
    assert_int_equal(ha, ha2);
    free(hs);
    arca_p11_handles_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ulong_and_bool_to_wire),
        cmocka_unit_test(test_template_refusals),
        cmocka_unit_test(test_allowed_mechanisms_array),
        cmocka_unit_test(test_attr_to_ck_length_rules),
        cmocka_unit_test(test_u32_helpers),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_pin_copy),
        cmocka_unit_test(test_handle_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
