/* Unit tests for the enclave launcher and the OCALL server
 * (appliance/src/launcher.c, ocall.c).
 *
 * Image checks use a dummy image signed with a fresh signer key. Spawning
 * uses this very test binary as the "enclave": run with `--channel-fd 3`
 * it acts as a fake enclave that checks its environment, makes OCALLs on
 * the store and answers START and SHUTDOWN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arca/builder.h"
#include "arca/channel.h"
#include "arca/image_sig.h"
#include "launcher.h"
#include "ocall.h"
#include "store_lmdb.h"

static char tmpdir[64];
static char key_path[128], image_path[128], sig_path[128];
static const uint8_t image_bytes[] = "not really an enclave image, but signed like one";

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0700);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    assert_true(n >= 0);
    close(fd);
    return (size_t)n;
}

static void sign_file(const char *img, const char *sig)
{
    static uint8_t buf[64u << 20];
    size_t n = read_file(img, buf, sizeof buf);
    uint8_t *s = NULL;
    size_t s_len = 0;
    assert_int_equal(arca_image_sign(buf, n, key_path, 1, 3, false, &s, &s_len), ARCA_OK);
    write_file(sig, s, s_len);
    free(s);
}

static int group_setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/arca-test-launcher-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) return -1;
    snprintf(key_path, sizeof key_path, "%s/signer.pem", tmpdir);
    snprintf(image_path, sizeof image_path, "%s/arca-enclave", tmpdir);
    snprintf(sig_path, sizeof sig_path, "%s/arca-enclave.sig", tmpdir);
    if (arca_image_signer_genkey(key_path) != ARCA_OK) return -1;
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int fresh_image(void **state)
{
    write_file(image_path, image_bytes, sizeof image_bytes);
    sign_file(image_path, sig_path);
    return 0;
}

static void test_verify_ok(void **state)
{
    arca_enclave_image img;
    char err[ARCA_LAUNCHER_ERR_LEN] = "";
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, NULL, &img, err, sizeof err), ARCA_OK);
    assert_true(img.image_fd >= 0);
    assert_int_equal(img.id.product_id, 1);
    assert_int_equal(img.id.svn, 3);
    assert_false(img.id.debug);
    assert_string_equal(img.path, image_path);
    /* with the right signer too */
    uint8_t signer[32];
    memcpy(signer, img.id.signer_id, 32);
    arca_enclave_image_cleanup(&img);
    assert_int_equal(img.image_fd, -1);
    arca_enclave_image_cleanup(&img);
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, signer, &img, err, sizeof err), ARCA_OK);
    arca_enclave_image_cleanup(&img);
}

static void test_tampered_image(void **state)
{
    uint8_t bad[sizeof image_bytes];
    memcpy(bad, image_bytes, sizeof bad);
    bad[3] ^= 1;
    write_file(image_path, bad, sizeof bad);
    arca_enclave_image img = {.image_fd = -1};
    char err[ARCA_LAUNCHER_ERR_LEN] = "";
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, NULL, &img, err, sizeof err),
                     ARCA_ERR_IMAGE_MEASUREMENT);
    assert_int_equal(img.image_fd, -1);

    uint8_t actual[32], signed_m[32];
    unsigned int md_len;
    assert_int_equal(EVP_Digest(bad, sizeof bad, actual, &md_len, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_Digest(image_bytes, sizeof image_bytes, signed_m, &md_len, EVP_sha256(), NULL), 1);
    char h1[65], h2[65], expect[512];
    arca_hex(actual, 32, h1);
    arca_hex(signed_m, 32, h2);
    snprintf(expect, sizeof expect, "enclave image %s: measurement mismatch (image sha256 %s, signature says %s)",
             image_path, h1, h2);
    assert_string_equal(err, expect);
}

