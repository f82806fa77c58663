/* ld.so.cache parsing: the three formats ldconfig writes (made at test time
 * by mkfakehost.sh), this machine's own cache, and hostile input (an image's
 * cache is untrusted): truncations, mutations and crafted offsets must give
 * an error or a well-formed result, never a read out of bounds, and caches
 * whose entries share one long string must be refused at once, not copied
 * entry by entry. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "host/ldcache.h"
#include "unit.h"

#define HOST HR_FAKEHOST "/host"

static unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *buf = (unsigned char *)hr_read_file(path, 64u << 20, len);
    if (!buf)
        printf("FAIL: cannot read %s (did mkfakehost.sh run?)\n", path);
    return buf;
}

/* A small deterministic generator, so that a failure can be replayed. */
static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_formats(void)
{
    static const char *const files[] = {HOST "/ld.so.cache", HOST "/ld.so.cache.compat",
                                        HOST "/ld.so.cache.old"};
    char err[256];

    for (size_t i = 0; i < HR_ARRAY_LEN(files); i++) {
        struct hr_ldcache c;
        const struct hr_ldcache_entry *e;

        CHECK(hr_ldcache_load(files[i], &c, err, sizeof(err)) == 0);
        CHECK(c.n == 2);
        CHECK_STR(hr_ldcache_find(&c, "libfakecuda.so.1"), "/fake/lib/libfakecuda.so.1");
        /* a prefix ending before a '.' finds the versioned soname */
        CHECK_STR(hr_ldcache_find(&c, "libfakedep.so"), "/fake/lib/libfakedep.so.2");
        CHECK_STR(hr_ldcache_find(&c, "libfakedep"), "/fake/lib/libfakedep.so.2");
        CHECK(hr_ldcache_find(&c, "libfakede") == NULL);
        CHECK(hr_ldcache_find(&c, "libfakedep.so.2.0") == NULL);
        CHECK(hr_ldcache_lookup(&c, "libfakedep.so", true) == NULL);
        e = hr_ldcache_lookup(&c, "libfakedep.so.2", true);
        CHECK(e && strcmp(e->name, "libfakedep.so.2") == 0);
        CHECK(e && e->flags == hr_ldcache_native_flags && e->hwcap == 0);
        hr_ldcache_free(&c);
    }
#if defined(__x86_64__) && !defined(__ILP32__)
    CHECK(hr_ldcache_native_flags == 0x0303);
#elif defined(__aarch64__)
    CHECK(hr_ldcache_native_flags == 0x0a03);
#endif
    CHECK(hr_ldcache_load(HOST "/absent", &(struct hr_ldcache){0}, err, sizeof(err)) < 0);
    CHECK(strstr(err, HOST "/absent"));
    CHECK(hr_ldcache_load(HOST "/ld.so.conf", &(struct hr_ldcache){0}, err, sizeof(err)) <
          0);
    CHECK(strstr(err, "bad magic"));
}

/* This machine's own cache must find its libc. */
static void test_host_cache(void)
{
    struct hr_ldcache c;
    char err[256];
    const char *libc;

    CHECK(hr_ldcache_load("/etc/ld.so.cache", &c, err, sizeof(err)) == 0);
    libc = hr_ldcache_find(&c, "libc.so.6");
    CHECK(libc && access(libc, R_OK) == 0);
    CHECK_STR(hr_ldcache_find(&c, "libc.so"), libc);
    CHECK(hr_ldcache_find(&c, "libnonexistent-hpcrun.so") == NULL);
    hr_ldcache_free(&c);
}

