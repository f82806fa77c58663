/* Step 1: argv, site config text and HPCRUN_* parsing. */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "launch/config.h"
#include "unit.h"

static int parse(struct hr_config *cfg, char *err, const char *a0, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    const char *s = a0;

    va_start(ap, a0);
    argv[argc++] = "hpcrun";
    while (s) {
        argv[argc++] = (char *)s;
        s = va_arg(ap, const char *);
    }
    va_end(ap);
    argv[argc] = NULL;
    memset(cfg, 0, sizeof(*cfg));
    return hr_config_parse_args(cfg, argc, argv, err, 512);
}

static void test_binds(void)
{
    struct hr_bind b;
    char err[512];

    CHECK(hr_bind_parse("--bind", "/data", &b, err, sizeof(err)) == 0);
    CHECK_STR(b.src, "/data");
    CHECK_STR(b.dst, "/data");
    CHECK(!b.is_ro);
    free(b.src), free(b.dst);
    CHECK(hr_bind_parse("--bind", "/data:/mnt/d/:ro", &b, err, sizeof(err)) == 0);
    CHECK_STR(b.dst, "/mnt/d");
    CHECK(b.is_ro);
    free(b.src), free(b.dst);
    CHECK(hr_bind_parse("--bind", "rel:/x:rw", &b, err, sizeof(err)) == 0);
    CHECK(!b.is_ro);
    free(b.src), free(b.dst);
    CHECK(hr_bind_parse("--bind", "rel", &b, err, sizeof(err)) < 0);
    CHECK(strstr(err, "relative source") != NULL);
    CHECK(hr_bind_parse("--bind", "/a:b", &b, err, sizeof(err)) < 0);
    CHECK(strstr(err, "absolute") != NULL);
    CHECK(hr_bind_parse("--bind", "/a:/b:rx", &b, err, sizeof(err)) < 0);
    CHECK(strstr(err, "unknown option 'rx'") != NULL);
    CHECK(hr_bind_parse("--bind", "/a:/", &b, err, sizeof(err)) < 0);
    CHECK(hr_bind_parse("--bind", ":/b", &b, err, sizeof(err)) < 0);
}

