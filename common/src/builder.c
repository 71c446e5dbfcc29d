/* arca_builder: capped, poisoning byte builder (see builder.h).
 *
 * Growth never uses realloc(): a new buffer is allocated, the bytes copied
 * and the old buffer wiped before it is freed, so neither heap nor secret
 * builders leave stale copies behind. */
#include "arca/builder.h"

#include <stdlib.h>
#include <string.h>

#include "arca/secret.h"

#define MIN_GROW 64u

static void *buf_alloc(const arca_builder *b, size_t n)
{
    if (b->secret) return arca_secmem_alloc(n);
    return calloc(1, n);
}

static void buf_free(const arca_builder *b, void *p, size_t cap)
{
    if (p == NULL) return;
    if (b->secret) {
        arca_secmem_free(p); /* wipes */
        return;
    }
    arca_wipe(p, cap);
    free(p);
}

static void reset(arca_builder *b, size_t max_len, bool secret)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max_len = max_len;
    b->error = ARCA_OK;
    b->secret = secret;
    b->fixed = false;
}

static arca_status init_common(arca_builder *b, size_t initial_cap, size_t max_len, bool secret)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    reset(b, max_len, secret);
    if (initial_cap > max_len) initial_cap = max_len;
    if (initial_cap == 0) return ARCA_OK;
    b->data = buf_alloc(b, initial_cap);
    if (b->data == NULL) {
        b->error = ARCA_ERR_NOMEM;
        return ARCA_ERR_NOMEM;
    }
    b->cap = initial_cap;
    return ARCA_OK;
}

arca_status arca_builder_init(arca_builder *b, size_t initial_cap, size_t max_len)
{
    return init_common(b, initial_cap, max_len, false);
}

arca_status arca_builder_init_secret(arca_builder *b, size_t initial_cap, size_t max_len)
{
    return init_common(b, initial_cap, max_len, true);
}

void arca_builder_init_fixed(arca_builder *b, uint8_t *buf, size_t cap)
{
    reset(b, buf != NULL ? cap : 0, false);
    b->data = buf;
    b->cap = buf != NULL ? cap : 0;
    b->fixed = true;
}

static arca_status fail(arca_builder *b, arca_status st)
{
    if (b->error == ARCA_OK) b->error = st;
    return st;
}

/* Make room for n more bytes. */
static arca_status ensure(arca_builder *b, size_t n)
{
    if (b->error != ARCA_OK) return b->error;
    if (n > b->max_len || b->len > b->max_len - n) return fail(b, ARCA_ERR_TOO_LARGE);
    size_t need = b->len + n;
    if (need <= b->cap) return ARCA_OK;
    if (b->fixed) return fail(b, ARCA_ERR_TOO_LARGE);

    size_t new_cap = b->cap > b->max_len / 2 ? b->max_len : b->cap * 2;
    if (new_cap < need) new_cap = need;
    if (new_cap < MIN_GROW) new_cap = MIN_GROW < b->max_len ? MIN_GROW : b->max_len;
    if (new_cap < need) new_cap = need;

    uint8_t *nd = buf_alloc(b, new_cap);
    if (nd == NULL) return fail(b, ARCA_ERR_NOMEM);
    if (b->len > 0) memcpy(nd, b->data, b->len);
    buf_free(b, b->data, b->cap);
    b->data = nd;
    b->cap = new_cap;
    return ARCA_OK;
}

static arca_status add_be(arca_builder *b, uint64_t v, size_t n)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(ensure(b, n));
    for (size_t i = 0; i < n; i++) b->data[b->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    b->len += n;
    return ARCA_OK;
}

arca_status arca_builder_add_u8(arca_builder *b, uint8_t v)
{
    return add_be(b, v, 1);
}

arca_status arca_builder_add_u16(arca_builder *b, uint16_t v)
{
    return add_be(b, v, 2);
}

arca_status arca_builder_add_u32(arca_builder *b, uint32_t v)
{
    return add_be(b, v, 4);
}

arca_status arca_builder_add_u64(arca_builder *b, uint64_t v)
{
    return add_be(b, v, 8);
}

arca_status arca_builder_add_bytes(arca_builder *b, const void *data, size_t len)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    if (b->error != ARCA_OK) return b->error;
    if (data == NULL && len > 0) return fail(b, ARCA_ERR_ARGS);
    ARCA_GUARD(ensure(b, len));
    if (len > 0) memcpy(b->data + b->len, data, len);
    b->len += len;
    return ARCA_OK;
}

static arca_status add_prefixed(arca_builder *b, const void *data, size_t len, size_t prefix_len, uint64_t max)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    if (b->error != ARCA_OK) return b->error;
    if (len > max) return fail(b, ARCA_ERR_TOO_LARGE);
    if (data == NULL && len > 0) return fail(b, ARCA_ERR_ARGS);
    /* Reserve prefix and body together so a failure adds nothing. */
    if (len > SIZE_MAX - prefix_len) return fail(b, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(ensure(b, prefix_len + len));
    ARCA_GUARD(add_be(b, len, prefix_len));
    return arca_builder_add_bytes(b, data, len);
}

arca_status arca_builder_add_u16_prefixed(arca_builder *b, const void *data, size_t len)
{
    return add_prefixed(b, data, len, 2, UINT16_MAX);
}

arca_status arca_builder_add_u32_prefixed(arca_builder *b, const void *data, size_t len)
{
    return add_prefixed(b, data, len, 4, UINT32_MAX);
}

arca_status arca_builder_reserve(arca_builder *b, size_t n, uint8_t **out)
{
    ARCA_ENSURE(b != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(ensure(b, n));
    uint8_t *p = b->data + b->len;
    if (n > 0) memset(p, 0, n);
    b->len += n;
    *out = p;
    return ARCA_OK;
}

arca_status arca_builder_patch_u32(arca_builder *b, size_t offset, uint32_t v)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    if (b->error != ARCA_OK) return b->error;
    if (b->len < 4 || offset > b->len - 4) return fail(b, ARCA_ERR_ARGS);
    for (size_t i = 0; i < 4; i++) b->data[offset + i] = (uint8_t)(v >> (8 * (3 - i)));
    return ARCA_OK;
}

arca_status arca_builder_finish(arca_builder *b, uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(b != NULL && out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    arca_status st = b->error;
    if (st != ARCA_OK) {
        arca_builder_cleanup(b);
        return st;
    }
    if (b->data == NULL) {
        /* Always hand out a buffer the caller can free, even when empty. */
        b->data = buf_alloc(b, 1);
        if (b->data == NULL) {
            arca_builder_cleanup(b);
            return ARCA_ERR_NOMEM;
        }
        b->cap = 1;
    }
    *out = b->data;
    *out_len = b->len;
    bool secret = b->secret;
    size_t max_len = b->max_len;
    reset(b, max_len, secret);
    return ARCA_OK;
}

void arca_builder_cleanup(arca_builder *b)
{
    if (b == NULL) return;
    /* A fixed builder's buffer belongs to the caller: left as it is. */
    if (!b->fixed) buf_free(b, b->data, b->cap);
    bool secret = b->secret;
    size_t max_len = b->max_len;
    reset(b, max_len, secret);
}
