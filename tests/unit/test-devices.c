/* Devices: discovery from saved hwloc topologies (tests/data/topo) and the
 * device plan (allocation, nodes, renumbering) from hand-made host facts. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "host/devhost.h"
#include "host/devices.h"
#include "unit.h"

static char err[512];

static char *topo_path(const char *name)
{
    const char *top = getenv("top_srcdir");
    if (top)
        return hr_xasprintf("%s/tests/data/topo/%s", top, name);
    return hr_xasprintf("%s/%s", HR_TOPO_DIR, name);
}

static void load(const char *name, struct hr_hwtopo *topo)
{
    hr_autofree char *path = topo_path(name);
    int rc = hr_hw_discover(path, topo, err, sizeof(err));
    if (rc != 0)
        printf("%s: %s\n", name, err);
    CHECK(rc == 0);
}

static char *join(const struct hr_strv *sv, const char *sep)
{
    char *out = hr_xstrdup("");
    for (size_t i = 0; i < sv->n; i++) {
        char *next = hr_xasprintf("%s%s%s", out, i ? sep : "", sv->v[i]);
        free(out);
        out = next;
    }
    return out;
}

/* short for the many checks below */
static bool has(const struct hr_strv *sv, const char *s)
{
    return hr_strv_has(sv, s);
}

/* The report line that starts with prefix, or "" */
static const char *line(const struct hr_devplan *plan, const char *prefix)
{
    for (size_t i = 0; i < plan->report.n; i++)
        if (strncmp(plan->report.v[i], prefix, strlen(prefix)) == 0)
            return plan->report.v[i];
    return "";
}

#define CHECK_JOIN(sv, want)                                                             \
    do {                                                                                 \
        hr_autofree char *j_ = join(sv, " ");                                            \
        CHECK_STR(j_, want);                                                             \
    } while (0)

/* ---- discovery ------------------------------------------------------------- */

static void test_discover_nvidia(void)
{
    static const char *const busids[] = {"0000:18:00.0", "0000:3b:00.0", "0000:86:00.0",
                                         "0000:af:00.0"};
    static const int numa[] = {0, 0, 1, 1};
    struct hr_hwtopo t;

    load("nvidia-a100.xml", &t);
    CHECK(t.n == 5); /* not the BMC's VGA, the SATA disk, the Intel Ethernet */
    if (t.n != 5)
        return;
    for (size_t i = 0; i < 4; i++) {
        hr_autofree char *os = join(&t.devs[i].osdevs, ",");
        hr_autofree char *want =
            hr_xasprintf("cuda%zu,nvml%zu,card%zu,renderD%zu", i, i, i + 1, 128 + i);
        CHECK(t.devs[i].kind == HR_HW_GPU);
        CHECK(t.devs[i].vendor == HR_VENDOR_NVIDIA);
        CHECK(t.devs[i].pci_vendor == 0x10de && t.devs[i].pci_device == 0x20b0);
        CHECK(t.devs[i].pci_class == 0x0302);
        CHECK_STR(t.devs[i].busid, busids[i]);
        CHECK(t.devs[i].numa == numa[i]);
        CHECK_STR(os, want);
        CHECK(t.devs[i].ibdevs.n == 0);
    }
    CHECK_STR(t.devs[0].uuid, "GPU-0a1b2c3d-0000-1111-2222-333344445550");
    CHECK_STR(t.devs[3].uuid, "GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeff03");
    CHECK(t.devs[4].kind == HR_HW_NIC);
    CHECK(t.devs[4].vendor == HR_VENDOR_VERBS);
    CHECK(t.devs[4].pci_vendor == 0x15b3 && t.devs[4].pci_class == 0x0207);
    CHECK_STR(t.devs[4].busid, "0000:5e:00.0");
    CHECK(t.devs[4].numa == 0);
    CHECK_JOIN(&t.devs[4].osdevs, "mlx5_0 ib0");
    CHECK_JOIN(&t.devs[4].ibdevs, "mlx5_0");
    CHECK(t.devs[4].uuid == NULL);
    hr_hw_free(&t);
    CHECK(t.n == 0 && t.devs == NULL);
}

static void test_discover_amd(void)
{
    struct hr_hwtopo t;

    load("amd-mi250.xml", &t);
    CHECK(t.n == 3);
    if (t.n != 3)
        return;
    CHECK(t.devs[0].kind == HR_HW_GPU && t.devs[0].vendor == HR_VENDOR_AMD);
    CHECK(t.devs[0].pci_vendor == 0x1002 && t.devs[0].pci_device == 0x740c);
    CHECK(t.devs[0].pci_class == 0x0380);
    CHECK_STR(t.devs[0].busid, "0000:29:00.0");
    CHECK(t.devs[0].numa == 0);
    CHECK_JOIN(&t.devs[0].osdevs, "card0 renderD128 rsmi0");
    CHECK_STR(t.devs[0].uuid, "8a3c1f00e6b2d447");
    CHECK_STR(t.devs[1].busid, "0000:c1:00.0");
    CHECK(t.devs[1].numa == 1);
    CHECK_JOIN(&t.devs[1].osdevs, "card1 renderD129 rsmi1");
    CHECK_STR(t.devs[1].uuid, "1b5e7d2c9f0a3164");
    CHECK(t.devs[2].kind == HR_HW_NIC && t.devs[2].vendor == HR_VENDOR_CXI);
    CHECK(t.devs[2].pci_vendor == 0x17db && t.devs[2].pci_class == 0x0200);
    CHECK_STR(t.devs[2].busid, "0000:21:00.0");
    CHECK(t.devs[2].numa == 0);
    CHECK_JOIN(&t.devs[2].osdevs, "hsn0 cxi0");
    CHECK(t.devs[2].ibdevs.n == 0); /* cxi0 is no verbs device */
    hr_hw_free(&t);
}

