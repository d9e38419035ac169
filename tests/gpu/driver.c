/*
 * driver.c - the GPU checks of tests/gpu/run.sh: the C engine driven without the Jupyter
 * front, on a machine with an NVIDIA GPU, its CUDA toolkit and a C compiler (no ZeroMQ,
 * jansson, OpenSSL or libwebsockets needed).
 *
 * It does what cnote-kernel does for a cell, synchronously: the session and code
 * generation of kernel/engine (ck_gen for C cells, ck_cuda_gen for %%cuda cells), the
 * compiler and link commands (cc, and nvcc with ck_cuda.h's arguments), the libraries that
 * headers imply (ck_libs.h), and the framed protocol of the state process cnote-exec
 * (kernel/exec, built from the same tree), whose replies it checks. Each check is a few
 * cells; it prints `PASS name (seconds)` or `FAIL name: reason` per check.
 *
 * usage: driver EXEC INCLUDE_DIR WORK_DIR
 * exit: 0 every check passed; 1 a check failed; 2 no usable GPU (the message says why;
 * the first check still compiles its cells, so the toolchain is exercised); 3 setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ck_cuda.h"
#include "ck_frame.h"
#include "ck_job.h"
#include "ck_libs.h"
#include "ck_sess.h"
#include "jp_buf.h"

extern char **environ;

struct drv {
    const char *exec_path, *incdir, *workdir;
    struct ck_cuda_tk tk;
    char arch[256];       /* from the state process: "sm_90", "-" without a device */
    char arch_flags[512]; /* nvcc's -arch options for it */
    char no_gpu[1024];    /* the reason when there is no usable GPU */
    pid_t pid;
    int ctl, out;
    struct ck_session sess;
    char loaded[16][PATH_MAX];
    int n_loaded;
    /* the last cell */
    int ok;
    char ename[64], evalue[1024], result[4096];
    int sticky;
    struct jp_buf stdout_text;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the state process ---- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_frame(struct drv *d, unsigned type, const void *data, size_t len)
{
    struct ck_frame_hdr h = {type, (uint32_t)len};
    return write_all(d->ctl, &h, sizeof h) || (len && write_all(d->ctl, data, len)) ? -1 : 0;
}

static void drain_stdout(struct drv *d)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(d->out, buf, sizeof buf);
        if (r <= 0)
            break;
        jp_buf_add(&d->stdout_text, buf, (size_t)r);
    }
}

/* Wait for a frame of type want (answering DISPLAY and INPUT_REQ on the way) within
 * timeout_s; its payload (malloc'd) in *data. 0, or -1 when the process died or timed out. */
static int wait_frame(struct drv *d, unsigned want, char **data, double timeout_s)
{
    double end = now_s() + timeout_s;
    struct jp_buf in;
    jp_buf_init(&in, CK_FRAME_MAX + 64);
    for (;;) {
        while (in.len >= sizeof(struct ck_frame_hdr)) {
            struct ck_frame_hdr h;
            memcpy(&h, in.data, sizeof h);
            if (in.len < sizeof h + h.len)
                break;
            char *p = malloc(h.len + 1);
            if (!p)
                goto fail;
            memcpy(p, in.data + sizeof h, h.len);
            p[h.len] = '\0';
            jp_buf_consume(&in, sizeof h + h.len);
            if (h.type == CKF_DISPLAY)
                send_frame(d, CKF_ACK, "", 0);
            else if (h.type == CKF_INPUT_REQ)
                send_frame(d, CKF_INPUT_EOF, "", 0);
            else if (h.type == CKF_RESULT)
                snprintf(d->result, sizeof d->result, "%s", p);
            if (h.type == want) {
                drain_stdout(d);
                *data = p;
                jp_buf_dispose(&in);
                return 0;
            }
            free(p);
        }
        double left = end - now_s();
        if (left <= 0)
            goto fail;
        struct pollfd pf[2] = {{d->ctl, POLLIN, 0}, {d->out, POLLIN, 0}};
        if (poll(pf, 2, (int)(left * 1000) + 1) < 0 && errno != EINTR)
            goto fail;
        if (pf[1].revents & POLLIN)
            drain_stdout(d);
        if (pf[0].revents & (POLLIN | POLLHUP)) {
            char buf[65536];
            ssize_t r = read(d->ctl, buf, sizeof buf);
            if (r <= 0)
                goto fail;
            if (jp_buf_add(&in, buf, (size_t)r))
                goto fail;
        }
    }
fail:
    jp_buf_dispose(&in);
    return -1;
}

