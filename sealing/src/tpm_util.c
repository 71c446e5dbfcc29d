/* TPM 2.0 helpers for the `tpm` sealing backend: connection, error
 * decoding, fixed key templates, salted sessions, PCRs and the enclave
 * identity digest. See tpm_internal.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "arca/builder.h"
#include "arca/log.h"
#include "sealing_internal.h"
#include "tpm_internal.h"

#define TPM_PCR_MAX 23u
#define TPM_NV_OWNER_FIRST 0x01000000u
#define TPM_NV_OWNER_LAST 0x013FFFFFu

arca_status tpm_settings_from(const arca_sealing_config *cfg, tpm_settings *out)
{
    static const char *const allowed[] = {"device:", "swtpm:", "mssim:"};
    bool known = false;

    if (cfg->tcti == NULL || cfg->tcti[0] == '\0') {
        ARCA_ERROR("tpm sealing: no TCTI configured (e.g. device:/dev/tpmrm0 or swtpm:path=/run/swtpm.sock)");
        return ARCA_ERR_CONFIG;
    }
    /* The TCTI loader would dlopen any library name it is given: only the
     * three TCTIs we mean are accepted. */
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (strncmp(cfg->tcti, allowed[i], strlen(allowed[i])) == 0) known = true;
    }
    if (!known) {
        ARCA_ERROR("tpm sealing: TCTI '%s' is not one of device:, swtpm:, mssim:", cfg->tcti);
        return ARCA_ERR_CONFIG;
    }
    uint32_t pcr = cfg->tpm_pcr == 0 ? ARCA_TPM_PCR_DEFAULT : cfg->tpm_pcr;
    if (pcr > TPM_PCR_MAX) {
        ARCA_ERROR("tpm sealing: PCR %u is out of range (1..%u)", (unsigned)pcr, TPM_PCR_MAX);
        return ARCA_ERR_CONFIG;
    }
    uint32_t nv = cfg->tpm_nv_index == 0 ? ARCA_TPM_NV_INDEX_DEFAULT : cfg->tpm_nv_index;
    if (nv < TPM_NV_OWNER_FIRST || nv > TPM_NV_OWNER_LAST) {
        ARCA_ERROR("tpm sealing: NV index 0x%08x is outside the owner range 0x%08x..0x%08x", (unsigned)nv,
                   TPM_NV_OWNER_FIRST, TPM_NV_OWNER_LAST);
        return ARCA_ERR_CONFIG;
    }
    out->tcti = cfg->tcti;
    out->pcr = pcr;
    out->nv_index = nv;
    return ARCA_OK;
}

TSS2_RC tpm_rc_base(TSS2_RC rc)
{
    rc &= ~TSS2_RC_LAYER_MASK;
    if ((rc & TPM2_RC_FMT1) != 0) return rc & (TPM2_RC_FMT1 | 0x3Fu);
    return rc & 0xFFFu;
}

