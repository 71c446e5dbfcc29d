/* KMIP tables: tags, enumerations and bit masks as C constants.
 *
 * Numeric values are those of the OASIS KMIP specifications 1.0–2.1 (as
 * also listed by PyKMIP's kmip/core/enums.py). Only what Arca's operations
 * need is here (see issue 3: DiscoverVersions, Query, Create,
 * CreateKeyPair, Register, Locate, Get, GetAttributes, GetAttributeList,
 * Add/Modify/DeleteAttribute, Activate, Revoke, Destroy, ReKey,
 * ReKeyKeyPair, Encrypt, Decrypt, Sign, SignatureVerify, MAC, MACVerify,
 * DeriveKey, RNGRetrieve); add values here, from the specification, as
 * handlers need them.
 *
 * Tags and operations are X-macro lists so that the constants and their
 * names (kmip_names.c) come from one table: ARCA_KMIP_TAG_<NAME> and
 * ARCA_KMIP_OP_<NAME>. Grep for "X(NAME," to find a value. The TTLV codec
 * itself (ttlv.h) knows nothing of these tables. */
#ifndef ARCA_KMIP_H
#define ARCA_KMIP_H

#include <stddef.h>
#include <stdint.h>

/* ---- Protocol versions Arca speaks (major, minor) ---------------------- */
#define ARCA_KMIP_PORT 5696

