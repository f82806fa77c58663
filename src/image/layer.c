/* Layer reading. A layer blob is read through two chained libarchive readers:
 * the outer one only decompresses ("raw" format, any filter) and the inner
 * one parses the tar from the outer one's output. That way the stored bytes
 * and the uncompressed tar stream are both hashed as they pass, so the blob
 * digest and the config's diff_id are checked without a second read and
 * without unpacking anything to disk. The blob is a range of a file, or a
 * member of a compressed docker-archive that tarfile.c decompresses. */
#include "autoconfig.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/layer.h"
#include "common/log.h"
#include "common/util.h"
#include "image/digest.h"
#include "image/tarfile.h"

#define IO_BUF (256u * 1024u)

struct pending_link {
    struct hr_node *node;
    char *target; /* clean path of the entry whose inode it shares */
};

struct layer_ctx {
    struct hr_fstree *t;
    struct hr_sqfs_writer *w;
    int layer;
    const char *name;  /* for messages */
    const char *strip; /* dir source: prefix to drop from paths */
    /* the blob: in a file, or a member of a compressed archive */
    int fd;
    struct hr_tarfile *archive;
    off_t left; /* bytes of the blob not yet read; -1: to EOF */
    off_t total, done;
    int percent_shown;
    const char *progress;
    struct hr_sha256 blob_hash, tar_hash;
    struct archive *outer;
    char *inbuf, *tarbuf, *databuf;
    int io_errno;
    /* hardlinks whose target this layer did not add to the tree */
    struct pending_link *pending;
    size_t n_pending;
    bool fill_pending; /* second pass: only fill in pending links */
};

/* ---- progress on a terminal ------------------------------------------------------ */

/* One line, rewritten in place, only when stderr is a terminal and -q was
 * not given; logs and pipes get the -v lines instead. */
static void progress_show(struct layer_ctx *c)
{
    int pct;

    if (!c->progress || c->total <= 0)
        return;
    pct = (int)(c->done * 100 / c->total);
    if (pct == c->percent_shown)
        return;
    c->percent_shown = pct;
    fprintf(stderr, "\r%s: %s %3d%%", hr_progname(), c->progress, pct > 100 ? 100 : pct);
}

static void progress_end(struct layer_ctx *c)
{
    if (c->progress && c->percent_shown >= 0)
        fputs("\r\033[K", stderr);
}

static void progress_start(struct layer_ctx *c, const struct hr_layer_src *src)
{
    struct stat st;

    c->percent_shown = -1;
    c->done = 0;
    c->total = src->size;
    if (c->total < 0 && fstat(c->fd, &st) == 0)
        c->total = st.st_size - src->offset;
    c->progress = src->progress && hr_log_level() >= HR_LOG_WARN && isatty(STDERR_FILENO)
                      ? src->progress
                      : NULL;
}

/* ---- the byte streams ---------------------------------------------------------- */

static la_ssize_t blob_read(struct archive *a, void *data, const void **buf)
{
    struct layer_ctx *c = data;
    size_t want = IO_BUF;
    ssize_t n;

    if (c->left >= 0 && (off_t)want > c->left)
        want = (size_t)c->left;
    if (!want)
        return 0;
    if (c->archive) {
        n = hr_tarfile_read(c->archive, c->inbuf, want);
        if (n < 0) {
            archive_set_error(a, EIO, "%s", hr_tarfile_error(c->archive));
            return -1;
        }
    } else {
        do
            n = read(c->fd, c->inbuf, want);
        while (n < 0 && errno == EINTR);
    }
    if (n < 0) {
        c->io_errno = errno;
        archive_set_error(a, errno, "read: %s", strerror(errno));
        return -1;
    }
    if (c->left >= 0)
        c->left -= n;
    c->done += n;
    progress_show(c);
    hr_sha256_update(&c->blob_hash, c->inbuf, (size_t)n);
    *buf = c->inbuf;
    return n;
}

static la_ssize_t tar_read(struct archive *a, void *data, const void **buf)
{
    struct layer_ctx *c = data;
    la_ssize_t n = archive_read_data(c->outer, c->tarbuf, IO_BUF);

    if (n < 0) {
        archive_set_error(a, archive_errno(c->outer), "%s",
                          archive_error_string(c->outer));
        return -1;
    }
    hr_sha256_update(&c->tar_hash, c->tarbuf, (size_t)n);
    *buf = c->tarbuf;
    return n;
}

/* Hash what the tar reader did not need (the end-of-archive padding, a
 * compressor's trailer), so the digests cover every byte. */
static int drain(struct layer_ctx *c)
{
    const void *buf;
    la_ssize_t n;

    while ((n = tar_read(c->outer, c, &buf)) > 0)
        ;
    if (n < 0)
        return -1;
    while ((n = blob_read(c->outer, c, &buf)) > 0)
        ;
    return n < 0 ? -1 : 0;
}

