/* What the Slurm prolog and epilog (prolog.c, epilog.c) share. slurmd runs
 * both as root, so every file operation here works relative to directory
 * descriptors that were checked when opened (root's, writable by no one
 * else, not a symlink), with O_NOFOLLOW: no path a user can change is ever
 * resolved as root. */
#ifndef HR_ROOTSIDE_H
#define HR_ROOTSIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "launch/config.h"

/* The job, from slurmd's environment. */
struct rs_job {
    const char *id;   /* SLURM_JOB_ID: digits */
    const char *node; /* SLURMD_NODENAME: a plain name (multiple-slurmd) */
    bool has_uid;     /* SLURM_JOB_UID was given */
    bool has_user;    /* ... and names a user of this node */
    uid_t uid;        /* SLURM_JOB_UID */
    gid_t gid;        /* SLURM_JOB_GID, else the user's primary group */
    gid_t *groups;    /* the user's groups (getgrouplist), for rs_open_as_user */
    int n_groups;
};

/* "hpcrun prolog: job J on N: MESSAGE" on stderr (slurmd's log) and to
 * syslog as hpcrun-prolog (or -epilog). */
void rs_log_init(const char *what);
void rs_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The site config, read with hpcrun's parser (hr_config_load_site). A key
 * this hpcrun does not know is said and ignored: refusing the file would
 * fail the job's node set-up, while an ignored (say misspelt)
 * kernel-mount-dirs only means no kernel mount, the safe default. A bad
 * value of a known key stays an error. Returns 0, or -1 with err set. */
int rs_load_site(struct hr_config *cfg, char **envp, char *err, size_t errlen);

/* Fill job from envp. need_user: SLURM_JOB_UID must name a user. Returns 0,
 * or -1 after saying what is wrong. */
int rs_job_from_env(struct rs_job *job, char **envp, bool need_user);
void rs_job_free(struct rs_job *job);

/* Open the directory name in dirfd (shown: its path, for messages) and
 * check it is root's, writable by no one else and not a symlink;
 * with is_create, make it (0755) first if missing. Returns the descriptor,
 * or -errno after saying why (silently for ENOENT without is_create). */
int rs_dir_open_at(int dirfd, const char *name, const char *shown, bool is_create);

/* The same for each component of the absolute path, from "/" down. */
int rs_dir_open(const char *path, bool is_create);

/* Remove name in dirfd and, if it is a directory, what it holds: through
 * descriptors, never following a symlink, never leaving the file system of
 * dirfd, never descending into a directory the caller (euid) does not own.
 * Returns 0 or -errno (the first failure; the rest is still tried). */
int rs_remove_at(int dirfd, const char *name);

#endif
