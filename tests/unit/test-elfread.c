/* ELF reading: this machine's libc and /bin/ls, the fake host's libraries
 * (mkfakehost.sh), version-name parsing, and hostile input (an image's libc
 * is untrusted): truncations, mutations and crafted tables must give an
 * error or a well-formed result, quickly, never a read out of bounds. */
#include "autoconfig.h"

#include <elf.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "host/elfread.h"
#include "host/ldcache.h"
#include "unit.h"

#define LIB HR_FAKEHOST "/host/fake/lib"
#define MPI HR_FAKEHOST "/host/fake/mpi"
#define FAB HR_FAKEHOST "/host/fake/fab"
#define IMAGE HR_FAKEHOST "/image"

static uint32_t rng_state = 4242;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *buf = (unsigned char *)hr_read_file(path, 64u << 20, len);
    if (!buf)
        printf("FAIL: cannot read %s\n", path);
    return buf;
}

static void test_versions(void)
{
    hr_autofree char *a = hr_glibc_version_str(2034);
    hr_autofree char *b = hr_glibc_version_str(2002);

    CHECK_STR(a, "2.34");
    CHECK_STR(b, "2.2");
    CHECK(hr_glibc_version_parse("GLIBC_2.34") == 2034);
    CHECK(hr_glibc_version_parse("GLIBC_2.2.5") == 2002);
    CHECK(hr_glibc_version_parse("GLIBC_2.3.4") == 2003);
    CHECK(hr_glibc_version_parse("GLIBC_ABI_DT_RELR") == 2036);
    CHECK(hr_glibc_version_parse("GLIBC_PRIVATE") == 0);
    CHECK(hr_glibc_version_parse("GLIBCXX_3.4.30") == 0);
    CHECK(hr_glibc_version_parse("GLIBC_2") == 0);
    CHECK(hr_glibc_version_parse("GLIBC_2.34x") == 0);
    CHECK(hr_glibc_version_parse("GLIBC_2.3.4.5") == 0);
    CHECK(hr_glibc_version_parse("GLIBC_2.1234") == 0);
    CHECK(hr_glibc_version_parse("GLIBC_") == 0);
    CHECK(hr_glibc_version_parse("") == 0);
    CHECK(hr_soname_is_glibc("libc.so.6"));
    CHECK(hr_soname_is_glibc("libpthread.so.0"));
    CHECK(hr_soname_is_glibc("ld-linux-x86-64.so.2"));
    CHECK(hr_soname_is_glibc("ld-linux-aarch64.so.1"));
    CHECK(hr_soname_is_glibc("ld64.so.2"));
    CHECK(hr_soname_is_glibc("libnsl.so.1"));
    CHECK(!hr_soname_is_glibc("libcrypt.so.1")); /* libxcrypt's */
    CHECK(!hr_soname_is_glibc("libstdc++.so.6"));
    CHECK(!hr_soname_is_glibc("libc.so"));
}

/* Whether e's version definitions are exactly the n names given. */
static bool verdefs_are(const struct hr_elf *e, size_t n, const char *const *names)
{
    bool same = e->verdefs.n == n;

    for (size_t i = 0; same && i < n; i++)
        same = strcmp(e->verdefs.v[i], names[i]) == 0;
    if (!same)
        for (size_t i = 0; i < e->verdefs.n; i++)
            printf("verdef %zu: %s\n", i, e->verdefs.v[i]);
    return same;
}

