/* Host libraries: the shipped vendor lists, the library-set planner and the
 * MPI ABI check. The planner decides what to bind; plan.c binds it. Host
 * files are reached only through the input's callbacks (the real file system
 * when they are NULL), so the unit tests plan against a fake host. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/hostlibs.h"

/* The distribution's multiarch library directory (Debian, Ubuntu); RPM
 * distributions use /usr/lib64. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define MULTIARCH "/usr/lib/x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "/usr/lib/aarch64-linux-gnu"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MULTIARCH "/usr/lib/powerpc64le-linux-gnu"
#else
#define MULTIARCH "/usr/lib"
#endif

/* rdma-core's libibverbs loads the provider named in a
 * /etc/libibverbs.d/NAME.driver file from its build-time provider directory
 * and, failing that, as "libNAME-rdmavN.so" through the library search
 * path: binding the host's providers into HR_HOSTLIB_DIR makes the second
 * try find them whatever the image's libibverbs was built with.
 * libfabric loads its provider plugins from FI_PROVIDER_PATH. */
#define IBV_PROVIDERS                                                                    \
    "/usr/lib64/libibverbs/lib*-rdmav*.so " MULTIARCH "/libibverbs/lib*-rdmav*.so"
#define FI_PROVIDERS                                                                     \
    "/usr/lib64/libfabric=FI_PROVIDER_PATH " MULTIARCH "/libfabric=FI_PROVIDER_PATH"

static const struct hr_liblist default_lists[] = {
    {.set = "nvidia",
     .libs = "libcuda.so.1 libcudadebugger.so.1 libnvidia-ml.so.1 "
             "libnvidia-ptxjitcompiler.so.1 libnvidia-nvvm.so.4 libnvidia-opencl.so.1 "
             "libnvidia-gpucomp.so libnvidia-allocator.so.1 libnvidia-cfg.so.1 "
             "libnvidia-pkcs11.so libnvidia-fatbinaryloader.so",
     .tools = "nvidia-smi nvidia-debugdump nvidia-persistenced nvidia-cuda-mps-control "
              "nvidia-cuda-mps-server",
     .dirs = ""},
    {.set = "amd",
     .libs = "libamdhip64.so libhsa-runtime64.so.1 libhsakmt.so.1 librocm_smi64.so "
             "libamd_comgr.so libdrm_amdgpu.so.1 libdrm.so.2",
     .tools = "rocm-smi rocminfo",
     .dirs = ""},
    {.set = "intel",
     .libs = "libze_loader.so.1 libze_intel_gpu.so.1 libigdrcl.so libigc.so.1 "
             "libigdfcl.so.1",
     .tools = "",
     .dirs = ""},
    {.set = "verbs",
     .libs = "libibverbs.so.1 librdmacm.so.1 libmlx5.so.1 libmlx4.so.1 libefa.so.1 "
             "libhfi1verbs-rdmav*.so libfabric.so.1 " IBV_PROVIDERS,
     .tools = "",
     .dirs = "/etc/libibverbs.d=IBV_CONFIG_DIR " FI_PROVIDERS},
    {.set = "cxi",
     .libs = "libcxi.so.1 libfabric.so.1",
     .tools = "",
     .dirs = FI_PROVIDERS},
    {.set = "mpi", .libs = "", .tools = "", .dirs = ""},
};

const struct hr_liblist *hr_liblist_default(const char *set)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(default_lists); i++)
        if (strcmp(default_lists[i].set, set) == 0)
            return &default_lists[i];
    return NULL;
}

/* ---- the planner ------------------------------------------------------------- */

struct dep {
    char *name;   /* the DT_NEEDED entry */
    char *parent; /* who needs it */
    char *dir;    /* the parent's directory (NULL for a tool) */
};

/* A library the list names, found on the host: bound unless the image's
 * copy is kept (settle_named). */
struct named {
    char *src;  /* host path, resolved */
    char *name; /* soname inside */
    struct hr_elf host;
    struct hr_elf image; /* the image's copy, when has_image */
    bool has_image;
    char *kept; /* why the image's copy stays, or NULL */
};

struct planner {
    struct hr_libset *out;
    const struct hr_libset_input *in;
    const char *set;
    struct named *named; /* in the list's order */
    size_t nnamed;
    struct dep *q; /* breadth-first: deps found, in order */
    size_t nq, next;
    int found;
    char *err;
    size_t errlen;
};

