/* Objects: create / copy / destroy / size / get / set / find. Values go
 * through p11_attr.c; the appliance checks every template (read-only,
 * inconsistent, incomplete attributes) and answers with the exact status
 * that p11_error.c translates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

#define P11_CKA_OBJECT_ID 0xC1524303UL /* arca/kms.h ARCA_CKA_OBJECT_ID */

/* The CKA_TOKEN of an object, to refuse changes of token objects from a
 * read-only session (the appliance does not know session kinds). */
static CK_RV check_writable(arca_p11_session *s, const arca_client_id *id)
{
    if (arca_p11_session_rw(s)) return CKR_OK;
    uint8_t *v = NULL;
    size_t len = 0;
    arca_client *c = NULL;
    CK_RV rv = arca_p11_client_for(s, id, CKR_OBJECT_HANDLE_INVALID, &c, NULL);
    if (rv != CKR_OK) return rv;
    arca_status st = arca_client_get_attribute(c, id, CKA_TOKEN, &v, &len);
    if (st != ARCA_OK) return arca_p11_session_rv(s, st, CKR_OBJECT_HANDLE_INVALID);
    bool token = len == 1 && v[0] != 0;
    free(v);
    return token ? CKR_SESSION_READ_ONLY : CKR_OK;
}

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject)
{
    arca_p11_session *s;
    arca_p11_tmpl t;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (phObject == NULL) {
        arca_p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    rv = arca_p11_tmpl_from_ck(pTemplate, ulCount, &t);
    if (rv != CKR_OK) {
        arca_p11_session_put(s);
        return rv;
    }
    bool token = false;
    if (arca_p11_tmpl_find(&t, CKA_TOKEN) != NULL && !arca_p11_tmpl_bool(&t, CKA_TOKEN, &token)) {
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
    } else if (token && !arca_p11_session_rw(s)) {
        rv = CKR_SESSION_READ_ONLY;
    } else if (!arca_p11_session_logged_in(s)) {
        rv = CKR_USER_NOT_LOGGED_IN;
    } else {
        arca_client_id id;
        arca_status st = arca_client_create_object(s->client, t.attrs, t.num, &id);
        rv = arca_p11_session_rv(s, st, CKR_GENERAL_ERROR);
        if (rv == CKR_OK) rv = arca_p11_handle_new(s->handle, token, &id, phObject);
    }
    arca_p11_tmpl_free(&t);
    arca_p11_session_put(s);
    return rv;
}

/* Copy: only public keys can be copied, by creating a new object from the
 * original's readable attributes (the caller's template wins). Secret and
 * private keys never leave the appliance in a form this module could
 * re-import, so they report CKA_COPYABLE = CK_FALSE and C_CopyObject
 * answers CKR_ACTION_PROHIBITED (PKCS#11 2.40, CKA_COPYABLE). */
static const CK_ATTRIBUTE_TYPE k_copied[] = {
    CKA_CLASS, CKA_KEY_TYPE, CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_LABEL, CKA_ID, CKA_START_DATE,
    CKA_END_DATE, CKA_DERIVE, CKA_ENCRYPT, CKA_VERIFY, CKA_WRAP, CKA_VERIFY_RECOVER, CKA_PUBLIC_KEY_INFO,
};
#define NUM_COPIED (sizeof(k_copied) / sizeof(k_copied[0]))

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                   CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
    arca_p11_session *s;
    arca_p11_tmpl t;
    arca_client_id id;
    uint8_t *vals[NUM_COPIED] = {0};
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (phNewObject == NULL) {
        arca_p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    rv = arca_p11_handle_to_id(hObject, CKR_OBJECT_HANDLE_INVALID, &id);
    if (rv != CKR_OK) {
        arca_p11_session_put(s);
        return rv;
    }
    rv = arca_p11_tmpl_from_ck(pTemplate, ulCount, &t);
    if (rv != CKR_OK) {
        arca_p11_session_put(s);
        return rv;
    }
    CK_ULONG cls = 0;
    bool token = false;
    arca_client *c = NULL;
    if (!arca_p11_session_logged_in(s)) {
        rv = CKR_USER_NOT_LOGGED_IN;
        goto out;
    }
    rv = arca_p11_object_ulong(s, &id, CKA_CLASS, CKR_OBJECT_HANDLE_INVALID, &cls);
    if (rv != CKR_OK) goto out;
    if (cls != CKO_PUBLIC_KEY) {
        rv = CKR_ACTION_PROHIBITED;
        goto out;
    }
    if ((rv = arca_p11_client_for(s, &id, CKR_OBJECT_HANDLE_INVALID, &c, NULL)) != CKR_OK) goto out;
    for (size_t i = 0; i < NUM_COPIED; i++) {
        if (arca_p11_tmpl_find(&t, k_copied[i]) != NULL) continue;
        size_t len = 0;
        arca_status st = arca_client_get_attribute(c, &id, (uint32_t)k_copied[i], &vals[i], &len);
        if (st == ARCA_ERR_ATTRIBUTE_TYPE) continue;
        rv = arca_p11_session_rv(s, st, CKR_OBJECT_HANDLE_INVALID);
        if (rv != CKR_OK) goto out;
        if (t.num >= ARCA_LP_MAX_ATTRS) {
            rv = CKR_TEMPLATE_INCONSISTENT;
            goto out;
        }
        t.attrs[t.num].type = (uint32_t)k_copied[i];
        t.attrs[t.num].value = vals[i];
        t.attrs[t.num].len = len;
        t.num++;
    }
    (void)arca_p11_tmpl_bool(&t, CKA_TOKEN, &token);
    if (token && !arca_p11_session_rw(s)) {
        rv = CKR_SESSION_READ_ONLY;
        goto out;
    }
    arca_client_id nid;
    arca_status st = arca_client_create_object(s->client, t.attrs, t.num, &nid);
    rv = arca_p11_session_rv(s, st, CKR_OBJECT_HANDLE_INVALID);
    if (rv == CKR_OK) rv = arca_p11_handle_new(s->handle, token, &nid, phNewObject);
out:
    for (size_t i = 0; i < NUM_COPIED; i++) free(vals[i]);
    arca_p11_tmpl_free(&t);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    arca_p11_session *s;
    arca_client_id id;
    arca_client *c = NULL;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    rv = arca_p11_handle_to_id(hObject, CKR_OBJECT_HANDLE_INVALID, &id);
    if (rv == CKR_OK && !arca_p11_session_logged_in(s)) rv = CKR_USER_NOT_LOGGED_IN;
    if (rv == CKR_OK) rv = check_writable(s, &id);
    if (rv == CKR_OK) rv = arca_p11_client_for(s, &id, CKR_OBJECT_HANDLE_INVALID, &c, NULL);
    if (rv == CKR_OK) rv = arca_p11_session_rv(s, arca_client_destroy(c, &id), CKR_OBJECT_HANDLE_INVALID);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
    arca_p11_session *s;
    arca_client_id id;
    CK_ULONG cls;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    rv = arca_p11_handle_to_id(hObject, CKR_OBJECT_HANDLE_INVALID, &id);
    if (rv == CKR_OK && pulSize == NULL) rv = CKR_ARGUMENTS_BAD;
    /* Before login the appliance shows public objects only: a private
     * one is ARCA_ERR_NOT_FOUND, hence CKR_OBJECT_HANDLE_INVALID. */
    if (rv == CKR_OK) rv = arca_p11_object_ulong(s, &id, CKA_CLASS, CKR_OBJECT_HANDLE_INVALID, &cls);
    if (rv == CKR_USER_NOT_LOGGED_IN) rv = CKR_OBJECT_HANDLE_INVALID; /* no public access on this session */
    /* Objects are sealed inside the appliance: no meaningful size. */
    if (rv == CKR_OK) *pulSize = CK_UNAVAILABLE_INFORMATION;
    arca_p11_session_put(s);
    return rv;
}

/* Values PKCS#11 defines for every key but the appliance does not store:
 * the wire form of the default, or false when there is none. */
static bool synthesize(CK_ULONG cls, const arca_client_id *id, CK_ATTRIBUTE_TYPE type, uint8_t *buf,
                       size_t *len)
{
    bool key = cls == CKO_SECRET_KEY || cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY;
    switch (type) {
    case CKA_LABEL:
    case CKA_ID:
    case CKA_START_DATE:
    case CKA_END_DATE:
        *len = 0;
        return true;
    case CKA_SUBJECT:
        *len = 0;
        return cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY;
    case CKA_COPYABLE:
        buf[0] = cls == CKO_PUBLIC_KEY;
        *len = 1;
        return true;
    case CKA_DESTROYABLE:
        buf[0] = 1;
        *len = 1;
        return true;
    case CKA_ALWAYS_AUTHENTICATE:
        buf[0] = 0;
        *len = 1;
        return cls == CKO_PRIVATE_KEY;
    case CKA_WRAP_WITH_TRUSTED:
        buf[0] = 0;
        *len = 1;
        return cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY;
    case CKA_TRUSTED:
        buf[0] = 0;
        *len = 1;
        return cls == CKO_PUBLIC_KEY || cls == CKO_SECRET_KEY;
    case CKA_KEY_GEN_MECHANISM:
        arca_p11_put_u32(buf, 0xFFFFFFFFu); /* CK_UNAVAILABLE_INFORMATION, widened on the way out */
        *len = 4;
        return key;
    case CKA_UNIQUE_ID:
        for (size_t i = 0; i < sizeof(id->b); i++) snprintf((char *)buf + 2 * i, 3, "%02x", id->b[i]);
        *len = 2 * sizeof(id->b);
        return true;
    default:
        return false;
    }
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulCount)
{
    arca_p11_session *s;
    arca_client_id id;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    rv = arca_p11_handle_to_id(hObject, CKR_OBJECT_HANDLE_INVALID, &id);
    if (rv == CKR_OK && pTemplate == NULL && ulCount > 0) rv = CKR_ARGUMENTS_BAD;
    /* Before login (and for the SO) the appliance shows the public
     * objects (CKA_PRIVATE false) only: a private one is
     * ARCA_ERR_NOT_FOUND there, hence CKR_OBJECT_HANDLE_INVALID. */
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
    arca_client *c = NULL;
    if (rv == CKR_OK) rv = arca_p11_object_ulong(s, &id, CKA_CLASS, CKR_OBJECT_HANDLE_INVALID, &cls);
    if (rv == CKR_USER_NOT_LOGGED_IN) rv = CKR_OBJECT_HANDLE_INVALID; /* no public access on this session */
    if (rv == CKR_OK) rv = arca_p11_client_for(s, &id, CKR_OBJECT_HANDLE_INVALID, &c, NULL);
    if (rv != CKR_OK) {
        arca_p11_session_put(s);
        return rv;
    }
    /* Every attribute is processed; the answer is the last "soft" error
     * (PKCS#11 2.40 C_GetAttributeValue: sensitive, invalid type, buffer
     * too small), each such attribute with ulValueLen unavailable. */
    CK_RV soft = CKR_OK;
    for (CK_ULONG i = 0; i < ulCount; i++) {
        CK_ATTRIBUTE *a = &pTemplate[i];
        uint8_t *v = NULL;
        size_t len = 0;
        uint8_t buf[64];
        CK_RV r;
        if (a->type > UINT32_MAX || arca_p11_attr_kind_of(a->type) == ARCA_P11_ATTR_UNSUPPORTED) {
            a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            soft = CKR_ATTRIBUTE_TYPE_INVALID;
            continue;
        }
        if (a->type == CKA_COPYABLE || a->type == CKA_UNIQUE_ID) { /* the module decides these */
            (void)synthesize(cls, &id, a->type, buf, &len);
            r = arca_p11_attr_to_ck(a->type, buf, len, a);
            if (r != CKR_OK) soft = r;
            continue;
        }
        arca_status st = arca_client_get_attribute(c, &id, (uint32_t)a->type, &v, &len);
        if (st == ARCA_ERR_ATTRIBUTE_TYPE && synthesize(cls, &id, a->type, buf, &len)) {
            r = arca_p11_attr_to_ck(a->type, buf, len, a);
            if (a->type == CKA_KEY_GEN_MECHANISM && r == CKR_OK && a->pValue != NULL) {
                CK_ULONG u = CK_UNAVAILABLE_INFORMATION;
                memcpy(a->pValue, &u, sizeof(u));
            }
            if (r != CKR_OK) soft = r;
            continue;
        }
        if (st == ARCA_ERR_ATTRIBUTE_SENSITIVE || st == ARCA_ERR_ATTRIBUTE_TYPE) {
            a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            soft = arca_p11_rv_from_status(st);
            continue;
        }
        if (st != ARCA_OK) {
            rv = arca_p11_session_rv(s, st, CKR_OBJECT_HANDLE_INVALID);
            break;
        }
        r = arca_p11_attr_to_ck(a->type, v, len, a);
        arca_client_free_secret(v, len);
        if (r == CKR_GENERAL_ERROR) {
            rv = CKR_DEVICE_ERROR; /* the appliance sent a malformed value */
            break;
        }
        if (r != CKR_OK) soft = r;
    }
    arca_p11_session_put(s);
    return rv != CKR_OK ? rv : soft;
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulCount)
{
    arca_p11_session *s;
    arca_client_id id;
    arca_p11_tmpl t;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    rv = arca_p11_handle_to_id(hObject, CKR_OBJECT_HANDLE_INVALID, &id);
    if (rv != CKR_OK) {
        arca_p11_session_put(s);
        return rv;
    }
    rv = arca_p11_tmpl_from_ck(pTemplate, ulCount, &t);
    if (rv != CKR_OK) {
        arca_p11_session_put(s);
        return rv;
    }
    arca_client *c = NULL;
    if (!arca_p11_session_logged_in(s)) rv = CKR_USER_NOT_LOGGED_IN;
    if (rv == CKR_OK) rv = check_writable(s, &id);
    if (rv == CKR_OK) rv = arca_p11_client_for(s, &id, CKR_OBJECT_HANDLE_INVALID, &c, NULL);
    if (rv == CKR_OK) {
        arca_status st = arca_client_set_attributes(c, &id, t.attrs, t.num);
        rv = arca_p11_session_rv(s, st, CKR_OBJECT_HANDLE_INVALID);
    }
    arca_p11_tmpl_free(&t);
    arca_p11_session_put(s);
    return rv;
}

/* ---- Find ------------------------------------------------------------------ */

/* Add the session objects of the application's other sessions on s's
 * token that match t: each owner's connection is asked for its session
 * objects (t + CKA_TOKEN false); only ids recorded as that owner's are
 * taken (a public token object is found by s itself). A template asking
 * for token objects skips this. A failing owner adds nothing. */
static CK_RV find_session_objects(arca_p11_session *s, arca_p11_tmpl *t, arca_client_id **ids, size_t *num)
{
    bool token = false;
    if (arca_p11_tmpl_bool(t, CKA_TOKEN, &token) && token) return CKR_OK;
    arca_p11_session *owners[64];
    size_t n_owners = arca_p11_session_owners(s, owners, sizeof(owners) / sizeof(owners[0]));
    if (n_owners == 0) return CKR_OK;
    CK_RV rv = CKR_OK;
    arca_client_id *got = malloc(ARCA_LP_FIND_MAX * sizeof(*got));
    if (got == NULL) rv = CKR_HOST_MEMORY;
    /* Session objects only (a full template is asked as it is). */
    if (arca_p11_tmpl_find(t, CKA_TOKEN) == NULL) (void)arca_p11_tmpl_add_bool(t, CKA_TOKEN, false);
    for (size_t i = 0; rv == CKR_OK && i < n_owners; i++) {
        size_t n = 0;
        if (arca_client_find(owners[i]->client, t->attrs, t->num, got, ARCA_LP_FIND_MAX, &n) != ARCA_OK) continue;
        for (size_t k = 0; k < n; k++) {
            if (arca_p11_handle_owner(&got[k]) != owners[i]->handle) continue;
            arca_client_id *grown = realloc(*ids, (*num + 1) * sizeof(**ids));
            if (grown == NULL) {
                rv = CKR_HOST_MEMORY;
                break;
            }
            *ids = grown;
            (*ids)[(*num)++] = got[k];
        }
    }
    free(got);
    arca_p11_sessions_release(owners, n_owners);
    return rv;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    arca_p11_session *s;
    arca_p11_tmpl t;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (s->find.active) {
        arca_p11_session_put(s);
        return CKR_OPERATION_ACTIVE;
    }
    rv = arca_p11_tmpl_from_ck(pTemplate, ulCount, &t);
    if (rv != CKR_OK) {
        arca_p11_session_put(s);
        return rv;
    }
    arca_client_id *ids = NULL;
    size_t num = 0;
    /* The appliance decides what is visible: with a user login every
     * object of the partition; before login (the session selected its
     * token's partition at open) and for the SO, the public objects
     * (CKA_PRIVATE false). A session without public access finds nothing. */
    ids = malloc(ARCA_LP_FIND_MAX * sizeof(*ids));
    if (ids == NULL) {
        rv = CKR_HOST_MEMORY;
    } else {
        arca_status st = arca_client_find(s->client, t.attrs, t.num, ids, ARCA_LP_FIND_MAX, &num);
        /* A template naming an attribute no object has finds nothing. */
        if (st == ARCA_ERR_ATTRIBUTE_TYPE || st == ARCA_ERR_ATTRIBUTE_VALUE || st == ARCA_ERR_NOT_LOGGED_IN) {
            st = ARCA_OK;
            num = 0;
        }
        rv = arca_p11_session_rv(s, st, CKR_GENERAL_ERROR);
    }
    if (rv == CKR_OK) rv = find_session_objects(s, &t, &ids, &num);
    if (rv == CKR_OK) {
        s->find.active = true;
        s->find.ids = ids;
        s->find.num = num;
        s->find.pos = 0;
        ids = NULL;
    }
    free(ids);
    arca_p11_tmpl_free(&t);
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
                    CK_ULONG_PTR pulObjectCount)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (!s->find.active) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else if (pulObjectCount == NULL || (phObject == NULL && ulMaxObjectCount > 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        CK_ULONG n = 0;
        while (n < ulMaxObjectCount && s->find.pos < s->find.num) {
            rv = arca_p11_handle_from_id(&s->find.ids[s->find.pos], &phObject[n]);
            if (rv != CKR_OK) break;
            s->find.pos++;
            n++;
        }
        *pulObjectCount = n;
    }
    arca_p11_session_put(s);
    return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    arca_p11_session *s;
    CK_RV rv = arca_p11_session_get(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (!s->find.active) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        free(s->find.ids);
        memset(&s->find, 0, sizeof(s->find));
    }
    arca_p11_session_put(s);
    return rv;
}
