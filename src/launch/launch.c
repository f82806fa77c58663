#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "launch/launch.h"
#include "common/exitcodes.h"
#include "common/log.h"
#include "launch/checks.h"
#include "launch/exec.h"
#include "launch/image.h"
#include "launch/join.h"
#include "launch/kmount.h"
#include "launch/ns.h"
#include "launch/plan.h"
#include "launch/root.h"

/* The prolog's kernel mount of this image (NULL: serve it with FUSE). A
 * writable root without --fakeroot needs FUSE's report of every file as the
 * caller's, and --fakeroot needs the image's root-owned files as its own:
 * both only FUSE does. */
static char *image_kernel_mount(const struct hr_config *cfg, const struct hr_plan *plan,
                                const struct hr_image *img, char **envp, dev_t *mount_dev)
{
    if (plan->is_writable || plan->is_fakeroot || cfg->offset) {
        hr_debug("kernel mount: not with --writable-tmpfs, --fakeroot or --offset");
        return NULL;
    }
    return hr_kmount_find(&img->st, envp, mount_dev);
}

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

/* 4 and 5 with the prolog's mount: bind it where FUSE would mount. */
static int image_enter_kernel(const struct hr_plan *plan, const char *kmount,
                              dev_t mount_dev, struct timespec *t0)
{
    char *src;
    int rc;

    if (hr_ns_enter(plan->host_uid, plan->host_gid, plan->uid, plan->gid) < 0)
        return -1;
    step_done("namespaces", t0);
    if (hr_root_stage(plan->is_writable) < 0)
        return -1;
    src = hr_path_join(HR_STAGE_OLDROOT, kmount);
    rc = hr_mount(src, HR_STAGE_IMAGE, NULL, MS_BIND | MS_RDONLY, NULL);
    /* The mount point's directory is the user's: what was bound must still
     * be the very mount hr_kmount_find checked. */
    if (rc == 0 && !hr_kmount_is_mount(HR_STAGE_IMAGE, mount_dev)) {
        hr_err("%s: no longer the prolog's kernel mount (changed while it was bound)",
               kmount);
        rc = -1;
    }
    free(src);
    return rc;
}

/* 4 and 5 with FUSE: the server is forked once the image is mounted. */
static int image_enter_fuse(const struct hr_plan *plan, struct hr_image *img,
                            const struct hr_image_view *view, struct timespec *t0,
                            struct hr_join *join, int devnull_fd)
{
    /* Checked here for a clear message; opened again inside the namespace,
     * since FUSE only accepts a /dev/fuse opened by the mounting namespace's
     * credentials. */
    int fuse_fd = hr_check_open_fuse();
    bool is_prefetch_useful; /* idle cores: prefetch, decompress in parallel */

    if (fuse_fd < 0)
        return -1;
    close(fuse_fd);
    is_prefetch_useful = hr_image_prefetch_is_useful();
    if (hr_ns_enter(plan->host_uid, plan->host_gid, plan->uid, plan->gid) < 0)
        return -1;
    fuse_fd = hr_check_open_fuse();
    if (fuse_fd < 0)
        return -1;
    step_done("namespaces", t0);
    if (hr_root_stage(plan->is_writable) < 0 ||
        hr_image_mount_fuse(img, fuse_fd, HR_STAGE_IMAGE, plan->uid, plan->gid,
                            plan->is_writable && !plan->is_fakeroot, is_prefetch_useful,
                            join, devnull_fd) < 0)
        return -1;
    if (is_prefetch_useful) {
        char *exe = hr_plan_find_exe(plan, view);
        hr_image_prefetch(HR_STAGE_IMAGE, exe);
        free(exe);
    }
    return 0;
}

/* What one launch knows once it is planned (steps 2 and 3). */
struct launch {
    struct hr_host host;
    struct hr_image img;
    struct hr_inject inject;
    struct hr_image_view view;
    struct hr_plan plan;
};

/* Steps 2 and 3. Returns 0 or -1 (logged). */
static int launch_plan(const struct hr_config *cfg, char **envp, struct launch *l,
                       struct timespec *t0)
{
    char err[1024];

    /* 2. checks (hr_check_privileges() ran first of all, in the caller) */
    if (hr_host_collect(cfg, envp, &l->host) < 0)
        return -1;
    if (hr_image_open(&l->img, cfg->image, cfg->offset) < 0)
        return -1;
    step_done("checks", t0);
    /* 3. plan: the host's devices and libraries first (they read the host
     * and a few files of the image), then the plan itself */
    if (hr_inject_collect(cfg, envp, &l->img, &l->inject) < 0)
        return -1;
    step_done("devices", t0);

    l->view = (struct hr_image_view){.lookup = hr_image_lookup,
                                     .ctx = &l->img,
                                     .path = l->img.path,
                                     .file = &l->img.st,
                                     .passwd = l->img.passwd,
                                     .group = l->img.group,
                                     .config = &l->img.config};
    if (hr_plan_build(
            &(struct hr_plan_input){
                .cfg = cfg, .host = &l->host, .image = &l->view, .inject = &l->inject},
            &l->plan, err, sizeof(err)) < 0) {
        hr_err("%s", err);
        return -1;
    }
    step_done("plan", t0);
    return 0;
}

