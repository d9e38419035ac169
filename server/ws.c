/*
 * ws.c - the kernel WebSocket bridge (see ws.h).
 *
 * Data model: a message from a kernel is framed at most once per framing into a refcounted
 * blob (WSB_HEADROOM bytes of room, then the frame payload); every client that gets it queues
 * a reference. A client's queue is written piece by piece (PIECE bytes at most, as WebSocket
 * continuation frames) so a big output never has to be copied into the transport's own
 * buffers. Offline messages are kept unframed (copied parts), because the client that comes
 * back may negotiate the other framing.
 */
#include "ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jp_buf.h"
#include "jp_bytes.h"
#include "jp_log.h"
#include "jp_time.h"
#include "jp_uuid.h"

#define MIB ((size_t)1024 * 1024)
#define PIECE ((size_t)256 * 1024) /* bytes per written piece */
#define PENDING_MAX 20000          /* msg_id -> session entries per kernel */
#define NBUCKETS 1024              /* kernel table */
#define SESSION_LEN 128

struct blob {
    int refs;
    int binary;
    size_t len;
    unsigned char mem[]; /* WSB_HEADROOM, then len bytes */
};

struct qent {
    struct qent *next;
    struct blob *blob;
};

/* a message to frame: borrowed pieces */
struct src {
    const char *channel;
    const struct jp_frame *parts; /* 4 */
    const struct jp_frame *buffers;
    size_t nb;
    const char *msg_id;
    const char *msg_type;
    size_t bytes; /* of the four parts and the buffers (src_init) */
};

/* A message to frame; bytes is worked out here, once per message. */
static struct src src_init(const char *channel, const struct jp_frame *parts,
                           const struct jp_frame *buffers, size_t nb, const char *msg_id,
                           const char *msg_type)
{
    struct src s = {channel, parts, buffers, nb, msg_id, msg_type, 0};
    for (int i = 0; i < 4; i++)
        s.bytes += parts[i].len;
    for (size_t i = 0; i < nb; i++)
        s.bytes += buffers[i].len;
    return s;
}

/* an unframed copy kept while no client is connected */
struct smsg {
    struct smsg *next;
    char channel[8];
    char msg_id[128];
    char msg_type[64];
    int droppable;
    size_t total;
    size_t nb;
    struct jp_frame parts[4];
    struct jp_frame *buffers; /* into the same allocation */
};

struct pend {
    struct pend *next;          /* bucket chain */
    struct pend *older, *newer; /* insertion order, for evicting the oldest */
    char *msg_id;
    char session[SESSION_LEN];
};

struct wkernel {
    struct wkernel *hnext; /* bucket chain */
    char id[128];
    struct wsb_client *clients;
    int n_clients;
    /* msg_id -> session of the requests clients sent on shell/control */
    struct pend **pend;
    size_t pend_buckets, n_pend;
    struct pend *oldest, *newest;
    /* offline buffer */
    /* client messages held until the kernel is ready (what it publishes before our IOPub
     * subscription works would be lost) */
    struct smsg *held_head, *held_tail;
    size_t held_bytes, held_count;
    int offline;
    char off_session[SESSION_LEN];
    struct smsg *off_head, *off_tail;
    size_t off_bytes, off_count, off_dropped;
    int hold; /* the kernel's IOPub is held for us (hold_check) */
};

struct rate_ent {
    int64_t t_us;
    size_t bytes;
};

struct wsb_client {
    struct wsb *b;
    struct wkernel *k; /* NULL: events client */
    struct wsb_client *next, *prev;
    char session[SESSION_LEN];
    int v1;
    const struct wsb_transport *t;
    void *tctx;
    struct qent *qhead, *qtail;
    size_t queued; /* bytes not yet written */
    size_t off;    /* written bytes of the head blob */
    int closing;
    /* back-pressure */
    int dropping;
    size_t dropped_msgs, dropped_bytes;
    /* rate limits */
    struct rate_ent *rw;
    size_t rw_n, rw_cap, rw_start;
    size_t rw_bytes;
    int msg_exceeded, data_exceeded;
};

struct wsb {
    struct kmgr *kmgr;
    struct wsb_opts o;
    struct wkernel *tab[NBUCKETS];
    int connections;
    struct jp_session sess;
    struct wsb_counters cnt;
};

/* ---- small helpers -------------------------------------------------------------------- */

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct wkernel *kfind(struct wsb *b, const char *id, int create)
{
    unsigned i = hash_str(id) % NBUCKETS;
    for (struct wkernel *k = b->tab[i]; k; k = k->hnext)
        if (strcmp(k->id, id) == 0)
            return k;
    if (!create)
        return NULL;
    struct wkernel *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    snprintf(k->id, sizeof k->id, "%s", id);
    k->hnext = b->tab[i];
    b->tab[i] = k;
    return k;
}

static void blob_unref(struct blob *bl)
{
    if (bl && --bl->refs == 0)
        free(bl);
}

static struct blob *blob_new(size_t len, int binary)
{
    struct blob *bl = malloc(sizeof *bl + WSB_HEADROOM + len);
    if (!bl)
        return NULL;
    bl->refs = 1;
    bl->binary = binary;
    bl->len = len;
    return bl;
}

static int utf8_ok(const unsigned char *p, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = p[i] < 0x80 ? 1 : jp_utf8_len(p + i, n - i)))
            return 0;
    return 1;
}

/* ---- framing -------------------------------------------------------------------------- */

/* v1: u64le N = 6 + nbuffers, N offsets, then channel, the four parts, the buffers; the last
 * offset is the frame length. */
