/* TLS termination inside arca-enclave. See tls_server.h. */
#include "tls_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "arca/log.h"
#include "arca/ratls.h"
#include "arca/secret.h"

/* A client's certificate message: leaf plus ARCA_TLS_MAX_CHAIN
 * intermediates of at most ARCA_RATLS_MAX_CERT_LEN each fit easily. */
#define MAX_CERT_LIST (ARCA_RATLS_MAX_CERT_LEN * (ARCA_TLS_MAX_CHAIN + 1u))

#define RETIRED_MAX 64u /* certificate installs per run */

struct arca_tls_server {
    pthread_mutex_t mu; /* guards ctx, cert_der, retired */
    SSL_CTX *ctx;       /* current; a new connection takes a reference */
    EVP_PKEY *key;
    arca_sealing *sealing; /* borrowed: fresh evidence for CSRs */
    uint8_t *cert_der;     /* current leaf, malloc'd */
    size_t cert_der_len;
    uint8_t *retired[RETIRED_MAX]; /* earlier leaves (borrowed pointers stay valid) */
    size_t num_retired;
    int ex_idx; /* SSL ex_data slot: the arca_tls_conn */
};

struct arca_tls_conn {
    SSL *ssl;
    int fd;
    arca_kms *kms;
    arca_kms_session *sess;
    const char *peer; /* borrowed, during accept only */
    bool peer_checked;
    arca_status peer_status; /* what the keystore said of the certificate */
    uint8_t exporter[ARCA_TLS_EXPORTER_LEN];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline < 0: wait without limit. */
static arca_status wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0) return ARCA_ERR_TIMEOUT;
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&p, 1, timeout);
        if (r > 0) return ARCA_OK; /* readable, writable, or an error the next SSL call reports */
        if (r == 0) return ARCA_ERR_TIMEOUT;
        if (errno != EINTR) return ARCA_ERR_IO;
    }
}

/* ---- The keystore decides on the client certificate --------------------- */

static int verify_cb(X509_STORE_CTX *x, void *arg)
{
    arca_tls_server *t = arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    arca_tls_conn *c = ssl != NULL ? SSL_get_ex_data(ssl, t->ex_idx) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(x);
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(x);
    uint8_t *leaf_der = NULL;
    uint8_t *chain_der[ARCA_TLS_MAX_CHAIN] = {0};
    size_t chain_len[ARCA_TLS_MAX_CHAIN] = {0};
    size_t num_chain = 0;
    arca_status st = ARCA_ERR_DECODE;

    if (c == NULL) return 0;
    c->peer_checked = true;
    if (leaf == NULL) goto out;
    int n = i2d_X509(leaf, &leaf_der);
    if (n <= 0) goto out;
    /* What the client sent after its leaf (OpenSSL passes the whole list,
     * leaf first). */
    for (int i = 0; sent != NULL && i < sk_X509_num(sent); i++) {
        X509 *ic = sk_X509_value(sent, i);
        if (X509_cmp(ic, leaf) == 0) continue;
        if (num_chain == ARCA_TLS_MAX_CHAIN) {
            st = ARCA_ERR_TOO_LARGE;
            if (arca_kms_audit_refusal(c->kms, c->peer, "client certificate chain too long") != ARCA_OK)
                ARCA_WARN("%s: cannot audit the refusal", c->peer);
            goto out;
        }
        uint8_t *d = NULL;
        int dn = i2d_X509(ic, &d);
        if (dn <= 0) goto out;
        chain_der[num_chain] = d;
        chain_len[num_chain] = (size_t)dn;
        num_chain++;
    }
    st = arca_kms_session_set_peer(c->kms, c->sess, leaf_der, (size_t)n, (const uint8_t *const *)chain_der,
                                   chain_len, num_chain);
out:
    c->peer_status = st;
    OPENSSL_free(leaf_der);
    for (size_t i = 0; i < num_chain; i++) OPENSSL_free(chain_der[i]);
    X509_STORE_CTX_set_error(x, st == ARCA_OK ? X509_V_OK : X509_V_ERR_CERT_REJECTED);
    return st == ARCA_OK ? 1 : 0;
}

/* ---- The server context ------------------------------------------------- */