/* This machine's libc defines its own version; /bin/ls needs one. */
static void test_host_files(void)
{
    struct hr_ldcache c;
    struct hr_elf e;
    char err[256];
    const char *libc;
    unsigned highest = 0;

    CHECK(hr_ldcache_load("/etc/ld.so.cache", &c, err, sizeof(err)) == 0);
    libc = hr_ldcache_find(&c, "libc.so.6");
    CHECK(libc != NULL);
    if (libc) {
        hr_autofree char *running = hr_xasprintf("GLIBC_%s", gnu_get_libc_version());
        CHECK(hr_elf_read_path(libc, &e, err, sizeof(err)) == 0);
        CHECK_STR(e.soname, "libc.so.6");
        /* the glibc this test runs with: 2036 on Debian 12 */
        CHECK(e.glibc_have == hr_glibc_version_parse(running));
        CHECK(e.glibc_have >= 2017);
        /* every version it defines, the running one among them, but not the
         * base definition that names libc.so.6 itself */
        CHECK(e.verdefs.n >= 10);
        CHECK(hr_strv_has(&e.verdefs, running));
        CHECK(hr_strv_has(&e.verdefs, "GLIBC_PRIVATE"));
        CHECK(!hr_strv_has(&e.verdefs, "libc.so.6"));
#if defined(__x86_64__)
        CHECK(e.verdefs.n > 0 && strcmp(e.verdefs.v[0], "GLIBC_2.2.5") == 0);
#endif
        for (size_t i = 0; i < e.verdefs.n; i++)
            if (hr_glibc_version_parse(e.verdefs.v[i]) > highest)
                highest = hr_glibc_version_parse(e.verdefs.v[i]);
        CHECK(highest == e.glibc_have);
        hr_elf_free(&e);
    }
    hr_ldcache_free(&c);

    CHECK(hr_elf_read_path("/bin/ls", &e, err, sizeof(err)) == 0);
    CHECK(e.soname == NULL);
    CHECK(hr_strv_has(&e.needed, "libc.so.6"));
    CHECK(e.glibc_need >= 2002 && e.glibc_have == 0);
    CHECK(e.verdefs.n == 0 && e.n_verneeds > 0);
    for (size_t i = 0; i < e.n_verneeds; i++)
        CHECK(hr_strv_has(&e.needed, e.verneeds[i].file) && e.verneeds[i].version[0]);
    hr_elf_free(&e);

    CHECK(hr_elf_read_path("/nonexistent/libx.so", &e, err, sizeof(err)) < 0);
    CHECK(strstr(err, "/nonexistent/libx.so"));
    CHECK(hr_elf_read_path("/etc/ld.so.cache", &e, err, sizeof(err)) < 0);
    CHECK(strstr(err, "not an ELF object"));
}

static void test_fake_libs(void)
{
    struct hr_elf e;
    char err[256];

    CHECK(hr_elf_read_path(LIB "/libfakecuda.so.1.0", &e, err, sizeof(err)) == 0);
    CHECK_STR(e.soname, "libfakecuda.so.1");
    CHECK(e.needed.n == 4);
    CHECK_STR(e.needed.v[0], "libfakedep.so.2");
    CHECK_STR(e.needed.v[1], "libfakegone.so.7");
    CHECK_STR(e.needed.v[2], "libm.so.6");
    CHECK_STR(e.needed.v[3], "libc.so.6");
    CHECK(e.glibc_need >= 2002 && e.glibc_need < 2026);
    CHECK(e.glibc_have == 0);
    hr_elf_free(&e);

    CHECK(hr_elf_read_path(LIB "/libfakedep.so.2", &e, err, sizeof(err)) == 0);
    CHECK_STR(e.soname, "libfakedep.so.2");
    CHECK(e.glibc_need == 2026); /* reallocarray@GLIBC_2.26 */
    hr_elf_free(&e);

    CHECK(hr_elf_read_path(LIB "/libibverbs/libfakeprov-rdmav34.so", &e, err,
                           sizeof(err)) == 0);
    CHECK(e.soname == NULL);
    CHECK(hr_strv_has(&e.needed, "libfakeorigin.so.3"));
    hr_elf_free(&e);

    CHECK(hr_elf_read_path(HR_FAKEHOST "/host/fake/bin/fake-smi", &e, err, sizeof(err)) ==
          0);
    CHECK(hr_strv_has(&e.needed, "libfakecuda.so.1"));
    hr_elf_free(&e);

    CHECK(hr_elf_read_path(HR_FAKEHOST "/host/fake/bin/fake-script", &e, err,
                           sizeof(err)) < 0);
}

