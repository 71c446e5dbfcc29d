/* arcad: init and the supervisor loop. See daemon.h.
 *
 * arcad never reads or writes a client's bytes: it accepts a connection
 * (on its unix socket or its TCP listener), hands the descriptor to the
 * enclave with ARCA_ECALL_CONNECTION and closes its copy. Everything else
 * on the channel is the enclave's OCALLs on the store, which arcad serves
 * from LMDB, and its ARCA_OCALL_CONN_CLOSED notifications.
 *
 * Connection caps: arcad counts the connections it handed over and the
 * enclave has not reported closed, in total (max_connections) and per
 * client (max_connections_per_client: per IP address for TCP, per peer
 * uid for the unix socket). A connection over a cap is accepted and closed
 * at once, with a rate-limited WARN line naming the peer and the cap. The
 * enclave is hostile input here too: a CONN_CLOSED for a connection that
 * is not open is logged and ignored, so its reports can never drive a
 * count below what arcad itself handed over. When the enclave restarts,
 * its connections died with it and every count starts from zero. */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arca/builder.h"
#include "arca/channel.h"
#include "arca/log.h"
#include "conn_limits.h"
#include "launcher.h"
#include "ocall.h"
#include "store_lmdb.h"

#define MIB ((uint64_t)1024 * 1024)
#define ACCEPT_BATCH 64

/* A rate-limited log line: at most one a second, counting the rest. */
typedef struct log_limit {
    int64_t last_ms;
    uint64_t suppressed;
} log_limit;
#define LOG_INTERVAL_MS 1000

typedef struct arcad_state {
    const arca_config *cfg;
    arca_store_lmdb *store;
    const arca_store_ops *ops;
    arca_enclave_image image;
    arca_enclave_proc enc;
    int listen_fd;
    int tcp_fd;               /* -1: no TCP listener (listen_address = none) */
    char tcp_text[64];        /* "127.0.0.1:5696", "[::1]:5696" (the real port) */
    int sig_fd;
    bool socket_created;
    bool pidfile_created;
    uint32_t next_req_id;
    uint64_t next_conn_id;
    /* supervision */
    int fails;
    int64_t first_fail_ms;
    int64_t backoff_ms;
    int64_t restart_at_ms; /* 0: no restart scheduled */
    int64_t started_ms;
    /* connections handed to the enclave and not yet reported closed */
    arca_conn_limits *conns;
    log_limit log_total, log_per_client, log_bogus;
} arcad_state;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t next_req(arcad_state *d)
{
    d->next_req_id++;
    if (d->next_req_id == 0) d->next_req_id = 1;
    return d->next_req_id;
}

static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status 0x%x", (unsigned)status);
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}

/* True when the line may be logged now; *out_suppressed is how many were
 * not logged since the last one. */
static bool log_allowed(log_limit *l, int64_t now, uint64_t *out_suppressed)
{
    if (l->last_ms != 0 && now - l->last_ms < LOG_INTERVAL_MS) {
        l->suppressed++;
        return false;
    }
    *out_suppressed = l->suppressed;
    l->suppressed = 0;
    l->last_ms = now;
    return true;
}

/* The enclave's connections died with it. */
static void conns_forget(arcad_state *d)
{
    size_t n = d->conns != NULL ? arca_conn_limits_reset(d->conns) : 0;
    if (n > 0) ARCA_INFO("forgetting %zu open connection(s) of the enclave that ended", n);
}

/* Make sure the enclave is gone; returns its wait status. */
static int enclave_reap(arcad_state *d)
{
    int status = -1;
    if (d->enc.chan_fd >= 0) close(d->enc.chan_fd);
    d->enc.chan_fd = -1;
    if (d->enc.pid > 0) {
        pid_t r = waitpid(d->enc.pid, &status, WNOHANG);
        if (r == 0) {
            kill(d->enc.pid, SIGKILL);
            status = wait_child(d->enc.pid);
        }
    }
    d->enc.pid = -1;
    conns_forget(d);
    return status;
}

/* Launch the enclave and send START; on any failure the enclave is reaped.
 * *out_enclave_status receives the enclave's answer when there was one. */