static void test_discover_intel(void)
{
    struct hr_hwtopo t;

    load("intel-max.xml", &t);
    CHECK(t.n == 3); /* the integrated VGA has no DRM device: not counted */
    if (t.n != 3)
        return;
    CHECK(t.devs[0].vendor == HR_VENDOR_INTEL);
    CHECK_STR(t.devs[0].busid, "0000:29:00.0");
    CHECK(t.devs[0].numa == -1); /* attached to the machine of 2 NUMA nodes */
    CHECK_JOIN(&t.devs[0].osdevs, "card1 renderD129");
    CHECK_STR(t.devs[1].busid, "0000:3a:00.0");
    CHECK(t.devs[1].uuid == NULL);
    CHECK(t.devs[2].kind == HR_HW_NIC && t.devs[2].vendor == HR_VENDOR_VERBS);
    CHECK_JOIN(&t.devs[2].osdevs, "hfi1_0 ib0");
    CHECK_JOIN(&t.devs[2].ibdevs, "hfi1_0");
    hr_hw_free(&t);
}

static void test_discover_plain_and_errors(void)
{
    struct hr_hwtopo t;
    char bad[] = "/tmp/hr-test-devices-XXXXXX";
    int fd;

    load("plain.xml", &t);
    CHECK(t.n == 0 && t.devs == NULL);
    hr_hw_free(&t);

    CHECK(hr_hw_discover("/nonexistent/topo.xml", &t, err, sizeof(err)) == -1);
    CHECK(strstr(err, "/nonexistent/topo.xml") != NULL);
    CHECK(t.n == 0);

    fd = mkstemp(bad);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, "<topology version=\"2.0\"><object", 32) == 32);
    close(fd);
    CHECK(hr_hw_discover(bad, &t, err, sizeof(err)) == -1);
    CHECK(strstr(err, bad) != NULL);
    unlink(bad);
}

/* ---- host facts ------------------------------------------------------------ */

static void host_nvidia(struct hr_devhost *h)
{
    static const char *const busids[] = {"0000:18:00.0", "0000:3b:00.0", "0000:86:00.0",
                                         "0000:af:00.0"};
    memset(h, 0, sizeof(*h));
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/dev/nvidia%d", i);
        hr_devhost_add_node(h, path, makedev(195, i));
        hr_devhost_add_nv(h, busids[i], i);
    }
    hr_devhost_add_node(h, "/dev/nvidiactl", makedev(195, 255));
    hr_devhost_add_node(h, "/dev/nvidia-uvm", makedev(508, 0));
    hr_devhost_add_node(h, "/dev/nvidia-uvm-tools", makedev(508, 1));
    hr_devhost_add_node(h, "/dev/nvidia-caps/nvidia-cap1", makedev(511, 1));
    for (int i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/dev/dri/card%d", i);
        hr_devhost_add_node(h, path, makedev(226, i));
        if (i < 4) {
            snprintf(path, sizeof(path), "/dev/dri/renderD%d", 128 + i);
            hr_devhost_add_node(h, path, makedev(226, 128 + i));
        }
    }
    hr_devhost_add_node(h, "/dev/infiniband/uverbs0", makedev(231, 192));
    hr_devhost_add_node(h, "/dev/infiniband/uverbs1", makedev(231, 193));
    hr_devhost_add_node(h, "/dev/infiniband/rdma_cm", makedev(10, 58));
    hr_devhost_add_node(h, "/dev/infiniband/umad0", makedev(231, 0));
    hr_devhost_add_ib(h, "mlx5_0", "uverbs0");
    hr_devhost_add_ib(h, "mlx5_1", "uverbs1");
}

static void host_amd(struct hr_devhost *h)
{
    memset(h, 0, sizeof(*h));
    hr_devhost_add_node(h, "/dev/kfd", makedev(235, 0));
    hr_devhost_add_node(h, "/dev/dri/card0", makedev(226, 0));
    hr_devhost_add_node(h, "/dev/dri/card1", makedev(226, 1));
    hr_devhost_add_node(h, "/dev/dri/renderD128", makedev(226, 128));
    hr_devhost_add_node(h, "/dev/dri/renderD129", makedev(226, 129));
    hr_devhost_add_node(h, "/dev/cxi0", makedev(240, 0));
    hr_devhost_add_node(h, "/dev/cxi1", makedev(240, 1));
    hr_devhost_add_node(h, "/dev/infiniband/uverbs0", makedev(231, 192));
}

/* ---- planning -------------------------------------------------------------- */

struct run {
    struct hr_hwtopo topo;
    struct hr_devhost host;
    struct hr_devreq req;
    struct hr_devplan plan;
    int rc;
};

static void run_plan(struct run *r, char **envp)
{
    struct hr_devinput in = {
        .topo = &r->topo, .host = &r->host, .req = r->req, .envp = envp};

    err[0] = '\0';
    r->rc = hr_dev_plan(&in, &r->plan, err, sizeof(err));
}

