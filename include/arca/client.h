/* libarca-client: Arca's own client library (docs/client.md).
 *
 * Wire: TLS 1.3, mutual (the client certificate and key of the
 * configuration), to arca-enclave, which terminates TLS inside the
 * enclave, either through arcad's unix socket or over TCP (KMIP port
 * 5696). Every call is one KMIP Request Message (protocol 2.0, one batch
 * item) carrying the vendor operation "Arca Call", whose payload is one
 * local-protocol request (docs/protocol.md); the Response Message carries
 * the local-protocol response.
 *
 * Attestation. The server's certificate is an RA-TLS certificate
 * (arca/ratls.h). arca_client_open verifies its evidence against the
 * configuration's trust policy BEFORE any application byte is sent; a
 * mismatch closes the connection and fails with the verifier's status and
 * message. arca_client_attest asks for fresh evidence bound to a nonce and
 * to this TLS session (exporter "EXPORTER-arca-attestation").
 *
 * Sessions and threads. One arca_client is one TLS connection, hence one
 * enclave session: its login state and session objects are shared by every
 * thread that uses it. Calls are serialised by a mutex in the client, so a
 * client may be shared between threads, but they then wait for each other;
 * for parallelism open one client per thread, or use a connection pool
 * (arca_client_pool below: several connections, one caller each).
 *
 * Time-out and reconnection. Every call (connecting, the handshake and
 * the attestation check, a re-login and a retry included) completes or
 * fails within the configuration's timeout_ms. If the connection breaks,
 * the next call reconnects (verifying the server's evidence again) and, if
 * the client was logged in, logs in again with the credentials of the last
 * successful login (the client keeps that PIN in a buffer that is wiped on
 * logout, on a later login and at close). A call that fails because the
 * connection broke under it is retried once on a new connection only if
 * it is idempotent (find, get attribute, sign, verify, encrypt, decrypt,
 * random, status, attest, audit read / verify, partition list, identity
 * list, whoami); creations, destructions, rotations, logins and logouts are never
 * resent: their caller gets ARCA_ERR_IO / ARCA_ERR_CHANNEL /
 * ARCA_ERR_TIMEOUT and must find out whether they happened.
 *
 * Return values: ARCA_OK, or the enclave's status for the operation (then
 * arca_client_last_message() holds its short message), or a local
 * failure: ARCA_ERR_IO / ARCA_ERR_CHANNEL (connection lost),
 * ARCA_ERR_TIMEOUT, ARCA_ERR_DECODE / ARCA_ERR_TOO_LARGE (a malformed or
 * over-cap response), the attestation statuses of arca/ratls.h. Outputs
 * are set only on ARCA_OK; byte outputs are malloc'd and owned by the
 * caller (wipe before free when they are secret: arca_client_free_secret). */
#ifndef ARCA_CLIENT_H
#define ARCA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/local_proto.h"
#include "arca/ratls.h"
#include "arca/sealing.h"
#include "arca/status.h"

typedef struct arca_client arca_client;

typedef struct arca_client_id {
    uint8_t b[ARCA_LP_ID_LEN];
} arca_client_id;

#define ARCA_CLIENT_DEFAULT_TIMEOUT_MS 30000
#define ARCA_CLIENT_TIMEOUT_MAX_MS 3600000
#define ARCA_CLIENT_PATH_MAX 1024u /* address, cert and key, NUL included */
/* A message buffer of this size holds every message of this library. */
#define ARCA_CLIENT_MSG_LEN 512u
/* Responses are refused before anything is allocated for them when the
 * KMIP message is larger than this (plan: a local-protocol frame plus the
 * KMIP envelope). */
#define ARCA_CLIENT_RESPONSE_MAX (ARCA_LP_FRAME_MAX + 64u * 1024u)

/* ---- Configuration (docs/client.md) ------------------------------------ */

