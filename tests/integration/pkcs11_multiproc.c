/* Driver for tests/integration/test_pkcs11_multiprocess.sh: several
 * processes using one token of libarca-pkcs11.so at once (loaded with
 * dlopen, C_Initialize with CKF_OS_LOCKING_OK).
 *
 *   pkcs11_multiproc MODULE sign SECONDS STATUS
 *     two threads, each with its own session, sign for SECONDS: thread 0
 *     with the EC key labelled mp-ec (CKM_ECDSA_SHA256), thread 1 with the
 *     RSA key mp-rsa (CKM_SHA256_RSA_PKCS); every 10th signature is verified
 *     with C_Verify. Every 10th round a thread reads STATUS (written by the
 *     creator: "K D" = the key mp-keep-K was created, mp-tmp-D was destroyed)
 *     and expects a find by label to answer exactly one object for mp-keep-K
 *     and none for mp-tmp-D. Prints
 *       signer PID: signatures S verified V new-keys-seen N destroyed-gone G errors E
 *     and exits 0 only when E = 0.
 *   pkcs11_multiproc MODULE create SECONDS STATUS
 *     for SECONDS: generates the AES-256 token key mp-keep-<i> (kept), the
 *     EC P-256 token key pair mp-tmp-<i>, destroys both halves of the pair,
 *     then writes "i i" to STATUS (rename of a temporary file). Prints
 *       creator PID: kept K created-destroyed C errors E
 *     and exits 0 only when E = 0.
 *   pkcs11_multiproc MODULE check K -
 *     afterwards: a find by label answers exactly one object for each of
 *     mp-keep-0 .. mp-keep-<K-1> and none for mp-tmp-0 .. mp-tmp-<K-1>;
 *     prints "check: K kept keys found, K destroyed pairs gone" (or each
 *     miss on stderr) and exits 0 only when all are as expected.
 * User PIN from ARCA_PIN; token = the first slot's. Built by the test with cc. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static const char *pin, *status_path;
static double deadline;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define ERR(what, rv) fprintf(stderr, "pkcs11_multiproc[%d]: %s: 0x%lx\n", (int)getpid(), what, (CK_RV)(rv))

static CK_RV open_session(CK_SESSION_HANDLE *s)
{
    CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
    if (rv != CKR_OK) return rv;
    rv = f->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    /* Login is per application: a second session is already logged in. */
    return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

/* Number of objects with this label and class (or -1 on error). */
static long count_label(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *first)
{
    CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, strlen(label)};
    CK_OBJECT_HANDLE h[8];
    CK_ULONG got = 0;
    CK_RV rv = f->C_FindObjectsInit(s, &t, 1);
    if (rv != CKR_OK) return ERR("C_FindObjectsInit", rv), -1;
    rv = f->C_FindObjects(s, h, 8, &got);
    CK_RV rv2 = f->C_FindObjectsFinal(s);
    if (rv != CKR_OK || rv2 != CKR_OK) return ERR("C_FindObjects/Final", rv != CKR_OK ? rv : rv2), -1;
    if (first && got > 0) *first = h[0];
    return (long)got;
}

static CK_RV find_key(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *h)
{
    CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)label, strlen(label)}, {CKA_CLASS, &cls, sizeof(cls)}};
    CK_ULONG got = 0;
    CK_RV rv = f->C_FindObjectsInit(s, t, 2);
    if (rv != CKR_OK) return rv;
    rv = f->C_FindObjects(s, h, 1, &got);
    CK_RV rv2 = f->C_FindObjectsFinal(s);
    if (rv == CKR_OK) rv = rv2;
    return rv == CKR_OK && got != 1 ? CKR_GENERAL_ERROR : rv;
}

static int read_status(long *keep, long *gone)
{
    FILE *fp = fopen(status_path, "r");
    if (!fp) return 0;
    int n = fscanf(fp, "%ld %ld", keep, gone);
    fclose(fp);
    return n == 2;
}

struct signer {
    int idx;
    long sigs, verified, seen, gone, errors;
};

