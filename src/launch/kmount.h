/* Step 5, image: the kernel squashfs mount a Slurm prolog made of this job's
 * image on this node (batch/slurm/prolog), used instead of FUSE when it is
 * provably the image the caller opened, for the caller, in this job. */
#ifndef HR_KMOUNT_H
#define HR_KMOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Where the prolog mounts: HR_KMOUNT_DIR/NODE/JOB holds the record (root's)
 * and the job user's own small tmpfs (mode 0700, as /run/user/UID) with the
 * mount point in it: HR_KMOUNT_DIR/NODE/JOB/mnt/image. Fixed, not a site
 * config key: a user may point HPCRUN_CONFIG anywhere. */
#define HR_KMOUNT_DIR "/run/hpcrun"
#define HR_KMOUNT_RECORD "record"
#define HR_KMOUNT_MNT "mnt"
#define HR_KMOUNT_IMAGE "image"

/* What the prolog's record must say. */
struct hr_kmount_want {
    const char *job;
    uid_t uid;
    const struct stat *image; /* fstat of the image hpcrun opened */
};

/* Whether the record text (key=value lines, as batch/slurm/prolog writes
 * them) names this job, this user and this very file (device, inode, size,
 * mtime, ctime). Pure. On false, why says which field differs. */
bool hr_kmount_record_matches(const char *text, const struct hr_kmount_want *want,
                              char *why, size_t whylen);

/* The record's text (what hr_kmount_record_matches reads): want's job, uid
 * and image identity, the device of the mount (st_dev of its root: the loop
 * device) and the image's real path. Pure. NULL if source holds a newline. */
char *hr_kmount_record_format(const struct hr_kmount_want *want, dev_t mount_dev,
                              const char *source);

/* The record's mount_dev. Returns 0, or -1 if it has none. Pure. */
int hr_kmount_record_mount_dev(const char *text, dev_t *mount_dev);

/* Whether the real path real lies below one of dirs (real paths too). Pure. */
bool hr_kmount_path_is_trusted(const char *real, char *const *dirs, size_t n_dirs);

/* Whether path is the prolog's mount the record names: the kernel's squashfs,
 * read-only, nosuid, nodev, on device mount_dev. Only root makes such a
 * mount, and only the prolog makes one on that loop device. */
bool hr_kmount_is_mount(const char *path, dev_t mount_dev);

/* Find the prolog's mount for the image file hpcrun opened (image: its
 * fstat), in the job and on the node that envp names (SLURM_JOB_ID,
 * SLURMD_NODENAME). Returns the host path of the mount (malloc'd) and its
 * device in mount_dev, or NULL (the reason at -vv). The mount point's
 * directory is the user's: check the bound tree with hr_kmount_is_mount. */
char *hr_kmount_find(const struct stat *image, char **envp, dev_t *mount_dev);

#endif
