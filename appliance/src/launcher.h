/* Enclave launcher: verify the signed image, then fork/exec it with the
 * host channel on fd 3.
 *
 * The image is opened once; its bytes are hashed and checked against the
 * signature structure from that open descriptor, and the child executes
 * that very descriptor (execveat AT_EMPTY_PATH), so a file swapped in
 * after verification is never run. */
#ifndef ARCA_APPLIANCE_LAUNCHER_H
#define ARCA_APPLIANCE_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arca/hex.h" /* arca_hex, used with these messages */
#include "arca/image_sig.h"
#include "arca/sealing.h"
#include "arca/status.h"

#define ARCA_LAUNCHER_MAX_IMAGE (256u * 1024u * 1024u)
#define ARCA_LAUNCHER_ERR_LEN 512u

/* A verified enclave image. Owns image_fd (O_CLOEXEC) and sig. */
typedef struct arca_enclave_image {
    char path[4096];
    int image_fd;
    uint8_t *sig;
    size_t sig_len;
    arca_enclave_identity id;
} arca_enclave_image;

/* Read image and signature (image <= ARCA_LAUNCHER_MAX_IMAGE bytes, sig
 * <= ARCA_IMAGE_SIG_MAX) and verify with arca_image_verify against
 * expected_signer ([32] or NULL). Returns ARCA_ERR_IO (unreadable or
 * missing file), ARCA_ERR_TOO_LARGE, ARCA_ERR_DECODE (malformed .sig),
 * ARCA_ERR_IMAGE_SIGNATURE, ARCA_ERR_IMAGE_MEASUREMENT,
 * ARCA_ERR_IMAGE_SIGNER. On failure err receives one line saying which
 * check failed, e.g. "enclave image /x/arca-enclave: measurement mismatch
 * (image sha256 ab.., signature says cd..)"; *out is untouched. On success
 * *out owns its fd and buffer (arca_enclave_image_cleanup). */
ARCA_MUST_CHECK arca_status arca_enclave_image_load(const char *image_path, const char *sig_path,
                                                    const uint8_t *expected_signer, arca_enclave_image *out,
                                                    char *err, size_t err_len);
/* Close and free; safe on a zeroed struct with image_fd = -1, and twice. */
void arca_enclave_image_cleanup(arca_enclave_image *img);

/* tpm mode: extend the sealing PCR (sha256 bank) of the TPM reached through
 * tcti with the verified image's identity (signer, product, SVN, debug),
 * through arca_sealing_tpm_extend_identity, before the enclave runs. Safe
 * to call before every launch: a PCR that already holds exactly this
 * identity is left alone. pcr 0 means ARCA_TPM_PCR_DEFAULT. Returns
 * ARCA_ERR_ARGS for a NULL image or tcti, ARCA_ERR_CONFIG for a TCTI or PCR
 * the sealing backend refuses, ARCA_ERR_IO when the TPM cannot be reached
 * or refuses the extension (the cause is logged by the sealing library). */
ARCA_MUST_CHECK arca_status arca_enclave_measure_tpm(const arca_enclave_image *img, const char *tcti, uint32_t pcr);

typedef struct arca_launch_params {
    const arca_enclave_image *image;
    const char *user;     /* drop to this user when running as root; NULL/"" = no drop */
    uint64_t cache_bytes; /* RLIMIT_MEMLOCK = cache + 256 MiB (root only) */
} arca_launch_params;

typedef struct arca_enclave_proc {
    pid_t pid;   /* -1 when not running */
    int chan_fd; /* arcad's end of the channel (O_CLOEXEC), -1 when closed */
} arca_enclave_proc;

/* Fork and exec the image as `arca-enclave --channel-fd 3` with the channel
 * on fd 3, fds 0-2 kept, all others closed, RLIMIT_CORE 0, signal mask and
 * SIGPIPE reset, and (root only) the memlock limit raised and privileges
 * dropped to params->user. Returns once exec succeeded; ARCA_ERR_IO
 * (logged: which step failed and why) if the child could not be set up or
 * exec'd, ARCA_ERR_CONFIG if the user does not exist. */
ARCA_MUST_CHECK arca_status arca_enclave_spawn(const arca_launch_params *params, arca_enclave_proc *out);


#endif
