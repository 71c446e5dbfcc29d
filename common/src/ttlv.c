/* KMIP TTLV codec (see ttlv.h).
 *
 * The decoder is recursive, bounded by max_depth (at most
 * ARCA_TTLV_LIMIT_MAX_DEPTH), and works on a copy of the caller's cursor so
 * that a failed decode leaves it where it was. All nodes of a tree live in
 * one allocation sized before parsing: every item takes at least one 8-byte
 * header, so input_len / 8 nodes always suffice and the node cap is checked
 * before that size is reached. */
#include "arca/ttlv.h"

#include <stdlib.h>
#include <string.h>

struct arca_ttlv_tree {
    size_t num_nodes;
    size_t cap;
    arca_ttlv_node nodes[];
};

typedef struct decoder {
    arca_ttlv_tree *tree;
    size_t max_depth;
    size_t max_nodes;
} decoder;

static const uint8_t zeros[8];

static bool tag_ok(uint32_t tag)
{
    uint32_t hi = tag >> 16;
    return hi == 0x42u || hi == 0x54u;
}

static bool type_ok(uint32_t type)
{
    return type >= ARCA_TTLV_STRUCTURE && type <= ARCA_TTLV_DATE_TIME_EXTENDED;
}

/* Padding after a value of len bytes. */
static size_t pad_len(size_t len)
{
    return (8u - (len % 8u)) % 8u;
}

bool arca_ttlv_utf8_valid(const uint8_t *s, size_t len)
{
    if (s == NULL) return len == 0;
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint8_t lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c == 0xE0) {
            more = 2;
            lo = 0xA0; /* no overlong 3-byte forms */
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            more = 2;
        } else if (c == 0xED) {
            more = 2;
            hi = 0x9F; /* no UTF-16 surrogates */
        } else if (c == 0xF0) {
            more = 3;
            lo = 0x90; /* no overlong 4-byte forms */
        } else if (c >= 0xF1 && c <= 0xF3) {
            more = 3;
        } else if (c == 0xF4) {
            more = 3;
            hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            return false; /* continuation byte, C0/C1, F5..FF */
        }
        if (len - i - 1 < more) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
        }
        i += more + 1;
    }
    return true;
}

/* ---- Decoding ------------------------------------------------------------ */

static arca_status read_header(arca_cursor *c, uint32_t *out_tag, uint8_t *out_type, uint32_t *out_len)
{
    const uint8_t *h;
    ARCA_GUARD(arca_cursor_get_bytes(c, ARCA_TTLV_HEADER_LEN, &h));
    uint32_t tag = ((uint32_t)h[0] << 16) | ((uint32_t)h[1] << 8) | h[2];
    ARCA_ENSURE(tag_ok(tag), ARCA_ERR_DECODE);
    ARCA_ENSURE(type_ok(h[3]), ARCA_ERR_DECODE);
    *out_tag = tag;
    *out_type = h[3];
    *out_len = ((uint32_t)h[4] << 24) | ((uint32_t)h[5] << 16) | ((uint32_t)h[6] << 8) | h[7];
    return ARCA_OK;
}

static arca_status read_zero_padding(arca_cursor *c, size_t n)
{
    const uint8_t *p;
    ARCA_GUARD(arca_cursor_get_bytes(c, n, &p));
    ARCA_ENSURE(n == 0 || memcmp(p, zeros, n) == 0, ARCA_ERR_DECODE);
    return ARCA_OK;
}

static arca_status decode_item(decoder *d, arca_cursor *c, size_t depth, arca_ttlv_node **out);

static arca_status decode_children(decoder *d, arca_cursor *sub, size_t depth, arca_ttlv_node *parent)
{
    arca_ttlv_node *last = NULL;
    while (arca_cursor_remaining(sub) > 0) {
        arca_ttlv_node *child;
        ARCA_GUARD(decode_item(d, sub, depth + 1, &child));
        if (last == NULL)
            parent->first_child = child;
        else
            last->next = child;
        last = child;
        parent->num_children++;
    }
    return ARCA_OK;
}

