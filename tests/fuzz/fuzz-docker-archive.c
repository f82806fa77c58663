/* Fuzz target: `docker save` archives (image/tarfile.c, image/oci.c), as
 * `hpcimg convert docker-archive:FILE` opens them: the tar index, then
 * manifest.json, the config and the layers it names; the layers of a
 * compressed archive are streamed from it.
 *
 * Input: an archive as it is (a tar, or a gzip, zstd, xz or bzip2 stream),
 * or else the text of manifest.json followed by further members, each
 * "\n--file--\nNAME\nCONTENT", which are written into a tar first (so that
 * the fuzzer works on the JSON rather than on tar checksums). */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "image/oci.h"
#include "image/tarfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_MEMBERS 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static bool is_archive(const uint8_t *d, size_t n)
{
    return (n >= 262 && memcmp(d + 257, "ustar", 5) == 0) ||
           (n >= 2 && d[0] == 0x1f && d[1] == 0x8b) ||
           (n >= 4 && memcmp(d, "\x28\xb5\x2f\xfd", 4) == 0) ||
           (n >= 6 && memcmp(d,
                             "\xfd"
                             "7zXZ\0",
                             6) == 0) ||
           (n >= 3 && memcmp(d, "BZh", 3) == 0);
}

static void add_member(struct archive *a, const char *name, const void *data, size_t n)
{
    struct archive_entry *e = archive_entry_new();
    int rc;

    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    /* a name the tar format cannot hold is left out (ARCHIVE_FAILED) */
    rc = archive_write_header(a, e);
    if (rc == ARCHIVE_FATAL || (rc >= ARCHIVE_WARN && archive_write_data(a, data, n) < 0))
        abort();
    archive_entry_free(e);
}

/* The members of parts as a tar in the scratch directory. */
static char *tar_of(const struct fuzz_part *parts, size_t n)
{
    size_t cap = 64 * 1024, used = 0;
    struct archive *a = archive_write_new();
    hr_autofree char *buf = NULL;

    for (size_t i = 0; i < n; i++)
        cap += parts[i].n + 3 * 512;
    buf = hr_xmalloc(cap);
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
        abort();
    add_member(a, "manifest.json", parts[0].data, parts[0].n);
    for (size_t i = 1; i < n; i++) {
        const uint8_t *nl = memchr(parts[i].data, '\n', parts[i].n);
        size_t name_len = nl ? (size_t)(nl - parts[i].data) : parts[i].n;
        hr_autofree char *name = fuzz_strndup(parts[i].data, name_len);
        if (!*name || strlen(name) != name_len)
            continue; /* no member has that name */
        add_member(a, name, parts[i].data + name_len + (nl != NULL),
                   parts[i].n - name_len - (nl != NULL));
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        abort();
    archive_write_free(a);
    return fuzz_write("image.tar", buf, used);
}

/* What convert.c does with the layers of a compressed archive: stream each. */
static void stream_layers(struct hr_oci_image *img)
{
    char buf[4096];

    for (size_t i = 0; i < img->n_layers; i++) {
        if (!img->layers[i].member)
            continue;
        if (hr_tarfile_begin(img->archive, img->layers[i].member) < 0)
            return;
        for (ssize_t got; (got = hr_tarfile_read(img->archive, buf, sizeof(buf))) != 0;)
            if (got < 0)
                return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[MAX_MEMBERS];
    struct hr_oci_image img = {0};
    hr_autofree char *path = NULL;

    fuzz_scratch();
    if (is_archive(data, size))
        path = fuzz_write("image.tar", data, size);
    else
        path = tar_of(parts, fuzz_split(data, size, "\n--file--\n", parts, MAX_MEMBERS));
    img.reference = hr_xasprintf("docker-archive:%s", path);
    if (hr_docker_archive_open(&img, path) == 0) {
        if (!img.platform || !img.config_digest)
            abort();
        if (img.archive)
            stream_layers(&img);
    }
    hr_oci_image_free(&img);
    return 0;
}
