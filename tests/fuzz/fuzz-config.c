/* Fuzz target: step 1, config (launch/config.c): the site config file
 * (read from disk through $HPCRUN_CONFIG, as hpcrun reads it), HPCRUN_*
 * variables and the command line, and every line as a bind spec.
 *
 * Input: SITE-CONFIG [ "\n--argv--\n" ARG-PER-LINE [ "\n--env--\n" VAR-PER-LINE ]] */
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "launch/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_WORDS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

/* The lines of part as words, after first (and a NULL). */
static size_t words(const struct fuzz_part *part, char *first, char **v, char **text)
{
    size_t n = 0;
    char *save = NULL;

    *text = fuzz_strndup(part->data, part->n);
    if (first)
        v[n++] = first;
    for (char *w = strtok_r(*text, "\n", &save); w && n < MAX_WORDS;
         w = strtok_r(NULL, "\n", &save))
        v[n++] = w;
    v[n] = NULL;
    return n;
}

static void bind_lines(const char *text)
{
    hr_autofree char *copy = hr_xstrdup(text);
    char *save = NULL, err[512];

    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        struct hr_bind b;
        if (hr_bind_parse("--bind", l, &b, err, sizeof(err)) < 0)
            continue;
        /* what the plan relies on: an absolute, normal destination, never / */
        if (b.dst[0] != '/' || strcmp(b.dst, "/") == 0 || hr_path_has_dotdot(b.dst))
            abort();
        free(b.src);
        free(b.dst);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[3] = {0}, *argp = &parts[1], *envp_part = &parts[2];
    size_t n = fuzz_split(data, size, "\n--argv--\n", parts, 2);
    hr_autofree char *site = fuzz_strndup(parts[0].data, parts[0].n);
    hr_autofree char *path = NULL, *conf = NULL, *argtext = NULL, *envtext = NULL;
    char *argv[MAX_WORDS + 2], *envp[MAX_WORDS + 2];
    struct fuzz_part none = {(const uint8_t *)"", 0};
    struct hr_config cfg;
    char err[512];
    size_t argc;

    fuzz_scratch();
    path = fuzz_write("hpcrun.conf", parts[0].data, parts[0].n);
    if (n > 1)
        n = 1 + fuzz_split(parts[1].data, parts[1].n, "\n--env--\n", argp, 2);
    conf = hr_xasprintf("HPCRUN_CONFIG=%s", path);
    argc = words(n > 1 ? argp : &none, "hpcrun", argv, &argtext);
    words(n > 2 ? envp_part : &none, conf, envp, &envtext);
    if (hr_config_load(&cfg, &(struct hr_cmdline){(int)argc, argv, envp}, err,
                       sizeof(err)) == 0) {
        for (size_t i = 0; i < cfg.n_binds; i++)
            if (cfg.binds[i].dst[0] != '/')
                abort();
    }
    hr_config_free(&cfg);
    bind_lines(site);
    return 0;
}
