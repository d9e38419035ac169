/*
 * k8s_http.c - libcurl multi on libuv for the Kubernetes API (see k8s_http.h).
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one uv_poll per socket) and
 * when to call it back (CURLMOPT_TIMERFUNCTION: one uv_timer); we hand readiness back with
 * curl_multi_socket_action and collect finished transfers with curl_multi_info_read. Requests
 * are kept on a list so a sweep timer can end silent streams and k8s_http_free can cancel all.
 */
#include "k8s_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "jp_buf.h"
#include "jp_log.h"
#include "jp_time.h"

#define BODY_LIMIT (64u << 20)
#define TOKEN_REREAD_MS 60000
#define SWEEP_MS 250
#define MAX_INFLIGHT 32 /* plain requests at once; more wait their turn (no 429 storms) */
#define MAX_RETRIES 5   /* 429 / 503 answers retried after Retry-After */

struct k8s_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer, sweep;
    int closing_handles;
    int freeing;
    struct k8s_req *head;
    int active;        /* plain requests handed to curl */
    unsigned long seq; /* start order, for the queue */
    char *server;
    char *ca_file, *ca_pem, *token, *token_file, *cert_file, *key_file, *cert_pem, *key_pem;
    size_t ca_len, cert_len, key_len;
    char *userpwd;
    int insecure;
    char auth[8192]; /* "Authorization: Bearer ..." or "" */
    int64_t token_read_ms;
    struct k8s_http_stats st;
};

struct k8s_req {
    struct k8s_http *h;
    struct k8s_req *prev, *next;
    CURL *easy;
    struct curl_slist *hdrs;
    char *method, *path, *body, *ctype;
    long timeout_ms, idle_ms;
    int stream, retried, cancelled, firing, added;
    int waiting; /* queued (MAX_INFLIGHT) or delayed (Retry-After) */
    int tries;   /* 429/503 retries so far */
    unsigned long seq;
    int64_t not_before_ms; /* a delayed retry starts then */
    int64_t last_data_ms;
    struct jp_buf resp;
    long status;
    k8s_done_fn done;
    k8s_data_fn data;
    void *arg;
    char err[CURL_ERROR_SIZE];
};

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct k8s_http *h;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *memdup0(const char *p, size_t n)
{
    char *d;
    if (!p)
        return NULL;
    if (!(d = malloc(n + 1)))
        return NULL;
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* Read the token file when due (or forced); 1 when the token changed. */
static int token_refresh(struct k8s_http *h, int force)
{
    char buf[sizeof h->auth - 32], old[sizeof h->auth];
    FILE *f;
    size_t n;
    int64_t now = jp_time_mono_ms();

    if (!h->token_file || (!force && h->token_read_ms && now - h->token_read_ms < TOKEN_REREAD_MS))
        return 0;
    h->token_read_ms = now;
    h->st.token_reads++;
    if (!(f = fopen(h->token_file, "r"))) {
        jp_log(JP_LOG_WARN, "k8s", "cannot read the token file path=%s error=\"%s\"", h->token_file,
               strerror(errno));
        return 0;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    snprintf(old, sizeof old, "%s", h->auth);
    if (n)
        snprintf(h->auth, sizeof h->auth, "Authorization: Bearer %s", buf);
    memset(buf, 0, sizeof buf);
    return strcmp(old, h->auth) != 0;
}

/* ---- curl <-> uv ------------------------------------------------------------------------- */

static void check_done(struct k8s_http *h);

static void sock_close_cb(uv_handle_t *hd)
{
    struct sock_ctx *c = hd->data;
    struct k8s_http *h = c->h;
    free(c);
    if (--h->closing_handles == 0 && h->freeing)
        free(h);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *c = p->data;
    struct k8s_http *h = c->h;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(h->multi, c->fd, flags, &running);
    check_done(h);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct k8s_http *h = userp;
    struct sock_ctx *c = socketp;
    int ev = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            curl_multi_assign(h->multi, s, NULL);
            h->closing_handles++;
            uv_close((uv_handle_t *)&c->poll, sock_close_cb);
        }
        return 0;
    }
    if (!c) {
        if (!(c = calloc(1, sizeof *c)))
            return -1;
        c->fd = s;
        c->h = h;
        if (uv_poll_init_socket(h->loop, &c->poll, s) != 0) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        curl_multi_assign(h->multi, s, c);
    }
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, poll_cb);
    return 0;
}

