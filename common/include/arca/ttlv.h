/* KMIP TTLV codec: one decoder and one encoder for both sides of the wire.
 *
 * Every TTLV item is Tag (3 bytes), Type (1 byte), Length (4 bytes) and a
 * value padded with zeros to a multiple of 8 bytes; all big-endian. The
 * decoder is strict, so that everything it accepts is canonical and
 * re-encodes to the same bytes:
 *   - tags are in the KMIP range 0x42xxxx or the extension range 0x54xxxx;
 *   - types are those of KMIP 1.0–2.1 (0x01..0x0B);
 *   - Integer, Enumeration, Interval have length 4; Long Integer,
 *     Boolean, Date-Time, Date-Time Extended length 8; Big Integer a
 *     multiple of 8; a Boolean is 0 or 1;
 *   - padding bytes are zero;
 *   - Text String is valid UTF-8 (no overlong forms, no surrogates, at most
 *     U+10FFFF);
 *   - a Structure's length is exactly the sum of its children;
 *   - nothing follows the top-level item.
 * Anything else is ARCA_ERR_DECODE. Caps (message size, nesting depth,
 * number of items) are ARCA_ERR_TOO_LARGE and are checked before any
 * allocation that depends on them.
 *
 * The decoder builds a tree in a single allocation (one arca_ttlv_free for
 * all of it). Text, byte strings and big integers in the tree are BORROWED
 * from the input buffer: the tree is valid only while that buffer is. The
 * decoder copies no value bytes, so key material stays wherever the caller
 * keeps the message (secret memory, in the enclave).
 *
 * The encoder writes through an arca_builder, whose max_len is the
 * encoder's cap (ARCA_ERR_TOO_LARGE beyond it). */
#ifndef ARCA_TTLV_H
#define ARCA_TTLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/status.h"

typedef enum arca_ttlv_type {
    ARCA_TTLV_STRUCTURE = 0x01,
    ARCA_TTLV_INTEGER = 0x02,      /* signed 32-bit */
    ARCA_TTLV_LONG_INTEGER = 0x03, /* signed 64-bit */
    ARCA_TTLV_BIG_INTEGER = 0x04,  /* two's complement, big-endian, length % 8 == 0 */
    ARCA_TTLV_ENUMERATION = 0x05,  /* unsigned 32-bit */
    ARCA_TTLV_BOOLEAN = 0x06,
    ARCA_TTLV_TEXT_STRING = 0x07, /* UTF-8, not NUL-terminated */
    ARCA_TTLV_BYTE_STRING = 0x08,
    ARCA_TTLV_DATE_TIME = 0x09,          /* signed 64-bit POSIX seconds */
    ARCA_TTLV_INTERVAL = 0x0A,           /* unsigned 32-bit seconds */
    ARCA_TTLV_DATE_TIME_EXTENDED = 0x0B, /* signed 64-bit POSIX microseconds (KMIP 2.0) */
} arca_ttlv_type;

/* Size of an item header (tag, type, length). */
#define ARCA_TTLV_HEADER_LEN 8u

/* Default caps, and the hard limits on what a caller may configure. */
#define ARCA_TTLV_DEFAULT_MAX_MESSAGE (1024u * 1024u)
#define ARCA_TTLV_DEFAULT_MAX_DEPTH 16u
#define ARCA_TTLV_DEFAULT_MAX_NODES 4096u
#define ARCA_TTLV_LIMIT_MAX_MESSAGE (64u * 1024u * 1024u)
#define ARCA_TTLV_LIMIT_MAX_DEPTH 64u
#define ARCA_TTLV_LIMIT_MAX_NODES (1024u * 1024u)

/* Caps for one decode. A zero field means its default. The top-level item
 * is at depth 1, an item inside it at depth 2, and so on. */
typedef struct arca_ttlv_limits {
    size_t max_message_len; /* bytes, header included */
    size_t max_depth;
    size_t max_nodes; /* items, structures included */
} arca_ttlv_limits;

/* One decoded item. Read-only for users; built by arca_ttlv_decode and
 * owned by its tree. Which value field is meaningful depends on type:
 *   INTEGER (sign-extended), LONG_INTEGER, DATE_TIME, DATE_TIME_EXTENDED: i64
 *   ENUMERATION, INTERVAL: u32
 *   BOOLEAN: b
 *   TEXT_STRING, BYTE_STRING, BIG_INTEGER: data, len (borrowed, see above)
 *   STRUCTURE: first_child, num_children (children linked by next) */