static bool fs_exists(const struct planner *pl, const char *path)
{
    return pl->in->exists ? pl->in->exists(path) : access(path, F_OK) == 0;
}

static char *fs_resolve(const struct planner *pl, const char *path)
{
    return pl->in->resolve ? pl->in->resolve(path) : realpath(path, NULL);
}

static void fs_glob(const struct planner *pl, const char *pattern, struct hr_strv *out)
{
    glob_t g;

    if (pl->in->glob) {
        pl->in->glob(pattern, out);
        return;
    }
    if (glob(pattern, 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++)
            hr_strv_push(out, g.gl_pathv[i]);
    globfree(&g);
}

/* 0, or -1 with err set if path is no readable ELF object. */
static int fs_elf(const struct planner *pl, const char *path, struct hr_elf *e)
{
    if (!pl->in->elf)
        return hr_elf_read_path(path, e, pl->err, pl->errlen);
    memset(e, 0, sizeof(*e));
    if (pl->in->elf(pl->in->elf_ctx, path, e) < 0)
        return hr_fail(pl->err, pl->errlen, "%s: not a readable ELF object", path);
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A name that can be a file of HR_HOSTLIB_DIR. */
static bool is_file_name(const char *name)
{
    return *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

bool hr_libset_has(const struct hr_libset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->libs[i].name, name) == 0)
            return true;
    return false;
}

static void strv_merge(struct hr_strv *dst, const struct hr_strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (!hr_strv_has(dst, src->v[i]))
            hr_strv_push(dst, src->v[i]);
}

/* Move what src has that dst lacks into dst. */
void hr_libset_merge(struct hr_libset *dst, struct hr_libset *src)
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
int hr_libset_glibc_check(const struct hr_libset *s, const char *set,
                          const struct hr_glibc_have *have, char *err, size_t errlen)
{
    hr_autofree char *need = NULL, *got = NULL;

    if (!s->glibc_need || (have->version && have->version >= s->glibc_need))
        return 0;
    need = hr_glibc_version_str(s->glibc_need);
    if (!have->version)
        return hr_fail(err, errlen,
                       "host %s libraries need glibc %s (%s), and %s has no glibc "
                       "(libc.so.6)",
                       set, need, s->glibc_need_by ? s->glibc_need_by : "?", have->image);
    got = hr_glibc_version_str(have->version);
    return hr_fail(err, errlen, "host %s libraries need glibc %s (%s), %s has glibc %s",
                   set, need, s->glibc_need_by ? s->glibc_need_by : "?", have->image,
                   got);
}

static void raise_glibc(struct hr_libset *s, unsigned need, const char *who)
{
    if (need <= s->glibc_need)
        return;
    s->glibc_need = need;
    free(s->glibc_need_by);
    s->glibc_need_by = hr_xstrdup(who);
}

static void queue_needed(struct planner *pl, const struct hr_elf *e, const char *parent,
                         const char *dir)
{
    for (size_t i = 0; i < e->needed.n; i++) {
        pl->q = hr_xrealloc(pl->q, (pl->nq + 1) * sizeof(*pl->q));
        pl->q[pl->nq++] = (struct dep){.name = hr_xstrdup(e->needed.v[i]),
                                       .parent = hr_xstrdup(parent),
                                       .dir = dir ? hr_xstrdup(dir) : NULL};
    }
}

/* Bind src (resolved) as name, described by e; its needs join the queue.
 * Takes src and why. */
static void bind_lib(struct planner *pl, char *src, const char *name, char *why,
                     const struct hr_elf *e)
{
    struct hr_libset *s = pl->out;
    hr_autofree char *dir = hr_xstrndup(src, (size_t)(base_name(src) - src));

    s->libs = hr_xrealloc(s->libs, (s->n + 1) * sizeof(*s->libs));
    s->libs[s->n++] =
        (struct hr_hostlib){.src = src, .name = hr_xstrdup(name), .why = why};
    raise_glibc(s, e->glibc_need, name);
    queue_needed(pl, e, name, dir);
}

/* The same for a file not read yet. */
static int add_lib(struct planner *pl, char *src, const char *name, char *why)
{
    struct hr_elf e;

    if (fs_elf(pl, src, &e) < 0) {
        free(src);
        free(why);
        return -1;
    }
    bind_lib(pl, src, name, why, &e);
    hr_elf_free(&e);
    return 0;
}

/* Whether an earlier set kept the image's copy of name (out->kept's entries
 * start with the name and " ("). */
static bool is_kept(const struct hr_libset *s, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < s->kept.n; i++)
        if (strncmp(s->kept.v[i], name, n) == 0 &&
            strncmp(s->kept.v[i] + n, " (", 2) == 0)
            return true;
    return false;
}

