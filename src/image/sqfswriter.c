/* SquashFS output through libsquashfs 1.2 (squashfs-tools-ng). The library
 * has the pieces (block processor, meta/dir/id/xattr writers) but no tree
 * writer, so this file lays out the image itself:
 *   superblock | compressor options | data and fragment blocks (streamed) |
 *   inode table | directory table | fragment table | id table | xattrs
 * Inodes are written non-directories first, then directories children before
 * parents, so every directory entry can name its child's inode reference. */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>

#include "image/sqfswriter.h"
#include "common/log.h"
#include "common/util.h"

#define DEFAULT_BLOCK_SIZE (128u * 1024u)
/* Pad the image to the device block size, as mksquashfs does, so it can be
 * used as a loop device. */
#define DEVBLK_SIZE 4096u

/* An sqfs_file_t over a file descriptor we own the lifetime of, which keeps
 * the errno of a failed write (ENOSPC) for the message. */
struct fd_file {
    sqfs_file_t base;
    int fd;
    sqfs_u64 size;
    int err;
};

struct hr_sqfs_writer {
    const char *name;
    struct fd_file *file;
    sqfs_super_t super;
    sqfs_compressor_t *cmp, *uncmp;
    sqfs_block_writer_t *blkwr;
    sqfs_frag_table_t *fragtbl;
    sqfs_block_processor_t *proc;
    sqfs_id_table_t *idtbl;
    sqfs_xattr_writer_t *xwr;
    sqfs_meta_writer_t *im, *dm;
    sqfs_dir_writer_t *dirwr;
    bool is_finished;
};

/* ---- the output file ---------------------------------------------------------- */

static void fd_file_destroy(sqfs_object_t *obj)
{
    free(obj);
}

static int fd_file_read_at(sqfs_file_t *base, sqfs_u64 off, void *buf, size_t size)
{
    struct fd_file *f = (struct fd_file *)base;
    while (size) {
        ssize_t n = pread(f->fd, buf, size, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            f->err = errno;
            return SQFS_ERROR_IO;
        }
        if (n == 0)
            return SQFS_ERROR_OUT_OF_BOUNDS;
        buf = (char *)buf + n;
        size -= (size_t)n;
        off += (sqfs_u64)n;
    }
    return 0;
}

static int fd_file_write_at(sqfs_file_t *base, sqfs_u64 off, const void *buf, size_t size)
{
    struct fd_file *f = (struct fd_file *)base;
    while (size) {
        ssize_t n = pwrite(f->fd, buf, size, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            f->err = n < 0 ? errno : ENOSPC;
            return SQFS_ERROR_IO;
        }
        buf = (const char *)buf + n;
        size -= (size_t)n;
        off += (sqfs_u64)n;
        if (off > f->size)
            f->size = off;
    }
    return 0;
}

static sqfs_u64 fd_file_get_size(const sqfs_file_t *base)
{
    return ((const struct fd_file *)base)->size;
}

static int fd_file_truncate(sqfs_file_t *base, sqfs_u64 size)
{
    struct fd_file *f = (struct fd_file *)base;
    if (ftruncate(f->fd, (off_t)size) < 0) {
        f->err = errno;
        return SQFS_ERROR_IO;
    }
    f->size = size;
    return 0;
}

static struct fd_file *fd_file_new(int fd)
{
    struct fd_file *f = hr_xmalloc(sizeof(*f));
    memset(f, 0, sizeof(*f));
    f->base.base.destroy = fd_file_destroy;
    f->base.read_at = fd_file_read_at;
    f->base.write_at = fd_file_write_at;
    f->base.get_size = fd_file_get_size;
    f->base.truncate = fd_file_truncate;
    f->fd = fd;
    return f;
}

/* ---- errors -------------------------------------------------------------------- */