static void test_args(void)
{
    struct hr_config cfg;
    char err[512];

    CHECK(parse(&cfg, err, "-b", "/a", "--env", "X=1", "--cleanenv", "-w", "/w",
                "--no-home", "--writable-tmpfs", "--fakeroot", "--dev=host", "-vv",
                "--offset", "4096", "img.sqfs", "--", "ls", "-l", NULL) == 0);
    CHECK_STR(cfg.image, "img.sqfs");
    CHECK(cfg.n_cmd == 2);
    CHECK_STR(cfg.cmd[0], "ls");
    CHECK_STR(cfg.cmd[1], "-l");
    CHECK(cfg.n_binds == 1 && cfg.is_cleanenv && cfg.is_no_home && cfg.is_fakeroot);
    CHECK(cfg.is_writable_tmpfs && cfg.dev == HR_DEV_HOST && cfg.verbosity == 2);
    CHECK(cfg.offset == 4096);
    CHECK_STR(cfg.workdir, "/w");
    CHECK_STR(cfg.env_set.v[0], "X=1");
    hr_config_free(&cfg);

    /* options after the image belong to the command */
    CHECK(parse(&cfg, err, "img", "ls", "-b", NULL) == 0);
    CHECK(cfg.n_cmd == 2 && cfg.n_binds == 0);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "img", NULL) == 0 && cfg.cmd == NULL);
    hr_config_free(&cfg);

    CHECK(parse(&cfg, err, NULL) < 0 && strstr(err, "no image") != NULL);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--bogus", "img", NULL) < 0 && strstr(err, "--bogus"));
    /* a value for an option that takes none says so, not "unknown option '-'" */
    CHECK(parse(&cfg, err, "--fakeroot=yes", "img", NULL) < 0 &&
          strcmp(err, "option '--fakeroot' takes no value (see --help)") == 0);
    CHECK(parse(&cfg, err, "--verbose=2", "img", NULL) < 0 &&
          strcmp(err, "option '--verbose' takes no value (see --help)") == 0);
    /* no abbreviations: --device is not --devices */
    CHECK(parse(&cfg, err, "--device", "img", NULL) < 0 &&
          strcmp(err, "unknown option '--device' (did you mean '--devices'?)") == 0);
    CHECK(parse(&cfg, err, "--work=/x", "img", NULL) < 0 &&
          strcmp(err, "unknown option '--work' (did you mean '--workdir'?)") == 0);
    CHECK(parse(&cfg, err, "-vx", "img", NULL) < 0 &&
          strcmp(err, "unknown option '-x' (see --help)") == 0);
    CHECK(parse(&cfg, err, "--devices", "--verbose", "img", NULL) == 0);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "-x", "img", NULL) < 0 && strstr(err, "'-x'"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--env", "1X=2", "img", NULL) < 0 &&
          strstr(err, "NAME=VALUE"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--dev=all", "img", NULL) < 0 && strstr(err, "minimal"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--offset", "-1", "img", NULL) < 0);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "-w", "rel", "img", NULL) < 0);
    hr_config_free(&cfg);
    /* an option after the image is a mistake, not a command named "-b" */
    CHECK(parse(&cfg, err, "img", "-b", "/x", "true", NULL) < 0 &&
          strstr(err, "'-b' after the image: options go before IMAGE"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "img", "--", "-b", NULL) == 0 && cfg.n_cmd == 1 &&
          strcmp(cfg.cmd[0], "-b") == 0);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "run", "img", "--help", NULL) == 0 && cfg.n_cmd == 1);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "-b", NULL) < 0 && strstr(err, "needs an argument"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "-q", "img", NULL) == 0 && cfg.verbosity == -1);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join=step7", "img", NULL) == 0 && cfg.join == HR_JOIN_ON);
    CHECK_STR(cfg.join_key, "step7");
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join", "img", NULL) == 0 && cfg.join == HR_JOIN_ON &&
          !cfg.join_key);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--no-join", "img", NULL) == 0 && cfg.join == HR_JOIN_OFF);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join=", "img", NULL) < 0 && strstr(err, "empty"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join=k", "--join-lead=3", "img", NULL) == 0 &&
          cfg.join_lead_fd == 3);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join-lead=3", "img", NULL) < 0 &&
          strstr(err, "--join=KEY"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join=k", "--join-lead=3", "--no-join", "img", NULL) < 0);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join=k", "--join-lead=1", "img", NULL) < 0 &&
          strstr(err, "--join-lead '1'"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--join=k", "--join-lead=3x", "img", NULL) < 0);
    hr_config_free(&cfg);
}

/* hpcrun run and --entrypoint: run is a subcommand wherever the first word
 * that is no option is, and an image named run is given as ./run. */
static void test_run_and_entrypoint(void)
{
    struct hr_config cfg;
    char err[512];

    CHECK(parse(&cfg, err, "run", "img", "a", "b", NULL) == 0 && cfg.is_run);
    CHECK(cfg.n_cmd == 2 && strcmp(cfg.cmd[0], "a") == 0 && !cfg.entrypoint);
    CHECK_STR(cfg.image, "img");
    hr_config_free(&cfg);
    /* options before run, after it, or both */
    CHECK(parse(&cfg, err, "-v", "run", "--entrypoint=/bin/echo", "-q", "img", "z",
                NULL) == 0);
    CHECK(cfg.is_run && cfg.verbosity == -1 && cfg.n_cmd == 1);
    CHECK_STR(cfg.entrypoint, "/bin/echo");
    CHECK_STR(cfg.image, "img");
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--entrypoint", "/bin/echo", "run", "img", NULL) == 0);
    CHECK(cfg.is_run && cfg.n_cmd == 0);
    CHECK_STR(cfg.entrypoint, "/bin/echo");
    hr_config_free(&cfg);
    /* empty: no entrypoint, which is not "the image's" (NULL) */
    CHECK(parse(&cfg, err, "--entrypoint=", "img", NULL) == 0);
    CHECK_STR(cfg.entrypoint, "");
    CHECK(!cfg.is_run);
    hr_config_free(&cfg);
    /* an image named run */
    CHECK(parse(&cfg, err, "./run", "x", NULL) == 0 && !cfg.is_run);
    CHECK_STR(cfg.image, "./run");
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--", "run", NULL) == 0 && !cfg.is_run);
    CHECK_STR(cfg.image, "run");
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "run", "run", NULL) == 0 && cfg.is_run);
    CHECK_STR(cfg.image, "run");
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "run", "--", "img", "x", NULL) == 0 && cfg.is_run);
    CHECK(strcmp(cfg.image, "img") == 0 && cfg.n_cmd == 1);
    hr_config_free(&cfg);
    /* "--" as an option's value ends nothing */
    CHECK(parse(&cfg, err, "--topology", "--", "run", "img", NULL) == 0 && cfg.is_run);
    hr_config_free(&cfg);
    /* after the image, run is a command like any other */
    CHECK(parse(&cfg, err, "img", "run", NULL) == 0 && !cfg.is_run && cfg.n_cmd == 1);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "run", NULL) < 0 &&
          strcmp(err, "no image given (usage: hpcrun run [OPTIONS] IMAGE [ARG...])") ==
              0);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "run", "--bogus", "img", NULL) < 0 && strstr(err, "--bogus"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--entrypoint", NULL) < 0 && strstr(err, "needs an argument"));
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--entry=/x", "img", NULL) < 0 &&
          strstr(err, "did you mean '--entrypoint'"));
    hr_config_free(&cfg);
}