static arca_status enclave_launch(arcad_state *d, bool initialise, arca_status *out_enclave_status)
{
    arca_status st = ARCA_OK;
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    arca_builder b;
    *out_enclave_status = ARCA_OK;

    bool tpm = strcmp(d->cfg->sealing_mode, "tpm") == 0;
    if (tpm) {
        /* The PCR must hold this image's identity before the enclave runs:
         * init seals the platform seed to it, every start unseals with it.
         * Idempotent, so restarts after a crash do not extend twice. */
        st = arca_enclave_measure_tpm(&d->image, d->cfg->tpm_tcti, d->cfg->tpm_pcr);
        if (st != ARCA_OK) {
            ARCA_ERROR("arcad: cannot measure the enclave into PCR %u through %s: %s", (unsigned)d->cfg->tpm_pcr,
                       d->cfg->tpm_tcti, arca_status_name(st));
            return st;
        }
    }

    arca_launch_params lp = {
        .image = &d->image,
        .user = d->cfg->enclave_user,
        .cache_bytes = d->cfg->cache_size_mb * MIB,
    };
    ARCA_GUARD(arca_enclave_spawn(&lp, &d->enc));

    arca_start_params sp = {
        .sealing_mode = d->cfg->sealing_mode,
        .state_dir = d->cfg->state_dir,
        .image_sig = d->image.sig,
        .image_sig_len = d->image.sig_len,
        .cache_bytes = d->cfg->cache_size_mb * MIB,
        .max_connections = d->cfg->max_connections,
        .initialise_platform = initialise ? 1 : 0,
        .tpm_tcti = tpm ? d->cfg->tpm_tcti : NULL,
        .tpm_pcr = tpm ? d->cfg->tpm_pcr : 0,
    };
    size_t cap = arca_frame_cap(ARCA_ECALL_START, false);
    ARCA_GUARD_OUT(arca_builder_init(&b, 256, cap > 0 ? cap : 1));
    st = arca_start_params_encode(&sp, &b);
    if (st == ARCA_OK) st = arca_builder_finish(&b, &payload, &payload_len);
    arca_builder_cleanup(&b);
    ARCA_GUARD_OUT(st);

    st = arca_ocall_ecall(d->ops, d->enc.chan_fd, ARCA_ECALL_START, next_req(d), payload, payload_len,
                          ARCA_DAEMON_START_TIMEOUT_MS, out_enclave_status, NULL, NULL);
    if (st == ARCA_ERR_TIMEOUT)
        ARCA_ERROR("enclave did not answer START within %d s", ARCA_DAEMON_START_TIMEOUT_MS / 1000);
    else if (st == ARCA_ERR_CHANNEL)
        ARCA_ERROR("enclave closed the channel during START");
    else if (st != ARCA_OK)
        ARCA_ERROR("enclave sent a bad frame during START: %s", arca_status_name(st));
    ARCA_GUARD_OUT(st);
    if (*out_enclave_status != ARCA_OK) st = *out_enclave_status;
out:
    free(payload);
    if (st != ARCA_OK && d->enc.pid > 0) {
        int status = enclave_reap(d);
        if (status >= 0) {
            char how[96];
            describe_exit(status, how, sizeof how);
            ARCA_DEBUG("enclave ended: %s", how);
        }
    }
    return st;
}

/* ARCA_OCALL_CONN_CLOSED: the enclave has finished with a connection.
 * ARCA_ERR_DECODE for a malformed payload (the enclave is broken); an id
 * that is not open is logged and ignored. */
static arca_status handle_conn_closed(arcad_state *d, const arca_frame_header *h, const uint8_t *p)
{
    uint64_t id;
    ARCA_GUARD(arca_conn_closed_decode(p, h->payload_len, &id));
    if (d->conns != NULL && arca_conn_limits_closed(d->conns, id) == ARCA_OK) {
        ARCA_DEBUG("connection %llu closed by the enclave (%zu open)", (unsigned long long)id,
                   arca_conn_limits_open(d->conns));
        return ARCA_OK;
    }
    uint64_t more = 0;
    if (!log_allowed(&d->log_bogus, now_ms(), &more)) return ARCA_OK;
    char also[64] = "";
    if (more > 0) snprintf(also, sizeof also, " (and %llu more since the last such line)", (unsigned long long)more);
    ARCA_WARN("enclave reported connection %llu closed, but it is not open (unknown or already closed): ignored%s",
              (unsigned long long)id, also);
    return ARCA_OK;
}

/* Ask the enclave to stop (unless it stops by itself, as after platform
 * initialisation) and wait for it (SIGKILL after the timeout). */
