/* What the fuzz targets share: a quiet log, a scratch directory emptied
 * before each input, and the split of one input into parts. The targets
 * themselves call the project's own code; nothing here parses for them. */
#ifndef HR_FUZZUTIL_H
#define HR_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* Messages go to /dev/null unless HR_FUZZ_LOG is set: a log line per input
 * would slow the fuzzer down to the terminal's pace. libFuzzer's and the
 * sanitizers' reports still reach stderr (they do not go through the FILE
 * that is swapped here). */
void fuzz_init(void);

/* A directory of this process's own (in /dev/shm when it exists), created
 * on first use, emptied by each call, removed at exit. */
const char *fuzz_scratch(void);

/* path (inside the scratch directory: a name relative to it, with
 * subdirectories made as needed) gets the n bytes of data. Returns the full
 * path, owned by the caller, or NULL (aborts the input). */
char *fuzz_write(const char *name, const void *data, size_t n);

/* data as a NUL-terminated heap string (cut at its first NUL). */
char *fuzz_strndup(const uint8_t *data, size_t n);

/* Split data at each occurrence of sep into at most max parts. */
struct fuzz_part {
    const uint8_t *data;
    size_t n;
};
size_t fuzz_split(const uint8_t *data, size_t n, const char *sep, struct fuzz_part *parts,
                  size_t max);

#endif