/* A context presenting leaf (+ chain, may be NULL) for t->key. */
static arca_status make_ctx(arca_tls_server *t, X509 *leaf, STACK_OF(X509) *chain, SSL_CTX **out)
{
    arca_status st;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_use_certificate(ctx, leaf));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_use_PrivateKey(ctx, t->key));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_check_private_key(ctx));
    if (chain != NULL) ARCA_GUARD_OSSL_OUT(SSL_CTX_set1_chain(ctx, chain));
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, verify_cb, t);
    /* Every connection shows its certificate: a resumed session would
     * skip the keystore's check. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    ARCA_GUARD_OSSL_OUT(SSL_CTX_set_num_tickets(ctx, 0));
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    /* One read() per request instead of one for the record header and
     * one for its body (docs/performance.md). */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_max_cert_list(ctx, MAX_CERT_LIST);
    *out = ctx;
    ctx = NULL;
    st = ARCA_OK;
out:
    SSL_CTX_free(ctx);
    return st;
}

/* Install ctx and the leaf's DER as the current ones (takes both). Older
 * leaf DERs stay allocated until the server is freed, so a pointer from
 * arca_tls_server_cert_der stays valid. */
static arca_status swap_in(arca_tls_server *t, SSL_CTX *ctx, uint8_t *leaf_der, size_t leaf_len)
{
    pthread_mutex_lock(&t->mu);
    if (t->cert_der != NULL) {
        if (t->num_retired == sizeof(t->retired) / sizeof(t->retired[0])) {
            pthread_mutex_unlock(&t->mu);
            SSL_CTX_free(ctx);
            free(leaf_der);
            return ARCA_ERR_TOO_LARGE;
        }
        t->retired[t->num_retired++] = t->cert_der;
    }
    SSL_CTX *old = t->ctx;
    t->ctx = ctx;
    t->cert_der = leaf_der;
    t->cert_der_len = leaf_len;
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old); /* live connections hold their own reference */
    return ARCA_OK;
}

/* The self-signed RA-TLS certificate for t->key, as the current context. */
static arca_status use_self_signed(arca_tls_server *t, arca_sealing *sealing)
{
    arca_status st;
    X509 *cert = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0;
    SSL_CTX *ctx = NULL;
    arca_ratls_cert_params params = {.subject_cn = ARCA_TLS_SERVER_CN, .validity_secs = ARCA_TLS_CERT_VALIDITY_SECS};
    ARCA_GUARD_OUT(arca_ratls_cert_create(sealing, t->key, &params, &cert, &der, &der_len));
    ARCA_GUARD_OUT(make_ctx(t, cert, NULL, &ctx));
    st = swap_in(t, ctx, der, der_len);
    der = NULL;
out:
    X509_free(cert);
    free(der);
    return st;
}

static arca_status server_alloc(arca_sealing *sealing, arca_tls_server **out)
{
    arca_tls_server *t = calloc(1, sizeof(*t));
    ARCA_ENSURE(t != NULL, ARCA_ERR_NOMEM);
    t->sealing = sealing;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return ARCA_ERR_NOMEM;
    }
    t->ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (t->ex_idx < 0) {
        arca_tls_server_free(t);
        return ARCA_ERR_CRYPTO;
    }
    *out = t;
    return ARCA_OK;
}

