/*
 * exec_main.c - cnote-exec, the process that holds a notebook's C state.
 *
 * The front (cnote-kernel) compiles each cell to a shared object; this process dlopens
 * it with RTLD_GLOBAL, so every later cell can use its globals and functions, and runs
 * its cell function. fd 1 and 2 are pipes read by the front (so printf, puts, write(1)
 * and library output are all captured); fd 3 is the framed control socket
 * (ck_frame.h); stdin is replaced by a stream that asks the front for input.
 * A cell runs under a guard: SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT and SIGINT jump
 * back to the runner (on an alternate stack, so stack overflows are caught too) and the
 * process lives on with its state. It links no ZeroMQ and no JSON library, and knows
 * nothing of the Jupyter protocol.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "../include/cnote.h"
#include "ck_frame.h"
#include "cnote_cuda.h"
#include "exec.h"

#define CTL_FD 3

static sigjmp_buf run_jmp;
static volatile sig_atomic_t in_cell;
static volatile sig_atomic_t interrupted;
static pid_t main_tid;
static int allow_stdin;
static int tainted;
static size_t oom_request;   /* size of a failed allocation during this cell, 0 if none */
static char cuda_error[512]; /* the CUDA error found after this cell, "" if none */
static int cuda_sticky;      /* ... and it broke the GPU context */

struct fault {
    int sig;
    int code;
    void *addr;
    void *pc;
};
static struct fault fault;

/* ---- control socket ---- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r == 0)
            return -1;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

int ck_exec_send(unsigned type, const void *data, size_t len)
{
    struct ck_frame_hdr h = {type, (uint32_t)len};
    sigset_t block, old;
    int rc;
    if (len > CK_FRAME_MAX)
        return -1;
    /* No interrupt may land in the middle of a frame: SIGINT waits until it is written. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    fflush(stdout);
    fflush(stderr);
    rc = write_all(CTL_FD, &h, sizeof h);
    if (!rc && len)
        rc = write_all(CTL_FD, data, len);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int recv_frame(unsigned *type, char **data, size_t *len);

int ck_exec_send_wait(unsigned type, const void *data, size_t len, unsigned want)
{
    if (ck_exec_send(type, data, len))
        return -1;
    for (;;) {
        unsigned t;
        char *d;
        size_t l;
        if (recv_frame(&t, &d, &l))
            _exit(0); /* the front went away */
        free(d);
        if (t == want)
            return 0;
    }
}

/* Read one frame; *data is a malloc'd NUL-terminated copy. -1 on EOF or error. */
static int recv_frame(unsigned *type, char **data, size_t *len)
{
    struct ck_frame_hdr h;
    if (read_all(CTL_FD, &h, sizeof h))
        return -1;
    if (h.len > CK_FRAME_MAX)
        return -1;
    char *p = malloc((size_t)h.len + 1);
    if (!p)
        return -1;
    if (read_all(CTL_FD, p, h.len)) {
        free(p);
        return -1;
    }
    p[h.len] = '\0';
    *type = h.type;
    *data = p;
    *len = h.len;
    return 0;
}

/* ---- memory ---- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static int called_from_cell(void *ret)
{
    Dl_info di;
    return in_cell && ret && dladdr(ret, &di) && di.dli_fname && strstr(di.dli_fname, "/cell");
}

/* A failed allocation requested directly by cell code ends the cell with MemoryError at
 * once (no library lock is held there); one inside a library just returns NULL, and a
 * crash that follows is reported as out of memory. */
static void out_of_memory(size_t n, void *ret)
{
    oom_request = n ? n : 1;
    if (called_from_cell(ret) && syscall(SYS_gettid) == main_tid) {
        fault.sig = -1;
        in_cell = 0;
        siglongjmp(run_jmp, 1);
    }
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    if (!p && n)
        out_of_memory(n, __builtin_return_address(0));
    return p;
}

void *calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    if (!p && a && b)
        out_of_memory(a * b, __builtin_return_address(0));
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p = __libc_realloc(old, n);
    if (!p && n)
        out_of_memory(n, __builtin_return_address(0));
    return p;
}

/* ---- processes started by cells ----
 * stdout is fully buffered for speed; a child started by the cell writes straight to the
 * pipe, so without a flush first its output would overtake what the cell printed before
 * (and a forked child would print the parent's buffer a second time). */

int system(const char *cmd)
{
    static int (*real)(const char *);
    if (!real)
        real = (int (*)(const char *))dlsym(RTLD_NEXT, "system");
    fflush(NULL);
    return real ? real(cmd) : -1;
}