static void enclave_stop(arcad_state *d, bool ask)
{
    if (d->enc.pid <= 0) return;
    int64_t deadline = now_ms() + ARCA_DAEMON_SHUTDOWN_TIMEOUT_MS;
    if (ask && d->enc.chan_fd >= 0 &&
        arca_channel_send(d->enc.chan_fd, ARCA_ECALL_SHUTDOWN, 0, next_req(d), NULL, 0, -1) != ARCA_OK) {
        close(d->enc.chan_fd);
        d->enc.chan_fd = -1;
    }
    for (;;) {
        int status;
        pid_t r = waitpid(d->enc.pid, &status, WNOHANG);
        if (r == d->enc.pid || (r < 0 && errno == ECHILD)) {
            if (r == d->enc.pid) {
                char how[96];
                describe_exit(status, how, sizeof how);
                ARCA_INFO("enclave stopped (%s)", how);
            }
            d->enc.pid = -1;
            break;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            ARCA_WARN("enclave did not stop within %d s; killing it", ARCA_DAEMON_SHUTDOWN_TIMEOUT_MS / 1000);
            kill(d->enc.pid, SIGKILL);
            (void)wait_child(d->enc.pid);
            d->enc.pid = -1;
            break;
        }
        /* Keep serving OCALLs: the enclave may flush state while stopping. */
        struct pollfd pfd = {.fd = d->enc.chan_fd, .events = POLLIN};
        int n = poll(&pfd, d->enc.chan_fd >= 0 ? 1 : 0, left < 50 ? (int)left : 50);
        if (n > 0 && d->enc.chan_fd >= 0) {
            arca_frame_header h;
            uint8_t *p = NULL;
            int fd = -1;
            arca_status st = arca_channel_recv(d->enc.chan_fd, &h, &p, &fd);
            if (st == ARCA_OK && fd < 0 && (h.flags & ARCA_FRAME_REPLY) == 0) {
                /* Workers ending on SHUTDOWN report their connections. */
                if (h.type == ARCA_OCALL_CONN_CLOSED)
                    st = handle_conn_closed(d, &h, p);
                else
                    st = arca_ocall_serve(d->ops, d->enc.chan_fd, &h, p);
            }
            if (fd >= 0) close(fd);
            free(p);
            if (st != ARCA_OK) {
                close(d->enc.chan_fd);
                d->enc.chan_fd = -1;
            }
        }
    }
    if (d->enc.chan_fd >= 0) close(d->enc.chan_fd);
    d->enc.chan_fd = -1;
}

static void daemon_cleanup(arcad_state *d)
{
    enclave_stop(d, true);
    if (d->listen_fd >= 0) close(d->listen_fd);
    d->listen_fd = -1;
    if (d->tcp_fd >= 0) close(d->tcp_fd);
    d->tcp_fd = -1;
    if (d->socket_created) unlink(d->cfg->listen_socket);
    d->socket_created = false;
    if (d->pidfile_created) {
        char path[ARCA_CONFIG_MAX_PATH + 16];
        snprintf(path, sizeof path, "%s/arcad.pid", d->cfg->state_dir);
        unlink(path);
    }
    if (d->sig_fd >= 0) close(d->sig_fd);
    d->sig_fd = -1;
    arca_store_lmdb_close(d->store);
    d->store = NULL;
    arca_enclave_image_cleanup(&d->image);
    arca_conn_limits_free(d->conns);
    d->conns = NULL;
}

static void daemon_setup(arcad_state *d, const arca_config *cfg)
{
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->enc.pid = -1;
    d->enc.chan_fd = -1;
    d->listen_fd = -1;
    d->tcp_fd = -1;
    d->sig_fd = -1;
    d->image.image_fd = -1;
    d->backoff_ms = ARCA_DAEMON_BACKOFF_MIN_MS;
}

static bool state_dir_ok(const arca_config *cfg)
{
    struct stat sb;
    if (stat(cfg->state_dir, &sb) != 0) {
        int e = errno;
        if (e == ENOENT)
            ARCA_ERROR("arcad: refusing to start: state directory %s does not exist: run 'arcad -c %s init' first",
                       cfg->state_dir, cfg->path);
        else
            ARCA_ERROR("arcad: refusing to start: state directory %s: %s", cfg->state_dir, strerror(e));
        return false;
    }
    if (!S_ISDIR(sb.st_mode)) {
        ARCA_ERROR("arcad: refusing to start: state_dir %s is not a directory", cfg->state_dir);
        return false;
    }
    return true;
}

static bool open_store(arcad_state *d, unsigned flags)
{
    char path[ARCA_CONFIG_MAX_PATH + 8];
    snprintf(path, sizeof path, "%s/store", d->cfg->state_dir);
    if (!(flags & ARCA_STORE_LMDB_CREATE) && access(path, F_OK) != 0 && errno == ENOENT) {
        ARCA_ERROR("arcad: refusing to start: no store at %s: run 'arcad -c %s init' first", path, d->cfg->path);
        return false;
    }
    arca_status st = arca_store_lmdb_open(path, (size_t)(d->cfg->store_map_size_mb * MIB), flags, &d->store);
    if (st != ARCA_OK) {
        ARCA_ERROR("arcad: refusing to start: cannot open the store %s (%s)", path, arca_status_name(st));
        return false;
    }
    d->ops = arca_store_lmdb_ops(d->store);
    return true;
}

