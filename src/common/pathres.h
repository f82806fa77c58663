/* Path safety: resolve a path from an image *inside* a root, the way the
 * kernel would after chroot(2), without ever leaving that root. Absolute
 * symlinks restart at the root and ".." stops at it, so "/mnt/x -> /etc" or
 * "x -> ../../../etc" can only name something in the container.
 *
 * The resolver is pure: it walks the tree through a lookup callback, so the
 * same code resolves paths in a SquashFS image before it is mounted (plan),
 * in the mounted root just before each mount (root), and in unit tests. */
#ifndef HR_PATHRES_H
#define HR_PATHRES_H

#include <stddef.h>

enum hr_node_type { HR_NODE_MISSING, HR_NODE_DIR, HR_NODE_SYMLINK, HR_NODE_OTHER };

/* Look up path (absolute, relative to the root, symlink-free except possibly
 * its last component, which is not followed). For a symlink, put its target in
 * target (NUL-terminated, at most targetlen bytes). Return the type, or a
 * negative errno for an I/O error. */
typedef int (*hr_lookup_fn)(void *ctx, const char *path, char *target, size_t targetlen);

struct hr_resolved {
    char *path;             /* container path, every existing component resolved */
    size_t n_missing;       /* how many trailing components of path do not exist */
    enum hr_node_type last; /* type of the final component (MISSING if absent) */
};

/* Returns 0, -ELOOP (more than 40 links), -ENOTDIR (a non-directory in the
 * middle), -EINVAL (path not absolute) or another negative errno from lookup. */
int hr_resolve_in_root(const char *path, hr_lookup_fn lookup, void *ctx,
                       struct hr_resolved *out);

/* A lookup callback over a directory of the running system (lstat+readlink
 * below root, which must itself be symlink-free). ctx is the root path. */
int hr_lookup_host_dir(void *ctx, const char *path, char *target, size_t targetlen);

#endif
