/*
 * mock_cuda.c - a CPU stand-in for the CUDA driver (libcuda.so.1, built with -DMOCK_DRIVER)
 * and runtime (libcudart.so.13), so that tests on machines without a GPU can drive the
 * kernel's GPU paths: the device query, %%cuda cells loaded and called from C cells, the
 * error check after each cell, a context broken by a sticky error.
 *
 * It pretends to be one sm_90 device. Device memory is host memory. Kernels are not run
 * from their code (there is no device code for a CPU): the few kernels the tests launch are
 * recognised by name and done on the CPU here (vadd_k, fill_k, scale_k, saxpy_k); poke_k
 * stands for an illegal address (error 700, sticky); a launch of more than 1024 threads per
 * block fails with error 9 (invalid configuration), as on real GPUs. Only the entry points
 * that nvcc 13's host code and cnote call exist. This checks cnote's plumbing, never CUDA:
 * tests/gpu/run.sh on a real GPU does that. Used by tests/integration/test_cuda.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dim3 {
    unsigned x, y, z;
};

/* ---- driver ---- */

int cuInit(unsigned flags);
int cuDriverGetVersion(int *v);
int cuDeviceGetCount(int *n);
int cuDeviceGet(int *d, int i);
int cuDeviceGetName(char *s, int len, int d);
int cuDeviceTotalMem_v2(size_t *m, int d);
int cuDeviceGetAttribute(int *v, int attr, int d);
int cuGetErrorString(int e, const char **s);

int cuInit(unsigned flags)
{
    (void)flags;
    return 0;
}

int cuDriverGetVersion(int *v)
{
    *v = 13050;
    return 0;
}

int cuDeviceGetCount(int *n)
{
    *n = 1;
    return 0;
}

int cuDeviceGet(int *d, int i)
{
    *d = i;
    return 0;
}

int cuDeviceGetName(char *s, int len, int d)
{
    (void)d;
    snprintf(s, (size_t)len, "cnote mock GPU");
    return 0;
}

int cuDeviceTotalMem_v2(size_t *m, int d)
{
    (void)d;
    *m = (size_t)80 << 30;
    return 0;
}

int cuDeviceGetAttribute(int *v, int attr, int d)
{
    (void)d;
    *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : 0;
    return 0;
}

int cuGetErrorString(int e, const char **s)
{
    *s = e ? "mock driver error" : "no error";
    return 0;
}

#ifndef MOCK_DRIVER

/* ---- runtime ---- */

int cudaRuntimeGetVersion(int *v);
int cudaGetDeviceCount(int *n);
const char *cudaGetErrorString(int e);
const char *cudaGetErrorName(int e);
int cudaDeviceSynchronize(void);
int cudaGetLastError(void);
int cudaPeekAtLastError(void);
int cudaMalloc(void **p, size_t n);
int cudaFree(void *p);
int cudaMemcpy(void *dst, const void *src, size_t n, int kind);
void **__cudaRegisterFatBinary(void *fatbin);
void __cudaRegisterFatBinaryEnd(void **h);
void __cudaUnregisterFatBinary(void **h);
void __cudaRegisterFunction(void **h, const char *host, char *dev, const char *name, int tl,
                            void *tid, void *bid, void *bdim, void *gdim, int *wsize);
unsigned __cudaPushCallConfiguration(struct dim3 grid, struct dim3 block, size_t shmem,
                                     void *stream);
int __cudaPopCallConfiguration(struct dim3 *grid, struct dim3 *block, size_t *shmem, void *stream);
int __cudaGetKernel(void **kernel, const void *fun);
int __cudaLaunchKernel(void *kernel, struct dim3 grid, struct dim3 block, void **args, size_t shmem,
                       void *stream);

static struct dim3 cfg_grid, cfg_block;
static size_t cfg_shmem;
static void *cfg_stream;
static int last_error, sticky_error;
static struct {
    const void *host;
    const char *name;
} kernels[256];
static int n_kernels;

int cudaRuntimeGetVersion(int *v)
{
    *v = 13050;
    return 0;
}

int cudaGetDeviceCount(int *n)
{
    *n = 1;
    return 0;
}

const char *cudaGetErrorString(int e)
{
    switch (e) {
    case 0:
        return "no error";
    case 9:
        return "invalid configuration argument";
    case 700:
        return "an illegal memory access was encountered";
    default:
        return "unknown error";
    }
}

