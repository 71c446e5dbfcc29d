/* Sessions: one arca_client (one TLS connection, one enclave session) per
 * PKCS#11 session; login state per application per token, applied to
 * every session of the token; a session's session objects live on its
 * connection and are reached from the others through it (p11_module.c,
 * arca_p11_client_for; docs/pkcs11.md "Sessions"). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "arca/log.h"
#include "p11_internal.h"

/* ---- Operations, PINs ---------------------------------------------------- */

void arca_p11_op_reset(arca_p11_op *op)
{
    if (op == NULL) return;
    if (op->param != NULL) {
        arca_wipe(op->param, op->param_len);
        free(op->param);
    }
    if (op->data != NULL) {
        arca_wipe(op->data, op->data_cap);
        free(op->data);
    }
    if (op->md != NULL) EVP_MD_CTX_free(op->md);
    if (op->ext != NULL && op->ext_free != NULL) op->ext_free(op->ext);
    memset(op, 0, sizeof(*op));
}

CK_RV arca_p11_pin_copy(const CK_UTF8CHAR *pin, CK_ULONG len, CK_RV bad_len_rv, arca_secret *out)
{
    if (pin == NULL) return CKR_ARGUMENTS_BAD;
    if (len < ARCA_P11_PIN_MIN || len > ARCA_P11_PIN_MAX) return bad_len_rv;
    if (memchr(pin, 0, len) != NULL) return CKR_PIN_INVALID;
    if (arca_secret_alloc(out, len + 1) != ARCA_OK) return CKR_HOST_MEMORY;
    memcpy(out->data, pin, len);
    out->data[len] = 0;
    return CKR_OK;
}

/* ---- The session table ---------------------------------------------------- */

static void find_reset(arca_p11_find *f)
{
    free(f->ids);
    memset(f, 0, sizeof(*f));
}

void arca_p11_session_free(arca_p11_session *s)
{
    if (s == NULL) return;
    arca_client_close(s->client);
    for (size_t i = 0; i < ARCA_P11_OP_COUNT; i++) arca_p11_op_reset(&s->op[i]);
    find_reset(&s->find);
    arca_p11_mutex_free(s->mutex);
    free(s);
}

void arca_p11_session_abandon(arca_p11_session *s)
{
    if (s == NULL) return;
    arca_client_abandon(s->client);
    for (size_t i = 0; i < ARCA_P11_OP_COUNT; i++) arca_p11_op_reset(&s->op[i]);
    find_reset(&s->find);
    if (!arca_p11_g.caller_mutexes) free(s->mutex); /* maybe held at fork(): not destroyed */
    free(s);
}

CK_RV arca_p11_session_get(CK_SESSION_HANDLE h, arca_p11_session **out)
{
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    arca_p11_session *s = NULL;
    arca_p11_lock();
    if (h != CK_INVALID_HANDLE) {
        for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
            if (arca_p11_g.sessions[i] != NULL && arca_p11_g.sessions[i]->handle == h) {
                s = arca_p11_g.sessions[i];
                s->refs++;
                break;
            }
        }
    }
    arca_p11_unlock();
    if (s == NULL) return CKR_SESSION_HANDLE_INVALID;
    arca_p11_mutex_lock(s->mutex);
    if (s->closed) {
        arca_p11_session_put(s);
        return CKR_SESSION_HANDLE_INVALID;
    }
    *out = s;
    return CKR_OK;
}

void arca_p11_session_put(arca_p11_session *s)
{
    if (s == NULL) return;
    arca_p11_session *borrowed[ARCA_P11_MAX_BORROWED];
    size_t num_borrowed = s->num_borrowed;
    memcpy(borrowed, s->borrowed, num_borrowed * sizeof(borrowed[0]));
    s->num_borrowed = 0;
    arca_p11_mutex_unlock(s->mutex);
    arca_p11_sessions_release(borrowed, num_borrowed);
    arca_p11_lock();
    s->refs--;
    bool free_now = s->closed && s->refs == 0;
    arca_p11_unlock();
    if (free_now) arca_p11_session_free(s);
}

/* Take s out of the table (module mutex held). The last session of a
 * token ends the application's login on it (PKCS#11 C_CloseSession). */
static void unlink_locked(arca_p11_session *s)
{
    bool others = false;
    for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
        arca_p11_session *o = arca_p11_g.sessions[i];
        if (o == s) {
            arca_p11_g.sessions[i] = NULL;
        } else if (o != NULL && o->slot == s->slot) {
            others = true;
        }
    }
    s->closed = true;
    if (!others && s->slot < arca_p11_g.num_slots) arca_p11_slot_logout(&arca_p11_g.slots[s->slot]);
}

