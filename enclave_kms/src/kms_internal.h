/* Private to the keystore (kms*.c, attrs.c, object.c, partition.c, pin.c,
 * index.c, cache.c): the shared structures and the functions the modules
 * call on each other. Nothing outside the keystore includes this. The
 * design is described at the top of kms.c. */
#ifndef ARCA_KMS_INTERNAL_H
#define ARCA_KMS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "arca/builder.h"
#include "arca/cursor.h"
#include "arca/kms.h"
#include "arca/sealing.h"
#include "arca/secret.h"
#include "arca/status.h"
#include "arca/store_api.h"
#include "audit.h"
#include "crypto.h"

/* ---- attributes (attrs.c) ---------------------------------------------- */

/* One stored attribute; value is heap memory owned by the list. Stored
 * attributes are never secret (key values live in the arca_key). */
/* Unsealed objects (the struct, every attribute value, the key) live in
 * secret memory: root cannot read a label or flag of an unsealed object
 * through /proc/PID/mem either. */
typedef struct kms_attr {
    uint32_t type;
    uint32_t len;
    uint8_t *value;
} kms_attr;

typedef struct kms_attrs {
    kms_attr *a;
    size_t num;
} kms_attrs;

void kms_attrs_free(kms_attrs *l);
/* Replace or append (copies value). */
ARCA_MUST_CHECK arca_status kms_attrs_set(kms_attrs *l, uint32_t type, const uint8_t *value, size_t len);
ARCA_MUST_CHECK arca_status kms_attrs_set_bool(kms_attrs *l, uint32_t type, bool v);
ARCA_MUST_CHECK arca_status kms_attrs_set_u32(kms_attrs *l, uint32_t type, uint32_t v);
ARCA_MUST_CHECK arca_status kms_attrs_clone(const kms_attrs *src, kms_attrs *out);
const kms_attr *kms_attrs_find(const kms_attrs *l, uint32_t type);
bool kms_attrs_bool(const kms_attrs *l, uint32_t type, bool dflt);
uint32_t kms_attrs_u32(const kms_attrs *l, uint32_t type, uint32_t dflt);
/* CKA_ALLOWED_MECHANISMS: true when the list is absent or empty, or names
 * mechanism. */
bool kms_attrs_mechanism_allowed(const kms_attrs *l, uint32_t mechanism);
size_t kms_attrs_mem(const kms_attrs *l);

/* Template helpers. */
const arca_attr *kms_tmpl_find(const arca_attr *tmpl, size_t num, uint32_t type);
/* Decoded CK_BBOOL / CK_ULONG template values; false if absent or malformed
 * (call kms_tmpl_check first). */
bool kms_tmpl_bool(const arca_attr *tmpl, size_t num, uint32_t type, bool *out);
bool kms_tmpl_u32(const arca_attr *tmpl, size_t num, uint32_t type, uint32_t *out);
/* Syntax of a creation / set template: every type known
 * (ARCA_ERR_ATTRIBUTE_TYPE), no caller-set read-only attribute
 * (ARCA_ERR_ATTRIBUTE_READ_ONLY), every value well-formed
 * (ARCA_ERR_ATTRIBUTE_VALUE), no duplicates (ARCA_ERR_TEMPLATE_INCONSISTENT). */
ARCA_MUST_CHECK arca_status kms_tmpl_check(const arca_attr *tmpl, size_t num);
/* ARCA_CKA_ALLOWED_IDENTITIES values: well-formed (empty, or
 * comma-separated identity names, <= ARCA_ALLOWED_IDENTITIES_MAX bytes);
 * name is one of the items (exact, case-sensitive). */
bool kms_identity_list_ok(const uint8_t *v, size_t len);
bool kms_identity_list_has(const uint8_t *v, size_t len, const char *name);
/* ARCA_ERR_TEMPLATE_INCONSISTENT if tmpl holds `type` with a u32 value
 * other than expect. */
ARCA_MUST_CHECK arca_status kms_tmpl_expect_u32(const arca_attr *tmpl, size_t num, uint32_t type, uint32_t expect);

typedef enum kms_origin {
    KMS_ORIGIN_GENERATED = 1, /* CKA_LOCAL true */
    KMS_ORIGIN_IMPORTED,      /* create_object, unwrap */
    KMS_ORIGIN_DERIVED,
} kms_origin;

