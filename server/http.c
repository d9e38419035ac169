/*
 * http.c - the HTTP layer: one libwebsockets context on the server's libuv loop (a foreign
 * loop), one vhost on one port for REST, pages and (part 2) WebSockets, optional TLS.
 *
 * It turns lws callbacks into srv_req/srv_resp: reads the method, the decoded path and the
 * query, collects the body up to the configured limit (413 past it), removes base_url,
 * runs the authentication and Host/Origin checks (auth.c), dispatches through the route
 * table (router.c), and writes the answer with a Content-Length (lws 4.1 would otherwise
 * close the connection) in pieces on WRITEABLE. Handlers may answer later (SRV_ASYNC): the
 * connection is then held through a small handle that survives the client going away.
 * This is the only file that includes libwebsockets.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "jp_bytes.h"
#include "jp_log.h"
#include "kmgr.h"
#include "srv.h"
#include "ws.h"

_Static_assert(WSB_HEADROOM >= LWS_PRE, "the bridge must leave LWS_PRE bytes before frames");

#define WS_MAX_MESSAGE ((size_t)256 << 20) /* one inbound WebSocket message */
#define WS_V1 "v1.kernel.websocket.jupyter.org"
#define CHUNK 65536

struct async_handle {
    struct lws *wsi; /* NULL once the client is gone */
    struct conn *conn;
};

struct conn {
    struct srv_req req;
    struct srv_resp resp;
    struct jp_buf body;
    int body_pending; /* waiting for BODY_COMPLETION */
    int answered;     /* resp is ready */
    int head;         /* HEAD: no body */
    int headers_sent;
    size_t sent;
    struct async_handle *async;
    struct lws *wsi;
    int in_request_cb; /* inside LWS_CALLBACK_HTTP or BODY_COMPLETION for this request */
    char *hbuf;        /* header values returned by req.header (allocated on first use: lws
                        * zeroes the per-request data, so it must stay small) */
    size_t hused;
    /* WebSocket connections */
    struct wsb_client *ws;
    struct jp_buf *rx; /* an inbound message being reassembled (allocated on demand) */
    int close_code;    /* the bridge asked to close */
    char close_reason[64];
    struct conn *flush_next, *flush_prev;
    int in_flush;
};

struct http {
    struct srv *srv;
    struct lws_context *ctx;
    /* WebSocket connections with something queued, written at the end of this loop turn
     * (a uv_check) instead of after another epoll round for POLLOUT */
    uv_check_t *flush;
    struct conn *flush_head;
    char csp[600]; /* the Content-Security-Policy of /api answers, made once */
    int csp_len;
};

