/* Driver for tests/integration/test_pkcs11_tool.sh: loads libarca-pkcs11.so
 * with dlopen, as an application does, and checks the exact CK_RV of the
 * session, login, object and find rules against a real appliance.
 *
 *   pkcs11_sessions MODULE semantics   every check below; exit 0 if all pass
 *   pkcs11_sessions MODULE hold        for the appliance-loss test: logs in,
 *       prints READY, waits for a line on stdin (the appliance is stopped),
 *       expects CKR_DEVICE_ERROR then CKR_SESSION_HANDLE_INVALID, prints
 *       LOST, waits for a line (the appliance is back), opens a new session,
 *       logs in, finds, prints RECOVERED.
 *   pkcs11_sessions MODULE threads     C_Initialize with the application's
 *       mutex callbacks (no CKF_OS_LOCKING_OK); 4 threads, each with its own
 *       sessions (opened and closed as they go), find and read objects for
 *       3 s while the main thread creates and destroys token objects; every
 *       call must succeed and the threads must see the new objects.
 *   pkcs11_sessions MODULE spki HEXID  writes CKA_PUBLIC_KEY_INFO (DER) of the
 *       public key with that CKA_ID to stdout (after a user login).
 *   pkcs11_sessions MODULE sessobj     session objects are visible to every
 *       session of the application, used over their owner's connection,
 *       and invalid everywhere once the owner closes (also logout,
 *       C_CloseAllSessions, two owners in one C_WrapKey).
 *   pkcs11_sessions MODULE fork        a parent with 3 logged-in sessions
 *       (each with a session key) forks: a child without C_Initialize gets
 *       CKR_CRYPTOKI_NOT_INITIALIZED; a child with C_Initialize holds none
 *       of the inherited appliance sockets, opens a session and signs; the
 *       parent's sessions and session objects keep working.
 *   pkcs11_sessions MODULE busy        C_InitToken from another process while
 *       this one is logged in: CKR_SESSION_EXISTS, nothing erased.
 * PINs from ARCA_PIN and ARCA_SO_PIN. Built by the test script with cc. */
#define _DEFAULT_SOURCE /* readlink, fork with -std=c11 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR f;
static int failures;

#define CHECK(expr, want)                                                                                   \
    do {                                                                                                    \
        CK_RV got_ = (expr);                                                                                \
        if (got_ != (CK_RV)(want)) {                                                                        \
            printf("FAIL line %d: %s = 0x%lx, expected %s (0x%lx)\n", __LINE__, #expr, got_, #want,         \
                   (CK_RV)(want));                                                                          \
            failures++;                                                                                     \
        }                                                                                                   \
    } while (0)
#define EXPECT(cond)                                                                                        \
    do {                                                                                                    \
        if (!(cond)) {                                                                                      \
            printf("FAIL line %d: %s\n", __LINE__, #cond);                                                  \
            failures++;                                                                                     \
        }                                                                                                   \
    } while (0)

static const char *pin, *so_pin;

static CK_STATE state_of(CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;
    if (f->C_GetSessionInfo(s, &si) != CKR_OK) return (CK_STATE)-1;
    return si.state;
}

static CK_ULONG count(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_OBJECT_HANDLE h[16];
    CK_ULONG got = 0, total = 0;
    if (f->C_FindObjectsInit(s, t, n) != CKR_OK) return (CK_ULONG)-1;
    do {
        if (f->C_FindObjects(s, h, 16, &got) != CKR_OK) break;
        total += got;
    } while (got > 0);
    (void)f->C_FindObjectsFinal(s);
    return total;
}

static CK_ULONG count_label(CK_SESSION_HANDLE s, const char *label)
{
    CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, strlen(label)};
    return count(s, &t, 1);
}

static CK_RV login(CK_SESSION_HANDLE s, CK_USER_TYPE who, const char *p)
{
    return f->C_Login(s, who, (CK_UTF8CHAR_PTR)p, strlen(p));
}

