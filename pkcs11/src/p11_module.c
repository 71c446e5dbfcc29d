/* The module: function list and interfaces, C_Initialize / C_Finalize /
 * C_GetInfo, fork detection, locking, the session and object-handle
 * tables (docs/pkcs11.md "Threads and processes"). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arca/log.h"
#include "p11_internal.h"

arca_p11_module arca_p11_g;

/* Serialises C_Initialize / C_Finalize against each other. */
static pthread_mutex_t g_init_guard = PTHREAD_MUTEX_INITIALIZER;

/* ---- Locking ------------------------------------------------------------ */

CK_RV arca_p11_mutex_new(void **out)
{
    if (arca_p11_g.caller_mutexes) {
        CK_VOID_PTR m = NULL;
        CK_RV rv = arca_p11_g.args.CreateMutex(&m);
        if (rv != CKR_OK) return rv;
        *out = m;
        return CKR_OK;
    }
    pthread_mutex_t *m = malloc(sizeof(*m));
    if (m == NULL) return CKR_HOST_MEMORY;
    if (pthread_mutex_init(m, NULL) != 0) {
        free(m);
        return CKR_GENERAL_ERROR;
    }
    *out = m;
    return CKR_OK;
}

void arca_p11_mutex_free(void *m)
{
    if (m == NULL) return;
    if (arca_p11_g.caller_mutexes) {
        (void)arca_p11_g.args.DestroyMutex(m);
        return;
    }
    pthread_mutex_destroy(m);
    free(m);
}

void arca_p11_mutex_lock(void *m)
{
    if (m == NULL) return;
    if (arca_p11_g.caller_mutexes) {
        (void)arca_p11_g.args.LockMutex(m);
        return;
    }
    pthread_mutex_lock(m);
}

void arca_p11_mutex_unlock(void *m)
{
    if (m == NULL) return;
    if (arca_p11_g.caller_mutexes) {
        (void)arca_p11_g.args.UnlockMutex(m);
        return;
    }
    pthread_mutex_unlock(m);
}

void arca_p11_lock(void)
{
    arca_p11_mutex_lock(arca_p11_g.mutex);
}

void arca_p11_unlock(void)
{
    arca_p11_mutex_unlock(arca_p11_g.mutex);
}

CK_RV arca_p11_check_init(void)
{
    if (!arca_p11_g.initialised || arca_p11_g.pid != getpid()) return CKR_CRYPTOKI_NOT_INITIALIZED;
    return CKR_OK;
}

const arca_client_config *arca_p11_config(void)
{
    return &arca_p11_g.cfg;
}