/* ---- Tags (3 bytes; X(name, value, specification name)) ---------------- */
/* Batch Item is one tag (0x42000F) for requests and responses. */
#define ARCA_KMIP_TAGS(X) \
    X(ACTIVATION_DATE, 0x420001, "Activation Date") \
    X(ASYNCHRONOUS_CORRELATION_VALUE, 0x420006, "Asynchronous Correlation Value") \
    X(ASYNCHRONOUS_INDICATOR, 0x420007, "Asynchronous Indicator") \
    X(ATTRIBUTE, 0x420008, "Attribute") \
    X(ATTRIBUTE_INDEX, 0x420009, "Attribute Index") \
    X(ATTRIBUTE_NAME, 0x42000A, "Attribute Name") \
    X(ATTRIBUTE_VALUE, 0x42000B, "Attribute Value") \
    X(AUTHENTICATION, 0x42000C, "Authentication") \
    X(BATCH_COUNT, 0x42000D, "Batch Count") \
    X(BATCH_ERROR_CONTINUATION_OPTION, 0x42000E, "Batch Error Continuation Option") \
    X(BATCH_ITEM, 0x42000F, "Batch Item") \
    X(BATCH_ORDER_OPTION, 0x420010, "Batch Order Option") \
    X(BLOCK_CIPHER_MODE, 0x420011, "Block Cipher Mode") \
    X(COMMON_TEMPLATE_ATTRIBUTE, 0x42001F, "Common Template-Attribute") \
    X(COMPROMISE_DATE, 0x420020, "Compromise Date") \
    X(COMPROMISE_OCCURRENCE_DATE, 0x420021, "Compromise Occurrence Date") \
    X(CREDENTIAL, 0x420023, "Credential") \
    X(CREDENTIAL_TYPE, 0x420024, "Credential Type") \
    X(CREDENTIAL_VALUE, 0x420025, "Credential Value") \
    X(CRITICALITY_INDICATOR, 0x420026, "Criticality Indicator") \
    X(CRYPTOGRAPHIC_ALGORITHM, 0x420028, "Cryptographic Algorithm") \
    X(CRYPTOGRAPHIC_DOMAIN_PARAMETERS, 0x420029, "Cryptographic Domain Parameters") \
    X(CRYPTOGRAPHIC_LENGTH, 0x42002A, "Cryptographic Length") \
    X(CRYPTOGRAPHIC_PARAMETERS, 0x42002B, "Cryptographic Parameters") \
    X(CRYPTOGRAPHIC_USAGE_MASK, 0x42002C, "Cryptographic Usage Mask") \
    X(DEACTIVATION_DATE, 0x42002F, "Deactivation Date") \
    X(DERIVATION_DATA, 0x420030, "Derivation Data") \
    X(DERIVATION_METHOD, 0x420031, "Derivation Method") \
    X(DERIVATION_PARAMETERS, 0x420032, "Derivation Parameters") \
    X(DESTROY_DATE, 0x420033, "Destroy Date") \
    X(ENCRYPTION_KEY_INFORMATION, 0x420036, "Encryption Key Information") \
    X(HASHING_ALGORITHM, 0x420038, "Hashing Algorithm") \
    X(INITIAL_DATE, 0x420039, "Initial Date") \
    X(INITIALIZATION_VECTOR, 0x42003A, "Initialization Vector") \
    X(ITERATION_COUNT, 0x42003C, "Iteration Count") \
    X(IV_COUNTER_NONCE, 0x42003D, "IV/Counter/Nonce") \
    X(KEY, 0x42003F, "Key") \
    X(KEY_BLOCK, 0x420040, "Key Block") \
    X(KEY_COMPRESSION_TYPE, 0x420041, "Key Compression Type") \
    X(KEY_FORMAT_TYPE, 0x420042, "Key Format Type") \
    X(KEY_MATERIAL, 0x420043, "Key Material") \
    X(KEY_VALUE, 0x420045, "Key Value") \
    X(KEY_WRAPPING_DATA, 0x420046, "Key Wrapping Data") \
    X(KEY_WRAPPING_SPECIFICATION, 0x420047, "Key Wrapping Specification") \
    X(LAST_CHANGE_DATE, 0x420048, "Last Change Date") \
    X(LINK, 0x42004A, "Link") \
    X(LINK_TYPE, 0x42004B, "Link Type") \
    X(LINKED_OBJECT_IDENTIFIER, 0x42004C, "Linked Object Identifier") \
    X(MAC_SIGNATURE, 0x42004D, "MAC/Signature") \
    X(MAC_SIGNATURE_KEY_INFORMATION, 0x42004E, "MAC/Signature Key Information") \
    X(MAXIMUM_ITEMS, 0x42004F, "Maximum Items") \
    X(MAXIMUM_RESPONSE_SIZE, 0x420050, "Maximum Response Size") \
    X(MESSAGE_EXTENSION, 0x420051, "Message Extension") \
    X(NAME, 0x420053, "Name") \
    X(NAME_TYPE, 0x420054, "Name Type") \
    X(NAME_VALUE, 0x420055, "Name Value") \
    X(OBJECT_GROUP, 0x420056, "Object Group") \
    X(OBJECT_TYPE, 0x420057, "Object Type") \
    X(OFFSET, 0x420058, "Offset") \
    X(OPERATION, 0x42005C, "Operation") \
    X(PADDING_METHOD, 0x42005F, "Padding Method") \
    X(PRIVATE_KEY, 0x420064, "Private Key") \
    X(PRIVATE_KEY_TEMPLATE_ATTRIBUTE, 0x420065, "Private Key Template-Attribute") \
    X(PRIVATE_KEY_UNIQUE_IDENTIFIER, 0x420066, "Private Key Unique Identifier") \
    X(PROCESS_START_DATE, 0x420067, "Process Start Date") \
    X(PROTECT_STOP_DATE, 0x420068, "Protect Stop Date") \
    X(PROTOCOL_VERSION, 0x420069, "Protocol Version") \
    X(PROTOCOL_VERSION_MAJOR, 0x42006A, "Protocol Version Major") \
    X(PROTOCOL_VERSION_MINOR, 0x42006B, "Protocol Version Minor") \
    X(PUBLIC_KEY, 0x42006D, "Public Key") \
    X(PUBLIC_KEY_TEMPLATE_ATTRIBUTE, 0x42006E, "Public Key Template-Attribute") \
    X(PUBLIC_KEY_UNIQUE_IDENTIFIER, 0x42006F, "Public Key Unique Identifier") \
    X(QUERY_FUNCTION, 0x420074, "Query Function") \
    X(RECOMMENDED_CURVE, 0x420075, "Recommended Curve") \
    X(REPLACED_UNIQUE_IDENTIFIER, 0x420076, "Replaced Unique Identifier") \
    X(REQUEST_HEADER, 0x420077, "Request Header") \
    X(REQUEST_MESSAGE, 0x420078, "Request Message") \
    X(REQUEST_PAYLOAD, 0x420079, "Request Payload") \
    X(RESPONSE_HEADER, 0x42007A, "Response Header") \
    X(RESPONSE_MESSAGE, 0x42007B, "Response Message") \
    X(RESPONSE_PAYLOAD, 0x42007C, "Response Payload") \
    X(RESULT_MESSAGE, 0x42007D, "Result Message") \
    X(RESULT_REASON, 0x42007E, "Result Reason") \
    X(RESULT_STATUS, 0x42007F, "Result Status") \
    X(REVOCATION_MESSAGE, 0x420080, "Revocation Message") \
    X(REVOCATION_REASON, 0x420081, "Revocation Reason") \
    X(REVOCATION_REASON_CODE, 0x420082, "Revocation Reason Code") \
    X(SALT, 0x420084, "Salt") \
    X(SECRET_DATA, 0x420085, "Secret Data") \
    X(SECRET_DATA_TYPE, 0x420086, "Secret Data Type") \
    X(SERVER_INFORMATION, 0x420088, "Server Information") \
    X(STATE, 0x42008D, "State") \
    X(STORAGE_STATUS_MASK, 0x42008E, "Storage Status Mask") \
    X(SYMMETRIC_KEY, 0x42008F, "Symmetric Key") \
    X(TEMPLATE_ATTRIBUTE, 0x420091, "Template-Attribute") \
    X(TIME_STAMP, 0x420092, "Time Stamp") \
    X(UNIQUE_BATCH_ITEM_ID, 0x420093, "Unique Batch Item ID") \
    X(UNIQUE_IDENTIFIER, 0x420094, "Unique Identifier") \
    X(USERNAME, 0x420099, "Username") \
    X(VALIDITY_INDICATOR, 0x42009B, "Validity Indicator") \
    X(VENDOR_EXTENSION, 0x42009C, "Vendor Extension") \
    X(VENDOR_IDENTIFICATION, 0x42009D, "Vendor Identification") \
    X(WRAPPING_METHOD, 0x42009E, "Wrapping Method") \
    X(PASSWORD, 0x4200A1, "Password") \
    X(DEVICE_IDENTIFIER, 0x4200A2, "Device Identifier") \
    X(ENCODING_OPTION, 0x4200A3, "Encoding Option") \
    X(EXTENSION_INFORMATION, 0x4200A4, "Extension Information") \
    X(EXTENSION_NAME, 0x4200A5, "Extension Name") \
    X(EXTENSION_TAG, 0x4200A6, "Extension Tag") \
    X(EXTENSION_TYPE, 0x4200A7, "Extension Type") \
    X(OBJECT_GROUP_MEMBER, 0x4200AC, "Object Group Member") \
    X(DIGITAL_SIGNATURE_ALGORITHM, 0x4200AE, "Digital Signature Algorithm") \
    X(KEY_VALUE_PRESENT, 0x4200BB, "Key Value Present") \
    X(ORIGINAL_CREATION_DATE, 0x4200BC, "Original Creation Date") \
    X(DATA, 0x4200C2, "Data") \
    X(SIGNATURE_DATA, 0x4200C3, "Signature Data") \
    X(DATA_LENGTH, 0x4200C4, "Data Length") \
    X(RANDOM_IV, 0x4200C5, "Random IV") \
    X(MAC_DATA, 0x4200C6, "MAC Data") \
    X(ATTESTATION_TYPE, 0x4200C7, "Attestation Type") \
    X(NONCE, 0x4200C8, "Nonce") \
    X(NONCE_ID, 0x4200C9, "Nonce ID") \
    X(NONCE_VALUE, 0x4200CA, "Nonce Value") \
    X(ATTESTATION_MEASUREMENT, 0x4200CB, "Attestation Measurement") \
    X(ATTESTATION_ASSERTION, 0x4200CC, "Attestation Assertion") \
    X(IV_LENGTH, 0x4200CD, "IV Length") \
    X(TAG_LENGTH, 0x4200CE, "Tag Length") \
    X(FIXED_FIELD_LENGTH, 0x4200CF, "Fixed Field Length") \
    X(COUNTER_LENGTH, 0x4200D0, "Counter Length") \
    X(INITIAL_COUNTER_VALUE, 0x4200D1, "Initial Counter Value") \
    X(INVOCATION_FIELD_LENGTH, 0x4200D2, "Invocation Field Length") \
    X(ATTESTATION_CAPABLE_INDICATOR, 0x4200D3, "Attestation Capable Indicator") \
    X(OFFSET_ITEMS, 0x4200D4, "Offset Items") \
    X(LOCATED_ITEMS, 0x4200D5, "Located Items") \
    X(CORRELATION_VALUE, 0x4200D6, "Correlation Value") \
    X(INIT_INDICATOR, 0x4200D7, "Init Indicator") \
    X(FINAL_INDICATOR, 0x4200D8, "Final Indicator") \
    X(PROFILE_INFORMATION, 0x4200EB, "Profile Information") \
    X(PROFILE_NAME, 0x4200EC, "Profile Name") \
    X(SERVER_URI, 0x4200ED, "Server URI") \
    X(SERVER_PORT, 0x4200EE, "Server Port") \
    X(UNWRAP_MODE, 0x4200F2, "Unwrap Mode") \
    X(DESTROY_ACTION, 0x4200F3, "Destroy Action") \
    X(CAPABILITY_INFORMATION, 0x4200F7, "Capability Information") \
    X(KEY_WRAP_TYPE, 0x4200F8, "Key Wrap Type") \
    X(DESCRIPTION, 0x4200FC, "Description") \
    X(COMMENT, 0x4200FD, "Comment") \
    X(AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, 0x4200FE, "Authenticated Encryption Additional Data") \
    X(AUTHENTICATED_ENCRYPTION_TAG, 0x4200FF, "Authenticated Encryption Tag") \
    X(SALT_LENGTH, 0x420100, "Salt Length") \
    X(MASK_GENERATOR, 0x420101, "Mask Generator") \
    X(MASK_GENERATOR_HASHING_ALGORITHM, 0x420102, "Mask Generator Hashing Algorithm") \
    X(P_SOURCE, 0x420103, "P Source") \
    X(TRAILER_FIELD, 0x420104, "Trailer Field") \
    X(CLIENT_CORRELATION_VALUE, 0x420105, "Client Correlation Value") \
    X(SERVER_CORRELATION_VALUE, 0x420106, "Server Correlation Value") \
    X(SENSITIVE, 0x420120, "Sensitive") \
    X(ALWAYS_SENSITIVE, 0x420121, "Always Sensitive") \
    X(EXTRACTABLE, 0x420122, "Extractable") \
    X(NEVER_EXTRACTABLE, 0x420123, "Never Extractable") \
    X(REPLACE_EXISTING, 0x420124, "Replace Existing") \
    X(ATTRIBUTES, 0x420125, "Attributes") \
    X(COMMON_ATTRIBUTES, 0x420126, "Common Attributes") \
    X(PRIVATE_KEY_ATTRIBUTES, 0x420127, "Private Key Attributes") \
    X(PUBLIC_KEY_ATTRIBUTES, 0x420128, "Public Key Attributes") \
    X(SERVER_NAME, 0x42012D, "Server Name") \
    X(SERVER_SERIAL_NUMBER, 0x42012E, "Server Serial Number") \
    X(SERVER_VERSION, 0x42012F, "Server Version") \
    X(SERVER_LOAD, 0x420130, "Server Load") \
    X(PRODUCT_NAME, 0x420131, "Product Name") \
    X(BUILD_LEVEL, 0x420132, "Build Level") \
    X(BUILD_DATE, 0x420133, "Build Date") \
    X(ATTRIBUTE_REFERENCE, 0x42013B, "Attribute Reference") \
    X(CURRENT_ATTRIBUTE, 0x42013C, "Current Attribute") \
    X(NEW_ATTRIBUTE, 0x42013D, "New Attribute") \
    X(PROTECTION_STORAGE_MASKS, 0x42015F, "Protection Storage Masks")

