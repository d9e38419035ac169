/*
 * wsclient: the measuring client of bench/ws. It speaks the kernel WebSocket of a Jupyter
 * server (cnote-server or Jupyter Server) on plain sockets, and ZeroMQ directly to the same
 * kernel for a reference, so that the numbers measure the server and not a slow client.
 *
 * What it does: the RFC 6455 client side (handshake with Sec-WebSocket-Accept check, masked
 * client frames, unmasked server frames, fragmented messages, ping/pong/close), both kernel
 * message framings (legacy JSON text frames, with legacy binary frames when a message has
 * buffers; and v1.kernel.websocket.jupyter.org binary frames), and four measurements, one per
 * sub-command: `latency` (kernel_info round trips over the WebSocket and over ZeroMQ, taken
 * alternately), `throughput` (stream bytes of one cell per second of wall time, over the
 * WebSocket or over ZeroMQ), `fanout` (N clients on one kernel: time to connect them all, then
 * time until every one got the stream message of one cell; `--hold` stops after connecting
 * until a line arrives on stdin, so that the driver can read the server's memory), `pingpong`
 * (the machine's own cost of a hop: 64-byte round trips between this process and a forked
 * child over loopback TCP, on one CPU and on two, no server involved), and `selftest` (the codecs
 * against known frames). Each prints one JSON object on stdout.
 *
 * What it does not do: TLS, host names (numeric IPv4 only), permessage-deflate (never offered),
 * HMAC checks on what it receives. Requests are built with jansson; replies are read with a
 * small JSON walker that only finds keys and counts decoded string bytes, because parsing
 * hundreds of MB/s of stream output with a full parser would make the client the bottleneck.
 *
 * Run by bench/ws/run, which builds it with `cc -O2` into build/bench/. Every wait is bounded
 * by --timeout (seconds, whole run); on any failure it prints a line on stderr and exits 2.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zmq.h>

#define V1_PROTOCOL "v1.kernel.websocket.jupyter.org"
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MSG_LIMIT ((size_t)512 << 20) /* largest message accepted from a server */
#define HANDSHAKE_LIMIT 16384         /* largest HTTP answer to the upgrade */

/* ---- small utilities ----------------------------------------------------------------- */

static double deadline; /* CLOCK_MONOTONIC seconds after which everything fails */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...);

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsclient: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* CPU seconds (user + system) this process has used: the client must stay well below the
 * wall time of what it measures, or it is the bottleneck */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static char progress[160]; /* where a run is, for the timeout message */

