/* Fuzz target: ELF headers and dynamic tables, host/elfread.c (host
 * libraries and the image's libc), and the exec step's diagnosis of a
 * program the kernel refused, launch/execdiag.c (a file of the image). */
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "host/elfread.h"
#include "launch/execdiag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static void diagnose(struct hr_membuf *mb)
{
    struct hr_exec_header h;
    char buf[32];

    if (hr_exec_header_read(hr_pread_mem, mb, &h) < 0)
        return;
    if (h.kind == HR_EXEC_ELF)
        (void)hr_elf_machine_name(&h, buf, sizeof(buf));
    if (memchr(h.interp, '\0', sizeof(h.interp)) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hr_membuf mb = {data, size};
    struct hr_elf_source src = {hr_pread_mem, &mb};
    struct hr_elf e = {0}, copy = {0};
    char err[256];
    hr_autofree char *version = NULL;

    if (hr_elf_read(hr_pread_mem, &mb, &e, err, sizeof(err)) == 0) {
        hr_elf_copy(&copy, &e);
        free(hr_glibc_version_str(e.glibc_need));
        if (e.soname)
            (void)hr_soname_is_glibc(e.soname);
        for (size_t i = 0; i < e.verdefs.n; i++)
            (void)hr_glibc_version_parse(e.verdefs.v[i]);
        hr_elf_free(&copy);
    }
    hr_elf_free(&e);
    (void)hr_elf_symbol_string(&src, "MPII_Version_string", &version, err, sizeof(err));
    diagnose(&mb);
    return 0;
}
