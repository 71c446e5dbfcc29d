/* libarca-client: local-protocol requests in KMIP Arca Calls over attested
 * mutual TLS 1.3. See arca/client.h and docs/client.md. */
#include "arca/client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "arca/hex.h"
#include "arca/secret.h"
#include "arca/ttlv.h"
#include "client_wire.h"

#define EXPORTER_LABEL "EXPORTER-arca-attestation"
#define EXPORTER_LEN 32u

struct arca_client {
    pthread_mutex_t mu;
    arca_client_config cfg;
    SSL_CTX *ctx;
    SSL *ssl; /* NULL while disconnected */
    int fd;   /* -1 while disconnected */
    uint8_t exporter[EXPORTER_LEN];
    arca_evidence_claims server;
    /* The last successful login, for re-login after a reconnect. The PIN
     * is wiped on logout, on the next login and at close. */
    bool logged_in;
    bool login_has_partition;
    char login_partition[ARCA_LP_NAME_MAX + 1];
    uint8_t login_role;
    char login_pin[ARCA_LP_PIN_MAX + 1];
    /* The last successful SELECT_PARTITION, replayed (before the login)
     * after a reconnect; kept until close or a failed replay. */
    bool selected;
    char select_partition[ARCA_LP_NAME_MAX + 1];
    uint8_t *resp; /* the last KMIP response; decoded outputs borrow from it */
    size_t resp_len;
    char message[ARCA_CLIENT_MSG_LEN];
};

typedef struct timespec deadline;

/* ---- Small helpers ------------------------------------------------------ */

void arca_client_free_secret(uint8_t *p, size_t len)
{
    if (p == NULL) return;
    arca_wipe(p, len);
    free(p);
}

static void set_message(char *msg, size_t msg_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_message(char *msg, size_t msg_len, const char *fmt, ...)
{
    if (msg == NULL || msg_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
}

/* The first OpenSSL error's reason, then the queue is cleared. */
static const char *ossl_reason(void)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "no further detail";
}

static deadline deadline_in(int ms)
{
    deadline d;
    clock_gettime(CLOCK_MONOTONIC, &d);
    d.tv_sec += ms / 1000;
    d.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec++;
        d.tv_nsec -= 1000000000L;
    }
    return d;
}

/* Milliseconds left, 0 when the deadline has passed. */
static int remaining_ms(const deadline *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(d->tv_sec - now.tv_sec) * 1000 + (d->tv_nsec - now.tv_nsec) / 1000000L;
    if (ms <= 0) return 0;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static arca_status wait_fd(int fd, short events, const deadline *d)
{
    for (;;) {
        int left = remaining_ms(d);
        if (left == 0) return ARCA_ERR_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left);
        if (n > 0) return ARCA_OK; /* errors and hang-ups show in the next read/write */
        if (n == 0) return ARCA_ERR_TIMEOUT;
        if (errno != EINTR) return ARCA_ERR_IO;
    }
}

/* SIGPIPE: OpenSSL writes with write(2), which raises SIGPIPE when the
 * server has gone. The library must not kill its host process, so the
 * signal is blocked in the calling thread for the duration of a call and
 * one raised meanwhile is consumed (not one that was already pending). */
typedef struct sigpipe_guard {
    sigset_t old;
    bool was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- Connecting --------------------------------------------------------- */

static arca_status connect_fd(int fd, const struct sockaddr *sa, socklen_t sa_len, const deadline *d)
{
    if (connect(fd, sa, sa_len) == 0) return ARCA_OK;
    if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) return ARCA_ERR_IO;
    ARCA_GUARD(wait_fd(fd, POLLOUT, d));
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return ARCA_ERR_IO;
    if (err != 0) {
        errno = err;
        return ARCA_ERR_IO;
    }
    return ARCA_OK;
}

static arca_status connect_unix(const char *path, const deadline *d, int *out_fd, char *msg, size_t msg_len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        set_message(msg, msg_len, "socket path too long: %s", path);
        return ARCA_ERR_CONFIG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_message(msg, msg_len, "socket: %s", strerror(errno));
        return ARCA_ERR_IO;
    }
    arca_status st = connect_fd(fd, (const struct sockaddr *)&sa, sizeof(sa), d);
    if (st != ARCA_OK) {
        set_message(msg, msg_len, "cannot connect to %s: %s", path,
                    st == ARCA_ERR_TIMEOUT ? "timed out" : strerror(errno));
        close(fd);
        return st;
    }
    *out_fd = fd;
    return ARCA_OK;
}

/* HOST:PORT or [V6]:PORT, as the configuration loader checked it. Name
 * resolution (getaddrinfo) is not bounded by the time-out. */
static arca_status connect_tcp(const char *address, const deadline *d, int *out_fd, char *msg, size_t msg_len)
{
    char host[ARCA_CLIENT_PATH_MAX];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address) {
        set_message(msg, msg_len, "bad address: '%s' (expected unix:PATH or HOST:PORT)", address);
        return ARCA_ERR_CONFIG;
    }
    size_t hl = (size_t)(colon - address);
    const char *h = address;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        set_message(msg, msg_len, "cannot resolve %s: %s", host, gai_strerror(rc));
        return ARCA_ERR_IO;
    }
    arca_status st = ARCA_ERR_IO;
    int err = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        st = connect_fd(fd, ai->ai_addr, ai->ai_addrlen, d);
        if (st == ARCA_OK) {
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            *out_fd = fd;
            freeaddrinfo(res);
            return ARCA_OK;
        }
        err = errno;
        close(fd);
        if (st == ARCA_ERR_TIMEOUT) break;
    }
    freeaddrinfo(res);
    set_message(msg, msg_len, "cannot connect to %s: %s", address,
                st == ARCA_ERR_TIMEOUT ? "timed out" : strerror(err));
    return st;
}

/* Wait for what SSL wants after ret; the status of a broken connection
 * otherwise. */
static arca_status ssl_wait(SSL *ssl, int fd, int ret, const deadline *d)
{
    int e = SSL_get_error(ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return wait_fd(fd, POLLIN, d);
    case SSL_ERROR_WANT_WRITE:
        return wait_fd(fd, POLLOUT, d);
    case SSL_ERROR_ZERO_RETURN:
        return ARCA_ERR_CHANNEL; /* close_notify */
    case SSL_ERROR_SYSCALL:
        return errno == 0 || errno == EPIPE || errno == ECONNRESET ? ARCA_ERR_CHANNEL : ARCA_ERR_IO;
    case SSL_ERROR_SSL:
        /* An alert from the server (it refused our certificate) or a
         * protocol error: the connection is gone either way. */
        return ARCA_ERR_CHANNEL;
    default:
        return ARCA_ERR_IO;
    }
}

static int accept_any_chain(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    (void)store;
    /* The server certificate is self-signed RA-TLS: it is trusted for its
     * evidence (checked right after the handshake, before any application
     * byte), not for a chain. */
    return 1;
}

