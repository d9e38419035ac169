/*
 * cnote_cuda.h - CUDA in the state process (cnote-exec), found at run time.
 *
 * cnote builds without CUDA and the state process links none: the driver (libcuda.so.1)
 * and the runtime (libcudart.so.13, .12 or .11) are dlopened the first time a cell needs
 * a GPU, the runtime RTLD_GLOBAL so that cells compiled by nvcc resolve against it, and
 * stay loaded for the life of the process (device memory therefore outlives the cell that
 * allocated it). Without a driver or a device a cell that needs CUDA gets one clear reason,
 * never a crash. Called by exec_main.c.
 */
#ifndef CNOTE_CUDA_H
#define CNOTE_CUDA_H

#include <stddef.h>

/* Make CUDA ready in this process: driver, runtime and at least one device. libdir: a
 * directory to look for libcudart in first ("" for none). Returns 0 when ready; -1 with a
 * message "no CUDA device: <reason>" (or why the context is unusable) in why. A context
 * broken by an earlier sticky error counts as ready when allow_broken is set (C cells that
 * merely include CUDA headers still run; their own CUDA calls report the error). Lifts the
 * address-space limit first: the CUDA driver reserves more address space than any limit
 * on physical memory allows. */
int cnote_cuda_prepare(const char *libdir, int allow_broken, char *why, size_t len);

/* Non-zero once cnote_cuda_prepare succeeded in this process. */
int cnote_cuda_ready(void);
/* Non-zero once the driver was initialised here: the address-space limit stays lifted
 * (%memlimit cannot apply any more). */
int cnote_cuda_started(void);

/* After a cell, when CUDA is ready: wait for the GPU (cudaDeviceSynchronize) and collect
 * the first error of the cell's launches. Returns 0 when there was none; 1 with
 * "<description> (<cudaErrorName>)" in msg, and *sticky set when the error broke the
 * context for good (every later CUDA call fails until the process restarts). */
int cnote_cuda_check(char *msg, size_t len, int *sticky);

/* For %gpu: a malloc'd text whose first line is the devices' architectures for nvcc
 * ("sm_90", "sm_80,sm_90"; "-" when there is no usable device), followed by lines for
 * the user: driver and runtime versions and, per device, name, compute capability,
 * memory and multiprocessors, or the reason there is no device. NULL on out-of-memory. */
char *cnote_cuda_info(const char *libdir);

#endif
