/* The local request protocol between clients (libarca-client) and
 * arca-enclave, over the unix socket that arcad accepts and hands to the
 * enclave. arcad never parses it. Specified in docs/protocol.md; this is
 * its one codec, shared by both ends.
 *
 * Frame    = u32 payload_len (big-endian, <= ARCA_LP_FRAME_MAX) || payload
 * Request  = u16 version (1) | u16 op | op-specific body
 * Response = u32 arca_status | body (ARCA_OK: op-specific;
 *            otherwise a u16-prefixed short message, never a secret)
 *
 * The types here mirror arca_attr / arca_mechanism of enclave_kms (this
 * library sits below the enclave and may not include its headers); the
 * enclave's dispatcher converts them field by field. Decoders borrow from
 * the input: every pointer in a decoded struct points into the decoded
 * buffer, which must outlive the struct. */
#ifndef ARCA_LOCAL_PROTO_H
#define ARCA_LOCAL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/status.h"

#define ARCA_LP_VERSION 1u
#define ARCA_LP_FRAME_MAX (1u << 20) /* 1 MiB payload */
#define ARCA_LP_MAX_ATTRS 64u        /* per template */
#define ARCA_LP_ATTR_VALUE_MAX (16u * 1024u) /* = ARCA_ATTR_VALUE_MAX */
#define ARCA_LP_DATA_MAX (256u * 1024u)      /* = ARCA_DATA_MAX */
#define ARCA_LP_PIN_MAX 128u                 /* = ARCA_PIN_MAX */
#define ARCA_LP_NAME_MAX 64u                 /* = ARCA_PARTITION_NAME_MAX */
#define ARCA_LP_FIND_MAX 4096u               /* ids per FIND */
#define ARCA_LP_MESSAGE_MAX 256u             /* error message bytes */
#define ARCA_LP_IV_MAX 64u
#define ARCA_LP_ID_LEN 16u
#define ARCA_LP_IDENTITY_NAME_MAX 64u        /* = ARCA_IDENTITY_NAME_MAX */
#define ARCA_LP_PARTITIONS_MAX 1024u         /* = ARCA_IDENTITY_PARTITIONS_MAX */
#define ARCA_LP_CLIENT_CA_MAX (16u * 1024u)  /* = ARCA_CLIENT_CA_MAX */
#define ARCA_LP_NONCE_MAX 64u                /* = ARCA_ATTEST_NONCE_MAX */
#define ARCA_LP_AUDIT_READ_MAX 1024u         /* = ARCA_AUDIT_READ_MAX */
#define ARCA_LP_IDENTITIES_MAX 1024u         /* = ARCA_IDENTITY_MAX */
#define ARCA_LP_CN_MAX 64u                   /* TLS_CSR subject CN (= ARCA_TLS_CN_MAX) */
#define ARCA_LP_CERT_CHAIN_MAX (32u * 1024u) /* = ARCA_TLS_CHAIN_MAX */
#define ARCA_LP_REVOKE_MESSAGE_MAX 256u      /* REVOKE message bytes */