static const char *sqfs_strerror(int err)
{
    switch (err) {
    case SQFS_ERROR_ALLOC:
        return "out of memory";
    case SQFS_ERROR_IO:
        return "input/output error";
    case SQFS_ERROR_COMPRESSOR:
        return "compressor failed";
    case SQFS_ERROR_OVERFLOW:
        return "a size exceeds what SquashFS can store";
    case SQFS_ERROR_ARG_INVALID:
        return "invalid argument";
    case SQFS_ERROR_UNSUPPORTED:
        return "not supported by this libsquashfs";
    default:
        return "internal error";
    }
}

/* One message for a libsquashfs failure; a failed write names its errno. */
static int fail(struct hr_sqfs_writer *w, const char *what, int err)
{
    if (err == SQFS_ERROR_IO && w->file && w->file->err)
        hr_err("%s: %s: %s", w->name, what, strerror(w->file->err));
    else
        hr_err("%s: %s: %s", w->name, what, sqfs_strerror(err));
    return -1;
}

/* ---- a compressor that never grows a block ---------------------------------------
 * libsquashfs 1.2's lz4 compressor returns output larger than its input for
 * small incompressible metadata blocks (a 24-byte id table becomes 26), which
 * squashfs-tools and the kernel reject. SquashFS stores such a block
 * uncompressed; this wrapper says so (0) for every compressor. */

struct shrink_cmp {
    sqfs_compressor_t base;
    sqfs_compressor_t *inner;
};

static sqfs_compressor_t *shrink_wrap(sqfs_compressor_t *inner);

static void shrink_destroy(sqfs_object_t *obj)
{
    struct shrink_cmp *s = (struct shrink_cmp *)obj;
    sqfs_destroy(s->inner);
    free(s);
}

static sqfs_object_t *shrink_copy(const sqfs_object_t *obj)
{
    const struct shrink_cmp *s = (const struct shrink_cmp *)obj;
    sqfs_compressor_t *inner = sqfs_copy(s->inner);
    return inner ? (sqfs_object_t *)shrink_wrap(inner) : NULL;
}

static void shrink_get_configuration(const sqfs_compressor_t *cmp,
                                     sqfs_compressor_config_t *cfg)
{
    const struct shrink_cmp *s = (const struct shrink_cmp *)cmp;
    s->inner->get_configuration(s->inner, cfg);
}

static int shrink_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
    struct shrink_cmp *s = (struct shrink_cmp *)cmp;
    return s->inner->write_options(s->inner, file);
}

static int shrink_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
    struct shrink_cmp *s = (struct shrink_cmp *)cmp;
    return s->inner->read_options(s->inner, file);
}

static sqfs_s32 shrink_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size,
                                sqfs_u8 *out, sqfs_u32 outsize)
{
    struct shrink_cmp *s = (struct shrink_cmp *)cmp;
    sqfs_s32 n = s->inner->do_block(s->inner, in, size, out, outsize);
    return n > 0 && (sqfs_u32)n >= size ? 0 : n;
}

static sqfs_compressor_t *shrink_wrap(sqfs_compressor_t *inner)
{
    struct shrink_cmp *s = malloc(sizeof(*s));

    if (!s) {
        sqfs_destroy(inner);
        return NULL;
    }
    memset(s, 0, sizeof(*s));
    s->base.base.destroy = shrink_destroy;
    s->base.base.copy = shrink_copy;
    s->base.get_configuration = shrink_get_configuration;
    s->base.write_options = shrink_write_options;
    s->base.read_options = shrink_read_options;
    s->base.do_block = shrink_do_block;
    s->inner = inner;
    return &s->base;
}

/* ---- setup ---------------------------------------------------------------------- */

int hr_sqfs_comp_supported(const char *name)
{
    int id = sqfs_compressor_id_from_name(name);
    sqfs_compressor_config_t cfg;
    sqfs_compressor_t *cmp = NULL;

    if (id < 0 || sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)id,
                                              DEFAULT_BLOCK_SIZE, 0) != 0)
        return 0;
    if (sqfs_compressor_create(&cfg, &cmp) != 0)
        return 0;
    sqfs_destroy(cmp);
    return 1;
}

