/* The image step. squashfuse's headers carry their own config.h with
 * PACKAGE_* macros, so this file includes them before ours and does not
 * include autoconfig.h (the build defines _GNU_SOURCE for every file). */
#include <squashfuse/ll.h>
#include <squashfuse/squashfuse.h>
#include <squashfuse/decompress.h>
#undef PACKAGE
#undef PACKAGE_BUGREPORT
#undef PACKAGE_NAME
#undef PACKAGE_STRING
#undef PACKAGE_TARNAME
#undef PACKAGE_URL
#undef PACKAGE_VERSION
#undef VERSION

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
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

#include "image.h"
#include "log.h"
#include "pathres.h"
#include "root.h"

#include <float.h>

#define SQFS_MAGIC_LE 0x73717368u /* "hsqs" */

/* libsquashfuse exports sqfs_stat (the inode -> struct stat conversion its
 * own getattr uses) but does not install its header. */
sqfs_err sqfs_stat(sqfs *fs, sqfs_inode *inode, struct stat *st);

/* What the FUSE server serves: squashfuse's state first, so its own
 * operations (which take the request's userdata as a sqfs_ll) work on it. */
struct image_fs {
    sqfs_ll ll;
    bool is_owned_by_caller; /* report every file as owned by uid/gid */
    uid_t uid;
    gid_t gid;
};
#define CONFIG_JSON "/.hpcrun/config.json"
#define META_FILE_MAX (4u << 20)

/* squashfuse caches one data block and three fragment blocks. The kernel
 * asks for pages of a program in a scattered order while it is exec'ed and
 * its libraries are mapped, so with one block cached the same 128 KiB block is
 * decompressed again and again. 32 blocks (4 MiB at the default block size)
 * covers a typical program's working set; the cache is per container. */
#define DATA_CACHE_BLOCKS 32
#define FRAG_CACHE_BLOCKS 32

/* ---- config.json --------------------------------------------------------- */

static int json_strv(json_t *obj, const char *key, struct hr_strv *out, char *err,
                     size_t errlen)
{
    json_t *arr = json_object_get(obj, key);
    size_t i;
    json_t *v;

    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "\"%s\" must be an array of strings", key);
        return -1;
    }
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "\"%s\" must be an array of strings", key);
            return -1;
        }
        hr_strv_push(out, json_string_value(v));
    }
    return 0;
}

static int json_str(json_t *obj, const char *key, char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"%s\" must be a string", key);
        return -1;
    }
    if (*json_string_value(v))
        *out = hr_xstrdup(json_string_value(v));
    return 0;
}

