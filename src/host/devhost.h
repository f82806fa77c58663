/* Step 3 (plan), host hardware facts: the GPUs and fabric NICs hwloc finds
 * on the PCI bus (or in a saved XML topology), and this host's device files,
 * NVIDIA minors, uverbs names and device cgroup. Collected here (these touch
 * the system); the decisions made from them are pure (devalloc.h,
 * devices.h), so unit tests feed them saved topologies and hand-made host
 * facts. */
#ifndef HR_DEVHOST_H
#define HR_DEVHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

/* Vendors whose user-space drivers hpcrun knows (bits in hr_devplan.vendors). */
enum hr_vendor {
    HR_VENDOR_NVIDIA = 1u << 0,
    HR_VENDOR_AMD = 1u << 1,
    HR_VENDOR_INTEL = 1u << 2,
    HR_VENDOR_VERBS = 1u << 3, /* an RDMA (ibverbs) NIC: mlx5, hfi1, ... */
    HR_VENDOR_CXI = 1u << 4,   /* HPE Slingshot */
};

enum hr_hwdev_kind { HR_HW_GPU, HR_HW_NIC };

/* One PCI device of interest, with the OS devices hwloc attached to it. */
struct hr_hwdev {
    enum hr_hwdev_kind kind;
    unsigned vendor;     /* one HR_VENDOR_* bit */
    unsigned pci_vendor; /* 0x10de, 0x1002, 0x8086, 0x15b3, 0x17db, ... */
    unsigned pci_device;
    unsigned pci_class; /* 0x0302, 0x0300, 0x0207, 0x0200, ... */
    char busid[16];     /* "0000:3b:00.0" */
    int numa;           /* OS index of the nearest NUMA node, -1 unknown */
    struct hr_strv
        osdevs; /* "cuda0", "nvml0", "card1", "renderD128", "mlx5_0", "ib0", "cxi0" */
    /* those of osdevs that are RDMA devices (hwloc's OpenFabrics OS devices,
     * cxiN excepted): the names /sys/class/infiniband_verbs knows */
    struct hr_strv ibdevs;
    char *uuid; /* NVIDIAUUID / AMDUUID info, or NULL */
};

struct hr_hwtopo {
    struct hr_hwdev *devs; /* GPUs first, then NICs, each in PCI bus order */
    size_t n;
};

/* Discover this node's devices with hwloc (xml: a saved topology instead,
 * e.g. from --topology or $HWLOC_XMLFILE; NULL: this machine). Returns 0, or
 * -1 with a one-line message in err naming the file. Without hwloc compiled
 * in, returns 0 with an empty topology. */
int hr_hw_discover(const char *xml, struct hr_hwtopo *out, char *err, size_t errlen);
void hr_hw_free(struct hr_hwtopo *topo);
/* Was hwloc compiled in? Without it no GPU is ever found, and messages say
 * why. */
bool hr_dev_have_hwloc(void);

/* Facts about the host's device files, gathered outside the plan. */
struct hr_devhost {
    struct hr_strv
        nodes; /* device nodes that exist: "/dev/nvidia0", "/dev/dri/renderD128", ... */
    dev_t *node_rdevs; /* st_rdev of nodes.v[i] (0: unknown); matched against the
                        * device cgroup */
    /* NVIDIA GPUs: PCI bus id -> device minor
     * (/proc/driver/nvidia/gpus/BUSID/information) */
    struct hr_strv nv_busids;
    int *nv_minors;
    /* RDMA devices: ibdev name -> its uverbs node ("mlx5_0" -> "uverbs0"),
     * from /sys/class/infiniband_verbs/uverbsN/ibdev */
    struct hr_strv ib_names;
    struct hr_strv ib_uverbs;
    char *cgroup_devices; /* cgroup v1 devices.list text; NULL if not readable */
};

/* Read /dev, /proc/driver/nvidia, /sys/class/infiniband_verbs and the
 * device cgroup; missing pieces are simply absent. */
int hr_devhost_collect(struct hr_devhost *host);
void hr_devhost_free(struct hr_devhost *host);
/* Add one fact (the collector's own steps; unit tests build hosts with them). */
void hr_devhost_add_node(struct hr_devhost *host, const char *path, dev_t rdev);
void hr_devhost_add_nv(struct hr_devhost *host, const char *busid, int minor);
void hr_devhost_add_ib(struct hr_devhost *host, const char *ibdev, const char *uverbs);
/* The index of path in host->nodes, or -1. */
ssize_t hr_devhost_node_index(const struct hr_devhost *host, const char *path);
/* name is prefix followed by a number: ("renderD128", "renderD") */
bool hr_dev_name_is(const char *name, const char *prefix);

/* Cheap test, before any hwloc work: does this host have any GPU or fabric
 * device node at all (/dev/nvidiactl, /dev/nvidia0, /dev/kfd,
 * /dev/dri/renderD128, /dev/infiniband, /dev/cxi0, /dev/hfi1_0)? A render
 * node, not /dev/dri: a display controller such as a BMC's has card0 but
 * no render node, and is no GPU. Launches on plain nodes skip discovery. */
bool hr_dev_host_has_any(void);

#endif
