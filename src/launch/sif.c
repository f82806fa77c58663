/* SIF files (see sif.h). The layout is that of Apptainer's pkg/sif
 * (github.com/apptainer/sif: sif.go, descriptor.go), little-endian and
 * packed as Go's encoding/binary writes it:
 *
 *   global header, at 0 (128 bytes)     descriptor (585 bytes each)
 *     0  launch script [32]               0  data type  int32 (0x4004: partition)
 *    32  "SIF_MAGIC" [10]                 4  used       bool
 *    42  version [3], arch [3]            5  id, group id, linked id  uint32 x3
 *    48  uuid [16]                       17  offset     int64
 *    64  ctime, mtime  int64             25  size       int64
 *    80  descriptors free, total  int64  33  size with padding, times, uid, gid
 *    96  descriptors offset, size int64  73  name [128]
 *   112  data offset, size  int64       201  extra [384]: for a partition,
 *                                              fs type int32 (1: SquashFS),
 *                                              partition type int32
 *                                              (1: system, 2: primary system)
 */
#include "autoconfig.h"

#include <string.h>

#include "launch/sif.h"

#define SIF_MAGIC "SIF_MAGIC"
#define HDR_SIZE 128u
#define DESC_SIZE 585u
#define MAX_DESCS 4096u /* Apptainer makes 48 */
#define DATA_PARTITION 0x4004
#define FS_SQUASHFS 1
#define PART_SYSTEM 1
#define PART_PRIMSYS 2
#define SQFS_MAGIC "hsqs"

static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The SquashFS offset descriptor d names, if it is a used SquashFS
 * partition of type part lying inside the file; else 0. */
static uint64_t desc_squashfs(hr_pread_fn rd, void *ctx, uint64_t file_size,
                              const unsigned char *d, unsigned part)
{
    uint64_t off = le(d + 17, 8), size = le(d + 25, 8);
    char magic[4];

    if (le(d, 4) != DATA_PARTITION || !d[4] || le(d + 201, 4) != FS_SQUASHFS ||
        le(d + 205, 4) != part)
        return 0;
    if (off == 0 || off >= file_size || size > file_size - off || size < sizeof(magic))
        return 0;
    if (hr_pread_exact(rd, ctx, magic, sizeof(magic), off) < 0 ||
        memcmp(magic, SQFS_MAGIC, sizeof(magic)) != 0)
        return 0;
    return off;
}

void hr_sif_read(hr_pread_fn rd, void *ctx, uint64_t file_size, struct hr_sif *out)
{
    unsigned char h[HDR_SIZE], d[DESC_SIZE];
    uint64_t total, descoff;

    memset(out, 0, sizeof(*out));
    if (file_size < HDR_SIZE || hr_pread_exact(rd, ctx, h, sizeof(h), 0) < 0 ||
        memcmp(h + 32, SIF_MAGIC, sizeof(SIF_MAGIC)) != 0)
        return;
    out->is_sif = true;
    total = le(h + 88, 8);
    descoff = le(h + 96, 8);
    if (total > MAX_DESCS || descoff > file_size ||
        total * DESC_SIZE > file_size - descoff)
        return;
    /* the primary system partition is the one Apptainer runs; a file
     * without one may still have a system partition */
    for (unsigned part = PART_PRIMSYS; part >= PART_SYSTEM; part--) {
        for (uint64_t i = 0; i < total; i++) {
            if (hr_pread_exact(rd, ctx, d, sizeof(d), descoff + i * DESC_SIZE) < 0)
                return;
            out->squashfs_offset = desc_squashfs(rd, ctx, file_size, d, part);
            if (out->squashfs_offset)
                return;
        }
    }
}
