/* Unit tests for sealing/ratls.c: RA-TLS certificates carrying dev
 * evidence, their verification against a trust policy, hostile CBOR and
 * DER, and the freshness report data. The real dev sealing backend runs on
 * a temporary state dir per test. Certificates with crafted extensions are
 * built here with OpenSSL and a small CBOR writer of the test's own, so the
 * verifier is checked against an encoder other than the one it shares code
 * with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "arca/log.h"
#include "arca/ratls.h"
#include "arca/sealing.h"

typedef struct fixture {
    char dir[64];
    char log_path[96];
    int log_fd;
    arca_sealing_config cfg;
    arca_enclave_identity id;
    arca_sealing *s;
    EVP_PKEY *key;       /* the enclave's TLS key */
    X509 *cert;          /* made by arca_ratls_cert_create for key */
    uint8_t *der;
    size_t der_len;
    uint8_t attester[32]; /* SHA-256 of the dev attestation key's SPKI */
} fixture;

static const uint8_t k_nonce[] = "client nonce 0123456789";

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void sha256(const uint8_t *d, size_t n, uint8_t out[32])
{
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest(d, n, out, &hl, EVP_sha256(), NULL), 1);
    assert_int_equal(hl, 32);
}

static void sha512(const uint8_t *d, size_t n, uint8_t out[64])
{
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest(d, n, out, &hl, EVP_sha512(), NULL), 1);
    assert_int_equal(hl, 64);
}

static void key_spki_hash(EVP_PKEY *k, uint8_t out[32])
{
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    sha256(der, (size_t)n, out);
    OPENSSL_free(der);
}

static void read_attester(fixture *f)
{
    char p[128];
    snprintf(p, sizeof p, "%s/dev-attest.pem", f->dir);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    key_spki_hash(k, f->attester);
    EVP_PKEY_free(k);
}

static void open_sealing(fixture *f)
{
    if (f->s != NULL) arca_sealing_free(f->s);
    f->s = NULL;
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &f->s), ARCA_OK);
}

static void make_cert(fixture *f, const uint8_t *nonce, size_t nonce_len)
{
    arca_ratls_cert_params p = {.subject_cn = "arca-enclave", .validity_secs = 3600, .nonce = nonce,
                                .nonce_len = nonce_len};
    X509_free(f->cert);
    free(f->der);
    f->cert = NULL;
    f->der = NULL;
    assert_int_equal(arca_ratls_cert_create(f->s, f->key, &p, &f->cert, &f->der, &f->der_len), ARCA_OK);
    assert_non_null(f->cert);
    assert_non_null(f->der);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/arca-test-ratls-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->log_path, sizeof f->log_path, "/tmp/arca-test-ratls-log-%d", (int)getpid());
    f->log_fd = open(f->log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(f->log_fd >= 0);
    arca_log_set_fd(f->log_fd);
    f->cfg.mode = "dev";
    f->cfg.state_dir = f->dir;
    memset(f->id.measurement, 0xA5, 32);
    memset(f->id.signer_id, 0x11, 32);
    f->id.product_id = 7;
    f->id.svn = 5;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
    open_sealing(f);
    read_attester(f);
    f->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(f->key);
    make_cert(f, k_nonce, sizeof k_nonce);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    X509_free(f->cert);
    free(f->der);
    EVP_PKEY_free(f->key);
    arca_sealing_free(f->s);
    arca_log_set_fd(2);
    close(f->log_fd);
    unlink(f->log_path);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* The strict policy that the fixture's certificate satisfies. */
static arca_ratls_policy strict_policy(const fixture *f)
{
    arca_ratls_policy p = {.expected_signer_id = f->id.signer_id,
                           .expected_measurement = f->id.measurement,
                           .expected_attester_key_id = f->attester,
                           .min_svn = f->id.svn,
                           .allow_dev = true,
                           .allow_debug = false};
    return p;
}

/* ---- a small CBOR writer of the test's own ---- */

typedef struct wbuf {
    uint8_t data[40000];
    size_t len;
} wbuf;

static void w_head(wbuf *w, uint8_t major, uint64_t arg)
{
    uint8_t m = (uint8_t)(major << 5);
    if (arg < 24) {
        w->data[w->len++] = (uint8_t)(m | arg);
    } else if (arg <= 0xff) {
        w->data[w->len++] = m | 24;
        w->data[w->len++] = (uint8_t)arg;
    } else if (arg <= 0xffff) {
        w->data[w->len++] = m | 25;
        for (int i = 1; i >= 0; i--) w->data[w->len++] = (uint8_t)(arg >> (8 * i));
    } else if (arg <= 0xffffffffu) {
        w->data[w->len++] = m | 26;
        for (int i = 3; i >= 0; i--) w->data[w->len++] = (uint8_t)(arg >> (8 * i));
    } else {
        w->data[w->len++] = m | 27;
        for (int i = 7; i >= 0; i--) w->data[w->len++] = (uint8_t)(arg >> (8 * i));
    }
    assert_true(w->len < sizeof w->data);
}

static void w_bytes(wbuf *w, uint8_t major, const void *d, size_t n)
{
    w_head(w, major, n);
    assert_true(w->len + n < sizeof w->data);
    if (n > 0) memcpy(w->data + w->len, d, n);
    w->len += n;
}

static void w_text(wbuf *w, const char *s)
{
    w_bytes(w, 3, s, strlen(s));
}

/* #6.tag([bstr ev, bstr claims]) */
static void w_tagged(wbuf *w, uint64_t tag, const uint8_t *ev, size_t ev_len, const uint8_t *cl, size_t cl_len)
{
    w->len = 0;
    w_head(w, 6, tag);
    w_head(w, 4, 2);
    w_bytes(w, 2, ev, ev_len);
    w_bytes(w, 2, cl, cl_len);
}

/* ---- certificates with crafted extensions ---- */

/* The CBOR inside cert's evidence extension (independent parse). */
static void ext_cbor(X509 *cert, uint8_t **out, size_t *out_len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(ARCA_RATLS_OID, 1);
    assert_non_null(obj);
    int pos = X509_get_ext_by_OBJ(cert, obj, -1);
    assert_true(pos >= 0);
    X509_EXTENSION *ext = X509_get_ext(cert, pos);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 0);
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
    const unsigned char *p = ASN1_STRING_get0_data(v);
    ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(v));
    assert_non_null(inner);
    *out_len = (size_t)ASN1_STRING_length(inner);
    *out = malloc(*out_len);
    assert_non_null(*out);
    memcpy(*out, ASN1_STRING_get0_data(inner), *out_len);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
}

