/* The arca provider: entry point, configuration, connection pool, errors,
 * key objects (docs/openssl.md). */
#include <errno.h>
#include <limits.h>
#include <openssl/x509.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prov.h"

#define POOL_MAX 8u
#define PIN_MAX 256u

/* ---- Errors -------------------------------------------------------------- */

void arca_prov_error(arca_prov *p, int reason, const char *fmt, ...)
{
    va_list ap;
    if (p == NULL || p->new_error == NULL || p->vset_error == NULL) return;
    p->new_error(p->handle);
    if (p->set_error_debug != NULL) p->set_error_debug(p->handle, "arca", 0, "arca");
    va_start(ap, fmt);
    p->vset_error(p->handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}

void arca_prov_error_status(arca_prov *p, arca_status st, const char *what, const char *msg)
{
    int reason = st == ARCA_ERR_NOT_FOUND ? ARCA_PROV_R_NOT_FOUND : ARCA_PROV_R_APPLIANCE;
    arca_prov_error(p, reason, "%s: %s: %s", what, arca_status_name(st),
                    msg != NULL && msg[0] != '\0' ? msg : arca_status_message(st));
}

static const OSSL_ITEM reason_strings[] = {
    {ARCA_PROV_R_CONFIG, "arca provider configuration"},
    {ARCA_PROV_R_CONNECT, "cannot reach the Arca appliance"},
    {ARCA_PROV_R_URI, "bad arca URI"},
    {ARCA_PROV_R_NOT_FOUND, "no such key in the Arca appliance"},
    {ARCA_PROV_R_APPLIANCE, "the Arca appliance refused"},
    {ARCA_PROV_R_UNSUPPORTED, "not supported by the arca provider"},
    {ARCA_PROV_R_INTERNAL, "arca provider internal error"},
    {ARCA_PROV_R_GEN, "arca key generation"},
    {0, NULL},
};

/* ---- Pool ---------------------------------------------------------------- */

/* The PIN: pin_file's first line, else $ARCA_PIN. */
static arca_status read_pin(arca_prov *p, char pin[PIN_MAX + 1])
{
    if (p->pin_file[0] != '\0') {
        FILE *f = fopen(p->pin_file, "r");
        size_t n;
        if (f == NULL) {
            arca_prov_error(p, ARCA_PROV_R_CONFIG, "pin_file %s: cannot open: %s", p->pin_file, strerror(errno));
            return ARCA_ERR_CONFIG;
        }
        n = fread(pin, 1, PIN_MAX, f);
        (void)fclose(f);
        pin[n] = '\0';
        pin[strcspn(pin, "\r\n")] = '\0';
    } else {
        const char *e = getenv("ARCA_PIN");
        if (e == NULL || strlen(e) > PIN_MAX) e = "";
        memcpy(pin, e, strlen(e) + 1);
    }
    if (pin[0] == '\0') {
        arca_prov_error(p, ARCA_PROV_R_CONFIG, "no PIN: set pin_file in the provider section or ARCA_PIN");
        return ARCA_ERR_CONFIG;
    }
    return ARCA_OK;
}

/* Open and log in a new pool (not under p->lock: this talks to the
 * appliance, for up to timeout_ms, and a fork() in another thread must not
 * find the lock held). */
static arca_status pool_open(arca_prov *p, arca_client_pool **out, int *out_timeout)
{
    arca_client_config cfg;
    char msg[ARCA_CLIENT_MSG_LEN];
    char pin[PIN_MAX + 1] = "";
    const char *partition = p->partition[0] != '\0' ? p->partition : getenv("ARCA_PARTITION");
    arca_client_pool *pool = NULL;
    arca_status st;

    if (p->client_conf[0] != '\0') {
        st = arca_client_config_load(p->client_conf, &cfg, msg, sizeof msg);
    } else {
        st = arca_client_config_from_env(&cfg, msg, sizeof msg);
    }
    if (st != ARCA_OK) {
        arca_prov_error(p, ARCA_PROV_R_CONFIG, "client configuration: %s: %s", arca_status_name(st), msg);
        return st;
    }
    if (partition == NULL || partition[0] == '\0' || strlen(partition) > ARCA_LP_NAME_MAX) {
        arca_prov_error(p, ARCA_PROV_R_CONFIG, "no partition: set partition in the provider section or ARCA_PARTITION");
        return ARCA_ERR_CONFIG;
    }
    ARCA_GUARD(read_pin(p, pin));
    st = arca_client_pool_new(&cfg, POOL_MAX, &pool, msg, sizeof msg);
    if (st != ARCA_OK) {
        arca_prov_error(p, ARCA_PROV_R_CONFIG, "client pool: %s: %s", arca_status_name(st), msg);
        goto out;
    }
    st = arca_client_pool_login(pool, partition, ARCA_CLIENT_ROLE_USER, pin, msg, sizeof msg);
    if (st != ARCA_OK) {
        int reason = (st == ARCA_ERR_TIMEOUT || st == ARCA_ERR_IO || st == ARCA_ERR_CHANNEL) ? ARCA_PROV_R_CONNECT
                                                                                              : ARCA_PROV_R_APPLIANCE;
        arca_prov_error(p, reason, "login to partition %s: %s: %s", partition, arca_status_name(st), msg);
        goto out;
    }
    *out = pool;
    *out_timeout = cfg.timeout_ms;
    pool = NULL;
out:
    OPENSSL_cleanse(pin, sizeof pin);
    arca_client_pool_free(pool);
    return st;
}

/* Called with p->lock held: in a child after fork(), put the parent's
 * pool aside. Closing it would send TLS close_notify records on the
 * parent's connections (the sockets are shared) and could block on a
 * mutex a parent thread held at fork(); it stays allocated and unused
 * (its descriptors stay open in the child: at most POOL_MAX per fork). */
static arca_status abandon_if_forked(arca_prov *p)
{
    arca_client_pool **a;
    if (p->pool == NULL || p->pool_pid == getpid()) return ARCA_OK;
    a = OPENSSL_realloc(p->abandoned, (p->num_abandoned + 1) * sizeof *a);
    ARCA_ENSURE(a != NULL, ARCA_ERR_NOMEM);
    a[p->num_abandoned++] = p->pool;
    p->abandoned = a;
    p->pool = NULL;
    return ARCA_OK;
}

arca_status arca_prov_acquire(arca_prov *p, arca_client **out)
{
    char msg[ARCA_CLIENT_MSG_LEN];
    arca_client_pool *pool = NULL, *fresh = NULL;
    int timeout = 0, fresh_timeout = 0;
    arca_status st;

    ARCA_ENSURE(pthread_mutex_lock(&p->lock) == 0, ARCA_ERR_INTERNAL);
    st = abandon_if_forked(p);
    pool = p->pool;
    timeout = p->timeout_ms;
    (void)pthread_mutex_unlock(&p->lock);
    ARCA_GUARD(st);
    if (pool == NULL) {
        ARCA_GUARD(pool_open(p, &fresh, &fresh_timeout));
        ARCA_ENSURE(pthread_mutex_lock(&p->lock) == 0, ARCA_ERR_INTERNAL);
        st = abandon_if_forked(p);
        if (st == ARCA_OK && p->pool == NULL) { /* else another thread was first: use its pool */
            p->pool = fresh;
            p->pool_pid = getpid();
            p->timeout_ms = fresh_timeout;
            fresh = NULL;
        }
        pool = p->pool;
        timeout = p->timeout_ms;
        (void)pthread_mutex_unlock(&p->lock);
        arca_client_pool_free(fresh);
        ARCA_GUARD(st);
    }
    st = arca_client_pool_acquire(pool, timeout, out, msg, sizeof msg);
    if (st != ARCA_OK) {
        arca_prov_error(p, ARCA_PROV_R_CONNECT, "appliance connection: %s: %s", arca_status_name(st), msg);
    }
    return st;
}

void arca_prov_release(arca_prov *p, arca_client *c, arca_status call_status)
{
    bool broken = call_status == ARCA_ERR_TIMEOUT || call_status == ARCA_ERR_IO || call_status == ARCA_ERR_CHANNEL;
    arca_client_pool *pool;
    if (c == NULL) return;
    if (pthread_mutex_lock(&p->lock) != 0) return;
    /* A client borrowed before a fork() and released in the child belongs
     * to the abandoned pool: leave it alone. */
    pool = p->pool_pid == getpid() ? p->pool : NULL;
    (void)pthread_mutex_unlock(&p->lock);
    if (pool != NULL) {
        arca_status st = arca_client_pool_release(pool, c, broken);
        (void)st; /* ARCA_ERR_ARGS only for a client the pool did not lend: not ours to fix */
    }
}

/* ---- Keys ---------------------------------------------------------------- */

arca_status arca_prov_key_new(arca_prov *p, arca_prov_key_type type, bool has_private, const arca_client_id *id,
                              EVP_PKEY *pub, arca_prov_key **out)
{
    arca_prov_key *k = OPENSSL_zalloc(sizeof *k);
    ARCA_ENSURE(k != NULL, ARCA_ERR_NOMEM);
    k->magic = ARCA_PROV_KEY_MAGIC;
    k->refs = 1;
    k->prov = p;
    k->type = type;
    k->has_private = has_private;
    if (id != NULL) k->id = *id;
    k->pub = pub;
    *out = k;
    return ARCA_OK;
}

arca_status arca_prov_key_from_spki(arca_prov *p, arca_prov_key_type type, bool has_private, const arca_client_id *id,
                                    const uint8_t *spki, size_t spki_len, arca_prov_key **out)
{
    const unsigned char *dp = spki;
    EVP_PKEY *pub = NULL;
    arca_status st;
    if (spki_len > 0 && spki_len <= LONG_MAX) pub = d2i_PUBKEY_ex(NULL, &dp, (long)spki_len, p->libctx, NULL);
    if (pub == NULL || dp != spki + spki_len ||
        !EVP_PKEY_is_a(pub, type == ARCA_PROV_KEY_EC ? "EC" : arca_prov_key_type_name(type))) {
        arca_prov_error(p, ARCA_PROV_R_INTERNAL, "the appliance's public key could not be decoded");
        EVP_PKEY_free(pub);
        return ARCA_ERR_DECODE;
    }
    st = arca_prov_key_new(p, type, has_private, id, pub, out);
    if (st != ARCA_OK) EVP_PKEY_free(pub);
    return st;
}

arca_prov_key *arca_prov_key_ref(arca_prov_key *k)
{
    if (k != NULL) __atomic_add_fetch(&k->refs, 1, __ATOMIC_SEQ_CST);
    return k;
}

void arca_prov_key_free(arca_prov_key *k)
{
    if (k == NULL) return;
    if (__atomic_sub_fetch(&k->refs, 1, __ATOMIC_SEQ_CST) != 0) return;
    EVP_PKEY_free(k->pub);
    k->magic = 0;
    OPENSSL_free(k);
}

const char *arca_prov_key_type_name(arca_prov_key_type t)
{
    switch (t) {
    case ARCA_PROV_KEY_RSA: return "RSA";
    case ARCA_PROV_KEY_EC: return "EC";
    case ARCA_PROV_KEY_ED25519: return "ED25519";
    default: return NULL;
    }
}

/* ---- Provider ------------------------------------------------------------ */

#define PROPS "provider=arca"

static const OSSL_ALGORITHM store_algs[] = {
    {"arca", PROPS, arca_prov_store_functions, "Arca appliance keys (arca:label=NAME, arca:id=HEX)"},
    {"pkcs11", PROPS, arca_prov_store_functions, "RFC 7512 pkcs11: URIs naming Arca keys"},
    {NULL, NULL, NULL, NULL},
};
static const OSSL_ALGORITHM keymgmt_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", PROPS, arca_prov_rsa_keymgmt_functions, "Arca RSA key"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", PROPS, arca_prov_ec_keymgmt_functions, "Arca EC key"},
    {"ED25519:1.3.101.112", PROPS, arca_prov_ed25519_keymgmt_functions, "Arca Ed25519 key"},
    {NULL, NULL, NULL, NULL},
};
static const OSSL_ALGORITHM signature_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", PROPS, arca_prov_rsa_signature_functions, "Arca RSA signature"},
    {"ECDSA", PROPS, arca_prov_ecdsa_signature_functions, "Arca ECDSA"},
    {"ED25519:1.3.101.112", PROPS, arca_prov_ed25519_signature_functions, "Arca Ed25519"},
    {NULL, NULL, NULL, NULL},
};
static const OSSL_ALGORITHM asym_cipher_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", PROPS, arca_prov_rsa_asym_cipher_functions, "Arca RSA decrypt"},
    {NULL, NULL, NULL, NULL},
};

