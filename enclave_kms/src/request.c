/* Local-protocol requests onto arca_kms_* calls. See request.h. */
#include "arca/hex.h"
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/local_proto.h"
#include "arca/log.h"
#include "arca/secret.h"
#include "tls_server.h"

_Static_assert(ARCA_LP_ATTR_VALUE_MAX == ARCA_ATTR_VALUE_MAX, "attribute cap differs");
_Static_assert(ARCA_LP_DATA_MAX == ARCA_DATA_MAX, "data cap differs");
_Static_assert(ARCA_LP_PIN_MAX == ARCA_PIN_MAX, "PIN cap differs");
_Static_assert(ARCA_LP_NAME_MAX == ARCA_PARTITION_NAME_MAX, "name cap differs");
_Static_assert(ARCA_LP_ID_LEN == ARCA_OBJECT_ID_LEN, "object id length differs");
_Static_assert(sizeof(arca_lp_attr) == sizeof(arca_attr), "arca_lp_attr must mirror arca_attr");
_Static_assert(ARCA_LP_IDENTITY_NAME_MAX == ARCA_IDENTITY_NAME_MAX, "identity name cap differs");
_Static_assert(ARCA_LP_PARTITIONS_MAX == ARCA_IDENTITY_PARTITIONS_MAX, "partitions cap differs");
_Static_assert(ARCA_LP_CLIENT_CA_MAX == ARCA_CLIENT_CA_MAX, "client CA cap differs");
_Static_assert(ARCA_LP_NONCE_MAX == ARCA_ATTEST_NONCE_MAX, "nonce cap differs");
_Static_assert(ARCA_LP_AUDIT_READ_MAX == ARCA_AUDIT_READ_MAX, "audit read cap differs");
_Static_assert(ARCA_LP_IDENTITIES_MAX == ARCA_IDENTITY_MAX, "identity count cap differs");
_Static_assert(ARCA_LP_CN_MAX == ARCA_TLS_CN_MAX, "CSR CN cap differs");
_Static_assert(ARCA_LP_CERT_CHAIN_MAX == ARCA_TLS_CHAIN_MAX, "certificate chain cap differs");

/* Output cap for byte results (signatures, ciphertext, attribute values). */
#define RESULT_MAX (ARCA_LP_FRAME_MAX - 64u)

/* What one op produced, encoded after the status. */
typedef struct result {
    arca_builder bytes; /* secret builder: BYTES and NAMES (raw NUL-separated) */
    arca_object_id id, id2;
    arca_object_id *ids;
    size_t num_ids;
    uint64_t u64;
    char msg[ARCA_LP_MESSAGE_MAX]; /* error message, "" = the status's own */
} result;

static void convert_template(const arca_lp_template *t, arca_attr *out)
{
    for (size_t i = 0; i < t->num; i++) {
        out[i].type = t->attrs[i].type;
        out[i].value = t->attrs[i].value;
        out[i].len = t->attrs[i].len;
    }
}

static void convert_mechanism(const arca_lp_mechanism *m, arca_mechanism *out)
{
    memset(out, 0, sizeof(*out));
    out->type = m->type;
    out->hash = m->hash;
    out->mgf = m->mgf;
    out->salt_len = m->salt_len;
    out->tag_bits = m->tag_bits;
    out->iv = m->iv.data;
    out->iv_len = m->iv.len;
    out->aad = m->aad.data;
    out->aad_len = m->aad.len;
    out->label = m->label.data;
    out->label_len = m->label.len;
    out->salt = m->salt.data;
    out->salt_bytes_len = m->salt.len;
    out->info = m->info.data;
    out->info_len = m->info.len;
    out->public_data = m->public_data.data;
    out->public_data_len = m->public_data.len;
}

/* A NUL-terminated copy of a PIN in secret memory (the codec has refused
 * embedded NULs). */
static arca_status pin_copy(const arca_lp_bytes *v, arca_secret *out)
{
    ARCA_GUARD(arca_secret_alloc(out, v->len + 1));
    if (v->len) memcpy(out->data, v->data, v->len);
    out->data[v->len] = 0;
    return ARCA_OK;
}

