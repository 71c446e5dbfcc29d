/* Internals of libarca-pkcs11.so, shared by its files (docs/pkcs11.md).
 *
 * ==== CHANGES (additions only after the first version; newest last) =====
 * v1 (p11core): first version. p11crypto: implement the functions under
 *    "p11crypto implements" at the end, and the C_* entry points listed
 *    there with their standard names (pkcs11.h declares them); the function
 *    list in p11_module.c points at them.
 * v2 (p11core): added the "p11core's own state" section (module struct,
 *    slots, arca_p11_pin_copy, arca_p11_slot_counts); nothing changed above.
 *    (Done: C_GetMechanismInfo reports CKF_HW for every mechanism run in
 *    the appliance, so pkcs11-tool --test runs its signature tests.)
 *    Integration test: tests/integration/
 *    test_pkcs11_tool.sh (p11core) -- add your cases there or in a
 *    test_pkcs11_<yours>.sh.
 * v3 (p11): session objects shared by the application's sessions: a call
 *    about an object uses arca_p11_client_for's connection instead of
 *    s->client (p11_crypto.c's get_attr / run_once / verify_run do);
 *    new objects are registered with arca_p11_handle_new. Fork: inherited
 *    sessions are freed with arca_p11_session_abandon. Slot flag
 *    user_pin_cleared (C_InitToken). Nothing above was removed.
 * ========================================================================
 *
 * Layout (one file per PKCS#11 concept; C_* entry points are thin shims):
 *   p11_module.c   function list, interfaces, C_Initialize / C_Finalize /
 *                  C_GetInfo, fork detection, module + session tables,
 *                  locking                                         (p11core)
 *   p11_slot.c     slots / tokens, C_InitToken / C_InitPIN / C_SetPIN,
 *                  C_GetMechanismList / Info (over p11_mech.c)     (p11core)
 *   p11_session.c  open / close / login / logout / session info,
 *                  C_WaitForSlotEvent, operation state, the op reset (p11core)
 *   p11_object.c   create / copy / destroy / size / get / set / find (p11core)
 *   p11_attr.c     CK_ATTRIBUTE <-> arca_lp_attr conversion          (p11core)
 *   p11_error.c    arca_status -> CK_RV, the one table               (p11core)
 *   p11_mech.c     mechanism table, parameter parsing               (p11crypto)
 *   p11_crypto.c   encrypt / decrypt / digest / sign / verify       (p11crypto)
 *   p11_keys.c     generate / wrap / unwrap / derive / random       (p11crypto)
 *
 * Threads: every table is guarded by the module mutex (caller-supplied
 * mutex callbacks when C_Initialize got them without CKF_OS_LOCKING_OK,
 * else pthread). A session is used by one thread at a time: an entry point
 * takes it with arca_p11_session_get (which locks the session's own mutex)
 * and gives it back with arca_p11_session_put. Never hold the module mutex
 * while calling the appliance.
 *
 * Fork: C_Initialize records getpid(); arca_p11_session_get and
 * arca_p11_check_init answer CKR_CRYPTOKI_NOT_INITIALIZED in a child that
 * has not called C_Initialize itself; C_Initialize in the child closes the
 * inherited sockets without a byte on them (arca_client_abandon). */
#ifndef ARCA_P11_INTERNAL_H
#define ARCA_P11_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <p11-kit/pkcs11.h>

#include "arca/client.h"
#include "arca/local_proto.h"
#include "arca/secret.h"
#include "arca/status.h"
#include "p11_v3.h"

/* ---- Identity of the module ------------------------------------------- */

#define ARCA_P11_MANUFACTURER "Arca"
#define ARCA_P11_LIBRARY_DESCRIPTION "Arca PKCS#11 module"
#define ARCA_P11_MODEL "arca-partition"
#define ARCA_P11_DEFAULT_CONF "/etc/arca/pkcs11.conf"
#define ARCA_P11_MAX_SLOTS 64u
#define ARCA_P11_MAX_SESSIONS 1024u /* open sessions per application */
#define ARCA_P11_PIN_MIN 4u         /* = enclave's ARCA_PIN_MIN */
#define ARCA_P11_PIN_MAX 128u       /* = ARCA_LP_PIN_MAX */
#define ARCA_P11_MAX_BORROWED 4u    /* other sessions' connections one call may use */

/* ---- Module state and fork --------------------------------------------- */

