/* Members of plain and compressed tars (tarfile.c): found by name, read in
 * any order with the right bytes; a compressed tar is decompressed again
 * only for a member that lies behind the stream, never for a small one; a
 * file that changes between passes is noticed. Hostile headers (negative
 * and oversized sizes, malformed PAX records), every truncation of an
 * archive and random damage to its headers give an error or members that
 * read back whole, never a hang or a read outside the data. */
#include "autoconfig.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "image/tarfile.h"
#include "unit.h"

struct spec {
    const char *name;
    size_t size; /* (size_t)-1: a directory */
    uint32_t seed;
};

/* Too long for a ustar header even split at a '/': a PAX or GNU record. */
#define LONG_NAME                                                                        \
    "long/0123456789012345678901234567890123456789012345678901234567890123456789"        \
    "0123456789012345678901234567890123456789-name"

/* The members, in archive order: small ones (kept by the index pass of a
 * compressed tar), larger ones (streamed), and a directory between them;
 * last, one whose name needs a PAX or GNU long-name record. */
static const struct spec members[] = {
    {"./small", 100, 1},        {"big1", 1536 * 1024, 2}, {"d/", (size_t)-1, 0},
    {"d/big2", 1200 * 1024, 3}, {"tiny", 0, 4},           {LONG_NAME, 3000, 5},
};

static void fill(unsigned char *buf, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
}

/* Write the members (in the order given by idx) to path, in format (an
 * ARCHIVE_FORMAT_TAR_* code) compressed with filter (an ARCHIVE_FILTER_*
 * code). 0 or -1. */
static int write_tar(const char *path, int format, int filter, const size_t *idx,
                     size_t n)
{
    struct archive *a = archive_write_new();
    int rc = -1;

    if (archive_write_set_format(a, format) != ARCHIVE_OK ||
        archive_write_add_filter(a, filter) != ARCHIVE_OK ||
        archive_write_open_filename(a, path) != ARCHIVE_OK)
        goto out;
    for (size_t k = 0; k < n; k++) {
        const struct spec *s = &members[idx[k]];
        struct archive_entry *e = archive_entry_new();
        bool is_dir = s->size == (size_t)-1;
        unsigned char *data = is_dir ? NULL : malloc(s->size + 1);
        archive_entry_set_pathname(e, s->name);
        archive_entry_set_filetype(e, is_dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, is_dir ? 0 : (la_int64_t)s->size);
        if (data)
            fill(data, s->size, s->seed);
        if (archive_write_header(a, e) != ARCHIVE_OK ||
            (data && s->size &&
             archive_write_data(a, data, s->size) != (la_ssize_t)s->size)) {
            archive_entry_free(e);
            free(data);
            goto out;
        }
        archive_entry_free(e);
        free(data);
    }
    rc = archive_write_close(a) == ARCHIVE_OK ? 0 : -1;
out:
    archive_write_free(a);
    return rc;
}

/* Read member name whole through begin/read in odd-sized pieces; true if
 * it has the bytes it was written with. */
static bool read_ok(struct hr_tarfile *tf, const char *name)
{
    const struct hr_tar_member *m = hr_tarfile_find(tf, name);
    const struct spec *s = NULL;
    unsigned char *want, *got;
    size_t done = 0;
    ssize_t n;
    bool is_ok;

    for (size_t i = 0; i < HR_ARRAY_LEN(members); i++)
        if (strcmp(members[i].name, name) == 0 ||
            (strncmp(members[i].name, "./", 2) == 0 &&
             strcmp(members[i].name + 2, name) == 0))
            s = &members[i];
    if (!m || !s || (size_t)m->size != s->size || hr_tarfile_begin(tf, m) < 0)
        return false;
    want = malloc(s->size + 1);
    got = malloc(s->size + 1);
    fill(want, s->size, s->seed);
    while ((n = hr_tarfile_read(tf, got + done, 77777)) > 0 &&
           done + (size_t)n <= s->size)
        done += (size_t)n;
    is_ok = n == 0 && done == s->size && memcmp(want, got, s->size) == 0;
    free(want);
    free(got);
    return is_ok;
}

static void check_plain(const char *path, int format)
{
    static const size_t order[] = {0, 1, 5, 2, 3, 4};
    struct hr_tarfile *tf;

    CHECK(write_tar(path, format, ARCHIVE_FILTER_NONE, order, HR_ARRAY_LEN(order)) == 0);
    CHECK((tf = hr_tarfile_open(path)) != NULL);
    if (!tf)
        return;
    CHECK(!hr_tarfile_is_compressed(tf));
    CHECK(hr_tarfile_find(tf, "small") != NULL);
    CHECK(hr_tarfile_find(tf, "./d/big2") != NULL);
    CHECK(hr_tarfile_find(tf, "d") == NULL && hr_tarfile_find(tf, "d/") == NULL);
    CHECK(read_ok(tf, "d/big2"));
    CHECK(read_ok(tf, "big1"));
    CHECK(read_ok(tf, "./small"));
    CHECK(read_ok(tf, "tiny"));
    CHECK(read_ok(tf, "d/big2"));
    CHECK(read_ok(tf, LONG_NAME));
    CHECK(hr_tarfile_passes(tf) == 0);
    hr_tarfile_close(tf);
}