static bool load_image(arcad_state *d)
{
    char err[ARCA_LAUNCHER_ERR_LEN];
    err[0] = '\0';
    arca_status st = arca_enclave_image_load(d->cfg->enclave_image, d->cfg->enclave_signature,
                                             d->cfg->has_enclave_signer ? d->cfg->enclave_signer : NULL, &d->image,
                                             err, sizeof err);
    if (st != ARCA_OK) {
        ARCA_ERROR("arcad: refusing to start: %s", err[0] != '\0' ? err : arca_status_message(st));
        return false;
    }
    char signer[65];
    arca_hex(d->image.id.signer_id, 32, signer);
    ARCA_INFO("enclave image %s verified (signer %s, product %u, svn %u%s)", d->image.path, signer,
              (unsigned)d->image.id.product_id, (unsigned)d->image.id.svn, d->image.id.debug ? ", debug" : "");
    return true;
}

static void refuse_enclave_status(arca_status st)
{
    ARCA_ERROR("arcad: enclave refused to start: %s (see the enclave's log above)", arca_status_name(st));
}

int arca_daemon_init(const arca_config *cfg)
{
    arcad_state d;
    int rc = 1;
    daemon_setup(&d, cfg);
    signal(SIGPIPE, SIG_IGN);

    if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
        ARCA_ERROR("arcad: cannot create state directory %s: %s", cfg->state_dir, strerror(errno));
        goto out;
    }
    if (!state_dir_ok(cfg)) goto out;
    if (cfg->enclave_user[0] != '\0' && geteuid() == 0) {
        struct passwd *pw = getpwnam(cfg->enclave_user);
        if (pw == NULL) {
            ARCA_ERROR("arcad: enclave_user '%s' does not exist", cfg->enclave_user);
            goto out;
        }
        if (chown(cfg->state_dir, pw->pw_uid, pw->pw_gid) != 0) {
            ARCA_ERROR("arcad: cannot chown %s to %s: %s", cfg->state_dir, cfg->enclave_user, strerror(errno));
            goto out;
        }
    }
    if (!load_image(&d)) goto out;
    if (!open_store(&d, ARCA_STORE_LMDB_CREATE)) goto out;

    arca_status enclave_st = ARCA_OK;
    arca_status st = enclave_launch(&d, true, &enclave_st);
    if (st != ARCA_OK) {
        if (enclave_st == ARCA_ERR_EXISTS || enclave_st == ARCA_ERR_ALREADY_INITIALISED)
            ARCA_ERROR("arcad: %s is already initialised (the enclave answered %s)", cfg->state_dir,
                       arca_status_name(enclave_st));
        else if (enclave_st != ARCA_OK)
            refuse_enclave_status(enclave_st);
        else
            ARCA_ERROR("arcad: cannot initialise: the enclave did not start (%s)", arca_status_name(st));
        goto out;
    }
    /* After initialising the platform the enclave exits by itself. */
    enclave_stop(&d, false);
    ARCA_INFO("arcad: initialised %s (mode %s)", cfg->state_dir, cfg->sealing_mode);
    rc = 0;
out:
    daemon_cleanup(&d);
    return rc;
}

