/* cuda-probe: a small CUDA program that needs no CUDA toolkit to build. It
 * loads the driver (libcuda.so.1, found through the library path: inside
 * hpcrun, the host's, bound into /.hpcrun/host/lib), lists the GPUs it sees,
 * and runs one kernel (a vector add, as PTX that the driver compiles for the
 * GPU at hand), checking the result.
 *
 *   cuda-probe            list GPUs, run the kernel on GPU 0
 * Exit: 0 ok, 1 no driver or no GPU, 2 a CUDA call or the result failed. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef unsigned long long CUdeviceptr;

static const char ptx[] = ".version 7.0\n"
                          ".target sm_50\n"
                          ".address_size 64\n"
                          ".visible .entry add(.param .u64 pa, .param .u64 pb, .param "
                          ".u64 pc, .param .u32 pn)\n"
                          "{\n"
                          "  .reg .pred %p<2>;\n"
                          "  .reg .b32 %r<6>;\n"
                          "  .reg .f32 %f<4>;\n"
                          "  .reg .b64 %rd<11>;\n"
                          "  ld.param.u64 %rd1, [pa];\n"
                          "  ld.param.u64 %rd2, [pb];\n"
                          "  ld.param.u64 %rd3, [pc];\n"
                          "  ld.param.u32 %r2, [pn];\n"
                          "  mov.u32 %r3, %ctaid.x;\n"
                          "  mov.u32 %r4, %ntid.x;\n"
                          "  mov.u32 %r5, %tid.x;\n"
                          "  mad.lo.s32 %r1, %r3, %r4, %r5;\n"
                          "  setp.ge.s32 %p1, %r1, %r2;\n"
                          "  @%p1 bra DONE;\n"
                          "  cvta.to.global.u64 %rd4, %rd1;\n"
                          "  cvta.to.global.u64 %rd5, %rd2;\n"
                          "  cvta.to.global.u64 %rd6, %rd3;\n"
                          "  mul.wide.s32 %rd7, %r1, 4;\n"
                          "  add.s64 %rd8, %rd4, %rd7;\n"
                          "  add.s64 %rd9, %rd5, %rd7;\n"
                          "  add.s64 %rd10, %rd6, %rd7;\n"
                          "  ld.global.f32 %f1, [%rd8];\n"
                          "  ld.global.f32 %f2, [%rd9];\n"
                          "  add.f32 %f3, %f1, %f2;\n"
                          "  st.global.f32 [%rd10], %f3;\n"
                          "DONE:\n"
                          "  ret;\n"
                          "}\n";

static void *lib;

static void *sym(const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "cuda-probe: libcuda.so.1 has no %s\n", name);
        exit(1);
    }
    return p;
}

#define CALL(fn, args)                                                                   \
    do {                                                                                 \
        CUresult rc_ = fn args;                                                          \
        if (rc_ != 0) {                                                                  \
            fprintf(stderr, "cuda-probe: %s failed: CUDA error %d\n", #fn, rc_);         \
            return 2;                                                                    \
        }                                                                                \
    } while (0)

int main(void)
{
    enum { N = 1 << 20 };
    CUresult (*cuInit)(unsigned), (*cuDeviceGetCount)(int *),
        (*cuDeviceGet)(CUdevice *, int), (*cuDeviceGetName)(char *, int, CUdevice),
        (*cuDriverGetVersion)(int *), (*cuCtxCreate)(CUcontext *, unsigned, CUdevice),
        (*cuModuleLoadData)(CUmodule *, const void *),
        (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *),
        (*cuMemAlloc)(CUdeviceptr *, size_t),
        (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t),
        (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t),
        (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                          unsigned, unsigned, void *, void **, void **),
        (*cuCtxSynchronize)(void);
    int n = 0, version = 0, count = N;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    CUdeviceptr da, db, dc;
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float)),
          *c = malloc(N * sizeof(float));
    void *args[] = {&da, &db, &dc, &count};
    char name[256];

    lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "cuda-probe: no CUDA driver: %s\n", dlerror());
        return 1;
    }
    *(void **)&cuInit = sym("cuInit");
    *(void **)&cuDeviceGetCount = sym("cuDeviceGetCount");
    *(void **)&cuDeviceGet = sym("cuDeviceGet");
    *(void **)&cuDeviceGetName = sym("cuDeviceGetName");
    *(void **)&cuDriverGetVersion = sym("cuDriverGetVersion");
    *(void **)&cuCtxCreate = sym("cuCtxCreate_v2");
    *(void **)&cuModuleLoadData = sym("cuModuleLoadData");
    *(void **)&cuModuleGetFunction = sym("cuModuleGetFunction");
    *(void **)&cuMemAlloc = sym("cuMemAlloc_v2");
    *(void **)&cuMemcpyHtoD = sym("cuMemcpyHtoD_v2");
    *(void **)&cuMemcpyDtoH = sym("cuMemcpyDtoH_v2");
    *(void **)&cuLaunchKernel = sym("cuLaunchKernel");
    *(void **)&cuCtxSynchronize = sym("cuCtxSynchronize");

    CALL(cuInit, (0));
    CALL(cuDriverGetVersion, (&version));
    CALL(cuDeviceGetCount, (&n));
    printf("driver: CUDA %d.%d, %d GPU%s\n", version / 1000, version % 1000 / 10, n,
           n == 1 ? "" : "s");
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++) {
        CALL(cuDeviceGet, (&dev, i));
        CALL(cuDeviceGetName, (name, sizeof(name), dev));
        printf("GPU %d: %s\n", i, name);
    }
    CALL(cuDeviceGet, (&dev, 0));
    CALL(cuCtxCreate, (&ctx, 0, dev));
    CALL(cuModuleLoadData, (&mod, ptx));
    CALL(cuModuleGetFunction, (&fn, mod, "add"));
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 2.0f * (float)i;
    }
    CALL(cuMemAlloc, (&da, N * sizeof(float)));
    CALL(cuMemAlloc, (&db, N * sizeof(float)));
    CALL(cuMemAlloc, (&dc, N * sizeof(float)));
    CALL(cuMemcpyHtoD, (da, a, N * sizeof(float)));
    CALL(cuMemcpyHtoD, (db, b, N * sizeof(float)));
    CALL(cuLaunchKernel, (fn, N / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CALL(cuCtxSynchronize, ());
    CALL(cuMemcpyDtoH, (c, dc, N * sizeof(float)));
    for (int i = 0; i < N; i++)
        if (c[i] != 3.0f * (float)i) {
            fprintf(stderr, "cuda-probe: wrong result at %d: %g\n", i, (double)c[i]);
            return 2;
        }
    printf("kernel: vector add of %d floats on GPU 0: ok\n", N);
    return 0;
}
