/* The image step, part one: open and validate a SquashFS file and read its
 * metadata without mounting it. imagefs.c serves it over FUSE. The image is
 * untrusted and libsquashfuse is not hardened against crafted ones: every
 * position, index and offset it would act on is checked here first (the
 * tables when the image is opened, inodes, directories, xattrs and file
 * data as they are reached), for hpcrun's own reads and the server's. */
#include "launch/image_sqfs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#ifdef HAVE_LIBZSTD
#include <zstd.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch/image.h"
#include "common/log.h"
#include "common/pathres.h"
#include "host/elfread.h"
#include "launch/sif.h"

#define SQFS_MAGIC_LE 0x73717368u /* "hsqs" */
#define CONFIG_JSON "/.hpcrun/config.json"
#define META_FILE_MAX (4u << 20)

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

/* ---- positions inside the image ------------------------------------------ */

/* libsquashfuse 0.1.104 trusts the positions and indices an image gives it
 * (image_sqfs.h says which); these checks keep a crafted one from making it
 * read outside its buffers. */

/* Whether pos can hold a block: after the superblock, inside the image.
 * Position 0 would also be found in a fresh cache as an empty slot, which
 * holds no block. */
static bool image_pos_is_sane(const sqfs *fs, uint64_t pos)
{
    return pos >= sizeof(struct squashfs_super_block) && pos < fs->sb.bytes_used;
}

/* Whether a metadata cursor at block, offset lies inside that block. */
static bool image_cursor_is_sane(sqfs *fs, uint64_t block, uint64_t offset)
{
    sqfs_off_t pos = (sqfs_off_t)block;
    sqfs_block *b;

    return image_pos_is_sane(fs, block) && offset < SQUASHFS_METADATA_SIZE &&
           sqfs_md_cache(fs, &pos, &b) == SQFS_OK && offset < b->size;
}

/* Entry idx of table t (n entries of each bytes) lies in the table and in
 * a block long enough to hold it: sqfs_table_get copies it without
 * checking either. */
static bool image_entry_is_sane(sqfs *fs, const sqfs_table *t, uint64_t n, uint64_t idx,
                                size_t each)
{
    uint64_t at = idx * each;
    sqfs_off_t pos;
    sqfs_block *b;

    if (idx >= n)
        return false;
    pos = (sqfs_off_t)t->blocks[at / SQUASHFS_METADATA_SIZE];
    return sqfs_md_cache(fs, &pos, &b) == SQFS_OK &&
           at % SQUASHFS_METADATA_SIZE + each <= b->size;
}

sqfs_err hr_image_inode_get(sqfs *fs, sqfs_inode *inode, sqfs_inode_id id)
{
    if (!image_cursor_is_sane(fs, fs->sb.inode_table_start + (id >> 16), id & 0xffff))
        return SQFS_ERR;
    return sqfs_inode_get(fs, inode, id);
}

sqfs_err hr_image_stat(sqfs *fs, sqfs_inode *inode, struct stat *st)
{
    if (!image_entry_is_sane(fs, &fs->id_table, fs->sb.no_ids, inode->base.uid,
                             sizeof(uint32_t)) ||
        !image_entry_is_sane(fs, &fs->id_table, fs->sb.no_ids, inode->base.guid,
                             sizeof(uint32_t)))
        return SQFS_ERR;
    return sqfs_stat(fs, inode, st);
}

bool hr_image_xattrs_are_safe(sqfs *fs, sqfs_inode *inode)
{
    struct squashfs_xattr_id xid;

    if (inode->xattr == SQUASHFS_INVALID_XATTR)
        return true;
    return image_entry_is_sane(fs, &fs->xattr_table, fs->xattr_info.xattr_ids,
                               inode->xattr, sizeof(xid)) &&
           sqfs_table_get(&fs->xattr_table, fs, inode->xattr, &xid) == SQFS_OK &&
           image_cursor_is_sane(
               fs, fs->xattr_info.xattr_table_start + (le64toh(xid.xattr) >> 16),
               le64toh(xid.xattr) & 0xffff);
}

/* The fragment that holds the tail of a file: where it is, and whether
 * the tail fits in its block, which sqfs_read_range does not check. */
