/* The enclave's KMIP request handler: one Request Message in, one Response
 * Message out (docs/protocol.md, section "KMIP").
 *
 * This is the only place where KMIP meets the keystore. It translates KMIP
 * operations and attributes onto kms.h and back, and nothing more: all
 * authentication and authorisation is the keystore's (the handler adds
 * none and bypasses none). Files:
 *   kmip_message.c  framing, versions, batches, credentials, the one
 *                   arca_status -> Result Reason table, dispatch
 *   kmip_attrs.c    KMIP attributes <-> the PKCS#11 object model
 *   kmip_ops_server.c  Discover Versions, Query, RNG Retrieve
 *   kmip_ops_keys.c    Create, Create Key Pair, Register, Locate, Get,
 *                      Get Attributes, Get Attribute List, Destroy, Re-key,
 *                      Re-key Key Pair, Derive Key
 *   kmip_ops_state.c   Activate, Revoke (the lifecycle state)
 *   kmip_ops_attrs.c   Add / Modify / Delete Attribute
 *   kmip_ops_crypto.c  Encrypt, Decrypt, Sign, Signature Verify, MAC,
 *                      MAC Verify
 *
 * p11-kit's pkcs11.h renames some identifiers with macros (iv_len, ...):
 * it is included here, before kms.h, and this header is included first by
 * every kmip_*.c. */
#ifndef ARCA_KMIP_SERVER_H
#define ARCA_KMIP_SERVER_H

#include <p11-kit/pkcs11.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/kmip.h"
#include "arca/kms.h"
#include "arca/status.h"
#include "arca/ttlv.h"
#include "request.h"

/* Handle one KMIP Request Message (req, req_len: the whole TTLV message,
 * borrowed; it may hold key material, so the caller keeps it in secret
 * memory) for the client whose keystore session is sess, and append one
 * Response Message to resp (caller-initialised; it may receive plaintext
 * and key bytes, so it should be a secret builder).
 *
 * The answer uses the request's protocol version (1.2, 1.3, 1.4, 2.0,
 * 2.1). Every failure of the message or of a batch item is answered inside
 * the response (Result Status Operation Failed, a Result Reason, a Result
 * Message without secrets). Returns non-OK only when no response could be
 * built at all (ARCA_ERR_ARGS for NULL arguments, ARCA_ERR_NOMEM, or the
 * builder's cap is too small even for an error answer); then the caller
 * drops the connection and resp holds nothing usable. */
ARCA_MUST_CHECK arca_status arca_kmip_handle(arca_kms *kms, arca_kms_session *sess, const uint8_t *req,
                                             size_t req_len, arca_builder *resp);

/* The same for a client connection of arca-enclave: the request context
 * (borrowed) also enables the vendor operation Arca Call
 * (ARCA_KMIP_OP_ARCA_CALL), which runs one local-protocol request through
 * arca_request_handle on sess; and messages may be up to
 * ARCA_KMIP_WIRE_MAX bytes (arca_kmip_handle: the TTLV default, 1 MiB).
 * Through arca_kmip_handle an Arca Call is answered Operation Not
 * Supported. resp should allow ARCA_KMIP_WIRE_MAX bytes. Failures as
 * arca_kmip_handle; ARCA_ERR_ARGS also for a ctx without a keystore. */
ARCA_MUST_CHECK arca_status arca_kmip_handle_ctx(const arca_request_ctx *ctx, arca_kms_session *sess,
                                                 const uint8_t *req, size_t req_len, arca_builder *resp);

/* A Response Message for a message whose framing was refused before it
 * was read (wrong tag or type in the TTLV header, a length over the cap):
 * one batch item, Operation Failed / Invalid Message with msg (never a
 * secret), protocol version 2.1 (nothing of the request was read).
 * ARCA_ERR_ARGS for NULL; the builder's status. */
ARCA_MUST_CHECK arca_status arca_kmip_framing_error(arca_builder *resp, const char *msg);

/* ---- Internal to kmip_*.c --------------------------------------------- */

#define KMIP_MSG_MAX 200u
#define KMIP_MAX_ATTRS 64u
#define KMIP_UID_LEN 32u /* hex of the 16-byte object id */

/* State of one request while its batch items run. */
typedef struct kmip_ctx {
    arca_kms *kms;
    arca_kms_session *sess;
    const arca_request_ctx *rctx; /* NULL: no Arca Call (arca_kmip_handle) */
    uint32_t major, minor; /* the version the response uses */
    /* Set by an operation that fails with a specific reason; 0 = derive
     * the reason from the returned status. */
    uint32_t reason;
    char msg[KMIP_MSG_MAX]; /* Result Message; empty = the status's text */
    /* ID Placeholder: the object the previous item created or located. */
    bool have_placeholder;
    arca_object_id placeholder;
} kmip_ctx;

static inline bool kmip_v2(const kmip_ctx *c)
{
    return c->major >= 2;
}