static void nvidia_setup(struct run *r)
{
    memset(r, 0, sizeof(*r));
    load("nvidia-a100.xml", &r->topo);
    host_nvidia(&r->host);
}

static void amd_setup(struct run *r)
{
    memset(r, 0, sizeof(*r));
    load("amd-mi250.xml", &r->topo);
    host_amd(&r->host);
}

static void done(struct run *r)
{
    hr_devplan_free(&r->plan);
    hr_devhost_free(&r->host);
    hr_hw_free(&r->topo);
}

static void test_plan_all_nvidia(void)
{
    struct run r;
    char *envp[] = {"PATH=/bin", NULL};

    nvidia_setup(&r);
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK_JOIN(&r.plan.nodes,
               "/dev/nvidia0 /dev/dri/card1 /dev/dri/renderD128 "
               "/dev/nvidia1 /dev/dri/card2 /dev/dri/renderD129 "
               "/dev/nvidia2 /dev/dri/card3 /dev/dri/renderD130 "
               "/dev/nvidia3 /dev/dri/card4 /dev/dri/renderD131 "
               "/dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools "
               "/dev/nvidia-caps/nvidia-cap1 "
               "/dev/infiniband/uverbs0 /dev/infiniband/rdma_cm /dev/infiniband/umad0");
    CHECK(!has(&r.plan.nodes, "/dev/dri/card0")); /* the BMC's display */
    CHECK(r.plan.vendors == (HR_VENDOR_NVIDIA | HR_VENDOR_VERBS));
    CHECK(r.plan.env.n == 0);
    CHECK_STR(
        line(&r.plan, "gpu  0000:18:00.0"),
        "gpu  0000:18:00.0 nvidia  numa 0  cuda0,nvml0,card1,renderD128  allocated  "
        "-> /dev/nvidia0 /dev/dri/card1 /dev/dri/renderD128");
    CHECK_STR(
        line(&r.plan, "gpu  0000:af:00.0"),
        "gpu  0000:af:00.0 nvidia  numa 1  cuda3,nvml3,card4,renderD131  allocated  "
        "-> /dev/nvidia3 /dev/dri/card4 /dev/dri/renderD131");
    CHECK_STR(line(&r.plan, "shared  nvidia"),
              "shared  nvidia  -> /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools "
              "/dev/nvidia-caps/nvidia-cap1");
    CHECK_STR(
        line(&r.plan, "nic  "),
        "nic  0000:5e:00.0 verbs  numa 0  mlx5_0,ib0  used  -> /dev/infiniband/uverbs0");
    CHECK_STR(line(&r.plan, "shared  verbs"),
              "shared  verbs  -> /dev/infiniband/rdma_cm /dev/infiniband/umad0");
    CHECK(r.plan.report.n == 7);
    done(&r);
}

static void test_plan_cuda_visible(void)
{
    struct run r;
    char *envp[] = {"CUDA_VISIBLE_DEVICES=1,3", NULL};
    char *reversed[] = {"CUDA_VISIBLE_DEVICES=3,1", NULL};

    nvidia_setup(&r);
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia1") && has(&r.plan.nodes, "/dev/nvidia3"));
    CHECK(!has(&r.plan.nodes, "/dev/nvidia0") && !has(&r.plan.nodes, "/dev/nvidia2"));
    CHECK(!has(&r.plan.nodes, "/dev/dri/card1") && !has(&r.plan.nodes, "/dev/dri/card3"));
    CHECK(!has(&r.plan.nodes, "/dev/dri/renderD128"));
    CHECK(has(&r.plan.nodes, "/dev/dri/card2") &&
          has(&r.plan.nodes, "/dev/dri/renderD131"));
    CHECK(has(&r.plan.nodes, "/dev/nvidiactl") && has(&r.plan.nodes, "/dev/nvidia-uvm"));
    CHECK_JOIN(&r.plan.env, "CUDA_VISIBLE_DEVICES=0,1");
    CHECK_STR(line(&r.plan, "gpu  0000:18:00.0"),
              "gpu  0000:18:00.0 nvidia  numa 0  cuda0,nvml0,card1,renderD128  "
              "not allocated (CUDA_VISIBLE_DEVICES=1,3)");
    CHECK_STR(line(&r.plan, "env  "), "env  CUDA_VISIBLE_DEVICES=0,1");
    hr_devplan_free(&r.plan);

    /* the caller's order is kept */
    run_plan(&r, reversed);
    CHECK(r.rc == 0);
    CHECK_JOIN(&r.plan.env, "CUDA_VISIBLE_DEVICES=1,0");
    done(&r);
}

static void test_plan_cuda_none(void)
{
    static const char *const none[] = {"CUDA_VISIBLE_DEVICES=", "CUDA_VISIBLE_DEVICES=-1",
                                       "CUDA_VISIBLE_DEVICES=NoDevFiles"};
    struct run r;

    nvidia_setup(&r);
    for (size_t i = 0; i < HR_ARRAY_LEN(none); i++) {
        char *envp[] = {(char *)none[i], NULL};
        run_plan(&r, envp);
        CHECK(r.rc == 0);
        CHECK_JOIN(
            &r.plan.nodes,
            "/dev/infiniband/uverbs0 /dev/infiniband/rdma_cm /dev/infiniband/umad0");
        CHECK(r.plan.vendors == HR_VENDOR_VERBS);
        CHECK(r.plan.env.n == 0);
        hr_devplan_free(&r.plan);
    }
    done(&r);
}

