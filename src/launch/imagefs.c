/* The image step, part two: the FUSE server. */
#include "launch/image_sqfs.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "launch/imagefs.h"
#include "launch/join.h"
#include "launch/mount.h"

/* ---- the FUSE server ----------------------------------------------------- */

/* getattr and lookup as squashfuse's own, except that with
 * is_owned_by_caller every file is reported as the caller's. A user-namespace
 * overlay cannot copy up a file whose owner has no mapping, so this is what
 * lets --writable-tmpfs write anywhere without --fakeroot. */
static void image_own(fuse_req_t req, struct stat *st)
{
    struct image_fs *f = fuse_req_userdata(req);

    if (f->is_owned_by_caller) {
        st->st_uid = f->uid;
        st->st_gid = f->gid;
    }
}

static void image_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    sqfs_ll_i lli;
    struct stat st;

    (void)fi;
    if (sqfs_ll_iget(req, &lli, ino))
        return;
    if (sqfs_stat(&lli.ll->fs, &lli.inode, &st)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    st.st_ino = ino;
    image_own(req, &st);
    fuse_reply_attr(req, &st, DBL_MAX);
}

static void image_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e = {.attr_timeout = DBL_MAX, .entry_timeout = DBL_MAX};
    sqfs_ll_i lli;
    sqfs_name namebuf;
    sqfs_dir_entry entry;
    sqfs_inode inode;
    struct image_dir dir;
    bool found = false;

    if (sqfs_ll_iget(req, &lli, parent))
        return;
    if (!S_ISDIR(lli.inode.base.mode)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    sqfs_dentry_init(&entry, namebuf);
    dir = (struct image_dir){&lli.inode, lli.ll->ino_sqfs(lli.ll, parent)};
    if (hr_image_dir_find((struct image_fs *)lli.ll, &dir, name, &entry, &found)) {
        fuse_reply_err(req, EIO);
        return;
    }
    if (!found) { /* ino 0: a cached negative entry */
        fuse_reply_entry(req, &e);
        return;
    }
    if (sqfs_inode_get(&lli.ll->fs, &inode, sqfs_dentry_inode(&entry)) ||
        sqfs_stat(&lli.ll->fs, &inode, &e.attr)) {
        fuse_reply_err(req, EIO);
        return;
    }
    e.ino = lli.ll->ino_register(lli.ll, &entry);
    e.attr.st_ino = e.ino;
    image_own(req, &e.attr);
    fuse_reply_entry(req, &e);
}

/* squashfuse's readdir copies names into a fixed buffer: open only
 * directories that were checked (see hr_image_dir_is_safe). */
static void image_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    sqfs_ll_i lli;

    if (sqfs_ll_iget(req, &lli, ino))
        return;
    if (S_ISDIR(lli.inode.base.mode) &&
        !hr_image_dir_is_safe((struct image_fs *)lli.ll, &lli.inode,
                              lli.ll->ino_sqfs(lli.ll, ino))) {
        fuse_reply_err(req, EIO);
        return;
    }
    sqfs_ll_op_opendir(req, ino, fi);
}

/* ---- parallel reads --------------------------------------------------------
 * Reads are where the server spends its time (decompressing blocks), and
 * they need nothing but the file's inode, which open() put in fi->fh. So
 * READ requests go to worker threads, each with its own squashfuse caches
 * and decompression context over the same (read-only) tables, while the
 * main thread answers lookups at once. With the prefetch below, a program
 * is decompressed on several cores while hpcrun still builds the root. */

#define HR_JOIN_MAX_MEMBERS 1024 /* ranks of one step on one node */
#define FUSE_OPCODE_READ 15      /* FUSE_READ in <linux/fuse.h> */
#define MAX_READ_WORKERS 4

static __thread sqfs *thread_fs; /* a worker's own squashfuse state */

static void image_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
    sqfs_inode *inode = (sqfs_inode *)(intptr_t)fi->fh;
    sqfs *fs = thread_fs ? thread_fs : &((sqfs_ll *)fuse_req_userdata(req))->fs;
    sqfs_off_t osize = (sqfs_off_t)size;
    char *buf = malloc(size ? size : 1);

    (void)ino;
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    if (sqfs_read_range(fs, inode, off, &osize, buf) != SQFS_OK)
        fuse_reply_err(req, EIO);
    else
        fuse_reply_buf(req, buf, (size_t)osize);
    free(buf);
}