FILE *popen(const char *cmd, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (!real)
        real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "popen");
    fflush(NULL);
    return real ? real(cmd, mode) : NULL;
}

pid_t fork(void)
{
    static pid_t (*real)(void);
    if (!real)
        real = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
    fflush(NULL);
    return real ? real() : -1;
}

/* ---- signals ---- */

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    if (!in_cell || syscall(SYS_gettid) != main_tid) {
        /* not in a cell, or another thread: die the normal way so the front notices */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    fault.sig = sig;
    fault.code = si ? si->si_code : 0;
    fault.addr = si ? si->si_addr : NULL;
#if defined(__x86_64__)
    fault.pc = uc ? (void *)uc->uc_mcontext.gregs[REG_RIP] : NULL;
#elif defined(__aarch64__)
    fault.pc = uc ? (void *)uc->uc_mcontext.pc : NULL;
#else
    (void)uc;
    fault.pc = NULL;
#endif
    in_cell = 0;
    siglongjmp(run_jmp, 1);
}

static void on_interrupt(int sig, siginfo_t *si, void *ucv)
{
    (void)si;
    (void)ucv;
    interrupted = 1;
    if (in_cell && syscall(SYS_gettid) == main_tid) {
        fault.sig = sig;
        fault.addr = NULL;
        fault.pc = NULL;
        in_cell = 0;
        siglongjmp(run_jmp, 1);
    }
}

int cnote_interrupted(void)
{
    return interrupted;
}

static void install_signals(void)
{
    static char altstack[256 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
    sa.sa_sigaction = on_interrupt;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK; /* no SA_RESTART: a blocked read sees EINTR */
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- stdin ---- */

static char *pending_in;
static size_t pending_len, pending_off;

static ssize_t stdin_read(void *cookie, char *buf, size_t size)
{
    (void)cookie;
    if (pending_off < pending_len) {
        size_t n = pending_len - pending_off < size ? pending_len - pending_off : size;
        memcpy(buf, pending_in + pending_off, n);
        pending_off += n;
        return (ssize_t)n;
    }
    if (!allow_stdin || !in_cell)
        return 0;
    const char req[] = "{\"prompt\":\"\",\"password\":false}";
    if (ck_exec_send(CKF_INPUT_REQ, req, sizeof req - 1))
        return -1;
    for (;;) {
        unsigned type;
        char *data;
        size_t len;
        if (recv_frame(&type, &data, &len))
            _exit(0); /* the front went away */
        if (type == CKF_INPUT_EOF) {
            free(data);
            return 0;
        }
        if (type != CKF_INPUT) {
            free(data);
            continue;
        }
        free(pending_in);
        pending_in = data;
        data[len] = '\n'; /* the answer is a line */
        pending_len = len + 1;
        pending_off = 0;
        return stdin_read(cookie, buf, size);
    }
}

static void replace_stdin(void)
{
    cookie_io_functions_t io = {.read = stdin_read};
    FILE *f = fopencookie(NULL, "r", io);
    if (f)
        stdin = f;
}

/* ---- output flushing ---- */

static void *flusher(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    for (;;) {
        nanosleep(&ts, NULL);
        /* never wait for the lock: the cell may hold it, or a jump out of printf may
         * have left it held */
        if (ftrylockfile(stdout) == 0) {
            fflush_unlocked(stdout);
            funlockfile(stdout);
        }
    }
    return NULL;
}

/* ---- running cells ---- */

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGSYS:
        return "SIGSYS";
    default:
        return "signal";
    }
}

static const char *fault_text(int sig, int code)
{
    switch (sig) {
    case SIGSEGV:
        return code == SEGV_ACCERR ? "segmentation fault (write to read-only memory or stack "
                                     "overflow)"
                                   : "segmentation fault (invalid memory access)";
    case SIGBUS:
        return "bus error (misaligned or unmapped memory)";
    case SIGFPE:
        return code == FPE_INTDIV   ? "integer divide by zero"
               : code == FPE_INTOVF ? "integer overflow"
                                    : "arithmetic exception";
    case SIGILL:
        return "illegal instruction";
    case SIGABRT:
        return "abort() was called (a failed assert?)";
    case SIGTRAP:
        return "trap instruction (__builtin_trap?)";
    default:
        return "fatal signal";
    }
}

/* Write s into out as the inside of a JSON string (quotes, backslashes and controls
 * escaped, truncated to fit). */