/* CKR_OK when the module is initialised in this process; else
 * CKR_CRYPTOKI_NOT_INITIALIZED (also in a forked child that has not called
 * C_Initialize). */
CK_RV arca_p11_check_init(void);

/* The module mutex (tables). Both are no-ops when not initialised. */
void arca_p11_lock(void);
void arca_p11_unlock(void);
/* A new / freed mutex of the kind C_Initialize chose (for sessions). */
CK_RV arca_p11_mutex_new(void **out);
void arca_p11_mutex_free(void *m);
void arca_p11_mutex_lock(void *m);
void arca_p11_mutex_unlock(void *m);

/* The client configuration loaded at C_Initialize (from ARCA_PKCS11_CONF,
 * else ARCA_P11_DEFAULT_CONF). Borrowed; valid until C_Finalize. */
const arca_client_config *arca_p11_config(void);

/* ---- Operations in progress (per session) ------------------------------ */

typedef enum arca_p11_op_kind {
    ARCA_P11_OP_ENCRYPT = 0,
    ARCA_P11_OP_DECRYPT,
    ARCA_P11_OP_DIGEST,
    ARCA_P11_OP_SIGN,
    ARCA_P11_OP_VERIFY,
    ARCA_P11_OP_COUNT
} arca_p11_op_kind;

/* One operation in progress, owned by its session. All pointer fields are
 * owned by the op and released by arca_p11_op_reset (which zeroes it):
 * param and data are wiped before free (they may hold IVs, AAD or
 * plaintext), md is an EVP_MD_CTX * freed with EVP_MD_CTX_free, ext is
 * freed with ext_free when both are set. */
typedef struct arca_p11_op {
    bool active;
    CK_MECHANISM_TYPE mechanism;
    arca_lp_mechanism lp;        /* its byte fields may point into param */
    uint8_t *param;              /* malloc'd copy of the parameter bytes */
    size_t param_len;
    arca_client_id key;          /* the key object (not for digest) */
    CK_OBJECT_HANDLE key_handle;
    uint8_t *data;               /* malloc'd multi-part input accumulated so far */
    size_t data_len, data_cap;
    void *md;                    /* EVP_MD_CTX * (local digest) */
    void *ext;                   /* anything else p11crypto needs */
    void (*ext_free)(void *ext);
} arca_p11_op;

/* Wipe and free everything the op owns and zero it; safe on a zeroed op. */
void arca_p11_op_reset(arca_p11_op *op);

/* ---- Sessions ---------------------------------------------------------- */

/* Find state (p11_object.c): the ids matched at C_FindObjectsInit. */
typedef struct arca_p11_find {
    bool active;
    arca_client_id *ids; /* malloc'd */
    size_t num, pos;
} arca_p11_find;

typedef struct arca_p11_session {
    CK_SESSION_HANDLE handle;
    CK_SLOT_ID slot;
    CK_FLAGS flags;        /* CKF_SERIAL_SESSION [| CKF_RW_SESSION] */
    arca_client *client;   /* this session's own connection = enclave session */
    void *mutex;           /* serialises the session's users */
    unsigned refs;         /* under the module mutex */
    bool closed;           /* closed or lost: freed at the last put */
    bool owns_objects;     /* has made session objects (module mutex) */
    /* Other sessions whose connections this call uses for their session
     * objects (arca_p11_client_for), released by arca_p11_session_put. */
    struct arca_p11_session *borrowed[ARCA_P11_MAX_BORROWED];
    size_t num_borrowed;
    arca_p11_find find;
    arca_p11_op op[ARCA_P11_OP_COUNT];
} arca_p11_session;

/* Take the session for one call: checks initialisation / fork, looks the
 * handle up and locks the session. CKR_CRYPTOKI_NOT_INITIALIZED,
 * CKR_SESSION_HANDLE_INVALID (unknown, closed, or lost with its
 * connection). On CKR_OK the caller must arca_p11_session_put(*out). */
CK_RV arca_p11_session_get(CK_SESSION_HANDLE h, arca_p11_session **out);
/* Unlock and release; frees the session if it was closed meanwhile. */
void arca_p11_session_put(arca_p11_session *s);

/* The session's state, as C_GetSessionInfo reports it (CKS_*). */
CK_STATE arca_p11_session_state(const arca_p11_session *s);
/* True when the application is logged in (user or SO) on s's token. */
bool arca_p11_session_logged_in(const arca_p11_session *s);
/* True when logged in as the normal user (not SO) on s's token. */
bool arca_p11_session_user(const arca_p11_session *s);
bool arca_p11_session_rw(const arca_p11_session *s);

