/* The plan: mounts, cwd, argv, identity files, from fake inputs. */
#include "autoconfig.h"

#include <stdlib.h>

#include "launch/env.h"
#include "launch/image.h"
#include "launch/join.h"
#include "launch/plan.h"
#include "unit.h"

static const char *const image_dirs[] = {"/etc", "/dev",  "/proc", "/sys",
                                         "/tmp", "/home", "/mnt",  "/bin"};
static const char *const image_files[] = {"/etc/passwd", "/etc/group", "/etc/hosts",
                                          "/etc/resolv.conf", "/bin/sh"};

static int lookup(void *ctx, const char *path, char *target, size_t len)
{
    (void)ctx;
    if (strcmp(path, "/mnt/x") == 0) {
        snprintf(target, len, "/etc");
        return HR_NODE_SYMLINK;
    }
    for (size_t i = 0; i < HR_ARRAY_LEN(image_dirs); i++)
        if (strcmp(path, image_dirs[i]) == 0)
            return HR_NODE_DIR;
    for (size_t i = 0; i < HR_ARRAY_LEN(image_files); i++)
        if (strcmp(path, image_files[i]) == 0)
            return HR_NODE_OTHER;
    return HR_NODE_MISSING;
}

static char *bind_src[] = {"/data", "/etc/hostname", NULL};
static bool bind_dir[] = {true, false};
static char *host_env[] = {"HOME=/home/u", "PATH=/usr/bin", NULL};

static struct hr_host make_host(const char *cwd)
{
    struct hr_host h = {.uid = 1000,
                        .gid = 100,
                        .user = "u",
                        .group = "users",
                        .gecos = "U",
                        .home = "/home/u",
                        .shell = "/bin/bash",
                        .cwd = (char *)cwd,
                        .is_home_dir = true,
                        .environ = host_env,
                        .bind_src = bind_src,
                        .bind_src_is_dir = bind_dir,
                        .has_hosts = true,
                        .has_resolv = true};
    return h;
}

static const struct hr_mount *find(const struct hr_plan *p, const char *dst)
{
    const struct hr_mount *found = NULL;
    for (size_t i = 0; i < p->n_mounts; i++)
        if (strcmp(p->mounts[i].dst, dst) == 0)
            found = &p->mounts[i];
    return found;
}

static void test_default_plan(void)
{
    struct hr_config cfg = {.image = "i.sqfs"};
    struct hr_host host = make_host("/home/u/work");
    struct hr_image_config icfg = {0};
    struct hr_image_view view = {.lookup = lookup,
                                 .path = "i.sqfs",
                                 .config = &icfg,
                                 .passwd =
                                     "root:x:0:0::/root:/bin/sh\nu:x:1000:1:old:/:/x\n"};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512];
    const struct hr_mount *m;

    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(plan.uid == 1000 && plan.gid == 100);
    CHECK((m = find(&plan, "/proc")) && m->kind == HR_MNT_BIND);
    CHECK((m = find(&plan, "/dev")) && m->kind == HR_MNT_TMPFS);
    CHECK((m = find(&plan, "/dev/null")) && m->is_device && !m->is_in_image);
    CHECK((m = find(&plan, "/dev/shm")) && !m->is_device);
    CHECK((m = find(&plan, "/dev/fd")) && m->kind == HR_MNT_SYMLINK);
    CHECK((m = find(&plan, "/etc/hosts")) && m->is_ro && !m->is_src_dir);
    /* home is missing in the image: an overlay makes its mount point */
    CHECK((m = find(&plan, "/home/u")) && m->is_dst_missing);
    CHECK(plan.needs_overlay && !plan.is_writable);
    /* cwd under the bound home: no extra bind */
    CHECK(find(&plan, "/home/u/work") == NULL);
    CHECK_STR(plan.cwd, "/home/u/work");
    CHECK_STR(plan.argv.v[0], "/bin/sh");
    /* the caller's entry replaces the image's entry for the same uid */
    CHECK((m = find(&plan, "/etc/passwd")) && m->kind == HR_MNT_FILE);
    CHECK(strstr(m->src, "u:x:1000:100:U:/home/u:/bin/sh\n") != NULL); /* no bash */
    CHECK(strstr(m->src, "old") == NULL);
    CHECK(strstr(m->src, "root:x:0:0") != NULL);
    CHECK((m = find(&plan, "/home/u")) && strcmp(m->src, "/home/u") == 0);
    hr_plan_free(&plan);

    /* a home behind a symlink is bound from where it really is (the
     * collection resolved it; the plan reads no file system) */
    host.home_real = "/export/home/u";
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK((m = find(&plan, "/home/u")) && strcmp(m->src, "/export/home/u") == 0 &&
          m->is_src_dir && m->is_dst_missing);
    hr_plan_free(&plan);
}

