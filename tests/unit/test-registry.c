/* The registry client's pure parts: references, WWW-Authenticate
 * challenges, base64, Docker config.json credentials, where credentials may
 * go, resume decisions. */
#include "autoconfig.h"

#include <stdlib.h>

#include "common/util.h"
#include "registry/pull.h"
#include "registry/registry.h"
#include "unit.h"

static char *ref_str(const char *s, const char *dflt)
{
    struct hr_ref r;
    char err[256], *out;

    if (hr_ref_parse(s, dflt, &r, err, sizeof(err)) < 0)
        return NULL;
    out = hr_ref_string(&r);
    hr_ref_free(&r);
    return out;
}

static void check_ref(const char *s, const char *dflt, const char *want)
{
    char *got = ref_str(s, dflt);
    CHECK_STR(got, want);
    free(got);
}

static void test_refs(void)
{
    static const char d[] =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct hr_ref r;
    char err[256];
    char *s;

    check_ref("docker://127.0.0.1:5000/app/x:1.0", NULL, "127.0.0.1:5000/app/x:1.0");
    check_ref("127.0.0.1:5000/x", NULL, "127.0.0.1:5000/x:latest");
    CHECK_STR(hr_registry_api_host("docker.io"), "registry-1.docker.io");
    CHECK_STR(hr_registry_api_host("index.docker.io"), "registry-1.docker.io");
    CHECK_STR(hr_registry_api_host("127.0.0.1:5000"), "127.0.0.1:5000");
    check_ref("busybox", NULL, "docker.io/library/busybox:latest");
    check_ref("docker://busybox:1.36", NULL, "docker.io/library/busybox:1.36");
    check_ref("user/app:2", NULL, "docker.io/user/app:2");
    check_ref("app:2", "reg.example:443", "reg.example:443/app:2");
    check_ref("localhost/app", NULL, "localhost/app:latest");
    check_ref("quay.io/org/app", NULL, "quay.io/org/app:latest");
    s = hr_xasprintf("docker://h.x/app@%s", d);
    check_ref(s, NULL, s + 9);
    free(s);
    s = hr_xasprintf("h.x/app:1@%s", d);
    check_ref(s, NULL, s);
    free(s);
    CHECK(ref_str("Upper/app", NULL) == NULL);
    CHECK(ref_str("app:bad tag", NULL) == NULL);
    CHECK(ref_str("app@sha256:123", NULL) == NULL);
    CHECK(ref_str("h.x//app", NULL) == NULL);
    CHECK(ref_str("h.x/", NULL) == NULL);
    CHECK(hr_ref_parse("h.x/app@md5:1", NULL, &r, err, sizeof(err)) < 0);
    CHECK(strstr(err, "invalid digest") != NULL);

    CHECK(hr_ref_parse("h.x:5000/a/b:t", NULL, &r, err, sizeof(err)) == 0);
    s = hr_pull_default_output(&r);
    CHECK_STR(s, "b_t.sqfs");
    free(s);
    hr_ref_free(&r);
    s = hr_xasprintf("h.x/a@%s", d);
    CHECK(hr_ref_parse(s, NULL, &r, err, sizeof(err)) == 0);
    free(s);
    s = hr_pull_default_output(&r);
    CHECK_STR(s, "a_0123456789ab.sqfs");
    free(s);
    hr_ref_free(&r);
}

static void test_challenges(void)
{
    struct hr_challenge c;

    CHECK(hr_challenge_parse("Bearer realm=\"https://auth.example/token\",service="
                             "\"registry.example\",scope=\"repository:a/b:pull\"",
                             &c) == 0);
    CHECK_STR(c.scheme, "Bearer");
    CHECK_STR(c.realm, "https://auth.example/token");
    CHECK_STR(c.service, "registry.example");
    CHECK_STR(c.scope, "repository:a/b:pull");
    CHECK(c.error == NULL);
    hr_challenge_free(&c);

    CHECK(hr_challenge_parse("Bearer realm=\"r\", error=\"insufficient_scope\", "
                             "scope=\"repository:a:pull,push\"",
                             &c) == 0);
    CHECK_STR(c.error, "insufficient_scope");
    CHECK_STR(c.scope, "repository:a:pull,push");
    hr_challenge_free(&c);

    CHECK(hr_challenge_parse("Basic realm=\"Registry \\\"Realm\\\"\"", &c) == 0);
    CHECK_STR(c.scheme, "Basic");
    CHECK_STR(c.realm, "Registry \"Realm\"");
    hr_challenge_free(&c);

    CHECK(hr_challenge_parse("Bearer realm=http://x/t,service=s", &c) == 0);
    CHECK_STR(c.realm, "http://x/t");
    CHECK_STR(c.service, "s");
    hr_challenge_free(&c);
    CHECK(hr_challenge_parse("", &c) < 0);
}

