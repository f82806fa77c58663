#include "autoconfig.h"

/* OpenSSL 3 marks the low-level SHA-256 functions deprecated in favour of
 * EVP, but EVP's first use loads OpenSSL's provider machinery: 2 to 10 ms
 * measured here, for every rank, where a whole launch takes about 10. The
 * low-level functions are the same digest without that. Asking for the
 * 1.1.1 API declares them without the warning (openssl_user_macros(7)). */
#define OPENSSL_API_COMPAT 10101

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "launch/join.h"
#include "common/log.h"
#include "common/util.h"

#define JOIN_WAIT_MS 60000      /* for the leader to have its root ready */
#define JOIN_ATTEMPTS 50        /* leaders that die before serving, in a row */
#define JOIN_QUEUE_WAIT_MS 5000 /* for room in a leader's queue of SOMAXCONN */
#define JOIN_ALONE "this launch runs in a container of its own"

_Static_assert(HR_JOIN_SECRET_LEN <= SHA256_CBLOCK, "the secret is an HMAC key as it is");

/* HMAC (RFC 2104) with SHA-256: H((K ^ opad) || H((K ^ ipad) || msg)). The
 * key is shorter than a block, so it is used zero-padded, as it is. */
static void hmac_sha256(const uint8_t key[HR_JOIN_SECRET_LEN], const char *msg,
                        uint8_t out[SHA256_DIGEST_LENGTH])
{
    uint8_t ipad[SHA256_CBLOCK], opad[SHA256_CBLOCK];
    SHA256_CTX c;

    memset(ipad, 0x36, sizeof(ipad));
    memset(opad, 0x5c, sizeof(opad));
    for (size_t i = 0; i < HR_JOIN_SECRET_LEN; i++) {
        ipad[i] ^= key[i];
        opad[i] ^= key[i];
    }
    SHA256_Init(&c);
    SHA256_Update(&c, ipad, sizeof(ipad));
    SHA256_Update(&c, msg, strlen(msg));
    SHA256_Final(out, &c);
    SHA256_Init(&c);
    SHA256_Update(&c, opad, sizeof(opad));
    SHA256_Update(&c, out, SHA256_DIGEST_LENGTH);
    SHA256_Final(out, &c);
    explicit_bzero(ipad, sizeof(ipad));
    explicit_bzero(opad, sizeof(opad));
    explicit_bzero(&c, sizeof(c));
}

/* "PREFIX/UID/" + the key's MAC in hex */
static void name_format(const char *prefix, const char *key, uid_t uid,
                        const uint8_t secret[HR_JOIN_SECRET_LEN], char *out, size_t len)
{
    uint8_t mac[SHA256_DIGEST_LENGTH];
    char mac_hex[2 * SHA256_DIGEST_LENGTH + 1];

    hmac_sha256(secret, key, mac);
    hr_hex_encode(mac, sizeof(mac), mac_hex);
    snprintf(out, len, "%s/%u/%s", prefix, (unsigned)uid, mac_hex);
}

void hr_join_name(const char *key, uid_t uid, const uint8_t secret[HR_JOIN_SECRET_LEN],
                  char *out, size_t len)
{
    name_format(HR_JOIN_PREFIX, key, uid, secret, out, len);
}

static int secret_load(char **env, uint8_t secret[HR_JOIN_SECRET_LEN], bool is_quiet);

/* The name under the user's secret. Root keeps its secret in its own home,
 * never where its environment points: root run with another user's HOME
 * (sudo -E) must not make files where that user chooses. */
static int name_under_secret(char **env, const char *prefix, const char *key, uid_t uid,
                             char *out, size_t len)
{
    uint8_t secret[HR_JOIN_SECRET_LEN];
    struct passwd *pw = geteuid() == 0 ? getpwuid(0) : NULL;
    hr_autofree char *root_home = pw ? hr_xasprintf("HOME=%s", pw->pw_dir) : NULL;
    char *root_env[] = {root_home, NULL};
    bool is_quiet = strcmp(prefix, HR_JOIN_PREFIX) != 0;

    if (secret_load(geteuid() == 0 ? root_env : env, secret, is_quiet) < 0)
        return -1;
    name_format(prefix, key, uid, secret, out, len);
    explicit_bzero(secret, sizeof(secret));
    return 0;
}

int hr_join_step_name(char **env, const char *key, uid_t uid, char *out, size_t len)
{
    return name_under_secret(env, HR_JOIN_PREFIX, key, uid, out, len);
}

int hr_join_image_name(char **env, const char *key, uid_t uid, char *out, size_t len)
{
    return name_under_secret(env, HR_JOIN_IMAGE_PREFIX, key, uid, out, len);
}

/* Open the directory path (relative to at), making it 0700 first if it is
 * missing. */
