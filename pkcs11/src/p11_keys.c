/* Key management through the appliance: generate key / key pair, wrap,
 * unwrap, derive; and random numbers (from the enclave).
 *
 * Templates are converted by p11_attr.c; the module adds the standard's
 * defaults the keystore does not apply itself: CKA_CLASS and CKA_KEY_TYPE
 * implied by the mechanism, and CKA_TOKEN = false (PKCS#11's default; the
 * keystore's own default is true). A token object needs a read/write
 * session (CKR_SESSION_READ_ONLY). */
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

/* Parse a mechanism that takes no state (generation, wrap, unwrap, derive):
 * the parameter copy is returned for the caller to free with free_param. */
static void free_param(uint8_t *param, size_t len)
{
    if (param == NULL) return;
    arca_wipe(param, len);
    free(param);
}

static CK_RV add_default_ulong(arca_p11_tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
    CK_ULONG have;

    if (arca_p11_tmpl_find(t, type) == NULL) return arca_p11_tmpl_add_ulong(t, type, v);
    if (!arca_p11_tmpl_ulong(t, type, &have)) return CKR_ATTRIBUTE_VALUE_INVALID;
    return have == v ? CKR_OK : CKR_TEMPLATE_INCONSISTENT;
}

/* Defaults for a new key's template and the read-only session check. */
static CK_RV key_template(arca_p11_session *s, arca_p11_tmpl *t, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
    bool token = false;
    CK_RV rv;

    /* cls CK_UNAVAILABLE_INFORMATION: any class, secret by default (unwrap). */
    if (cls == CK_UNAVAILABLE_INFORMATION) {
        if (arca_p11_tmpl_find(t, CKA_CLASS) == NULL && (rv = arca_p11_tmpl_add_ulong(t, CKA_CLASS, CKO_SECRET_KEY)) != CKR_OK)
            return rv;
    } else if ((rv = add_default_ulong(t, CKA_CLASS, cls)) != CKR_OK) {
        return rv;
    }
    if (kt != CK_UNAVAILABLE_INFORMATION && (rv = add_default_ulong(t, CKA_KEY_TYPE, kt)) != CKR_OK) return rv;
    if (arca_p11_tmpl_find(t, CKA_TOKEN) == NULL) {
        if ((rv = arca_p11_tmpl_add_bool(t, CKA_TOKEN, false)) != CKR_OK) return rv;
    } else if (!arca_p11_tmpl_bool(t, CKA_TOKEN, &token)) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if (token && !arca_p11_session_rw(s)) return CKR_SESSION_READ_ONLY;
    return CKR_OK;
}

/* The type of a key, checked against the mechanism: type_rv when it does
 * not fit, the session's mapping with handle_rv for appliance errors. */
static CK_RV key_type_check(arca_p11_session *s, const arca_client_id *id, const arca_p11_mech_desc *d,
                            CK_RV handle_rv, CK_RV type_rv)
{
    uint8_t *v = NULL;
    size_t v_len = 0;
    CK_KEY_TYPE kt = CK_UNAVAILABLE_INFORMATION;
    arca_client *c = NULL;
    CK_RV rv = arca_p11_client_for(s, id, handle_rv, &c, NULL);
    if (rv != CKR_OK) return rv;
    arca_status st = arca_client_get_attribute(c, id, CKA_KEY_TYPE, &v, &v_len);

    if (st == ARCA_ERR_ATTRIBUTE_TYPE) return type_rv; /* not a key */
    if (st == ARCA_ERR_NOT_FOUND) return handle_rv;
    if (st != ARCA_OK) return arca_p11_session_rv(s, st, handle_rv);
    if (v_len == 4) kt = arca_p11_get_u32(v);
    free(v);
    return arca_p11_mech_key_ok(d, kt) ? CKR_OK : type_rv;
}

/* The handle of a key made on session owner's connection with template
 * t (CKA_TOKEN set by key_template): a session object is owner's. */
