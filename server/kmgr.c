/*
 * kmgr.c - the kernel manager (see kmgr.h). Launches kernels as local child processes
 * (posix_spawn, own session, a fresh connection file with five free ports and a random key),
 * owns five ZeroMQ sockets per kernel on the libuv loop (shell, control and stdin DEALERs with
 * one routing id, an IOPub SUB, a heartbeat REQ), and drives each kernel through its life:
 * readiness by kernel_info (resent every 200 ms until answered), execution_state and
 * last_activity from IOPub the way Jupyter Server tracks them, liveness by waitpid on SIGCHLD
 * (kill(pid, 0) and heartbeats for kernels it adopted), bounded auto-restart with the same
 * connection file, interrupt by signal or message, graceful-then-forceful shutdown, manual
 * restart with the same ports and key, culling, and adoption of kernels a previous server left
 * running. It does not speak HTTP or WebSocket and does not route replies to clients: every
 * reply and IOPub message goes to the caller's callbacks.
 *
 * The channels are ZMTP peers of the server's own on the libuv loop (zmtp.h: DEALERs and a SUB,
 * no libzmq I/O thread in between): every message arrives through a callback and every send is
 * written at once.
 *
 * Memory: a kernel that is removed is unlinked at once and freed when its uv handles have
 * closed, so a kernel struct stays valid until the loop runs again; nothing is freed while a
 * callback this file invoked is still on the stack.
 */
#include "kmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_conn.h"
#include "jp_err.h"
#include "jp_hmac.h"
#include "jp_log.h"
#include "jp_time.h"
#include "jp_uuid.h"
#include "jp_wire.h"
#include "zmtp.h"

extern char **environ;

#define KI_RETRY_MS 200   /* kernel_info resend period while waiting for readiness */
#define IOPUB_RETRY_MS 5  /* the same once the kernel answered but IOPub was not heard yet */
#define EXIT_POLL_MS 50   /* process-exit polling while stopping or adopting */
#define KILL_WAIT_MS 5000 /* how long to wait for a SIGKILLed process before giving up */
#define MAX_PARTS 4096    /* frames per message; a message with more is dropped */
#define HB_MISSES_DEAD 3  /* missed heartbeats that mean death when the pid is unknown */
#define SIG_HISTORY 4096  /* replay history per kernel (server side: modest) */
#define PATH_LEN 4096

enum stop_kind { STOP_NONE, STOP_SHUTDOWN, STOP_RESTART };
enum stop_stage { STAGE_REQUESTED, STAGE_TERM, STAGE_KILL, STAGE_REMOVE, STAGE_DIE };

struct waiter {
    kmgr_done_fn fn;
    void *arg;
    struct waiter *next;
};

struct kchan {
    struct kernel *k;
    struct zt_sock *sock;
};

struct kernel {
    struct kmgr *m;
    struct kernel *prev, *next;
    char id[JP_UUID_LEN];
    char name[128];
    char owner[65];
    int64_t started_us; /* when this manager started or adopted it */
    char cwd[PATH_LEN];
    char conn_path[PATH_LEN];
    struct jp_conn conn;
    struct jp_signer *signer;
    json_t *spec;       /* normalized kernel.json copy; NULL: adopted without a kernelspec */
    char *resource_dir; /* the spec's directory, or NULL */
    json_t *env;        /* the caller's extra environment (copy), or NULL */
    int msg_interrupt;  /* interrupt_mode "message" */
    char routing_id[JP_UUID_LEN];

    pid_t pid;       /* 0 when none known */
    int is_child;    /* pid may be waited for (cleared on ECHILD) */
    int own_group;   /* pid leads its process group: signal -pid */
    int alive;       /* a process (or a pid-less adopted kernel) is believed running */
    int ready;       /* answered kernel_info and was heard on IOPub since its last launch */
    int ki_answered; /* a kernel_info_reply came since the last launch */
    int iopub_seen;  /* an IOPub message came since the last launch (our subscription works:
                      * no slow-joiner loss for what clients ask from now on) */
    int ever_ready;  /* answered at least once (auto-restarts keep the ports after that) */
    int autorestart; /* the current launch is an automatic restart */
    int adopting;    /* adopted and not yet answered */
    int restarts;    /* consecutive automatic restarts without an answer in between */
    int dead;        /* gave up: no process, no sockets, model kept */
    int remote;      /* runs under the remote provisioner */
    int launching;   /* remote: launched, not yet up */
    int launches;    /* remote: launches so far */
    int as_user;     /* runs under uid/gid (multi-user isolation) */
    uid_t uid;
    gid_t gid;
    char home[PATH_LEN];
    int closing; /* removed: handles closing */
    enum stop_kind stop;
    enum stop_stage stage;
    int hb_pending, hb_misses;
    int pending_closes;

    char state[16];
    int64_t last_activity_us;
    int connections;
    char reason[512];

    struct kchan ch[JP_CH_COUNT];
    uv_timer_t ki_timer;    /* kernel_info resend */
    uv_timer_t ki_deadline; /* readiness timeout */
    uv_timer_t stop_timer;  /* shutdown escalation */
    uv_timer_t exit_timer;  /* fast exit polling while stopping or adopting */
    uv_timer_t kick;        /* deferred drain after a send */
    uv_timer_t hold_timer;  /* ends an IOPub hold after KMGR_HOLD_MAX_MS */
    int iopub_hold;         /* kmgr_hold_iopub: IOPub not read */
    int hold_spent;         /* the last hold ran out; none until it is released */
    struct waiter *ready_waiters, *stop_waiters;
};

struct kmgr {
    uv_loop_t *loop;
    const struct kspecs *specs;
    struct kmgr_events ev;
    void *ev_ctx;
    char runtime_dir[PATH_LEN];
    char ip[256];
    int restart_limit, time_to_dead_ms, shutdown_wait_ms, kernel_info_timeout_ms;
    int cull_idle_timeout_s, cull_interval_s, cull_connected, cull_busy;
    struct jp_session sess; /* the manager's own requests (kernel_info, interrupt, shutdown) */
    struct kernel *head, *tail;
    size_t n;
    uv_signal_t sigchld;
    uv_timer_t live_timer, cull_timer;
    int pending_closes;
    struct kmgr_prov prov;
    int prov_set, prov_all;
    kmgr_user_map_fn user_map;
    void *user_map_ctx;
    char user_runtime_dir[PATH_LEN];
};

static void kernel_handle_exit(struct kernel *k, int wstatus);
static void chan_msg(void *arg, const struct jp_frame *parts, size_t n);

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *channel_name(enum jp_channel ch)
{
    return jp_conn_channel_name(ch);
}

static void set_state(struct kernel *k, const char *s)
{
    snprintf(k->state, sizeof k->state, "%s", s);
}

static int id_ok(const char *id)
{
    size_t n = 0;

    if (!id)
        return 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return n > 0 && n < JP_UUID_LEN;
}

static struct kernel *find(struct kmgr *m, const char *id)
{
    if (!m || !id)
        return NULL;
    for (struct kernel *k = m->head; k; k = k->next)
        if (strcmp(k->id, id) == 0)
            return k;
    return NULL;
}

static void why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_LEN];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof tmp)
        return -1;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void lifecycle(struct kernel *k, const char *event)
{
    struct kmgr *m = k->m;
    char id[JP_UUID_LEN];

    jp_log(JP_LOG_INFO, "kmgr", "kernel %s kernel_id=%s name=%s", event, k->id, k->name);
    memcpy(id, k->id, sizeof id);
    if (m->ev.on_lifecycle)
        m->ev.on_lifecycle(m->ev_ctx, id, event);
}

static int add_waiter(struct waiter **list, kmgr_done_fn fn, void *arg)
{
    struct waiter *w, **p;

    if (!fn)
        return 0;
    if (!(w = calloc(1, sizeof *w)))
        return JP_ENOMEM;
    w->fn = fn;
    w->arg = arg;
    for (p = list; *p; p = &(*p)->next)
        ;
    *p = w;
    return 0;
}

/* Fire and free every waiter of a list (taken off the kernel first, so callbacks may add new
 * ones). */
static void fire(struct kernel *k, struct waiter **list, int status, const char *reason)
{
    struct waiter *w = *list, *next;
    char id[JP_UUID_LEN];

    *list = NULL;
    memcpy(id, k->id, sizeof id);
    for (; w; w = next) {
        next = w->next;
        w->fn(w->arg, status, id, reason);
        free(w);
    }
}

static void drop_waiters(struct waiter **list)
{
    struct waiter *w = *list, *next;

    *list = NULL;
    for (; w; w = next) {
        next = w->next;
        free(w);
    }
}

/* ---- ZeroMQ sockets ------------------------------------------------------------------- */

static void chan_close(struct kernel *k, enum jp_channel ch)
{
    struct kchan *c = &k->ch[ch];

    zt_close(c->sock);
    c->sock = NULL;
}

static int chan_open(struct kernel *k, enum jp_channel ch)
{
    struct kchan *c = &k->ch[ch];
    char ep[512];
    struct zt_opts o = {0};

    c->k = k;
    /* shell and stdin share one routing id, so that the kernel's input requests (sent on stdin
     * to the identity of the shell request) reach us; the heartbeat is a DEALER that sends
     * what a REQ would (an empty delimiter, then "ping"), which REP and ROUTER peers echo */
    o.type = ch == JP_CH_IOPUB ? ZT_SUB : ZT_DEALER;
    o.routing_id = ch == JP_CH_SHELL || ch == JP_CH_STDIN ? k->routing_id : NULL;
    o.on_msg = chan_msg;
    o.arg = c;
    if (jp_conn_endpoint(&k->conn, ch, ep, sizeof ep) < 0 ||
        !(c->sock = zt_open(k->m->loop, ep, &o))) {
        jp_log(JP_LOG_ERROR, "kmgr", "socket setup failed kernel_id=%s channel=%s error=\"%s\"",
               k->id, channel_name(ch), strerror(errno ? errno : EINVAL));
        return JP_EIO;
    }
    if (ch == JP_CH_IOPUB && k->iopub_hold)
        zt_pause_reading(c->sock, 1);
    return 0;
}

static void kernel_disconnect(struct kernel *k)
{
    for (int i = 0; i < JP_CH_COUNT; i++)
        chan_close(k, (enum jp_channel)i);
    k->hb_pending = 0;
}

/* (Re)create all five sockets: a relaunched kernel gets fresh sockets, so nothing queued for
 * the previous process reaches the new one and a port change is picked up. */
static int kernel_connect(struct kernel *k)
{
    kernel_disconnect(k);
    for (int i = 0; i < JP_CH_COUNT; i++)
        if (chan_open(k, (enum jp_channel)i) != 0) {
            kernel_disconnect(k);
            return JP_EIO;
        }
    return 0;
}

