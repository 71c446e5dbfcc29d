/* The trusted core of arca-enclave: partitions, authentication, the object
 * model, persistence through sealed blobs, and every key operation.
 *
 * This is a library so that unit tests can drive it directly; in
 * production only arca-enclave links it, and every client request reaches
 * it through the request dispatcher, which holds one arca_kms_session per
 * client connection. Authentication and authorisation are decided here:
 * every entry point checks the session's login against the object's
 * partition before touching anything.
 *
 * Attribute vocabulary: PKCS#11 (CKA_*, CKO_*, CKK_*, CKM_* from p11-kit's
 * pkcs11.h) plus the ARCA_CKA_* vendor attributes below. Encoding of
 * attribute values in arca_attr: CK_BBOOL = 1 byte (0/1); CK_ULONG
 * (class, key type, value length, modulus bits, ...) = u32 big-endian;
 * byte arrays and UTF-8 strings as they are (no NUL). Key values for
 * import (CKA_VALUE): raw bytes for secret keys; PKCS#8 DER for private
 * keys; public keys are imported through CKA_PUBLIC_KEY_INFO (SPKI DER).
 *
 * All functions are thread-safe (sessions are not: one thread per session
 * at a time). Outputs go to a caller-initialised arca_builder; outputs that
 * can hold plaintext or key bytes should use a secret builder. */
#ifndef ARCA_KMS_H
#define ARCA_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arca/builder.h"
#include "arca/sealing.h"
#include "arca/secret.h"
#include "arca/status.h"
#include "arca/store_api.h"

/* Vendor attributes (CKA_VENDOR_DEFINED | "ARC" | n). */
#define ARCA_CKA_KEY_VERSION 0xC1524301u /* u32: version of a named key (label) */
#define ARCA_CKA_PRIMARY 0xC1524302u     /* bool: this version is the primary one */
#define ARCA_CKA_OBJECT_ID 0xC1524303u   /* 16 bytes: appliance object id (read-only) */
/* u32: KMIP lifecycle state (values below). Settable only at creation, and
 * then only to Pre-Active or Active (the default: a key made through
 * PKCS#11 or kms-client is usable at once, as on a network HSM; the KMIP
 * Create / Register paths ask for Pre-Active, as KMIP prescribes). Changed
 * afterwards only by arca_kms_activate / arca_kms_revoke. Objects sealed
 * before the attribute existed read as Active. Destroyed states are never
 * stored: a destroyed object is gone. */
#define ARCA_CKA_STATE 0xC1524304u
#define ARCA_STATE_PRE_ACTIVE 1u
#define ARCA_STATE_ACTIVE 2u
#define ARCA_STATE_DEACTIVATED 3u
#define ARCA_STATE_COMPROMISED 4u
#define ARCA_STATE_DESTROYED 5u
#define ARCA_STATE_DESTROYED_COMPROMISED 6u
/* Per-key permissions: UTF-8 text, comma-separated identity names (each
 * 1..ARCA_IDENTITY_NAME_MAX printable ASCII, no empty item), at most
 * ARCA_ALLOWED_IDENTITIES_MAX bytes (ARCA_ERR_ARGS otherwise). Absent or
 * empty = every identity allowed on the partition. Settable at creation
 * and by arca_kms_set_attributes from a session allowed on the key (not
 * subject to CKA_MODIFIABLE); a change is one commit with its audit record
 * (ARCA_AUDIT_SET_ATTRIBUTES). Enforced for sessions bound to a peer
 * identity: any access to the object by an identity not in a non-empty
 * list is ARCA_ERR_PERMISSION, audited (ARCA_AUDIT_ACCESS_DENIED, naming
 * the key and the identity); find skips such objects. Sessions without a
 * peer (in-process callers) are unaffected. */
