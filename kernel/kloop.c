/*
 * kloop.c - the kernel's protocol loop: Jupyter messaging 5.3 over ZeroMQ.
 *
 * One thread owns the shell, control, stdin and iopub sockets and polls them with the
 * executor's pipes, the compiler's output and a signalfd in a single zmq_poll; a second
 * thread echoes heartbeats. An execute_request is a small state machine (magics, library
 * loads, compile, link, run, user_expressions) driven by events, so control messages
 * (interrupt, shutdown, kernel_info) are answered while a cell compiles or runs. Shell
 * requests queue inside ZeroMQ while a cell is busy. Message types map to handlers
 * through one table. The C engine (kernel/engine) knows nothing of sockets; the state
 * lives in the executor process (kernel/exec), so a crash there never takes the sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "ck_cuda.h"
#include "ck_diag.h"
#include "ck_frame.h"
#include "ck_intro.h"
#include "ck_job.h"
#include "ck_libs.h"
#include "ck_plan.h"
#include "ck_sess.h"
#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_conn.h"
#include "jp_err.h"
#include "jp_hmac.h"
#include "jp_log.h"
#include "jp_msg.h"
#include "jp_time.h"
#include "jp_uuid.h"
#include "jp_wire.h"
#include "kernel.h"

#define CNOTE_VERSION "0.1.0"
/* Stream output: the executor's pipes (the default 64 KiB: a bigger one measured no faster, the
 * writer then runs ahead and the bytes leave the cache before they are read) are read
 * STREAM_READ bytes at a time into a buffer that stays in cache while it is escaped, and the
 * reads are gathered into few large stream messages (at most STREAM_MSG + STREAM_READ bytes of
 * output each, 256 KiB: per message the kernel builds and signs a header and ZeroMQ sends six
 * frames; 1 MiB measured no faster). Frames from SEND_ZEROCOPY bytes up are handed to ZeroMQ
 * without a copy. */
#define STREAM_READ (64 * 1024)
#define STREAM_MSG (256 * 1024 - STREAM_READ)
#define SEND_ZEROCOPY (64 * 1024)
/* The content buffer of a big stream message: the most output one holds, escaped with room to
 * spare (a line every 64 bytes adds 1/64); buffers of this size come back from ZeroMQ once sent
 * and are reused (STREAM_POOL of them at most), as a fresh one is a fresh mapping of the size
 * and its pages fault in one by one. */
#define STREAM_BUF ((STREAM_MSG + STREAM_READ) / 8 * 9 + 128)
#define STREAM_POOL 4
/* Flow control of stream output. IOPub is a PUB socket: a subscriber more than its high-water
 * mark (1000 messages) behind loses messages without a word. Every stream message's content is
 * handed to ZeroMQ without a copy, so the kernel learns when ZeroMQ has written it to every
 * subscriber's connection (the frame is released); while more than FLOW_HIGH of them are held,
 * the executor's pipes are not read, so a cell that prints faster than the slowest subscriber
 * reads waits in write() instead of having its output dropped. Reading resumes below FLOW_LOW.
 * A subscriber that stops reading altogether would stop the cell: after FLOW_STALL_MS of waiting
 * the kernel goes on regardless (that subscriber then loses output at its high-water mark, as
 * before) until the backlog falls below FLOW_LOW again. */
#define FLOW_HIGH 256
#define FLOW_LOW 64
#define FLOW_STALL_MS 2000

extern char **environ;

enum phase { PH_IDLE, PH_LOAD, PH_COMPILE, PH_LINK, PH_RUN };

struct hist {
    int count;
    char *input;
    char *output; /* text/plain of the result, or NULL */
};

struct lib {
    char *path;
    struct ck_lib_need implied; /* the header that implied it; .lib NULL for %lib */
};

struct executor {
    pid_t pid;
    int ctl, out, err;        /* -1 when closed */
    struct jp_buf in;         /* bytes read from ctl, not yet a whole frame */
    struct jp_buf partial[2]; /* stdout/stderr bytes that end inside a UTF-8 sequence */
};

struct kernel {
    const struct kernel_opts *o;
    int64_t flow_since; /* stream output waiting for subscribers since (monotonic ms), or 0 */
    int flow_overrun;   /* waited FLOW_STALL_MS: going on until the backlog is below FLOW_LOW */
    void *zctx;
    void *shell, *control, *stdin_s, *iopub, *hb;
    pthread_t hb_thread;
    struct jp_signer *signer;
    struct jp_session ss;
    struct jp_conn conn;
    int sigfd;
    char workdir[PATH_MAX];
    char cflags[2048];
    char cc[PATH_MAX];
    char libgcc[PATH_MAX];
    struct ck_plan plan; /* how to compile with the current compiler and flags */
    char *plan_key;
    /* The precompiled header of the prelude's leading #include lines: built in the
     * background while the kernel is idle, used once ready and still matching. */
    struct {
        char path[PATH_MAX + 64]; /* .../prelude.h, "" when there is none */
        char *text;               /* what it holds */
        char *flags;              /* compiler and flags it was built with */
        size_t n;                 /* prelude items it covers */
        struct ck_job job;        /* a build in progress (job.pid > 0) */
        char build_path[PATH_MAX + 64];
        char old_path[PATH_MAX + 64]; /* a replaced header, removed once no compile runs */
        char *build_text, *build_flags;
        size_t build_n;
        unsigned gen;
    } pch;
    unsigned long long memlimit;
    int blas_threads; /* %threads, 0 for the library's default */
    /* CUDA (ck_cuda.h): the toolkit, looked up when first needed; the architectures %%cuda
     * cells are compiled for: %cuda_arch, else CNOTE_CUDA_ARCH, else the GPU's own (asked
     * from the state process once; "-" when it has none: nvcc's default) */
    struct ck_cuda_tk cuda;
    int cuda_looked;
    char cuda_arch[256];
    char gpu_arch[256];
    int cuda_cpath;  /* CPATH holds the toolkit's include directory (C cells with CUDA headers) */
    int cuda_in_use; /* the state process initialised CUDA: %memlimit no longer applies there */
    struct executor ex;
    int state_lost_note; /* the executor died while idle: say so with the next cell */
    /* an executor that dies at start-up is not restarted forever: after EXEC_QUICK_DEATHS
     * deaths within EXEC_QUICK_MS of their start in a row it stays down (cells then fail with
     * KernelStateLost) until %reset tries again */
    int64_t exec_t_start;
    int exec_quick_deaths;

    struct ck_session sess;
    struct ck_names hdr; /* names from the session's headers */
    char *hdr_key;       /* include set hdr was harvested for */
    struct lib *libs;
    size_t n_libs;
    char **lib_dirs;
    size_t n_lib_dirs;

    int execution_count;
    struct hist *hist;
    size_t n_hist;
    int quit;

    /* the execute_request in progress */
    struct {
        enum phase phase;
        struct jp_msg *req;
        int silent, store_history, allow_stdin, stop_on_error;
        int count;
        char cell[300];
        char *code; /* cell text after magics */
        int timed;
        int64_t t0, t_compiled, t_ran;
        struct ck_session next;
        int have_next;
        struct ck_gen gen;
        struct ck_job job;
        int step;                 /* which command of the compile plan is running */
        char base[PATH_MAX + 32]; /* workdir/cellN without extension */
        int pending_loads;
        int cuda;      /* a %%cuda cell */
        int gpu_asked; /* a GPU_INFO answer is awaited (counted in pending_loads) */
        int gpu_show;  /* ... and %gpu shows it */
        int arch_show; /* ... and %cuda_arch shows the architectures then */
        int gpu_run;   /* the cell was run as needing a GPU */
        /* a %threads answer is awaited (counted in pending_loads) */
        int threads_asked;
        char *result;  /* text/plain of the trailing expression */
        json_t *error; /* {ename, evalue, traceback} once the cell failed */
        int interrupted;
        int64_t kill_at; /* watchdog after an interrupt, 0 when none */
        int waiting_input;
        json_t *uexpr; /* user_expressions still to evaluate: object name -> code */
        json_t *uexpr_out;
        const char *uexpr_name; /* the one being evaluated */
        size_t out_bytes;
        int truncated;
    } cur;
    struct jp_msg *last_parent; /* for output that arrives while idle */
};

static int exec_start(struct kernel *k);
static void exec_stop(struct kernel *k);
static void cell_finish(struct kernel *k);
static int cell_compile(struct kernel *k, const char *code);

/* ---- sending ---------------------------------------------------------------------- */

/* Spare STREAM_BUF-byte buffers. Filled from ZeroMQ's I/O thread, hence the lock; one pool
 * per process (one kernel per process). */
static struct {
    pthread_mutex_t lock;
    size_t n;
    char *buf[STREAM_POOL];
} stream_pool = {PTHREAD_MUTEX_INITIALIZER, 0, {NULL}};

static char *stream_buf_get(void)
{
    char *b = NULL;
    pthread_mutex_lock(&stream_pool.lock);
    if (stream_pool.n)
        b = stream_pool.buf[--stream_pool.n];
    pthread_mutex_unlock(&stream_pool.lock);
    return b ? b : jp_malloc(STREAM_BUF);
}

static void stream_buf_put(char *b)
{
    pthread_mutex_lock(&stream_pool.lock);
    if (stream_pool.n < STREAM_POOL) {
        stream_pool.buf[stream_pool.n++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&stream_pool.lock);
    jp_free(b);
}

/* stream content frames handed to ZeroMQ and not yet released (written by its I/O thread) */
static atomic_int flow_held;
static char stream_plain; /* the hint of a stream frame that is not a pool buffer */

static void stream_pool_dispose(void)
{
    pthread_mutex_lock(&stream_pool.lock);
    while (stream_pool.n)
        jp_free(stream_pool.buf[--stream_pool.n]);
    pthread_mutex_unlock(&stream_pool.lock);
}

/* Frees a frame once ZeroMQ has sent it, on its I/O thread (libc's free: the allocation hooks
 * are for tests); hint is &stream_pool for a STREAM_BUF-byte stream buffer. */
static void zmq_free_frame(void *data, void *hint)
{
    if (hint == &stream_pool || hint == &stream_plain)
        atomic_fetch_sub(&flow_held, 1);
    if (hint == &stream_pool)
        stream_buf_put(data);
    else
        jp_free(data);
}

/* Send one frame; a big one is handed over to ZeroMQ (f->data is then NULL) instead of copied,
 * to be freed with zmq_free_frame(hint). */
static int send_frame(void *sock, struct jp_frame *f, int flags, void *hint)
{
    int stream = hint == &stream_pool || hint == &stream_plain; /* always counted: no copy */
    if (f->len < SEND_ZEROCOPY && !stream)
        return zmq_send(sock, f->data, f->len, flags);
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, f->data, f->len, zmq_free_frame, hint))
        return zmq_send(sock, f->data, f->len, flags);
    f->data = NULL;
    if (stream)
        atomic_fetch_add(&flow_held, 1);
    if (zmq_msg_send(&msg, sock, flags) < 0) {
        int e = errno;
        zmq_msg_close(&msg); /* not sent: still ours, freed here */
        errno = e;
        return -1;
    }
    return 0;
}

/* Encode (with the content given as JSON bytes when content is not NULL; taken over, not
 * copied, when take is set: a jp_malloc'ed block, freed whatever happens, with
 * zmq_free_frame(hint) once sent) and send. */
static int send_encoded(struct kernel *k, void *sock, const struct jp_msg *m, const char *content,
                        size_t content_len, int take, void *hint)
{
    struct jp_frame *f = NULL;
    size_t n = 0;
    int rc = content && take
                 ? jp_wire_encode_content_take(m, k->signer, (char *)content, content_len, &f, &n)
             : content ? jp_wire_encode_content(m, k->signer, content, content_len, &f, &n)
                       : jp_wire_encode(m, k->signer, &f, &n);
    if (rc) {
        jp_log(JP_LOG_ERROR, "kernel", "cannot encode message msg_type=%s rc=%s", jp_msg_type(m),
               jp_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        void *h = take && f[i].data == content ? hint : NULL;
        if (send_frame(sock, &f[i], i + 1 < n ? ZMQ_SNDMORE : 0, h) < 0) {
            jp_log(JP_LOG_WARN, "kernel", "send failed msg_type=%s err=%s", jp_msg_type(m),
                   zmq_strerror(errno));
            rc = JP_EIO;
            break;
        }
    }
    jp_frames_free(f, n);
    return rc;
}

static int send_msg(struct kernel *k, void *sock, const struct jp_msg *m)
{
    return send_encoded(k, sock, m, NULL, 0, 0, NULL);
}

/* Publish on IOPub with parent `parent` (may be NULL): content (stolen), or, when raw is not
 * NULL, raw_len bytes of content JSON written by the caller in a jp_malloc'ed block that is
 * taken over (content is then NULL; a STREAM_BUF-byte block goes back to the pool when
 * pooled is set). */
static void publish_as(struct kernel *k, const struct jp_msg *parent, const char *msg_type,
                       json_t *content, char *raw, size_t raw_len, int pooled)
{
    struct jp_msg *m = jp_msg_new(&k->ss, msg_type, parent ? parent->header : NULL, content);
    if (!m) {
        jp_free(raw);
        return;
    }
    char topic[128];
    snprintf(topic, sizeof topic, "kernel.%s.%s", k->ss.session, msg_type);
    struct jp_frame id = {topic, strlen(topic)};
    if (jp_msg_set_idents(m, &id, 1) == 0)
        send_encoded(k, k->iopub, m, raw, raw_len, raw != NULL,
                     pooled ? (void *)&stream_pool : (void *)&stream_plain);
    else
        jp_free(raw);
    jp_msg_free(m);
}

static void publish(struct kernel *k, const struct jp_msg *parent, const char *msg_type,
                    json_t *content)
{
    publish_as(k, parent, msg_type, content, NULL, 0, 0);
}

static void publish_status(struct kernel *k, const struct jp_msg *parent, const char *state)
{
    publish(k, parent, "status", json_pack("{s:s}", "execution_state", state));
}

static void reply(struct kernel *k, void *sock, const struct jp_msg *req, const char *msg_type,
                  json_t *content)
{
    struct jp_msg *m = jp_msg_reply(&k->ss, req, msg_type, content);
    if (m) {
        send_msg(k, sock, m);
        jp_msg_free(m);
    }
}

/* ---- text helpers ----------------------------------------------------------------- */

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_complete_prefix(const unsigned char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && (s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return n;
    unsigned char c = s[i - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > 1 && back + 1 < need)
        return i - 1;
    return n;
}

/* A JSON string from bytes that may not be valid UTF-8 (invalid bytes become U+FFFD). */
static json_t *json_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    struct jp_buf b;
    jp_buf_init(&b, n * 3 + 16);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t need = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 0;
        int ok = need && i + need <= n;
        for (size_t x = 1; ok && x < need; x++)
            ok = (u[i + x] & 0xC0) == 0x80;
        if (ok && need > 1) {
            json_t *probe = json_stringn((const char *)u + i, need);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok && !(need == 1 && c == 0)) {
            jp_buf_add(&b, u + i, need);
            i += need;
        } else {
            jp_buf_adds(&b, "\xEF\xBF\xBD");
            i++;
        }
    }
    j = json_stringn(b.data ? b.data : "", b.len);
    jp_buf_dispose(&b);
    return j;
}

