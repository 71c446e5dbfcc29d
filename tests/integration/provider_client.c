/* test_provider_openssl.sh's C program: load the arca provider (unless
 * ARCA_PROVIDER_NO_LOAD is set: then OPENSSL_CONF loads it), open a key by
 * URI through OSSL_STORE, sign with EVP_DigestSign, verify the signature
 * with the public key PEM (default provider). Prints "signed and verified".
 * Usage: provider_client URI PUBKEY.pem */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "provider_client: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 1;
}

int main(int argc, char **argv)
{
    static const unsigned char msg[] = "message signed by an Arca key";
    EVP_PKEY *key = NULL, *pub = NULL;
    OSSL_STORE_CTX *st;
    EVP_MD_CTX *md;
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;
    const char *mdname;
    FILE *f;
    if (argc != 3) return die("usage: provider_client URI PUBKEY.pem");
    if (getenv("ARCA_PROVIDER_NO_LOAD") == NULL) {
        if (OSSL_PROVIDER_load(NULL, "arca") == NULL || OSSL_PROVIDER_load(NULL, "default") == NULL)
            return die("OSSL_PROVIDER_load");
    }
    st = OSSL_STORE_open(argv[1], NULL, NULL, NULL, NULL);
    if (st == NULL) return die("OSSL_STORE_open");
    while (key == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    if (key == NULL) return die("no private key in the store");
    mdname = EVP_PKEY_is_a(key, "ED25519") ? NULL : "SHA256";
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit_ex(md, NULL, mdname, NULL, NULL, key, NULL) != 1 ||
        EVP_DigestSign(md, sig, &sig_len, msg, sizeof msg) != 1)
        return die("EVP_DigestSign");
    EVP_MD_CTX_free(md);
    if ((f = fopen(argv[2], "r")) == NULL) return die("open public key");
    pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pub == NULL) return die("read public key");
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestVerifyInit_ex(md, NULL, mdname, NULL, "provider=default", pub, NULL) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, msg, sizeof msg) != 1)
        return die("verification with the default provider failed");
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    printf("signed and verified\n");
    return 0;
}
