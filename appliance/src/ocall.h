/* arcad's side of the host channel: serving the enclave's OCALLs on the
 * store, and making ECALLs that wait for their reply.
 *
 * Everything the enclave sends is parsed with the channel and store codecs;
 * a malformed frame is reported to the caller, which then treats the
 * enclave as broken (kill and restart). */
#ifndef ARCA_APPLIANCE_OCALL_H
#define ARCA_APPLIANCE_OCALL_H

#include <stddef.h>
#include <stdint.h>

#include "arca/channel.h"
#include "arca/status.h"
#include "arca/store_api.h"

/* Serve one OCALL request frame (hdr, payload as received) on store and
 * send the reply on chan_fd (flags ARCA_FRAME_REPLY, same request id,
 * payload u32 status || body). Store failures (NOT_FOUND, STORE, ARGS,
 * TOO_LARGE for a reply over its cap) go into the reply and return
 * ARCA_OK. Returns ARCA_ERR_FRAME_TYPE (not an OCALL request),
 * ARCA_ERR_DECODE (malformed payload) — the enclave is broken — or
 * ARCA_ERR_CHANNEL if the reply could not be sent. */
ARCA_MUST_CHECK arca_status arca_ocall_serve(const arca_store_ops *store, int chan_fd, const arca_frame_header *hdr,
                                             const uint8_t *payload);

/* Send ECALL `type` with request id req_id and wait up to timeout_ms for
 * its reply, serving OCALLs meanwhile; replies to other request ids are
 * logged and dropped. *out_status is the enclave's status; *out_body
 * (may be NULL if not wanted) is the malloc'd rest of the reply (NULL when
 * empty). Returns ARCA_ERR_TIMEOUT, ARCA_ERR_CHANNEL (enclave gone), or a
 * frame/decode error (enclave broken). */
ARCA_MUST_CHECK arca_status arca_ocall_ecall(const arca_store_ops *store, int chan_fd, uint16_t type,
                                             uint32_t req_id, const uint8_t *payload, size_t payload_len,
                                             int timeout_ms, arca_status *out_status, uint8_t **out_body,
                                             size_t *out_body_len);

/* Split a reply payload into its status and body (borrowed). ARCA_ERR_DECODE
 * when shorter than 4 bytes or the status is not a known arca_status. */
ARCA_MUST_CHECK arca_status arca_ocall_reply_split(const uint8_t *payload, size_t len, arca_status *out_status,
                                                   const uint8_t **out_body, size_t *out_body_len);

#endif
