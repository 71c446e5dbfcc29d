/* Unit tests for libarca-client (client/src/client*.c): the configuration
 * file, the trust policy, the KMIP envelope of an Arca Call against
 * hand-made messages, and the whole client against an in-process fake
 * server: real TLS 1.3 with an RA-TLS certificate from the real dev
 * sealing backend, answering Arca Calls from a script (attestation
 * refusals, Operation Failed, an over-cap response, a silent server,
 * reconnection with re-login and the retry rules, fresh attestation).
 * The real enclave end to end is the integration tests' (tests/integration). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "arca/client.h"
#include "arca/kmip.h"
#include "arca/log.h"
#include "arca/ratls.h"
#include "arca/sealing.h"
#include "arca/ttlv.h"
#include "client_wire.h"

/* ---- Shared fixture: a dev sealing backend, the server's RA-TLS
 * certificate, a client certificate and key in PEM files. ---------------- */

typedef struct fixture {
    char dir[64];
    char log_path[96];
    int log_fd;
    arca_sealing_config scfg;
    arca_enclave_identity id;
    arca_sealing *s;
    EVP_PKEY *server_key;
    X509 *server_cert;
    char client_cert[128], client_key[128], other_key[128];
} fixture;

static fixture g_f;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void write_pem_key(const char *path, EVP_PKEY *k)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
}

