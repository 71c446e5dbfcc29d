/* Client identities, the client CA, peer admission, fresh attestation and
 * audit read (kms.h, "Client identities").
 *
 * ARCA_DB_STATE "identities": sealed like the other state blobs
 * (partition.c: purpose STATE, AAD = the key, object id from the key)
 *   u16 format(1) | u32-prefixed client CA DER (empty: none) |
 *   u32 count | (u16-prefixed name, u32 roles, u16-prefixed partitions)*
 * names strictly ascending. One blob for the CA and every identity, so a
 * change (put, remove, initialise_domain) is one put in one commit with
 * its audit record, and the "last ADMIN identity" rule is checked against
 * one consistent set. Loaded at open with the rest of the state.
 *
 * Admission (arca_kms_session_set_peer): before initialisation any
 * well-formed certificate with a usable CN (bootstrap); afterwards the
 * certificate must verify against the client CA (X509_verify_cert, purpose
 * SSL client, the peer's intermediates as untrusted) and its CN must be
 * registered. CN: exactly one commonName in the subject, 1..64 printable
 * ASCII bytes. Every refusal is audited (CONNECTION_REFUSED, actor = CN,
 * detail = reason, status = the refusal). Identities are looked up again at
 * every login and audit access, so removing one takes effect for sessions
 * already connected (they keep what they are logged in as). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "arca/local_proto.h"
#include "arca/log.h"
#include "arca/ratls.h"
#include "kms_internal.h"

#define IDENTITIES_KEY "identities"
#define IDENTITIES_FORMAT 1u
#define PEER_CERT_MAX (32u * 1024u) /* one DER certificate from a peer */
#define PEER_CHAIN_MAX 8u           /* intermediates a peer may send */
/* RECORDS bodies stay well under the local protocol's 1 MiB frame. */
#define AUDIT_READ_BYTES (768u * 1024u)

/* ---- validation ---------------------------------------------------------- */

static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return false;
    }
    return true;
}

static bool name_ok(const char *name)
{
    size_t n = strnlen(name, ARCA_IDENTITY_NAME_MAX + 1);
    return n >= 1 && n <= ARCA_IDENTITY_NAME_MAX && printable(name, n);
}

/* "*" or comma-separated partition names, each 1..ARCA_PARTITION_NAME_MAX
 * printable bytes. */
static bool partitions_ok(const char *list)
{
    size_t n = strnlen(list, ARCA_IDENTITY_PARTITIONS_MAX + 1);
    if (n == 0 || n > ARCA_IDENTITY_PARTITIONS_MAX || !printable(list, n)) return false;
    if (strcmp(list, "*") == 0) return true;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t item = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (item == 0 || item > ARCA_PARTITION_NAME_MAX) return false;
        if (item == 1 && p[0] == '*') return false; /* "*" only on its own */
        if (comma == NULL) return true;
        p = comma + 1;
    }
}

static bool partitions_include(const char *list, const char *partition)
{
    if (strcmp(list, "*") == 0) return true;
    size_t want = strlen(partition);
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t item = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (item == want && memcmp(p, partition, want) == 0) return true;
        if (comma == NULL) return false;
        p = comma + 1;
    }
}

/* ---- the identity set ---------------------------------------------------- */

static kms_identity *identity_find(arca_kms *kms, const char *name)
{
    for (size_t i = 0; i < kms->num_identities; i++) {
        if (strcmp(kms->identities[i].name, name) == 0) return &kms->identities[i];
    }
    return NULL;
}

static size_t count_admins(const kms_identity *ids, size_t num)
{
    size_t n = 0;
    for (size_t i = 0; i < num; i++) {
        if (ids[i].roles & ARCA_IDENTITY_ROLE_ADMIN) n++;
    }
    return n;
}

