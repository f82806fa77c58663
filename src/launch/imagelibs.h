/* Step 3 (plan), the image's libraries as its dynamic loader would find
 * them: its /etc/ld.so.cache (untrusted input, read through the image), its
 * default library directories, its ELF files and its glibc. Read by the
 * devices and host libraries collection (inject.c, mpihost.c) and by hpcrun
 * doctor. Every path is resolved inside the image, never on the host. */
#ifndef HR_IMAGELIBS_H
#define HR_IMAGELIBS_H

#include <stddef.h>

#include "host/elfread.h"
#include "host/ldcache.h"
#include "launch/image.h"

/* The image's own /etc/ld.so.cache, parsed. Returns 0, or -1 if it is
 * absent or unreadable (why, in err). */
int hr_imagelib_cache(struct hr_image *img, struct hr_ldcache *out, char *err,
                      size_t errlen);

/* Where the image's dynamic loader would find soname: the image's
 * ld.so.cache (cache, or NULL), else its default directories. A path in the
 * image (malloc'd), resolved inside it, or NULL. */
char *hr_imagelib_find(struct hr_image *img, const struct hr_ldcache *cache,
                       const char *soname);

/* An ELF file of the image (ctx: the struct hr_image), read piecewise
 * through the image: an hr_elf_fn (hostlibs.h). Returns 0, or -1 (a debug
 * line says why). */
int hr_imagelib_elf(void *ctx, const char *path, struct hr_elf *out);

/* The image's glibc version (x*1000+y), from the version definitions of its
 * libc.so.6 (found through cache, or NULL); 0 if it has none. */
unsigned hr_imagelib_glibc(struct hr_image *img, const struct hr_ldcache *cache);

#endif