static void disconnect(arca_client *c)
{
    if (c->ssl != NULL) {
        (void)SSL_shutdown(c->ssl); /* best effort close_notify, non-blocking */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    arca_wipe(c->exporter, sizeof(c->exporter));
    ERR_clear_error();
}

static arca_status make_ctx(const arca_client_config *cfg, SSL_CTX **out, char *msg, size_t msg_len)
{
    arca_status st = ARCA_OK;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        set_message(msg, msg_len, "TLS: %s", ossl_reason());
        return ARCA_ERR_CRYPTO;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
        set_message(msg, msg_len, "TLS 1.3: %s", ossl_reason());
        ARCA_ENSURE_OUT(false, ARCA_ERR_CRYPTO);
    }
    /* One read() per response record, not one for its header and one for
     * its body (docs/performance.md). */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
        set_message(msg, msg_len, "cannot load client certificate %s: %s", cfg->cert, ossl_reason());
        ARCA_ENSURE_OUT(false, ARCA_ERR_CONFIG);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            set_message(msg, msg_len, "client key %s does not belong to certificate %s", cfg->key, cfg->cert);
            ERR_clear_error();
        } else {
            set_message(msg, msg_len, "cannot load client key %s: %s", cfg->key, ossl_reason());
        }
        ARCA_ENSURE_OUT(false, ARCA_ERR_CONFIG);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_message(msg, msg_len, "client key %s does not belong to certificate %s", cfg->key, cfg->cert);
        ERR_clear_error();
        ARCA_ENSURE_OUT(false, ARCA_ERR_CONFIG);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_chain);
    /* Every connection is a full handshake, so that every connection
     * shows the server's certificate and evidence. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    *out = ctx;
    return ARCA_OK;
out:
    SSL_CTX_free(ctx);
    return st;
}

/* Connect, handshake and verify the server's evidence. On failure c is
 * left disconnected and msg says why. */
static arca_status connect_verified(arca_client *c, const deadline *d, char *msg, size_t msg_len)
{
    arca_status st;
    int fd = -1;
    disconnect(c);
    if (strncmp(c->cfg.address, "unix:", 5) == 0)
        st = connect_unix(c->cfg.address + 5, d, &fd, msg, msg_len);
    else
        st = connect_tcp(c->cfg.address, d, &fd, msg, msg_len);
    ARCA_GUARD(st);
    c->fd = fd;
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
        set_message(msg, msg_len, "TLS: %s", ossl_reason());
        ARCA_ENSURE_OUT(false, ARCA_ERR_CRYPTO);
    }
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1) break;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            st = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, d);
            if (st == ARCA_ERR_TIMEOUT) set_message(msg, msg_len, "TLS handshake with %s timed out", c->cfg.address);
            if (st != ARCA_OK) goto out;
            continue;
        }
        set_message(msg, msg_len, "TLS handshake with %s failed: %s", c->cfg.address,
                    e == SSL_ERROR_SSL ? ossl_reason() : "connection closed");
        ARCA_ENSURE_OUT(false, ARCA_ERR_CRYPTO);
    }

    /* Attestation before any application byte. */
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    if (peer == NULL) {
        set_message(msg, msg_len, "server sent no certificate");
        ARCA_ENSURE_OUT(false, ARCA_ERR_NOT_FOUND);
    }
    arca_ratls_policy policy;
    arca_ratls_result res;
    char vmsg[ARCA_RATLS_MSG_LEN];
    arca_client_config_policy(&c->cfg, &policy);
    st = arca_ratls_cert_verify(peer, &policy, &res, vmsg, sizeof(vmsg));
    if (st != ARCA_OK) {
        set_message(msg, msg_len, "%s", vmsg);
        goto out;
    }
    if (SSL_export_keying_material(c->ssl, c->exporter, sizeof(c->exporter), EXPORTER_LABEL,
                                   strlen(EXPORTER_LABEL), NULL, 0, 0) != 1) {
        set_message(msg, msg_len, "TLS exporter: %s", ossl_reason());
        ARCA_ENSURE_OUT(false, ARCA_ERR_CRYPTO);
    }
    c->server = res.evidence;
    return ARCA_OK;
out:
    disconnect(c);
    return st;
}

arca_status arca_client_open(const arca_client_config *cfg, arca_client **out, char *msg, size_t msg_len)
{
    arca_status st;
    set_message(msg, msg_len, "%s", "");
    if (cfg == NULL || out == NULL || cfg->address[0] == '\0' || cfg->cert[0] == '\0' || cfg->key[0] == '\0') {
        set_message(msg, msg_len, "address, cert and key are required");
        return ARCA_ERR_ARGS;
    }
    arca_client *c = calloc(1, sizeof(*c));
    ARCA_ENSURE(c != NULL, ARCA_ERR_NOMEM);
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return ARCA_ERR_INTERNAL;
    }
    c->fd = -1;
    c->cfg = *cfg;
    if (c->cfg.timeout_ms <= 0) c->cfg.timeout_ms = ARCA_CLIENT_DEFAULT_TIMEOUT_MS;
    ARCA_GUARD_OUT(make_ctx(&c->cfg, &c->ctx, msg, msg_len));
    deadline d = deadline_in(c->cfg.timeout_ms);
    sigpipe_guard g;
    sigpipe_block(&g);
    st = connect_verified(c, &d, msg, msg_len);
    sigpipe_restore(&g);
    ARCA_GUARD_OUT(st);
    *out = c;
    return ARCA_OK;
out:
    arca_client_close(c);
    return st;
}

void arca_client_close(arca_client *c)
{
    if (c == NULL) return;
    sigpipe_guard g;
    sigpipe_block(&g);
    disconnect(c);
    sigpipe_restore(&g);
    SSL_CTX_free(c->ctx);
    arca_client_free_secret(c->resp, c->resp_len);
    pthread_mutex_destroy(&c->mu);
    arca_wipe(c, sizeof(*c));
    free(c);
}

const char *arca_client_last_message(const arca_client *c)
{
    return c->message;
}

void arca_client_server_claims(const arca_client *c, arca_evidence_claims *out)
{
    arca_client *m = (arca_client *)c;
    pthread_mutex_lock(&m->mu);
    *out = c->server;
    pthread_mutex_unlock(&m->mu);
}

/* ---- One exchange ------------------------------------------------------- */

static arca_status ssl_write_all(arca_client *c, const uint8_t *p, size_t len, const deadline *d)
{
    while (len > 0) {
        size_t n = 0;
        int r = SSL_write_ex(c->ssl, p, len, &n);
        if (r == 1) {
            p += n;
            len -= n;
            continue;
        }
        ARCA_GUARD(ssl_wait(c->ssl, c->fd, r, d));
    }
    return ARCA_OK;
}

static arca_status ssl_read_all(arca_client *c, uint8_t *p, size_t len, const deadline *d)
{
    while (len > 0) {
        size_t n = 0;
        int r = SSL_read_ex(c->ssl, p, len, &n);
        if (r == 1) {
            p += n;
            len -= n;
            continue;
        }
        ARCA_GUARD(ssl_wait(c->ssl, c->fd, r, d));
    }
    return ARCA_OK;
}

