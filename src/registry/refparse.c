/* The registry client's pure helpers (refparse.h): image references,
 * WWW-Authenticate challenges, base64, Docker config.json credentials,
 * where credentials may go, and the decision how to resume a partial
 * download. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "registry/refparse.h"
#include "common/util.h"
#include "image/digest.h"

/* ---- references ------------------------------------------------------------------ */

static bool is_registry_part(const char *s, size_t len)
{
    return memchr(s, '.', len) || memchr(s, ':', len) ||
           (len == 9 && strncmp(s, "localhost", 9) == 0);
}

/* Repository names: lowercase components of [a-z0-9._-] separated by '/'
 * (distribution's reference grammar, loosely). */
static bool repo_valid(const char *r)
{
    if (!*r || *r == '/' || r[strlen(r) - 1] == '/' || strstr(r, "//"))
        return false;
    for (; *r; r++)
        if (!(islower((unsigned char)*r) || isdigit((unsigned char)*r) ||
              strchr("._-/", *r)))
            return false;
    return true;
}

static bool tag_valid(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
        return false;
    for (; *t; t++)
        if (!(isalnum((unsigned char)*t) || strchr("._-", *t)))
            return false;
    return true;
}

int hr_ref_parse(const char *s, const char *default_registry, struct hr_ref *ref,
                 char *err, size_t errlen)
{
    hr_autofree char *copy = NULL;
    char *name, *at, *slash, *colon;

    memset(ref, 0, sizeof(*ref));
    if (strncmp(s, "docker://", 9) == 0)
        s += 9;
    copy = hr_xstrdup(s);
    name = copy;
    if ((at = strchr(name, '@'))) {
        *at++ = '\0';
        if (!hr_digest_valid(at))
            return hr_fail(err, errlen, "invalid digest %s (want sha256:<64 hex>)", at);
        ref->digest = hr_xstrdup(at);
    }
    slash = strchr(name, '/');
    if (slash && is_registry_part(name, (size_t)(slash - name))) {
        ref->registry = hr_xstrndup(name, (size_t)(slash - name));
        name = slash + 1;
    } else {
        ref->registry = hr_xstrdup(default_registry ? default_registry : HR_DOCKER_HUB);
    }
    colon = strrchr(name, ':');
    if (colon && !strchr(colon, '/')) {
        *colon++ = '\0';
        if (!tag_valid(colon))
            goto bad_tag;
        ref->tag = hr_xstrdup(colon);
    } else if (!ref->digest) {
        ref->tag = hr_xstrdup("latest");
    }
    if (!repo_valid(name)) {
        hr_ref_free(ref);
        return hr_fail(err, errlen, "invalid repository name \"%s\"", name);
    }
    ref->repo = strcmp(ref->registry, HR_DOCKER_HUB) == 0 && !strchr(name, '/')
                    ? hr_xasprintf("library/%s", name)
                    : hr_xstrdup(name);
    return 0;
bad_tag:
    hr_ref_free(ref);
    return hr_fail(err, errlen, "invalid tag \"%s\"", colon);
}

void hr_ref_free(struct hr_ref *ref)
{
    free(ref->registry);
    free(ref->repo);
    free(ref->tag);
    free(ref->digest);
    memset(ref, 0, sizeof(*ref));
}

char *hr_ref_string(const struct hr_ref *ref)
{
    return hr_xasprintf("%s/%s%s%s%s%s", ref->registry, ref->repo, ref->tag ? ":" : "",
                        ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                        ref->digest ? ref->digest : "");
}

/* ---- WWW-Authenticate (RFC 7235 auth-params) ------------------------------------- */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    return p;
}

/* Parse one token or quoted-string at p into *out; returns the end. */
static const char *parse_value(const char *p, char **out)
{
    size_t n = 0;
    char *v = hr_xmalloc(strlen(p) + 1);

    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            v[n++] = *p;
        }
        if (*p == '"')
            p++;
    } else {
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            v[n++] = *p++;
    }
    v[n] = '\0';
    *out = v;
    return p;
}

int hr_challenge_parse(const char *header, struct hr_challenge *c)
{
    const char *p = skip_space(header);
    size_t n = strcspn(p, " \t");

    memset(c, 0, sizeof(*c));
    if (n == 0)
        return -1;
    c->scheme = hr_xstrndup(p, n);
    p = skip_space(p + n);
    while (*p) {
        size_t klen = strcspn(p, "= \t,");
        char *key = hr_xstrndup(p, klen), *val = NULL, **slot = NULL;
        p += klen;
        if (*p != '=') {
            free(key);
            p = skip_space(p);
            continue;
        }
        p = parse_value(p + 1, &val);
        if (strcasecmp(key, "realm") == 0)
            slot = &c->realm;
        else if (strcasecmp(key, "service") == 0)
            slot = &c->service;
        else if (strcasecmp(key, "scope") == 0)
            slot = &c->scope;
        else if (strcasecmp(key, "error") == 0)
            slot = &c->error;
        if (slot) {
            free(*slot);
            *slot = val;
        } else {
            free(val);
        }
        free(key);
        p = skip_space(p);
    }
    return 0;
}

