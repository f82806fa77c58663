/* The members of a tar archive that holds other files (`docker save`
 * output), read without unpacking it.
 *
 * libarchive reads the headers, of any tar format it knows (ustar, PAX,
 * GNU); a malformed header, a member whose data runs past the end of the
 * file or a truncated archive is an error. An uncompressed tar in a
 * regular file is indexed in one pass that seeks over the data, and its
 * members are read in place. A compressed one (gzip, zstd, xz, bzip2: whatever libarchive
 * detects) cannot be seeked: one pass indexes it and keeps its small
 * members in memory; a larger member is streamed when asked for, and asking
 * for one that lies behind the stream's position decompresses the archive
 * again from its start. Members read in archive order cost one pass. */
#ifndef HR_TARFILE_H
#define HR_TARFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct hr_tar_member {
    char *name;
    off_t size;
    off_t offset;   /* uncompressed tar: where the data starts; -1 otherwise */
    size_t ordinal; /* the position of its header in the archive, from 1 */
    char *data;     /* compressed tar: the data, when the index pass kept it */
};

struct hr_tarfile;

/* Index the archive at path (its regular files: not hard links, not
 * sparse files). NULL after logging. */
struct hr_tarfile *hr_tarfile_open(const char *path);
void hr_tarfile_close(struct hr_tarfile *tf);

bool hr_tarfile_is_compressed(const struct hr_tarfile *tf);
/* Times the compressed stream was opened: the index pass counts one. */
unsigned hr_tarfile_passes(const struct hr_tarfile *tf);

/* The first regular file called name ("./" prefixes ignored), or NULL. */
const struct hr_tar_member *hr_tarfile_find(const struct hr_tarfile *tf,
                                            const char *name);

/* Start reading member m (one of tf's). Returns 0 or -1 (logged). */
int hr_tarfile_begin(struct hr_tarfile *tf, const struct hr_tar_member *m);
/* The next bytes of that member: a count, 0 at its end, or -1, with
 * hr_tarfile_error() saying why (for the caller to report in its own line). */
ssize_t hr_tarfile_read(struct hr_tarfile *tf, void *buf, size_t size);
/* "PATH: problem" for the last failed hr_tarfile_read. */
const char *hr_tarfile_error(const struct hr_tarfile *tf);

/* Member m whole, NUL-terminated, if at most max bytes. NULL after logging. */
char *hr_tarfile_read_all(struct hr_tarfile *tf, const struct hr_tar_member *m,
                          size_t max);

#endif
