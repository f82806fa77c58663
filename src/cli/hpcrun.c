/* hpcrun: run a command inside a SquashFS image, without setuid and without
 * a daemon. A thin CLI over the launch library (launch.c; hpcrun run is a
 * launch too, config.c reads it), with the commands that print and run
 * nothing: --help, --version, --site-config, --devices, --list (and doctor,
 * doctor.c). */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/doctor.h"
#include "common/exitcodes.h"
#include "common/log.h"
#include "host/devreq.h"
#include "host/hostlibs.h"
#include "host/ldcache.h"
#include "launch/checks.h"
#include "launch/config.h"
#include "launch/image.h"
#include "launch/inject.h"
#include "launch/launch.h"
#include "launch/linger.h"

extern char **environ;

static void usage(FILE *out)
{
    fputs(
        "Usage: hpcrun [OPTIONS] IMAGE [--] [CMD [ARG...]]\n"
        "       hpcrun run [OPTIONS] IMAGE [--] [ARG...]\n"
        "       hpcrun doctor [IMAGE]\n"
        "Run CMD inside the SquashFS image IMAGE, as yourself, with the host's network\n"
        "and processes. Without CMD, run the image's entrypoint and cmd\n"
        "(/.hpcrun/config.json), or /bin/sh.\n"
        "hpcrun run runs the image's entrypoint with ARGs, which replace the image's\n"
        "cmd (as docker run does); no ARG: entrypoint and cmd; no entrypoint: ARGs\n"
        "are the command. An image file named run is given as ./run.\n"
        "\n"
        "Options:\n"
        "  -b, --bind SRC[:DST[:ro|rw]]  bind host path SRC at DST (default: SRC);\n"
        "                                repeatable\n"
        "      --env NAME=VALUE          set a variable inside; repeatable, wins over\n"
        "                                the host and the image\n"
        "      --cleanenv                pass only the essential host variables\n"
        "  -w, --workdir DIR             start in DIR (a container path)\n"
        "      --entrypoint=PROG         PROG replaces the image's entrypoint, and the\n"
        "                                image's cmd is dropped (an empty PROG: none);\n"
        "                                with run: PROG ARG...; not with a CMD\n"
        "      --no-home                 do not bind the home directory\n"
        "      --writable-tmpfs          make the root writable; changes vanish at exit\n"
        "      --fakeroot                be uid 0 inside (still only yourself outside)\n"
        "      --dev=minimal|host        a minimal /dev (default), or the host's /dev\n"
        "      --offset N                the SquashFS starts N bytes into IMAGE\n"
        "      --join[=KEY]              share one container with the other launches of\n"
        "                                this Slurm job step, or of this mpirun job, on\n"
        "                                this node (the default under Slurm or mpirun),\n"
        "                                or with those naming KEY\n"
        "      --no-join                 a container of its own, even under Slurm or\n"
        "                                mpirun\n"
        "      --gpu=auto|none|nvidia|amd|intel\n"
        "                                the job's GPUs and the host's driver libraries\n"
        "                                (default auto: what is found and allocated)\n"
        "      --fabric=auto|none        fast-network devices (InfiniBand, Omni-Path,\n"
        "                                Slingshot) and their host libraries\n"
        "      --mpi=image|host          the image's own MPI (default), or the host's\n"
        "                                MPI bound over an ABI-compatible one\n"
        "      --topology FILE.xml       a saved hwloc topology instead of this node's\n"
        "      --devices                 print the devices found and what would be\n"
        "                                bound (IMAGE optional), run nothing\n"
        "      --dry-run                 print the launch plan, mount nothing\n"
        "      --linger=TIME             keep the image mounted for TIME (seconds, or\n"
        "                                with s, m or h; default 60s, 0: not at all)\n"
        "                                after the container exits, so that the next\n"
        "                                launch of it by you on this node starts warm\n"
        "      --list                    list your image mounts that linger on this\n"
        "                                node, run nothing\n"
        "  -v, --verbose                 more messages; repeat for debugging\n"
        "  -q, --quiet                   errors only\n"
        "  -h, --help                    show this help\n"
        "      --version                 show version and compiled-in features\n"
        "      --site-config             print which site config file is read and the\n"
        "                                policy it sets; exit 125 if it has a key\n"
        "                                this hpcrun does not know\n"
        "\n"
        "Exit status: the command's own; if it is killed by a signal, hpcrun dies by\n"
        "that signal. 125: hpcrun failed (bad option, bad image, setup error);\n"
        "126: CMD cannot be executed; 127: CMD not found in the image.\n"
        "hpcrun doctor checks this node (and IMAGE) and says how to fix what it\n"
        "finds; it exits 1 if something would break a launch.\n"
        "\n"
        "Environment: HPCRUN_BIND (comma-separated --bind specs), HPCRUN_LINGER (as\n"
        "--linger), HPCRUN_CONFIG (site config file,\n"
        "instead of " SYSCONFDIR "/hpcrun/hpcrun.conf; it must exist).\n"
        "See hpcrun(1) for the environment rules and the site config file.\n",
        out);
}

/* --site-config: the device and host library keys as they apply, shipped
 * defaults included, so an admin sees what a launch would look for. */
