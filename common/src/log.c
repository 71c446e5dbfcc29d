/* Logging that cannot print a secret (see log.h).
 *
 * The format string is walked here, not handed to vsnprintf: only the
 * listed conversions exist, so there is no %p, %n or raw-byte conversion.
 * Accepted: %s %d %i %u %x %X %c %%, length modifiers l, ll, z, a '-' or
 * '0' flag, a decimal width, and a precision (".N" or ".*") for %s. An
 * unsupported conversion prints "[bad format]" and ends the message (the
 * remaining arguments cannot be consumed safely).
 *
 * %s arguments that point into secret memory print as "[redacted]".
 * Every byte of the message below 0x20, 0x7f and the backslash is escaped
 * (\n \r \t \\ or \xNN), so a hostile string cannot forge a line. The
 * message (after escaping) is cut at ARCA_LOG_MAX_MSG = 1024 bytes, never
 * inside an escape, and then " [truncated]" is appended. The whole line is
 * written with one write(2), so concurrent writers do not interleave. */
#include "arca/log.h"

#include <errno.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arca/secret.h"

#define ARCA_LOG_MAX_MSG 1024u
#define COMPONENT_MAX 32u

static const char truncated_mark[] = " [truncated]";

static atomic_int log_fd = 2;
static atomic_int min_level = ARCA_LOG_INFO;
static pthread_mutex_t component_lock = PTHREAD_MUTEX_INITIALIZER;
static char component[COMPONENT_MAX] = "arca";

void arca_log_set_component(const char *name)
{
    if (name == NULL) return;
    pthread_mutex_lock(&component_lock);
    size_t i = 0;
    for (; name[i] != '\0' && i < COMPONENT_MAX - 1; i++) {
        unsigned char ch = (unsigned char)name[i];
        component[i] = (ch < 0x21 || ch == 0x7f) ? '_' : (char)ch;
    }
    component[i] = '\0';
    pthread_mutex_unlock(&component_lock);
}

void arca_log_set_level(arca_log_level level)
{
    atomic_store(&min_level, (int)level);
}

void arca_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

/* The message under construction: escaped bytes, capped. */
typedef struct msgbuf {
    char data[ARCA_LOG_MAX_MSG];
    size_t len;
    bool truncated;
} msgbuf;

static void put_raw(msgbuf *m, const char *s, size_t n)
{
    if (m->truncated) return;
    if (n > ARCA_LOG_MAX_MSG - m->len) {
        m->truncated = true;
        return;
    }
    memcpy(m->data + m->len, s, n);
    m->len += n;
}

static void put_byte(msgbuf *m, unsigned char ch)
{
    static const char hex[] = "0123456789abcdef";
    char esc[4];
    switch (ch) {
    case '\n':
        put_raw(m, "\\n", 2);
        return;
    case '\r':
        put_raw(m, "\\r", 2);
        return;
    case '\t':
        put_raw(m, "\\t", 2);
        return;
    case '\\':
        put_raw(m, "\\\\", 2);
        return;
    default:
        break;
    }
    if (ch < 0x20 || ch == 0x7f) {
        esc[0] = '\\';
        esc[1] = 'x';
        esc[2] = hex[ch >> 4];
        esc[3] = hex[ch & 15];
        put_raw(m, esc, 4);
        return;
    }
    char c = (char)ch;
    put_raw(m, &c, 1);
}

static void put_bytes(msgbuf *m, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !m->truncated; i++) put_byte(m, (unsigned char)s[i]);
}

static void put_padded(msgbuf *m, const char *s, size_t n, size_t width, bool left, char pad)
{
    size_t fill = width > n ? width - n : 0;
    if (!left)
        for (size_t i = 0; i < fill; i++) put_byte(m, (unsigned char)pad);
    put_bytes(m, s, n);
    if (left)
        for (size_t i = 0; i < fill; i++) put_byte(m, ' ');
}

static void put_number(msgbuf *m, uint64_t v, bool negative, unsigned base, bool upper, size_t width, bool left,
                       bool zero)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = digits[v % base];
        v /= base;
    } while (v != 0);
    if (negative && zero && !left) {
        /* Sign goes before the zero padding: "-0042". */
        put_byte(m, '-');
        put_padded(m, tmp + sizeof(tmp) - n, n, width > 0 ? width - 1 : 0, false, '0');
        return;
    }
    if (negative) tmp[sizeof(tmp) - 1 - n++] = '-';
    put_padded(m, tmp + sizeof(tmp) - n, n, width, left, zero && !left ? '0' : ' ');
}