/* Split the fixture certificate's extension into tag, evidence, claims
 * (libcbor on trusted bytes). Outputs malloc'd. */
static void split(X509 *cert, uint64_t *tag, uint8_t **ev, size_t *ev_len, uint8_t **cl, size_t *cl_len)
{
    uint8_t *cbor = NULL;
    size_t cbor_len = 0;
    ext_cbor(cert, &cbor, &cbor_len);
    struct cbor_load_result r;
    cbor_item_t *top = cbor_load(cbor, cbor_len, &r);
    assert_non_null(top);
    assert_int_equal(r.read, cbor_len);
    assert_true(cbor_isa_tag(top));
    *tag = cbor_tag_value(top);
    cbor_item_t *arr = cbor_tag_item(top);
    assert_true(cbor_isa_array(arr));
    assert_int_equal(cbor_array_size(arr), 2);
    cbor_item_t **m = cbor_array_handle(arr);
    assert_true(cbor_isa_bytestring(m[0]));
    assert_true(cbor_isa_bytestring(m[1]));
    *ev_len = cbor_bytestring_length(m[0]);
    *cl_len = cbor_bytestring_length(m[1]);
    *ev = malloc(*ev_len);
    *cl = malloc(*cl_len);
    assert_non_null(*ev);
    assert_non_null(*cl);
    memcpy(*ev, cbor_bytestring_handle(m[0]), *ev_len);
    memcpy(*cl, cbor_bytestring_handle(m[1]), *cl_len);
    cbor_decref(&arr);
    cbor_decref(&top);
    free(cbor);
}

/* A self-signed certificate for key with num_ext evidence extensions of
 * the given CBOR (wrapped in an OCTET STRING unless raw). */
static X509 *craft(EVP_PKEY *key, const uint8_t *cbor, size_t cbor_len, int num_ext, bool raw)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 12345), 1);
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"crafted", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, n), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    ASN1_OBJECT *obj = OBJ_txt2obj(ARCA_RATLS_OID, 1);
    assert_non_null(obj);
    for (int i = 0; i < num_ext; i++) {
        ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
        assert_non_null(val);
        if (raw) {
            assert_int_equal(ASN1_OCTET_STRING_set(val, cbor, (int)cbor_len), 1);
        } else {
            ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new();
            assert_non_null(inner);
            assert_int_equal(ASN1_OCTET_STRING_set(inner, cbor, (int)cbor_len), 1);
            uint8_t *d = NULL;
            int dl = i2d_ASN1_OCTET_STRING(inner, &d);
            assert_true(dl > 0);
            assert_int_equal(ASN1_OCTET_STRING_set(val, d, dl), 1);
            OPENSSL_free(d);
            ASN1_OCTET_STRING_free(inner);
        }
        X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, val);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(val);
    }
    ASN1_OBJECT_free(obj);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

static arca_status verify_x(X509 *x, const arca_ratls_policy *p, char msg[ARCA_RATLS_MSG_LEN])
{
    arca_ratls_result r;
    memset(&r, 0xEE, sizeof r);
    arca_status st = arca_ratls_cert_verify(x, p, &r, msg, ARCA_RATLS_MSG_LEN);
    if (st != ARCA_OK) {
        /* *out is untouched on failure. */
        uint8_t untouched[sizeof r];
        memset(untouched, 0xEE, sizeof untouched);
        assert_memory_equal(&r, untouched, sizeof r);
        assert_true(strlen(msg) > 0);
    }
    return st;
}

