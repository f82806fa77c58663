/* Fuzz target: what a registry (or whoever answers in its name) sends the
 * registry client, registry/refparse.c: WWW-Authenticate challenges, token
 * service answers, Content-Range headers, redirect URLs; and the Docker
 * config.json a user keeps credentials in, with its base64. */
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

static void challenge(const char *s)
{
    struct hr_challenge c;

    if (hr_challenge_parse(s, &c) == 0 && c.realm) {
        free(hr_url_origin(c.realm));
        (void)hr_realm_may_get_creds(c.realm, "https://registry.example", false);
        (void)hr_realm_may_get_creds(c.realm, "http://registry.example", true);
    }
    hr_challenge_free(&c);
}

/* Whatever decodes must encode back to the same text, less padding and
 * whitespace the decoder allows. */
static void base64(const uint8_t *data, size_t size, const char *s)
{
    free(hr_base64_decode(s, NULL));
    size_t len;
    hr_autofree char *enc = hr_base64_encode(data, size);
    hr_autofree char *back = hr_base64_decode(enc, &len);

    if (!back || len != size || memcmp(back, data, size) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_autofree char *s = fuzz_strndup(data, size);
    long life;
    char *creds;

    free(hr_token_reply_parse(s, &life));
    free(hr_url_origin(s));
    /* credentials are "USER:PASS" or nothing */
    if ((creds = hr_docker_config_creds(s, "registry.example")) && !strchr(creds, ':'))
        abort();
    free(creds);
    free(hr_docker_config_creds(s, HR_DOCKER_HUB));
    challenge(s);
    base64(data, size, s);
    for (long long have = 0; have < 3; have++)
        for (long status = 200; status <= 416; status += 6)
            (void)hr_resume_decide(have * 1000, status, s);
    if (life < 0)
        abort();
    return 0;
}