static struct named *find_named(const struct planner *pl, const char *name)
{
    for (size_t i = 0; i < pl->nnamed; i++)
        if (strcmp(pl->named[i].name, name) == 0)
            return &pl->named[i];
    return NULL;
}

/* The image's copy of a named library, read if the image's cache has it;
 * one that cannot be read is as good as none. */
static void read_image_copy(const struct planner *pl, struct named *l)
{
    const struct hr_ldcache_entry *e;

    if (!pl->in->image_elf ||
        !(e = hr_ldcache_lookup(pl->in->image_cache, l->name, true)))
        return;
    memset(&l->image, 0, sizeof(l->image));
    l->has_image = pl->in->image_elf(pl->in->image_elf_ctx, e->path, &l->image) == 0;
    if (!l->has_image)
        hr_elf_free(&l->image);
}

/* A library the list names, at host path `path`, bound as `name` (or kept,
 * see settle_named). */
static int named_lib(struct planner *pl, const char *path, const char *name)
{
    struct named *l;
    char *src;

    /* glibc comes from the image, whatever a list says: the image's ld.so
     * and libc.so.6 must match */
    if (!is_file_name(name) || hr_soname_is_glibc(name))
        return 0;
    if (!(src = fs_resolve(pl, path)))
        return 0; /* a stale cache entry or link: absent */
    pl->found++;
    if (hr_libset_has(pl->out, name) || is_kept(pl->out, name) || find_named(pl, name)) {
        free(src);
        return 0;
    }
    pl->named = hr_xrealloc(pl->named, (pl->nnamed + 1) * sizeof(*pl->named));
    l = &pl->named[pl->nnamed++];
    *l = (struct named){.src = src, .name = hr_xstrdup(name)};
    if (fs_elf(pl, src, &l->host) < 0)
        return -1;
    read_image_copy(pl, l);
    return 0;
}

/* ---- which of the image's copies stay --------------------------------------- */

/* Private versions tie the libraries of one package to each other, not to
 * programs (rdma-core's IBVERBS_PRIVATE_<n>, glibc's GLIBC_PRIVATE). */
static bool is_private_version(const char *v)
{
    return strstr(v, "PRIVATE") != NULL;
}

/* A version name of the image (untrusted) fit for a message: printable
 * ASCII, at most 64 bytes. */
