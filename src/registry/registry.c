/* Requests to a registry (see registry.h): TLS verified unless --insecure,
 * redirects followed without the registry's Authorization (libcurl only
 * sends a custom Authorization header to the scheme, host and port it was
 * set for unless CURLOPT_UNRESTRICTED_AUTH, which is never set: blob
 * storage behind a 307 gets pre-signed URLs and must not see registry
 * credentials), bearer tokens fetched from the challenge's realm and
 * renewed before they expire. Credentials go to the registry, and to a
 * token realm the registry itself named when it is HTTPS (or plain HTTP
 * like an --insecure registry); never to where a redirect led. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "registry/registry.h"
#include "common/log.h"
#include "common/util.h"

#define BODY_MAX (8u << 20)
/* Renew a token this many milliseconds before it expires (or at half its
 * lifetime, when that is shorter). */
#define TOKEN_MARGIN_MS 10000
/* The token lifetime the distribution spec assumes when none is given. */
#define TOKEN_DEFAULT_LIFETIME 60

static const char accept_all[] = "Accept: " HR_MT_OCI_MANIFEST ", " HR_MT_OCI_INDEX
                                 ", " HR_MT_DOCKER_MANIFEST ", " HR_MT_DOCKER_LIST;

/* ---- answers -------------------------------------------------------------------- */

static void headers_reset(struct hr_response *r)
{
    free(r->content_type);
    free(r->docker_digest);
    free(r->www_auth);
    free(r->content_range);
    r->content_type = r->docker_digest = r->www_auth = r->content_range = NULL;
}

void hr_response_reset(struct hr_response *resp)
{
    headers_reset(resp);
    free(resp->url);
    resp->url = NULL;
    free(resp->body);
    resp->body = NULL;
    resp->status = 0;
    resp->len = 0;
    resp->errbuf[0] = '\0';
}

void hr_response_finish(struct hr_response *resp, CURL *h)
{
    char *url = NULL;

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url);
    free(resp->url);
    resp->url = url ? hr_xstrdup(url) : NULL;
}

static bool header_is(const char *line, size_t n, const char *name, char **slot)
{
    size_t k = strlen(name);
    const char *v;
    size_t vlen;

    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return false;
    for (v = line + k + 1; v < line + n && (*v == ' ' || *v == '\t'); v++)
        ;
    vlen = (size_t)(line + n - v);
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    free(*slot);
    *slot = hr_xstrndup(v, vlen);
    return true;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct hr_response *r = arg;

    (void)size;
    if (n > 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new answer (redirect) */
        headers_reset(r);
        return n;
    }
    if (!header_is(line, n, "Content-Type", &r->content_type) &&
        !header_is(line, n, "Docker-Content-Digest", &r->docker_digest) &&
        !header_is(line, n, "WWW-Authenticate", &r->www_auth))
        header_is(line, n, "Content-Range", &r->content_range);
    return n;
}

int hr_response_append(struct hr_response *r, const char *data, size_t n)
{
    if (r->len + n > (r->max ? r->max : BODY_MAX))
        return -1;
    r->body = hr_xrealloc(r->body, r->len + n + 1);
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    (void)size;
    return hr_response_append(arg, data, n) < 0 ? 0 : n; /* 0: CURLE_WRITE_ERROR */
}

/* ---- setting up ----------------------------------------------------------------------
 */

static char *read_creds(const char *host)
{
    const char *file = getenv("REGISTRY_AUTH_FILE"), *home = getenv("HOME");
    hr_autofree char *dflt = home ? hr_xasprintf("%s/.docker/config.json", home) : NULL;
    hr_autofree char *text = NULL;

    if (!file)
        file = dflt;
    if (!file || !(text = hr_read_file(file, 1u << 20, NULL)))
        return NULL;
    return hr_docker_config_creds(text, host);
}

