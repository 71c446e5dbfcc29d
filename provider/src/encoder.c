/* Encoder for Arca private keys: what `openssl genpkey -provider arca`,
 * `openssl pkey -in arca:...` and PEM_write_bio_PrivateKey write for a key
 * that lives in the appliance. The private key never leaves it, so the
 * "private key file" is a reference: one comment line and a PEM block
 * "ARCA KEY URI" whose content is the key's URI, arca:id=<object id>:
 *
 *   Arca key arca:id=0123...: the private key stays in the Arca appliance.
 *   -----BEGIN ARCA KEY URI-----
 *   YXJjYTppZD0wMTIz...
 *   -----END ARCA KEY URI-----
 *
 * Use the URI (or arca:label=NAME) wherever OpenSSL takes a key; the PEM
 * itself is read back by decoder.c (PEM_read_bio_PrivateKey). Only this
 * provider's own key objects are encoded (no import: OpenSSL never hands
 * this encoder another provider's key). */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "prov.h"

#define URI_LEN (5u + 3u + 2u * ARCA_LP_ID_LEN)         /* "arca:id=" + hex */
#define B64_LEN (4u * ((URI_LEN + 2u) / 3u) + 1u)       /* EVP_EncodeBlock output + NUL */

static void *enc_newctx(void *provctx)
{
    return provctx; /* stateless: the provider context is all it needs */
}

static void enc_freectx(void *ctx)
{
    (void)ctx;
}

static int enc_does_selection(void *provctx, int selection)
{
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int write_all(arca_prov *p, OSSL_CORE_BIO *out, const char *s)
{
    size_t n = strlen(s), done = 0;
    return p->bio_write_ex != NULL && p->bio_write_ex(out, s, n, &done) == 1 && done == n;
}

static int enc_encode(void *ctx, OSSL_CORE_BIO *out, const void *obj_raw, const OSSL_PARAM obj_abstract[],
                      int selection, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    arca_prov *p = ctx;
    const arca_prov_key *k = obj_raw;
    char uri[URI_LEN + 1], line[URI_LEN + 96];
    unsigned char b64[B64_LEN];
    int n;

    if (k == NULL || k->magic != ARCA_PROV_KEY_MAGIC) {
        arca_prov_error(p, ARCA_PROV_R_UNSUPPORTED, "only Arca keys are written as ARCA KEY URI");
        return 0;
    }
    if (!k->has_private || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0) {
        arca_prov_error(p, ARCA_PROV_R_UNSUPPORTED, "this Arca key is a public key: write it with -pubout");
        return 0;
    }
    memcpy(uri, "arca:id=", 8);
    for (size_t i = 0; i < sizeof k->id.b; i++) {
        (void)snprintf(uri + 8 + 2 * i, 3, "%02x", k->id.b[i]);
    }
    n = EVP_EncodeBlock(b64, (const unsigned char *)uri, (int)strlen(uri));
    if (n <= 0 || (size_t)n >= sizeof b64) return 0;
    (void)snprintf(line, sizeof line, "Arca key %s: the private key stays in the Arca appliance.\n", uri);
    return write_all(p, out, line) && write_all(p, out, "-----BEGIN ARCA KEY URI-----\n") &&
           write_all(p, out, (const char *)b64) && write_all(p, out, "\n-----END ARCA KEY URI-----\n");
}

const OSSL_DISPATCH arca_prov_encoder_functions[] = {
    {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx},
    {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx},
    {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))enc_does_selection},
    {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))enc_encode},
    {0, NULL},
};
