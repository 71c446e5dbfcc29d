/* The local request protocol codec: round trips of every op and response
 * shape, and every decoder refusing short, trailing and over-cap input
 * with the exact status; frames over a socketpair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "arca/local_proto.h"
#include "arca/secret.h"

static uint8_t *encode(const arca_lp_request *r, size_t *len)
{
    arca_builder b;
    uint8_t *out = NULL;
    assert_int_equal(arca_builder_init(&b, 64, 4u << 20), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(r, &b), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &out, len), ARCA_OK);
    return out;
}

static arca_status decode(const uint8_t *buf, size_t len, arca_lp_request *out)
{
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    return arca_lp_request_decode(&c, out);
}

static arca_lp_bytes B(const char *s)
{
    arca_lp_bytes v = {(const uint8_t *)s, strlen(s)};
    return v;
}

static void assert_bytes(const arca_lp_bytes *a, const arca_lp_bytes *b)
{
    assert_int_equal(a->len, b->len);
    if (a->len) assert_memory_equal(a->data, b->data, a->len);
}

/* A request with every field set; each op encodes its own subset. */
static void fill(arca_lp_request *r, uint16_t op)
{
    static const uint8_t v1[] = {1, 2, 3}, v2[] = {4}, iv[12] = {9}, data[100] = {7}, sig[64] = {8};
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->partition = B("tenant-a");
    r->role = 3;
    r->pin = B("1234abcd");
    r->pin2 = B("user-pin");
    r->mech_type = 0x1080;
    r->mech.type = 0x1087;
    r->mech.hash = 0x250;
    r->mech.mgf = 2;
    r->mech.salt_len = 32;
    r->mech.tag_bits = 128;
    r->mech.iv.data = iv;
    r->mech.iv.len = sizeof(iv);
    r->mech.aad = B("aad");
    r->mech.label = B("label");
    r->mech.salt = B("salt");
    r->mech.info = B("info");
    r->mech.public_data = B("peer");
    r->tmpl.attrs[0] = (arca_lp_attr){0x3, v1, sizeof(v1)};
    r->tmpl.attrs[1] = (arca_lp_attr){0x100, v2, sizeof(v2)};
    r->tmpl.attrs[2] = (arca_lp_attr){0x101, NULL, 0};
    r->tmpl.num = 3;
    r->tmpl2.attrs[0] = (arca_lp_attr){0x2, v2, sizeof(v2)};
    r->tmpl2.num = 1;
    memset(r->id, 0xaa, sizeof(r->id));
    memset(r->id2, 0xbb, sizeof(r->id2));
    r->value = 77;
    r->data.data = data;
    r->data.len = sizeof(data);
    r->sig.data = sig;
    r->sig.len = sizeof(sig);
    r->name = B("arca-client");
    r->value64 = 0x0102030405060708ull;
    if (op == ARCA_LP_ATTEST) r->data.len = 32;           /* a nonce */
    if (op == ARCA_LP_IDENTITY_PUT) r->data = B("p1,p2"); /* partitions text */
    if (op == ARCA_LP_REVOKE) r->data = B("key leaked");   /* message text */
    if (op == ARCA_LP_TLS_CSR) r->name = B("kms.example"); /* subject CN */
}

static void assert_template(const arca_lp_template *a, const arca_lp_template *b)
{
    assert_int_equal(a->num, b->num);
    for (size_t i = 0; i < a->num; i++) {
        assert_int_equal(a->attrs[i].type, b->attrs[i].type);
        arca_lp_bytes x = {a->attrs[i].value, a->attrs[i].len}, y = {b->attrs[i].value, b->attrs[i].len};
        assert_bytes(&x, &y);
    }
}

static void assert_mech(const arca_lp_mechanism *a, const arca_lp_mechanism *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->hash, b->hash);
    assert_int_equal(a->mgf, b->mgf);
    assert_int_equal(a->salt_len, b->salt_len);
    assert_int_equal(a->tag_bits, b->tag_bits);
    assert_bytes(&a->iv, &b->iv);
    assert_bytes(&a->aad, &b->aad);
    assert_bytes(&a->label, &b->label);
    assert_bytes(&a->salt, &b->salt);
    assert_bytes(&a->info, &b->info);
    assert_bytes(&a->public_data, &b->public_data);
}

/* Every op: encode, decode, compare the fields the op carries; then every
 * truncation is ARCA_ERR_DECODE and one trailing byte is ARCA_ERR_DECODE. */
