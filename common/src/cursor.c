/* arca_cursor: bounds-checked reads of untrusted bytes (see cursor.h).
 * Every getter checks first and moves the cursor only on success. */
#include "arca/cursor.h"

#include <string.h>

void arca_cursor_init(arca_cursor *c, const uint8_t *data, size_t len)
{
    c->data = data;
    c->len = data != NULL ? len : 0;
}

size_t arca_cursor_remaining(const arca_cursor *c)
{
    return c->len;
}

/* Take n bytes off the front; the only place the cursor advances. */
static arca_status take(arca_cursor *c, size_t n, const uint8_t **out)
{
    ARCA_ENSURE(c != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(n <= c->len, ARCA_ERR_DECODE);
    *out = c->data;
    c->data += n;
    c->len -= n;
    return ARCA_OK;
}

static uint64_t be_read(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

arca_status arca_cursor_get_u8(arca_cursor *c, uint8_t *out)
{
    const uint8_t *p;
    ARCA_GUARD(take(c, 1, &p));
    *out = p[0];
    return ARCA_OK;
}

arca_status arca_cursor_get_u16(arca_cursor *c, uint16_t *out)
{
    const uint8_t *p;
    ARCA_GUARD(take(c, 2, &p));
    *out = (uint16_t)be_read(p, 2);
    return ARCA_OK;
}

arca_status arca_cursor_get_u32(arca_cursor *c, uint32_t *out)
{
    const uint8_t *p;
    ARCA_GUARD(take(c, 4, &p));
    *out = (uint32_t)be_read(p, 4);
    return ARCA_OK;
}

arca_status arca_cursor_get_u64(arca_cursor *c, uint64_t *out)
{
    const uint8_t *p;
    ARCA_GUARD(take(c, 8, &p));
    *out = be_read(p, 8);
    return ARCA_OK;
}

arca_status arca_cursor_get_bytes(arca_cursor *c, size_t n, const uint8_t **out)
{
    return take(c, n, out);
}

arca_status arca_cursor_copy_bytes(arca_cursor *c, uint8_t *out, size_t n)
{
    const uint8_t *p;
    ARCA_GUARD(take(c, n, &p));
    if (n > 0) memcpy(out, p, n);
    return ARCA_OK;
}

arca_status arca_cursor_get_sub(arca_cursor *c, size_t n, arca_cursor *out)
{
    const uint8_t *p;
    ARCA_GUARD(take(c, n, &p));
    out->data = p;
    out->len = n;
    return ARCA_OK;
}

/* A prefixed field is read atomically: on failure neither the length nor
 * the body is consumed. */
static arca_status get_prefixed(arca_cursor *c, size_t prefix_len, arca_cursor *out)
{
    ARCA_ENSURE(c != NULL, ARCA_ERR_ARGS);
    arca_cursor tmp = *c;
    const uint8_t *p;
    ARCA_GUARD(take(&tmp, prefix_len, &p));
    size_t n = (size_t)be_read(p, prefix_len);
    ARCA_GUARD(arca_cursor_get_sub(&tmp, n, out));
    *c = tmp;
    return ARCA_OK;
}

arca_status arca_cursor_get_u16_prefixed(arca_cursor *c, arca_cursor *out)
{
    return get_prefixed(c, 2, out);
}

arca_status arca_cursor_get_u32_prefixed(arca_cursor *c, arca_cursor *out)
{
    return get_prefixed(c, 4, out);
}

arca_status arca_cursor_skip(arca_cursor *c, size_t n)
{
    const uint8_t *p;
    return take(c, n, &p);
}

arca_status arca_cursor_finish(const arca_cursor *c)
{
    ARCA_ENSURE(c != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(c->len == 0, ARCA_ERR_DECODE);
    return ARCA_OK;
}
