/* The image step, part three: what the FUSE server answers. The image is
 * read-only and its tables never change, so every answer may be kept by
 * the kernel for the mount's life; what costs a launch is the number of
 * round trips to the server (each one a wake-up of a process that competes
 * for a core with the application), so the operations below let the kernel
 * skip as many as it can:
 * - entries and attributes are cached forever, negative entries too;
 * - READDIRPLUS: a listing carries every entry's attributes, so a tree walk
 *   (find, ls -l, Python's path scans) needs no lookup per name;
 * - no OPEN or OPENDIR (FUSE_NO_OPEN_SUPPORT, FUSE_NO_OPENDIR_SUPPORT,
 *   Linux 3.14 and 5.1): READ and READDIR find the inode by its number, and
 *   the kernel keeps the page cache and directory listings (its defaults
 *   then: FOPEN_KEEP_CACHE, FOPEN_CACHE_DIR);
 * - symlink targets in the page cache (FUSE_CACHE_SYMLINKS, Linux 4.20):
 *   /lib and /bin are symlinks in merged-/usr images, on every exec's path. */
#include "launch/imagefs_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static __thread sqfs *thread_fs; /* a worker's own squashfuse state */

/* What is left of a listing's reply buffer. */
struct dirbuf {
    char *p;
    size_t len;
};

void hr_imagefs_use_fs(sqfs *fs)
{
    thread_fs = fs;
}

static sqfs *op_fs(fuse_req_t req)
{
    return thread_fs ? thread_fs : &((sqfs_ll *)fuse_req_userdata(req))->fs;
}

/* The inode that FUSE numbers ino (64-bit FUSE numbers are SquashFS inode
 * ids: squashfuse's ll_inode.c, no state to share between threads). Replies
 * ENOENT itself on failure. */
static int op_inode(fuse_req_t req, fuse_ino_t ino, sqfs_inode *inode)
{
    sqfs_ll *ll = fuse_req_userdata(req);

    if (hr_image_inode_get(op_fs(req), inode, ll->ino_sqfs(ll, ino)) != SQFS_OK) {
        fuse_reply_err(req, ENOENT);
        return -1;
    }
    return 0;
}

/* With is_owned_by_caller every file is reported as the caller's. A
 * user-namespace overlay cannot copy up a file whose owner has no mapping,
 * so this is what lets --writable-tmpfs write anywhere without --fakeroot. */
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
    sqfs_inode inode;
    struct stat st;

    (void)fi;
    if (op_inode(req, ino, &inode) < 0)
        return;
    if (hr_image_stat(op_fs(req), &inode, &st)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    st.st_ino = ino;
    image_own(req, &st);
    fuse_reply_attr(req, &st, DBL_MAX);
}

/* The entry for a name found in a directory: its inode's attributes, and
 * the name counted as looked up (squashfuse's ino_register). */
static int image_entry(fuse_req_t req, sqfs_dir_entry *entry, struct fuse_entry_param *e)
{
    sqfs_ll *ll = fuse_req_userdata(req);
    sqfs_inode inode;

    *e = (struct fuse_entry_param){.attr_timeout = DBL_MAX, .entry_timeout = DBL_MAX};
    if (hr_image_inode_get(op_fs(req), &inode, sqfs_dentry_inode(entry)) ||
        hr_image_stat(op_fs(req), &inode, &e->attr))
        return -1;
    e->ino = ll->ino_register(ll, entry);
    e->attr.st_ino = e->ino;
    image_own(req, &e->attr);
    return 0;
}