static void test_site_and_env(void)
{
    struct hr_config cfg;
    char err[512];
    char *envp[] = {"HPCRUN_BIND=/e1,/e2:/x:ro", "HPCRUN_CONFIG=/etc/x.conf", NULL};
    char *bad_env[] = {"HPCRUN_BIND=rel", NULL};

    memset(&cfg, 0, sizeof(cfg));
    CHECK(hr_config_apply_site(&cfg, "site.conf", "# comment\n\n bind = /scratch \n", err,
                               sizeof(err)) == 0);
    CHECK(cfg.n_binds == 1 && cfg.binds[0].from_site);
    CHECK(hr_config_apply_env(&cfg, envp, err, sizeof(err)) == 0);
    CHECK(cfg.n_binds == 3 && cfg.binds[2].is_ro);
    CHECK_STR(cfg.binds[2].dst, "/x");
    /* an unknown key is noted for the caller, and the rest still applies */
    CHECK(hr_config_apply_site(&cfg, "site.conf", "color = red\ngpu = none\n", err,
                               sizeof(err)) == 0);
    CHECK(cfg.site_unknown.n == 1 && cfg.devreq.gpu == HR_GPU_NONE);
    CHECK_STR(cfg.site_unknown.v[0], "site.conf:1: unknown key 'color'");
    CHECK(hr_config_apply_site(&cfg, "s", "x\n", err, sizeof(err)) < 0);
    CHECK(hr_config_apply_env(&cfg, bad_env, err, sizeof(err)) < 0);
    CHECK(strstr(err, "HPCRUN_BIND 'rel': a relative source needs") != NULL &&
          !strstr(err, "--bind"));
    CHECK_STR(hr_config_site_path(envp), "/etc/x.conf");
    CHECK(strstr(hr_config_site_path(bad_env), "hpcrun/hpcrun.conf") != NULL);
    hr_config_free(&cfg);
}

/* Site binds: each knows its line; "bind?" marks one optional, with :ro or
 * :rw as a plain bind; a malformed one is an error, as any bad value. */
