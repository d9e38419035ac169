/*
 * cnote_cuda.c - CUDA in the state process, found at run time (see cnote_cuda.h).
 *
 * No CUDA header is included: the dozen functions used are resolved with dlsym and typed
 * here by hand (cudaError_t and CUresult are enums, CUdevice an int; attribute numbers
 * are the stable values of the driver API). The driver is checked first because without
 * it the runtime answers every call with cudaErrorInsufficientDriver, "CUDA driver version
 * is insufficient for CUDA runtime version", which sends users looking for an update of
 * a driver they do not have. Threads the driver starts while initialising inherit the
 * calling thread's signal mask, so initialisation runs with SIGINT blocked: an interrupt
 * must reach the cell's thread. It does not know the Jupyter protocol or the frames.
 */
#include "cnote_cuda.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum {
    CUDA_OK = 0,
    CUDA_INSUFFICIENT_DRIVER = 35, /* cudaErrorInsufficientDriver */
    CUDA_NO_DEVICE = 100,          /* cudaErrorNoDevice */
    CU_ATTR_SM_COUNT = 16,         /* CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT */
    CU_ATTR_CC_MAJOR = 75,         /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */
    CU_ATTR_CC_MINOR = 76,
};

static struct {
    void *drv, *rt;
    int started; /* cuInit was called: the address-space limit is lifted for good */
    int ready;   /* 1: devices usable; 2: a sticky error broke the context */
    char broken[400];
    char rt_path[512];
    /* runtime */
    int (*getDeviceCount)(int *);
    int (*deviceSynchronize)(void);
    int (*getLastError)(void);
    int (*freeMem)(void *);
    const char *(*getErrorString)(int);
    const char *(*getErrorName)(int);
    int (*runtimeGetVersion)(int *);
    /* driver */
    int (*cuInit)(unsigned);
    int (*cuDriverGetVersion)(int *);
    int (*cuDeviceGetCount)(int *);
    int (*cuDeviceGet)(int *, int);
    int (*cuDeviceGetName)(char *, int, int);
    int (*cuDeviceTotalMem)(size_t *, int);
    int (*cuDeviceGetAttribute)(int *, int, int);
    int (*cuGetErrorString)(int, const char **);
} cu;

int cnote_cuda_ready(void)
{
    return cu.ready == 1;
}

int cnote_cuda_started(void)
{
    return cu.started;
}

/* dlsym into a function pointer of any type */
#define SYM(h, field, name) (*(void **)&cu.field = dlsym((h), (name)))

static int load_driver(char *why, size_t len)
{
    if (cu.drv)
        return 0;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        snprintf(why, len, "no CUDA driver (libcuda.so.1 not found)");
        return -1;
    }
    SYM(h, cuInit, "cuInit");
    SYM(h, cuDriverGetVersion, "cuDriverGetVersion");
    SYM(h, cuDeviceGetCount, "cuDeviceGetCount");
    SYM(h, cuDeviceGet, "cuDeviceGet");
    SYM(h, cuDeviceGetName, "cuDeviceGetName");
    SYM(h, cuDeviceTotalMem, "cuDeviceTotalMem_v2");
    SYM(h, cuDeviceGetAttribute, "cuDeviceGetAttribute");
    SYM(h, cuGetErrorString, "cuGetErrorString");
    if (!cu.cuInit || !cu.cuDeviceGetCount || !cu.cuDeviceGet) {
        snprintf(why, len, "no CUDA driver (libcuda.so.1 lacks cuInit)");
        dlclose(h);
        return -1;
    }
    cu.drv = h;
    return 0;
}

static void *open_rt(const char *dir, const char *soname, int flags)
{
    char p[1024];
    if (dir && *dir) {
        int n = snprintf(p, sizeof p, "%s/%s", dir, soname);
        if (n < 0 || (size_t)n >= sizeof p)
            return NULL;
        return dlopen(p, flags);
    }
    return dlopen(soname, flags);
}

