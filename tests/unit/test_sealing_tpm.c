/* Unit tests for the `tpm` sealing backend against a real swtpm.
 *
 * Each test starts its own swtpm (socket mode, unix sockets, fresh state
 * in a temp dir) and kills it afterwards. swtpm and tpm2-tools must be
 * installed (deploy/packages.sh test): without them these tests FAIL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "arca/log.h"
#include "arca/ratls.h"
#include "arca/sealing.h"
#include "arca/secret.h"

#define PCR 15u

typedef struct fixture {
    char dir[64];
    char state_dir[96];
    char sock[96];
    char tcti[128];
    char log_path[96];
    int log_fd;
    pid_t swtpm;
    arca_sealing_config cfg;
    arca_enclave_identity id;
} fixture;

static const uint8_t k_aad[] = "partition-0001";
static const uint8_t k_pt[] = "a secret key object, serialised";

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void make_identity(arca_enclave_identity *id, uint8_t signer_byte, uint16_t product, uint16_t svn)
{
    memset(id, 0, sizeof *id);
    memset(id->measurement, 0xA5, sizeof id->measurement);
    memset(id->signer_id, signer_byte, sizeof id->signer_id);
    id->product_id = product;
    id->svn = svn;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Whether a unix stream socket at path accepts a connection now. */
static bool accepts(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) return false;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* Start swtpm on <dir>/tpm.sock (control: tpm.sock.ctrl, as the swtpm TCTI
 * expects) and wait until it listens. */
static void start_swtpm(fixture *f)
{
    char tpmstate[128], server[160], ctrl[160], tpmstate_dir[96], ctrl_path[160];
    snprintf(tpmstate_dir, sizeof tpmstate_dir, "%s/tpmstate", f->dir);
    assert_true(mkdir(tpmstate_dir, 0700) == 0 || errno == EEXIST); /* kept across a restart */
    unlink(f->sock);
    snprintf(server, sizeof server, "%s.ctrl", f->sock);
    unlink(server);
    snprintf(tpmstate, sizeof tpmstate, "dir=%s", tpmstate_dir);
    snprintf(server, sizeof server, "type=unixio,path=%s", f->sock);
    snprintf(ctrl, sizeof ctrl, "type=unixio,path=%s.ctrl", f->sock);
    snprintf(ctrl_path, sizeof ctrl_path, "%s.ctrl", f->sock);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", tpmstate, "--server", server, "--ctrl", ctrl,
               "--flags", "not-need-init,startup-clear", (char *)NULL);
        _exit(127);
    }
    f->swtpm = pid;
    for (int i = 0; i < 500; i++) {
        int wst = 0;
        if (waitpid(pid, &wst, WNOHANG) == pid) {
            f->swtpm = 0;
            fail_msg("swtpm exited at start (status %d): is swtpm installed? (deploy/packages.sh test)", wst);
        }
        /* Ready = both sockets accept a connection (the file appears at
         * bind(), before listen(), and the control socket comes second:
         * under load a test that only waited for the file raced swtpm). */
        if (accepts(f->sock) && accepts(ctrl_path)) return;
        sleep_ms(10);
    }
    fail_msg("swtpm did not listen on %s within 5 s", f->sock);
}

static void stop_swtpm(fixture *f)
{
    if (f->swtpm <= 0) return;
    kill(f->swtpm, SIGTERM);
    waitpid(f->swtpm, NULL, 0);
    f->swtpm = 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/arca-test-tpm-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->state_dir, sizeof f->state_dir, "%s/state", f->dir);
    snprintf(f->sock, sizeof f->sock, "%s/tpm.sock", f->dir);
    snprintf(f->tcti, sizeof f->tcti, "swtpm:path=%s", f->sock);
    snprintf(f->log_path, sizeof f->log_path, "%s/log", f->dir);
    f->log_fd = open(f->log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(f->log_fd >= 0);
    arca_log_set_fd(f->log_fd);
    f->cfg.mode = "tpm";
    f->cfg.state_dir = f->state_dir;
    f->cfg.tcti = f->tcti;
    f->cfg.tpm_pcr = PCR;
    make_identity(&f->id, 0x11, 7, 5);
    *state = f;
    start_swtpm(f);
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    stop_swtpm(f);
    arca_log_set_fd(2);
    close(f->log_fd);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static const char *log_text(fixture *f)
{
    static char buf[65536];
    ssize_t n = pread(f->log_fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void log_clear(fixture *f)
{
    assert_int_equal(ftruncate(f->log_fd, 0), 0);
    assert_int_equal(lseek(f->log_fd, 0, SEEK_SET), 0);
}

/* Output of a tpm2-tools command against this test's swtpm (first 4 KiB). */
static void run_tool(fixture *f, const char *args, char *out, size_t out_len)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "tpm2_%s -T '%s' 2>&1", args, f->tcti);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, out_len - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    if (rc != 0) fail_msg("tpm2_%s failed (%d): %s", args, rc, out);
}

/* Transient objects and sessions left in the TPM: must be none. */
static void assert_no_tpm_handles(fixture *f)
{
    char out[4096];
    run_tool(f, "getcap handles-transient", out, sizeof out);
    if (out[0] != '\0') fail_msg("transient handles left in the TPM: %s", out);
    run_tool(f, "getcap handles-loaded-session", out, sizeof out);
    if (out[0] != '\0') fail_msg("loaded sessions left in the TPM: %s", out);
    run_tool(f, "getcap handles-saved-session", out, sizeof out);
    if (out[0] != '\0') fail_msg("saved sessions left in the TPM: %s", out);
}

static void pcr_value(fixture *f, uint8_t out[32])
{
    char path[128], args[256], msg[4096];
    snprintf(path, sizeof path, "%s/pcr.bin", f->dir);
    snprintf(args, sizeof args, "pcrread sha256:%u -o %s", PCR, path);
    run_tool(f, args, msg, sizeof msg);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(out, 1, 32, fp), 32);
    fclose(fp);
    unlink(path);
}

