/* --join: the ranks of one job step on one node share one user and mount
 * namespace and one image mount (DESIGN.md, step 4).
 *
 * The first launch with a given key is the leader: before it creates
 * anything it binds an abstract unix socket named after the key and the
 * user's secret (hr_join_name: nobody who lacks the secret can take the name
 * first, which would make the step's tasks fail), builds the
 * container as usual, and its FUSE server then hands the namespaces to the
 * others. A later launch connects, checks the server is its own user
 * (SO_PEERCRED), sends a pidfd of itself, receives descriptors of the user and
 * mount namespaces and enters them with setns(2). No PID is ever used to find
 * a namespace, so a recycled PID cannot mislead anyone. The server serves
 * until the last member is gone; then the mount is gone too.
 *
 * Abstract sockets vanish with their last descriptor, so a leader killed
 * with SIGKILL leaves nothing behind. Their names are not secret, though
 * (/proc/net/unix lists them) and anyone may bind one: hence the name is a
 * MAC of the key, never the key itself. Whatever keeps a launch from
 * joining before it has entered anything (no usable secret, a name held by
 * another user, leaders that keep dying) is a one-line warning, and the
 * launch builds a container of its own. */
#ifndef HR_JOIN_H
#define HR_JOIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* HR_JOIN_ALONE: no container to share; build one as without --join */
enum hr_join_role { HR_JOIN_LEADER, HR_JOIN_MEMBER, HR_JOIN_ALONE, HR_JOIN_ERROR };

struct hr_join {
    int listen_fd; /* leader: the bound, listening socket */
    int ready_rd;  /* leader: the server starts answering when this is readable */
    int ready_wr;  /* leader: written once the root is assembled */
    pid_t owner;   /* leader: the process the container is first kept for
                    * (0: the leader itself) */
};

#define HR_JOIN_SECRET_LEN 32
/* "hpcrun/" + uid + "/" + 64 hex digits + NUL, and room to spare */
#define HR_JOIN_NAME_MAX 96

/* The user's --join secret: HR_JOIN_SECRET_LEN random bytes in the file
 * hpcrun/join/key under $XDG_RUNTIME_DIR when that is a directory of the
 * user's, else under $XDG_CACHE_HOME or ~/.cache; made on first use. The
 * join directory must be the user's and 0700, the key file the user's, 0600
 * and whole (checked on the descriptors, neither followed if a symlink).
 * Returns 0, or -1 after one warning: then the launch must go alone. */
int hr_join_secret(char **env, uint8_t secret[HR_JOIN_SECRET_LEN]);

/* The socket's name for a key: "hpcrun/UID/" + HMAC-SHA-256(secret, key) in
 * hex (pure). out has HR_JOIN_NAME_MAX bytes. */
void hr_join_name(const char *key, uid_t uid, const uint8_t secret[HR_JOIN_SECRET_LEN],
                  char *out, size_t len);

/* The socket's name for this user's key, under their secret (both of the
 * above; root's secret is always under root's own home, whatever env says).
 * Returns 0, or -1 after hr_join_secret's warning: go alone. */
int hr_join_step_name(char **env, const char *key, uid_t uid, char *out, size_t len);

/* Become the leader, enter the leader's namespaces, or (HR_JOIN_ALONE, after
 * one warning) neither. HR_JOIN_ERROR: entering failed half-way; the launch
 * cannot go on. */
enum hr_join_role hr_join_enter(const char *name, struct hr_join *j);

/* Leader: the root is ready; let the server hand out the namespaces. */
void hr_join_ready(struct hr_join *j);

/* Close whatever of j this process still holds (the server took the socket
 * and the ready pipe's reading end, hr_join_ready closed the other). After a
 * failure, a server already forked then reads end of file from the ready
 * pipe and lets nobody into what was left half-built. */
void hr_join_close(struct hr_join *j);

/* Server side: answer one connection on listen_fd. Returns a pidfd of the new
 * member (to watch), or -1 if the connection was refused or failed. The
 * member gets user_ns and mnt_ns (-1: the server's own, from /proc). */
int hr_join_accept(int listen_fd, int user_ns, int mnt_ns);
/* Send member (a pidfd, closed on failure) user_ns and mnt_ns (as above)
 * over the connection c. Returns member or -1. */
int hr_join_answer(int c, int member, int user_ns, int mnt_ns);

/* The socket plumbing, shared with linger.c. */
#define HR_JOIN_PREFIX "hpcrun"             /* --join: @hpcrun/UID/MAC */
#define HR_JOIN_IMAGE_PREFIX "hpcrun-image" /* lingering servers (linger.h) */
struct sockaddr_un;
/* The abstract address of name; returns its length. */
socklen_t hr_join_addr(const char *name, struct sockaddr_un *a);
/* Connect to name (non-blocking: a full queue is waited on for wait_ms at
 * most). Returns the socket, or -1 with errno (EAGAIN: the queue stayed
 * full; ECONNREFUSED or ENOENT: nobody listens). */
int hr_join_connect(const char *name, int wait_ms);
/* The uid of the socket's peer (as the caller's user namespace sees it), or
 * (uid_t)-1. */
uid_t hr_join_peer_uid(int fd);
/* One byte carrying n (1 or 2) descriptors. 0 or -1. */
int hr_join_send_fds(int sock, const int *fds, size_t n);
/* Receive exactly n descriptors within ms. 0 or -1 (any others closed). */
int hr_join_recv_fds(int sock, int *fds, size_t n, int ms);
/* Receive one byte and up to max descriptors within ms: how many came, or
 * -1 (more than max: all closed). */
int hr_join_recv(int sock, char *byte, int *fds, size_t max, int ms);
/* As hr_join_step_name, for a lingering image server (prefix
 * HR_JOIN_IMAGE_PREFIX); a secret that cannot be had is said at -vv only. */
int hr_join_image_name(char **env, const char *key, uid_t uid, char *out, size_t len);

#endif
