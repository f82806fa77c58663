/* The launch as the design's list of steps (DESIGN.md, "The launch, step by
 * step"): hr_launch_enter calls one function per step, in order, over one
 * struct launch that launch_release frees on every path. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "launch/launch.h"
#include "common/exitcodes.h"
#include "common/log.h"
#include "launch/checks.h"
#include "launch/exec.h"
#include "launch/image.h"
#include "launch/imagefs.h"
#include "launch/join.h"
#include "launch/kmount.h"
#include "launch/linger.h"
#include "launch/mount.h"
#include "launch/ns.h"
#include "launch/plan.h"
#include "launch/root.h"
#include "launch/stage.h"

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

/* Where step 5 takes the image from: the prolog's kernel mount of it, or
 * FUSE. Decided once (launch_image_source), for --dry-run's report and for
 * the mount alike. */
struct image_source {
    char *kmount;    /* host path of the prolog's mount, or NULL: FUSE */
    dev_t mount_dev; /* its device: what is bound must still be on it */
};

/* What one launch holds, from the plan to the exec. */
struct launch {
    struct hr_host host;
    struct hr_image img;
    struct hr_inject inject;
    struct hr_image_view view;
    struct hr_plan plan;
    struct image_source source;
    struct hr_join join; /* --join: the leader's socket and ready pipe */
    bool is_join_leader;
    /* warm launches (linger.h): a lingering server found (is_warm, then
     * tree is its image mount, cloned), or the name its own server takes */
    struct hr_linger linger;
    bool is_warm;
    int tree;
    int linger_s;
    char *image_path; /* the image's real path, as --list shows it */
    int devnull_fd;   /* the servers' stdin, stdout and stderr */
    size_t n_binds;   /* cfg->n_binds, which hr_host_free needs */
};

static struct launch launch_new(const struct hr_config *cfg)
{
    return (struct launch){.img = {.fd = -1},
                           .join = {.listen_fd = -1, .ready_rd = -1, .ready_wr = -1},
                           .linger = HR_LINGER_INIT,
                           .tree = -1,
                           .linger_s = cfg->linger_s,
                           .devnull_fd = -1,
                           .n_binds = cfg->n_binds};
}

/* Everything a launch holds, whichever step it got to. */
static void launch_release(struct launch *l)
{
    hr_host_free(&l->host, l->n_binds);
    hr_image_close(&l->img);
    hr_inject_free(&l->inject);
    hr_plan_free(&l->plan);
    free(l->source.kmount);
    hr_join_close(&l->join);
    hr_linger_close(&l->linger);
    if (l->tree >= 0)
        close(l->tree);
    free(l->image_path);
    if (l->devnull_fd >= 0)
        close(l->devnull_fd);
}
#define launch_autorelease __attribute__((cleanup(launch_release)))

/* The plan is the caller's from here on (step 7 runs it). */
static int launch_hand_over(struct launch *l, struct hr_plan *out)
{
    *out = l->plan;
    memset(&l->plan, 0, sizeof(l->plan));
    return 0;
}

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

/* Step 5's one decision: the prolog's kernel mount of this image, or FUSE.
 * A writable root without --fakeroot needs FUSE's report of every file as
 * the caller's, and --fakeroot needs the image's root-owned files as its
 * own: both only FUSE does. */
static void launch_image_source(const struct hr_config *cfg, char **envp,
                                struct launch *l)
{
    const struct hr_plan *plan = &l->plan;

    if (plan->is_writable || plan->is_fakeroot || cfg->offset) {
        hr_debug("kernel mount: not with --writable-tmpfs, --fakeroot or --offset");
        return;
    }
    l->source.kmount = hr_kmount_find(&l->img.st, envp, &l->source.mount_dev);
}

/* With FUSE and a linger time: look for the image's lingering server (a
 * warm launch), or take the name for the server this launch forks. */
