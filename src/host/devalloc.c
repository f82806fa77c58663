/* Step 3 (plan), host hardware: which GPUs the job was given, and the
 * visible-devices variables renumbered for the container. Pure: a function
 * of the discovered topology, the host's device files (devhost.c) and the
 * caller's environment; devices.c turns the result into device nodes.
 *
 * Which GPUs the job was given, first source that is set wins:
 *   1. SLURM_STEP_GPUS, else SLURM_JOB_GPUS: Slurm's GPU indices, for NVIDIA
 *      the device minor (/dev/nvidiaN, from /proc/driver/nvidia; bus order
 *      when that is not readable), otherwise the GPU's index among its
 *      vendor's GPUs in PCI bus order; narrowed by the vendor's variable
 *      when that lists Slurm's own indices (below);
 *   2. the vendor's variable: CUDA_VISIBLE_DEVICES (NVIDIA),
 *      ROCR_VISIBLE_DEVICES else HIP_VISIBLE_DEVICES (AMD), ZE_AFFINITY_MASK
 *      (Intel): indices among that vendor's GPUs in PCI bus order (for CUDA
 *      this assumes CUDA_DEVICE_ORDER=PCI_BUS_ID, or identical GPUs), or
 *      UUIDs; "", "-1" and "NoDevFiles" name no GPU; MIG instances, and UUIDs
 *      when the topology has none (Debian's hwloc has no NVML/RSMI plugin),
 *      cannot be resolved and leave the decision to the next source;
 *   3. the device cgroup (v1 devices.list): a GPU whose device node (NVIDIA
 *      /dev/nvidiaN, others /dev/dri/renderD*) the job may not open;
 *   4. all GPUs of the selected vendors (--gpu).
 *
 * Renumbering. Inside the container the vendor runtime sees only the bound
 * nodes, so the allocated GPUs appear as 0..k-1 in PCI bus order. A
 * visible-devices variable the caller set is rewritten to that numbering:
 *   - an index entry becomes the inside index of the GPU it named, in the
 *     caller's order (CUDA_VISIBLE_DEVICES=3,1 with GPUs 1 and 3 becomes
 *     1,0; 1,3 becomes 0,1); ZE_AFFINITY_MASK keeps the sub-device part
 *     (3.1 becomes 1.1); a UUID entry is kept, it names the same GPU inside;
 *   - when Slurm gave k GPUs, the variable counts either within them or
 *     among all. Slurm with ConstrainDevices exports 0..k-1 (which a user
 *     may narrow): kept as it is, and all k GPUs are bound. Slurm without
 *     it exports its own indices, the step's or, with per-task binding
 *     (--gpus-per-task, --gpu-bind), the task's share of them. The list is
 *     read as Slurm's indices when every entry is one of them and it names
 *     them all or has an entry k or more, which no index within k GPUs can
 *     be. Then only the GPUs it names are bound, so that a task sees only
 *     its own GPUs as it would under ConstrainDevices, and the list is
 *     renumbered: SLURM_STEP_GPUS=2,3 with CUDA_VISIBLE_DEVICES=3 binds
 *     GPU 3 alone and sets 0; with 2,3 it binds both and sets 0,1; with
 *     0,1 it binds both and keeps 0,1.
 *     Ambiguous, and read as counting within: Slurm's indices, some of
 *     them, all below k. Where entry e is also the allocation's GPU e
 *     (SLURM_STEP_GPUS=0,1 with CUDA_VISIBLE_DEVICES=1) both readings
 *     name the same GPU. Where not (SLURM_STEP_GPUS=1,2 with
 *     CUDA_VISIBLE_DEVICES=1: GPU 1 among all, GPU 2 within) they differ,
 *     nothing in the environment tells them apart, and a task bound to
 *     GPU 1 by Slurm without ConstrainDevices would get GPU 2: per-task
 *     binding needs ConstrainDevices there. (Where NVIDIA minors do not
 *     follow bus order, a list naming all of 0..k-1 also reads two ways;
 *     it is read as Slurm's, and both give the same GPUs in another order.)
 *   - HIP_VISIBLE_DEVICES counts within ROCR_VISIBLE_DEVICES: when both are
 *     set, HIP_VISIBLE_DEVICES is kept;
 *   - an unset variable stays unset (GPUs from Slurm or the cgroup need
 *     none), and one that names no GPU, MIG instances or unresolvable UUIDs
 *     is kept as it is. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "host/devalloc.h"
#include "common/util.h"
#include "host/devhost.h"
#include "host/devices.h"
#include "host/devreq.h"

struct gpu_vendor {
    unsigned bit;
    const char *name;  /* --gpu=NAME, report */
    const char *label; /* messages */
    const char *var;   /* the runtime's visible-devices variable */
    const char *var2;  /* a second one, counted within var */
    bool has_subdevices;
};

