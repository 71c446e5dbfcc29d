/* kms-client: the command line tool over libarca-client.
 *
 *   kms-client [--config FILE] [--json] [--socket PATH] [-p|--partition NAME] [--pin-file FILE] COMMAND ...
 *
 * Every invocation is one mutual-TLS connection to the enclave, set up by
 * the client configuration (--config FILE, else $ARCA_CLIENT_CONF; format
 * in docs/kms-client.md): the server's attestation evidence is checked
 * against its trust policy before anything is sent. PINs never come from
 * argv: the user PIN from $ARCA_PIN (or --pin-file), the admin PIN from
 * $ARCA_ADMIN_PIN, a new partition's SO PIN from $ARCA_SO_PIN. Exit codes:
 * 0 success, 1 an operation failed ("kms-client: error: <ARCA_ERR_NAME>:
 * <message>" on stderr; also "signature invalid"), 2 usage, 3 no usable
 * configuration, cannot connect, or the server's attestation does not
 * satisfy the policy. --json: the commands that support it print one JSON
 * object on stdout (on failure {"error": NAME, "message": TEXT} as well as
 * the stderr line). Data files of sign, verify, encrypt, decrypt (and the
 * outputs of key export, tls csr) may be "-": stdin / stdout. */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arca/client.h"
#include "arca/secret.h"

#ifndef CKM_AES_KEY_WRAP_KWP
#define CKM_AES_KEY_WRAP_KWP 0x0000210Bul
#endif
#ifndef CKM_HKDF_DERIVE
#define CKM_HKDF_DERIVE 0x0000402Aul
#endif
#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x00001055ul
#endif
#ifndef CKM_EDDSA
#define CKM_EDDSA 0x00001057ul
#endif
#ifndef CKK_EC_EDWARDS
#define CKK_EC_EDWARDS 0x00000040ul
#endif
#define ARCA_CKA_KEY_VERSION 0xC1524301u
#define ARCA_CKA_PRIMARY 0xC1524302u
#define ARCA_CKA_OBJECT_ID 0xC1524303u
#define ARCA_CKA_STATE 0xC1524304u
#define ARCA_CKA_ALLOWED_IDENTITIES 0xC1524305u /* = kms.h's; comma-separated identity names */

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_CONNECT 3
#define FILE_MAX (1u << 20)

static const char usage_line[] = "usage: kms-client [--config FILE] [--json] [--socket PATH] [-p|--partition NAME] "
                                "[--pin-file FILE] COMMAND ... (COMMAND --help for one command)\n";

/* One command's usage: cmd, subcommand (NULL if none) and its synopsis. */
static const struct cmdhelp {
    const char *cmd, *sub, *text;
} cmdhelp[] = {
    {"init", NULL, "init --client-ca CA.pem   (admin PIN from ARCA_ADMIN_PIN; your certificate's CN becomes the first admin)"},
    {"partition", "create", "partition create NAME   (ARCA_ADMIN_PIN, ARCA_SO_PIN, ARCA_PIN or --pin-file)"},
    {"partition", "list", "partition list"},
    {"partition", "reset",
     "partition reset NAME   (ARCA_SO_PIN; destroys every token object of NAME and clears its user PIN: set a new "
     "one with the SO, as PKCS#11 C_InitToken; refused while anyone is logged in to NAME)"},
    {"pin", "change",
     "pin change [--so] -p PARTITION   (user PIN: old from ARCA_PIN or --pin-file; --so: the SO PIN, old from "
     "ARCA_SO_PIN; new from ARCA_NEW_PIN)"},
    {"client", "add",
     "client add NAME --roles admin,officer,auditor,user --partitions p1,p2|*   (ARCA_ADMIN_PIN; replaces an "
     "existing NAME)"},
    {"client", "remove", "client remove NAME   (ARCA_ADMIN_PIN)"},
    {"client", "list", "client list   (ARCA_ADMIN_PIN) [--json]"},
    {"key", "generate",
     "key generate --type aes|generic|rsa|ec|ed25519 [--bits N] [--curve P-256|P-384|P-521] --label L [--id HEX]\n"
     "      [--extractable] [--not-sensitive] [--pre-active] [--session] [--no-sign] [--no-encrypt] [--no-wrap] "
     "[--derive|--no-derive]\n      (\"key create\" is the same command)"},
    {"key", "create",
     "key create --type aes|generic|rsa|ec|ed25519 [--bits N] [--curve P-256|P-384|P-521] --label L [--id HEX]\n"
     "      [--extractable] [--not-sensitive] [--pre-active] [--session] [--no-sign] [--no-encrypt] [--no-wrap] "
     "[--derive|--no-derive]\n      (the same command as key generate)"},
    {"key", "import",
     "key import --type aes|generic (--value-hex HEX | --value-file FILE) --label L [--extractable] "
     "[--not-sensitive]\n  key import --type private --pkcs8-file FILE --label L"},
    {"key", "list", "key list [--label L] [--class secret|private|public] [--json]"},
    {"key", "show", "key show ID [--json]"},
    {"key", "value", "key value ID"},
    {"key", "public", "key public ID --out FILE"},
    {"key", "destroy", "key destroy ID"},
    {"key", "rotate", "key rotate ID"},
    {"key", "activate", "key activate ID   (Pre-Active -> Active)"},
    {"key", "revoke",
     "key revoke ID [--reason compromise|superseded|cessation|unspecified] [--message TEXT]\n"
     "      (compromise -> Compromised, otherwise -> Deactivated; default unspecified)"},
    {"key", "export",
     "key export ID --wrapping-key WID --mech aes-kw|aes-kwp|rsa-oaep-sha256 --out FILE|-   (ID wrapped under WID; "
     "audited)"},
    {"key", "permit",
     "key permit ID --identities NAME,NAME...   (only these identities may use the key; \"\" = every identity of "
     "the partition)"},
    {"sign", NULL, "sign ID --mech M --in FILE|- --out FILE|-   (- = stdin / stdout)"},
    {"verify", NULL, "verify ID --mech M --in FILE|- --sig FILE"},
    {"encrypt", NULL, "encrypt ID --mech M --in FILE|- --out FILE|-"},
    {"decrypt", NULL, "decrypt ID --mech M --in FILE|- --out FILE|-"},
    {"wrap", NULL, "wrap WRAPPING_ID TARGET_ID --mech aes-kw|aes-kwp|rsa-oaep-sha256 --out FILE"},
    {"unwrap", NULL, "unwrap UNWRAPPING_ID --mech M --in FILE --type T --label L [--extractable]"},
    {"derive", NULL,
     "derive BASE_ID --mech ecdh --peer-pub FILE | --mech hkdf-sha256 [--salt-hex H] [--info-hex H]\n"
     "      --type aes|generic --len BYTES --label L [--extractable] [--not-sensitive]"},
    {"random", NULL, "random N [--json]"},
    {"audit", "show", "audit show [--from N] [--max N] [--json]   (ARCA_ADMIN_PIN, or an auditor identity)"},
    {"audit", "verify", "audit verify [--json]   (-p P with ARCA_PIN, ARCA_ADMIN_PIN, or an auditor identity)"},
    {"attest", NULL, "attest [--nonce HEX] [--json]   (fresh evidence bound to this TLS session; no login)"},
    {"status", NULL, "status [--json]"},
    {"whoami", NULL, "whoami [--json]   (this connection's identity; with -p and the user PIN, logs in first)"},
    {"tls", "csr", "tls csr --cn NAME --out FILE|-   (ARCA_ADMIN_PIN; PEM request for the enclave's TLS key)"},
    {"tls", "install", "tls install --chain FILE   (ARCA_ADMIN_PIN; PEM chain, leaf first, issued for tls csr)"},
};

/* Commands (and subcommands) whose output --json changes. */
static const char *const json_commands[] = {"status",      "attest",    "key list",     "key show",     "client list",
                                            "audit show",  "audit verify", "random",    "partition list", "whoami",
                                            NULL};

/* Print the usage of every command matching cmd (and sub, when sub names
 * one of cmd's subcommands); all commands when cmd is NULL. */
static void print_help(FILE *f, const char *cmd, const char *sub)
{
    bool sub_known = false;
    for (size_t i = 0; cmd && sub && i < sizeof(cmdhelp) / sizeof(cmdhelp[0]); i++)
        sub_known |= strcmp(cmdhelp[i].cmd, cmd) == 0 && cmdhelp[i].sub && strcmp(cmdhelp[i].sub, sub) == 0;
    fputs(usage_line, f);
    if (cmd == NULL)
        fputs("Client configuration: --config FILE or ARCA_CLIENT_CONF (docs/kms-client.md).\ncommands:\n", f);
    for (size_t i = 0; i < sizeof(cmdhelp) / sizeof(cmdhelp[0]); i++) {
        if (cmd && strcmp(cmdhelp[i].cmd, cmd) != 0) continue;
        if (sub_known && strcmp(cmdhelp[i].sub, sub) != 0) continue;
        fprintf(f, "  %s\n", cmdhelp[i].text);
    }
}

/* ---- options ---- */

typedef struct opts {
    const char *socket, *partition, *pin_file, *config;
    const char *type, *bits, *curve, *label, *id, *value_hex, *value_file, *pkcs8_file, *cls, *out, *in, *sig,
        *mech, *peer_pub, *salt_hex, *info_hex, *len, *client_ca, *roles, *partitions, *nonce, *from, *max, *cn,
        *chain, *reason, *message, *wrapping_key, *identities;
    int extractable, not_sensitive, pre_active, session, no_sign, no_encrypt, no_wrap, derive, no_derive, json, help, so;
    const char *pos[8];
    int num_pos;
} opts;

typedef struct optdef {
    const char *name;
    size_t str_off; /* offsetof a const char * field, or ... */
    size_t flag_off; /* ... of an int flag */
    int takes_value;
} optdef;

#define OS(n, f) {n, offsetof(opts, f), 0, 1}
#define OF(n, f) {n, 0, offsetof(opts, f), 0}
static const optdef optdefs[] = {
    OS("--socket", socket),         OS("-p", partition),         OS("--partition", partition),
    OS("--pin-file", pin_file),     OS("--config", config),      OS("--type", type),
    OS("--bits", bits),             OS("--curve", curve),        OS("--label", label),
    OS("--id", id),                 OS("--value-hex", value_hex), OS("--value-file", value_file),
    OS("--pkcs8-file", pkcs8_file), OS("--class", cls),          OS("--out", out),
    OS("--in", in),                 OS("--sig", sig),            OS("--mech", mech),
    OS("--peer-pub", peer_pub),     OS("--salt-hex", salt_hex),  OS("--info-hex", info_hex),
    OS("--len", len),               OS("--client-ca", client_ca), OS("--roles", roles),
    OS("--partitions", partitions), OS("--nonce", nonce),        OS("--from", from),
    OS("--max", max),               OS("--cn", cn),              OS("--chain", chain),
    OS("--reason", reason),         OS("--message", message),    OS("--wrapping-key", wrapping_key),
    OS("--identities", identities),
    OF("--extractable", extractable), OF("--not-sensitive", not_sensitive), OF("--pre-active", pre_active),
    OF("--session", session),
    OF("--no-sign", no_sign),       OF("--no-encrypt", no_encrypt), OF("--no-wrap", no_wrap),
    OF("--derive", derive),         OF("--no-derive", no_derive), OF("--json", json),
    OF("--help", help),             OF("-h", help),              OF("--so", so),
};