static void image_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e = {.attr_timeout = DBL_MAX, .entry_timeout = DBL_MAX};
    struct image_fs *f = fuse_req_userdata(req);
    sqfs_name namebuf;
    sqfs_dir_entry entry;
    sqfs_inode dir;
    bool found = false;

    if (op_inode(req, parent, &dir) < 0)
        return;
    if (!S_ISDIR(dir.base.mode)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    sqfs_dentry_init(&entry, namebuf);
    if (hr_image_dir_find(f, &(struct image_dir){&dir, f->ll.ino_sqfs(&f->ll, parent)},
                          name, &entry, &found)) {
        fuse_reply_err(req, EIO);
        return;
    }
    if (!found) { /* ino 0: a cached negative entry */
        fuse_reply_entry(req, &e);
        return;
    }
    if (image_entry(req, &entry, &e) < 0) {
        fuse_reply_err(req, EIO);
        return;
    }
    fuse_reply_entry(req, &e);
}

/* Opening needs nothing from the server: where the kernel can do without
 * OPEN and OPENDIR, ENOSYS tells it to stop sending them (see
 * FUSE_CAP_NO_OPEN_SUPPORT in <fuse_common.h>). Elsewhere they succeed with
 * no handle, since READ and READDIR go by the inode number. */
static void image_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct image_fs *f = fuse_req_userdata(req);

    (void)ino;
    if (f->can_skip_open) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    if (fi->flags & (O_WRONLY | O_RDWR)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    fi->fh = 0;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void image_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct image_fs *f = fuse_req_userdata(req);

    (void)ino;
    if (f->can_skip_opendir) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    fi->fh = 0;
    fi->keep_cache = 1;
    fi->cache_readdir = 1;
    fuse_reply_open(req, fi);
}

static void image_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

/* ---- whole blocks into the page cache ------------------------------------
 * A READ asks for some pages, but answering it decompresses whole SquashFS
 * blocks (128 KiB). As the kernel's own squashfs does, the server puts every
 * page of such a block in the page cache: after the reply, the rest of the
 * block goes to the kernel with FUSE_NOTIFY_STORE, so a later fault in it
 * costs neither a round trip nor a second decompression.
 * A thread of its own writes the stores: the kernel locks each page it
 * stores, and a page may be locked by a READ still waiting in the queue,
 * which only the threads that answer requests can answer. */

#define STORE_MAX_JOBS 64 /* 8 MiB in flight at most: a job is < 1 block */

struct store_job {
    struct store_job *next;
    fuse_ino_t ino;
    off_t off;
    size_t len;
    char data[];
};

/* one session per server process: the queue is the process's */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct store_job *head, *tail;
    size_t n;
    struct fuse_session *se; /* NULL: no store thread */
} store = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *store_worker(void *arg)
{
    (void)arg;
    for (;;) {
        struct store_job *job;
        struct fuse_bufvec bv;

        pthread_mutex_lock(&store.lock);
        while (!store.head)
            pthread_cond_wait(&store.cond, &store.lock);
        job = store.head;
        store.head = job->next;
        if (!store.head)
            store.tail = NULL;
        store.n--;
        pthread_mutex_unlock(&store.lock);
        bv = FUSE_BUFVEC_INIT(job->len);
        bv.buf[0].mem = job->data;
        /* a hint: the kernel may have dropped the inode already */
        (void)fuse_lowlevel_notify_store(store.se, job->ino, job->off, &bv, 0);
        free(job);
    }
    return NULL;
}

void hr_imagefs_store_start(struct fuse_session *se)
{
    pthread_t t;

    store.se = se;
    if (pthread_create(&t, NULL, store_worker, NULL) != 0)
        store.se = NULL; /* reads work without it */
}

/* Queue [from, to) of inode ino, read from the blocks just decompressed
 * (in this thread's cache). */
static void store_range(sqfs *fs, fuse_ino_t ino, sqfs_inode *inode, off_t from, off_t to)
{
    sqfs_off_t n = to - from;
    struct store_job *job;

    if (n <= 0 || __atomic_load_n(&store.n, __ATOMIC_RELAXED) >= STORE_MAX_JOBS)
        return;
    job = malloc(sizeof(*job) + (size_t)n);
    if (!job)
        return;
    if (hr_image_read_range(fs, inode, from, &n, job->data) != SQFS_OK || n <= 0) {
        free(job);
        return;
    }
    *job = (struct store_job){.ino = ino, .off = from, .len = (size_t)n};
    pthread_mutex_lock(&store.lock);
    if (store.tail)
        store.tail->next = job;
    else
        store.head = job;
    store.tail = job;
    store.n++;
    pthread_cond_signal(&store.cond);
    pthread_mutex_unlock(&store.lock);
}

