/* Process isolation of arca-enclave. See isolation.h. */
#include "isolation.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "arca/log.h"

arca_status arca_isolation_early(void)
{
    struct rlimit no_core = {0, 0};
    ARCA_ENSURE(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, ARCA_ERR_IO);
    ARCA_ENSURE(setrlimit(RLIMIT_CORE, &no_core) == 0, ARCA_ERR_IO);
    return ARCA_OK;
}

arca_status arca_isolation_close_fds(int keep_fd)
{
    ARCA_ENSURE(keep_fd > 2, ARCA_ERR_ARGS);
    /* close_range(2) where the kernel has it; else walk /proc/self/fd. */
    if (close_range(3, (unsigned)keep_fd - 1, 0) == 0 && close_range((unsigned)keep_fd + 1, ~0u, 0) == 0)
        return ARCA_OK;
    DIR *d = opendir("/proc/self/fd");
    ARCA_ENSURE(d != NULL, ARCA_ERR_IO);
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != 0 || end == e->d_name) continue;
        if (fd > 2 && fd != keep_fd && fd != dfd) close((int)fd);
    }
    closedir(d);
    return ARCA_OK;
}

/* What arca-enclave needs after start-up, and nothing more: I/O on the
 * descriptors it already holds (channel, client sockets, the dev counter
 * file), memory (including memfd_secret pages), threads, time, randomness
 * and exiting. No open/openat, execve, socket, connect, ptrace. */
static const char *const allowed[] = {
    /* I/O on held descriptors */
    "read", "write", "readv", "writev", "recvmsg", "sendmsg", "recvfrom", "sendto", "close", "poll", "ppoll",
    "fcntl", "shutdown", "lseek", "pread64", "pwrite64", "fsync", "fdatasync", "fstat", "newfstatat",
    /* memory */
    "mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "memfd_secret", "ftruncate", "mlock", "munlock",
    /* threads and synchronisation */
    "futex", "clone", "clone3", "set_robust_list", "rseq", "sched_yield", "getpid",
    "gettid", "tgkill", "rt_sigreturn", "rt_sigprocmask", "sigaltstack", "restart_syscall",
    /* time and randomness */
    "clock_gettime", "gettimeofday", "nanosleep", "clock_nanosleep", "getrandom",
    /* leaving */
    "exit", "exit_group",
#ifdef ARCA_SANITIZE_BUILD
    /* ASan's thread start calls pthread_getattr_np, which asks for the
     * thread's CPU affinity (seen as a SIGSYS kill on the first client
     * connection). LeakSanitizer's exit check would need far more
     * (prctl, getppid, rt_sigaction, open of /proc/self/maps, ptrace): it
     * is switched off for arca-enclave instead, see enclave_main.c. */
    "sched_getaffinity",
#endif
};

/* glibc's malloc gives a thread that finds every arena busy a new arena,
 * and the first time it needs more than eight it computes its limit from
 * the CPU count by opening /sys/devices/system/cpu/online, unless
 * M_ARENA_MAX is set. Under the filter that open kills the enclave (found
 * by test_wire_hostile.sh: ten concurrent connections). Set the limit
 * while files may still be opened, to glibc's own default of eight per
 * CPU. Sanitizer allocators have no arenas and ignore it. */
static void fix_malloc_arena_limit(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    if (cpus > 128) cpus = 128;
    if (mallopt(M_ARENA_MAX, (int)(8 * cpus)) != 1) {
        ARCA_DEBUG("seccomp: mallopt(M_ARENA_MAX) not supported by this allocator");
    }
}

arca_status arca_isolation_seccomp(void)
{
    arca_status st = ARCA_ERR_INTERNAL;
    fix_malloc_arena_limit();
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    ARCA_ENSURE(ctx != NULL, ARCA_ERR_INTERNAL);
    /* One filter for every thread, and no_new_privs so that an
     * unprivileged process may load it. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0) goto out;
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) != 0) goto out;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr == __NR_SCMP_ERROR) {
            ARCA_DEBUG("seccomp: no system call %s on this architecture", allowed[i]);
            continue;
        }
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) {
            ARCA_ERROR("seccomp: cannot allow %s", allowed[i]);
            goto out;
        }
    }
    int rc = seccomp_load(ctx);
    if (rc != 0) {
        ARCA_ERROR("seccomp: cannot load the filter (error %d)", rc);
        goto out;
    }
    st = ARCA_OK;
out:
    seccomp_release(ctx);
    return st;
}
