/* ld.so.cache parsing. The layout (glibc's sysdeps/generic/dl-cache.h):
 *
 *   old format (optional): "ld.so-1.7.0", u32 nlibs, then nlibs entries of
 *     {i32 flags, u32 key, u32 value}, strings relative to the end of them;
 *   new format: "glibc-ld.so.cache" "1.1", u32 nlibs, u32 len_strings,
 *     u8 flags (endianness), 3 bytes, u32 extension_offset, 3 x u32, then
 *     nlibs entries of {i32 flags, u32 key, u32 value, u32 osversion,
 *     u64 hwcap}; key and value are offsets from the start of this header.
 *     When both are present the new header follows the old entries, aligned
 *     to 8 bytes.
 *
 * An image's cache is untrusted (it is read on every launch that binds host
 * libraries): every offset is checked against the buffer and every string
 * must end inside it. Entries may share strings (ldconfig stores a string
 * that ends another only once), so a small file can make every entry point
 * at one long string; as parsing copies each entry's strings, that would
 * cost entries x length in time and memory, unrelated to the file's size.
 * Hence three caps, each an error: MAX_ENTRIES entries, MAX_STRING bytes per
 * key or value (the search for its NUL stops there too) and MAX_COPIED bytes
 * of strings in all. Whatever the file, parsing scans and copies at most
 * about MAX_COPIED bytes of strings. */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "host/ldcache.h"
#include "common/util.h"

#define OLD_MAGIC "ld.so-1.7.0"
#define NEW_MAGIC "glibc-ld.so.cache1.1"
#define OLD_HEADER 16u /* magic, padding to 4, u32 nlibs */
#define OLD_ENTRY 12u
#define NEW_HEADER 48u
#define NEW_ENTRY 24u
#define MAX_ENTRIES 65536u            /* real caches hold a few thousand */
#define MAX_STRING ((size_t)PATH_MAX) /* a soname or a library's path */
#define MAX_COPIED (16u << 20)        /* a real cache copies well under 1 MiB */
#define MAX_FILE (64u << 20)

/* dl-cache.h: cache_file_new.flags, the low two bits */
#define ENDIAN_MASK 3u
#define ENDIAN_UNSET 0u
#define ENDIAN_LITTLE 2u
#define ENDIAN_BIG 3u

/* ldconfig.h: FLAG_ELF_LIBC6 plus the ABI's FLAG_*_LIB64 bits. ld.so takes an
 * entry only if its flags are exactly these (_dl_cache_check_flags). */
#define FLAG_ELF_LIBC6 0x0003u
#if defined(__x86_64__) && defined(__ILP32__)
#define NATIVE_ABI 0x0800u /* FLAG_X8664_LIBX32 */
#elif defined(__x86_64__)
#define NATIVE_ABI 0x0300u /* FLAG_X8664_LIB64 */
#elif defined(__aarch64__)
#define NATIVE_ABI 0x0a00u /* FLAG_AARCH64_LIB64 */
#elif defined(__powerpc64__)
#define NATIVE_ABI 0x0500u /* FLAG_POWERPC_LIB64 */
#elif defined(__s390x__)
#define NATIVE_ABI 0x0400u /* FLAG_S390_LIB64 */
#elif defined(__riscv) && defined(__riscv_float_abi_double)
#define NATIVE_ABI 0x1000u /* FLAG_RISCV_FLOAT_ABI_DOUBLE */
#else
#define NATIVE_ABI 0x0000u /* i386 and others: libc6 alone */
#endif

const unsigned hr_ldcache_native_flags = FLAG_ELF_LIBC6 | NATIVE_ABI;

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* The cache being parsed, and where a message about it goes. */
struct parser {
    const unsigned char *buf;
    size_t len;
    char *err;
    size_t errlen;
};

/* One table of entries, in either format: nlibs records of `size` bytes at
 * `at`, string offsets relative to `base`. */
struct table {
    size_t at;
    uint32_t nlibs;
    size_t size;
    size_t base;
};

