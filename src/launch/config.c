#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch/config.h"
#include "common/util.h"

int hr_bind_parse(const char *origin, const char *spec, struct hr_bind *b, char *err,
                  size_t errlen)
{
    char *copy = hr_xstrdup(spec);
    char *src = copy, *dst = NULL, *opt = NULL;
    char *colon = strchr(copy, ':');

    memset(b, 0, sizeof(*b));
    if (colon) {
        *colon = '\0';
        dst = colon + 1;
        colon = strchr(dst, ':');
        if (colon) {
            *colon = '\0';
            opt = colon + 1;
        }
    }
    if (!*src) {
        free(copy);
        return hr_fail(err, errlen, "%s '%s': empty source", origin, spec);
    }
    if (dst && !*dst)
        dst = NULL;
    if (!dst) {
        if (src[0] != '/') {
            free(copy);
            return hr_fail(err, errlen,
                           "%s '%s': a relative source needs a destination (SRC:DST)",
                           origin, spec);
        }
        dst = src;
    }
    if (dst[0] != '/') {
        free(copy);
        return hr_fail(err, errlen, "%s '%s': destination must be an absolute path",
                       origin, spec);
    }
    if (opt && strcmp(opt, "ro") == 0) {
        b->is_ro = true;
    } else if (opt && *opt && strcmp(opt, "rw") != 0) {
        hr_fail(err, errlen, "%s '%s': unknown option '%s' (ro or rw)", origin, spec,
                opt);
        free(copy);
        return -1;
    }
    b->dst = hr_path_normalize(dst);
    if (strcmp(b->dst, "/") == 0) {
        free(b->dst);
        b->dst = NULL;
        free(copy);
        return hr_fail(err, errlen, "%s '%s': cannot bind over the container's /", origin,
                       spec);
    }
    b->src = hr_xstrdup(src);
    b->origin = origin;
    free(copy);
    return 0;
}

void hr_config_add_bind(struct hr_config *cfg, const struct hr_bind *b)
{
    cfg->binds = hr_xrealloc(cfg->binds, (cfg->n_binds + 1) * sizeof(*cfg->binds));
    cfg->binds[cfg->n_binds++] = *b;
}

/* A user's bind; origin ("--bind", "HPCRUN_BIND") names it in messages. */
static int config_add_bind_spec(struct hr_config *cfg, const char *origin,
                                const char *spec, char *err, size_t errlen)
{
    struct hr_bind b;

    if (hr_bind_parse(origin, spec, &b, err, errlen) < 0)
        return -1;
    hr_config_add_bind(cfg, &b);
    return 0;
}

