/* Encrypt, decrypt, sign, verify (through the appliance) and digest
 * (locally, OpenSSL), single- and multi-part.
 *
 * Multi-part operations accumulate their input in the session's op (up to
 * ARCA_LP_DATA_MAX, the appliance's per-call cap; more is
 * CKR_DATA_LEN_RANGE / CKR_ENCRYPTED_DATA_LEN_RANGE) and make one
 * appliance call at C_*Final; C_EncryptUpdate / C_DecryptUpdate therefore
 * return no output (allowed by the standard: output may lag input).
 *
 * The two-call length convention: the first call that needs the output
 * asks the appliance once and caches the result in the op; a call with a
 * NULL buffer or a buffer too small reports the length (CKR_OK /
 * CKR_BUFFER_TOO_SMALL) and leaves the op active; the call that receives
 * the output ends it. Any other error ends the op too. So a signature is
 * never computed twice, and a plaintext is held only in the op (wiped). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "p11_internal.h"

typedef struct op_ext {
    bool multi;          /* C_*Update was called */
    bool have_out;       /* out holds the appliance's answer */
    uint8_t *out;        /* malloc'd; wiped before free */
    size_t out_len;
    CK_KEY_TYPE key_type;
    size_t sig_len;      /* verify: the signature length of this key; 0 unknown */
    size_t digest_len;   /* digest ops */
} op_ext;

static void ext_free(void *p)
{
    op_ext *x = p;

    if (x == NULL) return;
    if (x->out != NULL) arca_client_free_secret(x->out, x->out_len);
    arca_wipe(x, sizeof(*x));
    free(x);
}

static op_ext *ext_of(arca_p11_op *op)
{
    return op->ext;
}

/* ---- key checks at C_*Init ---- */

/* One attribute through the session's connection; *out malloc'd. */
static arca_status get_attr(arca_p11_session *s, const arca_client_id *id, CK_ATTRIBUTE_TYPE type, uint8_t **out,
                            size_t *out_len)
{
    arca_client *c = NULL;
    /* Another session's session object: over that session's connection. */
    if (arca_p11_client_for(s, id, CKR_KEY_HANDLE_INVALID, &c, NULL) != CKR_OK) return ARCA_ERR_NOT_FOUND;
    return arca_client_get_attribute(c, id, (uint32_t)type, out, out_len);
}

static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_P521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