static int ms_left(void)
{
    double left = deadline - now_s();
    if (left <= 0)
        die("timed out (--timeout)%s%s", progress[0] ? ": " : "", progress);
    return left > 1000 ? 1000000 : (int)(left * 1000) + 1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void random_bytes(void *p, size_t n)
{
    if (getrandom(p, n, 0) != (ssize_t)n)
        die("getrandom: %s", strerror(errno));
}

/* xorshift64 for frame masks: RFC 6455 wants them unpredictable to intermediaries; a bench
 * client on loopback only needs them to vary, and getrandom per frame would cost a syscall */
static uint64_t mask_state;

static uint32_t mask_next(void)
{
    if (!mask_state)
        random_bytes(&mask_state, sizeof mask_state);
    mask_state ^= mask_state << 13;
    mask_state ^= mask_state >> 7;
    mask_state ^= mask_state << 17;
    return (uint32_t)mask_state;
}

static void uuid4(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static void iso_now(char out[40])
{
    struct timespec ts;
    struct tm tm;
    char day[24];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.19s.%06uZ", day, (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- JSON walker ---------------------------------------------------------------------- */

/* Finds keys and value spans in JSON text without building anything. It trusts the server
 * to send valid JSON but never reads outside [p, end). */

static const char *jw_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at an opening quote; returns the closing quote or NULL */
static const char *jw_str_end(const char *p, const char *end)
{
    const char *q = p + 1;
    for (;;) {
        q = memchr(q, '"', (size_t)(end - q));
        if (!q)
            return NULL;
        size_t bs = 0;
        while (q - 1 - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q;
        q++;
    }
}

/* p at the first byte of a value; returns the byte after it or NULL */
static const char *jw_skip(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"') {
        const char *q = jw_str_end(p, end);
        return q ? q + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                const char *q = jw_str_end(p, end);
                if (!q)
                    return NULL;
                p = q + 1;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
           *p != '\r' && *p != '\t')
        p++;
    return p;
}

struct jw_it {
    const char *p, *end;
};

static int jw_begin(struct jw_it *it, const char *p, size_t n)
{
    it->end = p + n;
    it->p = jw_ws(p, it->end);
    if (it->p >= it->end || *it->p != '{')
        return -1;
    it->p++;
    return 0;
}

/* next key/value of an object: 1 with *k (inside the quotes) and *v (the whole value),
 * 0 at the end, -1 if malformed */
static int jw_next(struct jw_it *it, const char **k, size_t *kn, const char **v, size_t *vn)
{
    const char *p = jw_ws(it->p, it->end);
    if (p < it->end && *p == ',')
        p = jw_ws(p + 1, it->end);
    if (p >= it->end)
        return -1;
    if (*p == '}')
        return 0;
    if (*p != '"')
        return -1;
    const char *ke = jw_str_end(p, it->end);
    if (!ke)
        return -1;
    *k = p + 1;
    *kn = (size_t)(ke - p - 1);
    p = jw_ws(ke + 1, it->end);
    if (p >= it->end || *p != ':')
        return -1;
    p = jw_ws(p + 1, it->end);
    const char *ve = jw_skip(p, it->end);
    if (!ve)
        return -1;
    *v = p;
    *vn = (size_t)(ve - p);
    it->p = ve;
    return 1;
}

static int key_is(const char *k, size_t kn, const char *want)
{
    return strlen(want) == kn && memcmp(k, want, kn) == 0;
}

/* value of a top-level key of object [p, p+n); 1 found, 0 not, -1 malformed */
static int jw_get(const char *p, size_t n, const char *key, const char **v, size_t *vn)
{
    struct jw_it it;
    const char *k;
    size_t kn;
    int r;
    if (jw_begin(&it, p, n) != 0)
        return -1;
    while ((r = jw_next(&it, &k, &kn, v, vn)) == 1)
        if (key_is(k, kn, key))
            return 1;
    return r;
}

/* a string value without its quotes (escapes left as they are) */
static int jw_str(const char *v, size_t vn, const char **s, size_t *sn)
{
    if (vn < 2 || v[0] != '"' || v[vn - 1] != '"')
        return -1;
    *s = v + 1;
    *sn = vn - 2;
    return 0;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
    }
    return v;
}

/* UTF-8 length of a JSON string body once its escapes are decoded */
static size_t jw_decoded_len(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    size_t out = 0;
    while (p < end) {
        const char *b = memchr(p, '\\', (size_t)(end - p));
        if (!b)
            return out + (size_t)(end - p);
        out += (size_t)(b - p);
        if (b + 1 >= end)
            return out;
        if (b[1] != 'u' || b + 6 > end) {
            out += 1;
            p = b + 2;
            continue;
        }
        unsigned cp = hex4(b + 2);
        if (cp >= 0xd800 && cp < 0xdc00 && b + 12 <= end && b[6] == '\\' && b[7] == 'u') {
            out += 4;
            p = b + 12;
        } else {
            out += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
            p = b + 6;
        }
    }
    return out;
}

/* ---- kernel messages as they arrive ---------------------------------------------------- */

struct span {
    const char *p;
    size_t n;
};

static int span_is(struct span s, const char *want)
{
    return s.p && key_is(s.p, s.n, want);
}

static int span_eq(struct span s, const char *want)
{
    return s.p && strlen(want) == s.n && memcmp(s.p, want, s.n) == 0;
}

struct kmsg {
    struct span channel, msg_type, parent_id, content;
};

static void pick_str(const char *obj, size_t n, const char *key, struct span *out)
{
    const char *v;
    size_t vn;
    if (jw_get(obj, n, key, &v, &vn) == 1)
        jw_str(v, vn, &out->p, &out->n);
}

/* the four parts of a message, from its header, parent header and content texts */
static void kmsg_fill(struct kmsg *m, const char *h, size_t hn, const char *ph, size_t phn,
                      const char *c, size_t cn)
{
    pick_str(h, hn, "msg_type", &m->msg_type);
    pick_str(ph, phn, "msg_id", &m->parent_id);
    m->content.p = c;
    m->content.n = cn;
}

/* legacy JSON: one object with channel, header, parent_header, content (and copies) */
static int kmsg_from_json(const char *p, size_t n, struct kmsg *m)
{
    struct jw_it it;
    const char *k, *v, *h = NULL, *ph = NULL;
    size_t kn, vn, hn = 0, phn = 0;
    int r;
    if (jw_begin(&it, p, n) != 0)
        return -1;
    while ((r = jw_next(&it, &k, &kn, &v, &vn)) == 1) {
        if (key_is(k, kn, "channel"))
            jw_str(v, vn, &m->channel.p, &m->channel.n);
        else if (key_is(k, kn, "header"))
            h = v, hn = vn;
        else if (key_is(k, kn, "parent_header"))
            ph = v, phn = vn;
        else if (key_is(k, kn, "content"))
            m->content.p = v, m->content.n = vn;
    }
    if (r < 0 || !h || !ph || !m->content.p)
        return -1;
    kmsg_fill(m, h, hn, ph, phn, m->content.p, m->content.n);
    return 0;
}

/* Decode one WebSocket message (opcode 1 text, 2 binary) under the framing in use:
 * v1.kernel.websocket.jupyter.org (64-bit little-endian offsets, last one = length) or legacy
 * (text JSON, or binary with 32-bit big-endian offsets when the message has buffers). */
static int kmsg_decode(int v1, int op, const unsigned char *p, size_t n, struct kmsg *m)
{
    memset(m, 0, sizeof *m);
    if (v1) {
        if (op != 2 || n < 8)
            return -1;
        uint64_t cnt = get_le64(p);
        if (cnt < 6 || cnt > 4096 || 8 * (cnt + 1) > n)
            return -1;
        uint64_t off[7];
        for (int i = 0; i < 6; i++)
            off[i] = get_le64(p + 8 * (i + 1));
        off[6] = get_le64(p + 8 * cnt); /* the end of the last part: the frame length */
        if (off[0] != 8 * (cnt + 1) || off[6] != n)
            return -1;
        for (int i = 0; i < 5; i++)
            if (off[i] > off[i + 1] || off[i + 1] > n)
                return -1;
        const char *s = (const char *)p;
        m->channel.p = s + off[0];
        m->channel.n = off[1] - off[0];
        kmsg_fill(m, s + off[1], off[2] - off[1], s + off[2], off[3] - off[2], s + off[4],
                  off[5] - off[4]);
        return 0;
    }
    if (op == 1)
        return kmsg_from_json((const char *)p, n, m);
    if (n < 8)
        return -1;
    uint32_t parts = get_be32(p);
    if (parts < 1 || parts > 4096 || 4 * ((size_t)parts + 1) > n)
        return -1;
    size_t start = get_be32(p + 4), stop = parts > 1 ? get_be32(p + 8) : n;
    if (start != 4 * ((size_t)parts + 1) || stop < start || stop > n)
        return -1;
    return kmsg_from_json((const char *)p + start, stop - start, m);
}

/* stream content: the decoded byte count of "text" and whether "name" is stdout */
static size_t stream_bytes(struct span content, int *is_stdout)
{
    const char *v;
    size_t vn;
    struct span name = {0}, text = {0};
    if (jw_get(content.p, content.n, "name", &v, &vn) == 1)
        jw_str(v, vn, &name.p, &name.n);
    *is_stdout = span_eq(name, "stdout");
    if (jw_get(content.p, content.n, "text", &v, &vn) != 1 || jw_str(v, vn, &text.p, &text.n))
        return 0;
    return jw_decoded_len(text.p, text.n);
}

static int is_status(const struct kmsg *m, const char *state)
{
    const char *v;
    size_t vn;
    struct span s = {0};
    if (!span_eq(m->msg_type, "status") ||
        jw_get(m->content.p, m->content.n, "execution_state", &v, &vn) != 1)
        return 0;
    jw_str(v, vn, &s.p, &s.n);
    return span_eq(s, state);
}

/* ---- requests ---------------------------------------------------------------------------- */

static json_t *header_new(const char *session, const char *msg_type, char id[37])
{
    char date[40];
    uuid4(id);
    iso_now(date);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "msg_id", id, "session", session, "username",
                     "bench", "date", date, "msg_type", msg_type, "version", "5.3");
}

static json_t *execute_content_new(const char *code)
{
    return json_pack("{s:s,s:b,s:b,s:{},s:b,s:b}", "code", code, "silent", 0, "store_history", 1,
                     "user_expressions", "allow_stdin", 0, "stop_on_error", 1);
}

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        die("json_dumps failed");
    return s;
}

/* ---- WebSocket connection --------------------------------------------------------------- */

struct ws {
    int fd;
    int v1;         /* framing chosen by the server's answer */
    int sent, open; /* upgrade request sent; answer checked */
    char session[37];
    char key[32]; /* Sec-WebSocket-Key sent */
    unsigned char *in;
    size_t in_off, in_len, in_cap, want;
    unsigned char *frag;
    size_t frag_len, frag_cap;
    int frag_op; /* opcode of the message being assembled, 0 if none */
    /* fan-out bookkeeping */
    int connected, got_stream, got_idle;
    double t_tcp, t_open, t_connected, t_stream; /* TCP connected, 101 read, first reply */
    char pending[37];
};

struct target {
    char host[64];
    int port;
    char base[256]; /* base path, ends in '/' */
    const char *kernel;
    const char *token;
    int offer_v1;
};

static int tcp_connect(const struct target *t, int nonblock)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1)
        die("--host must be a numeric IPv4 address: %s", t->host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
        die("connect %s:%d: %s", t->host, t->port, strerror(errno));
    if (!nonblock) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        while (poll(&pfd, 1, ms_left()) == 0)
            ;
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err)
            die("connect %s:%d: %s", t->host, t->port, strerror(err));
    }
    return fd;
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, ms_left());
        } else {
            die("write: %s", w < 0 ? strerror(errno) : "short write");
        }
    }
}

static void ws_init(struct ws *w, int fd, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->in_cap = cap;
    w->in = xmalloc(cap);
    uuid4(w->session);
}