/* Verify a crafted extension on a certificate for the fixture's key. */
static arca_status verify_cbor(fixture *f, const uint8_t *cbor, size_t len, char msg[ARCA_RATLS_MSG_LEN])
{
    X509 *x = craft(f->key, cbor, len, 1, false);
    arca_ratls_policy p = strict_policy(f);
    arca_status st = verify_x(x, &p, msg);
    X509_free(x);
    return st;
}

/* ---- tests ---- */

static void test_create_and_verify(void **state)
{
    fixture *f = *state;
    arca_ratls_policy p = strict_policy(f);
    arca_ratls_result r;
    char msg[ARCA_RATLS_MSG_LEN];
    uint8_t want_hash[32];
    key_spki_hash(f->key, want_hash);

    memset(&r, 0, sizeof r);
    strcpy(msg, "junk");
    assert_int_equal(arca_ratls_cert_verify_der(f->der, f->der_len, &p, &r, msg, sizeof msg), ARCA_OK);
    assert_string_equal(msg, "");
    assert_int_equal(r.tag, ARCA_RATLS_TAG_DEV);
    assert_memory_equal(r.pubkey_hash, want_hash, 32);
    assert_int_equal(r.nonce_len, sizeof k_nonce);
    assert_memory_equal(r.nonce, k_nonce, sizeof k_nonce);
    assert_true(r.evidence.insecure_dev);
    assert_memory_equal(r.evidence.identity.measurement, f->id.measurement, 32);
    assert_memory_equal(r.evidence.identity.signer_id, f->id.signer_id, 32);
    assert_int_equal(r.evidence.identity.product_id, 7);
    assert_int_equal(r.evidence.identity.svn, 5);
    assert_false(r.evidence.identity.debug);
    assert_memory_equal(r.evidence.attester_key_id, f->attester, 32);

    /* The X509 entry point agrees; msg may be absent. */
    memset(&r, 0, sizeof r);
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, NULL, 0), ARCA_OK);
    assert_int_equal(r.tag, ARCA_RATLS_TAG_DEV);

    /* The lax policy: nothing pinned, only dev allowed. */
    arca_ratls_policy lax = {.allow_dev = true};
    assert_int_equal(arca_ratls_cert_verify(f->cert, &lax, &r, msg, sizeof msg), ARCA_OK);

    /* The structure, checked independently: tag, [bstr, bstr], claims,
     * report data = SHA-512(claims). */
    uint64_t tag = 0;
    uint8_t *ev = NULL, *cl = NULL;
    size_t ev_len = 0, cl_len = 0;
    split(f->cert, &tag, &ev, &ev_len, &cl, &cl_len);
    assert_int_equal(tag, 0x41524344u);
    assert_memory_equal(ev, "ARCAEVD1", 8);
    uint8_t rd[64];
    sha512(cl, cl_len, rd);
    assert_memory_equal(r.evidence.report_data, rd, 64);
    wbuf *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w_head(w, 5, 2);
    w_text(w, "pubkey-hash");
    w_head(w, 4, 2);
    w_text(w, "sha-256");
    w_bytes(w, 2, want_hash, 32);
    w_text(w, "nonce");
    w_bytes(w, 2, k_nonce, sizeof k_nonce);
    assert_int_equal(cl_len, w->len);
    assert_memory_equal(cl, w->data, w->len);
    free(w);
    free(ev);
    free(cl);

    /* Ordinary certificate properties. */
    assert_int_equal(X509_get_version(f->cert), X509_VERSION_3);
    assert_int_equal(X509_verify(f->cert, f->key), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(f->cert), X509_get_issuer_name(f->cert)), 0);
    char cn[80];
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(f->cert), NID_commonName, cn, sizeof cn) > 0);
    assert_string_equal(cn, "arca-enclave");
    assert_int_equal(X509_check_ca(f->cert), 0);
    assert_int_equal(X509_cmp_current_time(X509_get0_notBefore(f->cert)), -1);
    assert_int_equal(X509_cmp_current_time(X509_get0_notAfter(f->cert)), 1);
    assert_int_equal(X509_cmp_time(X509_get0_notAfter(f->cert), &(time_t){time(NULL) + 3700}), -1);
    const unsigned char *p0 = f->der;
    X509 *again = d2i_X509(NULL, &p0, (long)f->der_len);
    assert_non_null(again);
    assert_int_equal(X509_cmp(again, f->cert), 0);
    X509_free(again);
}

static void test_other_key_types_and_no_nonce(void **state)
{
    fixture *f = *state;
    const char *types[] = {"ED25519", "RSA"};
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *k = i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, types[i])
                             : EVP_PKEY_Q_keygen(NULL, NULL, types[i], (size_t)2048);
        assert_non_null(k);
        arca_ratls_cert_params prm = {.subject_cn = "node-b", .validity_secs = 60};
        uint8_t *der = NULL;
        size_t der_len = 0;
        assert_int_equal(arca_ratls_cert_create(f->s, k, &prm, NULL, &der, &der_len), ARCA_OK);
        arca_ratls_policy p = strict_policy(f);
        arca_ratls_result r;
        char msg[ARCA_RATLS_MSG_LEN];
        assert_int_equal(arca_ratls_cert_verify_der(der, der_len, &p, &r, msg, sizeof msg), ARCA_OK);
        assert_int_equal(r.nonce_len, 0);
        uint8_t h[32];
        key_spki_hash(k, h);
        assert_memory_equal(r.pubkey_hash, h, 32);
        const unsigned char *pp = der;
        X509 *x = d2i_X509(NULL, &pp, (long)der_len);
        assert_non_null(x);
        assert_int_equal(X509_verify(x, k), 1);
        X509_free(x);
        free(der);
        EVP_PKEY_free(k);
    }
}

