/* OCI image layouts and `docker save` archives (see oci.h). Every JSON blob
 * is read whole (they are small, capped at JSON_MAX), its digest checked,
 * and only then parsed. Layer blobs are only located here; layer.c streams
 * and verifies them. */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "image/oci.h"
#include "common/log.h"
#include "common/util.h"
#include "image/digest.h"
#include "image/tarfile.h"

#define JSON_MAX (8u << 20)

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define ANNOT_REF_NAME "org.opencontainers.image.ref.name"

/* ---- small helpers ------------------------------------------------------------ */

const char *hr_host_platform(void)
{
    static char buf[96];
    static const struct {
        const char *uname, *oci;
    } arch[] = {{"x86_64", "amd64"}, {"aarch64", "arm64"},   {"ppc64le", "ppc64le"},
                {"s390x", "s390x"},  {"riscv64", "riscv64"}, {"i686", "386"},
                {"armv7l", "arm"}};
    struct utsname u;
    const char *a = "unknown";

    if (buf[0])
        return buf;
    if (uname(&u) == 0) {
        a = u.machine;
        for (size_t i = 0; i < HR_ARRAY_LEN(arch); i++)
            if (strcmp(u.machine, arch[i].uname) == 0)
                a = arch[i].oci;
    }
    snprintf(buf, sizeof(buf), "linux/%s", a);
    return buf;
}

int hr_rfc3339_parse(const char *s, int64_t *out)
{
    struct tm tm;
    int n = 0, tzh = 0, tzm = 0;
    char sign;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    s += n;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            ;
    sign = *s;
    if (sign == 'Z' || sign == 'z') {
        s++;
    } else if ((sign == '+' || sign == '-') &&
               sscanf(s + 1, "%2d:%2d%n", &tzh, &tzm, &n) == 2) {
        s += 1 + n;
    } else {
        return -1;
    }
    if (*s)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t -
           (sign == '-' ? -1 : (sign == '+' ? 1 : 0)) * ((int64_t)tzh * 3600 + tzm * 60);
    return 0;
}