static void test_site_binds(void)
{
    struct hr_config cfg;
    char err[512];

    memset(&cfg, 0, sizeof(cfg));
    CHECK(hr_config_apply_site(&cfg, "s.conf",
                               "bind = /a\n\nbind? = /scratch:/s:ro\n bind?=/b:/b:rw\n",
                               err, sizeof(err)) == 0);
    CHECK(cfg.n_binds == 3 && cfg.site_unknown.n == 0);
    CHECK(cfg.binds[0].from_site && !cfg.binds[0].is_optional);
    CHECK_STR(cfg.binds[0].site_at, "s.conf:1");
    CHECK(cfg.binds[1].from_site && cfg.binds[1].is_optional && cfg.binds[1].is_ro);
    CHECK_STR(cfg.binds[1].site_at, "s.conf:3");
    CHECK_STR(cfg.binds[1].dst, "/s");
    CHECK(cfg.binds[2].is_optional && !cfg.binds[2].is_ro);
    CHECK(hr_config_apply_site(&cfg, "s.conf", "bind? = /x:rel\n", err, sizeof(err)) < 0);
    CHECK(strstr(err, "s.conf:1: bind? '/x:rel': destination must be") != NULL);
    CHECK(hr_config_apply_site(&cfg, "s.conf", "bind = /x:/y:optional\n", err,
                               sizeof(err)) < 0);
    /* a user's binds are never optional and name no site line (parse()
     * starts from an empty config: the site binds above are freed first) */
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "-b", "/u", "img", NULL) == 0);
    CHECK(cfg.n_binds == 1);
    CHECK(!cfg.binds[0].from_site && !cfg.binds[0].is_optional && !cfg.binds[0].site_at);
    hr_config_free(&cfg);
}

/* The prolog's staging caps: sizes with binary suffixes, 0 lifts a cap. */
static void test_stage_caps(void)
{
    struct hr_config cfg;
    char err[512];
    unsigned long long v;

    memset(&cfg, 0, sizeof(cfg));
    CHECK(hr_config_apply_site(&cfg, "site.conf",
                               "stage-max-size = 8G\nstage-min-free = 512M\n", err,
                               sizeof(err)) == 0);
    CHECK(cfg.stage.max_size == 8ULL << 30 && cfg.stage.min_free == 512ULL << 20);
    CHECK(hr_config_apply_site(&cfg, "site.conf", "stage-max-size = 0\n", err,
                               sizeof(err)) == 0 &&
          cfg.stage.max_size == 0);
    CHECK(hr_config_parse_size("k", "4096", &v, err, sizeof(err)) == 0 && v == 4096);
    CHECK(hr_config_parse_size("k", "3K", &v, err, sizeof(err)) == 0 && v == 3072);
    CHECK(hr_config_parse_size("k", "1T", &v, err, sizeof(err)) == 0 && v == 1ULL << 40);
    CHECK(hr_config_parse_size("k", "", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_size("k", "-1", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_size("k", "8GB", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_size("k", "8X", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_size("k", "99999999999999999999", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_size("k", "17179869184T", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_apply_site(&cfg, "site.conf", "\nstage-min-free = lots\n", err,
                               sizeof(err)) < 0);
    CHECK(strstr(err, "site.conf:2: stage-min-free: 'lots' is not a size"));
    hr_config_free(&cfg);
}

static void test_site_policy(void)
{
    struct hr_config cfg;
    char err[512];

    memset(&cfg, 0, sizeof(cfg));
    CHECK(cfg.stage.dir == NULL &&
          cfg.stage.kernel_mount_dirs == NULL); /* never by default */
    CHECK(hr_config_apply_site(&cfg, "site.conf",
                               "stage-dir = /local//hpcrun/\n"
                               "kernel-mount-dirs = /apps/images:/scratch/trusted\n",
                               err, sizeof(err)) == 0);
    CHECK_STR(cfg.stage.dir, "/local/hpcrun");
    CHECK_STR(cfg.stage.kernel_mount_dirs, "/apps/images:/scratch/trusted");
    CHECK(hr_config_apply_site(&cfg, "site.conf", "kernel-mount-dirs =\nstage-dir =\n",
                               err, sizeof(err)) == 0);
    CHECK(cfg.stage.dir == NULL && cfg.stage.kernel_mount_dirs == NULL);
    CHECK(hr_config_apply_site(&cfg, "site.conf", "\nkernel-mount-dirs = /apps:images\n",
                               err, sizeof(err)) < 0);
    CHECK(
        strstr(err, "site.conf:2: kernel-mount-dirs: 'images' is not an absolute path"));
    CHECK(hr_config_apply_site(&cfg, "site.conf", "stage-dir = local\n", err,
                               sizeof(err)) < 0);
    CHECK(strstr(err, "site.conf:1: stage-dir: 'local' is not an absolute path"));
    hr_config_free(&cfg);
    test_stage_caps();
    CHECK(parse(&cfg, err, "--site-config", NULL) == 0 &&
          cfg.action == HR_ACTION_SITE_CONFIG);
    hr_config_free(&cfg);
}

/* One action; when several are given the same one wins in any order. */
static void test_actions(void)
{
    struct hr_config cfg;
    char err[512];

    CHECK(parse(&cfg, err, "i", NULL) == 0 && cfg.action == HR_ACTION_LAUNCH);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--version", NULL) == 0 && cfg.action == HR_ACTION_VERSION);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "-h", NULL) == 0 && cfg.action == HR_ACTION_HELP);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--devices", "--help", NULL) == 0 &&
          cfg.action == HR_ACTION_HELP);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--help", "--devices", NULL) == 0 &&
          cfg.action == HR_ACTION_HELP);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--site-config", "--version", NULL) == 0 &&
          cfg.action == HR_ACTION_VERSION);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--version", "--site-config", NULL) == 0 &&
          cfg.action == HR_ACTION_VERSION);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--devices", "--site-config", NULL) == 0 &&
          cfg.action == HR_ACTION_SITE_CONFIG);
    hr_config_free(&cfg);
}