typedef struct arca_ttlv_node {
    uint32_t tag;
    arca_ttlv_type type;
    int64_t i64;
    uint32_t u32;
    bool b;
    const uint8_t *data;
    size_t len;
    const struct arca_ttlv_node *first_child;
    const struct arca_ttlv_node *next; /* next sibling, NULL for the last */
    size_t num_children;
} arca_ttlv_node;

typedef struct arca_ttlv_tree arca_ttlv_tree;

/* ---- Decoding ------------------------------------------------------------ */

/* Frame a message from its first ARCA_TTLV_HEADER_LEN bytes (hdr_len must
 * be at least that): the total length of the top-level item, header and
 * padding included, so that a reader knows how much to read. Fails with
 * ARCA_ERR_TOO_LARGE when that exceeds max_message_len (0: default) — a
 * length field of 4 GiB is refused before anything is read or allocated —
 * ARCA_ERR_DECODE for a short header, an invalid tag or type, or a
 * structure length that is not a multiple of 8. */
ARCA_MUST_CHECK arca_status arca_ttlv_message_len(const uint8_t *hdr, size_t hdr_len, size_t max_message_len,
                                                  size_t *out_len);

/* Decode exactly one TTLV item that fills the cursor. limits may be NULL
 * (defaults). On success *out_tree owns the tree (free with
 * arca_ttlv_free) and the cursor is empty; on failure *out_tree is NULL and
 * the cursor has not moved. Errors: ARCA_ERR_TOO_LARGE when the input
 * exceeds max_message_len, an item is nested deeper than max_depth, or
 * there are more than max_nodes items; ARCA_ERR_DECODE for malformed input
 * (see the rules above; a length beyond its enclosing space is malformed);
 * ARCA_ERR_ARGS for limits above the hard limits; ARCA_ERR_NOMEM. */
ARCA_MUST_CHECK arca_status arca_ttlv_decode(arca_cursor *c, const arca_ttlv_limits *limits,
                                             arca_ttlv_tree **out_tree);

/* The top-level item of a tree (never NULL for a decoded tree). */
const arca_ttlv_node *arca_ttlv_root(const arca_ttlv_tree *tree);
/* Number of items in the tree. */
size_t arca_ttlv_num_nodes(const arca_ttlv_tree *tree);
/* Free a tree; NULL is a no-op. Does not touch the input buffer. */
void arca_ttlv_free(arca_ttlv_tree *tree);

/* ---- Looking things up (for handlers) ----------------------------------- */

/* First child of parent with tag, or NULL (also when parent is NULL or not
 * a structure). */
const arca_ttlv_node *arca_ttlv_find(const arca_ttlv_node *parent, uint32_t tag);
/* Next sibling after prev with the same tag as prev, or NULL. Iterate
 * repeated fields with: for (n = find(p, t); n; n = find_next(n)). */
const arca_ttlv_node *arca_ttlv_find_next(const arca_ttlv_node *prev);
/* Number of children of parent with tag (0 when parent is not a structure). */
size_t arca_ttlv_count(const arca_ttlv_node *parent, uint32_t tag);

/* Typed getters on one node. ARCA_ERR_DECODE when the node has another
 * type; ARCA_ERR_ARGS for NULL arguments. Outputs are set only on success.
 * Byte outputs are borrowed from the decoded message. */
