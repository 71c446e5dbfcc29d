/* TLS termination in arca-enclave (tls_server.c) and the connection loop
 * (connection.c: KMIP framing, Arca Call): a real keystore on LMDB with
 * dev sealing serves over a socketpair; the client side is an in-process
 * OpenSSL client with certificates made here by a test CA. */
#include "kmip_server.h" /* first: p11-kit's macros, see kmip_server.h */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "arca/kmip.h"
#include "arca/local_proto.h"
#include "arca/kms.h"
#include "arca/log.h"
#include "arca/ratls.h"
#include "arca/sealing.h"
#include "arca/secret.h"
#include "arca/ttlv.h"
#include "connection.h"
#include "isolation.h"
#include "request.h"
#include "store_lmdb.h"
#include "tls_server.h"

#define ADMIN_PIN "admin-pin-1"

/* ---- A small PKI ---------------------------------------------------------- */

typedef struct cred {
    EVP_PKEY *key;
    X509 *cert;
} cred;

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(rand() & 0x7fffffff) + 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 30);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name), 1);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", ca ? "critical,CA:TRUE" : "CA:FALSE"},
        {"keyUsage", ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {"extendedKeyUsage", ca ? NULL : "clientAuth"},
        {"subjectKeyIdentifier", "hash"},
    };
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (exts[i][1] == NULL) continue;
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void cred_make(cred *c, const char *cn, const cred *issuer, bool ca)
{
    c->key = EVP_EC_gen("P-256");
    assert_non_null(c->key);
    c->cert = make_cert(c->key, cn, issuer ? issuer->cert : NULL, issuer ? issuer->key : NULL, ca);
}

static void cred_free(cred *c)
{
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
}

/* ---- Fixture ---------------------------------------------------------------- */

typedef struct fx {
    char dir[128];
    char seal_dir[160];
    char store_dir[160];
    char log_path[160];
    int log_fd;
    arca_sealing *sealing;
    arca_store_lmdb *lmdb;
    const arca_store_ops *store;
    arca_kms_config cfg;
    arca_kms *kms;
    arca_tls_server *tls;
    arca_request_ctx ctx;
    cred ca, client, other_ca, stranger;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/arca-tls-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->seal_dir, sizeof(f->seal_dir), "%s/seal", f->dir);
    snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
    snprintf(f->log_path, sizeof(f->log_path), "%s/log", f->dir);
    assert_int_equal(mkdir(f->seal_dir, 0700), 0);
    f->log_fd = open(f->log_path, O_CREAT | O_WRONLY | O_APPEND, 0600);
    assert_true(f->log_fd >= 0);
    arca_log_set_fd(f->log_fd);
    arca_sealing_config sc = {.mode = "dev", .state_dir = f->seal_dir};
    arca_enclave_identity id;
    memset(&id, 0, sizeof(id));
    id.svn = 1;
    id.product_id = 1;
    assert_int_equal(arca_sealing_initialise(&sc), ARCA_OK);
    assert_int_equal(arca_sealing_open(&sc, &id, &f->sealing), ARCA_OK);
    assert_int_equal(arca_store_lmdb_open(f->store_dir, 64u << 20, ARCA_STORE_LMDB_CREATE, &f->lmdb), ARCA_OK);
    f->store = arca_store_lmdb_ops(f->lmdb);
    f->cfg.pin_hash_cost = 10;
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
    assert_int_equal(arca_tls_server_new(f->sealing, &f->tls), ARCA_OK);
    f->ctx.kms = f->kms;
    f->ctx.sealing_mode = "dev";
    f->ctx.sealing_insecure = true;
    f->ctx.tls = f->tls;
    cred_make(&f->ca, "Test Client CA", NULL, true);
    cred_make(&f->client, "arca-client", &f->ca, false);
    cred_make(&f->other_ca, "Other CA", NULL, true);
    cred_make(&f->stranger, "arca-stranger", &f->other_ca, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    cred_free(&f->ca);
    cred_free(&f->client);
    cred_free(&f->other_ca);
    cred_free(&f->stranger);
    arca_tls_server_free(f->tls);
    arca_kms_free(f->kms);
    arca_store_lmdb_close(f->lmdb);
    arca_sealing_free(f->sealing);
    arca_log_set_fd(2);
    close(f->log_fd);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static bool log_contains(fx *f, const char *needle)
{
    FILE *fp = fopen(f->log_path, "r");
    char line[4096];
    bool found = false;
    if (fp == NULL) return false;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strstr(line, needle) != NULL) found = true;
    }
    fclose(fp);
    return found;
}

static uint64_t audit_count(fx *f)
{
    arca_kms_stats s;
    arca_kms_get_stats(f->kms, &s);
    return s.audit_records;
}

/* ---- The server side on a thread --------------------------------------------- */

typedef enum srv_mode { SRV_SERVE, SRV_ACCEPT, SRV_ACCEPT_READ } srv_mode;

typedef struct srv {
    fx *f;
    int fd;
    srv_mode mode;
    int timeout_ms;
    pthread_t t;
    arca_status accept_st, read_st;
    char identity[ARCA_IDENTITY_NAME_MAX + 1];
    uint8_t exporter[ARCA_TLS_EXPORTER_LEN];
} srv;

