/* The staging area: a private tmpfs the launch pivots into (hr_root_stage)
 * while the container's root is built in it. The image step mounts the
 * image at HR_STAGE_IMAGE, the root step builds on it, and hr_mount names
 * paths in it as the user knows them. A header of its own, so the image
 * step need not include the root step's. */
#ifndef HR_STAGE_H
#define HR_STAGE_H

/* Where things live in the private staging tmpfs while the root is built. */
#define HR_STAGE_OLDROOT "/oldroot" /* the host's root */
#define HR_STAGE_IMAGE "/image"     /* the FUSE mount */
#define HR_STAGE_UPPER "/ovl/upper"
#define HR_STAGE_WORK "/ovl/work"
#define HR_STAGE_ROOT "/root"   /* the overlay, when one is needed */
#define HR_STAGE_FILES "/files" /* generated files (passwd, group) */

#endif
