/* p11_bench: throughput and latency of a PKCS#11 module (bench/run.sh).
 *
 * Loads the module named on the command line with dlopen (as applications
 * do), finds the token by label, logs in as the user, creates the keys it
 * needs as token objects (each worker thread opens its own session, and
 * with libarca-pkcs11.so session objects are visible only to the session
 * that made them), then for each thread count and each workload runs the
 * threads for SECONDS and prints one line per cell:
 *
 *   RESULT TAG WORKLOAD THREADS OPS ELAPSED_S OPS_PER_S P50_US P99_US ERRORS
 *
 * Workloads: ecdsa (CKM_ECDSA, P-256, 32-byte hash), rsa (CKM_SHA256_RSA_PKCS,
 * RSA-2048, 32-byte message), ed25519 (CKM_EDDSA, 32-byte message), aesgcm
 * (CKM_AES_GCM, AES-256, 4096-byte plaintext, a fresh 96-bit IV per
 * operation), hmac (CKM_SHA256_HMAC, 32-byte generic secret, 64-byte
 * message), ecgen (CKM_EC_KEY_PAIR_GEN, P-256, token objects).
 *
 * Every operation is C_*Init + the one-shot call, timed together. Each
 * thread does one untimed operation before the common start (connection
 * and key cache warm-up). --start-at EPOCH_SECONDS delays the common start
 * to that wall-clock time (two processes started together, bench/run.sh).
 * --hook CMD runs "CMD begin|end TAG WORKLOAD THREADS" (system(3)) around
 * the timed part of each cell, when no worker is running an operation.
 * Exit status 0 when every cell ran without an error, 1 otherwise; errors
 * are printed with their CK_RV on stderr. This is a benchmark, not a test:
 * it asserts nothing about time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

enum { W_ECDSA, W_RSA, W_ED25519, W_AESGCM, W_HMAC, W_ECGEN, W_COUNT };
static const char *const wnames[W_COUNT] = {"ecdsa", "rsa", "ed25519", "aesgcm", "hmac", "ecgen"};

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE k_ec, k_rsa, k_ed, k_aes, k_hmac;
static CK_BYTE p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static CK_BYTE ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static CK_BBOOL yes = CK_TRUE;
static char label_prefix[64];

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- one operation of each workload ---- */

typedef struct {
    CK_SESSION_HANDLE s;
    uint64_t iv_counter;
    unsigned id;
    CK_BYTE in[4096];
    CK_BYTE out[4096 + 64];
} op_ctx;

static CK_RV sign_once(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k, CK_BYTE *in, CK_ULONG in_len,
                       CK_BYTE *out, CK_ULONG out_cap)
{
    CK_RV rv = f->C_SignInit(s, m, k);
    if (rv != CKR_OK) return rv;
    CK_ULONG out_len = out_cap;
    return f->C_Sign(s, in, in_len, out, &out_len);
}

