/* arcad's connection accounting: the client connections handed to the
 * enclave and not yet reported closed, counted in total (max_connections)
 * and per client (max_connections_per_client: per IP address for TCP, per
 * peer uid for the unix socket).
 *
 * The enclave's reports (CONN_CLOSED, replies to ECALL_CONNECTION) are
 * hostile input: they can only remove a connection arcad itself recorded,
 * once, so no report drives a count below what arcad handed over. Not
 * thread-safe (arcad's poll loop is its one user). */
#ifndef ARCA_APPLIANCE_CONN_LIMITS_H
#define ARCA_APPLIANCE_CONN_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "arca/status.h"

/* Who a connection counts against. Compare with memcmp (zero-padded). */
enum arca_conn_client_kind { ARCA_CONN_CLIENT_UID = 1, ARCA_CONN_CLIENT_IPV4 = 2, ARCA_CONN_CLIENT_IPV6 = 3 };
typedef struct arca_conn_client {
    uint8_t kind;     /* enum arca_conn_client_kind */
    uint8_t addr[16]; /* uid (big-endian u32), IPv4 (4 bytes) or IPv6 (16); rest zero */
} arca_conn_client;

/* Text sizes that always suffice for the outputs below. */
#define ARCA_CONN_PEER_LEN 64u  /* "tcp:[ffff:...]:65535", "unix:uid=4294967295,pid=2147483647" */
#define ARCA_CONN_LABEL_LEN 48u /* "1.2.3.4", "::1", "uid 1000" */

/* A TCP peer address (AF_INET or AF_INET6; an IPv4-mapped IPv6 address
 * counts as the IPv4 address). Writes the peer text for the enclave
 * ("tcp:1.2.3.4:5555", "tcp:[::1]:5555") and a label for log lines
 * ("1.2.3.4", "::1"). ARCA_ERR_ARGS for another family or a short
 * sa_len; outputs untouched then. */
ARCA_MUST_CHECK arca_status arca_conn_client_from_addr(const struct sockaddr *sa, socklen_t sa_len,
                                                       arca_conn_client *out, char peer[ARCA_CONN_PEER_LEN],
                                                       char label[ARCA_CONN_LABEL_LEN]);
/* A unix-socket peer: "unix:uid=1000,pid=42" and "uid 1000". */
void arca_conn_client_from_uid(uint32_t uid, int pid, arca_conn_client *out, char peer[ARCA_CONN_PEER_LEN],
                               char label[ARCA_CONN_LABEL_LEN]);

typedef enum arca_conn_verdict {
    ARCA_CONN_ADMIT = 0,
    ARCA_CONN_OVER_TOTAL,      /* max_connections open */
    ARCA_CONN_OVER_PER_CLIENT, /* max_connections_per_client open for this client */
} arca_conn_verdict;

typedef struct arca_conn_limits arca_conn_limits;

/* Room for max_total connections (1..65536), max_per_client (1..max_total).
 * ARCA_ERR_ARGS, ARCA_ERR_NOMEM. */
ARCA_MUST_CHECK arca_status arca_conn_limits_new(uint32_t max_total, uint32_t max_per_client,
                                                 arca_conn_limits **out);
void arca_conn_limits_free(arca_conn_limits *l);

/* May one more connection from client be handed over? Total first. */
arca_conn_verdict arca_conn_limits_check(const arca_conn_limits *l, const arca_conn_client *client);
/* Record a connection handed over with ECALL_CONNECTION request req_id.
 * ARCA_ERR_BUSY when the check above would not admit it, ARCA_ERR_EXISTS
 * when conn_id is already open (nothing recorded either way). */
ARCA_MUST_CHECK arca_status arca_conn_limits_add(arca_conn_limits *l, uint64_t conn_id, uint32_t req_id,
                                                 const arca_conn_client *client);
/* CONN_CLOSED from the enclave. ARCA_ERR_NOT_FOUND when conn_id is not
 * open (unknown, or already closed): nothing changes. */
ARCA_MUST_CHECK arca_status arca_conn_limits_closed(arca_conn_limits *l, uint64_t conn_id);
/* The enclave's reply to ECALL_CONNECTION req_id. result ARCA_OK: the
 * enclave took it (it will report it closed). Anything else: the enclave
 * closed it without serving it, so it stops counting now. ARCA_ERR_NOT_FOUND
 * when no unanswered connection has that request id (already closed, or a
 * duplicate reply). *out_conn_id (may be NULL) is the connection's id on
 * ARCA_OK. */
ARCA_MUST_CHECK arca_status arca_conn_limits_reply(arca_conn_limits *l, uint32_t req_id, arca_status result,
                                                   uint64_t *out_conn_id);
/* Forget every connection (the enclave ended; they died with it).
 * Returns how many were open. */
size_t arca_conn_limits_reset(arca_conn_limits *l);
size_t arca_conn_limits_open(const arca_conn_limits *l);
size_t arca_conn_limits_client_open(const arca_conn_limits *l, const arca_conn_client *client);

#endif
