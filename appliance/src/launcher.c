/* Enclave launcher. See launcher.h. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arca/cursor.h"
#include "arca/log.h"



static arca_status errf(arca_status st, char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static arca_status errf(arca_status st, char *err, size_t err_len, const char *fmt, ...)
{
    if (err != NULL && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Read a whole regular file of at most max bytes from fd. */
static arca_status read_fd_all(int fd, size_t max, uint8_t **out, size_t *out_len, int *out_errno)
{
    struct stat sb;
    *out_errno = 0;
    if (fstat(fd, &sb) != 0) {
        *out_errno = errno;
        return ARCA_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        *out_errno = EINVAL;
        return ARCA_ERR_IO;
    }
    if ((uint64_t)sb.st_size > max) return ARCA_ERR_TOO_LARGE;
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) return ARCA_ERR_NOMEM;
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            *out_errno = r < 0 ? errno : EIO;
            free(buf);
            return ARCA_ERR_IO;
        }
        got += (size_t)r;
    }
    *out = buf;
    *out_len = size;
    return ARCA_OK;
}

static arca_status open_and_read(const char *what, const char *path, size_t max, int *out_fd, uint8_t **out,
                                 size_t *out_len, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return errf(ARCA_ERR_IO, err, err_len, "%s %s: cannot open: %s", what, path, strerror(e));
    }
    int e = 0;
    arca_status st = read_fd_all(fd, max, out, out_len, &e);
    if (st == ARCA_ERR_TOO_LARGE) {
        (void)errf(st, err, err_len, "%s %s: larger than %zu bytes", what, path, max);
    } else if (st == ARCA_ERR_IO) {
        (void)errf(st, err, err_len, "%s %s: cannot read: %s", what, path,
                   e == EINVAL ? "not a regular file" : strerror(e));
    } else if (st != ARCA_OK) {
        (void)errf(st, err, err_len, "%s %s: %s", what, path, arca_status_message(st));
    }
    if (st != ARCA_OK || out_fd == NULL) {
        close(fd);
        return st;
    }
    *out_fd = fd;
    return ARCA_OK;
}

/* Pull the signed measurement and signer id out of a signature structure
 * (only for the error message; arca_image_verify is the real check). */
static bool sig_claims(const uint8_t *sig, size_t sig_len, uint8_t measurement[32], uint8_t signer[32])
{
    arca_cursor c;
    arca_cursor_init(&c, sig, sig_len);
    const uint8_t *magic;
    uint16_t format;
    if (arca_cursor_get_bytes(&c, 8, &magic) != ARCA_OK || memcmp(magic, "ARCASIG1", 8) != 0) return false;
    if (arca_cursor_get_u16(&c, &format) != ARCA_OK) return false;
    if (arca_cursor_copy_bytes(&c, measurement, 32) != ARCA_OK) return false;
    if (arca_cursor_copy_bytes(&c, signer, 32) != ARCA_OK) return false;
    return true;
}

