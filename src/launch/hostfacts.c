/* Step 2 (checks) and 3 (plan), the host facts: who the caller is, where
 * it stands, which process started it (for --join under mpirun) and what of
 * the host the plan may bind (canonical bind sources, home, PMIx
 * directories, /etc/hosts). Everything the plan needs to know of
 * the host is read here, once, so that the plan itself (plan.c) is pure.
 * Errors: one logged line and -1. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch/hostfacts.h"
#include "common/log.h"
#include "common/util.h"
#include "launch/env.h"

/* Under "srun --mpi=pmix", Slurm's PMIx server tells each task where its
 * files are: the server's directory in slurmd's spool (rendezvous files and
 * the shared-memory data store that the client maps, e.g.
 * /var/spool/slurmd/pmix.J.S) and the system tmpdir. The client fails in
 * MPI_Init unless they are visible inside at the same paths. */
static const char *const pmix_env_dirs[] = {"PMIX_SERVER_TMPDIR", "PMIX_SYSTEM_TMPDIR",
                                            "PMIX_DSTORE_21_BASE_PATH",
                                            "PMIX_DSTORE_ESH_BASE_PATH"};

static char **collect_pmix_dirs(char **envp)
{
    char **dirs = hr_xmalloc((HR_ARRAY_LEN(pmix_env_dirs) + 1) * sizeof(char *));
    size_t n = 0;

    for (size_t i = 0; i < HR_ARRAY_LEN(pmix_env_dirs); i++) {
        const char *v = hr_env_get(envp, pmix_env_dirs[i]);
        char buf[PATH_MAX];
        struct stat st;

        /* a name that is not an existing directory is the MPI's problem */
        if (v && v[0] == '/' && realpath(v, buf) && stat(buf, &st) == 0 &&
            S_ISDIR(st.st_mode))
            dirs[n++] = hr_xstrdup(buf);
    }
    dirs[n] = NULL;
    return dirs;
}

/* The canonical source of bind b in *src, or NULL there if it is skipped.
 * A site bind whose source this node lacks is skipped, with a warning
 * unless the site marked it optional (bind?): one site config serves nodes
 * that differ (a /scratch on the compute nodes only), and one missing
 * directory must not fail every launch on a node. A user's own bind names
 * what the user asked for: missing, it fails the launch. */
static int collect_bind_src(const struct hr_bind *b, char **src, bool *is_dir)
{
    const char *at = b->site_at ? b->site_at : "site config";
    char buf[PATH_MAX];
    struct stat st;

    if (realpath(b->src, buf) && stat(buf, &st) == 0) {
        *src = hr_xstrdup(buf);
        *is_dir = S_ISDIR(st.st_mode);
        return 0;
    }
    if (b->from_site && (errno == ENOENT || errno == ENOTDIR)) {
        if (b->is_optional)
            hr_info("%s: bind? %s: not on this node; skipped", at, b->src);
        else
            hr_warn("%s: bind %s: no such file or directory on this node; skipped", at,
                    b->src);
        return 0;
    }
    if (b->from_site)
        hr_err("%s: site bind '%s': %s", at, b->src, strerror(errno));
    else
        hr_err("%s '%s': %s", b->origin ? b->origin : "--bind", b->src, strerror(errno));
    return -1;
}

/* The parent's start time, from /proc/PID/stat: field 22, counted after
 * the last ')' since the command name (field 2) may hold spaces and
 * parentheses (proc(5)). */
static unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* fields 3 (state) to 21 are skipped, 22 is the start time */
    if (!p ||
        sscanf(p + 1,
               "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
               "%*s %*s %llu",
               &start) != 1)
        return 0;
    return start;
}

/* The parent and its start time, or 0 for both. Read while the parent is
 * still ours: if it died in between, the kernel reparented hpcrun and
 * getppid() changed, so the start time read may be another process's. */
bool hr_host_is_pmi_job(char **envp)
{
    return hr_env_get(envp, "PMI_RANK") &&
           (hr_env_get(envp, "PMI_FD") || hr_env_get(envp, "PMI_PORT"));
}

static void collect_parent(struct hr_host *host)
{
    pid_t ppid = getppid();
    unsigned long long start = proc_start_time(ppid);

    if (start == 0 || getppid() != ppid)
        return;
    host->parent_pid = ppid;
    host->parent_start = start;
}

int hr_host_collect(const struct hr_config *cfg, char **envp, struct hr_host *host)
{
    struct passwd *pw;
    struct group *gr;
    const char *home_env = hr_env_get(envp, "HOME");
    char buf[PATH_MAX];
    struct stat st;

    memset(host, 0, sizeof(*host));
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            if (open("/dev/null", O_RDWR) != fd) {
                hr_err("/dev/null: %s", strerror(errno));
                return -1;
            }
            host->closed_std_fds |= 1u << fd;
        }
    }
    host->uid = getuid();
    host->gid = getgid();
    host->environ = envp;
    pw = getpwuid(host->uid);
    host->user = pw ? hr_xstrdup(pw->pw_name) : hr_xasprintf("%u", (unsigned)host->uid);
    host->gecos = hr_xstrdup(pw && pw->pw_gecos ? pw->pw_gecos : "");
    host->shell =
        hr_xstrdup(pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
    host->home = hr_xstrdup(home_env && home_env[0] == '/' ? home_env
                            : pw                           ? pw->pw_dir
                                                           : "/");
    gr = getgrgid(host->gid);
    host->group = gr ? hr_xstrdup(gr->gr_name) : hr_xasprintf("%u", (unsigned)host->gid);
    host->is_home_dir = stat(host->home, &st) == 0 && S_ISDIR(st.st_mode);
    if (host->is_home_dir)
        host->home_real = realpath(host->home, NULL);
    if (getcwd(buf, sizeof(buf)))
        host->cwd = hr_xstrdup(buf);
    host->has_hosts = access("/etc/hosts", F_OK) == 0;
    host->has_resolv = access("/etc/resolv.conf", F_OK) == 0;
    host->pmix_dirs = collect_pmix_dirs(envp);
    /* only a --join key under Hydra needs it: no /proc read otherwise */
    if (cfg->join != HR_JOIN_OFF && !cfg->join_key && hr_host_is_pmi_job(envp))
        collect_parent(host);
    host->bind_src = calloc(cfg->n_binds + 1, sizeof(char *));
    host->bind_src_is_dir = calloc(cfg->n_binds + 1, sizeof(bool));
    if (!host->bind_src || !host->bind_src_is_dir) {
        hr_err("out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_binds; i++)
        if (collect_bind_src(&cfg->binds[i], &host->bind_src[i],
                             &host->bind_src_is_dir[i]) < 0)
            return -1;
    return 0;
}

void hr_host_free(struct hr_host *host, size_t n_binds)
{
    for (size_t i = 0; host->bind_src && i < n_binds; i++)
        free(host->bind_src[i]);
    free(host->bind_src);
    free(host->bind_src_is_dir);
    free(host->user);
    free(host->group);
    free(host->gecos);
    free(host->home);
    free(host->home_real);
    free(host->shell);
    free(host->cwd);
    for (size_t i = 0; host->pmix_dirs && host->pmix_dirs[i]; i++)
        free(host->pmix_dirs[i]);
    free(host->pmix_dirs);
    memset(host, 0, sizeof(*host));
}