static int semantics(void)
{
    CK_SLOT_ID slot[4];
    CK_ULONG n = 4;
    CK_TOKEN_INFO ti;
    CK_SESSION_HANDLE ro, rw, s3, s4;
    CHECK(f->C_Initialize(NULL), CKR_OK);
    CHECK(f->C_GetSlotList(CK_TRUE, slot, &n), CKR_OK);
    EXPECT(n == 1);
    CHECK(f->C_GetTokenInfo(slot[0], &ti), CKR_OK);
    EXPECT(memcmp(ti.label, "p1 ", 3) == 0);
    EXPECT((ti.flags & (CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED | CKF_RNG)) ==
           (CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED | CKF_RNG));
    EXPECT(ti.ulSessionCount == 0);

    /* Sessions and states. */
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw), CKR_OK);
    EXPECT(state_of(ro) == CKS_RO_PUBLIC_SESSION);
    EXPECT(state_of(rw) == CKS_RW_PUBLIC_SESSION);
    CHECK(f->C_GetTokenInfo(slot[0], &ti), CKR_OK);
    EXPECT(ti.ulSessionCount == 2 && ti.ulRwSessionCount == 1);
    CHECK(f->C_InitToken(slot[0], (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), (CK_UTF8CHAR_PTR) "p1"),
          CKR_SESSION_EXISTS);

    /* Login rules. */
    CHECK(f->C_Logout(ro), CKR_USER_NOT_LOGGED_IN);
    CHECK(login(ro, CKU_SO, so_pin), CKR_SESSION_READ_ONLY_EXISTS);
    CHECK(login(ro, 99, pin), CKR_USER_TYPE_INVALID);
    CHECK(f->C_Login(ro, CKU_USER, NULL, 4), CKR_ARGUMENTS_BAD);
    CHECK(login(ro, CKU_USER, "wrong-pin-1"), CKR_PIN_INCORRECT);
    CHECK(f->C_GetTokenInfo(slot[0], &ti), CKR_OK);
    EXPECT((ti.flags & CKF_USER_PIN_COUNT_LOW) != 0);
    CHECK(count_label(ro, "anything"), 0); /* not logged in: nothing visible */
    CHECK(login(ro, CKU_USER, pin), CKR_OK);
    CHECK(f->C_GetTokenInfo(slot[0], &ti), CKR_OK);
    EXPECT((ti.flags & CKF_USER_PIN_COUNT_LOW) == 0);
    EXPECT(state_of(ro) == CKS_RO_USER_FUNCTIONS);
    EXPECT(state_of(rw) == CKS_RW_USER_FUNCTIONS); /* the login is the application's, per token */
    CHECK(login(rw, CKU_USER, pin), CKR_USER_ALREADY_LOGGED_IN);
    CHECK(login(rw, CKU_SO, so_pin), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s3), CKR_OK);
    EXPECT(state_of(s3) == CKS_RW_USER_FUNCTIONS);
    CHECK(f->C_InitPIN(rw, (CK_UTF8CHAR_PTR) "12345678", 8), CKR_USER_NOT_LOGGED_IN); /* SO only */
    CHECK(f->C_InitPIN(ro, (CK_UTF8CHAR_PTR) "12345678", 8), CKR_SESSION_READ_ONLY);

    /* Objects. */
    CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BYTE value[32] = {1, 2, 3};
    CK_ATTRIBUTE tok[] = {
        {CKA_CLASS, &sec, sizeof(sec)},     {CKA_KEY_TYPE, &aes, sizeof(aes)},   {CKA_TOKEN, &yes, 1},
        {CKA_SENSITIVE, &yes, 1},           {CKA_EXTRACTABLE, &no, 1},           {CKA_ENCRYPT, &yes, 1},
        {CKA_LABEL, "tok-obj", 7},          {CKA_VALUE, value, sizeof(value)},
    };
    CK_OBJECT_HANDLE ht = CK_INVALID_HANDLE, hs = CK_INVALID_HANDLE;
    CHECK(f->C_CreateObject(ro, tok, 8, &ht), CKR_SESSION_READ_ONLY);
    CHECK(f->C_CreateObject(rw, tok, 8, NULL), CKR_ARGUMENTS_BAD);
    CHECK(f->C_CreateObject(rw, NULL, 8, &ht), CKR_ARGUMENTS_BAD);
    CHECK(f->C_CreateObject(rw, tok, 8, &ht), CKR_OK);
    tok[2].pValue = &no;
    tok[6].pValue = "sess-obj";
    tok[6].ulValueLen = 8;
    CHECK(f->C_CreateObject(ro, tok, 8, &hs), CKR_OK); /* session objects are fine in RO sessions */
    CHECK(count_label(rw, "tok-obj"), 1);
    CHECK(count_label(s3, "tok-obj"), 1);
    CHECK(count_label(ro, "sess-obj"), 1);
    CHECK(count_label(rw, "sess-obj"), 1); /* session objects: every session of the application */

    /* C_GetAttributeValue: every attribute processed, lengths as the standard says. */
    CK_ULONG cls = 0;
    CK_BYTE vbuf[64], lbuf[64];
    CK_ATTRIBUTE g[] = {
        {CKA_VALUE, vbuf, sizeof(vbuf)}, {CKA_LABEL, NULL, 0}, {CKA_MODULUS, lbuf, sizeof(lbuf)},
        {CKA_CLASS, &cls, 4},
    };
    CK_RV rv = f->C_GetAttributeValue(rw, ht, g, 4);
    EXPECT(rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL);
    EXPECT(g[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    EXPECT(g[1].ulValueLen == 7);
    EXPECT(g[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    EXPECT(g[3].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(f->C_GetAttributeValue(rw, ht, &g[0], 1), CKR_ATTRIBUTE_SENSITIVE);
    g[2].ulValueLen = sizeof(lbuf);
    CHECK(f->C_GetAttributeValue(rw, ht, &g[2], 1), CKR_ATTRIBUTE_TYPE_INVALID);
    g[3].ulValueLen = 4;
    CHECK(f->C_GetAttributeValue(rw, ht, &g[3], 1), CKR_BUFFER_TOO_SMALL);
    g[3].pValue = NULL;
    CHECK(f->C_GetAttributeValue(rw, ht, &g[3], 1), CKR_OK);
    EXPECT(g[3].ulValueLen == sizeof(CK_ULONG));
    g[3].pValue = &cls;
    CHECK(f->C_GetAttributeValue(rw, ht, &g[3], 1), CKR_OK);
    EXPECT(cls == CKO_SECRET_KEY);
    g[1].pValue = lbuf;
    g[1].ulValueLen = sizeof(lbuf);
    CHECK(f->C_GetAttributeValue(ro, ht, &g[1], 1), CKR_OK);
    EXPECT(g[1].ulValueLen == 7 && memcmp(lbuf, "tok-obj", 7) == 0);
    CK_BBOOL copyable = CK_TRUE;
    CK_ATTRIBUTE gc = {CKA_COPYABLE, &copyable, 1};
    CHECK(f->C_GetAttributeValue(rw, ht, &gc, 1), CKR_OK);
    EXPECT(copyable == CK_FALSE);
    CHECK(f->C_GetAttributeValue(rw, CK_INVALID_HANDLE, &g[3], 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_GetAttributeValue(rw, 987654, &g[3], 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_GetAttributeValue(rw, ht, NULL, 1), CKR_ARGUMENTS_BAD);
    CK_ULONG size = 0;
    CHECK(f->C_GetObjectSize(rw, ht, &size), CKR_OK);
    EXPECT(size == CK_UNAVAILABLE_INFORMATION);

    /* C_SetAttributeValue. */
    CK_ATTRIBUTE relabel = {CKA_LABEL, "tok-obj2", 8};
    CHECK(f->C_SetAttributeValue(ro, ht, &relabel, 1), CKR_SESSION_READ_ONLY);
    CHECK(f->C_SetAttributeValue(rw, ht, &relabel, 1), CKR_OK);
    CHECK(count_label(s3, "tok-obj2"), 1);
    CK_ULONG other = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE reclass = {CKA_CLASS, &other, 4};
    CHECK(f->C_SetAttributeValue(rw, ht, &reclass, 1), CKR_ATTRIBUTE_VALUE_INVALID); /* 4 bytes: not a CK_ULONG */

    /* Find state. */
    CK_OBJECT_HANDLE found[4];
    CK_ULONG nf = 0;
    CHECK(f->C_FindObjects(rw, found, 4, &nf), CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f->C_FindObjectsFinal(rw), CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f->C_FindObjectsInit(rw, &relabel, 1), CKR_OK);
    CHECK(f->C_FindObjectsInit(rw, &relabel, 1), CKR_OPERATION_ACTIVE);
    CHECK(f->C_FindObjects(rw, found, 4, NULL), CKR_ARGUMENTS_BAD);
    CHECK(f->C_FindObjects(rw, found, 4, &nf), CKR_OK);
    EXPECT(nf == 1 && found[0] == ht);
    CHECK(f->C_FindObjects(rw, found, 4, &nf), CKR_OK);
    EXPECT(nf == 0);
    CHECK(f->C_FindObjectsFinal(rw), CKR_OK);

    /* Copy: public keys only. */
    CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE pubt[] = {{CKA_EC_PARAMS, p256, sizeof(p256)}, {CKA_TOKEN, &yes, 1}, {CKA_LABEL, "ec-c", 4}};
    CK_ATTRIBUTE privt[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, "ec-c", 4}};
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE pub = 0, priv = 0, cp = 0;
    CHECK(f->C_GenerateKeyPair(rw, &gen, pubt, 3, privt, 3, &pub, &priv), CKR_OK);
    CK_ATTRIBUTE cpt = {CKA_LABEL, "ec-copy", 7};
    CHECK(f->C_CopyObject(rw, priv, &cpt, 1, &cp), CKR_ACTION_PROHIBITED);
    CHECK(f->C_CopyObject(rw, ht, &cpt, 1, &cp), CKR_ACTION_PROHIBITED);
    CHECK(f->C_CopyObject(rw, pub, &cpt, 1, NULL), CKR_ARGUMENTS_BAD);
    CHECK(f->C_CopyObject(ro, pub, &cpt, 1, &cp), CKR_SESSION_READ_ONLY); /* a token object */
    CHECK(f->C_CopyObject(rw, pub, &cpt, 1, &cp), CKR_OK);
    CK_BYTE pt1[128], pt2[128];
    CK_ATTRIBUTE e1 = {CKA_EC_POINT, pt1, sizeof(pt1)}, e2 = {CKA_EC_POINT, pt2, sizeof(pt2)};
    CHECK(f->C_GetAttributeValue(rw, pub, &e1, 1), CKR_OK);
    CHECK(f->C_GetAttributeValue(rw, cp, &e2, 1), CKR_OK);
    EXPECT(e1.ulValueLen == e2.ulValueLen && e1.ulValueLen > 60 && memcmp(pt1, pt2, e1.ulValueLen) == 0);
    CHECK(count_label(s3, "ec-copy"), 1);

    /* Destroy. */
    CHECK(f->C_DestroyObject(ro, cp), CKR_SESSION_READ_ONLY);
    CHECK(f->C_DestroyObject(rw, cp), CKR_OK);
    CHECK(f->C_DestroyObject(rw, cp), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_GetAttributeValue(rw, cp, &e2, 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(count_label(s3, "ec-copy"), 0);

    /* C_SetPIN (user logged in): changes the user PIN in the appliance. */
    CHECK(f->C_SetPIN(ro, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR) "new-pin-1", 9),
          CKR_SESSION_READ_ONLY);
    CHECK(f->C_SetPIN(rw, NULL, 0, (CK_UTF8CHAR_PTR) "new-pin-1", 9), CKR_ARGUMENTS_BAD);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR) "wrong-pin-2", 11, (CK_UTF8CHAR_PTR) "new-pin-1", 9), CKR_PIN_INCORRECT);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR) "abc", 3, (CK_UTF8CHAR_PTR) "new-pin-1", 9), CKR_PIN_INCORRECT);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR) "abc", 3), CKR_PIN_LEN_RANGE);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR) "new-pin-1", 9), CKR_OK);
    CHECK(login(s3, CKU_USER, "new-pin-1"), CKR_USER_ALREADY_LOGGED_IN); /* the login stays */
    /* A session opened now joins the login with the new PIN. */
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION, NULL, NULL, &s4), CKR_OK);
    EXPECT(state_of(s4) == CKS_RO_USER_FUNCTIONS);
    CHECK(count_label(s4, "tok-obj2"), 1);
    CHECK(f->C_CloseSession(s4), CKR_OK);
    /* The old PIN is no longer the PIN; back to the test's PIN. */
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR) "new-pin-2", 9), CKR_PIN_INCORRECT);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR) "new-pin-1", 9, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);

    /* Logout: every session of the token. */
    CHECK(f->C_Logout(s3), CKR_OK);
    EXPECT(state_of(ro) == CKS_RO_PUBLIC_SESSION);
    EXPECT(state_of(rw) == CKS_RW_PUBLIC_SESSION);
    CHECK(count_label(rw, "tok-obj2"), 0);
    CHECK(f->C_Logout(rw), CKR_USER_NOT_LOGGED_IN);
    CHECK(f->C_GetAttributeValue(rw, ht, &g[3], 1), CKR_OBJECT_HANDLE_INVALID);

    /* C_SetPIN in "R/W Public Session" changes the user PIN (PKCS#11). */
    CHECK(f->C_SetPIN(ro, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR) "new-pin-3", 9),
          CKR_SESSION_READ_ONLY);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR) "wrong-pin-3", 11, (CK_UTF8CHAR_PTR) "new-pin-3", 9), CKR_PIN_INCORRECT);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR) "new-pin-3", 9), CKR_OK);
    EXPECT(state_of(rw) == CKS_RW_PUBLIC_SESSION);
    CHECK(login(rw, CKU_USER, pin), CKR_PIN_INCORRECT);
    CHECK(login(rw, CKU_USER, "new-pin-3"), CKR_OK);
    CHECK(f->C_Logout(rw), CKR_OK);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR) "new-pin-3", 9, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);

    /* SO: only without read-only sessions; then no read-only session opens. */
    CHECK(f->C_CloseSession(ro), CKR_OK);
    CHECK(f->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);
    CHECK(login(rw, CKU_SO, "wrong-so-pin"), CKR_PIN_INCORRECT);
    CHECK(login(rw, CKU_SO, so_pin), CKR_OK);
    EXPECT(state_of(rw) == CKS_RW_SO_FUNCTIONS);
    EXPECT(state_of(s3) == CKS_RW_SO_FUNCTIONS);
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION, NULL, NULL, &s4), CKR_SESSION_READ_WRITE_SO_EXISTS);
    CHECK(f->C_InitPIN(rw, (CK_UTF8CHAR_PTR) "abc", 3), CKR_PIN_LEN_RANGE);
    CHECK(f->C_InitPIN(rw, NULL, 8), CKR_ARGUMENTS_BAD);
    CHECK(f->C_InitPIN(rw, (CK_UTF8CHAR_PTR) "user-pin-new", 12), CKR_OK);
    CHECK(f->C_Logout(rw), CKR_OK);
    CHECK(login(rw, CKU_USER, pin), CKR_PIN_INCORRECT);
    CHECK(login(rw, CKU_USER, "user-pin-new"), CKR_OK);
    CHECK(f->C_Logout(rw), CKR_OK);
    CHECK(login(rw, CKU_SO, so_pin), CKR_OK);
    CHECK(f->C_InitPIN(rw, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK); /* back to the test's PIN */
    /* C_SetPIN as SO: the SO PIN. */
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR) "wrong-so-pin", 12, (CK_UTF8CHAR_PTR) "so-pin-new", 10),
          CKR_PIN_INCORRECT);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), (CK_UTF8CHAR_PTR) "so-pin-new", 10), CKR_OK);
    CHECK(f->C_Logout(rw), CKR_OK);
    CHECK(login(rw, CKU_SO, so_pin), CKR_PIN_INCORRECT);
    CHECK(login(rw, CKU_SO, "so-pin-new"), CKR_OK);
    CHECK(f->C_SetPIN(rw, (CK_UTF8CHAR_PTR) "so-pin-new", 10, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin)), CKR_OK);
    CHECK(f->C_Logout(rw), CKR_OK);

    /* The last session of the token ends the login; C_CloseAllSessions. */
    CHECK(login(rw, CKU_USER, pin), CKR_OK);
    CHECK(f->C_CloseAllSessions(slot[0]), CKR_OK);
    CHECK(f->C_GetSessionInfo(rw, &(CK_SESSION_INFO){0}), CKR_SESSION_HANDLE_INVALID);
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION, NULL, NULL, &s4), CKR_OK);
    EXPECT(state_of(s4) == CKS_RO_PUBLIC_SESSION);
    CHECK(f->C_CloseSession(s4), CKR_OK);

    /* C_InitToken re-initialises: SO PIN and label checked, then every token
     * object destroyed and the user PIN cleared until the SO's C_InitPIN. */
    CK_UTF8CHAR label[32], other_label[32];
    memset(label, ' ', sizeof(label));
    memcpy(label, "p1", 2);
    memset(other_label, ' ', sizeof(other_label));
    memcpy(other_label, "renamed", 7);
    CHECK(f->C_InitToken(slot[0], NULL, 4, label), CKR_ARGUMENTS_BAD);
    CHECK(f->C_InitToken(slot[0], (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), NULL), CKR_ARGUMENTS_BAD);
    CHECK(f->C_InitToken(slot[0], (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), other_label), CKR_ARGUMENTS_BAD);
    CHECK(f->C_InitToken(slot[0], (CK_UTF8CHAR_PTR) "wrong-so-pin", 12, label), CKR_PIN_INCORRECT);
    CHECK(f->C_GetTokenInfo(slot[0], &ti), CKR_OK);
    EXPECT((ti.flags & CKF_SO_PIN_COUNT_LOW) != 0);
    CHECK(f->C_InitToken(slot[0], (CK_UTF8CHAR_PTR) "abc", 3, label), CKR_PIN_INCORRECT);
    CHECK(f->C_InitToken(99, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), label), CKR_SLOT_ID_INVALID);
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION, NULL, NULL, &s4), CKR_OK);
    CHECK(f->C_InitToken(slot[0], (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), label), CKR_SESSION_EXISTS);
    CHECK(login(s4, CKU_USER, pin), CKR_OK);
    CHECK(count_label(s4, "tok-obj2"), 1); /* nothing erased so far */
    CHECK(f->C_CloseSession(s4), CKR_OK);
    CHECK(f->C_InitToken(slot[0], (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), label), CKR_OK);
    CHECK(f->C_GetTokenInfo(slot[0], &ti), CKR_OK);
    EXPECT((ti.flags & CKF_USER_PIN_INITIALIZED) == 0);
    EXPECT((ti.flags & CKF_TOKEN_INITIALIZED) != 0);
    EXPECT((ti.flags & CKF_SO_PIN_COUNT_LOW) == 0);
    EXPECT(memcmp(ti.label, label, sizeof(label)) == 0);
    CHECK(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s4), CKR_OK);
    CHECK(login(s4, CKU_USER, pin), CKR_USER_PIN_NOT_INITIALIZED);
    EXPECT(state_of(s4) == CKS_RW_PUBLIC_SESSION);
    CHECK(f->C_GetAttributeValue(s4, ht, &g[3], 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(login(s4, CKU_SO, so_pin), CKR_OK);
    CHECK(f->C_InitPIN(s4, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    CHECK(f->C_GetTokenInfo(slot[0], &ti), CKR_OK);
    EXPECT((ti.flags & CKF_USER_PIN_INITIALIZED) != 0);
    CHECK(f->C_Logout(s4), CKR_OK);
    CHECK(login(s4, CKU_USER, pin), CKR_OK);
    CHECK(count_label(s4, "tok-obj2"), 0);
    CHECK(count_label(s4, "ec-c"), 0);
    CHECK(f->C_GetAttributeValue(s4, pub, &e1, 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    return failures;
}

static int hold(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s, s2;
    char line[16];
    CK_ATTRIBUTE any = {CKA_LABEL, "nothing", 7};
    CHECK(f->C_Initialize(NULL), CKR_OK);
    CHECK(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    CHECK(login(s, CKU_USER, pin), CKR_OK);
    CHECK(f->C_FindObjectsInit(s, &any, 1), CKR_OK);
    CHECK(f->C_FindObjectsFinal(s), CKR_OK);
    printf("READY\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL) return 100;
    CHECK(f->C_FindObjectsInit(s, &any, 1), CKR_DEVICE_ERROR);
    CHECK(f->C_FindObjectsInit(s, &any, 1), CKR_SESSION_HANDLE_INVALID);
    CHECK(f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_DEVICE_ERROR);
    printf("LOST\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL) return 101;
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
    EXPECT(state_of(s2) == CKS_RO_PUBLIC_SESSION); /* the lost session took the login with it */
    CHECK(login(s2, CKU_USER, pin), CKR_OK);
    CHECK(f->C_FindObjectsInit(s2, &any, 1), CKR_OK);
    CHECK(f->C_FindObjectsFinal(s2), CKR_OK);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    if (failures == 0) printf("RECOVERED\n");
    fflush(stdout);
    return failures;
}

/* ---- threads ------------------------------------------------------------ */

static CK_RV mx_create(CK_VOID_PTR_PTR m)
{
    pthread_mutex_t *p = malloc(sizeof(*p));
    if (p == NULL) return CKR_HOST_MEMORY;
    pthread_mutex_init(p, NULL);
    *m = p;
    return CKR_OK;
}
static CK_RV mx_destroy(CK_VOID_PTR m)
{
    pthread_mutex_destroy(m);
    free(m);
    return CKR_OK;
}
static CK_RV mx_lock(CK_VOID_PTR m)
{
    return pthread_mutex_lock(m) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}
static CK_RV mx_unlock(CK_VOID_PTR m)
{
    return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}

static CK_SLOT_ID g_slot;
static volatile int g_stop;
static pthread_mutex_t g_count_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_thread_errors;
static long g_seen_max;

static void *worker(void *arg)
{
    (void)arg;
    int errors = 0;
    long seen_max = 0;
    CK_ATTRIBUTE t = {CKA_LABEL, "thr-obj", 7}; /* only the main thread's objects */
    for (int round = 0; !g_stop; round++) {
        CK_SESSION_HANDLE s;
        if (f->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
            errors++;
            break;
        }
        if (state_of(s) != CKS_RO_USER_FUNCTIONS) errors++; /* joined the application's login */
        for (int i = 0; i < 5 && !g_stop; i++) {
            CK_OBJECT_HANDLE h[64];
            CK_ULONG n = 0;
            if (f->C_FindObjectsInit(s, &t, 1) != CKR_OK || f->C_FindObjects(s, h, 64, &n) != CKR_OK ||
                f->C_FindObjectsFinal(s) != CKR_OK) {
                errors++;
                continue;
            }
            if ((long)n > seen_max) seen_max = (long)n;
            for (CK_ULONG k = 0; k < n; k++) {
                CK_ULONG cls = 0;
                CK_ATTRIBUTE a = {CKA_CLASS, &cls, sizeof(cls)};
                CK_RV rv = f->C_GetAttributeValue(s, h[k], &a, 1);
                /* The main thread may have destroyed it meanwhile. */
                if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID) errors++;
                if (rv == CKR_OK && cls != CKO_SECRET_KEY) errors++;
            }
        }
        if (f->C_CloseSession(s) != CKR_OK) errors++;
    }
    pthread_mutex_lock(&g_count_mu);
    g_thread_errors += errors;
    if (seen_max > g_seen_max) g_seen_max = seen_max;
    pthread_mutex_unlock(&g_count_mu);
    return NULL;
}

static int threads(void)
{
    CK_C_INITIALIZE_ARGS a;
    memset(&a, 0, sizeof(a));
    a.CreateMutex = mx_create;
    a.DestroyMutex = mx_destroy;
    a.LockMutex = mx_lock;
    a.UnlockMutex = mx_unlock;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE main_s;
    CHECK(f->C_Initialize(&a), CKR_OK);
    CHECK(f->C_GetSlotList(CK_TRUE, &g_slot, &n), CKR_OK);
    CHECK(f->C_OpenSession(g_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &main_s), CKR_OK);
    CHECK(login(main_s, CKU_USER, pin), CKR_OK);
    if (failures != 0) return failures;
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, worker, NULL);
    CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_BBOOL yes = CK_TRUE;
    CK_BYTE value[16] = {9};
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
                           {CKA_TOKEN, &yes, 1}, {CKA_LABEL, "thr-obj", 7}, {CKA_VALUE, value, sizeof(value)}};
    time_t end = time(NULL) + 3;
    int made = 0;
    CK_OBJECT_HANDLE keep[3];
    for (int i = 0; i < 3; i++) CHECK(f->C_CreateObject(main_s, tmpl, 5, &keep[i]), CKR_OK);
    while (time(NULL) < end) {
        CK_OBJECT_HANDLE h;
        CHECK(f->C_CreateObject(main_s, tmpl, 5, &h), CKR_OK);
        CHECK(f->C_DestroyObject(main_s, h), CKR_OK);
        made++;
    }
    g_stop = 1;
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    EXPECT(g_thread_errors == 0);
    EXPECT(g_seen_max >= 3); /* the threads saw the main thread's objects */
    EXPECT(made > 0);
    for (int i = 0; i < 3; i++) CHECK(f->C_DestroyObject(main_s, keep[i]), CKR_OK);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    if (failures == 0) printf("threads: %d create/destroy rounds, no errors\n", made);
    return failures;
}

static int spki(const char *hex)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1, got = 0;
    CK_SESSION_HANDLE s;
    CK_BYTE id[64], der[4096];
    size_t id_len = 0;
    for (; hex[0] != '\0' && hex[1] != '\0' && id_len < sizeof(id); hex += 2) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1) return 2;
        id[id_len++] = (CK_BYTE)v;
    }
    CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &pub, sizeof(pub)}, {CKA_ID, id, id_len}};
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE a = {CKA_PUBLIC_KEY_INFO, der, sizeof(der)};
    if (f->C_Initialize(NULL) != CKR_OK || f->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_OK || n != 1) return 1;
    if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) return 1;
    if (login(s, CKU_USER, pin) != CKR_OK) return 1;
    if (f->C_FindObjectsInit(s, t, 2) != CKR_OK || f->C_FindObjects(s, &h, 1, &got) != CKR_OK || got != 1) return 1;
    (void)f->C_FindObjectsFinal(s);
    if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK) return 1;
    fwrite(der, 1, a.ulValueLen, stdout);
    return f->C_Finalize(NULL) == CKR_OK ? 0 : 1;
}

