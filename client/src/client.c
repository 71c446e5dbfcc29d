/* libarca-client over the local request protocol. See arca/client.h. */
#include "arca/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "arca/secret.h"

struct arca_client {
    int fd;
    int timeout_ms;
    uint8_t *resp; /* the last response payload; outputs borrow from it */
    size_t resp_len;
    char message[ARCA_LP_MESSAGE_MAX + 1];
};

void arca_client_free_secret(uint8_t *p, size_t len)
{
    if (p == NULL) return;
    arca_wipe(p, len);
    free(p);
}

static void drop_response(arca_client *c)
{
    arca_client_free_secret(c->resp, c->resp_len);
    c->resp = NULL;
    c->resp_len = 0;
}

arca_status arca_client_connect(const char *path, int timeout_ms, arca_client **out)
{
    ARCA_ENSURE(path != NULL && out != NULL, ARCA_ERR_ARGS);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ARCA_ENSURE(strlen(path) < sizeof(sa.sun_path), ARCA_ERR_ARGS);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ARCA_ENSURE(fd >= 0, ARCA_ERR_IO);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return ARCA_ERR_IO;
    }
    arca_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return ARCA_ERR_NOMEM;
    }
    c->fd = fd;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : ARCA_CLIENT_DEFAULT_TIMEOUT_MS;
    *out = c;
    return ARCA_OK;
}

void arca_client_close(arca_client *c)
{
    if (c == NULL) return;
    drop_response(c);
    close(c->fd);
    free(c);
}

const char *arca_client_last_message(const arca_client *c)
{
    return c->message;
}

/* Send req, read and decode the response into *resp (borrowing from
 * c->resp). Returns the local failure, or the enclave's status. */
static arca_status call(arca_client *c, const arca_lp_request *req, arca_lp_response *resp)
{
    arca_builder b;
    uint8_t *buf = NULL;
    size_t len = 0;
    arca_status st;
    c->message[0] = 0;
    drop_response(c);
    ARCA_GUARD(arca_builder_init(&b, 256, ARCA_LP_FRAME_MAX));
    ARCA_GUARD_OUT(arca_lp_request_encode(req, &b));
    ARCA_GUARD_OUT(arca_builder_finish(&b, &buf, &len));
    ARCA_GUARD_OUT(arca_lp_frame_write(c->fd, buf, len));
    ARCA_GUARD_OUT(arca_lp_frame_read(c->fd, ARCA_LP_FRAME_MAX, c->timeout_ms, false, &c->resp, &c->resp_len));
    arca_cursor cur;
    arca_cursor_init(&cur, c->resp, c->resp_len);
    ARCA_GUARD_OUT(arca_lp_response_decode(&cur, req->op, resp));
    if (resp->status != ARCA_OK) {
        memcpy(c->message, resp->message.data, resp->message.len);
        c->message[resp->message.len] = 0;
    }
    st = (arca_status)resp->status;
out:
    arca_client_free_secret(buf, len);
    arca_builder_cleanup(&b);
    return st;
}

static arca_lp_bytes text(const char *s)
{
    arca_lp_bytes v = {(const uint8_t *)s, s ? strlen(s) : 0};
    return v;
}

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

/* Simple calls: no outputs beyond the status. */
static arca_status call_simple(arca_client *c, arca_lp_request *r)
{
    arca_lp_response resp;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = call(c, r, &resp);
    free_request(r);
    return st;
}

arca_status arca_client_initialise(arca_client *c, const char *admin_pin)
{
    arca_lp_request *r = new_request(ARCA_LP_INITIALISE);
    if (r) r->pin = text(admin_pin);
    return call_simple(c, r);
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
    return call_simple(c, r);
}

arca_status arca_client_logout(arca_client *c)
{
    return call_simple(c, new_request(ARCA_LP_LOGOUT));
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
    return call_simple(c, r);
}

arca_status arca_client_init_user_pin(arca_client *c, const char *new_pin)
{
    arca_lp_request *r = new_request(ARCA_LP_INIT_USER_PIN);
    if (r) r->pin = text(new_pin);
    return call_simple(c, r);
}

void arca_client_strings_free(char **strings, size_t num)
{
    if (strings == NULL) return;
    for (size_t i = 0; i < num; i++) free(strings[i]);
    free(strings);
}