static void test_request_round_trip_all_ops(void **state)
{
    (void)state;
    static arca_lp_request in, out;
    for (uint16_t op = 1; op <= ARCA_LP_OP_MAX; op++) {
        fill(&in, op);
        size_t len = 0;
        uint8_t *buf = encode(&in, &len);
        assert_int_equal(decode(buf, len, &out), ARCA_OK);
        assert_int_equal(out.op, op);
        switch (op) {
        case ARCA_LP_LOGIN:
            assert_bytes(&out.partition, &in.partition);
            assert_int_equal(out.role, 3);
            assert_bytes(&out.pin, &in.pin);
            break;
        case ARCA_LP_PARTITION_CREATE:
            assert_bytes(&out.partition, &in.partition);
            assert_bytes(&out.pin, &in.pin);
            assert_bytes(&out.pin2, &in.pin2);
            break;
        case ARCA_LP_INITIALISE:
        case ARCA_LP_INIT_USER_PIN:
            assert_bytes(&out.pin, &in.pin);
            assert_int_equal(out.partition.len, 0);
            break;
        case ARCA_LP_GENERATE_KEY_PAIR:
            assert_template(&out.tmpl2, &in.tmpl2);
            /* fall through */
        case ARCA_LP_GENERATE_KEY:
            assert_int_equal(out.mech_type, in.mech_type);
            assert_template(&out.tmpl, &in.tmpl);
            break;
        case ARCA_LP_FIND:
            assert_int_equal(out.value, 77);
            /* fall through */
        case ARCA_LP_CREATE_OBJECT:
            assert_template(&out.tmpl, &in.tmpl);
            break;
        case ARCA_LP_VERIFY:
            assert_bytes(&out.sig, &in.sig);
            /* fall through */
        case ARCA_LP_SIGN:
        case ARCA_LP_ENCRYPT:
        case ARCA_LP_DECRYPT:
            assert_memory_equal(out.id, in.id, 16);
            assert_mech(&out.mech, &in.mech);
            assert_bytes(&out.data, &in.data);
            break;
        case ARCA_LP_WRAP:
            assert_memory_equal(out.id, in.id, 16);
            assert_memory_equal(out.id2, in.id2, 16);
            assert_mech(&out.mech, &in.mech);
            break;
        case ARCA_LP_UNWRAP:
            assert_bytes(&out.data, &in.data);
            /* fall through */
        case ARCA_LP_DERIVE:
            assert_memory_equal(out.id, in.id, 16);
            assert_mech(&out.mech, &in.mech);
            assert_template(&out.tmpl, &in.tmpl);
            break;
        case ARCA_LP_GET_ATTRIBUTE:
            assert_memory_equal(out.id, in.id, 16);
            assert_int_equal(out.value, 77);
            break;
        case ARCA_LP_SET_ATTRIBUTES:
            assert_template(&out.tmpl, &in.tmpl);
            /* fall through */
        case ARCA_LP_DESTROY:
        case ARCA_LP_ROTATE:
            assert_memory_equal(out.id, in.id, 16);
            break;
        case ARCA_LP_RANDOM:
            assert_int_equal(out.value, 77);
            break;
        case ARCA_LP_INITIALISE_DOMAIN:
            assert_bytes(&out.pin, &in.pin);
            assert_bytes(&out.data, &in.data);
            assert_int_equal(out.name.len, 0);
            break;
        case ARCA_LP_IDENTITY_PUT:
            assert_bytes(&out.name, &in.name);
            assert_int_equal(out.value, 77);
            assert_bytes(&out.data, &in.data);
            assert_int_equal(len, 4 + 2 + 11 + 4 + 2 + 5);
            break;
        case ARCA_LP_IDENTITY_REMOVE:
            assert_bytes(&out.name, &in.name);
            assert_int_equal(out.data.len, 0);
            break;
        case ARCA_LP_ATTEST:
            assert_int_equal(out.data.len, 32);
            assert_bytes(&out.data, &in.data);
            break;
        case ARCA_LP_AUDIT_READ:
            assert_int_equal(out.value64, 0x0102030405060708ull);
            assert_int_equal(out.value, 77);
            assert_int_equal(len, 4 + 8 + 4);
            break;
        case ARCA_LP_TLS_CSR:
            assert_bytes(&out.name, &in.name);
            assert_int_equal(out.data.len, 0);
            assert_int_equal(len, 4 + 2 + 11);
            break;
        case ARCA_LP_TLS_CERT_INSTALL:
            assert_bytes(&out.data, &in.data);
            assert_int_equal(out.name.len, 0);
            assert_int_equal(len, 4 + 4 + 100);
            break;
        case ARCA_LP_ACTIVATE:
            assert_memory_equal(out.id, in.id, 16);
            assert_int_equal(out.value, 0);
            assert_int_equal(len, 4 + 16);
            break;
        case ARCA_LP_REVOKE:
            assert_memory_equal(out.id, in.id, 16);
            assert_int_equal(out.value, 77);
            assert_bytes(&out.data, &in.data);
            assert_int_equal(len, 4 + 16 + 4 + 2 + 10);
            break;
        case ARCA_LP_SELECT_PARTITION:
            assert_bytes(&out.partition, &in.partition);
            assert_int_equal(out.pin.len, 0);
            assert_int_equal(out.role, 0);
            assert_int_equal(len, 4 + 2 + 8);
            break;
        case ARCA_LP_SET_PIN:
            /* old PIN in pin, new PIN in pin2, nothing else */
            assert_bytes(&out.pin, &in.pin);
            assert_bytes(&out.pin2, &in.pin2);
            assert_int_equal(out.partition.len, 0);
            assert_int_equal(len, 4 + 2 + 8 + 2 + 8);
            break;
        case ARCA_LP_INIT_TOKEN:
            /* partition name, then the SO PIN, nothing else */
            assert_bytes(&out.partition, &in.partition);
            assert_bytes(&out.pin, &in.pin);
            assert_int_equal(out.role, 0);
            assert_int_equal(out.pin2.len, 0);
            assert_int_equal(len, 4 + 2 + 8 + 2 + 8);
            break;
        default:
            assert_int_equal(len, 4); /* version and op only */
            break;
        }
        for (size_t cut = 0; cut < len; cut++) assert_int_equal(decode(buf, cut, &out), ARCA_ERR_DECODE);
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, buf, len);
        longer[len] = 0;
        assert_int_equal(decode(longer, len + 1, &out), ARCA_ERR_DECODE);
        free(longer);
        free(buf);
    }
}