arca_status arca_enclave_image_load(const char *image_path, const char *sig_path, const uint8_t *expected_signer,
                                    arca_enclave_image *out, char *err, size_t err_len)
{
    ARCA_ENSURE(image_path != NULL && sig_path != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(strlen(image_path) < sizeof out->path, ARCA_ERR_ARGS);
    arca_status st = ARCA_OK;
    int image_fd = -1;
    uint8_t *image = NULL, *sig = NULL;
    size_t image_len = 0, sig_len = 0;
    arca_enclave_identity id;

    ARCA_GUARD_OUT(open_and_read("enclave image", image_path, ARCA_LAUNCHER_MAX_IMAGE, &image_fd, &image,
                                 &image_len, err, err_len));
    ARCA_GUARD_OUT(open_and_read("enclave signature", sig_path, ARCA_IMAGE_SIG_MAX, NULL, &sig, &sig_len, err,
                                 err_len));
    st = arca_image_verify(sig, sig_len, image, image_len, expected_signer, &id);
    if (st != ARCA_OK) {
        uint8_t claimed_m[32], claimed_s[32], actual[32];
        char h1[65], h2[65];
        unsigned int md_len = 0;
        bool parsed = sig_claims(sig, sig_len, claimed_m, claimed_s);
        switch (st) {
        case ARCA_ERR_IMAGE_MEASUREMENT:
            if (parsed && EVP_Digest(image, image_len, actual, &md_len, EVP_sha256(), NULL) == 1) {
                arca_hex(actual, 32, h1);
                arca_hex(claimed_m, 32, h2);
                (void)errf(st, err, err_len, "enclave image %s: measurement mismatch (image sha256 %s, signature says %s)",
                           image_path, h1, h2);
            } else {
                (void)errf(st, err, err_len, "enclave image %s: measurement mismatch", image_path);
            }
            break;
        case ARCA_ERR_IMAGE_SIGNATURE:
            (void)errf(st, err, err_len, "enclave image %s: signature %s does not verify", image_path, sig_path);
            break;
        case ARCA_ERR_IMAGE_SIGNER:
            if (parsed && expected_signer != NULL) {
                arca_hex(claimed_s, 32, h1);
                arca_hex(expected_signer, 32, h2);
                (void)errf(st, err, err_len, "enclave image %s: signer mismatch (signed by %s, enclave_signer is %s)",
                           image_path, h1, h2);
            } else {
                (void)errf(st, err, err_len, "enclave image %s: signer mismatch", image_path);
            }
            break;
        case ARCA_ERR_DECODE:
            (void)errf(st, err, err_len, "enclave image %s: signature file %s is malformed", image_path, sig_path);
            break;
        default:
            (void)errf(st, err, err_len, "enclave image %s: cannot verify signature %s: %s", image_path, sig_path,
                       arca_status_name(st));
            break;
        }
        goto out;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", image_path);
    out->image_fd = image_fd;
    out->sig = sig;
    out->sig_len = sig_len;
    out->id = id;
    image_fd = -1;
    sig = NULL;
out:
    free(image);
    free(sig);
    if (image_fd >= 0) close(image_fd);
    return st;
}

void arca_enclave_image_cleanup(arca_enclave_image *img)
{
    if (img == NULL) return;
    if (img->image_fd >= 0) close(img->image_fd);
    img->image_fd = -1;
    free(img->sig);
    img->sig = NULL;
    img->sig_len = 0;
}

arca_status arca_enclave_measure_tpm(const arca_enclave_image *img, const char *tcti, uint32_t pcr)
{
    ARCA_ENSURE(img != NULL && tcti != NULL, ARCA_ERR_ARGS);
    arca_sealing_config scfg = {.mode = "tpm", .state_dir = NULL, .tcti = tcti, .tpm_pcr = pcr, .tpm_nv_index = 0};
    return arca_sealing_tpm_extend_identity(&scfg, &img->id);
}

/* What the child reports through the exec-status pipe when a step fails. */
enum child_step {
    STEP_FDS = 1,
    STEP_RLIMIT_CORE,
    STEP_RLIMIT_MEMLOCK,
    STEP_INITGROUPS,
    STEP_SETGID,
    STEP_SETUID,
    STEP_PRIV_CHECK,
    STEP_CAPS,
    STEP_EXEC,
};

/* After dropping to the enclave user, keep exactly one capability,
 * CAP_IPC_LOCK, and pass it through exec as an ambient capability: the
 * enclave's secret memory (memfd_secret pages, or mlock'ed pages in the
 * fallback) counts against RLIMIT_MEMLOCK, which root cannot always raise
 * (no CAP_SYS_RESOURCE in a container). This is what systemd's
 * AmbientCapabilities=CAP_IPC_LOCK does for a service. */
static int keep_only_ipc_lock(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective = CAP_TO_MASK(CAP_IPC_LOCK);
    data[CAP_TO_INDEX(CAP_IPC_LOCK)].permitted = CAP_TO_MASK(CAP_IPC_LOCK);
    data[CAP_TO_INDEX(CAP_IPC_LOCK)].inheritable = CAP_TO_MASK(CAP_IPC_LOCK);
    if (syscall(SYS_capset, &hdr, data) != 0) return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_IPC_LOCK, 0, 0) != 0) return -1;
    return 0;
}

