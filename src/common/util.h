/* Small helpers shared by all modules: allocation that cannot fail silently,
 * string vectors, lexical path handling, cleanup attributes. */
#ifndef HR_UTIL_H
#define HR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Out of memory is not recoverable for a launcher: these abort with a message. */
void *hr_xmalloc(size_t n);
void *hr_xrealloc(void *p, size_t n);
char *hr_xstrdup(const char *s);
char *hr_xstrndup(const char *s, size_t n);
char *hr_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable NULL-terminated vector of heap strings. */
struct hr_strv {
    char **v;
    size_t n, cap;
};
void hr_strv_push(struct hr_strv *sv, const char *s); /* copies s */
void hr_strv_push_owned(struct hr_strv *sv, char *s); /* takes s */
void hr_strv_free(struct hr_strv *sv);
bool hr_strv_has(const struct hr_strv *sv, const char *s);

/* Lexically normalise an absolute path: collapse "//", drop ".", resolve ".."
 * without going above "/", drop a trailing "/". Returns NULL if path is not
 * absolute. Touches no file system. */
char *hr_path_normalize(const char *path);
/* True if a component of path is "..". */
bool hr_path_has_dotdot(const char *path);
/* True if path equals dir or lies below it (both normalised, absolute). */
bool hr_path_is_under(const char *path, const char *dir);
/* "a" + "/" + "b" with exactly one slash between them. */
char *hr_path_join(const char *a, const char *b);

/* Format a one-line error into err (for pure functions that report through
 * their caller) and return -1. */
int hr_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write all of buf to fd, retrying on EINTR and short writes. Returns 0, or
 * -1 with errno set. */
int hr_write_all(int fd, const void *buf, size_t len);

/* Give an O_TMPFILE file (fd) the name path: linkat(2) through
 * /proc/self/fd, as open(2) describes. Returns 0, or -1 with errno set
 * (EEXIST if path exists). */
int hr_fd_link(int fd, const char *path);

/* Read a whole file (at most max bytes) into a NUL-terminated heap buffer. */
char *hr_read_file(const char *path, size_t max, size_t *len_out);
/* Write a string to a file, creating it (0644) if it does not exist; for
 * /proc files and files of hpcrun's own. Returns 0 or a negative errno. */
int hr_write_file(const char *path, const char *text);

/* FNV-1a over s, continuing from h (start with HR_HASH_INIT): for keys and
 * names, not for anything an attacker must not collide. */
#define HR_HASH_INIT 1469598103934665603ull
uint64_t hr_hash_str(uint64_t h, const char *s);

/* The n bytes of in as 2n lowercase hex digits and a NUL in out. */
void hr_hex_encode(const uint8_t *in, size_t n, char *out);

/* Cleanup helpers for code that can fail half-way. */
void hr_freep(void *p);
void hr_closep(int *fd);
void hr_fclosep(FILE **f);
#define hr_autofree __attribute__((cleanup(hr_freep)))
#define hr_autoclose __attribute__((cleanup(hr_closep)))
#define hr_autofclose __attribute__((cleanup(hr_fclosep)))

#define HR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Look up NAME in a NULL-terminated environment; NULL if absent. */
const char *hr_env_get(char **env, const char *name);

/* Read n bytes at off; returns bytes read (0 at the end) or a negative errno. */
typedef ssize_t (*hr_pread_fn)(void *ctx, void *buf, size_t n, off_t off);
/* Exactly n bytes at off through rd, or -1 (a short read, an error, or an
 * offset that does not fit). */
int hr_pread_exact(hr_pread_fn rd, void *ctx, void *buf, size_t n, uint64_t off);

#endif