static void identity_digest(const arca_enclave_identity *id, uint8_t out[32])
{
    uint8_t buf[37];
    memcpy(buf, id->signer_id, 32);
    buf[32] = (uint8_t)(id->product_id >> 8);
    buf[33] = (uint8_t)id->product_id;
    buf[34] = (uint8_t)(id->svn >> 8);
    buf[35] = (uint8_t)id->svn;
    buf[36] = id->debug ? 1 : 0;
    SHA256(buf, sizeof buf, out);
}

static void extend_value(const uint8_t prev[32], const uint8_t digest[32], uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(buf, prev, 32);
    memcpy(buf + 32, digest, 32);
    SHA256(buf, sizeof buf, out);
}

/* Measure f->id and initialise the platform root. */
static void init_root(fixture *f)
{
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_OK);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_OK);
}

static arca_sealing *open_ok(fixture *f)
{
    arca_sealing *s = NULL;
    arca_status st = arca_sealing_open(&f->cfg, &f->id, &s);
    if (st != ARCA_OK) fail_msg("open: %s; log: %s", arca_status_name(st), log_text(f));
    assert_non_null(s);
    return s;
}

static void meta_for(arca_blob_meta *m, uint8_t id_byte)
{
    memset(m, 0, sizeof *m);
    memset(m->object_id, id_byte, sizeof m->object_id);
    m->object_version = 42;
    m->purpose = ARCA_SEAL_OBJECT;
}

static arca_status unseal_one(arca_sealing *s, const arca_blob_meta *expect, const uint8_t *blob, size_t len)
{
    arca_secret pt = {0};
    arca_status st = arca_sealing_unseal(s, expect, k_aad, sizeof k_aad, blob, len, NULL, &pt);
    if (st == ARCA_OK) {
        assert_int_equal(pt.len, sizeof k_pt);
        assert_memory_equal(pt.data, k_pt, sizeof k_pt);
    }
    arca_secret_free(&pt);
    return st;
}

static void test_roundtrip(void **state)
{
    fixture *f = *state;
    arca_blob_meta m;
    uint8_t *blob = NULL;
    size_t len = 0;
    struct stat sb;
    char path[160];

    init_root(f);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", f->state_dir, i == 0 ? "tpm-seed.pub" : "tpm-seed.priv");
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    arca_sealing *s = open_ok(f);
    assert_string_equal(arca_sealing_mode(s), "tpm");
    assert_false(arca_sealing_is_insecure(s));
    meta_for(&m, 0x42);
    assert_int_equal(arca_sealing_seal(s, &m, k_aad, sizeof k_aad, k_pt, sizeof k_pt, &blob, &len), ARCA_OK);
    assert_int_equal(unseal_one(s, &m, blob, len), ARCA_OK);
    arca_secret k1 = {0}, k2 = {0};
    assert_int_equal(arca_sealing_derive_key(s, "blind-index", &k1), ARCA_OK);
    arca_sealing_free(s);

    /* The same seed comes back from the TPM at the next open. */
    s = open_ok(f);
    assert_int_equal(unseal_one(s, &m, blob, len), ARCA_OK);
    assert_int_equal(arca_sealing_derive_key(s, "blind-index", &k2), ARCA_OK);
    assert_memory_equal(k1.data, k2.data, 32);
    arca_sealing_free(s);

    /* Another signer measured and opening: a different key, cannot unseal. */
    arca_enclave_identity other;
    make_identity(&other, 0x22, 7, 5);
    s = NULL;
    assert_int_equal(arca_sealing_open(&f->cfg, &other, &s), ARCA_OK); /* PCR still holds f->id */
    assert_int_equal(unseal_one(s, &m, blob, len), ARCA_ERR_INTEGRITY);
    arca_sealing_free(s);

    assert_null(strstr(log_text(f), "ERROR"));
    arca_secret_free(&k1);
    arca_secret_free(&k2);
    free(blob);
    assert_no_tpm_handles(f);
}

