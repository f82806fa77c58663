/* Reading layer tarballs (gzip, zstd, xz or plain, via libarchive) and plain
 * directory trees into the image tree, streaming file data to the writer. */
#ifndef HR_LAYER_H
#define HR_LAYER_H

#include <sys/types.h>

#include "image/fstree.h"
#include "image/sqfswriter.h"

struct hr_tarfile;
struct hr_tar_member;

struct hr_layer_src {
    const char *path;        /* the blob, or the archive that holds it */
    off_t offset;            /* where the blob starts in path */
    off_t size;              /* its length; -1: to the end of the file */
    const char *name;        /* for messages: usually the digest */
    const char *blob_digest; /* checked against the bytes as stored, or NULL */
    const char *diff_id;     /* checked against the uncompressed tar, or NULL */
    const char *progress;    /* label of a progress line on a terminal, or NULL */
    /* or, instead of path and offset: the blob is this member of a
     * compressed archive, and streams from it */
    struct hr_tarfile *archive;
    const struct hr_tar_member *member;
};

/* Add layer number `layer` (0 = top) to the tree. Both digests are checked
 * once the whole blob has streamed through; the caller discards the output
 * on failure. Returns 0 or -1 (logged). */
int hr_layer_read(struct hr_fstree *t, struct hr_sqfs_writer *w, int layer,
                  const struct hr_layer_src *src);

/* Add a directory tree (not following symlinks, hardlinks kept) as layer. */
int hr_dir_read(struct hr_fstree *t, struct hr_sqfs_writer *w, int layer,
                const char *dir);

#endif