static void test_plan_cuda_uuid(void)
{
    struct run r;
    char *exact[] = {"CUDA_VISIBLE_DEVICES=GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeff03",
                     NULL};
    char *prefix[] = {"CUDA_VISIBLE_DEVICES=GPU-0a1b2c3d-0000-1111-2222-333344445551,0",
                      NULL};
    char *ambiguous[] = {"CUDA_VISIBLE_DEVICES=GPU-0a1b2c3d", NULL};
    char *unknown[] = {"CUDA_VISIBLE_DEVICES=GPU-deadbeef", NULL};
    char *mig[] = {"CUDA_VISIBLE_DEVICES=MIG-3b7f2a1c-aaaa-bbbb-cccc-0123456789ab", NULL};

    nvidia_setup(&r);
    run_plan(&r, exact);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia3") && !has(&r.plan.nodes, "/dev/nvidia0"));
    CHECK(!has(&r.plan.nodes, "/dev/nvidia1") && !has(&r.plan.nodes, "/dev/nvidia2"));
    CHECK(r.plan.env.n == 0); /* a UUID names the same GPU inside */
    hr_devplan_free(&r.plan);

    /* a UUID and an index: the index is renumbered, the UUID kept */
    run_plan(&r, prefix);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia0") && has(&r.plan.nodes, "/dev/nvidia1"));
    CHECK(!has(&r.plan.nodes, "/dev/nvidia2"));
    CHECK_JOIN(&r.plan.env,
               "CUDA_VISIBLE_DEVICES=GPU-0a1b2c3d-0000-1111-2222-333344445551,0");
    hr_devplan_free(&r.plan);

    run_plan(&r, ambiguous);
    CHECK(r.rc == -1);
    CHECK(strstr(err, "CUDA_VISIBLE_DEVICES=GPU-0a1b2c3d") != NULL);
    run_plan(&r, unknown);
    CHECK(r.rc == -1);
    CHECK(strstr(err, "GPU-deadbeef") != NULL);
    CHECK(r.plan.nodes.n == 0 && r.plan.report.n == 0);

    /* MIG instances: the GPU is not known, all of them are kept */
    run_plan(&r, mig);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia0") && has(&r.plan.nodes, "/dev/nvidia3"));
    CHECK(r.plan.env.n == 0);
    hr_devplan_free(&r.plan);

    /* a topology without NVML (Debian's hwloc) has no UUIDs: all GPUs, or
     * the cgroup's */
    for (size_t i = 0; i < r.topo.n; i++) {
        free(r.topo.devs[i].uuid);
        r.topo.devs[i].uuid = NULL;
    }
    run_plan(&r, unknown);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia0") && has(&r.plan.nodes, "/dev/nvidia3"));
    CHECK(r.plan.env.n == 0);
    hr_devplan_free(&r.plan);
    r.host.cgroup_devices = hr_xstrdup("c 195:2 rwm\nc 195:255 rwm\n");
    run_plan(&r, unknown);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia2") && !has(&r.plan.nodes, "/dev/nvidia0"));
    done(&r);
}

/* The vendor's variable beside Slurm's list: global indices (Slurm without
 * ConstrainDevices) are renumbered, and narrow the GPUs bound when they name
 * fewer (per-task binding); indices within the allocation are kept. */
