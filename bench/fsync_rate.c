/* fsync_rate: how many synced 4 KiB writes per second the file system
 * holding DIR does (bench/run.sh). Each iteration rewrites one 4 KiB page
 * of a 64 KiB file and calls fdatasync, as LMDB does for a synced commit
 * (which, without MDB_NOMETASYNC, syncs twice: the data pages, then the
 * meta page). Prints "FSYNC <syncs> <seconds> <syncs_per_s> <p50_us> <p99_us>".
 * Usage: fsync_rate DIR [SECONDS]. The file is removed at the end. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fsync_rate DIR [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 2;
    char path[4096];
    snprintf(path, sizeof(path), "%s/fsync_rate.%ld", argv[1], (long)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    char page[4096];
    memset(page, 0xa5, sizeof(page));
    for (int i = 0; i < 16; i++)
        if (pwrite(fd, page, sizeof(page), (off_t)i * 4096) != (ssize_t)sizeof(page)) return perror("pwrite"), 1;
    if (fsync(fd) != 0) return perror("fsync"), 1;
    size_t cap = 1 << 20, n = 0;
    double *lat = malloc(cap * sizeof(*lat));
    if (lat == NULL) return 1;
    double t_start = now(), t = t_start;
    while (t - t_start < seconds && n < cap) {
        page[0] = (char)n;
        if (pwrite(fd, page, sizeof(page), (off_t)(n % 16) * 4096) != (ssize_t)sizeof(page)) return perror("pwrite"), 1;
        if (fdatasync(fd) != 0) return perror("fdatasync"), 1;
        double t1 = now();
        lat[n++] = (t1 - t) * 1e6;
        t = t1;
    }
    close(fd);
    unlink(path);
    qsort(lat, n, sizeof(*lat), cmp);
    double el = t - t_start;
    printf("FSYNC %zu %.3f %.1f %.1f %.1f\n", n, el, (double)n / el, n ? lat[(n - 1) / 2] : 0,
           n ? lat[(size_t)((double)(n - 1) * 0.99)] : 0);
    free(lat);
    return 0;
}