/* Queue what the reply for [off, off + len) left of the blocks it touched:
 * the head of the first, the tail of the last. Blocks are aligned in the
 * file, and so are pages. */
static void store_blocks(sqfs *fs, fuse_ino_t ino, sqfs_inode *inode, off_t off,
                         size_t len)
{
    off_t bs = (off_t)fs->sb.block_size, size = (off_t)inode->xtra.reg.file_size;
    off_t end = (off + (off_t)len + bs - 1) / bs * bs;

    if (!store.se || len == 0)
        return;
    store_range(fs, ino, inode, off / bs * bs, off);
    store_range(fs, ino, inode, off + (off_t)len, end < size ? end : size);
}

/* Files whose data this thread found safe to read (hr_image_file_is_safe).
 * The kernel skips OPEN, so a file's first READ is where the server first
 * sees it, and the check walks its whole block list: a small cache of inode
 * numbers keeps that to about once per file. */
#define SAFE_SLOTS 256
static __thread fuse_ino_t safe_inos[SAFE_SLOTS]; /* 0: none (no file is 0) */

static bool file_is_safe(sqfs *fs, fuse_ino_t ino, sqfs_inode *inode)
{
    fuse_ino_t *slot = &safe_inos[ino % SAFE_SLOTS];

    if (*slot == ino)
        return true;
    if (!hr_image_file_is_safe(fs, inode))
        return false;
    *slot = ino;
    return true;
}

static void image_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
    sqfs_off_t osize = (sqfs_off_t)size;
    sqfs *fs = op_fs(req); /* the reply frees req */
    sqfs_inode inode;
    char *buf;

    (void)fi;
    if (op_inode(req, ino, &inode) < 0)
        return;
    if (!S_ISREG(inode.base.mode)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (!file_is_safe(fs, ino, &inode)) {
        fuse_reply_err(req, EIO);
        return;
    }
    buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    if (hr_image_read_range(fs, &inode, off, &osize, buf) != SQFS_OK) {
        fuse_reply_err(req, EIO);
    } else {
        fuse_reply_buf(req, buf, (size_t)osize);
        store_blocks(fs, ino, &inode, off, (size_t)osize);
    }
    free(buf);
}

/* One listing entry into buf; 0 once the next does not fit (or fails). */
static size_t image_add_dirent(fuse_req_t req, struct dirbuf buf, sqfs_dir_entry *entry,
                               bool is_plus)
{
    const char *name = sqfs_dentry_name(entry);
    off_t next = sqfs_dentry_next_offset(entry);
    sqfs_ll *ll = fuse_req_userdata(req);
    struct fuse_entry_param e;
    struct stat st = {.st_mode = sqfs_dentry_mode(entry)};
    size_t n;

    if (!is_plus) {
        st.st_ino = ll->ino_fuse_num(ll, entry);
        n = fuse_add_direntry(req, buf.p, buf.len, name, &st, next);
        return n > buf.len ? 0 : n;
    }
    /* plus: counted as a lookup only if it fits, so measure it first */
    if (fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0) > buf.len ||
        image_entry(req, entry, &e) < 0)
        return 0;
    return fuse_add_direntry_plus(req, buf.p, buf.len, name, &e, next);
}

/* squashfuse's readdir copies names into a fixed buffer: list only
 * directories that were checked (see hr_image_dir_is_safe). */