static struct blob *frame_v1(const struct src *s)
{
    size_t n_off = 6 + s->nb, cl = strlen(s->channel);
    size_t len = 8 * (n_off + 1) + cl + s->bytes;
    struct blob *bl = blob_new(len, 1);
    if (!bl)
        return NULL;
    unsigned char *base = bl->mem + WSB_HEADROOM, *p = base + 8 * (n_off + 1);
    jp_put_le64(base, n_off);
    size_t oi = 0;
    jp_put_le64(base + 8 * (1 + oi++), (uint64_t)(p - base));
    memcpy(p, s->channel, cl);
    p += cl;
    for (int i = 0; i < 4; i++) {
        jp_put_le64(base + 8 * (1 + oi++), (uint64_t)(p - base));
        if (s->parts[i].len)
            memcpy(p, s->parts[i].data, s->parts[i].len);
        p += s->parts[i].len;
    }
    for (size_t i = 0; i < s->nb; i++) {
        jp_put_le64(base + 8 * (1 + oi++), (uint64_t)(p - base));
        if (s->buffers[i].len)
            memcpy(p, s->buffers[i].data, s->buffers[i].len);
        p += s->buffers[i].len;
    }
    jp_put_le64(base + 8 * (1 + oi), (uint64_t)(p - base));
    return bl;
}

static unsigned char *put(unsigned char *p, const void *d, size_t n)
{
    if (n)
        memcpy(p, d, n);
    return p + n;
}

/* legacy: one JSON object; text without buffers, else u32be n = 1 + nbuffers, n offsets, the
 * JSON (without "buffers"), the buffers. NULL when a part is not valid UTF-8 (a text frame
 * cannot carry it) or on out-of-memory. */
static struct blob *frame_legacy(const struct src *s)
{
    for (int i = 0; i < 4; i++)
        if (!utf8_ok(s->parts[i].data, s->parts[i].len))
            return NULL;
    struct jp_buf id, ty, ch;
    jp_buf_init(&id, 4096);
    jp_buf_init(&ty, 4096);
    jp_buf_init(&ch, 4096);
    if (jp_buf_add_jstr(&id, s->msg_id) || jp_buf_add_jstr(&ty, s->msg_type) ||
        jp_buf_add_jstr(&ch, s->channel)) {
        jp_buf_dispose(&id);
        jp_buf_dispose(&ty);
        jp_buf_dispose(&ch);
        return NULL;
    }
    static const char k_h[] = "{\"header\":", k_id[] = ",\"msg_id\":", k_ty[] = ",\"msg_type\":",
                      k_p[] = ",\"parent_header\":", k_m[] = ",\"metadata\":",
                      k_c[] = ",\"content\":", k_b[] = ",\"buffers\":[]", k_ch[] = ",\"channel\":";
    int binary = s->nb > 0;
    size_t json_len = sizeof k_h + sizeof k_id + sizeof k_ty + sizeof k_p + sizeof k_m +
                      sizeof k_c + sizeof k_ch - 7 + id.len + ty.len + ch.len + 1;
    if (!binary)
        json_len += sizeof k_b - 1;
    for (int i = 0; i < 4; i++)
        json_len += s->parts[i].len ? s->parts[i].len : 2;
    size_t head = binary ? 4 * (1 + 1 + s->nb) : 0, len = head + json_len;
    for (size_t i = 0; i < s->nb; i++)
        len += s->buffers[i].len;
    struct blob *bl = blob_new(len, binary);
    if (bl) {
        unsigned char *base = bl->mem + WSB_HEADROOM, *p = base + head;
        const char *keys[4] = {k_h, k_p, k_m, k_c};
        for (int i = 0; i < 4; i++) {
            p = put(p, keys[i], strlen(keys[i]));
            p = s->parts[i].len ? put(p, s->parts[i].data, s->parts[i].len) : put(p, "{}", 2);
            if (i == 0) {
                p = put(p, k_id, sizeof k_id - 1);
                p = put(p, id.data, id.len);
                p = put(p, k_ty, sizeof k_ty - 1);
                p = put(p, ty.data, ty.len);
            }
        }
        if (!binary)
            p = put(p, k_b, sizeof k_b - 1);
        p = put(p, k_ch, sizeof k_ch - 1);
        p = put(p, ch.data, ch.len);
        p = put(p, "}", 1);
        if (binary) {
            jp_put_be32(base, (uint32_t)(1 + s->nb));
            jp_put_be32(base + 4, (uint32_t)head);
            for (size_t i = 0; i < s->nb; i++) {
                jp_put_be32(base + 4 * (2 + i), (uint32_t)(p - base));
                p = put(p, s->buffers[i].data, s->buffers[i].len);
            }
        }
        bl->len = (size_t)(p - base);
    }
    jp_buf_dispose(&id);
    jp_buf_dispose(&ty);
    jp_buf_dispose(&ch);
    return bl;
}

/* ---- client queues -------------------------------------------------------------------- */

static size_t queue_limit(const struct wsb *b)
{
    return b->o.queue_limit ? b->o.queue_limit : 32 * MIB;
}

static int enqueue(struct wsb_client *c, struct blob *bl)
{
    struct qent *q = malloc(sizeof *q);
    if (!q)
        return -1;
    bl->refs++;
    q->blob = bl;
    q->next = NULL;
    if (c->qtail)
        c->qtail->next = q;
    else
        c->qhead = q;
    c->qtail = q;
    c->queued += bl->len;
    if (!c->closing)
        c->t->want_write(c->tctx);
    return 0;
}

/* Back-pressure to the kernel: while even the client furthest ahead has more than a quarter
 * of the queue limit waiting, the kernel's IOPub is not read (kmgr_hold_iopub), so its output
 * waits in the kernel rather than here; below a sixteenth it is read again. A slow client
 * thus slows the kernel only while no other client is faster, and kmgr ends a hold after a
 * second, after which a client that still reads nothing gets the per-client limit (output
 * dropped, with a notice) as before. */
