/* SPANK plugin: `srun|sbatch|salloc --container-image=IMAGE` runs every task
 * of a step inside IMAGE, with the launch library hpcrun itself uses (the
 * option names are pyxis's). Tasks of a step on a node share one container.
 *
 * slurm_spank_task_init runs in each task's own process, as the job's user,
 * just before slurmstepd execs the task. That process is a fork of root's
 * slurmstepd: it still holds slurmstepd's memory, which the kernel keeps
 * from the user only while the process is not dumpable. So it never builds
 * a container itself (writing its own id maps would need it dumpable, and
 * a FUSE server forked from it would keep that memory for the whole job):
 * the container is built and served by hpcrun, freshly exec'd as a helper
 * (--join-lead), and the task only enters it with setns(2), as any --join
 * member does. slurmstepd's exec then runs the command inside. Any error
 * fails the task with a message: a task never runs outside the container it
 * asked for. */
#include "autoconfig.h"

#include <stdint.h> /* before spank.h, which uses its types */
#include <slurm/spank.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/exitcodes.h"
#include "common/log.h"
#include "common/util.h"
#include "launch/checks.h"
#include "launch/config.h"
#include "launch/env.h"
#include "launch/exec.h"
#include "launch/join.h"
#include "launch/launch.h"

SPANK_PLUGIN(hpcrun, 1)

#define BATCH_STEP 0xfffffffbu /* SLURM_BATCH_SCRIPT in <slurm/slurm.h> */
#define HELPER_LISTEN_FD 3     /* the step's socket, in the helper */
#define HELPER_WAIT_MS 60000   /* for the helper to have the container served */
#define HELPER_OUTPUT_MAX 4096 /* of its stdout and of its stderr, each */

static char *opt_image, *opt_mounts, *opt_workdir, *opt_env;
static bool opt_no_home;

enum { OPT_IMAGE, OPT_MOUNTS, OPT_WORKDIR, OPT_ENV, OPT_NO_HOME };

static int opt_set(int val, const char *arg, int remote)
{
    char **slot = val == OPT_IMAGE     ? &opt_image
                  : val == OPT_MOUNTS  ? &opt_mounts
                  : val == OPT_WORKDIR ? &opt_workdir
                  : val == OPT_ENV     ? &opt_env
                                       : NULL;
    (void)remote;
    if (val == OPT_NO_HOME) {
        opt_no_home = true;
        return 0;
    }
    if (!slot || !arg || !*arg) {
        slurm_error("hpcrun: --container-* options need a value");
        return -1;
    }
    free(*slot);
    *slot = strdup(arg);
    return *slot ? 0 : -1;
}

static struct spank_option options[] = {
    {"container-image", "IMAGE", "run the tasks inside the SquashFS image IMAGE (hpcrun)",
     1, OPT_IMAGE, opt_set},
    {"container-mounts", "SRC:DST[:ro],...",
     "bind host paths into the container (hpcrun)", 1, OPT_MOUNTS, opt_set},
    {"container-workdir", "DIR", "working directory inside the container (hpcrun)", 1,
     OPT_WORKDIR, opt_set},
    {"container-env", "NAME,...",
     "variables whose host value wins over the image's (hpcrun)", 1, OPT_ENV, opt_set},
    {"no-container-mount-home", NULL, "do not bind the home directory (hpcrun)", 0,
     OPT_NO_HOME, opt_set},
    SPANK_OPTIONS_TABLE_END,
};

/* The plugin's arguments in plugstack.conf: "hpcrun=PATH", the hpcrun
 * program that builds the containers (default: the installed one). Returns
 * the path, or NULL (logged). */
static const char *plugin_hpcrun(int ac, char **av)
{
    const char *path = HR_BINDIR "/hpcrun";

    for (int i = 0; i < ac; i++) {
        if (strncmp(av[i], "hpcrun=/", 8) != 0) {
            slurm_error("hpcrun: plugstack.conf argument '%s': expected "
                        "hpcrun=/ABSOLUTE/PATH/TO/hpcrun",
                        av[i]);
            return NULL;
        }
        path = av[i] + 7;
    }
    return path;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    if (!plugin_hpcrun(ac, av))
        return -1;
    for (struct spank_option *o = options; o->name; o++)
        if (spank_option_register(sp, o) != ESPANK_SUCCESS)
            return -1;
    return 0;
}

