/* hpcrun's Slurm epilog: run by slurmd as root, once per node per job. It
 * removes what the job left on this node: hpcrun's FUSE and --join servers
 * of the job's user that belong to this job on this node (found by the
 * SLURM_JOB_ID and SLURMD_NODENAME in their environment, which slurmd set
 * for the job's tasks: several slurmd may share one host), the prolog's
 * kernel mount, its record and the staged copy (see prolog.c). It never
 * fails: a failing epilog drains the node; what it cannot do it says on
 * stderr and in syslog.
 *
 * Why each privileged step is safe:
 * - a process is signalled through a pidfd taken before its /proc entry is
 *   read (pidfd_open(2)): if it exits and its PID is reused meanwhile, the
 *   signal fails instead of hitting the newcomer;
 * - the directories are opened as in the prolog (rootside.c): root's,
 *   writable by no one else, no symlink followed; one that is not is left
 *   alone;
 * - the mount is unmounted relative to the mount point's directory, without
 *   following a symlink, and only where a mount point is;
 * - the job user's directory (mnt/) is a tmpfs of its own: it goes with
 *   one unmount, whatever the user left there; root never works inside a
 *   tree the user can rearrange. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "launch/config.h"
#include "launch/kmount.h"
#include "rootside.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* An environment larger than this is no server of ours (hpcrun keeps the
 * job's, which slurmd bounds well below it). */
#define ENVIRON_MAX (1 << 20)

/* name in dirfd, NUL-terminated; returns its length or -1. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t len)
{
    hr_autoclose int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    size_t got = 0;

    if (fd < 0)
        return -1;
    while (got < len - 1) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Whether the NUL-separated list env holds the entry want exactly. */
static bool env_has(const char *env, size_t len, const char *want)
{
    for (size_t i = 0; i < len; i += strlen(env + i) + 1)
        if (strcmp(env + i, want) == 0)
            return true;
    return false;
}

/* hpcrun-fuse or hpcrun-join, of the job's user, in this job on this node. */
static bool is_job_server(int pdir, const struct rs_job *job, char *comm, size_t len)
{
    hr_autofree char *env = NULL, *want_job = NULL, *want_node = NULL;
    struct stat st;
    ssize_t n;

    if (read_at(pdir, "comm", comm, len) <= 0)
        return false;
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, "hpcrun-fuse") != 0 && strcmp(comm, "hpcrun-join") != 0)
        return false;
    if (fstat(pdir, &st) < 0 || st.st_uid != job->uid)
        return false;
    /* only for the few processes left: every process of the node gets here */
    env = hr_xmalloc(ENVIRON_MAX);
    want_job = hr_xasprintf("SLURM_JOB_ID=%s", job->id);
    want_node = hr_xasprintf("SLURMD_NODENAME=%s", job->node);
    n = read_at(pdir, "environ", env, ENVIRON_MAX);
    return n > 0 && env_has(env, (size_t)n, want_job) &&
           env_has(env, (size_t)n, want_node);
}

static void kill_if_server(int proc_fd, const char *name, const struct rs_job *job)
{
    pid_t pid = (pid_t)strtol(name, NULL, 10);
    hr_autoclose int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    bool is_legacy = pidfd < 0 && errno == ENOSYS; /* before Linux 5.3 */
    hr_autoclose int pdir = -1;
    char comm[32];
    long rc;

    if (pidfd < 0 && !is_legacy)
        return; /* gone already */
    pdir = openat(proc_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pdir < 0 || !is_job_server(pdir, job, comm, sizeof(comm)))
        return;
    rc = is_legacy ? kill(pid, SIGKILL)
                   : syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    if (rc == 0)
        rs_say("killed %s %d", comm, (int)pid);
}

