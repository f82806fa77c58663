/* hpcrun doctor [IMAGE]: what a user or an admin runs on a compute node when
 * a launch fails, or before the first one. Each check prints one line (ok,
 * warn, FAIL) and, for a problem, the concrete fix. Exit 0 when a launch
 * would work, 1 when something would break it. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/doctor.h"
#include "common/exitcodes.h"
#include "common/log.h"
#include "host/hostlibs.h"
#include "host/ldcache.h"
#include "launch/config.h"
#include "launch/env.h"
#include "launch/image.h"
#include "launch/imagelibs.h"
#include "launch/inject.h"
#include "launch/ns.h"
#include "launch/mount.h"

#define SLURM_PLUGIN_DIRS                                                                \
    "/usr/lib/x86_64-linux-gnu/slurm-wlm:/usr/lib64/slurm:/usr/lib/slurm"

struct doctor {
    int problems;
    int warnings;
};

static void say(struct doctor *d, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* what: "ok", "warn", "FAIL" or "info" */
static void say(struct doctor *d, const char *what, const char *fmt, ...)
{
    va_list ap;

    if (strcmp(what, "FAIL") == 0)
        d->problems++;
    else if (strcmp(what, "warn") == 0)
        d->warnings++;
    printf("%-5s ", what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static long read_sysctl(const char *path)
{
    hr_autofree char *text = hr_read_file(path, 64, NULL);
    return text ? strtol(text, NULL, 10) : -1;
}

/* Why unprivileged user namespaces are refused, with the fix. */
static void userns_why(struct doctor *d, int err)
{
    if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
        say(d, "FAIL",
            "user namespaces: user.max_user_namespaces is 0; fix (root): "
            "sysctl -w user.max_user_namespaces=63000");
    else if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
        say(d, "FAIL",
            "user namespaces: kernel.unprivileged_userns_clone is 0; fix (root): "
            "sysctl -w kernel.unprivileged_userns_clone=1");
    else if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
        say(d, "FAIL",
            "user namespaces: AppArmor restricts them "
            "(kernel.apparmor_restrict_unprivileged_userns=1); fix (root): an AppArmor "
            "profile granting 'userns' to hpcrun, or set that sysctl to 0");
    else
        say(d, "FAIL",
            "user namespaces: unshare failed (%s); a seccomp filter or a "
            "container runtime around this shell may forbid them",
            strerror(err));
}

/* In a child: a user + mount namespace with our ids mapped, and a mount in
 * it, exactly as a launch makes them. Reports through the exit status. */
static int check_userns_child(void)
{
    if (hr_ns_enter(getuid(), getgid(), getuid(), getgid()) < 0)
        return 1;
    if (hr_mount("tmpfs", "/tmp", "tmpfs", 0, "size=64k") < 0)
        return 2;
    return 0;
}

static void check_userns(struct doctor *d)
{
    int status = 0, saved;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        hr_log_init("hpcrun doctor", HR_LOG_QUIET);
        _exit(check_userns_child());
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        say(d, "FAIL", "user namespaces: cannot fork: %s", strerror(errno));
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        say(d, "ok", "user and mount namespaces: allowed");
        return;
    }
    /* the same unshare here, to get errno for the explanation */
    saved = 0;
    pid = fork();
    if (pid == 0)
        _exit(unshare(CLONE_NEWUSER) < 0 ? errno : 0);
    if (pid > 0 && waitpid(pid, &status, 0) > 0 && WIFEXITED(status))
        saved = WEXITSTATUS(status);
    if (saved)
        userns_why(d, saved);
    else
        say(d, "FAIL",
            "mount namespace: a mount inside the user namespace failed; the "
            "kernel or a security module forbids it");
}

static void check_fuse(struct doctor *d)
{
    struct stat st;
    int fd;

    if (stat("/dev/fuse", &st) < 0) {
        say(d, "FAIL", "/dev/fuse: missing; fix (root): modprobe fuse");
        return;
    }
    fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        say(d, "FAIL",
            "/dev/fuse: %s (mode %04o); fix (root): chmod 0666 /dev/fuse, "
            "as distributions ship it",
            strerror(errno), (unsigned)(st.st_mode & 07777));
        return;
    }
    close(fd);
    say(d, "ok", "/dev/fuse: usable");
}

