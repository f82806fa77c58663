/* Step 3 (plan), host hardware: which GPUs and fabric devices the job may
 * use and which device nodes are bound for them. Pure: a function of the
 * discovered topology, the host's device files and the caller's environment
 * (discovery and host facts are in devhost.c; which GPUs the job was given,
 * and the visible-devices variables renumbered, in devalloc.c).
 *
 * Device nodes, only those that exist on the host: per allocated GPU its
 * /dev/nvidiaN and its DRM nodes (/dev/dri/cardN, renderDN); per vendor with
 * a GPU allocated /dev/nvidiactl, nvidia-uvm, nvidia-uvm-tools,
 * nvidia-modeset and the nodes in nvidia-caps/, or /dev/kfd. A GPU that is
 * not allocated has none of its nodes bound. Fabric (--fabric=auto): per RDMA
 * device its /dev/infiniband/uverbsN (all of them when the ibdev->uverbs map
 * lacks it) and /dev/hfi1_N, then rdma_cm and umad*; per Slingshot NIC its
 * /dev/cxiN (all /dev/cxi* when hwloc named none). */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "host/devices.h"
#include "common/util.h"
#include "host/devalloc.h"
#include "host/devhost.h"
#include "host/devreq.h"

struct planner {
    const struct hr_hwtopo *topo;
    const struct hr_devhost *host;
    const struct hr_devreq *req;
    struct hr_gpualloc alloc;
    struct hr_devplan *out;
};

static const char *host_uverbs(const struct hr_devhost *host, const char *ibdev)
{
    for (size_t i = 0; i < host->ib_names.n; i++)
        if (strcmp(host->ib_names.v[i], ibdev) == 0)
            return host->ib_uverbs.v[i];
    return NULL;
}

/* ---- device nodes ---------------------------------------------------------- */

/* Bind path if the host has it (once); append it to the line being built. */
static bool bind_node(struct planner *p, const char *path, char **line)
{
    struct hr_strv *nodes = &p->out->nodes;
    char *next;

    if (hr_devhost_node_index(p->host, path) < 0)
        return false;
    if (!hr_strv_has(nodes, path))
        hr_strv_push(nodes, path);
    next = hr_xasprintf("%s %s", *line, path);
    free(*line);
    *line = next;
    return true;
}

/* Bind every host node whose path starts with prefix. */
static bool bind_prefix(struct planner *p, const char *prefix, char **line)
{
    bool is_any = false;
    size_t n = strlen(prefix);

    for (size_t i = 0; i < p->host->nodes.n; i++)
        if (strncmp(p->host->nodes.v[i], prefix, n) == 0)
            is_any |= bind_node(p, p->host->nodes.v[i], line);
    return is_any;
}

static bool bind_gpu(struct planner *p, const struct hr_gpuslot *g, char **line)
{
    const struct hr_strv *os = &g->dev->osdevs;
    bool is_any = false;

    if (g->dev->vendor == HR_VENDOR_NVIDIA && g->minor >= 0) {
        hr_autofree char *node = hr_xasprintf("/dev/nvidia%d", g->minor);
        is_any |= bind_node(p, node, line);
    }
    for (size_t i = 0; i < os->n; i++) {
        if (hr_dev_name_is(os->v[i], "card") || hr_dev_name_is(os->v[i], "renderD")) {
            hr_autofree char *node = hr_xasprintf("/dev/dri/%s", os->v[i]);
            is_any |= bind_node(p, node, line);
        }
    }
    return is_any;
}

static char *joined(const struct hr_strv *sv)
{
    char *out = hr_xstrdup(sv->n ? "" : "-");

    for (size_t i = 0; i < sv->n; i++) {
        char *next = hr_xasprintf("%s%s%s", out, i ? "," : "", sv->v[i]);
        free(out);
        out = next;
    }
    return out;
}

static void report_dev(struct planner *p, const struct hr_hwdev *d, const char *state,
                       const char *nodes)
{
    hr_autofree char *numa = d->numa < 0 ? hr_xstrdup("?") : hr_xasprintf("%d", d->numa);
    hr_autofree char *os = joined(&d->osdevs);

    hr_strv_push_owned(&p->out->report,
                       hr_xasprintf("%s  %s %s  numa %s  %s  %s%s%s",
                                    d->kind == HR_HW_GPU ? "gpu" : "nic", d->busid,
                                    hr_vendor_name(d->vendor), numa, os, state,
                                    nodes ? "  ->" : "", nodes ? nodes : ""));
}

static void report_shared(struct planner *p, unsigned vendor, const char *line)
{
    if (*line)
        hr_strv_push_owned(&p->out->report, hr_xasprintf("shared  %s  ->%s",
                                                         hr_vendor_name(vendor), line));
}

/* Nodes all GPUs of a vendor share; a path ending in '/' stands for all the
 * nodes in that directory. */
static const struct {
    unsigned vendor;
    const char *path;
} gpu_shared[] = {
    {HR_VENDOR_NVIDIA, "/dev/nvidiactl"},
    {HR_VENDOR_NVIDIA, "/dev/nvidia-uvm"},
    {HR_VENDOR_NVIDIA, "/dev/nvidia-uvm-tools"},
    {HR_VENDOR_NVIDIA, "/dev/nvidia-modeset"},
    {HR_VENDOR_NVIDIA, "/dev/nvidia-caps/"}, /* MIG capabilities */
    {HR_VENDOR_AMD, "/dev/kfd"},
};

static const unsigned gpu_vendor_bits[] = {HR_VENDOR_NVIDIA, HR_VENDOR_AMD,
                                           HR_VENDOR_INTEL};

