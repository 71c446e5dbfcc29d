/* Secret memory and arca_secret buffers.
 *
 * Secret memory comes from memfd_secret(2): pages removed from the kernel's
 * direct map, unreadable through /proc/PID/mem or ptrace even by root.
 * Where the kernel lacks memfd_secret, pages are mlock()ed and marked
 * MADV_DONTDUMP instead, and arca_secmem_mode() says so. Every allocation
 * is zeroed on allocation and wiped on free. The allocator is thread-safe
 * and is also what OpenSSL allocates from inside arca-enclave
 * (arca_secmem_route_openssl). */
#ifndef ARCA_SECRET_H
#define ARCA_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/status.h"

typedef enum arca_secmem_mode {
    ARCA_SECMEM_UNINITIALISED = 0,
    ARCA_SECMEM_MEMFD_SECRET,   /* memfd_secret pages */
    ARCA_SECMEM_MLOCK_FALLBACK, /* mlock + MADV_DONTDUMP (kernel lacks memfd_secret) */
} arca_secmem_mode;

/* Initialise the allocator with a cap on total secret memory in bytes
 * (0 = default 256 MiB). Idempotent; the first call decides. If
 * force_fallback is true, memfd_secret is not tried (for tests of the
 * fallback path). Logs loudly when falling back. */
ARCA_MUST_CHECK arca_status arca_secmem_init(size_t limit_bytes, bool force_fallback);
arca_secmem_mode arca_secmem_mode_get(void);
const char *arca_secmem_mode_name(arca_secmem_mode m); /* "memfd_secret", "mlock-fallback" */

/* Zeroed allocation from secret memory; initialises with defaults if
 * needed. NULL on failure or when the limit would be exceeded. */
void *arca_secmem_alloc(size_t n);
void *arca_secmem_realloc(void *p, size_t n);
/* Wipe and release; NULL is a no-op. p must come from arca_secmem_alloc. */
void arca_secmem_free(void *p);
/* Bytes of secret memory the block at p occupies (its size class or
 * mapping, plus the header); 0 for NULL. For accounting (the keystore's
 * cache budget). p must come from arca_secmem_alloc. */
size_t arca_secmem_block_size(const void *p);
/* True if p points into secret memory owned by this allocator. */
bool arca_secmem_owns(const void *p);
/* Bytes currently handed out (for status and tests). */
size_t arca_secmem_in_use(void);
/* Route all of OpenSSL's allocations into secret memory. Must be called
 * before OpenSSL allocates anything; fails otherwise. */
ARCA_MUST_CHECK arca_status arca_secmem_route_openssl(void);

/* Wipe memory in a way the compiler cannot elide. */
void arca_wipe(void *p, size_t n);
/* Constant-time comparison: 0 iff equal. */
int arca_ct_memcmp(const void *a, const void *b, size_t n);

/* An owned secret buffer. A zeroed struct is a valid empty secret. */
typedef struct arca_secret {
    uint8_t *data;
    size_t len;
} arca_secret;

ARCA_MUST_CHECK arca_status arca_secret_alloc(arca_secret *s, size_t len);
/* Copy len bytes in. The caller wipes its own copy. */
ARCA_MUST_CHECK arca_status arca_secret_copy(arca_secret *s, const void *data, size_t len);
/* Wipe, free and zero the struct; safe on an empty secret. */
void arca_secret_free(arca_secret *s);

#endif
