/* Step 3 (plan), --mpi=host: the host's MPI bound over the image's own,
 * when both are of one ABI family (MPICH ABI: libmpi.so.12; Open MPI:
 * libmpi.so.40) and hr_mpi_compatible (hostlibs.h) accepts them; with it
 * the fabric libraries that MPI was built against, from the host too. */
#ifndef HR_MPIHOST_H
#define HR_MPIHOST_H

#include "launch/inject.h"

/* Add the host MPI to out (out->libs, out->over_src/over_dst, a note), for
 * the collection c (its image and host cache; site config host-mpi).
 * Returns 0, or -1 after logging one line: an --mpi=host that cannot be
 * honoured is an error, never a warning. */
int hr_mpihost_collect(struct hr_inject_ctx *c, struct hr_inject *out);

#endif
