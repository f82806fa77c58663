/* Step 3, plan: the mounts, variables, argv and identity of one launch,
 * as data (plan.h). Pure: no system call; what it needs of the host comes in
 * hr_plan_input (hostfacts.c and inject.c read it). Errors: -1 with one line
 * in err, which the caller logs. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "launch/plan.h"
#include "common/log.h"
#include "launch/env.h"

static struct hr_mount *plan_add(struct hr_plan *plan, enum hr_mount_kind kind,
                                 const char *src, const char *dst, const char *why)
{
    struct hr_mount *m;

    plan->mounts = hr_xrealloc(plan->mounts, (plan->n_mounts + 1) * sizeof(*m));
    m = &plan->mounts[plan->n_mounts++];
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->src = src ? hr_xstrdup(src) : NULL;
    m->dst = hr_path_normalize(dst);
    m->why = why;
    m->is_src_dir = true;
    return m;
}

static struct hr_mount *plan_bind(struct hr_plan *plan, const char *src, const char *dst,
                                  bool is_dir, const char *why)
{
    struct hr_mount *m = plan_add(plan, HR_MNT_BIND, src, dst, why);
    m->is_src_dir = is_dir;
    return m;
}

static void plan_dev_minimal(struct hr_plan *plan)
{
    static const char *const nodes[] = {"null",    "zero", "full", "random",
                                        "urandom", "tty",  "ptmx"};
    static const char *const links[][2] = {
        {"/dev/fd", "/proc/self/fd"},
        {"/dev/stdin", "/proc/self/fd/0"},
        {"/dev/stdout", "/proc/self/fd/1"},
        {"/dev/stderr", "/proc/self/fd/2"},
    };

    plan_add(plan, HR_MNT_TMPFS, NULL, "/dev", "dev");
    for (size_t i = 0; i < HR_ARRAY_LEN(nodes); i++) {
        char *p = hr_xasprintf("/dev/%s", nodes[i]);
        plan_bind(plan, p, p, false, "dev")->is_device = true;
        free(p);
    }
    /* the host's devpts, so a job's terminal (and ptys it opens) work inside */
    plan_bind(plan, "/dev/pts", "/dev/pts", true, "dev")->is_device = true;
    plan_bind(plan, "/dev/shm", "/dev/shm", true, "dev");
    for (size_t i = 0; i < HR_ARRAY_LEN(links); i++)
        plan_add(plan, HR_MNT_SYMLINK, links[i][1], links[i][0], "dev");
}

char *hr_passwd_merge(const char *image_text, const char *line)
{
    /* Our line's name and id: fields 1 and 3. */
    char name[256] = "", id[32] = "";
    size_t cap = (image_text ? strlen(image_text) : 0) + strlen(line) + 2;
    char *out = hr_xmalloc(cap + 1), *o = out;

    sscanf(line, "%255[^:]:%*[^:]:%31[^:]", name, id);
    if (image_text) {
        const char *p = image_text;
        while (*p) {
            const char *e = strchrnul(p, '\n');
            char lname[256] = "", lid[32] = "";
            size_t n = (size_t)(e - p);
            char *copy = hr_xstrndup(p, n);
            bool is_ours;

            sscanf(copy, "%255[^:]:%*[^:]:%31[^:]", lname, lid);
            is_ours = strcmp(lname, name) == 0 || (lid[0] && strcmp(lid, id) == 0);
            free(copy);
            if (!is_ours && n > 0) {
                memcpy(o, p, n);
                o += n;
                *o++ = '\n';
            }
            p = *e ? e + 1 : e;
        }
    }
    o += sprintf(o, "%s\n", line);
    *o = '\0';
    return out;
}

static bool text_has_id(const char *text, unsigned id)
{
    char want[32];
    snprintf(want, sizeof(want), "%u", id);
    for (const char *p = text; p && *p;) {
        const char *e = strchrnul(p, '\n');
        char lid[32] = "";
        char *copy = hr_xstrndup(p, (size_t)(e - p));
        sscanf(copy, "%*[^:]:%*[^:]:%31[^:]", lid);
        free(copy);
        if (strcmp(lid, want) == 0)
            return true;
        p = *e ? e + 1 : e;
    }
    return false;
}

/* path resolved in the image if it is a file there (not a directory), else NULL */
static char *image_file(const struct hr_image_view *img, const char *path)
{
    struct hr_resolved r;

    if (hr_resolve_in_root(path, img->lookup, img->ctx, &r) == 0 && r.n_missing == 0 &&
        r.last == HR_NODE_OTHER)
        return r.path;
    free(r.path);
    return NULL;
}