CK_RV arca_p11_connect(arca_client **out)
{
    char msg[ARCA_CLIENT_MSG_LEN];
    if (!arca_p11_g.cfg_ok) return CKR_GENERAL_ERROR;
    arca_status st = arca_client_open(&arca_p11_g.cfg, out, msg, sizeof(msg));
    if (st != ARCA_OK) {
        CK_RV rv = arca_p11_rv_from_status(st);
        return rv == CKR_OK ? CKR_GENERAL_ERROR : rv == CKR_HOST_MEMORY ? rv : CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

/* ---- Object handle table ------------------------------------------------ */

static size_t id_hash(const arca_client_id *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < sizeof(id->b); i++) {
        h ^= id->b[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static CK_RV hash_grow(void)
{
    size_t cap = arca_p11_g.hash_cap == 0 ? 1024 : arca_p11_g.hash_cap * 2;
    CK_OBJECT_HANDLE *h = calloc(cap, sizeof(*h));
    if (h == NULL) return CKR_HOST_MEMORY;
    for (size_t i = 0; i < arca_p11_g.num_ids; i++) {
        size_t at = id_hash(&arca_p11_g.ids[i]) & (cap - 1);
        while (h[at] != 0) at = (at + 1) & (cap - 1);
        h[at] = (CK_OBJECT_HANDLE)(i + 1);
    }
    free(arca_p11_g.hash);
    arca_p11_g.hash = h;
    arca_p11_g.hash_cap = cap;
    return CKR_OK;
}

/* The handle of id (module mutex held), made when new with owner. */
static CK_RV handle_locked(const arca_client_id *id, CK_SESSION_HANDLE owner, CK_OBJECT_HANDLE *out)
{
    if (arca_p11_g.hash_cap == 0 || (arca_p11_g.num_ids + 1) * 2 > arca_p11_g.hash_cap) {
        CK_RV rv = hash_grow();
        if (rv != CKR_OK) return rv;
    }
    size_t mask = arca_p11_g.hash_cap - 1;
    size_t at = id_hash(id) & mask;
    while (arca_p11_g.hash[at] != 0) {
        CK_OBJECT_HANDLE h = arca_p11_g.hash[at];
        if (memcmp(arca_p11_g.ids[h - 1].b, id->b, sizeof(id->b)) == 0) {
            if (owner != 0) arca_p11_g.owners[h - 1] = owner;
            *out = h;
            return CKR_OK;
        }
        at = (at + 1) & mask;
    }
    if (arca_p11_g.num_ids == arca_p11_g.cap_ids) {
        size_t cap = arca_p11_g.cap_ids == 0 ? 256 : arca_p11_g.cap_ids * 2;
        arca_client_id *ids = realloc(arca_p11_g.ids, cap * sizeof(*ids));
        if (ids == NULL) return CKR_HOST_MEMORY;
        arca_p11_g.ids = ids;
        CK_SESSION_HANDLE *owners = realloc(arca_p11_g.owners, cap * sizeof(*owners));
        if (owners == NULL) return CKR_HOST_MEMORY;
        arca_p11_g.owners = owners;
        arca_p11_g.cap_ids = cap;
    }
    arca_p11_g.ids[arca_p11_g.num_ids] = *id;
    arca_p11_g.owners[arca_p11_g.num_ids] = owner;
    arca_p11_g.num_ids++;
    arca_p11_g.hash[at] = (CK_OBJECT_HANDLE)arca_p11_g.num_ids;
    *out = (CK_OBJECT_HANDLE)arca_p11_g.num_ids;
    return CKR_OK;
}

/* The handle of id, 0 when it has none (module mutex held). */
static CK_OBJECT_HANDLE lookup_locked(const arca_client_id *id)
{
    if (arca_p11_g.hash_cap == 0) return 0;
    size_t mask = arca_p11_g.hash_cap - 1;
    for (size_t at = id_hash(id) & mask; arca_p11_g.hash[at] != 0; at = (at + 1) & mask) {
        CK_OBJECT_HANDLE h = arca_p11_g.hash[at];
        if (memcmp(arca_p11_g.ids[h - 1].b, id->b, sizeof(id->b)) == 0) return h;
    }
    return 0;
}

/* The open session with that handle, or NULL (module mutex held). */
static arca_p11_session *session_locked(CK_SESSION_HANDLE h)
{
    for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
        arca_p11_session *s = arca_p11_g.sessions[i];
        if (s != NULL && s->handle == h && !s->closed) return s;
    }
    return NULL;
}

CK_RV arca_p11_handle_from_id(const arca_client_id *id, CK_OBJECT_HANDLE *out)
{
    arca_p11_lock();
    CK_RV rv = handle_locked(id, 0, out);
    arca_p11_unlock();
    return rv;
}

CK_RV arca_p11_handle_new(CK_SESSION_HANDLE owner, bool token, const arca_client_id *id, CK_OBJECT_HANDLE *out)
{
    arca_p11_lock();
    CK_RV rv = handle_locked(id, token ? 0 : owner, out);
    if (rv == CKR_OK && !token) {
        arca_p11_session *s = session_locked(owner);
        if (s != NULL) s->owns_objects = true;
    }
    arca_p11_unlock();
    return rv;
}

CK_SESSION_HANDLE arca_p11_handle_owner(const arca_client_id *id)
{
    arca_p11_lock();
    CK_OBJECT_HANDLE h = lookup_locked(id);
    CK_SESSION_HANDLE owner = h == 0 ? 0 : arca_p11_g.owners[h - 1];
    arca_p11_unlock();
    return owner;
}

CK_RV arca_p11_handle_to_id(CK_OBJECT_HANDLE h, CK_RV invalid_rv, arca_client_id *out)
{
    CK_RV rv = invalid_rv;
    arca_p11_lock();
    if (h != CK_INVALID_HANDLE && h <= arca_p11_g.num_ids) {
        CK_SESSION_HANDLE owner = arca_p11_g.owners[h - 1];
        if (owner == 0 || session_locked(owner) != NULL) {
            *out = arca_p11_g.ids[h - 1];
            rv = CKR_OK;
        }
    }
    arca_p11_unlock();
    return rv;
}

CK_RV arca_p11_client_for(arca_p11_session *s, const arca_client_id *id, CK_RV invalid_rv, arca_client **out,
                          CK_SESSION_HANDLE *out_owner)
{
    CK_RV rv = CKR_OK;
    arca_p11_lock();
    CK_OBJECT_HANDLE h = lookup_locked(id);
    CK_SESSION_HANDLE owner = h == 0 ? 0 : arca_p11_g.owners[h - 1];
    if (owner == 0 || owner == s->handle) {
        *out = s->client;
        if (out_owner != NULL) *out_owner = s->handle;
        goto out;
    }
    arca_p11_session *o = session_locked(owner);
    if (o == NULL) {
        rv = invalid_rv;
        goto out;
    }
    bool held = false;
    for (size_t i = 0; i < s->num_borrowed; i++) held = held || s->borrowed[i] == o;
    if (!held) {
        if (s->num_borrowed == ARCA_P11_MAX_BORROWED) {
            rv = CKR_GENERAL_ERROR;
            goto out;
        }
        o->refs++;
        s->borrowed[s->num_borrowed++] = o;
    }
    *out = o->client;
    if (out_owner != NULL) *out_owner = owner;
out:
    arca_p11_unlock();
    return rv;
}

size_t arca_p11_session_owners(const arca_p11_session *s, arca_p11_session **out, size_t max)
{
    size_t n = 0;
    arca_p11_lock();
    for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS && n < max; i++) {
        arca_p11_session *o = arca_p11_g.sessions[i];
        if (o == NULL || o == s || o->closed || !o->owns_objects || o->slot != s->slot) continue;
        o->refs++;
        out[n++] = o;
    }
    arca_p11_unlock();
    return n;
}

void arca_p11_sessions_release(arca_p11_session **list, size_t num)
{
    for (size_t i = 0; i < num; i++) {
        arca_p11_session *o = list[i];
        arca_p11_lock();
        o->refs--;
        bool free_now = o->closed && o->refs == 0;
        arca_p11_unlock();
        if (free_now) arca_p11_session_free(o);
    }
}

void arca_p11_handles_free(void)
{
    free(arca_p11_g.ids);
    free(arca_p11_g.owners);
    free(arca_p11_g.hash);
    arca_p11_g.ids = NULL;
    arca_p11_g.owners = NULL;
    arca_p11_g.hash = NULL;
    arca_p11_g.num_ids = arca_p11_g.cap_ids = arca_p11_g.hash_cap = 0;
}

/* ---- C_Initialize / C_Finalize / C_GetInfo ------------------------------ */

static CK_RV check_init_args(const CK_C_INITIALIZE_ARGS *a, bool *out_caller_mutexes)
{
    *out_caller_mutexes = false;
    if (a == NULL) return CKR_OK;
    if (a->pReserved != NULL) return CKR_ARGUMENTS_BAD;
    int given = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
                (a->UnlockMutex != NULL);
    /* All four callbacks or none (PKCS#11 2.40, 5.4 C_Initialize). */
    if (given != 0 && given != 4) return CKR_ARGUMENTS_BAD;
    /* Callbacks without CKF_OS_LOCKING_OK: the application's mutexes are
     * the ones to use. With the flag, the OS primitives are as good. A
     * module that can do both never answers CKR_CANT_LOCK. */
    *out_caller_mutexes = given == 4 && (a->flags & CKF_OS_LOCKING_OK) == 0;
    return CKR_OK;
}

/* A child of fork() inherited the parent's state: free it, closing the
 * inherited connections' sockets without a byte on them (a TLS
 * close_notify would end the parent's sessions: arca_client_abandon).
 * Mutexes may be held by a thread that does not exist here: never locked
 * or destroyed; OS ones are freed, the application's left alone. */
static void abandon_inherited(void)
{
    for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
        arca_p11_session *s = arca_p11_g.sessions[i];
        if (s == NULL) continue;
        arca_p11_g.sessions[i] = NULL;
        arca_p11_session_abandon(s);
    }
    for (size_t i = 0; i < arca_p11_g.num_slots; i++) arca_secret_free(&arca_p11_g.slots[i].pin);
    arca_p11_handles_free();
    if (!arca_p11_g.caller_mutexes) {
        free(arca_p11_g.mutex);
        free(arca_p11_g.login_mutex);
    }
    arca_wipe(&arca_p11_g, sizeof(arca_p11_g));
}

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    const CK_C_INITIALIZE_ARGS *a = pInitArgs;
    bool caller_mutexes = false;
    CK_RV rv = check_init_args(a, &caller_mutexes);
    if (rv != CKR_OK) return rv;
    pthread_mutex_lock(&g_init_guard);
    if (arca_p11_g.initialised) {
        if (arca_p11_g.pid == getpid()) {
            rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
            goto out;
        }
        abandon_inherited();
    }
    memset(&arca_p11_g, 0, sizeof(arca_p11_g));
    /* The application's stderr is not ours: warnings and errors only
     * (ARCA_PKCS11_DEBUG=1 for everything). */
    arca_log_set_component("arca-pkcs11");
    arca_log_set_level(getenv("ARCA_PKCS11_DEBUG") != NULL ? ARCA_LOG_DEBUG : ARCA_LOG_WARN);
    arca_p11_g.caller_mutexes = caller_mutexes;
    if (a != NULL) arca_p11_g.args = *a;
    rv = arca_p11_mutex_new(&arca_p11_g.mutex);
    if (rv != CKR_OK) goto out;
    rv = arca_p11_mutex_new(&arca_p11_g.login_mutex);
    if (rv != CKR_OK) {
        arca_p11_mutex_free(arca_p11_g.mutex);
        goto out;
    }
    for (size_t i = 0; i < ARCA_P11_MAX_SLOTS; i++) arca_p11_g.slots[i].login = ARCA_P11_NOBODY;
    /* A missing or bad configuration does not fail C_Initialize (an
     * application may only want C_GetInfo); it leaves no slots. */
    const char *path = getenv("ARCA_PKCS11_CONF");
    if (path == NULL || path[0] == '\0') path = ARCA_P11_DEFAULT_CONF;
    arca_p11_g.cfg_ok =
        arca_client_config_load(path, &arca_p11_g.cfg, arca_p11_g.cfg_msg, sizeof(arca_p11_g.cfg_msg)) == ARCA_OK;
    if (!arca_p11_g.cfg_ok) arca_log(ARCA_LOG_WARN, "no slots: %s", arca_p11_g.cfg_msg);
    arca_p11_g.next_session = 1;
    arca_p11_g.pid = getpid();
    arca_p11_g.initialised = true;
out:
    pthread_mutex_unlock(&g_init_guard);
    return rv;
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    if (pReserved != NULL) return CKR_ARGUMENTS_BAD;
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    pthread_mutex_lock(&g_init_guard);
    if (arca_p11_check_init() != CKR_OK) {
        pthread_mutex_unlock(&g_init_guard);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    for (CK_SLOT_ID i = 0; i < ARCA_P11_MAX_SLOTS; i++) arca_p11_close_slot_sessions(i);
    arca_p11_lock();
    /* Sessions still held by another thread are freed by their last put;
     * PKCS#11 leaves calls racing C_Finalize undefined. */
    for (size_t i = 0; i < arca_p11_g.num_slots; i++) arca_p11_slot_logout(&arca_p11_g.slots[i]);
    arca_p11_handles_free();
    arca_p11_g.initialised = false;
    arca_p11_unlock();
    arca_p11_mutex_free(arca_p11_g.login_mutex);
    arca_p11_mutex_free(arca_p11_g.mutex);
    arca_wipe(&arca_p11_g, sizeof(arca_p11_g));
    pthread_mutex_unlock(&g_init_guard);
    return CKR_OK;
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->cryptokiVersion.major = 2;
    pInfo->cryptokiVersion.minor = 40;
    arca_p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), ARCA_P11_MANUFACTURER);
    pInfo->flags = 0;
    arca_p11_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription), ARCA_P11_LIBRARY_DESCRIPTION);
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
    return CKR_OK;
}

