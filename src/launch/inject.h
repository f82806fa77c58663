/* Step 3 (plan), what of the host goes in: the job's GPUs and fast-network
 * devices (devices.h) and the host's matching user-space driver libraries,
 * tools and, with --mpi=host, MPI (hostlibs.h), after checking that the
 * image's glibc can run them. Gathered before the plan (it reads the host's
 * /dev, sysfs, ld.so.cache and ELF files, and a few files of the image); the
 * plan turns it into mounts and variables. */
#ifndef HR_INJECT_H
#define HR_INJECT_H

#include <stdio.h>

#include "host/devices.h"
#include "host/hostlibs.h"
#include "launch/config.h"
#include "launch/image.h"

/* The host's library cache unless the site's ld-so-cache says, and where an
 * image keeps its own; a cache larger than HR_LDCACHE_MAX is not read. */
#define HR_LDCACHE "/etc/ld.so.cache"
#define HR_LDCACHE_MAX (64u << 20)

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
void hr_inject_print(const struct hr_inject *in, FILE *out);
void hr_inject_free(struct hr_inject *in);

/* The image's own /etc/ld.so.cache, parsed (untrusted input, read through
 * the image). Returns 0, or -1 if it is absent or unreadable (why, in err). */
int hr_inject_image_ldcache(struct hr_image *img, struct hr_ldcache *out, char *err,
                            size_t errlen);

/* Where the image's dynamic loader would find soname: the image's
 * ld.so.cache (cache, or NULL), else its default directories. A path in the
 * image (malloc'd), resolved inside it, or NULL. */
char *hr_inject_image_lib(struct hr_image *img, const struct hr_ldcache *cache,
                          const char *soname);

/* hpcrun --devices [IMAGE]: print what was found and what would be bound.
 * Returns the exit code. */
int hr_inject_show(const struct hr_config *cfg, char **envp);

#endif