static void test_plan_slurm_bindings(struct run *r)
{
    char *task1[] = {"SLURM_STEP_GPUS=2,3", "CUDA_VISIBLE_DEVICES=3", NULL};
    char *task0[] = {"SLURM_STEP_GPUS=2,3", "CUDA_VISIBLE_DEVICES=2", NULL};
    char *constrained[] = {"SLURM_STEP_GPUS=2,3", "CUDA_VISIBLE_DEVICES=0,1", NULL};
    char *narrowed[] = {"SLURM_STEP_GPUS=2,3", "CUDA_VISIBLE_DEVICES=1", NULL};
    char *global[] = {"SLURM_STEP_GPUS=2,3", "CUDA_VISIBLE_DEVICES=2,3", NULL};
    char *reversed[] = {"SLURM_STEP_GPUS=2,3", "CUDA_VISIBLE_DEVICES=3,2", NULL};
    char *agree[] = {"SLURM_STEP_GPUS=0,1", "CUDA_VISIBLE_DEVICES=1", NULL};
    char *ambiguous[] = {"SLURM_STEP_GPUS=1,2", "CUDA_VISIBLE_DEVICES=1", NULL};

    /* --gpus-per-task=1 without ConstrainDevices: the task's one global
     * index; only its GPU is bound, and it is GPU 0 inside */
    run_plan(r, task1);
    CHECK(r->rc == 0);
    CHECK(has(&r->plan.nodes, "/dev/nvidia3") && has(&r->plan.nodes, "/dev/dri/card4"));
    CHECK(!has(&r->plan.nodes, "/dev/nvidia2") && !has(&r->plan.nodes, "/dev/dri/card3"));
    CHECK(!has(&r->plan.nodes, "/dev/nvidia0") && !has(&r->plan.nodes, "/dev/nvidia1"));
    CHECK(has(&r->plan.nodes, "/dev/nvidiactl"));
    CHECK_JOIN(&r->plan.env, "CUDA_VISIBLE_DEVICES=0");
    CHECK(strstr(line(&r->plan, "gpu  0000:86:00.0"),
                 "not allocated (CUDA_VISIBLE_DEVICES=3)"));
    CHECK(strstr(line(&r->plan, "gpu  0000:18:00.0"),
                 "not allocated (SLURM_STEP_GPUS=2,3)"));
    CHECK(strstr(line(&r->plan, "gpu  0000:af:00.0"), "allocated  -> /dev/nvidia3 "));
    hr_devplan_free(&r->plan);
    run_plan(r, task0);
    CHECK(r->rc == 0);
    CHECK(has(&r->plan.nodes, "/dev/nvidia2") && !has(&r->plan.nodes, "/dev/nvidia3"));
    CHECK_JOIN(&r->plan.env, "CUDA_VISIBLE_DEVICES=0");
    hr_devplan_free(&r->plan);

    /* ConstrainDevices: indices within the allocation, kept as they are */
    run_plan(r, constrained);
    CHECK(r->rc == 0);
    CHECK(has(&r->plan.nodes, "/dev/nvidia2") && has(&r->plan.nodes, "/dev/nvidia3"));
    CHECK(!has(&r->plan.nodes, "/dev/nvidia0") && !has(&r->plan.nodes, "/dev/nvidia1"));
    CHECK(r->plan.env.n == 0);
    hr_devplan_free(&r->plan);
    run_plan(r, narrowed);
    CHECK(r->rc == 0);
    CHECK(has(&r->plan.nodes, "/dev/nvidia2") && has(&r->plan.nodes, "/dev/nvidia3"));
    CHECK(r->plan.env.n == 0);
    hr_devplan_free(&r->plan);

    /* Slurm's own list: renumbered, in the caller's order */
    run_plan(r, global);
    CHECK(r->rc == 0);
    CHECK(has(&r->plan.nodes, "/dev/nvidia2") && has(&r->plan.nodes, "/dev/nvidia3"));
    CHECK_JOIN(&r->plan.env, "CUDA_VISIBLE_DEVICES=0,1");
    hr_devplan_free(&r->plan);
    run_plan(r, reversed);
    CHECK(r->rc == 0);
    CHECK_JOIN(&r->plan.env, "CUDA_VISIBLE_DEVICES=1,0");
    hr_devplan_free(&r->plan);

    /* entries all below k: read within the allocation; with GPUs 0,1 both
     * readings name GPU 1 */
    run_plan(r, agree);
    CHECK(r->rc == 0);
    CHECK(has(&r->plan.nodes, "/dev/nvidia0") && has(&r->plan.nodes, "/dev/nvidia1"));
    CHECK(r->plan.env.n == 0);
    hr_devplan_free(&r->plan);
    /* with GPUs 1,2 they differ (GPU 1 global, GPU 2 within): the
     * ConstrainDevices reading, as documented */
    run_plan(r, ambiguous);
    CHECK(r->rc == 0);
    CHECK(has(&r->plan.nodes, "/dev/nvidia1") && has(&r->plan.nodes, "/dev/nvidia2"));
    CHECK(r->plan.env.n == 0);
    hr_devplan_free(&r->plan);
}

static void test_plan_slurm(void)
{
    struct run r;
    char *step[] = {"SLURM_JOB_GPUS=0,1,2,3", "SLURM_STEP_GPUS=2",
                    "CUDA_VISIBLE_DEVICES=0", NULL};
    char *global[] = {"SLURM_JOB_GPUS=1,2", "CUDA_VISIBLE_DEVICES=2,1", NULL};
    char *unset[] = {"SLURM_JOB_GPUS=3", NULL};
    char *bad[] = {"SLURM_JOB_GPUS=0,7", "CUDA_VISIBLE_DEVICES=0", NULL};
    char *junk[] = {"SLURM_STEP_GPUS=gpu0", NULL};

    nvidia_setup(&r);
    /* the step's GPUs win over the job's and over CUDA_VISIBLE_DEVICES,
     * which (Slurm with ConstrainDevices) counts within them: kept */
    run_plan(&r, step);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia2"));
    CHECK(!has(&r.plan.nodes, "/dev/nvidia0") && !has(&r.plan.nodes, "/dev/nvidia1"));
    CHECK(!has(&r.plan.nodes, "/dev/nvidia3"));
    CHECK(r.plan.env.n == 0);
    CHECK(
        strstr(line(&r.plan, "gpu  0000:18:00.0"), "not allocated (SLURM_STEP_GPUS=2)"));
    hr_devplan_free(&r.plan);

    /* Slurm without device confinement exports the global indices */
    run_plan(&r, global);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia1") && has(&r.plan.nodes, "/dev/nvidia2"));
    CHECK_JOIN(&r.plan.env, "CUDA_VISIBLE_DEVICES=1,0");
    hr_devplan_free(&r.plan);

    test_plan_slurm_bindings(&r);

    run_plan(&r, unset);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia3") && !has(&r.plan.nodes, "/dev/nvidia0"));
    CHECK(r.plan.env.n == 0);
    hr_devplan_free(&r.plan);

    run_plan(&r, bad);
    CHECK(r.rc == -1);
    CHECK(strstr(err, "SLURM_JOB_GPUS=0,7") != NULL);
    run_plan(&r, junk);
    CHECK(r.rc == -1);
    CHECK(strstr(err, "SLURM_STEP_GPUS=gpu0") != NULL);

    /* Slurm's index is the device minor where the driver says so */
    hr_devhost_free(&r.host);
    host_nvidia(&r.host);
    r.host.nv_minors[0] = 1; /* 0000:18:00.0 is /dev/nvidia1 */
    r.host.nv_minors[1] = 0; /* 0000:3b:00.0 is /dev/nvidia0 */
    {
        char *minor0[] = {"SLURM_JOB_GPUS=0", NULL};
        run_plan(&r, minor0);
        CHECK(r.rc == 0);
        CHECK(has(&r.plan.nodes, "/dev/nvidia0") && has(&r.plan.nodes, "/dev/dri/card2"));
        CHECK(!has(&r.plan.nodes, "/dev/nvidia1") &&
              !has(&r.plan.nodes, "/dev/dri/card1"));
        CHECK(strstr(line(&r.plan, "gpu  0000:3b:00.0"), "allocated  -> /dev/nvidia0 "));
    }
    hr_devplan_free(&r.plan);

    /* a GPU the NVIDIA driver does not list has no /dev/nvidiaN, even if
     * the number after the others' exists */
    hr_devhost_free(&r.host);
    host_nvidia(&r.host);
    r.host.nv_busids.n = 3; /* drop 0000:af:00.0 */
    {
        char *all[] = {NULL};
        run_plan(&r, all);
        CHECK(r.rc == 0);
        CHECK(has(&r.plan.nodes, "/dev/nvidia2") && !has(&r.plan.nodes, "/dev/nvidia3"));
        CHECK(has(&r.plan.nodes, "/dev/dri/renderD131"));
    }
    r.host.nv_busids.n = 4;
    done(&r);
}

