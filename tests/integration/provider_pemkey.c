/* test_provider_genpkey.sh's C program: read the "ARCA KEY URI" PEM that
 * genpkey wrote with PEM_read_PrivateKey (OSSL_DECODER: arca's decoder
 * looks the key up in the appliance), sign with EVP_DigestSign, verify
 * with the public key PEM by the default provider. Loads arca first, or
 * default first with a third argument "default-first". Prints "signed and
 * verified by <provider of the key>"; on failure OpenSSL's error queue.
 * Usage: provider_pemkey KEY.pem PUBKEY.pem [default-first] */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <stdio.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "provider_pemkey: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 1;
}

int main(int argc, char **argv)
{
    static const unsigned char msg[] = "message signed through an ARCA KEY URI PEM";
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;
    EVP_PKEY *key, *pub;
    EVP_MD_CTX *md;
    const char *mdname;
    FILE *f;
    if (argc < 3) return die("usage: provider_pemkey KEY.pem PUBKEY.pem [default-first]");
    if (argc > 3 && strcmp(argv[3], "default-first") == 0) {
        if (OSSL_PROVIDER_load(NULL, "default") == NULL || OSSL_PROVIDER_load(NULL, "arca") == NULL)
            return die("OSSL_PROVIDER_load");
    } else if (OSSL_PROVIDER_load(NULL, "arca") == NULL || OSSL_PROVIDER_load(NULL, "default") == NULL) {
        return die("OSSL_PROVIDER_load");
    }
    if ((f = fopen(argv[1], "r")) == NULL) return die("open key");
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL) return die("PEM_read_PrivateKey");
    if ((f = fopen(argv[2], "r")) == NULL) return die("open public key");
    pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pub == NULL) return die("read public key");
    mdname = EVP_PKEY_is_a(key, "ED25519") ? NULL : "SHA256";
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit_ex(md, NULL, mdname, NULL, NULL, key, NULL) != 1 ||
        EVP_DigestSign(md, sig, &sig_len, msg, sizeof msg) != 1)
        return die("EVP_DigestSign");
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestVerifyInit_ex(md, NULL, mdname, NULL, "provider=default", pub, NULL) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, msg, sizeof msg) != 1)
        return die("verification with the default provider failed");
    EVP_MD_CTX_free(md);
    printf("signed and verified by %s\n", OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(key)));
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    return 0;
}