static bool same(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

static size_t hash_len(CK_MECHANISM_TYPE h)
{
    switch (h) {
    case CKM_SHA256: return 32;
    case CKM_SHA384: return 48;
    case CKM_SHA512: return 64;
    default: return 0;
    }
}

/* The length of this key's signatures under d (0 when unknown). */
static CK_RV signature_len(arca_p11_session *s, const arca_client_id *id, const arca_p11_mech_desc *d,
                           CK_KEY_TYPE kt, size_t *out)
{
    uint8_t *v = NULL;
    size_t v_len = 0;
    arca_status st;
    CK_ULONG bits = 0;
    CK_RV rv = CKR_OK;

    *out = 0;
    switch (kt) {
    case CKK_RSA:
        rv = arca_p11_object_ulong(s, id, CKA_MODULUS_BITS, CKR_KEY_HANDLE_INVALID, &bits);
        if (rv == CKR_OK) *out = (size_t)(bits + 7) / 8;
        return rv;
    case CKK_EC:
        st = get_attr(s, id, CKA_EC_PARAMS, &v, &v_len);
        if (st != ARCA_OK) return arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
        if (same(v, v_len, OID_P256, sizeof(OID_P256))) *out = 64;
        if (same(v, v_len, OID_P384, sizeof(OID_P384))) *out = 96;
        if (same(v, v_len, OID_P521, sizeof(OID_P521))) *out = 132;
        free(v);
        return CKR_OK;
    case CKK_EC_EDWARDS: *out = 64; return CKR_OK;
    case CKK_GENERIC_SECRET:
    case CKK_AES: *out = hash_len(d->hash); return CKR_OK;
    default: return CKR_KEY_TYPE_INCONSISTENT;
    }
}

/* The key fits the mechanism (type), may be used this way (usage_attr
 * true) and with this mechanism (CKA_ALLOWED_MECHANISMS, when the object
 * has it: the check is here because the keystore does not keep it). */
static CK_RV key_check(arca_p11_session *s, const arca_client_id *id, const arca_p11_mech_desc *d,
                       CK_ATTRIBUTE_TYPE usage_attr, CK_KEY_TYPE *out_kt)
{
    uint8_t *v = NULL;
    size_t v_len = 0;
    arca_status st;
    CK_ULONG kt = 0;
    CK_RV rv;
    bool found = false;

    st = get_attr(s, id, CKA_KEY_TYPE, &v, &v_len);
    if (st == ARCA_ERR_ATTRIBUTE_TYPE) return CKR_KEY_TYPE_INCONSISTENT; /* not a key */
    if (st != ARCA_OK) return arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    if (v_len == 4) kt = arca_p11_get_u32(v);
    free(v);
    v = NULL;
    if (!arca_p11_mech_key_ok(d, kt)) return CKR_KEY_TYPE_INCONSISTENT;

    st = get_attr(s, id, usage_attr, &v, &v_len);
    if (st == ARCA_ERR_ATTRIBUTE_TYPE) return CKR_KEY_FUNCTION_NOT_PERMITTED;
    if (st != ARCA_OK) return arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    rv = v_len == 1 && v[0] == 1 ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
    free(v);
    v = NULL;
    if (rv != CKR_OK) return rv;

    st = get_attr(s, id, CKA_ALLOWED_MECHANISMS, &v, &v_len);
    if (st == ARCA_ERR_ATTRIBUTE_TYPE || st == ARCA_ERR_ATTRIBUTE_VALUE) return *out_kt = kt, CKR_OK;
    if (st != ARCA_OK) return arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    if (v_len % 4 != 0) {
        free(v);
        return CKR_GENERAL_ERROR;
    }
    for (size_t i = 0; i + 4 <= v_len; i += 4) found = found || arca_p11_get_u32(v + i) == d->type;
    rv = v_len == 0 || found ? CKR_OK : CKR_MECHANISM_INVALID;
    free(v);
    if (rv == CKR_OK) *out_kt = kt;
    return rv;
}

/* ---- passed key checks, remembered ----
 * key_check costs three attribute reads, each a round trip to the
 * appliance, before the call that does the work (docs/performance.md). A
 * check that passed is remembered for KEYCHECK_TTL_MS per (key, usage,
 * mechanism). The appliance checks usage, mechanism, state and ACL on
 * every use anyway (enclave_kms/src/use.c), so a stale entry only moves a
 * refusal from C_*Init to the call that uses the key; that refusal drops
 * the key's entries. Failed checks are never remembered. */
#define KEYCHECK_SLOTS 256u
#define KEYCHECK_TTL_MS 1000u

typedef struct keycheck {
    bool valid;
    arca_client_id id;
    CK_ATTRIBUTE_TYPE usage;
    CK_MECHANISM_TYPE mech;
    CK_KEY_TYPE kt;
    size_t sig_len;
    uint64_t expires_ms;
} keycheck;

static keycheck keychecks[KEYCHECK_SLOTS];
static pthread_mutex_t keycheck_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static keycheck *keycheck_slot(const arca_client_id *id, CK_ATTRIBUTE_TYPE usage, CK_MECHANISM_TYPE mech)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < sizeof(id->b); i++) h = (h ^ id->b[i]) * 16777619u;
    h = (h ^ (uint32_t)usage) * 16777619u;
    h = (h ^ (uint32_t)mech) * 16777619u;
    return &keychecks[h % KEYCHECK_SLOTS];
}

static bool keycheck_get(const arca_client_id *id, CK_ATTRIBUTE_TYPE usage, CK_MECHANISM_TYPE mech,
                         CK_KEY_TYPE *out_kt, size_t *out_sig_len)
{
    bool hit;
    pthread_mutex_lock(&keycheck_mu);
    keycheck *k = keycheck_slot(id, usage, mech);
    hit = k->valid && k->usage == usage && k->mech == mech && memcmp(k->id.b, id->b, sizeof(id->b)) == 0 &&
          mono_ms() < k->expires_ms;
    if (hit) {
        *out_kt = k->kt;
        *out_sig_len = k->sig_len;
    }
    pthread_mutex_unlock(&keycheck_mu);
    return hit;
}