static int usage(const char *why)
{
    if (why) fprintf(stderr, "kms-client: %s\n", why);
    fputs(usage_line, stderr);
    return EXIT_USAGE;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] != 0) {
            const optdef *d = NULL;
            for (size_t k = 0; k < sizeof(optdefs) / sizeof(optdefs[0]); k++)
                if (strcmp(optdefs[k].name, a) == 0) d = &optdefs[k];
            if (d == NULL) {
                fprintf(stderr, "kms-client: unknown option %s\n", a);
                return -1;
            }
            if (d->takes_value) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "kms-client: option %s needs a value\n", a);
                    return -1;
                }
                *(const char **)((char *)o + d->str_off) = argv[++i];
            } else {
                *(int *)((char *)o + d->flag_off) = 1;
            }
        } else {
            if (o->num_pos >= (int)(sizeof(o->pos) / sizeof(o->pos[0]))) {
                fprintf(stderr, "kms-client: too many arguments\n");
                return -1;
            }
            o->pos[o->num_pos++] = a;
        }
    }
    return 0;
}

/* ---- small helpers ---- */

static void hex_print(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
}

static int hex_decode(const char *s, uint8_t **out, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 2 != 0) return -1;
    uint8_t *b = malloc(n / 2 + 1);
    if (b == NULL) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1])) {
            free(b);
            return -1;
        }
        b[i] = (uint8_t)v;
    }
    *out = b;
    *out_len = n / 2;
    return 0;
}

static int parse_id(const char *s, arca_client_id *id)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (s == NULL || strlen(s) != 2 * ARCA_LP_ID_LEN || hex_decode(s, &b, &n) != 0) return -1;
    memcpy(id->b, b, ARCA_LP_ID_LEN);
    free(b);
    return 0;
}

/* path "-" reads stdin. */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
    bool std = strcmp(path, "-") == 0;
    if (std) path = "standard input";
    FILE *f = std ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "kms-client: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = buf == NULL || ferror(f);
    if (!std) fclose(f);
    if (err || n > max) {
        fprintf(stderr, "kms-client: cannot read %s: %s\n", path, err ? "read error" : "file too large");
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* path "-" writes stdout. */
static int write_file(const char *path, const uint8_t *p, size_t n)
{
    if (strcmp(path, "-") == 0) {
        if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0) {
            fprintf(stderr, "kms-client: cannot write standard output: %s\n", strerror(errno));
            return -1;
        }
        return 0;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "kms-client: cannot write %s: %s\n", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "kms-client: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static arca_client *g_client;
static bool g_json; /* --json */

/* ---- JSON output ---- */

/* A JSON string. Bytes outside printable ASCII are escaped as \u00XX, so
 * the output is valid JSON (and ASCII) whatever the enclave sent. */
static void json_strn(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch == '\n') fputs("\\n", stdout);
        else if (ch < 0x20 || ch >= 0x7f) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void json_str(const char *s)
{
    if (s == NULL) fputs("null", stdout);
    else json_strn(s, strlen(s));
}

static void json_hex(const uint8_t *p, size_t n)
{
    putchar('"');
    hex_print(stdout, p, n);
    putchar('"');
}

/* "key": — with a comma before every key but the first of an object. */
static void json_key(bool *first, const char *k)
{
    if (!*first) putchar(',');
    *first = false;
    json_str(k);
    putchar(':');
}

static void report_error(const char *name, const char *msg)
{
    fprintf(stderr, "kms-client: error: %s: %s\n", name, msg);
    if (g_json) {
        bool first = true;
        putchar('{');
        json_key(&first, "error");
        json_str(name);
        json_key(&first, "message");
        json_str(msg);
        puts("}");
    }
}

static int fail(arca_status st)
{
    const char *msg = g_client ? arca_client_last_message(g_client) : "";
    report_error(arca_status_name(st), msg && msg[0] ? msg : arca_status_message(st));
    /* The connection broke (the library reconnects only for idempotent
     * calls, within the time-out): the same exit as not connecting. */
    if (st == ARCA_ERR_IO || st == ARCA_ERR_CHANNEL || st == ARCA_ERR_TIMEOUT) return EXIT_CONNECT;
    return EXIT_FAIL;
}

#define CHECK(expr)                                                                                            \
    do {                                                                                                       \
        arca_status st_ = (expr);                                                                              \
        if (st_ != ARCA_OK) return fail(st_);                                                                  \
    } while (0)

/* The user PIN: $ARCA_PIN or the first line of --pin-file. Static storage,
 * wiped at exit. */
static char g_pin[ARCA_LP_PIN_MAX + 2];

static void wipe_pin(void)
{
    arca_wipe(g_pin, sizeof(g_pin));
}

static const char *user_pin(const opts *o)
{
    if (o->pin_file) {
        FILE *f = fopen(o->pin_file, "r");
        if (f == NULL) {
            fprintf(stderr, "kms-client: cannot read %s: %s\n", o->pin_file, strerror(errno));
            return NULL;
        }
        char *r = fgets(g_pin, sizeof(g_pin), f);
        fclose(f);
        if (r == NULL) return NULL;
        g_pin[strcspn(g_pin, "\r\n")] = 0;
        return g_pin;
    }
    return getenv("ARCA_PIN");
}

/* Log in to the partition as its user; usage error if there is no
 * partition or PIN. Returns an exit code, 0 on success. */
static int login_user(const opts *o)
{
    if (o->partition == NULL) return usage("this command needs -p PARTITION");
    const char *pin = user_pin(o);
    if (pin == NULL) return usage("this command needs the user PIN: set ARCA_PIN or use --pin-file FILE");
    CHECK(arca_client_login(g_client, o->partition, ARCA_CLIENT_ROLE_USER, pin));
    return 0;
}

static int login_admin(void)
{
    const char *pin = getenv("ARCA_ADMIN_PIN");
    if (pin == NULL) return usage("this command needs the admin PIN in ARCA_ADMIN_PIN");
    CHECK(arca_client_login(g_client, NULL, ARCA_CLIENT_ROLE_ADMIN, pin));
    return 0;
}

/* ---- templates ---- */

typedef struct tmpl {
    arca_lp_attr a[ARCA_LP_MAX_ATTRS];
    size_t n;
    uint8_t store[ARCA_LP_MAX_ATTRS][4];
} tmpl;

static void t_bytes(tmpl *t, uint32_t type, const void *v, size_t len)
{
    t->a[t->n].type = type;
    t->a[t->n].value = v;
    t->a[t->n].len = len;
    t->n++;
}

static void t_bool(tmpl *t, uint32_t type, int v)
{
    t->store[t->n][0] = v ? 1 : 0;
    t_bytes(t, type, t->store[t->n], 1);
}

static void t_u32(tmpl *t, uint32_t type, uint32_t v)
{
    uint8_t *s = t->store[t->n];
    s[0] = (uint8_t)(v >> 24);
    s[1] = (uint8_t)(v >> 16);
    s[2] = (uint8_t)(v >> 8);
    s[3] = (uint8_t)v;
    t_bytes(t, type, s, 4);
}

static uint32_t be32(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n && i < 4; i++) v = (v << 8) | p[i];
    return v;
}

typedef struct keytype {
    const char *name;
    uint32_t ckk;
} keytype;

static const keytype keytypes[] = {
    {"aes", CKK_AES}, {"generic", CKK_GENERIC_SECRET}, {"rsa", CKK_RSA}, {"ec", CKK_EC}, {"ed25519", CKK_EC_EDWARDS},
};

static const char *keytype_name(uint32_t ckk)
{
    for (size_t i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
        if (keytypes[i].ckk == ckk) return keytypes[i].name;
    return "unknown";
}

static int keytype_from(const char *s, uint32_t *out)
{
    for (size_t i = 0; s && i < sizeof(keytypes) / sizeof(keytypes[0]); i++) {
        if (strcmp(keytypes[i].name, s) == 0) {
            *out = keytypes[i].ckk;
            return 0;
        }
    }
    return -1;
}

static const char *class_name(uint32_t cko)
{
    switch (cko) {
    case CKO_SECRET_KEY:
        return "secret";
    case CKO_PRIVATE_KEY:
        return "private";
    case CKO_PUBLIC_KEY:
        return "public";
    default:
        return "other";
    }
}

/* DER OIDs of the supported curves (CKA_EC_PARAMS). */
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const struct curve {
    const char *name;
    const uint8_t *oid;
    size_t len;
    unsigned bits;
} curves[] = {
    {"P-256", oid_p256, sizeof(oid_p256), 256},
    {"P-384", oid_p384, sizeof(oid_p384), 384},
    {"P-521", oid_p521, sizeof(oid_p521), 521},
};

/* Usage flags from the command line on top of the keystore's defaults. */
static void usage_flags(tmpl *t, uint32_t cko, uint32_t ckk, const opts *o)
{
    bool secret = cko == CKO_SECRET_KEY, priv = cko == CKO_PRIVATE_KEY, pub = cko == CKO_PUBLIC_KEY;
    if (o->no_sign) {
        if (secret || priv) t_bool(t, CKA_SIGN, 0);
        if (secret || pub) t_bool(t, CKA_VERIFY, 0);
    }
    if (o->no_encrypt && (secret || ckk == CKK_RSA)) {
        if (secret || pub) t_bool(t, CKA_ENCRYPT, 0);
        if (secret || priv) t_bool(t, CKA_DECRYPT, 0);
    }
    if (o->no_wrap && (secret || ckk == CKK_RSA)) {
        if (secret || pub) t_bool(t, CKA_WRAP, 0);
        if (secret || priv) t_bool(t, CKA_UNWRAP, 0);
    }
    /* Generic secrets are HMAC and HKDF keys: derive by default. */
    if (secret && ((ckk == CKK_GENERIC_SECRET && !o->no_derive) || o->derive)) t_bool(t, CKA_DERIVE, 1);
    if (secret && o->no_derive) t_bool(t, CKA_DERIVE, 0);
}

static void protection_flags(tmpl *t, const opts *o)
{
    t_bool(t, CKA_EXTRACTABLE, o->extractable);
    t_bool(t, CKA_SENSITIVE, !o->not_sensitive);
    if (o->pre_active) t_u32(t, ARCA_CKA_STATE, 1); /* Pre-Active: usable after key activate */
}

static void print_object(const arca_client_id *id, const char *cls, const char *label)
{
    hex_print(stdout, id->b, sizeof(id->b));
    printf(" %s %s\n", cls, label ? label : "");
}

/* ---- commands ---- */

/* A certificate file (PEM or DER) as DER, malloc'd. */
static int load_cert_der(const char *path, uint8_t **out, size_t *out_len)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (read_file(path, FILE_MAX, &raw, &raw_len) != 0) return -1;
    /* PEM first, then DER (exactly one certificate, nothing after it). */
    BIO *bio = BIO_new_mem_buf(raw, (int)raw_len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (x == NULL) {
        const unsigned char *p = raw;
        x = d2i_X509(NULL, &p, (long)raw_len);
        if (x && p != raw + raw_len) {
            X509_free(x);
            x = NULL;
        }
    }
    free(raw);
    unsigned char *der = NULL;
    int der_len = x ? i2d_X509(x, &der) : -1;
    X509_free(x);
    if (der_len <= 0) {
        fprintf(stderr, "kms-client: %s: not an X.509 certificate (PEM or DER)\n", path);
        return -1;
    }
    *out = malloc((size_t)der_len);
    if (*out) memcpy(*out, der, (size_t)der_len);
    OPENSSL_free(der);
    if (*out == NULL) return -1;
    *out_len = (size_t)der_len;
    return 0;
}

/* The subject CN of the configuration's client certificate, or "?" . */
static void cert_cn(const char *path, char *out, size_t out_len)
{
    snprintf(out, out_len, "?");
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)out_len) <= 0)
        snprintf(out, out_len, "?");
    X509_free(x);
}

