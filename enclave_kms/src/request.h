/* The request dispatcher: one local-protocol request (docs/protocol.md) in,
 * one response out, by calling the matching arca_kms_* function.
 *
 * All authentication and authorisation is arca_kms's: the dispatcher adds
 * none and bypasses none, and has no debug-only entry points. It only
 * decodes, converts and encodes. */
#ifndef ARCA_ENCLAVE_REQUEST_H
#define ARCA_ENCLAVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/kms.h"
#include "arca/sealing.h"
#include "arca/status.h"

/* What the STATUS op reports besides the keystore's counters. Borrowed. */
typedef struct arca_request_ctx {
    arca_kms *kms;
    const char *sealing_mode; /* "dev", "tpm" */
    bool sealing_insecure;
    const arca_enclave_identity *identity; /* may be NULL */
    /* The TLS server that client connections are terminated with
     * (tls_server.h; connection.c). NULL: arca_conn_serve refuses every
     * connection. Not used by arca_request_handle. */
    struct arca_tls_server *tls;
} arca_request_ctx;

/* Handle one request payload and write the response payload into resp (an
 * empty secret builder with max_len ARCA_LP_FRAME_MAX: responses may carry
 * key bytes or plaintext; it may be re-initialised when a result cannot be
 * encoded and becomes an error response).
 * Returns ARCA_OK when a response was produced for a well-formed request
 * (whatever the operation's own outcome, which is in the response), or the
 * decode status for a malformed request: then resp holds an error response
 * and the caller sends it and closes the connection. ARCA_ERR_NOMEM when
 * not even an error response could be built: close without answering. */
ARCA_MUST_CHECK arca_status arca_request_handle(const arca_request_ctx *ctx, arca_kms_session *sess,
                                                const uint8_t *req, size_t req_len, arca_builder *resp);

#endif
