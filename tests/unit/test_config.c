/* Unit tests for arcad's config parser (appliance/src/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static arca_config cfg;
static char err[ARCA_CONFIG_ERR_LEN];

static arca_status parse(const char *text)
{
    memset(err, 0, sizeof err);
    return arca_config_parse("test.conf", text, strlen(text), "/opt/arca/bin", &cfg, err, sizeof err);
}

static void assert_refused(const char *text, const char *message)
{
    assert_int_equal(parse(text), ARCA_ERR_CONFIG);
    assert_string_equal(err, message);
}

static void test_defaults(void **state)
{
    assert_int_equal(parse("state_dir = /var/lib/arca\n"), ARCA_OK);
    assert_string_equal(cfg.state_dir, "/var/lib/arca");
    assert_int_equal(cfg.store_map_size_mb, 4096);
    assert_string_equal(cfg.enclave_image, "/opt/arca/bin/arca-enclave");
    assert_string_equal(cfg.enclave_signature, "/opt/arca/bin/arca-enclave.sig");
    assert_false(cfg.has_enclave_signer);
    assert_string_equal(cfg.enclave_user, "");
    assert_string_equal(cfg.listen_socket, "/var/lib/arca/arcad.sock");
    assert_string_equal(cfg.listen_address, "127.0.0.1");
    assert_int_equal(cfg.listen_family, AF_INET);
    assert_int_equal(cfg.listen_port, 5696);
    assert_int_equal(cfg.max_connections, 256);
    assert_int_equal(cfg.max_connections_per_client, 64);
    assert_int_equal(cfg.cache_size_mb, 64);
    assert_string_equal(cfg.sealing_mode, "dev");
    assert_int_equal(cfg.log_level, ARCA_LOG_INFO);
    assert_string_equal(err, "");
}

static void test_all_keys(void **state)
{
    const char *text = "# a comment\n"
                       "\n"
                       "  state_dir=/srv/arca  \n"
                       "store_map_size_mb = 16\n"
                       "enclave_image = /x/enclave\n"
                       "enclave_signature = /y/enclave.sig\n"
                       "enclave_signer = 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n"
                       "enclave_user = nobody\n"
                       "listen_socket = /run/arca.sock\r\n"
                       "\tlisten_port = 15696\n"
                       "listen_address = ::1\n"
                       "max_connections = 10\n"
                       "max_connections_per_client = 2\n"
                       "cache_size_mb = 128\n"
                       "sealing_mode = tpm\n"
                       "tpm_tcti = swtpm:path=/run/swtpm/tpm.sock\n"
                       "tpm_pcr = 9\n"
                       "log_level = debug"; /* no final newline */
    assert_int_equal(parse(text), ARCA_OK);
    assert_string_equal(cfg.state_dir, "/srv/arca");
    assert_int_equal(cfg.store_map_size_mb, 16);
    assert_string_equal(cfg.enclave_image, "/x/enclave");
    assert_string_equal(cfg.enclave_signature, "/y/enclave.sig");
    assert_true(cfg.has_enclave_signer);
    assert_int_equal(cfg.enclave_signer[0], 0x00);
    assert_int_equal(cfg.enclave_signer[5], 0x55);
    assert_int_equal(cfg.enclave_signer[10], 0xaa);
    assert_int_equal(cfg.enclave_signer[31], 0xff);
    assert_string_equal(cfg.enclave_user, "nobody");
    assert_string_equal(cfg.listen_socket, "/run/arca.sock");
    assert_int_equal(cfg.listen_port, 15696);
    assert_string_equal(cfg.listen_address, "::1");
    assert_int_equal(cfg.listen_family, AF_INET6);
    assert_int_equal(cfg.max_connections, 10);
    assert_int_equal(cfg.max_connections_per_client, 2);
    assert_int_equal(cfg.cache_size_mb, 128);
    assert_string_equal(cfg.sealing_mode, "tpm");
    assert_string_equal(cfg.tpm_tcti, "swtpm:path=/run/swtpm/tpm.sock");
    assert_int_equal(cfg.tpm_pcr, 9);
    assert_int_equal(cfg.log_level, ARCA_LOG_DEBUG);
}