static void name_copy(const arca_lp_bytes *v, char out[ARCA_LP_NAME_MAX + 1])
{
    if (v->len) memcpy(out, v->data, v->len);
    out[v->len] = 0;
}

static arca_status role_from_wire(uint8_t v, arca_role *out)
{
    switch (v) {
    case ARCA_ROLE_ADMIN:
    case ARCA_ROLE_SO:
    case ARCA_ROLE_USER:
        *out = (arca_role)v;
        return ARCA_OK;
    default:
        return ARCA_ERR_ARGS;
    }
}

static arca_status do_login(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r)
{
    arca_role role;
    ARCA_GUARD(role_from_wire(r->role, &role));
    char name[ARCA_LP_NAME_MAX + 1];
    name_copy(&r->partition, name);
    arca_secret pin = {0};
    ARCA_GUARD(pin_copy(&r->pin, &pin));
    arca_status st = arca_kms_login(ctx->kms, sess, r->partition.len ? name : NULL, role, (const char *)pin.data);
    arca_secret_free(&pin);
    return st;
}

static arca_status do_partition_create(const arca_request_ctx *ctx, arca_kms_session *sess,
                                       const arca_lp_request *r)
{
    char name[ARCA_LP_NAME_MAX + 1];
    name_copy(&r->partition, name);
    arca_secret so = {0}, user = {0};
    arca_status st;
    ARCA_GUARD_OUT(pin_copy(&r->pin, &so));
    ARCA_GUARD_OUT(pin_copy(&r->pin2, &user));
    st = arca_kms_partition_create(ctx->kms, sess, name, (const char *)so.data, (const char *)user.data);
out:
    arca_secret_free(&so);
    arca_secret_free(&user);
    return st;
}

static arca_status do_set_pin(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r)
{
    arca_secret old_pin = {0}, new_pin = {0};
    arca_status st;
    ARCA_GUARD_OUT(pin_copy(&r->pin, &old_pin));
    ARCA_GUARD_OUT(pin_copy(&r->pin2, &new_pin));
    st = arca_kms_set_pin(ctx->kms, sess, (const char *)old_pin.data, (const char *)new_pin.data);
out:
    arca_secret_free(&old_pin);
    arca_secret_free(&new_pin);
    return st;
}

static arca_status do_init_token(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r,
                                 result *res)
{
    char name[ARCA_LP_NAME_MAX + 1];
    name_copy(&r->partition, name);
    arca_secret pin = {0};
    ARCA_GUARD(pin_copy(&r->pin, &pin));
    arca_status st = arca_kms_init_token(ctx->kms, sess, name, (const char *)pin.data, &res->u64);
    arca_secret_free(&pin);
    return st;
}

static arca_status do_single_pin(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r)
{
    arca_secret pin = {0};
    ARCA_GUARD(pin_copy(&r->pin, &pin));
    arca_status st = r->op == ARCA_LP_INITIALISE ? arca_kms_initialise(ctx->kms, sess, (const char *)pin.data)
                                                 : arca_kms_init_user_pin(ctx->kms, sess, (const char *)pin.data);
    arca_secret_free(&pin);
    return st;
}

static arca_status do_initialise_domain(const arca_request_ctx *ctx, arca_kms_session *sess,
                                       const arca_lp_request *r)
{
    arca_secret pin = {0};
    ARCA_GUARD(pin_copy(&r->pin, &pin));
    arca_status st = arca_kms_initialise_domain(ctx->kms, sess, (const char *)pin.data, r->data.data, r->data.len);
    arca_secret_free(&pin);
    return st;
}

