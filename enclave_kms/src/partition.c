/* Appliance state, partitions and logins.
 *
 * ARCA_DB_STATE "appliance": sealed (purpose ARCA_SEAL_STATE, AAD = the key
 *   name) u16 format(1) | u8 initialised | u32 next partition id |
 *   admin PIN record.
 * ARCA_DB_STATE "partition/<8 hex digits id>": sealed u16 format(1) |
 *   u32 id | u16-prefixed name | SO PIN record | user PIN record.
 * PIN record: see pin.c. The sealed header's object id of a state blob is
 * SHA-256("arca-state:" || key)[0..16], so state blobs cannot be swapped.
 * All of it is loaded at start-up (it is small); objects are not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "arca/log.h"
#include "kms_internal.h"

#define STATE_FORMAT 1u
#define APPLIANCE_KEY "appliance"
#define PARTITION_PREFIX "partition/"
#define PARTITIONS_MAX 4096u

const char *kms_role_name(arca_role r)
{
    switch (r) {
    case ARCA_ROLE_NONE:
        return "none";
    case ARCA_ROLE_ADMIN:
        return "admin";
    case ARCA_ROLE_SO:
        return "so";
    case ARCA_ROLE_USER:
        return "user";
    default:
        return "invalid";
    }
}

static arca_status state_meta(const char *key, uint64_t version, arca_blob_meta *meta)
{
    uint8_t h[32];
    unsigned int hl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ARCA_ENSURE(md != NULL, ARCA_ERR_NOMEM);
    int ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, "arca-state:", 11) == 1 &&
             EVP_DigestUpdate(md, key, strlen(key)) == 1 && EVP_DigestFinal_ex(md, h, &hl) == 1;
    EVP_MD_CTX_free(md);
    ARCA_ENSURE(ok, ARCA_ERR_CRYPTO);
    memset(meta, 0, sizeof(*meta));
    memcpy(meta->object_id, h, ARCA_OBJECT_ID_LEN);
    meta->object_version = version;
    meta->purpose = ARCA_SEAL_STATE;
    return ARCA_OK;
}

static void partition_key(uint32_t id, char out[32])
{
    snprintf(out, 32, PARTITION_PREFIX "%08x", id);
}

arca_status kms_state_put(arca_kms *kms, kms_txn *t, const char *key, uint64_t version, const uint8_t *pt,
                             size_t pt_len)
{
    arca_blob_meta meta;
    uint8_t *blob = NULL;
    size_t blob_len = 0, key_len = strlen(key);
    ARCA_GUARD(state_meta(key, version, &meta));
    ARCA_GUARD(arca_sealing_seal(kms->sealing, &meta, (const uint8_t *)key, key_len, pt, pt_len, &blob, &blob_len));
    uint8_t *buf = malloc(key_len + blob_len);
    if (buf == NULL) {
        free(blob);
        return ARCA_ERR_NOMEM;
    }
    memcpy(buf, key, key_len);
    memcpy(buf + key_len, blob, blob_len);
    free(blob);
    return kms_txn_add(t, ARCA_STORE_PUT, ARCA_DB_STATE, buf, key_len, buf + key_len, blob_len, buf);
}

arca_status kms_state_unseal(arca_kms *kms, const char *key, const uint8_t *blob, size_t blob_len,
                                uint64_t *out_version, arca_secret *out_pt)
{
    arca_blob_meta expect, meta = {0};
    ARCA_GUARD(state_meta(key, 0, &expect));
    arca_status st = arca_sealing_unseal(kms->sealing, &expect, (const uint8_t *)key, strlen(key), blob, blob_len,
                                         &meta, out_pt);
    if (st == ARCA_ERR_INTEGRITY || st == ARCA_ERR_DECODE) {
        ARCA_ERROR("state %s: sealed blob failed integrity check", key);
        return ARCA_ERR_INTEGRITY;
    }
    ARCA_GUARD(st);
    *out_version = meta.object_version;
    return ARCA_OK;
}

static arca_status appliance_encode(const arca_kms *kms, bool initialised, uint32_t next_id, const kms_pin *admin,
                                    arca_builder *b)
{
    (void)kms;
    ARCA_GUARD(arca_builder_add_u16(b, STATE_FORMAT));
    ARCA_GUARD(arca_builder_add_u8(b, initialised ? 1 : 0));
    ARCA_GUARD(arca_builder_add_u32(b, next_id));
    return kms_pin_encode(admin, b);
}

static arca_status partition_encode(const kms_partition *p, arca_builder *b)
{
    ARCA_GUARD(arca_builder_add_u16(b, STATE_FORMAT));
    ARCA_GUARD(arca_builder_add_u32(b, p->id));
    ARCA_GUARD(arca_builder_add_u16_prefixed(b, p->name, strlen(p->name)));
    ARCA_GUARD(kms_pin_encode(&p->so_pin, b));
    return kms_pin_encode(&p->user_pin, b);
}

static arca_status partition_decode(const uint8_t *pt, size_t len, kms_partition *out)
{
    arca_cursor c, name;
    uint16_t fmt;
    kms_partition p = {0};
    arca_cursor_init(&c, pt, len);
    ARCA_GUARD(arca_cursor_get_u16(&c, &fmt));
    ARCA_ENSURE(fmt == STATE_FORMAT, ARCA_ERR_DECODE);
    ARCA_GUARD(arca_cursor_get_u32(&c, &p.id));
    ARCA_GUARD(arca_cursor_get_u16_prefixed(&c, &name));
    ARCA_ENSURE(name.len >= 1 && name.len <= ARCA_PARTITION_NAME_MAX, ARCA_ERR_DECODE);
    ARCA_ENSURE(memchr(name.data, 0, name.len) == NULL, ARCA_ERR_DECODE);
    memcpy(p.name, name.data, name.len);
    ARCA_GUARD(kms_pin_decode(&c, &p.so_pin));
    ARCA_GUARD(kms_pin_decode(&c, &p.user_pin));
    ARCA_GUARD(arca_cursor_finish(&c));
    *out = p;
    return ARCA_OK;
}

/* Add the sealed partition record to t. */
static arca_status partition_put(arca_kms *kms, kms_txn *t, const kms_partition *p)
{
    arca_status st;
    arca_builder b;
    char key[32];
    partition_key(p->id, key);
    ARCA_GUARD(arca_builder_init(&b, 256, 4096));
    ARCA_GUARD_OUT(partition_encode(p, &b));
    ARCA_GUARD_OUT(b.error);
    st = kms_state_put(kms, t, key, p->version, b.data, b.len);
out:
    arca_builder_cleanup(&b);
    return st;
}

