/* The host channel: framed ECALL/OCALL messages between arcad (untrusted)
 * and arca-enclave (trusted), over one SOCK_STREAM socketpair. The frame
 * format is specified in docs/channel.md; this is its one codec.
 *
 * Frame = header (12 bytes) || payload.
 *   u16 type | u16 flags | u32 request_id | u32 payload_len   (big-endian)
 * flags bit 0 (ARCA_FRAME_REPLY) marks the answer to the request with the
 * same request_id; the reply payload starts with a u32 arca_status.
 * Each type has a hard payload cap, checked before anything is allocated.
 * One file descriptor may travel with a frame (SCM_RIGHTS on its first byte).
 */
#ifndef ARCA_CHANNEL_H
#define ARCA_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/status.h"

#define ARCA_FRAME_HEADER_LEN 12u
#define ARCA_FRAME_REPLY 0x0001u

typedef enum arca_frame_type {
    /* host -> enclave (ECALLs) */
    ARCA_ECALL_START = 0x0001,      /* payload: start parameters (see arca_start_params) */
    ARCA_ECALL_CONNECTION = 0x0002, /* a client connection fd (SCM_RIGHTS); payload: u64 conn id, u16-prefixed peer text */
    ARCA_ECALL_SHUTDOWN = 0x0003,   /* empty payload */
    ARCA_ECALL_STATUS = 0x0004,     /* empty payload; reply: enclave status text */
    /* enclave -> host (OCALLs) */
    ARCA_OCALL_STORE_GET = 0x0101,
    ARCA_OCALL_STORE_COMMIT = 0x0102,
    ARCA_OCALL_STORE_SCAN = 0x0103,
    /* A notification, never answered: the enclave has finished with a
     * client connection. payload: u64 conn id (exactly 8 bytes). A frame of
     * this type with the REPLY flag does not decode (ARCA_ERR_DECODE). */
    ARCA_OCALL_CONN_CLOSED = 0x0104,
} arca_frame_type;

typedef struct arca_frame_header {
    uint16_t type;
    uint16_t flags;
    uint32_t request_id;
    uint32_t payload_len;
} arca_frame_header;

/* Payload cap for a frame type in one direction (requests and replies have
 * separate caps); 0 if the type is unknown (and, for reply = true, for a
 * notification type, which has no reply). */
size_t arca_frame_cap(uint16_t type, bool reply);

/* True for a notification type (no reply exists: ARCA_OCALL_CONN_CLOSED). */
bool arca_frame_is_notification(uint16_t type);

/* Decode and validate a header: ARCA_ERR_FRAME_TYPE for an unknown type,
 * ARCA_ERR_FRAME_SIZE when payload_len exceeds the cap, ARCA_ERR_DECODE for
 * unknown flag bits or the REPLY flag on a notification type. The header is filled in even on FRAME_TYPE/FRAME_SIZE
 * so the caller can log it. */
ARCA_MUST_CHECK arca_status arca_frame_header_decode(const uint8_t in[ARCA_FRAME_HEADER_LEN],
                                                     arca_frame_header *out);
void arca_frame_header_encode(const arca_frame_header *h, uint8_t out[ARCA_FRAME_HEADER_LEN]);

/* Send one frame (blocking, handles partial writes and EINTR). pass_fd < 0
 * means no descriptor. Not thread-safe per fd: callers serialise sends. */
ARCA_MUST_CHECK arca_status arca_channel_send(int fd, uint16_t type, uint16_t flags, uint32_t request_id,
                                              const uint8_t *payload, size_t payload_len, int pass_fd);

/* Receive one frame (blocking). On success *out_payload is malloc'd (NULL
 * when payload_len is 0) and *out_fd is a received descriptor or -1.
 * Returns ARCA_ERR_CHANNEL on EOF/error, the header_decode errors for bad
 * headers (then the stream is unusable: the caller ends the channel). */
ARCA_MUST_CHECK arca_status arca_channel_recv(int fd, arca_frame_header *out_hdr, uint8_t **out_payload,
                                              int *out_fd);

/* ARCA_OCALL_CONN_CLOSED payload: u64 conn id, exactly
 * ARCA_CONN_CLOSED_LEN bytes. decode: ARCA_ERR_DECODE for any other
 * length (p may be NULL when len is 0); *out_conn_id set only on success. */
#define ARCA_CONN_CLOSED_LEN 8u
void arca_conn_closed_encode(uint64_t conn_id, uint8_t out[ARCA_CONN_CLOSED_LEN]);
ARCA_MUST_CHECK arca_status arca_conn_closed_decode(const uint8_t *p, size_t len, uint64_t *out_conn_id);

/* Start parameters the host sends with ARCA_ECALL_START. Strings are
 * borrowed from the payload when decoded. */
typedef struct arca_start_params {
    const char *sealing_mode;   /* "dev" (later "tpm") */
    const char *state_dir;      /* where the sealing backend keeps its files */
    const uint8_t *image_sig;   /* the enclave's signature structure */
    size_t image_sig_len;
    uint64_t cache_bytes;       /* unsealed-key cache budget */
    uint32_t max_connections;
    uint8_t initialise_platform; /* 1: create the platform seed (arcad init) */
    /* Appended after initialise_platform in the encoding: */
    const char *tpm_tcti; /* tpm mode: the TCTI string; NULL or "" = none
                           * (encoded as an empty str16; decodes to "") */
    uint32_t tpm_pcr;     /* tpm mode: the sha256 PCR index; 0 = the
                           * sealing backend's default */
} arca_start_params;

ARCA_MUST_CHECK arca_status arca_start_params_encode(const arca_start_params *p, arca_builder *b);
/* Strings in *out point into storage owned by the caller: `strbuf` receives
 * NUL-terminated copies (strbuf_len must be >= payload length + 4; less than
 * remaining + 3 is ARCA_ERR_BUFFER_TOO_SMALL). ARCA_ERR_DECODE for a
 * truncated or over-long payload, a NUL inside a string or an
 * initialise_platform other than 0/1; the cursor is left unmoved. */
ARCA_MUST_CHECK arca_status arca_start_params_decode(arca_cursor *c, arca_start_params *out, char *strbuf,
                                                     size_t strbuf_len);

#endif