/* The client configuration file: `key = value` lines, `#` comments, blank
 * lines ignored, each key at most once:
 *   address = unix:/path/arcad.sock | HOST:PORT | [IPv6]:PORT   (required)
 *   cert = client certificate, PEM (required; may hold the chain)
 *   key = its private key, PEM (required)
 *   allow_dev_evidence = yes|no (default no)
 *   allow_debug = yes|no (default no)
 *   expected_signer = 64 hex digits (SHA-256 of the enclave signer's SPKI)
 *   expected_measurement = 64 hex digits (SHA-256 of the enclave image)
 *   min_svn = 0..65535 (default 0)
 *   timeout_ms = 1..ARCA_CLIENT_TIMEOUT_MAX_MS (default 30000)
 *   tpm_ak_ca = PEM file of the accepted TPM attestation-key CA(s): TPM
 *               evidence must carry an AK certificate from one of them for
 *               the key that signed the quote (default: not checked)
 * Relative cert, key, tpm_ak_ca and unix-socket paths are relative to the
 * directory of the configuration file. */
typedef struct arca_client_config {
    char address[ARCA_CLIENT_PATH_MAX]; /* "unix:/abs/path" or "host:port" */
    char cert[ARCA_CLIENT_PATH_MAX];
    char key[ARCA_CLIENT_PATH_MAX];
    bool allow_dev_evidence;
    bool allow_debug;
    bool has_expected_signer;
    uint8_t expected_signer[32];
    bool has_expected_measurement;
    uint8_t expected_measurement[32];
    uint16_t min_svn;
    int timeout_ms;
    char tpm_ak_ca[ARCA_CLIENT_PATH_MAX]; /* "" = AK certificates are not checked */
} arca_client_config;

/* The defaults: everything empty / no, timeout ARCA_CLIENT_DEFAULT_TIMEOUT_MS. */
void arca_client_config_init(arca_client_config *cfg);
/* Read the file at path into *out (initialised first; written even on
 * failure). ARCA_ERR_IO when the file cannot be opened or read ("PATH:
 * cannot open: <strerror>"); ARCA_ERR_CONFIG for everything wrong inside
 * it, with msg "PATH:LINE: <what>" (or "PATH: <what>" for a missing key):
 *   "unknown key 'K'", "duplicate key 'K' (first on line N)",
 *   "expected 'key = value'", "bad hex for K: expected 64 hex digits",
 *   "bad number for K: 'V'", "value out of range for K: V (allowed A..B)",
 *   "bad value for K: 'V' (expected yes or no)",
 *   "bad address: 'V' (expected unix:PATH or HOST:PORT)",
 *   "empty value for K", "value too long for K", "line too long",
 *   "K is required".
 * msg (msg_len > 0) is always NUL-terminated, "" on success. */
ARCA_MUST_CHECK arca_status arca_client_config_load(const char *path, arca_client_config *out, char *msg,
                                                    size_t msg_len);
/* arca_client_config_load of the file named by ARCA_CLIENT_CONF;
 * ARCA_ERR_CONFIG "ARCA_CLIENT_CONF is not set" when it is unset or empty. */
ARCA_MUST_CHECK arca_status arca_client_config_from_env(arca_client_config *out, char *msg, size_t msg_len);
/* The trust policy the configuration asks for. *out borrows from cfg
 * (expected signer / measurement point into it, NULL when not set). */
void arca_client_config_policy(const arca_client_config *cfg, arca_ratls_policy *out);

/* ---- Connection --------------------------------------------------------- */

/* Connect to cfg->address, do the TLS 1.3 handshake with cfg's
 * certificate and key, and verify the server certificate's evidence with
 * arca_ratls_cert_verify against arca_client_config_policy(cfg). cfg is
 * copied. On failure nothing is left open, *out is untouched and msg
 * (msg_len > 0) says why: ARCA_ERR_ARGS (no address / cert / key),
 * ARCA_ERR_CONFIG (bad address, unreadable or mismatched cert / key),
 * ARCA_ERR_IO (cannot connect; the message has strerror), ARCA_ERR_TIMEOUT,
 * ARCA_ERR_CRYPTO (handshake failed: the server refused us or is not TLS
 * 1.3), the arca_ratls_cert_verify status with its message (the evidence
 * does not satisfy the policy; nothing was sent). */