/* In srun, sbatch or salloc, when a job is being allocated: name the image
 * (as an absolute path, the prolog runs elsewhere) to the prolog and epilog,
 * which see it as SPANK_HPCRUN_IMAGE (batch/slurm/prolog may mount it with
 * the kernel for this job). Only a hint: hpcrun checks any such mount. */
int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    spank_context_t ctx = spank_context();
    char *abs;

    (void)ac;
    (void)av;
    if (!opt_image || (ctx != S_CTX_ALLOCATOR && ctx != S_CTX_LOCAL))
        return 0;
    abs = realpath(opt_image, NULL);
    if (abs && spank_job_control_setenv(sp, "HPCRUN_IMAGE", abs, 1) != ESPANK_SUCCESS)
        slurm_verbose("hpcrun: cannot pass --container-image to the prolog");
    free(abs);
    return 0;
}

/* The plugin's options as the launch's config. */
static int plugin_config(struct hr_config *cfg, char **env, char *err, size_t errlen)
{
    char *save = NULL, *copy;

    cfg->image = opt_image;
    cfg->is_no_home = opt_no_home;
    if (opt_workdir) {
        if (opt_workdir[0] != '/')
            return hr_fail(err, errlen, "--container-workdir '%s': must be absolute",
                           opt_workdir);
        cfg->workdir = hr_path_normalize(opt_workdir);
    }
    copy = opt_mounts ? hr_xstrdup(opt_mounts) : NULL;
    for (char *m = copy ? strtok_r(copy, ",", &save) : NULL; m;
         m = strtok_r(NULL, ",", &save)) {
        struct hr_bind b;
        if (hr_bind_parse("--container-mounts", m, &b, err, errlen) < 0) {
            free(copy);
            return -1;
        }
        hr_config_add_bind(cfg, &b);
    }
    free(copy);
    /* pyxis's --container-env: these keep the host's value over the image's */
    copy = opt_env ? hr_xstrdup(opt_env) : NULL;
    for (char *n = copy ? strtok_r(copy, ",", &save) : NULL; n;
         n = strtok_r(NULL, ",", &save)) {
        const char *v = hr_env_get(env, n);
        if (v)
            hr_strv_push_owned(&cfg->env_set, hr_xasprintf("%s=%s", n, v));
    }
    free(copy);
    return 0;
}

/* Make the task's environment the container's: slurmstepd execs with it. */
static int plugin_env(spank_t sp, char **job_env, const struct hr_strv *env)
{
    struct hr_strv drop = {0};
    int rc = 0;

    for (char **e = job_env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char *name = hr_xstrndup(*e, eq ? (size_t)(eq - *e) : strlen(*e));
        if (!hr_env_get(env->v, name))
            hr_strv_push_owned(&drop, name);
        else
            free(name);
    }
    for (size_t i = 0; i < drop.n; i++)
        spank_unsetenv(sp, drop.v[i]);
    hr_strv_free(&drop);
    for (size_t i = 0; i < env->n && rc == 0; i++) {
        char *copy = hr_xstrdup(env->v[i]);
        char *eq = strchr(copy, '=');
        *eq = '\0';
        if (spank_setenv(sp, copy, eq + 1, 1) != ESPANK_SUCCESS)
            rc = -1;
        free(copy);
    }
    return rc;
}

/* The helper's command line: the task's config as hpcrun options, so both
 * plan the same container (the helper reads the same site config; the
 * batch script's bind is one of cfg's binds). */
static void helper_argv(struct hr_strv *v, const char *hpcrun,
                        const struct hr_config *cfg)
{
    hr_strv_push(v, hpcrun);
    hr_strv_push_owned(v, hr_xasprintf("--join=%s", cfg->join_key));
    hr_strv_push_owned(v, hr_xasprintf("--join-lead=%d", HELPER_LISTEN_FD));
    for (size_t i = 0; i < cfg->n_binds; i++) {
        const struct hr_bind *b = &cfg->binds[i];
        if (!b->from_site)
            hr_strv_push_owned(v, hr_xasprintf("--bind=%s:%s:%s", b->src, b->dst,
                                               b->is_ro ? "ro" : "rw"));
    }
    if (cfg->workdir)
        hr_strv_push_owned(v, hr_xasprintf("--workdir=%s", cfg->workdir));
    if (cfg->is_no_home)
        hr_strv_push(v, "--no-home");
    for (size_t i = 0; i < cfg->env_set.n; i++)
        hr_strv_push_owned(v, hr_xasprintf("--env=%s", cfg->env_set.v[i]));
    hr_strv_push(v, "--");
    hr_strv_push(v, cfg->image);
    hr_strv_push(v, "--");
    for (int i = 0; i < cfg->n_cmd; i++)
        hr_strv_push(v, cfg->cmd[i]);
}