#define ARCA_CKA_ALLOWED_IDENTITIES 0xC1524305u
#define ARCA_ALLOWED_IDENTITIES_MAX 1024u
/* CKA_ALLOWED_MECHANISMS: the CK_MECHANISM_TYPE array as u32 values
 * (big-endian, like every CK_ULONG here), at most
 * ARCA_ALLOWED_MECHANISMS_MAX entries (ARCA_ERR_ATTRIBUTE_VALUE
 * otherwise). Absent or empty = any mechanism the key type allows. Key use
 * with a mechanism not in a non-empty list: ARCA_ERR_MECHANISM, audited. */
#define ARCA_ALLOWED_MECHANISMS_MAX 64u
/* Mechanisms missing from p11-kit 0.24's header (PKCS#11 3.0 values). */
#ifndef CKM_AES_KEY_WRAP_KWP
#define CKM_AES_KEY_WRAP_KWP 0x0000210Bul
#endif
#ifndef CKM_HKDF_DERIVE
#define CKM_HKDF_DERIVE 0x0000402Aul
#endif
#ifndef CKM_SP800_108_COUNTER_KDF
#define CKM_SP800_108_COUNTER_KDF 0x000003ACul
#endif

#define ARCA_PARTITION_NAME_MAX 64u
#define ARCA_PIN_MIN 4u
#define ARCA_PIN_MAX 128u
#define ARCA_PIN_MAX_FAILURES 5u
#define ARCA_LABEL_MAX 256u
#define ARCA_ATTR_VALUE_MAX (16u * 1024u)
#define ARCA_DATA_MAX (256u * 1024u) /* per operation input */

typedef struct arca_object_id {
    uint8_t b[ARCA_OBJECT_ID_LEN];
} arca_object_id;

typedef struct arca_attr {
    uint32_t type; /* CKA_* or ARCA_CKA_* */
    const uint8_t *value;
    size_t len;
} arca_attr;

typedef struct arca_mechanism {
    uint32_t type;     /* CKM_* */
    uint32_t hash;     /* CKM_SHA256 / CKM_SHA384 / CKM_SHA512: PSS, OAEP, HKDF, SP800-108, raw-hash sigs */
    uint32_t mgf;      /* CKG_MGF1_SHA*; 0 = same hash as `hash` */
    uint32_t salt_len; /* PSS salt length in bytes */
    uint32_t tag_bits; /* GCM tag length; 0 = 128 */
    const uint8_t *iv; /* GCM / CBC IV; GCM encrypt without IV: enclave makes one and prepends it */
    size_t iv_len;
    const uint8_t *aad; /* GCM */
    size_t aad_len;
    const uint8_t *label; /* OAEP label */
    size_t label_len;
    const uint8_t *salt; /* HKDF salt */
    size_t salt_bytes_len;
    const uint8_t *info; /* HKDF info, SP800-108 context */
    size_t info_len;
    const uint8_t *public_data; /* ECDH: peer public point (uncompressed) or SPKI DER */
    size_t public_data_len;
} arca_mechanism;

typedef enum arca_role {
    ARCA_ROLE_NONE = 0,
    ARCA_ROLE_ADMIN = 1, /* appliance administrator: creates partitions */
    ARCA_ROLE_SO = 2,    /* a partition's security officer */
    ARCA_ROLE_USER = 3,  /* a partition's user: uses and manages keys */
} arca_role;

typedef struct arca_kms_config {
    uint64_t cache_bytes;     /* unsealed-object cache budget; 0 = 64 MiB */
    uint32_t pin_hash_cost;   /* scrypt log2(N); 0 = 15. Tests may lower it. */
} arca_kms_config;

typedef struct arca_kms arca_kms;
typedef struct arca_kms_session arca_kms_session;

/* Open the keystore on a sealing backend and a store (both borrowed, must
 * outlive the kms). Reads only the appliance state and the audit head:
 * start-up cost does not grow with the number of objects. Fails with
 * ARCA_ERR_INTEGRITY / ARCA_ERR_ROLLBACK if sealed state is damaged. */
ARCA_MUST_CHECK arca_status arca_kms_open(const arca_kms_config *cfg, arca_sealing *sealing,
                                          const arca_store_ops *store, arca_kms **out);
