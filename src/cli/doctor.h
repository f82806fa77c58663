/* hpcrun doctor [OPTIONS] [IMAGE]: check this node (user namespaces,
 * /dev/fuse, Slurm, devices, host libraries against the image's glibc, the
 * image's MPI) and say how to fix each problem. */
#ifndef HR_DOCTOR_H
#define HR_DOCTOR_H

/* argv[0] is "doctor". Returns 0 if a launch would work, 1 if not, 125 on a
 * bad option. */
int hr_doctor(int argc, char **argv, char **envp);

#endif
