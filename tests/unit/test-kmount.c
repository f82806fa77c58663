/* The prolog's record: the kernel mount is used only for this job, this user
 * and this very image file. */
#include "autoconfig.h"

#include <string.h>

#include "kmount.h"
#include "unit.h"

static const char *record = "job=42\nuid=1000\ndev=2049\nino=77\nsize=4096\n"
                            "mtime=1700000000\nctime=1700000001\nsource=/apps/a.sqfs\n";

static void test_record(void)
{
    struct stat st;
    char why[128];
    struct hr_kmount_want want = {.job = "42", .uid = 1000, .image = &st};

    memset(&st, 0, sizeof(st));
    st.st_dev = 2049;
    st.st_ino = 77;
    st.st_size = 4096;
    st.st_mtim.tv_sec = 1700000000;
    st.st_ctim.tv_sec = 1700000001;
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

int main(void)
{
    test_record();
    return unit_done();
}
