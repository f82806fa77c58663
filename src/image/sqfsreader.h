/* Reading small files back out of a SquashFS image (sqfsreader.c). */
#ifndef HR_SQFSREADER_H
#define HR_SQFSREADER_H

/* Read a small regular file (e.g. "/.hpcrun/config.json") from a SquashFS
 * image. Returns NULL with errno ENOENT if it is absent, or logs and returns
 * NULL with another errno if the image cannot be read. */
char *hr_sqfs_read_file(const char *image, const char *path);

#endif