/* Symbol versions defined by a version script, and needed of it. */
/* A copy says what the original said and outlives it. */
static void test_copy(const struct hr_elf *e)
{
    struct hr_elf orig, copy;

    hr_elf_copy(&orig, e);
    hr_elf_copy(&copy, &orig);
    hr_elf_free(&orig);
    CHECK((copy.soname == NULL) == (e->soname == NULL));
    if (copy.soname && e->soname)
        CHECK_STR(copy.soname, e->soname);
    CHECK(copy.needed.n == e->needed.n && copy.verdefs.n == e->verdefs.n);
    for (size_t i = 0; i < copy.needed.n && i < e->needed.n; i++)
        CHECK_STR(copy.needed.v[i], e->needed.v[i]);
    for (size_t i = 0; i < copy.verdefs.n && i < e->verdefs.n; i++)
        CHECK_STR(copy.verdefs.v[i], e->verdefs.v[i]);
    CHECK(copy.n_verneeds == e->n_verneeds && copy.n_verneeds > 0);
    for (size_t i = 0; i < copy.n_verneeds && i < e->n_verneeds; i++) {
        CHECK_STR(copy.verneeds[i].file, e->verneeds[i].file);
        CHECK_STR(copy.verneeds[i].version, e->verneeds[i].version);
    }
    CHECK(copy.glibc_need == e->glibc_need && copy.glibc_have == e->glibc_have);
    hr_elf_free(&copy);
}

static void test_fake_versions(void)
{
    static const char *const host[] = {"FAKE_1.0", "FAKE_PRIVATE_1"};
    static const char *const newer[] = {"FAKE_1.0", "FAKE_1.1", "FAKE_PRIVATE_2"};
    static const char *const same[] = {"FAKE_1.0", "FAKE_PRIVATE_0"};
    struct hr_elf e;
    struct hr_strv fab = {0};
    char err[256];

    CHECK(hr_elf_read_path(FAB "/libfakefab.so.1", &e, err, sizeof(err)) == 0);
    CHECK_STR(e.soname, "libfakefab.so.1");
    CHECK(verdefs_are(&e, HR_ARRAY_LEN(host), host));
    CHECK(e.glibc_have == 0);
    hr_elf_free(&e);
    CHECK(hr_elf_read_path(IMAGE "/newer/lib/libfakefab.so.1", &e, err, sizeof(err)) ==
          0);
    CHECK(verdefs_are(&e, HR_ARRAY_LEN(newer), newer));
    hr_elf_free(&e);
    CHECK(hr_elf_read_path(IMAGE "/same/lib/libfakefab.so.1", &e, err, sizeof(err)) == 0);
    CHECK(verdefs_are(&e, HR_ARRAY_LEN(same), same));
    hr_elf_free(&e);

    /* what libfakemlx needs of libfakefab (in the linker's order), and of libc */
    CHECK(hr_elf_read_path(FAB "/libfakemlx.so.1", &e, err, sizeof(err)) == 0);
    CHECK(e.verdefs.n == 0);
    for (size_t i = 0; i < e.n_verneeds; i++) {
        const struct hr_elf_verneed *v = &e.verneeds[i];
        if (strcmp(v->file, "libfakefab.so.1") == 0)
            hr_strv_push(&fab, v->version);
        else
            CHECK_STR(v->file, "libc.so.6");
    }
    CHECK(fab.n == 2 && hr_strv_has(&fab, "FAKE_1.0") &&
          hr_strv_has(&fab, "FAKE_PRIVATE_1"));
    hr_strv_free(&fab);
    test_copy(&e);
    hr_elf_free(&e);

    /* the fake CUDA library neither defines nor needs versions of its own */
    CHECK(hr_elf_read_path(LIB "/libfakecuda.so.1.0", &e, err, sizeof(err)) == 0);
    CHECK(e.verdefs.n == 0);
    for (size_t i = 0; i < e.n_verneeds; i++)
        CHECK(hr_soname_is_glibc(e.verneeds[i].file));
    hr_elf_free(&e);
}

