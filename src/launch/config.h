/* Step 1, config: argv + site config file + HPCRUN_* environment -> one plain
 * struct. Pure: no system calls beyond reading the site config file, so the
 * unit tests exercise every rule without namespaces. */
#ifndef HR_CONFIG_H
#define HR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"
#include "host/devreq.h"

struct hr_bind {
    char *src;  /* host path as given (made absolute and checked by the plan) */
    char *dst;  /* container path, normalised */
    bool is_ro; /* ":ro" */
    bool from_site;
    /* site "bind? = ...": a source missing on this node is skipped silently
     * (a plain site bind is skipped with a warning; a user's is an error) */
    bool is_optional;
    char *site_at;      /* "FILE:LINE" of a site bind, for its messages; else NULL */
    const char *origin; /* what gave it ("--bind", "HPCRUN_BIND", "bind"), for
                         * messages: a string that outlives the config */
};

enum hr_dev_mode { HR_DEV_MINIMAL, HR_DEV_HOST };
enum hr_join_mode { HR_JOIN_AUTO, HR_JOIN_ON, HR_JOIN_OFF };
enum hr_mpi_mode { HR_MPI_IMAGE, HR_MPI_HOST };

/* Host library sets the site config can redefine (host-libs-SET = ...). */
enum { HR_SET_NVIDIA, HR_SET_AMD, HR_SET_INTEL, HR_SET_VERBS, HR_SET_CXI, HR_N_SETS };
extern const char *const hr_set_names[HR_N_SETS];

struct hr_set_override {
    char *libs, *tools, *dirs; /* NULL: the shipped default */
};

/* What the command line asks for: a launch, or one of the commands that
 * print and run nothing. Ordered by precedence: when several are given, the
 * highest wins (--help over --version over --site-config over --devices). */
enum hr_action {
    HR_ACTION_LAUNCH,
    HR_ACTION_DEVICES,     /* --devices: print what would be bound, run nothing */
    HR_ACTION_LIST,        /* --list: the user's lingering image servers */
    HR_ACTION_SITE_CONFIG, /* --site-config: print the site policy (the prolog reads it)
                            */
    HR_ACTION_VERSION,     /* --version */
    HR_ACTION_HELP,        /* -h, --help */
};

/* Site policy for the Slurm prolog (batch/slurm/prolog); hpcrun itself
 * never mounts with the kernel, it only binds what the prolog mounted. */
struct hr_stage_policy {
    char *dir;                   /* stage-dir: node-local copies of images ("": none) */
    char *kernel_mount_dirs;     /* kernel-mount-dirs: DIR:DIR... ("": never) */
    unsigned long long max_size; /* stage-max-size: largest image staged (0: any) */
    unsigned long long min_free; /* stage-min-free: bytes a copy must leave free */
};

struct hr_config {
    enum hr_action action;
    const char *image;
    unsigned long long offset; /* --offset: SquashFS at a byte offset in the file */
    struct hr_bind *binds;     /* site binds, then HPCRUN_BIND, then -b, in order */
    size_t n_binds;
    struct hr_strv env_set; /* --env NAME=VALUE, in order */
    char *workdir;          /* -w, container path */
    enum hr_dev_mode dev;
    enum hr_join_mode join;
    char *join_key;          /* --join=KEY */
    struct hr_devreq devreq; /* --gpu, --fabric, site "gpu", "fabric" */
    enum hr_mpi_mode mpi;    /* --mpi */
    char *topology;          /* --topology FILE.xml (saved hwloc topology) */
    int verbosity;           /* -1 quiet, 0 default, 1.. verbose */
    bool is_cleanenv;
    bool is_no_home;
    bool is_writable_tmpfs;
    bool is_fakeroot;
    bool is_dry_run;
    /* site "linger", HPCRUN_LINGER, --linger: seconds an image's FUSE server
     * outlives its last container, for a warm launch of the same image
     * (linger.h); 0: none */
    int linger_s;
    struct hr_stage_policy stage; /* read by the prolog and epilog only */
    /* Host libraries (hostlibs.h): defaults, not restrictions, like binds. */
    char *ld_so_cache;    /* ld-so-cache: the host's cache (default /etc/ld.so.cache) */
    char *host_mpi;       /* host-mpi: the host MPI's libmpi (or its directory) */
    char *host_tool_path; /* host-tool-path: where host tools are found (PATH-like) */
    struct hr_set_override sets[HR_N_SETS];
    /* --join-lead=FD (internal, for the SPANK plugin): build the container
     * and lead it through the socket FD the parent process bound for the
     * step, for the parent; 0: not given */
    int join_lead_fd;
    char **cmd; /* the words after IMAGE (hr_plan_argv); NULL: none */
    int n_cmd;
    bool is_run;      /* hpcrun run: cmd are arguments to the image's entrypoint */
    char *entrypoint; /* --entrypoint=PROG ("": none); NULL: the image's */
    char *site_file;  /* the site config file read; NULL: none (shipped defaults) */
    /* "FILE:LINE: unknown key 'KEY'", one per key the site file has that this
     * hpcrun does not know: each caller decides what they mean (a launch warns
     * and goes on, --site-config fails) */
    struct hr_strv site_unknown;
};