static void hold_check(struct wsb *b, struct wkernel *k)
{
    size_t lim = queue_limit(b), least = SIZE_MAX;
    int any = 0;
    if (!b->kmgr)
        return;
    for (struct wsb_client *c = k->clients; c; c = c->next) {
        if (c->closing)
            continue;
        any = 1;
        if (c->queued < least)
            least = c->queued;
    }
    if (!k->hold && any && least > lim / 4) {
        k->hold = 1;
        b->cnt.iopub_holds++;
        kmgr_hold_iopub(b->kmgr, k->id, 1);
    } else if (k->hold && (!any || least < lim / 16)) {
        k->hold = 0;
        kmgr_hold_iopub(b->kmgr, k->id, 0);
    }
}

static int droppable(const char *channel, const char *type)
{
    return strcmp(channel, "iopub") == 0 &&
           (strcmp(type, "stream") == 0 || strcmp(type, "display_data") == 0 ||
            strcmp(type, "update_display_data") == 0);
}

/* Build the raw parts of a server-made IOPub message for one client (a status or a stderr
 * notice) and queue it; parent is the raw parent_header JSON ("{}" when none). */
static void send_synthetic(struct wsb_client *c, const char *type, const char *parent,
                           size_t parent_len, const char *content)
{
    char id[JP_UUID_LEN], ts[JP_TIME_LEN];
    struct jp_buf h, sess;
    jp_uuid_v4(id);
    jp_time_format(jp_time_now_us(), ts, sizeof ts);
    jp_buf_init(&h, 8192);
    jp_buf_init(&sess, 4096);
    if (jp_buf_add_jstr(&sess, c->session) == 0 &&
        jp_buf_addf(&h,
                    "{\"msg_id\":\"%s\",\"msg_type\":\"%s\",\"session\":%s,\"username\":\"\","
                    "\"date\":\"%s\",\"version\":\"" JP_PROTOCOL_VERSION "\"}",
                    id, type, sess.data, ts) == 0) {
        struct jp_frame parts[4] = {{h.data, h.len},
                                    {(void *)parent, parent_len},
                                    {"{}", 2},
                                    {(void *)content, strlen(content)}};
        struct src s = src_init("iopub", parts, NULL, 0, id, type);
        struct blob *bl = c->v1 ? frame_v1(&s) : frame_legacy(&s);
        if (bl) {
            enqueue(c, bl);
            blob_unref(bl);
        }
    }
    jp_buf_dispose(&h);
    jp_buf_dispose(&sess);
}

static void send_status(struct wsb_client *c, const char *state)
{
    char content[64];
    snprintf(content, sizeof content, "{\"execution_state\":\"%s\"}", state);
    send_synthetic(c, "status", "{}", 2, content);
}

static void send_stderr(struct wsb_client *c, const struct jp_frame *parent, const char *text)
{
    struct jp_buf content;
    jp_buf_init(&content, 65536);
    if (jp_buf_adds(&content, "{\"name\":\"stderr\",\"text\":") == 0 &&
        jp_buf_add_jstr(&content, text) == 0 && jp_buf_adds(&content, "}") == 0)
        send_synthetic(c, "stream", parent && parent->len ? parent->data : "{}",
                       parent && parent->len ? parent->len : 2, content.data);
    jp_buf_dispose(&content);
}

/* Jupyter's IOPub rate limits. 1 when the message must be dropped for this client. */
static int rate_limited(struct wsb_client *c, const struct src *s)
{
    struct wsb *b = c->b;
    if (strcmp(s->channel, "iopub") != 0)
        return 0;
    if (strcmp(s->msg_type, "status") == 0) {
        /* an idle status starts a new window ("Run All" protection) */
        if (s->parts[3].len && memmem(s->parts[3].data, s->parts[3].len, "\"idle\"", 6)) {
            c->rw_n = c->rw_start = 0;
            c->rw_bytes = 0;
            c->msg_exceeded = c->data_exceeded = 0;
        }
        return 0;
    }
    if (strcmp(s->msg_type, "comm_open") == 0 || strcmp(s->msg_type, "execute_input") == 0)
        return 0;
    int64_t now = jp_time_now_us();
    int64_t win = (int64_t)(b->o.rate_window_s > 0 ? b->o.rate_window_s : 3) * 1000000;
    double msg_limit = b->o.msg_rate_limit > 0 ? b->o.msg_rate_limit : 1000;
    double data_limit = b->o.data_rate_limit > 0 ? (double)b->o.data_rate_limit : 1e6;
    /* drop entries older than the window (a ring buffer) */
    while (c->rw_n && c->rw[c->rw_start].t_us < now - win) {
        c->rw_bytes -= c->rw[c->rw_start].bytes;
        c->rw_start = (c->rw_start + 1) % c->rw_cap;
        c->rw_n--;
    }
    if (c->rw_n == c->rw_cap) {
        size_t nc = c->rw_cap ? c->rw_cap * 2 : 256;
        struct rate_ent *nr = malloc(nc * sizeof *nr);
        if (!nr)
            return 0;
        for (size_t i = 0; i < c->rw_n; i++)
            nr[i] = c->rw[(c->rw_start + i) % c->rw_cap];
        free(c->rw);
        c->rw = nr;
        c->rw_cap = nc;
        c->rw_start = 0;
    }
    size_t counted = strcmp(s->msg_type, "stream") == 0 ? s->bytes : 0;
    c->rw[(c->rw_start + c->rw_n) % c->rw_cap] = (struct rate_ent){now, counted};
    c->rw_n++;
    c->rw_bytes += counted;
    double secs = (double)win / 1e6;
    double msg_rate = (double)c->rw_n / secs, data_rate = (double)c->rw_bytes / secs;
    const struct jp_frame *parent = &s->parts[1];
    char text[600];
    if (msg_rate > msg_limit) {
        if (!c->msg_exceeded) {
            c->msg_exceeded = 1;
            snprintf(text, sizeof text,
                     "IOPub message rate exceeded.\nThe server will temporarily stop sending "
                     "output\nto the client in order to avoid crashing it.\nTo change this "
                     "limit, set the option\n`--iopub-msg-rate-limit`.\n\nCurrent values:\n"
                     "iopub_msg_rate_limit=%.1f (msgs/sec)\nrate_limit_window=%.1f (secs)\n",
                     msg_limit, secs);
            send_stderr(c, parent, text);
            jp_log(JP_LOG_WARN, "ws", "iopub message rate exceeded kernel_id=%s session=%s",
                   c->k->id, c->session);
        }
    } else if (c->msg_exceeded && msg_rate < 0.8 * msg_limit) {
        c->msg_exceeded = 0;
    }
    if (data_rate > data_limit) {
        if (!c->data_exceeded) {
            c->data_exceeded = 1;
            snprintf(text, sizeof text,
                     "IOPub data rate exceeded.\nThe server will temporarily stop sending "
                     "output\nto the client in order to avoid crashing it.\nTo change this "
                     "limit, set the option\n`--iopub-data-rate-limit`.\n\nCurrent values:\n"
                     "iopub_data_rate_limit=%.1f (bytes/sec)\nrate_limit_window=%.1f (secs)\n",
                     data_limit, secs);
            send_stderr(c, parent, text);
            jp_log(JP_LOG_WARN, "ws", "iopub data rate exceeded kernel_id=%s session=%s", c->k->id,
                   c->session);
        }
    } else if (c->data_exceeded && data_rate < 0.8 * data_limit) {
        c->data_exceeded = 0;
    }
    if (c->msg_exceeded || c->data_exceeded) {
        /* not sent, so not counted (as Jupyter Server does): output resumes once what was
         * really sent has left the window */
        c->rw_n--;
        c->rw_bytes -= counted;
        return 1;
    }
    return 0;
}