static void *sign_thread(void *arg)
{
    struct signer *me = arg;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE priv, pub;
    const char *label = me->idx == 0 ? "mp-ec" : "mp-rsa";
    CK_MECHANISM mech = {me->idx == 0 ? CKM_ECDSA_SHA256 : CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_RV rv = open_session(&s);
    if (rv != CKR_OK) return ERR("open/login", rv), me->errors++, NULL;
    if ((rv = find_key(s, label, CKO_PRIVATE_KEY, &priv)) != CKR_OK ||
        (rv = find_key(s, label, CKO_PUBLIC_KEY, &pub)) != CKR_OK) {
        ERR(label, rv);
        me->errors++;
        return NULL;
    }
    unsigned char data[100], sig[512];
    for (long round = 0; now_s() < deadline; round++) {
        snprintf((char *)data, sizeof(data), "pid %d thread %d round %ld", (int)getpid(), me->idx, round);
        CK_ULONG dlen = (CK_ULONG)strlen((char *)data), slen = sizeof(sig);
        if ((rv = f->C_SignInit(s, &mech, priv)) != CKR_OK || (rv = f->C_Sign(s, data, dlen, sig, &slen)) != CKR_OK) {
            ERR("sign", rv);
            me->errors++;
            continue;
        }
        me->sigs++;
        if (round % 10 == 0) {
            if ((rv = f->C_VerifyInit(s, &mech, pub)) != CKR_OK || (rv = f->C_Verify(s, data, dlen, sig, slen)) != CKR_OK) {
                ERR("verify", rv);
                me->errors++;
            } else {
                me->verified++;
            }
            long keep, gone;
            if (read_status(&keep, &gone)) {
                char l[40];
                snprintf(l, sizeof(l), "mp-keep-%ld", keep);
                long n = count_label(s, l, NULL);
                if (n == 1) {
                    me->seen++;
                } else {
                    fprintf(stderr, "pkcs11_multiproc[%d]: %s: %ld objects, expected 1\n", (int)getpid(), l, n);
                    me->errors++;
                }
                snprintf(l, sizeof(l), "mp-tmp-%ld", gone);
                n = count_label(s, l, NULL);
                if (n == 0) {
                    me->gone++;
                } else {
                    fprintf(stderr, "pkcs11_multiproc[%d]: %s: %ld objects, expected 0\n", (int)getpid(), l, n);
                    me->errors++;
                }
            }
        }
    }
    rv = f->C_CloseSession(s);
    if (rv != CKR_OK) ERR("C_CloseSession", rv), me->errors++;
    return NULL;
}

static int run_sign(void)
{
    pthread_t th[2];
    struct signer sg[2] = {{.idx = 0}, {.idx = 1}};
    CK_SESSION_HANDLE keep; /* holds the login for the threads' sessions */
    CK_RV rv = open_session(&keep);
    if (rv != CKR_OK) return ERR("open/login", rv), 1;
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, sign_thread, &sg[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    long errors = sg[0].errors + sg[1].errors;
    if ((rv = f->C_CloseSession(keep)) != CKR_OK) ERR("C_CloseSession", rv), errors++;
    printf("signer %d: signatures %ld verified %ld new-keys-seen %ld destroyed-gone %ld errors %ld\n", (int)getpid(),
           sg[0].sigs + sg[1].sigs, sg[0].verified + sg[1].verified, sg[0].seen + sg[1].seen, sg[0].gone + sg[1].gone,
           errors);
    printf("signer %d: thread 0 (ECDSA) %ld signatures, thread 1 (RSA) %ld signatures\n", (int)getpid(), sg[0].sigs,
           sg[1].sigs);
    return errors == 0 ? 0 : 1;
}

static int run_create(void)
{
    CK_SESSION_HANDLE s;
    long kept = 0, churned = 0, errors = 0;
    CK_RV rv = open_session(&s);
    if (rv != CKR_OK) return ERR("open/login", rv), 1;
    CK_BBOOL yes = CK_TRUE;
    CK_ULONG len = 32;
    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    for (long i = 0; now_s() < deadline; i++) {
        char kl[40], tl[40], tmp[4096];
        snprintf(kl, sizeof(kl), "mp-keep-%ld", i);
        snprintf(tl, sizeof(tl), "mp-tmp-%ld", i);
        CK_MECHANISM aes = {CKM_AES_KEY_GEN, NULL, 0}, ec = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
        CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, 1}, {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_LABEL, kl, strlen(kl)},
                             {CKA_ENCRYPT, &yes, 1}};
        CK_ATTRIBUTE pubt[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_LABEL, tl, strlen(tl)},
                               {CKA_VERIFY, &yes, 1}};
        CK_ATTRIBUTE privt[] = {{CKA_TOKEN, &yes, 1}, {CKA_LABEL, tl, strlen(tl)}, {CKA_SIGN, &yes, 1}};
        CK_OBJECT_HANDLE k, pub, priv;
        if ((rv = f->C_GenerateKey(s, &aes, kt, 4, &k)) != CKR_OK) {
            ERR("C_GenerateKey", rv);
            errors++;
            continue;
        }
        kept++;
        if ((rv = f->C_GenerateKeyPair(s, &ec, pubt, 4, privt, 3, &pub, &priv)) != CKR_OK) {
            ERR("C_GenerateKeyPair", rv);
            errors++;
            continue;
        }
        if ((rv = f->C_DestroyObject(s, pub)) != CKR_OK || (rv = f->C_DestroyObject(s, priv)) != CKR_OK) {
            ERR("C_DestroyObject", rv);
            errors++;
            continue;
        }
        churned++;
        snprintf(tmp, sizeof(tmp), "%s.tmp", status_path);
        FILE *fp = fopen(tmp, "w");
        if (!fp || fprintf(fp, "%ld %ld\n", i, i) < 0 || fclose(fp) != 0 || rename(tmp, status_path) != 0) {
            fprintf(stderr, "pkcs11_multiproc: cannot write %s\n", status_path);
            return 1;
        }
    }
    if ((rv = f->C_CloseSession(s)) != CKR_OK) ERR("C_CloseSession", rv), errors++;
    printf("creator %d: kept %ld created-destroyed %ld errors %ld\n", (int)getpid(), kept, churned, errors);
    return errors == 0 ? 0 : 1;
}

