/* Key material and the cryptographic operations, over OpenSSL 3 libcrypto.
 * Nothing here knows about objects, partitions or policy: the keystore
 * checks attributes and permissions, then calls these. Key material lives
 * in secret memory (arca_secret for symmetric keys; EVP_PKEY, whose
 * allocations OpenSSL makes in secret memory inside arca-enclave). */
#ifndef ARCA_ENCLAVE_CRYPTO_H
#define ARCA_ENCLAVE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/kms.h"
#include "arca/secret.h"
#include "arca/status.h"

typedef struct arca_key arca_key;

/* Kind of key material; CKK_* values from pkcs11.h are used for key_type. */
/* Generate. ARCA_ERR_KEY_SIZE for a length/size/curve not supported:
 * AES 16/24/32 bytes; generic secret 1..512 bytes (HMAC keys);
 * RSA 2048..4096 bits in steps of 1024 (2048, 3072, 4096), e = 65537;
 * EC: curve given as DER OID (CKA_EC_PARAMS) of P-256, P-384 or P-521,
 * else ARCA_ERR_ATTRIBUTE_VALUE; Ed25519. */
ARCA_MUST_CHECK arca_status arca_key_generate_secret(uint32_t ckk_type, size_t value_len, arca_key **out);
ARCA_MUST_CHECK arca_status arca_key_generate_rsa(uint32_t modulus_bits, arca_key **out);
ARCA_MUST_CHECK arca_status arca_key_generate_ec(const uint8_t *ec_params_der, size_t len, arca_key **out);
ARCA_MUST_CHECK arca_status arca_key_generate_ed25519(arca_key **out);
/* True if CKA_EC_PARAMS names Ed25519: the DER OID 1.3.101.112 or the DER
 * PrintableString "edwards25519" (both forms are in use by PKCS#11 apps). */
bool arca_key_ec_params_is_ed25519(const uint8_t *ec_params_der, size_t len);

/* Import. Secret: raw bytes (sizes as for generate). Private: PKCS#8 DER
 * (RSA 2048-4096, EC on the supported curves, Ed25519), else
 * ARCA_ERR_ATTRIBUTE_VALUE / ARCA_ERR_KEY_SIZE. Public: SPKI DER. */
ARCA_MUST_CHECK arca_status arca_key_from_secret(uint32_t ckk_type, const uint8_t *value, size_t len, arca_key **out);
ARCA_MUST_CHECK arca_status arca_key_from_private_der(const uint8_t *pkcs8, size_t len, arca_key **out);
ARCA_MUST_CHECK arca_status arca_key_from_public_der(const uint8_t *spki, size_t len, arca_key **out);
/* A new key holding only the public half of a private key. */
ARCA_MUST_CHECK arca_status arca_key_public_from_private(const arca_key *priv, arca_key **out);
void arca_key_free(arca_key *k);

uint32_t arca_key_type(const arca_key *k);    /* CKK_AES, CKK_GENERIC_SECRET, CKK_RSA, CKK_EC, CKK_EC_EDWARDS */
bool arca_key_is_private(const arca_key *k);  /* asymmetric with private half */
bool arca_key_is_secret(const arca_key *k);   /* symmetric */
size_t arca_key_bits(const arca_key *k);      /* AES/generic: value bits; RSA modulus; EC field size */
size_t arca_key_mem_estimate(const arca_key *k); /* bytes, for the cache budget */

/* Serialise for sealing: a self-describing encoding (secret builder!) and
 * back. Round-trips exactly; the decoder treats its input as hostile.
 * Encoding: u8 kind | u32-prefixed payload (kind 1 AES, 2 generic secret:
 * raw value; 3 private: PKCS#8 DER; 4 public: SPKI DER). The decoder
 * consumes the whole cursor (pass a sub-cursor if the key is embedded) and
 * fails with ARCA_ERR_DECODE on anything malformed or truncated. */