/* Stores pending key-use audit records first (a failure is logged). */
void arca_kms_free(arca_kms *kms);
bool arca_kms_is_initialised(arca_kms *kms);
/* Store the pending (batched) key-use audit records now; ARCA_OK when none
 * are pending, else the store's status. For clean shutdown. */
ARCA_MUST_CHECK arca_status arca_kms_flush_audit(arca_kms *kms);

/* A session: one client connection's login state and session objects.
 * Freeing it destroys its session objects. */
ARCA_MUST_CHECK arca_status arca_kms_session_new(arca_kms *kms, arca_kms_session **out);
void arca_kms_session_free(arca_kms_session *sess);
arca_role arca_kms_session_role(const arca_kms_session *sess);

/* Appliance initialisation: only when not yet initialised
 * (ARCA_ERR_ALREADY_INITIALISED otherwise). Sets the admin PIN; the
 * session is logged in as admin afterwards. */
ARCA_MUST_CHECK arca_status arca_kms_initialise(arca_kms *kms, arca_kms_session *sess, const char *admin_pin);
/* Admin creates a partition (token) with its SO and user PINs. */
ARCA_MUST_CHECK arca_status arca_kms_partition_create(arca_kms *kms, arca_kms_session *sess, const char *name,
                                                      const char *so_pin, const char *user_pin);
/* Names of partitions, NUL-separated, into out. Any session. */
ARCA_MUST_CHECK arca_status arca_kms_partition_list(arca_kms *kms, arca_kms_session *sess, arca_builder *out);
/* Log in. partition is NULL for ARCA_ROLE_ADMIN. PINs are checked with a
 * slow hash; after ARCA_PIN_MAX_FAILURES consecutive failures the PIN is
 * locked (ARCA_ERR_PIN_LOCKED) until the SO (for user) or admin (for SO)
 * resets it. Failure counts are persisted. */
ARCA_MUST_CHECK arca_status arca_kms_login(arca_kms *kms, arca_kms_session *sess, const char *partition,
                                           arca_role role, const char *pin);
ARCA_MUST_CHECK arca_status arca_kms_logout(arca_kms *kms, arca_kms_session *sess);
/* Public access without a PIN: select partition `name` for the session
 * while it is not logged in. Then (role NONE) arca_kms_find returns only
 * the partition's objects with CKA_PRIVATE false and
 * arca_kms_get_attribute reads only those (a private object:
 * ARCA_ERR_NOT_FOUND; CKA_VALUE: ARCA_ERR_ATTRIBUTE_SENSITIVE); every
 * other object operation stays ARCA_ERR_NOT_LOGGED_IN. Allowed when the
 * session's identity may use the partition (in its partition list, any
 * role; sessions without a peer: always). Errors: ARCA_ERR_ALREADY_LOGGED_IN
 * while logged in, ARCA_ERR_NOT_INITIALISED, ARCA_ERR_NOT_FOUND for an
 * unknown partition, ARCA_ERR_IDENTITY_UNKNOWN / ARCA_ERR_PERMISSION
 * (audited as LOGIN_FAILED, detail "public access: ...") when the identity
 * may not. Selecting again replaces the selection. The selection survives
 * login and logout: after a logout the session is back in public access
 * to the selected partition. */
ARCA_MUST_CHECK arca_status arca_kms_select_partition(arca_kms *kms, arca_kms_session *sess, const char *name);
/* SO resets the user PIN of its partition (also unlocks it). */
ARCA_MUST_CHECK arca_status arca_kms_init_user_pin(arca_kms *kms, arca_kms_session *sess, const char *new_pin);
/* Change the PIN of the role the session is logged in as, presenting the
 * old one: a USER login changes its partition's user PIN, an SO login the
 * SO PIN. The old PIN is checked like a login PIN (slow hash; a wrong one
 * counts as a failure: ARCA_ERR_PIN_INCORRECT, persisted; once locked
 * ARCA_ERR_PIN_LOCKED); the new PIN like any PIN (ARCA_ERR_PIN_INVALID).
 * Success resets the failure count; one commit with an ARCA_AUDIT_PIN_CHANGE
 * record. Not logged in: ARCA_ERR_NOT_LOGGED_IN; admin: ARCA_ERR_PERMISSION.
 * The session stays logged in. */