static void test_binds_cwd_and_cmd(void)
{
    struct hr_bind binds[] = {
        {.src = "/data", .dst = "/mnt/x/data"},
        {.src = "/etc/hostname", .dst = "/etc/hostname", .is_ro = true}};
    char *cmd[] = {"app", "-x", NULL};
    struct hr_config cfg = {.image = "i",
                            .binds = binds,
                            .n_binds = 2,
                            .is_no_home = true,
                            .cmd = cmd,
                            .n_cmd = 2};
    struct hr_host host = make_host("/scratch/run");
    struct hr_image_config icfg = {.workdir = "/app"};
    struct hr_image_view view = {.lookup = lookup, .path = "i", .config = &icfg};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512];
    const struct hr_mount *m;

    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(find(&plan, "/home/u") == NULL); /* --no-home */
    CHECK((m = find(&plan, "/mnt/x/data")) && m->is_dst_missing && m->is_in_image);
    CHECK((m = find(&plan, "/etc/hostname")) && m->is_ro && !m->is_src_dir);
    /* with a command, the caller's cwd wins over WorkingDir, and is bound */
    CHECK_STR(plan.cwd, "/scratch/run");
    CHECK((m = find(&plan, "/scratch/run")) && m->kind == HR_MNT_BIND);
    CHECK_STR(plan.argv.v[0], "app");
    CHECK(plan.argv.n == 2);
    hr_plan_free(&plan);

    /* a system directory as cwd is never bound over the image */
    host = make_host("/usr/share");
    cfg.n_binds = 0;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(find(&plan, "/usr/share") == NULL);
    CHECK(plan.is_cwd_fallback_ok);
    hr_plan_free(&plan);
}

/* srun --mpi=pmix: the server's directory in slurmd's spool is bound once;
 * its data-store subdirectory and /tmp are already visible. */
static void test_pmix_dirs(void)
{
    char *pmix[] = {"/var/spool/slurmd/pmix.5.0", "/tmp",
                    "/var/spool/slurmd/pmix.5.0/pmix_dstor_ds21_7", "/", NULL};
    struct hr_config cfg = {.image = "i"};
    struct hr_host host = make_host("/home/u");
    struct hr_image_view view = {.lookup = lookup, .path = "i"};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512];
    const struct hr_mount *m;
    size_t n_pmix = 0;

    host.pmix_dirs = pmix;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK((m = find(&plan, "/var/spool/slurmd/pmix.5.0")) && m->kind == HR_MNT_BIND &&
          m->is_src_dir && !m->is_ro && m->is_dst_missing);
    CHECK_STR(m->src, "/var/spool/slurmd/pmix.5.0");
    CHECK_STR(m->why, "pmix");
    CHECK((m = find(&plan, "/tmp")) && strcmp(m->why, "tmp") == 0);
    for (size_t i = 0; i < plan.n_mounts; i++)
        n_pmix += strcmp(plan.mounts[i].why, "pmix") == 0;
    CHECK(n_pmix == 1);
    hr_plan_free(&plan);

    /* no PMIx in the environment: nothing extra */
    host.pmix_dirs = NULL;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(find(&plan, "/var/spool/slurmd/pmix.5.0") == NULL);
    hr_plan_free(&plan);
}