enum arca_kmip_tag {
#define ARCA_KMIP_TAG_ENUM_(name, value, text) ARCA_KMIP_TAG_##name = value,
    ARCA_KMIP_TAGS(ARCA_KMIP_TAG_ENUM_)
#undef ARCA_KMIP_TAG_ENUM_
};

/* Extension tags: the specification leaves 0x540000–0x54FFFF to vendors.
 * Arca reserves 0x54A000–0x54AFFF for its own extensions (attestation,
 * audit, administration; documented in docs/protocol.md). Nothing else in
 * the 0x54 range is assigned by Arca. */
#define ARCA_KMIP_TAG_EXTENSION_FIRST 0x540000u
#define ARCA_KMIP_TAG_EXTENSION_LAST 0x54FFFFu
#define ARCA_KMIP_TAG_ARCA_FIRST 0x54A000u
#define ARCA_KMIP_TAG_ARCA_LAST 0x54AFFFu
/* Arca Call (ARCA_KMIP_OP_ARCA_CALL): the Request Payload holds one Byte
 * String ARCA_REQUEST (a local-protocol request, docs/protocol.md), the
 * Response Payload one Byte String ARCA_RESPONSE (the local-protocol
 * response). Kept out of ARCA_KMIP_TAGS on purpose: that table also maps
 * KMIP 1.x attribute names to tags, and these are not attributes. */
#define ARCA_KMIP_TAG_ARCA_REQUEST 0x54A001u
#define ARCA_KMIP_TAG_ARCA_RESPONSE 0x54A002u

/* The largest KMIP message Arca reads or writes on a client connection,
 * TTLV header included: ARCA_LP_FRAME_MAX (local_proto.h, 1 MiB) plus
 * 64 KiB for the KMIP around an Arca Call. A header that announces more is
 * refused before anything is allocated. */
#define ARCA_KMIP_WIRE_MAX ((1u << 20) + (64u << 10))