/* The linger time: site, then HPCRUN_LINGER, then --linger; --list. */
static void test_linger(void)
{
    struct hr_config cfg;
    char err[512], path[] = "/tmp/hr-test-linger-XXXXXX", env_config[64];
    char *envp[] = {env_config, "HPCRUN_LINGER=2m", NULL};
    char *argv[] = {"hpcrun", "--linger=7", "img", NULL};
    int v = -1, fd = mkstemp(path);

    CHECK(hr_config_parse_linger("k", "0", &v, err, sizeof(err)) == 0 && v == 0);
    CHECK(hr_config_parse_linger("k", "90", &v, err, sizeof(err)) == 0 && v == 90);
    CHECK(hr_config_parse_linger("k", "90s", &v, err, sizeof(err)) == 0 && v == 90);
    CHECK(hr_config_parse_linger("k", "5m", &v, err, sizeof(err)) == 0 && v == 300);
    CHECK(hr_config_parse_linger("k", "168h", &v, err, sizeof(err)) == 0 &&
          v == HR_LINGER_MAX_S);
    CHECK(hr_config_parse_linger("k", "169h", &v, err, sizeof(err)) < 0 &&
          strstr(err, "k: '169h' is longer than a week"));
    CHECK(hr_config_parse_linger("k", "99999999999999999999", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_linger("k", "", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_linger("k", "-1", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_linger("k", "1d", &v, err, sizeof(err)) < 0 &&
          strstr(err, "k: '1d' is not a time"));
    CHECK(hr_config_parse_linger("k", "5mm", &v, err, sizeof(err)) < 0);
    CHECK(hr_config_parse_linger("k", "m", &v, err, sizeof(err)) < 0);

    CHECK(fd >= 0 && write(fd, "linger = 10\n", 12) == 12);
    close(fd);
    snprintf(env_config, sizeof(env_config), "HPCRUN_CONFIG=%s", path);
    CHECK(hr_config_load_site(&cfg, (char *[]){NULL}, err, sizeof(err)) == 0 &&
          cfg.linger_s == HR_LINGER_DEFAULT_S);
    hr_config_free(&cfg);
    CHECK(hr_config_load_site(&cfg, envp, err, sizeof(err)) == 0 && cfg.linger_s == 10);
    CHECK(hr_config_apply_env(&cfg, envp, err, sizeof(err)) == 0 && cfg.linger_s == 120);
    hr_config_free(&cfg);
    CHECK(hr_config_load(&cfg, &(struct hr_cmdline){3, argv, envp}, err, sizeof(err)) ==
          0);
    CHECK(cfg.linger_s == 7); /* the option wins */
    hr_config_free(&cfg);
    envp[1] = "HPCRUN_LINGER=later";
    CHECK(hr_config_load(&cfg, &(struct hr_cmdline){3, argv, envp}, err, sizeof(err)) <
              0 &&
          strstr(err, "HPCRUN_LINGER: 'later' is not a time"));
    hr_config_free(&cfg);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "linger = soon\n", 14) == 14);
    close(fd);
    CHECK(hr_config_load_site(&cfg, (char *[]){env_config, NULL}, err, sizeof(err)) < 0 &&
          strstr(err, ":1: linger: 'soon' is not a time"));
    hr_config_free(&cfg);
    unlink(path);

    CHECK(parse(&cfg, err, "--list", NULL) == 0 && cfg.action == HR_ACTION_LIST);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--list", "--site-config", NULL) == 0 &&
          cfg.action == HR_ACTION_SITE_CONFIG);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--linger=1h", "i", NULL) == 0 && cfg.linger_s == 3600);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--linger=x", "i", NULL) < 0 &&
          strstr(err, "--linger: 'x' is not a time"));
    hr_config_free(&cfg);
}