static void format_message(msgbuf *m, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p != '\0' && !m->truncated; p++) {
        if (*p != '%') {
            put_byte(m, (unsigned char)*p);
            continue;
        }
        p++;
        bool left = false, zero = false;
        for (;; p++) {
            if (*p == '-') {
                left = true;
            } else if (*p == '0') {
                zero = true;
            } else {
                break;
            }
        }
        size_t width = 0;
        while (*p >= '0' && *p <= '9' && width < 1000) width = width * 10 + (size_t)(*p++ - '0');
        bool has_prec = false;
        size_t prec = 0;
        if (*p == '.') {
            has_prec = true;
            p++;
            if (*p == '*') {
                int v = va_arg(ap, int);
                prec = v < 0 ? 0 : (size_t)v;
                p++;
            } else {
                while (*p >= '0' && *p <= '9' && prec < 100000) prec = prec * 10 + (size_t)(*p++ - '0');
            }
        }
        int lmod = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
        if (p[0] == 'l' && p[1] == 'l') {
            lmod = 2;
            p += 2;
        } else if (p[0] == 'l') {
            lmod = 1;
            p++;
        } else if (p[0] == 'z') {
            lmod = 3;
            p++;
        }
        switch (*p) {
        case '%':
            put_byte(m, '%');
            break;
        case 'c':
            if (lmod != 0) goto bad;
            put_byte(m, (unsigned char)va_arg(ap, int));
            break;
        case 's': {
            if (lmod != 0) goto bad;
            const char *s = va_arg(ap, const char *);
            if (s == NULL) {
                s = "(null)";
            } else if (arca_secmem_owns(s)) {
                s = "[redacted]";
                has_prec = false;
            }
            size_t n = has_prec ? strnlen(s, prec) : strlen(s);
            put_padded(m, s, n, width, left, ' ');
            break;
        }
        case 'd':
        case 'i': {
            long long v;
            if (lmod == 0) {
                v = va_arg(ap, int);
            } else if (lmod == 1) {
                v = va_arg(ap, long);
            } else if (lmod == 2) {
                v = va_arg(ap, long long);
            } else {
                v = (long long)va_arg(ap, size_t); /* %zd: ssize_t */
            }
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            put_number(m, mag, v < 0, 10, false, width, left, zero);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v;
            if (lmod == 0) {
                v = va_arg(ap, unsigned int);
            } else if (lmod == 1) {
                v = va_arg(ap, unsigned long);
            } else if (lmod == 2) {
                v = va_arg(ap, unsigned long long);
            } else {
                v = va_arg(ap, size_t);
            }
            put_number(m, v, false, *p == 'u' ? 10 : 16, *p == 'X', width, left, zero);
            break;
        }
        default:
            goto bad;
        }
        continue;
    bad:
        put_raw(m, "[bad format]", 12);
        return;
    }
}

static const char *level_name(arca_log_level level)
{
    switch (level) {
    case ARCA_LOG_DEBUG:
        return "DEBUG";
    case ARCA_LOG_INFO:
        return "INFO";
    case ARCA_LOG_WARN:
        return "WARN";
    case ARCA_LOG_ERROR:
        return "ERROR";
    default:
        return "ERROR";
    }
}

void arca_log(arca_log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&min_level)) return;
    int saved_errno = errno;

    msgbuf m;
    m.len = 0;
    m.truncated = false;
    va_list ap;
    va_start(ap, fmt);
    if (fmt != NULL) format_message(&m, fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    char comp[COMPONENT_MAX];
    pthread_mutex_lock(&component_lock);
    memcpy(comp, component, sizeof(comp));
    pthread_mutex_unlock(&component_lock);

    char line[ARCA_LOG_MAX_MSG + 256];
    /* Only trusted, fixed-format pieces go through snprintf here; the
     * message itself is copied as bytes. */
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, comp,
                     (long)getpid(), level_name(level));
    if (n < 0 || (size_t)n >= sizeof(line) - ARCA_LOG_MAX_MSG - sizeof(truncated_mark) - 1) {
        errno = saved_errno;
        return;
    }
    size_t len = (size_t)n;
    memcpy(line + len, m.data, m.len);
    len += m.len;
    if (m.truncated) {
        memcpy(line + len, truncated_mark, sizeof(truncated_mark) - 1);
        len += sizeof(truncated_mark) - 1;
    }
    line[len++] = '\n';

    int fd = atomic_load(&log_fd);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, line + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    arca_wipe(m.data, m.len);
    arca_wipe(line, len);
    errno = saved_errno;
}

void arca_log_openssl_errors(const char *what)
{
    const char *file = NULL, *func = NULL, *data = NULL;
    int line = 0, flags = 0;
    unsigned long e;
    bool any = false;
    if (what == NULL) what = "OpenSSL";
    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        const char *extra = (flags & ERR_TXT_STRING) != 0 && data != NULL ? data : "";
        arca_log(ARCA_LOG_ERROR, "%s: %s%s%s (%s:%d %s)", what, buf, extra[0] != '\0' ? ": " : "", extra,
                 file != NULL ? file : "?", line, func != NULL ? func : "?");
        any = true;
    }
    if (!any) arca_log(ARCA_LOG_ERROR, "%s: failed (no OpenSSL error queued)", what);
}
