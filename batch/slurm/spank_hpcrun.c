/* SPANK plugin: `srun|sbatch|salloc --container-image=IMAGE` runs every task
 * of a step inside IMAGE, with the launch library hpcrun itself uses (the
 * option names are pyxis's). Tasks of a step on a node share one container
 * (--join, the default under Slurm).
 *
 * slurm_spank_task_init runs in each task's own process, as the job's user,
 * just before slurmstepd execs the task: the library builds (or joins) the
 * container there and moves the process into it; slurmstepd's exec then runs
 * the command inside. Any error fails the task with a message: a task never
 * runs outside the container it asked for. */
#include "autoconfig.h"

#include <stdint.h> /* before spank.h, which uses its types */
#include <slurm/spank.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "config.h"
#include "env.h"
#include "exec.h"
#include "launch.h"
#include "log.h"
#include "util.h"

SPANK_PLUGIN(hpcrun, 1)

#define BATCH_STEP 0xfffffffbu /* SLURM_BATCH_SCRIPT in <slurm/slurm.h> */

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

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    (void)ac;
    (void)av;
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
        if (hr_bind_parse(m, &b, err, errlen) < 0) {
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

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    struct hr_config cfg;
    struct hr_plan plan;
    char **job_env = NULL, **argv = NULL, err[1024];
    int argc = 0;
    uint32_t step = 0;

    (void)ac;
    (void)av;
    if (!opt_image)
        return 0;
    hr_log_init("hpcrun", HR_LOG_WARN);
    if (spank_get_item(sp, S_JOB_ENV, &job_env) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS) {
        hr_err("--container-image: cannot read the task's environment and command");
        return -1;
    }
    if (hr_check_privileges() < 0)
        return -1;
    /* the site's binds and host library lists apply as they do to hpcrun */
    if (hr_config_load_site(&cfg, job_env, err, sizeof(err)) < 0 ||
        plugin_config(&cfg, job_env, err, sizeof(err)) < 0) {
        hr_err("%s", err);
        return -1;
    }
    cfg.cmd = argv;
    cfg.n_cmd = argc;
    /* The batch script lives in slurmd's spool: bind it, read-only, at the
     * same path, so the container can run it. */
    if (spank_get_item(sp, S_JOB_STEPID, &step) == ESPANK_SUCCESS && step == BATCH_STEP &&
        argc > 0 && argv[0][0] == '/') {
        struct hr_bind b = {
            .src = hr_xstrdup(argv[0]), .dst = hr_path_normalize(argv[0]), .is_ro = true};
        hr_config_add_bind(&cfg, &b);
    }
    if (hr_launch_enter(&cfg, job_env, &plan) != 0)
        return -1; /* it said why */
    if (hr_exec_prepare(&plan) != 0)
        return -1; /* it said why */
    if (plugin_env(sp, job_env, &plan.env) < 0) {
        hr_err("--container-image: cannot set the task's environment");
        return -1;
    }
    return 0;
}
