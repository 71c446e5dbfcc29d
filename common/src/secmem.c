/* Secret-memory allocator (see secret.h).
 *
 * Pages come from memfd_secret(2) (removed from the kernel's direct map) or,
 * where the kernel lacks it, from anonymous mappings that are mlock()ed and
 * MADV_DONTDUMP. After start-up the only system calls used here are
 * memfd_secret, ftruncate, mmap, munmap, madvise, mlock and close, which is
 * what arca-enclave's seccomp filter allows; no libc malloc is used, so the
 * allocator's own bookkeeping lives in static storage.
 *
 * Layout: small requests (<= 64 KiB) are served from power-of-two size
 * classes (16 B .. 64 KiB) whose blocks are carved from 4 MiB chunks and
 * recycled through per-class free lists. Larger requests get their own
 * page-rounded mapping, unmapped on free. Every block is preceded by a
 * 16-byte header { canary, size }; the canary binds the block's address and
 * size to a per-process random value and is checked on free and realloc: a
 * mismatch (overflow, double free, foreign pointer) aborts.
 *
 * Blocks are zero when handed out (fresh pages are zero; freed blocks are
 * wiped) and wiped on free and when realloc moves them. */
#include "arca/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arca/log.h"

#define DEFAULT_LIMIT ((size_t)256 << 20)
#define CHUNK_SIZE ((size_t)4 << 20)
#define MIN_CLASS_SHIFT 4u  /* 16 B */
#define MAX_CLASS_SHIFT 16u /* 64 KiB */
#define NUM_CLASSES (MAX_CLASS_SHIFT - MIN_CLASS_SHIFT + 1u)
#define MAX_SMALL ((size_t)1 << MAX_CLASS_SHIFT)
#define MAX_REGIONS 16384u
#define FREED_MARK 0xa5a5a5a5a5a5a5a5ull

typedef struct block_hdr {
    uint64_t canary;
    uint64_t size; /* usable bytes: class size, or mapping length - header */
} block_hdr;

_Static_assert(sizeof(block_hdr) == 16, "header keeps 16-byte alignment");

typedef struct region {
    uintptr_t base;
    size_t len;
} region;

typedef struct free_node {
    struct free_node *next;
} free_node;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static arca_secmem_mode mode = ARCA_SECMEM_UNINITIALISED;
static size_t limit;
static size_t mapped;   /* bytes mapped (chunks + large blocks) */
static size_t in_use;   /* usable bytes of blocks handed out */
static uint64_t canary_key;
static free_node *free_lists[NUM_CLASSES];
static uint8_t *bump;   /* carving position in the current chunk */
static size_t bump_left;
/* Sorted by base, for arca_secmem_owns(). Static: no malloc here. */
static region regions[MAX_REGIONS];
static size_t num_regions;

static uint64_t canary_for(const block_hdr *h, uint64_t size)
{
    return canary_key ^ (uint64_t)(uintptr_t)h ^ (size * 0x9e3779b97f4a7c15ull);
}

static void die(const char *why)
{
    /* Heap corruption in secret memory: no recovery, no logging of contents. */
    static const char pfx[] = "arca secmem: fatal: ";
    ssize_t r = write(2, pfx, sizeof(pfx) - 1);
    r = write(2, why, strlen(why));
    r = write(2, "\n", 1);
    (void)r;
    abort();
}

void arca_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) OPENSSL_cleanse(p, n);
}

int arca_ct_memcmp(const void *a, const void *b, size_t n)
{
    if (n == 0) return 0;
    return CRYPTO_memcmp(a, b, n);
}

/* ---- mappings -------------------------------------------------------- */

static void *map_secret(size_t len, int *err)
{
    int fd = (int)syscall(SYS_memfd_secret, (unsigned int)O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)len) == 0) p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    *err = errno;
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static void *map_locked(size_t len, int *err)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        *err = errno;
        return NULL;
    }
    /* Unlocked secret pages could reach swap: refuse rather than degrade.
     * mlock is called through syscall(2) because sanitizer runtimes
     * intercept mlock() and turn it into a silent no-op. */
    if (syscall(SYS_mlock, p, len) != 0 || madvise(p, len, MADV_DONTDUMP) != 0) {
        *err = errno;
        munmap(p, len);
        return NULL;
    }
    return p;
}