static CK_RV new_handle(arca_p11_session *s, arca_status st, CK_SESSION_HANDLE owner, const arca_p11_tmpl *t,
                        const arca_client_id *id, CK_OBJECT_HANDLE_PTR out)
{
    bool token = false;
    if (st != ARCA_OK) return arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    (void)arca_p11_tmpl_bool(t, CKA_TOKEN, &token);
    return arca_p11_handle_new(owner, token, id, out);
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                    CK_OBJECT_HANDLE_PTR out_key)
{
    arca_p11_session *s = NULL;
    arca_p11_tmpl t;
    arca_lp_mechanism lp;
    uint8_t *param = NULL;
    size_t param_len = 0;
    arca_client_id id;
    bool have_tmpl = false;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    if (m == NULL || out_key == NULL || (tmpl == NULL && n > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = arca_p11_mech_parse(m, CKF_GENERATE, &lp, &param, &param_len)) != CKR_OK) goto out;
    if ((rv = arca_p11_tmpl_from_ck(tmpl, n, &t)) != CKR_OK) goto out;
    have_tmpl = true;
    rv = key_template(s, &t, CKO_SECRET_KEY, arca_p11_mech_find(m->mechanism)->key_types[0]);
    if (rv != CKR_OK) goto out;
    rv = new_handle(s, arca_client_generate_key(s->client, (uint32_t)m->mechanism, t.attrs, t.num, &id), s->handle,
                    &t, &id, out_key);
out:
    if (have_tmpl) arca_p11_tmpl_free(&t);
    free_param(param, param_len);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub, CK_ULONG num_pub,
                        CK_ATTRIBUTE_PTR priv, CK_ULONG num_priv, CK_OBJECT_HANDLE_PTR out_pub,
                        CK_OBJECT_HANDLE_PTR out_priv)
{
    arca_p11_session *s = NULL;
    arca_p11_tmpl tp, tv;
    arca_lp_mechanism lp;
    uint8_t *param = NULL;
    size_t param_len = 0;
    arca_client_id id_pub, id_priv;
    bool have_pub = false, have_priv = false;
    CK_KEY_TYPE kt;
    arca_status st;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    if (m == NULL || out_pub == NULL || out_priv == NULL || (pub == NULL && num_pub > 0) ||
        (priv == NULL && num_priv > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = arca_p11_mech_parse(m, CKF_GENERATE_KEY_PAIR, &lp, &param, &param_len)) != CKR_OK) goto out;
    kt = arca_p11_mech_find(m->mechanism)->key_types[0];
    if ((rv = arca_p11_tmpl_from_ck(pub, num_pub, &tp)) != CKR_OK) goto out;
    have_pub = true;
    if ((rv = arca_p11_tmpl_from_ck(priv, num_priv, &tv)) != CKR_OK) goto out;
    have_priv = true;
    if ((rv = key_template(s, &tp, CKO_PUBLIC_KEY, kt)) != CKR_OK) goto out;
    if ((rv = key_template(s, &tv, CKO_PRIVATE_KEY, kt)) != CKR_OK) goto out;
    st = arca_client_generate_key_pair(s->client, (uint32_t)m->mechanism, tp.attrs, tp.num, tv.attrs, tv.num,
                                       &id_pub, &id_priv);
    if (st != ARCA_OK) {
        rv = arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
        goto out;
    }
    if ((rv = new_handle(s, ARCA_OK, s->handle, &tp, &id_pub, out_pub)) != CKR_OK) goto out;
    rv = new_handle(s, ARCA_OK, s->handle, &tv, &id_priv, out_priv);
out:
    if (have_pub) arca_p11_tmpl_free(&tp);
    if (have_priv) arca_p11_tmpl_free(&tv);
    free_param(param, param_len);
    arca_p11_session_put(s);
    return rv;
}

/* Wrap: the appliance is asked on every call that needs the length or the
 * bytes (wrapping is deterministic for AES key wrap; OAEP gives a new
 * encoding of the same length). The wrapped bytes are wiped after copying. */