/* Frames built for one message, shared by the clients of each framing. */
struct framed {
    struct blob *v1, *legacy;
    int legacy_failed;
};

static void framed_release(struct framed *f)
{
    blob_unref(f->v1);
    blob_unref(f->legacy);
}

/* Queue message s for client c under the back-pressure and rate-limit rules. */
static void deliver(struct wsb_client *c, const struct src *s, struct framed *f)
{
    struct wsb *b = c->b;
    if (c->closing)
        return;
    if (b->o.limit_rate && rate_limited(c, s))
        return;
    int drop_ok = droppable(s->channel, s->msg_type);
    if (c->dropping && c->queued < queue_limit(b) / 2) {
        jp_log(JP_LOG_WARN, "ws",
               "client caught up kernel_id=%s session=%s dropped_messages=%zu dropped_bytes=%zu",
               c->k->id, c->session, c->dropped_msgs, c->dropped_bytes);
        c->dropping = 0;
        c->dropped_msgs = c->dropped_bytes = 0;
    }
    if (drop_ok && c->dropping) {
        c->dropped_msgs++;
        c->dropped_bytes += s->bytes;
        return;
    }
    struct blob **slot = c->v1 ? &f->v1 : &f->legacy;
    if (!*slot) {
        if (!c->v1 && f->legacy_failed)
            return;
        *slot = c->v1 ? frame_v1(s) : frame_legacy(s);
        if (!*slot) {
            if (!c->v1) {
                f->legacy_failed = 1;
                jp_log(JP_LOG_WARN, "ws",
                       "message not sent to a legacy client (invalid UTF-8 or out of memory) "
                       "kernel_id=%s msg_type=%s",
                       c->k->id, s->msg_type);
            }
            return;
        }
    }
    /* the bound is on framed bytes; a message bigger than the whole limit still goes to a
     * client that has caught up */
    if (drop_ok && c->queued && c->queued + (*slot)->len > queue_limit(b)) {
        char text[400];
        c->dropping = 1;
        c->dropped_msgs = 1;
        c->dropped_bytes = s->bytes;
        snprintf(text, sizeof text,
                 "cnote: output dropped: this client is not reading fast enough (%zu bytes "
                 "waiting to be sent, limit %zu; see --ws-queue-limit). Output resumes "
                 "when it catches up.\n",
                 c->queued, queue_limit(b));
        send_stderr(c, &s->parts[1], text);
        jp_log(JP_LOG_WARN, "ws",
               "client too slow, dropping output kernel_id=%s session=%s queued=%zu", c->k->id,
               c->session, c->queued);
        return;
    }
    enqueue(c, *slot);
}

/* ---- offline buffer ------------------------------------------------------------------- */

static size_t replay_limit(const struct wsb *b)
{
    return b->o.replay_limit ? b->o.replay_limit : 32 * MIB;
}

static void offline_clear(struct wkernel *k)
{
    while (k->off_head) {
        struct smsg *n = k->off_head->next;
        free(k->off_head);
        k->off_head = n;
    }
    k->off_tail = NULL;
    k->off_bytes = k->off_count = k->off_dropped = 0;
    k->offline = 0;
    k->off_session[0] = '\0';
}

/* An unframed copy of s in one allocation. */
static struct smsg *smsg_copy(const struct src *s)
{
    size_t total = s->bytes;
    struct smsg *m = malloc(sizeof *m + s->nb * sizeof(struct jp_frame) + total);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    snprintf(m->channel, sizeof m->channel, "%s", s->channel);
    snprintf(m->msg_id, sizeof m->msg_id, "%s", s->msg_id);
    snprintf(m->msg_type, sizeof m->msg_type, "%s", s->msg_type);
    m->droppable = droppable(s->channel, s->msg_type);
    m->nb = s->nb;
    m->buffers = (struct jp_frame *)(m + 1);
    unsigned char *p = (unsigned char *)(m->buffers + s->nb);
    for (int i = 0; i < 4; i++) {
        m->parts[i].data = p;
        m->parts[i].len = s->parts[i].len;
        p = put(p, s->parts[i].data, s->parts[i].len);
    }
    for (size_t i = 0; i < s->nb; i++) {
        m->buffers[i].data = p;
        m->buffers[i].len = s->buffers[i].len;
        p = put(p, s->buffers[i].data, s->buffers[i].len);
    }
    m->total = total;
    return m;
}

