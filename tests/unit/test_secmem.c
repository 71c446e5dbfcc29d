/* Unit tests: secret memory (secmem.c) and arca_secret.
 *
 * The suite runs twice: first in this process with memfd_secret, then in a
 * re-executed copy of itself (ARCA_TEST_SECMEM_FALLBACK=1) with the forced
 * mlock fallback, because the allocator's mode is decided once per process. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "arca/secret.h"

#define TEST_LIMIT ((size_t)64 << 20)

static bool fallback_run;

static bool is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0) return false;
    return true;
}

/* Must run first: OpenSSL must not have allocated anything yet. The
 * memfd_secret run routes OpenSSL into secret memory; the fallback run
 * proves that routing is refused once OpenSSL has allocated on its own. */
static void test_route_openssl(void **state)
{
    (void)state;
    if (fallback_run) {
        void *p = OPENSSL_malloc(16);
        assert_non_null(p);
        assert_false(arca_secmem_owns(p));
        OPENSSL_free(p);
        assert_int_equal(arca_secmem_route_openssl(), ARCA_ERR_INTERNAL);
        return;
    }
    assert_int_equal(arca_secmem_route_openssl(), ARCA_OK);
    size_t before = arca_secmem_in_use();
    BIGNUM *bn = BN_new();
    assert_non_null(bn);
    assert_true(arca_secmem_owns(bn));
    assert_int_equal(BN_set_word(bn, 0x1234567), 1);
    assert_true(arca_secmem_in_use() > before);
    BN_free(bn);
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(pkey);
    assert_true(arca_secmem_owns(pkey));
    EVP_PKEY_free(pkey);
    /* Routing again installs the same functions: harmless. */
    assert_int_equal(arca_secmem_route_openssl(), ARCA_OK);
}

static void test_mode(void **state)
{
    (void)state;
    arca_secmem_mode m = arca_secmem_mode_get();
    if (fallback_run) {
        assert_int_equal(m, ARCA_SECMEM_MLOCK_FALLBACK);
        assert_string_equal(arca_secmem_mode_name(m), "mlock-fallback");
    } else {
        /* The design says memfd_secret works on this machine's kernel. */
        assert_int_equal(m, ARCA_SECMEM_MEMFD_SECRET);
        assert_string_equal(arca_secmem_mode_name(m), "memfd_secret");
    }
    assert_string_equal(arca_secmem_mode_name(ARCA_SECMEM_UNINITIALISED), "uninitialised");
    /* Later init calls do not change the decision. */
    assert_int_equal(arca_secmem_init(1, !fallback_run), ARCA_OK);
    assert_int_equal(arca_secmem_mode_get(), m);
}

static void test_alloc_zeroed_owned_accounted(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 15, 16, 17, 100, 4096, 65535, 65536, 65537, 1 << 20};
    void *ptrs[sizeof(sizes) / sizeof(sizes[0])];
    size_t base = arca_secmem_in_use();
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t before = arca_secmem_in_use();
        uint8_t *p = arca_secmem_alloc(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_true(arca_secmem_owns(p));
        assert_true(sizes[i] == 0 || arca_secmem_owns(p + sizes[i] - 1));
        assert_true(is_zero(p, sizes[i]));
        assert_true(arca_secmem_in_use() >= before + sizes[i]);
        memset(p, 0xee, sizes[i]);
        ptrs[i] = p;
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) arca_secmem_free(ptrs[i]);
    assert_int_equal(arca_secmem_in_use(), base);
    arca_secmem_free(NULL);
}

static void test_free_wipes_and_reuse_is_zero(void **state)
{
    (void)state;
    uint8_t *p = arca_secmem_alloc(200);
    assert_non_null(p);
    memset(p, 0x77, 200);
    arca_secmem_free(p);
    /* The block stays mapped on a free list; all but the link are zero. */
    assert_true(is_zero(p + sizeof(void *), 200 - sizeof(void *)));
    uint8_t *q = arca_secmem_alloc(200);
    assert_ptr_equal(q, p); /* LIFO free list hands it back */
    assert_true(is_zero(q, 256));
    arca_secmem_free(q);
}

