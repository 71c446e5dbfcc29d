/* test_provider_fork.sh's C program: threads and fork() with the arca
 * provider.
 *
 *   provider_threads URI PUBKEY.pem SECONDS [default-first]
 *
 * Loads arca and default (in that order, or default first with the fourth
 * argument), opens URI through OSSL_STORE and:
 *   1. 4 threads sign with that one key concurrently (EVP_DigestSign) for
 *      SECONDS seconds; every signature is verified with PUBKEY.pem by the
 *      default provider;
 *   2. fork(): the child loads the key again (a new OSSL_STORE_open after
 *      the fork) and signs and verifies 20 times, then 10 times with the
 *      key loaded before the fork, while the parent's 2 threads go on
 *      signing with that key; both
 *      sides run at the same time, so a child that reused the parent's TLS
 *      sessions would break the parent's or its own records;
 *   3. the parent signs 20 more times after the child has exited (the
 *      child's exit must leave the parent's connections alone).
 * Prints "child 20 inherited 10" (the child) and "threads N parent K"
 * (the parent, N and K the signature counts) and exits 0 only if every
 * signature verified; else the failure and OpenSSL's error queue. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NUM_THREADS 4

static EVP_PKEY *g_pub;
static const char *g_mdname;
static atomic_int g_stop;
static atomic_long g_count;
static atomic_int g_failed;

static void report(const char *who, const char *what)
{
    fprintf(stderr, "provider_threads (%s, pid %ld): %s\n", who, (long)getpid(), what);
    ERR_print_errors_fp(stderr);
}

static EVP_PKEY *load_key(const char *uri)
{
    EVP_PKEY *key = NULL;
    OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
    if (st == NULL) return NULL;
    while (key == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    return key;
}

/* One signature with key over a message naming who and n, verified. */
static int sign_once(EVP_PKEY *key, const char *who, long n)
{
    unsigned char sig[1024];
    char msg[96];
    size_t sig_len = sizeof sig;
    int ok;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int len = snprintf(msg, sizeof msg, "%s %ld %ld", who, (long)getpid(), n);
    ok = md != NULL && EVP_DigestSignInit_ex(md, NULL, g_mdname, NULL, NULL, key, NULL) == 1 &&
         EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)msg, (size_t)len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        report(who, "EVP_DigestSign failed");
        return 0;
    }
    md = EVP_MD_CTX_new();
    ok = md != NULL && EVP_DigestVerifyInit_ex(md, NULL, g_mdname, NULL, "provider=default", g_pub, NULL) == 1 &&
         EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg, (size_t)len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) report(who, "signature did not verify with the default provider");
    return ok;
}

static void *signer(void *arg)
{
    EVP_PKEY *key = arg;
    long n = 0;
    while (!atomic_load(&g_stop)) {
        if (!sign_once(key, "thread", n++)) {
            atomic_store(&g_failed, 1);
            break;
        }
        atomic_fetch_add(&g_count, 1);
    }
    ERR_clear_error();
    return NULL;
}

/* Run num signer threads until g_stop (set by the caller or after secs). */
static int run_threads(EVP_PKEY *key, int num, double secs, pid_t child, int *child_status)
{
    pthread_t t[NUM_THREADS];
    struct timespec start, now;
    int started = 0;
    atomic_store(&g_stop, 0);
    for (; started < num; started++) {
        if (pthread_create(&t[started], NULL, signer, key) != 0) break;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        usleep(50 * 1000);
        if (atomic_load(&g_failed)) break;
        if (child > 0) { /* run until the child is done */
            if (waitpid(child, child_status, WNOHANG) == child) break;
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 >= secs) break;
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    return started == num && !atomic_load(&g_failed);
}

int main(int argc, char **argv)
{
    EVP_PKEY *key;
    FILE *f;
    pid_t child;
    int status = 0;
    long threads_count, parent_count;
    if (argc < 4) {
        fprintf(stderr, "usage: provider_threads URI PUBKEY.pem SECONDS [default-first]\n");
        return 2;
    }
    if (argc > 4 && strcmp(argv[4], "default-first") == 0) {
        if (OSSL_PROVIDER_load(NULL, "default") == NULL || OSSL_PROVIDER_load(NULL, "arca") == NULL) {
            report("main", "OSSL_PROVIDER_load");
            return 1;
        }
    } else if (OSSL_PROVIDER_load(NULL, "arca") == NULL || OSSL_PROVIDER_load(NULL, "default") == NULL) {
        report("main", "OSSL_PROVIDER_load");
        return 1;
    }
    if ((f = fopen(argv[2], "r")) == NULL) return 1;
    g_pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (g_pub == NULL) {
        report("main", "read public key");
        return 1;
    }
    if ((key = load_key(argv[1])) == NULL) {
        report("main", "no private key in the store");
        return 1;
    }
    g_mdname = EVP_PKEY_is_a(key, "ED25519") ? NULL : "SHA256";

    /* 1. threads */
    if (!run_threads(key, NUM_THREADS, atof(argv[3]), 0, NULL)) return 1;
    threads_count = atomic_load(&g_count);
    if (threads_count < NUM_THREADS) {
        fprintf(stderr, "provider_threads: only %ld signatures\n", threads_count);
        return 1;
    }

    /* 2. fork */
    fflush(NULL);
    child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        EVP_PKEY *ckey = load_key(argv[1]);
        int n = 0;
        if (ckey == NULL) {
            report("child", "no private key in the store after fork");
            _exit(1);
        }
        for (; n < 20; n++) {
            if (!sign_once(ckey, "child", n)) _exit(1);
        }
        EVP_PKEY_free(ckey);
        /* The key loaded before the fork works in the child too. */
        for (int m = 0; m < 10; m++) {
            if (!sign_once(key, "child-inherited", m)) _exit(1);
        }
        printf("child %d inherited 10\n", n);
        fflush(stdout);
        exit(0); /* atexit: OpenSSL tears the provider down in the child */
    }
    atomic_store(&g_count, 0);
    if (!run_threads(key, 2, 0, child, &status)) {
        (void)waitpid(child, &status, 0);
        return 1;
    }
    parent_count = atomic_load(&g_count);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "provider_threads: child failed (status 0x%x)\n", (unsigned)status);
        return 1;
    }

    /* 3. the parent after the child's exit */
    for (long n = 0; n < 20; n++) {
        if (!sign_once(key, "parent", n)) return 1;
        parent_count++;
    }
    printf("threads %ld parent %ld\n", threads_count, parent_count);
    EVP_PKEY_free(key);
    EVP_PKEY_free(g_pub);
    return 0;
}