/* ---- Operation (Enumeration, tag Operation) ---------------------------- */
#define ARCA_KMIP_OPERATIONS(X) \
    X(CREATE, 0x00000001, "Create") \
    X(CREATE_KEY_PAIR, 0x00000002, "Create Key Pair") \
    X(REGISTER, 0x00000003, "Register") \
    X(REKEY, 0x00000004, "Re-key") \
    X(DERIVE_KEY, 0x00000005, "Derive Key") \
    X(LOCATE, 0x00000008, "Locate") \
    X(GET, 0x0000000A, "Get") \
    X(GET_ATTRIBUTES, 0x0000000B, "Get Attributes") \
    X(GET_ATTRIBUTE_LIST, 0x0000000C, "Get Attribute List") \
    X(ADD_ATTRIBUTE, 0x0000000D, "Add Attribute") \
    X(MODIFY_ATTRIBUTE, 0x0000000E, "Modify Attribute") \
    X(DELETE_ATTRIBUTE, 0x0000000F, "Delete Attribute") \
    X(ACTIVATE, 0x00000012, "Activate") \
    X(REVOKE, 0x00000013, "Revoke") \
    X(DESTROY, 0x00000014, "Destroy") \
    X(QUERY, 0x00000018, "Query") \
    X(REKEY_KEY_PAIR, 0x0000001D, "Re-key Key Pair") \
    X(DISCOVER_VERSIONS, 0x0000001E, "Discover Versions") \
    X(ENCRYPT, 0x0000001F, "Encrypt") \
    X(DECRYPT, 0x00000020, "Decrypt") \
    X(SIGN, 0x00000021, "Sign") \
    X(SIGNATURE_VERIFY, 0x00000022, "Signature Verify") \
    X(MAC, 0x00000023, "MAC") \
    X(MAC_VERIFY, 0x00000024, "MAC Verify") \
    X(RNG_RETRIEVE, 0x00000025, "RNG Retrieve")

enum arca_kmip_operation {
#define ARCA_KMIP_OP_ENUM_(name, value, text) ARCA_KMIP_OP_##name = value,
    ARCA_KMIP_OPERATIONS(ARCA_KMIP_OP_ENUM_)
#undef ARCA_KMIP_OP_ENUM_
};

/* Extension operations: enumeration values 0x8XXXXXXX are left to vendors.
 * Arca reserves 0x8000A000–0x8000AFFF for its own operations (fresh-nonce
 * attestation, audit read / verify, administration; documented in
 * docs/protocol.md). */
#define ARCA_KMIP_ENUM_EXTENSION_FLAG 0x80000000u
#define ARCA_KMIP_OP_ARCA_FIRST 0x8000A000u
#define ARCA_KMIP_OP_ARCA_LAST 0x8000AFFFu
/* Arca Call: one local-protocol request on the connection's keystore
 * session (docs/protocol.md, "Transport"). Not listed by Query. */
#define ARCA_KMIP_OP_ARCA_CALL 0x8000A001u

/* ---- Result Status ------------------------------------------------------ */
enum arca_kmip_result_status {
    ARCA_KMIP_STATUS_SUCCESS = 0x00000000,
    ARCA_KMIP_STATUS_OPERATION_FAILED = 0x00000001,
    ARCA_KMIP_STATUS_OPERATION_PENDING = 0x00000002,
    ARCA_KMIP_STATUS_OPERATION_UNDONE = 0x00000003,
};