static void check_compressed(const char *path, const char *tmp, int filter,
                             const char *what)
{
    static const size_t order[] = {0, 1, 2, 3, 4};
    static const size_t reordered[] = {1, 3, 0, 2, 4};
    hr_autofree char *text = NULL;
    struct hr_tarfile *tf;
    unsigned char buf[10];

    if (write_tar(path, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, filter, order,
                  HR_ARRAY_LEN(order)) < 0) {
        printf("SKIP: this libarchive cannot write %s\n", what);
        return;
    }
    CHECK((tf = hr_tarfile_open(path)) != NULL);
    if (!tf)
        return;
    CHECK(hr_tarfile_is_compressed(tf));
    CHECK(hr_tarfile_passes(tf) == 1); /* the index pass */
    /* Kept by the index pass: no decompression. */
    CHECK(read_ok(tf, "small"));
    CHECK(read_ok(tf, "tiny"));
    CHECK(hr_tarfile_passes(tf) == 1);
    /* Streamed: forward is free, backward starts again. */
    CHECK(read_ok(tf, "d/big2"));
    CHECK(hr_tarfile_passes(tf) == 2);
    CHECK(read_ok(tf, "big1"));
    CHECK(hr_tarfile_passes(tf) == 3);
    CHECK(read_ok(tf, "d/big2"));
    CHECK(hr_tarfile_passes(tf) == 3);
    CHECK(read_ok(tf, "small"));
    CHECK(hr_tarfile_passes(tf) == 3);
    /* The same member again, once some of it was read: again from the start. */
    CHECK(read_ok(tf, "d/big2"));
    CHECK(hr_tarfile_passes(tf) == 4);
    /* Asked for twice before any of it was read: one pass. */
    CHECK(hr_tarfile_begin(tf, hr_tarfile_find(tf, "big1")) == 0);
    CHECK(hr_tarfile_begin(tf, hr_tarfile_find(tf, "big1")) == 0);
    CHECK(hr_tarfile_passes(tf) == 5);
    CHECK(hr_tarfile_read(tf, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
    CHECK((text = hr_tarfile_read_all(tf, hr_tarfile_find(tf, "small"), 1000)) != NULL);
    CHECK(text && strlen(text) <= 100);
    CHECK(hr_tarfile_read_all(tf, hr_tarfile_find(tf, "small"), 99) == NULL);
    /* A file replaced between passes: its members are not where they were. */
    CHECK(write_tar(tmp, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, filter, reordered,
                    HR_ARRAY_LEN(reordered)) == 0);
    CHECK(rename(tmp, path) == 0);
    CHECK(hr_tarfile_begin(tf, hr_tarfile_find(tf, "big1")) < 0);
    hr_tarfile_close(tf);
}

/* ---- hostile archives, written block by block ----------------------------------- */

struct raw {
    unsigned char buf[8192];
    size_t len;
};

static void raw_data(struct raw *r, const void *data, size_t n)
{
    size_t padded = (n + 511) / 512 * 512;

    memset(r->buf + r->len, 0, padded);
    if (n)
        memcpy(r->buf + r->len, data, n);
    r->len += padded;
}

/* A ustar header for name (under 100 bytes) of type, whose 12-byte size
 * field is given as it is (octal text or base-256), then n bytes of data. */
static void raw_member(struct raw *r, const char *name, char type,
                       const unsigned char *size, const void *data, size_t n)
{
    unsigned char *h = r->buf + r->len;
    unsigned sum = 0;

    memset(h, 0, 512);
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    memcpy(h + 124, size, 12);
    memcpy(h + 136, "00000000000", 12);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    for (size_t i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 7, "%06o", sum);
    r->len += 512;
    raw_data(r, data, n);
}

static const unsigned char *octal(size_t v)
{
    static unsigned char f[12];

    snprintf((char *)f, sizeof(f), "%011zo", v);
    return f;
}

/* The base-256 form of v: two's complement, the top bit of the field set. */
static const unsigned char *base256(int64_t v)
{
    static unsigned char f[12];
    uint64_t u = (uint64_t)v;

    for (size_t i = 12; i-- > 4; u >>= 8)
        f[i] = (unsigned char)u;
    memset(f, v < 0 ? 0xff : 0, 4);
    f[0] |= 0x80;
    return f;
}

static void raw_manifest(struct raw *r)
{
    raw_member(r, "manifest.json", '0', octal(2), "[]", 2);
}

static void raw_pax(struct raw *r, const char *record, size_t n)
{
    raw_member(r, "PaxHeader/manifest.json", 'x', octal(n), record, n);
    raw_manifest(r);
}

static void write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "w");

    if (f) {
        fwrite(buf, 1, n, f);
        fclose(f);
    }
}

