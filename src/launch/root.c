#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch/root.h"
#include "common/log.h"
#include "common/pathres.h"
#include "launch/mount.h"
#include "launch/stage.h"

int hr_root_stage(bool is_writable)
{
    static const char *const dirs[] = {HR_STAGE_OLDROOT, HR_STAGE_IMAGE, "/ovl",
                                       HR_STAGE_UPPER,   HR_STAGE_WORK,  HR_STAGE_ROOT,
                                       HR_STAGE_FILES};

    /* Nothing we mount may propagate back to the host's namespace. */
    if (hr_mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return -1;
    /* It holds the generated files and the overlay's upper layer: with
     * --writable-tmpfs everything the application writes to the root, so
     * then it gets tmpfs's default size (half the memory, used as written). */
    if (hr_mount("hpcrun", "/tmp", "tmpfs", 0,
                 is_writable ? "mode=0700" : "mode=0700,size=16m") < 0)
        return -1;
    if (chdir("/tmp") < 0 || mkdir("/tmp" HR_STAGE_OLDROOT, 0700) < 0 ||
        syscall(SYS_pivot_root, ".", "." HR_STAGE_OLDROOT) < 0 || chdir("/") < 0) {
        hr_err("cannot enter the staging area: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 1; i < HR_ARRAY_LEN(dirs); i++) {
        if (mkdir(dirs[i], 0700) < 0) {
            hr_err("cannot create %s in the staging area: %s", dirs[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Create one component: a directory (every one but the last, and the last
 * for directory mounts), an empty file, or a symlink. It may exist already
 * (an earlier mount point made it) if it has the right type. */
static int create_one(const char *path, bool is_last, const struct hr_mount *m)
{
    struct stat st;

    if (!is_last || (m->kind != HR_MNT_SYMLINK && m->is_src_dir)) {
        if (mkdir(path, 0755) == 0 ||
            (errno == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)))
            return 0;
    } else if (m->kind == HR_MNT_SYMLINK) {
        if (symlink(m->src, path) == 0 ||
            (errno == EEXIST && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)))
            return 0;
    } else {
        int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0)
            return close(fd);
    }
    return -1;
}

/* Create the last n_missing components of path below root. The path was
 * resolved inside root, so none of its existing components is a symlink. */
static int create_missing(const char *root, const char *path, size_t n_missing,
                          const struct hr_mount *m)
{
    char *full = hr_path_join(root, path);
    char *p = full + strlen(full);
    int rc = 0;

    for (size_t k = 0; k < n_missing && p > full;)
        if (*--p == '/')
            k++;
    /* p is at the slash before the first missing component */
    while (rc == 0 && *p) {
        char *next = strchr(p + 1, '/');
        if (next)
            *next = '\0';
        rc = create_one(full, next == NULL, m);
        if (rc < 0)
            hr_err("cannot create mount point %s: %s", full + strlen(root),
                   strerror(errno));
        if (next)
            *next = '/';
        p = next ? next : p + strlen(p);
    }
    free(full);
    return rc;
}

/* For a destination missing in the image, create it in the overlay's upper
 * layer before the overlay is mounted: the directories leading to it copy
 * the image's modes, so the merged tree looks like the image plus the new
 * mount point. */
static int create_in_upper(const struct hr_mount *m)
{
    struct hr_resolved r;
    char *lower_parent, *p;
    int rc = hr_resolve_in_root(m->dst, hr_lookup_host_dir, (void *)HR_STAGE_IMAGE, &r);

    if (rc < 0) {
        hr_err("mount point %s: %s", m->dst, strerror(-rc));
        return -1;
    }
    /* mirror the existing directories */
    lower_parent = hr_xstrdup(r.path);
    for (size_t i = 0; i < r.n_missing; i++) {
        char *s = strrchr(lower_parent, '/');
        if (s)
            *s = '\0';
    }
    for (p = lower_parent; rc == 0 && *p;) {
        char *next = strchr(p + 1, '/');
        char *prefix = hr_xstrndup(lower_parent, next ? (size_t)(next - lower_parent)
                                                      : strlen(lower_parent));
        char *lower = hr_path_join(HR_STAGE_IMAGE, prefix);
        char *upper = hr_path_join(HR_STAGE_UPPER, prefix);
        struct stat st;
        if (stat(lower, &st) == 0 && mkdir(upper, st.st_mode & 07777) < 0 &&
            errno != EEXIST) {
            hr_err("cannot create %s in the overlay: %s", prefix, strerror(errno));
            rc = -1;
        }
        free(prefix);
        free(lower);
        free(upper);
        if (!next)
            break;
        p = next;
    }
    if (rc == 0)
        rc = create_missing(HR_STAGE_UPPER, r.path, r.n_missing, m);
    free(lower_parent);
    free(r.path);
    return rc;
}

static int mount_overlay(void)
{
    const char *base =
        "lowerdir=" HR_STAGE_IMAGE ",upperdir=" HR_STAGE_UPPER ",workdir=" HR_STAGE_WORK;
    char opts[256];

    /* userxattr (Linux 5.11): an overlay mounted in a user namespace keeps
     * its metadata in user.* xattrs, since trusted.* is not ours to set. */
    snprintf(opts, sizeof(opts), "%s,userxattr", base);
    if (hr_mount("overlay", HR_STAGE_ROOT, "overlay", HR_MOUNT_QUIET, opts) == 0)
        return 0;
    return hr_mount("overlay", HR_STAGE_ROOT, "overlay", 0, base);
}

static int root_apply_mount(const char *root, const struct hr_mount *m, size_t index)
{
    struct hr_resolved r;
    char *target, *src = NULL;
    int rc = hr_resolve_in_root(m->dst, hr_lookup_host_dir, (void *)root, &r);

    if (rc < 0) {
        hr_err("mount point %s: %s", m->dst, strerror(-rc));
        return -1;
    }
    if (r.n_missing && create_missing(root, r.path, r.n_missing, m) < 0) {
        free(r.path);
        return -1;
    }
    /* Resolved inside root: a symlink in the image cannot send this mount
     * to a host path. */
    target = hr_path_join(root, r.path);
    hr_debug("mount %s%s%s <- %s", m->dst, strcmp(m->dst, r.path) ? " -> " : "",
             strcmp(m->dst, r.path) ? r.path : "",
             m->kind == HR_MNT_FILE ? "(generated)"
             : m->src               ? m->src
                                    : m->why);
    switch (m->kind) {
    case HR_MNT_SYMLINK:
        rc = 0; /* created above */
        break;
    case HR_MNT_TMPFS:
        rc = hr_mount("tmpfs", target, "tmpfs", MS_NOEXEC, "mode=0755,size=1m");
        break;
    case HR_MNT_FILE:
        src = hr_xasprintf("%s/%zu", HR_STAGE_FILES, index);
        rc = hr_write_file(src, m->src);
        if (rc < 0)
            hr_err("cannot write %s: %s", src, strerror(-rc));
        if (rc == 0)
            rc = hr_mount(src, target, NULL, MS_BIND | MS_RDONLY, NULL);
        break;
    case HR_MNT_BIND:
        src = hr_path_join(HR_STAGE_OLDROOT, m->src);
        rc = hr_mount(src, target, NULL,
                      MS_BIND | (m->is_ro ? MS_RDONLY : 0) |
                          (m->is_device ? HR_MOUNT_DEVICES : 0),
                      NULL);
        break;
    }
    free(src);
    free(target);
    free(r.path);
    return rc;
}

int hr_root_assemble(const struct hr_plan *plan)
{
    const char *root = HR_STAGE_IMAGE;

    if (plan->needs_overlay) {
        for (size_t i = 0; i < plan->n_mounts; i++)
            if (plan->mounts[i].is_dst_missing && create_in_upper(&plan->mounts[i]) < 0)
                return -1;
        if (mount_overlay() < 0)
            return -1;
        root = HR_STAGE_ROOT;
    }
    for (size_t i = 0; i < plan->n_mounts; i++)
        if (root_apply_mount(root, &plan->mounts[i], i) < 0)
            return -1;
    /* The overlay was writable only so mount points could be made. */
    if (plan->needs_overlay && !plan->is_writable &&
        hr_mount(NULL, root, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return -1;
    /* pivot_root(".", ".") stacks the old root on the new one; detaching it
     * leaves only the container's tree (see pivot_root(2), NOTES). */
    if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
        hr_err("cannot enter the container root: %s", strerror(errno));
        return -1;
    }
    return 0;
}