static const struct gpu_vendor gpu_vendors[] = {
    {HR_VENDOR_NVIDIA, "nvidia", "NVIDIA", "CUDA_VISIBLE_DEVICES", NULL, false},
    {HR_VENDOR_AMD, "amd", "AMD", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", false},
    {HR_VENDOR_INTEL, "intel", "Intel", "ZE_AFFINITY_MASK", NULL, true},
};

const char *hr_vendor_name(unsigned vendor_bit)
{
    switch (vendor_bit) {
    case HR_VENDOR_NVIDIA:
        return "nvidia";
    case HR_VENDOR_AMD:
        return "amd";
    case HR_VENDOR_INTEL:
        return "intel";
    case HR_VENDOR_VERBS:
        return "verbs";
    case HR_VENDOR_CXI:
        return "cxi";
    }
    return "?";
}

/* Where a vendor's allocation came from. SRC_SLURM_GLOBAL: Slurm's GPUs,
 * narrowed to those the vendor's variable names by Slurm's own indices. */
enum source { SRC_ALL, SRC_SLURM, SRC_SLURM_GLOBAL, SRC_VAR, SRC_CGROUP };

/* One entry of a visible-devices list. */
struct entry {
    bool is_index;
    long index;
    char *text;   /* the entry as written (UUID or index, sub-device cut) */
    char *suffix; /* ZE_AFFINITY_MASK ".S", or "" */
};

/* A visible-devices list as set, for parsing and messages. */
struct list_src {
    const char *var;   /* "CUDA_VISIBLE_DEVICES" */
    const char *value; /* its value */
    bool has_sub;      /* entries may name a sub-device (ZE_AFFINITY_MASK "3.1") */
};

struct entries {
    struct entry *v;
    size_t n;
    bool is_none; /* "", "-1", "NoDevFiles" */
    bool has_mig;
};

struct allocator {
    const struct hr_devhost *host;
    enum hr_gpu_mode mode;
    char **envp;
    struct hr_gpuslot *gpus;
    size_t ngpus;
    const char *slurm_var, *slurm_val;
    struct hr_strv *env;
    char *err;
    size_t errlen;
};

static int host_nv_minor(const struct hr_devhost *host, const char *busid)
{
    for (size_t i = 0; i < host->nv_busids.n; i++)
        if (strcasecmp(host->nv_busids.v[i], busid) == 0)
            return host->nv_minors[i];
    return -1;
}

/* ---- the device cgroup ----------------------------------------------------- */

static bool cgroup_field_matches(const char *field, size_t len, unsigned value)
{
    char buf[16];

    if (len == 1 && field[0] == '*')
        return true;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, field, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)buf[i]))
            return false;
    return strtoul(buf, NULL, 10) == value;
}

/* One devices.list line: "a *:* rwm", "c 195:0 rwm", "b 8:* r". */
static bool cgroup_line_allows(const char *line, size_t len, dev_t rdev)
{
    const char *end = line + len, *colon, *sp;

    if (len < 2 || (line[0] != 'a' && line[0] != 'c') || line[1] != ' ')
        return false;
    if (line[0] == 'a')
        return true; /* v1 writes "a" only for the whole range */
    line += 2;
    sp = memchr(line, ' ', (size_t)(end - line));
    colon = memchr(line, ':', (size_t)(end - line));
    if (!sp || !colon || colon > sp)
        return false;
    if (!cgroup_field_matches(line, (size_t)(colon - line), major(rdev)) ||
        !cgroup_field_matches(colon + 1, (size_t)(sp - colon - 1), minor(rdev)))
        return false;
    /* the drivers are opened read-write */
    return memchr(sp, 'r', (size_t)(end - sp)) && memchr(sp, 'w', (size_t)(end - sp));
}

