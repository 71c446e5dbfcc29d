/* libFuzzer target: arca_start_params_decode (channel.h), the payload of
 * ECALL_START, the first thing the enclave decodes from the host.
 *
 * Input: the payload. Whatever decodes must re-encode to exactly the input
 * bytes (the encoding is canonical), and decoding that again must give the
 * same values. A failed decode must leave the cursor where it was.
 * (fuzz/channel_frame.c also reaches this decoder behind a frame header;
 * this target gives it its own corpus.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/channel.h"
#include "fuzz_check.h"

static bool same_params(const arca_start_params *a, const arca_start_params *b)
{
    return strcmp(a->sealing_mode, b->sealing_mode) == 0 && strcmp(a->state_dir, b->state_dir) == 0 &&
           a->image_sig_len == b->image_sig_len &&
           (a->image_sig_len == 0 || memcmp(a->image_sig, b->image_sig, a->image_sig_len) == 0) &&
           a->cache_bytes == b->cache_bytes && a->max_connections == b->max_connections &&
           a->initialise_platform == b->initialise_platform;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    /* Exactly the documented minimum, so an overrun of strbuf is seen. */
    size_t strbuf_len = len + 4;
    char *strbuf = malloc(strbuf_len), *strbuf2 = malloc(strbuf_len);
    uint8_t *enc = NULL;
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
    CHECK(p.sealing_mode != NULL && p.state_dir != NULL);
    CHECK(p.image_sig_len == 0 || p.image_sig != NULL);

    arca_builder b;
    size_t enc_len = 0;
    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_start_params_encode(&p, &b) == ARCA_OK);
    CHECK(arca_builder_finish(&b, &enc, &enc_len) == ARCA_OK);
    CHECK(enc_len == len && memcmp(enc, data, len) == 0);
    arca_cursor_init(&c, enc, enc_len);
    CHECK(arca_start_params_decode(&c, &p2, strbuf2, strbuf_len) == ARCA_OK);
    CHECK(same_params(&p, &p2));
out:
    free(enc);
    free(strbuf);
    free(strbuf2);
    return 0;
}