typedef enum arca_lp_op {
    ARCA_LP_INITIALISE = 1,
    ARCA_LP_LOGIN = 2,
    ARCA_LP_LOGOUT = 3,
    ARCA_LP_PARTITION_CREATE = 4,
    ARCA_LP_PARTITION_LIST = 5,
    ARCA_LP_INIT_USER_PIN = 6,
    ARCA_LP_GENERATE_KEY = 7,
    ARCA_LP_GENERATE_KEY_PAIR = 8,
    ARCA_LP_CREATE_OBJECT = 9,
    ARCA_LP_FIND = 10,
    ARCA_LP_GET_ATTRIBUTE = 11,
    ARCA_LP_SET_ATTRIBUTES = 12,
    ARCA_LP_DESTROY = 13,
    ARCA_LP_ROTATE = 14,
    ARCA_LP_SIGN = 15,
    ARCA_LP_VERIFY = 16,
    ARCA_LP_ENCRYPT = 17,
    ARCA_LP_DECRYPT = 18,
    ARCA_LP_WRAP = 19,
    ARCA_LP_UNWRAP = 20,
    ARCA_LP_DERIVE = 21,
    ARCA_LP_RANDOM = 22,
    ARCA_LP_AUDIT_VERIFY = 23,
    ARCA_LP_STATUS = 24,
    ARCA_LP_INITIALISE_DOMAIN = 25, /* pin, data = client CA DER */
    ARCA_LP_IDENTITY_PUT = 26,      /* name, value = roles, data = partitions text */
    ARCA_LP_IDENTITY_REMOVE = 27,   /* name */
    ARCA_LP_IDENTITY_LIST = 28,
    ARCA_LP_ATTEST = 29,            /* data = nonce */
    ARCA_LP_AUDIT_READ = 30,        /* value64 = from seq, value = max */
    ARCA_LP_TLS_CSR = 31,           /* name = subject CN (u16-prefixed, <= ARCA_LP_CN_MAX) */
    ARCA_LP_TLS_CERT_INSTALL = 32,  /* data = DER chain, leaf first (u32-prefixed, <= ARCA_LP_CERT_CHAIN_MAX) */
    ARCA_LP_WHOAMI = 33,            /* no body */
    ARCA_LP_ACTIVATE = 34,          /* id */
    ARCA_LP_REVOKE = 35,            /* id, value = KMIP revocation reason code,
                                       data = message (u16-prefixed, <= ARCA_LP_REVOKE_MESSAGE_MAX, no NUL) */
    ARCA_LP_SELECT_PARTITION = 36,  /* partition = name (public access without a PIN) */
    ARCA_LP_SET_PIN = 37,           /* pin = old PIN, pin2 = new PIN (of the logged-in USER or SO) */
    ARCA_LP_INIT_TOKEN = 38,        /* partition = name, pin = its SO PIN; answer u64 = objects destroyed
                                       (PKCS#11 C_InitToken: erase the partition, clear the user PIN) */
    ARCA_LP_OP_MAX = 38,
} arca_lp_op;

/* Borrowed bytes. */
typedef struct arca_lp_bytes {
    const uint8_t *data;
    size_t len;
} arca_lp_bytes;

typedef struct arca_lp_attr {
    uint32_t type;
    const uint8_t *value;
    size_t len;
} arca_lp_attr;

typedef struct arca_lp_template {
    arca_lp_attr attrs[ARCA_LP_MAX_ATTRS];
    size_t num;
} arca_lp_template;

typedef struct arca_lp_mechanism {
    uint32_t type, hash, mgf, salt_len, tag_bits;
    arca_lp_bytes iv, aad, label, salt, info, public_data;
} arca_lp_mechanism;

/* One request; which fields an op uses (and in which wire order) is fixed
 * per op, see docs/protocol.md. Unused fields are ignored by the encoder
 * and zero after decoding. */
