/* Writes the generated seed files of the fuzz corpora:
 *   fuzz_make_corpus <fuzz/corpus directory>
 * local_proto, start_params, sealed_blob, image_sig, evidence and
 * key_deserialize get a few real encodings each (made by the project's own
 * encoders, sealing backend and signer, against the fixtures in
 * fuzz_fixtures.h), and a few that are valid but refused for a reason the
 * target checks (higher SVN, wrong purpose, other image, other report
 * data). Seeds for config are written by hand. Files are overwritten; the
 * blobs and signatures contain fresh randomness on every run, so only
 * regenerate when a format or fixture changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <p11-kit/pkcs11.h>

#include "arca/channel.h"
#include "arca/image_sig.h"
#include "arca/local_proto.h"
#include "arca/sealing.h"
#include "arca/secret.h"
#include "crypto.h"
#include "fuzz_fixtures.h"

static const char *g_root;

static void write_seed(const char *target, const char *name, const uint8_t *prefix, size_t prefix_len,
                       const uint8_t *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_root, target);
    CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/%s/%s", g_root, target, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(prefix_len == 0 || fwrite(prefix, 1, prefix_len, f) == prefix_len);
    CHECK(len == 0 || fwrite(data, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

static void write_builder(const char *target, const char *name, const uint8_t *prefix, size_t prefix_len,
                          arca_builder *b)
{
    uint8_t *out = NULL;
    size_t len = 0;
    bool secret = b->secret;
    CHECK(arca_builder_finish(b, &out, &len) == ARCA_OK);
    write_seed(target, name, prefix, prefix_len, out, len);
    if (secret)
        arca_secmem_free(out);
    else
        free(out);
}

static arca_lp_bytes B(const char *s)
{
    return (arca_lp_bytes){(const uint8_t *)s, strlen(s)};
}

/* ---- local_proto: byte 0 even = request; odd = response, byte 1 = op ---- */

static void request_seed(const char *name, const arca_lp_request *r)
{
    static const uint8_t prefix[1] = {0};
    arca_builder b;
    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_lp_request_encode(r, &b) == ARCA_OK);
    write_builder("local_proto", name, prefix, 1, &b);
}

static void response_seed(const char *name, uint16_t op, arca_builder *b)
{
    const uint8_t prefix[2] = {1, (uint8_t)op};
    write_builder("local_proto", name, prefix, 2, b);
}