static void test_plan_cgroup(void)
{
    struct run r;
    char *envp[] = {NULL};
    char *cvd[] = {"CUDA_VISIBLE_DEVICES=0", NULL};

    nvidia_setup(&r);
    r.host.cgroup_devices =
        hr_xstrdup("c 1:3 rwm\nc 195:1 rwm\nc 195:3 r\nc 195:255 rwm\nc 508:* rwm\n");
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia1") && has(&r.plan.nodes, "/dev/dri/card2"));
    CHECK(!has(&r.plan.nodes, "/dev/nvidia0") && !has(&r.plan.nodes, "/dev/nvidia2"));
    CHECK(!has(&r.plan.nodes, "/dev/nvidia3")); /* read-only is not enough */
    CHECK(has(&r.plan.nodes, "/dev/nvidiactl"));
    CHECK(r.plan.env.n == 0);
    CHECK(strstr(line(&r.plan, "gpu  0000:18:00.0"), "not allocated (device cgroup)"));
    hr_devplan_free(&r.plan);

    /* CUDA_VISIBLE_DEVICES comes before the cgroup */
    run_plan(&r, cvd);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia0") && !has(&r.plan.nodes, "/dev/nvidia1"));
    hr_devplan_free(&r.plan);

    free(r.host.cgroup_devices);
    r.host.cgroup_devices = hr_xstrdup("a *:* rwm\n");
    run_plan(&r, envp);
    CHECK(has(&r.plan.nodes, "/dev/nvidia0") && has(&r.plan.nodes, "/dev/nvidia3"));
    hr_devplan_free(&r.plan);

    free(r.host.cgroup_devices);
    r.host.cgroup_devices = hr_xstrdup("b *:* rwm\nc *:* rwm\n");
    run_plan(&r, envp);
    CHECK(has(&r.plan.nodes, "/dev/nvidia0") && has(&r.plan.nodes, "/dev/nvidia3"));
    hr_devplan_free(&r.plan);

    free(r.host.cgroup_devices);
    r.host.cgroup_devices = hr_xstrdup("b *:* rwm\n");
    run_plan(&r, envp);
    CHECK(!has(&r.plan.nodes, "/dev/nvidia0") && !has(&r.plan.nodes, "/dev/nvidiactl"));
    CHECK(!(r.plan.vendors & HR_VENDOR_NVIDIA));
    done(&r);
}