const char *hr_registry_api_host(const char *registry)
{
    /* Docker Hub's name in references is not where its API answers: Docker
     * itself maps it (and index.docker.io) to registry-1.docker.io. */
    if (strcmp(registry, HR_DOCKER_HUB) == 0 || strcmp(registry, "index.docker.io") == 0)
        return "registry-1.docker.io";
    return registry;
}

int hr_registry_init(struct hr_registry *r, const struct hr_ref *ref, const char *refname,
                     const struct hr_registry_opts *o)
{
    memset(r, 0, sizeof(*r));
    r->ref = refname;
    r->host = hr_xstrdup(hr_registry_api_host(ref->registry));
    r->repo = hr_xstrdup(ref->repo);
    r->is_insecure = o->is_insecure;
    r->ca_cert = o->ca_cert;
    r->base = hr_xasprintf("https://%s", r->host);
    /* credentials are stored under the registry's name, not the API host */
    r->creds = o->creds ? hr_xstrdup(o->creds) : read_creds(ref->registry);
    if (r->creds)
        hr_debug("%s: credentials for %s found", refname, ref->registry);
    return 0;
}

void hr_registry_free(struct hr_registry *r)
{
    free(r->host);
    free(r->repo);
    free(r->base);
    if (r->creds)
        memset(r->creds, 0, strlen(r->creds));
    free(r->creds);
    if (r->authz)
        memset(r->authz, 0, strlen(r->authz));
    free(r->authz);
    hr_challenge_free(&r->challenge);
    memset(r, 0, sizeof(*r));
}

static void set_transport(const struct hr_registry *r, CURL *h, struct hr_response *resp)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hpcimg/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled transfer fails instead of hanging a batch job forever. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
    if (r->ca_cert)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_cert);
    if (r->is_insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->errbuf);
    resp->errbuf[0] = '\0';
}

struct curl_slist *hr_registry_prepare(struct hr_registry *r, CURL *h, const char *path,
                                       struct hr_response *resp)
{
    hr_autofree char *url = hr_xasprintf("%s/v2/%s/%s", r->base, r->repo, path);
    struct curl_slist *hdrs = NULL;

    set_transport(r, h, resp);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (r->authz)
        hdrs = curl_slist_append(hdrs, r->authz);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    return hdrs;
}

/* ---- errors ---------------------------------------------------------------------------
 */

static bool is_tls_error(CURLcode rc)
{
    return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
           rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
           rc == CURLE_SSL_ISSUER_ERROR;
}

void hr_registry_report(const struct hr_registry *r, const struct hr_response *resp,
                        CURLcode rc, const char *what)
{
    const char *detail = resp->errbuf[0] ? resp->errbuf : curl_easy_strerror(rc);
    json_t *j, *e;
    const char *code, *msg;

    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_OPERATION_TIMEDOUT) {
        hr_err("%s: network unreachable: %s: %s", r->ref, r->host, detail);
        return;
    }
    if (is_tls_error(rc)) {
        hr_err("%s: TLS failure: %s: %s (trust its CA with --ca-cert FILE; a plain "
               "HTTP registry needs --insecure)",
               r->ref, r->host, detail);
        return;
    }
    if (rc != CURLE_OK) {
        hr_err("%s: %s: %s", r->ref, what, detail);
        return;
    }
    j = resp->body ? json_loads(resp->body, 0, NULL) : NULL;
    e = json_array_get(json_object_get(j, "errors"), 0);
    code = json_string_value(json_object_get(e, "code"));
    msg = json_string_value(json_object_get(e, "message"));
    if (code)
        hr_err("%s: %s: %s (%s, HTTP %ld)", r->ref, what, code, msg ? msg : "",
               resp->status);
    else
        hr_err("%s: %s: HTTP %ld%s", r->ref, what, resp->status,
               resp->status == 401 ? " UNAUTHORIZED" : "");
    json_decref(j);
}

