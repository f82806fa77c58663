/* Step 3 (plan), host hardware facts: the GPUs and fabric NICs hwloc finds
 * on the PCI bus (or in a saved XML topology), and the device files, NVIDIA
 * minors, uverbs names and device cgroup of this host. The decisions made
 * from them are in devalloc.c (which GPUs) and devices.c (which nodes). */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_HWLOC
#include <hwloc.h>
#endif

#include "host/devhost.h"
#include "common/util.h"
#include "host/hwloc_lazy.h"

/* ---- discovery ------------------------------------------------------------- */

/* hwloc names OS devices after the kernel's: "renderD128", "mlx5_0", "cxi0". */
bool hr_dev_name_is(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || !name[n])
        return false;
    for (const char *p = name + n; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

void hr_hw_free(struct hr_hwtopo *topo)
{
    for (size_t i = 0; i < topo->n; i++) {
        hr_strv_free(&topo->devs[i].osdevs);
        hr_strv_free(&topo->devs[i].ibdevs);
        free(topo->devs[i].uuid);
    }
    free(topo->devs);
    topo->devs = NULL;
    topo->n = 0;
}

#ifdef HAVE_HWLOC
#define PCI_NVIDIA 0x10de
#define PCI_AMD 0x1002
#define PCI_INTEL 0x8086
#define PCI_MELLANOX 0x15b3
#define PCI_CRAY 0x17db

#define PCI_CLASS_ETHERNET 0x0200
#define PCI_CLASS_INFINIBAND 0x0207
#define PCI_CLASS_VGA 0x0300
#define PCI_CLASS_3D 0x0302
#define PCI_CLASS_DISPLAY 0x0380

/* What the OS devices of a PCI device say about it. */
struct osdev_facts {
    bool has_drm;  /* cardN, renderDN */
    bool has_ze;   /* Level Zero zeN */
    bool has_rdma; /* an OpenFabrics device other than cxiN */
    bool has_cxi;  /* cxiN */
};

/* GPU, NIC or neither (-1), with the vendor bit. Intel counts only with a
 * DRM or Level Zero device, so that chipset functions never count. */
static int classify(unsigned vendor, unsigned cls, const struct osdev_facts *f,
                    unsigned *bit)
{
    bool is_display =
        cls == PCI_CLASS_VGA || cls == PCI_CLASS_3D || cls == PCI_CLASS_DISPLAY;
    int kind = -1;

    if (is_display && vendor == PCI_NVIDIA)
        kind = HR_HW_GPU, *bit = HR_VENDOR_NVIDIA;
    else if (is_display && vendor == PCI_AMD)
        kind = HR_HW_GPU, *bit = HR_VENDOR_AMD;
    else if (vendor == PCI_INTEL && (cls == PCI_CLASS_VGA || cls == PCI_CLASS_DISPLAY) &&
             (f->has_drm || f->has_ze))
        kind = HR_HW_GPU, *bit = HR_VENDOR_INTEL;
    else if (vendor == PCI_CRAY || f->has_cxi)
        kind = HR_HW_NIC, *bit = HR_VENDOR_CXI;
    else if (f->has_rdma || (vendor == PCI_MELLANOX &&
                             (cls == PCI_CLASS_INFINIBAND || cls == PCI_CLASS_ETHERNET)))
        kind = HR_HW_NIC, *bit = HR_VENDOR_VERBS;
    return kind;
}

static int hwdev_cmp(const void *a, const void *b)
{
    const struct hr_hwdev *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind == HR_HW_GPU ? -1 : 1;
    return strcmp(x->busid, y->busid);
}

/* The nearest NUMA node: the first of the nodes of the CPU-side object the
 * device hangs from, unknown when that is the whole machine of several. */
static int pci_numa(hwloc_topology_t topo, hwloc_obj_t pci)
{
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, pci);
    int weight;

    if (!anc || !anc->nodeset)
        return -1;
    weight = hwloc_bitmap_weight(anc->nodeset);
    if (weight < 1 || (weight > 1 && !anc->parent))
        return -1;
    return hwloc_bitmap_first(anc->nodeset);
}