static char *find_in_dirs(const char *dirs, const char *name)
{
    char *copy = hr_xstrdup(dirs), *save = NULL, *found = NULL;

    for (char *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char *p = hr_path_join(dir, name);
        if (access(p, F_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

static void check_slurm(struct doctor *d, char **envp)
{
    const char *job = hr_env_get(envp, "SLURM_JOB_ID");
    const char *step = hr_env_get(envp, "SLURM_STEP_ID");
    const char *mpi = hr_env_get(envp, "SLURM_MPI_TYPE");
    hr_autofree char *pmix = find_in_dirs(SLURM_PLUGIN_DIRS, "mpi_pmix.so");
    hr_autofree char *pmi2 = find_in_dirs(SLURM_PLUGIN_DIRS, "mpi_pmi2.so");

    if (job)
        say(d, "info",
            "Slurm: job %s%s%s, MPI plugin %s (ranks of a step share one "
            "container: --join)",
            job, step ? " step " : "", step ? step : "", mpi ? mpi : "none");
    else
        say(d, "info", "Slurm: not inside a job");
    say(d, "info", "Slurm MPI plugins on this node: %s%s%s", pmix ? "pmix " : "",
        pmi2 ? "pmi2" : "", !pmix && !pmi2 ? "none found" : "");
}

/* "OpenPMIx 4.2.2 (PMIx Standard: ...)": the version a PMIx library prints
 * for PMIx_Get_version, found by a bounded scan (the string is not an
 * exported symbol). Returns the version (heap) or NULL. */
static char *pmix_version(hr_pread_fn rd, void *ctx)
{
    static const char marker[] = "OpenPMIx ";
    enum { CHUNK = 1 << 16, MAX = 32 << 20 };
    hr_autofree char *buf = hr_xmalloc(CHUNK + 64);
    off_t off = 0;

    while (off < MAX) {
        ssize_t n = rd(ctx, buf, CHUNK + 64, off);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i + (ssize_t)sizeof(marker) + 4 < n; i++) {
            size_t len = 0;
            if (memcmp(buf + i, marker, sizeof(marker) - 1) != 0)
                continue;
            i += sizeof(marker) - 1;
            while (i + (ssize_t)len < n && len < 32 &&
                   (isalnum((unsigned char)buf[i + len]) || buf[i + len] == '.'))
                len++;
            if (len && isdigit((unsigned char)buf[i]))
                return hr_xstrndup(buf + i, len);
        }
        off += CHUNK;
    }
    return NULL;
}

/* The image's PMIx against the host's, which Slurm's mpi_pmix plugin loads. */
static void check_pmix(struct doctor *d, struct hr_image *img, const char *image_lib,
                       const char *plugin, const char *host_cache)
{
    struct hr_image_file *f = hr_image_file_open(img, image_lib);
    hr_autofree char *iv = f ? pmix_version(hr_image_file_pread, f) : NULL;
    hr_autofree char *hv = NULL;
    struct hr_ldcache hc = {0};
    char err[256];
    const char *host_lib;

    if (f)
        hr_image_file_close(f);
    if (hr_ldcache_load(host_cache, &hc, err, sizeof(err)) == 0 &&
        (host_lib = hr_ldcache_find(&hc, "libpmix.so.2"))) {
        int fd = open(host_lib, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            hv = pmix_version(hr_pread_fd, &fd);
            close(fd);
        }
    }
    hr_ldcache_free(&hc);
    if (!plugin)
        say(d, "warn",
            "PMIx: the image has PMIx %s, this node's Slurm has no mpi_pmix "
            "plugin; fix: install slurm-wlm's mpi_pmix plugin (admin)",
            iv ? iv : "(version unknown)");
    else if (iv && hv && atoi(iv) < 3 && atoi(hv) >= 3)
        say(d, "warn",
            "PMIx: the image has PMIx %s, Slurm's plugin uses PMIx %s; "
            "PMIx before v3 may not talk to it: rebuild the image with PMIx >= 3",
            iv, hv);
    else
        say(d, "ok",
            "PMIx: the image has PMIx %s, Slurm's mpi_pmix plugin uses PMIx %s "
            "(compatible across versions since v3)",
            iv ? iv : "(version unknown)", hv ? hv : "(version unknown)");
}

/* The image's MPI and PMIx, against what Slurm offers here. */
static void check_image_mpi(struct doctor *d, struct hr_image *img,
                            const char *host_cache)
{
    struct hr_ldcache c = {0};
    char err[512];
    bool has_cache = hr_imagelib_cache(img, &c, err, sizeof(err)) == 0;
    const struct hr_ldcache *cp = has_cache ? &c : NULL;
    hr_autofree char *plugin = find_in_dirs(SLURM_PLUGIN_DIRS, "mpi_pmix.so");
    hr_autofree char *pmix = hr_imagelib_find(img, cp, "libpmix.so.2");
    hr_autofree char *mpi = NULL;

    /* found where the launch finds them: the image's cache, its lib dirs */
    if (pmix)
        check_pmix(d, img, pmix, plugin, host_cache);
    if ((mpi = hr_imagelib_find(img, cp, "libmpi.so.40")) ||
        (mpi = hr_imagelib_find(img, cp, "libmpi.so.12")) ||
        (mpi = hr_imagelib_find(img, cp, "libmpich.so.12"))) {
        struct hr_image_file *f = hr_image_file_open(img, mpi);
        struct hr_mpi_info info = {0};
        if (!f || hr_mpi_identify(hr_image_file_pread, f, &info, err, sizeof(err)) < 0)
            info.flavour = HR_MPI_NONE;
        if (f)
            hr_image_file_close(f);
        say(d, "info", "image MPI: %s %s (%s); run it with srun --mpi=%s%s",
            info.flavour == HR_MPI_OPENMPI ? "Open MPI"
            : info.flavour == HR_MPI_MPICH ? "MPICH ABI"
                                           : "unknown MPI",
            info.version ? info.version : "", mpi,
            info.flavour == HR_MPI_OPENMPI ? "pmix" : "pmi2",
            info.flavour == HR_MPI_MPICH ? ", or --mpi=host for the host's MPICH-ABI MPI"
                                         : "");
        hr_mpi_info_free(&info);
    } else {
        say(d, "info",
            "image MPI: none found (no libmpi.so.40, libmpi.so.12 or "
            "libmpich.so.12)");
    }
    hr_ldcache_free(&c);
}

static void check_image_and_devices(struct doctor *d, const struct hr_config *cfg,
                                    char **envp)
{
    struct hr_image img;
    struct hr_inject in;
    bool has_image = cfg->image != NULL;

    if (has_image) {
        if (hr_image_open(&img, cfg->image, cfg->offset) < 0) {
            say(d, "FAIL", "image %s: cannot be used (the message above says why)",
                cfg->image);
            has_image = false;
        } else {
            say(d, "ok", "image %s: a valid SquashFS image (%s)", img.path,
                img.compression);
        }
    }
    fflush(stdout);
    if (hr_inject_collect(cfg, envp, has_image ? &img : NULL, &in) < 0) {
        say(d, "FAIL", "devices and host libraries: a launch would fail (above)");
    } else {
        for (size_t i = 0; i < in.dev.report.n; i++)
            say(d, "info", "device %s", in.dev.report.v[i]);
        if (!in.dev.report.n)
            say(d, "info", "devices: no GPU or fast-network device on this node");
        for (size_t i = 0; i < in.notes.n; i++)
            say(d, strstr(in.notes.v[i], "refused") ? "warn" : "info", "%s",
                in.notes.v[i]);
        if (in.libs.glibc_need) {
            hr_autofree char *need = hr_glibc_version_str(in.libs.glibc_need);
            hr_autofree char *have =
                in.image_glibc ? hr_glibc_version_str(in.image_glibc) : NULL;
            say(d, "ok", "glibc: host libraries need %s, image has %s", need,
                have ? have : "(no image given)");
        }
        hr_inject_free(&in);
    }
    if (has_image) {
        check_image_mpi(d, &img, cfg->ld_so_cache ? cfg->ld_so_cache : HR_LDCACHE);
        hr_image_close(&img);
    }
}

int hr_doctor(int argc, char **argv, char **envp)
{
    struct hr_config cfg;
    struct doctor d = {0};
    char err[1024];
    /* the configuration a launch would use (site file, HPCRUN_*, options such
     * as --topology or --gpu); "--devices" makes the image optional */
    char **args = hr_xmalloc(((size_t)argc + 2) * sizeof(*args));
    int rc;

    args[0] = argv[0];
    args[1] = "--devices";
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    args[argc + 1] = NULL;
    rc = hr_config_load(&cfg, &(struct hr_cmdline){argc + 1, args, envp}, err,
                        sizeof(err));
    free(args);
    if (rc < 0) {
        hr_err("doctor: %s", err);
        hr_config_free(&cfg);
        return HR_EXIT_FAIL;
    }
    if (cfg.action == HR_ACTION_HELP) {
        fputs("usage: hpcrun doctor [OPTIONS] [IMAGE]\n"
              "Check this node (and IMAGE, if given) for what a launch needs: user\n"
              "namespaces, /dev/fuse, Slurm, the image's MPI, GPUs and host libraries;\n"
              "say how to fix each problem found. OPTIONS are a launch's (--gpu,\n"
              "--fabric, --mpi, --topology, ...), so it checks what that launch would\n"
              "use. Exit status: 0 nothing found that would break a launch, 1 something\n"
              "would, 125 bad options. See hpcrun(1).\n",
              stdout);
        hr_config_free(&cfg);
        return 0;
    }
    printf("hpcrun %s doctor, uid %u\n", PACKAGE_VERSION, (unsigned)getuid());
    if (getuid() == 0)
        say(&d, "warn", "running as root: run doctor as the user who launches jobs");
    /* a launch only warns about such a key: a misspelt one turns its setting off */
    for (size_t i = 0; i < cfg.site_unknown.n; i++)
        say(&d, "warn", "%s: ignored (hpcrun --site-config checks the file)",
            cfg.site_unknown.v[i]);
    check_userns(&d);
    check_fuse(&d);
    check_slurm(&d, envp);
    check_image_and_devices(&d, &cfg, envp);
    printf("doctor: %d problem%s, %d warning%s\n", d.problems, d.problems == 1 ? "" : "s",
           d.warnings, d.warnings == 1 ? "" : "s");
    hr_config_free(&cfg);
    return d.problems ? 1 : 0;
}