static void test_request_bad_version_and_op(void **state)
{
    (void)state;
    arca_lp_request out;
    const uint8_t v2[] = {0, 2, 0, ARCA_LP_LOGOUT};
    const uint8_t op0[] = {0, 1, 0, 0};
    const uint8_t op25[] = {0, 1, 0, ARCA_LP_OP_MAX + 1};
    const uint8_t ok[] = {0, 1, 0, ARCA_LP_LOGOUT};
    assert_int_equal(decode(v2, sizeof(v2), &out), ARCA_ERR_DECODE);
    assert_int_equal(decode(op0, sizeof(op0), &out), ARCA_ERR_DECODE);
    assert_int_equal(decode(op25, sizeof(op25), &out), ARCA_ERR_DECODE);
    assert_int_equal(decode(ok, sizeof(ok), &out), ARCA_OK);
    assert_int_equal(out.op, ARCA_LP_LOGOUT);
}

/* Hand-built bodies (the encoder refuses these). */
static size_t put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

static void test_request_over_caps(void **state)
{
    (void)state;
    static uint8_t buf[300 * 1024];
    static arca_lp_request out;
    size_t n;

    /* PIN of 129 bytes */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_INIT_USER_PIN);
    n += put16(buf + n, ARCA_LP_PIN_MAX + 1);
    memset(buf + n, 'a', ARCA_LP_PIN_MAX + 1);
    n += ARCA_LP_PIN_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* partition name of 65 bytes */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_LOGIN);
    n += put16(buf + n, ARCA_LP_NAME_MAX + 1);
    memset(buf + n, 'p', ARCA_LP_NAME_MAX + 1);
    n += ARCA_LP_NAME_MAX + 1;
    buf[n++] = 3;
    n += put16(buf + n, 4);
    memcpy(buf + n, "1234", 4);
    n += 4;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* a NUL inside a PIN */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_INITIALISE);
    n += put16(buf + n, 4);
    memcpy(buf + n, "12\0" "4", 4);
    n += 4;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_DECODE);

    /* template of 65 attributes (count checked before the attributes) */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_CREATE_OBJECT);
    n += put32(buf + n, ARCA_LP_MAX_ATTRS + 1);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* attribute value over ARCA_LP_ATTR_VALUE_MAX */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_CREATE_OBJECT);
    n += put32(buf + n, 1);
    n += put32(buf + n, 0x11);
    n += put32(buf + n, ARCA_LP_ATTR_VALUE_MAX + 1);
    memset(buf + n, 0, ARCA_LP_ATTR_VALUE_MAX + 1);
    n += ARCA_LP_ATTR_VALUE_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* FIND max over ARCA_LP_FIND_MAX */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_FIND);
    n += put32(buf + n, 0);
    n += put32(buf + n, ARCA_LP_FIND_MAX + 1);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* RANDOM over ARCA_LP_DATA_MAX */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_RANDOM);
    n += put32(buf + n, ARCA_LP_DATA_MAX + 1);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* data over ARCA_LP_DATA_MAX (cap checked before the bytes) */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_SIGN);
    memset(buf + n, 0, 16);
    n += 16;
    for (int i = 0; i < 5; i++) n += put32(buf + n, 0);
    for (int i = 0; i < 6; i++) n += put32(buf + n, 0);
    size_t mech_end = n;
    n += put32(buf + n, ARCA_LP_DATA_MAX + 1);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* an IV over ARCA_LP_IV_MAX */
    n = mech_end - 6 * 4;
    n += put32(buf + n, ARCA_LP_IV_MAX + 1);
    memset(buf + n, 0, ARCA_LP_IV_MAX + 1);
    n += ARCA_LP_IV_MAX + 1;
    for (int i = 0; i < 5; i++) n += put32(buf + n, 0);
    n += put32(buf + n, 0);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* identity name of 65 bytes (IDENTITY_REMOVE) */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_IDENTITY_REMOVE);
    n += put16(buf + n, ARCA_LP_IDENTITY_NAME_MAX + 1);
    memset(buf + n, 'n', ARCA_LP_IDENTITY_NAME_MAX + 1);
    n += ARCA_LP_IDENTITY_NAME_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);
    /* ... of 64 is fine, with a NUL inside it is not */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_IDENTITY_REMOVE);
    n += put16(buf + n, ARCA_LP_IDENTITY_NAME_MAX);
    memset(buf + n, 'n', ARCA_LP_IDENTITY_NAME_MAX);
    n += ARCA_LP_IDENTITY_NAME_MAX;
    assert_int_equal(decode(buf, n, &out), ARCA_OK);
    assert_int_equal(out.name.len, ARCA_LP_IDENTITY_NAME_MAX);
    buf[n - 3] = 0;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_DECODE);

    /* partitions text of 1025 bytes (IDENTITY_PUT) */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_IDENTITY_PUT);
    n += put16(buf + n, 1);
    buf[n++] = 'a';
    n += put32(buf + n, 8);
    n += put16(buf + n, ARCA_LP_PARTITIONS_MAX + 1);
    memset(buf + n, 'p', ARCA_LP_PARTITIONS_MAX + 1);
    n += ARCA_LP_PARTITIONS_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* client CA over 16 KiB (cap checked before the bytes) */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_INITIALISE_DOMAIN);
    n += put16(buf + n, 4);
    memcpy(buf + n, "1234", 4);
    n += 4;
    n += put32(buf + n, ARCA_LP_CLIENT_CA_MAX + 1);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* nonce of 65 bytes */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_ATTEST);
    n += put32(buf + n, ARCA_LP_NONCE_MAX + 1);
    memset(buf + n, 1, ARCA_LP_NONCE_MAX + 1);
    n += ARCA_LP_NONCE_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);

    /* AUDIT_READ max over ARCA_LP_AUDIT_READ_MAX; at the cap it is fine */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_AUDIT_READ);
    n += put32(buf + n, 0);
    n += put32(buf + n, 5);
    n += put32(buf + n, ARCA_LP_AUDIT_READ_MAX + 1);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);
    put32(buf + n - 4, ARCA_LP_AUDIT_READ_MAX);
    assert_int_equal(decode(buf, n, &out), ARCA_OK);
    assert_int_equal(out.value64, 5);
    assert_int_equal(out.value, ARCA_LP_AUDIT_READ_MAX);
}