/* ---- Result Reason (1.x values, then those 2.0 added) ----------------- */
#define ARCA_KMIP_REASONS(X) \
    X(ITEM_NOT_FOUND, 0x00000001, "Item Not Found") \
    X(RESPONSE_TOO_LARGE, 0x00000002, "Response Too Large") \
    X(AUTHENTICATION_NOT_SUCCESSFUL, 0x00000003, "Authentication Not Successful") \
    X(INVALID_MESSAGE, 0x00000004, "Invalid Message") \
    X(OPERATION_NOT_SUPPORTED, 0x00000005, "Operation Not Supported") \
    X(MISSING_DATA, 0x00000006, "Missing Data") \
    X(INVALID_FIELD, 0x00000007, "Invalid Field") \
    X(FEATURE_NOT_SUPPORTED, 0x00000008, "Feature Not Supported") \
    X(OPERATION_CANCELED_BY_REQUESTER, 0x00000009, "Operation Canceled By Requester") \
    X(CRYPTOGRAPHIC_FAILURE, 0x0000000A, "Cryptographic Failure") \
    X(ILLEGAL_OPERATION, 0x0000000B, "Illegal Operation") \
    X(PERMISSION_DENIED, 0x0000000C, "Permission Denied") \
    X(OBJECT_ARCHIVED, 0x0000000D, "Object Archived") \
    X(INDEX_OUT_OF_BOUNDS, 0x0000000E, "Index Out of Bounds") \
    X(APPLICATION_NAMESPACE_NOT_SUPPORTED, 0x0000000F, "Application Namespace Not Supported") \
    X(KEY_FORMAT_TYPE_NOT_SUPPORTED, 0x00000010, "Key Format Type Not Supported") \
    X(KEY_COMPRESSION_TYPE_NOT_SUPPORTED, 0x00000011, "Key Compression Type Not Supported") \
    X(ENCODING_OPTION_ERROR, 0x00000012, "Encoding Option Error") \
    X(KEY_VALUE_NOT_PRESENT, 0x00000013, "Key Value Not Present") \
    X(ATTESTATION_REQUIRED, 0x00000014, "Attestation Required") \
    X(ATTESTATION_FAILED, 0x00000015, "Attestation Failed") \
    X(SENSITIVE, 0x00000016, "Sensitive") \
    X(NOT_EXTRACTABLE, 0x00000017, "Not Extractable") \
    X(OBJECT_ALREADY_EXISTS, 0x00000018, "Object Already Exists") \
    X(INVALID_TICKET, 0x00000019, "Invalid Ticket") \
    X(USAGE_LIMIT_EXCEEDED, 0x0000001A, "Usage Limit Exceeded") \
    X(NUMERIC_RANGE, 0x0000001B, "Numeric Range") \
    X(INVALID_DATA_TYPE, 0x0000001C, "Invalid Data Type") \
    X(READ_ONLY_ATTRIBUTE, 0x0000001D, "Read Only Attribute") \
    X(MULTI_VALUED_ATTRIBUTE, 0x0000001E, "Multi Valued Attribute") \
    X(UNSUPPORTED_ATTRIBUTE, 0x0000001F, "Unsupported Attribute") \
    X(ATTRIBUTE_INSTANCE_NOT_FOUND, 0x00000020, "Attribute Instance Not Found") \
    X(ATTRIBUTE_NOT_FOUND, 0x00000021, "Attribute Not Found") \
    X(ATTRIBUTE_READ_ONLY, 0x00000022, "Attribute Read Only") \
    X(ATTRIBUTE_SINGLE_VALUED, 0x00000023, "Attribute Single Valued") \
    X(BAD_CRYPTOGRAPHIC_PARAMETERS, 0x00000024, "Bad Cryptographic Parameters") \
    X(BAD_PASSWORD, 0x00000025, "Bad Password") \
    X(CODEC_ERROR, 0x00000026, "Codec Error") \
    X(ILLEGAL_OBJECT_TYPE, 0x00000028, "Illegal Object Type") \
    X(INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK, 0x00000029, "Incompatible Cryptographic Usage Mask") \
    X(INTERNAL_SERVER_ERROR, 0x0000002A, "Internal Server Error") \
    X(INVALID_ASYNCHRONOUS_CORRELATION_VALUE, 0x0000002B, "Invalid Asynchronous Correlation Value") \
    X(INVALID_ATTRIBUTE, 0x0000002C, "Invalid Attribute") \
    X(INVALID_ATTRIBUTE_VALUE, 0x0000002D, "Invalid Attribute Value") \
    X(INVALID_CORRELATION_VALUE, 0x0000002E, "Invalid Correlation Value") \
    X(INVALID_CSR, 0x0000002F, "Invalid CSR") \
    X(INVALID_OBJECT_TYPE, 0x00000030, "Invalid Object Type") \
    X(KEY_WRAP_TYPE_NOT_SUPPORTED, 0x00000032, "Key Wrap Type Not Supported") \
    X(MISSING_INITIALIZATION_VECTOR, 0x00000034, "Missing Initialization Vector") \
    X(NON_UNIQUE_NAME_ATTRIBUTE, 0x00000035, "Non Unique Name Attribute") \
    X(OBJECT_DESTROYED, 0x00000036, "Object Destroyed") \
    X(OBJECT_NOT_FOUND, 0x00000037, "Object Not Found") \
    X(NOT_AUTHORISED, 0x00000039, "Not Authorised") \
    X(SERVER_LIMIT_EXCEEDED, 0x0000003A, "Server Limit Exceeded") \
    X(UNKNOWN_ENUMERATION, 0x0000003B, "Unknown Enumeration") \
    X(UNKNOWN_MESSAGE_EXTENSION, 0x0000003C, "Unknown Message Extension") \
    X(UNKNOWN_TAG, 0x0000003D, "Unknown Tag") \
    X(UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, 0x0000003E, "Unsupported Cryptographic Parameters") \
    X(UNSUPPORTED_PROTOCOL_VERSION, 0x0000003F, "Unsupported Protocol Version") \
    X(WRAPPING_OBJECT_ARCHIVED, 0x00000040, "Wrapping Object Archived") \
    X(WRAPPING_OBJECT_DESTROYED, 0x00000041, "Wrapping Object Destroyed") \
    X(WRAPPING_OBJECT_NOT_FOUND, 0x00000042, "Wrapping Object Not Found") \
    X(WRONG_KEY_LIFECYCLE_STATE, 0x00000043, "Wrong Key Lifecycle State") \
    X(PROTECTION_STORAGE_UNAVAILABLE, 0x00000044, "Protection Storage Unavailable") \
    X(GENERAL_FAILURE, 0x00000100, "General Failure")

enum arca_kmip_result_reason {
#define ARCA_KMIP_REASON_ENUM_(name, value, text) ARCA_KMIP_REASON_##name = value,
    ARCA_KMIP_REASONS(ARCA_KMIP_REASON_ENUM_)
#undef ARCA_KMIP_REASON_ENUM_
};

/* ---- Object Type -------------------------------------------------------- */
enum arca_kmip_object_type {
    ARCA_KMIP_OBJECT_CERTIFICATE = 0x00000001,
    ARCA_KMIP_OBJECT_SYMMETRIC_KEY = 0x00000002,
    ARCA_KMIP_OBJECT_PUBLIC_KEY = 0x00000003,
    ARCA_KMIP_OBJECT_PRIVATE_KEY = 0x00000004,
    ARCA_KMIP_OBJECT_SPLIT_KEY = 0x00000005,
    ARCA_KMIP_OBJECT_TEMPLATE = 0x00000006, /* 1.x only */
    ARCA_KMIP_OBJECT_SECRET_DATA = 0x00000007,
    ARCA_KMIP_OBJECT_OPAQUE_DATA = 0x00000008,
    ARCA_KMIP_OBJECT_PGP_KEY = 0x00000009,
    ARCA_KMIP_OBJECT_CERTIFICATE_REQUEST = 0x0000000A,
};

