/* Warm launches (DESIGN.md, step 5): an image's FUSE server outlives its
 * last container by a linger time, and a later launch of the same image by
 * the same user on the node reuses its mount, with the kernel's caches of
 * it (pages, dentries, attributes), instead of mounting the image cold.
 *
 * What is shared is the read-only image mount and the user namespace it
 * belongs to (one id map), and only between launches of one user that
 * would have mounted the image alike: the same file (device, inode, size,
 * times), offset, ids inside and ownership reporting, all in the key.
 * What is not shared: every container still builds a mount namespace of its
 * own, with its own binds, overlay, generated files and environment, so
 * containers with different binds or environments never see each other's.
 *
 * The server is found as --join finds a leader (join.h): an abstract socket
 * named "hpcrun-image/UID/" + a MAC of the key under the user's secret, its
 * peer checked to be the same user. It hands over descriptors of its user
 * namespace and of a mount namespace that holds nothing but the image at
 * HR_STAGE_IMAGE; the launch enters the user namespace, makes its own mount
 * namespace and clones the image mount into it (open_tree(2), Linux 5.2;
 * without it every launch is cold). The server counts the launch as one of
 * its containers until it exits, and exits itself once it has had none for
 * the linger time. Nothing lingers past that: SIGKILL ends it at once (the
 * mount goes with it), and `hpcrun --list` shows what lingers. */
#ifndef HR_LINGER_H
#define HR_LINGER_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "launch/join.h"

/* What makes two launches' mounts of an image the same. */
struct hr_linger_key {
    const struct stat *st;     /* the image file */
    unsigned long long offset; /* --offset */
    uid_t uid;                 /* inside: the mount's owner */
    gid_t gid;
    bool is_owned_by_caller; /* every file reported as uid's */
    uid_t host_uid;
};

struct hr_linger {
    int listen_fd;       /* cold: the server's socket, bound for it; -1 */
    int user_ns, mnt_ns; /* warm: the server's namespaces; -1 */
    char name[HR_JOIN_NAME_MAX];
};
#define HR_LINGER_INIT                                                                   \
    {                                                                                    \
        .listen_fd = -1, .user_ns = -1, .mnt_ns = -1                                     \
    }

/* Look for the image's lingering server. 1: found (l->user_ns, l->mnt_ns
 * set; the server now counts this process as a container of its own).
 * 0: none; l->listen_fd is then the name bound for the server this launch
 * forks, or -1 if it could not be had (another launch took it first, no
 * secret, no open_tree): the launch goes cold either way. Never fails: a
 * warm launch only saves time, so what keeps it from one is said at -vv. */
int hr_linger_find(char **env, const struct hr_linger_key *k, struct hr_linger *l);

/* Warm: enter the server's user namespace and a new mount namespace of the
 * launch's own, and clone the server's image mount. Returns the detached
 * mount (hr_mount_attach attaches it in the staging area); HR_LINGER_COLD
 * if the user namespace cannot be entered (nothing was: launch cold); or -1
 * (logged; the launch cannot go on: it is in the user namespace now). */
#define HR_LINGER_COLD (-2)
int hr_linger_enter(struct hr_linger *l);

void hr_linger_close(struct hr_linger *l);

/* What a lingering server holds: the launch's mount namespace (--join
 * members enter it), its user namespace, and the image's own (below). */
struct hr_linger_ns {
    int launch, user, image;
};

/* Server side, in the process that becomes the server, right after the
 * image was mounted at HR_STAGE_IMAGE in the staging area: move to a mount
 * namespace of its own that holds only the image there (so that nothing of
 * the container, its binds or its writable layer, is kept alive by the
 * server), and fill ns. 0, or -1 (warned): the server must not linger. */
int hr_linger_base(struct hr_linger_ns *ns);
void hr_linger_ns_close(struct hr_linger_ns *ns);

/* Server side: answer one connection on listen_fd. A launch (one byte and
 * its pidfd) gets ns->user and ns->image, and its pidfd is returned to
 * watch; a query ("?", as `hpcrun --list` asks) gets status, and -1 is
 * returned, as for a refused or failed connection. */
int hr_linger_accept(int listen_fd, const struct hr_linger_ns *ns, const char *status);

/* `hpcrun --list`: the caller's lingering servers on this node, one line
 * each, to out. Returns how many. */
int hr_linger_list(FILE *out);

#endif