static void encode_expect(const arca_lp_request *r, arca_status expect)
{
    arca_builder b;
    assert_int_equal(arca_builder_init(&b, 16, 1 << 20), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(r, &b), expect);
    arca_builder_cleanup(&b);
}

/* The encoder enforces the new ops' caps too. */
static void test_request_encode_refuses_identity_ops(void **state)
{
    (void)state;
    static arca_lp_request r;
    static uint8_t big[ARCA_LP_CLIENT_CA_MAX + 1];
    char name[ARCA_LP_IDENTITY_NAME_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;

    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_IDENTITY_REMOVE;
    r.name = B(name);
    encode_expect(&r, ARCA_ERR_TOO_LARGE);
    r.name.data = (const uint8_t *)"a\0b";
    r.name.len = 3;
    encode_expect(&r, ARCA_ERR_ARGS);

    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_IDENTITY_PUT;
    r.name = B("n");
    r.data.data = big;
    r.data.len = ARCA_LP_PARTITIONS_MAX + 1;
    memset(big, 'p', sizeof(big));
    encode_expect(&r, ARCA_ERR_TOO_LARGE);

    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_INITIALISE_DOMAIN;
    r.pin = B("1234");
    r.data.data = big;
    r.data.len = ARCA_LP_CLIENT_CA_MAX + 1;
    encode_expect(&r, ARCA_ERR_TOO_LARGE);
    r.data.len = ARCA_LP_CLIENT_CA_MAX;
    encode_expect(&r, ARCA_OK);

    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_ATTEST;
    r.data.data = big;
    r.data.len = ARCA_LP_NONCE_MAX + 1;
    encode_expect(&r, ARCA_ERR_TOO_LARGE);

    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_AUDIT_READ;
    r.value = ARCA_LP_AUDIT_READ_MAX + 1;
    encode_expect(&r, ARCA_ERR_TOO_LARGE);
}

/* Ops 31-35: caps on both sides with exact statuses. */
static void test_tls_and_lifecycle_ops_caps(void **state)
{
    (void)state;
    static arca_lp_request r, out;
    static uint8_t buf[ARCA_LP_CERT_CHAIN_MAX + 64];
    static uint8_t big[ARCA_LP_CERT_CHAIN_MAX + 1];
    memset(big, 'c', sizeof(big));
    size_t n;

    /* encoder */
    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_TLS_CSR;
    r.name.data = big;
    r.name.len = ARCA_LP_CN_MAX + 1;
    encode_expect(&r, ARCA_ERR_TOO_LARGE);
    r.name.len = ARCA_LP_CN_MAX;
    encode_expect(&r, ARCA_OK);
    r.name.data = (const uint8_t *)"a\0b";
    r.name.len = 3;
    encode_expect(&r, ARCA_ERR_ARGS);

    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_TLS_CERT_INSTALL;
    r.data.data = big;
    r.data.len = ARCA_LP_CERT_CHAIN_MAX + 1;
    encode_expect(&r, ARCA_ERR_TOO_LARGE);
    r.data.len = ARCA_LP_CERT_CHAIN_MAX;
    encode_expect(&r, ARCA_OK);

    memset(&r, 0, sizeof(r));
    r.op = ARCA_LP_REVOKE;
    r.data.data = big;
    r.data.len = ARCA_LP_REVOKE_MESSAGE_MAX + 1;
    encode_expect(&r, ARCA_ERR_TOO_LARGE);
    r.data.len = ARCA_LP_REVOKE_MESSAGE_MAX;
    encode_expect(&r, ARCA_OK);
    r.data.data = (const uint8_t *)"x\0y";
    r.data.len = 3;
    encode_expect(&r, ARCA_ERR_ARGS);

    /* decoder: CN of 65 bytes */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_TLS_CSR);
    n += put16(buf + n, ARCA_LP_CN_MAX + 1);
    memset(buf + n, 'c', ARCA_LP_CN_MAX + 1);
    n += ARCA_LP_CN_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);
    /* a NUL in the CN */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_TLS_CSR);
    n += put16(buf + n, 3);
    memcpy(buf + n, "a\0b", 3);
    n += 3;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_DECODE);

    /* chain of 32 KiB + 1 (length checked before the bytes) */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_TLS_CERT_INSTALL);
    n += put32(buf + n, ARCA_LP_CERT_CHAIN_MAX + 1);
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);
    /* exactly 32 KiB */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_TLS_CERT_INSTALL);
    n += put32(buf + n, ARCA_LP_CERT_CHAIN_MAX);
    memset(buf + n, 0x30, ARCA_LP_CERT_CHAIN_MAX);
    n += ARCA_LP_CERT_CHAIN_MAX;
    assert_int_equal(decode(buf, n, &out), ARCA_OK);
    assert_int_equal(out.data.len, ARCA_LP_CERT_CHAIN_MAX);

    /* revoke message of 257 bytes, and one with a NUL */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_REVOKE);
    memset(buf + n, 0xaa, 16);
    n += 16;
    n += put32(buf + n, 1);
    size_t msg_at = n;
    n += put16(buf + n, ARCA_LP_REVOKE_MESSAGE_MAX + 1);
    memset(buf + n, 'm', ARCA_LP_REVOKE_MESSAGE_MAX + 1);
    n += ARCA_LP_REVOKE_MESSAGE_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);
    n = msg_at + put16(buf + msg_at, 2);
    buf[n++] = 'm';
    buf[n++] = 0;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_DECODE);
    buf[n - 1] = 'n';
    assert_int_equal(decode(buf, n, &out), ARCA_OK);
    assert_int_equal(out.value, 1);
    assert_int_equal(out.data.len, 2);

    /* SELECT_PARTITION: a 65-byte name is too large, 64 fits, a NUL is refused */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_SELECT_PARTITION);
    size_t name_at = n;
    n += put16(buf + n, ARCA_LP_NAME_MAX + 1);
    memset(buf + n, 'p', ARCA_LP_NAME_MAX + 1);
    n += ARCA_LP_NAME_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);
    n = name_at + put16(buf + name_at, ARCA_LP_NAME_MAX);
    memset(buf + n, 'p', ARCA_LP_NAME_MAX);
    n += ARCA_LP_NAME_MAX;
    assert_int_equal(decode(buf, n, &out), ARCA_OK);
    assert_int_equal(out.op, ARCA_LP_SELECT_PARTITION);
    assert_int_equal(out.partition.len, ARCA_LP_NAME_MAX);
    n = name_at + put16(buf + name_at, 2);
    buf[n++] = 'p';
    buf[n++] = 0;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_DECODE);
    assert_int_equal(arca_lp_op_shape(ARCA_LP_SELECT_PARTITION), ARCA_LP_SHAPE_EMPTY);
    assert_string_equal(arca_lp_op_name(ARCA_LP_SELECT_PARTITION), "SELECT_PARTITION");

    /* SET_PIN: a 129-byte new PIN is too large, a NUL in the old one is refused */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_SET_PIN);
    n += put16(buf + n, 4);
    memcpy(buf + n, "old1", 4);
    n += 4;
    size_t new_at = n;
    n += put16(buf + n, ARCA_LP_PIN_MAX + 1);
    memset(buf + n, 'n', ARCA_LP_PIN_MAX + 1);
    n += ARCA_LP_PIN_MAX + 1;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_TOO_LARGE);
    n = new_at + put16(buf + new_at, ARCA_LP_PIN_MAX);
    memset(buf + n, 'n', ARCA_LP_PIN_MAX);
    n += ARCA_LP_PIN_MAX;
    assert_int_equal(decode(buf, n, &out), ARCA_OK);
    assert_int_equal(out.op, ARCA_LP_SET_PIN);
    assert_int_equal(out.pin.len, 4);
    assert_int_equal(out.pin2.len, ARCA_LP_PIN_MAX);
    buf[4 + 2 + 1] = 0; /* "o\0d1" */
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_DECODE);
    assert_int_equal(arca_lp_op_shape(ARCA_LP_SET_PIN), ARCA_LP_SHAPE_EMPTY);
    assert_string_equal(arca_lp_op_name(ARCA_LP_SET_PIN), "SET_PIN");

    /* WHOAMI carries nothing: a trailing byte is refused */
    n = put16(buf, 1);
    n += put16(buf + n, ARCA_LP_WHOAMI);
    assert_int_equal(decode(buf, n, &out), ARCA_OK);
    buf[n++] = 0;
    assert_int_equal(decode(buf, n, &out), ARCA_ERR_DECODE);
}