/* A string of the cache: where it is and its length. */
struct cstr {
    const char *s;
    size_t n;
};

/* The NUL-terminated string at base + off, with its length; it must end
 * inside the buffer within MAX_STRING bytes. Entry i names it in errors. */
static int cache_string(const struct parser *p, const struct table *t, uint32_t off,
                        uint32_t i, struct cstr *out)
{
    const unsigned char *buf = p->buf, *nul;
    size_t len = p->len, base = t->base;
    size_t at, room;

    if (base > len || off >= len - base)
        return hr_fail(p->err, p->errlen,
                       "ld.so.cache: entry %u: string offset out of range", i);
    at = base + off;
    room = len - at < MAX_STRING + 1 ? len - at : MAX_STRING + 1;
    nul = memchr(buf + at, '\0', room);
    if (!nul && room > MAX_STRING)
        return hr_fail(p->err, p->errlen,
                       "ld.so.cache: entry %u: string longer than %zu bytes", i,
                       MAX_STRING);
    if (!nul)
        return hr_fail(p->err, p->errlen,
                       "ld.so.cache: entry %u: string runs past the end", i);
    out->s = (const char *)buf + at;
    out->n = (size_t)(nul - (buf + at));
    return 0;
}

static struct hr_ldcache_entry entry(const char *name, const char *path, unsigned flags,
                                     uint64_t hwcap)
{
    return (struct hr_ldcache_entry){.name = hr_xstrdup(name),
                                     .path = hr_xstrdup(path),
                                     .flags = flags,
                                     .hwcap = hwcap};
}

/* The entries of table t. */
static int parse_entries(const struct parser *p, const struct table *t,
                         struct hr_ldcache *out)
{
    const unsigned char *buf = p->buf;
    size_t len = p->len, at = t->at, size = t->size;
    uint32_t nlibs = t->nlibs;
    size_t copied = 0;

    if (nlibs > MAX_ENTRIES)
        return hr_fail(p->err, p->errlen, "ld.so.cache: %u entries, more than %u", nlibs,
                       MAX_ENTRIES);
    if (at > len || nlibs > (len - at) / size)
        return hr_fail(p->err, p->errlen,
                       "ld.so.cache: truncated (%u entries in %zu bytes)", nlibs, len);
    out->e = hr_xmalloc((nlibs ? nlibs : 1) * sizeof(*out->e));
    for (uint32_t i = 0; i < nlibs; i++, at += size) {
        struct cstr key, value;
        uint64_t hwcap = size == NEW_ENTRY ? get_u64(buf + at + 16) : 0;

        if (cache_string(p, t, get_u32(buf + at + 4), i, &key) < 0 ||
            cache_string(p, t, get_u32(buf + at + 8), i, &value) < 0) {
            hr_ldcache_free(out);
            return -1;
        }
        copied += key.n + value.n + 2;
        if (copied > MAX_COPIED) {
            hr_ldcache_free(out);
            return hr_fail(p->err, p->errlen,
                           "ld.so.cache: entry %u: strings total more than %u bytes", i,
                           MAX_COPIED);
        }
        out->e[out->n++] = entry(key.s, value.s, get_u32(buf + at), hwcap);
    }
    return 0;
}

/* The new format's header at base, then its entries. */
static int parse_new(const struct parser *p, size_t base, struct hr_ldcache *out)
{
    const unsigned char *buf = p->buf;
    unsigned endian = buf[base + 28] & ENDIAN_MASK;
    unsigned native = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? ENDIAN_BIG : ENDIAN_LITTLE;
    struct table t = {.at = base + NEW_HEADER,
                      .nlibs = get_u32(buf + base + 20),
                      .size = NEW_ENTRY,
                      .base = base};

    if (endian != ENDIAN_UNSET && endian != native)
        return hr_fail(p->err, p->errlen,
                       "ld.so.cache: written for the other byte order");
    return parse_entries(p, &t, out);
}