arca_status arca_tls_server_new(arca_sealing *sealing, arca_tls_server **out)
{
    arca_status st;
    arca_tls_server *t = NULL;

    ARCA_ENSURE(sealing != NULL && out != NULL, ARCA_ERR_ARGS);
    ERR_clear_error();
    ARCA_GUARD(server_alloc(sealing, &t));
    t->key = EVP_EC_gen("P-256");
    ARCA_ENSURE_OUT(t->key != NULL, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OUT(use_self_signed(t, sealing));
    *out = t;
    t = NULL;
    st = ARCA_OK;
out:
    if (st != ARCA_OK) arca_log_openssl_errors("tls: server set-up");
    arca_tls_server_free(t);
    return st;
}

/* Split a DER chain (leaf first) into certificates. ARCA_ERR_DECODE for
 * anything that is not a sequence of certificates; ARCA_ERR_TOO_LARGE
 * for more than ARCA_TLS_MAX_CHAIN + 1. */
static arca_status chain_parse(const uint8_t *der, size_t len, X509 **out_leaf, STACK_OF(X509) **out_rest)
{
    arca_status st;
    X509 *leaf = NULL;
    STACK_OF(X509) *rest = sk_X509_new_null();
    const uint8_t *p = der, *end = der + len;
    ARCA_ENSURE(rest != NULL, ARCA_ERR_NOMEM);
    ARCA_ENSURE_OUT(len > 0, ARCA_ERR_DECODE);
    while (p < end) {
        const uint8_t *q = p;
        X509 *x = d2i_X509(NULL, &q, (long)(end - p));
        ARCA_ENSURE_OUT(x != NULL && q > p && q <= end, ARCA_ERR_DECODE);
        p = q;
        if (leaf == NULL) {
            leaf = x;
            continue;
        }
        if ((size_t)sk_X509_num(rest) >= ARCA_TLS_MAX_CHAIN || !sk_X509_push(rest, x)) {
            X509_free(x);
            st = ARCA_ERR_TOO_LARGE;
            goto out;
        }
    }
    *out_leaf = leaf;
    *out_rest = rest;
    return ARCA_OK;
out:
    ERR_clear_error();
    X509_free(leaf);
    sk_X509_pop_free(rest, X509_free);
    return st;
}

/* Check a chain for t->key and build its context. msg (msg_len > 0) says
 * what was wrong. */
static arca_status chain_check(arca_tls_server *t, const uint8_t *der, size_t len, SSL_CTX **out_ctx,
                               uint8_t **out_leaf_der, size_t *out_leaf_len, char *subject, size_t subject_len,
                               char *msg, size_t msg_len)
{
    arca_status st;
    X509 *leaf = NULL;
    STACK_OF(X509) *rest = NULL;
    uint8_t *leaf_der = NULL;
    arca_ratls_result res;
    char why[ARCA_RATLS_MSG_LEN] = "";
    arca_ratls_policy permissive = {.allow_dev = true, .allow_debug = true};

    st = chain_parse(der, len, &leaf, &rest);
    if (st != ARCA_OK) {
        snprintf(msg, msg_len, "the chain is not DER certificates (leaf first, at most %u more)",
                 ARCA_TLS_MAX_CHAIN);
        return st;
    }
    EVP_PKEY *pub = X509_get0_pubkey(leaf);
    if (pub == NULL || EVP_PKEY_eq(pub, t->key) != 1) {
        snprintf(msg, msg_len, "the leaf certificate is not for the enclave's TLS key");
        st = ARCA_ERR_ARGS;
        goto out;
    }
    st = arca_ratls_cert_verify(leaf, &permissive, &res, why, sizeof(why));
    if (st != ARCA_OK) {
        snprintf(msg, msg_len, "the leaf's evidence does not verify: %s", why);
        goto out;
    }
    int n = i2d_X509(leaf, &leaf_der);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OUT(make_ctx(t, leaf, rest, out_ctx));
    X509_NAME_oneline(X509_get_subject_name(leaf), subject, (int)subject_len);
    *out_leaf_der = leaf_der;
    *out_leaf_len = (size_t)n;
    leaf_der = NULL;
out:
    ERR_clear_error();
    OPENSSL_free(leaf_der);
    X509_free(leaf);
    sk_X509_pop_free(rest, X509_free);
    return st;
}

/* OPENSSL_malloc'd DER into a malloc'd copy. */
static uint8_t *malloc_copy(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n);
    if (q != NULL) memcpy(q, p, n);
    return q;
}

arca_status arca_tls_server_new_persistent(arca_sealing *sealing, arca_kms *kms, arca_tls_server **out)
{
    arca_status st;
    arca_tls_server *t = NULL;
    arca_secret key = {0};
    arca_builder chain = {0};

    ARCA_ENSURE(sealing != NULL && kms != NULL && out != NULL, ARCA_ERR_ARGS);
    ERR_clear_error();
    ARCA_GUARD(server_alloc(sealing, &t));
    ARCA_GUARD_OUT(arca_kms_tls_key(kms, &key));
    const uint8_t *p = key.data;
    t->key = d2i_AutoPrivateKey(NULL, &p, (long)key.len);
    ARCA_ENSURE_OUT(t->key != NULL, ARCA_ERR_INTEGRITY);
    ARCA_GUARD_OUT(arca_builder_init(&chain, 1024, ARCA_TLS_CHAIN_MAX));
    st = arca_kms_tls_cert_chain(kms, &chain);
    if (st == ARCA_OK) {
        SSL_CTX *ctx = NULL;
        uint8_t *leaf = NULL;
        size_t leaf_len = 0;
        char subject[256] = "", msg[ARCA_RATLS_MSG_LEN + 64] = "";
        st = chain_check(t, chain.data, chain.len, &ctx, &leaf, &leaf_len, subject, sizeof(subject), msg,
                         sizeof(msg));
        if (st == ARCA_OK) {
            uint8_t *copy = malloc_copy(leaf, leaf_len);
            OPENSSL_free(leaf);
            if (copy == NULL) {
                SSL_CTX_free(ctx);
                st = ARCA_ERR_NOMEM;
                goto out;
            }
            ARCA_GUARD_OUT(swap_in(t, ctx, copy, leaf_len));
            ARCA_INFO("tls: presenting the operator certificate %s", subject);
        } else {
            /* Sealed by us, so this should not happen; serve anyway. */
            ARCA_WARN("tls: the installed certificate is not usable (%s): using the self-signed one", msg);
            st = ARCA_ERR_NOT_FOUND;
        }
    }
    if (st == ARCA_ERR_NOT_FOUND) st = use_self_signed(t, sealing);
    ARCA_GUARD_OUT(st);
    *out = t;
    t = NULL;
out:
    if (st != ARCA_OK) arca_log_openssl_errors("tls: server set-up");
    arca_secret_free(&key);
    arca_builder_cleanup(&chain);
    arca_tls_server_free(t);
    return st;
}