static void test_openssl_parses(void **state)
{
    fixture *f = *state;
    BIO *mem = BIO_new(BIO_s_mem());
    assert_non_null(mem);
    assert_int_equal(X509_print(mem, f->cert), 1);
    assert_int_equal(BIO_write(mem, "", 1), 1);
    char *text = NULL;
    BIO_get_mem_data(mem, &text);
    assert_non_null(strstr(text, "2.23.133.5.4.9"));
    assert_non_null(strstr(text, "CN=arca-enclave"));
    BIO_free(mem);

    /* And the openssl command itself. */
    char path[128], cmd[512], line[512];
    snprintf(path, sizeof path, "%s/cert.der", f->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(f->der, 1, f->der_len, fp), f->der_len);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "openssl x509 -inform DER -in %s -noout -text 2>&1", path);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    bool seen_oid = false, seen_cn = false;
    while (fgets(line, sizeof line, pp) != NULL) {
        if (strstr(line, "2.23.133.5.4.9") != NULL) seen_oid = true;
        if (strstr(line, "arca-enclave") != NULL) seen_cn = true;
    }
    assert_int_equal(pclose(pp), 0);
    assert_true(seen_oid);
    assert_true(seen_cn);
}

static void test_copied_extension_other_key(void **state)
{
    fixture *f = *state;
    uint8_t *cbor = NULL;
    size_t len = 0;
    ext_cbor(f->cert, &cbor, &len);
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(other);
    X509 *x = craft(other, cbor, len, 1, false);
    arca_ratls_policy p = strict_policy(f);
    char msg[ARCA_RATLS_MSG_LEN];
    assert_int_equal(verify_x(x, &p, msg), ARCA_ERR_ATTEST_BINDING);
    assert_string_equal(msg, "pubkey-hash does not match the certificate's key");
    /* The same extension on a fresh certificate for the right key passes. */
    X509_free(x);
    x = craft(f->key, cbor, len, 1, false);
    assert_int_equal(verify_x(x, &p, msg), ARCA_OK);
    X509_free(x);
    EVP_PKEY_free(other);
    free(cbor);
}

static void test_tampered_evidence(void **state)
{
    fixture *f = *state;
    uint64_t tag = 0;
    uint8_t *ev = NULL, *cl = NULL;
    size_t ev_len = 0, cl_len = 0;
    split(f->cert, &tag, &ev, &ev_len, &cl, &cl_len);
    wbuf *w = calloc(1, sizeof *w);
    assert_non_null(w);
    char msg[ARCA_RATLS_MSG_LEN];

    /* Unchanged re-encoding verifies (the test's encoder agrees). */
    w_tagged(w, tag, ev, ev_len, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_OK);

    /* A flipped bit in the signature, then in the signed body (svn). */
    const size_t offsets[] = {ev_len - 1, 8 + 2 + 1 + 32 + 32 + 2 + 1};
    for (size_t i = 0; i < 2; i++) {
        ev[offsets[i]] ^= 0x01;
        w_tagged(w, tag, ev, ev_len, cl, cl_len);
        assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_SIGNATURE_INVALID);
        assert_string_equal(msg, "evidence signature does not verify");
        ev[offsets[i]] ^= 0x01;
    }
    /* Truncated evidence: malformed. */
    w_tagged(w, tag, ev, ev_len - 1, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "evidence is malformed");
    /* Dev evidence under the TPM tag: the tag lies about the kind. */
    w_tagged(w, ARCA_RATLS_TAG_TPM, ev, ev_len, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "CBOR tag says TPM evidence but the evidence is dev");
    free(w);
    free(ev);
    free(cl);
}

