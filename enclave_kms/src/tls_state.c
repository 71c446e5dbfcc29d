/* The enclave's TLS key and operator certificate chain, sealed in the
 * appliance state (ARCA_DB_STATE "tls-key", "tls-cert"), and WHOAMI.
 * See kms.h ("TLS server key and operator certificate"). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "arca/local_proto.h"
#include "arca/log.h"
#include "kms_internal.h"

#define TLS_KEY_STATE "tls-key"
#define TLS_CERT_STATE "tls-cert"

/* Unsealed state blob `key` into *pt (secret) and its version; ARCA_ERR_NOT_FOUND if absent. */
static arca_status state_get(arca_kms *kms, const char *key, uint64_t *version, arca_secret *pt)
{
    uint8_t *val = NULL;
    size_t val_len = 0;
    ARCA_GUARD(kms->store->get(kms->store->ctx, ARCA_DB_STATE, (const uint8_t *)key, strlen(key), &val, &val_len));
    arca_status st = kms_state_unseal(kms, key, val, val_len, version, pt);
    free(val);
    return st;
}

static arca_status new_key_der(arca_secret *out)
{
    arca_status st = ARCA_ERR_CRYPTO;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    uint8_t *p = NULL;
    if (k == NULL) goto out;
    int n = i2d_PrivateKey(k, NULL);
    if (n <= 0) goto out;
    ARCA_GUARD_OUT(arca_secret_alloc(out, (size_t)n));
    p = out->data;
    if (i2d_PrivateKey(k, &p) != n) {
        arca_secret_free(out);
        st = ARCA_ERR_CRYPTO;
        goto out;
    }
    st = ARCA_OK;
out:
    EVP_PKEY_free(k);
    return st;
}

arca_status arca_kms_tls_key(arca_kms *kms, arca_secret *out_der)
{
    arca_status st;
    uint64_t version = 0;
    kms_txn t;
    ARCA_ENSURE(kms != NULL && out_der != NULL, ARCA_ERR_ARGS);
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->state_mu);
    st = state_get(kms, TLS_KEY_STATE, &version, out_der);
    if (st != ARCA_ERR_NOT_FOUND) goto out;
    /* First start: make the key and seal it before anyone sees it. */
    ARCA_GUARD_OUT(new_key_der(out_der));
    ARCA_GUARD_OUT(kms_state_put(kms, &t, TLS_KEY_STATE, 1, out_der->data, out_der->len));
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, NULL));
    ARCA_INFO("keystore: new TLS server key sealed");
out:
    pthread_mutex_unlock(&kms->state_mu);
    kms_txn_cleanup(&t);
    if (st != ARCA_OK) arca_secret_free(out_der);
    return st;
}

arca_status arca_kms_tls_cert_chain(arca_kms *kms, arca_builder *out)
{
    arca_status st;
    uint64_t version = 0;
    arca_secret pt = {0};
    ARCA_ENSURE(kms != NULL && out != NULL, ARCA_ERR_ARGS);
    pthread_mutex_lock(&kms->state_mu);
    st = state_get(kms, TLS_CERT_STATE, &version, &pt);
    pthread_mutex_unlock(&kms->state_mu);
    ARCA_GUARD(st);
    st = arca_builder_add_bytes(out, pt.data, pt.len);
    arca_secret_free(&pt);
    return st;
}

arca_status arca_kms_tls_admin(arca_kms *kms, const arca_kms_session *sess)
{
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_ADMIN, ARCA_ERR_PERMISSION);
    return ARCA_OK;
}

arca_status arca_kms_tls_cert_store(arca_kms *kms, arca_kms_session *sess, const uint8_t *chain, size_t len,
                                    const char *detail)
{
    arca_status st;
    uint64_t version = 0;
    arca_secret old = {0};
    kms_txn t;
    arca_audit_event ev;
    ARCA_ENSURE(kms != NULL && sess != NULL && chain != NULL && len > 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(len <= ARCA_TLS_CHAIN_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(arca_kms_tls_admin(kms, sess));
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->state_mu);
    st = state_get(kms, TLS_CERT_STATE, &version, &old);
    if (st == ARCA_ERR_NOT_FOUND) {
        version = 0;
        st = ARCA_OK;
    }
    ARCA_GUARD_OUT(st);
    ARCA_GUARD_OUT(kms_state_put(kms, &t, TLS_CERT_STATE, version + 1, chain, len));
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_TLS_CERT_INSTALL, ARCA_OK, NULL, detail);
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
out:
    pthread_mutex_unlock(&kms->state_mu);
    arca_secret_free(&old);
    kms_txn_cleanup(&t);
    return st;
}

arca_status arca_kms_whoami(arca_kms *kms, arca_kms_session *sess, arca_builder *out)
{
    arca_status st = ARCA_OK;
    ARCA_ENSURE(kms != NULL && sess != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_lp_identity item = {{NULL, 0}, 0, {NULL, 0}};
    char name[ARCA_IDENTITY_NAME_MAX + 1] = "";
    char parts[ARCA_IDENTITY_PARTITIONS_MAX + 1] = "";
    pthread_mutex_lock(&kms->state_mu);
    if (sess->has_peer) {
        memcpy(name, sess->identity, sizeof(name));
        for (size_t i = 0; i < kms->num_identities; i++) {
            if (strcmp(kms->identities[i].name, sess->identity) == 0) {
                item.roles = kms->identities[i].roles;
                memcpy(parts, kms->identities[i].partitions, sizeof(parts));
                break;
            }
        }
    }
    pthread_mutex_unlock(&kms->state_mu);
    item.name.data = (const uint8_t *)name;
    item.name.len = strlen(name);
    item.partitions.data = (const uint8_t *)parts;
    item.partitions.len = strlen(parts);
    bool in_partition = sess->role == ARCA_ROLE_SO || sess->role == ARCA_ROLE_USER;
    arca_lp_bytes part = {(const uint8_t *)sess->partition_name, in_partition ? strlen(sess->partition_name) : 0};
    ARCA_GUARD(arca_lp_whoami_add(out, &item, (uint8_t)sess->role, &part));
    return st;
}