static void make_client_pki(fixture *f)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    assert_non_null(other);
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"arca-client", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, n), 1);
    assert_int_equal(X509_set_pubkey(x, k), 1);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    snprintf(f->client_cert, sizeof f->client_cert, "%s/client.pem", f->dir);
    snprintf(f->client_key, sizeof f->client_key, "%s/client.key", f->dir);
    snprintf(f->other_key, sizeof f->other_key, "%s/other.key", f->dir);
    FILE *fp = fopen(f->client_cert, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    fclose(fp);
    write_pem_key(f->client_key, k);
    write_pem_key(f->other_key, other);
    X509_free(x);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static int group_setup(void **state)
{
    (void)state;
    fixture *f = &g_f;
    strcpy(f->dir, "/tmp/arca-test-client-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->log_path, sizeof f->log_path, "%s/log", f->dir);
    f->log_fd = open(f->log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(f->log_fd >= 0);
    arca_log_set_fd(f->log_fd);
    f->scfg.mode = "dev";
    f->scfg.state_dir = f->dir;
    memset(f->id.measurement, 0xA5, 32);
    memset(f->id.signer_id, 0x11, 32);
    f->id.product_id = 7;
    f->id.svn = 5;
    assert_int_equal(arca_sealing_initialise(&f->scfg), ARCA_OK);
    assert_int_equal(arca_sealing_open(&f->scfg, &f->id, &f->s), ARCA_OK);
    f->server_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(f->server_key);
    arca_ratls_cert_params p = {.subject_cn = "arca-enclave", .validity_secs = 3600};
    assert_int_equal(arca_ratls_cert_create(f->s, f->server_key, &p, &f->server_cert, NULL, NULL), ARCA_OK);
    make_client_pki(f);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fixture *f = &g_f;
    X509_free(f->server_cert);
    EVP_PKEY_free(f->server_key);
    arca_sealing_free(f->s);
    arca_log_set_fd(2);
    close(f->log_fd);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- Configuration ------------------------------------------------------ */

static char g_conf[160];

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static arca_status load_text(const char *text, arca_client_config *cfg, char *msg, size_t msg_len)
{
    snprintf(g_conf, sizeof g_conf, "%s/client.conf", g_f.dir);
    write_file(g_conf, text);
    return arca_client_config_load(g_conf, cfg, msg, msg_len);
}

static const char k_signer_hex[] = "1111111111111111111111111111111111111111111111111111111111111111";

static void test_config_full(void **state)
{
    (void)state;
    arca_client_config cfg;
    char msg[ARCA_CLIENT_MSG_LEN], want[256];
    char text[1024];
    snprintf(text, sizeof text,
             "# a client\n"
             "\n"
             "  address = unix:run/arcad.sock  \n"
             "cert = client.pem\n"
             "key=/abs/client.key\n"
             "allow_dev_evidence = yes\n"
             "allow_debug = no\n"
             "expected_signer = %s\n"
             "expected_measurement = A5a5A5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5\n"
             "min_svn = 5\n"
             "timeout_ms = 2500\n",
             k_signer_hex);
    assert_int_equal(load_text(text, &cfg, msg, sizeof msg), ARCA_OK);
    assert_string_equal(msg, "");
    snprintf(want, sizeof want, "unix:%s/run/arcad.sock", g_f.dir);
    assert_string_equal(cfg.address, want);
    snprintf(want, sizeof want, "%s/client.pem", g_f.dir);
    assert_string_equal(cfg.cert, want);
    assert_string_equal(cfg.key, "/abs/client.key");
    assert_true(cfg.allow_dev_evidence);
    assert_false(cfg.allow_debug);
    assert_true(cfg.has_expected_signer);
    assert_memory_equal(cfg.expected_signer, g_f.id.signer_id, 32);
    assert_true(cfg.has_expected_measurement);
    assert_memory_equal(cfg.expected_measurement, g_f.id.measurement, 32);
    assert_int_equal(cfg.min_svn, 5);
    assert_int_equal(cfg.timeout_ms, 2500);

    /* The policy points into the configuration. */
    arca_ratls_policy p;
    arca_client_config_policy(&cfg, &p);
    assert_ptr_equal(p.expected_signer_id, cfg.expected_signer);
    assert_ptr_equal(p.expected_measurement, cfg.expected_measurement);
    assert_null(p.expected_attester_key_id);
    assert_int_equal(p.min_svn, 5);
    assert_true(p.allow_dev);
    assert_false(p.allow_debug);

    /* Defaults: TCP address, nothing pinned, 30 s. */
    assert_int_equal(load_text("address = [::1]:5696\ncert = c.pem\nkey = c.key\n", &cfg, msg, sizeof msg), ARCA_OK);
    assert_string_equal(cfg.address, "[::1]:5696");
    assert_int_equal(cfg.timeout_ms, ARCA_CLIENT_DEFAULT_TIMEOUT_MS);
    assert_false(cfg.allow_dev_evidence);
    assert_false(cfg.has_expected_signer);
    arca_client_config_policy(&cfg, &p);
    assert_null(p.expected_signer_id);
    assert_null(p.expected_measurement);
    assert_int_equal(p.min_svn, 0);
    assert_false(p.allow_dev);
    assert_false(p.allow_debug);
    assert_int_equal(load_text("address = kms.example:5696\ncert = c.pem\nkey = c.key\n", &cfg, msg, sizeof msg),
                     ARCA_OK);
    assert_string_equal(cfg.address, "kms.example:5696");
}

typedef struct bad_conf {
    const char *text;
    arca_status st;
    const char *msg; /* after "PATH:" */
} bad_conf;

static void test_config_errors(void **state)
{
    (void)state;
    static const bad_conf cases[] = {
        {"address = unix:/s\ncert = c\nkey = k\ncolour = blue\n", ARCA_ERR_CONFIG, "4: unknown key 'colour'"},
        {"address = unix:/s\naddress = unix:/t\n", ARCA_ERR_CONFIG, "2: duplicate key 'address' (first on line 1)"},
        {"address = unix:/s\njust words\n", ARCA_ERR_CONFIG, "2: expected 'key = value'"},
        {" = x\n", ARCA_ERR_CONFIG, "1: expected 'key = value'"},
        {"cert =\n", ARCA_ERR_CONFIG, "1: empty value for cert"},
        {"expected_signer = 1234\n", ARCA_ERR_CONFIG, "1: bad hex for expected_signer: expected 64 hex digits"},
        {"expected_measurement = "
         "zz11111111111111111111111111111111111111111111111111111111111111\n",
         ARCA_ERR_CONFIG, "1: bad hex for expected_measurement: expected 64 hex digits"},
        {"min_svn = 5x\n", ARCA_ERR_CONFIG, "1: bad number for min_svn: '5x'"},
        {"min_svn = -1\n", ARCA_ERR_CONFIG, "1: bad number for min_svn: '-1'"},
        {"min_svn = 65536\n", ARCA_ERR_CONFIG, "1: value out of range for min_svn: 65536 (allowed 0..65535)"},
        {"timeout_ms = 0\n", ARCA_ERR_CONFIG, "1: value out of range for timeout_ms: 0 (allowed 1..3600000)"},
        {"timeout_ms = 99999999999999999999999\n", ARCA_ERR_CONFIG,
         "1: bad number for timeout_ms: '99999999999999999999999'"},
        {"allow_debug = true\n", ARCA_ERR_CONFIG, "1: bad value for allow_debug: 'true' (expected yes or no)"},
        {"address = localhost\n", ARCA_ERR_CONFIG, "1: bad address: 'localhost' (expected unix:PATH or HOST:PORT)"},
        {"address = unix:\n", ARCA_ERR_CONFIG, "1: bad address: 'unix:' (expected unix:PATH or HOST:PORT)"},
        {"address = ::1:5696\n", ARCA_ERR_CONFIG, "1: bad address: '::1:5696' (expected unix:PATH or HOST:PORT)"},
        {"address = host:0\n", ARCA_ERR_CONFIG, "1: bad address: 'host:0' (expected unix:PATH or HOST:PORT)"},
        {"address = host:65536\n", ARCA_ERR_CONFIG, "1: bad address: 'host:65536' (expected unix:PATH or HOST:PORT)"},
        {"address = host:\n", ARCA_ERR_CONFIG, "1: bad address: 'host:' (expected unix:PATH or HOST:PORT)"},
        {"cert = c\nkey = k\n", ARCA_ERR_CONFIG, " address is required"},
        {"address = h:1\nkey = k\n", ARCA_ERR_CONFIG, " cert is required"},
        {"address = h:1\ncert = c\n", ARCA_ERR_CONFIG, " key is required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arca_client_config cfg;
        char msg[ARCA_CLIENT_MSG_LEN], want[512];
        arca_status st = load_text(cases[i].text, &cfg, msg, sizeof msg);
        snprintf(want, sizeof want, "%s:%s", g_conf, cases[i].msg);
        if (st != cases[i].st || strcmp(msg, want) != 0)
            print_error("case %zu: %s / '%s'\n", i, arca_status_name(st), msg);
        assert_int_equal(st, cases[i].st);
        assert_string_equal(msg, want);
    }

    /* A line over 4096 bytes. */
    char *big = malloc(5000);
    assert_non_null(big);
    memset(big, 'a', 4999);
    big[4999] = 0;
    memcpy(big, "cert = ", 7);
    char msg[ARCA_CLIENT_MSG_LEN], want[256];
    assert_int_equal(load_text(big, &(arca_client_config){0}, msg, sizeof msg), ARCA_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:1: line too long", g_conf);
    assert_string_equal(msg, want);
    /* A path longer than the configuration holds. */
    big[2000] = 0;
    assert_int_equal(load_text(big, &(arca_client_config){0}, msg, sizeof msg), ARCA_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:1: value too long for cert", g_conf);
    assert_string_equal(msg, want);
    free(big);

    /* Missing file. */
    snprintf(want, sizeof want, "%s/nope.conf", g_f.dir);
    arca_client_config cfg;
    assert_int_equal(arca_client_config_load(want, &cfg, msg, sizeof msg), ARCA_ERR_IO);
    char want2[300];
    snprintf(want2, sizeof want2, "%s: cannot open: No such file or directory", want);
    assert_string_equal(msg, want2);
    assert_int_equal(arca_client_config_load(NULL, &cfg, msg, sizeof msg), ARCA_ERR_ARGS);
}

static void test_config_from_env(void **state)
{
    (void)state;
    arca_client_config cfg;
    char msg[ARCA_CLIENT_MSG_LEN];
    unsetenv("ARCA_CLIENT_CONF");
    assert_int_equal(arca_client_config_from_env(&cfg, msg, sizeof msg), ARCA_ERR_CONFIG);
    assert_string_equal(msg, "ARCA_CLIENT_CONF is not set");
    setenv("ARCA_CLIENT_CONF", "", 1);
    assert_int_equal(arca_client_config_from_env(&cfg, msg, sizeof msg), ARCA_ERR_CONFIG);
    assert_string_equal(msg, "ARCA_CLIENT_CONF is not set");
    assert_int_equal(load_text("address = h:1\ncert = c\nkey = k\nmin_svn = 3\n", &cfg, msg, sizeof msg), ARCA_OK);
    setenv("ARCA_CLIENT_CONF", g_conf, 1);
    arca_client_config_init(&cfg);
    assert_int_equal(arca_client_config_from_env(&cfg, msg, sizeof msg), ARCA_OK);
    assert_int_equal(cfg.min_svn, 3);
    assert_string_equal(cfg.address, "h:1");
    unsetenv("ARCA_CLIENT_CONF");
}

/* ---- KMIP envelope ------------------------------------------------------ */

static void test_wire_wrap(void **state)
{
    (void)state;
    static const uint8_t lp[] = {0, 1, 0, 24};
    arca_builder b;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(arca_builder_init(&b, 64, 4096), ARCA_OK);
    assert_int_equal(arca_client_wire_wrap(&b, lp, sizeof lp), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &buf, &len), ARCA_OK);
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    arca_ttlv_tree *t = NULL;
    assert_int_equal(arca_ttlv_decode(&c, NULL, &t), ARCA_OK);
    const arca_ttlv_node *root = arca_ttlv_root(t), *hdr, *ver, *item, *payload;
    assert_int_equal(root->tag, ARCA_KMIP_TAG_REQUEST_MESSAGE);
    assert_int_equal(arca_ttlv_child(root, ARCA_KMIP_TAG_REQUEST_HEADER, ARCA_TTLV_STRUCTURE, &hdr), ARCA_OK);
    assert_int_equal(arca_ttlv_child(hdr, ARCA_KMIP_TAG_PROTOCOL_VERSION, ARCA_TTLV_STRUCTURE, &ver), ARCA_OK);
    int32_t v = -1;
    assert_int_equal(arca_ttlv_child_int(ver, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, &v), ARCA_OK);
    assert_int_equal(v, 2);
    assert_int_equal(arca_ttlv_child_int(ver, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, &v), ARCA_OK);
    assert_int_equal(v, 0);
    assert_int_equal(arca_ttlv_child_int(hdr, ARCA_KMIP_TAG_BATCH_COUNT, &v), ARCA_OK);
    assert_int_equal(v, 1);
    assert_int_equal(arca_ttlv_count(root, ARCA_KMIP_TAG_BATCH_ITEM), 1);
    assert_int_equal(arca_ttlv_child(root, ARCA_KMIP_TAG_BATCH_ITEM, ARCA_TTLV_STRUCTURE, &item), ARCA_OK);
    uint32_t op = 0;
    assert_int_equal(arca_ttlv_child_enum(item, ARCA_KMIP_TAG_OPERATION, &op), ARCA_OK);
    assert_int_equal(op, 0x8000A001u);
    assert_int_equal(arca_ttlv_child(item, ARCA_KMIP_TAG_REQUEST_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload), ARCA_OK);
    assert_int_equal(payload->num_children, 1);
    const uint8_t *got = NULL;
    size_t got_len = 0;
    assert_int_equal(arca_ttlv_child_bytes(payload, 0x54A001u, &got, &got_len), ARCA_OK);
    assert_int_equal(got_len, sizeof lp);
    assert_memory_equal(got, lp, sizeof lp);
    arca_ttlv_free(t);
    free(buf);
}

/* A Response Message built by hand; knobs to break it. */
typedef struct resp_spec {
    uint32_t root_tag;
    int batch_count;
    int num_items;
    bool with_op;
    uint32_t op;
    uint32_t result;
    bool with_reason;
    uint32_t reason;
    const char *text;
    bool with_payload;
    uint32_t payload_tag;
    int extra_payload_items;
    const uint8_t *lp;
    size_t lp_len;
} resp_spec;

static resp_spec ok_spec(const uint8_t *lp, size_t lp_len)
{
    resp_spec s = {.root_tag = ARCA_KMIP_TAG_RESPONSE_MESSAGE, .batch_count = 1, .num_items = 1, .with_op = true,
                   .op = 0x8000A001u, .result = ARCA_KMIP_STATUS_SUCCESS, .with_payload = true,
                   .payload_tag = 0x54A002u, .lp = lp, .lp_len = lp_len};
    return s;
}

static void build_response(arca_builder *b, const resp_spec *s)
{
    size_t m, h, v, it, p;
    assert_int_equal(arca_ttlv_begin_struct(b, s->root_tag, &m), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_RESPONSE_HEADER, &h), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_PROTOCOL_VERSION, &v), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MAJOR, 2), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_PROTOCOL_VERSION_MINOR, 0), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, v), ARCA_OK);
    assert_int_equal(arca_ttlv_add_datetime(b, ARCA_KMIP_TAG_TIME_STAMP, 1700000000), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_BATCH_COUNT, s->batch_count), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(b, h), ARCA_OK);
    for (int i = 0; i < s->num_items; i++) {
        assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_BATCH_ITEM, &it), ARCA_OK);
        if (s->with_op) assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_OPERATION, s->op), ARCA_OK);
        assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_RESULT_STATUS, s->result), ARCA_OK);
        if (s->with_reason) assert_int_equal(arca_ttlv_add_enum(b, ARCA_KMIP_TAG_RESULT_REASON, s->reason), ARCA_OK);
        if (s->text)
            assert_int_equal(arca_ttlv_add_text(b, ARCA_KMIP_TAG_RESULT_MESSAGE, s->text, strlen(s->text)), ARCA_OK);
        if (s->with_payload) {
            assert_int_equal(arca_ttlv_begin_struct(b, ARCA_KMIP_TAG_RESPONSE_PAYLOAD, &p), ARCA_OK);
            assert_int_equal(arca_ttlv_add_bytes(b, s->payload_tag, s->lp, s->lp_len), ARCA_OK);
            for (int k = 0; k < s->extra_payload_items; k++)
                assert_int_equal(arca_ttlv_add_int(b, ARCA_KMIP_TAG_BATCH_COUNT, 1), ARCA_OK);
            assert_int_equal(arca_ttlv_end_struct(b, p), ARCA_OK);
        }
        assert_int_equal(arca_ttlv_end_struct(b, it), ARCA_OK);
    }
    assert_int_equal(arca_ttlv_end_struct(b, m), ARCA_OK);
}