static void test_tampered_claims(void **state)
{
    fixture *f = *state;
    uint64_t tag = 0;
    uint8_t *ev = NULL, *cl = NULL;
    size_t ev_len = 0, cl_len = 0;
    split(f->cert, &tag, &ev, &ev_len, &cl, &cl_len);
    wbuf *w = calloc(1, sizeof *w);
    assert_non_null(w);
    char msg[ARCA_RATLS_MSG_LEN];

    /* The last byte is the nonce's last byte: claims still well-formed. */
    cl[cl_len - 1] ^= 0x01;
    w_tagged(w, tag, ev, ev_len, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_INTEGRITY);
    assert_string_equal(msg, "evidence report data is not the SHA-512 of the claims");
    cl[cl_len - 1] ^= 0x01;

    /* Claims re-made for another key (pubkey-hash swapped) under the
     * original evidence. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(other);
    uint8_t oh[32];
    key_spki_hash(other, oh);
    wbuf *c2 = calloc(1, sizeof *c2);
    assert_non_null(c2);
    w_head(c2, 5, 1);
    w_text(c2, "pubkey-hash");
    w_head(c2, 4, 2);
    w_text(c2, "sha-256");
    w_bytes(c2, 2, oh, 32);
    w_tagged(w, tag, ev, ev_len, c2->data, c2->len);
    X509 *x = craft(other, w->data, w->len, 1, false);
    arca_ratls_policy p = strict_policy(f);
    assert_int_equal(verify_x(x, &p, msg), ARCA_ERR_INTEGRITY);
    X509_free(x);
    EVP_PKEY_free(other);
    free(c2);
    free(w);
    free(ev);
    free(cl);
}

static void test_policy(void **state)
{
    fixture *f = *state;
    char msg[ARCA_RATLS_MSG_LEN];
    arca_ratls_result r;
    uint8_t other[32];
    memset(other, 0x34, sizeof other);

    arca_ratls_policy p = strict_policy(f);
    p.expected_signer_id = other;
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_ERR_IMAGE_SIGNER);
    assert_string_equal(msg, "evidence signer 1111111111111111111111111111111111111111111111111111111111111111 "
                             "is not the expected signer "
                             "3434343434343434343434343434343434343434343434343434343434343434");

    p = strict_policy(f);
    p.expected_measurement = other;
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_ERR_ATTEST_MEASUREMENT);
    assert_string_equal(msg, "evidence measurement a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5 is "
                             "not the expected measurement "
                             "3434343434343434343434343434343434343434343434343434343434343434");

    p = strict_policy(f);
    p.min_svn = 6;
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_ERR_SVN);
    assert_string_equal(msg, "SVN 5 is below the minimum 6");

    p = strict_policy(f);
    p.allow_dev = false;
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_ERR_ATTEST_INSECURE);
    assert_string_equal(msg, "dev evidence refused by policy");

    p = strict_policy(f);
    p.expected_attester_key_id = other;
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_ERR_ATTEST_ATTESTER);
    assert_non_null(strstr(msg, "evidence attestation key "));
    assert_non_null(strstr(msg, " is not the expected key 3434"));

    /* An AK CA applies to TPM evidence only (tests/unit/test_sealing_tpm.c,
     * tests/integration/test_tpm_ak_cert.sh): dev evidence, which has no
     * TPM attestation key, is governed by allow_dev alone and the CA file is
     * not even read. */
    p = strict_policy(f);
    p.tpm_ak_ca_file = "/nonexistent/ak-ca.pem";
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_OK);
    assert_string_equal(msg, "");
    assert_true(r.evidence.insecure_dev);

    /* A message buffer that is too small is truncated, NUL-terminated. */
    char small[8];
    p = strict_policy(f);
    p.min_svn = 6;
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, small, sizeof small), ARCA_ERR_SVN);
    assert_string_equal(small, "SVN 5 i");

    /* A debug enclave: refused unless allowed. */
    f->id.debug = true;
    open_sealing(f);
    make_cert(f, NULL, 0);
    p = strict_policy(f);
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_ERR_ATTEST_INSECURE);
    assert_string_equal(msg, "debug enclave refused by policy");
    p.allow_debug = true;
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, &r, msg, sizeof msg), ARCA_OK);
    assert_true(r.evidence.identity.debug);
}