arca_status kms_appliance_put(arca_kms *kms, kms_txn *t, uint64_t version, bool initialised, uint32_t next_id,
                                 const kms_pin *admin)
{
    arca_status st;
    arca_builder b;
    ARCA_GUARD(arca_builder_init(&b, 128, 1024));
    ARCA_GUARD_OUT(appliance_encode(kms, initialised, next_id, admin, &b));
    ARCA_GUARD_OUT(b.error);
    st = kms_state_put(kms, t, APPLIANCE_KEY, version, b.data, b.len);
out:
    arca_builder_cleanup(&b);
    return st;
}

static arca_status load_partitions(arca_kms *kms)
{
    arca_status st = ARCA_OK;
    uint8_t after[64];
    size_t after_len = 0;
    const size_t plen = strlen(PARTITION_PREFIX);
    for (;;) {
        arca_store_entry *e = NULL;
        size_t n = 0;
        ARCA_GUARD(kms->store->scan(kms->store->ctx, ARCA_DB_STATE, (const uint8_t *)PARTITION_PREFIX, plen, after,
                                    after_len, 256, true, false, &e, &n));
        for (size_t i = 0; i < n && st == ARCA_OK; i++) {
            char key[32];
            arca_secret pt = {0};
            kms_partition p;
            uint64_t version = 0;
            /* Keys are "partition/" + 8 hex digits; anything else is the
             * host's invention and is refused. */
            if (e[i].key_len != plen + 8 || memcmp(e[i].key, PARTITION_PREFIX, plen) != 0) {
                st = ARCA_ERR_INTEGRITY;
                break;
            }
            memcpy(key, e[i].key, e[i].key_len);
            key[e[i].key_len] = '\0';
            st = kms_state_unseal(kms, key, e[i].val, e[i].val_len, &version, &pt);
            if (st == ARCA_OK) st = partition_decode(pt.data, pt.len, &p);
            arca_secret_free(&pt);
            if (st == ARCA_ERR_DECODE) st = ARCA_ERR_INTEGRITY;
            if (st != ARCA_OK) break;
            char expect[32];
            partition_key(p.id, expect);
            if (strcmp(expect, key) != 0 || kms->num_partitions >= PARTITIONS_MAX) {
                st = ARCA_ERR_INTEGRITY;
                break;
            }
            p.version = version;
            kms_partition *grown = realloc(kms->partitions, (kms->num_partitions + 1) * sizeof(*grown));
            if (grown == NULL) {
                st = ARCA_ERR_NOMEM;
                break;
            }
            kms->partitions = grown;
            kms->partitions[kms->num_partitions++] = p;
            memcpy(after, e[i].key, e[i].key_len);
            after_len = e[i].key_len;
        }
        arca_store_entries_free(e, n);
        if (st != ARCA_OK || n < 256) break;
    }
    return st;
}

arca_status kms_state_load(arca_kms *kms)
{
    arca_status st;
    uint8_t *val = NULL;
    size_t val_len = 0;
    arca_secret pt = {0};
    arca_cursor c;
    uint16_t fmt;
    uint8_t init;

    st = kms->store->get(kms->store->ctx, ARCA_DB_STATE, (const uint8_t *)APPLIANCE_KEY, strlen(APPLIANCE_KEY), &val,
                         &val_len);
    if (st == ARCA_ERR_NOT_FOUND) {
        kms->initialised = false;
        kms->next_partition_id = 1;
        return ARCA_OK;
    }
    ARCA_GUARD(st);
    ARCA_GUARD_OUT(kms_state_unseal(kms, APPLIANCE_KEY, val, val_len, &kms->appliance_version, &pt));
    arca_cursor_init(&c, pt.data, pt.len);
    st = arca_cursor_get_u16(&c, &fmt);
    if (st == ARCA_OK && fmt != STATE_FORMAT) st = ARCA_ERR_DECODE;
    if (st == ARCA_OK) st = arca_cursor_get_u8(&c, &init);
    if (st == ARCA_OK) st = arca_cursor_get_u32(&c, &kms->next_partition_id);
    if (st == ARCA_OK) st = kms_pin_decode(&c, &kms->admin_pin);
    if (st == ARCA_OK) st = arca_cursor_finish(&c);
    ARCA_ENSURE_OUT(st == ARCA_OK, ARCA_ERR_INTEGRITY);
    kms->initialised = init == 1;
    ARCA_GUARD_OUT(load_partitions(kms));
    ARCA_GUARD_OUT(kms_identities_load(kms));
out:
    arca_secret_free(&pt);
    free(val);
    return st;
}