static arca_status do_identity(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r)
{
    char name[ARCA_LP_IDENTITY_NAME_MAX + 1];
    char parts[ARCA_LP_PARTITIONS_MAX + 1];
    /* The codec capped both and refused NULs. */
    if (r->name.len) memcpy(name, r->name.data, r->name.len);
    name[r->name.len] = 0;
    if (r->op == ARCA_LP_IDENTITY_REMOVE) return arca_kms_identity_remove(ctx->kms, sess, name);
    if (r->data.len) memcpy(parts, r->data.data, r->data.len);
    parts[r->data.len] = 0;
    return arca_kms_identity_put(ctx->kms, sess, name, r->value, parts);
}

/* KMIP revocation reason codes (KMIP 1.4 9.1.3.2.19). */
#define REVOKE_UNSPECIFIED 1u
#define REVOKE_KEY_COMPROMISE 2u
#define REVOKE_CA_COMPROMISE 3u
#define REVOKE_PRIVILEGE_WITHDRAWN 7u

static arca_status do_revoke(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r,
                             const arca_object_id *id, result *res)
{
    char detail[ARCA_LP_REVOKE_MESSAGE_MAX + 48];
    if (r->value < REVOKE_UNSPECIFIED || r->value > REVOKE_PRIVILEGE_WITHDRAWN) {
        snprintf(res->msg, sizeof(res->msg), "%u is not a KMIP revocation reason code (1..7)", (unsigned)r->value);
        return ARCA_ERR_ARGS;
    }
    bool compromised = r->value == REVOKE_KEY_COMPROMISE || r->value == REVOKE_CA_COMPROMISE;
    /* The codec capped the message and refused NULs. */
    snprintf(detail, sizeof(detail), "reason %u: %.*s", (unsigned)r->value, (int)r->data.len,
             r->data.len ? (const char *)r->data.data : "");
    return arca_kms_revoke(ctx->kms, sess, id, compromised, detail);
}

static arca_status do_tls(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r,
                          result *res)
{
    if (ctx->tls == NULL) {
        /* In-process dispatch without a TLS server: nothing to certify. */
        ARCA_GUARD(arca_kms_tls_admin(ctx->kms, sess));
        return ARCA_ERR_UNSUPPORTED;
    }
    if (r->op == ARCA_LP_TLS_CERT_INSTALL) {
        return arca_tls_server_install_chain(ctx->tls, ctx->kms, sess, r->data.data, r->data.len, res->msg,
                                             sizeof(res->msg));
    }
    char cn[ARCA_LP_CN_MAX + 1];
    if (r->name.len) memcpy(cn, r->name.data, r->name.len);
    cn[r->name.len] = 0;
    return arca_tls_server_csr(ctx->tls, ctx->kms, sess, cn, &res->bytes);
}

static void add_pair(arca_builder *b, uint32_t *num, const char *key, const char *value)
{
    /* Errors poison the builder and surface at finish. */
    (void)!arca_builder_add_u16_prefixed(b, key, strlen(key));
    (void)!arca_builder_add_u16_prefixed(b, value, strlen(value));
    (*num)++;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    arca_hex(p, n, out);
}

/* STATUS: key/value text pairs, none of them secret. */
static arca_status encode_status(const arca_request_ctx *ctx, arca_builder *resp)
{
    arca_kms_stats stats = {0};
    arca_kms_get_stats(ctx->kms, &stats);
    ARCA_GUARD(arca_lp_response_begin(resp));
    size_t count_at = resp->len;
    ARCA_GUARD(arca_builder_add_u32(resp, 0));
    uint32_t num = 0;
    char buf[80];
    add_pair(resp, &num, "enclave", "ready");
    snprintf(buf, sizeof(buf), "%s%s", ctx->sealing_mode ? ctx->sealing_mode : "unknown",
             ctx->sealing_insecure ? " (INSECURE)" : "");
    add_pair(resp, &num, "sealing", buf);
    add_pair(resp, &num, "secret_memory", arca_secmem_mode_name(arca_secmem_mode_get()));
    snprintf(buf, sizeof(buf), "%zu", arca_secmem_in_use());
    add_pair(resp, &num, "secret_memory_in_use", buf);
    add_pair(resp, &num, "initialised", arca_kms_is_initialised(ctx->kms) ? "yes" : "no");
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)stats.cache_bytes);
    add_pair(resp, &num, "cache_bytes", buf);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)stats.cache_objects);
    add_pair(resp, &num, "cache_objects", buf);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)stats.unseal_count);
    add_pair(resp, &num, "unseal_count", buf);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)stats.audit_records);
    add_pair(resp, &num, "audit_records", buf);
    if (ctx->identity) {
        char hx[65];
        hex(ctx->identity->signer_id, 32, hx);
        add_pair(resp, &num, "signer_id", hx);
        hex(ctx->identity->measurement, 32, hx);
        add_pair(resp, &num, "measurement", hx);
        snprintf(buf, sizeof(buf), "%u", (unsigned)ctx->identity->product_id);
        add_pair(resp, &num, "product_id", buf);
        snprintf(buf, sizeof(buf), "%u", (unsigned)ctx->identity->svn);
        add_pair(resp, &num, "svn", buf);
        add_pair(resp, &num, "debug", ctx->identity->debug ? "yes" : "no");
    }
    return arca_builder_patch_u32(resp, count_at, num);
}

