/* arcad's configuration file parser. See config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arca/sealing.h"

#define MAX_FILE_LEN (1024u * 1024u)

enum key_id {
    K_STATE_DIR,
    K_STORE_MAP_SIZE_MB,
    K_ENCLAVE_IMAGE,
    K_ENCLAVE_SIGNATURE,
    K_ENCLAVE_SIGNER,
    K_ENCLAVE_USER,
    K_LISTEN_SOCKET,
    K_LISTEN_ADDRESS,
    K_LISTEN_PORT,
    K_MAX_CONNECTIONS,
    K_MAX_CONNECTIONS_PER_CLIENT,
    K_CACHE_SIZE_MB,
    K_SEALING_MODE,
    K_LOG_LEVEL,
    K_TPM_TCTI,
    K_TPM_PCR,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    [K_STATE_DIR] = "state_dir",
    [K_STORE_MAP_SIZE_MB] = "store_map_size_mb",
    [K_ENCLAVE_IMAGE] = "enclave_image",
    [K_ENCLAVE_SIGNATURE] = "enclave_signature",
    [K_ENCLAVE_SIGNER] = "enclave_signer",
    [K_ENCLAVE_USER] = "enclave_user",
    [K_LISTEN_SOCKET] = "listen_socket",
    [K_LISTEN_ADDRESS] = "listen_address",
    [K_LISTEN_PORT] = "listen_port",
    [K_MAX_CONNECTIONS] = "max_connections",
    [K_MAX_CONNECTIONS_PER_CLIENT] = "max_connections_per_client",
    [K_CACHE_SIZE_MB] = "cache_size_mb",
    [K_SEALING_MODE] = "sealing_mode",
    [K_LOG_LEVEL] = "log_level",
    [K_TPM_TCTI] = "tpm_tcti",
    [K_TPM_PCR] = "tpm_pcr",
};

typedef struct parser {
    const char *name;
    unsigned line;
    char *err;
    size_t err_len;
} parser;

static arca_status fail(const parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static arca_status fail(const parser *p, const char *fmt, ...)
{
    if (p->err == NULL || p->err_len == 0) return ARCA_ERR_CONFIG;
    int n;
    if (p->line > 0)
        n = snprintf(p->err, p->err_len, "%s:%u: ", p->name, p->line);
    else
        n = snprintf(p->err, p->err_len, "%s: ", p->name);
    if (n < 0 || (size_t)n >= p->err_len) return ARCA_ERR_CONFIG;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
    va_end(ap);
    return ARCA_ERR_CONFIG;
}

static arca_status parse_number(const parser *p, const char *key, const char *val, uint64_t min, uint64_t max,
                                uint64_t *out)
{
    if (val[0] == '\0') return fail(p, "bad number for %s: empty value", key);
    uint64_t v = 0;
    for (const char *s = val; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return fail(p, "bad number for %s: '%s'", key, val);
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return fail(p, "value out of range for %s: '%s'", key, val);
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return fail(p, "value out of range for %s: %llu (allowed %llu..%llu)", key, (unsigned long long)v,
                    (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return ARCA_OK;
}

static arca_status set_path(const parser *p, const char *key, const char *val, char *dst, size_t dst_len)
{
    if (val[0] != '/') return fail(p, "%s must be an absolute path: '%s'", key, val);
    size_t n = strlen(val);
    if (n >= dst_len) return fail(p, "value out of range for %s: path longer than %zu bytes", key, dst_len - 1);
    memcpy(dst, val, n + 1);
    return ARCA_OK;
}

/* A numeric address only: a host name would need a resolver at start-up
 * and could change meaning with DNS. */
