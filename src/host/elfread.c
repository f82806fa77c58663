/* ELF reading for host-library planning. The image's libraries (its
 * libc.so.6, its MPI, its copies of the host's driver libraries) are
 * untrusted input, so: every read goes through read_at(), which checks the
 * offset arithmetic; every table is located through the PT_LOAD segments and
 * must lie in the file part of one; every count is capped and every walk of
 * a linked table (the version records) spends one shared budget, so no input
 * makes it loop for long, grow without bound or read out of bounds. */
#include "autoconfig.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/elfread.h"

#define MAX_PHDRS 1024u
#define MAX_DYN 8192u
#define MAX_NAME 4096u         /* longest soname or version name read */
#define MAX_RECORDS 16384u     /* version records walked, all tables together */
#define MAX_VERSIONS 1024u     /* version names kept, per table */
#define MAX_SYMS (1u << 20)    /* dynamic symbols scanned */
#define MAX_BUCKETS (1u << 22) /* GNU hash buckets */
#define MAX_SYMSTR 127u        /* longest string hr_elf_symbol_string returns */

struct elf_file {
    hr_pread_fn rd;
    void *ctx;
    Elf64_Phdr *ph;
    size_t phnum;
    Elf64_Dyn *dyn;
    size_t ndyn;
    uint64_t strtab; /* file offset of the dynamic string table, 0: none */
    uint64_t strsz;
    unsigned budget; /* version records left to walk */
};

