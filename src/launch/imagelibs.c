/* The image's libraries, found and read the way its dynamic loader would
 * (imagelibs.h). The image is untrusted: paths are resolved inside it
 * (hr_resolve_in_root through hr_image_lookup), and its cache and ELF files
 * go through the bounded parsers (ldcache.c, elfread.c).
 * Errors: -1 or NULL, with the reason in err where there is one; nothing
 * here is reported as an error (a debug line at most): the callers decide
 * whether a missing library matters. */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "launch/imagelibs.h"
#include "common/log.h"
#include "common/pathres.h"
#include "common/util.h"

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

/* An ELF file of the image, read piecewise through the image (never the
 * host: the path is resolved inside the image). */
int hr_imagelib_elf(void *ctx, const char *path, struct hr_elf *out)
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
char *hr_imagelib_find(struct hr_image *img, const struct hr_ldcache *cache,
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

/* The image's glibc version, from its libc.so.6's version definitions. */
unsigned hr_imagelib_glibc(struct hr_image *img, const struct hr_ldcache *cache)
{
    struct hr_elf e = {0};
    hr_autofree char *p = hr_imagelib_find(img, cache, "libc.so.6");
    unsigned v = 0;

    if (p && hr_imagelib_elf(img, p, &e) == 0)
        v = e.glibc_have;
    hr_elf_free(&e);
    return v;
}

int hr_imagelib_cache(struct hr_image *img, struct hr_ldcache *out, char *err,
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