static void kick_cb(uv_timer_t *t)
{
    struct kernel *k = t->data;

    /* waiters added by kmgr_wait_ready after the kernel was ready (or dead) */
    if (!k->closing && k->ready && !k->dead && k->stop == STOP_NONE && k->ready_waiters)
        fire(k, &k->ready_waiters, 0, NULL);
    else if (!k->closing && k->dead && k->ready_waiters)
        fire(k, &k->ready_waiters, JP_EDEAD, k->reason[0] ? k->reason : "the kernel is dead");
}

static int sent(struct kernel *k, enum jp_channel ch, int rc)
{
    if (rc != 0)
        jp_log(JP_LOG_WARN, "kmgr", "send failed kernel_id=%s channel=%s error=\"%s\"", k->id,
               channel_name(ch),
               rc == JP_ETOOBIG ? "too many messages waiting for the kernel" : jp_strerror(rc));
    return rc == 0 ? 0 : JP_EIO;
}

/* Encode with the kernel's key and send on a DEALER channel; the message's identities are
 * ignored. */
static int chan_send(struct kernel *k, enum jp_channel ch, const struct jp_msg *msg)
{
    struct kchan *c = &k->ch[ch];
    struct jp_msg tmp = *msg;
    struct jp_frame *fr = NULL;
    size_t n = 0;
    int rc;

    if (!c->sock)
        return JP_EIO;
    tmp.idents = NULL;
    tmp.n_idents = 0;
    if ((rc = jp_wire_encode(&tmp, k->signer, &fr, &n)) != 0)
        return rc;
    rc = sent(k, ch, zt_send(c->sock, fr, n));
    jp_frames_free(fr, n);
    return rc;
}

/* Sign the four parts as they are and send them (and the buffers) on a DEALER channel. */
static int chan_send_raw(struct kernel *k, enum jp_channel ch, const struct jp_frame parts[4],
                         const struct jp_frame *buffers, size_t nb)
{
    struct kchan *c = &k->ch[ch];
    const void *p[4];
    size_t lens[4];
    char sig[JP_SIG_HEX_LEN + 1];
    struct jp_frame local[16], *fr = local;
    int rc = 0;

    if (!c->sock)
        return JP_EIO;
    for (int i = 0; i < 4; i++) {
        p[i] = parts[i].len ? parts[i].data : "";
        lens[i] = parts[i].len;
    }
    if ((rc = jp_signer_sign(k->signer, p, lens, sig)) != 0)
        return rc;
    size_t n = 6 + nb;
    if (n > sizeof local / sizeof local[0] && !(fr = malloc(n * sizeof *fr)))
        return JP_ENOMEM;
    fr[0].data = (void *)JP_WIRE_DELIM;
    fr[0].len = strlen(JP_WIRE_DELIM);
    fr[1].data = sig;
    fr[1].len = strlen(sig);
    for (int i = 0; i < 4; i++) {
        fr[2 + i].data = (void *)p[i];
        fr[2 + i].len = lens[i];
    }
    for (size_t i = 0; i < nb; i++)
        fr[6 + i] = buffers[i];
    rc = sent(k, ch, zt_send(c->sock, fr, n));
    if (fr != local)
        free(fr);
    return rc;
}

static int send_request(struct kernel *k, enum jp_channel ch, const char *type, json_t *content)
{
    struct jp_msg *msg = jp_msg_new(&k->m->sess, type, NULL, content);
    int rc;

    if (!msg)
        return JP_ENOMEM;
    rc = chan_send(k, ch, msg);
    jp_msg_free(msg);
    return rc;
}

/* ---- incoming messages ---------------------------------------------------------------- */

/* Jupyter Server's untracked types: status messages parented to these only lift "starting". */
static int untracked(const char *t)
{
    static const char *const v[] = {
        "comm_info_request",
        "comm_info_reply",
        "kernel_info_request",
        "kernel_info_reply",
        "shutdown_request",
        "shutdown_reply",
        "interrupt_request",
        "interrupt_reply",
        "debug_request",
        "debug_reply",
        "stream",
        "display_data",
        "update_display_data",
        "execute_input",
        "execute_result",
        "error",
        "status",
        "clear_output",
        "debug_event",
        "input_request",
        "input_reply",
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (strcmp(t, v[i]) == 0)
            return 1;
    return 0;
}

static void ki_timer_cb(uv_timer_t *t);

static void kernel_on_ready(struct kernel *k)
{
    int was_auto = k->autorestart;

    if (strcmp(k->state, "starting") == 0)
        set_state(k, "idle");
    /* while a process is being stopped its answers do not count: a restart is ready when the
     * new process answers, a start cut short by a shutdown fails at removal */
    if (k->ready || k->stop != STOP_NONE)
        return;
    k->ready = 1;
    k->ever_ready = 1;
    k->autorestart = 0;
    k->adopting = 0;
    k->restarts = 0;
    k->reason[0] = '\0';
    uv_timer_stop(&k->ki_timer);
    uv_timer_stop(&k->ki_deadline);
    if (k->stop == STOP_NONE)
        uv_timer_stop(&k->exit_timer);
    jp_log(JP_LOG_INFO, "kmgr", "kernel ready kernel_id=%s name=%s pid=%d", k->id, k->name,
           (int)k->pid);
    if (was_auto)
        lifecycle(k, "autorestarted");
    if (!k->closing)
        lifecycle(k, "ready");
    if (!k->closing)
        fire(k, &k->ready_waiters, 0, NULL);
}

static void on_iopub(struct kernel *k, struct kmgr_msg *msg)
{
    struct kmgr *m = k->m;

    k->last_activity_us = jp_time_now_us();
    k->iopub_seen = 1;
    if (k->ki_answered && !k->ready && !k->closing)
        kernel_on_ready(k);
    if (strcmp(msg->msg_type, "status") == 0) {
        const char *es =
            json_string_value(json_object_get(kmgr_msg_content(msg), "execution_state"));
        const char *pt = json_string_value(json_object_get(msg->parent_header, "msg_type"));
        if (es &&
            (strcmp(es, "busy") == 0 || strcmp(es, "idle") == 0 || strcmp(es, "starting") == 0)) {
            if (!pt || !untracked(pt))
                set_state(k, es);
            else if (strcmp(k->state, "starting") == 0 && strcmp(es, "starting") != 0)
                set_state(k, "idle");
        }
    }
    if (m->ev.on_iopub)
        m->ev.on_iopub(m->ev_ctx, k->id, msg);
}

static void on_reply(struct kernel *k, struct kmgr_msg *msg)
{
    struct kmgr *m = k->m;
    const char *type = msg->msg_type;
    const char *ps = json_string_value(json_object_get(msg->parent_header, "session"));

    if (strcmp(type, "kernel_info_reply") == 0) {
        /* ready once IOPub is heard too; until then kernel_info is sent again, and each one
         * makes the kernel publish a status */
        k->ki_answered = 1;
        if (k->iopub_seen)
            kernel_on_ready(k);
        else if (!k->ready && !k->closing)
            /* the kernel is up but our IOPub subscription has not reached it yet (it takes a
             * few ms): ask again soon rather than after the usual retry period */
            uv_timer_start(&k->ki_timer, ki_timer_cb, IOPUB_RETRY_MS, IOPUB_RETRY_MS);
    }
    if (k->closing)
        return;
    if (ps && strcmp(ps, m->sess.session) == 0) {
        /* our own request; a pid-less kernel cannot be watched, so its shutdown_reply is the
         * end of it */
        if (strcmp(type, "shutdown_reply") == 0 && k->stop != STOP_NONE && k->pid <= 0 && k->alive)
            kernel_handle_exit(k, -1);
        return;
    }
    if (m->ev.on_reply)
        m->ev.on_reply(m->ev_ctx, k->id, msg);
}

/* Parse what every consumer needs (header and parent_header) of a verified message. */
static int parse_head(const struct jp_wire_view *v, struct kmgr_msg *msg, struct jp_wire_error *err)
{
    json_t *h, *p;

    h = json_loadb(v->dicts[0].len ? v->dicts[0].data : "", v->dicts[0].len, 0, NULL);
    p = json_loadb(v->dicts[1].len ? v->dicts[1].data : "", v->dicts[1].len, 0, NULL);
    if (!json_is_object(h) || !json_is_object(p) ||
        !json_is_string(json_object_get(h, "msg_type"))) {
        json_decref(h);
        json_decref(p);
        snprintf(err->text, sizeof err->text,
                 "header or parent_header is not a JSON object "
                 "(or no msg_type)");
        return JP_EPROTO;
    }
    msg->header = h;
    msg->parent_header = p;
    msg->msg_type = json_string_value(json_object_get(h, "msg_type"));
    memcpy(msg->parts, v->dicts, sizeof msg->parts);
    msg->buffers = v->buffers;
    msg->n_buffers = v->n_buffers;
    return 0;
}

const json_t *kmgr_msg_content(struct kmgr_msg *msg)
{
    if (!msg->content_tried_) {
        msg->content_tried_ = 1;
        json_t *c =
            json_loadb(msg->parts[3].len ? msg->parts[3].data : "", msg->parts[3].len, 0, NULL);
        if (json_is_object(c))
            msg->content_ = c;
        else
            json_decref(c);
    }
    return msg->content_;
}

static const char *str_or_empty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

const char *kmgr_msg_id(const struct kmgr_msg *msg)
{
    return str_or_empty(msg->header, "msg_id");
}

const char *kmgr_msg_parent_id(const struct kmgr_msg *msg)
{
    return str_or_empty(msg->parent_header, "msg_id");
}

const char *kmgr_msg_parent_session(const struct kmgr_msg *msg)
{
    return str_or_empty(msg->parent_header, "session");
}

/* A whole message from one of a kernel's channels: check it and dispatch it. */
static void chan_msg(void *arg, const struct jp_frame *parts, size_t n)
{
    struct kchan *c = arg;
    struct kernel *k = c->k;
    enum jp_channel ch = (enum jp_channel)(c - k->ch);
    size_t total = 0;
    int rc;
    struct jp_wire_view view;
    struct kmgr_msg msg;
    struct jp_wire_error werr;

    if (k->closing)
        return;
    if (ch == JP_CH_HB) {
        k->hb_pending = 0;
        k->hb_misses = 0;
        return;
    }
    if (n > MAX_PARTS) {
        jp_log(JP_LOG_WARN, "kmgr",
               "message dropped kernel_id=%s channel=%s reason=too_many_parts parts=%zu", k->id,
               channel_name(ch), n);
        return;
    }
    memset(&msg, 0, sizeof msg);
    rc = jp_wire_split(parts, n, k->signer, NULL, &view, &werr);
    if (rc == 0 && (rc = parse_head(&view, &msg, &werr)) == 0) {
        msg.channel = channel_name(ch);
        if (ch == JP_CH_IOPUB)
            on_iopub(k, &msg);
        else
            on_reply(k, &msg);
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            total += parts[i].len;
        jp_log(JP_LOG_WARN, "kmgr",
               "message dropped kernel_id=%s channel=%s error=\"%s\" detail=\"%s\" bytes=%zu",
               k->id, channel_name(ch), jp_strerror(rc), werr.text, total);
    }
    json_decref((json_t *)msg.header);
    json_decref((json_t *)msg.parent_header);
    json_decref(msg.content_);
}

/* ---- processes ------------------------------------------------------------------------- */

/* Has the kernel's process gone? Our children are reaped with waitpid; a pid that is not our
 * child (an adopted kernel whose parent was the previous server) is probed with kill(pid, 0). */
static int proc_gone(struct kernel *k, int *wstatus)
{
    *wstatus = -1;
    if (k->pid <= 0)
        return 0;
    if (k->is_child) {
        pid_t r = waitpid(k->pid, wstatus, WNOHANG);
        if (r == k->pid)
            return 1;
        if (r == 0 || (r < 0 && errno == EINTR))
            return 0;
        k->is_child = 0; /* ECHILD: not ours to wait for */
    }
    return kill(k->pid, 0) != 0 && errno == ESRCH;
}

static void kernel_signal(struct kernel *k, int sig)
{
    if (k->pid <= 0)
        return;
    if (kill(k->own_group ? -k->pid : k->pid, sig) != 0 && k->own_group)
        kill(k->pid, sig);
}

/* environment under construction: "NAME=VALUE" strings */
struct envv {
    char **v;
    size_t n, cap;
};

static void envv_free(struct envv *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

static const char *envv_get(const struct envv *e, const char *name, size_t nlen)
{
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, nlen) == 0 && e->v[i][nlen] == '=')
            return e->v[i] + nlen + 1;
    return NULL;
}

