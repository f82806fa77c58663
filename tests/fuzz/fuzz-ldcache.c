/* Fuzz target: an ld.so.cache, as hpcrun reads the one of an image (a file
 * the image's author wrote), host/ldcache.c; then the lookups the plan
 * makes in it. */
#include <stdlib.h>

#include "fuzzutil.h"
#include "host/ldcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hr_ldcache c = {0};
    char err[256];

    if (hr_ldcache_parse(data, size, &c, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < c.n && i < 64; i++)
            if (!hr_ldcache_lookup(&c, c.e[i].name, true) &&
                (c.e[i].flags & hr_ldcache_native_flags) == hr_ldcache_native_flags &&
                c.e[i].flags == hr_ldcache_native_flags)
                abort(); /* an entry of this ABI must be found by its own name */
        (void)hr_ldcache_find(&c, "libc.so.6");
        (void)hr_ldcache_find(&c, "libcuda.so");
        hr_ldcache_add(&c, "libmpi.so.40", "/opt/mpi/lib/libmpi.so.40", true);
        (void)hr_ldcache_find(&c, "libmpi.so");
    }
    hr_ldcache_free(&c);
    return 0;
}