struct read_job {
    struct read_job *next;
    struct fuse_buf buf;
};

struct read_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct read_job *head, *tail;
    struct fuse_session *se;
    const sqfs *proto; /* the main thread's state, to copy the tables from */
    int n_workers;
};

static void *read_worker(void *arg)
{
    struct read_pool *p = arg;
    sqfs fs = *p->proto;

    if (hr_image_fs_caches(&fs) < 0)
        _exit(1); /* out of memory in the server: reads would hang */
    thread_fs = &fs;
    for (;;) {
        struct read_job *job;
        pthread_mutex_lock(&p->lock);
        while (!p->head)
            pthread_cond_wait(&p->cond, &p->lock);
        job = p->head;
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        fuse_session_process_buf(p->se, &job->buf);
        free(job->buf.mem);
        free(job);
    }
    return NULL;
}

static void read_pool_start(struct read_pool *p, struct fuse_session *se,
                            const sqfs *proto, bool is_parallel)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    sigset_t all, old;

    memset(p, 0, sizeof(*p));
    p->se = se;
    p->proto = proto;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (cpus < 2 || !is_parallel)
        return; /* no idle core: reading inline costs less */
    /* workers take no signals; the main thread decides when to exit */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (long i = 0; i < cpus && i < MAX_READ_WORKERS; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, read_worker, p) == 0)
            p->n_workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Hand a READ to a worker. Returns false if it must be processed inline. */
static bool read_pool_submit(struct read_pool *p, const struct fuse_buf *buf)
{
    struct read_job *job;

    if (p->n_workers == 0 || buf->size < 8 || (buf->flags & FUSE_BUF_IS_FD) ||
        ((const uint32_t *)buf->mem)[1] != FUSE_OPCODE_READ)
        return false;
    job = calloc(1, sizeof(*job));
    if (!job || !(job->buf.mem = malloc(buf->size))) {
        free(job);
        return false;
    }
    memcpy(job->buf.mem, buf->mem, buf->size);
    job->buf.size = buf->size;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return true;
}

/* An image without extended attributes answers getxattr and listxattr with
 * ENOSYS, which the kernel remembers for the mount: the overlay's lookups
 * then stop asking the server for its own xattrs on every directory. */
static bool image_has_xattrs(fuse_req_t req)
{
    sqfs_ll *ll = fuse_req_userdata(req);
    return ll->fs.sb.xattr_id_table_start != (uint64_t)SQUASHFS_INVALID_BLK &&
           ll->fs.xattr_info.xattr_ids > 0;
}

static void image_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                              size_t size)
{
    if (!image_has_xattrs(req))
        fuse_reply_err(req, ENOSYS);
    else
        sqfs_ll_op_getxattr(req, ino, name, size);
}

static void image_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    if (!image_has_xattrs(req))
        fuse_reply_err(req, ENOSYS);
    else
        sqfs_ll_op_listxattr(req, ino, size);
}

/* Let the kernel queue a whole program's readahead without blocking the
 * process that asked (it blocks past max_background requests in flight).
 * With no idle core, turn the kernel's own readahead off: every 128 KiB it
 * reads ahead costs a block decompressed, mostly for pages never used, and
 * then takes that time from the other containers. */
static void image_op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct image_fs *f = userdata;

    conn->max_background = 256;
    conn->congestion_threshold = 256;
    if (!f->is_parallel)
        conn->max_readahead = 0;
}

static const struct fuse_lowlevel_ops image_fuse_ops = {
    .init = image_op_init,
    .getattr = image_op_getattr,
    .opendir = image_op_opendir,
    .releasedir = sqfs_ll_op_releasedir,
    .readdir = sqfs_ll_op_readdir,
    .lookup = image_op_lookup,
    .open = sqfs_ll_op_open,
    .create = sqfs_ll_op_create,
    .release = sqfs_ll_op_release,
    .read = image_op_read,
    .readlink = sqfs_ll_op_readlink,
    .listxattr = image_op_listxattr,
    .getxattr = image_op_getxattr,
    .forget = sqfs_ll_op_forget,
    .statfs = stfs_ll_op_statfs,
};

/* Start time of a process (field 22 of /proc/PID/stat), to tell a live owner
 * from a recycled PID on kernels without pidfd_open(2). */
