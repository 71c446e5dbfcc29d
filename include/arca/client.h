/* libarca-client: the client side of the local request protocol
 * (docs/protocol.md) over arcad's unix socket.
 *
 * One arca_client is one connection, hence one enclave session (its login
 * state and session objects end with the connection). Not thread-safe: use
 * one client per thread. Every call sends one request and waits for its
 * response, at most the time-out given at connect (default 30 s).
 *
 * Return values: ARCA_OK, or the enclave's status for the operation (then
 * arca_client_last_message() holds its short message), or a local
 * failure: ARCA_ERR_IO / ARCA_ERR_CHANNEL (connection lost),
 * ARCA_ERR_TIMEOUT, ARCA_ERR_DECODE / ARCA_ERR_TOO_LARGE (a malformed or
 * over-cap response). Outputs are set only on ARCA_OK; byte outputs are
 * malloc'd and owned by the caller (wipe before free when they are
 * secret: arca_client_free_secret). */
#ifndef ARCA_CLIENT_H
#define ARCA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/local_proto.h"
#include "arca/status.h"

typedef struct arca_client arca_client;

typedef struct arca_client_id {
    uint8_t b[ARCA_LP_ID_LEN];
} arca_client_id;

#define ARCA_CLIENT_DEFAULT_TIMEOUT_MS 30000

/* Connect to the socket at path. timeout_ms 0 = default. ARCA_ERR_IO
 * (errno is kept) when the socket cannot be reached. */
ARCA_MUST_CHECK arca_status arca_client_connect(const char *path, int timeout_ms, arca_client **out);
void arca_client_close(arca_client *c);
/* The enclave's message for the last failed operation ("" if none). */
const char *arca_client_last_message(const arca_client *c);
/* Wipe and free a byte output. */
void arca_client_free_secret(uint8_t *p, size_t len);

/* Role values as the enclave's arca_role. */
#define ARCA_CLIENT_ROLE_ADMIN 1
#define ARCA_CLIENT_ROLE_SO 2
#define ARCA_CLIENT_ROLE_USER 3

ARCA_MUST_CHECK arca_status arca_client_initialise(arca_client *c, const char *admin_pin);
/* partition NULL for ARCA_CLIENT_ROLE_ADMIN. */
ARCA_MUST_CHECK arca_status arca_client_login(arca_client *c, const char *partition, int role, const char *pin);
ARCA_MUST_CHECK arca_status arca_client_logout(arca_client *c);
ARCA_MUST_CHECK arca_status arca_client_partition_create(arca_client *c, const char *name, const char *so_pin,
                                                         const char *user_pin);
/* *out_names: malloc'd array of malloc'd strings; free with
 * arca_client_strings_free. */
ARCA_MUST_CHECK arca_status arca_client_partition_list(arca_client *c, char ***out_names, size_t *out_num);
void arca_client_strings_free(char **strings, size_t num);
ARCA_MUST_CHECK arca_status arca_client_init_user_pin(arca_client *c, const char *new_pin);

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
ARCA_MUST_CHECK arca_status arca_client_audit_verify(arca_client *c, uint64_t *out_records);
/* "key: value\n" lines, NUL-terminated, malloc'd. */
ARCA_MUST_CHECK arca_status arca_client_status(arca_client *c, char **out_text);

#endif
