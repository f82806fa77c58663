/* Step 6, root: assemble the container's root from the mounted image and the
 * plan, then pivot_root into it. Every mount goes through hr_mount (mount.h);
 * the staging area it is built in is laid out in stage.h. */
#ifndef HR_ROOT_H
#define HR_ROOT_H

#include <stdbool.h>

#include "launch/plan.h"
#include "launch/stage.h"

/* Mount a tmpfs over the host's /tmp in our private mount namespace and
 * pivot_root into it; the host's tree stays reachable at HR_STAGE_OLDROOT.
 * is_writable: it will hold a writable root's changes (--writable-tmpfs). */
int hr_root_stage(bool is_writable);

/* Build the root at HR_STAGE_IMAGE (+ overlay) from the plan, then make it
 * the process's root. */
int hr_root_assemble(const struct hr_plan *plan);

#endif
