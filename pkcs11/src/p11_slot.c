/* Slots and tokens: one slot per partition the client identity may use,
 * token label = partition name, slot id = index in sorted order (stable
 * for the module's life). C_InitToken, C_InitPIN, C_SetPIN, the mechanism
 * list (table in p11_mech.c), C_WaitForSlotEvent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/log.h"
#include "p11_internal.h"

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Partition names for this identity: WHOAMI's list, "*" (or an appliance
 * without WHOAMI, or a connection without a peer identity) meaning every
 * partition of PARTITION_LIST. *out malloc'd strings. */
static arca_status list_partitions(arca_client *c, char ***out, size_t *out_num)
{
    arca_client_identity me;
    int role = 0;
    char part[ARCA_LP_NAME_MAX + 1];
    arca_status st = arca_client_whoami(c, &me, &role, part);
    if (st == ARCA_OK && me.name[0] != '\0' && strcmp(me.partitions, "*") != 0) {
        size_t num = 0, cap = 0;
        char **names = NULL;
        char *save = NULL;
        for (char *tok = strtok_r(me.partitions, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            if (tok[0] == '\0' || strlen(tok) > ARCA_LP_NAME_MAX) continue;
            if (num == cap) {
                cap = cap == 0 ? 8 : cap * 2;
                char **n = realloc(names, cap * sizeof(*n));
                if (n == NULL) {
                    arca_client_strings_free(names, num);
                    return ARCA_ERR_NOMEM;
                }
                names = n;
            }
            names[num] = strdup(tok);
            if (names[num] == NULL) {
                arca_client_strings_free(names, num);
                return ARCA_ERR_NOMEM;
            }
            num++;
        }
        *out = names;
        *out_num = num;
        return ARCA_OK;
    }
    if (st == ARCA_ERR_IO || st == ARCA_ERR_CHANNEL || st == ARCA_ERR_TIMEOUT) return st;
    return arca_client_partition_list(c, out, out_num);
}

CK_RV arca_p11_slots_refresh(void)
{
    arca_p11_lock();
    bool known = arca_p11_g.slots_known;
    arca_p11_unlock();
    if (known) return CKR_OK;
    arca_client *c = NULL;
    char **names = NULL;
    size_t num = 0;
    if (arca_p11_connect(&c) != CKR_OK) return CKR_OK; /* no slots yet; try again later */
    arca_status st = list_partitions(c, &names, &num);
    arca_client_close(c);
    if (st != ARCA_OK) return st == ARCA_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_OK;
    if (num > 1) qsort(names, num, sizeof(*names), cmp_names);
    arca_p11_lock();
    if (!arca_p11_g.slots_known) {
        size_t n = 0;
        for (size_t i = 0; i < num && n < ARCA_P11_MAX_SLOTS; i++) {
            if (i > 0 && strcmp(names[i], names[i - 1]) == 0) continue;
            arca_p11_slot *sl = &arca_p11_g.slots[n++];
            memset(sl, 0, sizeof(*sl));
            snprintf(sl->name, sizeof(sl->name), "%s", names[i]);
            sl->login = ARCA_P11_NOBODY;
        }
        arca_p11_g.num_slots = n;
        arca_p11_g.slots_known = true;
    }
    arca_p11_unlock();
    arca_client_strings_free(names, num);
    return CKR_OK;
}

bool arca_p11_slot_valid(CK_SLOT_ID id)
{
    return arca_p11_g.slots_known && id < arca_p11_g.num_slots;
}

void arca_p11_slot_logout(arca_p11_slot *slot)
{
    slot->login = ARCA_P11_NOBODY;
    arca_secret_free(&slot->pin);
}

/* Initialised, slots discovered, slot id valid. */
static CK_RV check_slot(CK_SLOT_ID id)
{
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    rv = arca_p11_slots_refresh();
    if (rv != CKR_OK) return rv;
    arca_p11_lock();
    bool ok = arca_p11_slot_valid(id);
    arca_p11_unlock();
    return ok ? CKR_OK : CKR_SLOT_ID_INVALID;
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    if (pulCount == NULL) return CKR_ARGUMENTS_BAD;
    (void)tokenPresent; /* every slot holds its token (the partition) */
    rv = arca_p11_slots_refresh();
    if (rv != CKR_OK) return rv;
    arca_p11_lock();
    CK_ULONG n = (CK_ULONG)arca_p11_g.num_slots;
    if (pSlotList == NULL) {
        *pulCount = n;
    } else if (*pulCount < n) {
        *pulCount = n;
        rv = CKR_BUFFER_TOO_SMALL;
    } else {
        for (CK_ULONG i = 0; i < n; i++) pSlotList[i] = i;
        *pulCount = n;
    }
    arca_p11_unlock();
    return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    CK_RV rv = check_slot(slotID);
    if (rv != CKR_OK) return rv;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    char desc[128];
    arca_p11_lock();
    snprintf(desc, sizeof(desc), "Arca partition %s", arca_p11_g.slots[slotID].name);
    arca_p11_unlock();
    memset(pInfo, 0, sizeof(*pInfo));
    arca_p11_pad(pInfo->slotDescription, sizeof(pInfo->slotDescription), desc);
    arca_p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), ARCA_P11_MANUFACTURER);
    pInfo->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
    pInfo->hardwareVersion.major = 0;
    pInfo->hardwareVersion.minor = 1;
    pInfo->firmwareVersion.major = 0;
    pInfo->firmwareVersion.minor = 1;
    return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    CK_RV rv = check_slot(slotID);
    if (rv != CKR_OK) return rv;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof(*pInfo));
    CK_ULONG all = 0, rw = 0;
    arca_p11_slot_counts(slotID, &all, &rw);
    arca_p11_lock();
    const arca_p11_slot *sl = &arca_p11_g.slots[slotID];
    char serial[17];
    uint64_t h = 1469598103934665603ull;
    for (const char *p = sl->name; *p != '\0'; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    snprintf(serial, sizeof(serial), "%016llx", (unsigned long long)h);
    arca_p11_pad(pInfo->label, sizeof(pInfo->label), sl->name);
    arca_p11_pad(pInfo->serialNumber, sizeof(pInfo->serialNumber), serial);
    CK_FLAGS f = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED;
    if (!sl->user_pin_cleared) f |= CKF_USER_PIN_INITIALIZED;
    if (sl->user_pin_locked) f |= CKF_USER_PIN_LOCKED;
    if (sl->so_pin_locked) f |= CKF_SO_PIN_LOCKED;
    if (sl->user_pin_low) f |= CKF_USER_PIN_COUNT_LOW;
    if (sl->so_pin_low) f |= CKF_SO_PIN_COUNT_LOW;
    arca_p11_unlock();
    arca_p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), ARCA_P11_MANUFACTURER);
    arca_p11_pad(pInfo->model, sizeof(pInfo->model), ARCA_P11_MODEL);
    pInfo->flags = f;
    pInfo->ulMaxSessionCount = ARCA_P11_MAX_SESSIONS;
    pInfo->ulSessionCount = all;
    pInfo->ulMaxRwSessionCount = ARCA_P11_MAX_SESSIONS;
    pInfo->ulRwSessionCount = rw;
    pInfo->ulMaxPinLen = ARCA_P11_PIN_MAX;
    pInfo->ulMinPinLen = ARCA_P11_PIN_MIN;
    pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->hardwareVersion.major = 0;
    pInfo->hardwareVersion.minor = 1;
    pInfo->firmwareVersion.major = 0;
    pInfo->firmwareVersion.minor = 1;
    memset(pInfo->utcTime, ' ', sizeof(pInfo->utcTime)); /* no CKF_CLOCK_ON_TOKEN */
    return CKR_OK;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount)
{
    CK_RV rv = check_slot(slotID);
    if (rv != CKR_OK) return rv;
    if (pulCount == NULL) return CKR_ARGUMENTS_BAD;
    return arca_p11_mech_list(pMechanismList, pulCount);
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    CK_RV rv = check_slot(slotID);
    if (rv != CKR_OK) return rv;
    if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
    return arca_p11_mech_info(type, pInfo);
}