static void test_tampered_signature(void **state)
{
    uint8_t sig[ARCA_IMAGE_SIG_MAX];
    size_t n = read_file(sig_path, sig, sizeof sig);
    sig[n - 5] ^= 0x40; /* inside the Ed25519 signature */
    write_file(sig_path, sig, n);
    arca_enclave_image img = {.image_fd = -1};
    char err[ARCA_LAUNCHER_ERR_LEN] = "";
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, NULL, &img, err, sizeof err),
                     ARCA_ERR_IMAGE_SIGNATURE);
    char expect[512];
    snprintf(expect, sizeof expect, "enclave image %s: signature %s does not verify", image_path, sig_path);
    assert_string_equal(err, expect);

    /* a signed field changed (svn), signature left alone */
    fresh_image(state);
    n = read_file(sig_path, sig, sizeof sig);
    sig[8 + 2 + 32 + 32 + 2 + 1] ^= 1;
    write_file(sig_path, sig, n);
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, NULL, &img, err, sizeof err),
                     ARCA_ERR_IMAGE_SIGNATURE);

    /* truncated */
    write_file(sig_path, sig, 20);
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, NULL, &img, err, sizeof err), ARCA_ERR_DECODE);
    snprintf(expect, sizeof expect, "enclave image %s: signature file %s is malformed", image_path, sig_path);
    assert_string_equal(err, expect);
}

static void test_wrong_signer(void **state)
{
    uint8_t other[32];
    memset(other, 0x5a, sizeof other);
    arca_enclave_image img = {.image_fd = -1};
    char err[ARCA_LAUNCHER_ERR_LEN] = "";
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, other, &img, err, sizeof err),
                     ARCA_ERR_IMAGE_SIGNER);
    assert_non_null(strstr(err, ": signer mismatch (signed by "));
    assert_non_null(strstr(err, ", enclave_signer is 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a)"));
}

static void test_missing_and_oversized_files(void **state)
{
    arca_enclave_image img = {.image_fd = -1};
    char err[ARCA_LAUNCHER_ERR_LEN] = "";
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.sig", tmpdir);
    assert_int_equal(arca_enclave_image_load(image_path, missing, NULL, &img, err, sizeof err), ARCA_ERR_IO);
    char expect[512];
    snprintf(expect, sizeof expect, "enclave signature %s: cannot open: No such file or directory", missing);
    assert_string_equal(err, expect);
    snprintf(missing, sizeof missing, "%s/nope", tmpdir);
    assert_int_equal(arca_enclave_image_load(missing, sig_path, NULL, &img, err, sizeof err), ARCA_ERR_IO);
    /* a directory is not an image */
    assert_int_equal(arca_enclave_image_load(tmpdir, sig_path, NULL, &img, err, sizeof err), ARCA_ERR_IO);

    static uint8_t big[ARCA_IMAGE_SIG_MAX + 1];
    write_file(sig_path, big, sizeof big);
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, NULL, &img, err, sizeof err), ARCA_ERR_TOO_LARGE);
    assert_int_equal(img.image_fd, -1);
}

/* --- the OCALL server, over a socketpair with a real store --- */

typedef struct store_fx {
    char dir[160];
    arca_store_lmdb *s;
    const arca_store_ops *ops;
} store_fx;

static void store_open(store_fx *f)
{
    snprintf(f->dir, sizeof f->dir, "%s/store", tmpdir);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(arca_store_lmdb_open(f->dir, 16u << 20, ARCA_STORE_LMDB_CREATE, &f->s), ARCA_OK);
    f->ops = arca_store_lmdb_ops(f->s);
}

/* Send a request frame to arca_ocall_serve and collect the reply. */
static arca_status serve_one(const arca_store_ops *ops, uint16_t type, const uint8_t *payload, size_t len,
                             arca_status *out_status, uint8_t **out_reply, size_t *out_len)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    arca_frame_header h = {.type = type, .flags = 0, .request_id = 77, .payload_len = (uint32_t)len};
    arca_status st = arca_ocall_serve(ops, sv[0], &h, payload);
    if (st == ARCA_OK) {
        arca_frame_header rh;
        uint8_t *p = NULL;
        int fd = -1;
        assert_int_equal(arca_channel_recv(sv[1], &rh, &p, &fd), ARCA_OK);
        assert_int_equal(rh.type, type);
        assert_int_equal(rh.flags, ARCA_FRAME_REPLY);
        assert_int_equal(rh.request_id, 77);
        assert_int_equal(fd, -1);
        const uint8_t *body;
        size_t body_len;
        assert_int_equal(arca_ocall_reply_split(p, rh.payload_len, out_status, &body, &body_len), ARCA_OK);
        *out_reply = malloc(body_len + 1);
        if (body_len > 0) memcpy(*out_reply, body, body_len);
        *out_len = body_len;
        free(p);
    }
    close(sv[0]);
    close(sv[1]);
    return st;
}

