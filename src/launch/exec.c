#include "autoconfig.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch/exec.h"
#include "common/exitcodes.h"
#include "common/log.h"

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

int hr_exec(const struct hr_plan *plan)
{
    const char *cmd = plan->argv.v[0];
    int rc = hr_exec_prepare(plan);

    if (rc != 0)
        return rc;
    /* execvp searches the PATH of the current environment, so install the
     * container's environment first. */
    environ = plan->env.v;
    execvp(cmd, plan->argv.v);
    if (errno == ENOENT) {
        hr_err("%s: command not found in the container", cmd);
        return HR_EXIT_NOT_FOUND;
    }
    hr_err("%s: cannot execute: %s", cmd, strerror(errno));
    return HR_EXIT_CANNOT_EXEC;
}