static void test_entrypoint_and_errors(void)
{
    struct hr_config cfg = {.image = "i", .is_fakeroot = true, .is_writable_tmpfs = true};
    struct hr_host host = make_host(NULL);
    struct hr_image_config icfg = {0};
    struct hr_image_view view = {.lookup = lookup,
                                 .path = "i",
                                 .config = &icfg,
                                 .passwd = "root:x:0:0::/root:/bin/sh\n"};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512];
    struct hr_bind bad[] = {{.src = "/data", .dst = "/etc/passwd"}};

    hr_strv_push(&icfg.entrypoint, "/entry");
    hr_strv_push(&icfg.cmd, "arg");
    icfg.workdir = strdup("/work");
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(plan.uid == 0 && plan.gid == 0 && plan.is_writable && plan.needs_overlay);
    CHECK_STR(plan.argv.v[0], "/entry");
    CHECK_STR(plan.argv.v[1], "arg");
    CHECK_STR(plan.cwd, "/work");              /* no command: the image's WorkingDir */
    CHECK(find(&plan, "/etc/passwd") == NULL); /* the image has root already */
    CHECK(find(&plan, "/etc/group") != NULL);  /* ...but no group file */
    hr_plan_free(&plan);

    /* a directory onto a file in the image is refused clearly */
    cfg.binds = bad;
    cfg.n_binds = 1;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) < 0);
    CHECK(strstr(err, "/etc/passwd: not a directory") != NULL);
    hr_plan_free(&plan);
    hr_image_config_free(&icfg);
}

/* hr_plan_argv, every row of the rules in plan.h. Words are joined with
 * spaces; the image has Entrypoint ["/ep","-x"] and Cmd ["dflt"] unless the
 * row says it has none. */
enum { IMG_FULL, IMG_NO_EP, IMG_NO_CMD, IMG_EMPTY, IMG_NONE };

struct argv_row {
    int image;
    const char *entrypoint; /* --entrypoint; NULL: not given */
    bool is_run;
    const char *cmd;  /* the words after IMAGE, space-separated; NULL: none */
    const char *want; /* the argv, or NULL: an error */
};

static const struct argv_row argv_rows[] = {
    /* hpcrun IMAGE: Entrypoint + Cmd, either alone, or /bin/sh */
    {IMG_FULL, NULL, false, NULL, "/ep -x dflt"},
    {IMG_NO_EP, NULL, false, NULL, "dflt"},
    {IMG_NO_CMD, NULL, false, NULL, "/ep -x"},
    {IMG_EMPTY, NULL, false, NULL, "/bin/sh"},
    {IMG_NONE, NULL, false, NULL, "/bin/sh"},
    /* hpcrun IMAGE CMD ARG...: the command alone, whatever the image says */
    {IMG_FULL, NULL, false, "echo x", "echo x"},
    {IMG_NONE, NULL, false, "echo x", "echo x"},
    /* hpcrun run IMAGE ARG...: ARGs replace Cmd */
    {IMG_FULL, NULL, true, "a b", "/ep -x a b"},
    {IMG_NO_CMD, NULL, true, "a b", "/ep -x a b"},
    {IMG_NO_EP, NULL, true, "a b", "a b"},
    {IMG_NONE, NULL, true, "a b", "a b"},
    /* hpcrun run IMAGE: as hpcrun IMAGE */
    {IMG_FULL, NULL, true, NULL, "/ep -x dflt"},
    {IMG_NO_EP, NULL, true, NULL, "dflt"},
    {IMG_EMPTY, NULL, true, NULL, "/bin/sh"},
    /* --entrypoint=PROG: PROG replaces Entrypoint, and Cmd goes with it */
    {IMG_FULL, "/bin/echo", true, "z", "/bin/echo z"},
    {IMG_NONE, "/bin/echo", true, "z", "/bin/echo z"},
    {IMG_FULL, "/bin/echo", true, NULL, "/bin/echo"},
    {IMG_FULL, "/bin/echo", false, NULL, "/bin/echo"},
    {IMG_FULL, "/my prog", false, NULL, "/my prog"}, /* one word, never split */
    /* --entrypoint= (empty): no Entrypoint and no Cmd */
    {IMG_FULL, "", true, "a b", "a b"},
    {IMG_FULL, "", true, NULL, "/bin/sh"},
    {IMG_FULL, "", false, NULL, "/bin/sh"},
    /* --entrypoint with a command that replaces the entrypoint: an error */
    {IMG_FULL, "/bin/echo", false, "z", NULL},
    {IMG_FULL, "", false, "z", NULL},
};

