#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"

static void oom(void)
{
    hr_err("out of memory");
    abort();
}

void *hr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *hr_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

char *hr_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        oom();
    return d;
}

char *hr_xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        oom();
    return d;
}

char *hr_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        oom();
    va_end(ap);
    return s;
}

int hr_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void hr_strv_push_owned(struct hr_strv *sv, char *s)
{
    if (sv->n + 2 > sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = hr_xrealloc(sv->v, sv->cap * sizeof(char *));
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

void hr_strv_push(struct hr_strv *sv, const char *s)
{
    hr_strv_push_owned(sv, hr_xstrdup(s));
}

uint64_t hr_hash_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

int hr_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int hr_fd_link(int fd, const char *path)
{
    char proc[64];

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

bool hr_strv_has(const struct hr_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

void hr_strv_free(struct hr_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

char *hr_path_normalize(const char *path)
{
    size_t len;
    char *out;
    size_t o = 0;

    if (!path || path[0] != '/')
        return NULL;
    len = strlen(path);
    out = hr_xmalloc(len + 2);
    out[o++] = '/';
    for (const char *p = path; *p;) {
        const char *end;
        size_t n;

        while (*p == '/')
            p++;
        if (!*p)
            break;
        end = strchrnul(p, '/');
        n = (size_t)(end - p);
        if (n == 1 && p[0] == '.') {
            /* nothing */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--; /* the slash before the dropped component */
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p = end;
    }
    out[o] = '\0';
    return out;
}

bool hr_path_has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

bool hr_path_is_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return path[0] == '/';
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

char *hr_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);

    while (la > 0 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    return hr_xasprintf("%.*s/%s", (int)la, a, b);
}

char *hr_read_file(const char *path, size_t max, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    /* The buffer grows as the file turns out longer: max is a bound (8 MiB
     * for an image's JSON), not what a small file should cost. */
    size_t len = 0, cap = max < 65536 ? max : 65536;
    char *buf;

    if (fd < 0)
        return NULL;
    buf = hr_xmalloc(cap + 1);
    while (len < max) {
        ssize_t r;
        if (len == cap) {
            cap = cap > max / 2 ? max : cap * 2;
            buf = hr_xrealloc(buf, cap + 1);
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

int hr_write_file(const char *path, const char *text)
{
    /* O_CREAT: also makes new files (0644); proc files simply exist */
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    ssize_t w;

    if (fd < 0)
        return -errno;
    w = write(fd, text, len);
    if (w < 0 || (size_t)w != len) {
        int e = w < 0 ? errno : EIO;
        close(fd);
        return -e;
    }
    if (close(fd) < 0)
        return -errno;
    return 0;
}

void hr_freep(void *p)
{
    free(*(void **)p);
}

void hr_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

void hr_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

void hr_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        *out++ = hex[in[i] >> 4];
        *out++ = hex[in[i] & 15];
    }
    *out = '\0';
}

const char *hr_env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

int hr_pread_exact(hr_pread_fn rd, void *ctx, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;

    if (off > (uint64_t)INT64_MAX - n)
        return -1;
    while (got < n) {
        ssize_t r = rd(ctx, (char *)buf + got, n - got, (off_t)(off + got));
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}