const char *tpm_rc_name(TSS2_RC rc)
{
    /* The TPM's own response codes an operator meets in practice, by the
     * names of the TPM 2.0 specification (Part 2, 6.6.3); anything else is
     * left to Tss2_RC_Decode. Codes from the TSS layers (TCTI, ESAPI) are
     * not the TPM's and are named by their layer. */
    static const struct {
        TSS2_RC rc;
        const char *name;
    } names[] = {
        {TPM2_RC_INITIALIZE, "TPM_RC_INITIALIZE"},
        {TPM2_RC_FAILURE, "TPM_RC_FAILURE"},
        {TPM2_RC_AUTH_MISSING, "TPM_RC_AUTH_MISSING"},
        {TPM2_RC_POLICY, "TPM_RC_POLICY"},
        {TPM2_RC_PCR, "TPM_RC_PCR"},
        {TPM2_RC_PCR_CHANGED, "TPM_RC_PCR_CHANGED"},
        {TPM2_RC_NV_DEFINED, "TPM_RC_NV_DEFINED"},
        {TPM2_RC_NV_RANGE, "TPM_RC_NV_RANGE"},
        {TPM2_RC_NV_LOCKED, "TPM_RC_NV_LOCKED"},
        {TPM2_RC_NV_UNINITIALIZED, "TPM_RC_NV_UNINITIALIZED"},
        {TPM2_RC_NV_SPACE, "TPM_RC_NV_SPACE"},
        {TPM2_RC_OBJECT_MEMORY, "TPM_RC_OBJECT_MEMORY"},
        {TPM2_RC_SESSION_MEMORY, "TPM_RC_SESSION_MEMORY"},
        {TPM2_RC_OBJECT_HANDLES, "TPM_RC_OBJECT_HANDLES"},
        {TPM2_RC_SESSION_HANDLES, "TPM_RC_SESSION_HANDLES"},
        {TPM2_RC_LOCKOUT, "TPM_RC_LOCKOUT"},
        {TPM2_RC_RETRY, "TPM_RC_RETRY"},
        {TPM2_RC_AUTH_FAIL, "TPM_RC_AUTH_FAIL"},
        {TPM2_RC_BAD_AUTH, "TPM_RC_BAD_AUTH"},
        {TPM2_RC_POLICY_FAIL, "TPM_RC_POLICY_FAIL"},
        {TPM2_RC_INTEGRITY, "TPM_RC_INTEGRITY"},
        {TPM2_RC_HANDLE, "TPM_RC_HANDLE"},
        {TPM2_RC_VALUE, "TPM_RC_VALUE"},
        {TPM2_RC_SIGNATURE, "TPM_RC_SIGNATURE"},
        {TPM2_RC_TICKET, "TPM_RC_TICKET"},
    };
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER) {
        switch (rc & TSS2_RC_LAYER_MASK) {
        case TSS2_TCTI_RC_LAYER:
            return "TSS2 TCTI error (the TPM could not be reached)";
        case TSS2_ESAPI_RC_LAYER:
            return "TSS2 ESAPI error";
        case TSS2_MU_RC_LAYER:
            return "TSS2 marshalling error";
        default:
            return "TSS2 error";
        }
    }
    TSS2_RC base = tpm_rc_base(rc);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].rc == base) return names[i].name;
    }
    return "TPM_RC_?";
}

arca_status tpm_fail(const char *what, TSS2_RC rc)
{
    ARCA_ERROR("tpm: %s failed: %s: %s (0x%x)", what, tpm_rc_name(rc), Tss2_RC_Decode(rc), (unsigned)rc);
    return ARCA_ERR_IO;
}

arca_status tpm_connect(const tpm_settings *ts, tpm_conn *out)
{
    tpm_conn c = {0};
    TSS2_RC rc = Tss2_TctiLdr_Initialize(ts->tcti, &c.tcti);
    if (rc != TSS2_RC_SUCCESS) {
        ARCA_ERROR("tpm: cannot reach the TPM through '%s': %s (0x%x)", ts->tcti, Tss2_RC_Decode(rc), (unsigned)rc);
        return ARCA_ERR_IO;
    }
    rc = Esys_Initialize(&c.esys, c.tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        Tss2_TctiLdr_Finalize(&c.tcti);
        ARCA_ERROR("tpm: cannot start ESAPI on '%s': %s (0x%x)", ts->tcti, Tss2_RC_Decode(rc), (unsigned)rc);
        return ARCA_ERR_IO;
    }
    *out = c;
    return ARCA_OK;
}

void tpm_disconnect(tpm_conn *c)
{
    if (c == NULL) return;
    if (c->esys != NULL) Esys_Finalize(&c->esys);
    if (c->tcti != NULL) Tss2_TctiLdr_Finalize(&c->tcti);
    c->esys = NULL;
    c->tcti = NULL;
}

void tpm_flush(tpm_conn *c, ESYS_TR *h)
{
    if (*h == ESYS_TR_NONE) return;
    TSS2_RC rc = Esys_FlushContext(c->esys, *h);
    if (rc != TSS2_RC_SUCCESS) (void)tpm_fail("FlushContext", rc);
    *h = ESYS_TR_NONE;
}

static arca_status create_primary(tpm_conn *c, ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl, const char *what,
                                  ESYS_TR *out, TPM2B_PUBLIC **out_pub)
{
    const TPM2B_SENSITIVE_CREATE in_sensitive = {0};
    const TPM2B_DATA outside = {0};
    const TPML_PCR_SELECTION creation_pcr = {0};
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_CREATION_DATA *cdata = NULL;
    TPM2B_DIGEST *chash = NULL;
    TPMT_TK_CREATION *ticket = NULL;

    TSS2_RC rc = Esys_CreatePrimary(c->esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &in_sensitive,
                                    tmpl, &outside, &creation_pcr, out, &pub, &cdata, &chash, &ticket);
    Esys_Free(cdata);
    Esys_Free(chash);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS) {
        Esys_Free(pub);
        return tpm_fail(what, rc);
    }
    if (out_pub != NULL) {
        *out_pub = pub;
    } else {
        Esys_Free(pub);
    }
    return ARCA_OK;
}