/* C_InitToken re-initialises the token (PKCS#11 2.40 C_InitToken): the
 * appliance, under the SO PIN, destroys every token object of the
 * partition and clears its user PIN (INIT_TOKEN, one commit with an
 * INIT_TOKEN audit record; docs/pkcs11.md). Then CKF_USER_PIN_INITIALIZED
 * is clear until the SO's C_InitPIN, and a user C_Login answers
 * CKR_USER_PIN_NOT_INITIALIZED. The label is the partition's name: a
 * different label (blank-padded to 32 bytes) is CKR_ARGUMENTS_BAD, as a
 * partition is renamed only by the appliance administrator. Statuses:
 * CKR_SESSION_EXISTS when this application has a session on the token or
 * any session (any application) is logged in to the partition;
 * CKR_PIN_INCORRECT (counted as an SO login failure), CKR_PIN_LOCKED;
 * CKR_TOKEN_NOT_PRESENT if the partition is gone; CKR_DEVICE_ERROR when
 * the appliance is unreachable. */
CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
    arca_secret p = {0};
    arca_client *c = NULL;
    char part[ARCA_LP_NAME_MAX + 1];
    uint64_t destroyed = 0;
    CK_RV rv = check_slot(slotID);
    if (rv != CKR_OK) return rv;
    if (pPin == NULL || pLabel == NULL) return CKR_ARGUMENTS_BAD;
    CK_ULONG all = 0, rw = 0;
    arca_p11_slot_counts(slotID, &all, &rw);
    if (all > 0) return CKR_SESSION_EXISTS;
    arca_p11_lock();
    snprintf(part, sizeof(part), "%s", arca_p11_g.slots[slotID].name);
    arca_p11_unlock();
    CK_UTF8CHAR want[32];
    arca_p11_pad(want, sizeof(want), part);
    if (memcmp(want, pLabel, sizeof(want)) != 0) return CKR_ARGUMENTS_BAD;
    rv = arca_p11_pin_copy(pPin, ulPinLen, CKR_PIN_INCORRECT, &p);
    if (rv == CKR_PIN_INVALID) rv = CKR_PIN_INCORRECT;
    if (rv != CKR_OK) return rv;
    rv = arca_p11_connect(&c);
    if (rv != CKR_OK) goto out;
    arca_status st = arca_client_init_token(c, part, (const char *)p.data, &destroyed);
    switch (st) {
    case ARCA_OK:
        rv = CKR_OK;
        break;
    case ARCA_ERR_PIN_INCORRECT:
    case ARCA_ERR_PIN_INVALID:
        rv = CKR_PIN_INCORRECT;
        break;
    case ARCA_ERR_BUSY:
        rv = CKR_SESSION_EXISTS; /* someone is logged in to the partition */
        break;
    case ARCA_ERR_NOT_FOUND:
        rv = CKR_TOKEN_NOT_PRESENT;
        break;
    default:
        rv = arca_p11_rv_from_status(st);
        break;
    }
    arca_p11_lock();
    arca_p11_slot *sl = &arca_p11_g.slots[slotID];
    if (st == ARCA_OK || st == ARCA_ERR_PIN_INCORRECT || st == ARCA_ERR_PIN_LOCKED) {
        sl->so_pin_locked = st == ARCA_ERR_PIN_LOCKED;
        sl->so_pin_low = st == ARCA_ERR_PIN_INCORRECT;
    }
    if (st == ARCA_OK) {
        sl->user_pin_cleared = true;
        sl->user_pin_locked = false;
        sl->user_pin_low = false;
    }
    arca_p11_unlock();
    if (st == ARCA_OK)
        ARCA_DEBUG("token %s re-initialised: %llu token objects destroyed", part, (unsigned long long)destroyed);
