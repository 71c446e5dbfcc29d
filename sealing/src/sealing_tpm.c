/* The `tpm` sealing backend: the platform seed is sealed by a TPM 2.0 to a
 * PolicyPCR over the PCR that the launcher extends with the enclave
 * identity; the counter is a TPM NV counter; evidence is a TPM2_Quote
 * (tpm_evidence.c). Blob format and key derivation are shared (sealing.c).
 *
 * Files in state_dir (TPM-encrypted; safe to keep on the host):
 *   tpm-seed.pub   TPM2B_PUBLIC of the sealed seed object (marshalled)
 *   tpm-seed.priv  TPM2B_PRIVATE of the same, encrypted by the storage key
 *   tpm-seed.identity  which enclave identity the seed was sealed for
 *                  (written at the first successful open; see below)
 * All are read at open; nothing is opened afterwards.
 *
 * The identity record ("ASID" | u16 version(1) | signer_id[32] |
 * u16 product_id | u16 svn | u8 debug) is a diagnostic, not a control:
 * the TPM alone decides (PolicyPCR). When the TPM refuses to unseal, the
 * record lets the refusal say why in words an operator can act on ("an
 * image from another signer", "SVN 1 is lower than the sealed 3") rather
 * than only "the PCR differs". A host that edits it can only make that
 * message wrong, never unseal anything.
 *
 * TPM resources: the storage key, the seed object and every session are
 * transient and flushed before each call returns, on every path. The only
 * thing kept for the life of the backend is the TCTI connection and the
 * ESAPI record of the NV index (not a TPM resource). If the TPM goes away
 * and comes back, a failed operation restarts ESAPI on the same TCTI
 * (recover_after_failure), so the appliance recovers without a restart.
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

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "arca/builder.h"
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
    uint8_t *ak_cert; /* DER from state_dir/tpm-ak.crt, or NULL */
    size_t ak_cert_len;
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

static arca_status read_small_file(int dirfd, const char *state_dir, const char *name, uint8_t *buf, size_t buf_len,
                                   size_t *out_len);

/* Read a whole small regular file; ARCA_ERR_SEED (logged) if it is missing,
 * not a regular file, empty or over TPM_BLOB_MAX. */
static arca_status read_blob_file(int dirfd, const char *state_dir, const char *name, uint8_t *buf, size_t *out_len)
{
    arca_status st = read_small_file(dirfd, state_dir, name, buf, TPM_BLOB_MAX, out_len);
    return st == ARCA_OK ? ARCA_OK : ARCA_ERR_SEED;
}

/* Read a whole regular file of 1..buf_len bytes; ARCA_ERR_CONFIG (logged)
 * otherwise. */
