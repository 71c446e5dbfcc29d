/* arcad's connection accounting. See conn_limits.h.
 *
 * A flat array of at most max_total entries; lookups are linear. With the
 * caps' upper bound (65536) that is a few hundred microseconds at worst
 * per accept, well below the cost of the TLS handshake the enclave does
 * for each connection. */
#include "conn_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOTAL 65536u

typedef struct entry {
    uint64_t id;
    uint32_t req_id; /* its ECALL_CONNECTION */
    bool acked;      /* the enclave answered ARCA_OK */
    arca_conn_client client;
} entry;

struct arca_conn_limits {
    uint32_t max_total;
    uint32_t max_per_client;
    size_t num;
    entry *entries;
};

arca_status arca_conn_client_from_addr(const struct sockaddr *sa, socklen_t sa_len, arca_conn_client *out,
                                       char peer[ARCA_CONN_PEER_LEN], char label[ARCA_CONN_LABEL_LEN])
{
    ARCA_ENSURE(sa != NULL && out != NULL && peer != NULL && label != NULL, ARCA_ERR_ARGS);
    arca_conn_client c;
    char addr[INET6_ADDRSTRLEN];
    unsigned port;
    bool brackets = false;
    memset(&c, 0, sizeof c);
    if (sa->sa_family == AF_INET6) {
        ARCA_ENSURE(sa_len >= (socklen_t)sizeof(struct sockaddr_in6), ARCA_ERR_ARGS);
        struct sockaddr_in6 a;
        memcpy(&a, sa, sizeof a);
        port = ntohs(a.sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
            /* An IPv4 client of a dual-stack listener counts as itself. */
            c.kind = ARCA_CONN_CLIENT_IPV4;
            memcpy(c.addr, &a.sin6_addr.s6_addr[12], 4);
        } else {
            c.kind = ARCA_CONN_CLIENT_IPV6;
            memcpy(c.addr, &a.sin6_addr, 16);
            brackets = true;
        }
    } else if (sa->sa_family == AF_INET) {
        ARCA_ENSURE(sa_len >= (socklen_t)sizeof(struct sockaddr_in), ARCA_ERR_ARGS);
        struct sockaddr_in a;
        memcpy(&a, sa, sizeof a);
        port = ntohs(a.sin_port);
        c.kind = ARCA_CONN_CLIENT_IPV4;
        memcpy(c.addr, &a.sin_addr, 4);
    } else {
        return ARCA_ERR_ARGS;
    }
    ARCA_ENSURE(inet_ntop(brackets ? AF_INET6 : AF_INET, c.addr, addr, sizeof addr) != NULL, ARCA_ERR_INTERNAL);
    snprintf(peer, ARCA_CONN_PEER_LEN, "tcp:%s%s%s:%u", brackets ? "[" : "", addr, brackets ? "]" : "", port);
    snprintf(label, ARCA_CONN_LABEL_LEN, "%s", addr);
    *out = c;
    return ARCA_OK;
}

void arca_conn_client_from_uid(uint32_t uid, int pid, arca_conn_client *out, char peer[ARCA_CONN_PEER_LEN],
                               char label[ARCA_CONN_LABEL_LEN])
{
    memset(out, 0, sizeof *out);
    out->kind = ARCA_CONN_CLIENT_UID;
    for (size_t i = 0; i < 4; i++) out->addr[i] = (uint8_t)(uid >> (24 - 8 * i));
    snprintf(peer, ARCA_CONN_PEER_LEN, "unix:uid=%u,pid=%d", (unsigned)uid, pid);
    snprintf(label, ARCA_CONN_LABEL_LEN, "uid %u", (unsigned)uid);
}

arca_status arca_conn_limits_new(uint32_t max_total, uint32_t max_per_client, arca_conn_limits **out)
{
    ARCA_ENSURE(out != NULL && max_total >= 1 && max_total <= MAX_TOTAL, ARCA_ERR_ARGS);
    ARCA_ENSURE(max_per_client >= 1 && max_per_client <= max_total, ARCA_ERR_ARGS);
    arca_conn_limits *l = calloc(1, sizeof *l);
    ARCA_ENSURE(l != NULL, ARCA_ERR_NOMEM);
    l->entries = calloc(max_total, sizeof *l->entries);
    if (l->entries == NULL) {
        free(l);
        return ARCA_ERR_NOMEM;
    }
    l->max_total = max_total;
    l->max_per_client = max_per_client;
    *out = l;
    return ARCA_OK;
}

void arca_conn_limits_free(arca_conn_limits *l)
{
    if (l == NULL) return;
    free(l->entries);
    free(l);
}

size_t arca_conn_limits_open(const arca_conn_limits *l)
{
    return l->num;
}

size_t arca_conn_limits_client_open(const arca_conn_limits *l, const arca_conn_client *client)
{
    size_t n = 0;
    for (size_t i = 0; i < l->num; i++)
        if (memcmp(&l->entries[i].client, client, sizeof *client) == 0) n++;
    return n;
}

arca_conn_verdict arca_conn_limits_check(const arca_conn_limits *l, const arca_conn_client *client)
{
    if (l->num >= l->max_total) return ARCA_CONN_OVER_TOTAL;
    if (arca_conn_limits_client_open(l, client) >= l->max_per_client) return ARCA_CONN_OVER_PER_CLIENT;
    return ARCA_CONN_ADMIT;
}

static size_t find_id(const arca_conn_limits *l, uint64_t conn_id)
{
    for (size_t i = 0; i < l->num; i++)
        if (l->entries[i].id == conn_id) return i;
    return SIZE_MAX;
}

static void remove_at(arca_conn_limits *l, size_t i)
{
    l->entries[i] = l->entries[--l->num];
}

arca_status arca_conn_limits_add(arca_conn_limits *l, uint64_t conn_id, uint32_t req_id,
                                 const arca_conn_client *client)
{
    ARCA_ENSURE(l != NULL && client != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(arca_conn_limits_check(l, client) == ARCA_CONN_ADMIT, ARCA_ERR_BUSY);
    ARCA_ENSURE(find_id(l, conn_id) == SIZE_MAX, ARCA_ERR_EXISTS);
    l->entries[l->num++] = (entry){.id = conn_id, .req_id = req_id, .acked = false, .client = *client};
    return ARCA_OK;
}

arca_status arca_conn_limits_closed(arca_conn_limits *l, uint64_t conn_id)
{
    ARCA_ENSURE(l != NULL, ARCA_ERR_ARGS);
    size_t i = find_id(l, conn_id);
    ARCA_ENSURE(i != SIZE_MAX, ARCA_ERR_NOT_FOUND);
    remove_at(l, i);
    return ARCA_OK;
}

arca_status arca_conn_limits_reply(arca_conn_limits *l, uint32_t req_id, arca_status result, uint64_t *out_conn_id)
{
    ARCA_ENSURE(l != NULL, ARCA_ERR_ARGS);
    for (size_t i = 0; i < l->num; i++) {
        if (l->entries[i].req_id != req_id || l->entries[i].acked) continue;
        if (out_conn_id != NULL) *out_conn_id = l->entries[i].id;
        if (result == ARCA_OK)
            l->entries[i].acked = true;
        else
            remove_at(l, i); /* closed in the enclave without a worker: no CONN_CLOSED follows */
        return ARCA_OK;
    }
    return ARCA_ERR_NOT_FOUND;
}

size_t arca_conn_limits_reset(arca_conn_limits *l)
{
    size_t n = l->num;
    l->num = 0;
    return n;
}