static bool image_frag_is_sane(sqfs *fs, sqfs_inode *inode, bool has_blocks)
{
    struct squashfs_fragment_entry fe;
    uint64_t tail = inode->xtra.reg.file_size % fs->sb.block_size;
    uint64_t stored, room;

    if (!has_blocks)
        tail = inode->xtra.reg.file_size;
    if (!image_entry_is_sane(fs, &fs->frag_table, fs->sb.fragments,
                             inode->xtra.reg.frag_idx, sizeof(fe)) ||
        sqfs_frag_entry(fs, &fe, inode->xtra.reg.frag_idx) != SQFS_OK ||
        !image_pos_is_sane(fs, fe.start_block))
        return false;
    /* stored as a data block: never larger than a block (as the block
     * list, hr_image_file_is_safe); one stored uncompressed is as long as
     * it is on disk */
    stored = fe.size & ~SQUASHFS_COMPRESSED_BIT_BLOCK;
    if (stored > fs->sb.block_size)
        return false;
    room = fe.size & SQUASHFS_COMPRESSED_BIT_BLOCK ? stored : fs->sb.block_size;
    return inode->xtra.reg.frag_off <= room && tail <= room - inode->xtra.reg.frag_off;
}

sqfs_err hr_image_read_range(sqfs *fs, sqfs_inode *inode, sqfs_off_t start,
                             sqfs_off_t *size, void *buf)
{
    uint64_t file_size = inode->xtra.reg.file_size;
    bool has_frag = inode->xtra.reg.frag_idx != SQUASHFS_INVALID_FRAG;
    /* full blocks: all of it without a fragment, else what precedes it */
    bool has_blocks = has_frag ? file_size >= fs->sb.block_size : file_size > 0;

    if (has_blocks && !image_pos_is_sane(fs, inode->xtra.reg.start_block))
        return SQFS_ERR;
    if (has_frag && !image_frag_is_sane(fs, inode, has_blocks))
        return SQFS_ERR;
    return sqfs_read_range(fs, inode, start, size, buf);
}

bool hr_image_file_is_safe(sqfs *fs, sqfs_inode *inode)
{
    uint64_t file_size = inode->xtra.reg.file_size;
    bool has_frag = inode->xtra.reg.frag_idx != SQUASHFS_INVALID_FRAG;
    bool has_blocks = has_frag ? file_size >= fs->sb.block_size : file_size > 0;
    sqfs_blocklist bl;

    if (!S_ISREG(inode->base.mode))
        return true;
    if (has_blocks && !image_pos_is_sane(fs, inode->xtra.reg.start_block))
        return false;
    if (has_frag && !image_frag_is_sane(fs, inode, has_blocks))
        return false;
    /* Each block's size is stored in the image (4 bytes): a count that
     * could not be is no file's, and bounds the walk below. */
    if (sqfs_blocklist_count(fs, inode) >
        fs->sb.bytes_used / sizeof(sqfs_blocklist_entry))
        return false;
    /* A block is stored as it is when it does not compress: never larger. */
    sqfs_blocklist_init(fs, inode, &bl);
    while (bl.remain)
        if (sqfs_blocklist_next(&bl) != SQFS_OK || bl.input_size > fs->sb.block_size)
            return false;
    return true;
}

/* The n_entries entries of each bytes of table t lie in blocks inside the
 * image. */
static bool image_table_is_sane(const sqfs *fs, const sqfs_table *t, uint64_t n_entries,
                                size_t each)
{
    uint64_t n_blocks =
        (n_entries * each + SQUASHFS_METADATA_SIZE - 1) / SQUASHFS_METADATA_SIZE;

    for (uint64_t i = 0; i < n_blocks; i++)
        if (!image_pos_is_sane(fs, (uint64_t)t->blocks[i]))
            return false;
    return true;
}

/* Every metadata block libsquashfuse reads lies at a table's start plus an
 * offset, or where a table's index points: checked once, at open. */
static int image_check_tables(struct hr_image *img)
{
    sqfs *fs = &img->ll->fs;
    const struct squashfs_super_block *sb = &fs->sb;
    bool has_xattrs = sb->xattr_id_table_start != (uint64_t)SQUASHFS_INVALID_BLK &&
                      fs->xattr_info.xattr_ids > 0;

    if (!image_pos_is_sane(fs, sb->inode_table_start) ||
        !image_pos_is_sane(fs, sb->directory_table_start) ||
        !image_table_is_sane(fs, &fs->id_table, sb->no_ids, sizeof(uint32_t)) ||
        !image_table_is_sane(fs, &fs->frag_table, sb->fragments,
                             sizeof(struct squashfs_fragment_entry)) ||
        (sqfs_export_ok(fs) &&
         !image_table_is_sane(fs, &fs->export_table, sb->inodes, sizeof(uint64_t))) ||
        (has_xattrs &&
         (!image_pos_is_sane(fs, fs->xattr_info.xattr_table_start) ||
          !image_table_is_sane(fs, &fs->xattr_table, fs->xattr_info.xattr_ids,
                               sizeof(struct squashfs_xattr_id))))) {
        hr_err("%s: corrupted SquashFS image (a table outside the image)", img->path);
        return -1;
    }
    return 0;
}