/* ---- entries --------------------------------------------------------------------- */

static const char *entry_path(struct layer_ctx *c, const char *p)
{
    size_t n;

    if (!p || !c->strip)
        return p;
    n = strlen(c->strip);
    if (strncmp(p, c->strip, n) != 0 || (p[n] && p[n] != '/'))
        return NULL;
    return p + n;
}

static const char *entry_pathname(struct layer_ctx *c, struct archive_entry *e)
{
    /* PAX stores names as UTF-8; asking for them in the locale's charset
     * would fail for non-ASCII names under LANG=C. */
    const char *p = archive_entry_pathname_utf8(e);
    return entry_path(c, p ? p : archive_entry_pathname(e));
}

static const char *entry_hardlink(struct layer_ctx *c, struct archive_entry *e)
{
    const char *p = archive_entry_hardlink_utf8(e);
    return entry_path(c, p ? p : archive_entry_hardlink(e));
}

/* SquashFS stores device numbers as Linux's new_encode_dev() does. */
static uint32_t encode_dev(unsigned long major, unsigned long minor)
{
    return (uint32_t)((minor & 0xff) | (major << 8) | ((minor & ~0xfful) << 12));
}

static int entry_xattrs(struct layer_ctx *c, struct archive_entry *e, struct hr_node *n)
{
    const char *key;
    const void *value;
    size_t size;

    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    if (hr_sqfs_xattr_begin(c->w) < 0)
        return -1;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK)
        if (hr_sqfs_xattr_add(c->w, n->path, key, value, size) < 0)
            return -1;
    return hr_sqfs_xattr_end(c->w, n);
}

static int entry_data(struct layer_ctx *c, struct archive *a, struct hr_node *n)
{
    la_ssize_t got;

    if (hr_sqfs_file_begin(c->w, n) < 0)
        return -1;
    /* archive_read_data fills the holes of sparse entries with zeros. */
    while ((got = archive_read_data(a, c->databuf, IO_BUF)) > 0)
        if (hr_sqfs_file_append(c->w, c->databuf, (size_t)got) < 0)
            return -1;
    if (got < 0) {
        hr_err("%s: %s: %s", c->name, n->path, archive_error_string(a));
        return -1;
    }
    return hr_sqfs_file_end(c->w);
}

/* Give node n the entry's metadata (and data, for a regular file). */
static int entry_fill(struct layer_ctx *c, struct archive *a, struct archive_entry *e,
                      struct hr_node *n, bool is_new)
{
    uint32_t mode = (uint32_t)archive_entry_mode(e);

    n->mode = (mode & S_IFMT) | (mode & 07777);
    n->uid = (uint32_t)archive_entry_uid(e);
    n->gid = (uint32_t)archive_entry_gid(e);
    n->mtime = hr_fstree_time(archive_entry_mtime(e));
    if (S_ISLNK(mode)) {
        const char *tgt = archive_entry_symlink_utf8(e);
        if (!tgt)
            tgt = archive_entry_symlink(e);
        /* Stored as text, never followed here. */
        free(n->target);
        n->target = hr_xstrdup(tgt ? tgt : "");
    } else if (S_ISCHR(mode) || S_ISBLK(mode)) {
        n->devno = encode_dev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    }
    if (entry_xattrs(c, e, n) < 0)
        return -1;
    if (S_ISREG(mode) && is_new)
        return entry_data(c, a, n);
    return 0;
}

/* A hardlink entry: share the inode of its target if this layer put the
 * target into the tree; otherwise (the target is hidden or replaced by an
 * upper layer) remember it and take the data in a second pass. */
static int entry_hardlink_add(struct layer_ctx *c, struct archive_entry *e,
                              const char *path, const char *raw_target)
{
    hr_autofree char *target = raw_target ? hr_tar_path_clean(raw_target) : NULL;
    struct hr_node *tn = target ? hr_fstree_lookup(c->t, target) : NULL;
    struct hr_node *n;
    enum hr_verdict v;
    bool usable;

    if (!target) {
        hr_warn("%s: %s: hardlink to a path outside the image, skipped", c->name, path);
        return 0;
    }
    tn = tn ? hr_node_real(tn) : NULL;
    usable = tn && !tn->is_whiteout && !tn->is_implicit && tn->layer == c->layer &&
             !S_ISDIR(tn->mode);
    v = hr_fstree_place(c->t, c->layer, path, usable ? tn->mode : S_IFREG, &n);
    if (v == HR_SKIP_HOSTILE)
        hr_warn("%s: %s: unsafe entry, skipped", c->name, path);
    if (v != HR_ADD)
        return 0;
    if (usable && tn != n) {
        n->link = tn;
        n->mode = tn->mode;
        tn->nlink++;
        return 0;
    }
    c->pending = hr_xrealloc(c->pending, (c->n_pending + 1) * sizeof(*c->pending));
    c->pending[c->n_pending].node = n;
    c->pending[c->n_pending].target = target;
    target = NULL;
    c->n_pending++;
    return 0;
}