/* ---- output streams ---------------------------------------------------------------- */

static const struct jp_msg *out_parent(struct kernel *k)
{
    return k->cur.req ? k->cur.req : k->last_parent;
}

/* Stream output is the bulk of what the kernel sends, so its content is written as JSON
 * straight from the bytes (invalid UTF-8 and NULs become U+FFFD, as json_text does) instead of
 * through a jansson tree and a dump. A message is built in pieces: the content up to the open
 * "text" string, then the escaped text of each read, then the end; the buffer then becomes the
 * content frame as it is. */
struct stream_msg {
    const char *name;
    struct jp_buf c;
    size_t text; /* bytes of output in it */
};

static void stream_begin(struct stream_msg *s, const char *name)
{
    s->name = name;
    s->text = 0;
    jp_buf_init(&s->c, (size_t)1 << 40);
}

/* Add n bytes of output (whole UTF-8 characters); `more` hints that a big message follows, so
 * its buffer is sized once. Output that cannot be added (out of memory) is dropped. */
static void stream_add(struct stream_msg *s, const char *text, size_t n, int more)
{
    if (!n)
        return;
    if (!s->c.len) {
        if (more && !s->c.data && (s->c.data = stream_buf_get()) != NULL) {
            s->c.cap = STREAM_BUF; /* an empty jp_buf with that much room */
            s->c.data[0] = '\0';
        }
        if (jp_buf_adds(&s->c, "{\"name\":") || jp_buf_add_jstr(&s->c, s->name) ||
            jp_buf_adds(&s->c, ",\"text\":\"")) {
            jp_buf_dispose(&s->c);
            return;
        }
    }
    if (jp_buf_add_jesc(&s->c, text, n) == 0)
        s->text += n;
}

/* Publish what was added (if anything, and unless the cell is silent); s is empty afterwards. */
static void stream_send(struct kernel *k, struct stream_msg *s)
{
    if (s->text && !(k->cur.req && k->cur.silent) && jp_buf_adds(&s->c, "\"}") == 0) {
        size_t len = s->c.len;
        int pooled = s->c.cap == STREAM_BUF; /* not grown past it (much to escape) */
        char *content = jp_buf_take(&s->c);  /* becomes the content frame, not copied */
        if (content)
            publish_as(k, out_parent(k), "stream", NULL, content, len, pooled);
    }
    jp_buf_dispose(&s->c);
    s->text = 0;
}

static void publish_stream(struct kernel *k, const char *name, const char *text, size_t n)
{
    if (!n || (k->cur.req && k->cur.silent))
        return;
    struct stream_msg s;
    stream_begin(&s, name);
    stream_add(&s, text, n, 0);
    stream_send(k, &s);
}

/* Should the executor's output wait (flow control, see FLOW_HIGH)? */
static int flow_paused(struct kernel *k)
{
    int held = atomic_load(&flow_held);
    if (k->flow_overrun) {
        if (held <= FLOW_LOW)
            k->flow_overrun = 0;
        return 0;
    }
    if (!k->flow_since) {
        if (held <= FLOW_HIGH)
            return 0;
        k->flow_since = jp_time_mono_ms();
        return 1;
    }
    if (held <= FLOW_LOW) {
        k->flow_since = 0;
        return 0;
    }
    if (jp_time_mono_ms() - k->flow_since > FLOW_STALL_MS) {
        jp_log(JP_LOG_WARN, "kernel",
               "an IOPub subscriber has not read for %d ms: output goes on without waiting "
               "(that subscriber may lose some) held=%d",
               FLOW_STALL_MS, held);
        k->flow_since = 0;
        k->flow_overrun = 1;
        return 0;
    }
    return 1;
}

/* Read what the executor wrote to fd 1 or 2 and publish it: STREAM_READ bytes at a time,
 * gathered into messages of up to STREAM_MSG + STREAM_READ bytes of output, all sent before it
 * returns. Once a cell passed CNOTE_MAX_OUTPUT, the rest of its output is read and dropped.
 * Returns -1 on EOF. */
static int drain_output(struct kernel *k, int which, int flow)
{
    int *fd = which == 0 ? &k->ex.out : &k->ex.err;
    const char *name = which == 0 ? "stdout" : "stderr";
    struct jp_buf *part = &k->ex.partial[which];
    char buf[STREAM_READ]; /* small enough to stay in cache while it is escaped */
    struct stream_msg sm;
    int eof = 0;
    stream_begin(&sm, name);
    while (*fd >= 0) {
        size_t have = part->len; /* at most 3 bytes: the start of a character */
        if (have)
            memcpy(buf, part->data, have);
        ssize_t r = read(*fd, buf + have, STREAM_READ - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0 || errno != EAGAIN) {
                close(*fd);
                *fd = -1;
                eof = 1;
            }
            if (eof && have) {
                stream_add(&sm, buf, have, 0);
                jp_buf_reset(part);
            }
            break;
        }
        size_t n = have + (size_t)r;
        size_t ok = utf8_complete_prefix((unsigned char *)buf, n);
        int full = (size_t)r == STREAM_READ - have;
        jp_buf_reset(part);
        jp_buf_add(part, buf + ok, n - ok);
        if (k->cur.req && (k->cur.truncated || k->cur.out_bytes + ok > k->o->max_output)) {
            if (!k->cur.truncated) {
                const char note[] = "\n[cnote: output truncated: more than CNOTE_MAX_OUTPUT "
                                    "bytes in one cell]\n";
                stream_send(k, &sm); /* the output before it comes first */
                publish_stream(k, "stderr", note, sizeof note - 1);
                k->cur.truncated = 1;
            }
            continue;
        }
        k->cur.out_bytes += ok;
        stream_add(&sm, buf, ok, full);
        if (sm.text >= STREAM_MSG)
            stream_send(k, &sm);
        if (!full)
            break; /* the pipe is probably empty: back to the loop */
        if (flow && sm.text == 0 && flow_paused(k))
            break; /* subscribers are behind: the rest waits in the pipe */
    }
    stream_send(k, &sm);
    return eof ? -1 : 0;
}

/* ---- history ---------------------------------------------------------------------- */

static void hist_add(struct kernel *k, int count, const char *input, const char *output)
{
    struct hist *h = realloc(k->hist, (k->n_hist + 1) * sizeof *h);
    if (!h)
        return;
    k->hist = h;
    h[k->n_hist].count = count;
    h[k->n_hist].input = strdup(input);
    h[k->n_hist].output = output ? strdup(output) : NULL;
    if (h[k->n_hist].input)
        k->n_hist++;
}

static json_t *hist_entry(const struct hist *h, int output)
{
    if (output)
        return json_pack("[i,i,[s,s?]]", 1, h->count, h->input, h->output);
    return json_pack("[i,i,s]", 1, h->count, h->input);
}

/* ---- executor --------------------------------------------------------------------- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int exec_send(struct kernel *k, unsigned type, const void *data, size_t len)
{
    struct ck_frame_hdr h = {type, (uint32_t)len};
    struct iovec iov[2] = {{&h, sizeof h}, {(void *)data, len}};
    size_t total = sizeof h + len, done = 0;
    if (k->ex.ctl < 0)
        return JP_EDEAD;
    /* frames to the executor are small except input answers; a blocking write is fine
     * since the executor always reads its control socket promptly (reads of it from the
     * loop use MSG_DONTWAIT, so the socket itself stays blocking) */
    while (done < total) {
        struct msghdr mh = {0};
        struct iovec v[2];
        size_t skip = done, nv = 0;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            v[nv].iov_base = (char *)iov[i].iov_base + skip;
            v[nv].iov_len = iov[i].iov_len - skip;
            skip = 0;
            nv++;
        }
        mh.msg_iov = v;
        mh.msg_iovlen = nv;
        ssize_t w = sendmsg(k->ex.ctl, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return JP_EDEAD;
        done += (size_t)w;
    }
    return 0;
}

static int exec_start(struct kernel *k)
{
    int sp[2], op[2], ep[2];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    char *argv[] = {(char *)k->o->exec_path, NULL};

    memset(&k->ex.pid, 0, sizeof k->ex.pid);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
        return JP_EIO;
    if (pipe2(op, O_CLOEXEC)) {
        close(sp[0]);
        close(sp[1]);
        return JP_EIO;
    }
    if (pipe2(ep, O_CLOEXEC)) {
        close(sp[0]);
        close(sp[1]);
        close(op[0]);
        close(op[1]);
        return JP_EIO;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    posix_spawn_file_actions_adddup2(&fa, sp[1], 3);
    posix_spawn_file_actions_addchdir_np(&fa, k->workdir);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    /* Its own process group: a SIGINT to the kernel's group reaches the front, which
     * forwards exactly one interrupt, never two. */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawn(&k->ex.pid, k->o->exec_path, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(sp[1]);
    close(op[1]);
    close(ep[1]);
    if (rc) {
        jp_log(JP_LOG_ERROR, "kernel", "cannot start the executor path=%s err=%s", k->o->exec_path,
               strerror(rc));
        close(sp[0]);
        close(op[0]);
        close(ep[0]);
        k->ex.pid = 0;
        k->ex.ctl = k->ex.out = k->ex.err = -1;
        return JP_EIO;
    }
    k->ex.ctl = sp[0];
    k->ex.out = op[0];
    k->ex.err = ep[0];
    set_nonblock(k->ex.out);
    set_nonblock(k->ex.err);
    k->cuda_in_use = 0; /* a fresh state process */
    jp_buf_reset(&k->ex.in);
    jp_buf_reset(&k->ex.partial[0]);
    jp_buf_reset(&k->ex.partial[1]);
    if (k->memlimit) {
        char v[32];
        int n = snprintf(v, sizeof v, "%llu", k->memlimit);
        exec_send(k, CKF_MEMLIMIT, v, (size_t)n);
    }
    if (k->blas_threads) {
        /* before any library loads: OpenBLAS reads it from the environment */
        char v[32];
        int n = snprintf(v, sizeof v, "%d", k->blas_threads);
        exec_send(k, CKF_THREADS, v, (size_t)n);
    }
    return 0;
}

/* Kill and reap the executor; returns its wait status (or 0). */
static int exec_reap(struct kernel *k)
{
    int status = 0;
    if (k->ex.pid > 0) {
        kill(k->ex.pid, SIGKILL);
        while (waitpid(k->ex.pid, &status, 0) < 0 && errno == EINTR)
            ;
        k->ex.pid = 0;
    }
    return status;
}

static void exec_stop(struct kernel *k)
{
    if (k->ex.out >= 0)
        drain_output(k, 0, 0);
    if (k->ex.err >= 0)
        drain_output(k, 1, 0);
    if (k->ex.ctl >= 0)
        close(k->ex.ctl);
    if (k->ex.out >= 0)
        close(k->ex.out);
    if (k->ex.err >= 0)
        close(k->ex.err);
    k->ex.ctl = k->ex.out = k->ex.err = -1;
    exec_reap(k);
}

/* Forget all C state: a fresh session and a fresh executor. */
enum { EXEC_QUICK_DEATHS = 5, EXEC_QUICK_MS = 1000 };

static void state_reset(struct kernel *k)
{
    exec_stop(k);
    ck_session_dispose(&k->sess);
    ck_session_init(&k->sess);
    free(k->hdr_key);
    k->hdr_key = NULL;
    for (size_t i = 0; i < k->n_libs; i++)
        free(k->libs[i].path);
    k->n_libs = 0;
    if (k->exec_quick_deaths >= EXEC_QUICK_DEATHS) {
        jp_log(JP_LOG_ERROR, "kernel",
               "the C state process died at start-up %d times in a row; not restarting it "
               "(%%reset tries again)",
               k->exec_quick_deaths);
        return;
    }
    k->exec_t_start = jp_time_mono_ms();
    exec_start(k);
}

/* ---- diagnostics ------------------------------------------------------------------ */

/* Turn compiler output into traceback lines: keep the diagnostics of cell `cell` (and every
 * error; see ck_diag.h), colour the severity. The first error message goes to *evalue. */
static json_t *diagnostics(const char *out, const char *cell, char **evalue)
{
    json_t *tb = json_array();
    struct jp_buf kept;
    jp_buf_init(&kept, 64 << 20);
    /* out of memory sorting it out: the whole output rather than nothing */
    const char *p = ck_diag_filter(out, cell, &kept) == 0 ? kept.data : out;
    *evalue = NULL;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, n);
        p = e ? e + 1 : NULL;
        if (!line)
            break;
        struct jp_buf b;
        jp_buf_init(&b, 1 << 16);
        char *sev = NULL;
        const char *kinds[] = {"error: ", "warning: ", "note: ", "fatal error: "};
        const char *colors[] = {"\x1b[1;31m", "\x1b[1;35m", "\x1b[1;36m", "\x1b[1;31m"};
        int kind = -1;
        for (int i = 0; i < 4 && kind < 0; i++)
            if ((sev = strstr(line, kinds[i])) && sev > line && sev[-1] == ' ' && sev[-2] == ':')
                kind = i;
        if (kind >= 0) {
            jp_buf_addf(&b, "\x1b[1m%.*s\x1b[0m%s%.*s\x1b[0m%s", (int)(sev - line), line,
                        colors[kind], (int)strlen(kinds[kind]) - 1, sev,
                        sev + strlen(kinds[kind]) - 1);
            if ((kind == 0 || kind == 3) && !*evalue) {
                /* "In[3]:2:5: 'y' undeclared" */
                char *loc = strndup(line, (size_t)(sev - line));
                if (loc) {
                    size_t l = strlen(loc);
                    while (l && (loc[l - 1] == ' ' || loc[l - 1] == ':'))
                        loc[--l] = '\0';
                    if (asprintf(evalue, "%s: %s", loc, sev + strlen(kinds[kind])) < 0)
                        *evalue = NULL;
                    free(loc);
                }
            }
        } else {
            jp_buf_adds(&b, line);
        }
        json_array_append_new(tb, json_text(b.data ? b.data : "", b.len));
        jp_buf_dispose(&b);
        free(line);
    }
    jp_buf_dispose(&kept);
    return tb;
}

