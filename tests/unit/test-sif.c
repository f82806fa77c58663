/* Unit tests for launch/sif.c: SIF files built in memory as Apptainer lays
 * them out; every truncation and many mutations must be read without a
 * crash and never give an offset where no SquashFS starts. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>

#include "launch/sif.h"
#include "unit.h"

#define DESCOFF 4096u
#define DESC 585u
#define DATA 32768u
#define FILE_SIZE (DATA + 8192u)

static void put(unsigned char *p, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void mk_desc(unsigned char *f, unsigned i, uint32_t type, uint64_t off,
                    uint64_t size, uint32_t fs, uint32_t part)
{
    unsigned char *d = f + DESCOFF + i * DESC;

    put(d, 4, type);
    d[4] = 1; /* used */
    put(d + 5, 4, i + 1);
    put(d + 17, 8, off);
    put(d + 25, 8, size);
    put(d + 201, 4, fs);
    put(d + 205, 4, part);
}

/* A SIF file: a definition file, then a SquashFS primary system partition
 * (just its magic) at DATA + 4096. */
static unsigned char *mk_sif(void)
{
    unsigned char *f = calloc(1, FILE_SIZE);

    memcpy(f, "#!/usr/bin/env run-singularity\n", 31);
    memcpy(f + 32, "SIF_MAGIC", 10);
    memcpy(f + 42, "01", 3);
    memcpy(f + 45, "02", 3);
    put(f + 80, 8, 46);      /* free */
    put(f + 88, 8, 48);      /* total */
    put(f + 96, 8, DESCOFF); /* descriptors offset */
    put(f + 104, 8, 48 * DESC);
    put(f + 112, 8, DATA);
    mk_desc(f, 0, 0x4001, DATA, 100, 0, 0);
    mk_desc(f, 1, 0x4004, DATA + 4096, 4096, 1, 2);
    memcpy(f + DATA + 4096, "hsqs", 4);
    return f;
}

static struct hr_sif rd(const unsigned char *f, size_t n)
{
    struct hr_membuf m = {f, n};
    struct hr_sif s;

    hr_sif_read(hr_pread_mem, &m, n, &s);
    return s;
}

static void test_sif(void)
{
    unsigned char *f = mk_sif();
    struct hr_sif s = rd(f, FILE_SIZE);

    CHECK(s.is_sif && s.squashfs_offset == DATA + 4096);
    /* a system partition (not primary) will do too */
    put(f + DESCOFF + DESC + 205, 4, 1);
    s = rd(f, FILE_SIZE);
    CHECK(s.is_sif && s.squashfs_offset == DATA + 4096);
    /* ... a data partition will not, nor an ext3 or encrypted one */
    put(f + DESCOFF + DESC + 205, 4, 3);
    CHECK(rd(f, FILE_SIZE).squashfs_offset == 0);
    put(f + DESCOFF + DESC + 205, 4, 2);
    put(f + DESCOFF + DESC + 201, 4, 5);
    CHECK(rd(f, FILE_SIZE).squashfs_offset == 0);
    put(f + DESCOFF + DESC + 201, 4, 1);
    /* an unused descriptor */
    f[DESCOFF + DESC + 4] = 0;
    CHECK(rd(f, FILE_SIZE).squashfs_offset == 0);
    f[DESCOFF + DESC + 4] = 1;
    /* no SquashFS where the descriptor says */
    f[DATA + 4096] = 'x';
    s = rd(f, FILE_SIZE);
    CHECK(s.is_sif && s.squashfs_offset == 0);
    f[DATA + 4096] = 'h';
    /* a partition past the end, or wrapping around */
    put(f + DESCOFF + DESC + 25, 8, 8192);
    CHECK(rd(f, FILE_SIZE).squashfs_offset == 0);
    put(f + DESCOFF + DESC + 25, 8, UINT64_MAX);
    CHECK(rd(f, FILE_SIZE).squashfs_offset == 0);
    put(f + DESCOFF + DESC + 25, 8, 4096);
    /* descriptors past the end, too many, or at an offset that wraps */
    put(f + 88, 8, 1000);
    CHECK(rd(f, FILE_SIZE).squashfs_offset == 0);
    put(f + 88, 8, UINT64_MAX / DESC + 2);
    CHECK(rd(f, FILE_SIZE).squashfs_offset == 0);
    put(f + 88, 8, 48);
    put(f + 96, 8, UINT64_MAX - 100);
    CHECK(rd(f, FILE_SIZE).is_sif && rd(f, FILE_SIZE).squashfs_offset == 0);
    put(f + 96, 8, DESCOFF);
    CHECK(rd(f, FILE_SIZE).squashfs_offset == DATA + 4096);
    /* not a SIF file */
    f[32] = 'X';
    s = rd(f, FILE_SIZE);
    CHECK(!s.is_sif && s.squashfs_offset == 0);
    free(f);
}

static void test_truncations_and_mutations(void)
{
    unsigned char *f = mk_sif(), *m = malloc(FILE_SIZE);
    unsigned seed = 7;
    int bad = 0;

    for (size_t n = 0; n <= FILE_SIZE; n += (n < DESCOFF + 2 * DESC ? 1 : 97)) {
        struct hr_sif s = rd(f, n);
        if (s.squashfs_offset && (s.squashfs_offset + 4096 > n))
            bad++;
    }
    CHECK(bad == 0);
    for (int i = 0; i < 20000; i++) {
        struct hr_sif s;
        memcpy(m, f, FILE_SIZE);
        for (int k = 0; k < 3; k++) {
            size_t at;
            seed = seed * 1103515245u + 12345u;
            /* mutate the header and the first two descriptors */
            at = (seed >> 8) % (DESCOFF + 2 * DESC);
            if (at >= 128 && at < DESCOFF)
                at = DESCOFF + at % (2 * DESC);
            m[at] = (unsigned char)(seed >> 20);
        }
        s = rd(m, FILE_SIZE);
        if (s.squashfs_offset && (s.squashfs_offset > FILE_SIZE - 4 ||
                                  memcmp(m + s.squashfs_offset, "hsqs", 4) != 0))
            bad++;
    }
    CHECK(bad == 0);
    free(m);
    free(f);
}

int main(void)
{
    test_sif();
    test_truncations_and_mutations();
    return unit_done();
}