/* ---- authentication -------------------------------------------------------------------
 */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void set_authz(struct hr_registry *r, char *value, long lifetime)
{
    long long ms = lifetime * 1000LL;
    long long margin = ms / 2 < TOKEN_MARGIN_MS ? ms / 2 : TOKEN_MARGIN_MS;

    if (r->authz)
        memset(r->authz, 0, strlen(r->authz));
    free(r->authz);
    r->authz = value;
    r->authz_renew_ms = lifetime > 0 ? now_ms() + ms - margin : 0;
}

static char *basic_authz(const char *creds)
{
    hr_autofree char *enc = hr_base64_encode(creds, strlen(creds));
    return hr_xasprintf("Authorization: Basic %s", enc);
}

static char *token_url(CURL *h, const struct hr_challenge *c)
{
    char *service = c->service ? curl_easy_escape(h, c->service, 0) : NULL;
    char *scope = c->scope ? curl_easy_escape(h, c->scope, 0) : NULL;
    char *url = hr_xasprintf("%s%s%s%s%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?",
                             service ? "service=" : "", service ? service : "",
                             scope ? "&scope=" : "", scope ? scope : "");

    curl_free(service);
    curl_free(scope);
    return url;
}

/* Whether the credentials go with a token request; says once why not. */
static bool is_realm_given_creds(struct hr_registry *r)
{
    if (!r->creds)
        return false;
    if (hr_realm_may_get_creds(r->challenge.realm, r->base, r->is_insecure))
        return true;
    if (!r->is_realm_warned)
        hr_warn("%s: token realm %s is not HTTPS: asking it for a token without the "
                "credentials",
                r->ref, r->challenge.realm);
    r->is_realm_warned = true;
    return false;
}

/* The token endpoint: GET REALM?service=..&scope=.., with basic
 * credentials when there are any and the realm may have them, anonymous
 * otherwise (a public image still pulls; a private one fails on the
 * token, after the warning that says why). */
static int fetch_token(struct hr_registry *r)
{
    struct hr_response resp = {0};
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    hr_autofree char *url = NULL, *tok = NULL;
    long life;
    CURLcode rc;
    int ret = -1;

    if (!h)
        return -1;
    url = token_url(h, &r->challenge);
    set_transport(r, h, &resp);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (is_realm_given_creds(r)) {
        hr_autofree char *basic = basic_authz(r->creds);
        hdrs = curl_slist_append(hdrs, basic);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    }
    hr_debug("%s: token from %s", r->ref, r->challenge.realm);
    rc = curl_easy_perform(h);
    hr_response_finish(&resp, h);
    if (rc != CURLE_OK || resp.status != 200) {
        hr_registry_report(r, &resp, rc, "token");
        goto out;
    }
    tok = hr_token_reply_parse(resp.body ? resp.body : "", &life);
    if (!tok) {
        hr_err("%s: token: the answer of %s has no token", r->ref, r->challenge.realm);
        goto out;
    }
    set_authz(r, hr_xasprintf("Authorization: Bearer %s", tok),
              life > 0 ? life : TOKEN_DEFAULT_LIFETIME);
    ret = 0;
out:
    if (tok)
        memset(tok, 0, strlen(tok));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    hr_response_reset(&resp);
    return ret;
}

/* Only the registry's own challenges are followed. A 401 from where a
 * redirect led (blob storage on another host) names a realm the registry
 * never vouched for, whose token service would be handed the registry's
 * credentials. Asking it again without them is no use either: the
 * redirected request carried none already (see the top of this file), so
 * the answer would be the same 401. Hence an error naming that place.
 * 0, or -1 (logged). */
static int require_registry_answer(const struct hr_registry *r,
                                   const struct hr_response *resp)
{
    hr_autofree char *from = hr_url_origin(resp->url), *base = hr_url_origin(r->base);

    if (from && base && strcmp(from, base) == 0)
        return 0;
    hr_err("%s: HTTP 401 from %s, where the registry redirected: not authenticating "
           "there (the registry's credentials go to the registry and its token realm "
           "only)",
           r->ref, from ? from : "an unknown place");
    return -1;
}