static bool region_add(void *p, size_t len)
{
    if (num_regions == MAX_REGIONS) return false;
    uintptr_t base = (uintptr_t)p;
    size_t i = num_regions;
    while (i > 0 && regions[i - 1].base > base) i--;
    memmove(&regions[i + 1], &regions[i], (num_regions - i) * sizeof(region));
    regions[i].base = base;
    regions[i].len = len;
    num_regions++;
    return true;
}

/* Index of the region containing p, or -1. Caller holds the lock. */
static long region_find(uintptr_t p)
{
    size_t lo = 0, hi = num_regions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p < regions[mid].base) {
            hi = mid;
        } else if (p - regions[mid].base >= regions[mid].len) {
            lo = mid + 1;
        } else {
            return (long)mid;
        }
    }
    return -1;
}

static void region_remove(size_t i)
{
    memmove(&regions[i], &regions[i + 1], (num_regions - i - 1) * sizeof(region));
    num_regions--;
}

/* Map len bytes of secret memory within the limit. Caller holds the lock. */
static void *map_region(size_t len)
{
    if (len > limit || mapped > limit - len) return NULL;
    if (num_regions == MAX_REGIONS) return NULL;
    int err = 0;
    void *p = mode == ARCA_SECMEM_MEMFD_SECRET ? map_secret(len, &err) : map_locked(len, &err);
    if (p == NULL) return NULL;
    if (!region_add(p, len)) {
        munmap(p, len);
        return NULL;
    }
    mapped += len;
    return p;
}

/* ---- fork ------------------------------------------------------------ */

/* memfd_secret pages are a MAP_SHARED mapping: after fork() the child
 * would share them with its parent, with the free lists threaded through
 * them (an allocation or a free in one process corrupts the other's heap
 * and exposes its secrets). The child therefore gets private copies at
 * the same addresses before it runs on; the parent is not touched. mlock
 * is not inherited: the fallback's (private, copy-on-write) pages are
 * locked again in the child. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

/* A private copy of the secret mapping at base in this (child) process:
 * new memfd_secret pages, or where that is refused (RLIMIT_MEMLOCK, say,
 * which the copy counts against), anonymous pages locked and kept out of
 * core dumps like the fallback's. false when neither can be had. */
static bool privatise(void *base, size_t len)
{
    int fd = (int)syscall(SYS_memfd_secret, (unsigned int)O_CLOEXEC);
    if (fd >= 0) {
        void *copy = MAP_FAILED;
        if (ftruncate(fd, (off_t)len) == 0) copy = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (copy != MAP_FAILED) {
            memcpy(copy, base, len);
            munmap(copy, len);
            /* Replaces the shared mapping at once: no moment without one. */
            void *p = mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
            close(fd);
            if (p != MAP_FAILED) return true;
            return false; /* the old mapping is still in place: nothing else to try safely */
        }
        close(fd);
    }
    void *copy = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED) return false;
    (void)syscall(SYS_mlock, copy, len);
    (void)madvise(copy, len, MADV_DONTDUMP);
    memcpy(copy, base, len);
    if (mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, base) == MAP_FAILED) {
        munmap(copy, len);
        return false;
    }
    return true;
}

static void atfork_child(void)
{
    for (size_t i = 0; i < num_regions; i++) {
        void *base = (void *)regions[i].base;
        size_t len = regions[i].len;
        if (mode != ARCA_SECMEM_MEMFD_SECRET) {
            (void)syscall(SYS_mlock, base, len);
            continue;
        }
        /* Sharing the parent's heap is never acceptable: no copy, no child. */
        if (!privatise(base, len)) die("cannot give the child of fork() its own secret memory");
    }
    pthread_mutex_unlock(&lock);
}

/* ---- initialisation -------------------------------------------------- */

static int probe_memfd_secret(void)
{
    int err = 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = map_secret(page, &err);
    if (p == NULL) return err != 0 ? err : EINVAL;
    /* Touch it: a kernel that maps but cannot fault secret pages fails here
     * with SIGBUS, at start-up rather than at first use. */
    ((volatile uint8_t *)p)[0] = 1;
    munmap(p, page);
    return 0;
}