/* genpkey and PEM_write_bio_PrivateKey on an Arca key write a PEM that
 * names the key (provider/src/encoder.c). Only for this provider's keys:
 * the encoder has no import, so OpenSSL never offers it another's key. */
#define ENCODER_PROPS PROPS ",output=pem,structure=PrivateKeyInfo"
static const OSSL_ALGORITHM encoder_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", ENCODER_PROPS, arca_prov_encoder_functions, "Arca RSA key URI"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", ENCODER_PROPS, arca_prov_encoder_functions, "Arca EC key URI"},
    {"ED25519:1.3.101.112", ENCODER_PROPS, arca_prov_encoder_functions, "Arca Ed25519 key URI"},
    {NULL, NULL, NULL, NULL},
};

/* ... and read it back: `-inkey web.key.pem` (provider/src/decoder.c). One
 * decoder per key type: OpenSSL asks each for the type it wants. */
#define DECODER_PROPS PROPS ",input=pem"
static const OSSL_ALGORITHM decoder_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", DECODER_PROPS, arca_prov_rsa_decoder_functions, "ARCA KEY URI PEM"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", DECODER_PROPS, arca_prov_ec_decoder_functions, "ARCA KEY URI PEM"},
    {"ED25519:1.3.101.112", DECODER_PROPS, arca_prov_ed25519_decoder_functions, "ARCA KEY URI PEM"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *query(void *provctx, int operation_id, int *no_cache)
{
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_STORE: return store_algs;
    case OSSL_OP_KEYMGMT: return keymgmt_algs;
    case OSSL_OP_SIGNATURE: return signature_algs;
    case OSSL_OP_ASYM_CIPHER: return asym_cipher_algs;
    case OSSL_OP_ENCODER: return encoder_algs;
    case OSSL_OP_DECODER: return decoder_algs;
    default: return NULL;
    }
}