static void offline_store(struct wsb *b, struct wkernel *k, const struct src *s)
{
    size_t total = s->bytes;
    int drop_ok = droppable(s->channel, s->msg_type);
    /* output past the bound is dropped; replies and status are kept up to twice the bound */
    if ((drop_ok && k->off_bytes + total > replay_limit(b)) ||
        k->off_bytes + total > 2 * replay_limit(b)) {
        if (k->off_dropped++ == 0)
            jp_log(JP_LOG_WARN, "ws", "offline buffer full kernel_id=%s session=%s bytes=%zu",
                   k->id, k->off_session, k->off_bytes);
        return;
    }
    struct smsg *m = smsg_copy(s);
    if (!m)
        return;
    if (k->off_tail)
        k->off_tail->next = m;
    else
        k->off_head = m;
    k->off_tail = m;
    k->off_bytes += total;
    k->off_count++;
}

static void offline_replay(struct wkernel *k, struct wsb_client *c)
{
    size_t n = k->off_count;
    for (struct smsg *m = k->off_head; m; m = m->next) {
        struct src s = src_init(m->channel, m->parts, m->buffers, m->nb, m->msg_id, m->msg_type);
        struct framed f = {0};
        deliver(c, &s, &f);
        framed_release(&f);
    }
    jp_log(JP_LOG_INFO, "ws", "replayed offline messages kernel_id=%s session=%s count=%zu", k->id,
           c->session, n);
    offline_clear(k);
}

/* ---- pending requests ----------------------------------------------------------------- */

static void pend_clear(struct wkernel *k)
{
    for (size_t i = 0; i < k->pend_buckets; i++) {
        while (k->pend[i]) {
            struct pend *n = k->pend[i]->next;
            free(k->pend[i]->msg_id);
            free(k->pend[i]);
            k->pend[i] = n;
        }
    }
    free(k->pend);
    k->pend = NULL;
    k->pend_buckets = k->n_pend = 0;
    k->oldest = k->newest = NULL;
}

/* Unlink p from its bucket and the age list and free it. */
static void pend_drop(struct wkernel *k, struct pend *p)
{
    size_t i = hash_str(p->msg_id) % k->pend_buckets;
    for (struct pend **pp = &k->pend[i]; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    if (p->older)
        p->older->newer = p->newer;
    else
        k->oldest = p->newer;
    if (p->newer)
        p->newer->older = p->older;
    else
        k->newest = p->older;
    free(p->msg_id);
    free(p);
    k->n_pend--;
}

static void pend_add(struct wkernel *k, const char *msg_id, const char *session)
{
    if (!*msg_id)
        return;
    /* requests that never get a reply (comm messages, a kernel that died) must not fill the
     * table for good: the oldest entry goes */
    if (k->n_pend >= PENDING_MAX && k->oldest)
        pend_drop(k, k->oldest);
    if (!k->pend) {
        k->pend_buckets = 256;
        k->pend = calloc(k->pend_buckets, sizeof *k->pend);
        if (!k->pend) {
            k->pend_buckets = 0;
            return;
        }
    }
    struct pend *p = malloc(sizeof *p);
    if (!p || !(p->msg_id = strdup(msg_id))) {
        free(p);
        return;
    }
    snprintf(p->session, sizeof p->session, "%s", session);
    size_t i = hash_str(msg_id) % k->pend_buckets;
    p->next = k->pend[i];
    k->pend[i] = p;
    p->newer = NULL;
    p->older = k->newest;
    if (k->newest)
        k->newest->newer = p;
    else
        k->oldest = p;
    k->newest = p;
    k->n_pend++;
}

/* The session that sent request msg_id, copied to out; 1 when found. remove: forget it. */
static int pend_take(struct wkernel *k, const char *msg_id, char *out, size_t outlen, int remove)
{
    if (!k->pend || !*msg_id)
        return 0;
    size_t i = hash_str(msg_id) % k->pend_buckets;
    for (struct pend *p = k->pend[i]; p; p = p->next) {
        if (strcmp(p->msg_id, msg_id) == 0) {
            snprintf(out, outlen, "%s", p->session);
            if (remove)
                pend_drop(k, p);
            return 1;
        }
    }
    return 0;
}

static void kernel_maybe_free(struct wsb *b, struct wkernel *k);
static void held_clear(struct wkernel *k, const char *why);
static void held_flush(struct wsb *b, struct wkernel *k);

/* ---- kernel events -------------------------------------------------------------------- */

static struct src src_of(struct kmgr_msg *m)
{
    return src_init(m->channel, m->parts, m->buffers, m->n_buffers, kmgr_msg_id(m), m->msg_type);
}

void wsb_on_iopub(void *ctx, const char *kernel_id, struct kmgr_msg *m)
{
    struct wsb *b = ctx;
    struct wkernel *k = kfind(b, kernel_id, 0);
    if (!k)
        return;
    struct src s = src_of(m);
    b->cnt.kernel_msgs++;
    b->cnt.kernel_bytes += s.bytes;
    if (k->clients) {
        struct framed f = {0};
        for (struct wsb_client *c = k->clients; c; c = c->next)
            deliver(c, &s, &f);
        framed_release(&f);
        hold_check(b, k);
    } else if (k->offline) {
        offline_store(b, k, &s);
    }
}

void wsb_on_reply(void *ctx, const char *kernel_id, struct kmgr_msg *m)
{
    struct wsb *b = ctx;
    struct wkernel *k = kfind(b, kernel_id, 0);
    if (!k)
        return;
    char session[SESSION_LEN];
    int is_reply = strcmp(m->channel, "stdin") != 0;
    if (!pend_take(k, kmgr_msg_parent_id(m), session, sizeof session, is_reply))
        snprintf(session, sizeof session, "%s", kmgr_msg_parent_session(m));
    struct src s = src_of(m);
    b->cnt.kernel_msgs++;
    b->cnt.kernel_bytes += s.bytes;
    for (struct wsb_client *c = k->clients; c; c = c->next) {
        if (strcmp(c->session, session) == 0) {
            struct framed f = {0};
            deliver(c, &s, &f);
            framed_release(&f);
            return;
        }
    }
    if (k->offline && strcmp(k->off_session, session) == 0)
        offline_store(b, k, &s);
}

static void client_close(struct wsb_client *c, int code, const char *why)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->t->close(c->tctx, code, why);
}