static void test_creds(void)
{
    char *s, *dec;
    size_t n;

    s = hr_base64_encode("user:pa:ss", 10);
    CHECK_STR(s, "dXNlcjpwYTpzcw==");
    dec = hr_base64_decode(s, &n);
    CHECK_STR(dec, "user:pa:ss");
    CHECK(n == 10);
    free(s);
    free(dec);
    s = hr_base64_encode("ab", 2);
    CHECK_STR(s, "YWI=");
    free(s);
    CHECK(hr_base64_decode("a$b=", NULL) == NULL);

    const char *cfg = "{\"auths\": {\"reg.example:5000\": {\"auth\": \"dTE6cDE=\"},"
                      "\"https://other.example\": {\"auth\": \"dTI6cDI=\"},"
                      "\"https://index.docker.io/v1/\": {\"auth\": \"dTM6cDM=\"},"
                      "\"bad.example\": {\"auth\": \"bm9jb2xvbg==\"}}}";
    s = hr_docker_config_creds(cfg, "reg.example:5000");
    CHECK_STR(s, "u1:p1");
    free(s);
    s = hr_docker_config_creds(cfg, "other.example");
    CHECK_STR(s, "u2:p2");
    free(s);
    s = hr_docker_config_creds(cfg, "docker.io");
    CHECK_STR(s, "u3:p3");
    free(s);
    CHECK(hr_docker_config_creds(cfg, "reg.example") == NULL);
    CHECK(hr_docker_config_creds(cfg, "bad.example") == NULL);
    CHECK(hr_docker_config_creds("not json", "reg.example:5000") == NULL);
    CHECK(hr_docker_config_creds("{}", "reg.example:5000") == NULL);
}

static void test_where_creds_go(void)
{
    char *s;

    s = hr_url_origin("https://Reg.Example/v2/a/blobs/x?sig=1");
    CHECK_STR(s, "https://reg.example:443");
    free(s);
    s = hr_url_origin("http://127.0.0.2:5000/docker/registry/v2/blobs");
    CHECK_STR(s, "http://127.0.0.2:5000");
    free(s);
    s = hr_url_origin("http://reg.example");
    CHECK_STR(s, "http://reg.example:80");
    free(s);
    CHECK(hr_url_origin("reg.example/token") == NULL); /* no guessed scheme */
    CHECK(hr_url_origin("/token") == NULL);
    CHECK(hr_url_origin(NULL) == NULL);

    /* HTTPS realms, on the registry's host or another (Docker Hub's is). */
    CHECK(hr_realm_may_get_creds("https://auth.example/token", "https://reg.example",
                                 false));
    CHECK(
        hr_realm_may_get_creds("https://auth.example/token", "http://reg.example", true));
    /* Plain HTTP realms: only for a plain HTTP registry the user allowed. */
    CHECK(!hr_realm_may_get_creds("http://auth.example/token", "https://reg.example",
                                  false));
    CHECK(!hr_realm_may_get_creds("http://auth.example/token", "https://reg.example",
                                  true));
    CHECK(!hr_realm_may_get_creds("http://auth.example/token", "http://reg.example",
                                  false));
    CHECK(
        hr_realm_may_get_creds("http://auth.example/token", "http://reg.example", true));
    /* Neither HTTP nor HTTPS, or no URL at all. */
    CHECK(
        !hr_realm_may_get_creds("ftp://auth.example/token", "http://reg.example", true));
    CHECK(!hr_realm_may_get_creds("auth.example/token", "https://reg.example", true));
    CHECK(!hr_realm_may_get_creds(NULL, "https://reg.example", true));
}

static void test_resume(void)
{
    CHECK(hr_resume_decide(0, 200, NULL) == HR_RESUME_RESTART);
    CHECK(hr_resume_decide(100, 200, NULL) == HR_RESUME_RESTART);
    CHECK(hr_resume_decide(100, 206, "bytes 100-999/1000") == HR_RESUME_APPEND);
    CHECK(hr_resume_decide(100, 206, "bytes 0-999/1000") == HR_RESUME_FAIL);
    CHECK(hr_resume_decide(100, 206, NULL) == HR_RESUME_FAIL);
    CHECK(hr_resume_decide(0, 206, "bytes 0-9/10") == HR_RESUME_FAIL);
    CHECK(hr_resume_decide(100, 416, NULL) == HR_RESUME_RETRY);
    CHECK(hr_resume_decide(0, 404, NULL) == HR_RESUME_FAIL);
    CHECK(hr_resume_decide(100, 401, NULL) == HR_RESUME_FAIL);
}

/* A token service's answer; an expires_in of centuries counts as a day,
 * whose milliseconds the client's clock arithmetic holds. */
static void test_token_reply(void)
{
    long life = -1;
    char *tok = hr_token_reply_parse("{\"token\":\"abc\",\"expires_in\":300}", &life);

    CHECK_STR(tok, "abc");
    CHECK(life == 300);
    free(tok);
    tok = hr_token_reply_parse("{\"access_token\":\"xyz\"}", &life);
    CHECK_STR(tok, "xyz");
    CHECK(life == 0);
    free(tok);
    tok = hr_token_reply_parse("{\"token\":\"t\",\"expires_in\":9223372036854775807}",
                               &life);
    CHECK_STR(tok, "t");
    CHECK(life == HR_TOKEN_LIFETIME_MAX);
    free(tok);
    tok = hr_token_reply_parse("{\"token\":\"t\",\"expires_in\":-5}", &life);
    CHECK(life == 0);
    free(tok);
    CHECK(hr_token_reply_parse("{\"token\":1}", &life) == NULL);
    CHECK(hr_token_reply_parse("not json", &life) == NULL);
    CHECK(hr_token_reply_parse("", &life) == NULL);
}

int main(void)
{
    test_token_reply();
    test_refs();
    test_challenges();
    test_creds();
    test_where_creds_go();
    test_resume();
    return unit_done();
}