static void keycheck_put(const arca_client_id *id, CK_ATTRIBUTE_TYPE usage, CK_MECHANISM_TYPE mech, CK_KEY_TYPE kt,
                         size_t sig_len)
{
    pthread_mutex_lock(&keycheck_mu);
    keycheck *k = keycheck_slot(id, usage, mech);
    *k = (keycheck){.valid = true, .id = *id, .usage = usage, .mech = mech, .kt = kt, .sig_len = sig_len,
                    .expires_ms = mono_ms() + KEYCHECK_TTL_MS};
    pthread_mutex_unlock(&keycheck_mu);
}

/* The appliance refused a use of id: check it afresh next time. */
static void keycheck_drop(const arca_client_id *id)
{
    pthread_mutex_lock(&keycheck_mu);
    for (size_t i = 0; i < KEYCHECK_SLOTS; i++)
        if (keychecks[i].valid && memcmp(keychecks[i].id.b, id->b, sizeof(id->b)) == 0) keychecks[i].valid = false;
    pthread_mutex_unlock(&keycheck_mu);
}

/* C_*Init of encrypt, decrypt, sign, verify. */
static CK_RV op_init(CK_SESSION_HANDLE h, arca_p11_op_kind kind, CK_FLAGS use, CK_ATTRIBUTE_TYPE usage_attr,
                     CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op;
    arca_client_id id;
    arca_lp_mechanism lp;
    uint8_t *param = NULL;
    size_t param_len = 0;
    op_ext *x = NULL;
    CK_KEY_TYPE kt = 0;
    CK_RV rv;

    rv = arca_p11_session_get(h, &s);
    if (rv != CKR_OK) return rv;
    op = &s->op[kind];
    if (m == NULL) {
        /* 3.0: a NULL mechanism cancels the operation in progress. */
        rv = op->active ? CKR_OK : CKR_ARGUMENTS_BAD;
        arca_p11_op_reset(op);
        goto out;
    }
    if (op->active) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    if ((rv = arca_p11_handle_to_id(key, CKR_KEY_HANDLE_INVALID, &id)) != CKR_OK) goto out;
    if ((rv = arca_p11_mech_parse(m, use, &lp, &param, &param_len)) != CKR_OK) goto out;
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (!keycheck_get(&id, usage_attr, m->mechanism, &kt, &x->sig_len)) {
        if ((rv = key_check(s, &id, arca_p11_mech_find(m->mechanism), usage_attr, &kt)) != CKR_OK) goto out;
        if (kind == ARCA_P11_OP_VERIFY &&
            (rv = signature_len(s, &id, arca_p11_mech_find(m->mechanism), kt, &x->sig_len)) != CKR_OK)
            goto out;
        keycheck_put(&id, usage_attr, m->mechanism, kt, x->sig_len);
    }
    x->key_type = kt;
    op->active = true;
    op->mechanism = m->mechanism;
    op->lp = lp;
    op->param = param;
    op->param_len = param_len;
    op->key = id;
    op->key_handle = key;
    op->ext = x;
    op->ext_free = ext_free;
    param = NULL;
    x = NULL;
out:
    if (param != NULL) {
        arca_wipe(param, param_len);
        free(param);
    }
    ext_free(x);
    arca_p11_session_put(s);
    return rv;
}

/* Append multi-part input; cap_rv when the total would pass the cap. The
 * old buffer is wiped before it is freed (it may hold plaintext). */
static CK_RV append(arca_p11_op *op, const uint8_t *data, size_t len, CK_RV cap_rv)
{
    uint8_t *n;
    size_t cap;

    if (len == 0) return CKR_OK;
    if (len > ARCA_LP_DATA_MAX || op->data_len > ARCA_LP_DATA_MAX - len) return cap_rv;
    if (op->data_len + len > op->data_cap) {
        cap = op->data_cap < 4096 ? 4096 : op->data_cap * 2;
        while (cap < op->data_len + len) cap *= 2;
        if (cap > ARCA_LP_DATA_MAX) cap = ARCA_LP_DATA_MAX;
        n = malloc(cap);
        if (n == NULL) return CKR_HOST_MEMORY;
        if (op->data_len > 0) memcpy(n, op->data, op->data_len);
        if (op->data != NULL) {
            arca_wipe(op->data, op->data_cap);
            free(op->data);
        }
        op->data = n;
        op->data_cap = cap;
    }
    memcpy(op->data + op->data_len, data, len);
    op->data_len += len;
    return CKR_OK;
}

