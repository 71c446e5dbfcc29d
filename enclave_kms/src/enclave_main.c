/* arca-enclave: the trusted process around the keystore.
 *
 *   arca-enclave --channel-fd N
 *
 * Launched by arcad with one end of the host channel. Locks itself down,
 * waits for ARCA_ECALL_START, establishes its own identity from its image
 * and the signature structure, opens the sealing backend and the keystore
 * (storage through OCALLs), generates its TLS key and RA-TLS certificate,
 * installs the seccomp allow-list and then serves client connections that
 * arcad hands over (TLS terminated here). See docs/channel.md. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arca/channel.h"
#include "arca/image_sig.h"
#include "arca/kms.h"
#include "arca/log.h"
#include "arca/sealing.h"
#include "arca/secret.h"
#include "connection.h"
#include "host_channel.h"
#include "isolation.h"
#include "request.h"
#include "tls_server.h"

#define SECMEM_CAP (1024ull * 1024 * 1024) /* until START tells the cache budget */
#define IMAGE_MAX (512u * 1024 * 1024)

typedef struct enclave {
    arca_host_channel *hc;
    arca_store_ops store;
    arca_sealing *sealing;
    arca_kms *kms;
    arca_enclave_identity identity;
    arca_request_ctx req_ctx;
    arca_tls_server *tls;
    arca_conn_mgr *conns;
    /* Clean shutdown: the batched audit records are stored by a thread of
     * their own (the reader thread must be free to read the OCALL reply). */
    atomic_int drain; /* 0 not started, 1 running, 2 done */
    /* the START request, owned by the start thread */
    uint32_t start_id;
    uint8_t *start_payload;
    size_t start_len;
} enclave;

static arca_status read_own_image(uint8_t **out, size_t *out_len)
{
    arca_status st = ARCA_ERR_IO;
    uint8_t *buf = NULL;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    ARCA_ENSURE(fd >= 0, ARCA_ERR_IO);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size <= 0 || (uint64_t)sb.st_size > IMAGE_MAX) goto out;
    size_t len = (size_t)sb.st_size, got = 0;
    buf = malloc(len);
    if (buf == NULL) {
        st = ARCA_ERR_NOMEM;
        goto out;
    }
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) goto out;
        got += (size_t)r;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    st = ARCA_OK;
out:
    free(buf);
    close(fd);
    return st;
}

/* Everything between START and READY. Runs on its own thread because
 * opening the keystore makes OCALLs, whose replies the main thread reads. */
