/* libarca-pkcs11 through its PKCS#11 entry points, without an appliance
 * (ARCA_PKCS11_CONF names a file that does not exist: no slots):
 * C_GetFunctionList / C_GetInterfaceList / C_GetInterface, C_Initialize's
 * argument rules and caller-supplied mutexes, C_Finalize, C_GetInfo, the
 * answers before initialisation, invalid slots and session handles,
 * C_WaitForSlotEvent, and fork (a child gets CKR_CRYPTOKI_NOT_INITIALIZED
 * until it calls C_Initialize, which then works). The same calls against a
 * real appliance: tests/integration/test_pkcs11_tool.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11_internal.h"

static int g_created, g_locked, g_unlocked, g_destroyed;

static CK_RV my_create(CK_VOID_PTR_PTR m)
{
    g_created++;
    *m = calloc(1, sizeof(int));
    return *m == NULL ? CKR_HOST_MEMORY : CKR_OK;
}
static CK_RV my_destroy(CK_VOID_PTR m)
{
    g_destroyed++;
    free(m);
    return CKR_OK;
}
static CK_RV my_lock(CK_VOID_PTR m)
{
    g_locked++;
    (*(int *)m)++;
    return CKR_OK;
}
static CK_RV my_unlock(CK_VOID_PTR m)
{
    g_unlocked++;
    (*(int *)m)--;
    return CKR_OK;
}

static int setup(void **state)
{
    (void)state;
    setenv("ARCA_PKCS11_CONF", "/nonexistent/arca-pkcs11-test.conf", 1);
    g_created = g_locked = g_unlocked = g_destroyed = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    (void)C_Finalize(NULL);
    return 0;
}

static void test_function_list(void **state)
{
    (void)state;
    CK_FUNCTION_LIST_PTR fl = NULL;
    assert_int_equal(C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetFunctionList(&fl), CKR_OK);
    assert_non_null(fl);
    assert_int_equal(fl->version.major, 2);
    assert_int_equal(fl->version.minor, 40);
    /* Every one of the 68 entries of the 2.40 list is present. */
    size_t n = (sizeof(*fl) - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(void (*)(void));
    assert_int_equal(n, 68);
    void (*const *fns)(void) = (void (*const *)(void))(const void *)&fl->C_Initialize;
    for (size_t i = 0; i < n; i++) assert_non_null(fns[i]);
    assert_ptr_equal(fl->C_Initialize, C_Initialize);
    assert_ptr_equal(fl->C_WaitForSlotEvent, C_WaitForSlotEvent);
}

static void test_interfaces(void **state)
{
    (void)state;
    CK_ULONG n = 0;
    CK_INTERFACE list[2];
    CK_INTERFACE_PTR it = NULL;
    CK_FUNCTION_LIST_PTR fl = NULL;
    assert_int_equal(C_GetFunctionList(&fl), CKR_OK);
    assert_int_equal(C_GetInterfaceList(NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetInterfaceList(NULL, &n), CKR_OK);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(C_GetInterfaceList(list, &n), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 1);
    n = 2;
    assert_int_equal(C_GetInterfaceList(list, &n), CKR_OK);
    assert_int_equal(n, 1);
    assert_string_equal((const char *)list[0].pInterfaceName, "PKCS 11");
    assert_ptr_equal(list[0].pFunctionList, fl);
    assert_int_equal(list[0].flags, CKF_INTERFACE_FORK_SAFE);

    assert_int_equal(C_GetInterface(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetInterface(NULL, NULL, &it, 0), CKR_OK);
    assert_ptr_equal(it->pFunctionList, fl);
    it = NULL;
    assert_int_equal(C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &it, CKF_INTERFACE_FORK_SAFE), CKR_OK);
    assert_ptr_equal(it->pFunctionList, fl);
    CK_VERSION v240 = {2, 40}, v30 = {3, 0};
    assert_int_equal(C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &it, 0), CKR_OK);
    /* Not offered: a 3.0 list, another interface name, unknown flags. */
    assert_int_equal(C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &it, 0), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetInterface((CK_UTF8CHAR_PTR) "Vendor Arca", NULL, &it, 0), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetInterface(NULL, NULL, &it, 0x80), CKR_ARGUMENTS_BAD);
}