void kms_state_cleanup(arca_kms *kms)
{
    if (kms->partitions != NULL) arca_wipe(kms->partitions, kms->num_partitions * sizeof(kms_partition));
    free(kms->partitions);
    kms->partitions = NULL;
    kms->num_partitions = 0;
    arca_wipe(&kms->admin_pin, sizeof(kms->admin_pin));
    kms_identities_cleanup(kms);
}

static kms_partition *partition_by_name(arca_kms *kms, const char *name)
{
    for (size_t i = 0; i < kms->num_partitions; i++) {
        if (strcmp(kms->partitions[i].name, name) == 0) return &kms->partitions[i];
    }
    return NULL;
}

static kms_partition *partition_by_id(arca_kms *kms, uint32_t id)
{
    for (size_t i = 0; i < kms->num_partitions; i++) {
        if (kms->partitions[i].id == id) return &kms->partitions[i];
    }
    return NULL;
}

bool arca_kms_is_initialised(arca_kms *kms)
{
    pthread_mutex_lock(&kms->state_mu);
    bool v = kms->initialised;
    pthread_mutex_unlock(&kms->state_mu);
    return v;
}

arca_status arca_kms_initialise(arca_kms *kms, arca_kms_session *sess, const char *admin_pin)
{
    arca_status st;
    kms_txn t;
    kms_pin pin = {0};
    arca_audit_event ev;
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->state_mu);
    ARCA_ENSURE_OUT(!kms->initialised, ARCA_ERR_ALREADY_INITIALISED);
    /* A client over TLS initialises with a client CA
     * (arca_kms_initialise_domain): without one nobody could connect. */
    ARCA_ENSURE_OUT(!sess->has_peer, ARCA_ERR_PERMISSION);
    ARCA_GUARD_OUT(kms_pin_set(&pin, kms->pin_cost, admin_pin));
    ARCA_GUARD_OUT(kms_appliance_put(kms, &t, kms->appliance_version + 1, true, kms->next_partition_id, &pin));
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_INITIALISE, ARCA_OK, NULL, NULL);
    ev.actor = "admin";
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    kms->initialised = true;
    kms->appliance_version++;
    kms->admin_pin = pin;
    sess->role = ARCA_ROLE_ADMIN;
    sess->partition_id = 0;
    sess->partition_name[0] = '\0';
    ARCA_INFO("keystore: appliance initialised");
out:
    pthread_mutex_unlock(&kms->state_mu);
    arca_wipe(&pin, sizeof(pin));
    kms_txn_cleanup(&t);
    return st;
}

static bool name_valid(const char *name)
{
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) return false;
    }
    return true;
}

arca_status arca_kms_partition_create(arca_kms *kms, arca_kms_session *sess, const char *name, const char *so_pin,
                                      const char *user_pin)
{
    arca_status st;
    kms_txn t;
    kms_partition p = {0};
    arca_audit_event ev;
    size_t name_len;
    ARCA_ENSURE(kms != NULL && sess != NULL && name != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_ADMIN, ARCA_ERR_PERMISSION);
    name_len = strnlen(name, ARCA_PARTITION_NAME_MAX + 1);
    ARCA_ENSURE(name_len <= ARCA_PARTITION_NAME_MAX, ARCA_ERR_TOO_LARGE);
    ARCA_ENSURE(name_len >= 1 && name_valid(name), ARCA_ERR_ARGS);
    ARCA_GUARD(kms_pin_check_len(so_pin));
    ARCA_GUARD(kms_pin_check_len(user_pin));
    kms_txn_init(&t);
    pthread_mutex_lock(&kms->state_mu);
    ARCA_ENSURE_OUT(partition_by_name(kms, name) == NULL, ARCA_ERR_EXISTS);
    ARCA_ENSURE_OUT(kms->num_partitions < PARTITIONS_MAX, ARCA_ERR_BUSY);
    p.id = kms->next_partition_id;
    p.version = 1;
    memcpy(p.name, name, name_len);
    ARCA_GUARD_OUT(kms_pin_set(&p.so_pin, kms->pin_cost, so_pin));
    ARCA_GUARD_OUT(kms_pin_set(&p.user_pin, kms->pin_cost, user_pin));
    ARCA_GUARD_OUT(partition_put(kms, &t, &p));
    ARCA_GUARD_OUT(kms_appliance_put(kms, &t, kms->appliance_version + 1, true, p.id + 1, &kms->admin_pin));
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_PARTITION_CREATE, ARCA_OK, NULL, NULL);
    ev.partition = p.name;
    kms_partition *grown = realloc(kms->partitions, (kms->num_partitions + 1) * sizeof(*grown));
    ARCA_ENSURE_OUT(grown != NULL, ARCA_ERR_NOMEM);
    kms->partitions = grown;
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    kms->partitions[kms->num_partitions++] = p;
    kms->next_partition_id = p.id + 1;
    kms->appliance_version++;