/* Refuse if another arcad answers on the socket; remove a stale one. */
static bool open_listener(arcad_state *d)
{
    const char *path = d->cfg->listen_socket;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        ARCA_ERROR("arcad: refusing to start: listen_socket %s is too long", path);
        return false;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);

    struct stat sb;
    if (lstat(path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            ARCA_ERROR("arcad: refusing to start: %s exists and is not a socket", path);
            return false;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            ARCA_ERROR("arcad: refusing to start: another arcad is running on %s", path);
            return false;
        }
        if (probe >= 0) close(probe);
        ARCA_INFO("removing stale socket %s", path);
        if (unlink(path) != 0) {
            ARCA_ERROR("arcad: refusing to start: cannot remove stale socket %s: %s", path, strerror(errno));
            return false;
        }
    }
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->listen_fd < 0) {
        ARCA_ERROR("arcad: refusing to start: socket: %s", strerror(errno));
        return false;
    }
    mode_t old = umask(0117); /* the socket is born 0660 */
    int r = bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (r != 0) {
        ARCA_ERROR("arcad: refusing to start: cannot bind %s: %s", path, strerror(e));
        return false;
    }
    d->socket_created = true;
    if (chmod(path, 0660) != 0) {
        ARCA_ERROR("arcad: refusing to start: chmod %s: %s", path, strerror(errno));
        return false;
    }
    int backlog = d->cfg->max_connections < 4096 ? (int)d->cfg->max_connections : 4096;
    if (listen(d->listen_fd, backlog) != 0) {
        ARCA_ERROR("arcad: refusing to start: listen on %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* The TCP listener (listen_address, listen_port); skipped for "none".
 * Learns the real port (listen_port = 0: the kernel picks one). */
static bool open_tcp_listener(arcad_state *d)
{
    const arca_config *cfg = d->cfg;
    if (cfg->listen_family == 0) return true;
    struct sockaddr_storage ss;
    socklen_t ss_len;
    memset(&ss, 0, sizeof ss);
    bool v6 = cfg->listen_family == AF_INET6;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(cfg->listen_port);
        if (inet_pton(AF_INET6, cfg->listen_address, &a->sin6_addr) != 1) goto bad_address;
        ss_len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(cfg->listen_port);
        if (inet_pton(AF_INET, cfg->listen_address, &a->sin_addr) != 1) goto bad_address;
        ss_len = sizeof *a;
    }
    d->tcp_fd = socket(cfg->listen_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->tcp_fd < 0) {
        ARCA_ERROR("arcad: refusing to start: TCP socket: %s", strerror(errno));
        return false;
    }
    int one = 1, zero = 0;
    if (setsockopt(d->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (v6 && setsockopt(d->tcp_fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0)) {
        ARCA_ERROR("arcad: refusing to start: TCP socket options: %s", strerror(errno));
        return false;
    }
    if (bind(d->tcp_fd, (struct sockaddr *)&ss, ss_len) != 0) {
        ARCA_ERROR("arcad: refusing to start: cannot listen on %s%s%s:%u: %s (set listen_port, or listen_address = "
                   "none for no TCP listener)",
                   v6 ? "[" : "", cfg->listen_address, v6 ? "]" : "", (unsigned)cfg->listen_port, strerror(errno));
        return false;
    }
    int backlog = cfg->max_connections < 4096 ? (int)cfg->max_connections : 4096;
    if (listen(d->tcp_fd, backlog) != 0) {
        ARCA_ERROR("arcad: refusing to start: listen on %s: %s", cfg->listen_address, strerror(errno));
        return false;
    }
    struct sockaddr_storage got;
    socklen_t got_len = sizeof got;
    if (getsockname(d->tcp_fd, (struct sockaddr *)&got, &got_len) != 0) {
        ARCA_ERROR("arcad: refusing to start: getsockname: %s", strerror(errno));
        return false;
    }
    unsigned port =
        v6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port) : ntohs(((struct sockaddr_in *)&got)->sin_port);
    snprintf(d->tcp_text, sizeof d->tcp_text, "%s%s%s:%u", v6 ? "[" : "", cfg->listen_address, v6 ? "]" : "", port);
    return true;
bad_address:
    ARCA_ERROR("arcad: refusing to start: listen_address %s is not an IP address", cfg->listen_address);
    return false;
}

static bool open_signals(arcad_state *d)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return false;
    d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (d->sig_fd < 0) {
        ARCA_ERROR("arcad: signalfd: %s", strerror(errno));
        return false;
    }
    signal(SIGPIPE, SIG_IGN);
    return true;
}

static bool write_pidfile(arcad_state *d)
{
    char path[ARCA_CONFIG_MAX_PATH + 16];
    snprintf(path, sizeof path, "%s/arcad.pid", d->cfg->state_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        ARCA_ERROR("arcad: cannot write pid file %s: %s", path, strerror(errno));
        return false;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    bool ok = write(fd, buf, (size_t)n) == n;
    close(fd);
    if (!ok) {
        ARCA_ERROR("arcad: cannot write pid file %s", path);
        unlink(path);
        return false;
    }
    d->pidfile_created = true;
    return true;
}

/* Record one failure of the enclave; false when it is time to give up. */
static bool schedule_restart(arcad_state *d)
{
    int64_t now = now_ms();
    if (d->started_ms != 0 && now - d->started_ms >= ARCA_DAEMON_FAIL_WINDOW_MS) {
        d->fails = 0; /* it ran well for a while: start counting afresh */
        d->backoff_ms = ARCA_DAEMON_BACKOFF_MIN_MS;
    }
    d->started_ms = 0;
    if (d->fails == 0 || now - d->first_fail_ms > ARCA_DAEMON_FAIL_WINDOW_MS) {
        d->fails = 0;
        d->first_fail_ms = now;
    }
    d->fails++;
    if (d->fails >= ARCA_DAEMON_MAX_FAILS) {
        ARCA_ERROR("arcad: the enclave failed %d times in a row within %d s; giving up", d->fails,
                   ARCA_DAEMON_FAIL_WINDOW_MS / 1000);
        return false;
    }
    d->restart_at_ms = now + d->backoff_ms;
    ARCA_INFO("restarting the enclave in %lld ms (failure %d)", (long long)d->backoff_ms, d->fails);
    d->backoff_ms *= 2;
    if (d->backoff_ms > ARCA_DAEMON_BACKOFF_MAX_MS) d->backoff_ms = ARCA_DAEMON_BACKOFF_MAX_MS;
    return true;
}

static bool enclave_died(arcad_state *d, const char *why)
{
    int status = enclave_reap(d);
    char how[96];
    if (status >= 0)
        describe_exit(status, how, sizeof how);
    else
        snprintf(how, sizeof how, "unknown");
    ARCA_ERROR("enclave exited (%s%s%s); restarting", how, why != NULL ? ", " : "", why != NULL ? why : "");
    return schedule_restart(d);
}

static bool try_restart(arcad_state *d)
{
    d->restart_at_ms = 0;
    arca_status enclave_st = ARCA_OK;
    arca_status st = enclave_launch(d, false, &enclave_st);
    if (st != ARCA_OK) {
        if (enclave_st != ARCA_OK)
            ARCA_ERROR("enclave refused to start: %s", arca_status_name(enclave_st));
        else
            ARCA_ERROR("enclave restart failed: %s", arca_status_name(st));
        return schedule_restart(d);
    }
    d->started_ms = now_ms();
    ARCA_INFO("enclave restarted (pid %d)", (int)d->enc.pid);
    return true;
}

/* Who is calling: the client it counts against, the peer text sent to the
 * enclave ("tcp:1.2.3.4:5555", "unix:uid=1000,pid=42") and a label for log
 * lines. */
static void describe_peer(int fd, bool tcp, const struct sockaddr_storage *ss, socklen_t ss_len,
                          arca_conn_client *client, char peer[ARCA_CONN_PEER_LEN], char label[ARCA_CONN_LABEL_LEN])
{
    if (tcp && arca_conn_client_from_addr((const struct sockaddr *)ss, ss_len, client, peer, label) == ARCA_OK)
        return;
    struct ucred cred;
    socklen_t cred_len = sizeof cred;
    uint32_t uid = UINT32_MAX; /* unknown peers share one count */
    int pid = 0;
    if (!tcp && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0) {
        uid = (uint32_t)cred.uid;
        pid = (int)cred.pid;
    }
    arca_conn_client_from_uid(uid, pid, client, peer, label);
}

/* Over a cap: close at once (the client sees its connection end without a
 * byte) and say why, at most once a second per cap. */
static void refuse_connection(arcad_state *d, int fd, const char *peer, const char *label, bool per_client)
{
    close(fd);
    uint64_t more = 0;
    if (!log_allowed(per_client ? &d->log_per_client : &d->log_total, now_ms(), &more)) return;
    char also[64] = "";
    if (more > 0) snprintf(also, sizeof also, " (and %llu more since the last such line)", (unsigned long long)more);
    if (per_client)
        ARCA_WARN("arcad: refused connection from %s: max_connections_per_client (%u) reached for %s%s", peer,
                  d->cfg->max_connections_per_client, label, also);
    else
        ARCA_WARN("arcad: refused connection from %s: max_connections (%u) reached%s", peer, d->cfg->max_connections,
                  also);
}

/* Accept pending connections on one listener and hand them over. false:
 * channel broken. */
static bool accept_connections(arcad_state *d, int listen_fd, bool tcp)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t ss_len = sizeof ss;
        memset(&ss, 0, sizeof ss);
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &ss_len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                ARCA_WARN("accept on %s: %s", tcp ? d->tcp_text : d->cfg->listen_socket, strerror(errno));
            return true;
        }
        char peer[ARCA_CONN_PEER_LEN], label[ARCA_CONN_LABEL_LEN];
        arca_conn_client client;
        describe_peer(fd, tcp, &ss, ss_len, &client, peer, label);
        arca_conn_verdict v = arca_conn_limits_check(d->conns, &client);
        if (v != ARCA_CONN_ADMIT) {
            refuse_connection(d, fd, peer, label, v == ARCA_CONN_OVER_PER_CLIENT);
            continue;
        }

        uint64_t conn_id = ++d->next_conn_id;
        uint8_t buf[8 + 2 + sizeof peer];
        arca_builder b;
        arca_builder_init_fixed(&b, buf, sizeof buf);
        if (arca_builder_add_u64(&b, conn_id) != ARCA_OK ||
            arca_builder_add_u16_prefixed(&b, peer, strlen(peer)) != ARCA_OK) {
            close(fd);
            continue;
        }
        uint32_t req_id = next_req(d);
        /* Counted before the send: its CONN_CLOSED may come before the reply. */
        if (arca_conn_limits_add(d->conns, conn_id, req_id, &client) != ARCA_OK) {
            close(fd); /* cannot happen: checked above, ids are fresh */
            continue;
        }
        arca_status st = arca_channel_send(d->enc.chan_fd, ARCA_ECALL_CONNECTION, 0, req_id, buf, b.len, fd);
        close(fd); /* the enclave owns it now */
        if (st != ARCA_OK) return false;
        ARCA_DEBUG("connection %llu (%s) handed to the enclave (%zu open)", (unsigned long long)conn_id, peer,
                   arca_conn_limits_open(d->conns));
    }
    return true;
}