/* ---- Cryptographic Algorithm ------------------------------------------- */
enum arca_kmip_crypto_alg {
    ARCA_KMIP_ALG_DES = 0x00000001,
    ARCA_KMIP_ALG_TRIPLE_DES = 0x00000002,
    ARCA_KMIP_ALG_AES = 0x00000003,
    ARCA_KMIP_ALG_RSA = 0x00000004,
    ARCA_KMIP_ALG_DSA = 0x00000005,
    ARCA_KMIP_ALG_ECDSA = 0x00000006,
    ARCA_KMIP_ALG_HMAC_SHA1 = 0x00000007,
    ARCA_KMIP_ALG_HMAC_SHA224 = 0x00000008,
    ARCA_KMIP_ALG_HMAC_SHA256 = 0x00000009,
    ARCA_KMIP_ALG_HMAC_SHA384 = 0x0000000A,
    ARCA_KMIP_ALG_HMAC_SHA512 = 0x0000000B,
    ARCA_KMIP_ALG_HMAC_MD5 = 0x0000000C,
    ARCA_KMIP_ALG_DH = 0x0000000D,
    ARCA_KMIP_ALG_ECDH = 0x0000000E,
    ARCA_KMIP_ALG_EC = 0x0000001A,
    ARCA_KMIP_ALG_CHACHA20 = 0x0000001C,
    ARCA_KMIP_ALG_POLY1305 = 0x0000001D,
    ARCA_KMIP_ALG_CHACHA20_POLY1305 = 0x0000001E,
    ARCA_KMIP_ALG_SHA3_224 = 0x0000001F,
    ARCA_KMIP_ALG_SHA3_256 = 0x00000020,
    ARCA_KMIP_ALG_SHA3_384 = 0x00000021,
    ARCA_KMIP_ALG_SHA3_512 = 0x00000022,
    ARCA_KMIP_ALG_HMAC_SHA3_224 = 0x00000023,
    ARCA_KMIP_ALG_HMAC_SHA3_256 = 0x00000024,
    ARCA_KMIP_ALG_HMAC_SHA3_384 = 0x00000025,
    ARCA_KMIP_ALG_HMAC_SHA3_512 = 0x00000026,
    ARCA_KMIP_ALG_ED25519 = 0x00000037,
    ARCA_KMIP_ALG_ED448 = 0x00000038,
};

/* ---- Key Format Type ---------------------------------------------------- */
enum arca_kmip_key_format {
    ARCA_KMIP_KEY_FORMAT_RAW = 0x00000001,
    ARCA_KMIP_KEY_FORMAT_OPAQUE = 0x00000002,
    ARCA_KMIP_KEY_FORMAT_PKCS_1 = 0x00000003,
    ARCA_KMIP_KEY_FORMAT_PKCS_8 = 0x00000004,
    ARCA_KMIP_KEY_FORMAT_X_509 = 0x00000005,
    ARCA_KMIP_KEY_FORMAT_EC_PRIVATE_KEY = 0x00000006,
    ARCA_KMIP_KEY_FORMAT_TRANSPARENT_SYMMETRIC_KEY = 0x00000007,
    ARCA_KMIP_KEY_FORMAT_TRANSPARENT_RSA_PRIVATE_KEY = 0x0000000A,
    ARCA_KMIP_KEY_FORMAT_TRANSPARENT_RSA_PUBLIC_KEY = 0x0000000B,
    ARCA_KMIP_KEY_FORMAT_TRANSPARENT_EC_PRIVATE_KEY = 0x00000014,
    ARCA_KMIP_KEY_FORMAT_TRANSPARENT_EC_PUBLIC_KEY = 0x00000015,
    ARCA_KMIP_KEY_FORMAT_PKCS_12 = 0x00000016,
};

/* ---- Block Cipher Mode -------------------------------------------------- */
enum arca_kmip_block_cipher_mode {
    ARCA_KMIP_MODE_CBC = 0x00000001,
    ARCA_KMIP_MODE_ECB = 0x00000002,
    ARCA_KMIP_MODE_PCBC = 0x00000003,
    ARCA_KMIP_MODE_CFB = 0x00000004,
    ARCA_KMIP_MODE_OFB = 0x00000005,
    ARCA_KMIP_MODE_CTR = 0x00000006,
    ARCA_KMIP_MODE_CMAC = 0x00000007,
    ARCA_KMIP_MODE_CCM = 0x00000008,
    ARCA_KMIP_MODE_GCM = 0x00000009,
    ARCA_KMIP_MODE_CBC_MAC = 0x0000000A,
    ARCA_KMIP_MODE_XTS = 0x0000000B,
    ARCA_KMIP_MODE_AES_KEY_WRAP_PADDING = 0x0000000C,
    ARCA_KMIP_MODE_NIST_KEY_WRAP = 0x0000000D,
    ARCA_KMIP_MODE_AEAD = 0x00000012,
};

/* ---- Padding Method ----------------------------------------------------- */
enum arca_kmip_padding {
    ARCA_KMIP_PADDING_NONE = 0x00000001,
    ARCA_KMIP_PADDING_OAEP = 0x00000002,
    ARCA_KMIP_PADDING_PKCS5 = 0x00000003,
    ARCA_KMIP_PADDING_SSL3 = 0x00000004,
    ARCA_KMIP_PADDING_ZEROS = 0x00000005,
    ARCA_KMIP_PADDING_ANSI_X923 = 0x00000006,
    ARCA_KMIP_PADDING_ISO_10126 = 0x00000007,
    ARCA_KMIP_PADDING_PKCS1_V1_5 = 0x00000008,
    ARCA_KMIP_PADDING_X9_31 = 0x00000009,
    ARCA_KMIP_PADDING_PSS = 0x0000000A,
};

/* ---- Hashing Algorithm -------------------------------------------------- */
enum arca_kmip_hash {
    ARCA_KMIP_HASH_MD2 = 0x00000001,
    ARCA_KMIP_HASH_MD4 = 0x00000002,
    ARCA_KMIP_HASH_MD5 = 0x00000003,
    ARCA_KMIP_HASH_SHA_1 = 0x00000004,
    ARCA_KMIP_HASH_SHA_224 = 0x00000005,
    ARCA_KMIP_HASH_SHA_256 = 0x00000006,
    ARCA_KMIP_HASH_SHA_384 = 0x00000007,
    ARCA_KMIP_HASH_SHA_512 = 0x00000008,
    ARCA_KMIP_HASH_RIPEMD_160 = 0x00000009,
    ARCA_KMIP_HASH_TIGER = 0x0000000A,
    ARCA_KMIP_HASH_WHIRLPOOL = 0x0000000B,
    ARCA_KMIP_HASH_SHA_512_224 = 0x0000000C,
    ARCA_KMIP_HASH_SHA_512_256 = 0x0000000D,
    ARCA_KMIP_HASH_SHA3_224 = 0x0000000E,
    ARCA_KMIP_HASH_SHA3_256 = 0x0000000F,
    ARCA_KMIP_HASH_SHA3_384 = 0x00000010,
    ARCA_KMIP_HASH_SHA3_512 = 0x00000011,
};