out:
    pthread_mutex_unlock(&kms->state_mu);
    arca_wipe(&p, sizeof(p));
    kms_txn_cleanup(&t);
    return st;
}

arca_status arca_kms_partition_list(arca_kms *kms, arca_kms_session *sess, arca_builder *out)
{
    arca_status st = ARCA_OK;
    ARCA_ENSURE(kms != NULL && sess != NULL && out != NULL, ARCA_ERR_ARGS);
    pthread_mutex_lock(&kms->state_mu);
    for (size_t i = 0; i < kms->num_partitions && st == ARCA_OK; i++) {
        st = arca_builder_add_bytes(out, kms->partitions[i].name, strlen(kms->partitions[i].name) + 1);
    }
    pthread_mutex_unlock(&kms->state_mu);
    return st;
}

/* Persist a changed failure count (and the login's audit record) in one
 * commit. Called with state_mu held. */
static arca_status persist_pin_state(arca_kms *kms, arca_kms_session *sess, kms_partition *p, const kms_pin *admin,
                                     const arca_audit_event *ev)
{
    arca_status st;
    kms_txn t;
    kms_txn_init(&t);
    if (p != NULL) {
        kms_partition np = *p;
        np.version++;
        st = partition_put(kms, &t, &np);
        arca_wipe(&np, sizeof(np));
    } else {
        st = kms_appliance_put(kms, &t, kms->appliance_version + 1, kms->initialised, kms->next_partition_id, admin);
    }
    if (st == ARCA_OK) st = kms_txn_commit(kms, &t, ev);
    if (st == ARCA_OK) {
        if (p != NULL) p->version++;
        else kms->appliance_version++;
    }
    kms_txn_cleanup(&t);
    (void)sess;
    return st;
}

arca_status arca_kms_login(arca_kms *kms, arca_kms_session *sess, const char *partition, arca_role role,
                           const char *pin)
{
    arca_status st, outcome;
    kms_partition *p = NULL;
    kms_pin *rec;
    arca_audit_event ev;
    arca_kms_session who;

    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_NONE, ARCA_ERR_ALREADY_LOGGED_IN);
    ARCA_GUARD(kms_pin_check_len(pin));
    /* Logins are serialised: the slow hash runs under the state lock, so
     * parallel guesses cannot overtake the failure counter. */
    pthread_mutex_lock(&kms->state_mu);
    ARCA_ENSURE_OUT(kms->initialised, ARCA_ERR_NOT_INITIALISED);
    switch (role) {
    case ARCA_ROLE_ADMIN:
        ARCA_ENSURE_OUT(partition == NULL, ARCA_ERR_ARGS);
        rec = &kms->admin_pin;
        break;
    case ARCA_ROLE_SO:
    case ARCA_ROLE_USER:
        ARCA_ENSURE_OUT(partition != NULL, ARCA_ERR_ARGS);
        p = partition_by_name(kms, partition);
        ARCA_ENSURE_OUT(p != NULL, ARCA_ERR_NOT_FOUND);
        rec = role == ARCA_ROLE_SO ? &p->so_pin : &p->user_pin;
        break;
    default:
        st = ARCA_ERR_ARGS;
        goto out;
    }
    memset(&who, 0, sizeof(who));
    who.role = role;
    if (p != NULL) memcpy(who.partition_name, p->name, sizeof(who.partition_name));
    who.has_peer = sess->has_peer;
    memcpy(who.identity, sess->identity, sizeof(who.identity));

    /* Certificate first: an identity that may not take this role does not
     * get to try a PIN (and does not count against it). */
    st = kms_identity_may_login(kms, sess, role, p != NULL ? p->name : NULL);
    if (st != ARCA_OK) {
        (void)kms_audit_use(kms, &who, ARCA_AUDIT_LOGIN_FAILED, st, NULL,
                            st == ARCA_ERR_IDENTITY_UNKNOWN ? "identity not registered" : "identity not authorised");
        goto out;
    }

    /* A user PIN cleared by INIT_TOKEN: nothing to guess until the SO
     * sets one (not counted). */
    if (rec->cost == 0) {
        st = ARCA_ERR_NOT_INITIALISED;
        (void)kms_audit_use(kms, &who, ARCA_AUDIT_LOGIN_FAILED, st, NULL, "user pin not initialised");
        goto out;
    }
    /* The admin PIN is not locked out (that would brick the appliance);
     * its failures are counted and audited, and every guess costs a
     * scrypt evaluation under the serialising lock. */
    if (role != ARCA_ROLE_ADMIN && rec->failures >= ARCA_PIN_MAX_FAILURES) {
        st = ARCA_ERR_PIN_LOCKED;
        (void)kms_audit_use(kms, &who, ARCA_AUDIT_LOGIN_FAILED, st, NULL, "locked");
        goto out;
    }
    outcome = kms_pin_verify(rec, pin);
    if (outcome != ARCA_OK && outcome != ARCA_ERR_PIN_INCORRECT) {
        st = outcome;
        goto out;
    }
    kms_audit_event_init(&ev, &who, outcome == ARCA_OK ? ARCA_AUDIT_LOGIN : ARCA_AUDIT_LOGIN_FAILED, outcome, NULL,
                         NULL);
    if (outcome != ARCA_OK || rec->failures != 0) {
        kms_pin saved = *rec;
        rec->failures = outcome == ARCA_OK ? 0 : rec->failures + 1;
        st = persist_pin_state(kms, sess, p, rec, &ev);
        if (st != ARCA_OK) {
            *rec = saved;
            goto out;
        }
        if (outcome != ARCA_OK) {
            ARCA_WARN("keystore: login failed for %s%s%s (%u consecutive failures)", kms_role_name(role),
                      p != NULL ? " of partition " : "", p != NULL ? p->name : "", rec->failures);
        }
    } else {
        ARCA_GUARD_OUT(arca_audit_append(kms->audit, &ev));
    }
    ARCA_GUARD_OUT(outcome);
    sess->role = role;
    if (p != NULL) p->logins++;
    sess->partition_id = p != NULL ? p->id : 0;
    memcpy(sess->partition_name, who.partition_name, sizeof(sess->partition_name));
    st = ARCA_OK;
