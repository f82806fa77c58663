/* What of the host goes into the container: devices and host libraries.
 *
 * Order: the job's devices first (hwloc discovery only on nodes that have a
 * GPU or fabric device node at all, so plain launches pay a few stat calls);
 * the vendors found choose the library sets; each set is checked against the
 * image's glibc as a whole, since half a driver is worse than none. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch/inject.h"
#include "common/exitcodes.h"
#include "common/log.h"
#include "common/pathres.h"
#include "launch/env.h"

/* Where an image keeps its libraries when it has no ld.so.cache (images
 * assembled by hand): the dynamic loader's own default directories. */
static const char *const image_lib_dirs[] = {
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
};

static const unsigned set_vendor[HR_N_SETS] = {
    HR_VENDOR_NVIDIA, HR_VENDOR_AMD, HR_VENDOR_INTEL, HR_VENDOR_VERBS, HR_VENDOR_CXI};

/* Sonames of the two MPI ABI families, the library itself first. */
static const char *const mpich_names[] = {"libmpi.so.12",     "libmpich.so.12",
                                          "libmpifort.so.12", "libmpichfort.so.12",
                                          "libmpicxx.so.12",  "libmpichcxx.so.12"};
static const char *const ompi_names[] = {
    "libmpi.so.40",           "libmpi_mpifh.so.40",
    "libmpi_usempif08.so.40", "libmpi_usempi_ignore_tkr.so.40",
    "libmpi_cxx.so.40",       "libopen-pal.so.40",
    "libopen-rte.so.40"};

/* A host file's ELF description, kept for the rest of the collection. */
struct elf_memo {
    char *path;
    struct hr_elf elf;
    bool is_elf;
};

struct inject_ctx {
    const struct hr_config *cfg;
    struct hr_image *img;
    struct hr_ldcache host_cache;
    struct hr_ldcache image_cache;
    bool has_image_cache;
    struct hr_strv tool_dirs; /* host-tool-path (or the default), split */
    struct elf_memo *memo;    /* host files read so far */
    size_t n_memo;
};

static bool path_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* A host ELF file, read once however many library sets reach it: the
 * vendor sets share dependencies, and --mpi=host walks its closure twice
 * (mpi_list, then inject_mpi). */