ARCA_MUST_CHECK arca_status arca_client_open(const arca_client_config *cfg, arca_client **out, char *msg,
                                             size_t msg_len);
/* Close the connection, wipe the remembered PIN and free. NULL is a no-op. */
void arca_client_close(arca_client *c);
/* The message for the last failed call on c ("" if none): the enclave's
 * message or a local one. Shared by c's threads: valid until c's next call. */
const char *arca_client_last_message(const arca_client *c);
/* What the server certificate's evidence said at the last (re)connection. */
void arca_client_server_claims(const arca_client *c, arca_evidence_claims *out);
/* Wipe and free a byte output. */
void arca_client_free_secret(uint8_t *p, size_t len);

/* ---- Connection pool ----------------------------------------------------- */

/* A pool of up to max connections to one appliance (one configuration),
 * each its own enclave session, opened lazily (none at _new: the first
 * acquire opens the first) and lent to one caller at a time. Thread-safe:
 * every function may be called from any thread; a lent arca_client is the
 * borrower's until it is released.
 *
 * Login: arca_client_pool_login checks the credentials with a LOGIN on one
 * connection, then remembers them (PIN in a buffer wiped at logout and
 * free) and applies them to every pooled connection: a connection opened
 * later, or idle since another login, is logged in (a connection still
 * carrying an older login is closed and replaced) before acquire returns
 * it. A wrong PIN is never remembered nor replayed. A borrower must not
 * call arca_client_login / _logout on a lent client (use the pool's).
 *
 * A released client marked broken is closed; its place is free for a new
 * connection, opened at a later acquire. The library itself reconnects a
 * pooled client whose connection broke, as for any client; `broken` is for
 * a client the borrower no longer trusts (e.g. an ARCA_ERR_TIMEOUT). */
typedef struct arca_client_pool arca_client_pool;

#define ARCA_CLIENT_POOL_MAX 256u

/* cfg is copied. ARCA_ERR_ARGS (no address / cert / key, max outside
 * 1..ARCA_CLIENT_POOL_MAX) with msg (msg_len > 0: always NUL-terminated,
 * "" on success); ARCA_ERR_NOMEM. Nothing is connected. */
ARCA_MUST_CHECK arca_status arca_client_pool_new(const arca_client_config *cfg, size_t max, arca_client_pool **out,
                                                 char *msg, size_t msg_len);
/* Close every connection (also ones not released: the caller must not use
 * them afterwards), wipe the credentials, free. NULL is a no-op. */
void arca_client_pool_free(arca_client_pool *p);
/* Lend a connection: an idle one, else a new one while fewer than max are
 * open, else wait up to timeout_ms for a release (< 0: no limit, 0: do
 * not wait). ARCA_ERR_TIMEOUT "no pooled connection free within N ms";
 * the arca_client_open status and message when a new connection cannot be
 * opened; the LOGIN status and the enclave's message when the remembered
 * credentials are refused (the connection is closed, the credentials are
 * kept). Opening and logging in are bounded by the configuration's
 * timeout_ms (beyond timeout_ms). *out is set only on ARCA_OK. */
ARCA_MUST_CHECK arca_status arca_client_pool_acquire(arca_client_pool *p, int timeout_ms, arca_client **out,
                                                     char *msg, size_t msg_len);
/* Give a lent client back (broken: close it). ARCA_ERR_ARGS when c is not
 * a client lent by p (nothing changes). */
ARCA_MUST_CHECK arca_status arca_client_pool_release(arca_client_pool *p, arca_client *c, bool broken);
/* Log in (arguments as arca_client_login) on one pooled connection and, on
 * success, remember the credentials for every pooled connection (replacing
 * earlier ones). On failure: the LOGIN status and msg = the enclave's
 * message, earlier credentials kept; ARCA_ERR_TOO_LARGE for a PIN or
 * partition over the protocol's caps; the acquire failures (waits up to
 * the configuration's timeout_ms for a connection). */
