/*
 * ck_job.c - spawning helper processes (see ck_job.h). Children get a clean signal
 * mask and default dispositions so a blocked SIGINT in the front does not leak into gcc.
 */
#include "ck_job.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jp_err.h"
#include "jp_time.h"

extern char **environ;

int ck_job_start(struct ck_job *j, char *const argv[], const char *cwd, size_t out_limit)
{
    int p[2];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int rc;

    memset(j, 0, sizeof *j);
    j->fd = -1;
    jp_buf_init(&j->out, out_limit);
    if (pipe2(p, O_CLOEXEC))
        return JP_EIO;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawnp(&j->pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (rc) {
        close(p[0]);
        j->pid = 0;
        jp_buf_addf(&j->out, "cannot run %s: %s\n", argv[0], strerror(rc));
        return JP_EIO;
    }
    j->fd = p[0];
    fcntl(j->fd, F_SETFL, O_NONBLOCK);
    return 0;
}

int ck_job_poll(struct ck_job *j)
{
    char buf[16384];
    while (j->fd >= 0) {
        ssize_t r = read(j->fd, buf, sizeof buf);
        if (r > 0) {
            /* over the cap the rest is dropped; the job still has to be drained */
            size_t room = j->out.limit - j->out.len;
            jp_buf_add(&j->out, buf, (size_t)r < room ? (size_t)r : room);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return 0;
        close(j->fd);
        j->fd = -1;
    }
    if (j->pid > 0) {
        /* the pipe closed: the compiler and everything it started have exited */
        while (waitpid(j->pid, &j->status, 0) < 0 && errno == EINTR)
            ;
        j->pid = 0;
    }
    return 1;
}

void ck_job_kill(struct ck_job *j)
{
    if (j->pid > 0) {
        kill(j->pid, SIGKILL);
        while (waitpid(j->pid, &j->status, 0) < 0 && errno == EINTR)
            ;
        j->pid = 0;
    }
    if (j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
}

void ck_job_dispose(struct ck_job *j)
{
    ck_job_kill(j);
    jp_buf_dispose(&j->out);
}

int ck_run(char *const argv[], const char *cwd, struct jp_buf *out, int timeout_ms)
{
    struct ck_job j;
    int64_t deadline = jp_time_mono_ms() + timeout_ms;
    int rc = -1;
    if (ck_job_start(&j, argv, cwd, out ? out->limit : 1 << 16)) {
        ck_job_dispose(&j);
        return -1;
    }
    while (!ck_job_poll(&j)) {
        int64_t left = deadline - jp_time_mono_ms();
        if (left <= 0) {
            ck_job_kill(&j);
            goto done;
        }
        struct pollfd pf = {j.fd, POLLIN, 0};
        poll(&pf, 1, (int)left);
    }
    if (WIFEXITED(j.status))
        rc = WEXITSTATUS(j.status);
done:
    if (out && j.out.len)
        jp_buf_add(out, j.out.data, j.out.len);
    ck_job_dispose(&j);
    return rc;
}
