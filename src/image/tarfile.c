/* Members of a `docker save` tar (see tarfile.h). libarchive reads every
 * header, compressed or not: the project keeps no tar parser of its own.
 * For an uncompressed tar that is a regular file, the index records where
 * each member's data lies, so the layers are then read in place, in any
 * order, with pread. A compressed tar is read in order only. */
#include "autoconfig.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/tarfile.h"
#include "common/log.h"
#include "common/util.h"

/* The index pass of a compressed tar keeps members up to KEEP_MEMBER_MAX
 * bytes in memory, up to KEEP_MAX in all: manifest.json, the image config
 * and the small layers that usually sit on top of an image (an ENV, a
 * COPY of a script) then cost no further decompression. Memory stays
 * bounded whatever the size of the layers. */
#define KEEP_MEMBER_MAX ((off_t)1 << 20)
#define KEEP_MAX ((off_t)16 << 20)
#define STREAM_BLOCK (256u * 1024u)
#define TAR_BLOCK 512

struct hr_tarfile {
    char *path;
    int fd;          /* the file indexed; an uncompressed one is read from it */
    off_t file_size; /* of fd, when it is a regular file */
    bool is_compressed;
    struct hr_tar_member *members;
    size_t n_members;
    /* the current read */
    const struct hr_tar_member *cur;
    off_t cur_done;
    /* the libarchive reader: the index pass, and the decompressing stream
     * of a compressed tar */
    struct archive *stream;
    size_t at;       /* ordinal of the member it is in; 0: before the first */
    bool is_started; /* some of that member's data has been read */
    unsigned n_passes;
    char error[512];
};