/* Run the op; outputs into res. Returns the op's status. */
static arca_status run(const arca_request_ctx *ctx, arca_kms_session *sess, const arca_lp_request *r, result *res)
{
    arca_kms *kms = ctx->kms;
    arca_attr t1[ARCA_LP_MAX_ATTRS], t2[ARCA_LP_MAX_ATTRS];
    arca_mechanism m;
    arca_object_id id, id2;
    memcpy(id.b, r->id, sizeof(id.b));
    memcpy(id2.b, r->id2, sizeof(id2.b));
    convert_template(&r->tmpl, t1);
    convert_template(&r->tmpl2, t2);
    convert_mechanism(&r->mech, &m);

    switch ((arca_lp_op)r->op) {
    case ARCA_LP_INITIALISE:
    case ARCA_LP_INIT_USER_PIN:
        return do_single_pin(ctx, sess, r);
    case ARCA_LP_LOGIN:
        return do_login(ctx, sess, r);
    case ARCA_LP_SET_PIN:
        return do_set_pin(ctx, sess, r);
    case ARCA_LP_INIT_TOKEN:
        return do_init_token(ctx, sess, r, res);
    case ARCA_LP_LOGOUT:
        return arca_kms_logout(kms, sess);
    case ARCA_LP_PARTITION_CREATE:
        return do_partition_create(ctx, sess, r);
    case ARCA_LP_PARTITION_LIST:
        return arca_kms_partition_list(kms, sess, &res->bytes);
    case ARCA_LP_GENERATE_KEY:
        return arca_kms_generate_key(kms, sess, r->mech_type, t1, r->tmpl.num, &res->id);
    case ARCA_LP_GENERATE_KEY_PAIR:
        return arca_kms_generate_key_pair(kms, sess, r->mech_type, t1, r->tmpl.num, t2, r->tmpl2.num, &res->id,
                                          &res->id2);
    case ARCA_LP_CREATE_OBJECT:
        return arca_kms_create_object(kms, sess, t1, r->tmpl.num, &res->id);
    case ARCA_LP_FIND:
        if (r->value == 0) return ARCA_OK;
        res->ids = calloc(r->value, sizeof(*res->ids));
        ARCA_ENSURE(res->ids != NULL, ARCA_ERR_NOMEM);
        return arca_kms_find(kms, sess, t1, r->tmpl.num, res->ids, r->value, &res->num_ids);
    case ARCA_LP_GET_ATTRIBUTE:
        return arca_kms_get_attribute(kms, sess, &id, r->value, &res->bytes);
    case ARCA_LP_SET_ATTRIBUTES:
        return arca_kms_set_attributes(kms, sess, &id, t1, r->tmpl.num);
    case ARCA_LP_DESTROY:
        return arca_kms_destroy(kms, sess, &id);
    case ARCA_LP_ROTATE:
        return arca_kms_rotate(kms, sess, &id, &res->id);
    case ARCA_LP_SIGN:
        return arca_kms_sign(kms, sess, &id, &m, r->data.data, r->data.len, &res->bytes);
    case ARCA_LP_VERIFY:
        return arca_kms_verify(kms, sess, &id, &m, r->data.data, r->data.len, r->sig.data, r->sig.len);
    case ARCA_LP_ENCRYPT:
        return arca_kms_encrypt(kms, sess, &id, &m, r->data.data, r->data.len, &res->bytes);
    case ARCA_LP_DECRYPT:
        return arca_kms_decrypt(kms, sess, &id, &m, r->data.data, r->data.len, &res->bytes);
    case ARCA_LP_WRAP:
        return arca_kms_wrap(kms, sess, &id, &m, &id2, &res->bytes);
    case ARCA_LP_UNWRAP:
        return arca_kms_unwrap(kms, sess, &id, &m, r->data.data, r->data.len, t1, r->tmpl.num, &res->id);
    case ARCA_LP_DERIVE:
        return arca_kms_derive(kms, sess, &id, &m, t1, r->tmpl.num, &res->id);
    case ARCA_LP_RANDOM:
        return arca_kms_random(kms, sess, r->value, &res->bytes);
    case ARCA_LP_AUDIT_VERIFY:
        return arca_kms_audit_verify(kms, sess, &res->u64);
    case ARCA_LP_STATUS:
        return ARCA_OK; /* encoded by encode_status */
    case ARCA_LP_INITIALISE_DOMAIN:
        return do_initialise_domain(ctx, sess, r);
    case ARCA_LP_IDENTITY_PUT:
    case ARCA_LP_IDENTITY_REMOVE:
        return do_identity(ctx, sess, r);
    case ARCA_LP_IDENTITY_LIST:
        return arca_kms_identity_list(kms, sess, &res->bytes);
    case ARCA_LP_ATTEST:
        return arca_kms_attest(kms, sess, r->data.data, r->data.len, &res->bytes);
    case ARCA_LP_AUDIT_READ:
        return arca_kms_audit_read(kms, sess, r->value64, r->value, &res->bytes);
    case ARCA_LP_TLS_CSR:
    case ARCA_LP_TLS_CERT_INSTALL:
        return do_tls(ctx, sess, r, res);
    case ARCA_LP_WHOAMI:
        return arca_kms_whoami(kms, sess, &res->bytes);
    case ARCA_LP_ACTIVATE:
        return arca_kms_activate(kms, sess, &id);
    case ARCA_LP_REVOKE:
        return do_revoke(ctx, sess, r, &id, res);
    case ARCA_LP_SELECT_PARTITION: {
        char name[ARCA_LP_NAME_MAX + 1];
        name_copy(&r->partition, name);
        return arca_kms_select_partition(kms, sess, name);
    }
    default:
        return ARCA_ERR_INTERNAL;
    }
}