static void *srv_main(void *arg)
{
    srv *s = arg;
    if (s->mode == SRV_SERVE) {
        arca_conn_serve(&s->f->ctx, 7, s->fd);
        return NULL;
    }
    arca_kms_session *sess = NULL;
    arca_tls_conn *tc = NULL;
    if (arca_kms_session_new(s->f->kms, &sess) != ARCA_OK) {
        s->accept_st = ARCA_ERR_INTERNAL;
        return NULL;
    }
    s->accept_st = arca_tls_accept(s->f->tls, s->f->kms, sess, s->fd, "test peer", s->timeout_ms, &tc);
    if (s->accept_st == ARCA_OK) {
        snprintf(s->identity, sizeof(s->identity), "%s", arca_kms_session_identity(sess));
        arca_tls_conn_exporter(tc, s->exporter);
        if (s->mode == SRV_ACCEPT_READ) {
            uint8_t buf[8];
            s->read_st = arca_tls_read(tc, buf, sizeof(buf), false, 300);
        }
    }
    arca_tls_conn_free(tc);
    arca_kms_session_free(sess);
    return NULL;
}

/* Start the server on one end of a fresh socketpair; returns the client end. */
static int srv_start(srv *s, fx *f, srv_mode mode, int timeout_ms)
{
    int sv[2];
    memset(s, 0, sizeof(*s));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    s->f = f;
    s->fd = sv[0];
    s->mode = mode;
    s->timeout_ms = timeout_ms;
    s->accept_st = ARCA_ERR_INTERNAL;
    s->read_st = ARCA_ERR_INTERNAL;
    assert_int_equal(pthread_create(&s->t, NULL, srv_main, s), 0);
    return sv[1];
}

static void srv_join(srv *s)
{
    assert_int_equal(pthread_join(s->t, NULL), 0);
    close(s->fd);
}

/* ---- The client side ------------------------------------------------------ */

typedef struct cli {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    uint8_t *last; /* the last response's bytes: its tree borrows from them */
} cli;

/* Handshake as the holder of c (NULL: no certificate), at most TLS
 * max_version. Returns SSL_connect's result. */
static int cli_connect(cli *k, int fd, const cred *c, int max_version)
{
    memset(k, 0, sizeof(*k));
    k->fd = fd;
    k->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(k->ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(k->ctx, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(k->ctx, max_version), 1);
    SSL_CTX_set_verify(k->ctx, SSL_VERIFY_NONE, NULL); /* the RA-TLS check is done by hand below */
    if (c != NULL) {
        assert_int_equal(SSL_CTX_use_certificate(k->ctx, c->cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(k->ctx, c->key), 1);
    }
    k->ssl = SSL_new(k->ctx);
    assert_non_null(k->ssl);
    assert_int_equal(SSL_set_fd(k->ssl, fd), 1);
    int r = SSL_connect(k->ssl);
    ERR_clear_error();
    return r;
}

static void cli_close(cli *k)
{
    if (k->ssl != NULL) {
        (void)SSL_shutdown(k->ssl);
        SSL_free(k->ssl);
    }
    SSL_CTX_free(k->ctx);
    ERR_clear_error();
    close(k->fd);
    free(k->last);
}

static void cli_write(cli *k, const uint8_t *b, size_t n)
{
    assert_int_equal(SSL_write(k->ssl, b, (int)n), (int)n);
}

/* Read one KMIP response (header, then the rest); returns the decoded
 * tree (valid until the next read or cli_close), or NULL when the server
 * closed before a whole message. */
static arca_ttlv_tree *cli_read_kmip(cli *k)
{
    uint8_t hdr[8];
    size_t got = 0, total = 0;
    while (got < sizeof(hdr)) {
        int r = SSL_read(k->ssl, hdr + got, (int)(sizeof(hdr) - got));
        if (r <= 0) {
            ERR_clear_error();
            return NULL;
        }
        got += (size_t)r;
    }
    assert_int_equal(arca_ttlv_message_len(hdr, sizeof(hdr), ARCA_KMIP_WIRE_MAX, &total), ARCA_OK);
    uint8_t *msg = malloc(total);
    assert_non_null(msg);
    memcpy(msg, hdr, sizeof(hdr));
    while (got < total) {
        int r = SSL_read(k->ssl, msg + got, (int)(total - got));
        assert_true(r > 0);
        got += (size_t)r;
    }
    arca_cursor c;
    arca_ttlv_tree *tree = NULL;
    arca_cursor_init(&c, msg, total);
    arca_ttlv_limits lim = {.max_message_len = ARCA_KMIP_WIRE_MAX};
    assert_int_equal(arca_ttlv_decode(&c, &lim, &tree), ARCA_OK);
    free(k->last);
    k->last = msg;
    return tree;
}

/* True when the server has closed (EOF or close_notify, no data). */
static bool cli_sees_close(cli *k)
{
    uint8_t b;
    int r = SSL_read(k->ssl, &b, 1);
    ERR_clear_error();
    return r <= 0;
}

/* ---- KMIP requests ------------------------------------------------------------ */

typedef struct msg {
    arca_builder b;
    size_t m, h, v, i, p;
    uint8_t *data;
    size_t len;
} msg;

static void msg_begin(msg *q, uint32_t op)
{
    assert_int_equal(arca_builder_init(&q->b, 256, 1u << 21), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&q->b, ARCA_KMIP_TAG_REQUEST_MESSAGE, &q->m), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&q->b, ARCA_KMIP_TAG_REQUEST_HEADER, &q->h), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&q->b, ARCA_KMIP_TAG_PROTOCOL_VERSION, &q->v), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&q->b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, 2), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&q->b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, 0), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&q->b, q->v), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&q->b, ARCA_KMIP_TAG_BATCH_COUNT, 1), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&q->b, q->h), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&q->b, ARCA_KMIP_TAG_BATCH_ITEM, &q->i), ARCA_OK);
    assert_int_equal(arca_ttlv_add_enum(&q->b, ARCA_KMIP_TAG_OPERATION, op), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&q->b, ARCA_KMIP_TAG_REQUEST_PAYLOAD, &q->p), ARCA_OK);
}

