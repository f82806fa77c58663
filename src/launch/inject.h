/* Step 3 (plan), what of the host goes in: the job's GPUs and fast-network
 * devices (devices.h) and the host's matching user-space driver libraries,
 * tools and, with --mpi=host, MPI (hostlibs.h, mpihost.h), after checking
 * that the image's glibc can run them. Gathered before the plan (it reads the
 * host's /dev, sysfs, ld.so.cache and ELF files, and a few files of the
 * image); the plan (plan.h) takes the result as one of its inputs and turns
 * it into mounts and variables. */
#ifndef HR_INJECT_H
#define HR_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/util.h"
#include "host/devices.h"
#include "host/hostlibs.h"
#include "host/ldcache.h"
#include "launch/config.h"
#include "launch/image.h"

/* Where host tools are found unless the site's host-tool-path says. */
#define HR_DEFAULT_TOOL_PATH "/usr/bin:/usr/sbin:/usr/local/bin:/bin:/sbin"

struct hr_inject {
    struct hr_devplan dev;
    struct hr_libset libs;
    struct hr_strv notes; /* lines for --devices and --dry-run */
    /* --mpi=host: host libraries bound over the image's own files too */
    struct hr_strv over_src, over_dst;
    unsigned image_glibc; /* the image's glibc (x*1000+y), 0: none found */
};

/* Decide what to inject for this launch. img may be NULL (--devices without
 * an image: no glibc check). Returns 0, or -1 after logging one line (an
 * explicit --gpu=VENDOR or --mpi=host that cannot be honoured). */
int hr_inject_collect(const struct hr_config *cfg, char **envp, struct hr_image *img,
                      struct hr_inject *out);
/* The lines of --devices and --dry-run: "device ...", "hostlib ...". */
void hr_inject_print(const struct hr_inject *in, FILE *out);
void hr_inject_free(struct hr_inject *in);

/* ---- the collection's state, shared with mpihost.c ------------------------ */

struct hr_elf_memo;

struct hr_inject_ctx {
    const struct hr_config *cfg;
    struct hr_image *img; /* NULL: no image (--devices alone) */
    struct hr_ldcache host_cache;
    const char *host_cache_path; /* where host_cache was read from */
    struct hr_ldcache image_cache;
    bool has_image_cache;
    struct hr_glibc_have image_glibc; /* what the sets are checked against */
    struct hr_strv tool_dirs;         /* host-tool-path (or the default), split */
    struct hr_elf_memo *memo;         /* host files read so far */
    size_t n_memo;
};

/* The library-set planner's input for this collection: the host's cache,
 * the image's, host ELF files read once each, the image's through it. */
struct hr_libset_input hr_inject_libset_input(struct hr_inject_ctx *c);
/* Where the image's loader finds soname (hr_imagelib_find with the image's
 * cache), or NULL. */
char *hr_inject_find_image_lib(const struct hr_inject_ctx *c, const char *soname);

#endif
