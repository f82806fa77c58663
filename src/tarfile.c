/* Members of a `docker save` tar (see tarfile.h). An uncompressed tar is
 * indexed by reading its 512-byte headers directly, skipping the data: the
 * offsets let the layers be read in place, in any order, for free. A
 * compressed tar goes through libarchive, in order only. */
#include "autoconfig.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tarfile.h"
#include "util.h"

/* The index pass of a compressed tar keeps members up to KEEP_MEMBER_MAX
 * bytes in memory, up to KEEP_MAX in all: manifest.json, the image config
 * and the small layers that usually sit on top of an image (an ENV, a
 * COPY of a script) then cost no further decompression. Memory stays
 * bounded whatever the size of the layers. */
#define KEEP_MEMBER_MAX ((off_t)1 << 20)
#define KEEP_MAX ((off_t)16 << 20)
#define HEADER_MAX ((off_t)1 << 20) /* a PAX or GNU long-name record */
#define STREAM_BLOCK (256u * 1024u)

struct hr_tarfile {
    char *path;
    int fd; /* uncompressed: for reading members in place */
    bool is_compressed;
    struct hr_tar_member *members;
    size_t n_members;
    /* the current read */
    const struct hr_tar_member *cur;
    off_t cur_done;
    /* the decompressing stream of a compressed tar */
    struct archive *stream;
    size_t at;       /* ordinal of the member it is in; 0: before the first */
    bool is_started; /* some of that member's data has been read */
    unsigned n_passes;
    char error[512];
};

static struct hr_tar_member *member_add(struct hr_tarfile *tf, char *name, off_t size,
                                        off_t offset, size_t ordinal)
{
    struct hr_tar_member *m;

    tf->members = hr_xrealloc(tf->members, (tf->n_members + 1) * sizeof(*tf->members));
    m = &tf->members[tf->n_members++];
    m->name = name;
    m->size = size;
    m->offset = offset;
    m->ordinal = ordinal;
    m->data = NULL;
    return m;
}