static char *argv_joined(const struct hr_strv *v)
{
    char *s = hr_xstrdup("");
    for (size_t i = 0; i < v->n; i++) {
        char *t = hr_xasprintf("%s%s%s", s, i ? " " : "", v->v[i]);
        free(s);
        s = t;
    }
    return s;
}

static void check_argv_row(size_t row, const struct argv_row *r)
{
    struct hr_image_config icfg = {0};
    struct hr_strv words = {0}, out = {0};
    char *copy = r->cmd ? hr_xstrdup(r->cmd) : NULL, *save = NULL, *got, err[512];
    struct hr_argv_input in = {.image = r->image == IMG_NONE ? NULL : &icfg,
                               .entrypoint = r->entrypoint,
                               .is_run = r->is_run};
    int rc;

    if (r->image == IMG_FULL || r->image == IMG_NO_CMD) {
        hr_strv_push(&icfg.entrypoint, "/ep");
        hr_strv_push(&icfg.entrypoint, "-x");
    }
    if (r->image == IMG_FULL || r->image == IMG_NO_EP)
        hr_strv_push(&icfg.cmd, "dflt");
    for (char *w = copy ? strtok_r(copy, " ", &save) : NULL; w;
         w = strtok_r(NULL, " ", &save))
        hr_strv_push(&words, w);
    in.cmd = words.v;
    in.n_cmd = (int)words.n;
    rc = hr_plan_argv(&in, &out, err, sizeof(err));
    got = argv_joined(&out);
    if (r->want) {
        CHECK(rc == 0);
        if (strcmp(got, r->want) != 0)
            printf("argv row %zu: got \"%s\"\n", row, got);
        CHECK_STR(got, r->want);
    } else {
        CHECK(rc < 0 && out.n == 0);
        CHECK(strstr(err, "--entrypoint: not with a command") != NULL);
        CHECK(strstr(err, "hpcrun run --entrypoint=PROG IMAGE ARG...") != NULL);
    }
    free(got);
    free(copy);
    hr_strv_free(&words);
    hr_strv_free(&out);
    hr_image_config_free(&icfg);
}

static void test_argv_rules(void)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(argv_rows); i++)
        check_argv_row(i, &argv_rows[i]);
}

/* hpcrun run: the plan runs the entrypoint with the ARGs, in the image's
 * WorkingDir (the image's program runs, as without a command); the error
 * of --entrypoint with a command fails the plan. */
static void test_run_plan(void)
{
    char *args[] = {"a", "b", NULL};
    struct hr_config cfg = {.image = "i", .is_run = true, .cmd = args, .n_cmd = 2};
    struct hr_host host = make_host("/scratch/run");
    struct hr_image_config icfg = {0};
    struct hr_image_view view = {.lookup = lookup, .path = "i", .config = &icfg};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512];

    hr_strv_push(&icfg.entrypoint, "/bin/echo");
    hr_strv_push(&icfg.cmd, "default");
    icfg.workdir = strdup("/opt");
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(plan.argv.n == 3);
    CHECK_STR(plan.argv.v[0], "/bin/echo");
    CHECK_STR(plan.argv.v[2], "b");
    CHECK_STR(plan.cwd, "/opt");
    CHECK(find(&plan, "/scratch/run") == NULL); /* the caller's cwd is not bound */
    hr_plan_free(&plan);

    cfg.is_run = false;
    cfg.entrypoint = "/bin/echo";
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) < 0);
    CHECK(strstr(err, "--entrypoint") != NULL);
    hr_plan_free(&plan);
    hr_image_config_free(&icfg);
}