static void test_ocall_serve(void **state)
{
    store_fx f;
    store_open(&f);
    arca_builder b;
    uint8_t *req = NULL, *reply = NULL;
    size_t req_len = 0, reply_len = 0;
    arca_status status;

    /* commit two puts */
    arca_store_op ops[2] = {
        {.kind = ARCA_STORE_PUT, .db = ARCA_DB_BLOBS, .key = (const uint8_t *)"k1", .key_len = 2,
         .val = (const uint8_t *)"value-1", .val_len = 7},
        {.kind = ARCA_STORE_PUT, .db = ARCA_DB_BLOBS, .key = (const uint8_t *)"k2", .key_len = 2,
         .val = (const uint8_t *)"value-2", .val_len = 7},
    };
    assert_int_equal(arca_builder_init(&b, 64, 1u << 20), ARCA_OK);
    assert_int_equal(arca_store_commit_req_encode(&b, ops, 2), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &req, &req_len), ARCA_OK);
    assert_int_equal(serve_one(f.ops, ARCA_OCALL_STORE_COMMIT, req, req_len, &status, &reply, &reply_len), ARCA_OK);
    assert_int_equal(status, ARCA_OK);
    assert_int_equal(reply_len, 0);
    free(req);
    free(reply);

    /* get: u32-prefixed value */
    assert_int_equal(arca_builder_init(&b, 64, 1024), ARCA_OK);
    assert_int_equal(arca_store_get_req_encode(&b, ARCA_DB_BLOBS, (const uint8_t *)"k2", 2), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &req, &req_len), ARCA_OK);
    assert_int_equal(serve_one(f.ops, ARCA_OCALL_STORE_GET, req, req_len, &status, &reply, &reply_len), ARCA_OK);
    assert_int_equal(status, ARCA_OK);
    assert_int_equal(reply_len, 4 + 7);
    assert_memory_equal(reply, "\0\0\0\x07value-2", 11);
    free(req);
    free(reply);

    /* get of a missing key: NOT_FOUND, no body */
    assert_int_equal(arca_builder_init(&b, 64, 1024), ARCA_OK);
    assert_int_equal(arca_store_get_req_encode(&b, ARCA_DB_STATE, (const uint8_t *)"k2", 2), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &req, &req_len), ARCA_OK);
    assert_int_equal(serve_one(f.ops, ARCA_OCALL_STORE_GET, req, req_len, &status, &reply, &reply_len), ARCA_OK);
    assert_int_equal(status, ARCA_ERR_NOT_FOUND);
    assert_int_equal(reply_len, 0);
    free(reply);

    /* trailing garbage after a valid request: the enclave is broken */
    uint8_t *longer = malloc(req_len + 1);
    memcpy(longer, req, req_len);
    longer[req_len] = 0;
    assert_int_equal(serve_one(f.ops, ARCA_OCALL_STORE_GET, longer, req_len + 1, &status, &reply, &reply_len),
                     ARCA_ERR_DECODE);
    free(longer);
    free(req);

    /* scan with values */
    arca_store_scan_req sr = {.db = ARCA_DB_BLOBS, .prefix = (const uint8_t *)"k", .prefix_len = 1, .limit = 10,
                              .with_values = true, .reverse = true};
    assert_int_equal(arca_builder_init(&b, 64, 1024), ARCA_OK);
    assert_int_equal(arca_store_scan_req_encode(&b, &sr), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &req, &req_len), ARCA_OK);
    assert_int_equal(serve_one(f.ops, ARCA_OCALL_STORE_SCAN, req, req_len, &status, &reply, &reply_len), ARCA_OK);
    assert_int_equal(status, ARCA_OK);
    arca_cursor c;
    arca_cursor_init(&c, reply, reply_len);
    arca_store_entry *e = NULL;
    size_t n = 0;
    assert_int_equal(arca_store_scan_reply_decode(&c, 10, &e, &n), ARCA_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(e[0].key, "k2", 2);
    assert_memory_equal(e[1].val, "value-1", 7);
    arca_store_entries_free(e, n);
    free(req);
    free(reply);

    /* not an OCALL: frame type error */
    assert_int_equal(serve_one(f.ops, ARCA_ECALL_START, NULL, 0, &status, &reply, &reply_len), ARCA_ERR_FRAME_TYPE);
    /* a malformed commit */
    const uint8_t junk[] = {0, 0, 0, 1, 9};
    assert_int_equal(serve_one(f.ops, ARCA_OCALL_STORE_COMMIT, junk, sizeof junk, &status, &reply, &reply_len) !=
                         ARCA_OK,
                     true);
    arca_store_lmdb_close(f.s);
}

