/* The enclave's end of the host channel (docs/channel.md): reads frames
 * from arcad, checks each against a permission table (frame type x
 * direction x state), hands permitted ECALLs to handlers, matches OCALL
 * replies to waiting callers, and provides the OCALL store proxy.
 *
 * Everything arriving here is hostile: a frame of unknown type, over its
 * cap, or not permitted in the current state is refused with an error
 * reply (where the channel's vocabulary can express one) and a log line,
 * never a crash. A header that cannot be decoded means the stream is
 * desynchronised: the reader returns ARCA_ERR_CHANNEL and the enclave
 * exits (arcad restarts it). */
#ifndef ARCA_ENCLAVE_HOST_CHANNEL_H
#define ARCA_ENCLAVE_HOST_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/channel.h"
#include "arca/status.h"
#include "arca/store_api.h"

typedef enum arca_hc_state {
    ARCA_HC_STARTING = 0, /* only ARCA_ECALL_START */
    ARCA_HC_OPENING,      /* START accepted, keystore opening: OCALL replies only */
    ARCA_HC_READY,        /* CONNECTION, SHUTDOWN, STATUS, OCALL replies */
    ARCA_HC_STOPPING,     /* OCALL replies only */
} arca_hc_state;

const char *arca_hc_state_name(arca_hc_state s);

#define ARCA_HC_PEER_MAX 256u
/* How long an OCALL waits for its reply. */
#define ARCA_HC_OCALL_TIMEOUT_MS 120000

typedef struct arca_hc_handlers {
    void *ctx;
    /* START (state is already OPENING). payload is borrowed. ARCA_OK means
     * start-up is under way and the handler will call
     * arca_host_channel_start_done() later (from any thread); any other
     * status is replied at once and the state goes back to STARTING. */
    arca_status (*on_start)(void *ctx, uint32_t request_id, const uint8_t *payload, size_t len);
    /* A client connection. On ARCA_OK the handler owns fd; otherwise the
     * channel closes it. */
    arca_status (*on_connection)(void *ctx, uint64_t conn_id, const char *peer, int fd);
    /* SHUTDOWN accepted (state is STOPPING): end client connections. */
    void (*on_shutdown)(void *ctx);
    /* True once the enclave may exit after SHUTDOWN (no OCALL can still be
     * needed). */
    bool (*can_stop)(void *ctx);
    /* STATUS: status text ("key: value" lines), nothing secret. */
    arca_status (*on_status)(void *ctx, arca_builder *out);
} arca_hc_handlers;

typedef struct arca_host_channel arca_host_channel;

/* fd is borrowed (the caller closes it after free). handlers are copied;
 * any of them may be NULL (the frame is then refused with
 * ARCA_ERR_UNSUPPORTED). */
ARCA_MUST_CHECK arca_status arca_host_channel_new(int fd, const arca_hc_handlers *handlers,
                                                  arca_host_channel **out);
void arca_host_channel_free(arca_host_channel *hc);
arca_hc_state arca_host_channel_state(arca_host_channel *hc);

/* Handle one frame whose header has been decoded with status hdr_st
 * (ARCA_OK, ARCA_ERR_FRAME_TYPE or ARCA_ERR_FRAME_SIZE; for the latter two
 * the payload has been skipped and payload is NULL). pass_fd is a received
 * descriptor or -1; it is consumed in every case. Returns ARCA_OK if the
 * frame was accepted, else why it was refused: ARCA_ERR_FRAME_TYPE,
 * ARCA_ERR_FRAME_SIZE, ARCA_ERR_FRAME_STATE, ARCA_ERR_DECODE (malformed
 * payload), ARCA_ERR_UNSUPPORTED (no handler), or a handler's status. */
ARCA_MUST_CHECK arca_status arca_host_channel_process(arca_host_channel *hc, const arca_frame_header *h,
                                                      arca_status hdr_st, const uint8_t *payload, size_t len,
                                                      int pass_fd);

/* The same from raw bytes (header || payload), for tests and fuzzing.
 * ARCA_ERR_DECODE for fewer than 12 bytes, an undecodable header, or a
 * payload whose length differs from the header's. */
ARCA_MUST_CHECK arca_status arca_host_channel_dispatch_bytes(arca_host_channel *hc, const uint8_t *buf,
                                                             size_t len, int pass_fd);

/* Read and process frames until SHUTDOWN has completed (ARCA_OK), start-up
 * ended the enclave (the status given to start_done / stop), the channel
 * closed (ARCA_ERR_CHANNEL) or desynchronised (ARCA_ERR_CHANNEL). */
ARCA_MUST_CHECK arca_status arca_host_channel_run(arca_host_channel *hc);

/* Send the START reply. ARCA_OK: state READY. Otherwise, or when
 * `then_stop` (platform initialisation), the reader stops and run() returns
 * exit_status. */
void arca_host_channel_start_done(arca_host_channel *hc, uint32_t request_id, arca_status st, bool then_stop,
                                  arca_status exit_status);

/* Send a reply frame: payload = u32 status || body. Thread-safe. */
ARCA_MUST_CHECK arca_status arca_host_channel_reply(arca_host_channel *hc, uint16_t type, uint32_t request_id,
                                                    arca_status st, const uint8_t *body, size_t body_len);

/* An OCALL: send a request with a fresh id and wait for its reply.
 * Thread-safe. On ARCA_OK, *out_status is the host's status (unchecked)
 * and *out_body (malloc'd, may be NULL) the rest of the reply.
 * ARCA_ERR_CHANNEL when the channel broke, ARCA_ERR_TIMEOUT. */
ARCA_MUST_CHECK arca_status arca_host_channel_call(arca_host_channel *hc, uint16_t type, const uint8_t *req,
                                                   size_t req_len, uint32_t *out_status, uint8_t **out_body,
                                                   size_t *out_body_len);

/* Tell arcad that connection conn_id is finished (ARCA_OCALL_CONN_CLOSED,
 * a notification: arcad sends no reply, so nothing waits). Thread-safe.
 * ARCA_ERR_CHANNEL when the channel is broken or the send fails (the
 * enclave is going away; arcad forgets all counts when it restarts it). */
ARCA_MUST_CHECK arca_status arca_host_channel_notify_closed(arca_host_channel *hc, uint64_t conn_id);
/* The same as an arca_conn_closed_fn (connection.h) with ctx = the
 * channel: failures are logged at DEBUG and otherwise ignored. */
void arca_host_channel_on_conn_closed(void *hc, uint64_t conn_id);

/* The OCALL store proxy: arca_store_ops whose calls go over this channel.
 * Replies are decoded with the store codec; a host status other than
 * ARCA_OK (and ARCA_ERR_NOT_FOUND for get) becomes ARCA_ERR_STORE. */
void arca_host_channel_store_ops(arca_host_channel *hc, arca_store_ops *out);

#endif