int hr_ldcache_parse(const void *data, size_t len, struct hr_ldcache *out, char *err,
                     size_t errlen)
{
    const unsigned char *buf = data;
    const struct parser p = {.buf = buf, .len = len, .err = err, .errlen = errlen};
    uint32_t nold;
    size_t new_at;

    memset(out, 0, sizeof(*out));
    if (len >= NEW_HEADER && memcmp(buf, NEW_MAGIC, strlen(NEW_MAGIC)) == 0)
        return parse_new(&p, 0, out);
    if (len < OLD_HEADER || memcmp(buf, OLD_MAGIC, strlen(OLD_MAGIC)) != 0)
        return hr_fail(err, errlen, "not an ld.so.cache file (bad magic)");
    nold = get_u32(buf + 12);
    if (nold > (len - OLD_HEADER) / OLD_ENTRY)
        return hr_fail(err, errlen, "ld.so.cache: truncated (%u entries in %zu bytes)",
                       nold, len);
    /* The new format follows the old table, aligned as struct cache_file_new
     * (8 bytes: it holds a uint64_t). */
    new_at = (OLD_HEADER + (size_t)nold * OLD_ENTRY + 7) & ~(size_t)7;
    if (new_at <= len && len - new_at >= NEW_HEADER &&
        memcmp(buf + new_at, NEW_MAGIC, strlen(NEW_MAGIC)) == 0)
        return parse_new(&p, new_at, out);
    /* The old format alone: strings follow the entries. */
    return parse_entries(&p,
                         &(struct table){.at = OLD_HEADER,
                                         .nlibs = nold,
                                         .size = OLD_ENTRY,
                                         .base = OLD_HEADER + (size_t)nold * OLD_ENTRY},
                         out);
}

int hr_ldcache_load(const char *path, struct hr_ldcache *out, char *err, size_t errlen)
{
    size_t len;
    hr_autofree char *buf = hr_read_file(path, MAX_FILE, &len);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!buf)
        return hr_fail(err, errlen, "%s: %s", path, strerror(errno));
    rc = hr_ldcache_parse(buf, len, out, err, errlen);
    if (rc < 0) {
        /* name the file: "PATH: ld.so.cache: truncated ..." */
        hr_autofree char *why = hr_xstrdup(err);
        hr_fail(err, errlen, "%s: %s", path, why);
    }
    return rc;
}

void hr_ldcache_free(struct hr_ldcache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].name);
        free(c->e[i].path);
    }
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

void hr_ldcache_add(struct hr_ldcache *c, const char *name, const char *path, bool first)
{
    size_t at = first ? 0 : c->n;

    c->e = hr_xrealloc(c->e, (c->n + 1) * sizeof(*c->e));
    memmove(c->e + at + 1, c->e + at, (c->n - at) * sizeof(*c->e));
    c->e[at] = entry(name, path, hr_ldcache_native_flags, 0);
    c->n++;
}

static bool name_matches(const char *key, const char *name, size_t namelen, bool exact)
{
    if (strncmp(key, name, namelen) != 0)
        return false;
    return key[namelen] == '\0' || (!exact && key[namelen] == '.');
}

const struct hr_ldcache_entry *hr_ldcache_lookup(const struct hr_ldcache *c,
                                                 const char *name, bool exact)
{
    size_t namelen = strlen(name);

    if (!c)
        return NULL;
    /* glibc-hwcaps entries (tuned copies in subdirectories) only when no
     * plain one exists: the plain library is what every CPU can run. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < c->n; i++) {
            const struct hr_ldcache_entry *e = &c->e[i];
            if (e->flags == hr_ldcache_native_flags && (pass || e->hwcap == 0) &&
                name_matches(e->name, name, namelen, exact))
                return e;
        }
    return NULL;
}

const char *hr_ldcache_find(const struct hr_ldcache *c, const char *name)
{
    const struct hr_ldcache_entry *e = hr_ldcache_lookup(c, name, false);
    return e ? e->path : NULL;
}