static void test_not_initialised(void **state)
{
    (void)state;
    CK_INFO info;
    CK_ULONG n = 0;
    CK_SESSION_HANDLE h = 0;
    CK_SLOT_ID slot = 0;
    assert_int_equal(C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(C_GetSessionInfo(1, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(C_CloseSession(1), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
}

static void test_initialize_args(void **state)
{
    (void)state;
    CK_C_INITIALIZE_ARGS a;
    int reserved;

    memset(&a, 0, sizeof(a));
    a.pReserved = &reserved;
    assert_int_equal(C_Initialize(&a), CKR_ARGUMENTS_BAD);
    /* Some mutex callbacks but not all four. */
    memset(&a, 0, sizeof(a));
    a.CreateMutex = my_create;
    a.LockMutex = my_lock;
    assert_int_equal(C_Initialize(&a), CKR_ARGUMENTS_BAD);
    a.flags = CKF_OS_LOCKING_OK;
    assert_int_equal(C_Initialize(&a), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetInfo(&(CK_INFO){0}), CKR_CRYPTOKI_NOT_INITIALIZED);

    /* NULL: no threads or OS locking; fine. */
    assert_int_equal(C_Initialize(NULL), CKR_OK);
    assert_int_equal(C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal(C_Finalize(&reserved), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_Finalize(NULL), CKR_OK);
    assert_int_equal(C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);

    /* Only CKF_OS_LOCKING_OK. */
    memset(&a, 0, sizeof(a));
    a.flags = CKF_OS_LOCKING_OK;
    assert_int_equal(C_Initialize(&a), CKR_OK);
    assert_int_equal(C_Finalize(NULL), CKR_OK);
}

static void test_caller_mutexes(void **state)
{
    (void)state;
    CK_C_INITIALIZE_ARGS a;
    CK_ULONG n = 99;
    memset(&a, 0, sizeof(a));
    a.CreateMutex = my_create;
    a.DestroyMutex = my_destroy;
    a.LockMutex = my_lock;
    a.UnlockMutex = my_unlock;
    /* Callbacks and CKF_OS_LOCKING_OK: the module may use the OS's. */
    a.flags = CKF_OS_LOCKING_OK;
    assert_int_equal(C_Initialize(&a), CKR_OK);
    assert_int_equal(C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    assert_int_equal(C_Finalize(NULL), CKR_OK);
    assert_int_equal(g_created, 0);
    assert_int_equal(g_locked, 0);

    /* Callbacks without the flag: the application's mutexes are used,
     * balanced, and destroyed at C_Finalize. */
    a.flags = 0;
    assert_int_equal(C_Initialize(&a), CKR_OK);
    assert_true(g_created >= 1);
    assert_int_equal(C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    assert_int_equal(n, 0);
    assert_true(g_locked >= 1);
    assert_int_equal(g_locked, g_unlocked);
    assert_int_equal(C_Finalize(NULL), CKR_OK);
    assert_int_equal(g_created, g_destroyed);
    assert_int_equal(g_locked, g_unlocked);
}

static void test_info_and_no_slots(void **state)
{
    (void)state;
    CK_INFO info;
    CK_ULONG n = 99;
    CK_SLOT_ID slots[4];
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_SESSION_HANDLE h = 0;
    CK_SLOT_ID ev = 0;
    CK_MECHANISM_TYPE mechs[4];
    CK_MECHANISM_INFO mi;
    assert_int_equal(C_Initialize(NULL), CKR_OK);
    assert_int_equal(C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetInfo(&info), CKR_OK);
    assert_int_equal(info.cryptokiVersion.major, 2);
    assert_int_equal(info.cryptokiVersion.minor, 40);
    assert_memory_equal(info.manufacturerID, "Arca ", 5);
    assert_int_equal(info.manufacturerID[31], ' ');
    assert_int_equal(info.flags, 0);

    assert_int_equal(C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
    assert_int_equal(n, 0);
    n = 4;
    assert_int_equal(C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(C_GetSlotInfo(0, &si), CKR_SLOT_ID_INVALID);
    assert_int_equal(C_GetTokenInfo(0, &ti), CKR_SLOT_ID_INVALID);
    n = 4;
    assert_int_equal(C_GetMechanismList(0, mechs, &n), CKR_SLOT_ID_INVALID);
    assert_int_equal(C_GetMechanismInfo(0, CKM_ECDSA, &mi), CKR_SLOT_ID_INVALID);
    assert_int_equal(C_InitToken(0, (CK_UTF8CHAR_PTR) "12345678", 8, (CK_UTF8CHAR_PTR) "label"), CKR_SLOT_ID_INVALID);
    assert_int_equal(C_CloseAllSessions(0), CKR_SLOT_ID_INVALID);

    /* C_OpenSession's checks, in the standard's order. */
    assert_int_equal(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_OpenSession(0, CKF_RW_SESSION, NULL, NULL, &h), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    assert_int_equal(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SLOT_ID_INVALID);

    /* Session handles that do not exist. */
    CK_SESSION_INFO sinfo;
    assert_int_equal(C_GetSessionInfo(1, &sinfo), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_GetSessionInfo(CK_INVALID_HANDLE, &sinfo), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_CloseSession(7), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_Login(7, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_Logout(7), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_FindObjectsInit(7, NULL, 0), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_FindObjectsFinal(7), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_GetAttributeValue(7, 1, NULL, 0), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_DestroyObject(7, 1), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_InitPIN(7, (CK_UTF8CHAR_PTR) "1234", 4), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_SetPIN(7, (CK_UTF8CHAR_PTR) "1234", 4, (CK_UTF8CHAR_PTR) "5678", 4),
                     CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_GetFunctionStatus(7), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_CancelFunction(7), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(C_GetOperationState(7, NULL, &n), CKR_SESSION_HANDLE_INVALID);

    /* Slot events: none without blocking; blocking is not offered. */
    assert_int_equal(C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, &ev), CKR_ARGUMENTS_BAD);
    assert_int_equal(C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL), CKR_NO_EVENT);
    assert_int_equal(C_WaitForSlotEvent(0, &ev, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(C_Finalize(NULL), CKR_OK);
}

/* A forked child: not initialised until it calls C_Initialize itself;
 * then it works, and the parent is unaffected. Exit status 0 = all good,
 * else the number of the failed check. */
static int child_checks(void)
{
    CK_INFO info;
    CK_ULONG n = 0;
    if (C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED) return 1;
    if (C_GetSlotList(CK_FALSE, NULL, &n) != CKR_CRYPTOKI_NOT_INITIALIZED) return 2;
    if (C_GetSessionInfo(1, NULL) != CKR_CRYPTOKI_NOT_INITIALIZED) return 3;
    if (C_Finalize(NULL) != CKR_CRYPTOKI_NOT_INITIALIZED) return 4;
    if (C_Initialize(NULL) != CKR_OK) return 5;
    if (C_GetInfo(&info) != CKR_OK) return 6;
    if (C_GetSlotList(CK_FALSE, NULL, &n) != CKR_OK) return 7;
    if (C_Initialize(NULL) != CKR_CRYPTOKI_ALREADY_INITIALIZED) return 8;
    if (C_Finalize(NULL) != CKR_OK) return 9;
    return 0;
}

static void test_fork(void **state)
{
    (void)state;
    CK_INFO info;
    assert_int_equal(C_Initialize(NULL), CKR_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(child_checks());
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    assert_int_equal(C_GetInfo(&info), CKR_OK);
    assert_int_equal(C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal(C_Finalize(NULL), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_function_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interfaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_initialised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initialize_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caller_mutexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_and_no_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
