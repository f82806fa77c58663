/* Fuzz target: OCI image layouts and registry manifests (image/oci.c): the
 * index, a nested index, manifests and configs, opened as `hpcimg convert
 * oci:DIR[:TAG]` opens them and as `hpcimg pull` does from its blob cache
 * (an index picked by platform, a manifest by digest).
 *
 * Input: the layout's index.json, then blobs, separated by
 * "\n--blob--\n". Each blob is stored under its own digest; the text
 * "sha256:@N@" in a blob or the index stands for the digest of blob N
 * (1 = the first blob), and "@N@" for its size, so that the inputs can
 * point at each other. A blob can only point at later blobs. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "image/digest.h"
#include "image/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_PARTS 6

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

struct blob {
    char *text;
    size_t len;
    char digest[HR_DIGEST_LEN + 1];
};

/* part with "sha256:@N@" and "@N@" replaced for the blobs after index i */
static char *substitute(const struct fuzz_part *part, const struct blob *blobs, size_t i,
                        size_t n, size_t *len)
{
    size_t cap = part->n * 2 + 256, o = 0;
    char *out = hr_xmalloc(cap);

    for (size_t k = 0; k < part->n;) {
        const char *p = (const char *)part->data + k;
        size_t left = part->n - k, j;
        char size[32];
        int skip = 0;
        const char *with = NULL;

        if (left >= 3 && p[0] == '@' && p[2] == '@' && p[1] > '0' && p[1] <= '9' &&
            (j = (size_t)(p[1] - '0')) > i && j < n) {
            bool is_digest = o >= 7 && memcmp(out + o - 7, "sha256:", 7) == 0;
            if (is_digest) {
                o -= 7;
                with = blobs[j].digest;
            } else {
                snprintf(size, sizeof(size), "%zu", blobs[j].len);
                with = size;
            }
            skip = 3;
        }
        if (o + 128 > cap)
            out = hr_xrealloc(out, cap *= 2);
        if (with) {
            o += (size_t)sprintf(out + o, "%s", with);
            k += (size_t)skip;
        } else {
            out[o++] = *p;
            k++;
        }
    }
    *len = o;
    return out;
}

/* A fresh image as convert.c's source_open starts one. */
static struct hr_oci_image *image_new(struct hr_oci_image *img)
{
    memset(img, 0, sizeof(*img));
    img->reference = hr_xstrdup("oci:fuzz");
    return img;
}

static void open_all(const char *dir, struct blob *blobs, size_t n)
{
    struct hr_oci_image img;
    char *index = blobs[0].text;

    /* what convert_to relies on of an opened image */
    if (hr_oci_layout_open(image_new(&img), dir, NULL, NULL) == 0 &&
        (!img.platform || (img.n_layers && !img.layers[0].path)))
        abort();
    hr_oci_image_free(&img);
    (void)hr_oci_layout_open(image_new(&img), dir, "latest", "linux/amd64");
    hr_oci_image_free(&img);
    if (n > 1) {
        (void)hr_oci_manifest_open(image_new(&img), dir, blobs[1].digest,
                                   "application/vnd.oci.image.manifest.v1+json");
        hr_oci_image_free(&img);
    }
    /* hpcimg pull: an index from the registry, parsed as text */
    index[blobs[0].len] = '\0';
    json_decref(hr_oci_index_pick(index, NULL, "index"));
    json_decref(hr_oci_index_pick(index, "linux/arm64/v8", "index"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[MAX_PARTS];
    struct blob blobs[MAX_PARTS] = {0};
    size_t n = fuzz_split(data, size, "\n--blob--\n", parts, MAX_PARTS);
    const char *dir = fuzz_scratch();

    for (size_t i = n; i-- > 0;) {
        blobs[i].text = substitute(&parts[i], blobs, i, n, &blobs[i].len);
        hr_sha256_buf(blobs[i].text, blobs[i].len, blobs[i].digest);
        char name[128];
        if (i == 0)
            snprintf(name, sizeof(name), "index.json");
        else
            snprintf(name, sizeof(name), "blobs/sha256/%s", blobs[i].digest + 7);
        free(fuzz_write(name, blobs[i].text, blobs[i].len));
    }
    open_all(dir, blobs, n);
    for (size_t i = 0; i < n; i++)
        free(blobs[i].text);
    return 0;
}