static void msg_end(msg *q)
{
    assert_int_equal(arca_ttlv_end_struct(&q->b, q->p), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&q->b, q->i), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&q->b, q->m), ARCA_OK);
    assert_int_equal(arca_builder_finish(&q->b, &q->data, &q->len), ARCA_OK);
}

static void msg_free(msg *q)
{
    free(q->data);
    arca_builder_cleanup(&q->b);
}

static void query_msg(msg *q)
{
    msg_begin(q, ARCA_KMIP_OP_QUERY);
    assert_int_equal(arca_ttlv_add_enum(&q->b, ARCA_KMIP_TAG_QUERY_FUNCTION, ARCA_KMIP_QUERY_OPERATIONS), ARCA_OK);
    msg_end(q);
}

static void arca_call_msg(msg *q, const uint8_t *lp, size_t lp_len)
{
    msg_begin(q, ARCA_KMIP_OP_ARCA_CALL);
    assert_int_equal(arca_ttlv_add_bytes(&q->b, ARCA_KMIP_TAG_ARCA_REQUEST, lp, lp_len), ARCA_OK);
    msg_end(q);
}

/* The single batch item of a response; its Result Status. */
static const arca_ttlv_node *only_item(arca_ttlv_tree *t, uint32_t *out_status)
{
    const arca_ttlv_node *root = arca_ttlv_root(t), *it = NULL;
    assert_int_equal(root->tag, ARCA_KMIP_TAG_RESPONSE_MESSAGE);
    assert_int_equal(arca_ttlv_child(root, ARCA_KMIP_TAG_BATCH_ITEM, ARCA_TTLV_STRUCTURE, &it), ARCA_OK);
    assert_int_equal(arca_ttlv_child_enum(it, ARCA_KMIP_TAG_RESULT_STATUS, out_status), ARCA_OK);
    return it;
}

static uint32_t item_reason(const arca_ttlv_node *it)
{
    uint32_t r = 0;
    assert_int_equal(arca_ttlv_child_enum(it, ARCA_KMIP_TAG_RESULT_REASON, &r), ARCA_OK);
    return r;
}

static const uint8_t STATUS_LP[] = {0x00, 0x01, 0x00, 24}; /* version 1, op STATUS */

/* ---- Tests: the handshake ------------------------------------------------------ */

static void test_handshake_and_ratls_cert(void **state)
{
    fx *f = *state;
    srv s;
    cli k;
    int fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);
    assert_int_equal(SSL_version(k.ssl), TLS1_3_VERSION);
    /* The server certificate is RA-TLS: its evidence names its key. */
    X509 *sc = SSL_get1_peer_certificate(k.ssl);
    assert_non_null(sc);
    arca_ratls_policy pol = {.allow_dev = true};
    arca_ratls_result res;
    char m[ARCA_RATLS_MSG_LEN];
    assert_int_equal(arca_ratls_cert_verify(sc, &pol, &res, m, sizeof(m)), ARCA_OK);
    assert_true(res.evidence.insecure_dev);
    arca_ratls_policy strict = {.allow_dev = false};
    assert_int_equal(arca_ratls_cert_verify(sc, &strict, &res, m, sizeof(m)), ARCA_ERR_ATTEST_INSECURE);
    char cn[64];
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(sc), NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, ARCA_TLS_SERVER_CN);
    size_t der_len = 0;
    const uint8_t *der = arca_tls_server_cert_der(f->tls, &der_len);
    unsigned char *sder = NULL;
    int sder_len = i2d_X509(sc, &sder);
    assert_int_equal((size_t)sder_len, der_len);
    assert_memory_equal(sder, der, der_len);
    OPENSSL_free(sder);
    X509_free(sc);
    /* The exporter both sides compute is the session's channel binding. */
    uint8_t mine[ARCA_TLS_EXPORTER_LEN];
    assert_int_equal(SSL_export_keying_material(k.ssl, mine, sizeof(mine), ARCA_TLS_EXPORTER_LABEL,
                                                strlen(ARCA_TLS_EXPORTER_LABEL), NULL, 0, 0),
                     1);
    cli_close(&k);
    srv_join(&s);
    assert_int_equal(s.accept_st, ARCA_OK);
    assert_string_equal(s.identity, "arca-client");
    assert_memory_equal(s.exporter, mine, sizeof(mine));
}

static void test_no_client_certificate(void **state)
{
    fx *f = *state;
    srv s;
    cli k;
    uint64_t before = audit_count(f);
    int fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    /* TLS 1.3: the client's handshake completes before the server judges
     * its (missing) certificate; the refusal arrives as an alert. */
    (void)cli_connect(&k, fd, NULL, TLS1_3_VERSION);
    assert_true(cli_sees_close(&k));
    cli_close(&k);
    srv_join(&s);
    assert_int_equal(s.accept_st, ARCA_ERR_PERMISSION);
    assert_int_equal(audit_count(f), before + 1);
    assert_true(log_contains(f, "test peer: refused: no client certificate"));
}

static void test_tls12_client_refused(void **state)
{
    fx *f = *state;
    srv s;
    cli k;
    uint64_t before = audit_count(f);
    int fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    assert_true(cli_connect(&k, fd, &f->client, TLS1_2_VERSION) <= 0);
    cli_close(&k);
    srv_join(&s);
    assert_int_equal(s.accept_st, ARCA_ERR_CRYPTO);
    assert_int_equal(audit_count(f), before); /* not a refusal of an identity: logged only */
    assert_true(log_contains(f, "test peer: TLS handshake failed"));
}

static void test_handshake_timeout(void **state)
{
    fx *f = *state;
    srv s;
    int fd = srv_start(&s, f, SRV_ACCEPT, 200);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    srv_join(&s); /* the client says nothing */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    assert_int_equal(s.accept_st, ARCA_ERR_TIMEOUT);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
}