static void test_passwd_merge(void)
{
    char *t = hr_passwd_merge(NULL, "u:x:5:5:::/bin/sh");
    CHECK_STR(t, "u:x:5:5:::/bin/sh\n");
    free(t);
    t = hr_passwd_merge("a:x:1:1::/:/s\nu:x:9:9::/:/s\nb:x:5:5::/:/s",
                        "u:x:5:5:::/bin/sh");
    CHECK_STR(t, "a:x:1:1::/:/s\nu:x:5:5:::/bin/sh\n");
    free(t);
}

static void test_image_config(void)
{
    struct hr_image_config c;
    char err[256];

    CHECK(hr_image_config_parse("{\"config\":{\"Env\":[\"A=1\"],\"Cmd\":[\"x\"],"
                                "\"WorkingDir\":\"/w\",\"User\":\"1\"}}",
                                &c, err, sizeof(err)) == 0);
    CHECK(c.env.n == 1 && c.cmd.n == 1);
    CHECK_STR(c.workdir, "/w");
    hr_image_config_free(&c);
    CHECK(hr_image_config_parse("{\"Entrypoint\":[\"/e\"]}", &c, err, sizeof(err)) == 0);
    CHECK(c.entrypoint.n == 1);
    hr_image_config_free(&c);
    CHECK(hr_image_config_parse("{\"Env\":\"A=1\"}", &c, err, sizeof(err)) < 0);
    CHECK(strstr(err, "Env") != NULL);
    CHECK(hr_image_config_parse("{\"Env\":[\"novalue\"]}", &c, err, sizeof(err)) < 0);
    CHECK(hr_image_config_parse("{\"WorkingDir\":\"rel\"}", &c, err, sizeof(err)) < 0);
    CHECK(hr_image_config_parse("{bad", &c, err, sizeof(err)) < 0);
    CHECK(strstr(err, "invalid JSON") != NULL);
}

static void test_join(void)
{
    struct stat file = {.st_dev = 8, .st_ino = 9};
    char *slurm_env[] = {"HOME=/home/u", "SLURM_JOB_ID=12", "SLURM_STEP_ID=0",
                         "SLURMD_NODENAME=n1", NULL};
    struct hr_config cfg = {.image = "i"};
    struct hr_host host = make_host("/home/u");
    struct hr_image_config icfg = {0};
    struct hr_image_view view = {
        .lookup = lookup, .path = "i", .file = &file, .config = &icfg};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512], a[HR_JOIN_NAME_MAX], b[HR_JOIN_NAME_MAX];
    const uint8_t secret[HR_JOIN_SECRET_LEN] = {7};

    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(plan.join_key == NULL); /* not under Slurm: no sharing */
    hr_plan_free(&plan);
    host.environ = slurm_env;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(plan.join_key && strncmp(plan.join_key, "slurm:12.0@n1|8:9|0|", 20) == 0);
    hr_plan_free(&plan);
    cfg.join = HR_JOIN_OFF;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(plan.join_key == NULL);
    hr_plan_free(&plan);
    cfg.join = HR_JOIN_ON;
    cfg.join_key = "k";
    cfg.is_fakeroot = true;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(plan.join_key && strstr(plan.join_key, "key:k|8:9|") &&
          strstr(plan.join_key, "fakeroot=1"));
    hr_plan_free(&plan);
    host.environ = host_env;
    cfg.join_key = NULL;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) < 0);
    CHECK(strstr(err, "--join=KEY") != NULL);
    hr_plan_free(&plan);

    /* ranks that planned different devices never share a container */
    {
        struct hr_inject in = {0};
        char *first;
        host.environ = slurm_env;
        cfg.join = HR_JOIN_AUTO;
        cfg.is_fakeroot = false;
        CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
        first = hr_xstrdup(plan.join_key);
        hr_plan_free(&plan);
        hr_strv_push(&in.dev.nodes, "/dev/nvidia1");
        pin.inject = &in;
        CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
        CHECK(plan.join_key && strcmp(plan.join_key, first) != 0);
        CHECK(strncmp(plan.join_key, "slurm:12.0@n1|8:9|", 18) == 0);
        hr_plan_free(&plan);
        pin.inject = NULL;
        host.environ = host_env;
        hr_strv_free(&in.dev.nodes);
        free(first);
    }

    /* names: per user, stable, different keys differ (test-join.c: the
     * secret's part) */
    hr_join_name("key:k", 1000, secret, a, sizeof(a));
    hr_join_name("key:k", 1000, secret, b, sizeof(b));
    CHECK_STR(a, b);
    CHECK(strncmp(a, "hpcrun/1000/", 12) == 0);
    hr_join_name("key:k", 1001, secret, b, sizeof(b));
    CHECK(strcmp(a, b) != 0);
    hr_join_name("key:l", 1000, secret, b, sizeof(b));
    CHECK(strcmp(a, b) != 0);
}

