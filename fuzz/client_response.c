/* libFuzzer target: libarca-client's response unwrapping
 * (client/src/client_wire.h), what a client does with every byte a server
 * — or whoever sits on the path to it — sends back:
 *
 *   arca_client_wire_response_len on the first 8 bytes, then
 *   arca_client_wire_unwrap on the whole input.
 *
 * Checks (the header's promises):
 *   - response_len: ARCA_OK only for a Response Message / Structure header,
 *     and then the length is 8 + the header's length field and at most
 *     ARCA_CLIENT_RESPONSE_MAX; otherwise ARCA_ERR_DECODE or
 *     ARCA_ERR_TOO_LARGE, nothing else.
 *   - unwrap: ARCA_OK borrows the local-protocol response from the input
 *     (the pointer lies inside it; every byte is read, so ASan sees a
 *     dangling one) and leaves the message ""; ARCA_ERR_DECODE either for
 *     a malformed message (message "") or for Result Reason Invalid
 *     Message / Invalid Field / Codec Error (message "Reason: ..."); the
 *     other Result Reason statuses (PERMISSION, NOT_FOUND, TOO_LARGE,
 *     UNSUPPORTED, BUSY, CRYPTO, INTERNAL) always carry a non-empty
 *     message. ARCA_ERR_TOO_LARGE with an empty message is the TTLV
 *     decoder's caps (size, depth, item count: ttlv.h), which the header
 *     counts as malformed; nothing else is allowed.
 *   - The message is always NUL-terminated within its buffer, also when
 *     the buffer is tiny (a 1- and a 6-byte buffer are tried), and the
 *     status does not depend on the buffer size.
 *   - Unwrapping is deterministic: a second call gives the same status and
 *     the same borrowed span. */
#include <stdint.h>
#include <string.h>

#include "arca/client.h"
#include "arca/kmip.h"
#include "arca/status.h"
#include "arca/ttlv.h"
#include "client_wire.h"
#include "fuzz_check.h"

static int is_reason_status(arca_status st)
{
    switch (st) {
    case ARCA_ERR_DECODE:
    case ARCA_ERR_PERMISSION:
    case ARCA_ERR_NOT_FOUND:
    case ARCA_ERR_TOO_LARGE:
    case ARCA_ERR_UNSUPPORTED:
    case ARCA_ERR_BUSY:
    case ARCA_ERR_CRYPTO:
    case ARCA_ERR_INTERNAL:
        return 1;
    default:
        return 0;
    }
}

static void check_len(const uint8_t *data, size_t size)
{
    uint8_t hdr[8];
    size_t total = 0;
    if (size < 8) return;
    memcpy(hdr, data, 8);
    arca_status st = arca_client_wire_response_len(hdr, &total);
    uint32_t tag_type = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    uint32_t len = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];
    if (st == ARCA_OK) {
        CHECK(tag_type == ((uint32_t)ARCA_KMIP_TAG_RESPONSE_MESSAGE << 8 | ARCA_TTLV_STRUCTURE));
        CHECK(total == (size_t)len + 8);
        CHECK(total <= ARCA_CLIENT_RESPONSE_MAX);
    } else {
        CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_TOO_LARGE);
        if (st == ARCA_ERR_TOO_LARGE) CHECK((size_t)len + 8 > ARCA_CLIENT_RESPONSE_MAX);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *lp = NULL, *lp2 = NULL;
    size_t lp_len = 0, lp2_len = 0;
    char msg[512], tiny[1], small[6];

    check_len(data, size);

    memset(msg, 'x', sizeof(msg));
    arca_status st = arca_client_wire_unwrap(data, size, &lp, &lp_len, msg, sizeof(msg));
    CHECK(memchr(msg, 0, sizeof(msg)) != NULL);
    if (st == ARCA_OK) {
        CHECK(msg[0] == 0);
        CHECK(lp != NULL && lp >= data && lp_len <= size && (size_t)(lp - data) <= size - lp_len);
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < lp_len; i++) sink ^= lp[i];
        (void)sink;
    } else if (st == ARCA_ERR_DECODE) {
        /* malformed ("") or an Invalid Message / Invalid Field / Codec Error reason */
    } else if (st == ARCA_ERR_TOO_LARGE && msg[0] == 0) {
        /* the TTLV decoder's caps */
    } else {
        CHECK(is_reason_status(st));
        CHECK(msg[0] != 0);
    }

    /* Same answer, same span, whatever the message buffer. */
    memset(tiny, 'x', sizeof(tiny));
    CHECK(arca_client_wire_unwrap(data, size, &lp2, &lp2_len, tiny, sizeof(tiny)) == st);
    CHECK(tiny[0] == 0);
    memset(small, 'x', sizeof(small));
    CHECK(arca_client_wire_unwrap(data, size, &lp2, &lp2_len, small, sizeof(small)) == st);
    CHECK(memchr(small, 0, sizeof(small)) != NULL);
    CHECK(strncmp(small, msg, sizeof(small) - 1) == 0);
    if (st == ARCA_OK) CHECK(lp2 == lp && lp2_len == lp_len);
    return 0;
}