/* PARTITION_LIST: the keystore's NUL-separated names as a counted list. */
static arca_status encode_names(const arca_builder *names, arca_builder *resp)
{
    size_t count_at = resp->len;
    ARCA_GUARD(arca_builder_add_u32(resp, 0));
    uint32_t num = 0;
    size_t start = 0;
    for (size_t i = 0; i <= names->len; i++) {
        if (i == names->len || names->data[i] == 0) {
            if (i > start) {
                ARCA_GUARD(arca_builder_add_u16_prefixed(resp, names->data + start, i - start));
                num++;
            }
            start = i + 1;
        }
    }
    return arca_builder_patch_u32(resp, count_at, num);
}

static arca_status encode_result(uint16_t op, const result *res, arca_builder *resp)
{
    ARCA_GUARD(arca_lp_response_begin(resp));
    switch (arca_lp_op_shape(op)) {
    case ARCA_LP_SHAPE_EMPTY:
        return ARCA_OK;
    case ARCA_LP_SHAPE_ID:
        return arca_builder_add_bytes(resp, res->id.b, sizeof(res->id.b));
    case ARCA_LP_SHAPE_ID_PAIR:
        ARCA_GUARD(arca_builder_add_bytes(resp, res->id.b, sizeof(res->id.b)));
        return arca_builder_add_bytes(resp, res->id2.b, sizeof(res->id2.b));
    case ARCA_LP_SHAPE_BYTES:
        return arca_builder_add_u32_prefixed(resp, res->bytes.data, res->bytes.len);
    case ARCA_LP_SHAPE_IDS:
        ARCA_GUARD(arca_builder_add_u32(resp, (uint32_t)res->num_ids));
        for (size_t i = 0; i < res->num_ids; i++) ARCA_GUARD(arca_builder_add_bytes(resp, res->ids[i].b, 16));
        return ARCA_OK;
    case ARCA_LP_SHAPE_NAMES:
        return encode_names(&res->bytes, resp);
    case ARCA_LP_SHAPE_U64:
        return arca_builder_add_u64(resp, res->u64);
    case ARCA_LP_SHAPE_IDENTITIES:
    case ARCA_LP_SHAPE_RECORDS:
    case ARCA_LP_SHAPE_WHOAMI:
        /* The keystore wrote the whole body (count and items). */
        return arca_builder_add_bytes(resp, res->bytes.data, res->bytes.len);
    case ARCA_LP_SHAPE_PAIRS: /* STATUS: handled by encode_status */
    default:
        return ARCA_ERR_INTERNAL;
    }
}

