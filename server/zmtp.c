/*
 * zmtp.c - ZMTP 3.0 client sockets on libuv (see zmtp.h). The wire format (rfc.zeromq.org
 * 23/ZMTP and 37/ZMTP): a 64-byte greeting each way (signature FF ... 7F, version 3.0, mechanism
 * "NULL"), then a READY command each way carrying Socket-Type (and Identity for a DEALER), then
 * frames: one flags byte (bit 0 MORE, bit 1 LONG: 8-byte size, bit 2 COMMAND), the size (one
 * byte, or eight big-endian), the body. A SUB subscribes by sending a one-frame message whose
 * first byte is 1 followed by the prefix (empty: everything), the 3.0 form every libzmq accepts.
 *
 * Input: one read per poll callback into a buffer that starts at 16 KiB and grows to 256 KiB on
 * a busy channel; frames that lie wholly in it are
 * handed to the callback in place (no copy), frames of a message that straddles reads are copied
 * out before the buffer is compacted, and a frame too big for the buffer is read straight into
 * its own allocation. Output: each message is encoded once into one block; blocks are written
 * with writev as soon as they are sent (no wakeup of another thread, no extra loop turn).
 */
#include "zmtp.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "jp_bytes.h"
#include "jp_err.h"
#include "jp_log.h"

#define RBUF_MIN (16 * 1024)  /* the read buffer starts small (most channels carry little) */
#define RBUF_MAX (256 * 1024) /* and grows while reads fill it or frames do not fit */
#define GREETING_LEN 64
#define MAX_COMMAND (64 * 1024)
#define MAX_PARTS 65536
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 1000
#define WRITEV_MAX 64
#define DEFAULT_MAX_MSG ((size_t)1 << 30)

enum zt_state { ST_IDLE, ST_CONNECTING, ST_GREETING, ST_READY, ST_UP };

struct zt_out {
    struct zt_out *next;
    size_t len, off;
    unsigned char data[];
};

/* a received frame: in the read buffer at off (heap NULL) or in its own allocation */
struct zt_part {
    unsigned char *heap;
    size_t off, len;
};

struct zt_sock {
    uv_loop_t *loop;
    enum zt_type type;
    char *routing_id;
    size_t max_msg;
    zt_msg_fn on_msg;
    void *arg;
    char endpoint[256];
    struct sockaddr_storage addr;
    socklen_t addrlen;

    enum zt_state state;
    int fd;
    uv_poll_t *poll; /* heap, one per connection */
    int events;      /* what poll is started with */
    uv_timer_t timer;
    unsigned retry_ms;
    int closed;
    int in_read; /* inside the read path: sends wait for the next writable event */
    int paused;  /* zt_pause_reading: no reads once up */

    unsigned char hs[GREETING_LEN + 128]; /* our greeting and READY, written first */
    size_t hs_len, hs_off;

    struct zt_out *qhead, *qtail;
    size_t nq;

    unsigned char *rbuf;
    size_t rpos, rlen, rcap, want_cap;
    unsigned char *big; /* a frame being read straight into its own allocation */
    size_t big_len, big_have;
    int big_more;

    struct zt_part *parts;
    size_t nparts, cap_parts, msg_bytes;
    struct jp_frame *frames;
    size_t cap_frames;
};

static const char *type_name(enum zt_type t)
{
    return t == ZT_SUB ? "SUB" : "DEALER";
}

/* a frame header; returns its length (2 or 9) */
static size_t frame_header(unsigned char *h, unsigned flags, size_t len)
{
    if (len <= 255) {
        h[0] = (unsigned char)flags;
        h[1] = (unsigned char)len;
        return 2;
    }
    h[0] = (unsigned char)(flags | 2);
    jp_put_be64(h + 1, len);
    return 9;
}

/* ---- endpoints --------------------------------------------------------------------------- */

