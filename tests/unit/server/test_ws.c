/*
 * test_ws.c - unit tests for server/ws.c, the kernel WebSocket bridge, run without a kernel
 * manager (new_bridge(...): any kernel id is accepted, client messages are routed through
 * the pending table but sent nowhere). Kernel messages are hand-built struct kmgr_msg fed to
 * wsb_on_iopub / wsb_on_reply / wsb_on_lifecycle; clients use a fake transport that records
 * want_write and close calls; what a client would be sent is rebuilt from wsb_peek /
 * wsb_advance pieces (scribbling over the headroom of every piece, as a transport may).
 *
 * Covered: both framings byte for byte (v1 with 64-bit offsets, legacy text and legacy binary
 * with 32-bit offsets), big messages in pieces, fan-out with one shared frame per framing,
 * reply routing (pending table first, then the parent's session), back-pressure, the offline
 * buffer and its bounds, stale-connection replacement, synthetic lifecycle statuses, Jupyter's
 * IOPub rate limits, malformed and random client input, events clients. Whether a client
 * message was accepted is observed through routing: an accepted request's msg_id brings its
 * reply back to the client even when the reply's parent names another session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "jp_log.h"
#include "ws.h"

#define TMAXBUF 8

/* ---- fake transport ------------------------------------------------------------------- */

struct ftrans {
    int want_writes;
    int closes;
    int code;
    char reason[256];
};

static void ft_want_write(void *tctx)
{
    ((struct ftrans *)tctx)->want_writes++;
}

static void ft_close(void *tctx, int code, const char *reason)
{
    struct ftrans *f = tctx;
    f->closes++;
    f->code = code;
    snprintf(f->reason, sizeof f->reason, "%s", reason ? reason : "");
}

static const struct wsb_transport g_tr = {ft_want_write, ft_close};

/* ---- bridges: what a failed test leaves is freed by its teardown ------------------------ */

static struct wsb *g_bridges[4];

static struct wsb *new_bridge(const struct wsb_opts *o)
{
    struct wsb *b = wsb_new(NULL, o);
    assert_non_null(b);
    for (size_t i = 0; i < sizeof g_bridges / sizeof *g_bridges; i++) {
        if (!g_bridges[i]) {
            g_bridges[i] = b;
            return b;
        }
    }
    fail_msg("too many bridges");
    return NULL;
}

static void free_bridge(struct wsb *b)
{
    for (size_t i = 0; i < sizeof g_bridges / sizeof *g_bridges; i++)
        if (g_bridges[i] == b)
            g_bridges[i] = NULL;
    wsb_free(b);
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof g_bridges / sizeof *g_bridges; i++) {
        wsb_free(g_bridges[i]);
        g_bridges[i] = NULL;
    }
    return 0;
}

/* ---- small helpers -------------------------------------------------------------------- */

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    return s;
}

static uint64_t rd_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void wr_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t rd_u32be(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr_u32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A kernel-style header with unusual spacing (to prove parts are relayed, not re-encoded). */
static char *header_json(const char *msg_id, const char *type, const char *session)
{
    return xfmt("{ \"msg_id\" : \"%s\" ,\"msg_type\":\"%s\",  \"session\" : \"%s\", "
                "\"username\" : \"kernel\", \"date\" : \"2024-05-01T10:00:00.000001Z\", "
                "\"version\" : \"5.3\" }",
                msg_id, type, session);
}

static char *parent_json(const char *msg_id, const char *session)
{
    if (!msg_id)
        return xfmt("{}");
    return xfmt("{ \"msg_id\" : \"%s\", \"session\" : \"%s\", \"msg_type\" : \"execute_request\" }",
                msg_id, session);
}

static char *stream_content(const char *name, size_t n)
{
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, 'x', n);
    text[n] = '\0';
    char *s = xfmt("{\"name\":\"%s\",\"text\":\"%s\"}", name, text);
    free(text);
    return s;
}

/* ---- kernel messages ------------------------------------------------------------------ */

struct tmsg {
    struct kmgr_msg m;
    json_t *header, *parent;
    char *raw[4];
    struct jp_frame bufs[TMAXBUF];
};

static struct tmsg *tmsg_new(const char *channel, const char *header, const char *parent,
                             const char *metadata, const char *content)
{
    struct tmsg *t = calloc(1, sizeof *t);
    assert_non_null(t);
    const char *src[4] = {header, parent, metadata, content};
    for (int i = 0; i < 4; i++) {
        t->raw[i] = strdup(src[i]);
        assert_non_null(t->raw[i]);
        t->m.parts[i].data = t->raw[i];
        t->m.parts[i].len = strlen(t->raw[i]);
    }
    t->header = json_loads(header, 0, NULL);
    assert_true(json_is_object(t->header));
    t->parent = json_loads(parent, 0, NULL);
    assert_true(json_is_object(t->parent));
    t->m.channel = channel;
    t->m.msg_type = json_string_value(json_object_get(t->header, "msg_type"));
    assert_non_null(t->m.msg_type);
    t->m.header = t->header;
    t->m.parent_header = t->parent;
    t->m.buffers = t->bufs;
    return t;
}

static void tmsg_buffer(struct tmsg *t, const void *data, size_t len)
{
    assert_true(t->m.n_buffers < TMAXBUF);
    void *d = malloc(len ? len : 1);
    assert_non_null(d);
    if (len)
        memcpy(d, data, len);
    t->bufs[t->m.n_buffers].data = d;
    t->bufs[t->m.n_buffers].len = len;
    t->m.n_buffers++;
}

static size_t tmsg_total(const struct tmsg *t)
{
    size_t n = 0;
    for (int i = 0; i < 4; i++)
        n += t->m.parts[i].len;
    for (size_t i = 0; i < t->m.n_buffers; i++)
        n += t->bufs[i].len;
    return n;
}

static void tmsg_free(struct tmsg *t)
{
    for (int i = 0; i < 4; i++)
        free(t->raw[i]);
    for (size_t i = 0; i < t->m.n_buffers; i++)
        free(t->bufs[i].data);
    json_decref(t->header);
    json_decref(t->parent);
    json_decref(t->m.content_);
    free(t);
}

/* Send a kernel message with the given header fields, parent (pid NULL: {}) and content on
 * `channel` (iopub through wsb_on_iopub, others through wsb_on_reply). Returns the size of its
 * four parts. */
static size_t kernel_send(struct wsb *b, const char *kid, const char *channel, const char *id,
                          const char *type, const char *pid, const char *psess, const char *content)
{
    char *h = header_json(id, type, "kernel-session");
    char *p = parent_json(pid, psess);
    struct tmsg *t = tmsg_new(channel, h, p, "{}", content);
    size_t total = tmsg_total(t);
    if (strcmp(channel, "iopub") == 0)
        wsb_on_iopub(b, kid, &t->m);
    else
        wsb_on_reply(b, kid, &t->m);
    tmsg_free(t);
    free(h);
    free(p);
    return total;
}

static size_t kernel_iopub(struct wsb *b, const char *kid, const char *id, const char *type,
                           const char *pid, const char *psess, const char *content)
{
    return kernel_send(b, kid, "iopub", id, type, pid, psess, content);
}

static void kernel_reply(struct wsb *b, const char *kid, const char *channel, const char *id,
                         const char *type, const char *pid, const char *psess)
{
    kernel_send(b, kid, channel, id, type, pid, psess, "{\"status\":\"ok\"}");
}

/* ---- what a client is sent ------------------------------------------------------------ */

struct dmsg {
    unsigned char *raw;
    size_t len;
    int binary;
    char channel[32];
    json_t *whole;                                /* legacy: the JSON object */
    json_t *header, *parent, *metadata, *content; /* owned; NULL when a part is not JSON */
    const unsigned char *part[4];                 /* into raw */
    size_t part_len[4];
    size_t nb;
    const unsigned char *buf[TMAXBUF];
    size_t buf_len[TMAXBUF];
};

struct dlist {
    struct dmsg *m;
    size_t n, cap;
    size_t pieces;
};

static void decode_v1(struct dmsg *d)
{
    assert_true(d->binary);
    assert_true(d->len >= 8);
    uint64_t n = rd_u64le(d->raw);
    assert_true(n >= 6 && n <= 6 + TMAXBUF);
    assert_true(8 * (n + 1) <= d->len);
    uint64_t off[6 + TMAXBUF];
    for (uint64_t i = 0; i < n; i++) {
        off[i] = rd_u64le(d->raw + 8 * (i + 1));
        assert_true(off[i] <= d->len);
        if (i)
            assert_true(off[i] >= off[i - 1]);
    }
    assert_int_equal(off[0], 8 * (n + 1));
    assert_int_equal(off[n - 1], d->len); /* the last offset is the frame length */
    size_t cl = off[1] - off[0];
    assert_true(cl > 0 && cl < sizeof d->channel);
    memcpy(d->channel, d->raw + off[0], cl);
    d->channel[cl] = '\0';
    json_t **js[4] = {&d->header, &d->parent, &d->metadata, &d->content};
    for (int i = 0; i < 4; i++) {
        d->part[i] = d->raw + off[1 + i];
        d->part_len[i] = off[2 + i] - off[1 + i];
        *js[i] = json_loadb((const char *)d->part[i], d->part_len[i], 0, NULL);
    }
    d->nb = n - 6;
    for (size_t i = 0; i < d->nb; i++) {
        d->buf[i] = d->raw + off[5 + i];
        d->buf_len[i] = off[6 + i] - off[5 + i];
    }
}