/* --- spawning the fake enclave --- */

static int fake_enclave(void)
{
    /* Only 0, 1, 2 and the channel on 3 may be open. */
    for (int fd = 4; fd < 256; fd++)
        if (fcntl(fd, F_GETFD) != -1) return 3;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM) return 4;
    struct rlimit rl;
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0) return 5;

    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    if (arca_channel_recv(3, &h, &p, &fd) != ARCA_OK || h.type != ARCA_ECALL_START) return 6;
    arca_cursor c;
    arca_cursor_init(&c, p, h.payload_len);
    arca_start_params sp;
    char strbuf[8192];
    if (arca_start_params_decode(&c, &sp, strbuf, sizeof strbuf) != ARCA_OK) return 7;
    if (strcmp(sp.sealing_mode, "dev") != 0 || sp.max_connections != 7 || sp.cache_bytes != 1234 ||
        sp.image_sig_len == 0)
        return 8;
    uint32_t start_id = h.request_id;
    bool refuse = strcmp(sp.state_dir, "/seed-missing") == 0;
    /* "/as-nobody": privileges must have been dropped, for good */
    if (strcmp(sp.state_dir, "/as-nobody") == 0) {
        struct passwd *pw = getpwnam("nobody");
        if (pw == NULL || getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid) return 14;
        if (setuid(0) == 0) return 15;
    }

    /* an OCALL while START is pending: store something */
    arca_store_op op = {.kind = ARCA_STORE_PUT, .db = ARCA_DB_STATE, .key = (const uint8_t *)"started",
                        .key_len = 7, .val = (const uint8_t *)"yes", .val_len = 3};
    arca_builder b;
    uint8_t *req = NULL;
    size_t req_len = 0;
    if (arca_builder_init(&b, 64, 4096) != ARCA_OK || arca_store_commit_req_encode(&b, &op, 1) != ARCA_OK ||
        arca_builder_finish(&b, &req, &req_len) != ARCA_OK)
        return 9;
    if (arca_channel_send(3, ARCA_OCALL_STORE_COMMIT, 0, 1, req, req_len, -1) != ARCA_OK) return 10;
    free(p);
    if (arca_channel_recv(3, &h, &p, &fd) != ARCA_OK || h.flags != ARCA_FRAME_REPLY || h.request_id != 1 ||
        h.payload_len != 4 || memcmp(p, "\0\0\0\0", 4) != 0)
        return 11;
    free(p);
    free(req);

    uint8_t reply[4] = {0, 0, 0, refuse ? (uint8_t)ARCA_ERR_SEED : 0};
    if (arca_channel_send(3, ARCA_ECALL_START, ARCA_FRAME_REPLY, start_id, reply, 4, -1) != ARCA_OK) return 12;
    if (refuse) return 1;
    if (arca_channel_recv(3, &h, &p, &fd) != ARCA_OK || h.type != ARCA_ECALL_SHUTDOWN) return 13;
    free(p);
    return 0;
}