static CK_RV gen_ec(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pub_t[] = {{CKA_EC_PARAMS, p256_oid, sizeof(p256_oid)}, {CKA_TOKEN, &yes, sizeof(yes)},
                            {CKA_VERIFY, &yes, sizeof(yes)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_ATTRIBUTE priv_t[] = {{CKA_TOKEN, &yes, sizeof(yes)}, {CKA_PRIVATE, &yes, sizeof(yes)},
                             {CKA_SIGN, &yes, sizeof(yes)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE pub;
    return f->C_GenerateKeyPair(s, &m, pub_t, 4, priv_t, 4, &pub, priv);
}

static CK_RV run_op(int w, op_ctx *c)
{
    CK_MECHANISM m = {0, NULL, 0};
    switch (w) {
    case W_ECDSA:
        m.mechanism = CKM_ECDSA;
        return sign_once(c->s, &m, k_ec, c->in, 32, c->out, sizeof(c->out));
    case W_RSA:
        m.mechanism = CKM_SHA256_RSA_PKCS;
        return sign_once(c->s, &m, k_rsa, c->in, 32, c->out, sizeof(c->out));
    case W_ED25519:
        m.mechanism = CKM_EDDSA;
        return sign_once(c->s, &m, k_ed, c->in, 32, c->out, sizeof(c->out));
    case W_HMAC:
        m.mechanism = CKM_SHA256_HMAC;
        return sign_once(c->s, &m, k_hmac, c->in, 64, c->out, sizeof(c->out));
    case W_AESGCM: {
        CK_BYTE iv[12] = {0};
        c->iv_counter++;
        memcpy(iv, &c->iv_counter, sizeof(c->iv_counter));
        memcpy(iv + 8, &c->id, sizeof(c->id));
        CK_GCM_PARAMS p = {iv, sizeof(iv), sizeof(iv) * 8, NULL, 0, 128};
        m.mechanism = CKM_AES_GCM;
        m.pParameter = &p;
        m.ulParameterLen = sizeof(p);
        CK_RV rv = f->C_EncryptInit(c->s, &m, k_aes);
        if (rv != CKR_OK) return rv;
        CK_ULONG out_len = sizeof(c->out);
        return f->C_Encrypt(c->s, c->in, 4096, c->out, &out_len);
    }
    case W_ECGEN: {
        char label[96];
        CK_OBJECT_HANDLE priv;
        snprintf(label, sizeof(label), "%s-gen", label_prefix);
        return gen_ec(c->s, label, &priv);
    }
    default:
        return CKR_FUNCTION_FAILED;
    }
}

/* ---- threads ---- */

typedef struct {
    pthread_t th;
    int w;
    unsigned id;
    uint32_t *lat_ns; /* latencies, ns (capped at UINT32_MAX) */
    size_t n, cap;
    double last;
    CK_RV err;
    const char *err_where;
} worker;

static pthread_barrier_t ready_barrier, go_barrier;
static const char *g_hook;
static double g_start, g_deadline;

static int push(worker *wk, uint32_t v)
{
    if (wk->n == wk->cap) {
        size_t nc = wk->cap ? wk->cap * 2 : 65536;
        uint32_t *p = realloc(wk->lat_ns, nc * sizeof(*p));
        if (p == NULL) return -1;
        wk->lat_ns = p;
        wk->cap = nc;
    }
    wk->lat_ns[wk->n++] = v;
    return 0;
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    op_ctx *c = calloc(1, sizeof(*c));
    CK_RV rv = CKR_HOST_MEMORY;
    int session_open = 0;
    if (c == NULL) goto wait;
    c->id = wk->id;
    for (size_t i = 0; i < sizeof(c->in); i++) c->in[i] = (CK_BYTE)(i * 7 + wk->id);
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &c->s);
    if (rv != CKR_OK) {
        wk->err_where = "C_OpenSession";
        goto wait;
    }
    session_open = 1;
    if (wk->w != W_ECGEN && (rv = run_op(wk->w, c)) != CKR_OK) wk->err_where = "warm-up operation";
wait:
    if (rv != CKR_OK && wk->err == CKR_OK) wk->err = rv;
    pthread_barrier_wait(&ready_barrier);
    pthread_barrier_wait(&go_barrier);
    if (wk->err == CKR_OK) {
        for (;;) {
            double t0 = now_mono();
            rv = run_op(wk->w, c);
            double t1 = now_mono();
            if (rv != CKR_OK) {
                wk->err = rv;
                wk->err_where = "operation";
                break;
            }
            double ns = (t1 - t0) * 1e9;
            if (push(wk, ns >= 4294967295.0 ? UINT32_MAX : (uint32_t)ns) != 0) {
                wk->err = CKR_HOST_MEMORY;
                wk->err_where = "latency buffer";
                break;
            }
            wk->last = t1;
            if (t1 >= g_deadline) break;
        }
    }
    if (session_open) (void)f->C_CloseSession(c->s);
    free(c);
    return NULL;
}

/* --hook CMD: run "CMD begin|end TAG WORKLOAD THREADS" around the timed part of
 * each cell (bench/run.sh samples the enclave's CPU time with it). */
static void hook(const char *phase, const char *tag, int w, unsigned threads)
{
    if (g_hook == NULL) return;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s %s %s %u", g_hook, phase, tag, wnames[w], threads);
    if (system(cmd) != 0) fprintf(stderr, "p11_bench: hook '%s' failed\n", cmd);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int run_cell(const char *tag, int w, unsigned threads, double seconds, double start_at)
{
    worker *wk = calloc(threads, sizeof(*wk));
    int failed = 0;
    if (wk == NULL) return 1;
    pthread_barrier_init(&ready_barrier, NULL, threads + 1);
    pthread_barrier_init(&go_barrier, NULL, threads + 1);
    for (unsigned i = 0; i < threads; i++) {
        wk[i].w = w;
        wk[i].id = i + 1;
        if (pthread_create(&wk[i].th, NULL, worker_main, &wk[i]) != 0) {
            fprintf(stderr, "p11_bench: pthread_create failed\n");
            exit(1);
        }
    }
    if (start_at > 0) {
        double d = start_at - now_real();
        if (d > 0) {
            struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
        }
    }
    pthread_barrier_wait(&ready_barrier); /* every thread has its session */
    hook("begin", tag, w, threads);
    g_start = now_mono();
    g_deadline = g_start + seconds;
    pthread_barrier_wait(&go_barrier);
    size_t total = 0;
    double end = g_start;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(wk[i].th, NULL);
        total += wk[i].n;
        if (wk[i].last > end) end = wk[i].last;
        if (wk[i].err != CKR_OK) {
            fprintf(stderr, "p11_bench: %s %s thread %u: %s: CK_RV 0x%lx\n", tag, wnames[w], i + 1,
                    wk[i].err_where ? wk[i].err_where : "?", (unsigned long)wk[i].err);
            failed = 1;
        }
    }
    pthread_barrier_destroy(&ready_barrier);
    pthread_barrier_destroy(&go_barrier);
    hook("end", tag, w, threads);
    uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
    if (all == NULL) exit(1);
    size_t k = 0;
    for (unsigned i = 0; i < threads; i++) {
        memcpy(all + k, wk[i].lat_ns, wk[i].n * sizeof(*all));
        k += wk[i].n;
        free(wk[i].lat_ns);
    }
    qsort(all, total, sizeof(*all), cmp_u32);
    double elapsed = end - g_start;
    double p50 = total ? all[(total - 1) / 2] / 1e3 : 0, p99 = total ? all[(size_t)((double)(total - 1) * 0.99)] / 1e3 : 0;
    printf("RESULT %s %s %u %zu %.3f %.1f %.1f %.1f %d\n", tag, wnames[w], threads, total, elapsed,
           elapsed > 0 ? (double)total / elapsed : 0.0, p50, p99, failed);
    fflush(stdout);
    free(all);
    free(wk);
    return failed;
}

/* ---- setup ---- */

static CK_RV setup_keys(CK_SESSION_HANDLE s, const int *want)
{
    CK_RV rv = CKR_OK;
    char label[96];
    if (want[W_ECDSA]) {
        snprintf(label, sizeof(label), "%s-ec", label_prefix);
        if ((rv = gen_ec(s, label, &k_ec)) != CKR_OK) return fprintf(stderr, "EC P-256 key: "), rv;
    }
    if (want[W_RSA]) {
        CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
        CK_ULONG bits = 2048;
        CK_BYTE e[] = {1, 0, 1};
        snprintf(label, sizeof(label), "%s-rsa", label_prefix);
        CK_ATTRIBUTE pub_t[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_PUBLIC_EXPONENT, e, sizeof(e)},
                                {CKA_TOKEN, &yes, sizeof(yes)}, {CKA_VERIFY, &yes, sizeof(yes)},
                                {CKA_LABEL, label, strlen(label)}};
        CK_ATTRIBUTE priv_t[] = {{CKA_TOKEN, &yes, sizeof(yes)}, {CKA_PRIVATE, &yes, sizeof(yes)},
                                 {CKA_SIGN, &yes, sizeof(yes)}, {CKA_LABEL, label, strlen(label)}};
        CK_OBJECT_HANDLE pub;
        if ((rv = f->C_GenerateKeyPair(s, &m, pub_t, 5, priv_t, 4, &pub, &k_rsa)) != CKR_OK)
            return fprintf(stderr, "RSA-2048 key: "), rv;
    }
    if (want[W_ED25519]) {
        CK_MECHANISM m = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0};
        snprintf(label, sizeof(label), "%s-ed", label_prefix);
        CK_ATTRIBUTE pub_t[] = {{CKA_EC_PARAMS, ed25519_oid, sizeof(ed25519_oid)}, {CKA_TOKEN, &yes, sizeof(yes)},
                                {CKA_VERIFY, &yes, sizeof(yes)}, {CKA_LABEL, label, strlen(label)}};
        CK_ATTRIBUTE priv_t[] = {{CKA_TOKEN, &yes, sizeof(yes)}, {CKA_PRIVATE, &yes, sizeof(yes)},
                                 {CKA_SIGN, &yes, sizeof(yes)}, {CKA_LABEL, label, strlen(label)}};
        CK_OBJECT_HANDLE pub;
        if ((rv = f->C_GenerateKeyPair(s, &m, pub_t, 4, priv_t, 4, &pub, &k_ed)) != CKR_OK)
            return fprintf(stderr, "Ed25519 key: "), rv;
    }
    if (want[W_AESGCM]) {
        CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
        CK_ULONG len = 32;
        snprintf(label, sizeof(label), "%s-aes", label_prefix);
        CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, sizeof(yes)},
                            {CKA_ENCRYPT, &yes, sizeof(yes)}, {CKA_DECRYPT, &yes, sizeof(yes)},
                            {CKA_LABEL, label, strlen(label)}};
        if ((rv = f->C_GenerateKey(s, &m, t, 5, &k_aes)) != CKR_OK) return fprintf(stderr, "AES-256 key: "), rv;
    }
    if (want[W_HMAC]) {
        CK_MECHANISM m = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
        CK_ULONG len = 32;
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
        snprintf(label, sizeof(label), "%s-hmac", label_prefix);
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},           {CKA_KEY_TYPE, &kt, sizeof(kt)},
                            {CKA_VALUE_LEN, &len, sizeof(len)},       {CKA_TOKEN, &yes, sizeof(yes)},
                            {CKA_SIGN, &yes, sizeof(yes)},            {CKA_VERIFY, &yes, sizeof(yes)},
                            {CKA_LABEL, label, strlen(label)}};
        if ((rv = f->C_GenerateKey(s, &m, t, 7, &k_hmac)) != CKR_OK)
            return fprintf(stderr, "generic secret key: "), rv;
    }
    return CKR_OK;
}