/* ---- Parallel functions (legacy) ------------------------------------------ */

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    arca_p11_session_put(s);
    return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    arca_p11_session_put(s);
    return CKR_FUNCTION_NOT_PARALLEL;
}

/* ---- Function list and interfaces --------------------------------------- */

static CK_FUNCTION_LIST g_functions = {
    .version = {2, 40},
    .C_Initialize = C_Initialize,
    .C_Finalize = C_Finalize,
    .C_GetInfo = C_GetInfo,
    .C_GetFunctionList = C_GetFunctionList,
    .C_GetSlotList = C_GetSlotList,
    .C_GetSlotInfo = C_GetSlotInfo,
    .C_GetTokenInfo = C_GetTokenInfo,
    .C_GetMechanismList = C_GetMechanismList,
    .C_GetMechanismInfo = C_GetMechanismInfo,
    .C_InitToken = C_InitToken,
    .C_InitPIN = C_InitPIN,
    .C_SetPIN = C_SetPIN,
    .C_OpenSession = C_OpenSession,
    .C_CloseSession = C_CloseSession,
    .C_CloseAllSessions = C_CloseAllSessions,
    .C_GetSessionInfo = C_GetSessionInfo,
    .C_GetOperationState = C_GetOperationState,
    .C_SetOperationState = C_SetOperationState,
    .C_Login = C_Login,
    .C_Logout = C_Logout,
    .C_CreateObject = C_CreateObject,
    .C_CopyObject = C_CopyObject,
    .C_DestroyObject = C_DestroyObject,
    .C_GetObjectSize = C_GetObjectSize,
    .C_GetAttributeValue = C_GetAttributeValue,
    .C_SetAttributeValue = C_SetAttributeValue,
    .C_FindObjectsInit = C_FindObjectsInit,
    .C_FindObjects = C_FindObjects,
    .C_FindObjectsFinal = C_FindObjectsFinal,
    .C_EncryptInit = C_EncryptInit,
    .C_Encrypt = C_Encrypt,
    .C_EncryptUpdate = C_EncryptUpdate,
    .C_EncryptFinal = C_EncryptFinal,
    .C_DecryptInit = C_DecryptInit,
    .C_Decrypt = C_Decrypt,
    .C_DecryptUpdate = C_DecryptUpdate,
    .C_DecryptFinal = C_DecryptFinal,
    .C_DigestInit = C_DigestInit,
    .C_Digest = C_Digest,
    .C_DigestUpdate = C_DigestUpdate,
    .C_DigestKey = C_DigestKey,
    .C_DigestFinal = C_DigestFinal,
    .C_SignInit = C_SignInit,
    .C_Sign = C_Sign,
    .C_SignUpdate = C_SignUpdate,
    .C_SignFinal = C_SignFinal,
    .C_SignRecoverInit = C_SignRecoverInit,
    .C_SignRecover = C_SignRecover,
    .C_VerifyInit = C_VerifyInit,
    .C_Verify = C_Verify,
    .C_VerifyUpdate = C_VerifyUpdate,
    .C_VerifyFinal = C_VerifyFinal,
    .C_VerifyRecoverInit = C_VerifyRecoverInit,
    .C_VerifyRecover = C_VerifyRecover,
    .C_DigestEncryptUpdate = C_DigestEncryptUpdate,
    .C_DecryptDigestUpdate = C_DecryptDigestUpdate,
    .C_SignEncryptUpdate = C_SignEncryptUpdate,
    .C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
    .C_GenerateKey = C_GenerateKey,
    .C_GenerateKeyPair = C_GenerateKeyPair,
    .C_WrapKey = C_WrapKey,
    .C_UnwrapKey = C_UnwrapKey,
    .C_DeriveKey = C_DeriveKey,
    .C_SeedRandom = C_SeedRandom,
    .C_GenerateRandom = C_GenerateRandom,
    .C_GetFunctionStatus = C_GetFunctionStatus,
    .C_CancelFunction = C_CancelFunction,
    .C_WaitForSlotEvent = C_WaitForSlotEvent,
};

