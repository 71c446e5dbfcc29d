/* TLS termination inside arca-enclave (docs/protocol.md, "Transport").
 *
 * One server context per enclave, made at start-up before the seccomp
 * filter: an EC P-256 key generated here (its bignums live in secret
 * memory, where every OpenSSL allocation of the enclave goes) and a
 * self-signed RA-TLS certificate for it carrying the enclave's evidence
 * (arca_ratls_cert_create). With arca_tls_server_new the key is
 * ephemeral; arca-enclave uses arca_tls_server_new_persistent: the key is
 * sealed in the keystore (never leaves the enclave in the clear) and an
 * operator-issued chain (TLS_CSR / TLS_CERT_INSTALL) replaces the
 * self-signed certificate, also across restarts.
 *
 * TLS 1.3 only, mutual: a client without a certificate fails the handshake
 * (and the refusal is audited); a client certificate is judged by the
 * keystore (arca_kms_session_set_peer: client CA, registered identity),
 * not by OpenSSL's verifier. No session tickets, no resumption: every
 * connection presents its certificate. After the handshake the session's
 * channel binding is the exporter "EXPORTER-arca-attestation" (32 bytes).
 *
 * I/O is non-blocking underneath with poll deadlines, so a silent client
 * cannot hold a worker during the handshake or in the middle of a message;
 * between messages a connection may idle (clients pool connections). */
#ifndef ARCA_ENCLAVE_TLS_SERVER_H
#define ARCA_ENCLAVE_TLS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/kms.h"
#include "arca/sealing.h"
#include "arca/status.h"

#define ARCA_TLS_SERVER_CN "arca-enclave"
#define ARCA_TLS_CERT_VALIDITY_SECS (366u * 24u * 3600u)
#define ARCA_TLS_HANDSHAKE_TIMEOUT_MS 10000
#define ARCA_TLS_MESSAGE_TIMEOUT_MS 30000 /* the rest of a message once it has begun */
#define ARCA_TLS_EXPORTER_LABEL "EXPORTER-arca-attestation"
#define ARCA_TLS_EXPORTER_LEN 32u
#define ARCA_TLS_MAX_CHAIN 8u /* intermediates a client may send */

typedef struct arca_tls_server arca_tls_server;
typedef struct arca_tls_conn arca_tls_conn;

/* Generate the TLS key and the RA-TLS certificate (evidence from sealing,
 * borrowed for the call only) and set up the server context.
 * *out set only on success; free with arca_tls_server_free. Errors: the
 * status of arca_ratls_cert_create; ARCA_ERR_CRYPTO when OpenSSL fails;
 * ARCA_ERR_ARGS for NULL. */
ARCA_MUST_CHECK arca_status arca_tls_server_new(arca_sealing *sealing, arca_tls_server **out);
/* The same with the persistent key (arca_kms_tls_key: loaded, or made and
 * sealed on first start) and, when the keystore holds an operator chain
 * for it (arca_kms_tls_cert_chain), that chain instead of the self-signed
 * RA-TLS certificate (an unusable stored chain is logged and the
 * self-signed one used). sealing must outlive t (CSRs take fresh
 * evidence). Errors: as arca_tls_server_new, arca_kms_tls_key's;
 * ARCA_ERR_INTEGRITY when the sealed key does not parse. */
ARCA_MUST_CHECK arca_status arca_tls_server_new_persistent(arca_sealing *sealing, arca_kms *kms,
                                                           arca_tls_server **out);
/* TLS_CSR: admin login (arca_kms_tls_admin: ARCA_ERR_PERMISSION). Appends
 * a PKCS#10 request (DER) for the TLS key, subject CN = cn (1..
 * ARCA_TLS_CN_MAX printable ASCII, ARCA_ERR_ARGS), carrying the RA-TLS
 * evidence extension (ARCA_RATLS_OID; claims over this key's SPKI, fresh
 * evidence) as a requested extension, signed by the key (SHA-256).
 * arca_ratls_cert_create's errors; ARCA_ERR_CRYPTO. */
ARCA_MUST_CHECK arca_status arca_tls_server_csr(arca_tls_server *t, arca_kms *kms, arca_kms_session *sess,
                                                const char *cn, arca_builder *out);