/* A reply to an ECALL. An ECALL_CONNECTION the enclave refused (BUSY, ...)
 * was closed there without a worker, so it will never be reported closed:
 * it stops counting now. (Its CONN_CLOSED may also come before the reply;
 * then the reply finds nothing to update.) */
static void handle_reply(arcad_state *d, const arca_frame_header *h, const uint8_t *p)
{
    arca_status st;
    const uint8_t *body;
    size_t body_len;
    if (arca_ocall_reply_split(p, h->payload_len, &st, &body, &body_len) != ARCA_OK) {
        ARCA_WARN("malformed reply 0x%x to request %u", h->type, h->request_id);
        return;
    }
    uint64_t conn_id = 0;
    if (h->type == ARCA_ECALL_CONNECTION && arca_conn_limits_reply(d->conns, h->request_id, st, &conn_id) == ARCA_OK &&
        st != ARCA_OK) {
        ARCA_INFO("enclave refused connection %llu: %s", (unsigned long long)conn_id, arca_status_name(st));
        return;
    }
    if (st != ARCA_OK) ARCA_DEBUG("enclave answered request %u with %s", h->request_id, arca_status_name(st));
}

/* One frame from the enclave. false: the enclave is broken or gone. */
static bool handle_channel(arcad_state *d, const char **why)
{
    arca_frame_header h;
    uint8_t *p = NULL;
    int fd = -1;
    arca_status st = arca_channel_recv(d->enc.chan_fd, &h, &p, &fd);
    if (st == ARCA_ERR_CHANNEL) {
        *why = "channel closed";
        return false;
    }
    if (st != ARCA_OK) {
        ARCA_ERROR("bad frame from the enclave (type 0x%x, %u bytes): %s; treating the enclave as broken", h.type,
                   h.payload_len, arca_status_name(st));
        *why = "bad frame";
        return false;
    }
    bool ok = true;
    if (fd >= 0) {
        close(fd);
        ARCA_ERROR("enclave sent a file descriptor with frame 0x%x; treating the enclave as broken", h.type);
        *why = "bad frame";
        ok = false;
    } else if (h.flags & ARCA_FRAME_REPLY) {
        handle_reply(d, &h, p);
    } else {
        if (h.type == ARCA_OCALL_CONN_CLOSED)
            st = handle_conn_closed(d, &h, p);
        else
            st = arca_ocall_serve(d->ops, d->enc.chan_fd, &h, p);
        if (st == ARCA_ERR_CHANNEL) {
            *why = "channel closed";
            ok = false;
        } else if (st != ARCA_OK) {
            ARCA_ERROR("bad OCALL 0x%x from the enclave: %s; treating the enclave as broken", h.type,
                       arca_status_name(st));
            *why = "bad frame";
            ok = false;
        }
    }
    free(p);
    return ok;
}