/* Second pass: the entry at path may be the target of pending hardlinks. */
static int entry_fill_pending(struct layer_ctx *c, struct archive *a,
                              struct archive_entry *e, const char *path)
{
    hr_autofree char *p = hr_tar_path_clean(path);
    struct hr_node *first = NULL;

    if (!p || archive_entry_hardlink(e) || S_ISDIR(archive_entry_mode(e)))
        return 0;
    for (size_t i = 0; i < c->n_pending; i++) {
        struct pending_link *pl = &c->pending[i];
        if (!pl->target || strcmp(pl->target, p) != 0)
            continue;
        if (!first) {
            first = pl->node;
            if (entry_fill(c, a, e, first, true) < 0)
                return -1;
        } else {
            pl->node->link = first;
            pl->node->mode = first->mode;
            first->nlink++;
        }
        free(pl->target);
        pl->target = NULL;
    }
    return 0;
}

static int layer_entry(struct layer_ctx *c, struct archive *a, struct archive_entry *e)
{
    const char *path = entry_pathname(c, e);
    const char *link = archive_entry_hardlink(e) ? entry_hardlink(c, e) : NULL;
    struct hr_node *n;
    enum hr_verdict v;

    if (!path) {
        hr_warn("%s: entry with an unreadable name, skipped", c->name);
        return 0;
    }
    if (c->fill_pending)
        return entry_fill_pending(c, a, e, path);
    if (archive_entry_hardlink(e))
        return entry_hardlink_add(c, e, path, link);
    v = hr_fstree_place(c->t, c->layer, path, (uint32_t)archive_entry_filetype(e), &n);
    hr_debug("%s: %s: %s", c->name, path, hr_verdict_name(v));
    switch (v) {
    case HR_ADD:
        return entry_fill(c, a, e, n, true);
    case HR_UPDATE_DIR:
        n->xattr_idx = HR_NO_XATTR;
        return entry_fill(c, a, e, n, false);
    case HR_SKIP_HOSTILE:
        hr_warn("%s: %s: unsafe entry, skipped", c->name, path);
        return 0;
    default:
        return 0;
    }
}

static int pending_check(struct layer_ctx *c)
{
    for (size_t i = 0; i < c->n_pending; i++)
        if (c->pending[i].target) {
            hr_err("%s: %s: hardlink to %s, which the layer does not contain", c->name,
                   c->pending[i].node->path, c->pending[i].target);
            return -1;
        }
    return 0;
}

/* ---- one pass over a blob ---------------------------------------------------------- */

static int check_digest(struct layer_ctx *c, struct hr_sha256 *h, const char *want,
                        const char *what)
{
    char got[HR_DIGEST_LEN + 1];

    if (!want) {
        hr_sha256_free(h);
        return 0;
    }
    hr_sha256_final(h, got);
    if (strcmp(got, want) != 0) {
        hr_err("%s: %s mismatch (content is %s)", want, what, got);
        return -1;
    }
    return 0;
}

static int blob_pass(struct layer_ctx *c, const struct hr_layer_src *src)
{
    struct archive *tar = NULL;
    struct archive_entry *e;
    int rc = -1, r;

    c->left = src->size;
    if (c->archive) {
        if (hr_tarfile_begin(c->archive, src->member) < 0)
            return -1;
    } else if (lseek(c->fd, src->offset, SEEK_SET) < 0) {
        hr_err("%s: %s", src->path, strerror(errno));
        return -1;
    }
    if (hr_sha256_init(&c->blob_hash) < 0 || hr_sha256_init(&c->tar_hash) < 0)
        goto out;
    c->outer = archive_read_new();
    tar = archive_read_new();
    if (!c->outer || !tar) {
        hr_err("out of memory");
        goto out;
    }
    archive_read_support_filter_all(c->outer);
    archive_read_support_format_raw(c->outer);
    archive_read_support_format_tar(tar);
    if (archive_read_open(c->outer, c, NULL, blob_read, NULL) != ARCHIVE_OK ||
        archive_read_next_header(c->outer, &e) != ARCHIVE_OK) {
        hr_err("%s: cannot read layer: %s", c->name, archive_error_string(c->outer));
        goto out;
    }
    if (archive_read_open(tar, c, NULL, tar_read, NULL) != ARCHIVE_OK) {
        hr_err("%s: not a tar archive: %s", c->name, archive_error_string(tar));
        goto out;
    }
    while ((r = archive_read_next_header(tar, &e)) != ARCHIVE_EOF) {
        if (r < ARCHIVE_WARN) {
            hr_err("%s: corrupt layer: %s", c->name, archive_error_string(tar));
            goto out;
        }
        if (layer_entry(c, tar, e) < 0)
            goto out;
    }
    if (drain(c) < 0) {
        hr_err("%s: corrupt layer: %s", c->name, archive_error_string(c->outer));
        goto out;
    }
    if (check_digest(c, &c->blob_hash, src->blob_digest, "layer digest") < 0 ||
        check_digest(c, &c->tar_hash, src->diff_id, "layer diff_id") < 0)
        goto out;
    rc = 0;
out:
    if (tar)
        archive_read_free(tar);
    if (c->outer)
        archive_read_free(c->outer);
    c->outer = NULL;
    hr_sha256_free(&c->blob_hash);
    hr_sha256_free(&c->tar_hash);
    return rc;
}