static void launch_find_warm(char **envp, struct launch *l)
{
    const struct hr_plan *plan = &l->plan;
    struct hr_linger_key k = {.st = &l->img.st,
                              .offset = l->img.offset,
                              .uid = plan->uid,
                              .gid = plan->gid,
                              .is_owned_by_caller =
                                  plan->is_writable && !plan->is_fakeroot,
                              .host_uid = plan->host_uid};

    if (l->source.kmount || l->linger_s <= 0)
        return;
    l->is_warm = hr_linger_find(envp, &k, &l->linger) == 1;
    /* what --list shows of the server this launch forks (if it lingers);
     * read now, before the staging area hides the caller's directory */
    if (!l->is_warm && l->linger.listen_fd >= 0) {
        l->image_path = realpath(l->img.path, NULL);
        if (!l->image_path)
            l->image_path = hr_xstrdup(l->img.path);
    }
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
static enum hr_join_role launch_join(const struct hr_config *cfg, char **envp,
                                     struct launch *l, struct timespec *t0)
{
    char name[HR_JOIN_NAME_MAX];
    enum hr_join_role role;

    if (!cfg->join_lead_fd && !l->plan.join_key)
        return HR_JOIN_ALONE;
    if (cfg->join_lead_fd)
        role =
            join_lead(cfg->join_lead_fd, &l->join) < 0 ? HR_JOIN_ERROR : HR_JOIN_LEADER;
    else if (hr_join_step_name(envp, l->plan.join_key, l->plan.host_uid, name,
                               sizeof(name)) < 0)
        role = HR_JOIN_ALONE;
    else
        role = hr_join_enter(name, &l->join);
    step_done("join", t0);
    l->is_join_leader = role == HR_JOIN_LEADER;
    return role;
}

/* -v: what this launch builds. */
static void launch_report(const struct launch *l)
{
    const struct hr_plan *plan = &l->plan;

    hr_info("%s: %s image, %s, root %s, %zu mounts, running %s as uid %u", l->img.path,
            l->img.compression,
            l->source.kmount ? "kernel squashfs mount by the prolog"
            : l->is_warm     ? "FUSE (a lingering server's mount)"
                             : "FUSE",
            plan->is_writable     ? "writable (tmpfs overlay)"
            : plan->needs_overlay ? "read-only (overlay for mount points)"
                                  : "read-only",
            plan->n_mounts, plan->argv.v[0], (unsigned)plan->uid);
}

/* 4. namespaces (ns.h). With FUSE, /dev/fuse is checked first, for a clear
 * message; image_from_fuse opens it again inside, since FUSE only accepts a
 * /dev/fuse opened by the mounting namespace's credentials. */
static int launch_namespaces(struct launch *l, struct timespec *t0)
{
    const struct hr_plan *plan = &l->plan;

    if (l->is_warm) { /* the server's user namespace, a mount namespace of our own */
        l->tree = hr_linger_enter(&l->linger);
        hr_linger_close(&l->linger);
        if (l->tree == -1)
            return -1;
        if (l->tree >= 0) {
            step_done("namespaces", t0);
            return 0;
        }
        l->is_warm = false;
    }
    if (!l->source.kmount) {
        int fuse_fd = hr_check_open_fuse();
        if (fuse_fd < 0)
            return -1;
        close(fuse_fd);
    }
    if (hr_ns_enter(plan->host_uid, plan->host_gid, plan->uid, plan->gid) < 0)
        return -1;
    step_done("namespaces", t0);
    return 0;
}

/* 5 with the prolog's mount: bind it where FUSE would mount. */
static int image_from_kernel(struct launch *l)
{
    const char *kmount = l->source.kmount;
    hr_autofree char *src = NULL;

    if (hr_root_stage(l->plan.is_writable) < 0)
        return -1;
    src = hr_path_join(HR_STAGE_OLDROOT, kmount);
    if (hr_mount(src, HR_STAGE_IMAGE, NULL, MS_BIND | MS_RDONLY, NULL) < 0)
        return -1;
    /* The mount point's directory is the user's: what was bound must still
     * be the very mount hr_kmount_find checked. */
    if (!hr_kmount_is_mount(HR_STAGE_IMAGE, l->source.mount_dev)) {
        hr_err("%s: no longer the prolog's kernel mount (changed while it was bound)",
               kmount);
        return -1;
    }
    /* --join: no FUSE server hands out the namespaces, so one that does
     * only that */
    return l->is_join_leader ? hr_image_keep_join(&l->join, l->devnull_fd) : 0;
}

/* 5 warm: the lingering server's image mount, cloned, where FUSE would
 * mount the image. */
static int image_from_server(struct launch *l)
{
    if (hr_root_stage(l->plan.is_writable) < 0 ||
        hr_mount_attach(l->tree, HR_STAGE_IMAGE) < 0)
        return -1;
    close(l->tree);
    l->tree = -1;
    /* --join: the server hands out only its own namespaces, so one that
     * hands out this container's */
    return l->is_join_leader ? hr_image_keep_join(&l->join, l->devnull_fd) : 0;
}

/* 5 with FUSE: the server is forked once the image is mounted. */
static int image_from_fuse(struct launch *l)
{
    const struct hr_plan *plan = &l->plan;
    /* idle cores: prefetch, decompress in parallel (read before the staging
     * pivot, while /proc is at hand) */
    bool is_prefetch_useful = hr_image_prefetch_is_useful();
    int fuse_fd = hr_check_open_fuse();
    struct hr_fuse_opts opts;

    if (fuse_fd < 0)
        return -1;
    opts = (struct hr_fuse_opts){.fuse_fd = fuse_fd,
                                 .mountpoint = HR_STAGE_IMAGE,
                                 .uid = plan->uid,
                                 .gid = plan->gid,
                                 .is_owned_by_caller =
                                     plan->is_writable && !plan->is_fakeroot,
                                 .is_parallel = is_prefetch_useful,
                                 .join = l->is_join_leader ? &l->join : NULL,
                                 .devnull_fd = l->devnull_fd,
                                 .linger_fd = l->linger.listen_fd,
                                 .linger_s = l->linger_s,
                                 .image_path = l->image_path};
    if (hr_root_stage(plan->is_writable) < 0) {
        close(fuse_fd);
        return -1;
    }
    if (hr_image_mount_fuse(&l->img, &opts) < 0)
        return -1;
    hr_linger_close(&l->linger); /* the server has the socket now */
    if (is_prefetch_useful) {
        char *exe = hr_plan_find_exe(plan, &l->view);
        hr_image_prefetch(HR_STAGE_IMAGE, exe);
        free(exe);
    }
    return 0;
}

/* 5. image: the staging area (stage.h), with the image mounted at
 * HR_STAGE_IMAGE in it from where l->source says. */
static int launch_image(struct launch *l)
{
    /* for the servers, opened while the host's /dev is still at hand */
    l->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (l->devnull_fd < 0) {
        hr_err("/dev/null: %s", strerror(errno));
        return -1;
    }
    if (l->source.kmount)
        return image_from_kernel(l);
    return l->is_warm ? image_from_server(l) : image_from_fuse(l);
}

int hr_launch_plan(const struct hr_config *cfg, char **envp, struct hr_plan *out)
{
    launch_autorelease struct launch l = launch_new(cfg);
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (launch_plan(cfg, envp, &l, &t0) < 0)
        return -1;
    return launch_hand_over(&l, out);
}

int hr_launch_enter(const struct hr_config *cfg, char **envp, struct hr_plan *out)
{
    launch_autorelease struct launch l = launch_new(cfg);
    struct timespec t0;
    enum hr_join_role role;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* 1. config is the caller's; 2. checks and 3. plan */
    if (launch_plan(cfg, envp, &l, &t0) < 0)
        return -1;
    /* 4. namespaces, with --join first: lead (build the container below and
     * share it), or enter the leader's and go straight to exec */
    role = launch_join(cfg, envp, &l, &t0);
    if (role == HR_JOIN_ERROR)
        return -1;
    if (role == HR_JOIN_MEMBER)
        return launch_hand_over(&l, out);
    /* where step 5 takes the image from decides what step 4 checks */
    launch_image_source(cfg, envp, &l);
    launch_find_warm(envp, &l);
    launch_report(&l);
    if (launch_namespaces(&l, &t0) < 0)
        return -1;
    /* 5. image */
    if (launch_image(&l) < 0)
        return -1;
    step_done("image", &t0);
    /* 6. root */
    if (hr_root_assemble(&l.plan) < 0)
        return -1;
    if (l.is_join_leader)
        hr_join_ready(&l.join);
    step_done("root", &t0);
    /* 7. exec is the caller's */
    return launch_hand_over(&l, out);
}

/* --dry-run: steps 2 and 3, and step 5's choice, printed; nothing is
 * created. */
static int launch_dry_run(const struct hr_config *cfg, char **envp)
{
    launch_autorelease struct launch l = launch_new(cfg);
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (launch_plan(cfg, envp, &l, &t0) < 0)
        return -1;
    launch_image_source(cfg, envp, &l);
    hr_plan_print(&l.plan, l.img.path, stdout);
    hr_inject_print(&l.inject, stdout);
    if (l.source.kmount)
        printf("mount    kernel squashfs %s (prolog)\n", l.source.kmount);
    else
        printf("mount    FUSE (squashfuse)\n");
    return 0;
}

int hr_launch(const struct hr_config *cfg, char **envp)
{
    struct hr_plan plan;
    int rc;

    if (cfg->is_dry_run)
        return launch_dry_run(cfg, envp) < 0 ? HR_EXIT_FAIL : HR_EXIT_OK;
    if (hr_launch_enter(cfg, envp, &plan) < 0)
        return HR_EXIT_FAIL;
    /* 7. exec. It returns only on failure, with the plan's environment
     * installed as environ: the plan stays until exit. */
    if (!cfg->join_lead_fd)
        return hr_exec(&plan, cfg->image);
    /* --join-lead: the container is served, and the parent enters it after
     * comparing this key with its own plan's */
    printf("%s\n", plan.join_key);
    rc = fflush(stdout) == 0 ? HR_EXIT_OK : HR_EXIT_FAIL;
    hr_plan_free(&plan);
    return rc;
}
