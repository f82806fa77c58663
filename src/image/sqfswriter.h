/* Writing a SquashFS image with libsquashfs: file data goes through the
 * multi-threaded block processor as it streams in; the tree (fstree.h) is
 * written once every layer has been read. */
#ifndef HR_SQFSWRITER_H
#define HR_SQFSWRITER_H

#include <stddef.h>
#include <stdint.h>

#include "image/fstree.h"

struct hr_sqfs_opts {
    const char *comp;  /* "zstd", "gzip", "xz", "lz4" */
    unsigned threads;  /* compression workers, >= 1 */
    uint32_t mtime;    /* the superblock's modification time */
    size_t block_size; /* 0: 128 KiB */
    unsigned level;    /* compression level; 0: the compressor's default */
};

struct hr_sqfs_writer;

/* True if name is a compressor this build can write. */
int hr_sqfs_comp_supported(const char *name);

/* Start an image on fd (an empty regular file; name is for messages).
 * Returns NULL after logging. The fd stays the caller's. */
struct hr_sqfs_writer *hr_sqfs_writer_open(int fd, const char *name,
                                           const struct hr_sqfs_opts *opts);
void hr_sqfs_writer_free(struct hr_sqfs_writer *w);

/* Stream the data of regular file n. */
int hr_sqfs_file_begin(struct hr_sqfs_writer *w, struct hr_node *n);
int hr_sqfs_file_append(struct hr_sqfs_writer *w, const void *data, size_t size);
int hr_sqfs_file_end(struct hr_sqfs_writer *w);
/* A whole file from memory. */
int hr_sqfs_file_write(struct hr_sqfs_writer *w, struct hr_node *n, const void *data,
                       size_t size);

/* Extended attributes of one node: begin, add each, end sets n->xattr_idx.
 * Keys outside the namespaces SquashFS stores (user., trusted., security.)
 * are dropped with a warning. */
int hr_sqfs_xattr_begin(struct hr_sqfs_writer *w);
int hr_sqfs_xattr_add(struct hr_sqfs_writer *w, const char *path, const char *key,
                      const void *value, size_t size);
int hr_sqfs_xattr_end(struct hr_sqfs_writer *w, struct hr_node *n);

/* Wait for the data, write inodes, directories and tables. The file is
 * complete (but not synced) when this returns 0. */
int hr_sqfs_writer_finish(struct hr_sqfs_writer *w, struct hr_fstree *t);

#endif