static int elf_of_host_file(void *ctx, const char *path, struct hr_elf *out)
{
    struct inject_ctx *c = ctx;
    struct elf_memo *m = NULL;
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

/* An ELF file of the image, read piecewise through the image (never the
 * host: the path is resolved inside the image). */
static int image_elf(void *ctx, const char *path, struct hr_elf *out)
{
    struct hr_image *img = ctx;
    struct hr_image_file *f = hr_image_file_open(img, path);
    char err[256];
    int rc;

    if (!f)
        return -1;
    rc = hr_elf_read(hr_image_file_pread, f, out, err, sizeof(err));
    hr_image_file_close(f);
    if (rc < 0)
        hr_debug("%s: %s: %s", img->path, path, err);
    return rc;
}

/* Where the image's dynamic loader would find soname: its ld.so.cache,
 * else its default directories (malloc'd image path, or NULL). */
char *hr_inject_image_lib(struct hr_image *img, const struct hr_ldcache *cache,
                          const char *soname)
{
    const char *p = cache ? hr_ldcache_find(cache, soname) : NULL;
    struct hr_resolved r;

    if (p)
        return hr_xstrdup(p);
    for (size_t i = 0; i < HR_ARRAY_LEN(image_lib_dirs); i++) {
        char *path = hr_path_join(image_lib_dirs[i], soname);
        if (hr_resolve_in_root(path, hr_image_lookup, img, &r) == 0 && !r.n_missing &&
            r.last == HR_NODE_OTHER) {
            free(r.path);
            return path;
        }
        free(r.path);
        free(path);
    }
    return NULL;
}

static char *image_find_lib(struct inject_ctx *c, const char *soname)
{
    return hr_inject_image_lib(c->img, c->has_image_cache ? &c->image_cache : NULL,
                               soname);
}

/* The image's glibc version, from its libc.so.6's version definitions. */
static unsigned image_glibc(struct inject_ctx *c)
{
    struct hr_elf e = {0};
    hr_autofree char *p = image_find_lib(c, "libc.so.6");
    unsigned v = 0;

    if (p && image_elf(c->img, p, &e) == 0)
        v = e.glibc_have;
    hr_elf_free(&e);
    return v;
}

static void strv_merge(struct hr_strv *dst, const struct hr_strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (!hr_strv_has(dst, src->v[i]))
            hr_strv_push(dst, src->v[i]);
}

/* Move what src has that dst lacks into dst. */
static void libset_merge(struct hr_libset *dst, struct hr_libset *src)
{
    for (size_t i = 0; i < src->n; i++) {
        struct hr_hostlib *l = &src->libs[i];
        if (hr_libset_has(dst, l->name))
            continue;
        dst->libs = hr_xrealloc(dst->libs, (dst->n + 1) * sizeof(*dst->libs));
        dst->libs[dst->n++] = *l;
        *l = (struct hr_hostlib){0};
    }
    strv_merge(&dst->tools, &src->tools);
    strv_merge(&dst->dirs, &src->dirs);
    strv_merge(&dst->env, &src->env);
    strv_merge(&dst->missing, &src->missing);
    strv_merge(&dst->kept, &src->kept);
    if (src->glibc_need > dst->glibc_need) {
        dst->glibc_need = src->glibc_need;
        free(dst->glibc_need_by);
        dst->glibc_need_by = src->glibc_need_by ? hr_xstrdup(src->glibc_need_by) : NULL;
    }
}

/* Can the image's glibc run what set needs? Returns 0, or -1 with err. */
static int glibc_check(const char *set, const struct hr_libset *s, unsigned have,
                       const char *image, char *err, size_t errlen)
{
    hr_autofree char *need = NULL, *got = NULL;

    if (!s->glibc_need || (have && have >= s->glibc_need))
        return 0;
    need = hr_glibc_version_str(s->glibc_need);
    if (!have)
        return hr_fail(err, errlen,
                       "host %s libraries need glibc %s (%s), and %s has no glibc "
                       "(libc.so.6)",
                       set, need, s->glibc_need_by ? s->glibc_need_by : "?", image);
    got = hr_glibc_version_str(have);
    return hr_fail(err, errlen, "host %s libraries need glibc %s (%s), %s has glibc %s",
                   set, need, s->glibc_need_by ? s->glibc_need_by : "?", image, got);
}

static struct hr_libset_input libset_input(struct inject_ctx *c)
{
    return (struct hr_libset_input){
        .host_cache = &c->host_cache,
        .image_cache = c->has_image_cache ? &c->image_cache : NULL,
        .elf = elf_of_host_file,
        .elf_ctx = c,
        /* a host library the image has a newer copy of is not bound over it */
        .image_elf = c->img && c->has_image_cache ? image_elf : NULL,
        .image_elf_ctx = c->img,
        .tool_dirs = (const char *const *)c->tool_dirs.v,
        .exists = path_exists,
    };
}

/* One vendor set: found, checked against the image's glibc, merged. An
 * explicit --gpu=VENDOR makes a refusal an error; otherwise a warning. */
static int inject_set(struct inject_ctx *c, size_t set, bool is_explicit,
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
    struct hr_libset_input in = libset_input(c);
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
        glibc_check(list.set, &s, out->image_glibc, c->img->path, err, sizeof(err)) < 0) {
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
    hr_strv_push_owned(&out->notes,
                       hr_xasprintf("libs %s: %zu libraries, %zu tools%s", list.set, s.n,
                                    s.tools.n,
                                    n == 0 ? " (no driver libraries found)" : ""));
    libset_merge(&out->libs, &s);
    hr_libset_free(&s);
    return 0;
}

static int inject_devices(struct inject_ctx *c, char **envp, struct hr_inject *out)
{
    const struct hr_config *cfg = c->cfg;
    struct hr_hwtopo topo = {0};
    struct hr_devhost host = {0};
    struct hr_devreq req = cfg->devreq;
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
    rc = hr_dev_plan(&topo, &host, &req, envp, &out->dev, err, sizeof(err));
    if (rc < 0 && cfg->devreq.gpu == HR_GPU_AUTO) {
        /* a stale allocation variable must not stop a program that may not
         * even use a GPU: say so, bind none, keep the fabric */
        hr_warn("%s: no GPU bound", err);
        hr_devplan_free(&out->dev);
        req.gpu = HR_GPU_NONE;
        rc = hr_dev_plan(&topo, &host, &req, envp, &out->dev, err, sizeof(err));
    }
    if (rc < 0)
        hr_err("%s", err);
    hr_hw_free(&topo);
    hr_devhost_free(&host);
    return rc;
}

static bool is_libmpi(const char *soname)
{
    return strncmp(soname, "libmpi.so.", 10) == 0 ||
           strncmp(soname, "libmpich.so.", 12) == 0;
}

/* The host MPI's library of a soname: the host-mpi file itself for the MPI
 * library proper, else in the host-mpi directory (or beside the host-mpi
 * file, or in its lib/). Never the host's ld.so.cache: that may hold another
 * MPI than the one the site named and hpcrun checked. */
static char *host_mpi_lib(struct inject_ctx *c, const char *name)
{
    struct stat st;
    const char *hm = c->cfg->host_mpi;
    char *dir, *p;

    if (stat(hm, &st) < 0)
        return NULL;
    if (S_ISREG(st.st_mode) && is_libmpi(name))
        return hr_xstrdup(hm);
    dir = S_ISDIR(st.st_mode) ? hr_xstrdup(hm) : hr_xstrndup(hm, strrchr(hm, '/') - hm);
    for (int i = 0; i < 2; i++) {
        p = hr_xasprintf("%s%s/%s", dir, i ? "/lib" : "", name);
        if (path_exists(p)) {
            free(dir);
            return p;
        }
        free(p);
    }
    free(dir);
    return NULL;
}

static int mpi_identify_path(const char *path, struct hr_mpi_info *out, char *err,
                             size_t errlen)
{
    hr_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hr_fail(err, errlen, "%s: %s", path, strerror(errno));
    return hr_mpi_identify(hr_pread_fd, &fd, out, err, errlen);
}

/* The fabric libraries a host MPI was built against come from the host too,
 * even where the image has the same sonames: the image's copies may lack the
 * node's providers (a vendor libfabric with CXI, a UCX built for its HCAs).
 * Their plugin directories (beside the library) follow, named by the
 * variable each library reads. */
static const struct {
    const char *soname;
    const char *plugin_dir;
    const char *var;
} mpi_fabric[] = {
    {"libfabric.so.1", "libfabric", "FI_PROVIDER_PATH"},
    {"libucs.so.0", "ucx", "UCX_MODULE_DIR"},
    {"libucp.so.0", NULL, NULL},
    {"libuct.so.0", NULL, NULL},
    {"libucm.so.0", NULL, NULL},
    {"libpsm2.so.2", NULL, NULL},
    {"libibverbs.so.1", NULL, NULL},
    {"librdmacm.so.1", NULL, NULL},
};

static void words_add(char **list, const char *word)
{
    char *p = hr_xasprintf("%s%s%s", *list ? *list : "", *list ? " " : "", word);
    free(*list);
    *list = p;
}

/* The image's MPI family: its sonames, and where the image keeps its libmpi.
 * Returns the family's names, or NULL (logged). */
static const char *const *mpi_family(struct inject_ctx *c, size_t *n, char **image_lib)
{
    if ((*image_lib = image_find_lib(c, "libmpi.so.12")) ||
        (*image_lib = image_find_lib(c, "libmpich.so.12"))) {
        *n = HR_ARRAY_LEN(mpich_names);
        return mpich_names;
    }
    if ((*image_lib = image_find_lib(c, "libmpi.so.40"))) {
        *n = HR_ARRAY_LEN(ompi_names);
        return ompi_names;
    }
    hr_err("--mpi=host: %s has no MPI library (libmpi.so.12 or libmpi.so.40)",
           c->img->path);
    return NULL;
}

/* Identify both MPIs and refuse an ABI mismatch. Returns 0 or -1 (logged). */
static int mpi_check_abi(struct inject_ctx *c, const char *host_lib,
                         const char *image_lib, struct hr_mpi_info *host)
{
    struct hr_mpi_info image = {0};
    struct hr_image_file *f;
    char err[512];
    int rc = mpi_identify_path(host_lib, host, err, sizeof(err));

    if (rc == 0 && !(f = hr_image_file_open(c->img, image_lib))) {
        snprintf(err, sizeof(err), "%s: %s: %s", c->img->path, image_lib,
                 strerror(errno));
        rc = -1;
    } else if (rc == 0) {
        rc = hr_mpi_identify(hr_image_file_pread, f, &image, err, sizeof(err));
        hr_image_file_close(f);
        if (rc == 0)
            rc = hr_mpi_compatible(host, &image, err, sizeof(err));
    }
    if (rc < 0)
        hr_err("--mpi=host: %s", err);
    hr_mpi_info_free(&image);
    return rc;
}

/* What to bind: every soname of the family that the image has, from the host
 * MPI, and the fabric libraries among the host MPI's dependencies (found
 * with the image's own libraries not subtracted) with their plugin dirs. */
static int mpi_list(struct inject_ctx *c, const char *const *names, size_t n_names,
                    char **libs, char **dirs, struct hr_inject *out)
{
    struct hr_libset_input in = libset_input(c);
    struct hr_libset closure = {0};
    struct hr_liblist list = {.set = "mpi"};
    char err[512];

    for (size_t i = 0; i < n_names; i++) {
        hr_autofree char *in_image = image_find_lib(c, names[i]);
        hr_autofree char *p = in_image ? host_mpi_lib(c, names[i]) : NULL;
        if (!p)
            continue;
        hr_ldcache_add(&c->host_cache, names[i], p, true);
        words_add(libs, names[i]);
        /* also over the image's own file, for programs that find it by
         * RUNPATH or reset LD_LIBRARY_PATH */
        hr_strv_push(&out->over_src, p);
        hr_strv_push(&out->over_dst, in_image);
    }
    list.libs = *libs;
    in.image_cache = NULL;
    if (!*libs || hr_libset_add(&closure, &in, &list, err, sizeof(err)) < 0) {
        hr_err("--mpi=host: %s",
               *libs ? err : "no library of the image's MPI on the host");
        hr_libset_free(&closure);
        return -1;
    }
    for (size_t i = 0; i < HR_ARRAY_LEN(mpi_fabric); i++)
        for (size_t j = 0; j < closure.n; j++) {
            const struct hr_hostlib *l = &closure.libs[j];
            hr_autofree char *dir = NULL;
            if (strcmp(l->name, mpi_fabric[i].soname) != 0)
                continue;
            words_add(libs, l->name);
            if (!mpi_fabric[i].plugin_dir)
                continue;
            dir = hr_xasprintf("%.*s/%s", (int)(strrchr(l->src, '/') - l->src), l->src,
                               mpi_fabric[i].plugin_dir);
            if (path_exists(dir)) {
                hr_autofree char *word = hr_xasprintf("%s=%s", dir, mpi_fabric[i].var);
                words_add(dirs, word);
            }
        }
    hr_libset_free(&closure);
    return 0;
}

/* --mpi=host: the image's MPI family decides which host libraries replace
 * which of its sonames. */
static int inject_mpi(struct inject_ctx *c, struct hr_inject *out)
{
    const char *const *names;
    size_t n_names = 0;
    hr_autofree char *image_lib = NULL, *host_lib = NULL, *libs = NULL, *dirs = NULL;
    struct hr_mpi_info host = {0};
    struct hr_libset s = {0};
    struct hr_libset_input in = libset_input(c);
    struct hr_liblist list = {.set = "mpi"};
    struct stat st;
    char err[512];
    int rc = -1;

    if (!c->cfg->host_mpi || !c->img) {
        hr_err("--mpi=host: %s", !c->img ? "an image is needed to check the MPI ABI"
                                         : "the site config names no host MPI "
                                           "(host-mpi = PATH)");
        return -1;
    }
    if (!(names = mpi_family(c, &n_names, &image_lib)))
        return -1;
    /* host-mpi names the library itself, or a directory to find it in */
    if (stat(c->cfg->host_mpi, &st) == 0 && S_ISREG(st.st_mode))
        host_lib = hr_xstrdup(c->cfg->host_mpi);
    for (size_t i = 0; i < n_names && !host_lib; i++)
        host_lib = host_mpi_lib(c, names[i]);
    if (!host_lib) {
        hr_err("--mpi=host: %s: no %s library of the image's MPI family",
               c->cfg->host_mpi, names[0]);
        return -1;
    }
    if (mpi_check_abi(c, host_lib, image_lib, &host) < 0 ||
        mpi_list(c, names, n_names, &libs, &dirs, out) < 0)
        goto out;
    list.libs = libs;
    list.dirs = dirs;
    rc = hr_libset_add(&s, &in, &list, err, sizeof(err)) < 0 ? -1 : 0;
    if (rc < 0 || (rc = glibc_check("MPI", &s, out->image_glibc, c->img->path, err,
                                    sizeof(err))) < 0) {
        hr_err("--mpi=host: %s", err);
        goto out;
    }
    hr_strv_push_owned(
        &out->notes, hr_xasprintf("mpi host %s %s (%s) over the image's %s",
                                  host.soname ? host.soname : "?",
                                  host.version ? host.version : "", host_lib, image_lib));
    libset_merge(&out->libs, &s);
out:
    hr_libset_free(&s);
    hr_mpi_info_free(&host);
    return rc;
}

static void split_path(const char *s, struct hr_strv *out)
{
    char *copy = hr_xstrdup(s), *save = NULL;

    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
        hr_strv_push(out, d);
    free(copy);
}

static int inject_libraries(struct inject_ctx *c, struct hr_inject *out)
{
    const struct hr_config *cfg = c->cfg;
    const char *path = cfg->ld_so_cache ? cfg->ld_so_cache : HR_LDCACHE;
    char err[512];

    if (!out->dev.vendors && cfg->mpi != HR_MPI_HOST)
        return 0;
    if (hr_ldcache_load(path, &c->host_cache, err, sizeof(err)) < 0) {
        hr_warn("%s: no host libraries bound", err);
        return cfg->mpi == HR_MPI_HOST ? -1 : 0;
    }
    if (c->img) {
        if (hr_inject_image_ldcache(c->img, &c->image_cache, err, sizeof(err)) == 0)
            c->has_image_cache = true;
        else
            hr_debug("%s", err);
        out->image_glibc = image_glibc(c);
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
    return cfg->mpi == HR_MPI_HOST ? inject_mpi(c, out) : 0;
}

int hr_inject_image_ldcache(struct hr_image *img, struct hr_ldcache *out, char *err,
                            size_t errlen)
{
    size_t len;
    hr_autofree char *text = hr_image_read_file(img, HR_LDCACHE, HR_LDCACHE_MAX, &len);
    char sub[256];

    memset(out, 0, sizeof(*out));
    if (!text)
        return hr_fail(err, errlen, "%s: %s: %s", img->path, HR_LDCACHE, strerror(errno));
    if (hr_ldcache_parse(text, len, out, sub, sizeof(sub)) < 0) {
        hr_ldcache_free(out);
        return hr_fail(err, errlen, "%s: %s: %s", img->path, HR_LDCACHE, sub);
    }
    return 0;
}

int hr_inject_collect(const struct hr_config *cfg, char **envp, struct hr_image *img,
                      struct hr_inject *out)
{
    struct inject_ctx c = {.cfg = cfg, .img = img};
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

int hr_inject_show(const struct hr_config *cfg, char **envp)
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
