/* Image sources for hpcimg: an OCI image layout directory, a `docker save`
 * archive. Index, manifest and config are read with jansson and checked
 * against their sha256 digests before anything in them is used. */
#ifndef HR_OCI_H
#define HR_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct hr_tarfile;
struct hr_tar_member;

struct hr_oci_layer {
    char *path;    /* file holding the blob */
    off_t offset;  /* where the blob starts in it */
    off_t size;    /* its length, -1: to the end */
    char *digest;  /* digest of the stored blob, or NULL (not known) */
    char *diff_id; /* digest of the uncompressed tar, from the config */
    /* the blob is this member of the image's compressed archive, streamed
     * from it (offset does not apply), or NULL */
    const struct hr_tar_member *member;
};

struct hr_oci_image {
    char *reference;       /* the SRC as given */
    char *manifest_digest; /* NULL if the source has none (docker-archive) */
    char *config_digest;
    char *platform;  /* os/arch[/variant] from the config */
    int64_t created; /* the config's "created", seconds since the epoch; 0 if absent */
    json_t *config;  /* the config's "config" object (may be NULL) */
    struct hr_oci_layer *layers; /* bottom layer first, as in the manifest */
    size_t n_layers;
    struct hr_tarfile *archive; /* a compressed docker-archive, kept open */
};

/* The largest blob a descriptor may announce: above the largest layers
 * images really ship (tens of GiB), and a bound on what one manifest can
 * make a pull write to disk. */
#define HR_BLOB_SIZE_MAX (1LL << 40)

/* The "size" of descriptor desc, checked: 0 and *size (-1 when the
 * descriptor has none and is_required is false), or -1 (logged, naming the
 * descriptor by its digest) when it is missing but required, not an
 * integer, negative or over max. A download is capped at this size, so a
 * negative one must not pass for "unknown". */
int hr_oci_descriptor_size(json_t *desc, bool is_required, long long max,
                           long long *size);

/* "oci:" source: DIR with an optional TAG (org.opencontainers.image.ref.name).
 * Without TAG, the layout must hold one image, or one for the platform; a
 * multi-platform index resolves to the platform. platform: "os/arch" or
 * "os/arch/variant"; NULL: this host's, and a lone image of another
 * platform is accepted. Returns 0 or -1 (logged). */
int hr_oci_layout_open(struct hr_oci_image *img, const char *dir, const char *tag,
                       const char *platform);

/* An image whose blobs lie in DIR/blobs/sha256/ (an OCI layout or the
 * registry client's blob cache), from its manifest's digest. media_type:
 * the manifest's type when the manifest does not say (umoci omits it), or
 * NULL. Returns 0 or -1 (logged). */
int hr_oci_manifest_open(struct hr_oci_image *img, const char *dir, const char *digest,
                         const char *media_type);

/* The descriptor for platform (NULL: this host's, and a lone manifest of
 * another platform is accepted) from the text of an image index or Docker
 * manifest list. what names it in messages. A new reference, or NULL
 * (logged). */
json_t *hr_oci_index_pick(const char *text, const char *platform, const char *what);

/* "docker-archive:" source: the tar written by `docker save` (the classic
 * manifest.json layout, which newer Docker versions still write), as it is
 * or compressed (`docker save IMG | gzip`, zstd, xz, ...: see tarfile.h
 * for what reading a compressed one costs). */
int hr_docker_archive_open(struct hr_oci_image *img, const char *file);

void hr_oci_image_free(struct hr_oci_image *img);

/* Parse an RFC 3339 time ("2024-05-01T12:00:00.5Z", "...+02:00"). -1 if not. */
int hr_rfc3339_parse(const char *s, int64_t *out);

/* The host's platform in OCI terms, e.g. "linux/amd64". */
const char *hr_host_platform(void);

#endif