/* The CK_RV for an appliance call's status on session s, through
 * arca_p11_rv_from_status. ARCA_ERR_NOT_FOUND becomes not_found_rv (e.g.
 * CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID). When the connection
 * was lost (ARCA_ERR_IO / ARCA_ERR_CHANNEL / ARCA_ERR_TIMEOUT) the session
 * is closed (its handle becomes invalid, its session objects are gone)
 * and the answer is CKR_DEVICE_ERROR; a new C_OpenSession reconnects. */
CK_RV arca_p11_session_rv(arca_p11_session *s, arca_status st, CK_RV not_found_rv);

/* ---- Object handles ---------------------------------------------------- */

/* The handle of an object id: the same handle for the same id for the
 * module's life (until C_Finalize). CKR_HOST_MEMORY. */
CK_RV arca_p11_handle_from_id(const arca_client_id *id, CK_OBJECT_HANDLE *out);
/* The id behind a handle; invalid_rv (CKR_OBJECT_HANDLE_INVALID or
 * CKR_KEY_HANDLE_INVALID, ...) for CK_INVALID_HANDLE, an unknown handle,
 * or a session object whose session has closed. */
CK_RV arca_p11_handle_to_id(CK_OBJECT_HANDLE h, CK_RV invalid_rv, arca_client_id *out);

/* ---- Session objects (p11_module.c; docs/pkcs11.md "Session objects") --
 * A session object lives in the enclave session of the connection that
 * made it. It is visible to every session of the application: a call on
 * session s about another session's session object goes over the owner's
 * connection (thread-safe in libarca-client; the owner is held, not
 * locked, so two sessions using each other's objects cannot deadlock).
 * When the owner closes, its session objects are gone and their handles
 * invalid in every session. */

/* The handle of an object just made on session `owner`'s connection: a
 * session object (token false) is recorded as owner's. CKR_HOST_MEMORY. */
CK_RV arca_p11_handle_new(CK_SESSION_HANDLE owner, bool token, const arca_client_id *id, CK_OBJECT_HANDLE *out);
/* The session (handle) that made a session object of this application,
 * 0 for a token object or an object not made here. */
CK_SESSION_HANDLE arca_p11_handle_owner(const arca_client_id *id);
/* The connection that holds object id for a call on session s (taken by
 * the caller): s->client, or another session's connection for that
 * session's session object (that session is held until
 * arca_p11_session_put(s)). *out_owner (may be NULL) gets the session
 * whose connection it is. invalid_rv when the owner has closed;
 * CKR_GENERAL_ERROR past ARCA_P11_MAX_BORROWED other sessions in one call. */
CK_RV arca_p11_client_for(arca_p11_session *s, const arca_client_id *id, CK_RV invalid_rv, arca_client **out,
                          CK_SESSION_HANDLE *out_owner);
/* Open sessions of the slot other than s that made session objects, each
 * held (up to max); release with arca_p11_sessions_release. */
size_t arca_p11_session_owners(const arca_p11_session *s, arca_p11_session **out, size_t max);
void arca_p11_sessions_release(arca_p11_session **list, size_t num);

/* ---- Attributes (p11_attr.c) ------------------------------------------- */

/* How an attribute's value is laid out in the API; the wire (enclave)
 * layout is the same except ULONG = u32 big-endian and ULONG_ARRAY = an
 * array of u32 big-endian. */
typedef enum arca_p11_attr_kind {
    ARCA_P11_ATTR_BYTES = 1, /* byte strings, UTF-8, CK_DATE, CK_BBOOL */
    ARCA_P11_ATTR_ULONG,     /* CK_ULONG (class, key type, lengths, ...) */
    ARCA_P11_ATTR_BOOL,      /* CK_BBOOL, exactly 1 byte */
    ARCA_P11_ATTR_ULONG_ARRAY, /* CKA_ALLOWED_MECHANISMS */
    ARCA_P11_ATTR_UNSUPPORTED, /* attribute arrays (CKA_WRAP_TEMPLATE ...) */
} arca_p11_attr_kind;

arca_p11_attr_kind arca_p11_attr_kind_of(CK_ATTRIBUTE_TYPE type);

