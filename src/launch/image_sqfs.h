/* Private to the image step (image.c, imagefs*.c): libsquashfuse's headers
 * and the state the FUSE server serves. squashfuse's headers carry their own
 * config.h with PACKAGE_* macros, so they come first and those macros are
 * dropped before ours (the build defines _GNU_SOURCE for every file). */
#ifndef HR_IMAGE_SQFS_H
#define HR_IMAGE_SQFS_H

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
#include "autoconfig.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* squashfuse caches one data block and three fragment blocks. The kernel
 * asks for pages of a program in a scattered order while it is exec'ed and
 * its libraries are mapped, so with one block cached the same 128 KiB block is
 * decompressed again and again. 32 blocks (4 MiB at the default block size)
 * covers a typical program's working set; the cache is per container. */
#define HR_DATA_CACHE_BLOCKS 32
#define HR_FRAG_CACHE_BLOCKS 32
#define HR_MD_CACHE_BLOCKS 8

/* libsquashfuse exports sqfs_stat (the inode -> struct stat conversion its
 * own getattr uses) but does not install its header. */
sqfs_err sqfs_stat(sqfs *fs, sqfs_inode *inode, struct stat *st);

/* Directories already checked (by SquashFS inode id), an open-addressing set. */
struct image_dirset {
    uint64_t *slots; /* 0: empty; ids are stored + 1 */
    size_t cap, n;
};

/* What the FUSE server serves: squashfuse's state first, so its own
 * operations (which take the request's userdata as a sqfs_ll) work on it. */
struct image_fs {
    sqfs_ll ll;
    struct image_dirset checked_dirs;
    bool is_owned_by_caller; /* report every file as owned by uid/gid */
    bool is_parallel;        /* idle cores: worker threads */
    bool can_skip_open;      /* the kernel does without OPEN (FUSE's init) */
    bool can_skip_opendir;   /* ... and without OPENDIR */
    uid_t uid;
    gid_t gid;
};

/* libsquashfuse 0.1.104 copies directory entry names and directory index
 * names into fixed 257-byte buffers without checking their length, so a
 * corrupted image can overflow the stack of whoever reads it. Every
 * directory is checked (once) before squashfuse looks a name up in it or
 * lists it: true if it is a directory whose names all fit. */
bool hr_image_dir_is_safe(struct image_fs *f, sqfs_inode *dir, sqfs_inode_id id);

/* A directory to look a name up in: its inode and the id it was read by
 * (which keys the set of checked directories). */
struct image_dir {
    sqfs_inode *inode;
    sqfs_inode_id id;
};

/* Look up one name in dir, checking dir first (hr_image_dir_is_safe). */
sqfs_err hr_image_dir_find(struct image_fs *f, const struct image_dir *dir,
                           const char *name, sqfs_dir_entry *entry, bool *found);

/* Give fs caches of its own (the sizes above); the tables stay shared. */
int hr_image_fs_caches(sqfs *fs);

#endif
