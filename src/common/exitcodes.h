/* Exit codes of hpcrun's own failures, shared with the tests
 * (tests/integration/lib.sh reads the values from here).
 *
 * The application's exit status passes through unchanged, so hpcrun keeps to
 * the convention of env(1), chroot(1), docker and podman: the top of the
 * 0..127 range belongs to the launcher. */
#ifndef HR_EXITCODES_H
#define HR_EXITCODES_H

#define HR_EXIT_OK 0
/* hpcrun itself failed: bad option or bind spec, bad image, refused to run
 * setuid, no user namespaces or FUSE, a mount failed. The message says which. */
#define HR_EXIT_FAIL 125
/* The command exists in the image but cannot be executed. */
#define HR_EXIT_CANNOT_EXEC 126
/* The command was not found in the image. */
#define HR_EXIT_NOT_FOUND 127

#endif