static arca_client_config g_cfg;

static int cmd_init(const opts *o)
{
    if (o->num_pos != 1) return usage(NULL);
    if (o->client_ca == NULL) return usage("init needs --client-ca CA.pem (the CA that issues client certificates)");
    const char *pin = getenv("ARCA_ADMIN_PIN");
    if (pin == NULL) return usage("init needs the admin PIN in ARCA_ADMIN_PIN");
    uint8_t *ca = NULL;
    size_t ca_len = 0;
    if (load_cert_der(o->client_ca, &ca, &ca_len) != 0) return EXIT_FAIL;
    arca_status st = arca_client_initialise_domain(g_client, pin, ca, ca_len);
    free(ca);
    CHECK(st);
    char cn[ARCA_CLIENT_IDENTITY_NAME_MAX + 1];
    cert_cn(g_cfg.cert, cn, sizeof(cn));
    printf("appliance initialised; client CA installed; first admin identity: %s\n", cn);
    return 0;
}

static int cmd_partition(const opts *o)
{
    if (o->num_pos == 3 && strcmp(o->pos[1], "create") == 0) {
        const char *so = getenv("ARCA_SO_PIN"), *user = user_pin(o);
        if (so == NULL || user == NULL)
            return usage("partition create needs ARCA_ADMIN_PIN, ARCA_SO_PIN and ARCA_PIN (or --pin-file)");
        int rc = login_admin();
        if (rc) return rc;
        CHECK(arca_client_partition_create(g_client, o->pos[2], so, user));
        printf("partition %s created\n", o->pos[2]);
        return 0;
    }
    if (o->num_pos == 3 && strcmp(o->pos[1], "reset") == 0) {
        const char *so = getenv("ARCA_SO_PIN");
        uint64_t destroyed = 0;
        if (so == NULL) return usage("partition reset needs the partition's SO PIN in ARCA_SO_PIN");
        CHECK(arca_client_init_token(g_client, o->pos[2], so, &destroyed));
        printf("partition %s reset: %llu token objects destroyed; user PIN cleared\n", o->pos[2],
               (unsigned long long)destroyed);
        return 0;
    }
    if (o->num_pos == 2 && strcmp(o->pos[1], "list") == 0) {
        char **names = NULL;
        size_t num = 0;
        CHECK(arca_client_partition_list(g_client, &names, &num));
        if (g_json) fputs("{\"partitions\":[", stdout);
        for (size_t i = 0; i < num; i++) {
            if (g_json) {
                if (i) putchar(',');
                json_str(names[i]);
            } else {
                printf("%s\n", names[i]);
            }
        }
        if (g_json) puts("]}");
        arca_client_strings_free(names, num);
        return 0;
    }
    return usage(NULL);
}

/* pin change: log in as the partition's user (or SO with --so) with the
 * old PIN, then change it (SET_PIN). */
static int cmd_pin(const opts *o)
{
    if (o->num_pos != 2 || strcmp(o->pos[1], "change") != 0) return usage(NULL);
    if (o->partition == NULL) return usage("pin change needs -p PARTITION");
    const char *old = o->so ? getenv("ARCA_SO_PIN") : user_pin(o);
    const char *new_pin = getenv("ARCA_NEW_PIN");
    if (old == NULL)
        return usage(o->so ? "pin change --so needs the SO PIN in ARCA_SO_PIN"
                           : "pin change needs the user PIN: set ARCA_PIN or use --pin-file FILE");
    if (new_pin == NULL) return usage("pin change needs the new PIN in ARCA_NEW_PIN");
    CHECK(arca_client_login(g_client, o->partition, o->so ? ARCA_CLIENT_ROLE_SO : ARCA_CLIENT_ROLE_USER, old));
    CHECK(arca_client_set_pin(g_client, old, new_pin));
    printf("%s PIN of partition %s changed\n", o->so ? "SO" : "user", o->partition);
    return 0;
}

/* ---- client identities ---- */

static const struct rolename {
    const char *name;
    uint32_t bit;
} rolenames[] = {
    {"admin", ARCA_CLIENT_IDENTITY_ROLE_ADMIN},
    {"officer", ARCA_CLIENT_IDENTITY_ROLE_OFFICER},
    {"auditor", ARCA_CLIENT_IDENTITY_ROLE_AUDITOR},
    {"user", ARCA_CLIENT_IDENTITY_ROLE_USER},
};

/* "admin,user" -> mask; -1 on an unknown or empty name. */
static int parse_roles(const char *s, uint32_t *out)
{
    uint32_t mask = 0;
    const char *p = s;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < sizeof(rolenames) / sizeof(rolenames[0]); i++) {
            if (strlen(rolenames[i].name) == n && strncmp(rolenames[i].name, p, n) == 0) {
                mask |= rolenames[i].bit;
                found = true;
            }
        }
        if (!found) return -1;
        p += n;
        if (*p == ',') {
            p++;
            if (*p == 0) return -1;
        }
    }
    if (mask == 0) return -1;
    *out = mask;
    return 0;
}

static void roles_text(uint32_t roles, char *out, size_t out_len)
{
    out[0] = 0;
    for (size_t i = 0; i < sizeof(rolenames) / sizeof(rolenames[0]); i++) {
        if ((roles & rolenames[i].bit) == 0) continue;
        size_t used = strlen(out);
        snprintf(out + used, out_len - used, "%s%s", used ? "," : "", rolenames[i].name);
    }
    if (out[0] == 0) snprintf(out, out_len, "-");
}

static int cmd_client(const opts *o)
{
    if (o->num_pos < 2) return usage(NULL);
    const char *sub = o->pos[1];
    int rc;
    if (strcmp(sub, "add") == 0 && o->num_pos == 3) {
        uint32_t roles;
        if (o->roles == NULL || parse_roles(o->roles, &roles) != 0)
            return usage("client add needs --roles with a comma-separated list of admin, officer, auditor, user");
        if (o->partitions == NULL || o->partitions[0] == 0)
            return usage("client add needs --partitions p1,p2 or --partitions '*'");
        if ((rc = login_admin())) return rc;
        CHECK(arca_client_identity_put(g_client, o->pos[2], roles, o->partitions));
        char rt[64];
        roles_text(roles, rt, sizeof(rt));
        printf("identity %s: roles %s, partitions %s\n", o->pos[2], rt, o->partitions);
        return 0;
    }
    if (strcmp(sub, "remove") == 0 && o->num_pos == 3) {
        if ((rc = login_admin())) return rc;
        CHECK(arca_client_identity_remove(g_client, o->pos[2]));
        printf("identity %s removed\n", o->pos[2]);
        return 0;
    }
    if (strcmp(sub, "list") == 0 && o->num_pos == 2) {
        if ((rc = login_admin())) return rc;
        arca_client_identity *ids = NULL;
        size_t num = 0;
        CHECK(arca_client_identity_list(g_client, &ids, &num));
        if (g_json) fputs("{\"identities\":[", stdout);
        for (size_t i = 0; i < num; i++) {
            char rt[64];
            roles_text(ids[i].roles, rt, sizeof(rt));
            if (!g_json) {
                printf("%s %s %s\n", ids[i].name, rt, ids[i].partitions);
                continue;
            }
            bool first = true;
            printf("%s{", i ? "," : "");
            json_key(&first, "name");
            json_str(ids[i].name);
            json_key(&first, "roles");
            putchar('[');
            bool rfirst = true;
            for (size_t k = 0; k < sizeof(rolenames) / sizeof(rolenames[0]); k++) {
                if ((ids[i].roles & rolenames[k].bit) == 0) continue;
                if (!rfirst) putchar(',');
                rfirst = false;
                json_str(rolenames[k].name);
            }
            putchar(']');
            json_key(&first, "partitions");
            json_str(ids[i].partitions);
            putchar('}');
        }
        if (g_json) puts("]}");
        free(ids);
        return 0;
    }
    return usage(NULL);
}

