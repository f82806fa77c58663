/* The prolog's kernel mount of a job's image. Trust comes only from what
 * a user cannot forge: directories and a record owned by root and writable
 * by nobody else, and a mount whose file system is the kernel's squashfs on
 * the loop device the record names (only root can make one: squashfs cannot
 * be mounted in a user namespace). The mount point's directory belongs to
 * the job's user (so that no other user reaches the mount), hence what lies
 * there is checked, and checked again once bound. The record ties the mount
 * to the job, the user and the image file's identity, which hpcrun takes
 * from the file it opened with the caller's own credentials: at worst a user
 * gets, read-only, an image they can read. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "launch/kmount.h"
#include "common/log.h"
#include "common/util.h"

#define SQUASHFS_SUPER_MAGIC 0x73717368 /* linux/magic.h */

/* The value of key in "key=value" lines, or NULL. */
static const char *record_get(const char *text, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);

    for (const char *l = text; l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, klen) == 0 && l[klen] == '=') {
            const char *v = l + klen + 1;
            size_t n = strcspn(v, "\n");
            if (n >= len)
                return NULL;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
    }
    return NULL;
}

static bool record_num_is(const char *text, const char *key, unsigned long long want)
{
    char buf[64], *end;
    unsigned long long v;

    if (!record_get(text, key, buf, sizeof(buf)) || !buf[0] || buf[0] == '-')
        return false;
    errno = 0;
    v = strtoull(buf, &end, 10);
    return errno == 0 && *end == '\0' && v == want;
}

bool hr_kmount_record_matches(const char *text, const struct hr_kmount_want *want,
                              char *why, size_t whylen)
{
    const struct stat *st = want->image;
    char job[64];
    const struct {
        const char *key;
        unsigned long long value;
    } nums[] = {
        {"uid", want->uid},
        {"dev", (unsigned long long)st->st_dev},
        {"ino", (unsigned long long)st->st_ino},
        {"size", (unsigned long long)st->st_size},
        {"mtime", (unsigned long long)st->st_mtim.tv_sec},
        {"ctime", (unsigned long long)st->st_ctim.tv_sec},
    };

    if (!record_get(text, "job", job, sizeof(job)) || strcmp(job, want->job) != 0) {
        snprintf(why, whylen, "the record is for another job");
        return false;
    }
    for (size_t i = 0; i < HR_ARRAY_LEN(nums); i++) {
        if (!record_num_is(text, nums[i].key, nums[i].value)) {
            snprintf(why, whylen, "the record's %s differs", nums[i].key);
            return false;
        }
    }
    return true;
}

char *hr_kmount_record_format(const struct hr_kmount_want *want, dev_t mount_dev,
                              const char *source)
{
    const struct stat *st = want->image;

    if (strchr(source, '\n') || strchr(want->job, '\n'))
        return NULL;
    return hr_xasprintf(
        "job=%s\nuid=%llu\ndev=%llu\nino=%llu\nsize=%llu\nmtime=%llu\n"
        "ctime=%llu\nmount_dev=%llu\nsource=%s\n",
        want->job, (unsigned long long)want->uid, (unsigned long long)st->st_dev,
        (unsigned long long)st->st_ino, (unsigned long long)st->st_size,
        (unsigned long long)st->st_mtim.tv_sec, (unsigned long long)st->st_ctim.tv_sec,
        (unsigned long long)mount_dev, source);
}

int hr_kmount_record_mount_dev(const char *text, dev_t *mount_dev)
{
    char buf[64], *end;
    unsigned long long v;

    if (!record_get(text, "mount_dev", buf, sizeof(buf)) || buf[0] < '0' || buf[0] > '9')
        return -1;
    errno = 0;
    v = strtoull(buf, &end, 10);
    if (errno || *end || v == 0 || (dev_t)v != v)
        return -1;
    *mount_dev = (dev_t)v;
    return 0;
}

