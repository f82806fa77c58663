/* The fuzz targets' shared helpers (fuzzutil.h). */
#include "fuzzutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

static char scratch_dir[256];

void fuzz_init(void)
{
    FILE *devnull;

    hr_log_init("fuzz", HR_LOG_QUIET);
    if (!getenv("HR_FUZZ_LOG") && (devnull = fopen("/dev/null", "w")))
        stderr = devnull;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (ftw->level > 0)
        remove(path);
    return 0;
}

static void scratch_remove(void)
{
    if (!scratch_dir[0])
        return;
    nftw(scratch_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    rmdir(scratch_dir);
}

const char *fuzz_scratch(void)
{
    if (!scratch_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(scratch_dir, sizeof(scratch_dir), "%s/hr-fuzz.XXXXXX", base);
        if (!mkdtemp(scratch_dir)) {
            perror(scratch_dir);
            abort();
        }
        atexit(scratch_remove);
    } else {
        nftw(scratch_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    return scratch_dir;
}

char *fuzz_write(const char *name, const void *data, size_t n)
{
    char *path = hr_path_join(scratch_dir, name);
    int fd;

    for (char *s = strchr(path + strlen(scratch_dir) + 1, '/'); s;
         s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || hr_write_all(fd, data, n) < 0) {
        perror(path);
        abort();
    }
    close(fd);
    return path;
}

char *fuzz_strndup(const uint8_t *data, size_t n)
{
    return hr_xstrndup((const char *)data, n);
}

size_t fuzz_split(const uint8_t *data, size_t n, const char *sep, struct fuzz_part *parts,
                  size_t max)
{
    size_t seplen = strlen(sep), n_parts = 0;
    const uint8_t *end = data + n;

    while (n_parts + 1 < max) {
        const uint8_t *hit = memmem(data, (size_t)(end - data), sep, seplen);
        if (!hit)
            break;
        parts[n_parts++] = (struct fuzz_part){data, (size_t)(hit - data)};
        data = hit + seplen;
    }
    parts[n_parts++] = (struct fuzz_part){data, (size_t)(end - data)};
    return n_parts;
}