static int symbol_of(const char *path, const char *symbol, char **out)
{
    hr_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    char err[256];
    return hr_elf_symbol_string(&(struct hr_elf_source){hr_pread_fd, &fd}, symbol, out,
                                err, sizeof(err));
}

static void test_symbols(void)
{
    char *v = NULL;

    CHECK(symbol_of(MPI "/mpich.so", "MPII_Version_string", &v) == 1);
    CHECK_STR(v, "4.1.0");
    free(v);
    /* DT_HASH instead of DT_GNU_HASH */
    CHECK(symbol_of(MPI "/mvapich.so", "MPIR_Version_string", &v) == 1);
    CHECK_STR(v, "3.2.1");
    free(v);
    CHECK(symbol_of(MPI "/mpich.so", "MPIR_Version_string", &v) == 0 && v == NULL);
    /* a function is no string */
    CHECK(symbol_of(MPI "/mpich.so", "MPI_Init", &v) == 0 && v == NULL);
    /* a prefix of a name is not the name */
    CHECK(symbol_of(MPI "/mpich.so", "MPII_Version", &v) == 0 && v == NULL);
    CHECK(symbol_of(HR_FAKEHOST "/host/ld.so.cache", "x", &v) < 0);
    if (access("/usr/lib/x86_64-linux-gnu/libmpich.so.12", R_OK) == 0) {
        CHECK(symbol_of("/usr/lib/x86_64-linux-gnu/libmpich.so.12", "MPII_Version_string",
                        &v) == 1);
        CHECK(v && strchr(v, '.'));
        free(v);
    }
}

static void test_not_elf64le(void)
{
    unsigned char buf[128];
    struct hr_membuf m = {buf, sizeof(buf)};
    struct hr_elf e;
    char err[256];

    memset(buf, 0, sizeof(buf));
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK(strstr(err, "not an ELF object"));
    memcpy(buf, ELFMAG, SELFMAG);
    buf[EI_CLASS] = ELFCLASS32;
    buf[EI_DATA] = ELFDATA2LSB;
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK(strstr(err, "not a 64-bit little-endian ELF object"));
    buf[EI_CLASS] = ELFCLASS64;
    buf[EI_DATA] = ELFDATA2MSB;
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK(strstr(err, "not a 64-bit little-endian ELF object"));
    /* no program headers at all: nothing to say, and no error */
    buf[EI_DATA] = ELFDATA2LSB;
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) == 0);
    CHECK(e.soname == NULL && e.needed.n == 0);
    hr_elf_free(&e);
    m.len = 10;
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
}

/* A hand-made object: one PT_LOAD over the whole buffer at vaddr 0, a
 * PT_DYNAMIC, a string table "\0libc.so.6\0GLIBC_2.99\0", and a chain of
 * Elf64_Verneed records (each with one Elf64_Vernaux) from CRAFT_VN to the
 * end of the buffer. */
