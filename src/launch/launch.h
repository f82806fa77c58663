/* The launch as a list of named steps (DESIGN.md, "The launch, step by step"). */
#ifndef HR_LAUNCH_H
#define HR_LAUNCH_H

#include "launch/config.h"

#include "launch/plan.h"

/* Returns only on failure (or after --dry-run), with the exit code to use. */
int hr_launch(const struct hr_config *cfg, char **envp);

/* Steps 2 and 3 only: what a launch would run and mount, nothing created.
 * Returns 0 with plan filled, or an exit code (logged). */
int hr_launch_plan(const struct hr_config *cfg, char **envp, struct hr_plan *plan);

/* Steps 2-6: the calling process ends up inside the container, ready for
 * step 7 (hr_exec, or a caller that execs by itself, like the SPANK plugin).
 * Returns 0 with plan filled, 1 after --dry-run, or an exit code (logged). */
int hr_launch_enter(const struct hr_config *cfg, char **envp, struct hr_plan *plan);

#endif