static void plan_identity(struct hr_plan *plan, const struct hr_host *host,
                          const struct hr_image_view *img)
{
    char *pw_line, *gr_line, *content;
    const char *shell = host->shell;
    char *shell_in_image;

    if (plan->is_fakeroot) {
        /* The image's own root entries are right for uid 0; add them if absent. */
        if (!img->passwd || !text_has_id(img->passwd, 0)) {
            content = hr_passwd_merge(img->passwd, "root:x:0:0:root:/root:/bin/sh");
            plan_add(plan, HR_MNT_FILE, content, "/etc/passwd", "identity")->is_src_dir =
                false;
            free(content);
        }
        if (!img->group || !text_has_id(img->group, 0)) {
            content = hr_passwd_merge(img->group, "root:x:0:");
            plan_add(plan, HR_MNT_FILE, content, "/etc/group", "identity")->is_src_dir =
                false;
            free(content);
        }
        return;
    }
    /* A login shell the image lacks would break tools that exec $SHELL. */
    shell_in_image = image_file(img, shell);
    if (!shell_in_image)
        shell = "/bin/sh";
    free(shell_in_image);
    pw_line = hr_xasprintf("%s:x:%u:%u:%s:%s:%s", host->user, (unsigned)host->uid,
                           (unsigned)host->gid, host->gecos, host->home, shell);
    gr_line = hr_xasprintf("%s:x:%u:", host->group, (unsigned)host->gid);
    content = hr_passwd_merge(img->passwd, pw_line);
    plan_add(plan, HR_MNT_FILE, content, "/etc/passwd", "identity")->is_src_dir = false;
    free(content);
    content = hr_passwd_merge(img->group, gr_line);
    plan_add(plan, HR_MNT_FILE, content, "/etc/group", "identity")->is_src_dir = false;
    free(content);
    free(pw_line);
    free(gr_line);
}

static bool cwd_is_system_dir(const char *cwd)
{
    static const char *const sys[] = {"/bin",   "/boot",  "/dev",    "/etc",  "/lib",
                                      "/lib32", "/lib64", "/libx32", "/proc", "/run",
                                      "/sbin",  "/sys",   "/usr",    "/var"};
    if (strcmp(cwd, "/") == 0)
        return true;
    for (size_t i = 0; i < HR_ARRAY_LEN(sys); i++)
        if (hr_path_is_under(cwd, sys[i]))
            return true;
    return false;
}

/* Is path already visible at the same path through a bind of the same host path? */
static bool path_is_covered(const struct hr_plan *plan, const char *path)
{
    for (size_t i = 0; i < plan->n_mounts; i++) {
        const struct hr_mount *m = &plan->mounts[i];
        if (m->kind == HR_MNT_BIND && m->is_src_dir && strcmp(m->src, m->dst) == 0 &&
            hr_path_is_under(path, m->dst))
            return true;
    }
    return false;
}

/* Host variables set by the injection (renumbered visible-device lists,
 * provider paths), unless --env names them: the user's word wins. */
static void plan_inject_env(struct hr_plan *plan, const struct hr_config *cfg,
                            const struct hr_strv *env)
{
    for (size_t i = 0; i < env->n; i++) {
        const char *eq = strchr(env->v[i], '=');
        hr_autofree char *name =
            eq ? hr_xstrndup(env->v[i], (size_t)(eq - env->v[i])) : NULL;
        if (name && !hr_env_get(cfg->env_set.v, name))
            hr_env_set(&plan->env, env->v[i]);
    }
}

/* The job's device nodes, and the host's libraries, tools and directories
 * in a tmpfs of ours at HR_HOSTDIR (the image is not touched); the library
 * directory goes first on LD_LIBRARY_PATH, tools last on PATH. */
