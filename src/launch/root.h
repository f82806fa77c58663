/* Step 6, root: assemble the container's root from the mounted image and the
 * plan, then pivot_root into it. All mount(2) calls of hpcrun go through
 * hr_mount(), which always adds MS_NOSUID, and MS_NODEV unless the mount must
 * carry device nodes. */
#ifndef HR_ROOT_H
#define HR_ROOT_H

#include <stdbool.h>

#include "launch/image.h"
#include "launch/plan.h"

/* Where things live in the private staging tmpfs while the root is built. */
#define HR_STAGE_OLDROOT "/oldroot" /* the host's root */
#define HR_STAGE_IMAGE "/image"     /* the FUSE mount */
#define HR_STAGE_UPPER "/ovl/upper"
#define HR_STAGE_WORK "/ovl/work"
#define HR_STAGE_ROOT "/root"   /* the overlay, when one is needed */
#define HR_STAGE_FILES "/files" /* generated files (passwd, group) */

/* A flag of our own, stripped before mount(2): the mount carries device
 * nodes (/dev binds), so do not add MS_NODEV. */
#define HR_MOUNT_DEVICES (1UL << 62)
/* Another: a failed mount is not reported (the caller tries another way). */
#define HR_MOUNT_QUIET (1UL << 61)

/* The single mount helper: every mount(2) of hpcrun goes through it. For
 * MS_BIND it binds recursively, then applies nosuid, nodev (unless
 * HR_MOUNT_DEVICES) and rdonly (if MS_RDONLY) to the whole bound tree; a new
 * file system always gets nosuid (and nodev unless HR_MOUNT_DEVICES); a
 * propagation change (MS_SLAVE, ...) mounts nothing and is passed as it is.
 * Logs one line naming dst on failure (unless HR_MOUNT_QUIET). */
int hr_mount(const char *src, const char *dst, const char *fstype, unsigned long flags,
             const char *data);

/* Mount a tmpfs over the host's /tmp in our private mount namespace and
 * pivot_root into it; the host's tree stays reachable at HR_STAGE_OLDROOT.
 * is_writable: it will hold a writable root's changes (--writable-tmpfs). */
int hr_root_stage(bool is_writable);

/* Build the root at HR_STAGE_IMAGE (+ overlay) from the plan, then make it
 * the process's root. */
int hr_root_assemble(const struct hr_plan *plan);

#endif