/* ---- directory safety ----------------------------------------------------- */

static bool dirset_has(const struct image_dirset *s, uint64_t id)
{
    if (!s->cap)
        return false;
    for (size_t i = (size_t)(id * 0x9E3779B97F4A7C15ull) & (s->cap - 1);;
         i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == 0)
            return false;
        if (s->slots[i] == id + 1)
            return true;
    }
}

static void dirset_add(struct image_dirset *s, uint64_t id)
{
    if ((s->n + 1) * 2 > s->cap) {
        struct image_dirset bigger = {.cap = s->cap ? s->cap * 2 : 64};
        bigger.slots = calloc(bigger.cap, sizeof(uint64_t));
        if (!bigger.slots)
            return; /* only a cache: the directory is checked again next time */
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                dirset_add(&bigger, s->slots[i] - 1);
        free(s->slots);
        *s = bigger;
    }
    for (size_t i = (size_t)(id * 0x9E3779B97F4A7C15ull) & (s->cap - 1);;
         i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == id + 1)
            return;
        if (s->slots[i] == 0) {
            s->slots[i] = id + 1;
            s->n++;
            return;
        }
    }
}

/* The directory index (large directories) holds names too. */
static bool dir_index_is_safe(sqfs *fs, sqfs_inode *dir)
{
    sqfs_md_cursor cur = dir->next;
    struct squashfs_dir_index idx;

    for (unsigned i = 0; i < dir->xtra.dir.idx_count; i++) {
        if (sqfs_md_read(fs, &cur, &idx, sizeof(idx)) != SQFS_OK ||
            le32toh(idx.size) + 1 > SQUASHFS_NAME_LEN ||
            sqfs_md_read(fs, &cur, NULL, le32toh(idx.size) + 1) != SQFS_OK)
            return false;
    }
    return true;
}

bool hr_image_dir_is_safe(struct image_fs *f, sqfs_inode *dir, sqfs_inode_id id)
{
    sqfs *fs = &f->ll.fs;
    sqfs_dir d;
    sqfs_dir_entry e;
    sqfs_err err = SQFS_OK;

    if (!S_ISDIR(dir->base.mode))
        return false;
    if (dirset_has(&f->checked_dirs, id))
        return true;
    if (!image_cursor_is_sane(fs,
                              fs->sb.directory_table_start + dir->xtra.dir.start_block,
                              dir->xtra.dir.offset) ||
        !dir_index_is_safe(fs, dir) || sqfs_dir_open(fs, dir, &d, 0) != SQFS_OK)
        return false;
    sqfs_dentry_init(&e, NULL); /* NULL: names are skipped, not copied */
    while (sqfs_dir_next(fs, &d, &e, &err))
        if (e.name_size > SQUASHFS_NAME_LEN)
            return false;
    if (err != SQFS_OK)
        return false;
    dirset_add(&f->checked_dirs, id);
    return true;
}

sqfs_err hr_image_dir_find(struct image_fs *f, const struct image_dir *dir,
                           const char *name, sqfs_dir_entry *entry, bool *found)
{
    *found = false;
    if (!hr_image_dir_is_safe(f, dir->inode, dir->id))
        return SQFS_ERR;
    return sqfs_dir_lookup(&f->ll.fs, dir->inode, name, strlen(name), entry, found);
}

/* Walk path from the root without following symlinks. */
static sqfs_err image_walk(struct hr_image *img, const char *path, sqfs_inode *inode,
                           bool *found)
{
    struct image_fs *f = (struct image_fs *)img->ll;
    sqfs *fs = &f->ll.fs;
    sqfs_inode_id id = sqfs_inode_root(fs);
    char *copy = hr_xstrdup(path), *save = NULL;
    sqfs_err err = SQFS_OK;

    *found = true;
    if (hr_image_inode_get(fs, inode, id) != SQFS_OK) {
        free(copy);
        return SQFS_ERR;
    }
    for (char *c = strtok_r(copy, "/", &save); c && *found;
         c = strtok_r(NULL, "/", &save)) {
        sqfs_name namebuf;
        sqfs_dir_entry entry;

        if (!S_ISDIR(inode->base.mode)) {
            *found = false;
            break;
        }
        sqfs_dentry_init(&entry, namebuf);
        if ((err = hr_image_dir_find(f, &(struct image_dir){inode, id}, c, &entry,
                                     found)) != SQFS_OK)
            break;
        if (*found) {
            id = sqfs_dentry_inode(&entry);
            if ((err = hr_image_inode_get(fs, inode, id)) != SQFS_OK)
                break;
        }
    }
    free(copy);
    return err;
}

