/* The one mount helper (mount.h): every mount(2) of hpcrun, its flags made
 * safe here and nowhere else. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch/mount.h"
#include "common/log.h"
#include "common/util.h"
#include "launch/stage.h"

/* mount_setattr(2), Linux 5.12; older kernels use the remount fallback. */
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
struct mount_attr {
    unsigned long long attr_set, attr_clr, propagation, userns_fd;
};
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* Remount one bind mount with extra restrictions. In a user namespace the
 * kernel refuses to clear flags the host set (they are "locked", see
 * mount_namespaces(7)), so the current flags are read back and kept. */
static int remount_restrict(const char *dst, unsigned long add)
{
    struct statvfs sv;
    unsigned long keep = 0;

    if (statvfs(dst, &sv) < 0)
        return -1;
    if (sv.f_flag & ST_RDONLY)
        keep |= MS_RDONLY;
    if (sv.f_flag & ST_NOSUID)
        keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        keep |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        keep |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        keep |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        keep |= MS_RELATIME;
    return mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | keep | add, NULL);
}

static int restrict_tree(const char *dst, unsigned long flags, bool is_recursive)
{
    struct mount_attr attr = {0};
    bool is_dev = flags & HR_MOUNT_DEVICES;

    attr.attr_set = MOUNT_ATTR_NOSUID | (is_dev ? 0 : MOUNT_ATTR_NODEV) |
                    ((flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0);
#ifdef SYS_mount_setattr
    if (syscall(SYS_mount_setattr, AT_FDCWD, dst, is_recursive ? AT_RECURSIVE : 0, &attr,
                sizeof(attr)) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
#endif
    return remount_restrict(dst,
                            MS_NOSUID | (is_dev ? 0 : MS_NODEV) | (flags & MS_RDONLY));
}

/* A path as the user knows it: the host path for a source under the old
 * root, the container path for a target in the new root. */
static const char *shown(const char *path)
{
    static const char *const prefixes[] = {HR_STAGE_OLDROOT, HR_STAGE_ROOT,
                                           HR_STAGE_IMAGE};

    for (size_t i = 0; path && i < HR_ARRAY_LEN(prefixes); i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], n) == 0 && path[n] == '/')
            return path + n;
    }
    return path;
}

int hr_mount(const char *src, const char *dst, const char *fstype, unsigned long flags,
             const char *data)
{
    bool is_dev = flags & HR_MOUNT_DEVICES, is_quiet = flags & HR_MOUNT_QUIET;
    unsigned long f = flags & ~(HR_MOUNT_DEVICES | HR_MOUNT_QUIET);

    if (f & (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)) {
        /* a change of propagation: it mounts nothing */
        if (mount(NULL, dst, NULL, f, NULL) < 0) {
            hr_err("cannot change the propagation of %s: %s", shown(dst),
                   strerror(errno));
            return -1;
        }
        return 0;
    }
    if (f & MS_REMOUNT) {
        if (restrict_tree(dst, flags, false) < 0) {
            hr_err("cannot remount %s: %s", shown(dst), strerror(errno));
            return -1;
        }
        return 0;
    }
    if (f & MS_MOVE) { /* moves a mount this namespace has: nothing new */
        if (mount(src, dst, NULL, MS_MOVE, NULL) < 0) {
            hr_err("cannot move %s to %s: %s", shown(src), shown(dst), strerror(errno));
            return -1;
        }
        return 0;
    }
    if (f & MS_BIND) {
        /* MS_REC: /proc, /sys and home directories can have submounts, and in
         * a user namespace a bind without them is refused anyway. */
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            restrict_tree(dst, flags, true) < 0) {
            hr_err("cannot bind %s to %s: %s", shown(src), shown(dst), strerror(errno));
            return -1;
        }
        return 0;
    }
    f |= MS_NOSUID | (is_dev ? 0 : MS_NODEV);
    if (mount(src, dst, fstype, f, data) < 0) {
        if (is_quiet)
            return -1;
        hr_err("cannot mount %s (%s) on %s: %s", src, fstype, shown(dst),
               strerror(errno));
        return -1;
    }
    return 0;
}

int hr_mount_clone(const char *src)
{
    int fd = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

    if (fd < 0)
        hr_err("cannot clone the mount at %s: %s", shown(src), strerror(errno));
    return fd;
}

int hr_mount_attach(int tree, const char *dst)
{
    if (move_mount(tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        hr_err("cannot attach a mount at %s: %s", shown(dst), strerror(errno));
        return -1;
    }
    /* a clone keeps its flags; said again, so that no tree that came from
     * elsewhere is ever attached without them */
    if (restrict_tree(dst, MS_RDONLY, false) < 0) {
        hr_err("cannot remount %s: %s", shown(dst), strerror(errno));
        return -1;
    }
    return 0;
}