static void test_devices_and_libs(void)
{
    struct hr_config cfg;
    char err[512];

    CHECK(parse(&cfg, err, "i", NULL) == 0);
    CHECK(cfg.devreq.gpu == HR_GPU_AUTO && cfg.devreq.fabric == HR_FABRIC_AUTO &&
          cfg.mpi == HR_MPI_IMAGE);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--gpu=nvidia", "--fabric=none", "--mpi=host", "--topology",
                "t.xml", "i", NULL) == 0);
    CHECK(cfg.devreq.gpu == HR_GPU_NVIDIA && cfg.devreq.fabric == HR_FABRIC_NONE &&
          cfg.mpi == HR_MPI_HOST);
    CHECK_STR(cfg.topology, "t.xml");
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--gpu=cuda", "i", NULL) < 0);
    CHECK(strstr(err, "--gpu 'cuda': expected auto, none, nvidia, amd or intel") != NULL);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--mpi=pmix", "i", NULL) < 0);
    CHECK(strstr(err, "--mpi 'pmix': expected 'image' or 'host'") != NULL);
    hr_config_free(&cfg);
    /* --devices: the image is optional */
    CHECK(parse(&cfg, err, "--devices", NULL) == 0 && cfg.action == HR_ACTION_DEVICES &&
          !cfg.image);
    hr_config_free(&cfg);
    CHECK(parse(&cfg, err, "--devices", "i", NULL) == 0 &&
          cfg.action == HR_ACTION_DEVICES);
    CHECK_STR(cfg.image, "i");
    hr_config_free(&cfg);

    memset(&cfg, 0, sizeof(cfg));
    CHECK(hr_config_apply_site(&cfg, "s",
                               "gpu = none\nfabric = none\n"
                               "ld-so-cache = /opt/ld.so.cache\n"
                               "host-mpi = /opt/mpich/lib\n"
                               "host-tool-path = /opt/bin:/usr/bin\n"
                               "host-libs-nvidia = libcuda.so.1 libx.so\n"
                               "host-tools-amd =\n"
                               "host-dirs-verbs = /etc/libibverbs.d=IBV_CONFIG_DIR\n",
                               err, sizeof(err)) == 0);
    CHECK(cfg.devreq.gpu == HR_GPU_NONE && cfg.devreq.fabric == HR_FABRIC_NONE);
    CHECK_STR(cfg.ld_so_cache, "/opt/ld.so.cache");
    CHECK_STR(cfg.host_mpi, "/opt/mpich/lib");
    CHECK_STR(cfg.host_tool_path, "/opt/bin:/usr/bin");
    CHECK_STR(cfg.sets[HR_SET_NVIDIA].libs, "libcuda.so.1 libx.so");
    CHECK_STR(cfg.sets[HR_SET_AMD].tools, "");
    CHECK(cfg.sets[HR_SET_AMD].libs == NULL); /* unset: the shipped list */
    CHECK_STR(cfg.sets[HR_SET_VERBS].dirs, "/etc/libibverbs.d=IBV_CONFIG_DIR");
    CHECK(hr_config_apply_site(&cfg, "s", "host-libs-cuda = x\n", err, sizeof(err)) < 0);
    CHECK(strstr(err, "s:1: host-libs-cuda: unknown library set 'cuda'") != NULL);
    CHECK(hr_config_apply_site(&cfg, "s", "host-mpi = mpich\n", err, sizeof(err)) < 0);
    CHECK(strstr(err, "host-mpi: 'mpich' is not an absolute path") != NULL);
    CHECK(hr_config_apply_site(&cfg, "s", "gpu = all\n", err, sizeof(err)) < 0);
    hr_config_free(&cfg);
}

