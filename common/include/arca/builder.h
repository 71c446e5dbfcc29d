/* arca_builder: the only way Arca writes structured bytes.
 *
 * A builder owns a growing buffer capped at max_len; exceeding the cap
 * fails with ARCA_ERR_TOO_LARGE. A secret builder keeps its buffer in
 * secret memory (see secret.h) and wipes every buffer it lets go of.
 * Once an add fails, the builder is poisoned: later adds fail too, so a
 * sequence of adds may be checked once at finish. Integers are big-endian. */
#ifndef ARCA_BUILDER_H
#define ARCA_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/status.h"

typedef struct arca_builder {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max_len;
    arca_status error; /* first failure, ARCA_OK while healthy */
    bool secret;       /* buffer lives in secret memory */
    bool fixed;        /* caller's buffer; never grown or freed */
} arca_builder;

/* Heap-backed builder. */
ARCA_MUST_CHECK arca_status arca_builder_init(arca_builder *b, size_t initial_cap, size_t max_len);
/* Secret-memory-backed builder (plaintext, key material). */
ARCA_MUST_CHECK arca_status arca_builder_init_secret(arca_builder *b, size_t initial_cap, size_t max_len);
/* Builder over a caller-owned buffer of cap bytes; never grows. */
void arca_builder_init_fixed(arca_builder *b, uint8_t *buf, size_t cap);

ARCA_MUST_CHECK arca_status arca_builder_add_u8(arca_builder *b, uint8_t v);
ARCA_MUST_CHECK arca_status arca_builder_add_u16(arca_builder *b, uint16_t v);
ARCA_MUST_CHECK arca_status arca_builder_add_u32(arca_builder *b, uint32_t v);
ARCA_MUST_CHECK arca_status arca_builder_add_u64(arca_builder *b, uint64_t v);
ARCA_MUST_CHECK arca_status arca_builder_add_bytes(arca_builder *b, const void *data, size_t len);
/* Length-prefixed bytes; ARCA_ERR_TOO_LARGE if len does not fit the prefix. */
ARCA_MUST_CHECK arca_status arca_builder_add_u16_prefixed(arca_builder *b, const void *data, size_t len);
ARCA_MUST_CHECK arca_status arca_builder_add_u32_prefixed(arca_builder *b, const void *data, size_t len);
/* Append n bytes of space and point *out at it (valid until the next add). */
ARCA_MUST_CHECK arca_status arca_builder_reserve(arca_builder *b, size_t n, uint8_t **out);
/* Overwrite a u32 at offset (for lengths known only at the end). */
ARCA_MUST_CHECK arca_status arca_builder_patch_u32(arca_builder *b, size_t offset, uint32_t v);

/* Hand the buffer to the caller (free with free(), or arca_secmem_free() for
 * a secret builder) and reset the builder. Fails with the first error seen. */
ARCA_MUST_CHECK arca_status arca_builder_finish(arca_builder *b, uint8_t **out, size_t *out_len);
/* Wipe and free the buffer (no-op for fixed, safe on a zeroed builder). */
void arca_builder_cleanup(arca_builder *b);

#endif