static bool cgroup_allows(const char *list, dev_t rdev)
{
    for (const char *p = list; *p;) {
        const char *nl = strchrnul(p, '\n');
        if (cgroup_line_allows(p, (size_t)(nl - p), rdev))
            return true;
        p = *nl ? nl + 1 : nl;
    }
    return false;
}

/* The node whose cgroup permission decides whether the job has the GPU. */
static char *gpu_cgroup_node(const struct hr_gpuslot *g)
{
    const struct hr_strv *os = &g->dev->osdevs;

    if (g->dev->vendor == HR_VENDOR_NVIDIA && g->minor >= 0)
        return hr_xasprintf("/dev/nvidia%d", g->minor);
    for (size_t i = 0; i < os->n; i++)
        if (hr_dev_name_is(os->v[i], "renderD"))
            return hr_xasprintf("/dev/dri/%s", os->v[i]);
    for (size_t i = 0; i < os->n; i++)
        if (hr_dev_name_is(os->v[i], "card"))
            return hr_xasprintf("/dev/dri/%s", os->v[i]);
    return NULL;
}

/* A GPU whose node's device number is unknown is not refused: none of its
 * nodes exists on the host, so nothing would be bound for it anyway. */
static bool gpu_cgroup_allowed(const struct allocator *p, const struct hr_gpuslot *g)
{
    hr_autofree char *node = gpu_cgroup_node(g);
    ssize_t i;

    if (!node || !p->host->node_rdevs)
        return true;
    i = hr_devhost_node_index(p->host, node);
    if (i < 0 || p->host->node_rdevs[i] == 0)
        return true;
    return cgroup_allows(p->host->cgroup_devices, p->host->node_rdevs[i]);
}

/* ---- visible-devices lists ------------------------------------------------- */

static void entries_free(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->v[i].text);
        free(es->v[i].suffix);
    }
    free(es->v);
    memset(es, 0, sizeof(*es));
}

static bool parse_index(const char *s, long *out)
{
    char *end;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    *out = strtol(s, &end, 10);
    return errno == 0 && *end == '\0' && *out <= 65535;
}

static int parse_entry(const struct list_src *src, char *tok, struct entry *e, char *err,
                       size_t errlen)
{
    char *dot = src->has_sub ? strchr(tok, '.') : NULL;

    e->suffix = hr_xstrdup(dot ? dot : "");
    if (dot)
        *dot = '\0';
    e->text = hr_xstrdup(tok);
    e->is_index = parse_index(tok, &e->index);
    if (e->is_index || strncasecmp(tok, "GPU-", 4) == 0 ||
        strncasecmp(tok, "MIG-", 4) == 0)
        return 0;
    return hr_fail(err, errlen, "%s=%s: '%s' is not a GPU index or UUID", src->var,
                   src->value, tok);
}

static int parse_entries(const struct list_src *src, struct entries *es, char *err,
                         size_t errlen)
{
    const char *value = src->value;
    hr_autofree char *copy = hr_xstrdup(value);
    char *save = NULL;

    memset(es, 0, sizeof(*es));
    if (!*value || strcmp(value, "-1") == 0 || strcmp(value, "NoDevFiles") == 0) {
        es->is_none = true;
        return 0;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        for (char *t = tok + strlen(tok); t > tok && isspace((unsigned char)t[-1]);)
            *--t = '\0';
        es->v = hr_xrealloc(es->v, (es->n + 1) * sizeof(*es->v));
        memset(&es->v[es->n], 0, sizeof(*es->v));
        if (parse_entry(src, tok, &es->v[es->n++], err, errlen) < 0) {
            entries_free(es);
            return -1;
        }
        if (strncasecmp(tok, "MIG-", 4) == 0)
            es->has_mig = true;
    }
    return 0;
}

