/* Private to crypto_key.c and crypto_ops.c: the key structure, the
 * algorithm objects fetched once, and small shared helpers. */
#ifndef ARCA_ENCLAVE_CRYPTO_INTERNAL_H
#define ARCA_ENCLAVE_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

#include "crypto.h"

/* One supported elliptic curve. */
typedef struct arca_curve {
    const char *group;      /* OpenSSL group name */
    const uint8_t *oid_der; /* DER OID, as CKA_EC_PARAMS */
    size_t oid_der_len;
    size_t field_bytes; /* coordinate / scalar width */
} arca_curve;

struct arca_key {
    uint32_t type;      /* CKK_* */
    bool has_private;   /* asymmetric with private half */
    arca_secret secret; /* symmetric value (secret memory) */
    EVP_PKEY *pkey;     /* asymmetric; ready for use, never re-parsed per op */
    const arca_curve *curve; /* EC only */
    size_t bits;
    /* HMAC keyed once per digest (SHA-256/384/512), made on first use and
     * duplicated per operation: EVP_MAC_init fetches the digest by name
     * and hashes the key every time (docs/performance.md). Set once with
     * an atomic compare-and-swap, freed with the key. */
    EVP_MAC_CTX *hmac_tmpl[3];
};

/* Algorithm objects fetched once (pthread_once) and shared read-only. */
typedef struct arca_algs {
    EVP_MD *sha1, *sha256, *sha384, *sha512;
    EVP_CIPHER *gcm[3], *cbc[3], *wrap[3], *wrap_pad[3], *ecb[3]; /* by AES key size 16/24/32 */
    EVP_MAC *hmac;
    EVP_KDF *hkdf, *kbkdf;
} arca_algs;

/* NULL if fetching failed (logged once). */
const arca_algs *arca_crypto_algs(void);
/* Index 0/1/2 for AES keys of 16/24/32 bytes, -1 otherwise. */
int arca_aes_index(size_t key_len);

/* The curve of an EVP_PKEY of type EC, NULL if not a supported one. */
const arca_curve *arca_curve_of_pkey(const EVP_PKEY *pkey);

/* Wrap an EVP_PKEY (taken over on success and on failure) into an
 * arca_key after checking that type and size are supported. */
ARCA_MUST_CHECK arca_status arca_key_from_pkey(EVP_PKEY *pkey, bool has_private, arca_key **out);

/* The PKCS#8 DER of a private key into out (a secret builder). */
ARCA_MUST_CHECK arca_status arca_key_private_der(const arca_key *k, arca_builder *out);

#endif