ARCA_MUST_CHECK arca_status arca_client_pool_login(arca_client_pool *p, const char *partition, int role,
                                                   const char *pin, char *msg, size_t msg_len);
/* Forget (wipe) the credentials: idle logged-in connections are closed at
 * once, lent ones when next acquired (a new, logged-out connection takes
 * their place). */
void arca_client_pool_logout(arca_client_pool *p);
/* How many connections are open and how many are lent now (tests,
 * monitoring). Either output may be NULL. */
void arca_client_pool_stats(arca_client_pool *p, size_t *out_open, size_t *out_lent);

/* ---- Domain, identities, sessions --------------------------------------- */

/* Role values as the enclave's arca_role. */
#define ARCA_CLIENT_ROLE_ADMIN 1
#define ARCA_CLIENT_ROLE_SO 2
#define ARCA_CLIENT_ROLE_USER 3

/* Identity roles (bitmask) and limits, as the keystore's. */
#define ARCA_CLIENT_IDENTITY_ROLE_ADMIN 0x1u
#define ARCA_CLIENT_IDENTITY_ROLE_OFFICER 0x2u
#define ARCA_CLIENT_IDENTITY_ROLE_AUDITOR 0x4u
#define ARCA_CLIENT_IDENTITY_ROLE_USER 0x8u
#define ARCA_CLIENT_IDENTITY_NAME_MAX 64u
#define ARCA_CLIENT_PARTITIONS_MAX 1024u

/* Old-style initialisation without a client CA (in-process deployments). */
ARCA_MUST_CHECK arca_status arca_client_initialise(arca_client *c, const char *admin_pin);
/* Initialise the domain: admin PIN and the client CA (DER, borrowed); the
 * caller's certificate must chain to it and its CN becomes the first
 * identity (all roles, all partitions). */
ARCA_MUST_CHECK arca_status arca_client_initialise_domain(arca_client *c, const char *admin_pin,
                                                          const uint8_t *ca_der, size_t ca_len);
/* partition NULL for ARCA_CLIENT_ROLE_ADMIN. On success the credentials
 * are remembered (PIN in a wiped buffer) for re-login after a reconnect. */
ARCA_MUST_CHECK arca_status arca_client_login(arca_client *c, const char *partition, int role, const char *pin);
/* Also forgets (wipes) the remembered credentials. */
ARCA_MUST_CHECK arca_status arca_client_logout(arca_client *c);
/* Public access without a PIN (SELECT_PARTITION): before a login, find and
 * get-attribute see the partition's objects with CKA_PRIVATE false. The
 * enclave keeps the selection across login and logout; the client
 * remembers it and selects again (before any re-login) after a reconnect.
 * Idempotent (selecting again is harmless, and it is retried once on a
 * broken connection). Errors: ARCA_ERR_ARGS (NULL or empty name),
 * ARCA_ERR_ALREADY_LOGGED_IN, ARCA_ERR_NOT_FOUND (no such partition),
 * ARCA_ERR_PERMISSION (the identity may not use it), ARCA_ERR_TOO_LARGE
 * (name over 64 bytes). */
ARCA_MUST_CHECK arca_status arca_client_select_partition(arca_client *c, const char *name);
ARCA_MUST_CHECK arca_status arca_client_partition_create(arca_client *c, const char *name, const char *so_pin,
                                                         const char *user_pin);
/* *out_names: malloc'd array of malloc'd strings; free with
 * arca_client_strings_free. */
ARCA_MUST_CHECK arca_status arca_client_partition_list(arca_client *c, char ***out_names, size_t *out_num);
void arca_client_strings_free(char **strings, size_t num);
ARCA_MUST_CHECK arca_status arca_client_init_user_pin(arca_client *c, const char *new_pin);
/* Change the PIN of the logged-in USER (user PIN) or SO (SO PIN) by
 * presenting the old one (SET_PIN). Errors as the enclave answers:
 * ARCA_ERR_PIN_INCORRECT (counted as a failure), ARCA_ERR_PIN_LOCKED,
 * ARCA_ERR_PIN_INVALID, ARCA_ERR_NOT_LOGGED_IN, ARCA_ERR_PERMISSION (admin).
 * Not idempotent: never sent again after a broken connection. On success
 * the PIN remembered for re-login after a reconnect becomes new_pin. */
