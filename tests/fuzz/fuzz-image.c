/* Fuzz target: a SquashFS image given to hpcrun (launch/image.c): the checks
 * it runs before mounting (superblock, tables, root directory, the
 * metadata files /.hpcrun/config.json, /etc/passwd and /etc/group), then
 * every directory walked as the FUSE server (launch/imagefs.c) serves it to
 * the kernel: opendir's check, readdir, lookup, getattr, readlink, read
 * and listxattr, and the plan's path resolution inside the image.
 *
 * Input: the image file. */
#include "launch/image_sqfs.h"

#include <stdlib.h>
#include <string.h>

#include "common/pathres.h"
#include "fuzzutil.h"
#include "launch/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_DEPTH 16
#define MAX_VISITS 4096
#define READ_MAX (64 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static void list_xattrs(sqfs *fs, sqfs_inode *inode)
{
    sqfs_xattr x;
    char name[256], value[256];

    if (fs->sb.xattr_id_table_start == (uint64_t)SQUASHFS_INVALID_BLK ||
        fs->xattr_info.xattr_ids == 0 || !hr_image_xattrs_are_safe(fs, inode) ||
        sqfs_xattr_open(fs, inode, &x) != SQFS_OK)
        return;
    while (x.remain) {
        size_t vsize;
        if (sqfs_xattr_read(&x) != SQFS_OK ||
            sqfs_xattr_name_size(&x) + 16 > sizeof(name) ||
            sqfs_xattr_name(&x, name, true) != SQFS_OK ||
            sqfs_xattr_value_size(&x, &vsize) != SQFS_OK)
            return;
        if (vsize <= sizeof(value) && sqfs_xattr_value(&x, value) != SQFS_OK)
            return;
    }
}

/* getattr, then what the kernel asks of the node's kind */
static void visit_node(sqfs *fs, sqfs_inode *inode, char *buf)
{
    struct stat st;

    if (hr_image_stat(fs, inode, &st) != SQFS_OK)
        return;
    list_xattrs(fs, inode);
    if (S_ISLNK(inode->base.mode)) {
        size_t size = READ_MAX;
        (void)sqfs_readlink(fs, inode, buf, &size);
    } else if (S_ISREG(inode->base.mode) && hr_image_file_is_safe(fs, inode)) { /* open */
        sqfs_off_t n = READ_MAX;
        if ((sqfs_off_t)inode->xtra.reg.file_size < n)
            n = (sqfs_off_t)inode->xtra.reg.file_size;
        (void)hr_image_read_range(fs, inode, 0, &n, buf);
    }
}

/* opendir (checked), readdir, and a lookup of each name listed */
static void walk(struct image_fs *f, sqfs_inode *dir, sqfs_inode_id id, int depth,
                 size_t *visits, char *buf)
{
    sqfs *fs = &f->ll.fs;
    sqfs_name name;
    sqfs_dir d;
    sqfs_dir_entry e;
    sqfs_err err = SQFS_OK;

    if (depth > MAX_DEPTH || !hr_image_dir_is_safe(f, dir, id) ||
        sqfs_dir_open(fs, dir, &d, 0) != SQFS_OK)
        return;
    sqfs_dentry_init(&e, name);
    while (++*visits < MAX_VISITS && sqfs_dir_next(fs, &d, &e, &err)) {
        sqfs_name found_name;
        sqfs_dir_entry found;
        sqfs_inode child;
        sqfs_inode_id child_id = sqfs_dentry_inode(&e);
        bool is_found;

        sqfs_dentry_init(&found, found_name);
        if (hr_image_dir_find(f, &(struct image_dir){dir, id}, sqfs_dentry_name(&e),
                              &found, &is_found) != SQFS_OK)
            return;
        if (hr_image_inode_get(fs, &child, child_id) != SQFS_OK)
            continue;
        visit_node(fs, &child, buf);
        if (S_ISDIR(child.base.mode))
            walk(f, &child, child_id, depth + 1, visits, buf);
    }
}

static void resolve(struct hr_image *img, const char *path)
{
    struct hr_resolved r;

    if (hr_resolve_in_root(path, hr_image_lookup, img, &r) == 0)
        free(r.path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hr_image img;
    hr_autofree char *path = NULL;

    fuzz_scratch();
    path = fuzz_write("image.sqfs", data, size);
    if (hr_image_open(&img, path, 0) == 0) {
        struct image_fs *f = (struct image_fs *)img.ll;
        hr_autofree char *buf = hr_xmalloc(READ_MAX);
        size_t visits = 0;
        sqfs_inode root;
        if (hr_image_inode_get(&f->ll.fs, &root, sqfs_inode_root(&f->ll.fs)) == SQFS_OK)
            walk(f, &root, sqfs_inode_root(&f->ll.fs), 0, &visits, buf);
        /* the plan's view: libraries and the cwd resolved inside the image */
        resolve(&img, "/etc/ld.so.cache");
        resolve(&img, "/usr/lib/x86_64-linux-gnu/libc.so.6");
        resolve(&img, "/home/user/../../bin/sh");
    }
    hr_image_close(&img);
    return 0;
}