static unsigned long long proc_start_time(pid_t pid)
{
    char path[64], *buf, *p;
    unsigned long long t = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    buf = hr_read_file(path, 4096, NULL);
    if (!buf)
        return 0;
    p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (p)
        t = strtoull(p + 1, NULL, 10);
    free(buf);
    return t;
}

static void close_fds_except(const int *keep, size_t n)
{
    int max = (int)sysconf(_SC_OPEN_MAX);

    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++) {
        bool is_kept = false;
        for (size_t i = 0; i < n; i++)
            if (keep[i] == fd)
                is_kept = true;
        if (is_kept)
            continue;
#ifdef SYS_close_range
        {
            /* close the whole gap up to the next kept fd in one call */
            int next = max;
            for (size_t i = 0; i < n; i++)
                if (keep[i] > fd && keep[i] < next)
                    next = keep[i];
            if (syscall(SYS_close_range, fd, next - 1, 0) == 0) {
                fd = next;
                continue;
            }
        }
#endif
        close(fd);
    }
}

struct server_args {
    const char *name; /* the server process's name */
    const char *what; /* what failure messages name: the image, or --join */
    int keep_fd;      /* kept open in the server: the image's, or -1 */
    int devnull_fd;   /* the server's stdin, stdout and stderr */
    struct read_pool pool;
    int listen_fd; /* --join: the step's socket (-1: not joining) */
    int ready_fd;  /* --join: readable once the leader's root is ready */
    int members[HR_JOIN_MAX_MEMBERS]; /* --join: pidfds of the other members */
    size_t n_members;
    bool is_owner_gone;
    bool is_parallel;
    sqfs *fs;
    struct fuse_session *se;
    int fuse_fd;
    int owner_pidfd;
    pid_t owner;
    unsigned long long owner_start;
};

static bool owner_is_gone(const struct server_args *a)
{
    return kill(a->owner, 0) < 0 && errno == ESRCH
               ? true
               : proc_start_time(a->owner) != a->owner_start;
}

/* --join: drop members that are gone, take in new ones once the root is
 * ready. pfd[base] is the ready pipe or the socket, then the members. */
static void join_poll_events(struct server_args *a, const struct pollfd *pfd, size_t base)
{
    bool is_ready_event = a->ready_fd >= 0 && pfd[base].revents;
    bool is_accept_event =
        a->ready_fd < 0 && a->listen_fd >= 0 && (pfd[base].revents & POLLIN);
    size_t k = base + (a->ready_fd >= 0 || a->listen_fd >= 0 ? 1 : 0), m = 0;

    for (size_t i = 0; i < a->n_members; i++, k++) {
        if (pfd[k].revents)
            close(a->members[i]);
        else
            a->members[m++] = a->members[i];
    }
    a->n_members = m;
    if (is_ready_event) {
        char byte;
        /* The byte: the root is ready, accept from now on. End of file
         * instead: the leader failed before it was, so nobody may enter
         * what it left half-built. */
        if (read(a->ready_fd, &byte, 1) != 1) {
            close(a->listen_fd);
            a->listen_fd = -1;
        }
        close(a->ready_fd);
        a->ready_fd = -1;
    } else if (is_accept_event) {
        int member = hr_join_accept(a->listen_fd);
        if (member >= 0)
            a->members[a->n_members++] = member;
    }
}

/* The server's loop: answer FUSE requests until the container's processes
 * are gone (the first one, and with --join every member). It ignores the
 * signals a job step or a terminal sends (the application may trap SIGTERM
 * and still need its files) and dies with the application instead; SIGKILL
 * still ends it. */