typedef struct arca_lp_request {
    uint16_t op;                /* arca_lp_op */
    arca_lp_bytes partition;    /* LOGIN (empty for admin), PARTITION_CREATE, SELECT_PARTITION, INIT_TOKEN: name */
    uint8_t role;               /* LOGIN: arca_role value */
    arca_lp_bytes pin;          /* INITIALISE admin, LOGIN, PARTITION_CREATE SO, INIT_USER_PIN new, SET_PIN old,
                                   INIT_TOKEN SO */
    arca_lp_bytes pin2;         /* PARTITION_CREATE: user PIN; SET_PIN: new PIN */
    uint32_t mech_type;         /* GENERATE_KEY(_PAIR): CKM_* */
    arca_lp_mechanism mech;     /* SIGN ... DERIVE */
    arca_lp_template tmpl;      /* templates; GENERATE_KEY_PAIR: public */
    arca_lp_template tmpl2;     /* GENERATE_KEY_PAIR: private */
    uint8_t id[ARCA_LP_ID_LEN]; /* the object operated on (WRAP: wrapping key) */
    uint8_t id2[ARCA_LP_ID_LEN]; /* WRAP: target */
    uint32_t value;             /* GET_ATTRIBUTE: type; FIND: max; RANDOM: length;
                                   IDENTITY_PUT: roles; AUDIT_READ: max (<= ARCA_LP_AUDIT_READ_MAX);
                                   REVOKE: KMIP revocation reason code */
    arca_lp_bytes data;         /* SIGN/VERIFY/ENCRYPT/DECRYPT input, UNWRAP wrapped key;
                                   INITIALISE_DOMAIN: client CA DER (<= ARCA_LP_CLIENT_CA_MAX, u32-prefixed);
                                   IDENTITY_PUT: partitions text (<= ARCA_LP_PARTITIONS_MAX, u16-prefixed, no NUL);
                                   ATTEST: nonce (<= ARCA_LP_NONCE_MAX, u32-prefixed);
                                   TLS_CERT_INSTALL: DER chain (<= ARCA_LP_CERT_CHAIN_MAX, u32-prefixed);
                                   REVOKE: message (<= ARCA_LP_REVOKE_MESSAGE_MAX, u16-prefixed, no NUL) */
    arca_lp_bytes sig;          /* VERIFY */
    arca_lp_bytes name;         /* IDENTITY_PUT / IDENTITY_REMOVE: identity (<= ARCA_LP_IDENTITY_NAME_MAX, no NUL);
                                   TLS_CSR: subject CN (<= ARCA_LP_CN_MAX, no NUL) */
    uint64_t value64;           /* AUDIT_READ: first sequence number */
} arca_lp_request;

/* Encode a request payload (without the frame length). ARCA_ERR_ARGS for
 * an unknown op, ARCA_ERR_TOO_LARGE when a field is over its cap. */
ARCA_MUST_CHECK arca_status arca_lp_request_encode(const arca_lp_request *req, arca_builder *b);
/* Decode a request payload into *out (zeroed first; borrows from c).
 * ARCA_ERR_DECODE for short/trailing/malformed input, a wrong version, an
 * unknown op, a NUL inside a PIN or name; ARCA_ERR_TOO_LARGE when a count
 * or length exceeds its cap. */
ARCA_MUST_CHECK arca_status arca_lp_request_decode(arca_cursor *c, arca_lp_request *out);

/* Shape of a successful response body, by op. */
typedef enum arca_lp_shape {
    ARCA_LP_SHAPE_EMPTY = 1,   /* nothing */
    ARCA_LP_SHAPE_ID,          /* id[16] */
    ARCA_LP_SHAPE_ID_PAIR,     /* public id[16] | private id[16] */
    ARCA_LP_SHAPE_BYTES,       /* u32-prefixed bytes */
    ARCA_LP_SHAPE_IDS,         /* u32 count | id[16] * count */
    ARCA_LP_SHAPE_NAMES,       /* u32 count | u16-prefixed name * count */
    ARCA_LP_SHAPE_U64,         /* u64 */
    ARCA_LP_SHAPE_PAIRS,       /* u32 count | (u16-prefixed key, u16-prefixed value) * count */
    ARCA_LP_SHAPE_IDENTITIES,  /* u32 count | (u16-prefixed name, u32 roles, u16-prefixed partitions) * count */
    ARCA_LP_SHAPE_RECORDS,     /* u32 count | (u64 seq, u64 time_ms, u16-prefixed actor, u16-prefixed event,
                                  u32 status, u16-prefixed object (hex or ""), u16-prefixed detail) * count */
    ARCA_LP_SHAPE_WHOAMI,      /* one IDENTITIES item (u16-prefixed name, u32 roles, u16-prefixed partitions)
                                  | u8 login role (arca_role; 0 = none) | u16-prefixed logged-in partition
                                  ("" for none / admin). A session without a peer identity: name "",
                                  roles 0, partitions "". */
} arca_lp_shape;

/* 0 for an unknown op. */
arca_lp_shape arca_lp_op_shape(uint16_t op);
const char *arca_lp_op_name(uint16_t op);

/* A decoded response. For list shapes, `list` is a cursor over the
 * already-validated items and num_items their count. */