/* Plans a default launch in environment env, with parent (pid, start),
 * --join mode m and key, and returns its join key's scope (up to the first '|'), or NULL.
 */
static char *join_scope(char **env, pid_t ppid, unsigned long long start,
                        enum hr_join_mode m, const char *key)
{
    struct stat file = {.st_dev = 8, .st_ino = 9};
    struct hr_config cfg = {.image = "i", .join = m, .join_key = (char *)key};
    struct hr_host host = make_host("/home/u");
    struct hr_image_config icfg = {0};
    struct hr_image_view view = {
        .lookup = lookup, .path = "i", .file = &file, .config = &icfg};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512], *scope = NULL;

    host.environ = env;
    host.parent_pid = ppid;
    host.parent_start = start;
    if (hr_plan_build(&pin, &plan, err, sizeof(err)) == 0 && plan.join_key)
        scope = hr_xstrndup(plan.join_key, strcspn(plan.join_key, "|"));
    hr_plan_free(&plan);
    return scope;
}

#define CHECK_SCOPE(got, want)                                                           \
    do {                                                                                 \
        char *s_ = (got);                                                                \
        const char *w_ = (want);                                                         \
        CHECK(w_ ? s_ &&strcmp(s_, w_) == 0 : s_ == NULL);                               \
        free(s_);                                                                        \
    } while (0)

/* Outside Slurm, the ranks of one mpirun job on one node share a container:
 * keyed by the PMIx namespace and server (Open MPI), or by the parent
 * process, the job's PMI proxy, with its start time (MPICH's Hydra). */