/* A response that could not be encoded (say, over the frame cap) becomes
 * an error response in a fresh builder. */
static arca_status restart_with_error(arca_builder *resp, arca_status why)
{
    arca_builder_cleanup(resp);
    ARCA_GUARD(arca_builder_init_secret(resp, 64, ARCA_LP_FRAME_MAX));
    return arca_lp_response_error(resp, why, NULL);
}

arca_status arca_request_handle(const arca_request_ctx *ctx, arca_kms_session *sess, const uint8_t *req,
                                size_t req_len, arca_builder *resp)
{
    /* The decoded request holds two 64-entry templates: keep it off the
     * stack of a connection thread. */
    arca_lp_request *r = calloc(1, sizeof(*r));
    result res = {0};
    arca_status st;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);

    arca_cursor c;
    arca_cursor_init(&c, req, req_len);
    arca_status dec = arca_lp_request_decode(&c, r);
    if (dec != ARCA_OK) {
        ARCA_WARN("request: malformed request: %s", arca_status_name(dec));
        st = arca_lp_response_error(resp, dec, "malformed request");
        if (st == ARCA_OK) st = dec;
        goto out;
    }

    if (r->op == ARCA_LP_STATUS) {
        st = encode_status(ctx, resp);
        if (st != ARCA_OK) st = restart_with_error(resp, st);
        goto out;
    }

    ARCA_GUARD_OUT(arca_builder_init_secret(&res.bytes, 256, RESULT_MAX));
    arca_status op_st = run(ctx, sess, r, &res);
    if (op_st == ARCA_OK && res.bytes.error != ARCA_OK) op_st = res.bytes.error;
    ARCA_DEBUG("request: %s -> %s", arca_lp_op_name(r->op), arca_status_name(op_st));
    if (op_st != ARCA_OK) {
        /* A broken audit chain names the record; other errors use the
         * status's own message. */
        const char *msg = NULL;
        if (r->op == ARCA_LP_AUDIT_VERIFY && arca_kms_audit_verify_failure(sess)[0] != '\0')
            msg = arca_kms_audit_verify_failure(sess);
        else if (res.msg[0] != '\0')
            msg = res.msg;
        st = arca_lp_response_error(resp, op_st, msg);
    } else {
        st = encode_result(r->op, &res, resp);
        if (st != ARCA_OK) st = restart_with_error(resp, st);
    }

out:
    arca_builder_cleanup(&res.bytes);
    free(res.ids);
    /* The decoded request borrows from req (which the caller wipes); the
     * struct itself holds only pointers and lengths. */
    arca_wipe(r, sizeof(*r));
    free(r);
    return st;
}
