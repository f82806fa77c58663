/* The launch as a list of named steps (DESIGN.md, "The launch, step by step"). */
#ifndef HR_LAUNCH_H
#define HR_LAUNCH_H

#include "config.h"

/* Returns only on failure (or after --dry-run), with the exit code to use. */
int hr_launch(const struct hr_config *cfg, char **envp);

#endif