static void test_request_encode_refuses(void **state)
{
    (void)state;
    static arca_lp_request r;
    arca_builder b;
    char pin[ARCA_LP_PIN_MAX + 2];
    memset(pin, 'x', sizeof(pin) - 1);
    pin[sizeof(pin) - 1] = 0;

    memset(&r, 0, sizeof(r));
    r.op = 0;
    assert_int_equal(arca_builder_init(&b, 16, 1 << 20), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(&r, &b), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);

    r.op = ARCA_LP_INITIALISE;
    r.pin = B(pin);
    assert_int_equal(arca_builder_init(&b, 16, 1 << 20), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(&r, &b), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);

    r.pin.data = (const uint8_t *)"ab\0d";
    r.pin.len = 4;
    assert_int_equal(arca_builder_init(&b, 16, 1 << 20), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(&r, &b), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);

    r.op = ARCA_LP_CREATE_OBJECT;
    r.tmpl.num = ARCA_LP_MAX_ATTRS + 1;
    assert_int_equal(arca_builder_init(&b, 16, 1 << 20), ARCA_OK);
    assert_int_equal(arca_lp_request_encode(&r, &b), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);
}

/* ---- responses ---- */

static arca_status resp_decode(const uint8_t *buf, size_t len, uint16_t op, arca_lp_response *out)
{
    arca_cursor c;
    arca_cursor_init(&c, buf, len);
    return arca_lp_response_decode(&c, op, out);
}

static uint8_t *finish(arca_builder *b, size_t *len)
{
    uint8_t *out = NULL;
    assert_int_equal(arca_builder_finish(b, &out, len), ARCA_OK);
    return out;
}