/* Drain the signalfd: returns true when asked to stop; *child set on
 * SIGCHLD. */
static bool read_signals(arcad_state *d, bool *child)
{
    bool stop = false;
    struct signalfd_siginfo si;
    while (read(d->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            ARCA_INFO("arcad: %s received; stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            stop = true;
        } else if (si.ssi_signo == SIGCHLD) {
            *child = true;
        }
    }
    return stop;
}

static int run_loop(arcad_state *d)
{
    for (;;) {
        struct pollfd pfd[4];
        nfds_t n = 0;
        int i_sig = -1, i_chan = -1, i_listen = -1, i_tcp = -1;
        pfd[n] = (struct pollfd){.fd = d->sig_fd, .events = POLLIN};
        i_sig = (int)n++;
        bool up = d->enc.pid > 0 && d->enc.chan_fd >= 0;
        if (up) {
            pfd[n] = (struct pollfd){.fd = d->enc.chan_fd, .events = POLLIN};
            i_chan = (int)n++;
            pfd[n] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
            i_listen = (int)n++;
            if (d->tcp_fd >= 0) {
                pfd[n] = (struct pollfd){.fd = d->tcp_fd, .events = POLLIN};
                i_tcp = (int)n++;
            }
        }
        int timeout = -1;
        if (!up && d->restart_at_ms != 0) {
            int64_t left = d->restart_at_ms - now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR) {
            ARCA_ERROR("arcad: poll: %s", strerror(errno));
            return 1;
        }
        if (r <= 0) {
            if (!up && d->restart_at_ms != 0 && now_ms() >= d->restart_at_ms && !try_restart(d)) return 1;
            continue;
        }
        if (pfd[i_sig].revents & POLLIN) {
            bool child = false;
            if (read_signals(d, &child)) return 0;
            if (child && d->enc.pid > 0) {
                int status;
                pid_t w = waitpid(d->enc.pid, &status, WNOHANG);
                if (w == d->enc.pid) {
                    char how[96];
                    describe_exit(status, how, sizeof how);
                    d->enc.pid = -1;
                    (void)enclave_reap(d);
                    ARCA_ERROR("enclave exited (%s); restarting", how);
                    if (!schedule_restart(d)) return 1;
                    continue;
                }
            }
        }
        if (i_chan >= 0 && (pfd[i_chan].revents & (POLLIN | POLLHUP | POLLERR))) {
            const char *why = NULL;
            if (!handle_channel(d, &why)) {
                if (!enclave_died(d, why)) return 1;
                continue;
            }
        }
        if (i_listen >= 0 && (pfd[i_listen].revents & POLLIN) && d->enc.chan_fd >= 0) {
            if (!accept_connections(d, d->listen_fd, false)) {
                if (!enclave_died(d, "channel broken while handing over a connection")) return 1;
                continue;
            }
        }
        if (i_tcp >= 0 && (pfd[i_tcp].revents & POLLIN) && d->enc.chan_fd >= 0) {
            if (!accept_connections(d, d->tcp_fd, true)) {
                if (!enclave_died(d, "channel broken while handing over a connection")) return 1;
                continue;
            }
        }
    }
}

int arca_daemon_run(const arca_config *cfg)
{
    arcad_state d;
    int rc = 1;
    daemon_setup(&d, cfg);

    if (!state_dir_ok(cfg)) goto out;
    if (!open_store(&d, 0)) goto out;
    if (!load_image(&d)) goto out;
    if (arca_conn_limits_new(cfg->max_connections, cfg->max_connections_per_client, &d.conns) != ARCA_OK) goto out;
    if (!open_signals(&d)) goto out;
    if (!open_listener(&d)) goto out;
    if (!open_tcp_listener(&d)) goto out;

    arca_status enclave_st = ARCA_OK;
    arca_status st = enclave_launch(&d, false, &enclave_st);
    if (st != ARCA_OK) {
        if (enclave_st != ARCA_OK)
            refuse_enclave_status(enclave_st);
        else
            ARCA_ERROR("arcad: refusing to start: the enclave did not start (%s)", arca_status_name(st));
        goto out;
    }
    d.started_ms = now_ms();
    if (!write_pidfile(&d)) goto out;

    /* Tests and scripts parse this line (the TCP port after the last ':'
     * of the second address). */
    char where[ARCA_CONFIG_MAX_SOCKET_PATH + sizeof d.tcp_text + 8];
    snprintf(where, sizeof where, "%s%s%s", cfg->listen_socket, d.tcp_fd >= 0 ? " and " : "",
             d.tcp_fd >= 0 ? d.tcp_text : "");
    ARCA_INFO("arcad: ready on %s (enclave pid %d, mode %s)", where, (int)d.enc.pid, cfg->sealing_mode);
    printf("arcad: ready on %s (enclave pid %d, mode %s)\n", where, (int)d.enc.pid, cfg->sealing_mode);
    fflush(stdout);

    rc = run_loop(&d);
out:
    daemon_cleanup(&d);
    if (rc == 0) ARCA_INFO("arcad: stopped");
    return rc;
}
