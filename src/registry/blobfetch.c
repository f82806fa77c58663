/* Downloading blobs into the cache, a few at a time (libcurl multi). Each
 * blob streams into BLOBS/<hex>.partial, is hashed on the way, and is
 * renamed to BLOBS/<hex> only after its digest matched and the data was
 * synced: the cache holds verified blobs only. A partial file left by an
 * interrupted pull is resumed with a Range request; the bytes it already
 * holds are hashed again first, so the digest still covers the whole blob. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "registry/blobfetch.h"
#include "common/log.h"
#include "common/util.h"
#include "image/digest.h"

#define MAX_TRIES 3

struct xfer {
    struct hr_registry *r;
    const char *digest;
    long long size; /* from the descriptor; -1: unknown */
    char *final, *partial;
    int fd;
    struct hr_sha256 sha;
    long long have;    /* bytes in the partial file */
    long long resumed; /* bytes the partial file held when this try began */
    bool is_decided, is_error_body, is_cached;
    bool is_oversize; /* the registry sent more than the descriptor's size */
    int write_errno;  /* why the partial file could not take the data, or 0 */
    int tries;
    CURL *h;
    struct curl_slist *hdrs;
    struct hr_response resp;
};

static int sync_dir(const char *file)
{
    hr_autofree char *dir = hr_xstrdup(file);
    hr_autoclose int fd = -1;

    *strrchr(dir, '/') = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 ? fsync(fd) : -1;
}

/* ---- one transfer --------------------------------------------------------------------
 */

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;

    (void)size;
    if (!x->is_decided) {
        long status = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        enum hr_resume d = hr_resume_decide(x->have, status, x->resp.content_range);
        x->is_decided = true;
        x->is_error_body = d != HR_RESUME_APPEND && d != HR_RESUME_RESTART;
        if (d == HR_RESUME_RESTART && x->have > 0) {
            hr_debug("%s: the registry sent the whole blob, not the rest", x->digest);
            if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
                x->write_errno = errno;
                return 0;
            }
            hr_sha256_free(&x->sha);
            hr_sha256_init(&x->sha);
            x->have = 0;
        }
    }
    if (x->is_error_body) { /* keep the registry's error JSON for the message */
        x->resp.max = 1u << 16;
        return hr_response_append(&x->resp, data, n) < 0 ? 0 : n;
    }
    if (x->size >= 0 && x->have + (long long)n > x->size) {
        x->is_oversize = true; /* more than the descriptor says: not this blob */
        return 0;
    }
    if (hr_write_all(x->fd, data, n) < 0) {
        x->write_errno = errno;
        return 0;
    }
    hr_sha256_update(&x->sha, data, n);
    x->have += (long long)n;
    return n;
}

/* Hash what the partial file holds; drop it if it cannot be this blob. */
static int rehash_partial(struct xfer *x)
{
    char buf[1 << 16];
    struct stat st;
    ssize_t n;

    if (fstat(x->fd, &st) < 0 || hr_sha256_init(&x->sha) < 0)
        return -1;
    x->have = st.st_size;
    if (x->size >= 0 && x->have > x->size)
        x->have = 0;
    if (lseek(x->fd, 0, SEEK_SET) < 0)
        return -1;
    for (long long left = x->have; left > 0; left -= n) {
        n = read(x->fd, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));
        if (n <= 0)
            return -1;
        hr_sha256_update(&x->sha, buf, (size_t)n);
    }
    if (ftruncate(x->fd, x->have) < 0)
        return -1;
    x->resumed = x->have;
    if (x->have > 0)
        hr_info("%s: resuming after %lld bytes", x->digest, x->have);
    return 0;
}

static CURL *xfer_start(struct xfer *x)
{
    hr_autofree char *path = hr_xasprintf("blobs/%s", x->digest);

    if (rehash_partial(x) < 0) {
        hr_err("%s: %s: %s", x->r->ref, x->partial, strerror(errno));
        return NULL;
    }
    if (hr_registry_keep_auth(x->r) < 0)
        return NULL;
    x->tries++;
    x->is_decided = x->is_error_body = x->is_oversize = false;
    x->write_errno = 0;
    hr_response_reset(&x->resp);
    x->h = curl_easy_init();
    if (!x->h)
        return NULL;
    x->hdrs = hr_registry_prepare(x->r, x->h, path, &x->resp);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    if (x->have > 0) {
        char range[64];
        snprintf(range, sizeof(range), "%lld-", x->have);
        curl_easy_setopt(x->h, CURLOPT_RANGE, range);
    }
    return x->h;
}

