/* KMIP request handler tests: requests built with the TTLV encoder (and
 * some captured from PyKMIP's encoder, as hex), answered by a real
 * keystore on LMDB with dev sealing; responses decoded with the strict
 * TTLV decoder; effects checked independently with OpenSSL. */
#include "kmip_server.h" /* first: p11-kit's macros, see kmip_server.h */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "arca/kmip.h"
#include "arca/kms.h"
#include "arca/log.h"
#include "arca/sealing.h"
#include "arca/secret.h"
#include "arca/ttlv.h"
#include "store_lmdb.h"

#define ADMIN_PIN "admin-pin-1"
#define SO_PIN "so-pin-1"
#define USER_PIN "user-pin-1"

#define T(x) ARCA_KMIP_TAG_##x
#define OP(x) ARCA_KMIP_OP_##x
#define RR(x) ARCA_KMIP_REASON_##x

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
    arca_kms_session *sess; /* user of partition "p1" */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/arca-kmip-XXXXXX");
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
    assert_int_equal(arca_store_lmdb_open(f->store_dir, 256u << 20, ARCA_STORE_LMDB_CREATE, &f->lmdb), ARCA_OK);
    f->store = arca_store_lmdb_ops(f->lmdb);
    f->cfg.pin_hash_cost = 10;
    assert_int_equal(arca_kms_open(&f->cfg, f->sealing, f->store, &f->kms), ARCA_OK);
    arca_kms_session *admin;
    assert_int_equal(arca_kms_session_new(f->kms, &admin), ARCA_OK);
    assert_int_equal(arca_kms_initialise(f->kms, admin, ADMIN_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, admin, "p1", SO_PIN, USER_PIN), ARCA_OK);
    assert_int_equal(arca_kms_partition_create(f->kms, admin, "p2", SO_PIN, USER_PIN), ARCA_OK);
    arca_kms_session_free(admin);
    assert_int_equal(arca_kms_session_new(f->kms, &f->sess), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, f->sess, "p1", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    arca_kms_session_free(f->sess);
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

/* ---- Building requests --------------------------------------------------- */

typedef struct rq {
    arca_builder b;
    int major, minor;
    size_t msg_mark, item_mark, payload_mark;
    size_t stack[8];
    size_t depth;
    uint8_t *data;
    size_t len;
} rq;

static bool rq_v2(const rq *r)
{
    return r->major >= 2;
}

/* Header with version, batch count and optional extra fields. */
static void rq_begin_ex(rq *r, int major, int minor, int batch_count, int cont_option, const char *user,
                        const char *pass)
{
    size_t h, v;
    memset(r, 0, sizeof(*r));
    r->major = major;
    r->minor = minor;
    assert_int_equal(arca_builder_init(&r->b, 1024, 1u << 20), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&r->b, T(REQUEST_MESSAGE), &r->msg_mark), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&r->b, T(REQUEST_HEADER), &h), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&r->b, T(PROTOCOL_VERSION), &v), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&r->b, T(PROTOCOL_VERSION_MAJOR), major), ARCA_OK);
    assert_int_equal(arca_ttlv_add_int(&r->b, T(PROTOCOL_VERSION_MINOR), minor), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&r->b, v), ARCA_OK);
    if (user != NULL) {
        size_t a, c, cv;
        assert_int_equal(arca_ttlv_begin_struct(&r->b, T(AUTHENTICATION), &a), ARCA_OK);
        assert_int_equal(arca_ttlv_begin_struct(&r->b, T(CREDENTIAL), &c), ARCA_OK);
        assert_int_equal(arca_ttlv_add_enum(&r->b, T(CREDENTIAL_TYPE), ARCA_KMIP_CREDENTIAL_USERNAME_AND_PASSWORD),
                         ARCA_OK);
        assert_int_equal(arca_ttlv_begin_struct(&r->b, T(CREDENTIAL_VALUE), &cv), ARCA_OK);
        assert_int_equal(arca_ttlv_add_text(&r->b, T(USERNAME), user, strlen(user)), ARCA_OK);
        assert_int_equal(arca_ttlv_add_text(&r->b, T(PASSWORD), pass, strlen(pass)), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(&r->b, cv), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(&r->b, c), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(&r->b, a), ARCA_OK);
    }
    if (cont_option != 0) {
        assert_int_equal(arca_ttlv_add_enum(&r->b, T(BATCH_ERROR_CONTINUATION_OPTION), (uint32_t)cont_option), ARCA_OK);
    }
    assert_int_equal(arca_ttlv_add_int(&r->b, T(BATCH_COUNT), batch_count), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&r->b, h), ARCA_OK);
}

static void rq_begin(rq *r, int major, int minor)
{
    rq_begin_ex(r, major, minor, 1, 0, NULL, NULL);
}

static void rq_item(rq *r, uint32_t op, const char *batch_id)
{
    assert_int_equal(arca_ttlv_begin_struct(&r->b, T(BATCH_ITEM), &r->item_mark), ARCA_OK);
    assert_int_equal(arca_ttlv_add_enum(&r->b, T(OPERATION), op), ARCA_OK);
    if (batch_id != NULL) {
        assert_int_equal(arca_ttlv_add_bytes(&r->b, T(UNIQUE_BATCH_ITEM_ID), batch_id, strlen(batch_id)), ARCA_OK);
    }
    assert_int_equal(arca_ttlv_begin_struct(&r->b, T(REQUEST_PAYLOAD), &r->payload_mark), ARCA_OK);
}

static void rq_item_end(rq *r)
{
    assert_int_equal(arca_ttlv_end_struct(&r->b, r->payload_mark), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&r->b, r->item_mark), ARCA_OK);
}

static void rq_end(rq *r)
{
    assert_int_equal(arca_ttlv_end_struct(&r->b, r->msg_mark), ARCA_OK);
    assert_int_equal(arca_builder_finish(&r->b, &r->data, &r->len), ARCA_OK);
}

static void rq_free(rq *r)
{
    free(r->data);
    r->data = NULL;
}

static void push(rq *r, uint32_t tag)
{
    assert_true(r->depth < 8);
    assert_int_equal(arca_ttlv_begin_struct(&r->b, tag, &r->stack[r->depth++]), ARCA_OK);
}

static void pop(rq *r)
{
    assert_true(r->depth > 0);
    assert_int_equal(arca_ttlv_end_struct(&r->b, r->stack[--r->depth]), ARCA_OK);
}

static void add_enum(rq *r, uint32_t tag, uint32_t v)
{
    assert_int_equal(arca_ttlv_add_enum(&r->b, tag, v), ARCA_OK);
}

static void add_int(rq *r, uint32_t tag, int32_t v)
{
    assert_int_equal(arca_ttlv_add_int(&r->b, tag, v), ARCA_OK);
}

static void add_text(rq *r, uint32_t tag, const char *s)
{
    assert_int_equal(arca_ttlv_add_text(&r->b, tag, s, strlen(s)), ARCA_OK);
}

static void add_bytes(rq *r, uint32_t tag, const void *d, size_t n)
{
    assert_int_equal(arca_ttlv_add_bytes(&r->b, tag, d, n), ARCA_OK);
}

/* Attribute containers: 1.x Template-Attribute with Attribute structures,
 * 2.x Attributes with attributes by tag. */
static void attrs_begin(rq *r, uint32_t v1_tag, uint32_t v2_tag)
{
    push(r, rq_v2(r) ? v2_tag : v1_tag);
}

static void attr_head(rq *r, uint32_t tag, uint32_t *vtag)
{
    if (rq_v2(r)) {
        *vtag = tag;
        return;
    }
    push(r, T(ATTRIBUTE));
    add_text(r, T(ATTRIBUTE_NAME), arca_kmip_tag_name(tag));
    *vtag = T(ATTRIBUTE_VALUE);
}

static void attr_tail(rq *r)
{
    if (!rq_v2(r)) pop(r);
}

static void attr_enum(rq *r, uint32_t tag, uint32_t v)
{
    uint32_t vt;
    attr_head(r, tag, &vt);
    add_enum(r, vt, v);
    attr_tail(r);
}

static void attr_int(rq *r, uint32_t tag, int32_t v)
{
    uint32_t vt;
    attr_head(r, tag, &vt);
    add_int(r, vt, v);
    attr_tail(r);
}

static void attr_bool(rq *r, uint32_t tag, bool v)
{
    uint32_t vt;
    attr_head(r, tag, &vt);
    assert_int_equal(arca_ttlv_add_bool(&r->b, vt, v), ARCA_OK);
    attr_tail(r);
}

static void attr_datetime(rq *r, uint32_t tag, int64_t v)
{
    uint32_t vt;
    attr_head(r, tag, &vt);
    assert_int_equal(arca_ttlv_add_datetime(&r->b, vt, v), ARCA_OK);
    attr_tail(r);
}

static void attr_name(rq *r, const char *name)
{
    uint32_t vt;
    attr_head(r, T(NAME), &vt);
    push(r, vt);
    add_text(r, T(NAME_VALUE), name);
    add_enum(r, T(NAME_TYPE), ARCA_KMIP_NAME_UNINTERPRETED_TEXT_STRING);
    pop(r);
    attr_tail(r);
}

/* ---- Reading responses ------------------------------------------------------ */

typedef struct rs {
    uint8_t *data;
    size_t len;
    arca_ttlv_tree *tree;
    const arca_ttlv_node *root;
    int32_t major, minor, batch_count;
} rs;

static void rs_free(rs *s)
{
    arca_ttlv_free(s->tree);
    arca_secmem_free(s->data);
    memset(s, 0, sizeof(*s));
}

/* Send raw bytes; decode the response strictly and read its header. */
static void send_raw(fx *f, arca_kms_session *sess, const uint8_t *req, size_t req_len, rs *out)
{
    arca_builder b;
    arca_cursor c;
    const arca_ttlv_node *h, *v;
    memset(out, 0, sizeof(*out));
    assert_int_equal(arca_builder_init_secret(&b, 1024, 4u << 20), ARCA_OK);
    assert_int_equal(arca_kmip_handle(f->kms, sess, req, req_len, &b), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &out->data, &out->len), ARCA_OK);
    arca_cursor_init(&c, out->data, out->len);
    assert_int_equal(arca_ttlv_decode(&c, NULL, &out->tree), ARCA_OK);
    out->root = arca_ttlv_root(out->tree);
    assert_int_equal(out->root->tag, T(RESPONSE_MESSAGE));
    assert_int_equal(arca_ttlv_child(out->root, T(RESPONSE_HEADER), ARCA_TTLV_STRUCTURE, &h), ARCA_OK);
    assert_int_equal(arca_ttlv_child(h, T(PROTOCOL_VERSION), ARCA_TTLV_STRUCTURE, &v), ARCA_OK);
    assert_int_equal(arca_ttlv_child_int(v, T(PROTOCOL_VERSION_MAJOR), &out->major), ARCA_OK);
    assert_int_equal(arca_ttlv_child_int(v, T(PROTOCOL_VERSION_MINOR), &out->minor), ARCA_OK);
    assert_int_equal(arca_ttlv_child_int(h, T(BATCH_COUNT), &out->batch_count), ARCA_OK);
    assert_int_equal((size_t)out->batch_count, arca_ttlv_count(out->root, T(BATCH_ITEM)));
    assert_non_null(arca_ttlv_find(h, T(TIME_STAMP)));
}

static void send_rq(fx *f, arca_kms_session *sess, rq *r, rs *out)
{
    rq_end(r);
    send_raw(f, sess, r->data, r->len, out);
    rq_free(r);
    /* Every answer is in the request's version. */
    assert_int_equal(out->major, r->major);
    assert_int_equal(out->minor, r->minor);
}

static const arca_ttlv_node *item_at(const rs *s, size_t i)
{
    const arca_ttlv_node *it = arca_ttlv_find(s->root, T(BATCH_ITEM));
    for (size_t k = 0; k < i && it != NULL; k++) it = arca_ttlv_find_next(it);
    assert_non_null(it);
    return it;
}

/* The payload of a successful item. */
static const arca_ttlv_node *ok_payload(const rs *s, size_t i)
{
    const arca_ttlv_node *it = item_at(s, i), *p = NULL, *msg;
    uint32_t status = 99;
    assert_int_equal(arca_ttlv_child_enum(it, T(RESULT_STATUS), &status), ARCA_OK);
    if (status != ARCA_KMIP_STATUS_SUCCESS &&
        arca_ttlv_child(it, T(RESULT_MESSAGE), ARCA_TTLV_TEXT_STRING, &msg) == ARCA_OK) {
        fprintf(stderr, "unexpected failure: %.*s\n", (int)msg->len, (const char *)msg->data);
    }
    assert_int_equal(status, ARCA_KMIP_STATUS_SUCCESS);
    assert_int_equal(arca_ttlv_child(it, T(RESPONSE_PAYLOAD), ARCA_TTLV_STRUCTURE, &p), ARCA_OK);
    return p;
}

/* A failed item with exactly this reason and a non-empty message. */
static void expect_fail(const rs *s, size_t i, uint32_t reason)
{
    const arca_ttlv_node *it = item_at(s, i), *msg;
    uint32_t status = 99, r = 0;
    assert_int_equal(arca_ttlv_child_enum(it, T(RESULT_STATUS), &status), ARCA_OK);
    assert_int_equal(status, ARCA_KMIP_STATUS_OPERATION_FAILED);
    assert_int_equal(arca_ttlv_child_enum(it, T(RESULT_REASON), &r), ARCA_OK);
    if (r != reason && arca_ttlv_child(it, T(RESULT_MESSAGE), ARCA_TTLV_TEXT_STRING, &msg) == ARCA_OK) {
        fprintf(stderr, "reason %s: %.*s\n", arca_kmip_reason_name(r), (int)msg->len, (const char *)msg->data);
    }
    assert_int_equal(r, reason);
    assert_int_equal(arca_ttlv_child(it, T(RESULT_MESSAGE), ARCA_TTLV_TEXT_STRING, &msg), ARCA_OK);
    assert_true(msg->len > 0);
    assert_null(arca_ttlv_find(it, T(RESPONSE_PAYLOAD)));
}

static bool msg_has(const rs *s, size_t i, const char *needle)
{
    const arca_ttlv_node *msg;
    char buf[512];
    if (arca_ttlv_child(item_at(s, i), T(RESULT_MESSAGE), ARCA_TTLV_TEXT_STRING, &msg) != ARCA_OK) return false;
    snprintf(buf, sizeof(buf), "%.*s", (int)msg->len, (const char *)msg->data);
    return strstr(buf, needle) != NULL;
}

static void get_text(const arca_ttlv_node *p, uint32_t tag, char *out, size_t cap)
{
    const arca_ttlv_node *n;
    assert_int_equal(arca_ttlv_child(p, tag, ARCA_TTLV_TEXT_STRING, &n), ARCA_OK);
    assert_true(n->len < cap);
    memcpy(out, n->data, n->len);
    out[n->len] = '\0';
}

static const arca_ttlv_node *get_bytes(const arca_ttlv_node *p, uint32_t tag)
{
    const arca_ttlv_node *n;
    assert_int_equal(arca_ttlv_child(p, tag, ARCA_TTLV_BYTE_STRING, &n), ARCA_OK);
    return n;
}

static uint32_t get_enum(const arca_ttlv_node *p, uint32_t tag)
{
    uint32_t v = 0;
    assert_int_equal(arca_ttlv_child_enum(p, tag, &v), ARCA_OK);
    return v;
}

/* ---- Operation helpers --------------------------------------------------- */

#define UID_BUF 40

typedef struct sym_opts {
    uint32_t alg;
    int32_t len;
    int32_t usage; /* -1: not given */
    const char *name;
    int extractable, sensitive; /* -1: not given */
} sym_opts;

static void create_sym_rq(rq *r, const sym_opts *o)
{
    rq_item(r, OP(CREATE), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    attrs_begin(r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
    attr_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), o->alg);
    attr_int(r, T(CRYPTOGRAPHIC_LENGTH), o->len);
    if (o->usage >= 0) attr_int(r, T(CRYPTOGRAPHIC_USAGE_MASK), o->usage);
    if (o->name != NULL) attr_name(r, o->name);
    if (o->extractable >= 0) attr_bool(r, T(EXTRACTABLE), o->extractable != 0);
    if (o->sensitive >= 0) attr_bool(r, T(SENSITIVE), o->sensitive != 0);
    pop(r);
    rq_item_end(r);
}

/* KMIP Create makes a Pre-Active key. */
static void create_sym_pre(fx *f, int major, int minor, const sym_opts *o, char uid[UID_BUF])
{
    rq r;
    rs s;
    rq_begin(&r, major, minor);
    create_sym_rq(&r, o);
    send_rq(f, f->sess, &r, &s);
    const arca_ttlv_node *p = ok_payload(&s, 0);
    assert_int_equal(get_enum(p, T(OBJECT_TYPE)), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    get_text(p, T(UNIQUE_IDENTIFIER), uid, UID_BUF);
    assert_int_equal(strlen(uid), 32);
    rs_free(&s);
}

/* Activate (as PyKMIP clients do after Create); must succeed. */
static void activate(fx *f, int major, int minor, const char *uid)
{
    rq r;
    rs s;
    char got[UID_BUF];
    rq_begin(&r, major, minor);
    rq_item(&r, OP(ACTIVATE), NULL);
    add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), got, sizeof(got));
    assert_string_equal(got, uid);
    rs_free(&s);
}

/* Revoke with a reason code; a Compromise Occurrence Date when date != 0. */
static void revoke_rq(fx *f, int major, int minor, const char *uid, uint32_t code, int64_t date, rs *s)
{
    rq r;
    rq_begin(&r, major, minor);
    rq_item(&r, OP(REVOKE), NULL);
    if (uid != NULL) add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    push(&r, T(REVOCATION_REASON));
    add_enum(&r, T(REVOCATION_REASON_CODE), code);
    add_text(&r, T(REVOCATION_MESSAGE), "test");
    pop(&r);
    if (date != 0) assert_int_equal(arca_ttlv_add_datetime(&r.b, T(COMPROMISE_OCCURRENCE_DATE), date), ARCA_OK);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, s);
}

/* Revoke that must succeed. */
static void kmip_revoke_ok(fx *f, int major, int minor, const char *uid, uint32_t code, int64_t date)
{
    rs s;
    char got[UID_BUF];
    revoke_rq(f, major, minor, uid, code, date, &s);
    get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), got, sizeof(got));
    assert_string_equal(got, uid);
    rs_free(&s);
}

/* Create + Activate: a usable key. */
static void create_sym(fx *f, int major, int minor, const sym_opts *o, char uid[UID_BUF])
{
    create_sym_pre(f, major, minor, o, uid);
    activate(f, major, minor, uid);
}