static void set_error(struct kernel *k, const char *ename, const char *evalue, json_t *traceback)
{
    if (k->cur.error) {
        json_decref(traceback);
        return;
    }
    if (!traceback) {
        traceback = json_array();
        char *line = NULL;
        if (asprintf(&line, "\x1b[1;31m%s\x1b[0m: %s", ename, evalue) >= 0) {
            json_array_append_new(traceback, json_text(line, strlen(line)));
            free(line);
        }
    }
    k->cur.error = json_pack("{s:s,s:o,s:o}", "ename", ename, "evalue",
                             json_text(evalue, strlen(evalue)), "traceback", traceback);
}

/* ---- magics ----------------------------------------------------------------------- */

static void say(struct kernel *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct kernel *k, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        publish_stream(k, "stdout", s, (size_t)n);
        free(s);
    }
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* libfoo.so is sometimes a linker script (libm.so, libc.so): only ELF files can be loaded */
static int is_elf(const char *p)
{
    char magic[4] = {0};
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic,
                            "\x7f"
                            "ELF",
                            4) == 0;
}

/* Find lib<name>.so for -l<name> in the -L directories and the system ones. */
static char *resolve_lib(struct kernel *k, const char *name)
{
    static const char *const sys[] = {"/usr/local/lib",
                                      "/usr/lib/x86_64-linux-gnu",
                                      "/lib/x86_64-linux-gnu",
                                      "/usr/lib/aarch64-linux-gnu",
                                      "/usr/lib64",
                                      "/usr/lib",
                                      "/lib",
                                      NULL};
    char path[PATH_MAX];
    if (strchr(name, '/'))
        return strdup(name);
    for (size_t pass = 0; pass < 2; pass++) {
        size_t nd = pass == 0 ? k->n_lib_dirs : 7;
        for (size_t i = 0; i < nd; i++) {
            const char *d = pass == 0 ? k->lib_dirs[i] : sys[i];
            snprintf(path, sizeof path, "%s/lib%s.so", d, name);
            if (file_exists(path) && is_elf(path))
                return strdup(path);
            for (int v = 9; v >= 0; v--) {
                snprintf(path, sizeof path, "%s/lib%s.so.%d", d, name, v);
                if (file_exists(path) && is_elf(path))
                    return strdup(path);
            }
        }
    }
    /* let the dynamic loader's cache try */
    snprintf(path, sizeof path, "lib%s.so", name);
    return strdup(path);
}

/* Load a library into the state process unless it is already there. why: the header
 * that implies it (NULL for %lib), named if the load fails. */
static void load_lib(struct kernel *k, const char *path, const struct ck_lib_need *why)
{
    for (size_t i = 0; i < k->n_libs; i++)
        if (strcmp(k->libs[i].path, path) == 0)
            return;
    struct lib *v = realloc(k->libs, (k->n_libs + 1) * sizeof *v);
    if (!v)
        return;
    k->libs = v;
    v[k->n_libs].path = strdup(path);
    if (!v[k->n_libs].path)
        return;
    memset(&v[k->n_libs].implied, 0, sizeof v[k->n_libs].implied);
    if (why)
        v[k->n_libs].implied = *why;
    k->n_libs++;
    jp_log(JP_LOG_INFO, "kernel", "loading library path=%s for=%s", path,
           why ? why->header : "%lib");
    if (exec_send(k, CKF_LOAD, path, strlen(path)) == 0)
        k->cur.pending_loads++;
}

/* ---- CUDA ------------------------------------------------------------------------- */

/* The CUDA toolkit (nvcc, headers, libraries), looked up once. */
static const struct ck_cuda_tk *cuda_tk(struct kernel *k)
{
    if (!k->cuda_looked) {
        ck_cuda_find(&k->cuda);
        k->cuda_looked = 1;
        jp_log(JP_LOG_INFO, "kernel", "cuda toolkit nvcc=%s include=%s libdir=%s",
               k->cuda.nvcc[0] ? k->cuda.nvcc : "-", k->cuda.include[0] ? k->cuda.include : "-",
               k->cuda.libdir[0] ? k->cuda.libdir : "-");
    }
    return &k->cuda;
}

/* A C cell that includes a CUDA header needs the toolkit's include directory, from now on
 * (the include stays in the prelude). CPATH reaches every compile, the precompiled header
 * and the header harvest alike, without changing their flags. */
static void cuda_headers(struct kernel *k, const char *code)
{
    if (k->cuda_cpath || !ck_cuda_includes_cuda(code))
        return;
    const struct ck_cuda_tk *tk = cuda_tk(k);
    const char *old = getenv("CPATH");
    char *v = NULL;
    if (!tk->include[0] ||
        asprintf(&v, "%s%s%s", tk->include, old && *old ? ":" : "", old ? old : "") < 0)
        return; /* the compiler says which header it cannot find */
    setenv("CPATH", v, 1);
    free(v);
    k->cuda_cpath = 1;
}

/* Ask the state process about its GPUs (%gpu, or the architecture for nvcc); the answer
 * (GPU_INFO) is awaited like a library load. */
static void cuda_ask_gpu(struct kernel *k, int show)
{
    const char *dir = cuda_tk(k)->libdir;
    k->cur.gpu_show |= show;
    if (k->cur.gpu_asked)
        return;
    if (exec_send(k, CKF_GPU, dir, strlen(dir)) == 0) {
        k->cur.gpu_asked = 1;
        k->cur.pending_loads++;
    }
}

/* Before a %%cuda cell compiles: nvcc must exist, and the GPU's architecture be known.
 * Returns 0, or -1 after setting the error. */
static int cuda_cell_start(struct kernel *k)
{
    const struct ck_cuda_tk *tk = cuda_tk(k);
    if (!tk->nvcc[0]) {
        char msg[1200];
        snprintf(msg, sizeof msg, "nvcc not found: %s", tk->why);
        set_error(k, "CompileError", msg, NULL);
        return -1;
    }
    const char *env = getenv("CNOTE_CUDA_ARCH");
    if (!k->cuda_arch[0] && !(env && *env) && !k->gpu_arch[0])
        cuda_ask_gpu(k, 0);
    return 0;
}

/* The architectures %%cuda cells are compiled for, and where that choice comes from. */
static const char *cuda_arch_spec(struct kernel *k, const char **from)
{
    const char *env = getenv("CNOTE_CUDA_ARCH");
    if (k->cuda_arch[0]) {
        *from = "%cuda_arch";
        return k->cuda_arch;
    }
    if (env && *env) {
        *from = "CNOTE_CUDA_ARCH";
        return env;
    }
    if (k->gpu_arch[0] && strcmp(k->gpu_arch, "-") != 0) {
        *from = "the GPU";
        return k->gpu_arch;
    }
    *from = k->gpu_arch[0] ? "nvcc's default: no GPU" : "nvcc's default";
    return "";
}

/* %cuda_arch: what the next %%cuda cell is compiled for. */
static void say_cuda_arch(struct kernel *k)
{
    char flags[512];
    const char *from;
    const char *spec = cuda_arch_spec(k, &from);
    if (ck_cuda_arch_flags(spec, flags, sizeof flags))
        flags[0] = '\0';
    say(k, "CUDA architectures: %s (%s)%s%s\n", *spec ? spec : "default", from,
        *flags ? ": nvcc " : "", flags);
}

/* The libraries the session's and this cell's headers imply (cblas.h: OpenBLAS), loaded
 * once per state process like %lib, so cells need no flags and are not linked to them. */
static void load_implied_libs(struct kernel *k, const char *code)
{
    char *inc = ck_session_includes_plus(&k->sess, code, strlen(code));
    struct ck_lib_need need[8];
    size_t n = inc ? ck_libs_implied(inc, need, 8) : 0;
    free(inc);
    for (size_t i = 0; i < n && i < 8; i++) {
        char path[PATH_MAX];
        int known = 0;
        for (size_t j = 0; j < k->n_libs && !known; j++)
            known = k->libs[j].implied.lib == need[i].lib;
        if (known)
            continue;
        const char *cuda_dirs[] = {need[i].lib->cuda ? cuda_tk(k)->libdir : "", NULL};
        if (!cuda_dirs[0][0] || !ck_libs_locate(need[i].lib, cuda_dirs, path, sizeof path))
            ck_libs_locate(need[i].lib, NULL, path, sizeof path);
        load_lib(k, path, &need[i]);
    }
}

static unsigned long long parse_size(const char *s, int *ok)
{
    char *end;
    *ok = 1;
    if (strcmp(s, "none") == 0 || strcmp(s, "0") == 0)
        return 0;
    double v = strtod(s, &end);
    if (end == s || v < 0) {
        *ok = 0;
        return 0;
    }
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024;
        break;
    case 'm':
    case 'M':
        v *= 1024 * 1024;
        break;
    case 'g':
    case 'G':
        v *= 1024.0 * 1024 * 1024;
        break;
    case '\0':
        break;
    default:
        *ok = 0;
    }
    return (unsigned long long)v;
}

static void magic_who(struct kernel *k)
{
    struct jp_buf b;
    jp_buf_init(&b, 1 << 20);
    const char *heads[] = {[CK_SYM_VAR] = "variables", [CK_SYM_FUNC] = "functions"};
    for (int kind = 1; kind >= 0; kind--) {
        int any = 0;
        for (size_t i = 0; i < k->sess.n_syms; i++) {
            const struct ck_sym *y = &k->sess.syms[i];
            if ((int)y->kind != kind || y->stale)
                continue;
            if (!any)
                jp_buf_addf(&b, "%s:\n", heads[kind]);
            any = 1;
            jp_buf_addf(&b, "  %-20s %s   (%s)\n", y->name, y->type, y->cell);
        }
    }
    int any = 0;
    for (size_t i = 0; i < k->sess.n_items; i++) {
        const struct ck_item *it = &k->sess.items[i];
        if (strcmp(it->cell, "<cnote>") == 0 || !*it->names)
            continue;
        if (!any)
            jp_buf_adds(&b, "types and macros:\n");
        any = 1;
        jp_buf_addf(&b, "  %s  (%s)\n", it->names, it->cell);
    }
    for (size_t i = 0; i < k->sess.n_syms; i++)
        if (k->sess.syms[i].stale)
            jp_buf_addf(&b, "stale (re-run its cell): %s (%s)\n", k->sess.syms[i].name,
                        k->sess.syms[i].cell);
    if (!b.len)
        jp_buf_adds(&b, "nothing defined yet\n");
    publish_stream(k, "stdout", b.data, b.len);
    jp_buf_dispose(&b);
}

/* Handle the magic lines at the top of the cell; blank them in code so line numbers stay.
 * Returns 0, or -1 after setting an error. */
