/* The bounded cache of unsealed token objects: a hash table keyed by
 * object id, an LRU list, a byte budget, and reference counts so that an
 * object evicted by one thread stays alive while another thread uses it.
 * Objects are immutable once built: a change builds a new instance that
 * replaces the cached one, so readers never need a lock on an object. */
#include <stdlib.h>
#include <string.h>

#include "kms_internal.h"

#define CACHE_BUCKETS 4096u

static size_t bucket_of(const kms_cache *c, const arca_object_id *id)
{
    uint64_t h;
    /* Object ids are random; their first bytes are a good hash. The host
     * cannot choose them (they are made in the enclave). */
    memcpy(&h, id->b, sizeof(h));
    return (size_t)(h % c->num_buckets);
}

arca_status kms_cache_init(kms_cache *c, uint64_t budget)
{
    memset(c, 0, sizeof(*c));
    c->num_buckets = CACHE_BUCKETS;
    c->buckets = calloc(c->num_buckets, sizeof(*c->buckets));
    ARCA_ENSURE(c->buckets != NULL, ARCA_ERR_NOMEM);
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->buckets);
        c->buckets = NULL;
        return ARCA_ERR_INTERNAL;
    }
    c->budget = budget;
    return ARCA_OK;
}

static void lru_unlink(kms_cache *c, kms_object *o)
{
    if (o->lprev != NULL) o->lprev->lnext = o->lnext;
    else c->lru_head = o->lnext;
    if (o->lnext != NULL) o->lnext->lprev = o->lprev;
    else c->lru_tail = o->lprev;
    o->lprev = o->lnext = NULL;
}

static void lru_push_front(kms_cache *c, kms_object *o)
{
    o->lprev = NULL;
    o->lnext = c->lru_head;
    if (c->lru_head != NULL) c->lru_head->lprev = o;
    c->lru_head = o;
    if (c->lru_tail == NULL) c->lru_tail = o;
}

static kms_object *find_locked(kms_cache *c, const arca_object_id *id)
{
    for (kms_object *o = c->buckets[bucket_of(c, id)]; o != NULL; o = o->hnext) {
        if (memcmp(o->id.b, id->b, ARCA_OBJECT_ID_LEN) == 0) return o;
    }
    return NULL;
}

/* Unlink o from the table and list; returns true if it should be freed now. */
static bool detach_locked(kms_cache *c, kms_object *o)
{
    kms_object **pp = &c->buckets[bucket_of(c, &o->id)];
    while (*pp != NULL && *pp != o) pp = &(*pp)->hnext;
    if (*pp == o) *pp = o->hnext;
    o->hnext = NULL;
    lru_unlink(c, o);
    o->in_cache = false;
    c->bytes -= o->mem;
    c->objects--;
    return o->refs == 0;
}

void kms_cache_cleanup(kms_cache *c)
{
    if (c->buckets == NULL) return;
    kms_object *o = c->lru_head;
    while (o != NULL) {
        kms_object *next = o->lnext;
        /* Callers release every reference before freeing the kms. */
        o->in_cache = false;
        kms_object_free(o);
        o = next;
    }
    free(c->buckets);
    c->buckets = NULL;
    pthread_mutex_destroy(&c->mu);
}

kms_object *kms_cache_get(kms_cache *c, const arca_object_id *id)
{
    pthread_mutex_lock(&c->mu);
    kms_object *o = find_locked(c, id);
    if (o != NULL) {
        o->refs++;
        lru_unlink(c, o);
        lru_push_front(c, o);
    }
    pthread_mutex_unlock(&c->mu);
    return o;
}

uint64_t kms_cache_epoch(kms_cache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t e = c->epoch;
    pthread_mutex_unlock(&c->mu);
    return e;
}

void kms_cache_insert(kms_cache *c, kms_object *o, uint64_t epoch, bool replace)
{
    kms_object *to_free[64];
    size_t num_free = 0;

    pthread_mutex_lock(&c->mu);
    kms_object *old = find_locked(c, &o->id);
    if (replace) {
        if (old != NULL && old != o && detach_locked(c, old)) to_free[num_free++] = old;
        c->epoch++;
    } else if (old != NULL || epoch != c->epoch) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (o->in_cache) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    size_t b = bucket_of(c, &o->id);
    o->hnext = c->buckets[b];
    c->buckets[b] = o;
    lru_push_front(c, o);
    o->in_cache = true;
    c->bytes += o->mem;
    c->objects++;
    /* Evict from the cold end, never the object just inserted. */
    while (c->bytes > c->budget && c->lru_tail != NULL && c->lru_tail != o && num_free < 64) {
        kms_object *victim = c->lru_tail;
        if (detach_locked(c, victim)) to_free[num_free++] = victim;
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < num_free; i++) kms_object_free(to_free[i]);
}

void kms_cache_remove(kms_cache *c, const arca_object_id *id)
{
    kms_object *to_free = NULL;
    pthread_mutex_lock(&c->mu);
    kms_object *o = find_locked(c, id);
    if (o != NULL && detach_locked(c, o)) to_free = o;
    c->epoch++;
    pthread_mutex_unlock(&c->mu);
    kms_object_free(to_free);
}

void kms_object_ref(kms_cache *c, kms_object *o)
{
    pthread_mutex_lock(&c->mu);
    o->refs++;
    pthread_mutex_unlock(&c->mu);
}

void kms_object_release(kms_cache *c, kms_object *o)
{
    if (o == NULL) return;
    pthread_mutex_lock(&c->mu);
    bool free_it = --o->refs == 0 && !o->in_cache;
    pthread_mutex_unlock(&c->mu);
    if (free_it) kms_object_free(o);
}

void kms_cache_count_unseal(kms_cache *c)
{
    pthread_mutex_lock(&c->mu);
    c->unseal_count++;
    pthread_mutex_unlock(&c->mu);
}
