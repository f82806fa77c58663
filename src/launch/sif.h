/* Apptainer's SIF container files: recognise one given as IMAGE and find
 * its SquashFS system partition, so that the message can say which
 * --offset runs it. hpcrun does not read SIF files itself. */
#ifndef HR_SIF_H
#define HR_SIF_H

#include <stdbool.h>
#include <stdint.h>

#include "host/elfread.h"

struct hr_sif {
    bool is_sif; /* the global header says "SIF_MAGIC" */
    /* where the SquashFS of the (primary) system partition starts; 0: none
     * found (no such partition, or descriptors that cannot be trusted) */
    uint64_t squashfs_offset;
};

/* Read the header and descriptors of a file of file_size bytes through rd.
 * The file is untrusted: every offset and size is checked against the file,
 * and an offset is only given where a SquashFS superblock's magic is. */
void hr_sif_read(hr_pread_fn rd, void *ctx, uint64_t file_size, struct hr_sif *out);

#endif