void wsb_on_lifecycle(void *ctx, const char *kernel_id, const char *event)
{
    struct wsb *b = ctx;
    struct wkernel *k = kfind(b, kernel_id, 0);
    if (!k)
        return;
    if (strcmp(event, "ready") == 0) {
        if (b->kmgr)
            held_flush(b, k);
    } else if (strcmp(event, "restarting") == 0 || strcmp(event, "dead") == 0) {
        if (strcmp(event, "dead") == 0)
            held_clear(k, "kernel dead");
        pend_clear(k);
        for (struct wsb_client *c = k->clients; c; c = c->next)
            send_status(c, event);
    } else if (strcmp(event, "removed") == 0) {
        pend_clear(k);
        offline_clear(k);
        held_clear(k, "kernel removed");
        for (struct wsb_client *c = k->clients; c; c = c->next)
            client_close(c, 1000, "kernel shut down");
        kernel_maybe_free(b, k);
    }
}

/* ---- clients -------------------------------------------------------------------------- */

struct wsb *wsb_new(struct kmgr *kmgr, const struct wsb_opts *o)
{
    struct wsb *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->kmgr = kmgr;
    if (o)
        b->o = *o;
    jp_session_init(&b->sess, "cnote-server");
    return b;
}

void wsb_set_kmgr(struct wsb *b, struct kmgr *kmgr)
{
    b->kmgr = kmgr;
}

static void client_free(struct wsb_client *c)
{
    while (c->qhead) {
        struct qent *n = c->qhead->next;
        blob_unref(c->qhead->blob);
        free(c->qhead);
        c->qhead = n;
    }
    free(c->rw);
    free(c);
}

static void kernel_maybe_free(struct wsb *b, struct wkernel *k)
{
    if (k->clients || k->offline || k->n_pend || k->held_head)
        return;
    unsigned i = hash_str(k->id) % NBUCKETS;
    for (struct wkernel **pp = &b->tab[i]; *pp; pp = &(*pp)->hnext) {
        if (*pp == k) {
            *pp = k->hnext;
            break;
        }
    }
    pend_clear(k);
    free(k);
}

void wsb_free(struct wsb *b)
{
    if (!b)
        return;
    for (int i = 0; i < NBUCKETS; i++) {
        while (b->tab[i]) {
            struct wkernel *k = b->tab[i];
            b->tab[i] = k->hnext;
            while (k->clients) {
                struct wsb_client *n = k->clients->next;
                client_free(k->clients);
                k->clients = n;
            }
            pend_clear(k);
            offline_clear(k);
            held_clear(k, NULL);
            free(k);
        }
    }
    free(b);
}

struct wsb_client *wsb_open(struct wsb *b, const char *kernel_id, const char *session_id, int v1,
                            const struct wsb_transport *t, void *tctx)
{
    struct wsb_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->b = b;
    c->v1 = v1;
    c->t = t;
    c->tctx = tctx;
    snprintf(c->session, sizeof c->session, "%s", session_id ? session_id : "");
    if (!kernel_id)
        return c; /* events client */
    if (strlen(kernel_id) >= sizeof((struct wkernel *)0)->id) {
        free(c);
        return NULL;
    }
    if (b->kmgr && !kmgr_exists(b->kmgr, kernel_id)) {
        free(c);
        return NULL;
    }
    struct wkernel *k = kfind(b, kernel_id, 1);
    if (!k) {
        free(c);
        return NULL;
    }
    c->k = k;
    for (struct wsb_client *o = k->clients; o; o = o->next) {
        if (!o->closing && c->session[0] && strcmp(o->session, c->session) == 0) {
            jp_log(JP_LOG_WARN, "ws", "replacing stale connection kernel_id=%s session=%s", k->id,
                   c->session);
            client_close(o, 1000, "replaced by a new connection with the same session_id");
        }
    }
    c->next = k->clients;
    if (k->clients)
        k->clients->prev = c;
    k->clients = c;
    k->n_clients++;
    b->connections++;
    if (b->kmgr)
        kmgr_connections(b->kmgr, k->id, 1);
    if (k->offline) {
        if (c->session[0] && strcmp(k->off_session, c->session) == 0) {
            offline_replay(k, c);
        } else {
            if (k->off_count)
                jp_log(JP_LOG_INFO, "ws",
                       "discarding buffered messages kernel_id=%s count=%zu (new session %s)",
                       k->id, k->off_count, c->session);
            offline_clear(k);
        }
    }
    jp_log(JP_LOG_INFO, "ws", "client connected kernel_id=%s session=%s protocol=%s clients=%d",
           k->id, c->session, v1 ? "v1" : "legacy", k->n_clients);
    return c;
}

