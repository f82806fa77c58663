/* hpcimg pull, as a list of named steps: parse the reference, resolve it to
 * an image manifest (through an index for the platform), fetch the blobs
 * the cache lacks, open the image from the cache and convert it exactly as
 * an OCI layout. Manifests are kept in the cache too, so a pull by digest
 * whose blobs are all cached needs no registry at all. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "registry/pull.h"
#include "common/log.h"
#include "common/util.h"
#include "image/digest.h"
#include "image/oci.h"
#include "registry/blobfetch.h"

#define MT_SCHEMA1 "application/vnd.docker.distribution.manifest.v1"

struct pull {
    const char *refname; /* as given, for messages */
    struct hr_ref ref;
    struct hr_registry reg;
    bool is_reg_ready;
    char *cache, *blobs;
    const struct hr_pull_opts *o;
};

/* ---- the cache ----------------------------------------------------------------------
 * The cache is the user's alone: a private registry's layers must not be
 * readable by other users through a 0755 home (Debian's default), so its
 * directories are 0700 and its files 0600. */

/* Missing directories are made 0700, as the XDG base directory spec asks. */
static int mkdir_p(const char *path)
{
    hr_autofree char *p = hr_xstrdup(path);

    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return -1;
        if (!s)
            return 0;
        *s = '/';
    }
}

/* Blobs an older hpcimg left 0644: the user's own regular files lose their
 * group and other bits. Runs after the directory became 0700, so no one
 * else can swap a name between fstatat and fchmodat. A file that cannot be
 * changed stays as it is: the directory already keeps others out. */
static void cache_files_close(int dfd)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    struct stat st;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d)))
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077))
            fchmodat(dfd, e->d_name, st.st_mode & 0700, 0);
    closedir(d);
}

/* Directory name in dfd, made if missing, opened and made the user's alone:
 * another user's is refused (this user's blobs would be where that user
 * controls them, and blobs read from it could be swapped), a looser mode
 * becomes 0700 (*was_open then says so). The top directory (dfd
 * AT_FDCWD) may be a symlink, to scratch space say; the ones below, which
 * hpcimg made, may not. Its descriptor, or -1 (logged, naming shown). */
static int cache_dir_own(int dfd, const char *name, const char *shown, bool *was_open)
{
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (dfd == AT_FDCWD ? 0 : O_NOFOLLOW);
    int fd = -1;
    struct stat st;

    if ((mkdirat(dfd, name, 0700) < 0 && errno != EEXIST) ||
        (fd = openat(dfd, name, flags)) < 0 || fstat(fd, &st) < 0) {
        hr_err("%s: cannot create the blob cache: %s", shown, strerror(errno));
    } else if (st.st_uid != geteuid()) {
        hr_err("%s: the blob cache belongs to uid %u, not to you (uid %u): remove it, or "
               "set XDG_CACHE_HOME to a directory of your own",
               shown, (unsigned)st.st_uid, (unsigned)geteuid());
    } else if ((st.st_mode & 077) && fchmod(fd, 0700) < 0) {
        hr_err("%s: cannot make the blob cache private (mode 0700): %s", shown,
               strerror(errno));
    } else {
        *was_open |= (st.st_mode & 077) != 0;
        return fd;
    }
    if (fd >= 0)
        close(fd);
    return -1;
}

/* DIR, DIR/blobs and DIR/blobs/sha256, each the user's alone; the files of
 * a cache found open are closed too. 0 or -1 (logged). */
static int cache_make_private(const char *dir)
{
    hr_autofree char *blobs_name = hr_xasprintf("%s/blobs", dir);
    hr_autofree char *sha_name = hr_xasprintf("%s/blobs/sha256", dir);
    hr_autoclose int top = -1, blobs = -1, sha = -1;
    bool was_open = false;

    if ((top = cache_dir_own(AT_FDCWD, dir, dir, &was_open)) < 0 ||
        (blobs = cache_dir_own(top, "blobs", blobs_name, &was_open)) < 0 ||
        (sha = cache_dir_own(blobs, "sha256", sha_name, &was_open)) < 0)
        return -1;
    if (was_open) {
        hr_info("%s: the blob cache was readable by others: made it private", dir);
        cache_files_close(sha);
    }
    return 0;
}