static size_t ws_handshake_request(struct ws *w, const struct target *t, char *buf, size_t cap)
{
    unsigned char raw[16];
    random_bytes(raw, sizeof raw);
    EVP_EncodeBlock((unsigned char *)w->key, raw, sizeof raw);
    char auth[512] = "";
    if (t->token && *t->token)
        snprintf(auth, sizeof auth, "Authorization: token %s\r\n", t->token);
    int n = snprintf(buf, cap,
                     "GET %sapi/kernels/%s/channels?session_id=%s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s%s\r\n",
                     t->base, t->kernel, w->session, t->host, t->port, w->key,
                     t->offer_v1 ? "Sec-WebSocket-Protocol: " V1_PROTOCOL "\r\n" : "", auth);
    if (n < 0 || (size_t)n >= cap)
        die("handshake request too long");
    return (size_t)n;
}

/* value of one header of an HTTP answer (case-insensitive name), trimmed; 1 if present */
static int http_header(const char *head, size_t n, const char *name, char *out, size_t cap)
{
    const char *p = head, *end = head + n;
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            snprintf(out, cap, "%.*s", (int)(ve - v), v);
            return 1;
        }
        p = eol + 1;
    }
    return 0;
}

/* Check the upgrade answer in w->in; 1 done (frames may follow in w->in), 0 need more */
static int ws_handshake_answer(struct ws *w, const struct target *t)
{
    const char *s = (const char *)w->in;
    const char *hend = memmem(s, w->in_len, "\r\n\r\n", 4);
    if (!hend) {
        if (w->in_len >= HANDSHAKE_LIMIT)
            die("upgrade answer too long");
        return 0;
    }
    size_t hn = (size_t)(hend - s) + 4;
    if (hn < 12 || memcmp(s, "HTTP/1.1 101", 12) != 0) {
        const char *eol = memchr(s, '\r', hn);
        die("upgrade refused: %.*s", (int)(eol ? eol - s : 40), s);
    }
    char accept[64], expect[64], proto[128];
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned shan = 0;
    char cat[128];
    snprintf(cat, sizeof cat, "%s%s", w->key, WS_GUID);
    EVP_Digest(cat, strlen(cat), sha, &shan, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)expect, sha, (int)shan);
    if (!http_header(s, hn, "Sec-WebSocket-Accept", accept, sizeof accept) ||
        strcmp(accept, expect) != 0)
        die("bad Sec-WebSocket-Accept");
    if (http_header(s, hn, "Sec-WebSocket-Protocol", proto, sizeof proto)) {
        if (!t->offer_v1 || strcmp(proto, V1_PROTOCOL) != 0)
            die("server selected a subprotocol that was not offered: %s", proto);
        w->v1 = 1;
    }
    w->in_off = hn;
    w->open = 1;
    return 1;
}

/* read what is there into w->in; returns bytes read, 0 if none yet (EAGAIN); dies on EOF */
static size_t ws_fill(struct ws *w)
{
    if (w->in_off) { /* at most one partial frame is moved */
        memmove(w->in, w->in + w->in_off, w->in_len - w->in_off);
        w->in_len -= w->in_off;
        w->in_off = 0;
    }
    size_t need = w->want > w->in_len + 65536 ? w->want : w->in_len + 65536;
    if (need > w->in_cap) {
        size_t cap = w->in_cap * 2 > need ? w->in_cap * 2 : need;
        w->in = xrealloc(w->in, cap);
        w->in_cap = cap;
    }
    ssize_t r = read(w->fd, w->in + w->in_len, w->in_cap - w->in_len);
    if (r > 0) {
        w->in_len += (size_t)r;
        return (size_t)r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    die("connection closed by the server (%s)", r < 0 ? strerror(errno) : "EOF");
    return 0;
}

static void ws_send_frame(struct ws *w, int op, const void *payload, size_t n)
{
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | op);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    uint32_t mk = mask_next();
    memcpy(h + hl, &mk, 4);
    const unsigned char *m = h + hl;
    hl += 4;
    unsigned char *f = xmalloc(hl + n);
    memcpy(f, h, hl);
    const unsigned char *src = payload;
    for (size_t i = 0; i < n; i++)
        f[hl + i] = src[i] ^ m[i & 3];
    write_all(w->fd, f, hl + n);
    free(f);
}

/* Next complete data message from w->in: 1 with *op and [*p, *p+*n) (valid until the next
 * ws_fill), 0 if more bytes are needed. Answers pings; dies on close or protocol errors. */
static int ws_next(struct ws *w, int *op, const unsigned char **p, size_t *n)
{
    for (;;) {
        size_t avail = w->in_len - w->in_off;
        const unsigned char *b = w->in + w->in_off;
        if (avail < 2) {
            w->want = 2;
            return 0;
        }
        int fin = b[0] & 0x80, opc = b[0] & 0x0f;
        if (b[0] & 0x70)
            die("frame with RSV bits set (no extension was negotiated)");
        if (b[1] & 0x80)
            die("masked frame from the server (RFC 6455 5.1)");
        size_t hl = 2;
        uint64_t len = b[1] & 0x7f;
        if (len == 126) {
            hl = 4;
            if (avail < hl) {
                w->want = hl;
                return 0;
            }
            len = (uint64_t)b[2] << 8 | b[3];
        } else if (len == 127) {
            hl = 10;
            if (avail < hl) {
                w->want = hl;
                return 0;
            }
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | b[2 + i];
        }
        if (len > MSG_LIMIT)
            die("frame of %llu bytes is over the limit", (unsigned long long)len);
        if (avail < hl + len) {
            w->want = hl + (size_t)len;
            return 0;
        }
        const unsigned char *pl = b + hl;
        w->in_off += hl + (size_t)len;
        w->want = 0;
        if (opc >= 8) {
            if (!fin || len > 125)
                die("bad control frame");
            if (opc == 9)
                ws_send_frame(w, 10, pl, (size_t)len);
            else if (opc == 8)
                die("the server closed the WebSocket (code %d)",
                    len >= 2 ? (int)(pl[0] << 8 | pl[1]) : 0);
            continue;
        }
        if (opc == 0) {
            if (!w->frag_op)
                die("continuation frame without a message");
            if (w->frag_len + len > MSG_LIMIT)
                die("fragmented message over the limit");
            if (w->frag_len + len > w->frag_cap) {
                w->frag_cap = (w->frag_len + (size_t)len) * 2;
                w->frag = xrealloc(w->frag, w->frag_cap);
            }
            memcpy(w->frag + w->frag_len, pl, (size_t)len);
            w->frag_len += (size_t)len;
            if (!fin)
                continue;
            *op = w->frag_op;
            *p = w->frag;
            *n = w->frag_len;
            w->frag_op = 0;
            w->frag_len = 0;
            return 1;
        }
        if (opc != 1 && opc != 2)
            die("unknown opcode %d", opc);
        if (w->frag_op)
            die("new message inside a fragmented one");
        if (fin) {
            *op = opc;
            *p = pl;
            *n = (size_t)len;
            return 1;
        }
        w->frag_op = opc;
        if (len > w->frag_cap) {
            w->frag_cap = (size_t)len * 2;
            w->frag = xrealloc(w->frag, w->frag_cap);
        }
        memcpy(w->frag, pl, (size_t)len);
        w->frag_len = (size_t)len;
    }
}

/* blocking: the next data message, decoded */
static void ws_wait(struct ws *w, struct kmsg *m)
{
    int op;
    const unsigned char *p;
    size_t n;
    while (!ws_next(w, &op, &p, &n)) {
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        if (poll(&pfd, 1, ms_left()) > 0)
            ws_fill(w);
    }
    if (kmsg_decode(w->v1, op, p, n, m) != 0)
        die("undecodable %s message of %zu bytes", op == 1 ? "text" : "binary", n);
}