static sym_opts aes(int32_t len, int32_t usage, const char *name)
{
    sym_opts o = {ARCA_KMIP_ALG_AES, len, usage, name, -1, -1};
    return o;
}

#define USAGE_ENC_DEC (ARCA_KMIP_USAGE_ENCRYPT | ARCA_KMIP_USAGE_DECRYPT)

/* Create Key Pair; curve 0 = none. */
static void create_pair(fx *f, int major, int minor, uint32_t alg, int32_t len, uint32_t curve, const char *name,
                        int32_t priv_usage, int32_t pub_usage, char priv[UID_BUF], char pub[UID_BUF])
{
    rq r;
    rs s;
    rq_begin(&r, major, minor);
    rq_item(&r, OP(CREATE_KEY_PAIR), NULL);
    attrs_begin(&r, T(COMMON_TEMPLATE_ATTRIBUTE), T(COMMON_ATTRIBUTES));
    attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), alg);
    if (len > 0) attr_int(&r, T(CRYPTOGRAPHIC_LENGTH), len);
    if (curve != 0) {
        uint32_t vt;
        attr_head(&r, T(CRYPTOGRAPHIC_DOMAIN_PARAMETERS), &vt);
        push(&r, vt);
        add_enum(&r, T(RECOMMENDED_CURVE), curve);
        pop(&r);
        attr_tail(&r);
    }
    if (name != NULL) attr_name(&r, name);
    pop(&r);
    attrs_begin(&r, T(PRIVATE_KEY_TEMPLATE_ATTRIBUTE), T(PRIVATE_KEY_ATTRIBUTES));
    if (priv_usage >= 0) attr_int(&r, T(CRYPTOGRAPHIC_USAGE_MASK), priv_usage);
    pop(&r);
    attrs_begin(&r, T(PUBLIC_KEY_TEMPLATE_ATTRIBUTE), T(PUBLIC_KEY_ATTRIBUTES));
    if (pub_usage >= 0) attr_int(&r, T(CRYPTOGRAPHIC_USAGE_MASK), pub_usage);
    pop(&r);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    const arca_ttlv_node *p = ok_payload(&s, 0);
    get_text(p, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), priv, UID_BUF);
    get_text(p, T(PUBLIC_KEY_UNIQUE_IDENTIFIER), pub, UID_BUF);
    assert_string_not_equal(priv, pub);
    rs_free(&s);
    activate(f, major, minor, priv);
    activate(f, major, minor, pub);
}

/* A request whose payload is just the Unique Identifier. */
static void uid_op(fx *f, arca_kms_session *sess, int major, int minor, uint32_t op, const char *uid, rs *s)
{
    rq r;
    rq_begin(&r, major, minor);
    rq_item(&r, op, NULL);
    if (uid != NULL) add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    rq_item_end(&r);
    send_rq(f, sess, &r, s);
}

/* Get a public key (X.509 SPKI) and load it with OpenSSL. */
static EVP_PKEY *get_public(fx *f, int major, int minor, const char *uid)
{
    rs s;
    const arca_ttlv_node *p, *obj, *kb, *kv, *km;
    uid_op(f, f->sess, major, minor, OP(GET), uid, &s);
    p = ok_payload(&s, 0);
    assert_int_equal(get_enum(p, T(OBJECT_TYPE)), ARCA_KMIP_OBJECT_PUBLIC_KEY);
    assert_int_equal(arca_ttlv_child(p, T(PUBLIC_KEY), ARCA_TTLV_STRUCTURE, &obj), ARCA_OK);
    assert_int_equal(arca_ttlv_child(obj, T(KEY_BLOCK), ARCA_TTLV_STRUCTURE, &kb), ARCA_OK);
    assert_int_equal(get_enum(kb, T(KEY_FORMAT_TYPE)), ARCA_KMIP_KEY_FORMAT_X_509);
    assert_int_equal(arca_ttlv_child(kb, T(KEY_VALUE), ARCA_TTLV_STRUCTURE, &kv), ARCA_OK);
    km = get_bytes(kv, T(KEY_MATERIAL));
    const unsigned char *d = km->data;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &d, (long)km->len);
    assert_non_null(pk);
    rs_free(&s);
    return pk;
}

static void add_cparams_begin(rq *r)
{
    push(r, T(CRYPTOGRAPHIC_PARAMETERS));
}

/* ---- Discover Versions, Query, RNG Retrieve -------------------------------- */

static void test_discover_versions(void **state)
{
    fx *f = *state;
    rq r;
    rs s;
    const arca_ttlv_node *p, *v;
    int32_t maj, min;

    /* No list: all of Arca's versions, highest first. */
    uid_op(f, f->sess, 1, 2, OP(DISCOVER_VERSIONS), NULL, &s);
    p = ok_payload(&s, 0);
    assert_int_equal(arca_ttlv_count(p, T(PROTOCOL_VERSION)), 5);
    v = arca_ttlv_find(p, T(PROTOCOL_VERSION));
    assert_int_equal(arca_ttlv_child_int(v, T(PROTOCOL_VERSION_MAJOR), &maj), ARCA_OK);
    assert_int_equal(arca_ttlv_child_int(v, T(PROTOCOL_VERSION_MINOR), &min), ARCA_OK);
    assert_int_equal(maj, 2);
    assert_int_equal(min, 1);
    rs_free(&s);

    /* The client's list, in its order, without what Arca does not speak. */
    rq_begin(&r, 2, 0);
    rq_item(&r, OP(DISCOVER_VERSIONS), NULL);
    const int vers[][2] = {{1, 4}, {3, 0}, {1, 2}, {1, 1}};
    for (size_t i = 0; i < 4; i++) {
        push(&r, T(PROTOCOL_VERSION));
        add_int(&r, T(PROTOCOL_VERSION_MAJOR), vers[i][0]);
        add_int(&r, T(PROTOCOL_VERSION_MINOR), vers[i][1]);
        pop(&r);
    }
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    p = ok_payload(&s, 0);
    assert_int_equal(arca_ttlv_count(p, T(PROTOCOL_VERSION)), 2);
    v = arca_ttlv_find(p, T(PROTOCOL_VERSION));
    assert_int_equal(arca_ttlv_child_int(v, T(PROTOCOL_VERSION_MINOR), &min), ARCA_OK);
    assert_int_equal(min, 4);
    v = arca_ttlv_find_next(v);
    assert_int_equal(arca_ttlv_child_int(v, T(PROTOCOL_VERSION_MINOR), &min), ARCA_OK);
    assert_int_equal(min, 2);
    rs_free(&s);

    /* A Protocol Version without its fields: Invalid Field. */
    rq_begin(&r, 1, 2);
    rq_item(&r, OP(DISCOVER_VERSIONS), NULL);
    push(&r, T(PROTOCOL_VERSION));
    add_int(&r, T(PROTOCOL_VERSION_MAJOR), 1);
    pop(&r);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    expect_fail(&s, 0, RR(INVALID_FIELD));
    rs_free(&s);
}

static void test_query_and_rng(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        rq r;
        rs s;
        const arca_ttlv_node *p;
        rq_begin(&r, versions[vi][0], versions[vi][1]);
        rq_item(&r, OP(QUERY), NULL);
        add_enum(&r, T(QUERY_FUNCTION), ARCA_KMIP_QUERY_OPERATIONS);
        add_enum(&r, T(QUERY_FUNCTION), ARCA_KMIP_QUERY_OBJECTS);
        add_enum(&r, T(QUERY_FUNCTION), ARCA_KMIP_QUERY_SERVER_INFORMATION);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        p = ok_payload(&s, 0);
        assert_int_equal(arca_ttlv_count(p, T(OPERATION)), kmip_num_supported_ops());
        assert_int_equal(kmip_num_supported_ops(), 25);
        bool have_create = false, have_mac = false, have_activate = false;
        for (const arca_ttlv_node *o = arca_ttlv_find(p, T(OPERATION)); o; o = arca_ttlv_find_next(o)) {
            have_create |= o->u32 == OP(CREATE);
            have_mac |= o->u32 == OP(MAC_VERIFY);
            have_activate |= o->u32 == OP(ACTIVATE);
        }
        assert_true(have_create && have_mac);
        assert_true(have_activate);
        assert_int_equal(arca_ttlv_count(p, T(OBJECT_TYPE)), 3);
        char vendor[16];
        get_text(p, T(VENDOR_IDENTIFICATION), vendor, sizeof(vendor));
        assert_string_equal(vendor, "Arca");
        rs_free(&s);

        /* RNG Retrieve: 48 bytes, two calls differ; 0 bytes refused. */
        uint8_t first[48];
        for (int k = 0; k < 2; k++) {
            rq_begin(&r, versions[vi][0], versions[vi][1]);
            rq_item(&r, OP(RNG_RETRIEVE), NULL);
            add_int(&r, T(DATA_LENGTH), 48);
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            const arca_ttlv_node *d = get_bytes(ok_payload(&s, 0), T(DATA));
            assert_int_equal(d->len, 48);
            if (k == 0) memcpy(first, d->data, 48);
            else assert_memory_not_equal(first, d->data, 48);
            rs_free(&s);
        }
        rq_begin(&r, versions[vi][0], versions[vi][1]);
        rq_item(&r, OP(RNG_RETRIEVE), NULL);
        add_int(&r, T(DATA_LENGTH), 0);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        rs_free(&s);
    }
}

/* ---- Create, Encrypt, Decrypt ---------------------------------------------- */

typedef struct enc_result {
    uint8_t ct[256];
    size_t ct_len;
    uint8_t iv[16];
    size_t iv_len;
    uint8_t tag[16];
    size_t tag_len;
} enc_result;

static void encrypt_rq(rq *r, const char *uid, uint32_t mode, const void *pt, size_t pt_len, const uint8_t *iv,
                       size_t iv_len)
{
    rq_item(r, OP(ENCRYPT), NULL);
    if (uid != NULL) add_text(r, T(UNIQUE_IDENTIFIER), uid);
    if (mode != 0) {
        add_cparams_begin(r);
        add_enum(r, T(BLOCK_CIPHER_MODE), mode);
        if (mode == ARCA_KMIP_MODE_CBC) add_enum(r, T(PADDING_METHOD), ARCA_KMIP_PADDING_PKCS5);
        pop(r);
    }
    add_bytes(r, T(DATA), pt, pt_len);
    if (iv != NULL) add_bytes(r, T(IV_COUNTER_NONCE), iv, iv_len);
    rq_item_end(r);
}

static void read_enc(const arca_ttlv_node *p, enc_result *e)
{
    const arca_ttlv_node *n;
    memset(e, 0, sizeof(*e));
    n = get_bytes(p, T(DATA));
    assert_true(n->len <= sizeof(e->ct));
    memcpy(e->ct, n->data, n->len);
    e->ct_len = n->len;
    if (arca_ttlv_child(p, T(IV_COUNTER_NONCE), ARCA_TTLV_BYTE_STRING, &n) == ARCA_OK) {
        memcpy(e->iv, n->data, n->len);
        e->iv_len = n->len;
    }
    if (arca_ttlv_child(p, T(AUTHENTICATED_ENCRYPTION_TAG), ARCA_TTLV_BYTE_STRING, &n) == ARCA_OK) {
        memcpy(e->tag, n->data, n->len);
        e->tag_len = n->len;
    }
}

static void decrypt(fx *f, int major, int minor, const char *uid, uint32_t mode, const enc_result *e, rs *s)
{
    rq r;
    rq_begin(&r, major, minor);
    rq_item(&r, OP(DECRYPT), NULL);
    add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    add_cparams_begin(&r);
    add_enum(&r, T(BLOCK_CIPHER_MODE), mode);
    if (mode == ARCA_KMIP_MODE_CBC) add_enum(&r, T(PADDING_METHOD), ARCA_KMIP_PADDING_PKCS5);
    pop(&r);
    add_bytes(&r, T(DATA), e->ct, e->ct_len);
    if (e->iv_len > 0) add_bytes(&r, T(IV_COUNTER_NONCE), e->iv, e->iv_len);
    if (e->tag_len > 0) add_bytes(&r, T(AUTHENTICATED_ENCRYPTION_TAG), e->tag, e->tag_len);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, s);
}

static void test_create_encrypt_decrypt(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {1, 4}, {2, 0}, {2, 1}};
    const char pt[] = "attack at dawn, bring KMIP";
    for (size_t vi = 0; vi < 4; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        bool tag_field = maj >= 2 || min >= 4;
        char uid[UID_BUF];
        sym_opts o = aes(256, USAGE_ENC_DEC, "kmip-aes");
        rq r;
        rs s;
        enc_result e;
        create_sym(f, maj, min, &o, uid);

        /* GCM, IV made by the enclave and returned. */
        rq_begin(&r, maj, min);
        encrypt_rq(&r, uid, ARCA_KMIP_MODE_GCM, pt, sizeof(pt), NULL, 0);
        send_rq(f, f->sess, &r, &s);
        read_enc(ok_payload(&s, 0), &e);
        rs_free(&s);
        assert_int_equal(e.iv_len, 12);
        if (tag_field) {
            assert_int_equal(e.tag_len, 16);
            assert_int_equal(e.ct_len, sizeof(pt));
        } else {
            assert_int_equal(e.tag_len, 0); /* 1.2 / 1.3: tag appended to Data */
            assert_int_equal(e.ct_len, sizeof(pt) + 16);
        }
        assert_memory_not_equal(e.ct, pt, sizeof(pt));
        decrypt(f, maj, min, uid, ARCA_KMIP_MODE_GCM, &e, &s);
        const arca_ttlv_node *d = get_bytes(ok_payload(&s, 0), T(DATA));
        assert_int_equal(d->len, sizeof(pt));
        assert_memory_equal(d->data, pt, sizeof(pt));
        rs_free(&s);

        /* A flipped ciphertext bit: Cryptographic Failure. */
        e.ct[0] ^= 1;
        decrypt(f, maj, min, uid, ARCA_KMIP_MODE_GCM, &e, &s);
        expect_fail(&s, 0, RR(CRYPTOGRAPHIC_FAILURE));
        assert_true(msg_has(&s, 0, "tag"));
        rs_free(&s);

        /* GCM decrypt without the IV. */
        e.iv_len = 0;
        decrypt(f, maj, min, uid, ARCA_KMIP_MODE_GCM, &e, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(MISSING_INITIALIZATION_VECTOR) : RR(INVALID_FIELD));
        rs_free(&s);

        /* CBC-PAD with a client IV, and with a server IV. */
        const uint8_t civ[16] = "0123456789abcdef";
        for (int k = 0; k < 2; k++) {
            rq_begin(&r, maj, min);
            encrypt_rq(&r, uid, ARCA_KMIP_MODE_CBC, pt, sizeof(pt), k == 0 ? civ : NULL, 16);
            send_rq(f, f->sess, &r, &s);
            read_enc(ok_payload(&s, 0), &e);
            rs_free(&s);
            assert_int_equal(e.ct_len, 32);
            if (k == 0) {
                assert_int_equal(e.iv_len, 0);
                memcpy(e.iv, civ, 16);
                e.iv_len = 16;
            } else {
                assert_int_equal(e.iv_len, 16);
            }
            decrypt(f, maj, min, uid, ARCA_KMIP_MODE_CBC, &e, &s);
            d = get_bytes(ok_payload(&s, 0), T(DATA));
            assert_int_equal(d->len, sizeof(pt));
            assert_memory_equal(d->data, pt, sizeof(pt));
            rs_free(&s);
        }

        /* Usage mask: an Encrypt-only key refuses Decrypt. */
        char enc_only[UID_BUF];
        o = aes(128, ARCA_KMIP_USAGE_ENCRYPT, NULL);
        create_sym(f, maj, min, &o, enc_only);
        rq_begin(&r, maj, min);
        encrypt_rq(&r, enc_only, ARCA_KMIP_MODE_GCM, pt, sizeof(pt), NULL, 0);
        send_rq(f, f->sess, &r, &s);
        read_enc(ok_payload(&s, 0), &e);
        rs_free(&s);
        decrypt(f, maj, min, enc_only, ARCA_KMIP_MODE_GCM, &e, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK) : RR(PERMISSION_DENIED));
        assert_true(msg_has(&s, 0, "Usage Mask"));
        rs_free(&s);

        /* Unsupported mode: ECB. */
        rq_begin(&r, maj, min);
        encrypt_rq(&r, uid, ARCA_KMIP_MODE_ECB, pt, sizeof(pt), NULL, 0);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS) : RR(CRYPTOGRAPHIC_FAILURE));
        rs_free(&s);
    }
}

static void test_create_errors(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        rq r;
        rs s;
        /* AES-200 is no AES key. */
        sym_opts o = aes(200, -1, NULL);
        rq_begin(&r, maj, min);
        create_sym_rq(&r, &o);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INVALID_ATTRIBUTE_VALUE) : RR(INVALID_FIELD));
        rs_free(&s);
        /* An algorithm Create does not make. */
        o = aes(256, -1, NULL);
        o.alg = ARCA_KMIP_ALG_TRIPLE_DES;
        rq_begin(&r, maj, min);
        create_sym_rq(&r, &o);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INVALID_ATTRIBUTE_VALUE) : RR(INVALID_FIELD));
        rs_free(&s);
        /* Missing required field: Object Type. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(CREATE), NULL);
        attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
        attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        attr_int(&r, T(CRYPTOGRAPHIC_LENGTH), 128);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        assert_true(msg_has(&s, 0, "Object Type"));
        rs_free(&s);
        /* Wrong field type: Object Type as an Integer. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(CREATE), NULL);
        add_int(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        assert_true(msg_has(&s, 0, "wrong type"));
        rs_free(&s);
        /* Wrong attribute value type: Cryptographic Length as Enumeration. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(CREATE), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
        attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        attr_enum(&r, T(CRYPTOGRAPHIC_LENGTH), 128);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INVALID_ATTRIBUTE_VALUE) : RR(INVALID_FIELD));
        rs_free(&s);
        /* Missing Cryptographic Length. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(CREATE), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
        attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        rs_free(&s);
        /* Create of a Private Key object: not Create's job. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(CREATE), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_PRIVATE_KEY);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INVALID_OBJECT_TYPE) : RR(INVALID_FIELD));
        rs_free(&s);
        /* An attribute Arca does not map. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(CREATE), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
        attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        attr_int(&r, T(CRYPTOGRAPHIC_LENGTH), 128);
        attr_int(&r, T(PROCESS_START_DATE), 5);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(UNSUPPORTED_ATTRIBUTE) : RR(INVALID_FIELD));
        rs_free(&s);
    }
}

/* ---- Key pairs, Sign, Signature Verify, RSA-OAEP ------------------------- */