static int run_magics(struct kernel *k, char *code)
{
    char *p = code;
    while (*p) {
        char *line = p;
        while (*line == ' ' || *line == '\t')
            line++;
        char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        if (*line == '\n' || (*line == '\0')) {
            p = eol ? eol + 1 : line + n;
            continue;
        }
        if (*line != '%')
            break;
        char *m = strndup(line, n);
        if (!m)
            return -1;
        char *arg = m + strcspn(m, " \t");
        if (*arg)
            *arg++ = '\0';
        while (*arg == ' ' || *arg == '\t')
            arg++;
        size_t al = strlen(arg);
        while (al && (arg[al - 1] == ' ' || arg[al - 1] == '\r'))
            arg[--al] = '\0';
        int bad = 0;
        if (strcmp(m, "%%time") == 0) {
            k->cur.timed = 1;
        } else if (strcmp(m, "%cflags") == 0) {
            if (*arg)
                snprintf(k->cflags, sizeof k->cflags, "%s", arg);
            else
                say(k, "cflags: %s\n", k->cflags);
        } else if (strcmp(m, "%cc") == 0) {
            if (*arg)
                snprintf(k->cc, sizeof k->cc, "%s", arg);
            else
                say(k, "compiler: %s\n", k->cc);
        } else if ((strcmp(m, "%lib") == 0 || strcmp(m, "%ldflags") == 0) && !*arg) {
            if (!k->n_libs)
                say(k, "no libraries loaded (libm is always there)\n");
            for (size_t i = 0; i < k->n_libs; i++)
                say(k, "%s  (%s%s%s)\n", k->libs[i].path,
                    k->libs[i].implied.lib ? "for #include <" : "%lib",
                    k->libs[i].implied.lib ? k->libs[i].implied.header : "",
                    k->libs[i].implied.lib ? ">" : "");
        } else if (strcmp(m, "%lib") == 0 || strcmp(m, "%ldflags") == 0) {
            char *save = NULL;
            for (char *w = strtok_r(arg, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                if (strncmp(w, "-L", 2) == 0 && w[2]) {
                    char **d = realloc(k->lib_dirs, (k->n_lib_dirs + 1) * sizeof *d);
                    if (d) {
                        k->lib_dirs = d;
                        if ((d[k->n_lib_dirs] = strdup(w + 2)))
                            k->n_lib_dirs++;
                    }
                    continue;
                }
                if (strncmp(w, "-Wl,", 4) == 0)
                    continue;
                const char *name = strncmp(w, "-l", 2) == 0 ? w + 2 : w;
                char *path = resolve_lib(k, name);
                if (path) {
                    load_lib(k, path, NULL);
                    free(path);
                }
            }
        } else if (strcmp(m, "%threads") == 0) {
            char *end = NULL;
            long v = *arg ? strtol(arg, &end, 10) : 0;
            if (*arg && (*end || v < 1 || v > 1024)) {
                bad = 1;
            } else {
                char s[32];
                int l = *arg ? snprintf(s, sizeof s, "%ld", v) : 0;
                if (*arg)
                    k->blas_threads = (int)v;
                if (exec_send(k, CKF_THREADS, s, (size_t)l) == 0) {
                    k->cur.threads_asked = 1;
                    k->cur.pending_loads++;
                }
            }
        } else if (strcmp(m, "%%cuda") == 0) {
            k->cur.cuda = 1;
        } else if (strcmp(m, "%gpu") == 0) {
            cuda_ask_gpu(k, 1);
        } else if (strcmp(m, "%cuda_arch") == 0) {
            char flags[512];
            const char *from;
            if (strcmp(arg, "auto") == 0)
                k->cuda_arch[0] = '\0';
            else if (*arg && (strlen(arg) >= sizeof k->cuda_arch ||
                              ck_cuda_arch_flags(arg, flags, sizeof flags)))
                bad = 1;
            else if (*arg)
                snprintf(k->cuda_arch, sizeof k->cuda_arch, "%s", arg);
            cuda_arch_spec(k, &from);
            if (!bad && !k->gpu_arch[0] && strcmp(from, "nvcc's default") == 0) {
                k->cur.arch_show = 1; /* the GPU's own: ask it first */
                cuda_ask_gpu(k, 0);
            } else if (!bad) {
                say_cuda_arch(k);
            }
        } else if (strcmp(m, "%reset") == 0) {
            k->exec_quick_deaths = 0;
            state_reset(k);
            say(k, "state cleared: all definitions are gone\n");
        } else if (strcmp(m, "%who") == 0) {
            magic_who(k);
        } else if (strcmp(m, "%memlimit") == 0) {
            if (*arg) {
                int ok;
                unsigned long long v = parse_size(arg, &ok);
                if (!ok) {
                    bad = 1;
                } else {
                    k->memlimit = v;
                    char s[32];
                    int l = snprintf(s, sizeof s, "%llu", v);
                    exec_send(k, CKF_MEMLIMIT, s, (size_t)l);
                }
            }
            if (!bad) {
                if (k->memlimit)
                    say(k, "memory limit: %llu MB\n", k->memlimit >> 20);
                else
                    say(k, "memory limit: none\n");
                if (k->cuda_in_use)
                    say(k, "note: not applied while CUDA is in use (the CUDA driver reserves more "
                           "address space than it allows); %%reset applies it to a fresh state\n");
            }
        } else {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "unknown magic %s (known: %%cflags %%ldflags %%lib %%cc "
                     "%%reset %%who %%memlimit %%threads %%gpu %%cuda_arch %%%%time "
                     "%%%%cuda)",
                     m);
            set_error(k, "UsageError", msg, NULL);
            free(m);
            return -1;
        }
        if (bad) {
            char msg[300];
            snprintf(msg, sizeof msg, "bad argument for %s: %s", m, arg);
            set_error(k, "UsageError", msg, NULL);
            free(m);
            return -1;
        }
        free(m);
        /* blank the magic line, keep its newline */
        memset(p, ' ', eol ? (size_t)(eol - p) : strlen(p));
        p = eol ? eol + 1 : p + strlen(p);
    }
    return 0;
}

/* ---- the execute state machine ---------------------------------------------------- */

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return JP_EIO;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : JP_EIO;
}

/* Make sure the typedef names of the session's headers are known (re-harvest when the
 * include set changed). A cache file per include set keeps this off later starts. */
static void ensure_harvest(struct kernel *k, const char *inc)
{
    if (k->hdr_key && strcmp(k->hdr_key, inc) == 0)
        return;
    struct ck_names names = {0};
    char **tds = NULL;
    size_t ntd = 0;
    int64_t t0 = jp_time_mono_ms();
    if (ck_names_harvest(k->cc, k->o->include_dir, inc, k->workdir, &names, &tds, &ntd) == 0) {
        ck_names_dispose(&k->hdr);
        k->hdr = names;
        ck_session_set_hdr_types(&k->sess, tds, ntd);
        free(k->hdr_key);
        k->hdr_key = strdup(inc);
        jp_log(JP_LOG_DEBUG, "kernel", "harvested headers names=%zu typedefs=%zu ms=%lld", k->hdr.n,
               ntd, (long long)(jp_time_mono_ms() - t0));
    } else {
        ck_names_dispose(&names);
    }
    for (size_t i = 0; i < ntd; i++)
        free(tds[i]);
    free(tds);
}

static void ensure_harvest_session(struct kernel *k)
{
    char *inc = ck_session_includes(&k->sess);
    if (inc)
        ensure_harvest(k, inc);
    free(inc);
}

static void split_args(const char *s, char **argv, int *argc, int max, char *store, size_t storelen)
{
    size_t o = 0;
    while (*s && *argc < max) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        argv[(*argc)++] = store + o;
        while (*s && *s != ' ' && *s != '\t' && o + 1 < storelen)
            store[o++] = *s++;
        store[o++] = '\0';
    }
}

/* The flags every cell compile gets, for gcc or clang (which spells a few differently). */
static int base_flags(struct kernel *k, char **flags, int n, char *incf, size_t incflen)
{
    int clang = strstr(k->cc, "clang") != NULL;
    snprintf(incf, incflen, "-I%s", k->o->include_dir);
    flags[n++] = "-fPIC";
    flags[n++] = "-g";
    flags[n++] = clang ? "-fno-color-diagnostics" : "-fdiagnostics-color=never";
    flags[n++] = clang ? "-fno-caret-diagnostics" : "-fno-diagnostics-show-caret";
    /* the full warning list; ck_diag_filter shows only what points into the cell */
    flags[n++] = "-Wall";
    flags[n++] = "-Wextra";
    if (clang)
        flags[n++] = "-Wno-unused-function"; /* static inline helpers kept for later cells */
    flags[n++] = "-Werror=implicit-function-declaration";
    flags[n++] = incf;
    return n;
}

static const char *pch_flags_key(struct kernel *k)
{
    static char key[4096 + PATH_MAX];
    snprintf(key, sizeof key, "%s\n%s", k->cc, k->cflags);
    return key;
}

/* When idle: start building a precompiled header for the session's include lines if the
 * current one does not match them (or the compiler flags changed). */
static void pch_maybe_build(struct kernel *k)
{
    if (k->pch.job.pid > 0 || getenv("CNOTE_NO_PCH"))
        return;
    size_t n = ck_session_include_prefix(&k->sess);
    char *text = ck_session_pch_text(&k->sess, n);
    const char *fk = pch_flags_key(k);
    if (!text)
        return;
    if ((k->pch.text && strcmp(text, k->pch.text) == 0 && strcmp(fk, k->pch.flags) == 0) ||
        (k->pch.build_text && strcmp(text, k->pch.build_text) == 0 &&
         strcmp(fk, k->pch.build_flags) == 0)) {
        free(text);
        return; /* up to date, or this exact build failed before */
    }
    char dir[PATH_MAX + 32], file[PATH_MAX + 64], gch[PATH_MAX + 80], incf[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/pch%u", k->workdir, ++k->pch.gen);
    snprintf(file, sizeof file, "%s/prelude.h", dir);
    snprintf(gch, sizeof gch, "%s.gch", file);
    if (mkdir(dir, 0700) || write_file(file, text, strlen(text))) {
        free(text);
        return;
    }
    char *argv[170], store[4096];
    int argc = 0;
    argv[argc++] = k->cc;
    argv[argc++] = "-x";
    argv[argc++] = "c-header";
    argc = base_flags(k, argv, argc, incf, sizeof incf);
    split_args(k->cflags, argv, &argc, 160, store, sizeof store);
    argv[argc++] = "-o";
    argv[argc++] = gch;
    argv[argc++] = file;
    argv[argc] = NULL;
    if (ck_job_start(&k->pch.job, argv, k->workdir, 1 << 16)) {
        ck_job_dispose(&k->pch.job);
        free(text);
        return;
    }
    free(k->pch.build_text);
    free(k->pch.build_flags);
    k->pch.build_text = text;
    k->pch.build_flags = strdup(fk);
    k->pch.build_n = n;
    snprintf(k->pch.build_path, sizeof k->pch.build_path, "%s", file);
}

static void pch_built(struct kernel *k)
{
    int st = k->pch.job.status;
    ck_job_dispose(&k->pch.job);
    k->pch.job.fd = -1;
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) || !k->pch.build_flags) {
        jp_log(JP_LOG_DEBUG, "kernel", "precompiled header build failed: cells compile without");
        return; /* build_text stays, so the same build is not retried */
    }
    if (k->pch.path[0])
        snprintf(k->pch.old_path, sizeof k->pch.old_path, "%s", k->pch.path);
    free(k->pch.text);
    free(k->pch.flags);
    k->pch.text = k->pch.build_text;
    k->pch.flags = k->pch.build_flags;
    k->pch.n = k->pch.build_n;
    snprintf(k->pch.path, sizeof k->pch.path, "%s", k->pch.build_path);
    k->pch.build_text = k->pch.build_flags = NULL;
    jp_log(JP_LOG_DEBUG, "kernel", "precompiled header ready items=%zu", k->pch.n);
}

/* Delete a replaced precompiled header (its directory holds prelude.h and prelude.h.gch). */
static void pch_remove_old(struct kernel *k)
{
    char f[PATH_MAX + 80];
    snprintf(f, sizeof f, "%s.gch", k->pch.old_path);
    unlink(f);
    unlink(k->pch.old_path);
    char *slash = strrchr(k->pch.old_path, '/');
    if (slash) {
        *slash = '\0';
        rmdir(k->pch.old_path);
    }
    k->pch.old_path[0] = '\0';
}

/* The compile plan for the current compiler and flags (rebuilt when either changes). */
static int ensure_plan(struct kernel *k, const char *pch)
{
    char key[4096 + 3 * PATH_MAX];
    snprintf(key, sizeof key, "%s\n%s\n%s", k->cc, k->cflags, pch ? pch : "");
    if (k->plan_key && strcmp(k->plan_key, key) == 0)
        return 0;
    char *flags[160], store[4096], incf[PATH_MAX + 8];
    int n = base_flags(k, flags, 0, incf, sizeof incf);
    split_args(k->cflags, flags, &n, 150, store, sizeof store);
    if (pch) {
        flags[n++] = "-include";
        flags[n++] = (char *)pch;
    }
    flags[n] = NULL;
    ck_plan_dispose(&k->plan);
    int rc = ck_plan_make(k->cc, flags, k->workdir, &k->plan);
    if (rc)
        return rc;
    free(k->plan_key);
    k->plan_key = strdup(key);
    jp_log(JP_LOG_DEBUG, "kernel", "compile plan commands=%d direct=%d", k->plan.n, k->plan.direct);
    return 0;
}

/* Start command `step` of the compile plan for the current cell. */
static int compile_step(struct kernel *k, int step)
{
    char cfile[PATH_MAX + 40], ofile[PATH_MAX + 40], sfile[PATH_MAX + 40];
    if (ensure_plan(k, k->cur.next.pch_items ? k->pch.path : NULL)) {
        set_error(k, "MemoryError", "out of memory in the kernel", NULL);
        return -1;
    }
    snprintf(cfile, sizeof cfile, "%s.c", k->cur.base);
    snprintf(ofile, sizeof ofile, "%s.o", k->cur.base);
    snprintf(sfile, sizeof sfile, "%s.s", k->cur.base);
    char **argv = ck_plan_argv(&k->plan, step, cfile, ofile, sfile);
    if (!argv) {
        set_error(k, "MemoryError", "out of memory in the kernel", NULL);
        return -1;
    }
    k->cur.step = step;
    int rc = ck_job_start(&k->cur.job, argv, k->workdir, 1 << 20);
    free(argv);
    if (rc) {
        set_error(k, "CompileError",
                  k->cur.job.out.data ? k->cur.job.out.data : "cannot run the compiler", NULL);
        ck_job_dispose(&k->cur.job);
        return -1;
    }
    return 0;
}

/* A %%cuda cell: generate its .cu file (ck_cuda.h) and start nvcc; the link and run
 * follow the C path (link_start and run_start know the difference). */
static int cuda_compile(struct kernel *k, const char *code)
{
    char path[PATH_MAX + 400], obj[PATH_MAX + 40], flags[1024];
    const char *from;
    struct ck_argv a;

    if (ck_session_clone(&k->cur.next, &k->sess)) {
        set_error(k, "MemoryError", "out of memory in the kernel", NULL);
        return -1;
    }
    k->cur.have_next = 1;
    memset(&k->cur.gen, 0, sizeof k->cur.gen);
    if (ck_cuda_gen(&k->cur.next, code, strlen(code), k->cur.cell, &k->cur.gen)) {
        set_error(k, "MemoryError", "out of memory in the kernel", NULL);
        return -1;
    }
    if (k->cur.gen.warnings.len)
        publish_stream(k, "stderr", k->cur.gen.warnings.data, k->cur.gen.warnings.len);
    snprintf(k->cur.base, sizeof k->cur.base, "%s/cell%u", k->workdir, k->cur.next.serial);
    snprintf(path, sizeof path, "%s.cu", k->cur.base);
    snprintf(obj, sizeof obj, "%s.o", k->cur.base);
    if (write_file(path, k->cur.gen.code.data, k->cur.gen.code.len)) {
        set_error(k, "KernelError", "cannot write the generated cell file", NULL);
        return -1;
    }
    char name[PATH_MAX + 400];
    snprintf(name, sizeof name, "%s/%s", k->workdir, k->cur.cell);
    write_file(name, code, strlen(code));
    const char *spec = cuda_arch_spec(k, &from);
    if (ck_cuda_arch_flags(spec, flags, sizeof flags)) {
        char msg[600];
        snprintf(msg, sizeof msg, "bad CUDA architecture list '%s' (from %s)", spec, from);
        set_error(k, "UsageError", msg, NULL);
        return -1;
    }
    if (ck_cuda_compile_argv(cuda_tk(k), flags, k->o->include_dir, getenv("CNOTE_NVCC_FLAGS"), path,
                             obj, &a) ||
        ck_job_start(&k->cur.job, a.v, k->workdir, 1 << 20)) {
        set_error(k, "CompileError", k->cur.job.out.data ? k->cur.job.out.data : "cannot run nvcc",
                  NULL);
        ck_job_dispose(&k->cur.job);
        return -1;
    }
    k->cur.step = 0;
    k->cur.phase = PH_COMPILE;
    return 0;
}