static void test_client_closes_during_handshake(void **state)
{
    fx *f = *state;
    srv s;
    int fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    close(fd);
    srv_join(&s);
    assert_int_equal(s.accept_st, ARCA_ERR_CHANNEL);
}

static void test_garbage_instead_of_handshake(void **state)
{
    fx *f = *state;
    srv s;
    int fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, junk, sizeof(junk) - 1), (ssize_t)(sizeof(junk) - 1));
    srv_join(&s);
    close(fd);
    assert_int_equal(s.accept_st, ARCA_ERR_CRYPTO);
}

static void test_stalled_message_times_out(void **state)
{
    fx *f = *state;
    srv s;
    cli k;
    int fd = srv_start(&s, f, SRV_ACCEPT_READ, 5000);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);
    static const uint8_t half[4] = {0x42, 0x00, 0x78, 0x01};
    cli_write(&k, half, sizeof(half));
    srv_join(&s); /* reads 8 bytes within 300 ms: only 4 come */
    cli_close(&k);
    assert_int_equal(s.accept_st, ARCA_OK);
    assert_int_equal(s.read_st, ARCA_ERR_TIMEOUT);
}

/* After initialisation the keystore judges certificates: one from another
 * CA is refused in the handshake with the keystore's status. */
static void test_untrusted_certificate_after_initialisation(void **state)
{
    fx *f = *state;
    arca_kms_session *admin = NULL;
    unsigned char *ca_der = NULL, *leaf_der = NULL;
    int ca_len = i2d_X509(f->ca.cert, &ca_der), leaf_len = i2d_X509(f->client.cert, &leaf_der);
    assert_true(ca_len > 0 && leaf_len > 0);
    assert_int_equal(arca_kms_session_new(f->kms, &admin), ARCA_OK);
    assert_int_equal(arca_kms_session_set_peer(f->kms, admin, leaf_der, (size_t)leaf_len, NULL, NULL, 0), ARCA_OK);
    assert_int_equal(arca_kms_initialise_domain(f->kms, admin, ADMIN_PIN, ca_der, (size_t)ca_len), ARCA_OK);
    arca_kms_session_free(admin);
    OPENSSL_free(ca_der);
    OPENSSL_free(leaf_der);

    srv s;
    cli k;
    int fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    (void)cli_connect(&k, fd, &f->stranger, TLS1_3_VERSION);
    assert_true(cli_sees_close(&k));
    cli_close(&k);
    srv_join(&s);
    assert_int_equal(s.accept_st, ARCA_ERR_CERT_UNTRUSTED);

    /* The registered identity still gets in. */
    fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);
    cli_close(&k);
    srv_join(&s);
    assert_int_equal(s.accept_st, ARCA_OK);
    assert_string_equal(s.identity, "arca-client");
}

/* ---- Tests: KMIP over the connection ---------------------------------------- */

static void test_query_and_arca_call(void **state)
{
    fx *f = *state;
    srv s;
    cli k;
    msg q;
    uint32_t status;
    int fd = srv_start(&s, f, SRV_SERVE, 0);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);

    /* Query: the standard operations, and not the vendor one. */
    query_msg(&q);
    cli_write(&k, q.data, q.len);
    msg_free(&q);
    arca_ttlv_tree *t = cli_read_kmip(&k);
    assert_non_null(t);
    const arca_ttlv_node *it = only_item(t, &status), *pl = NULL;
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    assert_int_equal(arca_ttlv_child(it, ARCA_KMIP_TAG_RESPONSE_PAYLOAD, ARCA_TTLV_STRUCTURE, &pl), ARCA_OK);
    bool saw_query = false, saw_call = false;
    for (const arca_ttlv_node *n = arca_ttlv_find(pl, ARCA_KMIP_TAG_OPERATION); n; n = arca_ttlv_find_next(n)) {
        if (n->u32 == ARCA_KMIP_OP_QUERY) saw_query = true;
        if (n->u32 == ARCA_KMIP_OP_ARCA_CALL) saw_call = true;
    }
    assert_true(saw_query);
    assert_false(saw_call);
    arca_ttlv_free(t);

    /* Arca Call STATUS on the same connection: the local-protocol answer,
     * status ARCA_OK, inside a successful item. */
    arca_call_msg(&q, STATUS_LP, sizeof(STATUS_LP));
    cli_write(&k, q.data, q.len);
    msg_free(&q);
    t = cli_read_kmip(&k);
    assert_non_null(t);
    it = only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    uint32_t op = 0;
    assert_int_equal(arca_ttlv_child_enum(it, ARCA_KMIP_TAG_OPERATION, &op), ARCA_OK);
    assert_int_equal(op, ARCA_KMIP_OP_ARCA_CALL);
    const arca_ttlv_node *rs = NULL;
    assert_int_equal(arca_ttlv_child(it, ARCA_KMIP_TAG_RESPONSE_PAYLOAD, ARCA_TTLV_STRUCTURE, &pl), ARCA_OK);
    assert_int_equal(arca_ttlv_child(pl, ARCA_KMIP_TAG_ARCA_RESPONSE, ARCA_TTLV_BYTE_STRING, &rs), ARCA_OK);
    assert_true(rs->len > 4);
    assert_memory_equal(rs->data, "\0\0\0\0", 4);
    arca_ttlv_free(t);

    /* A malformed inner request is still answered inside a Success item:
     * the inner status is the answer. */
    static const uint8_t bad_lp[] = {0x00, 0x01, 0x7f, 0xff};
    arca_call_msg(&q, bad_lp, sizeof(bad_lp));
    cli_write(&k, q.data, q.len);
    msg_free(&q);
    t = cli_read_kmip(&k);
    assert_non_null(t);
    it = only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    assert_int_equal(arca_ttlv_child(it, ARCA_KMIP_TAG_RESPONSE_PAYLOAD, ARCA_TTLV_STRUCTURE, &pl), ARCA_OK);
    assert_int_equal(arca_ttlv_child(pl, ARCA_KMIP_TAG_ARCA_RESPONSE, ARCA_TTLV_BYTE_STRING, &rs), ARCA_OK);
    assert_true(rs->len >= 4);
    assert_false(rs->data[0] == 0 && rs->data[1] == 0 && rs->data[2] == 0 && rs->data[3] == 0);
    arca_ttlv_free(t);

    /* An Arca Call without its byte string: Operation Failed, Invalid
     * Message; the connection stays usable. */
    msg_begin(&q, ARCA_KMIP_OP_ARCA_CALL);
    msg_end(&q);
    cli_write(&k, q.data, q.len);
    msg_free(&q);
    t = cli_read_kmip(&k);
    assert_non_null(t);
    it = only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_OPERATION_FAILED);
    assert_int_equal(item_reason(it), ARCA_KMIP_REASON_INVALID_MESSAGE);
    arca_ttlv_free(t);

    /* The client closes: the server ends cleanly. */
    cli_close(&k);
    srv_join(&s);
    assert_true(log_contains(f, "connection 7: open, identity \"arca-client\""));
    assert_true(log_contains(f, "connection 7: closed"));
}

