/* Step 4, namespaces: a new user namespace and a new mount namespace, and
 * nothing else. The PID, network, IPC and UTS namespaces stay the host's so
 * MPI, shared memory, ps, gdb and profilers work as on bare metal. */
#ifndef HR_NS_H
#define HR_NS_H

#include <sys/types.h>

/* unshare(CLONE_NEWUSER | CLONE_NEWNS) and map host_uid/gid to in_uid/gid
 * (the caller's own ids, or 0 with --fakeroot). setgroups is denied, as an
 * unprivileged gid_map requires (user_namespaces(7)). */
int hr_ns_enter(uid_t host_uid, gid_t host_gid, uid_t in_uid, gid_t in_gid);

#endif