/* The job's environment, which the helper plans with, as the task does; not
 * HPCRUN_BIND, which hpcrun applies and the plugin does not. Never
 * slurmstepd's own environment. */
static void helper_env(struct hr_strv *v, char **job_env)
{
    for (char **e = job_env; e && *e; e++)
        if (strncmp(*e, "HPCRUN_BIND=", 12) != 0)
            hr_strv_push(v, *e);
}

struct helper {
    pid_t pid;
    int out_fd, err_fd; /* its stdout (the join key) and stderr (its messages) */
};

/* Fork and exec the helper, listen_fd as its HELPER_LISTEN_FD. Between fork
 * and exec the child holds slurmstepd's memory like the task, not dumpable:
 * it only moves descriptors and execs. */
static int helper_spawn(char **argv, char **envp, int listen_fd, struct helper *h)
{
    int out[2], err[2];
    hr_autoclose int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    hr_autofree char *failed = hr_xasprintf(
        "hpcrun: %s: cannot execute it (plugstack.conf: hpcrun=PATH)\n", argv[0]);
    sigset_t none;

    if (access(argv[0], X_OK) < 0) {
        hr_err("--container-image: the hpcrun program %s: %s (plugstack.conf: "
               "hpcrun=PATH names it)",
               argv[0], strerror(errno));
        return -1;
    }
    if (devnull < 0 || pipe2(out, O_CLOEXEC) < 0) {
        hr_err("--container-image: %s", strerror(errno));
        return -1;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        hr_err("--container-image: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        return -1;
    }
    sigemptyset(&none);
    h->pid = fork();
    if (h->pid == 0) {
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0 ||
            dup2(listen_fd, HELPER_LISTEN_FD) < 0 ||
            fcntl(HELPER_LISTEN_FD, F_SETFD, 0) < 0)
            _exit(HR_EXIT_FAIL);
        /* nothing of slurmstepd's may reach the helper, which the user
         * can trace once it runs: without close_range (Linux 5.9), one by
         * one */
        if (syscall(SYS_close_range, HELPER_LISTEN_FD + 1, ~0U, 0) < 0) {
            struct rlimit nofile;
            if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
                _exit(HR_EXIT_FAIL);
            for (rlim_t fd = HELPER_LISTEN_FD + 1; fd < nofile.rlim_cur; fd++)
                close((int)fd);
        }
        execve(argv[0], argv, envp);
        ssize_t n = write(2, failed, strlen(failed));
        (void)n; /* nothing else to tell it on */
        _exit(HR_EXIT_CANNOT_EXEC);
    }
    close(out[1]);
    close(err[1]);
    h->out_fd = out[0];
    h->err_fd = err[0];
    if (h->pid < 0) {
        hr_err("--container-image: cannot fork: %s", strerror(errno));
        close(out[0]);
        close(err[0]);
        return -1;
    }
    return 0;
}

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Read the helper's stdout and stderr (HELPER_OUTPUT_MAX each, the rest is
 * dropped) until both end, which is when it exits: the server it forks
 * keeps neither. At most HELPER_WAIT_MS, then it is killed. Reaps it and
 * returns its wait status, or -1 if it was late. */
