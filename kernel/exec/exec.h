/*
 * exec.h - what the executor's runtime (cnote_rt.c, the cnote.h API) needs from its
 * main loop (exec_main.c): sending a frame to the front.
 */
#ifndef CK_EXEC_H
#define CK_EXEC_H

#include <stddef.h>

/* Flush stdout and stderr, then send one frame on the control socket; SIGINT is held back
 * while the frame is written. 0 or -1. */
int ck_exec_send(unsigned type, const void *data, size_t len);
/* Send, then wait for a frame of type `want` (other frames are dropped). 0 or -1. */
int ck_exec_send_wait(unsigned type, const void *data, size_t len, unsigned want);

#endif