ssize_t hr_pread_fd(void *ctx, void *buf, size_t n, off_t off)
{
    ssize_t r;

    do
        r = pread(*(int *)ctx, buf, n, off);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

ssize_t hr_pread_mem(void *ctx, void *buf, size_t n, off_t off)
{
    const struct hr_membuf *m = ctx;

    if (off < 0)
        return -EINVAL;
    if ((uint64_t)off >= m->len)
        return 0;
    if (n > m->len - (size_t)off)
        n = m->len - (size_t)off;
    memcpy(buf, (const char *)m->data + off, n);
    return (ssize_t)n;
}

/* Up to n bytes at off (fewer at the end of the file); -1 on an error or an
 * offset that does not fit off_t. */
static ssize_t read_some(const struct elf_file *f, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;

    if (off > (uint64_t)INT64_MAX - n)
        return -1;
    while (got < n) {
        ssize_t r = f->rd(f->ctx, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int read_at(const struct elf_file *f, void *buf, size_t n, uint64_t off)
{
    return read_some(f, buf, n, off) == (ssize_t)n ? 0 : -1;
}

/* The file offset of [vaddr, vaddr + size) if it lies in the file part of one
 * PT_LOAD segment. */
static int vaddr_to_off(const struct elf_file *f, uint64_t vaddr, uint64_t size,
                        uint64_t *off)
{
    for (size_t i = 0; i < f->phnum; i++) {
        const Elf64_Phdr *p = &f->ph[i];
        if (p->p_type != PT_LOAD || vaddr < p->p_vaddr)
            continue;
        if (vaddr - p->p_vaddr > p->p_filesz || size > p->p_filesz - (vaddr - p->p_vaddr))
            continue;
        if (p->p_offset > UINT64_MAX - (vaddr - p->p_vaddr))
            return -1;
        *off = p->p_offset + (vaddr - p->p_vaddr);
        return 0;
    }
    return -1;
}

static bool dyn_get(const struct elf_file *f, int64_t tag, uint64_t *val)
{
    for (size_t i = 0; i < f->ndyn; i++)
        if (f->dyn[i].d_tag == tag) {
            *val = f->dyn[i].d_un.d_val;
            return true;
        }
    return false;
}

/* The dynamic string table's string at idx (heap), or NULL if it does not
 * end within the table and MAX_NAME bytes. */
static char *dyn_string(const struct elf_file *f, uint64_t idx)
{
    char buf[MAX_NAME];
    size_t n;
    ssize_t got;

    if (!f->strtab || idx >= f->strsz)
        return NULL;
    n = f->strsz - idx < sizeof(buf) ? (size_t)(f->strsz - idx) : sizeof(buf);
    got = read_some(f, buf, n, f->strtab + idx);
    if (got <= 0 || !memchr(buf, '\0', (size_t)got))
        return NULL;
    return hr_xstrdup(buf);
}

static void elf_close(struct elf_file *f)
{
    free(f->ph);
    free(f->dyn);
    memset(f, 0, sizeof(*f));
}

static int read_phdrs(struct elf_file *f, const Elf64_Ehdr *eh, char *err, size_t errlen)
{
    if (eh->e_phnum == 0)
        return 0;
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum > MAX_PHDRS)
        return hr_fail(err, errlen, "bad program header table");
    f->phnum = eh->e_phnum;
    f->ph = hr_xmalloc(f->phnum * sizeof(Elf64_Phdr));
    if (read_at(f, f->ph, f->phnum * sizeof(Elf64_Phdr), eh->e_phoff) < 0)
        return hr_fail(err, errlen, "truncated ELF object (program headers)");
    return 0;
}

static int read_dynamic(struct elf_file *f, char *err, size_t errlen)
{
    const Elf64_Phdr *dp = NULL;
    uint64_t strtab, n;

    for (size_t i = 0; i < f->phnum && !dp; i++)
        if (f->ph[i].p_type == PT_DYNAMIC)
            dp = &f->ph[i];
    if (!dp)
        return 0; /* a static program */
    n = dp->p_filesz / sizeof(Elf64_Dyn);
    f->ndyn = n > MAX_DYN ? MAX_DYN : (size_t)n;
    f->dyn = hr_xmalloc((f->ndyn ? f->ndyn : 1) * sizeof(Elf64_Dyn));
    if (read_at(f, f->dyn, f->ndyn * sizeof(Elf64_Dyn), dp->p_offset) < 0)
        return hr_fail(err, errlen, "truncated ELF object (dynamic section)");
    for (size_t i = 0; i < f->ndyn; i++)
        if (f->dyn[i].d_tag == DT_NULL) {
            f->ndyn = i;
            break;
        }
    if (!dyn_get(f, DT_STRTAB, &strtab))
        return 0;
    if (!dyn_get(f, DT_STRSZ, &f->strsz) || f->strsz == 0 ||
        vaddr_to_off(f, strtab, f->strsz, &f->strtab) < 0 || f->strtab == 0)
        return hr_fail(err, errlen, "bad dynamic string table");
    return 0;
}

static int elf_open(struct elf_file *f, hr_pread_fn rd, void *ctx, char *err,
                    size_t errlen)
{
    Elf64_Ehdr eh;

    memset(f, 0, sizeof(*f));
    f->rd = rd;
    f->ctx = ctx;
    f->budget = MAX_RECORDS;
    if (read_at(f, &eh, sizeof(eh), 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        return hr_fail(err, errlen, "not an ELF object");
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return hr_fail(err, errlen, "not a 64-bit little-endian ELF object");
    if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
        return hr_fail(err, errlen, "ELF objects are read on little-endian hosts only");
    if (read_phdrs(f, &eh, err, errlen) < 0 || read_dynamic(f, err, errlen) < 0) {
        elf_close(f);
        return -1;
    }
    return 0;
}

static void raise_to(unsigned *max, unsigned v)
{
    if (v > *max)
        *max = v;
}

/* Version needs (.gnu.version_r), and the highest GLIBC_x.y asked of a glibc
 * library. Each Elf64_Verneed names a file and chains its Elf64_Vernaux
 * records through vna_next; the Verneeds chain through vn_next (offsets
 * relative to the record). */
static int read_verneed(struct elf_file *f, struct hr_elf *out, char *err, size_t errlen)
{
    uint64_t addr, count = MAX_RECORDS, off;

    if (!dyn_get(f, DT_VERNEED, &addr))
        return 0;
    dyn_get(f, DT_VERNEEDNUM, &count);
    if (vaddr_to_off(f, addr, sizeof(Elf64_Verneed), &off) < 0)
        return hr_fail(err, errlen, "bad version needs table");
    for (uint64_t i = 0; i < count; i++) {
        Elf64_Verneed vn;
        hr_autofree char *file = NULL;
        uint64_t aux;
        bool is_glibc;

        if (!f->budget-- || read_at(f, &vn, sizeof(vn), off) < 0 ||
            !(file = dyn_string(f, vn.vn_file)))
            return hr_fail(err, errlen, "bad version needs table");
        is_glibc = hr_soname_is_glibc(file);
        aux = off + vn.vn_aux;
        for (unsigned j = 0; j < vn.vn_cnt; j++) {
            Elf64_Vernaux va;
            char *name;

            if (!f->budget-- || read_at(f, &va, sizeof(va), aux) < 0 ||
                !(name = dyn_string(f, va.vna_name)))
                return hr_fail(err, errlen, "bad version needs table");
            if (is_glibc)
                raise_to(&out->glibc_need, hr_glibc_version_parse(name));
            if (out->n_verneeds == MAX_VERSIONS) {
                free(name);
                return hr_fail(err, errlen, "more than %u version needs", MAX_VERSIONS);
            }
            out->verneeds = hr_xrealloc(out->verneeds,
                                        (out->n_verneeds + 1) * sizeof(*out->verneeds));
            out->verneeds[out->n_verneeds++] =
                (struct hr_elf_verneed){.file = hr_xstrdup(file), .version = name};
            if (va.vna_next == 0)
                break;
            aux += va.vna_next;
        }
        if (vn.vn_next == 0)
            break;
        off += vn.vn_next;
    }
    return 0;
}

/* Version definitions (.gnu.version_d), and the highest GLIBC_x.y defined.
 * The first Elf64_Verdaux of each Elf64_Verdef names it (the others name its
 * parents); the base definition (VER_FLG_BASE) is the object's own name. */
static int read_verdef(struct elf_file *f, struct hr_elf *out, char *err, size_t errlen)
{
    uint64_t addr, count = MAX_RECORDS, off;

    if (!dyn_get(f, DT_VERDEF, &addr))
        return 0;
    dyn_get(f, DT_VERDEFNUM, &count);
    if (vaddr_to_off(f, addr, sizeof(Elf64_Verdef), &off) < 0)
        return hr_fail(err, errlen, "bad version definitions table");
    for (uint64_t i = 0; i < count; i++) {
        Elf64_Verdef vd;
        Elf64_Verdaux va;

        if (!f->budget-- || read_at(f, &vd, sizeof(vd), off) < 0)
            return hr_fail(err, errlen, "bad version definitions table");
        if (!(vd.vd_flags & VER_FLG_BASE) && vd.vd_cnt > 0) {
            char *name;
            if (read_at(f, &va, sizeof(va), off + vd.vd_aux) < 0 ||
                !(name = dyn_string(f, va.vda_name)))
                return hr_fail(err, errlen, "bad version definitions table");
            raise_to(&out->glibc_have, hr_glibc_version_parse(name));
            if (out->verdefs.n == MAX_VERSIONS) {
                free(name);
                return hr_fail(err, errlen, "more than %u version definitions",
                               MAX_VERSIONS);
            }
            hr_strv_push_owned(&out->verdefs, name);
        }
        if (vd.vd_next == 0)
            break;
        off += vd.vd_next;
    }
    return 0;
}

static int read_names(struct elf_file *f, struct hr_elf *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < f->ndyn; i++) {
        const Elf64_Dyn *d = &f->dyn[i];
        char *s;

        if (d->d_tag != DT_NEEDED && d->d_tag != DT_SONAME)
            continue;
        if (!(s = dyn_string(f, d->d_un.d_val)))
            return hr_fail(err, errlen, "bad %s entry",
                           d->d_tag == DT_NEEDED ? "DT_NEEDED" : "DT_SONAME");
        if (d->d_tag == DT_NEEDED) {
            hr_strv_push_owned(&out->needed, s);
        } else {
            free(out->soname);
            out->soname = s;
        }
    }
    return 0;
}

int hr_elf_read(hr_pread_fn rd, void *ctx, struct hr_elf *out, char *err, size_t errlen)
{
    struct elf_file f;
    int rc;

    memset(out, 0, sizeof(*out));
    if (elf_open(&f, rd, ctx, err, errlen) < 0)
        return -1;
    rc = read_names(&f, out, err, errlen);
    if (rc == 0)
        rc = read_verneed(&f, out, err, errlen);
    if (rc == 0)
        rc = read_verdef(&f, out, err, errlen);
    elf_close(&f);
    if (rc < 0)
        hr_elf_free(out);
    return rc;
}

int hr_elf_read_path(const char *path, struct hr_elf *out, char *err, size_t errlen)
{
    hr_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    char why[256];

    memset(out, 0, sizeof(*out));
    if (fd < 0)
        return hr_fail(err, errlen, "%s: %s", path, strerror(errno));
    if (hr_elf_read(hr_pread_fd, &fd, out, why, sizeof(why)) < 0)
        return hr_fail(err, errlen, "%s: %s", path, why);
    return 0;
}

void hr_elf_free(struct hr_elf *e)
{
    free(e->soname);
    hr_strv_free(&e->needed);
    hr_strv_free(&e->verdefs);
    for (size_t i = 0; i < e->n_verneeds; i++) {
        free(e->verneeds[i].file);
        free(e->verneeds[i].version);
    }
    free(e->verneeds);
    memset(e, 0, sizeof(*e));
}

void hr_elf_copy(struct hr_elf *dst, const struct hr_elf *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->soname = src->soname ? hr_xstrdup(src->soname) : NULL;
    for (size_t i = 0; i < src->needed.n; i++)
        hr_strv_push(&dst->needed, src->needed.v[i]);
    for (size_t i = 0; i < src->verdefs.n; i++)
        hr_strv_push(&dst->verdefs, src->verdefs.v[i]);
    if (src->n_verneeds)
        dst->verneeds = hr_xmalloc(src->n_verneeds * sizeof(*dst->verneeds));
    for (size_t i = 0; i < src->n_verneeds; i++)
        dst->verneeds[i] =
            (struct hr_elf_verneed){.file = hr_xstrdup(src->verneeds[i].file),
                                    .version = hr_xstrdup(src->verneeds[i].version)};
    dst->n_verneeds = src->n_verneeds;
    dst->glibc_need = src->glibc_need;
    dst->glibc_have = src->glibc_have;
}

/* ---- dynamic symbols ---------------------------------------------------- */

/* The number of dynamic symbols, from DT_HASH's nchain or, lacking it, from
 * DT_GNU_HASH: one past the highest symbol any bucket's chain reaches (the
 * chain ends at the entry whose low bit is set). */
static int count_symbols(const struct elf_file *f, uint64_t *nsyms)
{
    uint64_t addr, off, buckets, chains, top = 0;
    uint32_t h[4], b[1024];

    if (dyn_get(f, DT_HASH, &addr)) {
        if (vaddr_to_off(f, addr, 8, &off) < 0 || read_at(f, h, 8, off) < 0)
            return -1;
        *nsyms = h[1];
        return 0;
    }
    /* DT_GNU_HASH: nbuckets, symoffset, bloom_size, bloom_shift, the bloom
     * words (8 bytes each), the buckets, then the chains from symoffset on */
    if (!dyn_get(f, DT_GNU_HASH, &addr) || vaddr_to_off(f, addr, 16, &off) < 0 ||
        read_at(f, h, sizeof(h), off) < 0 || h[0] == 0 || h[0] > MAX_BUCKETS ||
        h[2] > MAX_BUCKETS)
        return -1;
    buckets = off + 16 + (uint64_t)h[2] * 8;
    for (uint32_t i = 0; i < h[0]; i += HR_ARRAY_LEN(b)) {
        size_t n = h[0] - i < HR_ARRAY_LEN(b) ? h[0] - i : HR_ARRAY_LEN(b);
        if (read_at(f, b, n * 4, buckets + (uint64_t)i * 4) < 0)
            return -1;
        for (size_t j = 0; j < n; j++)
            if (b[j] > top)
                top = b[j];
    }
    *nsyms = h[1];
    if (top < h[1])
        return 0; /* no bucket used */
    chains = buckets + (uint64_t)h[0] * 4;
    for (uint64_t i = top; i < MAX_SYMS; i += HR_ARRAY_LEN(b)) {
        ssize_t got = read_some(f, b, sizeof(b), chains + (i - h[1]) * 4);
        if (got < 4)
            return -1;
        for (size_t j = 0; j < (size_t)got / 4; j++)
            if (b[j] & 1) {
                *nsyms = i + j + 1;
                return 0;
            }
    }
    return -1;
}

/* Is the string table's name at idx exactly `name`? */
static bool name_is(const struct elf_file *f, uint64_t idx, const char *name, size_t len)
{
    char buf[MAX_SYMSTR + 1];

    if (len + 1 > sizeof(buf) || idx >= f->strsz || f->strsz - idx < len + 1 ||
        read_at(f, buf, len + 1, f->strtab + idx) < 0)
        return false;
    return memcmp(buf, name, len) == 0 && buf[len] == '\0';
}

static char *symbol_value_string(const struct elf_file *f, const Elf64_Sym *s)
{
    char buf[MAX_SYMSTR + 1];
    uint64_t off;
    ssize_t got;
    size_t n = s->st_size && s->st_size < sizeof(buf) ? (size_t)s->st_size : sizeof(buf);
    char *end;

    if (vaddr_to_off(f, s->st_value, 1, &off) < 0 ||
        (got = read_some(f, buf, n, off)) <= 0)
        return NULL;
    if (!(end = memchr(buf, '\0', (size_t)got)) || end == buf)
        return NULL;
    for (char *p = buf; p < end; p++)
        if (*p < 0x20 || *p > 0x7e)
            return NULL;
    return hr_xstrdup(buf);
}

int hr_elf_symbol_string(const struct hr_elf_source *src, const char *symbol, char **out,
                         char *err, size_t errlen)
{
    struct elf_file f;
    uint64_t addr, off, nsyms, syment = sizeof(Elf64_Sym);
    size_t len = strlen(symbol);
    Elf64_Sym chunk[256];
    int rc = 0;

    *out = NULL;
    if (elf_open(&f, src->rd, src->ctx, err, errlen) < 0)
        return -1;
    dyn_get(&f, DT_SYMENT, &syment);
    if (!f.strtab || !dyn_get(&f, DT_SYMTAB, &addr) || syment != sizeof(Elf64_Sym) ||
        vaddr_to_off(&f, addr, sizeof(Elf64_Sym), &off) < 0 ||
        count_symbols(&f, &nsyms) < 0)
        goto done; /* no symbol table to speak of: no such symbol */
    if (nsyms > MAX_SYMS)
        nsyms = MAX_SYMS;
    for (uint64_t i = 0; i < nsyms && !*out; i += HR_ARRAY_LEN(chunk)) {
        size_t n =
            nsyms - i < HR_ARRAY_LEN(chunk) ? (size_t)(nsyms - i) : HR_ARRAY_LEN(chunk);
        if (read_at(&f, chunk, n * sizeof(Elf64_Sym), off + i * sizeof(Elf64_Sym)) < 0)
            break;
        for (size_t j = 0; j < n && !*out; j++) {
            const Elf64_Sym *s = &chunk[j];
            if (ELF64_ST_TYPE(s->st_info) != STT_OBJECT || s->st_shndx == SHN_UNDEF ||
                !name_is(&f, s->st_name, symbol, len))
                continue;
            *out = symbol_value_string(&f, s);
            rc = *out ? 1 : 0;
            goto done;
        }
    }
done:
    elf_close(&f);
    return rc;
}

/* ---- glibc versions -------------------------------------------------------- */

char *hr_glibc_version_str(unsigned v)
{
    return hr_xasprintf("%u.%u", v / 1000, v % 1000);
}

/* A decimal number of 1 to 3 digits at *p; advances *p. */
static bool small_number(const char **p, unsigned *v)
{
    unsigned n = 0, digits = 0;

    while (**p >= '0' && **p <= '9' && digits < 4) {
        n = n * 10 + (unsigned)(**p - '0');
        (*p)++;
        digits++;
    }
    *v = n;
    return digits > 0 && digits < 4;
}

unsigned hr_glibc_version_parse(const char *name)
{
    const char *p;
    unsigned major, minor, patch;

    if (strcmp(name, "GLIBC_ABI_DT_RELR") == 0)
        return 2036;
    if (strncmp(name, "GLIBC_", 6) != 0)
        return 0;
    p = name + 6;
    if (!small_number(&p, &major) || *p++ != '.' || !small_number(&p, &minor))
        return 0;
    /* a third component (2.2.5) is below the minor version's resolution */
    if (*p == '.') {
        p++;
        if (!small_number(&p, &patch))
            return 0;
    }
    return *p == '\0' && major > 0 ? major * 1000 + minor : 0;
}

bool hr_soname_is_glibc(const char *soname)
{
    /* glibc's shared objects (elf/, nss/, and the add-ons of its build);
     * libcrypt is not among them: it is libxcrypt's on current distributions
     * and has been dropped from glibc (2.39). */
    static const char *const names[] = {
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libresolv.so.2",
        "libutil.so.1",
        "libanl.so.1",
        "libmvec.so.1",
        "libBrokenLocale.so.1",
        "libnsl.so.1",
        "libthread_db.so.1",
        "libc_malloc_debug.so.0",
        "libmemusage.so",
        "libpcprofile.so",
        "libSegFault.so",
        "libnss_files.so.2",
        "libnss_dns.so.2",
        "libnss_compat.so.2",
        "libnss_hesiod.so.2",
        "libnss_db.so.2",
    };

    /* the dynamic linker under its per-ABI names: ld-linux-x86-64.so.2,
     * ld-linux-aarch64.so.1, ld64.so.2 (ppc64le), ld-linux.so.2, ld.so.1 */
    if (strncmp(soname, "ld-linux", 8) == 0 || strncmp(soname, "ld64.so.", 8) == 0 ||
        strncmp(soname, "ld.so.", 6) == 0)
        return true;
    for (size_t i = 0; i < HR_ARRAY_LEN(names); i++)
        if (strcmp(soname, names[i]) == 0)
            return true;
    return false;
}