static int run_check(long k)
{
    CK_SESSION_HANDLE s;
    long found = 0, gone = 0;
    CK_RV rv = open_session(&s);
    if (rv != CKR_OK) return ERR("open/login", rv), 1;
    for (long i = 0; i < k; i++) {
        char l[40];
        snprintf(l, sizeof(l), "mp-keep-%ld", i);
        long n = count_label(s, l, NULL);
        if (n == 1) found++;
        else fprintf(stderr, "check: %s: %ld objects, expected 1\n", l, n);
        snprintf(l, sizeof(l), "mp-tmp-%ld", i);
        n = count_label(s, l, NULL);
        if (n == 0) gone++;
        else fprintf(stderr, "check: %s: %ld objects, expected 0\n", l, n);
    }
    (void)f->C_CloseSession(s);
    printf("check: %ld kept keys found, %ld destroyed pairs gone\n", found, gone);
    return found == k && gone == k ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 5 || !(pin = getenv("ARCA_PIN"))) {
        fprintf(stderr, "usage: ARCA_PIN=.. pkcs11_multiproc MODULE sign|create SECONDS STATUS | check K -\n");
        return 2;
    }
    status_path = argv[4];
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) return fprintf(stderr, "%s\n", dlerror()), 1;
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    if (!gfl || gfl(&f) != CKR_OK) return fprintf(stderr, "no C_GetFunctionList\n"), 1;
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
    CK_RV rv = f->C_Initialize(&ia);
    if (rv != CKR_OK) return ERR("C_Initialize", rv), 1;
    CK_ULONG n = 1;
    rv = f->C_GetSlotList(CK_TRUE, &slot, &n);
    if (rv != CKR_OK || n != 1) return ERR("C_GetSlotList (expected one slot)", rv), 1;
    deadline = now_s() + atof(argv[3]);
    int ret = strcmp(argv[2], "sign") == 0     ? run_sign()
              : strcmp(argv[2], "create") == 0 ? run_create()
              : strcmp(argv[2], "check") == 0  ? run_check(atol(argv[3]))
                                               : 2;
    rv = f->C_Finalize(NULL);
    if (rv != CKR_OK) ERR("C_Finalize", rv), ret = 1;
    dlclose(lib);
    return ret;
}