/* Sign with the given parameters; returns the signature length. */
static size_t sign_with(fx *f, int maj, int min, const char *uid, uint32_t dsa, uint32_t pad, uint32_t hash,
                        const void *msg, size_t msg_len, uint8_t *sig, size_t cap)
{
    rq r;
    rs s;
    rq_begin(&r, maj, min);
    rq_item(&r, OP(SIGN), NULL);
    add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    if (dsa != 0 || pad != 0 || hash != 0) {
        add_cparams_begin(&r);
        if (pad != 0) add_enum(&r, T(PADDING_METHOD), pad);
        if (hash != 0) add_enum(&r, T(HASHING_ALGORITHM), hash);
        if (dsa != 0) add_enum(&r, T(DIGITAL_SIGNATURE_ALGORITHM), dsa);
        pop(&r);
    }
    add_bytes(&r, T(DATA), msg, msg_len);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    const arca_ttlv_node *sd = get_bytes(ok_payload(&s, 0), T(SIGNATURE_DATA));
    assert_true(sd->len <= cap);
    memcpy(sig, sd->data, sd->len);
    size_t n = sd->len;
    rs_free(&s);
    return n;
}

static uint32_t verify_with(fx *f, int maj, int min, const char *uid, uint32_t dsa, uint32_t pad, uint32_t hash,
                            const void *msg, size_t msg_len, const uint8_t *sig, size_t sig_len)
{
    rq r;
    rs s;
    rq_begin(&r, maj, min);
    rq_item(&r, OP(SIGNATURE_VERIFY), NULL);
    add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    if (dsa != 0 || pad != 0 || hash != 0) {
        add_cparams_begin(&r);
        if (pad != 0) add_enum(&r, T(PADDING_METHOD), pad);
        if (hash != 0) add_enum(&r, T(HASHING_ALGORITHM), hash);
        if (dsa != 0) add_enum(&r, T(DIGITAL_SIGNATURE_ALGORITHM), dsa);
        pop(&r);
    }
    add_bytes(&r, T(DATA), msg, msg_len);
    add_bytes(&r, T(SIGNATURE_DATA), sig, sig_len);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    uint32_t v = get_enum(ok_payload(&s, 0), T(VALIDITY_INDICATOR));
    rs_free(&s);
    return v;
}

/* Verify independently with OpenSSL. md NULL: one-shot (Ed25519). */
static bool ossl_verify(EVP_PKEY *pk, const EVP_MD *md, int pad, int saltlen, const void *msg, size_t msg_len,
                        const uint8_t *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pk), 1);
    if (pad != 0) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, pad), 1);
        if (pad == RSA_PKCS1_PSS_PADDING) assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen), 1);
    }
    int rc = EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len);
    EVP_MD_CTX_free(ctx);
    return rc == 1;
}

static void test_key_pairs_sign_verify(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    const char msg[] = "message to sign over KMIP";
    uint8_t sig[1024];
    size_t n;
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        char priv[UID_BUF], pub[UID_BUF];
        EVP_PKEY *pk;

        /* RSA-2048: PKCS#1 v1.5 SHA-256 (default), PSS SHA-384. */
        create_pair(f, maj, min, ARCA_KMIP_ALG_RSA, 2048, 0, "kmip-rsa", ARCA_KMIP_USAGE_SIGN | ARCA_KMIP_USAGE_DECRYPT,
                    ARCA_KMIP_USAGE_VERIFY | ARCA_KMIP_USAGE_ENCRYPT, priv, pub);
        pk = get_public(f, maj, min, pub);
        assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
        n = sign_with(f, maj, min, priv, 0, 0, 0, msg, sizeof(msg), sig, sizeof(sig));
        assert_int_equal(n, 256);
        assert_true(ossl_verify(pk, EVP_sha256(), RSA_PKCS1_PADDING, 0, msg, sizeof(msg), sig, n));
        assert_int_equal(verify_with(f, maj, min, pub, 0, 0, 0, msg, sizeof(msg), sig, n), ARCA_KMIP_VALIDITY_VALID);
        n = sign_with(f, maj, min, priv, ARCA_KMIP_SIG_SHA512_WITH_RSA, 0, 0, msg, sizeof(msg), sig, sizeof(sig));
        assert_true(ossl_verify(pk, EVP_sha512(), RSA_PKCS1_PADDING, 0, msg, sizeof(msg), sig, n));
        n = sign_with(f, maj, min, priv, 0, ARCA_KMIP_PADDING_PSS, ARCA_KMIP_HASH_SHA_384, msg, sizeof(msg), sig,
                      sizeof(sig));
        assert_true(ossl_verify(pk, EVP_sha384(), RSA_PKCS1_PSS_PADDING, 48, msg, sizeof(msg), sig, n));
        assert_int_equal(verify_with(f, maj, min, pub, 0, ARCA_KMIP_PADDING_PSS, ARCA_KMIP_HASH_SHA_384, msg,
                                     sizeof(msg), sig, n),
                         ARCA_KMIP_VALIDITY_VALID);
        sig[5] ^= 1;
        assert_int_equal(verify_with(f, maj, min, pub, 0, ARCA_KMIP_PADDING_PSS, ARCA_KMIP_HASH_SHA_384, msg,
                                     sizeof(msg), sig, n),
                         ARCA_KMIP_VALIDITY_INVALID);

        /* RSA-OAEP: encrypt with the public key, decrypt with the private. */
        {
            rq r;
            rs s;
            enc_result e;
            rq_begin(&r, maj, min);
            rq_item(&r, OP(ENCRYPT), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), pub);
            add_cparams_begin(&r);
            add_enum(&r, T(PADDING_METHOD), ARCA_KMIP_PADDING_OAEP);
            add_enum(&r, T(HASHING_ALGORITHM), ARCA_KMIP_HASH_SHA_256);
            pop(&r);
            add_bytes(&r, T(DATA), msg, sizeof(msg));
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            read_enc(ok_payload(&s, 0), &e);
            rs_free(&s);
            assert_int_equal(e.ct_len, 256);
            rq_begin(&r, maj, min);
            rq_item(&r, OP(DECRYPT), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), priv);
            add_bytes(&r, T(DATA), e.ct, e.ct_len); /* no parameters: RSA-OAEP SHA-256 */
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            const arca_ttlv_node *d = get_bytes(ok_payload(&s, 0), T(DATA));
            assert_int_equal(d->len, sizeof(msg));
            assert_memory_equal(d->data, msg, sizeof(msg));
            rs_free(&s);
            /* Sign with the public key: its usage mask has no Sign. */
            rq_begin(&r, maj, min);
            rq_item(&r, OP(SIGN), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), pub);
            add_bytes(&r, T(DATA), msg, sizeof(msg));
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            expect_fail(&s, 0, maj >= 2 ? RR(INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK) : RR(PERMISSION_DENIED));
            rs_free(&s);
            /* ECDSA parameters on an RSA key. */
            rq_begin(&r, maj, min);
            rq_item(&r, OP(SIGN), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), priv);
            add_cparams_begin(&r);
            add_enum(&r, T(DIGITAL_SIGNATURE_ALGORITHM), ARCA_KMIP_SIG_ECDSA_WITH_SHA256);
            pop(&r);
            add_bytes(&r, T(DATA), msg, sizeof(msg));
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            expect_fail(&s, 0, maj >= 2 ? RR(INVALID_OBJECT_TYPE) : RR(INVALID_FIELD));
            rs_free(&s);
        }
        EVP_PKEY_free(pk);

        /* EC P-256 by curve, P-384 by length: ECDSA. */
        create_pair(f, maj, min, ARCA_KMIP_ALG_EC, 0, ARCA_KMIP_CURVE_P_256, NULL, ARCA_KMIP_USAGE_SIGN,
                    ARCA_KMIP_USAGE_VERIFY, priv, pub);
        pk = get_public(f, maj, min, pub);
        n = sign_with(f, maj, min, priv, ARCA_KMIP_SIG_ECDSA_WITH_SHA256, 0, 0, msg, sizeof(msg), sig, sizeof(sig));
        assert_true(ossl_verify(pk, EVP_sha256(), 0, 0, msg, sizeof(msg), sig, n));
        assert_int_equal(verify_with(f, maj, min, pub, ARCA_KMIP_SIG_ECDSA_WITH_SHA256, 0, 0, msg, sizeof(msg), sig, n),
                         ARCA_KMIP_VALIDITY_VALID);
        sig[n - 1] ^= 1; /* a wrong s */
        assert_int_equal(verify_with(f, maj, min, pub, ARCA_KMIP_SIG_ECDSA_WITH_SHA256, 0, 0, msg, sizeof(msg), sig, n),
                         ARCA_KMIP_VALIDITY_INVALID);
        assert_int_equal(verify_with(f, maj, min, pub, ARCA_KMIP_SIG_ECDSA_WITH_SHA256, 0, 0, msg, sizeof(msg), sig, 7),
                         ARCA_KMIP_VALIDITY_INVALID); /* not DER at all */
        EVP_PKEY_free(pk);
        create_pair(f, maj, min, ARCA_KMIP_ALG_ECDSA, 384, 0, NULL, -1, -1, priv, pub);
        pk = get_public(f, maj, min, pub);
        assert_int_equal(EVP_PKEY_get_bits(pk), 384);
        n = sign_with(f, maj, min, priv, 0, 0, ARCA_KMIP_HASH_SHA_384, msg, sizeof(msg), sig, sizeof(sig));
        assert_true(ossl_verify(pk, EVP_sha384(), 0, 0, msg, sizeof(msg), sig, n));
        EVP_PKEY_free(pk);
    }

    /* Ed25519 (a KMIP 2.0 algorithm). */
    char priv[UID_BUF], pub[UID_BUF];
    create_pair(f, 2, 0, ARCA_KMIP_ALG_ED25519, 0, 0, "kmip-ed", -1, -1, priv, pub);
    EVP_PKEY *pk = get_public(f, 2, 0, pub);
    assert_int_equal(EVP_PKEY_get_id(pk), EVP_PKEY_ED25519);
    n = sign_with(f, 2, 0, priv, 0, 0, 0, msg, sizeof(msg), sig, sizeof(sig));
    assert_int_equal(n, 64);
    assert_true(ossl_verify(pk, NULL, 0, 0, msg, sizeof(msg), sig, n));
    assert_int_equal(verify_with(f, 2, 0, pub, 0, 0, 0, msg, sizeof(msg), sig, n), ARCA_KMIP_VALIDITY_VALID);
    EVP_PKEY_free(pk);

    /* Errors: RSA without a length, RSA-1024, an unsupported curve. */
    rq r;
    rs s;
    const struct {
        uint32_t alg;
        int32_t len;
        uint32_t curve;
        uint32_t reason_v2;
    } bad[] = {
        {ARCA_KMIP_ALG_RSA, 0, 0, RR(INVALID_FIELD)},
        {ARCA_KMIP_ALG_RSA, 1024, 0, RR(INVALID_ATTRIBUTE_VALUE)},
        {ARCA_KMIP_ALG_EC, 0, ARCA_KMIP_CURVE_P_192, RR(INVALID_ATTRIBUTE_VALUE)},
        {ARCA_KMIP_ALG_DSA, 2048, 0, RR(INVALID_ATTRIBUTE_VALUE)},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rq_begin(&r, 2, 0);
        rq_item(&r, OP(CREATE_KEY_PAIR), NULL);
        attrs_begin(&r, 0, T(COMMON_ATTRIBUTES));
        attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), bad[i].alg);
        if (bad[i].len) attr_int(&r, T(CRYPTOGRAPHIC_LENGTH), bad[i].len);
        if (bad[i].curve) attr_enum(&r, T(RECOMMENDED_CURVE), bad[i].curve);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, bad[i].reason_v2);
        rs_free(&s);
    }
}

/* ---- MAC, MAC Verify ------------------------------------------------------- */

static void test_mac(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    const char data[] = "data to authenticate";
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        char uid[UID_BUF];
        /* An extractable, non-sensitive HMAC key, so that OpenSSL can check. */
        sym_opts o = {ARCA_KMIP_ALG_HMAC_SHA384, 256, ARCA_KMIP_USAGE_MAC_GENERATE | ARCA_KMIP_USAGE_MAC_VERIFY,
                      "kmip-hmac", 1, 0};
        create_sym(f, maj, min, &o, uid);
        rq r;
        rs s;
        uint8_t key[32], mac[64], expect[64];
        size_t mac_len, expect_len = sizeof(expect);

        uid_op(f, f->sess, maj, min, OP(GET), uid, &s);
        const arca_ttlv_node *p = ok_payload(&s, 0), *obj, *kb, *kv;
        assert_int_equal(arca_ttlv_child(p, T(SYMMETRIC_KEY), ARCA_TTLV_STRUCTURE, &obj), ARCA_OK);
        assert_int_equal(arca_ttlv_child(obj, T(KEY_BLOCK), ARCA_TTLV_STRUCTURE, &kb), ARCA_OK);
        assert_int_equal(arca_ttlv_child(kb, T(KEY_VALUE), ARCA_TTLV_STRUCTURE, &kv), ARCA_OK);
        const arca_ttlv_node *km = get_bytes(kv, T(KEY_MATERIAL));
        assert_int_equal(km->len, 32);
        memcpy(key, km->data, 32);
        rs_free(&s);

        const uint32_t algs[] = {ARCA_KMIP_ALG_HMAC_SHA256, ARCA_KMIP_ALG_HMAC_SHA384, ARCA_KMIP_ALG_HMAC_SHA512};
        const char *mds[] = {"SHA256", "SHA384", "SHA512"};
        for (size_t a = 0; a < 3; a++) {
            rq_begin(&r, maj, min);
            rq_item(&r, OP(MAC), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), uid);
            add_cparams_begin(&r);
            add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), algs[a]);
            pop(&r);
            add_bytes(&r, T(DATA), data, sizeof(data));
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            const arca_ttlv_node *m = get_bytes(ok_payload(&s, 0), T(MAC_DATA));
            mac_len = m->len;
            memcpy(mac, m->data, m->len);
            rs_free(&s);
            expect_len = sizeof(expect);
            assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, mds[a], NULL, key, 32, (const unsigned char *)data,
                                      sizeof(data), expect, sizeof(expect), &expect_len));
            assert_int_equal(mac_len, expect_len);
            assert_memory_equal(mac, expect, mac_len);

            for (int bad = 0; bad < 2; bad++) {
                if (bad) mac[0] ^= 1;
                rq_begin(&r, maj, min);
                rq_item(&r, OP(MAC_VERIFY), NULL);
                add_text(&r, T(UNIQUE_IDENTIFIER), uid);
                add_cparams_begin(&r);
                add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), algs[a]);
                pop(&r);
                add_bytes(&r, T(DATA), data, sizeof(data));
                add_bytes(&r, T(MAC_DATA), mac, mac_len);
                rq_item_end(&r);
                send_rq(f, f->sess, &r, &s);
                assert_int_equal(get_enum(ok_payload(&s, 0), T(VALIDITY_INDICATOR)),
                                 bad ? ARCA_KMIP_VALIDITY_INVALID : ARCA_KMIP_VALIDITY_VALID);
                rs_free(&s);
            }
        }
        /* MAC with a key whose mask lacks MAC Generate. */
        char enc_only[UID_BUF];
        o = aes(256, ARCA_KMIP_USAGE_ENCRYPT, NULL);
        create_sym(f, maj, min, &o, enc_only);
        rq_begin(&r, maj, min);
        rq_item(&r, OP(MAC), NULL);
        add_text(&r, T(UNIQUE_IDENTIFIER), enc_only);
        add_bytes(&r, T(DATA), data, sizeof(data));
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK) : RR(PERMISSION_DENIED));
        rs_free(&s);
        OPENSSL_cleanse(key, sizeof(key));
    }
}

/* ---- Register, Get (plain and wrapped) ------------------------------------- */

static void register_sym(fx *f, int maj, int min, const uint8_t *key, size_t key_len, bool transparent,
                         int32_t usage, bool extractable, bool sensitive, const char *name, char uid[UID_BUF])
{
    rq r;
    rs s;
    rq_begin(&r, maj, min);
    rq_item(&r, OP(REGISTER), NULL);
    add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
    attr_int(&r, T(CRYPTOGRAPHIC_USAGE_MASK), usage);
    attr_bool(&r, T(EXTRACTABLE), extractable);
    attr_bool(&r, T(SENSITIVE), sensitive);
    if (name != NULL) attr_name(&r, name);
    pop(&r);
    push(&r, T(SYMMETRIC_KEY));
    push(&r, T(KEY_BLOCK));
    add_enum(&r, T(KEY_FORMAT_TYPE), transparent ? ARCA_KMIP_KEY_FORMAT_TRANSPARENT_SYMMETRIC_KEY
                                                 : ARCA_KMIP_KEY_FORMAT_RAW);
    push(&r, T(KEY_VALUE));
    if (transparent) {
        push(&r, T(KEY_MATERIAL));
        add_bytes(&r, T(KEY), key, key_len);
        pop(&r);
    } else {
        add_bytes(&r, T(KEY_MATERIAL), key, key_len);
    }
    pop(&r);
    add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    add_int(&r, T(CRYPTOGRAPHIC_LENGTH), (int32_t)key_len * 8);
    pop(&r);
    pop(&r);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), uid, UID_BUF);
    rs_free(&s);
    activate(f, maj, min, uid);
}

/* Get a key; returns the Key Block. */
static const arca_ttlv_node *key_block(const arca_ttlv_node *p, uint32_t obj_tag)
{
    const arca_ttlv_node *obj, *kb;
    assert_int_equal(arca_ttlv_child(p, obj_tag, ARCA_TTLV_STRUCTURE, &obj), ARCA_OK);
    assert_int_equal(arca_ttlv_child(obj, T(KEY_BLOCK), ARCA_TTLV_STRUCTURE, &kb), ARCA_OK);
    return kb;
}