arca_status tpm_create_srk(tpm_conn *c, ESYS_TR *out)
{
    TPM2B_PUBLIC tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.publicArea.type = TPM2_ALG_ECC;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                       TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    TPMS_ECC_PARMS *p = &tmpl.publicArea.parameters.eccDetail;
    p->symmetric.algorithm = TPM2_ALG_AES;
    p->symmetric.keyBits.aes = 128;
    p->symmetric.mode.aes = TPM2_ALG_CFB;
    p->scheme.scheme = TPM2_ALG_NULL;
    p->curveID = TPM2_ECC_NIST_P256;
    p->kdf.scheme = TPM2_ALG_NULL;
    return create_primary(c, ESYS_TR_RH_OWNER, &tmpl, "CreatePrimary (storage key)", out, NULL);
}

arca_status tpm_create_ak(tpm_conn *c, ESYS_TR *out, TPM2B_PUBLIC **out_pub)
{
    TPM2B_PUBLIC tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.publicArea.type = TPM2_ALG_ECC;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                       TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    TPMS_ECC_PARMS *p = &tmpl.publicArea.parameters.eccDetail;
    p->symmetric.algorithm = TPM2_ALG_NULL;
    p->scheme.scheme = TPM2_ALG_ECDSA;
    p->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->curveID = TPM2_ECC_NIST_P256;
    p->kdf.scheme = TPM2_ALG_NULL;
    return create_primary(c, ESYS_TR_RH_ENDORSEMENT, &tmpl, "CreatePrimary (attestation key)", out, out_pub);
}

arca_status tpm_start_session(tpm_conn *c, ESYS_TR srk, TPM2_SE type, TPMA_SESSION attrs, ESYS_TR *out)
{
    const TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits = {.aes = 128}, .mode = {.aes = TPM2_ALG_CFB}};
    ESYS_TR s = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(c->esys, srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                                       type, &sym, TPM2_ALG_SHA256, &s);
    if (rc != TSS2_RC_SUCCESS) return tpm_fail("StartAuthSession", rc);
    rc = Esys_TRSess_SetAttributes(c->esys, s, attrs | TPMA_SESSION_CONTINUESESSION, 0xFF);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_flush(c, &s);
        return tpm_fail("TRSess_SetAttributes", rc);
    }
    *out = s;
    return ARCA_OK;
}

void tpm_pcr_selection(uint32_t pcr, TPML_PCR_SELECTION *out)
{
    memset(out, 0, sizeof *out);
    out->count = 1;
    out->pcrSelections[0].hash = TPM2_ALG_SHA256;
    out->pcrSelections[0].sizeofSelect = 3;
    out->pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t)(1u << (pcr % 8));
}

arca_status tpm_pcr_read(tpm_conn *c, uint32_t pcr, uint8_t out[32])
{
    arca_status st = ARCA_OK;
    TPML_PCR_SELECTION sel;
    TPML_PCR_SELECTION *sel_out = NULL;
    TPML_DIGEST *values = NULL;
    uint32_t update_counter = 0;

    tpm_pcr_selection(pcr, &sel);
    TSS2_RC rc = Esys_PCR_Read(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &update_counter, &sel_out,
                               &values);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("PCR_Read", rc);
        goto out;
    }
    if (values->count != 1 || values->digests[0].size != 32) {
        ARCA_ERROR("tpm: PCR %u has no sha256 bank on this TPM", (unsigned)pcr);
        st = ARCA_ERR_IO;
        goto out;
    }
    memcpy(out, values->digests[0].buffer, 32);
out:
    Esys_Free(sel_out);
    Esys_Free(values);
    return st;
}