static struct hr_tar_member *member_add(struct hr_tarfile *tf, char *name, off_t size,
                                        size_t ordinal)
{
    struct hr_tar_member *m;

    tf->members = hr_xrealloc(tf->members, (tf->n_members + 1) * sizeof(*tf->members));
    m = &tf->members[tf->n_members++];
    m->name = name;
    m->size = size;
    m->offset = -1;
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

/* ---- the libarchive reader ------------------------------------------------------ */

static void stream_close(struct hr_tarfile *tf)
{
    if (tf->stream)
        archive_read_free(tf->stream);
    tf->stream = NULL;
    tf->at = 0;
    tf->is_started = false;
}

/* Start reading the archive from its first byte: from tf->fd for the index
 * pass, so that what is indexed is what pread reads later; by its path for
 * a later pass over a compressed tar, so that a file replaced meanwhile is
 * noticed (stream_seek compares what it finds with the index). */
static int stream_open(struct hr_tarfile *tf, bool is_by_path)
{
    int r;

    stream_close(tf);
    tf->stream = archive_read_new();
    if (!tf->stream) {
        hr_err("out of memory");
        return -1;
    }
    archive_read_support_filter_all(tf->stream);
    archive_read_support_format_tar(tf->stream);
    if (is_by_path) {
        r = archive_read_open_filename(tf->stream, tf->path, STREAM_BLOCK);
    } else if (lseek(tf->fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
        hr_err("%s: %s", tf->path, strerror(errno));
        stream_close(tf);
        return -1;
    } else {
        r = archive_read_open_fd(tf->stream, tf->fd, STREAM_BLOCK);
    }
    if (r != ARCHIVE_OK) {
        hr_err("%s: not a tar archive, plain or compressed: %s", tf->path,
               archive_error_string(tf->stream));
        stream_close(tf);
        return -1;
    }
    return 0;
}

static const char *entry_name(struct archive_entry *e)
{
    const char *p = archive_entry_pathname_utf8(e);
    return p ? p : archive_entry_pathname(e);
}

/* libarchive's tar reader reports a malformed header that it worked around
 * (a PAX record that is not "LEN key=value\n", a sparse map it cannot
 * read, too many extension headers) as a warning and goes on with what
 * it could read: a member under another name, or of another size. The
 * archives read here are written by tools, so such a header is damage,
 * and an error. The one warning that is no damage is a name that does not
 * convert to the current locale (a UTF-8 name under LANG=C): entry_name()
 * takes the UTF-8 form. The reader tags only that warning with
 * ARCHIVE_ERRNO_FILE_FORMAT, which is EILSEQ where there is no EFTYPE
 * (set_conversion_failed_error in archive_read_support_format_tar.c,
 * archive_platform.h); any other warning counts as damage. */
static bool is_damage_warning(struct archive *a)
{
    return archive_errno(a) != EILSEQ;
}

/* Move to the next header: 1, 0 at the end of the archive, -1 (logged). */
static int stream_next(struct hr_tarfile *tf, struct archive_entry **e)
{
    int r = archive_read_next_header(tf->stream, e);

    if (r == ARCHIVE_EOF)
        return 0;
    if (r == ARCHIVE_WARN && is_damage_warning(tf->stream)) {
        const char *name = entry_name(*e);
        hr_err("%s: corrupt archive: malformed header of %s (%s)", tf->path,
               name && *name ? name : "a member", archive_error_string(tf->stream));
        return -1;
    }
    if (r < ARCHIVE_WARN) {
        hr_err("%s: %s: %s", tf->path,
               tf->at || archive_format(tf->stream)
                   ? "corrupt archive"
                   : "not a tar archive, plain or compressed",
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

/* ---- the index pass ------------------------------------------------------------- */

/* Where the data of member m lies in an uncompressed tar. libarchive has
 * just consumed the header block(s) of m (its ustar header and any PAX or
 * GNU long-name records before it) and nothing of its data, so the count
 * of bytes it took from the file is the data's offset. That count must be
 * block-aligned, past the header, and the data must end inside the file:
 * a pread of the member never leaves it. */
static int member_locate(struct hr_tarfile *tf, struct hr_tar_member *m)
{
    la_int64_t header = archive_read_header_position(tf->stream);
    la_int64_t data = archive_filter_bytes(tf->stream, 0);

    if (header < 0 || data < header + TAR_BLOCK || data % TAR_BLOCK) {
        hr_err("%s: %s: cannot locate its data (header at %lld, data at %lld)", tf->path,
               m->name, (long long)header, (long long)data);
        return -1;
    }
    if (data > tf->file_size || m->size > tf->file_size - data) {
        hr_err("%s: truncated archive: %s needs %lld bytes from offset %lld, the file "
               "has %lld",
               tf->path, m->name, (long long)m->size, (long long)data,
               (long long)tf->file_size);
        return -1;
    }
    m->offset = data;
    return 0;
}

/* A compressed tar: keep member m in memory if it is small enough. */
static int member_keep(struct hr_tarfile *tf, struct hr_tar_member *m, off_t *kept)
{
    if (m->size > KEEP_MEMBER_MAX || *kept + m->size > KEEP_MAX)
        return 0;
    m->data = hr_xmalloc((size_t)m->size + 1);
    for (off_t got = 0; got < m->size;) {
        ssize_t n = stream_read(tf, m->data + got, (size_t)(m->size - got));
        if (n < 0) {
            hr_err("%s", tf->error);
            return -1;
        }
        got += n;
    }
    *kept += m->size;
    return 0;
}

/* The members indexed: regular files with data of their own. A hard link
 * carries none, and the data of a sparse file is not its content as
 * stored. */
static bool is_member(struct archive_entry *e)
{
    return entry_name(e) && archive_entry_filetype(e) == AE_IFREG &&
           !archive_entry_hardlink(e) && archive_entry_sparse_count(e) == 0;
}

/* One pass over the archive from tf->fd. An uncompressed regular file is
 * then read in place (libarchive skips the data with lseek); anything else
 * is a stream, and this pass is its first decompression. */
static int index_archive(struct hr_tarfile *tf)
{
    struct archive_entry *e;
    struct stat st;
    off_t kept = 0;
    int r;

    if (fstat(tf->fd, &st) < 0) {
        hr_err("%s: %s", tf->path, strerror(errno));
        return -1;
    }
    tf->file_size = st.st_size;
    if (stream_open(tf, false) < 0)
        return -1;
    while ((r = stream_next(tf, &e)) > 0) {
        struct hr_tar_member *m;
        if (tf->at == 1) {
            tf->is_compressed = !S_ISREG(st.st_mode) ||
                                archive_filter_code(tf->stream, 0) != ARCHIVE_FILTER_NONE;
            tf->n_passes = tf->is_compressed ? 1 : 0;
        }
        if (!is_member(e))
            continue;
        m = member_add(tf, hr_xstrdup(entry_name(e)), archive_entry_size(e), tf->at);
        if (tf->is_compressed ? member_keep(tf, m, &kept) < 0 : member_locate(tf, m) < 0)
            return -1;
    }
    /* libarchive skips data with lseek, which succeeds past the end of a
     * file; a reader that did not notice would see the end of the archive
     * there. The index then reached beyond the file: it is cut short. */
    if (r == 0 && !tf->is_compressed &&
        archive_filter_bytes(tf->stream, 0) > tf->file_size) {
        hr_err("%s: truncated archive: it ends inside a member", tf->path);
        r = -1;
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
        if (stream_open(tf, true) < 0)
            return -1;
        tf->n_passes++;
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

    memset(tf, 0, sizeof(*tf));
    tf->path = hr_xstrdup(path);
    tf->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (tf->fd < 0) {
        hr_err("%s: %s", path, strerror(errno));
        goto fail;
    }
    if (index_archive(tf) < 0)
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