static void pci_osdevs(hwloc_obj_t pci, struct hr_hwdev *d, struct osdev_facts *f)
{
    static const char *const uuid_infos[] = {"NVIDIAUUID", "AMDUUID"};

    for (hwloc_obj_t o = pci->io_first_child; o; o = o->next_sibling) {
        if (o->type != HWLOC_OBJ_OS_DEVICE || !o->name)
            continue;
        hr_strv_push(&d->osdevs, o->name);
        f->has_drm |=
            hr_dev_name_is(o->name, "card") || hr_dev_name_is(o->name, "renderD");
        f->has_ze |= hr_dev_name_is(o->name, "ze");
        f->has_cxi |= hr_dev_name_is(o->name, "cxi");
        if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS &&
            !hr_dev_name_is(o->name, "cxi")) {
            f->has_rdma = true;
            hr_strv_push(&d->ibdevs, o->name);
        }
        for (size_t i = 0; i < HR_ARRAY_LEN(uuid_infos) && !d->uuid; i++) {
            const char *uuid = hwloc_obj_get_info_by_name(o, uuid_infos[i]);
            if (uuid && *uuid)
                d->uuid = hr_xstrdup(uuid);
        }
    }
}

static void collect_pcidevs(hwloc_topology_t topo, struct hr_hwtopo *out)
{
    size_t cap = 0;

    for (hwloc_obj_t pci = NULL; (pci = hwloc_get_next_pcidev(topo, pci));) {
        const struct hwloc_pcidev_attr_s *a = &pci->attr->pcidev;
        struct hr_hwdev d = {.numa = -1};
        struct osdev_facts f = {0};
        unsigned bit = 0;
        int kind;

        pci_osdevs(pci, &d, &f);
        kind = classify(a->vendor_id, a->class_id, &f, &bit);
        if (kind < 0) {
            hr_strv_free(&d.osdevs);
            hr_strv_free(&d.ibdevs);
            free(d.uuid);
            continue;
        }
        d.kind = (enum hr_hwdev_kind)kind;
        d.vendor = bit;
        d.pci_vendor = a->vendor_id;
        d.pci_device = a->device_id;
        d.pci_class = a->class_id;
        snprintf(d.busid, sizeof(d.busid), "%04x:%02x:%02x.%01x", (unsigned)a->domain,
                 (unsigned)a->bus, (unsigned)a->dev, (unsigned)a->func);
        d.numa = pci_numa(topo, pci);
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            out->devs = hr_xrealloc(out->devs, cap * sizeof(*out->devs));
        }
        out->devs[out->n++] = d;
    }
    if (out->n)
        qsort(out->devs, out->n, sizeof(*out->devs), hwdev_cmp);
}

/* Components that start a GPU runtime inside hpcrun, on every launch of a
 * node whose hwloc was built with them (Debian's plugins: opencl, gl): cuda
 * (cuInit), opencl (every OpenCL platform), gl (connects to X servers) and
 * levelzero (zeInit). That costs each launch the runtime's start-up, opens
 * the device files in the launcher and leaves the runtime's state there.
 * What they add, OS devices named cudaN, openclN, :0.0 and zeN, nothing
 * here needs: the PCI devices and their DRM and RDMA OS devices come from
 * the linux component, the UUIDs from nvml and rsmi, which only ask the
 * driver and are kept (Intel GPUs are then known by their DRM nodes, which
 * Level Zero needs anyway). hwloc refuses a component it lacks (EINVAL),
 * which is as good. hwloc 2.0 has no such call (2.1 added it). */
static void skip_gpu_runtimes(hwloc_topology_t topo)
{
#if HWLOC_API_VERSION >= 0x00020100
    static const char *const runtimes[] = {"cuda", "opencl", "gl", "levelzero"};

    for (size_t i = 0; i < HR_ARRAY_LEN(runtimes); i++)
        (void)hwloc_topology_set_components(
            topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, runtimes[i]);
#else
    (void)topo;
#endif
}

static int topo_load(hwloc_topology_t topo, const char *xml, char *err, size_t errlen)
{
    skip_gpu_runtimes(topo);
    /* I/O objects are what this is about; caches only cost time */
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_cache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    hwloc_topology_set_icache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (xml) {
        if (access(xml, R_OK) < 0)
            return hr_fail(err, errlen, "%s: cannot read the topology: %s", xml,
                           strerror(errno));
        if (hwloc_topology_set_xml(topo, xml) < 0)
            return hr_fail(err, errlen, "%s: cannot load as an hwloc XML topology: %s",
                           xml, strerror(errno));
    }
    if (hwloc_topology_load(topo) < 0) {
        if (xml)
            return hr_fail(err, errlen, "%s: not a valid hwloc XML topology", xml);
        return hr_fail(err, errlen, "hwloc: cannot discover this node's devices: %s",
                       strerror(errno));
    }
    return 0;
}
#endif