static void test_add(void)
{
    struct hr_ldcache c;
    char err[256];

    CHECK(hr_ldcache_load(HOST "/ld.so.cache", &c, err, sizeof(err)) == 0);
    hr_ldcache_add(&c, "libfakecuda.so.1", "/opt/mpi/libfakecuda.so.1", true);
    hr_ldcache_add(&c, "libextra.so.3", "/opt/mpi/libextra.so.3", false);
    CHECK(c.n == 4);
    CHECK_STR(hr_ldcache_find(&c, "libfakecuda.so.1"), "/opt/mpi/libfakecuda.so.1");
    CHECK_STR(hr_ldcache_find(&c, "libextra.so"), "/opt/mpi/libextra.so.3");
    CHECK_STR(c.e[c.n - 1].name, "libextra.so.3");
    hr_ldcache_free(&c);
    CHECK(c.n == 0 && c.e == NULL);
    hr_ldcache_add(&c, "liba.so.1", "/a/liba.so.1", true); /* into an empty cache */
    CHECK_STR(hr_ldcache_find(&c, "liba.so.1"), "/a/liba.so.1");
    hr_ldcache_free(&c);
}

/* A new-format cache of n entries written by hand: "libN.so.1" -> "/lN". */
static size_t make_cache(unsigned char *buf, size_t cap, uint32_t n, unsigned flags)
{
    size_t at = 48 + (size_t)n * 24, strings = at;

    memset(buf, 0, cap);
    memcpy(buf, "glibc-ld.so.cache1.1", 20);
    memcpy(buf + 20, &n, 4);
    buf[28] = 2; /* little-endian */
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *e = buf + 48 + (size_t)i * 24;
        uint32_t key = (uint32_t)at, value;
        at += (size_t)sprintf((char *)buf + at, "lib%u.so.1", i) + 1;
        value = (uint32_t)at;
        at += (size_t)sprintf((char *)buf + at, "/l%u", i) + 1;
        memcpy(e, &flags, 4);
        memcpy(e + 4, &key, 4);
        memcpy(e + 8, &value, 4);
    }
    uint32_t len_strings = (uint32_t)(at - strings);
    memcpy(buf + 24, &len_strings, 4);
    return at;
}

static void test_crafted(void)
{
    unsigned char buf[4096];
    struct hr_ldcache c;
    char err[256];
    size_t len = make_cache(buf, sizeof(buf), 3, hr_ldcache_native_flags);
    uint32_t v;

    CHECK(hr_ldcache_parse(buf, len, &c, err, sizeof(err)) == 0);
    CHECK(c.n == 3);
    CHECK_STR(hr_ldcache_find(&c, "lib2.so.1"), "/l2");
    hr_ldcache_free(&c);
    /* entries of another ABI are never found */
    len = make_cache(buf, sizeof(buf), 2, 0x0003);
    CHECK(hr_ldcache_parse(buf, len, &c, err, sizeof(err)) == 0);
    CHECK(c.n == 2 && hr_ldcache_find(&c, "lib1.so.1") == NULL);
    hr_ldcache_free(&c);

    len = make_cache(buf, sizeof(buf), 3, hr_ldcache_native_flags);
    v = 0xffffffffu; /* nlibs */
    memcpy(buf + 20, &v, 4);
    CHECK(hr_ldcache_parse(buf, len, &c, err, sizeof(err)) < 0);
    CHECK(strstr(err, "entries"));
    len = make_cache(buf, sizeof(buf), 3, hr_ldcache_native_flags);
    memcpy(buf + 48 + 24 + 4, &v, 4); /* entry 1's key */
    CHECK(hr_ldcache_parse(buf, len, &c, err, sizeof(err)) < 0);
    CHECK(strstr(err, "out of range"));
    len = make_cache(buf, sizeof(buf), 3, hr_ldcache_native_flags);
    CHECK(hr_ldcache_parse(buf, len - 1, &c, err, sizeof(err)) < 0); /* last NUL cut */
    buf[28] = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 2 : 3;
    CHECK(hr_ldcache_parse(buf, len, &c, err, sizeof(err)) < 0);
    CHECK(strstr(err, "byte order"));

    CHECK(hr_ldcache_parse("", 0, &c, err, sizeof(err)) < 0);
    CHECK(hr_ldcache_parse("ld.so-1.7.0", 11, &c, err, sizeof(err)) < 0);
    CHECK(hr_ldcache_parse("glibc-ld.so.cache1.1", 20, &c, err, sizeof(err)) < 0);
    /* an old table claiming more entries than the file holds */
    memset(buf, 0, 64);
    memcpy(buf, "ld.so-1.7.0", 11);
    v = 1000;
    memcpy(buf + 12, &v, 4);
    CHECK(hr_ldcache_parse(buf, 64, &c, err, sizeof(err)) < 0);
    /* an empty old table: a valid, empty cache */
    v = 0;
    memcpy(buf + 12, &v, 4);
    CHECK(hr_ldcache_parse(buf, 16, &c, err, sizeof(err)) == 0 && c.n == 0);
    hr_ldcache_free(&c);
}