int hr_image_config_parse(const char *json, struct hr_image_config *cfg, char *err,
                          size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    json_t *obj;
    int rc = -1;

    memset(cfg, 0, sizeof(*cfg));
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
        return -1;
    }
    obj = root;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "expected a JSON object");
        goto out;
    }
    if (json_is_object(json_object_get(root, "config")))
        obj = json_object_get(root, "config");
    if (json_strv(obj, "Env", &cfg->env, err, errlen) < 0 ||
        json_strv(obj, "Entrypoint", &cfg->entrypoint, err, errlen) < 0 ||
        json_strv(obj, "Cmd", &cfg->cmd, err, errlen) < 0 ||
        json_str(obj, "WorkingDir", &cfg->workdir, err, errlen) < 0 ||
        json_str(obj, "User", &cfg->user, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < cfg->env.n; i++) {
        if (!strchr(cfg->env.v[i], '=') || cfg->env.v[i][0] == '=') {
            snprintf(err, errlen, "\"Env\" entry '%s' is not NAME=VALUE", cfg->env.v[i]);
            goto out;
        }
    }
    if (cfg->workdir && cfg->workdir[0] != '/') {
        snprintf(err, errlen, "\"WorkingDir\" '%s' is not absolute", cfg->workdir);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        hr_image_config_free(cfg);
    return rc;
}

void hr_image_config_free(struct hr_image_config *cfg)
{
    hr_strv_free(&cfg->env);
    hr_strv_free(&cfg->entrypoint);
    hr_strv_free(&cfg->cmd);
    free(cfg->workdir);
    free(cfg->user);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- reading the image without mounting it ------------------------------- */

int hr_image_lookup(void *ctx, const char *path, char *target, size_t targetlen)
{
    struct hr_image *img = ctx;
    sqfs *fs = &img->ll->fs;
    sqfs_inode inode;
    bool found = false;

    if (sqfs_inode_get(fs, &inode, sqfs_inode_root(fs)) != SQFS_OK)
        return -EIO;
    if (sqfs_lookup_path(fs, &inode, path, &found) != SQFS_OK)
        return -EIO;
    if (!found)
        return HR_NODE_MISSING;
    if (S_ISLNK(inode.base.mode)) {
        size_t size = targetlen;
        if (sqfs_readlink(fs, &inode, target, &size) != SQFS_OK)
            return -EIO;
        return HR_NODE_SYMLINK;
    }
    return S_ISDIR(inode.base.mode) ? HR_NODE_DIR : HR_NODE_OTHER;
}

/* Read a small regular file from the image, resolving symlinks inside it.
 * Returns NULL with errno ENOENT if absent. */
static char *image_read_file(struct hr_image *img, const char *path)
{
    struct hr_resolved r;
    sqfs *fs = &img->ll->fs;
    sqfs_inode inode;
    bool found = false;
    sqfs_off_t size;
    char *buf;

    if (hr_resolve_in_root(path, hr_image_lookup, img, &r) < 0 || r.n_missing ||
        r.last != HR_NODE_OTHER) {
        free(r.path);
        errno = ENOENT;
        return NULL;
    }
    if (sqfs_inode_get(fs, &inode, sqfs_inode_root(fs)) != SQFS_OK ||
        sqfs_lookup_path(fs, &inode, r.path, &found) != SQFS_OK || !found ||
        !S_ISREG(inode.base.mode) || inode.xtra.reg.file_size > META_FILE_MAX) {
        free(r.path);
        errno = found ? EFBIG : ENOENT;
        return NULL;
    }
    free(r.path);
    size = (sqfs_off_t)inode.xtra.reg.file_size;
    buf = hr_xmalloc((size_t)size + 1);
    if (sqfs_read_range(fs, &inode, 0, &size, buf) != SQFS_OK) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[size] = '\0';
    return buf;
}

static int image_check_root(struct hr_image *img)
{
    sqfs *fs = &img->ll->fs;
    sqfs_inode root;
    sqfs_dir dir;
    sqfs_dir_entry entry;
    sqfs_name name;
    sqfs_err err = SQFS_OK;

    if (sqfs_inode_get(fs, &root, sqfs_inode_root(fs)) != SQFS_OK ||
        !S_ISDIR(root.base.mode) || sqfs_dir_open(fs, &root, &dir, 0) != SQFS_OK)
        return -1;
    sqfs_dentry_init(&entry, name);
    while (sqfs_dir_next(fs, &dir, &entry, &err))
        ;
    return err == SQFS_OK ? 0 : -1;
}

static int image_check_superblock(struct hr_image *img, const struct stat *st)
{
    struct squashfs_super_block sb;
    unsigned long long avail;
    ssize_t n;

    if (S_ISDIR(st->st_mode)) {
        hr_err("%s: is a directory, not a SquashFS image", img->path);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        hr_err("%s: not a regular file", img->path);
        return -1;
    }
    if (st->st_size == 0) {
        hr_err("%s: empty file, not a SquashFS image", img->path);
        return -1;
    }
    if ((unsigned long long)st->st_size < img->offset + sizeof(sb)) {
        if (img->offset)
            hr_err("%s: no SquashFS image at offset %llu (the file has %lld bytes)",
                   img->path, img->offset, (long long)st->st_size);
        else
            hr_err("%s: not a SquashFS image (too small)", img->path);
        return -1;
    }
    n = pread(img->fd, &sb, sizeof(sb), (off_t)img->offset);
    if (n != (ssize_t)sizeof(sb)) {
        hr_err("%s: cannot read: %s", img->path, n < 0 ? strerror(errno) : "short read");
        return -1;
    }
    if (le32toh(sb.s_magic) != SQFS_MAGIC_LE) {
        if (img->offset)
            hr_err("%s: not a SquashFS image at offset %llu (bad magic)", img->path,
                   img->offset);
        else
            hr_err("%s: not a SquashFS image (bad magic)", img->path);
        return -1;
    }
    if (le16toh(sb.s_major) != 4) {
        hr_err("%s: SquashFS version %u.%u is not supported (4.x is)", img->path,
               le16toh(sb.s_major), le16toh(sb.s_minor));
        return -1;
    }
    avail = (unsigned long long)st->st_size - img->offset;
    if (le64toh(sb.bytes_used) > avail) {
        hr_err("%s: truncated SquashFS image (needs %llu bytes, has %llu)", img->path,
               (unsigned long long)le64toh(sb.bytes_used), avail);
        return -1;
    }
    if (!sqfs_decompressor_get(le16toh(sb.compression))) {
        hr_err("%s: compressed with %s, which this libsquashfuse cannot read", img->path,
               sqfs_compression_name(le16toh(sb.compression)));
        return -1;
    }
    return 0;
}

static void image_grow_caches(sqfs *fs)
{
    sqfs_cache data, frag;

    if (sqfs_block_cache_init(&data, DATA_CACHE_BLOCKS) == SQFS_OK) {
        sqfs_cache_destroy(&fs->data_cache);
        fs->data_cache = data;
    }
    if (sqfs_block_cache_init(&frag, FRAG_CACHE_BLOCKS) == SQFS_OK) {
        sqfs_cache_destroy(&fs->frag_cache);
        fs->frag_cache = frag;
    }
}

static int image_read_metadata(struct hr_image *img)
{
    char *json = image_read_file(img, CONFIG_JSON);

    if (json) {
        char err[512];
        int rc = hr_image_config_parse(json, &img->config, err, sizeof(err));
        free(json);
        if (rc < 0) {
            hr_err("%s: %s: %s", img->path, CONFIG_JSON, err);
            return -1;
        }
    }
    img->passwd = image_read_file(img, "/etc/passwd");
    img->group = image_read_file(img, "/etc/group");
    return 0;
}

int hr_image_open(struct hr_image *img, const char *path, unsigned long long offset)
{
    struct stat st;
    sqfs_err err;

    memset(img, 0, sizeof(*img));
    img->path = hr_xstrdup(path);
    img->offset = offset;
    /* Opened with the caller's own credentials, before any namespace exists:
     * hpcrun can only mount what the caller can read. */
    img->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (img->fd < 0) {
        hr_err("%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(img->fd, &st) < 0) {
        hr_err("%s: %s", path, strerror(errno));
        return -1;
    }
    if (image_check_superblock(img, &st) < 0)
        return -1;
    img->ll = calloc(1, sizeof(struct image_fs));
    if (!img->ll) {
        hr_err("out of memory");
        return -1;
    }
    err = sqfs_init(&img->ll->fs, img->fd, (size_t)offset);
    if (err != SQFS_OK) {
        hr_err("%s: corrupted SquashFS image (cannot read its tables)", path);
        free(img->ll);
        img->ll = NULL;
        return -1;
    }
    if (sqfs_ll_init(img->ll) != SQFS_OK || image_check_root(img) < 0) {
        hr_err("%s: corrupted SquashFS image (cannot read the root directory)", path);
        return -1;
    }
    img->compression = sqfs_compression_name(sqfs_compression(&img->ll->fs));
    image_grow_caches(&img->ll->fs);
    return image_read_metadata(img);
}

void hr_image_close(struct hr_image *img)
{
    if (img->ll) {
        sqfs_ll_destroy(img->ll);
        free(img->ll);
    }
    if (img->fd >= 0)
        close(img->fd);
    hr_image_config_free(&img->config);
    free(img->passwd);
    free(img->group);
    free(img->path);
    memset(img, 0, sizeof(*img));
    img->fd = -1;
}

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
    bool found = false;

    if (sqfs_ll_iget(req, &lli, parent))
        return;
    if (!S_ISDIR(lli.inode.base.mode)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    sqfs_dentry_init(&entry, namebuf);
    if (sqfs_dir_lookup(&lli.ll->fs, &lli.inode, name, strlen(name), &entry, &found)) {
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

static const struct fuse_lowlevel_ops image_fuse_ops = {
    .getattr = image_op_getattr,
    .opendir = sqfs_ll_op_opendir,
    .releasedir = sqfs_ll_op_releasedir,
    .readdir = sqfs_ll_op_readdir,
    .lookup = image_op_lookup,
    .open = sqfs_ll_op_open,
    .create = sqfs_ll_op_create,
    .release = sqfs_ll_op_release,
    .read = sqfs_ll_op_read,
    .readlink = sqfs_ll_op_readlink,
    .listxattr = sqfs_ll_op_listxattr,
    .getxattr = sqfs_ll_op_getxattr,
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
    struct fuse_session *se;
    int fuse_fd;
    int owner_pidfd;
    pid_t owner;
    unsigned long long owner_start;
};

static bool owner_is_gone(const struct server_args *a)
{
    return kill(a->owner, 0) < 0 && errno == ESRCH ? true
                                                    : proc_start_time(a->owner) != a->owner_start;
}

/* The server's loop: answer FUSE requests until the container's first process
 * is gone. It ignores the signals a job step or a terminal sends (the
 * application may trap SIGTERM and still need its files) and dies with the
 * application instead; SIGKILL still ends it. */
static void __attribute__((noreturn)) image_serve(struct server_args *a)
{
    struct fuse_buf buf = {0};
    const int ignored[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
                           SIGUSR2, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};

    for (size_t i = 0; i < HR_ARRAY_LEN(ignored); i++)
        signal(ignored[i], SIG_IGN);
    for (;;) {
        struct pollfd pfd[2] = {{.fd = a->fuse_fd, .events = POLLIN},
                                {.fd = a->owner_pidfd, .events = POLLIN}};
        int n = poll(pfd, a->owner_pidfd >= 0 ? 2 : 1, a->owner_pidfd >= 0 ? -1 : 250);
        int res;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            _exit(1);
        if (a->owner_pidfd >= 0 ? (pfd[1].revents != 0) : owner_is_gone(a))
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
        fuse_session_process_buf(a->se, &buf);
    }
}

int hr_image_mount_fuse(struct hr_image *img, int fuse_fd, const char *mountpoint,
                        uid_t uid, gid_t gid, bool is_owned_by_caller, int devnull_fd)
{
    struct image_fs *fs = (struct image_fs *)img->ll;
    char opts[256], fdpath[64];
    char *argv[] = {"hpcrun", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(1, argv);
    struct server_args a = {.fuse_fd = fuse_fd, .owner = getpid()};
    pid_t mid;
    int status;

    /* default_permissions: the kernel checks mode bits, so the image's files
     * are exactly as readable inside as the image says. */
    snprintf(opts, sizeof(opts),
             "fd=%d,rootmode=40000,user_id=%u,group_id=%u,default_permissions", fuse_fd,
             (unsigned)uid, (unsigned)gid);
    if (hr_mount(img->path, mountpoint, "fuse.squashfuse",
                 MS_RDONLY | MS_NOSUID | MS_NODEV, opts) < 0)
        return -1;
    fs->is_owned_by_caller = is_owned_by_caller;
    fs->uid = uid;
    fs->gid = gid;
    a.se = fuse_session_new(&args, &image_fuse_ops, sizeof(image_fuse_ops), img->ll);
    snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fuse_fd);
    if (!a.se || fuse_session_mount(a.se, fdpath) != 0) {
        hr_err("%s: cannot start the FUSE session", img->path);
        return -1;
    }
    a.owner_pidfd = (int)syscall(SYS_pidfd_open, a.owner, 0);
    a.owner_start = proc_start_time(a.owner);

    /* Fork twice so the server is not our child: the application's
     * wait(2) for "all children" must never wait for the file system. */
    mid = fork();
    if (mid < 0) {
        hr_err("%s: cannot fork the FUSE server: %s", img->path, strerror(errno));
        return -1;
    }
    if (mid == 0) {
        pid_t srv = fork();
        if (srv != 0)
            _exit(srv < 0 ? 1 : 0);
        setsid();
        prctl(PR_SET_NAME, "hpcrun-fuse");
        dup2(devnull_fd, 0);
        dup2(devnull_fd, 1);
        dup2(devnull_fd, 2);
        {
            int keep[] = {fuse_fd, img->fd, a.owner_pidfd};
            close_fds_except(keep, HR_ARRAY_LEN(keep));
        }
        if (chdir("/") < 0)
            _exit(1);
        image_serve(&a);
    }
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
        ;
    if (a.owner_pidfd >= 0)
        close(a.owner_pidfd);
    close(fuse_fd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        hr_err("%s: cannot fork the FUSE server", img->path);
        return -1;
    }
    return 0;
}