#define CRAFT_DYN 0x200
#define CRAFT_STR 0x400
#define CRAFT_VN 0x1000
static void craft(unsigned char *buf, size_t len, uint64_t verneednum, uint64_t strsz)
{
    Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
    Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
    Elf64_Dyn *d = (Elf64_Dyn *)(buf + CRAFT_DYN);

    memset(buf, 0, len);
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(*ph);
    eh->e_phnum = 2;
    ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_filesz = len, .p_memsz = len};
    ph[1] = (Elf64_Phdr){.p_type = PT_DYNAMIC,
                         .p_offset = CRAFT_DYN,
                         .p_vaddr = CRAFT_DYN,
                         .p_filesz = 6 * 16};
    d[0] = (Elf64_Dyn){.d_tag = DT_STRTAB, .d_un.d_val = CRAFT_STR};
    d[1] = (Elf64_Dyn){.d_tag = DT_STRSZ, .d_un.d_val = strsz};
    d[2] = (Elf64_Dyn){.d_tag = DT_VERNEED, .d_un.d_val = CRAFT_VN};
    d[3] = (Elf64_Dyn){.d_tag = DT_VERNEEDNUM, .d_un.d_val = verneednum};
    d[4] = (Elf64_Dyn){.d_tag = DT_NEEDED, .d_un.d_val = 1};
    memcpy(buf + CRAFT_STR, "\0libc.so.6\0GLIBC_2.99", 22);
    for (size_t off = CRAFT_VN; off + 32 <= len; off += 32) {
        Elf64_Verneed vn = {
            .vn_version = 1, .vn_cnt = 1, .vn_file = 1, .vn_aux = 16, .vn_next = 32};
        Elf64_Vernaux va = {.vna_name = 11};
        memcpy(buf + off, &vn, sizeof(vn));
        memcpy(buf + off + 16, &va, sizeof(va));
    }
}

/* The same with the chain's records of no need at all (vn_cnt 0). */
static void craft_empty_needs(unsigned char *buf, size_t len, uint64_t verneednum)
{
    craft(buf, len, verneednum, 22);
    for (size_t off = CRAFT_VN; off + 32 <= len; off += 32)
        ((Elf64_Verneed *)(buf + off))->vn_cnt = 0;
}

/* The same object with a chain of Elf64_Verdef records (each with one
 * Elf64_Verdaux naming GLIBC_2.99) in place of the needs. */
static void craft_verdef(unsigned char *buf, size_t len, uint64_t verdefnum,
                         uint16_t flags)
{
    Elf64_Dyn *d = (Elf64_Dyn *)(buf + CRAFT_DYN);

    craft(buf, len, 0, 22);
    memset(buf + CRAFT_VN, 0, len - CRAFT_VN);
    d[2] = (Elf64_Dyn){.d_tag = DT_VERDEF, .d_un.d_val = CRAFT_VN};
    d[3] = (Elf64_Dyn){.d_tag = DT_VERDEFNUM, .d_un.d_val = verdefnum};
    for (size_t off = CRAFT_VN; off + 28 <= len; off += 28) {
        Elf64_Verdef vd = {
            .vd_version = 1, .vd_flags = flags, .vd_cnt = 1, .vd_aux = 20, .vd_next = 28};
        Elf64_Verdaux va = {.vda_name = 11};
        memcpy(buf + off, &vd, sizeof(vd));
        memcpy(buf + off + 20, &va, sizeof(va));
    }
}