static arca_status read_small_file(int dirfd, const char *state_dir, const char *name, uint8_t *buf, size_t buf_len,
                                   size_t *out_len)
{
    arca_status st = ARCA_OK;
    struct stat sb;
    size_t done = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        ARCA_ERROR("tpm sealing: %s/%s: %s", state_dir, name, errno == ENOENT ? "missing" : strerror(errno));
        return ARCA_ERR_CONFIG;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 || (uint64_t)sb.st_size > buf_len) {
        ARCA_ERROR("tpm sealing: %s/%s: not a regular file of 1..%zu bytes", state_dir, name, buf_len);
        st = ARCA_ERR_CONFIG;
        goto out;
    }
    while (done < (size_t)sb.st_size) {
        ssize_t r = pread(fd, buf + done, (size_t)sb.st_size - done, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            ARCA_ERROR("tpm sealing: %s/%s: short read", state_dir, name);
            st = ARCA_ERR_CONFIG;
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

/* --- the identity record (a diagnostic; see the top of this file) --- */

#define ID_RECORD_MAGIC "ASID"
#define ID_RECORD_VERSION 1u
#define ID_RECORD_LEN (4u + 2u + 32u + 2u + 2u + 1u)

static arca_status identity_record_encode(const arca_enclave_identity *id, uint8_t out[ID_RECORD_LEN])
{
    arca_builder b;
    arca_builder_init_fixed(&b, out, ID_RECORD_LEN);
    ARCA_GUARD(arca_builder_add_bytes(&b, ID_RECORD_MAGIC, 4));
    ARCA_GUARD(arca_builder_add_u16(&b, ID_RECORD_VERSION));
    ARCA_GUARD(arca_builder_add_bytes(&b, id->signer_id, sizeof id->signer_id));
    ARCA_GUARD(arca_builder_add_u16(&b, id->product_id));
    ARCA_GUARD(arca_builder_add_u16(&b, id->svn));
    ARCA_GUARD(arca_builder_add_u8(&b, id->debug ? 1 : 0));
    ARCA_ENSURE(b.len == ID_RECORD_LEN, ARCA_ERR_INTERNAL);
    return ARCA_OK;
}

/* The record, if there is a well-formed one: ARCA_OK, ARCA_ERR_NOT_FOUND
 * if it is missing, ARCA_ERR_DECODE (logged) if it is malformed. */
static arca_status identity_record_read(int dirfd, const char *state_dir, arca_enclave_identity *out)
{
    uint8_t buf[ID_RECORD_LEN + 1];
    const uint8_t *magic = NULL;
    uint16_t version = 0;
    uint8_t debug = 0;
    arca_cursor c;
    arca_enclave_identity id;
    ssize_t n;

    int fd = openat(dirfd, TPM_SEED_IDENTITY_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return errno == ENOENT ? ARCA_ERR_NOT_FOUND : ARCA_ERR_IO;
    do {
        n = pread(fd, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    close(fd);
    memset(&id, 0, sizeof id);
    arca_cursor_init(&c, buf, n > 0 ? (size_t)n : 0);
    if (arca_cursor_get_bytes(&c, 4, &magic) != ARCA_OK || memcmp(magic, ID_RECORD_MAGIC, 4) != 0 ||
        arca_cursor_get_u16(&c, &version) != ARCA_OK || version != ID_RECORD_VERSION ||
        arca_cursor_copy_bytes(&c, id.signer_id, sizeof id.signer_id) != ARCA_OK ||
        arca_cursor_get_u16(&c, &id.product_id) != ARCA_OK || arca_cursor_get_u16(&c, &id.svn) != ARCA_OK ||
        arca_cursor_get_u8(&c, &debug) != ARCA_OK || debug > 1 || arca_cursor_finish(&c) != ARCA_OK) {
        ARCA_WARN("tpm sealing: %s/%s is malformed; ignoring it", state_dir, TPM_SEED_IDENTITY_FILE);
        return ARCA_ERR_DECODE;
    }
    id.debug = debug == 1;
    *out = id;
    return ARCA_OK;
}

/* After a successful unseal: record which identity the seed belongs to, if
 * no record is there yet and the PCR holds exactly self's measurement (so
 * the record names what the TPM enforced, not merely who asked). Failure
 * is only a warning (the record is a diagnostic). */
static void identity_record_keep(tpm_conn *c, uint32_t pcr, int dirfd, const char *state_dir,
                                 const arca_enclave_identity *self)
{
    uint8_t buf[ID_RECORD_LEN], current[32], mine[32];
    arca_enclave_identity recorded;
    if (tpm_identity_pcr_value(self, mine) != ARCA_OK || tpm_pcr_read(c, pcr, current) != ARCA_OK) return;
    if (memcmp(current, mine, sizeof mine) != 0) {
        ARCA_WARN("tpm sealing: PCR %u does not hold this enclave's identity measured once: the launcher "
                  "measured another image (its evidence will not verify)",
                  (unsigned)pcr);
        return;
    }
    arca_status st = identity_record_read(dirfd, state_dir, &recorded);
    if (st == ARCA_OK) {
        if (memcmp(recorded.signer_id, self->signer_id, 32) != 0 || recorded.product_id != self->product_id ||
            recorded.svn != self->svn || recorded.debug != self->debug)
            ARCA_WARN("tpm sealing: %s/%s names another enclave identity than the one that just unsealed the "
                      "seed; its refusal messages may mislead",
                      state_dir, TPM_SEED_IDENTITY_FILE);
        return;
    }
    if (st != ARCA_ERR_NOT_FOUND) return;
    if (identity_record_encode(self, buf) != ARCA_OK ||
        create_blob_file(dirfd, state_dir, TPM_SEED_IDENTITY_FILE, buf, sizeof buf) != ARCA_OK)
        ARCA_WARN("tpm sealing: could not record the sealed identity in %s/%s", state_dir, TPM_SEED_IDENTITY_FILE);
}

static void hex32(const uint8_t in[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xF];
    }
    out[64] = '\0';
}

/* The TPM refused the seed's policy: say why, in the operator's terms.
 * The identity record names what the seed was sealed for; the PCR says
 * whether it holds this image's identity, measured once. */
static void explain_policy_refusal(tpm_conn *c, uint32_t pcr, int dirfd, const char *state_dir,
                                   const arca_enclave_identity *self)
{
    arca_enclave_identity sealed;
    uint8_t current[32], mine[32];
    char a[65], b[65];

    if (identity_record_read(dirfd, state_dir, &sealed) == ARCA_OK) {
        if (memcmp(sealed.signer_id, self->signer_id, 32) != 0) {
            hex32(self->signer_id, a);
            hex32(sealed.signer_id, b);
            ARCA_ERROR("tpm sealing: this enclave image is signed by another signer (%s) than the one the seed "
                       "was sealed for (%s): an image from another signer cannot unseal it",
                       a, b);
        } else if (sealed.product_id != self->product_id) {
            ARCA_ERROR("tpm sealing: this enclave image is product %u, the seed was sealed for product %u: "
                       "another product cannot unseal it",
                       (unsigned)self->product_id, (unsigned)sealed.product_id);
        } else if (self->svn < sealed.svn) {
            ARCA_ERROR("tpm sealing: this enclave image has SVN %u, lower than SVN %u that the seed was sealed "
                       "for: a downgrade cannot unseal it",
                       (unsigned)self->svn, (unsigned)sealed.svn);
        } else if (self->svn > sealed.svn) {
            ARCA_ERROR("tpm sealing: this enclave image has SVN %u, the seed was sealed for SVN %u: the seed is "
                       "sealed to that exact identity (PolicyAuthorize for signed upgrades is not built yet)",
                       (unsigned)self->svn, (unsigned)sealed.svn);
        } else if (sealed.debug != self->debug) {
            ARCA_ERROR("tpm sealing: this enclave image is a %s build, the seed was sealed for a %s build",
                       self->debug ? "debug" : "release", sealed.debug ? "debug" : "release");
        }
    }
    if (tpm_identity_pcr_value(self, mine) == ARCA_OK && tpm_pcr_read(c, pcr, current) == ARCA_OK &&
        memcmp(current, mine, sizeof mine) != 0) {
        hex32(current, a);
        ARCA_ERROR("tpm sealing: PCR %u holds %s, which is not this image's identity measured once: something "
                   "else was extended into it since the TPM was last reset (it clears at the next platform "
                   "restart)",
                   (unsigned)pcr, a);
    }
}

/* --- open --- */

static void tpm_close(void *state)
{
    tpm_state *t = state;
    if (t == NULL) return;
    if (t->nv != ESYS_TR_NONE && t->conn.esys != NULL) (void)Esys_TR_Close(t->conn.esys, &t->nv);
    tpm_disconnect(&t->conn);
    arca_secret_free(&t->seed);
    free(t->ak_cert);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Load the sealed object, satisfy its PolicyPCR and unseal into *out. */
static arca_status unseal_seed(tpm_conn *c, uint32_t pcr, int dirfd, const char *state_dir,
                               const arca_enclave_identity *self, const TPM2B_PUBLIC *pub,
                               const TPM2B_PRIVATE *priv, arca_secret *out)
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
                   "cleared owner hierarchy, or damaged %s/%s): %s: %s (0x%x)",
                   TPM_SEED_PUB_FILE, TPM_SEED_PRIV_FILE, tpm_rc_name(rc), Tss2_RC_Decode(rc), (unsigned)rc);
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
                       "%s: %s (0x%x)",
                       (unsigned)pcr, tpm_rc_name(rc), Tss2_RC_Decode(rc), (unsigned)rc);
            explain_policy_refusal(c, pcr, dirfd, state_dir, self);
        } else {
            ARCA_ERROR("tpm sealing: unseal of the platform seed failed: %s: %s (0x%x)", tpm_rc_name(rc),
                       Tss2_RC_Decode(rc), (unsigned)rc);
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

static arca_status load_seed_files(int dirfd, const char *state_dir, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
    arca_status st = ARCA_OK;
    uint8_t buf[TPM_BLOB_MAX];
    size_t len = 0, off = 0;

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
    return st;
}

/* state_dir/tpm-ak.crt, if there: the AK certificate (PEM or DER) into
 * t->ak_cert as DER. ARCA_ERR_CONFIG (logged) for a file that is not one
 * certificate of at most TPM_AK_CERT_MAX bytes; a warning if it certifies
 * another key than this TPM's AK (the evidence then fails a verifier's AK
 * check, which names the mismatch). */
static arca_status load_ak_cert(tpm_state *t, int dirfd, const char *state_dir)
{
    arca_status st = ARCA_OK;
    uint8_t buf[4 * TPM_AK_CERT_MAX];
    size_t len = 0;
    X509 *cert = NULL;
    BIO *bio = NULL;
    uint8_t *der = NULL, *spki = NULL, *ak_spki = NULL;
    size_t ak_spki_len = 0;
    ESYS_TR ak = ESYS_TR_NONE;
    TPM2B_PUBLIC *ak_pub = NULL;

    if (faccessat(dirfd, TPM_AK_CERT_FILE, F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        ARCA_INFO("tpm sealing: no %s/%s: TPM evidence carries no AK certificate (the AK is not enrolled)",
                  state_dir, TPM_AK_CERT_FILE);
        return ARCA_OK;
    }
    ARCA_GUARD(read_small_file(dirfd, state_dir, TPM_AK_CERT_FILE, buf, sizeof buf, &len));
    bio = BIO_new_mem_buf(buf, (int)len);
    ARCA_ENSURE_OUT(bio != NULL, ARCA_ERR_NOMEM);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert == NULL) {
        const uint8_t *p = buf;
        cert = d2i_X509(NULL, &p, (long)len);
        if (cert != NULL && p != buf + len) {
            X509_free(cert);
            cert = NULL;
        }
    }
    ERR_clear_error();
    int n = cert != NULL ? i2d_X509(cert, &der) : -1;
    if (n <= 0 || (size_t)n > TPM_AK_CERT_MAX) {
        ARCA_ERROR("tpm sealing: %s/%s is not one X.509 certificate (PEM or DER) of at most %u bytes", state_dir,
                   TPM_AK_CERT_FILE, TPM_AK_CERT_MAX);
        st = ARCA_ERR_CONFIG;
        goto out;
    }
    int spki_len = i2d_PUBKEY(X509_get0_pubkey(cert), &spki);
    ARCA_GUARD_OUT(tpm_create_ak(&t->conn, &ak, &ak_pub));
    ARCA_GUARD_OUT(tpm_ecc_public_spki(ak_pub, &ak_spki, &ak_spki_len));
    if (spki_len <= 0 || (size_t)spki_len != ak_spki_len || memcmp(spki, ak_spki, ak_spki_len) != 0)
        ARCA_WARN("tpm sealing: %s/%s certifies another key than this TPM's attestation key (from another TPM?): "
                  "clients that require an AK certificate will refuse this appliance",
                  state_dir, TPM_AK_CERT_FILE);
    t->ak_cert = malloc((size_t)n);
    ARCA_ENSURE_OUT(t->ak_cert != NULL, ARCA_ERR_NOMEM);
    memcpy(t->ak_cert, der, (size_t)n);
    t->ak_cert_len = (size_t)n;
    ARCA_INFO("tpm sealing: TPM evidence carries the AK certificate %s/%s", state_dir, TPM_AK_CERT_FILE);
out:
    tpm_flush(&t->conn, &ak);
    Esys_Free(ak_pub);
    free(ak_spki);
    OPENSSL_free(spki);
    OPENSSL_free(der);
    X509_free(cert);
    BIO_free(bio);
    return st;
}

static arca_status tpm_open(const arca_sealing_config *cfg, const arca_enclave_identity *self, void **out_state)
{
    arca_status st = ARCA_OK;
    tpm_settings ts;
    tpm_state *t = NULL;
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    int dirfd = -1;

    ARCA_GUARD(tpm_settings_from(cfg, &ts));
    ARCA_GUARD(open_state_dir(cfg->state_dir, false, &dirfd));
    ARCA_GUARD_OUT(load_seed_files(dirfd, cfg->state_dir, &pub, &priv));
    t = calloc(1, sizeof *t);
    ARCA_ENSURE_OUT(t != NULL, ARCA_ERR_NOMEM);
    pthread_mutex_init(&t->lock, NULL);
    t->nv = ESYS_TR_NONE;
    t->pcr = ts.pcr;
    t->nv_index = ts.nv_index;
    ARCA_GUARD_OUT(tpm_connect(&ts, &t->conn));
    ARCA_GUARD_OUT(unseal_seed(&t->conn, ts.pcr, dirfd, cfg->state_dir, self, &pub, &priv, &t->seed));
    identity_record_keep(&t->conn, ts.pcr, dirfd, cfg->state_dir, self);

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
    ARCA_GUARD_OUT(load_ak_cert(t, dirfd, cfg->state_dir));
    *out_state = t;
    t = NULL;
out:
    tpm_close(t);
    if (dirfd >= 0) close(dirfd);
    return st;
}

static const arca_secret *tpm_seed(void *state)
{
    return &((tpm_state *)state)->seed;
}

/* After a TPM operation failed. If the TPM went away mid-command (swtpm
 * killed, a vTPM hiccup), ESAPI is left in the middle of its command
 * sequence and refuses every later call ("function called in the wrong
 * order"), so the appliance would never recover: start a fresh ESAPI
 * context on the same TCTI (no new connection: none may be opened after
 * start-up) and drop what belonged to the old one. The NV record is looked
 * up again on next use. Called with t->lock held. */
static void recover_after_failure(tpm_state *t)
{
    if (t->conn.esys != NULL) {
        /* The record is ESAPI memory only; closing it sends no command. */
        if (t->nv != ESYS_TR_NONE) (void)Esys_TR_Close(t->conn.esys, &t->nv);
        Esys_Finalize(&t->conn.esys); /* leaves our TCTI alone */
    }
    t->nv = ESYS_TR_NONE;
    TSS2_RC rc = Esys_Initialize(&t->conn.esys, t->conn.tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        t->conn.esys = NULL;
        (void)tpm_fail("Esys_Initialize (after a TPM failure)", rc);
        return;
    }
    ARCA_WARN("tpm: a TPM operation failed; the next one starts afresh on the same connection");
}

/* The NV counter's ESAPI record, looked up again after a recovery.
 * Called with t->lock held. */
static arca_status ensure_ready(tpm_state *t)
{
    if (t->conn.esys == NULL) {
        TSS2_RC rc = Esys_Initialize(&t->conn.esys, t->conn.tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
            t->conn.esys = NULL;
            return tpm_fail("Esys_Initialize", rc);
        }
    }
    if (t->nv != ESYS_TR_NONE) return ARCA_OK;
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->conn.esys, t->nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t->nv);
    if (rc != TSS2_RC_SUCCESS) {
        t->nv = ESYS_TR_NONE;
        return tpm_fail("TR_FromTPMPublic (counter)", rc);
    }
    return ARCA_OK;
}

static arca_status tpm_counter_read(void *state, uint64_t *out)
{
    tpm_state *t = state;
    pthread_mutex_lock(&t->lock);
    arca_status st = ensure_ready(t);
    if (st == ARCA_OK) st = nv_read_counter(&t->conn, t->nv, out);
    if (st != ARCA_OK) recover_after_failure(t);
    pthread_mutex_unlock(&t->lock);
    return st;
}

static arca_status tpm_counter_increment(void *state, uint64_t *out_new)
{
    tpm_state *t = state;
    pthread_mutex_lock(&t->lock);
    arca_status st = ensure_ready(t);
    if (st == ARCA_OK) {
        TSS2_RC rc = Esys_NV_Increment(t->conn.esys, t->nv, t->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
        st = rc == TSS2_RC_SUCCESS ? nv_read_counter(&t->conn, t->nv, out_new)
                                   : tpm_fail("NV_Increment (counter)", rc);
    }
    if (st != ARCA_OK) recover_after_failure(t);
    pthread_mutex_unlock(&t->lock);
    return st;
}

static arca_status tpm_evidence_create_op(void *state, const arca_enclave_identity *id,
                                          const uint8_t report_data[ARCA_REPORT_DATA_LEN], uint8_t **out,
                                          size_t *out_len)
{
    tpm_state *t = state;
    pthread_mutex_lock(&t->lock);
    arca_status st = ensure_ready(t);
    if (st == ARCA_OK)
        st = tpm_evidence_create(&t->conn, t->pcr, id, report_data, t->ak_cert, t->ak_cert_len, out, out_len);
    if (st != ARCA_OK) recover_after_failure(t);
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