static bool env_name_is_valid(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

enum {
    OPT_ENV = 256,
    OPT_CLEANENV,
    OPT_NO_HOME,
    OPT_WRITABLE_TMPFS,
    OPT_FAKEROOT,
    OPT_DEV,
    OPT_DRY_RUN,
    OPT_OFFSET,
    OPT_VERSION,
    OPT_JOIN,
    OPT_NO_JOIN,
    OPT_SITE_CONFIG,
    OPT_GPU,
    OPT_FABRIC,
    OPT_MPI,
    OPT_TOPOLOGY,
    OPT_DEVICES,
    OPT_JOIN_LEAD,
    OPT_ENTRYPOINT,
    OPT_LINGER,
    OPT_LIST,
};

const char *const hr_set_names[HR_N_SETS] = {"nvidia", "amd", "intel", "verbs", "cxi"};

static const struct option long_options[] = {
    {"bind", required_argument, NULL, 'b'},
    {"env", required_argument, NULL, OPT_ENV},
    {"cleanenv", no_argument, NULL, OPT_CLEANENV},
    {"workdir", required_argument, NULL, 'w'},
    {"no-home", no_argument, NULL, OPT_NO_HOME},
    {"writable-tmpfs", no_argument, NULL, OPT_WRITABLE_TMPFS},
    {"fakeroot", no_argument, NULL, OPT_FAKEROOT},
    {"dev", required_argument, NULL, OPT_DEV},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"join", optional_argument, NULL, OPT_JOIN},
    {"no-join", no_argument, NULL, OPT_NO_JOIN},
    {"site-config", no_argument, NULL, OPT_SITE_CONFIG},
    {"gpu", required_argument, NULL, OPT_GPU},
    {"fabric", required_argument, NULL, OPT_FABRIC},
    {"mpi", required_argument, NULL, OPT_MPI},
    {"topology", required_argument, NULL, OPT_TOPOLOGY},
    {"devices", no_argument, NULL, OPT_DEVICES},
    {"join-lead", required_argument, NULL, OPT_JOIN_LEAD},
    {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
    {"linger", required_argument, NULL, OPT_LINGER},
    {"list", no_argument, NULL, OPT_LIST},
    {NULL, 0, NULL, 0},
};

static int parse_gpu_mode(const char *what, const char *arg, enum hr_gpu_mode *out,
                          char *err, size_t errlen)
{
    for (size_t i = 0; i < HR_N_GPU_MODES; i++)
        if (strcmp(arg, hr_gpu_mode_names[i]) == 0) {
            *out = (enum hr_gpu_mode)i;
            return 0;
        }
    return hr_fail(err, errlen, "%s '%s': expected auto, none, nvidia, amd or intel",
                   what, arg);
}

static int parse_fabric_mode(const char *what, const char *arg, enum hr_fabric_mode *out,
                             char *err, size_t errlen)
{
    if (strcmp(arg, "auto") == 0)
        *out = HR_FABRIC_AUTO;
    else if (strcmp(arg, "none") == 0)
        *out = HR_FABRIC_NONE;
    else
        return hr_fail(err, errlen, "%s '%s': expected auto or none", what, arg);
    return 0;
}

/* A command given after another: the one of higher precedence stays
 * (enum hr_action), whatever the order on the command line. */
static void config_want(struct hr_config *cfg, enum hr_action action)
{
    if (action > cfg->action)
        cfg->action = action;
}

/* Options for devices and host libraries. */
static int config_parse_host_option(struct hr_config *cfg, int c, const char *arg,
                                    char *err, size_t errlen)
{
    switch (c) {
    case OPT_GPU:
        return parse_gpu_mode("--gpu", arg, &cfg->devreq.gpu, err, errlen);
    case OPT_FABRIC:
        return parse_fabric_mode("--fabric", arg, &cfg->devreq.fabric, err, errlen);
    case OPT_MPI:
        if (strcmp(arg, "image") == 0)
            cfg->mpi = HR_MPI_IMAGE;
        else if (strcmp(arg, "host") == 0)
            cfg->mpi = HR_MPI_HOST;
        else
            return hr_fail(err, errlen, "--mpi '%s': expected 'image' or 'host'", arg);
        return 0;
    case OPT_TOPOLOGY:
        free(cfg->topology);
        cfg->topology = hr_xstrdup(arg);
        return 0;
    case OPT_DEVICES:
        config_want(cfg, HR_ACTION_DEVICES);
        return 0;
    }
    return -1;
}

/* What runs (a launch, or a command that prints: -h, --version,
 * --site-config) and how much it says. */
static int config_parse_run_option(struct hr_config *cfg, int c, const char *arg,
                                   char *err, size_t errlen)
{
    switch (c) {
    case OPT_ENTRYPOINT: /* one program, never split at spaces (as Docker) */
        free(cfg->entrypoint);
        cfg->entrypoint = hr_xstrdup(arg);
        return 0;
    case 'v':
        cfg->verbosity = cfg->verbosity < 0 ? 1 : cfg->verbosity + 1;
        return 0;
    case 'q':
        cfg->verbosity = -1;
        return 0;
    case 'h':
        config_want(cfg, HR_ACTION_HELP);
        return 0;
    case OPT_VERSION:
        config_want(cfg, HR_ACTION_VERSION);
        return 0;
    case OPT_SITE_CONFIG:
        config_want(cfg, HR_ACTION_SITE_CONFIG);
        return 0;
    case OPT_LIST:
        config_want(cfg, HR_ACTION_LIST);
        return 0;
    case OPT_LINGER:
        return hr_config_parse_linger("--linger", arg, &cfg->linger_s, err, errlen);
    }
    return config_parse_host_option(cfg, c, arg, err, errlen);
}

/* --join and its kin: which container this launch shares. */
static int config_parse_join_option(struct hr_config *cfg, int c, const char *arg,
                                    char *err, size_t errlen)
{
    char *end;

    switch (c) {
    case OPT_JOIN:
        cfg->join = HR_JOIN_ON;
        free(cfg->join_key);
        cfg->join_key = arg ? hr_xstrdup(arg) : NULL;
        if (arg && !*arg)
            return hr_fail(err, errlen, "--join=KEY: the key is empty");
        return 0;
    case OPT_NO_JOIN:
        cfg->join = HR_JOIN_OFF;
        return 0;
    case OPT_JOIN_LEAD: {
        long fd;
        errno = 0;
        fd = strtol(arg, &end, 10);
        if (errno || end == arg || *end || fd < 3 || fd > INT_MAX)
            return hr_fail(err, errlen,
                           "--join-lead '%s': expected a descriptor (3 or more)", arg);
        cfg->join_lead_fd = (int)fd;
        return 0;
    }
    }
    return config_parse_run_option(cfg, c, arg, err, errlen);
}

/* One option of the command line; first those that shape the container. */
static int config_parse_option(struct hr_config *cfg, int c, const char *arg, char *err,
                               size_t errlen)
{
    char *end;

    switch (c) {
    case 'b':
        return config_add_bind_spec(cfg, "--bind", arg, err, errlen);
    case OPT_ENV: {
        const char *eq = strchr(arg, '=');
        if (!eq || !env_name_is_valid(arg, (size_t)(eq - arg)))
            return hr_fail(err, errlen, "--env '%s': expected NAME=VALUE", arg);
        hr_strv_push(&cfg->env_set, arg);
        return 0;
    }
    case OPT_CLEANENV:
        cfg->is_cleanenv = true;
        return 0;
    case 'w':
        if (arg[0] != '/')
            return hr_fail(err, errlen, "--workdir '%s': must be an absolute path", arg);
        free(cfg->workdir);
        cfg->workdir = hr_path_normalize(arg);
        return 0;
    case OPT_NO_HOME:
        cfg->is_no_home = true;
        return 0;
    case OPT_WRITABLE_TMPFS:
        cfg->is_writable_tmpfs = true;
        return 0;
    case OPT_FAKEROOT:
        cfg->is_fakeroot = true;
        return 0;
    case OPT_DEV:
        if (strcmp(arg, "minimal") == 0)
            cfg->dev = HR_DEV_MINIMAL;
        else if (strcmp(arg, "host") == 0)
            cfg->dev = HR_DEV_HOST;
        else
            return hr_fail(err, errlen, "--dev '%s': expected 'minimal' or 'host'", arg);
        return 0;
    case OPT_DRY_RUN:
        cfg->is_dry_run = true;
        return 0;
    case OPT_OFFSET:
        errno = 0;
        cfg->offset = strtoull(arg, &end, 0);
        if (errno || end == arg || *end || arg[0] == '-')
            return hr_fail(err, errlen, "--offset '%s': expected a byte count", arg);
        return 0;
    }
    return config_parse_join_option(cfg, c, arg, err, errlen);
}

/* getopt_long's '?' for the element arg, as one clear line: a value given
 * to a long option that takes none (--fakeroot=yes, --verbose=2) says so;
 * any other long option is named as typed; a short one by its letter. */
static int unknown_option(const char *arg, int opt, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    size_t n;

    if (strncmp(arg, "--", 2) != 0)
        return hr_fail(err, errlen, "unknown option '-%c' (see --help)", opt);
    n = eq ? (size_t)(eq - arg) - 2 : strlen(arg) - 2;
    for (const struct option *o = long_options; eq && o->name; o++)
        if (o->has_arg == no_argument && strlen(o->name) == n &&
            strncmp(o->name, arg + 2, n) == 0)
            return hr_fail(err, errlen, "option '--%s' takes no value (see --help)",
                           o->name);
    return hr_fail(err, errlen, "unknown option '%.*s' (see --help)", (int)n + 2, arg);
}

/* getopt_long takes any unique prefix of a long option (--device for
 * --devices): only the whole name is one. */
static bool is_whole_name(const char *arg, const char *name)
{
    size_t n = strcspn(arg + 2, "=");

    return strlen(name) == n && strncmp(arg + 2, name, n) == 0;
}

/* The options from optind up to the first word that is not one (getopt_long's
 * '+'), or up to "--" (then *is_dashed: what follows is no subcommand). */
static int config_parse_options(struct hr_config *cfg, const struct hr_cmdline *cl,
                                bool *is_dashed, char *err, size_t errlen)
{
    int argc = cl->argc, c, at, idx;
    char **argv = cl->argv;

    for (;;) {
        at = optind ? optind : 1; /* the element a long option is in */
        idx = -1;
        c = getopt_long(argc, argv, "+:b:w:vqh", long_options, &idx);
        if (c == -1) {
            *is_dashed = optind == at + 1 && strcmp(argv[at], "--") == 0;
            return 0;
        }
        if (c == '?')
            return unknown_option(argv[at], optopt, err, errlen);
        if (idx >= 0 && !is_whole_name(argv[at], long_options[idx].name))
            return hr_fail(err, errlen, "unknown option '%.*s' (did you mean '--%s'?)",
                           (int)strcspn(argv[at], "="), argv[at], long_options[idx].name);
        if (c == ':')
            return hr_fail(err, errlen, "option '%s' needs an argument",
                           argv[optind - 1]);
        if (config_parse_option(cfg, c, optarg, err, errlen) < 0)
            return -1;
    }
}

int hr_config_parse_args(struct hr_config *cfg, int argc, char **argv, char *err,
                         size_t errlen)
{
    const struct hr_cmdline cl = {argc, argv, NULL};
    bool is_dashed;

    /* ':': report missing arguments ourselves so every message has the same
     * one-line form. */
    optind = 0;
    opterr = 0;
    if (config_parse_options(cfg, &cl, &is_dashed, err, errlen) < 0)
        return -1;
    /* "hpcrun [OPTIONS] run [OPTIONS] IMAGE": run is the first word that is
     * not an option, unless "--" came first; an image file named run is
     * given as ./run. getopt_long then goes on from the word after it. */
    if (!is_dashed && optind < argc && strcmp(argv[optind], "run") == 0) {
        cfg->is_run = true;
        optind++;
        if (config_parse_options(cfg, &cl, &is_dashed, err, errlen) < 0)
            return -1;
    }
    if (cfg->action > HR_ACTION_DEVICES)
        return 0; /* prints and reads no image */
    if (cfg->join_lead_fd && (!cfg->join_key || cfg->join == HR_JOIN_OFF))
        return hr_fail(err, errlen, "--join-lead: needs --join=KEY");
    if (cfg->action == HR_ACTION_DEVICES && optind >= argc)
        return 0; /* the image is optional: without it the glibc check is skipped */
    if (optind >= argc)
        return hr_fail(err, errlen, "no image given (usage: hpcrun %s)",
                       cfg->is_run ? "run [OPTIONS] IMAGE [ARG...]"
                                   : "[OPTIONS] IMAGE [CMD...]");
    cfg->image = argv[optind++];
    if (optind < argc && strcmp(argv[optind], "--") == 0)
        optind++;
    else if (optind < argc && argv[optind][0] == '-' && argv[optind][1] && !cfg->is_run)
        /* "hpcrun img.sqfs -b /x app": no command starts with a dash, an
         * option put after the image does (run's arguments may: they go to
         * the entrypoint) */
        return hr_fail(err, errlen,
                       "'%s' after the image: options go before IMAGE (hpcrun [OPTIONS] "
                       "IMAGE [CMD...]; a command that starts with '-' follows '--')",
                       argv[optind]);
    if (optind < argc) {
        cfg->cmd = argv + optind;
        cfg->n_cmd = argc - optind;
    }
    return 0;
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* kernel-mount-dirs: absolute directories separated by ':' (PATH-like); the
 * prolog compares an image's real path with each one's real path. */
static int site_dir_list(const char *value, char *err, size_t errlen)
{
    char *copy = hr_xstrdup(value), *save = NULL;
    int rc = 0;

    for (char *d = strtok_r(copy, ":", &save); d && rc == 0;
         d = strtok_r(NULL, ":", &save))
        if (d[0] != '/')
            rc = hr_fail(err, errlen, "kernel-mount-dirs: '%s' is not an absolute path",
                         d);
    free(copy);
    return rc;
}

static void set_string(char **field, const char *value)
{
    free(*field);
    *field = hr_xstrdup(value);
}

/* host-libs-SET, host-tools-SET, host-dirs-SET; returns 1 if key is not one */
static int site_set_key(struct hr_config *cfg, const char *key, const char *value,
                        char *err, size_t errlen)
{
    static const char *const kinds[] = {"host-libs-", "host-tools-", "host-dirs-"};

    for (size_t k = 0; k < HR_ARRAY_LEN(kinds); k++) {
        size_t n = strlen(kinds[k]);
        if (strncmp(key, kinds[k], n) != 0)
            continue;
        for (size_t i = 0; i < HR_N_SETS; i++) {
            struct hr_set_override *o = &cfg->sets[i];
            if (strcmp(key + n, hr_set_names[i]) != 0)
                continue;
            set_string(k == 0 ? &o->libs : k == 1 ? &o->tools : &o->dirs, value);
            return 0;
        }
        return hr_fail(err, errlen,
                       "%s: unknown library set '%s' (nvidia, amd, intel, verbs, cxi)",
                       key, key + n);
    }
    return 1;
}

/* Keys for host devices and libraries; returns 1 if key is not one of them. */
static int site_host_key(struct hr_config *cfg, const char *key, const char *value,
                         char *err, size_t errlen)
{
    if (strcmp(key, "gpu") == 0)
        return parse_gpu_mode("gpu", value, &cfg->devreq.gpu, err, errlen);
    if (strcmp(key, "fabric") == 0)
        return parse_fabric_mode("fabric", value, &cfg->devreq.fabric, err, errlen);
    if (strcmp(key, "ld-so-cache") == 0 || strcmp(key, "host-mpi") == 0) {
        if (value[0] != '/')
            return hr_fail(err, errlen, "%s: '%s' is not an absolute path", key, value);
        set_string(key[0] == 'l' ? &cfg->ld_so_cache : &cfg->host_mpi, value);
        return 0;
    }
    if (strcmp(key, "host-tool-path") == 0) {
        set_string(&cfg->host_tool_path, value);
        return 0;
    }
    return site_set_key(cfg, key, value, err, errlen);
}

int hr_config_parse_size(const char *key, const char *value, unsigned long long *out,
                         char *err, size_t errlen)
{
    static const char units[] = "KMGT";
    unsigned long long v;
    const char *u = NULL;
    char *end;
    int shift = 0;

    if (value[0] < '0' || value[0] > '9')
        return hr_fail(err, errlen, "%s: '%s' is not a size (e.g. 8G)", key, value);
    errno = 0;
    v = strtoull(value, &end, 10);
    if (*end && (end[1] || !(u = strchr(units, *end))))
        return hr_fail(err, errlen, "%s: '%s' is not a size (e.g. 8G)", key, value);
    if (*end)
        shift = 10 * (int)(u - units + 1);
    if (errno == ERANGE || (v << shift) >> shift != v)
        return hr_fail(err, errlen, "%s: '%s' is too large", key, value);
    *out = v << shift;
    return 0;
}

int hr_config_parse_linger(const char *key, const char *value, int *out, char *err,
                           size_t errlen)
{
    static const char units[] = "smh";
    static const int scale[] = {1, 60, 3600};
    const char *u = NULL;
    unsigned long long v;
    char *end;

    errno = 0;
    v = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
    if (value[0] < '0' || value[0] > '9' ||
        (*end && (end[1] || !(u = strchr(units, *end)))))
        return hr_fail(err, errlen, "%s: '%s' is not a time (seconds, or with s, m or h)",
                       key, value);
    if (u)
        v *= (unsigned long long)scale[u - units];
    if (errno == ERANGE || v > HR_LINGER_MAX_S)
        return hr_fail(err, errlen, "%s: '%s' is longer than a week", key, value);
    *out = (int)v;
    return 0;
}

/* One site policy key; returns 1 if key is not one of them. */
static int site_policy_key(struct hr_config *cfg, const char *key, const char *value,
                           char *err, size_t errlen)
{
    if (strcmp(key, "linger") == 0)
        return hr_config_parse_linger(key, value, &cfg->linger_s, err, errlen);
    if (strcmp(key, "stage-max-size") == 0)
        return hr_config_parse_size(key, value, &cfg->stage.max_size, err, errlen);
    if (strcmp(key, "stage-min-free") == 0)
        return hr_config_parse_size(key, value, &cfg->stage.min_free, err, errlen);
    if (strcmp(key, "stage-dir") == 0) {
        if (*value && value[0] != '/')
            return hr_fail(err, errlen, "stage-dir: '%s' is not an absolute path", value);
        free(cfg->stage.dir);
        cfg->stage.dir = *value ? hr_path_normalize(value) : NULL;
        return 0;
    }
    if (strcmp(key, "kernel-mount-dirs") == 0) {
        if (site_dir_list(value, err, errlen) < 0)
            return -1;
        free(cfg->stage.kernel_mount_dirs);
        cfg->stage.kernel_mount_dirs = *value ? hr_xstrdup(value) : NULL;
        return 0;
    }
    return site_host_key(cfg, key, value, err, errlen);
}

/* A site bind (SRC[:DST[:ro|rw]], as --bind) from the line at; bind? makes
 * it optional. Where its source is missing is known only on the node, at
 * the launch (hostfacts.c). */
static int site_bind(struct hr_config *cfg, const char *at, const char *value,
                     bool is_optional, char *err, size_t errlen)
{
    struct hr_bind b;

    if (hr_bind_parse(is_optional ? "bind?" : "bind", value, &b, err, errlen) < 0)
        return -1;
    b.from_site = true;
    b.is_optional = is_optional;
    b.site_at = hr_xstrdup(at);
    hr_config_add_bind(cfg, &b);
    return 0;
}

/* One "key = value" line, at "FILE:LINE". A key this hpcrun does not know
 * is noted, not refused: the caller decides (hr_config_apply_site). */
static int site_line(struct hr_config *cfg, const char *at, const char *key,
                     const char *value, char *err, size_t errlen)
{
    char sub[512];
    int rc;

    if (strcmp(key, "bind") == 0 || strcmp(key, "bind?") == 0)
        rc = site_bind(cfg, at, value, key[4] == '?', sub, sizeof(sub));
    else
        rc = site_policy_key(cfg, key, value, sub, sizeof(sub));
    if (rc < 0)
        return hr_fail(err, errlen, "%s: %s", at, sub);
    if (rc > 0)
        hr_strv_push_owned(&cfg->site_unknown,
                           hr_xasprintf("%s: unknown key '%s'", at, key));
    return 0;
}

int hr_config_apply_site(struct hr_config *cfg, const char *name, const char *text,
                         char *err, size_t errlen)
{
    char *copy = hr_xstrdup(text), *rest = copy;
    int lineno = 0, rc = 0;

    /* strsep, not strtok: an empty line counts, so messages name the right line */
    for (char *line = strsep(&rest, "\n"); line && rc == 0; line = strsep(&rest, "\n")) {
        char *key, *eq, *at;
        lineno++;
        key = trim(line);
        if (!*key || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (!eq) {
            rc = hr_fail(err, errlen, "%s:%d: expected 'key = value'", name, lineno);
            break;
        }
        *eq = '\0';
        at = hr_xasprintf("%s:%d", name, lineno);
        rc = site_line(cfg, at, trim(key), trim(eq + 1), err, errlen);
        free(at);
    }
    free(copy);
    return rc;
}

int hr_config_apply_env(struct hr_config *cfg, char **envp, char *err, size_t errlen)
{
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, "HPCRUN_LINGER=", 14) == 0 && (*e)[14] &&
            hr_config_parse_linger("HPCRUN_LINGER", *e + 14, &cfg->linger_s, err,
                                   errlen) < 0)
            return -1;
        if (strncmp(*e, "HPCRUN_BIND=", 12) == 0) {
            char *copy = hr_xstrdup(*e + 12), *save = NULL;
            for (char *s = strtok_r(copy, ",", &save); s;
                 s = strtok_r(NULL, ",", &save)) {
                if (config_add_bind_spec(cfg, "HPCRUN_BIND", s, err, errlen) < 0) {
                    free(copy);
                    return -1;
                }
            }
            free(copy);
        }
    }
    return 0;
}

