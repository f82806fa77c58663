/* Step 3 (plan), host libraries: the host's user-space driver libraries and
 * tools (GPU vendors, ibverbs/libfabric providers, CXI) and, with
 * --mpi=host, the host's MPI, found through the host's ld.so.cache and bound
 * read-only into one directory of the container (HR_HOSTLIB_DIR) that goes
 * first on LD_LIBRARY_PATH. The image itself is never modified.
 *
 * Pure parts (ld.so.cache parsing in ldcache.h, ELF reading from a buffer or
 * a read callback in elfread.h, the library-set planner and the MPI ABI
 * check here) are unit-tested; the planner reaches host and image files
 * only through the callbacks it is given. */
#ifndef HR_HOSTLIBS_H
#define HR_HOSTLIBS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"
#include "host/elfread.h"
#include "host/ldcache.h"

/* Where host files appear inside the container: in a tmpfs hpcrun mounts at
 * HR_HOSTDIR (created in the overlay when the image lacks it). */
#define HR_HOSTDIR "/.hpcrun/host"
#define HR_HOSTLIB_DIR HR_HOSTDIR "/lib"
#define HR_HOSTBIN_DIR HR_HOSTDIR "/bin"
#define HR_HOSTETC_DIR HR_HOSTDIR "/etc"

/* ---- the library set -------------------------------------------------------- */

/* Vendor lists from the site config (whitespace-separated; shipped defaults
 * when the site config says nothing).
 *   libs:  a soname ("libcuda.so.1") or a soname prefix ("libamdhip64.so"
 *          finds "libamdhip64.so.6") looked up in the host's ld.so.cache; a
 *          pattern with * ? [ ] ("libhfi1verbs-rdmav*.so") binds every cache
 *          entry it matches; an absolute pattern
 *          ("/usr/lib64/libibverbs/lib*-rdmav*.so": provider plugins, which
 *          are not in the cache) binds every host file it matches under its
 *          file name. Absent libraries are skipped (drivers differ between
 *          nodes).
 *   tools: a name looked up in the tool directories, or an absolute path.
 *   dirs:  a host directory bound whole under HR_HOSTETC_DIR/BASENAME when it
 *          exists; "DIR=VAR" also sets VAR to that path inside
 *          ("/etc/libibverbs.d=IBV_CONFIG_DIR"). */
struct hr_liblist {
    const char *set;   /* "nvidia", "amd", "intel", "verbs", "cxi", "mpi" */
    const char *libs;  /* "libcuda.so.1 libnvidia-ml.so.1 ..." */
    const char *tools; /* "nvidia-smi nvidia-debugdump" */
    const char *dirs;  /* "/etc/libibverbs.d=IBV_CONFIG_DIR" */
};

/* The shipped default list for a set (static strings; "mpi" has empty lists:
 * the site config's host-mpi names it), NULL for an unknown set. */
const struct hr_liblist *hr_liblist_default(const char *set);

struct hr_hostlib {
    char *src;  /* host path (symlinks resolved) */
    char *name; /* file name inside HR_HOSTLIB_DIR: the soname it is loaded by */
    char *why;  /* "nvidia", "dependency of libmpi.so.12", ... */
};

struct hr_libset {
    struct hr_hostlib *libs;
    size_t n;
    struct hr_strv tools; /* host paths, bound into HR_HOSTBIN_DIR under their names */
    struct hr_strv dirs;  /* host dirs, bound under HR_HOSTETC_DIR/NAME (basename) */
    struct hr_strv env; /* NAME=VALUE for inside: IBV_CONFIG_DIR, FI_PROVIDER_PATH, ... */
    struct hr_strv missing; /* "libfoo.so.1 (needed by libcuda.so.1)": not found on
                               the host nor in the image */
    unsigned glibc_need;    /* highest glibc any bound file needs, 0 none */
    char *glibc_need_by;    /* which one */
    /* image libraries kept because the host's copy lacks versions they
     * define: "libfabric.so.1 (the image's is newer: FABRIC_1.7)", or because
     * the host's copy needs a version a kept library lacks:
     * "libmlx5.so.1 (the host's needs IBVERBS_PRIVATE_34, which the image's
     * libibverbs.so.1 lacks)" */
    struct hr_strv kept;
};

/* How the planner reads files: an ELF description of the file at path.
 * Returns 0 with out filled, or -1 if it is no readable ELF object (out then
 * holds nothing, or what hr_elf_free frees: hr_elf_read's contract). */
typedef int (*hr_elf_fn)(void *ctx, const char *path, struct hr_elf *out);

