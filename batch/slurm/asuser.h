/* Opening a file as the job's user, for the prolog (asuser.c). */
#ifndef HR_ASUSER_H
#define HR_ASUSER_H

#include "rootside.h"

/* Run as the job's user (its uid, gid and groups, in a child process):
 * open rel beneath the directory dir_fd (no "..", symlink or /proc magic
 * link out of it) with O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY and hand the
 * descriptor back. The user must reach the directory by its path dir_path
 * too (the same directory, searched with their rights), and permission
 * checks below it are theirs. At most 30 s. Returns the descriptor or
 * -errno. */
int rs_open_as_user(const struct rs_job *job, int dir_fd, const char *dir_path,
                    const char *rel);

#endif