static int parse_endpoint(struct zt_sock *s, const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0) {
        const char *path = ep + 6;
        struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof un->sun_path)
            return -1;
        memset(un, 0, sizeof *un);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, n);
        if (path[0] == '@') /* libzmq's spelling of the abstract namespace */
            un->sun_path[0] = '\0';
        s->addrlen =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
        return 0;
    }
    if (strncmp(ep, "tcp://", 6) != 0)
        return -1;
    char host[256];
    const char *rest = ep + 6, *colon;
    size_t hl;
    if (*rest == '[') {
        const char *end = strchr(rest, ']');
        if (!end || end[1] != ':')
            return -1;
        hl = (size_t)(end - rest - 1);
        rest++;
        colon = end + 1;
    } else {
        colon = strrchr(rest, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - rest);
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, rest, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535 || end == colon + 1)
        return -1;
    char ports[8];
    snprintf(ports, sizeof ports, "%ld", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    if (getaddrinfo(host, ports, &hints, &res) != 0) {
        /* a name: resolved once, here (kernels are reached by address in practice) */
        hints.ai_flags = AI_NUMERICSERV;
        if (getaddrinfo(host, ports, &hints, &res) != 0)
            return -1;
    }
    if (!res || res->ai_addrlen > sizeof s->addr) {
        freeaddrinfo(res);
        return -1;
    }
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    s->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* ---- connection -------------------------------------------------------------------------- */

static void poll_cb(uv_poll_t *h, int status, int events);
static void start_connect(struct zt_sock *s);

static void free_handle_cb(uv_handle_t *h)
{
    free(h);
}

static void set_events(struct zt_sock *s)
{
    if (!s->poll || s->closed)
        return;
    int ev = 0;
    if (s->state == ST_CONNECTING)
        ev = UV_WRITABLE;
    else {
        ev = s->paused && s->state == ST_UP ? 0 : UV_READABLE;
        if (s->hs_off < s->hs_len || (s->state == ST_UP && s->qhead))
            ev |= UV_WRITABLE;
    }
    if (ev != s->events) {
        s->events = ev;
        uv_poll_start(s->poll, ev, poll_cb);
    }
}

static void parts_reset(struct zt_sock *s)
{
    for (size_t i = 0; i < s->nparts; i++)
        free(s->parts[i].heap);
    s->nparts = 0;
    s->msg_bytes = 0;
}

static void retry_cb(uv_timer_t *t)
{
    struct zt_sock *s = t->data;
    if (!s->closed && s->state == ST_IDLE)
        start_connect(s);
}

/* Drop the connection; unless closed, connect again after the back-off. */
static void disconnect(struct zt_sock *s)
{
    if (s->poll) {
        uv_close((uv_handle_t *)s->poll, free_handle_cb);
        s->poll = NULL;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->events = 0;
    parts_reset(s);
    free(s->big);
    s->big = NULL;
    s->rpos = s->rlen = 0;
    s->hs_len = s->hs_off = 0;
    if (s->qhead && s->qhead->off) { /* half written: lost, as with libzmq */
        struct zt_out *o = s->qhead;
        s->qhead = o->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->nq--;
        free(o);
    }
    s->state = ST_IDLE;
    if (s->closed)
        return;
    uv_timer_start(&s->timer, retry_cb, s->retry_ms, 0);
    s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
}

static void fail(struct zt_sock *s, const char *why)
{
    jp_log(JP_LOG_WARN, "zmtp", "peer dropped endpoint=%s type=%s error=\"%s\"", s->endpoint,
           type_name(s->type), why);
    disconnect(s);
}

static void build_handshake(struct zt_sock *s)
{
    unsigned char *g = s->hs;
    memset(g, 0, GREETING_LEN);
    g[0] = 0xFF;
    jp_put_be64(g + 1, 1); /* padding; libzmq puts its identity length + 1 here for ZMTP 1.0 */
    g[9] = 0x7F;
    g[10] = 3; /* version 3.0 */
    g[11] = 0;
    memcpy(g + 12, "NULL", 4);
    /* READY: name, then properties (1-byte name length, name, 4-byte value length, value) */
    unsigned char body[128];
    size_t n = 0;
    const char *type = type_name(s->type);
    body[n++] = 5;
    memcpy(body + n, "READY", 5);
    n += 5;
    body[n++] = 11;
    memcpy(body + n, "Socket-Type", 11);
    n += 11;
    jp_put_be32(body + n, (uint32_t)strlen(type));
    n += 4;
    memcpy(body + n, type, strlen(type));
    n += strlen(type);
    if (s->type == ZT_DEALER) {
        size_t rl = s->routing_id ? strlen(s->routing_id) : 0;
        body[n++] = 8;
        memcpy(body + n, "Identity", 8);
        n += 8;
        jp_put_be32(body + n, (uint32_t)rl);
        n += 4;
        if (rl)
            memcpy(body + n, s->routing_id, rl);
        n += rl;
    }
    size_t h = frame_header(g + GREETING_LEN, 4, n);
    memcpy(g + GREETING_LEN + h, body, n);
    s->hs_len = GREETING_LEN + h + n;
    s->hs_off = 0;
}

static void connected(struct zt_sock *s)
{
    s->state = ST_GREETING;
    build_handshake(s);
    set_events(s);
}

static void start_connect(struct zt_sock *s)
{
    int fam = s->addr.ss_family;
    s->fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        jp_log(JP_LOG_WARN, "zmtp", "socket failed endpoint=%s error=\"%s\"", s->endpoint,
               strerror(errno));
        disconnect(s);
        return;
    }
    if (fam == AF_INET || fam == AF_INET6) {
        int one = 1;
        setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    s->poll = malloc(sizeof *s->poll);
    if (!s->poll || uv_poll_init(s->loop, s->poll, s->fd) != 0) {
        free(s->poll);
        s->poll = NULL;
        disconnect(s);
        return;
    }
    s->poll->data = s;
    s->events = 0;
    int r;
    do
        r = connect(s->fd, (struct sockaddr *)&s->addr, s->addrlen);
    while (r != 0 && errno == EINTR);
    if (r == 0) {
        connected(s);
    } else if (errno == EINPROGRESS) {
        s->state = ST_CONNECTING;
        set_events(s);
    } else {
        /* nobody listening yet (ECONNREFUSED, ENOENT for ipc): the usual case while a kernel
         * starts, so not logged */
        disconnect(s);
    }
}

/* ---- output ------------------------------------------------------------------------------ */

static void do_write(struct zt_sock *s)
{
    while (s->fd >= 0 && !s->closed) {
        struct iovec iov[WRITEV_MAX];
        int n = 0;
        if (s->hs_off < s->hs_len) {
            iov[n].iov_base = s->hs + s->hs_off;
            iov[n++].iov_len = s->hs_len - s->hs_off;
        } else if (s->state == ST_UP) {
            for (struct zt_out *o = s->qhead; o && n < WRITEV_MAX; o = o->next) {
                iov[n].iov_base = o->data + o->off;
                iov[n++].iov_len = o->len - o->off;
            }
        }
        if (!n)
            break;
        struct msghdr mh = {0};
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        ssize_t w = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            disconnect(s); /* the read side sees why, or the next connect does */
            return;
        }
        size_t left = (size_t)w;
        if (s->hs_off < s->hs_len) {
            s->hs_off += left;
            continue;
        }
        while (left && s->qhead) {
            struct zt_out *o = s->qhead;
            size_t take = o->len - o->off < left ? o->len - o->off : left;
            o->off += take;
            left -= take;
            if (o->off == o->len) {
                s->qhead = o->next;
                if (!s->qhead)
                    s->qtail = NULL;
                s->nq--;
                free(o);
            }
        }
    }
    set_events(s);
}

static struct zt_out *encode(const struct jp_frame *parts, size_t n, unsigned flags0)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len > SIZE_MAX / 2 - total - 9)
            return NULL;
        total += (parts[i].len <= 255 ? 2 : 9) + parts[i].len;
    }
    struct zt_out *o = malloc(sizeof *o + total);
    if (!o)
        return NULL;
    o->next = NULL;
    o->len = total;
    o->off = 0;
    unsigned char *p = o->data;
    for (size_t i = 0; i < n; i++) {
        p += frame_header(p, (i + 1 < n ? 1u : 0u) | flags0, parts[i].len);
        if (parts[i].len)
            memcpy(p, parts[i].data, parts[i].len);
        p += parts[i].len;
    }
    return o;
}