static void ws_request(struct ws *w, const char *channel, const char *msg_type, json_t *content,
                       char id[37])
{
    json_t *hdr = header_new(w->session, msg_type, id);
    if (w->v1) {
        char *parts[4] = {dump(hdr), strdup("{}"), strdup("{}"), dump(content)};
        size_t cl = strlen(channel), total = 8 * 7 + cl, lens[4];
        for (int i = 0; i < 4; i++)
            total += lens[i] = strlen(parts[i]);
        unsigned char *f = xmalloc(total), *q = f + 8 * 7;
        uint64_t off = 8 * 7;
        put_le64(f, 6);
        put_le64(f + 8, off);
        memcpy(q, channel, cl);
        q += cl;
        off += cl;
        for (int i = 0; i < 4; i++) {
            put_le64(f + 8 * (i + 2), off);
            memcpy(q, parts[i], lens[i]);
            q += lens[i];
            off += lens[i];
            free(parts[i]);
        }
        put_le64(f + 8 * 6, off);
        ws_send_frame(w, 2, f, total);
        free(f);
        json_decref(hdr);
    } else {
        json_t *msg = json_pack("{s:s,s:o,s:{},s:{},s:O,s:[]}", "channel", channel, "header", hdr,
                                "parent_header", "metadata", "content", content, "buffers");
        char *s = dump(msg);
        ws_send_frame(w, 1, s, strlen(s));
        free(s);
        json_decref(msg);
    }
    json_decref(content);
}

static struct ws *ws_open(const struct target *t, size_t cap)
{
    struct ws *w = xmalloc(sizeof *w);
    ws_init(w, tcp_connect(t, 0), cap);
    char req[2048];
    size_t n = ws_handshake_request(w, t, req, sizeof req);
    write_all(w->fd, req, n);
    while (!ws_handshake_answer(w, t)) {
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        if (poll(&pfd, 1, ms_left()) > 0)
            ws_fill(w);
    }
    return w;
}

/* read until both the shell reply to id and its IOPub idle have arrived (in either order);
 * returns when the reply arrived */
static double ws_wait_reply_and_idle(struct ws *w, const char *id)
{
    struct kmsg m;
    double t_reply = 0;
    int idle = 0;
    while (!t_reply || !idle) {
        ws_wait(w, &m);
        if (!span_eq(m.parent_id, id))
            continue;
        if (span_eq(m.channel, "shell"))
            t_reply = now_s();
        else if (is_status(&m, "idle"))
            idle = 1;
    }
    return t_reply;
}

static void ws_wait_idle(struct ws *w, const char *id)
{
    struct kmsg m;
    for (;;) {
        ws_wait(w, &m);
        if (span_eq(m.parent_id, id) && is_status(&m, "idle"))
            return;
    }
}

/* ---- ZeroMQ, straight to the kernel -------------------------------------------------- */

struct zk {
    void *ctx, *shell, *iopub;
    char key[512];
    char session[37];
};

static void zk_open(struct zk *z, const char *conn_file, int with_iopub)
{
    json_error_t err;
    json_t *c = json_load_file(conn_file, 0, &err);
    const char *ip = NULL, *transport = NULL, *key = NULL;
    int shell_port = 0, iopub_port = 0;
    if (!c || json_unpack(c, "{s:s,s:s,s:s,s:i,s:i}", "ip", &ip, "transport", &transport, "key",
                          &key, "shell_port", &shell_port, "iopub_port", &iopub_port) != 0)
        die("cannot read connection file %s: %s", conn_file, c ? "missing keys" : err.text);
    if (strcmp(transport, "tcp") != 0)
        die("connection file: transport %s (only tcp)", transport);
    snprintf(z->key, sizeof z->key, "%s", key);
    uuid4(z->session);
    z->ctx = zmq_ctx_new();
    char ep[128];
    int zero = 0;
    z->shell = zmq_socket(z->ctx, ZMQ_DEALER);
    zmq_setsockopt(z->shell, ZMQ_LINGER, &zero, sizeof zero);
    snprintf(ep, sizeof ep, "tcp://%s:%d", ip, shell_port);
    if (zmq_connect(z->shell, ep) != 0)
        die("zmq_connect %s: %s", ep, zmq_strerror(errno));
    if (with_iopub) {
        z->iopub = zmq_socket(z->ctx, ZMQ_SUB);
        zmq_setsockopt(z->iopub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(z->iopub, ZMQ_SUBSCRIBE, "", 0);
        snprintf(ep, sizeof ep, "tcp://%s:%d", ip, iopub_port);
        if (zmq_connect(z->iopub, ep) != 0)
            die("zmq_connect %s: %s", ep, zmq_strerror(errno));
    }
    json_decref(c);
}

static void zk_close(struct zk *z)
{
    zmq_close(z->shell);
    if (z->iopub)
        zmq_close(z->iopub);
    zmq_ctx_term(z->ctx);
}

static void zk_request(struct zk *z, const char *msg_type, json_t *content, char id[37])
{
    json_t *hdr = header_new(z->session, msg_type, id);
    char *parts[4] = {dump(hdr), strdup("{}"), strdup("{}"), dump(content)};
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned macn = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    /* signature over the four JSON frames, key = the connection file's key as UTF-8 bytes */
    size_t total = 0;
    for (int i = 0; i < 4; i++)
        total += strlen(parts[i]);
    char *cat = xmalloc(total + 1), *q = cat;
    for (int i = 0; i < 4; i++) {
        size_t l = strlen(parts[i]);
        memcpy(q, parts[i], l);
        q += l;
    }
    HMAC(EVP_sha256(), z->key, (int)strlen(z->key), (unsigned char *)cat, total, mac, &macn);
    free(cat);
    for (unsigned i = 0; i < macn; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    hex[2 * macn] = 0;
    zmq_send(z->shell, "<IDS|MSG>", 9, ZMQ_SNDMORE);
    zmq_send(z->shell, hex, strlen(hex), ZMQ_SNDMORE);
    for (int i = 0; i < 4; i++) {
        if (zmq_send(z->shell, parts[i], strlen(parts[i]), i < 3 ? ZMQ_SNDMORE : 0) < 0)
            die("zmq_send: %s", zmq_strerror(errno));
        free(parts[i]);
    }
    json_decref(hdr);
    json_decref(content);
}

#define ZK_MAX_PARTS 32

struct zmsg {
    zmq_msg_t part[ZK_MAX_PARTS];
    int n;
};

static void zmsg_close(struct zmsg *zm)
{
    for (int i = 0; i < zm->n; i++)
        zmq_msg_close(&zm->part[i]);
    zm->n = 0;
}

/* receive one multipart message from sock and decode it; 0 ok, -1 timeout of ms */
static int zk_recv(void *sock, struct zmsg *zm, struct kmsg *m, int ms)
{
    zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, ms) <= 0)
        return -1;
    zm->n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, sock, 0) < 0)
            die("zmq_msg_recv: %s", zmq_strerror(errno));
        more = zmq_msg_more(&tmp);
        if (zm->n < ZK_MAX_PARTS) {
            zmq_msg_init(&zm->part[zm->n]);
            zmq_msg_move(&zm->part[zm->n++], &tmp);
        }
        zmq_msg_close(&tmp);
    }
    int d = -1;
    for (int i = 0; i < zm->n; i++)
        if (zmq_msg_size(&zm->part[i]) == 9 &&
            memcmp(zmq_msg_data(&zm->part[i]), "<IDS|MSG>", 9) == 0) {
            d = i;
            break;
        }
    if (d < 0 || d + 5 >= zm->n)
        die("kernel message without delimiter or parts");
    memset(m, 0, sizeof *m);
    zmq_msg_t *h = &zm->part[d + 2], *ph = &zm->part[d + 3], *c = &zm->part[d + 5];
    kmsg_fill(m, zmq_msg_data(h), zmq_msg_size(h), zmq_msg_data(ph), zmq_msg_size(ph),
              zmq_msg_data(c), zmq_msg_size(c));
    return 0;
}