arca_status tpm_identity_digest(const arca_enclave_identity *id, uint8_t out[32])
{
    uint8_t buf[32 + 2 + 2 + 1];
    arca_builder b;
    arca_builder_init_fixed(&b, buf, sizeof buf);
    ARCA_GUARD(arca_builder_add_bytes(&b, id->signer_id, sizeof id->signer_id));
    ARCA_GUARD(arca_builder_add_u16(&b, id->product_id));
    ARCA_GUARD(arca_builder_add_u16(&b, id->svn));
    ARCA_GUARD(arca_builder_add_u8(&b, id->debug ? 1 : 0));
    ARCA_ENSURE(b.len == sizeof buf, ARCA_ERR_INTERNAL);
    return arca_sha256(buf, sizeof buf, out);
}

arca_status tpm_identity_pcr_value(const arca_enclave_identity *id, uint8_t out[32])
{
    uint8_t buf[64] = {0};
    ARCA_GUARD(tpm_identity_digest(id, buf + 32));
    return arca_sha256(buf, sizeof buf, out);
}

arca_status tpm_ecc_public_spki(const TPM2B_PUBLIC *pub, uint8_t **out, size_t *out_len)
{
    arca_status st = ARCA_OK;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    OSSL_PARAM params[3];
    uint8_t point[65];
    uint8_t *der = NULL;

    const TPMT_PUBLIC *a = &pub->publicArea;
    ARCA_ENSURE(a->type == TPM2_ALG_ECC && a->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256, ARCA_ERR_DECODE);
    ARCA_ENSURE(a->unique.ecc.x.size == 32 && a->unique.ecc.y.size == 32, ARCA_ERR_DECODE);
    point[0] = 0x04;
    memcpy(point + 1, a->unique.ecc.x.buffer, 32);
    memcpy(point + 33, a->unique.ecc.y.buffer, 32);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
    params[2] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    ARCA_ENSURE_OUT(ctx != NULL, ARCA_ERR_NOMEM);
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_fromdata_init(ctx));
    ARCA_GUARD_OSSL_OUT(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params));
    int n = i2d_PUBKEY(key, &der);
    ARCA_ENSURE_OUT(n > 0, ARCA_ERR_CRYPTO);
    *out = malloc((size_t)n);
    ARCA_ENSURE_OUT(*out != NULL, ARCA_ERR_NOMEM);
    memcpy(*out, der, (size_t)n);
    *out_len = (size_t)n;
out:
    if (st == ARCA_ERR_CRYPTO) arca_log_openssl_errors("AK public key");
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    return st;
}

arca_status arca_sealing_tpm_extend_identity(const arca_sealing_config *cfg, const arca_enclave_identity *identity)
{
    arca_status st = ARCA_OK;
    tpm_settings ts;
    tpm_conn c = {0};
    uint8_t current[32], once[32];
    static const uint8_t zero[32];
    TPML_DIGEST_VALUES digests;

    ARCA_ENSURE(cfg != NULL && identity != NULL, ARCA_ERR_ARGS);
    ARCA_GUARD(tpm_settings_from(cfg, &ts));
    memset(&digests, 0, sizeof digests);
    digests.count = 1;
    digests.digests[0].hashAlg = TPM2_ALG_SHA256;
    ARCA_GUARD(tpm_identity_digest(identity, digests.digests[0].digest.sha256));
    ARCA_GUARD(tpm_identity_pcr_value(identity, once));

    ARCA_GUARD_OUT(tpm_connect(&ts, &c));
    ARCA_GUARD_OUT(tpm_pcr_read(&c, ts.pcr, current));
    if (memcmp(current, once, sizeof once) == 0) {
        ARCA_INFO("tpm: PCR %u already holds this enclave identity (since this boot); not extending again",
                  (unsigned)ts.pcr);
        goto out;
    }
    if (memcmp(current, zero, sizeof zero) != 0) {
        ARCA_WARN("tpm: PCR %u was already extended with something else since boot; after this extension it "
                  "will not match any enclave identity and the platform seed will not unseal until reboot",
                  (unsigned)ts.pcr);
    }
    TSS2_RC rc = Esys_PCR_Extend(c.esys, ESYS_TR_PCR0 + ts.pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 &digests);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail("PCR_Extend", rc);
        goto out;
    }
    ARCA_INFO("tpm: extended PCR %u with the enclave identity (product %u, svn %u)", (unsigned)ts.pcr,
              (unsigned)identity->product_id, (unsigned)identity->svn);
out:
    tpm_disconnect(&c);
    return st;
}