/* TLS_CERT_INSTALL: admin login (ARCA_ERR_PERMISSION). chain = DER
 * certificates concatenated, leaf first (at most ARCA_TLS_MAX_CHAIN after
 * the leaf). Refusals, with msg (msg_len > 0, NUL-terminated) saying why:
 *   ARCA_ERR_TOO_LARGE  over ARCA_TLS_CHAIN_MAX bytes or too many certificates
 *   ARCA_ERR_DECODE     not a sequence of DER certificates (empty too)
 *   ARCA_ERR_ARGS       the leaf's public key is not the TLS key
 *   the status of arca_ratls_cert_verify (permissive policy: dev and debug
 *   evidence allowed) for the leaf, e.g. ARCA_ERR_NOT_FOUND without the
 *   evidence extension
 * Then seals it (arca_kms_tls_cert_store: one commit with its audit
 * record) and swaps the server's context: new connections get the chain,
 * running ones keep theirs. */
ARCA_MUST_CHECK arca_status arca_tls_server_install_chain(arca_tls_server *t, arca_kms *kms, arca_kms_session *sess,
                                                          const uint8_t *chain, size_t len, char *msg,
                                                          size_t msg_len);
/* Frees the context and the key (wiped, it is in secret memory). Live
 * connections must be freed first. NULL is a no-op. */
void arca_tls_server_free(arca_tls_server *t);
/* The current server leaf certificate (DER), borrowed from t (valid
 * until arca_tls_server_free, also after an install). */
const uint8_t *arca_tls_server_cert_der(arca_tls_server *t, size_t *out_len);

/* Handshake on fd (borrowed; set non-blocking here) within timeout_ms for
 * the client whose keystore session is sess (borrowed; its peer identity
 * and channel binding are set here). peer names the client in logs and
 * audit records. *out set only on success; free with arca_tls_conn_free.
 * Errors:
 *   ARCA_ERR_PERMISSION   the client sent no certificate (audited through
 *                         arca_kms_audit_refusal "no client certificate")
 *   the status of arca_kms_session_set_peer (ARCA_ERR_DECODE,
 *   ARCA_ERR_CERT_UNTRUSTED, ARCA_ERR_IDENTITY_UNKNOWN...) when the keystore
 *                         refused the certificate (it audits that itself)
 *   ARCA_ERR_TIMEOUT      the handshake did not finish in time
 *   ARCA_ERR_CHANNEL      the client closed the connection
 *   ARCA_ERR_CRYPTO       any other handshake failure (not TLS 1.3, no
 *                         common cipher, garbage...)
 *   ARCA_ERR_ARGS, ARCA_ERR_NOMEM, ARCA_ERR_IO */
ARCA_MUST_CHECK arca_status arca_tls_accept(arca_tls_server *t, arca_kms *kms, arca_kms_session *sess, int fd,
                                            const char *peer, int timeout_ms, arca_tls_conn **out);

/* Read exactly len bytes. idle_first: wait for the first byte without a
 * limit (between messages), then the rest within timeout_ms; otherwise all
 * within timeout_ms. Errors: ARCA_ERR_CHANNEL when the client closed
 * (close_notify or EOF) before the first byte, ARCA_ERR_DECODE when it
 * closed after some but not all bytes (truncated), ARCA_ERR_TIMEOUT,
 * ARCA_ERR_IO (a TLS or socket error). */
ARCA_MUST_CHECK arca_status arca_tls_read(arca_tls_conn *c, uint8_t *buf, size_t len, bool idle_first,
                                          int timeout_ms);
/* Write all of buf within timeout_ms. ARCA_ERR_TIMEOUT, ARCA_ERR_IO. */
ARCA_MUST_CHECK arca_status arca_tls_write(arca_tls_conn *c, const uint8_t *buf, size_t len, int timeout_ms);
/* The session's exporter value (ARCA_TLS_EXPORTER_LEN bytes). */
void arca_tls_conn_exporter(const arca_tls_conn *c, uint8_t out[ARCA_TLS_EXPORTER_LEN]);
/* Send close_notify (best effort, without waiting long) and free. The fd
 * is not closed. NULL is a no-op. */
void arca_tls_conn_free(arca_tls_conn *c);

#endif