static arca_status decode_item(decoder *d, arca_cursor *c, size_t depth, arca_ttlv_node **out)
{
    ARCA_ENSURE(depth <= d->max_depth, ARCA_ERR_TOO_LARGE);
    uint32_t tag, len;
    uint8_t type;
    ARCA_GUARD(read_header(c, &tag, &type, &len));

    arca_ttlv_tree *t = d->tree;
    ARCA_ENSURE(t->num_nodes < d->max_nodes, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(t->num_nodes < t->cap, ARCA_ERR_INTERNAL); /* cannot happen: see the top comment */
    arca_ttlv_node *n = &t->nodes[t->num_nodes++];
    n->tag = tag;
    n->type = (arca_ttlv_type)type;

    uint32_t v32;
    uint64_t v64;
    switch (n->type) {
    case ARCA_TTLV_STRUCTURE: {
        arca_cursor sub;
        ARCA_GUARD(arca_cursor_get_sub(c, len, &sub));
        ARCA_GUARD(decode_children(d, &sub, depth, n));
        break;
    }
    case ARCA_TTLV_INTEGER:
    case ARCA_TTLV_ENUMERATION:
    case ARCA_TTLV_INTERVAL:
        ARCA_ENSURE(len == 4, ARCA_ERR_DECODE);
        ARCA_GUARD(arca_cursor_get_u32(c, &v32));
        ARCA_GUARD(read_zero_padding(c, 4));
        if (n->type == ARCA_TTLV_INTEGER)
            n->i64 = v32 >= 0x80000000u ? (int64_t)v32 - (int64_t)0x100000000 : (int64_t)v32;
        else
            n->u32 = v32;
        break;
    case ARCA_TTLV_LONG_INTEGER:
    case ARCA_TTLV_DATE_TIME:
    case ARCA_TTLV_DATE_TIME_EXTENDED:
        ARCA_ENSURE(len == 8, ARCA_ERR_DECODE);
        ARCA_GUARD(arca_cursor_get_u64(c, &v64));
        /* Two's complement reinterpretation without implementation-defined
         * conversion. */
        n->i64 = v64 >= 0x8000000000000000u ? -(int64_t)(~v64) - 1 : (int64_t)v64;
        break;
    case ARCA_TTLV_BOOLEAN:
        ARCA_ENSURE(len == 8, ARCA_ERR_DECODE);
        ARCA_GUARD(arca_cursor_get_u64(c, &v64));
        ARCA_ENSURE(v64 <= 1, ARCA_ERR_DECODE);
        n->b = v64 == 1;
        break;
    case ARCA_TTLV_BIG_INTEGER:
        ARCA_ENSURE(len % 8u == 0, ARCA_ERR_DECODE);
        ARCA_GUARD(arca_cursor_get_bytes(c, len, &n->data));
        n->len = len;
        break;
    case ARCA_TTLV_TEXT_STRING:
    case ARCA_TTLV_BYTE_STRING:
        ARCA_GUARD(arca_cursor_get_bytes(c, len, &n->data));
        n->len = len;
        ARCA_GUARD(read_zero_padding(c, pad_len(len)));
        if (n->type == ARCA_TTLV_TEXT_STRING) ARCA_ENSURE(arca_ttlv_utf8_valid(n->data, n->len), ARCA_ERR_DECODE);
        break;
    default:
        return ARCA_ERR_DECODE;
    }
    *out = n;
    return ARCA_OK;
}

static arca_status resolve_limits(const arca_ttlv_limits *limits, arca_ttlv_limits *out)
{
    arca_ttlv_limits l = {ARCA_TTLV_DEFAULT_MAX_MESSAGE, ARCA_TTLV_DEFAULT_MAX_DEPTH, ARCA_TTLV_DEFAULT_MAX_NODES};
    if (limits != NULL) {
        if (limits->max_message_len != 0) l.max_message_len = limits->max_message_len;
        if (limits->max_depth != 0) l.max_depth = limits->max_depth;
        if (limits->max_nodes != 0) l.max_nodes = limits->max_nodes;
    }
    ARCA_ENSURE(l.max_message_len <= ARCA_TTLV_LIMIT_MAX_MESSAGE, ARCA_ERR_ARGS);
    ARCA_ENSURE(l.max_depth <= ARCA_TTLV_LIMIT_MAX_DEPTH, ARCA_ERR_ARGS);
    ARCA_ENSURE(l.max_nodes <= ARCA_TTLV_LIMIT_MAX_NODES, ARCA_ERR_ARGS);
    *out = l;
    return ARCA_OK;
}

arca_status arca_ttlv_message_len(const uint8_t *hdr, size_t hdr_len, size_t max_message_len, size_t *out_len)
{
    ARCA_ENSURE(out_len != NULL && (hdr != NULL || hdr_len == 0), ARCA_ERR_ARGS);
    arca_ttlv_limits want = {max_message_len, 0, 0}, l;
    ARCA_GUARD(resolve_limits(&want, &l));
    arca_cursor c;
    arca_cursor_init(&c, hdr, hdr_len);
    uint32_t tag, len;
    uint8_t type;
    ARCA_GUARD(read_header(&c, &tag, &type, &len));
    ARCA_ENSURE(type != ARCA_TTLV_STRUCTURE || len % 8u == 0, ARCA_ERR_DECODE);
    uint64_t total = (uint64_t)ARCA_TTLV_HEADER_LEN + len + pad_len(len);
    ARCA_ENSURE(total <= l.max_message_len, ARCA_ERR_TOO_LARGE);
    *out_len = (size_t)total;
    return ARCA_OK;
}

arca_status arca_ttlv_decode(arca_cursor *c, const arca_ttlv_limits *limits, arca_ttlv_tree **out_tree)
{
    ARCA_ENSURE(c != NULL && out_tree != NULL, ARCA_ERR_ARGS);
    *out_tree = NULL;
    arca_ttlv_limits l;
    ARCA_GUARD(resolve_limits(limits, &l));
    size_t in_len = arca_cursor_remaining(c);
    ARCA_ENSURE(in_len <= l.max_message_len, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(in_len >= ARCA_TTLV_HEADER_LEN, ARCA_ERR_DECODE);

    size_t cap = in_len / ARCA_TTLV_HEADER_LEN;
    if (cap > l.max_nodes) cap = l.max_nodes;
    arca_ttlv_tree *t = calloc(1, sizeof(*t) + cap * sizeof(arca_ttlv_node));
    ARCA_ENSURE(t != NULL, ARCA_ERR_NOMEM);
    t->cap = cap;

    decoder d = {t, l.max_depth, l.max_nodes};
    arca_cursor work = *c;
    arca_ttlv_node *root;
    arca_status st = decode_item(&d, &work, 1, &root);
    if (st == ARCA_OK) st = arca_cursor_finish(&work);
    if (st != ARCA_OK) {
        free(t);
        return st;
    }
    *c = work;
    *out_tree = t;
    return ARCA_OK;
}

const arca_ttlv_node *arca_ttlv_root(const arca_ttlv_tree *tree)
{
    if (tree == NULL || tree->num_nodes == 0) return NULL;
    return &tree->nodes[0];
}

size_t arca_ttlv_num_nodes(const arca_ttlv_tree *tree)
{
    return tree != NULL ? tree->num_nodes : 0;
}

void arca_ttlv_free(arca_ttlv_tree *tree)
{
    /* Nodes hold pointers into the message and small integers, never value
     * bytes, so there is nothing secret to wipe here. */
    free(tree);
}

/* ---- Looking things up --------------------------------------------------- */

const arca_ttlv_node *arca_ttlv_find(const arca_ttlv_node *parent, uint32_t tag)
{
    if (parent == NULL || parent->type != ARCA_TTLV_STRUCTURE) return NULL;
    for (const arca_ttlv_node *n = parent->first_child; n != NULL; n = n->next) {
        if (n->tag == tag) return n;
    }
    return NULL;
}

const arca_ttlv_node *arca_ttlv_find_next(const arca_ttlv_node *prev)
{
    if (prev == NULL) return NULL;
    for (const arca_ttlv_node *n = prev->next; n != NULL; n = n->next) {
        if (n->tag == prev->tag) return n;
    }
    return NULL;
}

size_t arca_ttlv_count(const arca_ttlv_node *parent, uint32_t tag)
{
    size_t num = 0;
    for (const arca_ttlv_node *n = arca_ttlv_find(parent, tag); n != NULL; n = arca_ttlv_find_next(n)) num++;
    return num;
}

static arca_status expect(const arca_ttlv_node *n, arca_ttlv_type type, const void *out)
{
    ARCA_ENSURE(n != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(n->type == type, ARCA_ERR_DECODE);
    return ARCA_OK;
}

arca_status arca_ttlv_get_int(const arca_ttlv_node *n, int32_t *out)
{
    ARCA_GUARD(expect(n, ARCA_TTLV_INTEGER, out));
    *out = (int32_t)n->i64; /* in range: decoded from 4 bytes */
    return ARCA_OK;
}

arca_status arca_ttlv_get_long(const arca_ttlv_node *n, int64_t *out)
{
    ARCA_GUARD(expect(n, ARCA_TTLV_LONG_INTEGER, out));
    *out = n->i64;
    return ARCA_OK;
}

arca_status arca_ttlv_get_enum(const arca_ttlv_node *n, uint32_t *out)
{
    ARCA_GUARD(expect(n, ARCA_TTLV_ENUMERATION, out));
    *out = n->u32;
    return ARCA_OK;
}

arca_status arca_ttlv_get_bool(const arca_ttlv_node *n, bool *out)
{
    ARCA_GUARD(expect(n, ARCA_TTLV_BOOLEAN, out));
    *out = n->b;
    return ARCA_OK;
}

arca_status arca_ttlv_get_datetime(const arca_ttlv_node *n, int64_t *out)
{
    ARCA_GUARD(expect(n, ARCA_TTLV_DATE_TIME, out));
    *out = n->i64;
    return ARCA_OK;
}

arca_status arca_ttlv_get_interval(const arca_ttlv_node *n, uint32_t *out)
{
    ARCA_GUARD(expect(n, ARCA_TTLV_INTERVAL, out));
    *out = n->u32;
    return ARCA_OK;
}

static arca_status get_span(const arca_ttlv_node *n, arca_ttlv_type type, const uint8_t **out, size_t *out_len)
{
    ARCA_ENSURE(out_len != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(expect(n, type, out));
    *out = n->data;
    *out_len = n->len;
    return ARCA_OK;
}

arca_status arca_ttlv_get_text(const arca_ttlv_node *n, const uint8_t **out, size_t *out_len)
{
    return get_span(n, ARCA_TTLV_TEXT_STRING, out, out_len);
}

arca_status arca_ttlv_get_bytes(const arca_ttlv_node *n, const uint8_t **out, size_t *out_len)
{
    return get_span(n, ARCA_TTLV_BYTE_STRING, out, out_len);
}

arca_status arca_ttlv_get_bigint(const arca_ttlv_node *n, const uint8_t **out, size_t *out_len)
{
    return get_span(n, ARCA_TTLV_BIG_INTEGER, out, out_len);
}

arca_status arca_ttlv_get_text_cstr(const arca_ttlv_node *n, char *buf, size_t cap)
{
    ARCA_GUARD(expect(n, ARCA_TTLV_TEXT_STRING, buf));
    ARCA_ENSURE(n->len == 0 || memchr(n->data, 0, n->len) == NULL, ARCA_ERR_DECODE);
    ARCA_ENSURE(n->len < cap, ARCA_ERR_TOO_LARGE);
    if (n->len > 0) memcpy(buf, n->data, n->len);
    buf[n->len] = '\0';
    return ARCA_OK;
}

arca_status arca_ttlv_child(const arca_ttlv_node *parent, uint32_t tag, arca_ttlv_type type,
                            const arca_ttlv_node **out)
{
    ARCA_ENSURE(parent != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(parent->type == ARCA_TTLV_STRUCTURE, ARCA_ERR_DECODE);
    const arca_ttlv_node *n = arca_ttlv_find(parent, tag);
    ARCA_ENSURE(n != NULL, ARCA_ERR_NOT_FOUND);
    ARCA_ENSURE(arca_ttlv_find_next(n) == NULL, ARCA_ERR_DECODE);
    ARCA_ENSURE(n->type == type, ARCA_ERR_DECODE);
    *out = n;
    return ARCA_OK;
}

arca_status arca_ttlv_child_int(const arca_ttlv_node *parent, uint32_t tag, int32_t *out)
{
    const arca_ttlv_node *n;
    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_child(parent, tag, ARCA_TTLV_INTEGER, &n));
    return arca_ttlv_get_int(n, out);
}

arca_status arca_ttlv_child_long(const arca_ttlv_node *parent, uint32_t tag, int64_t *out)
{
    const arca_ttlv_node *n;
    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_child(parent, tag, ARCA_TTLV_LONG_INTEGER, &n));
    return arca_ttlv_get_long(n, out);
}

arca_status arca_ttlv_child_enum(const arca_ttlv_node *parent, uint32_t tag, uint32_t *out)
{
    const arca_ttlv_node *n;
    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_child(parent, tag, ARCA_TTLV_ENUMERATION, &n));
    return arca_ttlv_get_enum(n, out);
}

arca_status arca_ttlv_child_bool(const arca_ttlv_node *parent, uint32_t tag, bool *out)
{
    const arca_ttlv_node *n;
    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_child(parent, tag, ARCA_TTLV_BOOLEAN, &n));
    return arca_ttlv_get_bool(n, out);
}

arca_status arca_ttlv_child_datetime(const arca_ttlv_node *parent, uint32_t tag, int64_t *out)
{
    const arca_ttlv_node *n;
    ARCA_ENSURE(out != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_child(parent, tag, ARCA_TTLV_DATE_TIME, &n));
    return arca_ttlv_get_datetime(n, out);
}

arca_status arca_ttlv_child_text(const arca_ttlv_node *parent, uint32_t tag, const uint8_t **out, size_t *out_len)
{
    const arca_ttlv_node *n;
    ARCA_ENSURE(out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_child(parent, tag, ARCA_TTLV_TEXT_STRING, &n));
    return arca_ttlv_get_text(n, out, out_len);
}

arca_status arca_ttlv_child_bytes(const arca_ttlv_node *parent, uint32_t tag, const uint8_t **out, size_t *out_len)
{
    const arca_ttlv_node *n;
    ARCA_ENSURE(out != NULL && out_len != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(arca_ttlv_child(parent, tag, ARCA_TTLV_BYTE_STRING, &n));
    return arca_ttlv_get_bytes(n, out, out_len);
}

static bool equal_at(const arca_ttlv_node *a, const arca_ttlv_node *b, size_t depth)
{
    if (a == NULL || b == NULL) return a == b;
    if (depth > ARCA_TTLV_LIMIT_MAX_DEPTH) return false;
    if (a->tag != b->tag || a->type != b->type) return false;
    switch (a->type) {
    case ARCA_TTLV_STRUCTURE: {
        if (a->num_children != b->num_children) return false;
        const arca_ttlv_node *x = a->first_child, *y = b->first_child;
        for (; x != NULL && y != NULL; x = x->next, y = y->next) {
            if (!equal_at(x, y, depth + 1)) return false;
        }
        return x == NULL && y == NULL;
    }
    case ARCA_TTLV_INTEGER:
    case ARCA_TTLV_LONG_INTEGER:
    case ARCA_TTLV_DATE_TIME:
    case ARCA_TTLV_DATE_TIME_EXTENDED:
        return a->i64 == b->i64;
    case ARCA_TTLV_ENUMERATION:
    case ARCA_TTLV_INTERVAL:
        return a->u32 == b->u32;
    case ARCA_TTLV_BOOLEAN:
        return a->b == b->b;
    case ARCA_TTLV_BIG_INTEGER:
    case ARCA_TTLV_TEXT_STRING:
    case ARCA_TTLV_BYTE_STRING:
        return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
    default:
        return false;
    }
}

bool arca_ttlv_equal(const arca_ttlv_node *a, const arca_ttlv_node *b)
{
    return equal_at(a, b, 1);
}

/* ---- Encoding ------------------------------------------------------------ */

static arca_status poison(arca_builder *b, arca_status st)
{
    if (b->error == ARCA_OK) b->error = st;
    return st;
}

/* Common entry checks: a usable builder, a valid tag. */
static arca_status enter(arca_builder *b, uint32_t tag)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    if (b->error != ARCA_OK) return b->error;
    if (!tag_ok(tag)) return poison(b, ARCA_ERR_ARGS);
    return ARCA_OK;
}

static arca_status add_header(arca_builder *b, uint32_t tag, arca_ttlv_type type, size_t len)
{
    if (len > UINT32_MAX - 7u) return poison(b, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(arca_builder_add_u8(b, (uint8_t)(tag >> 16)));
    ARCA_GUARD(arca_builder_add_u16(b, (uint16_t)tag));
    ARCA_GUARD(arca_builder_add_u8(b, (uint8_t)type));
    return arca_builder_add_u32(b, (uint32_t)len);
}

arca_status arca_ttlv_begin_struct(arca_builder *b, uint32_t tag, size_t *out_mark)
{
    ARCA_GUARD(enter(b, tag));
    if (out_mark == NULL) return poison(b, ARCA_ERR_ARGS);
    size_t mark = b->len;
    ARCA_GUARD(add_header(b, tag, ARCA_TTLV_STRUCTURE, 0));
    *out_mark = mark;
    return ARCA_OK;
}

arca_status arca_ttlv_end_struct(arca_builder *b, size_t mark)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    if (b->error != ARCA_OK) return b->error;
    if (mark > b->len || b->len - mark < ARCA_TTLV_HEADER_LEN || b->data[mark + 3] != ARCA_TTLV_STRUCTURE)
        return poison(b, ARCA_ERR_ARGS);
    size_t len = b->len - mark - ARCA_TTLV_HEADER_LEN;
    if (len > UINT32_MAX - 7u) return poison(b, ARCA_ERR_TOO_LARGE);
    return arca_builder_patch_u32(b, mark + 4, (uint32_t)len);
}

static arca_status add_u32_item(arca_builder *b, uint32_t tag, arca_ttlv_type type, uint32_t v)
{
    ARCA_GUARD(enter(b, tag));
    ARCA_GUARD(add_header(b, tag, type, 4));
    ARCA_GUARD(arca_builder_add_u32(b, v));
    return arca_builder_add_u32(b, 0);
}

static arca_status add_u64_item(arca_builder *b, uint32_t tag, arca_ttlv_type type, uint64_t v)
{
    ARCA_GUARD(enter(b, tag));
    ARCA_GUARD(add_header(b, tag, type, 8));
    return arca_builder_add_u64(b, v);
}

arca_status arca_ttlv_add_int(arca_builder *b, uint32_t tag, int32_t v)
{
    return add_u32_item(b, tag, ARCA_TTLV_INTEGER, (uint32_t)v);
}

arca_status arca_ttlv_add_long(arca_builder *b, uint32_t tag, int64_t v)
{
    return add_u64_item(b, tag, ARCA_TTLV_LONG_INTEGER, (uint64_t)v);
}

arca_status arca_ttlv_add_enum(arca_builder *b, uint32_t tag, uint32_t v)
{
    return add_u32_item(b, tag, ARCA_TTLV_ENUMERATION, v);
}

arca_status arca_ttlv_add_bool(arca_builder *b, uint32_t tag, bool v)
{
    return add_u64_item(b, tag, ARCA_TTLV_BOOLEAN, v ? 1u : 0u);
}

arca_status arca_ttlv_add_datetime(arca_builder *b, uint32_t tag, int64_t v)
{
    return add_u64_item(b, tag, ARCA_TTLV_DATE_TIME, (uint64_t)v);
}

arca_status arca_ttlv_add_datetime_ext(arca_builder *b, uint32_t tag, int64_t v)
{
    return add_u64_item(b, tag, ARCA_TTLV_DATE_TIME_EXTENDED, (uint64_t)v);
}

arca_status arca_ttlv_add_interval(arca_builder *b, uint32_t tag, uint32_t v)
{
    return add_u32_item(b, tag, ARCA_TTLV_INTERVAL, v);
}

static arca_status add_span(arca_builder *b, uint32_t tag, arca_ttlv_type type, const void *data, size_t len)
{
    ARCA_GUARD(enter(b, tag));
    if (data == NULL && len > 0) return poison(b, ARCA_ERR_ARGS);
    ARCA_GUARD(add_header(b, tag, type, len));
    ARCA_GUARD(arca_builder_add_bytes(b, data, len));
    return arca_builder_add_bytes(b, zeros, pad_len(len));
}

arca_status arca_ttlv_add_text(arca_builder *b, uint32_t tag, const void *text, size_t len)
{
    ARCA_GUARD(enter(b, tag));
    if ((text == NULL && len > 0) || !arca_ttlv_utf8_valid(text, len)) return poison(b, ARCA_ERR_ARGS);
    return add_span(b, tag, ARCA_TTLV_TEXT_STRING, text, len);
}

arca_status arca_ttlv_add_bytes(arca_builder *b, uint32_t tag, const void *data, size_t len)
{
    return add_span(b, tag, ARCA_TTLV_BYTE_STRING, data, len);
}

/* A Big Integer of len bytes preceded by ext_len bytes of ext. */
static arca_status add_bigint_ext(arca_builder *b, uint32_t tag, const uint8_t *be, size_t len, uint8_t ext,
                                  size_t ext_len)
{
    if (len > UINT32_MAX || ext_len > UINT32_MAX - len) return poison(b, ARCA_ERR_TOO_LARGE);
    ARCA_GUARD(add_header(b, tag, ARCA_TTLV_BIG_INTEGER, len + ext_len));
    for (size_t i = 0; i < ext_len; i++) ARCA_GUARD(arca_builder_add_u8(b, ext));
    return arca_builder_add_bytes(b, be, len);
}

arca_status arca_ttlv_add_bigint(arca_builder *b, uint32_t tag, const uint8_t *be, size_t len)
{
    ARCA_GUARD(enter(b, tag));
    if (be == NULL && len > 0) return poison(b, ARCA_ERR_ARGS);
    uint8_t ext = (len > 0 && (be[0] & 0x80u) != 0) ? 0xFF : 0x00;
    return add_bigint_ext(b, tag, be, len, ext, pad_len(len));
}

arca_status arca_ttlv_add_bigint_unsigned(arca_builder *b, uint32_t tag, const uint8_t *be, size_t len)
{
    ARCA_GUARD(enter(b, tag));
    if (be == NULL && len > 0) return poison(b, ARCA_ERR_ARGS);
    /* One more byte of room for a clear sign bit when the top bit is set. */
    size_t need = len + ((len > 0 && (be[0] & 0x80u) != 0) ? 1u : 0u);
    return add_bigint_ext(b, tag, be, len, 0x00, need - len + pad_len(need));
}

static arca_status encode_at(arca_builder *b, const arca_ttlv_node *n, size_t depth)
{
    ARCA_ENSURE(b != NULL, ARCA_ERR_ARGS);
    if (n == NULL || depth > ARCA_TTLV_LIMIT_MAX_DEPTH) return poison(b, ARCA_ERR_ARGS);
    switch (n->type) {
    case ARCA_TTLV_STRUCTURE: {
        size_t mark;
        ARCA_GUARD(arca_ttlv_begin_struct(b, n->tag, &mark));
        for (const arca_ttlv_node *c = n->first_child; c != NULL; c = c->next) ARCA_GUARD(encode_at(b, c, depth + 1));
        return arca_ttlv_end_struct(b, mark);
    }
    case ARCA_TTLV_INTEGER:
        if (n->i64 < INT32_MIN || n->i64 > INT32_MAX) return poison(b, ARCA_ERR_ARGS);
        return arca_ttlv_add_int(b, n->tag, (int32_t)n->i64);
    case ARCA_TTLV_LONG_INTEGER:
        return arca_ttlv_add_long(b, n->tag, n->i64);
    case ARCA_TTLV_BIG_INTEGER:
        return arca_ttlv_add_bigint(b, n->tag, n->data, n->len);
    case ARCA_TTLV_ENUMERATION:
        return arca_ttlv_add_enum(b, n->tag, n->u32);
    case ARCA_TTLV_BOOLEAN:
        return arca_ttlv_add_bool(b, n->tag, n->b);
    case ARCA_TTLV_TEXT_STRING:
        return arca_ttlv_add_text(b, n->tag, n->data, n->len);
    case ARCA_TTLV_BYTE_STRING:
        return arca_ttlv_add_bytes(b, n->tag, n->data, n->len);
    case ARCA_TTLV_DATE_TIME:
        return arca_ttlv_add_datetime(b, n->tag, n->i64);
    case ARCA_TTLV_INTERVAL:
        return arca_ttlv_add_interval(b, n->tag, n->u32);
    case ARCA_TTLV_DATE_TIME_EXTENDED:
        return arca_ttlv_add_datetime_ext(b, n->tag, n->i64);
    default:
        return poison(b, ARCA_ERR_ARGS);
    }
}

arca_status arca_ttlv_encode_node(arca_builder *b, const arca_ttlv_node *n)
{
    return encode_at(b, n, 1);
}
