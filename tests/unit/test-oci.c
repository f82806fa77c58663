/* hpcimg's small pure helpers: RFC 3339 times, digest syntax, SHA-256; and
 * what an OCI layout's JSON blobs must be before they are used: bytes that
 * match their digest whole (a NUL does not end them) and descriptors whose
 * sizes can cap a download. */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/digest.h"
#include "image/oci.h"
#include "unit.h"

static char layout[] = "/tmp/test-oci.XXXXXX";

/* Store len bytes as a blob of the layout named by `name` (a digest), or by
 * their own digest when name is NULL; the name used lands in out. */
static void put_blob(const char *data, size_t len, const char *name,
                     char out[HR_DIGEST_LEN + 1])
{
    char *path;
    int fd;

    if (name)
        snprintf(out, HR_DIGEST_LEN + 1, "%s", name);
    else
        hr_sha256_buf(data, len, out);
    path = hr_xasprintf("%s/blobs/sha256/%s", layout, out + 7);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
    if (fd >= 0)
        close(fd);
    free(path);
}

/* A manifest of one layer whose descriptor says layer_size, over a config
 * blob; its digest lands in out. */
static void put_manifest(const char *config_digest, size_t config_len,
                         const char *layer_size, char out[HR_DIGEST_LEN + 1])
{
    char layer[HR_DIGEST_LEN + 1];
    char *m;

    put_blob("layer", 5, NULL, layer);
    m = hr_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/"
        "vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
        "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
        "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
        "\"size\":%s}]}",
        config_digest, config_len, layer, layer_size);
    put_blob(m, strlen(m), NULL, out);
    free(m);
}

static int open_image(const char *manifest_digest)
{
    struct hr_oci_image img;
    int rc;

    memset(&img, 0, sizeof(img));
    img.reference = hr_xstrdup("test");
    rc = hr_oci_manifest_open(&img, layout, manifest_digest, NULL);
    hr_oci_image_free(&img);
    return rc;
}

static void test_layout_blobs(void)
{
    static const char cfg[] =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":"
        "{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        "\"]}}";
    char cdigest[HR_DIGEST_LEN + 1], mdigest[HR_DIGEST_LEN + 1],
        prefix[HR_DIGEST_LEN + 1];
    char *text, *dirs, *path;

    CHECK(mkdtemp(layout) != NULL);
    dirs = hr_xasprintf("%s/blobs", layout);
    CHECK(mkdir(dirs, 0700) == 0);
    free(dirs);
    dirs = hr_xasprintf("%s/blobs/sha256", layout);
    CHECK(mkdir(dirs, 0700) == 0);
    put_blob(cfg, strlen(cfg), NULL, cdigest);

    put_manifest(cdigest, strlen(cfg), "5", mdigest);
    CHECK(open_image(mdigest) == 0); /* the well-formed layout opens */

    /* Sizes a download could not be capped at. */
    put_manifest(cdigest, strlen(cfg), "-5", mdigest);
    CHECK(open_image(mdigest) < 0);
    put_manifest(cdigest, strlen(cfg), "1125899906842624", mdigest); /* 1 PiB */
    CHECK(open_image(mdigest) < 0);
    put_manifest(cdigest, strlen(cfg), "5.0", mdigest);
    CHECK(open_image(mdigest) < 0);

    /* A manifest with bytes after a NUL, named by the digest of the bytes
     * before it: the digest must cover everything read. */
    put_manifest(cdigest, strlen(cfg), "5", mdigest);
    path = hr_xasprintf("%s/%s", dirs, mdigest + 7);
    text = hr_read_file(path, 1 << 20, NULL);
    free(path);
    CHECK(text != NULL);
    size_t n = strlen(text);
    text = hr_xrealloc(text, n + 8);
    memcpy(text + n, "\0junk!", 7);
    hr_sha256_buf(text, n, prefix);
    put_blob(text, n + 7, prefix, mdigest);
    CHECK(open_image(mdigest) < 0);
    /* ... and named by the digest of all of it: still no JSON text. */
    put_blob(text, n + 7, NULL, mdigest);
    CHECK(open_image(mdigest) < 0);
    free(text);

    /* The same for the config. */
    text = hr_xmalloc(sizeof(cfg) + 7);
    memcpy(text, cfg, sizeof(cfg) - 1);
    memcpy(text + sizeof(cfg) - 1, "\0junk!", 7);
    put_blob(text, sizeof(cfg) - 1 + 7, cdigest, prefix); /* over the config */
    put_manifest(cdigest, sizeof(cfg) - 1 + 7, "5", mdigest);
    CHECK(open_image(mdigest) < 0);
    free(text);

    free(dirs);
    path = hr_xasprintf("rm -rf '%s'", layout);
    CHECK(system(path) == 0);
    free(path);
}

static int64_t t(const char *s)
{
    int64_t v = -42;
    return hr_rfc3339_parse(s, &v) < 0 ? -1 : v;
}

int main(void)
{
    char d[HR_DIGEST_LEN + 1];

    CHECK(t("1970-01-01T00:00:00Z") == 0);
    CHECK(t("2024-03-01T12:00:00Z") == 1709294400);
    CHECK(t("2024-03-01T12:00:00.123456789Z") == 1709294400);
    CHECK(t("2024-03-01T14:00:00+02:00") == 1709294400);
    CHECK(t("2024-03-01T07:30:00-04:30") == 1709294400);
    CHECK(t("2024-03-01 12:00:00Z") == -1);
    CHECK(t("2024-03-01T12:00:00") == -1);
    CHECK(t("2024-03-01T12:00:00Zjunk") == -1);
    CHECK(t("") == -1);

    CHECK(hr_digest_valid(
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(!hr_digest_valid(
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    CHECK(!hr_digest_valid(
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
    CHECK(!hr_digest_valid(
        "sha256:../../../../etc/passwd0000000000000000000000000000000000000000"));
    CHECK(!hr_digest_valid(
        "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(!hr_digest_valid(NULL));

    hr_sha256_buf("", 0, d);
    CHECK(
        strcmp(
            d,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ==
        0);
    hr_sha256_buf("abc", 3, d);
    CHECK(
        strcmp(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
        0);

    CHECK(strncmp(hr_host_platform(), "linux/", 6) == 0);

    test_layout_blobs();

    return unit_done();
}