static void test_owns(void **state)
{
    (void)state;
    int on_stack = 0;
    void *heap = malloc(32);
    assert_false(arca_secmem_owns(&on_stack));
    assert_false(arca_secmem_owns(heap));
    assert_false(arca_secmem_owns(NULL));
    assert_false(arca_secmem_owns("literal"));
    free(heap);
    uint8_t *big = arca_secmem_alloc(300000);
    assert_non_null(big);
    assert_true(arca_secmem_owns(big + 299999));
    uintptr_t addr = (uintptr_t)big;
    arca_secmem_free(big);
    /* A freed large block is unmapped and no longer ours. */
    assert_false(arca_secmem_owns((void *)addr));
}

static void test_secmem_realloc(void **state)
{
    (void)state;
    uint8_t *p = arca_secmem_realloc(NULL, 40);
    assert_non_null(p);
    for (int i = 0; i < 40; i++) p[i] = (uint8_t)i;
    uint8_t *old = p;
    p = arca_secmem_realloc(p, 5000);
    assert_non_null(p);
    assert_ptr_not_equal(p, old);
    for (int i = 0; i < 40; i++) assert_int_equal(p[i], i);
    assert_true(is_zero(p + 40, 5000 - 40));
    /* The old block was wiped when realloc moved away from it. */
    assert_true(is_zero(old + sizeof(void *), 40 - sizeof(void *)));
    /* Shrink within the block stays put and wipes the tail. */
    uint8_t *same = arca_secmem_realloc(p, 4500);
    assert_ptr_equal(same, p);
    p = same;
    p[4499] = 1;
    p = arca_secmem_realloc(p, 200000);
    assert_non_null(p);
    for (int i = 0; i < 40; i++) assert_int_equal(p[i], i);
    assert_int_equal(p[4499], 1);
    p = arca_secmem_realloc(p, 10);
    assert_non_null(p);
    for (int i = 0; i < 10; i++) assert_int_equal(p[i], i);
    assert_null(arca_secmem_realloc(p, 0)); /* frees */
}

static void test_limit(void **state)
{
    (void)state;
    assert_null(arca_secmem_alloc(TEST_LIMIT + 1));
    void *a = arca_secmem_alloc(TEST_LIMIT / 2);
    assert_non_null(a);
    /* Chunks already mapped plus another half exceed the limit. */
    assert_null(arca_secmem_alloc(TEST_LIMIT / 2));
    arca_secmem_free(a);
    a = arca_secmem_alloc(TEST_LIMIT / 2);
    assert_non_null(a);
    arca_secmem_free(a);
    assert_null(arca_secmem_alloc(SIZE_MAX));
    assert_null(arca_secmem_alloc(SIZE_MAX - 8));
}

static void test_secret_helpers(void **state)
{
    (void)state;
    arca_secret s = {0};
    arca_secret_free(&s); /* empty secret: no-op */
    assert_int_equal(arca_secret_alloc(&s, 32), ARCA_OK);
    assert_int_equal(s.len, 32);
    assert_true(arca_secmem_owns(s.data));
    assert_true(is_zero(s.data, 32));
    arca_secret_free(&s);
    assert_null(s.data);
    assert_int_equal(s.len, 0);

    const uint8_t key[5] = {1, 2, 3, 4, 5};
    assert_int_equal(arca_secret_copy(&s, key, sizeof(key)), ARCA_OK);
    assert_memory_equal(s.data, key, sizeof(key));
    assert_true(arca_secmem_owns(s.data));
    arca_secret_free(&s);
    assert_int_equal(arca_secret_copy(&s, NULL, 3), ARCA_ERR_ARGS);
    assert_int_equal(arca_secret_copy(NULL, key, 3), ARCA_ERR_ARGS);
    assert_int_equal(arca_secret_alloc(NULL, 3), ARCA_ERR_ARGS);
    assert_int_equal(arca_secret_alloc(&s, TEST_LIMIT * 2), ARCA_ERR_NOMEM);
    assert_null(s.data);
    arca_secret_free(NULL);
}

