/* Root-side helpers of the Slurm prolog and epilog: messages, the job from
 * slurmd's environment, directories opened and checked one component at a
 * time, and removal through descriptors. Runs as root: see rootside.h for
 * why each operation is safe. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "rootside.h"
#include "common/log.h"
#include "common/util.h"

/* A user's directories could nest without end: removal stops this deep. */
#define RS_MAX_DEPTH 64

static const char *say_what = "prolog";
static const char *say_job = "?", *say_node = "?";

void rs_log_init(const char *what)
{
    static char ident[32], prog[32];

    say_what = what;
    snprintf(ident, sizeof(ident), "hpcrun-%s", what);
    snprintf(prog, sizeof(prog), "hpcrun %s", what);
    openlog(ident, LOG_PID, LOG_DAEMON);
    /* the library's own messages (the config parser, hr_mount) look alike */
    hr_log_init(prog, HR_LOG_WARN);
}

void rs_say(const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "hpcrun %s: job %s on %s: %s\n", say_what, say_job, say_node, line);
    syslog(LOG_NOTICE, "job %s on %s: %s", say_job, say_node, line);
}

int rs_load_site(struct hr_config *cfg, char **envp, char *err, size_t errlen)
{
    if (hr_config_load_site(cfg, envp, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < cfg->site_unknown.n; i++)
        rs_say("%s (ignored)", cfg->site_unknown.v[i]);
    return 0;
}

static bool is_digits(const char *s)
{
    return s && *s && strlen(s) < 20 && strspn(s, "0123456789") == strlen(s);
}

static bool is_plain_name(const char *s)
{
    return s && *s && strlen(s) <= 64 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strspn(s,
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               strlen(s);
}

/* The user's groups, as login would set them (getgrouplist(3)). */
static int job_user_groups(struct rs_job *job, const char *uid_s, const char *gid_s)
{
    struct passwd *pw = getpwuid(job->uid);
    int n = 64;

    if (!pw) {
        rs_say("SLURM_JOB_UID %s: no such user on this node", uid_s);
        return -1;
    }
    job->gid = is_digits(gid_s) ? (gid_t)strtoul(gid_s, NULL, 10) : pw->pw_gid;
    job->groups = hr_xmalloc(sizeof(gid_t) * (size_t)n);
    if (getgrouplist(pw->pw_name, job->gid, job->groups, &n) < 0) {
        job->groups = hr_xrealloc(job->groups, sizeof(gid_t) * (size_t)n);
        if (getgrouplist(pw->pw_name, job->gid, job->groups, &n) < 0) {
            rs_say("%s: cannot list the user's groups", pw->pw_name);
            return -1;
        }
    }
    job->n_groups = n;
    return 0;
}

int rs_job_from_env(struct rs_job *job, char **envp, bool need_user)
{
    const char *uid_s = hr_env_get(envp, "SLURM_JOB_UID");

    memset(job, 0, sizeof(*job));
    job->id = hr_env_get(envp, "SLURM_JOB_ID");
    job->node = hr_env_get(envp, "SLURMD_NODENAME");
    if (is_digits(job->id))
        say_job = job->id;
    if (is_plain_name(job->node))
        say_node = job->node;
    if (!is_digits(job->id) || !is_plain_name(job->node)) {
        rs_say("no valid SLURM_JOB_ID or SLURMD_NODENAME");
        return -1;
    }
    if (is_digits(uid_s)) {
        job->uid = (uid_t)strtoul(uid_s, NULL, 10);
        job->has_uid = true;
        job->has_user =
            job_user_groups(job, uid_s, hr_env_get(envp, "SLURM_JOB_GID")) == 0;
    }
    if (need_user && !job->has_user) {
        if (!is_digits(uid_s))
            rs_say("no valid SLURM_JOB_UID");
        return -1;
    }
    return 0;
}

void rs_job_free(struct rs_job *job)
{
    free(job->groups);
    job->groups = NULL;
}

int rs_dir_open_at(int dirfd, const char *name, const char *shown, bool is_create)
{
    struct stat st;
    int fd;

    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && is_create &&
        (mkdirat(dirfd, name, 0755) == 0 || errno == EEXIST))
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP || e == ENOTDIR)
            rs_say("%s: not a directory (a symlink?): refused", shown);
        else if (e != ENOENT || is_create)
            rs_say("%s: %s", shown, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        rs_say("%s: %s", shown, strerror(e));
        close(fd);
        return -e;
    }
    /* anyone else who could write here could swap what root works on */
    if (st.st_uid != 0 || (st.st_mode & 022)) {
        rs_say("%s: not root's alone (owner %u, mode %o): refused", shown,
               (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -EPERM;
    }
    return fd;
}

int rs_dir_open(const char *path, bool is_create)
{
    hr_autofree char *copy = hr_path_normalize(path);
    hr_autofree char *shown = copy ? hr_xstrdup(copy) : NULL;
    char *save = NULL;
    int fd;

    if (!copy) {
        rs_say("%s: not an absolute path", path);
        return -EINVAL;
    }
    fd = rs_dir_open_at(AT_FDCWD, "/", "/", false);
    for (char *c = strtok_r(copy, "/", &save); c && fd >= 0;
         c = strtok_r(NULL, "/", &save)) {
        size_t end = (size_t)(c - copy) + strlen(c);
        char saved = shown[end];
        int next;

        shown[end] = '\0'; /* the path down to this component, for messages */
        next = rs_dir_open_at(fd, c, shown, is_create);
        shown[end] = saved;
        close(fd);
        fd = next;
    }
    return fd;
}

static int remove_contents(int fd, int depth);

/* One entry; a directory only if it is the caller's and on the same file
 * system (a mount point is left, and so is whatever is mounted). */
static int remove_entry(int dirfd, const char *name, int depth)
{
    struct stat st, parent;
    int rc = 0;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode) && st.st_uid == geteuid() && fstat(dirfd, &parent) == 0 &&
        st.st_dev == parent.st_dev) {
        hr_autoclose int fd =
            openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat again;
        /* the entry may have been swapped since fstatat: check what opened */
        if (fd < 0 || fstat(fd, &again) < 0 || again.st_ino != st.st_ino ||
            again.st_dev != st.st_dev)
            return -EAGAIN;
        rc = depth >= RS_MAX_DEPTH ? -ELOOP : remove_contents(fd, depth + 1);
    }
    if (unlinkat(dirfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 &&
        errno != ENOENT)
        rc = rc ? rc : -errno;
    return rc;
}

static int remove_contents(int fd, int depth)
{
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    struct dirent *e;
    int rc = 0;

    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return -errno;
    }
    while ((e = readdir(d))) {
        int r;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        r = remove_entry(fd, e->d_name, depth);
        rc = rc ? rc : r;
    }
    closedir(d);
    return rc;
}

int rs_remove_at(int dirfd, const char *name)
{
    return remove_entry(dirfd, name, 0);
}