static void decode_legacy(struct dmsg *d)
{
    const unsigned char *json = d->raw;
    size_t jlen = d->len;
    if (d->binary) {
        assert_true(d->len >= 8);
        uint32_t n = rd_u32be(d->raw);
        assert_true(n >= 2 && n - 1 <= TMAXBUF);
        assert_true(4 * ((size_t)n + 1) <= d->len);
        uint32_t off[1 + TMAXBUF];
        for (uint32_t i = 0; i < n; i++) {
            off[i] = rd_u32be(d->raw + 4 * (i + 1));
            assert_true(off[i] <= d->len);
            if (i)
                assert_true(off[i] >= off[i - 1]);
        }
        assert_int_equal(off[0], 4 * (n + 1));
        json = d->raw + off[0];
        jlen = off[1] - off[0];
        d->nb = n - 1;
        for (uint32_t i = 1; i < n; i++) {
            size_t end = i + 1 < n ? off[i + 1] : d->len;
            d->buf[i - 1] = d->raw + off[i];
            d->buf_len[i - 1] = end - off[i];
        }
    }
    json_error_t e;
    d->whole = json_loadb((const char *)json, jlen, 0, &e);
    if (!json_is_object(d->whole))
        fail_msg("legacy message is not a JSON object: %s", e.text);
    json_t *bufs = json_object_get(d->whole, "buffers");
    if (d->binary) {
        assert_null(bufs);
    } else {
        assert_true(json_is_array(bufs));
        assert_int_equal(json_array_size(bufs), 0);
    }
    const char *ch = json_string_value(json_object_get(d->whole, "channel"));
    assert_non_null(ch);
    snprintf(d->channel, sizeof d->channel, "%s", ch);
    static const char *const keys[4] = {"header", "parent_header", "metadata", "content"};
    json_t **js[4] = {&d->header, &d->parent, &d->metadata, &d->content};
    for (int i = 0; i < 4; i++) {
        *js[i] = json_incref(json_object_get(d->whole, keys[i]));
        assert_true(json_is_object(*js[i]));
    }
}

static void dlist_free(struct dlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct dmsg *d = &l->m[i];
        free(d->raw);
        json_decref(d->whole);
        json_decref(d->header);
        json_decref(d->parent);
        json_decref(d->metadata);
        json_decref(d->content);
    }
    free(l->m);
    memset(l, 0, sizeof *l);
}

/* Drain everything queued for c, rebuilding each WebSocket message from its pieces and
 * decoding it with the client's framing. */
static void collect(struct wsb_client *c, int v1, struct dlist *l)
{
    struct wsb_piece p;
    unsigned char *acc = NULL;
    size_t acc_len = 0, acc_cap = 0, guard = 0;
    int in_msg = 0, binary = 0;
    while (wsb_peek(c, &p)) {
        assert_true(++guard < 1000000);
        size_t before = wsb_queued(c);
        assert_true(p.len <= before);
        if (!in_msg) {
            assert_true(p.first);
            binary = p.binary;
            acc_len = 0;
        } else {
            assert_false(p.first);
        }
        /* the transport may write its frame header into the headroom, then restores it */
        unsigned char save[WSB_HEADROOM];
        memcpy(save, p.data - WSB_HEADROOM, WSB_HEADROOM);
        memset(p.data - WSB_HEADROOM, 0xa5, WSB_HEADROOM);
        if (acc_len + p.len > acc_cap) {
            acc_cap = (acc_len + p.len) * 2;
            acc = realloc(acc, acc_cap);
            assert_non_null(acc);
        }
        memcpy(acc + acc_len, p.data, p.len);
        acc_len += p.len;
        memcpy(p.data - WSB_HEADROOM, save, WSB_HEADROOM);
        l->pieces++;
        int fin = p.final;
        size_t plen = p.len;
        wsb_advance(c);
        assert_int_equal(wsb_queued(c), before - plen);
        in_msg = !fin;
        if (fin) {
            if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 16;
                l->m = realloc(l->m, l->cap * sizeof *l->m);
                assert_non_null(l->m);
            }
            struct dmsg *d = &l->m[l->n++];
            memset(d, 0, sizeof *d);
            d->raw = malloc(acc_len ? acc_len : 1);
            assert_non_null(d->raw);
            memcpy(d->raw, acc, acc_len);
            d->len = acc_len;
            d->binary = binary;
            if (v1)
                decode_v1(d);
            else
                decode_legacy(d);
        }
    }
    assert_false(in_msg);
    assert_int_equal(wsb_queued(c), 0);
    free(acc);
}

static const char *d_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static const char *d_type(const struct dmsg *d)
{
    return d_str(d->header, "msg_type");
}

static const char *d_id(const struct dmsg *d)
{
    return d_str(d->header, "msg_id");
}

static void expect_none(struct wsb_client *c)
{
    struct wsb_piece p;
    assert_int_equal(wsb_queued(c), 0);
    assert_int_equal(wsb_peek(c, &p), 0);
}

/* Exactly one message queued for c, with header msg_id `id` (and channel, when given). */
static void expect_one(struct wsb_client *c, int v1, const char *id, const char *channel)
{
    struct dlist l = {0};
    collect(c, v1, &l);
    size_t n = l.n;
    char got_id[128] = "", got_ch[32] = "";
    if (n) {
        snprintf(got_id, sizeof got_id, "%s", d_id(&l.m[0]));
        snprintf(got_ch, sizeof got_ch, "%s", l.m[0].channel);
    }
    dlist_free(&l);
    if (n != 1)
        fail_msg("expected message %s, got %zu messages", id, n);
    assert_string_equal(got_id, id);
    if (channel)
        assert_string_equal(got_ch, channel);
}

/* The msg_ids queued for c, in order, joined with spaces (caller frees). */
static char *collect_ids(struct wsb_client *c, int v1)
{
    struct dlist l = {0};
    collect(c, v1, &l);
    char *s = strdup("");
    for (size_t i = 0; i < l.n; i++) {
        char *n = xfmt("%s%s%s", s, i ? " " : "", d_id(&l.m[i]));
        free(s);
        s = n;
    }
    dlist_free(&l);
    return s;
}

/* ---- client messages ------------------------------------------------------------------ */

struct bytes {
    unsigned char *d;
    size_t n;
};

/* The v1 framing, written independently of ws.c. */
static struct bytes v1_frame(const char *channel, const char *const parts[4],
                             const struct jp_frame *bufs, size_t nb)
{
    size_t n = 6 + nb, cl = strlen(channel), len = 8 * (n + 1) + cl;
    for (int i = 0; i < 4; i++)
        len += strlen(parts[i]);
    for (size_t i = 0; i < nb; i++)
        len += bufs[i].len;
    unsigned char *d = malloc(len);
    assert_non_null(d);
    wr_u64le(d, n);
    size_t pos = 8 * (n + 1), oi = 0;
    wr_u64le(d + 8 * (1 + oi++), pos);
    memcpy(d + pos, channel, cl);
    pos += cl;
    for (int i = 0; i < 4; i++) {
        size_t pl = strlen(parts[i]);
        wr_u64le(d + 8 * (1 + oi++), pos);
        memcpy(d + pos, parts[i], pl);
        pos += pl;
    }
    for (size_t i = 0; i < nb; i++) {
        wr_u64le(d + 8 * (1 + oi++), pos);
        if (bufs[i].len)
            memcpy(d + pos, bufs[i].data, bufs[i].len);
        pos += bufs[i].len;
    }
    assert_int_equal(oi, n - 1);
    wr_u64le(d + 8 * (1 + oi), pos);
    assert_int_equal(pos, len);
    return (struct bytes){d, len};
}

/* The legacy binary framing: u32be n = 1 + nb, n offsets, the JSON, the buffers. */
static struct bytes legacy_bin_frame(const char *json, const struct jp_frame *bufs, size_t nb)
{
    size_t n = 1 + nb, jl = strlen(json), len = 4 * (n + 1) + jl;
    for (size_t i = 0; i < nb; i++)
        len += bufs[i].len;
    unsigned char *d = malloc(len);
    assert_non_null(d);
    wr_u32be(d, (uint32_t)n);
    size_t pos = 4 * (n + 1);
    wr_u32be(d + 4, (uint32_t)pos);
    memcpy(d + pos, json, jl);
    pos += jl;
    for (size_t i = 0; i < nb; i++) {
        wr_u32be(d + 4 * (2 + i), (uint32_t)pos);
        if (bufs[i].len)
            memcpy(d + pos, bufs[i].data, bufs[i].len);
        pos += bufs[i].len;
    }
    return (struct bytes){d, len};
}

static char *client_header(const char *msg_id, const char *type, const char *session)
{
    return xfmt("{\"msg_id\":\"%s\",\"msg_type\":\"%s\",\"session\":\"%s\",\"username\":\"u\","
                "\"date\":\"2024-05-01T10:00:00.000Z\",\"version\":\"5.3\"}",
                msg_id, type, session);
}

/* A legacy JSON request (channel NULL: no "channel" key). */
static char *legacy_request(const char *channel, const char *msg_id, const char *type,
                            const char *session)
{
    char *h = client_header(msg_id, type, session);
    char *ch = channel ? xfmt(",\"channel\":\"%s\"", channel) : strdup("");
    char *s = xfmt("{\"header\":%s,\"parent_header\":{},\"metadata\":{},\"content\":{\"code\":"
                   "\"1+1\",\"silent\":false}%s,\"buffers\":[]}",
                   h, ch);
    free(h);
    free(ch);
    return s;
}

static struct bytes v1_request(const char *channel, const char *msg_id, const char *type,
                               const char *session)
{
    char *h = client_header(msg_id, type, session);
    const char *parts[4] = {h, "{}", "{}", "{\"code\":\"1+1\"}"};
    struct bytes r = v1_frame(channel, parts, NULL, 0);
    free(h);
    return r;
}

/* wsb_receive on an exact-size copy, so that ASan sees any read past len */
static int receive_exact(struct wsb_client *c, const void *data, size_t len, int binary)
{
    void *x = malloc(len ? len : 1);
    assert_non_null(x);
    if (len)
        memcpy(x, data, len);
    int rc = wsb_receive(c, x, len, binary);
    free(x);
    return rc;
}

