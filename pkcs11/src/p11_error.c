/* arca_status -> CK_RV: the one translation table of the module
 * (CONVENTIONS.md rule 1). Callers with a context-specific meaning of
 * ARCA_ERR_NOT_FOUND pass it to arca_p11_session_rv. */
#include <string.h>

#include "p11_internal.h"

CK_RV arca_p11_rv_from_status(arca_status st)
{
    switch (st) {
    case ARCA_OK:
        return CKR_OK;
    case ARCA_ERR_NOMEM:
        return CKR_HOST_MEMORY;
    case ARCA_ERR_ARGS:
        return CKR_ARGUMENTS_BAD;
    case ARCA_ERR_TOO_LARGE:
    case ARCA_ERR_DATA_LEN:
        return CKR_DATA_LEN_RANGE;
    case ARCA_ERR_BUFFER_TOO_SMALL:
        return CKR_BUFFER_TOO_SMALL;
    case ARCA_ERR_CRYPTO:
        return CKR_FUNCTION_FAILED;
    case ARCA_ERR_NOT_FOUND:
        return CKR_OBJECT_HANDLE_INVALID;
    case ARCA_ERR_PIN_INCORRECT:
        return CKR_PIN_INCORRECT;
    case ARCA_ERR_PIN_LOCKED:
        return CKR_PIN_LOCKED;
    case ARCA_ERR_PIN_INVALID:
        return CKR_PIN_LEN_RANGE;
    case ARCA_ERR_NOT_LOGGED_IN:
        return CKR_USER_NOT_LOGGED_IN;
    case ARCA_ERR_ALREADY_LOGGED_IN:
        return CKR_USER_ALREADY_LOGGED_IN;
    case ARCA_ERR_PERMISSION:
        return CKR_ACTION_PROHIBITED;
    case ARCA_ERR_KEY_SIZE:
        return CKR_KEY_SIZE_RANGE;
    case ARCA_ERR_KEY_TYPE:
        return CKR_KEY_TYPE_INCONSISTENT;
    case ARCA_ERR_MECHANISM:
        return CKR_MECHANISM_INVALID;
    case ARCA_ERR_MECHANISM_PARAM:
        return CKR_MECHANISM_PARAM_INVALID;
    case ARCA_ERR_KEY_FUNCTION:
    case ARCA_ERR_OBJECT_STATE: /* revoked, pre-active: the key may not be used */
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    case ARCA_ERR_KEY_UNEXTRACTABLE:
        return CKR_KEY_UNEXTRACTABLE;
    case ARCA_ERR_ATTRIBUTE_SENSITIVE:
        return CKR_ATTRIBUTE_SENSITIVE;
    case ARCA_ERR_ATTRIBUTE_TYPE:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    case ARCA_ERR_ATTRIBUTE_VALUE:
        return CKR_ATTRIBUTE_VALUE_INVALID;
    case ARCA_ERR_ATTRIBUTE_READ_ONLY:
        return CKR_ATTRIBUTE_READ_ONLY;
    case ARCA_ERR_TEMPLATE_INCOMPLETE:
        return CKR_TEMPLATE_INCOMPLETE;
    case ARCA_ERR_TEMPLATE_INCONSISTENT:
        return CKR_TEMPLATE_INCONSISTENT;
    case ARCA_ERR_SIGNATURE_INVALID:
        return CKR_SIGNATURE_INVALID;
    case ARCA_ERR_DATA_INVALID:
        return CKR_DATA_INVALID;
    case ARCA_ERR_BUSY:
        return CKR_DEVICE_MEMORY;
    /* The appliance is unreachable, broke the connection, or answered
     * something this module cannot read: the device failed. */
    case ARCA_ERR_IO:
    case ARCA_ERR_CHANNEL:
    case ARCA_ERR_TIMEOUT:
    case ARCA_ERR_DECODE:
    case ARCA_ERR_FRAME_SIZE:
    case ARCA_ERR_FRAME_TYPE:
    case ARCA_ERR_FRAME_STATE:
    case ARCA_ERR_INTEGRITY:
    case ARCA_ERR_STORE:
    case ARCA_ERR_SEED:
    case ARCA_ERR_IMAGE_SIGNATURE:
    case ARCA_ERR_IMAGE_MEASUREMENT:
    case ARCA_ERR_IMAGE_SIGNER:
    case ARCA_ERR_SVN:
    case ARCA_ERR_ROLLBACK:
    case ARCA_ERR_NOT_INITIALISED:
    case ARCA_ERR_ATTEST_BINDING:
    case ARCA_ERR_ATTEST_ATTESTER:
    case ARCA_ERR_ATTEST_INSECURE:
    case ARCA_ERR_ATTEST_MEASUREMENT:
    case ARCA_ERR_CERT_UNTRUSTED:
    case ARCA_ERR_IDENTITY_UNKNOWN:
    case ARCA_ERR_CONFIG:
        return CKR_DEVICE_ERROR;
    case ARCA_ERR_EXISTS:
    case ARCA_ERR_ALREADY_INITIALISED:
    case ARCA_ERR_UNSUPPORTED:
        return CKR_FUNCTION_FAILED;
    case ARCA_ERR_INTERNAL:
        return CKR_GENERAL_ERROR;
    case ARCA_STATUS_COUNT:
    default:
        return CKR_GENERAL_ERROR;
    }
}

void arca_p11_pad(CK_UTF8CHAR *field, size_t len, const char *s)
{
    size_t n = s == NULL ? 0 : strlen(s);
    if (n > len) n = len;
    memset(field, ' ', len);
    if (n > 0) memcpy(field, s, n);
}