void hr_challenge_free(struct hr_challenge *c)
{
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    memset(c, 0, sizeof(*c));
}

/* ---- base64 (RFC 4648) ------------------------------------------------------------ */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *hr_base64_encode(const void *data, size_t len)
{
    const unsigned char *d = data;
    char *out = hr_xmalloc(4 * ((len + 2) / 3) + 1), *o = out;

    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)d[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)d[i + 1] << 8;
        if (i + 2 < len)
            v |= d[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

char *hr_base64_decode(const char *s, size_t *len_out)
{
    size_t n = strlen(s), o = 0;
    unsigned v = 0;
    int bits = 0;
    char *out = hr_xmalloc(n / 4 * 3 + 4);

    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(b64, s[i]) : NULL;
        if (s[i] == '=' && i + 2 >= n && n % 4 == 0)
            break;
        if (!p) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    if (len_out)
        *len_out = o;
    return out;
}

/* ---- Docker config.json ------------------------------------------------------------ */

char *hr_docker_config_creds(const char *json_text, const char *host)
{
    json_t *root = json_loads(json_text, 0, NULL);
    json_t *auths = json_object_get(root, "auths"), *entry = NULL;
    hr_autofree char *https = hr_xasprintf("https://%s", host);
    hr_autofree char *http = hr_xasprintf("http://%s", host);
    const char *enc;
    char *creds = NULL;

    entry = json_object_get(auths, host);
    if (!entry)
        entry = json_object_get(auths, https);
    if (!entry)
        entry = json_object_get(auths, http);
    if (!entry && strcmp(host, HR_DOCKER_HUB) == 0)
        entry = json_object_get(auths, "https://index.docker.io/v1/");
    enc = json_string_value(json_object_get(entry, "auth"));
    if (enc) {
        creds = hr_base64_decode(enc, NULL);
        if (creds && !strchr(creds, ':')) {
            free(creds);
            creds = NULL;
        }
    }
    json_decref(root);
    return creds;
}

/* ---- token service answers ----------------------------------------------------------
 */

char *hr_token_reply_parse(const char *body, long *lifetime)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    json_int_t life = json_integer_value(json_object_get(j, "expires_in"));
    char *out;

    if (!tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    out = tok ? hr_xstrdup(tok) : NULL;
    /* The client renews the token after this many seconds, counted in
     * milliseconds from the monotonic clock: a lifetime of years would
     * overflow that, and a day is longer than registries give. */
    *lifetime = life <= 0                      ? 0
                : life < HR_TOKEN_LIFETIME_MAX ? (long)life
                                               : HR_TOKEN_LIFETIME_MAX;
    json_decref(j);
    return out;
}

/* ---- where credentials may go --------------------------------------------------------
 */

char *hr_url_origin(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *origin = NULL;

    /* No scheme guessing: a URL that does not say it is not trusted. */
    if (u && url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        origin = hr_xasprintf("%s://%s:%s", scheme, host, port);
        for (char *c = origin; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return origin;
}

bool hr_realm_may_get_creds(const char *realm, const char *registry_base,
                            bool is_insecure)
{
    hr_autofree char *to = hr_url_origin(realm), *base = hr_url_origin(registry_base);

    if (!to || !base)
        return false;
    if (strncmp(to, "https://", 8) == 0)
        return true;
    /* Plain HTTP only where the user accepted it for the registry itself,
     * and the registry itself speaks it: the credentials then cross the
     * network in clear text anyway (basic auth to the registry). */
    return is_insecure && strncmp(base, "http://", 7) == 0 &&
           strncmp(to, "http://", 7) == 0;
}

/* ---- resuming ------------------------------------------------------------------------
 */

enum hr_resume hr_resume_decide(long long have, long status, const char *content_range)
{
    long long start;

    if (status == 200)
        return HR_RESUME_RESTART;
    if (status == 416 && have > 0)
        return HR_RESUME_RETRY;
    if (status != 206 || have <= 0 || !content_range)
        return HR_RESUME_FAIL;
    /* "bytes START-END/TOTAL" (RFC 9110 14.4) */
    if (sscanf(content_range, "bytes %lld-", &start) != 1 || start != have)
        return HR_RESUME_FAIL;
    return HR_RESUME_APPEND;
}