CK_RV arca_p11_session_rv(arca_p11_session *s, arca_status st, CK_RV not_found_rv)
{
    if (st == ARCA_OK) return CKR_OK;
    if (st == ARCA_ERR_NOT_FOUND) return not_found_rv;
    if (st == ARCA_ERR_IO || st == ARCA_ERR_CHANNEL || st == ARCA_ERR_TIMEOUT) {
        /* The connection (and with it the enclave session, its login and
         * its session objects) is gone: so is this PKCS#11 session. */
        arca_p11_lock();
        if (!s->closed) unlink_locked(s);
        arca_p11_unlock();
        return CKR_DEVICE_ERROR;
    }
    return arca_p11_rv_from_status(st);
}

CK_STATE arca_p11_session_state(const arca_p11_session *s)
{
    arca_p11_lock();
    CK_USER_TYPE who = s->slot < arca_p11_g.num_slots ? arca_p11_g.slots[s->slot].login : ARCA_P11_NOBODY;
    arca_p11_unlock();
    bool rw = (s->flags & CKF_RW_SESSION) != 0;
    if (who == CKU_SO) return CKS_RW_SO_FUNCTIONS;
    if (who == CKU_USER) return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
    return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
}

bool arca_p11_session_logged_in(const arca_p11_session *s)
{
    CK_STATE st = arca_p11_session_state(s);
    return st == CKS_RW_SO_FUNCTIONS || st == CKS_RW_USER_FUNCTIONS || st == CKS_RO_USER_FUNCTIONS;
}

bool arca_p11_session_user(const arca_p11_session *s)
{
    CK_STATE st = arca_p11_session_state(s);
    return st == CKS_RW_USER_FUNCTIONS || st == CKS_RO_USER_FUNCTIONS;
}

bool arca_p11_session_rw(const arca_p11_session *s)
{
    return (s->flags & CKF_RW_SESSION) != 0;
}

void arca_p11_slot_counts(CK_SLOT_ID slot, CK_ULONG *out_all, CK_ULONG *out_rw)
{
    CK_ULONG all = 0, rw = 0;
    arca_p11_lock();
    for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
        const arca_p11_session *s = arca_p11_g.sessions[i];
        if (s == NULL || s->slot != slot) continue;
        all++;
        if ((s->flags & CKF_RW_SESSION) != 0) rw++;
    }
    arca_p11_unlock();
    *out_all = all;
    *out_rw = rw;
}

/* Handles of the slot's open sessions (module mutex taken here). */
static size_t slot_handles(CK_SLOT_ID slot, CK_SESSION_HANDLE *out)
{
    size_t n = 0;
    arca_p11_lock();
    for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
        const arca_p11_session *s = arca_p11_g.sessions[i];
        if (s != NULL && (slot == (CK_SLOT_ID)-1 || s->slot == slot)) out[n++] = s->handle;
    }
    arca_p11_unlock();
    return n;
}

static CK_RV close_handle(CK_SESSION_HANDLE h)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(h, &s);
    if (rv != CKR_OK) return rv;
    arca_p11_lock();
    if (!s->closed) unlink_locked(s);
    arca_p11_unlock();
    arca_p11_session_put(s); /* frees it unless another thread holds it */
    return CKR_OK;
}

void arca_p11_close_slot_sessions(CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE *handles = malloc(ARCA_P11_MAX_SESSIONS * sizeof(*handles));
    if (handles == NULL) return;
    size_t n = slot_handles(slot, handles);
    for (size_t i = 0; i < n; i++) (void)close_handle(handles[i]);
    free(handles);
}

/* ---- Entry points ------------------------------------------------------- */