static int envv_set(struct envv *e, const char *name, const char *val)
{
    size_t nlen = strlen(name), vlen = strlen(val);
    char *s;

    if (nlen == 0 || strchr(name, '='))
        return 0; /* not a valid variable name: ignored, as the kernel could not see it */
    if (!(s = malloc(nlen + vlen + 2)))
        return JP_ENOMEM;
    memcpy(s, name, nlen);
    s[nlen] = '=';
    memcpy(s + nlen + 1, val, vlen + 1);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, nlen) == 0 && e->v[i][nlen] == '=') {
            free(e->v[i]);
            e->v[i] = s;
            return 0;
        }
    if (e->n + 2 > e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 64;
        char **nv = realloc(e->v, nc * sizeof *nv);
        if (!nv) {
            free(s);
            return JP_ENOMEM;
        }
        e->v = nv;
        e->cap = nc;
    }
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

/* Expand ${NAME} from the caller's extra environment, then the environment built so far;
 * unknown names are left as written (string.Template.safe_substitute). */
static int expand_vars(const char *in, const struct envv *e, const json_t *extra,
                       struct jp_buf *out)
{
    const char *p = in;
    int rc = 0;

    while (*p && rc == 0) {
        const char *end;
        if (p[0] == '$' && p[1] == '{' && (end = strchr(p + 2, '}')) != NULL && end > p + 2) {
            const char *name = p + 2;
            size_t nlen = (size_t)(end - name);
            const json_t *jv = extra ? json_object_getn(extra, name, nlen) : NULL;
            const char *v = json_is_string(jv) ? json_string_value(jv) : envv_get(e, name, nlen);
            if (v) {
                rc = jp_buf_adds(out, v);
                p = end + 1;
                continue;
            }
        }
        rc = jp_buf_add(out, p, 1);
        p++;
    }
    return rc;
}

/* server env + JPY_PARENT_PID + spec env (expanded) + the caller's env */
/* What a user's isolated kernel may inherit from the server's environment. */
static int user_env_ok(const char *name, size_t n)
{
    static const char *const exact[] = {"PATH",      "LANG",   "LANGUAGE",        "TZ",
                                        "TERM",      "TMPDIR", "LD_LIBRARY_PATH", "JUPYTER_PATH",
                                        "PYTHONPATH"};
    static const char *const prefix[] = {"LC_", "CUDA_", "NVIDIA_", "OMP_", "OPENBLAS_", "CNOTE_"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (strlen(exact[i]) == n && strncmp(name, exact[i], n) == 0)
            return 1;
    if (n >= 11 && (strncmp(name, "CNOTE_TOKEN", 11) == 0 ||
                    (n >= 19 && strncmp(name, "CNOTE_METRICS_TOKEN", 19) == 0)))
        return 0;
    for (size_t i = 0; i < sizeof prefix / sizeof *prefix; i++)
        if (n >= strlen(prefix[i]) && strncmp(name, prefix[i], strlen(prefix[i])) == 0)
            return 1;
    return 0;
}

static int build_env(struct kernel *k, struct envv *e)
{
    struct jp_buf b;
    const char *key;
    json_t *v;
    char pid[32];
    int rc = 0;

    for (char **p = environ; p && *p && rc == 0; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq || eq == *p)
            continue;
        if (k->as_user && !user_env_ok(*p, (size_t)(eq - *p)))
            continue; /* a user's kernel gets no secrets from the server's environment */
        if (e->n + 2 > e->cap) {
            size_t nc = e->cap ? e->cap * 2 : 64;
            char **nv = realloc(e->v, nc * sizeof *nv);
            if (!nv)
                return JP_ENOMEM;
            e->v = nv;
            e->cap = nc;
        }
        if (!(e->v[e->n] = strdup(*p)))
            return JP_ENOMEM;
        e->v[++e->n] = NULL;
    }
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    if ((rc = envv_set(e, "JPY_PARENT_PID", pid)) != 0)
        return rc;
    if (k->as_user &&
        ((rc = envv_set(e, "HOME", k->home)) != 0 || (rc = envv_set(e, "USER", k->owner)) != 0 ||
         (rc = envv_set(e, "LOGNAME", k->owner)) != 0))
        return rc;
    jp_buf_init(&b, 1 << 20);
    json_object_foreach(json_object_get(k->spec, "env"), key, v)
    {
        if (!json_is_string(v))
            continue;
        jp_buf_reset(&b);
        if ((rc = expand_vars(json_string_value(v), e, k->env, &b)) != 0 ||
            (rc = envv_set(e, key, b.data ? b.data : "")) != 0)
            break;
    }
    jp_buf_dispose(&b);
    if (rc)
        return rc;
    json_object_foreach(k->env, key, v)
    {
        if (json_is_string(v) && (rc = envv_set(e, key, json_string_value(v))) != 0)
            return rc;
    }
    return 0;
}

/* Replace every occurrence of `pat` with `rep` (jupyter_client's format_kernel_cmd for the
 * names it knows; unknown {x} stay). */
static int subst(struct jp_buf *b, const char *in, const char *pat, const char *rep)
{
    size_t plen = strlen(pat);
    const char *p = in, *q;
    int rc = 0;

    while (rc == 0 && (q = strstr(p, pat)) != NULL) {
        rc = jp_buf_add(b, p, (size_t)(q - p));
        if (rc == 0)
            rc = jp_buf_adds(b, rep);
        p = q + plen;
    }
    if (rc == 0)
        rc = jp_buf_adds(b, p);
    return rc;
}

static void argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

#define SETPRIV_ARGS 9

static char **build_argv(struct kernel *k)
{
    const json_t *a = json_object_get(k->spec, "argv");
    size_t n = json_array_size(a), pre = k->as_user ? SETPRIV_ARGS : 0;
    char **argv = calloc(n + pre + 1, sizeof *argv), **out = argv;
    struct jp_buf b1, b2;

    if (!argv)
        return NULL;
    if (pre) {
        /* drop to the owner's account before the kernel runs any of their code */
        char uid[32], gid[32];
        snprintf(uid, sizeof uid, "%u", (unsigned)k->uid);
        snprintf(gid, sizeof gid, "%u", (unsigned)k->gid);
        const char *p[SETPRIV_ARGS] = {
            "setpriv",        "--reuid",         uid, "--regid", gid, "--clear-groups",
            "--no-new-privs", "--inh-caps=-all", "--"};
        for (size_t i = 0; i < pre; i++)
            if (!(argv[i] = strdup(p[i]))) {
                argv_free(argv);
                return NULL;
            }
        out = argv + pre;
    }
    jp_buf_init(&b1, 1 << 20);
    jp_buf_init(&b2, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        jp_buf_reset(&b1);
        jp_buf_reset(&b2);
        if (!s || subst(&b1, s, "{connection_file}", k->conn_path) != 0 ||
            subst(&b2, b1.data, "{resource_dir}", k->resource_dir ? k->resource_dir : "") != 0 ||
            !(out[i] = strdup(b2.data))) {
            argv_free(argv);
            argv = NULL;
            break;
        }
    }
    jp_buf_dispose(&b1);
    jp_buf_dispose(&b2);
    return argv;
}

static int kernel_spawn(struct kernel *k, char *why, size_t whylen)
{
    struct envv env = {NULL, 0, 0};
    char **argv = NULL;
    posix_spawnattr_t at;
    posix_spawn_file_actions_t fa;
    sigset_t none, all;
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    pid_t pid = 0;
    int rc, err;

    if (!k->spec) {
        why_set(why, whylen, "no kernelspec named %s to launch", k->name);
        return JP_ENOENT;
    }
    if (!(argv = build_argv(k)) || build_env(k, &env) != 0) {
        argv_free(argv);
        envv_free(&env);
        why_set(why, whylen, "out of memory");
        return JP_ENOMEM;
    }
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_init(&fa);
#ifdef POSIX_SPAWN_SETSID
    flags |= POSIX_SPAWN_SETSID;
#else
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&at, 0);
#endif
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setflags(&at, flags);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (k->cwd[0])
        posix_spawn_file_actions_addchdir_np(&fa, k->cwd);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    err = posix_spawnp(&pid, argv[0], &fa, &at, argv, env.v);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (err != 0) {
        why_set(why, whylen, "cannot launch %s: %s", argv[0], strerror(err));
        jp_log(JP_LOG_ERROR, "kmgr", "spawn failed kernel_id=%s argv0=%s error=\"%s\"", k->id,
               argv[0], strerror(err));
        rc = JP_EIO;
    } else {
        jp_log(JP_LOG_INFO, "kmgr", "kernel launched kernel_id=%s name=%s pid=%d", k->id, k->name,
               (int)pid);
        k->pid = pid;
        k->is_child = 1;
        k->own_group = 1;
        k->alive = 1;
        rc = 0;
    }
    argv_free(argv);
    envv_free(&env);
    return rc;
}