int zt_send(struct zt_sock *s, const struct jp_frame *parts, size_t n)
{
    if (!s || s->closed || !n)
        return JP_EINVAL;
    if (s->nq >= ZT_MAX_QUEUED)
        return JP_ETOOBIG;
    struct zt_out *o = encode(parts, n, 0);
    if (!o)
        return JP_ENOMEM;
    if (s->qtail)
        s->qtail->next = o;
    else
        s->qhead = o;
    s->qtail = o;
    s->nq++;
    if (s->state == ST_UP) {
        if (s->in_read)
            set_events(s);
        else
            do_write(s);
    }
    return 0;
}

/* ---- input ------------------------------------------------------------------------------- */

static int sock_type_ok(const struct zt_sock *s, const unsigned char *v, size_t n)
{
    static const char *const dealer_peers[] = {"ROUTER", "REP", "DEALER"};
    static const char *const sub_peers[] = {"PUB", "XPUB"};
    const char *const *ok = s->type == ZT_SUB ? sub_peers : dealer_peers;
    size_t nok = s->type == ZT_SUB ? 2 : 3;
    for (size_t i = 0; i < nok; i++)
        if (strlen(ok[i]) == n && memcmp(ok[i], v, n) == 0)
            return 1;
    return 0;
}

/* A command frame. Returns 0, or -1 after dropping the connection. */
static int on_command(struct zt_sock *s, const unsigned char *b, size_t n)
{
    char why[200];
    if (n < 1 || (size_t)b[0] + 1 > n) {
        fail(s, "malformed command");
        return -1;
    }
    size_t nl = b[0];
    const unsigned char *name = b + 1, *p = b + 1 + nl, *end = b + n;
    if (nl == 5 && memcmp(name, "ERROR", 5) == 0) {
        size_t rl = p < end ? *p : 0;
        if (rl > (size_t)(end - p) - 1)
            rl = p < end ? (size_t)(end - p) - 1 : 0;
        snprintf(why, sizeof why, "the peer refused the connection: %.*s", (int)rl,
                 p < end ? (const char *)p + 1 : "");
        fail(s, why);
        return -1;
    }
    if (!(nl == 5 && memcmp(name, "READY", 5) == 0)) {
        if (s->state != ST_UP) {
            fail(s, "expected READY");
            return -1;
        }
        return 0; /* PING and the like are ZMTP 3.1; anything else is ignored */
    }
    if (s->state != ST_READY) {
        fail(s, "READY twice");
        return -1;
    }
    int type_seen = 0;
    while (p < end) {
        size_t kl = *p++;
        if ((size_t)(end - p) < kl + 4) {
            fail(s, "malformed READY properties");
            return -1;
        }
        const unsigned char *key = p;
        p += kl;
        size_t vl = jp_get_be32(p);
        p += 4;
        if ((size_t)(end - p) < vl) {
            fail(s, "malformed READY properties");
            return -1;
        }
        if (kl == 11 && strncasecmp((const char *)key, "Socket-Type", 11) == 0) {
            if (!sock_type_ok(s, p, vl)) {
                snprintf(why, sizeof why, "incompatible peer socket type %.*s for %s",
                         (int)(vl > 20 ? 20 : vl), (const char *)p, type_name(s->type));
                fail(s, why);
                return -1;
            }
            type_seen = 1;
        }
        p += vl;
    }
    if (!type_seen) {
        fail(s, "READY without Socket-Type");
        return -1;
    }
    s->state = ST_UP;
    s->retry_ms = RETRY_MIN_MS;
    if (s->type == ZT_SUB) { /* subscribe to everything, ahead of anything queued */
        static const unsigned char sub = 1;
        struct jp_frame f = {(void *)&sub, 1};
        struct zt_out *o = encode(&f, 1, 0);
        if (!o) {
            fail(s, "out of memory");
            return -1;
        }
        o->next = s->qhead;
        s->qhead = o;
        if (!s->qtail)
            s->qtail = o;
        s->nq++;
    }
    return 0;
}

