/* Unit tests for launch/execdiag.c: what a file's header says about running
 * it. Headers are built in memory for both ELF classes and byte orders;
 * every truncation and many mutations must be read without a crash. */
#include "autoconfig.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "launch/execdiag.h"
#include "unit.h"

static void put(unsigned char *p, size_t n, uint64_t v, bool is_be)
{
    for (size_t i = 0; i < n; i++)
        p[is_be ? n - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

/* An ELF program: header, two program headers (PT_LOAD, then PT_INTERP
 * unless interp is NULL), the interpreter's name. Returns its length. */
static size_t mk_elf(unsigned char *b, bool is_64, bool is_be, unsigned machine,
                     const char *interp)
{
    size_t eh = is_64 ? 64 : 52, ph = is_64 ? 56 : 32, str = eh + 2 * ph;
    size_t ilen = interp ? strlen(interp) + 1 : 0;

    memset(b, 0, str + ilen);
    memcpy(b, ELFMAG, SELFMAG);
    b[EI_CLASS] = is_64 ? ELFCLASS64 : ELFCLASS32;
    b[EI_DATA] = is_be ? ELFDATA2MSB : ELFDATA2LSB;
    b[EI_VERSION] = EV_CURRENT;
    put(b + 16, 2, ET_EXEC, is_be);
    put(b + 18, 2, machine, is_be);
    put(b + (is_64 ? 32 : 28), is_64 ? 8 : 4, eh, is_be); /* e_phoff */
    put(b + (is_64 ? 54 : 42), 2, ph, is_be);             /* e_phentsize */
    put(b + (is_64 ? 56 : 44), 2, interp ? 2 : 1, is_be); /* e_phnum */
    put(b + eh, 4, PT_LOAD, is_be);
    if (interp) {
        unsigned char *p = b + eh + ph;
        put(p, 4, PT_INTERP, is_be);
        put(p + (is_64 ? 8 : 4), is_64 ? 8 : 4, str, is_be);    /* p_offset */
        put(p + (is_64 ? 32 : 16), is_64 ? 8 : 4, ilen, is_be); /* p_filesz */
        memcpy(b + str, interp, ilen);
    }
    return str + ilen;
}

static int rd_mem(const unsigned char *b, size_t n, struct hr_exec_header *h)
{
    struct hr_membuf m = {b, n};

    return hr_exec_header_read(hr_pread_mem, &m, h);
}

static void test_elf(void)
{
    unsigned char b[512];
    struct hr_exec_header h;
    char buf[32];
    size_t n;

    n = mk_elf(b, true, false, EM_X86_64, "/lib64/ld-linux-x86-64.so.2");
    CHECK(rd_mem(b, n, &h) == 0 && h.kind == HR_EXEC_ELF && h.is_64 && !h.is_be);
    CHECK_STR(h.interp, "/lib64/ld-linux-x86-64.so.2");
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "x86_64");

    n = mk_elf(b, true, false, EM_AARCH64, "/lib/ld-linux-aarch64.so.1");
    CHECK(rd_mem(b, n, &h) == 0 && h.machine == EM_AARCH64);
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "aarch64");
    CHECK_STR(h.interp, "/lib/ld-linux-aarch64.so.1");

    n = mk_elf(b, false, false, EM_386, "/lib/ld-linux.so.2");
    CHECK(rd_mem(b, n, &h) == 0 && !h.is_64);
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "i386");
    CHECK_STR(h.interp, "/lib/ld-linux.so.2");

    n = mk_elf(b, true, true, EM_S390, "/lib/ld64.so.1");
    CHECK(rd_mem(b, n, &h) == 0 && h.is_be);
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "s390x");
    CHECK_STR(h.interp, "/lib/ld64.so.1");

    n = mk_elf(b, true, false, EM_PPC64, NULL); /* a static program */
    CHECK(rd_mem(b, n, &h) == 0 && h.kind == HR_EXEC_ELF && h.interp[0] == '\0');
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "ppc64le");
    h.is_be = true;
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "ppc64");
    h.machine = EM_RISCV;
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "riscv64");
    h.machine = 4242;
    CHECK_STR(hr_elf_machine_name(&h, buf, sizeof(buf)), "machine 4242");

    /* an interpreter name that is not printable, or not terminated */
    n = mk_elf(b, true, false, EM_X86_64, "/lib/\033[2Jld.so");
    CHECK(rd_mem(b, n, &h) == 0 && h.kind == HR_EXEC_ELF && h.interp[0] == '\0');
    n = mk_elf(b, true, false, EM_X86_64, "/lib/ld.so");
    b[n - 1] = 'x';
    CHECK(rd_mem(b, n, &h) == 0 && h.interp[0] == '\0');
    /* p_filesz far beyond the file, p_offset wrapping around */
    n = mk_elf(b, true, false, EM_X86_64, "/lib/ld.so");
    put(b + 64 + 56 + 32, 8, UINT64_MAX, false);
    CHECK(rd_mem(b, n, &h) == 0 && h.interp[0] == '\0');
    n = mk_elf(b, true, false, EM_X86_64, "/lib/ld.so");
    put(b + 64 + 56 + 8, 8, UINT64_MAX - 2, false);
    CHECK(rd_mem(b, n, &h) == 0 && h.interp[0] == '\0');
    /* e_phoff at the end of the offsets, e_phentsize too small */
    n = mk_elf(b, true, false, EM_X86_64, "/lib/ld.so");
    put(b + 32, 8, UINT64_MAX - 10, false);
    CHECK(rd_mem(b, n, &h) == 0 && h.machine == EM_X86_64 && h.interp[0] == '\0');
    n = mk_elf(b, true, false, EM_X86_64, "/lib/ld.so");
    put(b + 54, 2, 8, false);
    CHECK(rd_mem(b, n, &h) == 0 && h.interp[0] == '\0');
}