/* At least version major.minor. */
static inline bool kmip_at_least(const kmip_ctx *c, uint32_t major, uint32_t minor)
{
    return c->major > major || (c->major == major && c->minor >= minor);
}

/* One operation: reads the Request Payload (never NULL), appends the
 * children of the Response Payload to out. On failure it may set
 * c->reason and c->msg (kmip_fail) and returns the status. */
typedef arca_status (*kmip_op_fn)(kmip_ctx *c, const arca_ttlv_node *payload, arca_builder *out);

/* Record a specific reason and message (printf-style; never a secret) and
 * return st, for `return kmip_fail(...)`. */
arca_status kmip_fail(kmip_ctx *c, arca_status st, uint32_t reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The Result Reason for st in the context's version (the one table). */
uint32_t kmip_reason_for(const kmip_ctx *c, arca_status st);

/* Required / optional single fields with a helpful failure: a missing
 * required field or a field of the wrong type is Invalid Field naming the
 * field. Optional getters return ARCA_OK and leave *out alone when the
 * field is absent, setting *present (may be NULL). */
ARCA_MUST_CHECK arca_status kmip_req_child(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, arca_ttlv_type type,
                                           const arca_ttlv_node **out);
ARCA_MUST_CHECK arca_status kmip_opt_child(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, arca_ttlv_type type,
                                           const arca_ttlv_node **out);
ARCA_MUST_CHECK arca_status kmip_opt_enum(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, uint32_t *out,
                                          bool *present);
ARCA_MUST_CHECK arca_status kmip_opt_int(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, int32_t *out,
                                         bool *present);
ARCA_MUST_CHECK arca_status kmip_opt_bool(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, bool *out,
                                          bool *present);
ARCA_MUST_CHECK arca_status kmip_opt_bytes(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag,
                                           const uint8_t **out, size_t *out_len, bool *present);

/* Unique Identifier: 32 lower-case hex characters of the object id. The
 * request's Unique Identifier, or the ID Placeholder when absent (Invalid
 * Field when neither). A text that is not an id of ours: Item Not Found. */
ARCA_MUST_CHECK arca_status kmip_get_uid(kmip_ctx *c, const arca_ttlv_node *p, arca_object_id *out);
/* The same for another tag (Private Key Unique Identifier...); placeholder
 * says whether the ID Placeholder may stand in. */
ARCA_MUST_CHECK arca_status kmip_get_uid_tag(kmip_ctx *c, const arca_ttlv_node *p, uint32_t tag, bool placeholder,
                                             arca_object_id *out);
/* Parse one identifier node. */
ARCA_MUST_CHECK arca_status kmip_uid_parse(kmip_ctx *c, const arca_ttlv_node *n, arca_object_id *out);
void kmip_uid_format(const arca_object_id *id, char out[KMIP_UID_LEN + 1]);
ARCA_MUST_CHECK arca_status kmip_add_uid(arca_builder *b, uint32_t tag, const arca_object_id *id);
void kmip_set_placeholder(kmip_ctx *c, const arca_object_id *id);

/* The versions Arca speaks, highest first. */
size_t kmip_num_versions(void);
void kmip_version_at(size_t i, uint32_t *major, uint32_t *minor);

/* ---- Attributes (kmip_attrs.c) ----------------------------------------- */

/* One client-supplied attribute: its tag (1.x names are mapped to tags)
 * and its value node (for 1.x the Attribute Value node). */
typedef struct kmip_attr {
    uint32_t tag;
    const arca_ttlv_node *value;
} kmip_attr;

typedef struct kmip_attr_list {
    kmip_attr a[KMIP_MAX_ATTRS];
    size_t num;
} kmip_attr_list;

/* Append the attributes of a 1.x Template-Attribute (Attribute* with
 * Attribute Name / Attribute Value) or a 2.x Attributes structure
 * (attributes by tag) to list. container NULL: nothing. Errors: Invalid
 * Field for an unknown attribute name, a referenced template (Name inside
 * a Template-Attribute), more than KMIP_MAX_ATTRS. */
ARCA_MUST_CHECK arca_status kmip_attrs_collect(kmip_ctx *c, const arca_ttlv_node *container, kmip_attr_list *list);

/* What the KMIP attributes of a create / register / locate say. */
typedef struct kmip_key_spec {
    bool has_type, has_alg, has_len, has_usage, has_name, has_curve, has_sensitive, has_extractable;
    uint32_t object_type;
    uint32_t alg;
    int32_t len;
    uint32_t usage;
    const uint8_t *name;
    size_t name_len;
    uint32_t curve;
    bool sensitive, extractable;
    bool match_none; /* Locate: a criterion no Arca object meets (State Destroyed...) */
    bool has_state;  /* Locate: State criterion */
    uint32_t state;
    bool has_activation; /* Create / Register: Activation Date */
    int64_t activation;
} kmip_key_spec;

/* Read the attributes Arca maps (Object Type, Cryptographic Algorithm,
 * Length, Usage Mask, Name, Recommended Curve / Cryptographic Domain
 * Parameters, Sensitive, Extractable; State for Locate; Activation Date
 * for the creating operations) into spec; others are ignored when
 * ignore_other (dates, Object Group... that have no place in the model)
 * and refused otherwise with Invalid Field / Attribute Not Supported.
 * Repeated single-valued attributes: Invalid Field. */
ARCA_MUST_CHECK arca_status kmip_spec_parse(kmip_ctx *c, const kmip_attr_list *list, bool for_locate,
                                            kmip_key_spec *spec);

/* A PKCS#11 template under construction; values point into the struct
 * itself or into the request. */
typedef struct kmip_p11 {
    arca_attr a[24];
    size_t num;
    uint8_t u32buf[8][4];
    size_t num_u32;
    const uint8_t *ec_params;
    size_t ec_params_len;
} kmip_p11;

ARCA_MUST_CHECK arca_status kmip_p11_add(kmip_p11 *t, uint32_t type, const uint8_t *v, size_t len);
ARCA_MUST_CHECK arca_status kmip_p11_add_u32(kmip_p11 *t, uint32_t type, uint32_t v);
ARCA_MUST_CHECK arca_status kmip_p11_add_bool(kmip_p11 *t, uint32_t type, bool v);

/* Template attributes common to every object of class cls: label from
 * Name, usage flags from the Usage Mask (only the flags that apply to the
 * class), Sensitive / Extractable for secret and private keys. */
ARCA_MUST_CHECK arca_status kmip_spec_to_p11(kmip_ctx *c, const kmip_key_spec *spec, uint32_t cls, kmip_p11 *t);
/* The initial state of an object a KMIP operation creates: Pre-Active
 * (KMIP), or Active when the request carried an Activation Date that is
 * not in the future. Adds ARCA_CKA_STATE to t. A future Activation Date
 * leaves the object Pre-Active: Arca does not activate it by the clock,
 * the client calls Activate (documented in docs/protocol.md). */
ARCA_MUST_CHECK arca_status kmip_p11_add_initial_state(const kmip_key_spec *spec, kmip_p11 *t);
/* KMIP Object Type <-> CKO_*: false for types Arca does not hold. */
bool kmip_object_type_to_class(uint32_t object_type, uint32_t *out_cls);
uint32_t kmip_class_to_object_type(uint32_t cls);
/* DER OID of a recommended curve (NULL if not supported) and back. */
const uint8_t *kmip_curve_oid(uint32_t curve, size_t *out_len);
/* Curve from KMIP Cryptographic Length of an EC key (256/384/521). */
bool kmip_curve_from_len(int32_t len, uint32_t *out_curve);

/* Emit the attributes Arca can report for object id: all of them (want
 * NULL) or the tags in want[0..num_want). 1.x: Attribute structures; 2.x:
 * the attributes inside an Attributes structure (the caller opens it).
 * names_only: 1.x Attribute Name texts / 2.x Attribute Reference (for Get
 * Attribute List). Attributes the object does not have are left out. */
ARCA_MUST_CHECK arca_status kmip_attrs_emit(kmip_ctx *c, const arca_object_id *id, const uint32_t *want,
                                            size_t num_want, bool names_only, arca_builder *out);

/* Algorithm, length and curve of an object as KMIP names them (has_*
 * false where KMIP has no name for it), and its CKK_* key type. */
typedef struct kmip_obj_crypto_info {
    bool has_alg, has_len, has_curve;
    uint32_t alg, curve, key_type;
    int32_t len;
} kmip_obj_crypto_info;
ARCA_MUST_CHECK arca_status kmip_obj_crypto(kmip_ctx *c, const arca_object_id *id, uint32_t cls,
                                            kmip_obj_crypto_info *out);

/* A u32 / bool attribute of an object through the keystore. */
ARCA_MUST_CHECK arca_status kmip_obj_u32(kmip_ctx *c, const arca_object_id *id, uint32_t type, uint32_t *out);
ARCA_MUST_CHECK arca_status kmip_obj_bool(kmip_ctx *c, const arca_object_id *id, uint32_t type, bool *out);

/* ---- Operations -------------------------------------------------------- */
arca_status kmip_op_discover_versions(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_query(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_rng_retrieve(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_arca_call(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_create(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_create_key_pair(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_register(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_locate(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_get(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_get_attributes(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_get_attribute_list(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_destroy(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_activate(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_revoke(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_rekey(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_rekey_key_pair(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_derive_key(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_add_attribute(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_modify_attribute(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_delete_attribute(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_encrypt(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_decrypt(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_sign(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_signature_verify(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_mac(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);
arca_status kmip_op_mac_verify(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out);

/* The operations this server implements (for Query), in enum order. */
size_t kmip_num_supported_ops(void);
uint32_t kmip_supported_op(size_t i);

#endif