static void test_extension_count(void **state)
{
    fixture *f = *state;
    char msg[ARCA_RATLS_MSG_LEN];
    arca_ratls_policy p = strict_policy(f);
    uint8_t *cbor = NULL;
    size_t len = 0;
    ext_cbor(f->cert, &cbor, &len);

    X509 *x = craft(f->key, cbor, len, 0, false);
    assert_int_equal(verify_x(x, &p, msg), ARCA_ERR_NOT_FOUND);
    assert_string_equal(msg, "no evidence extension (2.23.133.5.4.9) in the certificate");
    X509_free(x);

    x = craft(f->key, cbor, len, 2, false);
    assert_int_equal(verify_x(x, &p, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "more than one evidence extension (2.23.133.5.4.9)");
    X509_free(x);

    /* CBOR directly in extnValue, without the inner OCTET STRING. */
    x = craft(f->key, cbor, len, 1, true);
    assert_int_equal(verify_x(x, &p, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "evidence extension is not exactly one DER OCTET STRING");
    X509_free(x);
    free(cbor);
}

static void test_malformed_cbor(void **state)
{
    fixture *f = *state;
    char msg[ARCA_RATLS_MSG_LEN];
    uint64_t tag = 0;
    uint8_t *ev = NULL, *cl = NULL, *good = NULL;
    size_t ev_len = 0, cl_len = 0, good_len = 0;
    split(f->cert, &tag, &ev, &ev_len, &cl, &cl_len);
    ext_cbor(f->cert, &good, &good_len);
    wbuf *w = calloc(1, sizeof *w);
    assert_non_null(w);
    const char *wellformed_msg = "evidence extension is not well-formed CBOR within the limits";

    /* Every truncation, and a trailing byte. */
    for (size_t n = 0; n < good_len; n += (n < 40 || good_len - n < 40) ? 1 : 29) {
        assert_int_equal(verify_cbor(f, good, n, msg), ARCA_ERR_DECODE);
        assert_string_equal(msg, wellformed_msg);
    }
    memcpy(w->data, good, good_len);
    w->data[good_len] = 0x00;
    assert_int_equal(verify_cbor(f, w->data, good_len + 1, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, wellformed_msg);

    /* Wrong tag; no tag at all. */
    w_tagged(w, 1234, ev, ev_len, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "evidence CBOR tag 1234 is not an Arca evidence tag");
    w->len = 0;
    w_head(w, 4, 2);
    w_bytes(w, 2, ev, ev_len);
    w_bytes(w, 2, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "evidence extension is not a CBOR tag");

    /* Not an array; an array of 1 and of 3; members that are not bstr. */
    w->len = 0;
    w_head(w, 6, ARCA_RATLS_TAG_DEV);
    w_bytes(w, 2, ev, ev_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "tagged evidence is not an array [evidence, claims]");
    w->len = 0;
    w_head(w, 6, ARCA_RATLS_TAG_DEV);
    w_head(w, 4, 1);
    w_bytes(w, 2, ev, ev_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    w->len = 0;
    w_head(w, 6, ARCA_RATLS_TAG_DEV);
    w_head(w, 4, 3);
    w_bytes(w, 2, ev, ev_len);
    w_bytes(w, 2, cl, cl_len);
    w_bytes(w, 2, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "tagged evidence is not an array [evidence, claims]");
    w->len = 0;
    w_head(w, 6, ARCA_RATLS_TAG_DEV);
    w_head(w, 4, 2);
    w_bytes(w, 3, "ARCAEVD1", 8);
    w_bytes(w, 2, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "evidence and claims are not byte strings");

    /* Lengths that lie: an array claiming 2^32 members, a 2^64-1 byte
     * string, a map claiming more pairs than bytes. */
    const uint8_t lies[][16] = {
        {0xda, 0x41, 0x52, 0x43, 0x44, 0x9a, 0xff, 0xff, 0xff, 0xff, 0x40, 0x40},
        {0xda, 0x41, 0x52, 0x43, 0x44, 0x82, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x40},
        {0xda, 0x41, 0x52, 0x43, 0x44, 0xb8, 0xff, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40},
    };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(verify_cbor(f, lies[i], sizeof lies[i], msg), ARCA_ERR_DECODE);
        assert_string_equal(msg, wellformed_msg);
    }
    /* Indefinite-length array and byte string; reserved additional info. */
    const uint8_t indef[][12] = {
        {0xda, 0x41, 0x52, 0x43, 0x44, 0x9f, 0x40, 0x40, 0xff},
        {0xda, 0x41, 0x52, 0x43, 0x44, 0x82, 0x5f, 0x41, 0x00, 0xff, 0x40},
        {0xda, 0x41, 0x52, 0x43, 0x44, 0x82, 0x5c, 0x40},
    };
    const size_t indef_len[] = {9, 11, 8};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(verify_cbor(f, indef[i], indef_len[i], msg), ARCA_ERR_DECODE);
        assert_string_equal(msg, wellformed_msg);
    }
    /* Nesting 1,000 deep, and just over the cap. */
    w->len = 0;
    w_head(w, 6, ARCA_RATLS_TAG_DEV);
    for (int i = 0; i < 1000; i++) w_head(w, 4, 1);
    w_bytes(w, 2, "", 0);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    w->len = 0;
    w_head(w, 6, ARCA_RATLS_TAG_DEV);
    for (int i = 0; i < 9; i++) w_head(w, 4, 1);
    w_bytes(w, 2, "", 0);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, wellformed_msg);
    /* Too many items (a flat array of 100 small ints), under the byte cap. */
    w->len = 0;
    w_head(w, 6, ARCA_RATLS_TAG_DEV);
    w_head(w, 4, 100);
    for (int i = 0; i < 100; i++) w_head(w, 0, 1);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, wellformed_msg);

    /* Oversized: an extension over the cap, evidence over its cap. */
    uint8_t *big = calloc(1, ARCA_RATLS_MAX_EXT_LEN + 1);
    assert_non_null(big);
    w_tagged(w, ARCA_RATLS_TAG_DEV, big, ARCA_RATLS_MAX_EXT_LEN, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_TOO_LARGE);
    assert_non_null(strstr(msg, "evidence extension of "));
    assert_non_null(strstr(msg, " bytes is over the limit"));
    w_tagged(w, ARCA_RATLS_TAG_DEV, big, ARCA_RATLS_MAX_EVIDENCE_LEN + 1, cl, cl_len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_TOO_LARGE);
    assert_non_null(strstr(msg, "over the limit"));
    w_tagged(w, ARCA_RATLS_TAG_DEV, ev, ev_len, big, ARCA_RATLS_MAX_CLAIMS_LEN + 1);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), ARCA_ERR_TOO_LARGE);
    free(big);

    free(w);
    free(good);
    free(ev);
    free(cl);
}