ARCA_MUST_CHECK arca_status arca_kms_set_pin(arca_kms *kms, arca_kms_session *sess, const char *old_pin,
                                             const char *new_pin);
/* Re-initialise a partition (PKCS#11 C_InitToken) with its SO PIN, from a
 * session that is not logged in: every token object of the partition is
 * destroyed (other partitions are untouched), the user PIN is cleared
 * (a user login answers ARCA_ERR_NOT_INITIALISED until the SO sets it
 * with arca_kms_init_user_pin), the SO PIN and the name stay. One commit
 * with an ARCA_AUDIT_INIT_TOKEN record (detail: the count) makes the old
 * objects unreachable at once (the partition gets a new internal id); their
 * sealed blobs and index entries are then deleted before this returns (a
 * store failure there is logged: the leftovers stay unreachable).
 * *out_destroyed (may be NULL) = the number of token objects destroyed.
 * Statuses: ARCA_ERR_ALREADY_LOGGED_IN (sess is logged in),
 * ARCA_ERR_PIN_INVALID (length), ARCA_ERR_NOT_INITIALISED (appliance),
 * ARCA_ERR_NOT_FOUND (no such partition), the login's identity checks
 * (ARCA_ERR_IDENTITY_UNKNOWN, ARCA_ERR_PERMISSION), ARCA_ERR_PIN_LOCKED,
 * ARCA_ERR_PIN_INCORRECT (counted against the SO PIN like a login),
 * ARCA_ERR_BUSY when any session is logged in to the partition (SO or
 * user, any connection), the store's status. */
ARCA_MUST_CHECK arca_status arca_kms_init_token(arca_kms *kms, arca_kms_session *sess, const char *partition,
                                                const char *so_pin, uint64_t *out_destroyed);

/* Objects. All need a user login on a partition; objects live in that
 * partition. CKA_TOKEN true (default for keys) = persisted as a sealed
 * blob before returning; false = session object. */
ARCA_MUST_CHECK arca_status arca_kms_generate_key(arca_kms *kms, arca_kms_session *sess, uint32_t mechanism,
                                                  const arca_attr *tmpl, size_t num_attrs, arca_object_id *out_id);
ARCA_MUST_CHECK arca_status arca_kms_generate_key_pair(arca_kms *kms, arca_kms_session *sess, uint32_t mechanism,
                                                       const arca_attr *pub_tmpl, size_t num_pub,
                                                       const arca_attr *priv_tmpl, size_t num_priv,
                                                       arca_object_id *out_pub, arca_object_id *out_priv);
/* Import (C_CreateObject): secret keys with CKA_VALUE, private keys with
 * CKA_VALUE = PKCS#8 DER, public keys with CKA_PUBLIC_KEY_INFO. Imported
 * keys have CKA_LOCAL false and CKA_ALWAYS_SENSITIVE/NEVER_EXTRACTABLE false. */
ARCA_MUST_CHECK arca_status arca_kms_create_object(arca_kms *kms, arca_kms_session *sess, const arca_attr *tmpl,
                                                   size_t num_attrs, arca_object_id *out_id);
/* Find objects matching every attribute of tmpl in the session's
 * partition. Uses blind indexes for CKA_LABEL, CKA_ID and CKA_CLASS; never
 * scans every object when one of those is given. */
ARCA_MUST_CHECK arca_status arca_kms_find(arca_kms *kms, arca_kms_session *sess, const arca_attr *tmpl,
                                          size_t num_attrs, arca_object_id *out_ids, size_t max_ids,
                                          size_t *out_num);