static void test_pcr_changed(void **state)
{
    fixture *f = *state;
    arca_sealing *s = NULL;
    init_root(f);
    /* Another image measured after ours (e.g. launched in its place). */
    arca_enclave_identity other;
    make_identity(&other, 0x22, 7, 5);
    log_clear(f);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &other), ARCA_OK);
    assert_non_null(strstr(log_text(f), "already extended with something else"));
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    assert_null(s);
    assert_non_null(strstr(log_text(f), "unseal refused by the TPM: PCR 15 (sha256) does not hold the value"));
    assert_non_null(strstr(log_text(f), "policy check failed")); /* the TPM's own error, decoded */
    /* Failing opens leave nothing behind in the TPM either. */
    for (int i = 0; i < 20; i++) assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    assert_no_tpm_handles(f);
}

static void test_config_errors(void **state)
{
    fixture *f = *state;
    arca_sealing *s = NULL;
    const char *tcti = f->cfg.tcti;

    f->cfg.tcti = NULL;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_CONFIG);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_ERR_CONFIG);
    assert_non_null(strstr(log_text(f), "no TCTI configured"));
    f->cfg.tcti = "libevil.so:whatever";
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    assert_non_null(strstr(log_text(f), "is not one of device:, swtpm:, mssim:"));
    f->cfg.tcti = tcti;
    f->cfg.tpm_pcr = 24;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_CONFIG);
    assert_non_null(strstr(log_text(f), "PCR 24 is out of range"));
    f->cfg.tpm_pcr = PCR;
    f->cfg.tpm_nv_index = 0x01C00002; /* the EK certificate range */
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_CONFIG);
    assert_non_null(strstr(log_text(f), "outside the owner range"));
    f->cfg.tpm_nv_index = 0;
    f->cfg.state_dir = NULL;
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_CONFIG);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    f->cfg.state_dir = f->state_dir;

    /* A PCR nobody has extended: refuse to seal to it. */
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_CONFIG);
    assert_non_null(strstr(log_text(f), "PCR 15 is all zeros"));

    /* The TPM is not there. */
    char bad[160];
    snprintf(bad, sizeof bad, "swtpm:path=%s/nothing.sock", f->dir);
    f->cfg.tcti = bad;
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_ERR_IO);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_IO);
    assert_non_null(strstr(log_text(f), "cannot reach the TPM through"));
    f->cfg.tcti = tcti;
    assert_null(s);
    assert_no_tpm_handles(f);
}

static void test_initialise_and_files(void **state)
{
    fixture *f = *state;
    arca_sealing *s = NULL;
    char pub[160], priv[160];
    snprintf(pub, sizeof pub, "%s/tpm-seed.pub", f->state_dir);
    snprintf(priv, sizeof priv, "%s/tpm-seed.priv", f->state_dir);

    /* Not initialised yet. */
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    init_root(f);
    log_clear(f);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_EXISTS);
    assert_non_null(strstr(log_text(f), "already holds a sealed seed"));

    /* The files gone but the counter still on the TPM: refuse, say why. */
    assert_int_equal(rename(pub, "/tmp/arca-test-tpm-moved.pub") == 0 ? 0 : errno, 0);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "tpm-seed.pub: missing"));
    assert_int_equal(rename(priv, "/tmp/arca-test-tpm-moved.priv"), 0);
    assert_int_equal(arca_sealing_initialise(&f->cfg), ARCA_ERR_EXISTS);
    assert_non_null(strstr(log_text(f), "is already defined on this TPM"));
    /* ... and nothing half-made was left behind. */
    assert_int_equal(access(pub, F_OK), -1);
    assert_int_equal(access(priv, F_OK), -1);
    assert_int_equal(rename("/tmp/arca-test-tpm-moved.pub", pub), 0);
    assert_int_equal(rename("/tmp/arca-test-tpm-moved.priv", priv), 0);
    arca_sealing_free(open_ok(f));

    /* Damaged files. */
    FILE *fp = fopen(pub, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    assert_int_equal(fputc(0, fp), 0); /* trailing byte */
    fclose(fp);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "tpm-seed.pub: not a marshalled sealed-object public area"));
    assert_int_equal(truncate(pub, 0), 0);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);

    assert_null(s);
    assert_no_tpm_handles(f);
}

static void test_damaged_private(void **state)
{
    fixture *f = *state;
    arca_sealing *s = NULL;
    char priv[160];
    snprintf(priv, sizeof priv, "%s/tpm-seed.priv", f->state_dir);
    init_root(f);
    FILE *fp = fopen(priv, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 20, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_int_equal(fseek(fp, 20, SEEK_SET), 0);
    assert_int_equal(fputc(c ^ 1, fp), c ^ 1);
    fclose(fp);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "cannot be loaded under this TPM's storage key"));
    assert_null(s);
    assert_no_tpm_handles(f);
}