/* Servers first: a FUSE server holds its image open. */
static void kill_servers(const struct rs_job *job)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (!d) {
        rs_say("/proc: %s", strerror(errno));
        return;
    }
    while ((e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
            kill_if_server(dirfd(d), e->d_name, job);
    closedir(d);
}

/* Unmount dirfd/name if a mount is there: relative to the directory, never
 * following a symlink. No user can mount on this node, so a mount point
 * there is the prolog's. */
static void unmount_at(int dirfd, const char *name, const char *shown)
{
    struct stat st, at;

    if (fstatat(dirfd, name, &at, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(at.st_mode) ||
        fstat(dirfd, &st) < 0 || at.st_dev == st.st_dev)
        return;
    /* busy while a killed process is not yet reaped: then lazily */
    if (fchdir(dirfd) < 0 || (umount2(name, UMOUNT_NOFOLLOW) < 0 &&
                              umount2(name, UMOUNT_NOFOLLOW | MNT_DETACH) < 0))
        rs_say("cannot unmount %s/%s: %s", shown, name, strerror(errno));
    if (chdir("/") < 0)
        rs_say("/: %s", strerror(errno));
}

/* JOB/mnt: unmount JOB/mnt/image, then the job user's tmpfs on JOB/mnt
 * with all the user left in it, then remove the (root's, empty) mount
 * point. Root never works inside the user's directory. Returns 0 once it
 * is gone. */
static int mnt_clean(int job_fd, const char *job_dir)
{
    hr_autofree char *shown = hr_xasprintf("%s/%s", job_dir, HR_KMOUNT_MNT);
    hr_autoclose int mnt_fd =
        openat(job_fd, HR_KMOUNT_MNT, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (mnt_fd < 0 && errno == ENOENT)
        return 0;
    if (mnt_fd < 0) {
        rs_say("%s: %s: left alone", shown, strerror(errno));
        return -1;
    }
    unmount_at(mnt_fd, HR_KMOUNT_IMAGE, shown);
    hr_closep(&mnt_fd); /* it would keep the tmpfs busy */
    unmount_at(job_fd, HR_KMOUNT_MNT, job_dir);
    if (unlinkat(job_fd, HR_KMOUNT_MNT, AT_REMOVEDIR) < 0) {
        rs_say("%s: cannot remove it (%s): left", shown, strerror(errno));
        return -1;
    }
    return 0;
}

/* BASE/NODE/JOB, each opened and checked as the prolog made them (root's
 * alone, no symlink); shown: JOB's path, for messages. */
struct job_dirs {
    int base, node, job;
    char *shown;
};

/* Returns 0 with all three open, or -1 (said why, unless missing). */
static int job_dirs_open(struct job_dirs *d, const char *base, const struct rs_job *job)
{
    hr_autofree char *node_dir = hr_xasprintf("%s/%s", base, job->node);

    d->shown = hr_xasprintf("%s/%s", node_dir, job->id);
    d->node = d->job = -1;
    d->base = rs_dir_open(base, false);
    if (d->base >= 0)
        d->node = rs_dir_open_at(d->base, job->node, node_dir, false);
    if (d->node >= 0)
        d->job = rs_dir_open_at(d->node, job->id, d->shown, false);
    return d->job < 0 ? -1 : 0;
}

static void job_dirs_close(struct job_dirs *d)
{
    hr_closep(&d->job);
    hr_closep(&d->node);
    hr_closep(&d->base);
    free(d->shown);
}

/* /run/hpcrun/NODE/JOB: the mount, the record, the directories. */
static void run_dir_clean(const struct rs_job *job)
{
    struct job_dirs d;

    if (job_dirs_open(&d, HR_KMOUNT_DIR, job) == 0) {
        /* JOB/image: where earlier prologs mounted (a job older than an
         * upgrade) */
        unmount_at(d.job, HR_KMOUNT_IMAGE, d.shown);
        if (mnt_clean(d.job, d.shown) == 0 && rs_remove_at(d.node, job->id) < 0)
            rs_say("%s: cannot remove it", d.shown);
        unlinkat(d.base, job->node, AT_REMOVEDIR); /* if no other job has one */
    }
    job_dirs_close(&d);
}

/* STAGE-DIR/NODE/JOB: root's alone, like every directory above it. */
static void stage_clean(const struct rs_job *job, const char *stage)
{
    struct job_dirs d;

    if (job_dirs_open(&d, stage, job) == 0) {
        if (rs_remove_at(d.node, job->id) < 0)
            rs_say("%s: cannot remove it", d.shown);
        unlinkat(d.base, job->node, AT_REMOVEDIR);
    }
    job_dirs_close(&d);
}

int main(void)
{
    struct rs_job job;
    struct hr_config cfg;
    char err[1024];

    umask(022);
    rs_log_init("epilog");
    if (rs_job_from_env(&job, environ, false) < 0)
        return 0;
    if (job.has_uid)
        kill_servers(&job);
    run_dir_clean(&job);
    if (rs_load_site(&cfg, environ, err, sizeof(err)) < 0)
        rs_say("%s (staged copies not removed)", err);
    else if (cfg.stage.dir)
        stage_clean(&job, cfg.stage.dir);
    hr_config_free(&cfg);
    rs_job_free(&job);
    return 0;
}