/* Five distinct free ports on ip, none used by another kernel of this manager: bind port 0,
 * keep every socket bound while choosing (so no port comes back twice), then release. */
static int pick_ports(struct kmgr *m, struct kernel *self, int ports[JP_CH_COUNT], char *why,
                      size_t whylen)
{
    struct addrinfo hints, *ai = NULL;
    int held[64], nheld = 0, got = 0, rc = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(m->ip, "0", &hints, &ai) != 0 || !ai) {
        why_set(why, whylen, "cannot resolve ip %s", m->ip);
        return JP_EIO;
    }
    while (got < JP_CH_COUNT && nheld < (int)(sizeof held / sizeof *held)) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0, used = 0;

        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
            getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
            why_set(why, whylen, "cannot pick a port on %s: %s", m->ip, strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = JP_EIO;
            break;
        }
        held[nheld++] = fd;
        port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        for (struct kernel *o = m->head; o && !used; o = o->next)
            for (int i = 0; i < JP_CH_COUNT && o != self; i++)
                used |= o->conn.ports[i] == port;
        if (!used)
            ports[got++] = port;
    }
    if (rc == 0 && got < JP_CH_COUNT) {
        why_set(why, whylen, "cannot pick five free ports on %s", m->ip);
        rc = JP_EIO;
    }
    for (int i = 0; i < nheld; i++)
        close(held[i]);
    freeaddrinfo(ai);
    return rc;
}

static void ki_timer_cb(uv_timer_t *t)
{
    struct kernel *k = t->data;

    if (!k->ready && k->alive)
        send_request(k, JP_CH_SHELL, "kernel_info_request", json_object());
}

static void kernel_remove(struct kernel *k);

static void ki_deadline_cb(uv_timer_t *t)
{
    struct kernel *k = t->data;
    char why[160];

    uv_timer_stop(&k->ki_timer);
    if (k->ready)
        return;
    snprintf(why, sizeof why, "kernel did not answer kernel_info within %d ms",
             k->m->kernel_info_timeout_ms);
    jp_log(JP_LOG_WARN, "kmgr", "readiness timeout kernel_id=%s name=%s", k->id, k->name);
    if (k->adopting) {
        /* nothing answers there: forget it and kill what may be left */
        snprintf(why, sizeof why, "adopted kernel did not answer kernel_info");
        snprintf(k->reason, sizeof k->reason, "%s", why);
        kernel_signal(k, SIGKILL);
        fire(k, &k->ready_waiters, JP_EDEAD, why);
        if (!k->closing)
            kernel_remove(k);
        return;
    }
    fire(k, &k->ready_waiters, JP_ETIMEOUT, why);
}

/* A remote kernel: the provisioner starts it; kmgr_prov_up connects once it listens. */
static int remote_launch(struct kernel *k, char *why, size_t whylen)
{
    struct kmgr *m = k->m;
    struct kmgr_launch l;
    int rc;

    memset(&l, 0, sizeof l);
    l.kernel_id = k->id;
    l.kernel_name = k->name;
    l.cwd = k->cwd;
    l.env = k->env;
    l.spec = k->spec;
    l.key = k->conn.key;
    l.owner = k->owner;
    l.n = k->launches;
    for (int i = 0; i < JP_CH_COUNT; i++)
        l.ports[i] = k->conn.ports[i];
    kernel_disconnect(k);
    if ((rc = m->prov.launch(m->prov.ctx, &l, why, whylen)) != 0)
        return rc;
    k->launches++;
    for (int i = 0; i < JP_CH_COUNT; i++)
        k->conn.ports[i] = l.ports[i];
    if (l.key_out[0]) {
        /* a claimed warm pod: its kernel was started with a key of its own */
        size_t kl = strnlen(l.key_out, sizeof l.key_out - 1);
        char *key = jp_memdup(l.key_out, kl + 1);
        struct jp_signer *sg = key ? jp_signer_new(l.key_out, kl, SIG_HISTORY) : NULL;
        memset(l.key_out, 0, sizeof l.key_out);
        if (!key || !sg) {
            free(key);
            jp_signer_free(sg);
            why_set(why, whylen, "out of memory");
            return JP_ENOMEM;
        }
        if (k->conn.key)
            memset(k->conn.key, 0, k->conn.key_len);
        free(k->conn.key);
        k->conn.key = key;
        k->conn.key_len = kl;
        jp_signer_free(k->signer);
        k->signer = sg;
        if (k->conn_path[0] && jp_conn_save(&k->conn, k->conn_path) != 0)
            jp_log(JP_LOG_WARN, "kmgr", "cannot write connection file path=%s", k->conn_path);
    }
    k->launching = 1;
    k->alive = 0;
    k->ready = 0;
    k->ki_answered = k->iopub_seen = 0;
    k->stop = STOP_NONE;
    k->hb_pending = k->hb_misses = 0;
    set_state(k, "starting");
    k->last_activity_us = jp_time_now_us();
    return 0;
}

/* Launch (or relaunch) the kernel's process with its connection file; with newports the
 * ports are chosen again and the file rewritten (same key). The sockets are recreated. */
static int kernel_launch(struct kernel *k, int newports, char *why, size_t whylen)
{
    struct kmgr *m = k->m;
    int rc;

    if (k->remote)
        return remote_launch(k, why, whylen);
    if (newports) {
        if (k->as_user) {
            for (int i = 0; i < JP_CH_COUNT; i++)
                k->conn.ports[i] = i + 1; /* ipc: socket names, not ports */
        } else if ((rc = pick_ports(m, k, k->conn.ports, why, whylen)) != 0) {
            return rc;
        }
        if ((rc = jp_conn_save(&k->conn, k->conn_path)) != 0) {
            why_set(why, whylen, "cannot write connection file %s", k->conn_path);
            return rc;
        }
        if (k->as_user &&
            (chown(k->conn_path, k->uid, k->gid) != 0 || chmod(k->conn_path, 0600) != 0)) {
            why_set(why, whylen, "cannot give the connection file to uid %u: %s", (unsigned)k->uid,
                    strerror(errno));
            return JP_EIO;
        }
    }
    if ((rc = kernel_connect(k)) != 0) {
        why_set(why, whylen, "cannot create the kernel's sockets");
        return rc;
    }
    if ((rc = kernel_spawn(k, why, whylen)) != 0) {
        kernel_disconnect(k);
        return rc;
    }
    k->ready = 0;
    k->ki_answered = k->iopub_seen = 0;
    k->stop = STOP_NONE;
    k->hb_pending = k->hb_misses = 0;
    set_state(k, "starting");
    k->last_activity_us = jp_time_now_us();
    send_request(k, JP_CH_SHELL, "kernel_info_request", json_object());
    uv_timer_start(&k->ki_timer, ki_timer_cb, KI_RETRY_MS, KI_RETRY_MS);
    uv_timer_start(&k->ki_deadline, ki_deadline_cb, (uint64_t)m->kernel_info_timeout_ms, 0);
    return 0;
}

/* Give up on a kernel: no process, no sockets, state "dead"; the model stays until removed. */
static void kernel_die(struct kernel *k, int status, const char *why)
{
    k->dead = 1;
    k->alive = 0;
    k->pid = 0;
    k->ready = 0;
    k->autorestart = 0;
    set_state(k, "dead");
    if (why != k->reason)
        snprintf(k->reason, sizeof k->reason, "%s", why);
    uv_timer_stop(&k->ki_timer);
    uv_timer_stop(&k->ki_deadline);
    uv_timer_stop(&k->exit_timer);
    uv_timer_stop(&k->stop_timer);
    kernel_disconnect(k);
    jp_log(JP_LOG_WARN, "kmgr", "kernel dead kernel_id=%s name=%s reason=\"%s\"", k->id, k->name,
           why);
    lifecycle(k, "dead");
    if (!k->closing)
        fire(k, &k->ready_waiters, status, why);
}

static void kernel_free(struct kernel *k)
{
    drop_waiters(&k->ready_waiters);
    drop_waiters(&k->stop_waiters);
    jp_conn_dispose(&k->conn);
    jp_signer_free(k->signer);
    json_decref(k->spec);
    json_decref(k->env);
    free(k->resource_dir);
    free(k);
}

/* A kernel's timers, made in kernel_new and closed in kernel_release. */
#define KERNEL_TIMERS 6
static void kernel_timers(struct kernel *k, uv_timer_t *t[KERNEL_TIMERS])
{
    t[0] = &k->ki_timer;
    t[1] = &k->ki_deadline;
    t[2] = &k->stop_timer;
    t[3] = &k->exit_timer;
    t[4] = &k->kick;
    t[5] = &k->hold_timer;
}

static void kernel_close_cb(uv_handle_t *h)
{
    struct kernel *k = h->data;

    if (--k->pending_closes == 0)
        kernel_free(k);
}

/* Unlink, close sockets and handles; memory goes when the handles have closed. */
static void kernel_release(struct kernel *k)
{
    struct kmgr *m = k->m;
    uv_timer_t *timers[KERNEL_TIMERS];

    if (k->closing)
        return;
    kernel_timers(k, timers);
    k->closing = 1;
    if (k->prev)
        k->prev->next = k->next;
    else
        m->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        m->tail = k->prev;
    k->prev = k->next = NULL;
    m->n--;
    kernel_disconnect(k);
    for (size_t i = 0; i < KERNEL_TIMERS; i++) {
        k->pending_closes++;
        uv_close((uv_handle_t *)timers[i], kernel_close_cb);
    }
}

/* Forget a kernel that is gone (or given up): delete its connection file, tell the layers
 * above, complete the shutdown waiters. */
static void kernel_remove(struct kernel *k)
{
    if (k->closing)
        return;
    if (k->conn_path[0] && unlink(k->conn_path) != 0 && errno != ENOENT)
        jp_log(JP_LOG_WARN, "kmgr", "cannot remove connection file path=%s error=\"%s\"",
               k->conn_path, strerror(errno));
    kernel_release(k);
    if (k->remote)
        k->m->prov.forget(k->m->prov.ctx, k->id);
    lifecycle(k, "removed");
    fire(k, &k->ready_waiters, JP_EIO, "kernel was shut down");
    fire(k, &k->stop_waiters, 0, NULL);
}

