/* The arca OpenSSL 3 provider (docs/openssl.md): internal interfaces.
 *
 * One provider context per loaded provider instance holds the
 * configuration (client configuration file, partition, PIN source) and one
 * libarca-client connection pool, opened lazily at the first operation
 * that needs the appliance and replaced in a child after fork() (the pid
 * is checked at every acquire; the parent's pool is abandoned in the
 * child, never closed: its TLS sessions are the parent's). Every function
 * here is thread-safe. */
#ifndef ARCA_PROV_H
#define ARCA_PROV_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arca/client.h"
#include "arca/status.h"

typedef struct arca_prov {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx; /* the provider's own library context (for pub-key work) */
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
    OSSL_FUNC_BIO_write_ex_fn *bio_write_ex; /* the core's, for the encoder */
    OSSL_FUNC_BIO_read_ex_fn *bio_read_ex;   /* the core's, for the decoder */
    char client_conf[ARCA_CLIENT_PATH_MAX]; /* "" = ARCA_CLIENT_CONF */
    char partition[ARCA_LP_NAME_MAX + 1];   /* "" = ARCA_PARTITION */
    char pin_file[ARCA_CLIENT_PATH_MAX];    /* "" = ARCA_PIN */
    pthread_mutex_t lock;
    arca_client_pool *pool; /* NULL until first use */
    pid_t pool_pid;         /* the process that opened pool */
    arca_client_pool **abandoned; /* pools inherited over fork(): never used nor freed */
    size_t num_abandoned;
    int timeout_ms;
} arca_prov;

/* Provider-specific reason codes (ERR_GET_REASON on the error queue). */
enum {
    ARCA_PROV_R_CONFIG = 1,
    ARCA_PROV_R_CONNECT = 2,
    ARCA_PROV_R_URI = 3,
    ARCA_PROV_R_NOT_FOUND = 4,
    ARCA_PROV_R_APPLIANCE = 5,
    ARCA_PROV_R_UNSUPPORTED = 6,
    ARCA_PROV_R_INTERNAL = 7,
    ARCA_PROV_R_GEN = 8,
};

/* The key generation parameter naming the new key (-pkeyopt arca-label:NAME). */
#define ARCA_PROV_PARAM_LABEL "arca-label"

/* Put an error on the OpenSSL error queue: reason and a formatted text
 * (never a PIN or a secret). */
void arca_prov_error(arca_prov *p, int reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An appliance failure: "<what>: ARCA_ERR_X: <message>". */
void arca_prov_error_status(arca_prov *p, arca_status st, const char *what, const char *msg);

/* Borrow a logged-in client (opening / logging in the pool first if
 * needed). On failure the error is on the queue and the status returned.
 * Release with arca_prov_release (broken: the call failed with a local,
 * connection-level status). */
ARCA_MUST_CHECK arca_status arca_prov_acquire(arca_prov *p, arca_client **out);
void arca_prov_release(arca_prov *p, arca_client *c, arca_status call_status);

/* A key the appliance holds: its object id (private key, or public key for
 * a public-only object), its public half as an ordinary EVP_PKEY (from the
 * default provider) and its type. Reference counted. */
typedef enum arca_prov_key_type {
    ARCA_PROV_KEY_RSA = 1,
    ARCA_PROV_KEY_EC = 2,
    ARCA_PROV_KEY_ED25519 = 3,
} arca_prov_key_type;

#define ARCA_PROV_KEY_MAGIC 0x41524b59u /* "ARKY" */

typedef struct arca_prov_key {
    uint32_t magic;
    int refs; /* atomic */
    arca_prov *prov;
    arca_prov_key_type type;
    bool has_private; /* an appliance private-key object id is held */
    arca_client_id id;
    EVP_PKEY *pub; /* owned */
} arca_prov_key;

/* Takes ownership of pub on success. */
ARCA_MUST_CHECK arca_status arca_prov_key_new(arca_prov *p, arca_prov_key_type type, bool has_private,
                                              const arca_client_id *id, EVP_PKEY *pub, arca_prov_key **out);
/* A key object from the appliance's DER SubjectPublicKeyInfo (borrowed),
 * decoded in the provider's own library context and checked to be of
 * `type`. On failure the error is on the queue: ARCA_ERR_DECODE. */
ARCA_MUST_CHECK arca_status arca_prov_key_from_spki(arca_prov *p, arca_prov_key_type type, bool has_private,
                                                    const arca_client_id *id, const uint8_t *spki, size_t spki_len,
                                                    arca_prov_key **out);
/* Look up the key an arca: URI names (store.c): its private key, else its
 * public key, as a new key object (*out, one reference). On failure the
 * error is on the queue and the status returned (ARCA_ERR_ARGS for a URI
 * that does not parse, ARCA_ERR_NOT_FOUND, the appliance's status). */
ARCA_MUST_CHECK arca_status arca_prov_lookup_uri(arca_prov *p, const char *uri, arca_prov_key **out);
arca_prov_key *arca_prov_key_ref(arca_prov_key *k);
void arca_prov_key_free(arca_prov_key *k); /* drops one reference; NULL ok */
const char *arca_prov_key_type_name(arca_prov_key_type t);

extern const OSSL_DISPATCH arca_prov_store_functions[];
extern const OSSL_DISPATCH arca_prov_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH arca_prov_ec_keymgmt_functions[];
extern const OSSL_DISPATCH arca_prov_ed25519_keymgmt_functions[];
extern const OSSL_DISPATCH arca_prov_rsa_signature_functions[];
extern const OSSL_DISPATCH arca_prov_ecdsa_signature_functions[];
extern const OSSL_DISPATCH arca_prov_ed25519_signature_functions[];
extern const OSSL_DISPATCH arca_prov_rsa_asym_cipher_functions[];
extern const OSSL_DISPATCH arca_prov_encoder_functions[];
extern const OSSL_DISPATCH arca_prov_rsa_decoder_functions[];
extern const OSSL_DISPATCH arca_prov_ec_decoder_functions[];
extern const OSSL_DISPATCH arca_prov_ed25519_decoder_functions[];

#endif