static int cell_compile(struct kernel *k, const char *code)
{
    char path[PATH_MAX + 400];
    int rc;

    if (k->cur.cuda)
        return cuda_compile(k, code);
    if (ck_session_clone(&k->cur.next, &k->sess)) {
        set_error(k, "MemoryError", "out of memory in the kernel", NULL);
        return -1;
    }
    k->cur.have_next = 1;
    memset(&k->cur.gen, 0, sizeof k->cur.gen);
    /* know the typedef names of this cell's headers too, so `size_t *p;` classifies */
    char *inc = ck_session_includes_plus(&k->cur.next, code, strlen(code));
    if (inc) {
        ensure_harvest(k, inc);
        ck_session_set_hdr_types(&k->cur.next, k->sess.hdr_types, k->sess.n_hdr_types);
        free(inc);
    }
    k->cur.next.pch_items = 0;
    if (k->pch.path[0] && k->pch.flags && strcmp(k->pch.flags, pch_flags_key(k)) == 0) {
        /* usable if it still holds exactly the first n prelude items */
        char *t = ck_session_pch_text(&k->cur.next, k->pch.n);
        if (t && k->pch.n <= ck_session_include_prefix(&k->cur.next) && strcmp(t, k->pch.text) == 0)
            k->cur.next.pch_items = k->pch.n;
        free(t);
    }
    rc = ck_gen(&k->cur.next, code, strlen(code), k->cur.cell, &k->cur.gen);
    if (rc) {
        const char *w = k->cur.gen.warnings.data;
        set_error(k, "CompileError", w && *w ? w : jp_strerror(rc), NULL);
        return -1;
    }
    if (k->cur.gen.warnings.len)
        publish_stream(k, "stderr", k->cur.gen.warnings.data, k->cur.gen.warnings.len);
    snprintf(k->cur.base, sizeof k->cur.base, "%s/cell%u", k->workdir, k->cur.next.serial);
    snprintf(path, sizeof path, "%s.c", k->cur.base);
    if (write_file(path, k->cur.gen.code.data, k->cur.gen.code.len)) {
        set_error(k, "KernelError", "cannot write the generated cell file", NULL);
        return -1;
    }
    /* the cell text under its display name, so diagnostics can quote its lines */
    snprintf(path, sizeof path, "%s/%s", k->workdir, k->cur.cell);
    write_file(path, code, strlen(code));

    if (compile_step(k, 0))
        return -1;
    k->cur.phase = PH_COMPILE;
    return 0;
}

static void link_start(struct kernel *k)
{
    char ofile[PATH_MAX + 8], sofile[PATH_MAX + 8];
    snprintf(ofile, sizeof ofile, "%s.o", k->cur.base);
    snprintf(sofile, sizeof sofile, "%s.so", k->cur.base);
    if (k->cur.cuda) {
        struct ck_argv a;
        if (ck_cuda_link_argv(k->cc, ofile, sofile, &a) ||
            ck_job_start(&k->cur.job, a.v, k->workdir, 1 << 20)) {
            set_error(k, "LinkError", "cannot run the linker", NULL);
            ck_job_dispose(&k->cur.job);
            cell_finish(k);
            return;
        }
        k->cur.phase = PH_LINK;
        return;
    }
    if (!k->libgcc[0]) {
        struct jp_buf out;
        char *argv[] = {k->cc, "-print-libgcc-file-name", NULL};
        jp_buf_init(&out, 4096);
        if (ck_run(argv, NULL, &out, 5000) == 0 && out.len) {
            out.data[strcspn(out.data, "\n")] = '\0';
            if (file_exists(out.data))
                snprintf(k->libgcc, sizeof k->libgcc, "%s", out.data);
        }
        jp_buf_dispose(&out);
        if (!k->libgcc[0])
            snprintf(k->libgcc, sizeof k->libgcc, "-lc");
    }
    /* plain ld: the libraries are already loaded in the executor (RLTD_GLOBAL), so the
     * cell needs no -l and links in a few milliseconds */
    char *argv[] = {"ld", "-shared", "-o", sofile, ofile, k->libgcc, NULL};
    if (strcmp(k->libgcc, "-lc") == 0)
        argv[5] = NULL;
    if (ck_job_start(&k->cur.job, argv, k->workdir, 1 << 20)) {
        set_error(k, "LinkError", "cannot run ld", NULL);
        ck_job_dispose(&k->cur.job);
        cell_finish(k);
        return;
    }
    k->cur.phase = PH_LINK;
}

static void run_start(struct kernel *k)
{
    char payload[PATH_MAX + CK_CUDA_PATH + 128];
    /* a cell needs a GPU when it is CUDA or the C prelude includes a CUDA header: the state
     * process makes CUDA ready first, or fails the cell with the reason */
    char *inc = k->cur.cuda ? NULL : ck_session_includes(&k->cur.next);
    char gpu = k->cur.cuda ? '1' : inc && ck_cuda_includes_cuda(inc) ? '2' : '0';
    free(inc);
    k->cur.gpu_run = gpu != '0';
    int n =
        snprintf(payload, sizeof payload, "%s.so%c%s%c%c%c%c%c%s", k->cur.base, 0, k->cur.gen.fn, 0,
                 k->cur.allow_stdin ? '1' : '0', 0, gpu, 0, gpu != '0' ? cuda_tk(k)->libdir : "");
    k->cur.t_compiled = jp_time_mono_ms();
    /* the object and assembly files are not needed once linked (the .so stays: addr2line
     * reads it to name the line of a crash) */
    char tmp[PATH_MAX + 40];
    snprintf(tmp, sizeof tmp, "%s.o", k->cur.base);
    unlink(tmp);
    snprintf(tmp, sizeof tmp, "%s.s", k->cur.base);
    unlink(tmp);
    if (exec_send(k, CKF_RUN, payload, (size_t)n + 1)) {
        set_error(k, "KernelStateLost", "the C state process is not running", NULL);
        cell_finish(k);
        return;
    }
    k->cur.phase = PH_RUN;
}

static void job_done(struct kernel *k)
{
    int st = k->cur.job.status;
    jp_log(JP_LOG_DEBUG, "kernel", "step done phase=%d step=%d t=%lld", k->cur.phase, k->cur.step,
           (long long)(jp_time_mono_ms() - k->cur.t0));
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (k->cur.cuda && k->cur.phase == PH_COMPILE && k->cur.job.out.len) {
        /* nvcc's front end writes `In[3](5): error: ...`: into gcc's form */
        struct jp_buf conv;
        jp_buf_init(&conv, 1 << 20);
        if (ck_cuda_diag(k->cur.job.out.data, &conv) == 0) {
            jp_buf_dispose(&k->cur.job.out);
            k->cur.job.out = conv;
        } else {
            jp_buf_dispose(&conv);
        }
    }
    const char *out = k->cur.job.out.data ? k->cur.job.out.data : "";
    if (k->cur.interrupted) {
        ck_job_dispose(&k->cur.job);
        set_error(k, "KeyboardInterrupt", "compilation interrupted", NULL);
        cell_finish(k);
        return;
    }
    if (k->cur.phase == PH_COMPILE) {
        if (!ok) {
            char *evalue = NULL;
            json_t *tb = diagnostics(out, k->cur.cell, &evalue);
            if (WIFSIGNALED(st))
                set_error(k, "CompileError", "the compiler was killed", tb);
            else
                set_error(k, "CompileError", evalue ? evalue : "compilation failed", tb);
            free(evalue);
            ck_job_dispose(&k->cur.job);
            cell_finish(k);
            return;
        }
        if (*out) {
            /* warnings of a successful compile go to stderr, coloured */
            char *ev = NULL;
            json_t *tb = diagnostics(out, k->cur.cell, &ev);
            struct jp_buf b;
            jp_buf_init(&b, 1 << 20);
            size_t i;
            json_t *line;
            json_array_foreach(tb, i, line)
            {
                jp_buf_adds(&b, json_string_value(line));
                jp_buf_adds(&b, "\n");
            }
            publish_stream(k, "stderr", b.data, b.len);
            jp_buf_dispose(&b);
            json_decref(tb);
            free(ev);
        }
        ck_job_dispose(&k->cur.job);
        if (!k->cur.cuda && k->cur.step + 1 < k->plan.n) {
            if (compile_step(k, k->cur.step + 1))
                cell_finish(k);
            return;
        }
        link_start(k);
        return;
    }
    /* link */
    if (!ok) {
        set_error(k, "LinkError", *out ? out : "ld failed", NULL);
        ck_job_dispose(&k->cur.job);
        cell_finish(k);
        return;
    }
    ck_job_dispose(&k->cur.job);
    run_start(k);
}

/* Start the next user expression, if any. Returns 1 when one was started. */
static int uexpr_next(struct kernel *k)
{
    while (k->cur.uexpr && json_object_size(k->cur.uexpr) > 0) {
        void *it = json_object_iter(k->cur.uexpr);
        const char *name = json_object_iter_key(it);
        json_t *code = json_object_iter_value(it);
        static char namebuf[256];
        snprintf(namebuf, sizeof namebuf, "%s", name);
        char *text = strdup(json_is_string(code) ? json_string_value(code) : "");
        json_object_del(k->cur.uexpr, namebuf);
        k->cur.uexpr_name = namebuf;
        free(k->cur.result);
        k->cur.result = NULL;
        snprintf(k->cur.cell, sizeof k->cur.cell, "<expr-%s>", namebuf);
        k->cur.cuda = 0; /* user expressions are C, also after a %%cuda cell */
        if (text && cell_compile(k, text) == 0) {
            free(text);
            return 1;
        }
        free(text);
        /* it failed at once: record the error and go on */
        json_t *e = k->cur.error;
        k->cur.error = NULL;
        if (e)
            json_object_set_new(e, "status", json_string("error"));
        json_object_set_new(k->cur.uexpr_out, namebuf,
                            e ? e : json_pack("{s:s}", "status", "error"));
        if (k->cur.have_next) {
            ck_session_dispose(&k->cur.next);
            k->cur.have_next = 0;
        }
        ck_gen_dispose(&k->cur.gen);
    }
    return 0;
}

/* The execute_request is answered: free what it held, keep it as the parent of output that
 * arrives while idle, and go back to idle. */
static void cur_clear(struct kernel *k)
{
    json_decref(k->cur.error);
    json_decref(k->cur.uexpr);
    json_decref(k->cur.uexpr_out);
    free(k->cur.result);
    free(k->cur.code);
    jp_msg_free(k->last_parent);
    k->last_parent = k->cur.req;
    memset(&k->cur, 0, sizeof k->cur);
    k->cur.job.fd = -1;
    k->cur.phase = PH_IDLE;
}

struct queued {
    struct jp_msg **v;
    size_t n;
};
static void take_queue(struct kernel *k, struct queued *q);
static void abort_queued(struct kernel *k, struct queued *q);

static void cell_finish(struct kernel *k)
{
    struct jp_msg *req = k->cur.req;
    if (k->cur.have_next) {
        ck_session_dispose(&k->cur.next);
        k->cur.have_next = 0;
    }
    ck_gen_dispose(&k->cur.gen);
    ck_job_dispose(&k->cur.job);

    if (k->cur.uexpr_name) {
        /* one user expression finished */
        json_t *r;
        if (k->cur.error) {
            r = k->cur.error;
            json_object_set_new(r, "status", json_string("error"));
            k->cur.error = NULL;
        } else {
            r = json_pack("{s:s,s:{s:s},s:{}}", "status", "ok", "data", "text/plain",
                          k->cur.result ? k->cur.result : "", "metadata");
        }
        json_object_set_new(k->cur.uexpr_out, k->cur.uexpr_name, r);
        k->cur.uexpr_name = NULL;
        free(k->cur.result);
        k->cur.result = NULL;
        k->cur.phase = PH_IDLE;
        if (uexpr_next(k))
            return;
    } else if (!k->cur.error && k->cur.uexpr && json_object_size(k->cur.uexpr) > 0) {
        /* the cell itself succeeded: evaluate user_expressions before replying */
        char *keep = k->cur.result;
        k->cur.result = NULL;
        k->cur.phase = PH_IDLE;
        char cell[48];
        snprintf(cell, sizeof cell, "%s", k->cur.cell);
        if (uexpr_next(k)) {
            /* stash the main result in history form until the end */
            json_object_set_new(k->cur.uexpr_out, "\x01main", json_string(keep ? keep : ""));
            if (!keep)
                json_object_del(k->cur.uexpr_out, "\x01main");
            free(keep);
            return;
        }
        k->cur.result = keep;
    }
    json_t *mr = json_object_get(k->cur.uexpr_out, "\x01main");
    if (mr && !k->cur.result)
        k->cur.result = strdup(json_string_value(mr));
    json_object_del(k->cur.uexpr_out, "\x01main");

    int64_t now = jp_time_mono_ms();
    if (k->cur.timed && !k->cur.silent) {
        int64_t compiled = k->cur.t_compiled ? k->cur.t_compiled : now;
        say(k, "wall time: %lld ms (compile %lld ms, run %lld ms)\n", (long long)(now - k->cur.t0),
            (long long)(compiled - k->cur.t0), (long long)(now - compiled));
    }
    /* Take what was queued behind the failed cell before the client can learn of the
     * failure (a request sent after the error is known must never be aborted); the abort
     * replies go out after this cell's reply, in request order. */
    struct queued q = {NULL, 0};
    if (k->cur.error && k->cur.stop_on_error && !k->cur.silent)
        take_queue(k, &q);
    json_t *content;
    if (k->cur.error) {
        if (!k->cur.silent)
            publish(k, req, "error", json_deep_copy(k->cur.error));
        content = json_deep_copy(k->cur.error);
        json_object_set_new(content, "status", json_string("error"));
    } else {
        if (k->cur.result && !k->cur.silent) {
            publish(k, req, "execute_result",
                    json_pack("{s:i,s:{s:o},s:{}}", "execution_count", k->cur.count, "data",
                              "text/plain", json_text(k->cur.result, strlen(k->cur.result)),
                              "metadata"));
        }
        content = json_pack("{s:s}", "status", "ok");
    }
    json_object_set_new(content, "execution_count", json_integer(k->cur.count));
    json_object_set_new(content, "payload", json_array());
    json_object_set_new(content, "user_expressions",
                        k->cur.uexpr_out ? json_incref(k->cur.uexpr_out) : json_object());
    if (k->cur.store_history && k->cur.code)
        hist_add(k, k->cur.count, json_string_value(json_object_get(req->content, "code")),
                 k->cur.result);
    reply(k, k->shell, req, "execute_reply", content);
    publish_status(k, req, "idle");

    cur_clear(k);
    abort_queued(k, &q);
}