static int role_of(CK_USER_TYPE who)
{
    return who == CKU_SO ? ARCA_CLIENT_ROLE_SO : ARCA_CLIENT_ROLE_USER;
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession)
{
    (void)pApplication;
    (void)Notify; /* no callbacks: nothing here is surrendered */
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    if (phSession == NULL) return CKR_ARGUMENTS_BAD;
    if ((flags & CKF_SERIAL_SESSION) == 0) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    rv = arca_p11_slots_refresh();
    if (rv != CKR_OK) return rv;
    bool rw = (flags & CKF_RW_SESSION) != 0;
    arca_p11_lock();
    bool valid = arca_p11_slot_valid(slotID);
    bool so = valid && arca_p11_g.slots[slotID].login == CKU_SO;
    arca_p11_unlock();
    if (!valid) return CKR_SLOT_ID_INVALID;
    if (so && !rw) return CKR_SESSION_READ_WRITE_SO_EXISTS;

    arca_p11_session *s = calloc(1, sizeof(*s));
    if (s == NULL) return CKR_HOST_MEMORY;
    s->slot = slotID;
    s->flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
    rv = arca_p11_mutex_new(&s->mutex);
    if (rv != CKR_OK) goto fail;
    rv = arca_p11_connect(&s->client);
    if (rv != CKR_OK) goto fail;

    /* Join the token's login state: under the login mutex so that a
     * concurrent C_Login / C_Logout sees this session or logs it in. */
    arca_p11_mutex_lock(arca_p11_g.login_mutex);
    arca_p11_lock();
    arca_p11_slot *sl = &arca_p11_g.slots[slotID];
    CK_USER_TYPE who = sl->login;
    arca_secret pin = {0};
    if (who != ARCA_P11_NOBODY && arca_secret_copy(&pin, sl->pin.data, sl->pin.len) != ARCA_OK) rv = CKR_HOST_MEMORY;
    char part[ARCA_LP_NAME_MAX + 1];
    memcpy(part, sl->name, sizeof(part));
    arca_p11_unlock();
    if (rv == CKR_OK && who == CKU_SO && !rw) rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
    if (rv == CKR_OK) {
        /* Public access to the token's partition: before a login (and
         * after C_Logout, the enclave keeps the selection) find and
         * C_GetAttributeValue see the objects with CKA_PRIVATE false.
         * A refusal other than a lost connection leaves the session
         * working without public objects. */
        arca_status st = arca_client_select_partition(s->client, part);
        if (st == ARCA_ERR_IO || st == ARCA_ERR_CHANNEL || st == ARCA_ERR_TIMEOUT) {
            rv = CKR_DEVICE_ERROR;
        } else if (st != ARCA_OK) {
            ARCA_DEBUG("arca-pkcs11: token %s: no public access: %s", part, arca_status_name(st));
        }
    }
    if (rv == CKR_OK && who != ARCA_P11_NOBODY) {
        arca_status st = arca_client_login(s->client, part, role_of(who), (const char *)pin.data);
        if (st != ARCA_OK) rv = arca_p11_rv_from_status(st) == CKR_DEVICE_ERROR ? CKR_DEVICE_ERROR : CKR_FUNCTION_FAILED;
    }
    arca_secret_free(&pin);
    if (rv == CKR_OK) {
        rv = CKR_SESSION_COUNT;
        arca_p11_lock();
        for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
            if (arca_p11_g.sessions[i] == NULL) {
                s->handle = arca_p11_g.next_session++;
                arca_p11_g.sessions[i] = s;
                rv = CKR_OK;
                break;
            }
        }
        arca_p11_unlock();
    }
    arca_p11_mutex_unlock(arca_p11_g.login_mutex);
    if (rv != CKR_OK) goto fail;
    *phSession = s->handle;
    return CKR_OK;
fail:
    arca_p11_session_free(s);
    return rv;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    return close_handle(hSession);
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    arca_p11_lock();
    bool valid = arca_p11_slot_valid(slotID);
    arca_p11_unlock();
    if (!valid) return CKR_SLOT_ID_INVALID;
    arca_p11_close_slot_sessions(slotID);
    return CKR_OK;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (pInfo == NULL) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        memset(pInfo, 0, sizeof(*pInfo));
        pInfo->slotID = s->slot;
        pInfo->state = arca_p11_session_state(s);
        pInfo->flags = s->flags;
        pInfo->ulDeviceError = 0;
    }
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG_PTR pulOperationStateLen)
{
    (void)pOperationState;
    (void)pulOperationStateLen;
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    arca_p11_session_put(s);
    /* Operation state lives partly in the appliance: not saveable. */
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG ulOperationStateLen,
                          CK_OBJECT_HANDLE hEncryptionKey, CK_OBJECT_HANDLE hAuthenticationKey)
{
    (void)pOperationState;
    (void)ulOperationStateLen;
    (void)hEncryptionKey;
    (void)hAuthenticationKey;
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    arca_p11_session_put(s);
    return CKR_FUNCTION_NOT_SUPPORTED;
}

/* Log one session's connection in (session taken by handle). Connection
 * losses close that session; other failures are returned. */