/* One attribute's value into out. ARCA_ERR_ATTRIBUTE_SENSITIVE for
 * CKA_VALUE (and private components) of sensitive or unextractable keys,
 * ARCA_ERR_ATTRIBUTE_TYPE if the object has no such attribute. */
ARCA_MUST_CHECK arca_status arca_kms_get_attribute(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                                   uint32_t type, arca_builder *out);
/* Change modifiable attributes (label, id, usage flags may only be
 * narrowed, sensitive only set, extractable only cleared). */
ARCA_MUST_CHECK arca_status arca_kms_set_attributes(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                                    const arca_attr *tmpl, size_t num_attrs);
/* Destroys an object in any lifecycle state (PKCS#11 C_DestroyObject
 * semantics); KMIP's "revoke before destroy" rule is the KMIP handler's. */
ARCA_MUST_CHECK arca_status arca_kms_destroy(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id);
/* Lifecycle (KMIP states, ARCA_CKA_STATE). Each change is one commit of
 * the re-sealed object with its audit record (ARCA_AUDIT_ACTIVATE /
 * ARCA_AUDIT_REVOKE). Needs a user login; ARCA_ERR_NOT_FOUND as for any
 * object access. Not subject to CKA_MODIFIABLE.
 *
 * activate: Pre-Active -> Active; CKA_START_DATE is stamped with today
 * (UTC) when empty. Any other state: ARCA_ERR_OBJECT_STATE. */
ARCA_MUST_CHECK arca_status arca_kms_activate(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id);
/* revoke: compromised -> Compromised, from Pre-Active, Active or
 * Deactivated; otherwise (any other reason) -> Deactivated, from Active
 * only. CKA_END_DATE is stamped with today (UTC) when empty. Anything
 * else (revoking a Compromised key again, deactivating a Pre-Active or a
 * Deactivated key): ARCA_ERR_OBJECT_STATE. detail (may be NULL, never
 * secret) goes into the audit record, e.g. the KMIP reason code.
 *
 * Enforcement (use.c): sign, encrypt, wrap, derive (and MAC generation,
 * which is sign) need Active; verify, decrypt, unwrap (KMIP's "process"
 * operations) are allowed in Active, Deactivated and Compromised; a
 * Pre-Active key does nothing cryptographic. A refusal is
 * ARCA_ERR_OBJECT_STATE, checked before the mechanism and usage flags,
 * and audited. */
ARCA_MUST_CHECK arca_status arca_kms_revoke(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                            bool compromised, const char *detail);
/* Key versions: make a new version of the named key (the primary version
 * with this label), of the same type and attributes; it becomes primary.
 * Older versions stay usable. */
ARCA_MUST_CHECK arca_status arca_kms_rotate(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                            arca_object_id *out_new_id);

ARCA_MUST_CHECK arca_status arca_kms_sign(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                          const arca_mechanism *m, const uint8_t *data, size_t data_len,
                                          arca_builder *out);
/* ARCA_OK if valid, ARCA_ERR_SIGNATURE_INVALID if not. */
ARCA_MUST_CHECK arca_status arca_kms_verify(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                            const arca_mechanism *m, const uint8_t *data, size_t data_len,
                                            const uint8_t *sig, size_t sig_len);
ARCA_MUST_CHECK arca_status arca_kms_encrypt(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                             const arca_mechanism *m, const uint8_t *data, size_t data_len,
                                             arca_builder *out);
ARCA_MUST_CHECK arca_status arca_kms_decrypt(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                             const arca_mechanism *m, const uint8_t *data, size_t data_len,
                                             arca_builder *out);
/* Wrap key `target` under `wrapping` (needs CKA_WRAP on wrapping and
 * CKA_EXTRACTABLE on target; audited as an export). */
ARCA_MUST_CHECK arca_status arca_kms_wrap(arca_kms *kms, arca_kms_session *sess, const arca_object_id *wrapping,
                                          const arca_mechanism *m, const arca_object_id *target, arca_builder *out);