static void image_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          bool is_plus)
{
    struct image_fs *f = fuse_req_userdata(req);
    hr_autofree char *buf = NULL;
    struct dirbuf rest;
    sqfs_name namebuf;
    sqfs_dir_entry entry;
    sqfs_inode inode;
    sqfs_dir dir;
    sqfs_err err = SQFS_OK;

    if (op_inode(req, ino, &inode) < 0)
        return;
    if (!hr_image_dir_is_safe(f, &inode, f->ll.ino_sqfs(&f->ll, ino)) ||
        sqfs_dir_open(op_fs(req), &inode, &dir, off) != SQFS_OK) {
        fuse_reply_err(req, S_ISDIR(inode.base.mode) ? EIO : ENOTDIR);
        return;
    }
    buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    rest = (struct dirbuf){buf, size};
    sqfs_dentry_init(&entry, namebuf);
    while (sqfs_dir_next(op_fs(req), &dir, &entry, &err)) {
        size_t n = image_add_dirent(req, rest, &entry, is_plus);
        if (n == 0)
            break;
        rest.p += n;
        rest.len -= n;
    }
    if (err != SQFS_OK)
        fuse_reply_err(req, EIO);
    else
        fuse_reply_buf(req, buf, size - rest.len);
}

static void image_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                             struct fuse_file_info *fi)
{
    (void)fi;
    image_readdir(req, ino, size, off, false);
}

static void image_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                                 struct fuse_file_info *fi)
{
    (void)fi;
    image_readdir(req, ino, size, off, true);
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

/* The node's extended attributes can be read (hr_image_xattrs_are_safe);
 * if not, the request is answered with EIO. */
static bool image_xattrs_are_safe(fuse_req_t req, fuse_ino_t ino)
{
    sqfs_inode inode;

    if (op_inode(req, ino, &inode) < 0)
        return false; /* answered */
    if (!hr_image_xattrs_are_safe(op_fs(req), &inode)) {
        fuse_reply_err(req, EIO);
        return false;
    }
    return true;
}

static void image_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                              size_t size)
{
    if (!image_has_xattrs(req))
        fuse_reply_err(req, ENOSYS);
    else if (image_xattrs_are_safe(req, ino))
        sqfs_ll_op_getxattr(req, ino, name, size);
}

static void image_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    if (!image_has_xattrs(req))
        fuse_reply_err(req, ENOSYS);
    else if (image_xattrs_are_safe(req, ino))
        sqfs_ll_op_listxattr(req, ino, size);
}

/* What the kernel may skip (see the top of this file), as far as it can.
 * And let it queue a whole program's readahead without blocking the
 * process that asked (it blocks past max_background requests in flight).
 * The kernel's readahead stays on even with no idle core: a page faulted
 * in alone is a round trip for 4 KiB, and round trips, each a wake-up of
 * the server on a busy core, cost a loaded machine more than the blocks
 * read ahead (whole blocks go to the page cache anyway, see above). */
static void image_op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct image_fs *f = userdata;
    const unsigned wanted = FUSE_CAP_READDIRPLUS | FUSE_CAP_CACHE_SYMLINKS;

    conn->want |= conn->capable & wanted;
    /* every listing with its attributes, not only the first of a directory */
    conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
    f->can_skip_open = conn->capable & FUSE_CAP_NO_OPEN_SUPPORT;
    f->can_skip_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
    conn->max_background = 256;
    conn->congestion_threshold = 256;
}

const struct fuse_lowlevel_ops hr_imagefs_ops = {
    .init = image_op_init,
    .getattr = image_op_getattr,
    .lookup = image_op_lookup,
    .opendir = image_op_opendir,
    .releasedir = image_op_release,
    .readdir = image_op_readdir,
    .readdirplus = image_op_readdirplus,
    .open = image_op_open,
    .create = sqfs_ll_op_create,
    .release = image_op_release,
    .read = image_op_read,
    .readlink = sqfs_ll_op_readlink,
    .listxattr = image_op_listxattr,
    .getxattr = image_op_getxattr,
    .forget = sqfs_ll_op_forget,
    .statfs = stfs_ll_op_statfs,
};