enum hostile {
    NEGATIVE_SIZE,
    HUGE_SIZE,
    SIZE_PAST_END,
    SIZE_PAST_END_MARKER,
    PAX_SHORT_RECORD,
    PAX_NO_KEY,
    PAX_NO_NEWLINE,
    PAX_LENGTH_PAST_END,
    PAX_ALL_DIGITS,
    PAX_NEGATIVE_SIZE,
    BAD_CHECKSUM,
    N_HOSTILE
};

static void raw_hostile(struct raw *r, enum hostile kind)
{
    static const char pax_short[] =
        "6 path=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    static const char pax_size[] = "14 size=-1024\n";
    static const char data[1000];

    r->len = 0;
    switch (kind) {
    case NEGATIVE_SIZE: /* a header that would not advance */
        raw_manifest(r);
        raw_member(r, "layer.tar", '0', base256(-1024), NULL, 0);
        break;
    case HUGE_SIZE:
        raw_manifest(r);
        raw_member(r, "layer.tar", '0', base256((int64_t)1 << 62), NULL, 0);
        break;
    case SIZE_PAST_END:
        raw_manifest(r);
        raw_member(r, "layer.tar", '0', octal(1 << 20), data, sizeof(data));
        return; /* no end of archive */
    case SIZE_PAST_END_MARKER:
        raw_manifest(r);
        raw_member(r, "layer.tar", '0', octal(1 << 20), data, sizeof(data));
        break;
    case PAX_SHORT_RECORD: /* shorter than "6 path=", and no NUL after it */
        raw_pax(r, pax_short, sizeof(pax_short) - 1);
        break;
    case PAX_NO_KEY:
        raw_pax(r, "5 pa\n", 5);
        break;
    case PAX_NO_NEWLINE:
        raw_pax(r, "20 path=AAAAAAAAAAAA", 20);
        break;
    case PAX_LENGTH_PAST_END:
        raw_pax(r, "99 path=x\n", 10);
        break;
    case PAX_ALL_DIGITS:
        raw_pax(r, "123456789012", 12);
        break;
    case PAX_NEGATIVE_SIZE:
        raw_member(r, "PaxHeader/layer.tar", 'x', octal(sizeof(pax_size) - 1), pax_size,
                   sizeof(pax_size) - 1);
        raw_member(r, "layer.tar", '0', octal(0), NULL, 0);
        break;
    case BAD_CHECKSUM:
        raw_manifest(r);
        r->buf[0] ^= 1;
        break;
    case N_HOSTILE:
        break;
    }
    memset(r->buf + r->len, 0, 1024);
    r->len += 1024;
}

/* Each hostile archive is refused. An index that stopped advancing would
 * hang here: main's alarm() turns that into a failure. */
static void check_hostile(const char *path)
{
    static struct raw r;

    for (int k = 0; k < N_HOSTILE; k++) {
        struct hr_tarfile *tf;
        raw_hostile(&r, (enum hostile)k);
        write_file(path, r.buf, r.len);
        tf = hr_tarfile_open(path);
        if (tf)
            printf("FAIL: hostile archive %d was indexed\n", k);
        CHECK(tf == NULL);
        hr_tarfile_close(tf);
    }
}

/* Errors are expected by the thousand below: keep them off the log. */
static int stderr_off(void)
{
    int saved = dup(2), null = open("/dev/null", O_WRONLY);

    dup2(null, 2);
    close(null);
    return saved;
}