/* Build the stored attributes of a new key object of class/key type from
 * PKCS#11 defaults and the (checked) template. Attributes that do not
 * apply to the class: ARCA_ERR_TEMPLATE_INCONSISTENT. */
ARCA_MUST_CHECK arca_status kms_attrs_build(uint32_t cls, const arca_key *key, const arca_attr *tmpl, size_t num,
                                            kms_origin origin, kms_attrs *out);

/* ---- objects (object.c) ------------------------------------------------ */

typedef struct kms_object kms_object;
struct kms_object {
    arca_object_id id;
    uint32_t partition_id;
    uint64_t version; /* sealed blob version, +1 on each change */
    bool token;
    kms_attrs attrs;
    arca_key *key;
    size_t mem; /* bytes charged to the cache */
    /* Owned by cache.c (under the cache mutex). */
    uint32_t refs;
    bool in_cache;
    kms_object *hnext, *lprev, *lnext;
    /* Session list (session objects only). */
    kms_object *snext;
};

/* Takes ownership of *attrs (zeroed) and key. */
ARCA_MUST_CHECK arca_status kms_object_new(uint32_t partition_id, bool token, kms_attrs *attrs, arca_key *key,
                                           kms_object **out);
void kms_object_free(kms_object *o);
uint32_t kms_object_class(const kms_object *o);
/* Plaintext form that is sealed (secret builder): u16 format(1) |
 * u32 partition | object_id[16] | u16 num_attrs | (u32 type, u16-prefixed
 * value)* | u32-prefixed arca_key_serialize. */
ARCA_MUST_CHECK arca_status kms_object_serialize(const arca_object_id *id, uint32_t partition_id,
                                                 const kms_attrs *attrs, const arca_key *key, arca_builder *out);
ARCA_MUST_CHECK arca_status kms_object_parse(const uint8_t *pt, size_t pt_len, kms_object **out);
/* Value of any readable attribute, stored or computed from the key,
 * without policy checks (for matching and get_attribute). CKA_VALUE and
 * private components: ARCA_ERR_ATTRIBUTE_SENSITIVE here; callers decide. */
ARCA_MUST_CHECK arca_status kms_object_attr_value(const kms_object *o, uint32_t type, arca_builder *out);
/* Every template attribute equal on the object. */
bool kms_object_matches(const kms_object *o, const arca_attr *tmpl, size_t num);

/* ---- pins (pin.c) ------------------------------------------------------ */

typedef struct kms_pin {
    uint8_t cost; /* log2 N; 0 = no PIN set */
    uint8_t salt[16];
    uint8_t hash[32];
    uint32_t failures;
} kms_pin;

/* ARCA_ERR_PIN_INVALID for a PIN outside ARCA_PIN_MIN..ARCA_PIN_MAX. */
ARCA_MUST_CHECK arca_status kms_pin_check_len(const char *pin);
ARCA_MUST_CHECK arca_status kms_pin_set(kms_pin *p, uint32_t cost, const char *pin);
/* ARCA_OK if pin matches (constant-time compare), ARCA_ERR_PIN_INCORRECT
 * if not. Does not touch failures. */
ARCA_MUST_CHECK arca_status kms_pin_verify(const kms_pin *p, const char *pin);
ARCA_MUST_CHECK arca_status kms_pin_encode(const kms_pin *p, arca_builder *b);
ARCA_MUST_CHECK arca_status kms_pin_decode(arca_cursor *c, kms_pin *out);

/* ---- blind indexes (index.c) ------------------------------------------- */

#define KMS_INDEX_HMAC_LEN 32u
#define KMS_INDEX_KEY_LEN (KMS_INDEX_HMAC_LEN + ARCA_OBJECT_ID_LEN)
/* Pseudo attribute types for index entries that are not one attribute. */
#define KMS_IDX_ALL 0xC15243F0u           /* value: empty */
#define KMS_IDX_LABEL_VERSION 0xC15243F1u /* value: label || u32 version */
#define KMS_IDX_LABEL_PRIMARY 0xC15243F2u /* value: label (primary objects only) */
#define KMS_INDEX_MAX_ENTRIES 6u