static void xfer_stop(struct xfer *x)
{
    if (x->h)
        curl_easy_cleanup(x->h);
    x->h = NULL;
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    hr_sha256_free(&x->sha);
}

/* The whole blob is in the partial file: check it, publish it. 1: a
 * resumed download did not match, perhaps the partial file was damaged:
 * start again from nothing. */
static int xfer_publish(struct xfer *x)
{
    char got[HR_DIGEST_LEN + 1];

    hr_sha256_final(&x->sha, got);
    if (strcmp(got, x->digest) != 0 || (x->size >= 0 && x->have != x->size)) {
        if (x->resumed > 0 && x->tries < MAX_TRIES) {
            hr_info("%s: resumed download does not match, downloading it again",
                    x->digest);
            return ftruncate(x->fd, 0) < 0 ? -1 : 1;
        }
        if (strcmp(got, x->digest) == 0) /* a descriptor that lies about the size */
            hr_err("%s: blob %s: size mismatch (%lld bytes, its descriptor says %lld)",
                   x->r->ref, x->digest, x->have, x->size);
        else
            hr_err("%s: blob %s: digest mismatch (content is %s, %lld bytes)", x->r->ref,
                   x->digest, got, x->have);
        unlink(x->partial);
        return -1;
    }
    if (fsync(x->fd) < 0 || rename(x->partial, x->final) < 0) {
        hr_err("%s: %s: %s", x->r->ref, x->final, strerror(errno));
        return -1;
    }
    sync_dir(x->final);
    hr_info("%s: %s: downloaded, %lld bytes", x->r->ref, x->digest, x->have);
    return 0;
}

/* A transfer ended: 1 to start it again, 0 when done, -1 on failure. */
static int xfer_done(struct xfer *x, CURLcode rc)
{
    hr_autofree char *what = hr_xasprintf("blob %s", x->digest);
    long status;

    hr_response_finish(&x->resp, x->h);
    status = x->resp.status;
    if (rc == CURLE_OK && status == 401 && x->tries < MAX_TRIES) {
        xfer_stop(x);
        return hr_registry_authenticate(x->r, &x->resp) < 0 ? -1 : 1;
    }
    /* Range not satisfiable: the partial file may hold the whole blob (a
     * registry that sent more than it had). Whatever the body did (Docker's
     * registry announces one it never sends), start again from nothing. */
    if (status == 416 && x->have > 0 && x->tries < MAX_TRIES) {
        xfer_stop(x);
        return ftruncate(x->fd, 0) < 0 ? -1 : 1;
    }
    if (rc == CURLE_WRITE_ERROR && (x->is_oversize || x->write_errno)) {
        /* curl only knows that on_data refused the data: say why */
        if (x->is_oversize)
            hr_err("%s: %s: the registry sent more than the %lld bytes its descriptor "
                   "gives",
                   x->r->ref, what, x->size);
        else
            hr_err("%s: %s: %s", x->r->ref, x->partial, strerror(x->write_errno));
        xfer_stop(x);
        return -1;
    }
    if (rc != CURLE_OK || x->is_error_body || (status != 200 && status != 206)) {
        hr_registry_report(x->r, &x->resp, x->is_error_body ? CURLE_OK : rc, what);
        xfer_stop(x);
        return -1;
    }
    int published = xfer_publish(x);
    xfer_stop(x);
    return published;
}

/* ---- the cache side
 * -------------------------------------------------------------------- */

/* Open and lock the partial file. Another hpcimg downloading the same blob
 * holds the lock: wait for it, then the blob may already be there. */