static void local_proto_seeds(void)
{
    static const uint8_t v1[] = {1}, v2[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    static const uint8_t iv[12] = {1, 2, 3}, data[48] = {7}, sig[64] = {8};
    arca_lp_request r;

    memset(&r, 0, sizeof r);
    r.op = ARCA_LP_LOGIN;
    r.partition = B("tenant-a");
    r.role = 2;
    r.pin = B("user-pin-1234");
    request_seed("req_login", &r);

    memset(&r, 0, sizeof r);
    r.op = ARCA_LP_GENERATE_KEY_PAIR;
    r.mech_type = CKM_EC_KEY_PAIR_GEN;
    r.tmpl.attrs[0] = (arca_lp_attr){CKA_EC_PARAMS, v2, sizeof v2};
    r.tmpl.attrs[1] = (arca_lp_attr){CKA_VERIFY, v1, sizeof v1};
    r.tmpl.num = 2;
    r.tmpl2.attrs[0] = (arca_lp_attr){CKA_SIGN, v1, sizeof v1};
    r.tmpl2.attrs[1] = (arca_lp_attr){CKA_LABEL, (const uint8_t *)"k", 1};
    r.tmpl2.num = 2;
    request_seed("req_generate_key_pair", &r);

    memset(&r, 0, sizeof r);
    r.op = ARCA_LP_VERIFY;
    memset(r.id, 0xaa, sizeof r.id);
    r.mech.type = CKM_RSA_PKCS_PSS;
    r.mech.hash = CKM_SHA256;
    r.mech.mgf = CKG_MGF1_SHA256;
    r.mech.salt_len = 32;
    r.data = (arca_lp_bytes){data, sizeof data};
    r.sig = (arca_lp_bytes){sig, sizeof sig};
    request_seed("req_verify", &r);

    memset(&r, 0, sizeof r);
    r.op = ARCA_LP_ENCRYPT;
    memset(r.id, 0xbb, sizeof r.id);
    r.mech.type = CKM_AES_GCM;
    r.mech.tag_bits = 128;
    r.mech.iv = (arca_lp_bytes){iv, sizeof iv};
    r.mech.aad = B("aad");
    r.data = (arca_lp_bytes){data, sizeof data};
    request_seed("req_encrypt", &r);

    memset(&r, 0, sizeof r);
    r.op = ARCA_LP_FIND;
    r.tmpl.attrs[0] = (arca_lp_attr){CKA_LABEL, (const uint8_t *)"label", 5};
    r.tmpl.num = 1;
    r.value = 100;
    request_seed("req_find", &r);

    memset(&r, 0, sizeof r);
    r.op = ARCA_LP_RANDOM;
    r.value = 32;
    request_seed("req_random", &r);

    memset(&r, 0, sizeof r);
    r.op = ARCA_LP_STATUS;
    request_seed("req_status", &r);

    arca_builder b;
    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_lp_response_error(&b, ARCA_ERR_PIN_INCORRECT, NULL) == ARCA_OK);
    response_seed("resp_error", ARCA_LP_LOGIN, &b);

    uint8_t id[ARCA_LP_ID_LEN];
    memset(id, 0xcc, sizeof id);
    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_lp_response_begin(&b) == ARCA_OK);
    CHECK(arca_builder_add_bytes(&b, id, sizeof id) == ARCA_OK);
    CHECK(arca_builder_add_bytes(&b, id, sizeof id) == ARCA_OK);
    response_seed("resp_id_pair", ARCA_LP_GENERATE_KEY_PAIR, &b);

    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_lp_response_begin(&b) == ARCA_OK);
    CHECK(arca_builder_add_u32_prefixed(&b, sig, sizeof sig) == ARCA_OK);
    response_seed("resp_bytes", ARCA_LP_SIGN, &b);

    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_lp_response_begin(&b) == ARCA_OK);
    CHECK(arca_builder_add_u32(&b, 2) == ARCA_OK);
    CHECK(arca_builder_add_bytes(&b, id, sizeof id) == ARCA_OK);
    CHECK(arca_builder_add_bytes(&b, id, sizeof id) == ARCA_OK);
    response_seed("resp_ids", ARCA_LP_FIND, &b);

    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_lp_response_begin(&b) == ARCA_OK);
    CHECK(arca_builder_add_u32(&b, 2) == ARCA_OK);
    CHECK(arca_builder_add_u16_prefixed(&b, "sealing", 7) == ARCA_OK);
    CHECK(arca_builder_add_u16_prefixed(&b, "dev", 3) == ARCA_OK);
    CHECK(arca_builder_add_u16_prefixed(&b, "objects", 7) == ARCA_OK);
    CHECK(arca_builder_add_u16_prefixed(&b, "12", 2) == ARCA_OK);
    response_seed("resp_pairs", ARCA_LP_STATUS, &b);

    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_lp_response_begin(&b) == ARCA_OK);
    CHECK(arca_builder_add_u64(&b, 12345) == ARCA_OK);
    response_seed("resp_u64", ARCA_LP_AUDIT_VERIFY, &b);
}

/* ---- start_params ---- */

static void start_params_seeds(void)
{
    static const uint8_t sig[] = "ARCASIG1 not really a signature";
    arca_start_params p = {.sealing_mode = "dev",
                           .state_dir = "/var/lib/arca",
                           .image_sig = sig,
                           .image_sig_len = sizeof sig - 1,
                           .cache_bytes = 64u << 20,
                           .max_connections = 256,
                           .initialise_platform = 0};
    arca_builder b;
    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_start_params_encode(&p, &b) == ARCA_OK);
    write_builder("start_params", "start", NULL, 0, &b);

    p.sealing_mode = "tpm";
    p.state_dir = "";
    p.image_sig = NULL;
    p.image_sig_len = 0;
    p.initialise_platform = 1;
    p.tpm_tcti = "swtpm:path=/run/swtpm/tpm.sock";
    p.tpm_pcr = 15;
    CHECK(arca_builder_init(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_start_params_encode(&p, &b) == ARCA_OK);
    write_builder("start_params", "init_empty", NULL, 0, &b);
}

/* ---- sealed_blob ---- */

static void seal_seed(arca_sealing *s, const char *name, uint16_t purpose, size_t pt_len)
{
    uint8_t pt[256];
    CHECK(pt_len <= sizeof pt);
    for (size_t i = 0; i < pt_len; i++) pt[i] = (uint8_t)(i * 7 + 1);
    arca_blob_meta meta;
    memset(&meta, 0, sizeof meta);
    memcpy(meta.object_id, FUZZ_OBJECT_ID, ARCA_OBJECT_ID_LEN);
    meta.object_version = 3;
    meta.purpose = purpose;
    uint8_t *blob = NULL;
    size_t len = 0;
    CHECK(arca_sealing_seal(s, &meta, FUZZ_AAD, sizeof FUZZ_AAD, pt, pt_len, &blob, &len) == ARCA_OK);
    write_seed("sealed_blob", name, NULL, 0, blob, len);
    free(blob);
}

