#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "join.h"
#include "log.h"
#include "util.h"

#define JOIN_WAIT_MS 60000 /* for the leader to have its root ready */
#define JOIN_ATTEMPTS 50   /* leaders that die before serving, in a row */

void hr_join_name(const char *key, uid_t uid, char *out, size_t len)
{
    uint64_t h = hr_hash_str(HR_HASH_INIT, key);

    snprintf(out, len, "hpcrun/%u/%016llx", (unsigned)uid, (unsigned long long)h);
}

static socklen_t join_addr(const char *name, struct sockaddr_un *a)
{
    size_t n = strlen(name);

    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    /* abstract namespace: nothing on disk to leave behind or to race for */
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static bool peer_is_me(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
           cred.uid == getuid();
}

/* One byte carrying up to two descriptors (SCM_RIGHTS). */
struct fd_message {
    char byte;
    struct iovec iov;
    /* CMSG_SPACE(2 * sizeof(int)) is 24 on Linux; struct cmsghdr itself
     * cannot be a member here (it ends in a flexible array) */
    _Alignas(struct cmsghdr) char ctl[64];
    struct msghdr msg;
};

static struct msghdr *fd_message_init(struct fd_message *m, size_t n)
{
    memset(m, 0, sizeof(*m));
    m->byte = 'j';
    m->iov = (struct iovec){.iov_base = &m->byte, .iov_len = 1};
    m->msg = (struct msghdr){.msg_iov = &m->iov,
                             .msg_iovlen = 1,
                             .msg_control = m->ctl,
                             .msg_controllen =
                                 n ? CMSG_SPACE(n * sizeof(int)) : sizeof(m->ctl)};
    return &m->msg;
}

static int send_fds(int sock, const int *fds, size_t n)
{
    struct fd_message m;
    struct msghdr *msg = fd_message_init(&m, n);
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    return sendmsg(sock, msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Receive exactly n (1 or 2) descriptors, waiting at most ms. A message with
 * any other number is refused and every descriptor it brought is closed: the
 * FUSE server lives as long as the container and must not collect them. */
static int recv_fds(int sock, int *fds, size_t n, int ms)
{
    struct fd_message m;
    struct msghdr *msg = fd_message_init(&m, 0);
    struct pollfd p = {.fd = sock, .events = POLLIN};
    struct cmsghdr *c;
    size_t got;

    if (poll(&p, 1, ms) != 1 || recvmsg(sock, msg, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    c = CMSG_FIRSTHDR(msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        return -1;
    got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (got != n) {
        for (size_t i = 0; i < got; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
            close(fd);
        }
        return -1;
    }
    memcpy(fds, CMSG_DATA(c), n * sizeof(int));
    return 0;
}

/* Connect to the leader and enter its namespaces. 1: joined; 0: no leader
 * (try to become one); -1: error. */
static int join_member(const char *name)
{
    struct sockaddr_un a;
    socklen_t alen = join_addr(name, &a);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    int ns[2] = {-1, -1};
    int rc = 0;

    if (sock < 0 || self < 0) {
        hr_err("--join: %s", strerror(errno));
        rc = -1;
    } else if (connect(sock, (struct sockaddr *)&a, alen) < 0) {
        rc = 0; /* the leader went away: the name is free again */
    } else if (!peer_is_me(sock)) {
        hr_err("--join: the socket @%s belongs to another user", name);
        rc = -1;
    } else if (send_fds(sock, &self, 1) < 0 || recv_fds(sock, ns, 2, JOIN_WAIT_MS) < 0) {
        rc = 0; /* the leader failed before its root was ready */
    } else if (setns(ns[0], CLONE_NEWUSER) < 0 || setns(ns[1], CLONE_NEWNS) < 0) {
        hr_err("--join: cannot enter the step's namespaces: %s", strerror(errno));
        rc = -1;
    } else {
        rc = 1;
    }
    for (int i = 0; i < 2; i++)
        if (ns[i] >= 0)
            close(ns[i]);
    if (self >= 0)
        close(self);
    if (sock >= 0)
        close(sock);
    return rc;
}

enum hr_join_role hr_join_enter(const char *name, struct hr_join *j)
{
    struct sockaddr_un a;
    socklen_t alen = join_addr(name, &a);

    j->listen_fd = j->ready_rd = j->ready_wr = -1;
    for (int attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
        int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc;
        int ready[2];

        if (sock < 0) {
            hr_err("--join: %s", strerror(errno));
            return HR_JOIN_ERROR;
        }
        if (bind(sock, (struct sockaddr *)&a, alen) == 0) {
            if (listen(sock, 256) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
                hr_err("--join: %s", strerror(errno));
                close(sock);
                return HR_JOIN_ERROR;
            }
            j->listen_fd = sock;
            j->ready_rd = ready[0];
            j->ready_wr = ready[1];
            hr_info("--join: leading @%s", name);
            return HR_JOIN_LEADER;
        }
        close(sock);
        if (errno != EADDRINUSE) {
            hr_err("--join: @%s: %s", name, strerror(errno));
            return HR_JOIN_ERROR;
        }
        rc = join_member(name);
        if (rc != 0) {
            if (rc > 0)
                hr_info("--join: joined @%s", name);
            return rc > 0 ? HR_JOIN_MEMBER : HR_JOIN_ERROR;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    hr_err("--join: @%s: no leader could be joined or replaced", name);
    return HR_JOIN_ERROR;
}

void hr_join_ready(struct hr_join *j)
{
    if (j->ready_wr >= 0) {
        if (write(j->ready_wr, "r", 1) != 1)
            hr_warn("--join: cannot signal the server: %s", strerror(errno));
        close(j->ready_wr);
        j->ready_wr = -1;
    }
}

int hr_join_accept(int listen_fd)
{
    int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int member = -1, ns[2];

    if (c < 0)
        return -1;
    /* the server runs inside the user namespace: the peer's uid is
     * translated into it, and only the same user maps to ours */
    if (!peer_is_me(c) || recv_fds(c, &member, 1, 5000) < 0) {
        close(c);
        return -1;
    }
    ns[0] = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    ns[1] = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (ns[0] < 0 || ns[1] < 0 || send_fds(c, ns, 2) < 0) {
        close(member);
        member = -1;
    }
    for (int i = 0; i < 2; i++)
        if (ns[i] >= 0)
            close(ns[i]);
    close(c);
    return member;
}
