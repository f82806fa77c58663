/* The names of the device request's modes (devreq.h). */
#include "autoconfig.h"

#include "host/devreq.h"

const char *const hr_gpu_mode_names[HR_N_GPU_MODES] = {
    [HR_GPU_AUTO] = "auto", [HR_GPU_NONE] = "none",   [HR_GPU_NVIDIA] = "nvidia",
    [HR_GPU_AMD] = "amd",   [HR_GPU_INTEL] = "intel",
};
_Static_assert(HR_GPU_INTEL + 1 == HR_N_GPU_MODES, "hr_gpu_mode_names: one per mode");

const char *hr_gpu_mode_name(enum hr_gpu_mode mode)
{
    return hr_gpu_mode_names[mode];
}
