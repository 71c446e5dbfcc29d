/* The `tpm` sealing backend: the platform seed is sealed by a TPM 2.0 to a
 * PolicyPCR over the PCR that the launcher extends with the enclave
 * identity; the counter is a TPM NV counter; evidence is a TPM2_Quote
 * (tpm_evidence.c). Blob format and key derivation are shared (sealing.c).
 *
 * Files in state_dir (TPM-encrypted; safe to keep on the host):
 *   tpm-seed.pub   TPM2B_PUBLIC of the sealed seed object (marshalled)
 *   tpm-seed.priv  TPM2B_PRIVATE of the same, encrypted by the storage key
 * Both are read at open; nothing is opened afterwards.
 *
 * TPM resources: the storage key, the seed object and every session are
 * transient and flushed before each call returns, on every path. The only
 * thing kept for the life of the backend is the TCTI connection and the
 * ESAPI record of the NV index (not a TPM resource).
 * Sessions that carry the seed (Create at initialise, Unseal at open) are
 * salted by the storage key and encrypt that parameter (AES-128-CFB), so
 * the seed does not cross the TCTI in clear. It passes briefly through an
 * ESAPI heap buffer on unseal, which is wiped at once.
 *
 * TODO (next steps): PolicyAuthorize by the signer key (see sealing.h);
 * until then an upgraded image (new SVN) changes the PCR and cannot unseal
 * the seed sealed for the old one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "arca/cursor.h"
#include "arca/log.h"
#include "arca/secret.h"
#include "sealing_internal.h"
#include "tpm_internal.h"

#define TPM_BLOB_MAX 4096u

typedef struct tpm_state {
    pthread_mutex_t lock; /* conn and nv */
    tpm_conn conn;
    ESYS_TR nv;
    uint32_t pcr;
    uint32_t nv_index;
    arca_secret seed;
} tpm_state;

/* --- files --- */

static arca_status open_state_dir(const char *state_dir, bool create, int *out_fd)
{
    if (state_dir == NULL || state_dir[0] == '\0') {
        ARCA_ERROR("tpm sealing: no state directory configured");
        return ARCA_ERR_CONFIG;
    }
    if (create && mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        ARCA_ERROR("tpm sealing: cannot create state directory %s: %s", state_dir, strerror(errno));
        return ARCA_ERR_IO;
    }
    int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        ARCA_ERROR("tpm sealing: cannot open state directory %s: %s", state_dir, strerror(errno));
        return errno == ENOENT ? ARCA_ERR_SEED : ARCA_ERR_IO;
    }
    *out_fd = fd;
    return ARCA_OK;
}

/* Read a whole small regular file; ARCA_ERR_SEED (logged) if it is missing,
 * not a regular file, empty or over TPM_BLOB_MAX. */
static arca_status read_blob_file(int dirfd, const char *state_dir, const char *name, uint8_t *buf, size_t *out_len)
{
    arca_status st = ARCA_OK;
    struct stat sb;
    size_t done = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        ARCA_ERROR("tpm sealing: %s/%s: %s", state_dir, name, errno == ENOENT ? "missing" : strerror(errno));
        return ARCA_ERR_SEED;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 || sb.st_size > (off_t)TPM_BLOB_MAX) {
        ARCA_ERROR("tpm sealing: %s/%s: not a regular file of 1..%u bytes", state_dir, name, TPM_BLOB_MAX);
        st = ARCA_ERR_SEED;
        goto out;
    }
    while (done < (size_t)sb.st_size) {
        ssize_t r = pread(fd, buf + done, (size_t)sb.st_size - done, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            ARCA_ERROR("tpm sealing: %s/%s: short read", state_dir, name);
            st = ARCA_ERR_SEED;
            goto out;
        }
        done += (size_t)r;
    }
    *out_len = done;
out:
    close(fd);
    return st;
}

static arca_status create_blob_file(int dirfd, const char *state_dir, const char *name, const uint8_t *data,
                                    size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        ARCA_ERROR("tpm sealing: cannot create %s/%s: %s", state_dir, name, strerror(e));
        return e == EEXIST ? ARCA_ERR_EXISTS : ARCA_ERR_IO;
    }
    size_t done = 0;
    arca_status st = ARCA_OK;
    while (done < len) {
        ssize_t r = write(fd, data + done, len - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        done += (size_t)r;
    }
    if (done != len || fsync(fd) != 0) {
        ARCA_ERROR("tpm sealing: cannot write %s/%s: %s", state_dir, name, strerror(errno));
        st = ARCA_ERR_IO;
        (void)unlinkat(dirfd, name, 0);
    }
    close(fd);
    return st;
}

