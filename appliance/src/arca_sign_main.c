/* arca-sign: create signer keys, sign enclave images, verify and show
 * signature structures (the analogue of oesign / sgx_sign).
 *
 *   arca-sign genkey --out KEY.pem
 *   arca-sign sign   --key KEY.pem --image IMG --out IMG.sig --product-id N --svn N [--debug]
 *   arca-sign verify --image IMG --sig IMG.sig [--signer HEX64]
 *   arca-sign show   --sig IMG.sig
 *
 * Exit status: 0 success, 1 failure (named on stderr), 2 usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "arca/hex.h"
#include "arca/image_sig.h"
#include "arca/log.h"
#include "arca/status.h"

#define EXIT_USAGE 2
#define IMAGE_MAX ((size_t)1 << 30)

static void usage(FILE *f)
{
    fprintf(f, "usage: arca-sign genkey --out KEY.pem\n"
               "       arca-sign sign --key KEY.pem --image IMG --out IMG.sig --product-id N --svn N [--debug]\n"
               "       arca-sign verify --image IMG --sig IMG.sig [--signer HEX64]\n"
               "       arca-sign show --sig IMG.sig\n");
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "arca-sign: %s\n", msg);
    usage(stderr);
    return EXIT_USAGE;
}

static void hex(const uint8_t *p, size_t n, char *out /* 2n+1 */)
{
    arca_hex(p, n, out);
}

static bool parse_hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64) return false;
    for (size_t i = 0; i < 32; i++) {
        unsigned v = 0;
        for (size_t j = 0; j < 2; j++) {
            char ch = s[2 * i + j];
            unsigned d;
            if (ch >= '0' && ch <= '9') d = (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f') d = (unsigned)(ch - 'a' + 10);
            else if (ch >= 'A' && ch <= 'F') d = (unsigned)(ch - 'A' + 10);
            else return false;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

static bool parse_u16(const char *s, uint16_t *out)
{
    char *end = NULL;
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+') return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > 0xffff) return false;
    *out = (uint16_t)v;
    return true;
}

/* Read a whole file of at most max bytes; *out malloc'd (non-NULL even when
 * empty). Prints the problem and returns false on failure. */
static bool read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
    struct stat sb;
    uint8_t *buf = NULL;
    size_t done = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "arca-sign: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "arca-sign: %s is not a regular file\n", path);
        goto fail;
    }
    if ((size_t)sb.st_size > max) {
        fprintf(stderr, "arca-sign: %s is too large (%lld bytes, limit %zu)\n", path, (long long)sb.st_size, max);
        goto fail;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (buf == NULL) {
        fprintf(stderr, "arca-sign: out of memory reading %s\n", path);
        goto fail;
    }
    while (done < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + done, (size_t)sb.st_size - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            fprintf(stderr, "arca-sign: cannot read %s: %s\n", path, r < 0 ? strerror(errno) : "short read");
            goto fail;
        }
        done += (size_t)r;
    }
    close(fd);
    *out = buf;
    *out_len = done;
    return true;
fail:
    free(buf);
    close(fd);
    return false;
}

/* Write data to path atomically: a temp file in the same directory, fsync,
 * rename over path, fsync the directory. */
static bool write_atomic(const char *path, const uint8_t *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dircopy = strdup(path);
    bool ok = false;
    int fd = -1, dfd = -1;

    if (tmp == NULL || dircopy == NULL) {
        fprintf(stderr, "arca-sign: out of memory\n");
        goto out;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "arca-sign: cannot create a temporary file next to %s: %s\n", path, strerror(errno));
        tmp[0] = '\0'; /* nothing was created */
        goto out;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "arca-sign: cannot write %s: %s\n", tmp, strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        fprintf(stderr, "arca-sign: cannot write %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        fprintf(stderr, "arca-sign: cannot write %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "arca-sign: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0'; /* renamed: nothing to clean up */
    dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        fprintf(stderr, "arca-sign: cannot sync the directory of %s: %s\n", path, strerror(errno));
        goto out;
    }
    ok = true;
out:
    if (fd >= 0) close(fd);
    if (dfd >= 0) close(dfd);
    if (!ok && tmp != NULL && tmp[0] != '\0') (void)unlink(tmp);
    free(tmp);
    free(dircopy);
    return ok;
}

static void print_identity(const arca_enclave_identity *id)
{
    char h[65];
    hex(id->measurement, 32, h);
    printf("measurement: %s\n", h);
    hex(id->signer_id, 32, h);
    printf("signer: %s\n", h);
    printf("product-id: %u\n", (unsigned)id->product_id);
    printf("svn: %u\n", (unsigned)id->svn);
    printf("debug: %s\n", id->debug ? "yes" : "no");
}

enum { OPT_OUT = 1, OPT_KEY, OPT_IMAGE, OPT_SIG, OPT_PRODUCT, OPT_SVN, OPT_DEBUG, OPT_SIGNER, OPT_HELP };

static const struct option long_opts[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"key", required_argument, NULL, OPT_KEY},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"sig", required_argument, NULL, OPT_SIG},
    {"product-id", required_argument, NULL, OPT_PRODUCT},
    {"svn", required_argument, NULL, OPT_SVN},
    {"debug", no_argument, NULL, OPT_DEBUG},
    {"signer", required_argument, NULL, OPT_SIGNER},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct opts {
    const char *out, *key, *image, *sig, *product, *svn, *signer;
    bool debug;
} opts;

