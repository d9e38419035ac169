/*
 * ck_frame.h - the framing between the kernel's front process and its executor (the
 * process that holds the user's C state). A frame is an 8-byte header (type, length, both
 * uint32 in host order: the peers are always on the same machine) and `length` bytes.
 * Used by kernel/kexec.c (front side) and kernel/exec/ (executor side); header-only.
 */
#ifndef CK_FRAME_H
#define CK_FRAME_H

#include <stdint.h>

#define CK_FRAME_MAX (256u << 20) /* a display of a big image fits; anything larger is refused */

enum ck_frame_type {
    /* front -> executor */
    /* "so_path\0function\0allow_stdin(0|1)\0cuda(0|1|2)\0cuda_libdir\0"; the last two may
     * be missing. The cell needs a GPU (1: a %%cuda cell; 2: a C cell with CUDA headers, which
     * also runs once a sticky error broke the context): CUDA is made ready before it loads,
     * or it fails with CUDAError. After every cell, once CUDA is ready, errors are collected. */
    CKF_RUN = 1,
    CKF_LOAD = 2,      /* library path: dlopen it RTLD_GLOBAL */
    CKF_INPUT = 3,     /* the user's answer to an input request (without newline) */
    CKF_INPUT_EOF = 4, /* no answer: reading stdin gets end-of-file */
    CKF_MEMLIMIT = 5,  /* decimal bytes of address space, 0 for none */
    CKF_ACK = 6,       /* a DISPLAY frame was published: the cell may go on */
    CKF_THREADS = 7,   /* BLAS threads: decimal count to set, "" to ask; answered by THREADS_IS */
    CKF_GPU = 8,       /* %gpu: the CUDA library directory ("" for none); answered by GPU_INFO */
    /* executor -> front */
    CKF_READY = 16,     /* executor started; payload: its pid in decimal */
    CKF_DONE = 17,      /* cell finished: JSON {"status":"ok"} or an error description */
    CKF_DISPLAY = 18,   /* JSON {"msg_type": ..., "content": {...}} to publish on IOPub;
                         * the executor then waits for ACK, which keeps displays in order
                         * with the output written before and after them */
    CKF_RESULT = 19,    /* text/plain of the cell's trailing expression */
    CKF_INPUT_REQ = 20, /* JSON {"prompt": ..., "password": bool} */
    CKF_LOADED = 21,    /* answer to LOAD: "" on success, else the dlerror() text */
    /* answer to THREADS: the BLAS's thread count, "" when none is loaded */
    CKF_THREADS_IS = 22,
    /* answer to GPU: the architectures for nvcc ("sm_90", "-" for none), a newline, then the
     * text %gpu shows */
    CKF_GPU_INFO = 23,
};

struct ck_frame_hdr {
    uint32_t type;
    uint32_t len;
};

#endif