/* 1 when the bridge remembered a request msg_id from c: a reply parented to it with a session
 * nobody has comes back to c. The queue of c is emptied. */
static int probe_pending(struct wsb *b, const char *kid, struct wsb_client *c, int v1,
                         const char *msg_id)
{
    assert_int_equal(wsb_queued(c), 0);
    kernel_reply(b, kid, "shell", "probe-reply", "execute_reply", msg_id, "nobody");
    int got = wsb_queued(c) > 0;
    struct dlist l = {0};
    collect(c, v1, &l);
    dlist_free(&l);
    return got;
}

/* ---- 1-3: framing --------------------------------------------------------------------- */

static const char k_h1[] = "{ \"msg_id\" : \"out-1\" , \"msg_type\" : \"display_data\","
                           "\"session\":\"ks\", \"username\" : \"k\", "
                           "\"date\" : \"2024-05-01T10:00:00.000001Z\", \"version\" : \"5.3\" }";
static const char k_p1[] = "{ \"msg_id\" : \"req-1\",  \"session\" : \"S1\" }";
static const char k_m1[] = "{ }";
static const char k_c1[] = "{ \"data\" : { \"text/plain\" : \"x\" } ,\"metadata\":{ } }";

static void test_wsb_v1_iopub_with_buffers_byte_exact(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    assert_non_null(b);
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S1", 1, &g_tr, &ft);
    assert_non_null(c);
    assert_int_equal(wsb_connections(b), 1);
    expect_none(c);

    unsigned char b1[5] = {0, 1, 2, 0xff, 0xfe};
    unsigned char b2[1000];
    for (size_t i = 0; i < sizeof b2; i++)
        b2[i] = (unsigned char)(i * 7 + 3);
    struct tmsg *t = tmsg_new("iopub", k_h1, k_p1, k_m1, k_c1);
    tmsg_buffer(t, b1, sizeof b1);
    tmsg_buffer(t, b2, sizeof b2);
    wsb_on_iopub(b, "k1", &t->m);
    tmsg_free(t);
    assert_true(ft.want_writes >= 1);
    assert_int_equal(ft.closes, 0);

    const char *parts[4] = {k_h1, k_p1, k_m1, k_c1};
    struct jp_frame bufs[2] = {{b1, sizeof b1}, {b2, sizeof b2}};
    struct bytes want = v1_frame("iopub", parts, bufs, 2);
    assert_int_equal(wsb_queued(c), want.n);

    struct dlist l = {0};
    collect(c, 1, &l);
    assert_int_equal(l.n, 1);
    struct dmsg *d = &l.m[0];
    assert_true(d->binary);
    /* field by field */
    assert_int_equal(rd_u64le(d->raw), 6 + 2);
    assert_int_equal(rd_u64le(d->raw + 8), 8 * 9);
    assert_string_equal(d->channel, "iopub");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(d->part_len[i], strlen(parts[i]));
        assert_memory_equal(d->part[i], parts[i], strlen(parts[i]));
    }
    assert_int_equal(d->nb, 2);
    assert_int_equal(d->buf_len[0], sizeof b1);
    assert_memory_equal(d->buf[0], b1, sizeof b1);
    assert_int_equal(d->buf_len[1], sizeof b2);
    assert_memory_equal(d->buf[1], b2, sizeof b2);
    assert_int_equal(rd_u64le(d->raw + 8 * 8), d->len); /* offset[7] */
    /* and the whole frame */
    assert_int_equal(d->len, want.n);
    assert_memory_equal(d->raw, want.d, want.n);
    free(want.d);
    dlist_free(&l);

    wsb_closed(c);
    assert_int_equal(wsb_connections(b), 0);
    free_bridge(b);
}

static void test_wsb_legacy_text_without_buffers(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S2", 0, &g_tr, &ft);
    assert_non_null(c);

    /* msg_id with a quote and a backslash: the top-level copy must be escaped again */
    static const char H[] = "{ \"msg_id\" : \"e\\\"1\\\\x\" , \"msg_type\" : \"execute_result\","
                            " \"session\" : \"ks\",\"username\":\"k\", \"date\" : "
                            "\"2024-05-01T10:00:00.000001Z\", \"version\" : \"5.3\" }";
    static const char P[] =
        "{ \"msg_id\" : \"req-2\" , \"session\" : \"S2\", \"msg_type\" : \"execute_request\" }";
    static const char M[] = "{ \"meta\" : [ 1 , 2 ] }";
    static const char C[] = "{ \"data\" : { \"text/plain\" : \"caf\xc3\xa9 \\u00e9\" } , "
                            "\"execution_count\" : 3 , \"metadata\" : { } }";
    struct tmsg *t = tmsg_new("iopub", H, P, M, C);
    wsb_on_iopub(b, "k1", &t->m);
    tmsg_free(t);
    assert_true(ft.want_writes >= 1);

    struct dlist l = {0};
    collect(c, 0, &l);
    assert_int_equal(l.n, 1);
    struct dmsg *d = &l.m[0];
    assert_false(d->binary);
    const char *raw[4] = {H, P, M, C};
    json_t *got[4] = {d->header, d->parent, d->metadata, d->content};
    for (int i = 0; i < 4; i++) {
        json_t *want = json_loads(raw[i], 0, NULL);
        assert_non_null(want);
        assert_true(json_equal(want, got[i]));
        json_decref(want);
        /* relayed as the kernel wrote it */
        assert_non_null(memmem(d->raw, d->len, raw[i], strlen(raw[i])));
    }
    assert_string_equal(d_str(d->whole, "msg_id"), "e\"1\\x");
    assert_string_equal(d_str(d->whole, "msg_type"), "execute_result");
    assert_string_equal(d_str(d->whole, "channel"), "iopub");
    assert_int_equal(json_array_size(json_object_get(d->whole, "buffers")), 0);
    assert_int_equal(json_object_size(d->whole), 8);
    dlist_free(&l);
    wsb_closed(c);
    free_bridge(b);
}

static void test_wsb_legacy_binary_with_buffers(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S1", 0, &g_tr, &ft);
    assert_non_null(c);

    unsigned char b1[6] = {0, 'a', 0, 0xc3, 0x28, 0xff}; /* not UTF-8: buffers are bytes */
    unsigned char b2[300];
    for (size_t i = 0; i < sizeof b2; i++)
        b2[i] = (unsigned char)(255 - i);
    struct tmsg *t = tmsg_new("shell", k_h1, k_p1, k_m1, k_c1);
    tmsg_buffer(t, b1, sizeof b1);
    tmsg_buffer(t, b2, sizeof b2);
    wsb_on_reply(b, "k1", &t->m); /* routed by the parent's session, S1 */
    tmsg_free(t);

    struct dlist l = {0};
    collect(c, 0, &l);
    assert_int_equal(l.n, 1);
    struct dmsg *d = &l.m[0];
    assert_true(d->binary);
    assert_int_equal(rd_u32be(d->raw), 1 + 2);
    assert_int_equal(rd_u32be(d->raw + 4), 4 * 4);
    uint32_t o1 = rd_u32be(d->raw + 8), o2 = rd_u32be(d->raw + 12);
    assert_int_equal(o2 - o1, sizeof b1);
    assert_int_equal(d->len - o2, sizeof b2); /* the last buffer ends the frame */
    assert_int_equal(d->nb, 2);
    assert_memory_equal(d->buf[0], b1, sizeof b1);
    assert_memory_equal(d->buf[1], b2, sizeof b2);
    assert_null(json_object_get(d->whole, "buffers"));
    assert_int_equal(json_object_size(d->whole), 7);
    assert_string_equal(d->channel, "shell");
    assert_string_equal(d_str(d->whole, "msg_id"), "out-1");
    assert_string_equal(d_str(d->whole, "msg_type"), "display_data");
    const char *raw[4] = {k_h1, k_p1, k_m1, k_c1};
    json_t *got[4] = {d->header, d->parent, d->metadata, d->content};
    for (int i = 0; i < 4; i++) {
        json_t *want = json_loads(raw[i], 0, NULL);
        assert_true(json_equal(want, got[i]));
        json_decref(want);
        assert_non_null(memmem(d->raw, d->len, raw[i], strlen(raw[i])));
    }
    dlist_free(&l);
    wsb_closed(c);
    free_bridge(b);
}

/* A message bigger than a piece is written as several pieces: first on the first only,
 * final on the last only, and the pieces put together are the frame. */
static void test_wsb_big_message_in_pieces(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans f1 = {0}, f2 = {0};
    struct wsb_client *cv = wsb_open(b, "k1", "A", 1, &g_tr, &f1);
    struct wsb_client *cl = wsb_open(b, "k1", "B", 0, &g_tr, &f2);
    size_t big = 700000;
    unsigned char *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (unsigned char)(i * 31 + (i >> 9));
    struct tmsg *t = tmsg_new("iopub", k_h1, k_p1, k_m1, k_c1);
    tmsg_buffer(t, buf, big);
    wsb_on_iopub(b, "k1", &t->m);
    tmsg_free(t);

    struct dlist l = {0};
    collect(cv, 1, &l);
    assert_int_equal(l.n, 1);
    assert_true(l.pieces >= 2);
    assert_int_equal(l.m[0].nb, 1);
    assert_int_equal(l.m[0].buf_len[0], big);
    assert_memory_equal(l.m[0].buf[0], buf, big);
    dlist_free(&l);
    collect(cl, 0, &l);
    assert_int_equal(l.n, 1);
    assert_true(l.pieces >= 2);
    assert_true(l.m[0].binary);
    assert_int_equal(l.m[0].buf_len[0], big);
    assert_memory_equal(l.m[0].buf[0], buf, big);
    dlist_free(&l);

    /* a big text message too */
    char *content = stream_content("stdout", 600000);
    kernel_iopub(b, "k1", "big-text", "stream", NULL, NULL, content);
    free(content);
    collect(cl, 0, &l);
    assert_int_equal(l.n, 1);
    assert_true(l.pieces >= 2);
    assert_false(l.m[0].binary);
    assert_int_equal(strlen(d_str(l.m[0].content, "text")), 600000);
    dlist_free(&l);
    collect(cv, 1, &l);
    assert_int_equal(l.n, 1);
    dlist_free(&l);

    free(buf);
    wsb_closed(cv);
    wsb_closed(cl);
    free_bridge(b);
}