/* Claims that are malformed are refused before the evidence is looked at. */
static void check_claims(fixture *f, const wbuf *c, arca_status want, const char *want_msg)
{
    static const uint8_t fake_ev[] = "ARCAEVD1 not checked";
    wbuf *w = calloc(1, sizeof *w);
    assert_non_null(w);
    char msg[ARCA_RATLS_MSG_LEN];
    w_tagged(w, ARCA_RATLS_TAG_DEV, fake_ev, sizeof fake_ev, c->data, c->len);
    assert_int_equal(verify_cbor(f, w->data, w->len, msg), want);
    assert_string_equal(msg, want_msg);
    free(w);
}

static void test_malformed_claims(void **state)
{
    fixture *f = *state;
    uint8_t h[33] = {0};
    wbuf *c = calloc(1, sizeof *c);
    assert_non_null(c);

    c->len = 0;
    w_head(c, 4, 0);
    check_claims(f, c, ARCA_ERR_DECODE, "claims are not a CBOR map");
    c->len = 0;
    w_head(c, 5, 1);
    w_text(c, "nonce");
    w_bytes(c, 2, "n", 1);
    check_claims(f, c, ARCA_ERR_DECODE, "claims have no pubkey-hash");
    c->len = 0;
    w_head(c, 5, 1);
    w_text(c, "pubkey-hash");
    w_head(c, 4, 2);
    w_text(c, "sha-384");
    w_bytes(c, 2, h, 32);
    check_claims(f, c, ARCA_ERR_UNSUPPORTED, "pubkey-hash uses a hash algorithm other than sha-256");
    c->len = 0;
    w_head(c, 5, 1);
    w_text(c, "pubkey-hash");
    w_head(c, 4, 2);
    w_head(c, 0, 1); /* IANA id 1 = sha-256 is fine, but 31 bytes are not */
    w_bytes(c, 2, h, 31);
    check_claims(f, c, ARCA_ERR_DECODE, "pubkey-hash value is not 32 bytes");
    c->len = 0;
    w_head(c, 5, 1);
    w_text(c, "pubkey-hash");
    w_bytes(c, 2, h, 32);
    check_claims(f, c, ARCA_ERR_DECODE, "pubkey-hash is not [hash-alg, hash]");
    c->len = 0;
    w_head(c, 5, 2);
    for (int i = 0; i < 2; i++) {
        w_text(c, "pubkey-hash");
        w_head(c, 4, 2);
        w_text(c, "sha-256");
        w_bytes(c, 2, h, 32);
    }
    check_claims(f, c, ARCA_ERR_DECODE, "claims have pubkey-hash twice");
    c->len = 0;
    w_head(c, 5, 2);
    w_text(c, "pubkey-hash");
    w_head(c, 4, 2);
    w_text(c, "sha-256");
    w_bytes(c, 2, h, 32);
    w_text(c, "nonce");
    w_bytes(c, 2, "", 0);
    check_claims(f, c, ARCA_ERR_DECODE, "nonce claim is not 1..64 bytes");
    c->len = 0;
    w_head(c, 5, 1);
    w_text(c, "pubkey-hash");
    w_head(c, 4, 2);
    w_text(c, "sha-256");
    w_bytes(c, 2, h, 33); /* declares 33, but the claims end one byte early */
    c->len--;
    check_claims(f, c, ARCA_ERR_DECODE, "claims are not well-formed CBOR within the limits");
    free(c);
}