typedef struct arca_lp_identity {
    arca_lp_bytes name;
    uint32_t roles;
    arca_lp_bytes partitions;
} arca_lp_identity;

typedef struct arca_lp_response {
    uint32_t status;       /* arca_status */
    arca_lp_bytes message; /* status != ARCA_OK */
    uint8_t id[ARCA_LP_ID_LEN];
    uint8_t id2[ARCA_LP_ID_LEN];
    arca_lp_bytes data;
    uint64_t u64;
    arca_cursor list;
    uint32_t num_items;
    arca_lp_identity identity; /* WHOAMI */
    uint8_t role;              /* WHOAMI: login role (arca_role value, 0 = not logged in) */
    arca_lp_bytes partition;   /* WHOAMI: logged-in partition ("" = none) */
} arca_lp_response;

/* Encoders of response payloads: a successful one starts with
 * arca_lp_response_begin (u32 ARCA_OK) and continues with the body; an
 * error is the status and a short message (truncated to
 * ARCA_LP_MESSAGE_MAX). */
ARCA_MUST_CHECK arca_status arca_lp_response_begin(arca_builder *b);
ARCA_MUST_CHECK arca_status arca_lp_response_error(arca_builder *b, arca_status st, const char *message);

/* Decode a response to `op` (its shape decides the body). ARCA_ERR_DECODE
 * for short/trailing/malformed input or a status value out of range,
 * ARCA_ERR_TOO_LARGE for counts/lengths over their caps. */
ARCA_MUST_CHECK arca_status arca_lp_response_decode(arca_cursor *c, uint16_t op, arca_lp_response *out);

/* Items of IDENTITIES / RECORDS lists: take the next item from a
 * response's `list` cursor (already validated by the response decoder;
 * borrowed from the response buffer). ARCA_ERR_DECODE when the cursor is
 * exhausted or malformed. */
typedef struct arca_lp_record {
    uint64_t seq;
    uint64_t time_ms;
    arca_lp_bytes actor, event;
    uint32_t status; /* arca_status of the audited operation */
    arca_lp_bytes object, detail;
} arca_lp_record;
ARCA_MUST_CHECK arca_status arca_lp_identity_next(arca_cursor *list, arca_lp_identity *out);
ARCA_MUST_CHECK arca_status arca_lp_record_next(arca_cursor *list, arca_lp_record *out);
/* Encoders of those items (the keystore's side; the caller writes the
 * u32 count first). ARCA_ERR_TOO_LARGE when a string is over 65535. */
ARCA_MUST_CHECK arca_status arca_lp_identity_add(arca_builder *b, const arca_lp_identity *item);
ARCA_MUST_CHECK arca_status arca_lp_record_add(arca_builder *b, const arca_lp_record *item);
/* The WHOAMI body after arca_lp_response_begin: the identity item, the
 * login role, the partition (<= ARCA_LP_NAME_MAX, else ARCA_ERR_TOO_LARGE). */
ARCA_MUST_CHECK arca_status arca_lp_whoami_add(arca_builder *b, const arca_lp_identity *identity, uint8_t role,
                                               const arca_lp_bytes *partition);

/* Frames over a stream fd. write: all or ARCA_ERR_IO (EPIPE etc. without
 * SIGPIPE on sockets). read: blocks up to timeout_ms (< 0: forever) for
 * each chunk; ARCA_ERR_CHANNEL on EOF before the first byte (a clean
 * close), ARCA_ERR_IO on errors or EOF mid-frame, ARCA_ERR_TIMEOUT,
 * ARCA_ERR_FRAME_SIZE for a length over max_len (nothing allocated). The
 * payload lands in secret memory if `secret` (free with arca_secmem_free)
 * else on the heap (free()); a zero-length payload gives *out = NULL. */
ARCA_MUST_CHECK arca_status arca_lp_frame_write(int fd, const uint8_t *payload, size_t len);
ARCA_MUST_CHECK arca_status arca_lp_frame_read(int fd, size_t max_len, int timeout_ms, bool secret, uint8_t **out,
                                               size_t *out_len);

#endif