out:
    pthread_mutex_unlock(&kms->state_mu);
    return st;
}

static void free_session_objects(arca_kms_session *sess)
{
    kms_object *o = sess->objects;
    while (o != NULL) {
        kms_object *next = o->snext;
        o->snext = NULL;
        kms_object_release(&sess->kms->cache, o);
        o = next;
    }
    sess->objects = NULL;
    sess->num_objects = 0;
}

/* The session's SO / user login ends: one login fewer on its partition. */
static void login_ended(arca_kms *kms, const arca_kms_session *sess)
{
    if (sess->role != ARCA_ROLE_SO && sess->role != ARCA_ROLE_USER) return;
    pthread_mutex_lock(&kms->state_mu);
    kms_partition *p = partition_by_id(kms, sess->partition_id);
    if (p != NULL && p->logins > 0) p->logins--;
    pthread_mutex_unlock(&kms->state_mu);
}

arca_status arca_kms_logout(arca_kms *kms, arca_kms_session *sess)
{
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role != ARCA_ROLE_NONE, ARCA_ERR_NOT_LOGGED_IN);
    login_ended(kms, sess);
    /* Session objects belong to the login that made them. */
    free_session_objects(sess);
    sess->role = ARCA_ROLE_NONE;
    /* Back to public access to the selected partition, if any. */
    sess->partition_id = sess->public_partition_id;
    memcpy(sess->partition_name, sess->public_partition_name, sizeof(sess->partition_name));
    return ARCA_OK;
}

arca_status arca_kms_select_partition(arca_kms *kms, arca_kms_session *sess, const char *name)
{
    arca_status st;
    kms_partition *p;
    ARCA_ENSURE(kms != NULL && sess != NULL && name != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_NONE, ARCA_ERR_ALREADY_LOGGED_IN);
    pthread_mutex_lock(&kms->state_mu);
    ARCA_ENSURE_OUT(kms->initialised, ARCA_ERR_NOT_INITIALISED);
    p = partition_by_name(kms, name);
    ARCA_ENSURE_OUT(p != NULL, ARCA_ERR_NOT_FOUND);
    /* The partition rule of an SO login: the partition is in the
     * identity's list, whatever its roles. No PIN. */
    st = kms_identity_may_login(kms, sess, ARCA_ROLE_SO, p->name);
    if (st != ARCA_OK) {
        arca_kms_session who;
        memset(&who, 0, sizeof(who));
        who.role = ARCA_ROLE_NONE;
        memcpy(who.partition_name, p->name, sizeof(who.partition_name));
        who.has_peer = sess->has_peer;
        memcpy(who.identity, sess->identity, sizeof(who.identity));
        (void)kms_audit_use(kms, &who, ARCA_AUDIT_LOGIN_FAILED, st, NULL,
                            st == ARCA_ERR_IDENTITY_UNKNOWN ? "public access: identity not registered"
                                                            : "public access: identity not authorised");
        ARCA_WARN("keystore: public access to partition %s refused for %s", p->name, sess->identity);
        goto out;
    }
    sess->public_partition_id = p->id;
    memcpy(sess->public_partition_name, p->name, sizeof(sess->public_partition_name));
    sess->partition_id = p->id;
    memcpy(sess->partition_name, p->name, sizeof(sess->partition_name));
    st = ARCA_OK;
out:
    pthread_mutex_unlock(&kms->state_mu);
    return st;
}

arca_status arca_kms_init_user_pin(arca_kms *kms, arca_kms_session *sess, const char *new_pin)
{
    arca_status st;
    kms_partition *p;
    kms_pin saved;
    arca_audit_event ev;
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_SO, sess->role == ARCA_ROLE_NONE ? ARCA_ERR_NOT_LOGGED_IN : ARCA_ERR_PERMISSION);
    ARCA_GUARD(kms_pin_check_len(new_pin));
    pthread_mutex_lock(&kms->state_mu);
    p = partition_by_id(kms, sess->partition_id);
    ARCA_ENSURE_OUT(p != NULL, ARCA_ERR_NOT_FOUND);
    saved = p->user_pin;
    ARCA_GUARD_OUT(kms_pin_set(&p->user_pin, kms->pin_cost, new_pin));
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_PIN_CHANGE, ARCA_OK, NULL, "user pin reset by so");
    st = persist_pin_state(kms, sess, p, NULL, &ev);
    if (st != ARCA_OK) p->user_pin = saved;