static void zk_wait_reply(struct zk *z, const char *id)
{
    struct zmsg zm;
    struct kmsg m;
    for (;;) {
        if (zk_recv(z->shell, &zm, &m, ms_left()) == 0) {
            int done = span_eq(m.parent_id, id);
            zmsg_close(&zm);
            if (done)
                return;
        }
    }
}

/* ---- statistics -------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v */
static double pct(const double *v, size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

static json_t *summary_new(double *us, size_t n)
{
    qsort(us, n, sizeof *us, cmp_double);
    size_t over30 = 0;
    for (size_t i = 0; i < n; i++)
        over30 += us[i] > 30000;
    return json_pack("{s:f,s:f,s:f,s:f,s:I,s:I}", "p50_us", pct(us, n, 0.5), "p99_us",
                     pct(us, n, 0.99), "min_us", us[0], "max_us", us[n - 1], "over_30ms",
                     (json_int_t)over30, "n", (json_int_t)n);
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    puts(s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

/* ---- latency ------------------------------------------------------------------------------ */

/* kernel_info round trips over the WebSocket and over ZeroMQ, one of each in turn, each timed
 * from send to its shell reply; between two timed round trips the IOPub idle of the previous
 * request is read from the WebSocket (untimed), so that each one starts with a quiet kernel. */
static void run_latency(const struct target *t, const char *conn_file, long n, long warmup)
{
    struct ws *w = ws_open(t, 1 << 20);
    struct zk z = {0};
    zk_open(&z, conn_file, 0);
    double *ws_us = xmalloc(sizeof(double) * (size_t)n);
    double *zmq_us = xmalloc(sizeof(double) * (size_t)n);
    char id[37];
    for (long i = -warmup; i < n; i++) {
        double t0 = now_s();
        ws_request(w, "shell", "kernel_info_request", json_object(), id);
        double t1 = ws_wait_reply_and_idle(w, id);
        double t2 = now_s();
        zk_request(&z, "kernel_info_request", json_object(), id);
        zk_wait_reply(&z, id);
        double t3 = now_s();
        ws_wait_idle(w, id); /* the server forwards the direct request's IOPub too */
        if (i >= 0) {
            ws_us[i] = (t1 - t0) * 1e6;
            zmq_us[i] = (t3 - t2) * 1e6;
        }
    }
    print_json(json_pack("{s:s,s:o,s:o}", "protocol", w->v1 ? "v1" : "legacy", "ws",
                         summary_new(ws_us, (size_t)n), "zmq", summary_new(zmq_us, (size_t)n)));
    zk_close(&z);
    free(ws_us);
    free(zmq_us);
}

/* ---- pingpong ---------------------------------------------------------------------------- */

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die("pingpong: cannot run on CPU %d: %s", cpu, strerror(errno));
}

/* n round trips of 64 bytes between this process (on CPU a) and a forked child (on CPU b)
 * over a loopback TCP connection with TCP_NODELAY, as the server's own sockets have */
static json_t *pingpong_once(long n, int a, int b)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&sa, &al))
        die("pingpong: listen: %s", strerror(errno));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa))
        die("pingpong: connect: %s", strerror(errno));
    int s = accept(ls, NULL, NULL);
    if (s < 0)
        die("pingpong: accept: %s", strerror(errno));
    close(ls);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[64] = {0};
    pid_t pid = fork();
    if (pid < 0)
        die("pingpong: fork: %s", strerror(errno));
    if (pid == 0) {
        close(c);
        pin(b);
        for (;;) {
            size_t got = 0;
            while (got < sizeof buf) {
                ssize_t r = read(s, buf + got, sizeof buf - got);
                if (r <= 0)
                    _exit(0);
                got += (size_t)r;
            }
            if (write(s, buf, sizeof buf) != (ssize_t)sizeof buf)
                _exit(1);
        }
    }
    close(s);
    pin(a);
    double *us = xmalloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++) {
        if (now_s() > deadline)
            die("pingpong: timed out");
        double t0 = now_s();
        write_all(c, buf, sizeof buf);
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t r = read(c, buf + got, sizeof buf - got);
            if (r <= 0)
                die("pingpong: the child went away");
            got += (size_t)r;
        }
        us[i] = (now_s() - t0) * 1e6;
    }
    close(c);
    waitpid(pid, NULL, 0);
    json_t *j = summary_new(us, (size_t)n);
    free(us);
    return j;
}

/* What one process hop costs on this machine, no server involved: a relay between client and
 * kernel adds one hop each way, so this round trip is about the least it can add (less the
 * in-process hops it replaces). Measured with both processes on one CPU and on two different
 * ones: on a virtual machine, waking a process on an idle virtual CPU costs far more. */
static void run_pingpong(long n)
{
    cpu_set_t set;
    int cpus[2], nc = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        die("pingpong: sched_getaffinity: %s", strerror(errno));
    for (int i = 0; i < CPU_SETSIZE && nc < 2; i++)
        if (CPU_ISSET(i, &set))
            cpus[nc++] = i;
    json_t *out = json_object();
    json_object_set_new(out, "same_cpu", pingpong_once(n, cpus[0], cpus[0]));
    if (nc == 2)
        json_object_set_new(out, "two_cpus", pingpong_once(n, cpus[0], cpus[1]));
    print_json(out);
}

/* ---- throughput -------------------------------------------------------------------------- */

struct tally {
    unsigned long long out_bytes, err_bytes, msgs;
    unsigned long long first_bytes; /* of the first stdout message */
    double t_first;                 /* when it arrived */
    char err_text[256];
};

static int tally_msg(struct tally *tl, const struct kmsg *m, const char *id)
{
    if (!span_eq(m->parent_id, id))
        return 0;
    if (span_is(m->msg_type, "stream")) {
        int is_out;
        size_t b = stream_bytes(m->content, &is_out);
        tl->msgs++;
        if (is_out) {
            if (!tl->t_first) {
                tl->t_first = now_s();
                tl->first_bytes = b;
            }
            tl->out_bytes += b;
        } else {
            if (!tl->err_bytes)
                snprintf(tl->err_text, sizeof tl->err_text, "%.*s",
                         (int)(m->content.n < 200 ? m->content.n : 200), m->content.p);
            tl->err_bytes += b;
        }
    } else if (span_is(m->msg_type, "error") && !tl->err_text[0]) {
        snprintf(tl->err_text, sizeof tl->err_text, "%.*s",
                 (int)(m->content.n < 200 ? m->content.n : 200), m->content.p);
    }
    return is_status(m, "idle");
}

/* MBps: stdout bytes per second from the request to idle (compiling the cell included);
 * stream_MBps: from the first stdout message to idle, the bytes after that first one */
