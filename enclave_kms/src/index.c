/* Blind indexes: the host stores HMAC-SHA256(k_index, u32 partition ||
 * u32 attribute type || value) || object id, so that it can look objects
 * up by label, id or class without learning them. k_index never leaves
 * the enclave. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "kms_internal.h"

arca_status kms_index_hmac(const arca_secret *k_index, uint32_t partition_id, uint32_t type, const uint8_t *v1,
                           size_t v1_len, const uint8_t *v2, size_t v2_len, uint8_t out[KMS_INDEX_HMAC_LEN])
{
    arca_status st = ARCA_ERR_CRYPTO;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    uint8_t hdr[8] = {(uint8_t)(partition_id >> 24), (uint8_t)(partition_id >> 16), (uint8_t)(partition_id >> 8),
                      (uint8_t)partition_id,          (uint8_t)(type >> 24),         (uint8_t)(type >> 16),
                      (uint8_t)(type >> 8),           (uint8_t)type};
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end()};
    size_t out_len = 0;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) goto out;
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) goto out;
    if (EVP_MAC_init(ctx, k_index->data, k_index->len, params) != 1) goto out;
    if (EVP_MAC_update(ctx, hdr, sizeof(hdr)) != 1) goto out;
    if (v1_len > 0 && EVP_MAC_update(ctx, v1, v1_len) != 1) goto out;
    if (v2_len > 0 && EVP_MAC_update(ctx, v2, v2_len) != 1) goto out;
    if (EVP_MAC_final(ctx, out, &out_len, KMS_INDEX_HMAC_LEN) != 1 || out_len != KMS_INDEX_HMAC_LEN) goto out;
    st = ARCA_OK;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return st;
}

static arca_status add_entry(const arca_secret *k, uint32_t pid, const arca_object_id *id, uint32_t type,
                             const uint8_t *v1, size_t v1_len, const uint8_t *v2, size_t v2_len, kms_index_key *out,
                             size_t *num)
{
    ARCA_ENSURE(*num < KMS_INDEX_MAX_ENTRIES, ARCA_ERR_INTERNAL);
    ARCA_GUARD(kms_index_hmac(k, pid, type, v1, v1_len, v2, v2_len, out[*num].b));
    memcpy(out[*num].b + KMS_INDEX_HMAC_LEN, id->b, ARCA_OBJECT_ID_LEN);
    (*num)++;
    return ARCA_OK;
}

arca_status kms_index_entries(const arca_secret *k_index, uint32_t partition_id, const arca_object_id *id,
                              const kms_attrs *attrs, kms_index_key out[KMS_INDEX_MAX_ENTRIES], size_t *out_num)
{
    size_t n = 0;
    const kms_attr *label = kms_attrs_find(attrs, CKA_LABEL);
    const kms_attr *cka_id = kms_attrs_find(attrs, CKA_ID);
    const kms_attr *cls = kms_attrs_find(attrs, CKA_CLASS);
    const kms_attr *ver = kms_attrs_find(attrs, ARCA_CKA_KEY_VERSION);
    const uint8_t *lv = label != NULL ? label->value : NULL;
    size_t ll = label != NULL ? label->len : 0;

    ARCA_GUARD(add_entry(k_index, partition_id, id, KMS_IDX_ALL, NULL, 0, NULL, 0, out, &n));
    if (cls != NULL) ARCA_GUARD(add_entry(k_index, partition_id, id, CKA_CLASS, cls->value, cls->len, NULL, 0, out, &n));
    ARCA_GUARD(add_entry(k_index, partition_id, id, CKA_LABEL, lv, ll, NULL, 0, out, &n));
    if (cka_id != NULL) {
        ARCA_GUARD(add_entry(k_index, partition_id, id, CKA_ID, cka_id->value, cka_id->len, NULL, 0, out, &n));
    }
    if (ver != NULL && ver->len == 4) {
        ARCA_GUARD(add_entry(k_index, partition_id, id, KMS_IDX_LABEL_VERSION, lv, ll, ver->value, 4, out, &n));
    }
    if (kms_attrs_bool(attrs, ARCA_CKA_PRIMARY, false)) {
        ARCA_GUARD(add_entry(k_index, partition_id, id, KMS_IDX_LABEL_PRIMARY, lv, ll, NULL, 0, out, &n));
    }
    *out_num = n;
    return ARCA_OK;
}
