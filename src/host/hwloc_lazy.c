/* hwloc, loaded when a launch needs it.
 *
 * Device discovery runs only on nodes with a GPU or fabric device node, but
 * every launch would pay for loading libhwloc and what it links (libudev,
 * libm) if hpcrun linked it: the launch path is otherwise libc alone (the
 * other libraries are static; bench/results/launch.md). So hpcrun does not
 * link libhwloc: this file defines the few hwloc functions that devhost.c
 * and hwloc's inline helpers call, each forwarding to the library that
 * hr_hwloc_open() loads (the soname configure found, so the ABI is the one
 * the headers describe). */
#include "autoconfig.h"

#ifdef HAVE_HWLOC
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>

/* Hidden: in a process that has the real libhwloc already (slurmstepd, which
 * loads the SPANK plugin), these names must not be offered to anyone else. */
#pragma GCC visibility push(hidden)
#include <hwloc.h>

#include "host/hwloc_lazy.h"
#include "common/util.h"

static struct {
    bool is_open;
    __typeof__(hwloc_topology_init) *topology_init;
    __typeof__(hwloc_topology_destroy) *topology_destroy;
    __typeof__(hwloc_topology_load) *topology_load;
    __typeof__(hwloc_topology_set_xml) *topology_set_xml;
    __typeof__(hwloc_topology_set_components) *topology_set_components;
    __typeof__(hwloc_topology_set_io_types_filter) *set_io_types_filter;
    __typeof__(hwloc_topology_set_cache_types_filter) *set_cache_types_filter;
    __typeof__(hwloc_topology_set_icache_types_filter) *set_icache_types_filter;
    __typeof__(hwloc_get_type_depth) *get_type_depth;
    __typeof__(hwloc_get_obj_by_depth) *get_obj_by_depth;
    __typeof__(hwloc_bitmap_first) *bitmap_first;
    __typeof__(hwloc_bitmap_weight) *bitmap_weight;
} hw;

int hr_hwloc_open(char *err, size_t errlen)
{
    static const char *const names[] = {
        "hwloc_topology_init",
        "hwloc_topology_destroy",
        "hwloc_topology_load",
        "hwloc_topology_set_xml",
        "hwloc_topology_set_components",
        "hwloc_topology_set_io_types_filter",
        "hwloc_topology_set_cache_types_filter",
        "hwloc_topology_set_icache_types_filter",
        "hwloc_get_type_depth",
        "hwloc_get_obj_by_depth",
        "hwloc_bitmap_first",
        "hwloc_bitmap_weight",
    };
    void **slots[] = {
        (void **)&hw.topology_init,
        (void **)&hw.topology_destroy,
        (void **)&hw.topology_load,
        (void **)&hw.topology_set_xml,
        (void **)&hw.topology_set_components,
        (void **)&hw.set_io_types_filter,
        (void **)&hw.set_cache_types_filter,
        (void **)&hw.set_icache_types_filter,
        (void **)&hw.get_type_depth,
        (void **)&hw.get_obj_by_depth,
        (void **)&hw.bitmap_first,
        (void **)&hw.bitmap_weight,
    };
    void *lib;

    _Static_assert(HR_ARRAY_LEN(names) == HR_ARRAY_LEN(slots), "one slot per name");
    if (hw.is_open)
        return 0;
    lib = dlopen(HR_HWLOC_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return hr_fail(err, errlen, "device discovery needs %s: %s", HR_HWLOC_SONAME,
                       dlerror());
    for (size_t i = 0; i < HR_ARRAY_LEN(names); i++) {
        *slots[i] = dlsym(lib, names[i]);
        if (!*slots[i]) {
            hr_fail(err, errlen, "%s: no %s", HR_HWLOC_SONAME, names[i]);
            dlclose(lib);
            return -1;
        }
    }
    hw.is_open = true;
    return 0;
}

/* The forwarders: called only after hr_hwloc_open() succeeded. */
int hwloc_topology_init(hwloc_topology_t *topologyp)
{
    return hw.topology_init(topologyp);
}

void hwloc_topology_destroy(hwloc_topology_t topology)
{
    hw.topology_destroy(topology);
}

int hwloc_topology_load(hwloc_topology_t topology)
{
    return hw.topology_load(topology);
}

int hwloc_topology_set_xml(hwloc_topology_t topology, const char *xmlpath)
{
    return hw.topology_set_xml(topology, xmlpath);
}

int hwloc_topology_set_components(hwloc_topology_t topology, unsigned long flags,
                                  const char *name)
{
    return hw.topology_set_components(topology, flags, name);
}

int hwloc_topology_set_io_types_filter(hwloc_topology_t topology,
                                       enum hwloc_type_filter_e filter)
{
    return hw.set_io_types_filter(topology, filter);
}

int hwloc_topology_set_cache_types_filter(hwloc_topology_t topology,
                                          enum hwloc_type_filter_e filter)
{
    return hw.set_cache_types_filter(topology, filter);
}

int hwloc_topology_set_icache_types_filter(hwloc_topology_t topology,
                                           enum hwloc_type_filter_e filter)
{
    return hw.set_icache_types_filter(topology, filter);
}

int hwloc_get_type_depth(hwloc_topology_t topology, hwloc_obj_type_t type)
{
    return hw.get_type_depth(topology, type);
}

hwloc_obj_t hwloc_get_obj_by_depth(hwloc_topology_t topology, int depth, unsigned idx)
{
    return hw.get_obj_by_depth(topology, depth, idx);
}

int hwloc_bitmap_first(hwloc_const_bitmap_t bitmap)
{
    return hw.bitmap_first(bitmap);
}

int hwloc_bitmap_weight(hwloc_const_bitmap_t bitmap)
{
    return hw.bitmap_weight(bitmap);
}
#pragma GCC visibility pop
#endif