static void print_throughput(const char *via, const char *proto, const struct tally *tl, double t0,
                             double t1, double cpu, const char *reply_status)
{
    double secs = t1 - t0, ssecs = tl->t_first ? t1 - tl->t_first : 0;
    double smbps = ssecs > 0 ? (double)(tl->out_bytes - tl->first_bytes) / ssecs / 1e6 : 0;
    print_json(json_pack("{s:s,s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:s,s:s}", "via", via,
                         "protocol", proto, "stdout_bytes", (json_int_t)tl->out_bytes,
                         "stderr_bytes", (json_int_t)tl->err_bytes, "stream_msgs",
                         (json_int_t)tl->msgs, "seconds", secs, "first_output_s",
                         tl->t_first ? tl->t_first - t0 : 0.0, "client_cpu_s", cpu, "MBps",
                         (double)tl->out_bytes / secs / 1e6, "stream_MBps", smbps, "reply_status",
                         reply_status, "stderr_start", tl->err_text));
}

static void reply_status(struct span content, char *out, size_t cap)
{
    struct span s = {0};
    pick_str(content.p, content.n, "status", &s);
    snprintf(out, cap, "%.*s", (int)s.n, s.p ? s.p : "");
}

/* one cell; the clock runs from execute_request sent to its IOPub idle received */
static void run_throughput_ws(const struct target *t, const char *code)
{
    struct ws *w = ws_open(t, 8 << 20);
    char id[37], st[32] = "";
    struct kmsg m;
    struct tally tl = {0};
    /* one round trip first, so the connection is fully wired before the clock starts */
    ws_request(w, "shell", "kernel_info_request", json_object(), id);
    ws_wait_reply_and_idle(w, id);
    double t0 = now_s(), cpu0 = cpu_s();
    ws_request(w, "shell", "execute_request", execute_content_new(code), id);
    int idle = 0, replied = 0;
    double t1 = 0;
    while (!idle || !replied) {
        ws_wait(w, &m);
        if (span_eq(m.channel, "iopub")) {
            if (tally_msg(&tl, &m, id)) {
                idle = 1;
                t1 = now_s();
            }
        } else if (span_is(m.msg_type, "execute_reply") && span_eq(m.parent_id, id)) {
            replied = 1;
            reply_status(m.content, st, sizeof st);
        }
    }
    print_throughput("ws", w->v1 ? "v1" : "legacy", &tl, t0, t1, cpu_s() - cpu0, st);
}

static void run_throughput_zmq(const char *conn_file, const char *code)
{
    struct zk z = {0};
    struct zmsg zm;
    struct kmsg m;
    struct tally tl = {0};
    char id[37], st[32] = "";
    zk_open(&z, conn_file, 1);
    /* IOPub subscriptions propagate asynchronously: ask kernel_info until IOPub speaks */
    for (int seen = 0; !seen;) {
        zk_request(&z, "kernel_info_request", json_object(), id);
        zk_wait_reply(&z, id);
        double until = now_s() + 0.2;
        while (!seen && now_s() < until)
            if (zk_recv(z.iopub, &zm, &m, 20) == 0) {
                seen = 1;
                zmsg_close(&zm);
            }
    }
    while (zk_recv(z.iopub, &zm, &m, 50) == 0)
        zmsg_close(&zm);
    double t0 = now_s(), t1 = 0, cpu0 = cpu_s();
    zk_request(&z, "execute_request", execute_content_new(code), id);
    int idle = 0, replied = 0;
    while (!idle || !replied) {
        zmq_pollitem_t its[2] = {{.socket = z.iopub, .events = ZMQ_POLLIN},
                                 {.socket = z.shell, .events = ZMQ_POLLIN}};
        if (zmq_poll(its, 2, ms_left()) <= 0)
            continue;
        if (its[0].revents && zk_recv(z.iopub, &zm, &m, 0) == 0) {
            if (tally_msg(&tl, &m, id)) {
                idle = 1;
                t1 = now_s();
            }
            zmsg_close(&zm);
        }
        if (its[1].revents && zk_recv(z.shell, &zm, &m, 0) == 0) {
            if (span_eq(m.parent_id, id)) {
                replied = 1;
                reply_status(m.content, st, sizeof st);
            }
            zmsg_close(&zm);
        }
    }
    print_throughput("zmq", "zmq", &tl, t0, t1, cpu_s() - cpu0, st);
    zk_close(&z);
}

/* ---- fan-out ------------------------------------------------------------------------------ */

static int fan_n, fan_connected, fan_streams, fan_idles;
static long fan_msgs, fan_status_msgs; /* messages received by all clients; status ones */
static const char *fan_exec_id;

static void fan_message(struct ws *w, const struct kmsg *m)
{
    fan_msgs++;
    fan_status_msgs += span_eq(m->msg_type, "status");
    if (!w->connected) {
        if (span_is(m->msg_type, "kernel_info_reply") && span_eq(m->parent_id, w->pending)) {
            w->connected = 1;
            w->t_connected = now_s();
            fan_connected++;
        }
        return;
    }
    if (!fan_exec_id || !span_eq(m->parent_id, fan_exec_id))
        return;
    if (!w->got_stream && span_is(m->msg_type, "stream")) {
        w->got_stream = 1;
        w->t_stream = now_s();
        fan_streams++;
    } else if (!w->got_idle && is_status(m, "idle")) {
        w->got_idle = 1;
        fan_idles++;
    }
}

/* one readiness event of connection w */
static void fan_event(int ep, struct ws *w, const struct target *t)
{
    if (!w->sent) {
        /* connect finished: check it, send the upgrade request, wait for the answer */
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err)
            die("connect: %s", strerror(err));
        char req[2048];
        size_t n = ws_handshake_request(w, t, req, sizeof req);
        write_all(w->fd, req, n);
        w->sent = 1;
        w->t_tcp = now_s();
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = w};
        epoll_ctl(ep, EPOLL_CTL_MOD, w->fd, &e);
        return;
    }
    if (!ws_fill(w))
        return;
    if (!w->open) {
        if (!ws_handshake_answer(w, t))
            return;
        w->t_open = now_s();
        ws_request(w, "shell", "kernel_info_request", json_object(), w->pending);
    }
    int op;
    const unsigned char *p;
    size_t n;
    struct kmsg m;
    while (ws_next(w, &op, &p, &n)) {
        if (kmsg_decode(w->v1, op, p, n, &m) != 0)
            die("undecodable message of %zu bytes", n);
        fan_message(w, &m);
    }
}

static int stdin_line; /* set when a line (or EOF) arrived on stdin */

/* run the event loop until *count reaches want (0) or until the time `until` (-1) */
static int fan_loop(int ep, const struct target *t, int *count, int want, double until)
{
    struct epoll_event evs[256];
    while (*count < want) {
        snprintf(progress, sizeof progress,
                 "%d of %d clients replied to, %d got the output, %d the idle status",
                 fan_connected, fan_n, fan_streams, fan_idles);
        double left = until - now_s();
        if (left <= 0)
            return -1;
        int ms = ms_left();
        if (left * 1000 < ms)
            ms = (int)(left * 1000) + 1;
        int k = epoll_wait(ep, evs, 256, ms);
        for (int i = 0; i < k; i++) {
            if (!evs[i].data.ptr) {
                char buf[256];
                ssize_t r = read(0, buf, sizeof buf);
                if (r <= 0 || memchr(buf, '\n', (size_t)r))
                    stdin_line = 1;
                continue;
            }
            fan_event(ep, evs[i].data.ptr, t);
        }
    }
    return 0;
}

/* After connecting, the clients still receive the busy/idle status of every other client's
 * kernel_info (N*N messages); wait until none has arrived for `quiet` seconds, or `most`. */
