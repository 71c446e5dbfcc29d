/* The `dev` sealing backend: the platform root is a 32-byte seed in a 0600
 * file. Anyone who can read that file can unseal everything, so this mode
 * is for development and quick start only, and says so loudly.
 *
 * Files in state_dir:
 *   dev-seed        32 random bytes, mode 0600
 *   dev-counter     u64 big-endian monotonic counter
 *   dev-attest.pem  Ed25519 private key that signs (insecure) evidence
 * All three are opened at start-up; the counter fd stays open because the
 * enclave may not open files after start-up. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/log.h"
#include "arca/secret.h"
#include "sealing_internal.h"

#define DEV_SEED_FILE "dev-seed"
#define DEV_COUNTER_FILE "dev-counter"
#define DEV_ATTEST_FILE "dev-attest.pem"
#define DEV_SEED_LEN 32u

typedef struct dev_state {
    arca_secret seed;
    pthread_mutex_t counter_lock; /* counter_fd and counter */
    int counter_fd;
    uint64_t counter;
    EVP_PKEY *attest_key;
} dev_state;

static arca_status open_dir(const char *state_dir, int *out_fd)
{
    if (state_dir == NULL || state_dir[0] == '\0') {
        ARCA_ERROR("dev sealing: no state directory configured");
        return ARCA_ERR_CONFIG;
    }
    int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        ARCA_ERROR("dev sealing: cannot open state directory %s: %s", state_dir, strerror(errno));
        return errno == ENOENT ? ARCA_ERR_SEED : ARCA_ERR_IO;
    }
    *out_fd = fd;
    return ARCA_OK;
}

/* Open a root-of-trust file that must be a private regular file.
 * Failures are ARCA_ERR_SEED, logged with the file and the problem. */
static arca_status open_private_file(int dirfd, const char *state_dir, const char *name, int flags,
                                     off_t expect_size, int *out_fd)
{
    struct stat sb;
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        const char *what = e == ENOENT   ? "missing"
                           : e == ELOOP  ? "is a symbolic link"
                           : e == EACCES ? "unreadable (permission denied)"
                           : e == EISDIR ? "not a regular file (a directory)"
                                         : strerror(e);
        ARCA_ERROR("dev sealing: %s/%s: %s", state_dir, name, what);
        return ARCA_ERR_SEED;
    }
    if (fstat(fd, &sb) != 0) {
        ARCA_ERROR("dev sealing: %s/%s: cannot stat: %s", state_dir, name, strerror(errno));
        close(fd);
        return ARCA_ERR_SEED;
    }
    if (!S_ISREG(sb.st_mode)) {
        ARCA_ERROR("dev sealing: %s/%s: not a regular file", state_dir, name);
        close(fd);
        return ARCA_ERR_SEED;
    }
    if ((sb.st_mode & 077) != 0) {
        char mode[8]; /* arca_log has no %o */
        snprintf(mode, sizeof mode, "%04o", (unsigned)(sb.st_mode & 07777));
        ARCA_ERROR("dev sealing: %s/%s: mode %s is accessible to group/other (must be 0600)", state_dir, name,
                   mode);
        close(fd);
        return ARCA_ERR_SEED;
    }
    if (expect_size >= 0 && sb.st_size != expect_size) {
        ARCA_ERROR("dev sealing: %s/%s: wrong size %lld bytes (expected %lld)", state_dir, name,
                   (long long)sb.st_size, (long long)expect_size);
        close(fd);
        return ARCA_ERR_SEED;
    }
    /* Clear O_NONBLOCK (used only so that opening a FIFO cannot hang). */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        close(fd);
        return ARCA_ERR_IO;
    }
    *out_fd = fd;
    return ARCA_OK;
}

static arca_status read_full(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return ARCA_ERR_IO;
        done += (size_t)r;
    }
    return ARCA_OK;
}

static arca_status write_full(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, buf + done, len - done, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return ARCA_ERR_IO;
        done += (size_t)r;
    }
    return ARCA_OK;
}

static void dev_close(void *state)
{
    dev_state *d = state;
    if (d == NULL) return;
    arca_secret_free(&d->seed);
    if (d->counter_fd >= 0) close(d->counter_fd);
    pthread_mutex_destroy(&d->counter_lock);
    EVP_PKEY_free(d->attest_key);
    free(d);
}

