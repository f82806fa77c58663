/* The single mount helper: every mount(2) of hpcrun goes through hr_mount(),
 * which always adds MS_NOSUID, and MS_NODEV unless the mount must carry
 * device nodes. The bottom of the launch part: the root and image steps, the
 * FUSE server and the Slurm prolog all mount through it. */
#ifndef HR_MOUNT_H
#define HR_MOUNT_H

/* A flag of our own, stripped before mount(2): the mount carries device
 * nodes (/dev binds), so do not add MS_NODEV. */
#define HR_MOUNT_DEVICES (1UL << 62)
/* Another: a failed mount is not reported (the caller tries another way). */
#define HR_MOUNT_QUIET (1UL << 61)

/* For MS_BIND it binds recursively, then applies nosuid, nodev (unless
 * HR_MOUNT_DEVICES) and rdonly (if MS_RDONLY) to the whole bound tree; a new
 * file system always gets nosuid (and nodev unless HR_MOUNT_DEVICES); a
 * propagation change (MS_SLAVE, ...) mounts nothing and is passed as it is,
 * as is MS_MOVE (a mount of this namespace moved elsewhere in it).
 * Logs one line naming dst on failure (unless HR_MOUNT_QUIET). */
int hr_mount(const char *src, const char *dst, const char *fstype, unsigned long flags,
             const char *data);

/* A detached copy of the one mount at src (open_tree(2) with
 * OPEN_TREE_CLONE, Linux 5.2: not its submounts), as a descriptor; -1
 * (logged) on failure. hr_mount_attach puts it in place, read-only. */
int hr_mount_clone(const char *src);
/* Attach the detached tree (hr_mount_clone's) at dst (move_mount(2)) and
 * make it read-only, nosuid and nodev. 0 or -1 (logged). */
int hr_mount_attach(int tree, const char *dst);

#endif