arca_status arca_tls_server_csr(arca_tls_server *t, arca_kms *kms, arca_kms_session *sess, const char *cn,
                                arca_builder *out)
{
    arca_status st;
    X509 *ratls = NULL;
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    uint8_t *der = NULL;

    ARCA_ENSURE(t != NULL && kms != NULL && sess != NULL && cn != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_kms_tls_admin(kms, sess));
    size_t cn_len = strlen(cn);
    ARCA_ENSURE(cn_len >= 1 && cn_len <= ARCA_TLS_CN_MAX, ARCA_ERR_ARGS);
    for (size_t i = 0; i < cn_len; i++) ARCA_ENSURE(cn[i] >= 0x20 && cn[i] <= 0x7e, ARCA_ERR_ARGS);
    ERR_clear_error();
    /* Fresh evidence over this key's SPKI: the extension of a new
     * self-signed RA-TLS certificate, copied into the request. */
    arca_ratls_cert_params params = {.subject_cn = cn, .validity_secs = ARCA_TLS_CERT_VALIDITY_SECS};
    ARCA_GUARD_OUT(arca_ratls_cert_create(t->sealing, t->key, &params, &ratls, NULL, NULL));
    ASN1_OBJECT *oid = OBJ_txt2obj(ARCA_RATLS_OID, 1);
    ARCA_ENSURE_OUT(oid != NULL, ARCA_ERR_CRYPTO);
    int idx = X509_get_ext_by_OBJ(ratls, oid, -1);
    ASN1_OBJECT_free(oid);
    ARCA_ENSURE_OUT(idx >= 0, ARCA_ERR_INTERNAL);
    exts = sk_X509_EXTENSION_new_null();
    ARCA_ENSURE_OUT(exts != NULL, ARCA_ERR_NOMEM);
    ARCA_ENSURE_OUT(sk_X509_EXTENSION_push(exts, X509_get_ext(ratls, idx)) > 0, ARCA_ERR_NOMEM);

    req = X509_REQ_new();
    name = X509_NAME_new();
    ARCA_ENSURE_OUT(req != NULL && name != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(X509_REQ_set_version(req, 0));
    ARCA_GUARD_OSSL_OUT(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, (int)cn_len,
                                                   -1, 0));
    ARCA_GUARD_OSSL_OUT(X509_REQ_set_subject_name(req, name));
    ARCA_GUARD_OSSL_OUT(X509_REQ_set_pubkey(req, t->key));
    ARCA_GUARD_OSSL_OUT(X509_REQ_add_extensions(req, exts));
    ARCA_ENSURE_OUT(X509_REQ_sign(req, t->key, EVP_sha256()) > 0, ARCA_ERR_CRYPTO);
    int n = i2d_X509_REQ(req, &der);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
    st = arca_builder_add_bytes(out, der, (size_t)n);
out:
    if (st != ARCA_OK) arca_log_openssl_errors("tls: CSR");
    OPENSSL_free(der);
    sk_X509_EXTENSION_free(exts); /* the extension belongs to ratls */
    X509_NAME_free(name);
    X509_REQ_free(req);
    X509_free(ratls);
    return st;
}