/* Automatic restart after an unexpected death, bounded by restart_limit. */
static void kernel_autorestart(struct kernel *k, const char *cause)
{
    struct kmgr *m = k->m;
    char why[512];

    snprintf(why, sizeof why, "%s", cause);
    while (k->spec && k->restarts < m->restart_limit) {
        k->restarts++;
        k->autorestart = 1;
        set_state(k, "restarting");
        lifecycle(k, "restarting");
        /* a callback may have shut it down or restarted it already */
        if (k->closing || k->alive || k->dead || k->stop != STOP_NONE)
            return;
        if (kernel_launch(k, !k->ever_ready, why, sizeof why) == 0)
            return;
    }
    if (!k->spec)
        snprintf(why, sizeof why, "%s; no kernelspec %s to restart it", cause, k->name);
    kernel_die(k, JP_EDEAD, why);
}

static void kernel_handle_exit_why(struct kernel *k, int wstatus, const char *remote_cause);

static void kernel_handle_exit(struct kernel *k, int wstatus)
{
    kernel_handle_exit_why(k, wstatus, NULL);
}

static void kernel_handle_exit_why(struct kernel *k, int wstatus, const char *remote_cause)
{
    char cause[512];
    char why[512];

    if (k->closing || k->dead)
        return;
    if (remote_cause)
        snprintf(cause, sizeof cause, "%s", remote_cause);
    else if (k->remote && wstatus == -1)
        snprintf(cause, sizeof cause, "kernel stopped answering heartbeats");
    else if (wstatus == -1)
        snprintf(cause, sizeof cause, "kernel process is gone");
    else if (WIFSIGNALED(wstatus))
        snprintf(cause, sizeof cause, "kernel process killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(cause, sizeof cause, "kernel process exited with status %d", WEXITSTATUS(wstatus));
    jp_log(k->stop != STOP_NONE ? JP_LOG_INFO : JP_LOG_WARN, "kmgr",
           "kernel exited kernel_id=%s pid=%d cause=\"%s\"", k->id, (int)k->pid, cause);
    k->alive = 0;
    k->launching = 0;
    k->pid = 0;
    k->ready = 0;
    uv_timer_stop(&k->ki_timer);
    uv_timer_stop(&k->ki_deadline);
    uv_timer_stop(&k->stop_timer);
    uv_timer_stop(&k->exit_timer);
    if (k->remote && !remote_cause && k->stop == STOP_NONE)
        k->m->prov.stop(k->m->prov.ctx, k->id); /* not answering: do not leave the pod running */
    if (k->stop == STOP_SHUTDOWN) {
        kernel_remove(k);
        return;
    }
    if (k->stop == STOP_RESTART) {
        k->stop = STOP_NONE;
        k->restarts = 0;
        k->autorestart = 0;
        if (kernel_launch(k, 0, why, sizeof why) != 0)
            kernel_die(k, JP_EIO, why);
        return;
    }
    if (k->adopting) {
        snprintf(k->reason, sizeof k->reason, "%s", cause);
        fire(k, &k->ready_waiters, JP_EDEAD, cause);
        if (!k->closing)
            kernel_remove(k);
        return;
    }
    if (k->remote) {
        kernel_disconnect(k);
        kernel_die(k, JP_EDEAD, cause);
        return;
    }
    kernel_autorestart(k, cause);
}

static void check_exit(struct kernel *k)
{
    int st;

    if (!k->closing && k->alive && proc_gone(k, &st))
        kernel_handle_exit(k, st);
}

static void exit_timer_cb(uv_timer_t *t)
{
    check_exit(t->data);
}

static void stop_timer_cb(uv_timer_t *t)
{
    struct kernel *k = t->data;
    int wait = k->m->shutdown_wait_ms / 2 > 100 ? k->m->shutdown_wait_ms / 2 : 100;

    switch (k->stage) {
    case STAGE_REQUESTED:
        if (k->remote) {
            /* the pod goes away: kmgr_prov_exited ends the stop */
            k->stage = STAGE_KILL;
            k->m->prov.stop(k->m->prov.ctx, k->id);
            uv_timer_start(&k->stop_timer, stop_timer_cb, 60000, 0);
            return;
        }
        if (k->pid <= 0) {
            kernel_handle_exit(k, -1);
            return;
        }
        jp_log(JP_LOG_INFO, "kmgr", "kernel did not stop: SIGTERM kernel_id=%s pid=%d", k->id,
               (int)k->pid);
        kernel_signal(k, SIGTERM);
        k->stage = STAGE_TERM;
        uv_timer_start(&k->stop_timer, stop_timer_cb, (uint64_t)wait, 0);
        break;
    case STAGE_TERM:
        jp_log(JP_LOG_WARN, "kmgr", "kernel did not stop: SIGKILL kernel_id=%s pid=%d", k->id,
               (int)k->pid);
        kernel_signal(k, SIGKILL);
        k->stage = STAGE_KILL;
        uv_timer_start(&k->stop_timer, stop_timer_cb, KILL_WAIT_MS, 0);
        break;
    case STAGE_KILL:
        jp_log(JP_LOG_ERROR, "kmgr", "kernel survived SIGKILL, forgetting it kernel_id=%s pid=%d",
               k->id, (int)k->pid);
        kernel_handle_exit(k, -1);
        break;
    case STAGE_REMOVE:
        kernel_remove(k);
        break;
    case STAGE_DIE:
        kernel_die(k, JP_EIO, k->reason);
        break;
    }
}

static void kernel_interrupt(struct kernel *k)
{
    if (k->msg_interrupt || k->pid <= 0)
        send_request(k, JP_CH_CONTROL, "interrupt_request", json_object());
    else
        kernel_signal(k, SIGINT);
}

/* Begin a graceful stop: interrupt, shutdown_request{restart} on control, then escalate. */
static void kernel_begin_stop(struct kernel *k, enum stop_kind kind)
{
    k->stop = kind;
    k->stage = STAGE_REQUESTED;
    uv_timer_stop(&k->ki_timer);
    uv_timer_stop(&k->ki_deadline);
    kernel_interrupt(k);
    send_request(k, JP_CH_CONTROL, "shutdown_request",
                 json_pack("{s:b}", "restart", kind == STOP_RESTART));
    uv_timer_start(&k->stop_timer, stop_timer_cb, (uint64_t)k->m->shutdown_wait_ms, 0);
    uv_timer_start(&k->exit_timer, exit_timer_cb, EXIT_POLL_MS, EXIT_POLL_MS);
}

/* ---- manager-wide watchers -------------------------------------------------------------- */

static void sigchld_cb(uv_signal_t *h, int signum)
{
    struct kmgr *m = h->data;
    struct kernel *k, *next;

    (void)signum;
    for (k = m->head; k; k = next) {
        next = k->next;
        check_exit(k);
    }
}

static void heartbeat(struct kernel *k)
{
    if (k->hb_pending) {
        k->hb_misses++;
        jp_log(JP_LOG_DEBUG, "kmgr", "heartbeat missed kernel_id=%s misses=%d", k->id,
               k->hb_misses);
        k->hb_pending = 0;
    }
    if (k->pid <= 0 && k->ready && k->hb_misses >= HB_MISSES_DEAD) {
        kernel_handle_exit(k, -1);
        return;
    }
    /* what a REQ socket sends: an empty delimiter, then the payload; the echo comes back the
     * same way. Pings do not pile up while the kernel is unreachable. */
    struct jp_frame ping[2] = {{(void *)"", 0}, {(void *)"ping", 4}};
    if (k->ch[JP_CH_HB].sock && zt_queued(k->ch[JP_CH_HB].sock) < 2 &&
        zt_send(k->ch[JP_CH_HB].sock, ping, 2) == 0)
        k->hb_pending = 1;
}

static void live_timer_cb(uv_timer_t *t)
{
    struct kmgr *m = t->data;
    struct kernel *k, *next;

    for (k = m->head; k; k = next) {
        next = k->next;
        check_exit(k);
        if (!k->closing && k->alive && !k->dead && k->stop == STOP_NONE)
            heartbeat(k);
    }
}

static void cull_timer_cb(uv_timer_t *t)
{
    struct kmgr *m = t->data;
    int64_t now = jp_time_now_us();
    struct kernel *k, *next;

    for (k = m->head; k; k = next) {
        int64_t idle_s = (now - k->last_activity_us) / 1000000;
        next = k->next;
        if (k->closing || k->stop == STOP_SHUTDOWN)
            continue;
        if (!k->dead &&
            ((strcmp(k->state, "busy") == 0 && !m->cull_busy) ||
             (k->connections > 0 && !m->cull_connected) || idle_s < m->cull_idle_timeout_s))
            continue;
        jp_log(JP_LOG_INFO, "kmgr", "culling kernel kernel_id=%s state=%s idle_s=%lld", k->id,
               k->state, (long long)idle_s);
        lifecycle(k, "culled");
        if (!k->closing)
            kmgr_shutdown(m, k->id, NULL, NULL);
    }
}

/* ---- public API ---------------------------------------------------------------------- */

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            jp_log(JP_LOG_WARN, "kmgr", "cannot raise RLIMIT_NOFILE error=\"%s\"", strerror(errno));
    }
}

static void mgr_close_cb(uv_handle_t *h)
{
    struct kmgr *m = h->data;

    if (--m->pending_closes == 0)
        free(m);
}