out:
    pthread_mutex_unlock(&kms->state_mu);
    return st;
}

arca_status arca_kms_set_pin(arca_kms *kms, arca_kms_session *sess, const char *old_pin, const char *new_pin)
{
    arca_status st, outcome;
    kms_partition *p;
    kms_pin *rec;
    kms_pin saved = {0};
    arca_audit_event ev;
    ARCA_ENSURE(kms != NULL && sess != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role != ARCA_ROLE_NONE, ARCA_ERR_NOT_LOGGED_IN);
    ARCA_ENSURE(sess->role == ARCA_ROLE_USER || sess->role == ARCA_ROLE_SO, ARCA_ERR_PERMISSION);
    ARCA_GUARD(kms_pin_check_len(old_pin));
    ARCA_GUARD(kms_pin_check_len(new_pin));
    /* Serialised with logins: the old PIN is one more guess against the
     * same failure counter. */
    pthread_mutex_lock(&kms->state_mu);
    p = partition_by_id(kms, sess->partition_id);
    ARCA_ENSURE_OUT(p != NULL, ARCA_ERR_NOT_FOUND);
    rec = sess->role == ARCA_ROLE_SO ? &p->so_pin : &p->user_pin;
    ARCA_ENSURE_OUT(rec->cost != 0, ARCA_ERR_NOT_INITIALISED);
    if (rec->failures >= ARCA_PIN_MAX_FAILURES) {
        st = ARCA_ERR_PIN_LOCKED;
        (void)kms_audit_use(kms, sess, ARCA_AUDIT_PIN_CHANGE, st, NULL, "locked");
        goto out;
    }
    saved = *rec;
    outcome = kms_pin_verify(rec, old_pin);
    if (outcome == ARCA_ERR_PIN_INCORRECT) {
        kms_audit_event_init(&ev, sess, ARCA_AUDIT_PIN_CHANGE, outcome, NULL, "old pin incorrect");
        rec->failures++;
        st = persist_pin_state(kms, sess, p, NULL, &ev);
        if (st != ARCA_OK) {
            *rec = saved;
            goto out;
        }
        ARCA_WARN("keystore: pin change refused for %s of partition %s (%u consecutive failures)",
                  kms_role_name(sess->role), p->name, rec->failures);
        st = outcome;
        goto out;
    }
    ARCA_GUARD_OUT(outcome);
    /* A new record: fresh salt, failure count 0. */
    ARCA_GUARD_OUT(kms_pin_set(rec, kms->pin_cost, new_pin));
    kms_audit_event_init(&ev, sess, ARCA_AUDIT_PIN_CHANGE, ARCA_OK, NULL,
                         sess->role == ARCA_ROLE_SO ? "so pin changed" : "user pin changed");
    st = persist_pin_state(kms, sess, p, NULL, &ev);
    if (st != ARCA_OK) *rec = saved;
out:
    arca_wipe(&saved, sizeof(saved));
    pthread_mutex_unlock(&kms->state_mu);
    return st;
}

/* ---- INIT_TOKEN ---------------------------------------------------------- */

#define INIT_TOKEN_SCAN_PAGE 1024u
#define INIT_TOKEN_BATCH_OPS 512u /* store ops per deletion commit (< ARCA_STORE_MAX_OPS) */

/* The ids of the token objects of partition pid: the KMS_IDX_ALL index
 * (one entry per object). *out malloc'd. Called with the locks held. */
static arca_status partition_object_ids(arca_kms *kms, uint32_t pid, arca_object_id **out, size_t *out_num)
{
    arca_status st = ARCA_OK;
    uint8_t prefix[KMS_INDEX_HMAC_LEN], after[KMS_INDEX_KEY_LEN];
    size_t after_len = 0, num = 0, cap = 0;
    arca_object_id *ids = NULL;
    ARCA_GUARD(kms_index_hmac(&kms->k_index, pid, KMS_IDX_ALL, NULL, 0, NULL, 0, prefix));
    for (;;) {
        arca_store_entry *e = NULL;
        size_t n = 0;
        ARCA_GUARD_OUT(kms->store->scan(kms->store->ctx, ARCA_DB_INDEX, prefix, sizeof(prefix), after, after_len,
                                        INIT_TOKEN_SCAN_PAGE, false, false, &e, &n));
        if (n > INIT_TOKEN_SCAN_PAGE) n = INIT_TOKEN_SCAN_PAGE;
        for (size_t i = 0; i < n && st == ARCA_OK; i++) {
            /* A lying scan could loop us forever: strictly increasing keys only. */
            if (e[i].key_len != KMS_INDEX_KEY_LEN || memcmp(e[i].key, prefix, sizeof(prefix)) != 0 ||
                (after_len > 0 && memcmp(e[i].key, after, KMS_INDEX_KEY_LEN) <= 0)) {
                ARCA_WARN("keystore: init token: ignoring a malformed or out-of-order index entry");
                n = i;
                break;
            }
            memcpy(after, e[i].key, KMS_INDEX_KEY_LEN);
            after_len = KMS_INDEX_KEY_LEN;
            if (num == cap) {
                size_t ncap = cap == 0 ? 64 : cap * 2;
                arca_object_id *grown = realloc(ids, ncap * sizeof(*grown));
                if (grown == NULL) {
                    st = ARCA_ERR_NOMEM;
                    break;
                }
                ids = grown;
                cap = ncap;
            }
            memcpy(ids[num++].b, e[i].key + KMS_INDEX_HMAC_LEN, ARCA_OBJECT_ID_LEN);
        }
        arca_store_entries_free(e, n);
        ARCA_GUARD_OUT(st);
        if (n < INIT_TOKEN_SCAN_PAGE) break;
    }
    *out = ids;
    *out_num = num;
    ids = NULL;
out:
    free(ids);
    return st;
}