static int add_part(struct zt_sock *s, unsigned char *heap, size_t off, size_t len)
{
    if (s->nparts == s->cap_parts) {
        size_t nc = s->cap_parts ? s->cap_parts * 2 : 16;
        struct zt_part *np = realloc(s->parts, nc * sizeof *np);
        if (!np)
            return -1;
        s->parts = np;
        s->cap_parts = nc;
    }
    s->parts[s->nparts].heap = heap;
    s->parts[s->nparts].off = off;
    s->parts[s->nparts].len = len;
    s->nparts++;
    return 0;
}

/* The message is complete: hand it over. Returns -1 when the socket was closed meanwhile. */
static int dispatch(struct zt_sock *s)
{
    if (s->nparts > s->cap_frames) {
        struct jp_frame *nf = realloc(s->frames, s->nparts * sizeof *nf);
        if (!nf) {
            parts_reset(s);
            return 0; /* dropped */
        }
        s->frames = nf;
        s->cap_frames = s->nparts;
    }
    for (size_t i = 0; i < s->nparts; i++) {
        s->frames[i].data = s->parts[i].heap ? s->parts[i].heap : s->rbuf + s->parts[i].off;
        s->frames[i].len = s->parts[i].len;
    }
    s->on_msg(s->arg, s->frames, s->nparts);
    if (s->closed)
        return -1; /* freed with the socket */
    parts_reset(s);
    return 0;
}