/* zstd's level when none is asked for. libsquashfs (and mksquashfs) use 15:
 * on a realistic image (bench/results/convert.md) level 6 converts 4.5 times
 * faster for an image 8% larger, and reads back through hpcrun at least as
 * fast; above 6 the image barely shrinks while the time grows. */
#define HR_ZSTD_DEFAULT_LEVEL 6

static int writer_compressors(struct hr_sqfs_writer *w, const struct hr_sqfs_opts *o,
                              size_t block_size)
{
    sqfs_compressor_config_t cfg;
    int id = sqfs_compressor_id_from_name(o->comp);
    int err;

    if (id < 0) {
        hr_err("%s: unknown compressor (use zstd, gzip, xz or lz4)", o->comp);
        return -1;
    }
    err = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)id, block_size, 0);
    if (!err && o->level)
        cfg.level = o->level;
    else if (!err && id == SQFS_COMP_ZSTD)
        cfg.level = HR_ZSTD_DEFAULT_LEVEL;
    if (!err)
        err = sqfs_compressor_create(&cfg, &w->cmp);
    if (err && o->level) {
        hr_err("%s: level %u is not valid for this compressor", o->comp, o->level);
        return -1;
    }
    if (!err && !(w->cmp = shrink_wrap(w->cmp)))
        err = SQFS_ERROR_ALLOC;
    if (err)
        return fail(w, o->comp, err);
    /* A decompressor lets fragment deduplication compare the bytes of a
     * candidate instead of trusting a hash match. */
    err = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)id, block_size,
                                      SQFS_COMP_FLAG_UNCOMPRESS);
    if (!err)
        err = sqfs_compressor_create(&cfg, &w->uncmp);
    if (err)
        return fail(w, o->comp, err);
    err = sqfs_super_init(&w->super, block_size, o->mtime, (SQFS_COMPRESSOR)id);
    if (err)
        return fail(w, "superblock", err);
    return 0;
}