static arca_status unwrap_spec(const resp_spec *s, const uint8_t **lp, size_t *lp_len, char *msg, size_t msg_len,
                               uint8_t **keep, size_t *keep_len)
{
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 64, 1 << 20), ARCA_OK);
    build_response(&b, s);
    assert_int_equal(arca_builder_finish(&b, keep, keep_len), ARCA_OK);
    return arca_client_wire_unwrap(*keep, *keep_len, lp, lp_len, msg, msg_len);
}

static void test_wire_unwrap(void **state)
{
    (void)state;
    static const uint8_t lp[] = {0, 0, 0, 0, 1, 2, 3};
    const uint8_t *got = NULL;
    size_t got_len = 0, keep_len = 0;
    uint8_t *keep = NULL;
    char msg[ARCA_CLIENT_MSG_LEN];

    resp_spec s = ok_spec(lp, sizeof lp);
    assert_int_equal(unwrap_spec(&s, &got, &got_len, msg, sizeof msg, &keep, &keep_len), ARCA_OK);
    assert_int_equal(got_len, sizeof lp);
    assert_memory_equal(got, lp, sizeof lp);
    assert_true(got >= keep && got < keep + keep_len); /* borrowed from the message */
    assert_string_equal(msg, "");
    free(keep);

    /* Malformed envelopes: ARCA_ERR_DECODE, no message. */
    resp_spec bad[10];
    for (size_t i = 0; i < 10; i++) bad[i] = ok_spec(lp, sizeof lp);
    bad[0].root_tag = ARCA_KMIP_TAG_REQUEST_MESSAGE;
    bad[1].batch_count = 2;
    bad[2].num_items = 2;
    bad[3].num_items = 0;
    bad[4].op = ARCA_KMIP_OP_GET;
    bad[5].with_op = false;
    bad[6].result = ARCA_KMIP_STATUS_OPERATION_PENDING;
    bad[7].with_payload = false;
    bad[8].payload_tag = 0x54A001u; /* the request's tag */
    bad[9].extra_payload_items = 1;
    for (size_t i = 0; i < 10; i++) {
        got = NULL;
        arca_status st = unwrap_spec(&bad[i], &got, &got_len, msg, sizeof msg, &keep, &keep_len);
        if (st != ARCA_ERR_DECODE) print_error("bad case %zu: %s\n", i, arca_status_name(st));
        assert_int_equal(st, ARCA_ERR_DECODE);
        assert_null(got);
        assert_string_equal(msg, "");
        free(keep);
    }
    /* Not TTLV at all, and trailing bytes. */
    static const uint8_t junk[] = {0x42, 0x00, 0x7B, 0x01, 0, 0, 0, 9, 1, 2, 3};
    assert_int_equal(arca_client_wire_unwrap(junk, sizeof junk, &got, &got_len, msg, sizeof msg), ARCA_ERR_DECODE);

    /* Operation Failed: the reason maps to a status, the message is kept. */
    static const struct {
        uint32_t reason;
        arca_status st;
        const char *msg;
    } failed[] = {
        {ARCA_KMIP_REASON_INVALID_MESSAGE, ARCA_ERR_DECODE, "Invalid Message: payload is malformed"},
        {ARCA_KMIP_REASON_PERMISSION_DENIED, ARCA_ERR_PERMISSION, "Permission Denied: payload is malformed"},
        {ARCA_KMIP_REASON_OPERATION_NOT_SUPPORTED, ARCA_ERR_UNSUPPORTED,
         "Operation Not Supported: payload is malformed"},
        {ARCA_KMIP_REASON_RESPONSE_TOO_LARGE, ARCA_ERR_TOO_LARGE, "Response Too Large: payload is malformed"},
        {ARCA_KMIP_REASON_SERVER_LIMIT_EXCEEDED, ARCA_ERR_BUSY, "Server Limit Exceeded: payload is malformed"},
        {ARCA_KMIP_REASON_ITEM_NOT_FOUND, ARCA_ERR_NOT_FOUND, "Item Not Found: payload is malformed"},
        {ARCA_KMIP_REASON_GENERAL_FAILURE, ARCA_ERR_INTERNAL, "General Failure: payload is malformed"},
    };
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++) {
        s = ok_spec(lp, sizeof lp);
        s.result = ARCA_KMIP_STATUS_OPERATION_FAILED;
        s.with_payload = false;
        s.with_reason = true;
        s.reason = failed[i].reason;
        s.text = "payload is malformed";
        got = NULL;
        assert_int_equal(unwrap_spec(&s, &got, &got_len, msg, sizeof msg, &keep, &keep_len), failed[i].st);
        assert_null(got);
        assert_string_equal(msg, failed[i].msg);
        free(keep);
    }
    /* Without an Operation (a failed answer to a malformed item), without a
     * reason, with control bytes in the text. */
    s = ok_spec(lp, sizeof lp);
    s.result = ARCA_KMIP_STATUS_OPERATION_FAILED;
    s.with_payload = false;
    s.with_op = false;
    s.text = "line\nbreak";
    assert_int_equal(unwrap_spec(&s, &got, &got_len, msg, sizeof msg, &keep, &keep_len), ARCA_ERR_INTERNAL);
    assert_string_equal(msg, "General Failure: line?break");
    free(keep);
}

static void test_wire_response_len(void **state)
{
    (void)state;
    size_t n = 0;
    uint8_t hdr[8] = {0x42, 0x00, 0x7B, 0x01, 0x00, 0x00, 0x01, 0x00};
    assert_int_equal(arca_client_wire_response_len(hdr, &n), ARCA_OK);
    assert_int_equal(n, 8 + 256);
    /* Exactly the cap is fine, one block more is not, 4 GiB is refused. */
    uint32_t at_cap = ARCA_CLIENT_RESPONSE_MAX - 8;
    hdr[4] = (uint8_t)(at_cap >> 24), hdr[5] = (uint8_t)(at_cap >> 16), hdr[6] = (uint8_t)(at_cap >> 8),
    hdr[7] = (uint8_t)at_cap;
    assert_int_equal(arca_client_wire_response_len(hdr, &n), ARCA_OK);
    assert_int_equal(n, ARCA_CLIENT_RESPONSE_MAX);
    at_cap += 8;
    hdr[4] = (uint8_t)(at_cap >> 24), hdr[5] = (uint8_t)(at_cap >> 16), hdr[6] = (uint8_t)(at_cap >> 8),
    hdr[7] = (uint8_t)at_cap;
    n = 0;
    assert_int_equal(arca_client_wire_response_len(hdr, &n), ARCA_ERR_TOO_LARGE);
    assert_int_equal(n, 0);
    memset(hdr + 4, 0xFF, 4);
    hdr[7] = 0xF8;
    assert_int_equal(arca_client_wire_response_len(hdr, &n), ARCA_ERR_TOO_LARGE);
    /* Not a Response Message header. */
    uint8_t req[8] = {0x42, 0x00, 0x78, 0x01, 0, 0, 0, 8};
    assert_int_equal(arca_client_wire_response_len(req, &n), ARCA_ERR_DECODE);
    uint8_t notstruct[8] = {0x42, 0x00, 0x7B, 0x02, 0, 0, 0, 4};
    assert_int_equal(arca_client_wire_response_len(notstruct, &n), ARCA_ERR_DECODE);
}

/* ---- Fake server -------------------------------------------------------- */

typedef enum srv_mode {
    SRV_NORMAL,
    SRV_OP_FAILED,   /* KMIP Operation Failed, Invalid Message */
    SRV_OVERSIZE,    /* a header announcing 2 GiB */
    SRV_SILENT,      /* never answers */
    SRV_GARBAGE,     /* a Response Message with batch count 2 */
    SRV_BAD_BINDING, /* ATTEST evidence over another nonce */
} srv_mode;

#define MAX_OPS 64
#define MAX_CONNS 64

typedef struct server {
    char path[128];
    int lfd;
    pthread_t th;
    atomic_int stop;
    atomic_int mode;
    atomic_int drop_next; /* close instead of answering the next request */
    atomic_int connections;
    SSL_CTX *ctx;
    pthread_mutex_t mu; /* the log below: connections are served by threads */
    uint16_t ops[MAX_OPS]; /* read only after server_stop */
    size_t num_ops;
    size_t num_logins;          /* successful LOGINs, all connections */
    char pin[ARCA_LP_PIN_MAX + 1]; /* after SET_PIN: the PIN LOGIN takes instead of "good-pin" */
    uint32_t last_value;        /* REVOKE: reason */
    char last_text[300];        /* REVOKE message, TLS_CSR CN */
    pthread_t conn_th[MAX_CONNS];
    size_t num_conn_th;
} server;

/* One connection's session state in the fake server. */
typedef struct conn_state {
    uint8_t role;
    char partition[ARCA_LP_NAME_MAX + 1];
} conn_state;

static void must(arca_status st)
{
    assert_int_equal(st, ARCA_OK);
}

static bool read_full(SSL *ssl, uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t got = 0;
        if (SSL_read_ex(ssl, p, n, &got) != 1) return false;
        p += got;
        n -= got;
    }
    return true;
}

static void send_kmip(SSL *ssl, arca_builder *b)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    must(arca_builder_finish(b, &buf, &len));
    size_t w = 0;
    (void)SSL_write_ex(ssl, buf, len, &w);
    free(buf);
}

