/* Environment rules (part of the plan step). Pure. Order of precedence,
 * lowest first: host environment (minus the deny list, or only the essential
 * set with --cleanenv), image config Env, --env. */
#ifndef HR_ENV_H
#define HR_ENV_H

#include <stdbool.h>

#include "common/util.h"

#define HR_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct hr_env_input {
    char **host_env;  /* NULL-terminated NAME=VALUE */
    char **image_env; /* from /.hpcrun/config.json Env, may be NULL */
    char **set_env;   /* --env, may be NULL */
    bool is_cleanenv;
    const char *image_path; /* exported as HPCRUN_CONTAINER */
};

/* Host variables never passed in: they name host paths or code that would be
 * loaded into the container's programs (LD_*), or shell start-up files. */
bool hr_env_is_denied(const char *entry);
/* Variables kept by --cleanenv: identity, terminal, locale, and what
 * launchers, MPI, fabrics and GPU runtimes pass to ranks. */
bool hr_env_is_essential(const char *entry);
/* PATH from the host plus any standard directory it lacks, so the image's
 * /bin and /usr/bin are always searched. Returns a heap string. */
char *hr_env_path_fixup(const char *host_path);

void hr_env_build(const struct hr_env_input *in, struct hr_strv *out);

/* Set NAME=VALUE in env, replacing an earlier NAME. */
void hr_env_set(struct hr_strv *env, const char *entry);
/* Put dir first (is_first) or last on the colon-separated list NAME. */
void hr_env_add_path(struct hr_strv *env, const char *name, const char *dir,
                     bool is_first);

#endif
