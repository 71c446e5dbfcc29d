/* Decoder for the "ARCA KEY URI" PEM that genpkey writes for an Arca key
 * (encoder.c): `-inkey web.key.pem` and OSSL_STORE_open("web.key.pem")
 * load the key the file names, as arca:id=... would.
 *
 * Every PEM input an application reads with arca loaded passes through
 * here, so anything that is not an ARCA KEY URI block is left alone at
 * once: no appliance call, no error (return 1 without an object: "not
 * mine", OpenSSL tries its other decoders). The file is the user's input,
 * not the appliance's, but still read with bounds: at most IN_MAX bytes,
 * one block, a base64 body that decodes to an arca: URI of printable
 * characters. A block that is ours but names no usable key is an error on
 * the queue (the lookup's: no such key, appliance unreachable, ...). */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/evp.h>
#include <string.h>

#include "prov.h"

#define IN_MAX 4096u
#define URI_MAX 512u
#define BEGIN_LINE "-----BEGIN ARCA KEY URI-----"
#define END_LINE "-----END ARCA KEY URI-----"

typedef struct dec_ctx {
    arca_prov *prov;
    arca_prov_key_type type;
} dec_ctx;

static void *dec_newctx(void *provctx, arca_prov_key_type type)
{
    dec_ctx *d = OPENSSL_zalloc(sizeof *d);
    if (d == NULL) return NULL;
    d->prov = provctx;
    d->type = type;
    return d;
}
static void *rsa_newctx(void *provctx)
{
    return dec_newctx(provctx, ARCA_PROV_KEY_RSA);
}
static void *ec_newctx(void *provctx)
{
    return dec_newctx(provctx, ARCA_PROV_KEY_EC);
}
static void *ed_newctx(void *provctx)
{
    return dec_newctx(provctx, ARCA_PROV_KEY_ED25519);
}

static void dec_freectx(void *ctx)
{
    OPENSSL_free(ctx);
}

static int dec_does_selection(void *provctx, int selection)
{
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

/* Read up to IN_MAX bytes; false when there is more (not our small file). */
static bool read_all(arca_prov *p, OSSL_CORE_BIO *in, char *buf, size_t *out_len)
{
    size_t len = 0;
    for (;;) {
        size_t n = 0;
        if (len == IN_MAX) return false;
        if (p->bio_read_ex == NULL || p->bio_read_ex(in, buf + len, IN_MAX - len, &n) != 1 || n == 0) break;
        len += n;
    }
    buf[len] = '\0';
    *out_len = len;
    return true;
}

/* The URI in buf's ARCA KEY URI block, or false if there is none. */
static bool extract_uri(const char *buf, size_t len, char uri[URI_MAX + 1])
{
    const char *begin = strstr(buf, BEGIN_LINE "\n"), *body, *end;
    unsigned char dec[URI_MAX + 3];
    char b64[4 * (URI_MAX / 3 + 2) + 1];
    size_t b64_len = 0;
    int n;
    if (begin == NULL || strlen(buf) != len) return false; /* a NUL inside: not ours */
    body = begin + strlen(BEGIN_LINE "\n");
    end = strstr(body, END_LINE);
    if (end == NULL || strstr(end + strlen(END_LINE), BEGIN_LINE) != NULL) return false;
    for (const char *s = body; s < end; s++) { /* base64 without the line breaks */
        if (*s == '\n' || *s == '\r') continue;
        if (b64_len + 1 >= sizeof b64) return false;
        b64[b64_len++] = *s;
    }
    b64[b64_len] = '\0';
    if (b64_len == 0 || b64_len % 4 != 0) return false;
    n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)b64_len);
    if (n <= 0) return false;
    /* EVP_DecodeBlock counts the padding's zero bytes: drop them. */
    if (b64[b64_len - 1] == '=') n--;
    if (b64[b64_len - 2] == '=') n--;
    if (n <= 5 || (size_t)n > URI_MAX || memcmp(dec, "arca:", 5) != 0) return false;
    for (int i = 0; i < n; i++) {
        if (dec[i] < 0x21 || dec[i] > 0x7e) return false;
    }
    memcpy(uri, dec, (size_t)n);
    uri[n] = '\0';
    return true;
}

static int dec_decode(void *vctx, OSSL_CORE_BIO *in, int selection, OSSL_CALLBACK *data_cb, void *data_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    dec_ctx *d = vctx;
    char *buf = OPENSSL_malloc(IN_MAX + 1);
    char uri[URI_MAX + 1];
    size_t len = 0;
    arca_prov_key *k = NULL;
    int ok = 1; /* "not mine": let the other decoders try */

    if (buf == NULL) return 0;
    if (!read_all(d->prov, in, buf, &len) || !extract_uri(buf, len, uri)) goto out;
    if (arca_prov_lookup_uri(d->prov, uri, &k) != ARCA_OK) {
        ok = 0; /* ours, but it names no usable key: the lookup's error is on the queue */
        goto out;
    }
    if (k->type == d->type) {
        int objtype = OSSL_OBJECT_PKEY;
        OSSL_PARAM params[4];
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[1] =
            OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)arca_prov_key_type_name(k->type), 0);
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof k);
        params[3] = OSSL_PARAM_construct_end();
        ok = data_cb(params, data_cbarg); /* km_load takes its own reference */
    } /* else another type's decoder will take it */
out:
    arca_prov_key_free(k);
    OPENSSL_free(buf);
    return ok;
}

#define DEC_FUNCTIONS(prefix)                                                                                        \
    const OSSL_DISPATCH arca_prov_##prefix##_decoder_functions[] = {                                                \
        {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))prefix##_newctx},                                               \
        {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},                                                  \
        {OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))dec_does_selection},                                    \
        {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_decode},                                                    \
        {0, NULL},                                                                                                  \
    }

DEC_FUNCTIONS(rsa);
DEC_FUNCTIONS(ec);
const OSSL_DISPATCH arca_prov_ed25519_decoder_functions[] = {
    {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))ed_newctx},
    {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},
    {OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))dec_does_selection},
    {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_decode},
    {0, NULL},
};
