/* Client connections inside arca-enclave: one worker thread per
 * connection, each with its own arca_kms_session. Every connection is
 * TLS 1.3 with a client certificate, terminated here (tls_server.h; arcad
 * relays ciphertext only), then a sequence of KMIP Request Messages, each
 * answered with one Response Message (arca_kmip_handle_ctx; the vendor
 * operation Arca Call carries Arca's local protocol). Framing is checked
 * before anything is allocated: an 8-byte TTLV header with tag Request
 * Message and type Structure, a length up to ARCA_KMIP_WIRE_MAX; anything
 * else gets a KMIP error response and the connection is closed. Request
 * and response buffers live in secret memory and are wiped after use. A
 * closed connection frees its session (and with it the session's
 * objects). docs/protocol.md, "Transport". */
#ifndef ARCA_ENCLAVE_CONNECTION_H
#define ARCA_ENCLAVE_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/status.h"
#include "request.h"

typedef struct arca_conn_mgr arca_conn_mgr;

/* Called on the connection's worker thread when it has finished with a
 * connection (its fd is closed, its session freed), before the manager
 * stops counting it as active. Must not call back into the manager. */
typedef void (*arca_conn_closed_fn)(void *close_ctx, uint64_t conn_id);

/* ctx is copied (its pointers are borrowed and must outlive the manager).
 * max_connections 0 = 64. on_close may be NULL; close_ctx is borrowed and
 * must outlive the manager (arca_conn_mgr_free waits for every worker,
 * including its on_close call). */
ARCA_MUST_CHECK arca_status arca_conn_mgr_new(const arca_request_ctx *ctx, uint32_t max_connections,
                                              arca_conn_closed_fn on_close, void *close_ctx, arca_conn_mgr **out);
/* Ends every connection (shutdown of the client fds), waits for the
 * workers, frees. NULL is a no-op. */
void arca_conn_mgr_free(arca_conn_mgr *m);

/* Serve a client fd on a new worker thread; the manager owns fd on
 * ARCA_OK. ARCA_ERR_BUSY when max_connections are active,
 * ARCA_ERR_NOT_INITIALISED after arca_conn_mgr_stop. */
ARCA_MUST_CHECK arca_status arca_conn_mgr_add(arca_conn_mgr *m, uint64_t conn_id, int fd);
/* Refuse new connections and end the current ones (they see their
 * socket shut down). Does not wait. */
void arca_conn_mgr_stop(arca_conn_mgr *m);
size_t arca_conn_mgr_active(arca_conn_mgr *m);

/* Serve one connection on the calling thread: TLS handshake (within
 * ARCA_TLS_HANDSHAKE_TIMEOUT_MS; refusals are logged, and audited where
 * tls_server.h says), then messages until the client closes, a message is
 * malformed or truncated, a started message stalls for
 * ARCA_TLS_MESSAGE_TIMEOUT_MS, or the socket is shut down. Idle time
 * between messages is not limited. Frees the session. fd is not closed
 * (it is left non-blocking). ctx->tls NULL: the connection is refused.
 * (The worker body, exposed for tests.) */
void arca_conn_serve(const arca_request_ctx *ctx, uint64_t conn_id, int fd);

#endif