/* The local-protocol answer to req in the normal script. */
static void answer_lp(server *sv, SSL *ssl, conn_state *cs, const arca_lp_request *req, arca_builder *lp)
{
    switch (req->op) {
    case ARCA_LP_SET_PIN: {
        pthread_mutex_lock(&sv->mu);
        const char *cur = sv->pin[0] ? sv->pin : "good-pin";
        bool ok = req->pin.len == strlen(cur) && memcmp(req->pin.data, cur, req->pin.len) == 0;
        if (cs->role == 0) {
            must(arca_lp_response_error(lp, ARCA_ERR_NOT_LOGGED_IN, "not logged in"));
        } else if (!ok) {
            must(arca_lp_response_error(lp, ARCA_ERR_PIN_INCORRECT, "PIN incorrect"));
        } else {
            assert_true(req->pin2.len <= ARCA_LP_PIN_MAX);
            memset(sv->pin, 0, sizeof sv->pin);
            memcpy(sv->pin, req->pin2.data, req->pin2.len);
            must(arca_lp_response_begin(lp));
        }
        pthread_mutex_unlock(&sv->mu);
        break;
    }
    case ARCA_LP_LOGIN:
        pthread_mutex_lock(&sv->mu);
        const char *want_pin = sv->pin[0] ? sv->pin : "good-pin";
        bool pin_ok = req->pin.len == strlen(want_pin) && memcmp(req->pin.data, want_pin, req->pin.len) == 0;
        pthread_mutex_unlock(&sv->mu);
        if (pin_ok) {
            must(arca_lp_response_begin(lp));
            cs->role = req->role;
            memset(cs->partition, 0, sizeof cs->partition);
            assert_true(req->partition.len <= ARCA_LP_NAME_MAX);
            if (req->partition.len) memcpy(cs->partition, req->partition.data, req->partition.len);
            pthread_mutex_lock(&sv->mu);
            sv->num_logins++;
            pthread_mutex_unlock(&sv->mu);
        } else {
            must(arca_lp_response_error(lp, ARCA_ERR_PIN_INCORRECT, "PIN incorrect"));
        }
        break;
    case ARCA_LP_LOGOUT:
        cs->role = 0;
        memset(cs->partition, 0, sizeof cs->partition);
        must(arca_lp_response_begin(lp));
        break;
    case ARCA_LP_WHOAMI: {
        arca_lp_identity it = {{(const uint8_t *)"arca-client", 11}, 0x8, {(const uint8_t *)"p1,p2", 5}};
        arca_lp_bytes part = {(const uint8_t *)cs->partition, strlen(cs->partition)};
        must(arca_lp_response_begin(lp));
        must(arca_lp_whoami_add(lp, &it, cs->role, &part));
        break;
    }
    case ARCA_LP_TLS_CSR:
        pthread_mutex_lock(&sv->mu);
        snprintf(sv->last_text, sizeof sv->last_text, "%.*s", (int)req->name.len, (const char *)req->name.data);
        pthread_mutex_unlock(&sv->mu);
        must(arca_lp_response_begin(lp));
        must(arca_builder_add_u32_prefixed(lp, (const uint8_t *)"\x30\x03" "CSR", 5));
        break;
    case ARCA_LP_TLS_CERT_INSTALL:
        if (req->data.len > 0 && req->data.data[0] == 0x30)
            must(arca_lp_response_begin(lp));
        else
            must(arca_lp_response_error(lp, ARCA_ERR_DECODE, "not a DER certificate chain"));
        break;
    case ARCA_LP_ACTIVATE:
        if (req->id[0] == 0x42)
            must(arca_lp_response_begin(lp));
        else
            must(arca_lp_response_error(lp, ARCA_ERR_OBJECT_STATE, "not pre-active"));
        break;
    case ARCA_LP_REVOKE:
        pthread_mutex_lock(&sv->mu);
        sv->last_value = req->value;
        snprintf(sv->last_text, sizeof sv->last_text, "%.*s", (int)req->data.len, (const char *)req->data.data);
        pthread_mutex_unlock(&sv->mu);
        must(arca_lp_response_begin(lp));
        break;
    case ARCA_LP_STATUS: {
        char n[16];
        snprintf(n, sizeof n, "%d", atomic_load(&sv->connections));
        must(arca_lp_response_begin(lp));
        must(arca_builder_add_u32(lp, 1));
        must(arca_builder_add_u16_prefixed(lp, "connections", 11));
        must(arca_builder_add_u16_prefixed(lp, n, strlen(n)));
        break;
    }
    case ARCA_LP_GENERATE_KEY: {
        uint8_t id[16];
        memset(id, 0x42, 16);
        must(arca_lp_response_begin(lp));
        must(arca_builder_add_bytes(lp, id, 16));
        break;
    }
    case ARCA_LP_IDENTITY_LIST: {
        arca_lp_identity it = {{(const uint8_t *)"arca-admin", 10}, 0xF, {(const uint8_t *)"*", 1}};
        must(arca_lp_response_begin(lp));
        must(arca_builder_add_u32(lp, 1));
        must(arca_lp_identity_add(lp, &it));
        break;
    }
    case ARCA_LP_AUDIT_READ: {
        arca_lp_record r = {.seq = req->value64, .time_ms = 1234, .actor = {(const uint8_t *)"arca-admin", 10},
                            .event = {(const uint8_t *)"LOGIN", 5}, .status = ARCA_ERR_PIN_INCORRECT,
                            .object = {(const uint8_t *)"", 0}, .detail = {(const uint8_t *)"admin", 5}};
        must(arca_lp_response_begin(lp));
        must(arca_builder_add_u32(lp, 1));
        must(arca_lp_record_add(lp, &r));
        break;
    }
    case ARCA_LP_ATTEST: {
        uint8_t exporter[32], rd[ARCA_REPORT_DATA_LEN];
        assert_int_equal(SSL_export_keying_material(ssl, exporter, 32, "EXPORTER-arca-attestation", 25, NULL, 0, 0),
                         1);
        if (atomic_load(&sv->mode) == SRV_BAD_BINDING)
            must(arca_ratls_fresh_report_data((const uint8_t *)"other", 5, exporter, 32, rd));
        else
            must(arca_ratls_fresh_report_data(req->data.data, req->data.len, exporter, 32, rd));
        uint8_t *ev = NULL;
        size_t ev_len = 0;
        must(arca_sealing_evidence_create(g_f.s, rd, &ev, &ev_len));
        must(arca_lp_response_begin(lp));
        must(arca_builder_add_u32_prefixed(lp, ev, ev_len));
        free(ev);
        break;
    }
    default:
        must(arca_lp_response_error(lp, ARCA_ERR_UNSUPPORTED, "not in the fake server's script"));
        break;
    }
}

/* Serve one connection until the client goes or the script closes it. */
static void serve(server *sv, SSL *ssl)
{
    conn_state cs = {0};
    for (;;) {
        uint8_t hdr[8];
        size_t total = 0;
        if (!read_full(ssl, hdr, 8)) return;
        must(arca_ttlv_message_len(hdr, 8, 0, &total));
        uint8_t *msg = malloc(total);
        assert_non_null(msg);
        memcpy(msg, hdr, 8);
        if (!read_full(ssl, msg + 8, total - 8)) {
            free(msg);
            return;
        }
        arca_cursor c;
        arca_cursor_init(&c, msg, total);
        arca_ttlv_tree *t = NULL;
        must(arca_ttlv_decode(&c, NULL, &t));
        const arca_ttlv_node *item = NULL, *payload = NULL;
        must(arca_ttlv_child(arca_ttlv_root(t), ARCA_KMIP_TAG_BATCH_ITEM, ARCA_TTLV_STRUCTURE, &item));
        must(arca_ttlv_child(item, ARCA_KMIP_TAG_REQUEST_PAYLOAD, ARCA_TTLV_STRUCTURE, &payload));
        const uint8_t *lpreq = NULL;
        size_t lpreq_len = 0;
        must(arca_ttlv_child_bytes(payload, ARCA_KMIP_TAG_ARCA_REQUEST, &lpreq, &lpreq_len));
        arca_lp_request *req = calloc(1, sizeof *req);
        assert_non_null(req);
        arca_cursor_init(&c, lpreq, lpreq_len);
        must(arca_lp_request_decode(&c, req));
        pthread_mutex_lock(&sv->mu);
        if (sv->num_ops < MAX_OPS) sv->ops[sv->num_ops++] = req->op;
        pthread_mutex_unlock(&sv->mu);

        bool close_now = atomic_exchange(&sv->drop_next, 0) != 0;
        int mode = atomic_load(&sv->mode);
        arca_builder kb, lp;
        must(arca_builder_init(&kb, 256, 1 << 21));
        must(arca_builder_init(&lp, 256, 1 << 20));
        if (close_now || mode == SRV_SILENT) {
            /* nothing */
        } else if (mode == SRV_OVERSIZE) {
            static const uint8_t big[8] = {0x42, 0x00, 0x7B, 0x01, 0x7F, 0xFF, 0xFF, 0xF8};
            must(arca_builder_add_bytes(&kb, big, 8));
            send_kmip(ssl, &kb);
        } else {
            uint8_t *lpbuf = NULL;
            size_t lplen = 0;
            if (mode == SRV_NORMAL || mode == SRV_BAD_BINDING) answer_lp(sv, ssl, &cs, req, &lp);
            else must(arca_lp_response_begin(&lp));
            must(arca_builder_finish(&lp, &lpbuf, &lplen));
            resp_spec s = ok_spec(lpbuf, lplen);
            if (mode == SRV_OP_FAILED) {
                s.result = ARCA_KMIP_STATUS_OPERATION_FAILED;
                s.with_payload = false;
                s.with_reason = true;
                s.reason = ARCA_KMIP_REASON_INVALID_MESSAGE;
                s.text = "payload is malformed";
            }
            if (mode == SRV_GARBAGE) s.batch_count = 2;
            build_response(&kb, &s);
            send_kmip(ssl, &kb);
            free(lpbuf);
        }
        arca_builder_cleanup(&kb);
        arca_builder_cleanup(&lp);
        free(req);
        arca_ttlv_free(t);
        free(msg);
        if (close_now) return;
        if (mode == SRV_SILENT) {
            uint8_t x;
            (void)read_full(ssl, &x, 1); /* until the client gives up */
            return;
        }
    }
}