/* ---- 4: fan-out ----------------------------------------------------------------------- */

static void test_wsb_fanout_shares_frames(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans fa = {0}, fb = {0}, fc = {0}, fd = {0};
    struct wsb_client *a = wsb_open(b, "k1", "A", 1, &g_tr, &fa);
    struct wsb_client *bb = wsb_open(b, "k1", "B", 1, &g_tr, &fb);
    struct wsb_client *c = wsb_open(b, "k1", "C", 0, &g_tr, &fc);
    struct wsb_client *d = wsb_open(b, "k1", "D", 0, &g_tr, &fd);
    assert_int_equal(wsb_connections(b), 4);

    struct tmsg *t = tmsg_new("iopub", k_h1, k_p1, k_m1, k_c1);
    unsigned char b1[3] = {9, 8, 7};
    tmsg_buffer(t, b1, sizeof b1);
    wsb_on_iopub(b, "k1", &t->m);
    tmsg_free(t);
    assert_true(fa.want_writes >= 1 && fb.want_writes >= 1);
    assert_true(fc.want_writes >= 1 && fd.want_writes >= 1);

    struct wsb_piece pa, pb, pc, pd;
    assert_int_equal(wsb_peek(a, &pa), 1);
    assert_int_equal(wsb_peek(bb, &pb), 1);
    assert_int_equal(wsb_peek(c, &pc), 1);
    assert_int_equal(wsb_peek(d, &pd), 1);
    assert_ptr_equal(pa.data, pb.data); /* one frame, shared */
    assert_ptr_equal(pc.data, pd.data);
    assert_ptr_not_equal(pa.data, pc.data);

    struct dlist la = {0}, lb = {0}, lc = {0}, ld = {0};
    collect(a, 1, &la);
    collect(bb, 1, &lb);
    collect(c, 0, &lc);
    collect(d, 0, &ld);
    assert_int_equal(la.n, 1);
    assert_int_equal(lb.n, 1);
    assert_int_equal(lc.n, 1);
    assert_int_equal(ld.n, 1);
    assert_int_equal(la.m[0].len, lb.m[0].len);
    assert_memory_equal(la.m[0].raw, lb.m[0].raw, la.m[0].len);
    assert_int_equal(lc.m[0].len, ld.m[0].len);
    assert_memory_equal(lc.m[0].raw, ld.m[0].raw, lc.m[0].len);
    /* each framing is its own: v1 has 64-bit LE counts, legacy 32-bit BE */
    assert_int_equal(rd_u64le(la.m[0].raw), 7);
    assert_int_equal(rd_u32be(lc.m[0].raw), 2);
    assert_true(json_equal(la.m[0].content, lc.m[0].content));
    assert_true(json_equal(la.m[0].header, lc.m[0].header));
    assert_memory_equal(lc.m[0].buf[0], b1, 3);
    dlist_free(&la);
    dlist_free(&lb);
    dlist_free(&lc);
    dlist_free(&ld);

    /* content that is not UTF-8: v1 relays bytes; a legacy text frame cannot carry it, and
     * what a legacy client gets (if anything) must still be valid JSON (collect checks) */
    static const char bad[] = "{\"name\":\"stdout\",\"text\":\"\xff\xfe\"}";
    char *h = header_json("bad-utf8", "stream", "ks");
    t = tmsg_new("iopub", h, "{}", "{}", bad);
    free(h);
    wsb_on_iopub(b, "k1", &t->m);
    tmsg_free(t);
    collect(a, 1, &la);
    assert_int_equal(la.n, 1);
    assert_int_equal(la.m[0].part_len[3], strlen(bad));
    assert_memory_equal(la.m[0].part[3], bad, strlen(bad));
    dlist_free(&la);
    collect(bb, 1, &lb);
    assert_int_equal(lb.n, 1);
    dlist_free(&lb);
    collect(c, 0, &lc);
    assert_true(lc.n <= 1);
    dlist_free(&lc);
    collect(d, 0, &ld);
    dlist_free(&ld);
    /* and the next good message still reaches everyone */
    kernel_iopub(b, "k1", "good", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"ok\"}");
    expect_one(a, 1, "good", "iopub");
    expect_one(bb, 1, "good", "iopub");
    expect_one(c, 0, "good", "iopub");
    expect_one(d, 0, "good", "iopub");

    wsb_closed(a);
    wsb_closed(bb);
    wsb_closed(c);
    wsb_closed(d);
    assert_int_equal(wsb_connections(b), 0);
    free_bridge(b);
}

/* ---- 5: reply routing ----------------------------------------------------------------- */

static void test_wsb_reply_routing(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans fa = {0}, fb = {0}, fc = {0};
    struct wsb_client *a = wsb_open(b, "k1", "A", 0, &g_tr, &fa);
    struct wsb_client *bb = wsb_open(b, "k1", "B", 0, &g_tr, &fb);
    struct wsb_client *c = wsb_open(b, "k1", "C", 1, &g_tr, &fc);

    char *req = legacy_request("shell", "m1", "execute_request", "A");
    assert_int_equal(wsb_receive(a, req, strlen(req), 0), 0);
    free(req);
    /* the pending table wins over the parent's session */
    kernel_reply(b, "k1", "shell", "r1", "execute_reply", "m1", "X");
    expect_one(a, 0, "r1", "shell");
    expect_none(bb);
    expect_none(c);
    /* a reply consumes the entry */
    kernel_reply(b, "k1", "shell", "r1b", "execute_reply", "m1", "X");
    expect_none(a);
    expect_none(bb);
    expect_none(c);
    /* unknown parent msg_id: by the parent's session */
    kernel_reply(b, "k1", "shell", "r2", "execute_reply", "unknown", "B");
    expect_none(a);
    expect_one(bb, 0, "r2", "shell");
    expect_none(c);
    /* IOPub goes to everyone */
    kernel_iopub(b, "k1", "io1", "status", "m1", "A", "{\"execution_state\":\"busy\"}");
    expect_one(a, 0, "io1", "iopub");
    expect_one(bb, 0, "io1", "iopub");
    expect_one(c, 1, "io1", "iopub");

    /* stdin: an input_request does not consume the entry, the execute_reply does */
    req = legacy_request(NULL, "m2", "execute_request", "A"); /* no channel: shell */
    assert_int_equal(wsb_receive(a, req, strlen(req), 0), 0);
    free(req);
    kernel_reply(b, "k1", "stdin", "in2", "input_request", "m2", "X");
    expect_one(a, 0, "in2", "stdin");
    expect_none(bb);
    kernel_reply(b, "k1", "shell", "r3", "execute_reply", "m2", "X");
    expect_one(a, 0, "r3", "shell");
    expect_none(bb);

    /* control channel */
    req = legacy_request("control", "m4", "interrupt_request", "A");
    assert_int_equal(wsb_receive(a, req, strlen(req), 0), 0);
    free(req);
    kernel_reply(b, "k1", "control", "r4", "interrupt_reply", "m4", "X");
    expect_one(a, 0, "r4", "control");

    /* a v1 client's request */
    struct bytes v = v1_request("shell", "m3", "execute_request", "C");
    assert_int_equal(wsb_receive(c, v.d, v.n, 1), 0);
    free(v.d);
    kernel_reply(b, "k1", "shell", "r5", "execute_reply", "m3", "X");
    expect_one(c, 1, "r5", "shell");
    expect_none(a);
    expect_none(bb);

    /* a legacy binary request with buffers */
    char *h = client_header("m5", "comm_msg", "B");
    char *json = xfmt("{\"header\":%s,\"parent_header\":{},\"metadata\":{},\"content\":{\"comm_id\""
                      ":\"c\",\"data\":{}},\"channel\":\"shell\"}",
                      h);
    unsigned char bb1[4] = {1, 2, 3, 4};
    struct jp_frame fr[2] = {{bb1, 4}, {bb1, 0}};
    struct bytes lb = legacy_bin_frame(json, fr, 2);
    assert_int_equal(wsb_receive(bb, lb.d, lb.n, 1), 0);
    free(lb.d);
    free(json);
    free(h);
    kernel_reply(b, "k1", "shell", "r6", "comm_reply", "m5", "X");
    expect_one(bb, 0, "r6", "shell");
    expect_none(a);

    /* a reply for a session nobody has goes nowhere; a reply to another kernel too */
    kernel_reply(b, "k1", "shell", "r7", "execute_reply", "zz", "nobody");
    kernel_reply(b, "k-other", "shell", "r8", "execute_reply", "zz", "A");
    expect_none(a);
    expect_none(bb);
    expect_none(c);

    wsb_closed(a);
    wsb_closed(bb);
    wsb_closed(c);
    free_bridge(b);
}

/* Requests that never get a reply (comm_msg: JupyterLab's widgets send thousands) must not
 * stop the bridge from remembering later requests: a reply still goes to the client that sent
 * the request, also when its header names another session than the connection's. */
static void test_wsb_reply_routing_after_many_unanswered_requests(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans fa = {0};
    struct wsb_client *a = wsb_open(b, "k1", "A", 1, &g_tr, &fa);
    for (int i = 0; i < 30000; i++) {
        char id[32];
        snprintf(id, sizeof id, "comm-%d", i);
        struct bytes v = v1_request("shell", id, "comm_msg", "A");
        assert_int_equal(wsb_receive(a, v.d, v.n, 1), 0);
        free(v.d);
    }
    struct bytes v = v1_request("shell", "final", "execute_request", "hdr-A");
    assert_int_equal(wsb_receive(a, v.d, v.n, 1), 0);
    free(v.d);
    kernel_reply(b, "k1", "shell", "r-final", "execute_reply", "final", "hdr-A");
    expect_one(a, 1, "r-final", "shell");
    wsb_closed(a);
    free_bridge(b);
}