static void start_execute(struct kernel *k, struct jp_msg *req)
{
    jp_log(JP_LOG_DEBUG, "kernel", "execute msg_id=%s", jp_msg_id(req));
    json_t *c = req->content;
    const char *code = json_string_value(json_object_get(c, "code"));
    memset(&k->cur, 0, sizeof k->cur);
    k->cur.job.fd = -1;
    k->cur.req = req;
    k->cur.silent = json_is_true(json_object_get(c, "silent"));
    k->cur.store_history = !k->cur.silent && (json_object_get(c, "store_history") == NULL ||
                                              json_is_true(json_object_get(c, "store_history")));
    k->cur.allow_stdin = json_is_true(json_object_get(c, "allow_stdin"));
    k->cur.stop_on_error = json_object_get(c, "stop_on_error") == NULL ||
                           json_is_true(json_object_get(c, "stop_on_error"));
    json_t *ue = json_object_get(c, "user_expressions");
    k->cur.uexpr = json_is_object(ue) ? json_deep_copy(ue) : json_object();
    k->cur.uexpr_out = json_object();
    k->cur.t0 = jp_time_mono_ms();
    publish_status(k, req, "busy");
    if (!code) {
        set_error(k, "KernelError", "execute_request without a code string", NULL);
        k->cur.count = k->execution_count;
        cell_finish(k);
        return;
    }
    if (k->cur.store_history)
        k->execution_count++;
    k->cur.count = k->execution_count;
    if (k->cur.store_history)
        snprintf(k->cur.cell, sizeof k->cur.cell, "In[%d]", k->cur.count);
    else
        snprintf(k->cur.cell, sizeof k->cur.cell, "<cell-%u>", k->sess.serial + 1);
    if (!k->cur.silent)
        publish(k, req, "execute_input",
                json_pack("{s:s,s:i}", "code", code, "execution_count", k->cur.count));
    if (k->state_lost_note) {
        const char note[] = "note: the C state process had died while idle; a fresh one was "
                            "started and earlier definitions are gone\n";
        publish_stream(k, "stderr", note, sizeof note - 1);
        k->state_lost_note = 0;
    }
    k->cur.code = strdup(code);
    if (!k->cur.code) {
        set_error(k, "MemoryError", "out of memory in the kernel", NULL);
        cell_finish(k);
        return;
    }
    /* `?name` / `name?` asks for help, as in IPython */
    {
        const char *s = code;
        while (*s == ' ' || *s == '\n')
            s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
            n--;
        char name[256];
        if (n > 1 && n < sizeof name && (s[0] == '?' || s[n - 1] == '?')) {
            const char *w = s[0] == '?' ? s + 1 : s;
            size_t wl = s[0] == '?' ? n - 1 : n - 1;
            memcpy(name, w, wl);
            name[wl] = '\0';
            struct jp_buf b;
            jp_buf_init(&b, 1 << 20);
            int found = ck_inspect(&k->sess, &k->hdr, name, 1, &b);
            json_t *content = json_pack("{s:s,s:i,s:[],s:{}}", "status", "ok", "execution_count",
                                        k->cur.count, "payload", "user_expressions");
            if (found > 0)
                json_array_append_new(json_object_get(content, "payload"),
                                      json_pack("{s:s,s:{s:o},s:i}", "source", "page", "data",
                                                "text/plain", json_text(b.data, b.len), "start",
                                                0));
            else
                say(k, "no help found for '%s'\n", name);
            jp_buf_dispose(&b);
            if (k->cur.store_history)
                hist_add(k, k->cur.count, code, NULL);
            reply(k, k->shell, req, "execute_reply", content);
            publish_status(k, req, "idle");
            cur_clear(k);
            return;
        }
    }
    if (run_magics(k, k->cur.code)) {
        cell_finish(k);
        return;
    }
    if (k->cur.cuda && cuda_cell_start(k)) {
        cell_finish(k);
        return;
    }
    if (!k->cur.cuda)
        cuda_headers(k, k->cur.code);
    load_implied_libs(k, k->cur.code);
    if (k->cur.pending_loads) {
        k->cur.phase = PH_LOAD;
        return;
    }
    const char *p = k->cur.code;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (!*p) {
        cell_finish(k);
        return;
    }
    if (cell_compile(k, k->cur.code))
        cell_finish(k);
}

static void after_loads(struct kernel *k)
{
    const char *p = k->cur.code;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (!*p || k->cur.error) {
        cell_finish(k);
        return;
    }
    if (cell_compile(k, k->cur.code))
        cell_finish(k);
}

/* Where did the crash happen? "In[3] line 2, in norm" from addr2line on the cell object. */
static char *crash_site(struct kernel *k, const char *so, unsigned long off)
{
    if (!so || !*so || strncmp(so, k->workdir, strlen(k->workdir)) != 0)
        return NULL;
    char addr[32];
    snprintf(addr, sizeof addr, "0x%lx", off);
    char *argv[] = {"addr2line", "-f", "-e", (char *)so, addr, NULL};
    struct jp_buf out;
    jp_buf_init(&out, 1 << 16);
    char *res = NULL;
    if (ck_run(argv, NULL, &out, 3000) == 0 && out.len) {
        char *fn = out.data, *nl = strchr(fn, '\n');
        if (nl) {
            *nl = '\0';
            char *loc = nl + 1;
            loc[strcspn(loc, "\n ")] = '\0';
            char *colon = strrchr(loc, ':');
            if (colon && colon[1] != '?' && strncmp(loc, "??", 2) != 0) {
                *colon = '\0';
                /* the cell files live in the work directory: show just "In[3]" */
                char *slash = strrchr(loc, '/');
                if (slash)
                    loc = slash + 1;
                if (strncmp(fn, "__ck_cell_", 10) == 0)
                    res = asprintf(&res, "%s, line %s", loc, colon + 1) < 0 ? NULL : res;
                else
                    res =
                        asprintf(&res, "%s, line %s, in %s()", loc, colon + 1, fn) < 0 ? NULL : res;
            }
        }
    }
    jp_buf_dispose(&out);
    return res;
}

static void on_done(struct kernel *k, const char *data, size_t len)
{
    jp_log(JP_LOG_DEBUG, "kernel", "run done t=%lld", (long long)(jp_time_mono_ms() - k->cur.t0));
    json_error_t je;
    json_t *d = json_loadb(data, len, 0, &je);
    const char *status = json_string_value(json_object_get(d, "status"));
    k->cur.t_ran = jp_time_mono_ms();
    int loaded = !json_is_false(json_object_get(d, "loaded"));
    if (loaded && k->cur.gpu_run)
        k->cuda_in_use = 1; /* CUDA was made ready for it */
    if (loaded && k->cur.have_next) {
        /* the definitions are in the process now, whatever the run did: commit them */
        ck_session_dispose(&k->sess);
        k->sess = k->cur.next;
        k->cur.have_next = 0;
    }
    if (status && strcmp(status, "ok") != 0) {
        const char *ename = json_string_value(json_object_get(d, "ename"));
        const char *evalue = json_string_value(json_object_get(d, "evalue"));
        char *cuda_ev = NULL; /* a CUDA error found after the cell ran: say which cell */
        if (json_is_true(json_object_get(d, "cuda_after")) && evalue &&
            asprintf(&cuda_ev, "%s after %s", evalue, k->cur.cell) >= 0)
            evalue = cuda_ev;
        char *site = crash_site(k, json_string_value(json_object_get(d, "so")),
                                (unsigned long)json_integer_value(json_object_get(d, "offset")));
        json_t *tb = json_array();
        char *line = NULL;
        if (asprintf(&line, "\x1b[1;31m%s\x1b[0m: %s", ename ? ename : "Error",
                     evalue ? evalue : "") >= 0) {
            json_array_append_new(tb, json_text(line, strlen(line)));
            free(line);
        }
        if (site && asprintf(&line, "  at %s", site) >= 0) {
            json_array_append_new(tb, json_text(line, strlen(line)));
            free(line);
        }
        if (json_is_true(json_object_get(d, "tainted")) && ename &&
            strcmp(ename, "KeyboardInterrupt") != 0)
            json_array_append_new(tb, json_string("The kernel survived and your variables are "
                                                  "kept, but memory or locks the crashed code "
                                                  "was using may be inconsistent."));
        if (json_is_true(json_object_get(d, "cuda_sticky")))
            json_array_append_new(tb, json_string("This error broke the GPU context: every later "
                                                  "CUDA call fails. %reset starts a fresh state "
                                                  "process (earlier definitions are lost)."));
        char *ev = NULL;
        if (site && evalue && asprintf(&ev, "%s at %s", evalue, site) < 0)
            ev = NULL;
        set_error(k, ename ? ename : "Error", ev ? ev : evalue ? evalue : "", tb);
        free(ev);
        free(site);
        free(cuda_ev);
    } else if (json_is_true(json_object_get(d, "oom"))) {
        const char note[] = "warning: an allocation failed during this cell (memory limit)\n";
        publish_stream(k, "stderr", note, sizeof note - 1);
    }
    json_decref(d);
    k->cur.kill_at = 0;
    cell_finish(k);
}

static void on_display(struct kernel *k, const char *data, size_t len)
{
    json_error_t je;
    json_t *d = json_loadb(data, len, 0, &je);
    const char *type = json_string_value(json_object_get(d, "msg_type"));
    json_t *content = json_object_get(d, "content");
    if (!type || !json_is_object(content)) {
        /* most likely display_json() with text that is not JSON */
        const char note[] = "display: the output was not valid (display_json needs a JSON "
                            "document)\n";
        publish_stream(k, "stderr", note, sizeof note - 1);
    } else if (!(k->cur.req && k->cur.silent)) {
        publish(k, out_parent(k), type, json_incref(content));
    }
    json_decref(d);
}

static void on_input_request(struct kernel *k, const char *data, size_t len)
{
    json_error_t je;
    json_t *d = json_loadb(data, len, 0, &je);
    if (!k->cur.req || !k->cur.allow_stdin) {
        exec_send(k, CKF_INPUT_EOF, "", 0);
        json_decref(d);
        return;
    }
    json_t *content = json_pack("{s:s,s:b}", "prompt",
                                json_string_value(json_object_get(d, "prompt"))
                                    ? json_string_value(json_object_get(d, "prompt"))
                                    : "",
                                "password", json_is_true(json_object_get(d, "password")));
    reply(k, k->stdin_s, k->cur.req, "input_request", content);
    k->cur.waiting_input = 1;
    json_decref(d);
}

