/* memscan: look for a byte pattern in another process's memory, the way an
 * attacker with root on the host would (/proc/PID/mem), and report what
 * happens on mappings the kernel refuses to show.
 *
 *   memscan PID HEX          scan every readable mapping for the pattern;
 *                            exit 0 = not found, 1 = found (prints where),
 *                            2 = usage or the scan itself failed
 *   memscan --secret PID     try to read each secretmem mapping of PID;
 *                            prints one line per mapping with the outcome;
 *                            exit 0 if there is at least one and every read
 *                            failed with EIO, 1 if any read succeeded,
 *                            3 if the process has no secretmem mapping
 *   memscan --locked PID     exit 0 if the process has locked memory
 *                            (VmLck > 0 kB), else 1 (fallback mode check)
 *
 * Test tool only: it is how the integration tests prove that key bytes are
 * not in arcad's memory and cannot be read from the enclave's. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static int parse_hex(const char *hex, unsigned char **out, size_t *out_len)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 != 0) return -1;
    unsigned char *buf = malloc(n / 2);
    if (!buf) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(buf);
            return -1;
        }
        buf[i] = (unsigned char)v;
    }
    *out = buf;
    *out_len = n / 2;
    return 0;
}

typedef int (*mapping_fn)(int memfd, uint64_t start, uint64_t end, const char *perms, const char *name, void *arg);

static int for_each_mapping(const char *pid, mapping_fn fn, void *arg)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%s/maps", pid);
    FILE *maps = fopen(path, "r");
    if (!maps) {
        fprintf(stderr, "memscan: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%s/mem", pid);
    int memfd = open(path, O_RDONLY);
    if (memfd < 0) {
        fprintf(stderr, "memscan: cannot open %s: %s\n", path, strerror(errno));
        fclose(maps);
        return -1;
    }
    char line[4096];
    int rc = 0;
    while (fgets(line, sizeof(line), maps)) {
        uint64_t start, end;
        char perms[8] = {0};
        char name[3072] = {0};
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %3071[^\n]", &start, &end, perms, name) < 3)
            continue;
        char *nm = name;
        while (*nm == ' ') nm++;
        rc = fn(memfd, start, end, perms, nm, arg);
        if (rc != 0) break;
    }
    close(memfd);
    fclose(maps);
    return rc;
}

/* Mappings larger than this are not process data but reservations such as
 * AddressSanitizer's shadow memory (terabytes of mostly untouched pages);
 * they are reported and skipped. A normal build has none. */
#define HUGE_MAPPING (64ull << 30)

struct scan_arg {
    int skipped_huge;
    const unsigned char *pat;
    size_t pat_len;
    unsigned char *buf;
    int found;
    uint64_t bytes_scanned;
};

static int scan_mapping(int memfd, uint64_t start, uint64_t end, const char *perms, const char *name, void *varg)
{
    struct scan_arg *a = varg;
    if (perms[0] != 'r') return 0;
    if (strcmp(name, "[vvar]") == 0 || strcmp(name, "[vsyscall]") == 0) return 0;
    if (end - start > HUGE_MAPPING) {
        a->skipped_huge++;
        return 0;
    }
    /* Overlap consecutive chunks so a pattern straddling a boundary is seen. */
    uint64_t off = start;
    while (off < end) {
        size_t want = (size_t)((end - off) < CHUNK ? (end - off) : CHUNK);
        ssize_t got = pread(memfd, a->buf, want, (off_t)off);
        if (got <= 0) break; /* unreadable region (e.g. secretmem: EIO) */
        a->bytes_scanned += (uint64_t)got;
        for (size_t i = 0; i + a->pat_len <= (size_t)got; i++) {
            if (a->buf[i] == a->pat[0] && memcmp(a->buf + i, a->pat, a->pat_len) == 0) {
                printf("found at 0x%" PRIx64 " in %s %s\n", off + i, perms, name[0] ? name : "[anon]");
                a->found = 1;
            }
        }
        if ((size_t)got < a->pat_len || off + (uint64_t)got >= end) break;
        off += (uint64_t)got - (a->pat_len - 1);
    }
    return 0;
}

struct secret_arg {
    int mappings;
    int readable;
};

static int probe_secret(int memfd, uint64_t start, uint64_t end, const char *perms, const char *name, void *varg)
{
    struct secret_arg *a = varg;
    (void)perms;
    if (strstr(name, "secretmem") == NULL) return 0;
    a->mappings++;
    unsigned char b[64];
    ssize_t got = pread(memfd, b, sizeof(b), (off_t)start);
    if (got < 0) {
        printf("secretmem 0x%" PRIx64 "-0x%" PRIx64 ": read failed: %s\n", start, end, strerror(errno));
        if (errno != EIO) a->readable++;
    } else {
        printf("secretmem 0x%" PRIx64 "-0x%" PRIx64 ": READ %zd BYTES\n", start, end, got);
        a->readable++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--secret") == 0) {
        struct secret_arg a = {0};
        if (for_each_mapping(argv[2], probe_secret, &a) != 0) return 2;
        if (a.mappings == 0) {
            printf("no secretmem mapping in process %s\n", argv[2]);
            return 3;
        }
        return a.readable ? 1 : 0;
    }
    if (argc == 3 && strcmp(argv[1], "--locked") == 0) {
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%s/status", argv[2]);
        FILE *f = fopen(path, "r");
        if (!f) return 2;
        long kb = -1;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "VmLck: %ld kB", &kb) == 1) break;
        fclose(f);
        printf("VmLck: %ld kB\n", kb);
        return kb > 0 ? 0 : 1;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: memscan PID HEX | memscan --secret PID | memscan --locked PID\n");
        return 2;
    }
    struct scan_arg a = {0};
    if (parse_hex(argv[2], (unsigned char **)&a.pat, &a.pat_len) != 0) {
        fprintf(stderr, "memscan: bad hex pattern\n");
        return 2;
    }
    a.buf = malloc(CHUNK);
    if (!a.buf) return 2;
    int rc = for_each_mapping(argv[1], scan_mapping, &a);
    printf("scanned %" PRIu64 " bytes of process %s (%d reservations over 64 GiB skipped): pattern %s\n",
           a.bytes_scanned, argv[1], a.skipped_huge, a.found ? "FOUND" : "not found");
    free(a.buf);
    free((void *)a.pat);
    if (rc != 0 || a.bytes_scanned == 0) return 2;
    return a.found ? 1 : 0;
}