CK_RV C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    arca_p11_session *s = NULL;
    arca_lp_mechanism lp;
    uint8_t *param = NULL, *w = NULL;
    size_t param_len = 0, w_len = 0;
    arca_client_id id_wrapping, id_key;
    arca_client *c = NULL;
    arca_status st;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    if (m == NULL || out_len == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = arca_p11_handle_to_id(wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID, &id_wrapping)) != CKR_OK) goto out;
    if ((rv = arca_p11_handle_to_id(key, CKR_KEY_HANDLE_INVALID, &id_key)) != CKR_OK) goto out;
    if ((rv = arca_p11_mech_parse(m, CKF_WRAP, &lp, &param, &param_len)) != CKR_OK) goto out;
    rv = key_type_check(s, &id_wrapping, arca_p11_mech_find(m->mechanism), CKR_WRAPPING_KEY_HANDLE_INVALID,
                        CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
    if (rv != CKR_OK) goto out;
    /* Both keys must live on one connection (token objects live on all):
     * session objects of two different sessions cannot meet. */
    CK_SESSION_HANDLE own_wrapping = arca_p11_handle_owner(&id_wrapping), own_key = arca_p11_handle_owner(&id_key);
    if (own_wrapping != 0 && own_key != 0 && own_wrapping != own_key) {
        rv = CKR_FUNCTION_FAILED;
        goto out;
    }
    rv = own_wrapping != 0 ? arca_p11_client_for(s, &id_wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID, &c, NULL)
                           : arca_p11_client_for(s, &id_key, CKR_KEY_HANDLE_INVALID, &c, NULL);
    if (rv != CKR_OK) goto out;
    st = arca_client_wrap(c, &id_wrapping, &lp, &id_key, &w, &w_len);
    if (st == ARCA_ERR_KEY_TYPE) {
        rv = CKR_KEY_NOT_WRAPPABLE;
    } else if (st == ARCA_ERR_KEY_SIZE) {
        rv = CKR_KEY_SIZE_RANGE;
    } else if (st != ARCA_OK) {
        rv = arca_p11_session_rv(s, st, CKR_KEY_HANDLE_INVALID);
    } else if (out == NULL) {
        *out_len = (CK_ULONG)w_len;
    } else if (*out_len < w_len) {
        *out_len = (CK_ULONG)w_len;
        rv = CKR_BUFFER_TOO_SMALL;
    } else {
        memcpy(out, w, w_len);
        *out_len = (CK_ULONG)w_len;
    }
out:
    if (w != NULL) arca_client_free_secret(w, w_len);
    free_param(param, param_len);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR wrapped,
                  CK_ULONG wrapped_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR out_key)
{
    arca_p11_session *s = NULL;
    arca_p11_tmpl t;
    arca_lp_mechanism lp;
    uint8_t *param = NULL;
    size_t param_len = 0;
    arca_client_id id_unwrapping, id;
    bool have_tmpl = false;
    arca_client *c = NULL;
    CK_SESSION_HANDLE owner = 0;
    arca_status st;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    if (m == NULL || out_key == NULL || wrapped == NULL || (tmpl == NULL && n > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = arca_p11_handle_to_id(unwrapping, CKR_UNWRAPPING_KEY_HANDLE_INVALID, &id_unwrapping)) != CKR_OK)
        goto out;
    if ((rv = arca_p11_mech_parse(m, CKF_UNWRAP, &lp, &param, &param_len)) != CKR_OK) goto out;
    if (wrapped_len == 0 || wrapped_len > ARCA_LP_DATA_MAX) {
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
        goto out;
    }
    if ((rv = arca_p11_tmpl_from_ck(tmpl, n, &t)) != CKR_OK) goto out;
    have_tmpl = true;
    if ((rv = key_template(s, &t, CK_UNAVAILABLE_INFORMATION, CK_UNAVAILABLE_INFORMATION)) != CKR_OK) goto out;
    rv = key_type_check(s, &id_unwrapping, arca_p11_mech_find(m->mechanism), CKR_UNWRAPPING_KEY_HANDLE_INVALID,
                        CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
    if (rv != CKR_OK) goto out;
    /* The new key is made where the unwrapping key lives. */
    rv = arca_p11_client_for(s, &id_unwrapping, CKR_UNWRAPPING_KEY_HANDLE_INVALID, &c, &owner);
    if (rv != CKR_OK) goto out;
    st = arca_client_unwrap(c, &id_unwrapping, &lp, wrapped, (size_t)wrapped_len, t.attrs, t.num, &id);
    if (st == ARCA_ERR_DATA_LEN) {
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
    } else if (st == ARCA_ERR_DATA_INVALID || st == ARCA_ERR_SIGNATURE_INVALID) {
        rv = CKR_WRAPPED_KEY_INVALID;
    } else if (st == ARCA_ERR_KEY_TYPE) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* the template's key type cannot come out of this mechanism */
    } else {
        rv = new_handle(s, st, owner, &t, &id, out_key);
    }
out:
    if (have_tmpl) arca_p11_tmpl_free(&t);
    free_param(param, param_len);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                  CK_OBJECT_HANDLE_PTR out_key)
{
    arca_p11_session *s = NULL;
    arca_p11_tmpl t;
    arca_lp_mechanism lp;
    uint8_t *param = NULL;
    size_t param_len = 0;
    arca_client_id id_base, id;
    bool have_tmpl = false;
    arca_client *c = NULL;
    CK_SESSION_HANDLE owner = 0;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    if (m == NULL || out_key == NULL || (tmpl == NULL && n > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = arca_p11_handle_to_id(base, CKR_KEY_HANDLE_INVALID, &id_base)) != CKR_OK) goto out;
    if ((rv = arca_p11_mech_parse(m, CKF_DERIVE, &lp, &param, &param_len)) != CKR_OK) goto out;
    if ((rv = arca_p11_tmpl_from_ck(tmpl, n, &t)) != CKR_OK) goto out;
    have_tmpl = true;
    if ((rv = key_template(s, &t, CKO_SECRET_KEY, CK_UNAVAILABLE_INFORMATION)) != CKR_OK) goto out;
    rv = key_type_check(s, &id_base, arca_p11_mech_find(m->mechanism), CKR_KEY_HANDLE_INVALID,
                        CKR_KEY_TYPE_INCONSISTENT);
    if (rv != CKR_OK) goto out;
    /* The new key is made where the base key lives. */
    if ((rv = arca_p11_client_for(s, &id_base, CKR_KEY_HANDLE_INVALID, &c, &owner)) != CKR_OK) goto out;
    rv = new_handle(s, arca_client_derive(c, &id_base, &lp, t.attrs, t.num, &id), owner, &t, &id, out_key);
out:
    if (have_tmpl) arca_p11_tmpl_free(&t);
    free_param(param, param_len);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG seed_len)
{
    arca_p11_session *s = NULL;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    /* The enclave's generator takes no outside seed. */
    rv = seed == NULL && seed_len > 0 ? CKR_ARGUMENTS_BAD : CKR_RANDOM_SEED_NOT_SUPPORTED;
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
    arca_p11_session *s = NULL;
    uint8_t *r = NULL;
    size_t r_len = 0, done = 0, want;
    arca_status st;
    CK_RV rv = arca_p11_session_get(h, &s);

    if (rv != CKR_OK) return rv;
    if (out == NULL && len > 0) rv = CKR_ARGUMENTS_BAD;
    while (rv == CKR_OK && done < len) {
        want = len - done > ARCA_LP_DATA_MAX ? ARCA_LP_DATA_MAX : (size_t)(len - done);
        st = arca_client_random(s->client, want, &r, &r_len);
        if (st != ARCA_OK) {
            rv = arca_p11_session_rv(s, st, CKR_GENERAL_ERROR);
            break;
        }
        if (r_len != want) {
            rv = CKR_DEVICE_ERROR;
        } else {
            memcpy(out + done, r, want);
            done += want;
        }
        arca_client_free_secret(r, r_len);
        r = NULL;
    }
    arca_p11_session_put(s);
    return rv;
}