struct hr_sqfs_writer *hr_sqfs_writer_open(int fd, const char *name,
                                           const struct hr_sqfs_opts *o)
{
    struct hr_sqfs_writer *w = hr_xmalloc(sizeof(*w));
    size_t block_size = o->block_size ? o->block_size : DEFAULT_BLOCK_SIZE;
    sqfs_block_processor_desc_t desc;
    int err;

    memset(w, 0, sizeof(*w));
    w->name = name;
    w->file = fd_file_new(fd);
    if (writer_compressors(w, o, block_size) < 0)
        goto fail;
    /* Reserve the superblock; it is rewritten with the table positions last. */
    err = sqfs_super_write(&w->super, &w->file->base);
    if (err) {
        fail(w, "writing superblock", err);
        goto fail;
    }
    err = w->cmp->write_options(w->cmp, &w->file->base);
    if (err < 0) {
        fail(w, "writing compressor options", err);
        goto fail;
    }
    if (err > 0)
        w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;
    w->blkwr = sqfs_block_writer_create(&w->file->base, DEVBLK_SIZE, 0);
    w->fragtbl = sqfs_frag_table_create(0);
    w->idtbl = sqfs_id_table_create(0);
    w->xwr = sqfs_xattr_writer_create(0);
    w->im = sqfs_meta_writer_create(&w->file->base, w->cmp, 0);
    w->dm =
        sqfs_meta_writer_create(&w->file->base, w->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
    w->dirwr = w->dm ? sqfs_dir_writer_create(w->dm, 0) : NULL;
    if (!w->blkwr || !w->fragtbl || !w->idtbl || !w->xwr || !w->im || !w->dm ||
        !w->dirwr) {
        fail(w, "setting up the writer", SQFS_ERROR_ALLOC);
        goto fail;
    }
    memset(&desc, 0, sizeof(desc));
    desc.size = sizeof(desc);
    desc.max_block_size = (sqfs_u32)block_size;
    desc.num_workers = o->threads ? o->threads : 1;
    desc.max_backlog = desc.num_workers * 10;
    desc.cmp = w->cmp;
    desc.wr = w->blkwr;
    desc.tbl = w->fragtbl;
    desc.file = &w->file->base;
    desc.uncmp = w->uncmp;
    err = sqfs_block_processor_create_ex(&desc, &w->proc);
    if (err) {
        fail(w, "starting compression threads", err);
        goto fail;
    }
    return w;
fail:
    hr_sqfs_writer_free(w);
    return NULL;
}

void hr_sqfs_writer_free(struct hr_sqfs_writer *w)
{
    if (!w)
        return;
    /* The block processor first: its threads use the other objects. After a
     * failure, let it flush what it holds (into the output that is about to
     * be discarded): destroying it with blocks in flight leaks them. */
    if (w->proc) {
        if (!w->is_finished)
            sqfs_block_processor_finish(w->proc);
        sqfs_destroy(w->proc);
    }
    if (w->dirwr)
        sqfs_destroy(w->dirwr);
    if (w->dm)
        sqfs_destroy(w->dm);
    if (w->im)
        sqfs_destroy(w->im);
    if (w->xwr)
        sqfs_destroy(w->xwr);
    if (w->idtbl)
        sqfs_destroy(w->idtbl);
    if (w->fragtbl)
        sqfs_destroy(w->fragtbl);
    if (w->blkwr)
        sqfs_destroy(w->blkwr);
    if (w->uncmp)
        sqfs_destroy(w->uncmp);
    if (w->cmp)
        sqfs_destroy(w->cmp);
    if (w->file)
        sqfs_destroy(&w->file->base);
    free(w);
}

/* ---- data and xattrs -------------------------------------------------------------- */

int hr_sqfs_file_begin(struct hr_sqfs_writer *w, struct hr_node *n)
{
    int err = sqfs_block_processor_begin_file(w->proc, &n->inode, NULL, 0);
    return err ? fail(w, n->path, err) : 0;
}

int hr_sqfs_file_append(struct hr_sqfs_writer *w, const void *data, size_t size)
{
    int err = sqfs_block_processor_append(w->proc, data, size);
    return err ? fail(w, "writing file data", err) : 0;
}

int hr_sqfs_file_end(struct hr_sqfs_writer *w)
{
    int err = sqfs_block_processor_end_file(w->proc);
    return err ? fail(w, "writing file data", err) : 0;
}

int hr_sqfs_file_write(struct hr_sqfs_writer *w, struct hr_node *n, const void *data,
                       size_t size)
{
    if (hr_sqfs_file_begin(w, n) < 0 || (size && hr_sqfs_file_append(w, data, size) < 0))
        return -1;
    return hr_sqfs_file_end(w);
}

int hr_sqfs_xattr_begin(struct hr_sqfs_writer *w)
{
    int err = sqfs_xattr_writer_begin(w->xwr, 0);
    return err ? fail(w, "extended attributes", err) : 0;
}

int hr_sqfs_xattr_add(struct hr_sqfs_writer *w, const char *path, const char *key,
                      const void *value, size_t size)
{
    int err;

    if (strncmp(key, "user.", 5) != 0 && strncmp(key, "trusted.", 8) != 0 &&
        strncmp(key, "security.", 9) != 0) {
        hr_warn("%s: extended attribute %s: SquashFS cannot store it, dropped", path,
                key);
        return 0;
    }
    err = sqfs_xattr_writer_add(w->xwr, key, value, size);
    return err ? fail(w, path, err) : 0;
}

int hr_sqfs_xattr_end(struct hr_sqfs_writer *w, struct hr_node *n)
{
    sqfs_u32 idx;
    int err = sqfs_xattr_writer_end(w->xwr, &idx);
    if (err)
        return fail(w, n->path, err);
    n->xattr_idx = idx;
    return 0;
}

/* ---- the tree ------------------------------------------------------------------------
 */

struct inode_order {
    struct hr_node **v;
    size_t n, cap;
};

static void order_push(struct inode_order *o, struct hr_node *n)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 256;
        o->v = hr_xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->n++] = n;
}