/* A new-format cache of n entries whose keys and values all point at one
 * string of slen 'a's, NUL-terminated unless is_open: a few bytes per
 * entry in the file, n x slen if every entry were copied. */
static unsigned char *make_shared(uint32_t n, size_t slen, bool is_open, size_t *len)
{
    size_t strings = 48 + (size_t)n * 24;
    uint32_t off = (uint32_t)strings, nstr = (uint32_t)slen + 1;
    unsigned flags = hr_ldcache_native_flags;
    unsigned char *buf;

    *len = strings + slen + !is_open;
    buf = hr_xmalloc(*len);
    memset(buf, 0, strings);
    memcpy(buf, "glibc-ld.so.cache1.1", 20);
    memcpy(buf + 20, &n, 4);
    memcpy(buf + 24, &nstr, 4);
    buf[28] = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 3 : 2;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *e = buf + 48 + (size_t)i * 24;
        memcpy(e, &flags, 4);
        memcpy(e + 4, &off, 4);
        memcpy(e + 8, &off, 4);
    }
    memset(buf + strings, 'a', slen);
    if (!is_open)
        buf[strings + slen] = '\0';
    return buf;
}

/* The same in the old format alone: strings follow the entries. */
static unsigned char *make_shared_old(uint32_t n, size_t slen, size_t *len)
{
    size_t strings = 16 + (size_t)n * 12;
    uint32_t off = 0;
    unsigned flags = hr_ldcache_native_flags;
    unsigned char *buf;

    *len = strings + slen + 1;
    buf = hr_xmalloc(*len);
    memset(buf, 0, strings);
    memcpy(buf, "ld.so-1.7.0", 11);
    memcpy(buf + 12, &n, 4);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *e = buf + 16 + (size_t)i * 12;
        memcpy(e, &flags, 4);
        memcpy(e + 4, &off, 4);
        memcpy(e + 8, &off, 4);
    }
    memset(buf + strings, 'a', slen);
    buf[strings + slen] = '\0';
    return buf;
}