static int load_runtime(const char *libdir, char *why, size_t len)
{
    static const char *const sonames[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11",
                                          NULL};
    static const char *const sub[] = {"lib64", "lib", NULL};
    const int now = RTLD_NOW | RTLD_GLOBAL;
    void *h = NULL;
    if (cu.rt)
        return 0;
    /* one already loaded (for a header's library) is the one cells were linked against */
    for (int i = 0; sonames[i] && !h; i++)
        h = dlopen(sonames[i], now | RTLD_NOLOAD);
    for (int i = 0; sonames[i] && !h && libdir && *libdir; i++)
        h = open_rt(libdir, sonames[i], now);
    const char *homes[] = {getenv("CNOTE_CUDA_HOME"), getenv("CUDA_HOME"), getenv("CUDA_PATH"),
                           "/usr/local/cuda"};
    for (int k = 0; k < 4 && !h; k++)
        for (int j = 0; sub[j] && !h && homes[k] && *homes[k]; j++)
            for (int i = 0; sonames[i] && !h; i++) {
                char dir[900];
                snprintf(dir, sizeof dir, "%s/%s", homes[k], sub[j]);
                h = open_rt(dir, sonames[i], now);
            }
    for (int i = 0; sonames[i] && !h; i++)
        h = dlopen(sonames[i], now);
    if (!h) {
        snprintf(why, len,
                 "no CUDA runtime (libcudart.so.13, .12 or .11 not found: set CNOTE_CUDA_HOME)");
        return -1;
    }
    SYM(h, getDeviceCount, "cudaGetDeviceCount");
    SYM(h, deviceSynchronize, "cudaDeviceSynchronize");
    SYM(h, getLastError, "cudaGetLastError");
    SYM(h, freeMem, "cudaFree");
    SYM(h, getErrorString, "cudaGetErrorString");
    SYM(h, getErrorName, "cudaGetErrorName");
    SYM(h, runtimeGetVersion, "cudaRuntimeGetVersion");
    if (!cu.getDeviceCount || !cu.deviceSynchronize || !cu.getLastError || !cu.freeMem ||
        !cu.getErrorString || !cu.getErrorName || !cu.runtimeGetVersion) {
        snprintf(why, len, "no CUDA runtime (the libcudart found lacks cudaGetDeviceCount)");
        return -1;
    }
    Dl_info di;
    if (dladdr(*(void **)&cu.getDeviceCount, &di) && di.dli_fname)
        snprintf(cu.rt_path, sizeof cu.rt_path, "%s", di.dli_fname);
    cu.rt = h;
    return 0;
}

/* The driver reserves address space for unified addressing far beyond physical memory:
 * under the %memlimit (RLIMIT_AS) its initialisation fails with out-of-memory. */
static void lift_as_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_AS, &rl);
    }
    cu.started = 1;
}

static void version_text(int v, char *out, size_t len)
{
    snprintf(out, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

static const char *rt_error(int rc, char *buf, size_t len)
{
    const char *s = cu.getErrorString ? cu.getErrorString(rc) : NULL;
    const char *n = cu.getErrorName ? cu.getErrorName(rc) : NULL;
    snprintf(buf, len, "%s (%s)", s ? s : "unknown error", n ? n : "?");
    return buf;
}

int cnote_cuda_prepare(const char *libdir, int allow_broken, char *why, size_t len)
{
    char reason[600], e[300];
    int n = 0, rc;
    sigset_t intr, old;
    if (cu.ready == 1)
        return 0;
    if (cu.ready == 2) {
        if (allow_broken)
            return 0;
        snprintf(why, len,
                 "the GPU context is unusable since an earlier error (%s): %%reset starts a "
                 "fresh state process",
                 cu.broken);
        return -1;
    }
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    pthread_sigmask(SIG_BLOCK, &intr, &old);
    if (load_driver(reason, sizeof reason) || load_runtime(libdir, reason, sizeof reason)) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto fail;
    }
    lift_as_limit();
    rc = cu.getDeviceCount(&n);
    if (rc == CUDA_OK && n > 0)
        rc = cu.freeMem(NULL); /* creates the context now, with SIGINT blocked */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == CUDA_OK && n > 0) {
        cu.ready = 1;
        return 0;
    }
    if (rc == CUDA_NO_DEVICE || (rc == CUDA_OK && n == 0)) {
        snprintf(reason, sizeof reason, "the driver found no GPU (cudaErrorNoDevice)");
    } else if (rc == CUDA_INSUFFICIENT_DRIVER) {
        int dv = 0, rv = 0;
        char ds[16], rs[16];
        if (cu.cuDriverGetVersion)
            cu.cuDriverGetVersion(&dv);
        cu.runtimeGetVersion(&rv);
        version_text(dv, ds, sizeof ds);
        version_text(rv, rs, sizeof rs);
        snprintf(reason, sizeof reason,
                 "the NVIDIA driver supports CUDA %s, older than the CUDA %s runtime (update the "
                 "driver, or use a CUDA %s toolkit)",
                 ds, rs, ds);
    } else {
        snprintf(reason, sizeof reason, "%s", rt_error(rc, e, sizeof e));
    }
fail:
    snprintf(why, len, "no CUDA device: %s", reason);
    return -1;
}