static void sealed_blob_seeds(void)
{
    arca_sealing *s = fuzz_open_dev_sealing(FUZZ_SVN);
    seal_seed(s, "object_32", FUZZ_PURPOSE, 32);
    seal_seed(s, "object_1", FUZZ_PURPOSE, 1);
    seal_seed(s, "other_purpose", ARCA_SEAL_STATE, 16);
    arca_sealing_free(s);
    s = fuzz_open_dev_sealing(FUZZ_SVN - 2); /* readable with an older key */
    seal_seed(s, "older_svn", FUZZ_PURPOSE, 200);
    arca_sealing_free(s);
    s = fuzz_open_dev_sealing(FUZZ_SVN + 1); /* refused: ARCA_ERR_SVN */
    seal_seed(s, "newer_svn", FUZZ_PURPOSE, 16);
    arca_sealing_free(s);
}

/* ---- image_sig ---- */

static void sign_seed(const char *key, const char *name, const uint8_t *image, size_t image_len, bool debug)
{
    uint8_t *sig = NULL;
    size_t len = 0;
    CHECK(arca_image_sign(image, image_len, key, 1, 3, debug, &sig, &len) == ARCA_OK);
    write_seed("image_sig", name, NULL, 0, sig, len);
    free(sig);
}

static void image_sig_seeds(void)
{
    char dir[] = "/tmp/arca-fuzz-sign-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char key[sizeof dir + 16];
    snprintf(key, sizeof key, "%s/signer.pem", dir);
    CHECK(arca_image_signer_genkey(key) == ARCA_OK);
    static const uint8_t other[] = "another image";
    sign_seed(key, "signed", FUZZ_IMAGE, sizeof FUZZ_IMAGE, false);
    sign_seed(key, "signed_debug", FUZZ_IMAGE, sizeof FUZZ_IMAGE, true);
    sign_seed(key, "other_image", other, sizeof other, false);
    fuzz_remove_dir(dir);
}

/* ---- evidence ---- */

static void evidence_seeds(void)
{
    arca_sealing *s = fuzz_open_dev_sealing(FUZZ_SVN);
    uint8_t *ev = NULL;
    size_t len = 0;
    CHECK(arca_sealing_evidence_create(s, FUZZ_REPORT_DATA, &ev, &len) == ARCA_OK);
    write_seed("evidence", "dev", NULL, 0, ev, len);
    free(ev);
    uint8_t rd[ARCA_REPORT_DATA_LEN];
    memset(rd, 0x5a, sizeof rd);
    CHECK(arca_sealing_evidence_create(s, rd, &ev, &len) == ARCA_OK);
    write_seed("evidence", "other_report_data", NULL, 0, ev, len);
    free(ev);
    arca_sealing_free(s);
}

/* ---- key_deserialize ---- */

static void key_seed(const char *name, arca_key *k)
{
    arca_builder b;
    CHECK(k != NULL);
    CHECK(arca_builder_init_secret(&b, 0, 1u << 20) == ARCA_OK);
    CHECK(arca_key_serialize(k, &b) == ARCA_OK);
    write_builder("key_deserialize", name, NULL, 0, &b);
    arca_key_free(k);
}

static void key_seeds(void)
{
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    arca_key *k = NULL, *pub = NULL;

    CHECK(arca_key_generate_secret(CKK_AES, 32, &k) == ARCA_OK);
    key_seed("aes256", k);
    CHECK(arca_key_generate_secret(CKK_GENERIC_SECRET, 64, &k) == ARCA_OK);
    key_seed("generic64", k);
    CHECK(arca_key_generate_ec(p256, sizeof p256, &k) == ARCA_OK);
    key_seed("ec_p256_private", k);
    CHECK(arca_key_generate_ec(p384, sizeof p384, &k) == ARCA_OK);
    CHECK(arca_key_public_from_private(k, &pub) == ARCA_OK);
    arca_key_free(k);
    key_seed("ec_p384_public", pub);
    CHECK(arca_key_generate_ed25519(&k) == ARCA_OK);
    key_seed("ed25519_private", k);
    CHECK(arca_key_generate_rsa(2048, &k) == ARCA_OK);
    CHECK(arca_key_public_from_private(k, &pub) == ARCA_OK);
    key_seed("rsa2048_private", k);
    key_seed("rsa2048_public", pub);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <fuzz/corpus directory>\n", argv[0]);
        return 2;
    }
    g_root = argv[1];
    local_proto_seeds();
    start_params_seeds();
    sealed_blob_seeds();
    image_sig_seeds();
    evidence_seeds();
    key_seeds();
    return 0;
}