/* $HPCRUN_CONFIG, or NULL when it is unset or empty */
static const char *site_path_named(char **envp)
{
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, "HPCRUN_CONFIG=", 14) == 0 && (*e)[14])
            return *e + 14;
    return NULL;
}

const char *hr_config_site_path(char **envp)
{
    const char *named = site_path_named(envp);

    return named ? named : SYSCONFDIR "/hpcrun/hpcrun.conf";
}

int hr_config_load_site(struct hr_config *cfg, char **envp, char *err, size_t errlen)
{
    const char *site = hr_config_site_path(envp);
    char *text;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    cfg->stage.max_size = HR_STAGE_MAX_SIZE_DEFAULT;
    cfg->stage.min_free = HR_STAGE_MIN_FREE_DEFAULT;
    cfg->linger_s = HR_LINGER_DEFAULT_S;
    text = hr_read_file(site, 1 << 20, NULL);
    /* No file at the default path: no site config. A file named on purpose
     * that cannot be read is a mistake to say, not to run without. */
    if (!text && site_path_named(envp))
        return hr_fail(err, errlen, "HPCRUN_CONFIG: %s: %s", site, strerror(errno));
    if (!text)
        return errno == ENOENT ? 0
                               : hr_fail(err, errlen, "%s: %s", site, strerror(errno));
    cfg->site_file = hr_xstrdup(site);
    rc = hr_config_apply_site(cfg, site, text, err, errlen);
    free(text);
    return rc;
}

