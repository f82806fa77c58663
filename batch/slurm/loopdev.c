/* A read-only loop device for the prolog's kernel mount, attached from an
 * open descriptor (never a path: what the kernel reads is the file that was
 * checked). Runs as root; the loop devices are the kernel's, found through
 * /dev/loop-control (loop(4)). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "loopdev.h"
#include "common/util.h"
#include "rootside.h"

#ifndef LOOP_CONFIGURE /* Linux 5.8 */
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
    __u32 fd;
    __u32 block_size;
    struct loop_info64 info;
    __u64 __reserved[8];
};
#endif
#define LOOP_MAJOR 7
/* Another process may take the free device between LOOP_CTL_GET_FREE and
 * the attach (EBUSY): then ask again, this many times. */
#define LOOP_TRIES 16

/* /dev/loopN, checked to be that loop device (devtmpfs is root's). */
static int loop_open(int n, dev_t *rdev)
{
    char path[32];
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "/dev/loop%d", n);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) || major(st.st_rdev) != LOOP_MAJOR ||
        (int)minor(st.st_rdev) != n) {
        close(fd);
        return -ENODEV;
    }
    *rdev = st.st_rdev;
    return fd;
}

/* Kernels before 5.8: LOOP_SET_FD (read-only because backing_fd is), then
 * autoclear with LOOP_SET_STATUS64. */
static int loop_set_fd(int lfd, int backing_fd)
{
    struct loop_info64 info;

    if (ioctl(lfd, LOOP_SET_FD, backing_fd) < 0)
        return -errno;
    memset(&info, 0, sizeof(info));
    info.lo_flags = LO_FLAGS_AUTOCLEAR;
    if (ioctl(lfd, LOOP_SET_STATUS64, &info) < 0) {
        int e = errno;
        ioctl(lfd, LOOP_CLR_FD, 0);
        return -e;
    }
    return 0;
}

static int loop_configure(int lfd, int backing_fd)
{
    struct loop_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.fd = (__u32)backing_fd;
    cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOTTY)
        return loop_set_fd(lfd, backing_fd);
    return -errno;
}

int rs_loop_attach(int backing_fd, dev_t *rdev)
{
    hr_autoclose int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    int rc = -EBUSY;

    if (ctl < 0) {
        rc = -errno;
        rs_say("/dev/loop-control: %s (is the loop module loaded?)", strerror(errno));
        return rc;
    }
    for (int i = 0; i < LOOP_TRIES && rc == -EBUSY; i++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        int lfd = n < 0 ? -errno : loop_open(n, rdev);
        if (lfd < 0) {
            rc = lfd;
            break;
        }
        rc = loop_configure(lfd, backing_fd);
        if (rc == 0)
            return lfd;
        close(lfd);
    }
    rs_say("no loop device for the image: %s", strerror(-rc));
    return rc;
}