/* --- the NV counter --- */

static arca_status nv_read_counter(tpm_conn *c, ESYS_TR nv, uint64_t *out)
{
    TPM2B_MAX_NV_BUFFER *data = NULL;
    arca_cursor cur;
    TSS2_RC rc = Esys_NV_Read(c->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("NV_Read (counter)", rc);
    arca_cursor_init(&cur, data->buffer, data->size);
    arca_status st = arca_cursor_get_u64(&cur, out);
    if (st == ARCA_OK) st = arca_cursor_finish(&cur);
    Esys_Free(data);
    return st;
}

/* The index must be a TPM counter (only ever increments) of 8 bytes that
 * has been written: any other kind of index could be rolled back. */
static arca_status nv_check_counter(tpm_conn *c, ESYS_TR nv, uint32_t nv_index)
{
    TPM2B_NV_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL;
    arca_status st = ARCA_OK;
    TSS2_RC rc = Esys_NV_ReadPublic(c->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("NV_ReadPublic (counter)", rc);
    TPMA_NV attrs = pub->nvPublic.attributes;
    uint32_t type = (attrs & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT;
    if (type != TPM2_NT_COUNTER || pub->nvPublic.dataSize != 8 || (attrs & TPMA_NV_WRITTEN) == 0) {
        ARCA_ERROR("tpm sealing: NV index 0x%08x is not an initialised 8-byte TPM counter (type %u, size %u); "
                   "refusing to use it for rollback protection",
                   (unsigned)nv_index, (unsigned)type, (unsigned)pub->nvPublic.dataSize);
        st = ARCA_ERR_SEED;
    }
    Esys_Free(pub);
    Esys_Free(name);
    return st;
}

static arca_status nv_define_counter(tpm_conn *c, uint32_t nv_index, ESYS_TR *out)
{
    const TPM2B_AUTH auth = {0};
    TPM2B_NV_PUBLIC pub;
    memset(&pub, 0, sizeof pub);
    pub.nvPublic.nvIndex = nv_index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub.nvPublic.attributes = ((TPMA_NV)TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE |
                              TPMA_NV_AUTHREAD | TPMA_NV_OWNERREAD | TPMA_NV_NO_DA;
    pub.nvPublic.dataSize = 8;
    TSS2_RC rc = Esys_NV_DefineSpace(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth,
                                     &pub, out);
    if (rc == TSS2_RC_SUCCESS) return ARCA_OK;
    if (tpm_rc_base(rc) == TPM2_RC_NV_DEFINED) {
        ARCA_ERROR("tpm sealing: NV index 0x%08x is already defined on this TPM (another or an earlier "
                   "appliance); undefine it (tpm2_nvundefine 0x%08x) only if you mean to start over",
                   (unsigned)nv_index, (unsigned)nv_index);
        return ARCA_ERR_EXISTS;
    }
    return tpm_fail("NV_DefineSpace (counter)", rc);
}

/* --- initialise --- */

/* The policy digest of PolicyPCR over the PCR's current value. */
static arca_status policy_for_current_pcr(tpm_conn *c, ESYS_TR srk, uint32_t pcr, TPM2B_DIGEST *out)
{
    arca_status st = ARCA_OK;
    ESYS_TR trial = ESYS_TR_NONE;
    TPM2B_DIGEST *digest = NULL;
    const TPM2B_DIGEST empty = {0};
    TPML_PCR_SELECTION sel;

    tpm_pcr_selection(pcr, &sel);
    ARCA_GUARD_OUT(tpm_start_session(c, srk, TPM2_SE_TRIAL, 0, &trial));
    TSS2_RC rc = Esys_PolicyPCR(c->esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("PolicyPCR (trial)", rc);
        goto out;
    }
    rc = Esys_PolicyGetDigest(c->esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &digest);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("PolicyGetDigest", rc);
        goto out;
    }
    *out = *digest;
out:
    Esys_Free(digest);
    tpm_flush(c, &trial);
    return st;
}

/* Create the sealed seed object under srk; *out_pub / *out_priv are
 * ESAPI-allocated. */
static arca_status create_sealed_seed(tpm_conn *c, ESYS_TR srk, const TPM2B_DIGEST *policy,
                                      TPM2B_PUBLIC **out_pub, TPM2B_PRIVATE **out_priv)
{
    arca_status st = ARCA_OK;
    ESYS_TR hmac = ESYS_TR_NONE;
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    const TPM2B_DATA outside = {0};
    const TPML_PCR_SELECTION creation_pcr = {0};
    TPM2B_CREATION_DATA *cdata = NULL;
    TPM2B_DIGEST *chash = NULL;
    TPMT_TK_CREATION *ticket = NULL;

    memset(&sens, 0, sizeof sens);
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    /* No USERWITHAUTH: the only way to use it is its policy. */
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
    tmpl.publicArea.authPolicy = *policy;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;

    sens.sensitive.data.size = TPM_SEED_LEN;
    ARCA_ENSURE_OUT(RAND_priv_bytes(sens.sensitive.data.buffer, (int)TPM_SEED_LEN) == 1, ARCA_ERR_CRYPTO);
    ARCA_GUARD_OUT(tpm_start_session(c, srk, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &hmac));
    TSS2_RC rc = Esys_Create(c->esys, srk, hmac, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &creation_pcr,
                             out_priv, out_pub, &cdata, &chash, &ticket);
    if (rc != TSS2_RC_SUCCESS) st = tpm_fail("Create (sealed seed)", rc);
out:
    arca_wipe(&sens, sizeof sens);
    Esys_Free(cdata);
    Esys_Free(chash);
    Esys_Free(ticket);
    tpm_flush(c, &hmac);
    return st;
}

static arca_status tpm_initialise(const arca_sealing_config *cfg)
{
    arca_status st = ARCA_OK;
    tpm_settings ts;
    tpm_conn c = {0};
    int dirfd = -1;
    ESYS_TR srk = ESYS_TR_NONE, nv = ESYS_TR_NONE;
    TPM2B_DIGEST policy;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_PRIVATE *priv = NULL;
    uint8_t pub_buf[TPM_BLOB_MAX], priv_buf[TPM_BLOB_MAX], pcr_value[32];
    static const uint8_t zero[32];
    size_t pub_len = 0, priv_len = 0;
    bool made_nv = false, made_pub = false, made_priv = false;

    ARCA_GUARD(tpm_settings_from(cfg, &ts));
    ARCA_GUARD(open_state_dir(cfg->state_dir, true, &dirfd));
    if (faccessat(dirfd, TPM_SEED_PUB_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
        faccessat(dirfd, TPM_SEED_PRIV_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        ARCA_ERROR("tpm sealing: %s already holds a sealed seed (%s); refusing to replace it", cfg->state_dir,
                   TPM_SEED_PUB_FILE);
        st = ARCA_ERR_EXISTS;
        goto out;
    }
    ARCA_GUARD_OUT(tpm_connect(&ts, &c));
    ARCA_GUARD_OUT(tpm_pcr_read(&c, ts.pcr, pcr_value));
    if (memcmp(pcr_value, zero, sizeof zero) == 0) {
        ARCA_ERROR("tpm sealing: PCR %u is all zeros: the launcher has not extended it with the enclave "
                   "identity; refusing to seal the platform seed to it",
                   (unsigned)ts.pcr);
        st = ARCA_ERR_CONFIG;
        goto out;
    }
    ARCA_GUARD_OUT(tpm_create_srk(&c, &srk));
    ARCA_GUARD_OUT(policy_for_current_pcr(&c, srk, ts.pcr, &policy));
    ARCA_GUARD_OUT(create_sealed_seed(&c, srk, &policy, &pub, &priv));
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, pub_buf, sizeof pub_buf, &pub_len);
    if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, priv_buf, sizeof priv_buf, &priv_len);
    ARCA_ENSURE_OUT(rc == TSS2_RC_SUCCESS, ARCA_ERR_INTERNAL);

    /* The counter: defined, then incremented once (a TPM counter cannot be
     * read before its first increment). */
    ARCA_GUARD_OUT(nv_define_counter(&c, ts.nv_index, &nv));
    made_nv = true;
    rc = Esys_NV_Increment(c.esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("NV_Increment (counter)", rc);
        goto out;
    }

    ARCA_GUARD_OUT(create_blob_file(dirfd, cfg->state_dir, TPM_SEED_PUB_FILE, pub_buf, pub_len));
    made_pub = true;
    ARCA_GUARD_OUT(create_blob_file(dirfd, cfg->state_dir, TPM_SEED_PRIV_FILE, priv_buf, priv_len));
    made_priv = true;
    if (fsync(dirfd) != 0) {
        ARCA_ERROR("tpm sealing: cannot fsync %s: %s", cfg->state_dir, strerror(errno));
        st = ARCA_ERR_IO;
        goto out;
    }
    ARCA_INFO("tpm sealing: initialised in %s: seed sealed to PCR %u (sha256), counter at NV index 0x%08x",
              cfg->state_dir, (unsigned)ts.pcr, (unsigned)ts.nv_index);
out:
    /* Leave nothing half-made behind, so that initialise can be retried. */
    if (st != ARCA_OK && made_priv) (void)unlinkat(dirfd, TPM_SEED_PRIV_FILE, 0);
    if (st != ARCA_OK && made_pub) (void)unlinkat(dirfd, TPM_SEED_PUB_FILE, 0);
    if (st != ARCA_OK && made_nv) {
        rc = Esys_NV_UndefineSpace(c.esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
        if (rc != TSS2_RC_SUCCESS) (void)tpm_fail("NV_UndefineSpace (cleanup)", rc);
        else nv = ESYS_TR_NONE; /* undefining also released the ESAPI record */
    }
    if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(c.esys, &nv);
    Esys_Free(pub);
    Esys_Free(priv);
    if (c.esys != NULL) tpm_flush(&c, &srk);
    tpm_disconnect(&c);
    if (dirfd >= 0) close(dirfd);
    return st;
}

/* --- open --- */

static void tpm_close(void *state)
{
    tpm_state *t = state;
    if (t == NULL) return;
    if (t->nv != ESYS_TR_NONE && t->conn.esys != NULL) (void)Esys_TR_Close(t->conn.esys, &t->nv);
    tpm_disconnect(&t->conn);
    arca_secret_free(&t->seed);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Load the sealed object, satisfy its PolicyPCR and unseal into *out. */
static arca_status unseal_seed(tpm_conn *c, uint32_t pcr, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
                               arca_secret *out)
{
    arca_status st = ARCA_OK;
    ESYS_TR srk = ESYS_TR_NONE, obj = ESYS_TR_NONE, policy = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *data = NULL;
    const TPM2B_DIGEST empty = {0};
    TPML_PCR_SELECTION sel;

    tpm_pcr_selection(pcr, &sel);
    ARCA_GUARD_OUT(tpm_create_srk(c, &srk));
    TSS2_RC rc = Esys_Load(c->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &obj);
    if (rc != TSS2_RC_SUCCESS) {
        ARCA_ERROR("tpm sealing: the sealed seed cannot be loaded under this TPM's storage key (another TPM, a "
                   "cleared owner hierarchy, or damaged %s/%s): %s (0x%x)",
                   TPM_SEED_PUB_FILE, TPM_SEED_PRIV_FILE, Tss2_RC_Decode(rc), (unsigned)rc);
        st = ARCA_ERR_SEED;
        goto out;
    }
    ARCA_GUARD_OUT(tpm_start_session(c, srk, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT, &policy));
    rc = Esys_PolicyPCR(c->esys, policy, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("PolicyPCR", rc);
        goto out;
    }
    rc = Esys_Unseal(c->esys, obj, policy, ESYS_TR_NONE, ESYS_TR_NONE, &data);
    if (rc != TSS2_RC_SUCCESS) {
        if (tpm_rc_base(rc) == TPM2_RC_POLICY_FAIL) {
            ARCA_ERROR("tpm sealing: unseal refused by the TPM: PCR %u (sha256) does not hold the value the seed "
                       "was sealed to (another enclave identity was measured, or something else extended it): "
                       "%s (0x%x)",
                       (unsigned)pcr, Tss2_RC_Decode(rc), (unsigned)rc);
        } else {
            ARCA_ERROR("tpm sealing: unseal of the platform seed failed: %s (0x%x)", Tss2_RC_Decode(rc),
                       (unsigned)rc);
        }
        st = ARCA_ERR_SEED;
        goto out;
    }
    if (data->size != TPM_SEED_LEN) {
        ARCA_ERROR("tpm sealing: the sealed seed has %u bytes (expected %u)", (unsigned)data->size, TPM_SEED_LEN);
        st = ARCA_ERR_SEED;
        goto out;
    }
    ARCA_GUARD_OUT(arca_secret_copy(out, data->buffer, data->size));
out:
    if (data != NULL) arca_wipe(data, sizeof *data);
    Esys_Free(data);
    tpm_flush(c, &policy);
    tpm_flush(c, &obj);
    tpm_flush(c, &srk);
    return st;
}

static arca_status load_seed_files(const char *state_dir, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
    arca_status st = ARCA_OK;
    uint8_t buf[TPM_BLOB_MAX];
    size_t len = 0, off = 0;
    int dirfd = -1;

    ARCA_GUARD(open_state_dir(state_dir, false, &dirfd));
    ARCA_GUARD_OUT(read_blob_file(dirfd, state_dir, TPM_SEED_PUB_FILE, buf, &len));
    memset(pub, 0, sizeof *pub);
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, pub) != TSS2_RC_SUCCESS || off != len ||
        pub->publicArea.type != TPM2_ALG_KEYEDHASH) {
        ARCA_ERROR("tpm sealing: %s/%s: not a marshalled sealed-object public area", state_dir, TPM_SEED_PUB_FILE);
        st = ARCA_ERR_SEED;
        goto out;
    }
    ARCA_GUARD_OUT(read_blob_file(dirfd, state_dir, TPM_SEED_PRIV_FILE, buf, &len));
    off = 0;
    memset(priv, 0, sizeof *priv);
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, &off, priv) != TSS2_RC_SUCCESS || off != len) {
        ARCA_ERROR("tpm sealing: %s/%s: not a marshalled TPM private area", state_dir, TPM_SEED_PRIV_FILE);
        st = ARCA_ERR_SEED;
        goto out;
    }
out:
    close(dirfd);
    return st;
}

static arca_status tpm_open(const arca_sealing_config *cfg, void **out_state)
{
    arca_status st = ARCA_OK;
    tpm_settings ts;
    tpm_state *t = NULL;
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;

    ARCA_GUARD(tpm_settings_from(cfg, &ts));
    ARCA_GUARD(load_seed_files(cfg->state_dir, &pub, &priv));
    t = calloc(1, sizeof *t);
    ARCA_ENSURE(t != NULL, ARCA_ERR_NOMEM);
    pthread_mutex_init(&t->lock, NULL);
    t->nv = ESYS_TR_NONE;
    t->pcr = ts.pcr;
    t->nv_index = ts.nv_index;
    ARCA_GUARD_OUT(tpm_connect(&ts, &t->conn));
    ARCA_GUARD_OUT(unseal_seed(&t->conn, ts.pcr, &pub, &priv, &t->seed));

    TSS2_RC rc = Esys_TR_FromTPMPublic(t->conn.esys, ts.nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t->nv);
    if (rc != TSS2_RC_SUCCESS) {
        t->nv = ESYS_TR_NONE;
        ARCA_ERROR("tpm sealing: the NV counter index 0x%08x is not on this TPM (%s); the store epoch cannot be "
                   "checked",
                   (unsigned)ts.nv_index, Tss2_RC_Decode(rc));
        st = ARCA_ERR_SEED;
        goto out;
    }
    ARCA_GUARD_OUT(nv_check_counter(&t->conn, t->nv, ts.nv_index));
    *out_state = t;
    t = NULL;
out:
    tpm_close(t);
    return st;
}

static const arca_secret *tpm_seed(void *state)
{
    return &((tpm_state *)state)->seed;
}

static arca_status tpm_counter_read(void *state, uint64_t *out)
{
    tpm_state *t = state;
    pthread_mutex_lock(&t->lock);
    arca_status st = nv_read_counter(&t->conn, t->nv, out);
    pthread_mutex_unlock(&t->lock);
    return st;
}

static arca_status tpm_counter_increment(void *state, uint64_t *out_new)
{
    tpm_state *t = state;
    arca_status st = ARCA_OK;
    pthread_mutex_lock(&t->lock);
    TSS2_RC rc = Esys_NV_Increment(t->conn.esys, t->nv, t->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("NV_Increment (counter)", rc);
    } else {
        st = nv_read_counter(&t->conn, t->nv, out_new);
    }
    pthread_mutex_unlock(&t->lock);
    return st;
}

static arca_status tpm_evidence_create_op(void *state, const arca_enclave_identity *id,
                                          const uint8_t report_data[ARCA_REPORT_DATA_LEN], uint8_t **out,
                                          size_t *out_len)
{
    tpm_state *t = state;
    pthread_mutex_lock(&t->lock);
    arca_status st = tpm_evidence_create(&t->conn, t->pcr, id, report_data, out, out_len);
    pthread_mutex_unlock(&t->lock);
    return st;
}

const sealing_backend_ops arca_sealing_tpm_ops = {
    .name = "tpm",
    .insecure = false,
    .initialise = tpm_initialise,
    .open = tpm_open,
    .close = tpm_close,
    .seed = tpm_seed,
    .counter_read = tpm_counter_read,
    .counter_increment = tpm_counter_increment,
    .evidence_create = tpm_evidence_create_op,
};