static int read_at(struct hr_tarfile *tf, void *buf, size_t size, off_t off)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = pread(tf->fd, (char *)buf + got, size - got, off + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(tf->error, sizeof(tf->error), "%s: %s", tf->path,
                     n < 0 ? strerror(errno) : "truncated");
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* ---- an uncompressed tar: its headers ------------------------------------------ */

static off_t tar_number(const char *f, size_t len)
{
    off_t v = 0;

    if ((unsigned char)f[0] & 0x80) { /* base-256, for sizes >= 8 GiB */
        for (size_t i = 1; i < len; i++)
            v = (v << 8) | (unsigned char)f[i];
        return v;
    }
    for (size_t i = 0; i < len && f[i]; i++) {
        if (f[i] == ' ')
            continue;
        if (f[i] < '0' || f[i] > '7')
            break;
        v = v * 8 + (f[i] - '0');
    }
    return v;
}

/* A tar header's checksum: the byte sum with the checksum field as spaces. */
static bool tar_checksum_ok(const char *h)
{
    unsigned long sum = 0;

    for (size_t i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : (unsigned char)h[i];
    return sum == (unsigned long)tar_number(h + 148, 8);
}

/* The "path" record of a PAX extended header, or NULL. */
static char *pax_path(const char *rec, size_t len)
{
    size_t i = 0;

    while (i < len) {
        char *end;
        unsigned long n = strtoul(rec + i, &end, 10);
        const char *kv = end + 1;
        if (n == 0 || i + n > len || *end != ' ')
            break;
        if (strncmp(kv, "path=", 5) == 0)
            return hr_xstrndup(kv + 5, (size_t)(rec + i + n - 1 - (kv + 5)));
        i += n;
    }
    return NULL;
}

/* Name -> offset and size of each regular file, from the headers alone. */
static int index_plain(struct hr_tarfile *tf)
{
    char h[512], *longname = NULL;
    size_t ordinal = 0;
    off_t pos = 0;

    for (;;) {
        off_t size;
        char type;
        if (pread(tf->fd, h, sizeof(h), pos) != (ssize_t)sizeof(h) || !h[0] ||
            !tar_checksum_ok(h))
            break;
        size = tar_number(h + 124, 12);
        type = h[156];
        if (type == 'L' || type == 'x') {
            hr_autofree char *rec = NULL;
            if (size > HEADER_MAX) {
                hr_err("%s: a tar header record of %lld bytes", tf->path,
                       (long long)size);
                goto fail;
            }
            rec = hr_xmalloc((size_t)size + 1);
            if (read_at(tf, rec, (size_t)size, pos + 512) < 0) {
                hr_err("%s", tf->error);
                goto fail;
            }
            free(longname);
            longname = type == 'L' ? hr_xstrndup(rec, (size_t)size)
                                   : pax_path(rec, (size_t)size);
        } else if (type == '0' || type == '\0' || type == '7') {
            char *name;
            if (longname) {
                name = longname;
                longname = NULL;
            } else if (memcmp(h + 257, "ustar", 5) == 0 && h[345]) {
                name = hr_xasprintf("%.155s/%.100s", h + 345, h);
            } else {
                name = hr_xstrndup(h, 100);
            }
            member_add(tf, name, size, pos + 512, ++ordinal);
        } else {
            free(longname);
            longname = NULL;
            ordinal++;
        }
        pos += 512 + ((size + 511) / 512) * 512;
    }
    free(longname);
    return 0;
fail:
    free(longname);
    return -1;
}

/* ---- a compressed tar: a stream ------------------------------------------------ */

static void stream_close(struct hr_tarfile *tf)
{
    if (tf->stream)
        archive_read_free(tf->stream);
    tf->stream = NULL;
    tf->at = 0;
    tf->is_started = false;
}

static int stream_open(struct hr_tarfile *tf)
{
    stream_close(tf);
    tf->stream = archive_read_new();
    if (!tf->stream) {
        hr_err("out of memory");
        return -1;
    }
    archive_read_support_filter_all(tf->stream);
    archive_read_support_format_tar(tf->stream);
    if (archive_read_open_filename(tf->stream, tf->path, STREAM_BLOCK) != ARCHIVE_OK) {
        hr_err("%s: not a tar archive, plain or compressed: %s", tf->path,
               archive_error_string(tf->stream));
        stream_close(tf);
        return -1;
    }
    tf->n_passes++;
    return 0;
}

static const char *entry_name(struct archive_entry *e)
{
    const char *p = archive_entry_pathname_utf8(e);
    return p ? p : archive_entry_pathname(e);
}

/* Move to the next header: 1, 0 at the end of the archive, -1 (logged). */
static int stream_next(struct hr_tarfile *tf, struct archive_entry **e)
{
    int r = archive_read_next_header(tf->stream, e);

    if (r == ARCHIVE_EOF)
        return 0;
    if (r < ARCHIVE_WARN) {
        hr_err("%s: %s: %s", tf->path,
               tf->at ? "corrupt archive" : "not a tar archive, plain or compressed",
               archive_error_string(tf->stream));
        return -1;
    }
    tf->at++;
    tf->is_started = false;
    return 1;
}

static ssize_t stream_read(struct hr_tarfile *tf, void *buf, size_t size)
{
    la_ssize_t n = archive_read_data(tf->stream, buf, size);

    tf->is_started = true;
    if (n < 0 || (n == 0 && size)) {
        snprintf(tf->error, sizeof(tf->error), "%s: %s", tf->path,
                 n < 0 ? archive_error_string(tf->stream) : "truncated");
        return -1;
    }
    return n;
}

static int index_stream(struct hr_tarfile *tf)
{
    struct archive_entry *e;
    off_t kept = 0;
    int r;

    if (stream_open(tf) < 0)
        return -1;
    while ((r = stream_next(tf, &e)) > 0) {
        const char *name = entry_name(e);
        struct hr_tar_member *m;
        if (!name || archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
            continue;
        m = member_add(tf, hr_xstrdup(name), archive_entry_size(e), -1, tf->at);
        if (m->size > KEEP_MEMBER_MAX || kept + m->size > KEEP_MAX)
            continue;
        m->data = hr_xmalloc((size_t)m->size + 1);
        for (off_t got = 0; got < m->size;) {
            ssize_t n = stream_read(tf, m->data + got, (size_t)(m->size - got));
            if (n < 0) {
                hr_err("%s", tf->error);
                return -1;
            }
            got += n;
        }
        kept += m->size;
    }
    stream_close(tf);
    return r;
}

/* Position the stream at the data of member m: forward from where it is,
 * or from the start again if m lies behind. */
static int stream_seek(struct hr_tarfile *tf, const struct hr_tar_member *m)
{
    struct archive_entry *e = NULL;
    const char *name;
    int r;

    if (tf->stream && (tf->at > m->ordinal || (tf->at == m->ordinal && tf->is_started)))
        stream_close(tf);
    if (tf->at == m->ordinal)
        return 0;
    if (!tf->stream) {
        hr_info("%s: decompressing from the start for %s (pass %u)", tf->path, m->name,
                tf->n_passes + 1);
        if (stream_open(tf) < 0)
            return -1;
    }
    while (tf->at < m->ordinal)
        if ((r = stream_next(tf, &e)) <= 0) {
            if (r == 0)
                hr_err("%s: changed while being read (%s is gone)", tf->path, m->name);
            return -1;
        }
    name = entry_name(e);
    if (!name || strcmp(name, m->name) != 0 || archive_entry_size(e) != m->size) {
        hr_err("%s: changed while being read (%s is not where it was)", tf->path,
               m->name);
        return -1;
    }
    return 0;
}

/* ---- the interface --------------------------------------------------------------- */

struct hr_tarfile *hr_tarfile_open(const char *path)
{
    struct hr_tarfile *tf = hr_xmalloc(sizeof(*tf));
    char h[512];

    memset(tf, 0, sizeof(*tf));
    tf->path = hr_xstrdup(path);
    tf->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (tf->fd < 0) {
        hr_err("%s: %s", path, strerror(errno));
        goto fail;
    }
    /* What `docker save` writes starts with a tar header; anything else is
     * left to libarchive's detection of compressors. */
    tf->is_compressed =
        !(pread(tf->fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && tar_checksum_ok(h));
    if (tf->is_compressed ? index_stream(tf) < 0 : index_plain(tf) < 0)
        goto fail;
    return tf;
fail:
    hr_tarfile_close(tf);
    return NULL;
}

void hr_tarfile_close(struct hr_tarfile *tf)
{
    if (!tf)
        return;
    stream_close(tf);
    for (size_t i = 0; i < tf->n_members; i++) {
        free(tf->members[i].name);
        free(tf->members[i].data);
    }
    free(tf->members);
    if (tf->fd >= 0)
        close(tf->fd);
    free(tf->path);
    free(tf);
}

bool hr_tarfile_is_compressed(const struct hr_tarfile *tf)
{
    return tf->is_compressed;
}

unsigned hr_tarfile_passes(const struct hr_tarfile *tf)
{
    return tf->n_passes;
}

const struct hr_tar_member *hr_tarfile_find(const struct hr_tarfile *tf, const char *name)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    for (size_t i = 0; i < tf->n_members; i++) {
        const char *mn = tf->members[i].name;
        while (mn[0] == '.' && mn[1] == '/')
            mn += 2;
        if (strcmp(mn, name) == 0)
            return &tf->members[i];
    }
    return NULL;
}

int hr_tarfile_begin(struct hr_tarfile *tf, const struct hr_tar_member *m)
{
    tf->cur = m;
    tf->cur_done = 0;
    if (m->data || m->offset >= 0)
        return 0;
    return stream_seek(tf, m);
}

ssize_t hr_tarfile_read(struct hr_tarfile *tf, void *buf, size_t size)
{
    const struct hr_tar_member *m = tf->cur;
    ssize_t n;

    if ((off_t)size > m->size - tf->cur_done)
        size = (size_t)(m->size - tf->cur_done);
    if (!size)
        return 0;
    if (m->data) {
        memcpy(buf, m->data + tf->cur_done, size);
        n = (ssize_t)size;
    } else if (m->offset >= 0) {
        if (read_at(tf, buf, size, m->offset + tf->cur_done) < 0)
            return -1;
        n = (ssize_t)size;
    } else if ((n = stream_read(tf, buf, size)) < 0) {
        return -1;
    }
    tf->cur_done += n;
    return n;
}

const char *hr_tarfile_error(const struct hr_tarfile *tf)
{
    return tf->error;
}

char *hr_tarfile_read_all(struct hr_tarfile *tf, const struct hr_tar_member *m,
                          size_t max)
{
    char *buf;
    off_t got = 0;

    if ((size_t)m->size > max) {
        hr_err("%s: %s: too large (%lld bytes)", tf->path, m->name, (long long)m->size);
        return NULL;
    }
    if (hr_tarfile_begin(tf, m) < 0)
        return NULL;
    buf = hr_xmalloc((size_t)m->size + 1);
    while (got < m->size) {
        ssize_t n = hr_tarfile_read(tf, buf + got, (size_t)(m->size - got));
        if (n < 0) {
            hr_err("%s", tf->error);
            free(buf);
            return NULL;
        }
        got += n;
    }
    buf[got] = '\0';
    return buf;
}