static void stderr_on(int saved)
{
    dup2(saved, 2);
    close(saved);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    unsigned char *buf = malloc(1 << 16);

    *n = f ? fread(buf, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    return buf;
}

/* The members of a small archive: each one that tf has reads back whole.
 * false if one does not. */
static bool small_members_ok(struct hr_tarfile *tf)
{
    static const char *const names[] = {"small", "tiny", LONG_NAME};

    for (size_t i = 0; i < HR_ARRAY_LEN(names); i++)
        if (hr_tarfile_find(tf, names[i]) && !read_ok(tf, names[i]))
            return false;
    return true;
}

/* Every prefix of an uncompressed archive: refused, or its members (those
 * whose headers made it) read back whole. */
static void check_truncations(const char *path, const char *cut, int format)
{
    static const size_t order[] = {0, 5, 2, 4};
    size_t n, n_bad = 0, n_open = 0;
    unsigned char *whole;
    int saved;

    CHECK(write_tar(path, format, ARCHIVE_FILTER_NONE, order, HR_ARRAY_LEN(order)) == 0);
    whole = slurp(path, &n);
    CHECK(n > 4096 && n < (1 << 16));
    saved = stderr_off();
    for (size_t len = 0; len <= n; len++) {
        struct hr_tarfile *tf;
        write_file(cut, whole, len);
        if (!(tf = hr_tarfile_open(cut)))
            continue;
        n_open++;
        if (hr_tarfile_is_compressed(tf) || !small_members_ok(tf)) {
            printf("FAIL: the first %zu bytes of the archive (format %x)\n", len,
                   (unsigned)format);
            n_bad++;
        }
        hr_tarfile_close(tf);
    }
    stderr_on(saved);
    CHECK(n_bad == 0);
    CHECK(n_open > 0);
    free(whole);
}

/* A tar header block's checksum: the byte sum with the checksum field as
 * spaces. The test mends it after damaging a header, so that the damage
 * reaches the parser instead of failing the checksum. */
static unsigned header_sum(const unsigned char *h)
{
    unsigned sum = 0;

    for (size_t i = 0; i < 512; i++)
        sum += i >= 148 && i < 156 ? ' ' : h[i];
    return sum;
}

static bool is_header(const unsigned char *h)
{
    return h[0] && strtoul((const char *)h + 148, NULL, 8) == header_sum(h);
}

/* Random damage to the headers, mostly to their size fields, checksums
 * mended: refused, or whatever is found reads back without error (its
 * data lies inside the file). */
static void check_mutations(const char *path, const char *bad)
{
    static const size_t order[] = {0, 5, 2, 4};
    size_t headers[16], n_headers = 0, n, n_bad = 0;
    uint32_t x = 12345;
    unsigned char *whole, *copy;
    int saved;

    CHECK(write_tar(path, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, order,
                    HR_ARRAY_LEN(order)) == 0);
    whole = slurp(path, &n);
    for (size_t b = 0; b + 512 <= n && n_headers < HR_ARRAY_LEN(headers); b += 512)
        if (is_header(whole + b))
            headers[n_headers++] = b;
    CHECK(n_headers == 5); /* 4 members, one PAX record */
    copy = malloc(n);
    saved = stderr_off();
    for (int round = 0; round < 5000 && n_headers; round++) {
        struct hr_tarfile *tf;
        memcpy(copy, whole, n);
        for (int k = 0; k < 1 + round % 3; k++) {
            unsigned char *h;
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            h = copy + headers[x % n_headers];
            h[(x >> 8) % 2 ? 124 + (x >> 9) % 12 : (x >> 9) % 512] =
                (unsigned char)(x >> 24);
            snprintf((char *)h + 148, 7, "%06o", header_sum(h));
        }
        write_file(bad, copy, n);
        if (!(tf = hr_tarfile_open(bad)))
            continue;
        for (size_t i = 0; i < HR_ARRAY_LEN(order) && !hr_tarfile_is_compressed(tf);
             i++) {
            const struct hr_tar_member *m = hr_tarfile_find(tf, members[order[i]].name);
            char *text = m ? hr_tarfile_read_all(tf, m, 1 << 20) : NULL;
            n_bad += m && !text;
            free(text);
        }
        hr_tarfile_close(tf);
    }
    stderr_on(saved);
    CHECK(n_bad == 0);
    free(whole);
    free(copy);
}

int main(void)
{
    char dir[] = "/tmp/test-tarfile.XXXXXX";
    char path[64], tmp[64], bad[64];
    FILE *f;

    /* A parser that stops advancing fails the test instead of hanging it. */
    alarm(120);
    hr_log_init("test-tarfile", HR_LOG_QUIET);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/img", dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    snprintf(bad, sizeof(bad), "%s/bad", dir);

    check_plain(path, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    check_plain(path, ARCHIVE_FORMAT_TAR_GNUTAR);
    check_compressed(path, tmp, ARCHIVE_FILTER_GZIP, "gzip");
    check_compressed(path, tmp, ARCHIVE_FILTER_ZSTD, "zstd");
    check_compressed(path, tmp, ARCHIVE_FILTER_XZ, "xz");

    CHECK(hr_tarfile_open(bad) == NULL); /* missing */
    f = fopen(bad, "w");
    fputs("neither a tar nor compressed\n", f);
    fclose(f);
    CHECK(hr_tarfile_open(bad) == NULL);

    check_hostile(bad);
    check_truncations(path, bad, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    check_truncations(path, bad, ARCHIVE_FORMAT_TAR_GNUTAR);
    check_mutations(path, bad);

    unlink(path);
    unlink(bad);
    rmdir(dir);
    return unit_done();
}
