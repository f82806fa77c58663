/* Step 7, exec: cwd, environment, no new privileges, capabilities, then
 * execvp's search of the container's PATH. hpcrun becomes the application
 * (same PID), so its exit status, its death by a signal and every signal
 * sent to it are the application's own. A command that is there but does
 * not run is explained (execdiag.h): another machine's program, a missing
 * ELF or "#!" interpreter, an image that cannot be read. */
#ifndef HR_EXEC_H
#define HR_EXEC_H

#include "launch/plan.h"

/* Only returns on failure (logged), with the exit code to use (126, 127 or
 * 125). image: the image's path, named when it could not be read. */
int hr_exec(const struct hr_plan *plan, const char *image);

/* Everything of step 7 but the exec: cwd, no_new_privs, capabilities.
 * Returns 0 or the exit code to use (logged). */
int hr_exec_prepare(const struct hr_plan *plan);

#endif
