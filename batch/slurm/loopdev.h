/* Loop devices for the prolog's kernel mounts (loopdev.c). */
#ifndef HR_LOOPDEV_H
#define HR_LOOPDEV_H

#include <sys/types.h>

/* Attach backing_fd (open for reading) read-only to a free loop device that
 * frees itself when its last user goes (LO_FLAGS_AUTOCLEAR). Returns the
 * loop device's descriptor (its st_rdev in *rdev) or -errno. */
int rs_loop_attach(int backing_fd, dev_t *rdev);

#endif