/* A template converted to wire form. attrs[] values borrow from the
 * caller's CK_ATTRIBUTE values (bytes, booleans) or point into this
 * struct's scratch storage (converted ULONGs) or into owned[] (arrays):
 * the struct must outlive every use of attrs and be released with
 * arca_p11_tmpl_free (which wipes what it owns). */
typedef struct arca_p11_tmpl {
    arca_lp_attr attrs[ARCA_LP_MAX_ATTRS];
    size_t num;
    uint8_t ulongs[ARCA_LP_MAX_ATTRS][4];
    uint8_t *owned[ARCA_LP_MAX_ATTRS];
} arca_p11_tmpl;

/* Convert (out is zeroed first). CKR_ARGUMENTS_BAD for t NULL with n > 0
 * or n > ARCA_LP_MAX_ATTRS; CKR_ATTRIBUTE_VALUE_INVALID for a NULL value
 * with a length, a ULONG whose length is not sizeof(CK_ULONG) or whose
 * value does not fit 32 bits, a BOOL not 1 byte of 0/1, an array whose
 * length is not a multiple of sizeof(CK_ULONG), a value over
 * ARCA_LP_ATTR_VALUE_MAX; CKR_ATTRIBUTE_TYPE_INVALID for an attribute
 * array type (not supported); CKR_TEMPLATE_INCONSISTENT for a type given
 * twice. Nothing to free on failure. */
CK_RV arca_p11_tmpl_from_ck(const CK_ATTRIBUTE *t, CK_ULONG n, arca_p11_tmpl *out);
/* Append one more attribute (e.g. a default); CKR_ARGUMENTS_BAD when
 * full. The value of add_bytes is borrowed. */
CK_RV arca_p11_tmpl_add_ulong(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG v);
CK_RV arca_p11_tmpl_add_bool(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, bool v);
CK_RV arca_p11_tmpl_add_bytes(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, const void *v, size_t len);
/* The attribute of that type, or NULL. */
const arca_lp_attr *arca_p11_tmpl_find(const arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type);
/* Its value as a CK_ULONG / bool; false when absent or malformed. */
bool arca_p11_tmpl_ulong(const arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG *out);
bool arca_p11_tmpl_bool(const arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, bool *out);
void arca_p11_tmpl_free(arca_p11_tmpl *t);

/* Store a wire value (from the appliance) of attribute `type` into *out
 * following C_GetAttributeValue's rules: pValue NULL -> ulValueLen = API
 * length, CKR_OK; buffer too small -> ulValueLen = CK_UNAVAILABLE_INFORMATION,
 * CKR_BUFFER_TOO_SMALL; else copied (ULONGs widened), ulValueLen set.
 * CKR_GENERAL_ERROR (ulValueLen = CK_UNAVAILABLE_INFORMATION) for a wire
 * value of the wrong length for its kind. */
CK_RV arca_p11_attr_to_ck(CK_ATTRIBUTE_TYPE type, const uint8_t *wire, size_t wire_len, CK_ATTRIBUTE *out);

/* Read one CK_ULONG attribute of an object through the session's
 * connection (e.g. CKA_KEY_TYPE of a key before an operation). Errors
 * through arca_p11_session_rv with not_found_rv. */
CK_RV arca_p11_object_ulong(arca_p11_session *s, const arca_client_id *id, CK_ATTRIBUTE_TYPE type,
                            CK_RV not_found_rv, CK_ULONG *out);

/* u32 big-endian helpers for wire values. */
void arca_p11_put_u32(uint8_t out[4], uint32_t v);
uint32_t arca_p11_get_u32(const uint8_t in[4]);

/* ---- Errors (p11_error.c) ---------------------------------------------- */

/* The one table arca_status -> CK_RV (ARCA_ERR_NOT_FOUND ->
 * CKR_OBJECT_HANDLE_INVALID; connection losses -> CKR_DEVICE_ERROR; an
 * unknown status -> CKR_GENERAL_ERROR). Pure. */
CK_RV arca_p11_rv_from_status(arca_status st);

/* Copy s into a blank-padded, not NUL-terminated field of len bytes. */
void arca_p11_pad(CK_UTF8CHAR *field, size_t len, const char *s);

/* ---- p11crypto implements (p11_mech.c, p11_crypto.c, p11_keys.c) -------- */

/* The mechanism list of every token (all tokens are alike): the two-call
 * convention of C_GetMechanismList (list NULL -> count; *count too small
 * -> CKR_BUFFER_TOO_SMALL with *count set). count is not NULL (checked by
 * the caller). */