/* Items of a NAMES or PAIRS list as strings ("key: value" for pairs). */
static arca_status list_strings(const arca_lp_response *resp, bool pairs, char ***out, size_t *out_num)
{
    arca_cursor c = resp->list;
    size_t num = resp->num_items;
    char **strings = calloc(num ? num : 1, sizeof(char *));
    ARCA_ENSURE(strings != NULL, ARCA_ERR_NOMEM);
    arca_status st = ARCA_OK;
    size_t i;
    for (i = 0; i < num; i++) {
        arca_cursor a, v = {0};
        ARCA_GUARD_OUT(arca_cursor_get_u16_prefixed(&c, &a));
        if (pairs) ARCA_GUARD_OUT(arca_cursor_get_u16_prefixed(&c, &v));
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
        /* A NUL inside would cut the string short: refuse it. */
        ARCA_ENSURE_OUT(strlen(s) == n, (free(s), ARCA_ERR_DECODE));
        strings[i] = s;
    }
    *out = strings;
    *out_num = num;
    return ARCA_OK;
out:
    arca_client_strings_free(strings, num);
    return st;
}

arca_status arca_client_partition_list(arca_client *c, char ***out_names, size_t *out_num)
{
    arca_lp_request r = {.op = ARCA_LP_PARTITION_LIST};
    arca_lp_response resp;
    ARCA_GUARD(call(c, &r, &resp));
    return list_strings(&resp, false, out_names, out_num);
}

/* Calls answered with one id. */
static arca_status call_id(arca_client *c, arca_lp_request *r, arca_client_id *out)
{
    arca_lp_response resp;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = call(c, r, &resp);
    free_request(r);
    ARCA_GUARD(st);
    memcpy(out->b, resp.id, sizeof(out->b));
    return ARCA_OK;
}

/* Calls answered with bytes. */
static arca_status call_bytes(arca_client *c, arca_lp_request *r, uint8_t **out, size_t *out_len)
{
    arca_lp_response resp;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = call(c, r, &resp);
    free_request(r);
    ARCA_GUARD(st);
    return copy_bytes(&resp.data, out, out_len);
}

arca_status arca_client_generate_key(arca_client *c, uint32_t mechanism, const arca_lp_attr *tmpl, size_t num,
                                     arca_client_id *out_id)
{
    arca_lp_request *r = new_request(ARCA_LP_GENERATE_KEY);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->mech_type = mechanism;
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return call_id(c, r, out_id);
}

arca_status arca_client_generate_key_pair(arca_client *c, uint32_t mechanism, const arca_lp_attr *pub,
                                          size_t num_pub, const arca_lp_attr *priv, size_t num_priv,
                                          arca_client_id *out_pub, arca_client_id *out_priv)
{
    arca_lp_request *r = new_request(ARCA_LP_GENERATE_KEY_PAIR);
    arca_lp_response resp;
    arca_status st;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->mech_type = mechanism;
    ARCA_GUARD_OUT(set_template(&r->tmpl, pub, num_pub));
    ARCA_GUARD_OUT(set_template(&r->tmpl2, priv, num_priv));
    ARCA_GUARD_OUT(call(c, r, &resp));
    memcpy(out_pub->b, resp.id, sizeof(out_pub->b));
    memcpy(out_priv->b, resp.id2, sizeof(out_priv->b));
out:
    free_request(r);
    return st;
}

arca_status arca_client_create_object(arca_client *c, const arca_lp_attr *tmpl, size_t num, arca_client_id *out_id)
{
    arca_lp_request *r = new_request(ARCA_LP_CREATE_OBJECT);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return call_id(c, r, out_id);
}

arca_status arca_client_find(arca_client *c, const arca_lp_attr *tmpl, size_t num, arca_client_id *out_ids,
                             size_t max_ids, size_t *out_num)
{
    ARCA_ENSURE(max_ids <= ARCA_LP_FIND_MAX, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_FIND);
    arca_lp_response resp;
    arca_status st;
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    r->value = (uint32_t)max_ids;
    ARCA_GUARD_OUT(set_template(&r->tmpl, tmpl, num));
    ARCA_GUARD_OUT(call(c, r, &resp));
    ARCA_ENSURE_OUT(resp.num_items <= max_ids, ARCA_ERR_TOO_LARGE);
    for (uint32_t i = 0; i < resp.num_items; i++) ARCA_GUARD_OUT(arca_cursor_copy_bytes(&resp.list, out_ids[i].b, 16));
    *out_num = resp.num_items;
out:
    free_request(r);
    return st;
}

arca_status arca_client_get_attribute(arca_client *c, const arca_client_id *id, uint32_t type, uint8_t **out,
                                      size_t *out_len)
{
    arca_lp_request *r = new_request(ARCA_LP_GET_ATTRIBUTE);
    if (r) {
        memcpy(r->id, id->b, sizeof(r->id));
        r->value = type;
    }
    return call_bytes(c, r, out, out_len);
}