static void plan_inject_mounts(struct hr_plan *plan, const struct hr_config *cfg,
                               const struct hr_inject *in)
{
    const struct hr_libset *libs = &in->libs;

    if (cfg->dev != HR_DEV_HOST)
        for (size_t i = 0; i < in->dev.nodes.n; i++)
            plan_bind(plan, in->dev.nodes.v[i], in->dev.nodes.v[i], false, "device")
                ->is_device = true;
    for (size_t i = 0; i < in->over_src.n; i++)
        plan_bind(plan, in->over_src.v[i], in->over_dst.v[i], false, "host MPI")->is_ro =
            true;
    if (!libs->n && !libs->tools.n && !libs->dirs.n)
        return;
    plan_add(plan, HR_MNT_TMPFS, NULL, HR_HOSTDIR, "host");
    for (size_t i = 0; i < libs->n; i++) {
        hr_autofree char *dst = hr_path_join(HR_HOSTLIB_DIR, libs->libs[i].name);
        plan_bind(plan, libs->libs[i].src, dst, false, "host library")->is_ro = true;
    }
    for (size_t i = 0; i < libs->tools.n; i++) {
        const char *base = strrchr(libs->tools.v[i], '/');
        hr_autofree char *dst =
            hr_path_join(HR_HOSTBIN_DIR, base ? base + 1 : libs->tools.v[i]);
        plan_bind(plan, libs->tools.v[i], dst, false, "host tool")->is_ro = true;
    }
    for (size_t i = 0; i < libs->dirs.n; i++) {
        const char *base = strrchr(libs->dirs.v[i], '/');
        hr_autofree char *dst =
            hr_path_join(HR_HOSTETC_DIR, base ? base + 1 : libs->dirs.v[i]);
        plan_bind(plan, libs->dirs.v[i], dst, true, "host files")->is_ro = true;
    }
}

static void plan_inject(struct hr_plan *plan, const struct hr_config *cfg,
                        const struct hr_inject *in)
{
    if (!in)
        return;
    plan_inject_env(plan, cfg, &in->dev.env);
    plan_inject_env(plan, cfg, &in->libs.env);
    if (in->libs.n)
        hr_env_add_path(&plan->env, "LD_LIBRARY_PATH", HR_HOSTLIB_DIR, true);
    if (in->libs.tools.n)
        hr_env_add_path(&plan->env, "PATH", HR_HOSTBIN_DIR, false);
}

/* The PMIx directories (see pmix_env_dirs in hostfacts.c), each bound at its own path
 * unless an earlier bind (/tmp, home, a --bind) already shows it. */
static void plan_pmix(struct hr_plan *plan, const struct hr_host *host)
{
    for (size_t i = 0; host->pmix_dirs && host->pmix_dirs[i]; i++) {
        const char *dir = host->pmix_dirs[i];
        if (strcmp(dir, "/") != 0 && !path_is_covered(plan, dir))
            plan_bind(plan, dir, dir, true, "pmix");
    }
}

/* The image's WorkingDir when the image's program runs (no CMD, or hpcrun
 * run), as under Docker; a command of the caller's starts where the caller
 * is, as under Apptainer's exec. */
static void plan_cwd(struct hr_plan *plan, const struct hr_config *cfg,
                     const struct hr_host *host, const struct hr_image_view *img)
{
    if (cfg->workdir) {
        plan->cwd = hr_xstrdup(cfg->workdir);
    } else if ((cfg->n_cmd == 0 || cfg->is_run) && img->config && img->config->workdir) {
        plan->cwd = hr_path_normalize(img->config->workdir);
    } else if (host->cwd) {
        plan->cwd = hr_xstrdup(host->cwd);
        plan->is_cwd_fallback_ok = true;
        if (!cwd_is_system_dir(host->cwd) && !path_is_covered(plan, host->cwd))
            plan_bind(plan, host->cwd, host->cwd, true, "cwd");
    } else {
        plan->cwd = hr_xstrdup("/");
    }
}

static void push_all(struct hr_strv *out, char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hr_strv_push(out, v[i]);
}

int hr_plan_argv(const struct hr_argv_input *in, struct hr_strv *out, char *err,
                 size_t errlen)
{
    const struct hr_image_config *img = in->image;
    size_t n_before = out->n;

    if (in->n_cmd > 0 && !in->is_run) {
        if (in->entrypoint)
            return hr_fail(err, errlen,
                           "--entrypoint: not with a command, which replaces the "
                           "entrypoint (to pass PROG arguments: hpcrun run "
                           "--entrypoint=PROG IMAGE ARG...)");
        push_all(out, in->cmd, (size_t)in->n_cmd);
        return 0;
    }
    if (in->entrypoint && *in->entrypoint)
        hr_strv_push(out, in->entrypoint);
    else if (!in->entrypoint && img)
        push_all(out, img->entrypoint.v, img->entrypoint.n);
    if (in->n_cmd > 0)
        push_all(out, in->cmd, (size_t)in->n_cmd);
    else if (!in->entrypoint && img)
        push_all(out, img->cmd.v, img->cmd.n);
    if (out->n == n_before)
        hr_strv_push(out, "/bin/sh");
    return 0;
}