/* Delete the sealed blobs and index entries of the objects ids[] that
 * lived in partition old_pid (unreachable already), in commits of at most
 * INIT_TOKEN_BATCH_OPS ops. An object whose blob is gone or damaged loses
 * what can be named without its attributes (blob, KMS_IDX_ALL entry). */
static arca_status delete_objects(arca_kms *kms, uint32_t old_pid, const arca_object_id *ids, size_t num)
{
    arca_status st = ARCA_OK;
    const size_t per_object = 1 + KMS_INDEX_MAX_ENTRIES + 1;
    arca_store_op *ops = calloc(INIT_TOKEN_BATCH_OPS, sizeof(*ops));
    kms_index_key *keys = calloc(INIT_TOKEN_BATCH_OPS, sizeof(*keys));
    arca_kms_session reader;
    size_t first = 0; /* first object of the batch being built */
    size_t nops = 0, nkeys = 0;
    ARCA_ENSURE_OUT(ops != NULL && keys != NULL, ARCA_ERR_NOMEM);
    /* A user of the old partition, to load its objects (never a client's). */
    memset(&reader, 0, sizeof(reader));
    reader.kms = kms;
    reader.role = ARCA_ROLE_USER;
    reader.partition_id = old_pid;
    for (size_t i = 0; i <= num; i++) {
        if (i == num || nops + per_object > INIT_TOKEN_BATCH_OPS) {
            if (nops > 0) ARCA_GUARD_OUT(kms->store->commit(kms->store->ctx, ops, nops));
            for (size_t k = first; k < i; k++) kms_cache_remove(&kms->cache, &ids[k]);
            first = i;
            nops = nkeys = 0;
            if (i == num) break;
        }
        kms_index_key entries[KMS_INDEX_MAX_ENTRIES];
        size_t num_entries = 0;
        kms_object *o = NULL;
        if (kms_object_load(kms, &reader, &ids[i], &o) == ARCA_OK) {
            arca_status est = kms_index_entries(&kms->k_index, old_pid, &o->id, &o->attrs, entries, &num_entries);
            kms_object_release(&kms->cache, o);
            if (est != ARCA_OK) num_entries = 0;
        }
        if (num_entries == 0) {
            ARCA_GUARD_OUT(kms_index_hmac(&kms->k_index, old_pid, KMS_IDX_ALL, NULL, 0, NULL, 0, entries[0].b));
            memcpy(entries[0].b + KMS_INDEX_HMAC_LEN, ids[i].b, ARCA_OBJECT_ID_LEN);
            num_entries = 1;
        }
        ops[nops++] = (arca_store_op){.kind = ARCA_STORE_DEL, .db = ARCA_DB_BLOBS, .key = ids[i].b,
                                      .key_len = ARCA_OBJECT_ID_LEN};
        for (size_t k = 0; k < num_entries; k++) {
            keys[nkeys] = entries[k];
            ops[nops++] = (arca_store_op){.kind = ARCA_STORE_DEL, .db = ARCA_DB_INDEX, .key = keys[nkeys].b,
                                          .key_len = KMS_INDEX_KEY_LEN};
            nkeys++;
        }
    }
out:
    free(ops);
    free(keys);
    arca_wipe(&reader, sizeof(reader));
    return st;
}

