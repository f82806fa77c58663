/* SHA-256 through OpenSSL's EVP interface. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "image/digest.h"
#include "common/log.h"
#include "common/util.h"

int hr_sha256_init(struct hr_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    h->ctx = NULL;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        hr_err("sha256: cannot initialise OpenSSL digest");
        return -1;
    }
    h->ctx = ctx;
    return 0;
}

void hr_sha256_update(struct hr_sha256 *h, const void *data, size_t len)
{
    if (h->ctx && len)
        EVP_DigestUpdate(h->ctx, data, len);
}

void hr_sha256_final(struct hr_sha256 *h, char out[HR_DIGEST_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (h->ctx)
        EVP_DigestFinal_ex(h->ctx, md, &n);
    memcpy(out, "sha256:", 7);
    hr_hex_encode(md, n < 32 ? n : 32, out + 7);
    hr_sha256_free(h);
}

void hr_sha256_free(struct hr_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void hr_sha256_buf(const void *data, size_t len, char out[HR_DIGEST_LEN + 1])
{
    struct hr_sha256 h;

    if (hr_sha256_init(&h) < 0) {
        out[0] = '\0';
        return;
    }
    hr_sha256_update(&h, data, len);
    hr_sha256_final(&h, out);
}

bool hr_digest_valid(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != HR_DIGEST_LEN)
        return false;
    for (d += 7; *d; d++)
        if (!((*d >= '0' && *d <= '9') || (*d >= 'a' && *d <= 'f')))
            return false;
    return true;
}