/* NVIDIA UUIDs are "GPU-8-4-4-4-12" (a unique prefix is enough, as for
 * CUDA); AMD's are "GPU-" and the 64-bit unique id hwloc writes as hex. */
static bool uuid_matches(const struct hr_hwdev *dev, const char *text)
{
    size_t n = strlen(text);

    if (!dev->uuid)
        return false;
    if (strncasecmp(dev->uuid, text, n) == 0)
        return true;
    if (dev->vendor == HR_VENDOR_AMD && strncasecmp(text, "GPU-", 4) == 0) {
        char *end1, *end2;
        unsigned long long a = strtoull(text + 4, &end1, 16);
        unsigned long long b = strtoull(dev->uuid, &end2, 16);
        return *end1 == '\0' && *end2 == '\0' && end1 != text + 4 && a == b;
    }
    return false;
}

/* ---- choosing the GPUs ----------------------------------------------------- */

static const struct gpu_vendor *gpu_vendor_of(unsigned bit)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(gpu_vendors); i++)
        if (gpu_vendors[i].bit == bit)
            return &gpu_vendors[i];
    return NULL;
}

static unsigned mode_vendor(enum hr_gpu_mode mode)
{
    switch (mode) {
    case HR_GPU_NVIDIA:
        return HR_VENDOR_NVIDIA;
    case HR_GPU_AMD:
        return HR_VENDOR_AMD;
    case HR_GPU_INTEL:
        return HR_VENDOR_INTEL;
    case HR_GPU_AUTO:
    case HR_GPU_NONE:
        break;
    }
    return 0;
}

static int gpus_build(struct allocator *p, const struct hr_hwtopo *topo)
{
    unsigned want = mode_vendor(p->mode);
    bool found = false;

    p->gpus = hr_xmalloc((topo->n ? topo->n : 1) * sizeof(*p->gpus));
    for (size_t i = 0; i < topo->n; i++) {
        const struct hr_hwdev *d = &topo->devs[i];
        struct hr_gpuslot *g = &p->gpus[p->ngpus];
        int rank = 0;

        if (d->kind != HR_HW_GPU)
            continue;
        for (size_t j = 0; j < p->ngpus; j++)
            rank += p->gpus[j].dev->vendor == d->vendor;
        memset(g, 0, sizeof(*g));
        g->dev = d;
        g->rank = rank;
        g->minor = -1;
        /* a GPU the NVIDIA driver does not list (vfio, another driver) has
         * no /dev/nvidiaN; without the driver's list, minors follow bus order */
        if (d->vendor == HR_VENDOR_NVIDIA)
            g->minor = p->host->nv_busids.n ? host_nv_minor(p->host, d->busid) : rank;
        g->key = d->vendor == HR_VENDOR_NVIDIA ? g->minor : rank;
        g->inside = -1;
        g->is_selected = p->mode == HR_GPU_AUTO || d->vendor == want;
        found |= g->is_selected;
        p->ngpus++;
    }
    if (want && !found) {
        const struct gpu_vendor *v = gpu_vendor_of(want);
        if (!hr_dev_have_hwloc())
            return hr_fail(p->err, p->errlen,
                           "--gpu=%s: no %s GPU found (hpcrun was built without hwloc)",
                           v->name, v->label);
        return hr_fail(p->err, p->errlen, "--gpu=%s: no %s GPU on this node", v->name,
                       v->label);
    }
    return 0;
}

static bool vendor_selected(const struct allocator *p, unsigned bit)
{
    for (size_t i = 0; i < p->ngpus; i++)
        if (p->gpus[i].is_selected && p->gpus[i].dev->vendor == bit)
            return true;
    return false;
}