/* The appliance call of an encrypt / decrypt / sign op, once. */
static CK_RV run_once(arca_p11_session *s, arca_p11_op *op, arca_p11_op_kind kind, const uint8_t *data, size_t len)
{
    op_ext *x = ext_of(op);
    arca_client *c = NULL;
    arca_status st;

    if (x->have_out) return CKR_OK;
    CK_RV crv = arca_p11_client_for(s, &op->key, CKR_KEY_HANDLE_INVALID, &c, NULL);
    if (crv != CKR_OK) return crv;
    switch (kind) {
    case ARCA_P11_OP_SIGN:
        if (len > ARCA_LP_DATA_MAX) return CKR_DATA_LEN_RANGE;
        st = arca_client_sign(c, &op->key, &op->lp, data, len, &x->out, &x->out_len);
        break;
    case ARCA_P11_OP_ENCRYPT:
        if (len > ARCA_LP_DATA_MAX) return CKR_DATA_LEN_RANGE;
        st = arca_client_encrypt(c, &op->key, &op->lp, data, len, &x->out, &x->out_len);
        break;
    case ARCA_P11_OP_DECRYPT:
        if (len > ARCA_LP_DATA_MAX) return CKR_ENCRYPTED_DATA_LEN_RANGE;
        st = arca_client_decrypt(c, &op->key, &op->lp, data, len, &x->out, &x->out_len);
        if (st == ARCA_ERR_DATA_LEN) return CKR_ENCRYPTED_DATA_LEN_RANGE;
        if (st == ARCA_ERR_DATA_INVALID || st == ARCA_ERR_SIGNATURE_INVALID) return CKR_ENCRYPTED_DATA_INVALID;
        break;
    default: return CKR_GENERAL_ERROR;
    }
    if (st == ARCA_ERR_DATA_LEN) return CKR_DATA_LEN_RANGE;
    if (st != ARCA_OK) {
        keycheck_drop(&op->key);
        return arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    }
    x->have_out = true;
    return CKR_OK;
}

