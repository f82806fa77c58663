#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "launch/checks.h"
#include "common/log.h"

static bool has_any_capability(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return false;
    return data[0].permitted || data[1].permitted || data[0].effective ||
           data[1].effective;
}

int hr_check_privileges(void)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    struct stat st;

    if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0) {
        hr_err("cannot read process ids: %s", strerror(errno));
        return -1;
    }
    if (ruid != euid || ruid != suid || rgid != egid || rgid != sgid) {
        hr_err("refusing to run setuid or setgid (real and effective ids differ); "
               "hpcrun needs no privilege: remove the bits with chmod u-s,g-s");
        return -1;
    }
    if (stat("/proc/self/exe", &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID))) {
        hr_err("refusing to run: the hpcrun executable is installed setuid or setgid; "
               "remove the bits with chmod u-s,g-s");
        return -1;
    }
    if (ruid != 0 && (has_any_capability() ||
                      getxattr("/proc/self/exe", "security.capability", NULL, 0) >= 0)) {
        hr_err("refusing to run with capabilities (file capabilities on the "
               "executable?); hpcrun needs none: remove them with setcap -r");
        return -1;
    }
    return 0;
}

/* The FUSE device's number (Documentation/admin-guide/devices.txt: misc
 * 229): anything else at /dev/fuse, such as /dev/null bound over it, opens
 * but fails the mount later with a message that names no cause. */
#define FUSE_MAJOR 10
#define FUSE_MINOR 229

int hr_check_open_fuse(void)
{
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        int err = errno;
        if (err == ENOENT)
            hr_err("/dev/fuse: missing (the fuse kernel module is not loaded); "
                   "an admin can run: modprobe fuse");
        else if (err == EACCES && stat("/dev/fuse", &st) == 0)
            hr_err("/dev/fuse: %s (mode %04o; it must be 0666, as distributions "
                   "ship it: an admin can run: chmod 0666 /dev/fuse)",
                   strerror(err), (unsigned)(st.st_mode & 07777));
        else
            hr_err("/dev/fuse: %s (is the fuse kernel module loaded?)", strerror(err));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != FUSE_MAJOR ||
        minor(st.st_rdev) != FUSE_MINOR) {
        hr_err("/dev/fuse: not the FUSE device (want character device %d:%d); an "
               "admin can recreate it: mknod -m 0666 /dev/fuse c %d %d",
               FUSE_MAJOR, FUSE_MINOR, FUSE_MAJOR, FUSE_MINOR);
        close(fd);
        return -1;
    }
    return fd;
}