static void test_plan_modes(void)
{
    struct run r;
    char *envp[] = {NULL};
    char *bad[] = {"CUDA_VISIBLE_DEVICES=1,4", NULL};
    char *junk[] = {"CUDA_VISIBLE_DEVICES=first", NULL};

    nvidia_setup(&r);
    r.req.gpu = HR_GPU_NONE;
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK_JOIN(&r.plan.nodes,
               "/dev/infiniband/uverbs0 /dev/infiniband/rdma_cm /dev/infiniband/umad0");
    CHECK(r.plan.vendors == HR_VENDOR_VERBS);
    CHECK_STR(line(&r.plan, "gpu  0000:86:00.0"),
              "gpu  0000:86:00.0 nvidia  numa 1  cuda2,nvml2,card3,renderD130  "
              "not used (--gpu=none)");
    hr_devplan_free(&r.plan);

    /* the names --gpu and the site key take, in the enum's order */
    CHECK_STR(hr_gpu_mode_names[HR_GPU_AUTO], "auto");
    CHECK_STR(hr_gpu_mode_names[HR_GPU_NONE], "none");
    CHECK_STR(hr_gpu_mode_names[HR_GPU_NVIDIA], "nvidia");
    CHECK_STR(hr_gpu_mode_names[HR_GPU_AMD], "amd");
    CHECK_STR(hr_gpu_mode_names[HR_GPU_INTEL], "intel");
    /* (this test is built only with hwloc: the message says nothing of it) */
    CHECK(hr_dev_have_hwloc());
    r.req.gpu = HR_GPU_AMD;
    run_plan(&r, envp);
    CHECK(r.rc == -1);
    CHECK_STR(err, "--gpu=amd: no AMD GPU on this node");
    CHECK(r.plan.nodes.n == 0);
    r.req.gpu = HR_GPU_INTEL;
    run_plan(&r, envp);
    CHECK(r.rc == -1);
    CHECK_STR(err, "--gpu=intel: no Intel GPU on this node");

    r.req.gpu = HR_GPU_NVIDIA;
    r.req.fabric = HR_FABRIC_NONE;
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/nvidia0"));
    CHECK(!has(&r.plan.nodes, "/dev/infiniband/uverbs0"));
    CHECK(!has(&r.plan.nodes, "/dev/infiniband/rdma_cm"));
    CHECK(r.plan.vendors == HR_VENDOR_NVIDIA);
    CHECK_STR(line(&r.plan, "nic  "),
              "nic  0000:5e:00.0 verbs  numa 0  mlx5_0,ib0  not used (--fabric=none)");
    hr_devplan_free(&r.plan);

    r.req.gpu = HR_GPU_AUTO;
    r.req.fabric = HR_FABRIC_AUTO;
    run_plan(&r, bad);
    CHECK(r.rc == -1);
    CHECK(strstr(err, "CUDA_VISIBLE_DEVICES=1,4") != NULL);
    CHECK(strstr(err, "GPU 4") != NULL);
    run_plan(&r, junk);
    CHECK(r.rc == -1);
    CHECK(strstr(err, "CUDA_VISIBLE_DEVICES=first") != NULL);
    done(&r);
}

static void test_plan_uverbs_map(void)
{
    struct run r;
    char *envp[] = {NULL};

    nvidia_setup(&r);
    /* the uverbs name of mlx5_0 unknown: all uverbs nodes */
    hr_strv_free(&r.host.ib_names);
    hr_strv_free(&r.host.ib_uverbs);
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/infiniband/uverbs0"));
    CHECK(has(&r.plan.nodes, "/dev/infiniband/uverbs1"));
    hr_devplan_free(&r.plan);

    /* ... and the map says mlx5_0 is uverbs1 */
    hr_devhost_add_ib(&r.host, "mlx5_0", "uverbs1");
    run_plan(&r, envp);
    CHECK(has(&r.plan.nodes, "/dev/infiniband/uverbs1"));
    CHECK(!has(&r.plan.nodes, "/dev/infiniband/uverbs0"));
    done(&r);
}

static void test_plan_amd(void)
{
    struct run r;
    char *rocr[] = {"ROCR_VISIBLE_DEVICES=1", NULL};
    char *hip[] = {"HIP_VISIBLE_DEVICES=1", NULL};
    char *both[] = {"ROCR_VISIBLE_DEVICES=1", "HIP_VISIBLE_DEVICES=0", NULL};
    char *uuid[] = {"ROCR_VISIBLE_DEVICES=GPU-1b5e7d2c9f0a3164", NULL};
    char *envp[] = {NULL};

    amd_setup(&r);
    run_plan(&r, rocr);
    CHECK(r.rc == 0);
    CHECK_JOIN(&r.plan.nodes, "/dev/dri/card1 /dev/dri/renderD129 /dev/kfd /dev/cxi0");
    CHECK_JOIN(&r.plan.env, "ROCR_VISIBLE_DEVICES=0");
    CHECK(r.plan.vendors == (HR_VENDOR_AMD | HR_VENDOR_CXI));
    CHECK_STR(line(&r.plan, "gpu  0000:c1:00.0"),
              "gpu  0000:c1:00.0 amd  numa 1  card1,renderD129,rsmi1  allocated  "
              "-> /dev/dri/card1 /dev/dri/renderD129");
    CHECK_STR(line(&r.plan, "shared  amd"), "shared  amd  -> /dev/kfd");
    /* the Slingshot NIC: its own cxi node, no verbs although it is an
     * OpenFabrics device to hwloc and the host has a uverbs node */
    CHECK_STR(line(&r.plan, "nic  "),
              "nic  0000:21:00.0 cxi  numa 0  hsn0,cxi0  used  -> /dev/cxi0");
    CHECK(!has(&r.plan.nodes, "/dev/cxi1"));
    CHECK(!has(&r.plan.nodes, "/dev/infiniband/uverbs0"));
    hr_devplan_free(&r.plan);

    run_plan(&r, hip);
    CHECK(r.rc == 0);
    CHECK_JOIN(&r.plan.nodes, "/dev/dri/card1 /dev/dri/renderD129 /dev/kfd /dev/cxi0");
    CHECK_JOIN(&r.plan.env, "HIP_VISIBLE_DEVICES=0");
    hr_devplan_free(&r.plan);

    /* HIP counts within ROCR: kept */
    run_plan(&r, both);
    CHECK(r.rc == 0);
    CHECK_JOIN(&r.plan.env, "ROCR_VISIBLE_DEVICES=0");
    hr_devplan_free(&r.plan);

    run_plan(&r, uuid);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/dri/renderD129"));
    CHECK(!has(&r.plan.nodes, "/dev/dri/renderD128"));
    CHECK(r.plan.env.n == 0);
    hr_devplan_free(&r.plan);

    /* a Cassini NIC hwloc gave no cxi device: every cxi node */
    hr_strv_free(&r.topo.devs[2].osdevs);
    hr_strv_push(&r.topo.devs[2].osdevs, "hsn0");
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/cxi0") && has(&r.plan.nodes, "/dev/cxi1"));
    CHECK(has(&r.plan.nodes, "/dev/dri/renderD128") && has(&r.plan.nodes, "/dev/kfd"));

    hr_devplan_free(&r.plan);
    r.req.gpu = HR_GPU_NVIDIA;
    run_plan(&r, envp);
    CHECK(r.rc == -1);
    CHECK_STR(err, "--gpu=nvidia: no NVIDIA GPU on this node");
    done(&r);
}