static void drop_response(arca_client *c)
{
    arca_client_free_secret(c->resp, c->resp_len);
    c->resp = NULL;
    c->resp_len = 0;
}

/* Send one KMIP request and read its response into c->resp; *out_lp
 * borrows the local-protocol response. Any failure of the stream itself
 * disconnects (the next message could not be framed). */
static arca_status exchange(arca_client *c, const uint8_t *kmip, size_t kmip_len, const deadline *d,
                            const uint8_t **out_lp, size_t *out_lp_len)
{
    uint8_t hdr[ARCA_TTLV_HEADER_LEN];
    size_t total = 0;
    arca_status st;
    drop_response(c);
    c->message[0] = '\0';
    ARCA_GUARD_OUT(ssl_write_all(c, kmip, kmip_len, d));
    ARCA_GUARD_OUT(ssl_read_all(c, hdr, sizeof(hdr), d));
    st = arca_client_wire_response_len(hdr, &total);
    if (st != ARCA_OK) {
        set_message(c->message, sizeof(c->message), "%s", st == ARCA_ERR_TOO_LARGE
                                                              ? "response over the size cap"
                                                              : "response is not a KMIP Response Message");
        goto out;
    }
    c->resp = malloc(total);
    ARCA_ENSURE_OUT(c->resp != NULL, ARCA_ERR_NOMEM);
    c->resp_len = total;
    memcpy(c->resp, hdr, sizeof(hdr));
    ARCA_GUARD_OUT(ssl_read_all(c, c->resp + sizeof(hdr), total - sizeof(hdr), d));
    st = arca_client_wire_unwrap(c->resp, c->resp_len, out_lp, out_lp_len, c->message, sizeof(c->message));
    if (st != ARCA_OK && c->message[0] == '\0') {
        /* Malformed (an Operation Failed answer always has a message):
         * the server is not speaking our protocol; end the connection. */
        set_message(c->message, sizeof(c->message), "malformed KMIP response");
        disconnect(c);
    }
    return st;
out:
    if (st == ARCA_ERR_TIMEOUT) set_message(c->message, sizeof(c->message), "no response within %d ms",
                                            c->cfg.timeout_ms);
    else if ((st == ARCA_ERR_CHANNEL || st == ARCA_ERR_IO) && ERR_peek_error() != 0)
        /* An alert, typically the server refusing our certificate (TLS
         * 1.3 clients finish the handshake before the server decides). */
        set_message(c->message, sizeof(c->message), "connection to %s lost: %s", c->cfg.address, ossl_reason());
    else if (st == ARCA_ERR_CHANNEL || st == ARCA_ERR_IO)
        set_message(c->message, sizeof(c->message), "connection to %s lost", c->cfg.address);
    drop_response(c);
    disconnect(c);
    return st;
}

/* Encode req as a KMIP Arca Call. *out / *out_len: malloc'd, wipe when done. */
static arca_status encode_call(const arca_lp_request *req, uint8_t **out, size_t *out_len)
{
    arca_builder lp, km;
    uint8_t *buf = NULL;
    size_t len = 0;
    arca_status st;
    ARCA_GUARD(arca_builder_init(&lp, 256, ARCA_LP_FRAME_MAX));
    ARCA_GUARD_OUT(arca_builder_init(&km, 512, ARCA_CLIENT_RESPONSE_MAX));
    ARCA_GUARD_OUT(arca_lp_request_encode(req, &lp));
    ARCA_GUARD_OUT(arca_builder_finish(&lp, &buf, &len));
    ARCA_GUARD_OUT(arca_client_wire_wrap(&km, buf, len));
    ARCA_GUARD_OUT(arca_builder_finish(&km, out, out_len));
out:
    arca_client_free_secret(buf, len);
    arca_builder_cleanup(&km);
    arca_builder_cleanup(&lp);
    return st;
}

/* Send req on the current connection, decode the local-protocol response.
 * Returns the transport status or the enclave's status. */
static arca_status send_lp(arca_client *c, const uint8_t *kmip, size_t kmip_len, uint16_t op, const deadline *d,
                           arca_lp_response *resp)
{
    const uint8_t *lp = NULL;
    size_t lp_len = 0;
    ARCA_GUARD(exchange(c, kmip, kmip_len, d, &lp, &lp_len));
    arca_cursor cur;
    arca_cursor_init(&cur, lp, lp_len);
    arca_status st = arca_lp_response_decode(&cur, op, resp);
    if (st != ARCA_OK) {
        set_message(c->message, sizeof(c->message), "malformed %s response", arca_lp_op_name(op));
        return st;
    }
    if (resp->status != ARCA_OK) {
        size_t n = resp->message.len < sizeof(c->message) - 1 ? resp->message.len : sizeof(c->message) - 1;
        if (n) memcpy(c->message, resp->message.data, n);
        c->message[n] = '\0';
    }
    return (arca_status)resp->status;
}

static arca_lp_bytes text(const char *s)
{
    arca_lp_bytes v = {(const uint8_t *)s, s ? strlen(s) : 0};
    return v;
}

static void forget_login(arca_client *c)
{
    c->logged_in = false;
    arca_wipe(c->login_pin, sizeof(c->login_pin));
    memset(c->login_partition, 0, sizeof(c->login_partition));
}

/* On a fresh connection: select the remembered partition again. */
static arca_status replay_select(arca_client *c, const deadline *d)
{
    arca_lp_request *r = calloc(1, sizeof(*r));
    uint8_t *kmip = NULL;
    size_t kmip_len = 0;
    arca_status st;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->op = ARCA_LP_SELECT_PARTITION;
    r->partition = text(c->select_partition);
    st = encode_call(r, &kmip, &kmip_len);
    free(r);
    ARCA_GUARD(st);
    arca_lp_response resp;
    st = send_lp(c, kmip, kmip_len, ARCA_LP_SELECT_PARTITION, d, &resp);
    free(kmip);
    if (st != ARCA_OK) {
        char inner[ARCA_CLIENT_MSG_LEN];
        memcpy(inner, c->message, sizeof(inner));
        inner[sizeof(inner) - 1] = '\0';
        set_message(c->message, sizeof(c->message), "selecting the partition again after reconnecting failed: %s",
                    inner);
        if (st != ARCA_ERR_IO && st != ARCA_ERR_CHANNEL && st != ARCA_ERR_TIMEOUT) c->selected = false;
        disconnect(c);
    }
    return st;
}

/* Reconnect and, if the client had selected a partition or was logged in,
 * select and log in again. */