/* Frames from the executor. Returns -1 when the control socket closed. */
static int drain_ctl(struct kernel *k)
{
    char buf[65536];
    int eof = 0;
    for (;;) {
        ssize_t r = recv(k->ex.ctl, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            eof = 1;
            break;
        }
        if (r < 0)
            break;
        if (jp_buf_add(&k->ex.in, buf, (size_t)r)) {
            eof = 1; /* a frame over the limit: treat the executor as broken */
            break;
        }
    }
    /* a display frame must come after the output written before it */
    while (k->ex.in.len >= sizeof(struct ck_frame_hdr)) {
        struct ck_frame_hdr h;
        memcpy(&h, k->ex.in.data, sizeof h);
        if (h.len > CK_FRAME_MAX) {
            eof = 1;
            break;
        }
        if (k->ex.in.len < sizeof h + h.len)
            break;
        if (k->ex.out >= 0)
            drain_output(k, 0, 0);
        if (k->ex.err >= 0)
            drain_output(k, 1, 0);
        char *p = malloc(h.len + 1);
        if (!p)
            break;
        memcpy(p, k->ex.in.data + sizeof h, h.len);
        p[h.len] = '\0';
        jp_buf_consume(&k->ex.in, sizeof h + h.len);
        switch (h.type) {
        case CKF_DONE:
            if (k->cur.phase == PH_RUN)
                on_done(k, p, h.len);
            break;
        case CKF_DISPLAY:
            on_display(k, p, h.len);
            /* the executor waits for this, so output written after the display cannot
             * overtake it */
            exec_send(k, CKF_ACK, "", 0);
            break;
        case CKF_RESULT:
            free(k->cur.result);
            k->cur.result = strdup(p);
            break;
        case CKF_INPUT_REQ:
            on_input_request(k, p, h.len);
            break;
        case CKF_LOADED:
            if (*p && k->n_libs) {
                /* dlerror() starts with the path that failed; else it was the last one */
                size_t f = k->n_libs - 1;
                for (size_t i = 0; i < k->n_libs; i++) {
                    size_t l = strlen(k->libs[i].path);
                    if (strncmp(p, k->libs[i].path, l) == 0 && p[l] == ':')
                        f = i;
                }
                char msg[PATH_MAX + 1024];
                const struct ck_lib_need *why = &k->libs[f].implied;
                if (why->lib)
                    snprintf(msg, sizeof msg,
                             "#include <%s> needs the %s library (Debian package %s), which "
                             "cannot be loaded: %s",
                             why->header, why->lib->name, why->lib->package, p);
                else
                    snprintf(msg, sizeof msg, "cannot load library: %s", p);
                set_error(k, "LibraryError", msg, NULL);
                /* forget it so a later %lib (or #include) can try again */
                free(k->libs[f].path);
                memmove(&k->libs[f], &k->libs[f + 1], (k->n_libs - f - 1) * sizeof *k->libs);
                k->n_libs--;
            }
            if (k->cur.pending_loads > 0 && --k->cur.pending_loads == 0 && k->cur.phase == PH_LOAD)
                after_loads(k);
            break;
        case CKF_GPU_INFO: {
            if (!k->cur.gpu_asked)
                break;
            k->cur.gpu_asked = 0;
            /* first line: the architectures for nvcc; then the text %gpu shows */
            size_t al = strcspn(p, "\n");
            snprintf(k->gpu_arch, sizeof k->gpu_arch, "%.*s", (int)al, p);
            if (strcmp(k->gpu_arch, "-") != 0)
                k->cuda_in_use = 1; /* the driver was initialised to list the devices */
            if (k->cur.gpu_show && p[al])
                say(k, "%s", p + al + 1);
            if (k->cur.arch_show)
                say_cuda_arch(k);
            if (k->cur.pending_loads > 0 && --k->cur.pending_loads == 0 && k->cur.phase == PH_LOAD)
                after_loads(k);
            break;
        }
        case CKF_THREADS_IS:
            if (!k->cur.threads_asked)
                break; /* the setting re-sent to a fresh state process */
            k->cur.threads_asked = 0;
            if (*p)
                say(k, "BLAS threads: %s\n", p);
            else if (k->blas_threads)
                say(k, "BLAS threads: %d (from when OpenBLAS loads; none is loaded yet)\n",
                    k->blas_threads);
            else
                say(k, "BLAS threads: no OpenBLAS loaded yet (it starts one thread per core, "
                       "or OPENBLAS_NUM_THREADS)\n");
            if (k->cur.pending_loads > 0 && --k->cur.pending_loads == 0 && k->cur.phase == PH_LOAD)
                after_loads(k);
            break;
        default:
            break;
        }
        free(p);
    }
    return eof ? -1 : 0;
}

/* The executor is gone: report, restart, forget the state. */
static void exec_died(struct kernel *k)
{
    if (k->ex.out >= 0)
        drain_output(k, 0, 0);
    if (k->ex.err >= 0)
        drain_output(k, 1, 0);
    int status = exec_reap(k);
    if (k->ex.ctl >= 0)
        close(k->ex.ctl);
    if (k->ex.out >= 0)
        close(k->ex.out);
    if (k->ex.err >= 0)
        close(k->ex.err);
    k->ex.ctl = k->ex.out = k->ex.err = -1;
    char why[200];
    const char *ename = "KernelStateLost";
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(why, sizeof why, "the C state process was killed by signal %d (%s)", sig,
                 strsignal(sig));
        if (sig == SIGSEGV)
            ename = "SIGSEGV";
        else if (sig == SIGABRT)
            ename = "SIGABRT";
        else if (sig == SIGKILL && k->cur.interrupted)
            ename = "KeyboardInterrupt";
    } else if (WIFEXITED(status)) {
        snprintf(why, sizeof why,
                 "the C state process exited with status %d (the cell called "
                 "exit()?)",
                 WEXITSTATUS(status));
    } else {
        snprintf(why, sizeof why, "the C state process stopped");
    }
    jp_log(JP_LOG_WARN, "kernel", "executor died reason=\"%s\"", why);
    k->exec_quick_deaths =
        jp_time_mono_ms() - k->exec_t_start < EXEC_QUICK_MS ? k->exec_quick_deaths + 1 : 0;
    int running = k->cur.req && (k->cur.phase == PH_RUN || k->cur.phase == PH_LOAD);
    state_reset(k);
    if (running) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "%s; a fresh state was started, so the definitions of earlier "
                 "cells are gone (the kernel itself is still running)",
                 why);
        if (k->cur.have_next) {
            ck_session_dispose(&k->cur.next);
            k->cur.have_next = 0;
        }
        set_error(k, ename, msg, NULL);
        k->cur.kill_at = 0;
        cell_finish(k);
    } else if (!k->quit) {
        k->state_lost_note = 1;
    }
}

static void interrupt(struct kernel *k)
{
    if (!k->cur.req)
        return;
    jp_log(JP_LOG_INFO, "kernel", "interrupt phase=%d", k->cur.phase);
    if (k->cur.phase == PH_COMPILE || k->cur.phase == PH_LINK) {
        k->cur.interrupted = 1;
        if (k->cur.job.pid > 0)
            kill(k->cur.job.pid, SIGKILL);
        return;
    }
    if (k->cur.phase == PH_RUN || k->cur.phase == PH_LOAD) {
        if (k->cur.interrupted && k->ex.pid > 0) {
            /* a second interrupt: do not wait any longer */
            kill(k->ex.pid, SIGKILL);
            return;
        }
        k->cur.interrupted = 1;
        if (k->ex.pid > 0)
            kill(k->ex.pid, SIGINT);
        k->cur.kill_at = jp_time_mono_ms() + k->o->interrupt_grace_ms;
    }
}

/* ---- request handlers ------------------------------------------------------------- */

static json_t *kernel_info_content(void)
{
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s},s:s,s:[{s:s,s:s}],s:b,s:[]}", "status", "ok",
        "protocol_version", JP_PROTOCOL_VERSION, "implementation", "cnote",
        "implementation_version", CNOTE_VERSION, "language_info", "name", "c", "version",
        "C17 (gcc)", "mimetype", "text/x-csrc", "file_extension", ".c", "pygments_lexer", "c",
        "codemirror_mode", "text/x-csrc", "banner",
        "cnote " CNOTE_VERSION " - C cells with state across cells\n"
        "Magics: %cflags %ldflags %lib %cc %reset %who %memlimit %threads %gpu %cuda_arch "
        "%%time %%cuda\n",
        "help_links", "text", "cnote kernel guide", "url",
        "https://github.com/cnote/cnote/blob/main/docs/kernel.md", "debugger", 0,
        "supported_features");
}

static void h_kernel_info(struct kernel *k, void *sock, struct jp_msg *m)
{
    reply(k, sock, m, "kernel_info_reply", kernel_info_content());
}

static void h_is_complete(struct kernel *k, void *sock, struct jp_msg *m)
{
    const char *code = json_string_value(json_object_get(m->content, "code"));
    char indent[80];
    const char *st = code ? ck_is_complete(code, strlen(code), indent, sizeof indent) : "invalid";
    /* a lone magic line is complete */
    json_t *c = json_pack("{s:s}", "status", st);
    if (strcmp(st, "incomplete") == 0)
        json_object_set_new(c, "indent", json_string(indent));
    reply(k, sock, m, "is_complete_reply", c);
}

static void h_complete(struct kernel *k, void *sock, struct jp_msg *m)
{
    const char *code = json_string_value(json_object_get(m->content, "code"));
    json_int_t pos = json_integer_value(json_object_get(m->content, "cursor_pos"));
    struct ck_completion c;
    if (!code)
        code = "";
    if (pos < 0 || !json_is_integer(json_object_get(m->content, "cursor_pos")))
        pos = (json_int_t)strlen(code);
    if (!k->hdr_key)
        ensure_harvest_session(k);
    if (ck_complete(&k->sess, &k->hdr, code, (size_t)pos, &c)) {
        reply(k, sock, m, "complete_reply",
              json_pack("{s:s,s:s,s:s,s:[]}", "status", "error", "ename", "MemoryError", "evalue",
                        "out of memory", "traceback"));
        return;
    }
    json_t *matches = json_array(), *types = json_array();
    for (size_t i = 0; i < c.n; i++) {
        json_array_append_new(matches, json_string(c.matches[i]));
        json_array_append_new(
            types, json_pack("{s:I,s:I,s:s,s:s}", "start", (json_int_t)c.cursor_start, "end",
                             (json_int_t)c.cursor_end, "text", c.matches[i], "type", c.types[i]));
    }
    reply(k, sock, m, "complete_reply",
          json_pack("{s:s,s:o,s:I,s:I,s:{s:o}}", "status", "ok", "matches", matches, "cursor_start",
                    (json_int_t)c.cursor_start, "cursor_end", (json_int_t)c.cursor_end, "metadata",
                    "_jupyter_types_experimental", types));
    ck_completion_dispose(&c);
}

static void h_inspect(struct kernel *k, void *sock, struct jp_msg *m)
{
    const char *code = json_string_value(json_object_get(m->content, "code"));
    json_int_t pos = json_integer_value(json_object_get(m->content, "cursor_pos"));
    int detail = (int)json_integer_value(json_object_get(m->content, "detail_level"));
    char name[256];
    json_t *data = json_object();
    int found = 0;
    if (!k->hdr_key)
        ensure_harvest_session(k);
    if (code && pos >= 0 && ck_word_at(code, (size_t)pos, name, sizeof name) == 0) {
        struct jp_buf b;
        jp_buf_init(&b, 1 << 20);
        found = ck_inspect(&k->sess, &k->hdr, name, detail, &b) > 0;
        if (found)
            json_object_set_new(data, "text/plain", json_text(b.data, b.len));
        jp_buf_dispose(&b);
    }
    reply(
        k, sock, m, "inspect_reply",
        json_pack("{s:s,s:b,s:o,s:{}}", "status", "ok", "found", found, "data", data, "metadata"));
}

static void h_history(struct kernel *k, void *sock, struct jp_msg *m)
{
    json_t *c = m->content;
    const char *type = json_string_value(json_object_get(c, "hist_access_type"));
    int output = json_is_true(json_object_get(c, "output"));
    json_t *h = json_array();
    if (type && strcmp(type, "tail") == 0) {
        json_int_t n = json_integer_value(json_object_get(c, "n"));
        size_t from = n > 0 && (size_t)n < k->n_hist ? k->n_hist - (size_t)n : 0;
        for (size_t i = from; i < k->n_hist; i++)
            json_array_append_new(h, hist_entry(&k->hist[i], output));
    } else if (type && strcmp(type, "range") == 0) {
        json_int_t start = json_integer_value(json_object_get(c, "start"));
        json_t *stopj = json_object_get(c, "stop");
        json_int_t stop = json_is_integer(stopj) ? json_integer_value(stopj) : INT_MAX;
        for (size_t i = 0; i < k->n_hist; i++)
            if (k->hist[i].count >= start && k->hist[i].count < stop)
                json_array_append_new(h, hist_entry(&k->hist[i], output));
    } else if (type && strcmp(type, "search") == 0) {
        const char *pat = json_string_value(json_object_get(c, "pattern"));
        json_int_t n = json_integer_value(json_object_get(c, "n"));
        int unique = json_is_true(json_object_get(c, "unique"));
        json_t *seen = json_object();
        for (size_t i = k->n_hist; i-- > 0;) {
            const struct hist *e = &k->hist[i];
            if (pat && fnmatch(pat, e->input, 0) != 0)
                continue;
            if (unique) {
                if (json_object_get(seen, e->input))
                    continue;
                json_object_set_new(seen, e->input, json_true());
            }
            json_array_insert_new(h, 0, hist_entry(e, output));
            if (n > 0 && json_array_size(h) >= (size_t)n)
                break;
        }
        json_decref(seen);
    }
    reply(k, sock, m, "history_reply", json_pack("{s:s,s:o}", "status", "ok", "history", h));
}

static void h_comm_info(struct kernel *k, void *sock, struct jp_msg *m)
{
    reply(k, sock, m, "comm_info_reply", json_pack("{s:s,s:{}}", "status", "ok", "comms"));
}

static void h_comm_open(struct kernel *k, void *sock, struct jp_msg *m)
{
    (void)sock;
    /* no comm targets: close it at once so the frontend does not wait */
    const char *id = json_string_value(json_object_get(m->content, "comm_id"));
    if (id)
        publish(k, m, "comm_close", json_pack("{s:s,s:{}}", "comm_id", id, "data"));
}

static void h_shutdown(struct kernel *k, void *sock, struct jp_msg *m)
{
    int restart = json_is_true(json_object_get(m->content, "restart"));
    json_t *c = json_pack("{s:s,s:b}", "status", "ok", "restart", restart);
    publish(k, m, "shutdown_reply", json_deep_copy(c));
    reply(k, sock, m, "shutdown_reply", c);
    k->quit = 1;
}

static void h_interrupt(struct kernel *k, void *sock, struct jp_msg *m)
{
    interrupt(k);
    reply(k, sock, m, "interrupt_reply", json_pack("{s:s}", "status", "ok"));
}

struct handler {
    const char *msg_type;
    void (*fn)(struct kernel *k, void *sock, struct jp_msg *m);
    int on_shell, on_control;
};

static const struct handler handlers[] = {
    {"kernel_info_request", h_kernel_info, 1, 1},
    {"is_complete_request", h_is_complete, 1, 1},
    {"complete_request", h_complete, 1, 1},
    {"inspect_request", h_inspect, 1, 1},
    {"history_request", h_history, 1, 1},
    {"comm_info_request", h_comm_info, 1, 1},
    {"comm_open", h_comm_open, 1, 0},
    {"shutdown_request", h_shutdown, 1, 1},
    {"interrupt_request", h_interrupt, 0, 1},
};

/* Dispatch a decoded request; takes ownership of m. */
static void dispatch(struct kernel *k, void *sock, struct jp_msg *m, int is_shell)
{
    const char *type = jp_msg_type(m);
    if (is_shell && strcmp(type, "execute_request") == 0) {
        start_execute(k, m); /* owns m from here */
        return;
    }
    publish_status(k, m, "busy");
    int handled = 0;
    for (size_t i = 0; i < sizeof handlers / sizeof *handlers; i++) {
        const struct handler *h = &handlers[i];
        if (strcmp(h->msg_type, type) == 0 && (is_shell ? h->on_shell : h->on_control)) {
            h->fn(k, sock, m);
            handled = 1;
            break;
        }
    }
    if (!handled)
        jp_log(JP_LOG_INFO, "kernel", "unhandled request msg_type=%s channel=%s", type,
               is_shell ? "shell" : "control");
    publish_status(k, m, "idle");
    jp_msg_free(m);
}