static int cmd_key_generate(const opts *o)
{
    uint32_t ckk;
    if (keytype_from(o->type, &ckk) != 0) return usage("key generate needs --type aes|generic|rsa|ec|ed25519");
    if (o->label == NULL) return usage("key generate needs --label");
    uint8_t *idv = NULL;
    size_t idv_len = 0;
    if (o->id && hex_decode(o->id, &idv, &idv_len) != 0) return usage("--id takes hex");
    long bits = 0;
    if (o->bits) {
        char *end;
        bits = strtol(o->bits, &end, 10);
        if (*end != 0 || bits <= 0 || bits > 65536) {
            free(idv);
            return usage("--bits takes a positive number");
        }
    }
    int rc = login_user(o);
    if (rc) {
        free(idv);
        return rc;
    }

    static tmpl pub, priv;
    memset(&pub, 0, sizeof(pub));
    memset(&priv, 0, sizeof(priv));
    size_t label_len = strlen(o->label);
    arca_status st;
    arca_client_id id1, id2;

    if (ckk == CKK_AES || ckk == CKK_GENERIC_SECRET) {
        if (bits == 0) bits = 256;
        if (bits % 8 != 0) {
            free(idv);
            return usage("--bits must be a multiple of 8");
        }
        tmpl *t = &priv;
        t_u32(t, CKA_CLASS, CKO_SECRET_KEY);
        t_u32(t, CKA_KEY_TYPE, ckk);
        t_u32(t, CKA_VALUE_LEN, (uint32_t)(bits / 8));
        t_bytes(t, CKA_LABEL, o->label, label_len);
        if (idv) t_bytes(t, CKA_ID, idv, idv_len);
        t_bool(t, CKA_TOKEN, !o->session);
        protection_flags(t, o);
        usage_flags(t, CKO_SECRET_KEY, ckk, o);
        st = arca_client_generate_key(g_client, ckk == CKK_AES ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN,
                                      t->a, t->n, &id1);
        free(idv);
        CHECK(st);
        print_object(&id1, "secret", o->label);
        return 0;
    }

    uint32_t mech;
    t_u32(&pub, CKA_CLASS, CKO_PUBLIC_KEY);
    t_u32(&priv, CKA_CLASS, CKO_PRIVATE_KEY);
    t_u32(&pub, CKA_KEY_TYPE, ckk);
    t_u32(&priv, CKA_KEY_TYPE, ckk);
    if (ckk == CKK_RSA) {
        mech = CKM_RSA_PKCS_KEY_PAIR_GEN;
        t_u32(&pub, CKA_MODULUS_BITS, (uint32_t)(bits ? bits : 2048));
    } else if (ckk == CKK_EC) {
        mech = CKM_EC_KEY_PAIR_GEN;
        const struct curve *cv = NULL;
        const char *want = o->curve ? o->curve : "P-256";
        for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
            if (strcmp(curves[i].name, want) == 0) cv = &curves[i];
        if (cv == NULL) {
            free(idv);
            return usage("--curve takes P-256, P-384 or P-521");
        }
        t_bytes(&pub, CKA_EC_PARAMS, cv->oid, cv->len);
    } else {
        mech = CKM_EC_EDWARDS_KEY_PAIR_GEN;
    }
    t_bytes(&pub, CKA_LABEL, o->label, label_len);
    t_bytes(&priv, CKA_LABEL, o->label, label_len);
    if (idv) {
        t_bytes(&pub, CKA_ID, idv, idv_len);
        t_bytes(&priv, CKA_ID, idv, idv_len);
    }
    t_bool(&pub, CKA_TOKEN, !o->session);
    t_bool(&priv, CKA_TOKEN, !o->session);
    protection_flags(&priv, o);
    usage_flags(&pub, CKO_PUBLIC_KEY, ckk, o);
    usage_flags(&priv, CKO_PRIVATE_KEY, ckk, o);
    st = arca_client_generate_key_pair(g_client, mech, pub.a, pub.n, priv.a, priv.n, &id1, &id2);
    free(idv);
    CHECK(st);
    print_object(&id1, "public", o->label);
    print_object(&id2, "private", o->label);
    return 0;
}

/* PEM or DER private key file -> PKCS#8 DER and its key type. */
static int load_pkcs8(const char *path, uint8_t **out, size_t *out_len, uint32_t *out_ckk)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (read_file(path, FILE_MAX, &raw, &raw_len) != 0) return -1;
    EVP_PKEY *pk = NULL;
    BIO *bio = BIO_new_mem_buf(raw, (int)raw_len);
    if (bio && raw_len > 10 && memcmp(raw, "-----BEGIN", 10) == 0) {
        pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    } else {
        const unsigned char *p = raw;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)raw_len);
    }
    BIO_free(bio);
    arca_client_free_secret(raw, raw_len);
    if (pk == NULL) {
        fprintf(stderr, "kms-client: %s: not a private key (PKCS#8 DER or PEM)\n", path);
        return -1;
    }
    int ok = 0;
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_RSA:
        *out_ckk = CKK_RSA;
        ok = 1;
        break;
    case EVP_PKEY_EC:
        *out_ckk = CKK_EC;
        ok = 1;
        break;
    case EVP_PKEY_ED25519:
        *out_ckk = CKK_EC_EDWARDS;
        ok = 1;
        break;
    default:
        fprintf(stderr, "kms-client: %s: unsupported key type\n", path);
        break;
    }
    PKCS8_PRIV_KEY_INFO *p8 = ok ? EVP_PKEY2PKCS8(pk) : NULL;
    unsigned char *der = NULL;
    int der_len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pk);
    if (der_len <= 0) return -1;
    *out = malloc((size_t)der_len);
    if (*out) memcpy(*out, der, (size_t)der_len);
    OPENSSL_clear_free(der, (size_t)der_len);
    if (*out == NULL) return -1;
    *out_len = (size_t)der_len;
    return 0;
}

static int cmd_key_import(const opts *o)
{
    if (o->label == NULL || o->type == NULL) return usage("key import needs --type and --label");
    static tmpl t;
    memset(&t, 0, sizeof(t));
    uint8_t *value = NULL;
    size_t value_len = 0;
    uint32_t ckk;
    const char *cls;
    if (strcmp(o->type, "private") == 0) {
        if (o->pkcs8_file == NULL) return usage("key import --type private needs --pkcs8-file");
        if (load_pkcs8(o->pkcs8_file, &value, &value_len, &ckk) != 0) return EXIT_FAIL;
        t_u32(&t, CKA_CLASS, CKO_PRIVATE_KEY);
        cls = "private";
    } else {
        if (keytype_from(o->type, &ckk) != 0 || (ckk != CKK_AES && ckk != CKK_GENERIC_SECRET))
            return usage("key import --type takes aes, generic or private");
        if (o->value_hex) {
            if (hex_decode(o->value_hex, &value, &value_len) != 0) return usage("--value-hex takes hex");
        } else if (o->value_file) {
            if (read_file(o->value_file, ARCA_LP_ATTR_VALUE_MAX, &value, &value_len) != 0) return EXIT_FAIL;
        } else {
            return usage("key import needs --value-hex or --value-file");
        }
        t_u32(&t, CKA_CLASS, CKO_SECRET_KEY);
        cls = "secret";
    }
    t_u32(&t, CKA_KEY_TYPE, ckk);
    t_bytes(&t, CKA_VALUE, value, value_len);
    t_bytes(&t, CKA_LABEL, o->label, strlen(o->label));
    protection_flags(&t, o);
    usage_flags(&t, strcmp(cls, "private") == 0 ? CKO_PRIVATE_KEY : CKO_SECRET_KEY, ckk, o);
    int rc = login_user(o);
    arca_status st = ARCA_OK;
    arca_client_id id;
    if (rc == 0) st = arca_client_create_object(g_client, t.a, t.n, &id);
    arca_client_free_secret(value, value_len);
    if (rc) return rc;
    CHECK(st);
    print_object(&id, cls, o->label);
    return 0;
}

/* An attribute as bytes; NULL when the object has none (or may not say). */
static uint8_t *attr(const arca_client_id *id, uint32_t type, size_t *len)
{
    uint8_t *v = NULL;
    if (arca_client_get_attribute(g_client, id, type, &v, len) != ARCA_OK) return NULL;
    return v;
}

static int attr_u32(const arca_client_id *id, uint32_t type, uint32_t *out)
{
    size_t n = 0;
    uint8_t *v = attr(id, type, &n);
    if (v == NULL) return -1;
    *out = be32(v, n);
    free(v);
    return 0;
}

static char *attr_str(const arca_client_id *id, uint32_t type)
{
    size_t n = 0;
    uint8_t *v = attr(id, type, &n);
    char *s = malloc(n + 1);
    if (s == NULL) {
        free(v);
        return NULL;
    }
    if (v && n) memcpy(s, v, n);
    s[v ? n : 0] = 0;
    free(v);
    return s;
}

static unsigned key_bits(const arca_client_id *id, uint32_t ckk)
{
    uint32_t v = 0;
    switch (ckk) {
    case CKK_AES:
    case CKK_GENERIC_SECRET:
        return attr_u32(id, CKA_VALUE_LEN, &v) == 0 ? v * 8 : 0;
    case CKK_RSA:
        return attr_u32(id, CKA_MODULUS_BITS, &v) == 0 ? v : 0;
    case CKK_EC: {
        size_t n = 0;
        uint8_t *p = attr(id, CKA_EC_PARAMS, &n);
        unsigned bits = 0;
        for (size_t i = 0; p && i < sizeof(curves) / sizeof(curves[0]); i++)
            if (n == curves[i].len && memcmp(p, curves[i].oid, n) == 0) bits = curves[i].bits;
        free(p);
        return bits;
    }
    case CKK_EC_EDWARDS:
        return 256;
    default:
        return 0;
    }
}

static int cmd_key_list(const opts *o)
{
    int rc = login_user(o);
    if (rc) return rc;
    static tmpl t;
    memset(&t, 0, sizeof(t));
    if (o->label) t_bytes(&t, CKA_LABEL, o->label, strlen(o->label));
    if (o->cls) {
        uint32_t cko;
        if (strcmp(o->cls, "secret") == 0) cko = CKO_SECRET_KEY;
        else if (strcmp(o->cls, "private") == 0) cko = CKO_PRIVATE_KEY;
        else if (strcmp(o->cls, "public") == 0) cko = CKO_PUBLIC_KEY;
        else return usage("--class takes secret, private or public");
        t_u32(&t, CKA_CLASS, cko);
    }
    arca_client_id *ids = calloc(ARCA_LP_FIND_MAX, sizeof(*ids));
    size_t num = 0;
    if (ids == NULL) return fail(ARCA_ERR_NOMEM);
    arca_status st = arca_client_find(g_client, t.a, t.n, ids, ARCA_LP_FIND_MAX, &num);
    if (st != ARCA_OK) {
        free(ids);
        return fail(st);
    }
    bool shown_any = false;
    if (g_json) fputs("{\"objects\":[", stdout);
    for (size_t i = 0; i < num; i++) {
        uint32_t cko = 0, ckk = 0, version = 1;
        if (attr_u32(&ids[i], CKA_CLASS, &cko) != 0) continue; /* destroyed meanwhile */
        (void)attr_u32(&ids[i], CKA_KEY_TYPE, &ckk);
        (void)attr_u32(&ids[i], ARCA_CKA_KEY_VERSION, &version);
        uint32_t primary = 0;
        (void)attr_u32(&ids[i], ARCA_CKA_PRIMARY, &primary);
        char *label = attr_str(&ids[i], CKA_LABEL);
        if (g_json) {
            bool first = true;
            printf("%s{", shown_any ? "," : "");
            json_key(&first, "id");
            json_hex(ids[i].b, sizeof(ids[i].b));
            json_key(&first, "class");
            json_str(class_name(cko));
            json_key(&first, "key_type");
            json_str(keytype_name(ckk));
            json_key(&first, "bits");
            printf("%u", key_bits(&ids[i], ckk));
            json_key(&first, "version");
            printf("%u", version);
            json_key(&first, "primary");
            fputs(primary ? "true" : "false", stdout);
            json_key(&first, "label");
            json_str(label ? label : "");
            putchar('}');
        } else {
            hex_print(stdout, ids[i].b, sizeof(ids[i].b));
            printf(" %s %s %u v%u%s %s\n", class_name(cko), keytype_name(ckk), key_bits(&ids[i], ckk), version,
                   primary ? " primary" : "", label ? label : "");
        }
        shown_any = true;
        free(label);
    }
    if (g_json) puts("]}");
    free(ids);
    return 0;
}

