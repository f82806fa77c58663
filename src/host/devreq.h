/* What a launch asks of the node's devices: --gpu and --fabric (and the
 * site keys gpu, fabric). Only the request; the config step parses it and
 * the device plan (devices.h) answers it, so the config need not know the
 * planner. */
#ifndef HR_DEVREQ_H
#define HR_DEVREQ_H

enum hr_gpu_mode { HR_GPU_AUTO, HR_GPU_NONE, HR_GPU_NVIDIA, HR_GPU_AMD, HR_GPU_INTEL };
#define HR_N_GPU_MODES 5
/* The names of --gpu and the site key "gpu", indexed by enum hr_gpu_mode:
 * "auto", "none", "nvidia", "amd", "intel". The one list of them. */
extern const char *const hr_gpu_mode_names[HR_N_GPU_MODES];
/* --gpu=NAME: hr_gpu_mode_names[mode] */
const char *hr_gpu_mode_name(enum hr_gpu_mode mode);

enum hr_fabric_mode { HR_FABRIC_AUTO, HR_FABRIC_NONE };

struct hr_devreq {
    enum hr_gpu_mode gpu;       /* --gpu, site "gpu" */
    enum hr_fabric_mode fabric; /* --fabric, site "fabric" */
};

#endif
