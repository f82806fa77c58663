/* What a file's header says about running it (see execdiag.h). Only the ELF
 * header, the program headers and the interpreter's name are read; the
 * layouts are those of elf(5), for both classes and byte orders. */
#include "autoconfig.h"

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "launch/execdiag.h"

#define MAX_PHDRS 1024u /* real programs have about a dozen */
#define HEAD_MAX 256u   /* what the kernel reads first (BINPRM_BUF_SIZE) */

static uint64_t get(const unsigned char *p, size_t n, bool is_be)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[is_be ? n - 1 - i : i] << (8 * i);
    return v;
}

/* A name fit to print in a message: printable ASCII, not empty. */
static bool is_printable(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* Copy PT_INTERP's string (NUL-terminated within p_filesz) into h->interp. */
static void elf_interp_copy(hr_pread_fn rd, void *ctx, struct hr_exec_header *h,
                            uint64_t off, uint64_t size)
{
    char buf[sizeof(h->interp)];

    if (size < 2 || size > sizeof(buf) || hr_pread_exact(rd, ctx, buf, size, off) < 0 ||
        !memchr(buf, '\0', size) || !is_printable(buf))
        return;
    memcpy(h->interp, buf, strlen(buf) + 1);
}

static void elf_read(hr_pread_fn rd, void *ctx, const unsigned char *eh,
                     struct hr_exec_header *h)
{
    /* offsets in the ELF header and a program header, by class (elf(5)) */
    uint64_t phoff = h->is_64 ? get(eh + 32, 8, h->is_be) : get(eh + 28, 4, h->is_be);
    unsigned phentsize = (unsigned)get(eh + (h->is_64 ? 54 : 42), 2, h->is_be);
    unsigned phnum = (unsigned)get(eh + (h->is_64 ? 56 : 44), 2, h->is_be);
    size_t want = h->is_64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    unsigned char ph[sizeof(Elf64_Phdr)];

    h->machine = (unsigned)get(eh + 18, 2, h->is_be);
    if (phentsize < want || phnum > MAX_PHDRS)
        return;
    for (unsigned i = 0; i < phnum; i++) {
        if (phoff > UINT64_MAX - (uint64_t)i * phentsize ||
            hr_pread_exact(rd, ctx, ph, want, phoff + (uint64_t)i * phentsize) < 0)
            return;
        if (get(ph, 4, h->is_be) != PT_INTERP)
            continue;
        if (h->is_64)
            elf_interp_copy(rd, ctx, h, get(ph + 8, 8, h->is_be),
                            get(ph + 32, 8, h->is_be));
        else
            elf_interp_copy(rd, ctx, h, get(ph + 4, 4, h->is_be),
                            get(ph + 16, 4, h->is_be));
        return;
    }
}

/* "#!" INTERP [ARG]: the kernel reads the line from the first 256 bytes
 * (buf holds n of them; a shorter file may end without a newline). */
static void script_read(const char *buf, size_t n, struct hr_exec_header *h)
{
    size_t i = 2, start, len;

    while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
        i++;
    for (start = i; i < n && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n'; i++)
        if (buf[i] == '\0')
            break;
    len = i - start;
    if ((i == n && n == HEAD_MAX) || len == 0 || len >= sizeof(h->interp))
        return;
    memcpy(h->interp, buf + start, len);
    h->interp[len] = '\0';
    if (!is_printable(h->interp))
        h->interp[0] = '\0';
}

int hr_exec_header_read(hr_pread_fn rd, void *ctx, struct hr_exec_header *h)
{
    char buf[HEAD_MAX];
    size_t n = 0;
    ssize_t r = 0;

    memset(h, 0, sizeof(*h));
    while (n < sizeof(buf) && (r = rd(ctx, buf + n, sizeof(buf) - n, (off_t)n)) > 0)
        n += (size_t)r;
    if (n == 0 && r < 0)
        return -1;
    if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
        h->kind = HR_EXEC_SCRIPT;
        script_read(buf, n, h);
    } else if (n >= sizeof(Elf64_Ehdr) && memcmp(buf, ELFMAG, SELFMAG) == 0 &&
               (buf[EI_CLASS] == ELFCLASS32 || buf[EI_CLASS] == ELFCLASS64) &&
               (buf[EI_DATA] == ELFDATA2LSB || buf[EI_DATA] == ELFDATA2MSB)) {
        h->kind = HR_EXEC_ELF;
        h->is_64 = buf[EI_CLASS] == ELFCLASS64;
        h->is_be = buf[EI_DATA] == ELFDATA2MSB;
        elf_read(rd, ctx, (const unsigned char *)buf, h);
    }
    return 0;
}

const char *hr_elf_machine_name(const struct hr_exec_header *h, char *buf, size_t len)
{
    switch (h->machine) {
    case EM_X86_64:
        return "x86_64";
    case EM_AARCH64:
        return "aarch64";
    case EM_PPC64:
        return h->is_be ? "ppc64" : "ppc64le";
    case EM_RISCV:
        return h->is_64 ? "riscv64" : "riscv32";
    case EM_386:
        return "i386";
    case EM_S390:
        return h->is_64 ? "s390x" : "s390";
    case EM_ARM:
        return "arm";
    }
    snprintf(buf, len, "machine %u", h->machine);
    return buf;
}
