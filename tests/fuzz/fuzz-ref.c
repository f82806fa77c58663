/* Fuzz target: image references as a user writes them (hpcimg pull REF),
 * registry/refparse.c. A reference that parses must print as one that
 * parses to the same thing. */
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "registry/refparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static void same_or_die(const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
}

static void parse_one(const char *s, const char *default_registry)
{
    struct hr_ref ref = {0}, again = {0};
    char err[256];
    char *printed;

    if (hr_ref_parse(s, default_registry, &ref, err, sizeof(err)) < 0)
        return;
    printed = hr_ref_string(&ref);
    /* the printed form names its registry: no default applies to it */
    if (hr_ref_parse(printed, NULL, &again, err, sizeof(err)) < 0)
        abort();
    same_or_die(ref.registry, again.registry);
    same_or_die(ref.repo, again.repo);
    same_or_die(ref.tag, again.tag);
    same_or_die(ref.digest, again.digest);
    free(printed);
    hr_ref_free(&again);
    hr_ref_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);

    parse_one(s, NULL);
    parse_one(s, "registry.example:5000");
    free(s);
    return 0;
}
