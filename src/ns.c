#include "autoconfig.h"

#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ns.h"
#include "util.h"

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

    /* A process whose credentials changed (slurmstepd's task, which was root
     * a moment ago) is not dumpable, so its /proc/self files belong to root
     * and it could not write its own id maps. It is the user's process now,
     * with nothing of root's left in it: make it dumpable again, as any
     * process the user starts is. */
    if (prctl(PR_GET_DUMPABLE) == 0 && prctl(PR_SET_DUMPABLE, 1) < 0) {
        hr_err("cannot make the process dumpable: %s", strerror(errno));
        return -1;
    }
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
        hr_err("cannot map ids in the user namespace: %s", strerror(-rc));
        return -1;
    }
    return 0;
}