/* ---- Digital Signature Algorithm --------------------------------------- */
enum arca_kmip_signature_alg {
    ARCA_KMIP_SIG_SHA1_WITH_RSA = 0x00000003,
    ARCA_KMIP_SIG_SHA224_WITH_RSA = 0x00000004,
    ARCA_KMIP_SIG_SHA256_WITH_RSA = 0x00000005,
    ARCA_KMIP_SIG_SHA384_WITH_RSA = 0x00000006,
    ARCA_KMIP_SIG_SHA512_WITH_RSA = 0x00000007,
    ARCA_KMIP_SIG_RSASSA_PSS = 0x00000008,
    ARCA_KMIP_SIG_DSA_WITH_SHA1 = 0x00000009,
    ARCA_KMIP_SIG_DSA_WITH_SHA224 = 0x0000000A,
    ARCA_KMIP_SIG_DSA_WITH_SHA256 = 0x0000000B,
    ARCA_KMIP_SIG_ECDSA_WITH_SHA1 = 0x0000000C,
    ARCA_KMIP_SIG_ECDSA_WITH_SHA224 = 0x0000000D,
    ARCA_KMIP_SIG_ECDSA_WITH_SHA256 = 0x0000000E,
    ARCA_KMIP_SIG_ECDSA_WITH_SHA384 = 0x0000000F,
    ARCA_KMIP_SIG_ECDSA_WITH_SHA512 = 0x00000010,
    ARCA_KMIP_SIG_SHA3_256_WITH_RSA = 0x00000011,
    ARCA_KMIP_SIG_SHA3_384_WITH_RSA = 0x00000012,
    ARCA_KMIP_SIG_SHA3_512_WITH_RSA = 0x00000013,
};

/* ---- Mask Generator ----------------------------------------------------- */
enum arca_kmip_mask_generator {
    ARCA_KMIP_MASK_GENERATOR_MGF1 = 0x00000001,
};

/* ---- Recommended Curve (the NIST prime curves) ------------------------- */
enum arca_kmip_curve {
    ARCA_KMIP_CURVE_P_192 = 0x00000001,
    ARCA_KMIP_CURVE_P_224 = 0x00000004,
    ARCA_KMIP_CURVE_P_256 = 0x00000007,
    ARCA_KMIP_CURVE_P_384 = 0x0000000A,
    ARCA_KMIP_CURVE_P_521 = 0x0000000D,
};

/* ---- Cryptographic Usage Mask (Integer bit mask) ----------------------- */
enum arca_kmip_usage {
    ARCA_KMIP_USAGE_SIGN = 0x00000001,
    ARCA_KMIP_USAGE_VERIFY = 0x00000002,
    ARCA_KMIP_USAGE_ENCRYPT = 0x00000004,
    ARCA_KMIP_USAGE_DECRYPT = 0x00000008,
    ARCA_KMIP_USAGE_WRAP_KEY = 0x00000010,
    ARCA_KMIP_USAGE_UNWRAP_KEY = 0x00000020,
    ARCA_KMIP_USAGE_EXPORT = 0x00000040,
    ARCA_KMIP_USAGE_MAC_GENERATE = 0x00000080,
    ARCA_KMIP_USAGE_MAC_VERIFY = 0x00000100,
    ARCA_KMIP_USAGE_DERIVE_KEY = 0x00000200,
    ARCA_KMIP_USAGE_CONTENT_COMMITMENT = 0x00000400,
    ARCA_KMIP_USAGE_KEY_AGREEMENT = 0x00000800,
    ARCA_KMIP_USAGE_CERTIFICATE_SIGN = 0x00001000,
    ARCA_KMIP_USAGE_CRL_SIGN = 0x00002000,
    ARCA_KMIP_USAGE_AUTHENTICATE = 0x00100000, /* 2.0 */
    ARCA_KMIP_USAGE_UNRESTRICTED = 0x00200000, /* 2.0 */
};

/* ---- Name Type ---------------------------------------------------------- */
enum arca_kmip_name_type {
    ARCA_KMIP_NAME_UNINTERPRETED_TEXT_STRING = 0x00000001,
    ARCA_KMIP_NAME_URI = 0x00000002,
};

/* ---- State -------------------------------------------------------------- */
enum arca_kmip_state {
    ARCA_KMIP_STATE_PRE_ACTIVE = 0x00000001,
    ARCA_KMIP_STATE_ACTIVE = 0x00000002,
    ARCA_KMIP_STATE_DEACTIVATED = 0x00000003,
    ARCA_KMIP_STATE_COMPROMISED = 0x00000004,
    ARCA_KMIP_STATE_DESTROYED = 0x00000005,
    ARCA_KMIP_STATE_DESTROYED_COMPROMISED = 0x00000006,
};

/* ---- Revocation Reason Code -------------------------------------------- */
enum arca_kmip_revocation_reason {
    ARCA_KMIP_REVOKE_UNSPECIFIED = 0x00000001,
    ARCA_KMIP_REVOKE_KEY_COMPROMISE = 0x00000002,
    ARCA_KMIP_REVOKE_CA_COMPROMISE = 0x00000003,
    ARCA_KMIP_REVOKE_AFFILIATION_CHANGED = 0x00000004,
    ARCA_KMIP_REVOKE_SUPERSEDED = 0x00000005,
    ARCA_KMIP_REVOKE_CESSATION_OF_OPERATION = 0x00000006,
    ARCA_KMIP_REVOKE_PRIVILEGE_WITHDRAWN = 0x00000007,
};