struct kmgr *kmgr_new(uv_loop_t *loop, const struct kspecs *specs, const struct kmgr_opts *o,
                      const struct kmgr_events *ev, void *ev_ctx)
{
    struct kmgr_opts d;
    struct kmgr *m;
    const char *user = getenv("USER");

    if (!loop)
        return NULL;
    memset(&d, 0, sizeof d);
    if (o)
        d = *o;
    if (!(m = calloc(1, sizeof *m)))
        return NULL;
    m->loop = loop;
    m->specs = specs;
    if (ev)
        m->ev = *ev;
    m->ev_ctx = ev_ctx;
    if (d.runtime_dir && *d.runtime_dir) {
        snprintf(m->runtime_dir, sizeof m->runtime_dir, "%s", d.runtime_dir);
    } else {
        const char *jr = getenv("JUPYTER_RUNTIME_DIR"), *xr = getenv("XDG_RUNTIME_DIR");
        const char *home = getenv("HOME");
        if (jr && *jr)
            snprintf(m->runtime_dir, sizeof m->runtime_dir, "%s", jr);
        else if (xr && *xr)
            snprintf(m->runtime_dir, sizeof m->runtime_dir, "%s/jupyter", xr);
        else
            snprintf(m->runtime_dir, sizeof m->runtime_dir, "%s/.local/share/jupyter/runtime",
                     home && *home ? home : "/tmp");
    }
    snprintf(m->ip, sizeof m->ip, "%s", d.ip && *d.ip ? d.ip : "127.0.0.1");
    m->restart_limit = d.restart_limit > 0 ? d.restart_limit : d.restart_limit < 0 ? 0 : 5;
    m->time_to_dead_ms = d.time_to_dead_ms > 0 ? d.time_to_dead_ms : 3000;
    m->shutdown_wait_ms = d.shutdown_wait_ms > 0 ? d.shutdown_wait_ms : 5000;
    m->kernel_info_timeout_ms = d.kernel_info_timeout_ms > 0 ? d.kernel_info_timeout_ms : 60000;
    m->cull_idle_timeout_s = d.cull_idle_timeout_s > 0 ? d.cull_idle_timeout_s : 0;
    m->cull_interval_s = d.cull_interval_s > 0 ? d.cull_interval_s : 300;
    m->cull_connected = d.cull_connected;
    m->cull_busy = d.cull_busy;
    if (mkdir_p(m->runtime_dir, 0700) != 0) {
        jp_log(JP_LOG_ERROR, "kmgr", "cannot create runtime dir path=%s error=\"%s\"",
               m->runtime_dir, strerror(errno));
        free(m);
        return NULL;
    }
    if (jp_session_init(&m->sess, user && *user ? user : "cnote-server") != 0) {
        free(m);
        return NULL;
    }
    raise_fd_limit();
    if (uv_signal_init(loop, &m->sigchld) != 0) {
        free(m);
        return NULL;
    }
    m->sigchld.data = m;
    uv_signal_start(&m->sigchld, sigchld_cb, SIGCHLD);
    uv_timer_init(loop, &m->live_timer);
    uv_timer_init(loop, &m->cull_timer);
    m->live_timer.data = m->cull_timer.data = m;
    uv_timer_start(&m->live_timer, live_timer_cb, (uint64_t)m->time_to_dead_ms,
                   (uint64_t)m->time_to_dead_ms);
    if (m->cull_idle_timeout_s > 0)
        uv_timer_start(&m->cull_timer, cull_timer_cb, (uint64_t)m->cull_interval_s * 1000,
                       (uint64_t)m->cull_interval_s * 1000);
    /* watchers alone do not keep the loop running */
    uv_unref((uv_handle_t *)&m->sigchld);
    uv_unref((uv_handle_t *)&m->live_timer);
    uv_unref((uv_handle_t *)&m->cull_timer);
    jp_log(JP_LOG_INFO, "kmgr", "kernel manager ready runtime_dir=%s ip=%s", m->runtime_dir, m->ip);
    return m;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait (blocking, bounded) until every listed kernel's process is gone. */
static int wait_all_gone(struct kmgr *m, int ms)
{
    int64_t end = jp_time_mono_ms() + ms;

    for (;;) {
        int left = 0, st;
        for (struct kernel *k = m->head; k; k = k->next)
            if (k->alive && k->pid > 0) {
                if (proc_gone(k, &st))
                    k->alive = 0;
                else
                    left++;
            }
        if (!left || jp_time_mono_ms() >= end)
            return left;
        sleep_ms(10);
    }
}

/* Server exit: the loop will not run the graceful sequence any more, so do it here,
 * blocking and bounded: shutdown_request to all, wait, SIGTERM, wait, SIGKILL. */
static void shutdown_all_now(struct kmgr *m)
{
    int any = 0;

    for (struct kernel *k = m->head; k; k = k->next)
        if (k->alive && k->pid > 0) {
            send_request(k, JP_CH_CONTROL, "shutdown_request", json_pack("{s:b}", "restart", 0));
            any = 1;
        }
    if (!any)
        return;
    if (wait_all_gone(m, m->shutdown_wait_ms) == 0)
        return;
    for (struct kernel *k = m->head; k; k = k->next)
        if (k->alive && k->pid > 0)
            kernel_signal(k, SIGTERM);
    if (wait_all_gone(m, m->shutdown_wait_ms / 2 > 100 ? m->shutdown_wait_ms / 2 : 100) == 0)
        return;
    for (struct kernel *k = m->head; k; k = k->next)
        if (k->alive && k->pid > 0)
            kernel_signal(k, SIGKILL);
    wait_all_gone(m, 2000);
}

void kmgr_free(struct kmgr *m, int shutdown_kernels)
{
    if (!m)
        return;
    if (shutdown_kernels)
        shutdown_all_now(m);
    while (m->head) {
        struct kernel *k = m->head;
        if (shutdown_kernels && k->conn_path[0])
            unlink(k->conn_path);
        drop_waiters(&k->ready_waiters);
        drop_waiters(&k->stop_waiters);
        kernel_release(k);
    }
    m->pending_closes = 3;
    uv_close((uv_handle_t *)&m->sigchld, mgr_close_cb);
    uv_close((uv_handle_t *)&m->live_timer, mgr_close_cb);
    uv_close((uv_handle_t *)&m->cull_timer, mgr_close_cb);
}

static struct kernel *kernel_new(struct kmgr *m, const char *id, const char *name)
{
    struct kernel *k = calloc(1, sizeof *k);
    uv_timer_t *timers[KERNEL_TIMERS];

    if (!k)
        return NULL;
    k->m = m;
    k->started_us = jp_time_now_us();
    snprintf(k->id, sizeof k->id, "%s", id);
    snprintf(k->name, sizeof k->name, "%s", name ? name : "");
    for (int i = 0; i < JP_CH_COUNT; i++)
        k->ch[i].k = k;
    if (jp_uuid_v4(k->routing_id) != 0) {
        free(k);
        return NULL;
    }
    set_state(k, "starting");
    k->last_activity_us = jp_time_now_us();
    kernel_timers(k, timers);
    for (int i = 0; i < KERNEL_TIMERS; i++) {
        uv_timer_init(m->loop, timers[i]);
        timers[i]->data = k;
    }
    return k;
}

static void kernel_link(struct kernel *k)
{
    struct kmgr *m = k->m;

    k->prev = m->tail;
    if (m->tail)
        m->tail->next = k;
    else
        m->head = k;
    m->tail = k;
    m->n++;
}

/* A kernel that was never linked: close its handles (memory goes with them). */
static void kernel_discard(struct kernel *k)
{
    kernel_link(k); /* so kernel_release's unlinking is uniform */
    kernel_release(k);
}

/* Copy what a launch needs from the kernelspec (the caller may rescan specs later). */
static int kernel_take_spec(struct kernel *k, const struct kspec *s)
{
    const char *mode;

    if (!s)
        return 0;
    if (!(k->spec = json_deep_copy(s->spec)) || !(k->resource_dir = strdup(s->dir)))
        return JP_ENOMEM;
    mode = json_string_value(json_object_get(s->spec, "interrupt_mode"));
    k->msg_interrupt = mode && strcmp(mode, "message") == 0;
    if (k->m->prov_set) {
        const char *pn = json_string_value(json_object_get(
            json_object_get(json_object_get(s->spec, "metadata"), "kernel_provisioner"),
            "provisioner_name"));
        k->remote = k->m->prov_all || (pn && strcmp(pn, "cnote-kubernetes-provisioner") == 0);
        k->msg_interrupt |= k->remote;
    }
    return 0;
}

int kmgr_start(struct kmgr *m, const char *name, const char *cwd, const json_t *env, const char *id,
               char id_out[37], char *why, size_t whylen, kmgr_done_fn done, void *arg)
{
    return kmgr_start_owned(m, "", name, cwd, env, id, id_out, why, whylen, done, arg);
}

int kmgr_start_owned(struct kmgr *m, const char *owner, const char *name, const char *cwd,
                     const json_t *env, const char *id, char id_out[37], char *why, size_t whylen,
                     kmgr_done_fn done, void *arg)
{
    const struct kspec *s = NULL;
    struct kernel *k;
    char nid[JP_UUID_LEN], key[65];
    int rc;

    if (!m) {
        why_set(why, whylen, "no kernel manager");
        return JP_EINVAL;
    }
    if (name && *name)
        s = kspecs_find(m->specs, name);
    else
        s = kspecs_default(m->specs);
    if (!s) {
        why_set(why, whylen, "no such kernel %s", name && *name ? name : "(default)");
        return JP_ENOENT;
    }
    if (id && *id) {
        if (!id_ok(id) || find(m, id)) {
            why_set(why, whylen, "kernel id %s is %s", id,
                    id_ok(id) ? "already in use" : "invalid");
            return JP_EINVAL;
        }
        snprintf(nid, sizeof nid, "%s", id);
    } else if (jp_uuid_v4(nid) != 0) {
        why_set(why, whylen, "no randomness for a kernel id");
        return JP_EIO;
    }
    if (env && !json_is_object(env)) {
        why_set(why, whylen, "env must be an object");
        return JP_EINVAL;
    }
    if (!(k = kernel_new(m, nid, s->name)))
        return JP_ENOMEM;
    snprintf(k->owner, sizeof k->owner, "%s", owner ? owner : "");
    rc = JP_ENOMEM;
    if (kernel_take_spec(k, s) != 0 || (env && !(k->env = json_deep_copy(env))))
        goto fail;
    snprintf(k->cwd, sizeof k->cwd, "%s", cwd ? cwd : "");
    char dir[PATH_LEN];
    snprintf(dir, sizeof dir, "%s", m->runtime_dir);
    if (!k->remote && k->owner[0] && m->user_map) {
        char msg[PATH_LEN];
        if (m->user_map(m->user_map_ctx, k->owner, &k->uid, &k->gid, msg, sizeof msg) != 0) {
            why_set(why, whylen, "%s", msg);
            rc = JP_EIO;
            goto fail;
        }
        snprintf(k->home, sizeof k->home, "%s", msg);
        k->as_user = 1;
        /* a directory of the user's own: others cannot list it, read the key or connect */
        const char *base = m->user_runtime_dir[0] ? m->user_runtime_dir : m->runtime_dir;
        snprintf(dir, sizeof dir, "%s/u%u", base, (unsigned)k->uid);
        if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || chown(dir, k->uid, k->gid) != 0 ||
            chmod(dir, 0700) != 0) {
            why_set(why, whylen, "cannot make the user's runtime directory %s: %s", dir,
                    strerror(errno));
            rc = JP_EIO;
            goto fail;
        }
    }
    if ((size_t)snprintf(k->conn_path, sizeof k->conn_path, "%s/kernel-%s.json", dir, nid) >=
        sizeof k->conn_path) {
        why_set(why, whylen, "runtime dir path too long");
        rc = JP_EINVAL;
        goto fail;
    }
    /* connection: tcp on ip, five fresh ports, 256-bit key as 64 hex characters; for a user's
     * isolated kernel ipc sockets in the user's runtime directory */
    if (k->as_user) {
        snprintf(k->conn.transport, sizeof k->conn.transport, "ipc");
        if ((size_t)snprintf(k->conn.ip, sizeof k->conn.ip, "%s/k-%.8s", dir, nid) + 3 >= 100) {
            why_set(why, whylen, "runtime dir path too long for ipc sockets (%s)", dir);
            rc = JP_EINVAL;
            goto fail;
        }
    } else {
        snprintf(k->conn.transport, sizeof k->conn.transport, "tcp");
        snprintf(k->conn.ip, sizeof k->conn.ip, "%s", m->ip);
    }
    snprintf(k->conn.signature_scheme, sizeof k->conn.signature_scheme, "hmac-sha256");
    snprintf(k->conn.kernel_name, sizeof k->conn.kernel_name, "%s", s->name);
    if (jp_random_hex(key, 32) != 0) {
        why_set(why, whylen, "no randomness for a key");
        rc = JP_EIO;
        goto fail;
    }
    k->conn.key = jp_memdup(key, 65);
    k->conn.key_len = 64;
    k->signer = jp_signer_new(key, 64, SIG_HISTORY);
    memset(key, 0, sizeof key);
    if (!k->conn.key || !k->signer) {
        why_set(why, whylen, "out of memory");
        goto fail;
    }
    if ((rc = add_waiter(&k->ready_waiters, done, arg)) != 0)
        goto fail;
    kernel_link(k);
    if ((rc = kernel_launch(k, 1, why, whylen)) != 0) {
        drop_waiters(&k->ready_waiters);
        unlink(k->conn_path);
        kernel_release(k);
        return rc == JP_ENOENT ? JP_EIO : rc;
    }
    memcpy(id_out, nid, JP_UUID_LEN);
    return 0;
fail:
    drop_waiters(&k->ready_waiters);
    kernel_discard(k);
    return rc;
}

