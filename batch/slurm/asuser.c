/* The prolog opens the image the job named as the job's user, so that a
 * user cannot have root read a file they may not read. That runs in a
 * child process that drops root for good (setgroups, setresgid, setresuid)
 * before it touches anything, and resolves the name beneath a trusted
 * directory root opened in its own mount namespace: no symlink, "..",
 * /proc magic link or mount of another namespace leads out of it. The
 * parent gets back a descriptor, nothing else, and waits for it a bounded
 * time: a child stuck on a file system that never answers (a user's FUSE
 * server) is left behind, killed, not waited for. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asuser.h"
#include "common/util.h"
#include "rootside.h"

/* How long the parent waits for the child's answer. */
#define AS_USER_TIMEOUT_MS 30000

static int drop_to(uid_t uid, gid_t gid, const gid_t *groups, int n_groups)
{
    if (setgroups((size_t)n_groups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0)
        return -1;
    /* no way back: a root that can be regained is not dropped */
    if (setresuid(0, 0, 0) == 0)
        return -1;
    return 0;
}

/* Open rel beneath dir_fd: no ".." above it, no absolute or /proc magic
 * link (openat2, Linux 5.6). Without openat2, one component at a time,
 * following no symlink at all. */
static int open_beneath(int dir_fd, const char *rel, int flags)
{
    struct open_how how = {.flags = (unsigned long long)flags,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    hr_autofree char *copy = NULL;
    char *save = NULL, *part, *next;
    int fd = (int)syscall(SYS_openat2, dir_fd, rel, &how, sizeof(how));

    if (fd >= 0 || errno != ENOSYS)
        return fd;
    copy = hr_xstrdup(rel);
    fd = dup(dir_fd);
    for (part = strtok_r(copy, "/", &save); fd >= 0 && part; part = next) {
        int at = fd;
        next = strtok_r(NULL, "/", &save);
        if (strcmp(part, "..") == 0) {
            close(at);
            errno = EXDEV;
            return -1;
        }
        fd = openat(at, part,
                    next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC : flags);
        close(at);
    }
    return fd;
}

/* In the child, as the user: dir_path opened with the user's rights (every
 * directory above it searched as theirs), provided it is still dir_fd's
 * directory. -1 with errno otherwise. */
static int dir_reopen(int dir_fd, const char *dir_path)
{
    struct stat want, got;
    int fd = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0 && (fstat(fd, &got) < 0 || fstat(dir_fd, &want) < 0 ||
                    got.st_dev != want.st_dev || got.st_ino != want.st_ino)) {
        close(fd);
        errno = EXDEV;
        return -1;
    }
    return fd;
}

/* In the child: open as the user and send the descriptor (or errno). */
static void open_child(int sock, const struct rs_job *job, int dir_fd,
                       const char *dir_path, const char *rel)
{
    int fd, err = 0, dir;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    if (drop_to(job->uid, job->gid, job->groups, job->n_groups) < 0)
        _exit(1);
    /* O_NONBLOCK: a FIFO or a device opens at once, and is then refused on
     * its type; O_NOCTTY: a terminal never becomes anyone's */
    dir = dir_reopen(dir_fd, dir_path);
    fd = dir < 0
             ? -1
             : open_beneath(dir, rel,
                            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
    } else {
        memset(cbuf, 0, sizeof(cbuf));
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    _exit(sendmsg(sock, &msg, 0) < 0 ? 1 : 0);
}

/* In the parent: the descriptor, or -errno. */
static int open_receive(int sock)
{
    int err = 0, fd = -1;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cbuf,
                         .msg_controllen = sizeof(cbuf)};
    struct pollfd p = {.fd = sock, .events = POLLIN};
    ssize_t n = -1;
    int ready;

    do
        ready = poll(&p, 1, AS_USER_TIMEOUT_MS);
    while (ready < 0 && errno == EINTR);
    if (ready == 0)
        return -ETIMEDOUT;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(err))
        return -EIO; /* the child died before it answered */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if (fd >= 0)
        return fd;
    return err > 0 ? -err : -EIO;
}

int rs_open_as_user(const struct rs_job *job, int dir_fd, const char *dir_path,
                    const char *rel)
{
    int sv[2], fd;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        open_child(sv[1], job, dir_fd, dir_path, rel);
    }
    close(sv[1]);
    fd = open_receive(sv[0]);
    close(sv[0]);
    /* A child that answered only exits; one that did not is killed and
     * left to init: in an uninterruptible wait (a file system that never
     * answers) it cannot be waited for in bounded time. */
    if (fd == -ETIMEDOUT) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, WNOHANG);
    } else {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return fd;
}