static int slurm_allocate(struct allocator *p)
{
    struct entries es;

    if (parse_entries(&(struct list_src){p->slurm_var, p->slurm_val, false}, &es, p->err,
                      p->errlen) < 0)
        return -1;
    for (size_t i = 0; i < es.n; i++) {
        bool is_found = false;
        if (!es.v[i].is_index) {
            entries_free(&es);
            return hr_fail(p->err, p->errlen, "%s=%s: not a list of GPU indices",
                           p->slurm_var, p->slurm_val);
        }
        for (size_t j = 0; j < p->ngpus; j++) {
            struct hr_gpuslot *g = &p->gpus[j];
            if (g->is_selected && g->key == es.v[i].index) {
                g->is_allocated = true;
                is_found = true;
            }
        }
        if (!is_found) {
            hr_fail(p->err, p->errlen, "%s=%s: no GPU %ld on this node", p->slurm_var,
                    p->slurm_val, es.v[i].index);
            entries_free(&es);
            return -1;
        }
    }
    entries_free(&es);
    return 0;
}

static struct hr_gpuslot *gpu_by_key(struct allocator *p, unsigned vendor, long key)
{
    for (size_t i = 0; i < p->ngpus; i++)
        if (p->gpus[i].dev->vendor == vendor && p->gpus[i].key == key)
            return &p->gpus[i];
    return NULL;
}

static bool lists_key(const struct entries *es, int key)
{
    for (size_t i = 0; i < es->n; i++)
        if (es->v[i].is_index && es->v[i].index == key)
            return true;
    return false;
}

/* Does the list give Slurm's own indices rather than indices within the
 * allocation (see the rules at the top of this file)? Yes when every entry
 * is one of the GPUs Slurm gave and either the list names them all or an
 * entry is k or more, k the number Slurm gave: no index within it can be. */
static bool lists_slurm_indices(struct allocator *p, unsigned vendor,
                                const struct entries *es)
{
    size_t k = 0, named = 0;
    bool is_beyond = false;

    if (es->is_none || es->has_mig || es->n == 0)
        return false;
    for (size_t i = 0; i < p->ngpus; i++)
        k += p->gpus[i].dev->vendor == vendor && p->gpus[i].is_allocated;
    for (size_t i = 0; i < es->n; i++) {
        const struct hr_gpuslot *g =
            es->v[i].is_index ? gpu_by_key(p, vendor, es->v[i].index) : NULL;
        if (!g || !g->is_allocated)
            return false;
        is_beyond |= es->v[i].index >= (long)k;
    }
    for (size_t i = 0; i < p->ngpus; i++) {
        const struct hr_gpuslot *g = &p->gpus[i];
        named += g->dev->vendor == vendor && g->is_allocated && lists_key(es, g->key);
    }
    return is_beyond || named == k;
}

/* Slurm gave the GPUs; when the vendor's variable lists Slurm's indices
 * (per-task binding without ConstrainDevices), only the GPUs it names are
 * the job's. Returns true if it did so. A variable that does not parse is
 * left alone: Slurm's list decides. */
static bool slurm_narrow(struct allocator *p, const struct gpu_vendor *v, const char *var,
                         const char *value)
{
    struct entries es;
    char scratch[8];
    bool is_global;

    if (parse_entries(&(struct list_src){var, value, v->has_subdevices}, &es, scratch,
                      sizeof(scratch)) < 0)
        return false;
    is_global = lists_slurm_indices(p, v->bit, &es);
    for (size_t i = 0; i < p->ngpus && is_global; i++) {
        struct hr_gpuslot *g = &p->gpus[i];
        if (g->dev->vendor == v->bit && g->is_allocated && !lists_key(&es, g->key))
            g->is_allocated = false, g->why_var = var, g->why_value = value;
    }
    entries_free(&es);
    return is_global;
}

static struct hr_gpuslot *gpu_by_rank(struct allocator *p, unsigned vendor, long rank)
{
    for (size_t i = 0; i < p->ngpus; i++)
        if (p->gpus[i].dev->vendor == vendor && p->gpus[i].rank == rank)
            return &p->gpus[i];
    return NULL;
}

static bool vendor_has_uuids(const struct allocator *p, unsigned vendor)
{
    for (size_t i = 0; i < p->ngpus; i++)
        if (p->gpus[i].dev->vendor == vendor && p->gpus[i].dev->uuid)
            return true;
    return false;
}