/* The site file alone (the SPANK plugin's config): read where HPCRUN_CONFIG
 * says, none at all when it is absent. */
static void test_load_site(void)
{
    struct hr_config cfg;
    char err[512], path[] = "/tmp/hr-test-config-XXXXXX", env_config[64];
    char *envp[] = {env_config, "HPCRUN_BIND=/e", NULL};
    int fd = mkstemp(path);

    CHECK(fd >= 0 && write(fd, "bind = /scratch\n", 16) == 16);
    close(fd);
    snprintf(env_config, sizeof(env_config), "HPCRUN_CONFIG=%s", path);
    CHECK(hr_config_load_site(&cfg, envp, err, sizeof(err)) == 0);
    CHECK(cfg.n_binds == 1 && cfg.binds[0].from_site); /* HPCRUN_BIND is not read */
    CHECK_STR(cfg.binds[0].dst, "/scratch");
    CHECK_STR(cfg.site_file, path);
    hr_config_free(&cfg);
    unlink(path);
    /* HPCRUN_CONFIG names a file on purpose: it must be there */
    CHECK(hr_config_load_site(&cfg, envp, err, sizeof(err)) < 0);
    CHECK(strncmp(err, "HPCRUN_CONFIG: /tmp/hr-test-config-", 35) == 0);
    CHECK(strstr(err, ": No such file or directory") != NULL);
    hr_config_free(&cfg);
    /* the default path missing: no site config, the shipped defaults */
    if (access(hr_config_site_path(envp + 1), F_OK) != 0) {
        CHECK(hr_config_load_site(&cfg, envp + 1, err, sizeof(err)) == 0);
        CHECK(cfg.n_binds == 0 && !cfg.site_file);
        CHECK(cfg.stage.max_size == HR_STAGE_MAX_SIZE_DEFAULT);
        hr_config_free(&cfg);
    }
}

/* Step 1 whole: the site file, then HPCRUN_BIND, then argv, in that order. */
static void test_load(void)
{
    struct hr_config cfg;
    char err[512], path[] = "/tmp/hr-test-config-XXXXXX", env_config[64];
    char *envp[] = {env_config, "HPCRUN_BIND=/e", NULL};
    char *argv[] = {"hpcrun", "-b", "/a:/b:ro", "--gpu=none", "img", "cmd", NULL};
    int fd = mkstemp(path);

    CHECK(fd >= 0 && write(fd, "bind = /scratch\ngpu = nvidia\n", 29) == 29);
    close(fd);
    snprintf(env_config, sizeof(env_config), "HPCRUN_CONFIG=%s", path);
    CHECK(hr_config_load(&cfg, &(struct hr_cmdline){6, argv, envp}, err, sizeof(err)) ==
          0);
    CHECK(cfg.n_binds == 3 && cfg.binds[0].from_site && !cfg.binds[1].from_site);
    CHECK_STR(cfg.binds[0].dst, "/scratch");
    CHECK_STR(cfg.binds[1].dst, "/e");
    CHECK(strcmp(cfg.binds[2].dst, "/b") == 0 && cfg.binds[2].is_ro);
    CHECK(cfg.devreq.gpu == HR_GPU_NONE); /* the option wins over the site */
    CHECK_STR(cfg.image, "img");
    CHECK(cfg.n_cmd == 1 && strcmp(cfg.cmd[0], "cmd") == 0);
    hr_config_free(&cfg);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "nokey\n", 6) == 6);
    close(fd);
    CHECK(hr_config_load(&cfg, &(struct hr_cmdline){6, argv, envp}, err, sizeof(err)) <
          0);
    CHECK(strstr(err, ":1: expected 'key = value'") != NULL);
    hr_config_free(&cfg);
    unlink(path);
}

int main(void)
{
    test_actions();
    test_devices_and_libs();
    test_binds();
    test_args();
    test_run_and_entrypoint();
    test_site_and_env();
    test_site_binds();
    test_site_policy();
    test_load_site();
    test_load();
    test_linger();
    return unit_done();
}