static void json_inner(char *out, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 8 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

/* DONE for a cell that needs CUDA when CUDA cannot be made ready: it was not loaded. */
static void send_cuda_unavailable(const char *why)
{
    char esc[1024], msg[1200];
    json_inner(esc, sizeof esc, why);
    int n = snprintf(msg, sizeof msg,
                     "{\"status\":\"error\",\"ename\":\"CUDAError\",\"evalue\":\"%s\","
                     "\"loaded\":false}",
                     esc);
    ck_exec_send(CKF_DONE, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

static void send_done(void)
{
    char msg[2048];
    int n;
    if (fault.sig == 0 && cuda_error[0]) {
        char esc[1024];
        json_inner(esc, sizeof esc, cuda_error);
        n = snprintf(msg, sizeof msg,
                     "{\"status\":\"error\",\"ename\":\"CUDAError\",\"evalue\":\"%s\","
                     "\"cuda_after\":true,\"cuda_sticky\":%s}",
                     esc, cuda_sticky ? "true" : "false");
    } else if (fault.sig == 0) {
        n = snprintf(msg, sizeof msg, "{\"status\":\"ok\"%s}", oom_request ? ",\"oom\":true" : "");
    } else if (fault.sig == SIGINT) {
        n = snprintf(msg, sizeof msg,
                     "{\"status\":\"error\",\"ename\":\"KeyboardInterrupt\",\"evalue\":"
                     "\"interrupted by the user\",\"tainted\":%s}",
                     tainted ? "true" : "false");
    } else if (fault.sig == -1 || (oom_request && fault.sig != SIGINT)) {
        struct rlimit rl;
        getrlimit(RLIMIT_AS, &rl);
        n = snprintf(msg, sizeof msg,
                     "{\"status\":\"error\",\"ename\":\"MemoryError\",\"evalue\":\"out of "
                     "memory: an allocation of %zu bytes failed (memory limit %" PRIu64
                     " MB)\",\"tainted\":%s}",
                     oom_request, (uint64_t)(rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur >> 20),
                     fault.sig == -1 ? "false" : "true");
    } else {
        Dl_info di;
        const char *so = "";
        const char *fn = "";
        unsigned long off = 0;
        if (fault.pc && dladdr(fault.pc, &di) && di.dli_fname) {
            so = di.dli_fname;
            off = (unsigned long)((char *)fault.pc - (char *)di.dli_fbase);
            fn = di.dli_sname ? di.dli_sname : "";
        }
        const char *what = fault_text(fault.sig, fault.code);
        if ((fault.sig == SIGSEGV || fault.sig == SIGBUS) && (uintptr_t)fault.addr < 4096)
            what = "segmentation fault (NULL pointer dereference)";
        n = snprintf(msg, sizeof msg,
                     "{\"status\":\"error\",\"ename\":\"%s\",\"evalue\":\"%s\",\"addr\":\"%p\","
                     "\"so\":\"%s\",\"offset\":%lu,\"symbol\":\"%s\",\"tainted\":true}",
                     sig_name(fault.sig), what, fault.addr, so, off, fn);
    }
    if (n < 0 || (size_t)n >= sizeof msg)
        n = snprintf(msg, sizeof msg, "{\"status\":\"error\",\"ename\":\"%s\",\"evalue\":\"\"}",
                     sig_name(fault.sig));
    ck_exec_send(CKF_DONE, msg, (size_t)n);
}

static void run_cell(char *payload, size_t len)
{
    const char *so = payload;
    const char *fname = so + strlen(so) + 1;
    const char *flags = fname < payload + len ? fname + strlen(fname) + 1 : "0";
    allow_stdin = flags < payload + len && flags[0] == '1';
    const char *cuda = flags < payload + len ? flags + strlen(flags) + 1 : "0";
    const char *cuda_dir = cuda < payload + len ? cuda + strlen(cuda) + 1 : "";
    if (cuda_dir >= payload + len)
        cuda_dir = "";
    if (cuda < payload + len && (cuda[0] == '1' || cuda[0] == '2')) {
        char why[1024];
        if (cnote_cuda_prepare(cuda_dir, cuda[0] == '2', why, sizeof why)) {
            send_cuda_unavailable(why);
            return;
        }
    }
    void *h = dlopen(so, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        const char *e = dlerror();
        char msg[4096];
        size_t o = 0;
        o += (size_t)snprintf(msg, sizeof msg,
                              "{\"status\":\"error\",\"ename\":\"LinkError\","
                              "\"evalue\":\"");
        for (const char *p = e ? e : "dlopen failed"; *p && o + 8 < sizeof msg; p++) {
            if (*p == '"' || *p == '\\')
                msg[o++] = '\\';
            msg[o++] = (*p == '\n' || *p == '\t') ? ' ' : *p;
        }
        o += (size_t)snprintf(msg + o, sizeof msg - o, "\",\"loaded\":false}");
        ck_exec_send(CKF_DONE, msg, o < sizeof msg ? o : sizeof msg - 1);
        return;
    }
    void (*fn)(void) = (void (*)(void))dlsym(h, fname);
    memset(&fault, 0, sizeof fault);
    oom_request = 0;
    interrupted = 0;
    clearerr(stdin);
    __fpurge(stdin);
    pending_len = pending_off = 0;
    cuda_error[0] = '\0';
    cuda_sticky = 0;
    if (fn) {
        if (sigsetjmp(run_jmp, 1) == 0) {
            in_cell = 1;
            fn();
            /* the cell's kernels may still be running: wait for them (interruptible) and
             * collect the first error of its launches */
            if (cnote_cuda_ready())
                cnote_cuda_check(cuda_error, sizeof cuda_error, &cuda_sticky);
            in_cell = 0;
        } else {
            in_cell = 0;
            if (fault.sig != SIGINT && fault.sig != -1)
                tainted = 1;
        }
    }
    fflush(stdout);
    fflush(stderr);
    send_done();
}

/* %threads: OpenBLAS reads OPENBLAS_NUM_THREADS when it loads, and once loaded its
 * openblas_set_num_threads (found in the global scope, where %lib and implied libraries
 * are loaded) changes the count. Answers with the count in use, "" when no OpenBLAS is
 * loaded yet. */
static void blas_threads(const char *arg)
{
    char v[32] = "";
    int n = 0;
    long want = strtol(arg, NULL, 10);
    if (want > 0) {
        setenv("OPENBLAS_NUM_THREADS", arg, 1);
        void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
        if (set) {
            /* new pool threads inherit the mask: keep SIGINT for the cell's thread */
            sigset_t intr, old;
            sigemptyset(&intr);
            sigaddset(&intr, SIGINT);
            pthread_sigmask(SIG_BLOCK, &intr, &old);
            set((int)want);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
    }
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    if (get)
        n = snprintf(v, sizeof v, "%d", get());
    ck_exec_send(CKF_THREADS_IS, v, (size_t)(n > 0 ? n : 0));
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return 1;
    main_tid = (pid_t)syscall(SYS_gettid);
    setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
    setvbuf(stderr, NULL, _IONBF, 0);
    replace_stdin();
    install_signals();

    /* the flusher thread must never take SIGINT: it belongs to the cell's thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t th;
    pthread_create(&th, NULL, flusher, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d", (int)getpid());
    ck_exec_send(CKF_READY, pid, (size_t)n);
    for (;;) {
        unsigned type;
        char *data;
        size_t len;
        if (recv_frame(&type, &data, &len))
            break;
        switch (type) {
        case CKF_RUN:
            run_cell(data, len);
            break;
        case CKF_LOAD: {
            /* threads a library starts while it loads (OpenBLAS's pool) inherit this mask:
             * a SIGINT must reach the cell's thread, never one of theirs */
            sigset_t intr, mask;
            sigemptyset(&intr);
            sigaddset(&intr, SIGINT);
            pthread_sigmask(SIG_BLOCK, &intr, &mask);
            void *h = dlopen(data, RTLD_NOW | RTLD_GLOBAL);
            pthread_sigmask(SIG_SETMASK, &mask, NULL);
            const char *e = h ? "" : dlerror();
            ck_exec_send(CKF_LOADED, e ? e : "dlopen failed", e ? strlen(e) : 13);
            break;
        }
        case CKF_THREADS:
            blas_threads(data);
            break;
        case CKF_GPU: {
            char *info = cnote_cuda_info(data);
            const char *t = info ? info : "-\nout of memory\n";
            ck_exec_send(CKF_GPU_INFO, t, strlen(t));
            free(info);
            break;
        }
        case CKF_MEMLIMIT: {
            struct rlimit rl;
            unsigned long long v = strtoull(data, NULL, 10);
            if (cnote_cuda_started()) {
                /* the CUDA driver's address space reservations exceed any such limit */
                fputs("note: the memory limit is not applied while CUDA is in use (the CUDA "
                      "driver reserves more address space than it allows); %reset applies it "
                      "to a fresh state process\n",
                      stderr);
                break;
            }
            getrlimit(RLIMIT_AS, &rl);
            rl.rlim_cur = v ? (rlim_t)v : rl.rlim_max;
            if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
                rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_AS, &rl);
            break;
        }
        default:
            break; /* stray input answers and unknown frames are ignored */
        }
        free(data);
    }
    fflush(stdout);
    _exit(0);
}
