/* --mpi=host (mpihost.h): which host libraries replace which of the
 * image's sonames. The image's MPI family decides: every soname of the
 * family the image has is bound from the host MPI's directory, over the
 * image's own file as well, and the fabric libraries the host MPI was built
 * against follow from the host.
 * Errors: what refuses --mpi=host logs one line ("--mpi=host: ...") and
 * returns -1; a lookup that finds nothing returns NULL, and its caller
 * decides. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch/mpihost.h"
#include "common/log.h"
#include "common/util.h"
#include "host/hostlibs.h"
#include "launch/image.h"

/* Sonames of the two MPI ABI families, the library itself first. */
static const char *const mpich_names[] = {"libmpi.so.12",     "libmpich.so.12",
                                          "libmpifort.so.12", "libmpichfort.so.12",
                                          "libmpicxx.so.12",  "libmpichcxx.so.12"};
static const char *const ompi_names[] = {
    "libmpi.so.40",           "libmpi_mpifh.so.40",
    "libmpi_usempif08.so.40", "libmpi_usempi_ignore_tkr.so.40",
    "libmpi_cxx.so.40",       "libopen-pal.so.40",
    "libopen-rte.so.40"};

static bool path_exists(const char *path)
{
    return access(path, F_OK) == 0;
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
static char *host_mpi_lib(struct hr_inject_ctx *c, const char *name)
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

/* The image's MPI ABI family: its sonames, the library itself first, and
 * where the image keeps its libmpi. */
struct mpi_family {
    const char *const *names;
    size_t n;
    char *image_lib; /* heap */
};

/* What --mpi=host binds, as the words of a library list (hr_liblist). */
struct mpi_words {
    char *libs; /* sonames */
    char *dirs; /* DIR=VAR: plugin directories */
};

/* The image's MPI family. Returns 0, or -1 (logged). */
static int mpi_family(struct hr_inject_ctx *c, struct mpi_family *fam)
{
    if ((fam->image_lib = hr_inject_find_image_lib(c, "libmpi.so.12")) ||
        (fam->image_lib = hr_inject_find_image_lib(c, "libmpich.so.12"))) {
        fam->names = mpich_names;
        fam->n = HR_ARRAY_LEN(mpich_names);
        return 0;
    }
    if ((fam->image_lib = hr_inject_find_image_lib(c, "libmpi.so.40"))) {
        fam->names = ompi_names;
        fam->n = HR_ARRAY_LEN(ompi_names);
        return 0;
    }
    hr_err("--mpi=host: %s has no MPI library (libmpi.so.12 or libmpi.so.40)",
           c->img->path);
    return -1;
}

/* Identify both MPIs and refuse an ABI mismatch. Returns 0 or -1 (logged). */
static int mpi_check_abi(struct hr_inject_ctx *c, const char *host_lib,
                         const char *image_lib, struct hr_mpi_info *host)
{
    struct hr_mpi_info image = {0};
    struct hr_image_file *f;
    char err[512];
    hr_autoclose int fd = open(host_lib, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? hr_fail(err, sizeof(err), "%s: %s", host_lib, strerror(errno))
                    : hr_mpi_identify(hr_pread_fd, &fd, host, err, sizeof(err));

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
static int mpi_list(struct hr_inject_ctx *c, const struct mpi_family *fam,
                    struct mpi_words *words, struct hr_inject *out)
{
    const char *const *names = fam->names;
    char **libs = &words->libs, **dirs = &words->dirs;
    struct hr_libset_input in = hr_inject_libset_input(c);
    struct hr_libset closure = {0};
    struct hr_liblist list = {.set = "mpi"};
    char err[512];

    for (size_t i = 0; i < fam->n; i++) {
        hr_autofree char *in_image = hr_inject_find_image_lib(c, names[i]);
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
int hr_mpihost_collect(struct hr_inject_ctx *c, struct hr_inject *out)
{
    struct mpi_family fam = {0};
    struct mpi_words words = {0};
    hr_autofree char *host_lib = NULL;
    struct hr_mpi_info host = {0};
    struct hr_libset s = {0};
    struct hr_libset_input in = hr_inject_libset_input(c);
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
    if (mpi_family(c, &fam) < 0)
        return -1;
    /* host-mpi names the library itself, or a directory to find it in */
    if (stat(c->cfg->host_mpi, &st) == 0 && S_ISREG(st.st_mode))
        host_lib = hr_xstrdup(c->cfg->host_mpi);
    for (size_t i = 0; i < fam.n && !host_lib; i++)
        host_lib = host_mpi_lib(c, fam.names[i]);
    if (!host_lib) {
        hr_err("--mpi=host: %s: no %s library of the image's MPI family",
               c->cfg->host_mpi, fam.names[0]);
        goto out;
    }
    if (mpi_check_abi(c, host_lib, fam.image_lib, &host) < 0 ||
        mpi_list(c, &fam, &words, out) < 0)
        goto out;
    list.libs = words.libs;
    list.dirs = words.dirs;
    rc = hr_libset_add(&s, &in, &list, err, sizeof(err)) < 0 ? -1 : 0;
    if (rc < 0 ||
        (rc = hr_libset_glibc_check(&s, "MPI", &c->image_glibc, err, sizeof(err))) < 0) {
        hr_err("--mpi=host: %s", err);
        goto out;
    }
    hr_strv_push_owned(&out->notes,
                       hr_xasprintf("mpi host %s %s (%s) over the image's %s",
                                    host.soname ? host.soname : "?",
                                    host.version ? host.version : "", host_lib,
                                    fam.image_lib));
    hr_libset_merge(&out->libs, &s);
out:
    hr_libset_free(&s);
    hr_mpi_info_free(&host);
    free(fam.image_lib);
    free(words.libs);
    free(words.dirs);
    return rc;
}