static void __attribute__((noreturn)) image_serve(struct server_args *a)
{
    struct fuse_buf buf = {0};
    const int ignored[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
                           SIGUSR2, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};

    for (size_t i = 0; i < HR_ARRAY_LEN(ignored); i++)
        signal(ignored[i], SIG_IGN);
    read_pool_start(&a->pool, a->se, a->fs, a->is_parallel);
    for (;;) {
        struct pollfd pfd[3 + HR_JOIN_MAX_MEMBERS];
        size_t np = 0;
        bool has_pidfd = a->owner_pidfd >= 0 && !a->is_owner_gone;
        int n, res;

        pfd[np++] = (struct pollfd){.fd = a->fuse_fd, .events = POLLIN};
        pfd[np++] =
            (struct pollfd){.fd = has_pidfd ? a->owner_pidfd : -1, .events = POLLIN};
        if (a->ready_fd >= 0)
            pfd[np++] = (struct pollfd){.fd = a->ready_fd, .events = POLLIN};
        else if (a->listen_fd >= 0)
            /* full: a newcomer waits in the backlog, since one accepted
             * now would get the namespaces without being watched */
            pfd[np++] = (struct pollfd){
                .fd = a->n_members < HR_ARRAY_LEN(a->members) ? a->listen_fd : -1,
                .events = POLLIN};
        for (size_t i = 0; i < a->n_members; i++)
            pfd[np++] = (struct pollfd){.fd = a->members[i], .events = POLLIN};
        n = poll(pfd, np, has_pidfd || a->is_owner_gone ? -1 : 250);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            _exit(1);
        if (!a->is_owner_gone && (has_pidfd ? pfd[1].revents != 0 : owner_is_gone(a)))
            a->is_owner_gone = true;
        join_poll_events(a, pfd, 2);
        if (a->is_owner_gone && a->n_members == 0)
            _exit(0);
        if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
            _exit(0);
        if (!(pfd[0].revents & POLLIN))
            continue;
        res = fuse_session_receive_buf(a->se, &buf);
        if (res == -EINTR || res == -EAGAIN)
            continue;
        if (res <= 0)
            _exit(0); /* unmounted or connection aborted */
        if (!read_pool_submit(&a->pool, &buf))
            fuse_session_process_buf(a->se, &buf);
    }
}

/* In the first child: fork the server itself and leave it, so that the
 * server is nobody's child but init's (or the subreaper's). */
