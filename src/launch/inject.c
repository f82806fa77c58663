/* What of the host goes into the container: devices and host libraries
 * (inject.h); --mpi=host is in mpihost.c, the image's libraries are read
 * through imagelibs.c.
 *
 * Order: the job's devices first (hwloc discovery only on nodes that have a
 * GPU or fabric device node at all, so plain launches pay a few stat calls);
 * the vendors found choose the library sets; each set is checked against the
 * image's glibc as a whole, since half a driver is worse than none.
 *
 * Errors: every function here reports what it refuses with one logged line
 * (an error, or a warning where the launch goes on without it) and returns
 * -1 only when the launch must stop. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch/inject.h"
#include "common/log.h"
#include "common/util.h"
#include "host/devhost.h"
#include "host/devices.h"
#include "host/devreq.h"
#include "host/elfread.h"
#include "host/hostlibs.h"
#include "host/ldcache.h"
#include "launch/imagelibs.h"
#include "launch/mpihost.h"

static const unsigned set_vendor[HR_N_SETS] = {
    HR_VENDOR_NVIDIA, HR_VENDOR_AMD, HR_VENDOR_INTEL, HR_VENDOR_VERBS, HR_VENDOR_CXI};

/* A host file's ELF description, kept for the rest of the collection. */
struct hr_elf_memo {
    char *path;
    struct hr_elf elf;
    bool is_elf;
};

static bool path_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* A host ELF file, read once however many library sets reach it: the
 * vendor sets share dependencies, and --mpi=host walks its closure twice
 * (mpihost.c: mpi_list, then hr_mpihost_collect). */
static int elf_of_host_file(void *ctx, const char *path, struct hr_elf *out)
{
    struct hr_inject_ctx *c = ctx;
    struct hr_elf_memo *m = NULL;
    char err[256];

    for (size_t i = 0; i < c->n_memo && !m; i++)
        if (strcmp(c->memo[i].path, path) == 0)
            m = &c->memo[i];
    if (!m) {
        c->memo = hr_xrealloc(c->memo, (c->n_memo + 1) * sizeof(*c->memo));
        m = &c->memo[c->n_memo++];
        m->path = hr_xstrdup(path);
        m->is_elf = hr_elf_read_path(path, &m->elf, err, sizeof(err)) == 0;
        if (!m->is_elf)
            hr_debug("%s", err);
    }
    if (!m->is_elf)
        return -1;
    hr_elf_copy(out, &m->elf);
    return 0;
}

char *hr_inject_find_image_lib(const struct hr_inject_ctx *c, const char *soname)
{
    return hr_imagelib_find(c->img, c->has_image_cache ? &c->image_cache : NULL, soname);
}

struct hr_libset_input hr_inject_libset_input(struct hr_inject_ctx *c)
{
    return (struct hr_libset_input){
        .host_cache = &c->host_cache,
        .image_cache = c->has_image_cache ? &c->image_cache : NULL,
        .elf = elf_of_host_file,
        .elf_ctx = c,
        /* a host library the image has a newer copy of is not bound over it */
        .image_elf = c->img && c->has_image_cache ? hr_imagelib_elf : NULL,
        .image_elf_ctx = c->img,
        .tool_dirs = (const char *const *)c->tool_dirs.v,
        .exists = path_exists,
    };
}

/* One vendor set: found, checked against the image's glibc, merged. An
 * explicit --gpu=VENDOR makes a refusal an error; otherwise a warning. */
static int inject_set(struct hr_inject_ctx *c, size_t set, bool is_explicit,
                      struct hr_inject *out)
{
    const struct hr_set_override *o = &c->cfg->sets[set];
    const struct hr_liblist *def = hr_liblist_default(hr_set_names[set]);
    struct hr_liblist list = {
        .set = hr_set_names[set],
        .libs = o->libs ? o->libs
                : def   ? def->libs
                        : NULL,
        .tools = o->tools ? o->tools
                 : def    ? def->tools
                          : NULL,
        .dirs = o->dirs ? o->dirs
                : def   ? def->dirs
                        : NULL,
    };
    struct hr_libset_input in = hr_inject_libset_input(c);
    struct hr_libset s = {0};
    char err[512];
    int n = hr_libset_add(&s, &in, &list, err, sizeof(err));