/* Send a raw (already TLS-protected) message prefix; expect a KMIP error
 * (Invalid Message) or nothing, then the close. */
static void framing_case(fx *f, const uint8_t *bytes, size_t len, bool expect_answer, bool half_close)
{
    srv s;
    cli k;
    int fd = srv_start(&s, f, SRV_SERVE, 0);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);
    cli_write(&k, bytes, len);
    if (half_close) {
        assert_true(SSL_shutdown(k.ssl) >= 0); /* close_notify: no more data from us */
        ERR_clear_error();
    }
    arca_ttlv_tree *t = cli_read_kmip(&k);
    if (expect_answer) {
        uint32_t status;
        assert_non_null(t);
        const arca_ttlv_node *it = only_item(t, &status);
        assert_int_equal(status, ARCA_KMIP_STATUS_OPERATION_FAILED);
        assert_int_equal(item_reason(it), ARCA_KMIP_REASON_INVALID_MESSAGE);
        arca_ttlv_free(t);
        assert_true(cli_sees_close(&k));
    } else {
        assert_null(t);
    }
    srv_join(&s); /* the server closed on its own */
    cli_close(&k);
}

static void test_header_4gib_length(void **state)
{
    fx *f = *state;
    static const uint8_t hdr[8] = {0x42, 0x00, 0x78, 0x01, 0xff, 0xff, 0xff, 0xf8};
    size_t before = arca_secmem_in_use();
    framing_case(f, hdr, sizeof(hdr), true, false);
    assert_int_equal(arca_secmem_in_use(), before);
    assert_true(log_contains(f, "message longer than the server's limit of 1114112 bytes: closing"));
}

static void test_header_just_over_cap(void **state)
{
    fx *f = *state;
    uint32_t n = ARCA_KMIP_WIRE_MAX; /* with the header: 8 bytes over the cap */
    uint8_t hdr[8] = {0x42, 0x00, 0x78, 0x01, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    framing_case(f, hdr, sizeof(hdr), true, false);
}

static void test_wrong_tag(void **state)
{
    fx *f = *state;
    static const uint8_t hdr[8] = {0x42, 0x00, 0x7b, 0x01, 0x00, 0x00, 0x00, 0x08}; /* Response Message */
    framing_case(f, hdr, sizeof(hdr), true, false);
    assert_true(log_contains(f, "not a KMIP Request Message"));
}

static void test_wrong_type(void **state)
{
    fx *f = *state;
    static const uint8_t hdr[8] = {0x42, 0x00, 0x78, 0x08, 0x00, 0x00, 0x00, 0x08}; /* Byte String */
    framing_case(f, hdr, sizeof(hdr), true, false);
}

static void test_length_not_multiple_of_8(void **state)
{
    fx *f = *state;
    static const uint8_t hdr[8] = {0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x00, 0x0c};
    framing_case(f, hdr, sizeof(hdr), true, false);
    assert_true(log_contains(f, "malformed TTLV message header: closing"));
}

static void test_truncated_message(void **state)
{
    fx *f = *state;
    msg q;
    query_msg(&q);
    framing_case(f, q.data, q.len - 8, false, true);
    msg_free(&q);
    assert_true(log_contains(f, "truncated message: ARCA_ERR_DECODE"));
}

static void test_malformed_body_answered(void **state)
{
    fx *f = *state;
    /* Framing is fine, the TTLV inside is not: an error response and the
     * connection stays open (the stream is still in step). */
    static const uint8_t m[16] = {0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x00, 0x08,
                                  0x42, 0x00, 0x77, 0x01, 0x00, 0x00, 0x00, 0x10};
    srv s;
    cli k;
    uint32_t status;
    int fd = srv_start(&s, f, SRV_SERVE, 0);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);
    cli_write(&k, m, sizeof(m));
    arca_ttlv_tree *t = cli_read_kmip(&k);
    assert_non_null(t);
    const arca_ttlv_node *it = only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_OPERATION_FAILED);
    assert_int_equal(item_reason(it), ARCA_KMIP_REASON_INVALID_MESSAGE);
    arca_ttlv_free(t);
    msg q;
    query_msg(&q);
    cli_write(&k, q.data, q.len);
    msg_free(&q);
    t = cli_read_kmip(&k);
    assert_non_null(t);
    (void)only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    arca_ttlv_free(t);
    cli_close(&k);
    srv_join(&s);
}

