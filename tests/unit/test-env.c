/* Environment rules. */
#include "autoconfig.h"

#include <stdlib.h>

#include "launch/env.h"
#include "unit.h"

static const char *get(struct hr_strv *sv, const char *name)
{
    return hr_env_get(sv->v, name);
}

static void test_pass_through(void)
{
    char *host[] = {"HOME=/home/u",           "FOO=bar",        "LD_PRELOAD=/x.so",
                    "LD_LIBRARY_PATH=/h",     "HPCRUN_BIND=/a", "BASH_ENV=/rc",
                    "PATH=/opt/bin:/usr/bin", "SLURM_JOB_ID=7", NULL};
    char *image[] = {"IMG=1", "FOO=image", NULL};
    char *set[] = {"FOO=cli", NULL};
    struct hr_env_input in = {
        .host_env = host, .image_env = image, .set_env = set, .image_path = "/i.sqfs"};
    struct hr_strv out = {0};

    hr_env_build(&in, &out);
    CHECK_STR(get(&out, "HOME"), "/home/u");
    CHECK_STR(get(&out, "FOO"), "cli"); /* --env wins over image and host */
    CHECK_STR(get(&out, "IMG"), "1");
    CHECK(get(&out, "LD_PRELOAD") == NULL);
    CHECK(get(&out, "LD_LIBRARY_PATH") == NULL);
    CHECK(get(&out, "HPCRUN_BIND") == NULL);
    CHECK(get(&out, "BASH_ENV") == NULL);
    CHECK_STR(get(&out, "SLURM_JOB_ID"), "7");
    CHECK_STR(get(&out, "HPCRUN_CONTAINER"), "/i.sqfs");
    CHECK_STR(get(&out, "PATH"),
              "/opt/bin:/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin");
    hr_strv_free(&out);
}

static void test_cleanenv(void)
{
    char *host[] = {
        "HOME=/home/u", "FOO=bar",        "TERM=xterm", "LC_ALL=C",
        "PMI_FD=5",     "PMIX_RANK=0",    "OMPI_X=1",   "CUDA_VISIBLE_DEVICES=0",
        "PATH=/weird",  "SLURM_PROCID=3", NULL};
    char *image[] = {"PATH=/img/bin:/bin", NULL};
    struct hr_env_input in = {.host_env = host, .image_env = image, .is_cleanenv = true};
    struct hr_strv out = {0};

    hr_env_build(&in, &out);
    CHECK(get(&out, "FOO") == NULL);
    CHECK_STR(get(&out, "HOME"), "/home/u");
    CHECK_STR(get(&out, "TERM"), "xterm");
    CHECK_STR(get(&out, "LC_ALL"), "C");
    CHECK_STR(get(&out, "PMI_FD"), "5");
    CHECK_STR(get(&out, "PMIX_RANK"), "0");
    CHECK_STR(get(&out, "OMPI_X"), "1");
    CHECK_STR(get(&out, "CUDA_VISIBLE_DEVICES"), "0");
    CHECK_STR(get(&out, "SLURM_PROCID"), "3");
    CHECK_STR(get(&out, "PATH"), "/img/bin:/bin"); /* the image's PATH applies */
    hr_strv_free(&out);
}

static void test_path_fixup(void)
{
    char *p = hr_env_path_fixup(NULL);
    CHECK_STR(p, HR_DEFAULT_PATH);
    free(p);
    p = hr_env_path_fixup(HR_DEFAULT_PATH);
    CHECK_STR(p, HR_DEFAULT_PATH);
    free(p);
    p = hr_env_path_fixup("/usr/bin/:/bin");
    CHECK_STR(p, "/usr/bin/:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin");
    free(p);
}

int main(void)
{
    test_pass_through();
    test_cleanenv();
    test_path_fixup();
    return unit_done();
}