static arca_status dev_open(const arca_sealing_config *cfg, const arca_enclave_identity *self, void **out_state)
{
    (void)self; /* the dev seed is not bound to an identity; the key derivation is (sealing.c) */
    arca_status st = ARCA_OK;
    dev_state *d = NULL;
    int dirfd = -1, fd = -1;
    uint8_t ctr[8];
    struct stat sb;

    ARCA_GUARD(open_dir(cfg->state_dir, &dirfd));
    d = calloc(1, sizeof *d);
    ARCA_ENSURE_OUT(d != NULL, ARCA_ERR_NOMEM);
    d->counter_fd = -1;
    pthread_mutex_init(&d->counter_lock, NULL);

    /* The seed: straight from the file into secret memory. */
    ARCA_GUARD_OUT(open_private_file(dirfd, cfg->state_dir, DEV_SEED_FILE, O_RDONLY, DEV_SEED_LEN, &fd));
    ARCA_GUARD_OUT(arca_secret_alloc(&d->seed, DEV_SEED_LEN));
    if (read_full(fd, d->seed.data, DEV_SEED_LEN) != ARCA_OK) {
        ARCA_ERROR("dev sealing: %s/%s: unreadable (short read)", cfg->state_dir, DEV_SEED_FILE);
        st = ARCA_ERR_SEED;
        goto out;
    }
    close(fd);
    fd = -1;

    /* The counter: kept open for the life of the backend. */
    /* O_NONBLOCK: a FIFO planted here cannot hang start-up (no effect on a
     * regular file, which is all that is accepted below). */
    d->counter_fd = openat(dirfd, DEV_COUNTER_FILE, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (d->counter_fd < 0) {
        ARCA_ERROR("dev sealing: %s/%s: cannot open: %s", cfg->state_dir, DEV_COUNTER_FILE, strerror(errno));
        st = ARCA_ERR_IO;
        goto out;
    }
    if (fstat(d->counter_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ARCA_ERROR("dev sealing: %s/%s: not a regular file", cfg->state_dir, DEV_COUNTER_FILE);
        st = ARCA_ERR_IO;
        goto out;
    }
    if (sb.st_size != (off_t)sizeof ctr) {
        ARCA_ERROR("dev sealing: %s/%s: wrong size %lld bytes (expected 8)", cfg->state_dir, DEV_COUNTER_FILE,
                   (long long)sb.st_size);
        st = ARCA_ERR_DECODE;
        goto out;
    }
    ARCA_GUARD_OUT(read_full(d->counter_fd, ctr, sizeof ctr));
    arca_cursor c;
    arca_cursor_init(&c, ctr, sizeof ctr);
    ARCA_GUARD_OUT(arca_cursor_get_u64(&c, &d->counter));
    ARCA_GUARD_OUT(arca_cursor_finish(&c));

    /* The attestation key. */
    ARCA_GUARD_OUT(open_private_file(dirfd, cfg->state_dir, DEV_ATTEST_FILE, O_RDONLY, -1, &fd));
    st = arca_ed25519_load_fd(fd, &d->attest_key);
    fd = -1; /* consumed */
    if (st != ARCA_OK) {
        ARCA_ERROR("dev sealing: %s/%s: not an Ed25519 private key in PEM (%s)", cfg->state_dir, DEV_ATTEST_FILE,
                   arca_status_name(st));
        goto out;
    }

    ARCA_WARN("sealing mode 'dev' is INSECURE: the platform seed is a plain file (%s/%s); anyone who can read "
              "it can unseal every key. Evidence from this appliance is marked insecure. Use only for "
              "development.",
              cfg->state_dir, DEV_SEED_FILE);
    *out_state = d;
    d = NULL;
out:
    if (fd >= 0) close(fd);
    if (dirfd >= 0) close(dirfd);
    dev_close(d);
    return st;
}

static const arca_secret *dev_seed(void *state)
{
    return &((dev_state *)state)->seed;
}

static arca_status dev_counter_read(void *state, uint64_t *out)
{
    dev_state *d = state;
    pthread_mutex_lock(&d->counter_lock);
    *out = d->counter;
    pthread_mutex_unlock(&d->counter_lock);
    return ARCA_OK;
}

/* The file is the truth: memory moves only after pwrite + fsync succeed. */
static arca_status counter_increment_locked(dev_state *d, uint64_t *out_new)
{
    uint8_t buf[8];
    arca_builder b;

    ARCA_ENSURE(d->counter != UINT64_MAX, ARCA_ERR_INTERNAL);
    uint64_t next = d->counter + 1;
    arca_builder_init_fixed(&b, buf, sizeof buf);
    ARCA_GUARD(arca_builder_add_u64(&b, next));
    if (write_full(d->counter_fd, buf, sizeof buf) != ARCA_OK || fsync(d->counter_fd) != 0) {
        ARCA_ERROR("dev sealing: cannot update %s durably: %s", DEV_COUNTER_FILE, strerror(errno));
        return ARCA_ERR_IO;
    }
    d->counter = next;
    *out_new = next;
    return ARCA_OK;
}

static arca_status dev_counter_increment(void *state, uint64_t *out_new)
{
    dev_state *d = state;
    pthread_mutex_lock(&d->counter_lock);
    arca_status st = counter_increment_locked(d, out_new);
    pthread_mutex_unlock(&d->counter_lock);
    return st;
}

static arca_status dev_evidence_create(void *state, const arca_enclave_identity *id,
                                       const uint8_t report_data[ARCA_REPORT_DATA_LEN], uint8_t **out,
                                       size_t *out_len)
{
    dev_state *d = state;
    return arca_evidence_build(ARCA_EVIDENCE_KIND_DEV, id, report_data, d->attest_key, out, out_len);
}

/* Create name with O_EXCL and write data; fsync. */
static arca_status create_file(int dirfd, const char *state_dir, const char *name, const uint8_t *data,
                               size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        ARCA_ERROR("dev sealing: cannot create %s/%s: %s", state_dir, name, strerror(e));
        return e == EEXIST ? ARCA_ERR_EXISTS : ARCA_ERR_IO;
    }
    arca_status st = ARCA_OK;
    if (fchmod(fd, 0600) != 0 || write_full(fd, data, len) != ARCA_OK || fsync(fd) != 0) {
        ARCA_ERROR("dev sealing: cannot write %s/%s: %s", state_dir, name, strerror(errno));
        st = ARCA_ERR_IO;
        (void)unlinkat(dirfd, name, 0);
    }
    close(fd);
    return st;
}

static arca_status dev_initialise(const arca_sealing_config *cfg)
{
    arca_status st = ARCA_OK;
    int dirfd = -1;
    arca_secret seed = {0};
    uint8_t zero[8] = {0};
    bool made_seed = false, made_counter = false;

    if (cfg->state_dir != NULL && cfg->state_dir[0] != '\0' && mkdir(cfg->state_dir, 0700) != 0 &&
        errno != EEXIST) {
        ARCA_ERROR("dev sealing: cannot create state directory %s: %s", cfg->state_dir, strerror(errno));
        return ARCA_ERR_IO;
    }
    ARCA_GUARD(open_dir(cfg->state_dir, &dirfd));

    /* The seed is created first and never overwritten: O_EXCL makes a
     * second initialise fail before it touches anything. */
    ARCA_GUARD_OUT(arca_secret_alloc(&seed, DEV_SEED_LEN));
    ARCA_ENSURE_OUT(RAND_priv_bytes(seed.data, (int)seed.len) == 1, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OUT(create_file(dirfd, cfg->state_dir, DEV_SEED_FILE, seed.data, seed.len));
    made_seed = true;
    ARCA_GUARD_OUT(create_file(dirfd, cfg->state_dir, DEV_COUNTER_FILE, zero, sizeof zero));
    made_counter = true;
    st = arca_ed25519_generate_file(dirfd, DEV_ATTEST_FILE);
    if (st != ARCA_OK) {
        ARCA_ERROR("dev sealing: cannot create %s/%s (%s)", cfg->state_dir, DEV_ATTEST_FILE, arca_status_name(st));
        goto out;
    }
    if (fsync(dirfd) != 0) {
        ARCA_ERROR("dev sealing: cannot fsync %s: %s", cfg->state_dir, strerror(errno));
        st = ARCA_ERR_IO;
        (void)unlinkat(dirfd, DEV_ATTEST_FILE, 0);
        goto out;
    }
    ARCA_WARN("sealing mode 'dev' initialised in %s: this platform root is INSECURE (a plain seed file)",
              cfg->state_dir);
out:
    /* Leave nothing half-made behind, so that initialise can be retried. */
    if (st != ARCA_OK && made_counter) (void)unlinkat(dirfd, DEV_COUNTER_FILE, 0);
    if (st != ARCA_OK && made_seed) (void)unlinkat(dirfd, DEV_SEED_FILE, 0);
    arca_secret_free(&seed);
    if (dirfd >= 0) close(dirfd);
    return st;
}

const sealing_backend_ops arca_sealing_dev_ops = {
    .name = "dev",
    .insecure = true,
    .initialise = dev_initialise,
    .open = dev_open,
    .close = dev_close,
    .seed = dev_seed,
    .counter_read = dev_counter_read,
    .counter_increment = dev_counter_increment,
    .evidence_create = dev_evidence_create,
};