/* Parse a crafted cache; 0 or -1 as hr_ldcache_parse, the buffer freed. */
static int parse_crafted(unsigned char *buf, size_t len, size_t *n, char *err,
                         size_t errlen)
{
    struct hr_ldcache c;
    int rc = hr_ldcache_parse(buf, len, &c, err, errlen);

    *n = c.n;
    if (rc == 0)
        hr_ldcache_free(&c);
    free(buf);
    return rc;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Caches whose entries all share one string: refused (or, within the caps,
 * parsed) in milliseconds and without the memory a copy per entry takes. */
static void test_shared_strings(void)
{
    long rss = peak_rss_kib();
    double start = seconds();
    char err[256];
    size_t len, n;
    unsigned char *buf;

    /* 20,000 entries at a 100 KB string: 4 GB if copied */
    buf = make_shared(20000, 100000, false, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) < 0);
    CHECK(strstr(err, "entry 0: string longer than 4096 bytes"));
    buf = make_shared_old(20000, 100000, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) < 0);
    CHECK(strstr(err, "longer than 4096"));
    /* every string as long as allowed, as many entries as allowed: 512 MiB
     * if copied; refused once 16 MiB are copied */
    buf = make_shared(65536, 4096, false, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) < 0);
    CHECK(strstr(err, "strings total more than 16777216 bytes"));
    /* as many entries as allowed, with short strings: a valid cache */
    buf = make_shared(65536, 8, false, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) == 0 && n == 65536);
    /* one entry more */
    buf = make_shared(65537, 8, false, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) < 0);
    CHECK(strstr(err, "65537 entries, more than 65536"));
    /* PATH_MAX bytes is the longest key or value */
    buf = make_shared(1, 4096, false, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) == 0 && n == 1);
    buf = make_shared(1, 4097, false, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) < 0);
    CHECK(strstr(err, "longer than 4096"));
    /* no NUL at all: too long if over the limit, else cut short */
    buf = make_shared(3, 5000, true, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) < 0);
    CHECK(strstr(err, "longer than 4096"));
    buf = make_shared(3, 100, true, &len);
    CHECK(parse_crafted(buf, len, &n, err, sizeof(err)) < 0);
    CHECK(strstr(err, "runs past the end"));

    CHECK(seconds() - start < 1.0);
    CHECK(peak_rss_kib() - rss < 64 * 1024); /* KiB */
}

/* Every entry of a parse that succeeded must be usable. */
static size_t touch(const struct hr_ldcache *c)
{
    size_t sum = 0;
    for (size_t i = 0; i < c->n; i++)
        sum += strlen(c->e[i].name) + strlen(c->e[i].path);
    return sum;
}

static void test_fuzz_one(const char *path, int rounds)
{
    size_t len;
    unsigned char *orig = slurp(path, &len), *buf;
    struct hr_ldcache c;
    char err[256];
    int ok = 0, bad = 0, silent = 0;

    if (!orig) {
        CHECK(0);
        return;
    }
    buf = hr_xmalloc(len);
    /* every truncation; each one copied to a buffer of exactly that size so
     * that a sanitizer sees any read past its end */
    for (size_t n = 0; n <= len; n++) {
        unsigned char *cut = hr_xmalloc(n);
        memcpy(cut, orig, n);
        if (hr_ldcache_parse(cut, n, &c, err, sizeof(err)) == 0) {
            touch(&c);
            hr_ldcache_free(&c);
            ok++;
        } else {
            bad++;
        }
        free(cut);
    }
    CHECK(ok > 0 && bad > 0);
    /* random byte changes, half of them in the header and first entries */
    for (int r = 0; r < rounds; r++) {
        memcpy(buf, orig, len);
        for (uint32_t k = 0, nk = 1 + rnd() % 4; k < nk; k++) {
            size_t at = rnd() % 2 ? rnd() % (len < 128 ? len : 128) : rnd() % len;
            buf[at] = rnd() % 3 == 0 ? 0xff : (unsigned char)rnd();
        }
        if (hr_ldcache_parse(buf, len, &c, err, sizeof(err)) == 0) {
            touch(&c);
            hr_ldcache_free(&c);
        } else {
            silent += err[0] == '\0';
        }
        err[0] = '\0';
    }
    CHECK(silent == 0); /* every failure says why */
    free(buf);
    free(orig);
}

static void test_fuzz(void)
{
    test_fuzz_one(HOST "/ld.so.cache", 20000);
    test_fuzz_one(HOST "/ld.so.cache.compat", 20000);
    test_fuzz_one(HOST "/ld.so.cache.old", 20000);
    test_fuzz_one(HR_FAKEHOST "/image/ld.so.cache", 5000);
}

int main(void)
{
    test_formats();
    test_host_cache();
    test_add();
    test_crafted();
    test_shared_strings();
    test_fuzz();
    return unit_done();
}