static void test_join_mpirun(void)
{
    char *ompi[] = {"PMIX_NAMESPACE=1755054081", "PMIX_RANK=1",
                    "PMIX_SERVER_URI2=1755054080.0;tcp4://127.0.0.1:50657",
                    "PMIX_SERVER_URI41=1755054080.0;tcp4://127.0.0.1:50658", NULL};
    char *ompi_no_uri[] = {"PMIX_NAMESPACE=1755054081", "PMIX_RANK=1", NULL};
    char *hydra[] = {"PMI_RANK=1", "PMI_SIZE=2", "PMI_FD=8", NULL};
    char *hydra_port[] = {"PMI_RANK=0", "PMI_PORT=vm:4000", "PMI_ID=0", NULL};
    char *both[] = {"SLURM_JOB_ID=12",
                    "SLURM_STEP_ID=3",
                    "SLURMD_NODENAME=n1",
                    "PMIX_NAMESPACE=slurm.pmix.12.3",
                    "PMIX_RANK=0",
                    "PMIX_SERVER_URI41=pmix-server.77;/tmp/s",
                    "PMI_RANK=0",
                    "PMI_FD=3",
                    NULL};

    CHECK_SCOPE(join_scope(ompi, 50, 60, HR_JOIN_AUTO, NULL),
                "pmix:1755054081@1755054080.0;tcp4://127.0.0.1:50658");
    /* the parent plays no part under PMIx: a wrapper script may start hpcrun */
    CHECK_SCOPE(join_scope(ompi, 51, 61, HR_JOIN_AUTO, NULL),
                "pmix:1755054081@1755054080.0;tcp4://127.0.0.1:50658");
    /* a namespace alone may repeat between jobs: no key, no sharing */
    CHECK_SCOPE(join_scope(ompi_no_uri, 50, 60, HR_JOIN_AUTO, NULL), NULL);
    CHECK_SCOPE(join_scope(hydra, 4321, 98765, HR_JOIN_AUTO, NULL), "pmi:4321.98765");
    CHECK_SCOPE(join_scope(hydra_port, 4321, 98765, HR_JOIN_AUTO, NULL),
                "pmi:4321.98765");
    /* the same PID started later (recycled) is another job */
    CHECK_SCOPE(join_scope(hydra, 4321, 98766, HR_JOIN_AUTO, NULL), "pmi:4321.98766");
    /* an unknown parent: no key, no sharing */
    CHECK_SCOPE(join_scope(hydra, 0, 0, HR_JOIN_AUTO, NULL), NULL);
    CHECK_SCOPE(join_scope(hydra, 4321, 0, HR_JOIN_AUTO, NULL), NULL);
    /* PMI_RANK alone is no PMI job */
    CHECK_SCOPE(
        join_scope((char *[]){"PMI_RANK=0", NULL}, 4321, 98765, HR_JOIN_AUTO, NULL),
        NULL);
    /* Slurm's key keeps priority; --no-join and --join=KEY still win */
    CHECK_SCOPE(join_scope(both, 4321, 98765, HR_JOIN_AUTO, NULL),
                "slurm:12.3@n1+pmix:slurm.pmix.12.3@pmix-server.77;/tmp/s");
    /* ...with the PMIx job of an mpirun started inside the step, so that two
     * of them are two containers; not Hydra's parent (a wrapper script) */
    CHECK_SCOPE(join_scope((char *[]){"SLURM_JOB_ID=12", "SLURM_STEP_ID=3",
                                      "SLURMD_NODENAME=n1", "PMIX_NAMESPACE=99",
                                      "PMIX_SERVER_URI41=99.0;tcp4://127.0.0.1:1", NULL},
                           1, 2, HR_JOIN_AUTO, NULL),
                "slurm:12.3@n1+pmix:99@99.0;tcp4://127.0.0.1:1");
    CHECK_SCOPE(
        join_scope((char *[]){"SLURM_JOB_ID=12", "SLURM_STEP_ID=3", "SLURMD_NODENAME=n1",
                              "PMI_RANK=0", "PMI_FD=3", NULL},
                   4321, 98765, HR_JOIN_AUTO, NULL),
        "slurm:12.3@n1");
    CHECK_SCOPE(join_scope(ompi, 50, 60, HR_JOIN_OFF, NULL), NULL);
    CHECK_SCOPE(join_scope(hydra, 4321, 98765, HR_JOIN_OFF, NULL), NULL);
    CHECK_SCOPE(join_scope(hydra, 4321, 98765, HR_JOIN_ON, NULL), "pmi:4321.98765");
    CHECK_SCOPE(join_scope(host_env, 4321, 98765, HR_JOIN_ON, NULL), NULL);
    CHECK_SCOPE(join_scope(hydra, 4321, 98765, HR_JOIN_ON, "k"), "key:k");
    CHECK_SCOPE(join_scope(ompi, 50, 60, HR_JOIN_ON, "k"), "key:k");
}