ARCA_MUST_CHECK arca_status arca_client_set_pin(arca_client *c, const char *old_pin, const char *new_pin);

/* Register or replace an identity (certificate CN): roles is a mask of
 * ARCA_CLIENT_IDENTITY_ROLE_*, partitions "*" or comma-separated names. */
ARCA_MUST_CHECK arca_status arca_client_identity_put(arca_client *c, const char *name, uint32_t roles,
                                                     const char *partitions);
ARCA_MUST_CHECK arca_status arca_client_identity_remove(arca_client *c, const char *name);

typedef struct arca_client_identity {
    char name[ARCA_CLIENT_IDENTITY_NAME_MAX + 1];
    uint32_t roles;
    char partitions[ARCA_CLIENT_PARTITIONS_MAX + 1];
} arca_client_identity;

/* *out: malloc'd array of *out_num identities (free with free()). */
ARCA_MUST_CHECK arca_status arca_client_identity_list(arca_client *c, arca_client_identity **out, size_t *out_num);

/* Who this session is (WHOAMI, any session, idempotent): *out = the peer
 * identity of the connection (name, roles, partitions; name "" for a
 * session without one), *out_role the login role (ARCA_CLIENT_ROLE_*, 0 =
 * not logged in), partition the logged-in partition ("" for none or an
 * admin login). Outputs may not be NULL; set only on ARCA_OK.
 * ARCA_ERR_TOO_LARGE / ARCA_ERR_DECODE for an over-long or NUL-holding
 * string in the answer. */
ARCA_MUST_CHECK arca_status arca_client_whoami(arca_client *c, arca_client_identity *out, int *out_role,
                                               char partition[ARCA_LP_NAME_MAX + 1]);

/* ---- The enclave's TLS certificate (admin login) ------------------------ */

/* A PKCS#10 certificate request (DER, *der malloc'd, free()) for the
 * enclave's TLS key with subject CN = cn (1..ARCA_LP_CN_MAX bytes, else
 * ARCA_ERR_ARGS locally) carrying the RA-TLS evidence extension as a
 * requested extension, for the operator's CA to issue. */
ARCA_MUST_CHECK arca_status arca_client_tls_csr(arca_client *c, const char *cn, uint8_t **der, size_t *len);
/* Install an operator-issued chain (DER certificates concatenated, leaf
 * first, 1..ARCA_LP_CERT_CHAIN_MAX bytes, else ARCA_ERR_ARGS /
 * ARCA_ERR_TOO_LARGE locally): later handshakes present it instead of the
 * self-signed RA-TLS certificate. The enclave refuses a leaf for another
 * key or without the evidence (its status and message). Not retried. */
ARCA_MUST_CHECK arca_status arca_client_tls_cert_install(arca_client *c, const uint8_t *chain_der, size_t len);

/* ---- Objects and cryptography ------------------------------------------ */

ARCA_MUST_CHECK arca_status arca_client_generate_key(arca_client *c, uint32_t mechanism, const arca_lp_attr *tmpl,
                                                     size_t num, arca_client_id *out_id);
ARCA_MUST_CHECK arca_status arca_client_generate_key_pair(arca_client *c, uint32_t mechanism,
                                                          const arca_lp_attr *pub, size_t num_pub,
                                                          const arca_lp_attr *priv, size_t num_priv,
                                                          arca_client_id *out_pub, arca_client_id *out_priv);
ARCA_MUST_CHECK arca_status arca_client_create_object(arca_client *c, const arca_lp_attr *tmpl, size_t num,
                                                      arca_client_id *out_id);