CK_RV arca_p11_mech_list(CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count);
/* CKR_MECHANISM_INVALID for a mechanism not in the table; info not NULL. */
CK_RV arca_p11_mech_info(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info);

/* And these entry points under their standard names (pointed to by the
 * function list in p11_module.c):
 *   C_EncryptInit C_Encrypt C_EncryptUpdate C_EncryptFinal
 *   C_DecryptInit C_Decrypt C_DecryptUpdate C_DecryptFinal
 *   C_DigestInit C_Digest C_DigestUpdate C_DigestKey C_DigestFinal
 *   C_SignInit C_Sign C_SignUpdate C_SignFinal C_SignRecoverInit C_SignRecover
 *   C_VerifyInit C_Verify C_VerifyUpdate C_VerifyFinal C_VerifyRecoverInit
 *   C_VerifyRecover
 *   C_DigestEncryptUpdate C_DecryptDigestUpdate C_SignEncryptUpdate
 *   C_DecryptVerifyUpdate
 *   C_GenerateKey C_GenerateKeyPair C_WrapKey C_UnwrapKey C_DeriveKey
 *   C_SeedRandom C_GenerateRandom
 * Each starts with arca_p11_session_get and ends with arca_p11_session_put;
 * ops in progress live in session->op[]; a session's close resets them. */

/* ==== p11crypto additions (p11crypto; p11core: nothing to do, these are
 * implemented in p11_mech.c and used by p11_crypto.c / p11_keys.c and
 * tests/unit/test_pkcs11_mech.c) ========================================= */

/* One row of the mechanism table. min/max_key are in C_GetMechanismInfo's
 * units (bits for RSA / EC / EdDSA, bytes for AES and generic secrets);
 * flags are the CKF_* of CK_MECHANISM_INFO; key_types the CKK_* a key
 * used with it may have (CK_UNAVAILABLE_INFORMATION = unused slot). */
typedef struct arca_p11_mech_desc {
    CK_MECHANISM_TYPE type;
    CK_ULONG min_key, max_key;
    CK_FLAGS flags;
    CK_KEY_TYPE key_types[2];
    unsigned param;  /* parameter kind (p11_mech.c) */
    CK_MECHANISM_TYPE hash; /* implied digest (CKM_SHA*), 0 if none */
} arca_p11_mech_desc;

/* The row of a mechanism, NULL when the module does not offer it. */
const arca_p11_mech_desc *arca_p11_mech_find(CK_MECHANISM_TYPE type);
size_t arca_p11_mech_count(void);
const arca_p11_mech_desc *arca_p11_mech_at(size_t i);
/* True when a key of type kt fits the mechanism. */
bool arca_p11_mech_key_ok(const arca_p11_mech_desc *d, CK_KEY_TYPE kt);

/* Parse m for one use (a single CKF_ENCRYPT, DECRYPT, SIGN, VERIFY, WRAP,
 * UNWRAP, DERIVE, DIGEST, GENERATE or GENERATE_KEY_PAIR) into *out_lp.
 * Every byte field of *out_lp points into *out_param, a malloc'd copy of
 * the parameter bytes owned by the caller (wipe + free; NULL when there
 * are none). CKR_ARGUMENTS_BAD (m NULL), CKR_MECHANISM_INVALID (not in the
 * table, or not for that use), CKR_MECHANISM_PARAM_INVALID (wrong
 * ulParameterLen, NULL pointer with a length, a value the appliance does
 * not support), CKR_HOST_MEMORY. Nothing is allocated on failure. */
CK_RV arca_p11_mech_parse(const CK_MECHANISM *m, CK_FLAGS use, arca_lp_mechanism *out_lp, uint8_t **out_param,
                          size_t *out_param_len);
/* p11core, please: tests/integration/pkcs11_tool_crypto.sh (p11crypto) defines
 * pkcs11_tool_crypto_section (AES-CBC-PAD round trip, ECDH1-DERIVE through
 * pkcs11-tool); source it in test_pkcs11_tool.sh and call it after
 * fresh_appliance with $MOD set. CKA_TOKEN defaults to false in
 * C_GenerateKey(Pair) / C_UnwrapKey / C_DeriveKey (the standard's default). */
/* ==== end of p11crypto additions ======================================== */

/* ---- p11core's own state (p11_module.c; p11crypto need not use) -------- */