static arca_status set_address(const parser *p, arca_config *cfg, const char *val)
{
    if (strcmp(val, "none") == 0) {
        snprintf(cfg->listen_address, sizeof cfg->listen_address, "none");
        cfg->listen_family = 0;
        return ARCA_OK;
    }
    uint8_t buf[16];
    int family = 0;
    if (strlen(val) <= ARCA_CONFIG_MAX_ADDRESS) {
        if (inet_pton(AF_INET, val, buf) == 1)
            family = AF_INET;
        else if (inet_pton(AF_INET6, val, buf) == 1)
            family = AF_INET6;
    }
    if (family == 0)
        return fail(p,
                    "listen_address must be an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1, ::) or none, "
                    "not '%s'",
                    val);
    snprintf(cfg->listen_address, sizeof cfg->listen_address, "%s", val);
    cfg->listen_family = family;
    return ARCA_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static arca_status set_value(const parser *p, arca_config *cfg, enum key_id k, const char *val)
{
    uint64_t n = 0;
    const char *key = key_names[k];
    switch (k) {
    case K_STATE_DIR:
        return set_path(p, key, val, cfg->state_dir, sizeof cfg->state_dir);
    case K_ENCLAVE_IMAGE:
        return set_path(p, key, val, cfg->enclave_image, sizeof cfg->enclave_image);
    case K_ENCLAVE_SIGNATURE:
        return set_path(p, key, val, cfg->enclave_signature, sizeof cfg->enclave_signature);
    case K_LISTEN_SOCKET:
        return set_path(p, key, val, cfg->listen_socket, sizeof cfg->listen_socket);
    case K_STORE_MAP_SIZE_MB:
        ARCA_GUARD(parse_number(p, key, val, 1, 1024u * 1024u, &n));
        cfg->store_map_size_mb = n;
        return ARCA_OK;
    case K_LISTEN_ADDRESS:
        return set_address(p, cfg, val);
    case K_LISTEN_PORT:
        ARCA_GUARD(parse_number(p, key, val, 0, 65535, &n));
        cfg->listen_port = (uint16_t)n;
        return ARCA_OK;
    case K_MAX_CONNECTIONS:
        ARCA_GUARD(parse_number(p, key, val, 1, 65536, &n));
        cfg->max_connections = (uint32_t)n;
        return ARCA_OK;
    case K_MAX_CONNECTIONS_PER_CLIENT:
        ARCA_GUARD(parse_number(p, key, val, 1, 65536, &n));
        cfg->max_connections_per_client = (uint32_t)n;
        return ARCA_OK;
    case K_CACHE_SIZE_MB:
        ARCA_GUARD(parse_number(p, key, val, 1, 65536, &n));
        cfg->cache_size_mb = n;
        return ARCA_OK;
    case K_ENCLAVE_SIGNER:
        if (strlen(val) != 64) return fail(p, "enclave_signer must be 64 hex digits (a signer id)");
        for (size_t i = 0; i < 32; i++) {
            int hi = hexval(val[2 * i]), lo = hexval(val[2 * i + 1]);
            if (hi < 0 || lo < 0) return fail(p, "enclave_signer must be 64 hex digits (a signer id)");
            cfg->enclave_signer[i] = (uint8_t)(hi << 4 | lo);
        }
        cfg->has_enclave_signer = true;
        return ARCA_OK;
    case K_ENCLAVE_USER: {
        size_t len = strlen(val);
        if (len >= sizeof cfg->enclave_user) return fail(p, "value out of range for enclave_user: name too long");
        if (getpwnam(val) == NULL) return fail(p, "enclave_user '%s' is not a user on this system", val);
        memcpy(cfg->enclave_user, val, len + 1);
        return ARCA_OK;
    }
    case K_SEALING_MODE:
        if (strcmp(val, "dev") != 0 && strcmp(val, "tpm") != 0)
            return fail(p, "sealing_mode must be 'dev' or 'tpm', not '%s'", val);
        snprintf(cfg->sealing_mode, sizeof cfg->sealing_mode, "%s", val);
        return ARCA_OK;
    case K_TPM_TCTI: {
        /* The same three kinds the sealing backend accepts: never an
         * arbitrary TCTI library name (the loader would dlopen it). */
        static const char *const kinds[] = {"device:", "swtpm:", "mssim:"};
        bool known = false;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strncmp(val, kinds[i], strlen(kinds[i])) == 0) known = true;
        if (!known)
            return fail(p, "tpm_tcti must start with device:, swtpm: or mssim: (e.g. device:/dev/tpmrm0), not '%s'",
                        val);
        snprintf(cfg->tpm_tcti, sizeof cfg->tpm_tcti, "%s", val);
        return ARCA_OK;
    }
    case K_TPM_PCR:
        /* 8..15: the OS range, extendable from locality 0 and reset only by
         * a reboot (0-7 hold firmware measurements, 16 and 23 can be reset
         * by any software, 17-22 need a higher locality). */
        ARCA_GUARD(parse_number(p, key, val, 8, 15, &n));
        cfg->tpm_pcr = (uint32_t)n;
        return ARCA_OK;
    case K_LOG_LEVEL:
        if (strcmp(val, "debug") == 0)
            cfg->log_level = ARCA_LOG_DEBUG;
        else if (strcmp(val, "info") == 0)
            cfg->log_level = ARCA_LOG_INFO;
        else if (strcmp(val, "warn") == 0)
            cfg->log_level = ARCA_LOG_WARN;
        else if (strcmp(val, "error") == 0)
            cfg->log_level = ARCA_LOG_ERROR;
        else
            return fail(p, "log_level must be one of debug, info, warn, error, not '%s'", val);
        return ARCA_OK;
    case K_COUNT:
    default:
        return ARCA_ERR_INTERNAL;
    }
}