static void timer_cb(uv_timer_t *t)
{
    struct k8s_http *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timerfn(CURLM *multi, long timeout_ms, void *userp)
{
    struct k8s_http *h = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

static void req_unlink(struct k8s_req *r)
{
    struct k8s_http *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else if (h->head == r)
        h->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(struct k8s_req *r)
{
    if (r->easy) {
        if (r->added)
            curl_multi_remove_handle(r->h->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    if (!r->stream && !r->waiting && r->h->active)
        r->h->active--;
    if (r->h->st.in_flight)
        r->h->st.in_flight--;
    curl_slist_free_all(r->hdrs);
    jp_buf_dispose(&r->resp);
    free(r->method);
    free(r->path);
    free(r->body);
    free(r->ctype);
    free(r);
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    struct k8s_req *r = ud;
    size_t len = size * n;

    if (r->cancelled)
        return 0;
    r->last_data_ms = jp_time_mono_ms();
    if (!r->status)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->stream && r->status >= 200 && r->status < 300) {
        if (r->data && r->data(r->arg, p, len) != 0)
            r->cancelled = r->cancelled ? r->cancelled : 2; /* 2: ended by the caller, fire done */
        return r->cancelled ? 0 : len;
    }
    if (jp_buf_add(&r->resp, p, len) != 0)
        return 0;
    return len;
}

static int req_setup(struct k8s_req *r)
{
    struct k8s_http *h = r->h;
    char url[8192];
    CURL *e = curl_easy_init();

    if (!e)
        return -1;
    r->easy = e;
    token_refresh(h, 0);
    snprintf(url, sizeof url, "%s%s", h->server, r->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cnote-server/0.1");
    if (!r->stream)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : 30000L);
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    if (h->ca_pem) {
        struct curl_blob b = {h->ca_pem, h->ca_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (h->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (h->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, h->cert_file);
    if (h->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, h->key_file);
    if (h->cert_pem) {
        struct curl_blob b = {h->cert_pem, h->cert_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (h->key_pem) {
        struct curl_blob b = {h->key_pem, h->key_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (h->userpwd) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERPWD, h->userpwd);
    }
    curl_slist_free_all(r->hdrs);
    r->hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (h->auth[0])
        r->hdrs = curl_slist_append(r->hdrs, h->auth);
    if (r->body) {
        char ct[256];
        snprintf(ct, sizeof ct, "Content-Type: %s", r->ctype ? r->ctype : "application/json");
        r->hdrs = curl_slist_append(r->hdrs, ct);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    }
    if (strcmp(r->method, "GET") != 0 && !(strcmp(r->method, "POST") == 0 && r->body))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    r->status = 0;
    r->err[0] = '\0';
    jp_buf_reset(&r->resp);
    r->last_data_ms = jp_time_mono_ms();
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
        return -1;
    r->added = 1;
    return 0;
}

static struct k8s_req *req_start(struct k8s_http *h, const char *method, const char *path,
                                 const char *body, const char *ctype, long timeout_ms, int stream,
                                 long idle_ms, k8s_data_fn data, k8s_done_fn done, void *arg)
{
    struct k8s_req *r;

    if (!h || !method || !path)
        return NULL;
    if (!(r = calloc(1, sizeof *r)))
        return NULL;
    r->h = h;
    jp_buf_init(&r->resp, BODY_LIMIT);
    r->method = strdup(method);
    r->path = strdup(path);
    r->body = dup_or_null(body);
    r->ctype = dup_or_null(ctype);
    r->timeout_ms = timeout_ms;
    r->stream = stream;
    r->idle_ms = idle_ms;
    r->data = data;
    r->done = done;
    r->arg = arg;
    h->st.requests++;
    h->st.in_flight++;
    r->seq = ++h->seq;
    if (!stream && h->active >= MAX_INFLIGHT)
        r->waiting = 1; /* started by start_waiting when a slot frees */
    else if (!stream)
        h->active++;
    if (!r->method || !r->path || (body && !r->body) || (ctype && !r->ctype) ||
        (!r->waiting && req_setup(r))) {
        req_free(r);
        return NULL;
    }
    r->next = h->head;
    if (h->head)
        h->head->prev = r;
    h->head = r;
    return r;
}

struct k8s_req *k8s_http_request(struct k8s_http *h, const char *method, const char *path,
                                 const char *body, const char *content_type, long timeout_ms,
                                 k8s_done_fn done, void *arg)
{
    return req_start(h, method, path, body, content_type, timeout_ms, 0, 0, NULL, done, arg);
}

struct k8s_req *k8s_http_stream(struct k8s_http *h, const char *path, long idle_ms,
                                k8s_data_fn data, k8s_done_fn done, void *arg)
{
    return req_start(h, "GET", path, NULL, NULL, 0, 1, idle_ms, data, done, arg);
}

void k8s_http_cancel(struct k8s_req *r)
{
    if (!r || r->firing)
        return;
    /* from inside curl (a data callback) the handle cannot be removed: make the transfer fail
     * and drop it when it ends */
    r->cancelled = 1;
}

static void finish(struct k8s_req *r, CURLcode code)
{
    struct k8s_http *h = r->h;

    curl_multi_remove_handle(h->multi, r->easy);
    r->added = 0;
    if (r->cancelled == 1) {
        req_unlink(r);
        req_free(r);
        return;
    }
    if (code == CURLE_OK || (r->cancelled == 2 && code == CURLE_WRITE_ERROR))
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    else
        r->status = 0;
    /* a 401 with a token file: the token rotated under us; read it again and retry once */
    if (r->status == 401 && !r->retried && h->token_file && token_refresh(h, 1)) {
        r->retried = 1;
        jp_log(JP_LOG_INFO, "k8s", "token re-read after 401, retrying path=%s", r->path);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        if (req_setup(r) == 0)
            return;
    }
    if (!r->stream && (r->status == 429 || r->status == 503) && r->tries < MAX_RETRIES) {
        curl_off_t after = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &after);
        if (after <= 0)
            after = 1;
        if (after > 10)
            after = 10;
        r->tries++;
        h->st.throttled++;
        jp_log(JP_LOG_INFO, "k8s", "throttled (%ld), retrying in %lld s path=%s", r->status,
               (long long)after, r->path);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        r->waiting = 2;
        r->not_before_ms = jp_time_mono_ms() + (int64_t)after * 1000;
        if (h->active)
            h->active--;
        return;
    }
    if (r->status == 0 || r->status >= 500)
        h->st.failures++;
    if (r->status == 0) {
        jp_buf_reset(&r->resp);
        jp_buf_adds(&r->resp, r->err[0] ? r->err : curl_easy_strerror(code));
    }
    req_unlink(r);
    r->firing = 1;
    if (r->done)
        r->done(r->arg, r->status, r->resp.data ? r->resp.data : "", r->resp.len);
    req_free(r);
}

/* Hand waiting requests to curl while there are free slots: queued ones in start order,
 * delayed ones once their time has come. */
static void start_waiting(struct k8s_http *h)
{
    int64_t now = jp_time_mono_ms();

    while (h->active < MAX_INFLIGHT) {
        struct k8s_req *best = NULL;
        for (struct k8s_req *r = h->head; r; r = r->next)
            if (r->waiting && !r->cancelled && (r->waiting == 1 || now >= r->not_before_ms) &&
                (!best || r->seq < best->seq))
                best = r;
        if (!best)
            return;
        best->waiting = 0;
        h->active++;
        if (req_setup(best) != 0) {
            struct k8s_req *r = best;
            req_unlink(r);
            r->status = 0;
            r->firing = 1;
            if (r->done)
                r->done(r->arg, 0, "cannot start the request", 24);
            req_free(r);
        }
    }
}

static void check_done(struct k8s_http *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left))) {
        struct k8s_req *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r)
            finish(r, msg->data.result);
    }
    start_waiting(h);
}

/* End silent streams, and drop cancelled requests that curl is not going to finish soon. */
static void sweep_cb(uv_timer_t *t)
{
    struct k8s_http *h = t->data;
    int64_t now = jp_time_mono_ms();
    struct k8s_req *r, *next;

    start_waiting(h);
    for (r = h->head; r; r = next) {
        next = r->next;
        if (r->cancelled == 1) {
            req_unlink(r);
            req_free(r);
        } else if (r->stream && r->idle_ms > 0 && now - r->last_data_ms > r->idle_ms) {
            req_unlink(r);
            r->firing = 1;
            if (r->done)
                r->done(r->arg, 0, "idle", 4);
            req_free(r);
            next = h->head; /* the callback may have changed the list */
        }
    }
}

/* ---- life ------------------------------------------------------------------------------- */

struct k8s_http *k8s_http_new(uv_loop_t *loop, const struct k8s_http_opts *o, char *why,
                              size_t whylen)
{
    static int curl_ready;
    struct k8s_http *h;

    if (!loop || !o || !o->server || strncmp(o->server, "http", 4) != 0) {
        snprintf(why, whylen, "the API server address must be an http(s) URL");
        return NULL;
    }
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(why, whylen, "libcurl failed to initialise");
            return NULL;
        }
        curl_ready = 1;
    }
    if (!(h = calloc(1, sizeof *h)) || !(h->multi = curl_multi_init())) {
        free(h);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->server = strdup(o->server);
    if (h->server) {
        size_t n = strlen(h->server);
        while (n && h->server[n - 1] == '/')
            h->server[--n] = '\0';
    }
    h->ca_file = dup_or_null(o->ca_file);
    h->ca_pem = memdup0(o->ca_pem, o->ca_len);
    h->ca_len = o->ca_len;
    h->cert_file = dup_or_null(o->cert_file);
    h->key_file = dup_or_null(o->key_file);
    h->cert_pem = memdup0(o->cert_pem, o->cert_len);
    h->cert_len = o->cert_len;
    h->key_pem = memdup0(o->key_pem, o->key_len);
    h->key_len = o->key_len;
    h->token_file = dup_or_null(o->token_file);
    h->insecure = o->insecure;
    if (o->username && o->password &&
        (h->userpwd = malloc(strlen(o->username) + strlen(o->password) + 2)))
        sprintf(h->userpwd, "%s:%s", o->username, o->password);
    if (o->token && *o->token)
        snprintf(h->auth, sizeof h->auth, "Authorization: Bearer %s", o->token);
    token_refresh(h, 1);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timerfn);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->sweep);
    h->timer.data = h->sweep.data = h;
    uv_timer_start(&h->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&h->sweep);
    if (!h->server) {
        snprintf(why, whylen, "out of memory");
        k8s_http_free(h);
        return NULL;
    }
    return h;
}

static void http_close_cb(uv_handle_t *hd)
{
    struct k8s_http *h = hd->data;
    if (--h->closing_handles == 0)
        free(h);
}

void k8s_http_free(struct k8s_http *h)
{
    if (!h)
        return;
    while (h->head) {
        struct k8s_req *r = h->head;
        req_unlink(r);
        req_free(r); /* removing the handle closes its sockets through socket_cb */
    }
    curl_multi_cleanup(h->multi);
    free(h->server);
    free(h->ca_file);
    free(h->ca_pem);
    free(h->cert_file);
    free(h->key_file);
    free(h->cert_pem);
    if (h->key_pem)
        memset(h->key_pem, 0, h->key_len);
    free(h->key_pem);
    free(h->token_file);
    if (h->userpwd)
        memset(h->userpwd, 0, strlen(h->userpwd));
    free(h->userpwd);
    memset(h->auth, 0, sizeof h->auth);
    h->freeing = 1;
    h->closing_handles += 2;
    uv_close((uv_handle_t *)&h->timer, http_close_cb);
    uv_close((uv_handle_t *)&h->sweep, http_close_cb);
}

void k8s_http_stats(const struct k8s_http *h, struct k8s_http_stats *out)
{
    if (out)
        *out = h ? h->st : (struct k8s_http_stats){0};
}