    if (n < 0) {
        hr_libset_free(&s);
        if (is_explicit) {
            hr_err("%s", err);
            return -1;
        }
        hr_warn("%s: host %s libraries not bound", err, list.set);
        hr_strv_push_owned(&out->notes,
                           hr_xasprintf("libs %s refused: %s", list.set, err));
        return 0;
    }
    if (c->img &&
        hr_libset_glibc_check(&s, list.set, &c->image_glibc, err, sizeof(err)) < 0) {
        hr_libset_free(&s);
        if (is_explicit) {
            hr_err("%s", err);
            return -1;
        }
        hr_warn("%s: not binding them", err);
        hr_strv_push_owned(&out->notes,
                           hr_xasprintf("libs %s refused: %s", list.set, err));
        return 0;
    }
    if (n == 0 && is_explicit) {
        /* asked for by name: a GPU without its driver is no GPU */
        hr_libset_free(&s);
        hr_err("--gpu=%s: none of the host's %s driver libraries is in %s (is the driver "
               "installed on this node?)",
               list.set, list.set, c->host_cache_path);
        return -1;
    }
    hr_strv_push_owned(&out->notes,
                       hr_xasprintf("libs %s: %zu libraries, %zu tools%s", list.set, s.n,
                                    s.tools.n,
                                    n == 0 ? " (no driver libraries found)" : ""));
    hr_libset_merge(&out->libs, &s);
    hr_libset_free(&s);
    return 0;
}

static int inject_devices(struct hr_inject_ctx *c, char **envp, struct hr_inject *out)
{
    const struct hr_config *cfg = c->cfg;
    struct hr_hwtopo topo = {0};
    struct hr_devhost host = {0};
    struct hr_devinput in = {
        .topo = &topo, .host = &host, .req = cfg->devreq, .envp = envp};
    char err[512];
    int rc = 0;

    /* HWLOC_XMLFILE, which some sites export for MPI start-up, does not
     * make plain nodes discover: hwloc honours it by itself where discovery
     * runs. */
    if (cfg->topology || hr_dev_host_has_any()) {
        if (hr_hw_discover(cfg->topology, &topo, err, sizeof(err)) == 0) {
            hr_devhost_collect(&host);
        } else if (cfg->topology || cfg->devreq.gpu != HR_GPU_AUTO) {
            hr_err("%s", err);
            return -1;
        } else {
            /* no hwloc on this node: launch without its devices */
            hr_warn("%s: no GPU or fabric device bound", err);
        }
    }
    rc = hr_dev_plan(&in, &out->dev, err, sizeof(err));
    if (rc < 0 && cfg->devreq.gpu == HR_GPU_AUTO) {
        /* a stale allocation variable must not stop a program that may not
         * even use a GPU: say so, bind none, keep the fabric */
        hr_warn("%s: no GPU bound", err);
        hr_devplan_free(&out->dev);
        in.req.gpu = HR_GPU_NONE;
        rc = hr_dev_plan(&in, &out->dev, err, sizeof(err));
    }
    if (rc < 0)
        hr_err("%s", err);
    hr_hw_free(&topo);
    hr_devhost_free(&host);
    return rc;
}

static void split_path(const char *s, struct hr_strv *out)
{
    char *copy = hr_xstrdup(s), *save = NULL;

    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
        hr_strv_push(out, d);
    free(copy);
}

