/* The conversion, as a list of named steps: open the source, open a hidden
 * output file next to the destination, write the metadata and the layers top
 * first, finish the image, sync it and publish it under its name. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "image/convert.h"
#include "common/log.h"
#include "common/util.h"
#include "image/fstree.h"
#include "image/layer.h"
#include "image/oci.h"
#include "image/sqfswriter.h"

#define META_DIR ".hpcrun"
/* The OCI config fields hpcrun applies (see hr_image_config_parse). */
static const char *const config_keys[] = {"Env",        "Entrypoint", "Cmd",
                                          "WorkingDir", "User",       "Labels"};

/* ---- the output file ----------------------------------------------------------------
 */

/* The name of a not yet published output, for the signal handler. */
static char tmp_name[4096];

static void on_fatal_signal(int sig)
{
    /* Only async-signal-safe calls: drop the partial file, die by sig. */
    if (tmp_name[0])
        unlink(tmp_name);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < HR_ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
}

struct output {
    const char *dest;
    char *dir;
    int fd;
    bool is_anonymous; /* O_TMPFILE: it has no name until published */
};

/* An O_TMPFILE file has no name, so not even SIGKILL or a crash can leave
 * it behind; file systems without O_TMPFILE get a hidden named temp file
 * that the signal handler and the failure path remove. */
static int output_open(struct output *out, const char *dest)
{
    hr_autofree char *copy = hr_xstrdup(dest);
    mode_t mask = umask(0);

    umask(mask);
    out->dest = dest;
    out->dir = hr_xstrdup(dirname(copy));
    out->fd = open(out->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666 & ~mask);
    out->is_anonymous = out->fd >= 0;
    if (out->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        free(copy);
        copy = hr_xstrdup(dest);
        snprintf(tmp_name, sizeof(tmp_name), "%s/.%s.XXXXXX", out->dir, basename(copy));
        catch_signals();
        out->fd = mkostemp(tmp_name, O_CLOEXEC);
        if (out->fd < 0)
            tmp_name[0] = '\0';
        else
            fchmod(out->fd, 0666 & ~mask);
    }
    if (out->fd < 0) {
        hr_err("%s: cannot create the output file: %s", dest, strerror(errno));
        return -1;
    }
    return 0;
}

static void output_discard(struct output *out)
{
    if (out->fd >= 0)
        close(out->fd);
    out->fd = -1;
    if (tmp_name[0])
        unlink(tmp_name);
    tmp_name[0] = '\0';
    free(out->dir);
    out->dir = NULL;
}

/* Sync the data, give it a name, rename over dest, sync the directory. */
static int output_publish(struct output *out)
{
    hr_autoclose int dfd = -1;

    if (fsync(out->fd) < 0) {
        hr_err("%s: %s", out->dest, strerror(errno));
        return -1;
    }
    if (out->is_anonymous) {
        hr_autofree char *copy = hr_xstrdup(out->dest);
        int rc, n = 0;
        catch_signals();
        do { /* a name no other conversion (or a crashed one) holds */
            snprintf(tmp_name, sizeof(tmp_name), "%s/.%s.%ld.%d", out->dir,
                     basename(copy), (long)getpid(), n++);
            rc = hr_fd_link(out->fd, tmp_name);
        } while (rc < 0 && errno == EEXIST && n < 100);
        if (rc < 0) {
            hr_err("%s: cannot name the output file: %s", out->dest, strerror(errno));
            tmp_name[0] = '\0';
            return -1;
        }
    }
    if (rename(tmp_name, out->dest) < 0) {
        hr_err("%s: %s", out->dest, strerror(errno));
        return -1;
    }
    tmp_name[0] = '\0';
    dfd = open(out->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    return 0;
}

/* ---- /.hpcrun metadata
 * ------------------------------------------------------------------- */

static char *format_time(int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char buf[64];

    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return hr_xstrdup(buf);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *out = hr_xasprintf("%s\n", s ? s : "{}");
    free(s);
    json_decref(j);
    return out;
}

static char *config_json(const struct hr_oci_image *img)
{
    json_t *out = json_object();

    for (size_t i = 0; i < HR_ARRAY_LEN(config_keys); i++) {
        json_t *v = img->config ? json_object_get(img->config, config_keys[i]) : NULL;
        /* Docker writes "WorkingDir": "" and "User": "" for "not set". */
        if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v)))
            json_object_set(out, config_keys[i], v);
    }
    return dump(out);
}

/* "oci:DIR:TAG": the tag is what follows the last ':' unless that would
 * leave a DIR that does not exist while the whole string does. */
static char *oci_split(const char *arg, const char **tag)
{
    char *dir = hr_xstrdup(arg);
    char *colon = strrchr(dir, ':');
    struct stat st;

    *tag = NULL;
    if (colon && !strchr(colon, '/') && !(stat(arg, &st) == 0 && S_ISDIR(st.st_mode))) {
        *colon++ = '\0';
        *tag = *colon ? arg + (colon - dir) : NULL;
    }
    return dir;
}

