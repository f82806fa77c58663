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

static void explain_no_userns(int err)
{
    char *v;

    if (err == ENOSPC) {
        hr_err("cannot create a user namespace: %s (user.max_user_namespaces is too "
               "low; ask an admin to raise it)",
               strerror(err));
        return;
    }
    v = hr_read_file("/proc/sys/kernel/unprivileged_userns_clone", 16, NULL);
    if (v && v[0] == '0') {
        hr_err("cannot create a user namespace: %s (kernel.unprivileged_userns_clone "
               "is 0; ask an admin to set it to 1)",
               strerror(err));
    } else {
        free(v);
        v = hr_read_file("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", 16,
                         NULL);
        if (v && v[0] == '1')
            hr_err("cannot create a user namespace: %s (AppArmor restricts "
                   "unprivileged user namespaces; an admin must allow hpcrun)",
                   strerror(err));
        else
            hr_err("cannot create a user namespace: %s (are user namespaces "
                   "enabled, and is this not already inside a container?)",
                   strerror(err));
    }
    free(v);
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
