/* Step 3 (plan), host hardware: which GPUs and fast-network devices this
 * node has (hwloc's I/O discovery, or a saved hwloc XML topology), and which
 * of them the job was given (CUDA_VISIBLE_DEVICES, ROCR/HIP_VISIBLE_DEVICES,
 * ZE_AFFINITY_MASK, SLURM_STEP_GPUS/SLURM_JOB_GPUS, device cgroup v1).
 *
 * Discovery (hr_hw_discover) and host facts (hr_devhost_collect) touch the
 * system; hr_dev_plan is pure, so unit tests feed it saved topologies and
 * hand-made host facts and check the exact device plan. */
#ifndef HR_DEVICES_H
#define HR_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

enum hr_gpu_mode { HR_GPU_AUTO, HR_GPU_NONE, HR_GPU_NVIDIA, HR_GPU_AMD, HR_GPU_INTEL };
#define HR_N_GPU_MODES 5
/* The names of --gpu and the site key "gpu", indexed by enum hr_gpu_mode:
 * "auto", "none", "nvidia", "amd", "intel". The one list of them. */
extern const char *const hr_gpu_mode_names[HR_N_GPU_MODES];
enum hr_fabric_mode { HR_FABRIC_AUTO, HR_FABRIC_NONE };

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

/* What the plan decided. */
struct hr_devplan {
    struct hr_strv nodes; /* device nodes to bind, host path == container path */
    struct hr_strv env;   /* NAME=VALUE to set inside (visible-device lists renumbered) */
    unsigned vendors;     /* HR_VENDOR_* bits whose host driver libraries are wanted */
    struct hr_strv report; /* human lines for --devices / --dry-run */
};

struct hr_devreq {
    enum hr_gpu_mode gpu;
    enum hr_fabric_mode fabric;
};

/* Pure: pick the devices the job may use and the nodes to bind. envp is the
 * caller's environment (allocation variables). Returns 0, or -1 with err set
 * (e.g. --gpu=nvidia on a node with no NVIDIA GPU, or an allocation variable
 * naming a GPU that does not exist). */
int hr_dev_plan(const struct hr_hwtopo *topo, const struct hr_devhost *host,
                const struct hr_devreq *req, char **envp, struct hr_devplan *out,
                char *err, size_t errlen);
void hr_devplan_free(struct hr_devplan *plan);

/* Cheap test, before any hwloc work: does this host have any GPU or fabric
 * device node at all (/dev/nvidiactl, /dev/nvidia0, /dev/kfd,
 * /dev/dri/renderD128, /dev/infiniband, /dev/cxi0, /dev/hfi1_0)? A render
 * node, not /dev/dri: a display controller such as a BMC's has card0 but
 * no render node, and is no GPU. Launches on plain nodes skip discovery. */
bool hr_dev_host_has_any(void);

#endif