static int dir_open(int at, const char *path, int flags)
{
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);

    if (fd < 0 && errno == ENOENT) {
        if (mkdirat(at, path, 0700) < 0 && errno != EEXIST)
            return -1;
        fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
    }
    return fd;
}

/* Where the secret's directory goes (*where names it for messages; NULL
 * when the environment names none). $XDG_RUNTIME_DIR is node-local and the
 * user's alone (XDG base directory spec), but a batch job often inherits the
 * login node's value, which is missing on the compute node: it counts only
 * if it is a directory of the user's. Else the cache directory, found as the
 * blob cache finds it (pull.c). The path up to here is the user's own
 * choice (a home or cache often is a symlink); what is checked is below. */
static int secret_base(char **env, char **where)
{
    const char *run = hr_env_get(env, "XDG_RUNTIME_DIR");
    const char *cache = hr_env_get(env, "XDG_CACHE_HOME");
    const char *home = hr_env_get(env, "HOME");
    struct stat st;
    int fd;

    *where = NULL;
    if (run && run[0] == '/') {
        fd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid()) {
            *where = hr_xstrdup(run);
            return fd;
        }
        if (fd >= 0)
            close(fd);
    }
    if (cache && cache[0] == '/')
        *where = hr_xstrdup(cache);
    else if (home && home[0] == '/')
        *where = hr_path_join(home, ".cache");
    else
        return -1;
    return dir_open(AT_FDCWD, *where, 0);
}

/* Is the open file fd of the given type, the caller's and closed to every
 * other user? If not, why (into why). */
static bool is_private(int fd, mode_t type, char *why, size_t len)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        snprintf(why, len, "%s", strerror(errno));
    else if ((st.st_mode & S_IFMT) != type)
        snprintf(why, len, "not a %s", type == S_IFDIR ? "directory" : "regular file");
    else if (st.st_uid != geteuid())
        snprintf(why, len, "owned by uid %u, not by uid %u", (unsigned)st.st_uid,
                 (unsigned)geteuid());
    else if (st.st_mode & 077)
        snprintf(why, len, "mode %04o lets other users in (want %s)",
                 (unsigned)(st.st_mode & 07777), type == S_IFDIR ? "0700" : "0600");
    else if (type == S_IFREG && st.st_size != HR_JOIN_SECRET_LEN)
        snprintf(why, len,
                 "%lld bytes, not %d (remove it: the next launch makes a new one)",
                 (long long)st.st_size, HR_JOIN_SECRET_LEN);
    else
        return true;
    return false;
}

/* Is the open directory fd the caller's? If not, why (into why). */
static bool is_owned(int fd, char *why, size_t len)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        snprintf(why, len, "%s", strerror(errno));
    else if (st.st_uid != geteuid())
        snprintf(why, len, "owned by uid %u, not by uid %u", (unsigned)st.st_uid,
                 (unsigned)geteuid());
    else
        return true;
    return false;
}

/* Make the secret file. It gets its name only once whole (an O_TMPFILE
 * file, or where the file system has none a temporary name, linked to
 * "key"), and linkat(2) never replaces a file: of ranks that start at once,
 * one links its key and the others read that one. */
