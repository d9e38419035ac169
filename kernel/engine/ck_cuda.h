/*
 * ck_cuda.h - %%cuda cells on the compiler side: finding the CUDA toolkit, turning a cell
 * into a .cu file against the session, the nvcc and link commands, and nvcc's diagnostics
 * in the form the kernel shows for gcc.
 *
 * A %%cuda cell is one CUDA C++ translation unit at file scope (kernels, device and host
 * functions, globals, includes), compiled by nvcc into an object and linked into a shared
 * object that the state process loads like a C cell. Its host functions whose declarations
 * C understands (builtin and <stdint.h>-style types, pointers) get an assembler label
 * (`vadd__ck4`) and become session functions, so later C and CUDA cells call them and a
 * re-run cell never collides with its old self. The cell sees the earlier cells' functions
 * and globals that it names, where their declarations are valid C++ too. A host function
 * called main is run when the cell loads, as in a C cell.
 *
 * Nothing here loads CUDA or needs it to build: the state process finds the runtime at run
 * time (kernel/exec/cnote_cuda.c). Used by kernel/kloop.c and tests/gpu/driver.c.
 */
#ifndef CK_CUDA_H
#define CK_CUDA_H

#include <stddef.h>

#include "ck_sess.h"
#include "jp_buf.h"

#define CK_CUDA_PATH 4096

struct ck_cuda_tk {
    char nvcc[CK_CUDA_PATH];    /* the compiler, "" when none was found */
    char home[CK_CUDA_PATH];    /* toolkit root (nvcc's bin/..), "" when unknown */
    char include[CK_CUDA_PATH]; /* directory with cuda_runtime.h, "" when none */
    char libdir[CK_CUDA_PATH];  /* directory with libcudart.so.N, "" when none */
    char why[1024];             /* no nvcc: what was looked at */
};

/* Find the toolkit, first match wins: $CNOTE_NVCC (a path; when set, nothing else is
 * tried), $CNOTE_CUDA_HOME/bin/nvcc (likewise), $CUDA_HOME, $CUDA_PATH, nvcc on $PATH,
 * /usr/local/cuda/bin/nvcc. include and libdir come from the toolkit root (also from
 * $CNOTE_CUDA_HOME when its nvcc is missing). Returns 0 when nvcc was found, JP_ENOENT
 * otherwise with tk->why saying what was looked at. */
int ck_cuda_find(struct ck_cuda_tk *tk);

/* nvcc's GPU architecture options for spec, a list separated by commas or spaces of
 * "sm_90", "90", "9.0", "sm_90a", "compute_90", or one of "native", "all", "all-major".
 * "" gives "" (nvcc's default). One real architecture: -arch=sm_90 (its code and PTX);
 * several: a -gencode per architecture plus PTX for the newest. Written to out as
 * space-separated words. 0, JP_EINVAL for a malformed spec, JP_ERANGE when out is short. */
int ck_cuda_arch_flags(const char *spec, char *out, size_t len);

/* A command line with its own storage. */
struct ck_argv {
    char *v[128];
    int n;
    char store[16384];
    size_t used;
};

/* nvcc -c for a cell: src (.cu) to obj, with the cnote.h directory incdir, the arch flags
 * of ck_cuda_arch_flags and extra flags (space-separated, may be NULL). 0 or JP_ERANGE. */
int ck_cuda_compile_argv(const struct ck_cuda_tk *tk, const char *arch_flags, const char *incdir,
                         const char *extra, const char *src, const char *obj, struct ck_argv *a);
/* Link a CUDA cell object into a shared object with the C compiler driver cc: C++ needs
 * crtbeginS/crtendS and libstdc++, and -Bsymbolic binds the cell's own (unlabelled) C++
 * symbols to itself, so a re-run cell never calls into its previous copy. The CUDA
 * runtime is not linked: the state process has it loaded globally. 0 or JP_ERANGE. */
int ck_cuda_link_argv(const char *cc, const char *obj, const char *so, struct ck_argv *a);

/* Rewrite nvcc's diagnostics into gcc's layout: the EDG front end's `In[3](5): error: x`
 * becomes `In[3]:5: error: x` (warning, remark -> note, catastrophic error -> fatal
 * error), its quoted source and caret lines and the "N errors detected" summary are
 * dropped; other lines (the host compiler's, nvcc's own) pass unchanged. Appends to out.
 * 0 or the buffer's error. */
int ck_cuda_diag(const char *text, struct jp_buf *out);

/* Generate the .cu file of a %%cuda cell. `next` is a clone of the session: on success it
 * holds the cell's exported host functions (committed by the caller once the cell has
 * loaded) and a new serial; g->fn is the cell function (runs main() when the cell defines
 * it), g->warnings notes on host functions that stay private to the cell. g must be
 * zero-initialised; free it with ck_gen_dispose. 0 or JP_ENOMEM. */
int ck_cuda_gen(struct ck_session *next, const char *src, size_t len, const char *cell,
                struct ck_gen *g);

/* Non-zero when the header name (as written in #include, "cublas_v2.h" or
 * "foo/cuda_runtime.h") belongs to the CUDA toolkit: a C cell including it needs the
 * toolkit's include directory and a GPU to run. */
int ck_cuda_is_header(const char *name);
/* Non-zero when an #include line of text (C text; only lines starting with # count)
 * names a CUDA header. */
int ck_cuda_includes_cuda(const char *text);

#endif
