/* libFuzzer target: arca_sealing_unseal on arbitrary bytes, the decoder of
 * every sealed blob the enclave reads back from the host's store.
 *
 * A dev backend with a fixed seed and identity (fuzz_fixtures.h) is opened
 * once; its files are gone before the first input. Input: the blob.
 * Unseal must fail only with DECODE, INTEGRITY, SVN (or ARGS), must never
 * leak secret memory, and what does unseal must round-trip: sealed again
 * with the same metadata it unseals to the same plaintext. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arca/secret.h"
#include "arca/sealing.h"
#include "fuzz_fixtures.h"

static arca_sealing *g_sealing;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* SVN errors are logged for operators: still format them (that code
     * runs too), but into /dev/null. */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(devnull >= 0);
    arca_log_set_fd(devnull);
    g_sealing = fuzz_open_dev_sealing(FUZZ_SVN);
    return 0;
}

/* The header fields unseal reports, read straight from the blob. */
static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const uint8_t empty[1];
    const uint8_t *blob = len ? data : empty;
    const size_t in_use = arca_secmem_in_use();
    arca_blob_meta expect, meta, meta2;
    arca_secret pt = {0}, pt2 = {0};
    uint8_t *resealed = NULL;
    size_t resealed_len = 0;

    memset(&expect, 0, sizeof expect);
    memcpy(expect.object_id, FUZZ_OBJECT_ID, ARCA_OBJECT_ID_LEN);
    expect.purpose = FUZZ_PURPOSE;
    arca_status st =
        arca_sealing_unseal(g_sealing, &expect, FUZZ_AAD, sizeof FUZZ_AAD, blob, len, &meta, &pt);
    if (st != ARCA_OK) {
        CHECK(st == ARCA_ERR_DECODE || st == ARCA_ERR_INTEGRITY || st == ARCA_ERR_SVN || st == ARCA_ERR_ARGS);
        CHECK(pt.data == NULL && pt.len == 0);
        goto out;
    }
    /* Authentic: the header said exactly this. */
    CHECK(len == ARCA_SEALED_OVERHEAD + pt.len);
    CHECK(memcmp(meta.object_id, FUZZ_OBJECT_ID, ARCA_OBJECT_ID_LEN) == 0 && meta.purpose == FUZZ_PURPOSE);
    CHECK(meta.key_generation == be32(data + 8) && meta.svn == be16(data + 12) && meta.svn <= FUZZ_SVN);
    CHECK(meta.object_version == be64(data + 36) && pt.len == be32(data + 46));
    CHECK(arca_secmem_owns(pt.data));

    /* Round trip: seal (current SVN and key) and unseal again. */
    CHECK(arca_sealing_seal(g_sealing, &meta, FUZZ_AAD, sizeof FUZZ_AAD, pt.data, pt.len, &resealed,
                            &resealed_len) == ARCA_OK);
    CHECK(arca_sealing_unseal(g_sealing, &expect, FUZZ_AAD, sizeof FUZZ_AAD, resealed, resealed_len, &meta2,
                              &pt2) == ARCA_OK);
    CHECK(pt2.len == pt.len && memcmp(pt2.data, pt.data, pt.len) == 0);
    CHECK(meta2.object_version == meta.object_version && meta2.svn == FUZZ_SVN);
    /* Bound to its AAD: the same blob under other AAD does not open. */
    arca_secret none = {0};
    CHECK(arca_sealing_unseal(g_sealing, &expect, NULL, 0, resealed, resealed_len, NULL, &none) ==
          ARCA_ERR_INTEGRITY);
out:
    free(resealed);
    arca_secret_free(&pt);
    arca_secret_free(&pt2);
    CHECK(arca_secmem_in_use() == in_use);
    return 0;
}