static void get_wrapped_rq(rq *r, const char *uid, const char *wrapping_uid, uint32_t mode)
{
    rq_item(r, OP(GET), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    push(r, T(KEY_WRAPPING_SPECIFICATION));
    add_enum(r, T(WRAPPING_METHOD), ARCA_KMIP_WRAP_ENCRYPT);
    push(r, T(ENCRYPTION_KEY_INFORMATION));
    add_text(r, T(UNIQUE_IDENTIFIER), wrapping_uid);
    if (mode != 0) {
        add_cparams_begin(r);
        add_enum(r, T(BLOCK_CIPHER_MODE), mode);
        pop(r);
    }
    pop(r);
    pop(r);
    rq_item_end(r);
}

static void test_register_get(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {1, 4}, {2, 0}};
    uint8_t kek[32], key[32], ec_der[256];
    for (size_t vi = 0; vi < 3; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        char plain[UID_BUF], sens[UID_BUF], local[UID_BUF], wrapper[UID_BUF];
        rq r;
        rs s;
        assert_int_equal(RAND_bytes(kek, sizeof(kek)), 1);
        assert_int_equal(RAND_bytes(key, sizeof(key)), 1);

        /* Extractable, not sensitive: Get returns the registered bytes. */
        register_sym(f, maj, min, key, 32, vi == 2, USAGE_ENC_DEC, true, false, "imported", plain);
        for (int k = 0; k < 2; k++) {
            rq_begin(&r, maj, min);
            rq_item(&r, OP(GET), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), plain);
            if (k == 1) add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_TRANSPARENT_SYMMETRIC_KEY);
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            const arca_ttlv_node *p = ok_payload(&s, 0), *kb, *kv, *km;
            char got[UID_BUF];
            get_text(p, T(UNIQUE_IDENTIFIER), got, sizeof(got));
            assert_string_equal(got, plain);
            kb = key_block(p, T(SYMMETRIC_KEY));
            assert_int_equal(get_enum(kb, T(CRYPTOGRAPHIC_ALGORITHM)), ARCA_KMIP_ALG_AES);
            assert_int_equal(arca_ttlv_child(kb, T(KEY_VALUE), ARCA_TTLV_STRUCTURE, &kv), ARCA_OK);
            if (k == 0) {
                assert_int_equal(get_enum(kb, T(KEY_FORMAT_TYPE)), ARCA_KMIP_KEY_FORMAT_RAW);
                km = get_bytes(kv, T(KEY_MATERIAL));
            } else {
                assert_int_equal(arca_ttlv_child(kv, T(KEY_MATERIAL), ARCA_TTLV_STRUCTURE, &km), ARCA_OK);
                km = get_bytes(km, T(KEY));
            }
            assert_int_equal(km->len, 32);
            assert_memory_equal(km->data, key, 32);
            rs_free(&s);
        }
        /* A key format symmetric keys do not have. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(GET), NULL);
        add_text(&r, T(UNIQUE_IDENTIFIER), plain);
        add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_PKCS_8);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, RR(KEY_FORMAT_TYPE_NOT_SUPPORTED));
        rs_free(&s);

        /* Extractable but sensitive: no plaintext; wrapped export works. */
        register_sym(f, maj, min, key, 32, false, USAGE_ENC_DEC, true, true, NULL, sens);
        uid_op(f, f->sess, maj, min, OP(GET), sens, &s);
        expect_fail(&s, 0, (maj >= 2 || min >= 4) ? RR(SENSITIVE) : RR(PERMISSION_DENIED));
        assert_true(msg_has(&s, 0, "Key Wrapping Specification"));
        rs_free(&s);

        /* Generated keys are not extractable by default: Not Extractable. */
        sym_opts o = aes(256, USAGE_ENC_DEC, NULL);
        create_sym(f, maj, min, &o, local);
        uid_op(f, f->sess, maj, min, OP(GET), local, &s);
        expect_fail(&s, 0, (maj >= 2 || min >= 4) ? RR(NOT_EXTRACTABLE) : RR(PERMISSION_DENIED));
        assert_true(msg_has(&s, 0, "not extractable"));
        rs_free(&s);

        /* The wrapping key (a registered KEK with Wrap Key). */
        register_sym(f, maj, min, kek, 32, false, ARCA_KMIP_USAGE_WRAP_KEY | ARCA_KMIP_USAGE_UNWRAP_KEY, false, true,
                     NULL, wrapper);
        const uint32_t modes[] = {0, ARCA_KMIP_MODE_NIST_KEY_WRAP, ARCA_KMIP_MODE_AES_KEY_WRAP_PADDING};
        for (size_t m = 0; m < 3; m++) {
            rq_begin(&r, maj, min);
            get_wrapped_rq(&r, sens, wrapper, modes[m]);
            send_rq(f, f->sess, &r, &s);
            const arca_ttlv_node *p = ok_payload(&s, 0), *kb = key_block(p, T(SYMMETRIC_KEY)), *kwd, *eki;
            const arca_ttlv_node *wrapped = get_bytes(kb, T(KEY_VALUE));
            assert_int_equal(get_enum(kb, T(KEY_FORMAT_TYPE)), ARCA_KMIP_KEY_FORMAT_RAW);
            assert_int_equal(arca_ttlv_child(kb, T(KEY_WRAPPING_DATA), ARCA_TTLV_STRUCTURE, &kwd), ARCA_OK);
            assert_int_equal(get_enum(kwd, T(WRAPPING_METHOD)), ARCA_KMIP_WRAP_ENCRYPT);
            assert_int_equal(arca_ttlv_child(kwd, T(ENCRYPTION_KEY_INFORMATION), ARCA_TTLV_STRUCTURE, &eki), ARCA_OK);
            char w[UID_BUF];
            get_text(eki, T(UNIQUE_IDENTIFIER), w, sizeof(w));
            assert_string_equal(w, wrapper);
            /* Unwrap independently with OpenSSL: the registered key comes out. */
            const EVP_CIPHER *ciph = modes[m] == ARCA_KMIP_MODE_AES_KEY_WRAP_PADDING ? EVP_aes_256_wrap_pad()
                                                                                     : EVP_aes_256_wrap();
            EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
            uint8_t outb[64];
            int outl = 0, finl = 0;
            assert_int_equal(EVP_DecryptInit_ex(ctx, ciph, NULL, kek, NULL), 1);
            assert_int_equal(EVP_DecryptUpdate(ctx, outb, &outl, wrapped->data, (int)wrapped->len), 1);
            assert_int_equal(EVP_DecryptFinal_ex(ctx, outb + outl, &finl), 1);
            EVP_CIPHER_CTX_free(ctx);
            assert_int_equal(outl + finl, 32);
            assert_memory_equal(outb, key, 32);
            rs_free(&s);
        }
        /* Wrapped export of a non-extractable key: Not Extractable. */
        rq_begin(&r, maj, min);
        get_wrapped_rq(&r, local, wrapper, 0);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, (maj >= 2 || min >= 4) ? RR(NOT_EXTRACTABLE) : RR(PERMISSION_DENIED));
        rs_free(&s);
        /* A wrapping key without Wrap Key in its mask. */
        rq_begin(&r, maj, min);
        get_wrapped_rq(&r, sens, local, 0);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK) : RR(PERMISSION_DENIED));
        rs_free(&s);
        /* A wrapping key that does not exist. */
        rq_begin(&r, maj, min);
        get_wrapped_rq(&r, sens, "00000000000000000000000000000000", 0);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(WRAPPING_OBJECT_NOT_FOUND) : RR(ITEM_NOT_FOUND));
        rs_free(&s);

        /* A PKCS#8 private key (EC P-256, made by OpenSSL): sign with it
         * through KMIP, verify with OpenSSL's own copy. */
        EVP_PKEY *ec = EVP_EC_gen("P-256");
        assert_non_null(ec);
        unsigned char *der = NULL;
        int der_len = i2d_PrivateKey(ec, &der);
        assert_true(der_len > 0 && (size_t)der_len <= sizeof(ec_der));
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(ec);
        OPENSSL_free(der);
        der = NULL;
        der_len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
        PKCS8_PRIV_KEY_INFO_free(p8);
        memcpy(ec_der, der, (size_t)der_len);
        OPENSSL_clear_free(der, (size_t)der_len);
        char ecpriv[UID_BUF];
        rq_begin(&r, maj, min);
        rq_item(&r, OP(REGISTER), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_PRIVATE_KEY);
        attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
        attr_int(&r, T(CRYPTOGRAPHIC_USAGE_MASK), ARCA_KMIP_USAGE_SIGN);
        pop(&r);
        push(&r, T(PRIVATE_KEY));
        push(&r, T(KEY_BLOCK));
        add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_PKCS_8);
        push(&r, T(KEY_VALUE));
        add_bytes(&r, T(KEY_MATERIAL), ec_der, (size_t)der_len);
        pop(&r);
        add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_ECDSA);
        pop(&r);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), ecpriv, sizeof(ecpriv));
        rs_free(&s);
        activate(f, maj, min, ecpriv); /* Register makes Pre-Active objects */
        OPENSSL_cleanse(ec_der, sizeof(ec_der));
        const char msg[] = "signed by an imported key";
        uint8_t sig[256];
        size_t n = sign_with(f, maj, min, ecpriv, ARCA_KMIP_SIG_ECDSA_WITH_SHA256, 0, 0, msg, sizeof(msg), sig,
                             sizeof(sig));
        assert_true(ossl_verify(ec, EVP_sha256(), 0, 0, msg, sizeof(msg), sig, n));
        EVP_PKEY_free(ec);
        /* Private keys never leave in the clear: imported keys are
         * unextractable by default. */
        uid_op(f, f->sess, maj, min, OP(GET), ecpriv, &s);
        expect_fail(&s, 0, (maj >= 2 || min >= 4) ? RR(NOT_EXTRACTABLE) : RR(PERMISSION_DENIED));
        rs_free(&s);

        /* Register errors: garbage PKCS#8, wrong format, 17-byte AES key. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(REGISTER), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_PRIVATE_KEY);
        push(&r, T(PRIVATE_KEY));
        push(&r, T(KEY_BLOCK));
        add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_PKCS_8);
        push(&r, T(KEY_VALUE));
        add_bytes(&r, T(KEY_MATERIAL), "not a key", 9);
        pop(&r);
        pop(&r);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INVALID_ATTRIBUTE_VALUE) : RR(INVALID_FIELD));
        rs_free(&s);
        rq_begin(&r, maj, min);
        rq_item(&r, OP(REGISTER), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        push(&r, T(SYMMETRIC_KEY));
        push(&r, T(KEY_BLOCK));
        add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_PKCS_1);
        push(&r, T(KEY_VALUE));
        add_bytes(&r, T(KEY_MATERIAL), key, 16);
        pop(&r);
        add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        pop(&r);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, RR(KEY_FORMAT_TYPE_NOT_SUPPORTED));
        rs_free(&s);
        char dummy[UID_BUF];
        (void)dummy;
        rq_begin(&r, maj, min);
        rq_item(&r, OP(REGISTER), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        push(&r, T(SYMMETRIC_KEY));
        push(&r, T(KEY_BLOCK));
        add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_RAW);
        push(&r, T(KEY_VALUE));
        add_bytes(&r, T(KEY_MATERIAL), key, 17);
        pop(&r);
        add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        pop(&r);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INVALID_ATTRIBUTE_VALUE) : RR(INVALID_FIELD));
        rs_free(&s);
        OPENSSL_cleanse(key, sizeof(key));
        OPENSSL_cleanse(kek, sizeof(kek));
    }
}

/* ---- Locate ------------------------------------------------------------------ */

static size_t locate(fx *f, int maj, int min, const char *name, int32_t object_type, int32_t alg, int32_t max_items,
                     int32_t offset, int32_t *located, char uids[][UID_BUF], size_t cap)
{
    rq r;
    rs s;
    rq_begin(&r, maj, min);
    rq_item(&r, OP(LOCATE), NULL);
    if (max_items >= 0) add_int(&r, T(MAXIMUM_ITEMS), max_items);
    if (offset >= 0) add_int(&r, T(OFFSET_ITEMS), offset);
    if (rq_v2(&r)) push(&r, T(ATTRIBUTES));
    if (name != NULL) attr_name(&r, name);
    if (object_type >= 0) attr_enum(&r, T(OBJECT_TYPE), (uint32_t)object_type);
    if (alg >= 0) attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), (uint32_t)alg);
    if (rq_v2(&r)) pop(&r);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    const arca_ttlv_node *p = ok_payload(&s, 0);
    int32_t li = -1;
    if (arca_ttlv_find(p, T(LOCATED_ITEMS)) != NULL) {
        assert_int_equal(arca_ttlv_child_int(p, T(LOCATED_ITEMS), &li), ARCA_OK);
    }
    if (located != NULL) *located = li;
    size_t n = 0;
    for (const arca_ttlv_node *u = arca_ttlv_find(p, T(UNIQUE_IDENTIFIER)); u; u = arca_ttlv_find_next(u)) {
        if (n < cap) {
            memcpy(uids[n], u->data, u->len);
            uids[n][u->len] = '\0';
        }
        n++;
    }
    rs_free(&s);
    return n;
}

static void test_locate(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {1, 3}, {2, 0}};
    for (size_t vi = 0; vi < 3; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        char a1[UID_BUF], a2[UID_BUF], b1[UID_BUF], priv[UID_BUF], pub[UID_BUF], found[8][UID_BUF];
        char na[32], nb[32], np[32];
        int32_t located;
        snprintf(na, sizeof(na), "loc-a-%zu", vi);
        snprintf(nb, sizeof(nb), "loc-b-%zu", vi);
        snprintf(np, sizeof(np), "loc-p-%zu", vi);
        sym_opts o = aes(128, USAGE_ENC_DEC, na);
        create_sym(f, maj, min, &o, a1);
        o = aes(256, USAGE_ENC_DEC, na);
        create_sym(f, maj, min, &o, a2);
        o = (sym_opts){ARCA_KMIP_ALG_HMAC_SHA256, 256, -1, nb, -1, -1};
        create_sym(f, maj, min, &o, b1);
        create_pair(f, maj, min, ARCA_KMIP_ALG_EC, 256, 0, np, -1, -1, priv, pub);

        size_t n = locate(f, maj, min, na, -1, -1, -1, -1, &located, found, 8);
        assert_int_equal(n, 2);
        assert_true((strcmp(found[0], a1) == 0 && strcmp(found[1], a2) == 0) ||
                    (strcmp(found[0], a2) == 0 && strcmp(found[1], a1) == 0));
        assert_int_equal(located, (maj >= 2 || min >= 3) ? 2 : -1);
        /* Maximum Items and Offset Items page through. */
        char page[2][UID_BUF];
        assert_int_equal(locate(f, maj, min, na, -1, -1, 1, -1, &located, found, 8), 1);
        strcpy(page[0], found[0]);
        assert_int_equal(locate(f, maj, min, na, -1, -1, 1, 1, &located, found, 8), 1);
        strcpy(page[1], found[0]);
        assert_string_not_equal(page[0], page[1]);
        assert_int_equal(locate(f, maj, min, na, -1, -1, 5, 2, &located, found, 8), 0);
        /* By name and type / algorithm. */
        assert_int_equal(locate(f, maj, min, nb, ARCA_KMIP_OBJECT_SYMMETRIC_KEY, -1, -1, -1, NULL, found, 8), 1);
        assert_string_equal(found[0], b1);
        assert_int_equal(locate(f, maj, min, na, -1, ARCA_KMIP_ALG_HMAC_SHA256, -1, -1, NULL, found, 8), 0);
        assert_int_equal(locate(f, maj, min, np, ARCA_KMIP_OBJECT_PRIVATE_KEY, -1, -1, -1, NULL, found, 8), 1);
        assert_string_equal(found[0], priv);
        assert_int_equal(locate(f, maj, min, np, ARCA_KMIP_OBJECT_PUBLIC_KEY, -1, -1, -1, NULL, found, 8), 1);
        assert_string_equal(found[0], pub);
        assert_int_equal(locate(f, maj, min, np, -1, maj >= 2 ? ARCA_KMIP_ALG_EC : ARCA_KMIP_ALG_ECDSA, -1, -1, NULL,
                                found, 8),
                         2);
        assert_int_equal(locate(f, maj, min, np, ARCA_KMIP_OBJECT_CERTIFICATE, -1, -1, -1, NULL, found, 8), 0);
        assert_int_equal(locate(f, maj, min, "no-such-name", -1, -1, -1, -1, NULL, found, 8), 0);
    }
    /* Without a name: all objects of the partition of that type. */
    char found[64][UID_BUF];
    size_t n = locate(f, 2, 0, NULL, ARCA_KMIP_OBJECT_PRIVATE_KEY, -1, -1, -1, NULL, found, 64);
    assert_int_equal(n, 3);
}

/* ---- Get Attributes, Get Attribute List ------------------------------------ */

/* Find attribute tag in a Get Attributes payload (either version). */
static const arca_ttlv_node *attr_value(const arca_ttlv_node *p, bool v2, uint32_t tag)
{
    if (v2) {
        const arca_ttlv_node *a;
        if (arca_ttlv_child(p, T(ATTRIBUTES), ARCA_TTLV_STRUCTURE, &a) != ARCA_OK) return NULL;
        return arca_ttlv_find(a, tag);
    }
    const char *name = arca_kmip_tag_name(tag);
    for (const arca_ttlv_node *a = arca_ttlv_find(p, T(ATTRIBUTE)); a; a = arca_ttlv_find_next(a)) {
        const arca_ttlv_node *n;
        if (arca_ttlv_child(a, T(ATTRIBUTE_NAME), ARCA_TTLV_TEXT_STRING, &n) == ARCA_OK && n->len == strlen(name) &&
            memcmp(n->data, name, n->len) == 0) {
            return arca_ttlv_find(a, T(ATTRIBUTE_VALUE));
        }
    }
    return NULL;
}