static const char *step_name(int step)
{
    switch (step) {
    case STEP_FDS:
        return "set up file descriptors";
    case STEP_RLIMIT_CORE:
        return "set RLIMIT_CORE";
    case STEP_RLIMIT_MEMLOCK:
        return "raise RLIMIT_MEMLOCK";
    case STEP_INITGROUPS:
        return "initgroups";
    case STEP_SETGID:
        return "setgid";
    case STEP_SETUID:
        return "setuid";
    case STEP_PRIV_CHECK:
        return "verify dropped privileges";
    case STEP_CAPS:
        return "keep CAP_IPC_LOCK";
    case STEP_EXEC:
        return "exec";
    default:
        return "unknown step";
    }
}

static void __attribute__((noreturn)) child_fail(int report_fd, int step)
{
    int msg[2] = {step, errno};
    ssize_t r = write(report_fd, msg, sizeof msg);
    (void)r;
    _exit(127);
}

typedef struct drop_to {
    bool drop;
    uid_t uid;
    gid_t gid;
    char name[256];
} drop_to;

/* The enclave gets a clean environment: nothing from the host's reaches it
 * (no LD_PRELOAD, OPENSSL_CONF, TSS2_*, ...). In sanitizer builds the
 * sanitizers' options pass through, with LeakSanitizer switched off: its
 * exit check needs system calls the seccomp policy forbids (and the
 * environment would override the enclave's own __asan_default_options).
 * Built in the parent, before fork. */
static char **enclave_environment(void)
{
    static char *envp[3];
    size_t n = 0;
#ifdef ARCA_SANITIZE_BUILD
    static char asan[1024], ubsan[1024];
    const char *a = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sdetect_leaks=0", a != NULL ? a : "",
             a != NULL && a[0] != '\0' ? ":" : "");
    envp[n++] = asan;
    const char *u = getenv("UBSAN_OPTIONS");
    if (u != NULL) {
        snprintf(ubsan, sizeof ubsan, "UBSAN_OPTIONS=%s", u);
        envp[n++] = ubsan;
    }
#endif
    envp[n] = NULL;
    return envp;
}

static void __attribute__((noreturn)) child_run(int chan, int image_fd, int report, const drop_to *drop,
                                                uint64_t cache_bytes, char **envp)
{
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    signal(SIGPIPE, SIG_DFL);

    /* Lift everything above the target numbers first, so dup2 cannot
     * clobber one of our own descriptors. */
    int c = fcntl(chan, F_DUPFD_CLOEXEC, 10);
    int img = fcntl(image_fd, F_DUPFD_CLOEXEC, 10);
    int rep = fcntl(report, F_DUPFD_CLOEXEC, 10);
    if (c < 0 || img < 0 || rep < 0) child_fail(report, STEP_FDS);
    if (dup3(rep, 5, O_CLOEXEC) < 0) child_fail(rep, STEP_FDS);
    report = 5;
    if (dup2(c, 3) < 0) child_fail(report, STEP_FDS); /* dup2 clears CLOEXEC: fd 3 survives exec */
    if (dup3(img, 4, O_CLOEXEC) < 0) child_fail(report, STEP_FDS);
    if (syscall(SYS_close_range, 6u, ~0u, 0u) != 0) child_fail(report, STEP_FDS);

    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0) child_fail(report, STEP_RLIMIT_CORE);
    if (geteuid() == 0) {
        rlim_t want = (rlim_t)cache_bytes + (rlim_t)256 * 1024 * 1024;
        struct rlimit ml = {want, want};
        if (setrlimit(RLIMIT_MEMLOCK, &ml) != 0) {
            /* Root without CAP_SYS_RESOURCE (e.g. in a container) cannot
             * raise the hard limit: take what the hard limit allows. The
             * enclave reports its secret-memory budget itself. */
            if (getrlimit(RLIMIT_MEMLOCK, &ml) != 0) child_fail(report, STEP_RLIMIT_MEMLOCK);
            if (ml.rlim_max != RLIM_INFINITY && ml.rlim_max < want) {
                /* Not a problem: the enclave keeps CAP_IPC_LOCK (as root,
                 * or as an ambient capability after the drop below), to
                 * which the limit does not apply. */
                ARCA_DEBUG("cannot raise RLIMIT_MEMLOCK to %llu bytes (hard limit %llu): %s",
                          (unsigned long long)want, (unsigned long long)ml.rlim_max, strerror(errno));
                want = ml.rlim_max;
            }
            ml.rlim_cur = want;
            if (setrlimit(RLIMIT_MEMLOCK, &ml) != 0) child_fail(report, STEP_RLIMIT_MEMLOCK);
        }
    }
    if (drop->drop) {
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) child_fail(report, STEP_CAPS);
        if (initgroups(drop->name, drop->gid) != 0) child_fail(report, STEP_INITGROUPS);
        if (setgid(drop->gid) != 0) child_fail(report, STEP_SETGID);
        if (setuid(drop->uid) != 0) child_fail(report, STEP_SETUID);
        if (getuid() != drop->uid || geteuid() != drop->uid || getgid() != drop->gid || getegid() != drop->gid) {
            errno = EPERM;
            child_fail(report, STEP_PRIV_CHECK);
        }
        if (drop->uid != 0 && setuid(0) == 0) {
            errno = EPERM;
            child_fail(report, STEP_PRIV_CHECK);
        }
        if (keep_only_ipc_lock() != 0) child_fail(report, STEP_CAPS);
    }
    char *const argv[] = {"arca-enclave", "--channel-fd", "3", NULL};
    syscall(SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
    child_fail(report, STEP_EXEC);
}