void wsb_closed(struct wsb_client *c)
{
    if (!c)
        return;
    struct wkernel *k = c->k;
    struct wsb *b = c->b;
    if (k) {
        if (c->prev)
            c->prev->next = c->next;
        else
            k->clients = c->next;
        if (c->next)
            c->next->prev = c->prev;
        k->n_clients--;
        b->connections--;
        if (b->kmgr && kmgr_exists(b->kmgr, k->id))
            kmgr_connections(b->kmgr, k->id, -1);
        jp_log(JP_LOG_INFO, "ws", "client disconnected kernel_id=%s session=%s clients=%d", k->id,
               c->session, k->n_clients);
        if (!k->clients && !b->o.no_offline && c->session[0] &&
            (!b->kmgr || kmgr_exists(b->kmgr, k->id))) {
            offline_clear(k);
            k->offline = 1;
            snprintf(k->off_session, sizeof k->off_session, "%s", c->session);
        }
        client_free(c);
        if (k->hold)
            hold_check(b, k);
        kernel_maybe_free(b, k);
        return;
    }
    client_free(c);
}

int wsb_peek(struct wsb_client *c, struct wsb_piece *p)
{
    if (!c->qhead)
        return 0;
    struct blob *bl = c->qhead->blob;
    size_t left = bl->len - c->off;
    p->data = bl->mem + WSB_HEADROOM + c->off;
    p->len = left < PIECE ? left : PIECE;
    p->binary = bl->binary;
    p->first = c->off == 0;
    p->final = p->len == left;
    return 1;
}

void wsb_advance(struct wsb_client *c)
{
    if (!c->qhead)
        return;
    struct blob *bl = c->qhead->blob;
    size_t left = bl->len - c->off, n = left < PIECE ? left : PIECE;
    c->off += n;
    c->queued -= n;
    if (c->off == bl->len) {
        struct qent *q = c->qhead;
        c->qhead = q->next;
        if (!c->qhead)
            c->qtail = NULL;
        blob_unref(q->blob);
        free(q);
        c->off = 0;
    }
    if (c->k && c->k->hold)
        hold_check(c->b, c->k);
}

/* ---- messages from clients ------------------------------------------------------------ */

static int channel_ok(const char *ch)
{
    return strcmp(ch, "shell") == 0 || strcmp(ch, "control") == 0 || strcmp(ch, "stdin") == 0;
}

#define HELD_MAX_BYTES ((size_t)64 << 20)

static void held_clear(struct wkernel *k, const char *why)
{
    if (k->held_count && why)
        jp_log(JP_LOG_WARN, "ws", "client messages dropped kernel_id=%s count=%zu reason=%s", k->id,
               k->held_count, why);
    while (k->held_head) {
        struct smsg *n = k->held_head->next;
        free(k->held_head);
        k->held_head = n;
    }
    k->held_tail = NULL;
    k->held_bytes = k->held_count = 0;
}

/* The kernel became ready: send what clients sent meanwhile, in order. */
static void held_flush(struct wsb *b, struct wkernel *k)
{
    size_t n = k->held_count;
    while (k->held_head) {
        struct smsg *m = k->held_head;
        k->held_head = m->next;
        int rc = kmgr_send_raw(b->kmgr, k->id, m->channel, m->parts, m->buffers, m->nb);
        if (rc != 0)
            jp_log(JP_LOG_WARN, "ws", "held message not delivered kernel_id=%s msg_type=%s rc=%d",
                   k->id, m->msg_type, rc);
        free(m);
    }
    k->held_tail = NULL;
    k->held_bytes = k->held_count = 0;
    if (n)
        jp_log(JP_LOG_INFO, "ws", "sent held client messages kernel_id=%s count=%zu", k->id, n);
}

static void held_add(struct wkernel *k, const struct src *s)
{
    struct smsg *m = NULL;
    size_t total = s->bytes;
    if (k->held_bytes + total > HELD_MAX_BYTES || !(m = smsg_copy(s))) {
        jp_log(JP_LOG_WARN, "ws", "client message dropped while the kernel starts kernel_id=%s",
               k->id);
        return;
    }
    if (k->held_tail)
        k->held_tail->next = m;
    else
        k->held_head = m;
    k->held_tail = m;
    k->held_bytes += total;
    k->held_count++;
}

static void forward(struct wsb_client *c, const char *channel, const struct jp_frame parts[4],
                    const struct jp_frame *buffers, size_t nb)
{
    struct wkernel *k = c->k;
    json_t *h = json_loadb(parts[0].data, parts[0].len, 0, NULL);
    const char *mid = json_string_value(json_object_get(h, "msg_id"));
    const char *mtype = json_string_value(json_object_get(h, "msg_type"));
    if (!json_is_object(h) || !mtype) {
        jp_log(JP_LOG_WARN, "ws", "client message dropped: header without msg_type kernel_id=%s",
               k->id);
        json_decref(h);
        return;
    }
    if (!channel_ok(channel)) {
        jp_log(JP_LOG_WARN, "ws", "client message dropped: channel \"%s\" kernel_id=%s", channel,
               k->id);
        json_decref(h);
        return;
    }
    if (strcmp(channel, "stdin") != 0 && mid)
        pend_add(k, mid, c->session);
    if (!c->b->kmgr) {
        json_decref(h);
        return;
    }
    kmgr_touch(c->b->kmgr, k->id);
    if (k->held_head || !kmgr_ready(c->b->kmgr, k->id)) {
        struct src s = src_init(channel, parts, buffers, nb, mid ? mid : "", mtype);
        held_add(k, &s);
        json_decref(h);
        return;
    }
    int rc = kmgr_send_raw(c->b->kmgr, k->id, channel, parts, buffers, nb);
    if (rc != 0)
        jp_log(JP_LOG_WARN, "ws", "client message not delivered kernel_id=%s msg_type=%s rc=%d",
               k->id, mtype, rc);
    json_decref(h);
}