arca_status arca_tls_server_install_chain(arca_tls_server *t, arca_kms *kms, arca_kms_session *sess,
                                          const uint8_t *chain, size_t len, char *msg, size_t msg_len)
{
    arca_status st;
    SSL_CTX *ctx = NULL;
    uint8_t *leaf = NULL, *copy = NULL;
    size_t leaf_len = 0;
    char subject[200] = "", detail[256];
    char dummy[1];

    if (msg == NULL || msg_len == 0) {
        msg = dummy;
        msg_len = sizeof(dummy);
    }
    msg[0] = '\0';
    ARCA_ENSURE(t != NULL && kms != NULL && sess != NULL && (chain != NULL || len == 0), ARCA_ERR_ARGS);
    ARCA_GUARD(arca_kms_tls_admin(kms, sess));
    if (len > ARCA_TLS_CHAIN_MAX) {
        snprintf(msg, msg_len, "the chain is over %u bytes", ARCA_TLS_CHAIN_MAX);
        return ARCA_ERR_TOO_LARGE;
    }
    ARCA_GUARD(chain_check(t, chain, len, &ctx, &leaf, &leaf_len, subject, sizeof(subject), msg, msg_len));
    copy = malloc_copy(leaf, leaf_len);
    ARCA_ENSURE_OUT(copy != NULL, ARCA_ERR_NOMEM);
    snprintf(detail, sizeof(detail), "leaf %s", subject);
    ARCA_GUARD_OUT(arca_kms_tls_cert_store(kms, sess, chain, len, detail));
    st = swap_in(t, ctx, copy, leaf_len);
    ctx = NULL;
    copy = NULL;
    if (st == ARCA_OK) ARCA_INFO("tls: operator certificate installed: %s", subject);
out:
    SSL_CTX_free(ctx);
    OPENSSL_free(leaf);
    free(copy);
    return st;
}

void arca_tls_server_free(arca_tls_server *t)
{
    if (t == NULL) return;
    SSL_CTX_free(t->ctx);
    EVP_PKEY_free(t->key);
    free(t->cert_der);
    for (size_t i = 0; i < t->num_retired; i++) free(t->retired[i]);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

const uint8_t *arca_tls_server_cert_der(arca_tls_server *t, size_t *out_len)
{
    pthread_mutex_lock(&t->mu);
    const uint8_t *p = t->cert_der;
    *out_len = t->cert_der_len;
    pthread_mutex_unlock(&t->mu);
    return p;
}

/* ---- One connection ----------------------------------------------------- */

static bool no_client_certificate(unsigned long e)
{
    return ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE;
}

/* Why the handshake failed, from the keystore's verdict, the error queue
 * and SSL_get_error; drains the queue. */
static arca_status handshake_failure(arca_tls_conn *c, int ssl_err, int sys_errno)
{
    unsigned long e, first = 0;
    bool no_cert = false;
    while ((e = ERR_get_error()) != 0) {
        if (first == 0) first = e;
        if (no_client_certificate(e)) no_cert = true;
    }
    if (c->peer_checked && c->peer_status != ARCA_OK) {
        ARCA_WARN("%s: client certificate refused: %s", c->peer, arca_status_name(c->peer_status));
        return c->peer_status;
    }
    if (no_cert) {
        ARCA_WARN("%s: refused: no client certificate", c->peer);
        if (arca_kms_audit_refusal(c->kms, c->peer, "no client certificate") != ARCA_OK)
            ARCA_WARN("%s: cannot audit the refusal", c->peer);
        return ARCA_ERR_PERMISSION;
    }
    if (ssl_err == SSL_ERROR_ZERO_RETURN || (ssl_err == SSL_ERROR_SYSCALL && first == 0 && sys_errno == 0)) {
        ARCA_INFO("%s: closed during the TLS handshake", c->peer);
        return ARCA_ERR_CHANNEL;
    }
    if (ssl_err == SSL_ERROR_SYSCALL && first == 0) {
        ARCA_WARN("%s: TLS handshake: socket error %d", c->peer, sys_errno);
        return ARCA_ERR_IO;
    }
    const char *why = first != 0 ? ERR_reason_error_string(first) : NULL;
    ARCA_WARN("%s: TLS handshake failed: %s", c->peer, why != NULL ? why : "unknown reason");
    return ARCA_ERR_CRYPTO;
}

arca_status arca_tls_accept(arca_tls_server *t, arca_kms *kms, arca_kms_session *sess, int fd, const char *peer,
                            int timeout_ms, arca_tls_conn **out)
{
    arca_status st;
    arca_tls_conn *c = NULL;

    ARCA_ENSURE(t != NULL && kms != NULL && sess != NULL && fd >= 0 && out != NULL && timeout_ms > 0, ARCA_ERR_ARGS);
    c = calloc(1, sizeof(*c));
    ARCA_ENSURE(c != NULL, ARCA_ERR_NOMEM);
    c->fd = fd;
    c->kms = kms;
    c->sess = sess;
    c->peer = peer != NULL ? peer : "(unnamed peer)";
    int fl = fcntl(fd, F_GETFL);
    ARCA_ENSURE_OUT(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0, ARCA_ERR_IO);
    ERR_clear_error();
    pthread_mutex_lock(&t->mu);
    SSL_CTX *ctx = t->ctx;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&t->mu);
    c->ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    ARCA_ENSURE_OUT(c->ssl != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(SSL_set_fd(c->ssl, fd));
    ARCA_GUARD_OSSL_OUT(SSL_set_ex_data(c->ssl, t->ex_idx, c));

    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_accept(c->ssl);
        if (r == 1) break;
        int e = SSL_get_error(c->ssl, r);
        int sys_errno = errno;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            st = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (st == ARCA_ERR_TIMEOUT) ARCA_WARN("%s: TLS handshake timed out", c->peer);
            if (st != ARCA_OK) goto out;
            continue;
        }
        st = handshake_failure(c, e, sys_errno);
        goto out;
    }
    /* The certificate callback must have run and admitted the client. */
    ARCA_ENSURE_OUT(c->peer_checked && c->peer_status == ARCA_OK, ARCA_ERR_INTERNAL);
    ARCA_GUARD_OSSL_OUT(SSL_export_keying_material(c->ssl, c->exporter, sizeof(c->exporter),
                                                   ARCA_TLS_EXPORTER_LABEL, strlen(ARCA_TLS_EXPORTER_LABEL), NULL,
                                                   0, 0));
    ARCA_GUARD_OUT(arca_kms_session_set_channel_binding(sess, c->exporter, sizeof(c->exporter)));
    c->peer = NULL;
    *out = c;
    c = NULL;
    st = ARCA_OK;
