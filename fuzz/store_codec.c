/* libFuzzer target: the store OCALL payload decoders.
 *
 * The first byte picks the decoder (0 GET request, 1 COMMIT request,
 * 2 SCAN request, 3 SCAN reply); the rest is its input. Whatever decodes
 * must re-encode to exactly the input bytes (the encodings are canonical),
 * and decoding that again must give the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/store_api.h"

#define CHECK(cond)                                                                                           \
    do {                                                                                                      \
        if (!(cond)) abort();                                                                                 \
    } while (0)

static void check_error(arca_status st)
{
    CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_TOO_LARGE);
}

/* Finish b and require the bytes to equal data. */
static void check_same(arca_builder *b, const uint8_t *data, size_t len)
{
    uint8_t *enc;
    size_t enc_len;
    CHECK(arca_builder_finish(b, &enc, &enc_len) == ARCA_OK);
    CHECK(enc_len == len && memcmp(enc, data, len) == 0);
    free(enc);
}

static bool same_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static void fuzz_get(const uint8_t *data, size_t len, arca_builder *b)
{
    arca_cursor c;
    arca_cursor_init(&c, data, len);
    uint8_t db;
    const uint8_t *key;
    size_t key_len;
    arca_status st = arca_store_get_req_decode(&c, &db, &key, &key_len);
    if (st != ARCA_OK) {
        check_error(st);
        return;
    }
    CHECK(arca_store_get_req_encode(b, db, key, key_len) == ARCA_OK);
    check_same(b, data, len);
}

static void fuzz_commit(const uint8_t *data, size_t len, arca_builder *b)
{
    arca_cursor c;
    arca_cursor_init(&c, data, len);
    arca_store_op *ops;
    size_t num;
    arca_status st = arca_store_commit_req_decode(&c, &ops, &num);
    if (st != ARCA_OK) {
        check_error(st);
        return;
    }
    CHECK(arca_store_commit_req_encode(b, ops, num) == ARCA_OK);
    check_same(b, data, len);
    arca_store_op *ops2;
    size_t num2;
    arca_cursor_init(&c, data, len);
    CHECK(arca_store_commit_req_decode(&c, &ops2, &num2) == ARCA_OK && num2 == num);
    for (size_t i = 0; i < num; i++) {
        CHECK(ops[i].kind == ops2[i].kind && ops[i].db == ops2[i].db);
        CHECK(same_bytes(ops[i].key, ops[i].key_len, ops2[i].key, ops2[i].key_len));
        CHECK(same_bytes(ops[i].val, ops[i].val_len, ops2[i].val, ops2[i].val_len));
    }
    free(ops);
    free(ops2);
}

static void fuzz_scan_req(const uint8_t *data, size_t len, arca_builder *b)
{
    arca_cursor c;
    arca_cursor_init(&c, data, len);
    arca_store_scan_req r;
    arca_status st = arca_store_scan_req_decode(&c, &r);
    if (st != ARCA_OK) {
        check_error(st);
        return;
    }
    CHECK(r.limit > 0 && r.limit <= ARCA_STORE_MAX_SCAN);
    CHECK(arca_store_scan_req_encode(b, &r) == ARCA_OK);
    check_same(b, data, len);
}

static void fuzz_scan_reply(const uint8_t *data, size_t len, arca_builder *b)
{
    arca_cursor c;
    arca_cursor_init(&c, data, len);
    arca_store_entry *e;
    size_t num;
    arca_status st = arca_store_scan_reply_decode(&c, ARCA_STORE_MAX_SCAN, &e, &num);
    if (st != ARCA_OK) {
        check_error(st);
        return;
    }
    CHECK(arca_store_scan_reply_encode(b, e, num) == ARCA_OK);
    check_same(b, data, len);
    arca_store_entry *e2;
    size_t num2;
    arca_cursor_init(&c, data, len);
    CHECK(arca_store_scan_reply_decode(&c, ARCA_STORE_MAX_SCAN, &e2, &num2) == ARCA_OK && num2 == num);
    for (size_t i = 0; i < num; i++) {
        CHECK(same_bytes(e[i].key, e[i].key_len, e2[i].key, e2[i].key_len));
        CHECK(same_bytes(e[i].val, e[i].val_len, e2[i].val, e2[i].val_len));
    }
    arca_store_entries_free(e, num);
    arca_store_entries_free(e2, num2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1) return 0;
    arca_builder b;
    CHECK(arca_builder_init(&b, 0, 16u << 20) == ARCA_OK);
    switch (data[0] & 3u) {
    case 0:
        fuzz_get(data + 1, len - 1, &b);
        break;
    case 1:
        fuzz_commit(data + 1, len - 1, &b);
        break;
    case 2:
        fuzz_scan_req(data + 1, len - 1, &b);
        break;
    case 3:
        fuzz_scan_reply(data + 1, len - 1, &b);
        break;
    default:
        abort();
    }
    arca_builder_cleanup(&b);
    return 0;
}