/* Frames of an unfinished message that point into the read buffer get their own copies
 * before the buffer moves. */
static int detach_parts(struct zt_sock *s)
{
    for (size_t i = 0; i < s->nparts; i++) {
        struct zt_part *p = &s->parts[i];
        if (p->heap)
            continue;
        p->heap = malloc(p->len ? p->len : 1);
        if (!p->heap)
            return -1;
        memcpy(p->heap, s->rbuf + p->off, p->len);
    }
    return 0;
}

/* Make the next read's buffer big enough for a frame of n bytes (n <= RBUF_MAX). */
static void grow_for(struct zt_sock *s, size_t n)
{
    size_t c = s->rcap;
    while (c < n)
        c *= 2;
    if (c > s->want_cap)
        s->want_cap = c;
}

/* Parse what the read buffer holds. Returns -1 when the connection or the socket went. */
static int parse(struct zt_sock *s)
{
    while (!s->closed && s->fd >= 0) {
        unsigned char *p = s->rbuf + s->rpos;
        size_t avail = s->rlen - s->rpos;
        if (s->state == ST_GREETING) {
            if (avail < GREETING_LEN)
                return 0;
            if (p[0] != 0xFF || !(p[9] & 1)) {
                fail(s, "not a ZMTP 3 peer (bad greeting)");
                return -1;
            }
            if (p[10] < 3) {
                fail(s, "the peer speaks ZMTP older than 3.0");
                return -1;
            }
            if (memcmp(p + 12, "NULL\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20) != 0) {
                fail(s, "the peer wants a security mechanism other than NULL");
                return -1;
            }
            s->rpos += GREETING_LEN;
            s->state = ST_READY;
            continue;
        }
        if (avail < 2)
            return 0;
        unsigned flags = p[0];
        if (flags & ~7u) {
            fail(s, "bad frame flags");
            return -1;
        }
        size_t hl = flags & 2 ? 9 : 2;
        if (avail < hl)
            return 0;
        uint64_t size = flags & 2 ? jp_get_be64(p + 1) : p[1];
        if (flags & 4) {
            if (size > MAX_COMMAND) {
                fail(s, "command too large");
                return -1;
            }
            if (avail < hl + size) {
                grow_for(s, hl + (size_t)size);
                return 0;
            }
            s->rpos += hl + (size_t)size;
            if (on_command(s, p + hl, (size_t)size) != 0)
                return -1;
            continue;
        }
        if (s->state != ST_UP) {
            fail(s, "message before the handshake");
            return -1;
        }
        if (size > s->max_msg - s->msg_bytes || s->nparts >= MAX_PARTS) {
            char why[160];
            snprintf(why, sizeof why, "message larger than the limit (%zu bytes, %d parts)",
                     s->max_msg, MAX_PARTS);
            fail(s, why);
            return -1;
        }
        int more = flags & 1;
        if (avail >= hl + size) {
            if (add_part(s, NULL, s->rpos + hl, (size_t)size) != 0) {
                fail(s, "out of memory");
                return -1;
            }
            s->msg_bytes += (size_t)size;
            s->rpos += hl + (size_t)size;
            if (!more && dispatch(s) != 0)
                return -1;
            continue;
        }
        if (hl + size <= s->rcap)
            return 0;                /* fits once the buffer is compacted: read more */
        if (hl + size <= RBUF_MAX) { /* fits a bigger buffer: grow it before the next read */
            grow_for(s, hl + (size_t)size);
            return 0;
        }
        /* too big for the buffer: its own allocation, the rest read straight into it */
        s->big = malloc((size_t)size);
        if (!s->big) {
            fail(s, "out of memory");
            return -1;
        }
        s->big_len = (size_t)size;
        s->big_have = avail - hl;
        s->big_more = more;
        memcpy(s->big, p + hl, s->big_have);
        s->rpos = s->rlen;
        return 0;
    }
    return -1;
}

/* A big frame is complete: add it, maybe dispatch. */
static int big_done(struct zt_sock *s)
{
    unsigned char *b = s->big;
    s->big = NULL;
    if (add_part(s, b, 0, s->big_len) != 0) {
        free(b);
        fail(s, "out of memory");
        return -1;
    }
    s->msg_bytes += s->big_len;
    if (!s->big_more)
        return dispatch(s);
    return 0;
}

static void do_read(struct zt_sock *s)
{
    ssize_t r;
    s->in_read = 1;
    if (s->big) {
        do
            r = read(s->fd, s->big + s->big_have, s->big_len - s->big_have);
        while (r < 0 && errno == EINTR);
        if (r > 0) {
            s->big_have += (size_t)r;
            if (s->big_have == s->big_len)
                big_done(s); /* the read buffer holds nothing after it yet */
        }
    } else {
        if (s->rpos) {
            if (s->nparts && detach_parts(s) != 0) {
                fail(s, "out of memory");
                s->in_read = 0;
                return;
            }
            memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
            s->rlen -= s->rpos;
            s->rpos = 0;
        }
        if (s->want_cap > s->rcap) { /* parts still in the buffer are kept by offset */
            unsigned char *nb = realloc(s->rbuf, s->want_cap);
            if (nb) {
                s->rbuf = nb;
                s->rcap = s->want_cap;
            }
        }
        if (s->rlen == s->rcap) { /* cannot happen: parse always leaves room or grows */
            fail(s, "read buffer full");
            s->in_read = 0;
            return;
        }
        do
            r = read(s->fd, s->rbuf + s->rlen, s->rcap - s->rlen);
        while (r < 0 && errno == EINTR);
        if (r > 0) {
            s->rlen += (size_t)r;
            if (s->rlen == s->rcap && s->rcap < RBUF_MAX && s->want_cap <= s->rcap)
                s->want_cap = s->rcap * 2; /* a busy channel: bigger reads */
            parse(s);
        }
    }
    s->in_read = 0;
    if (s->closed || s->fd < 0)
        return;
    if (r == 0) {
        jp_log(JP_LOG_DEBUG, "zmtp", "peer closed endpoint=%s type=%s", s->endpoint,
               type_name(s->type));
        disconnect(s);
    } else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        jp_log(JP_LOG_DEBUG, "zmtp", "read failed endpoint=%s error=\"%s\"", s->endpoint,
               strerror(errno));
        disconnect(s);
    } else if (s->state == ST_UP && s->qhead) {
        do_write(s); /* sends made while reading, or the subscription */
    } else {
        set_events(s);
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct zt_sock *s = h->data;
    if (s->closed || h != s->poll)
        return;
    if (s->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (status < 0 || getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
            disconnect(s);
            return;
        }
        connected(s);
        do_write(s);
        return;
    }
    if (status < 0) {
        jp_log(JP_LOG_DEBUG, "zmtp", "poll error endpoint=%s error=%s", s->endpoint,
               uv_strerror(status));
        disconnect(s);
        return;
    }
    if (events & UV_READABLE) {
        do_read(s);
        if (s->closed || h != s->poll)
            return;
    }
    if (events & UV_WRITABLE)
        do_write(s);
}

/* ---- life -------------------------------------------------------------------------------- */

struct zt_sock *zt_open(uv_loop_t *loop, const char *endpoint, const struct zt_opts *o)
{
    struct zt_sock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->type = o->type;
    s->max_msg = o->max_msg ? o->max_msg : DEFAULT_MAX_MSG;
    s->on_msg = o->on_msg;
    s->arg = o->arg;
    s->fd = -1;
    s->retry_ms = RETRY_MIN_MS;
    snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    if ((o->routing_id && strlen(o->routing_id) > ZT_MAX_ROUTING_ID) ||
        parse_endpoint(s, endpoint) != 0) {
        free(s);
        errno = EINVAL;
        return NULL;
    }
    s->routing_id = o->routing_id ? strdup(o->routing_id) : NULL;
    s->rcap = RBUF_MIN;
    s->rbuf = malloc(s->rcap);
    if ((o->routing_id && !s->routing_id) || !s->rbuf) {
        free(s->routing_id);
        free(s->rbuf);
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    start_connect(s);
    return s;
}

static void sock_free_cb(uv_handle_t *h)
{
    struct zt_sock *s = h->data;
    parts_reset(s);
    free(s->parts);
    free(s->frames);
    free(s->big);
    while (s->qhead) {
        struct zt_out *o = s->qhead;
        s->qhead = o->next;
        free(o);
    }
    free(s->rbuf);
    free(s->routing_id);
    free(s);
}

void zt_close(struct zt_sock *s)
{
    if (!s || s->closed)
        return;
    s->closed = 1;
    if (s->poll) {
        uv_close((uv_handle_t *)s->poll, free_handle_cb);
        s->poll = NULL;
    }
    if (s->fd >= 0) /* safe right after uv_close (libuv docs, uv_poll_t) */
        close(s->fd);
    s->fd = -1;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, sock_free_cb);
}

int zt_connected(const struct zt_sock *s)
{
    return s && !s->closed && s->state == ST_UP;
}

size_t zt_queued(const struct zt_sock *s)
{
    return s ? s->nq : 0;
}

void zt_pause_reading(struct zt_sock *s, int paused)
{
    if (!s || s->closed || s->paused == !!paused)
        return;
    s->paused = !!paused;
    set_events(s);
}
