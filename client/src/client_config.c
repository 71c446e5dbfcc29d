/* The client configuration file (plan §5, docs/client.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/client.h"

#define LINE_MAX_LEN 4096

enum key_id {
    K_ADDRESS,
    K_CERT,
    K_KEY,
    K_ALLOW_DEV,
    K_ALLOW_DEBUG,
    K_SIGNER,
    K_MEASUREMENT,
    K_MIN_SVN,
    K_TIMEOUT,
    K_TPM_AK_CA,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "address",         "cert",    "key",        "allow_dev_evidence", "allow_debug", "expected_signer",
    "expected_measurement", "min_svn", "timeout_ms", "tpm_ak_ca",
};

typedef struct parser {
    const char *path;
    char dir[ARCA_CLIENT_PATH_MAX]; /* directory of the file, for relative paths */
    unsigned line;
    char *msg;
    size_t msg_len;
} parser;

static arca_status fail(const parser *p, arca_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static arca_status fail(const parser *p, arca_status st, const char *fmt, ...)
{
    if (p->msg == NULL || p->msg_len == 0) return st;
    int n = p->line > 0 ? snprintf(p->msg, p->msg_len, "%s:%u: ", p->path, p->line)
                        : snprintf(p->msg, p->msg_len, "%s: ", p->path);
    if (n < 0 || (size_t)n >= p->msg_len) return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg + n, p->msg_len - (size_t)n, fmt, ap);
    va_end(ap);
    return st;
}

void arca_client_config_init(arca_client_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->timeout_ms = ARCA_CLIENT_DEFAULT_TIMEOUT_MS;
}

void arca_client_config_policy(const arca_client_config *cfg, arca_ratls_policy *out)
{
    memset(out, 0, sizeof(*out));
    out->expected_signer_id = cfg->has_expected_signer ? cfg->expected_signer : NULL;
    out->expected_measurement = cfg->has_expected_measurement ? cfg->expected_measurement : NULL;
    out->min_svn = cfg->min_svn;
    out->allow_dev = cfg->allow_dev_evidence;
    out->allow_debug = cfg->allow_debug;
    out->tpm_ak_ca_file = cfg->tpm_ak_ca[0] != '\0' ? cfg->tpm_ak_ca : NULL;
}

static arca_status set_path(const parser *p, const char *key, const char *val, char *dst, size_t dst_len)
{
    int n = val[0] == '/' ? snprintf(dst, dst_len, "%s", val) : snprintf(dst, dst_len, "%s/%s", p->dir, val);
    if (n < 0 || (size_t)n >= dst_len) return fail(p, ARCA_ERR_CONFIG, "value too long for %s", key);
    return ARCA_OK;
}