arca_status arca_kms_init_token(arca_kms *kms, arca_kms_session *sess, const char *partition, const char *so_pin,
                                uint64_t *out_destroyed)
{
    arca_status st;
    kms_txn t;
    kms_partition *p = NULL, np;
    arca_object_id *ids = NULL;
    size_t num_ids = 0;
    uint32_t old_pid = 0;
    arca_audit_event ev;
    arca_kms_session who;
    char detail[96], old_key[32];

    ARCA_ENSURE(kms != NULL && sess != NULL && partition != NULL && so_pin != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(sess->role == ARCA_ROLE_NONE, ARCA_ERR_ALREADY_LOGGED_IN);
    ARCA_GUARD(kms_pin_check_len(so_pin));
    memset(&np, 0, sizeof(np));
    kms_txn_init(&t);
    /* write_mu: no token object write interleaves; state_mu: no login
     * starts while the partition is checked and re-initialised. */
    pthread_mutex_lock(&kms->write_mu);
    pthread_mutex_lock(&kms->state_mu);
    ARCA_ENSURE_OUT(kms->initialised, ARCA_ERR_NOT_INITIALISED);
    p = partition_by_name(kms, partition);
    ARCA_ENSURE_OUT(p != NULL, ARCA_ERR_NOT_FOUND);
    memset(&who, 0, sizeof(who));
    who.role = ARCA_ROLE_SO;
    memcpy(who.partition_name, p->name, sizeof(who.partition_name));
    who.has_peer = sess->has_peer;
    memcpy(who.identity, sess->identity, sizeof(who.identity));

    /* The SO login's checks: identity, lock-out, the PIN (counted). */
    st = kms_identity_may_login(kms, sess, ARCA_ROLE_SO, p->name);
    if (st != ARCA_OK) {
        (void)kms_audit_use(kms, &who, ARCA_AUDIT_INIT_TOKEN, st, NULL,
                            st == ARCA_ERR_IDENTITY_UNKNOWN ? "identity not registered" : "identity not authorised");
        goto out;
    }
    if (p->so_pin.failures >= ARCA_PIN_MAX_FAILURES) {
        st = ARCA_ERR_PIN_LOCKED;
        (void)kms_audit_use(kms, &who, ARCA_AUDIT_INIT_TOKEN, st, NULL, "so pin locked");
        goto out;
    }
    st = kms_pin_verify(&p->so_pin, so_pin);
    if (st == ARCA_ERR_PIN_INCORRECT) {
        kms_pin saved = p->so_pin;
        kms_audit_event_init(&ev, &who, ARCA_AUDIT_INIT_TOKEN, st, NULL, "so pin incorrect");
        p->so_pin.failures++;
        arca_status pst = persist_pin_state(kms, sess, p, NULL, &ev);
        if (pst != ARCA_OK) {
            p->so_pin = saved;
            st = pst;
        }
        ARCA_WARN("keystore: init token refused for partition %s: so pin incorrect (%u consecutive failures)",
                  p->name, p->so_pin.failures);
        goto out;
    }
    ARCA_GUARD_OUT(st);
    if (p->logins > 0) {
        st = ARCA_ERR_BUSY;
        snprintf(detail, sizeof(detail), "%u sessions logged in", p->logins);
        (void)kms_audit_use(kms, &who, ARCA_AUDIT_INIT_TOKEN, st, NULL, detail);
        goto out;
    }
    old_pid = p->id;
    ARCA_GUARD_OUT(partition_object_ids(kms, old_pid, &ids, &num_ids));

    /* One commit: the partition under a new id (its objects unreachable at
     * once: blobs and index entries are bound to the id), no user PIN, the
     * SO PIN's failures cleared; the appliance's next id; the audit record. */
    ARCA_ENSURE_OUT(kms->num_partitions < PARTITIONS_MAX && kms->next_partition_id < UINT32_MAX, ARCA_ERR_BUSY);
    np = *p;
    np.id = kms->next_partition_id;
    np.version = 1;
    np.so_pin.failures = 0;
    memset(&np.user_pin, 0, sizeof(np.user_pin));
    np.logins = 0;
    partition_key(old_pid, old_key);
    ARCA_GUARD_OUT(kms_txn_add(&t, ARCA_STORE_DEL, ARCA_DB_STATE, (const uint8_t *)old_key, strlen(old_key), NULL, 0,
                               NULL));
    ARCA_GUARD_OUT(partition_put(kms, &t, &np));
    ARCA_GUARD_OUT(kms_appliance_put(kms, &t, kms->appliance_version + 1, true, np.id + 1, &kms->admin_pin));
    snprintf(detail, sizeof(detail), "%zu token objects destroyed; user pin cleared", num_ids);
    kms_audit_event_init(&ev, &who, ARCA_AUDIT_INIT_TOKEN, ARCA_OK, NULL, detail);
    ARCA_GUARD_OUT(kms_txn_commit(kms, &t, &ev));
    *p = np;
    kms->next_partition_id = np.id + 1;
    kms->appliance_version++;
    ARCA_INFO("keystore: partition %s re-initialised by its SO: %zu token objects destroyed", p->name, num_ids);

    /* Then the old objects themselves. */
    arca_status dst = delete_objects(kms, old_pid, ids, num_ids);
    if (dst != ARCA_OK) {
        ARCA_ERROR("keystore: init token of %s: deleting the old objects failed (%s): they stay in the store, "
                   "unreachable", p->name, arca_status_name(dst));
    }
    if (out_destroyed != NULL) *out_destroyed = num_ids;
    st = ARCA_OK;
out:
    pthread_mutex_unlock(&kms->state_mu);
    pthread_mutex_unlock(&kms->write_mu);
    arca_wipe(&np, sizeof(np));
    free(ids);
    kms_txn_cleanup(&t);
    return st;
}

arca_status arca_kms_session_new(arca_kms *kms, arca_kms_session **out)
{
    ARCA_ENSURE(kms != NULL && out != NULL, ARCA_ERR_ARGS);
    arca_kms_session *s = calloc(1, sizeof(*s));
    ARCA_ENSURE(s != NULL, ARCA_ERR_NOMEM);
    s->kms = kms;
    s->role = ARCA_ROLE_NONE;
    *out = s;
    return ARCA_OK;
}

void arca_kms_session_free(arca_kms_session *sess)
{
    if (sess == NULL) return;
    login_ended(sess->kms, sess);
    free_session_objects(sess);
    X509_free(sess->peer_cert);
    sk_X509_pop_free(sess->peer_chain, X509_free);
    arca_wipe(sess, sizeof(*sess));
    free(sess);
}

arca_role arca_kms_session_role(const arca_kms_session *sess)
{
    return sess != NULL ? sess->role : ARCA_ROLE_NONE;
}