/* out_ids has room for max_ids (<= ARCA_LP_FIND_MAX). */
ARCA_MUST_CHECK arca_status arca_client_find(arca_client *c, const arca_lp_attr *tmpl, size_t num,
                                             arca_client_id *out_ids, size_t max_ids, size_t *out_num);
ARCA_MUST_CHECK arca_status arca_client_get_attribute(arca_client *c, const arca_client_id *id, uint32_t type,
                                                      uint8_t **out, size_t *out_len);
ARCA_MUST_CHECK arca_status arca_client_set_attributes(arca_client *c, const arca_client_id *id,
                                                       const arca_lp_attr *tmpl, size_t num);
ARCA_MUST_CHECK arca_status arca_client_destroy(arca_client *c, const arca_client_id *id);
ARCA_MUST_CHECK arca_status arca_client_rotate(arca_client *c, const arca_client_id *id, arca_client_id *out_new);
/* Lifecycle (KMIP states, as arca_kms_activate / arca_kms_revoke): activate
 * Pre-Active -> Active; revoke with a KMIP revocation reason code
 * (ARCA_CLIENT_REVOKE_*; key compromise -> Compromised, others ->
 * Deactivated) and a message (NULL or at most ARCA_LP_REVOKE_MESSAGE_MAX
 * bytes, else ARCA_ERR_TOO_LARGE locally) kept in the audit record. The
 * enclave's ARCA_ERR_OBJECT_STATE for a change its state does not allow.
 * Neither is retried. */
#define ARCA_CLIENT_REVOKE_UNSPECIFIED 1u
#define ARCA_CLIENT_REVOKE_KEY_COMPROMISE 2u
#define ARCA_CLIENT_REVOKE_CA_COMPROMISE 3u
#define ARCA_CLIENT_REVOKE_AFFILIATION_CHANGED 4u
#define ARCA_CLIENT_REVOKE_SUPERSEDED 5u
#define ARCA_CLIENT_REVOKE_CESSATION 6u
#define ARCA_CLIENT_REVOKE_PRIVILEGE_WITHDRAWN 7u
ARCA_MUST_CHECK arca_status arca_client_activate(arca_client *c, const arca_client_id *id);
ARCA_MUST_CHECK arca_status arca_client_revoke(arca_client *c, const arca_client_id *id, uint32_t reason,
                                               const char *message);

ARCA_MUST_CHECK arca_status arca_client_sign(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                                             const uint8_t *data, size_t len, uint8_t **out, size_t *out_len);
/* ARCA_OK if valid, ARCA_ERR_SIGNATURE_INVALID if not. */
ARCA_MUST_CHECK arca_status arca_client_verify(arca_client *c, const arca_client_id *id, const arca_lp_mechanism *m,
                                               const uint8_t *data, size_t len, const uint8_t *sig,
                                               size_t sig_len);
ARCA_MUST_CHECK arca_status arca_client_encrypt(arca_client *c, const arca_client_id *id,
                                                const arca_lp_mechanism *m, const uint8_t *data, size_t len,
                                                uint8_t **out, size_t *out_len);
ARCA_MUST_CHECK arca_status arca_client_decrypt(arca_client *c, const arca_client_id *id,
                                                const arca_lp_mechanism *m, const uint8_t *data, size_t len,
                                                uint8_t **out, size_t *out_len);
ARCA_MUST_CHECK arca_status arca_client_wrap(arca_client *c, const arca_client_id *wrapping,
                                             const arca_lp_mechanism *m, const arca_client_id *target,
                                             uint8_t **out, size_t *out_len);
ARCA_MUST_CHECK arca_status arca_client_unwrap(arca_client *c, const arca_client_id *unwrapping,
                                               const arca_lp_mechanism *m, const uint8_t *wrapped, size_t len,
                                               const arca_lp_attr *tmpl, size_t num, arca_client_id *out_id);
ARCA_MUST_CHECK arca_status arca_client_derive(arca_client *c, const arca_client_id *base,
                                               const arca_lp_mechanism *m, const arca_lp_attr *tmpl, size_t num,
                                               arca_client_id *out_id);