int hr_registry_authenticate(struct hr_registry *r, const struct hr_response *resp)
{
    struct hr_challenge c;

    if (require_registry_answer(r, resp) < 0)
        return -1;
    if (!resp->www_auth || hr_challenge_parse(resp->www_auth, &c) < 0) {
        hr_registry_report(r, resp, CURLE_OK, "authentication");
        return -1;
    }
    if (strcasecmp(c.scheme, "Basic") == 0) {
        hr_challenge_free(&c);
        if (!r->creds || (r->authz && strstr(r->authz, "Basic"))) {
            hr_err("%s: UNAUTHORIZED: %s (give --creds USER:PASS or a config.json entry)",
                   r->ref, r->creds ? "credentials refused" : "credentials required");
            return -1;
        }
        set_authz(r, basic_authz(r->creds), 0);
        return 0;
    }
    if (strcasecmp(c.scheme, "Bearer") != 0 || !c.realm) {
        hr_err("%s: unsupported authentication %s", r->ref, c.scheme);
        hr_challenge_free(&c);
        return -1;
    }
    hr_challenge_free(&r->challenge);
    r->challenge = c;
    return fetch_token(r);
}

int hr_registry_keep_auth(struct hr_registry *r)
{
    if (!r->authz_renew_ms || now_ms() < r->authz_renew_ms)
        return 0;
    hr_debug("%s: token expires, renewing it", r->ref);
    return fetch_token(r);
}

/* ---- manifests ------------------------------------------------------------------------
 */

/* One GET; 401 answers are retried once after authenticating. */
static CURLcode get_once(struct hr_registry *r, const char *path,
                         struct hr_response *resp)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs;
    CURLcode rc;

    if (!h)
        return CURLE_OUT_OF_MEMORY;
    hr_response_reset(resp);
    hdrs = hr_registry_prepare(r, h, path, resp);
    hdrs = curl_slist_append(hdrs, accept_all);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(h);
    hr_response_finish(resp, h);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

/* With --insecure, HTTPS without verification first, then plain HTTP when
 * the TLS handshake fails (what a plain HTTP registry does to it). */
static CURLcode get_probing(struct hr_registry *r, const char *path,
                            struct hr_response *resp)
{
    CURLcode rc = get_once(r, path, resp);

    if (!r->is_scheme_known && r->is_insecure &&
        (is_tls_error(rc) || rc == CURLE_RECV_ERROR || rc == CURLE_WEIRD_SERVER_REPLY)) {
        hr_debug("%s: %s: no TLS, trying plain HTTP", r->ref, r->host);
        free(r->base);
        r->base = hr_xasprintf("http://%s", r->host);
        rc = get_once(r, path, resp);
    }
    if (rc == CURLE_OK)
        r->is_scheme_known = true;
    return rc;
}

int hr_registry_get_manifest(struct hr_registry *r, const char *reference,
                             struct hr_response *resp)
{
    hr_autofree char *path = hr_xasprintf("manifests/%s", reference);
    hr_autofree char *what = hr_xasprintf("manifest %s", reference);
    CURLcode rc;

    if (hr_registry_keep_auth(r) < 0)
        return -1;
    rc = get_probing(r, path, resp);
    /* Twice: a token may expire in between; basic credentials refused
     * answer 401 again, which hr_registry_authenticate reports. */
    for (int i = 0; i < 2 && rc == CURLE_OK && resp->status == 401; i++) {
        if (hr_registry_authenticate(r, resp) < 0)
            return -1;
        rc = get_probing(r, path, resp);
    }
    if (rc != CURLE_OK || resp->status != 200) {
        hr_registry_report(r, resp, rc, what);
        return -1;
    }
    return 0;
}