static double fan_settle(int ep, const struct target *t, double quiet, double most)
{
    double t0 = now_s();
    for (;;) {
        long before = fan_msgs;
        int never = 0;
        fan_loop(ep, t, &never, 1, now_s() + quiet);
        if (fan_msgs == before || now_s() - t0 > most)
            return now_s() - t0;
    }
}

/* Prints up to three JSON lines: the connection phase as soon as every client has its reply;
 * with --hold, "READY", then (after a line on stdin) how many messages the clients received
 * while idle (after settling, see fan_settle); then the timed cells. A cell whose output has not
 * reached every client within run_timeout seconds ends the runs, reported with how many clients got
 * it. */
static void run_fanout(const struct target *t, int n, const char *code, int runs, int hold,
                       double run_timeout)
{
    struct ws **c = xmalloc(sizeof *c * (size_t)n);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    fan_n = n;
    double t0 = now_s(), cpu0 = cpu_s();
    for (int i = 0; i < n; i++) {
        c[i] = xmalloc(sizeof **c);
        ws_init(c[i], tcp_connect(t, 1), 65536);
        struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i]->fd, &e) != 0)
            die("epoll_ctl: %s", strerror(errno));
    }
    fan_loop(ep, t, &fan_connected, n, deadline);
    double t_all = now_s(), cpu_connect = cpu_s() - cpu0;
    json_t *out =
        json_pack("{s:s,s:i,s:f,s:f}", "protocol", c[0]->v1 ? "v1" : "legacy", "clients", n,
                  "connect_all_ms", (t_all - t0) * 1e3, "connect_client_cpu_ms", cpu_connect * 1e3);
    /* each phase of the connections, from t0: TCP connected, upgrade answered, first reply */
    static const char *const phase[] = {"tcp", "open", "reply"};
    double *each = xmalloc(sizeof(double) * (size_t)n);
    for (int ph = 0; ph < 3; ph++) {
        int over1s = 0;
        for (int i = 0; i < n; i++) {
            double at = ph == 0 ? c[i]->t_tcp : ph == 1 ? c[i]->t_open : c[i]->t_connected;
            each[i] = (at - t0) * 1e3;
            over1s += each[i] >= 1000;
        }
        qsort(each, (size_t)n, sizeof *each, cmp_double);
        json_object_set_new(out, phase[ph],
                            json_pack("{s:f,s:f,s:f,s:i}", "p50_ms", pct(each, (size_t)n, 0.5),
                                      "p90_ms", pct(each, (size_t)n, 0.9), "max_ms", each[n - 1],
                                      "over_1s", over1s));
    }
    free(each);
    long msgs0 = fan_msgs;
    double settle = fan_settle(ep, t, 0.3, 10);
    json_object_set_new(
        out, "settle",
        json_pack("{s:f,s:I}", "seconds", settle, "msgs", (json_int_t)(fan_msgs - msgs0)));
    print_json(json_pack("{s:o}", "connect", out));
    if (hold) {
        printf("READY\n");
        fflush(stdout);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e);
        msgs0 = fan_msgs;
        long status0 = fan_status_msgs;
        double h0 = now_s();
        fan_loop(ep, t, &stdin_line, 1, deadline);
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
        print_json(json_pack("{s:{s:I,s:I,s:f}}", "idle", "msgs", (json_int_t)(fan_msgs - msgs0),
                             "status_msgs", (json_int_t)(fan_status_msgs - status0), "seconds",
                             now_s() - h0));
    }
    json_t *rs = json_array();
    char id[37];
    for (int r = -1; r < runs; r++) { /* run -1 warms up (the first cell of a kernel) */
        for (int i = 0; i < n; i++)
            c[i]->got_stream = c[i]->got_idle = 0;
        fan_streams = fan_idles = 0;
        fan_exec_id = id;
        double ts = now_s(), cpu_run = cpu_s();
        ws_request(c[0], "shell", "execute_request", execute_content_new(code), id);
        if (fan_loop(ep, t, &fan_streams, n, ts + run_timeout) != 0 ||
            fan_loop(ep, t, &fan_idles, n, ts + run_timeout) != 0) {
            json_array_append_new(rs,
                                  json_pack("{s:b,s:i,s:i,s:f}", "timed_out", 1, "received",
                                            fan_streams, "warmup", r < 0, "after_s", run_timeout));
            break;
        }
        cpu_run = cpu_s() - cpu_run;
        if (r < 0)
            continue;
        double first = 1e300, last = 0;
        for (int i = 0; i < n; i++) {
            double d = (c[i]->t_stream - ts) * 1e3;
            first = d < first ? d : first;
            last = d > last ? d : last;
        }
        json_array_append_new(rs,
                              json_pack("{s:f,s:f,s:f,s:f}", "first_ms", first, "last_ms", last,
                                        "spread_ms", last - first, "client_cpu_ms", cpu_run * 1e3));
    }
    print_json(json_pack("{s:o}", "runs", rs));
    for (int i = 0; i < n; i++)
        close(c[i]->fd);
    close(ep);
}

/* ---- self-test ---------------------------------------------------------------------------- */

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "selftest: FAILED: %s\n", what);
        failures++;
    }
}

/* feed raw server bytes to a ws and collect the data messages */
static void feed(struct ws *w, const void *bytes, size_t n)
{
    if (w->in_len + n > w->in_cap) {
        w->in_cap = w->in_len + n;
        w->in = xrealloc(w->in, w->in_cap);
    }
    memcpy(w->in + w->in_len, bytes, n);
    w->in_len += n;
}

