/* arca_cursor: the only way Arca reads untrusted bytes.
 *
 * A cursor borrows (data, len); it never owns memory. Every getter checks
 * bounds, and sets its outputs only on success (on failure the cursor does
 * not move). Integers are big-endian. A parse ends with
 * arca_cursor_finish(), which fails if anything is left over. */
#ifndef ARCA_CURSOR_H
#define ARCA_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "arca/status.h"

typedef struct arca_cursor {
    const uint8_t *data;
    size_t len;
} arca_cursor;

void arca_cursor_init(arca_cursor *c, const uint8_t *data, size_t len);
size_t arca_cursor_remaining(const arca_cursor *c);

ARCA_MUST_CHECK arca_status arca_cursor_get_u8(arca_cursor *c, uint8_t *out);
ARCA_MUST_CHECK arca_status arca_cursor_get_u16(arca_cursor *c, uint16_t *out);
ARCA_MUST_CHECK arca_status arca_cursor_get_u32(arca_cursor *c, uint32_t *out);
ARCA_MUST_CHECK arca_status arca_cursor_get_u64(arca_cursor *c, uint64_t *out);
/* Borrow the next n bytes: *out points into the cursor's data. */
ARCA_MUST_CHECK arca_status arca_cursor_get_bytes(arca_cursor *c, size_t n, const uint8_t **out);
/* Copy the next n bytes into out (which has room for n). */
ARCA_MUST_CHECK arca_status arca_cursor_copy_bytes(arca_cursor *c, uint8_t *out, size_t n);
/* A sub-cursor over the next n bytes. */
ARCA_MUST_CHECK arca_status arca_cursor_get_sub(arca_cursor *c, size_t n, arca_cursor *out);
/* A length-prefixed field (u16 or u32 big-endian length) as a sub-cursor. */
ARCA_MUST_CHECK arca_status arca_cursor_get_u16_prefixed(arca_cursor *c, arca_cursor *out);
ARCA_MUST_CHECK arca_status arca_cursor_get_u32_prefixed(arca_cursor *c, arca_cursor *out);
ARCA_MUST_CHECK arca_status arca_cursor_skip(arca_cursor *c, size_t n);
/* ARCA_ERR_DECODE unless the cursor is empty. */
ARCA_MUST_CHECK arca_status arca_cursor_finish(const arca_cursor *c);

#endif