static int cmd_genkey(const opts *o)
{
    if (o->out == NULL) return usage_error("genkey needs --out");
    if (o->key || o->image || o->sig || o->product || o->svn || o->signer || o->debug)
        return usage_error("genkey takes only --out");
    arca_status st = arca_image_signer_genkey(o->out);
    if (st == ARCA_ERR_EXISTS) {
        fprintf(stderr, "arca-sign: %s already exists; refusing to overwrite a signer key\n", o->out);
        return 1;
    }
    if (st != ARCA_OK) {
        fprintf(stderr, "arca-sign: cannot create signer key %s: %s\n", o->out, arca_status_message(st));
        return 1;
    }
    printf("wrote Ed25519 signer key %s (mode 0600)\n", o->out);
    return 0;
}

static int cmd_sign(const opts *o)
{
    uint16_t product = 0, svn = 0;
    uint8_t *image = NULL, *sig = NULL;
    size_t image_len = 0, sig_len = 0;
    arca_enclave_identity id;
    int rc = 1;

    if (o->key == NULL || o->image == NULL || o->out == NULL || o->product == NULL || o->svn == NULL)
        return usage_error("sign needs --key, --image, --out, --product-id and --svn");
    if (o->sig || o->signer) return usage_error("sign does not take --sig or --signer");
    if (!parse_u16(o->product, &product)) return usage_error("--product-id must be a number 0..65535");
    if (!parse_u16(o->svn, &svn)) return usage_error("--svn must be a number 0..65535");

    if (!read_file(o->image, IMAGE_MAX, &image, &image_len)) goto out;
    arca_status st = arca_image_sign(image, image_len, o->key, product, svn, o->debug, &sig, &sig_len);
    if (st != ARCA_OK) {
        fprintf(stderr, "arca-sign: cannot sign %s with %s: %s\n", o->image, o->key, arca_status_message(st));
        goto out;
    }
    /* Check what we wrote before anyone relies on it. */
    st = arca_image_verify(sig, sig_len, image, image_len, NULL, &id);
    if (st != ARCA_OK) {
        fprintf(stderr, "arca-sign: internal error: fresh signature does not verify: %s\n", arca_status_name(st));
        goto out;
    }
    if (!write_atomic(o->out, sig, sig_len)) goto out;
    printf("signed %s -> %s\n", o->image, o->out);
    print_identity(&id);
    rc = 0;
out:
    free(image);
    free(sig);
    return rc;
}

static int report_sig_error(arca_status st, const char *sig_path)
{
    switch (st) {
    case ARCA_ERR_DECODE:
        fprintf(stderr, "arca-sign: %s is not a valid signature structure (malformed)\n", sig_path);
        break;
    case ARCA_ERR_IMAGE_SIGNATURE:
        fprintf(stderr, "arca-sign: signature in %s does not verify (forged or damaged)\n", sig_path);
        break;
    default:
        fprintf(stderr, "arca-sign: cannot check %s: %s\n", sig_path, arca_status_message(st));
        break;
    }
    return 1;
}