char *hr_blob_cache_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir;

    /* XDG base directory spec: a relative $XDG_CACHE_HOME is ignored. */
    if (xdg && xdg[0] == '/')
        dir = hr_xasprintf("%s/hpcrun", xdg);
    else if (home && home[0] == '/')
        dir = hr_xasprintf("%s/.cache/hpcrun", home);
    else {
        hr_err("no blob cache: set XDG_CACHE_HOME or HOME");
        return NULL;
    }
    if (mkdir_p(dir) < 0) {
        hr_err("%s: cannot create the blob cache: %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    if (cache_make_private(dir) < 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* Write a small verified blob (a manifest) into the cache atomically. An
 * O_TMPFILE file has no name until it is complete and linked in, so a pull
 * killed half-way leaves nothing; a blob already there (another pull of the
 * same image) is the same content. Without O_TMPFILE: a named temp file.
 * Mode 0600 whatever the umask, as every file of the cache. */
static int cache_put(struct pull *p, const char *digest, const char *data, size_t len)
{
    hr_autofree char *tmp = hr_xasprintf("%s/.tmp.XXXXXX", p->blobs);
    hr_autofree char *dest = hr_xasprintf("%s/%s", p->blobs, digest + 7);
    hr_autoclose int fd = open(p->blobs, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    bool is_anonymous = fd >= 0;
    int rc;

    if (!is_anonymous)
        fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0 || hr_write_all(fd, data, len) < 0 || fchmod(fd, 0600) < 0 ||
        fsync(fd) < 0) {
        rc = -1;
    } else if (is_anonymous) {
        rc = hr_fd_link(fd, dest);
        if (rc < 0 && errno == EEXIST)
            rc = 0;
    } else {
        rc = rename(tmp, dest);
    }
    if (rc < 0) {
        hr_err("%s: %s: %s", p->refname, dest, strerror(errno));
        if (fd >= 0 && !is_anonymous)
            unlink(tmp);
        return -1;
    }
    return 0;
}

static char *cache_get(struct pull *p, const char *digest)
{
    hr_autofree char *path = hr_xasprintf("%s/%s", p->blobs, digest + 7);
    size_t len;
    char *text = hr_read_file(path, 8u << 20, &len);
    char got[HR_DIGEST_LEN + 1];

    if (!text)
        return NULL;
    hr_sha256_buf(text, len, got);
    if (strcmp(got, digest) != 0) { /* damaged: fetch it again */
        hr_warn("%s: cached %s is damaged, fetching it again", p->refname, digest);
        unlink(path);
        free(text);
        return NULL;
    }
    return text;
}

/* ---- manifests ------------------------------------------------------------------------
 */

struct manifest {
    char *text;
    char digest[HR_DIGEST_LEN + 1];
    char *media_type;
    bool is_index;
};

static void manifest_free(struct manifest *m)
{
    free(m->text);
    free(m->media_type);
    memset(m, 0, sizeof(*m));
}

/* Media type from the manifest itself or else the Content-Type (umoci
 * writes none); schema 1 is refused. */
static int manifest_kind(struct pull *p, struct manifest *m, const char *content_type)
{
    json_t *j = json_loads(m->text, 0, NULL);
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    json_int_t version = json_integer_value(json_object_get(j, "schemaVersion"));
    hr_autofree char *ct =
        content_type ? hr_xstrndup(content_type, strcspn(content_type, "; ")) : NULL;
    int rc = -1;

    if (!mt)
        mt = ct;
    if (version == 1 || (mt && strncmp(mt, MT_SCHEMA1, strlen(MT_SCHEMA1)) == 0)) {
        hr_err("%s: the registry answered with a Docker schema 1 manifest, which is not "
               "supported (push the image as Docker v2 schema 2 or OCI)",
               p->refname);
    } else if (!json_is_object(j)) {
        hr_err("%s: manifest %s: invalid JSON", p->refname, m->digest);
    } else {
        m->is_index = json_is_array(json_object_get(j, "manifests"));
        m->media_type = mt ? hr_xstrdup(mt) : NULL;
        rc = 0;
    }
    json_decref(j);
    return rc;
}

static int registry_ready(struct pull *p)
{
    if (!p->is_reg_ready &&
        hr_registry_init(&p->reg, &p->ref, p->refname, &p->o->reg) < 0)
        return -1;
    p->is_reg_ready = true;
    return 0;
}

/* GET the manifest for reference (a tag or a digest) and check it against
 * the digest asked for and the one the registry states. */
static int manifest_download(struct pull *p, const char *reference, struct manifest *m)
{
    struct hr_response resp = {0};
    bool is_digest = hr_digest_valid(reference);
    int rc = -1;

    if (registry_ready(p) < 0 || hr_registry_get_manifest(&p->reg, reference, &resp) < 0)
        goto out;
    m->text = hr_xstrndup(resp.body ? resp.body : "", resp.len);
    /* Schema 1 first: its digest covers the payload without signatures. */
    if (resp.content_type &&
        strncmp(resp.content_type, MT_SCHEMA1, strlen(MT_SCHEMA1)) == 0) {
        manifest_kind(p, m, resp.content_type);
        goto out;
    }
    hr_sha256_buf(m->text, resp.len, m->digest);
    if ((is_digest && strcmp(m->digest, reference) != 0) ||
        (hr_digest_valid(resp.docker_digest) &&
         strcmp(m->digest, resp.docker_digest) != 0)) {
        hr_err("%s: manifest %s: digest mismatch (content is %s)", p->refname,
               is_digest ? reference : resp.docker_digest, m->digest);
        goto out;
    }
    if (strlen(m->text) != resp.len) {
        hr_err("%s: manifest %s: not a JSON text", p->refname, m->digest);
        goto out;
    }
    if (manifest_kind(p, m, resp.content_type) < 0 ||
        cache_put(p, m->digest, m->text, resp.len) < 0)
        goto out;
    rc = 0;
out:
    hr_response_reset(&resp);
    return rc;
}

static int manifest_get(struct pull *p, const char *reference, struct manifest *m)
{
    memset(m, 0, sizeof(*m));
    if (hr_digest_valid(reference) && (m->text = cache_get(p, reference))) {
        hr_debug("%s: manifest %s from the cache", p->refname, reference);
        snprintf(m->digest, sizeof(m->digest), "%s", reference);
        return manifest_kind(p, m, NULL);
    }
    return manifest_download(p, reference, m);
}

/* The image manifest: the reference's, or its index's for the platform. */
static int resolve(struct pull *p, struct manifest *m)
{
    struct manifest top;
    json_t *desc;
    const char *d;
    int rc;

    if (manifest_get(p, p->ref.digest ? p->ref.digest : p->ref.tag, &top) < 0) {
        manifest_free(&top);
        return -1;
    }
    if (!top.is_index) {
        *m = top;
        return 0;
    }
    desc = hr_oci_index_pick(top.text, p->o->platform, p->refname);
    d = json_string_value(json_object_get(desc, "digest"));
    if (!hr_digest_valid(d)) {
        if (desc)
            hr_err("%s: index %s: descriptor without a valid digest", p->refname,
                   top.digest);
        json_decref(desc);
        manifest_free(&top);
        return -1;
    }
    rc = manifest_get(p, d, m);
    if (rc == 0 && !m->media_type)
        m->media_type =
            hr_xstrdup(json_string_value(json_object_get(desc, "mediaType")) ?: "");
    if (rc == 0 && m->is_index) {
        hr_err("%s: index %s: points to another index", p->refname, d);
        rc = -1;
    }
    json_decref(desc);
    manifest_free(&top);
    return rc;
}

/* ---- blobs
 * ------------------------------------------------------------------------------ */

/* A blob the cache lacks joins want. Its size caps the download, so the
 * descriptor must state one that can (the image spec requires it). 0 or -1. */
static int want_blob(struct pull *p, json_t *desc, struct hr_blob *w, size_t *n)
{
    const char *d = json_string_value(json_object_get(desc, "digest"));
    hr_autofree char *path = NULL;
    long long size;

    if (!hr_digest_valid(d))
        return 0; /* hr_oci_manifest_open reports it */
    if (hr_oci_descriptor_size(desc, true, HR_BLOB_SIZE_MAX, &size) < 0)
        return -1;
    path = hr_xasprintf("%s/%s", p->blobs, d + 7);
    if (access(path, F_OK) == 0)
        return 0;
    w[*n].digest = d;
    w[*n].size = size;
    (*n)++;
    return 0;
}

static int fetch_blobs(struct pull *p, const struct manifest *m)
{
    json_t *j = json_loads(m->text, 0, NULL), *layers, *l;
    struct hr_blob *want;
    size_t i, n = 0;
    int rc;

    layers = json_object_get(j, "layers");
    want = hr_xmalloc((json_array_size(layers) + 1) * sizeof(*want));
    rc = want_blob(p, json_object_get(j, "config"), want, &n);
    json_array_foreach(layers, i, l)
    {
        if (rc == 0)
            rc = want_blob(p, l, want, &n);
    }
    if (rc == 0 && n > 0) {
        hr_info("%s: %zu blobs to download", p->refname, n);
        rc = registry_ready(p) < 0
                 ? -1
                 : hr_blobs_fetch(&p->reg, p->blobs, want, n, p->o->parallel);
    }
    free(want);
    json_decref(j);
    return rc;
}

/* ---- the pull
 * ----------------------------------------------------------------------------- */

char *hr_pull_default_output(const struct hr_ref *ref)
{
    const char *name = strrchr(ref->repo, '/');

    name = name ? name + 1 : ref->repo;
    if (ref->tag)
        return hr_xasprintf("%s_%s.sqfs", name, ref->tag);
    return hr_xasprintf("%s_%.12s.sqfs", name, ref->digest + 7);
}

static int convert(struct pull *p, const struct manifest *m, const char *dest)
{
    struct hr_oci_image img;
    hr_autofree char *name = hr_ref_string(&p->ref);
    int rc = -1;

    memset(&img, 0, sizeof(img));
    if (hr_oci_manifest_open(&img, p->cache, m->digest,
                             m->media_type && *m->media_type ? m->media_type : NULL) ==
        0) {
        img.reference = hr_xasprintf("docker://%s", name);
        rc = hr_convert_image(&img, dest, &p->o->conv);
    }
    hr_oci_image_free(&img);
    return rc;
}

int hr_pull(const char *refname, const char *dest, const struct hr_pull_opts *o)
{
    struct pull p = {.refname = refname, .o = o};
    struct manifest m = {0};
    char err[256];
    hr_autofree char *dflt = NULL;
    int rc = -1;

    if (hr_ref_parse(refname, o->registry, &p.ref, err, sizeof(err)) < 0) {
        hr_err("%s: %s", refname, err);
        return -1;
    }
    if (!dest)
        dest = dflt = hr_pull_default_output(&p.ref);
    if (!(p.cache = hr_blob_cache_dir()))
        goto out;
    p.blobs = hr_xasprintf("%s/blobs/sha256", p.cache);
    if (resolve(&p, &m) < 0 || fetch_blobs(&p, &m) < 0 || convert(&p, &m, dest) < 0)
        goto out;
    rc = 0;
out:
    manifest_free(&m);
    if (p.is_reg_ready)
        hr_registry_free(&p.reg);
    hr_ref_free(&p.ref);
    free(p.cache);
    free(p.blobs);
    return rc;
}