/* The one GPU a UUID (or unique UUID prefix) names; NULL if none or several. */
static struct hr_gpuslot *gpu_by_uuid(struct allocator *p, unsigned vendor,
                                      const char *text)
{
    struct hr_gpuslot *found = NULL;

    for (size_t i = 0; i < p->ngpus; i++) {
        if (p->gpus[i].dev->vendor != vendor || !uuid_matches(p->gpus[i].dev, text))
            continue;
        if (found)
            return NULL;
        found = &p->gpus[i];
    }
    return found;
}

/* Allocate from a vendor variable. Returns 1 when the list cannot be
 * resolved (MIG instances, UUIDs the topology does not know), 0 when done,
 * -1 on error. */
static int var_allocate(struct allocator *p, const struct gpu_vendor *v, const char *var,
                        const char *value)
{
    struct entries es;
    int rc = 0;

    if (parse_entries(&(struct list_src){var, value, v->has_subdevices}, &es, p->err,
                      p->errlen) < 0)
        return -1;
    for (size_t i = 0; i < es.n && rc == 0; i++) {
        struct entry *e = &es.v[i];
        struct hr_gpuslot *g = NULL;

        if (e->is_index) {
            g = gpu_by_rank(p, v->bit, e->index);
            if (!g)
                rc = hr_fail(p->err, p->errlen, "%s=%s: no %s GPU %ld on this node", var,
                             value, v->label, e->index);
        } else if (es.has_mig || !vendor_has_uuids(p, v->bit)) {
            rc = 1;
        } else {
            g = gpu_by_uuid(p, v->bit, e->text);
            if (!g)
                rc = hr_fail(p->err, p->errlen,
                             "%s=%s: %s names no single %s GPU on this node", var, value,
                             e->text, v->label);
        }
        if (g)
            g->is_allocated = true;
    }
    entries_free(&es);
    if (rc != 0) /* nothing half-decided */
        for (size_t j = 0; j < p->ngpus; j++)
            if (p->gpus[j].dev->vendor == v->bit)
                p->gpus[j].is_allocated = false;
    return rc;
}

/* The allocation of one vendor's GPUs; sets *src and the reason shown for a
 * GPU left out. */
static int vendor_allocate(struct allocator *p, const struct gpu_vendor *v,
                           enum source *src)
{
    const char *var = v->var, *value = hr_env_get(p->envp, v->var);
    const char *why_var = NULL, *why_val = NULL;
    int rc = 1;

    if (!value && v->var2) /* a second variable counts within the first */
        var = v->var2, value = hr_env_get(p->envp, v->var2);
    if (p->slurm_val) {
        bool is_narrowed = value && slurm_narrow(p, v, var, value);
        *src = is_narrowed ? SRC_SLURM_GLOBAL : SRC_SLURM;
        why_var = p->slurm_var, why_val = p->slurm_val;
        rc = 0;
    } else {
        if (value && (rc = var_allocate(p, v, var, value)) < 0)
            return -1;
        *src = SRC_VAR;
        why_var = var, why_val = value;
    }
    if (rc == 1 && p->host->cgroup_devices) {
        *src = SRC_CGROUP;
        why_var = why_val = NULL;
        for (size_t i = 0; i < p->ngpus; i++)
            if (p->gpus[i].dev->vendor == v->bit)
                p->gpus[i].is_allocated = gpu_cgroup_allowed(p, &p->gpus[i]);
    } else if (rc == 1) {
        *src = SRC_ALL;
        why_var = why_val = NULL;
        for (size_t i = 0; i < p->ngpus; i++)
            p->gpus[i].is_allocated |= p->gpus[i].dev->vendor == v->bit;
    }
    for (size_t i = 0; i < p->ngpus; i++)
        if (p->gpus[i].dev->vendor == v->bit && !p->gpus[i].why_var)
            p->gpus[i].why_var = why_var, p->gpus[i].why_value = why_val;
    return 0;
}

static void number_inside(struct allocator *p, unsigned vendor)
{
    int inside = 0;

    for (size_t i = 0; i < p->ngpus; i++) {
        struct hr_gpuslot *g = &p->gpus[i];
        if (g->dev->vendor != vendor)
            continue;
        g->is_allocated &= g->is_selected;
        g->inside = g->is_allocated ? inside++ : -1;
    }
}

/* ---- renumbering ----------------------------------------------------------- */