static const OSSL_PARAM *gettable_params(void *provctx)
{
    static const OSSL_PARAM t[] = {
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
        OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
        OSSL_PARAM_END,
    };
    return t;
}

static int get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *q;
    if ((q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL &&
        !OSSL_PARAM_set_utf8_ptr(q, "Arca appliance provider"))
        return 0;
    if ((q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL && !OSSL_PARAM_set_utf8_ptr(q, "0.1.0"))
        return 0;
    if ((q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) != NULL && !OSSL_PARAM_set_utf8_ptr(q, "arca"))
        return 0;
    if ((q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL && !OSSL_PARAM_set_int(q, 1)) return 0;
    return 1;
}

static const OSSL_ITEM *get_reason_strings(void *provctx)
{
    return reason_strings;
}

static void teardown(void *provctx)
{
    arca_prov *p = provctx;
    if (p == NULL) return;
    /* In a forked child the pool is the parent's: abandoned, not closed. */
    if (p->pool_pid == getpid()) arca_client_pool_free(p->pool);
    OPENSSL_free(p->abandoned);
    OSSL_LIB_CTX_free(p->libctx);
    (void)pthread_mutex_destroy(&p->lock);
    OPENSSL_free(p);
}

static const OSSL_DISPATCH provider_functions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))query},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))get_reason_strings},
    {0, NULL},
};