static void test_verify_der_and_args(void **state)
{
    fixture *f = *state;
    arca_ratls_policy p = strict_policy(f);
    arca_ratls_result r;
    char msg[ARCA_RATLS_MSG_LEN];

    assert_int_equal(arca_ratls_cert_verify_der(f->der, f->der_len - 1, &p, &r, msg, sizeof msg), ARCA_ERR_DECODE);
    assert_string_equal(msg, "certificate is not exactly one DER X.509 certificate");
    uint8_t *longer = malloc(f->der_len + 1);
    assert_non_null(longer);
    memcpy(longer, f->der, f->der_len);
    longer[f->der_len] = 0;
    assert_int_equal(arca_ratls_cert_verify_der(longer, f->der_len + 1, &p, &r, msg, sizeof msg), ARCA_ERR_DECODE);
    free(longer);
    assert_int_equal(arca_ratls_cert_verify_der((const uint8_t *)"garbage", 7, &p, &r, msg, sizeof msg),
                     ARCA_ERR_DECODE);
    assert_int_equal(arca_ratls_cert_verify_der(f->der, ARCA_RATLS_MAX_CERT_LEN + 1, &p, &r, msg, sizeof msg),
                     ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_ratls_cert_verify_der(NULL, 10, &p, &r, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_cert_verify_der(f->der, f->der_len, NULL, &r, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_cert_verify(f->cert, &p, NULL, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_cert_verify(NULL, &p, &r, msg, sizeof msg), ARCA_ERR_ARGS);

    /* Creation arguments. */
    uint8_t *der = NULL;
    size_t der_len = 0;
    X509 *x = NULL;
    uint8_t long_nonce[ARCA_RATLS_MAX_NONCE_LEN + 1] = {0};
    char long_cn[ARCA_RATLS_MAX_CN_LEN + 2];
    memset(long_cn, 'a', sizeof long_cn - 1);
    long_cn[sizeof long_cn - 1] = '\0';
    const arca_ratls_cert_params bad[] = {
        {.subject_cn = NULL, .validity_secs = 60},
        {.subject_cn = "", .validity_secs = 60},
        {.subject_cn = long_cn, .validity_secs = 60},
        {.subject_cn = "x", .validity_secs = 0},
        {.subject_cn = "x", .validity_secs = ARCA_RATLS_MAX_VALIDITY_SECS + 1},
        {.subject_cn = "x", .validity_secs = 60, .nonce = long_nonce, .nonce_len = sizeof long_nonce},
        {.subject_cn = "x", .validity_secs = 60, .nonce = NULL, .nonce_len = 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(arca_ratls_cert_create(f->s, f->key, &bad[i], &x, &der, &der_len), ARCA_ERR_ARGS);
    assert_null(x);
    assert_null(der);
    const arca_ratls_cert_params ok = {.subject_cn = "x", .validity_secs = 60};
    assert_int_equal(arca_ratls_cert_create(f->s, f->key, &ok, NULL, NULL, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_cert_create(f->s, f->key, &ok, NULL, &der, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_cert_create(NULL, f->key, &ok, &x, NULL, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_cert_create(f->s, NULL, &ok, &x, NULL, NULL), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_cert_create(f->s, f->key, NULL, &x, NULL, NULL), ARCA_ERR_ARGS);
    /* A CN of exactly the maximum is fine. */
    long_cn[ARCA_RATLS_MAX_CN_LEN] = '\0';
    const arca_ratls_cert_params max_cn = {.subject_cn = long_cn, .validity_secs = 60};
    assert_int_equal(arca_ratls_cert_create(f->s, f->key, &max_cn, &x, NULL, NULL), ARCA_OK);
    assert_int_equal(arca_ratls_cert_verify(x, &p, &r, msg, sizeof msg), ARCA_OK);
    X509_free(x);
}

static void test_fresh_report_data(void **state)
{
    (void)state;
    const uint8_t nonce[] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint8_t exporter[32] = {0xEE};
    uint8_t out[64], want[64], other[64];

    uint8_t buf[128];
    size_t n = 0;
    memcpy(buf, "arca-fresh-v1", 13);
    n = 13;
    buf[n++] = 0;
    buf[n++] = sizeof nonce;
    memcpy(buf + n, nonce, sizeof nonce);
    n += sizeof nonce;
    buf[n++] = 0;
    buf[n++] = sizeof exporter;
    memcpy(buf + n, exporter, sizeof exporter);
    n += sizeof exporter;
    sha512(buf, n, want);
    assert_int_equal(arca_ratls_fresh_report_data(nonce, sizeof nonce, exporter, sizeof exporter, out), ARCA_OK);
    assert_memory_equal(out, want, 64);

    /* The split between nonce and exporter matters. */
    const uint8_t ab[] = {'a', 'b'}, c[] = {'c'}, a[] = {'a'}, bc[] = {'b', 'c'};
    assert_int_equal(arca_ratls_fresh_report_data(ab, 2, c, 1, out), ARCA_OK);
    assert_int_equal(arca_ratls_fresh_report_data(a, 1, bc, 2, other), ARCA_OK);
    assert_memory_not_equal(out, other, 64);
    /* Nonce and exporter are not interchangeable. */
    assert_int_equal(arca_ratls_fresh_report_data(c, 1, ab, 2, other), ARCA_OK);
    assert_memory_not_equal(out, other, 64);

    uint8_t big[ARCA_RATLS_MAX_EXPORTER_LEN + 1] = {0};
    assert_int_equal(arca_ratls_fresh_report_data(big, ARCA_RATLS_MAX_NONCE_LEN, big, ARCA_RATLS_MAX_EXPORTER_LEN, out),
                     ARCA_OK);
    assert_int_equal(arca_ratls_fresh_report_data(big, ARCA_RATLS_MAX_NONCE_LEN + 1, exporter, 32, out),
                     ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_ratls_fresh_report_data(nonce, 8, big, ARCA_RATLS_MAX_EXPORTER_LEN + 1, out),
                     ARCA_ERR_TOO_LARGE);
    assert_int_equal(arca_ratls_fresh_report_data(nonce, 0, exporter, 32, out), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_fresh_report_data(nonce, 8, exporter, 0, out), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_fresh_report_data(NULL, 8, exporter, 32, out), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_fresh_report_data(nonce, 8, NULL, 32, out), ARCA_ERR_ARGS);
    assert_int_equal(arca_ratls_fresh_report_data(nonce, 8, exporter, 32, NULL), ARCA_ERR_ARGS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_key_types_and_no_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openssl_parses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copied_extension_other_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_evidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extension_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_cbor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_der_and_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_report_data, NULL, NULL),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