arca_status arca_secmem_init(size_t limit_bytes, bool force_fallback)
{
    int probe_err = 0;
    bool fell_back = false;

    pthread_mutex_lock(&lock);
    if (mode != ARCA_SECMEM_UNINITIALISED) {
        pthread_mutex_unlock(&lock);
        return ARCA_OK;
    }
    uint64_t key = 0;
    if (getrandom(&key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
        pthread_mutex_unlock(&lock);
        return ARCA_ERR_INTERNAL;
    }
    canary_key = key;
    limit = limit_bytes != 0 ? limit_bytes : DEFAULT_LIMIT;
    if (!force_fallback) probe_err = probe_memfd_secret();
    /* Once per process (the first initialisation); glibc drops the
     * handlers if the shared object holding this code is unloaded. */
    if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0) {
        pthread_mutex_unlock(&lock);
        return ARCA_ERR_INTERNAL;
    }
    if (force_fallback || probe_err != 0) {
        mode = ARCA_SECMEM_MLOCK_FALLBACK;
        fell_back = true;
    } else {
        mode = ARCA_SECMEM_MEMFD_SECRET;
    }
    pthread_mutex_unlock(&lock);

    /* Log outside the lock: the logger asks arca_secmem_owns(). */
    if (fell_back && force_fallback) {
        ARCA_WARN("secret memory: memfd_secret NOT used (fallback forced): keys live in mlock()ed, "
                  "MADV_DONTDUMP pages that remain readable through the kernel's direct map");
    } else if (fell_back) {
        ARCA_WARN("secret memory: memfd_secret unavailable (errno %d: %s): falling back to mlock()ed, "
                  "MADV_DONTDUMP pages that remain readable through the kernel's direct map",
                  probe_err, strerror(probe_err));
    } else {
        ARCA_INFO("secret memory: memfd_secret, limit %zu bytes", limit);
    }
    return ARCA_OK;
}

arca_secmem_mode arca_secmem_mode_get(void)
{
    pthread_mutex_lock(&lock);
    arca_secmem_mode m = mode;
    pthread_mutex_unlock(&lock);
    return m;
}

const char *arca_secmem_mode_name(arca_secmem_mode m)
{
    switch (m) {
    case ARCA_SECMEM_UNINITIALISED:
        return "uninitialised";
    case ARCA_SECMEM_MEMFD_SECRET:
        return "memfd_secret";
    case ARCA_SECMEM_MLOCK_FALLBACK:
        return "mlock-fallback";
    default:
        return "unknown";
    }
}

static bool ensure_init(void)
{
    if (arca_secmem_mode_get() != ARCA_SECMEM_UNINITIALISED) return true;
    return arca_secmem_init(0, false) == ARCA_OK;
}

/* ---- allocation ------------------------------------------------------ */

static unsigned class_of(size_t n)
{
    unsigned c = 0;
    while (((size_t)1 << (c + MIN_CLASS_SHIFT)) < n) c++;
    return c;
}

static size_t page_round(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - (page - 1)) return 0;
    return (n + page - 1) & ~(page - 1);
}

static void *alloc_small_locked(size_t n)
{
    unsigned c = class_of(n);
    size_t size = (size_t)1 << (c + MIN_CLASS_SHIFT);
    block_hdr *h;
    if (free_lists[c] != NULL) {
        free_node *node = free_lists[c];
        free_lists[c] = node->next;
        node->next = NULL; /* the rest of the block was wiped on free */
        h = (block_hdr *)node - 1;
    } else {
        size_t stride = sizeof(block_hdr) + size;
        if (bump_left < stride) {
            uint8_t *chunk = map_region(CHUNK_SIZE);
            if (chunk == NULL) return NULL;
            bump = chunk; /* the tail of the old chunk is abandoned */
            bump_left = CHUNK_SIZE;
        }
        h = (block_hdr *)bump;
        bump += stride;
        bump_left -= stride;
    }
    h->size = size;
    h->canary = canary_for(h, size);
    in_use += size;
    return h + 1;
}

static void *alloc_large_locked(size_t n)
{
    if (n > SIZE_MAX - sizeof(block_hdr)) return NULL;
    size_t len = page_round(sizeof(block_hdr) + n);
    if (len == 0) return NULL;
    block_hdr *h = map_region(len);
    if (h == NULL) return NULL;
    h->size = len - sizeof(block_hdr);
    h->canary = canary_for(h, h->size);
    in_use += h->size;
    return h + 1;
}

void *arca_secmem_alloc(size_t n)
{
    if (!ensure_init()) return NULL;
    if (n == 0) n = 1;
    pthread_mutex_lock(&lock);
    void *p = n <= MAX_SMALL ? alloc_small_locked(n) : alloc_large_locked(n);
    pthread_mutex_unlock(&lock);
    return p;
}