static void test_tpm_keys(void **state)
{
    /* Defaults: dev mode has no TCTI; the PCR defaults to 15. */
    assert_int_equal(parse("state_dir = /s\n"), ARCA_OK);
    assert_string_equal(cfg.tpm_tcti, "");
    assert_int_equal(cfg.tpm_pcr, 15);
    assert_int_equal(parse("state_dir = /s\nsealing_mode = tpm\ntpm_tcti = device:/dev/tpmrm0\n"), ARCA_OK);
    assert_string_equal(cfg.tpm_tcti, "device:/dev/tpmrm0");
    assert_int_equal(cfg.tpm_pcr, 15);
    /* Key order does not matter: the mode check runs after the last line. */
    assert_int_equal(parse("tpm_pcr = 8\ntpm_tcti = mssim:host=127.0.0.1,port=2321\nstate_dir = /s\n"
                           "sealing_mode = tpm\n"),
                     ARCA_OK);
    assert_string_equal(cfg.tpm_tcti, "mssim:host=127.0.0.1,port=2321");
    assert_int_equal(cfg.tpm_pcr, 8);

    assert_refused("state_dir = /s\nsealing_mode = tpm\n",
                   "test.conf: sealing_mode is tpm but tpm_tcti is not set (e.g. tpm_tcti = device:/dev/tpmrm0)");
    assert_refused("state_dir = /s\ntpm_tcti = device:/dev/tpmrm0\n",
                   "test.conf: tpm_tcti is set but sealing_mode is dev (set sealing_mode = tpm)");
    assert_refused("state_dir = /s\nsealing_mode = dev\ntpm_pcr = 15\n",
                   "test.conf: tpm_pcr is set but sealing_mode is dev (set sealing_mode = tpm)");
    assert_refused("tpm_tcti = libtss2-tcti-evil.so:x\n",
                   "test.conf:1: tpm_tcti must start with device:, swtpm: or mssim: (e.g. device:/dev/tpmrm0), not "
                   "'libtss2-tcti-evil.so:x'");
    assert_refused("tpm_tcti = /dev/tpmrm0\n",
                   "test.conf:1: tpm_tcti must start with device:, swtpm: or mssim: (e.g. device:/dev/tpmrm0), not "
                   "'/dev/tpmrm0'");
    assert_refused("tpm_tcti =\n", "test.conf:1: missing value for tpm_tcti");
    assert_refused("tpm_pcr = 16\n", "test.conf:1: value out of range for tpm_pcr: 16 (allowed 8..15)");
    assert_refused("tpm_pcr = 7\n", "test.conf:1: value out of range for tpm_pcr: 7 (allowed 8..15)");
    assert_refused("tpm_pcr = 23\n", "test.conf:1: value out of range for tpm_pcr: 23 (allowed 8..15)");
    assert_refused("tpm_pcr = fifteen\n", "test.conf:1: bad number for tpm_pcr: 'fifteen'");
    assert_refused("tpm_pcr = 15\ntpm_pcr = 14\n", "test.conf:2: duplicate key 'tpm_pcr'");
}

static void test_signature_defaults_to_image(void **state)
{
    assert_int_equal(parse("state_dir = /s\nenclave_image = /img/e\n"), ARCA_OK);
    assert_string_equal(cfg.enclave_signature, "/img/e.sig");
}

static void test_unknown_key(void **state)
{
    assert_refused("state_dir = /s\nlisten_sock = /x\n", "test.conf:2: unknown key 'listen_sock'");
}

static void test_bad_number(void **state)
{
    assert_refused("state_dir = /s\nmax_connections = 12x\n", "test.conf:2: bad number for max_connections: '12x'");
    assert_refused("cache_size_mb = -1\n", "test.conf:1: bad number for cache_size_mb: '-1'");
    assert_refused("listen_port = 0x10\n", "test.conf:1: bad number for listen_port: '0x10'");
}