static void test_counter_persists(void **state)
{
    fixture *f = *state;
    uint64_t c0 = 0, c = 0;
    init_root(f);
    arca_sealing *s = open_ok(f);
    assert_int_equal(arca_sealing_counter_read(s, &c0), ARCA_OK);
    assert_true(c0 >= 1); /* incremented once at initialise */
    assert_int_equal(arca_sealing_counter_increment(s, &c), ARCA_OK);
    assert_int_equal(c, c0 + 1);
    assert_int_equal(arca_sealing_counter_increment(s, &c), ARCA_OK);
    assert_int_equal(c, c0 + 2);
    assert_int_equal(arca_sealing_counter_read(s, &c), ARCA_OK);
    assert_int_equal(c, c0 + 2);
    arca_sealing_free(s);

    s = open_ok(f);
    assert_int_equal(arca_sealing_counter_read(s, &c), ARCA_OK);
    assert_int_equal(c, c0 + 2);
    arca_sealing_free(s);

    /* The TPM restarted (power cycle): the counter survives in its NV. */
    stop_swtpm(f);
    start_swtpm(f);
    /* After a TPM reset the PCR is zero again: the launcher measures anew. */
    uint8_t pcr[32], zero[32] = {0};
    pcr_value(f, pcr);
    assert_memory_equal(pcr, zero, 32);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_OK);
    s = open_ok(f);
    assert_int_equal(arca_sealing_counter_read(s, &c), ARCA_OK);
    assert_int_equal(c, c0 + 2);
    arca_sealing_free(s);
    assert_no_tpm_handles(f);
}

static void test_extend_identity(void **state)
{
    fixture *f = *state;
    uint8_t zero[32] = {0}, got[32], want[32], d[32];
    pcr_value(f, got);
    assert_memory_equal(got, zero, 32);

    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_OK);
    identity_digest(&f->id, d);
    extend_value(zero, d, want);
    pcr_value(f, got);
    assert_memory_equal(got, want, 32);

    /* A restart of the same image: not extended twice. */
    log_clear(f);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_OK);
    assert_non_null(strstr(log_text(f), "already holds this enclave identity"));
    pcr_value(f, got);
    assert_memory_equal(got, want, 32);

    /* Every field counts: svn, product, debug each give another value. */
    arca_enclave_identity v = f->id;
    v.svn = 6;
    uint8_t prev[32];
    memcpy(prev, want, 32);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &v), ARCA_OK);
    identity_digest(&v, d);
    extend_value(prev, d, want);
    pcr_value(f, got);
    assert_memory_equal(got, want, 32);
    uint8_t d_prod[32], d_dbg[32];
    v = f->id;
    v.product_id = 8;
    identity_digest(&v, d_prod);
    v = f->id;
    v.debug = true;
    identity_digest(&v, d_dbg);
    identity_digest(&f->id, d);
    assert_memory_not_equal(d, d_prod, 32);
    assert_memory_not_equal(d, d_dbg, 32);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, NULL), ARCA_ERR_ARGS);
    assert_no_tpm_handles(f);
}