static void test_get_attributes(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        bool v2 = maj >= 2;
        char uid[UID_BUF], priv[UID_BUF], pub[UID_BUF];
        rq r;
        rs s;
        sym_opts o = aes(256, USAGE_ENC_DEC | ARCA_KMIP_USAGE_WRAP_KEY, "attr-key");
        create_sym(f, maj, min, &o, uid);

        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), uid, &s);
        const arca_ttlv_node *p = ok_payload(&s, 0), *v;
        char got[UID_BUF];
        get_text(p, T(UNIQUE_IDENTIFIER), got, sizeof(got));
        assert_string_equal(got, uid);
        assert_non_null(v = attr_value(p, v2, T(OBJECT_TYPE)));
        assert_int_equal(v->u32, ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        assert_non_null(v = attr_value(p, v2, T(CRYPTOGRAPHIC_ALGORITHM)));
        assert_int_equal(v->u32, ARCA_KMIP_ALG_AES);
        assert_non_null(v = attr_value(p, v2, T(CRYPTOGRAPHIC_LENGTH)));
        assert_int_equal(v->i64, 256);
        assert_non_null(v = attr_value(p, v2, T(CRYPTOGRAPHIC_USAGE_MASK)));
        assert_int_equal(v->i64, USAGE_ENC_DEC | ARCA_KMIP_USAGE_WRAP_KEY);
        assert_non_null(v = attr_value(p, v2, T(STATE)));
        assert_int_equal(v->u32, ARCA_KMIP_STATE_ACTIVE);
        assert_non_null(v = attr_value(p, v2, T(NAME)));
        char name[32];
        get_text(v, T(NAME_VALUE), name, sizeof(name));
        assert_string_equal(name, "attr-key");
        assert_non_null(v = attr_value(p, v2, T(UNIQUE_IDENTIFIER)));
        /* Sensitive & co. are returned only on request. */
        assert_null(attr_value(p, v2, T(SENSITIVE)));
        rs_free(&s);
        rq_begin(&r, maj, min);
        rq_item(&r, OP(GET_ATTRIBUTES), NULL);
        add_text(&r, T(UNIQUE_IDENTIFIER), uid);
        const uint32_t flags[] = {T(SENSITIVE), T(EXTRACTABLE), T(ALWAYS_SENSITIVE), T(NEVER_EXTRACTABLE)};
        for (size_t k = 0; k < 4; k++) {
            if (v2) add_enum(&r, T(ATTRIBUTE_REFERENCE), flags[k]);
            else add_text(&r, T(ATTRIBUTE_NAME), arca_kmip_tag_name(flags[k]));
        }
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        p = ok_payload(&s, 0);
        if (v2) {
            assert_true(attr_value(p, v2, T(SENSITIVE))->b);
            assert_false(attr_value(p, v2, T(EXTRACTABLE))->b);
            assert_true(attr_value(p, v2, T(ALWAYS_SENSITIVE))->b);
            assert_true(attr_value(p, v2, T(NEVER_EXTRACTABLE))->b);
        } else {
            assert_null(attr_value(p, v2, T(SENSITIVE))); /* 2.0 attributes: none in 1.x */
        }
        rs_free(&s);

        /* Selected attributes only (an unknown name is simply absent). */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(GET_ATTRIBUTES), NULL);
        add_text(&r, T(UNIQUE_IDENTIFIER), uid);
        if (v2) {
            add_enum(&r, T(ATTRIBUTE_REFERENCE), T(CRYPTOGRAPHIC_LENGTH));
            push(&r, T(ATTRIBUTE_REFERENCE));
            add_text(&r, T(VENDOR_IDENTIFICATION), "");
            add_text(&r, T(ATTRIBUTE_NAME), "Name");
            pop(&r);
        } else {
            add_text(&r, T(ATTRIBUTE_NAME), "Cryptographic Length");
            add_text(&r, T(ATTRIBUTE_NAME), "Name");
            add_text(&r, T(ATTRIBUTE_NAME), "x-no-such-attribute");
        }
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        p = ok_payload(&s, 0);
        assert_non_null(attr_value(p, v2, T(CRYPTOGRAPHIC_LENGTH)));
        assert_non_null(attr_value(p, v2, T(NAME)));
        assert_null(attr_value(p, v2, T(CRYPTOGRAPHIC_ALGORITHM)));
        if (v2) {
            const arca_ttlv_node *a;
            assert_int_equal(arca_ttlv_child(p, T(ATTRIBUTES), ARCA_TTLV_STRUCTURE, &a), ARCA_OK);
            assert_int_equal(a->num_children, 2);
        } else {
            assert_int_equal(arca_ttlv_count(p, T(ATTRIBUTE)), 2);
        }
        rs_free(&s);

        /* Key pair halves: usage split by class, curve reported. */
        create_pair(f, maj, min, ARCA_KMIP_ALG_EC, 0, ARCA_KMIP_CURVE_P_384, "attr-ec",
                    ARCA_KMIP_USAGE_SIGN, ARCA_KMIP_USAGE_VERIFY, priv, pub);
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), pub, &s);
        p = ok_payload(&s, 0);
        assert_int_equal(attr_value(p, v2, T(OBJECT_TYPE))->u32, ARCA_KMIP_OBJECT_PUBLIC_KEY);
        assert_int_equal(attr_value(p, v2, T(CRYPTOGRAPHIC_ALGORITHM))->u32,
                         v2 ? ARCA_KMIP_ALG_EC : ARCA_KMIP_ALG_ECDSA);
        assert_int_equal(attr_value(p, v2, T(CRYPTOGRAPHIC_LENGTH))->i64, 384);
        assert_int_equal(attr_value(p, v2, T(CRYPTOGRAPHIC_USAGE_MASK))->i64, ARCA_KMIP_USAGE_VERIFY);
        assert_null(attr_value(p, v2, T(CRYPTOGRAPHIC_DOMAIN_PARAMETERS)));
        rs_free(&s);
        rq_begin(&r, maj, min);
        rq_item(&r, OP(GET_ATTRIBUTES), NULL);
        add_text(&r, T(UNIQUE_IDENTIFIER), pub);
        if (v2) add_enum(&r, T(ATTRIBUTE_REFERENCE), T(CRYPTOGRAPHIC_DOMAIN_PARAMETERS));
        else add_text(&r, T(ATTRIBUTE_NAME), "Cryptographic Domain Parameters");
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        assert_non_null(v = attr_value(ok_payload(&s, 0), v2, T(CRYPTOGRAPHIC_DOMAIN_PARAMETERS)));
        assert_int_equal(get_enum(v, T(RECOMMENDED_CURVE)), ARCA_KMIP_CURVE_P_384);
        rs_free(&s);
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), priv, &s);
        p = ok_payload(&s, 0);
        assert_int_equal(attr_value(p, v2, T(CRYPTOGRAPHIC_USAGE_MASK))->i64, ARCA_KMIP_USAGE_SIGN);
        rs_free(&s);

        /* Get Attribute List names what Get Attributes returns. */
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTE_LIST), uid, &s);
        p = ok_payload(&s, 0);
        size_t num = 0;
        bool have_alg = false;
        for (const arca_ttlv_node *n = p->first_child; n != NULL; n = n->next) {
            const arca_ttlv_node *an = n;
            if (n->tag == T(UNIQUE_IDENTIFIER)) continue;
            if (v2) {
                assert_int_equal(n->tag, T(ATTRIBUTE_REFERENCE));
                assert_int_equal(arca_ttlv_child(n, T(ATTRIBUTE_NAME), ARCA_TTLV_TEXT_STRING, &an), ARCA_OK);
            } else {
                assert_int_equal(n->tag, T(ATTRIBUTE_NAME));
            }
            have_alg |= an->len == strlen("Cryptographic Algorithm") &&
                        memcmp(an->data, "Cryptographic Algorithm", an->len) == 0;
            num++;
        }
        assert_true(have_alg);
        /* + Activation Date: the key was activated (stamped that day). */
        assert_int_equal(num, v2 ? 12u : 8u);
        rs_free(&s);

        /* A field Get Attributes does not take. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(GET_ATTRIBUTES), NULL);
        add_text(&r, T(UNIQUE_IDENTIFIER), uid);
        add_int(&r, T(MAXIMUM_ITEMS), 3);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        rs_free(&s);
    }
}

/* ---- Destroy, Re-key ---------------------------------------------------------- */

static void test_destroy_rekey(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        char uid[UID_BUF], nuid[UID_BUF], unnamed[UID_BUF], found[4][UID_BUF], nm[32];
        rs s;
        snprintf(nm, sizeof(nm), "rekey-%zu", vi);
        sym_opts o = aes(256, USAGE_ENC_DEC, nm);
        create_sym(f, maj, min, &o, uid);
        uid_op(f, f->sess, maj, min, OP(REKEY), uid, &s);
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), nuid, sizeof(nuid));
        rs_free(&s);
        assert_string_not_equal(uid, nuid);
        /* Both versions carry the name; the new one has the same attributes. */
        assert_int_equal(locate(f, maj, min, nm, -1, -1, -1, -1, NULL, found, 4), 2);
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), nuid, &s);
        assert_int_equal(attr_value(ok_payload(&s, 0), maj >= 2, T(CRYPTOGRAPHIC_USAGE_MASK))->i64, USAGE_ENC_DEC);
        rs_free(&s);
        /* Re-key of a key without a name. */
        o = aes(128, -1, NULL);
        create_sym(f, maj, min, &o, unnamed);
        uid_op(f, f->sess, maj, min, OP(REKEY), unnamed, &s);
        expect_fail(&s, 0, RR(ILLEGAL_OPERATION));
        rs_free(&s);

        /* An Active key is revoked before it is destroyed (KMIP). */
        uid_op(f, f->sess, maj, min, OP(DESTROY), uid, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(WRONG_KEY_LIFECYCLE_STATE) : RR(PERMISSION_DENIED));
        assert_true(msg_has(&s, 0, "Revoke it before Destroy"));
        rs_free(&s);
        kmip_revoke_ok(f, maj, min, uid, ARCA_KMIP_REVOKE_CESSATION_OF_OPERATION, 0);
        /* Destroy; then everything about it is Item Not Found. */
        uid_op(f, f->sess, maj, min, OP(DESTROY), uid, &s);
        char got[UID_BUF];
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), got, sizeof(got));
        assert_string_equal(got, uid);
        rs_free(&s);
        const uint32_t ops[] = {OP(GET), OP(GET_ATTRIBUTES), OP(DESTROY), OP(REKEY)};
        for (size_t k = 0; k < 4; k++) {
            uid_op(f, f->sess, maj, min, ops[k], uid, &s);
            expect_fail(&s, 0, RR(ITEM_NOT_FOUND));
            assert_true(msg_has(&s, 0, "no such object"));
            rs_free(&s);
        }
        assert_int_equal(locate(f, maj, min, nm, -1, -1, -1, -1, NULL, found, 4), 1);
        /* Identifiers that are not Arca ids, and no identifier at all. */
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), "not-an-id", &s);
        expect_fail(&s, 0, RR(ITEM_NOT_FOUND));
        rs_free(&s);
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), "zz000000000000000000000000000000", &s);
        expect_fail(&s, 0, RR(ITEM_NOT_FOUND));
        rs_free(&s);
        uid_op(f, f->sess, maj, min, OP(DESTROY), NULL, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        rs_free(&s);
    }
}

/* ---- Batches ------------------------------------------------------------------ */

static void test_batches(void **state)
{
    fx *f = *state;
    const char pt[] = "batched";
    for (int cont = 0; cont < 3; cont++) {
        /* Create; Encrypt with the ID Placeholder; an unknown operation;
         * Query. With Continue all four are answered, with Stop (the
         * default) and Undo (treated as Stop) the first three. */
        rq r;
        rs s;
        int opt = cont == 0 ? 0 : cont == 1 ? ARCA_KMIP_BATCH_ERROR_CONTINUE : ARCA_KMIP_BATCH_ERROR_UNDO;
        rq_begin_ex(&r, 2, 0, 4, opt, NULL, NULL);
        sym_opts o = aes(128, USAGE_ENC_DEC, NULL);
        rq_item(&r, OP(CREATE), "id-1");
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
        attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), o.alg);
        attr_int(&r, T(CRYPTOGRAPHIC_LENGTH), o.len);
        attr_int(&r, T(CRYPTOGRAPHIC_USAGE_MASK), o.usage);
        /* An Activation Date not in the future: created Active. */
        attr_datetime(&r, T(ACTIVATION_DATE), (int64_t)time(NULL) - 5);
        pop(&r);
        rq_item_end(&r);
        rq_item(&r, OP(ENCRYPT), "id-2");
        add_bytes(&r, T(DATA), pt, sizeof(pt));
        rq_item_end(&r);
        rq_item(&r, 0x00000019u /* Poll: not implemented */, "id-3");
        rq_item_end(&r);
        rq_item(&r, OP(QUERY), "id-4");
        add_enum(&r, T(QUERY_FUNCTION), ARCA_KMIP_QUERY_OBJECTS);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        size_t expect_items = opt == ARCA_KMIP_BATCH_ERROR_CONTINUE ? 4 : 3;
        assert_int_equal(s.batch_count, expect_items);
        for (size_t i = 0; i < expect_items; i++) {
            const arca_ttlv_node *id = get_bytes(item_at(&s, i), T(UNIQUE_BATCH_ITEM_ID));
            char want[32];
            snprintf(want, sizeof(want), "id-%zu", i + 1);
            assert_int_equal(id->len, strlen(want));
            assert_memory_equal(id->data, want, id->len);
        }
        char created[UID_BUF], used[UID_BUF];
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), created, sizeof(created));
        get_text(ok_payload(&s, 1), T(UNIQUE_IDENTIFIER), used, sizeof(used));
        assert_string_equal(created, used);
        assert_int_equal(get_enum(item_at(&s, 2), T(OPERATION)), 0x19u);
        expect_fail(&s, 2, RR(OPERATION_NOT_SUPPORTED));
        assert_true(msg_has(&s, 2, "not supported"));
        if (expect_items == 4) assert_int_equal(arca_ttlv_count(ok_payload(&s, 3), T(OBJECT_TYPE)), 3);
        rs_free(&s);
    }
}

/* ---- Message-level errors ---------------------------------------------------- */

static void test_message_errors(void **state)
{
    fx *f = *state;
    rq r;
    rs s;

    /* Unsupported versions: answered in the highest version of that major
     * version (or overall), Invalid Message, for every item. */
    const int bad[][4] = {{3, 0, 2, 1}, {1, 1, 1, 4}, {1, 7, 1, 4}, {2, 5, 2, 1}, {0, 9, 2, 1}};
    for (size_t i = 0; i < 5; i++) {
        rq_begin_ex(&r, bad[i][0], bad[i][1], 2, 0, NULL, NULL);
        rq_item(&r, OP(QUERY), "q1");
        rq_item_end(&r);
        rq_item(&r, OP(RNG_RETRIEVE), "q2");
        add_int(&r, T(DATA_LENGTH), 8);
        rq_item_end(&r);
        rq_end(&r);
        send_raw(f, f->sess, r.data, r.len, &s);
        assert_int_equal(s.major, bad[i][2]);
        assert_int_equal(s.minor, bad[i][3]);
        assert_int_equal(s.batch_count, 2);
        expect_fail(&s, 0, RR(INVALID_MESSAGE));
        expect_fail(&s, 1, RR(INVALID_MESSAGE));
        assert_true(msg_has(&s, 0, "not supported"));
        assert_int_equal(get_enum(item_at(&s, 1), T(OPERATION)), OP(RNG_RETRIEVE));
        rs_free(&s);
        /* Truncated: the version is read from the prefix. */
        send_raw(f, f->sess, r.data, r.len - 8, &s);
        assert_int_equal(s.major, bad[i][2]);
        assert_int_equal(s.minor, bad[i][3]);
        expect_fail(&s, 0, RR(INVALID_MESSAGE));
        rs_free(&s);
        rq_free(&r);
    }

    /* Malformed TTLV: truncated, trailing bytes, garbage, empty. */
    rq_begin(&r, 1, 2);
    rq_item(&r, OP(QUERY), NULL);
    rq_item_end(&r);
    rq_end(&r);
    uint8_t *buf = malloc(r.len + 8);
    assert_non_null(buf);
    memcpy(buf, r.data, r.len);
    memset(buf + r.len, 0, 8);
    send_raw(f, f->sess, buf, r.len + 8, &s); /* trailing */
    assert_int_equal(s.major, 1);
    assert_int_equal(s.minor, 2);
    assert_int_equal(s.batch_count, 1);
    expect_fail(&s, 0, RR(INVALID_MESSAGE));
    assert_true(msg_has(&s, 0, "malformed"));
    rs_free(&s);
    send_raw(f, f->sess, buf, r.len - 1, &s); /* truncated */
    expect_fail(&s, 0, RR(INVALID_MESSAGE));
    rs_free(&s);
    buf[r.len - 1] = 1; /* non-zero padding of the last enum */
    send_raw(f, f->sess, buf, r.len, &s);
    expect_fail(&s, 0, RR(INVALID_MESSAGE));
    rs_free(&s);
    send_raw(f, f->sess, (const uint8_t *)"", 0, &s);
    assert_int_equal(s.major, 2); /* nothing to read a version from */
    expect_fail(&s, 0, RR(INVALID_MESSAGE));
    rs_free(&s);
    free(buf);
    rq_free(&r);

    /* Not a Request Message. */
    arca_builder b;
    uint8_t *raw;
    size_t raw_len, mark;
    assert_int_equal(arca_builder_init(&b, 64, 4096), ARCA_OK);
    assert_int_equal(arca_ttlv_begin_struct(&b, T(RESPONSE_MESSAGE), &mark), ARCA_OK);
    assert_int_equal(arca_ttlv_end_struct(&b, mark), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &raw, &raw_len), ARCA_OK);
    send_raw(f, f->sess, raw, raw_len, &s);
    expect_fail(&s, 0, RR(INVALID_MESSAGE));
    rs_free(&s);
    free(raw);

    /* Batch Count that does not match the items. */
    rq_begin_ex(&r, 2, 0, 3, 0, NULL, NULL);
    rq_item(&r, OP(QUERY), NULL);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    expect_fail(&s, 0, RR(INVALID_MESSAGE));
    assert_true(msg_has(&s, 0, "Batch Count"));
    rs_free(&s);

    /* A bad Batch Error Continuation Option. */
    rq_begin_ex(&r, 2, 0, 1, 9, NULL, NULL);
    rq_item(&r, OP(QUERY), NULL);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    expect_fail(&s, 0, RR(INVALID_FIELD));
    rs_free(&s);

    /* A batch item without a payload, and one without an operation. */
    rq_begin_ex(&r, 1, 4, 2, ARCA_KMIP_BATCH_ERROR_CONTINUE, NULL, NULL);
    push(&r, T(BATCH_ITEM));
    add_enum(&r, T(OPERATION), OP(QUERY));
    pop(&r);
    push(&r, T(BATCH_ITEM));
    push(&r, T(REQUEST_PAYLOAD));
    pop(&r);
    pop(&r);
    send_rq(f, f->sess, &r, &s);
    expect_fail(&s, 0, RR(INVALID_MESSAGE));
    expect_fail(&s, 1, RR(INVALID_MESSAGE));
    rs_free(&s);

    /* Arguments the handler refuses outright. */
    assert_int_equal(arca_builder_init(&b, 64, 4096), ARCA_OK);
    assert_int_equal(arca_kmip_handle(NULL, f->sess, (const uint8_t *)"", 0, &b), ARCA_ERR_ARGS);
    assert_int_equal(arca_kmip_handle(f->kms, NULL, (const uint8_t *)"", 0, &b), ARCA_ERR_ARGS);
    assert_int_equal(arca_kmip_handle(f->kms, f->sess, NULL, 5, &b), ARCA_ERR_ARGS);
    assert_int_equal(arca_kmip_handle(f->kms, f->sess, NULL, 0, NULL), ARCA_ERR_ARGS);
    /* A response builder too small for any answer: no response at all. */
    arca_builder tiny;
    uint8_t small[16];
    arca_builder_init_fixed(&tiny, small, sizeof(small));
    assert_int_equal(arca_kmip_handle(f->kms, f->sess, (const uint8_t *)"", 0, &tiny), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);

    /* A response item too large for the caller's cap: Response Too Large. */
    rq_begin(&r, 2, 0);
    rq_item(&r, OP(RNG_RETRIEVE), NULL);
    add_int(&r, T(DATA_LENGTH), 8000);
    rq_item_end(&r);
    rq_end(&r);
    assert_int_equal(arca_builder_init_secret(&b, 256, 4096), ARCA_OK);
    assert_int_equal(arca_kmip_handle(f->kms, f->sess, r.data, r.len, &b), ARCA_OK);
    {
        arca_cursor c;
        arca_ttlv_tree *tree;
        arca_cursor_init(&c, b.data, b.len);
        assert_int_equal(arca_ttlv_decode(&c, NULL, &tree), ARCA_OK);
        rs tmp = {.tree = tree, .root = arca_ttlv_root(tree)};
        expect_fail(&tmp, 0, RR(RESPONSE_TOO_LARGE));
        arca_ttlv_free(tree);
    }
    arca_builder_cleanup(&b);
    rq_free(&r);
}