/* One client's bad input does not disturb another's connection. */
static void test_clients_independent(void **state)
{
    fx *f = *state;
    srv good, bad;
    cli kg, kb;
    uint32_t status;
    int fg = srv_start(&good, f, SRV_SERVE, 0);
    assert_int_equal(cli_connect(&kg, fg, &f->client, TLS1_3_VERSION), 1);
    int fb = srv_start(&bad, f, SRV_SERVE, 0);
    assert_int_equal(cli_connect(&kb, fb, &f->client, TLS1_3_VERSION), 1);
    static const uint8_t hdr[8] = {0x42, 0x00, 0x78, 0x01, 0xff, 0xff, 0xff, 0xf8};
    cli_write(&kb, hdr, sizeof(hdr));
    arca_ttlv_tree *t = cli_read_kmip(&kb);
    assert_non_null(t);
    arca_ttlv_free(t);
    srv_join(&bad);
    cli_close(&kb);
    msg q;
    query_msg(&q);
    cli_write(&kg, q.data, q.len);
    msg_free(&q);
    t = cli_read_kmip(&kg);
    assert_non_null(t);
    (void)only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    arca_ttlv_free(t);
    cli_close(&kg);
    srv_join(&good);
}

/* Without a TLS server the connection is refused outright. */
static void test_no_tls_server_refuses(void **state)
{
    fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    arca_request_ctx ctx = f->ctx;
    ctx.tls = NULL;
    arca_conn_serve(&ctx, 9, sv[0]);
    assert_true(log_contains(f, "connection 9: no TLS server: refused"));
    close(sv[0]);
    close(sv[1]);
}

/* The arca-enclave path: a connection served after the seccomp allow-list
 * is in force (a forked child; a missing system call kills it with SIGSYS). */
static void test_under_seccomp(void **state)
{
    fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[1]);
        if (arca_isolation_seccomp() != ARCA_OK) _exit(3);
        arca_conn_serve(&f->ctx, 11, sv[0]);
        _exit(0);
    }
    close(sv[0]);
    cli k;
    msg q;
    uint32_t status;
    assert_int_equal(cli_connect(&k, sv[1], &f->client, TLS1_3_VERSION), 1);
    query_msg(&q);
    cli_write(&k, q.data, q.len);
    msg_free(&q);
    arca_ttlv_tree *t = cli_read_kmip(&k);
    assert_non_null(t);
    (void)only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    arca_ttlv_free(t);
    arca_call_msg(&q, STATUS_LP, sizeof(STATUS_LP));
    cli_write(&k, q.data, q.len);
    msg_free(&q);
    t = cli_read_kmip(&k);
    assert_non_null(t);
    (void)only_item(t, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    arca_ttlv_free(t);
    static const uint8_t hdr[8] = {0x42, 0x00, 0x78, 0x01, 0xff, 0xff, 0xff, 0xf8};
    cli_write(&k, hdr, sizeof(hdr));
    t = cli_read_kmip(&k);
    assert_non_null(t);
    arca_ttlv_free(t);
    cli_close(&k);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (WIFSIGNALED(ws)) fail_msg("the child died of signal %d (seccomp?)", WTERMSIG(ws));
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
}

/* A refusal without a certificate under seccomp: the audit write goes
 * through the store from inside the filter. */