/* One interface: "PKCS 11" with the 2.40 function list (version 2.40).
 * Every 2.40 entry is present; the 3.0 additions (message functions,
 * C_LoginUser, C_SessionCancel) are not offered yet. Fork-safe in the
 * sense of CKF_INTERFACE_FORK_SAFE (a child gets CKR_CRYPTOKI_NOT_INITIALIZED
 * until it calls C_Initialize, and then works). */
static CK_UTF8CHAR g_interface_name[] = "PKCS 11";
static CK_INTERFACE g_interfaces[] = {
    {g_interface_name, &g_functions, CKF_INTERFACE_FORK_SAFE},
};
#define NUM_INTERFACES (sizeof(g_interfaces) / sizeof(g_interfaces[0]))

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (ppFunctionList == NULL) return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &g_functions;
    return CKR_OK;
}

__attribute__((visibility("default"))) CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList,
                                                                CK_ULONG_PTR pulCount)
{
    if (pulCount == NULL) return CKR_ARGUMENTS_BAD;
    if (pInterfacesList == NULL) {
        *pulCount = NUM_INTERFACES;
        return CKR_OK;
    }
    if (*pulCount < NUM_INTERFACES) {
        *pulCount = NUM_INTERFACES;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (size_t i = 0; i < NUM_INTERFACES; i++) pInterfacesList[i] = g_interfaces[i];
    *pulCount = NUM_INTERFACES;
    return CKR_OK;
}

__attribute__((visibility("default"))) CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                                            CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    if (ppInterface == NULL) return CKR_ARGUMENTS_BAD;
    for (size_t i = 0; i < NUM_INTERFACES; i++) {
        const CK_INTERFACE *it = &g_interfaces[i];
        const CK_FUNCTION_LIST *fl = it->pFunctionList;
        if (pInterfaceName != NULL && strcmp((const char *)pInterfaceName, (const char *)it->pInterfaceName) != 0) {
            continue;
        }
        if (pVersion != NULL &&
            (pVersion->major != fl->version.major || pVersion->minor != fl->version.minor)) {
            continue;
        }
        if ((it->flags & flags) != flags) continue;
        *ppInterface = &g_interfaces[i];
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}
