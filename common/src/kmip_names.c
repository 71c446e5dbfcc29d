/* Names of KMIP tags, operations and results, for messages and logs (see
 * kmip.h). The tables come from the X-macro lists in kmip.h, so a value and
 * its name cannot drift apart. */
#include "arca/kmip.h"

#include <string.h>

typedef struct name_entry {
    uint32_t value;
    const char *name;
} name_entry;

#define ENTRY_(name, value, text) {value, text},

static const name_entry tag_names[] = {ARCA_KMIP_TAGS(ENTRY_)};
static const name_entry op_names[] = {ARCA_KMIP_OPERATIONS(ENTRY_){ARCA_KMIP_OP_ARCA_CALL, "Arca Call"}};
/* Arca's vendor tags: named for messages, but not attribute names (so not
 * in tag_names, which arca_kmip_tag_by_name searches). */
static const name_entry vendor_tag_names[] = {
    {ARCA_KMIP_TAG_ARCA_REQUEST, "Arca Request"},
    {ARCA_KMIP_TAG_ARCA_RESPONSE, "Arca Response"},
};
static const name_entry reason_names[] = {ARCA_KMIP_REASONS(ENTRY_)};

#undef ENTRY_

static const name_entry status_names[] = {
    {ARCA_KMIP_STATUS_SUCCESS, "Success"},
    {ARCA_KMIP_STATUS_OPERATION_FAILED, "Operation Failed"},
    {ARCA_KMIP_STATUS_OPERATION_PENDING, "Operation Pending"},
    {ARCA_KMIP_STATUS_OPERATION_UNDONE, "Operation Undone"},
};

static const char *lookup(const name_entry *table, size_t num, uint32_t value)
{
    for (size_t i = 0; i < num; i++) {
        if (table[i].value == value) return table[i].name;
    }
    return "Unknown";
}

#define LOOKUP(table, value) lookup(table, sizeof(table) / sizeof(table[0]), value)

const char *arca_kmip_tag_name(uint32_t tag)
{
    if (tag >= ARCA_KMIP_TAG_ARCA_FIRST && tag <= ARCA_KMIP_TAG_ARCA_LAST) return LOOKUP(vendor_tag_names, tag);
    return LOOKUP(tag_names, tag);
}

const char *arca_kmip_operation_name(uint32_t op)
{
    return LOOKUP(op_names, op);
}

const char *arca_kmip_reason_name(uint32_t reason)
{
    return LOOKUP(reason_names, reason);
}

const char *arca_kmip_status_name(uint32_t status)
{
    return LOOKUP(status_names, status);
}

uint32_t arca_kmip_tag_by_name(const uint8_t *name, size_t name_len)
{
    if (name == NULL) return 0;
    for (size_t i = 0; i < sizeof(tag_names) / sizeof(tag_names[0]); i++) {
        const char *n = tag_names[i].name;
        if (strlen(n) == name_len && memcmp(n, name, name_len) == 0) return tag_names[i].value;
    }
    return 0;
}