static const struct shown {
    const char *name;
    uint32_t type;
    char kind; /* b bool, u u32, s string, x hex, c class, k key type */
} shown[] = {
    {"class", CKA_CLASS, 'c'},
    {"key_type", CKA_KEY_TYPE, 'k'},
    {"label", CKA_LABEL, 's'},
    {"id", CKA_ID, 'x'},
    {"object_id", ARCA_CKA_OBJECT_ID, 'x'},
    {"version", ARCA_CKA_KEY_VERSION, 'u'},
    {"primary", ARCA_CKA_PRIMARY, 'b'},
    {"token", CKA_TOKEN, 'b'},
    {"private", CKA_PRIVATE, 'b'},
    {"modifiable", CKA_MODIFIABLE, 'b'},
    {"sensitive", CKA_SENSITIVE, 'b'},
    {"extractable", CKA_EXTRACTABLE, 'b'},
    {"always_sensitive", CKA_ALWAYS_SENSITIVE, 'b'},
    {"never_extractable", CKA_NEVER_EXTRACTABLE, 'b'},
    {"local", CKA_LOCAL, 'b'},
    {"encrypt", CKA_ENCRYPT, 'b'},
    {"decrypt", CKA_DECRYPT, 'b'},
    {"sign", CKA_SIGN, 'b'},
    {"verify", CKA_VERIFY, 'b'},
    {"wrap", CKA_WRAP, 'b'},
    {"unwrap", CKA_UNWRAP, 'b'},
    {"derive", CKA_DERIVE, 'b'},
    {"value_len", CKA_VALUE_LEN, 'u'},
    {"modulus_bits", CKA_MODULUS_BITS, 'u'},
    {"public_exponent", CKA_PUBLIC_EXPONENT, 'x'},
    {"ec_params", CKA_EC_PARAMS, 'x'},
    {"ec_point", CKA_EC_POINT, 'x'},
    {"check_value", CKA_CHECK_VALUE, 'x'},
    {"state", ARCA_CKA_STATE, 't'},
    {"allowed_identities", ARCA_CKA_ALLOWED_IDENTITIES, 'a'},
};

static const char *state_name(uint32_t st)
{
    static const char *const names[] = {"?", "pre-active", "active", "deactivated", "compromised", "destroyed",
                                        "destroyed-compromised"};
    return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

static int cmd_key_show(const opts *o, const arca_client_id *id)
{
    int rc = login_user(o);
    if (rc) return rc;
    uint32_t cko;
    if (attr_u32(id, CKA_CLASS, &cko) != 0) {
        size_t n;
        uint8_t *v = NULL;
        CHECK(arca_client_get_attribute(g_client, id, CKA_CLASS, &v, &n));
        free(v);
    }
    bool first = true;
    if (g_json) putchar('{');
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        size_t n = 0;
        uint8_t *v = attr(id, shown[i].type, &n);
        if (v == NULL && shown[i].kind != 'a') continue;
        if (g_json) json_key(&first, shown[i].name);
        else printf("%s: ", shown[i].name);
        switch (shown[i].kind) {
        case 'b':
            printf("%s", n == 1 && v[0] ? "true" : "false");
            break;
        case 'u':
            printf("%u", be32(v, n));
            break;
        case 'c':
            if (g_json) json_str(class_name(be32(v, n)));
            else printf("%s", class_name(be32(v, n)));
            break;
        case 'k':
            if (g_json) json_str(keytype_name(be32(v, n)));
            else printf("%s", keytype_name(be32(v, n)));
            break;
        case 's':
            if (g_json) json_strn((const char *)v, n);
            else
                for (size_t k = 0; k < n; k++) putchar(v[k] >= 0x20 && v[k] < 0x7f ? v[k] : '?');
            break;
        case 't':
            if (g_json) json_str(state_name(be32(v, n)));
            else printf("%s", state_name(be32(v, n)));
            break;
        case 'a':
            /* Absent or empty: every identity of the partition. JSON: the
             * list as stored, "" for every identity. */
            if (g_json) json_strn(v ? (const char *)v : "", v ? n : 0);
            else if (v == NULL || n == 0) printf("(every identity of the partition)");
            else
                for (size_t k = 0; k < n; k++) putchar(v[k] >= 0x20 && v[k] < 0x7f ? v[k] : '?');
            break;
        default:
            if (g_json) json_hex(v, n);
            else hex_print(stdout, v, n);
            break;
        }
        if (!g_json) putchar('\n');
        free(v);
    }
    if (g_json) puts("}");
    return 0;
}

static int cmd_key_export(const opts *o, const arca_client_id *id);

static const struct reasonname {
    const char *name;
    uint32_t code;
} reasons[] = {
    {"unspecified", ARCA_CLIENT_REVOKE_UNSPECIFIED},
    {"compromise", ARCA_CLIENT_REVOKE_KEY_COMPROMISE},
    {"superseded", ARCA_CLIENT_REVOKE_SUPERSEDED},
    {"cessation", ARCA_CLIENT_REVOKE_CESSATION},
};

static int cmd_key_revoke(const opts *o, const arca_client_id *id)
{
    uint32_t reason = ARCA_CLIENT_REVOKE_UNSPECIFIED;
    if (o->reason) {
        bool found = false;
        for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
            if (strcmp(reasons[i].name, o->reason) == 0) {
                reason = reasons[i].code;
                found = true;
            }
        }
        if (!found) return usage("--reason takes compromise, superseded, cessation or unspecified");
    }
    if (o->message && strlen(o->message) > ARCA_LP_REVOKE_MESSAGE_MAX)
        return usage("--message takes at most 256 bytes");
    int rc = login_user(o);
    if (rc) return rc;
    CHECK(arca_client_revoke(g_client, id, reason, o->message));
    printf("revoked %s (%s)\n", o->pos[2], o->reason ? o->reason : "unspecified");
    return 0;
}

/* The allowed identities: names of 1..64 printable ASCII characters
 * without commas or blanks, comma-separated; "" clears the list. */
static int cmd_key_permit(const opts *o, const arca_client_id *id)
{
    if (o->identities == NULL) return usage("key permit needs --identities NAME,NAME... (\"\" for everyone)");
    const char *s = o->identities;
    size_t n = strlen(s);
    if (n > 1024) return usage("--identities takes at most 1024 bytes");
    size_t item = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ',') {
            if (n > 0 && (item == 0 || item > ARCA_CLIENT_IDENTITY_NAME_MAX))
                return usage("--identities: each name is 1 to 64 characters");
            item = 0;
            continue;
        }
        if (s[i] <= 0x20 || s[i] >= 0x7f) return usage("--identities: names are printable ASCII without blanks");
        item++;
    }
    int rc = login_user(o);
    if (rc) return rc;
    arca_lp_attr a = {ARCA_CKA_ALLOWED_IDENTITIES, (const uint8_t *)s, n};
    CHECK(arca_client_set_attributes(g_client, id, &a, 1));
    if (n) printf("%s: allowed identities %s\n", o->pos[2], s);
    else printf("%s: every identity of the partition allowed\n", o->pos[2]);
    return 0;
}

static int cmd_key(const opts *o)
{
    if (o->num_pos < 2) return usage(NULL);
    const char *sub = o->pos[1];
    if ((strcmp(sub, "generate") == 0 || strcmp(sub, "create") == 0) && o->num_pos == 2) return cmd_key_generate(o);
    if (strcmp(sub, "import") == 0 && o->num_pos == 2) return cmd_key_import(o);
    if (strcmp(sub, "list") == 0 && o->num_pos == 2) return cmd_key_list(o);
    if (o->num_pos != 3) return usage(NULL);
    arca_client_id id;
    if (parse_id(o->pos[2], &id) != 0) return usage("an object id is 32 hex digits");
    int rc;
    if (strcmp(sub, "show") == 0) return cmd_key_show(o, &id);
    if (strcmp(sub, "value") == 0) {
        if ((rc = login_user(o))) return rc;
        uint8_t *v = NULL;
        size_t n = 0;
        CHECK(arca_client_get_attribute(g_client, &id, CKA_VALUE, &v, &n));
        hex_print(stdout, v, n);
        putchar('\n');
        arca_client_free_secret(v, n);
        return 0;
    }
    if (strcmp(sub, "public") == 0) {
        if (o->out == NULL) return usage("key public needs --out FILE");
        if ((rc = login_user(o))) return rc;
        uint8_t *v = NULL;
        size_t n = 0;
        CHECK(arca_client_get_attribute(g_client, &id, CKA_PUBLIC_KEY_INFO, &v, &n));
        rc = write_file(o->out, v, n) == 0 ? 0 : EXIT_FAIL;
        free(v);
        return rc;
    }
    if (strcmp(sub, "destroy") == 0) {
        if ((rc = login_user(o))) return rc;
        CHECK(arca_client_destroy(g_client, &id));
        printf("destroyed %s\n", o->pos[2]);
        return 0;
    }
    if (strcmp(sub, "activate") == 0) {
        if ((rc = login_user(o))) return rc;
        CHECK(arca_client_activate(g_client, &id));
        printf("activated %s\n", o->pos[2]);
        return 0;
    }
    if (strcmp(sub, "revoke") == 0) return cmd_key_revoke(o, &id);
    if (strcmp(sub, "export") == 0) return cmd_key_export(o, &id);
    if (strcmp(sub, "permit") == 0) return cmd_key_permit(o, &id);
    if (strcmp(sub, "rotate") == 0) {
        if ((rc = login_user(o))) return rc;
        arca_client_id nid;
        CHECK(arca_client_rotate(g_client, &id, &nid));
        uint32_t cko = 0;
        (void)attr_u32(&nid, CKA_CLASS, &cko);
        char *label = attr_str(&nid, CKA_LABEL);
        print_object(&nid, class_name(cko), label);
        free(label);
        return 0;
    }
    return usage(NULL);
}

/* ---- mechanisms ---- */