/* ---- 6: back-pressure ----------------------------------------------------------------- */

static int is_notice(const struct dmsg *d, const char *what)
{
    return strcmp(d_type(d), "stream") == 0 && strcmp(d_str(d->content, "name"), "stderr") == 0 &&
           strstr(d_str(d->content, "text"), what) != NULL;
}

/* Fill the queue of c with `n` stream messages of text_len bytes; returns the largest
 * wsb_queued seen. */
static size_t flood(struct wsb *b, struct wsb_client *c, int n, size_t text_len, const char *prefix)
{
    char *content = stream_content("stdout", text_len);
    size_t max_q = 0;
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s%d", prefix, i);
        kernel_iopub(b, "k1", id, "stream", "run-1", "S", content);
        if (wsb_queued(c) > max_q)
            max_q = wsb_queued(c);
    }
    free(content);
    return max_q;
}

/* slack: how far past limit + notice the queue of droppable output may grow */
static void backpressure(int v1, size_t text_len, size_t slack)
{
    const size_t limit = 4096;
    struct wsb *b = new_bridge(&(struct wsb_opts){.queue_limit = limit});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S", v1, &g_tr, &ft);
    assert_non_null(c);

    for (int episode = 0; episode < 2; episode++) {
        size_t max_q = flood(b, c, 40, text_len, episode ? "t" : "s");
        /* display output is dropped too */
        kernel_iopub(b, "k1", "dd", "display_data", "run-1", "S",
                     "{\"data\":{\"text/plain\":\"d\"},\"metadata\":{}}");
        kernel_iopub(b, "k1", "ud", "update_display_data", "run-1", "S",
                     "{\"data\":{\"text/plain\":\"d\"},\"metadata\":{},\"transient\":{}}");
        size_t q_out = wsb_queued(c);
        /* never dropped */
        kernel_iopub(b, "k1", "st", "status", "run-1", "S", "{\"execution_state\":\"idle\"}");
        kernel_iopub(b, "k1", "er", "error", "run-1", "S",
                     "{\"ename\":\"E\",\"evalue\":\"v\",\"traceback\":[]}");
        kernel_reply(b, "k1", "shell", "rp", "execute_reply", "run-1", "S");
        kernel_reply(b, "k1", "stdin", "in", "input_request", "run-1", "S");
        assert_true(wsb_queued(c) > q_out);

        struct dlist l = {0};
        collect(c, v1, &l);
        size_t streams = 0, notices = 0, notice_len = 0, notice_at = 0;
        for (size_t i = 0; i < l.n; i++) {
            struct dmsg *d = &l.m[i];
            if (is_notice(d, "cnote: output dropped")) {
                notices++;
                notice_len = d->len;
                notice_at = i;
                assert_string_equal(d->channel, "iopub");
                assert_string_equal(d_str(d->header, "session"), "S");
                assert_string_equal(d_str(d->parent, "msg_id"), "run-1");
            } else if (strcmp(d_type(d), "stream") == 0) {
                assert_string_equal(d_str(d->content, "name"), "stdout");
                streams++;
            }
            assert_string_not_equal(d_type(d), "display_data");
            assert_string_not_equal(d_type(d), "update_display_data");
        }
        assert_int_equal(notices, 1);
        assert_true(streams >= 1 && streams < 40);
        assert_int_equal(notice_at, streams); /* right after the last stream delivered */
        assert_int_equal(l.n, streams + 1 + 4);
        static const char *const tail_ids[4] = {"st", "er", "rp", "in"};
        static const char *const tail_ch[4] = {"iopub", "iopub", "shell", "stdin"};
        for (int i = 0; i < 4; i++) {
            assert_string_equal(d_id(&l.m[streams + 1 + (size_t)i]), tail_ids[i]);
            assert_string_equal(l.m[streams + 1 + (size_t)i].channel, tail_ch[i]);
        }
        dlist_free(&l);
        if (max_q > limit + notice_len + slack)
            fail_msg("queue grew to %zu bytes, limit %zu + notice %zu (v1=%d, text %zu)", max_q,
                     limit, notice_len, v1, text_len);

        /* drained: output flows again */
        kernel_iopub(b, "k1", "again", "stream", "run-1", "S",
                     "{\"name\":\"stdout\",\"text\":\"back\"}");
        expect_one(c, v1, "again", "iopub");
    }
    assert_int_equal(ft.closes, 0);
    wsb_closed(c);
    free_bridge(b);
}

static void test_wsb_backpressure_drops_output_only(void **state)
{
    (void)state;
    /* bounded, give or take the framing of one message (the exact bound is the next test) */
    backpressure(0, 1000, 256);
    backpressure(1, 1000, 256);
}

/* Sizes around the limit: the queue of stream output never passes limit + one notice (the
 * framed size of a message counts, not only its parts). */
static void test_wsb_backpressure_bound_is_exact(void **state)
{
    (void)state;
    for (size_t text = 900; text <= 1100; text += 7) {
        backpressure(0, text, 0);
        backpressure(1, text, 0);
    }
}

/* ---- 7: offline buffer ---------------------------------------------------------------- */

static void test_wsb_offline_replay(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){.replay_limit = 2000});
    struct ftrans f1 = {0}, f2 = {0}, f3 = {0};
    struct wsb_client *c1 = wsb_open(b, "k1", "S", 0, &g_tr, &f1);
    char *req = legacy_request("shell", "m1", "execute_request", "S");
    assert_int_equal(wsb_receive(c1, req, strlen(req), 0), 0);
    free(req);
    wsb_closed(c1);
    assert_int_equal(wsb_connections(b), 0);

    static const char out1[] = "{\"name\":\"stdout\",\"text\":\"one\"}";
    kernel_iopub(b, "k1", "o1", "stream", "m1", "S", out1);
    kernel_reply(b, "k1", "shell", "o2", "execute_reply", "m1", "X"); /* pending: S */
    kernel_iopub(b, "k1", "o3", "status", "m1", "S", "{\"execution_state\":\"idle\"}");
    kernel_reply(b, "k1", "shell", "o4", "execute_reply", "zz", "other"); /* not S's */
    kernel_reply(b, "k1", "stdin", "o5", "input_request", "zz", "S");
    kernel_iopub(b, "k1", "o6", "stream", NULL, NULL, out1);

    /* the same session comes back (with the other framing) and gets it all, in order */
    struct wsb_client *c2 = wsb_open(b, "k1", "S", 1, &g_tr, &f2);
    assert_non_null(c2);
    assert_true(f2.want_writes >= 1);
    struct dlist l = {0};
    collect(c2, 1, &l);
    assert_int_equal(l.n, 5);
    static const char *const ids[5] = {"o1", "o2", "o3", "o5", "o6"};
    static const char *const chs[5] = {"iopub", "shell", "iopub", "stdin", "iopub"};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(d_id(&l.m[i]), ids[i]);
        assert_string_equal(l.m[i].channel, chs[i]);
    }
    assert_int_equal(l.m[0].part_len[3], strlen(out1));
    assert_memory_equal(l.m[0].part[3], out1, strlen(out1));
    dlist_free(&l);
    /* replayed once only */
    kernel_iopub(b, "k1", "live", "stream", NULL, NULL, out1);
    expect_one(c2, 1, "live", "iopub");

    /* gone again; a client with another session gets none of what was kept */
    wsb_closed(c2);
    kernel_iopub(b, "k1", "p1", "stream", NULL, NULL, out1);
    kernel_reply(b, "k1", "shell", "p2", "execute_reply", "zz", "S");
    struct wsb_client *c3 = wsb_open(b, "k1", "T", 0, &g_tr, &f3);
    expect_none(c3);
    kernel_iopub(b, "k1", "p3", "stream", NULL, NULL, out1);
    expect_one(c3, 0, "p3", "iopub");
    wsb_closed(c3);

    /* bounds: stream output past replay_limit is not kept, a reply is */
    char *content = stream_content("stdout", 400);
    size_t total = 0;
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "q%d", i);
        total = kernel_iopub(b, "k1", id, "stream", NULL, NULL, content);
    }
    free(content);
    size_t kept = 2000 / total;
    assert_true(kept >= 1 && kept < 6);
    kernel_reply(b, "k1", "shell", "qr", "execute_reply", "zz", "T");
    struct ftrans f4 = {0};
    struct wsb_client *c4 = wsb_open(b, "k1", "T", 0, &g_tr, &f4);
    char *got = collect_ids(c4, 0);
    char want[128] = "";
    for (size_t i = 0; i < kept; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "q%zu ", i);
    snprintf(want + strlen(want), sizeof want - strlen(want), "qr");
    assert_string_equal(got, want);
    free(got);
    wsb_closed(c4);
    free_bridge(b); /* frees what is still kept for T */
}

static void test_wsb_offline_disabled(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){.no_offline = 1});
    struct ftrans f1 = {0}, f2 = {0};
    struct wsb_client *c1 = wsb_open(b, "k1", "S", 0, &g_tr, &f1);
    wsb_closed(c1);
    kernel_iopub(b, "k1", "o1", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    kernel_reply(b, "k1", "shell", "o2", "execute_reply", "zz", "S");
    struct wsb_client *c2 = wsb_open(b, "k1", "S", 0, &g_tr, &f2);
    expect_none(c2);
    wsb_closed(c2);
    free_bridge(b);
}

/* ---- 8: stale connection -------------------------------------------------------------- */

