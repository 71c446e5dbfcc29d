/* arcad's configuration file: paths, ports and sizes only.
 *
 * Format: one `key = value` per line; `#` starts a comment line; blank lines
 * are ignored; leading/trailing blanks around keys and values are dropped.
 * No security configuration lives here (that is sealed inside the
 * appliance). See deploy/arcad.conf.example for every key. */
#ifndef ARCA_APPLIANCE_CONFIG_H
#define ARCA_APPLIANCE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/log.h"
#include "arca/status.h"

#define ARCA_CONFIG_MAX_LINE 1024u
#define ARCA_CONFIG_MAX_PATH 4096u
/* sockaddr_un.sun_path is 108 bytes including the NUL. */
#define ARCA_CONFIG_MAX_SOCKET_PATH 107u
#define ARCA_CONFIG_ERR_LEN 1024u
/* INET6_ADDRSTRLEN - 1: the longest IPv6 literal. */
#define ARCA_CONFIG_MAX_ADDRESS 45u

typedef struct arca_config {
    char state_dir[ARCA_CONFIG_MAX_PATH];
    uint64_t store_map_size_mb; /* default 4096 */
    char enclave_image[ARCA_CONFIG_MAX_PATH];     /* default: arca-enclave next to arcad */
    char enclave_signature[ARCA_CONFIG_MAX_PATH]; /* default: <enclave_image>.sig */
    bool has_enclave_signer;
    uint8_t enclave_signer[32];
    char enclave_user[256]; /* "" when not set */
    char listen_socket[ARCA_CONFIG_MAX_SOCKET_PATH + 1]; /* default: <state_dir>/arcad.sock */
    /* TCP listener: an IPv4 or IPv6 literal (default "127.0.0.1"), or
     * listen_family 0 when listen_address = none (no TCP listener). */
    char listen_address[ARCA_CONFIG_MAX_ADDRESS + 1];
    int listen_family;                   /* AF_INET, AF_INET6, or 0 for none */
    uint16_t listen_port;                /* default 5696; 0 = the kernel picks */
    uint32_t max_connections;            /* default 256, both listeners together */
    uint32_t max_connections_per_client; /* default 64: per IP address (TCP), per uid (unix socket) */
    uint64_t cache_size_mb;                               /* default 64 */
    char sealing_mode[8];                                 /* "dev" (default) | "tpm" */
    char tpm_tcti[ARCA_CONFIG_MAX_LINE + 1]; /* tpm: required, "device:...", "swtpm:..." or "mssim:..." */
    uint32_t tpm_pcr;                        /* tpm: sha256 PCR 8..15, default 15 (ARCA_TPM_PCR_DEFAULT) */
    arca_log_level log_level;                             /* default info */
    char path[ARCA_CONFIG_MAX_PATH];                      /* the file it was read from */
} arca_config;

/* Read and validate the config file at path. exe_dir is the directory of
 * the running arcad binary (for the default enclave_image); NULL means
 * "/usr/libexec/arca".
 * On failure returns ARCA_ERR_CONFIG (ARCA_ERR_IO if the file cannot be
 * read) and writes one line naming the file, the line (when there is one)
 * and the problem into err (err_len bytes, may be NULL), e.g.
 *   "/etc/arca/arcad.conf:7: unknown key 'listen_sock'".
 * tpm_tcti is required when sealing_mode = tpm; tpm_tcti and tpm_pcr are
 * refused when sealing_mode is dev (a TPM setting in a dev config means the
 * operator meant tpm mode: failing beats running with the insecure root).
 * *out is fully written on success and unspecified on failure. */
ARCA_MUST_CHECK arca_status arca_config_load(const char *path, const char *exe_dir, arca_config *out, char *err,
                                             size_t err_len);

/* Same, from a string (for tests); `name` is used as the file name in
 * messages. */
ARCA_MUST_CHECK arca_status arca_config_parse(const char *name, const char *text, size_t text_len,
                                              const char *exe_dir, arca_config *out, char *err, size_t err_len);

#endif
