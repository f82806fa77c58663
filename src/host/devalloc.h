/* Step 3 (plan), host hardware, inside the devices modules: which GPUs the
 * job was given (Slurm, the vendors' visible-devices variables, the device
 * cgroup) and those variables renumbered for the container. Pure. The rules
 * are written at the top of devalloc.c; devices.c builds the plan from this. */
#ifndef HR_DEVALLOC_H
#define HR_DEVALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"
#include "host/devhost.h"
#include "host/devices.h"
#include "host/devreq.h"

/* One GPU of the topology and what the allocation made of it. */
struct hr_gpuslot {
    const struct hr_hwdev *dev;
    int rank;         /* among this vendor's GPUs, PCI bus order */
    int key;          /* Slurm's index: the NVIDIA device minor, else rank */
    int minor;        /* NVIDIA: /dev/nvidiaN; -1 otherwise */
    bool is_selected; /* by --gpu */
    bool is_allocated;
    int inside; /* its index inside the container; -1 when not allocated */
    /* the source that left it out, "CUDA_VISIBLE_DEVICES" and its value
     * (pointing into envp); NULL: the device cgroup */
    const char *why_var, *why_value;
};

struct hr_gpualloc {
    struct hr_gpuslot *gpus; /* the topology's GPUs, in its order */
    size_t n;
    struct hr_strv env; /* visible-devices variables renumbered, NAME=VALUE */
};

/* Which GPUs of in->topo the job was given (in->req.gpu selects the
 * vendors), by the rules at the top of devalloc.c, and the visible-devices
 * variables of in->envp renumbered. Returns 0, or -1 with err set. */
int hr_gpu_allocate(const struct hr_devinput *in, struct hr_gpualloc *out, char *err,
                    size_t errlen);
void hr_gpualloc_free(struct hr_gpualloc *alloc);

/* "nvidia", "amd", "intel", "verbs", "cxi" */
const char *hr_vendor_name(unsigned vendor_bit);

#endif
