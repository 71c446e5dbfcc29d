/* bench_keys: drives a running appliance through libarca-client, the path
 * every client uses, and prints what it measured.
 *
 *   bench_keys create N THREADS   create N AES-256 token keys labelled
 *                                 bench-<i>, THREADS connections in parallel;
 *                                 prints keys/s
 *   bench_keys use N K            K times: find bench-<random i < N> by label
 *                                 and encrypt 64 bytes with it; prints p50/p99
 *                                 of find and of encrypt (cold keys: unsealed
 *                                 on demand)
 *   bench_keys first-op TIMEOUT_S connect (retrying until the socket is up),
 *                                 log in, find bench-0 and encrypt with it;
 *                                 prints the elapsed time since the process
 *                                 started
 * Client configuration (address, client certificate and key, trust policy;
 * docs/client.md) from the file named by ARCA_CLIENT_CONF, partition from
 * ARCA_PARTITION (default "bench"), PIN from ARCA_PIN. Every connection is
 * a TLS 1.3 session with its own attestation check and login. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "arca/client.h"

static const char *partition, *pin;
static arca_client_config cfg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static arca_client *open_session(int retry_s)
{
    arca_client *c = NULL;
    double deadline = now_s() + retry_s;
    for (;;) {
        char msg[ARCA_CLIENT_MSG_LEN];
        arca_status st = arca_client_open(&cfg, &c, msg, sizeof(msg));
        if (st == ARCA_OK) break;
        /* Only a server that is not up yet is worth waiting for. */
        if (now_s() > deadline || (st != ARCA_ERR_IO && st != ARCA_ERR_TIMEOUT && st != ARCA_ERR_CRYPTO)) {
            fprintf(stderr, "bench_keys: cannot connect to %s: %s: %s\n", cfg.address, arca_status_name(st), msg);
            exit(1);
        }
        usleep(2000);
    }
    arca_status st = arca_client_login(c, partition, ARCA_CLIENT_ROLE_USER, pin);
    if (st != ARCA_OK) {
        fprintf(stderr, "bench_keys: login: %s: %s\n", arca_status_name(st), arca_client_last_message(c));
        exit(1);
    }
    return c;
}

static void u32be(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24), out[1] = (uint8_t)(v >> 16), out[2] = (uint8_t)(v >> 8), out[3] = (uint8_t)v;
}

struct create_arg {
    long from, to;
};

static void *create_worker(void *varg)
{
    struct create_arg *a = varg;
    arca_client *c = open_session(5);
    uint8_t len32[4];
    u32be(len32, 32);
    for (long i = a->from; i < a->to; i++) {
        char label[32];
        int n = snprintf(label, sizeof(label), "bench-%ld", i);
        arca_lp_attr t[] = {{CKA_VALUE_LEN, len32, 4}, {CKA_LABEL, (const uint8_t *)label, (size_t)n}};
        arca_client_id id;
        arca_status st = arca_client_generate_key(c, CKM_AES_KEY_GEN, t, 2, &id);
        if (st != ARCA_OK) {
            fprintf(stderr, "bench_keys: generate %s: %s\n", label, arca_status_name(st));
            exit(1);
        }
    }
    arca_client_close(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int find_and_encrypt(arca_client *c, long i, double *t_find, double *t_enc)
{
    char label[32];
    int n = snprintf(label, sizeof(label), "bench-%ld", i);
    arca_lp_attr t[] = {{CKA_LABEL, (const uint8_t *)label, (size_t)n}};
    arca_client_id id;
    size_t num = 0;
    double t0 = now_s();
    arca_status st = arca_client_find(c, t, 1, &id, 1, &num);
    double t1 = now_s();
    if (st != ARCA_OK || num != 1) {
        fprintf(stderr, "bench_keys: find %s: %s, %zu found\n", label, arca_status_name(st), num);
        return -1;
    }
    uint8_t data[64] = {0};
    arca_lp_mechanism m;
    memset(&m, 0, sizeof(m));
    m.type = CKM_AES_GCM;
    uint8_t *out = NULL;
    size_t out_len = 0;
    st = arca_client_encrypt(c, &id, &m, data, sizeof(data), &out, &out_len);
    double t2 = now_s();
    if (st != ARCA_OK) {
        fprintf(stderr, "bench_keys: encrypt: %s\n", arca_status_name(st));
        return -1;
    }
    free(out);
    if (t_find) *t_find = t1 - t0;
    if (t_enc) *t_enc = t2 - t1;
    return 0;
}

int main(int argc, char **argv)
{
    double start = now_s();
    partition = getenv("ARCA_PARTITION") ? getenv("ARCA_PARTITION") : "bench";
    pin = getenv("ARCA_PIN");
    if (!pin || argc < 3) {
        fprintf(stderr,
                "usage: ARCA_CLIENT_CONF=.. ARCA_PIN=.. bench_keys create N THREADS | use N K | first-op TIMEOUT_S\n");
        return 2;
    }
    char msg[ARCA_CLIENT_MSG_LEN];
    arca_status cst = arca_client_config_from_env(&cfg, msg, sizeof(msg));
    if (cst != ARCA_OK) {
        fprintf(stderr, "bench_keys: %s\n", msg);
        return 2;
    }
    if (strcmp(argv[1], "create") == 0 && argc == 4) {
        long n = atol(argv[2]);
        int threads = atoi(argv[3]);
        if (n <= 0 || threads <= 0 || threads > 64) return 2;
        pthread_t th[64];
        struct create_arg args[64];
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            args[i].from = n * i / threads;
            args[i].to = n * (i + 1) / threads;
            pthread_create(&th[i], NULL, create_worker, &args[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
        double dt = now_s() - t0;
        printf("created %ld AES-256 keys in %.1f s: %.0f keys/s (%d connections)\n", n, dt, (double)n / dt, threads);
        return 0;
    }
    if (strcmp(argv[1], "use") == 0 && argc == 4) {
        long n = atol(argv[2]);
        int k = atoi(argv[3]);
        if (n <= 0 || k <= 0) return 2;
        arca_client *c = open_session(5);
        double *tf = calloc((size_t)k, sizeof(double)), *te = calloc((size_t)k, sizeof(double));
        srand((unsigned)time(NULL));
        for (int i = 0; i < k; i++)
            if (find_and_encrypt(c, rand() % n, &tf[i], &te[i]) != 0) return 1;
        qsort(tf, (size_t)k, sizeof(double), cmp_double);
        qsort(te, (size_t)k, sizeof(double), cmp_double);
        printf("find by label among %ld keys: p50 %.3f ms, p99 %.3f ms (%d lookups)\n", n, tf[k / 2] * 1e3,
               tf[k * 99 / 100] * 1e3, k);
        printf("encrypt with a key found that way: p50 %.3f ms, p99 %.3f ms\n", te[k / 2] * 1e3,
               te[k * 99 / 100] * 1e3);
        arca_client_close(c);
        return 0;
    }
    if (strcmp(argv[1], "first-op") == 0) {
        arca_client *c = open_session(atoi(argv[2]));
        if (find_and_encrypt(c, 0, NULL, NULL) != 0) return 1;
        printf("first successful operation %.3f s after start\n", now_s() - start);
        arca_client_close(c);
        return 0;
    }
    return 2;
}
