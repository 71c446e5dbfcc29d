/* libarca-client internals: the KMIP envelope of an Arca Call. Not part
 * of the public API; declared here so that tests/unit/test_client.c can
 * drive the codec with hand-made messages. */
#ifndef ARCA_CLIENT_WIRE_H
#define ARCA_CLIENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/kmip.h"
#include "arca/status.h"

/* Append to b a KMIP Request Message (protocol 2.0, batch count 1) with
 * one Arca Call whose payload is the local-protocol request lp[0..lp_len).
 * ARCA_ERR_TOO_LARGE past b's cap. */
ARCA_MUST_CHECK arca_status arca_client_wire_wrap(arca_builder *b, const uint8_t *lp, size_t lp_len);

/* The total length of the KMIP message whose first 8 bytes are hdr:
 * ARCA_ERR_TOO_LARGE over ARCA_CLIENT_RESPONSE_MAX (checked before the
 * caller allocates), ARCA_ERR_DECODE when it is not a Response Message
 * header (tag 0x42007B, Structure). */
ARCA_MUST_CHECK arca_status arca_client_wire_response_len(const uint8_t hdr[8], size_t *out_len);

/* Unwrap a KMIP Response Message msg[0..len): *out_lp / *out_lp_len
 * borrow the local-protocol response from msg. ARCA_ERR_DECODE for a
 * malformed message (not TTLV, not a Response Message, no header, batch
 * count other than 1, not exactly one Batch Item, an Operation other than
 * Arca Call, an unknown Result Status, a payload other than one Arca
 * Response Byte String); ARCA_ERR_TOO_LARGE (message "") when the
 * message is over the TTLV decoder's caps (size, depth, item count). For
 * Result Status Operation Failed, the status
 * its Result Reason maps to (Invalid Message / Invalid Field / Codec Error
 * -> ARCA_ERR_DECODE, Permission Denied / Authentication Not Successful
 * -> ARCA_ERR_PERMISSION, Item Not Found -> ARCA_ERR_NOT_FOUND, Response
 * Too Large -> ARCA_ERR_TOO_LARGE, Operation / Feature Not Supported and
 * Unsupported Protocol Version -> ARCA_ERR_UNSUPPORTED, Server Limit
 * Exceeded -> ARCA_ERR_BUSY, Cryptographic Failure -> ARCA_ERR_CRYPTO,
 * anything else -> ARCA_ERR_INTERNAL) and message (msg_len > 0) set to
 * "<Result Reason name>: <Result Message>" (never empty); for a malformed
 * message and on success message is "". */
ARCA_MUST_CHECK arca_status arca_client_wire_unwrap(const uint8_t *msg, size_t len, const uint8_t **out_lp,
                                                    size_t *out_lp_len, char *message, size_t msg_len);

#endif