static char *trim(char *s, char *end)
{
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
    *end = '\0';
    return s;
}

static void set_defaults(arca_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->store_map_size_mb = 4096;
    snprintf(cfg->listen_address, sizeof cfg->listen_address, "127.0.0.1");
    cfg->listen_family = AF_INET;
    cfg->listen_port = 5696;
    cfg->max_connections = 256;
    cfg->max_connections_per_client = 64;
    cfg->cache_size_mb = 64;
    snprintf(cfg->sealing_mode, sizeof cfg->sealing_mode, "dev");
    cfg->log_level = ARCA_LOG_INFO;
    cfg->tpm_pcr = ARCA_TPM_PCR_DEFAULT;
}

static arca_status derive_defaults(parser *p, arca_config *cfg, const bool seen[K_COUNT], const char *exe_dir)
{
    p->line = 0;
    if (!seen[K_STATE_DIR]) return fail(p, "missing required key 'state_dir'");
    if (!seen[K_ENCLAVE_IMAGE]) {
        int n = snprintf(cfg->enclave_image, sizeof cfg->enclave_image, "%s/arca-enclave",
                         exe_dir != NULL ? exe_dir : "/usr/libexec/arca");
        if (n < 0 || (size_t)n >= sizeof cfg->enclave_image)
            return fail(p, "default enclave_image path is too long");
    }
    if (!seen[K_ENCLAVE_SIGNATURE]) {
        int n = snprintf(cfg->enclave_signature, sizeof cfg->enclave_signature, "%s.sig", cfg->enclave_image);
        if (n < 0 || (size_t)n >= sizeof cfg->enclave_signature)
            return fail(p, "default enclave_signature path is too long");
    }
    if (!seen[K_LISTEN_SOCKET]) {
        int n = snprintf(cfg->listen_socket, sizeof cfg->listen_socket, "%s/arcad.sock", cfg->state_dir);
        if (n < 0 || (size_t)n >= sizeof cfg->listen_socket)
            return fail(p,
                        "state_dir is too long for the default listen_socket (a unix socket path holds at most "
                        "%u bytes); set listen_socket",
                        ARCA_CONFIG_MAX_SOCKET_PATH);
    }
    if (strcmp(cfg->sealing_mode, "tpm") == 0) {
        if (!seen[K_TPM_TCTI])
            return fail(p, "sealing_mode is tpm but tpm_tcti is not set (e.g. tpm_tcti = device:/dev/tpmrm0)");
    } else {
        if (seen[K_TPM_TCTI]) return fail(p, "tpm_tcti is set but sealing_mode is %s (set sealing_mode = tpm)",
                                          cfg->sealing_mode);
        if (seen[K_TPM_PCR]) return fail(p, "tpm_pcr is set but sealing_mode is %s (set sealing_mode = tpm)",
                                         cfg->sealing_mode);
    }
    /* The per-client default follows a smaller total; an explicit value
     * above the total is a mistake worth saying. */
    if (!seen[K_MAX_CONNECTIONS_PER_CLIENT] && cfg->max_connections_per_client > cfg->max_connections)
        cfg->max_connections_per_client = cfg->max_connections;
    if (cfg->max_connections_per_client > cfg->max_connections)
        return fail(p, "value out of range: max_connections_per_client (%u) exceeds max_connections (%u)",
                    cfg->max_connections_per_client, cfg->max_connections);
    return ARCA_OK;
}

