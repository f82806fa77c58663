/* hpcrun's Slurm prolog: run by slurmd as root, once per node per job
 * (PrologFlags=Alloc). For a job submitted with --container-image=IMAGE (the
 * SPANK plugin passes it as SPANK_HPCRUN_IMAGE), it mounts IMAGE with the
 * kernel's squashfs driver for this job only, if the site config allows
 * kernel mounts of images where IMAGE lies (kernel-mount-dirs), optionally
 * from a node-local copy (stage-dir). hpcrun then binds that mount instead
 * of serving the image over FUSE. See batch/slurm/README.md.
 *
 * It never fails the job: a failing prolog drains the node. Whatever it
 * cannot or may not do, hpcrun does with FUSE as usual; it says why on
 * stderr (slurmd's log) and in syslog, and exits 0.
 *
 * What it makes (removed by the epilog):
 *   /run/hpcrun/NODE/JOB/record     root's: job, uid, the image file's
 *                                   identity and the mount's device
 *   /run/hpcrun/NODE/JOB/mnt/       a tiny tmpfs, the job user's, mode 0700:
 *                                   no one else reaches the mount
 *   /run/hpcrun/NODE/JOB/mnt/image  the mount (ro,nosuid,nodev)
 *   STAGE-DIR/NODE/JOB/image.sqfs   root's copy (0400 in a 0700 directory)
 *
 * Why each privileged step is safe:
 * - the image is opened by a child that has become the job's user (its
 *   groups included), so root reads only what that user may read, and the
 *   path is resolved with the user's rights; root then works only on that
 *   descriptor: its type, owner and mode are checked on it, and its real
 *   path (/proc/self/fd) must lie under a trusted directory's real path;
 * - every directory root creates or writes in is opened one component at a
 *   time (rootside.c): root's, writable by no one else, never a symlink;
 *   files are created with O_CREAT|O_EXCL|O_NOFOLLOW relative to those;
 * - the loop device is attached from the descriptor (loopdev.c) and the
 *   mount's device is checked to be that loop device; the mount goes
 *   through hr_mount (nosuid, nodev added) onto the mount point's own
 *   descriptor;
 * - the mount point's directory is handed to the user (chown) only when
 *   everything else is in place, so they never see a half-made tree. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/util.h"
#include "launch/config.h"
#include "launch/kmount.h"
#include "launch/mount.h"
#include "asuser.h"
#include "loopdev.h"
#include "rootside.h"

#define STAGED_NAME "image.sqfs"

struct prolog {
    struct rs_job job;
    struct hr_config cfg;
    const char *image;    /* SPANK_HPCRUN_IMAGE, as the job named it */
    char *trusted;        /* the kernel-mount-dir it lies under, real path */
    int image_fd;         /* opened as the job's user */
    struct stat image_st; /* its identity, for the record */
    char real[PATH_MAX];  /* its real path (/proc/self/fd) */
    int src_fd;           /* what the loop device reads: the image or its copy */
    int node_fd, job_fd;  /* /run/hpcrun/NODE and .../JOB */
    int mnt_fd;           /* .../JOB/mnt */
    int stage_node_fd;    /* STAGE-DIR/NODE */
    bool is_job_dir_made; /* what undo() removes */
    bool is_staged;
    bool is_mnt_mounted; /* JOB/mnt's tmpfs */
    bool is_mounted;     /* the image on JOB/mnt/image */
    dev_t mount_dev;
};

/* The kernel-mount-dir whose real path the image's name lies under, opened
 * by root in its own mount namespace, and the rest of the name (*rel); or
 * -1. The name is taken as it is: resolving it (realpath) would follow a
 * /proc/PID/root link into a mount namespace of the user's making. */
