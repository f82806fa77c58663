/* The prolog and epilog act as the job's user where the user's rights are
 * the ones that matter: opening the image the job named (so that a user
 * cannot have root read a file they may not read), and emptying the
 * directory the user owns (so that root never works inside a tree a user
 * can rearrange). Each runs in a child process that drops root for good
 * (setgroups, setresgid, setresuid) before it touches anything; the parent
 * gets back a descriptor or an exit status, nothing else. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rootside.h"
#include "util.h"

/* A child never outlives this (a hung file system): the parent waits on it. */
#define AS_USER_TIMEOUT_S 30

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

static int wait_child(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* In the child: open as the user and send the descriptor (or errno). */
static void open_child(int sock, const struct rs_job *job, const char *path)
{
    int fd, err = 0;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    alarm(AS_USER_TIMEOUT_S);
    if (drop_to(job->uid, job->gid, job->groups, job->n_groups) < 0)
        _exit(1);
    /* O_NONBLOCK: a FIFO or a device opens at once, and is then refused on
     * its type; O_NOCTTY: a terminal never becomes anyone's */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
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
    ssize_t n;

    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(err))
        return -EIO; /* the child died (or timed out) before it answered */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if (fd >= 0)
        return fd;
    return err > 0 ? -err : -EIO;
}

int rs_open_as_user(const struct rs_job *job, const char *path)
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
        open_child(sv[1], job, path);
    }
    close(sv[1]);
    fd = open_receive(sv[0]);
    close(sv[0]);
    wait_child(pid);
    return fd;
}

int rs_clear_as_owner(int dirfd)
{
    struct stat st;
    pid_t pid;
    int rc;

    if (fstat(dirfd, &st) < 0)
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        alarm(AS_USER_TIMEOUT_S);
        if (st.st_uid != 0 && drop_to(st.st_uid, st.st_gid, NULL, 0) < 0)
            _exit(1);
        _exit(rs_remove_contents(dirfd) == 0 ? 0 : 1);
    }
    rc = wait_child(pid);
    return rc == 0 ? 0 : rc < 0 ? rc : -EIO;
}
