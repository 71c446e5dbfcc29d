/* pkcs11_find: times find-by-label through libarca-pkcs11.so, loaded with
 * dlopen as an application loads it (bench/pkcs11_find_100k.sh builds it
 * with cc).
 *
 *   pkcs11_find MODULE TOKEN N K
 *     logs in to the token labelled TOKEN (user PIN from ARCA_PIN), then K
 *     times picks a random i < N and times C_FindObjectsInit(CKA_LABEL =
 *     "bench-<i>") + C_FindObjects + C_FindObjectsFinal; every find must
 *     return exactly one object. Prints p50, p99, max and mean in ms.
 *     Exit status 1 on any error or a find that does not find exactly one. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 5 || !getenv("ARCA_PIN")) {
        fprintf(stderr, "usage: ARCA_PIN=.. pkcs11_find MODULE TOKEN N K\n");
        return 2;
    }
    const char *pin = getenv("ARCA_PIN"), *token = argv[2];
    long n = atol(argv[3]), k = atol(argv[4]);
    if (n <= 0 || k <= 0) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "pkcs11_find: %s\n", dlerror());
        return 1;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f = NULL;
    if (!gfl || gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
        fprintf(stderr, "pkcs11_find: cannot initialise the module\n");
        return 1;
    }
    CK_SLOT_ID slots[64];
    CK_ULONG ns = 64;
    CK_RV rv = f->C_GetSlotList(CK_TRUE, slots, &ns);
    CK_SLOT_ID slot = (CK_SLOT_ID)-1;
    for (CK_ULONG i = 0; rv == CKR_OK && i < ns; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK) continue;
        size_t l = strlen(token);
        if (l <= 32 && memcmp(ti.label, token, l) == 0 && (l == 32 || ti.label[l] == ' ')) slot = slots[i];
    }
    if (slot == (CK_SLOT_ID)-1) {
        fprintf(stderr, "pkcs11_find: no token %s (C_GetSlotList 0x%lx, %lu slots)\n", token, rv, ns);
        return 1;
    }
    CK_SESSION_HANDLE s;
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv == CKR_OK) rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK) {
        fprintf(stderr, "pkcs11_find: open/login: 0x%lx\n", rv);
        return 1;
    }
    double *t = calloc((size_t)k, sizeof(double)), sum = 0;
    if (!t) return 1;
    srand(4242);
    for (long j = 0; j < k; j++) {
        char label[32];
        int l = snprintf(label, sizeof(label), "bench-%ld", (long)(((unsigned long)rand() * 65536ul + (unsigned long)rand()) % (unsigned long)n));
        CK_ATTRIBUTE tmpl = {CKA_LABEL, label, (CK_ULONG)l};
        CK_OBJECT_HANDLE h[4];
        CK_ULONG got = 0;
        double t0 = now_s();
        rv = f->C_FindObjectsInit(s, &tmpl, 1);
        if (rv == CKR_OK) rv = f->C_FindObjects(s, h, 4, &got);
        CK_RV rv2 = f->C_FindObjectsFinal(s);
        t[j] = now_s() - t0;
        sum += t[j];
        if (rv != CKR_OK || rv2 != CKR_OK || got != 1) {
            fprintf(stderr, "pkcs11_find: find %s: 0x%lx / 0x%lx, %lu found (expected 1)\n", label, rv, rv2, got);
            return 1;
        }
    }
    qsort(t, (size_t)k, sizeof(double), cmp_d);
    printf("find by label through libarca-pkcs11.so among %ld objects: p50 %.3f ms, p99 %.3f ms, max %.3f ms, "
           "mean %.3f ms (%ld finds)\n",
           n, t[k / 2] * 1e3, t[(k * 99) / 100] * 1e3, t[k - 1] * 1e3, sum / (double)k * 1e3, k);
    free(t);
    f->C_Logout(s);
    f->C_CloseSession(s);
    f->C_Finalize(NULL);
    dlclose(lib);
    return 0;
}
