/* Step 5, image: the kernel squashfs mount a Slurm prolog made of this job's
 * image on this node (batch/slurm/prolog), used instead of FUSE when it is
 * provably the image the caller opened, for the caller, in this job. */
#ifndef HR_KMOUNT_H
#define HR_KMOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Where the prolog mounts: HR_KMOUNT_DIR/NODE/JOB/{image,record}. Fixed, not
 * a site config key: a user may point HPCRUN_CONFIG anywhere. */
#define HR_KMOUNT_DIR "/run/hpcrun"

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

/* Find the prolog's mount for the image file hpcrun opened (image: its
 * fstat), in the job and on the node that envp names (SLURM_JOB_ID,
 * SLURMD_NODENAME). Returns the host path of the mount (malloc'd), or NULL
 * (the reason at -vv). */
char *hr_kmount_find(const struct stat *image, char **envp);

#endif