static void print_host_policy(const struct hr_config *cfg)
{
    printf("gpu=%s\nfabric=%s\n", hr_gpu_mode_names[cfg->devreq.gpu],
           cfg->devreq.fabric == HR_FABRIC_NONE ? "none" : "auto");
    printf("ld-so-cache=%s\nhost-mpi=%s\nhost-tool-path=%s\n",
           cfg->ld_so_cache ? cfg->ld_so_cache : HR_LDCACHE,
           cfg->host_mpi ? cfg->host_mpi : "",
           cfg->host_tool_path ? cfg->host_tool_path : HR_DEFAULT_TOOL_PATH);
    for (size_t i = 0; i < HR_N_SETS; i++) {
        const struct hr_set_override *o = &cfg->sets[i];
        const struct hr_liblist *d = hr_liblist_default(hr_set_names[i]);
        printf("host-libs-%s=%s\n", hr_set_names[i], o->libs ? o->libs : d->libs);
        printf("host-tools-%s=%s\n", hr_set_names[i], o->tools ? o->tools : d->tools);
        printf("host-dirs-%s=%s\n", hr_set_names[i], o->dirs ? o->dirs : d->dirs);
    }
}

/* --site-config: which file was read, then the policy as the Slurm prolog
 * sees it (it reads the file with this parser). An unknown key, which a
 * launch only warns about, fails here: this is the admin's check of the
 * file, and a misspelt key silently turns a setting off. Returns the exit
 * code. */
static int show_site_config(const struct hr_config *cfg, char **envp)
{
    if (cfg->site_file)
        printf("# site config: %s\n", cfg->site_file);
    else
        printf("# site config: none (%s does not exist); shipped defaults\n",
               hr_config_site_path(envp));
    printf("stage-dir=%s\nkernel-mount-dirs=%s\n", cfg->stage.dir ? cfg->stage.dir : "",
           cfg->stage.kernel_mount_dirs ? cfg->stage.kernel_mount_dirs : "");
    printf("stage-max-size=%llu\nstage-min-free=%llu\n", cfg->stage.max_size,
           cfg->stage.min_free);
    printf("linger=%d\n", cfg->linger_s);
    print_host_policy(cfg);
    fflush(stdout);
    for (size_t i = 0; i < cfg->site_unknown.n; i++)
        hr_err("%s", cfg->site_unknown.v[i]);
    return cfg->site_unknown.n ? HR_EXIT_FAIL : HR_EXIT_OK;
}

/* A key of the site config this hpcrun does not know (a newer config
 * shared with an older hpcrun, or a misspelling): a launch warns and goes
 * on rather than fail every launch on the node. */
static void warn_site_unknown(const struct hr_config *cfg)
{
    for (size_t i = 0; i < cfg->site_unknown.n; i++)
        hr_warn("%s (ignored)", cfg->site_unknown.v[i]);
}

/* --devices [IMAGE]: print what was found and what would be bound. Returns
 * the exit code. */
static int show_devices(const struct hr_config *cfg, char **envp)
{
    struct hr_image img;
    struct hr_inject in;
    bool has_image = cfg->image != NULL;
    int rc;

    if (has_image && hr_image_open(&img, cfg->image, cfg->offset) < 0)
        return HR_EXIT_FAIL;
    rc = hr_inject_collect(cfg, envp, has_image ? &img : NULL, &in);
    if (rc == 0) {
        if (!in.dev.report.n)
            printf("device   none found (no GPU or fabric device on this node)\n");
        hr_inject_print(&in, stdout);
        hr_inject_free(&in);
    }
    if (has_image)
        hr_image_close(&img);
    return rc == 0 ? HR_EXIT_OK : HR_EXIT_FAIL;
}

#ifdef HR_SANITIZE
/* A build with --enable-sanitizers: hpcrun is not checked for leaks when it
 * exits. It execs the application, and what it held is gone with the exec,
 * or exits right after a one-line error: no leak that grows. Compiled in,
 * since the sanitizer ignores ASAN_OPTIONS in a setgid copy (which the tests
 * make to see it refused), and its leak check cannot work there. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

int main(int argc, char **argv)
{
    struct hr_config cfg;
    char err[1024];
    int rc;

    hr_log_init("hpcrun", HR_LOG_WARN);
    /* Before anything reads a file a user names (HPCRUN_CONFIG, the image):
     * installed setuid, that would read it with privileges. */
    if (hr_check_privileges() < 0)
        return HR_EXIT_FAIL;
    if (argc >= 2 && strcmp(argv[1], "doctor") == 0)
        return hr_doctor(argc - 1, argv + 1, environ);
    if (hr_config_load(&cfg, &(struct hr_cmdline){argc, argv, environ}, err,
                       sizeof(err)) < 0) {
        hr_err("%s", err);
        return HR_EXIT_FAIL;
    }
    hr_log_init("hpcrun", cfg.verbosity);
    if (cfg.action == HR_ACTION_LAUNCH || cfg.action == HR_ACTION_DEVICES)
        warn_site_unknown(&cfg);
    switch (cfg.action) {
    case HR_ACTION_HELP:
        usage(stdout);
        return HR_EXIT_OK;
    case HR_ACTION_VERSION:
        printf("hpcrun %s\nfeatures: %s\n", PACKAGE_VERSION, HR_FEATURES);
        return HR_EXIT_OK;
    case HR_ACTION_SITE_CONFIG:
        rc = show_site_config(&cfg, environ);
        hr_config_free(&cfg);
        return rc;
    case HR_ACTION_DEVICES:
        rc = show_devices(&cfg, environ);
        hr_config_free(&cfg);
        return rc;
    case HR_ACTION_LIST:
        hr_linger_list(stdout);
        hr_config_free(&cfg);
        return fflush(stdout) == 0 ? HR_EXIT_OK : HR_EXIT_FAIL;
    case HR_ACTION_LAUNCH:
        break;
    }
    rc = hr_launch(&cfg, environ);
    fflush(stdout);
    return rc;
}