static int exec_start(struct drv *d)
{
    int sp[2], op[2];
    posix_spawn_file_actions_t fa;
    char *argv[] = {(char *)d->exec_path, NULL};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) || pipe2(op, O_CLOEXEC))
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, sp[1], 3);
    posix_spawn_file_actions_addchdir_np(&fa, d->workdir);
    int rc = posix_spawn(&d->pid, d->exec_path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(sp[1]);
    close(op[1]);
    if (rc)
        return -1;
    d->ctl = sp[0];
    d->out = op[0];
    fcntl(d->out, F_SETFL, fcntl(d->out, F_GETFL) | O_NONBLOCK);
    char *ready = NULL;
    if (wait_frame(d, CKF_READY, &ready, 30))
        return -1;
    free(ready);
    return 0;
}

/* ---- cells ---- */

static int write_text(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t w = fwrite(s, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* "key":"value" of a flat JSON object, unescaped into out. */
static void json_field(const char *json, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    size_t o = 0;
    out[0] = '\0';
    if (!p)
        return;
    for (p += strlen(pat); *p && *p != '"' && o + 1 < len; p++) {
        if (*p == '\\' && p[1])
            p++;
        out[o++] = *p;
    }
    out[o] = '\0';
}

static void fail_cell(struct drv *d, const char *ename, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_cell(struct drv *d, const char *ename, const char *fmt, ...)
{
    va_list ap;
    d->ok = 0;
    snprintf(d->ename, sizeof d->ename, "%s", ename);
    va_start(ap, fmt);
    vsnprintf(d->evalue, sizeof d->evalue, fmt, ap);
    va_end(ap);
}

/* Load the libraries the cell's and the session's headers imply, from the toolkit first. */
static int load_libs(struct drv *d, const char *code)
{
    char *inc = ck_session_includes_plus(&d->sess, code, strlen(code));
    struct ck_lib_need need[8];
    size_t n = inc ? ck_libs_implied(inc, need, 8) : 0;
    free(inc);
    for (size_t i = 0; i < n && i < 8; i++) {
        char path[PATH_MAX];
        const char *dirs[] = {d->tk.libdir, NULL};
        if (!need[i].lib->cuda || !ck_libs_locate(need[i].lib, dirs, path, sizeof path))
            ck_libs_locate(need[i].lib, NULL, path, sizeof path);
        int known = 0;
        for (int j = 0; j < d->n_loaded && !known; j++)
            known = strcmp(d->loaded[j], path) == 0;
        if (known || d->n_loaded == 16)
            continue;
        char *ans = NULL;
        if (send_frame(d, CKF_LOAD, path, strlen(path)) || wait_frame(d, CKF_LOADED, &ans, 60)) {
            fail_cell(d, "KernelStateLost", "the state process died loading %s", path);
            return -1;
        }
        if (*ans) {
            fail_cell(d, "LibraryError", "%s", ans);
            free(ans);
            return -1;
        }
        free(ans);
        snprintf(d->loaded[d->n_loaded++], PATH_MAX, "%s", path);
    }
    return 0;
}

/* Run a command; its output goes to *out (NULL: discarded). 0 when it exited with 0. */
static int run_cmd(char *const argv[], const char *cwd, struct jp_buf *out)
{
    return ck_run(argv, cwd, out, 300000) == 0 ? 0 : -1;
}

/* Compile, link, load and run one cell the way cnote-kernel does. Returns 0 when the cell
 * ran and reported ok; otherwise d->ename / d->evalue say why. */
static int cell(struct drv *d, int cuda, const char *code)
{
    struct ck_session next;
    struct ck_gen g = {0};
    struct jp_buf out;
    char name[32], src[PATH_MAX], obj[PATH_MAX], so[PATH_MAX], incf[PATH_MAX + 8];
    int rc = -1;

    /* the magic line is blanked, as the kernel's run_magics does (line numbers stay) */
    char *text = strdup(code);
    if (!text) {
        fail_cell(d, "MemoryError", "out of memory");
        return -1;
    }
    if (strncmp(text, "%%cuda", 6) == 0)
        memset(text, ' ', 6);
    code = text;
    d->ok = 1;
    d->ename[0] = d->evalue[0] = d->result[0] = '\0';
    d->sticky = 0;
    jp_buf_reset(&d->stdout_text);
    jp_buf_init(&out, 1 << 20);
    if (ck_session_clone(&next, &d->sess)) {
        fail_cell(d, "MemoryError", "out of memory");
        free(text);
        return -1;
    }
    snprintf(name, sizeof name, "In[%u]", next.serial + 1);
    int grc = cuda ? ck_cuda_gen(&next, code, strlen(code), name, &g)
                   : ck_gen(&next, code, strlen(code), name, &g);
    if (grc) {
        fail_cell(d, "CompileError", "%s", g.warnings.data ? g.warnings.data : "cannot generate");
        goto out;
    }
    snprintf(src, sizeof src, "%s/cell%u.%s", d->workdir, next.serial, cuda ? "cu" : "c");
    snprintf(obj, sizeof obj, "%s/cell%u.o", d->workdir, next.serial);
    snprintf(so, sizeof so, "%s/cell%u.so", d->workdir, next.serial);
    char named[PATH_MAX + 40];
    snprintf(named, sizeof named, "%s/%s", d->workdir, name);
    if (write_text(src, g.code.data, g.code.len) || write_text(named, code, strlen(code))) {
        fail_cell(d, "KernelError", "cannot write %s", src);
        goto out;
    }
    if (load_libs(d, code))
        goto out;
    struct ck_argv a;
    if (cuda) {
        if (ck_cuda_compile_argv(&d->tk, d->arch_flags, d->incdir, getenv("CNOTE_NVCC_FLAGS"), src,
                                 obj, &a) ||
            run_cmd(a.v, d->workdir, &out)) {
            struct jp_buf diag;
            jp_buf_init(&diag, 1 << 20);
            ck_cuda_diag(out.data ? out.data : "", &diag);
            fail_cell(d, "CompileError", "%s", diag.data ? diag.data : "nvcc failed");
            jp_buf_dispose(&diag);
            goto out;
        }
        if (ck_cuda_link_argv("cc", obj, so, &a) || run_cmd(a.v, d->workdir, &out)) {
            fail_cell(d, "LinkError", "%s", out.data ? out.data : "link failed");
            goto out;
        }
    } else {
        char cudainc[PATH_MAX + 8];
        snprintf(incf, sizeof incf, "-I%s", d->incdir);
        snprintf(cudainc, sizeof cudainc, "-I%s", d->tk.include[0] ? d->tk.include : d->incdir);
        char *cc[] = {"cc",    "-std=gnu17", "-O2",   "-g",
                      "-fPIC", incf,         cudainc, "-Werror=implicit-function-declaration",
                      "-c",    src,          "-o",    obj,
                      NULL};
        char *ld[] = {"cc", "-shared", "-o", so, obj, NULL};
        if (run_cmd(cc, d->workdir, &out)) {
            fail_cell(d, "CompileError", "%s", out.data ? out.data : "cc failed");
            goto out;
        }
        if (run_cmd(ld, d->workdir, &out)) {
            fail_cell(d, "LinkError", "%s", out.data ? out.data : "link failed");
            goto out;
        }
    }
    /* the RUN frame, as kloop.c's run_start writes it */
    char *inc = cuda ? NULL : ck_session_includes(&next);
    char gpu = cuda ? '1' : inc && ck_cuda_includes_cuda(inc) ? '2' : '0';
    free(inc);
    char payload[PATH_MAX * 2 + 128];
    int n = snprintf(payload, sizeof payload, "%s%c%s%c0%c%c%c%s", so, 0, g.fn, 0, 0, gpu, 0,
                     d->tk.libdir);
    char *done = NULL;
    if (send_frame(d, CKF_RUN, payload, (size_t)n + 1) || wait_frame(d, CKF_DONE, &done, 120)) {
        fail_cell(d, "KernelStateLost", "the state process died or hung");
        goto out;
    }
    int loaded = !strstr(done, "\"loaded\":false");
    if (loaded) {
        ck_session_dispose(&d->sess);
        d->sess = next;
        memset(&next, 0, sizeof next);
    }
    if (strstr(done, "\"status\":\"ok\"")) {
        rc = 0;
    } else {
        char ename[64], evalue[1024];
        json_field(done, "ename", ename, sizeof ename);
        json_field(done, "evalue", evalue, sizeof evalue);
        /* as kloop.c's on_done: a CUDA error found after the cell names the cell */
        if (strstr(done, "\"cuda_after\":true"))
            fail_cell(d, ename, "%s after %s", evalue, name);
        else
            fail_cell(d, ename, "%s", evalue);
        d->sticky = strstr(done, "\"cuda_sticky\":true") != NULL;
    }
    free(done);
out:
    ck_session_dispose(&next);
    ck_gen_dispose(&g);
    jp_buf_dispose(&out);
    free(text);
    return rc;
}

/* ---- checks ---- */

static char reason[2048];

static int why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int why(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return 0;
}

/* The cell must succeed; with want set, its value (text/plain) must be want. */
static int expect_ok(struct drv *d, int cuda, const char *code, const char *want)
{
    if (cell(d, cuda, code))
        return why("%s cell failed: %s: %s", cuda ? "%%cuda" : "C", d->ename, d->evalue);
    if (want && strcmp(d->result, want) != 0)
        return why("a cell's value is '%s', expected '%s' (output: %.300s)", d->result, want,
                   d->stdout_text.data ? d->stdout_text.data : "");
    return 1;
}

/* The cell must fail with ename and an evalue containing part. */
static int expect_error(struct drv *d, int cuda, const char *code, const char *ename,
                        const char *part)
{
    if (!cell(d, cuda, code))
        return why("a cell that should fail with %s succeeded", ename);
    if (strcmp(d->ename, ename) != 0 || !strstr(d->evalue, part))
        return why("expected %s containing '%s', got %s: %s", ename, part, d->ename, d->evalue);
    return 1;
}

static int check_vector_add(struct drv *d)
{
    const char *cu = "%%cuda\n"
                     "#include <cstdio>\n"
                     "__global__ void vadd_k(const float *a, const float *b, float *c, int n)\n"
                     "{\n"
                     "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                     "    if (i < n) c[i] = a[i] + b[i];\n"
                     "}\n"
                     "int vadd(const float *a, const float *b, float *c, int n)\n"
                     "{\n"
                     "    float *da, *db, *dc;\n"
                     "    size_t bytes = n * sizeof(float);\n"
                     "    cudaMalloc(&da, bytes); cudaMalloc(&db, bytes); cudaMalloc(&dc, bytes);\n"
                     "    cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice);\n"
                     "    cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice);\n"
                     "    vadd_k<<<(n + 255) / 256, 256>>>(da, db, dc, n);\n"
                     "    cudaError_t e = cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost);\n"
                     "    cudaFree(da); cudaFree(db); cudaFree(dc);\n"
                     "    return (int)e;\n"
                     "}\n"
                     "int main() { printf(\"cuda cell main ran\\n\"); return 0; }\n";
    const char *c = "float va[10000], vb[10000], vc[10000];\n"
                    "for (int i = 0; i < 10000; i++) { va[i] = i; vb[i] = 2 * i; }\n"
                    "int vrc = vadd(va, vb, vc, 10000);\n"
                    "int vbad = 0;\n"
                    "for (int i = 0; i < 10000; i++) vbad += vc[i] != 3.0f * i;\n"
                    "vrc * 100000 + vbad\n";
    if (!expect_ok(d, 1, cu, NULL))
        return 0;
    if (!d->stdout_text.data || !strstr(d->stdout_text.data, "cuda cell main ran"))
        return why("the %%cuda cell's main() did not run (output: '%s')",
                   d->stdout_text.data ? d->stdout_text.data : "");
    return expect_ok(d, 0, c, "0");
}

static int check_memory_kept(struct drv *d)
{
    /* allocated by a C cell, filled by a CUDA function, scaled by a CUDA cell that names
     * the C global, read back by a later C cell */
    return expect_ok(d, 0,
                     "#include <cuda_runtime.h>\n"
                     "float *dkeep = 0;\n"
                     "int krc = cudaMalloc((void **)&dkeep, 4096 * sizeof(float));\n"
                     "krc\n",
                     "0") &&
           expect_ok(d, 1,
                     "%%cuda\n"
                     "__global__ void fill_k(float *x, float v, int n)\n"
                     "{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] = v; }\n"
                     "__global__ void scale_k(float *x, float s, int n)\n"
                     "{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= s; }\n"
                     "int fill_dev(float *x, float v, int n)\n"
                     "{ fill_k<<<(n + 255) / 256, 256>>>(x, v, n); return cudaGetLastError(); }\n"
                     "int scale_keep(float s)\n"
                     "{ scale_k<<<16, 256>>>(dkeep, s, 4096); return cudaGetLastError(); }\n",
                     NULL) &&
           expect_ok(d, 0, "fill_dev(dkeep, 3.5f, 4096)\n", "0") &&
           expect_ok(d, 0, "scale_keep(2.0f)\n", "0") &&
           expect_ok(d, 0,
                     "float hkeep[4096];\n"
                     "cudaMemcpy(hkeep, dkeep, sizeof hkeep, cudaMemcpyDeviceToHost);\n"
                     "int kbad = 0;\n"
                     "for (int i = 0; i < 4096; i++) kbad += hkeep[i] != 7.0f;\n"
                     "kbad\n",
                     "0");
}

static int check_cublas_sgemm(struct drv *d)
{
    /* column-major C = A * B on the GPU against a naive CPU loop */
    return expect_ok(
        d, 0,
        "#include <math.h>\n"
        "#include <cuda_runtime.h>\n"
        "#include <cublas_v2.h>\n"
        "enum { GN = 384 };\n"
        "float *ga, *gb, *gc, *gref;\n"
        "ga = malloc(GN * GN * sizeof(float)); gb = malloc(GN * GN * sizeof(float));\n"
        "gc = malloc(GN * GN * sizeof(float)); gref = malloc(GN * GN * sizeof(float));\n"
        "srand(7);\n"
        "for (int i = 0; i < GN * GN; i++) { ga[i] = rand() / (float)RAND_MAX - 0.5f;\n"
        "    gb[i] = rand() / (float)RAND_MAX - 0.5f; }\n"
        "for (int j = 0; j < GN; j++) for (int i = 0; i < GN; i++) {\n"
        "    double s = 0;\n"
        "    for (int k = 0; k < GN; k++) s += (double)ga[i + k * GN] * gb[k + j * GN];\n"
        "    gref[i + j * GN] = (float)s; }\n"
        "float *dA, *dB, *dC;\n"
        "size_t gbytes = GN * GN * sizeof(float);\n"
        "cudaMalloc((void **)&dA, gbytes); cudaMalloc((void **)&dB, gbytes);\n"
        "cudaMalloc((void **)&dC, gbytes);\n"
        "cudaMemcpy(dA, ga, gbytes, cudaMemcpyHostToDevice);\n"
        "cudaMemcpy(dB, gb, gbytes, cudaMemcpyHostToDevice);\n"
        "cublasHandle_t gh;\n"
        "int gst = cublasCreate(&gh);\n"
        "float one = 1, zero = 0;\n"
        "gst = gst * 100 + cublasSgemm(gh, CUBLAS_OP_N, CUBLAS_OP_N, GN, GN, GN, &one,\n"
        "    dA, GN, dB, GN, &zero, dC, GN);\n"
        "cudaMemcpy(gc, dC, gbytes, cudaMemcpyDeviceToHost);\n"
        "double gerr = 0;\n"
        "for (int i = 0; i < GN * GN; i++) gerr = fmax(gerr, fabs(gc[i] - gref[i]));\n"
        "printf(\"sgemm status %d, max abs error %g\\n\", gst, gerr);\n"
        "cublasDestroy(gh); cudaFree(dA); cudaFree(dB); cudaFree(dC);\n"
        "gst == 0 && gerr < 1e-3\n",
        "1");
}

static int check_bad_launch(struct drv *d)
{
    /* 4096 threads per block is over every GPU's limit: the launch fails, the kernel turns
     * it into a cell error after the cell, and the context stays usable */
    return expect_ok(d, 1,
                     "%%cuda\n"
                     "__global__ void one_k(float *x) { x[threadIdx.x] = 1; }\n"
                     "void bad_launch(float *x) { one_k<<<1, 4096>>>(x); }\n",
                     NULL) &&
           expect_error(d, 0, "bad_launch(dkeep);\n", "CUDAError",
                        "(cudaErrorInvalidConfiguration) after In[") &&
           (d->sticky ? why("a launch configuration error was reported as breaking the GPU") : 1) &&
           expect_ok(d, 0, "fill_dev(dkeep, 1.0f, 16)\n", "0") && expect_ok(d, 0, "40 + 2\n", "42");
}

static int check_illegal_address(struct drv *d)
{
    /* a write through a bad pointer breaks the context for good: the error says so, a later
     * CUDA cell fails with the reason, and C cells still run */
    return expect_ok(d, 1,
                     "%%cuda\n"
                     "__global__ void poke_k(float *x) { x[threadIdx.x] = 1; }\n"
                     "void poke(void) { poke_k<<<1, 32>>>((float *)0x10); }\n",
                     NULL) &&
           expect_error(d, 0, "poke();\n", "CUDAError", "(cudaErrorIllegalAddress) after In[") &&
           (d->sticky ? 1 : why("an illegal address was not reported as breaking the GPU")) &&
           expect_error(d, 1, "%%cuda\nvoid after_poke(void) {}\n", "CUDAError",
                        "the GPU context is unusable") &&
           expect_ok(d, 0, "6 * 7\n", "42");
}

int main(int argc, char **argv)
{
    static struct drv d;
    if (argc != 4) {
        fprintf(stderr, "usage: %s EXEC INCLUDE_DIR WORK_DIR\n", argv[0]);
        return 3;
    }
    signal(SIGPIPE, SIG_IGN);
    d.exec_path = argv[1];
    d.incdir = argv[2];
    d.workdir = argv[3];
    jp_buf_init(&d.stdout_text, 64 << 20);
    if (ck_session_init(&d.sess)) {
        fprintf(stderr, "out of memory\n");
        return 3;
    }
    if (ck_cuda_find(&d.tk)) {
        printf("FAIL setup: nvcc not found: %s\n", d.tk.why);
        return 3;
    }
    printf("nvcc %s\ninclude %s\nlibdir %s\n", d.tk.nvcc, d.tk.include, d.tk.libdir);
    if (exec_start(&d)) {
        printf("FAIL setup: cannot start %s\n", d.exec_path);
        return 3;
    }
    /* the GPU, as %gpu shows it; its architecture for nvcc */
    char *info = NULL;
    if (send_frame(&d, CKF_GPU, d.tk.libdir, strlen(d.tk.libdir)) ||
        wait_frame(&d, CKF_GPU_INFO, &info, 60)) {
        printf("FAIL setup: no answer to GPU\n");
        return 3;
    }
    size_t al = strcspn(info, "\n");
    snprintf(d.arch, sizeof d.arch, "%.*s", (int)al, info);
    printf("%s", info[al] ? info + al + 1 : "");
    free(info);
    if (ck_cuda_arch_flags(strcmp(d.arch, "-") ? d.arch : "", d.arch_flags, sizeof d.arch_flags)) {
        printf("FAIL setup: bad architecture list '%s'\n", d.arch);
        return 3;
    }
    printf("nvcc architecture flags: %s\n", d.arch_flags[0] ? d.arch_flags : "(nvcc's default)");

    static const struct {
        const char *name;
        int (*fn)(struct drv *);
    } checks[] = {
        {"vector_add", check_vector_add},
        {"device_memory_kept", check_memory_kept},
        {"cublas_sgemm", check_cublas_sgemm},
        {"bad_launch_error", check_bad_launch},
        {"illegal_address_error", check_illegal_address},
    };
    int failed = 0, no_gpu = 0;
    double t_all = now_s();
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (no_gpu) {
            printf("FAIL %s: not run (no usable GPU)\n", checks[i].name);
            continue;
        }
        double t0 = now_s();
        reason[0] = '\0';
        int ok = checks[i].fn(&d);
        if (ok) {
            printf("PASS %s (%.1f s)\n", checks[i].name, now_s() - t0);
        } else {
            printf("FAIL %s: %s\n", checks[i].name, reason);
            failed++;
            if (strcmp(d.ename, "CUDAError") == 0 && strncmp(d.evalue, "no CUDA device", 14) == 0)
                no_gpu = 1;
        }
        fflush(stdout);
    }
    printf("%s: %d of %zu checks failed (%.1f s)\n", failed ? "FAIL" : "PASS", failed,
           sizeof checks / sizeof checks[0], now_s() - t_all);
    close(d.ctl);
    kill(d.pid, SIGKILL);
    waitpid(d.pid, NULL, 0);
    ck_session_dispose(&d.sess);
    jp_buf_dispose(&d.stdout_text);
    return no_gpu ? 2 : failed ? 1 : 0;
}