arca_status arca_client_set_attributes(arca_client *c, const arca_client_id *id, const arca_lp_attr *tmpl,
                                       size_t num)
{
    arca_lp_request *r = new_request(ARCA_LP_SET_ATTRIBUTES);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    memcpy(r->id, id->b, sizeof(r->id));
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return call_simple(c, r);
}

arca_status arca_client_destroy(arca_client *c, const arca_client_id *id)
{
    arca_lp_request *r = new_request(ARCA_LP_DESTROY);
    if (r) memcpy(r->id, id->b, sizeof(r->id));
    return call_simple(c, r);
}

arca_status arca_client_rotate(arca_client *c, const arca_client_id *id, arca_client_id *out_new)
{
    arca_lp_request *r = new_request(ARCA_LP_ROTATE);
    if (r) memcpy(r->id, id->b, sizeof(r->id));
    return call_id(c, r, out_new);
}

static arca_lp_request *crypto_request(uint16_t op, const arca_client_id *id, const arca_lp_mechanism *m,
                                       const uint8_t *data, size_t len)
{
    arca_lp_request *r = new_request(op);
    if (r == NULL) return NULL;
    memcpy(r->id, id->b, sizeof(r->id));
    r->mech = *m;
    r->data.data = data;
    r->data.len = len;
    return r;
}

arca_status arca_client_sign(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                             const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    return call_bytes(c, crypto_request(ARCA_LP_SIGN, id, m, data, len), out, out_len);
}

arca_status arca_client_verify(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                               const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len)
{
    arca_lp_request *r = crypto_request(ARCA_LP_VERIFY, id, m, data, len);
    if (r) {
        r->sig.data = sig;
        r->sig.len = sig_len;
    }
    return call_simple(c, r);
}

arca_status arca_client_encrypt(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                                const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    return call_bytes(c, crypto_request(ARCA_LP_ENCRYPT, id, m, data, len), out, out_len);
}

arca_status arca_client_decrypt(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                                const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    return call_bytes(c, crypto_request(ARCA_LP_DECRYPT, id, m, data, len), out, out_len);
}

arca_status arca_client_wrap(arca_client *c, const arca_client_id *wrapping, const arca_lp_mechanism *m,
                             const arca_client_id *target, uint8_t **out, size_t *out_len)
{
    arca_lp_request *r = crypto_request(ARCA_LP_WRAP, wrapping, m, NULL, 0);
    if (r) memcpy(r->id2, target->b, sizeof(r->id2));
    return call_bytes(c, r, out, out_len);
}

arca_status arca_client_unwrap(arca_client *c, const arca_client_id *unwrapping, const arca_lp_mechanism *m,
                               const uint8_t *wrapped, size_t len, const arca_lp_attr *tmpl, size_t num,
                               arca_client_id *out_id)
{
    arca_lp_request *r = crypto_request(ARCA_LP_UNWRAP, unwrapping, m, wrapped, len);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return call_id(c, r, out_id);
}

arca_status arca_client_derive(arca_client *c, const arca_client_id *base, const arca_lp_mechanism *m,
                               const arca_lp_attr *tmpl, size_t num, arca_client_id *out_id)
{
    arca_lp_request *r = crypto_request(ARCA_LP_DERIVE, base, m, NULL, 0);
    ARCA_ENSURE(r != NULL, ARCA_ERR_NOMEM);
    arca_status st = set_template(&r->tmpl, tmpl, num);
    if (st != ARCA_OK) {
        free_request(r);
        return st;
    }
    return call_id(c, r, out_id);
}

arca_status arca_client_random(arca_client *c, size_t len, uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(len <= ARCA_LP_DATA_MAX, ARCA_ERR_ARGS);
    arca_lp_request *r = new_request(ARCA_LP_RANDOM);
    if (r) r->value = (uint32_t)len;
    return call_bytes(c, r, out, out_len);
}

arca_status arca_client_audit_verify(arca_client *c, uint64_t *out_records)
{
    arca_lp_request r = {.op = ARCA_LP_AUDIT_VERIFY};
    arca_lp_response resp;
    ARCA_GUARD(call(c, &r, &resp));
    *out_records = resp.u64;
    return ARCA_OK;
}

arca_status arca_client_status(arca_client *c, char **out_text)
{
    arca_lp_request r = {.op = ARCA_LP_STATUS};
    arca_lp_response resp;
    char **lines = NULL;
    size_t num = 0, total = 1;
    ARCA_GUARD(call(c, &r, &resp));
    ARCA_GUARD(list_strings(&resp, true, &lines, &num));
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
    *out_text = text_out;
    return ARCA_OK;
}