static void test_evidence(void **state)
{
    fixture *f = *state;
    uint8_t rd[ARCA_REPORT_DATA_LEN], other_rd[ARCA_REPORT_DATA_LEN];
    for (size_t i = 0; i < sizeof rd; i++) rd[i] = (uint8_t)(i * 3);
    memcpy(other_rd, rd, sizeof rd);
    other_rd[0] ^= 1;
    uint8_t *ev = NULL, *ev2 = NULL;
    size_t ev_len = 0, ev2_len = 0;
    arca_evidence_claims claims, claims2;

    init_root(f);
    arca_sealing *s = open_ok(f);
    assert_int_equal(arca_sealing_evidence_create(s, rd, &ev, &ev_len), ARCA_OK);
    assert_memory_equal(ev, "ARCAEVD1", 8);
    assert_int_equal(ev[10], 2);
    memset(&claims, 0, sizeof claims);
    assert_int_equal(arca_evidence_verify(ev, ev_len, rd, &claims), ARCA_OK);
    assert_true(claims.tpm_quote);
    assert_false(claims.insecure_dev);
    assert_int_equal(claims.tpm_pcr_index, PCR);
    assert_memory_equal(claims.identity.signer_id, f->id.signer_id, 32);
    assert_int_equal(claims.identity.product_id, 7);
    assert_int_equal(claims.identity.svn, 5);
    assert_false(claims.identity.debug);
    uint8_t zero[32] = {0}, pcr[32], digest[32];
    assert_memory_equal(claims.identity.measurement, zero, 32); /* not attested */
    assert_memory_equal(claims.report_data, rd, sizeof rd);
    {
        uint8_t d[32];
        identity_digest(&f->id, d);
        extend_value(zero, d, pcr);
        SHA256(pcr, 32, digest);
        assert_memory_equal(claims.tpm_pcr_digest, digest, 32);
    }
    /* The AK is the same key every time (a primary from a fixed template). */
    assert_int_equal(arca_sealing_evidence_create(s, other_rd, &ev2, &ev2_len), ARCA_OK);
    assert_int_equal(arca_evidence_verify(ev2, ev2_len, other_rd, &claims2), ARCA_OK);
    assert_memory_equal(claims.attester_key_id, claims2.attester_key_id, 32);

    /* Authentic, but about other report data. */
    assert_int_equal(arca_evidence_verify(ev, ev_len, other_rd, &claims2), ARCA_ERR_INTEGRITY);
    /* Layout: 11 header, signer 32, product 2, svn 2, debug 1, pcr 1 = 49,
     * then u16 attest_len, attest, u16 sig_len, sig, u16 spki_len, spki. */
    const size_t attest_off = 51;
    const size_t attest_len = (size_t)ev[49] << 8 | ev[50];
    const size_t sig_off = attest_off + attest_len + 2;
    const size_t sig_len = (size_t)ev[sig_off - 2] << 8 | ev[sig_off - 1];
    const size_t spki_off = sig_off + sig_len + 2;
    assert_true(spki_off < ev_len);
    uint8_t *copy = malloc(ev_len);
    assert_non_null(copy);
    /* Any change to the signed quote. */
    for (size_t off = attest_off; off < attest_off + attest_len; off++) {
        memcpy(copy, ev, ev_len);
        copy[off] ^= 1;
        arca_status got = arca_evidence_verify(copy, ev_len, rd, &claims2);
        if (got != ARCA_ERR_SIGNATURE_INVALID && got != ARCA_ERR_DECODE)
            fail_msg("attest byte %zu: got %s", off - attest_off, arca_status_name(got));
    }
    /* The signature's r and s (after alg 2, hash 2, u16 size). */
    for (size_t off = sig_off + 6; off < sig_off + 6 + 32; off++) {
        memcpy(copy, ev, ev_len);
        copy[off] ^= 0x10;
        assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_SIGNATURE_INVALID);
    }
    /* Another AK (from ev2 with ev's quote) would need ev2's signature:
     * swap the signatures of the two pieces of evidence. */
    assert_int_equal(ev2_len, ev_len - sig_len + ((size_t)ev2[sig_off - 2] << 8 | ev2[sig_off - 1]));
    if (ev2_len == ev_len) {
        memcpy(copy, ev, ev_len);
        memcpy(copy + sig_off, ev2 + sig_off, sig_len);
        assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_SIGNATURE_INVALID);
    }
    /* Claims that do not match the quoted PCR: another SVN, signer, debug. */
    memcpy(copy, ev, ev_len);
    copy[11 + 32 + 2 + 1] ^= 1; /* svn low byte */
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_ATTEST_MEASUREMENT);
    memcpy(copy, ev, ev_len);
    copy[11] ^= 1;
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_ATTEST_MEASUREMENT);
    memcpy(copy, ev, ev_len);
    copy[47] = 1;
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_ATTEST_MEASUREMENT);
    /* Claimed PCR index other than the quoted one. */
    memcpy(copy, ev, ev_len);
    copy[48] = 16;
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_INTEGRITY);
    /* Structure. */
    memcpy(copy, ev, ev_len);
    copy[47] = 2;
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[48] = 0;
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[spki_off + 4] ^= 0xff; /* SPKI no longer a P-256 key */
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_DECODE);
    memcpy(copy, ev, ev_len);
    copy[sig_off + 1] = 0x14; /* RSASSA: not what an AK signs with here */
    assert_int_equal(arca_evidence_verify(copy, ev_len, rd, &claims2), ARCA_ERR_DECODE);
    for (size_t len = 0; len < ev_len; len++)
        assert_int_equal(arca_evidence_verify(ev, len, rd, &claims2), ARCA_ERR_DECODE);

    /* The PCR moved after open (something else measured): the quote says
     * so and the verifier refuses the identity. */
    arca_enclave_identity other;
    make_identity(&other, 0x33, 7, 5);
    arca_sealing_free(s); /* swtpm serves one connection at a time */
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &other), ARCA_OK);
    arca_sealing *s2 = NULL;
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s2), ARCA_ERR_SEED); /* and no unseal either */
    free(copy);
    free(ev);
    free(ev2);
    assert_no_tpm_handles(f);
}