static void spawn_and_start(const char *state_dir, const char *user, arca_status expect_enclave, int expect_exit)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    char self_sig[160];
    snprintf(self_sig, sizeof self_sig, "%s/self.sig", tmpdir);
    sign_file(self, self_sig);

    arca_enclave_image img;
    char err[ARCA_LAUNCHER_ERR_LEN] = "";
    assert_int_equal(arca_enclave_image_load(self, self_sig, NULL, &img, err, sizeof err), ARCA_OK);
    store_fx f;
    store_open(&f);

    /* a stray descriptor that must not reach the child */
    int stray = open("/dev/null", O_RDONLY);
    assert_true(stray >= 0);
    arca_launch_params lp = {.image = &img, .user = user, .cache_bytes = 1234};
    arca_enclave_proc proc;
    assert_int_equal(arca_enclave_spawn(&lp, &proc), ARCA_OK);
    close(stray);

    arca_start_params sp = {.sealing_mode = "dev", .state_dir = state_dir, .image_sig = img.sig,
                            .image_sig_len = img.sig_len, .cache_bytes = 1234, .max_connections = 7};
    arca_builder b;
    uint8_t *payload = NULL;
    size_t len = 0;
    assert_int_equal(arca_builder_init(&b, 256, 65536), ARCA_OK);
    assert_int_equal(arca_start_params_encode(&sp, &b), ARCA_OK);
    assert_int_equal(arca_builder_finish(&b, &payload, &len), ARCA_OK);
    arca_status enclave_st = ARCA_ERR_INTERNAL;
    assert_int_equal(arca_ocall_ecall(f.ops, proc.chan_fd, ARCA_ECALL_START, 5, payload, len, 10000, &enclave_st,
                                      NULL, NULL),
                     ARCA_OK);
    free(payload);
    assert_int_equal(enclave_st, expect_enclave);
    if (expect_enclave == ARCA_OK)
        assert_int_equal(arca_channel_send(proc.chan_fd, ARCA_ECALL_SHUTDOWN, 0, 6, NULL, 0, -1), ARCA_OK);
    int status = 0;
    assert_int_equal(waitpid(proc.pid, &status, 0), proc.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), expect_exit);
    close(proc.chan_fd);

    /* the OCALL made during START reached the store */
    uint8_t *v = NULL;
    size_t v_len = 0;
    assert_int_equal(f.ops->get(f.ops->ctx, ARCA_DB_STATE, (const uint8_t *)"started", 7, &v, &v_len), ARCA_OK);
    assert_int_equal(v_len, 3);
    free(v);
    arca_store_lmdb_close(f.s);
    arca_enclave_image_cleanup(&img);
}

static void test_spawn_start_shutdown(void **state)
{
    spawn_and_start("/var/lib/arca-test", NULL, ARCA_OK, 0);
}

static void test_spawn_enclave_refuses(void **state)
{
    spawn_and_start("/seed-missing", NULL, ARCA_ERR_SEED, 1);
}

static void test_spawn_drops_privileges(void **state)
{
    if (geteuid() != 0) {
        skip();
    }
    spawn_and_start("/as-nobody", "nobody", ARCA_OK, 0);
}

static void test_spawn_exec_failure(void **state)
{
    /* an image that is not executable: exec fails and is reported */
    arca_enclave_image img;
    char err[ARCA_LAUNCHER_ERR_LEN] = "";
    assert_int_equal(arca_enclave_image_load(image_path, sig_path, NULL, &img, err, sizeof err), ARCA_OK);
    arca_launch_params lp = {.image = &img, .user = NULL, .cache_bytes = 0};
    arca_enclave_proc proc = {.pid = -1, .chan_fd = -1};
    assert_int_equal(arca_enclave_spawn(&lp, &proc), ARCA_ERR_IO);
    assert_int_equal(proc.pid, -1);
    arca_enclave_image_cleanup(&img);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--channel-fd") == 0 && strcmp(argv[2], "3") == 0) return fake_enclave();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_verify_ok, fresh_image),
        cmocka_unit_test_setup(test_tampered_image, fresh_image),
        cmocka_unit_test_setup(test_tampered_signature, fresh_image),
        cmocka_unit_test_setup(test_wrong_signer, fresh_image),
        cmocka_unit_test_setup(test_missing_and_oversized_files, fresh_image),
        cmocka_unit_test(test_ocall_serve),
        cmocka_unit_test(test_spawn_start_shutdown),
        cmocka_unit_test(test_spawn_enclave_refuses),
        cmocka_unit_test(test_spawn_drops_privileges),
        cmocka_unit_test_setup(test_spawn_exec_failure, fresh_image),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
