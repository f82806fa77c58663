/* Step 2, checks: refuse to run with privileges hpcrun must never have. */
#ifndef HR_CHECKS_H
#define HR_CHECKS_H

/* Refuse to run setuid/setgid (real and effective ids differ, or the
 * executable has the bits) or with file capabilities. hpcrun needs no
 * privilege; running with some would let a user use it against the host. */
int hr_check_privileges(void);

/* Open /dev/fuse for the image step: the FUSE device, usable by the caller.
 * Returns the descriptor, or -1 with one line that names the cause (missing,
 * its mode, or another file in its place) and the admin's fix. */
int hr_check_open_fuse(void);

#endif