static int copy_param(arca_prov *p, const char *name, const char *v, char *dst, size_t dst_len)
{
    if (v == NULL) return 1;
    if (strlen(v) >= dst_len) {
        arca_prov_error(p, ARCA_PROV_R_CONFIG, "provider parameter %s is too long", name);
        return 0;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 1;
}

__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                              const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                                                              void **provctx);

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                       void **provctx)
{
    OSSL_FUNC_core_get_params_fn *core_get_params = NULL;
    char *conf = NULL, *partition = NULL, *pin_file = NULL;
    OSSL_PARAM req[] = {
        OSSL_PARAM_utf8_ptr("client_conf", &conf, 0),
        OSSL_PARAM_utf8_ptr("partition", &partition, 0),
        OSSL_PARAM_utf8_ptr("pin_file", &pin_file, 0),
        OSSL_PARAM_END,
    };
    arca_prov *p = OPENSSL_zalloc(sizeof *p);
    if (p == NULL) return 0;
    p->handle = handle;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS: core_get_params = OSSL_FUNC_core_get_params(in); break;
        case OSSL_FUNC_CORE_NEW_ERROR: p->new_error = OSSL_FUNC_core_new_error(in); break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG: p->set_error_debug = OSSL_FUNC_core_set_error_debug(in); break;
        case OSSL_FUNC_CORE_VSET_ERROR: p->vset_error = OSSL_FUNC_core_vset_error(in); break;
        case OSSL_FUNC_BIO_WRITE_EX: p->bio_write_ex = OSSL_FUNC_BIO_write_ex(in); break;
        case OSSL_FUNC_BIO_READ_EX: p->bio_read_ex = OSSL_FUNC_BIO_read_ex(in); break;
        default: break; /* others are not used */
        }
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        OPENSSL_free(p);
        return 0;
    }
    if (core_get_params != NULL && !core_get_params(handle, req)) goto fail;
    if (!copy_param(p, "client_conf", conf, p->client_conf, sizeof p->client_conf) ||
        !copy_param(p, "partition", partition, p->partition, sizeof p->partition) ||
        !copy_param(p, "pin_file", pin_file, p->pin_file, sizeof p->pin_file))
        goto fail;
    /* Public-key work (decoding the SPKI, export) runs in a private library
     * context with only the default provider: it never recurses into this
     * provider, and works whatever the application loaded. */
    p->libctx = OSSL_LIB_CTX_new();
    if (p->libctx == NULL || OSSL_PROVIDER_load(p->libctx, "default") == NULL) goto fail;
    *out = provider_functions;
    *provctx = p;
    return 1;
fail:
    teardown(p);
    return 0;
}
