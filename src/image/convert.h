/* hpcimg's conversion: one source (OCI layout, docker save archive or plain
 * directory) to one SquashFS file, published atomically. */
#ifndef HR_CONVERT_H
#define HR_CONVERT_H

#include <stddef.h>

struct hr_convert_opts {
    const char *comp;     /* compressor name */
    unsigned level;       /* compression level, 0: the compressor's default */
    size_t block_size;    /* 0: 128 KiB */
    unsigned threads;     /* compression workers */
    const char *platform; /* "os/arch[/variant]" to pick from an index, or NULL */
};

/* src: "oci:DIR[:TAG]", "docker-archive:FILE" or "dir:DIR". dest is written
 * through a temporary file in its directory, synced, and renamed into place
 * only when complete; on failure or SIGINT/SIGTERM/SIGHUP nothing is left
 * and an existing dest is untouched. Returns 0 or -1 (logged). */
int hr_convert(const char *src, const char *dest, const struct hr_convert_opts *o);

struct hr_oci_image;
/* The same for an image already opened (hpcimg pull: from the blob cache).
 * img->reference and manifest_digest go to /.hpcrun/source.json. */
int hr_convert_image(const struct hr_oci_image *img, const char *dest,
                     const struct hr_convert_opts *o);

#endif