static int dump_cb(const char *d, size_t n, void *arg)
{
    return jp_buf_add(arg, d, n) == 0 ? 0 : -1;
}

/* legacy: one JSON object (text), or the binary layout with buffers */
static void receive_legacy(struct wsb_client *c, const unsigned char *data, size_t len, int binary)
{
    size_t json_len = len;
    struct jp_frame bufs[64];
    size_t nb = 0;
    if (binary) {
        if (len < 8) {
            jp_log(JP_LOG_WARN, "ws", "client binary message too short kernel_id=%s", c->k->id);
            return;
        }
        uint32_t n = jp_get_be32(data);
        if (n < 1 || n - 1 > sizeof bufs / sizeof *bufs || 4 * ((size_t)n + 1) > len) {
            jp_log(JP_LOG_WARN, "ws", "client binary message: bad part count kernel_id=%s",
                   c->k->id);
            return;
        }
        size_t prev = jp_get_be32(data + 4);
        if (prev < 4 * ((size_t)n + 1) || prev > len)
            goto bad_offsets;
        size_t json_start = prev;
        for (uint32_t i = 1; i <= n; i++) {
            size_t end = i < n ? jp_get_be32(data + 4 * (i + 1)) : len;
            if (end < prev || end > len)
                goto bad_offsets;
            if (i == 1) {
                json_len = end - prev;
            } else {
                bufs[nb].data = (void *)(data + prev);
                bufs[nb].len = end - prev;
                nb++;
            }
            prev = end;
        }
        data += json_start;
    }
    json_error_t e;
    json_t *msg = json_loadb((const char *)data, json_len, 0, &e);
    if (!json_is_object(msg) || !json_is_object(json_object_get(msg, "header"))) {
        jp_log(JP_LOG_WARN, "ws", "client message dropped: not a JSON message kernel_id=%s (%s)",
               c->k->id, msg ? "no header" : e.text);
        json_decref(msg);
        return;
    }
    const char *channel = json_string_value(json_object_get(msg, "channel"));
    static const char *const keys[4] = {"header", "parent_header", "metadata", "content"};
    struct jp_buf out[4];
    struct jp_frame parts[4];
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        jp_buf_init(&out[i], (size_t)1 << 31);
        json_t *v = json_object_get(msg, keys[i]);
        if (json_is_null(v) || !v)
            ok = ok && jp_buf_adds(&out[i], "{}") == 0;
        else if (!json_is_object(v))
            ok = 0;
        else
            ok = ok && json_dump_callback(v, dump_cb, &out[i], JSON_COMPACT) == 0;
        parts[i].data = out[i].data ? out[i].data : "{}";
        parts[i].len = out[i].data ? out[i].len : 2;
    }
    if (ok)
        forward(c, channel ? channel : "shell", parts, bufs, nb);
    else
        jp_log(JP_LOG_WARN, "ws", "client message dropped: a part is not an object kernel_id=%s",
               c->k->id);
    for (int i = 0; i < 4; i++)
        jp_buf_dispose(&out[i]);
    json_decref(msg);
    return;
bad_offsets:
    jp_log(JP_LOG_WARN, "ws", "client binary message: bad offsets kernel_id=%s", c->k->id);
}

static void receive_v1(struct wsb_client *c, const unsigned char *data, size_t len)
{
    if (len < 8)
        goto bad;
    uint64_t n = jp_get_le64(data);
    if (n < 6 || n > 1024 + 6 || 8 * (n + 1) > len)
        goto bad;
    uint64_t off[1024 + 6];
    for (uint64_t i = 0; i < n; i++) {
        off[i] = jp_get_le64(data + 8 * (i + 1));
        if (off[i] > len || (i && off[i] < off[i - 1]) || (i == 0 && off[0] < 8 * (n + 1)))
            goto bad;
    }
    if (off[n - 1] != len)
        goto bad;
    char channel[16];
    size_t cl = off[1] - off[0];
    if (cl == 0 || cl >= sizeof channel)
        goto bad;
    memcpy(channel, data + off[0], cl);
    channel[cl] = '\0';
    struct jp_frame parts[4];
    for (int i = 0; i < 4; i++) {
        parts[i].data = (void *)(data + off[1 + i]);
        parts[i].len = off[2 + i] - off[1 + i];
    }
    size_t nb = n - 6;
    struct jp_frame *bufs = NULL;
    if (nb) {
        bufs = malloc(nb * sizeof *bufs);
        if (!bufs)
            return;
        for (size_t i = 0; i < nb; i++) {
            bufs[i].data = (void *)(data + off[5 + i]);
            bufs[i].len = off[6 + i] - off[5 + i];
        }
    }
    forward(c, channel, parts, bufs, nb);
    free(bufs);
    return;
bad:
    jp_log(JP_LOG_WARN, "ws", "client v1 message dropped: bad layout kernel_id=%s bytes=%zu",
           c->k->id, len);
}

int wsb_receive(struct wsb_client *c, const void *data, size_t len, int binary)
{
    if (!c->k || c->closing)
        return 0; /* events clients send nothing we act on */
    c->b->cnt.client_msgs++;
    c->b->cnt.client_bytes += len;
    if (c->v1) {
        if (!binary) {
            jp_log(JP_LOG_WARN, "ws", "client text message dropped (v1 protocol) kernel_id=%s",
                   c->k->id);
            return 0;
        }
        receive_v1(c, data, len);
    } else {
        receive_legacy(c, data, len, binary);
    }
    return 0;
}

int wsb_connections(const struct wsb *b)
{
    return b ? b->connections : 0;
}

void wsb_get_counters(const struct wsb *b, struct wsb_counters *out)
{
    if (out)
        *out = b ? b->cnt : (struct wsb_counters){0};
}

size_t wsb_queued(const struct wsb_client *c)
{
    return c->queued;
}
