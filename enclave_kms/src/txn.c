/* Store transactions of the keystore: the ops of one lifecycle change,
 * committed together with its audit record and any pending key-use
 * records (all or nothing, durable before the caller answers), and the
 * audit helpers for key use (batched: audit.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/log.h"
#include "kms_internal.h"

void kms_txn_init(kms_txn *t)
{
    memset(t, 0, sizeof(*t));
}

void kms_txn_cleanup(kms_txn *t)
{
    for (size_t i = 0; i < t->num_owned; i++) free(t->owned[i]);
    memset(t, 0, sizeof(*t));
}

arca_status kms_txn_add(kms_txn *t, uint8_t kind, uint8_t db, const uint8_t *key, size_t key_len,
                        const uint8_t *val, size_t val_len, void *owned)
{
    if (owned != NULL) {
        if (t->num_owned >= KMS_TXN_MAX_OPS) {
            free(owned);
            return ARCA_ERR_TOO_LARGE;
        }
        t->owned[t->num_owned++] = owned;
    }
    /* One slot stays free for the audit record. */
    ARCA_ENSURE(t->num + 1 < KMS_TXN_MAX_OPS, ARCA_ERR_TOO_LARGE);
    arca_store_op *op = &t->ops[t->num++];
    op->kind = kind;
    op->db = db;
    op->key = key;
    op->key_len = key_len;
    op->val = val;
    op->val_len = val_len;
    return ARCA_OK;
}

arca_status kms_txn_commit(arca_kms *kms, kms_txn *t, const arca_audit_event *ev)
{
    arca_status st;
    if (ev == NULL) return kms->store->commit(kms->store->ctx, t->ops, t->num);
    /* The pending key-use records go into this commit first. */
    st = arca_audit_commit(kms->audit, ev, t->ops, t->num);
    if (st != ARCA_OK) ARCA_ERROR("keystore: commit failed: %s", arca_status_name(st));
    return st;
}

void kms_audit_event_init(arca_audit_event *ev, const arca_kms_session *sess, uint16_t op, arca_status outcome,
                          const arca_object_id *id, const char *detail)
{
    memset(ev, 0, sizeof(*ev));
    ev->op = op;
    ev->status = outcome;
    ev->object_id = id != NULL ? id->b : NULL;
    ev->partition = sess != NULL && sess->partition_name[0] != '\0' ? sess->partition_name : NULL;
    ev->actor = NULL;
    if (sess != NULL && sess->identity[0] != '\0') {
        snprintf(ev->actor_buf, sizeof(ev->actor_buf), "%s/%s", sess->identity, kms_role_name(sess->role));
    } else if (sess != NULL) {
        ev->actor = kms_role_name(sess->role);
    }
    ev->detail = detail;
}

arca_status kms_audit_use(arca_kms *kms, const arca_kms_session *sess, uint16_t op, arca_status outcome,
                          const arca_object_id *id, const char *detail)
{
    arca_audit_event ev;
    kms_audit_event_init(&ev, sess, op, outcome, id, detail);
    /* Key use is batched (stored within ARCA_AUDIT_BATCH_DELAY_MS, never
     * with a gap); everything else is durable before the answer. */
    arca_status st = arca_audit_is_use_op(op) ? arca_audit_append_use(kms->audit, &ev)
                                              : arca_audit_append(kms->audit, &ev);
    if (st != ARCA_OK) ARCA_ERROR("keystore: audit append failed: %s", arca_status_name(st));
    return st;
}
