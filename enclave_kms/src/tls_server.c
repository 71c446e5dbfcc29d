/* TLS termination inside arca-enclave. See tls_server.h. */
#include "tls_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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

struct arca_tls_server {
    SSL_CTX *ctx;
    EVP_PKEY *key;
    uint8_t *cert_der; /* malloc'd */
    size_t cert_der_len;
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

arca_status arca_tls_server_new(arca_sealing *sealing, arca_tls_server **out)
{
    arca_status st;
    arca_tls_server *t = NULL;
    X509 *cert = NULL;

    ARCA_ENSURE(sealing != NULL && out != NULL, ARCA_ERR_ARGS);
    t = calloc(1, sizeof(*t));
    ARCA_ENSURE(t != NULL, ARCA_ERR_NOMEM);
    t->ex_idx = -1;
    ERR_clear_error();
    t->key = EVP_EC_gen("P-256");
    ARCA_ENSURE_OUT(t->key != NULL, ARCA_ERR_CRYPTO);
    arca_ratls_cert_params params = {.subject_cn = ARCA_TLS_SERVER_CN,
                                     .validity_secs = ARCA_TLS_CERT_VALIDITY_SECS};
    ARCA_GUARD_OUT(arca_ratls_cert_create(sealing, t->key, &params, &cert, &t->cert_der, &t->cert_der_len));

    t->ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ARCA_ENSURE_OUT(t->ex_idx >= 0, ARCA_ERR_CRYPTO);
    t->ctx = SSL_CTX_new(TLS_server_method());
    ARCA_ENSURE_OUT(t->ctx != NULL, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OSSL_OUT(SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_use_certificate(t->ctx, cert));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_use_PrivateKey(t->ctx, t->key));
    ARCA_GUARD_OSSL_OUT(SSL_CTX_check_private_key(t->ctx));
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(t->ctx, verify_cb, t);
    /* Every connection shows its certificate: a resumed session would
     * skip the keystore's check. */
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
    ARCA_GUARD_OSSL_OUT(SSL_CTX_set_num_tickets(t->ctx, 0));
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_max_cert_list(t->ctx, MAX_CERT_LIST);
    *out = t;
    t = NULL;
    st = ARCA_OK;
out:
    if (st != ARCA_OK) arca_log_openssl_errors("tls: server set-up");
    X509_free(cert);
    arca_tls_server_free(t);
    return st;
}

void arca_tls_server_free(arca_tls_server *t)
{
    if (t == NULL) return;
    SSL_CTX_free(t->ctx);
    EVP_PKEY_free(t->key);
    free(t->cert_der);
    free(t);
}

const uint8_t *arca_tls_server_cert_der(const arca_tls_server *t, size_t *out_len)
{
    *out_len = t->cert_der_len;
    return t->cert_der;
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
    c->ssl = SSL_new(t->ctx);
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