arca_status arca_enclave_spawn(const arca_launch_params *params, arca_enclave_proc *out)
{
    ARCA_ENSURE(params != NULL && params->image != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(params->image->image_fd >= 0, ARCA_ERR_ARGS);
    drop_to drop = {.drop = false};
    if (params->user != NULL && params->user[0] != '\0') {
        if (geteuid() == 0) {
            struct passwd *pw = getpwnam(params->user);
            if (pw == NULL) {
                ARCA_ERROR("enclave_user '%s' does not exist", params->user);
                return ARCA_ERR_CONFIG;
            }
            drop.drop = true;
            drop.uid = pw->pw_uid;
            drop.gid = pw->pw_gid;
            snprintf(drop.name, sizeof drop.name, "%s", params->user);
        } else {
            ARCA_WARN("enclave_user '%s' ignored: arcad is not running as root", params->user);
        }
    } else if (geteuid() == 0) {
        static bool warned; /* once, not on every restart */
        if (!warned) ARCA_WARN("enclave runs as root: set enclave_user to give it its own user");
        warned = true;
    }

    int sv[2] = {-1, -1}, pipefd[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        ARCA_ERROR("cannot create the enclave channel: %s", strerror(errno));
        return ARCA_ERR_IO;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        ARCA_ERROR("cannot create a pipe: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return ARCA_ERR_IO;
    }
    char **envp = enclave_environment();
    pid_t pid = fork();
    if (pid < 0) {
        ARCA_ERROR("cannot fork the enclave: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        close(pipefd[0]);
        close(pipefd[1]);
        return ARCA_ERR_IO;
    }
    if (pid == 0) {
        close(sv[0]);
        close(pipefd[0]);
        child_run(sv[1], params->image->image_fd, pipefd[1], &drop, params->cache_bytes, envp);
    }
    close(sv[1]);
    close(pipefd[1]);
    int msg[2];
    ssize_t r;
    do {
        r = read(pipefd[0], msg, sizeof msg);
    } while (r < 0 && errno == EINTR);
    close(pipefd[0]);
    if (r != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        close(sv[0]);
        if (r == (ssize_t)sizeof msg)
            ARCA_ERROR("cannot start enclave %s: %s failed: %s", params->image->path, step_name(msg[0]),
                       strerror(msg[1]));
        else
            ARCA_ERROR("cannot start enclave %s: the child failed before exec", params->image->path);
        return ARCA_ERR_IO;
    }
    out->pid = pid;
    out->chan_fd = sv[0];
    ARCA_INFO("enclave %s started (pid %d)", params->image->path, (int)pid);
    return ARCA_OK;
}