static EVP_PKEY *new_p256(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

static void test_evidence_after_pcr_moved(void **state)
{
    fixture *f = *state;
    uint8_t rd[ARCA_REPORT_DATA_LEN] = {1, 2, 3};
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    arca_evidence_claims claims;
    arca_sealing_config other_cfg = f->cfg;
    init_root(f);
    /* The evidence is made while the PCR holds f->id; quoting with the
     * identity of another image (the caller lies about itself) is caught. */
    arca_enclave_identity liar;
    make_identity(&liar, 0x44, 7, 9);
    arca_sealing *s = NULL;
    assert_int_equal(arca_sealing_open(&other_cfg, &liar, &s), ARCA_OK);
    assert_int_equal(arca_sealing_evidence_create(s, rd, &ev, &ev_len), ARCA_OK);
    assert_int_equal(arca_evidence_verify(ev, ev_len, rd, &claims), ARCA_ERR_ATTEST_MEASUREMENT);
    /* The same in an RA-TLS certificate: the verifier names the check. */
    EVP_PKEY *tls_key = new_p256();
    X509 *cert = NULL;
    arca_ratls_cert_params params = {.subject_cn = "arca-test", .validity_secs = 3600};
    arca_ratls_policy policy = {.allow_dev = false};
    arca_ratls_result result;
    char msg[ARCA_RATLS_MSG_LEN];
    assert_int_equal(arca_ratls_cert_create(s, tls_key, &params, &cert, NULL, NULL), ARCA_OK);
    assert_int_equal(arca_ratls_cert_verify(cert, &policy, &result, msg, sizeof msg), ARCA_ERR_ATTEST_MEASUREMENT);
    assert_string_equal(msg, "the TPM quote's PCR does not hold the claimed enclave identity (a quote over other "
                             "PCR values)");
    X509_free(cert);
    EVP_PKEY_free(tls_key);
    arca_sealing_free(s);
    free(ev);
    assert_no_tpm_handles(f);
}

/* A platform restart: swtpm stopped and started on the same state, so the
 * PCRs are reset and the persistent state (seed, counter) kept. */
static void reboot(fixture *f)
{
    uint8_t zero[32] = {0}, pcr[32];
    stop_swtpm(f);
    start_swtpm(f);
    pcr_value(f, pcr);
    assert_memory_equal(pcr, zero, 32);
}

/* The TPM refuses the seed to another signer and to a lower SVN, and the
 * refusal says which, with the TPM's own error named; the right image
 * unseals again after the next restart. */
static void test_refusal_explained(void **state)
{
    fixture *f = *state;
    arca_sealing *s = NULL;
    arca_enclave_identity other, older, newer;
    char path[160];
    struct stat sb;

    init_root(f); /* f->id: signer 0x11.., product 7, svn 5 */
    arca_sealing_free(open_ok(f));
    snprintf(path, sizeof path, "%s/tpm-seed.identity", f->state_dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 43);
    assert_int_equal(sb.st_mode & 0777, 0600);

    make_identity(&other, 0x22, 7, 5);
    reboot(f);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &other), ARCA_OK);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &other, &s), ARCA_ERR_SEED);
    assert_null(s);
    assert_non_null(strstr(log_text(f), "TPM_RC_POLICY_FAIL"));
    assert_non_null(strstr(log_text(f), "this enclave image is signed by another signer (2222"));
    assert_non_null(strstr(log_text(f), "than the one the seed was sealed for (1111"));
    /* The PCR holds `other` measured once: nothing else was extended. */
    assert_null(strstr(log_text(f), "something else was extended"));

    make_identity(&older, 0x11, 7, 4);
    reboot(f);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &older), ARCA_OK);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &older, &s), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "this enclave image has SVN 4, lower than SVN 5 that the seed was sealed "
                                        "for: a downgrade cannot unseal it"));
    assert_non_null(strstr(log_text(f), "TPM_RC_POLICY_FAIL"));

    make_identity(&newer, 0x11, 7, 6);
    reboot(f);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &newer), ARCA_OK);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &newer, &s), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "has SVN 6, the seed was sealed for SVN 5"));

    /* The right image after a restart: unseals. */
    reboot(f);
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_OK);
    arca_sealing_free(open_ok(f));

    /* Something else extended on top of it: the PCR is named as the cause,
     * and no identity is blamed (the record matches this image). */
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &other), ARCA_OK);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "PCR 15 holds "));
    assert_non_null(strstr(log_text(f), "something else was extended into it since the TPM was last reset"));
    assert_null(strstr(log_text(f), "another signer"));
    assert_null(strstr(log_text(f), "SVN"));

    /* A malformed record is ignored with a warning; the refusal still names
     * the PCR and the TPM's error. */
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fputs("garbage", fp) >= 0, 1);
    fclose(fp);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_SEED);
    assert_non_null(strstr(log_text(f), "tpm-seed.identity is malformed; ignoring it"));
    assert_non_null(strstr(log_text(f), "TPM_RC_POLICY_FAIL"));
    assert_no_tpm_handles(f);
}

/* The TPM unreachable after open (swtpm killed): counter and evidence fail
 * with ARCA_ERR_IO and a logged reason; sealing and unsealing (no TPM)
 * go on; once the TPM is back on the same state, all work again. */
static void test_tpm_goes_away(void **state)
{
    fixture *f = *state;
    arca_blob_meta m;
    uint8_t *blob = NULL, *ev = NULL, rd[ARCA_REPORT_DATA_LEN] = {9};
    size_t len = 0, ev_len = 0;
    uint64_t c0 = 0, c1 = 0;
    arca_evidence_claims claims;

    init_root(f);
    arca_sealing *s = open_ok(f);
    assert_int_equal(arca_sealing_counter_read(s, &c0), ARCA_OK);
    stop_swtpm(f);
    log_clear(f);
    assert_int_equal(arca_sealing_counter_increment(s, &c1), ARCA_ERR_IO);
    assert_int_equal(arca_sealing_evidence_create(s, rd, &ev, &ev_len), ARCA_ERR_IO);
    assert_null(ev);
    assert_non_null(strstr(log_text(f), "tpm: NV_Increment (counter) failed: TSS2 TCTI error"));
    meta_for(&m, 0x77);
    assert_int_equal(arca_sealing_seal(s, &m, k_aad, sizeof k_aad, k_pt, sizeof k_pt, &blob, &len), ARCA_OK);
    assert_int_equal(unseal_one(s, &m, blob, len), ARCA_OK);

    /* Back, PCRs reset (a restarted swtpm): the counter works again; a quote
     * now covers a PCR that no longer holds the identity, which the
     * verifier refuses. */
    start_swtpm(f);
    log_clear(f);
    arca_status st = arca_sealing_counter_increment(s, &c1);
    if (st != ARCA_OK) fail_msg("counter after the TPM came back: %s; log: %s", arca_status_name(st), log_text(f));
    assert_true(c1 > c0);
    assert_int_equal(arca_sealing_evidence_create(s, rd, &ev, &ev_len), ARCA_OK);
    assert_int_equal(arca_evidence_verify(ev, ev_len, rd, &claims), ARCA_ERR_ATTEST_MEASUREMENT);
    free(ev);
    ev = NULL;
    assert_int_equal(arca_sealing_tpm_extend_identity(&f->cfg, &f->id), ARCA_OK);
    assert_int_equal(arca_sealing_evidence_create(s, rd, &ev, &ev_len), ARCA_OK);
    assert_int_equal(arca_evidence_verify(ev, ev_len, rd, &claims), ARCA_OK);
    free(ev);
    free(blob);
    arca_sealing_free(s);
    assert_no_tpm_handles(f);
}