const char *cudaGetErrorName(int e)
{
    switch (e) {
    case 0:
        return "cudaSuccess";
    case 9:
        return "cudaErrorInvalidConfiguration";
    case 700:
        return "cudaErrorIllegalAddress";
    default:
        return "cudaErrorUnknown";
    }
}

int cudaDeviceSynchronize(void)
{
    return sticky_error;
}

int cudaGetLastError(void)
{
    int e = sticky_error ? sticky_error : last_error;
    last_error = 0;
    return e;
}

int cudaPeekAtLastError(void)
{
    return sticky_error ? sticky_error : last_error;
}

int cudaMalloc(void **p, size_t n)
{
    if (sticky_error)
        return sticky_error;
    *p = malloc(n);
    return 0;
}

int cudaFree(void *p)
{
    if (sticky_error)
        return sticky_error;
    free(p);
    return 0;
}

int cudaMemcpy(void *dst, const void *src, size_t n, int kind)
{
    (void)kind;
    if (sticky_error)
        return sticky_error;
    memcpy(dst, src, n);
    return 0;
}

void **__cudaRegisterFatBinary(void *fatbin)
{
    static void *handle;
    (void)fatbin;
    return &handle;
}

void __cudaRegisterFatBinaryEnd(void **h)
{
    (void)h;
}

void __cudaUnregisterFatBinary(void **h)
{
    (void)h;
}

void __cudaRegisterFunction(void **h, const char *host, char *dev, const char *name, int tl,
                            void *tid, void *bid, void *bdim, void *gdim, int *wsize)
{
    (void)h, (void)dev, (void)tl, (void)tid, (void)bid, (void)bdim, (void)gdim, (void)wsize;
    if (n_kernels < 256) {
        kernels[n_kernels].host = host;
        kernels[n_kernels].name = name;
        n_kernels++;
    }
}

unsigned __cudaPushCallConfiguration(struct dim3 grid, struct dim3 block, size_t shmem,
                                     void *stream)
{
    cfg_grid = grid;
    cfg_block = block;
    cfg_shmem = shmem;
    cfg_stream = stream;
    return 0;
}

int __cudaPopCallConfiguration(struct dim3 *grid, struct dim3 *block, size_t *shmem, void *stream)
{
    *grid = cfg_grid;
    *block = cfg_block;
    *shmem = cfg_shmem;
    *(void **)stream = cfg_stream;
    return 0;
}

int __cudaGetKernel(void **kernel, const void *fun)
{
    *kernel = (void *)fun;
    return 0;
}

#define ARG(i, type) (*(type *)args[(i)])

int __cudaLaunchKernel(void *kernel, struct dim3 grid, struct dim3 block, void **args, size_t shmem,
                       void *stream)
{
    const char *name = "";
    (void)shmem, (void)stream;
    if (sticky_error)
        return sticky_error;
    for (int i = 0; i < n_kernels; i++)
        if (kernels[i].host == kernel)
            name = kernels[i].name;
    long per_block = (long)block.x * block.y * block.z;
    long threads = per_block * grid.x * grid.y * grid.z;
    if (per_block < 1 || per_block > 1024) {
        last_error = 9;
        return 9;
    }
    if (strstr(name, "vadd_k")) {
        const float *a = ARG(0, const float *), *b = ARG(1, const float *);
        float *c = ARG(2, float *);
        for (long i = 0; i < threads && i < ARG(3, int); i++)
            c[i] = a[i] + b[i];
    } else if (strstr(name, "fill_k")) {
        for (long i = 0; i < threads && i < ARG(2, int); i++)
            ARG(0, float *)[i] = ARG(1, float);
    } else if (strstr(name, "scale_k")) {
        for (long i = 0; i < threads && i < ARG(2, int); i++)
            ARG(0, float *)[i] *= ARG(1, float);
    } else if (strstr(name, "saxpy_k")) {
        const float *x = ARG(2, const float *);
        float *y = ARG(3, float *);
        for (long i = 0; i < threads && i < ARG(0, int); i++)
            y[i] = ARG(1, float) * x[i] + y[i];
    } else if (strstr(name, "poke_k")) {
        sticky_error = 700; /* as if it wrote through a bad pointer */
    } else {
        fprintf(stderr, "mock_cuda: kernel %s is not known: nothing done\n", name);
    }
    return 0;
}

#endif