ARCA_MUST_CHECK arca_status arca_client_random(arca_client *c, size_t len, uint8_t **out, size_t *out_len);

/* ---- Audit, status, attestation ---------------------------------------- */

ARCA_MUST_CHECK arca_status arca_client_audit_verify(arca_client *c, uint64_t *out_records);

typedef struct arca_client_audit_record {
    uint64_t seq;
    uint64_t time_ms;
    uint32_t status; /* arca_status of the audited operation */
    char *actor;     /* NUL-terminated, malloc'd */
    char *event;
    char *object; /* object id in hex, or "" */
    char *detail;
} arca_client_audit_record;

/* Up to max (1..1024) records from sequence number from_seq on. *out:
 * malloc'd array, free with arca_client_audit_records_free. */
ARCA_MUST_CHECK arca_status arca_client_audit_read(arca_client *c, uint64_t from_seq, uint32_t max,
                                                   arca_client_audit_record **out, size_t *out_num);
void arca_client_audit_records_free(arca_client_audit_record *records, size_t num);

/* "key: value\n" lines, NUL-terminated, malloc'd. */
ARCA_MUST_CHECK arca_status arca_client_status(arca_client *c, char **out_text);

/* Fresh attestation: send ATTEST(nonce, 1..64 bytes), verify the evidence
 * (arca_evidence_verify) against the report data
 * arca_ratls_fresh_report_data(nonce, this session's TLS exporter) and
 * apply the configuration's trust policy. *out (the verified claims) is
 * written only on success. ARCA_ERR_ARGS for a bad nonce length;
 * ARCA_ERR_ATTEST_BINDING when the evidence is not bound to this nonce and
 * session; ARCA_ERR_SIGNATURE_INVALID / ARCA_ERR_DECODE from the verifier;
 * ARCA_ERR_ATTEST_INSECURE, ARCA_ERR_IMAGE_SIGNER,
 * ARCA_ERR_ATTEST_MEASUREMENT, ARCA_ERR_SVN for a policy mismatch; the
 * last message names what did not match. */
ARCA_MUST_CHECK arca_status arca_client_attest(arca_client *c, const uint8_t *nonce, size_t nonce_len,
                                               arca_evidence_claims *out);

/* ---- After fork() ---------------------------------------------------------- */

/* Forget a client inherited over fork() without a byte on its connection
 * (no TLS close_notify: the connection is the parent's, which goes on
 * using it): the socket is closed in this process only, the remembered
 * PIN wiped and the client freed. If c's mutex was held at fork() (a call
 * in progress in a thread of the parent), only the socket is closed and
 * the rest is left allocated, never to be used. NULL is a no-op. Never
 * fails. */
void arca_client_abandon(arca_client *c);

/* ---- Token re-initialisation (PKCS#11 C_InitToken) -------------------------- */

/* INIT_TOKEN: erase partition `partition` with its SO PIN from a client
 * that is not logged in: every token object of the partition is destroyed
 * and the user PIN cleared (a user login then fails with
 * ARCA_ERR_NOT_INITIALISED until the SO sets one with
 * arca_client_init_user_pin); the SO PIN and the name stay. *out_destroyed
 * = the number of token objects destroyed. Never resent after a broken
 * connection. The keystore's statuses (arca_kms_init_token):
 * ARCA_ERR_ALREADY_LOGGED_IN, ARCA_ERR_PIN_INVALID, ARCA_ERR_NOT_FOUND,
 * ARCA_ERR_IDENTITY_UNKNOWN / ARCA_ERR_PERMISSION, ARCA_ERR_PIN_LOCKED,
 * ARCA_ERR_PIN_INCORRECT (counted), ARCA_ERR_BUSY (a session is logged in
 * to the partition); ARCA_ERR_ARGS for a NULL argument. */
ARCA_MUST_CHECK arca_status arca_client_init_token(arca_client *c, const char *partition, const char *so_pin,
                                                   uint64_t *out_destroyed);

#endif
