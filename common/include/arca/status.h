/* One status type for all of Arca's internals, and the guard macros.
 *
 * Every internal function that can fail returns arca_status. ARCA_OK is 0;
 * every other value names exactly what went wrong. Translation to other
 * vocabularies (CK_RV, KMIP result reasons, exit codes) happens only at the
 * edges, from this one list. */
#ifndef ARCA_STATUS_H
#define ARCA_STATUS_H

#include <stdint.h>

#define ARCA_MUST_CHECK __attribute__((warn_unused_result))

typedef enum arca_status {
    ARCA_OK = 0,
    ARCA_ERR_INTERNAL,            /* a bug or an unexpected library failure */
    ARCA_ERR_NOMEM,               /* allocation failed or a budget is exhausted */
    ARCA_ERR_ARGS,                /* a caller passed an invalid argument */
    ARCA_ERR_DECODE,              /* malformed bytes: short, trailing data, bad value */
    ARCA_ERR_TOO_LARGE,           /* a size cap was exceeded */
    ARCA_ERR_BUFFER_TOO_SMALL,    /* output buffer too small; length reported */
    ARCA_ERR_CRYPTO,              /* OpenSSL reported a failure */
    ARCA_ERR_INTEGRITY,           /* a sealed blob / record failed authentication */
    ARCA_ERR_NOT_FOUND,           /* no such object / record */
    ARCA_ERR_EXISTS,              /* it already exists */
    ARCA_ERR_IO,                  /* an OS-level read/write failed */
    ARCA_ERR_STORE,               /* the persistent store failed */
    ARCA_ERR_CONFIG,              /* a configuration file or value is wrong */
    ARCA_ERR_SEED,                /* the platform seed is missing, unreadable or malformed */
    ARCA_ERR_IMAGE_SIGNATURE,     /* enclave image signature does not verify */
    ARCA_ERR_IMAGE_MEASUREMENT,   /* enclave image hash differs from the signed one */
    ARCA_ERR_IMAGE_SIGNER,        /* enclave image signed by an unexpected signer */
    ARCA_ERR_SVN,                 /* security version too low / downgrade */
    ARCA_ERR_ROLLBACK,            /* stale state replayed */
    ARCA_ERR_NOT_INITIALISED,     /* appliance or module not initialised */
    ARCA_ERR_ALREADY_INITIALISED, /* appliance already initialised */
    ARCA_ERR_PIN_INCORRECT,       /* PIN did not match */
    ARCA_ERR_PIN_LOCKED,          /* too many failed PIN attempts */
    ARCA_ERR_PIN_INVALID,         /* PIN too short / too long */
    ARCA_ERR_NOT_LOGGED_IN,       /* operation needs a login */
    ARCA_ERR_ALREADY_LOGGED_IN,   /* session is already logged in */
    ARCA_ERR_PERMISSION,          /* authenticated but not authorised */
    ARCA_ERR_KEY_SIZE,            /* key length not supported for the mechanism */
    ARCA_ERR_KEY_TYPE,            /* key type does not fit the mechanism */
    ARCA_ERR_MECHANISM,           /* mechanism unknown or not supported */
    ARCA_ERR_MECHANISM_PARAM,     /* mechanism parameter invalid */
    ARCA_ERR_KEY_FUNCTION,        /* the key's usage attribute forbids this */
    ARCA_ERR_KEY_UNEXTRACTABLE,   /* key is not extractable */
    ARCA_ERR_ATTRIBUTE_SENSITIVE, /* attribute may not be revealed */
    ARCA_ERR_ATTRIBUTE_TYPE,      /* attribute type invalid for this object */
    ARCA_ERR_ATTRIBUTE_VALUE,     /* attribute value invalid */
    ARCA_ERR_ATTRIBUTE_READ_ONLY, /* attribute may not be set / changed */
    ARCA_ERR_TEMPLATE_INCOMPLETE, /* a required attribute is missing */
    ARCA_ERR_TEMPLATE_INCONSISTENT, /* attributes contradict each other */
    ARCA_ERR_SIGNATURE_INVALID,   /* signature / MAC / tag does not verify */
    ARCA_ERR_DATA_INVALID,        /* input data wrong for the operation */
    ARCA_ERR_DATA_LEN,            /* input data has the wrong length */
    ARCA_ERR_FRAME_SIZE,          /* channel frame over its size cap */
    ARCA_ERR_FRAME_TYPE,          /* channel frame of unknown type */
    ARCA_ERR_FRAME_STATE,         /* channel frame not permitted in this state */
    ARCA_ERR_CHANNEL,             /* channel closed or broken */
    ARCA_ERR_UNSUPPORTED,         /* not implemented in this build / mode */
    ARCA_ERR_TIMEOUT,             /* a deadline passed */
    ARCA_ERR_BUSY,                /* a limit (connections, sessions) was reached */
    ARCA_ERR_ATTEST_BINDING,      /* attestation is not bound to this key / session */
    ARCA_ERR_ATTEST_ATTESTER,     /* evidence signed by an unexpected attestation key */
    ARCA_ERR_ATTEST_INSECURE,     /* dev or debug evidence refused by policy */
    ARCA_ERR_ATTEST_MEASUREMENT,  /* attested measurement is not the expected one */
    ARCA_ERR_OBJECT_STATE,        /* the object's lifecycle state (Pre-Active, revoked...) forbids this */
    ARCA_ERR_CERT_UNTRUSTED,      /* client certificate does not chain to the client CA */
    ARCA_ERR_IDENTITY_UNKNOWN,    /* client identity (certificate CN) not registered, or removed */
    ARCA_STATUS_COUNT
} arca_status;

/* Stable, human-readable name of a status ("ARCA_ERR_INTEGRITY") and a
 * one-line description. Never NULL. */
const char *arca_status_name(arca_status st);
const char *arca_status_message(arca_status st);

/* Return the status of expr if it is not ARCA_OK. */
#define ARCA_GUARD(expr)                                                      \
    do {                                                                      \
        arca_status arca_guard_st_ = (expr);                                  \
        if (arca_guard_st_ != ARCA_OK) return arca_guard_st_;                 \
    } while (0)

/* Return err unless cond holds. */
#define ARCA_ENSURE(cond, err)                                                \
    do {                                                                      \
        if (!(cond)) return (err);                                            \
    } while (0)

/* goto-out style: the function has `arca_status st` and a label `out:`. */
#define ARCA_GUARD_OUT(expr)                                                  \
    do {                                                                      \
        st = (expr);                                                          \
        if (st != ARCA_OK) goto out;                                          \
    } while (0)

#define ARCA_ENSURE_OUT(cond, err)                                            \
    do {                                                                      \
        if (!(cond)) {                                                        \
            st = (err);                                                       \
            goto out;                                                         \
        }                                                                     \
    } while (0)

/* OpenSSL adapter: OpenSSL functions return 1 on success. Clears nothing;
 * callers that care drain the error queue with arca_log_openssl_errors(). */
#define ARCA_GUARD_OSSL(expr) ARCA_ENSURE((expr) == 1, ARCA_ERR_CRYPTO)
#define ARCA_GUARD_OSSL_OUT(expr) ARCA_ENSURE_OUT((expr) == 1, ARCA_ERR_CRYPTO)

#endif