/* The source as source.json records it: a registry reference as it is, a
 * local source by its kind and last path component ("oci:DIR/app:v1" ->
 * "oci:app:v1"), so the same layout or archive gives the same bytes
 * wherever it lies and however its path was typed. */
static char *source_name(const char *reference)
{
    static const char *const kinds[] = {"oci:", "docker-archive:", "dir:"};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = strlen(kinds[i]);
        const char *tag = NULL, *base;
        hr_autofree char *path = NULL;
        size_t len;

        if (strncmp(reference, kinds[i], n) != 0)
            continue;
        path = i == 0 ? oci_split(reference + n, &tag) : hr_xstrdup(reference + n);
        for (len = strlen(path); len > 1 && path[len - 1] == '/'; len--)
            path[len - 1] = '\0';
        base = strrchr(path, '/') && path[1] ? strrchr(path, '/') + 1 : path;
        return hr_xasprintf("%s%s%s%s", kinds[i], base, tag ? ":" : "", tag ? tag : "");
    }
    return hr_xstrdup(reference);
}

/* "converted" is the image's creation time, not the clock: the same input
 * must give the same bytes, so nothing in the image depends on when or
 * where the conversion ran. */
static char *source_json(const struct hr_oci_image *img)
{
    hr_autofree char *when = format_time(img->created);
    hr_autofree char *name = source_name(img->reference);
    json_t *out = json_object();

    json_object_set_new(out, "reference", json_string(name));
    json_object_set_new(out, "manifest_digest",
                        img->manifest_digest ? json_string(img->manifest_digest)
                                             : json_null());
    json_object_set_new(out, "config_digest",
                        img->config_digest ? json_string(img->config_digest)
                                           : json_null());
    json_object_set_new(out, "platform",
                        img->platform ? json_string(img->platform) : json_null());
    json_object_set_new(out, "created", json_string(when));
    json_object_set_new(out, "converted", json_string(when));
    json_object_set_new(out, "converter", json_string("hpcimg " PACKAGE_VERSION));
    return dump(out);
}

static int add_meta_file(struct hr_fstree *t, struct hr_sqfs_writer *w, const char *path,
                         const char *text)
{
    struct hr_node *n;

    if (hr_fstree_place(t, 0, path, S_IFREG, &n) != HR_ADD)
        return -1;
    n->mode = S_IFREG | 0644;
    return hr_sqfs_file_write(w, n, text, strlen(text));
}

/* Layer 0: /.hpcrun, above every image layer, so an image cannot bring its
 * own (nothing below /.hpcrun from the image is kept). */
static int add_metadata(struct hr_fstree *t, struct hr_sqfs_writer *w,
                        const struct hr_oci_image *img)
{
    hr_autofree char *cfg = config_json(img);
    hr_autofree char *src = source_json(img);
    struct hr_node *dir;

    if (hr_fstree_place(t, 0, META_DIR, S_IFDIR, &dir) != HR_ADD)
        return -1;
    dir->mode = S_IFDIR | 0755;
    dir->opaque_layer = 0;
    if (add_meta_file(t, w, META_DIR "/config.json", cfg) < 0 ||
        add_meta_file(t, w, META_DIR "/source.json", src) < 0)
        return -1;
    return 0;
}

/* ---- sources
 * ---------------------------------------------------------------------------------- */

static int open_oci(struct hr_oci_image *img, const char *arg, const char *platform)
{
    const char *tag;
    hr_autofree char *dir = oci_split(arg, &tag);

    return hr_oci_layout_open(img, dir, tag, platform);
}

static int source_open(struct hr_oci_image *img, const char *src, const char *platform,
                       const char **dir_out)
{
    memset(img, 0, sizeof(*img));
    img->reference = hr_xstrdup(src);
    *dir_out = NULL;
    if (strncmp(src, "oci:", 4) == 0)
        return open_oci(img, src + 4, platform);
    if (strncmp(src, "docker-archive:", 15) == 0)
        return hr_docker_archive_open(img, src + 15);
    if (strncmp(src, "dir:", 4) == 0) {
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        struct stat st;
        if (stat(src + 4, &st) < 0) {
            hr_err("%s: %s", src + 4, strerror(errno));
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            hr_err("%s: not a directory", src + 4);
            return -1;
        }
        /* A directory has no creation time of its own: SOURCE_DATE_EPOCH
         * (reproducible-builds.org) or the epoch keeps the output stable. */
        img->created = sde ? strtoll(sde, NULL, 10) : 0;
        *dir_out = src + 4;
        return 0;
    }
    hr_err("%s: unknown source (use oci:DIR[:TAG], docker-archive:FILE or dir:DIR)", src);
    return -1;
}