static arca_status parse_number(const parser *p, const char *key, const char *val, uint64_t min, uint64_t max,
                                uint64_t *out)
{
    uint64_t v = 0;
    for (const char *s = val; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return fail(p, ARCA_ERR_CONFIG, "bad number for %s: '%s'", key, val);
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return fail(p, ARCA_ERR_CONFIG, "bad number for %s: '%s'", key, val);
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return fail(p, ARCA_ERR_CONFIG, "value out of range for %s: %s (allowed %llu..%llu)", key, val,
                    (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return ARCA_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static arca_status parse_hex32(const parser *p, const char *key, const char *val, uint8_t out[32])
{
    uint8_t v[32];
    if (strlen(val) != 64) return fail(p, ARCA_ERR_CONFIG, "bad hex for %s: expected 64 hex digits", key);
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(val[2 * i]), lo = hexval(val[2 * i + 1]);
        if (hi < 0 || lo < 0) return fail(p, ARCA_ERR_CONFIG, "bad hex for %s: expected 64 hex digits", key);
        v[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, v, 32);
    return ARCA_OK;
}

static arca_status parse_bool(const parser *p, const char *key, const char *val, bool *out)
{
    if (strcmp(val, "yes") == 0) {
        *out = true;
        return ARCA_OK;
    }
    if (strcmp(val, "no") == 0) {
        *out = false;
        return ARCA_OK;
    }
    return fail(p, ARCA_ERR_CONFIG, "bad value for %s: '%s' (expected yes or no)", key, val);
}

/* unix:PATH (relative to the file), HOST:PORT or [V6]:PORT. */
static arca_status parse_address(const parser *p, const char *val, arca_client_config *cfg)
{
    if (strncmp(val, "unix:", 5) == 0) {
        const char *path = val + 5;
        if (path[0] == '\0') goto bad;
        char full[ARCA_CLIENT_PATH_MAX];
        ARCA_GUARD(set_path(p, "address", path, full, sizeof(full)));
        int n = snprintf(cfg->address, sizeof(cfg->address), "unix:%s", full);
        if (n < 0 || (size_t)n >= sizeof(cfg->address))
            return fail(p, ARCA_ERR_CONFIG, "value too long for address");
        return ARCA_OK;
    }
    const char *colon = strrchr(val, ':');
    if (colon == NULL || colon == val || colon[1] == '\0') goto bad;
    size_t host_len = (size_t)(colon - val);
    if (val[0] == '[') {
        if (host_len < 3 || val[host_len - 1] != ']') goto bad;
    } else if (memchr(val, ':', host_len) != NULL) {
        goto bad; /* a bare IPv6 address needs brackets */
    }
    uint64_t port = 0;
    for (const char *s = colon + 1; *s; s++) {
        if (*s < '0' || *s > '9' || port > 65535) goto bad;
        port = port * 10 + (uint64_t)(*s - '0');
    }
    if (port == 0 || port > 65535) goto bad;
    if (strlen(val) >= sizeof(cfg->address)) return fail(p, ARCA_ERR_CONFIG, "value too long for address");
    memcpy(cfg->address, val, strlen(val) + 1);
    return ARCA_OK;
bad:
    return fail(p, ARCA_ERR_CONFIG, "bad address: '%s' (expected unix:PATH or HOST:PORT)", val);
}

static arca_status set_value(const parser *p, arca_client_config *cfg, enum key_id k, const char *val)
{
    const char *key = key_names[k];
    uint64_t n = 0;
    switch (k) {
    case K_ADDRESS:
        return parse_address(p, val, cfg);
    case K_CERT:
        return set_path(p, key, val, cfg->cert, sizeof(cfg->cert));
    case K_KEY:
        return set_path(p, key, val, cfg->key, sizeof(cfg->key));
    case K_ALLOW_DEV:
        return parse_bool(p, key, val, &cfg->allow_dev_evidence);
    case K_ALLOW_DEBUG:
        return parse_bool(p, key, val, &cfg->allow_debug);
    case K_SIGNER:
        ARCA_GUARD(parse_hex32(p, key, val, cfg->expected_signer));
        cfg->has_expected_signer = true;
        return ARCA_OK;
    case K_MEASUREMENT:
        ARCA_GUARD(parse_hex32(p, key, val, cfg->expected_measurement));
        cfg->has_expected_measurement = true;
        return ARCA_OK;
    case K_MIN_SVN:
        ARCA_GUARD(parse_number(p, key, val, 0, 65535, &n));
        cfg->min_svn = (uint16_t)n;
        return ARCA_OK;
    case K_TIMEOUT:
        ARCA_GUARD(parse_number(p, key, val, 1, ARCA_CLIENT_TIMEOUT_MAX_MS, &n));
        cfg->timeout_ms = (int)n;
        return ARCA_OK;
    case K_TPM_AK_CA:
        return set_path(p, key, val, cfg->tpm_ak_ca, sizeof(cfg->tpm_ak_ca));
    case K_COUNT:
    default:
        return ARCA_ERR_INTERNAL;
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

static arca_status parse_line(parser *p, arca_client_config *cfg, char *line, unsigned first_line[K_COUNT])
{
    char *s = trim(line);
    if (s[0] == '\0' || s[0] == '#') return ARCA_OK;
    char *eq = strchr(s, '=');
    if (eq == NULL) return fail(p, ARCA_ERR_CONFIG, "expected 'key = value'");
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    if (key[0] == '\0') return fail(p, ARCA_ERR_CONFIG, "expected 'key = value'");
    enum key_id k;
    for (k = 0; k < K_COUNT; k++)
        if (strcmp(key, key_names[k]) == 0) break;
    if (k == K_COUNT) return fail(p, ARCA_ERR_CONFIG, "unknown key '%s'", key);
    if (first_line[k] != 0)
        return fail(p, ARCA_ERR_CONFIG, "duplicate key '%s' (first on line %u)", key, first_line[k]);
    first_line[k] = p->line;
    if (val[0] == '\0') return fail(p, ARCA_ERR_CONFIG, "empty value for %s", key);
    return set_value(p, cfg, k, val);
}

arca_status arca_client_config_load(const char *path, arca_client_config *out, char *msg, size_t msg_len)
{
    parser p = {.path = path, .msg = msg, .msg_len = msg_len};
    unsigned first_line[K_COUNT] = {0};
    char line[LINE_MAX_LEN + 2];
    arca_status st = ARCA_OK;
    if (msg != NULL && msg_len > 0) msg[0] = '\0';
    ARCA_ENSURE(path != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_client_config_init(out);

    const char *slash = strrchr(path, '/');
    int n = slash == NULL ? snprintf(p.dir, sizeof(p.dir), ".")
                          : snprintf(p.dir, sizeof(p.dir), "%.*s", (int)(slash - path), path);
    if (slash == path) snprintf(p.dir, sizeof(p.dir), "/");
    if (n < 0 || (size_t)n >= sizeof(p.dir)) return fail(&p, ARCA_ERR_CONFIG, "path too long");

    FILE *f = fopen(path, "re");
    if (f == NULL) return fail(&p, ARCA_ERR_IO, "cannot open: %s", strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        p.line++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        } else if (!feof(f) || len > LINE_MAX_LEN) {
            /* Also a NUL inside a line: fgets' line then looks unterminated. */
            st = fail(&p, ARCA_ERR_CONFIG, "line too long");
            goto out;
        }
        if (len > LINE_MAX_LEN) {
            st = fail(&p, ARCA_ERR_CONFIG, "line too long");
            goto out;
        }
        ARCA_GUARD_OUT(parse_line(&p, out, line, first_line));
    }
    if (ferror(f)) {
        st = fail(&p, ARCA_ERR_IO, "cannot read: %s", strerror(errno));
        goto out;
    }
    p.line = 0;
    static const enum key_id required[] = {K_ADDRESS, K_CERT, K_KEY};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (first_line[required[i]] == 0) {
            st = fail(&p, ARCA_ERR_CONFIG, "%s is required", key_names[required[i]]);
            goto out;
        }
    }
out:
    fclose(f);
    return st;
}

arca_status arca_client_config_from_env(arca_client_config *out, char *msg, size_t msg_len)
{
    const char *path = getenv("ARCA_CLIENT_CONF");
    if (path == NULL || path[0] == '\0') {
        if (msg != NULL && msg_len > 0) snprintf(msg, msg_len, "ARCA_CLIENT_CONF is not set");
        return ARCA_ERR_CONFIG;
    }
    return arca_client_config_load(path, out, msg, msg_len);
}
