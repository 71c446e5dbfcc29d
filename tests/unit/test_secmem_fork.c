/* Unit test: secret memory after fork() (secmem.c, pthread_atfork).
 *
 * memfd_secret pages are a shared mapping; without the fork handler a
 * child's allocations and frees would land in its parent's heap (the free
 * lists are threaded through the blocks). Here a child writes into, frees
 * and allocates secret blocks; the parent's blocks keep their contents,
 * its free and next allocations work (no "block header corrupt" abort),
 * and the child sees the parent's values as they were at fork(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "arca/secret.h"

static int child_work(uint8_t *a, uint8_t *b)
{
    /* The child sees the values of the moment of fork(). */
    for (size_t i = 0; i < 64; i++)
        if (a[i] != 0x11 || b[i] != 0x22) return 3;
    memset(a, 0x99, 64); /* must not reach the parent */
    arca_secmem_free(b); /* must not free (or wipe) the parent's b */
    uint8_t *c[32];
    for (size_t i = 0; i < 32; i++) { /* would take the parent's free blocks */
        c[i] = arca_secmem_alloc(64);
        if (c[i] == NULL) return 4;
        memset(c[i], 0x77, 64);
    }
    for (size_t i = 0; i < 32; i++) arca_secmem_free(c[i]);
    return 0;
}

static void test_child_does_not_touch_parent(void **state)
{
    (void)state;
    assert_int_equal(arca_secmem_init(0, false), ARCA_OK);
    uint8_t *a = arca_secmem_alloc(64), *b = arca_secmem_alloc(64), *freed = arca_secmem_alloc(64);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(freed);
    memset(a, 0x11, 64);
    memset(b, 0x22, 64);
    arca_secmem_free(freed); /* a free block the child will take */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(child_work(a, b));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (size_t i = 0; i < 64; i++) {
        assert_int_equal(a[i], 0x11);
        assert_int_equal(b[i], 0x22);
    }
    /* The parent's heap is intact: the free block is still free and zero,
     * b frees without the canary check aborting. */
    uint8_t *d = arca_secmem_alloc(64);
    assert_non_null(d);
    for (size_t i = 0; i < 64; i++) assert_int_equal(d[i], 0);
    arca_secmem_free(b);
    arca_secmem_free(a);
    arca_secmem_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_does_not_touch_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