/* Checks a response: decodes, then truncations and a trailing byte fail. */
static void check_edges(const uint8_t *buf, size_t len, uint16_t op)
{
    arca_lp_response r;
    for (size_t cut = 0; cut < len; cut++) assert_int_equal(resp_decode(buf, cut, op, &r), ARCA_ERR_DECODE);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(resp_decode(longer, len + 1, op, &r), ARCA_ERR_DECODE);
    free(longer);
}

static void test_response_shapes(void **state)
{
    (void)state;
    arca_builder b;
    arca_lp_response r;
    size_t len;
    uint8_t *buf;
    uint8_t id[16], id2[16];
    memset(id, 1, sizeof(id));
    memset(id2, 2, sizeof(id2));

    /* EMPTY */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_LOGIN, &r), ARCA_OK);
    assert_int_equal(r.status, ARCA_OK);
    check_edges(buf, len, ARCA_LP_LOGIN);
    free(buf);

    /* ID_PAIR */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_bytes(&b, id, 16), ARCA_OK);
    assert_int_equal(arca_builder_add_bytes(&b, id2, 16), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_GENERATE_KEY_PAIR, &r), ARCA_OK);
    assert_memory_equal(r.id, id, 16);
    assert_memory_equal(r.id2, id2, 16);
    check_edges(buf, len, ARCA_LP_GENERATE_KEY_PAIR);
    /* the same bytes are trailing data for a single-id op */
    assert_int_equal(resp_decode(buf, len, ARCA_LP_ROTATE, &r), ARCA_ERR_DECODE);
    free(buf);

    /* BYTES */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_u32_prefixed(&b, "signature", 9), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_SIGN, &r), ARCA_OK);
    assert_int_equal(r.data.len, 9);
    assert_memory_equal(r.data.data, "signature", 9);
    check_edges(buf, len, ARCA_LP_SIGN);
    free(buf);

    /* IDS */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 2), ARCA_OK);
    assert_int_equal(arca_builder_add_bytes(&b, id, 16), ARCA_OK);
    assert_int_equal(arca_builder_add_bytes(&b, id2, 16), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_FIND, &r), ARCA_OK);
    assert_int_equal(r.num_items, 2);
    assert_int_equal(arca_cursor_remaining(&r.list), 32);
    assert_memory_equal(r.list.data + 16, id2, 16);
    check_edges(buf, len, ARCA_LP_FIND);
    free(buf);

    /* NAMES */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 2), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, "a", 1), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, "bc", 2), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_PARTITION_LIST, &r), ARCA_OK);
    assert_int_equal(r.num_items, 2);
    assert_int_equal(arca_cursor_remaining(&r.list), 7);
    check_edges(buf, len, ARCA_LP_PARTITION_LIST);
    free(buf);

    /* PAIRS */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 1), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, "sealing", 7), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, "dev", 3), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_STATUS, &r), ARCA_OK);
    assert_int_equal(r.num_items, 1);
    check_edges(buf, len, ARCA_LP_STATUS);
    free(buf);

    /* U64 */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_u64(&b, 1234567890123ull), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_AUDIT_VERIFY, &r), ARCA_OK);
    assert_int_equal(r.u64, 1234567890123ull);
    check_edges(buf, len, ARCA_LP_AUDIT_VERIFY);
    free(buf);

    /* IDENTITIES */
    assert_int_equal(arca_builder_init(&b, 16, 4096), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 2), ARCA_OK);
    arca_lp_identity ia = {B("arca-admin"), 0xF, B("*")}, ib = {B("arca-client"), 0x8, B("p1,p2")};
    assert_int_equal(arca_lp_identity_add(&b, &ia), ARCA_OK);
    assert_int_equal(arca_lp_identity_add(&b, &ib), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_IDENTITY_LIST, &r), ARCA_OK);
    assert_int_equal(r.num_items, 2);
    arca_lp_identity it;
    assert_int_equal(arca_lp_identity_next(&r.list, &it), ARCA_OK);
    assert_bytes(&it.name, &ia.name);
    assert_int_equal(it.roles, 0xF);
    assert_bytes(&it.partitions, &ia.partitions);
    assert_int_equal(arca_lp_identity_next(&r.list, &it), ARCA_OK);
    assert_bytes(&it.name, &ib.name);
    assert_int_equal(it.roles, 0x8);
    assert_bytes(&it.partitions, &ib.partitions);
    assert_int_equal(arca_lp_identity_next(&r.list, &it), ARCA_ERR_DECODE);
    check_edges(buf, len, ARCA_LP_IDENTITY_LIST);
    free(buf);

    /* RECORDS */
    assert_int_equal(arca_builder_init(&b, 16, 4096), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_builder_add_u32(&b, 1), ARCA_OK);
    arca_lp_record ra = {42, 1700000000123ull, B("arca-admin/admin"), B("LOGIN"), ARCA_ERR_PIN_INCORRECT,
                         B("00112233445566778899aabbccddeeff"), B("partition p1")};
    assert_int_equal(arca_lp_record_add(&b, &ra), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_AUDIT_READ, &r), ARCA_OK);
    assert_int_equal(r.num_items, 1);
    arca_lp_record rt;
    assert_int_equal(arca_lp_record_next(&r.list, &rt), ARCA_OK);
    assert_int_equal(rt.seq, 42);
    assert_int_equal(rt.time_ms, 1700000000123ull);
    assert_bytes(&rt.actor, &ra.actor);
    assert_bytes(&rt.event, &ra.event);
    assert_int_equal(rt.status, ARCA_ERR_PIN_INCORRECT);
    assert_bytes(&rt.object, &ra.object);
    assert_bytes(&rt.detail, &ra.detail);
    assert_int_equal(arca_cursor_remaining(&r.list), 0);
    check_edges(buf, len, ARCA_LP_AUDIT_READ);
    free(buf);

    /* WHOAMI */
    assert_int_equal(arca_builder_init(&b, 16, 4096), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    arca_lp_bytes part = B("p1");
    assert_int_equal(arca_lp_whoami_add(&b, &ib, 3, &part), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(len, 4 + 2 + 11 + 4 + 2 + 5 + 1 + 2 + 2);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_WHOAMI, &r), ARCA_OK);
    assert_bytes(&r.identity.name, &ib.name);
    assert_int_equal(r.identity.roles, 0x8);
    assert_bytes(&r.identity.partitions, &ib.partitions);
    assert_int_equal(r.role, 3);
    assert_bytes(&r.partition, &part);
    check_edges(buf, len, ARCA_LP_WHOAMI);
    free(buf);
    /* a partition over the name cap: refused by the encoder and the decoder */
    char longpart[ARCA_LP_NAME_MAX + 2];
    memset(longpart, 'p', sizeof(longpart) - 1);
    longpart[sizeof(longpart) - 1] = 0;
    part = B(longpart);
    assert_int_equal(arca_builder_init(&b, 16, 4096), ARCA_OK);
    assert_int_equal(arca_lp_whoami_add(&b, &ib, 3, &part), ARCA_ERR_TOO_LARGE);
    arca_builder_cleanup(&b);
    assert_int_equal(arca_builder_init(&b, 16, 4096), ARCA_OK);
    assert_int_equal(arca_lp_response_begin(&b), ARCA_OK);
    assert_int_equal(arca_lp_identity_add(&b, &ib), ARCA_OK);
    assert_int_equal(arca_builder_add_u8(&b, 3), ARCA_OK);
    assert_int_equal(arca_builder_add_u16_prefixed(&b, longpart, ARCA_LP_NAME_MAX + 1), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_WHOAMI, &r), ARCA_ERR_TOO_LARGE);
    free(buf);
    assert_int_equal(arca_lp_op_shape(ARCA_LP_TLS_CSR), ARCA_LP_SHAPE_BYTES);
    assert_int_equal(arca_lp_op_shape(ARCA_LP_TLS_CERT_INSTALL), ARCA_LP_SHAPE_EMPTY);
    assert_int_equal(arca_lp_op_shape(ARCA_LP_ACTIVATE), ARCA_LP_SHAPE_EMPTY);
    assert_int_equal(arca_lp_op_shape(ARCA_LP_REVOKE), ARCA_LP_SHAPE_EMPTY);
    assert_string_equal(arca_lp_op_name(ARCA_LP_WHOAMI), "WHOAMI");
    assert_string_equal(arca_lp_op_name(ARCA_LP_TLS_CERT_INSTALL), "TLS_CERT_INSTALL");

    /* ATTEST: BYTES */
    assert_int_equal(arca_lp_op_shape(ARCA_LP_ATTEST), ARCA_LP_SHAPE_BYTES);
    assert_int_equal(arca_lp_op_shape(ARCA_LP_INITIALISE_DOMAIN), ARCA_LP_SHAPE_EMPTY);
    assert_string_equal(arca_lp_op_name(ARCA_LP_AUDIT_READ), "AUDIT_READ");

    /* unknown op */
    const uint8_t ok[] = {0, 0, 0, 0};
    assert_int_equal(resp_decode(ok, sizeof(ok), 99, &r), ARCA_ERR_ARGS);
}

