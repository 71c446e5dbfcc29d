/* Lower-case hex encoding of bytes that are not secret (ids, hashes,
 * measurements) for messages and logs. */
#ifndef ARCA_HEX_H
#define ARCA_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Write 2n hex digits and a NUL into out (room for 2n + 1). */
void arca_hex(const uint8_t *in, size_t n, char *out);

#endif
