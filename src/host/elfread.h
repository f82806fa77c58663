/* What hpcrun needs to know of an ELF object before binding it into a
 * container: its soname, what it needs (DT_NEEDED), the symbol versions it
 * defines and needs, which glibc it needs and, for a libc.so.6, which glibc
 * it is. Read through a pread-like callback so that files of the host and of
 * an image (untrusted input, read through the image) go through the same
 * bounds-checked code; only the headers and the dynamic tables are read,
 * never the whole file. 64-bit little-endian objects only. */
#ifndef HR_ELFREAD_H
#define HR_ELFREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

/* Readers for the two usual sources: ctx is an int * (a file descriptor) for
 * hr_pread_fd, a struct hr_membuf * for hr_pread_mem. */
ssize_t hr_pread_fd(void *ctx, void *buf, size_t n, off_t off);
struct hr_membuf {
    const void *data;
    size_t len;
};
ssize_t hr_pread_mem(void *ctx, void *buf, size_t n, off_t off);

/* A symbol version an object needs of another (.gnu.version_r). */
struct hr_elf_verneed {
    char *file;    /* the soname it is needed of: "libibverbs.so.1" */
    char *version; /* "IBVERBS_1.1" */
};

struct hr_elf {
    char *soname;          /* DT_SONAME or NULL */
    struct hr_strv needed; /* DT_NEEDED, in order */
    /* the version definitions (.gnu.version_d), in order, less the base one
     * that names the object itself: "IBVERBS_1.0", ..., "IBVERBS_PRIVATE_34" */
    struct hr_strv verdefs;
    struct hr_elf_verneed *verneeds; /* the version needs, in order */
    size_t n_verneeds;
    unsigned glibc_need; /* highest GLIBC_x.y in its version needs (x*1000+y), 0: none */
    unsigned glibc_have; /* highest GLIBC_x.y it defines (libc.so.6 itself), 0: none */
};

/* Read the dynamic section and version tables of a 64-bit little-endian
 * ELF object through rd. An object without a dynamic section (a static
 * program) gives an empty description; one with more than 1024 version
 * definitions or needs is refused. Returns 0 or -1 with err set ("not a
 * 64-bit little-endian ELF object", "truncated ELF object", ...). */
int hr_elf_read(hr_pread_fn rd, void *ctx, struct hr_elf *out, char *err, size_t errlen);
/* The same for a file; err names the file. */
int hr_elf_read_path(const char *path, struct hr_elf *out, char *err, size_t errlen);
void hr_elf_free(struct hr_elf *e);
/* dst becomes a copy of src, which hr_elf_free frees on its own. */
void hr_elf_copy(struct hr_elf *dst, const struct hr_elf *src);

/* An ELF object as the readers above take it: read through rd(ctx, ...). */
struct hr_elf_source {
    hr_pread_fn rd;
    void *ctx;
};

/* The string a defined data symbol of the dynamic symbol table points to
 * ("MPII_Version_string" -> "4.0.2"): printable ASCII, at most 127 bytes.
 * Returns 1 with *out set (heap), 0 if the object has no such symbol (or it
 * is no string), -1 with err set if the object cannot be read. */
int hr_elf_symbol_string(const struct hr_elf_source *src, const char *symbol, char **out,
                         char *err, size_t errlen);

/* "2.34" for 2034 */
char *hr_glibc_version_str(unsigned v);
/* 2034 for the version name "GLIBC_2.34" (2002 for "GLIBC_2.2.5"; 2036 for
 * "GLIBC_ABI_DT_RELR", which glibc 2.36 introduced); 0 for anything else
 * ("GLIBC_PRIVATE", "GLIBCXX_3.4"). */
unsigned hr_glibc_version_parse(const char *name);
/* True for the sonames of glibc's own libraries (libc.so.6, libm.so.6,
 * libpthread.so.0, ld-linux-x86-64.so.2, ...): those must come from the
 * image, never from the host. */
bool hr_soname_is_glibc(const char *soname);

#endif
