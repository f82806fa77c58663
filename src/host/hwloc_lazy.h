/* hwloc loaded on demand (hwloc_lazy.c): hpcrun does not link libhwloc, so
 * launches on nodes without GPUs or fast networks never load it. */
#ifndef HR_HWLOC_LAZY_H
#define HR_HWLOC_LAZY_H

#include <stddef.h>

/* Load libhwloc (HR_HWLOC_SONAME, found by configure) once; the hwloc
 * functions hpcrun uses work after this returns 0. Returns -1 with err set
 * when the library is missing or lacks a function. */
int hr_hwloc_open(char *err, size_t errlen);

#endif