static const struct mechdef {
    const char *name;
    uint32_t type, hash, mgf, salt_len;
} mechdefs[] = {
    {"rsa-pkcs-sha256", CKM_SHA256_RSA_PKCS, 0, 0, 0},
    {"rsa-pkcs-sha384", CKM_SHA384_RSA_PKCS, 0, 0, 0},
    {"rsa-pkcs-sha512", CKM_SHA512_RSA_PKCS, 0, 0, 0},
    {"rsa-pss-sha256", CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32},
    {"rsa-pss-sha384", CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48},
    {"rsa-pss-sha512", CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 64},
    {"ecdsa-sha256", CKM_ECDSA_SHA256, 0, 0, 0},
    {"ecdsa-sha384", CKM_ECDSA_SHA384, 0, 0, 0},
    {"ecdsa-sha512", CKM_ECDSA_SHA512, 0, 0, 0},
    {"eddsa", CKM_EDDSA, 0, 0, 0},
    {"hmac-sha256", CKM_SHA256_HMAC, 0, 0, 0},
    {"hmac-sha384", CKM_SHA384_HMAC, 0, 0, 0},
    {"hmac-sha512", CKM_SHA512_HMAC, 0, 0, 0},
    {"aes-gcm", CKM_AES_GCM, 0, 0, 0},
    {"aes-cbc-pad", CKM_AES_CBC_PAD, 0, 0, 0},
    {"rsa-oaep-sha256", CKM_RSA_PKCS_OAEP, CKM_SHA256, CKG_MGF1_SHA256, 0},
    {"rsa-pkcs", CKM_RSA_PKCS, 0, 0, 0},
    {"aes-kw", CKM_AES_KEY_WRAP, 0, 0, 0},
    {"aes-kwp", CKM_AES_KEY_WRAP_KWP, 0, 0, 0},
    {"ecdh", CKM_ECDH1_DERIVE, 0, 0, 0},
    {"hkdf-sha256", CKM_HKDF_DERIVE, CKM_SHA256, 0, 0},
};

/* Mechanism by name, restricted to the names a command accepts. */
static int mech_from(const char *name, const char *const *allowed, arca_lp_mechanism *m)
{
    if (name == NULL) return -1;
    int ok = 0;
    for (size_t i = 0; allowed[i]; i++) ok |= strcmp(allowed[i], name) == 0;
    if (!ok) return -1;
    for (size_t i = 0; i < sizeof(mechdefs) / sizeof(mechdefs[0]); i++) {
        if (strcmp(mechdefs[i].name, name) == 0) {
            memset(m, 0, sizeof(*m));
            m->type = mechdefs[i].type;
            m->hash = mechdefs[i].hash;
            m->mgf = mechdefs[i].mgf;
            m->salt_len = mechdefs[i].salt_len;
            return 0;
        }
    }
    return -1;
}

static const char *const sign_mechs[] = {"rsa-pkcs-sha256", "rsa-pkcs-sha384", "rsa-pkcs-sha512", "rsa-pss-sha256",
                                         "rsa-pss-sha384",  "rsa-pss-sha512",  "ecdsa-sha256",    "ecdsa-sha384",
                                         "ecdsa-sha512",    "eddsa",           "hmac-sha256",     "hmac-sha384",
                                         "hmac-sha512",     NULL};
static const char *const crypt_mechs[] = {"aes-gcm", "aes-cbc-pad", "rsa-oaep-sha256", "rsa-pkcs", NULL};
static const char *const wrap_mechs[] = {"aes-kw", "aes-kwp", "rsa-oaep-sha256", NULL};
static const char *const derive_mechs[] = {"ecdh", "hkdf-sha256", NULL};

static int cmd_sign_verify(const opts *o, bool sign)
{
    arca_client_id id;
    arca_lp_mechanism m;
    if (o->num_pos != 2 || parse_id(o->pos[1], &id) != 0) return usage(NULL);
    if (mech_from(o->mech, sign_mechs, &m) != 0) return usage("unknown or missing --mech");
    if (o->in == NULL || (sign ? o->out == NULL : o->sig == NULL)) return usage("missing --in, --out or --sig");
    uint8_t *data = NULL, *sig = NULL, *out = NULL;
    size_t data_len = 0, sig_len = 0, out_len = 0;
    int rc = EXIT_FAIL;
    if (read_file(o->in, ARCA_LP_DATA_MAX, &data, &data_len) != 0) goto out;
    if (!sign && read_file(o->sig, ARCA_LP_DATA_MAX, &sig, &sig_len) != 0) goto out;
    if ((rc = login_user(o))) goto out;
    arca_status st;
    if (sign) {
        st = arca_client_sign(g_client, &id, &m, data, data_len, &out, &out_len);
        rc = st != ARCA_OK ? fail(st) : write_file(o->out, out, out_len) == 0 ? 0 : EXIT_FAIL;
    } else {
        st = arca_client_verify(g_client, &id, &m, data, data_len, sig, sig_len);
        if (st == ARCA_OK) {
            printf("signature valid\n");
            rc = 0;
        } else if (st == ARCA_ERR_SIGNATURE_INVALID) {
            printf("signature invalid\n");
            rc = EXIT_FAIL;
        } else {
            rc = fail(st);
        }
    }
out:
    arca_client_free_secret(data, data_len);
    free(sig);
    free(out);
    return rc;
}

static int cmd_crypt(const opts *o, bool encrypt)
{
    arca_client_id id;
    arca_lp_mechanism m;
    if (o->num_pos != 2 || parse_id(o->pos[1], &id) != 0) return usage(NULL);
    if (mech_from(o->mech, crypt_mechs, &m) != 0) return usage("unknown or missing --mech");
    if (o->in == NULL || o->out == NULL) return usage("missing --in or --out");
    uint8_t *data = NULL, *res = NULL, *joined = NULL;
    size_t data_len = 0, res_len = 0, joined_len = 0;
    uint8_t iv[16];
    int rc = EXIT_FAIL;
    bool cbc = m.type == CKM_AES_CBC_PAD;
    if (read_file(o->in, ARCA_LP_DATA_MAX, &data, &data_len) != 0) goto out;
    if (cbc) {
        if (encrypt) {
            if (RAND_bytes(iv, sizeof(iv)) != 1) goto out;
        } else {
            if (data_len < sizeof(iv)) {
                rc = fail(ARCA_ERR_DATA_LEN);
                goto out;
            }
            memcpy(iv, data, sizeof(iv));
        }
        m.iv.data = iv;
        m.iv.len = sizeof(iv);
    }
    if ((rc = login_user(o))) goto out;
    const uint8_t *in = data + (cbc && !encrypt ? sizeof(iv) : 0);
    size_t in_len = data_len - (cbc && !encrypt ? sizeof(iv) : 0);
    arca_status st = encrypt ? arca_client_encrypt(g_client, &id, &m, in, in_len, &res, &res_len)
                             : arca_client_decrypt(g_client, &id, &m, in, in_len, &res, &res_len);
    if (st != ARCA_OK) {
        rc = fail(st);
        goto out;
    }
    if (cbc && encrypt) {
        /* CBC output: iv || ciphertext */
        joined_len = sizeof(iv) + res_len;
        joined = malloc(joined_len);
        if (joined == NULL) {
            rc = fail(ARCA_ERR_NOMEM);
            goto out;
        }
        memcpy(joined, iv, sizeof(iv));
        memcpy(joined + sizeof(iv), res, res_len);
        rc = write_file(o->out, joined, joined_len) == 0 ? 0 : EXIT_FAIL;
    } else {
        rc = write_file(o->out, res, res_len) == 0 ? 0 : EXIT_FAIL;
    }
out:
    arca_client_free_secret(data, data_len);
    arca_client_free_secret(res, res_len);
    free(joined);
    return rc;
}

static int cmd_wrap(const opts *o)
{
    arca_client_id wid, tid;
    arca_lp_mechanism m;
    if (o->num_pos != 3 || parse_id(o->pos[1], &wid) != 0 || parse_id(o->pos[2], &tid) != 0) return usage(NULL);
    if (mech_from(o->mech, wrap_mechs, &m) != 0) return usage("unknown or missing --mech");
    if (o->out == NULL) return usage("wrap needs --out FILE");
    int rc = login_user(o);
    if (rc) return rc;
    uint8_t *out = NULL;
    size_t out_len = 0;
    CHECK(arca_client_wrap(g_client, &wid, &m, &tid, &out, &out_len));
    rc = write_file(o->out, out, out_len) == 0 ? 0 : EXIT_FAIL;
    free(out);
    return rc;
}

/* key export ID --wrapping-key WID: wrap with the operands the other way
 * round (the enclave audits every wrap as an export of the target). */
static int cmd_key_export(const opts *o, const arca_client_id *id)
{
    arca_client_id wid;
    arca_lp_mechanism m;
    if (o->wrapping_key == NULL || parse_id(o->wrapping_key, &wid) != 0)
        return usage("key export needs --wrapping-key ID (32 hex digits)");
    if (mech_from(o->mech, wrap_mechs, &m) != 0) return usage("unknown or missing --mech");
    if (o->out == NULL) return usage("key export needs --out FILE");
    int rc = login_user(o);
    if (rc) return rc;
    uint8_t *out = NULL;
    size_t out_len = 0;
    CHECK(arca_client_wrap(g_client, &wid, &m, id, &out, &out_len));
    rc = write_file(o->out, out, out_len) == 0 ? 0 : EXIT_FAIL;
    free(out);
    return rc;
}

/* Template of a key made by unwrap/derive. */
static void new_key_template(tmpl *t, uint32_t ckk, const opts *o)
{
    uint32_t cko = (ckk == CKK_AES || ckk == CKK_GENERIC_SECRET) ? CKO_SECRET_KEY : CKO_PRIVATE_KEY;
    t_u32(t, CKA_CLASS, cko);
    t_u32(t, CKA_KEY_TYPE, ckk);
    t_bytes(t, CKA_LABEL, o->label, strlen(o->label));
    protection_flags(t, o);
    usage_flags(t, cko, ckk, o);
}

static int cmd_unwrap(const opts *o)
{
    arca_client_id uid;
    arca_lp_mechanism m;
    uint32_t ckk;
    if (o->num_pos != 2 || parse_id(o->pos[1], &uid) != 0) return usage(NULL);
    if (mech_from(o->mech, wrap_mechs, &m) != 0) return usage("unknown or missing --mech");
    if (o->in == NULL || o->label == NULL || keytype_from(o->type, &ckk) != 0)
        return usage("unwrap needs --in, --type and --label");
    uint8_t *data = NULL;
    size_t data_len = 0;
    if (read_file(o->in, ARCA_LP_DATA_MAX, &data, &data_len) != 0) return EXIT_FAIL;
    static tmpl t;
    memset(&t, 0, sizeof(t));
    new_key_template(&t, ckk, o);
    int rc = login_user(o);
    arca_client_id id;
    arca_status st = ARCA_OK;
    if (rc == 0) st = arca_client_unwrap(g_client, &uid, &m, data, data_len, t.a, t.n, &id);
    free(data);
    if (rc) return rc;
    CHECK(st);
    print_object(&id, class_name(be32(t.a[0].value, 4)), o->label);
    return 0;
}