static int write_layers(struct hr_fstree *t, struct hr_sqfs_writer *w,
                        const struct hr_oci_image *img, const char *dir)
{
    if (dir)
        return hr_dir_read(t, w, 1, dir);
    /* Top layer first: what it provides hides the same paths below. */
    for (size_t i = img->n_layers; i-- > 0;) {
        const struct hr_oci_layer *l = &img->layers[i];
        struct hr_layer_src s = {
            .path = l->path,
            .offset = l->offset,
            .size = l->size,
            .archive = img->archive,
            .member = l->member,
            .name = l->digest ? l->digest : l->diff_id,
            .blob_digest = l->digest,
            .diff_id = l->diff_id,
        };
        hr_autofree char *label =
            hr_xasprintf("layer %zu/%zu %.19s", img->n_layers - i, img->n_layers, s.name);
        s.progress = label;
        hr_info("layer %zu/%zu %s", img->n_layers - i, img->n_layers, s.name);
        if (hr_layer_read(t, w, (int)(img->n_layers - i), &s) < 0)
            return -1;
    }
    return 0;
}

/* An image for another architecture converts as well as any, but its
 * programs will not run on this host, where it is most likely meant to run:
 * say so, unless --platform asked for that platform. */
static void warn_foreign_arch(const struct hr_oci_image *img,
                              const struct hr_convert_opts *o)
{
    const char *host = hr_host_platform();
    const char *arch = img->platform ? strchr(img->platform, '/') : NULL;
    const char *host_arch = strchr(host, '/');
    size_t n;

    if (o->platform || !arch || !host_arch)
        return;
    n = strcspn(++arch, "/");
    host_arch++;
    if ((n == 7 && strncmp(arch, "unknown", n) == 0) ||
        (strlen(host_arch) == n && strncmp(arch, host_arch, n) == 0))
        return;
    hr_warn("%s: an image for %s, this host is %s: its programs will not run here "
            "(--platform %s says that is intended)",
            img->reference, img->platform, host, img->platform);
}

/* Write img (or the directory tree dir) to dest, published atomically. */
static int convert_to(const struct hr_oci_image *img, const char *dir, const char *dest,
                      const struct hr_convert_opts *o)
{
    struct output out = {.fd = -1};
    struct hr_fstree tree = {0};
    struct hr_sqfs_writer *w = NULL;
    struct hr_sqfs_opts so = {.comp = o->comp,
                              .threads = o->threads,
                              .level = o->level,
                              .block_size = o->block_size};
    int rc = -1;

    warn_foreign_arch(img, o);
    if (output_open(&out, dest) < 0)
        goto out;
    so.mtime = hr_fstree_time(img->created);
    if (!(w = hr_sqfs_writer_open(out.fd, dest, &so)))
        goto out;
    hr_fstree_init(&tree, hr_fstree_time(img->created));
    if (add_metadata(&tree, w, img) < 0 || write_layers(&tree, w, img, dir) < 0 ||
        hr_sqfs_writer_finish(w, &tree) < 0 || output_publish(&out) < 0)
        goto out;
    hr_info("%s: written", dest);
    rc = 0;
out:
    hr_sqfs_writer_free(w);
    hr_fstree_free(&tree);
    output_discard(&out);
    return rc;
}

int hr_convert_image(const struct hr_oci_image *img, const char *dest,
                     const struct hr_convert_opts *o)
{
    return convert_to(img, NULL, dest, o);
}

/* The file or directory SRC reads (malloc'd; NULL for an unknown kind,
 * which source_open reports), and whether it is a directory. */
static char *source_input(const char *src, bool *is_dir)
{
    const char *tag;

    *is_dir = strncmp(src, "docker-archive:", 15) != 0;
    if (strncmp(src, "oci:", 4) == 0)
        return oci_split(src + 4, &tag);
    if (strncmp(src, "docker-archive:", 15) == 0)
        return hr_xstrdup(src + 15);
    if (strncmp(src, "dir:", 4) == 0)
        return hr_xstrdup(src + 4);
    return NULL;
}

/* Refuse a dest that names an input: the source file under any of its
 * names (a hard or symbolic link, a path through ".."), or a file inside a
 * source directory (an OCI layout's blob, a file of a dir: tree). The
 * output would replace it once complete, and with it the input. Checked
 * before anything is written; a dest that does not exist yet names
 * nothing. 0 or -1 (logged). */
static int output_is_not_input(const char *src, const char *dest)
{
    bool is_dir;
    hr_autofree char *input = source_input(src, &is_dir);
    hr_autofree char *dest_real = NULL, *input_real = NULL;
    struct stat ds, is;

    if (!input || stat(dest, &ds) < 0 || stat(input, &is) < 0)
        return 0;
    if ((ds.st_dev == is.st_dev && ds.st_ino == is.st_ino) ||
        (is_dir && (dest_real = realpath(dest, NULL)) &&
         (input_real = realpath(input, NULL)) &&
         hr_path_is_under(dest_real, input_real))) {
        hr_err("%s: the output would replace the input %s: write it elsewhere", dest,
               src);
        return -1;
    }
    return 0;
}

int hr_convert(const char *src, const char *dest, const struct hr_convert_opts *o)
{
    struct hr_oci_image img;
    const char *dir;
    int rc = -1;

    if (output_is_not_input(src, dest) < 0)
        return -1;
    if (source_open(&img, src, o->platform, &dir) == 0)
        rc = convert_to(&img, dir, dest, o);
    hr_oci_image_free(&img);
    return rc;
}