ARCA_MUST_CHECK arca_status arca_kms_unwrap(arca_kms *kms, arca_kms_session *sess, const arca_object_id *unwrapping,
                                            const arca_mechanism *m, const uint8_t *wrapped, size_t wrapped_len,
                                            const arca_attr *tmpl, size_t num_attrs, arca_object_id *out_id);
/* ECDH (CKM_ECDH1_DERIVE) and HKDF (CKM_HKDF_DERIVE) into a new secret key
 * object described by tmpl (CKA_KEY_TYPE, CKA_VALUE_LEN). */
ARCA_MUST_CHECK arca_status arca_kms_derive(arca_kms *kms, arca_kms_session *sess, const arca_object_id *base,
                                            const arca_mechanism *m, const arca_attr *tmpl, size_t num_attrs,
                                            arca_object_id *out_id);
ARCA_MUST_CHECK arca_status arca_kms_random(arca_kms *kms, arca_kms_session *sess, size_t len, arca_builder *out);

/* Walk the whole audit chain; ARCA_OK with the record count, or
 * ARCA_ERR_INTEGRITY naming the first bad record ("audit record N: what
 * failed", in the log and in arca_kms_audit_verify_failure). Needs a
 * login (any role), or a session whose identity has role AUDITOR. */
ARCA_MUST_CHECK arca_status arca_kms_audit_verify(arca_kms *kms, arca_kms_session *sess, uint64_t *out_records);
/* After arca_kms_audit_verify failed on this session: "audit record N:
 * <what failed>" (never a secret); "" otherwise. Owned by the session,
 * valid until its next call. */
const char *arca_kms_audit_verify_failure(const arca_kms_session *sess);

/* ---- Client identities (certificate CN), the client CA, attestation ----
 *
 * A client identity is the subject CN (1..ARCA_IDENTITY_NAME_MAX bytes,
 * printable ASCII) of a client certificate that chains to the client CA
 * installed by arca_kms_initialise_domain. The keystore keeps, sealed in
 * its appliance state, the CA (DER) and one record per identity: name,
 * roles (ARCA_IDENTITY_ROLE_* bits) and partitions ("*" = all, or
 * comma-separated partition names).
 *
 * A session with a peer (arca_kms_session_set_peer succeeded) is bound to
 * that identity: ADMIN login needs role ADMIN; SO / USER login on a
 * partition needs the partition in the identity's list, and for USER the
 * role USER (SO: any role). A session without a peer (in-process callers,
 * unit tests) behaves as before identities existed. */
#define ARCA_IDENTITY_NAME_MAX 64u
#define ARCA_IDENTITY_PARTITIONS_MAX 1024u
#define ARCA_IDENTITY_ROLE_ADMIN 0x1u
#define ARCA_IDENTITY_ROLE_OFFICER 0x2u
#define ARCA_IDENTITY_ROLE_AUDITOR 0x4u
#define ARCA_IDENTITY_ROLE_USER 0x8u
#define ARCA_IDENTITY_ROLES_ALL 0xFu
#define ARCA_IDENTITY_MAX 1024u /* registered identities */
#define ARCA_CLIENT_CA_MAX (16u * 1024u)
#define ARCA_CHANNEL_BINDING_MAX 64u
#define ARCA_ATTEST_NONCE_MAX 64u
#define ARCA_AUDIT_READ_MAX 1024u /* records per arca_kms_audit_read */

/* TLS layer, during the handshake: the peer's leaf certificate (DER) and
 * any intermediates it sent (chain_der[i] / chain_len[i], may be NULL when
 * chain_num is 0; all borrowed). Decides admission: before initialisation
 * any well-formed certificate with a usable CN is admitted (bootstrap:
 * only STATUS, ATTEST and INITIALISE_DOMAIN are useful then); afterwards
 * the certificate must verify against the client CA (purpose SSL client,
 * current time) and its CN must be a registered identity. Binds the
 * identity to sess on success. Every refusal writes an audit record
 * ARCA_AUDIT_CONNECTION_REFUSED with the CN (if any) and the reason.
 * ARCA_ERR_DECODE (not a certificate / no usable CN), ARCA_ERR_CERT_UNTRUSTED
 * (does not chain to the client CA), ARCA_ERR_IDENTITY_UNKNOWN (not
 * registered or removed), ARCA_ERR_ALREADY_LOGGED_IN (a peer is already set). */
