/* The library-set planner against the fake host of mkfakehost.sh (its files
 * seen through callbacks that put the fake root in front of every path, the
 * fake images' through one that puts an image's in front), the shipped lists
 * against this machine, and the MPI ABI check against
 * look-alike libraries and, where installed, the real MPICH and Open MPI. */
#include "autoconfig.h"

#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/hostlibs.h"
#include "unit.h"

#define MPI_DIR HR_FAKEHOST "/host/fake/mpi"

static char root[PATH_MAX];
static size_t rootlen;

static char *in_root(const char *path)
{
    return hr_xasprintf("%s%s", root, path);
}

/* A path of the fake root as the host would name it, or NULL if it is not
 * below the root. */
static char *out_of_root(const char *path)
{
    if (strncmp(path, root, rootlen) != 0 || path[rootlen] != '/')
        return NULL;
    return hr_xstrdup(path + rootlen);
}

static bool fake_exists(const char *path)
{
    hr_autofree char *p = in_root(path);
    return access(p, F_OK) == 0;
}

static char *fake_resolve(const char *path)
{
    hr_autofree char *p = in_root(path);
    hr_autofree char *r = realpath(p, NULL);
    return r ? out_of_root(r) : NULL;
}

static void fake_glob(const char *pattern, struct hr_strv *out)
{
    hr_autofree char *p = in_root(pattern);
    glob_t g;

    if (glob(p, 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++)
            hr_strv_push_owned(out, out_of_root(g.gl_pathv[i]));
    globfree(&g);
}

static int elf_reads;
static int fake_elf(void *ctx, const char *path, struct hr_elf *out)
{
    hr_autofree char *p = in_root(path);
    char err[256];

    (*(int *)ctx)++;
    return hr_elf_read_path(p, out, err, sizeof(err));
}

static struct hr_ldcache host_cache, image_cache;
static const char *const tool_dirs[] = {"/nowhere", "/fake/bin", NULL};

static struct hr_libset_input fake_input(bool with_image)
{
    return (struct hr_libset_input){
        .host_cache = &host_cache,
        .image_cache = with_image ? &image_cache : NULL,
        .elf = fake_elf,
        .elf_ctx = &elf_reads,
        .tool_dirs = tool_dirs,
        .exists = fake_exists,
        .resolve = fake_resolve,
        .glob = fake_glob,
    };
}

static bool lib_is(const struct hr_libset *s, size_t i, const char *name, const char *src,
                   const char *why)
{
    if (i >= s->n)
        return false;
    if (strcmp(s->libs[i].name, name) == 0 && strcmp(s->libs[i].src, src) == 0 &&
        strcmp(s->libs[i].why, why) == 0)
        return true;
    printf("lib %zu: %s <- %s (%s)\n", i, s->libs[i].name, s->libs[i].src,
           s->libs[i].why);
    return false;
}

static int add(struct hr_libset *s, bool with_image, const char *set, const char *libs,
               const char *tools, const char *dirs, char *err, size_t errlen)
{
    struct hr_libset_input in = fake_input(with_image);
    struct hr_liblist list = {.set = set, .libs = libs, .tools = tools, .dirs = dirs};
    return hr_libset_add(s, &in, &list, err, errlen);
}

/* The brief's example: a driver library, its dependency, a library this
 * node lacks; glibc's libraries stay out. */
static void test_closure(void)
{
    struct hr_libset s = {0};
    char err[256];

    CHECK(add(&s, false, "nvidia", "libfakecuda.so.1 libmissing.so.9", NULL, NULL, err,
              sizeof(err)) == 1);
    CHECK(s.n == 2);
    CHECK(lib_is(&s, 0, "libfakecuda.so.1", "/fake/lib/libfakecuda.so.1.0", "nvidia"));
    CHECK(lib_is(&s, 1, "libfakedep.so.2", "/fake/lib/libfakedep.so.2.0",
                 "dependency of libfakecuda.so.1"));
    /* libm.so.6 and libc.so.6 are glibc's; libfakegone is nowhere */
    CHECK(s.missing.n == 1);
    CHECK_STR(s.missing.v[0], "libfakegone.so.7 (needed by libfakecuda.so.1)");
    CHECK(s.glibc_need == 2026);
    CHECK_STR(s.glibc_need_by, "libfakedep.so.2");
    CHECK(s.tools.n == 0 && s.dirs.n == 0 && s.env.n == 0);

    /* a second set adds nothing twice, and counts what it found */
    CHECK(add(&s, false, "verbs", "libfakedep.so.2 libfakecuda.so", NULL, NULL, err,
              sizeof(err)) == 2);
    CHECK(s.n == 2);
    CHECK(lib_is(&s, 1, "libfakedep.so.2", "/fake/lib/libfakedep.so.2.0",
                 "dependency of libfakecuda.so.1"));
    hr_libset_free(&s);
    CHECK(s.n == 0 && s.libs == NULL && s.glibc_need_by == NULL);

    /* nothing of the list on this host */
    CHECK(add(&s, false, "amd", "libamdhip64.so libhsa-runtime64.so.1", "rocm-smi", "",
              err, sizeof(err)) == 0);
    CHECK(s.n == 0 && s.tools.n == 0 && s.glibc_need == 0);
    hr_libset_free(&s);
}

/* What the image's ld.so.cache has is not bound as a dependency, but a
 * library the list names is bound even so. */
static void test_image_provides(void)
{
    struct hr_libset s = {0};
    char err[256];

    CHECK(add(&s, true, "nvidia", "libfakecuda.so.1", NULL, NULL, err, sizeof(err)) == 1);
    CHECK(s.n == 1);
    CHECK(lib_is(&s, 0, "libfakecuda.so.1", "/fake/lib/libfakecuda.so.1.0", "nvidia"));
    CHECK(s.glibc_need >= 2002 && s.glibc_need < 2026);
    CHECK_STR(s.glibc_need_by, "libfakecuda.so.1");
    hr_libset_free(&s);

    CHECK(add(&s, true, "mpi", "libfakedep.so.2", NULL, NULL, err, sizeof(err)) == 1);
    CHECK(s.n == 1);
    CHECK(lib_is(&s, 0, "libfakedep.so.2", "/fake/lib/libfakedep.so.2.0", "mpi"));
    hr_libset_free(&s);
}

static void test_names(void)
{
    struct hr_libset s = {0};
    char err[256];

    /* a prefix binds the library under the soname the cache has */
    CHECK(add(&s, true, "nvidia", "libfakecuda.so", NULL, NULL, err, sizeof(err)) == 1);
    CHECK(lib_is(&s, 0, "libfakecuda.so.1", "/fake/lib/libfakecuda.so.1.0", "nvidia"));
    hr_libset_free(&s);
    /* a pattern binds every cache entry it matches */
    CHECK(add(&s, true, "x", "libfake*.so.*", NULL, NULL, err, sizeof(err)) == 2);
    CHECK(s.n == 2);
    for (size_t i = 0; i < s.n; i++)
        CHECK_STR(s.libs[i].why, "x");
    hr_libset_free(&s);
    CHECK(add(&s, true, "x", "libnothing*", NULL, NULL, err, sizeof(err)) == 0);
    hr_libset_free(&s);
}

/* A provider plugin found by an absolute pattern; what it needs is found in
 * the cache or, as with $ORIGIN, next to it. */
static void test_providers(void)
{
    struct hr_libset s = {0};
    char err[256];

    CHECK(add(&s, false, "verbs",
              "/fake/lib/libibverbs/lib*-rdmav*.so /fake/none/lib*.so", NULL, NULL, err,
              sizeof(err)) == 1);
    CHECK(s.n == 4);
    CHECK(lib_is(&s, 0, "libfakeprov-rdmav34.so",
                 "/fake/lib/libibverbs/libfakeprov-rdmav34.so", "verbs"));
    CHECK(lib_is(&s, 1, "libfakecuda.so.1", "/fake/lib/libfakecuda.so.1.0",
                 "dependency of libfakeprov-rdmav34.so"));
    CHECK(lib_is(&s, 2, "libfakeorigin.so.3", "/fake/lib/libibverbs/libfakeorigin.so.3",
                 "dependency of libfakeprov-rdmav34.so"));
    CHECK(lib_is(&s, 3, "libfakedep.so.2", "/fake/lib/libfakedep.so.2.0",
                 "dependency of libfakecuda.so.1"));
    hr_libset_free(&s);
}

static void test_tools(void)
{
    struct hr_libset s = {0};
    char err[256];

    CHECK(add(&s, true, "nvidia", NULL,
              "fake-smi fake-script absent-smi /fake/bin/fake-smi", NULL, err,
              sizeof(err)) == 0);
    CHECK(s.tools.n == 2);
    CHECK_STR(s.tools.v[0], "/fake/bin/fake-smi");
    CHECK_STR(s.tools.v[1], "/fake/bin/fake-script");
    /* the tool's libraries come along; the image has libfakedep */
    CHECK(s.n == 1);
    CHECK(lib_is(&s, 0, "libfakecuda.so.1", "/fake/lib/libfakecuda.so.1.0",
                 "dependency of fake-smi"));
    CHECK(s.glibc_need >= 2002);
    CHECK(s.glibc_need_by != NULL);
    hr_libset_free(&s);
}

static void test_dirs(void)
{
    struct hr_libset s = {0};
    char err[256];

    CHECK(
        add(&s, false, "verbs", NULL, NULL,
            "/fake/etc/fake.d=FAKE_CONFIG_DIR /fake/etc/absent.d=ABSENT /fake/etc/fake.d",
            err, sizeof(err)) == 0);
    CHECK(s.dirs.n == 1);
    CHECK_STR(s.dirs.v[0], "/fake/etc/fake.d");
    CHECK(s.env.n == 1);
    CHECK_STR(s.env.v[0], "FAKE_CONFIG_DIR=" HR_HOSTETC_DIR "/fake.d");
    /* another set naming the same directory and variable adds nothing */
    CHECK(add(&s, false, "cxi", NULL, NULL, "/fake/etc/fake.d=FAKE_CONFIG_DIR", err,
              sizeof(err)) == 0);
    CHECK(s.dirs.n == 1 && s.env.n == 1);
    hr_libset_free(&s);

    CHECK(add(&s, false, "verbs", NULL, NULL, "fake.d=X", err, sizeof(err)) < 0);
    CHECK(strstr(err, "fake.d=X"));
    CHECK(add(&s, false, "verbs", NULL, NULL, "/fake/etc/fake.d=1X", err, sizeof(err)) <
          0);
    CHECK(add(&s, false, "verbs", NULL, NULL, "/=X", err, sizeof(err)) < 0);
    hr_libset_free(&s);
}

static void test_refusals(void)
{
    struct hr_libset s = {0};
    char err[256];

    /* glibc's own libraries come from the image, whatever a list says */
    hr_ldcache_add(&host_cache, "libc.so.6", "/fake/lib/libfakedep.so.2", false);
    CHECK(add(&s, false, "x", "libc.so.6", NULL, NULL, err, sizeof(err)) == 0);
    CHECK(s.n == 0);
    hr_libset_free(&s);
    /* a library that is no ELF object is an error */
    hr_ldcache_add(&host_cache, "libbroken.so.1", "/fake/bin/fake-script", false);
    CHECK(add(&s, false, "x", "libbroken.so.1", NULL, NULL, err, sizeof(err)) < 0);
    CHECK(strstr(err, "/fake/bin/fake-script"));
    hr_libset_free(&s);
    /* a stale cache entry is a library this host lacks */
    hr_ldcache_add(&host_cache, "libstale.so.1", "/fake/lib/libstale.so.1", false);
    CHECK(add(&s, false, "x", "libstale.so.1", NULL, NULL, err, sizeof(err)) == 0);
    hr_libset_free(&s);
}

/* ---- the image's newer copies ---------------------------------------------- */

/* Which fake image the image's files are read from: "newer", "same", one
 * that has none ("absent"), or "hostile" (a made-up description). */
struct image_ctx {
    const char *variant;
    int reads;
};

static int fake_image_elf(void *ctx, const char *path, struct hr_elf *out)
{
    struct image_ctx *c = ctx;
    hr_autofree char *p = hr_xasprintf("%s/image/%s%s", HR_FAKEHOST, c->variant, path);
    char err[256];

    c->reads++;
    if (strcmp(c->variant, "hostile") != 0)
        return hr_elf_read_path(p, out, err, sizeof(err));
    memset(out, 0, sizeof(*out));
    hr_strv_push(&out->verdefs, "FAKE_1.0");
    hr_strv_push(&out->verdefs, "FAKE_\x1b[31m");
    hr_strv_push(&out->verdefs, "FAKE_PRIVATE_9");
    hr_strv_push_owned(&out->verdefs, hr_xasprintf("FAKE_%0100d", 1));
    hr_strv_push(&out->verdefs, "B");
    hr_strv_push(&out->verdefs, "C");
    return 0;
}

static int add_fab(struct hr_libset *s, const struct hr_ldcache *image,
                   struct image_ctx *ctx, const char *set, const char *libs)
{
    struct hr_libset_input in = fake_input(false);
    struct hr_liblist list = {.set = set, .libs = libs};
    char err[256];
    int rc;

    in.image_cache = image;
    in.image_elf = ctx ? fake_image_elf : NULL;
    in.image_elf_ctx = ctx;
    rc = hr_libset_add(s, &in, &list, err, sizeof(err));
    if (rc < 0)
        printf("add_fab: %s\n", err);
    return rc;
}

#define FAB_KEPT "libfakefab.so.1 (the image's is newer: FAKE_1.1)"
#define MLX_KEPT                                                                         \
    "libfakemlx.so.1 (the host's needs FAKE_PRIVATE_1, which the image's "               \
    "libfakefab.so.1 lacks)"

/* A library the list names is bound over the image's copy unless that copy
 * is newer, or the host's copy needs what the image's kept copy lacks. */
static void test_image_newer(void)
{
    struct hr_ldcache image = {0}, image_fab_only = {0};
    struct image_ctx newer = {"newer", 0}, same = {"same", 0}, absent = {"absent", 0};
    struct image_ctx hostile = {"hostile", 0};
    struct hr_libset s = {0};
    hr_autofree char *want = NULL;

    hr_ldcache_add(&host_cache, "libfakefab.so.1", "/fake/fab/libfakefab.so.1", false);
    hr_ldcache_add(&host_cache, "libfakemlx.so.1", "/fake/fab/libfakemlx.so.1", false);
    hr_ldcache_add(&image, "libfakefab.so.1", "/lib/libfakefab.so.1", false);
    hr_ldcache_add(&image, "libfakemlx.so.1", "/lib/libfakemlx.so.1", false);
    hr_ldcache_add(&image_fab_only, "libfakefab.so.1", "/lib/libfakefab.so.1", false);

    /* the image defines FAKE_1.1, the host only FAKE_1.0: the image keeps
     * its copy, and the host's libfakemlx, which needs the host's private
     * version, goes with it; found on the host even so */
    CHECK(add_fab(&s, &image, &newer, "verbs", "libfakefab.so.1 libfakemlx.so.1") == 2);
    CHECK(s.n == 0 && s.missing.n == 0);
    CHECK(s.kept.n == 2);
    CHECK(s.kept.n == 2 && strcmp(s.kept.v[0], FAB_KEPT) == 0 &&
          strcmp(s.kept.v[1], MLX_KEPT) == 0);
    CHECK(newer.reads == 2);
    /* another set naming it again neither binds it nor says so twice */
    CHECK(add_fab(&s, &image, &newer, "cxi", "libfakefab.so.1") == 1);
    CHECK(s.n == 0 && s.kept.n == 2);
    hr_libset_free(&s);
    CHECK(s.kept.n == 0 && s.kept.v == NULL);

    /* whatever the list's order */
    CHECK(add_fab(&s, &image, &newer, "verbs", "libfakemlx.so.1 libfakefab.so.1") == 2);
    CHECK(s.n == 0 && s.kept.n == 2);
    CHECK(hr_strv_has(&s.kept, FAB_KEPT) && hr_strv_has(&s.kept, MLX_KEPT));
    hr_libset_free(&s);

    /* an image that lacks libfakemlx: the host's is bound, there is no other */
    CHECK(add_fab(&s, &image_fab_only, &newer, "verbs",
                  "libfakefab.so.1 libfakemlx.so.1") == 2);
    CHECK(s.n == 1 && s.kept.n == 1);
    CHECK(lib_is(&s, 0, "libfakemlx.so.1", "/fake/fab/libfakemlx.so.1", "verbs"));
    CHECK_STR(s.kept.v[0], FAB_KEPT);
    hr_libset_free(&s);

    /* the same public versions: the host's copies are bound, though their
     * private versions differ (FAKE_PRIVATE_1 and the image's _0) */
    CHECK(add_fab(&s, &image, &same, "verbs", "libfakefab.so.1 libfakemlx.so.1") == 2);
    CHECK(s.n == 2 && s.kept.n == 0);
    CHECK(lib_is(&s, 0, "libfakefab.so.1", "/fake/fab/libfakefab.so.1", "verbs"));
    CHECK(lib_is(&s, 1, "libfakemlx.so.1", "/fake/fab/libfakemlx.so.1", "verbs"));
    hr_libset_free(&s);

    /* without the callback, or when the image's copy cannot be read: the
     * host's copies are bound as ever */
    CHECK(add_fab(&s, &image, NULL, "verbs", "libfakefab.so.1 libfakemlx.so.1") == 2);
    CHECK(s.n == 2 && s.kept.n == 0);
    hr_libset_free(&s);
    CHECK(add_fab(&s, &image, &absent, "verbs", "libfakefab.so.1 libfakemlx.so.1") == 2);
    CHECK(s.n == 2 && s.kept.n == 0);
    CHECK(absent.reads == 2);
    hr_libset_free(&s);

    /* the image's version names are untrusted: shown printable, short, and
     * three at most */
    CHECK(add_fab(&s, &image_fab_only, &hostile, "verbs", "libfakefab.so.1") == 1);
    CHECK(s.n == 0 && s.kept.n == 1);
    want =
        hr_xasprintf("libfakefab.so.1 (the image's is newer: FAKE_?[31m, FAKE_%056d..., "
                     "B and 1 more)",
                     0);
    CHECK_STR(s.kept.v[0], want);
    hr_libset_free(&s);

    hr_ldcache_free(&image);
    hr_ldcache_free(&image_fab_only);
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* The shipped lists, and the verbs set planned on this very machine. */
static void test_defaults(void)
{
    const struct hr_liblist *l;
    struct hr_ldcache c;
    struct hr_libset s = {0};
    struct hr_libset_input in = {.host_cache = &c, .tool_dirs = tool_dirs};
    char err[256];
    int n, bad = 0;

    CHECK((l = hr_liblist_default("nvidia")) && has_word(l->libs, "libcuda.so.1") &&
          has_word(l->libs, "libnvidia-ml.so.1") && has_word(l->tools, "nvidia-smi"));
    CHECK((l = hr_liblist_default("amd")) && has_word(l->libs, "libamdhip64.so") &&
          has_word(l->tools, "rocminfo"));
    CHECK((l = hr_liblist_default("intel")) && has_word(l->libs, "libze_loader.so.1") &&
          !*l->tools);
    CHECK((l = hr_liblist_default("verbs")) && has_word(l->libs, "libibverbs.so.1") &&
          has_word(l->dirs, "/etc/libibverbs.d=IBV_CONFIG_DIR"));
    CHECK((l = hr_liblist_default("cxi")) && has_word(l->libs, "libcxi.so.1"));
    CHECK((l = hr_liblist_default("mpi")) && !*l->libs && !*l->tools && !*l->dirs);
    CHECK(hr_liblist_default("bogus") == NULL);

    CHECK(hr_ldcache_load("/etc/ld.so.cache", &c, err, sizeof(err)) == 0);
    l = hr_liblist_default("verbs");
    n = hr_libset_add(&s, &in, l, err, sizeof(err));
    CHECK(n >= 0);
    if (n < 0)
        printf("verbs: %s\n", err);
    if (hr_ldcache_find(&c, "libibverbs.so.1"))
        CHECK(n > 0);
    for (size_t i = 0; i < s.n; i++) {
        bad += hr_soname_is_glibc(s.libs[i].name) || access(s.libs[i].src, R_OK) != 0;
        for (size_t j = 0; j < i; j++)
            bad += strcmp(s.libs[i].name, s.libs[j].name) == 0;
    }
    CHECK(bad == 0); /* no glibc, no duplicate, every file there */
    if (access("/etc/libibverbs.d", F_OK) == 0) {
        CHECK(s.env.n >= 1);
        CHECK_STR(s.env.v[0], "IBV_CONFIG_DIR=" HR_HOSTETC_DIR "/libibverbs.d");
    }
    hr_libset_free(&s);
    hr_ldcache_free(&c);
}

/* ---- MPI ---------------------------------------------------------------- */

static int identify(const char *path, struct hr_mpi_info *m)
{
    hr_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    char err[256];

    memset(m, 0, sizeof(*m));
    if (fd < 0)
        return -1;
    return hr_mpi_identify(hr_pread_fd, &fd, m, err, sizeof(err));
}

static void test_mpi_identify(void)
{
    static const struct {
        const char *file;
        enum hr_mpi_flavour flavour;
        const char *soname, *version;
    } cases[] = {
        {"mpich.so", HR_MPI_MPICH, "libmpi.so.12", "4.1.0"},
        {"mvapich.so", HR_MPI_MPICH, "libmpich.so.12", "3.2.1"},
        {"cray.so", HR_MPI_MPICH, "libmpi_cray.so.12", "8.1.28"},
        {"ompi5.so", HR_MPI_OPENMPI, "libmpi.so.40", "5.0.3"},
        {"ompi4.so", HR_MPI_OPENMPI, "libmpi.so.40", "4.1.6"},
        {"ompi110.so", HR_MPI_OPENMPI, "libmpi.so.12", "1.10.7"},
        {"other.so", HR_MPI_NONE, "libother.so.1", NULL},
        {"nover.so", HR_MPI_MPICH, "libmpi.so.12", NULL},
    };
    struct hr_mpi_info m;
    char err[256];

    for (size_t i = 0; i < HR_ARRAY_LEN(cases); i++) {
        hr_autofree char *path = hr_path_join(MPI_DIR, cases[i].file);
        CHECK(identify(path, &m) == 0);
        CHECK(m.flavour == cases[i].flavour);
        CHECK_STR(m.soname, cases[i].soname);
        if (cases[i].version)
            CHECK_STR(m.version, cases[i].version);
        else
            CHECK(m.version == NULL);
        hr_mpi_info_free(&m);
    }
    {
        hr_autoclose int fd = open(HR_FAKEHOST "/host/ld.so.cache", O_RDONLY | O_CLOEXEC);
        CHECK(hr_mpi_identify(hr_pread_fd, &fd, &m, err, sizeof(err)) < 0);
        CHECK(strstr(err, "ELF"));
    }
}

static int compatible(const char *host, const char *image, char *err, size_t errlen)
{
    struct hr_mpi_info h, i;
    hr_autofree char *hp = hr_path_join(MPI_DIR, host);
    hr_autofree char *ip = hr_path_join(MPI_DIR, image);
    int rc;

    if (identify(hp, &h) < 0 || identify(ip, &i) < 0)
        return hr_fail(err, errlen, "cannot identify %s or %s", host, image);
    rc = hr_mpi_compatible(&h, &i, err, errlen);
    hr_mpi_info_free(&h);
    hr_mpi_info_free(&i);
    return rc;
}

static void test_mpi_compatible(void)
{
    struct hr_mpi_info unknown = {HR_MPI_OPENMPI, (char *)"libmpi.so.40", NULL};
    struct hr_mpi_info m;
    char err[512];

    /* the MPICH ABI: any two of the family, whatever their versions */
    CHECK(compatible("mpich.so", "mvapich.so", err, sizeof(err)) == 0);
    CHECK(compatible("cray.so", "mpich.so", err, sizeof(err)) == 0);
    CHECK(compatible("nover.so", "mpich.so", err, sizeof(err)) == 0);
    /* Open MPI: the same major version */
    CHECK(compatible("ompi4.so", "ompi4.so", err, sizeof(err)) == 0);
    CHECK(compatible("ompi5.so", "ompi4.so", err, sizeof(err)) < 0);
    CHECK_STR(err, "host MPI is Open MPI 5.0.3 (libmpi.so.40), the image's is Open MPI "
                   "4.1.6 (libmpi.so.40): not ABI-compatible (Open MPI needs the same "
                   "major version)");
    CHECK(compatible("ompi110.so", "ompi4.so", err, sizeof(err)) < 0);
    /* different families */
    CHECK(compatible("ompi4.so", "mpich.so", err, sizeof(err)) < 0);
    CHECK_STR(err,
              "host MPI is Open MPI 4.1.6 (libmpi.so.40), the image's is MPICH 4.1.0 "
              "(libmpi.so.12): not ABI-compatible");
    CHECK(compatible("other.so", "mpich.so", err, sizeof(err)) < 0);
    CHECK(strstr(err, "unknown MPI"));
    /* an Open MPI whose version cannot be told */
    CHECK(identify(MPI_DIR "/ompi4.so", &m) == 0);
    CHECK(hr_mpi_compatible(&m, &unknown, err, sizeof(err)) < 0);
    CHECK(strstr(err, "cannot tell"));
    hr_mpi_info_free(&m);
}

/* Debian's MPICH (libmpich.so.12) and Open MPI (libmpi.so.40), if installed. */
static void test_mpi_real(void)
{
    static const char *const mpich = "/usr/lib/x86_64-linux-gnu/libmpich.so.12";
    static const char *const ompi = "/usr/lib/x86_64-linux-gnu/libmpi.so.40";
    struct hr_mpi_info a, b;
    char err[512];

    if (access(mpich, R_OK) == 0) {
        CHECK(identify(mpich, &a) == 0);
        CHECK(a.flavour == HR_MPI_MPICH);
        CHECK_STR(a.soname, "libmpich.so.12");
        CHECK(a.version && a.version[0] >= '1' && a.version[0] <= '9');
        CHECK(hr_mpi_compatible(&a, &a, err, sizeof(err)) == 0);
    } else {
        printf("note: no %s: real MPICH not tested\n", mpich);
    }
    if (access(ompi, R_OK) == 0) {
        CHECK(identify(ompi, &b) == 0);
        CHECK(b.flavour == HR_MPI_OPENMPI);
        CHECK_STR(b.soname, "libmpi.so.40");
        CHECK(b.version && b.version[0] >= '1' && b.version[0] <= '9');
        CHECK(hr_mpi_compatible(&b, &b, err, sizeof(err)) == 0);
    } else {
        printf("note: no %s: real Open MPI not tested\n", ompi);
    }
    if (access(mpich, R_OK) == 0 && access(ompi, R_OK) == 0) {
        CHECK(hr_mpi_compatible(&b, &a, err, sizeof(err)) < 0);
        CHECK(strstr(err, "host MPI is Open MPI ") && strstr(err, "(libmpi.so.40)") &&
              strstr(err, "the image's is MPICH ") && strstr(err, "not ABI-compatible"));
    }
    if (access(mpich, R_OK) == 0)
        hr_mpi_info_free(&a);
    if (access(ompi, R_OK) == 0)
        hr_mpi_info_free(&b);
}

/* Sets merge by name inside: the first one wins, nothing is bound twice;
 * the highest glibc need stays. */
static void test_merge(void)
{
    struct hr_libset a = {0}, b = {0};
    struct hr_hostlib la[] = {{hr_xstrdup("/h/libcuda.so.550"),
                               hr_xstrdup("libcuda.so.1"), hr_xstrdup("nvidia")}};
    struct hr_hostlib lb[] = {
        {hr_xstrdup("/other/libcuda.so.1"), hr_xstrdup("libcuda.so.1"),
         hr_xstrdup("amd")},
        {hr_xstrdup("/h/libhsa.so.1"), hr_xstrdup("libhsa.so.1"), hr_xstrdup("amd")}};

    a.libs = hr_xmalloc(sizeof(la));
    memcpy(a.libs, la, sizeof(la));
    a.n = 1;
    a.glibc_need = 2017;
    a.glibc_need_by = hr_xstrdup("libcuda.so.1");
    hr_strv_push(&a.tools, "/usr/bin/nvidia-smi");
    b.libs = hr_xmalloc(sizeof(lb));
    memcpy(b.libs, lb, sizeof(lb));
    b.n = 2;
    b.glibc_need = 2034;
    b.glibc_need_by = hr_xstrdup("libhsa.so.1");
    hr_strv_push(&b.tools, "/usr/bin/nvidia-smi");
    hr_strv_push(&b.tools, "/usr/bin/rocm-smi");
    hr_strv_push(&b.env, "HSA=1");
    hr_strv_push(&b.missing, "libx.so.1 (needed by libhsa.so.1)");
    hr_libset_merge(&a, &b);
    CHECK(a.n == 2 && strcmp(a.libs[0].src, "/h/libcuda.so.550") == 0 &&
          strcmp(a.libs[1].name, "libhsa.so.1") == 0);
    CHECK(a.tools.n == 2 && a.env.n == 1 && a.missing.n == 1);
    CHECK(a.glibc_need == 2034);
    CHECK_STR(a.glibc_need_by, "libhsa.so.1");
    hr_libset_free(&b); /* what moved is no longer b's */
    hr_libset_free(&a);
}

static void test_glibc_check(void)
{
    struct hr_libset s = {.glibc_need = 2034, .glibc_need_by = "libcuda.so.1"};
    struct hr_glibc_have have = {.image = "img.sqfs", .version = 2036};
    char err[256];

    CHECK(hr_libset_glibc_check(&s, "nvidia", &have, err, sizeof(err)) == 0);
    have.version = 2034;
    CHECK(hr_libset_glibc_check(&s, "nvidia", &have, err, sizeof(err)) == 0);
    have.version = 2031;
    CHECK(hr_libset_glibc_check(&s, "nvidia", &have, err, sizeof(err)) < 0);
    CHECK_STR(err, "host nvidia libraries need glibc 2.34 (libcuda.so.1), img.sqfs has "
                   "glibc 2.31");
    have.version = 0;
    CHECK(hr_libset_glibc_check(&s, "MPI", &have, err, sizeof(err)) < 0);
    CHECK_STR(err, "host MPI libraries need glibc 2.34 (libcuda.so.1), and img.sqfs has "
                   "no glibc (libc.so.6)");
    s.glibc_need = 0; /* needs nothing: any image, even one without glibc */
    CHECK(hr_libset_glibc_check(&s, "MPI", &have, err, sizeof(err)) == 0);
}

int main(void)
{
    char err[256];

    if (!realpath(HR_FAKEHOST "/host", root)) {
        printf("FAIL: %s/host: no fake host (did mkfakehost.sh run?)\n", HR_FAKEHOST);
        return 1;
    }
    rootlen = strlen(root);
    if (hr_ldcache_load(HR_FAKEHOST "/host/ld.so.cache", &host_cache, err, sizeof(err)) <
            0 ||
        hr_ldcache_load(HR_FAKEHOST "/image/ld.so.cache", &image_cache, err,
                        sizeof(err)) < 0) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    test_closure();
    test_image_provides();
    test_names();
    test_providers();
    test_tools();
    test_dirs();
    test_refusals();
    test_image_newer();
    test_defaults();
    test_mpi_identify();
    test_mpi_compatible();
    test_mpi_real();
    test_merge();
    test_glibc_check();
    CHECK(elf_reads > 0);
    hr_ldcache_free(&host_cache);
    hr_ldcache_free(&image_cache);
    return unit_done();
}
