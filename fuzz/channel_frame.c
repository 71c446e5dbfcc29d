/* libFuzzer target: channel frame header and ECALL_START parameters.
 *
 * Input: 12 header bytes, then a START payload. Whatever decodes must
 * re-encode to exactly the input bytes (both encodings are canonical), and
 * decoding that again must give the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/channel.h"

#define CHECK(cond)                                                                                           \
    do {                                                                                                      \
        if (!(cond)) abort();                                                                                 \
    } while (0)

static void fuzz_header(const uint8_t *data)
{
    arca_frame_header h, h2;
    arca_status st = arca_frame_header_decode(data, &h);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_FRAME_TYPE || st == ARCA_ERR_FRAME_SIZE || st == ARCA_ERR_DECODE);
        return;
    }
    CHECK(h.payload_len <= arca_frame_cap(h.type, (h.flags & ARCA_FRAME_REPLY) != 0));
    uint8_t again[ARCA_FRAME_HEADER_LEN];
    arca_frame_header_encode(&h, again);
    CHECK(memcmp(again, data, ARCA_FRAME_HEADER_LEN) == 0);
    CHECK(arca_frame_header_decode(again, &h2) == ARCA_OK);
    CHECK(memcmp(&h, &h2, sizeof(h)) == 0);
}

static void fuzz_start(const uint8_t *data, size_t len)
{
    size_t strbuf_len = len + 4;
    char *strbuf = malloc(strbuf_len);
    char *strbuf2 = malloc(strbuf_len);
    CHECK(strbuf != NULL && strbuf2 != NULL);
    arca_cursor c;
    arca_cursor_init(&c, data, len);
    arca_start_params p, p2;
    arca_status st = arca_start_params_decode(&c, &p, strbuf, strbuf_len);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE);
        CHECK(arca_cursor_remaining(&c) == len);
        goto out;
    }
    CHECK(arca_cursor_remaining(&c) == 0);
    arca_builder b;
    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_start_params_encode(&p, &b) == ARCA_OK);
    uint8_t *enc;
    size_t enc_len;
    CHECK(arca_builder_finish(&b, &enc, &enc_len) == ARCA_OK);
    CHECK(enc_len == len && memcmp(enc, data, len) == 0);
    arca_cursor_init(&c, enc, enc_len);
    CHECK(arca_start_params_decode(&c, &p2, strbuf2, strbuf_len) == ARCA_OK);
    CHECK(strcmp(p.sealing_mode, p2.sealing_mode) == 0);
    CHECK(strcmp(p.state_dir, p2.state_dir) == 0);
    CHECK(p.image_sig_len == p2.image_sig_len);
    CHECK(p.image_sig_len == 0 || memcmp(p.image_sig, p2.image_sig, p.image_sig_len) == 0);
    CHECK(p.cache_bytes == p2.cache_bytes && p.max_connections == p2.max_connections);
    CHECK(p.initialise_platform == p2.initialise_platform);
    free(enc);
out:
    free(strbuf);
    free(strbuf2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < ARCA_FRAME_HEADER_LEN) return 0;
    fuzz_header(data);
    fuzz_start(data + ARCA_FRAME_HEADER_LEN, len - ARCA_FRAME_HEADER_LEN);
    return 0;
}