ARCA_MUST_CHECK arca_status arca_kms_session_set_peer(arca_kms *kms, arca_kms_session *sess, const uint8_t *leaf_der,
                                                      size_t leaf_len, const uint8_t *const *chain_der,
                                                      const size_t *chain_len, size_t chain_num);
/* Audit a refused connection that never got as far as a certificate
 * (peer: e.g. "tcp 10.0.0.5" or "unix uid 1000"; reason: short text;
 * either may be NULL). Writes ARCA_AUDIT_CONNECTION_REFUSED. */
ARCA_MUST_CHECK arca_status arca_kms_audit_refusal(arca_kms *kms, const char *peer, const char *reason);
/* The TLS exporter for fresh attestation (1..ARCA_CHANNEL_BINDING_MAX
 * bytes, copied). ARCA_ERR_ARGS otherwise. */
ARCA_MUST_CHECK arca_status arca_kms_session_set_channel_binding(arca_kms_session *sess, const uint8_t *b,
                                                                 size_t len);
/* The identity name bound to the session ("" if none). Owned by sess. */
const char *arca_kms_session_identity(const arca_kms_session *sess);

/* Initialise the appliance with a client CA (only when not initialised:
 * ARCA_ERR_ALREADY_INITIALISED otherwise). The session must have a peer
 * (ARCA_ERR_PERMISSION otherwise); client_ca_der must be one X.509
 * certificate (ARCA_ERR_DECODE) with basicConstraints CA:TRUE
 * (ARCA_ERR_ARGS), at most ARCA_CLIENT_CA_MAX bytes (ARCA_ERR_TOO_LARGE);
 * the caller's own certificate must verify against it
 * (ARCA_ERR_CERT_UNTRUSTED). Sets the admin PIN, installs the CA and
 * registers the caller's CN with every role and partitions "*", in one
 * commit with its audit record. The session is logged in as admin. */
ARCA_MUST_CHECK arca_status arca_kms_initialise_domain(arca_kms *kms, arca_kms_session *sess, const char *admin_pin,
                                                       const uint8_t *client_ca_der, size_t ca_len);
/* Admin login. Add or replace an identity. name: 1..64 printable ASCII
 * (ARCA_ERR_ARGS); roles: non-zero subset of ARCA_IDENTITY_ROLES_ALL
 * (ARCA_ERR_ARGS); partitions: "*" or comma-separated partition names
 * (each 1..ARCA_PARTITION_NAME_MAX, no empty item; ARCA_ERR_ARGS; the
 * partitions need not exist yet). Replacing the last ADMIN identity with
 * one without ADMIN: ARCA_ERR_PERMISSION. More than ARCA_IDENTITY_MAX:
 * ARCA_ERR_TOO_LARGE. Audited. */
ARCA_MUST_CHECK arca_status arca_kms_identity_put(arca_kms *kms, arca_kms_session *sess, const char *name,
                                                  uint32_t roles, const char *partitions);
/* Admin login. ARCA_ERR_IDENTITY_UNKNOWN if not registered;
 * ARCA_ERR_PERMISSION when it is the last identity with role ADMIN.
 * Sessions already bound to the name keep their connection but can no
 * longer log in. Audited. */
ARCA_MUST_CHECK arca_status arca_kms_identity_remove(arca_kms *kms, arca_kms_session *sess, const char *name);
/* Admin login (or role ADMIN identity logged in as admin). Appends the
 * local-protocol IDENTITIES body: u32 count, (u16-prefixed name, u32
 * roles, u16-prefixed partitions)*, sorted by name. */