static int cmd_verify(const opts *o)
{
    uint8_t *image = NULL, *sig = NULL;
    size_t image_len = 0, sig_len = 0;
    uint8_t expected[32], actual[32];
    unsigned int actual_len = 0;
    arca_enclave_identity id, claimed;
    char h1[65], h2[65];
    int rc = 1;

    if (o->image == NULL || o->sig == NULL) return usage_error("verify needs --image and --sig");
    if (o->key || o->out || o->product || o->svn || o->debug)
        return usage_error("verify takes only --image, --sig and --signer");
    if (o->signer != NULL && !parse_hex32(o->signer, expected))
        return usage_error("--signer must be 64 hex digits (the signer id)");

    if (!read_file(o->sig, ARCA_IMAGE_SIG_MAX, &sig, &sig_len)) goto out;
    if (!read_file(o->image, IMAGE_MAX, &image, &image_len)) goto out;
    arca_status st = arca_image_verify(sig, sig_len, image, image_len, o->signer ? expected : NULL, &id);
    switch (st) {
    case ARCA_OK:
        printf("signature: OK\n");
        print_identity(&id);
        rc = 0;
        break;
    case ARCA_ERR_IMAGE_MEASUREMENT:
        /* The structure verified; say which two hashes differ. */
        if (arca_image_sig_parse(sig, sig_len, &claimed) != ARCA_OK ||
            EVP_Digest(image, image_len, actual, &actual_len, EVP_sha256(), NULL) != 1 || actual_len != 32) {
            fprintf(stderr, "arca-sign: image measurement mismatch\n");
            break;
        }
        hex(actual, 32, h1);
        hex(claimed.measurement, 32, h2);
        fprintf(stderr, "arca-sign: image measurement mismatch: image sha256 %s, signature says %s\n", h1, h2);
        break;
    case ARCA_ERR_IMAGE_SIGNER:
        if (arca_image_sig_parse(sig, sig_len, &claimed) != ARCA_OK) {
            fprintf(stderr, "arca-sign: signer mismatch\n");
            break;
        }
        hex(claimed.signer_id, 32, h1);
        hex(expected, 32, h2);
        fprintf(stderr, "arca-sign: signer mismatch: signature is by signer %s, expected %s\n", h1, h2);
        break;
    default:
        report_sig_error(st, o->sig);
        break;
    }
out:
    free(image);
    free(sig);
    return rc;
}

static int cmd_show(const opts *o)
{
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    arca_enclave_identity id;
    int rc = 1;

    if (o->sig == NULL) return usage_error("show needs --sig");
    if (o->key || o->out || o->image || o->product || o->svn || o->debug || o->signer)
        return usage_error("show takes only --sig");
    if (!read_file(o->sig, ARCA_IMAGE_SIG_MAX, &sig, &sig_len)) goto out;
    arca_status st = arca_image_sig_parse(sig, sig_len, &id);
    if (st != ARCA_OK) {
        report_sig_error(st, o->sig);
        goto out;
    }
    printf("signature: OK (self-consistent; the image is not checked, use verify)\n");
    print_identity(&id);
    rc = 0;
out:
    free(sig);
    return rc;
}

int main(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof o);
    arca_log_set_component("arca-sign");

    if (argc < 2) return usage_error("missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }

    optind = 2;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "", long_opts, NULL);
        if (c == -1) break;
        switch (c) {
        case OPT_OUT: o.out = optarg; break;
        case OPT_KEY: o.key = optarg; break;
        case OPT_IMAGE: o.image = optarg; break;
        case OPT_SIG: o.sig = optarg; break;
        case OPT_PRODUCT: o.product = optarg; break;
        case OPT_SVN: o.svn = optarg; break;
        case OPT_DEBUG: o.debug = true; break;
        case OPT_SIGNER: o.signer = optarg; break;
        case OPT_HELP: usage(stdout); return 0;
        default: return usage_error("unknown option or missing argument");
        }
    }
    if (optind != argc) return usage_error("unexpected argument");

    if (strcmp(cmd, "genkey") == 0) return cmd_genkey(&o);
    if (strcmp(cmd, "sign") == 0) return cmd_sign(&o);
    if (strcmp(cmd, "verify") == 0) return cmd_verify(&o);
    if (strcmp(cmd, "show") == 0) return cmd_show(&o);
    return usage_error("unknown command (genkey, sign, verify, show)");
}
