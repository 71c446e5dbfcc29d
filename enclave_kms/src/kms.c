/* The keystore: opening it, stats, audit verification, random numbers.
 *
 * Design (for docs/keystore.md):
 *
 * Files. kms.c (this), partition.c (appliance state, partitions, PINs,
 * logins, sessions), pin.c (scrypt), attrs.c (attribute vocabulary,
 * template checks, defaults), object.c (object encoding, loading, sealed
 * persistence), index.c (blind indexes), find.c, cache.c (bounded LRU),
 * keygen.c (generate / import / publish), lifecycle.c (get/set attribute,
 * destroy, rotate), use.c (sign ... derive), txn.c (commits + audit).
 *
 * State. ARCA_DB_STATE "appliance" and "partition/<8 hex id>", sealed with
 * purpose STATE (AAD = the key name). Read completely at open (small);
 * objects are never read at open. PIN hashes: scrypt N = 2^cost (cfg, 15 by
 * default), r = 8, p = 1, 16-byte salt, 32-byte output, constant-time
 * compare; the cost is stored per hash. SO and user PINs lock after
 * ARCA_PIN_MAX_FAILURES consecutive failures (ARCA_ERR_PIN_LOCKED even with
 * the right PIN); the SO's init_user_pin resets and unlocks the user PIN.
 * The admin PIN is counted and audited but never locked (a locked admin
 * would brick the appliance; logins are serialised and each costs one
 * scrypt). Failure counters are persisted in the same commit as the
 * login's audit record. Logins are serialised under one lock so parallel
 * guesses cannot overtake the counter.
 *
 * Authorisation. Object operations need a USER login; objects of another
 * partition answer ARCA_ERR_NOT_FOUND. Partition creation needs ADMIN
 * (ARCA_ERR_PERMISSION for every other session, logged in or not). The SO
 * can only reset the user PIN. Logout frees the session's session objects.
 * arca_kms_random needs no login (as C_GenerateRandom).
 *
 * Objects. Id = 16 random bytes. Stored attributes: see attrs.c (PKCS#11
 * encoding of kms.h). Defaults: token, private (public keys: not
 * private), modifiable, sensitive and unextractable (secret and private
 * keys, also when imported); secret keys encrypt/decrypt/sign/verify/wrap/
 * unwrap, not derive; private keys sign, RSA also decrypt/unwrap, EC also
 * derive; public keys verify, RSA also encrypt/wrap. New keys are version 1
 * and primary. A pair's halves share CKA_LABEL and CKA_ID. Computed on
 * read: CKA_VALUE (secret keys, only if extractable and not sensitive;
 * audited as GET_VALUE; private keys never), CKA_PUBLIC_KEY_INFO,
 * CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS, CKA_EC_POINT,
 * ARCA_CKA_OBJECT_ID. Read-only for callers: CKA_ALWAYS_SENSITIVE,
 * CKA_NEVER_EXTRACTABLE, CKA_LOCAL, CKA_MODULUS, CKA_EC_POINT, private
 * components, ARCA_CKA_KEY_VERSION, ARCA_CKA_PRIMARY (managed by rotate),
 * ARCA_CKA_OBJECT_ID. An attribute known but not applicable to the class
 * in a template: ARCA_ERR_TEMPLATE_INCONSISTENT; duplicate: same. RSA
 * public exponent: only 65537. Import of CKO_DATA/certificates: not
 * supported (ARCA_ERR_ATTRIBUTE_VALUE for CKA_CLASS).
 *
 * Persistence. Blob value = u32 partition id (clear) || sealed blob
 * (purpose OBJECT, object id, object version +1 per change, AAD = u32
 * partition id) of the serialised object (see object.c). Every lifecycle
 * change is one commit: blobs + blind index changes + the audit record.
 *
 * Blind indexes. HMAC-SHA256(k_index = derive_key("blind-index"),
 * u32 partition || u32 type || value) || object id, for: all objects
 * (type 0xC15243F0, empty value), CKA_CLASS, CKA_LABEL, CKA_ID,
 * (label, version) (0xC15243F1, label || u32 version) and (label) of primary
 * versions (0xC15243F2). Find scans the most selective one and checks
 * every candidate against the whole template after unsealing; stale or
 * injected entries are skipped. Session objects are matched directly.
 * In find templates unknown attributes simply match nothing, and
 * CKA_VALUE never matches.
 *
 * Cache. Unsealed token objects in an LRU bounded by bytes
 * (cfg.cache_bytes, 64 MiB default; charge = struct + attributes +
 * arca_key_mem_estimate). Objects are immutable; changes re-seal and drop
 * the cached instance. Reference counts keep an evicted object alive for
 * the thread using it. An epoch stops a loader that raced a change from
 * caching a stale instance.
 *
 * Integrity. A blob that fails to unseal (edited, truncated, swapped):
 * ARCA_ERR_INTEGRITY for operations on that object, an ERROR log line
 * "object <hex id>: sealed blob failed integrity check"; find skips it.
 *
 * Versions. rotate(id): id's label names the key (empty label:
 * ARCA_ERR_TEMPLATE_INCOMPLETE; public keys: ARCA_ERR_KEY_TYPE; session
 * objects: ARCA_ERR_ATTRIBUTE_VALUE). New key of the same type and size,
 * attributes copied, KEY_VERSION = max + 1, primary; every previous
 * primary with the label demoted; for a private key a new public half too
 * (returned id = the new private key). One commit.
 *
 * Audit. Lifecycle operations (initialise, partition create, PIN change,
 * login with a counter change, generate, import, unwrap, derive, set
 * attributes, destroy, rotate) put their record in their commit. Key use
 * (sign, verify, encrypt, decrypt, wrap = export, failed unwrap/derive,
 * ACCESS_DENIED) appends one record with the outcome, also for refusals on
 * an identified key, to the in-memory chain; it is stored with the next
 * batch (audit.h: within 20 ms or 1024 records, ahead of any lifecycle
 * commit, at shutdown), so output leaves before its record is synced; a
 * failed batch stops key use until a flush succeeds. Logins and get of
 * CKA_VALUE append one record that is stored before the answer. */
