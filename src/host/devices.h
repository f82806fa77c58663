/* Step 3 (plan), host hardware: of the GPUs and fast-network devices this
 * node has (devhost.h), which the job may use, the device nodes to bind for
 * them and the visible-devices variables to set inside.
 *
 * hr_dev_plan is pure, so unit tests feed it saved topologies and
 * hand-made host facts and check the exact device plan. */
#ifndef HR_DEVICES_H
#define HR_DEVICES_H

#include <stddef.h>

#include "common/util.h"
#include "host/devhost.h"
#include "host/devreq.h"

/* What the plan decided. */
struct hr_devplan {
    struct hr_strv nodes; /* device nodes to bind, host path == container path */
    struct hr_strv env;   /* NAME=VALUE to set inside (visible-device lists renumbered) */
    unsigned vendors;     /* HR_VENDOR_* bits whose host driver libraries are wanted */
    struct hr_strv report; /* human lines for --devices / --dry-run */
};

/* What the device plan is a function of. */
struct hr_devinput {
    const struct hr_hwtopo *topo;  /* the node's devices (hr_hw_discover) */
    const struct hr_devhost *host; /* its device files (hr_devhost_collect) */
    struct hr_devreq req;          /* --gpu, --fabric */
    char **envp;                   /* the caller's environment (allocation variables) */
};

/* Pure: pick the devices the job may use and the nodes to bind. Returns 0,
 * or -1 with err set (e.g. --gpu=nvidia on a node with no NVIDIA GPU, or an
 * allocation variable naming a GPU that does not exist). */
int hr_dev_plan(const struct hr_devinput *in, struct hr_devplan *out, char *err,
                size_t errlen);
void hr_devplan_free(struct hr_devplan *plan);

#endif
