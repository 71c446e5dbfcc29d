/* The `tpm` sealing backend: not in this build yet.
 *
 * It will unseal the platform seed from the (v)TPM under a PolicyPCR /
 * PolicyAuthorize policy over the enclave signer's PCR, use a TPM NV
 * counter, and produce TPM2_Quote evidence. The blob format and key
 * derivation are shared (sealing.c), so only this table changes. Until then
 * every entry point refuses with ARCA_ERR_UNSUPPORTED and says why. */
#include "arca/log.h"
#include "sealing_internal.h"

static arca_status tpm_unsupported(void)
{
    ARCA_ERROR("sealing mode 'tpm' is not implemented in this build yet; use mode 'dev' (insecure) for now");
    return ARCA_ERR_UNSUPPORTED;
}

static arca_status tpm_initialise(const arca_sealing_config *cfg)
{
    return tpm_unsupported();
}

static arca_status tpm_open(const arca_sealing_config *cfg, void **out_state)
{
    return tpm_unsupported();
}

static void tpm_close(void *state)
{
}

static const arca_secret *tpm_seed(void *state)
{
    return NULL;
}

static arca_status tpm_counter_read(void *state, uint64_t *out)
{
    return tpm_unsupported();
}

static arca_status tpm_counter_increment(void *state, uint64_t *out_new)
{
    return tpm_unsupported();
}

static arca_status tpm_evidence_create(void *state, const arca_enclave_identity *id,
                                       const uint8_t report_data[ARCA_REPORT_DATA_LEN], uint8_t **out,
                                       size_t *out_len)
{
    return tpm_unsupported();
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
    .evidence_create = tpm_evidence_create,
};