#include <stdlib.h>
#include <string.h>

#include "arca/log.h"
#include "kms_internal.h"

#define DEFAULT_CACHE_BYTES (64ull * 1024 * 1024)
#define DEFAULT_PIN_COST 15u
#define MAX_PIN_COST 20u

arca_status arca_kms_open(const arca_kms_config *cfg, arca_sealing *sealing, const arca_store_ops *store,
                          arca_kms **out)
{
    arca_status st;
    arca_kms *kms = NULL;
    bool state_mu = false, write_mu = false;

    ARCA_ENSURE(sealing != NULL && store != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(store->get != NULL && store->commit != NULL && store->scan != NULL, ARCA_ERR_ARGS);
    kms = calloc(1, sizeof(*kms));
    ARCA_ENSURE(kms != NULL, ARCA_ERR_NOMEM);
    kms->sealing = sealing;
    kms->store = store;
    kms->pin_cost = cfg != NULL && cfg->pin_hash_cost != 0 ? cfg->pin_hash_cost : DEFAULT_PIN_COST;
    ARCA_ENSURE_OUT(kms->pin_cost <= MAX_PIN_COST, ARCA_ERR_CONFIG);
    ARCA_ENSURE_OUT(pthread_mutex_init(&kms->state_mu, NULL) == 0, ARCA_ERR_INTERNAL);
    state_mu = true;
    ARCA_ENSURE_OUT(pthread_mutex_init(&kms->write_mu, NULL) == 0, ARCA_ERR_INTERNAL);
    write_mu = true;
    ARCA_GUARD_OUT(kms_cache_init(&kms->cache,
                                  cfg != NULL && cfg->cache_bytes != 0 ? cfg->cache_bytes : DEFAULT_CACHE_BYTES));
    ARCA_GUARD_OUT(arca_sealing_derive_key(sealing, "blind-index", &kms->k_index));
    ARCA_ENSURE_OUT(kms->k_index.len == 32, ARCA_ERR_INTERNAL);
    ARCA_GUARD_OUT(arca_audit_open(sealing, store, &kms->audit));
    ARCA_GUARD_OUT(kms_state_load(kms));
    ARCA_INFO("keystore: open (%s, %zu partitions)", kms->initialised ? "initialised" : "not initialised",
              kms->num_partitions);
    *out = kms;
    return ARCA_OK;
out:
    ARCA_ERROR("keystore: open failed: %s", arca_status_name(st));
    arca_audit_free(kms->audit);
    arca_secret_free(&kms->k_index);
    kms_cache_cleanup(&kms->cache);
    kms_state_cleanup(kms);
    if (state_mu) pthread_mutex_destroy(&kms->state_mu);
    if (write_mu) pthread_mutex_destroy(&kms->write_mu);
    free(kms);
    return st;
}

void arca_kms_free(arca_kms *kms)
{
    if (kms == NULL) return;
    arca_audit_free(kms->audit);
    kms_cache_cleanup(&kms->cache);
    arca_secret_free(&kms->k_index);
    kms_state_cleanup(kms);
    pthread_mutex_destroy(&kms->state_mu);
    pthread_mutex_destroy(&kms->write_mu);
    free(kms);
}

arca_status arca_kms_random(arca_kms *kms, arca_kms_session *sess, size_t len, arca_builder *out)
{
    ARCA_ENSURE(kms != NULL && sess != NULL && out != NULL, ARCA_ERR_ARGS);
    ARCA_ENSURE(len <= ARCA_DATA_MAX, ARCA_ERR_DATA_LEN);
    return arca_crypto_random(len, out);
}

arca_status arca_kms_flush_audit(arca_kms *kms)
{
    ARCA_ENSURE(kms != NULL, ARCA_ERR_ARGS);
    return arca_audit_flush(kms->audit);
}

/* arca_kms_audit_verify and arca_kms_audit_read: identity.c (audit access rules). */

void arca_kms_get_stats(arca_kms *kms, arca_kms_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (kms == NULL) return;
    pthread_mutex_lock(&kms->cache.mu);
    out->cache_bytes = kms->cache.bytes;
    out->cache_objects = kms->cache.objects;
    out->unseal_count = kms->cache.unseal_count;
    pthread_mutex_unlock(&kms->cache.mu);
    out->audit_records = arca_audit_count(kms->audit);
}