static void test_truncations_and_mutations(void)
{
    unsigned char b[512], m[512];
    struct hr_exec_header h;
    size_t n = mk_elf(b, true, false, EM_X86_64, "/lib64/ld-linux-x86-64.so.2");
    unsigned seed = 1;
    int bad = 0;

    for (size_t len = 0; len <= n; len++) {
        if (rd_mem(b, len, &h) != 0 || (len < 64 && h.kind != HR_EXEC_OTHER) ||
            (len < n && h.interp[0]))
            bad++;
    }
    CHECK(bad == 0);
    for (int i = 0; i < 20000; i++) {
        memcpy(m, b, n);
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            m[(seed >> 8) % n] = (unsigned char)(seed >> 20);
        }
        if (rd_mem(m, n, &h) != 0 || strlen(h.interp) >= sizeof(h.interp))
            bad++;
    }
    CHECK(bad == 0);
}

static void test_scripts(void)
{
    struct hr_exec_header h;
    char long_line[300];

#define SCRIPT(s) rd_mem((const unsigned char *)(s), strlen(s), &h)
    CHECK(SCRIPT("#!/usr/bin/python3\nprint(1)\n") == 0 && h.kind == HR_EXEC_SCRIPT);
    CHECK_STR(h.interp, "/usr/bin/python3");
    CHECK(SCRIPT("#! /bin/bash -e\n") == 0);
    CHECK_STR(h.interp, "/bin/bash");
    CHECK(SCRIPT("#!/bin/sh") == 0); /* no newline at the end of the file */
    CHECK_STR(h.interp, "/bin/sh");
    CHECK(SCRIPT("#!\n") == 0 && h.kind == HR_EXEC_SCRIPT && h.interp[0] == '\0');
    CHECK(SCRIPT("echo hello\n") == 0 && h.kind == HR_EXEC_OTHER);
    CHECK(SCRIPT("") == 0 && h.kind == HR_EXEC_OTHER);
    memset(long_line, 'a', sizeof(long_line));
    memcpy(long_line, "#!/", 3);
    long_line[sizeof(long_line) - 1] = '\0';
    CHECK(SCRIPT(long_line) == 0 && h.kind == HR_EXEC_SCRIPT && h.interp[0] == '\0');
#undef SCRIPT
}

/* A real program of this host: the interpreter of hpcrun's own build. */
static void test_real_file(void)
{
    struct hr_exec_header h;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

    CHECK(fd >= 0 && hr_exec_header_read(hr_pread_fd, &fd, &h) == 0);
    CHECK(h.kind == HR_EXEC_ELF);
#if defined(__x86_64__)
    CHECK(h.machine == EM_X86_64);
#elif defined(__aarch64__)
    CHECK(h.machine == EM_AARCH64);
#endif
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    test_elf();
    test_truncations_and_mutations();
    test_scripts();
    test_real_file();
    return unit_done();
}