static int accept_any(int ok, X509_STORE_CTX *store)
{
    (void)ok;
    (void)store;
    return 1;
}

static int reject_all(int ok, X509_STORE_CTX *store)
{
    (void)ok;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
}

typedef struct conn_arg {
    server *sv;
    int fd;
} conn_arg;

/* One connection, in its own thread (a pool holds several at once). */
static void *conn_main(void *arg)
{
    conn_arg *ca = arg;
    SSL *ssl = SSL_new(ca->sv->ctx);
    SSL_set_fd(ssl, ca->fd);
    if (SSL_accept(ssl) == 1) serve(ca->sv, ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(ca->fd);
    free(ca);
    return NULL;
}

static void *server_main(void *arg)
{
    server *sv = arg;
    /* The server's writes to a client that has gone raise SIGPIPE in its
     * threads: keep it blocked here, which they inherit (the client's own
     * threads keep the default action, so the library's handling of it is
     * tested too). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (!atomic_load(&sv->stop)) {
        struct pollfd p = {.fd = sv->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        atomic_fetch_add(&sv->connections, 1);
        conn_arg *ca = malloc(sizeof *ca);
        assert_non_null(ca);
        ca->sv = sv;
        ca->fd = fd;
        assert_true(sv->num_conn_th < MAX_CONNS);
        assert_int_equal(pthread_create(&sv->conn_th[sv->num_conn_th++], NULL, conn_main, ca), 0);
    }
    return NULL;
}

static server *server_start_ex(srv_mode mode, bool reject_client)
{
    server *sv = calloc(1, sizeof *sv);
    assert_non_null(sv);
    snprintf(sv->path, sizeof sv->path, "%s/srv.sock", g_f.dir);
    unlink(sv->path);
    atomic_store(&sv->mode, mode);
    assert_int_equal(pthread_mutex_init(&sv->mu, NULL), 0);
    sv->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(sv->ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(sv->ctx, TLS1_3_VERSION), 1);
    assert_int_equal(SSL_CTX_use_certificate(sv->ctx, g_f.server_cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(sv->ctx, g_f.server_key), 1);
    SSL_CTX_set_verify(sv->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       reject_client ? reject_all : accept_any);
    sv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv->lfd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sv->path);
    assert_int_equal(bind(sv->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(sv->lfd, 8), 0);
    assert_int_equal(pthread_create(&sv->th, NULL, server_main, sv), 0);
    return sv;
}

static server *server_start(srv_mode mode)
{
    return server_start_ex(mode, false);
}

static void server_stop(server *sv)
{
    atomic_store(&sv->stop, 1);
    pthread_join(sv->th, NULL);
    /* Every client has closed by now: each connection thread ends. */
    for (size_t i = 0; i < sv->num_conn_th; i++) pthread_join(sv->conn_th[i], NULL);
    pthread_mutex_destroy(&sv->mu);
    close(sv->lfd);
    unlink(sv->path);
    SSL_CTX_free(sv->ctx);
}

static void client_cfg(const server *sv, arca_client_config *cfg)
{
    arca_client_config_init(cfg);
    snprintf(cfg->address, sizeof cfg->address, "unix:%s", sv->path);
    snprintf(cfg->cert, sizeof cfg->cert, "%s", g_f.client_cert);
    snprintf(cfg->key, sizeof cfg->key, "%s", g_f.client_key);
    cfg->allow_dev_evidence = true;
    cfg->has_expected_signer = true;
    memcpy(cfg->expected_signer, g_f.id.signer_id, 32);
    cfg->has_expected_measurement = true;
    memcpy(cfg->expected_measurement, g_f.id.measurement, 32);
    cfg->min_svn = 5;
    cfg->timeout_ms = 5000;
}

static arca_client *open_ok(const server *sv)
{
    arca_client_config cfg;
    arca_client *c = NULL;
    char msg[ARCA_CLIENT_MSG_LEN];
    client_cfg(sv, &cfg);
    arca_status st = arca_client_open(&cfg, &c, msg, sizeof msg);
    if (st != ARCA_OK) print_error("open: %s: %s\n", arca_status_name(st), msg);
    assert_int_equal(st, ARCA_OK);
    assert_string_equal(msg, "");
    return c;
}

/* ---- End to end against the fake server --------------------------------- */

static void test_open_policy_refusals(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client_config cfg;
    arca_client *c = NULL;
    char msg[ARCA_CLIENT_MSG_LEN];

    client_cfg(sv, &cfg);
    cfg.allow_dev_evidence = false;
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_ATTEST_INSECURE);
    assert_string_equal(msg, "dev evidence refused by policy");
    assert_null(c);

    client_cfg(sv, &cfg);
    cfg.expected_signer[0] = 0x22;
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_IMAGE_SIGNER);
    assert_string_equal(msg, "evidence signer 1111111111111111111111111111111111111111111111111111111111111111 is not "
                             "the expected signer 2211111111111111111111111111111111111111111111111111111111111111");

    client_cfg(sv, &cfg);
    cfg.expected_measurement[31] = 0;
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_ATTEST_MEASUREMENT);
    assert_non_null(strstr(msg, "is not the expected measurement a5a5"));

    client_cfg(sv, &cfg);
    cfg.min_svn = 6;
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_SVN);
    assert_string_equal(msg, "SVN 5 is below the minimum 6");
    assert_null(c);

    server_stop(sv);
    /* Four handshakes, and not one application byte sent. */
    assert_int_equal(atomic_load(&sv->connections), 4);
    assert_int_equal(sv->num_ops, 0);
    free(sv);
}

static void test_open_local_failures(void **state)
{
    (void)state;
    arca_client_config cfg;
    arca_client *c = NULL;
    char msg[ARCA_CLIENT_MSG_LEN], want[512];
    server fake = {0};
    snprintf(fake.path, sizeof fake.path, "%s/nobody.sock", g_f.dir);
    client_cfg(&fake, &cfg);
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_IO);
    snprintf(want, sizeof want, "cannot connect to %s: No such file or directory", fake.path);
    assert_string_equal(msg, want);

    client_cfg(&fake, &cfg);
    snprintf(cfg.key, sizeof cfg.key, "%s", g_f.other_key);
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_CONFIG);
    snprintf(want, sizeof want, "client key %s does not belong to certificate %s", g_f.other_key, g_f.client_cert);
    assert_string_equal(msg, want);

    client_cfg(&fake, &cfg);
    snprintf(cfg.cert, sizeof cfg.cert, "%s/missing.pem", g_f.dir);
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_CONFIG);
    assert_non_null(strstr(msg, "cannot load client certificate"));

    client_cfg(&fake, &cfg);
    cfg.cert[0] = 0;
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_string_equal(msg, "address, cert and key are required");
    assert_null(c);

    /* TCP: nothing listens on port 1 of localhost. */
    client_cfg(&fake, &cfg);
    snprintf(cfg.address, sizeof cfg.address, "127.0.0.1:1");
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_ERR_IO);
    assert_string_equal(msg, "cannot connect to 127.0.0.1:1: Connection refused");
}

static void test_calls(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client *c = open_ok(sv);
    arca_evidence_claims claims;
    arca_client_server_claims(c, &claims);
    assert_true(claims.insecure_dev);
    assert_memory_equal(claims.identity.signer_id, g_f.id.signer_id, 32);

    char *text = NULL;
    assert_int_equal(arca_client_status(c, &text), ARCA_OK);
    assert_string_equal(text, "connections: 1\n");
    free(text);

    /* The enclave's status and message come through. */
    assert_int_equal(arca_client_login(c, "p1", ARCA_CLIENT_ROLE_USER, "bad-pin"), ARCA_ERR_PIN_INCORRECT);
    assert_string_equal(arca_client_last_message(c), "PIN incorrect");
    assert_int_equal(arca_client_login(c, "p1", ARCA_CLIENT_ROLE_USER, "good-pin"), ARCA_OK);
    assert_string_equal(arca_client_last_message(c), "");

    arca_client_id id;
    assert_int_equal(arca_client_generate_key(c, 0x1080, NULL, 0, &id), ARCA_OK);
    for (size_t i = 0; i < 16; i++) assert_int_equal(id.b[i], 0x42);

    arca_client_identity *ids = NULL;
    size_t num = 0;
    assert_int_equal(arca_client_identity_list(c, &ids, &num), ARCA_OK);
    assert_int_equal(num, 1);
    assert_string_equal(ids[0].name, "arca-admin");
    assert_int_equal(ids[0].roles, 0xF);
    assert_string_equal(ids[0].partitions, "*");
    free(ids);

    arca_client_audit_record *recs = NULL;
    assert_int_equal(arca_client_audit_read(c, 17, 10, &recs, &num), ARCA_OK);
    assert_int_equal(num, 1);
    assert_int_equal(recs[0].seq, 17);
    assert_int_equal(recs[0].time_ms, 1234);
    assert_int_equal(recs[0].status, ARCA_ERR_PIN_INCORRECT);
    assert_string_equal(recs[0].actor, "arca-admin");
    assert_string_equal(recs[0].event, "LOGIN");
    assert_string_equal(recs[0].object, "");
    assert_string_equal(recs[0].detail, "admin");
    arca_client_audit_records_free(recs, num);
    assert_int_equal(arca_client_audit_read(c, 0, 0, &recs, &num), ARCA_ERR_ARGS);
    assert_int_equal(arca_client_audit_read(c, 0, 1025, &recs, &num), ARCA_ERR_ARGS);

    /* The fake server does not know this one: its error comes back. */
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(arca_client_random(c, 16, &out, &out_len), ARCA_ERR_UNSUPPORTED);
    assert_string_equal(arca_client_last_message(c), "not in the fake server's script");

    arca_client_close(c);
    server_stop(sv);
    assert_int_equal(atomic_load(&sv->connections), 1);
    free(sv);
}