/* The variable's new value, or NULL to keep it (see the rule at the top). */
static char *renumbered(struct allocator *p, const struct gpu_vendor *v, enum source src,
                        const char *var, const char *value)
{
    struct entries es;
    char *out = NULL;
    bool is_indexed = false;

    if (src != SRC_SLURM_GLOBAL && src != SRC_VAR)
        return NULL;
    if (parse_entries(&(struct list_src){var, value, v->has_subdevices}, &es, p->err,
                      p->errlen) < 0)
        return NULL; /* cannot happen: the allocation parsed it */
    for (size_t i = 0; i < es.n; i++)
        is_indexed |= es.v[i].is_index;
    if (es.is_none || es.has_mig || !is_indexed) {
        entries_free(&es);
        return NULL;
    }
    for (size_t i = 0; i < es.n; i++) {
        const struct entry *e = &es.v[i];
        struct hr_gpuslot *g = !e->is_index ? NULL
                               : src == SRC_SLURM_GLOBAL
                                   ? gpu_by_key(p, v->bit, e->index)
                                   : gpu_by_rank(p, v->bit, e->index);
        char *item = g && g->inside >= 0 ? hr_xasprintf("%d%s", g->inside, e->suffix)
                                         : hr_xasprintf("%s%s", e->text, e->suffix);
        char *next = out ? hr_xasprintf("%s,%s", out, item) : hr_xstrdup(item);
        free(item);
        free(out);
        out = next;
    }
    entries_free(&es);
    return out;
}

static void vendor_env(struct allocator *p, const struct gpu_vendor *v, enum source src)
{
    const char *value = hr_env_get(p->envp, v->var);
    const char *var = v->var;
    char *nv;

    if (!value && v->var2) /* a second variable counts within the first */
        var = v->var2, value = hr_env_get(p->envp, v->var2);
    if (!value)
        return;
    nv = renumbered(p, v, src, var, value);
    if (nv)
        hr_strv_push_owned(p->env, hr_xasprintf("%s=%s", var, nv));
    free(nv);
}

static int allocate(struct allocator *p, enum source *srcs)
{
    static const char *const slurm_vars[] = {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS"};

    for (size_t i = 0; i < HR_ARRAY_LEN(slurm_vars) && !p->slurm_val; i++) {
        const char *val = hr_env_get(p->envp, slurm_vars[i]);
        if (val && *val) /* Slurm never means "no GPU" by an empty list */
            p->slurm_var = slurm_vars[i], p->slurm_val = val;
    }
    if (p->slurm_val && slurm_allocate(p) < 0)
        return -1;
    for (size_t v = 0; v < HR_ARRAY_LEN(gpu_vendors); v++) {
        if (!vendor_selected(p, gpu_vendors[v].bit))
            continue;
        if (vendor_allocate(p, &gpu_vendors[v], &srcs[v]) < 0)
            return -1;
        number_inside(p, gpu_vendors[v].bit);
    }
    return 0;
}

int hr_gpu_allocate(const struct hr_devinput *in, struct hr_gpualloc *out, char *err,
                    size_t errlen)
{
    struct allocator p = {.host = in->host,
                          .mode = in->req.gpu,
                          .envp = in->envp,
                          .env = &out->env,
                          .err = err,
                          .errlen = errlen};
    enum source srcs[HR_ARRAY_LEN(gpu_vendors)] = {SRC_ALL};

    memset(out, 0, sizeof(*out));
    if (gpus_build(&p, in->topo) < 0 || allocate(&p, srcs) < 0) {
        free(p.gpus);
        hr_gpualloc_free(out);
        return -1;
    }
    for (size_t v = 0; v < HR_ARRAY_LEN(gpu_vendors); v++)
        if (vendor_selected(&p, gpu_vendors[v].bit))
            vendor_env(&p, &gpu_vendors[v], srcs[v]);
    out->gpus = p.gpus;
    out->n = p.ngpus;
    return 0;
}

void hr_gpualloc_free(struct hr_gpualloc *alloc)
{
    free(alloc->gpus);
    hr_strv_free(&alloc->env);
    memset(alloc, 0, sizeof(*alloc));
}