static void plan_gpu(struct planner *p, const struct hr_gpuslot *g)
{
    hr_autofree char *line = hr_xstrdup("");
    hr_autofree char *why = NULL;

    if (!g->is_selected) {
        why = hr_xasprintf("not used (--gpu=%s)", hr_gpu_mode_name(p->req->gpu));
        report_dev(p, g->dev, why, NULL);
        return;
    }
    if (!g->is_allocated) {
        why = g->why_var ? hr_xasprintf("not allocated (%s=%s)", g->why_var, g->why_value)
                         : hr_xstrdup("not allocated (device cgroup)");
        report_dev(p, g->dev, why, NULL);
        return;
    }
    if (bind_gpu(p, g, &line))
        p->out->vendors |= g->dev->vendor;
    report_dev(p, g->dev, "allocated", *line ? line : " (none)");
}

static void plan_gpus(struct planner *p)
{
    for (size_t i = 0; i < p->alloc.n; i++)
        plan_gpu(p, &p->alloc.gpus[i]);
    for (size_t v = 0; v < HR_ARRAY_LEN(gpu_vendor_bits); v++) {
        unsigned bit = gpu_vendor_bits[v];
        hr_autofree char *line = hr_xstrdup("");
        bool is_any = false;

        for (size_t i = 0; i < p->alloc.n; i++)
            is_any |=
                p->alloc.gpus[i].dev->vendor == bit && p->alloc.gpus[i].is_allocated;
        for (size_t i = 0; i < HR_ARRAY_LEN(gpu_shared) && is_any; i++) {
            const char *path = gpu_shared[i].path;
            if (gpu_shared[i].vendor != bit)
                continue;
            if (path[strlen(path) - 1] == '/')
                bind_prefix(p, path, &line);
            else
                bind_node(p, path, &line);
        }
        if (*line)
            p->out->vendors |= bit;
        report_shared(p, bit, line);
    }
}

/* ---- fabric ---------------------------------------------------------------- */

static bool is_cxi_name(const char *name)
{
    return hr_dev_name_is(name, "cxi");
}

static bool bind_verbs(struct planner *p, const struct hr_hwdev *d, char **line)
{
    bool is_any = false, is_unmapped = false;

    for (size_t i = 0; i < d->ibdevs.n; i++) {
        const char *uv = host_uverbs(p->host, d->ibdevs.v[i]);
        if (uv) {
            hr_autofree char *node = hr_xasprintf("/dev/infiniband/%s", uv);
            is_any |= bind_node(p, node, line);
        }
        is_unmapped |= !uv;
    }
    if (is_unmapped) /* which uverbs is unknown: all of them */
        is_any |= bind_prefix(p, "/dev/infiniband/uverbs", line);
    for (size_t i = 0; i < d->osdevs.n; i++) {
        if (hr_dev_name_is(d->osdevs.v[i], "hfi1_")) {
            hr_autofree char *node = hr_xasprintf("/dev/%s", d->osdevs.v[i]);
            is_any |= bind_node(p, node, line);
        }
    }
    return is_any;
}

static bool bind_cxi(struct planner *p, const struct hr_hwdev *d, char **line)
{
    bool is_any = false, is_named = false;

    for (size_t i = 0; i < d->osdevs.n; i++) {
        if (is_cxi_name(d->osdevs.v[i])) {
            hr_autofree char *node = hr_xasprintf("/dev/%s", d->osdevs.v[i]);
            is_named = true;
            is_any |= bind_node(p, node, line);
        }
    }
    if (!is_named) /* a Cassini NIC hwloc gave no cxi device: all of them */
        is_any |= bind_prefix(p, "/dev/cxi", line);
    return is_any;
}

static void plan_fabric(struct planner *p)
{
    bool is_verbs = false;

    for (size_t i = 0; i < p->topo->n; i++) {
        const struct hr_hwdev *d = &p->topo->devs[i];
        hr_autofree char *line = hr_xstrdup("");
        bool is_any;

        if (d->kind != HR_HW_NIC)
            continue;
        if (p->req->fabric == HR_FABRIC_NONE) {
            report_dev(p, d, "not used (--fabric=none)", NULL);
            continue;
        }
        is_any =
            d->vendor == HR_VENDOR_CXI ? bind_cxi(p, d, &line) : bind_verbs(p, d, &line);
        if (is_any)
            p->out->vendors |= d->vendor;
        is_verbs |= is_any && d->vendor == HR_VENDOR_VERBS;
        report_dev(p, d, "used", *line ? line : " (none)");
    }
    if (is_verbs) {
        hr_autofree char *line = hr_xstrdup("");
        bind_node(p, "/dev/infiniband/rdma_cm", &line);
        bind_prefix(p, "/dev/infiniband/umad", &line);
        report_shared(p, HR_VENDOR_VERBS, line);
    }
}

/* ---- the plan -------------------------------------------------------------- */

int hr_dev_plan(const struct hr_devinput *in, struct hr_devplan *out, char *err,
                size_t errlen)
{
    struct planner p = {.topo = in->topo, .host = in->host, .req = &in->req, .out = out};

    memset(out, 0, sizeof(*out));
    if (hr_gpu_allocate(in, &p.alloc, err, errlen) < 0)
        return -1;
    plan_gpus(&p);
    plan_fabric(&p);
    for (size_t i = 0; i < p.alloc.env.n; i++) {
        hr_strv_push(&out->env, p.alloc.env.v[i]);
        hr_strv_push_owned(&out->report, hr_xasprintf("env  %s", p.alloc.env.v[i]));
    }
    hr_gpualloc_free(&p.alloc);
    return 0;
}

void hr_devplan_free(struct hr_devplan *plan)
{
    hr_strv_free(&plan->nodes);
    hr_strv_free(&plan->env);
    hr_strv_free(&plan->report);
    plan->vendors = 0;
}
