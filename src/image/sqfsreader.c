/* Reading small files back out of a SquashFS image with libsquashfs, for
 * `hpcimg inspect`. The path is looked up as is; symlinks are not followed. */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "image/sqfsreader.h"
#include "common/log.h"
#include "common/util.h"

#define META_FILE_MAX (4u << 20)

struct reader {
    sqfs_file_t *file;
    sqfs_super_t super;
    sqfs_compressor_t *cmp;
    sqfs_dir_reader_t *dr;
    sqfs_data_reader_t *data;
    sqfs_inode_generic_t *root, *inode;
};

static void reader_close(struct reader *r)
{
    if (r->inode)
        sqfs_free(r->inode);
    if (r->root)
        sqfs_free(r->root);
    if (r->data)
        sqfs_destroy(r->data);
    if (r->dr)
        sqfs_destroy(r->dr);
    if (r->cmp)
        sqfs_destroy(r->cmp);
    if (r->file)
        sqfs_destroy(r->file);
}

static int reader_open(struct reader *r, const char *image)
{
    sqfs_compressor_config_t cfg;

    memset(r, 0, sizeof(*r));
    r->file = sqfs_open_file(image, SQFS_FILE_OPEN_READ_ONLY);
    if (!r->file) {
        hr_err("%s: %s", image, strerror(errno ? errno : EIO));
        return -1;
    }
    if (sqfs_super_read(&r->super, r->file) != 0) {
        hr_err("%s: not a SquashFS image (bad superblock)", image);
        return -1;
    }
    if (sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)r->super.compression_id,
                                    r->super.block_size, SQFS_COMP_FLAG_UNCOMPRESS) ||
        sqfs_compressor_create(&cfg, &r->cmp)) {
        hr_err("%s: unsupported compressor", image);
        return -1;
    }
    r->dr = sqfs_dir_reader_create(&r->super, r->cmp, r->file, 0);
    r->data = sqfs_data_reader_create(r->file, r->super.block_size, r->cmp, 0);
    if (!r->dr || !r->data || sqfs_data_reader_load_fragment_table(r->data, &r->super) ||
        sqfs_dir_reader_get_root_inode(r->dr, &r->root)) {
        hr_err("%s: corrupted SquashFS image (cannot read its tables)", image);
        return -1;
    }
    return 0;
}

char *hr_sqfs_read_file(const char *image, const char *path)
{
    struct reader r;
    sqfs_u64 size = 0;
    char *buf = NULL;
    int err;

    if (reader_open(&r, image) < 0) {
        reader_close(&r);
        errno = EIO;
        return NULL;
    }
    err = sqfs_dir_reader_find_by_path(r.dr, r.root, path, &r.inode);
    if (err || (r.inode->base.type != SQFS_INODE_FILE &&
                r.inode->base.type != SQFS_INODE_EXT_FILE)) {
        reader_close(&r);
        errno = ENOENT;
        return NULL;
    }
    sqfs_inode_get_file_size(r.inode, &size);
    if (size > META_FILE_MAX) {
        hr_err("%s: %s: too large", image, path);
        reader_close(&r);
        errno = EFBIG;
        return NULL;
    }
    buf = hr_xmalloc((size_t)size + 1);
    if (size && sqfs_data_reader_read(r.data, r.inode, 0, buf, (sqfs_u32)size) !=
                    (sqfs_s32)size) {
        hr_err("%s: %s: cannot read it from the image", image, path);
        free(buf);
        reader_close(&r);
        errno = EIO;
        return NULL;
    }
    buf[size] = '\0';
    reader_close(&r);
    return buf;
}