static arca_status identities_encode(const uint8_t *ca, size_t ca_len, const kms_identity *ids, size_t num,
                                     arca_builder *b)
{
    ARCA_GUARD(arca_builder_add_u16(b, IDENTITIES_FORMAT));
    ARCA_GUARD(arca_builder_add_u32_prefixed(b, ca, ca_len));
    ARCA_GUARD(arca_builder_add_u32(b, (uint32_t)num));
    for (size_t i = 0; i < num; i++) {
        ARCA_GUARD(arca_builder_add_u16_prefixed(b, ids[i].name, strlen(ids[i].name)));
        ARCA_GUARD(arca_builder_add_u32(b, ids[i].roles));
        ARCA_GUARD(arca_builder_add_u16_prefixed(b, ids[i].partitions, strlen(ids[i].partitions)));
    }
    return b->error;
}

/* Add the sealed identities blob to t. */
static arca_status identities_put(arca_kms *kms, kms_txn *t, uint64_t version, const uint8_t *ca, size_t ca_len,
                                  const kms_identity *ids, size_t num)
{
    arca_status st;
    arca_builder b;
    ARCA_GUARD(arca_builder_init(&b, 1024, ARCA_CLIENT_CA_MAX + 64 + ARCA_IDENTITY_MAX * (sizeof(kms_identity) + 8)));
    ARCA_GUARD_OUT(identities_encode(ca, ca_len, ids, num, &b));
    st = kms_state_put(kms, t, IDENTITIES_KEY, version, b.data, b.len);
out:
    arca_builder_cleanup(&b);
    return st;
}

/* Exactly one DER certificate, nothing after it. */
static arca_status cert_parse(const uint8_t *der, size_t len, X509 **out)
{
    ARCA_ENSURE(der != NULL && len > 0 && len <= PEER_CERT_MAX + ARCA_CLIENT_CA_MAX, ARCA_ERR_DECODE);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        ERR_clear_error();
        return ARCA_ERR_DECODE;
    }
    *out = x;
    return ARCA_OK;
}

static arca_status identities_decode(const uint8_t *pt, size_t len, X509 **out_ca, uint8_t **out_der,
                                     size_t *out_der_len, kms_identity **out_ids, size_t *out_num)
{
    arca_status st = ARCA_OK;
    arca_cursor c, ca, text;
    uint16_t fmt;
    uint32_t num = 0;
    kms_identity *ids = NULL;
    X509 *x = NULL;
    uint8_t *der = NULL;

    arca_cursor_init(&c, pt, len);
    ARCA_GUARD(arca_cursor_get_u16(&c, &fmt));
    ARCA_ENSURE(fmt == IDENTITIES_FORMAT, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u32_prefixed(&c, &ca));
    ARCA_ENSURE(ca.len <= ARCA_CLIENT_CA_MAX, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u32(&c, &num));
    ARCA_ENSURE(num <= ARCA_IDENTITY_MAX, ARCA_ERR_DECODE);
    if (num > 0) {
        ids = calloc(num, sizeof(*ids));
        ARCA_ENSURE(ids != NULL, ARCA_ERR_NOMEM);
    }
    for (uint32_t i = 0; i < num; i++) {
        ARCA_GUARD_OUT(arca_cursor_get_u16_prefixed(&c, &text));
        ARCA_ENSURE_OUT(text.len >= 1 && text.len <= ARCA_IDENTITY_NAME_MAX, ARCA_ERR_DECODE);
        memcpy(ids[i].name, text.data, text.len);
        ARCA_GUARD_OUT(arca_cursor_get_u32(&c, &ids[i].roles));
        ARCA_GUARD_OUT(arca_cursor_get_u16_prefixed(&c, &text));
        ARCA_ENSURE_OUT(text.len >= 1 && text.len <= ARCA_IDENTITY_PARTITIONS_MAX, ARCA_ERR_DECODE);
        memcpy(ids[i].partitions, text.data, text.len);
        ARCA_ENSURE_OUT(name_ok(ids[i].name) && partitions_ok(ids[i].partitions), ARCA_ERR_DECODE);
        ARCA_ENSURE_OUT(ids[i].roles != 0 && (ids[i].roles & ~ARCA_IDENTITY_ROLES_ALL) == 0, ARCA_ERR_DECODE);
        ARCA_ENSURE_OUT(i == 0 || strcmp(ids[i - 1].name, ids[i].name) < 0, ARCA_ERR_DECODE);
    }
    ARCA_GUARD_OUT(arca_cursor_finish(&c));
    if (ca.len > 0) {
        ARCA_GUARD_OUT(cert_parse(ca.data, ca.len, &x));
        der = malloc(ca.len);
        ARCA_ENSURE_OUT(der != NULL, ARCA_ERR_NOMEM);
        memcpy(der, ca.data, ca.len);
    }
    *out_ca = x;
    *out_der = der;
    *out_der_len = ca.len;
    *out_ids = ids;
    *out_num = num;
    return ARCA_OK;
out:
    X509_free(x);
    free(der);
    free(ids);
    return st;
}

