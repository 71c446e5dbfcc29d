/* Shared by the sealing fuzz targets and fuzz/tools/make_corpus.c: the
 * fixed inputs the seed corpora were generated against (a
 * dev sealing backend with a fixed seed and identity, a fixed image, fixed
 * report data). Change a value here and the seeds that depend on it must be
 * regenerated (see fuzz/README.md). Not a .c file, so fuzz/CMakeLists.txt
 * does not take it for a target. */
#ifndef ARCA_FUZZ_FIXTURES_H
#define ARCA_FUZZ_FIXTURES_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arca/log.h"
#include "arca/sealing.h"
#include "fuzz_check.h"

/* sealed_blob: the platform seed, the enclave identity, and what unseal
 * expects. FUZZ_SVN is the identity's SVN; blobs sealed at a lower SVN are
 * readable (older key), higher ones fail with ARCA_ERR_SVN. */
static const uint8_t FUZZ_DEV_SEED[32] = "arca-fuzz-fixed-dev-seed-0000001";
#define FUZZ_SVN 5u
static const uint8_t FUZZ_OBJECT_ID[ARCA_OBJECT_ID_LEN] = "fuzz-object-id-1";
#define FUZZ_PURPOSE ARCA_SEAL_OBJECT
static const uint8_t FUZZ_AAD[] = "fuzz-partition";

/* image_sig: the image every signature is checked against. */
static const uint8_t FUZZ_IMAGE[] = "arca fuzz image: a few bytes standing in for arca-enclave\n";

/* evidence: the report data the verifier asks for. */
static const uint8_t FUZZ_REPORT_DATA[ARCA_REPORT_DATA_LEN] =
    "arca-fuzz-report-data-0123456789abcdefghijklmnopqrstuvwxyzABCDEF";

static inline arca_enclave_identity fuzz_identity(uint16_t svn)
{
    arca_enclave_identity id;
    memset(&id, 0, sizeof id);
    memset(id.measurement, 0x11, sizeof id.measurement);
    memset(id.signer_id, 0x22, sizeof id.signer_id);
    id.product_id = 1;
    id.svn = svn;
    id.debug = false;
    return id;
}

/* Remove the dev state files and the directory (the backend has read the
 * seed and key into memory and keeps its counter fd open). */
static inline void fuzz_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            (void)unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    (void)rmdir(dir);
}

/* A dev sealing backend with FUZZ_DEV_SEED as its seed, opened for
 * fuzz_identity(svn), in a temporary directory removed again before
 * returning. Aborts on failure (a broken fixture, not a finding). */
static inline arca_sealing *fuzz_open_dev_sealing(uint16_t svn)
{
    char dir[] = "/tmp/arca-fuzz-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    arca_sealing_config cfg = {.mode = "dev", .state_dir = dir, .tcti = NULL};
    CHECK(arca_sealing_initialise(&cfg) == ARCA_OK);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/dev-seed", dir);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, FUZZ_DEV_SEED, sizeof FUZZ_DEV_SEED) == (ssize_t)sizeof FUZZ_DEV_SEED);
    CHECK(close(fd) == 0);
    arca_enclave_identity id = fuzz_identity(svn);
    arca_sealing *s = NULL;
    CHECK(arca_sealing_open(&cfg, &id, &s) == ARCA_OK);
    fuzz_remove_dir(dir);
    return s;
}

#endif