static void test_wipe_and_ct_memcmp(void **state)
{
    (void)state;
    uint8_t a[33], b[33];
    memset(a, 0x41, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_int_equal(arca_ct_memcmp(a, b, sizeof(a)), 0);
    b[32] ^= 1;
    assert_int_not_equal(arca_ct_memcmp(a, b, sizeof(a)), 0);
    assert_int_equal(arca_ct_memcmp(a, b, 32), 0);
    assert_int_equal(arca_ct_memcmp(a, b, 0), 0);
    arca_wipe(a, sizeof(a));
    assert_true(is_zero(a, sizeof(a)));
    arca_wipe(NULL, 10);
}

/* Run fn in a child with stderr silenced; return its raw wait status. */
static int run_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void corrupt_header_then_free(void)
{
    uint8_t *p = arca_secmem_alloc(64);
    p[-1] ^= 0x01; /* the size field of the header */
    arca_secmem_free(p);
}

static void double_free(void)
{
    void *p = arca_secmem_alloc(64);
    arca_secmem_free(p);
    arca_secmem_free(p);
}

static void foreign_free(void)
{
    static uint8_t not_ours[64] __attribute__((aligned(16)));
    arca_secmem_free(not_ours + 16);
}

static void misaligned_free(void)
{
    uint8_t *p = arca_secmem_alloc(64);
    arca_secmem_free(p + 1);
}

static void overflow_into_next(void)
{
    /* Writing past a block reaches the next block's header. */
    uint8_t *a = NULL, *b = NULL;
    /* Drain the free list until two blocks are carved side by side. */
    for (int i = 0; i < 100000 && (a == NULL || b != a + 32 + 16); i++) {
        a = arca_secmem_alloc(32);
        b = arca_secmem_alloc(32);
    }
    if (a == NULL || b != a + 32 + 16) _exit(3);
    memset(a, 0xff, 40);
    arca_secmem_free(b);
}

static void test_corruption_aborts(void **state)
{
    (void)state;
    void (*const cases[])(void) = {corrupt_header_then_free, double_free, foreign_free, misaligned_free,
                                   overflow_into_next};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status = run_child(cases[i]);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
    }
}

typedef struct peek_result {
    ssize_t secret_ret;
    int secret_errno;
    ssize_t plain_ret;
    int plain_match;
} peek_result;

/* Fork a child that reads our memory at two addresses via /proc/PID/mem. */
static peek_result peek_from_child(const uint8_t *secret_addr, const uint8_t *plain_addr, size_t n)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    (void)prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0); /* Yama, if present */
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        peek_result r = {-2, 0, -2, 0};
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)parent);
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            uint8_t buf[64] = {0};
            errno = 0;
            r.secret_ret = pread(fd, buf, n, (off_t)(uintptr_t)secret_addr);
            r.secret_errno = errno;
            r.plain_ret = pread(fd, buf, n, (off_t)(uintptr_t)plain_addr);
            r.plain_match = r.plain_ret == (ssize_t)n && memcmp(buf, plain_addr, n) == 0;
            close(fd);
        }
        ssize_t w = write(pfd[1], &r, sizeof(r));
        _exit(w == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(pfd[1]);
    peek_result r;
    assert_int_equal(read(pfd[0], &r, sizeof(r)), (ssize_t)sizeof(r));
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return r;
}