static void test_refusal_under_seccomp(void **state)
{
    fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[1]);
        if (arca_isolation_seccomp() != ARCA_OK) _exit(3);
        arca_conn_serve(&f->ctx, 12, sv[0]);
        _exit(0);
    }
    close(sv[0]);
    cli k;
    (void)cli_connect(&k, sv[1], NULL, TLS1_3_VERSION);
    assert_true(cli_sees_close(&k));
    cli_close(&k);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (WIFSIGNALED(ws)) fail_msg("the child died of signal %d (seccomp?)", WTERMSIG(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
}

/* Argument errors, and the Arca Call through the context-free entry point
 * (the in-process KMIP handler has no request context: not supported). */
static void test_api_errors(void **state)
{
    fx *f = *state;
    arca_tls_server *t = NULL;
    arca_tls_conn *c = NULL;
    arca_kms_session *sess = NULL;
    arca_builder b;
    assert_int_equal(arca_tls_server_new(NULL, &t), ARCA_ERR_ARGS);
    assert_int_equal(arca_tls_server_new(f->sealing, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_kms_session_new(f->kms, &sess), ARCA_OK);
    assert_int_equal(arca_tls_accept(f->tls, f->kms, sess, -1, "x", 1000, &c), ARCA_ERR_ARGS);
    assert_int_equal(arca_tls_accept(f->tls, f->kms, sess, 0, "x", 0, &c), ARCA_ERR_ARGS);
    assert_int_equal(arca_tls_accept(NULL, f->kms, sess, 0, "x", 1000, &c), ARCA_ERR_ARGS);
    assert_null(c);
    arca_tls_server_free(NULL);
    arca_tls_conn_free(NULL);

    assert_int_equal(arca_builder_init(&b, 256, 1u << 16), ARCA_OK);
    assert_int_equal(arca_kmip_framing_error(NULL, "x"), ARCA_ERR_ARGS);
    assert_int_equal(arca_kmip_framing_error(&b, NULL), ARCA_ERR_ARGS);
    arca_request_ctx no_kms = {0};
    assert_int_equal(arca_kmip_handle_ctx(NULL, sess, STATUS_LP, sizeof(STATUS_LP), &b), ARCA_ERR_ARGS);
    assert_int_equal(arca_kmip_handle_ctx(&no_kms, sess, STATUS_LP, sizeof(STATUS_LP), &b), ARCA_ERR_ARGS);

    msg q;
    uint8_t *out = NULL;
    size_t out_len = 0;
    arca_call_msg(&q, STATUS_LP, sizeof(STATUS_LP));
    assert_int_equal(arca_kmip_handle(f->kms, sess, q.data, q.len, &b), ARCA_OK);
    msg_free(&q);
    assert_int_equal(arca_builder_finish(&b, &out, &out_len), ARCA_OK);
    arca_cursor cur;
    arca_ttlv_tree *tree = NULL;
    uint32_t status;
    arca_cursor_init(&cur, out, out_len);
    assert_int_equal(arca_ttlv_decode(&cur, NULL, &tree), ARCA_OK);
    const arca_ttlv_node *it = only_item(tree, &status);
    assert_int_equal(status, ARCA_KMIP_STATUS_OPERATION_FAILED);
    assert_int_equal(item_reason(it), ARCA_KMIP_REASON_OPERATION_NOT_SUPPORTED);
    arca_ttlv_free(tree);
    free(out);
    arca_builder_cleanup(&b);
    arca_kms_session_free(sess);
    assert_string_equal(arca_kmip_operation_name(ARCA_KMIP_OP_ARCA_CALL), "Arca Call");
    assert_string_equal(arca_kmip_tag_name(ARCA_KMIP_TAG_ARCA_REQUEST), "Arca Request");
    assert_string_equal(arca_kmip_tag_name(ARCA_KMIP_TAG_ARCA_RESPONSE), "Arca Response");
    /* Not an attribute name: 1.x attribute lookups do not find it. */
    assert_int_equal(arca_kmip_tag_by_name((const uint8_t *)"Arca Request", 12), 0);
}

/* ---- Operator certificate: TLS_CSR / TLS_CERT_INSTALL ------------------- */

static void lp_call(fx *f, arca_kms_session *sess, const arca_lp_request *req, arca_lp_response *out,
                    arca_builder *keep)
{
    arca_builder rq;
    assert_int_equal(arca_builder_init(&rq, 64, ARCA_LP_FRAME_MAX), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(req, &rq), ARCA_OK);
    assert_int_equal(arca_builder_init_secret(keep, 64, ARCA_LP_FRAME_MAX), ARCA_OK);
    assert_int_equal(arca_request_handle(&f->ctx, sess, rq.data, rq.len, keep), ARCA_OK);
    arca_cursor c;
    arca_cursor_init(&c, keep->data, keep->len);
    assert_int_equal(arca_lp_response_decode(&c, req->op, out), ARCA_OK);
    arca_builder_cleanup(&rq);
}

static void persistent_server(fx *f)
{
    arca_tls_server_free(f->tls);
    f->tls = NULL;
    assert_int_equal(arca_tls_server_new_persistent(f->sealing, f->kms, &f->tls), ARCA_OK);
    f->ctx.tls = f->tls;
}

/* The operator CA signs a certificate for pub with the request's
 * extensions (as openssl x509 -req -copy_extensions copyall). */
static uint8_t *issue(fx *f, EVP_PKEY *pub, STACK_OF(X509_EXTENSION) *exts, size_t *len)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    assert_int_equal(X509_set_pubkey(x, pub), 1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"kms.example",
                               -1, -1, 0);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(f->ca.cert)), 1);
    for (int i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts); i++)
        assert_int_equal(X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1), 1);
    assert_true(X509_sign(x, f->ca.key, EVP_sha256()) > 0);
    uint8_t *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    X509_free(x);
    *len = (size_t)n;
    return der;
}

