/* Logging that cannot print a secret.
 *
 * arca_log() takes a small printf subset (%s %d %u %ld %lu %lld %llu %zu %x
 * %c %%). Any %s argument that points into secret memory is printed as
 * "[redacted]"; there is no conversion that prints raw bytes or pointers.
 * Lines go to stderr as: "<time> <component>[<pid>] <level>: <message>".
 * Messages are truncated at 1024 bytes; control characters are escaped, so
 * a hostile string cannot forge log lines. */
#ifndef ARCA_LOG_H
#define ARCA_LOG_H

#include "arca/status.h"

typedef enum arca_log_level {
    ARCA_LOG_DEBUG = 0,
    ARCA_LOG_INFO,
    ARCA_LOG_WARN,
    ARCA_LOG_ERROR,
} arca_log_level;

/* Component name printed on every line (e.g. "arcad", "arca-enclave"). */
void arca_log_set_component(const char *component);
void arca_log_set_level(arca_log_level min_level);
/* Redirect output to fd (default 2). For tests. */
void arca_log_set_fd(int fd);

void arca_log(arca_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drain OpenSSL's error queue into the log at ERROR level, prefixed by what. */
void arca_log_openssl_errors(const char *what);

#define ARCA_DEBUG(...) arca_log(ARCA_LOG_DEBUG, __VA_ARGS__)
#define ARCA_INFO(...) arca_log(ARCA_LOG_INFO, __VA_ARGS__)
#define ARCA_WARN(...) arca_log(ARCA_LOG_WARN, __VA_ARGS__)
#define ARCA_ERROR(...) arca_log(ARCA_LOG_ERROR, __VA_ARGS__)

#endif
