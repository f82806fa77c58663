/* Fuzz target: layer tarballs through the converter (image/layer.c with
 * libarchive, the whiteout and hiding rules of image/fstree.c, the SquashFS
 * writer), as `hpcimg convert` streams them: layer 0 holds /.hpcrun, the
 * layers follow top first, and the image is written out whole. The output
 * goes to a memfd, the layers to files in the scratch directory.
 *
 * Input: up to three layers (each a tar, compressed or not), top first,
 * separated by "\n--layer--\n". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzzutil.h"
#include "image/fstree.h"
#include "image/layer.h"
#include "image/sqfswriter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_LAYERS 3

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

/* As convert.c's add_metadata: /.hpcrun belongs to layer 0, so that no
 * image layer can bring its own. */
static int place_metadata(struct hr_fstree *t)
{
    struct hr_node *dir;

    if (hr_fstree_place(t, 0, "/.hpcrun", S_IFDIR, &dir) != HR_ADD)
        return -1;
    dir->mode = S_IFDIR | 0755;
    dir->opaque_layer = 0;
    return 0;
}

static void convert(struct fuzz_part *layers, size_t n, int fd)
{
    struct hr_sqfs_opts so = {.comp = "gzip", .threads = 1, .level = 1};
    struct hr_sqfs_writer *w = hr_sqfs_writer_open(fd, "fuzz.sqfs", &so);
    struct hr_fstree tree = {0};

    if (!w)
        abort(); /* nothing of the input is used yet */
    hr_fstree_init(&tree, 0);
    if (place_metadata(&tree) < 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "layer%zu.tar", i + 1);
        hr_autofree char *path = fuzz_write(name, layers[i].data, layers[i].n);
        struct hr_layer_src src = {.path = path, .size = -1, .name = name};
        if (hr_layer_read(&tree, w, (int)i + 1, &src) < 0)
            goto out;
    }
    (void)hr_sqfs_writer_finish(w, &tree);
out:
    hr_sqfs_writer_free(w);
    hr_fstree_free(&tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part layers[MAX_LAYERS];
    size_t n = fuzz_split(data, size, "\n--layer--\n", layers, MAX_LAYERS);
    int fd = memfd_create("fuzz-layer", MFD_CLOEXEC);

    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    fuzz_scratch();
    convert(layers, n, fd);
    close(fd);
    return 0;
}