typedef struct kms_index_key {
    uint8_t b[KMS_INDEX_KEY_LEN];
} kms_index_key;

ARCA_MUST_CHECK arca_status kms_index_hmac(const arca_secret *k_index, uint32_t partition_id, uint32_t type,
                                           const uint8_t *v1, size_t v1_len, const uint8_t *v2, size_t v2_len,
                                           uint8_t out[KMS_INDEX_HMAC_LEN]);
/* The index entries of an object (partition, attrs, id). */
ARCA_MUST_CHECK arca_status kms_index_entries(const arca_secret *k_index, uint32_t partition_id,
                                              const arca_object_id *id, const kms_attrs *attrs,
                                              kms_index_key out[KMS_INDEX_MAX_ENTRIES], size_t *out_num);

/* ---- cache (cache.c) --------------------------------------------------- */

typedef struct kms_cache {
    pthread_mutex_t mu;
    kms_object **buckets;
    size_t num_buckets;
    kms_object *lru_head, *lru_tail; /* head = most recent */
    uint64_t bytes, budget, objects;
    uint64_t epoch; /* bumped on every invalidation */
    uint64_t unseal_count;
} kms_cache;

ARCA_MUST_CHECK arca_status kms_cache_init(kms_cache *c, uint64_t budget);
void kms_cache_cleanup(kms_cache *c);
/* A referenced cached object or NULL. */
kms_object *kms_cache_get(kms_cache *c, const arca_object_id *id);
uint64_t kms_cache_epoch(kms_cache *c);
/* Insert o (the caller holds one reference, which it keeps). If another
 * instance of the id is cached, or the epoch moved since `epoch` was read,
 * o is not inserted (it stays a private, referenced instance) unless
 * replace is true, in which case it displaces the old instance. Evicts
 * least-recently-used objects down to the budget. */
void kms_cache_insert(kms_cache *c, kms_object *o, uint64_t epoch, bool replace);
/* Drop the cached instance of id (destroyed or changed) and bump the epoch. */
void kms_cache_remove(kms_cache *c, const arca_object_id *id);
void kms_object_ref(kms_cache *c, kms_object *o);
/* Drop a reference; frees the object when unreferenced and not cached. */
void kms_object_release(kms_cache *c, kms_object *o);
void kms_cache_count_unseal(kms_cache *c);

/* ---- partitions and appliance state (partition.c) ---------------------- */

typedef struct kms_partition {
    uint32_t id;
    char name[ARCA_PARTITION_NAME_MAX + 1];
    uint64_t version;
    kms_pin so_pin;
    kms_pin user_pin;
    uint32_t logins; /* sessions logged in to it as SO or user (memory only, partition.c) */
} kms_partition;

/* ---- client identities (identity.c) ------------------------------------ */

typedef struct kms_identity {
    char name[ARCA_IDENTITY_NAME_MAX + 1];
    uint32_t roles;
    char partitions[ARCA_IDENTITY_PARTITIONS_MAX + 1];
} kms_identity;

/* ---- the keystore ------------------------------------------------------ */

#define KMS_SESSION_OBJECTS_MAX 1024u

struct arca_kms {
    arca_sealing *sealing;
    const arca_store_ops *store;
    arca_audit *audit;
    uint32_t pin_cost;
    arca_secret k_index;
    kms_cache cache;
    /* Appliance state and partitions, under state_mu. */
    pthread_mutex_t state_mu;
    bool initialised;
    uint64_t appliance_version;
    uint32_t next_partition_id;
    kms_pin admin_pin;
    kms_partition *partitions;
    size_t num_partitions;
    /* Client CA and identities (ARCA_DB_STATE "identities"), under state_mu. */
    uint8_t *client_ca_der;
    size_t client_ca_len;
    X509 *client_ca;
    kms_identity *identities; /* sorted by name */
    size_t num_identities;
    uint64_t identities_version;
    /* Serialises lifecycle writes to token objects (create, change,
     * destroy, rotate), so that version bumps and index updates of one
     * object never interleave. Key use does not take it. */
    pthread_mutex_t write_mu;
};