static void test_out_of_range(void **state)
{
    assert_refused("listen_port = 70000\n",
                   "test.conf:1: value out of range for listen_port: 70000 (allowed 0..65535)");
    assert_refused("listen_port = 65536\n",
                   "test.conf:1: value out of range for listen_port: 65536 (allowed 0..65535)");
    assert_refused("listen_port =\n", "test.conf:1: missing value for listen_port");
    assert_refused("max_connections = 0\n", "test.conf:1: value out of range for max_connections: 0 (allowed 1..65536)");
    assert_refused("store_map_size_mb = 99999999999999999999999\n",
                   "test.conf:1: value out of range for store_map_size_mb: '99999999999999999999999'");
    assert_refused("state_dir = /s\nmax_connections = 4\nmax_connections_per_client = 5\n",
                   "test.conf: value out of range: max_connections_per_client (5) exceeds max_connections (4)");
}

static void test_listen_tcp(void **state)
{
    /* 0: the kernel picks the port (tests); 65535 is the top. */
    assert_int_equal(parse("state_dir = /s\nlisten_port = 0\n"), ARCA_OK);
    assert_int_equal(cfg.listen_port, 0);
    assert_int_equal(parse("state_dir = /s\nlisten_port = 65535\n"), ARCA_OK);
    assert_int_equal(cfg.listen_port, 65535);
    assert_int_equal(parse("state_dir = /s\nlisten_address = 0.0.0.0\n"), ARCA_OK);
    assert_string_equal(cfg.listen_address, "0.0.0.0");
    assert_int_equal(cfg.listen_family, AF_INET);
    assert_int_equal(parse("state_dir = /s\nlisten_address = ::\n"), ARCA_OK);
    assert_string_equal(cfg.listen_address, "::");
    assert_int_equal(cfg.listen_family, AF_INET6);
    assert_int_equal(parse("state_dir = /s\nlisten_address = 2001:db8::5\nlisten_port = 15696\n"), ARCA_OK);
    assert_string_equal(cfg.listen_address, "2001:db8::5");
    assert_int_equal(cfg.listen_family, AF_INET6);
    /* none: no TCP listener (a port may still be written down). */
    assert_int_equal(parse("state_dir = /s\nlisten_address = none\nlisten_port = 1\n"), ARCA_OK);
    assert_string_equal(cfg.listen_address, "none");
    assert_int_equal(cfg.listen_family, 0);

    static const char *const bad[] = {
        "localhost",          /* names would need a resolver */
        "127.0.0.1:5696",     /* the port is its own key */
        "[::1]",              /* no brackets */
        "256.0.0.1",          /* not an address */
        "1.2.3",              /* inet_pton wants all four */
        "fe80::1%eth0",       /* no scope ids */
        "NONE",               /* none is lower case */
        "0000:0000:0000:0000:0000:0000:0000:0000:1", /* longer than any address */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], want[256];
        snprintf(text, sizeof text, "state_dir = /s\nlisten_address = %s\n", bad[i]);
        snprintf(want, sizeof want,
                 "test.conf:2: listen_address must be an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1, ::) "
                 "or none, not '%s'",
                 bad[i]);
        assert_refused(text, want);
    }
    assert_refused("listen_address =\n", "test.conf:1: missing value for listen_address");
    assert_refused("listen_address = none\nlisten_address = ::1\n", "test.conf:2: duplicate key 'listen_address'");
}

static void test_connection_caps(void **state)
{
    assert_int_equal(parse("state_dir = /s\nmax_connections = 3\nmax_connections_per_client = 3\n"), ARCA_OK);
    assert_int_equal(cfg.max_connections, 3);
    assert_int_equal(cfg.max_connections_per_client, 3);
    assert_int_equal(parse("state_dir = /s\nmax_connections = 65536\nmax_connections_per_client = 1\n"), ARCA_OK);
    assert_int_equal(cfg.max_connections, 65536);
    assert_int_equal(cfg.max_connections_per_client, 1);
    /* The default per-client cap (64) follows a smaller total; an explicit
     * one above the total is refused. */
    assert_int_equal(parse("state_dir = /s\nmax_connections = 8\n"), ARCA_OK);
    assert_int_equal(cfg.max_connections_per_client, 8);
    assert_refused("state_dir = /s\nmax_connections = 8\nmax_connections_per_client = 9\n",
                   "test.conf: value out of range: max_connections_per_client (9) exceeds max_connections (8)");
    assert_refused("max_connections_per_client = 0\n",
                   "test.conf:1: value out of range for max_connections_per_client: 0 (allowed 1..65536)");
    assert_refused("max_connections_per_client = 65537\n",
                   "test.conf:1: value out of range for max_connections_per_client: 65537 (allowed 1..65536)");
    assert_refused("max_connections = 65537\n",
                   "test.conf:1: value out of range for max_connections: 65537 (allowed 1..65536)");
    assert_refused("max_connections_per_client = two\n",
                   "test.conf:1: bad number for max_connections_per_client: 'two'");
}

