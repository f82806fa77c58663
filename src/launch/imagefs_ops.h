/* The image step, part three: the FUSE server's operations (imagefs_ops.c),
 * which imagefs.c's server runs. Private to the image step. */
#ifndef HR_IMAGEFS_OPS_H
#define HR_IMAGEFS_OPS_H

#include "launch/image_sqfs.h"

/* The low-level operations; the session's userdata is a struct image_fs. */
extern const struct fuse_lowlevel_ops hr_imagefs_ops;

/* The squashfuse state that this thread's operations read through: a
 * worker thread's own caches over the shared tables (NULL: the session's). */
void hr_imagefs_use_fs(sqfs *fs);

/* Start the thread that puts whole decompressed blocks in the page cache
 * (FUSE_NOTIFY_STORE), with the caller's signal mask. */
void hr_imagefs_store_start(struct fuse_session *se);

#endif
