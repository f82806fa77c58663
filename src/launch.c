#include "autoconfig.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "exec.h"
#include "exitcodes.h"
#include "image.h"
#include "join.h"
#include "launch.h"
#include "log.h"
#include "ns.h"
#include "plan.h"
#include "root.h"

/* -vv reports how long each step took (the benchmark report uses it). */
static void step_done(const char *step, struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    hr_debug("step %-10s %.3f ms", step,
             (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
                 (double)(t1.tv_nsec - t0->tv_nsec) / 1e6);
    *t0 = t1;
}

int hr_launch_enter(const struct hr_config *cfg, char **envp, struct hr_plan *out)
{
    struct timespec t0;
    struct hr_host host;
    struct hr_image img;
    struct hr_plan plan;
    struct hr_image_view view;
    char err[1024];
    int fuse_fd, devnull_fd;
    bool is_prefetch_useful; /* idle cores: prefetch, decompress in parallel */
    struct hr_join join = {.listen_fd = -1, .ready_rd = -1, .ready_wr = -1};
    bool is_join_leader = false;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* 2. checks (hr_check_privileges() ran first of all, in main) */
    if (hr_check_privileges() < 0)
        return HR_EXIT_FAIL;
    if (hr_host_collect(cfg, envp, &host) < 0)
        return HR_EXIT_FAIL;
    if (hr_image_open(&img, cfg->image, cfg->offset) < 0)
        return HR_EXIT_FAIL;
    step_done("checks", &t0);

    /* 3. plan */
    view = (struct hr_image_view){.lookup = hr_image_lookup,
                                  .ctx = &img,
                                  .path = img.path,
                                  .id = img.id,
                                  .passwd = img.passwd,
                                  .group = img.group,
                                  .config = &img.config};
    if (hr_plan_build(cfg, &host, &view, &plan, err, sizeof(err)) < 0) {
        hr_err("%s", err);
        return HR_EXIT_FAIL;
    }
    step_done("plan", &t0);
    hr_info("%s: %s image, root %s, %zu mounts, running %s as uid %u", img.path,
            img.compression,
            plan.is_writable     ? "writable (tmpfs overlay)"
            : plan.needs_overlay ? "read-only (overlay for mount points)"
                                 : "read-only",
            plan.n_mounts, plan.argv.v[0], (unsigned)plan.uid);
    if (cfg->is_dry_run) {
        hr_plan_print(&plan, img.path, stdout);
        return 1;
    }
    /* 4. namespaces: with --join, either lead (build the container below and
     * share it) or enter the leader's and go straight to exec. */
    if (plan.join_key) {
        char name[96];
        hr_join_name(plan.join_key, plan.host_uid, name, sizeof(name));
        enum hr_join_role role = hr_join_enter(name, &join);
        if (role == HR_JOIN_ERROR)
            return HR_EXIT_FAIL;
        if (role == HR_JOIN_MEMBER) {
            step_done("join", &t0);
            *out = plan;
            return 0;
        }
        is_join_leader = true;
    }
    /* Checked here for a clear message; opened again inside the namespace,
     * since FUSE only accepts a /dev/fuse opened by the mounting namespace's
     * credentials. */
    fuse_fd = hr_check_open_fuse();
    devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fuse_fd < 0 || devnull_fd < 0)
        return HR_EXIT_FAIL;
    close(fuse_fd);
    is_prefetch_useful = hr_image_prefetch_is_useful();

    if (hr_ns_enter(plan.host_uid, plan.host_gid, plan.uid, plan.gid) < 0)
        return HR_EXIT_FAIL;
    fuse_fd = hr_check_open_fuse();
    if (fuse_fd < 0)
        return HR_EXIT_FAIL;
    step_done("namespaces", &t0);

    /* 5. image */
    if (hr_root_stage(plan.is_writable) < 0 ||
        hr_image_mount_fuse(&img, fuse_fd, HR_STAGE_IMAGE, plan.uid, plan.gid,
                            plan.is_writable && !plan.is_fakeroot, is_prefetch_useful,
                            is_join_leader ? &join : NULL, devnull_fd) < 0)
        return HR_EXIT_FAIL;
    if (is_prefetch_useful)
        hr_image_prefetch(HR_STAGE_IMAGE, plan.exe_in_image);
    step_done("image", &t0);

    /* 6. root */
    if (hr_root_assemble(&plan) < 0)
        return HR_EXIT_FAIL;
    if (is_join_leader)
        hr_join_ready(&join);
    step_done("root", &t0);
    *out = plan;
    return 0;
}

int hr_launch(const struct hr_config *cfg, char **envp)
{
    struct hr_plan plan;
    int rc = hr_launch_enter(cfg, envp, &plan);

    if (rc != 0)
        return rc == 1 ? HR_EXIT_OK : rc;
    /* 7. exec */
    return hr_exec(&plan);
}