static void test_response_errors(void **state)
{
    (void)state;
    arca_builder b;
    arca_lp_response r;
    size_t len;
    uint8_t *buf;
    char long_msg[400];
    memset(long_msg, 'm', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = 0;

    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_error(&b, ARCA_ERR_PIN_INCORRECT, "PIN incorrect"), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_SIGN, &r), ARCA_OK);
    assert_int_equal(r.status, ARCA_ERR_PIN_INCORRECT);
    assert_int_equal(r.message.len, 13);
    check_edges(buf, len, ARCA_LP_SIGN);
    free(buf);

    /* long messages are truncated to the cap by the encoder */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_error(&b, ARCA_ERR_INTERNAL, long_msg), ARCA_OK);
    buf = finish(&b, &len);
    assert_int_equal(resp_decode(buf, len, ARCA_LP_SIGN, &r), ARCA_OK);
    assert_int_equal(r.message.len, ARCA_LP_MESSAGE_MAX);
    free(buf);

    /* an error response must not claim ARCA_OK */
    assert_int_equal(arca_builder_init(&b, 16, 1024), ARCA_OK);
    assert_int_equal(arca_lp_response_error(&b, ARCA_OK, "x"), ARCA_ERR_ARGS);
    arca_builder_cleanup(&b);

    /* hand-built hostile responses */
    uint8_t h[600];
    size_t n = put32(h, ARCA_STATUS_COUNT); /* status out of range */
    n += put16(h + n, 0);
    assert_int_equal(resp_decode(h, n, ARCA_LP_LOGIN, &r), ARCA_ERR_DECODE);

    n = put32(h, ARCA_ERR_INTERNAL); /* message over cap */
    n += put16(h + n, ARCA_LP_MESSAGE_MAX + 1);
    memset(h + n, 'm', ARCA_LP_MESSAGE_MAX + 1);
    n += ARCA_LP_MESSAGE_MAX + 1;
    assert_int_equal(resp_decode(h, n, ARCA_LP_LOGIN, &r), ARCA_ERR_TOO_LARGE);

    n = put32(h, ARCA_OK); /* too many ids */
    n += put32(h + n, ARCA_LP_FIND_MAX + 1);
    assert_int_equal(resp_decode(h, n, ARCA_LP_FIND, &r), ARCA_ERR_TOO_LARGE);

    n = put32(h, ARCA_OK); /* bytes over the frame cap */
    n += put32(h + n, ARCA_LP_FRAME_MAX + 1);
    assert_int_equal(resp_decode(h, n, ARCA_LP_SIGN, &r), ARCA_ERR_TOO_LARGE);

    n = put32(h, ARCA_OK); /* list count larger than its items */
    n += put32(h + n, 3);
    n += put16(h + n, 1);
    h[n++] = 'a';
    assert_int_equal(resp_decode(h, n, ARCA_LP_PARTITION_LIST, &r), ARCA_ERR_DECODE);

    n = put32(h, ARCA_OK); /* too many identities */
    n += put32(h + n, ARCA_LP_IDENTITIES_MAX + 1);
    assert_int_equal(resp_decode(h, n, ARCA_LP_IDENTITY_LIST, &r), ARCA_ERR_TOO_LARGE);

    n = put32(h, ARCA_OK); /* too many records */
    n += put32(h + n, ARCA_LP_AUDIT_READ_MAX + 1);
    assert_int_equal(resp_decode(h, n, ARCA_LP_AUDIT_READ, &r), ARCA_ERR_TOO_LARGE);

    n = put32(h, ARCA_OK); /* identity name over its cap */
    n += put32(h + n, 1);
    n += put16(h + n, ARCA_LP_IDENTITY_NAME_MAX + 1);
    memset(h + n, 'n', ARCA_LP_IDENTITY_NAME_MAX + 1);
    n += ARCA_LP_IDENTITY_NAME_MAX + 1;
    n += put32(h + n, 1);
    n += put16(h + n, 1);
    h[n++] = '*';
    assert_int_equal(resp_decode(h, n, ARCA_LP_IDENTITY_LIST, &r), ARCA_ERR_TOO_LARGE);
}