/* --- AK certificates --- */


/* A certificate for pub issued by (issuer, issuer_key); self-signed when
 * issuer is NULL (a CA). key_usage is the keyUsage extension value. */
static X509 *make_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *issuer_key, const char *key_usage)
{
    X509 *c = X509_new();
    assert_non_null(c);
    assert_int_equal(X509_set_version(c, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(c), (long)(random() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(c), -60);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    assert_int_equal(X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name), 1);
    assert_int_equal(X509_set_pubkey(c, pub), 1);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : c, c, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                             issuer == NULL ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_EXTENSION *ku = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, key_usage);
    assert_non_null(bc);
    assert_non_null(ku);
    X509_add_ext(c, bc, -1);
    X509_add_ext(c, ku, -1);
    X509_EXTENSION_free(bc);
    X509_EXTENSION_free(ku);
    assert_true(X509_sign(c, issuer_key, EVP_sha256()) > 0);
    return c;
}

static void write_pem(const char *path, X509 *cert)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, cert), 1);
    fclose(fp);
}

/* This TPM's AK public key, re-created with tpm2-tools from the same
 * template (as tests/tools/tpm-ak-enrol.sh does). */
static EVP_PKEY *tpm_ak_public(fixture *f)
{
    char ctx[128], pem[128], args[512], out[4096];
    snprintf(ctx, sizeof ctx, "%s/ak.ctx", f->dir);
    snprintf(pem, sizeof pem, "%s/ak.pem", f->dir);
    snprintf(args, sizeof args,
             "createprimary -C e -g sha256 -G ecc256:ecdsa-sha256:null -a "
             "'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|sign' -c %s",
             ctx);
    run_tool(f, args, out, sizeof out);
    snprintf(args, sizeof args, "readpublic -c %s -f pem -o %s", ctx, pem);
    run_tool(f, args, out, sizeof out);
    run_tool(f, "flushcontext -t", out, sizeof out);
    FILE *fp = fopen(pem, "r");
    assert_non_null(fp);
    EVP_PKEY *k = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    return k;
}

/* Evidence from a fresh open (which reads state_dir/tpm-ak.crt). */
static void evidence_now(fixture *f, const uint8_t rd[ARCA_REPORT_DATA_LEN], uint8_t **ev, size_t *ev_len)
{
    arca_evidence_claims claims;
    arca_sealing *s = open_ok(f);
    assert_int_equal(arca_sealing_evidence_create(s, rd, ev, ev_len), ARCA_OK);
    assert_int_equal(arca_evidence_verify(*ev, *ev_len, rd, &claims), ARCA_OK);
    arca_sealing_free(s);
}