#ifdef HAVE_HWLOC
/* hwloc's plugins (Debian ships libxml2 XML, libpciaccess PCI, OpenCL and GL
 * ones) add nothing here: the built-in linux component sees the PCI devices
 * and their OS devices, the built-in XML reader reads saved topologies. Yet
 * hwloc dlopens every plugin (libxml2 and its dependencies among them) when
 * its first topology starts, milliseconds on each launch, and in a static
 * hpcrun they cannot even resolve hwloc's symbols. So the plugin directory is
 * pointed at nothing for that moment (hwloc reads HWLOC_PLUGINS_PATH there
 * and only there), and the caller's value is put back. */
static int topology_init_without_plugins(hwloc_topology_t *topo)
{
    const char *old = getenv("HWLOC_PLUGINS_PATH");
    hr_autofree char *saved = old ? hr_xstrdup(old) : NULL;
    int rc;

    setenv("HWLOC_PLUGINS_PATH", "", 1);
    rc = hwloc_topology_init(topo);
    if (saved)
        setenv("HWLOC_PLUGINS_PATH", saved, 1);
    else
        unsetenv("HWLOC_PLUGINS_PATH");
    return rc;
}
#endif

int hr_hw_discover(const char *xml, struct hr_hwtopo *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
#ifdef HAVE_HWLOC
    hwloc_topology_t topo;
    int rc;

    if (hr_hwloc_open(err, errlen) < 0)
        return -1;
    if (topology_init_without_plugins(&topo) < 0)
        return hr_fail(err, errlen, "hwloc: cannot start a topology: %s",
                       strerror(errno));
    rc = topo_load(topo, xml, err, errlen);
    if (rc == 0)
        collect_pcidevs(topo, out);
    hwloc_topology_destroy(topo);
    return rc;
#else
    (void)xml;
    (void)err;
    (void)errlen;
    return 0;
#endif
}

bool hr_dev_have_hwloc(void)
{
#ifdef HAVE_HWLOC
    return true;
#else
    return false;
#endif
}

/* ---- host device files ----------------------------------------------------- */

void hr_devhost_add_node(struct hr_devhost *host, const char *path, dev_t rdev)
{
    host->node_rdevs = hr_xrealloc(host->node_rdevs, (host->nodes.n + 1) * sizeof(dev_t));
    host->node_rdevs[host->nodes.n] = rdev;
    hr_strv_push(&host->nodes, path);
}

void hr_devhost_add_nv(struct hr_devhost *host, const char *busid, int minor)
{
    host->nv_minors = hr_xrealloc(host->nv_minors, (host->nv_busids.n + 1) * sizeof(int));
    host->nv_minors[host->nv_busids.n] = minor;
    hr_strv_push(&host->nv_busids, busid);
}

void hr_devhost_add_ib(struct hr_devhost *host, const char *ibdev, const char *uverbs)
{
    hr_strv_push(&host->ib_names, ibdev);
    hr_strv_push(&host->ib_uverbs, uverbs);
}

ssize_t hr_devhost_node_index(const struct hr_devhost *host, const char *path)
{
    for (size_t i = 0; i < host->nodes.n; i++)
        if (strcmp(host->nodes.v[i], path) == 0)
            return (ssize_t)i;
    return -1;
}

void hr_devhost_free(struct hr_devhost *host)
{
    hr_strv_free(&host->nodes);
    free(host->node_rdevs);
    hr_strv_free(&host->nv_busids);
    free(host->nv_minors);
    hr_strv_free(&host->ib_names);
    hr_strv_free(&host->ib_uverbs);
    free(host->cgroup_devices);
    memset(host, 0, sizeof(*host));
}

/* The device files a GPU or fabric driver creates. Not /dev/infiniband/issm*:
 * it changes the port's subnet-manager state, no job needs it. */
