/* The registry client (OCI distribution API v2 over libcurl): the requests,
 * with their authentication. They log one line naming the reference on
 * failure. The pure parsers they use are refparse.h's. */
#ifndef HR_REGISTRY_H
#define HR_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "registry/refparse.h"

#define HR_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define HR_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define HR_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define HR_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* ---- requests -----------------------------------------------------------------------
 */

struct hr_registry_opts {
    const char *creds;   /* "USER:PASS", or NULL: from the auth files */
    const char *ca_cert; /* PEM bundle to trust, or NULL */
    bool is_insecure;    /* plain HTTP or unverified TLS allowed */
};

struct hr_registry {
    const char *ref; /* as the user wrote it, for messages */
    char *host, *repo;
    char *base; /* "https://HOST" or "http://HOST" */
    bool is_insecure, is_scheme_known;
    const char *ca_cert;
    char *creds;              /* "USER:PASS" or NULL; never printed */
    char *authz;              /* "Authorization: ..." or NULL */
    long long authz_renew_ms; /* CLOCK_MONOTONIC ms to renew it at; 0: never */
    struct hr_challenge challenge;
    bool is_realm_warned; /* said once that the realm gets no credentials */
};

/* One answer: status, body (2xx bodies in memory only for manifests and
 * tokens) and the headers the client needs. */
struct hr_response {
    long status;
    char *url; /* where the answer came from, after redirects */
    char *body;
    size_t len, max;
    char *content_type, *docker_digest, *www_auth, *content_range;
    char errbuf[CURL_ERROR_SIZE];
};

/* The host that answers the registry API for a registry name in a
 * reference ("docker.io" -> "registry-1.docker.io"). Pure. */
const char *hr_registry_api_host(const char *registry);

int hr_registry_init(struct hr_registry *r, const struct hr_ref *ref, const char *refname,
                     const struct hr_registry_opts *o);
void hr_registry_free(struct hr_registry *r);
void hr_response_reset(struct hr_response *resp);
/* After curl_easy_perform on h: the answer's status and URL. */
void hr_response_finish(struct hr_response *resp, CURL *h);
/* Keep n more bytes of body (at most resp->max, default 8 MiB). 0 or -1. */
int hr_response_append(struct hr_response *resp, const char *data, size_t n);

/* Set the common options of a request for PATH (below /v2/REPO/) on h:
 * TLS, redirects, the header callback filling resp, Authorization. The
 * returned list must outlive the request. */
struct curl_slist *hr_registry_prepare(struct hr_registry *r, CURL *h, const char *path,
                                       struct hr_response *resp);
/* Refresh the token when it is about to expire. 0 or -1 (logged). */
int hr_registry_keep_auth(struct hr_registry *r);
/* After a 401: follow its challenge (token or basic), if the registry
 * itself gave it (resp->url on the registry's scheme, host and port; a 401
 * from where a redirect led is an error naming that place). 0 or -1
 * (logged). */
int hr_registry_authenticate(struct hr_registry *r, const struct hr_response *resp);
/* Log the failure of a request: the transfer error or the registry's own
 * error code. what: "manifest latest", "blob sha256:...". */
void hr_registry_report(const struct hr_registry *r, const struct hr_response *resp,
                        CURLcode rc, const char *what);

/* GET a manifest (by tag or digest) with all four Accept types, following
 * authentication challenges. The body is in resp. 0 or -1 (logged). */
int hr_registry_get_manifest(struct hr_registry *r, const char *reference,
                             struct hr_response *resp);

#endif