static long vm_locked_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmLck: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static void test_memory_is_secret(void **state)
{
    (void)state;
    const size_t n = 32;
    uint8_t *secret = arca_secmem_alloc(n);
    uint8_t *plain = malloc(n);
    assert_non_null(secret);
    assert_non_null(plain);
    memset(secret, 0x5c, n);
    memset(plain, 0x5c, n);
    peek_result r = peek_from_child(secret, plain, n);
    /* The control read must work, or this test proves nothing. */
    assert_int_equal(r.plain_ret, (ssize_t)n);
    assert_true(r.plain_match);
    if (fallback_run) {
        /* Fallback pages are readable through /proc/PID/mem... */
        assert_int_equal(r.secret_ret, (ssize_t)n);
        /* ...but they are locked: a new mapping grows VmLck. */
        long before = vm_locked_kb();
        assert_true(before >= 0);
        uint8_t *big = arca_secmem_alloc(2u << 20);
        assert_non_null(big);
        long after = vm_locked_kb();
        assert_true(after >= before + 2048);
        arca_secmem_free(big);
    } else {
        assert_int_equal(r.secret_ret, -1);
        assert_int_equal(r.secret_errno, EIO);
        /* A large block has its own mapping: secret too. */
        uint8_t *big = arca_secmem_alloc(1u << 20);
        assert_non_null(big);
        memset(big, 0x5c, n);
        r = peek_from_child(big, plain, n);
        assert_int_equal(r.secret_ret, -1);
        assert_int_equal(r.secret_errno, EIO);
        assert_true(r.plain_match);
        arca_secmem_free(big);
    }
    arca_secmem_free(secret);
    free(plain);
}

#define THREAD_ITERS 20000
#define THREAD_SLOTS 64

static void *thread_worker(void *arg)
{
    uintptr_t seed = (uintptr_t)arg;
    uint8_t *slots[THREAD_SLOTS] = {0};
    size_t lens[THREAD_SLOTS] = {0};
    uint32_t x = (uint32_t)seed * 2654435761u + 1;
    for (int i = 0; i < THREAD_ITERS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t s = x % THREAD_SLOTS;
        if (slots[s] != NULL) {
            for (size_t k = 0; k < lens[s]; k++)
                if (slots[s][k] != (uint8_t)(seed + s)) return (void *)1;
            arca_secmem_free(slots[s]);
            slots[s] = NULL;
        } else {
            lens[s] = (x >> 8) % ((x & 1) ? 100000 : 512) + 1;
            slots[s] = arca_secmem_alloc(lens[s]);
            if (slots[s] == NULL) return (void *)2;
            memset(slots[s], (uint8_t)(seed + s), lens[s]);
        }
    }
    for (size_t s = 0; s < THREAD_SLOTS; s++) arca_secmem_free(slots[s]);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    size_t base = arca_secmem_in_use();
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, thread_worker, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    assert_int_equal(arca_secmem_in_use(), base);
}

static int run_suite(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_openssl),
        cmocka_unit_test(test_mode),
        cmocka_unit_test(test_alloc_zeroed_owned_accounted),
        cmocka_unit_test(test_free_wipes_and_reuse_is_zero),
        cmocka_unit_test(test_owns),
        cmocka_unit_test(test_secmem_realloc),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_secret_helpers),
        cmocka_unit_test(test_wipe_and_ct_memcmp),
        cmocka_unit_test(test_corruption_aborts),
        cmocka_unit_test(test_memory_is_secret),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name(fallback_run ? "secmem-mlock-fallback" : "secmem-memfd_secret", tests,
                                       NULL, NULL);
}

int main(int argc, char **argv)
{
    (void)argc;
    fallback_run = getenv("ARCA_TEST_SECMEM_FALLBACK") != NULL;
    if (arca_secmem_init(TEST_LIMIT, fallback_run) != ARCA_OK) return 1;
    int failed = run_suite();
    if (fallback_run) return failed;

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        setenv("ARCA_TEST_SECMEM_FALLBACK", "1", 1);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return 1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    return failed;
}