/* Parse "SRC[:DST[:ro|rw]]" into b. Returns 0, or -1 with a message in err. */
int hr_bind_parse(const char *origin, const char *spec, struct hr_bind *b, char *err,
                  size_t errlen);
/* Append b (its strings now belong to cfg) to cfg->binds. */
void hr_config_add_bind(struct hr_config *cfg, const struct hr_bind *b);

/* Parse the command line: [OPTIONS] [run [OPTIONS]] IMAGE [--] [WORD...].
 * Returns 0, or -1 with a one-line message in err ("--bind 'x:y':
 * destination must be an absolute path"). */
int hr_config_parse_args(struct hr_config *cfg, int argc, char **argv, char *err,
                         size_t errlen);

/* Apply the site config file's text (key = value lines, '#' comments).
 * name is used in messages. An unknown key is not an error here (a newer
 * config shared with an older hpcrun): it is added to cfg->site_unknown. A
 * line that is not "key = value", or a bad value of a known key, is.
 * Returns 0 or -1 with err set. */
int hr_config_apply_site(struct hr_config *cfg, const char *name, const char *text,
                         char *err, size_t errlen);

/* Apply HPCRUN_* variables from envp (HPCRUN_BIND: comma-separated specs). */
int hr_config_apply_env(struct hr_config *cfg, char **envp, char *err, size_t errlen);

/* The shipped linger time, and the longest one accepted. */
#define HR_LINGER_DEFAULT_S 60
#define HR_LINGER_MAX_S (7 * 24 * 3600)

/* A linger time: seconds, or a number with s, m or h. Returns 0 or -1 with
 * a message naming key in err. Pure. */
int hr_config_parse_linger(const char *key, const char *value, int *out, char *err,
                           size_t errlen);

/* Shipped defaults of the staging caps (bytes); 0 in the file lifts a cap. */
#define HR_STAGE_MAX_SIZE_DEFAULT (32ULL << 30)
#define HR_STAGE_MIN_FREE_DEFAULT (1ULL << 30)

/* A size: digits with an optional K, M, G or T suffix (powers of 1024).
 * Returns 0 or -1 with a message naming key in err. Pure. */
int hr_config_parse_size(const char *key, const char *value, unsigned long long *out,
                         char *err, size_t errlen);

/* A fresh cfg holding the site config file's settings (none if there is no
 * such file at the default path) over the shipped defaults. A file that
 * HPCRUN_CONFIG names must be readable. Returns 0 or -1 with err set. */
int hr_config_load_site(struct hr_config *cfg, char **envp, char *err, size_t errlen);

/* What the program was started with. */
struct hr_cmdline {
    int argc;
    char **argv;
    char **envp;
};

/* The whole of step 1: site file, environment, then argv (later wins). */
int hr_config_load(struct hr_config *cfg, const struct hr_cmdline *cl, char *err,
                   size_t errlen);

void hr_config_free(struct hr_config *cfg);

/* Path of the site config: $HPCRUN_CONFIG if set, else SYSCONFDIR/hpcrun/hpcrun.conf.
 * The file holds defaults (binds), not restrictions, so letting a user point
 * elsewhere grants nothing. */
const char *hr_config_site_path(char **envp);

#endif