bool hr_kmount_path_is_trusted(const char *real, char *const *dirs, size_t n_dirs)
{
    for (size_t i = 0; i < n_dirs; i++)
        if (dirs[i] && dirs[i][0] == '/' && strcmp(real, dirs[i]) != 0 &&
            hr_path_is_under(real, dirs[i]))
            return true;
    return false;
}

/* A name that is one path component of our own making. */
static bool is_plain_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    return strspn(s,
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
           strlen(s);
}

/* Every directory above path is root's and writable by nobody else, so no
 * user can replace anything in them. */
static bool is_root_only_tree(const char *path)
{
    char *p = hr_xstrdup(path);
    bool ok = true;

    for (char *s = strrchr(p, '/'); ok && s; s = strrchr(p, '/')) {
        struct stat st;
        *s = '\0';
        ok = lstat(*p ? p : "/", &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
             !(st.st_mode & 022);
        if (!ok)
            hr_debug("kernel mount: %s is not root's alone", *p ? p : "/");
        if (!*p)
            break;
    }
    free(p);
    return ok;
}

static char *record_read(const char *path)
{
    struct stat st;
    char *text = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
        !(st.st_mode & 022) && st.st_size < 4096) {
        text = hr_xmalloc((size_t)st.st_size + 1);
        ssize_t n = read(fd, text, (size_t)st.st_size);
        if (n != st.st_size) {
            free(text);
            text = NULL;
        } else {
            text[n] = '\0';
        }
    }
    close(fd);
    return text;
}

bool hr_kmount_is_mount(const char *path, dev_t mount_dev)
{
    struct statfs sf;
    struct statvfs sv;
    struct stat st;
    unsigned long want = ST_RDONLY | ST_NOSUID | ST_NODEV;
    /* one descriptor for every check: the path is resolved once */
    hr_autoclose int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    return fd >= 0 && fstatfs(fd, &sf) == 0 && sf.f_type == SQUASHFS_SUPER_MAGIC &&
           fstatvfs(fd, &sv) == 0 && (sv.f_flag & want) == want && fstat(fd, &st) == 0 &&
           st.st_dev == mount_dev;
}

char *hr_kmount_find(const struct stat *image, char **envp, dev_t *mount_dev)
{
    const char *job = hr_env_get(envp, "SLURM_JOB_ID");
    const char *node = hr_env_get(envp, "SLURMD_NODENAME");
    char *dir, *rec_path, *mnt, *text, why[128];
    struct hr_kmount_want want = {.job = job, .uid = getuid(), .image = image};
    bool ok;

    if (!is_plain_name(job) || !is_plain_name(node))
        return NULL;
    dir = hr_xasprintf("%s/%s/%s", HR_KMOUNT_DIR, node, job);
    rec_path = hr_xasprintf("%s/%s", dir, HR_KMOUNT_RECORD);
    mnt = hr_xasprintf("%s/%s/%s", dir, HR_KMOUNT_MNT, HR_KMOUNT_IMAGE);
    text = NULL;
    ok = access(rec_path, F_OK) == 0 && is_root_only_tree(rec_path) &&
         (text = record_read(rec_path)) != NULL;
    if (ok && !hr_kmount_record_matches(text, &want, why, sizeof(why))) {
        hr_debug("kernel mount %s: not used: %s", mnt, why);
        ok = false;
    }
    if (ok && hr_kmount_record_mount_dev(text, mount_dev) < 0) {
        hr_debug("kernel mount %s: not used: the record names no mount_dev", mnt);
        ok = false;
    }
    if (ok && !hr_kmount_is_mount(mnt, *mount_dev)) {
        hr_debug("kernel mount %s: not the record's read-only nosuid,nodev squashfs "
                 "mount",
                 mnt);
        ok = false;
    }
    free(text);
    free(rec_path);
    free(dir);
    if (!ok) {
        free(mnt);
        return NULL;
    }
    return mnt;
}