static arca_status start(enclave *e, bool *out_initialised_platform)
{
    arca_start_params p;
    arca_cursor c;
    uint8_t *image = NULL;
    size_t image_len = 0;
    arca_status st;
    size_t strbuf_len = e->start_len + 4;
    char *strbuf = malloc(strbuf_len);
    ARCA_ENSURE(strbuf != NULL, ARCA_ERR_NOMEM);
    *out_initialised_platform = false;

    arca_cursor_init(&c, e->start_payload, e->start_len);
    st = arca_start_params_decode(&c, &p, strbuf, strbuf_len);
    if (st != ARCA_OK) {
        ARCA_ERROR("start: malformed start parameters: %s", arca_status_name(st));
        goto out;
    }

    /* Who we are comes from our own image and the signature over it, not
     * from the host's word. */
    ARCA_GUARD_OUT(read_own_image(&image, &image_len));
    st = arca_image_verify(p.image_sig, p.image_sig_len, image, image_len, NULL, &e->identity);
    if (st != ARCA_OK) {
        ARCA_ERROR("start: enclave image does not verify against its signature: %s", arca_status_name(st));
        goto out;
    }
    ARCA_INFO("start: image verified: product %u svn %u%s", (unsigned)e->identity.product_id,
              (unsigned)e->identity.svn, e->identity.debug ? " (debug)" : "");

    /* tpm mode: the TCTI connection is made inside arca_sealing_open, here,
     * before the seccomp filter below (dlopen of the TCTI library, socket,
     * connect or open of the device all happen now). */
    arca_sealing_config scfg = {.mode = p.sealing_mode,
                                .state_dir = p.state_dir,
                                .tcti = p.tpm_tcti[0] != '\0' ? p.tpm_tcti : NULL,
                                .tpm_pcr = p.tpm_pcr,
                                .tpm_nv_index = 0};
    if (p.initialise_platform) {
        st = arca_sealing_initialise(&scfg);
        if (st == ARCA_OK) ARCA_INFO("start: platform initialised (%s)", p.sealing_mode);
        else ARCA_ERROR("start: platform initialisation failed: %s", arca_status_name(st));
        *out_initialised_platform = true;
        goto out;
    }

    /* tpm2-tss's swtpm: TCTI connects anew for every TPM command; under
     * the seccomp filter the first command after start-up (a fresh quote
     * for ATTEST) would kill the enclave. Refuse it here, saying why. */
    if (strcmp(p.sealing_mode, "tpm") == 0 && strncmp(p.tpm_tcti, "swtpm:", 6) == 0) {
        ARCA_ERROR("start: tpm_tcti '%s' opens a new connection for every TPM command, which the enclave may "
                   "not do after start-up: use device:/dev/tpmrm0, or mssim: in front of swtpm "
                   "(docs/operations.md)",
                   p.tpm_tcti);
        st = ARCA_ERR_CONFIG;
        goto out;
    }
    st = arca_sealing_open(&scfg, &e->identity, &e->sealing);
    if (st != ARCA_OK) {
        ARCA_ERROR("start: cannot open the sealing backend (%s): %s", p.sealing_mode, arca_status_name(st));
        goto out;
    }
    if (arca_sealing_is_insecure(e->sealing))
        ARCA_WARN("start: sealing mode %s is INSECURE (development only)", arca_sealing_mode(e->sealing));

    arca_kms_config kcfg = {.cache_bytes = p.cache_bytes, .pin_hash_cost = 0};
    arca_host_channel_store_ops(e->hc, &e->store);
    st = arca_kms_open(&kcfg, e->sealing, &e->store, &e->kms);
    if (st != ARCA_OK) {
        ARCA_ERROR("start: cannot open the keystore: %s", arca_status_name(st));
        goto out;
    }

    e->req_ctx.kms = e->kms;
    e->req_ctx.sealing_mode = arca_sealing_mode(e->sealing);
    e->req_ctx.sealing_insecure = arca_sealing_is_insecure(e->sealing);
    e->req_ctx.identity = &e->identity;

    /* Load what OpenSSL would otherwise load lazily from files. */
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS,
                        NULL);
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);

    /* The TLS key is born once (sealed in the keystore, reloaded here into
     * secret memory); its certificate is the operator's chain if one is
     * installed, else a self-signed one carrying this enclave's evidence. */
    st = arca_tls_server_new_persistent(e->sealing, e->kms, &e->tls);
    if (st != ARCA_OK) {
        ARCA_ERROR("start: cannot set up the TLS server: %s", arca_status_name(st));
        goto out;
    }
    e->req_ctx.tls = e->tls;
    ARCA_INFO("start: TLS 1.3 server ready");
    ARCA_GUARD_OUT(
        arca_conn_mgr_new(&e->req_ctx, p.max_connections, arca_host_channel_on_conn_closed, e->hc, &e->conns));
    uint8_t warm[16];
    if (RAND_bytes(warm, sizeof(warm)) != 1) {
        st = ARCA_ERR_CRYPTO;
        goto out;
    }
    arca_wipe(warm, sizeof(warm));

    ARCA_INFO("start: keystore open, applying the seccomp allow-list");
    st = arca_isolation_seccomp();
    if (st != ARCA_OK) ARCA_ERROR("start: cannot apply seccomp: %s", arca_status_name(st));

out:
    free(image);
    free(strbuf);
    return st;
}

static void *start_thread(void *arg)
{
    enclave *e = arg;
    bool initialised_platform = false;
    arca_status st = start(e, &initialised_platform);
    free(e->start_payload);
    e->start_payload = NULL;
    if (st == ARCA_OK && !initialised_platform) ARCA_INFO("ready");
    arca_host_channel_start_done(e->hc, e->start_id, st, initialised_platform, st);
    return NULL;
}

static arca_status on_start(void *ctx, uint32_t request_id, const uint8_t *payload, size_t len)
{
    enclave *e = ctx;
    ARCA_ENSURE(len > 0, ARCA_ERR_DECODE);
    e->start_payload = malloc(len);
    ARCA_ENSURE(e->start_payload != NULL, ARCA_ERR_NOMEM);
    memcpy(e->start_payload, payload, len);
    e->start_len = len;
    e->start_id = request_id;
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, start_thread, e);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(e->start_payload);
        e->start_payload = NULL;
        return ARCA_ERR_NOMEM;
    }
    return ARCA_OK;
}

static arca_status on_connection(void *ctx, uint64_t conn_id, const char *peer, int fd)
{
    enclave *e = ctx;
    ARCA_INFO("connection %llu from %s", (unsigned long long)conn_id, peer[0] ? peer : "(unnamed peer)");
    return arca_conn_mgr_add(e->conns, conn_id, fd);
}

static void on_shutdown(void *ctx)
{
    enclave *e = ctx;
    if (e->conns) arca_conn_mgr_stop(e->conns);
}

static void *drain_thread(void *arg)
{
    enclave *e = arg;
    arca_status st = arca_kms_flush_audit(e->kms);
    if (st != ARCA_OK) ARCA_ERROR("shutdown: pending audit records could not be stored: %s", arca_status_name(st));
    atomic_store(&e->drain, 2);
    return NULL;
}

/* Once no connection is left (no more key use), store the batched audit
 * records, then stop. */