static int cmd_derive(const opts *o)
{
    arca_client_id bid;
    arca_lp_mechanism m;
    uint32_t ckk;
    if (o->num_pos != 2 || parse_id(o->pos[1], &bid) != 0) return usage(NULL);
    if (mech_from(o->mech, derive_mechs, &m) != 0) return usage("unknown or missing --mech");
    if (o->label == NULL || o->len == NULL || keytype_from(o->type, &ckk) != 0 ||
        (ckk != CKK_AES && ckk != CKK_GENERIC_SECRET))
        return usage("derive needs --type aes|generic, --len and --label");
    char *end;
    long len = strtol(o->len, &end, 10);
    if (*end != 0 || len <= 0 || len > 4096) return usage("--len takes a number of bytes");
    uint8_t *peer = NULL, *salt = NULL, *info = NULL;
    size_t peer_len = 0, salt_len = 0, info_len = 0;
    int rc = EXIT_USAGE;
    if (m.type == CKM_ECDH1_DERIVE) {
        if (o->peer_pub == NULL) {
            rc = usage("derive --mech ecdh needs --peer-pub FILE");
            goto out;
        }
        if (read_file(o->peer_pub, ARCA_LP_ATTR_VALUE_MAX, &peer, &peer_len) != 0) {
            rc = EXIT_FAIL;
            goto out;
        }
        m.public_data.data = peer;
        m.public_data.len = peer_len;
    } else {
        if (o->salt_hex && hex_decode(o->salt_hex, &salt, &salt_len) != 0) {
            rc = usage("--salt-hex takes hex");
            goto out;
        }
        if (o->info_hex && hex_decode(o->info_hex, &info, &info_len) != 0) {
            rc = usage("--info-hex takes hex");
            goto out;
        }
        m.salt.data = salt;
        m.salt.len = salt_len;
        m.info.data = info;
        m.info.len = info_len;
    }
    static tmpl t;
    memset(&t, 0, sizeof(t));
    new_key_template(&t, ckk, o);
    t_u32(&t, CKA_VALUE_LEN, (uint32_t)len);
    if ((rc = login_user(o))) goto out;
    arca_client_id id;
    arca_status st = arca_client_derive(g_client, &bid, &m, t.a, t.n, &id);
    if (st != ARCA_OK) {
        rc = fail(st);
        goto out;
    }
    print_object(&id, "secret", o->label);
    rc = 0;
out:
    free(peer);
    free(salt);
    free(info);
    return rc;
}

static int cmd_random(const opts *o)
{
    if (o->num_pos != 2) return usage(NULL);
    char *end;
    long n = strtol(o->pos[1], &end, 10);
    if (*end != 0 || n <= 0 || n > (long)ARCA_LP_DATA_MAX) return usage("random takes a byte count");
    if (o->partition && user_pin(o)) {
        int rc = login_user(o);
        if (rc) return rc;
    }
    uint8_t *out = NULL;
    size_t out_len = 0;
    CHECK(arca_client_random(g_client, (size_t)n, &out, &out_len));
    if (g_json) {
        bool first = true;
        putchar('{');
        json_key(&first, "bytes");
        printf("%zu", out_len);
        json_key(&first, "random");
        json_hex(out, out_len);
        puts("}");
    } else {
        hex_print(stdout, out, out_len);
        putchar('\n');
    }
    arca_client_free_secret(out, out_len);
    return 0;
}

/* Audit read and verify need an admin login or an identity with role
 * AUDITOR (no PIN): log in as admin when ARCA_ADMIN_PIN is set; verify also
 * accepts a partition user login (-p with ARCA_PIN), as it always has. */
static int audit_login(const opts *o, bool user_ok)
{
    if (user_ok && o->partition && user_pin(o)) return login_user(o);
    if (getenv("ARCA_ADMIN_PIN")) return login_admin();
    return 0;
}

static void time_text(uint64_t ms, char *out, size_t out_len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(out, out_len, "%llu", (unsigned long long)ms);
        return;
    }
    snprintf(out, out_len, "%s.%03uZ", buf, (unsigned)(ms % 1000));
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s == NULL || s[0] < '0' || s[0] > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != 0 || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int cmd_audit_show(const opts *o)
{
    uint64_t from = 1, max = 100;
    if (o->from && parse_u64(o->from, 0, UINT64_MAX, &from) != 0) return usage("--from takes a sequence number");
    if (o->max && parse_u64(o->max, 1, ARCA_LP_AUDIT_READ_MAX, &max) != 0)
        return usage("--max takes a number from 1 to 1024");
    int rc = audit_login(o, false);
    if (rc) return rc;
    arca_client_audit_record *r = NULL;
    size_t num = 0;
    CHECK(arca_client_audit_read(g_client, from, (uint32_t)max, &r, &num));
    if (g_json) fputs("{\"records\":[", stdout);
    for (size_t i = 0; i < num; i++) {
        char when[48];
        time_text(r[i].time_ms, when, sizeof(when));
        const char *st = r[i].status < ARCA_STATUS_COUNT ? arca_status_name((arca_status)r[i].status) : "?";
        if (!g_json) {
            printf("%llu %s %s %s actor=%s object=%s detail=%s\n", (unsigned long long)r[i].seq, when, r[i].event, st,
                   r[i].actor[0] ? r[i].actor : "-", r[i].object[0] ? r[i].object : "-",
                   r[i].detail[0] ? r[i].detail : "-");
            continue;
        }
        bool first = true;
        printf("%s{", i ? "," : "");
        json_key(&first, "seq");
        printf("%llu", (unsigned long long)r[i].seq);
        json_key(&first, "time_ms");
        printf("%llu", (unsigned long long)r[i].time_ms);
        json_key(&first, "time");
        json_str(when);
        json_key(&first, "event");
        json_str(r[i].event);
        json_key(&first, "status");
        json_str(st);
        json_key(&first, "actor");
        json_str(r[i].actor);
        json_key(&first, "object");
        json_str(r[i].object);
        json_key(&first, "detail");
        json_str(r[i].detail);
        putchar('}');
    }
    if (g_json) {
        printf("],\"next\":%llu}\n", (unsigned long long)(num ? r[num - 1].seq + 1 : from));
    }
    arca_client_audit_records_free(r, num);
    return 0;
}

static int cmd_audit(const opts *o)
{
    if (o->num_pos != 2) return usage(NULL);
    if (strcmp(o->pos[1], "show") == 0) return cmd_audit_show(o);
    if (strcmp(o->pos[1], "verify") != 0) return usage(NULL);
    int rc = audit_login(o, true);
    if (rc) return rc;
    uint64_t records = 0;
    CHECK(arca_client_audit_verify(g_client, &records));
    if (g_json) printf("{\"intact\":true,\"records\":%llu}\n", (unsigned long long)records);
    else printf("audit chain intact: %llu records\n", (unsigned long long)records);
    return 0;
}

/* A value of status's "key: value" lines as JSON: a number when it is a
 * plain decimal that fits, a string otherwise. */
static void json_status_value(const char *v, size_t n)
{
    bool num = n > 0 && n <= 15 && !(n > 1 && v[0] == '0');
    for (size_t i = 0; num && i < n; i++) num = v[i] >= '0' && v[i] <= '9';
    if (num) fwrite(v, 1, n, stdout);
    else json_strn(v, n);
}

static int cmd_status(const opts *o)
{
    if (o->num_pos != 1) return usage(NULL);
    char *text = NULL;
    CHECK(arca_client_status(g_client, &text));
    if (!g_json) {
        fputs(text, stdout);
        free(text);
        return 0;
    }
    bool first = true;
    putchar('{');
    for (char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        const char *colon = memchr(line, ':', n);
        if (colon) {
            size_t klen = (size_t)(colon - line);
            const char *v = colon + 1;
            while (v < line + n && *v == ' ') v++;
            if (!first) putchar(',');
            first = false;
            json_strn(line, klen);
            putchar(':');
            json_status_value(v, (size_t)(line + n - v));
        }
        line += n;
        if (*line == '\n') line++;
    }
    puts("}");
    free(text);
    return 0;
}

/* Fresh attestation: evidence bound to a nonce and to this TLS session,
 * verified by the library against the configuration's policy. */
static int cmd_attest(const opts *o)
{
    if (o->num_pos != 1) return usage(NULL);
    uint8_t nonce_buf[32], *nonce = nonce_buf, *given = NULL;
    size_t nonce_len = sizeof(nonce_buf);
    if (o->nonce) {
        if (hex_decode(o->nonce, &given, &nonce_len) != 0 || nonce_len == 0 || nonce_len > ARCA_LP_NONCE_MAX) {
            free(given);
            return usage("--nonce takes 1 to 64 bytes in hex");
        }
        nonce = given;
    } else if (RAND_bytes(nonce_buf, sizeof(nonce_buf)) != 1) {
        return fail(ARCA_ERR_CRYPTO);
    }
    arca_evidence_claims cl;
    arca_status st = arca_client_attest(g_client, nonce, nonce_len, &cl);
    if (st != ARCA_OK) {
        free(given);
        return fail(st);
    }
    const arca_enclave_identity *id = &cl.identity;
    const char *mode = cl.tpm_quote ? "tpm" : cl.insecure_dev ? "dev (INSECURE)" : "other";
    if (g_json) {
        bool first = true;
        putchar('{');
        json_key(&first, "mode");
        json_str(cl.tpm_quote ? "tpm" : cl.insecure_dev ? "dev" : "other");
        json_key(&first, "signer_id");
        json_hex(id->signer_id, sizeof(id->signer_id));
        json_key(&first, "measurement");
        if (cl.tpm_quote) fputs("null", stdout);
        else json_hex(id->measurement, sizeof(id->measurement));
        json_key(&first, "product_id");
        printf("%u", id->product_id);
        json_key(&first, "svn");
        printf("%u", id->svn);
        json_key(&first, "debug");
        fputs(id->debug ? "true" : "false", stdout);
        json_key(&first, "insecure_dev");
        fputs(cl.insecure_dev ? "true" : "false", stdout);
        json_key(&first, "attester_key_id");
        json_hex(cl.attester_key_id, sizeof(cl.attester_key_id));
        if (cl.tpm_quote) {
            json_key(&first, "tpm_pcr");
            printf("%u", cl.tpm_pcr_index);
        }
        json_key(&first, "nonce");
        json_hex(nonce, nonce_len);
        json_key(&first, "fresh");
        fputs("true", stdout);
        json_key(&first, "bound_to");
        json_str("this TLS session");
        puts("}");
    } else {
        printf("mode: %s\nsigner_id: ", mode);
        hex_print(stdout, id->signer_id, sizeof(id->signer_id));
        printf("\nmeasurement: ");
        if (cl.tpm_quote) printf("(not attested by a TPM quote)");
        else hex_print(stdout, id->measurement, sizeof(id->measurement));
        printf("\nproduct_id: %u\nsvn: %u\ndebug: %s\ninsecure_dev: %s\nattester_key_id: ", id->product_id, id->svn,
               id->debug ? "yes" : "no", cl.insecure_dev ? "yes" : "no");
        hex_print(stdout, cl.attester_key_id, sizeof(cl.attester_key_id));
        if (cl.tpm_quote) printf("\ntpm_pcr: %u", cl.tpm_pcr_index);
        printf("\nnonce: ");
        hex_print(stdout, nonce, nonce_len);
        printf("\nfresh: bound to this TLS session\n");
    }
    free(given);
    return 0;
}

