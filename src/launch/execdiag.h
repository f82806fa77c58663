/* Why the kernel refused to run a file that is there: what its first bytes
 * say. execve(2) answers ENOENT when a program's ELF interpreter (PT_INTERP,
 * /lib64/ld-linux-x86-64.so.2) or a script's "#!" program is missing, and
 * ENOEXEC when an ELF program is for another machine; the exec step turns
 * that into a message that names the real cause. The file comes from the
 * image (untrusted): it is read through a pread-like callback with every
 * offset checked, and names are only returned when printable. */
#ifndef HR_EXECDIAG_H
#define HR_EXECDIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "host/elfread.h"

enum hr_exec_kind {
    HR_EXEC_OTHER,  /* neither of these (or too short to say) */
    HR_EXEC_ELF,    /* an ELF object */
    HR_EXEC_SCRIPT, /* "#!" */
};

struct hr_exec_header {
    enum hr_exec_kind kind;
    unsigned machine; /* ELF e_machine (EM_X86_64, ...) */
    bool is_64;       /* ELFCLASS64 */
    bool is_be;       /* ELFDATA2MSB */
    char interp[256]; /* PT_INTERP or the "#!" program; "" if none */
};

/* Read the header of a file through rd. An ELF file whose program headers
 * cannot be read, or whose interpreter is too long or not printable, gives
 * an empty interp. Returns 0, or -1 if the file cannot be read at all. */
int hr_exec_header_read(hr_pread_fn rd, void *ctx, struct hr_exec_header *h);

/* The machine an ELF header names, as uname -m says it: "x86_64",
 * "aarch64", "ppc64le", "riscv64", "i386", "s390x", ..., or "machine N"
 * (written to buf) for another. */
const char *hr_elf_machine_name(const struct hr_exec_header *h, char *buf, size_t len);

#endif