static int find_slot(const char *label)
{
    CK_SLOT_ID ids[64];
    CK_ULONG n = 64;
    if (f->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK) return -1;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(ids[i], &ti) != CKR_OK) continue;
        size_t l = strlen(label);
        if (l > sizeof(ti.label)) continue;
        if (memcmp(ti.label, label, l) != 0) continue;
        int ok = 1;
        for (size_t j = l; j < sizeof(ti.label); j++) ok &= ti.label[j] == ' ';
        if (ok) {
            slot = ids[i];
            return 0;
        }
    }
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: p11_bench MODULE.so --token LABEL --pin PIN [--tag NAME] [--seconds S]\n"
                    "       [--threads 1,2] [--workloads ecdsa,rsa,ed25519,aesgcm,hmac,ecgen]\n"
                    "       [--start-at EPOCH_SECONDS] [--hook CMD]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *module = NULL, *token = NULL, *pin = NULL, *tag = "module";
    const char *threads_arg = "1,2", *work_arg = "ecdsa,rsa,ed25519,aesgcm,hmac,ecgen";
    double seconds = 3, start_at = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (module) usage();
            module = a;
            continue;
        }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (strcmp(a, "--token") == 0) token = v;
        else if (strcmp(a, "--pin") == 0) pin = v;
        else if (strcmp(a, "--tag") == 0) tag = v;
        else if (strcmp(a, "--seconds") == 0) seconds = atof(v);
        else if (strcmp(a, "--threads") == 0) threads_arg = v;
        else if (strcmp(a, "--workloads") == 0) work_arg = v;
        else if (strcmp(a, "--start-at") == 0) start_at = atof(v);
        else if (strcmp(a, "--hook") == 0) g_hook = v;
        else usage();
    }
    if (!module || !token || !pin || seconds <= 0) usage();

    int order[W_COUNT * 2], norder = 0, want[W_COUNT] = {0};
    char *wl = strdup(work_arg);
    for (char *save = NULL, *t = strtok_r(wl, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int w = 0;
        while (w < W_COUNT && strcmp(t, wnames[w]) != 0) w++;
        if (w == W_COUNT || norder == W_COUNT * 2) {
            fprintf(stderr, "p11_bench: unknown workload '%s'\n", t);
            return 2;
        }
        order[norder++] = w;
        want[w] = 1;
    }
    free(wl);
    unsigned tcounts[8], ntc = 0;
    char *tl = strdup(threads_arg);
    for (char *save = NULL, *t = strtok_r(tl, ",", &save); t && ntc < 8; t = strtok_r(NULL, ",", &save)) {
        int n = atoi(t);
        if (n < 1 || n > 64) usage();
        tcounts[ntc++] = (unsigned)n;
    }
    free(tl);

    void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "p11_bench: dlopen %s: %s\n", module, dlerror());
        return 1;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    if (gfl == NULL || gfl(&f) != CKR_OK) {
        fprintf(stderr, "p11_bench: %s: no C_GetFunctionList\n", module);
        return 1;
    }
    CK_C_INITIALIZE_ARGS ia = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    CK_RV rv = f->C_Initialize(&ia);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11_bench: C_Initialize: CK_RV 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    if (find_slot(token) != 0) {
        fprintf(stderr, "p11_bench: %s: no token labelled '%s'\n", module, token);
        return 1;
    }
    CK_SESSION_HANDLE s;
    if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK) {
        fprintf(stderr, "p11_bench: C_OpenSession: CK_RV 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        fprintf(stderr, "p11_bench: C_Login: CK_RV 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    snprintf(label_prefix, sizeof(label_prefix), "bench-%ld", (long)getpid());
    if ((rv = setup_keys(s, want)) != CKR_OK) {
        fprintf(stderr, "generation failed: CK_RV 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < norder; i++)
        for (unsigned t = 0; t < ntc; t++) {
            /* A common start for two processes applies to the first cell only. */
            failed |= run_cell(tag, order[i], tcounts[t], seconds, start_at);
            start_at = 0;
        }
    /* The setup session stays open during the cells: it keeps the login
     * (a token's login ends with its last session). */
    (void)f->C_CloseSession(s);
    (void)f->C_Finalize(NULL);
    return failed;
}
