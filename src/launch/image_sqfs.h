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

/* sqfs_stat for a node of an untrusted image: libsquashfuse 0.1.104 looks
 * the owner and group up in the id table by the inode's indices without
 * checking them against the table's length (sqfs_id_get, sqfs_table_get),
 * so a crafted inode made the FUSE server read outside the table. An index
 * past the table is SQFS_ERR here. */
sqfs_err hr_image_stat(sqfs *fs, sqfs_inode *inode, struct stat *st);

/* sqfs_read_range for a regular file of an untrusted image. libsquashfuse
 * 0.1.104 keys its block caches by position with 0 for an empty slot, so a
 * block "at position 0" is found in a fresh cache with no data, and it
 * reads a fragment's entry without checking the fragment's index: a file
 * whose data or fragment lies at 0 (the superblock's place), outside the
 * image or past the fragment table is SQFS_ERR here. (The tables are
 * checked once, when the image is opened.) */
sqfs_err hr_image_read_range(sqfs *fs, sqfs_inode *inode, sqfs_off_t start,
                             sqfs_off_t *size, void *buf);

/* sqfs_inode_get for an inode id of an untrusted image (from a directory
 * entry or the superblock). libsquashfuse 0.1.104 copies a metadata
 * block's size less the cursor's offset (sqfs_md_read), so an id whose
 * offset lies past the end of its block made it copy from far beyond the
 * block: such an id is SQFS_ERR here. */
sqfs_err hr_image_inode_get(sqfs *fs, sqfs_inode *inode, sqfs_inode_id id);

/* Whether a regular file's data can be read (checked when it is opened):
 * its first block, its fragment (as hr_image_read_range), and its block
 * list, whose sizes libsquashfuse allocates before it reads a block (up
 * to 4 GiB each): no block can be stored larger than the block size. */
bool hr_image_file_is_safe(sqfs *fs, sqfs_inode *inode);

/* Whether the extended attributes of inode can be listed: its index in the
 * xattr id table (which libsquashfuse does not check against the table's
 * length) and where that entry points. */
bool hr_image_xattrs_are_safe(sqfs *fs, sqfs_inode *inode);

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
 * lists it: true if it is a directory whose names all fit and whose
 * listing starts inside its block (see hr_image_inode_get). */
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