#define ARCA_P11_NOBODY ((CK_USER_TYPE)-1) /* no login on a slot */

/* A slot = a partition the identity may use = a token. Login state is per
 * application per token (PKCS#11): every session of the slot shares it. */
typedef struct arca_p11_slot {
    char name[ARCA_LP_NAME_MAX + 1]; /* partition = token label */
    CK_USER_TYPE login;              /* CKU_USER, CKU_SO or ARCA_P11_NOBODY */
    arca_secret pin;                 /* the PIN of that login (re-login of new sessions) */
    bool user_pin_locked, so_pin_locked;   /* an answer said PIN_LOCKED */
    bool user_pin_low, so_pin_low;         /* last attempt was PIN_INCORRECT */
    bool user_pin_cleared; /* C_InitToken cleared it (or a login said so): no CKF_USER_PIN_INITIALIZED */
} arca_p11_slot;

typedef struct arca_p11_module {
    bool initialised;
    pid_t pid;                /* process that called C_Initialize */
    bool caller_mutexes;      /* use args' mutex callbacks */
    CK_C_INITIALIZE_ARGS args;
    void *mutex;              /* tables */
    void *login_mutex;        /* C_Login / C_Logout / C_OpenSession login sequences */
    arca_client_config cfg;
    bool cfg_ok;              /* cfg loaded; else cfg_msg says why */
    char cfg_msg[ARCA_CLIENT_MSG_LEN];
    arca_p11_slot slots[ARCA_P11_MAX_SLOTS];
    size_t num_slots;
    bool slots_known;
    arca_p11_session *sessions[ARCA_P11_MAX_SESSIONS];
    CK_SESSION_HANDLE next_session;
    arca_client_id *ids;      /* handle h -> ids[h - 1] */
    CK_SESSION_HANDLE *owners; /* handle h -> owners[h - 1]: session of a session object, or 0 */
    size_t num_ids, cap_ids;
    CK_OBJECT_HANDLE *hash;   /* id -> handle, open addressing, 0 = empty */
    size_t hash_cap;
} arca_p11_module;

/* The module's state; every access to its tables is under arca_p11_lock. */
extern arca_p11_module arca_p11_g;

/* Discover the slots if not yet known (p11_slot.c): WHOAMI's partitions,
 * "*" or an unavailable WHOAMI -> PARTITION_LIST, sorted. Called without
 * the module mutex. CKR_OK even when the appliance is unreachable (then
 * no slots, and the next call tries again). */
CK_RV arca_p11_slots_refresh(void);
/* Valid slot id? (under the module mutex) */
bool arca_p11_slot_valid(CK_SLOT_ID id);
/* Drop the slot's login state and wipe the PIN (under the module mutex). */
void arca_p11_slot_logout(arca_p11_slot *slot);
/* Open a connection per the configuration. CKR_DEVICE_ERROR (or the
 * mapped status) when it cannot; CKR_GENERAL_ERROR when the configuration
 * did not load. */
CK_RV arca_p11_connect(arca_client **out);
/* Close every session of the slot (C_CloseAllSessions, C_Finalize). */
void arca_p11_close_slot_sessions(CK_SLOT_ID slot);
/* Free the object handle table (C_Finalize). */
void arca_p11_handles_free(void);
/* Free a session that nobody holds any more (p11_session.c). */
void arca_p11_session_free(arca_p11_session *s);
/* In a forked child: free a session inherited from the parent without a
 * byte on its connection (arca_client_abandon) and without touching its
 * mutex, which a thread of the parent may have held (p11_session.c). */
void arca_p11_session_abandon(arca_p11_session *s);

/* Copy a PIN from the API into a NUL-terminated secret (p11_session.c).
 * CKR_ARGUMENTS_BAD for pin NULL; bad_len_rv when len is outside
 * ARCA_P11_PIN_MIN..ARCA_P11_PIN_MAX; CKR_PIN_INVALID for a NUL inside;
 * CKR_HOST_MEMORY. The caller frees *out with arca_secret_free. */
CK_RV arca_p11_pin_copy(const CK_UTF8CHAR *pin, CK_ULONG len, CK_RV bad_len_rv, arca_secret *out);
/* Number of open sessions of a slot, and of its RW ones (module mutex). */
void arca_p11_slot_counts(CK_SLOT_ID slot, CK_ULONG *out_all, CK_ULONG *out_rw);

#endif
