/* The dynamic linker's cache, /etc/ld.so.cache: which file ld.so loads for a
 * soname. The host's cache finds the host libraries to bind; the image's
 * cache (untrusted input) says which sonames the image already provides.
 * Parsed by hand from glibc's format (sysdeps/generic/dl-cache.h). */
#ifndef HR_LDCACHE_H
#define HR_LDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The host's library cache unless the site's ld-so-cache says, and where an
 * image keeps its own; a cache larger than HR_LDCACHE_MAX is not read. */
#define HR_LDCACHE "/etc/ld.so.cache"
#define HR_LDCACHE_MAX (64u << 20)

struct hr_ldcache_entry {
    char *name; /* the key ldconfig stored: the soname, "libcuda.so.1" */
    char *path; /* "/usr/lib/x86_64-linux-gnu/libcuda.so.1" */
    unsigned flags;
    uint64_t hwcap; /* 0, or a glibc-hwcaps subdirectory's entry (bit 62 set) */
};

struct hr_ldcache {
    struct hr_ldcache_entry *e;
    size_t n;
};

/* The entry flags of this machine's ABI (libc6, plus the 64-bit ABI's bits:
 * 0x0303 on x86-64). */
extern const unsigned hr_ldcache_native_flags;

/* Parse ld.so.cache contents (the "glibc-ld.so.cache1.1" format, alone or
 * after the old "ld.so-1.7.0" table; the old table alone as well). Every
 * offset is checked against len; more than 65536 entries, a key or value
 * longer than PATH_MAX or 16 MiB of strings in all are refused, so that a
 * crafted cache costs little however its entries share strings. Returns 0
 * or -1 with err set. */
int hr_ldcache_parse(const void *buf, size_t len, struct hr_ldcache *out, char *err,
                     size_t errlen);
/* Read and parse a cache file ("/etc/ld.so.cache"). */
int hr_ldcache_load(const char *path, struct hr_ldcache *out, char *err, size_t errlen);
void hr_ldcache_free(struct hr_ldcache *c);

/* Add an entry of the native ABI, first (found before what the cache had) or
 * last: a library found elsewhere than in the cache (the host MPI's
 * directory) becomes resolvable by name. */
void hr_ldcache_add(struct hr_ldcache *c, const char *name, const char *path, bool first);

/* The first entry for this machine's ABI whose name is `name` (exact), or
 * also one whose name starts with `name` followed by '.' (so "libcuda.so"
 * finds "libcuda.so.1"). Plain entries win over glibc-hwcaps ones. NULL if
 * none. */
const struct hr_ldcache_entry *hr_ldcache_lookup(const struct hr_ldcache *c,
                                                 const char *name, bool exact);
/* The path of hr_ldcache_lookup(c, name, false), or NULL. */
const char *hr_ldcache_find(const struct hr_ldcache *c, const char *name);

#endif