arca_status kms_identities_load(arca_kms *kms)
{
    arca_status st;
    uint8_t *val = NULL;
    size_t val_len = 0;
    arca_secret pt = {0};
    uint64_t version = 0;

    st = kms->store->get(kms->store->ctx, ARCA_DB_STATE, (const uint8_t *)IDENTITIES_KEY, strlen(IDENTITIES_KEY),
                         &val, &val_len);
    if (st == ARCA_ERR_NOT_FOUND) return ARCA_OK;
    ARCA_GUARD(st);
    ARCA_GUARD_OUT(kms_state_unseal(kms, IDENTITIES_KEY, val, val_len, &version, &pt));
    st = identities_decode(pt.data, pt.len, &kms->client_ca, &kms->client_ca_der, &kms->client_ca_len,
                           &kms->identities, &kms->num_identities);
    if (st == ARCA_ERR_DECODE) {
        ARCA_ERROR("state %s: malformed", IDENTITIES_KEY);
        st = ARCA_ERR_INTEGRITY;
    }
    ARCA_GUARD_OUT(st);
    kms->identities_version = version;
out:
    arca_secret_free(&pt);
    free(val);
    return st;
}

void kms_identities_cleanup(arca_kms *kms)
{
    X509_free(kms->client_ca);
    kms->client_ca = NULL;
    free(kms->client_ca_der);
    kms->client_ca_der = NULL;
    kms->client_ca_len = 0;
    if (kms->identities != NULL) arca_wipe(kms->identities, kms->num_identities * sizeof(kms_identity));
    free(kms->identities);
    kms->identities = NULL;
    kms->num_identities = 0;
}

/* Replace the identity set after a successful commit (takes ids). */
static void identities_replace(arca_kms *kms, kms_identity *ids, size_t num)
{
    free(kms->identities);
    kms->identities = ids;
    kms->num_identities = num;
    kms->identities_version++;
}

/* ---- certificates -------------------------------------------------------- */

