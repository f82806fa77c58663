/* Step 5, image: open and validate a SquashFS file (also read before any
 * namespace exists, for the plan), and serve it over FUSE from a child
 * process that lives exactly as long as the container. */
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
struct hr_join;
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

/* How hr_image_mount_fuse mounts the image and serves it. */
struct hr_fuse_opts {
    int fuse_fd;            /* an open /dev/fuse: hr_image_mount_fuse closes it */
    const char *mountpoint; /* mounted there read-only */
    uid_t uid;              /* the mount's owner (user_id=, group_id=) */
    gid_t gid;
    /* report every file as owned by uid/gid (for a writable overlay
     * without --fakeroot) */
    bool is_owned_by_caller;
    bool is_parallel;     /* answer reads on worker threads (cores are idle) */
    struct hr_join *join; /* --join: the leader's socket and ready pipe, which
                           * the server takes over; NULL otherwise */
    int devnull_fd;       /* the server's stdin, stdout and stderr */
};

/* Mount the image with FUSE as opts says and fork the server. The server
 * watches its owner (join->owner, else this process) through a pidfd (or,
 * on kernels without pidfd, its PID) and exits when that process is gone,
 * so the mount never outlives the container. Returns 0 or -1 (logged). */
int hr_image_mount_fuse(struct hr_image *img, const struct hr_fuse_opts *opts);

/* --join with a mount that needs no FUSE server (the prolog's kernel mount):
 * fork a server that only hands the namespaces to the other members, and
 * exits with the last container process, as the FUSE server would. */
int hr_image_keep_join(struct hr_join *join, int devnull_fd);

/* Start reading path (in the image, as mounted at mountpoint) into the page
 * cache without waiting for it. A hint: failures are ignored. */
void hr_image_prefetch(const char *mountpoint, const char *path);
/* Whether a prefetch would run on an idle core (read before the staging
 * pivot, while /proc is at hand). */
bool hr_image_prefetch_is_useful(void);

#endif