out:
    arca_client_close(c);
    arca_secret_free(&p);
    return rv;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    arca_p11_session *s;
    arca_secret p = {0};
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (arca_p11_session_state(s) != CKS_RW_SO_FUNCTIONS) {
        rv = arca_p11_session_rw(s) ? CKR_USER_NOT_LOGGED_IN : CKR_SESSION_READ_ONLY;
        goto out;
    }
    rv = arca_p11_pin_copy(pPin, ulPinLen, CKR_PIN_LEN_RANGE, &p);
    if (rv != CKR_OK) goto out;
    arca_status st = arca_client_init_user_pin(s->client, (const char *)p.data);
    rv = arca_p11_session_rv(s, st, CKR_GENERAL_ERROR);
    if (st == ARCA_OK) {
        arca_p11_lock();
        arca_p11_g.slots[s->slot].user_pin_locked = false;
        arca_p11_g.slots[s->slot].user_pin_low = false;
        arca_p11_g.slots[s->slot].user_pin_cleared = false;
        arca_p11_unlock();
    }
out:
    arca_secret_free(&p);
    arca_p11_session_put(s);
    return rv;
}

/* C_SetPIN changes the PIN by presenting the old one (SET_PIN): in the
 * "R/W User Functions" state the user PIN, in "R/W SO Functions" the SO
 * PIN, both on the session's own connection; in "R/W Public Session" the
 * user PIN (as PKCS#11 says), on a fresh connection that logs in as the
 * user with the old PIN first. Read-only sessions: CKR_SESSION_READ_ONLY.
 * New PIN length outside 4..128: CKR_PIN_LEN_RANGE; old PIN wrong (or of a
 * length no PIN has): CKR_PIN_INCORRECT, counted; CKR_PIN_LOCKED. After a
 * change of the logged-in role's PIN the module logs later sessions in
 * with the new PIN (docs/pkcs11.md). */
CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin,
               CK_ULONG ulNewLen)
{
    arca_p11_session *s;
    arca_secret op = {0}, np = {0};
    arca_client *fresh = NULL;
    arca_status st;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    CK_SLOT_ID slot = s->slot;
    CK_STATE state = arca_p11_session_state(s);
    int role = state == CKS_RW_SO_FUNCTIONS ? ARCA_CLIENT_ROLE_SO : ARCA_CLIENT_ROLE_USER;
    if (!arca_p11_session_rw(s)) {
        rv = CKR_SESSION_READ_ONLY;
        goto out;
    }
    if (pOldPin == NULL || pNewPin == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = arca_p11_pin_copy(pNewPin, ulNewLen, CKR_PIN_LEN_RANGE, &np);
    if (rv != CKR_OK) goto out;
    rv = arca_p11_pin_copy(pOldPin, ulOldLen, CKR_PIN_INCORRECT, &op);
    if (rv != CKR_OK) goto out;
    if (state == CKS_RW_PUBLIC_SESSION) {
        char part[ARCA_LP_NAME_MAX + 1];
        arca_p11_lock();
        snprintf(part, sizeof(part), "%s", arca_p11_g.slots[slot].name);
        arca_p11_unlock();
        rv = arca_p11_connect(&fresh);
        if (rv != CKR_OK) goto out;
        st = arca_client_login(fresh, part, ARCA_CLIENT_ROLE_USER, (const char *)op.data);
        if (st == ARCA_OK) st = arca_client_set_pin(fresh, (const char *)op.data, (const char *)np.data);
        rv = arca_p11_rv_from_status(st);
    } else {
        st = arca_client_set_pin(s->client, (const char *)op.data, (const char *)np.data);
        rv = arca_p11_session_rv(s, st, CKR_GENERAL_ERROR);
    }
    /* The lengths were checked here: ARCA_ERR_PIN_INVALID would be the
     * enclave refusing the new PIN's content. */
    if (st == ARCA_ERR_PIN_INVALID) rv = CKR_PIN_INVALID;
    arca_p11_lock();
    arca_p11_slot *sl = &arca_p11_g.slots[slot];
    bool *locked = role == ARCA_CLIENT_ROLE_SO ? &sl->so_pin_locked : &sl->user_pin_locked;
    bool *low = role == ARCA_CLIENT_ROLE_SO ? &sl->so_pin_low : &sl->user_pin_low;
    if (st == ARCA_OK || st == ARCA_ERR_PIN_INCORRECT || st == ARCA_ERR_PIN_LOCKED) {
        *locked = st == ARCA_ERR_PIN_LOCKED;
        *low = st == ARCA_ERR_PIN_INCORRECT;
    }
    CK_USER_TYPE who = role == ARCA_CLIENT_ROLE_SO ? CKU_SO : CKU_USER;
    if (st == ARCA_OK && sl->login == who) {
        /* Later sessions of the token log in with the new PIN. */
        arca_secret_free(&sl->pin);
        sl->pin = np; /* moved */
        memset(&np, 0, sizeof(np));
    }
    arca_p11_unlock();
out:
    arca_client_close(fresh);
    arca_secret_free(&op);
    arca_secret_free(&np);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    CK_RV rv = arca_p11_check_init();
    if (rv != CKR_OK) return rv;
    if (pSlot == NULL || pReserved != NULL) return CKR_ARGUMENTS_BAD;
    /* Tokens (partitions) never leave their slots while the module runs. */
    if ((flags & CKF_DONT_BLOCK) != 0) return CKR_NO_EVENT;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
