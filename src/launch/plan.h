/* Step 3, plan: everything to mount, create and set, computed up front as
 * data. Pure given its inputs (config, host facts, a view of the image, what
 * of the host goes in), so --dry-run can print it and the unit tests can
 * check it exactly. */
#ifndef HR_PLAN_H
#define HR_PLAN_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/pathres.h"
#include "common/util.h"
#include "launch/config.h"
#include "launch/hostfacts.h"
#include "launch/image.h"
#include "launch/inject.h"

enum hr_mount_kind {
    HR_MNT_BIND,    /* bind a host path (src) */
    HR_MNT_TMPFS,   /* a fresh tmpfs */
    HR_MNT_FILE,    /* a file hpcrun writes (content in src), bound read-only */
    HR_MNT_SYMLINK, /* a symlink to src, created in a tmpfs of ours */
};

struct hr_mount {
    enum hr_mount_kind kind;
    char *src;           /* host path; file content; symlink target */
    char *dst;           /* container path (normalised, not yet resolved) */
    bool is_ro;          /* read-only */
    bool is_device;      /* device nodes must work: no nodev */
    bool is_src_dir;     /* what to create at dst if it is missing */
    bool is_in_image;    /* dst lies in the image, not under an earlier mount */
    bool is_dst_missing; /* ...and is missing there: created in the overlay */
    const char *why;     /* "proc", "home", "bind", ... for --dry-run */
};

/* What the plan needs to know about the image. */
struct hr_image_view {
    hr_lookup_fn lookup;
    void *ctx;
    const char *path;
    const struct stat *file; /* the image file (its identity keys --join), or NULL */
    const char *passwd;      /* image's /etc/passwd text or NULL */
    const char *group;
    const struct hr_image_config *config;
};

struct hr_plan {
    struct hr_mount *mounts;
    size_t n_mounts;
    struct hr_strv env;
    struct hr_strv argv;
    char *cwd;
    char *join_key; /* --join: what the members share, or NULL */
    uid_t uid, gid; /* ids inside the container */
    uid_t host_uid, host_gid;
    bool is_fakeroot;
    bool is_writable;        /* --writable-tmpfs */
    bool needs_overlay;      /* writable, or a mount point must be created */
    bool is_cwd_fallback_ok; /* cwd may fall back to / if absent inside */
    unsigned closed_std_fds; /* closed again just before exec (see hr_host) */
};

/* Everything the plan is a function of, each gathered beforehand: the
 * options, the host facts (hostfacts.h), the image and what of the host goes
 * in (inject.h; NULL: nothing). */
struct hr_plan_input {
    const struct hr_config *cfg;
    const struct hr_host *host;
    const struct hr_image_view *image;
    const struct hr_inject *inject;
};

/* Pure. Returns 0, or -1 with a one-line message in err (a mount point the
 * image cannot take, --join outside a job step or mpirun job without a
 * key, --entrypoint with a command). */
int hr_plan_build(const struct hr_plan_input *in, struct hr_plan *plan, char *err,
                  size_t errlen);
void hr_plan_print(const struct hr_plan *plan, const char *image, FILE *out);
void hr_plan_free(struct hr_plan *plan);

/* What runs, from the image's Entrypoint and Cmd and the command line, by
 * Docker's rules (docker run: "Default commands and options"):
 *   hpcrun IMAGE                Entrypoint + Cmd
 *   hpcrun IMAGE CMD ARG...     CMD ARG... alone (like apptainer exec)
 *   hpcrun run IMAGE ARG...     Entrypoint + ARG..., which replace Cmd;
 *                               no ARG: Entrypoint + Cmd
 * --entrypoint=PROG replaces the Entrypoint and drops the Cmd, as Docker
 * does ("" leaves no Entrypoint); it makes no sense with a CMD that replaces
 * the entrypoint anyway, so that is an error. Nothing left: /bin/sh. */
struct hr_argv_input {
    const struct hr_image_config *image; /* Entrypoint and Cmd; NULL: none */
    const char *entrypoint;              /* --entrypoint; NULL: the image's */
    bool is_run;                         /* hpcrun run: cmd are ARGs */
    char *const *cmd;                    /* the words after IMAGE */
    int n_cmd;
};

/* Pure. Appends the argv to out; returns 0, or -1 with a one-line message
 * in err (and out untouched). */
int hr_plan_argv(const struct hr_argv_input *in, struct hr_strv *out, char *err,
                 size_t errlen);

/* Where execvp will find argv[0] in the image, searching the container's
 * PATH (malloc'd), or NULL; a hint for prefetching, so a miss is no error. */
char *hr_plan_find_exe(const struct hr_plan *plan, const struct hr_image_view *img);

/* /etc/passwd and /etc/group for the container: the image's lines, minus
 * any with the caller's name or id, plus the caller's own line. */
char *hr_passwd_merge(const char *image_text, const char *line);

#endif