static json_t *model_of(const struct kernel *k)
{
    char ts[JP_TIME_LEN];
    json_t *o;

    jp_time_format(k->last_activity_us, ts, sizeof ts);
    o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", k->id, "name", k->name, "last_activity", ts,
                  "execution_state", k->state, "connections", k->connections);
    if (o && k->reason[0])
        json_object_set_new(o, "reason", json_string(k->reason));
    if (o && k->remote && k->m->prov.describe) {
        json_t *d = k->m->prov.describe(k->m->prov.ctx, k->id);
        if (d)
            json_object_set_new(o, "launch", d);
    }
    return o;
}

json_t *kmgr_model(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);
    return k ? model_of(k) : NULL;
}

json_t *kmgr_list(struct kmgr *m)
{
    json_t *a = json_array();

    if (!a || !m)
        return a;
    for (struct kernel *k = m->head; k; k = k->next) {
        json_t *o = model_of(k);
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* A decimal integer without the printf machinery. */
static int add_int(struct jp_buf *out, int v)
{
    char d[16];
    int i = (int)sizeof d;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        d[--i] = '-';
    return jp_buf_add(out, d + i, sizeof d - (size_t)i);
}

int kmgr_list_write(struct kmgr *m, struct jp_buf *out)
{
    return kmgr_list_write_owner(m, out, NULL);
}

int kmgr_list_write_owner(struct kmgr *m, struct jp_buf *out, const char *owner)
{
    char ts[JP_TIME_LEN];
    size_t start = out->len;
    int rc = jp_buf_add(out, "[", 1), first = 1;

    for (struct kernel *k = m ? m->head : NULL; k && rc == 0; k = k->next) {
        if (owner && strcmp(owner, k->owner) != 0)
            continue;
        jp_time_format(k->last_activity_us, ts, sizeof ts);
        if ((rc = jp_buf_adds(out, first ? "{\"id\":" : ",{\"id\":")) ||
            (rc = jp_buf_add_jstr(out, k->id)) || (rc = jp_buf_adds(out, ",\"name\":")) ||
            (rc = jp_buf_add_jstr(out, k->name)) ||
            (rc = jp_buf_adds(out, ",\"last_activity\":\"")) || (rc = jp_buf_adds(out, ts)) ||
            (rc = jp_buf_adds(out, "\",\"execution_state\":")) ||
            (rc = jp_buf_add_jstr(out, k->state)) || (rc = jp_buf_adds(out, ",\"connections\":")) ||
            (rc = add_int(out, k->connections)))
            break;
        if (k->reason[0] &&
            ((rc = jp_buf_adds(out, ",\"reason\":")) || (rc = jp_buf_add_jstr(out, k->reason))))
            break;
        if (k->remote && m->prov.describe) {
            json_t *d = m->prov.describe(m->prov.ctx, k->id);
            char *txt = d ? json_dumps(d, JSON_COMPACT) : NULL;
            json_decref(d);
            if (txt) {
                rc = jp_buf_adds(out, ",\"launch\":");
                if (rc == 0)
                    rc = jp_buf_adds(out, txt);
                free(txt);
                if (rc)
                    break;
            }
        }
        rc = jp_buf_add(out, "}", 1);
        first = 0;
    }
    if (rc == 0)
        rc = jp_buf_add(out, "]", 1);
    if (rc != 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

size_t kmgr_count(struct kmgr *m)
{
    return m ? m->n : 0;
}

int kmgr_exists(struct kmgr *m, const char *id)
{
    return find(m, id) != NULL;
}

int kmgr_interrupt(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);

    if (!k)
        return JP_ENOENT;
    if (!k->alive || k->dead)
        return 0;
    jp_log(JP_LOG_INFO, "kmgr", "interrupt kernel_id=%s mode=%s", k->id,
           k->msg_interrupt || k->pid <= 0 ? "message" : "signal");
    kernel_interrupt(k);
    return 0;
}

int kmgr_shutdown(struct kmgr *m, const char *id, kmgr_done_fn done, void *arg)
{
    struct kernel *k = find(m, id);
    enum stop_kind was;

    if (!k)
        return JP_ENOENT;
    if (add_waiter(&k->stop_waiters, done, arg) != 0)
        return JP_ENOMEM;
    if (k->stop == STOP_SHUTDOWN)
        return 0;
    was = k->stop;
    k->stop = STOP_SHUTDOWN;
    jp_log(JP_LOG_INFO, "kmgr", "shutdown kernel_id=%s name=%s", k->id, k->name);
    if (!k->alive) {
        /* nothing running (dead, or between a death and its restart): remove from the loop */
        k->stage = STAGE_REMOVE;
        uv_timer_stop(&k->ki_timer);
        uv_timer_stop(&k->ki_deadline);
        uv_timer_start(&k->stop_timer, stop_timer_cb, 0, 0);
        return 0;
    }
    if (was == STOP_RESTART)
        return 0; /* the restart's shutdown is under way; it now ends in removal */
    kernel_begin_stop(k, STOP_SHUTDOWN);
    return 0;
}

int kmgr_restart(struct kmgr *m, const char *id, kmgr_done_fn done, void *arg)
{
    struct kernel *k = find(m, id);
    char why[512];

    if (!k)
        return JP_ENOENT;
    if (add_waiter(&k->ready_waiters, done, arg) != 0)
        return JP_ENOMEM;
    if (k->stop != STOP_NONE)
        return 0; /* joins a restart, or fails with the shutdown under way */
    if (k->launching)
        return 0; /* a remote launch under way: its end answers the restart too */
    jp_log(JP_LOG_INFO, "kmgr", "restart kernel_id=%s name=%s", k->id, k->name);
    k->restarts = 0;
    k->autorestart = 0;
    if (!k->alive) {
        /* dead (or between a death and its restart): launch again */
        k->dead = 0;
        k->reason[0] = '\0';
        if (kernel_launch(k, 0, why, sizeof why) != 0) {
            /* report from the loop, never from inside this call */
            snprintf(k->reason, sizeof k->reason, "%s", why);
            k->stage = STAGE_DIE;
            uv_timer_start(&k->stop_timer, stop_timer_cb, 0, 0);
        }
        return 0;
    }
    k->adopting = 0;
    kernel_begin_stop(k, STOP_RESTART);
    return 0;
}

void kmgr_connections(struct kmgr *m, const char *id, int delta)
{
    struct kernel *k = find(m, id);

    if (!k)
        return;
    k->connections += delta;
    if (k->connections < 0)
        k->connections = 0;
}

void kmgr_touch(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);

    if (k)
        k->last_activity_us = jp_time_now_us();
}

/* The kernel and DEALER channel a client message goes to: 0, JP_ENOENT, JP_EINVAL (not
 * shell, control or stdin), JP_EIO (dead or not connected). */
static int send_target(struct kmgr *m, const char *id, const char *channel, struct kernel **kp,
                       enum jp_channel *ch)
{
    struct kernel *k = find(m, id);

    if (!k)
        return JP_ENOENT;
    if (!channel)
        return JP_EINVAL;
    if (strcmp(channel, "shell") == 0)
        *ch = JP_CH_SHELL;
    else if (strcmp(channel, "control") == 0)
        *ch = JP_CH_CONTROL;
    else if (strcmp(channel, "stdin") == 0)
        *ch = JP_CH_STDIN;
    else
        return JP_EINVAL;
    if (k->dead || !k->ch[*ch].sock)
        return JP_EIO;
    *kp = k;
    return 0;
}

int kmgr_send(struct kmgr *m, const char *id, const char *channel, const struct jp_msg *msg)
{
    struct kernel *k;
    enum jp_channel ch;
    int rc = send_target(m, id, channel, &k, &ch);

    if (rc == 0 && !msg)
        rc = JP_EINVAL;
    return rc ? rc : chan_send(k, ch, msg);
}

int kmgr_send_raw(struct kmgr *m, const char *id, const char *channel,
                  const struct jp_frame parts[4], const struct jp_frame *buffers, size_t n_buffers)
{
    struct kernel *k;
    enum jp_channel ch;
    int rc = send_target(m, id, channel, &k, &ch);

    if (rc == 0 && (!parts || (n_buffers && !buffers)))
        rc = JP_EINVAL;
    return rc ? rc : chan_send_raw(k, ch, parts, buffers, n_buffers);
}

static void hold_set(struct kernel *k, int hold)
{
    k->iopub_hold = hold;
    zt_pause_reading(k->ch[JP_CH_IOPUB].sock, hold);
}

static void hold_timer_cb(uv_timer_t *t)
{
    struct kernel *k = t->data;

    if (k->closing || !k->iopub_hold)
        return;
    hold_set(k, 0);
    k->hold_spent = 1;
    jp_log(JP_LOG_INFO, "kmgr",
           "IOPub read again after %d ms held for slow clients kernel_id=%s (their queue "
           "limits apply now)",
           KMGR_HOLD_MAX_MS, k->id);
}

int kmgr_hold_iopub(struct kmgr *m, const char *id, int hold)
{
    struct kernel *k = find(m, id);

    if (!k)
        return JP_ENOENT;
    if (!hold) {
        uv_timer_stop(&k->hold_timer);
        k->hold_spent = 0;
        if (k->iopub_hold)
            hold_set(k, 0);
    } else if (!k->iopub_hold && !k->hold_spent && !k->closing) {
        hold_set(k, 1);
        uv_timer_start(&k->hold_timer, hold_timer_cb, KMGR_HOLD_MAX_MS, 0);
    }
    return 0;
}

int kmgr_ready(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);
    return k && k->ready && !k->dead;
}

int kmgr_record(struct kmgr *m, const char *id, struct kmgr_record *rec)
{
    struct kernel *k = find(m, id);

    if (!k || !rec)
        return JP_ENOENT;
    memset(rec, 0, sizeof *rec);
    snprintf(rec->id, sizeof rec->id, "%s", k->id);
    snprintf(rec->name, sizeof rec->name, "%s", k->name);
    rec->pid = k->alive ? k->pid : 0;
    snprintf(rec->connection_file, sizeof rec->connection_file, "%s", k->conn_path);
    snprintf(rec->cwd, sizeof rec->cwd, "%s", k->cwd);
    rec->remote = k->remote;
    snprintf(rec->owner, sizeof rec->owner, "%s", k->owner);
    return 0;
}

int kmgr_adopt(struct kmgr *m, const struct kmgr_record *rec, kmgr_done_fn done, void *arg)
{
    struct kernel *k;
    char why[256];
    int rc;

    if (!m || !rec || !id_ok(rec->id) || find(m, rec->id) || !rec->connection_file[0] ||
        !memchr(rec->connection_file, '\0', sizeof rec->connection_file) ||
        !memchr(rec->name, '\0', sizeof rec->name) || !memchr(rec->cwd, '\0', sizeof rec->cwd))
        return JP_EINVAL;
    if (!(k = kernel_new(m, rec->id, rec->name)))
        return JP_ENOMEM;
    if (jp_conn_load(rec->connection_file, &k->conn, why, sizeof why) != 0) {
        jp_log(JP_LOG_WARN, "kmgr", "cannot adopt kernel_id=%s path=%s reason=\"%s\"", rec->id,
               rec->connection_file, why);
        kernel_discard(k);
        return JP_EINVAL;
    }
    rc = JP_ENOMEM;
    if (kernel_take_spec(k, kspecs_find(m->specs, rec->name)) != 0 ||
        !(k->signer = jp_signer_new(k->conn.key, k->conn.key_len, SIG_HISTORY)) ||
        add_waiter(&k->ready_waiters, done, arg) != 0)
        goto fail;
    snprintf(k->conn_path, sizeof k->conn_path, "%s", rec->connection_file);
    snprintf(k->cwd, sizeof k->cwd, "%s", rec->cwd);
    if (memchr(rec->owner, '\0', sizeof rec->owner))
        snprintf(k->owner, sizeof k->owner, "%s", rec->owner);
    if (!rec->remote && k->owner[0] && m->user_map) {
        /* a user's isolated kernel: a restart of it must drop to their account again */
        char msg[PATH_LEN];
        if (m->user_map(m->user_map_ctx, k->owner, &k->uid, &k->gid, msg, sizeof msg) != 0) {
            jp_log(JP_LOG_WARN, "kmgr", "cannot adopt a user's kernel kernel_id=%s reason=\"%s\"",
                   rec->id, msg);
            drop_waiters(&k->ready_waiters);
            kernel_discard(k);
            return JP_EINVAL;
        }
        snprintf(k->home, sizeof k->home, "%s", msg);
        k->as_user = 1;
    }
    if (rec->remote) {
        if (!m->prov_set) {
            jp_log(JP_LOG_WARN, "kmgr",
                   "cannot adopt a remote kernel without its provisioner kernel_id=%s", rec->id);
            drop_waiters(&k->ready_waiters);
            kernel_discard(k);
            return JP_EINVAL;
        }
        k->remote = 1;
        k->msg_interrupt = 1;
        k->adopting = 1;
        k->launching = 1;
        k->launches = 1;
        kernel_link(k);
        jp_log(JP_LOG_INFO, "kmgr", "adopting remote kernel_id=%s name=%s", k->id, k->name);
        m->prov.adopt(m->prov.ctx, k->id);
        return 0;
    }
    k->pid = rec->pid > 0 ? rec->pid : 0;
    k->is_child = k->pid > 0;
    k->own_group = k->pid > 0 && getpgid(k->pid) == k->pid;
    k->alive = 1;
    k->adopting = 1;
    kernel_link(k);
    if ((rc = kernel_connect(k)) != 0) {
        drop_waiters(&k->ready_waiters);
        kernel_release(k);
        return JP_EIO;
    }
    jp_log(JP_LOG_INFO, "kmgr", "adopting kernel_id=%s name=%s pid=%d", k->id, k->name,
           (int)k->pid);
    send_request(k, JP_CH_SHELL, "kernel_info_request", json_object());
    uv_timer_start(&k->ki_timer, ki_timer_cb, KI_RETRY_MS, KI_RETRY_MS);
    uv_timer_start(&k->ki_deadline, ki_deadline_cb, (uint64_t)m->kernel_info_timeout_ms, 0);
    uv_timer_start(&k->exit_timer, exit_timer_cb, 0, EXIT_POLL_MS);
    return 0;
fail:
    drop_waiters(&k->ready_waiters);
    kernel_discard(k);
    return rc;
}

/* ---- remote provisioners ---------------------------------------------------------------- */

void kmgr_set_provisioner(struct kmgr *m, const struct kmgr_prov *prov, int all)
{
    if (!m)
        return;
    m->prov_set = prov && prov->launch && prov->stop && prov->adopt && prov->forget;
    if (m->prov_set)
        m->prov = *prov;
    m->prov_all = m->prov_set && all;
}

int kmgr_stopping(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);
    return k && k->stop != STOP_NONE;
}

