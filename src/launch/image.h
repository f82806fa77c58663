/* Step 5, image, part one: open and validate a SquashFS file and read its
 * metadata, before any namespace exists (the plan reads it). imagefs.h
 * serves it over FUSE. */
#ifndef HR_IMAGE_H
#define HR_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/util.h"

/* The subset of an OCI image config that hpcrun applies
 * (/.hpcrun/config.json, written by hpcimg). */
struct hr_image_config {
    struct hr_strv env;
    struct hr_strv entrypoint;
    struct hr_strv cmd;
    char *workdir;
    char *user;
};

struct sqfs_ll;
struct hr_image {
    char *path;
    unsigned long long offset;
    int fd;
    struct sqfs_ll *ll;
    const char *compression;
    struct stat st; /* of the open file: --join keys, the prolog's record */
    struct hr_image_config config;
    char *passwd; /* the image's /etc/passwd, or NULL */
    char *group;  /* the image's /etc/group, or NULL */
};

/* Parse config.json text. Accepts the fields at the top level or under
 * "config" (as in an OCI image config). Pure. */
int hr_image_config_parse(const char *json, struct hr_image_config *cfg, char *err,
                          size_t errlen);
void hr_image_config_free(struct hr_image_config *cfg);

/* Open path as the caller, check it is a complete SquashFS image, read its
 * metadata. Logs one line and returns -1 on failure. */
int hr_image_open(struct hr_image *img, const char *path, unsigned long long offset);
void hr_image_close(struct hr_image *img);

/* Read a regular file of the image (symlinks resolved inside the image), at
 * most max bytes, NUL-terminated; NULL with errno (ENOENT, EFBIG, EIO). */
char *hr_image_read_file(struct hr_image *img, const char *path, size_t max,
                         size_t *len_out);

/* A regular file of the image read piecewise (ELF headers of the image's
 * libc, say): hr_image_file_pread is an hr_pread_fn with the handle as ctx. */
struct hr_image_file;
struct hr_image_file *hr_image_file_open(struct hr_image *img, const char *path);
ssize_t hr_image_file_pread(void *ctx, void *buf, size_t n, off_t off);
void hr_image_file_close(struct hr_image_file *f);

/* pathres lookup callback over the (unmounted) image; ctx is struct hr_image. */
int hr_image_lookup(void *ctx, const char *path, char *target, size_t targetlen);

#endif