out:
    ERR_clear_error();
    if (c != NULL) {
        SSL_free(c->ssl); /* no close_notify after a failed handshake */
        arca_wipe(c->exporter, sizeof(c->exporter));
        free(c);
    }
    return st;
}

arca_status arca_tls_read(arca_tls_conn *c, uint8_t *buf, size_t len, bool idle_first, int timeout_ms)
{
    size_t got = 0;
    int64_t deadline = idle_first ? -1 : now_ms() + timeout_ms;
    ARCA_ENSURE(c != NULL && (buf != NULL || len == 0) && timeout_ms > 0, ARCA_ERR_ARGS);
    while (got < len) {
        size_t want = len - got;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(c->ssl, buf + got, want > INT_MAX ? INT_MAX : (int)want);
        if (r > 0) {
            got += (size_t)r;
            if (deadline < 0) deadline = now_ms() + timeout_ms;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        int sys_errno = errno;
        ERR_clear_error();
        switch (e) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            ARCA_GUARD(wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline));
            break;
        case SSL_ERROR_ZERO_RETURN:
            return got == 0 ? ARCA_ERR_CHANNEL : ARCA_ERR_DECODE;
        case SSL_ERROR_SYSCALL:
            if (sys_errno == 0) return got == 0 ? ARCA_ERR_CHANNEL : ARCA_ERR_DECODE;
            return ARCA_ERR_IO;
        default:
            return ARCA_ERR_IO;
        }
    }
    return ARCA_OK;
}

arca_status arca_tls_write(arca_tls_conn *c, const uint8_t *buf, size_t len, int timeout_ms)
{
    size_t off = 0;
    ARCA_ENSURE(c != NULL && (buf != NULL || len == 0) && timeout_ms > 0, ARCA_ERR_ARGS);
    int64_t deadline = now_ms() + timeout_ms;
    while (off < len) {
        size_t want = len - off;
        ERR_clear_error();
        int r = SSL_write(c->ssl, buf + off, want > INT_MAX ? INT_MAX : (int)want);
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            ARCA_GUARD(wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline));
            continue;
        }
        return ARCA_ERR_IO;
    }
    return ARCA_OK;
}

void arca_tls_conn_exporter(const arca_tls_conn *c, uint8_t out[ARCA_TLS_EXPORTER_LEN])
{
    memcpy(out, c->exporter, ARCA_TLS_EXPORTER_LEN);
}

void arca_tls_conn_free(arca_tls_conn *c)
{
    if (c == NULL) return;
    /* One attempt at close_notify; the socket is non-blocking, so a peer
     * that does not read cannot hold us here. */
    ERR_clear_error();
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
    SSL_free(c->ssl);
    arca_wipe(c->exporter, sizeof(c->exporter));
    free(c);
}