/* ---- reading the image without mounting it ------------------------------- */

int hr_image_lookup(void *ctx, const char *path, char *target, size_t targetlen)
{
    struct hr_image *img = ctx;
    sqfs *fs = &img->ll->fs;
    sqfs_inode inode;
    bool found = false;

    if (image_walk(img, path, &inode, &found) != SQFS_OK)
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

/* Find a regular file of the image, resolving symlinks inside it (the path
 * never leaves the image: hr_resolve_in_root). ENOENT if absent or not a
 * regular file. */
static int image_find_file(struct hr_image *img, const char *path, sqfs_inode *inode)
{
    struct hr_resolved r;
    bool found = false;
    int rc = 0;

    if (hr_resolve_in_root(path, hr_image_lookup, img, &r) < 0 || r.n_missing ||
        r.last != HR_NODE_OTHER)
        rc = -ENOENT;
    else if (image_walk(img, r.path, inode, &found) != SQFS_OK)
        rc = -EIO;
    else if (!found || !S_ISREG(inode->base.mode))
        rc = -ENOENT;
    else if (!hr_image_file_is_safe(&img->ll->fs, inode))
        rc = -EIO;
    free(r.path);
    return rc;
}

char *hr_image_read_file(struct hr_image *img, const char *path, size_t max,
                         size_t *len_out)
{
    sqfs_inode inode;
    sqfs_off_t size;
    char *buf;
    int rc = image_find_file(img, path, &inode);

    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    if (inode.xtra.reg.file_size > max) {
        errno = EFBIG;
        return NULL;
    }
    size = (sqfs_off_t)inode.xtra.reg.file_size;
    buf = hr_xmalloc((size_t)size + 1);
    if (hr_image_read_range(&img->ll->fs, &inode, 0, &size, buf) != SQFS_OK) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[size] = '\0';
    if (len_out)
        *len_out = (size_t)size;
    return buf;
}

struct hr_image_file {
    struct hr_image *img;
    sqfs_inode inode;
};

struct hr_image_file *hr_image_file_open(struct hr_image *img, const char *path)
{
    struct hr_image_file *f = hr_xmalloc(sizeof(*f));
    int rc = image_find_file(img, path, &f->inode);

    if (rc < 0) {
        free(f);
        errno = -rc;
        return NULL;
    }
    f->img = img;
    return f;
}

ssize_t hr_image_file_pread(void *ctx, void *buf, size_t n, off_t off)
{
    struct hr_image_file *f = ctx;
    sqfs_off_t size = (sqfs_off_t)n, end = (sqfs_off_t)f->inode.xtra.reg.file_size;

    if (off < 0)
        return -EINVAL;
    if (off >= end)
        return 0;
    if (size > end - off)
        size = end - off;
    if (hr_image_read_range(&f->img->ll->fs, &f->inode, off, &size, buf) != SQFS_OK)
        return -EIO;
    return (ssize_t)size;
}

void hr_image_file_close(struct hr_image_file *f)
{
    free(f);
}

static int image_check_root(struct hr_image *img)
{
    sqfs *fs = &img->ll->fs;
    sqfs_inode root;

    if (hr_image_inode_get(fs, &root, sqfs_inode_root(fs)) != SQFS_OK ||
        !hr_image_dir_is_safe((struct image_fs *)img->ll, &root, sqfs_inode_root(fs)))
        return -1;
    return 0;
}

/* No SquashFS where one should start. An Apptainer SIF file holds one:
 * say where, so that --offset runs it. */
static void image_bad_magic(const struct hr_image *img, const struct stat *st)
{
    struct hr_sif sif;
    int fd = img->fd;

    hr_sif_read(hr_pread_fd, &fd, (uint64_t)st->st_size, &sif);
    if (sif.squashfs_offset)
        hr_err("%s: an Apptainer SIF file; its SquashFS partition starts at byte %llu: "
               "run it with --offset %llu",
               img->path, (unsigned long long)sif.squashfs_offset,
               (unsigned long long)sif.squashfs_offset);
    else if (sif.is_sif)
        hr_err("%s: an Apptainer SIF file, but with no SquashFS system partition hpcrun "
               "can find (`apptainer sif list %s` shows where each partition starts: "
               "run a SquashFS one with --offset START)",
               img->path, img->path);
    else if (img->offset)
        hr_err("%s: not a SquashFS image at offset %llu (bad magic)", img->path,
               img->offset);
    else
        hr_err("%s: not a SquashFS image (bad magic)", img->path);
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
        image_bad_magic(img, st);
        return -1;
    }
    if (le16toh(sb.s_major) != 4) {
        hr_err("%s: SquashFS version %u.%u is not supported (4.x is)", img->path,
               le16toh(sb.s_major), le16toh(sb.s_minor));
        return -1;
    }
    /* mksquashfs and the kernel allow 4 KiB to 1 MiB, a power of two that
     * block_log repeats; libsquashfuse allocates a block's size for every
     * block it reads, however much it is. */
    if (le32toh(sb.block_size) < 4096 || le32toh(sb.block_size) > (1u << 20) ||
        le32toh(sb.block_size) != 1u << (le16toh(sb.block_log) & 31)) {
        hr_err("%s: corrupted SquashFS image (block size %u)", img->path,
               le32toh(sb.block_size));
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

#ifdef HAVE_LIBZSTD
/* squashfuse's zstd decompressor calls ZSTD_decompress(), which creates and
 * frees a decompression context for every block; each server thread keeps
 * one instead. */
static sqfs_err image_zstd_decompress(void *in, size_t insz, void *out, size_t *outsz)
{
    static __thread ZSTD_DCtx *dctx; /* one per server thread */
    size_t n;

    if (!dctx && !(dctx = ZSTD_createDCtx()))
        return SQFS_ERR;
    n = ZSTD_decompressDCtx(dctx, out, *outsz, in, insz);
    if (ZSTD_isError(n))
        return SQFS_ERR;
    *outsz = n;
    return SQFS_OK;
}
#endif

int hr_image_fs_caches(sqfs *fs)
{
    if (sqfs_block_cache_init(&fs->md_cache, HR_MD_CACHE_BLOCKS) != SQFS_OK ||
        sqfs_block_cache_init(&fs->data_cache, HR_DATA_CACHE_BLOCKS) != SQFS_OK ||
        sqfs_block_cache_init(&fs->frag_cache, HR_FRAG_CACHE_BLOCKS) != SQFS_OK ||
        sqfs_blockidx_init(&fs->blockidx) != SQFS_OK)
        return -1;
    return 0;
}

static int image_read_metadata(struct hr_image *img)
{
    char *json = hr_image_read_file(img, CONFIG_JSON, META_FILE_MAX, NULL);

    if (json) {
        char err[512];
        int rc = hr_image_config_parse(json, &img->config, err, sizeof(err));
        free(json);
        if (rc < 0) {
            hr_err("%s: %s: %s", img->path, CONFIG_JSON, err);
            return -1;
        }
    }
    img->passwd = hr_image_read_file(img, "/etc/passwd", META_FILE_MAX, NULL);
    img->group = hr_image_read_file(img, "/etc/group", META_FILE_MAX, NULL);
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
    img->st = st;
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
    if (image_check_tables(img) < 0)
        return -1;
    if (sqfs_ll_init(img->ll) != SQFS_OK || image_check_root(img) < 0) {
        hr_err("%s: corrupted SquashFS image (cannot read the root directory)", path);
        return -1;
    }
    img->compression = sqfs_compression_name(sqfs_compression(&img->ll->fs));
#ifdef HAVE_LIBZSTD
    if (sqfs_compression(&img->ll->fs) == ZSTD_COMPRESSION)
        img->ll->fs.decompressor = image_zstd_decompress;
#endif
    /* replace sqfs_init's small caches with ours */
    sqfs_cache_destroy(&img->ll->fs.md_cache);
    sqfs_cache_destroy(&img->ll->fs.data_cache);
    sqfs_cache_destroy(&img->ll->fs.frag_cache);
    sqfs_cache_destroy(&img->ll->fs.blockidx);
    if (hr_image_fs_caches(&img->ll->fs) < 0) {
        hr_err("out of memory");
        return -1;
    }
    return image_read_metadata(img);
}

void hr_image_close(struct hr_image *img)
{
    if (img->ll) {
        free(((struct image_fs *)img->ll)->checked_dirs.slots);
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