static void __attribute__((noreturn)) server_detach(struct server_args *a)
{
    pid_t srv = fork();

    if (srv != 0)
        _exit(srv < 0 ? 1 : 0);
    setsid();
    prctl(PR_SET_NAME, a->name);
    /* Every read allocates and frees block-sized buffers (and zstd a
     * decompression context): keep freed memory instead of returning it
     * to the kernel, so pages are not faulted in and zeroed again. */
    mallopt(M_MMAP_THRESHOLD, 16 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    dup2(a->devnull_fd, 0);
    dup2(a->devnull_fd, 1);
    dup2(a->devnull_fd, 2);
    {
        int keep[] = {a->fuse_fd, a->keep_fd, a->owner_pidfd, a->listen_fd, a->ready_fd};
        close_fds_except(keep, HR_ARRAY_LEN(keep));
    }
    if (chdir("/") < 0)
        _exit(1);
    image_serve(a);
}

/* The caller's copies of what only the server needs, on every path. */
static void server_args_close(struct server_args *a)
{
    if (a->owner_pidfd >= 0)
        close(a->owner_pidfd);
    if (a->fuse_fd >= 0)
        close(a->fuse_fd);
    a->owner_pidfd = a->fuse_fd = -1;
}

/* Fork the server (named a->name) that serves a until the container is
 * gone. Fork twice so the server is not our child: the application's wait(2)
 * for "all children" must never wait for it. */
static int server_fork(struct server_args *a, struct hr_join *join)
{
    pid_t mid;
    int status;

    a->owner_pidfd = (int)syscall(SYS_pidfd_open, a->owner, 0);
    a->owner_start = proc_start_time(a->owner);
    /* --join-lead keeps the container for the parent: one that died since
     * is no longer the parent, and its PID may be another process's now */
    if (a->owner != getpid() && a->owner != getppid()) {
        hr_err("%s: the process to keep the container for (%d) is gone", a->what,
               (int)a->owner);
        server_args_close(a);
        return -1;
    }
    mid = fork();
    if (mid < 0) {
        hr_err("%s: cannot fork the %s server: %s", a->what, a->name, strerror(errno));
        server_args_close(a);
        return -1;
    }
    if (mid == 0)
        server_detach(a);
    /* With SIGCHLD ignored by the caller the child is reaped by the kernel
     * and waitpid() says ECHILD: the child could not report a failure then,
     * but it only fails if fork() does, and the server checks nothing else. */
    status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
        ;
    server_args_close(a);
    if (join) { /* the server has them now */
        close(join->listen_fd);
        close(join->ready_rd);
        join->listen_fd = join->ready_rd = -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        hr_err("%s: cannot fork the %s server", a->what, a->name);
        return -1;
    }
    return 0;
}

int hr_image_mount_fuse(struct hr_image *img, const struct hr_fuse_opts *o)
{
    struct image_fs *fs = (struct image_fs *)img->ll;
    char opts[256], fdpath[64];
    char *argv[] = {"hpcrun", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(1, argv);
    struct hr_join *join = o->join;
    struct server_args a = {.name = "hpcrun-fuse",
                            .what = img->path,
                            .keep_fd = img->fd,
                            .devnull_fd = o->devnull_fd,
                            .fuse_fd = o->fuse_fd,
                            .owner = join && join->owner ? join->owner : getpid(),
                            .listen_fd = join ? join->listen_fd : -1,
                            .ready_fd = join ? join->ready_rd : -1};
    /* default_permissions: the kernel checks mode bits, so the image's files
     * are exactly as readable inside as the image says. */
    snprintf(opts, sizeof(opts),
             "fd=%d,rootmode=40000,user_id=%u,group_id=%u,default_permissions",
             o->fuse_fd, (unsigned)o->uid, (unsigned)o->gid);
    if (hr_mount(img->path, o->mountpoint, "fuse.squashfuse", MS_RDONLY, opts) < 0) {
        close(o->fuse_fd);
        return -1;
    }
    a.fs = &img->ll->fs;
    a.is_parallel = o->is_parallel;
    fs->is_parallel = o->is_parallel;
    fs->is_owned_by_caller = o->is_owned_by_caller;
    fs->uid = o->uid;
    fs->gid = o->gid;
    a.se = fuse_session_new(&args, &image_fuse_ops, sizeof(image_fuse_ops), img->ll);
    snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", o->fuse_fd);
    if (!a.se || fuse_session_mount(a.se, fdpath) != 0) {
        hr_err("%s: cannot start the FUSE session", img->path);
        close(o->fuse_fd);
        return -1;
    }
    return server_fork(&a, join);
}

int hr_image_keep_join(struct hr_join *join, int devnull_fd)
{
    struct server_args a = {.name = "hpcrun-join",
                            .what = "--join",
                            .keep_fd = -1,
                            .devnull_fd = devnull_fd,
                            .fuse_fd = -1,
                            .owner = join->owner ? join->owner : getpid(),
                            .listen_fd = join->listen_fd,
                            .ready_fd = join->ready_rd};

    /* image_serve() without a FUSE session: fuse_fd -1 is never ready, so
     * it only answers the members and exits with the last of them. */
    return server_fork(&a, join);
}

/* Paging a program in through FUSE is the largest part of a short launch:
 * each page fault waits for a block to be decompressed. Asking the kernel to
 * read the program ahead (readahead(2) queues FUSE reads and returns) lets
 * the server decompress it on another core while the root is assembled; the
 * exec then finds it in the page cache, which the overlay shares. */
#define PREFETCH_STEP (128 << 10)

/* Prefetching overlaps decompression with set-up only if a core is free;
 * on a busy machine (16 launches at once) it would only add work, since the
 * program is usually not read whole. The 4th field of /proc/loadavg counts
 * the tasks runnable right now, this one included (and often the shell that
 * just started it): as many as there are cores still leaves one to spare
 * once hpcrun waits for its first page. */
bool hr_image_prefetch_is_useful(void)
{
    char *text = hr_read_file("/proc/loadavg", 256, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long running = 0;

    if (text) {
        sscanf(text, "%*s %*s %*s %ld/", &running);
        free(text);
    }
    hr_debug("%ld tasks runnable on %ld cores: %s", running, cpus,
             running > 0 && running <= cpus ? "prefetch, parallel reads"
                                            : "serial reads");
    return cpus > 1 && running > 0 && running <= cpus;
}

void hr_image_prefetch(const char *mountpoint, const char *path)
{
    char *full;
    int fd;
    struct stat st;

    if (!path)
        return;
    full = hr_path_join(mountpoint, path);
    fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(full);
    if (fd < 0)
        return;
    /* The kernel caps one readahead(2) at the device's readahead window
     * (128 KiB for FUSE), so walk the file in such steps; 32 MiB at most. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        for (off_t off = 0; off < st.st_size && off < (32 << 20); off += PREFETCH_STEP)
            if (readahead(fd, off, PREFETCH_STEP) < 0)
                break;
    close(fd);
}