static arca_status reconnect(arca_client *c, const deadline *d)
{
    char why[ARCA_CLIENT_MSG_LEN];
    arca_status st = connect_verified(c, d, why, sizeof(why));
    if (st != ARCA_OK) {
        set_message(c->message, sizeof(c->message), "reconnecting: %s", why);
        return st;
    }
    if (c->selected) ARCA_GUARD(replay_select(c, d));
    if (!c->logged_in) return ARCA_OK;
    arca_lp_request *r = calloc(1, sizeof(*r));
    uint8_t *kmip = NULL;
    size_t kmip_len = 0;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->op = ARCA_LP_LOGIN;
    r->partition = text(c->login_has_partition ? c->login_partition : NULL);
    r->role = c->login_role;
    r->pin = text(c->login_pin);
    st = encode_call(r, &kmip, &kmip_len);
    arca_wipe(r, sizeof(*r));
    free(r);
    ARCA_GUARD(st);
    arca_lp_response resp;
    st = send_lp(c, kmip, kmip_len, ARCA_LP_LOGIN, d, &resp);
    arca_client_free_secret(kmip, kmip_len);
    if (st != ARCA_OK) {
        char inner[ARCA_CLIENT_MSG_LEN];
        memcpy(inner, c->message, sizeof(inner));
        inner[sizeof(inner) - 1] = '\0';
        set_message(c->message, sizeof(c->message), "re-login after reconnecting failed: %s", inner);
        /* Never try a failing PIN again by ourselves (lockout). */
        if (st != ARCA_ERR_IO && st != ARCA_ERR_CHANNEL && st != ARCA_ERR_TIMEOUT) forget_login(c);
        disconnect(c);
    }
    return st;
}

/* Operations that may be sent again after the connection broke under
 * them: they change nothing (docs/client.md). */
static bool idempotent(uint16_t op)
{
    switch (op) {
    case ARCA_LP_FIND:
    case ARCA_LP_GET_ATTRIBUTE:
    case ARCA_LP_SIGN:
    case ARCA_LP_VERIFY:
    case ARCA_LP_ENCRYPT:
    case ARCA_LP_DECRYPT:
    case ARCA_LP_RANDOM:
    case ARCA_LP_STATUS:
    case ARCA_LP_ATTEST:
    case ARCA_LP_AUDIT_READ:
    case ARCA_LP_AUDIT_VERIFY:
    case ARCA_LP_PARTITION_LIST:
    case ARCA_LP_IDENTITY_LIST:
    case ARCA_LP_WHOAMI:
    case ARCA_LP_SELECT_PARTITION:
        return true;
    default:
        return false;
    }
}

/* What a call does with a successful response (under the client's lock;
 * resp borrows from c->resp). */
typedef arca_status (*extract_fn)(arca_client *c, const arca_lp_response *resp, void *ctx);

static void remember_login(arca_client *c, const arca_lp_request *req)
{
    forget_login(c);
    if (req->pin.len >= sizeof(c->login_pin) || req->partition.len >= sizeof(c->login_partition)) return;
    c->login_has_partition = req->partition.data != NULL;
    if (req->partition.len) memcpy(c->login_partition, req->partition.data, req->partition.len);
    if (req->pin.len) memcpy(c->login_pin, req->pin.data, req->pin.len);
    c->login_role = req->role;
    c->logged_in = true;
}

/* The one path of every call: lock, (re)connect, send, retry once if the
 * operation is idempotent and the connection broke, extract, unlock. */
static arca_status call(arca_client *c, const arca_lp_request *req, extract_fn extract, void *ctx)
{
    uint8_t *kmip = NULL;
    size_t kmip_len = 0;
    arca_lp_response resp;
    arca_status st;
    ARCA_ENSURE(c != NULL, ARCA_ERR_ARGS);
    pthread_mutex_lock(&c->mu);
    sigpipe_guard g;
    sigpipe_block(&g);
    c->message[0] = '\0';
    ERR_clear_error();
    deadline d = deadline_in(c->cfg.timeout_ms);
    st = encode_call(req, &kmip, &kmip_len);
    if (st != ARCA_OK) {
        set_message(c->message, sizeof(c->message), "cannot encode the %s request: %s", arca_lp_op_name(req->op),
                    arca_status_message(st));
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        if (c->ssl == NULL) ARCA_GUARD_OUT(reconnect(c, &d));
        st = send_lp(c, kmip, kmip_len, req->op, &d, &resp);
        if ((st == ARCA_ERR_IO || st == ARCA_ERR_CHANNEL) && c->ssl == NULL && attempt == 0 && idempotent(req->op))
            continue;
        break;
    }
    if (st == ARCA_OK && extract != NULL) st = extract(c, &resp, ctx);
    if (st == ARCA_OK && req->op == ARCA_LP_LOGIN) remember_login(c, req);
    if (st == ARCA_OK && req->op == ARCA_LP_LOGOUT) forget_login(c);
    if (st == ARCA_OK && req->op == ARCA_LP_SET_PIN && c->logged_in) {
        /* The PIN changed: a re-login after a reconnect presents the new one
         * (pin2: <= ARCA_LP_PIN_MAX, checked by the encoder). */
        arca_wipe(c->login_pin, sizeof(c->login_pin));
        if (req->pin2.len) memcpy(c->login_pin, req->pin2.data, req->pin2.len);
    }
    if (st == ARCA_OK && req->op == ARCA_LP_SELECT_PARTITION) {
        memset(c->select_partition, 0, sizeof(c->select_partition));
        memcpy(c->select_partition, req->partition.data, req->partition.len); /* <= ARCA_LP_NAME_MAX: encoded */
        c->selected = true;
    }
out:
    arca_client_free_secret(kmip, kmip_len);
    sigpipe_restore(&g);
    pthread_mutex_unlock(&c->mu);
    return st;
}

/* ---- Requests ----------------------------------------------------------- */