struct arca_kms_session {
    arca_kms *kms;
    arca_role role;
    uint32_t partition_id;
    char partition_name[ARCA_PARTITION_NAME_MAX + 1];
    /* Public access (arca_kms_select_partition): 0 = none. While role is
     * NONE, partition_id / partition_name are these. */
    uint32_t public_partition_id;
    char public_partition_name[ARCA_PARTITION_NAME_MAX + 1];
    kms_object *objects; /* session objects, each holding one reference */
    size_t num_objects;
    /* Peer (arca_kms_session_set_peer): the certificate's CN; the
     * certificate and chain are kept for arca_kms_initialise_domain. */
    bool has_peer;
    char identity[ARCA_IDENTITY_NAME_MAX + 1];
    X509 *peer_cert;
    STACK_OF(X509) *peer_chain;
    uint8_t binding[ARCA_CHANNEL_BINDING_MAX];
    size_t binding_len;
    char verify_failure[160]; /* last audit verification failure */
};

typedef struct kms_txn kms_txn;

/* partition.c */
ARCA_MUST_CHECK arca_status kms_state_load(arca_kms *kms);
void kms_state_cleanup(arca_kms *kms);
const char *kms_role_name(arca_role r);
/* State blobs (ARCA_DB_STATE, sealed with purpose STATE, AAD = key; the
 * sealed header's object id is derived from the key). put: seal pt and add
 * the PUT to t. unseal: ARCA_ERR_INTEGRITY (logged) if the blob fails. */
ARCA_MUST_CHECK arca_status kms_state_put(arca_kms *kms, kms_txn *t, const char *key, uint64_t version,
                                          const uint8_t *pt, size_t pt_len);
ARCA_MUST_CHECK arca_status kms_state_unseal(arca_kms *kms, const char *key, const uint8_t *blob, size_t blob_len,
                                             uint64_t *out_version, arca_secret *out_pt);
/* Add the sealed appliance record to t. */
ARCA_MUST_CHECK arca_status kms_appliance_put(arca_kms *kms, kms_txn *t, uint64_t version, bool initialised,
                                              uint32_t next_id, const kms_pin *admin);
/* identity.c: load the "identities" blob at open (absent: none); free. */
ARCA_MUST_CHECK arca_status kms_identities_load(arca_kms *kms);
void kms_identities_cleanup(arca_kms *kms);
/* Called with state_mu held: the identity of a peer session may log in
 * with role on partition (NULL for admin). ARCA_OK for sessions without a
 * peer; ARCA_ERR_IDENTITY_UNKNOWN when removed; ARCA_ERR_PERMISSION when
 * its roles / partitions do not allow it. */
ARCA_MUST_CHECK arca_status kms_identity_may_login(arca_kms *kms, const arca_kms_session *sess, arca_role role,
                                                   const char *partition);
/* Called with state_mu held: the session's identity is registered with
 * role bit `role`. */
bool kms_identity_has_role(arca_kms *kms, const arca_kms_session *sess, uint32_t role);

/* Collected store ops of one commit, with the buffers they point to. */
#define KMS_TXN_MAX_OPS 96u
typedef struct kms_txn {
    arca_store_op ops[KMS_TXN_MAX_OPS];
    size_t num;
    void *owned[KMS_TXN_MAX_OPS];
    size_t num_owned;
} kms_txn;

void kms_txn_init(kms_txn *t);
void kms_txn_cleanup(kms_txn *t);
/* Adds an op; `owned` (may be NULL) is freed with free() at cleanup, even
 * when adding fails. */
ARCA_MUST_CHECK arca_status kms_txn_add(kms_txn *t, uint8_t kind, uint8_t db, const uint8_t *key, size_t key_len,
                                        const uint8_t *val, size_t val_len, void *owned);
/* Commit ops + the audit record of ev (with the pending key-use records)
 * in one transaction (ev may be NULL: ops only). */
ARCA_MUST_CHECK arca_status kms_txn_commit(arca_kms *kms, kms_txn *t, const arca_audit_event *ev);
/* Audit an operation on its own: key-use ops (arca_audit_is_use_op) are
 * batched, any other op is stored before this returns. A failure to audit
 * (including an earlier failed batch) is logged and returned. */
arca_status kms_audit_use(arca_kms *kms, const arca_kms_session *sess, uint16_t op,
                                          arca_status outcome, const arca_object_id *id, const char *detail);
