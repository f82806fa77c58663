/* Step 3 (plan), host libraries: the host's user-space driver libraries and
 * tools (GPU vendors, ibverbs/libfabric providers, CXI) and, with
 * --mpi=host, the host's MPI, found through the host's ld.so.cache and bound
 * read-only into one directory of the container (HR_HOSTLIB_DIR) that goes
 * first on LD_LIBRARY_PATH. The image itself is never modified.
 *
 * Pure parts (ld.so.cache parsing, ELF reading from a buffer or a read
 * callback, the library-set planner) are unit-tested; the planner reads ELF
 * files only through the callback it is given. */
#ifndef HR_HOSTLIBS_H
#define HR_HOSTLIBS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "elfread.h"
#include "ldcache.h"
#include "util.h"

/* Where host files appear inside the container: in a tmpfs hpcrun mounts at
 * HR_HOSTDIR (created in the overlay when the image lacks it). */
#define HR_HOSTDIR "/.hpcrun/host"
#define HR_HOSTLIB_DIR HR_HOSTDIR "/lib"
#define HR_HOSTBIN_DIR HR_HOSTDIR "/bin"
#define HR_HOSTETC_DIR HR_HOSTDIR "/etc"

/* ---- the library set -------------------------------------------------------- */

/* Vendor lists from the site config (whitespace-separated names; shipped
 * defaults when the site config says nothing). A library name is a soname or
 * a soname prefix looked up in the host's ld.so.cache; a tool name is looked
 * up in the host's PATH-like tool directories (hr_hostlib_tool_dirs). */
struct hr_liblist {
    const char *set; /* "nvidia", "amd", "intel", "verbs", "cxi", "mpi" */
    char *libs;      /* "libcuda.so.1 libnvidia-ml.so.1 ..." */
    char *tools;     /* "nvidia-smi nvidia-debugdump" */
    char *dirs;      /* whole host directories bound as well ("/etc/libibverbs.d") */
};

/* The shipped default list for a set (static strings). */
const struct hr_liblist *hr_liblist_default(const char *set);

struct hr_hostlib {
    char *src;  /* host path (symlinks resolved) */
    char *name; /* file name inside HR_HOSTLIB_DIR: the soname it was asked by */
    char *why;  /* "nvidia", "dependency of libmpi.so.12", ... */
};

struct hr_libset {
    struct hr_hostlib *libs;
    size_t n;
    struct hr_strv tools; /* host paths, bound into HR_HOSTBIN_DIR under their names */
    struct hr_strv dirs;  /* host dirs, bound under HR_HOSTETC_DIR/NAME (basename) */
    struct hr_strv env; /* NAME=VALUE for inside: IBV_CONFIG_DIR, FI_PROVIDER_PATH, ... */
    unsigned glibc_need; /* highest glibc any bound file needs, 0 none */
    char *glibc_need_by; /* which one */
};

/* How the planner reads host files: an ELF description for a host path. */
typedef int (*hr_elf_fn)(void *ctx, const char *path, struct hr_elf *out);

struct hr_libset_input {
    const struct hr_ldcache *host_cache;
    const struct hr_ldcache *image_cache; /* the image's /etc/ld.so.cache or NULL */
    hr_elf_fn elf;                        /* hr_elf_read_path in real use */
    void *elf_ctx;
    const char *const *tool_dirs;     /* where host tools are looked for */
    bool (*exists)(const char *path); /* for tools and dirs */
};

/* Add one set (its libraries, their dependency closure minus glibc's own
 * libraries and minus what the image already provides, its tools, dirs and
 * env) to out. A library named in the list but absent on the host is skipped
 * (drivers differ between nodes); returns the number of libraries found for
 * the set, or -1 with err set on an unreadable ELF file. */
int hr_libset_add(struct hr_libset *out, const struct hr_libset_input *in,
                  const struct hr_liblist *list, char *err, size_t errlen);
void hr_libset_free(struct hr_libset *s);

/* ---- MPI ABI ------------------------------------------------------------- */

enum hr_mpi_flavour { HR_MPI_NONE, HR_MPI_MPICH, HR_MPI_OPENMPI };

struct hr_mpi_info {
    enum hr_mpi_flavour
        flavour; /* from the soname: libmpi.so.12 (MPICH ABI), libmpi.so.40 */
    char *soname;
    char *version; /* "4.0.2", "4.1.4" if found in the library, else NULL */
};

/* Identify an MPI library: its ELF facts plus its contents (read through rd)
 * for the version string. */
int hr_mpi_identify(hr_pread_fn rd, void *ctx, struct hr_mpi_info *out, char *err,
                    size_t errlen);
void hr_mpi_info_free(struct hr_mpi_info *m);
/* 0 if a host MPI may replace the image's, else -1 with err naming both
 * versions (MPICH ABI: any libmpi.so.12; Open MPI: same major version). */
int hr_mpi_compatible(const struct hr_mpi_info *host, const struct hr_mpi_info *image,
                      char *err, size_t errlen);

#endif