/* ---- Session objects across sessions ---------------------------------------- */

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, const char *label)
{
    CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, strlen(label)};
    CK_OBJECT_HANDLE h[2] = {0};
    CK_ULONG got = 0;
    if (f->C_FindObjectsInit(s, &t, 1) != CKR_OK) return CK_INVALID_HANDLE;
    if (f->C_FindObjects(s, h, 2, &got) != CKR_OK) got = 0;
    (void)f->C_FindObjectsFinal(s);
    return got == 1 ? h[0] : CK_INVALID_HANDLE;
}

/* An AES-256 key made by C_GenerateKey on s (session object unless token). */
static CK_RV aes_key(CK_SESSION_HANDLE s, const char *label, CK_BBOOL token, CK_BBOOL extractable,
                     CK_OBJECT_HANDLE *out)
{
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_TOKEN, &token, 1},       {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ENCRYPT, &yes, 1},       {CKA_DECRYPT, &yes, 1},             {CKA_WRAP, &yes, 1},
        {CKA_UNWRAP, &yes, 1},        {CKA_EXTRACTABLE, &extractable, 1},
    };
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    return f->C_GenerateKey(s, &m, t, 8, out);
}

/* An EC P-256 key pair made on s, session objects. */
static CK_RV ec_pair(CK_SESSION_HANDLE s, const char *label, CK_BBOOL token, CK_OBJECT_HANDLE *pub,
                     CK_OBJECT_HANDLE *priv)
{
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pubt[] = {{CKA_EC_PARAMS, p256, sizeof(p256)}, {CKA_TOKEN, &token, 1},
                           {CKA_VERIFY, &yes, 1}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_ATTRIBUTE privt[] = {{CKA_TOKEN, &token, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    return f->C_GenerateKeyPair(s, &m, pubt, 4, privt, 3, pub, priv);
}

static CK_RV sign_on(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, CK_BYTE *sig, CK_ULONG *sig_len)
{
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
    CK_RV rv = f->C_SignInit(s, &m, priv);
    if (rv != CKR_OK) return rv;
    return f->C_Sign(s, (CK_BYTE_PTR) "message", 7, sig, sig_len);
}

static CK_RV verify_on(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, CK_BYTE *sig, CK_ULONG sig_len)
{
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
    CK_RV rv = f->C_VerifyInit(s, &m, pub);
    if (rv != CKR_OK) return rv;
    return f->C_Verify(s, (CK_BYTE_PTR) "message", 7, sig, sig_len);
}

static int sessobj(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s1, s2, s3, s4;
    CK_OBJECT_HANDLE aes = 0, pub = 0, priv = 0, k2 = 0, tok = 0, h = 0;
    CK_BYTE sig[128], ct[64], pt[64];
    CK_ULONG sig_len = sizeof(sig), ct_len = sizeof(ct), pt_len = sizeof(pt);
    CK_BYTE iv[16] = {0};
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    CK_BYTE lbuf[32];
    CK_ATTRIBUTE lab = {CKA_LABEL, lbuf, sizeof(lbuf)};
    CHECK(f->C_Initialize(NULL), CKR_OK);
    CHECK(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s1), CKR_OK);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s3), CKR_OK);
    CHECK(login(s1, CKU_USER, pin), CKR_OK);

    /* Made on s1, seen and used on s2 (its own connection). */
    CHECK(aes_key(s1, "so-aes", CK_FALSE, CK_FALSE, &aes), CKR_OK);
    CHECK(ec_pair(s1, "so-ec", CK_FALSE, &pub, &priv), CKR_OK);
    CHECK(aes_key(s1, "so-tok", CK_TRUE, CK_FALSE, &tok), CKR_OK);
    CHECK(count_label(s1, "so-aes"), 1);
    CHECK(count_label(s2, "so-aes"), 1);
    CHECK(count_label(s2, "so-ec"), 2);
    EXPECT(find_one(s2, "so-aes") == aes);
    CHECK(f->C_GetAttributeValue(s2, aes, &lab, 1), CKR_OK);
    EXPECT(lab.ulValueLen == 6 && memcmp(lbuf, "so-aes", 6) == 0);
    CHECK(sign_on(s2, priv, sig, &sig_len), CKR_OK);
    CHECK(verify_on(s1, pub, sig, sig_len), CKR_OK);
    CHECK(verify_on(s3, pub, sig, sig_len), CKR_OK);
    CHECK(f->C_EncryptInit(s2, &cbc, aes), CKR_OK);
    CHECK(f->C_Encrypt(s2, (CK_BYTE_PTR) "sixteen byte msg", 16, ct, &ct_len), CKR_OK);
    EXPECT(ct_len == 32);
    CHECK(f->C_DecryptInit(s3, &cbc, aes), CKR_OK);
    CHECK(f->C_Decrypt(s3, ct, ct_len, pt, &pt_len), CKR_OK);
    EXPECT(pt_len == 16 && memcmp(pt, "sixteen byte msg", 16) == 0);
    /* A session object may be changed from a read-only session. */
    CK_ATTRIBUTE relabel = {CKA_LABEL, "so-aes2", 7};
    CHECK(f->C_SetAttributeValue(s2, aes, &relabel, 1), CKR_OK);
    CHECK(count_label(s1, "so-aes2"), 1);
    CHECK(count_label(s3, "so-aes2"), 1);
    CK_ULONG size = 0;
    CHECK(f->C_GetObjectSize(s3, aes, &size), CKR_OK);

    /* Made on the read-only s2, destroyed from s3. */
    CHECK(aes_key(s2, "so-2", CK_FALSE, CK_TRUE, &k2), CKR_OK);
    CHECK(count_label(s1, "so-2"), 1);
    CHECK(count_label(s3, "so-2"), 1);
    /* Wrap needs both keys on one connection: s1's key and s2's key cannot meet. */
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_BYTE wrapped[64];
    CK_ULONG wlen = sizeof(wrapped);
    CHECK(f->C_WrapKey(s3, &kw, aes, k2, wrapped, &wlen), CKR_FUNCTION_FAILED);
    /* A token wrapping key meets anyone's session key. */
    CK_OBJECT_HANDLE tokw = 0;
    CHECK(aes_key(s3, "so-tokw", CK_TRUE, CK_FALSE, &tokw), CKR_OK);
    wlen = sizeof(wrapped);
    CHECK(f->C_WrapKey(s1, &kw, tokw, k2, wrapped, &wlen), CKR_OK);
    EXPECT(wlen == 40);
    CHECK(f->C_DestroyObject(s3, k2), CKR_OK);
    CHECK(count_label(s1, "so-2"), 0);
    CHECK(count_label(s2, "so-2"), 0);
    CHECK(f->C_GetAttributeValue(s1, k2, &lab, 1), CKR_OBJECT_HANDLE_INVALID);

    /* An operation started on s2 with s1's key, then s1 closes: the key is gone. */
    CK_MECHANISM ecm = {CKM_ECDSA_SHA256, NULL, 0};
    CHECK(f->C_SignInit(s2, &ecm, priv), CKR_OK);
    CHECK(f->C_CloseSession(s1), CKR_OK);
    sig_len = sizeof(sig);
    CHECK(f->C_Sign(s2, (CK_BYTE_PTR) "message", 7, sig, &sig_len), CKR_KEY_HANDLE_INVALID);
    lab.ulValueLen = sizeof(lbuf);
    CHECK(f->C_GetAttributeValue(s2, aes, &lab, 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_GetAttributeValue(s3, pub, &lab, 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_SignInit(s3, &ecm, priv), CKR_KEY_HANDLE_INVALID);
    CHECK(f->C_EncryptInit(s3, &cbc, aes), CKR_KEY_HANDLE_INVALID);
    CHECK(f->C_DestroyObject(s3, aes), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_SetAttributeValue(s3, aes, &relabel, 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(count_label(s2, "so-aes2"), 0);
    CHECK(count_label(s3, "so-ec"), 0);
    /* The token objects made there stay. */
    CHECK(count_label(s2, "so-tok"), 1);
    lab.ulValueLen = sizeof(lbuf);
    CHECK(f->C_GetAttributeValue(s2, tok, &lab, 1), CKR_OK);

    /* Logout ends every session object (the appliance frees them with the login). */
    CHECK(ec_pair(s2, "so-priv", CK_FALSE, &pub, &priv), CKR_OK);
    CHECK(count_label(s3, "so-priv"), 2);
    CHECK(f->C_Logout(s3), CKR_OK);
    CHECK(login(s3, CKU_USER, pin), CKR_OK);
    CHECK(count_label(s3, "so-priv"), 0);
    CHECK(count_label(s2, "so-priv"), 0);
    CHECK(f->C_SignInit(s3, &ecm, priv), CKR_KEY_HANDLE_INVALID);

    /* C_CloseAllSessions: every session object with every session. */
    CHECK(aes_key(s3, "so-all", CK_FALSE, CK_FALSE, &h), CKR_OK);
    CHECK(f->C_CloseAllSessions(slot), CKR_OK);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s4), CKR_OK);
    CHECK(login(s4, CKU_USER, pin), CKR_OK);
    CHECK(count_label(s4, "so-all"), 0);
    CHECK(f->C_GetAttributeValue(s4, h, &lab, 1), CKR_OBJECT_HANDLE_INVALID);
    CHECK(f->C_DestroyObject(s4, tok), CKR_OK);
    CHECK(f->C_DestroyObject(s4, tokw), CKR_OK);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    if (failures == 0) printf("all session object checks passed\n");
    return failures;
}

/* ---- fork() ---------------------------------------------------------------- */

/* The socket inodes ("socket:[N]") open in this process; returns the count. */
static size_t socket_inodes(unsigned long *out, size_t max)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char path[300], link[128];
        unsigned long ino;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        if (len <= 0) continue;
        link[len] = '\0';
        if (sscanf(link, "socket:[%lu]", &ino) == 1) out[n++] = ino;
    }
    closedir(d);
    return n;
}