/* ---- Link Type ---------------------------------------------------------- */
enum arca_kmip_link_type {
    ARCA_KMIP_LINK_CERTIFICATE = 0x00000101,
    ARCA_KMIP_LINK_PUBLIC_KEY = 0x00000102,
    ARCA_KMIP_LINK_PRIVATE_KEY = 0x00000103,
    ARCA_KMIP_LINK_DERIVATION_BASE_OBJECT = 0x00000104,
    ARCA_KMIP_LINK_DERIVED_KEY = 0x00000105,
    ARCA_KMIP_LINK_REPLACEMENT_OBJECT = 0x00000106,
    ARCA_KMIP_LINK_REPLACED_OBJECT = 0x00000107,
    ARCA_KMIP_LINK_PARENT = 0x00000108,
    ARCA_KMIP_LINK_CHILD = 0x00000109,
    ARCA_KMIP_LINK_PREVIOUS = 0x0000010A,
    ARCA_KMIP_LINK_NEXT = 0x0000010B,
    ARCA_KMIP_LINK_WRAPPING_KEY = 0x0000010E, /* 2.0 */
};

/* ---- Derivation Method -------------------------------------------------- */
enum arca_kmip_derivation_method {
    ARCA_KMIP_DERIVE_PBKDF2 = 0x00000001,
    ARCA_KMIP_DERIVE_HASH = 0x00000002,
    ARCA_KMIP_DERIVE_HMAC = 0x00000003,
    ARCA_KMIP_DERIVE_ENCRYPT = 0x00000004,
    ARCA_KMIP_DERIVE_NIST800_108_C = 0x00000005,
    ARCA_KMIP_DERIVE_NIST800_108_F = 0x00000006,
    ARCA_KMIP_DERIVE_NIST800_108_DPI = 0x00000007,
    ARCA_KMIP_DERIVE_ASYMMETRIC_KEY = 0x00000008,
    ARCA_KMIP_DERIVE_HKDF = 0x0000000A, /* 2.0 */
};

/* ---- Wrapping Method, Encoding Option, Key Wrap Type -------------------- */
enum arca_kmip_wrapping_method {
    ARCA_KMIP_WRAP_ENCRYPT = 0x00000001,
    ARCA_KMIP_WRAP_MAC_SIGN = 0x00000002,
    ARCA_KMIP_WRAP_ENCRYPT_THEN_MAC_SIGN = 0x00000003,
    ARCA_KMIP_WRAP_MAC_SIGN_THEN_ENCRYPT = 0x00000004,
    ARCA_KMIP_WRAP_TR_31 = 0x00000005,
};

enum arca_kmip_encoding_option {
    ARCA_KMIP_ENCODING_NO_ENCODING = 0x00000001,
    ARCA_KMIP_ENCODING_TTLV = 0x00000002,
};

enum arca_kmip_key_wrap_type {
    ARCA_KMIP_KEY_WRAP_NOT_WRAPPED = 0x00000001,
    ARCA_KMIP_KEY_WRAP_AS_REGISTERED = 0x00000002,
};

/* ---- Query Function ----------------------------------------------------- */
enum arca_kmip_query_function {
    ARCA_KMIP_QUERY_OPERATIONS = 0x00000001,
    ARCA_KMIP_QUERY_OBJECTS = 0x00000002,
    ARCA_KMIP_QUERY_SERVER_INFORMATION = 0x00000003,
    ARCA_KMIP_QUERY_APPLICATION_NAMESPACES = 0x00000004,
    ARCA_KMIP_QUERY_EXTENSION_LIST = 0x00000005,
    ARCA_KMIP_QUERY_EXTENSION_MAP = 0x00000006,
    ARCA_KMIP_QUERY_ATTESTATION_TYPES = 0x00000007,
    ARCA_KMIP_QUERY_RNGS = 0x00000008,
    ARCA_KMIP_QUERY_VALIDATIONS = 0x00000009,
    ARCA_KMIP_QUERY_PROFILES = 0x0000000A,
    ARCA_KMIP_QUERY_CAPABILITIES = 0x0000000B,
    ARCA_KMIP_QUERY_CLIENT_REGISTRATION_METHODS = 0x0000000C,
    ARCA_KMIP_QUERY_DEFAULTS_INFORMATION = 0x0000000D,
    ARCA_KMIP_QUERY_STORAGE_PROTECTION_MASKS = 0x0000000E,
};

/* ---- Batch Error Continuation Option, Credential Type ------------------- */
enum arca_kmip_batch_error_option {
    ARCA_KMIP_BATCH_ERROR_CONTINUE = 0x00000001,
    ARCA_KMIP_BATCH_ERROR_STOP = 0x00000002,
    ARCA_KMIP_BATCH_ERROR_UNDO = 0x00000003,
};

enum arca_kmip_credential_type {
    ARCA_KMIP_CREDENTIAL_USERNAME_AND_PASSWORD = 0x00000001,
    ARCA_KMIP_CREDENTIAL_DEVICE = 0x00000002,
    ARCA_KMIP_CREDENTIAL_ATTESTATION = 0x00000003,
};

/* ---- Validity Indicator ------------------------------------------------- */
enum arca_kmip_validity {
    ARCA_KMIP_VALIDITY_VALID = 0x00000001,
    ARCA_KMIP_VALIDITY_INVALID = 0x00000002,
    ARCA_KMIP_VALIDITY_UNKNOWN = 0x00000003,
};

/* ---- Names (for messages and logs; kmip_names.c) ------------------------ */

/* The specification's name of a tag ("Unique Identifier"), of an
 * operation ("Create Key Pair"), of a result reason ("Permission Denied")
 * and of a result status ("Operation Failed"). Never NULL: values not in
 * these tables give "Unknown". The strings are static. */
const char *arca_kmip_tag_name(uint32_t tag);
const char *arca_kmip_operation_name(uint32_t op);
const char *arca_kmip_reason_name(uint32_t reason);
const char *arca_kmip_status_name(uint32_t status);

/* The tag whose specification name is exactly name[0..name_len) (KMIP 1.x
 * carries attribute names as text: "Cryptographic Algorithm"). Returns 0
 * when the name is not in the table (0 is not a valid KMIP tag). */
uint32_t arca_kmip_tag_by_name(const uint8_t *name, size_t name_len);

#endif