/* --join (DESIGN.md, step 4): by default the ranks of one Slurm job step on
 * one node share a container, and so do those of one mpirun job on one node
 * outside Slurm; --join=KEY shares it between launches that name the same
 * key. The key also holds what must be equal for a container to be shared:
 * the image file, its offset, and the options that shape the root. */
/* What the container is made of: launches that share one must have planned
 * the same mounts (the same GPUs, host libraries, binds, /dev), or a rank
 * would run with another rank's devices. */
static uint64_t plan_mounts_hash(const struct hr_plan *plan)
{
    uint64_t h = HR_HASH_INIT;

    for (size_t i = 0; i < plan->n_mounts; i++) {
        const struct hr_mount *m = &plan->mounts[i];
        char flags[32];
        snprintf(flags, sizeof(flags), "|%d%d%d|", (int)m->kind, m->is_ro, m->is_device);
        h = hr_hash_str(hr_hash_str(hr_hash_str(h, flags), m->src ? m->src : ""), m->dst);
    }
    return h;
}

/* PMIx server URIs, newest protocol first: mpirun (Open MPI 4: ORTE's
 * HNP, or orted on another node) sets those its server speaks. */
static const char *const pmix_uri_vars[] = {"PMIX_SERVER_URI41", "PMIX_SERVER_URI4",
                                            "PMIX_SERVER_URI3", "PMIX_SERVER_URI21",
                                            "PMIX_SERVER_URI2"};

/* What names one MPI job on this node, started outside Slurm, or NULL.
 * - PMIx (Open MPI's mpirun, prterun): the namespace names the job, but
 *   Open MPI 4 derives it from a 16-bit hash of mpirun's host and PID, so
 *   two jobs may draw the same; the URI of the node's PMIx server (its
 *   address and port, or socket path) tells apart servers alive at once.
 * - PMI-1/2 (MPICH's Hydra): nothing in the environment names the job
 *   (PMI_FD is each rank's own descriptor), but every rank on a node is a
 *   child of the job's one hydra_pmi_proxy; its PID with its start time
 *   names it even after the PID is recycled. A rank started through a
 *   wrapper that does not exec has a parent of its own, and a container
 *   of its own. */
static char *pmix_job_scope(const struct hr_host *host)
{
    const char *ns = hr_env_get(host->environ, "PMIX_NAMESPACE");

    for (size_t i = 0; ns && *ns && i < HR_ARRAY_LEN(pmix_uri_vars); i++) {
        const char *uri = hr_env_get(host->environ, pmix_uri_vars[i]);
        if (uri && *uri)
            return hr_xasprintf("pmix:%s@%s", ns, uri);
    }
    return NULL;
}

static char *mpi_job_scope(const struct hr_host *host)
{
    if (hr_env_get(host->environ, "PMIX_NAMESPACE") &&
        hr_env_get(host->environ, "PMIX_RANK"))
        return pmix_job_scope(host);
    if (hr_host_is_pmi_job(host->environ) && host->parent_pid > 0 &&
        host->parent_start > 0)
        return hr_xasprintf("pmi:%d.%llu", (int)host->parent_pid, host->parent_start);
    return NULL;
}

