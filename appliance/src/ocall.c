/* OCALL server and ECALL client. See ocall.h. */
#include "ocall.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/log.h"

static arca_status send_reply(int chan_fd, const arca_frame_header *hdr, arca_status result, arca_builder *body)
{
    arca_status st = ARCA_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    arca_builder b;
    size_t cap = arca_frame_cap(hdr->type, true);
    ARCA_GUARD(arca_builder_init(&b, 64, cap > 0 ? cap : 4));
    ARCA_GUARD_OUT(arca_builder_add_u32(&b, (uint32_t)result));
    if (result == ARCA_OK && body != NULL && body->len > 0) {
        st = arca_builder_add_bytes(&b, body->data, body->len);
        if (st == ARCA_ERR_TOO_LARGE) {
            /* The answer does not fit a reply frame: say so instead. */
            arca_builder_cleanup(&b);
            ARCA_GUARD(arca_builder_init(&b, 4, cap > 0 ? cap : 4));
            ARCA_GUARD_OUT(arca_builder_add_u32(&b, (uint32_t)ARCA_ERR_TOO_LARGE));
            st = ARCA_OK;
        }
        ARCA_GUARD_OUT(st);
    }
    ARCA_GUARD_OUT(arca_builder_finish(&b, &buf, &len));
    st = arca_channel_send(chan_fd, hdr->type, ARCA_FRAME_REPLY, hdr->request_id, buf, len, -1);
out:
    free(buf);
    arca_builder_cleanup(&b);
    return st;
}

static arca_status serve_get(const arca_store_ops *store, arca_cursor *c, arca_builder *body, arca_status *result)
{
    uint8_t db;
    const uint8_t *key;
    size_t key_len;
    ARCA_GUARD(arca_store_get_req_decode(c, &db, &key, &key_len));
    uint8_t *val = NULL;
    size_t val_len = 0;
    *result = store->get(store->ctx, db, key, key_len, &val, &val_len);
    if (*result == ARCA_OK) {
        *result = arca_builder_add_u32_prefixed(body, val, val_len);
        free(val);
    }
    return ARCA_OK;
}

static arca_status serve_commit(const arca_store_ops *store, arca_cursor *c, arca_status *result)
{
    arca_store_op *ops = NULL;
    size_t num = 0;
    ARCA_GUARD(arca_store_commit_req_decode(c, &ops, &num));
    *result = store->commit(store->ctx, ops, num);
    free(ops);
    return ARCA_OK;
}

static arca_status serve_scan(const arca_store_ops *store, arca_cursor *c, arca_builder *body, arca_status *result)
{
    arca_store_scan_req r;
    ARCA_GUARD(arca_store_scan_req_decode(c, &r));
    arca_store_entry *entries = NULL;
    size_t num = 0;
    *result = store->scan(store->ctx, r.db, r.prefix, r.prefix_len, r.after, r.after_len, r.limit, r.with_values,
                          r.reverse, &entries, &num);
    if (*result == ARCA_OK) {
        *result = arca_store_scan_reply_encode(body, entries, num);
        arca_store_entries_free(entries, num);
    }
    return ARCA_OK;
}

arca_status arca_ocall_serve(const arca_store_ops *store, int chan_fd, const arca_frame_header *hdr,
                             const uint8_t *payload)
{
    ARCA_ENSURE(store != NULL && hdr != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE((hdr->flags & ARCA_FRAME_REPLY) == 0, ARCA_ERR_FRAME_TYPE);
    arca_status st = ARCA_OK;
    arca_status result = ARCA_OK;
    arca_cursor c;
    arca_cursor_init(&c, payload, payload != NULL ? hdr->payload_len : 0);
    arca_builder body;
    size_t cap = arca_frame_cap(hdr->type, true);
    ARCA_GUARD(arca_builder_init(&body, 64, cap > 4 ? cap - 4 : 1));

    switch (hdr->type) {
    case ARCA_OCALL_STORE_GET:
        ARCA_GUARD_OUT(serve_get(store, &c, &body, &result));
        break;
    case ARCA_OCALL_STORE_COMMIT:
        ARCA_GUARD_OUT(serve_commit(store, &c, &result));
        break;
    case ARCA_OCALL_STORE_SCAN:
        ARCA_GUARD_OUT(serve_scan(store, &c, &body, &result));
        break;
    default:
        st = ARCA_ERR_FRAME_TYPE;
        goto out;
    }
    /* The store codec's decoders finish the cursor themselves; make sure
     * nothing trails either way. */
    ARCA_GUARD_OUT(arca_cursor_finish(&c));
    if (result != ARCA_OK && result != ARCA_ERR_NOT_FOUND)
        ARCA_DEBUG("ocall 0x%x (request %u): %s", hdr->type, hdr->request_id, arca_status_name(result));
    st = send_reply(chan_fd, hdr, result, &body);
out:
    arca_builder_cleanup(&body);
    return st;
}

arca_status arca_ocall_reply_split(const uint8_t *payload, size_t len, arca_status *out_status,
                                   const uint8_t **out_body, size_t *out_body_len)
{
    arca_cursor c;
    uint32_t v;
    arca_cursor_init(&c, payload, len);
    ARCA_GUARD(arca_cursor_get_u32(&c, &v));
    ARCA_ENSURE(v < (uint32_t)ARCA_STATUS_COUNT, ARCA_ERR_DECODE);
    *out_status = (arca_status)v;
    *out_body_len = arca_cursor_remaining(&c);
    *out_body = *out_body_len > 0 ? c.data : NULL;
    return ARCA_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

arca_status arca_ocall_ecall(const arca_store_ops *store, int chan_fd, uint16_t type, uint32_t req_id,
                             const uint8_t *payload, size_t payload_len, int timeout_ms, arca_status *out_status,
                             uint8_t **out_body, size_t *out_body_len)
{
    ARCA_ENSURE(store != NULL && out_status != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_channel_send(chan_fd, type, 0, req_id, payload, payload_len, -1));
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return ARCA_ERR_TIMEOUT;
        struct pollfd pfd = {.fd = chan_fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ARCA_ERR_CHANNEL;
        if (n == 0) return ARCA_ERR_TIMEOUT;

        arca_frame_header h;
        uint8_t *p = NULL;
        int fd = -1;
        ARCA_GUARD(arca_channel_recv(chan_fd, &h, &p, &fd));
        arca_status st = ARCA_OK;
        if (fd >= 0) {
            close(fd);
            ARCA_ERROR("enclave sent a file descriptor with frame 0x%x", h.type);
            st = ARCA_ERR_FRAME_TYPE;
        } else if ((h.flags & ARCA_FRAME_REPLY) == 0) {
            st = arca_ocall_serve(store, chan_fd, &h, p);
        } else if (h.request_id != req_id || h.type != type) {
            ARCA_DEBUG("dropping reply 0x%x to request %u while waiting for %u", h.type, h.request_id, req_id);
        } else {
            const uint8_t *body;
            size_t body_len;
            st = arca_ocall_reply_split(p, h.payload_len, out_status, &body, &body_len);
            if (st == ARCA_OK && out_body != NULL) {
                *out_body = NULL;
                *out_body_len = body_len;
                if (body_len > 0) {
                    *out_body = malloc(body_len);
                    if (*out_body == NULL)
                        st = ARCA_ERR_NOMEM;
                    else
                        memcpy(*out_body, body, body_len);
                }
            }
            free(p);
            return st;
        }
        free(p);
        ARCA_GUARD(st);
    }
}
