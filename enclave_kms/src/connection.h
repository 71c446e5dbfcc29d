/* Client connections inside arca-enclave: one worker thread per
 * connection, each with its own arca_kms_session, reading local-protocol
 * requests straight from the client's fd (arcad never sees them),
 * answering through the request dispatcher. Request and response buffers
 * live in secret memory and are wiped after use. A malformed request gets
 * an error response, then the connection is closed; a closed connection
 * frees its session (and with it the session's objects). */
#ifndef ARCA_ENCLAVE_CONNECTION_H
#define ARCA_ENCLAVE_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/status.h"
#include "request.h"

typedef struct arca_conn_mgr arca_conn_mgr;

/* ctx is copied (its pointers are borrowed and must outlive the manager).
 * max_connections 0 = 64. */
ARCA_MUST_CHECK arca_status arca_conn_mgr_new(const arca_request_ctx *ctx, uint32_t max_connections,
                                              arca_conn_mgr **out);
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

/* Serve one connection on the calling thread until the client closes or
 * sends a malformed request; frees the session. fd is not closed. (The
 * worker body, exposed for tests.) */
void arca_conn_serve(const arca_request_ctx *ctx, uint64_t conn_id, int fd);

#endif