static void ctx_init(struct layer_ctx *c, struct hr_fstree *t, struct hr_sqfs_writer *w,
                     int layer, const char *name)
{
    memset(c, 0, sizeof(*c));
    c->t = t;
    c->w = w;
    c->layer = layer;
    c->name = name;
    c->fd = -1;
    c->inbuf = hr_xmalloc(IO_BUF);
    c->tarbuf = hr_xmalloc(IO_BUF);
    c->databuf = hr_xmalloc(IO_BUF);
}

static void ctx_free(struct layer_ctx *c)
{
    for (size_t i = 0; i < c->n_pending; i++)
        free(c->pending[i].target);
    free(c->pending);
    free(c->inbuf);
    free(c->tarbuf);
    free(c->databuf);
    if (c->fd >= 0)
        close(c->fd);
}

int hr_layer_read(struct hr_fstree *t, struct hr_sqfs_writer *w, int layer,
                  const struct hr_layer_src *src)
{
    struct layer_ctx c;
    int rc = -1;

    ctx_init(&c, t, w, layer, src->name ? src->name : src->path);
    if (src->member) {
        c.archive = src->archive;
    } else if ((c.fd = open(src->path, O_RDONLY | O_CLOEXEC)) < 0) {
        hr_err("%s: %s", src->path, strerror(errno));
        goto out;
    }
    progress_start(&c, src);
    if (blob_pass(&c, src) < 0)
        goto out;
    if (c.n_pending) {
        c.fill_pending = true;
        c.progress = NULL;
        if (blob_pass(&c, src) < 0 || pending_check(&c) < 0)
            goto out;
    }
    rc = 0;
out:
    progress_end(&c);
    ctx_free(&c);
    return rc;
}

/* ---- a directory tree
 * ------------------------------------------------------------------ */

static int dir_pass(struct layer_ctx *c, const char *dir)
{
    struct archive *a = archive_read_disk_new();
    struct archive_entry_linkresolver *lr = archive_entry_linkresolver_new();
    struct archive_entry *e = NULL, *spare = NULL;
    int rc = -1, r;

    if (!a || !lr) {
        hr_err("out of memory");
        goto out;
    }
    /* Symlinks are stored as links, never followed; the tar strategy turns a
     * second name of an inode into a hardlink entry. */
    archive_read_disk_set_symlink_physical(a);
    archive_entry_linkresolver_set_strategy(lr, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    if (archive_read_disk_open(a, dir) != ARCHIVE_OK) {
        hr_err("%s: %s", dir, archive_error_string(a));
        goto out;
    }
    for (;;) {
        e = archive_entry_new();
        r = archive_read_next_header2(a, e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            hr_err("%s: %s", dir, archive_error_string(a));
            goto out;
        }
        if (r == ARCHIVE_WARN)
            hr_warn("%s: %s", dir, archive_error_string(a));
        archive_read_disk_descend(a);
        archive_entry_linkify(lr, &e, &spare);
        if (e && layer_entry(c, a, e) < 0)
            goto out;
        archive_entry_free(e);
        e = NULL;
    }
    rc = 0;
out:
    archive_entry_free(e);
    if (lr)
        archive_entry_linkresolver_free(lr);
    if (a)
        archive_read_free(a);
    return rc;
}

int hr_dir_read(struct hr_fstree *t, struct hr_sqfs_writer *w, int layer, const char *dir)
{
    hr_autofree char *strip = hr_xstrdup(dir);
    struct layer_ctx c;
    size_t n = strlen(strip);
    int rc;

    while (n > 1 && strip[n - 1] == '/')
        strip[--n] = '\0';
    ctx_init(&c, t, w, layer, dir);
    c.strip = strip;
    rc = dir_pass(&c, strip);
    if (rc == 0 && c.n_pending)
        rc = pending_check(&c);
    ctx_free(&c);
    return rc;
}