/* Header of a block we handed out; aborts on anything else. */
static block_hdr *checked_hdr_locked(void *p)
{
    uintptr_t u = (uintptr_t)p;
    if ((u & 15u) != 0) die("free of a misaligned pointer");
    long r = region_find(u);
    if (r < 0 || u - regions[r].base < sizeof(block_hdr)) die("free of a pointer not from secret memory");
    block_hdr *h = (block_hdr *)p - 1;
    if (h->canary != canary_for(h, h->size)) die("block header corrupt or block freed twice");
    return h;
}

static void free_locked(void *p)
{
    block_hdr *h = checked_hdr_locked(p);
    size_t size = (size_t)h->size;
    arca_wipe(p, size);
    in_use -= size;
    if (size <= MAX_SMALL) {
        h->canary = FREED_MARK;
        free_node *node = p;
        unsigned c = class_of(size);
        node->next = free_lists[c];
        free_lists[c] = node;
        return;
    }
    long r = region_find((uintptr_t)h);
    size_t len = size + sizeof(block_hdr);
    if (r < 0 || regions[r].base != (uintptr_t)h || regions[r].len != len) die("large block bookkeeping corrupt");
    arca_wipe(h, sizeof(*h));
    region_remove((size_t)r);
    mapped -= len;
    munmap(h, len);
}

void arca_secmem_free(void *p)
{
    if (p == NULL) return;
    pthread_mutex_lock(&lock);
    free_locked(p);
    pthread_mutex_unlock(&lock);
}

void *arca_secmem_realloc(void *p, size_t n)
{
    if (p == NULL) return arca_secmem_alloc(n);
    if (n == 0) {
        arca_secmem_free(p);
        return NULL;
    }
    pthread_mutex_lock(&lock);
    block_hdr *h = checked_hdr_locked(p);
    size_t size = (size_t)h->size;
    if (n <= size && n > size / 2) {
        /* Fits and not wastefully: stay. Bytes beyond n are wiped so a grow
         * after a shrink reads zeros, as from a fresh block. */
        arca_wipe((uint8_t *)p + n, size - n);
        pthread_mutex_unlock(&lock);
        return p;
    }
    void *np = n <= MAX_SMALL ? alloc_small_locked(n) : alloc_large_locked(n);
    if (np != NULL) {
        memcpy(np, p, n < size ? n : size);
        free_locked(p); /* wipes the old block */
    }
    pthread_mutex_unlock(&lock);
    return np;
}

size_t arca_secmem_block_size(const void *p)
{
    if (p == NULL) return 0;
    pthread_mutex_lock(&lock);
    block_hdr *h = checked_hdr_locked((void *)p);
    size_t n = sizeof(block_hdr) + (size_t)h->size;
    pthread_mutex_unlock(&lock);
    return n;
}

bool arca_secmem_owns(const void *p)
{
    if (p == NULL) return false;
    pthread_mutex_lock(&lock);
    bool owned = region_find((uintptr_t)p) >= 0;
    pthread_mutex_unlock(&lock);
    return owned;
}

size_t arca_secmem_in_use(void)
{
    pthread_mutex_lock(&lock);
    size_t n = in_use;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ---- OpenSSL --------------------------------------------------------- */

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return arca_secmem_alloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return arca_secmem_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    arca_secmem_free(p);
}

arca_status arca_secmem_route_openssl(void)
{
    if (!ensure_init()) return ARCA_ERR_NOMEM;
    /* OpenSSL refuses (returns 0) once it has allocated anything. */
    ARCA_ENSURE(CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1, ARCA_ERR_INTERNAL);
    return ARCA_OK;
}

/* ---- arca_secret ----------------------------------------------------- */

arca_status arca_secret_alloc(arca_secret *s, size_t len)
{
    ARCA_ENSURE(s != NULL, ARCA_ERR_ARGS);
    uint8_t *p = arca_secmem_alloc(len);
    ARCA_ENSURE(p != NULL, ARCA_ERR_NOMEM);
    /* *s may be uninitialised: it is overwritten, never freed, here. */
    s->data = p;
    s->len = len;
    return ARCA_OK;
}

arca_status arca_secret_copy(arca_secret *s, const void *data, size_t len)
{
    ARCA_ENSURE(s != NULL && (data != NULL || len == 0), ARCA_ERR_ARGS);
    arca_secret tmp = {0};
    ARCA_GUARD(arca_secret_alloc(&tmp, len));
    if (len > 0) memcpy(tmp.data, data, len);
    *s = tmp;
    return ARCA_OK;
}

void arca_secret_free(arca_secret *s)
{
    if (s == NULL) return;
    arca_secmem_free(s->data); /* wipes */
    s->data = NULL;
    s->len = 0;
}