static const char *login_role_name(int role)
{
    switch (role) {
    case ARCA_CLIENT_ROLE_ADMIN:
        return "admin";
    case ARCA_CLIENT_ROLE_SO:
        return "so";
    case ARCA_CLIENT_ROLE_USER:
        return "user";
    default:
        return NULL;
    }
}

static int cmd_whoami(const opts *o)
{
    if (o->num_pos != 1) return usage(NULL);
    if (o->partition && user_pin(o)) {
        int rc = login_user(o);
        if (rc) return rc;
    }
    arca_client_identity me;
    int role = 0;
    char part[ARCA_LP_NAME_MAX + 1];
    CHECK(arca_client_whoami(g_client, &me, &role, part));
    char roles[64];
    roles_text(me.roles, roles, sizeof(roles));
    const char *login = login_role_name(role);
    if (g_json) {
        bool first = true;
        putchar('{');
        json_key(&first, "identity");
        json_str(me.name);
        json_key(&first, "roles");
        putchar('[');
        bool any = false;
        for (size_t i = 0; i < sizeof(rolenames) / sizeof(rolenames[0]); i++) {
            if (!(me.roles & rolenames[i].bit)) continue;
            if (any) putchar(',');
            json_str(rolenames[i].name);
            any = true;
        }
        putchar(']');
        json_key(&first, "partitions");
        json_str(me.partitions);
        json_key(&first, "login");
        json_str(login);
        json_key(&first, "partition");
        json_str(part[0] ? part : NULL);
        puts("}");
    } else {
        printf("identity: %s\nroles: %s\npartitions: %s\nlogin: %s\n", me.name[0] ? me.name : "(none)",
               roles[0] ? roles : "-", me.partitions[0] ? me.partitions : "-", login ? login : "none");
        if (part[0]) printf("partition: %s\n", part);
    }
    return 0;
}

/* A chain file: PEM certificates (leaf first) made DER and concatenated;
 * a file without any PEM certificate is sent as it is (DER, or for the
 * enclave to refuse). */
static int load_chain(const char *path, uint8_t **out, size_t *out_len)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (read_file(path, ARCA_LP_CERT_CHAIN_MAX * 2, &raw, &raw_len) != 0) return -1;
    BIO *bio = BIO_new_mem_buf(raw, (int)raw_len);
    uint8_t *der = malloc(raw_len + 1);
    size_t len = 0;
    int rc = -1;
    if (bio == NULL || der == NULL) goto out;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL) break;
        int n = i2d_X509(x, NULL);
        if (n <= 0 || len + (size_t)n > raw_len) {
            X509_free(x);
            goto out;
        }
        uint8_t *p = der + len;
        i2d_X509(x, &p);
        len += (size_t)n;
        X509_free(x);
    }
    ERR_clear_error();
    if (len == 0) {
        memcpy(der, raw, raw_len);
        len = raw_len;
    }
    *out = der;
    *out_len = len;
    der = NULL;
    rc = 0;
out:
    if (rc != 0) fprintf(stderr, "kms-client: cannot read %s: bad certificate\n", path);
    BIO_free(bio);
    free(der);
    free(raw);
    return rc;
}

static int cmd_tls(const opts *o)
{
    if (o->num_pos != 2) return usage(NULL);
    int rc;
    if (strcmp(o->pos[1], "csr") == 0) {
        if (o->cn == NULL || o->cn[0] == 0 || strlen(o->cn) > ARCA_LP_CN_MAX)
            return usage("tls csr needs --cn NAME (1 to 64 characters)");
        if (o->out == NULL) return usage("tls csr needs --out FILE");
        if ((rc = login_admin())) return rc;
        uint8_t *der = NULL;
        size_t len = 0;
        CHECK(arca_client_tls_csr(g_client, o->cn, &der, &len));
        /* PEM, as openssl req -in expects it. */
        BIO *mem = BIO_new(BIO_s_mem());
        char *pem = NULL;
        long pem_len = 0;
        rc = EXIT_FAIL;
        if (mem && PEM_write_bio(mem, "CERTIFICATE REQUEST", "", der, (long)len) > 0 &&
            (pem_len = BIO_get_mem_data(mem, &pem)) > 0)
            rc = write_file(o->out, (const uint8_t *)pem, (size_t)pem_len) == 0 ? 0 : EXIT_FAIL;
        else
            fprintf(stderr, "kms-client: cannot encode the request as PEM\n");
        BIO_free(mem);
        free(der);
        return rc;
    }
    if (strcmp(o->pos[1], "install") == 0) {
        if (o->chain == NULL) return usage("tls install needs --chain FILE");
        uint8_t *der = NULL;
        size_t len = 0;
        if (load_chain(o->chain, &der, &len) != 0) return EXIT_FAIL;
        rc = login_admin();
        arca_status st = rc ? ARCA_OK : arca_client_tls_cert_install(g_client, der, len);
        free(der);
        if (rc) return rc;
        CHECK(st);
        printf("installed the TLS certificate chain from %s (new connections present it)\n", o->chain);
        return 0;
    }
    return usage(NULL);
}

static int run(const opts *o)
{
    const char *cmd = o->pos[0];
    if (strcmp(cmd, "init") == 0) return cmd_init(o);
    if (strcmp(cmd, "partition") == 0) return cmd_partition(o);
    if (strcmp(cmd, "pin") == 0) return cmd_pin(o);
    if (strcmp(cmd, "client") == 0) return cmd_client(o);
    if (strcmp(cmd, "key") == 0) return cmd_key(o);
    if (strcmp(cmd, "sign") == 0) return cmd_sign_verify(o, true);
    if (strcmp(cmd, "verify") == 0) return cmd_sign_verify(o, false);
    if (strcmp(cmd, "encrypt") == 0) return cmd_crypt(o, true);
    if (strcmp(cmd, "decrypt") == 0) return cmd_crypt(o, false);
    if (strcmp(cmd, "wrap") == 0) return cmd_wrap(o);
    if (strcmp(cmd, "unwrap") == 0) return cmd_unwrap(o);
    if (strcmp(cmd, "derive") == 0) return cmd_derive(o);
    if (strcmp(cmd, "random") == 0) return cmd_random(o);
    if (strcmp(cmd, "audit") == 0) return cmd_audit(o);
    if (strcmp(cmd, "status") == 0) return cmd_status(o);
    if (strcmp(cmd, "attest") == 0) return cmd_attest(o);
    if (strcmp(cmd, "whoami") == 0) return cmd_whoami(o);
    if (strcmp(cmd, "tls") == 0) return cmd_tls(o);
    return usage(NULL);
}

static const char *const commands[] = {"init",   "partition", "client", "key",    "sign",  "verify",
                                       "encrypt", "decrypt",  "wrap",   "unwrap", "derive", "random",
                                       "audit",  "status",    "attest", "whoami", "tls",   "pin",
                                       NULL};

/* The client configuration: --config FILE, else $ARCA_CLIENT_CONF;
 * --socket overrides its address. Returns an exit code, 0 when loaded. */
static int load_config(const opts *o)
{
    char msg[ARCA_CLIENT_MSG_LEN];
    arca_status st;
    if (o->config) {
        st = arca_client_config_load(o->config, &g_cfg, msg, sizeof(msg));
    } else {
        const char *env = getenv("ARCA_CLIENT_CONF");
        if (env == NULL || env[0] == 0) {
            report_error("ARCA_ERR_CONFIG", "no client configuration: use --config FILE or set ARCA_CLIENT_CONF "
                                            "(see docs/kms-client.md)");
            return EXIT_CONNECT;
        }
        st = arca_client_config_from_env(&g_cfg, msg, sizeof(msg));
    }
    if (st != ARCA_OK) {
        report_error(arca_status_name(st), msg[0] ? msg : arca_status_message(st));
        return EXIT_CONNECT;
    }
    if (o->socket) {
        int n = snprintf(g_cfg.address, sizeof(g_cfg.address), "unix:%s", o->socket);
        if (n < 0 || (size_t)n >= sizeof(g_cfg.address)) return usage("--socket path too long");
    }
    return 0;
}

/* Is --json meaningful for this command line? */
static bool json_supported(const opts *o)
{
    char name[64];
    snprintf(name, sizeof(name), "%s %s", o->pos[0], o->num_pos > 1 ? o->pos[1] : "");
    for (size_t i = 0; json_commands[i]; i++) {
        size_t n = strlen(json_commands[i]);
        if (strncmp(name, json_commands[i], n) == 0 && (name[n] == ' ' || name[n] == 0)) return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    static opts o;
    if (argc < 2) {
        print_help(stderr, NULL, NULL);
        return EXIT_USAGE;
    }
    if (parse_opts(argc, argv, &o) != 0) return usage(NULL);
    if (o.help) {
        print_help(stdout, o.num_pos > 0 ? o.pos[0] : NULL, o.num_pos > 1 ? o.pos[1] : NULL);
        return 0;
    }
    if (o.num_pos == 0) return usage(NULL);
    bool known = false;
    for (size_t i = 0; commands[i]; i++) known |= strcmp(commands[i], o.pos[0]) == 0;
    if (!known) return usage("unknown command");
    if (o.json && !json_supported(&o)) return usage("--json is not supported by this command");
    g_json = o.json != 0;
    if (o.partition == NULL) o.partition = getenv("ARCA_PARTITION");
    atexit(wipe_pin);

    int rc = load_config(&o);
    if (rc) return rc;
    char msg[ARCA_CLIENT_MSG_LEN];
    msg[0] = 0;
    arca_status st = arca_client_open(&g_cfg, &g_client, msg, sizeof(msg));
    if (st != ARCA_OK) {
        char line[ARCA_CLIENT_MSG_LEN + ARCA_CLIENT_PATH_MAX + 64];
        /* The library's message may already say where it could not connect. */
        if (strncmp(msg, "cannot connect to ", 18) == 0)
            snprintf(line, sizeof(line), "%s", msg);
        else
            snprintf(line, sizeof(line), "cannot connect to %s: %s", g_cfg.address,
                     msg[0] ? msg : arca_status_message(st));
        report_error(arca_status_name(st), line);
        return EXIT_CONNECT;
    }
    rc = run(&o);
    arca_client_close(g_client);
    g_client = NULL;
    return rc;
}