static int plan_join(struct hr_plan *plan, const struct hr_plan_input *in, char *err,
                     size_t errlen)
{
    const struct hr_config *cfg = in->cfg;
    const struct hr_host *host = in->host;
    const struct hr_image_view *img = in->image;
    const char *job = hr_env_get(host->environ, "SLURM_JOB_ID");
    const char *step = hr_env_get(host->environ, "SLURM_STEP_ID");
    const char *node = hr_env_get(host->environ, "SLURMD_NODENAME");
    char *scope, *image;

    if (cfg->join == HR_JOIN_OFF)
        return 0;
    if (cfg->join_key) {
        scope = hr_xasprintf("key:%s", cfg->join_key);
    } else if (job && step) {
        /* two mpirun jobs started from one step (an srun --pty shell) fork
         * their ranks on this node in that step: their PMIx job is part of
         * the key (under srun --mpi=pmix it is the step's own, the same for
         * every task). Not Hydra's parent: a wrapper script between
         * slurmstepd and hpcrun must not split a step's tasks. */
        char *pmix = pmix_job_scope(host);
        scope = hr_xasprintf("slurm:%s.%s@%s%s%s", job, step, node ? node : "",
                             pmix ? "+" : "", pmix ? pmix : "");
        free(pmix);
    } else {
        scope = mpi_job_scope(host);
    }
    if (!scope && cfg->join == HR_JOIN_ON)
        return hr_fail(err, errlen,
                       "--join: not in a Slurm job step or an mpirun job; name a key: "
                       "--join=KEY");
    if (!scope)
        return 0;
    /* the file's identity where known: the same image under another name */
    image = img->file ? hr_xasprintf("%llu:%llu", (unsigned long long)img->file->st_dev,
                                     (unsigned long long)img->file->st_ino)
                      : hr_xstrdup(img->path);
    plan->join_key =
        hr_xasprintf("%s|%s|%llu|fakeroot=%d|writable=%d|mounts=%016llx", scope, image,
                     cfg->offset, cfg->is_fakeroot, cfg->is_writable_tmpfs,
                     (unsigned long long)plan_mounts_hash(plan));
    free(image);
    free(scope);
    return 0;
}

