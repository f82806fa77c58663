/* --join: the ranks of one job step on one node share one user and mount
 * namespace and one image mount (DESIGN.md, step 4).
 *
 * The first launch with a given key is the leader: before it creates
 * anything it binds an abstract unix socket named after the key, builds the
 * container as usual, and its FUSE server then hands the namespaces to the
 * others. A later launch connects, checks the server is its own user
 * (SO_PEERCRED), sends a pidfd of itself, receives descriptors of the user and
 * mount namespaces and enters them with setns(2). No PID is ever used to find
 * a namespace, so a recycled PID cannot mislead anyone. The server serves
 * until the last member is gone; then the mount is gone too. */
#ifndef HR_JOIN_H
#define HR_JOIN_H

#include <stddef.h>
#include <sys/types.h>

enum hr_join_role { HR_JOIN_LEADER, HR_JOIN_MEMBER, HR_JOIN_ERROR };

struct hr_join {
    int listen_fd; /* leader: the bound, listening socket */
    int ready_rd;  /* leader: the server starts answering when this is readable */
    int ready_wr;  /* leader: written once the root is assembled */
    pid_t owner;   /* leader: the process the container is first kept for
                    * (0: the leader itself) */
};

/* The socket's name for a key: "hpcrun/UID/HASH" (pure). */
void hr_join_name(const char *key, uid_t uid, char *out, size_t len);

/* Become the leader, or enter the leader's namespaces. Logs on error. */
enum hr_join_role hr_join_enter(const char *name, struct hr_join *j);

/* Leader: the root is ready; let the server hand out the namespaces. */
void hr_join_ready(struct hr_join *j);

/* Server side: answer one connection on listen_fd. Returns a pidfd of the new
 * member (to watch), or -1 if the connection was refused or failed. */
int hr_join_accept(int listen_fd);

#endif