/* Hand out the cached answer: *done when it was delivered (the op ends). */
static CK_RV deliver(op_ext *x, CK_BYTE_PTR out, CK_ULONG_PTR out_len, bool *done)
{
    *done = false;
    if (out == NULL) {
        *out_len = (CK_ULONG)x->out_len;
        return CKR_OK;
    }
    if (*out_len < x->out_len) {
        *out_len = (CK_ULONG)x->out_len;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (x->out_len > 0) memcpy(out, x->out, x->out_len);
    *out_len = (CK_ULONG)x->out_len;
    *done = true;
    return CKR_OK;
}

/* Take the session and its active op of this kind. */
static CK_RV op_get(CK_SESSION_HANDLE h, arca_p11_op_kind kind, arca_p11_session **out_s, arca_p11_op **out_op)
{
    arca_p11_session *s = NULL;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    if (!s->op[kind].active) {
        arca_p11_session_put(s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    *out_s = s;
    *out_op = &s->op[kind];
    return CKR_OK;
}

/* Finish a call on an op: an error other than CKR_BUFFER_TOO_SMALL, or a
 * delivered result, ends it. */
static CK_RV op_done(arca_p11_session *s, arca_p11_op *op, CK_RV rv, bool done)
{
    if ((rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) || done) arca_p11_op_reset(op);
    arca_p11_session_put(s);
    return rv;
}

/* C_Encrypt / C_Decrypt / C_Sign. */
static CK_RV single(CK_SESSION_HANDLE h, arca_p11_op_kind kind, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                    CK_ULONG_PTR out_len)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    bool done = false;
    CK_RV rv = op_get(h, kind, &s, &op);

    if (rv != CKR_OK) return rv;
    if (out_len == NULL || (in == NULL && in_len > 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (ext_of(op)->multi) {
        rv = CKR_OPERATION_ACTIVE; /* a multi-part operation is in progress */
    } else {
        rv = run_once(s, op, kind, in, (size_t)in_len);
        if (rv == CKR_OK) rv = deliver(ext_of(op), out, out_len, &done);
    }
    return op_done(s, op, rv, done);
}

/* C_EncryptUpdate / C_DecryptUpdate / C_SignUpdate / C_VerifyUpdate. */
static CK_RV update(CK_SESSION_HANDLE h, arca_p11_op_kind kind, CK_BYTE_PTR in, CK_ULONG in_len, CK_RV cap_rv)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    CK_RV rv = op_get(h, kind, &s, &op);

    if (rv != CKR_OK) return rv;
    if (in == NULL && in_len > 0) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (ext_of(op)->have_out) {
        rv = CKR_OPERATION_ACTIVE; /* a single-part call is waiting for its buffer */
    } else {
        ext_of(op)->multi = true;
        rv = append(op, in, (size_t)in_len, cap_rv);
    }
    return op_done(s, op, rv, false);
}

/* C_EncryptFinal / C_DecryptFinal / C_SignFinal. */
static CK_RV final(CK_SESSION_HANDLE h, arca_p11_op_kind kind, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    bool done = false;
    CK_RV rv = op_get(h, kind, &s, &op);

    if (rv != CKR_OK) return rv;
    if (out_len == NULL) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        rv = run_once(s, op, kind, op->data, op->data_len);
        if (rv == CKR_OK) rv = deliver(ext_of(op), out, out_len, &done);
    }
    return op_done(s, op, rv, done);
}

/* ---- encrypt / decrypt ---- */

/* C_EncryptUpdate / C_DecryptUpdate: accumulate the part; all output
 * comes at the Final call, so each update reports 0 bytes. */
static CK_RV cipher_update(CK_SESSION_HANDLE h, arca_p11_op_kind kind, CK_BYTE_PTR part, CK_ULONG part_len, CK_ULONG_PTR out_len,
                           CK_RV too_long)
{
    CK_RV rv;

    if (out_len == NULL) {
        arca_p11_session *s = NULL;
        arca_p11_op *op = NULL;
        if ((rv = op_get(h, kind, &s, &op)) != CKR_OK) return rv;
        return op_done(s, op, CKR_ARGUMENTS_BAD, false);
    }
    rv = update(h, kind, part, part_len, too_long);
    if (rv == CKR_OK) *out_len = 0;
    return rv;
}


CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    return op_init(h, ARCA_P11_OP_ENCRYPT, CKF_ENCRYPT, CKA_ENCRYPT, m, key);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return single(h, ARCA_P11_OP_ENCRYPT, data, data_len, out, out_len);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG part_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    (void)out;
    return cipher_update(h, ARCA_P11_OP_ENCRYPT, part, part_len, out_len, CKR_DATA_LEN_RANGE);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return final(h, ARCA_P11_OP_ENCRYPT, out, out_len);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    return op_init(h, ARCA_P11_OP_DECRYPT, CKF_DECRYPT, CKA_DECRYPT, m, key);
}

CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return single(h, ARCA_P11_OP_DECRYPT, in, in_len, out, out_len);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG part_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    (void)out;
    return cipher_update(h, ARCA_P11_OP_DECRYPT, part, part_len, out_len, CKR_ENCRYPTED_DATA_LEN_RANGE);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return final(h, ARCA_P11_OP_DECRYPT, out, out_len);
}

/* ---- sign / verify ---- */

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    return op_init(h, ARCA_P11_OP_SIGN, CKF_SIGN, CKA_SIGN, m, key);
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    return single(h, ARCA_P11_OP_SIGN, data, data_len, sig, sig_len);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG part_len)
{
    return update(h, ARCA_P11_OP_SIGN, part, part_len, CKR_DATA_LEN_RANGE);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    return final(h, ARCA_P11_OP_SIGN, sig, sig_len);
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    return op_init(h, ARCA_P11_OP_VERIFY, CKF_VERIFY, CKA_VERIFY, m, key);
}