static int xfer_open(struct xfer *x, const char *blobs)
{
    x->final = hr_xasprintf("%s/%s", blobs, x->digest + 7);
    x->partial = hr_xasprintf("%s/%s.partial", blobs, x->digest + 7);
    for (int i = 0;; i++) {
        struct stat held, named;
        /* 0600: the cache is the user's alone (see pull.c) */
        x->fd = open(x->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (x->fd < 0 || flock(x->fd, LOCK_EX) < 0 || fstat(x->fd, &held) < 0) {
            hr_err("%s: %s: %s", x->r->ref, x->partial, strerror(errno));
            return -1;
        }
        /* The pull that held the lock may have renamed or removed the file
         * meanwhile: the lock counts only on the file the name still has.
         * Writing on through a lock on a file the name has left would
         * publish another pull's partial file later, so a name that keeps
         * changing is an error, not a reason to carry on. */
        if (stat(x->partial, &named) == 0 && named.st_ino == held.st_ino &&
            named.st_dev == held.st_dev)
            break;
        close(x->fd);
        x->fd = -1;
        if (i == 10) {
            hr_err("%s: %s: other pulls keep replacing it; try again", x->r->ref,
                   x->partial);
            return -1;
        }
    }
    if (access(x->final, F_OK) == 0)
        return 1;
    return 0;
}

static void xfer_free(struct xfer *x)
{
    xfer_stop(x);
    if (x->fd >= 0) {
        struct stat st;
        /* An empty partial file helps no later pull. */
        if (fstat(x->fd, &st) == 0 && st.st_size == 0)
            unlink(x->partial);
        close(x->fd);
    }
    hr_response_reset(&x->resp);
    free(x->final);
    free(x->partial);
}

/* ---- progress
 * ---------------------------------------------------------------------------- */

static void progress(const struct xfer *xs, size_t n, size_t n_done, bool is_last)
{
    static struct timespec last;
    struct timespec now;
    long long have = 0, total = 0;

    if (hr_log_level() < HR_LOG_WARN || !isatty(STDERR_FILENO))
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!is_last && now.tv_sec == last.tv_sec && now.tv_nsec - last.tv_nsec < 200000000)
        return;
    last = now;
    for (size_t i = 0; i < n; i++) {
        have += xs[i].have;
        total += xs[i].size > 0 ? xs[i].size : 0;
    }
    fprintf(stderr, "\r%s: downloading %zu/%zu blobs %lld/%lld MiB%s", hr_progname(),
            n_done, n, have >> 20, total >> 20, is_last ? "\n" : "");
}

/* ---- all of them
 * --------------------------------------------------------------------------- */

struct batch {
    CURLM *m;
    struct xfer *xs;
    size_t n, next, n_done, running;
    unsigned parallel;
};

/* Start transfers until `parallel` run. 0 or -1. */
static int start_more(struct batch *b)
{
    while (b->next < b->n && b->running < b->parallel) {
        struct xfer *x = &b->xs[b->next++];
        if (x->is_cached) {
            b->n_done++;
            continue;
        }
        if (!xfer_start(x))
            return -1;
        curl_multi_add_handle(b->m, x->h);
        b->running++;
    }
    return 0;
}

/* Handle the transfers that ended: done, started again, or failed. */
static int reap(struct batch *b)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(b->m, &left))) {
        struct xfer *x = NULL;
        for (size_t i = 0; i < b->n; i++)
            if (b->xs[i].h == msg->easy_handle)
                x = &b->xs[i];
        if (msg->msg != CURLMSG_DONE || !x)
            continue;
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(b->m, x->h);
        b->running--;
        int again = xfer_done(x, rc);
        if (again < 0 || (again > 0 && !xfer_start(x)))
            return -1;
        if (again > 0) {
            curl_multi_add_handle(b->m, x->h);
            b->running++;
        } else {
            b->n_done++;
        }
    }
    return 0;
}

static int run_multi(struct batch *b)
{
    int rc = 0, still;

    while (rc == 0 && b->n_done < b->n) {
        if ((rc = start_more(b)) < 0 || b->n_done == b->n)
            break;
        curl_multi_perform(b->m, &still);
        rc = reap(b);
        progress(b->xs, b->n, b->n_done, false);
        if (rc == 0 && b->running)
            curl_multi_poll(b->m, NULL, 0, 500, NULL);
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->xs[i].h)
            curl_multi_remove_handle(b->m, b->xs[i].h);
    if (rc == 0)
        progress(b->xs, b->n, b->n_done, true);
    return rc;
}

int hr_blobs_fetch(struct hr_registry *r, const char *blobs, const struct hr_blob *want,
                   size_t n, unsigned parallel)
{
    struct xfer *xs = hr_xmalloc((n + 1) * sizeof(*xs));
    struct batch b = {.xs = xs, .n = n, .parallel = parallel ? parallel : 1};
    int rc = -1;

    memset(xs, 0, (n + 1) * sizeof(*xs));
    for (size_t i = 0; i < n; i++) {
        xs[i].r = r;
        xs[i].digest = want[i].digest;
        xs[i].size = want[i].size;
        xs[i].fd = -1;
        int st = xfer_open(&xs[i], blobs);
        if (st < 0)
            goto out;
        xs[i].is_cached = st > 0; /* by another pull meanwhile */
    }
    if ((b.m = curl_multi_init()))
        rc = run_multi(&b);
out:
    for (size_t i = 0; i < n; i++)
        xfer_free(&xs[i]);
    if (b.m)
        curl_multi_cleanup(b.m);
    free(xs);
    return rc;
}