/* ---- Authentication and authorisation --------------------------------------- */

static void test_permissions(void **state)
{
    fx *f = *state;
    char uid[UID_BUF];
    rs s;
    rq r;
    arca_kms_session *anon, *other;
    sym_opts o = aes(256, USAGE_ENC_DEC, "p1-key");
    create_sym(f, 2, 0, &o, uid);
    assert_int_equal(arca_kms_session_new(f->kms, &anon), ARCA_OK);
    assert_int_equal(arca_kms_session_new(f->kms, &other), ARCA_OK);
    assert_int_equal(arca_kms_login(f->kms, other, "p2", ARCA_ROLE_USER, USER_PIN), ARCA_OK);
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        /* Not logged in: Permission Denied for key operations. */
        uid_op(f, anon, maj, min, OP(GET_ATTRIBUTES), uid, &s);
        expect_fail(&s, 0, RR(PERMISSION_DENIED));
        assert_true(msg_has(&s, 0, "not logged in"));
        rs_free(&s);
        rq_begin(&r, maj, min);
        create_sym_rq(&r, &o);
        send_rq(f, anon, &r, &s);
        expect_fail(&s, 0, RR(PERMISSION_DENIED));
        rs_free(&s);
        /* Another partition does not see the key at all (the keystore's
         * rule: objects of other partitions do not exist for it). */
        const uint32_t ops[] = {OP(GET_ATTRIBUTES), OP(GET), OP(DESTROY)};
        for (size_t k = 0; k < 3; k++) {
            uid_op(f, other, maj, min, ops[k], uid, &s);
            expect_fail(&s, 0, RR(ITEM_NOT_FOUND));
            rs_free(&s);
        }
        char found[4][UID_BUF];
        (void)found;
        rq_begin(&r, maj, min);
        rq_item(&r, OP(LOCATE), NULL);
        if (maj >= 2) push(&r, T(ATTRIBUTES));
        attr_name(&r, "p1-key");
        if (maj >= 2) pop(&r);
        rq_item_end(&r);
        send_rq(f, other, &r, &s);
        assert_int_equal(arca_ttlv_count(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER)), 0);
        rs_free(&s);
    }
    /* Still there for its owner. */
    uid_op(f, f->sess, 2, 0, OP(GET_ATTRIBUTES), uid, &s);
    ok_payload(&s, 0);
    rs_free(&s);
    arca_kms_session_free(anon);
    arca_kms_session_free(other);
}

static void test_credentials(void **state)
{
    fx *f = *state;
    arca_kms_session *s1;
    rq r;
    rs s;
    assert_int_equal(arca_kms_session_new(f->kms, &s1), ARCA_OK);
    /* Wrong password: Authentication Not Successful for every item; still logged out. */
    rq_begin_ex(&r, 1, 2, 2, 0, "p1", "wrong-pin-x");
    rq_item(&r, OP(QUERY), "a");
    rq_item_end(&r);
    rq_item(&r, OP(RNG_RETRIEVE), "b");
    add_int(&r, T(DATA_LENGTH), 4);
    rq_item_end(&r);
    send_rq(f, s1, &r, &s);
    assert_int_equal(s.batch_count, 2);
    expect_fail(&s, 0, RR(AUTHENTICATION_NOT_SUCCESSFUL));
    expect_fail(&s, 1, RR(AUTHENTICATION_NOT_SUCCESSFUL));
    assert_true(msg_has(&s, 0, "authentication failed"));
    assert_false(msg_has(&s, 0, "wrong-pin-x"));
    rs_free(&s);
    assert_int_equal(arca_kms_session_role(s1), ARCA_ROLE_NONE);
    /* Unknown partition. */
    rq_begin_ex(&r, 2, 0, 1, 0, "nope", USER_PIN);
    rq_item(&r, OP(QUERY), NULL);
    rq_item_end(&r);
    send_rq(f, s1, &r, &s);
    expect_fail(&s, 0, RR(AUTHENTICATION_NOT_SUCCESSFUL));
    rs_free(&s);
    /* Right credential: logs the session in as the partition's user. */
    char uid[UID_BUF];
    sym_opts o = aes(128, -1, "cred-key");
    rq_begin_ex(&r, 2, 0, 1, 0, "p1", USER_PIN);
    create_sym_rq(&r, &o);
    send_rq(f, s1, &r, &s);
    get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), uid, sizeof(uid));
    rs_free(&s);
    assert_int_equal(arca_kms_session_role(s1), ARCA_ROLE_USER);
    /* A logged-in session keeps its login; a credential is then ignored. */
    rq_begin_ex(&r, 2, 0, 1, 0, "p2", "whatever-pin");
    rq_item(&r, OP(GET_ATTRIBUTES), NULL);
    add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    rq_item_end(&r);
    send_rq(f, s1, &r, &s);
    ok_payload(&s, 0);
    rs_free(&s);
    arca_kms_session_free(s1);
    /* No PIN in the log, ever. */
    assert_false(log_contains(f, USER_PIN));
    assert_false(log_contains(f, "wrong-pin-x"));
}

/* ---- Requests captured from PyKMIP's encoder -------------------------------- */

/* python3-pykmip (kmip.core.messages), KMIP 1.2: Create AES-256
 * Encrypt|Decrypt named "pykmip-aes", with a Username and Password
 * credential p1 / user-pin-1. */
static const char PYKMIP_CREATE_12[] =
    "42007801000001b84200770100000088420069010000002042006a0200000004000000010000000042006b0200000004000000020000"
    "000042000c01000000484200230100000040420024050000000400000001000000004200250100000028420099070000000270310000"
    "000000004200a1070000000a757365722d70696e2d3100000000000042000d0200000004000000010000000042000f01000001204200"
    "5c0500000004000000010000000042007901000001084200570500000004000000020000000042009101000000f04200080100000030"
    "42000a070000001743727970746f6772617068696320416c676f726974686d0042000b050000000400000003000000004200080100"
    "00003042000a070000001443727970746f67726170686963204c656e6774680000000042000b02000000040000010000000000420008"
    "010000003042000a070000001843727970746f6772617068696320557361676520 4d61736b42000b02000000040000000c0000000042"
    "0008010000004042000a07000000044e616d650000000042000b0100000028420055070000000a70796b6d69702d6165730000000000"
    "0042005405000000040000000100000000";

/* KMIP 2.0: Locate, Maximum Items 10, Name "pykmip-aes", Object Type
 * Symmetric Key. */
static const char PYKMIP_LOCATE_20[] =
    "42007801000000b84200770100000038420069010000002042006a0200000004000000020000000042006b020000000400000000000000"
    "0042000d0200000004000000010000000042000f010000007042005c05000000040000000800000000420079010000005842004f020000"
    "00040000000a0000000042012501000000404200530100000028420055070000000a70796b6d69702d61657300000000000042005405"
    "000000040000000100000000420057050000000400000002000000 00";

/* KMIP 2.0: Create Key Pair RSA-2048, private Sign, public Verify (PyKMIP
 * turns its Template-Attributes into 2.0 Attributes itself). */
static const char PYKMIP_CKP_20[] =
    "42007801000000b84200770100000038420069010000002042006a0200000004000000020000000042006b020000000400000000000000"
    "0042000d0200000004000000010000000042000f010000007042005c05000000040000000200000000420079010000005842012601000000"
    "204200280500000004000000040000000042002a02000000040000080000000000420127010000001042002c0200000004000000010000"
    "0000420128010000001042002c02000000040000000200000000";

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = hex; *p != '\0';) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

static void test_pykmip_captured(void **state)
{
    fx *f = *state;
    arca_kms_session *s1;
    uint8_t req[1024];
    size_t n;
    rs s;
    char created[UID_BUF], found[UID_BUF];
    assert_int_equal(arca_kms_session_new(f->kms, &s1), ARCA_OK);

    n = unhex(PYKMIP_CREATE_12, req, sizeof(req));
    send_raw(f, s1, req, n, &s);
    assert_int_equal(s.major, 1);
    assert_int_equal(s.minor, 2);
    const arca_ttlv_node *p = ok_payload(&s, 0);
    assert_int_equal(get_enum(item_at(&s, 0), T(OPERATION)), OP(CREATE));
    get_text(p, T(UNIQUE_IDENTIFIER), created, sizeof(created));
    rs_free(&s);
    assert_int_equal(arca_kms_session_role(s1), ARCA_ROLE_USER); /* logged in by the credential */

    n = unhex(PYKMIP_LOCATE_20, req, sizeof(req));
    send_raw(f, s1, req, n, &s);
    assert_int_equal(s.major, 2);
    assert_int_equal(s.minor, 0);
    p = ok_payload(&s, 0);
    assert_int_equal(arca_ttlv_count(p, T(UNIQUE_IDENTIFIER)), 1);
    get_text(p, T(UNIQUE_IDENTIFIER), found, sizeof(found));
    assert_string_equal(found, created);
    rs_free(&s);

    /* The created key's attributes are those PyKMIP asked for. */
    uid_op(f, s1, 2, 0, OP(GET_ATTRIBUTES), created, &s);
    p = ok_payload(&s, 0);
    assert_int_equal(attr_value(p, true, T(CRYPTOGRAPHIC_LENGTH))->i64, 256);
    assert_int_equal(attr_value(p, true, T(CRYPTOGRAPHIC_USAGE_MASK))->i64, USAGE_ENC_DEC);
    rs_free(&s);

    n = unhex(PYKMIP_CKP_20, req, sizeof(req));
    send_raw(f, s1, req, n, &s);
    p = ok_payload(&s, 0);
    char priv[UID_BUF], pub[UID_BUF];
    get_text(p, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), priv, sizeof(priv));
    get_text(p, T(PUBLIC_KEY_UNIQUE_IDENTIFIER), pub, sizeof(pub));
    rs_free(&s);
    uid_op(f, s1, 2, 0, OP(GET_ATTRIBUTES), pub, &s);
    p = ok_payload(&s, 0);
    assert_int_equal(attr_value(p, true, T(CRYPTOGRAPHIC_ALGORITHM))->u32, ARCA_KMIP_ALG_RSA);
    assert_int_equal(attr_value(p, true, T(CRYPTOGRAPHIC_LENGTH))->i64, 2048);
    assert_int_equal(attr_value(p, true, T(CRYPTOGRAPHIC_USAGE_MASK))->i64, ARCA_KMIP_USAGE_VERIFY);
    rs_free(&s);
    arca_kms_session_free(s1);
}

/* ---- Add / Modify / Delete Attribute ------------------------------------------ */

/* One attribute for Add / Modify: 1.x Attribute, 2.x New Attribute. */
static void attr_change_rq(rq *r, uint32_t op, const char *uid, uint32_t tag, const char *name, int32_t ival)
{
    rq_item(r, op, NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    if (rq_v2(r)) push(r, T(NEW_ATTRIBUTE));
    if (tag == T(NAME)) attr_name(r, name);
    else if (tag == T(CRYPTOGRAPHIC_USAGE_MASK) || tag == T(CRYPTOGRAPHIC_LENGTH)) attr_int(r, tag, ival);
    else attr_bool(r, tag, ival != 0);
    if (rq_v2(r)) pop(r);
    rq_item_end(r);
}

static void change(fx *f, int maj, int min, uint32_t op, const char *uid, uint32_t tag, const char *name,
                   int32_t ival, rs *s)
{
    rq r;
    rq_begin(&r, maj, min);
    attr_change_rq(&r, op, uid, tag, name, ival);
    send_rq(f, f->sess, &r, s);
}

static void delete_name(fx *f, int maj, int min, const char *uid, const char *attr_name_text, rs *s)
{
    rq r;
    rq_begin(&r, maj, min);
    rq_item(&r, OP(DELETE_ATTRIBUTE), NULL);
    add_text(&r, T(UNIQUE_IDENTIFIER), uid);
    if (rq_v2(&r)) {
        push(&r, T(ATTRIBUTE_REFERENCE));
        add_text(&r, T(VENDOR_IDENTIFICATION), "");
        add_text(&r, T(ATTRIBUTE_NAME), attr_name_text);
        pop(&r);
    } else {
        add_text(&r, T(ATTRIBUTE_NAME), attr_name_text);
    }
    rq_item_end(&r);
    send_rq(f, f->sess, &r, s);
}

static void test_change_attributes(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        bool v2 = maj >= 2;
        char uid[UID_BUF], found[4][UID_BUF], nm[32], nm2[32];
        rs s;
        snprintf(nm, sizeof(nm), "first-%zu", vi);
        snprintf(nm2, sizeof(nm2), "second-%zu", vi);
        sym_opts o = aes(256, USAGE_ENC_DEC | ARCA_KMIP_USAGE_WRAP_KEY, NULL);
        create_sym(f, maj, min, &o, uid);

        /* Add a Name to an unnamed key; a second one is refused. */
        change(f, maj, min, OP(ADD_ATTRIBUTE), uid, T(NAME), nm, 0, &s);
        ok_payload(&s, 0);
        if (!v2) assert_non_null(attr_value(ok_payload(&s, 0), false, T(NAME)));
        rs_free(&s);
        assert_int_equal(locate(f, maj, min, nm, -1, -1, -1, -1, NULL, found, 4), 1);
        change(f, maj, min, OP(ADD_ATTRIBUTE), uid, T(NAME), nm2, 0, &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_SINGLE_VALUED) : RR(ILLEGAL_OPERATION));
        rs_free(&s);
        /* Modify it: found under the new name only. */
        change(f, maj, min, OP(MODIFY_ATTRIBUTE), uid, T(NAME), nm2, 0, &s);
        ok_payload(&s, 0);
        rs_free(&s);
        assert_int_equal(locate(f, maj, min, nm, -1, -1, -1, -1, NULL, found, 4), 0);
        assert_int_equal(locate(f, maj, min, nm2, -1, -1, -1, -1, NULL, found, 4), 1);
        /* Narrow the usage mask; widening it again is refused. */
        change(f, maj, min, OP(MODIFY_ATTRIBUTE), uid, T(CRYPTOGRAPHIC_USAGE_MASK), NULL, ARCA_KMIP_USAGE_ENCRYPT, &s);
        ok_payload(&s, 0);
        rs_free(&s);
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), uid, &s);
        assert_int_equal(attr_value(ok_payload(&s, 0), v2, T(CRYPTOGRAPHIC_USAGE_MASK))->i64, ARCA_KMIP_USAGE_ENCRYPT);
        rs_free(&s);
        change(f, maj, min, OP(MODIFY_ATTRIBUTE), uid, T(CRYPTOGRAPHIC_USAGE_MASK), NULL, USAGE_ENC_DEC, &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_READ_ONLY) : RR(PERMISSION_DENIED));
        rs_free(&s);
        /* Server-set attributes are read-only. */
        change(f, maj, min, OP(MODIFY_ATTRIBUTE), uid, T(CRYPTOGRAPHIC_LENGTH), NULL, 128, &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_READ_ONLY) : RR(PERMISSION_DENIED));
        rs_free(&s);
        change(f, maj, min, OP(ADD_ATTRIBUTE), uid, T(CRYPTOGRAPHIC_USAGE_MASK), NULL, 1, &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_SINGLE_VALUED) : RR(ILLEGAL_OPERATION));
        rs_free(&s);
        /* Sensitive may be set (it is already), not cleared. */
        change(f, maj, min, OP(MODIFY_ATTRIBUTE), uid, T(SENSITIVE), NULL, 1, &s);
        ok_payload(&s, 0);
        rs_free(&s);
        change(f, maj, min, OP(MODIFY_ATTRIBUTE), uid, T(SENSITIVE), NULL, 0, &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_READ_ONLY) : RR(PERMISSION_DENIED));
        rs_free(&s);
        /* Delete the Name; then it is gone, and deleting again fails. */
        delete_name(f, maj, min, uid, "Name", &s);
        ok_payload(&s, 0);
        if (!v2) assert_non_null(attr_value(ok_payload(&s, 0), false, T(NAME)));
        rs_free(&s);
        assert_int_equal(locate(f, maj, min, nm2, -1, -1, -1, -1, NULL, found, 4), 0);
        uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), uid, &s);
        assert_null(attr_value(ok_payload(&s, 0), v2, T(NAME)));
        rs_free(&s);
        delete_name(f, maj, min, uid, "Name", &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_NOT_FOUND) : RR(ITEM_NOT_FOUND));
        rs_free(&s);
        change(f, maj, min, OP(MODIFY_ATTRIBUTE), uid, T(NAME), nm, 0, &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_NOT_FOUND) : RR(ITEM_NOT_FOUND));
        rs_free(&s);
        delete_name(f, maj, min, uid, "Cryptographic Usage Mask", &s);
        expect_fail(&s, 0, v2 ? RR(ATTRIBUTE_READ_ONLY) : RR(PERMISSION_DENIED));
        rs_free(&s);
        /* Changes go through the keystore's access rules. */
        arca_kms_session *anon;
        rq r;
        assert_int_equal(arca_kms_session_new(f->kms, &anon), ARCA_OK);
        rq_begin(&r, maj, min);
        attr_change_rq(&r, OP(ADD_ATTRIBUTE), uid, T(NAME), nm, 0);
        send_rq(f, anon, &r, &s);
        expect_fail(&s, 0, RR(PERMISSION_DENIED));
        rs_free(&s);
        arca_kms_session_free(anon);
    }
}