static char *printable(const char *s)
{
    size_t n = strnlen(s, 65);
    char *p = hr_xstrndup(s, n > 64 ? 61 : n);

    for (char *c = p; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            *c = '?';
    if (n > 64) {
        p = hr_xrealloc(p, 65);
        memcpy(p + 61, "...", 4);
    }
    return p;
}

/* Keep the image's copy if it defines a public version the host's lacks:
 * the image's programs may need it. */
static void keep_if_newer(struct named *l)
{
    struct hr_strv newer = {0};
    size_t lacking = 0;
    char *list = NULL;

    for (size_t i = 0; i < l->image.verdefs.n; i++) {
        const char *v = l->image.verdefs.v[i];
        if (is_private_version(v) || hr_strv_has(&l->host.verdefs, v))
            continue;
        if (++lacking <= 3)
            hr_strv_push_owned(&newer, printable(v));
    }
    if (!lacking)
        return;
    for (size_t i = 0; i < newer.n; i++) {
        char *next =
            hr_xasprintf("%s%s%s", list ? list : "", list ? ", " : "", newer.v[i]);
        free(list);
        list = next;
    }
    if (lacking > newer.n)
        l->kept = hr_xasprintf("%s (the image's is newer: %s and %zu more)", l->name,
                               list, lacking - newer.n);
    else
        l->kept = hr_xasprintf("%s (the image's is newer: %s)", l->name, list);
    free(list);
    hr_strv_free(&newer);
}

/* Keep the image's copy if the host's needs a version that the image's copy
 * of a kept library lacks. Returns whether it does. */
static bool keep_if_needing_kept(const struct planner *pl, struct named *l)
{
    for (size_t i = 0; i < l->host.n_verneeds; i++) {
        const struct hr_elf_verneed *v = &l->host.verneeds[i];
        const struct named *k = find_named(pl, v->file);
        if (k && k->kept && !hr_strv_has(&k->image.verdefs, v->version)) {
            l->kept = hr_xasprintf("%s (the host's needs %s, which the image's %s lacks)",
                                   l->name, v->version, k->name);
            return true;
        }
    }
    return false;
}

/* Decide which image copies stay, then bind the rest in the list's order.
 * Keeping one library can make another's host copy unusable, so the second
 * rule is applied until a pass keeps nothing more (a list's order says
 * nothing of which library needs which). */
static void settle_named(struct planner *pl)
{
    bool changed = true;

    for (size_t i = 0; i < pl->nnamed; i++)
        if (pl->named[i].has_image)
            keep_if_newer(&pl->named[i]);
    while (changed) {
        changed = false;
        for (size_t i = 0; i < pl->nnamed; i++) {
            struct named *l = &pl->named[i];
            if (l->has_image && !l->kept && keep_if_needing_kept(pl, l))
                changed = true;
        }
    }
    for (size_t i = 0; i < pl->nnamed; i++) {
        struct named *l = &pl->named[i];
        if (l->kept) {
            if (!hr_strv_has(&pl->out->kept, l->kept))
                hr_strv_push(&pl->out->kept, l->kept);
            continue;
        }
        bind_lib(pl, l->src, l->name, hr_xstrdup(pl->set), &l->host);
        l->src = NULL;
    }
}

static void free_named(struct planner *pl)
{
    for (size_t i = 0; i < pl->nnamed; i++) {
        struct named *l = &pl->named[i];
        free(l->src);
        free(l->name);
        free(l->kept);
        hr_elf_free(&l->host);
        hr_elf_free(&l->image);
    }
    free(pl->named);
    pl->named = NULL;
    pl->nnamed = 0;
}

static bool is_pattern(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int add_libs(struct planner *pl, const char *word)
{
    const struct hr_ldcache *c = pl->in->host_cache;
    const struct hr_ldcache_entry *e;
    struct hr_strv matches = {0};
    int rc = 0;

    if (word[0] == '/') {
        fs_glob(pl, word, &matches);
        for (size_t i = 0; i < matches.n && rc == 0; i++)
            rc = named_lib(pl, matches.v[i], base_name(matches.v[i]));
        hr_strv_free(&matches);
        return rc;
    }
    if (!is_pattern(word))
        return (e = hr_ldcache_lookup(c, word, false)) ? named_lib(pl, e->path, e->name)
                                                       : 0;
    for (size_t i = 0; c && i < c->n && rc == 0; i++) {
        e = &c->e[i];
        if (e->flags == hr_ldcache_native_flags && e->hwcap == 0 &&
            fnmatch(word, e->name, 0) == 0 && !hr_strv_has(&matches, e->name)) {
            hr_strv_push(&matches, e->name);
            rc = named_lib(pl, e->path, e->name);
        }
    }
    hr_strv_free(&matches);
    return rc;
}

static void add_tool(struct planner *pl, const char *word)
{
    const char *const *dirs = pl->in->tool_dirs;
    char *path = NULL;
    struct hr_elf e;

    if (word[0] == '/') {
        path = fs_exists(pl, word) ? hr_xstrdup(word) : NULL;
    } else if (is_file_name(word)) {
        for (size_t i = 0; dirs && dirs[i] && !path; i++) {
            path = hr_path_join(dirs[i], word);
            if (!fs_exists(pl, path)) {
                free(path);
                path = NULL;
            }
        }
    }
    if (!path)
        return;
    for (size_t i = 0; i < pl->out->tools.n; i++)
        if (strcmp(base_name(pl->out->tools.v[i]), base_name(path)) == 0) {
            free(path);
            return;
        }
    hr_strv_push_owned(&pl->out->tools, path);
    /* a tool may be a script: then it has no libraries to bring (and err,
     * which fs_elf set, says nothing to anyone: the set is not refused) */
    if (fs_elf(pl, path, &e) == 0) {
        raise_glibc(pl->out, e.glibc_need, base_name(path));
        queue_needed(pl, &e, base_name(path), NULL);
    }
    hr_elf_free(&e);
}

static bool is_env_name(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* "DIR" or "DIR=VAR". */
static int add_dir(struct planner *pl, const char *word)
{
    struct hr_libset *s = pl->out;
    const char *eq = strchr(word, '=');
    hr_autofree char *given =
        eq ? hr_xstrndup(word, (size_t)(eq - word)) : hr_xstrdup(word);
    hr_autofree char *dir = hr_path_normalize(given); /* NULL if relative */
    const char *var = eq ? eq + 1 : NULL, *name = dir ? base_name(dir) : "";
    hr_autofree char *prefix = NULL;

    if (!dir || !is_file_name(name) || (var && !is_env_name(var)))
        return hr_fail(
            pl->err, pl->errlen,
            "%s host directories: \"%s\": want an absolute DIR or DIR=VARIABLE", pl->set,
            word);
    if (!fs_exists(pl, dir))
        return 0;
    for (size_t i = 0; i < s->dirs.n; i++)
        if (strcmp(base_name(s->dirs.v[i]), name) == 0 && strcmp(s->dirs.v[i], dir) != 0)
            return 0; /* another directory of that name is bound there already */
    if (!hr_strv_has(&s->dirs, dir))
        hr_strv_push(&s->dirs, dir);
    if (!var)
        return 0;
    prefix = hr_xasprintf("%s=", var);
    for (size_t i = 0; i < s->env.n; i++)
        if (strncmp(s->env.v[i], prefix, strlen(prefix)) == 0)
            return 0;
    hr_strv_push_owned(&s->env, hr_xasprintf("%s%s/%s", prefix, HR_HOSTETC_DIR, name));
    return 0;
}

/* One dependency: glibc's and the image's own are left to the image. */
static int add_dep(struct planner *pl, const struct dep *d)
{
    const struct hr_ldcache_entry *e;
    hr_autofree char *next_to = NULL;
    const char *path = NULL;
    char *src = NULL;

    if (hr_soname_is_glibc(d->name) || hr_libset_has(pl->out, d->name) ||
        hr_ldcache_lookup(pl->in->image_cache, d->name, true))
        return 0;
    if (is_file_name(d->name)) {
        if ((e = hr_ldcache_lookup(pl->in->host_cache, d->name, true)))
            path = e->path;
        else if (d->dir && fs_exists(pl, (next_to = hr_path_join(d->dir, d->name))))
            path = next_to;
    }
    if (!path || !(src = fs_resolve(pl, path))) {
        char *m = hr_xasprintf("%s (needed by %s)", d->name, d->parent);
        if (hr_strv_has(&pl->out->missing, m))
            free(m);
        else
            hr_strv_push_owned(&pl->out->missing, m);
        return 0;
    }
    return add_lib(pl, src, d->name, hr_xasprintf("dependency of %s", d->parent));
}

/* Each whitespace-separated word of list through fn; stops at an error. */
static int each_word(struct planner *pl, const char *list,
                     int (*fn)(struct planner *, const char *))
{
    hr_autofree char *copy = hr_xstrdup(list ? list : "");
    char *save = NULL;

    for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
        if (fn(pl, w) < 0)
            return -1;
    return 0;
}

static int add_tool_word(struct planner *pl, const char *word)
{
    add_tool(pl, word);
    return 0;
}

int hr_libset_add(struct hr_libset *out, const struct hr_libset_input *in,
                  const struct hr_liblist *list, char *err, size_t errlen)
{
    struct planner pl = {
        .out = out, .in = in, .set = list->set, .err = err, .errlen = errlen};
    int rc = each_word(&pl, list->libs, add_libs);

    if (rc == 0)
        settle_named(&pl);
    free_named(&pl);
    if (rc == 0)
        rc = each_word(&pl, list->tools, add_tool_word);
    if (rc == 0)
        rc = each_word(&pl, list->dirs, add_dir);
    /* the queue grows while it is walked; each name is bound once, so it
     * ends when no new library appears */
    for (pl.next = 0; rc == 0 && pl.next < pl.nq; pl.next++)
        rc = add_dep(&pl, &pl.q[pl.next]);
    for (size_t i = 0; i < pl.nq; i++) {
        free(pl.q[i].name);
        free(pl.q[i].parent);
        free(pl.q[i].dir);
    }
    free(pl.q);
    return rc < 0 ? -1 : pl.found;
}

void hr_libset_free(struct hr_libset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->libs[i].src);
        free(s->libs[i].name);
        free(s->libs[i].why);
    }
    free(s->libs);
    hr_strv_free(&s->tools);
    hr_strv_free(&s->dirs);
    hr_strv_free(&s->env);
    hr_strv_free(&s->missing);
    hr_strv_free(&s->kept);
    free(s->glibc_need_by);
    memset(s, 0, sizeof(*s));
}

/* ---- MPI ABI ---------------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The MPICH ABI initiative's soname (MPICH >= 3.1, Intel MPI >= 5, MVAPICH2
 * >= 2.0, Cray MPICH's libmpi_cray.so.12 and friends). */
static bool is_mpich_abi(const char *soname)
{
    return strcmp(soname, "libmpi.so.12") == 0 || strcmp(soname, "libmpich.so.12") == 0 ||
           (strncmp(soname, "libmpi_", 7) == 0 && has_suffix(soname, ".so.12"));
}

static bool is_openmpi(const char *soname)
{
    return strcmp(soname, "libmpi.so.40") == 0 || strcmp(soname, "libmpi.so.20") == 0;
}

int hr_mpi_identify(hr_pread_fn rd, void *ctx, struct hr_mpi_info *out, char *err,
                    size_t errlen)
{
    static const char *const mpich_symbols[] = {"MPII_Version_string",
                                                "MPIR_Version_string"};
    const struct hr_elf_source src = {rd, ctx};
    struct hr_elf e;
    int rc;

    memset(out, 0, sizeof(*out));
    if (hr_elf_read(rd, ctx, &e, err, errlen) < 0)
        return -1;
    out->soname = e.soname ? hr_xstrdup(e.soname) : NULL;
    hr_elf_free(&e);
    rc = hr_elf_symbol_string(&src, "ompi_version_string", &out->version, err, errlen);
    if (rc == 1) {
        out->flavour = HR_MPI_OPENMPI;
        return 0;
    }
    for (size_t i = 0; rc == 0 && i < HR_ARRAY_LEN(mpich_symbols); i++)
        rc = hr_elf_symbol_string(&src, mpich_symbols[i], &out->version, err, errlen);
    if (rc < 0) {
        hr_mpi_info_free(out);
        return -1;
    }
    if (out->soname && is_mpich_abi(out->soname))
        out->flavour = HR_MPI_MPICH;
    else if (out->soname && is_openmpi(out->soname))
        out->flavour = HR_MPI_OPENMPI;
    return 0;
}

void hr_mpi_info_free(struct hr_mpi_info *m)
{
    free(m->soname);
    free(m->version);
    memset(m, 0, sizeof(*m));
}

/* "Open MPI 4.1.4 (libmpi.so.40)" */
static char *mpi_describe(const struct hr_mpi_info *m)
{
    const char *flavour = m->flavour == HR_MPI_MPICH     ? "MPICH"
                          : m->flavour == HR_MPI_OPENMPI ? "Open MPI"
                                                         : "an unknown MPI";
    return hr_xasprintf("%s %s (%s)", flavour,
                        m->version ? m->version : "(version unknown)",
                        m->soname ? m->soname : "no soname");
}

/* The major version of "4.1.4" or "v4.1.4"; -1 if it does not start so. */
static long major_version(const char *v)
{
    char *end;
    long major;

    if (!v)
        return -1;
    if (*v == 'v')
        v++;
    if (!isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    major = strtol(v, &end, 10);
    return errno || (*end != '.' && *end != '\0') ? -1 : major;
}

int hr_mpi_compatible(const struct hr_mpi_info *host, const struct hr_mpi_info *image,
                      char *err, size_t errlen)
{
    hr_autofree char *h = mpi_describe(host);
    hr_autofree char *i = mpi_describe(image);
    long hmajor, imajor;

    if (host->flavour == HR_MPI_NONE || image->flavour == HR_MPI_NONE)
        return hr_fail(err, errlen,
                       "host MPI is %s, the image's is %s: only the MPICH ABI "
                       "(libmpi.so.12) and Open MPI (libmpi.so.40) are known",
                       h, i);
    if (host->flavour != image->flavour)
        return hr_fail(err, errlen,
                       "host MPI is %s, the image's is %s: not ABI-compatible", h, i);
    if (host->flavour == HR_MPI_MPICH)
        return 0;
    if (!host->soname || !image->soname || strcmp(host->soname, image->soname) != 0)
        return hr_fail(err, errlen,
                       "host MPI is %s, the image's is %s: not ABI-compatible", h, i);
    hmajor = major_version(host->version);
    imajor = major_version(image->version);
    if (hmajor < 0 || imajor < 0)
        return hr_fail(err, errlen,
                       "host MPI is %s, the image's is %s: cannot tell whether they are "
                       "ABI-compatible (Open MPI needs the same major version)",
                       h, i);
    if (hmajor != imajor)
        return hr_fail(err, errlen,
                       "host MPI is %s, the image's is %s: not ABI-compatible (Open MPI "
                       "needs the same major version)",
                       h, i);
    return 0;
}
