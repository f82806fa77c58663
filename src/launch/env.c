#include "autoconfig.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "launch/env.h"

static const char *const denied[] = {
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "BASH_ENV", "ENV", "HPCRUN_*",
};

static const char *const essential[] = {
    "HOME",   "USER",     "LOGNAME", "TERM",    "LANG",   "LANGUAGE",
    "LC_*",   "TZ",       "SLURM_*", "PMI*",    "PMIX_*", "OMPI_*",
    "PRTE_*", "HYDRA_*",  "MPIR_*",  "I_MPI_*", "UCX_*",  "FI_*",
    "CUDA_*", "NVIDIA_*", "ROCR_*",  "HIP_*",   "ZE_*",   "GPU_DEVICE_ORDINAL",
};

static bool name_matches(const char *entry, const char *const *pats, size_t n)
{
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    char name[256];

    if (len >= sizeof(name))
        return false;
    memcpy(name, entry, len);
    name[len] = '\0';
    for (size_t i = 0; i < n; i++)
        if (fnmatch(pats[i], name, 0) == 0)
            return true;
    return false;
}

bool hr_env_is_denied(const char *entry)
{
    return name_matches(entry, denied, HR_ARRAY_LEN(denied));
}

bool hr_env_is_essential(const char *entry)
{
    return name_matches(entry, essential, HR_ARRAY_LEN(essential));
}

char *hr_env_path_fixup(const char *host_path)
{
    char *out;
    char *std, *save = NULL;

    if (!host_path || !*host_path)
        return hr_xstrdup(HR_DEFAULT_PATH);
    out = hr_xstrdup(host_path);
    std = hr_xstrdup(HR_DEFAULT_PATH);
    for (char *d = strtok_r(std, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        bool present = false;
        char *copy = hr_xstrdup(out), *s2 = NULL;
        for (char *p = strtok_r(copy, ":", &s2); p; p = strtok_r(NULL, ":", &s2))
            if (strcmp(p, d) == 0 ||
                (strlen(p) == strlen(d) + 1 && strncmp(p, d, strlen(d)) == 0 &&
                 p[strlen(d)] == '/'))
                present = true;
        free(copy);
        if (!present) {
            char *n = hr_xasprintf("%s:%s", out, d);
            free(out);
            out = n;
        }
    }
    free(std);
    return out;
}

void hr_env_set(struct hr_strv *out, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t n;

    if (!eq)
        return;
    n = (size_t)(eq - entry) + 1;
    for (size_t i = 0; i < out->n; i++) {
        if (strncmp(out->v[i], entry, n) == 0) {
            free(out->v[i]);
            out->v[i] = hr_xstrdup(entry);
            return;
        }
    }
    hr_strv_push(out, entry);
}

void hr_env_build(const struct hr_env_input *in, struct hr_strv *out)
{
    const char *host_path = hr_env_get(in->host_env, "PATH");
    char *path;

    for (char **e = in->host_env; e && *e; e++) {
        if (!strchr(*e, '=') || strncmp(*e, "PATH=", 5) == 0)
            continue;
        if (in->is_cleanenv ? !hr_env_is_essential(*e) : hr_env_is_denied(*e))
            continue;
        hr_env_set(out, *e);
    }
    path = in->is_cleanenv ? hr_xstrdup(HR_DEFAULT_PATH) : hr_env_path_fixup(host_path);
    {
        char *entry = hr_xasprintf("PATH=%s", path);
        hr_env_set(out, entry);
        free(entry);
    }
    free(path);
    if (in->image_path) {
        char *entry = hr_xasprintf("HPCRUN_CONTAINER=%s", in->image_path);
        hr_env_set(out, entry);
        free(entry);
    }
    for (char **e = in->image_env; e && *e; e++)
        hr_env_set(out, *e);
    for (char **e = in->set_env; e && *e; e++)
        hr_env_set(out, *e);
}

void hr_env_add_path(struct hr_strv *env, const char *name, const char *dir,
                     bool is_first)
{
    const char *old = hr_env_get(env->v, name);
    char *entry;

    if (!old || !*old)
        entry = hr_xasprintf("%s=%s", name, dir);
    else if (is_first)
        entry = hr_xasprintf("%s=%s:%s", name, dir, old);
    else
        entry = hr_xasprintf("%s=%s:%s", name, old, dir);
    hr_env_set(env, entry);
    free(entry);
}