/* ---- Re-key Key Pair, Derive Key --------------------------------------------- */

static void test_rekey_pair_and_derive(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    const char msg[] = "signed by version 2";
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        char priv[UID_BUF], pub[UID_BUF], npriv[UID_BUF], npub[UID_BUF], nm[32];
        rq r;
        rs s;
        snprintf(nm, sizeof(nm), "pair-%zu", vi);
        create_pair(f, maj, min, ARCA_KMIP_ALG_EC, 256, 0, nm, ARCA_KMIP_USAGE_SIGN, ARCA_KMIP_USAGE_VERIFY, priv, pub);
        rq_begin(&r, maj, min);
        rq_item(&r, OP(REKEY_KEY_PAIR), NULL);
        add_text(&r, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), priv);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        const arca_ttlv_node *p = ok_payload(&s, 0);
        get_text(p, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), npriv, sizeof(npriv));
        get_text(p, T(PUBLIC_KEY_UNIQUE_IDENTIFIER), npub, sizeof(npub));
        rs_free(&s);
        assert_string_not_equal(npriv, priv);
        assert_string_not_equal(npub, pub);
        /* The new halves belong together: sign with one, verify with the
         * other, independently. */
        uint8_t sig[256];
        EVP_PKEY *pk = get_public(f, maj, min, npub);
        size_t n = sign_with(f, maj, min, npriv, 0, 0, 0, msg, sizeof(msg), sig, sizeof(sig));
        assert_true(ossl_verify(pk, EVP_sha256(), 0, 0, msg, sizeof(msg), sig, n));
        EVP_PKEY_free(pk);
        /* A public key is not a pair's identifier. */
        rq_begin(&r, maj, min);
        rq_item(&r, OP(REKEY_KEY_PAIR), NULL);
        add_text(&r, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), pub);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        expect_fail(&s, 0, maj >= 2 ? RR(INVALID_OBJECT_TYPE) : RR(INVALID_FIELD));
        rs_free(&s);
    }

    /* Derive Key, HKDF (2.0): check the result against OpenSSL's HKDF. */
    uint8_t ikm[32], expect[32];
    char base[UID_BUF], derived[UID_BUF], nod[UID_BUF];
    rq r;
    rs s;
    assert_int_equal(RAND_bytes(ikm, sizeof(ikm)), 1);
    {
        rq_begin(&r, 2, 0);
        rq_item(&r, OP(REGISTER), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        push(&r, T(ATTRIBUTES));
        add_int(&r, T(CRYPTOGRAPHIC_USAGE_MASK), ARCA_KMIP_USAGE_DERIVE_KEY);
        pop(&r);
        push(&r, T(SYMMETRIC_KEY));
        push(&r, T(KEY_BLOCK));
        add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_RAW);
        push(&r, T(KEY_VALUE));
        add_bytes(&r, T(KEY_MATERIAL), ikm, sizeof(ikm));
        pop(&r);
        add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_HMAC_SHA256);
        pop(&r);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), base, sizeof(base));
        rs_free(&s);
        activate(f, 2, 0, base);
    }
    const char salt[] = "kmip-salt", info[] = "kmip-info";
    for (int k = 0; k < 3; k++) {
        rq_begin(&r, 2, 0);
        rq_item(&r, OP(DERIVE_KEY), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        add_text(&r, T(UNIQUE_IDENTIFIER), base);
        add_enum(&r, T(DERIVATION_METHOD), k == 2 ? ARCA_KMIP_DERIVE_PBKDF2 : ARCA_KMIP_DERIVE_HKDF);
        push(&r, T(DERIVATION_PARAMETERS));
        add_cparams_begin(&r);
        add_enum(&r, T(HASHING_ALGORITHM), ARCA_KMIP_HASH_SHA_256);
        pop(&r);
        add_bytes(&r, T(DERIVATION_DATA), info, strlen(info));
        add_bytes(&r, T(SALT), salt, strlen(salt));
        pop(&r);
        push(&r, T(ATTRIBUTES));
        add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        add_int(&r, T(CRYPTOGRAPHIC_LENGTH), 256);
        if (k == 0) {
            assert_int_equal(arca_ttlv_add_bool(&r.b, T(EXTRACTABLE), true), ARCA_OK);
            assert_int_equal(arca_ttlv_add_bool(&r.b, T(SENSITIVE), false), ARCA_OK);
        }
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        if (k == 2) {
            expect_fail(&s, 0, RR(UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS));
            rs_free(&s);
            continue;
        }
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), k == 0 ? derived : nod, UID_BUF);
        rs_free(&s);
    }
    activate(f, 2, 0, nod); /* derived keys start Pre-Active too */
    uid_op(f, f->sess, 2, 0, OP(GET), derived, &s);
    {
        const arca_ttlv_node *kb = key_block(ok_payload(&s, 0), T(SYMMETRIC_KEY)), *kv;
        assert_int_equal(arca_ttlv_child(kb, T(KEY_VALUE), ARCA_TTLV_STRUCTURE, &kv), ARCA_OK);
        const arca_ttlv_node *km = get_bytes(kv, T(KEY_MATERIAL));
        EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
        EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, sizeof(ikm)),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, strlen(salt)),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
            OSSL_PARAM_construct_end(),
        };
        assert_int_equal(EVP_KDF_derive(kctx, expect, sizeof(expect), params), 1);
        EVP_KDF_CTX_free(kctx);
        EVP_KDF_free(kdf);
        assert_int_equal(km->len, 32);
        assert_memory_equal(km->data, expect, 32);
    }
    rs_free(&s);
    /* The default derived key is not extractable; the base key's mask
     * must allow Derive Key. */
    uid_op(f, f->sess, 2, 0, OP(GET), nod, &s);
    expect_fail(&s, 0, RR(NOT_EXTRACTABLE));
    rs_free(&s);
    rq_begin(&r, 2, 0);
    rq_item(&r, OP(DERIVE_KEY), NULL);
    add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    add_text(&r, T(UNIQUE_IDENTIFIER), nod);
    add_enum(&r, T(DERIVATION_METHOD), ARCA_KMIP_DERIVE_HKDF);
    push(&r, T(DERIVATION_PARAMETERS));
    pop(&r);
    push(&r, T(ATTRIBUTES));
    add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    add_int(&r, T(CRYPTOGRAPHIC_LENGTH), 128);
    pop(&r);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    expect_fail(&s, 0, RR(INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK));
    rs_free(&s);
    OPENSSL_cleanse(ikm, sizeof(ikm));
    OPENSSL_cleanse(expect, sizeof(expect));
}

/* Derive Key by Asymmetric Key (ECDH): the derived AES key equals the
 * shared secret OpenSSL computes from the other side. */
static void test_derive_ecdh(void **state)
{
    fx *f = *state;
    char priv[UID_BUF], pub[UID_BUF], derived[UID_BUF];
    uint8_t point[65], z[32];
    size_t point_len = 0, z_len = sizeof(z);
    rq r;
    rs s;

    create_pair(f, 2, 0, ARCA_KMIP_ALG_ECDH, 256, 0, "ecdh-pair", ARCA_KMIP_USAGE_DERIVE_KEY, ARCA_KMIP_USAGE_VERIFY,
                priv, pub);
    EVP_PKEY *ours = get_public(f, 2, 0, pub);
    EVP_PKEY *peer = EVP_EC_gen("P-256");
    assert_non_null(peer);
    assert_int_equal(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
                                                     &point_len),
                     1);
    assert_int_equal(point_len, 65);
    EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(peer, NULL);
    assert_int_equal(EVP_PKEY_derive_init(dctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(dctx, ours), 1);
    assert_int_equal(EVP_PKEY_derive(dctx, z, &z_len), 1);
    assert_int_equal(z_len, 32);
    EVP_PKEY_CTX_free(dctx);

    for (int k = 0; k < 2; k++) {
        rq_begin(&r, 2, 0);
        rq_item(&r, OP(DERIVE_KEY), NULL);
        add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
        add_text(&r, T(UNIQUE_IDENTIFIER), priv);
        add_enum(&r, T(DERIVATION_METHOD), ARCA_KMIP_DERIVE_ASYMMETRIC_KEY);
        push(&r, T(DERIVATION_PARAMETERS));
        if (k == 1) add_bytes(&r, T(DERIVATION_DATA), point, point_len);
        pop(&r);
        push(&r, T(ATTRIBUTES));
        add_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
        add_int(&r, T(CRYPTOGRAPHIC_LENGTH), 256);
        assert_int_equal(arca_ttlv_add_bool(&r.b, T(EXTRACTABLE), true), ARCA_OK);
        assert_int_equal(arca_ttlv_add_bool(&r.b, T(SENSITIVE), false), ARCA_OK);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        if (k == 0) {
            /* No peer public key: Invalid Field, and the message says so. */
            expect_fail(&s, 0, RR(INVALID_FIELD));
            rs_free(&s);
            continue;
        }
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), derived, UID_BUF);
        rs_free(&s);
    }
    uid_op(f, f->sess, 2, 0, OP(GET), derived, &s);
    {
        const arca_ttlv_node *kb = key_block(ok_payload(&s, 0), T(SYMMETRIC_KEY)), *kv;
        assert_int_equal(arca_ttlv_child(kb, T(KEY_VALUE), ARCA_TTLV_STRUCTURE, &kv), ARCA_OK);
        const arca_ttlv_node *km = get_bytes(kv, T(KEY_MATERIAL));
        assert_int_equal(km->len, 32);
        assert_memory_equal(km->data, z, 32);
    }
    rs_free(&s);
    EVP_PKEY_free(ours);
    EVP_PKEY_free(peer);
    OPENSSL_cleanse(z, sizeof(z));
}

/* ---- The remaining refusals, one by one --------------------------------------- */

/* Send one item built by fn and expect reason. */
typedef void (*build_fn)(rq *r, const char *a, const char *b);

static void expect_item(fx *f, int maj, int min, build_fn fn, const char *a, const char *b, uint32_t reason)
{
    rq r;
    rs s;
    rq_begin(&r, maj, min);
    fn(&r, a, b);
    send_rq(f, f->sess, &r, &s);
    expect_fail(&s, 0, reason);
    rs_free(&s);
}

static void b_template_name(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(CREATE), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    push(r, T(TEMPLATE_ATTRIBUTE));
    push(r, T(NAME));
    add_text(r, T(NAME_VALUE), "a-template");
    add_enum(r, T(NAME_TYPE), ARCA_KMIP_NAME_UNINTERPRETED_TEXT_STRING);
    pop(r);
    pop(r);
    rq_item_end(r);
}

static void b_locate_negative(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(LOCATE), NULL);
    add_int(r, T(MAXIMUM_ITEMS), -1);
    rq_item_end(r);
}

static void b_locate_usage(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(LOCATE), NULL);
    if (rq_v2(r)) push(r, T(ATTRIBUTES));
    attr_int(r, T(CRYPTOGRAPHIC_USAGE_MASK), ARCA_KMIP_USAGE_ENCRYPT);
    if (rq_v2(r)) pop(r);
    rq_item_end(r);
}

static void b_locate_len_only(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(LOCATE), NULL);
    if (rq_v2(r)) push(r, T(ATTRIBUTES));
    attr_int(r, T(CRYPTOGRAPHIC_LENGTH), 256);
    if (rq_v2(r)) pop(r);
    rq_item_end(r);
}

static void b_encrypt_streaming(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(ENCRYPT), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_bytes(r, T(DATA), "x", 1);
    add_bytes(r, T(CORRELATION_VALUE), "c", 1);
    rq_item_end(r);
}

static void b_get_compressed(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(GET), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_enum(r, T(KEY_COMPRESSION_TYPE), 1);
    rq_item_end(r);
}

static void b_get_pkcs1(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(GET), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_enum(r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_PKCS_1);
    rq_item_end(r);
}

static void b_get_wrap_mac(rq *r, const char *uid, const char *wrapper)
{
    rq_item(r, OP(GET), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    push(r, T(KEY_WRAPPING_SPECIFICATION));
    add_enum(r, T(WRAPPING_METHOD), ARCA_KMIP_WRAP_MAC_SIGN);
    push(r, T(ENCRYPTION_KEY_INFORMATION));
    add_text(r, T(UNIQUE_IDENTIFIER), wrapper);
    pop(r);
    pop(r);
    rq_item_end(r);
}

static void b_get_wrap(rq *r, const char *uid, const char *wrapper)
{
    get_wrapped_rq(r, uid, wrapper, 0);
}

static void b_get_wrap_pkcs8(rq *r, const char *uid, const char *wrapper)
{
    rq_item(r, OP(GET), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_enum(r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_PKCS_8);
    push(r, T(KEY_WRAPPING_SPECIFICATION));
    push(r, T(ENCRYPTION_KEY_INFORMATION));
    add_text(r, T(UNIQUE_IDENTIFIER), wrapper);
    pop(r);
    pop(r);
    rq_item_end(r);
}

static void b_rng_huge(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(RNG_RETRIEVE), NULL);
    add_int(r, T(DATA_LENGTH), (int32_t)ARCA_DATA_MAX + 1);
    rq_item_end(r);
}

static void b_gcm_tag8(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(ENCRYPT), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_cparams_begin(r);
    add_enum(r, T(BLOCK_CIPHER_MODE), ARCA_KMIP_MODE_GCM);
    add_int(r, T(TAG_LENGTH), 8);
    pop(r);
    add_bytes(r, T(DATA), "x", 1);
    rq_item_end(r);
}

static void b_gcm_short_tag(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(DECRYPT), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_bytes(r, T(DATA), "xxxx", 4);
    add_bytes(r, T(IV_COUNTER_NONCE), "0123456789ab", 12);
    add_bytes(r, T(AUTHENTICATED_ENCRYPTION_TAG), "tag", 3);
    rq_item_end(r);
}

static void b_sign_sha1(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(SIGN), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_cparams_begin(r);
    add_enum(r, T(HASHING_ALGORITHM), ARCA_KMIP_HASH_MD5);
    pop(r);
    add_bytes(r, T(DATA), "x", 1);
    rq_item_end(r);
}

static void b_mac_aes_alg(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(MAC), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_cparams_begin(r);
    add_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    pop(r);
    add_bytes(r, T(DATA), "x", 1);
    rq_item_end(r);
}

static void b_encrypt(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(ENCRYPT), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_bytes(r, T(DATA), "x", 1);
    rq_item_end(r);
}

static void b_sign(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(SIGN), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_bytes(r, T(DATA), "x", 1);
    rq_item_end(r);
}

static void b_register_wrapped(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(REGISTER), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    push(r, T(SYMMETRIC_KEY));
    push(r, T(KEY_BLOCK));
    add_enum(r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_RAW);
    add_bytes(r, T(KEY_VALUE), "0123456789abcdef01234567", 24);
    add_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    push(r, T(KEY_WRAPPING_DATA));
    add_enum(r, T(WRAPPING_METHOD), ARCA_KMIP_WRAP_ENCRYPT);
    pop(r);
    pop(r);
    pop(r);
    rq_item_end(r);
}

static void b_register_cert(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(REGISTER), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_CERTIFICATE);
    rq_item_end(r);
}

static void b_rekey_attrs(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(REKEY), NULL);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    attrs_begin(r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
    attr_int(r, T(CRYPTOGRAPHIC_LENGTH), 128);
    pop(r);
    rq_item_end(r);
}

static void b_derive_two(rq *r, const char *uid, const char *b)
{
    (void)b;
    rq_item(r, OP(DERIVE_KEY), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    add_text(r, T(UNIQUE_IDENTIFIER), uid);
    rq_item_end(r);
}

static void b_pair_mismatch(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(CREATE_KEY_PAIR), NULL);
    attrs_begin(r, T(PRIVATE_KEY_TEMPLATE_ATTRIBUTE), T(PRIVATE_KEY_ATTRIBUTES));
    attr_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_RSA);
    pop(r);
    attrs_begin(r, T(PUBLIC_KEY_TEMPLATE_ATTRIBUTE), T(PUBLIC_KEY_ATTRIBUTES));
    attr_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_EC);
    pop(r);
    rq_item_end(r);
}

