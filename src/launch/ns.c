#include "autoconfig.h"

#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch/ns.h"
#include "common/log.h"
#include "common/util.h"

/* A sysctl's number, read only when a failure needs explaining; -1 when
 * the kernel has no such knob. */
static long read_sysctl(const char *path)
{
    hr_autofree char *text = hr_read_file(path, 64, NULL);

    return text ? strtol(text, NULL, 10) : -1;
}

/* Why unshare(CLONE_NEWUSER) failed with err, from the knobs that refuse it
 * (user_namespaces(7)): ENOSPC is the user.max_user_namespaces limit (0
 * forbids them); EPERM or EACCES is Debian's old
 * kernel.unprivileged_userns_clone or, since Ubuntu 23.10, AppArmor's
 * kernel.apparmor_restrict_unprivileged_userns. */
static void explain_no_userns(int err)
{
    const char *what = "cannot create a user namespace";
    long max;

    if (err == ENOSPC) {
        max = read_sysctl("/proc/sys/user/max_user_namespaces");
        if (max == 0)
            hr_err("%s: %s (user.max_user_namespaces is 0 on this node; a site admin "
                   "sets it with sysctl -w user.max_user_namespaces=15000)",
                   what, strerror(err));
        else
            hr_err("%s: %s (this user has as many as user.max_user_namespaces=%ld "
                   "allows; a site admin raises it with sysctl -w "
                   "user.max_user_namespaces=N)",
                   what, strerror(err), max);
    } else if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0) {
        hr_err("%s: %s (kernel.unprivileged_userns_clone is 0 on this node; a site "
               "admin sets it with sysctl -w kernel.unprivileged_userns_clone=1)",
               what, strerror(err));
    } else if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") ==
               1) {
        hr_err("%s: %s (kernel.apparmor_restrict_unprivileged_userns is 1 on this "
               "node: AppArmor denies them to programs without a profile that allows "
               "'userns'; a site admin installs such a profile for hpcrun, or sets "
               "it with sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)",
               what, strerror(err));
    } else {
        hr_err("%s: %s (a seccomp filter, a security module or a container "
               "around this process forbids them; hpcrun doctor checks the node)",
               what, strerror(err));
    }
}

int hr_ns_enter(uid_t host_uid, gid_t host_gid, uid_t in_uid, gid_t in_gid)
{
    char map[64];
    int rc;

    /* Never PR_SET_DUMPABLE here: a process whose credentials changed (a
     * fork of root's slurmstepd that switched to the user) is not dumpable
     * because it still holds root's memory, and making it dumpable would
     * let the user read that memory through /proc/PID/mem. hpcrun is always
     * a freshly exec'd, dumpable process; the SPANK plugin's tasks never get
     * here, they join a container its exec'd helper built. */
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        explain_no_userns(errno);
        return -1;
    }
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)in_uid, (unsigned)host_uid);
    rc = hr_write_file("/proc/self/uid_map", map);
    if (rc == 0)
        rc = hr_write_file("/proc/self/setgroups", "deny");
    if (rc == 0) {
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)in_gid, (unsigned)host_gid);
        rc = hr_write_file("/proc/self/gid_map", map);
    }
    if (rc < 0) {
        /* /proc/self of a process that is not dumpable is root's */
        hr_err("cannot map ids in the user namespace: %s%s", strerror(-rc),
               prctl(PR_GET_DUMPABLE) == 0
                   ? " (this process is not dumpable: can its user read the hpcrun "
                     "program?)"
                   : "");
        return -1;
    }
    return 0;
}