static int secret_create(int dir)
{
    uint8_t key[HR_JOIN_SECRET_LEN], tag[4];
    char tmp[32] = "", proc[48];
    hr_autoclose int fd = openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    int rc = -1, err;

    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
        return -1;
    if (fd < 0) { /* a name of its own, from other bytes than the key's */
        if (getrandom(tag, sizeof(tag), 0) != (ssize_t)sizeof(tag))
            return -1;
        snprintf(tmp, sizeof(tmp), ".key.%02x%02x%02x%02x", tag[0], tag[1], tag[2],
                 tag[3]);
        fd = openat(dir, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd >= 0 && hr_write_all(fd, key, sizeof(key)) == 0 && fsync(fd) == 0) {
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        rc = tmp[0] ? linkat(dir, tmp, dir, "key", 0)
                    : linkat(AT_FDCWD, proc, dir, "key", AT_SYMLINK_FOLLOW);
    }
    err = errno;
    if (tmp[0] && fd >= 0)
        unlinkat(dir, tmp, 0);
    explicit_bzero(key, sizeof(key));
    errno = err;
    return rc;
}

static int secret_open(int dir)
{
    int fd = openat(dir, "key", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0 || errno != ENOENT)
        return fd;
    if (secret_create(dir) < 0 && errno != EEXIST)
        return -1;
    return openat(dir, "key", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

int hr_join_secret(char **env, uint8_t secret[HR_JOIN_SECRET_LEN])
{
    return secret_load(env, secret, false);
}

/* is_quiet: a warm launch (hr_join_image_name) only says at -vv why it
 * cannot look for a lingering server; it launches cold then. */
static int secret_load(char **env, uint8_t secret[HR_JOIN_SECRET_LEN], bool is_quiet)
{
    hr_autofree char *where = NULL;
    hr_autoclose int base = secret_base(env, &where);
    hr_autoclose int top = -1, dir = -1, fd = -1;
    const char *leaf = NULL; /* what failed, below where */
    char why[128] = "";

    if (!where) {
        if (is_quiet)
            hr_debug("no directory for the secret (HOME is not set): no warm launch");
        else
            hr_warn("--join: no directory for the secret (HOME is not set); %s",
                    JOIN_ALONE);
        return -1;
    }
    /* The directories from the base down are the user's (root with another
     * user's HOME must not make files where that user points); hpcrun's own
     * below it are never symlinks. */
    if (base < 0 || !is_owned(base, why, sizeof(why)))
        leaf = "";
    else if ((top = dir_open(base, "hpcrun", O_NOFOLLOW)) < 0 ||
             !is_owned(top, why, sizeof(why)))
        leaf = "/hpcrun";
    else if ((dir = dir_open(top, "join", O_NOFOLLOW)) < 0 ||
             !is_private(dir, S_IFDIR, why, sizeof(why)))
        leaf = "/hpcrun/join";
    else if ((fd = secret_open(dir)) < 0 || !is_private(fd, S_IFREG, why, sizeof(why)))
        leaf = "/hpcrun/join/key";
    else if (pread(fd, secret, HR_JOIN_SECRET_LEN, 0) == HR_JOIN_SECRET_LEN)
        return 0;
    else
        snprintf(why, sizeof(why), "cannot read it");
    if (!why[0])
        snprintf(why, sizeof(why), "%s", strerror(errno));
    if (is_quiet)
        hr_debug("%s%s: %s: no warm launch", where, leaf ? leaf : "/hpcrun/join/key",
                 why);
    else
        hr_warn("--join: %s%s: %s; %s", where, leaf ? leaf : "/hpcrun/join/key", why,
                JOIN_ALONE);
    return -1;
}

socklen_t hr_join_addr(const char *name, struct sockaddr_un *a)
{
    size_t n = strlen(name);

    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    /* abstract namespace: nothing on disk to leave behind or to race for */
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* The uid of the socket's peer (as the caller's user namespace sees it), or
 * (uid_t)-1. */
uid_t hr_join_peer_uid(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.uid
                                                                     : (uid_t)-1;
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

int hr_join_send_fds(int sock, const int *fds, size_t n)
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

int hr_join_recv(int sock, char *byte, int *fds, size_t max, int ms)
{
    struct fd_message m;
    struct msghdr *msg = fd_message_init(&m, 0);
    struct pollfd p = {.fd = sock, .events = POLLIN};
    struct cmsghdr *c;
    size_t got;

    if (poll(&p, 1, ms) != 1 || recvmsg(sock, msg, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    *byte = m.byte;
    c = CMSG_FIRSTHDR(msg);
    if (!c)
        return 0;
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        return -1;
    got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (got > max) {
        for (size_t i = 0; i < got; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
            close(fd);
        }
        return -1;
    }
    memcpy(fds, CMSG_DATA(c), got * sizeof(int));
    return (int)got;
}

/* Receive exactly n (1 or 2) descriptors, waiting at most ms. A message with
 * any other number is refused and every descriptor it brought is closed: the
 * FUSE server lives as long as the container and must not collect them. */
int hr_join_recv_fds(int sock, int *fds, size_t n, int ms)
{
    char byte;
    int got = hr_join_recv(sock, &byte, fds, n, ms);

    if (got >= 0 && (size_t)got != n) {
        for (int i = 0; i < got; i++)
            close(fds[i]);
        return -1;
    }
    return got < 0 ? -1 : 0;
}

/* Connect to the leader and enter its namespaces: HR_JOIN_MEMBER, joined;
 * HR_JOIN_LEADER, no leader there (try to become one); HR_JOIN_ALONE (warned)
 * or HR_JOIN_ERROR (logged). */
int hr_join_connect(const char *name, int wait_ms)
{
    struct sockaddr_un a;
    socklen_t alen = hr_join_addr(name, &a);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc, err;

    if (sock < 0)
        return -1;
    /* Non-blocking: a listener whose queue is full (EAGAIN) would otherwise
     * keep connect(2) waiting for as long as it likes, and the name may be
     * another user's by now. */
    for (int ms = 0; (rc = connect(sock, (struct sockaddr *)&a, alen)) < 0 &&
                     errno == EAGAIN && ms < wait_ms;
         ms += 10)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    if (rc == 0)
        return sock;
    err = errno;
    close(sock);
    errno = err;
    return -1;
}

/* socket(2)'s own failures, which no leader going away explains */
static bool is_socket_error(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static enum hr_join_role join_member(const char *name)
{
    hr_autoclose int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    hr_autoclose int sock = -1, user_ns = -1, mnt_ns = -1;
    int ns[2] = {-1, -1};
    uid_t peer;

    if (self < 0 || ((sock = hr_join_connect(name, JOIN_QUEUE_WAIT_MS)) < 0 &&
                     is_socket_error(errno))) {
        hr_warn("--join: %s; %s", strerror(errno), JOIN_ALONE);
        return HR_JOIN_ALONE;
    }
    /* a queue that stays full is a warning */
    if (sock < 0 && errno == EAGAIN) {
        hr_warn("--join: @%s takes no one in (its queue stays full); %s", name,
                JOIN_ALONE);
        return HR_JOIN_ALONE;
    }
    if (sock < 0)
        return HR_JOIN_LEADER; /* the leader went away: the name is free again */
    /* the name is no secret once bound (/proc/net/unix): anyone may take it
     * after a step, should a later launch use the same key */
    if ((peer = hr_join_peer_uid(sock)) != getuid()) {
        hr_warn("--join: @%s is held by uid %d, not by you; %s", name, (int)peer,
                JOIN_ALONE);
        return HR_JOIN_ALONE;
    }
    if (hr_join_send_fds(sock, &self, 1) < 0 ||
        hr_join_recv_fds(sock, ns, 2, JOIN_WAIT_MS) < 0)
        return HR_JOIN_LEADER; /* the leader failed before its root was ready */
    user_ns = ns[0];
    mnt_ns = ns[1];
    if (setns(user_ns, CLONE_NEWUSER) < 0 || setns(mnt_ns, CLONE_NEWNS) < 0) {
        hr_err("--join: cannot enter the step's namespaces: %s", strerror(errno));
        return HR_JOIN_ERROR;
    }
    return HR_JOIN_MEMBER;
}

/* Bind and listen on the name: 0, lead; -1 with errno (EADDRINUSE: taken). */
static int join_lead(const struct sockaddr_un *a, socklen_t alen, struct hr_join *j)
{
    hr_autoclose int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ready[2];

    if (sock < 0 || bind(sock, (const struct sockaddr *)a, alen) < 0 ||
        listen(sock, SOMAXCONN) < 0 || pipe2(ready, O_CLOEXEC) < 0)
        return -1;
    j->listen_fd = sock;
    sock = -1;
    j->ready_rd = ready[0];
    j->ready_wr = ready[1];
    return 0;
}

enum hr_join_role hr_join_enter(const char *name, struct hr_join *j)
{
    struct sockaddr_un a;
    socklen_t alen = hr_join_addr(name, &a);

    j->listen_fd = j->ready_rd = j->ready_wr = -1;
    for (int attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
        enum hr_join_role role;

        if (join_lead(&a, alen, j) == 0) {
            hr_info("--join: leading @%s", name);
            return HR_JOIN_LEADER;
        }
        if (errno != EADDRINUSE) {
            hr_warn("--join: @%s: %s; %s", name, strerror(errno), JOIN_ALONE);
            return HR_JOIN_ALONE;
        }
        role = join_member(name);
        if (role == HR_JOIN_MEMBER)
            hr_info("--join: joined @%s", name);
        if (role != HR_JOIN_LEADER)
            return role;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    hr_warn("--join: @%s: no leader could be joined or replaced; %s", name, JOIN_ALONE);
    return HR_JOIN_ALONE;
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

void hr_join_close(struct hr_join *j)
{
    int *fds[] = {&j->listen_fd, &j->ready_rd, &j->ready_wr};

    for (size_t i = 0; i < HR_ARRAY_LEN(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int hr_join_answer(int c, int member, int user_ns, int mnt_ns)
{
    int ns[2];

    ns[0] = user_ns >= 0 ? fcntl(user_ns, F_DUPFD_CLOEXEC, 3)
                         : open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    ns[1] = mnt_ns >= 0 ? fcntl(mnt_ns, F_DUPFD_CLOEXEC, 3)
                        : open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (ns[0] < 0 || ns[1] < 0 || hr_join_send_fds(c, ns, 2) < 0) {
        close(member);
        member = -1;
    }
    for (int i = 0; i < 2; i++)
        if (ns[i] >= 0)
            close(ns[i]);
    return member;
}

int hr_join_accept(int listen_fd, int user_ns, int mnt_ns)
{
    int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int member = -1;

    if (c < 0)
        return -1;
    /* the server runs inside the user namespace: the peer's uid is
     * translated into it, and only the same user maps to ours */
    if (hr_join_peer_uid(c) == getuid() && hr_join_recv_fds(c, &member, 1, 5000) == 0)
        member = hr_join_answer(c, member, user_ns, mnt_ns);
    close(c);
    return member;
}