static void test_attest(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client *c = open_ok(sv);
    static const uint8_t nonce[] = "fresh nonce 42";
    arca_evidence_claims claims;
    memset(&claims, 0, sizeof claims);
    assert_int_equal(arca_client_attest(c, nonce, sizeof nonce, &claims), ARCA_OK);
    assert_true(claims.insecure_dev);
    assert_memory_equal(claims.identity.signer_id, g_f.id.signer_id, 32);
    assert_memory_equal(claims.identity.measurement, g_f.id.measurement, 32);
    assert_int_equal(claims.identity.svn, 5);

    /* Evidence bound to something else: refused, outputs untouched. */
    atomic_store(&sv->mode, SRV_BAD_BINDING);
    arca_evidence_claims untouched;
    memset(&untouched, 0x5A, sizeof untouched);
    assert_int_equal(arca_client_attest(c, nonce, sizeof nonce, &untouched), ARCA_ERR_ATTEST_BINDING);
    assert_string_equal(arca_client_last_message(c),
                        "evidence is not bound to this nonce and TLS session (report data differs)");
    assert_int_equal(((uint8_t *)&untouched)[0], 0x5A);

    assert_int_equal(arca_client_attest(c, nonce, 0, &claims), ARCA_ERR_ARGS);
    uint8_t long_nonce[65] = {0};
    assert_int_equal(arca_client_attest(c, long_nonce, sizeof long_nonce, &claims), ARCA_ERR_ARGS);
    arca_client_close(c);
    server_stop(sv);
    free(sv);
}

static void test_bad_responses(void **state)
{
    (void)state;
    server *sv = server_start(SRV_OP_FAILED);
    arca_client *c = open_ok(sv);
    char *text = NULL;
    /* Operation Failed: mapped status, KMIP message; the connection stays. */
    assert_int_equal(arca_client_status(c, &text), ARCA_ERR_DECODE);
    assert_string_equal(arca_client_last_message(c), "Invalid Message: payload is malformed");
    assert_int_equal(atomic_load(&sv->connections), 1);

    /* Over the cap: refused before allocating; the connection is dropped
     * and the next call opens a new one. */
    atomic_store(&sv->mode, SRV_OVERSIZE);
    assert_int_equal(arca_client_status(c, &text), ARCA_ERR_TOO_LARGE);
    assert_string_equal(arca_client_last_message(c), "response over the size cap");

    atomic_store(&sv->mode, SRV_GARBAGE);
    assert_int_equal(arca_client_status(c, &text), ARCA_ERR_DECODE);
    assert_string_equal(arca_client_last_message(c), "malformed KMIP response");

    atomic_store(&sv->mode, SRV_NORMAL);
    assert_int_equal(arca_client_status(c, &text), ARCA_OK);
    assert_string_equal(text, "connections: 3\n");
    free(text);
    arca_client_close(c);
    server_stop(sv);
    free(sv);
}

static void test_reconnect_and_retry(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client *c = open_ok(sv);
    char *text = NULL;
    assert_int_equal(arca_client_login(c, "p1", ARCA_CLIENT_ROLE_USER, "good-pin"), ARCA_OK);

    /* Idempotent: the broken call is resent on a new, re-logged-in session. */
    atomic_store(&sv->drop_next, 1);
    assert_int_equal(arca_client_status(c, &text), ARCA_OK);
    assert_string_equal(text, "connections: 2\n");
    free(text);

    /* Not idempotent: the caller hears of the broken connection. */
    atomic_store(&sv->drop_next, 1);
    arca_client_id id;
    assert_int_equal(arca_client_generate_key(c, 0x1080, NULL, 0, &id), ARCA_ERR_CHANNEL);
    char want[256];
    snprintf(want, sizeof want, "connection to unix:%s lost", sv->path);
    assert_string_equal(arca_client_last_message(c), want);
    /* ... and the next call reconnects and logs in again first. */
    assert_int_equal(arca_client_generate_key(c, 0x1080, NULL, 0, &id), ARCA_OK);

    /* After logout there is nothing to log in again with. */
    assert_int_equal(arca_client_logout(c), ARCA_OK);
    atomic_store(&sv->drop_next, 1);
    assert_int_equal(arca_client_status(c, &text), ARCA_OK);
    free(text);
    arca_client_close(c);
    server_stop(sv);

    static const uint16_t want_ops[] = {
        ARCA_LP_LOGIN,        ARCA_LP_STATUS /* dropped */, ARCA_LP_LOGIN, ARCA_LP_STATUS,
        ARCA_LP_GENERATE_KEY /* dropped, not resent */,     ARCA_LP_LOGIN, ARCA_LP_GENERATE_KEY,
        ARCA_LP_LOGOUT,       ARCA_LP_STATUS /* dropped */, ARCA_LP_STATUS,
    };
    assert_int_equal(sv->num_ops, sizeof want_ops / sizeof want_ops[0]);
    for (size_t i = 0; i < sv->num_ops; i++) assert_int_equal(sv->ops[i], want_ops[i]);
    assert_int_equal(atomic_load(&sv->connections), 4);
    free(sv);
}

/* SET_PIN: statuses come through; after success a reconnect re-logs in
 * with the new PIN; it is never resent after a broken connection. */
