/* KMIP operations on the lifecycle state: Activate and Revoke. The state
 * machine and its enforcement are the keystore's (arca_kms_activate,
 * arca_kms_revoke, ARCA_CKA_STATE); this file reads the request, says
 * precisely why a transition was refused, and answers. */
#include "kmip_server.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *state_text(uint32_t s)
{
    switch (s) {
    case ARCA_STATE_PRE_ACTIVE: return "Pre-Active";
    case ARCA_STATE_ACTIVE: return "Active";
    case ARCA_STATE_DEACTIVATED: return "Deactivated";
    case ARCA_STATE_COMPROMISED: return "Compromised";
    default: return "in an unknown state";
    }
}

static const char *reason_text(uint32_t code)
{
    switch (code) {
    case ARCA_KMIP_REVOKE_UNSPECIFIED: return "Unspecified";
    case ARCA_KMIP_REVOKE_KEY_COMPROMISE: return "Key Compromise";
    case ARCA_KMIP_REVOKE_CA_COMPROMISE: return "CA Compromise";
    case ARCA_KMIP_REVOKE_AFFILIATION_CHANGED: return "Affiliation Changed";
    case ARCA_KMIP_REVOKE_SUPERSEDED: return "Superseded";
    case ARCA_KMIP_REVOKE_CESSATION_OF_OPERATION: return "Cessation of Operation";
    case ARCA_KMIP_REVOKE_PRIVILEGE_WITHDRAWN: return "Privilege Withdrawn";
    default: return NULL;
    }
}

arca_status kmip_op_activate(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    uint32_t state;
    arca_status st;
    ARCA_GUARD(kmip_get_uid(c, p, &id));
    st = arca_kms_activate(c->kms, c->sess, &id);
    if (st == ARCA_ERR_OBJECT_STATE) {
        ARCA_GUARD(kmip_obj_u32(c, &id, ARCA_CKA_STATE, &state));
        return kmip_fail(c, st, kmip_reason_for(c, st), "the object is %s: only a Pre-Active object can be activated",
                         state_text(state));
    }
    ARCA_GUARD(st);
    return kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id);
}

/* Revocation Reason { Revocation Reason Code, Revocation Message? }, and a
 * Compromise Occurrence Date that KMIP requires with a compromise reason.
 * The reason code and date go into the audit record; the free-text message
 * does not (client text of any kind stays out of the audit chain). */
arca_status kmip_op_revoke(kmip_ctx *c, const arca_ttlv_node *p, arca_builder *out)
{
    arca_object_id id;
    const arca_ttlv_node *rr, *code, *msg, *cod;
    const char *why_text;
    bool compromised;
    uint32_t state;
    arca_status st;
    char detail[128];

    ARCA_GUARD(kmip_get_uid(c, p, &id));
    ARCA_GUARD(kmip_req_child(c, p, ARCA_KMIP_TAG_REVOCATION_REASON, ARCA_TTLV_STRUCTURE, &rr));
    ARCA_GUARD(kmip_req_child(c, rr, ARCA_KMIP_TAG_REVOCATION_REASON_CODE, ARCA_TTLV_ENUMERATION, &code));
    ARCA_GUARD(kmip_opt_child(c, rr, ARCA_KMIP_TAG_REVOCATION_MESSAGE, ARCA_TTLV_TEXT_STRING, &msg));
    ARCA_GUARD(kmip_opt_child(c, p, ARCA_KMIP_TAG_COMPROMISE_OCCURRENCE_DATE, ARCA_TTLV_DATE_TIME, &cod));
    why_text = reason_text(code->u32);
    if (why_text == NULL) {
        return kmip_fail(c, ARCA_ERR_ATTRIBUTE_VALUE, ARCA_KMIP_REASON_INVALID_FIELD,
                         "Revocation Reason Code 0x%x is not a KMIP revocation reason", (unsigned)code->u32);
    }
    compromised = code->u32 == ARCA_KMIP_REVOKE_KEY_COMPROMISE || code->u32 == ARCA_KMIP_REVOKE_CA_COMPROMISE;
    if (compromised && cod == NULL) {
        return kmip_fail(c, ARCA_ERR_DECODE, ARCA_KMIP_REASON_INVALID_FIELD,
                         "a compromise revocation needs a Compromise Occurrence Date");
    }
    if (cod != NULL) {
        struct tm tm;
        char when[32] = "?";
        time_t t = (time_t)cod->i64;
        if (gmtime_r(&t, &tm) != NULL) strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(detail, sizeof(detail), "KMIP Revoke: %s, compromise occurred %s", why_text, when);
    } else {
        snprintf(detail, sizeof(detail), "KMIP Revoke: %s", why_text);
    }
    st = arca_kms_revoke(c->kms, c->sess, &id, compromised, detail);
    if (st == ARCA_ERR_OBJECT_STATE) {
        ARCA_GUARD(kmip_obj_u32(c, &id, ARCA_CKA_STATE, &state));
        if (compromised) {
            return kmip_fail(c, st, kmip_reason_for(c, st), "the object is already %s", state_text(state));
        }
        return kmip_fail(c, st, kmip_reason_for(c, st),
                         "the object is %s: only an Active object can be deactivated (a compromise revocation "
                         "applies to any state before Compromised)",
                         state_text(state));
    }
    ARCA_GUARD(st);
    return kmip_add_uid(out, ARCA_KMIP_TAG_UNIQUE_IDENTIFIER, &id);
}