static int helper_wait(struct helper *h, char *out, char *msg)
{
    int fds[2] = {h->out_fd, h->err_fd}, status = 0, n_open = 2;
    char *bufs[2] = {out, msg};
    size_t lens[2] = {0, 0};
    long long deadline = now_ms() + HELPER_WAIT_MS;
    bool is_late = false;

    while (n_open > 0 && !is_late) {
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN},
                              {.fd = fds[1], .events = POLLIN}};
        long long left = deadline - now_ms();
        if (left <= 0 || (poll(p, 2, (int)left) < 0 && errno != EINTR)) {
            is_late = true;
            break;
        }
        for (int i = 0; i < 2; i++) {
            char chunk[512];
            ssize_t n =
                fds[i] >= 0 && p[i].revents ? read(fds[i], chunk, sizeof(chunk)) : -1;
            if (n > 0) {
                size_t keep = (size_t)n < HELPER_OUTPUT_MAX - lens[i]
                                  ? (size_t)n
                                  : HELPER_OUTPUT_MAX - lens[i];
                memcpy(bufs[i] + lens[i], chunk, keep);
                lens[i] += keep;
            } else if (fds[i] >= 0 && p[i].revents && (n == 0 || errno != EINTR)) {
                close(fds[i]);
                fds[i] = -1;
                n_open--;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        bufs[i][lens[i]] = '\0';
    }
    /* It closed both pipes: it should be gone, or about to. Not waited for
     * past the deadline (a helper that closed them and kept running, or
     * one in an uninterruptible wait): killed, and left to the reaper. */
    pid_t reaped = 0;
    while (!is_late && (reaped = waitpid(h->pid, &status, WNOHANG)) == 0) {
        is_late = now_ms() >= deadline;
        if (!is_late)
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    if (reaped < 0) /* how it ended is unknown: no success */
        is_late = true;
    if (is_late) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, &status, WNOHANG);
    }
    return is_late ? -1 : status;
}

/* What the helper's end means for the task: 0 if it serves the container
 * this task planned, else -1 with one message (the helper's own, if any). */
static int helper_verdict(const char *hpcrun, int status, char *out, const char *msg,
                          const char *key)
{
    size_t n = strlen(out);

    if (*msg) /* its messages start with "hpcrun:" and say why, as hpcrun's */
        fprintf(stderr, "%s%s", msg, msg[strlen(msg) - 1] == '\n' ? "" : "\n");
    if (status == -1) {
        hr_err("--container-image: %s did not have the container ready in %d s", hpcrun,
               HELPER_WAIT_MS / 1000);
        return -1;
    }
    if (WIFSIGNALED(status) && !*msg)
        hr_err("--container-image: %s was killed by signal %d", hpcrun, WTERMSIG(status));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && !*msg)
        hr_err("--container-image: %s failed (exit %d)", hpcrun, WEXITSTATUS(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    if (n > 0 && out[n - 1] == '\n')
        out[n - 1] = '\0';
    if (strcmp(out, key) != 0) {
        hr_err("--container-image: %s built another container than this task planned "
               "(did the image or the site config change meanwhile?)",
               hpcrun);
        return -1;
    }
    return 0;
}

/* Have the helper build the container and serve it on listen_fd (the
 * step's socket, bound by this task). Returns 0 once it is served, or -1
 * with one message. */
static int helper_run(const char *hpcrun, const struct hr_config *cfg, char **job_env,
                      int listen_fd, const char *key)
{
    struct hr_strv argv = {0}, envp = {0};
    char out[HELPER_OUTPUT_MAX + 1], msg[HELPER_OUTPUT_MAX + 1];
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    struct helper h;
    int rc = -1;

    helper_argv(&argv, hpcrun, cfg);
    helper_env(&envp, job_env);
    /* waitpid needs the child: the kernel must not reap it (SIG_IGN) */
    sigaction(SIGCHLD, &dfl, &old);
    if (helper_spawn(argv.v, envp.v ? envp.v : (char *[]){NULL}, listen_fd, &h) == 0)
        rc = helper_verdict(hpcrun, helper_wait(&h, out, msg), out, msg, key);
    sigaction(SIGCHLD, &old, NULL);
    hr_strv_free(&argv);
    hr_strv_free(&envp);
    return rc;
}

/* A socket name for a container of this task's own: 32 random bytes in hex,
 * so no other user can take it first. Returns 0 or -1 (logged). */
static int private_name(uid_t uid, char *out, size_t len)
{
    uint8_t rnd[32];
    char rnd_hex[2 * sizeof(rnd) + 1];

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        hr_err("--container-image: cannot get random bytes: %s", strerror(errno));
        return -1;
    }
    hr_hex_encode(rnd, sizeof(rnd), rnd_hex);
    snprintf(out, len, "hpcrun/%u/%s", (unsigned)uid, rnd_hex);
    return 0;
}

/* Enter the step's container on this node: join it, or, the first task to
 * come, have the helper build it and then join it. Returns 0 inside, or -1
 * (logged). The task itself never creates a namespace. */