static void run_selftest(void)
{
    /* the walker and the decoded length, against jansson */
    const char *txt = "{\"a\": [1, {\"b\": \"}\\\"\"}], \"name\" : \"stdout\", "
                      "\"text\": \"x\\n\\\"\\u00e9\\u20ac\\ud83d\\ude00y\", \"z\": null}";
    json_t *j = json_loads(txt, 0, NULL);
    struct span content = {txt, strlen(txt)};
    int is_out = 0;
    size_t got = stream_bytes(content, &is_out);
    check(j && got == strlen(json_string_value(json_object_get(j, "text"))), "decoded length");
    check(is_out, "stream name");
    json_decref(j);

    /* a v1 frame as Jupyter Server builds it (serialize_msg_to_ws_v1), parsed */
    const char *parts[5] = {"iopub", "{\"msg_id\":\"m1\",\"msg_type\":\"status\"}",
                            "{\"msg_id\":\"p1\"}", "{}", "{\"execution_state\":\"idle\"}"};
    unsigned char f[512];
    size_t off = 8 * 7;
    put_le64(f, 6);
    for (int i = 0; i < 5; i++) {
        put_le64(f + 8 * (i + 1), off);
        memcpy(f + off, parts[i], strlen(parts[i]));
        off += strlen(parts[i]);
    }
    put_le64(f + 8 * 6, off);
    struct kmsg m;
    check(kmsg_decode(1, 2, f, off, &m) == 0, "v1 decode");
    check(span_eq(m.channel, "iopub") && span_eq(m.msg_type, "status") &&
              span_eq(m.parent_id, "p1") && is_status(&m, "idle"),
          "v1 fields");
    check(kmsg_decode(1, 2, f, off - 1, &m) != 0, "v1 bad length refused");

    /* legacy JSON and legacy binary (one buffer) */
    const char *lj = "{\"header\":{\"msg_type\":\"stream\",\"msg_id\":\"x\"},\"msg_id\":\"x\","
                     "\"parent_header\":{\"msg_id\":\"p2\"},\"metadata\":{},\"content\":"
                     "{\"name\":\"stderr\",\"text\":\"ab\"},\"buffers\":[],\"channel\":\"iopub\"}";
    check(kmsg_decode(0, 1, (const unsigned char *)lj, strlen(lj), &m) == 0, "legacy decode");
    check(span_eq(m.msg_type, "stream") && span_eq(m.parent_id, "p2") &&
              span_eq(m.channel, "iopub") && stream_bytes(m.content, &is_out) == 2 && !is_out,
          "legacy fields");
    unsigned char lb[1024];
    size_t ljn = strlen(lj);
    lb[0] = lb[1] = lb[2] = 0, lb[3] = 2;
    uint32_t o0 = 12, o1 = (uint32_t)(12 + ljn);
    for (int i = 0; i < 4; i++) {
        lb[4 + i] = (unsigned char)(o0 >> (24 - 8 * i));
        lb[8 + i] = (unsigned char)(o1 >> (24 - 8 * i));
    }
    memcpy(lb + 12, lj, ljn);
    memcpy(lb + 12 + ljn, "BUF", 3);
    check(kmsg_decode(0, 2, lb, 12 + ljn + 3, &m) == 0 && span_eq(m.parent_id, "p2"),
          "legacy binary decode");

    /* frames: a text message in three fragments, then a frame with a 16-bit length */
    struct ws w;
    ws_init(&w, -1, 16);
    unsigned char fr[] = {0x01, 3, 'a', 'b', 'c', 0x00, 2, 'd', 'e', 0x80, 1, 'f'};
    feed(&w, fr, sizeof fr);
    int op;
    const unsigned char *p;
    size_t n;
    check(ws_next(&w, &op, &p, &n) == 1 && op == 1 && n == 6 && memcmp(p, "abcdef", 6) == 0,
          "fragmented message");
    check(ws_next(&w, &op, &p, &n) == 0, "nothing left");
    unsigned char big[4 + 300];
    big[0] = 0x82, big[1] = 126, big[2] = 300 >> 8, big[3] = 300 & 0xff;
    memset(big + 4, 'q', 300);
    feed(&w, big, 150);
    check(ws_next(&w, &op, &p, &n) == 0, "partial frame waits");
    feed(&w, big + 150, sizeof big - 150);
    check(ws_next(&w, &op, &p, &n) == 1 && op == 2 && n == 300 && p[299] == 'q', "16-bit length");
    print_json(
        json_pack("{s:s,s:i}", "selftest", failures ? "failed" : "ok", "failures", failures));
    exit(failures ? 1 : 0);
}

/* ---- main ---------------------------------------------------------------------------------- */

static const char usage[] =
    "usage: wsclient MODE [options]\n"
    "  MODE: latency | throughput | fanout | pingpong | selftest\n"
    "  --host IP (127.0.0.1)  --port N  --base /  --kernel ID  --token T\n"
    "  --protocol v1|legacy   (v1: offer v1.kernel.websocket.jupyter.org; legacy: offer none)\n"
    "  --conn FILE            kernel connection file (latency; throughput --via zmq)\n"
    "  -n N                   round trips (latency, pingpong: 2000) or clients (fanout, 200)\n"
    "  --warmup N             untimed round trips first (latency, 50)\n"
    "  --code CODE            cell to run (throughput, fanout)\n"
    "  --via ws|zmq           throughput over the server's WebSocket or straight to the kernel\n"
    "  --runs N               executions timed (fanout, 5)\n"
    "  --hold                 fanout: print READY once connected, wait for a line on stdin\n"
    "  --run-timeout S        fanout: bound on each cell's output reaching every client (10)\n"
    "  --timeout S            bound on the whole run (60)\n";

static long num(const char *s, const char *what)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || *e || v < 0)
        die("bad %s: %s", what, s);
    return v;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", 1, 0, 'H'},        {"port", 1, 0, 'p'},    {"base", 1, 0, 'b'},
        {"kernel", 1, 0, 'k'},      {"token", 1, 0, 't'},   {"protocol", 1, 0, 'P'},
        {"conn", 1, 0, 'c'},        {"warmup", 1, 0, 'w'},  {"code", 1, 0, 'C'},
        {"via", 1, 0, 'v'},         {"runs", 1, 0, 'r'},    {"hold", 0, 0, 'h'},
        {"run-timeout", 1, 0, 'R'}, {"timeout", 1, 0, 'T'}, {0, 0, 0, 0}};
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *mode = argv[1];
    struct target t = {.host = "127.0.0.1", .base = "/", .offer_v1 = 1};
    const char *conn = NULL, *code = NULL, *via = "ws";
    long n = -1, warmup = 50, runs = 5;
    int hold = 0;
    double timeout = 60, run_timeout = 10;
    int o;
    optind = 2;
    while ((o = getopt_long(argc, argv, "n:", lo, NULL)) != -1) {
        switch (o) {
        case 'H':
            snprintf(t.host, sizeof t.host, "%s", optarg);
            break;
        case 'p':
            t.port = (int)num(optarg, "--port");
            break;
        case 'b':
            snprintf(t.base, sizeof t.base, "%s%s", optarg,
                     optarg[0] && optarg[strlen(optarg) - 1] == '/' ? "" : "/");
            break;
        case 'k':
            t.kernel = optarg;
            break;
        case 't':
            t.token = optarg;
            break;
        case 'P':
            if (strcmp(optarg, "v1") != 0 && strcmp(optarg, "legacy") != 0)
                die("--protocol v1 or legacy");
            t.offer_v1 = strcmp(optarg, "v1") == 0;
            break;
        case 'c':
            conn = optarg;
            break;
        case 'n':
            n = num(optarg, "-n");
            break;
        case 'w':
            warmup = num(optarg, "--warmup");
            break;
        case 'C':
            code = optarg;
            break;
        case 'v':
            via = optarg;
            break;
        case 'R':
            run_timeout = strtod(optarg, NULL);
            if (!(run_timeout > 0))
                die("bad --run-timeout");
            break;
        case 'r':
            runs = num(optarg, "--runs");
            break;
        case 'h':
            hold = 1;
            break;
        case 'T':
            timeout = strtod(optarg, NULL);
            if (!(timeout > 0))
                die("bad --timeout");
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    deadline = now_s() + timeout;
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(mode, "selftest") == 0)
        run_selftest();
    if (strcmp(mode, "pingpong") == 0) {
        run_pingpong(n < 0 ? 2000 : (n ? n : 1));
        return 0;
    }
    int needs_ws = strcmp(mode, "throughput") != 0 || strcmp(via, "ws") == 0;
    if (needs_ws && (!t.port || !t.kernel))
        die("--port and --kernel are needed");
    if (strcmp(mode, "latency") == 0) {
        if (!conn)
            die("latency needs --conn");
        run_latency(&t, conn, n < 0 ? 2000 : (n ? n : 1), warmup);
    } else if (strcmp(mode, "throughput") == 0) {
        if (!code)
            die("throughput needs --code");
        if (strcmp(via, "zmq") == 0) {
            if (!conn)
                die("--via zmq needs --conn");
            run_throughput_zmq(conn, code);
        } else {
            run_throughput_ws(&t, code);
        }
    } else if (strcmp(mode, "fanout") == 0) {
        if (!code)
            die("fanout needs --code");
        run_fanout(&t, n < 0 ? 200 : (int)(n ? n : 1), code, (int)runs, hold, run_timeout);
    } else {
        fputs(usage, stderr);
        return 2;
    }
    return 0;
}