static int trusted_dir_open(struct prolog *p, const char **rel)
{
    hr_autofree char *list = hr_xstrdup(p->cfg.stage.kernel_mount_dirs);
    char *save = NULL;
    int fd = -1;

    for (char *d = strtok_r(list, ":", &save); d && fd < 0;
         d = strtok_r(NULL, ":", &save)) {
        char *real = realpath(d, NULL); /* the site's directory */
        if (!real || !hr_kmount_path_is_trusted(p->image, &real, 1) ||
            (fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
            free(real);
            continue;
        }
        *rel = p->image + strlen(real) + (strcmp(real, "/") != 0);
        p->trusted = real;
    }
    return fd;
}

/* Open the image as the job's user, beneath the trusted directory its name
 * lies under, and check it on the descriptor. */
static int image_open(struct prolog *p)
{
    char link[64];
    const struct stat *st = &p->image_st;
    const char *rel = NULL;
    hr_autoclose int trusted_fd = -1;
    struct statfs sf;
    ssize_t n;

    if (p->image[0] != '/') {
        rs_say("%s: not an absolute path", p->image);
        return -1;
    }
    trusted_fd = trusted_dir_open(p, &rel);
    if (trusted_fd < 0) {
        rs_say("%s: not under kernel-mount-dirs", p->image);
        return -1;
    }
    p->image_fd = rs_open_as_user(&p->job, trusted_fd, p->trusted, rel);
    if (p->image_fd < 0) {
        rs_say("%s: the job's user (uid %u) cannot open it: %s", p->image,
               (unsigned)p->job.uid, strerror(-p->image_fd));
        return -1;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", p->image_fd);
    n = readlink(link, p->real, sizeof(p->real) - 1);
    if (fstat(p->image_fd, &p->image_st) < 0 || n <= 0 ||
        (size_t)n >= sizeof(p->real) - 1) {
        rs_say("%s: cannot tell what was opened", p->image);
        return -1;
    }
    p->real[n] = '\0';
    if (!S_ISREG(st->st_mode)) {
        rs_say("%s: not a regular file", p->image);
        return -1;
    }
    /* a FUSE server could answer the kernel's reads differently later */
    if (fstatfs(p->image_fd, &sf) < 0 || sf.f_type == FUSE_SUPER_MAGIC) {
        rs_say("%s: on a FUSE file system", p->image);
        return -1;
    }
    if (p->real[0] != '/' || strchr(p->real, '\n') ||
        !hr_kmount_path_is_trusted(p->real, &p->trusted, 1)) {
        rs_say("%s: not under kernel-mount-dirs", p->real);
        return -1;
    }
    if (st->st_uid != 0 && st->st_uid != p->job.uid) {
        rs_say("%s: owned by neither root nor the job's user", p->real);
        return -1;
    }
    if (st->st_mode & 022) {
        rs_say("%s: writable by group or others", p->real);
        return -1;
    }
    return 0;
}

/* JOB/mnt: a tmpfs of its own (root's until the end, then the job user's),
 * so that what the user may write there is a few inodes and pages, not
 * root's /run, and the epilog removes it all with one unmount. Its root
 * directory in p->mnt_fd. Returns 0 or -1 (errno set). */
static int mnt_make(struct prolog *p)
{
    hr_autoclose int point = -1;
    char dst[32];
    struct stat job_st, mnt_st;
    struct statfs sf;

    if (mkdirat(p->job_fd, HR_KMOUNT_MNT, 0700) < 0 ||
        (point = openat(p->job_fd, HR_KMOUNT_MNT,
                        O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return -1;
    snprintf(dst, sizeof(dst), "/proc/self/fd/%d", point);
    if (hr_mount("tmpfs", dst, "tmpfs", MS_NOEXEC | HR_MOUNT_QUIET,
                 "size=16k,nr_inodes=16,mode=0700") < 0)
        return -1;
    p->is_mnt_mounted = true;
    p->mnt_fd =
        openat(p->job_fd, HR_KMOUNT_MNT, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (p->mnt_fd < 0 || fstat(p->job_fd, &job_st) < 0 || fstat(p->mnt_fd, &mnt_st) < 0 ||
        fstatfs(p->mnt_fd, &sf) < 0)
        return -1;
    if (mnt_st.st_dev == job_st.st_dev || sf.f_type != TMPFS_MAGIC) {
        errno = EXDEV; /* not the tmpfs just mounted */
        return -1;
    }
    return 0;
}

/* /run/hpcrun/NODE/JOB (root's, 0755), JOB/mnt (mnt_make) and
 * the mount point JOB/mnt/image. */
static int run_dirs_make(struct prolog *p)
{
    hr_autoclose int run_fd = rs_dir_open(HR_KMOUNT_DIR, true);
    hr_autofree char *shown = hr_xasprintf("%s/%s", HR_KMOUNT_DIR, p->job.node);
    hr_autofree char *job_dir = hr_xasprintf("%s/%s", shown, p->job.id);

    if (run_fd < 0 || (p->node_fd = rs_dir_open_at(run_fd, p->job.node, shown, true)) < 0)
        return -1;
    if (mkdirat(p->node_fd, p->job.id, 0755) < 0) {
        rs_say("%s: %s (a prolog ran already?)", job_dir, strerror(errno));
        return -1;
    }
    p->is_job_dir_made = true;
    p->job_fd = rs_dir_open_at(p->node_fd, p->job.id, job_dir, false);
    if (p->job_fd < 0)
        return -1;
    if (mnt_make(p) < 0 || mkdirat(p->mnt_fd, HR_KMOUNT_IMAGE, 0755) < 0) {
        rs_say("%s/%s: %s", job_dir, HR_KMOUNT_MNT, strerror(errno));
        return -1;
    }
    return 0;
}

/* Exactly size bytes of in (from its start) to out. */
static int copy_all(int in, int out, off_t size)
{
    off_t off = 0;

    while (off < size) {
        ssize_t n = sendfile(out, in, &off, (size_t)(size - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO; /* it shrank */
    }
    return 0;
}

/* Whether a copy of size bytes more fits: stage-max-size, and
 * stage-min-free left after it. */
static int stage_fits(const struct prolog *p, int dir_fd, const char *shown,
                      unsigned long long size)
{
    unsigned long long avail;
    struct statvfs sv;

    if (p->cfg.stage.max_size && size > p->cfg.stage.max_size) {
        rs_say("%s: %llu bytes, larger than stage-max-size (%llu): not staged", p->real,
               size, p->cfg.stage.max_size);
        return -1;
    }
    if (fstatvfs(dir_fd, &sv) < 0) {
        rs_say("%s: %s", shown, strerror(errno));
        return -1;
    }
    avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    if (avail < size || avail - size < p->cfg.stage.min_free) {
        rs_say(
            "%s: %llu bytes free, the copy (%llu) would leave less than stage-min-free "
            "(%llu): not staged",
            shown, avail, size, p->cfg.stage.min_free);
        return -1;
    }
    return 0;
}

/* STAGE-DIR/NODE/JOB/image.sqfs: a copy only root can write. */
static int stage_copy(struct prolog *p)
{
    hr_autoclose int stage_fd = rs_dir_open(p->cfg.stage.dir, true);
    hr_autoclose int job_fd = -1, out = -1;
    hr_autofree char *node_dir = hr_xasprintf("%s/%s", p->cfg.stage.dir, p->job.node);
    hr_autofree char *job_dir = hr_xasprintf("%s/%s", node_dir, p->job.id);
    char link[64];
    struct stat after;
    int rc;

    if (stage_fd < 0 ||
        stage_fits(p, stage_fd, p->cfg.stage.dir,
                   (unsigned long long)p->image_st.st_size) < 0 ||
        (p->stage_node_fd = rs_dir_open_at(stage_fd, p->job.node, node_dir, true)) < 0)
        return -1;
    if (mkdirat(p->stage_node_fd, p->job.id, 0700) < 0) {
        rs_say("%s: %s (a prolog ran already?)", job_dir, strerror(errno));
        return -1;
    }
    p->is_staged = true;
    job_fd = rs_dir_open_at(p->stage_node_fd, p->job.id, job_dir, false);
    if (job_fd < 0)
        return -1;
    out = openat(job_fd, STAGED_NAME, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0400);
    if (out < 0) {
        rs_say("cannot create %s/%s: %s", job_dir, STAGED_NAME, strerror(errno));
        return -1;
    }
    /* The space first (a sparse image takes its whole size here), then the
     * floor again: prologs of other jobs may have staged meanwhile. */
    rc = posix_fallocate(out, 0, p->image_st.st_size);
    if (rc != 0) {
        rs_say("cannot stage %s in %s: %s", p->real, job_dir, strerror(rc));
        return -1;
    }
    if (stage_fits(p, stage_fd, p->cfg.stage.dir, 0) < 0)
        return -1;
    rc = copy_all(p->image_fd, out, p->image_st.st_size);
    if (rc < 0) {
        rs_say("cannot copy %s to %s: %s", p->real, job_dir, strerror(-rc));
        return -1;
    }
    /* a user's image could change while it was copied: then the copy is
     * not the file hpcrun will open, and the record would not match */
    if (fstat(p->image_fd, &after) < 0 || after.st_size != p->image_st.st_size ||
        after.st_mtim.tv_sec != p->image_st.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != p->image_st.st_mtim.tv_nsec ||
        after.st_ctim.tv_sec != p->image_st.st_ctim.tv_sec ||
        after.st_ctim.tv_nsec != p->image_st.st_ctim.tv_nsec) {
        rs_say("%s: changed while it was copied", p->real);
        return -1;
    }
    /* read-only, for the loop device (LOOP_SET_FD takes the mode from it) */
    snprintf(link, sizeof(link), "/proc/self/fd/%d", out);
    p->src_fd = open(link, O_RDONLY | O_CLOEXEC);
    return p->src_fd < 0 ? -1 : 0;
}

/* The loop device, the mount onto the mount point's descriptor, and a check
 * that the mounted file system is on that very loop device. */
static int image_mount(struct prolog *p)
{
    dev_t rdev;
    hr_autoclose int loop_fd = rs_loop_attach(p->src_fd, &rdev);
    hr_autoclose int point = -1, root = -1;
    char src[32], dst[32];
    struct stat st;

    if (loop_fd < 0)
        return -1;
    point =
        openat(p->mnt_fd, HR_KMOUNT_IMAGE, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (point < 0)
        return -1;
    snprintf(src, sizeof(src), "/dev/loop%u", minor(rdev));
    snprintf(dst, sizeof(dst), "/proc/self/fd/%d", point);
    if (hr_mount(src, dst, "squashfs", MS_RDONLY | HR_MOUNT_QUIET, NULL) < 0) {
        rs_say("%s: the kernel's squashfs cannot mount it: %s", p->real, strerror(errno));
        return -1;
    }
    p->is_mounted = true;
    root = openat(p->mnt_fd, HR_KMOUNT_IMAGE,
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0 || fstat(root, &st) < 0 || st.st_dev != rdev) {
        rs_say("%s: the mount is not on the loop device it was attached to", p->real);
        return -1;
    }
    p->mount_dev = rdev;
    return 0; /* the loop device's descriptor closes: autoclear frees it with the mount */
}

/* The record, written last and renamed into place: hpcrun uses the mount
 * only if it names this job, this user, the very file it opened and the
 * mount's device. */
static int record_write(struct prolog *p)
{
    struct hr_kmount_want want = {
        .job = p->job.id, .uid = p->job.uid, .image = &p->image_st};
    hr_autofree char *text = hr_kmount_record_format(&want, p->mount_dev, p->real);
    hr_autoclose int fd = -1;

    fd = openat(p->job_fd, HR_KMOUNT_RECORD ".tmp",
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (!text || fd < 0 || hr_write_all(fd, text, strlen(text)) < 0 ||
        fchmod(fd, 0644) < 0 ||
        renameat(p->job_fd, HR_KMOUNT_RECORD ".tmp", p->job_fd, HR_KMOUNT_RECORD) < 0) {
        rs_say("cannot write %s/%s/%s/%s: %s", HR_KMOUNT_DIR, p->job.node, p->job.id,
               HR_KMOUNT_RECORD, strerror(errno));
        return -1;
    }
    return 0;
}

/* Remove what this run made: FUSE it is. */
static void undo(struct prolog *p)
{
    if (p->is_mounted && (fchdir(p->mnt_fd) < 0 ||
                          umount2(HR_KMOUNT_IMAGE, UMOUNT_NOFOLLOW | MNT_DETACH) < 0))
        rs_say("cannot unmount the image again: %s", strerror(errno));
    if (p->is_mnt_mounted && (fchdir(p->job_fd) < 0 ||
                              umount2(HR_KMOUNT_MNT, UMOUNT_NOFOLLOW | MNT_DETACH) < 0))
        rs_say("cannot unmount %s again: %s", HR_KMOUNT_MNT, strerror(errno));
    if ((p->is_mounted || p->is_mnt_mounted) && chdir("/") < 0)
        rs_say("/: %s", strerror(errno));
    if (p->is_job_dir_made)
        rs_remove_at(p->node_fd, p->job.id);
    if (p->is_staged)
        rs_remove_at(p->stage_node_fd, p->job.id);
}

static int prolog_run(struct prolog *p)
{
    if (image_open(p) < 0)
        return -1;
    /* Its owner could rewrite a file while the kernel reads it: a user's
     * image is mounted only from a copy only root can write. */
    if (p->image_st.st_uid != 0 && !p->cfg.stage.dir) {
        rs_say("%s: owned by the user and no stage-dir to copy it to", p->real);
        return -1;
    }
    p->src_fd = p->image_fd;
    if (run_dirs_make(p) < 0 || (p->cfg.stage.dir && stage_copy(p) < 0) ||
        image_mount(p) < 0 || record_write(p) < 0)
        return -1;
    /* Last: the mount point's directory becomes the user's, so only they
     * (and root) reach the mount. */
    if (fchown(p->mnt_fd, p->job.uid, p->job.gid) < 0) {
        rs_say("%s/%s/%s/%s: %s", HR_KMOUNT_DIR, p->job.node, p->job.id, HR_KMOUNT_MNT,
               strerror(errno));
        return -1;
    }
    rs_say("%s mounted at %s/%s/%s/%s/%s%s", p->real, HR_KMOUNT_DIR, p->job.node,
           p->job.id, HR_KMOUNT_MNT, HR_KMOUNT_IMAGE,
           p->is_staged ? " (from its staged copy)" : "");
    return 0;
}

int main(void)
{
    struct prolog p = {.image_fd = -1,
                       .src_fd = -1,
                       .node_fd = -1,
                       .job_fd = -1,
                       .mnt_fd = -1,
                       .stage_node_fd = -1};
    char err[1024];

    umask(022);
    rs_log_init("prolog");
    p.image = hr_env_get(environ, "SPANK_HPCRUN_IMAGE");
    if (!p.image || !*p.image)
        return 0; /* not a job of the SPANK plugin's --container-image */
    if (rs_job_from_env(&p.job, environ, true) < 0)
        return 0;
    /* the site policy, with the parser hpcrun itself uses */
    if (rs_load_site(&p.cfg, environ, err, sizeof(err)) < 0) {
        rs_say("%s (not kernel-mounted; hpcrun uses FUSE)", err);
    } else if (p.cfg.stage.kernel_mount_dirs && prolog_run(&p) < 0) {
        rs_say("%s: not kernel-mounted; hpcrun uses FUSE", p.image);
        undo(&p);
    }
    if (p.src_fd != p.image_fd)
        hr_closep(&p.src_fd);
    hr_closep(&p.image_fd);
    hr_closep(&p.mnt_fd);
    hr_closep(&p.job_fd);
    hr_closep(&p.node_fd);
    hr_closep(&p.stage_node_fd);
    free(p.trusted);
    hr_config_free(&p.cfg);
    rs_job_free(&p.job);
    return 0;
}