static const char *const node_patterns[] = {
    "/dev/nvidia[0-9]*",
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools",
    "/dev/nvidia-modeset",
    "/dev/nvidia-caps/*",
    "/dev/kfd",
    "/dev/dri/card[0-9]*",
    "/dev/dri/renderD[0-9]*",
    "/dev/infiniband/uverbs[0-9]*",
    "/dev/infiniband/rdma_cm",
    "/dev/infiniband/umad[0-9]*",
    "/dev/hfi1_[0-9]*",
    "/dev/cxi[0-9]*",
};

static void collect_nodes(struct hr_devhost *host)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(node_patterns); i++) {
        glob_t g;
        struct stat st;

        if (glob(node_patterns[i], 0, NULL, &g) != 0)
            continue;
        for (size_t j = 0; j < g.gl_pathc; j++)
            if (stat(g.gl_pathv[j], &st) == 0 && S_ISCHR(st.st_mode))
                hr_devhost_add_node(host, g.gl_pathv[j], st.st_rdev);
        globfree(&g);
    }
}

/* /proc/driver/nvidia/gpus/0000:3b:00.0/information has "Device Minor: 0". */
static void collect_nv_minors(struct hr_devhost *host)
{
    DIR *dir = opendir("/proc/driver/nvidia/gpus");
    struct dirent *de;

    if (!dir)
        return;
    while ((de = readdir(dir))) {
        hr_autofree char *path = NULL, *text = NULL;
        const char *line;
        int minor;

        if (de->d_name[0] == '.')
            continue;
        path = hr_xasprintf("/proc/driver/nvidia/gpus/%s/information", de->d_name);
        text = hr_read_file(path, 65536, NULL);
        line = text ? strstr(text, "Device Minor:") : NULL;
        if (line && sscanf(line, "Device Minor: %d", &minor) == 1 && minor >= 0) {
            hr_autofree char *busid = hr_xstrdup(de->d_name);
            for (char *c = busid; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
            hr_devhost_add_nv(host, busid, minor);
        }
    }
    closedir(dir);
}

/* /sys/class/infiniband_verbs/uverbs0/ibdev holds "mlx5_0". */
static void collect_uverbs(struct hr_devhost *host)
{
    glob_t g;

    if (glob("/sys/class/infiniband_verbs/uverbs[0-9]*", 0, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        hr_autofree char *path = hr_xasprintf("%s/ibdev", g.gl_pathv[i]);
        hr_autofree char *name = hr_read_file(path, 256, NULL);
        if (!name)
            continue;
        name[strcspn(name, "\n")] = '\0';
        if (*name)
            hr_devhost_add_ib(host, name, strrchr(g.gl_pathv[i], '/') + 1);
    }
    globfree(&g);
}

/* cgroup v1: "4:devices:/slurm/uid_1000/job_42/step_0" in /proc/self/cgroup
 * names the directory whose devices.list the kernel enforces. */
static void collect_cgroup(struct hr_devhost *host)
{
    hr_autofree char *text = hr_read_file("/proc/self/cgroup", 65536, NULL);

    for (char *line = text, *next; line && *line; line = next) {
        char *nl = strchrnul(line, '\n'), *c1, *c2;

        next = *nl ? nl + 1 : nl;
        *nl = '\0';
        c1 = strchr(line, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        for (char *save = NULL, *ctl = strtok_r(c1 + 1, ",", &save); ctl;
             ctl = strtok_r(NULL, ",", &save)) {
            if (strcmp(ctl, "devices") == 0) {
                hr_autofree char *path =
                    hr_xasprintf("/sys/fs/cgroup/devices%s/devices.list",
                                 strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1);
                host->cgroup_devices = hr_read_file(path, 1 << 20, NULL);
                return;
            }
        }
    }
}

int hr_devhost_collect(struct hr_devhost *host)
{
    memset(host, 0, sizeof(*host));
    collect_nodes(host);
    collect_nv_minors(host);
    collect_uverbs(host);
    collect_cgroup(host);
    return 0;
}

/* The first node of each kind; for DRM the first render node, as
 * /dev/dri/card0 alone is often the BMC's display (devhost.h). */
bool hr_dev_host_has_any(void)
{
    static const char *const paths[] = {
        "/dev/nvidiactl",  "/dev/nvidia0", "/dev/kfd",   "/dev/dri/renderD128",
        "/dev/infiniband", "/dev/cxi0",    "/dev/hfi1_0"};
    struct stat st;

    for (size_t i = 0; i < HR_ARRAY_LEN(paths); i++)
        if (stat(paths[i], &st) == 0)
            return true;
    return false;
}