static void test_operator_certificate(void **state)
{
    fx *f = *state;
    arca_lp_request req;
    arca_lp_response r;
    arca_builder keep;
    arca_kms_session *admin, *anon;
    assert_int_equal(arca_kms_session_new(f->kms, &admin), ARCA_OK);
    assert_int_equal(arca_kms_initialise(f->kms, admin, ADMIN_PIN), ARCA_OK);
    assert_int_equal(arca_kms_session_new(f->kms, &anon), ARCA_OK);
    persistent_server(f);

    /* The key persists: a second persistent server presents the same key. */
    size_t d1_len = 0;
    const uint8_t *d1 = arca_tls_server_cert_der(f->tls, &d1_len);
    const uint8_t *pp = d1;
    X509 *self1 = d2i_X509(NULL, &pp, (long)d1_len);
    assert_non_null(self1);
    persistent_server(f);
    size_t d2_len = 0;
    const uint8_t *d2 = arca_tls_server_cert_der(f->tls, &d2_len);
    pp = d2;
    X509 *self2 = d2i_X509(NULL, &pp, (long)d2_len);
    assert_non_null(self2);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(self1), X509_get0_pubkey(self2)), 1);
    EVP_PKEY *tls_pub = X509_get0_pubkey(self2);

    /* CSR: admin only. */
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_TLS_CSR;
    req.name.data = (const uint8_t *)"kms.example";
    req.name.len = 11;
    lp_call(f, anon, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_PERMISSION);
    arca_builder_cleanup(&keep);
    assert_int_equal(arca_tls_server_csr(f->tls, f->kms, admin, "", &keep), ARCA_ERR_ARGS);
    lp_call(f, admin, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    pp = r.data.data;
    X509_REQ *csr = d2i_X509_REQ(NULL, &pp, (long)r.data.len);
    assert_non_null(csr);
    assert_ptr_equal(pp, r.data.data + r.data.len);
    arca_builder_cleanup(&keep);
    EVP_PKEY *csr_pub = X509_REQ_get0_pubkey(csr);
    assert_int_equal(X509_REQ_verify(csr, csr_pub), 1);
    assert_int_equal(EVP_PKEY_eq(csr_pub, tls_pub), 1);
    char cn[80];
    assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(csr), NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, "kms.example");
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    assert_non_null(exts);
    ASN1_OBJECT *oid = OBJ_txt2obj(ARCA_RATLS_OID, 1);
    assert_int_equal(X509v3_get_ext_by_OBJ(exts, oid, -1) >= 0, 1);
    ASN1_OBJECT_free(oid);

    /* Issued by the operator CA with the requested extension copied. */
    size_t leaf_len = 0, ca_len = 0, other_len = 0, bare_len = 0;
    uint8_t *leaf = issue(f, tls_pub, exts, &leaf_len);
    uint8_t *bare = issue(f, tls_pub, NULL, &bare_len);
    uint8_t *other = issue(f, f->client.key, exts, &other_len);
    uint8_t *ca_der = NULL;
    ca_len = (size_t)i2d_X509(f->ca.cert, &ca_der);
    uint8_t *chain = malloc(leaf_len + ca_len);
    memcpy(chain, leaf, leaf_len);
    memcpy(chain + leaf_len, ca_der, ca_len);
    /* the evidence verifies on the issued certificate too */
    arca_ratls_policy pol = {.allow_dev = true};
    arca_ratls_result res;
    char m[ARCA_RATLS_MSG_LEN];
    assert_int_equal(arca_ratls_cert_verify_der(leaf, leaf_len, &pol, &res, m, sizeof(m)), ARCA_OK);

    /* Refusals, exact statuses. */
    static const uint8_t garbage[] = {0x30, 0x03, 0x02, 0x01};
    uint64_t before = audit_count(f);
    memset(&req, 0, sizeof(req));
    req.op = ARCA_LP_TLS_CERT_INSTALL;
    req.data.data = chain;
    req.data.len = leaf_len + ca_len;
    lp_call(f, anon, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_PERMISSION);
    arca_builder_cleanup(&keep);
    req.data.data = garbage;
    req.data.len = sizeof(garbage);
    lp_call(f, admin, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_DECODE);
    arca_builder_cleanup(&keep);
    req.data.data = other;
    req.data.len = other_len;
    lp_call(f, admin, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_ARGS);
    assert_int_equal(r.message.len, strlen("the leaf certificate is not for the enclave's TLS key"));
    assert_memory_equal(r.message.data, "the leaf certificate is not for the enclave's TLS key", r.message.len);
    arca_builder_cleanup(&keep);
    req.data.data = bare;
    req.data.len = bare_len;
    lp_call(f, admin, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_NOT_FOUND);
    arca_builder_cleanup(&keep);
    req.data.len = 0;
    lp_call(f, admin, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_ERR_DECODE);
    arca_builder_cleanup(&keep);
    assert_int_equal(audit_count(f), before);
    /* the server still presents its self-signed certificate */
    size_t cur_len = 0;
    const uint8_t *cur = arca_tls_server_cert_der(f->tls, &cur_len);
    assert_int_equal(cur_len, d2_len);
    assert_memory_equal(cur, d2, d2_len);

    /* Install: one commit with its audit record; new connections see it. */
    req.data.data = chain;
    req.data.len = leaf_len + ca_len;
    lp_call(f, admin, &req, &r, &keep);
    assert_int_equal(r.status, ARCA_OK);
    arca_builder_cleanup(&keep);
    assert_int_equal(audit_count(f), before + 1);
    cur = arca_tls_server_cert_der(f->tls, &cur_len);
    assert_int_equal(cur_len, leaf_len);
    assert_memory_equal(cur, leaf, leaf_len);
    srv s;
    cli k;
    int fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);
    X509 *sc = SSL_get1_peer_certificate(k.ssl);
    assert_non_null(sc);
    uint8_t *sder = NULL;
    int sn = i2d_X509(sc, &sder);
    assert_int_equal((size_t)sn, leaf_len);
    assert_memory_equal(sder, leaf, leaf_len);
    assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(k.ssl)), 2);
    OPENSSL_free(sder);
    X509_free(sc);
    cli_close(&k);
    srv_join(&s);
    /* (this keystore has no client CA: the client is refused after the
     * server showed its certificate) */
    assert_int_equal(s.accept_st, ARCA_ERR_CERT_UNTRUSTED);

    /* Key and certificate survive a keystore reopen. */
    arca_kms_session_free(admin);
    arca_kms_session_free(anon);
    arca_tls_server_free(f->tls);
    f->tls = NULL;
    arca_kms_free(f->kms);
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
    f->ctx.kms = f->kms;
    persistent_server(f);
    cur = arca_tls_server_cert_der(f->tls, &cur_len);
    assert_int_equal(cur_len, leaf_len);
    assert_memory_equal(cur, leaf, leaf_len);
    fd = srv_start(&s, f, SRV_ACCEPT, 5000);
    assert_int_equal(cli_connect(&k, fd, &f->client, TLS1_3_VERSION), 1);
    sc = SSL_get1_peer_certificate(k.ssl);
    assert_non_null(sc);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(sc), tls_pub), 1);
    X509_free(sc);
    cli_close(&k);
    srv_join(&s);

    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(csr);
    X509_free(self1);
    X509_free(self2);
    OPENSSL_free(leaf);
    OPENSSL_free(bare);
    OPENSSL_free(other);
    OPENSSL_free(ca_der);
    free(chain);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_and_ratls_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls12_client_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_closes_during_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_instead_of_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_message_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_certificate_after_initialisation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_and_arca_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_4gib_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_just_over_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_length_not_multiple_of_8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_body_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clients_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_tls_server_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_under_seccomp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_under_seccomp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_certificate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