static void test_plan_intel(void)
{
    struct run r;
    char *mask[] = {"ZE_AFFINITY_MASK=1.1,1.0", NULL};
    char *slurm[] = {"SLURM_JOB_GPUS=0", "ZE_AFFINITY_MASK=0", NULL};
    char *envp[] = {NULL};

    memset(&r, 0, sizeof(r));
    load("intel-max.xml", &r.topo);
    hr_devhost_add_node(&r.host, "/dev/dri/card0", makedev(226, 0));
    hr_devhost_add_node(&r.host, "/dev/dri/card1", makedev(226, 1));
    hr_devhost_add_node(&r.host, "/dev/dri/renderD128", makedev(226, 128));
    hr_devhost_add_node(&r.host, "/dev/dri/renderD129", makedev(226, 129));
    hr_devhost_add_node(&r.host, "/dev/hfi1_0", makedev(246, 0));
    hr_devhost_add_node(&r.host, "/dev/infiniband/uverbs0", makedev(231, 192));
    hr_devhost_add_ib(&r.host, "hfi1_0", "uverbs0");

    /* ZE device 1 is the second in bus order: 3a:00.0, card0/renderD128 */
    run_plan(&r, mask);
    CHECK(r.rc == 0);
    CHECK_JOIN(&r.plan.nodes,
               "/dev/dri/card0 /dev/dri/renderD128 /dev/infiniband/uverbs0 /dev/hfi1_0");
    CHECK_JOIN(&r.plan.env, "ZE_AFFINITY_MASK=0.1,0.0");
    CHECK(r.plan.vendors == (HR_VENDOR_INTEL | HR_VENDOR_VERBS));
    CHECK_STR(line(&r.plan, "gpu  0000:29:00.0"),
              "gpu  0000:29:00.0 intel  numa ?  card1,renderD129  "
              "not allocated (ZE_AFFINITY_MASK=1.1,1.0)");
    hr_devplan_free(&r.plan);

    run_plan(&r, slurm);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/dri/card1") && !has(&r.plan.nodes, "/dev/dri/card0"));
    CHECK_JOIN(&r.plan.env, "ZE_AFFINITY_MASK=0");
    hr_devplan_free(&r.plan);

    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK(has(&r.plan.nodes, "/dev/dri/card1") && has(&r.plan.nodes, "/dev/dri/card0"));
    done(&r);
}

static void test_plan_plain(void)
{
    struct run r;
    char *envp[] = {"CUDA_VISIBLE_DEVICES=0", "SLURM_JOB_GPUS=", NULL};

    memset(&r, 0, sizeof(r));
    load("plain.xml", &r.topo);
    host_nvidia(&r.host); /* nodes without GPUs in the topology: none bound */
    run_plan(&r, envp);
    CHECK(r.rc == 0);
    CHECK(r.plan.nodes.n == 0 && r.plan.env.n == 0 && r.plan.report.n == 0);
    CHECK(r.plan.vendors == 0);
    hr_devplan_free(&r.plan);
    r.req.gpu = HR_GPU_NVIDIA;
    run_plan(&r, envp);
    CHECK(r.rc == -1);
    done(&r);
}

static void test_devhost(void)
{
    struct hr_devhost h;

    /* whatever this machine has, the collector returns a consistent host */
    CHECK(hr_devhost_collect(&h) == 0);
    CHECK(h.nodes.n == 0 || h.node_rdevs != NULL);
    CHECK(h.ib_names.n == h.ib_uverbs.n);
    hr_devhost_free(&h);
    CHECK(h.nodes.n == 0 && h.node_rdevs == NULL && h.cgroup_devices == NULL);
    (void)hr_dev_host_has_any();
}

int main(void)
{
    test_discover_nvidia();
    test_discover_amd();
    test_discover_intel();
    test_discover_plain_and_errors();
    test_plan_all_nvidia();
    test_plan_cuda_visible();
    test_plan_cuda_none();
    test_plan_cuda_uuid();
    test_plan_slurm();
    test_plan_cgroup();
    test_plan_modes();
    test_plan_uverbs_map();
    test_plan_amd();
    test_plan_intel();
    test_plan_plain();
    test_devhost();
    return unit_done();
}