static CK_RV verify_run(arca_p11_session *s, arca_p11_op *op, const uint8_t *data, size_t len, const uint8_t *sig,
                        size_t sig_len)
{
    op_ext *x = ext_of(op);
    arca_client *c = NULL;
    arca_status st;

    if (len > ARCA_LP_DATA_MAX) return CKR_DATA_LEN_RANGE;
    if (x->sig_len != 0 && sig_len != x->sig_len) return CKR_SIGNATURE_LEN_RANGE;
    CK_RV crv = arca_p11_client_for(s, &op->key, CKR_KEY_HANDLE_INVALID, &c, NULL);
    if (crv != CKR_OK) return crv;
    st = arca_client_verify(c, &op->key, &op->lp, data, len, sig, sig_len);
    if (st == ARCA_ERR_SIGNATURE_INVALID) return CKR_SIGNATURE_INVALID;
    if (st == ARCA_ERR_DATA_LEN) return CKR_DATA_LEN_RANGE;
    if (st != ARCA_OK) {
        keycheck_drop(&op->key);
        return arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    }
    return CKR_OK;
}

CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    CK_RV rv = op_get(h, ARCA_P11_OP_VERIFY, &s, &op);

    if (rv != CKR_OK) return rv;
    if ((data == NULL && data_len > 0) || sig == NULL) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (ext_of(op)->multi) {
        rv = CKR_OPERATION_ACTIVE;
    } else {
        rv = verify_run(s, op, data, (size_t)data_len, sig, (size_t)sig_len);
    }
    return op_done(s, op, rv, true);
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG part_len)
{
    return update(h, ARCA_P11_OP_VERIFY, part, part_len, CKR_DATA_LEN_RANGE);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    CK_RV rv = op_get(h, ARCA_P11_OP_VERIFY, &s, &op);

    if (rv != CKR_OK) return rv;
    rv = sig == NULL ? CKR_ARGUMENTS_BAD : verify_run(s, op, op->data, op->data_len, sig, (size_t)sig_len);
    return op_done(s, op, rv, true);
}

/* Signatures with message recovery: no mechanism of the table has
 * CKF_SIGN_RECOVER / CKF_VERIFY_RECOVER. */
CK_RV C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    (void)h, (void)m, (void)key;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    (void)h, (void)data, (void)data_len, (void)sig, (void)sig_len;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    (void)h, (void)m, (void)key;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len, CK_BYTE_PTR data, CK_ULONG_PTR data_len)
{
    (void)h, (void)sig, (void)sig_len, (void)data, (void)data_len;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

/* Dual-function operations: allowed to be unsupported. */
CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d)
{
    (void)h, (void)a, (void)b, (void)c, (void)d;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d)
{
    (void)h, (void)a, (void)b, (void)c, (void)d;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d)
{
    (void)h, (void)a, (void)b, (void)c, (void)d;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d)
{
    (void)h, (void)a, (void)b, (void)c, (void)d;
    return arca_p11_check_init() != CKR_OK ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

/* ---- digest (local) ---- */

static const EVP_MD *md_of(CK_MECHANISM_TYPE t)
{
    switch (t) {
    case CKM_SHA256: return EVP_sha256();
    case CKM_SHA384: return EVP_sha384();
    case CKM_SHA512: return EVP_sha512();
    default: return NULL;
    }
}

CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op;
    arca_lp_mechanism lp;
    uint8_t *param = NULL;
    size_t param_len = 0;
    EVP_MD_CTX *ctx = NULL;
    op_ext *x = NULL;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    op = &s->op[ARCA_P11_OP_DIGEST];
    if (m == NULL) {
        rv = op->active ? CKR_OK : CKR_ARGUMENTS_BAD;
        arca_p11_op_reset(op);
        goto out;
    }
    if (op->active) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    if ((rv = arca_p11_mech_parse(m, CKF_DIGEST, &lp, &param, &param_len)) != CKR_OK) goto out;
    free(param); /* digests have no parameter */
    ctx = EVP_MD_CTX_new();
    x = calloc(1, sizeof(*x));
    if (ctx == NULL || x == NULL || EVP_DigestInit_ex(ctx, md_of(m->mechanism), NULL) != 1) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    x->digest_len = (size_t)EVP_MD_get_size(md_of(m->mechanism));
    op->active = true;
    op->mechanism = m->mechanism;
    op->lp = lp;
    op->md = ctx;
    op->ext = x;
    op->ext_free = ext_free;
    ctx = NULL;
    x = NULL;
out:
    EVP_MD_CTX_free(ctx);
    ext_free(x);
    arca_p11_session_put(s);
    return rv;
}