ARCA_MUST_CHECK arca_status arca_ttlv_get_int(const arca_ttlv_node *n, int32_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_get_long(const arca_ttlv_node *n, int64_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_get_enum(const arca_ttlv_node *n, uint32_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_get_bool(const arca_ttlv_node *n, bool *out);
ARCA_MUST_CHECK arca_status arca_ttlv_get_datetime(const arca_ttlv_node *n, int64_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_get_interval(const arca_ttlv_node *n, uint32_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_get_text(const arca_ttlv_node *n, const uint8_t **out, size_t *out_len);
ARCA_MUST_CHECK arca_status arca_ttlv_get_bytes(const arca_ttlv_node *n, const uint8_t **out, size_t *out_len);
ARCA_MUST_CHECK arca_status arca_ttlv_get_bigint(const arca_ttlv_node *n, const uint8_t **out, size_t *out_len);
/* Copy a Text String into buf (cap bytes) NUL-terminated. ARCA_ERR_DECODE
 * for another type or a text that contains U+0000 (it would be cut short
 * as a C string); ARCA_ERR_TOO_LARGE when len + 1 > cap. */
ARCA_MUST_CHECK arca_status arca_ttlv_get_text_cstr(const arca_ttlv_node *n, char *buf, size_t cap);

/* The single child of parent with tag, checked for type: ARCA_ERR_NOT_FOUND
 * when absent, ARCA_ERR_DECODE when parent is not a structure, when the tag
 * occurs more than once (single-valued fields must not repeat; iterate
 * repeated ones with find / find_next) or when the child has another type. */
ARCA_MUST_CHECK arca_status arca_ttlv_child(const arca_ttlv_node *parent, uint32_t tag, arca_ttlv_type type,
                                            const arca_ttlv_node **out);
ARCA_MUST_CHECK arca_status arca_ttlv_child_int(const arca_ttlv_node *parent, uint32_t tag, int32_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_child_long(const arca_ttlv_node *parent, uint32_t tag, int64_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_child_enum(const arca_ttlv_node *parent, uint32_t tag, uint32_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_child_bool(const arca_ttlv_node *parent, uint32_t tag, bool *out);
ARCA_MUST_CHECK arca_status arca_ttlv_child_datetime(const arca_ttlv_node *parent, uint32_t tag, int64_t *out);
ARCA_MUST_CHECK arca_status arca_ttlv_child_text(const arca_ttlv_node *parent, uint32_t tag, const uint8_t **out,
                                                 size_t *out_len);
ARCA_MUST_CHECK arca_status arca_ttlv_child_bytes(const arca_ttlv_node *parent, uint32_t tag, const uint8_t **out,
                                                  size_t *out_len);

/* Deep equality of two items (tag, type, value, children in order). */
bool arca_ttlv_equal(const arca_ttlv_node *a, const arca_ttlv_node *b);

/* True if data[0..len) is valid UTF-8 as the decoder demands. */
bool arca_ttlv_utf8_valid(const uint8_t *data, size_t len);

/* ---- Encoding ------------------------------------------------------------ */

/* Every add appends one item to b. Errors: ARCA_ERR_ARGS for a tag outside
 * 0x42xxxx / 0x54xxxx, invalid UTF-8 text, NULL data with a length, or a
 * bad mark; ARCA_ERR_TOO_LARGE past the builder's cap or for a value longer
 * than 4 GiB - 8; ARCA_ERR_NOMEM. A failure poisons the builder (see
 * builder.h), so a sequence of adds may be checked once at
 * arca_builder_finish. */

/* Open a Structure: writes its header with a provisional length and
 * returns in *out_mark the offset to hand to arca_ttlv_end_struct. */
ARCA_MUST_CHECK arca_status arca_ttlv_begin_struct(arca_builder *b, uint32_t tag, size_t *out_mark);
/* Close the Structure opened at mark: patches its length to cover
 * everything added since. Structures nest; close them innermost first. */
ARCA_MUST_CHECK arca_status arca_ttlv_end_struct(arca_builder *b, size_t mark);

ARCA_MUST_CHECK arca_status arca_ttlv_add_int(arca_builder *b, uint32_t tag, int32_t v);
ARCA_MUST_CHECK arca_status arca_ttlv_add_long(arca_builder *b, uint32_t tag, int64_t v);
ARCA_MUST_CHECK arca_status arca_ttlv_add_enum(arca_builder *b, uint32_t tag, uint32_t v);
ARCA_MUST_CHECK arca_status arca_ttlv_add_bool(arca_builder *b, uint32_t tag, bool v);
ARCA_MUST_CHECK arca_status arca_ttlv_add_datetime(arca_builder *b, uint32_t tag, int64_t v);
ARCA_MUST_CHECK arca_status arca_ttlv_add_datetime_ext(arca_builder *b, uint32_t tag, int64_t v);
ARCA_MUST_CHECK arca_status arca_ttlv_add_interval(arca_builder *b, uint32_t tag, uint32_t v);
ARCA_MUST_CHECK arca_status arca_ttlv_add_text(arca_builder *b, uint32_t tag, const void *text, size_t len);
ARCA_MUST_CHECK arca_status arca_ttlv_add_bytes(arca_builder *b, uint32_t tag, const void *data, size_t len);
/* A Big Integer from two's complement big-endian bytes of any length
 * (len 0 encodes zero-length); sign-extended on the left to a multiple of 8. */
ARCA_MUST_CHECK arca_status arca_ttlv_add_bigint(arca_builder *b, uint32_t tag, const uint8_t *be, size_t len);
/* A Big Integer from an unsigned big-endian magnitude (an RSA modulus):
 * zero-extended so that the encoding stays non-negative. */
ARCA_MUST_CHECK arca_status arca_ttlv_add_bigint_unsigned(arca_builder *b, uint32_t tag, const uint8_t *be,
                                                          size_t len);
/* Re-encode a decoded item (and its children). For every input the
 * decoder accepts, this writes exactly the input bytes. */
ARCA_MUST_CHECK arca_status arca_ttlv_encode_node(arca_builder *b, const arca_ttlv_node *n);

#endif
