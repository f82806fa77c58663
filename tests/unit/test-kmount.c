/* The prolog's record: the kernel mount is used only for this job, this user
 * and this very image file. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "launch/kmount.h"
#include "unit.h"

/* The image file the records below describe. */
static void sample_image(struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_dev = 2049;
    st->st_ino = 77;
    st->st_size = 4096;
    st->st_mtim.tv_sec = 1700000000;
    st->st_ctim.tv_sec = 1700000001;
}

static const char *record = "job=42\nuid=1000\ndev=2049\nino=77\nsize=4096\n"
                            "mtime=1700000000\nctime=1700000001\nsource=/apps/a.sqfs\n";

static void test_record(void)
{
    struct stat st;
    char why[128];
    struct hr_kmount_want want = {.job = "42", .uid = 1000, .image = &st};

    sample_image(&st);
    CHECK(hr_kmount_record_matches(record, &want, why, sizeof(why)));
    want.job = "4";
    CHECK(!hr_kmount_record_matches(record, &want, why, sizeof(why)));
    CHECK(strstr(why, "another job"));
    want.job = "42";
    want.uid = 1001;
    CHECK(!hr_kmount_record_matches(record, &want, why, sizeof(why)));
    CHECK(strstr(why, "uid"));
    want.uid = 1000;
    st.st_ino = 78; /* another file */
    CHECK(!hr_kmount_record_matches(record, &want, why, sizeof(why)));
    CHECK(strstr(why, "ino"));
    st.st_ino = 77;
    st.st_ctim.tv_sec++; /* the file changed since the prolog mounted it */
    CHECK(!hr_kmount_record_matches(record, &want, why, sizeof(why)));
    CHECK(strstr(why, "ctime"));
    st.st_ctim.tv_sec--;
    CHECK(!hr_kmount_record_matches("job=42\nuid=1000\n", &want, why, sizeof(why)));
    CHECK(!hr_kmount_record_matches("", &want, why, sizeof(why)));
    CHECK(!hr_kmount_record_matches("job=42\nuid=-1000\n", &want, why, sizeof(why)));
}

/* What the prolog writes is what hpcrun reads back, mount device included. */
static void test_record_format(void)
{
    struct stat st;
    char why[128];
    struct hr_kmount_want want = {.job = "42", .uid = 1000, .image = &st};
    dev_t dev = 0;
    char *text;

    sample_image(&st);
    text = hr_kmount_record_format(&want, 1792, "/apps/a.sqfs");
    CHECK(text && strcmp(text, "job=42\nuid=1000\ndev=2049\nino=77\nsize=4096\n"
                               "mtime=1700000000\nctime=1700000001\nmount_dev=1792\n"
                               "source=/apps/a.sqfs\n") == 0);
    CHECK(hr_kmount_record_matches(text, &want, why, sizeof(why)));
    CHECK(hr_kmount_record_mount_dev(text, &dev) == 0 && dev == 1792);
    free(text);
    /* one line per field: a newline in the path could forge a field */
    CHECK(hr_kmount_record_format(&want, 1792, "/apps/a\nuid=0") == NULL);
    /* the old record (no mount device) names no mount hpcrun may use */
    CHECK(hr_kmount_record_mount_dev(record, &dev) < 0);
    CHECK(hr_kmount_record_mount_dev("mount_dev=0\n", &dev) < 0);
    CHECK(hr_kmount_record_mount_dev("mount_dev=-7\n", &dev) < 0);
    CHECK(hr_kmount_record_mount_dev("mount_dev=7x\n", &dev) < 0);
}

/* The image's real path must lie below a trusted directory's real path. */
static void test_trusted(void)
{
    char *dirs[] = {"/apps/images", "/scratch/trusted"};

    CHECK(hr_kmount_path_is_trusted("/apps/images/a.sqfs", dirs, 2));
    CHECK(hr_kmount_path_is_trusted("/scratch/trusted/x/y.sqfs", dirs, 2));
    CHECK(!hr_kmount_path_is_trusted("/apps/images", dirs, 2));
    CHECK(!hr_kmount_path_is_trusted("/apps/images2/a.sqfs", dirs, 2));
    CHECK(!hr_kmount_path_is_trusted("/apps/a.sqfs", dirs, 2));
    CHECK(!hr_kmount_path_is_trusted("/home/u/a.sqfs", dirs, 2));
    CHECK(!hr_kmount_path_is_trusted("/apps/images/a.sqfs", dirs, 0));
}

int main(void)
{
    test_record();
    test_record_format();
    test_trusted();
    return unit_done();
}