static void test_wsb_stale_connection_replaced(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans f1 = {0}, f2 = {0}, f3 = {0};
    struct wsb_client *c1 = wsb_open(b, "k1", "S", 0, &g_tr, &f1);
    struct wsb_client *c3 = wsb_open(b, "k1", "T", 0, &g_tr, &f3);
    struct wsb_client *c2 = wsb_open(b, "k1", "S", 1, &g_tr, &f2);
    assert_non_null(c2);
    assert_int_equal(f1.closes, 1);
    assert_int_equal(f1.code, 1000);
    assert_int_equal(f2.closes, 0);
    assert_int_equal(f3.closes, 0);

    int w1 = f1.want_writes;
    kernel_iopub(b, "k1", "x1", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    kernel_reply(b, "k1", "shell", "x2", "execute_reply", "zz", "S");
    assert_int_equal(f1.want_writes, w1); /* nothing more for the replaced one */
    expect_none(c1);
    char *ids = collect_ids(c2, 1);
    assert_string_equal(ids, "x1 x2");
    free(ids);
    expect_one(c3, 0, "x1", "iopub");
    /* what the replaced one still sends does not crash anything */
    char *req = legacy_request("shell", "old", "execute_request", "S");
    wsb_receive(c1, req, strlen(req), 0);
    free(req);
    wsb_closed(c1);
    assert_int_equal(wsb_connections(b), 2);
    assert_int_equal(f2.closes, 0);
    kernel_iopub(b, "k1", "x3", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    expect_one(c2, 1, "x3", "iopub");
    expect_one(c3, 0, "x3", "iopub");
    assert_int_equal(f1.closes, 1);
    wsb_closed(c2);
    wsb_closed(c3);
    free_bridge(b);
}

/* ---- 9: lifecycle --------------------------------------------------------------------- */

static void check_status(struct wsb_client *c, int v1, const char *session, const char *state)
{
    struct dlist l = {0};
    collect(c, v1, &l);
    assert_int_equal(l.n, 1);
    struct dmsg *d = &l.m[0];
    assert_string_equal(d->channel, "iopub");
    assert_string_equal(d_type(d), "status");
    assert_string_equal(d_str(d->header, "session"), session);
    assert_true(d_str(d->header, "msg_id")[0] != '\0');
    assert_true(json_is_object(d->parent));
    assert_int_equal(json_object_size(d->parent), 0);
    assert_true(json_is_object(d->metadata));
    assert_string_equal(d_str(d->content, "execution_state"), state);
    if (v1) {
        assert_int_equal(d->part_len[1], 2);
        assert_memory_equal(d->part[1], "{}", 2);
    } else {
        assert_string_equal(d_str(d->whole, "msg_type"), "status");
    }
    dlist_free(&l);
}

static void test_wsb_lifecycle(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans fl = {0}, fv = {0}, fo = {0};
    struct wsb_client *cl = wsb_open(b, "k1", "L", 0, &g_tr, &fl);
    struct wsb_client *cv = wsb_open(b, "k1", "V", 1, &g_tr, &fv);
    struct wsb_client *co = wsb_open(b, "k2", "O", 0, &g_tr, &fo);

    wsb_on_lifecycle(b, "k1", "restarting");
    check_status(cl, 0, "L", "restarting");
    check_status(cv, 1, "V", "restarting");
    expect_none(co);
    wsb_on_lifecycle(b, "k1", "dead");
    check_status(cl, 0, "L", "dead");
    check_status(cv, 1, "V", "dead");
    expect_none(co);
    wsb_on_lifecycle(b, "k1", "autorestarted");
    wsb_on_lifecycle(b, "k1", "culled");
    wsb_on_lifecycle(b, "unknown", "restarting");
    wsb_on_lifecycle(b, "unknown", "removed");
    expect_none(cl);
    expect_none(cv);
    assert_int_equal(fl.closes + fv.closes + fo.closes, 0);

    wsb_on_lifecycle(b, "k1", "removed");
    assert_int_equal(fl.closes, 1);
    assert_int_equal(fl.code, 1000);
    assert_int_equal(fv.closes, 1);
    assert_int_equal(fv.code, 1000);
    assert_int_equal(fo.closes, 0);
    kernel_iopub(b, "k1", "late", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    expect_none(cl);
    expect_none(cv);
    wsb_closed(cl);
    wsb_closed(cv);
    kernel_iopub(b, "k2", "k2msg", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    expect_one(co, 0, "k2msg", "iopub");
    wsb_closed(co);
    free_bridge(b);
}

/* ---- 10: rate limits ------------------------------------------------------------------ */

static void test_wsb_rate_limit_data(void **state)
{
    (void)state;
    char *content = stream_content("stdout", 250);
    /* the size of each stream message below (ids of one length), to set the limit at 4.5 of
     * them: 4 go through, and what stays in the window (4 of 4.5) is above the 80 % at which
     * output resumes, whether or not dropped messages are counted */
    char *h = header_json("r00", "stream", "kernel-session");
    char *p = parent_json("run-1", "S");
    struct tmsg *t = tmsg_new("iopub", h, p, "{}", content);
    size_t total = tmsg_total(t);
    tmsg_free(t);
    free(h);
    free(p);
    struct wsb *b = new_bridge(&(struct wsb_opts){
        .limit_rate = 1, .data_rate_limit = 4 * total + total / 2, .rate_window_s = 1});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S", 0, &g_tr, &ft);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%02d", i);
        assert_int_equal(kernel_iopub(b, "k1", id, "stream", "run-1", "S", content), total);
    }
    size_t kmax = 4;
    /* while exceeded: counted output is dropped, the rest is not */
    kernel_iopub(b, "k1", "dd", "display_data", "run-1", "S", "{\"data\":{},\"metadata\":{}}");
    kernel_iopub(b, "k1", "ei", "execute_input", "run-1", "S", "{\"code\":\"\"}");
    kernel_iopub(b, "k1", "co", "comm_open", "run-1", "S", "{\"comm_id\":\"c\"}");
    kernel_iopub(b, "k1", "sb", "status", "run-1", "S", "{\"execution_state\":\"busy\"}");
    kernel_reply(b, "k1", "shell", "rp", "execute_reply", "run-1", "S");
    kernel_iopub(b, "k1", "r98", "stream", "run-1", "S", content);
    /* idle resets */
    kernel_iopub(b, "k1", "idle", "status", "run-1", "S", "{ \"execution_state\" : \"idle\" }");
    kernel_iopub(b, "k1", "after", "stream", "run-2", "S", content);
    free(content);

    struct dlist l = {0};
    collect(c, 0, &l);
    assert_int_equal(l.n, kmax + 1 + 6);
    for (size_t i = 0; i < kmax; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%02zu", i);
        assert_string_equal(d_id(&l.m[i]), id);
    }
    struct dmsg *n = &l.m[kmax];
    assert_true(is_notice(n, "IOPub data rate exceeded"));
    assert_string_equal(n->channel, "iopub");
    assert_string_equal(d_str(n->parent, "msg_id"), "run-1");
    static const char *const rest[6] = {"ei", "co", "sb", "rp", "idle", "after"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(d_id(&l.m[kmax + 1 + i]), rest[i]);
    dlist_free(&l);
    wsb_closed(c);
    free_bridge(b);
}

static void test_wsb_rate_limit_messages(void **state)
{
    (void)state;
    struct wsb *b =
        new_bridge(&(struct wsb_opts){.limit_rate = 1, .msg_rate_limit = 5, .rate_window_s = 1});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S", 1, &g_tr, &ft);
    for (int i = 0; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%d", i);
        kernel_iopub(b, "k1", id, "display_data", "run-1", "S", "{\"data\":{},\"metadata\":{}}");
    }
    kernel_iopub(b, "k1", "idle", "status", "run-1", "S", "{\"execution_state\":\"idle\"}");
    kernel_iopub(b, "k1", "after", "display_data", "run-2", "S", "{\"data\":{},\"metadata\":{}}");
    char *ids = collect_ids(c, 1);
    /* the notice has a fresh uuid: check the ids around it */
    assert_int_equal(strncmp(ids, "d0 d1 d2 d3 d4 ", 15), 0);
    assert_true(strlen(ids) > 15 + 36);
    assert_string_equal(ids + 15 + 36, " idle after");
    free(ids);
    /* and that the one in the middle is the notice */
    kernel_iopub(b, "k1", "idle2", "status", "run-2", "S", "{\"execution_state\":\"idle\"}");
    for (int i = 0; i < 12; i++)
        kernel_iopub(b, "k1", "x", "display_data", "run-3", "S", "{\"data\":{},\"metadata\":{}}");
    struct dlist l = {0};
    collect(c, 1, &l);
    assert_int_equal(l.n, 7);
    assert_string_equal(d_id(&l.m[0]), "idle2");
    assert_true(is_notice(&l.m[6], "IOPub message rate exceeded"));
    assert_string_equal(d_str(l.m[6].parent, "msg_id"), "run-3");
    dlist_free(&l);
    wsb_closed(c);
    free_bridge(b);
}

/* As Jupyter Server does (channels.py _limit_rate: "we didn't send it, remove the current
 * message from the calculus"), a dropped message does not count toward the rates, so during
 * sustained output past the limit, output resumes once what was sent leaves the window. */
static void test_wsb_rate_limit_resumes_during_sustained_output(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(
        &(struct wsb_opts){.limit_rate = 1, .data_rate_limit = 2000, .rate_window_s = 1});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S", 0, &g_tr, &ft);
    char *content = stream_content("stdout", 250);
    size_t total = 0;
    int i = 0;
    for (; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        total = kernel_iopub(b, "k1", id, "stream", "run-1", "S", content);
    }
    size_t kmax = 2000 / total;
    struct dlist l = {0};
    collect(c, 0, &l);
    assert_int_equal(l.n, kmax + 1);
    dlist_free(&l);
    /* 20 messages a second (5 times the limit) for 1.5 windows */
    size_t after = 0;
    for (int k = 0; k < 30; k++, i++) {
        sleep_ms(50);
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        kernel_iopub(b, "k1", id, "stream", "run-1", "S", content);
        collect(c, 0, &l);
        for (size_t j = 0; j < l.n; j++)
            if (!is_notice(&l.m[j], "IOPub"))
                after++;
        dlist_free(&l);
    }
    free(content);
    if (after == 0)
        fail_msg("no output resumed in 1.5 s at 5x the data rate limit: dropped messages still "
                 "count toward the rate");
    wsb_closed(c);
    free_bridge(b);
}

/* ---- 11: malformed client input ------------------------------------------------------- */

static void test_wsb_malformed_v1(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S", 1, &g_tr, &ft);

    /* a well-formed one is accepted */
    struct bytes good = v1_request("shell", "good", "execute_request", "S");
    assert_int_equal(receive_exact(c, good.d, good.n, 1), 0);
    assert_int_equal(probe_pending(b, "k1", c, 1, "good"), 1);
    free(good.d);

    /* with a buffer too */
    char *h = client_header("gbuf", "comm_msg", "S");
    const char *parts[4] = {h, "{}", "{}", "{}"};
    struct jp_frame fr[1] = {{"abc", 3}};
    struct bytes gb = v1_frame("shell", parts, fr, 1);
    assert_int_equal(receive_exact(c, gb.d, gb.n, 1), 0);
    assert_int_equal(probe_pending(b, "k1", c, 1, "gbuf"), 1);
    free(gb.d);
    free(h);

    static const uint64_t bad_counts[] = {
        0, 1, 5, 1031, 1u << 20, (uint64_t)1 << 40, UINT64_MAX / 8, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_counts / sizeof *bad_counts; i++) {
        struct bytes v = v1_request("shell", "bad", "execute_request", "S");
        wr_u64le(v.d, bad_counts[i]);
        assert_int_equal(receive_exact(c, v.d, v.n, 1), 0);
        free(v.d);
    }
    assert_int_equal(probe_pending(b, "k1", c, 1, "bad"), 0);

    /* n = 6: offsets 0..5 at 8..55 */
    for (int kind = 0; kind < 12; kind++) {
        struct bytes v = v1_request("shell", "bad", "execute_request", "S");
        size_t len = v.n;
        unsigned char *o = v.d + 8;
        switch (kind) {
        case 0: /* an offset past the end */
            wr_u64le(o + 8 * 3, v.n + 100);
            break;
        case 1: /* decreasing offsets */
            wr_u64le(o + 8 * 2, rd_u64le(o + 8 * 3) + 1);
            break;
        case 2: /* last offset short of the length */
            wr_u64le(o + 8 * 5, v.n - 1);
            break;
        case 3: /* last offset past the length */
            wr_u64le(o + 8 * 5, v.n + 1);
            break;
        case 4: /* first offset inside the offset table */
            wr_u64le(o, 8);
            break;
        case 5: /* empty channel */
            wr_u64le(o + 8, rd_u64le(o));
            break;
        case 6: /* truncated inside the table */
            len = 40;
            break;
        case 7: /* truncated: the last offset is then wrong */
            len = v.n - 3;
            break;
        case 8: /* huge offsets */
            wr_u64le(o + 8 * 1, UINT64_MAX);
            wr_u64le(o + 8 * 2, UINT64_MAX);
            break;
        case 9:
            len = 0;
            break;
        case 10:
            len = 7;
            break;
        case 11: /* the header part is not JSON */
            memcpy(v.d + rd_u64le(o + 8), "XXXX", 4);
            break;
        }
        assert_int_equal(receive_exact(c, v.d, len, 1), 0);
        free(v.d);
        assert_int_equal(probe_pending(b, "k1", c, 1, "bad"), 0);
    }

    /* channels: too long, iopub, unknown */
    static const char *const chans[] = {"a-channel-name-too-long-for-anything", "iopub", "hb",
                                        "bogus"};
    for (size_t i = 0; i < sizeof chans / sizeof *chans; i++) {
        struct bytes v = v1_request(chans[i], "bad", "execute_request", "S");
        assert_int_equal(receive_exact(c, v.d, v.n, 1), 0);
        free(v.d);
        assert_int_equal(probe_pending(b, "k1", c, 1, "bad"), 0);
    }
    /* headers: no msg_type, an array, not an object */
    static const char *const hdrs[] = {"{\"msg_id\":\"bad\"}", "[\"msg_id\",\"bad\"]", "\"bad\"",
                                       "", "{\"msg_id\":\"bad\",\"msg_type\":7}"};
    for (size_t i = 0; i < sizeof hdrs / sizeof *hdrs; i++) {
        const char *p[4] = {hdrs[i], "{}", "{}", "{}"};
        struct bytes v = v1_frame("shell", p, NULL, 0);
        assert_int_equal(receive_exact(c, v.d, v.n, 1), 0);
        free(v.d);
        assert_int_equal(probe_pending(b, "k1", c, 1, "bad"), 0);
    }

    /* many buffers (each of one byte): no crash, whatever the bridge's own limit */
    static const size_t many[] = {64, 1024, 1025, 5000};
    for (size_t i = 0; i < sizeof many / sizeof *many; i++) {
        struct jp_frame *fb = calloc(many[i], sizeof *fb);
        assert_non_null(fb);
        for (size_t j = 0; j < many[i]; j++)
            fb[j] = (struct jp_frame){"z", 1};
        char *hm = client_header("many", "comm_msg", "S");
        const char *pm[4] = {hm, "{}", "{}", "{}"};
        struct bytes v = v1_frame("shell", pm, fb, many[i]);
        assert_int_equal(receive_exact(c, v.d, v.n, 1), 0);
        free(v.d);
        free(hm);
        free(fb);
        probe_pending(b, "k1", c, 1, "many");
    }

    /* a text frame on a v1 client */
    char *req = legacy_request("shell", "bad", "execute_request", "S");
    assert_int_equal(receive_exact(c, req, strlen(req), 0), 0);
    free(req);
    assert_int_equal(probe_pending(b, "k1", c, 1, "bad"), 0);

    expect_none(c);
    assert_int_equal(ft.closes, 0);
    wsb_closed(c);
    free_bridge(b);
}

static void test_wsb_malformed_legacy(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans ft = {0};
    struct wsb_client *c = wsb_open(b, "k1", "S", 0, &g_tr, &ft);

    char *h = client_header("bad", "execute_request", "S");
    char *hnotype = xfmt("{\"msg_id\":\"bad\",\"session\":\"S\"}");
    char *texts[] = {
        xfmt("not json"),
        xfmt("%s", ""),
        xfmt("[]"),
        xfmt("{}"),
        xfmt("null"),
        xfmt("{\"header\":\"bad\"}"),
        xfmt("{\"header\":%s,\"content\":\"a string\"}", h),
        xfmt("{\"header\":%s,\"content\":[1,2]}", h),
        xfmt("{\"header\":%s,\"metadata\":7}", h),
        xfmt("{\"header\":%s,\"parent_header\":\"x\"}", h),
        xfmt("{\"header\":%s}", hnotype),
        xfmt("{\"header\":%s,\"channel\":\"iopub\"}", h),
        xfmt("{\"header\":%s,\"channel\":\"nope\"}", h),
        xfmt("{\"header\":%s", h),
        xfmt("{\"header\":%s,\"content\":{}} trailing", h),
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        assert_int_equal(receive_exact(c, texts[i], strlen(texts[i]), 0), 0);
        assert_int_equal(probe_pending(b, "k1", c, 0, "bad"), 0);
        free(texts[i]);
    }
    /* a NUL inside the text */
    char *nul = legacy_request("shell", "bad", "execute_request", "S");
    size_t nl = strlen(nul);
    nul[nl / 2] = '\0';
    assert_int_equal(receive_exact(c, nul, nl, 0), 0);
    free(nul);
    assert_int_equal(probe_pending(b, "k1", c, 0, "bad"), 0);

    /* binary: a good one is accepted */
    char *json = xfmt("{\"header\":%s,\"parent_header\":{},\"metadata\":{},\"content\":{},"
                      "\"channel\":\"shell\"}",
                      h);
    unsigned char bb[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct jp_frame fr[2] = {{bb, 5}, {bb + 5, 3}};
    struct bytes good = legacy_bin_frame(json, fr, 2);
    assert_int_equal(receive_exact(c, good.d, good.n, 1), 0);
    assert_int_equal(probe_pending(b, "k1", c, 0, "bad"), 1);
    /* n = 3: offsets at 4, 8, 12 */
    for (int kind = 0; kind < 12; kind++) {
        unsigned char *v = malloc(good.n);
        memcpy(v, good.d, good.n);
        size_t len = good.n;
        switch (kind) {
        case 0: /* count 0 */
            wr_u32be(v, 0);
            break;
        case 1: /* huge count */
            wr_u32be(v, UINT32_MAX);
            break;
        case 2: /* too many parts for the frame */
            wr_u32be(v, 1000);
            break;
        case 3: /* first offset inside the table */
            wr_u32be(v + 4, 4);
            break;
        case 4: /* first offset past the end */
            wr_u32be(v + 4, (uint32_t)good.n + 10);
            break;
        case 5: /* decreasing */
            wr_u32be(v + 8, rd_u32be(v + 4) - 1);
            break;
        case 6: /* a buffer offset past the end */
            wr_u32be(v + 12, (uint32_t)good.n + 1);
            break;
        case 7: /* the last buffer starts before the one before it */
            wr_u32be(v + 12, rd_u32be(v + 8) - 1);
            break;
        case 8:
            len = 7;
            break;
        case 9: /* truncated in the table */
            len = 12;
            break;
        case 10: /* the JSON cut short */
            wr_u32be(v + 8, rd_u32be(v + 4) + 10);
            break;
        case 11: /* count 1 with the JSON running to the end (buffers become JSON) */
            wr_u32be(v, 1);
            break;
        }
        assert_int_equal(receive_exact(c, v, len, 1), 0);
        free(v);
        assert_int_equal(probe_pending(b, "k1", c, 0, "bad"), 0);
    }
    free(good.d);
    /* many buffers: no crash, whatever the bridge's own limit */
    static const size_t many[] = {63, 64, 65, 66, 200};
    for (size_t i = 0; i < sizeof many / sizeof *many; i++) {
        struct jp_frame *fb = calloc(many[i], sizeof *fb);
        assert_non_null(fb);
        for (size_t j = 0; j < many[i]; j++)
            fb[j] = (struct jp_frame){"z", 1};
        struct bytes v = legacy_bin_frame(json, fb, many[i]);
        assert_int_equal(receive_exact(c, v.d, v.n, 1), 0);
        free(v.d);
        free(fb);
        probe_pending(b, "k1", c, 0, "bad");
    }
    free(json);
    free(h);
    free(hnotype);
    expect_none(c);
    assert_int_equal(ft.closes, 0);
    wsb_closed(c);
    free_bridge(b);
}

static void test_wsb_random_client_input(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans fv = {0}, fl = {0};
    struct wsb_client *cv = wsb_open(b, "k1", "V", 1, &g_tr, &fv);
    struct wsb_client *cl = wsb_open(b, "k1", "L", 0, &g_tr, &fl);
    unsigned seed = 12345;
    unsigned char buf[512];
    for (int i = 0; i < 4000; i++) {
        size_t len = (size_t)rand_r(&seed) % sizeof buf;
        for (size_t j = 0; j < len; j++)
            buf[j] = (unsigned char)rand_r(&seed);
        /* sometimes a plausible count at the front */
        if (len >= 8 && i % 3 == 0) {
            if (i % 2)
                wr_u64le(buf, 6 + (uint64_t)(rand_r(&seed) % 4));
            else
                wr_u32be(buf, 1 + (uint32_t)(rand_r(&seed) % 4));
        }
        int bin = i & 1;
        unsigned char *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
        memcpy(copy, buf, len);
        assert_int_equal(receive_exact(cv, copy, len, bin), 0);
        assert_int_equal(receive_exact(cl, copy, len, bin), 0);
        free(copy);
    }
    /* mutations of well-formed frames */
    struct bytes v = v1_request("shell", "mut", "execute_request", "V");
    char *h = client_header("mut", "execute_request", "L");
    char *json = xfmt("{\"header\":%s,\"parent_header\":{},\"metadata\":{},\"content\":{}}", h);
    struct jp_frame fr[1] = {{"xyz", 3}};
    struct bytes lb = legacy_bin_frame(json, fr, 1);
    char *text = legacy_request("shell", "mut", "execute_request", "L");
    size_t tl = strlen(text);
    for (int i = 0; i < 3000; i++) {
        const unsigned char *src = i % 3 == 0 ? v.d : i % 3 == 1 ? lb.d : (unsigned char *)text;
        size_t n = i % 3 == 0 ? v.n : i % 3 == 1 ? lb.n : tl;
        unsigned char *m = malloc(n);
        memcpy(m, src, n);
        int flips = 1 + rand_r(&seed) % 4;
        for (int k = 0; k < flips; k++)
            m[(size_t)rand_r(&seed) % n] = (unsigned char)rand_r(&seed);
        size_t len = rand_r(&seed) % 8 == 0 ? (size_t)rand_r(&seed) % n : n;
        struct wsb_client *c = i % 3 == 0 ? cv : cl;
        assert_int_equal(receive_exact(c, m, len, i % 3 != 2), 0);
        free(m);
    }
    free(v.d);
    free(lb.d);
    free(json);
    free(h);
    free(text);
    /* still working */
    kernel_iopub(b, "k1", "still", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    expect_one(cv, 1, "still", "iopub");
    expect_one(cl, 0, "still", "iopub");
    assert_int_equal(fv.closes + fl.closes, 0);
    wsb_closed(cv);
    wsb_closed(cl);
    free_bridge(b);
}

/* ---- 12: events clients, connection counts, kernel ids -------------------------------- */

static void test_wsb_events_client(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans fe = {0}, fk = {0};
    struct wsb_client *e = wsb_open(b, NULL, "E", 0, &g_tr, &fe);
    assert_non_null(e);
    assert_int_equal(wsb_connections(b), 0); /* counted nowhere */
    struct wsb_client *k = wsb_open(b, "k1", "E", 0, &g_tr, &fk);
    assert_int_equal(wsb_connections(b), 1);
    assert_int_equal(fe.closes, 0); /* same session, but not a kernel client */
    kernel_iopub(b, "k1", "x", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    kernel_reply(b, "k1", "shell", "y", "execute_reply", "zz", "E");
    wsb_on_lifecycle(b, "k1", "restarting");
    expect_none(e);
    assert_int_equal(fe.want_writes, 0);
    char *ids = collect_ids(k, 0);
    assert_int_equal(strncmp(ids, "x y ", 4), 0);
    free(ids);
    char *req = legacy_request("shell", "m", "execute_request", "E");
    assert_int_equal(wsb_receive(e, req, strlen(req), 0), 0);
    assert_int_equal(wsb_receive(e, "\x01\x02", 2, 1), 0);
    free(req);
    wsb_on_lifecycle(b, "k1", "removed");
    assert_int_equal(fe.closes, 0);
    assert_int_equal(fk.closes, 1);
    wsb_closed(e);
    wsb_closed(k);
    assert_int_equal(wsb_connections(b), 0);
    free_bridge(b);
}

/* Clients still open at wsb_free are freed with it; messages for kernels nobody opened are
 * ignored. */
static void test_wsb_free_with_open_clients(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    assert_non_null(b);
    struct ftrans f1 = {0}, f2 = {0};
    kernel_iopub(b, "nobody", "x", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    kernel_reply(b, "nobody", "shell", "y", "execute_reply", "zz", "S");
    wsb_on_lifecycle(b, "nobody", "dead");
    struct wsb_client *c1 = wsb_open(b, "k1", "S", 0, &g_tr, &f1);
    struct wsb_client *c2 = wsb_open(b, "k2", "S", 1, &g_tr, &f2);
    assert_non_null(c1);
    assert_non_null(c2);
    char *req = legacy_request("shell", "m", "execute_request", "S");
    wsb_receive(c1, req, strlen(req), 0);
    free(req);
    kernel_iopub(b, "k1", "q", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    kernel_iopub(b, "k2", "q", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    assert_int_equal(wsb_connections(b), 2);
    free_bridge(b); /* with queued messages and a pending request */
    wsb_free(NULL);
    struct wsb *b0 = wsb_new(NULL, NULL); /* no options: the defaults */
    assert_non_null(b0);
    wsb_free(b0);
}

/* Without a kernel manager any kernel id is accepted (ws.h), whatever its length: a long id
 * is either refused (NULL) or names one kernel like any other, never silently a new one. */
static void test_wsb_long_kernel_id(void **state)
{
    (void)state;
    struct wsb *b = new_bridge(&(struct wsb_opts){0});
    struct ftrans f1 = {0}, f2 = {0};
    char id[80];
    memset(id, 'k', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    struct wsb_client *c1 = wsb_open(b, id, "S", 0, &g_tr, &f1);
    if (!c1) {
        free_bridge(b);
        return;
    }
    struct wsb_client *c2 = wsb_open(b, id, "S", 0, &g_tr, &f2);
    assert_non_null(c2);
    assert_int_equal(f1.closes, 1); /* the same kernel: replaced */
    kernel_iopub(b, id, "x", "stream", NULL, NULL, "{\"name\":\"stdout\",\"text\":\"x\"}");
    expect_one(c2, 0, "x", "iopub");
    wsb_closed(c1);
    wsb_closed(c2);
    free_bridge(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_wsb_v1_iopub_with_buffers_byte_exact, teardown),
        cmocka_unit_test_teardown(test_wsb_legacy_text_without_buffers, teardown),
        cmocka_unit_test_teardown(test_wsb_legacy_binary_with_buffers, teardown),
        cmocka_unit_test_teardown(test_wsb_big_message_in_pieces, teardown),
        cmocka_unit_test_teardown(test_wsb_fanout_shares_frames, teardown),
        cmocka_unit_test_teardown(test_wsb_reply_routing, teardown),
        cmocka_unit_test_teardown(test_wsb_reply_routing_after_many_unanswered_requests, teardown),
        cmocka_unit_test_teardown(test_wsb_backpressure_drops_output_only, teardown),
        cmocka_unit_test_teardown(test_wsb_backpressure_bound_is_exact, teardown),
        cmocka_unit_test_teardown(test_wsb_offline_replay, teardown),
        cmocka_unit_test_teardown(test_wsb_offline_disabled, teardown),
        cmocka_unit_test_teardown(test_wsb_stale_connection_replaced, teardown),
        cmocka_unit_test_teardown(test_wsb_lifecycle, teardown),
        cmocka_unit_test_teardown(test_wsb_rate_limit_data, teardown),
        cmocka_unit_test_teardown(test_wsb_rate_limit_messages, teardown),
        cmocka_unit_test_teardown(test_wsb_rate_limit_resumes_during_sustained_output, teardown),
        cmocka_unit_test_teardown(test_wsb_malformed_v1, teardown),
        cmocka_unit_test_teardown(test_wsb_malformed_legacy, teardown),
        cmocka_unit_test_teardown(test_wsb_random_client_input, teardown),
        cmocka_unit_test_teardown(test_wsb_events_client, teardown),
        cmocka_unit_test_teardown(test_wsb_free_with_open_clients, teardown),
        cmocka_unit_test_teardown(test_wsb_long_kernel_id, teardown),
    };
    /* bad input is logged by design: keep the output to the results unless asked */
    if (!getenv("WS_TEST_VERBOSE"))
        jp_log_set_level("error");
    if (getenv("WS_TEST_FILTER"))
        cmocka_set_test_filter(getenv("WS_TEST_FILTER"));
    return cmocka_run_group_tests_name("ws", tests, NULL, NULL);
}