/* ---- frames ---- */

static void test_frames(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint8_t *out = NULL;
    size_t len = 0;

    assert_int_equal(arca_lp_frame_write(sv[0], (const uint8_t *)"hello", 5), ARCA_OK);
    assert_int_equal(arca_lp_frame_read(sv[1], 1024, 1000, false, &out, &len), ARCA_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "hello", 5);
    free(out);

    /* in secret memory */
    assert_int_equal(arca_lp_frame_write(sv[0], (const uint8_t *)"key", 3), ARCA_OK);
    assert_int_equal(arca_lp_frame_read(sv[1], 1024, 1000, true, &out, &len), ARCA_OK);
    assert_true(arca_secmem_owns(out));
    arca_secmem_free(out);

    /* empty payload */
    assert_int_equal(arca_lp_frame_write(sv[0], NULL, 0), ARCA_OK);
    assert_int_equal(arca_lp_frame_read(sv[1], 1024, 1000, false, &out, &len), ARCA_OK);
    assert_null(out);
    assert_int_equal(len, 0);

    /* over the reader's max: refused before allocating */
    assert_int_equal(arca_lp_frame_write(sv[0], (const uint8_t *)"0123456789", 10), ARCA_OK);
    assert_int_equal(arca_lp_frame_read(sv[1], 9, 1000, false, &out, &len), ARCA_ERR_FRAME_SIZE);
    uint8_t junk[10];
    assert_int_equal(read(sv[1], junk, sizeof(junk)), 10);

    /* over the protocol's max on write */
    assert_int_equal(arca_lp_frame_write(sv[0], junk, ARCA_LP_FRAME_MAX + 1), ARCA_ERR_FRAME_SIZE);

    /* nothing arrives */
    assert_int_equal(arca_lp_frame_read(sv[1], 1024, 50, false, &out, &len), ARCA_ERR_TIMEOUT);

    /* EOF mid-frame, then a clean EOF */
    const uint8_t partial[] = {0, 0, 0, 8, 'a', 'b'};
    assert_int_equal(write(sv[0], partial, sizeof(partial)), (ssize_t)sizeof(partial));
    shutdown(sv[0], SHUT_WR);
    assert_int_equal(arca_lp_frame_read(sv[1], 1024, 1000, false, &out, &len), ARCA_ERR_IO);
    assert_int_equal(arca_lp_frame_read(sv[1], 1024, 1000, false, &out, &len), ARCA_ERR_CHANNEL);
    close(sv[0]);
    close(sv[1]);

    /* EOF inside the length prefix */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], partial, 2), 2);
    close(sv[0]);
    assert_int_equal(arca_lp_frame_read(sv[1], 1024, 1000, false, &out, &len), ARCA_ERR_IO);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip_all_ops),
        cmocka_unit_test(test_request_bad_version_and_op),
        cmocka_unit_test(test_request_over_caps),
        cmocka_unit_test(test_request_encode_refuses),
        cmocka_unit_test(test_request_encode_refuses_identity_ops),
        cmocka_unit_test(test_tls_and_lifecycle_ops_caps),
        cmocka_unit_test(test_response_shapes),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