static void test_set_pin(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client *c = open_ok(sv);
    char *text = NULL;
    assert_int_equal(arca_client_set_pin(c, "good-pin", "new-pin-1"), ARCA_ERR_NOT_LOGGED_IN);
    assert_int_equal(arca_client_set_pin(c, NULL, "new-pin-1"), ARCA_ERR_ARGS);
    assert_int_equal(arca_client_login(c, "p1", ARCA_CLIENT_ROLE_USER, "good-pin"), ARCA_OK);
    assert_int_equal(arca_client_set_pin(c, "bad-pin", "new-pin-1"), ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(arca_client_set_pin(c, "good-pin", "new-pin-1"), ARCA_OK);
    /* The connection breaks: the re-login presents the new PIN. */
    atomic_store(&sv->drop_next, 1);
    assert_int_equal(arca_client_status(c, &text), ARCA_OK);
    assert_string_equal(text, "connections: 2\n");
    free(text);
    /* Not idempotent: not resent. */
    atomic_store(&sv->drop_next, 1);
    assert_int_equal(arca_client_set_pin(c, "new-pin-1", "new-pin-2"), ARCA_ERR_CHANNEL);
    assert_int_equal(arca_client_status(c, &text), ARCA_OK); /* reconnects, logs in with new-pin-1 */
    free(text);
    arca_client_close(c);
    server_stop(sv);
    static const uint16_t want_ops[] = {
        ARCA_LP_SET_PIN, ARCA_LP_LOGIN, ARCA_LP_SET_PIN, ARCA_LP_SET_PIN,
        ARCA_LP_STATUS /* dropped */, ARCA_LP_LOGIN, ARCA_LP_STATUS,
        ARCA_LP_SET_PIN /* dropped, not resent */, ARCA_LP_LOGIN, ARCA_LP_STATUS,
    };
    assert_int_equal(sv->num_ops, sizeof want_ops / sizeof want_ops[0]);
    for (size_t i = 0; i < sv->num_ops; i++) assert_int_equal(sv->ops[i], want_ops[i]);
    assert_int_equal(sv->num_logins, 3);
    assert_string_equal(sv->pin, "new-pin-1");
    free(sv);
}

/* TLS 1.3: the client finishes its handshake before the server judges its
 * certificate, so a refusal arrives as an alert on the first call. */
static void test_client_cert_refused(void **state)
{
    (void)state;
    server *sv = server_start_ex(SRV_NORMAL, true);
    arca_client *c = open_ok(sv);
    char *text = NULL;
    assert_int_equal(arca_client_status(c, &text), ARCA_ERR_CHANNEL);
    char want[256];
    /* With the alert's reason when it was read before the socket closed
     * (": ... alert ..."), without when our write hit the closed socket. */
    snprintf(want, sizeof want, "connection to unix:%s lost", sv->path);
    const char *m = arca_client_last_message(c);
    assert_memory_equal(m, want, strlen(want));
    assert_true(m[strlen(want)] == '\0' || strstr(m, "alert") != NULL);
    /* A non-idempotent call was sent once only; status was retried once. */
    arca_client_close(c);
    server_stop(sv);
    assert_int_equal(atomic_load(&sv->connections), 2);
    assert_int_equal(sv->num_ops, 0);
    free(sv);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_timeout(void **state)
{
    (void)state;
    server *sv = server_start(SRV_SILENT);
    arca_client_config cfg;
    arca_client *c = NULL;
    char msg[ARCA_CLIENT_MSG_LEN];
    client_cfg(sv, &cfg);
    cfg.timeout_ms = 300;
    assert_int_equal(arca_client_open(&cfg, &c, msg, sizeof msg), ARCA_OK);
    char *text = NULL;
    double t0 = now_s();
    assert_int_equal(arca_client_status(c, &text), ARCA_ERR_TIMEOUT);
    double dt = now_s() - t0;
    assert_true(dt >= 0.25 && dt < 2.0);
    assert_string_equal(arca_client_last_message(c), "no response within 300 ms");
    arca_client_close(c);
    server_stop(sv);
    /* A time-out is not retried. */
    assert_int_equal(sv->num_ops, 1);
    free(sv);
}

/* Several threads share one client: the calls are serialised. */
static void *status_worker(void *arg)
{
    arca_client *c = arg;
    for (int i = 0; i < 20; i++) {
        char *text = NULL;
        if (arca_client_status(c, &text) != ARCA_OK) return (void *)1;
        free(text);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client *c = open_ok(sv);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, status_worker, c), 0);
    for (int i = 0; i < 4; i++) {
        void *rv = NULL;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    arca_client_close(c);
    server_stop(sv);
    assert_int_equal(sv->num_ops, MAX_OPS); /* 80 requests, the log keeps 64 */
    assert_int_equal(atomic_load(&sv->connections), 1);
    free(sv);
}

/* ---- Ops 31-35 ------------------------------------------------------------ */

static void test_whoami_tls_lifecycle(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client *c = open_ok(sv);
    arca_client_identity me;
    int role = -1;
    char part[ARCA_LP_NAME_MAX + 1];
    assert_int_equal(arca_client_whoami(c, &me, &role, part), ARCA_OK);
    assert_string_equal(me.name, "arca-client");
    assert_int_equal(me.roles, ARCA_CLIENT_IDENTITY_ROLE_USER);
    assert_string_equal(me.partitions, "p1,p2");
    assert_int_equal(role, 0);
    assert_string_equal(part, "");
    assert_int_equal(arca_client_login(c, "p1", ARCA_CLIENT_ROLE_USER, "good-pin"), ARCA_OK);
    assert_int_equal(arca_client_whoami(c, &me, &role, part), ARCA_OK);
    assert_int_equal(role, ARCA_CLIENT_ROLE_USER);
    assert_string_equal(part, "p1");
    assert_int_equal(arca_client_whoami(c, NULL, &role, part), ARCA_ERR_ARGS);
    assert_int_equal(arca_client_whoami(c, &me, NULL, part), ARCA_ERR_ARGS);

    /* WHOAMI is idempotent: resent on a new, re-logged-in connection. */
    atomic_store(&sv->drop_next, 1);
    assert_int_equal(arca_client_whoami(c, &me, &role, part), ARCA_OK);
    assert_int_equal(role, ARCA_CLIENT_ROLE_USER);
    assert_string_equal(part, "p1");

    uint8_t *der = NULL;
    size_t len = 0;
    assert_int_equal(arca_client_tls_csr(c, "arca.example", &der, &len), ARCA_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(der, "\x30\x03" "CSR", 5);
    free(der);
    assert_string_equal(sv->last_text, "arca.example");
    char long_cn[ARCA_LP_CN_MAX + 2];
    memset(long_cn, 'a', sizeof long_cn);
    long_cn[ARCA_LP_CN_MAX + 1] = 0;
    assert_int_equal(arca_client_tls_csr(c, long_cn, &der, &len), ARCA_ERR_ARGS);
    long_cn[ARCA_LP_CN_MAX] = 0; /* exactly the cap: sent */
    assert_int_equal(arca_client_tls_csr(c, long_cn, &der, &len), ARCA_OK);
    free(der);
    assert_int_equal(arca_client_tls_csr(c, "", &der, &len), ARCA_ERR_ARGS);
    assert_int_equal(arca_client_tls_csr(c, NULL, &der, &len), ARCA_ERR_ARGS);

    static const uint8_t chain[] = {0x30, 0x01, 0x00};
    assert_int_equal(arca_client_tls_cert_install(c, chain, sizeof chain), ARCA_OK);
    assert_int_equal(arca_client_tls_cert_install(c, (const uint8_t *)"junk", 4), ARCA_ERR_DECODE);
    assert_string_equal(arca_client_last_message(c), "not a DER certificate chain");
    assert_int_equal(arca_client_tls_cert_install(c, chain, 0), ARCA_ERR_ARGS);
    uint8_t *big = calloc(1, ARCA_LP_CERT_CHAIN_MAX + 1);
    assert_non_null(big);
    assert_int_equal(arca_client_tls_cert_install(c, big, ARCA_LP_CERT_CHAIN_MAX + 1), ARCA_ERR_TOO_LARGE);
    free(big);

    arca_client_id id, other;
    memset(id.b, 0x42, sizeof id.b);
    memset(other.b, 0x07, sizeof other.b);
    assert_int_equal(arca_client_activate(c, &id), ARCA_OK);
    assert_int_equal(arca_client_activate(c, &other), ARCA_ERR_OBJECT_STATE);
    assert_string_equal(arca_client_last_message(c), "not pre-active");
    assert_int_equal(arca_client_activate(c, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_client_revoke(c, &id, ARCA_CLIENT_REVOKE_KEY_COMPROMISE, "laptop stolen"), ARCA_OK);
    assert_int_equal(sv->last_value, 2);
    assert_string_equal(sv->last_text, "laptop stolen");
    assert_int_equal(arca_client_revoke(c, &id, ARCA_CLIENT_REVOKE_SUPERSEDED, NULL), ARCA_OK);
    assert_int_equal(sv->last_value, 5);
    assert_string_equal(sv->last_text, "");
    char long_msg[ARCA_LP_REVOKE_MESSAGE_MAX + 2];
    memset(long_msg, 'm', sizeof long_msg);
    long_msg[ARCA_LP_REVOKE_MESSAGE_MAX + 1] = 0;
    assert_int_equal(arca_client_revoke(c, &id, 1, long_msg), ARCA_ERR_TOO_LARGE);

    /* Revoke changes state: never resent after the connection broke. */
    atomic_store(&sv->drop_next, 1);
    assert_int_equal(arca_client_revoke(c, &id, 1, "x"), ARCA_ERR_CHANNEL);
    arca_client_close(c);
    server_stop(sv);
    size_t revokes = 0;
    for (size_t i = 0; i < sv->num_ops; i++) revokes += sv->ops[i] == ARCA_LP_REVOKE;
    assert_int_equal(revokes, 3);
    free(sv);
}

/* ---- Connection pool ------------------------------------------------------ */

static arca_client_pool *pool_ok(const server *sv, size_t max)
{
    arca_client_config cfg;
    arca_client_pool *p = NULL;
    char msg[ARCA_CLIENT_MSG_LEN];
    client_cfg(sv, &cfg);
    assert_int_equal(arca_client_pool_new(&cfg, max, &p, msg, sizeof msg), ARCA_OK);
    assert_string_equal(msg, "");
    return p;
}

static int whoami_role(arca_client *c, char *part)
{
    arca_client_identity me;
    int role = -1;
    char buf[ARCA_LP_NAME_MAX + 1];
    if (arca_client_whoami(c, &me, &role, part ? part : buf) != ARCA_OK) return -1;
    return role;
}

typedef struct pool_worker_arg {
    arca_client_pool *p;
    atomic_int *lent;
    atomic_int *max_lent;
    int failures;
} pool_worker_arg;

static void *pool_worker(void *arg)
{
    pool_worker_arg *a = arg;
    for (int i = 0; i < 10; i++) {
        arca_client *c = NULL;
        char msg[ARCA_CLIENT_MSG_LEN], part[ARCA_LP_NAME_MAX + 1];
        if (arca_client_pool_acquire(a->p, 10000, &c, msg, sizeof msg) != ARCA_OK) {
            a->failures++;
            continue;
        }
        int now = atomic_fetch_add(a->lent, 1) + 1;
        int seen = atomic_load(a->max_lent);
        while (now > seen && !atomic_compare_exchange_weak(a->max_lent, &seen, now)) {
        }
        /* Every pooled connection is logged in with the pool's login. */
        if (whoami_role(c, part) != ARCA_CLIENT_ROLE_USER || strcmp(part, "p1") != 0) a->failures++;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        atomic_fetch_sub(a->lent, 1);
        if (arca_client_pool_release(a->p, c, false) != ARCA_OK) a->failures++;
    }
    return NULL;
}

static void test_pool_contention(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client_pool *p = pool_ok(sv, 2);
    size_t open = 9, lent = 9;
    arca_client_pool_stats(p, &open, &lent);
    assert_int_equal(open, 0); /* lazy */
    assert_int_equal(lent, 0);
    char msg[ARCA_CLIENT_MSG_LEN];
    assert_int_equal(arca_client_pool_login(p, "p1", ARCA_CLIENT_ROLE_USER, "good-pin", msg, sizeof msg), ARCA_OK);
    assert_string_equal(msg, "");
    arca_client_pool_stats(p, &open, &lent);
    assert_int_equal(open, 1);
    assert_int_equal(lent, 0);

    atomic_int now = 0, max_lent = 0;
    pool_worker_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (pool_worker_arg){p, &now, &max_lent, 0};
        assert_int_equal(pthread_create(&th[i], NULL, pool_worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(atomic_load(&max_lent), 2); /* contended, never beyond max */
    arca_client_pool_stats(p, &open, &lent);
    assert_int_equal(open, 2);
    assert_int_equal(lent, 0);
    arca_client_pool_free(p);
    server_stop(sv);
    /* Two connections for 40 borrowings, each logged in once. */
    assert_int_equal(atomic_load(&sv->connections), 2);
    assert_int_equal(sv->num_logins, 2);
    free(sv);
}

static void test_pool_broken_and_limits(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client_pool *p = pool_ok(sv, 1);
    char msg[ARCA_CLIENT_MSG_LEN];
    assert_int_equal(arca_client_pool_login(p, "p1", ARCA_CLIENT_ROLE_USER, "good-pin", msg, sizeof msg), ARCA_OK);
    arca_client *c1 = NULL, *c2 = NULL;
    assert_int_equal(arca_client_pool_acquire(p, 1000, &c1, msg, sizeof msg), ARCA_OK);

    /* The only connection is lent: no wait, then a bounded wait. */
    assert_int_equal(arca_client_pool_acquire(p, 0, &c2, msg, sizeof msg), ARCA_ERR_TIMEOUT);
    assert_string_equal(msg, "no pooled connection free within 0 ms");
    double t0 = now_s();
    assert_int_equal(arca_client_pool_acquire(p, 200, &c2, msg, sizeof msg), ARCA_ERR_TIMEOUT);
    double dt = now_s() - t0;
    assert_true(dt >= 0.15 && dt < 2.0);
    assert_string_equal(msg, "no pooled connection free within 200 ms");
    assert_null(c2);

    /* Releasing what the pool did not lend. */
    arca_client *stranger = open_ok(sv);
    assert_int_equal(arca_client_pool_release(p, stranger, false), ARCA_ERR_ARGS);
    arca_client_close(stranger);
    assert_int_equal(arca_client_pool_release(p, NULL, false), ARCA_ERR_ARGS);

    /* Broken: closed, and the next acquire opens and logs in a new one. */
    assert_int_equal(arca_client_pool_release(p, c1, true), ARCA_OK);
    size_t open = 9, lent = 9;
    arca_client_pool_stats(p, &open, &lent);
    assert_int_equal(open, 0);
    assert_int_equal(lent, 0);
    assert_int_equal(arca_client_pool_acquire(p, 1000, &c2, msg, sizeof msg), ARCA_OK);
    assert_int_equal(whoami_role(c2, NULL), ARCA_CLIENT_ROLE_USER);
    assert_int_equal(arca_client_pool_release(p, c2, false), ARCA_OK);
    assert_int_equal(arca_client_pool_release(p, c2, false), ARCA_ERR_ARGS); /* not lent twice */
    arca_client_pool_free(p);
    server_stop(sv);
    assert_int_equal(atomic_load(&sv->connections), 3); /* c1, stranger, c1's replacement */
    assert_int_equal(sv->num_logins, 2);
    free(sv);

    /* Arguments of pool_new. */
    arca_client_config cfg;
    server fake = {0};
    snprintf(fake.path, sizeof fake.path, "%s/nobody.sock", g_f.dir);
    client_cfg(&fake, &cfg);
    assert_int_equal(arca_client_pool_new(&cfg, 0, &p, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_string_equal(msg, "pool size 0 out of range (allowed 1..256)");
    assert_int_equal(arca_client_pool_new(&cfg, ARCA_CLIENT_POOL_MAX + 1, &p, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_string_equal(msg, "pool size 257 out of range (allowed 1..256)");
    cfg.key[0] = 0;
    assert_int_equal(arca_client_pool_new(&cfg, 2, &p, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_string_equal(msg, "address, cert and key are required");

    /* Nothing listens: acquire says why, and the slot is free again. */
    client_cfg(&fake, &cfg);
    assert_int_equal(arca_client_pool_new(&cfg, 1, &p, msg, sizeof msg), ARCA_OK);
    char want[256];
    snprintf(want, sizeof want, "cannot connect to %s: No such file or directory", fake.path);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(arca_client_pool_acquire(p, 0, &c1, msg, sizeof msg), ARCA_ERR_IO);
        assert_string_equal(msg, want);
    }
    assert_int_equal(arca_client_pool_login(p, "p1", ARCA_CLIENT_ROLE_USER, "good-pin", msg, sizeof msg),
                     ARCA_ERR_IO);
    arca_client_pool_stats(p, &open, &lent);
    assert_int_equal(open, 0);
    assert_int_equal(lent, 0);
    arca_client_pool_free(p);
    arca_client_pool_free(NULL);
}

static void test_pool_login(void **state)
{
    (void)state;
    server *sv = server_start(SRV_NORMAL);
    arca_client_pool *p = pool_ok(sv, 2);
    char msg[ARCA_CLIENT_MSG_LEN];
    arca_client *a = NULL, *b = NULL;

    /* Wrong PIN: the enclave's answer, nothing remembered. */
    assert_int_equal(arca_client_pool_login(p, "p1", ARCA_CLIENT_ROLE_USER, "bad-pin", msg, sizeof msg),
                     ARCA_ERR_PIN_INCORRECT);
    assert_string_equal(msg, "PIN incorrect");
    assert_int_equal(arca_client_pool_acquire(p, 1000, &a, msg, sizeof msg), ARCA_OK);
    assert_int_equal(whoami_role(a, NULL), 0);
    assert_int_equal(arca_client_pool_release(p, a, false), ARCA_OK);
    char pin[ARCA_LP_PIN_MAX + 2];
    memset(pin, 'x', sizeof pin);
    pin[ARCA_LP_PIN_MAX + 1] = 0;
    assert_int_equal(arca_client_pool_login(p, "p1", ARCA_CLIENT_ROLE_USER, pin, msg, sizeof msg),
                     ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_client_pool_login(p, "p1", ARCA_CLIENT_ROLE_USER, NULL, msg, sizeof msg), ARCA_ERR_ARGS);

    /* The idle, logged-out connection logs in; a second, new one logs in
     * at open. */
    assert_int_equal(arca_client_pool_login(p, "p1", ARCA_CLIENT_ROLE_USER, "good-pin", msg, sizeof msg), ARCA_OK);
    assert_int_equal(arca_client_pool_acquire(p, 1000, &a, msg, sizeof msg), ARCA_OK);
    assert_int_equal(arca_client_pool_acquire(p, 1000, &b, msg, sizeof msg), ARCA_OK);
    assert_ptr_not_equal(a, b);
    char part[ARCA_LP_NAME_MAX + 1];
    assert_int_equal(whoami_role(a, part), ARCA_CLIENT_ROLE_USER);
    assert_string_equal(part, "p1");
    assert_int_equal(whoami_role(b, part), ARCA_CLIENT_ROLE_USER);
    assert_string_equal(part, "p1");

    /* Logout while both are lent: they are replaced when next acquired. */
    arca_client_pool_logout(p);
    assert_int_equal(arca_client_pool_release(p, a, false), ARCA_OK);
    assert_int_equal(arca_client_pool_release(p, b, false), ARCA_OK);
    assert_int_equal(arca_client_pool_acquire(p, 1000, &a, msg, sizeof msg), ARCA_OK);
    assert_int_equal(whoami_role(a, part), 0);
    assert_string_equal(part, "");
    assert_int_equal(arca_client_pool_release(p, a, false), ARCA_OK);

    /* Admin login (no partition) applies the same way; logout closes idle
     * logged-in connections at once. */
    assert_int_equal(arca_client_pool_login(p, NULL, ARCA_CLIENT_ROLE_ADMIN, "good-pin", msg, sizeof msg), ARCA_OK);
    assert_int_equal(arca_client_pool_acquire(p, 1000, &a, msg, sizeof msg), ARCA_OK);
    assert_int_equal(whoami_role(a, part), ARCA_CLIENT_ROLE_ADMIN);
    assert_string_equal(part, "");
    assert_int_equal(arca_client_pool_release(p, a, false), ARCA_OK);
    size_t open = 0;
    arca_client_pool_stats(p, &open, NULL);
    assert_true(open >= 1);
    arca_client_pool_logout(p);
    arca_client_pool_stats(p, &open, NULL);
    assert_int_equal(open, 0);
    arca_client_pool_free(p);
    server_stop(sv);
    assert_int_equal(sv->num_logins, 3); /* a and b for the user login, one for admin */
    free(sv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_full),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_from_env),
        cmocka_unit_test(test_wire_wrap),
        cmocka_unit_test(test_wire_unwrap),
        cmocka_unit_test(test_wire_response_len),
        cmocka_unit_test(test_open_policy_refusals),
        cmocka_unit_test(test_open_local_failures),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_attest),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_reconnect_and_retry),
        cmocka_unit_test(test_set_pin),
        cmocka_unit_test(test_client_cert_refused),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_whoami_tls_lifecycle),
        cmocka_unit_test(test_pool_contention),
        cmocka_unit_test(test_pool_broken_and_limits),
        cmocka_unit_test(test_pool_login),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
