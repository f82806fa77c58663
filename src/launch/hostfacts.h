/* Steps 2 and 3, the host facts: the caller (ids, names, home, cwd, its
 * parent process), the canonical sources of its binds, and the host files
 * the plan may bind.
 * Gathered before any namespace, with the system calls they need, so the
 * plan (plan.h) is a pure function of them. */
#ifndef HR_HOSTFACTS_H
#define HR_HOSTFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "launch/config.h"

/* Facts about the host and the caller, gathered before any namespace. */
struct hr_host {
    uid_t uid;
    gid_t gid;
    char *user;  /* passwd name, or the uid as text */
    char *group; /* group name, or the gid as text */
    char *gecos;
    char *home; /* $HOME, else the passwd home */
    char
        *home_real; /* home, canonical (realpath); NULL: not a directory, or unresolved */
    char *shell;
    char *cwd; /* physical cwd, NULL if unreachable */
    bool is_home_dir;
    char **environ;
    /* for cfg->binds[i]: canonical source and its type (set by collection);
     * bind_src[i] NULL: a site bind whose source this node lacks, skipped */
    char **bind_src;
    bool *bind_src_is_dir;
    bool has_hosts, has_resolv; /* /etc/hosts, /etc/resolv.conf exist */
    unsigned closed_std_fds;    /* bit n: fd n (0-2) was closed by the caller */
    /* PMIx directories named in the environment: canonical, existing,
     * NULL-terminated (see pmix_env_dirs in hostfacts.c) */
    char **pmix_dirs;
    /* The process that started hpcrun (getppid) and its start time in clock
     * ticks since boot (/proc/PID/stat, field 22): under MPICH's Hydra, the
     * job's proxy on this node. The pair names one process for the life of
     * the system, where a PID alone may be recycled. 0: unknown. */
    pid_t parent_pid;
    unsigned long long parent_start;
};

/* Gather host facts (getpwuid, getcwd, realpath of bind sources and home).
 * Logs one line and returns -1 if the source of a user's bind does not
 * exist; a site bind's missing source is skipped (with a warning unless
 * the site wrote bind?). A standard fd (0-2) the caller closed is opened on
 * /dev/null for the launch, so no descriptor hpcrun opens lands there, and
 * is noted so exec closes it again. */
int hr_host_collect(const struct hr_config *cfg, char **envp, struct hr_host *host);
void hr_host_free(struct hr_host *host, size_t n_binds);

/* Whether envp is a rank's of a PMI (MPICH Hydra) job: PMI_RANK with
 * PMI_FD or PMI_PORT. Pure. */
bool hr_host_is_pmi_job(char **envp);

#endif
