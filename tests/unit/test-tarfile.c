/* Members of plain and compressed tars (tarfile.c): found by name, read in
 * any order with the right bytes; a compressed tar is decompressed again
 * only for a member that lies behind the stream, never for a small one; a
 * file that changes between passes is noticed. */
#include "autoconfig.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tarfile.h"
#include "unit.h"
#include "util.h"

struct spec {
    const char *name;
    size_t size; /* (size_t)-1: a directory */
    uint32_t seed;
};

/* The members, in archive order: small ones (kept by the index pass of a
 * compressed tar), larger ones (streamed), and a directory between them. */
static const struct spec members[] = {
    {"./small", 100, 1},        {"big1", 1536 * 1024, 2}, {"d/", (size_t)-1, 0},
    {"d/big2", 1200 * 1024, 3}, {"tiny", 0, 4},
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

/* Write the members (in the order given by idx) to path, compressed with
 * filter (an ARCHIVE_FILTER_* code). 0 or -1. */
static int write_tar(const char *path, int filter, const size_t *idx, size_t n)
{
    struct archive *a = archive_write_new();
    int rc = -1;

    archive_write_set_format_pax_restricted(a);
    if (archive_write_add_filter(a, filter) != ARCHIVE_OK ||
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

static void check_plain(const char *path)
{
    static const size_t order[] = {0, 1, 2, 3, 4};
    struct hr_tarfile *tf;

    CHECK(write_tar(path, ARCHIVE_FILTER_NONE, order, HR_ARRAY_LEN(order)) == 0);
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

    if (write_tar(path, filter, order, HR_ARRAY_LEN(order)) < 0) {
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
    CHECK(write_tar(tmp, filter, reordered, HR_ARRAY_LEN(reordered)) == 0);
    CHECK(rename(tmp, path) == 0);
    CHECK(hr_tarfile_begin(tf, hr_tarfile_find(tf, "big1")) < 0);
    hr_tarfile_close(tf);
}

int main(void)
{
    char dir[] = "/tmp/test-tarfile.XXXXXX";
    char path[64], tmp[64], bad[64];
    FILE *f;

    hr_log_init("test-tarfile", HR_LOG_QUIET);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/img", dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    snprintf(bad, sizeof(bad), "%s/bad", dir);

    check_plain(path);
    check_compressed(path, tmp, ARCHIVE_FILTER_GZIP, "gzip");
    check_compressed(path, tmp, ARCHIVE_FILTER_ZSTD, "zstd");
    check_compressed(path, tmp, ARCHIVE_FILTER_XZ, "xz");

    CHECK(hr_tarfile_open(bad) == NULL); /* missing */
    f = fopen(bad, "w");
    fputs("neither a tar nor compressed\n", f);
    fclose(f);
    CHECK(hr_tarfile_open(bad) == NULL);

    unlink(path);
    unlink(bad);
    rmdir(dir);
    return unit_done();
}