/* Finish the digest into out if it is big enough (two-call convention:
 * the length is known in advance, so nothing is computed early). */
static CK_RV digest_out(arca_p11_op *op, CK_BYTE_PTR out, CK_ULONG_PTR out_len, bool *done)
{
    op_ext *x = ext_of(op);
    unsigned int n = 0;

    *done = false;
    if (out == NULL) {
        *out_len = (CK_ULONG)x->digest_len;
        return CKR_OK;
    }
    if (*out_len < x->digest_len) {
        *out_len = (CK_ULONG)x->digest_len;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (EVP_DigestFinal_ex(op->md, out, &n) != 1) return CKR_GENERAL_ERROR;
    *out_len = n;
    *done = true;
    return CKR_OK;
}

CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    bool done = false;
    CK_RV rv = op_get(h, ARCA_P11_OP_DIGEST, &s, &op);

    if (rv != CKR_OK) return rv;
    if (out_len == NULL || (data == NULL && data_len > 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (ext_of(op)->multi) {
        rv = CKR_OPERATION_ACTIVE;
    } else if (out == NULL || *out_len < ext_of(op)->digest_len) {
        rv = digest_out(op, out, out_len, &done);
    } else if (data_len > 0 && EVP_DigestUpdate(op->md, data, data_len) != 1) {
        rv = CKR_GENERAL_ERROR;
    } else {
        rv = digest_out(op, out, out_len, &done);
    }
    return op_done(s, op, rv, done);
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG part_len)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    CK_RV rv = op_get(h, ARCA_P11_OP_DIGEST, &s, &op);

    if (rv != CKR_OK) return rv;
    if (part == NULL && part_len > 0) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        ext_of(op)->multi = true;
        if (part_len > 0 && EVP_DigestUpdate(op->md, part, part_len) != 1) rv = CKR_GENERAL_ERROR;
    }
    return op_done(s, op, rv, false);
}

/* Digest a secret key's value: only keys whose CKA_VALUE may be read
 * (not sensitive, extractable); others are CKR_KEY_INDIGESTIBLE. */
CK_RV C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    arca_client_id id;
    uint8_t *v = NULL;
    size_t v_len = 0;
    arca_status st;
    CK_RV rv = op_get(h, ARCA_P11_OP_DIGEST, &s, &op);

    if (rv != CKR_OK) return rv;
    if ((rv = arca_p11_handle_to_id(key, CKR_KEY_HANDLE_INVALID, &id)) != CKR_OK) goto out;
    st = get_attr(s, &id, CKA_VALUE, &v, &v_len);
    if (st == ARCA_ERR_ATTRIBUTE_SENSITIVE || st == ARCA_ERR_ATTRIBUTE_TYPE || st == ARCA_ERR_KEY_UNEXTRACTABLE) {
        rv = CKR_KEY_INDIGESTIBLE;
    } else if (st != ARCA_OK) {
        rv = arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    } else {
        ext_of(op)->multi = true;
        if (v_len > 0 && EVP_DigestUpdate(op->md, v, v_len) != 1) rv = CKR_GENERAL_ERROR;
    }
    if (v != NULL) arca_client_free_secret(v, v_len);
out:
    return op_done(s, op, rv, false);
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    arca_p11_session *s = NULL;
    arca_p11_op *op = NULL;
    bool done = false;
    CK_RV rv = op_get(h, ARCA_P11_OP_DIGEST, &s, &op);

    if (rv != CKR_OK) return rv;
    rv = out_len == NULL ? CKR_ARGUMENTS_BAD : digest_out(op, out, out_len, &done);
    return op_done(s, op, rv, done);
}
