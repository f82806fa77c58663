/* Blobs from a registry into the blob cache, verified, a few at a time. */
#ifndef HR_BLOBFETCH_H
#define HR_BLOBFETCH_H

#include <stddef.h>

#include "registry/registry.h"

struct hr_blob {
    const char *digest; /* "sha256:..." */
    long long size;     /* from the descriptor (hr_oci_descriptor_size); -1: unknown */
};

/* Download each blob of want into BLOBS/<hex> (BLOBS: the cache's
 * blobs/sha256), `parallel` at a time, resuming partial files. A blob whose
 * content does not match its digest is an error naming the digest and is
 * not kept. Returns 0 or -1 (logged). */
int hr_blobs_fetch(struct hr_registry *r, const char *blobs, const struct hr_blob *want,
                   size_t n, unsigned parallel);

#endif