static int inject_libraries(struct hr_inject_ctx *c, struct hr_inject *out)
{
    const struct hr_config *cfg = c->cfg;
    const char *path = cfg->ld_so_cache ? cfg->ld_so_cache : HR_LDCACHE;
    char err[512];

    if (!out->dev.vendors && cfg->mpi != HR_MPI_HOST)
        return 0;
    c->host_cache_path = path;
    if (hr_ldcache_load(path, &c->host_cache, err, sizeof(err)) < 0) {
        bool is_vendor_named =
            cfg->devreq.gpu != HR_GPU_AUTO && cfg->devreq.gpu != HR_GPU_NONE;
        if (cfg->mpi == HR_MPI_HOST || is_vendor_named) {
            /* --mpi=host or --gpu=VENDOR cannot be honoured without it */
            hr_err("%s", err);
            return -1;
        }
        hr_warn("%s: no host libraries bound", err);
        return 0;
    }
    if (c->img) {
        if (hr_imagelib_cache(c->img, &c->image_cache, err, sizeof(err)) == 0)
            c->has_image_cache = true;
        else
            hr_debug("%s", err);
        out->image_glibc =
            hr_imagelib_glibc(c->img, c->has_image_cache ? &c->image_cache : NULL);
        c->image_glibc =
            (struct hr_glibc_have){.image = c->img->path, .version = out->image_glibc};
    }
    split_path(cfg->host_tool_path ? cfg->host_tool_path : HR_DEFAULT_TOOL_PATH,
               &c->tool_dirs);
    for (size_t i = 0; i < HR_N_SETS; i++) {
        bool is_explicit = (cfg->devreq.gpu == HR_GPU_NVIDIA && i == HR_SET_NVIDIA) ||
                           (cfg->devreq.gpu == HR_GPU_AMD && i == HR_SET_AMD) ||
                           (cfg->devreq.gpu == HR_GPU_INTEL && i == HR_SET_INTEL);
        if ((out->dev.vendors & set_vendor[i]) && inject_set(c, i, is_explicit, out) < 0)
            return -1;
    }
    return cfg->mpi == HR_MPI_HOST ? hr_mpihost_collect(c, out) : 0;
}

int hr_inject_collect(const struct hr_config *cfg, char **envp, struct hr_image *img,
                      struct hr_inject *out)
{
    struct hr_inject_ctx c = {.cfg = cfg, .img = img};
    int rc;

    memset(out, 0, sizeof(*out));
    if (cfg->devreq.gpu == HR_GPU_NONE && cfg->devreq.fabric == HR_FABRIC_NONE &&
        cfg->mpi != HR_MPI_HOST)
        return 0;
    rc = inject_devices(&c, envp, out);
    if (rc == 0)
        rc = inject_libraries(&c, out);
    hr_ldcache_free(&c.host_cache);
    hr_ldcache_free(&c.image_cache);
    hr_strv_free(&c.tool_dirs);
    for (size_t i = 0; i < c.n_memo; i++) {
        free(c.memo[i].path);
        hr_elf_free(&c.memo[i].elf);
    }
    free(c.memo);
    if (rc < 0)
        hr_inject_free(out);
    return rc;
}

void hr_inject_print(const struct hr_inject *in, FILE *out)
{
    for (size_t i = 0; i < in->dev.report.n; i++)
        fprintf(out, "device   %s\n", in->dev.report.v[i]);
    for (size_t i = 0; i < in->notes.n; i++)
        fprintf(out, "host     %s\n", in->notes.v[i]);
    for (size_t i = 0; i < in->libs.n; i++)
        fprintf(out, "hostlib  %s/%s <- %s (%s)\n", HR_HOSTLIB_DIR, in->libs.libs[i].name,
                in->libs.libs[i].src, in->libs.libs[i].why);
    for (size_t i = 0; i < in->libs.tools.n; i++)
        fprintf(out, "hosttool %s\n", in->libs.tools.v[i]);
    for (size_t i = 0; i < in->over_src.n; i++)
        fprintf(out, "hostover %s <- %s\n", in->over_dst.v[i], in->over_src.v[i]);
    for (size_t i = 0; i < in->libs.dirs.n; i++)
        fprintf(out, "hostdir  %s\n", in->libs.dirs.v[i]);
    for (size_t i = 0; i < in->libs.env.n; i++)
        fprintf(out, "hostenv  %s\n", in->libs.env.v[i]);
    for (size_t i = 0; i < in->libs.missing.n; i++)
        fprintf(out, "missing  %s\n", in->libs.missing.v[i]);
    for (size_t i = 0; i < in->libs.kept.n; i++)
        fprintf(out, "kept     %s\n", in->libs.kept.v[i]);
    if (in->libs.glibc_need) {
        hr_autofree char *need = hr_glibc_version_str(in->libs.glibc_need);
        hr_autofree char *have =
            in->image_glibc ? hr_glibc_version_str(in->image_glibc) : NULL;
        fprintf(out, "glibc    host libraries need %s, image has %s\n", need,
                have ? have : "(not checked)");
    }
}

void hr_inject_free(struct hr_inject *in)
{
    hr_devplan_free(&in->dev);
    hr_libset_free(&in->libs);
    hr_strv_free(&in->notes);
    hr_strv_free(&in->over_src);
    hr_strv_free(&in->over_dst);
    memset(in, 0, sizeof(*in));
}