arca_status arca_config_parse(const char *name, const char *text, size_t text_len, const char *exe_dir,
                              arca_config *out, char *err, size_t err_len)
{
    ARCA_ENSURE(name != NULL && text != NULL && out != NULL, ARCA_ERR_ARGS);
    parser p = {.name = name, .line = 0, .err = err, .err_len = err_len};
    if (err != NULL && err_len > 0) err[0] = '\0';
    bool seen[K_COUNT] = {false};
    char line[ARCA_CONFIG_MAX_LINE + 1];

    set_defaults(out);
    size_t pos = 0;
    while (pos < text_len) {
        p.line++;
        const char *nl = memchr(text + pos, '\n', text_len - pos);
        size_t len = (nl != NULL ? (size_t)(nl - (text + pos)) : text_len - pos);
        if (len > ARCA_CONFIG_MAX_LINE) return fail(&p, "line too long (more than %u bytes)", ARCA_CONFIG_MAX_LINE);
        memcpy(line, text + pos, len);
        line[len] = '\0';
        pos += len + (nl != NULL ? 1 : 0);
        if (memchr(line, '\0', len) != NULL) return fail(&p, "NUL byte in line");

        char *s = trim(line, line + len);
        if (*s == '\0' || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) return fail(&p, "expected 'key = value'");
        char *key = trim(s, eq);
        char *val = trim(eq + 1, eq + 1 + strlen(eq + 1));
        if (*key == '\0') return fail(&p, "expected 'key = value'");
        for (const char *c = val; *c != '\0'; c++)
            if (iscntrl((unsigned char)*c) && *c != '\t') return fail(&p, "control character in value of %s", key);

        enum key_id k = K_COUNT;
        for (int i = 0; i < K_COUNT; i++)
            if (strcmp(key, key_names[i]) == 0) k = (enum key_id)i;
        if (k == K_COUNT) return fail(&p, "unknown key '%s'", key);
        if (seen[k]) return fail(&p, "duplicate key '%s'", key);
        seen[k] = true;
        if (*val == '\0') return fail(&p, "missing value for %s", key);
        ARCA_GUARD(set_value(&p, out, k, val));
    }
    ARCA_GUARD(derive_defaults(&p, out, seen, exe_dir));
    snprintf(out->path, sizeof out->path, "%s", name);
    return ARCA_OK;
}

arca_status arca_config_load(const char *path, const char *exe_dir, arca_config *out, char *err, size_t err_len)
{
    ARCA_ENSURE(path != NULL && out != NULL, ARCA_ERR_ARGS);
    parser p = {.name = path, .line = 0, .err = err, .err_len = err_len};
    arca_status st = ARCA_OK;
    char *buf = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        (void)fail(&p, "cannot open config file: %s", strerror(e));
        return ARCA_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        (void)fail(&p, "not a regular file");
        st = ARCA_ERR_CONFIG;
        goto out;
    }
    if ((uint64_t)sb.st_size > MAX_FILE_LEN) {
        (void)fail(&p, "config file larger than %u bytes", MAX_FILE_LEN);
        st = ARCA_ERR_CONFIG;
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    ARCA_ENSURE_OUT(buf != NULL, ARCA_ERR_NOMEM);
    while (len < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + len, (size_t)sb.st_size - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            (void)fail(&p, "cannot read config file: %s", r < 0 ? strerror(e) : "unexpected end of file");
            st = ARCA_ERR_IO;
            goto out;
        }
        len += (size_t)r;
    }
    st = arca_config_parse(path, buf, len, exe_dir, out, err, err_len);
out:
    free(buf);
    close(fd);
    return st;
}
