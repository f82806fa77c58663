/* The launch as a list of named steps (DESIGN.md, "The launch, step by step"). */
#ifndef HR_LAUNCH_H
#define HR_LAUNCH_H

#include "launch/config.h"

#include "launch/plan.h"

/* The whole launch: steps 2-7 (or --dry-run's report of 2, 3 and 5). Returns
 * only on failure, after --dry-run or after --join-lead has handed the
 * container over, with the exit code to use. */
int hr_launch(const struct hr_config *cfg, char **envp);

/* Steps 2 and 3 only: what a launch would run and mount, nothing created.
 * Returns 0 with plan filled (the caller's, for hr_plan_free), or -1
 * (logged). */
int hr_launch_plan(const struct hr_config *cfg, char **envp, struct hr_plan *plan);

/* Steps 2-6: the calling process ends up inside the container, ready for
 * step 7 (hr_exec, or a caller that execs by itself). --dry-run is
 * hr_launch's, not looked at here. Returns 0 with plan filled (the
 * caller's), or -1 (logged); all else the launch held is released either
 * way. */
int hr_launch_enter(const struct hr_config *cfg, char **envp, struct hr_plan *plan);

#endif