/* Non-directories in tree order (each inode once: hardlinks share theirs). */
static void order_files(struct inode_order *o, struct hr_node *d)
{
    for (size_t i = 0; i < d->n_children; i++) {
        struct hr_node *c = d->children[i];
        if (c->is_whiteout || c->link)
            continue;
        if (S_ISDIR(c->mode))
            order_files(o, c);
        else
            order_push(o, c);
    }
}

/* Directories children first, so each one's entries are known when it is
 * written; the root comes last. */
static void order_dirs(struct inode_order *o, struct hr_node *d)
{
    d->nlink = 2;
    for (size_t i = 0; i < d->n_children; i++) {
        struct hr_node *c = d->children[i];
        if (!c->is_whiteout && !c->link && S_ISDIR(c->mode)) {
            order_dirs(o, c);
            d->nlink++;
        }
    }
    order_push(o, d);
}

static sqfs_inode_generic_t *inode_for_special(struct hr_node *n)
{
    size_t extra = S_ISLNK(n->mode) && n->target ? strlen(n->target) : 0;
    sqfs_inode_generic_t *in = hr_xmalloc(sizeof(*in) + extra);

    memset(in, 0, sizeof(*in) + extra);
    switch (n->mode & S_IFMT) {
    case S_IFLNK:
        in->base.type = SQFS_INODE_SLINK;
        in->data.slink.nlink = n->nlink;
        in->data.slink.target_size = (sqfs_u32)extra;
        in->payload_bytes_available = in->payload_bytes_used = (sqfs_u32)extra;
        memcpy(in->extra, n->target, extra);
        break;
    case S_IFBLK:
    case S_IFCHR:
        in->base.type = S_ISBLK(n->mode) ? SQFS_INODE_BDEV : SQFS_INODE_CDEV;
        in->data.dev.nlink = n->nlink;
        in->data.dev.devno = n->devno;
        break;
    case S_IFSOCK:
    case S_IFIFO:
        in->base.type = S_ISFIFO(n->mode) ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
        in->data.ipc.nlink = n->nlink;
        break;
    default:
        free(in);
        return NULL;
    }
    return in;
}

static sqfs_inode_generic_t *inode_for_dir(struct hr_sqfs_writer *w, struct hr_node *d,
                                           sqfs_u32 root_parent)
{
    sqfs_inode_generic_t *in;
    int err = sqfs_dir_writer_begin(w->dirwr, 0);

    for (size_t i = 0; !err && i < d->n_children; i++) {
        struct hr_node *c = d->children[i], *r = hr_node_real(c);
        if (c->is_whiteout)
            continue;
        err = sqfs_dir_writer_add_entry(w->dirwr, c->name, r->inode_num, r->inode_ref,
                                        (sqfs_u16)r->mode);
    }
    if (!err)
        err = sqfs_dir_writer_end(w->dirwr);
    if (err) {
        fail(w, d->path[0] ? d->path : "/", err);
        return NULL;
    }
    in = sqfs_dir_writer_create_inode(w->dirwr, 0, HR_NO_XATTR,
                                      d->parent ? d->parent->inode_num : root_parent);
    if (!in) {
        fail(w, "directory inode", SQFS_ERROR_ALLOC);
        return NULL;
    }
    if (in->base.type == SQFS_INODE_DIR)
        in->data.dir.nlink = d->nlink;
    else
        in->data.dir_ext.nlink = d->nlink;
    return in;
}