ARCA_MUST_CHECK arca_status arca_key_serialize(const arca_key *k, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_key_deserialize(arca_cursor *c, arca_key **out);

/* Public attributes: SPKI DER (CKA_PUBLIC_KEY_INFO), RSA modulus and public
 * exponent (big-endian, no leading zeros), EC params (DER OID) and EC point
 * (DER OCTET STRING of the uncompressed point, as PKCS#11 wants), Ed25519:
 * params = DER of the "edwards25519" printable string or OID, point = DER
 * OCTET STRING of the 32 bytes. ARCA_ERR_ATTRIBUTE_TYPE if not applicable. */
ARCA_MUST_CHECK arca_status arca_key_public_info(const arca_key *k, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_key_rsa_modulus(const arca_key *k, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_key_rsa_public_exponent(const arca_key *k, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_key_ec_params(const arca_key *k, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_key_ec_point(const arca_key *k, arca_builder *out);
/* Raw secret value (for extractable secret keys). */
ARCA_MUST_CHECK arca_status arca_key_secret_value(const arca_key *k, arca_builder *out);
/* Key check value (CKA_CHECK_VALUE), 3 bytes: AES-ECB(key, 0^16) for AES;
 * SHA-1 of the value for generic secrets; SHA-1 of the SPKI DER for
 * asymmetric keys. */
ARCA_MUST_CHECK arca_status arca_key_check_value(const arca_key *k, arca_builder *out);

/* Which usage attribute a mechanism needs is decided by the keystore. Here:
 * ARCA_ERR_MECHANISM for an unknown/unsupported mechanism,
 * ARCA_ERR_KEY_TYPE when the mechanism does not fit the key,
 * ARCA_ERR_MECHANISM_PARAM for bad parameters (IV length, hash, salt...),
 * ARCA_ERR_DATA_LEN / ARCA_ERR_DATA_INVALID for bad input data,
 * ARCA_ERR_SIGNATURE_INVALID from verify and from GCM decrypt tag failure.
 * Supported:
 *   sign/verify: CKM_RSA_PKCS (input = DigestInfo or raw <= k-11),
 *     CKM_SHA{256,384,512}_RSA_PKCS, CKM_RSA_PKCS_PSS (input = hash;
 *     m->hash, m->mgf, m->salt_len), CKM_SHA{256,384,512}_RSA_PKCS_PSS,
 *     CKM_ECDSA (input = hash; signature r||s fixed width as PKCS#11),
 *     CKM_ECDSA_SHA{256,384,512}, CKM_EDDSA (pure Ed25519),
 *     CKM_SHA{256,384,512}_HMAC (generic secret or AES key).
 *   encrypt/decrypt: CKM_AES_GCM (iv 12 bytes; without IV on encrypt a
 *     random one is made and the output is iv||ct||tag; decrypt without IV
 *     expects that layout), CKM_AES_CBC_PAD (iv 16), CKM_RSA_PKCS_OAEP
 *     (m->hash, m->mgf, m->label), CKM_RSA_PKCS (v1.5, decrypt/encrypt).
 *   wrap/unwrap: CKM_AES_KEY_WRAP (RFC 3394, secret keys of multiple of 8
 *     bytes), CKM_AES_KEY_WRAP_KWP (RFC 5649, any key incl. PKCS#8 private
 *     keys), CKM_RSA_PKCS_OAEP (secret keys). Wrapped form of a private key
 *     is its PKCS#8 DER; of a secret key its raw value.
 *   derive: CKM_ECDH1_DERIVE (m->public_data = peer point, raw shared
 *     secret, KDF null), CKM_HKDF_DERIVE (extract+expand, m->hash, salt,
 *     info), CKM_SP800_108_COUNTER_KDF (HMAC m->hash, m->info as context). */
ARCA_MUST_CHECK arca_status arca_crypto_sign(const arca_key *k, const arca_mechanism *m, const uint8_t *data,
                                             size_t len, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_crypto_verify(const arca_key *k, const arca_mechanism *m, const uint8_t *data,
                                               size_t len, const uint8_t *sig, size_t sig_len);
ARCA_MUST_CHECK arca_status arca_crypto_encrypt(const arca_key *k, const arca_mechanism *m, const uint8_t *data,
                                                size_t len, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_crypto_decrypt(const arca_key *k, const arca_mechanism *m, const uint8_t *data,
                                                size_t len, arca_builder *out);
/* Wrap the serialised-for-export form of target (raw value or PKCS#8). */
ARCA_MUST_CHECK arca_status arca_crypto_wrap(const arca_key *wrapping, const arca_mechanism *m,
                                             const arca_key *target, arca_builder *out);
/* Unwrap into a key of ckk_type (CKK_AES, CKK_GENERIC_SECRET for secret
 * values; CKK_RSA/CKK_EC/CKK_EC_EDWARDS expect PKCS#8). Tampered input:
 * ARCA_ERR_DATA_INVALID (AES-KW/KWP integrity check) . */
ARCA_MUST_CHECK arca_status arca_crypto_unwrap(const arca_key *unwrapping, const arca_mechanism *m,
                                               const uint8_t *wrapped, size_t len, uint32_t ckk_type,
                                               arca_key **out);
/* Derive a secret key of ckk_type and value_len bytes. */
ARCA_MUST_CHECK arca_status arca_crypto_derive(const arca_key *base, const arca_mechanism *m, uint32_t ckk_type,
                                               size_t value_len, arca_key **out);
ARCA_MUST_CHECK arca_status arca_crypto_random(size_t len, arca_builder *out);

/* For the keystore's policy: the usage attribute a mechanism needs for an
 * operation, e.g. CKA_SIGN for sign with CKM_ECDSA; 0 if the mechanism is
 * not valid for that operation (ARCA_ERR_MECHANISM). */
typedef enum arca_crypto_op {
    ARCA_OP_SIGN,
    ARCA_OP_VERIFY,
    ARCA_OP_ENCRYPT,
    ARCA_OP_DECRYPT,
    ARCA_OP_WRAP,
    ARCA_OP_UNWRAP,
    ARCA_OP_DERIVE,
} arca_crypto_op;
bool arca_crypto_mechanism_allowed(uint32_t mechanism, arca_crypto_op op);

#endif