static int task_enter(const char *hpcrun, const struct hr_config *cfg, char **job_env,
                      const struct hr_plan *plan)
{
    char name[HR_JOIN_NAME_MAX];
    struct hr_join join;
    enum hr_join_role role = HR_JOIN_ALONE;
    int rc;

    if (hr_join_step_name(job_env, plan->join_key, plan->host_uid, name, sizeof(name)) ==
        0)
        role = hr_join_enter(name, &join);
    /* Alone (warned): the helper still builds the container, for this task
     * only, reached through a name nobody can guess. */
    if (role == HR_JOIN_ALONE) {
        if (private_name(plan->host_uid, name, sizeof(name)) < 0)
            return -1;
        role = hr_join_enter(name, &join);
    }
    if (role != HR_JOIN_LEADER)
        return role == HR_JOIN_MEMBER ? 0 : -1;
    /* This task bound the step's socket: tasks that come meanwhile wait in
     * its backlog. The helper takes it over and serves them and this one. */
    close(join.ready_rd);
    close(join.ready_wr);
    rc = helper_run(hpcrun, cfg, job_env, join.listen_fd, plan->join_key);
    close(join.listen_fd);
    if (rc < 0)
        return -1;
    role = hr_join_enter(name, &join);
    if (role == HR_JOIN_LEADER) {
        close(join.listen_fd);
        close(join.ready_rd);
        close(join.ready_wr);
        hr_err("--container-image: %s exited, yet no one serves the container", hpcrun);
        return -1;
    }
    return role == HR_JOIN_MEMBER ? 0 : -1;
}

/* The task's launch config: site config, the plugin's options, the command,
 * the batch script's bind, and the step's --join key. Returns 0 or -1. */
static int task_config(spank_t sp, struct hr_config *cfg, char **job_env, int argc,
                       char **argv)
{
    uint32_t job = 0, step = 0;
    const char *node = hr_env_get(job_env, "SLURMD_NODENAME");
    char err[1024];

    /* the site's binds and host library lists apply as they do to hpcrun */
    if (hr_config_load_site(cfg, job_env, err, sizeof(err)) < 0 ||
        plugin_config(cfg, job_env, err, sizeof(err)) < 0) {
        hr_err("%s", err);
        return -1;
    }
    /* as hpcrun does: a key this hpcrun does not know must not fail the job */
    for (size_t i = 0; i < cfg->site_unknown.n; i++)
        hr_warn("%s (ignored)", cfg->site_unknown.v[i]);
    cfg->cmd = argv;
    cfg->n_cmd = argc;
    if (spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS) {
        hr_err("--container-image: cannot read the job step's id");
        return -1;
    }
    /* The batch script lives in slurmd's spool: bind it, read-only, at the
     * same path, so the container can run it. */
    if (step == BATCH_STEP && argc > 0 && argv[0][0] == '/') {
        struct hr_bind b = {
            .src = hr_xstrdup(argv[0]), .dst = hr_path_normalize(argv[0]), .is_ro = true};
        hr_config_add_bind(cfg, &b);
    }
    /* One container for the tasks of the step on this node (the node's
     * name: several slurmd may share a host), also for the batch step. */
    cfg->join = HR_JOIN_ON;
    cfg->join_key = hr_xasprintf("spank:%u.%u@%s", job, step, node ? node : "");
    return 0;
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    struct hr_config cfg;
    struct hr_plan plan;
    char **job_env = NULL, **argv = NULL;
    const char *hpcrun;
    int argc = 0;

    if (!opt_image)
        return 0;
    hr_log_init("hpcrun", HR_LOG_WARN);
    hpcrun = plugin_hpcrun(ac, av);
    if (!hpcrun)
        return -1;
    if (spank_get_item(sp, S_JOB_ENV, &job_env) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS) {
        hr_err("--container-image: cannot read the task's environment and command");
        return -1;
    }
    if (hr_check_privileges() < 0 || task_config(sp, &cfg, job_env, argc, argv) < 0)
        return -1;
    if (hr_launch_plan(&cfg, job_env, &plan) < 0 ||
        task_enter(hpcrun, &cfg, job_env, &plan) < 0 || hr_exec_prepare(&plan) != 0)
        return -1; /* it said why */
    if (plugin_env(sp, job_env, &plan.env) < 0) {
        hr_err("--container-image: cannot set the task's environment");
        return -1;
    }
    return 0;
}