static arca_status set_template(arca_lp_template *t, const arca_lp_attr *attrs, size_t num)
{
    ARCA_ENSURE(num <= ARCA_LP_MAX_ATTRS, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(num == 0 || attrs != NULL, ARCA_ERR_ARGS);
    for (size_t i = 0; i < num; i++) t->attrs[i] = attrs[i];
    t->num = num;
    return ARCA_OK;
}

static arca_status copy_bytes(const arca_lp_bytes *v, uint8_t **out, size_t *out_len)
{
    uint8_t *p = malloc(v->len ? v->len : 1);
    ARCA_ENSURE(p != NULL, ARCA_ERR_NOMEM);
    if (v->len) memcpy(p, v->data, v->len);
    *out = p;
    *out_len = v->len;
    return ARCA_OK;
}

/* The request struct holds two templates: keep it off the stack. */
static arca_lp_request *new_request(uint16_t op)
{
    arca_lp_request *r = calloc(1, sizeof(*r));
    if (r) r->op = op;
    return r;
}

static void free_request(arca_lp_request *r)
{
    if (r == NULL) return;
    arca_wipe(r, sizeof(*r));
    free(r);
}

/* Run r (NULL: allocation failed) and free it. */
static arca_status run(arca_client *c, arca_lp_request *r, extract_fn extract, void *ctx)
{
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = call(c, r, extract, ctx);
    free_request(r);
    return st;
}

typedef struct bytes_out {
    uint8_t **out;
    size_t *out_len;
} bytes_out;

static arca_status extract_id(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    memcpy(((arca_client_id *)ctx)->b, resp->id, ARCA_LP_ID_LEN);
    return ARCA_OK;
}

static arca_status extract_bytes(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    bytes_out *o = ctx;
    return copy_bytes(&resp->data, o->out, o->out_len);
}

arca_status arca_client_initialise(arca_client *c, const char *admin_pin)
{
    arca_lp_request *r = new_request(ARCA_LP_INITIALISE);
    if (r) r->pin = text(admin_pin);
    return run(c, r, NULL, NULL);
}

arca_status arca_client_initialise_domain(arca_client *c, const char *admin_pin, const uint8_t *ca_der,
                                          size_t ca_len)
{
    ARCA_ENSURE(ca_der != NULL && ca_len > 0, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_INITIALISE_DOMAIN);
    if (r) {
        r->pin = text(admin_pin);
        r->data.data = ca_der;
        r->data.len = ca_len;
    }
    return run(c, r, NULL, NULL);
}

arca_status arca_client_login(arca_client *c, const char *partition, int role, const char *pin)
{
    ARCA_ENSURE(role >= 0 && role <= 255, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_LOGIN);
    if (r) {
        r->partition = text(partition);
        r->role = (uint8_t)role;
        r->pin = text(pin);
    }
    return run(c, r, NULL, NULL);
}

arca_status arca_client_logout(arca_client *c)
{
    return run(c, new_request(ARCA_LP_LOGOUT), NULL, NULL);
}

arca_status arca_client_select_partition(arca_client *c, const char *name)
{
    ARCA_ENSURE(name != NULL && name[0] != '\0', ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_SELECT_PARTITION);
    if (r) r->partition = text(name);
    return run(c, r, NULL, NULL);
}

arca_status arca_client_partition_create(arca_client *c, const char *name, const char *so_pin,
                                         const char *user_pin)
{
    arca_lp_request *r = new_request(ARCA_LP_PARTITION_CREATE);
    if (r) {
        r->partition = text(name);
        r->pin = text(so_pin);
        r->pin2 = text(user_pin);
    }
    return run(c, r, NULL, NULL);
}

arca_status arca_client_init_user_pin(arca_client *c, const char *new_pin)
{
    arca_lp_request *r = new_request(ARCA_LP_INIT_USER_PIN);
    if (r) r->pin = text(new_pin);
    return run(c, r, NULL, NULL);
}

arca_status arca_client_set_pin(arca_client *c, const char *old_pin, const char *new_pin)
{
    ARCA_ENSURE(old_pin != NULL && new_pin != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_SET_PIN);
    if (r) {
        r->pin = text(old_pin);
        r->pin2 = text(new_pin);
    }
    return run(c, r, NULL, NULL);
}

void arca_client_strings_free(char **strings, size_t num)
{
    if (strings == NULL) return;
    for (size_t i = 0; i < num; i++) free(strings[i]);
    free(strings);
}

/* A NUL-terminated copy of untrusted text; a NUL inside is refused (it
 * would cut the string short). */
static arca_status dup_text(const uint8_t *p, size_t n, char **out)
{
    ARCA_ENSURE(n == 0 || memchr(p, 0, n) == NULL, ARCA_ERR_DECODE);
    char *s = malloc(n + 1);
    ARCA_ENSURE(s != NULL, ARCA_ERR_NOMEM);
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return ARCA_OK;
}

/* Items of a NAMES or PAIRS list as strings ("key: value" for pairs). */
static arca_status list_strings(const arca_lp_response *resp, bool pairs, char ***out, size_t *out_num)
{
    arca_cursor c = resp->list;
    size_t num = resp->num_items;
    char **strings = calloc(num ? num : 1, sizeof(char *));
    ARCA_ENSURE(strings != NULL, ARCA_ERR_NOMEM);
    arca_status st = ARCA_OK;
    for (size_t i = 0; i < num; i++) {
        arca_cursor a, v = {0};
        ARCA_GUARD_OUT(arca_cursor_get_u16_prefixed(&c, &a));
        if (pairs) ARCA_GUARD_OUT(arca_cursor_get_u16_prefixed(&c, &v));
        ARCA_ENSURE_OUT(a.len == 0 || memchr(a.data, 0, a.len) == NULL, ARCA_ERR_DECODE);
        ARCA_ENSURE_OUT(v.len == 0 || memchr(v.data, 0, v.len) == NULL, ARCA_ERR_DECODE);
        char *s = malloc(a.len + v.len + 3);
        ARCA_ENSURE_OUT(s != NULL, ARCA_ERR_NOMEM);
        size_t n = 0;
        if (a.len) memcpy(s, a.data, a.len);
        n += a.len;
        if (pairs) {
            memcpy(s + n, ": ", 2);
            n += 2;
            if (v.len) memcpy(s + n, v.data, v.len);
            n += v.len;
        }
        s[n] = 0;
        strings[i] = s;
    }
    *out = strings;
    *out_num = num;
    return ARCA_OK;
out:
    arca_client_strings_free(strings, num);
    return st;
}

typedef struct strings_out {
    char ***out;
    size_t *out_num;
} strings_out;

static arca_status extract_names(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    strings_out *o = ctx;
    return list_strings(resp, false, o->out, o->out_num);
}

arca_status arca_client_partition_list(arca_client *c, char ***out_names, size_t *out_num)
{
    ARCA_ENSURE(out_names != NULL && out_num != NULL, ARCA_ERR_ARGS);
    strings_out o = {out_names, out_num};
    return run(c, new_request(ARCA_LP_PARTITION_LIST), extract_names, &o);
}

arca_status arca_client_identity_put(arca_client *c, const char *name, uint32_t roles, const char *partitions)
{
    ARCA_ENSURE(name != NULL && partitions != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_IDENTITY_PUT);
    if (r) {
        r->name = text(name);
        r->value = roles;
        r->data = text(partitions);
    }
    return run(c, r, NULL, NULL);
}

arca_status arca_client_identity_remove(arca_client *c, const char *name)
{
    ARCA_ENSURE(name != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_IDENTITY_REMOVE);
    if (r) r->name = text(name);
    return run(c, r, NULL, NULL);
}

typedef struct identities_out {
    arca_client_identity **out;
    size_t *out_num;
} identities_out;

static arca_status extract_identities(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    identities_out *o = ctx;
    arca_cursor list = resp->list;
    size_t num = resp->num_items;
    arca_status st = ARCA_OK;
    arca_client_identity *ids = calloc(num ? num : 1, sizeof(*ids));
    ARCA_ENSURE(ids != NULL, ARCA_ERR_NOMEM);
    for (size_t i = 0; i < num; i++) {
        arca_lp_identity it;
        ARCA_GUARD_OUT(arca_lp_identity_next(&list, &it));
        ARCA_ENSURE_OUT(it.name.len <= ARCA_CLIENT_IDENTITY_NAME_MAX, ARCA_ERR_TOO_LARGE);
        ARCA_ENSURE_OUT(it.partitions.len <= ARCA_CLIENT_PARTITIONS_MAX, ARCA_ERR_TOO_LARGE);
        ARCA_ENSURE_OUT(it.name.len == 0 || memchr(it.name.data, 0, it.name.len) == NULL, ARCA_ERR_DECODE);
        ARCA_ENSURE_OUT(it.partitions.len == 0 || memchr(it.partitions.data, 0, it.partitions.len) == NULL,
                        ARCA_ERR_DECODE);
        if (it.name.len) memcpy(ids[i].name, it.name.data, it.name.len);
        if (it.partitions.len) memcpy(ids[i].partitions, it.partitions.data, it.partitions.len);
        ids[i].roles = it.roles;
    }
    *o->out = ids;
    *o->out_num = num;
    return ARCA_OK;
out:
    free(ids);
    return st;
}

arca_status arca_client_identity_list(arca_client *c, arca_client_identity **out, size_t *out_num)
{
    ARCA_ENSURE(out != NULL && out_num != NULL, ARCA_ERR_ARGS);
    identities_out o = {out, out_num};
    return run(c, new_request(ARCA_LP_IDENTITY_LIST), extract_identities, &o);
}

typedef struct whoami_out {
    arca_client_identity *id;
    int *role;
    char *partition;
} whoami_out;

static arca_status extract_whoami(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    whoami_out *o = ctx;
    const arca_lp_identity *it = &resp->identity;
    ARCA_ENSURE(it->name.len <= ARCA_CLIENT_IDENTITY_NAME_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(it->partitions.len <= ARCA_CLIENT_PARTITIONS_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(resp->partition.len <= ARCA_LP_NAME_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(it->name.len == 0 || memchr(it->name.data, 0, it->name.len) == NULL, ARCA_ERR_DECODE);
    ARCA_ENSURE(it->partitions.len == 0 || memchr(it->partitions.data, 0, it->partitions.len) == NULL,
                ARCA_ERR_DECODE);
    ARCA_ENSURE(resp->partition.len == 0 || memchr(resp->partition.data, 0, resp->partition.len) == NULL,
                ARCA_ERR_DECODE);
    memset(o->id, 0, sizeof(*o->id));
    if (it->name.len) memcpy(o->id->name, it->name.data, it->name.len);
    if (it->partitions.len) memcpy(o->id->partitions, it->partitions.data, it->partitions.len);
    o->id->roles = it->roles;
    *o->role = resp->role;
    memset(o->partition, 0, ARCA_LP_NAME_MAX + 1);
    if (resp->partition.len) memcpy(o->partition, resp->partition.data, resp->partition.len);
    return ARCA_OK;
}

arca_status arca_client_whoami(arca_client *c, arca_client_identity *out, int *out_role,
                               char partition[ARCA_LP_NAME_MAX + 1])
{
    ARCA_ENSURE(out != NULL && out_role != NULL && partition != NULL, ARCA_ERR_ARGS);
    whoami_out o = {out, out_role, partition};
    return run(c, new_request(ARCA_LP_WHOAMI), extract_whoami, &o);
}

arca_status arca_client_tls_csr(arca_client *c, const char *cn, uint8_t **der, size_t *len)
{
    ARCA_ENSURE(cn != NULL && der != NULL && len != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(cn[0] != '\0' && strlen(cn) <= ARCA_LP_CN_MAX, ARCA_ERR_ARGS);
    bytes_out o = {der, len};
    arca_lp_request *r = new_request(ARCA_LP_TLS_CSR);
    if (r) r->name = text(cn);
    return run(c, r, extract_bytes, &o);
}

arca_status arca_client_tls_cert_install(arca_client *c, const uint8_t *chain_der, size_t len)
{
    ARCA_ENSURE(chain_der != NULL && len > 0, ARCA_ERR_ARGS);
    ARCA_ENSURE(len <= ARCA_LP_CERT_CHAIN_MAX, ARCA_ERR_TOO_LARGE);
    arca_lp_request *r = new_request(ARCA_LP_TLS_CERT_INSTALL);
    if (r) {
        r->data.data = chain_der;
        r->data.len = len;
    }
    return run(c, r, NULL, NULL);
}

arca_status arca_client_generate_key(arca_client *c, uint32_t mechanism, const arca_lp_attr *tmpl, size_t num,
                                     arca_client_id *out_id)
{
    ARCA_ENSURE(out_id != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_GENERATE_KEY);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->mech_type = mechanism;
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return run(c, r, extract_id, out_id);
}

typedef struct pair_out {
    arca_client_id *pub, *priv;
} pair_out;

static arca_status extract_pair(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    pair_out *o = ctx;
    memcpy(o->pub->b, resp->id, ARCA_LP_ID_LEN);
    memcpy(o->priv->b, resp->id2, ARCA_LP_ID_LEN);
    return ARCA_OK;
}

arca_status arca_client_generate_key_pair(arca_client *c, uint32_t mechanism, const arca_lp_attr *pub,
                                          size_t num_pub, const arca_lp_attr *priv, size_t num_priv,
                                          arca_client_id *out_pub, arca_client_id *out_priv)
{
    ARCA_ENSURE(out_pub != NULL && out_priv != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_GENERATE_KEY_PAIR);
    arca_status st;
    pair_out o = {out_pub, out_priv};
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->mech_type = mechanism;
    ARCA_GUARD_OUT(set_template(&r->tmpl, pub, num_pub));
    ARCA_GUARD_OUT(set_template(&r->tmpl2, priv, num_priv));
    ARCA_GUARD_OUT(call(c, r, extract_pair, &o));
out:
    free_request(r);
    return st;
}

arca_status arca_client_create_object(arca_client *c, const arca_lp_attr *tmpl, size_t num, arca_client_id *out_id)
{
    ARCA_ENSURE(out_id != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_CREATE_OBJECT);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return run(c, r, extract_id, out_id);
}

typedef struct find_out {
    arca_client_id *ids;
    size_t max;
    size_t *out_num;
} find_out;

static arca_status extract_ids(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    find_out *o = ctx;
    arca_cursor list = resp->list;
    ARCA_ENSURE(resp->num_items <= o->max, ARCA_ERR_TOO_LARGE);
    for (uint32_t i = 0; i < resp->num_items; i++)
        ARCA_GUARD(arca_cursor_copy_bytes(&list, o->ids[i].b, ARCA_LP_ID_LEN));
    *o->out_num = resp->num_items;
    return ARCA_OK;
}

arca_status arca_client_find(arca_client *c, const arca_lp_attr *tmpl, size_t num, arca_client_id *out_ids,
                             size_t max_ids, size_t *out_num)
{
    ARCA_ENSURE(max_ids <= ARCA_LP_FIND_MAX && out_num != NULL && (max_ids == 0 || out_ids != NULL),
                ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_FIND);
    arca_status st;
    find_out o = {out_ids, max_ids, out_num};
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->value = (uint32_t)max_ids;
    ARCA_GUARD_OUT(set_template(&r->tmpl, tmpl, num));
    ARCA_GUARD_OUT(call(c, r, extract_ids, &o));
out:
    free_request(r);
    return st;
}

arca_status arca_client_get_attribute(arca_client *c, const arca_client_id *id, uint32_t type, uint8_t **out,
                                      size_t *out_len)
{
    ARCA_ENSURE(id != NULL && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    bytes_out o = {out, out_len};
    arca_lp_request *r = new_request(ARCA_LP_GET_ATTRIBUTE);
    if (r) {
        memcpy(r->id, id->b, sizeof(r->id));
        r->value = type;
    }
    return run(c, r, extract_bytes, &o);
}

arca_status arca_client_set_attributes(arca_client *c, const arca_client_id *id, const arca_lp_attr *tmpl,
                                       size_t num)
{
    ARCA_ENSURE(id != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_SET_ATTRIBUTES);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    memcpy(r->id, id->b, sizeof(r->id));
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return run(c, r, NULL, NULL);
}

arca_status arca_client_destroy(arca_client *c, const arca_client_id *id)
{
    ARCA_ENSURE(id != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_DESTROY);
    if (r) memcpy(r->id, id->b, sizeof(r->id));
    return run(c, r, NULL, NULL);
}

arca_status arca_client_rotate(arca_client *c, const arca_client_id *id, arca_client_id *out_new)
{
    ARCA_ENSURE(id != NULL && out_new != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_ROTATE);
    if (r) memcpy(r->id, id->b, sizeof(r->id));
    return run(c, r, extract_id, out_new);
}

arca_status arca_client_activate(arca_client *c, const arca_client_id *id)
{
    ARCA_ENSURE(id != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_ACTIVATE);
    if (r) memcpy(r->id, id->b, sizeof(r->id));
    return run(c, r, NULL, NULL);
}

arca_status arca_client_revoke(arca_client *c, const arca_client_id *id, uint32_t reason, const char *message)
{
    ARCA_ENSURE(id != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(message == NULL || strlen(message) <= ARCA_LP_REVOKE_MESSAGE_MAX, ARCA_ERR_TOO_LARGE);
    arca_lp_request *r = new_request(ARCA_LP_REVOKE);
    if (r) {
        memcpy(r->id, id->b, sizeof(r->id));
        r->value = reason;
        r->data = text(message);
    }
    return run(c, r, NULL, NULL);
}

static arca_lp_request *crypto_request(uint16_t op, const arca_client_id *id, const arca_lp_mechanism *m,
                                       const uint8_t *data, size_t len)
{
    if (id == NULL || m == NULL) return NULL;
    arca_lp_request *r = new_request(op);
    if (r == NULL) return NULL;
    memcpy(r->id, id->b, sizeof(r->id));
    r->mech = *m;
    r->data.data = data;
    r->data.len = len;
    return r;
}

static arca_status crypto_bytes(arca_client *c, uint16_t op, const arca_client_id *id, const arca_lp_mechanism *m,
                                const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(id != NULL && m != NULL && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    bytes_out o = {out, out_len};
    return run(c, crypto_request(op, id, m, data, len), extract_bytes, &o);
}

arca_status arca_client_sign(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                             const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    return crypto_bytes(c, ARCA_LP_SIGN, id, m, data, len, out, out_len);
}

arca_status arca_client_verify(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                               const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len)
{
    ARCA_ENSURE(id != NULL && m != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = crypto_request(ARCA_LP_VERIFY, id, m, data, len);
    if (r) {
        r->sig.data = sig;
        r->sig.len = sig_len;
    }
    return run(c, r, NULL, NULL);
}

arca_status arca_client_encrypt(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                                const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    return crypto_bytes(c, ARCA_LP_ENCRYPT, id, m, data, len, out, out_len);
}

arca_status arca_client_decrypt(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                                const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    return crypto_bytes(c, ARCA_LP_DECRYPT, id, m, data, len, out, out_len);
}

arca_status arca_client_wrap(arca_client *c, const arca_client_id *wrapping, const arca_lp_mechanism *m,
                             const arca_client_id *target, uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(wrapping != NULL && m != NULL && target != NULL && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    bytes_out o = {out, out_len};
    arca_lp_request *r = crypto_request(ARCA_LP_WRAP, wrapping, m, NULL, 0);
    if (r) memcpy(r->id2, target->b, sizeof(r->id2));
    return run(c, r, extract_bytes, &o);
}

arca_status arca_client_unwrap(arca_client *c, const arca_client_id *unwrapping, const arca_lp_mechanism *m,
                               const uint8_t *wrapped, size_t len, const arca_lp_attr *tmpl, size_t num,
                               arca_client_id *out_id)
{
    ARCA_ENSURE(unwrapping != NULL && m != NULL && out_id != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = crypto_request(ARCA_LP_UNWRAP, unwrapping, m, wrapped, len);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return run(c, r, extract_id, out_id);
}

arca_status arca_client_derive(arca_client *c, const arca_client_id *base, const arca_lp_mechanism *m,
                               const arca_lp_attr *tmpl, size_t num, arca_client_id *out_id)
{
    ARCA_ENSURE(base != NULL && m != NULL && out_id != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = crypto_request(ARCA_LP_DERIVE, base, m, NULL, 0);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return run(c, r, extract_id, out_id);
}

arca_status arca_client_random(arca_client *c, size_t len, uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(len <= ARCA_LP_DATA_MAX && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    bytes_out o = {out, out_len};
    arca_lp_request *r = new_request(ARCA_LP_RANDOM);
    if (r) r->value = (uint32_t)len;
    return run(c, r, extract_bytes, &o);
}

static arca_status extract_u64(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    *(uint64_t *)ctx = resp->u64;
    return ARCA_OK;
}

arca_status arca_client_audit_verify(arca_client *c, uint64_t *out_records)
{
    ARCA_ENSURE(out_records != NULL, ARCA_ERR_ARGS);
    return run(c, new_request(ARCA_LP_AUDIT_VERIFY), extract_u64, out_records);
}

void arca_client_audit_records_free(arca_client_audit_record *records, size_t num)
{
    if (records == NULL) return;
    for (size_t i = 0; i < num; i++) {
        free(records[i].actor);
        free(records[i].event);
        free(records[i].object);
        free(records[i].detail);
    }
    free(records);
}

typedef struct records_out {
    arca_client_audit_record **out;
    size_t *out_num;
} records_out;

static arca_status extract_records(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    records_out *o = ctx;
    arca_cursor list = resp->list;
    size_t num = resp->num_items;
    arca_status st = ARCA_OK;
    arca_client_audit_record *recs = calloc(num ? num : 1, sizeof(*recs));
    ARCA_ENSURE(recs != NULL, ARCA_ERR_NOMEM);
    for (size_t i = 0; i < num; i++) {
        arca_lp_record it;
        ARCA_GUARD_OUT(arca_lp_record_next(&list, &it));
        recs[i].seq = it.seq;
        recs[i].time_ms = it.time_ms;
        recs[i].status = it.status;
        ARCA_GUARD_OUT(dup_text(it.actor.data, it.actor.len, &recs[i].actor));
        ARCA_GUARD_OUT(dup_text(it.event.data, it.event.len, &recs[i].event));
        ARCA_GUARD_OUT(dup_text(it.object.data, it.object.len, &recs[i].object));
        ARCA_GUARD_OUT(dup_text(it.detail.data, it.detail.len, &recs[i].detail));
    }
    *o->out = recs;
    *o->out_num = num;
    return ARCA_OK;
out:
    arca_client_audit_records_free(recs, num);
    return st;
}

arca_status arca_client_audit_read(arca_client *c, uint64_t from_seq, uint32_t max, arca_client_audit_record **out,
                                   size_t *out_num)
{
    ARCA_ENSURE(max >= 1 && max <= ARCA_LP_AUDIT_READ_MAX && out != NULL && out_num != NULL, ARCA_ERR_ARGS);
    records_out o = {out, out_num};
    arca_lp_request *r = new_request(ARCA_LP_AUDIT_READ);
    if (r) {
        r->value64 = from_seq;
        r->value = max;
    }
    return run(c, r, extract_records, &o);
}

static arca_status extract_status_text(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    (void)c;
    char **lines = NULL;
    size_t num = 0, total = 1;
    ARCA_GUARD(list_strings(resp, true, &lines, &num));
    for (size_t i = 0; i < num; i++) total += strlen(lines[i]) + 1;
    char *text_out = malloc(total);
    if (text_out == NULL) {
        arca_client_strings_free(lines, num);
        return ARCA_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < num; i++) {
        size_t k = strlen(lines[i]);
        memcpy(text_out + n, lines[i], k);
        n += k;
        text_out[n++] = '\n';
    }
    text_out[n] = 0;
    arca_client_strings_free(lines, num);
    *(char **)ctx = text_out;
    return ARCA_OK;
}

arca_status arca_client_status(arca_client *c, char **out_text)
{
    ARCA_ENSURE(out_text != NULL, ARCA_ERR_ARGS);
    return run(c, new_request(ARCA_LP_STATUS), extract_status_text, out_text);
}

/* ---- Fresh attestation -------------------------------------------------- */

typedef struct attest_ctx {
    const uint8_t *nonce;
    size_t nonce_len;
    arca_evidence_claims *out;
} attest_ctx;

/* The trust policy of the configuration applied to verified claims; the
 * same checks, in the same order, as arca_ratls_cert_verify's. */
static arca_status apply_policy(const arca_client_config *cfg, const arca_evidence_claims *ev, char *msg,
                                size_t msg_len)
{
    char got[65], want[65];
    const arca_enclave_identity *id = &ev->identity;
    if (ev->insecure_dev && !cfg->allow_dev_evidence) {
        set_message(msg, msg_len, "dev evidence refused by policy");
        return ARCA_ERR_ATTEST_INSECURE;
    }
    if (id->debug && !cfg->allow_debug) {
        set_message(msg, msg_len, "debug enclave refused by policy");
        return ARCA_ERR_ATTEST_INSECURE;
    }
    if (cfg->has_expected_signer && memcmp(id->signer_id, cfg->expected_signer, 32) != 0) {
        arca_hex(id->signer_id, 32, got);
        arca_hex(cfg->expected_signer, 32, want);
        set_message(msg, msg_len, "evidence signer %s is not the expected signer %s", got, want);
        return ARCA_ERR_IMAGE_SIGNER;
    }
    if (cfg->has_expected_measurement && memcmp(id->measurement, cfg->expected_measurement, 32) != 0) {
        arca_hex(id->measurement, 32, got);
        arca_hex(cfg->expected_measurement, 32, want);
        set_message(msg, msg_len, "evidence measurement %s is not the expected measurement %s", got, want);
        return ARCA_ERR_ATTEST_MEASUREMENT;
    }
    if (id->svn < cfg->min_svn) {
        set_message(msg, msg_len, "SVN %u is below the minimum %u", (unsigned)id->svn, (unsigned)cfg->min_svn);
        return ARCA_ERR_SVN;
    }
    return ARCA_OK;
}

static arca_status extract_attest(arca_client *c, const arca_lp_response *resp, void *ctx)
{
    attest_ctx *a = ctx;
    uint8_t rd[ARCA_REPORT_DATA_LEN];
    arca_evidence_claims claims;
    /* c->exporter is that of the connection the answer came on. */
    ARCA_GUARD(arca_ratls_fresh_report_data(a->nonce, a->nonce_len, c->exporter, sizeof(c->exporter), rd));
    arca_status st = arca_evidence_verify(resp->data.data, resp->data.len, rd, &claims);
    switch (st) {
    case ARCA_OK:
        break;
    case ARCA_ERR_INTEGRITY:
        set_message(c->message, sizeof(c->message),
                    "evidence is not bound to this nonce and TLS session (report data differs)");
        return ARCA_ERR_ATTEST_BINDING;
    case ARCA_ERR_SIGNATURE_INVALID:
        set_message(c->message, sizeof(c->message), "evidence signature does not verify");
        return st;
    case ARCA_ERR_DECODE:
        set_message(c->message, sizeof(c->message), "evidence is malformed");
        return st;
    default:
        set_message(c->message, sizeof(c->message), "evidence does not verify: %s", arca_status_message(st));
        return st;
    }
    ARCA_GUARD(apply_policy(&c->cfg, &claims, c->message, sizeof(c->message)));
    *a->out = claims;
    return ARCA_OK;
}

arca_status arca_client_attest(arca_client *c, const uint8_t *nonce, size_t nonce_len, arca_evidence_claims *out)
{
    ARCA_ENSURE(nonce != NULL && nonce_len >= 1 && nonce_len <= ARCA_LP_NONCE_MAX && out != NULL, ARCA_ERR_ARGS);
    attest_ctx a = {nonce, nonce_len, out};
    arca_lp_request *r = new_request(ARCA_LP_ATTEST);
    if (r) {
        r->data.data = nonce;
        r->data.len = nonce_len;
    }
    return run(c, r, extract_attest, &a);
}

/* ---- Abandon (after fork) ------------------------------------------------ */

void arca_client_abandon(arca_client *c)
{
    if (c == NULL) return;
    /* Never a write on the socket: the peer of this connection is the
     * parent's. A mutex held at fork() by a thread that does not exist
     * here means the TLS state may be half-updated: then only the fd is
     * closed and the rest is left as it is (leaked, never used). */
    if (pthread_mutex_trylock(&c->mu) != 0) {
        if (c->fd >= 0) close(c->fd);
        c->fd = -1;
        return;
    }
    if (c->ssl != NULL) {
        SSL_set_quiet_shutdown(c->ssl, 1); /* SSL_free sends nothing either way; belt and braces */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    ERR_clear_error();
    SSL_CTX_free(c->ctx);
    arca_client_free_secret(c->resp, c->resp_len);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_destroy(&c->mu);
    arca_wipe(c, sizeof(*c));
    free(c);
}

/* ---- Token re-initialisation ------------------------------------------------ */

arca_status arca_client_init_token(arca_client *c, const char *partition, const char *so_pin, uint64_t *out_destroyed)
{
    ARCA_ENSURE(partition != NULL && so_pin != NULL && out_destroyed != NULL, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_INIT_TOKEN);
    if (r) {
        r->partition = text(partition);
        r->pin = text(so_pin);
    }
    return run(c, r, extract_u64, out_destroyed);
}