static void test_ak_certificate(void **state)
{
    fixture *f = *state;
    uint8_t rd[ARCA_REPORT_DATA_LEN] = {7, 7, 7};
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    char msg[256], ca_path[128], other_ca_path[128], crt[160];
    arca_sealing *s = NULL;

    snprintf(ca_path, sizeof ca_path, "%s/ak-ca.pem", f->dir);
    snprintf(other_ca_path, sizeof other_ca_path, "%s/other-ca.pem", f->dir);
    snprintf(crt, sizeof crt, "%s/tpm-ak.crt", f->state_dir);
    EVP_PKEY *ca_key = new_p256(), *other_key = new_p256(), *stranger = new_p256();
    X509 *ca = make_cert("Arca test attestation CA", ca_key, NULL, ca_key, "critical,keyCertSign");
    X509 *other_ca = make_cert("Another CA", other_key, NULL, other_key, "critical,keyCertSign");
    write_pem(ca_path, ca);
    write_pem(other_ca_path, other_ca);
    init_root(f);
    EVP_PKEY *ak = tpm_ak_public(f);

    /* Not enrolled: no certificate in the evidence. */
    evidence_now(f, rd, &ev, &ev_len);
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, ca_path, msg, sizeof msg), ARCA_ERR_ATTEST_ATTESTER);
    assert_non_null(strstr(msg, "carries no AK certificate"));
    free(ev);

    /* Enrolled: the AK certified by the accepted CA. */
    X509 *good = make_cert("arca-tpm-ak", ak, ca, ca_key, "critical,digitalSignature");
    write_pem(crt, good);
    log_clear(f);
    evidence_now(f, rd, &ev, &ev_len);
    assert_non_null(strstr(log_text(f), "TPM evidence carries the AK certificate"));
    assert_null(strstr(log_text(f), "certifies another key"));
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, ca_path, msg, sizeof msg), ARCA_OK);
    assert_string_equal(msg, "");
    /* ... but not by another CA. */
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, other_ca_path, msg, sizeof msg),
                     ARCA_ERR_ATTEST_ATTESTER);
    assert_non_null(strstr(msg, "is not issued by the accepted AK CA"));
    /* Argument and file errors. */
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, "/nonexistent/ca.pem", msg, sizeof msg),
                     ARCA_ERR_CONFIG);
    assert_non_null(strstr(msg, "cannot read the accepted AK CA"));
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, NULL, msg, sizeof msg), ARCA_ERR_ARGS);
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len - 1, ca_path, msg, sizeof msg), ARCA_ERR_DECODE);
    uint8_t kind = ev[10];
    ev[10] = 1; /* not TPM evidence */
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, ca_path, msg, sizeof msg), ARCA_ERR_ARGS);
    ev[10] = kind;
    free(ev);

    /* Issued by another CA. */
    X509 *foreign = make_cert("arca-tpm-ak", ak, other_ca, other_key, "critical,digitalSignature");
    write_pem(crt, foreign);
    evidence_now(f, rd, &ev, &ev_len);
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, ca_path, msg, sizeof msg), ARCA_ERR_ATTEST_ATTESTER);
    assert_non_null(strstr(msg, "is not issued by the accepted AK CA"));
    free(ev);

    /* A certificate of the accepted CA for another key: the quote comes
     * from another TPM than the certified one. */
    X509 *elsewhere = make_cert("arca-tpm-ak", stranger, ca, ca_key, "critical,digitalSignature");
    write_pem(crt, elsewhere);
    log_clear(f);
    evidence_now(f, rd, &ev, &ev_len);
    assert_non_null(strstr(log_text(f), "certifies another key than this TPM's attestation key"));
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, ca_path, msg, sizeof msg), ARCA_ERR_ATTEST_ATTESTER);
    assert_non_null(strstr(msg, "certifies another key than the one that signed the quote"));
    free(ev);

    /* A certificate that does not allow signatures. */
    X509 *no_sign = make_cert("arca-tpm-ak", ak, ca, ca_key, "critical,keyEncipherment");
    write_pem(crt, no_sign);
    evidence_now(f, rd, &ev, &ev_len);
    assert_int_equal(arca_evidence_check_tpm_ak(ev, ev_len, ca_path, msg, sizeof msg), ARCA_ERR_ATTEST_ATTESTER);
    assert_non_null(strstr(msg, "does not allow digitalSignature"));
    free(ev);

    /* A malformed file: open refuses, naming it. */
    FILE *fp = fopen(crt, "w");
    assert_non_null(fp);
    fputs("not a certificate\n", fp);
    fclose(fp);
    log_clear(f);
    assert_int_equal(arca_sealing_open(&f->cfg, &f->id, &s), ARCA_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(log_text(f), "tpm-ak.crt is not one X.509 certificate"));

    X509_free(good);
    X509_free(foreign);
    X509_free(elsewhere);
    X509_free(no_sign);
    X509_free(ca);
    X509_free(other_ca);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(stranger);
    assert_no_tpm_handles(f);
}

/* 500 open / seal / unseal / counter / close cycles (evidence every 25th)
 * leave no transient object or session in the TPM. */
static void test_no_leak(void **state)
{
    fixture *f = *state;
    arca_blob_meta m;
    uint8_t rd[ARCA_REPORT_DATA_LEN] = {0};
    init_root(f);
    meta_for(&m, 0x5A);
    for (int i = 0; i < 500; i++) {
        arca_sealing *s = open_ok(f);
        uint8_t *blob = NULL;
        size_t len = 0;
        uint64_t c = 0;
        assert_int_equal(arca_sealing_seal(s, &m, k_aad, sizeof k_aad, k_pt, sizeof k_pt, &blob, &len), ARCA_OK);
        assert_int_equal(unseal_one(s, &m, blob, len), ARCA_OK);
        assert_int_equal(arca_sealing_counter_read(s, &c), ARCA_OK);
        if (i % 25 == 0) {
            uint8_t *ev = NULL;
            size_t ev_len = 0;
            rd[0] = (uint8_t)i;
            assert_int_equal(arca_sealing_evidence_create(s, rd, &ev, &ev_len), ARCA_OK);
            free(ev);
        }
        free(blob);
        arca_sealing_free(s);
    }
    assert_no_tpm_handles(f);
}

int main(void)
{
    /* ESAPI logs TPM errors to stderr itself; the backend logs them decoded. */
    setenv("TSS2_LOG", "all+NONE", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pcr_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initialise_and_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extend_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_after_pcr_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_explained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tpm_goes_away, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ak_certificate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