/* A whole JSON document; one over JSON_MAX is refused, not cut short. */
static char *read_json_file(const char *path, const char *name, size_t *len_out)
{
    size_t len;
    char *text = hr_read_file(path, JSON_MAX + 1, &len);

    if (!text) {
        hr_err("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (len > JSON_MAX) {
        hr_err("%s: too large for a JSON document", name);
        free(text);
        return NULL;
    }
    if (len_out)
        *len_out = len;
    return text;
}

/* Parse the len bytes of a JSON blob; checks their digest first when one is
 * given. The digest covers every byte read, and the parser sees every byte
 * too (json_loadb refuses a NUL and anything after the document), so no
 * byte of a blob escapes its digest or is read differently by another tool. */
static json_t *json_checked(const char *text, size_t len, const char *digest,
                            const char *name)
{
    json_error_t jerr;
    json_t *j;

    if (digest) {
        char got[HR_DIGEST_LEN + 1];
        hr_sha256_buf(text, len, got);
        if (strcmp(got, digest) != 0) {
            hr_err("%s: digest mismatch (content is %s)", digest, got);
            return NULL;
        }
    }
    j = json_loadb(text, len, 0, &jerr);
    if (!j || !json_is_object(j)) {
        hr_err("%s: invalid JSON: %s", name, j ? "not an object" : jerr.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int hr_oci_descriptor_size(json_t *desc, bool is_required, long long max, long long *size)
{
    json_t *j = json_object_get(desc, "size");
    const char *name = jstr(desc, "digest") ? jstr(desc, "digest") : "descriptor";

    *size = -1;
    if (!j && !is_required)
        return 0;
    if (!json_is_integer(j)) {
        hr_err("%s: descriptor %s", name, j ? "size is not an integer" : "has no size");
        return -1;
    }
    *size = (long long)json_integer_value(j);
    if (*size < 0) {
        hr_err("%s: descriptor size %lld is negative", name, *size);
        return -1;
    }
    if (*size > max) {
        hr_err("%s: descriptor size %lld is over the limit of %lld bytes", name, *size,
               max);
        return -1;
    }
    return 0;
}

/* ---- the config (shared by both sources) --------------------------------------------
 */

static int config_load(struct hr_oci_image *img, const char *text, size_t len,
                       const char *digest)
{
    json_t *cfg = json_checked(text, len, digest, "image config");
    json_t *diff_ids;
    const char *os, *arch, *variant, *created;
    size_t i;

    if (!cfg)
        return -1;
    diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(diff_ids) || json_array_size(diff_ids) != img->n_layers) {
        hr_err("%s: image config: rootfs.diff_ids does not match the %zu layers",
               img->reference, img->n_layers);
        json_decref(cfg);
        return -1;
    }
    for (i = 0; i < img->n_layers; i++) {
        const char *d = json_string_value(json_array_get(diff_ids, i));
        if (!hr_digest_valid(d)) {
            hr_err("%s: image config: invalid diff_id %zu", img->reference, i);
            json_decref(cfg);
            return -1;
        }
        img->layers[i].diff_id = hr_xstrdup(d);
    }
    os = jstr(cfg, "os");
    arch = jstr(cfg, "architecture");
    variant = jstr(cfg, "variant");
    img->platform = hr_xasprintf("%s/%s%s%s", os ? os : "linux", arch ? arch : "unknown",
                                 variant ? "/" : "", variant ? variant : "");
    created = jstr(cfg, "created");
    if (created && hr_rfc3339_parse(created, &img->created) < 0) {
        hr_warn("%s: image config: cannot parse created time %s", img->reference,
                created);
        img->created = 0;
    }
    img->config = json_incref(json_object_get(cfg, "config"));
    img->config_digest = digest ? hr_xstrdup(digest) : NULL;
    json_decref(cfg);
    return 0;
}

/* ---- OCI image layout
 * ------------------------------------------------------------------- */

static char *blob_path(const char *dir, const char *digest)
{
    return hr_xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
}

/* Read the JSON blob a descriptor names (its length in *len), checking the
 * descriptor's size; the caller checks the digest (json_checked). */
static char *layout_read_blob(const char *dir, json_t *desc, const char **digest_out,
                              size_t *len)
{
    const char *digest = jstr(desc, "digest");
    hr_autofree char *path = NULL;
    long long size;
    char *text;

    if (!hr_digest_valid(digest)) {
        hr_err("%s: descriptor with a missing or unsupported digest", dir);
        return NULL;
    }
    if (hr_oci_descriptor_size(desc, false, JSON_MAX, &size) < 0)
        return NULL;
    path = blob_path(dir, digest);
    text = read_json_file(path, digest, len);
    if (text && size >= 0 && (long long)*len != size) {
        hr_err("%s: size mismatch (descriptor says %lld, blob has %zu bytes)", digest,
               size, *len);
        free(text);
        return NULL;
    }
    *digest_out = digest;
    return text;
}

static bool platform_matches(json_t *desc, const char *want)
{
    json_t *p = json_object_get(desc, "platform");
    const char *os = jstr(p, "os"), *arch = jstr(p, "architecture");
    const char *variant = jstr(p, "variant");
    hr_autofree char *have = NULL;

    if (!os || !arch)
        return false;
    have = hr_xasprintf("%s/%s", os, arch);
    if (strcmp(have, want) == 0)
        return true;
    free(have);
    have = hr_xasprintf("%s/%s/%s", os, arch, variant ? variant : "");
    return strcmp(have, want) == 0;
}

/* From an index, pick the descriptor for tag, or else the one for platform
 * (or the only one, unless a platform was asked for explicitly). */
static json_t *index_select(json_t *index, const char *tag, const char *platform,
                            bool is_strict, const char *what)
{
    json_t *m = json_object_get(index, "manifests"), *d, *pick = NULL;
    size_t i, n_match = 0;

    if (!json_is_array(m) || json_array_size(m) == 0) {
        hr_err("%s: no manifests", what);
        return NULL;
    }
    json_array_foreach(m, i, d)
    {
        const char *ref = jstr(json_object_get(d, "annotations"), ANNOT_REF_NAME);
        bool is_match = tag ? (ref && strcmp(ref, tag) == 0)
                            : ((json_array_size(m) == 1 && !is_strict) ||
                               platform_matches(d, platform));
        if (is_match && !pick)
            pick = d;
        n_match += is_match;
    }
    if (!pick && tag)
        hr_err("%s: no image tagged %s", what, tag);
    else if (!pick)
        hr_err("%s: no image for platform %s%s", what, platform,
               json_array_size(m) > 1 ? " (name one with :TAG or --platform)" : "");
    else if (n_match > 1 && tag)
        hr_warn("%s: %zu images tagged %s, using the first", what, n_match, tag);
    return pick;
}

/* How a layout's image is named on the command line: "oci:DIR:TAG", or
 * by its digest when it has no tag; with_platform: and with the platform
 * its descriptor gives, if any. */
static char *layout_image_name(const char *dir, json_t *desc, bool with_platform)
{
    const char *ref = jstr(json_object_get(desc, "annotations"), ANNOT_REF_NAME);
    const char *digest = jstr(desc, "digest");
    json_t *p = json_object_get(desc, "platform");
    const char *os = jstr(p, "os"), *arch = jstr(p, "architecture");
    hr_autofree char *plat =
        with_platform && os && arch ? hr_xasprintf("%s/%s", os, arch) : NULL;

    if (ref && plat)
        return hr_xasprintf("oci:%s:%s (%s)", dir, ref, plat);
    if (ref)
        return hr_xasprintf("oci:%s:%s", dir, ref);
    return hr_xasprintf("%.19s (untagged%s%s)", digest ? digest : "?", plat ? ", " : "",
                        plat ? plat : "");
}

/* Without a tag, a layout must name one image for the platform. When it
 * holds several (and they are not one image under several tags), or
 * several none of which says its platform (as skopeo and umoci write
 * them), say which tags there are rather than pick one or blame the
 * platform. true when it did (logged). */
static bool layout_is_ambiguous(json_t *index, const char *dir, const char *platform)
{
    json_t *m = json_object_get(index, "manifests"), *d, *first = NULL;
    size_t i, n_match = 0, n_listed = 0, n_all = json_array_size(m);
    bool is_distinct = false;
    hr_autofree char *list = hr_xstrdup("");

    json_array_foreach(m, i, d)
    {
        if (!platform_matches(d, platform))
            continue;
        if (first &&
            !json_equal(json_object_get(d, "digest"), json_object_get(first, "digest")))
            is_distinct = true;
        first = first ? first : d;
        n_match++;
    }
    if ((n_match < 2 || !is_distinct) && (n_match > 0 || n_all < 2))
        return false;
    json_array_foreach(m, i, d)
    {
        if (n_match && !platform_matches(d, platform))
            continue;
        if (n_listed++ < 8) {
            hr_autofree char *name = layout_image_name(dir, d, n_match == 0);
            char *longer = hr_xasprintf("%s%s%s", list, *list ? ", " : "", name);
            free(list);
            list = longer;
        }
    }
    if (n_match)
        hr_err("oci:%s: %zu images for %s; name one: %s%s", dir, n_match, platform, list,
               n_listed > 8 ? ", ..." : "");
    else
        hr_err("oci:%s: %zu images, none marked as %s; name one: %s%s", dir, n_all,
               platform, list, n_listed > 8 ? ", ..." : "");
    return true;
}

static int manifest_layers(struct hr_oci_image *img, const char *dir, json_t *manifest)
{
    json_t *layers = json_object_get(manifest, "layers"), *l;
    size_t i;

    if (!json_is_array(layers)) {
        hr_err("%s: manifest has no layers", img->reference);
        return -1;
    }
    img->n_layers = json_array_size(layers);
    img->layers = hr_xmalloc((img->n_layers + 1) * sizeof(*img->layers));
    memset(img->layers, 0, (img->n_layers + 1) * sizeof(*img->layers));
    json_array_foreach(layers, i, l)
    {
        const char *digest = jstr(l, "digest"), *mt = jstr(l, "mediaType");
        long long size;
        if (!hr_digest_valid(digest)) {
            hr_err("%s: layer %zu: missing or unsupported digest", img->reference, i);
            return -1;
        }
        if (mt && !strstr(mt, ".tar") && !strstr(mt, "rootfs.diff")) {
            hr_err("%s: layer %s: unsupported media type %s", img->reference, digest, mt);
            return -1;
        }
        if (hr_oci_descriptor_size(l, false, HR_BLOB_SIZE_MAX, &size) < 0)
            return -1;
        img->layers[i].path = blob_path(dir, digest);
        img->layers[i].digest = hr_xstrdup(digest);
        img->layers[i].size = (off_t)size;
    }
    return 0;
}

/* The image a manifest descriptor points to: the manifest (media type mt
 * when it does not name its own), its layers and its config. */
static int open_manifest(struct hr_oci_image *img, const char *dir, json_t *desc,
                         const char *mt)
{
    hr_autofree char *mtext = NULL, *ctext = NULL;
    const char *mdigest = NULL, *cdigest = NULL;
    json_t *manifest = NULL;
    size_t mlen, clen;
    int rc = -1;

    if (!(mtext = layout_read_blob(dir, desc, &mdigest, &mlen)) ||
        !(manifest = json_checked(mtext, mlen, mdigest, mdigest)))
        goto out;
    mt = jstr(manifest, "mediaType") ? jstr(manifest, "mediaType") : mt;
    if (mt && strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0) {
        hr_err("%s: not an image manifest (media type %s)", mdigest, mt);
        goto out;
    }
    img->manifest_digest = hr_xstrdup(mdigest);
    if (manifest_layers(img, dir, manifest) < 0)
        goto out;
    if (!(ctext = layout_read_blob(dir, json_object_get(manifest, "config"), &cdigest,
                                   &clen)))
        goto out;
    rc = config_load(img, ctext, clen, cdigest);
out:
    json_decref(manifest);
    return rc;
}

int hr_oci_manifest_open(struct hr_oci_image *img, const char *dir, const char *digest,
                         const char *media_type)
{
    json_t *desc = json_pack("{s:s}", "digest", digest);
    int rc = open_manifest(img, dir, desc, media_type);

    json_decref(desc);
    return rc;
}

json_t *hr_oci_index_pick(const char *text, const char *platform, const char *what)
{
    json_t *index = json_checked(text, strlen(text), NULL, what), *desc;

    if (!index)
        return NULL;
    desc = index_select(index, NULL, platform ? platform : hr_host_platform(),
                        platform != NULL, what);
    json_incref(desc);
    json_decref(index);
    return desc;
}

int hr_oci_layout_open(struct hr_oci_image *img, const char *dir, const char *tag,
                       const char *platform)
{
    bool is_strict = platform != NULL;
    hr_autofree char *index_path = hr_xasprintf("%s/index.json", dir);
    hr_autofree char *text = NULL, *mtext = NULL;
    json_t *index = NULL, *outer = NULL, *desc;
    const char *mdigest = NULL, *mt;
    size_t len;
    int rc = -1;

    text = read_json_file(index_path, index_path, &len);
    if (!text || !(index = json_checked(text, len, NULL, index_path)))
        goto out;
    if (!platform)
        platform = hr_host_platform();
    if ((!tag && layout_is_ambiguous(index, dir, platform)) ||
        !(desc = index_select(index, tag, platform, is_strict, dir)))
        goto out;
    mt = jstr(desc, "mediaType");
    if (mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0)) {
        /* A multi-platform image: its index picks the manifest. */
        json_t *sub;
        if (!(mtext = layout_read_blob(dir, desc, &mdigest, &len)) ||
            !(sub = json_checked(mtext, len, mdigest, mdigest)))
            goto out;
        /* the outer index holds mdigest, which names the inner one below */
        outer = index;
        index = sub;
        free(mtext);
        mtext = NULL;
        if (!(desc = index_select(index, NULL, platform, is_strict, mdigest)))
            goto out;
        mt = jstr(desc, "mediaType");
    }
    rc = open_manifest(img, dir, desc, mt);
out:
    json_decref(index);
    json_decref(outer);
    return rc;
}

/* ---- docker save archives
 * ------------------------------------------------------------------ */

/* Docker names blobs by digest ("<hex>.json", "blobs/sha256/<hex>"); when a
 * name has that form, the digest is checked too. */
static char *digest_from_name(const char *name)
{
    const char *base = strrchr(name, '/');
    char *d;

    base = base ? base + 1 : name;
    d = hr_xasprintf("sha256:%.64s", base);
    if (!hr_digest_valid(d) || (base[64] && strcmp(base + 64, ".json") != 0) ||
        (strcmp(name, base) != 0 && !strstr(name, "blobs/sha256/"))) {
        free(d);
        return NULL;
    }
    return d;
}

/* The layers: read in place from an uncompressed archive; a compressed one
 * stays open in img->archive and the layers stream from it. */
static int docker_layers(struct hr_oci_image *img, const char *file, json_t *entry,
                         struct hr_tarfile *tf)
{
    json_t *layers = json_object_get(entry, "Layers"), *l;
    bool is_streamed = hr_tarfile_is_compressed(tf);
    size_t i;

    if (!json_is_array(layers)) {
        hr_err("%s: manifest.json has no Layers", file);
        return -1;
    }
    img->n_layers = json_array_size(layers);
    img->layers = hr_xmalloc((img->n_layers + 1) * sizeof(*img->layers));
    memset(img->layers, 0, (img->n_layers + 1) * sizeof(*img->layers));
    json_array_foreach(layers, i, l)
    {
        const char *name = json_string_value(l);
        const struct hr_tar_member *tm = name ? hr_tarfile_find(tf, name) : NULL;
        if (!tm) {
            hr_err("%s: layer %s is not in the archive", file, name ? name : "?");
            return -1;
        }
        img->layers[i].path = hr_xstrdup(file);
        img->layers[i].offset = is_streamed ? 0 : tm->offset;
        img->layers[i].size = tm->size;
        img->layers[i].member = is_streamed ? tm : NULL;
        img->layers[i].digest =
            strstr(name, "blobs/sha256/") ? digest_from_name(name) : NULL;
    }
    return 0;
}

int hr_docker_archive_open(struct hr_oci_image *img, const char *file)
{
    struct hr_tarfile *tf = hr_tarfile_open(file);
    const struct hr_tar_member *tm;
    hr_autofree char *text = NULL, *ctext = NULL, *cdigest = NULL;
    json_t *manifest = NULL, *entry;
    json_error_t jerr;
    const char *cname;
    size_t clen;
    int rc = -1;

    if (!tf)
        return -1;
    if (!(tm = hr_tarfile_find(tf, "manifest.json"))) {
        hr_err("%s: not a docker save archive (no manifest.json)", file);
        goto out;
    }
    if (!(text = hr_tarfile_read_all(tf, tm, JSON_MAX)))
        goto out;
    manifest = json_loadb(text, (size_t)tm->size, 0, &jerr);
    if (!json_is_array(manifest) || json_array_size(manifest) == 0) {
        hr_err("%s: manifest.json: %s", file,
               manifest ? "not a list of images" : jerr.text);
        goto out;
    }
    if (json_array_size(manifest) > 1)
        hr_warn("%s: %zu images in the archive, converting the first", file,
                json_array_size(manifest));
    entry = json_array_get(manifest, 0);
    cname = jstr(entry, "Config");
    if (!cname || !(tm = hr_tarfile_find(tf, cname))) {
        hr_err("%s: image config %s is not in the archive", file, cname ? cname : "?");
        goto out;
    }
    if (!(ctext = hr_tarfile_read_all(tf, tm, JSON_MAX)))
        goto out;
    clen = (size_t)tm->size;
    if (docker_layers(img, file, entry, tf) < 0)
        goto out;
    cdigest = digest_from_name(cname);
    if (!cdigest)
        hr_sha256_buf(ctext, clen, cdigest = hr_xmalloc(HR_DIGEST_LEN + 1));
    rc = config_load(img, ctext, clen, cdigest);
out:
    json_decref(manifest);
    if (rc == 0 && hr_tarfile_is_compressed(tf))
        img->archive = tf;
    else
        hr_tarfile_close(tf);
    return rc;
}

void hr_oci_image_free(struct hr_oci_image *img)
{
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].path);
        free(img->layers[i].digest);
        free(img->layers[i].diff_id);
    }
    free(img->layers);
    free(img->reference);
    free(img->manifest_digest);
    free(img->config_digest);
    free(img->platform);
    json_decref(img->config);
    hr_tarfile_close(img->archive);
    memset(img, 0, sizeof(*img));
}
