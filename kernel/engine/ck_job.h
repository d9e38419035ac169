/*
 * ck_job.h - child processes for the kernel front: compilers, the linker, addr2line,
 * man. Started with posix_spawn (never fork: the front may be big and fork copies page
 * tables), with stdout and stderr on one non-blocking pipe that the caller drains from
 * its event loop, or synchronously with a time limit for short helpers.
 */
#ifndef CK_JOB_H
#define CK_JOB_H

#include <sys/types.h>

#include "jp_buf.h"

struct ck_job {
    pid_t pid;         /* 0 when not running */
    int fd;            /* read end of the output pipe, -1 when closed */
    struct jp_buf out; /* output collected so far (capped) */
    int status;        /* wait status once finished */
};

/* Start argv[0] (searched in PATH) in directory cwd (NULL: current) with output captured
 * (at most out_limit bytes kept). 0, JP_EIO (spawn failed: errno-style text in j->out). */
int ck_job_start(struct ck_job *j, char *const argv[], const char *cwd, size_t out_limit);
/* Read what is available. Returns 1 when the job has finished (pipe closed and process
 * reaped; j->status set), 0 when it is still running. */
int ck_job_poll(struct ck_job *j);
/* Kill (SIGKILL) and reap a running job. Safe on a finished one. */
void ck_job_kill(struct ck_job *j);
void ck_job_dispose(struct ck_job *j);
/* Run to completion, waiting at most timeout_ms; returns the exit status (0..255), -1 on a
 * spawn failure, a signal or the time limit. Output into out (may be NULL). */
int ck_run(char *const argv[], const char *cwd, struct jp_buf *out, int timeout_ms);

#endif
