#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
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

int hr_check_open_fuse(void)
{
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        if (errno == EACCES)
            hr_err("/dev/fuse: %s (it must be mode 0666, as distributions ship it; "
                   "an admin can run: chmod 0666 /dev/fuse)",
                   strerror(errno));
        else
            hr_err("/dev/fuse: %s (is the fuse kernel module loaded?)", strerror(errno));
    }
    return fd;
}