char *hr_plan_find_exe(const struct hr_plan *plan, const struct hr_image_view *img)
{
    const char *cmd = plan->argv.v[0];
    const char *path = hr_env_get(plan->env.v, "PATH");
    char *dirs, *save = NULL, *found = NULL;

    if (strchr(cmd, '/'))
        return cmd[0] == '/' ? image_file(img, cmd) : NULL;
    dirs = hr_xstrdup(path ? path : HR_DEFAULT_PATH);
    for (char *d = strtok_r(dirs, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        if (d[0] == '/') {
            char *cand = hr_path_join(d, cmd);
            found = image_file(img, cand);
            free(cand);
        }
    }
    free(dirs);
    return found;
}

/* Decide, for each mount, whether its destination is in the image (not under
 * an earlier mount) and whether it must be created there. */
static int plan_check_destinations(struct hr_plan *plan, const struct hr_image_view *img,
                                   char *err, size_t errlen)
{
    for (size_t i = 0; i < plan->n_mounts; i++) {
        struct hr_mount *m = &plan->mounts[i];
        struct hr_resolved r;
        int rc;

        m->is_in_image = true;
        for (size_t j = 0; j < i; j++)
            if (plan->mounts[j].kind != HR_MNT_SYMLINK &&
                hr_path_is_under(m->dst, plan->mounts[j].dst))
                m->is_in_image = false;
        if (!m->is_in_image)
            continue;
        rc = hr_resolve_in_root(m->dst, img->lookup, img->ctx, &r);
        if (rc == -EIO)
            return hr_fail(err, errlen, "%s: corrupted SquashFS image (cannot read %s)",
                           img->path, m->dst);
        if (rc < 0)
            return hr_fail(err, errlen, "%s: mount point %s: %s", img->path, m->dst,
                           strerror(-rc));
        if (r.n_missing) {
            m->is_dst_missing = true;
            plan->needs_overlay = true;
        } else if (m->kind != HR_MNT_SYMLINK &&
                   m->is_src_dir != (r.last == HR_NODE_DIR)) {
            rc = hr_fail(err, errlen, "%s: mount point %s: %s in the image", img->path,
                         m->dst, m->is_src_dir ? "not a directory" : "is a directory");
            free(r.path);
            return rc;
        }
        free(r.path);
    }
    return 0;
}

int hr_plan_build(const struct hr_plan_input *in, struct hr_plan *plan, char *err,
                  size_t errlen)
{
    const struct hr_config *cfg = in->cfg;
    const struct hr_host *host = in->host;
    const struct hr_image_view *img = in->image;
    struct hr_env_input env_in = {
        .host_env = host->environ,
        .image_env = img->config ? img->config->env.v : NULL,
        .set_env = cfg->env_set.v,
        .is_cleanenv = cfg->is_cleanenv,
        .image_path = img->path,
    };

    memset(plan, 0, sizeof(*plan));
    plan->host_uid = host->uid;
    plan->closed_std_fds = host->closed_std_fds;
    plan->host_gid = host->gid;
    plan->is_fakeroot = cfg->is_fakeroot;
    plan->uid = cfg->is_fakeroot ? 0 : host->uid;
    plan->gid = cfg->is_fakeroot ? 0 : host->gid;
    plan->is_writable = cfg->is_writable_tmpfs;
    plan->needs_overlay = cfg->is_writable_tmpfs;

    plan_bind(plan, "/proc", "/proc", true, "proc");
    plan_bind(plan, "/sys", "/sys", true, "sys");
    if (cfg->dev == HR_DEV_HOST)
        plan_bind(plan, "/dev", "/dev", true, "dev")->is_device = true;
    else
        plan_dev_minimal(plan);
    plan_bind(plan, "/tmp", "/tmp", true, "tmp");
    if (host->has_hosts)
        plan_bind(plan, "/etc/hosts", "/etc/hosts", false, "network")->is_ro = true;
    if (host->has_resolv)
        plan_bind(plan, "/etc/resolv.conf", "/etc/resolv.conf", false, "network")->is_ro =
            true;
    plan_identity(plan, host, img);
    if (!cfg->is_no_home && host->is_home_dir && strcmp(host->home, "/") != 0)
        plan_bind(plan, host->home_real ? host->home_real : host->home, host->home, true,
                  "home");
    for (size_t i = 0; i < cfg->n_binds; i++) {
        struct hr_mount *m;
        if (!host->bind_src[i])
            continue; /* a site bind this node lacks (hostfacts.c) */
        m = plan_bind(plan, host->bind_src[i], cfg->binds[i].dst,
                      host->bind_src_is_dir[i],
                      cfg->binds[i].from_site ? "site bind" : "bind");
        m->is_ro = cfg->binds[i].is_ro;
    }
    if (in->inject)
        plan_inject_mounts(plan, cfg, in->inject);
    plan_pmix(plan, host);
    plan_cwd(plan, cfg, host, img);
    if (hr_plan_argv(&(struct hr_argv_input){.image = img->config,
                                             .entrypoint = cfg->entrypoint,
                                             .is_run = cfg->is_run,
                                             .cmd = cfg->cmd,
                                             .n_cmd = cfg->n_cmd},
                     &plan->argv, err, errlen) < 0)
        return -1;
    hr_env_build(&env_in, &plan->env);
    plan_inject(plan, cfg, in->inject);
    if (plan_join(plan, in, err, errlen) < 0)
        return -1;
    return plan_check_destinations(plan, img, err, errlen);
}

static const char *const kind_names[] = {"bind", "tmpfs", "file", "symlink"};

void hr_plan_print(const struct hr_plan *plan, const char *image, FILE *out)
{
    fprintf(out, "image    %s\n", image);
    fprintf(out, "ids      uid %u gid %u inside (host uid %u gid %u)%s\n",
            (unsigned)plan->uid, (unsigned)plan->gid, (unsigned)plan->host_uid,
            (unsigned)plan->host_gid, plan->is_fakeroot ? ", fakeroot" : "");
    fprintf(out, "root     %s%s\n",
            plan->is_writable ? "writable tmpfs overlay" : "read-only",
            !plan->is_writable && plan->needs_overlay
                ? " (overlay holds created mount points)"
                : "");
    for (size_t i = 0; i < plan->n_mounts; i++) {
        const struct hr_mount *m = &plan->mounts[i];
        const char *src = m->kind == HR_MNT_FILE ? "(generated)" : m->src ? m->src : "";
        fprintf(out, "mount    %-7s %-20s <- %s [%s%s%s%s]\n", kind_names[m->kind],
                m->dst, src, m->why, m->is_ro || m->kind == HR_MNT_FILE ? ",ro" : "",
                m->is_device ? ",dev" : "", m->is_dst_missing ? ",created" : "");
    }
    fprintf(out, "cwd      %s\n", plan->cwd);
    if (plan->join_key)
        fprintf(out, "join     %s\n", plan->join_key);
    for (size_t i = 0; i < plan->env.n; i++)
        fprintf(out, "env      %s\n", plan->env.v[i]);
    fprintf(out, "command ");
    for (size_t i = 0; i < plan->argv.n; i++)
        fprintf(out, " %s", plan->argv.v[i]);
    fprintf(out, "\n");
}

void hr_plan_free(struct hr_plan *plan)
{
    for (size_t i = 0; i < plan->n_mounts; i++) {
        free(plan->mounts[i].src);
        free(plan->mounts[i].dst);
    }
    free(plan->mounts);
    hr_strv_free(&plan->env);
    hr_strv_free(&plan->argv);
    free(plan->cwd);
    free(plan->join_key);
    memset(plan, 0, sizeof(*plan));
}