static CK_RV login_one(CK_SESSION_HANDLE h, const char *part, CK_USER_TYPE who, const char *pin)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(h, &s);
    if (rv != CKR_OK) return rv;
    arca_status st = arca_client_login(s->client, part, role_of(who), pin);
    rv = arca_p11_session_rv(s, st, CKR_GENERAL_ERROR);
    if (st == ARCA_ERR_PIN_INVALID) rv = CKR_PIN_INCORRECT;
    /* The user PIN was cleared by C_InitToken (maybe by another process). */
    if (st == ARCA_ERR_NOT_INITIALISED && who == CKU_USER) {
        rv = CKR_USER_PIN_NOT_INITIALIZED;
        arca_p11_lock();
        if (s->slot < arca_p11_g.num_slots) arca_p11_g.slots[s->slot].user_pin_cleared = true;
        arca_p11_unlock();
    }
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    CK_SLOT_ID slot = s->slot;
    arca_p11_session_put(s);
    if (userType == CKU_CONTEXT_SPECIFIC) return CKR_OPERATION_NOT_INITIALIZED; /* no CKA_ALWAYS_AUTHENTICATE keys */
    if (userType != CKU_USER && userType != CKU_SO) return CKR_USER_TYPE_INVALID;
    arca_secret pin = {0};
    rv = arca_p11_pin_copy(pPin, ulPinLen, CKR_PIN_INCORRECT, &pin);
    if (rv == CKR_PIN_INVALID) rv = CKR_PIN_INCORRECT;
    if (rv != CKR_OK) return rv;

    CK_SESSION_HANDLE *handles = NULL;
    arca_p11_mutex_lock(arca_p11_g.login_mutex);
    arca_p11_lock();
    arca_p11_slot *sl = &arca_p11_g.slots[slot];
    CK_USER_TYPE who = sl->login;
    char part[ARCA_LP_NAME_MAX + 1];
    memcpy(part, sl->name, sizeof(part));
    bool ro_exists = false;
    for (size_t i = 0; i < ARCA_P11_MAX_SESSIONS; i++) {
        const arca_p11_session *o = arca_p11_g.sessions[i];
        if (o != NULL && o->slot == slot && (o->flags & CKF_RW_SESSION) == 0) ro_exists = true;
    }
    arca_p11_unlock();
    if (who == userType) {
        rv = CKR_USER_ALREADY_LOGGED_IN;
        goto out;
    }
    if (who != ARCA_P11_NOBODY) {
        rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
        goto out;
    }
    if (userType == CKU_SO && ro_exists) {
        rv = CKR_SESSION_READ_ONLY_EXISTS;
        goto out;
    }
    /* This session first: it checks the PIN. */
    rv = login_one(hSession, part, userType, (const char *)pin.data);
    arca_p11_lock();
    bool *locked = userType == CKU_SO ? &sl->so_pin_locked : &sl->user_pin_locked;
    bool *low = userType == CKU_SO ? &sl->so_pin_low : &sl->user_pin_low;
    if (rv == CKR_OK || rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED) {
        *locked = rv == CKR_PIN_LOCKED;
        *low = rv == CKR_PIN_INCORRECT;
    }
    if (rv == CKR_OK) {
        sl->login = userType;
        arca_secret_free(&sl->pin);
        sl->pin = pin; /* moved: wiped at C_Logout / last close / C_Finalize */
        memset(&pin, 0, sizeof(pin));
    }
    arca_p11_unlock();
    if (rv != CKR_OK) goto out;
    /* Then every other session of the token. */
    handles = malloc(ARCA_P11_MAX_SESSIONS * sizeof(*handles));
    if (handles != NULL) {
        size_t n = slot_handles(slot, handles);
        arca_secret p2 = {0};
        arca_p11_lock();
        bool ok = arca_secret_copy(&p2, sl->pin.data, sl->pin.len) == ARCA_OK;
        arca_p11_unlock();
        for (size_t i = 0; ok && i < n; i++) {
            if (handles[i] != hSession) (void)login_one(handles[i], part, userType, (const char *)p2.data);
        }
        arca_secret_free(&p2);
    }
out:
    arca_p11_mutex_unlock(arca_p11_g.login_mutex);
    free(handles);
    arca_secret_free(&pin);
    return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    CK_SLOT_ID slot = s->slot;
    arca_p11_session_put(s);
    CK_SESSION_HANDLE *handles = malloc(ARCA_P11_MAX_SESSIONS * sizeof(*handles));
    if (handles == NULL) return CKR_HOST_MEMORY;
    arca_p11_mutex_lock(arca_p11_g.login_mutex);
    arca_p11_lock();
    bool in = arca_p11_g.slots[slot].login != ARCA_P11_NOBODY;
    if (in) arca_p11_slot_logout(&arca_p11_g.slots[slot]);
    arca_p11_unlock();
    if (!in) {
        rv = CKR_USER_NOT_LOGGED_IN;
        goto out;
    }
    size_t n = slot_handles(slot, handles);
    for (size_t i = 0; i < n; i++) {
        arca_p11_session *o;
        if (arca_p11_session_get(handles[i], &o) != CKR_OK) continue;
        find_reset(&o->find);
        for (size_t k = 0; k < ARCA_P11_OP_COUNT; k++) arca_p11_op_reset(&o->op[k]);
        (void)arca_p11_session_rv(o, arca_client_logout(o->client), CKR_GENERAL_ERROR);
        arca_p11_session_put(o);
    }
out:
    arca_p11_mutex_unlock(arca_p11_g.login_mutex);
    free(handles);
    return rv;
}