/* The subject's one commonName, 1..64 printable ASCII bytes. */
static arca_status cert_cn(X509 *x, char out[ARCA_IDENTITY_NAME_MAX + 1])
{
    const X509_NAME *subj = X509_get_subject_name(x);
    ARCA_ENSURE(subj != NULL, ARCA_ERR_DECODE);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    ARCA_ENSURE(idx >= 0, ARCA_ERR_DECODE);
    ARCA_ENSURE(X509_NAME_get_index_by_NID(subj, NID_commonName, idx) < 0, ARCA_ERR_DECODE);
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    arca_status st = ARCA_OK;
    if (n < 1 || n > (int)ARCA_IDENTITY_NAME_MAX || !printable((const char *)utf8, (size_t)n)) {
        st = ARCA_ERR_DECODE;
    } else {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
    return st;
}

/* leaf (with untrusted intermediates) verifies against ca for a TLS
 * client. ARCA_ERR_CERT_UNTRUSTED with the reason in why. */
static arca_status cert_verify(X509 *ca, X509 *leaf, STACK_OF(X509) *chain, char *why, size_t why_len)
{
    arca_status st = ARCA_ERR_CERT_UNTRUSTED;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    snprintf(why, why_len, "certificate not issued by the client CA");
    if (store == NULL || ctx == NULL) {
        st = ARCA_ERR_NOMEM;
        goto out;
    }
    if (X509_STORE_add_cert(store, ca) != 1 || X509_STORE_CTX_init(ctx, store, leaf, chain) != 1 ||
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1) {
        st = ARCA_ERR_CRYPTO;
        goto out;
    }
    if (X509_verify_cert(ctx) == 1) {
        st = ARCA_OK;
        why[0] = '\0';
    } else {
        snprintf(why, why_len, "certificate not issued by the client CA (%s)",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return st;
}

static arca_status audit_refused(arca_kms *kms, const char *cn, arca_status why_status, const char *why)
{
    arca_audit_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = ARCA_AUDIT_CONNECTION_REFUSED;
    ev.status = why_status;
    ev.actor = cn != NULL ? cn : "";
    ev.detail = why;
    ARCA_WARN("keystore: connection refused%s%s: %s", cn != NULL && cn[0] ? " for " : "", cn != NULL ? cn : "", why);
    arca_status st = arca_audit_append(kms->audit, &ev);
    if (st != ARCA_OK) ARCA_ERROR("keystore: audit append failed: %s", arca_status_name(st));
    return st;
}

arca_status arca_kms_audit_refusal(arca_kms *kms, const char *peer, const char *reason)
{
    ARCA_ENSURE(kms != NULL, ARCA_ERR_ARGS);
    return audit_refused(kms, peer != NULL ? peer : "", ARCA_ERR_CERT_UNTRUSTED,
                         reason != NULL ? reason : "no client certificate");
}

arca_status arca_kms_session_set_peer(arca_kms *kms, arca_kms_session *sess, const uint8_t *leaf_der,
                                      size_t leaf_len, const uint8_t *const *chain_der, const size_t *chain_len,
                                      size_t chain_num)
{
    arca_status st;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    char cn[ARCA_IDENTITY_NAME_MAX + 1] = "";
    char why[200] = "";
    bool locked = false;

    ARCA_ENSURE(kms != NULL && sess != NULL && leaf_der != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(chain_num == 0 || (chain_der != NULL && chain_len != NULL), ARCA_ERR_ARGS);
    ARCA_ENSURE(!sess->has_peer, ARCA_ERR_ALREADY_LOGGED_IN);

    snprintf(why, sizeof(why), "malformed client certificate");
    ARCA_ENSURE_OUT(leaf_len <= PEER_CERT_MAX && chain_num <= PEER_CHAIN_MAX, ARCA_ERR_DECODE);
    ARCA_GUARD_OUT(cert_parse(leaf_der, leaf_len, &leaf));
    chain = sk_X509_new_null();
    ARCA_ENSURE_OUT(chain != NULL, ARCA_ERR_NOMEM);
    for (size_t i = 0; i < chain_num; i++) {
        X509 *x = NULL;
        ARCA_ENSURE_OUT(chain_len[i] <= PEER_CERT_MAX, ARCA_ERR_DECODE);
        ARCA_GUARD_OUT(cert_parse(chain_der[i], chain_len[i], &x));
        if (sk_X509_push(chain, x) <= 0) {
            X509_free(x);
            st = ARCA_ERR_NOMEM;
            goto out;
        }
    }
    snprintf(why, sizeof(why), "client certificate has no usable subject CN");
    ARCA_GUARD_OUT(cert_cn(leaf, cn));

    pthread_mutex_lock(&kms->state_mu);
    locked = true;
    if (kms->initialised) {
        if (kms->client_ca == NULL) {
            snprintf(why, sizeof(why), "no client CA installed");
            st = ARCA_ERR_CERT_UNTRUSTED;
            goto out;
        }
        ARCA_GUARD_OUT(cert_verify(kms->client_ca, leaf, chain, why, sizeof(why)));
        snprintf(why, sizeof(why), "identity not registered");
        ARCA_ENSURE_OUT(identity_find(kms, cn) != NULL, ARCA_ERR_IDENTITY_UNKNOWN);
    }
    /* Admitted (registered, or bootstrap before initialisation). */
    sess->has_peer = true;
    memcpy(sess->identity, cn, sizeof(sess->identity));
    sess->peer_cert = leaf;
    sess->peer_chain = chain;
    leaf = NULL;
    chain = NULL;
    st = ARCA_OK;
out:
    if (locked) pthread_mutex_unlock(&kms->state_mu);
    if (st == ARCA_ERR_DECODE || st == ARCA_ERR_CERT_UNTRUSTED || st == ARCA_ERR_IDENTITY_UNKNOWN) {
        (void)audit_refused(kms, cn, st, why);
    }
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    return st;
}

arca_status arca_kms_session_set_channel_binding(arca_kms_session *sess, const uint8_t *b, size_t len)
{
    ARCA_ENSURE(sess != NULL && b != NULL && len >= 1 && len <= ARCA_CHANNEL_BINDING_MAX, ARCA_ERR_ARGS);
    memcpy(sess->binding, b, len);
    sess->binding_len = len;
    return ARCA_OK;
}

const char *arca_kms_session_identity(const arca_kms_session *sess)
{
    return sess != NULL ? sess->identity : "";
}

arca_status kms_identity_may_login(arca_kms *kms, const arca_kms_session *sess, arca_role role,
                                   const char *partition)
{
    if (!sess->has_peer) return ARCA_OK;
    const kms_identity *id = identity_find(kms, sess->identity);
    ARCA_ENSURE(id != NULL, ARCA_ERR_IDENTITY_UNKNOWN);
    switch (role) {
    case ARCA_ROLE_ADMIN:
        ARCA_ENSURE(id->roles & ARCA_IDENTITY_ROLE_ADMIN, ARCA_ERR_PERMISSION);
        return ARCA_OK;
    case ARCA_ROLE_SO:
        ARCA_ENSURE(partition != NULL && partitions_include(id->partitions, partition), ARCA_ERR_PERMISSION);
        return ARCA_OK;
    case ARCA_ROLE_USER:
        ARCA_ENSURE(id->roles & ARCA_IDENTITY_ROLE_USER, ARCA_ERR_PERMISSION);
        ARCA_ENSURE(partition != NULL && partitions_include(id->partitions, partition), ARCA_ERR_PERMISSION);
        return ARCA_OK;
    case ARCA_ROLE_NONE:
    default:
        return ARCA_ERR_ARGS;
    }
}

bool kms_identity_has_role(arca_kms *kms, const arca_kms_session *sess, uint32_t role)
{
    if (!sess->has_peer) return false;
    const kms_identity *id = identity_find(kms, sess->identity);
    return id != NULL && (id->roles & role) != 0;
}

/* ---- initialisation with a client CA ------------------------------------ */

arca_status arca_kms_initialise_domain(arca_kms *kms, arca_kms_session *sess, const char *admin_pin,
                                       const uint8_t *client_ca_der, size_t ca_len)
{
    arca_status st;
    kms_txn t;
    kms_pin pin = {0};
    arca_audit_event ev;
    X509 *ca = NULL;
    uint8_t *der = NULL;
    kms_identity *ids = NULL;
    char why[200], detail[160];

    ARCA_ENSURE(kms != NULL && sess != NULL && client_ca_der != NULL, ARCA_ERR_ARGS);
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->state_mu);
    ARCA_ENSURE_OUT(!kms->initialised, ARCA_ERR_ALREADY_INITIALISED);
    ARCA_ENSURE_OUT(sess->has_peer && sess->peer_cert != NULL, ARCA_ERR_PERMISSION);
    ARCA_GUARD_OUT(kms_pin_check_len(admin_pin));
    ARCA_ENSURE_OUT(ca_len <= ARCA_CLIENT_CA_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD_OUT(cert_parse(client_ca_der, ca_len, &ca));
    uint32_t flags = X509_get_extension_flags(ca);
    ARCA_ENSURE_OUT((flags & EXFLAG_BCONS) && (flags & EXFLAG_CA), ARCA_ERR_ARGS);
    st = cert_verify(ca, sess->peer_cert, sess->peer_chain, why, sizeof(why));
    if (st != ARCA_OK) {
        ARCA_WARN("keystore: initialise refused for %s: %s", sess->identity, why);
        goto out;
    }
    der = malloc(ca_len);
    ids = calloc(1, sizeof(*ids));
    ARCA_ENSURE_OUT(der != NULL && ids != NULL, ARCA_ERR_NOMEM);
    memcpy(der, client_ca_der, ca_len);
    memcpy(ids[0].name, sess->identity, sizeof(ids[0].name));
    ids[0].roles = ARCA_IDENTITY_ROLES_ALL;
    memcpy(ids[0].partitions, "*", 2);

    ARCA_GUARD_OUT(kms_pin_set(&pin, kms->pin_cost, admin_pin));
    ARCA_GUARD_OUT(kms_appliance_put(kms, &t, kms->appliance_version + 1, true, kms->next_partition_id, &pin));
    ARCA_GUARD_OUT(identities_put(kms, &t, kms->identities_version + 1, der, ca_len, ids, 1));
    arca_kms_session who = {0};
    who.role = ARCA_ROLE_ADMIN;
    memcpy(who.identity, sess->identity, sizeof(who.identity));
    snprintf(detail, sizeof(detail), "client CA installed; identity %s with every role", sess->identity);
    kms_audit_event_init(&ev, &who, ARCA_AUDIT_INITIALISE, ARCA_OK, NULL, detail);
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));

    kms->initialised = true;
    kms->appliance_version++;
    kms->admin_pin = pin;
    kms_identities_cleanup(kms);
    kms->client_ca = ca;
    kms->client_ca_der = der;
    kms->client_ca_len = ca_len;
    ca = NULL;
    der = NULL;
    identities_replace(kms, ids, 1);
    ids = NULL;
    sess->role = ARCA_ROLE_ADMIN;
    sess->partition_id = 0;
    sess->partition_name[0] = '\0';
    ARCA_INFO("keystore: appliance initialised with a client CA; first identity %s", sess->identity);
out:
    pthread_mutex_unlock(&kms->state_mu);
    arca_wipe(&pin, sizeof(pin));
    kms_txn_cleanup(&t);
    X509_free(ca);
    free(der);
    free(ids);
    return st;
}

/* ---- identity management -------------------------------------------------- */

static void roles_text(uint32_t roles, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s%s", roles & ARCA_IDENTITY_ROLE_ADMIN ? "admin," : "",
             roles & ARCA_IDENTITY_ROLE_OFFICER ? "officer," : "", roles & ARCA_IDENTITY_ROLE_AUDITOR ? "auditor," : "",
             roles & ARCA_IDENTITY_ROLE_USER ? "user," : "");
    size_t n = strlen(out);
    if (n > 0) out[n - 1] = '\0';
}

/* Commit a new identity set (ids, num; taken on success) with its audit
 * record. Called with state_mu held. */
static arca_status identities_commit(arca_kms *kms, arca_kms_session *sess, kms_identity *ids, size_t num,
                                     uint16_t audit_op, const char *detail)
{
    arca_status st;
    kms_txn t;
    arca_audit_event ev;
    kms_txn_init(&t);
    ARCA_GUARD_OUT(identities_put(kms, &t, kms->identities_version + 1, kms->client_ca_der, kms->client_ca_len, ids,
                                  num));
    kms_audit_event_init(&ev, sess, audit_op, ARCA_OK, NULL, detail);
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    identities_replace(kms, ids, num);
out:
    kms_txn_cleanup(&t);
    return st;
}

arca_status arca_kms_identity_put(arca_kms *kms, arca_kms_session *sess, const char *name, uint32_t roles,
                                  const char *partitions)
{
    arca_status st;
    kms_identity *ids = NULL;
    size_t num, at;
    char detail[ARCA_IDENTITY_NAME_MAX + ARCA_IDENTITY_PARTITIONS_MAX + 64], rt[40];

    ARCA_ENSURE(kms != NULL && sess != NULL && name != NULL && partitions != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_ADMIN, ARCA_ERR_PERMISSION);
    ARCA_ENSURE(name_ok(name) && partitions_ok(partitions), ARCA_ERR_ARGS);
    ARCA_ENSURE(roles != 0 && (roles & ~ARCA_IDENTITY_ROLES_ALL) == 0, ARCA_ERR_ARGS);

    pthread_mutex_lock(&kms->state_mu);
    const kms_identity *old = identity_find(kms, name);
    if (old != NULL && (old->roles & ARCA_IDENTITY_ROLE_ADMIN) && !(roles & ARCA_IDENTITY_ROLE_ADMIN) &&
        count_admins(kms->identities, kms->num_identities) == 1) {
        st = ARCA_ERR_PERMISSION; /* the last ADMIN identity */
        goto out;
    }
    ARCA_ENSURE_OUT(old != NULL || kms->num_identities < ARCA_IDENTITY_MAX, ARCA_ERR_TOO_LARGE);
    num = kms->num_identities + (old == NULL ? 1 : 0);
    ids = calloc(num, sizeof(*ids));
    ARCA_ENSURE_OUT(ids != NULL, ARCA_ERR_NOMEM);
    /* Sorted insert / replace. */
    for (at = 0; at < kms->num_identities && strcmp(kms->identities[at].name, name) < 0; at++) {
    }
    memcpy(ids, kms->identities, at * sizeof(*ids));
    kms_identity *slot = &ids[at];
    memset(slot, 0, sizeof(*slot));
    memcpy(slot->name, name, strlen(name));
    slot->roles = roles;
    memcpy(slot->partitions, partitions, strlen(partitions));
    size_t rest_from = at + (old != NULL ? 1 : 0);
    memcpy(ids + at + 1, kms->identities + rest_from, (kms->num_identities - rest_from) * sizeof(*ids));
    roles_text(roles, rt, sizeof(rt));
    snprintf(detail, sizeof(detail), "%s roles %s partitions %s", name, rt, partitions);
    ARCA_GUARD_OUT(identities_commit(kms, sess, ids, num, ARCA_AUDIT_IDENTITY_PUT, detail));
    ids = NULL;
    ARCA_INFO("keystore: identity %s %s", name, old != NULL ? "changed" : "added");
out:
    pthread_mutex_unlock(&kms->state_mu);
    free(ids);
    return st;
}

arca_status arca_kms_identity_remove(arca_kms *kms, arca_kms_session *sess, const char *name)
{
    arca_status st;
    kms_identity *ids = NULL;
    size_t num;

    ARCA_ENSURE(kms != NULL && sess != NULL && name != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_ADMIN, ARCA_ERR_PERMISSION);
    pthread_mutex_lock(&kms->state_mu);
    const kms_identity *old = identity_find(kms, name);
    ARCA_ENSURE_OUT(old != NULL, ARCA_ERR_IDENTITY_UNKNOWN);
    if ((old->roles & ARCA_IDENTITY_ROLE_ADMIN) && count_admins(kms->identities, kms->num_identities) == 1) {
        st = ARCA_ERR_PERMISSION; /* the last ADMIN identity */
        goto out;
    }
    size_t at = (size_t)(old - kms->identities);
    num = kms->num_identities - 1;
    if (num > 0) {
        ids = calloc(num, sizeof(*ids));
        ARCA_ENSURE_OUT(ids != NULL, ARCA_ERR_NOMEM);
        memcpy(ids, kms->identities, at * sizeof(*ids));
        memcpy(ids + at, kms->identities + at + 1, (num - at) * sizeof(*ids));
    }
    ARCA_GUARD_OUT(identities_commit(kms, sess, ids, num, ARCA_AUDIT_IDENTITY_REMOVE, name));
    ids = NULL;
    ARCA_INFO("keystore: identity %s removed", name);
out:
    pthread_mutex_unlock(&kms->state_mu);
    free(ids);
    return st;
}

arca_status arca_kms_identity_list(arca_kms *kms, arca_kms_session *sess, arca_builder *out)
{
    arca_status st = ARCA_OK;
    ARCA_ENSURE(kms != NULL && sess != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_ADMIN, ARCA_ERR_PERMISSION);
    pthread_mutex_lock(&kms->state_mu);
    ARCA_GUARD_OUT(arca_builder_add_u32(out, (uint32_t)kms->num_identities));
    for (size_t i = 0; i < kms->num_identities; i++) {
        const kms_identity *id = &kms->identities[i];
        arca_lp_identity item = {{(const uint8_t *)id->name, strlen(id->name)},
                                 id->roles,
                                 {(const uint8_t *)id->partitions, strlen(id->partitions)}};
        ARCA_GUARD_OUT(arca_lp_identity_add(out, &item));
    }
out:
    pthread_mutex_unlock(&kms->state_mu);
    return st;
}

/* ---- fresh attestation ----------------------------------------------------- */

arca_status arca_kms_attest(arca_kms *kms, arca_kms_session *sess, const uint8_t *nonce, size_t nonce_len,
                            arca_builder *out_evidence)
{
    uint8_t rd[ARCA_REPORT_DATA_LEN];
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    ARCA_ENSURE(kms != NULL && sess != NULL && out_evidence != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(nonce != NULL && nonce_len >= 1 && nonce_len <= ARCA_ATTEST_NONCE_MAX, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->binding_len > 0, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ratls_fresh_report_data(nonce, nonce_len, sess->binding, sess->binding_len, rd));
    ARCA_GUARD(arca_sealing_evidence_create(kms->sealing, rd, &ev, &ev_len));
    arca_status st = arca_builder_add_bytes(out_evidence, ev, ev_len);
    free(ev);
    return st;
}

/* ---- audit access ------------------------------------------------------------ */

/* Audit read / verify: an admin login, or an identity with role AUDITOR
 * (no PIN). any_login: sessions without a peer may verify with any login
 * (as before identities). */
static arca_status audit_access(arca_kms *kms, const arca_kms_session *sess, bool any_login)
{
    if (sess->role == ARCA_ROLE_ADMIN) return ARCA_OK;
    if (any_login && !sess->has_peer && sess->role != ARCA_ROLE_NONE) return ARCA_OK;
    pthread_mutex_lock(&kms->state_mu);
    bool auditor = kms_identity_has_role(kms, sess, ARCA_IDENTITY_ROLE_AUDITOR);
    pthread_mutex_unlock(&kms->state_mu);
    if (auditor) return ARCA_OK;
    return sess->role == ARCA_ROLE_NONE ? ARCA_ERR_NOT_LOGGED_IN : ARCA_ERR_PERMISSION;
}

arca_status arca_kms_audit_verify(arca_kms *kms, arca_kms_session *sess, uint64_t *out_records)
{
    ARCA_ENSURE(kms != NULL && sess != NULL && out_records != NULL, ARCA_ERR_ARGS);
    sess->verify_failure[0] = '\0';
    ARCA_GUARD(audit_access(kms, sess, true));
    return arca_audit_verify_why(kms->audit, out_records, sess->verify_failure, sizeof(sess->verify_failure));
}

const char *arca_kms_audit_verify_failure(const arca_kms_session *sess)
{
    return sess != NULL ? sess->verify_failure : "";
}

arca_status arca_kms_audit_read(arca_kms *kms, arca_kms_session *sess, uint64_t from_seq, uint32_t max,
                                arca_builder *out)
{
    ARCA_ENSURE(kms != NULL && sess != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(max >= 1 && max <= ARCA_AUDIT_READ_MAX, ARCA_ERR_ARGS);
    ARCA_GUARD(audit_access(kms, sess, false));
    return arca_audit_read(kms->audit, from_seq, max, AUDIT_READ_BYTES, out);
}
