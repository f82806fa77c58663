/* SHA-256 digests in the OCI form "sha256:<64 hex digits>" (OpenSSL). */
#ifndef HR_DIGEST_H
#define HR_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define HR_DIGEST_LEN (7 + 64) /* "sha256:" + hex, without the NUL */

struct hr_sha256 {
    void *ctx; /* EVP_MD_CTX */
};

int hr_sha256_init(struct hr_sha256 *h);
void hr_sha256_update(struct hr_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out and frees the context. */
void hr_sha256_final(struct hr_sha256 *h, char out[HR_DIGEST_LEN + 1]);
void hr_sha256_free(struct hr_sha256 *h);
void hr_sha256_buf(const void *data, size_t len, char out[HR_DIGEST_LEN + 1]);

/* True for "sha256:" followed by exactly 64 lowercase hex digits: the only
 * form hpcimg accepts, so a digest can name a file under blobs/sha256/. */
bool hr_digest_valid(const char *digest);

#endif
