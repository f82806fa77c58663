/* Warm launches: finding a lingering image server, entering what it holds,
 * and the server's side of it (linger.h). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "launch/linger.h"
#include "common/log.h"
#include "common/util.h"
#include "launch/mount.h"
#include "launch/stage.h"

#define LINGER_ATTEMPTS 20        /* servers that go away while asked, in a row */
#define LINGER_WAIT_MS 30000      /* for a server being set up to answer */
#define LINGER_QUEUE_WAIT_MS 2000 /* for room in a server's queue */
#define LINGER_QUERY_MS 2000      /* for --list's answer */

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000},
              NULL);
}

/* The key as text: everything that makes two mounts of the image alike. */
static char *key_text(const struct hr_linger_key *k)
{
    const struct stat *st = k->st;

    return hr_xasprintf("image\n%llu:%llu:%lld:%lld.%09ld:%lld.%09ld:%llu\n"
                        "uid %u gid %u owned %d",
                        (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                        (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                        st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
                        st->st_ctim.tv_nsec, k->offset, (unsigned)k->uid,
                        (unsigned)k->gid, (int)k->is_owned_by_caller);
}

/* Ask the server at sock for its namespaces. 1: got them; 0: it went away
 * (or is not ours) before it answered. */
static int ask_server(int sock, struct hr_linger *l)
{
    hr_autoclose int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    int ns[2];

    if (hr_join_peer_uid(sock) != getuid()) {
        hr_debug("@%s is not held by you: no warm launch", l->name);
        return -1;
    }
    if (self < 0 || hr_join_send_fds(sock, &self, 1) < 0 ||
        hr_join_recv_fds(sock, ns, 2, LINGER_WAIT_MS) < 0)
        return 0;
    l->user_ns = ns[0];
    l->mnt_ns = ns[1];
    return 1;
}

/* Bind the name for the server this launch will fork: 0, or -1 (errno). */
static int bind_name(struct hr_linger *l)
{
    struct sockaddr_un a;
    socklen_t alen = hr_join_addr(l->name, &a);
    hr_autoclose int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (sock < 0 || bind(sock, (struct sockaddr *)&a, alen) < 0 ||
        listen(sock, SOMAXCONN) < 0)
        return -1;
    l->listen_fd = sock;
    sock = -1;
    return 0;
}

/* open_tree(2) is what a warm launch needs (Linux 5.2); asked without
 * OPEN_TREE_CLONE it only opens a path, which needs no privilege. */
static bool has_open_tree(void)
{
    int fd = open_tree(AT_FDCWD, "/", OPEN_TREE_CLOEXEC);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int hr_linger_find(char **env, const struct hr_linger_key *k, struct hr_linger *l)
{
    hr_autofree char *key = key_text(k);

    if (!has_open_tree()) {
        hr_debug("open_tree(2): %s: no warm launch", strerror(errno));
        return 0;
    }
    if (hr_join_image_name(env, key, k->host_uid, l->name, sizeof(l->name)) < 0)
        return 0;
    for (int attempt = 0; attempt < LINGER_ATTEMPTS; attempt++) {
        int sock = hr_join_connect(l->name, LINGER_QUEUE_WAIT_MS), rc;

        if (sock < 0 && errno == EAGAIN) {
            hr_debug("@%s takes no one in (its queue stays full): cold launch", l->name);
            return 0;
        }
        if (sock < 0) {
            if (bind_name(l) == 0) {
                hr_debug("no lingering server: cold launch, lingering as @%s", l->name);
                return 0;
            }
            if (errno != EADDRINUSE) {
                hr_debug("@%s: %s: cold launch", l->name, strerror(errno));
                return 0;
            }
            sleep_ms(10); /* taken since: ask whoever took it */
            continue;
        }
        rc = ask_server(sock, l);
        close(sock);
        if (rc != 0) {
            if (rc > 0)
                hr_info("warm launch: the image's mount from @%s", l->name);
            return rc > 0 ? 1 : 0;
        }
        sleep_ms(10); /* it exited meanwhile: look again */
    }
    hr_debug("@%s: no server answered or could be replaced: cold launch", l->name);
    return 0;
}

int hr_linger_enter(struct hr_linger *l)
{
    hr_autoclose int own = -1;
    int tree;

    /* refused, nothing is entered yet: the launch goes cold (a process in
     * a user namespace of its own cannot enter one beside it) */
    if (setns(l->user_ns, CLONE_NEWUSER) < 0) {
        hr_debug("cannot enter the lingering server's user namespace: %s: cold launch",
                 strerror(errno));
        return HR_LINGER_COLD;
    }
    if (unshare(CLONE_NEWNS) < 0 ||
        (own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0 ||
        setns(l->mnt_ns, CLONE_NEWNS) < 0) {
        hr_err("cannot enter the lingering image server's namespaces: %s",
               strerror(errno));
        return -1;
    }
    tree = hr_mount_clone(HR_STAGE_IMAGE);
    if (setns(own, CLONE_NEWNS) < 0) {
        hr_err("cannot return to the container's mount namespace: %s", strerror(errno));
        if (tree >= 0)
            close(tree);
        return -1;
    }
    return tree;
}

void hr_linger_close(struct hr_linger *l)
{
    int *fds[] = {&l->listen_fd, &l->user_ns, &l->mnt_ns};

    for (size_t i = 0; i < HR_ARRAY_LEN(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

/* ---- the server's side ----------------------------------------------------- */

int hr_linger_base(struct hr_linger_ns *ns)
{
    static const char top[] = "/ovl"; /* in the staging area, empty */

    /* the staging area has no /proc of its own: the host's, and after the
     * pivot below, the host's under the old root */
    *ns = (struct hr_linger_ns){
        .launch = open(HR_STAGE_OLDROOT "/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC),
        .user = open(HR_STAGE_OLDROOT "/proc/self/ns/user", O_RDONLY | O_CLOEXEC),
        .image = -1};
    if (ns->launch < 0 || ns->user < 0 || unshare(CLONE_NEWNS) < 0)
        goto fail;
    /* a small root of its own with the image in it, and nothing else: the
     * staging area, the host's tree and the container are let go */
    if (hr_mount("hpcrun", top, "tmpfs", 0, "mode=0700,size=64k") < 0 ||
        mkdir("/ovl" HR_STAGE_IMAGE, 0700) < 0 || mkdir("/ovl/old", 0700) < 0 ||
        hr_mount(HR_STAGE_IMAGE, "/ovl" HR_STAGE_IMAGE, NULL, MS_MOVE, NULL) < 0 ||
        chdir(top) < 0 || syscall(SYS_pivot_root, ".", "old") < 0 || chdir("/") < 0 ||
        (ns->image = open("/old" HR_STAGE_OLDROOT "/proc/self/ns/mnt",
                          O_RDONLY | O_CLOEXEC)) < 0 ||
        umount2("/old", MNT_DETACH) < 0 || rmdir("/old") < 0)
        goto fail;
    return 0;
fail:
    hr_warn("cannot set up the lingering server's mount namespace: %s", strerror(errno));
    hr_linger_ns_close(ns);
    return -1;
}

void hr_linger_ns_close(struct hr_linger_ns *ns)
{
    int *fds[] = {&ns->launch, &ns->user, &ns->image};

    for (size_t i = 0; i < HR_ARRAY_LEN(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int hr_linger_accept(int listen_fd, const struct hr_linger_ns *ns, const char *status)
{
    hr_autoclose int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int member = -1, n;
    char byte;

    if (c < 0 || hr_join_peer_uid(c) != getuid())
        return -1;
    n = hr_join_recv(c, &byte, &member, 1, 5000);
    if (n == 0 && byte == '?') {
        if (write(c, status, strlen(status)) < 0)
            return -1;
        return -1;
    }
    if (n != 1)
        return -1;
    return hr_join_answer(c, member, ns->user, ns->image);
}

/* ---- hpcrun --list ------------------------------------------------------------ */

/* One server's answer to "?", or NULL. */
static char *query(const char *name)
{
    hr_autoclose int sock = hr_join_connect(name, LINGER_QUEUE_WAIT_MS);
    char buf[4096];
    size_t got = 0;

    if (sock < 0 || hr_join_peer_uid(sock) != getuid() ||
        send(sock, "?", 1, MSG_NOSIGNAL) != 1)
        return NULL;
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        ssize_t n;
        if (got + 1 >= sizeof(buf) || poll(&p, 1, LINGER_QUERY_MS) != 1)
            break;
        n = read(sock, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got ? hr_xstrdup(buf) : NULL;
}

int hr_linger_list(FILE *out)
{
    hr_autofree char *table = hr_read_file("/proc/net/unix", 64 << 20, NULL);
    hr_autofree char *prefix =
        hr_xasprintf("@" HR_JOIN_IMAGE_PREFIX "/%u/", (unsigned)getuid());
    char *save = NULL;
    int n = 0;

    fprintf(out, "%-8s %-10s %-8s %-8s %s\n", "PID", "CONTAINERS", "IDLE", "LINGER",
            "IMAGE");
    if (!table)
        return 0;
    for (char *line = strtok_r(table, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *name = strstr(line, prefix);
        unsigned flags = 0;
        char *status;
        /* "Num RefCount Protocol Flags Type St Inode Path": listening
         * sockets have __SO_ACCEPTCON (0x10000) in Flags */
        if (!name || sscanf(line, "%*s %*s %*s %x", &flags) != 1 || !(flags & 0x10000))
            continue;
        status = query(name + 1);
        if (!status)
            continue;
        n++;
        fputs(status, out);
        free(status);
    }
    return n;
}