void kms_audit_event_init(arca_audit_event *ev, const arca_kms_session *sess, uint16_t op, arca_status outcome,
                          const arca_object_id *id, const char *detail);

/* object store (object.c) */
/* Load an object visible to the session (session objects, cache, store).
 * ARCA_ERR_NOT_LOGGED_IN without a user login, ARCA_ERR_NOT_FOUND if
 * absent or of another partition, ARCA_ERR_INTEGRITY if its blob fails to
 * unseal. The one access check of every object operation: a session bound
 * to an identity that the object's non-empty ARCA_CKA_ALLOWED_IDENTITIES
 * does not list gets ARCA_ERR_PERMISSION, audited as
 * ARCA_AUDIT_ACCESS_DENIED. The result holds a reference:
 * kms_object_release(). */
ARCA_MUST_CHECK arca_status kms_object_get(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                           kms_object **out);
/* The same without the permission check (find filters silently with
 * kms_object_allowed). */
ARCA_MUST_CHECK arca_status kms_object_load(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                            kms_object **out);
/* Read access for find and get_attribute: like kms_object_get /
 * kms_object_load, but a session in public access (role NONE with a
 * selected partition) also gets the objects with CKA_PRIVATE false; a
 * private object is ARCA_ERR_NOT_FOUND to it (invisible, as in find). */
ARCA_MUST_CHECK arca_status kms_object_get_read(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                                kms_object **out);
ARCA_MUST_CHECK arca_status kms_object_load_read(arca_kms *kms, arca_kms_session *sess, const arca_object_id *id,
                                                 kms_object **out);
/* The session is logged in as user, or may read and o is public. */
bool kms_object_visible(const arca_kms_session *sess, const kms_object *o);
/* The session may find / read objects: user or SO login, or public access
 * (SO and public access: public objects only). */
bool kms_session_may_read(const arca_kms_session *sess);
/* The session may use o: no peer identity, or an empty / absent
 * ARCA_CKA_ALLOWED_IDENTITIES, or the identity is listed. */
bool kms_object_allowed(const arca_kms_session *sess, const kms_object *o);
/* Add the put of a token object (sealed blob for id/version/attrs/key) and
 * its index entries (minus old_attrs' entries, when replacing) to t. */
ARCA_MUST_CHECK arca_status kms_txn_put_object(arca_kms *kms, kms_txn *t, const arca_object_id *id,
                                               uint32_t partition_id, uint64_t version, const kms_attrs *attrs,
                                               const arca_key *key, const kms_attrs *old_attrs);
ARCA_MUST_CHECK arca_status kms_txn_delete_object(arca_kms *kms, kms_txn *t, const kms_object *o);
void kms_id_hex(const arca_object_id *id, char out[2 * ARCA_OBJECT_ID_LEN + 1]);

/* keygen.c: make new objects visible. Token objects: one commit holding
 * their blobs, index entries and the audit record of ev; then cached.
 * Session objects join the session. Takes the caller's references on
 * success; on failure the caller still owns them. Assigns fresh ids and
 * copies them to out_ids[num] (the objects may be evicted at once). */
ARCA_MUST_CHECK arca_status kms_publish(arca_kms *kms, arca_kms_session *sess, kms_object **objs, size_t num,
                                        uint16_t audit_op, const char *detail, size_t audit_index,
                                        arca_object_id *out_ids);
/* Generate fresh key material like `like` (same type and size). */
ARCA_MUST_CHECK arca_status kms_key_generate_like(const arca_key *like, arca_key **out);

/* find.c: walk the token objects of the session's partition listed under
 * one blind index (type, v1 || v2), loading each (cache or unseal). Entries
 * that are malformed, stale or point to missing or damaged blobs are
 * skipped (the host may lie). cb returns false to stop. */
typedef bool (*kms_index_cb)(kms_object *o, void *ctx);
ARCA_MUST_CHECK arca_status kms_index_walk(arca_kms *kms, arca_kms_session *sess, uint32_t type, const uint8_t *v1,
                                           size_t v1_len, const uint8_t *v2, size_t v2_len, kms_index_cb cb,
                                           void *ctx);

#endif