static void resp_dispose(struct srv_resp *r)
{
    jp_buf_dispose(&r->body);
    for (int i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->n_headers = 0;
}

static void conn_reset(struct conn *c)
{
    free(c->req.path);
    free(c->req.query);
    for (int i = 0; i < SRV_MAX_PARAMS; i++)
        free(c->req.params[i]);
    jp_buf_dispose(&c->body);
    resp_dispose(&c->resp);
    if (c->async) {
        c->async->wsi = NULL; /* the answer, if it ever comes, is dropped */
        c->async->conn = NULL;
        c->async = NULL;
    }
    memset(&c->req, 0, sizeof c->req);
    memset(&c->resp, 0, sizeof c->resp);
    c->body_pending = c->answered = c->head = c->headers_sent = 0;
    c->sent = 0;
    c->hused = 0;
    free(c->hbuf);
    c->hbuf = NULL;
}

static const struct {
    enum lws_token_indexes tok;
    const char *name;
} header_tokens[] = {
    {WSI_TOKEN_HOST, "host"},
    {WSI_TOKEN_ORIGIN, "origin"},
    {WSI_TOKEN_HTTP_AUTHORIZATION, "authorization"},
    {WSI_TOKEN_HTTP_COOKIE, "cookie"},
    {WSI_TOKEN_HTTP_CONTENT_TYPE, "content-type"},
    {WSI_TOKEN_HTTP_CONTENT_LENGTH, "content-length"},
    {WSI_TOKEN_HTTP_REFERER, "referer"},
    {WSI_TOKEN_X_FORWARDED_FOR, "x-forwarded-for"},
    {WSI_TOKEN_HTTP_ACCEPT_ENCODING, "accept-encoding"},
    {WSI_TOKEN_HTTP_IF_NONE_MATCH, "if-none-match"},
};

#define HBUF_SIZE 16384

static const char *conn_header(struct srv_req *r, const char *name)
{
    struct conn *c = r->hctx;
    if (!c->wsi)
        return NULL;
    if (!c->hbuf && !(c->hbuf = malloc(HBUF_SIZE)))
        return NULL;
    for (size_t i = 0; i < sizeof header_tokens / sizeof *header_tokens; i++) {
        if (strcmp(header_tokens[i].name, name) != 0)
            continue;
        int n = lws_hdr_total_length(c->wsi, header_tokens[i].tok);
        if (n <= 0 || c->hused + (size_t)n + 1 > HBUF_SIZE)
            return NULL;
        char *dst = c->hbuf + c->hused;
        if (lws_hdr_copy(c->wsi, dst, n + 1, header_tokens[i].tok) < 0)
            return NULL;
        c->hused += (size_t)n + 1;
        return dst;
    }
    /* headers lws has no token for (x-xsrftoken, x-forwarded-proto, ...) */
    char key[80];
    snprintf(key, sizeof key, "%s:", name);
    int n = lws_hdr_custom_length(c->wsi, key, (int)strlen(key));
    if (n <= 0 || c->hused + (size_t)n + 1 > HBUF_SIZE)
        return NULL;
    char *dst = c->hbuf + c->hused;
    if (lws_hdr_custom_copy(c->wsi, dst, n + 1, key, (int)strlen(key)) < 0)
        return NULL;
    c->hused += (size_t)n + 1;
    return dst;
}

static void urlencode(struct jp_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || strchr("-._~", ch)) {
            jp_buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            jp_buf_add(b, e, 3);
        }
    }
}

/* lws hands query arguments decoded, one per fragment: encode them again into one string so
 * srv_query decodes values that contained '&' or '=' correctly. */
static char *query_string(struct lws *wsi)
{
    struct jp_buf b;
    char frag[8192];
    jp_buf_init(&b, 1 << 20);
    jp_buf_adds(&b, "");
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
         i++) {
        if (b.len)
            jp_buf_adds(&b, "&");
        char *eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        urlencode(&b, frag);
        if (eq) {
            jp_buf_adds(&b, "=");
            urlencode(&b, eq + 1);
        }
    }
    return jp_buf_take(&b);
}

