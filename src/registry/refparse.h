/* The registry client's pure parts, unit-tested: image references,
 * authentication challenges, base64, Docker credentials, URL origins and the
 * rule for resuming a download. No I/O; errors go to the caller's err. */
#ifndef HR_REFPARSE_H
#define HR_REFPARSE_H

#include <stdbool.h>
#include <stddef.h>

#define HR_DOCKER_HUB "docker.io"

struct hr_ref {
    char *registry; /* "host[:port]" */
    char *repo;     /* "library/busybox" */
    char *tag;      /* NULL when pulled by digest only */
    char *digest;   /* "sha256:...", or NULL */
};

/* "docker://HOST[:PORT]/REPO[:TAG][@DIGEST]" or the same without
 * "docker://". The first component is a registry when it has a '.' or a ':'
 * or is "localhost"; otherwise the registry is default_registry (NULL:
 * docker.io, where one-component names get "library/"). The tag defaults
 * to "latest" unless a digest is given. Returns 0 or -1 (err set). */
int hr_ref_parse(const char *s, const char *default_registry, struct hr_ref *ref,
                 char *err, size_t errlen);
void hr_ref_free(struct hr_ref *ref);
/* "HOST/REPO:TAG", "HOST/REPO@DIGEST" or "HOST/REPO:TAG@DIGEST". */
char *hr_ref_string(const struct hr_ref *ref);

/* One WWW-Authenticate challenge: `Bearer realm="...",service="...",...`. */
struct hr_challenge {
    char *scheme; /* "Bearer", "Basic" */
    char *realm, *service, *scope, *error;
};
int hr_challenge_parse(const char *header, struct hr_challenge *c);
void hr_challenge_free(struct hr_challenge *c);

char *hr_base64_encode(const void *data, size_t len);
/* NULL if s is not base64. */
char *hr_base64_decode(const char *s, size_t *len_out);

/* "USER:PASS" for host from the text of a Docker config.json
 * (auths.HOST.auth, base64), or NULL. */
char *hr_docker_config_creds(const char *json_text, const char *host);

/* The token of a token service's answer (JSON with "token", or OAuth's
 * "access_token"), or NULL if it has none; *lifetime gets its
 * "expires_in" (seconds): 0 when absent or not a positive number, at most
 * HR_TOKEN_LIFETIME_MAX. */
#define HR_TOKEN_LIFETIME_MAX 86400L
char *hr_token_reply_parse(const char *body, long *lifetime);

/* "scheme://host:port" of an absolute URL, lower case, the port filled in
 * from the scheme when not given (libcurl's URL parser); NULL if url is not
 * an absolute http(s) URL libcurl can parse. */
char *hr_url_origin(const char *url);
/* Whether the registry's credentials may be sent to a token realm: over
 * HTTPS; over plain HTTP only with --insecure and when the registry itself
 * (registry_base, "http://HOST" or "https://HOST") is plain HTTP. */
bool hr_realm_may_get_creds(const char *realm, const char *registry_base,
                            bool is_insecure);

/* What to do with a partial download of `have` bytes, given the answer to
 * a request with "Range: bytes=have-" (or without Range when have is 0). */
enum hr_resume {
    HR_RESUME_APPEND,  /* 206 starting at have: append */
    HR_RESUME_RESTART, /* 200 (the whole blob): truncate, start over */
    HR_RESUME_RETRY,   /* 416: the partial is unusable: drop it, ask again */
    HR_RESUME_FAIL,    /* an error answer, or a range that does not fit */
};
enum hr_resume hr_resume_decide(long long have, long status, const char *content_range);

#endif
