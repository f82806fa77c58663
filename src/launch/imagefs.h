/* Step 5, image, part two: serve an open image over FUSE from a child
 * process that lives exactly as long as the container (imagefs.c). */
#ifndef HR_IMAGEFS_H
#define HR_IMAGEFS_H

#include <stdbool.h>
#include <sys/types.h>

#include "launch/image.h"

struct hr_join;

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
    /* warm launches (linger.h): the image's socket, bound for the server,
     * which then takes it (-1: exit with the last container), how long the
     * server lingers after its last container, and the image as --list
     * shows it */
    int linger_fd;
    int linger_s;
    const char *image_path;
};

/* Mount the image with FUSE as opts says and fork the server. The server
 * watches its owner (join->owner, else this process) through a pidfd (or,
 * on kernels without pidfd, its PID), and every container that joined it
 * since, and exits when they are gone (with a linger socket: once it has
 * had none for the linger time), so the mount never outlives its
 * containers unnoticed. Returns 0 or -1 (logged). */
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
