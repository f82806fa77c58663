#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "launch/exec.h"
#include "common/exitcodes.h"
#include "common/log.h"
#include "common/util.h"
#include "host/elfread.h"
#include "launch/execdiag.h"

extern char **environ;

static int exec_chdir(const struct hr_plan *plan)
{
    if (chdir(plan->cwd) == 0)
        return 0;
    if (plan->is_cwd_fallback_ok) {
        hr_warn("%s: not in the container (%s); starting in /", plan->cwd,
                strerror(errno));
        return chdir("/");
    }
    hr_err("working directory %s: %s in the container", plan->cwd, strerror(errno));
    return -1;
}

/* Without --fakeroot the application runs as the caller with no
 * capabilities at all, not even in the bounding set: the user namespace's
 * capabilities were only needed to build the root. */
static int drop_capabilities(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    long last = CAP_LAST_CAP;
    char *s = hr_read_file("/proc/sys/kernel/cap_last_cap", 16, NULL);

    if (s) {
        last = strtol(s, NULL, 10);
        free(s);
    }
    for (long c = 0; c <= last; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    memset(data, 0, sizeof(data));
    return (int)syscall(SYS_capset, &hdr, data);
}

int hr_exec_prepare(const struct hr_plan *plan)
{
    if (exec_chdir(plan) < 0)
        return HR_EXIT_FAIL;
    /* The container's programs must never gain privileges through setuid
     * bits or file capabilities in the image (prctl(2), no_new_privs). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        hr_err("cannot set no_new_privs: %s", strerror(errno));
        return HR_EXIT_FAIL;
    }
    if (!plan->is_fakeroot && drop_capabilities() < 0) {
        hr_err("cannot drop capabilities: %s", strerror(errno));
        return HR_EXIT_FAIL;
    }
    for (int fd = 0; fd <= 2; fd++)
        if (plan->closed_std_fds & (1u << fd))
            close(fd);
    return 0;
}

/* The header of the file at path (see execdiag.h). 0 or -1. */
static int exec_header(const char *path, struct hr_exec_header *h)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    int rc;

    if (fd < 0)
        return -1;
    rc = hr_exec_header_read(hr_pread_fd, &fd, h);
    close(fd);
    return rc;
}

/* Whether path is an ELF object (read as the application would be). */
static bool is_elf(const char *path)
{
    struct hr_exec_header h;

    return exec_header(path, &h) == 0 && h.kind == HR_EXEC_ELF;
}

/* execve(2) of path, then what execvp(3) does on ENOEXEC: a file the kernel
 * does not know is a script for /bin/sh. Not an ELF object, though: the
 * kernel knows those, it only refused this one (another machine's), and
 * the shell would only read binary garbage. Returns the errno. */
static int exec_file(const char *path, char *const argv[])
{
    size_t argc = 0;
    char **sh_argv;

    execve(path, argv, environ);
    if (errno != ENOEXEC || is_elf(path))
        return errno;
    while (argv[argc])
        argc++;
    sh_argv = hr_xmalloc((argc + 2) * sizeof(*sh_argv));
    sh_argv[0] = "/bin/sh";
    sh_argv[1] = (char *)path;
    memcpy(sh_argv + 2, argv + 1, argc * sizeof(*sh_argv)); /* argv[argc] is NULL */
    execve(sh_argv[0], sh_argv, environ);
    free(sh_argv);
    return errno;
}

static bool is_regular(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* One try of the search: found becomes path when the failure is about
 * this file (it is there, yet ENOENT or ENOEXEC; or it could not be read,
 * EIO). Returns the errno. */
static int exec_try(const char *path, char *const argv[], char *found, size_t len)
{
    int err = exec_file(path, argv);

    if (!found[0] &&
        (err == ENOEXEC || err == EIO || (err == ENOENT && is_regular(path))))
        snprintf(found, len, "%s", path);
    return err;
}

/* execvp(3)'s search, as glibc does it (posix/execvpe.c), so that a failure
 * can name its cause: a name with a slash is run as it is, another is
 * tried in each entry of the container's PATH ("/bin:/usr/bin" without
 * one; an empty entry is the working directory). ENOENT and the like go on
 * to the next entry, EACCES too but is what the search fails with, any
 * other error stops it. found: the file a failure with ENOENT, ENOEXEC or
 * EIO is about ("" if none is there). Returns the errno. */
static int exec_search(const char *cmd, char *const argv[], char *found, size_t len)
{
    const char *path = getenv("PATH") ? getenv("PATH") : "/bin:/usr/bin", *p, *end;
    bool got_eacces = false;
    int err = ENOENT;

    found[0] = '\0';
    if (!*cmd)
        return ENOENT;
    if (strchr(cmd, '/'))
        return exec_try(cmd, argv, found, len);
    if (strlen(cmd) > NAME_MAX)
        return ENAMETOOLONG;
    for (p = path;; p = end + 1) {
        char try[PATH_MAX];
        end = strchrnul(p, ':');
        if (snprintf(try, sizeof(try), "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "",
                     cmd) < (int)sizeof(try)) {
            err = exec_try(try, argv, found, len);
            if (err == EACCES)
                got_eacces = true;
            else if (err != ENOENT && err != ESTALE && err != ENOTDIR && err != ENODEV &&
                     err != ETIMEDOUT)
                return err;
        }
        if (!*end)
            break;
    }
    return got_eacces ? EACCES : err;
}

/* Whether path's directory is on the container's root file system, the
 * image (or the tmpfs overlay over it), rather than on a host directory
 * bound into it. */
static bool is_in_image(const char *path)
{
    hr_autofree char *dir = hr_xstrdup(path);
    char *slash = strrchr(dir, '/');
    struct stat root, st;

    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    return stat("/", &root) == 0 && stat(slash ? dir : ".", &st) == 0 &&
           st.st_dev == root.st_dev;
}

/* Say why cmd did not run (err, about the file found) and give the exit
 * code: 127 when there is no such command, 126 when there is one that
 * cannot run, 125 when the image could not be read. */
static int exec_failed(const char *image, const char *cmd, const char *found, int err)
{
    struct hr_exec_header h;
    struct utsname u;
    char buf[32];
    const char *arch;

    if ((err == ENOENT || err == ENOEXEC) && found[0] && exec_header(found, &h) == 0) {
        /* the kernel's ENOENT for a file that is there: its interpreter
         * is not (execve(2)) */
        if (err == ENOENT && h.interp[0] && access(h.interp, F_OK) < 0) {
            if (h.kind == HR_EXEC_ELF)
                hr_err("%s: its ELF interpreter %s is not in the image (a program built "
                       "for another system?)",
                       cmd, h.interp);
            else
                hr_err("%s: its interpreter %s is not in the image", cmd, h.interp);
            return HR_EXIT_CANNOT_EXEC;
        }
        arch = hr_elf_machine_name(&h, buf, sizeof(buf));
        if (err == ENOEXEC && h.kind == HR_EXEC_ELF && uname(&u) == 0 &&
            strcmp(arch, u.machine) != 0) {
            hr_err("%s: built for %s, this node is %s", cmd, arch, u.machine);
            return HR_EXIT_CANNOT_EXEC;
        }
    }
    /* The FUSE server answers EIO when the image's tables or data do not
     * decode: the image is damaged, not the user's program. */
    if (err == EIO && found[0] && is_in_image(found)) {
        hr_err("%s: damaged image: cannot read %s (%s)", image, found, strerror(err));
        return HR_EXIT_FAIL;
    }
    if (err == ENOENT && !found[0]) {
        hr_err("%s: command not found in the container", cmd);
        return HR_EXIT_NOT_FOUND;
    }
    hr_err("%s: cannot execute: %s", cmd, strerror(err));
    return HR_EXIT_CANNOT_EXEC;
}

int hr_exec(const struct hr_plan *plan, const char *image)
{
    char found[PATH_MAX];
    int rc = hr_exec_prepare(plan), err;

    if (rc != 0)
        return rc;
    /* The search reads the PATH of the current environment, so install the
     * container's environment first. */
    environ = plan->env.v;
    err = exec_search(plan->argv.v[0], plan->argv.v, found, sizeof(found));
    return exec_failed(image, plan->argv.v[0], found, err);
}