/* Devices and host libraries become binds in a tmpfs of ours, and variables. */
static void test_inject(void)
{
    char *env_in[] = {"HOME=/home/u", "PATH=/usr/bin", "CUDA_VISIBLE_DEVICES=1,3", NULL};
    char *set[] = {"FI_PROVIDER_PATH=/mine", NULL};
    struct hr_hostlib libs[] = {
        {.src = "/usr/lib/x86_64-linux-gnu/libcuda.so.550", .name = "libcuda.so.1"}};
    struct hr_inject in = {.libs = {.libs = libs, .n = 1}};
    struct hr_config cfg = {.image = "i", .env_set = {.v = set, .n = 1}};
    struct hr_host host = make_host("/home/u");
    struct hr_image_config icfg = {
        .env = {.v = (char *[]){"LD_LIBRARY_PATH=/opt/lib", NULL}, .n = 1}};
    struct hr_image_view view = {.lookup = lookup, .path = "i", .config = &icfg};
    struct hr_plan plan;
    struct hr_plan_input pin = {.cfg = &cfg, .host = &host, .image = &view};
    char err[512];
    const struct hr_mount *m;

    hr_strv_push(&in.dev.nodes, "/dev/nvidia1");
    hr_strv_push(&in.dev.nodes, "/dev/dri/renderD129");
    hr_strv_push(&in.dev.env, "CUDA_VISIBLE_DEVICES=0,1");
    hr_strv_push(&in.libs.tools, "/usr/bin/nvidia-smi");
    hr_strv_push(&in.libs.dirs, "/etc/libibverbs.d");
    hr_strv_push(&in.libs.env, "IBV_CONFIG_DIR=/.hpcrun/host/etc/libibverbs.d");
    hr_strv_push(&in.libs.env, "FI_PROVIDER_PATH=/.hpcrun/host/lib/libfabric");
    host.environ = env_in;
    pin.inject = &in;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK((m = find(&plan, "/dev/nvidia1")) && m->kind == HR_MNT_BIND && m->is_device &&
          !m->is_src_dir && !m->is_in_image);
    CHECK((m = find(&plan, "/dev/dri/renderD129")) && m->is_device && !m->is_in_image);
    CHECK((m = find(&plan, "/.hpcrun/host")) && m->kind == HR_MNT_TMPFS &&
          m->is_dst_missing);
    CHECK(plan.needs_overlay);
    CHECK((m = find(&plan, "/.hpcrun/host/lib/libcuda.so.1")) && m->is_ro &&
          !m->is_device && !m->is_in_image && strcmp(m->src, libs[0].src) == 0);
    CHECK((m = find(&plan, "/.hpcrun/host/bin/nvidia-smi")) && m->is_ro);
    CHECK((m = find(&plan, "/.hpcrun/host/etc/libibverbs.d")) && m->is_ro &&
          m->is_src_dir);
    CHECK_STR(hr_env_get(plan.env.v, "CUDA_VISIBLE_DEVICES"), "0,1");
    CHECK_STR(hr_env_get(plan.env.v, "LD_LIBRARY_PATH"), "/.hpcrun/host/lib:/opt/lib");
    CHECK(strstr(hr_env_get(plan.env.v, "PATH"), ":/.hpcrun/host/bin") != NULL);
    CHECK_STR(hr_env_get(plan.env.v, "IBV_CONFIG_DIR"), "/.hpcrun/host/etc/libibverbs.d");
    CHECK_STR(hr_env_get(plan.env.v, "FI_PROVIDER_PATH"), "/mine"); /* --env wins */
    hr_plan_free(&plan);

    /* --dev=host: the whole /dev is there already, no node is bound again */
    cfg.dev = HR_DEV_HOST;
    CHECK(hr_plan_build(&pin, &plan, err, sizeof(err)) == 0);
    CHECK(find(&plan, "/dev/nvidia1") == NULL);
    hr_plan_free(&plan);
    hr_strv_free(&in.dev.nodes);
    hr_strv_free(&in.dev.env);
    hr_strv_free(&in.libs.tools);
    hr_strv_free(&in.libs.dirs);
    hr_strv_free(&in.libs.env);
}

int main(void)
{
    test_inject();
    test_join();
    test_join_mpirun();
    test_default_plan();
    test_binds_cwd_and_cmd();
    test_pmix_dirs();
    test_entrypoint_and_errors();
    test_argv_rules();
    test_run_plan();
    test_passwd_merge();
    test_image_config();
    return unit_done();
}