/* Read one multipart message; NULL if none or invalid (logged). */
static struct jp_msg *recv_msg(struct kernel *k, void *sock, const char *channel)
{
    struct jp_frame frames[64];
    size_t n = 0;
    int more = 1, rc;
    struct jp_msg *m = NULL;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            break;
        }
        if (n < 64) {
            frames[n].len = zmq_msg_size(&part);
            frames[n].data = malloc(frames[n].len ? frames[n].len : 1);
            if (frames[n].data) {
                memcpy(frames[n].data, zmq_msg_data(&part), frames[n].len);
                n++;
            }
        }
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    if (!n)
        return NULL;
    struct jp_wire_error err = {{0}};
    rc = jp_wire_decode(frames, n, k->signer, NULL, &m, &err);
    if (rc) {
        jp_log(JP_LOG_WARN, "kernel", "dropped message channel=%s reason=\"%s\" rc=%s", channel,
               err.text, jp_strerror(rc));
        m = NULL;
    }
    for (size_t i = 0; i < n; i++)
        free(frames[i].data);
    return m;
}

static void take_queue(struct kernel *k, struct queued *q)
{
    struct jp_msg *m;
    while ((m = recv_msg(k, k->shell, "shell"))) {
        struct jp_msg **v = realloc(q->v, (q->n + 1) * sizeof *v);
        if (!v) {
            jp_msg_free(m);
            break;
        }
        q->v = v;
        q->v[q->n++] = m;
    }
}

static void abort_queued(struct kernel *k, struct queued *q)
{
    for (size_t i = 0; i < q->n; i++) {
        struct jp_msg *m = q->v[i];
        const char *type = jp_msg_type(m);
        char rtype[96];
        size_t l = strlen(type);
        if (l > 8 && strcmp(type + l - 8, "_request") == 0)
            snprintf(rtype, sizeof rtype, "%.*s_reply", (int)(l - 8), type);
        else
            snprintf(rtype, sizeof rtype, "%s_reply", type);
        jp_log(JP_LOG_INFO, "kernel", "aborted a queued request msg_type=%s msg_id=%s", type,
               jp_msg_id(m));
        publish_status(k, m, "busy");
        reply(k, k->shell, m, rtype, json_pack("{s:s}", "status", "aborted"));
        publish_status(k, m, "idle");
        jp_msg_free(m);
    }
    free(q->v);
    q->v = NULL;
    q->n = 0;
}

static void on_stdin(struct kernel *k)
{
    struct jp_msg *m;
    while ((m = recv_msg(k, k->stdin_s, "stdin"))) {
        if (strcmp(jp_msg_type(m), "input_reply") == 0 && k->cur.waiting_input) {
            const char *v = json_string_value(json_object_get(m->content, "value"));
            k->cur.waiting_input = 0;
            if (v)
                exec_send(k, CKF_INPUT, v, strlen(v));
            else
                exec_send(k, CKF_INPUT_EOF, "", 0);
        }
        jp_msg_free(m);
    }
}

/* ---- sockets, loop ---------------------------------------------------------------- */

static void *heartbeat(void *arg)
{
    struct kernel *k = arg;
    /* a ROUTER proxied onto itself echoes every ping to its sender */
    zmq_proxy(k->hb, k->hb, NULL);
    return NULL;
}

static void *bind_socket(struct kernel *k, int type, enum jp_channel ch)
{
    char ep[512];
    void *s = zmq_socket(k->zctx, type);
    if (!s)
        return NULL;
    int linger = 1000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_ROUTER) {
        int on = 1;
        zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &on, sizeof on);
    }
    if (jp_conn_endpoint(&k->conn, ch, ep, sizeof ep) < 0 || zmq_bind(s, ep) != 0) {
        jp_log(JP_LOG_ERROR, "kernel", "cannot bind channel=%s endpoint=%s err=%s",
               jp_conn_channel_name(ch), ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void remove_tree(const char *dir)
{
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    ck_run(argv, NULL, NULL, 10000);
}

int kloop_run(const struct kernel_opts *o)
{
    struct kernel *k = calloc(1, sizeof *k);
    char why[256] = "";
    int rc, status = 1;
    if (!k)
        return 1;
    k->o = o;
    k->ex.ctl = k->ex.out = k->ex.err = -1;
    k->cur.job.fd = -1;
    k->pch.job.fd = -1;
    jp_buf_init(&k->ex.in, CK_FRAME_MAX + 64);
    jp_buf_init(&k->ex.partial[0], 16);
    jp_buf_init(&k->ex.partial[1], 16);
    snprintf(k->cflags, sizeof k->cflags, "%s", o->cflags);
    snprintf(k->cc, sizeof k->cc, "%s", o->cc);
    k->memlimit = o->memlimit;

    if (o->connection_env) {
        const char *text = getenv(o->connection_env);
        rc = text ? jp_conn_parse(text, strlen(text), &k->conn, why, sizeof why) : JP_EINVAL;
        if (!text)
            snprintf(why, sizeof why, "the variable is not set");
    } else
        rc = jp_conn_load(o->connection_file, &k->conn, why, sizeof why);
    if (rc) {
        jp_log(JP_LOG_ERROR, "kernel", "bad connection file path=%s reason=\"%s\"",
               o->connection_env ? o->connection_env : o->connection_file, why);
        goto out;
    }
    const char *pod_ip = o->ip_env ? getenv(o->ip_env) : NULL;
    if (pod_ip && *pod_ip) {
        if (strlen(pod_ip) >= sizeof k->conn.ip) {
            jp_log(JP_LOG_ERROR, "kernel", "ip too long var=%s", o->ip_env);
            goto out;
        }
        snprintf(k->conn.ip, sizeof k->conn.ip, "%s", pod_ip);
    }
    k->signer = jp_signer_new(k->conn.key, k->conn.key_len, 1 << 16);
    if (!k->signer || jp_session_init(&k->ss, "cnote"))
        goto out;
    const char *tmp = getenv("TMPDIR");
    snprintf(k->workdir, sizeof k->workdir, "%s/cnote-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(k->workdir)) {
        jp_log(JP_LOG_ERROR, "kernel", "cannot create a work directory err=%s", strerror(errno));
        goto out;
    }
    if (ck_session_init(&k->sess))
        goto out;

    /* SIGINT (interrupt in signal mode), SIGTERM and SIGHUP arrive through a signalfd */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    k->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    k->exec_t_start = jp_time_mono_ms();
    if (exec_start(k))
        goto out;

    k->zctx = zmq_ctx_new();
    k->shell = bind_socket(k, ZMQ_ROUTER, JP_CH_SHELL);
    k->control = bind_socket(k, ZMQ_ROUTER, JP_CH_CONTROL);
    k->stdin_s = bind_socket(k, ZMQ_ROUTER, JP_CH_STDIN);
    k->iopub = bind_socket(k, ZMQ_PUB, JP_CH_IOPUB);
    k->hb = bind_socket(k, ZMQ_ROUTER, JP_CH_HB);
    if (!k->shell || !k->control || !k->stdin_s || !k->iopub || !k->hb)
        goto out;
    pthread_create(&k->hb_thread, NULL, heartbeat, k);
    publish_status(k, NULL, "starting");
    pch_maybe_build(k);
    jp_log(JP_LOG_INFO, "kernel", "started pid=%d workdir=%s", (int)getpid(), k->workdir);

    while (!k->quit) {
        zmq_pollitem_t items[9];
        int n = 0;
        int i_ctl = -1, i_shell = -1, i_stdin, i_sig, i_exctl = -1, i_out = -1, i_err = -1,
            i_job = -1, i_pch = -1;
        items[n] = (zmq_pollitem_t){k->control, 0, ZMQ_POLLIN, 0};
        i_ctl = n++;
        items[n] = (zmq_pollitem_t){k->stdin_s, 0, ZMQ_POLLIN, 0};
        i_stdin = n++;
        if (k->cur.phase == PH_IDLE && !k->cur.req) {
            items[n] = (zmq_pollitem_t){k->shell, 0, ZMQ_POLLIN, 0};
            i_shell = n++;
        }
        items[n] = (zmq_pollitem_t){NULL, k->sigfd, ZMQ_POLLIN, 0};
        i_sig = n++;
        if (k->ex.ctl >= 0) {
            items[n] = (zmq_pollitem_t){NULL, k->ex.ctl, ZMQ_POLLIN, 0};
            i_exctl = n++;
        }
        /* while subscribers are behind, output waits in the pipes (and the cell in write) */
        int paused = (k->ex.out >= 0 || k->ex.err >= 0) && flow_paused(k);
        if (k->ex.out >= 0 && !paused) {
            items[n] = (zmq_pollitem_t){NULL, k->ex.out, ZMQ_POLLIN, 0};
            i_out = n++;
        }
        if (k->ex.err >= 0 && !paused) {
            items[n] = (zmq_pollitem_t){NULL, k->ex.err, ZMQ_POLLIN, 0};
            i_err = n++;
        }
        if (k->cur.job.fd >= 0 && (k->cur.phase == PH_COMPILE || k->cur.phase == PH_LINK)) {
            items[n] = (zmq_pollitem_t){NULL, k->cur.job.fd, ZMQ_POLLIN, 0};
            i_job = n++;
        }
        if (k->pch.job.fd >= 0) {
            items[n] = (zmq_pollitem_t){NULL, k->pch.job.fd, ZMQ_POLLIN, 0};
            i_pch = n++;
        }
        long timeout = -1;
        if (k->cur.kill_at) {
            timeout = (long)(k->cur.kill_at - jp_time_mono_ms());
            if (timeout < 0)
                timeout = 0;
        }
        if (paused && (timeout < 0 || timeout > 2))
            timeout = 2; /* ZeroMQ's I/O thread releases frames without waking us: look again */
        int r = zmq_poll(items, n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            jp_log(JP_LOG_ERROR, "kernel", "poll failed err=%s", zmq_strerror(errno));
            break;
        }
        if (items[i_sig].revents) {
            struct signalfd_siginfo si;
            while (read(k->sigfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGINT)
                    interrupt(k);
                else
                    k->quit = 1;
            }
        }
        if (i_out >= 0 && items[i_out].revents)
            drain_output(k, 0, 1);
        if (i_err >= 0 && items[i_err].revents)
            drain_output(k, 1, 1);
        if (i_exctl >= 0 && items[i_exctl].revents && drain_ctl(k) < 0)
            exec_died(k);
        if (i_job >= 0 && items[i_job].revents && ck_job_poll(&k->cur.job))
            job_done(k);
        if (i_pch >= 0 && items[i_pch].revents && ck_job_poll(&k->pch.job))
            pch_built(k);
        if (!k->cur.req && k->pch.old_path[0])
            pch_remove_old(k);
        if (!k->cur.req && k->pch.job.pid <= 0)
            pch_maybe_build(k);
        if (items[i_ctl].revents) {
            struct jp_msg *m;
            while (!k->quit && (m = recv_msg(k, k->control, "control")))
                dispatch(k, k->control, m, 0);
        }
        if (items[i_stdin].revents)
            on_stdin(k);
        if (i_shell >= 0 && items[i_shell].revents) {
            /* one request at a time: an execute makes the kernel busy */
            struct jp_msg *m;
            while (!k->quit && k->cur.phase == PH_IDLE && !k->cur.req &&
                   (m = recv_msg(k, k->shell, "shell")))
                dispatch(k, k->shell, m, 1);
        }
        if (k->cur.kill_at && jp_time_mono_ms() >= k->cur.kill_at && k->ex.pid > 0) {
            jp_log(JP_LOG_WARN, "kernel",
                   "cell did not stop after interrupt: killing the state "
                   "process");
            k->cur.kill_at = 0;
            kill(k->ex.pid, SIGKILL);
        }
    }
    status = 0;
out:
    if (k->cur.req) {
        jp_msg_free(k->cur.req);
        k->cur.req = NULL;
    }
    exec_stop(k);
    ck_job_dispose(&k->cur.job);
    if (k->hb) {
        zmq_ctx_shutdown(k->zctx);
        pthread_join(k->hb_thread, NULL);
    }
    void *socks[] = {k->shell, k->control, k->stdin_s, k->iopub, k->hb};
    for (int i = 0; i < 5; i++)
        if (socks[i])
            zmq_close(socks[i]);
    if (k->zctx)
        zmq_ctx_term(k->zctx);
    stream_pool_dispose(); /* after ZeroMQ handed back what it held */
    if (k->workdir[0] && strstr(k->workdir, "cnote-"))
        remove_tree(k->workdir);
    ck_session_dispose(&k->sess);
    ck_names_dispose(&k->hdr);
    free(k->hdr_key);
    ck_plan_dispose(&k->plan);
    free(k->plan_key);
    ck_job_dispose(&k->pch.job);
    free(k->pch.text);
    free(k->pch.flags);
    free(k->pch.build_text);
    free(k->pch.build_flags);
    for (size_t i = 0; i < k->n_libs; i++)
        free(k->libs[i].path);
    free(k->libs);
    for (size_t i = 0; i < k->n_lib_dirs; i++)
        free(k->lib_dirs[i]);
    free(k->lib_dirs);
    for (size_t i = 0; i < k->n_hist; i++) {
        free(k->hist[i].input);
        free(k->hist[i].output);
    }
    free(k->hist);
    jp_msg_free(k->last_parent);
    jp_buf_dispose(&k->ex.in);
    jp_buf_dispose(&k->ex.partial[0]);
    jp_buf_dispose(&k->ex.partial[1]);
    jp_signer_free(k->signer);
    jp_conn_dispose(&k->conn);
    if (k->sigfd > 0)
        close(k->sigfd);
    free(k);
    return status;
}