int cnote_cuda_check(char *msg, size_t len, int *sticky)
{
    char e[300];
    *sticky = 0;
    if (cu.ready != 1)
        return 0;
    int rc = cu.deviceSynchronize();
    int last = cu.getLastError(); /* also clears a launch error that is not sticky */
    if (rc == CUDA_OK)
        rc = last;
    if (rc == CUDA_OK)
        return 0;
    snprintf(msg, len, "%s", rt_error(rc, e, sizeof e));
    if (cu.deviceSynchronize() != CUDA_OK) {
        /* still failing: the context is lost (illegal address, kernel trap, ...) */
        *sticky = 1;
        cu.ready = 2;
        snprintf(cu.broken, sizeof cu.broken, "%s", msg);
    }
    return 1;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

char *cnote_cuda_info(const char *libdir)
{
    char *text = NULL, why[600], e[300], arch[256] = "", ver[16];
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    struct {
        char name[256];
        int major, minor, sms;
        size_t mem;
    } dev[16];
    int ndev = 0, ccs[16], nccs = 0;
    sigset_t intr, old;
    if (!f)
        return NULL;
    /* threads the driver starts inherit the mask: SIGINT belongs to the cells' thread */
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    pthread_sigmask(SIG_BLOCK, &intr, &old);
    int have_drv = load_driver(why, sizeof why) == 0;
    int have_rt = load_runtime(libdir, e, sizeof e) == 0;
    char lines[2048];
    size_t o = 0;
    if (have_drv) {
        int dv = 0;
        if (cu.cuDriverGetVersion)
            cu.cuDriverGetVersion(&dv);
        version_text(dv, ver, sizeof ver);
        o += (size_t)snprintf(lines + o, sizeof lines - o, "CUDA driver: %s (libcuda.so.1)\n", ver);
    } else {
        o += (size_t)snprintf(lines + o, sizeof lines - o,
                              "CUDA driver: none (libcuda.so.1 not found)\n");
    }
    if (have_rt) {
        int rv = 0;
        cu.runtimeGetVersion(&rv);
        version_text(rv, ver, sizeof ver);
        o += (size_t)snprintf(lines + o, sizeof lines - o, "CUDA runtime: %s (%s)\n", ver,
                              cu.rt_path);
    } else {
        o += (size_t)snprintf(lines + o, sizeof lines - o, "CUDA runtime: %s\n", e);
    }
    if (have_drv) {
        int n = 0, rc;
        lift_as_limit();
        rc = cu.cuInit(0);
        if (rc == CUDA_OK)
            rc = cu.cuDeviceGetCount(&n);
        if (rc != CUDA_OK || n == 0) {
            const char *s = NULL;
            if (rc != CUDA_OK && cu.cuGetErrorString)
                cu.cuGetErrorString(rc, &s);
            snprintf(why, sizeof why, "%s",
                     rc == CUDA_OK || rc == CUDA_NO_DEVICE ? "the driver found no GPU"
                     : s                                   ? s
                                                           : "cuInit failed");
        }
        for (int i = 0; i < n && ndev < 16; i++) {
            int d = 0;
            memset(&dev[ndev], 0, sizeof dev[ndev]);
            if (cu.cuDeviceGet(&d, i) != CUDA_OK)
                continue;
            if (!cu.cuDeviceGetName || cu.cuDeviceGetName(dev[ndev].name, 255, d) != CUDA_OK)
                snprintf(dev[ndev].name, sizeof dev[ndev].name, "GPU");
            if (cu.cuDeviceTotalMem)
                cu.cuDeviceTotalMem(&dev[ndev].mem, d);
            if (cu.cuDeviceGetAttribute) {
                cu.cuDeviceGetAttribute(&dev[ndev].major, CU_ATTR_CC_MAJOR, d);
                cu.cuDeviceGetAttribute(&dev[ndev].minor, CU_ATTR_CC_MINOR, d);
                cu.cuDeviceGetAttribute(&dev[ndev].sms, CU_ATTR_SM_COUNT, d);
            }
            int cc = dev[ndev].major * 10 + dev[ndev].minor, seen = 0;
            for (int j = 0; j < nccs; j++)
                seen |= ccs[j] == cc;
            if (!seen && cc > 0)
                ccs[nccs++] = cc;
            ndev++;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    qsort(ccs, (size_t)nccs, sizeof *ccs, cmp_int);
    for (int i = 0; i < nccs; i++) {
        size_t l = strlen(arch);
        snprintf(arch + l, sizeof arch - l, "%ssm_%d", i ? "," : "", ccs[i]);
    }
    fprintf(f, "%s\n%s", nccs ? arch : "-", lines);
    for (int i = 0; i < ndev; i++)
        fprintf(f, "GPU %d: %s, compute capability %d.%d (sm_%d%d), %.1f GiB, %d multiprocessors\n",
                i, dev[i].name, dev[i].major, dev[i].minor, dev[i].major, dev[i].minor,
                (double)dev[i].mem / (1024.0 * 1024 * 1024), dev[i].sms);
    if (!ndev)
        fprintf(f, "no CUDA device: %s\n", why);
    else if (cu.ready == 2)
        fprintf(f,
                "the GPU context is unusable since an earlier error (%s): %%reset starts a "
                "fresh state process\n",
                cu.broken);
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}
