/* libFuzzer target: the KMIP TTLV decoder (ttlv.h), which arca-enclave runs
 * on every KMIP request and libarca-client on every response.
 *
 * Input: one TTLV message. Whatever decodes must (1) fail only with
 * ARCA_ERR_DECODE or ARCA_ERR_TOO_LARGE, (2) be framed by
 * arca_ttlv_message_len to exactly its length, (3) re-encode to exactly the
 * input bytes (the decoder accepts canonical input only), (4) decode again
 * to an equal tree, and (5) decode under tighter caps either to the same
 * tree or with ARCA_ERR_TOO_LARGE. The lookups and typed getters are run
 * over every node. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/ttlv.h"
#include "fuzz_check.h"

/* Exercise the handler-side API on one structure and its children. */
static void walk(const arca_ttlv_node *n, size_t depth)
{
    CHECK(depth <= ARCA_TTLV_DEFAULT_MAX_DEPTH);
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    bool b;
    const uint8_t *p;
    size_t len;
    char buf[64];
    CHECK((arca_ttlv_get_int(n, &i32) == ARCA_OK) == (n->type == ARCA_TTLV_INTEGER));
    CHECK((arca_ttlv_get_long(n, &i64) == ARCA_OK) == (n->type == ARCA_TTLV_LONG_INTEGER));
    CHECK((arca_ttlv_get_enum(n, &u32) == ARCA_OK) == (n->type == ARCA_TTLV_ENUMERATION));
    CHECK((arca_ttlv_get_bool(n, &b) == ARCA_OK) == (n->type == ARCA_TTLV_BOOLEAN));
    CHECK((arca_ttlv_get_datetime(n, &i64) == ARCA_OK) == (n->type == ARCA_TTLV_DATE_TIME));
    CHECK((arca_ttlv_get_interval(n, &u32) == ARCA_OK) == (n->type == ARCA_TTLV_INTERVAL));
    CHECK((arca_ttlv_get_bytes(n, &p, &len) == ARCA_OK) == (n->type == ARCA_TTLV_BYTE_STRING));
    CHECK((arca_ttlv_get_bigint(n, &p, &len) == ARCA_OK) == (n->type == ARCA_TTLV_BIG_INTEGER));
    if (arca_ttlv_get_text(n, &p, &len) == ARCA_OK) {
        CHECK(n->type == ARCA_TTLV_TEXT_STRING);
        CHECK(arca_ttlv_utf8_valid(p, len));
        arca_status st = arca_ttlv_get_text_cstr(n, buf, sizeof(buf));
        CHECK(st == ARCA_OK || st == ARCA_ERR_DECODE || st == ARCA_ERR_TOO_LARGE);
        if (st == ARCA_OK) CHECK(strlen(buf) == len && memcmp(buf, p, len) == 0);
    }
    if (n->type != ARCA_TTLV_STRUCTURE) {
        CHECK(n->first_child == NULL && n->num_children == 0);
        return;
    }
    size_t num = 0;
    for (const arca_ttlv_node *c = n->first_child; c != NULL; c = c->next, num++) {
        const arca_ttlv_node *first = arca_ttlv_find(n, c->tag), *one;
        CHECK(first != NULL && first->tag == c->tag);
        size_t count = arca_ttlv_count(n, c->tag);
        CHECK(count >= 1 && count <= n->num_children);
        arca_status st = arca_ttlv_child(n, c->tag, c->type, &one);
        CHECK(count == 1 ? (st == ARCA_OK && one == c) : st == ARCA_ERR_DECODE);
        walk(c, depth + 1);
    }
    CHECK(num == n->num_children);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    arca_cursor c;
    arca_ttlv_tree *t = NULL, *t2 = NULL, *t3 = NULL;
    arca_cursor_init(&c, data, len);
    arca_status st = arca_ttlv_decode(&c, NULL, &t);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_TOO_LARGE);
        CHECK(t == NULL && arca_cursor_remaining(&c) == len);
        return 0;
    }
    CHECK(arca_cursor_remaining(&c) == 0);
    const arca_ttlv_node *root = arca_ttlv_root(t);
    CHECK(root != NULL);
    CHECK(arca_ttlv_num_nodes(t) >= 1 && arca_ttlv_num_nodes(t) <= ARCA_TTLV_DEFAULT_MAX_NODES);

    size_t framed = 0;
    CHECK(arca_ttlv_message_len(data, len, 0, &framed) == ARCA_OK);
    CHECK(framed == len);

    walk(root, 1);

    arca_builder b;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    CHECK(arca_builder_init(&b, 0, len) == ARCA_OK);
    CHECK(arca_ttlv_encode_node(&b, root) == ARCA_OK);
    CHECK(arca_builder_finish(&b, &enc, &enc_len) == ARCA_OK);
    CHECK(enc_len == len && memcmp(enc, data, len) == 0);

    arca_cursor_init(&c, enc, enc_len);
    CHECK(arca_ttlv_decode(&c, NULL, &t2) == ARCA_OK);
    CHECK(arca_ttlv_equal(root, arca_ttlv_root(t2)));
    CHECK(arca_ttlv_num_nodes(t2) == arca_ttlv_num_nodes(t));

    /* Tighter caps: the same tree or ARCA_ERR_TOO_LARGE, nothing else. */
    arca_ttlv_limits tight = {len > 8 ? len - 8 : 8, 3, 16};
    arca_cursor_init(&c, data, len);
    st = arca_ttlv_decode(&c, &tight, &t3);
    CHECK(st == ARCA_OK || st == ARCA_ERR_TOO_LARGE);
    if (st == ARCA_OK) CHECK(arca_ttlv_equal(root, arca_ttlv_root(t3)));

    arca_ttlv_free(t3);
    arca_ttlv_free(t2);
    free(enc);
    arca_ttlv_free(t);
    return 0;
}