static void test_missing_required(void **state)
{
    assert_refused("# nothing\nlisten_port = 1\n", "test.conf: missing required key 'state_dir'");
    assert_refused("", "test.conf: missing required key 'state_dir'");
}

static void test_duplicate_key(void **state)
{
    assert_refused("state_dir = /a\nlog_level = info\nstate_dir = /b\n", "test.conf:3: duplicate key 'state_dir'");
}

static void test_line_too_long(void **state)
{
    size_t n = ARCA_CONFIG_MAX_LINE + 20;
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, 'a', n);
    memcpy(text, "state_dir = /", 13);
    text[n - 1] = '\n';
    text[n] = '\0';
    char *full = malloc(n + 32);
    assert_non_null(full);
    snprintf(full, n + 32, "# first\n%s", text);
    assert_refused(full, "test.conf:2: line too long (more than 1024 bytes)");
    free(full);
    free(text);
}

static void test_bad_values(void **state)
{
    assert_refused("state_dir = relative/path\n", "test.conf:1: state_dir must be an absolute path: 'relative/path'");
    assert_refused("state_dir\n", "test.conf:1: expected 'key = value'");
    assert_refused("state_dir =\n", "test.conf:1: missing value for state_dir");
    assert_refused("sealing_mode = sgx\n", "test.conf:1: sealing_mode must be 'dev' or 'tpm', not 'sgx'");
    assert_refused("log_level = loud\n", "test.conf:1: log_level must be one of debug, info, warn, error, not 'loud'");
    assert_refused("enclave_signer = abcd\n", "test.conf:1: enclave_signer must be 64 hex digits (a signer id)");
    assert_refused("enclave_signer = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
                   "test.conf:1: enclave_signer must be 64 hex digits (a signer id)");
    assert_refused("enclave_user = no-such-user-arca\n",
                   "test.conf:1: enclave_user 'no-such-user-arca' is not a user on this system");
}

static void test_socket_path_limits(void **state)
{
    char text[400];
    char longdir[200];
    memset(longdir, 'd', sizeof longdir);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    snprintf(text, sizeof text, "listen_socket = %s\n", longdir);
    assert_refused(text, "test.conf:1: value out of range for listen_socket: path longer than 107 bytes");
    snprintf(text, sizeof text, "state_dir = %s\n", longdir);
    assert_refused(text, "test.conf: state_dir is too long for the default listen_socket (a unix socket path holds "
                         "at most 107 bytes); set listen_socket");
}

static void test_load_file(void **state)
{
    char path[] = "/tmp/arca-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "state_dir = /s\nbogus = 1\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(arca_config_load(path, NULL, &cfg, err, sizeof err), ARCA_ERR_CONFIG);
    char expect[128];
    snprintf(expect, sizeof expect, "%s:2: unknown key 'bogus'", path);
    assert_string_equal(err, expect);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    text = "state_dir = /s\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(arca_config_load(path, NULL, &cfg, err, sizeof err), ARCA_OK);
    assert_string_equal(cfg.enclave_image, "/usr/libexec/arca/arca-enclave");
    assert_string_equal(cfg.path, path);
    unlink(path);

    assert_int_equal(arca_config_load(path, NULL, &cfg, err, sizeof err), ARCA_ERR_IO);
    snprintf(expect, sizeof expect, "%s: cannot open config file: No such file or directory", path);
    assert_string_equal(err, expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_tpm_keys),
        cmocka_unit_test(test_signature_defaults_to_image),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_bad_number),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_listen_tcp),
        cmocka_unit_test(test_connection_caps),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_socket_path_limits),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