int hr_config_load(struct hr_config *cfg, const struct hr_cmdline *cl, char *err,
                   size_t errlen)
{
    if (hr_config_load_site(cfg, cl->envp, err, errlen) < 0 ||
        hr_config_apply_env(cfg, cl->envp, err, errlen) < 0)
        return -1;
    return hr_config_parse_args(cfg, cl->argc, cl->argv, err, errlen);
}

void hr_config_free(struct hr_config *cfg)
{
    for (size_t i = 0; i < cfg->n_binds; i++) {
        free(cfg->binds[i].src);
        free(cfg->binds[i].dst);
        free(cfg->binds[i].site_at);
    }
    free(cfg->binds);
    free(cfg->workdir);
    free(cfg->join_key);
    free(cfg->entrypoint);
    free(cfg->stage.dir);
    free(cfg->stage.kernel_mount_dirs);
    free(cfg->topology);
    free(cfg->ld_so_cache);
    free(cfg->host_mpi);
    free(cfg->host_tool_path);
    for (size_t i = 0; i < HR_N_SETS; i++) {
        free(cfg->sets[i].libs);
        free(cfg->sets[i].tools);
        free(cfg->sets[i].dirs);
    }
    hr_strv_free(&cfg->env_set);
    free(cfg->site_file);
    hr_strv_free(&cfg->site_unknown);
    memset(cfg, 0, sizeof(*cfg));
}