static int write_inode(struct hr_sqfs_writer *w, struct hr_node *n, sqfs_u32 root_parent)
{
    sqfs_inode_generic_t *in;
    sqfs_u64 block;
    sqfs_u32 offset;
    int err;

    if (S_ISDIR(n->mode)) {
        in = inode_for_dir(w, n, root_parent);
    } else if (S_ISREG(n->mode)) {
        in = n->inode;
        n->inode = NULL;
        if (in && n->nlink > 1) {
            sqfs_inode_make_extended(in);
            in->data.file_ext.nlink = n->nlink;
        }
    } else {
        in = inode_for_special(n);
    }
    if (!in)
        return S_ISDIR(n->mode) ? -1 : fail(w, n->path, SQFS_ERROR_INTERNAL);
    in->base.mode = (sqfs_u16)n->mode;
    in->base.mod_time = n->mtime;
    in->base.inode_number = n->inode_num;
    err = sqfs_inode_set_xattr_index(in, n->xattr_idx);
    if (!err)
        err = sqfs_id_table_id_to_index(w->idtbl, n->uid, &in->base.uid_idx);
    if (!err)
        err = sqfs_id_table_id_to_index(w->idtbl, n->gid, &in->base.gid_idx);
    sqfs_meta_writer_get_position(w->im, &block, &offset);
    n->inode_ref = (block << 16) | offset;
    if (!err)
        err = sqfs_meta_writer_write_inode(w->im, in);
    sqfs_free(in);
    return err ? fail(w, "writing inodes", err) : 0;
}

static int write_tree(struct hr_sqfs_writer *w, struct hr_fstree *t)
{
    struct inode_order o = {0};
    sqfs_u32 count;
    int err, rc = -1;

    hr_fstree_sort(t);
    order_files(&o, t->root);
    order_dirs(&o, t->root);
    if (o.n >= 0xFFFFFFFFu) {
        fail(w, "the tree", SQFS_ERROR_OVERFLOW);
        goto out;
    }
    count = (sqfs_u32)o.n;
    for (size_t i = 0; i < o.n; i++)
        o.v[i]->inode_num = (uint32_t)(i + 1);
    w->super.inode_table_start = w->file->size;
    for (size_t i = 0; i < o.n; i++)
        if (write_inode(w, o.v[i], count + 1) < 0)
            goto out;
    err = sqfs_meta_writer_flush(w->im);
    if (!err)
        err = sqfs_meta_writer_flush(w->dm);
    if (err) {
        fail(w, "writing inodes", err);
        goto out;
    }
    w->super.root_inode_ref = t->root->inode_ref;
    w->super.inode_count = count;
    w->super.directory_table_start = w->file->size;
    err = sqfs_meta_write_write_to_file(w->dm);
    if (err) {
        fail(w, "writing directories", err);
        goto out;
    }
    rc = 0;
out:
    free(o.v);
    return rc;
}

static int pad_to_devblk(struct hr_sqfs_writer *w)
{
    static const char zeros[DEVBLK_SIZE];
    size_t rest = w->file->size % DEVBLK_SIZE;
    int err;

    if (!rest)
        return 0;
    err =
        w->file->base.write_at(&w->file->base, w->file->size, zeros, DEVBLK_SIZE - rest);
    return err ? fail(w, "padding", err) : 0;
}

int hr_sqfs_writer_finish(struct hr_sqfs_writer *w, struct hr_fstree *t)
{
    int err = sqfs_block_processor_finish(w->proc);

    w->is_finished = true;
    if (err)
        return fail(w, "writing file data", err);
    if (write_tree(w, t) < 0)
        return -1;
    err = sqfs_frag_table_write(w->fragtbl, &w->file->base, &w->super, w->cmp);
    if (err)
        return fail(w, "writing the fragment table", err);
    err = sqfs_id_table_write(w->idtbl, &w->file->base, &w->super, w->cmp);
    if (err)
        return fail(w, "writing the id table", err);
    err = sqfs_xattr_writer_flush(w->xwr, &w->file->base, &w->super, w->cmp);
    if (err)
        return fail(w, "writing extended attributes", err);
    w->super.bytes_used = w->file->size;
    err = sqfs_super_write(&w->super, &w->file->base);
    if (err)
        return fail(w, "writing the superblock", err);
    return pad_to_devblk(w);
}