ARCA_MUST_CHECK arca_status arca_kms_identity_list(arca_kms *kms, arca_kms_session *sess, arca_builder *out);
/* Fresh attestation: no login needed. nonce 1..ARCA_ATTEST_NONCE_MAX
 * bytes; the session must have a channel binding (ARCA_ERR_ARGS
 * otherwise). Appends the evidence (arca_sealing_evidence_create) whose
 * report data = arca_ratls_fresh_report_data(nonce, binding). */
ARCA_MUST_CHECK arca_status arca_kms_attest(arca_kms *kms, arca_kms_session *sess, const uint8_t *nonce,
                                            size_t nonce_len, arca_builder *out_evidence);
/* Admin login, or an identity with role AUDITOR (no PIN). Appends the
 * local-protocol RECORDS body for up to max (1..ARCA_AUDIT_READ_MAX,
 * ARCA_ERR_ARGS otherwise) records with seq >= from_seq: u32 count,
 * (u64 seq, u64 time_ms, u16-prefixed actor, u16-prefixed event name,
 * u32 status, u16-prefixed object id hex or "", u16-prefixed detail)*.
 * Records are authenticated as they are read (ARCA_ERR_INTEGRITY). */
ARCA_MUST_CHECK arca_status arca_kms_audit_read(arca_kms *kms, arca_kms_session *sess, uint64_t from_seq,
                                                uint32_t max, arca_builder *out);

/* Who the session is (local protocol op WHOAMI), any session: appends
 * the WHOAMI body (arca_lp_whoami_add): the identity record (name "",
 * roles 0, partitions "" without a peer; a removed identity: its name
 * with roles 0 and partitions ""), the login role (arca_role, 0 = none),
 * the logged-in partition ("" for none or admin). */
ARCA_MUST_CHECK arca_status arca_kms_whoami(arca_kms *kms, arca_kms_session *sess, arca_builder *out);

/* ---- TLS server key and operator certificate (tls_server.c uses these) ----
 *
 * The enclave's TLS key is made once and sealed in the appliance state
 * (ARCA_DB_STATE "tls-key"), so a restart keeps it; an operator-issued
 * certificate chain for it (DER certificates concatenated, leaf first) is
 * sealed as "tls-cert". The checks of a chain (leaf key, evidence) are the
 * TLS server's (arca_tls_server_install_chain); the keystore stores it. */
#define ARCA_TLS_CN_MAX 64u
#define ARCA_TLS_CHAIN_MAX (32u * 1024u)
/* The TLS key as DER (i2d_PrivateKey, EC P-256) in secret memory: loaded,
 * or generated and sealed in one commit on first use. ARCA_ERR_INTEGRITY
 * if the sealed blob fails; store errors. */
ARCA_MUST_CHECK arca_status arca_kms_tls_key(arca_kms *kms, arca_secret *out_der);
/* Append the installed chain. ARCA_ERR_NOT_FOUND when none is installed. */
ARCA_MUST_CHECK arca_status arca_kms_tls_cert_chain(arca_kms *kms, arca_builder *out);
/* ARCA_OK if sess is logged in as admin, else ARCA_ERR_PERMISSION (as the
 * identity operations). */
ARCA_MUST_CHECK arca_status arca_kms_tls_admin(arca_kms *kms, const arca_kms_session *sess);
/* Admin login: seal chain (1..ARCA_TLS_CHAIN_MAX bytes, ARCA_ERR_TOO_LARGE)
 * as "tls-cert", replacing any earlier one, in one commit with its audit
 * record ARCA_AUDIT_TLS_CERT_INSTALL (detail: never secret, may be NULL). */
ARCA_MUST_CHECK arca_status arca_kms_tls_cert_store(arca_kms *kms, arca_kms_session *sess, const uint8_t *chain,
                                                    size_t len, const char *detail);

/* Counters for status and tests. */
typedef struct arca_kms_stats {
    uint64_t cache_bytes;
    uint64_t cache_objects;
    uint64_t unseal_count;
    uint64_t audit_records;
} arca_kms_stats;
void arca_kms_get_stats(arca_kms *kms, arca_kms_stats *out);

#endif