static bool can_stop(void *ctx)
{
    enclave *e = ctx;
    if (e->conns != NULL && arca_conn_mgr_active(e->conns) != 0) return false;
    if (e->kms == NULL) return true;
    int expect = 0;
    if (atomic_compare_exchange_strong(&e->drain, &expect, 1)) {
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, drain_thread, e) != 0) {
            ARCA_ERROR("shutdown: no thread to store pending audit records; storing them at exit");
            atomic_store(&e->drain, 2);
        }
        pthread_attr_destroy(&attr);
    }
    return atomic_load(&e->drain) == 2;
}

static arca_status on_status(void *ctx, arca_builder *out)
{
    enclave *e = ctx;
    char line[160];
    arca_kms_stats stats = {0};
    if (e->kms) arca_kms_get_stats(e->kms, &stats);
    int n = snprintf(line, sizeof(line),
                     "state: %s\nsealing: %s%s\nsecret_memory: %s\nconnections: %zu\ncache_bytes: %llu\n"
                     "audit_records: %llu\n",
                     arca_hc_state_name(arca_host_channel_state(e->hc)),
                     e->sealing ? arca_sealing_mode(e->sealing) : "none",
                     e->sealing && arca_sealing_is_insecure(e->sealing) ? " (INSECURE)" : "",
                     arca_secmem_mode_name(arca_secmem_mode_get()), e->conns ? arca_conn_mgr_active(e->conns) : 0,
                     (unsigned long long)stats.cache_bytes, (unsigned long long)stats.audit_records);
    ARCA_ENSURE(n > 0 && (size_t)n < sizeof(line), ARCA_ERR_INTERNAL);
    return arca_builder_add_bytes(out, line, (size_t)n);
}

#ifdef ARCA_SANITIZE_BUILD
/* LeakSanitizer's check at exit stops the world with clone + ptrace and
 * reads /proc/self/maps: exactly what the seccomp policy forbids (it was
 * killed for prctl, getppid, rt_sigaction and then open). So the
 * arca-enclave process runs ASan and UBSan without the leak check; the
 * unit tests, which drive the same code without seccomp, keep it. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

static int usage(void)
{
    fprintf(stderr, "usage: arca-enclave --channel-fd N\n");
    return 2;
}

int main(int argc, char **argv)
{
    /* Before anything else: no core dumps, not dumpable. */
    if (arca_isolation_early() != ARCA_OK) {
        fprintf(stderr, "arca-enclave: cannot disable core dumps: %s\n", strerror(errno));
        return 1;
    }
    arca_log_set_component("arca-enclave");

    int channel_fd = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--channel-fd") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != 0 || v <= 2 || v > 65535) return usage();
            channel_fd = (int)v;
        } else {
            return usage();
        }
    }
    if (channel_fd < 0) return usage();

    /* Secret memory, and OpenSSL's allocations routed into it, before any
     * OpenSSL call. */
    if (arca_secmem_init(SECMEM_CAP, false) != ARCA_OK || arca_secmem_route_openssl() != ARCA_OK) {
        ARCA_ERROR("cannot set up secret memory");
        return 1;
    }
    arca_secmem_mode mode = arca_secmem_mode_get();
    if (mode == ARCA_SECMEM_MEMFD_SECRET)
        ARCA_INFO("secret memory: %s", arca_secmem_mode_name(mode));
    else
        ARCA_WARN("secret memory: %s: THE KERNEL LACKS memfd_secret; key material is only mlock()ed and "
                  "readable by root through /proc/PID/mem",
                  arca_secmem_mode_name(mode));

    if (arca_isolation_close_fds(channel_fd) != ARCA_OK) {
        ARCA_ERROR("cannot close inherited descriptors");
        return 1;
    }
    if (fcntl(channel_fd, F_GETFD) < 0) {
        ARCA_ERROR("channel descriptor %d is not open", channel_fd);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that goes away is an EPIPE, not a signal */

    enclave e = {0};
    arca_hc_handlers h = {.ctx = &e,
                          .on_start = on_start,
                          .on_connection = on_connection,
                          .on_shutdown = on_shutdown,
                          .can_stop = can_stop,
                          .on_status = on_status};
    if (arca_host_channel_new(channel_fd, &h, &e.hc) != ARCA_OK) return 1;
    ARCA_INFO("waiting for START on descriptor %d", channel_fd);
    arca_status st = arca_host_channel_run(e.hc);
    if (st != ARCA_OK && arca_host_channel_state(e.hc) == ARCA_HC_OPENING) {
        /* The host went away while the start thread is still working on
         * state it shares with us: end without tearing down under it. */
        ARCA_ERROR("ending during start-up: %s", arca_status_name(st));
        _exit(1);
    }

    /* Wake and wait for connection workers (their OCALLs now fail). */
    arca_conn_mgr_free(e.conns);
    arca_tls_server_free(e.tls);
    arca_kms_free(e.kms);
    arca_sealing_free(e.sealing);
    arca_host_channel_free(e.hc);
    close(channel_fd);
    if (st == ARCA_OK) ARCA_INFO("stopped");
    else ARCA_ERROR("ending: %s", arca_status_name(st));
    return st == ARCA_OK ? 0 : 1;
}