static void test_crafted(void)
{
    size_t len = 1u << 20; /* 32k version records: more than the reader walks */
    unsigned char *buf = hr_xmalloc(len);
    struct hr_membuf m = {buf, len};
    struct hr_elf e;
    char err[256];

    craft(buf, len, 3, 22);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) == 0);
    CHECK(e.glibc_need == 2099);
    CHECK(e.needed.n == 1 && strcmp(e.needed.v[0], "libc.so.6") == 0);
    CHECK(e.n_verneeds == 3);
    CHECK_STR(e.verneeds[2].file, "libc.so.6");
    CHECK_STR(e.verneeds[2].version, "GLIBC_2.99");
    hr_elf_free(&e);
    /* a chain that claims to go on for ever: the names it keeps are capped,
     * and a walk that keeps none stops at the reader's budget */
    craft(buf, len, UINT64_MAX, 22);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK_STR(err, "more than 1024 version needs");
    craft(buf, len, 1024, 22);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) == 0);
    CHECK(e.n_verneeds == 1024);
    hr_elf_free(&e);
    craft_empty_needs(buf, len, UINT64_MAX);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK_STR(err, "bad version needs table");
    /* the same for version definitions; the base one is not kept */
    craft_verdef(buf, len, 3, 0);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) == 0);
    CHECK(e.glibc_have == 2099 && e.n_verneeds == 0);
    CHECK(e.verdefs.n == 3 && strcmp(e.verdefs.v[2], "GLIBC_2.99") == 0);
    hr_elf_free(&e);
    craft_verdef(buf, len, 3, VER_FLG_BASE);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) == 0);
    CHECK(e.glibc_have == 0 && e.verdefs.n == 0);
    hr_elf_free(&e);
    craft_verdef(buf, len, UINT64_MAX, 0);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK_STR(err, "more than 1024 version definitions");
    craft_verdef(buf, len, UINT64_MAX, VER_FLG_BASE);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK_STR(err, "bad version definitions table");
    /* a definition whose name record lies past the end of the file */
    craft_verdef(buf, len, 1, 0);
    ((Elf64_Verdef *)(buf + CRAFT_VN))->vd_aux = (uint32_t)len;
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK_STR(err, "bad version definitions table");
    /* a name that does not end inside the string table */
    craft_verdef(buf, len, 1, 0);
    ((Elf64_Dyn *)(buf + CRAFT_DYN))[1].d_un.d_val = 15; /* "GLIB" */
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    /* a string table larger than the file */
    craft(buf, len, 3, UINT64_MAX - 8);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK(strstr(err, "string table"));
    /* a string that does not end inside the table */
    craft(buf, len, 3, 5);
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    /* too many program headers */
    craft(buf, len, 3, 22);
    ((Elf64_Ehdr *)buf)->e_phnum = 0xffff;
    CHECK(hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) < 0);
    CHECK(strstr(err, "program header"));
    free(buf);
}

static void fuzz_file(const char *path, int rounds)
{
    size_t len;
    unsigned char *orig = slurp(path, &len), *buf;
    struct hr_elf e;
    char err[256], *v;
    int ok = 0, silent = 0;

    if (!orig) {
        CHECK(0);
        return;
    }
    /* every truncation, in a buffer of exactly that size */
    for (size_t n = 0; n <= len; n++) {
        unsigned char *cut = hr_xmalloc(n);
        struct hr_membuf m = {cut, n};
        memcpy(cut, orig, n);
        err[0] = '\0';
        if (hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) == 0) {
            ok++;
            hr_elf_free(&e);
        } else {
            silent += err[0] == '\0';
        }
        free(cut);
    }
    CHECK(ok > 0 && silent == 0);
    /* random byte changes, half of them in the headers */
    buf = hr_xmalloc(len);
    for (int r = 0; r < rounds; r++) {
        struct hr_membuf m = {buf, len};
        memcpy(buf, orig, len);
        for (uint32_t k = 0, nk = 1 + rnd() % 4; k < nk; k++) {
            size_t at = rnd() % 2 ? rnd() % 512 : rnd() % len;
            buf[at] = rnd() % 3 == 0 ? 0xff : (unsigned char)rnd();
        }
        err[0] = '\0';
        if (hr_elf_read(hr_pread_mem, &m, &e, err, sizeof(err)) == 0)
            hr_elf_free(&e);
        else
            silent += err[0] == '\0';
        if (r % 8 == 0 &&
            hr_elf_symbol_string(&(struct hr_elf_source){hr_pread_mem, &m},
                                 "MPII_Version_string", &v, err, sizeof(err)) == 1)
            free(v);
    }
    CHECK(silent == 0);
    free(buf);
    free(orig);
}

static void test_fuzz(void)
{
    fuzz_file(LIB "/libfakecuda.so.1.0", 20000);
    fuzz_file(MPI "/mpich.so", 10000);
    fuzz_file(MPI "/mvapich.so", 10000);
    fuzz_file(IMAGE "/newer/lib/libfakefab.so.1", 10000);
    fuzz_file(FAB "/libfakemlx.so.1", 10000);
}

int main(void)
{
    test_versions();
    test_host_files();
    test_fake_libs();
    test_fake_versions();
    test_symbols();
    test_not_elf64le();
    test_crafted();
    test_fuzz();
    return unit_done();
}
