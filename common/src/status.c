/* Names and one-line messages for every arca_status. */
#include "arca/status.h"

#include <stddef.h>

typedef struct status_text {
    const char *name;
    const char *message;
} status_text;

#define S(code, msg) [code] = {#code, msg}

static const status_text texts[] = {
    S(ARCA_OK, "success"),
    S(ARCA_ERR_INTERNAL, "internal error"),
    S(ARCA_ERR_NOMEM, "out of memory or budget exhausted"),
    S(ARCA_ERR_ARGS, "invalid argument"),
    S(ARCA_ERR_DECODE, "malformed data"),
    S(ARCA_ERR_TOO_LARGE, "size limit exceeded"),
    S(ARCA_ERR_BUFFER_TOO_SMALL, "output buffer too small"),
    S(ARCA_ERR_CRYPTO, "cryptographic library failure"),
    S(ARCA_ERR_INTEGRITY, "integrity check failed"),
    S(ARCA_ERR_NOT_FOUND, "not found"),
    S(ARCA_ERR_EXISTS, "already exists"),
    S(ARCA_ERR_IO, "input/output error"),
    S(ARCA_ERR_STORE, "persistent store failure"),
    S(ARCA_ERR_CONFIG, "invalid configuration"),
    S(ARCA_ERR_SEED, "platform seed missing, unreadable or malformed"),
    S(ARCA_ERR_IMAGE_SIGNATURE, "enclave image signature does not verify"),
    S(ARCA_ERR_IMAGE_MEASUREMENT, "enclave image measurement differs from the signed one"),
    S(ARCA_ERR_IMAGE_SIGNER, "enclave image signed by an unexpected signer"),
    S(ARCA_ERR_SVN, "security version too low"),
    S(ARCA_ERR_ROLLBACK, "stale state replayed (rollback)"),
    S(ARCA_ERR_NOT_INITIALISED, "not initialised"),
    S(ARCA_ERR_ALREADY_INITIALISED, "already initialised"),
    S(ARCA_ERR_PIN_INCORRECT, "PIN incorrect"),
    S(ARCA_ERR_PIN_LOCKED, "PIN locked after too many failed attempts"),
    S(ARCA_ERR_PIN_INVALID, "PIN length invalid"),
    S(ARCA_ERR_NOT_LOGGED_IN, "not logged in"),
    S(ARCA_ERR_ALREADY_LOGGED_IN, "already logged in"),
    S(ARCA_ERR_PERMISSION, "permission denied"),
    S(ARCA_ERR_KEY_SIZE, "key size not supported"),
    S(ARCA_ERR_KEY_TYPE, "key type inconsistent with mechanism"),
    S(ARCA_ERR_MECHANISM, "mechanism not supported"),
    S(ARCA_ERR_MECHANISM_PARAM, "mechanism parameter invalid"),
    S(ARCA_ERR_KEY_FUNCTION, "key usage does not permit this operation"),
    S(ARCA_ERR_KEY_UNEXTRACTABLE, "key is not extractable"),
    S(ARCA_ERR_ATTRIBUTE_SENSITIVE, "attribute is sensitive"),
    S(ARCA_ERR_ATTRIBUTE_TYPE, "attribute type invalid"),
    S(ARCA_ERR_ATTRIBUTE_VALUE, "attribute value invalid"),
    S(ARCA_ERR_ATTRIBUTE_READ_ONLY, "attribute is read-only"),
    S(ARCA_ERR_TEMPLATE_INCOMPLETE, "template incomplete"),
    S(ARCA_ERR_TEMPLATE_INCONSISTENT, "template inconsistent"),
    S(ARCA_ERR_SIGNATURE_INVALID, "signature or MAC invalid"),
    S(ARCA_ERR_DATA_INVALID, "input data invalid"),
    S(ARCA_ERR_DATA_LEN, "input data length invalid"),
    S(ARCA_ERR_FRAME_SIZE, "channel frame exceeds its size cap"),
    S(ARCA_ERR_FRAME_TYPE, "channel frame of unknown type"),
    S(ARCA_ERR_FRAME_STATE, "channel frame not permitted in this state"),
    S(ARCA_ERR_CHANNEL, "channel closed or broken"),
    S(ARCA_ERR_UNSUPPORTED, "not supported"),
    S(ARCA_ERR_TIMEOUT, "timed out"),
    S(ARCA_ERR_BUSY, "resource limit reached"),
    S(ARCA_ERR_ATTEST_BINDING, "attestation not bound to this key or session"),
    S(ARCA_ERR_ATTEST_ATTESTER, "evidence signed by an unexpected attestation key"),
    S(ARCA_ERR_ATTEST_INSECURE, "dev or debug evidence refused by policy"),
    S(ARCA_ERR_ATTEST_MEASUREMENT, "attested measurement is not the expected one"),
    S(ARCA_ERR_OBJECT_STATE, "the object's lifecycle state does not permit this operation"),
    S(ARCA_ERR_CERT_UNTRUSTED, "client certificate not issued by the client CA"),
    S(ARCA_ERR_IDENTITY_UNKNOWN, "client identity not registered"),
};

#undef S

_Static_assert(sizeof(texts) / sizeof(texts[0]) == ARCA_STATUS_COUNT, "status table incomplete");

static const status_text *lookup(arca_status st)
{
    if ((unsigned)st >= ARCA_STATUS_COUNT || texts[st].name == NULL) return NULL;
    return &texts[st];
}

const char *arca_status_name(arca_status st)
{
    const status_text *t = lookup(st);
    return t ? t->name : "ARCA_ERR_UNKNOWN";
}

const char *arca_status_message(arca_status st)
{
    const status_text *t = lookup(st);
    return t ? t->message : "unknown status";
}