static bool has_inode(const unsigned long *set, size_t n, unsigned long ino)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == ino) return true;
    return false;
}

static int fork_child_uninitialised(void)
{
    CK_SLOT_ID slot[4];
    CK_ULONG n = 4;
    CK_SESSION_HANDLE s;
    CK_INFO info;
    CHECK(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(f->C_GetSlotList(CK_TRUE, slot, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(f->C_GetSessionInfo(1, &(CK_SESSION_INFO){0}), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    return failures;
}

static int fork_child_initialised(const unsigned long *inherited, size_t num_inherited)
{
    unsigned long now[256];
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s;
    CK_BYTE sig[128];
    CK_ULONG sig_len = sizeof(sig);
    CHECK(f->C_Initialize(NULL), CKR_OK);
    size_t num = socket_inodes(now, 256);
    for (size_t i = 0; i < num_inherited; i++) EXPECT(!has_inode(now, num, inherited[i]));
    CHECK(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    CHECK(login(s, CKU_USER, pin), CKR_OK);
    CK_OBJECT_CLASS want = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &want, sizeof(want)}, {CKA_LABEL, "fork-tok", 8}};
    CK_OBJECT_HANDLE hs[2];
    CK_ULONG got = 0;
    CHECK(f->C_FindObjectsInit(s, t, 2), CKR_OK);
    CHECK(f->C_FindObjects(s, hs, 2, &got), CKR_OK);
    CHECK(f->C_FindObjectsFinal(s), CKR_OK);
    EXPECT(got == 1);
    if (got == 1) CHECK(sign_on(s, hs[0], sig, &sig_len), CKR_OK);
    num = socket_inodes(now, 256);
    for (size_t i = 0; i < num_inherited; i++) EXPECT(!has_inode(now, num, inherited[i]));
    CHECK(f->C_Finalize(NULL), CKR_OK);
    return failures;
}

static int run_child(int which, const unsigned long *inherited, size_t num_inherited)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        int rc = which == 0 ? fork_child_uninitialised() : fork_child_initialised(inherited, num_inherited);
        fflush(stdout);
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return 1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int forked(void)
{
    unsigned long before[256], after[256], inherited[256];
    size_t nb = socket_inodes(before, 256), ni = 0;
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s[3];
    CK_OBJECT_HANDLE key[3], pub = 0, priv = 0;
    CK_BYTE iv[16] = {0}, ct[64], sig[128];
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    CHECK(f->C_Initialize(NULL), CKR_OK);
    CHECK(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    for (int i = 0; i < 3; i++)
        CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s[i]), CKR_OK);
    CHECK(login(s[0], CKU_USER, pin), CKR_OK);
    for (int i = 0; i < 3; i++) CHECK(aes_key(s[i], "fork-sess", CK_FALSE, CK_FALSE, &key[i]), CKR_OK);
    CHECK(ec_pair(s[0], "fork-tok", CK_TRUE, &pub, &priv), CKR_OK);
    size_t na = socket_inodes(after, 256);
    for (size_t i = 0; i < na; i++)
        if (!has_inode(before, nb, after[i])) inherited[ni++] = after[i];
    EXPECT(ni == 3); /* one connection per session */

    EXPECT(run_child(0, inherited, ni) == 0);
    EXPECT(run_child(1, inherited, ni) == 0);

    /* The parent's sessions, their login and their session objects are intact:
     * a TLS close_notify from a child would have ended them (a reconnection
     * loses the session objects). */
    for (int i = 0; i < 3; i++) {
        CK_ULONG ct_len = sizeof(ct), sig_len = sizeof(sig);
        EXPECT(state_of(s[i]) == CKS_RW_USER_FUNCTIONS);
        CHECK(f->C_EncryptInit(s[i], &cbc, key[i]), CKR_OK);
        CHECK(f->C_Encrypt(s[i], (CK_BYTE_PTR) "sixteen byte msg", 16, ct, &ct_len), CKR_OK);
        CHECK(sign_on(s[i], priv, sig, &sig_len), CKR_OK);
    }
    CHECK(count_label(s[1], "fork-sess"), 3);
    size_t nn = socket_inodes(after, 256);
    for (size_t i = 0; i < ni; i++) EXPECT(has_inode(after, nn, inherited[i]));
    CHECK(f->C_DestroyObject(s[0], pub), CKR_OK);
    CHECK(f->C_DestroyObject(s[0], priv), CKR_OK);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    if (failures == 0) printf("all fork checks passed\n");
    return failures;
}

/* C_InitToken while another application (here: a child process) is logged
 * in to the token: CKR_SESSION_EXISTS, nothing erased. */
static int init_token_busy(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE k = 0;
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof(label));
    memcpy(label, "p1", 2);
    CHECK(f->C_Initialize(NULL), CKR_OK);
    CHECK(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    CHECK(login(s, CKU_USER, pin), CKR_OK);
    CHECK(aes_key(s, "busy-tok", CK_TRUE, CK_FALSE, &k), CKR_OK);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        CK_SLOT_ID cs;
        CK_ULONG cn = 1;
        CHECK(f->C_Initialize(NULL), CKR_OK);
        CHECK(f->C_GetSlotList(CK_TRUE, &cs, &cn), CKR_OK);
        CHECK(f->C_InitToken(cs, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), label), CKR_SESSION_EXISTS);
        CHECK(f->C_Finalize(NULL), CKR_OK);
        fflush(stdout);
        _exit(failures == 0 ? 0 : 1);
    }
    int status = 0;
    EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(count_label(s, "busy-tok"), 1);
    CHECK(f->C_DestroyObject(s, k), CKR_OK);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    if (failures == 0) printf("all init token busy checks passed\n");
    return failures;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[2], "spki") == 0) argc = 3;
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODULE semantics|hold\n", argv[0]);
        return 2;
    }
    pin = getenv("ARCA_PIN");
    so_pin = getenv("ARCA_SO_PIN");
    if (pin == NULL || so_pin == NULL) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    if (get == NULL || get(&f) != CKR_OK) return 2;
    if (strcmp(argv[2], "spki") == 0) return spki(argv[3]);
    int rc = strcmp(argv[2], "hold") == 0      ? hold()
             : strcmp(argv[2], "threads") == 0 ? threads()
             : strcmp(argv[2], "sessobj") == 0 ? sessobj()
             : strcmp(argv[2], "fork") == 0    ? forked()
             : strcmp(argv[2], "busy") == 0    ? init_token_busy()
                                               : semantics();
    if (rc == 0 && strcmp(argv[2], "semantics") == 0) printf("all semantics checks passed\n");
    return rc == 0 ? 0 : 1;
}