static const char *method_of(struct lws *wsi, char **uri)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *m;
    } t[] = {{WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
             {WSI_TOKEN_PUT_URI, "PUT"},       {WSI_TOKEN_PATCH_URI, "PATCH"},
             {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
             {WSI_TOKEN_HEAD_URI, "HEAD"}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        int n = lws_hdr_total_length(wsi, t[i].tok);
        if (n > 0) {
            *uri = malloc((size_t)n + 1);
            int got = *uri ? lws_hdr_copy(wsi, *uri, n + 1, t[i].tok) : -1;
            /* a %00 decoded into the path would silently cut it: refuse it instead */
            if (got < 0 || strlen(*uri) != (size_t)got) {
                free(*uri);
                *uri = NULL;
            }
            return t[i].m;
        }
    }
    return NULL;
}

static void answer(struct conn *c)
{
    c->answered = 1;
    /* inside the request's own callback the answer is written on return from it (no extra
     * loop turn and no POLLOUT toggling); a later (async) answer waits for WRITEABLE */
    if (c->wsi && !c->in_request_cb)
        lws_callback_on_writable(c->wsi);
}

static void dispatch(struct http *h, struct conn *c)
{
    struct srv *s = h->srv;
    struct srv_req *r = &c->req;
    struct srv_resp *resp = &c->resp;
    r->body = c->body.data;
    r->body_len = c->body.len;
    srv_touch(s);

    int path_matched = 0;
    const struct srv_route *route = srv_route_match(r->method, r->path, r->params, &path_matched);
    if (!route) {
        if (strcmp(r->method, "OPTIONS") == 0 && path_matched) {
            auth_cors_preflight(s, r, resp);
        } else if (path_matched) {
            srv_error(resp, 405, "Method Not Allowed", NULL);
        } else if (strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0) {
            srv_error(resp, 404, "Not Found", NULL);
        } else {
            resp->status = 404;
            snprintf(resp->content_type, sizeof resp->content_type, "text/html; charset=UTF-8");
            jp_buf_adds(&resp->body, "<!DOCTYPE html><html><head><title>404</title></head>"
                                     "<body><h1>404: Not Found</h1></body></html>\n");
        }
        answer(c);
        return;
    }
    if (auth_check(s, r, resp, route->public) != 0) {
        answer(c);
        return;
    }
    int st = route->fn(r, resp);
    if (st == SRV_ASYNC)
        return; /* srv_async_answer comes later */
    answer(c);
}

void *srv_async_hold(struct srv_req *r)
{
    struct conn *c = r->conn;
    struct async_handle *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->wsi = c->wsi;
    a->conn = c;
    c->async = a;
    /* no lws timeout while the answer is being prepared (a restart may take a while) */
    lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    return a;
}

void srv_async_release(void *handle)
{
    struct async_handle *a = handle;
    if (!a)
        return;
    if (a->conn)
        a->conn->async = NULL;
    free(a);
}

void srv_async_answer(void *handle, struct srv_resp *resp)
{
    struct async_handle *a = handle;
    if (!a)
        return;
    if (a->wsi && a->conn) {
        struct conn *c = a->conn;
        resp_dispose(&c->resp);
        c->resp = *resp;
        memset(resp, 0, sizeof *resp);
        c->async = NULL;
        answer(c);
    } else {
        resp_dispose(resp);
    }
    free(a);
}

static int write_headers(struct http *h, struct conn *c, struct lws *wsi)
{
    unsigned char buf[LWS_PRE + 8192], *start = buf + LWS_PRE, *p = start,
                                       *end = buf + sizeof buf - 1;
    struct srv_resp *r = &c->resp;
    const char *ct = r->content_type[0] ? r->content_type : NULL;
    if (!r->status)
        r->status = 200;
    srv_metrics_response(h->srv, r->status);
    if (lws_add_http_common_headers(wsi, (unsigned int)r->status, ct, r->body.len, &p, end))
        return -1;
    static const char nosniff[] = "nosniff";
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)nosniff, sizeof nosniff - 1, &p, end))
        return -1;
    if (strncmp(c->req.path ? c->req.path : "", "/api", 4) == 0) {
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-security-policy:",
                                        (const unsigned char *)h->csp, h->csp_len, &p, end))
            return -1;
    }
    for (int i = 0; i < r->n_headers; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s:", r->headers[i].name);
        for (char *q = name; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)r->headers[i].value,
                                        (int)strlen(r->headers[i].value), &p, end))
            return -1;
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    c->headers_sent = 1;
    return 0;
}