int kmgr_is_remote(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);
    return k && k->remote;
}

int kmgr_wait_ready(struct kmgr *m, const char *id, kmgr_done_fn done, void *arg)
{
    struct kernel *k = find(m, id);

    if (!k || k->closing)
        return JP_ENOENT;
    if (add_waiter(&k->ready_waiters, done, arg) != 0)
        return JP_ENOMEM;
    if ((k->ready && !k->dead) || k->dead)
        uv_timer_start(&k->kick, kick_cb, 0, 0); /* fires it from the loop */
    return 0;
}

int kmgr_prov_up(struct kmgr *m, const char *id, const char *ip)
{
    struct kernel *k = find(m, id);

    if (!k || !k->remote || k->closing || !ip || !*ip || strlen(ip) >= sizeof k->conn.ip)
        return JP_ENOENT;
    if (!k->launching)
        return 0;
    snprintf(k->conn.ip, sizeof k->conn.ip, "%s", ip);
    if (k->conn_path[0] && jp_conn_save(&k->conn, k->conn_path) != 0)
        jp_log(JP_LOG_WARN, "kmgr", "cannot write connection file path=%s", k->conn_path);
    k->launching = 0;
    if (kernel_connect(k) != 0) {
        kernel_handle_exit_why(k, -1, "cannot create the kernel's sockets");
        return 0;
    }
    k->alive = 1;
    jp_log(JP_LOG_INFO, "kmgr", "remote kernel up kernel_id=%s ip=%s", k->id, ip);
    send_request(k, JP_CH_SHELL, "kernel_info_request", json_object());
    uv_timer_start(&k->ki_timer, ki_timer_cb, KI_RETRY_MS, KI_RETRY_MS);
    uv_timer_start(&k->ki_deadline, ki_deadline_cb, (uint64_t)m->kernel_info_timeout_ms, 0);
    return 0;
}

int kmgr_prov_exited(struct kmgr *m, const char *id, const char *cause)
{
    struct kernel *k = find(m, id);

    if (!k || !k->remote)
        return JP_ENOENT;
    if (k->closing || k->dead || (!k->alive && !k->launching && k->stop == STOP_NONE))
        return 0;
    if (k->adopting && !k->alive) {
        /* adoption found nothing to adopt */
        k->launching = 0;
        snprintf(k->reason, sizeof k->reason, "%s", cause ? cause : "kernel pod is gone");
        fire(k, &k->ready_waiters, JP_EDEAD, k->reason);
        if (!k->closing)
            kernel_remove(k);
        return 0;
    }
    kernel_disconnect(k);
    kernel_handle_exit_why(k, -1, cause && *cause ? cause : "kernel pod is gone");
    return 0;
}

int kmgr_set_owner(struct kmgr *m, const char *id, const char *owner)
{
    struct kernel *k = find(m, id);
    if (!k || !owner || strlen(owner) >= sizeof k->owner)
        return JP_ENOENT;
    snprintf(k->owner, sizeof k->owner, "%s", owner);
    return 0;
}

const char *kmgr_owner(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);
    return k ? k->owner : NULL;
}

int kmgr_count_owner(struct kmgr *m, const char *owner)
{
    int n = 0;
    for (struct kernel *k = m ? m->head : NULL; k; k = k->next)
        if (!k->dead && !k->closing && k->stop != STOP_SHUTDOWN && owner &&
            strcmp(k->owner, owner) == 0)
            n++;
    return n;
}

int kmgr_set_user_map(struct kmgr *m, kmgr_user_map_fn map, void *ctx, const char *dir)
{
    struct stat st;
    if (!m)
        return JP_EINVAL;
    m->user_map = map;
    m->user_map_ctx = ctx;
    snprintf(m->user_runtime_dir, sizeof m->user_runtime_dir, "%s", dir ? dir : "");
    if (!dir || !*dir)
        return 0;
    /* users' kernels (their own uids) must reach their directory inside it, and see nothing
     * else: 0711, owned by the server, and so must every directory above it be traversable */
    if (mkdir_p(dir, 0711) != 0 || chmod(dir, 0711) != 0 || stat(dir, &st) != 0)
        return JP_EIO;
    char p[PATH_LEN], *sl;
    snprintf(p, sizeof p, "%s", dir);
    while ((sl = strrchr(p, '/')) && sl != p) {
        *sl = '\0';
        if (stat(p, &st) == 0 && (st.st_mode & 0001) == 0) {
            jp_log(JP_LOG_ERROR, "kmgr",
                   "users' kernels cannot reach their runtime directory: %s is not traversable "
                   "by others path=%s",
                   p, dir);
            return JP_EIO;
        }
    }
    return 0;
}

int64_t kmgr_started_us(struct kmgr *m, const char *id)
{
    struct kernel *k = find(m, id);
    return k ? k->started_us : 0;
}