struct hr_libset_input {
    const struct hr_ldcache *host_cache;
    const struct hr_ldcache *image_cache; /* the image's /etc/ld.so.cache or NULL */
    hr_elf_fn elf;                        /* host files; NULL: hr_elf_read_path */
    void *elf_ctx;
    /* The image's copy of a library the list names, when image_cache has
     * its soname: called with the path that cache gives (an absolute path
     * of the image, to be read through the image and never on the host; the
     * file is untrusted, so hr_elf_read's bounds matter). -1 (unreadable)
     * binds the host's copy as if the image had none. NULL: the copies are
     * not compared, and a library the list names is always bound. */
    hr_elf_fn image_elf;
    void *image_elf_ctx;
    const char *const *tool_dirs;       /* where host tools are looked for */
    bool (*exists)(const char *path);   /* for tools, dirs, libraries; NULL: access(2) */
    char *(*resolve)(const char *path); /* symlinks resolved (heap); NULL: realpath(3) */
    void (*glob)(const char *pattern, struct hr_strv *out); /* NULL: glob(3) */
};

/* Add one set to out: its libraries, then their dependency closure through
 * DT_NEEDED (breadth-first), resolved in the host's cache or, failing that,
 * next to the library that needs them (vendor trees that use $ORIGIN), minus
 * glibc's own libraries and minus what the image's cache already provides;
 * its tools (and their dependencies), dirs and env. Nothing already in out
 * is added twice (by name inside). glibc_need is raised over every file
 * added.
 *
 * A library the list names is bound even when the image has that soname
 * (the host's driver must match the host's kernel and hardware), with two
 * exceptions when in->image_elf is given, which go to out->kept instead:
 * the image's copy defines a public symbol version the host's lacks (the
 * image's is newer, and its programs may need that version), or the host's
 * copy needs a symbol version that the image's copy of a library kept so
 * lacks (the host's libmlx5 over the image's libibverbs). Private versions
 * ("IBVERBS_PRIVATE_34", "GLIBC_PRIVATE") are left out of the first rule:
 * they are an interface between the libraries of one package, which the
 * lists bind together, and they change from release to release whichever
 * copy is newer. The second rule looks at the libraries of this set only.
 *
 * Returns the number of the list's libraries found on the host, kept or not
 * (0: none, the driver is not installed), or -1 with err set on an
 * unreadable ELF library of the host. */
int hr_libset_add(struct hr_libset *out, const struct hr_libset_input *in,
                  const struct hr_liblist *list, char *err, size_t errlen);
void hr_libset_free(struct hr_libset *s);
/* Whether s binds a library under this name already. */
bool hr_libset_has(const struct hr_libset *s, const char *name);
/* Move what src has that dst lacks into dst (libraries by name inside,
 * tools, dirs, env, missing, kept), and raise dst's glibc_need to src's. */
void hr_libset_merge(struct hr_libset *dst, struct hr_libset *src);

/* The glibc the libraries of a set will run with: the image's. */
struct hr_glibc_have {
    const char *image; /* the image, for messages */
    unsigned version;  /* its glibc (x*1000+y), 0: none found */
};
/* Can that glibc run what s needs? set names the libraries in messages
 * ("nvidia", "MPI"). Returns 0, or -1 with err naming both versions ("host
 * nvidia libraries need glibc 2.34 (libcuda.so.1), IMG has glibc 2.31"). */
int hr_libset_glibc_check(const struct hr_libset *s, const char *set,
                          const struct hr_glibc_have *have, char *err, size_t errlen);

/* ---- MPI ABI ------------------------------------------------------------- */

enum hr_mpi_flavour { HR_MPI_NONE, HR_MPI_MPICH, HR_MPI_OPENMPI };

struct hr_mpi_info {
    /* MPICH ABI: libmpi.so.12, libmpich.so.12, Cray's libmpi_*.so.12 (MPICH,
     * Intel MPI, MVAPICH, Cray MPICH); Open MPI: libmpi.so.40 (and .20), or
     * any libmpi exporting ompi_version_string (Open MPI 1.10 was .so.12) */
    enum hr_mpi_flavour flavour;
    char *soname;
    char *version; /* "4.0.2", "4.1.4": the string the library exports, else NULL */
};

/* Identify an MPI library: its soname, and its version from the string its
 * dynamic symbol table exports (MPICH: MPII_Version_string, older
 * MPIR_Version_string; Open MPI: ompi_version_string), read through rd.
 * Returns 0 (flavour HR_MPI_NONE for another library), or -1 with err set if
 * it is no readable ELF object. */
int hr_mpi_identify(hr_pread_fn rd, void *ctx, struct hr_mpi_info *out, char *err,
                    size_t errlen);
void hr_mpi_info_free(struct hr_mpi_info *m);
/* 0 if a host MPI may replace the image's, else -1 with err naming both ("host
 * MPI is Open MPI 4.1.4 (libmpi.so.40), the image's is MPICH 4.0.2
 * (libmpi.so.12): not ABI-compatible"). MPICH ABI: any two libraries of the
 * family, whatever their versions; Open MPI: the same soname and the same
 * major version (both must be known). */
int hr_mpi_compatible(const struct hr_mpi_info *host, const struct hr_mpi_info *image,
                      char *err, size_t errlen);

#endif