static int on_writeable(struct http *h, struct conn *c, struct lws *wsi)
{
    if (!c->answered)
        return 0;
    if (!c->headers_sent) {
        if (write_headers(h, c, wsi))
            return -1;
        if (c->head || c->resp.body.len == 0)
            goto done;
        /* the body goes out in the same turn of the loop unless the socket is full: one
         * wake-up per small answer instead of two */
        if (lws_send_pipe_choked(wsi)) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    size_t left = c->resp.body.len - c->sent;
    size_t n = left < CHUNK ? left : CHUNK;
    unsigned char *buf = malloc(LWS_PRE + n);
    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, c->resp.body.data + c->sent, n);
    int final = n == left;
    int w = lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(buf);
    if (w < (int)n)
        return -1;
    c->sent += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
done:
    conn_reset(c);
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

/* Start a request on c: fresh state, the header accessor, the method (NULL when there is
 * none or the path is malformed) and the raw path in *uri (malloc'd, or NULL). */
static const char *request_begin(struct http *h, struct conn *c, struct lws *wsi, char **uri)
{
    conn_reset(c);
    c->wsi = wsi;
    c->req.srv = h->srv;
    c->req.conn = c;
    c->req.header = conn_header;
    c->req.hctx = c;
    lws_get_peer_simple(wsi, c->req.peer, sizeof c->req.peer);
    *uri = NULL;
    return method_of(wsi, uri);
}

/* The path below base_url ("/prefix/..." -> "/..."; "/prefix" -> "/"), or NULL when uri is
 * outside it. */
static const char *below_base(const char *bu, const char *uri)
{
    size_t bl = strlen(bu);
    if (strncmp(uri, bu, bl) == 0)
        return uri + bl - 1;
    if (strlen(uri) == bl - 1 && strncmp(uri, bu, bl - 1) == 0)
        return "/";
    return NULL;
}

static int on_http(struct http *h, struct conn *c, struct lws *wsi)
{
    struct srv *s = h->srv;
    char *uri;
    const char *m = request_begin(h, c, wsi, &uri);
    jp_buf_init(&c->body, s->o.max_body_size);
    jp_buf_init(&c->resp.body, (size_t)1 << 31); /* answers: files up to 2 GiB */
    if (!m || !uri) {
        free(uri);
        snprintf(c->req.method, sizeof c->req.method, "GET");
        srv_error(&c->resp, 400, "Bad Request: malformed path (a NUL byte?)", NULL);
        answer(c);
        return 0;
    }
    snprintf(c->req.method, sizeof c->req.method, "%s", m);
    c->head = strcmp(m, "HEAD") == 0;
    if (c->head)
        snprintf(c->req.method, sizeof c->req.method, "GET");
    const char *bu = s->o.base_url;
    size_t bl = strlen(bu);
    const char *rest = below_base(bu, uri);
    if (!rest) {
        free(uri);
        srv_error(&c->resp, 404, "Not Found", NULL);
        answer(c);
        return 0;
    }
    c->req.path = strdup(rest);
    free(uri);
    c->req.query = query_string(wsi);
    if (!c->req.path || !c->req.query)
        return -1;
    /* a trailing slash is redirected away, as Jupyter Server does (not "/" itself) */
    size_t pl = strlen(c->req.path);
    if (pl > 1 && c->req.path[pl - 1] == '/' && (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)) {
        struct jp_buf loc;
        jp_buf_init(&loc, 16384);
        jp_buf_add(&loc, bu, bl - 1);
        jp_buf_add(&loc, c->req.path, pl - 1);
        if (c->req.query[0])
            jp_buf_addf(&loc, "?%s", c->req.query);
        c->resp.status = 302;
        srv_header_add(&c->resp, "Location", loc.data ? loc.data : "/");
        jp_buf_dispose(&loc);
        answer(c);
        return 0;
    }
    char cl[32] = "";
    long long len = 0;
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        len = strtoll(cl, NULL, 10);
    if (len < 0 || (unsigned long long)len > s->o.max_body_size) {
        srv_error(&c->resp, 413, "Request body too large", NULL);
        answer(c);
        return 0;
    }
    if (len > 0 && strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        c->body_pending = 1;
        return 0;
    }
    dispatch(h, c);
    return 0;
}

/* ---- WebSockets ------------------------------------------------------------------------ */

#define BATCH_SMALL 16384 /* messages up to this size are batched */
#define BATCH_MAX 65536   /* bytes of frames per batched write */

/* a small whole message, which goes out batched with its neighbours */
static int batchable(const struct wsb_piece *p)
{
    return p->first && p->final && p->len <= BATCH_SMALL;
}

static int ws_writeable(struct conn *c, struct lws *wsi);

static void flush_unlink(struct http *h, struct conn *c)
{
    if (!c->in_flush)
        return;
    if (c->flush_prev)
        c->flush_prev->flush_next = c->flush_next;
    else
        h->flush_head = c->flush_next;
    if (c->flush_next)
        c->flush_next->flush_prev = c->flush_prev;
    c->flush_next = c->flush_prev = NULL;
    c->in_flush = 0;
}

/* End of the loop turn: everything the bridge queued during it goes out now, batched. */
static void flush_cb(uv_check_t *t)
{
    struct http *h = t->data;
    while (h->flush_head) {
        struct conn *c = h->flush_head;
        flush_unlink(h, c);
        struct wsb_piece p;
        if (!c->wsi)
            continue;
        /* only small whole messages go out from here; big output keeps to lws's POLLOUT
         * rhythm (writing it outside the writable callback slowed it down). Whether the
         * socket takes more is not asked with poll() (lws_send_pipe_choked, two system calls
         * per write): a write it does not take whole leaves the rest with lws, which then
         * waits for POLLOUT itself. */
        if (c->close_code || !c->ws || !wsb_peek(c->ws, &p) || !batchable(&p) ||
            lws_partial_buffered(c->wsi)) {
            lws_callback_on_writable(c->wsi);
        } else if (ws_writeable(c, c->wsi) < 0) {
            /* outside its callback a connection cannot be closed by returning -1 */
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
        }
    }
    uv_check_stop(t);
}

static void ws_want_write(void *tctx)
{
    struct conn *c = tctx;
    if (!c->wsi)
        return;
    struct http *h = lws_context_user(lws_get_context(c->wsi));
    if (!h || !h->flush) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (!c->in_flush) {
        c->flush_prev = NULL;
        c->flush_next = h->flush_head;
        if (h->flush_head)
            h->flush_head->flush_prev = c;
        h->flush_head = c;
        c->in_flush = 1;
    }
    uv_check_start(h->flush, flush_cb);
}

static void ws_close(void *tctx, int code, const char *reason)
{
    struct conn *c = tctx;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

static const struct wsb_transport ws_transport = {ws_want_write, ws_close};

/* The kernel id of /api/kernels/<id>/channels (path without base_url), or "" for
 * /api/events/subscribe; -1 for any other path. */
static int ws_target(const char *path, char *kid, size_t kidlen)
{
    static const char pre[] = "/api/kernels/", post[] = "/channels";
    size_t pl = strlen(path);
    if (strcmp(path, "/api/events/subscribe") == 0) {
        kid[0] = '\0';
        return 0;
    }
    if (strncmp(path, pre, sizeof pre - 1) != 0 || pl < sizeof pre - 1 + sizeof post ||
        strcmp(path + pl - (sizeof post - 1), post) != 0)
        return -1;
    size_t n = pl - (sizeof pre - 1) - (sizeof post - 1);
    if (n == 0 || n >= kidlen || memchr(path + sizeof pre - 1, '/', n))
        return -1;
    memcpy(kid, path + sizeof pre - 1, n);
    kid[n] = '\0';
    return 0;
}

/* Fill c->req from the upgrade request (method, path without base_url, query, headers).
 * 0, or -1 when the path is outside base_url or malformed. */
static int ws_request(struct http *h, struct conn *c, struct lws *wsi)
{
    char *uri;
    const char *m = request_begin(h, c, wsi, &uri);
    jp_buf_init(&c->resp.body, 1 << 20);
    const char *rest =
        m && uri && strcmp(m, "GET") == 0 ? below_base(h->srv->o.base_url, uri) : NULL;
    if (!rest) {
        free(uri);
        return -1;
    }
    snprintf(c->req.method, sizeof c->req.method, "GET");
    c->req.path = strdup(rest);
    free(uri);
    c->req.query = query_string(wsi);
    return c->req.path && c->req.query ? 0 : -1;
}

/* Write an HTTP answer to an upgrade request we refuse (the connection then closes). */
static int ws_refuse(struct http *h, struct conn *c, struct lws *wsi)
{
    if (!c->resp.status)
        srv_error(&c->resp, 403, "Forbidden", NULL);
    /* lws completes the transaction itself when this returns > 0 */
    int rc = write_headers(h, c, wsi);
    if (rc == 0 && c->resp.body.len) {
        unsigned char *buf = malloc(LWS_PRE + c->resp.body.len);
        if (!buf) {
            rc = -1;
        } else {
            memcpy(buf + LWS_PRE, c->resp.body.data, c->resp.body.len);
            if (lws_write(wsi, buf + LWS_PRE, c->resp.body.len, LWS_WRITE_HTTP_FINAL) <
                (int)c->resp.body.len)
                rc = -1;
            free(buf);
        }
    }
    conn_reset(c);
    return rc < 0 ? -1 : 1;
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: the same checks as a REST request (token, cookie, Host,
 * Origin: a cross-origin WebSocket a token did not authenticate gets 403, as in Jupyter
 * Server), the offered subprotocols, then the kernel. */
static int ws_confirm(struct http *h, struct conn *c, struct lws *wsi)
{
    struct srv *s = h->srv;
    char kid[64];
    if (ws_request(h, c, wsi) != 0) {
        srv_error(&c->resp, 404, "Not Found", NULL);
        return ws_refuse(h, c, wsi);
    }
    if (ws_target(c->req.path, kid, sizeof kid) != 0) {
        srv_error(&c->resp, 404, "Not Found", NULL);
        return ws_refuse(h, c, wsi);
    }
    if (auth_check(s, &c->req, &c->resp, 0) != 0) {
        if (c->resp.status == 404) {
            resp_dispose(&c->resp);
            jp_buf_init(&c->resp.body, 1 << 20);
            srv_error(&c->resp, 403, "Forbidden: cross-origin WebSocket", NULL);
        }
        return ws_refuse(h, c, wsi);
    }
    /* (a cross-origin request that a token did not authenticate was refused above; one with
     * the token is accepted, as in Jupyter Server) */
    char offered[256];
    if (lws_hdr_copy(wsi, offered, sizeof offered, WSI_TOKEN_PROTOCOL) > 0 &&
        !strstr(offered, WS_V1)) {
        /* libwebsockets would drop the connection without a word; Jupyter Server would fall
         * back to the legacy framing, which lws cannot do once a subprotocol was offered */
        srv_error(&c->resp, 400,
                  "Unsupported WebSocket subprotocol: offer " WS_V1 " or no subprotocol (the "
                  "legacy JSON framing)",
                  NULL);
        return ws_refuse(h, c, wsi);
    }
    if (kid[0] && (!kmgr_exists(s->kmgr, kid) || !srv_may_use_kernel(s, &c->req, kid))) {
        char msg[128];
        snprintf(msg, sizeof msg, "Kernel does not exist: %s", kid);
        srv_error(&c->resp, 404, msg, NULL);
        return ws_refuse(h, c, wsi);
    }
    conn_reset(c);
    return 0;
}

static int ws_established(struct http *h, struct conn *c, struct lws *wsi)
{
    struct srv *s = h->srv;
    char kid[64];
    memset(c, 0, sizeof *c);
    if (ws_request(h, c, wsi) != 0 || ws_target(c->req.path, kid, sizeof kid) != 0) {
        conn_reset(c);
        return -1;
    }
    char *session = srv_query(&c->req, "session_id");
    const struct lws_protocols *p = lws_get_protocol(wsi);
    int v1 = p && p->name && strcmp(p->name, WS_V1) == 0;
    c->ws = wsb_open(s->wsb, kid[0] ? kid : NULL, session ? session : "", v1, &ws_transport, c);
    free(session);
    conn_reset(c);
    c->wsi = wsi;
    if (!c->ws)
        return -1;
    return 0;
}

static int ws_receive(struct conn *c, struct lws *wsi, const void *in, size_t len)
{
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (!c->ws)
        return -1;
    if (final && !c->rx)
        return wsb_receive(c->ws, in, len, lws_frame_is_binary(wsi));
    if (!c->rx) {
        c->rx = malloc(sizeof *c->rx);
        if (!c->rx)
            return -1;
        jp_buf_init(c->rx, WS_MAX_MESSAGE);
    }
    if (jp_buf_add(c->rx, in, len) != 0) {
        static const char why[] = "message too big";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         sizeof why - 1);
        return -1;
    }
    if (!final)
        return 0;
    int rc = wsb_receive(c->ws, c->rx->data, c->rx->len, lws_frame_is_binary(wsi));
    jp_buf_dispose(c->rx);
    free(c->rx);
    c->rx = NULL;
    return rc;
}

/* The header of one complete server-to-client WebSocket frame (RFC 6455 5.2, unmasked).
 * Returns its length. */
static size_t ws_frame_header(unsigned char *h, int binary, size_t len)
{
    h[0] = (unsigned char)(0x80 | (binary ? 2 : 1));
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    jp_put_be64(h + 2, len);
    return 10;
}

/* Several small whole messages queued back to back (statuses fanned out to many clients,
 * short streams) go out framed by us in one write instead of one send() each. Called at a
 * message boundary; returns 0, or -1 when the connection broke. */
static int ws_write_batch(struct conn *c, struct lws *wsi)
{
    static unsigned char buf[LWS_PRE + BATCH_MAX];
    unsigned char *out = buf + LWS_PRE;
    size_t used = 0;
    struct wsb_piece p;
    while (wsb_peek(c->ws, &p) && batchable(&p) && used + 10 + p.len <= BATCH_MAX) {
        used += ws_frame_header(out + used, p.binary, p.len);
        memcpy(out + used, p.data, p.len);
        used += p.len;
        wsb_advance(c->ws);
    }
    /* LWS_WRITE_RAW: the bytes go out as they are (lws keeps what the socket does not take) */
    return lws_write(wsi, out, used, LWS_WRITE_RAW) < (int)used ? -1 : 0;
}

/* Write what the bridge has queued while the socket takes it. */
static int ws_writeable(struct conn *c, struct lws *wsi)
{
    struct wsb_piece p;
    if (c->close_code) {
        lws_close_reason(wsi, (enum lws_close_status)c->close_code,
                         (unsigned char *)c->close_reason, strlen(c->close_reason));
        return -1;
    }
    if (!c->ws)
        return -1;
    for (int n = 0; n < 64 && wsb_peek(c->ws, &p); n++) {
        if (batchable(&p)) {
            if (ws_write_batch(c, wsi) != 0)
                return -1;
            if (lws_partial_buffered(wsi))
                break;
            continue;
        }
        unsigned char saved[LWS_PRE];
        int flags =
            p.first ? (p.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) : LWS_WRITE_CONTINUATION;
        if (!p.final)
            flags |= LWS_WRITE_NO_FIN;
        /* lws writes the frame header just before the data: keep the bytes there */
        memcpy(saved, p.data - LWS_PRE, LWS_PRE);
        int w = lws_write(wsi, p.data, p.len, (enum lws_write_protocol)flags);
        memcpy(p.data - LWS_PRE, saved, LWS_PRE);
        if (w < (int)p.len)
            return -1;
        wsb_advance(c->ws);
        if (lws_send_pipe_choked(wsi))
            break;
    }
    if (wsb_peek(c->ws, &p))
        lws_callback_on_writable(wsi);
    return 0;
}

static void ws_closed(struct http *h, struct conn *c)
{
    if (h)
        flush_unlink(h, c);
    if (c->ws) {
        wsb_closed(c->ws);
        c->ws = NULL;
    }
    if (c->rx) {
        jp_buf_dispose(c->rx);
        free(c->rx);
        c->rx = NULL;
    }
    c->wsi = NULL;
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    struct http *h = ctx ? lws_context_user(ctx) : NULL;
    struct conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        c->in_request_cb = 1;
        int rc = on_http(h, c, wsi);
        c->in_request_cb = 0;
        if (rc)
            return rc;
        return c->answered && !c->headers_sent ? on_writeable(h, c, wsi) : 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!c->body_pending)
            return 0;
        if (jp_buf_add(&c->body, in, len)) {
            c->body_pending = 0;
            jp_buf_dispose(&c->body);
            srv_error(&c->resp, 413, "Request body too large", NULL);
            answer(c);
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->body_pending) {
            c->body_pending = 0;
            c->in_request_cb = 1;
            dispatch(h, c);
            c->in_request_cb = 0;
            if (c->answered && !c->headers_sent)
                return on_writeable(h, c, wsi);
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(h, c, wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c) {
            c->wsi = NULL;
            conn_reset(c);
        }
        return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* an upgrade moves the connection to a WebSocket protocol: the request data goes */
        if (c)
            conn_reset(c);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcasecmp((const char *)in, "websocket") != 0)
            return -1;
        {
            /* lws has not allocated the per-request data of an upgrade request yet */
            struct conn tmp;
            memset(&tmp, 0, sizeof tmp);
            return ws_confirm(h, &tmp, wsi);
        }
    case LWS_CALLBACK_ESTABLISHED:
        return ws_established(h, c, wsi);
    case LWS_CALLBACK_RECEIVE:
        return ws_receive(c, wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ws_writeable(c, wsi);
    case LWS_CALLBACK_CLOSED:
        ws_closed(h, c);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* "http" also carries WebSockets that offered no subprotocol (Jupyter's legacy framing) */
/* tx_packet_size: lws sends at most this much per send() and copies the rest of a write into
 * its own buffer, drained one piece per POLLOUT; the default (4 KiB) made big answers and
 * WebSocket frames crawl. */
#define TX_PACKET (512 * 1024)
static const struct lws_protocols protocols[] = {
    {"http", callback_http, sizeof(struct conn), 0, 0, NULL, TX_PACKET},
    {WS_V1, callback_http, sizeof(struct conn), 0, 0, NULL, TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_bridge(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    jp_log(level & LLL_ERR ? JP_LOG_ERROR : JP_LOG_WARN, "lws", "%.*s", (int)n, line);
}

int http_start(struct srv *s)
{
    struct http *h = calloc(1, sizeof *h);
    struct lws_context_creation_info info;
    static void *loops[1];
    if (!h)
        return -1;
    h->srv = s;
    h->csp_len = snprintf(h->csp, sizeof h->csp,
                          "frame-ancestors 'self'; report-uri %sapi/security/csp-report; "
                          "default-src 'none'",
                          s->o.base_url);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
    memset(&info, 0, sizeof info);
    loops[0] = s->loop;
    info.foreign_loops = loops;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.port = s->o.port;
    info.iface = s->o.ip[0] ? s->o.ip : NULL;
    if (strcmp(s->o.ip, "localhost") == 0)
        info.iface = "127.0.0.1";
    /* lws 4.1 with IPv6 support parses an IPv4 address into the wrong place of its IPv6
     * socket address and then listens on every interface: an IPv4 address gets an IPv4
     * socket */
    struct in_addr a4;
    if (info.iface && inet_pton(AF_INET, info.iface, &a4) == 1)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.protocols = protocols;
    info.max_http_header_data = 16384;
    info.max_http_header_pool = 64;
    info.timeout_secs = s->o.request_timeout_s > 0 ? (unsigned)s->o.request_timeout_s : 30;
    info.keepalive_timeout = 60;
    /* a connection that never finishes its headers is dropped after the same time */
    info.timeout_secs_ah_idle = info.timeout_secs;
    info.user = h;
    /* WebSocket keepalive as Jupyter Server: a ping after 30 s without traffic, closed when
     * nothing came back for 90 s */
    static const lws_retry_bo_t retry = {.secs_since_valid_ping = 30,
                                         .secs_since_valid_hangup = 90};
    info.retry_and_idle_policy = &retry;
    if (s->o.certfile[0] && s->o.keyfile[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = s->o.certfile;
        info.ssl_private_key_filepath = s->o.keyfile;
        info.alpn = "http/1.1";
    }
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        jp_log(JP_LOG_ERROR, "http", "cannot listen ip=%s port=%d", s->o.ip, s->o.port);
        free(h);
        return -1;
    }
    s->http = h;
    h->flush = malloc(sizeof *h->flush);
    if (h->flush) {
        uv_check_init(s->loop, h->flush);
        h->flush->data = h;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(h->ctx, "default");
    if (vh && lws_get_vhost_listen_port(vh) > 0)
        s->o.port = lws_get_vhost_listen_port(vh);
    return 0;
}

static void free_handle(uv_handle_t *hd)
{
    free(hd);
}

void http_stop(struct srv *s)
{
    struct http *h = s->http;
    if (!h)
        return;
    lws_context_destroy(h->ctx);
    if (h->flush) {
        uv_check_stop(h->flush);
        uv_close((uv_handle_t *)h->flush, free_handle);
    }
    free(h);
    s->http = NULL;
}
