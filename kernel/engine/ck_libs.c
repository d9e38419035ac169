/*
 * ck_libs.c - the header -> library table (see ck_libs.h). Debian's OpenBLAS
 * (libopenblas-dev) holds BLAS, CBLAS and the Fortran LAPACK routines in libopenblas.so.0;
 * LAPACKE, the C interface to LAPACK, is a separate library (liblapacke-dev) that calls
 * the LAPACK that the alternatives system points at, OpenBLAS's when it is installed.
 * libblas.so.3 is the last resort for CBLAS: every Debian BLAS behind the alternatives
 * link exports the cblas_* functions.
 */
#include "ck_libs.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const struct ck_lib lib_openblas = {
    "openblas", {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"}, "libopenblas-dev", 0};
static const struct ck_lib lib_lapacke = {
    "lapacke", {"liblapacke.so.3", "liblapacke.so", NULL}, "liblapacke-dev", 0};

static const struct ck_lib *const blas_only[] = {&lib_openblas, NULL};
static const struct ck_lib *const with_lapacke[] = {&lib_openblas, &lib_lapacke, NULL};
/* CUDA: the runtime, and cuBLAS (which needs cuBLASLt). A cell that includes a CUDA header
 * also needs a GPU: the kernel checks that before it runs (ck_cuda.h, cnote_cuda.h). */
static const struct ck_lib lib_cudart = {
    "cudart", {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11"}, "nvidia-cuda-toolkit", 1};
static const struct ck_lib lib_cublaslt = {
    "cublasLt",
    {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"},
    "nvidia-cuda-toolkit",
    1};
static const struct ck_lib lib_cublas = {
    "cublas", {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}, "nvidia-cuda-toolkit", 1};
static const struct ck_lib *const cuda_rt[] = {&lib_cudart, NULL};
static const struct ck_lib *const cublas_lt[] = {&lib_cudart, &lib_cublaslt, NULL};
static const struct ck_lib *const cublas[] = {&lib_cudart, &lib_cublaslt, &lib_cublas, NULL};

static const struct {
    const char *header;
    const struct ck_lib *const *libs;
} table[] = {
    {"cblas.h", blas_only},
    {"cblas-openblas.h", blas_only},
    {"f77blas.h", blas_only},
    {"openblas_config.h", blas_only},
    {"lapack.h", blas_only},
    {"lapacke.h", with_lapacke},
    {"lapacke_utils.h", with_lapacke},
    {"cuda_runtime.h", cuda_rt},
    {"cuda_runtime_api.h", cuda_rt},
    {"cublas_v2.h", cublas},
    {"cublas.h", cublas},
    {"cublas_api.h", cublas},
    {"cublasXt.h", cublas},
    {"cublasLt.h", cublas_lt},
};

static const char *const sys_dirs[] = {"/usr/local/lib",
                                       "/usr/lib/x86_64-linux-gnu",
                                       "/lib/x86_64-linux-gnu",
                                       "/usr/lib/aarch64-linux-gnu",
                                       "/usr/lib64",
                                       "/usr/lib",
                                       "/lib",
                                       NULL};

const struct ck_lib *const *ck_libs_for_header(const char *header)
{
    const char *base = strrchr(header, '/');
    base = base ? base + 1 : header;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(base, table[i].header) == 0)
            return table[i].libs;
    return NULL;
}

/* The header name of an #include line starting at p ("#  include <a/b.h>"), copied into
 * name; 0 when the line is not an #include of <...> or "...". */
static int include_name(const char *p, char *name, size_t len)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '#')
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "include", 7) != 0)
        return 0;
    p += 7;
    while (*p == ' ' || *p == '\t')
        p++;
    char close = *p == '<' ? '>' : *p == '"' ? '"' : 0;
    if (!close)
        return 0;
    const char *s = ++p;
    while (*p && *p != close && *p != '\n')
        p++;
    if (*p != close || (size_t)(p - s) >= len || p == s)
        return 0;
    memcpy(name, s, (size_t)(p - s));
    name[p - s] = '\0';
    return 1;
}

size_t ck_libs_implied(const char *text, struct ck_lib_need *out, size_t max)
{
    /* each library once; at most every library of the table */
    const struct ck_lib *seen[8];
    size_t nseen = 0, n = 0;
    for (const char *line = text; line && *line;) {
        char name[256];
        const struct ck_lib *const *libs = NULL;
        if (include_name(line, name, sizeof name))
            libs = ck_libs_for_header(name);
        for (; libs && *libs; libs++) {
            int dup = 0;
            for (size_t i = 0; i < nseen && !dup; i++)
                dup = seen[i] == *libs;
            if (dup || nseen == sizeof seen / sizeof seen[0])
                continue;
            seen[nseen++] = *libs;
            if (n < max) {
                const char *base = strrchr(name, '/');
                out[n].lib = *libs;
                out[n].header = NULL;
                for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                    if (strcmp(base ? base + 1 : name, table[i].header) == 0)
                        out[n].header = table[i].header;
            }
            n++;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return n;
}

int ck_libs_locate(const struct ck_lib *lib, const char *const *dirs, char *path, size_t len)
{
    if (!dirs)
        dirs = sys_dirs;
    for (size_t f = 0; f < CK_LIB_MAX_FILES && lib->files[f]; f++)
        for (size_t d = 0; dirs[d]; d++) {
            struct stat st;
            int w = snprintf(path, len, "%s/%s", dirs[d], lib->files[f]);
            if (w > 0 && (size_t)w < len && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                return 1;
        }
    snprintf(path, len, "%s", lib->files[0]);
    return 0;
}