static void b_two_names(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(CREATE), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    attrs_begin(r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
    attr_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    attr_int(r, T(CRYPTOGRAPHIC_LENGTH), 128);
    attr_name(r, "one");
    attr_name(r, "two");
    pop(r);
    rq_item_end(r);
}

static void b_two_algs(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(CREATE), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    attrs_begin(r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
    attr_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    attr_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    attr_int(r, T(CRYPTOGRAPHIC_LENGTH), 128);
    pop(r);
    rq_item_end(r);
}

static void b_create_state(rq *r, const char *a, const char *b)
{
    (void)a, (void)b;
    rq_item(r, OP(CREATE), NULL);
    add_enum(r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
    attrs_begin(r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
    attr_enum(r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
    attr_int(r, T(CRYPTOGRAPHIC_LENGTH), 128);
    attr_enum(r, T(STATE), ARCA_KMIP_STATE_ACTIVE);
    pop(r);
    rq_item_end(r);
}

static void test_more_refusals(void **state)
{
    fx *f = *state;
    char aes_uid[UID_BUF], hmac_uid[UID_BUF], priv[UID_BUF], pub[UID_BUF], kek[UID_BUF], ext[UID_BUF];
    sym_opts o = aes(256, -1, "more-aes");
    create_sym(f, 2, 0, &o, aes_uid);
    o = (sym_opts){ARCA_KMIP_ALG_HMAC_SHA256, 256, -1, NULL, -1, -1};
    create_sym(f, 2, 0, &o, hmac_uid);
    o = aes(256, ARCA_KMIP_USAGE_WRAP_KEY, NULL);
    create_sym(f, 2, 0, &o, kek);
    o = (sym_opts){ARCA_KMIP_ALG_AES, 128, -1, NULL, 1, 1};
    create_sym(f, 2, 0, &o, ext);
    create_pair(f, 2, 0, ARCA_KMIP_ALG_EC, 256, 0, NULL, -1, -1, priv, pub);
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        bool v2 = maj >= 2;
        if (!v2) expect_item(f, maj, min, b_template_name, NULL, NULL, RR(FEATURE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_locate_negative, NULL, NULL, RR(INVALID_FIELD));
        expect_item(f, maj, min, b_locate_usage, NULL, NULL, v2 ? RR(UNSUPPORTED_ATTRIBUTE) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_locate_len_only, NULL, NULL, RR(INVALID_FIELD));
        expect_item(f, maj, min, b_encrypt_streaming, aes_uid, NULL, RR(FEATURE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_get_compressed, pub, NULL, RR(KEY_COMPRESSION_TYPE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_get_pkcs1, pub, NULL, RR(KEY_FORMAT_TYPE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_get_wrap_mac, ext, kek,
                    v2 ? RR(KEY_WRAP_TYPE_NOT_SUPPORTED) : RR(FEATURE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_get_wrap, pub, kek, RR(FEATURE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_get_wrap_pkcs8, ext, kek, RR(KEY_FORMAT_TYPE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_rng_huge, NULL, NULL, RR(INVALID_FIELD));
        expect_item(f, maj, min, b_gcm_tag8, aes_uid, NULL, v2 ? RR(BAD_CRYPTOGRAPHIC_PARAMETERS) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_gcm_short_tag, aes_uid, NULL,
                    v2 ? RR(BAD_CRYPTOGRAPHIC_PARAMETERS) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_sign_sha1, priv, NULL,
                    v2 ? RR(UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS) : RR(CRYPTOGRAPHIC_FAILURE));
        expect_item(f, maj, min, b_mac_aes_alg, hmac_uid, NULL,
                    v2 ? RR(UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS) : RR(CRYPTOGRAPHIC_FAILURE));
        expect_item(f, maj, min, b_encrypt, hmac_uid, NULL, v2 ? RR(INVALID_OBJECT_TYPE) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_sign, aes_uid, NULL, v2 ? RR(INVALID_OBJECT_TYPE) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_register_wrapped, NULL, NULL, RR(FEATURE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_register_cert, NULL, NULL, v2 ? RR(INVALID_OBJECT_TYPE) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_rekey_attrs, aes_uid, NULL, RR(FEATURE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_derive_two, hmac_uid, NULL, RR(FEATURE_NOT_SUPPORTED));
        expect_item(f, maj, min, b_pair_mismatch, NULL, NULL, v2 ? RR(INVALID_ATTRIBUTE_VALUE) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_two_names, NULL, NULL, RR(INVALID_FIELD));
        expect_item(f, maj, min, b_two_algs, NULL, NULL, v2 ? RR(ATTRIBUTE_SINGLE_VALUED) : RR(INVALID_FIELD));
        expect_item(f, maj, min, b_create_state, NULL, NULL, v2 ? RR(ATTRIBUTE_READ_ONLY) : RR(INVALID_FIELD));
    }

    /* Locate by State: Active matches, Pre-Active nothing. */
    rq r;
    rs s;
    for (int k = 0; k < 2; k++) {
        rq_begin(&r, 2, 0);
        rq_item(&r, OP(LOCATE), NULL);
        push(&r, T(ATTRIBUTES));
        attr_name(&r, "more-aes");
        add_enum(&r, T(STATE), k == 0 ? ARCA_KMIP_STATE_ACTIVE : ARCA_KMIP_STATE_PRE_ACTIVE);
        pop(&r);
        rq_item_end(&r);
        send_rq(f, f->sess, &r, &s);
        assert_int_equal(arca_ttlv_count(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER)), k == 0 ? 1 : 0);
        rs_free(&s);
    }

    /* A credential of another type. */
    arca_kms_session *s1;
    assert_int_equal(arca_kms_session_new(f->kms, &s1), ARCA_OK);
    rq_begin(&r, 1, 2);
    {
        /* Re-build the header by hand: Device credential. */
        arca_builder_cleanup(&r.b);
        size_t h, v, a, c, cv;
        assert_int_equal(arca_builder_init(&r.b, 512, 1u << 16), ARCA_OK);
        assert_int_equal(arca_ttlv_begin_struct(&r.b, T(REQUEST_MESSAGE), &r.msg_mark), ARCA_OK);
        assert_int_equal(arca_ttlv_begin_struct(&r.b, T(REQUEST_HEADER), &h), ARCA_OK);
        assert_int_equal(arca_ttlv_begin_struct(&r.b, T(PROTOCOL_VERSION), &v), ARCA_OK);
        add_int(&r, T(PROTOCOL_VERSION_MAJOR), 1);
        add_int(&r, T(PROTOCOL_VERSION_MINOR), 2);
        assert_int_equal(arca_ttlv_end_struct(&r.b, v), ARCA_OK);
        assert_int_equal(arca_ttlv_begin_struct(&r.b, T(AUTHENTICATION), &a), ARCA_OK);
        assert_int_equal(arca_ttlv_begin_struct(&r.b, T(CREDENTIAL), &c), ARCA_OK);
        add_enum(&r, T(CREDENTIAL_TYPE), ARCA_KMIP_CREDENTIAL_DEVICE);
        assert_int_equal(arca_ttlv_begin_struct(&r.b, T(CREDENTIAL_VALUE), &cv), ARCA_OK);
        add_text(&r, T(DEVICE_IDENTIFIER), "dev-1");
        assert_int_equal(arca_ttlv_end_struct(&r.b, cv), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(&r.b, c), ARCA_OK);
        assert_int_equal(arca_ttlv_end_struct(&r.b, a), ARCA_OK);
        add_int(&r, T(BATCH_COUNT), 1);
        assert_int_equal(arca_ttlv_end_struct(&r.b, h), ARCA_OK);
    }
    rq_item(&r, OP(QUERY), NULL);
    rq_item_end(&r);
    send_rq(f, s1, &r, &s);
    expect_fail(&s, 0, RR(PERMISSION_DENIED));
    assert_true(msg_has(&s, 0, "Username and Password"));
    rs_free(&s);
    arca_kms_session_free(s1);

    /* Register of a public key (X.509 SubjectPublicKeyInfo): Signature
     * Verify of a signature OpenSSL made. */
    EVP_PKEY *ec = EVP_EC_gen("P-384");
    assert_non_null(ec);
    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(ec, &spki);
    assert_true(spki_len > 0);
    char rpub[UID_BUF];
    rq_begin(&r, 2, 0);
    rq_item(&r, OP(REGISTER), NULL);
    add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_PUBLIC_KEY);
    push(&r, T(PUBLIC_KEY));
    push(&r, T(KEY_BLOCK));
    add_enum(&r, T(KEY_FORMAT_TYPE), ARCA_KMIP_KEY_FORMAT_X_509);
    push(&r, T(KEY_VALUE));
    add_bytes(&r, T(KEY_MATERIAL), spki, (size_t)spki_len);
    pop(&r);
    pop(&r);
    pop(&r);
    rq_item_end(&r);
    send_rq(f, f->sess, &r, &s);
    get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), rpub, sizeof(rpub));
    rs_free(&s);
    activate(f, 2, 0, rpub);
    OPENSSL_free(spki);
    const char msg[] = "signed outside";
    uint8_t sig[256];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, ec), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(ec);
    assert_int_equal(verify_with(f, 2, 0, rpub, ARCA_KMIP_SIG_ECDSA_WITH_SHA384, 0, 0, msg, sizeof(msg), sig, sig_len),
                     ARCA_KMIP_VALIDITY_VALID);
    assert_int_equal(verify_with(f, 2, 0, rpub, ARCA_KMIP_SIG_ECDSA_WITH_SHA384, 0, 0, msg, sizeof(msg) - 1, sig,
                                 sig_len),
                     ARCA_KMIP_VALIDITY_INVALID);
}

/* ---- Lifecycle: Activate, Revoke, State enforcement ---------------------- */

static uint32_t state_of(fx *f, int maj, int min, const char *uid)
{
    rs s;
    const arca_ttlv_node *v;
    uint32_t st;
    uid_op(f, f->sess, maj, min, OP(GET_ATTRIBUTES), uid, &s);
    assert_non_null(v = attr_value(ok_payload(&s, 0), maj >= 2, T(STATE)));
    st = v->u32;
    rs_free(&s);
    return st;
}

/* Encrypt with GCM; returns the item's result (payload read into e on success). */
static bool try_encrypt(fx *f, int maj, int min, const char *uid, enc_result *e, rs *s)
{
    rq r;
    const char pt[] = "lifecycle data";
    rq_begin(&r, maj, min);
    encrypt_rq(&r, uid, ARCA_KMIP_MODE_GCM, pt, sizeof(pt), NULL, 0);
    send_rq(f, f->sess, &r, s);
    uint32_t status = 99;
    assert_int_equal(arca_ttlv_child_enum(item_at(s, 0), T(RESULT_STATUS), &status), ARCA_OK);
    if (status != ARCA_KMIP_STATUS_SUCCESS) return false;
    read_enc(ok_payload(s, 0), e);
    return true;
}

static void test_lifecycle(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        bool v2 = maj >= 2;
        uint32_t wrong_state = v2 ? RR(WRONG_KEY_LIFECYCLE_STATE) : RR(PERMISSION_DENIED);
        char uid[UID_BUF], found[4][UID_BUF];
        enc_result e, e2;
        rs s;
        sym_opts o = aes(256, USAGE_ENC_DEC, "life");

        /* Create without an Activation Date: Pre-Active, nothing cryptographic. */
        create_sym_pre(f, maj, min, &o, uid);
        assert_int_equal(state_of(f, maj, min, uid), ARCA_KMIP_STATE_PRE_ACTIVE);
        assert_false(try_encrypt(f, maj, min, uid, &e, &s));
        expect_fail(&s, 0, wrong_state);
        assert_true(msg_has(&s, 0, "Activate"));
        rs_free(&s);

        /* Activate; a second Activate is refused. */
        activate(f, maj, min, uid);
        assert_int_equal(state_of(f, maj, min, uid), ARCA_KMIP_STATE_ACTIVE);
        uid_op(f, f->sess, maj, min, OP(ACTIVATE), uid, &s);
        expect_fail(&s, 0, wrong_state);
        assert_true(msg_has(&s, 0, "is Active"));
        rs_free(&s);
        if (v2) {
            /* The activation day is reported when asked for. */
            rq r;
            rq_begin(&r, maj, min);
            rq_item(&r, OP(GET_ATTRIBUTES), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), uid);
            add_enum(&r, T(ATTRIBUTE_REFERENCE), T(ACTIVATION_DATE));
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            const arca_ttlv_node *ad = attr_value(ok_payload(&s, 0), true, T(ACTIVATION_DATE));
            assert_non_null(ad);
            assert_true(ad->i64 <= (int64_t)time(NULL) && ad->i64 > (int64_t)time(NULL) - 2 * 86400);
            rs_free(&s);
        }

        /* Encrypt works; Destroy of an Active key is refused. */
        assert_true(try_encrypt(f, maj, min, uid, &e, &s));
        rs_free(&s);
        uid_op(f, f->sess, maj, min, OP(DESTROY), uid, &s);
        expect_fail(&s, 0, wrong_state);
        rs_free(&s);

        /* Revoke (not a compromise): Deactivated. Decrypt still works,
         * Encrypt does not, a second deactivation is refused. */
        kmip_revoke_ok(f, maj, min, uid, ARCA_KMIP_REVOKE_SUPERSEDED, 0);
        assert_int_equal(state_of(f, maj, min, uid), ARCA_KMIP_STATE_DEACTIVATED);
        decrypt(f, maj, min, uid, ARCA_KMIP_MODE_GCM, &e, &s);
        assert_int_equal(get_bytes(ok_payload(&s, 0), T(DATA))->len, sizeof("lifecycle data"));
        assert_memory_equal(get_bytes(ok_payload(&s, 0), T(DATA))->data, "lifecycle data", sizeof("lifecycle data"));
        rs_free(&s);
        assert_false(try_encrypt(f, maj, min, uid, &e2, &s));
        expect_fail(&s, 0, wrong_state);
        rs_free(&s);
        revoke_rq(f, maj, min, uid, ARCA_KMIP_REVOKE_UNSPECIFIED, 0, &s);
        expect_fail(&s, 0, wrong_state);
        assert_true(msg_has(&s, 0, "Deactivated"));
        rs_free(&s);

        /* Locate by State finds it as Deactivated only. */
        for (uint32_t q = ARCA_KMIP_STATE_PRE_ACTIVE; q <= ARCA_KMIP_STATE_COMPROMISED; q++) {
            rq r;
            rq_begin(&r, maj, min);
            rq_item(&r, OP(LOCATE), NULL);
            if (v2) push(&r, T(ATTRIBUTES)); /* 1.x: Attribute fields directly in the payload */
            attr_name(&r, "life");
            attr_enum(&r, T(STATE), q);
            if (v2) pop(&r);
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            size_t n = arca_ttlv_count(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER));
            assert_int_equal(n, q == ARCA_KMIP_STATE_DEACTIVATED ? 1u : 0u);
            if (n == 1) get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), found[0], UID_BUF);
            rs_free(&s);
        }
        assert_string_equal(found[0], uid);

        /* Compromise: needs the occurrence date; then Compromised, still
         * decrypts; a second compromise is refused. Bad reason codes too. */
        revoke_rq(f, maj, min, uid, ARCA_KMIP_REVOKE_KEY_COMPROMISE, 0, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        assert_true(msg_has(&s, 0, "Compromise Occurrence Date"));
        rs_free(&s);
        revoke_rq(f, maj, min, uid, 0x42, 0, &s);
        expect_fail(&s, 0, RR(INVALID_FIELD));
        rs_free(&s);
        {
            rq r; /* no Revocation Reason at all */
            rq_begin(&r, maj, min);
            rq_item(&r, OP(REVOKE), NULL);
            add_text(&r, T(UNIQUE_IDENTIFIER), uid);
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            expect_fail(&s, 0, RR(INVALID_FIELD));
            assert_true(msg_has(&s, 0, "Revocation Reason"));
            rs_free(&s);
        }
        kmip_revoke_ok(f, maj, min, uid, ARCA_KMIP_REVOKE_KEY_COMPROMISE, (int64_t)time(NULL) - 3600);
        assert_int_equal(state_of(f, maj, min, uid), ARCA_KMIP_STATE_COMPROMISED);
        decrypt(f, maj, min, uid, ARCA_KMIP_MODE_GCM, &e, &s);
        (void)ok_payload(&s, 0);
        rs_free(&s);
        revoke_rq(f, maj, min, uid, ARCA_KMIP_REVOKE_CA_COMPROMISE, (int64_t)time(NULL), &s);
        expect_fail(&s, 0, wrong_state);
        assert_true(msg_has(&s, 0, "already Compromised"));
        rs_free(&s);

        /* A revoked key can be destroyed; then it is gone. */
        uid_op(f, f->sess, maj, min, OP(DESTROY), uid, &s);
        (void)ok_payload(&s, 0);
        rs_free(&s);
        uid_op(f, f->sess, maj, min, OP(ACTIVATE), uid, &s);
        expect_fail(&s, 0, RR(ITEM_NOT_FOUND));
        rs_free(&s);
    }
}

/* What a PyKMIP client does: Create -> Activate -> Encrypt -> Revoke ->
 * Destroy, each its own request, in 1.2 and 2.0; and a Pre-Active key can
 * be destroyed directly (Pre-Active -> Destroyed). Keys made with an
 * Activation Date in the past are Active at once; in the future, Pre-Active. */
static void test_lifecycle_pykmip_sequence(void **state)
{
    fx *f = *state;
    const int versions[][2] = {{1, 2}, {2, 0}};
    for (size_t vi = 0; vi < 2; vi++) {
        int maj = versions[vi][0], min = versions[vi][1];
        char uid[UID_BUF], pre[UID_BUF], got[UID_BUF];
        enc_result e;
        rs s;
        sym_opts o = aes(128, USAGE_ENC_DEC, NULL);
        create_sym_pre(f, maj, min, &o, uid);
        activate(f, maj, min, uid);
        assert_true(try_encrypt(f, maj, min, uid, &e, &s));
        rs_free(&s);
        kmip_revoke_ok(f, maj, min, uid, ARCA_KMIP_REVOKE_CESSATION_OF_OPERATION, 0);
        uid_op(f, f->sess, maj, min, OP(DESTROY), uid, &s);
        get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), got, sizeof(got));
        assert_string_equal(got, uid);
        rs_free(&s);

        create_sym_pre(f, maj, min, &o, pre);
        uid_op(f, f->sess, maj, min, OP(DESTROY), pre, &s);
        (void)ok_payload(&s, 0);
        rs_free(&s);

        for (int k = 0; k < 2; k++) {
            rq r;
            rq_begin(&r, maj, min);
            rq_item(&r, OP(CREATE), NULL);
            add_enum(&r, T(OBJECT_TYPE), ARCA_KMIP_OBJECT_SYMMETRIC_KEY);
            attrs_begin(&r, T(TEMPLATE_ATTRIBUTE), T(ATTRIBUTES));
            attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_AES);
            attr_int(&r, T(CRYPTOGRAPHIC_LENGTH), 128);
            attr_datetime(&r, T(ACTIVATION_DATE), (int64_t)time(NULL) + (k == 0 ? -60 : 86400));
            pop(&r);
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            get_text(ok_payload(&s, 0), T(UNIQUE_IDENTIFIER), uid, UID_BUF);
            rs_free(&s);
            assert_int_equal(state_of(f, maj, min, uid), k == 0 ? ARCA_KMIP_STATE_ACTIVE : ARCA_KMIP_STATE_PRE_ACTIVE);
        }
        /* Create Key Pair: both halves Pre-Active; Sign needs Activate. */
        {
            rq r;
            char priv[UID_BUF], pub[UID_BUF];
            rq_begin(&r, maj, min);
            rq_item(&r, OP(CREATE_KEY_PAIR), NULL);
            attrs_begin(&r, T(COMMON_TEMPLATE_ATTRIBUTE), T(COMMON_ATTRIBUTES));
            attr_enum(&r, T(CRYPTOGRAPHIC_ALGORITHM), ARCA_KMIP_ALG_EC);
            attr_int(&r, T(CRYPTOGRAPHIC_LENGTH), 256);
            pop(&r);
            rq_item_end(&r);
            send_rq(f, f->sess, &r, &s);
            get_text(ok_payload(&s, 0), T(PRIVATE_KEY_UNIQUE_IDENTIFIER), priv, UID_BUF);
            get_text(ok_payload(&s, 0), T(PUBLIC_KEY_UNIQUE_IDENTIFIER), pub, UID_BUF);
            rs_free(&s);
            assert_int_equal(state_of(f, maj, min, priv), ARCA_KMIP_STATE_PRE_ACTIVE);
            assert_int_equal(state_of(f, maj, min, pub), ARCA_KMIP_STATE_PRE_ACTIVE);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discover_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_and_rng, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_encrypt_decrypt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_pairs_sign_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pykmip_captured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rekey_pair_and_derive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_derive_ecdh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_more_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_pykmip_sequence, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
