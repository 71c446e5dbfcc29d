/* libFuzzer target: arca_config_parse (appliance/src/config.h) on arbitrary
 * text, arcad's configuration file.
 *
 * Input: the file's bytes. Parse must fail only with ARCA_ERR_CONFIG and
 * then name the file in a NUL-terminated message (also into a tiny and a
 * NULL error buffer, with the same status). What parses is round-tripped:
 * written back as `key=value` lines (leaving out the values that equal
 * their derived defaults) it parses to the same configuration. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_check.h"

#define NAME "fuzz.conf"
#define EXE_DIR "/usr/libexec/arca"

static const char *level_name(arca_log_level l)
{
    switch (l) {
    case ARCA_LOG_DEBUG:
        return "debug";
    case ARCA_LOG_INFO:
        return "info";
    case ARCA_LOG_WARN:
        return "warn";
    case ARCA_LOG_ERROR:
        return "error";
    default:
        abort();
    }
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* The encoder the format lacks: one `key=value` line per key (the
 * shortest form, so nothing that was read in is too long to write back),
 * derived defaults left out (they can be longer than a line). */
static size_t write_config(const arca_config *cfg, char *out, size_t cap)
{
    char buf[ARCA_CONFIG_MAX_PATH + 32];
    size_t n = 0;
#define LINE(...)                                                                                             \
    do {                                                                                                      \
        int w = snprintf(out + n, cap - n, __VA_ARGS__);                                                      \
        CHECK(w > 0 && (size_t)w < cap - n);                                                                  \
        n += (size_t)w;                                                                                       \
    } while (0)
    LINE("state_dir=%s\n", cfg->state_dir);
    LINE("store_map_size_mb=%llu\n", (unsigned long long)cfg->store_map_size_mb);
    snprintf(buf, sizeof buf, "%s/arca-enclave", EXE_DIR);
    if (strcmp(buf, cfg->enclave_image) != 0) LINE("enclave_image=%s\n", cfg->enclave_image);
    snprintf(buf, sizeof buf, "%s.sig", cfg->enclave_image);
    if (strcmp(buf, cfg->enclave_signature) != 0) LINE("enclave_signature=%s\n", cfg->enclave_signature);
    if (cfg->has_enclave_signer) {
        LINE("enclave_signer=");
        for (size_t i = 0; i < 32; i++) LINE("%02x", cfg->enclave_signer[i]);
        LINE("\n");
    }
    if (cfg->enclave_user[0] != '\0') LINE("enclave_user=%s\n", cfg->enclave_user);
    snprintf(buf, sizeof buf, "%s/arcad.sock", cfg->state_dir);
    if (strcmp(buf, cfg->listen_socket) != 0) LINE("listen_socket=%s\n", cfg->listen_socket);
    LINE("listen_port=%u\n", (unsigned)cfg->listen_port);
    LINE("max_connections=%u\n", (unsigned)cfg->max_connections);
    LINE("max_connections_per_client=%u\n", (unsigned)cfg->max_connections_per_client);
    LINE("cache_size_mb=%llu\n", (unsigned long long)cfg->cache_size_mb);
    LINE("sealing_mode=%s\n", cfg->sealing_mode);
    if (strcmp(cfg->sealing_mode, "tpm") == 0) {
        LINE("tpm_tcti=%s\n", cfg->tpm_tcti);
        LINE("tpm_pcr=%u\n", (unsigned)cfg->tpm_pcr);
    }
    LINE("log_level=%s\n", level_name(cfg->log_level));
#undef LINE
    return n;
}

static bool same_config(const arca_config *a, const arca_config *b)
{
    return strcmp(a->state_dir, b->state_dir) == 0 && a->store_map_size_mb == b->store_map_size_mb &&
           strcmp(a->enclave_image, b->enclave_image) == 0 &&
           strcmp(a->enclave_signature, b->enclave_signature) == 0 &&
           a->has_enclave_signer == b->has_enclave_signer &&
           (!a->has_enclave_signer || memcmp(a->enclave_signer, b->enclave_signer, 32) == 0) &&
           strcmp(a->enclave_user, b->enclave_user) == 0 && strcmp(a->listen_socket, b->listen_socket) == 0 &&
           a->listen_port == b->listen_port && a->max_connections == b->max_connections &&
           a->max_connections_per_client == b->max_connections_per_client &&
           a->cache_size_mb == b->cache_size_mb && strcmp(a->sealing_mode, b->sealing_mode) == 0 &&
           a->log_level == b->log_level && strcmp(a->path, b->path) == 0 &&
           strcmp(a->tpm_tcti, b->tpm_tcti) == 0 && a->tpm_pcr == b->tpm_pcr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char text_buf[64 * 1024];
    /* The parser takes (text, len); give it exactly the input bytes, in a
     * heap copy so ASan sees any read past the end. */
    char *text = malloc(len ? len : 1);
    arca_config *cfg = malloc(sizeof *cfg), *cfg2 = malloc(sizeof *cfg2);
    char err[ARCA_CONFIG_ERR_LEN], small_err[12];
    CHECK(text != NULL && cfg != NULL && cfg2 != NULL);
    if (len) memcpy(text, data, len);

    arca_status st = arca_config_parse(NAME, text, len, EXE_DIR, cfg, err, sizeof err);
    CHECK(terminated(err, sizeof err));
    CHECK(arca_config_parse(NAME, text, len, EXE_DIR, cfg2, small_err, sizeof small_err) == st);
    CHECK(terminated(small_err, sizeof small_err));
    CHECK(arca_config_parse(NAME, text, len, EXE_DIR, cfg2, NULL, 0) == st);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_CONFIG);
        CHECK(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
        CHECK(strncmp(small_err, err, sizeof small_err - 1) == 0);
        goto out;
    }
    CHECK(err[0] == '\0');
    CHECK(terminated(cfg->state_dir, sizeof cfg->state_dir) && cfg->state_dir[0] == '/');
    CHECK(terminated(cfg->enclave_image, sizeof cfg->enclave_image) && cfg->enclave_image[0] == '/');
    CHECK(terminated(cfg->enclave_signature, sizeof cfg->enclave_signature) && cfg->enclave_signature[0] == '/');
    CHECK(terminated(cfg->listen_socket, sizeof cfg->listen_socket) && cfg->listen_socket[0] == '/');
    CHECK(strlen(cfg->listen_socket) <= ARCA_CONFIG_MAX_SOCKET_PATH);
    CHECK(terminated(cfg->enclave_user, sizeof cfg->enclave_user));
    CHECK(strcmp(cfg->sealing_mode, "dev") == 0 || strcmp(cfg->sealing_mode, "tpm") == 0);
    CHECK(cfg->max_connections_per_client <= cfg->max_connections);
    CHECK(strcmp(cfg->path, NAME) == 0);

    size_t n = write_config(cfg, text_buf, sizeof text_buf);
    CHECK(arca_config_parse(NAME, text_buf, n, EXE_DIR, cfg2, err, sizeof err) == ARCA_OK);
    CHECK(same_config(cfg, cfg2));
out:
    free(text);
    free(cfg);
    free(cfg2);
    return 0;
}