int hr_launch_plan(const struct hr_config *cfg, char **envp, struct hr_plan *out)
{
    struct timespec t0;
    struct launch l;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (launch_plan(cfg, envp, &l, &t0) < 0)
        return HR_EXIT_FAIL;
    *out = l.plan;
    return 0;
}

/* --join-lead (the SPANK plugin's helper): the parent bound the step's
 * socket and handed it over; lead through it, and keep the container for
 * the parent, which enters it as soon as this process has exited. The
 * parent waits for this process, so it is the parent still. */
static int join_lead(int fd, struct hr_join *j)
{
    int is_listening = 0, ready[2];
    socklen_t len = sizeof(is_listening);

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &is_listening, &len) < 0 ||
        !is_listening) {
        hr_err("--join-lead %d: not a listening socket", fd);
        return -1;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
        hr_err("--join-lead %d: %s", fd, strerror(errno));
        return -1;
    }
    *j = (struct hr_join){
        .listen_fd = fd, .ready_rd = ready[0], .ready_wr = ready[1], .owner = getppid()};
    return 0;
}

/* 4. with --join (or --join-lead): lead (build the container and share it),
 * enter the leader's, or go alone. The step's socket is named with the
 * user's secret, so that nobody else can take the name first; without a
 * usable secret the launch goes alone (hr_join_step_name said why). */
static enum hr_join_role launch_join(const struct hr_config *cfg,
                                     const struct hr_plan *plan, char **envp,
                                     struct hr_join *join)
{
    char name[HR_JOIN_NAME_MAX];

    if (cfg->join_lead_fd)
        return join_lead(cfg->join_lead_fd, join) < 0 ? HR_JOIN_ERROR : HR_JOIN_LEADER;
    if (hr_join_step_name(envp, plan->join_key, plan->host_uid, name, sizeof(name)) < 0)
        return HR_JOIN_ALONE;
    return hr_join_enter(name, join);
}

int hr_launch_enter(const struct hr_config *cfg, char **envp, struct hr_plan *out)
{
    struct timespec t0;
    struct launch l;
    struct hr_plan *plan = &l.plan;
    int devnull_fd;
    struct hr_join join = {.listen_fd = -1, .ready_rd = -1, .ready_wr = -1};
    bool is_join_leader = false;
    char *kmount;
    dev_t mount_dev = 0;
    bool is_entered;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (launch_plan(cfg, envp, &l, &t0) < 0)
        return HR_EXIT_FAIL;
    if (cfg->is_dry_run) {
        kmount = image_kernel_mount(cfg, plan, &l.img, envp, &mount_dev);
        hr_plan_print(plan, l.img.path, stdout);
        hr_inject_print(&l.inject, stdout);
        if (kmount)
            printf("mount    kernel squashfs %s (prolog)\n", kmount);
        else
            printf("mount    FUSE (squashfuse)\n");
        free(kmount);
        return 1;
    }
    /* 4. namespaces: with --join, either lead (build the container below and
     * share it) or enter the leader's and go straight to exec. */
    if (cfg->join_lead_fd || plan->join_key) {
        enum hr_join_role role = launch_join(cfg, plan, envp, &join);
        step_done("join", &t0);
        if (role == HR_JOIN_ERROR)
            return HR_EXIT_FAIL;
        if (role == HR_JOIN_MEMBER) {
            *out = *plan;
            return 0;
        }
        is_join_leader = role == HR_JOIN_LEADER;
    }
    kmount = image_kernel_mount(cfg, plan, &l.img, envp, &mount_dev);
    hr_info("%s: %s image, %s, root %s, %zu mounts, running %s as uid %u", l.img.path,
            l.img.compression, kmount ? "kernel squashfs mount by the prolog" : "FUSE",
            plan->is_writable     ? "writable (tmpfs overlay)"
            : plan->needs_overlay ? "read-only (overlay for mount points)"
                                  : "read-only",
            plan->n_mounts, plan->argv.v[0], (unsigned)plan->uid);
    devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    is_entered =
        devnull_fd >= 0 &&
        (kmount ? image_enter_kernel(plan, kmount, mount_dev, &t0) == 0
                : image_enter_fuse(plan, &l.img, &l.view, &t0,
                                   is_join_leader ? &join : NULL, devnull_fd) == 0);
    if (is_entered && kmount && is_join_leader)
        is_entered = hr_image_keep_join(&join, devnull_fd) == 0;
    free(kmount);
    if (!is_entered)
        return HR_EXIT_FAIL;
    step_done("image", &t0);

    /* 6. root */
    if (hr_root_assemble(plan) < 0)
        return HR_EXIT_FAIL;
    if (is_join_leader)
        hr_join_ready(&join);
    step_done("root", &t0);
    *out = *plan;
    return 0;
}

int hr_launch(const struct hr_config *cfg, char **envp)
{
    struct hr_plan plan;
    int rc = hr_launch_enter(cfg, envp, &plan);

    if (rc != 0)
        return rc == 1 ? HR_EXIT_OK : rc;
    if (cfg->join_lead_fd) {
        /* the container is served: the parent enters it, after comparing
         * this key with its own plan's */
        printf("%s\n", plan.join_key);
        return fflush(stdout) == 0 ? HR_EXIT_OK : HR_EXIT_FAIL;
    }
    /* 7. exec */
    return hr_exec(&plan);
}
