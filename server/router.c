/*
 * router.c - the route table and the small helpers every handler uses (query parsing,
 * JSON answers, errors). Patterns are literal segments and {name} captures of one segment,
 * with a final {name*} capturing the rest of the path (possibly empty). Matching is by
 * segment, so /api/kernels/{id} never matches /api/kernels/a/b. No I/O here.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jp_time.h"
#include "srv.h"
#include "web.h"

const struct srv_route srv_routes[] = {
    {"GET", "/api", api_root, 1},
    {"GET", "/api/status", api_status, 0},
    {"GET", "/api/me", api_me, 0},
    {"*", "/api/config/{section}", api_config, 0},
    {"GET", "/api/kernelspecs", api_kernelspecs, 0},
    {"GET", "/api/kernelspecs/{name}", api_kernelspec, 0},
    {"GET", "/kernelspecs/{name}/{file}", api_kernelspec_resource, 0},
    {"HEAD", "/kernelspecs/{name}/{file}", api_kernelspec_resource, 0},
    {"GET", "/api/kernels", api_kernels, 0},
    {"POST", "/api/kernels", api_kernels, 0},
    {"GET", "/api/kernels/{id}", api_kernel, 0},
    {"DELETE", "/api/kernels/{id}", api_kernel, 0},
    {"POST", "/api/kernels/{id}/{action}", api_kernel_action, 0},
    {"GET", "/api/kernels/{id}/{what}", api_kernel_get_sub, 0},
    {"GET", "/api/cnote/profiles", api_profiles, 0},
    {"GET", "/api/cnote/k8s", api_k8s_stats, 0},
    {"*", "/api/admin{rest*}", api_admin, 0},
    {"*", "/api/tokens{rest*}", api_tokens, 0},
    {"GET", "/metrics", api_metrics, 1}, /* checks the metrics token / admin itself */
    {"GET", "/api/sessions", api_sessions, 0},
    {"POST", "/api/sessions", api_sessions, 0},
    {"GET", "/api/sessions/{id}", api_session, 0},
    {"PATCH", "/api/sessions/{id}", api_session, 0},
    {"DELETE", "/api/sessions/{id}", api_session, 0},
    {"*", "/api/contents{path*}", api_contents, 0},
    {"GET", "/files/{path*}", api_files, 0},
    {"*", "/api/terminals{rest*}", api_not_here, 0},
    {"GET", "/api/nbconvert", api_nbconvert, 0},
    {"GET", "/login", page_login, 1},
    {"POST", "/login", page_login, 1},
    {"GET", "/logout", page_logout, 1},
    /* the web app (web.c): its page for the app's routes, its assets public as in Jupyter */
    {"GET", "/", web_page, 0},
    {"GET", "/tree", web_page, 0},
    {"GET", "/admin", web_page, 0},
    {"GET", "/tree/{path*}", web_page, 0},
    {"GET", "/notebooks/{path*}", web_page, 0},
    {"GET", "/static/{path*}", web_static, 1},
    {NULL, NULL, NULL, 0},
};

static size_t seg_len(const char *s)
{
    return strcspn(s, "/");
}

/* Match pattern against path, capturing into params. 1 on a match. */
static int match(const char *pat, const char *path, char *params[SRV_MAX_PARAMS])
{
    int np = 0;
    while (*pat) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (!close)
                return 0;
            int rest = close[-1] == '*';
            if (rest) {
                /* the rest of the path, up to a literal suffix the pattern still has */
                const char *suffix = close + 1;
                size_t sl = strlen(suffix), pl = strlen(path);
                if (pl < sl || strcmp(path + pl - sl, suffix) != 0)
                    return 0;
                size_t n = pl - sl;
                const char *v = path;
                /* "/api/contents{path*}" captures "/a/b" -> "a/b"; "{path*}" after a '/' as is */
                while (n && *v == '/') {
                    v++;
                    n--;
                }
                while (n && v[n - 1] == '/')
                    n--;
                if (np < SRV_MAX_PARAMS && !(params[np++] = strndup(v, n)))
                    return 0;
                return 1;
            }
            size_t n = seg_len(path);
            if (n == 0)
                return 0;
            if (np < SRV_MAX_PARAMS && !(params[np++] = strndup(path, n)))
                return 0;
            path += n;
            pat = close + 1;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    return *path == '\0';
}

const struct srv_route *srv_route_match(const char *method, const char *path,
                                        char *params[SRV_MAX_PARAMS], int *path_matched)
{
    *path_matched = 0;
    for (const struct srv_route *r = srv_routes; r->method; r++) {
        char *p[SRV_MAX_PARAMS] = {0};
        int m = match(r->pattern, path, p);
        if (m && (strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0)) {
            memcpy(params, p, sizeof p);
            return r;
        }
        for (int i = 0; i < SRV_MAX_PARAMS; i++)
            free(p[i]);
        if (m)
            *path_matched = 1;
    }
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode n bytes of s ('+' is a space in queries). */
static char *decode(const char *s, size_t n)
{
    char *o = malloc(n + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *p++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            *p++ = ' ';
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    return o;
}

char *srv_query(const struct srv_req *r, const char *name)
{
    const char *q = r->query ? r->query : "";
    size_t nl = strlen(name);
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t kl = eq ? (size_t)(eq - q) : n;
        if (kl == nl && memcmp(q, name, nl) == 0)
            return eq ? decode(eq + 1, n - kl - 1) : strdup("");
        q += n;
        if (*q == '&')
            q++;
    }
    return NULL;
}

void srv_header_add(struct srv_resp *resp, const char *name, const char *value)
{
    if (resp->n_headers >= (int)(sizeof resp->headers / sizeof *resp->headers))
        return;
    struct srv_header *h = &resp->headers[resp->n_headers];
    h->name = strdup(name);
    h->value = strdup(value);
    if (h->name && h->value)
        resp->n_headers++;
    else {
        free(h->name);
        free(h->value);
    }
}

static int dump_to_buf(const char *data, size_t len, void *arg)
{
    return jp_buf_add(arg, data, len) == 0 ? 0 : -1;
}

void srv_json(struct srv_resp *resp, int status, json_t *body)
{
    resp->status = status;
    jp_buf_reset(&resp->body);
    if (body) {
        json_dump_callback(body, dump_to_buf, &resp->body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(body);
        snprintf(resp->content_type, sizeof resp->content_type, "application/json");
    } else {
        resp->content_type[0] = '\0';
    }
}

void srv_error(struct srv_resp *resp, int status, const char *msg, const char *reason)
{
    json_t *e = json_object();
    json_object_set_new(e, "message", json_string(msg ? msg : ""));
    json_object_set_new(e, "reason", reason ? json_string(reason) : json_null());
    srv_json(resp, status, e);
}

json_t *srv_body_json(struct srv_req *r, struct srv_resp *resp, int *empty)
{
    size_t i = 0;
    while (i < r->body_len && isspace((unsigned char)r->body[i]))
        i++;
    *empty = i == r->body_len;
    if (*empty)
        return NULL;
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (!j)
        srv_error(resp, 400, "Invalid JSON in body of request", NULL);
    return j;
}

void srv_touch(struct srv *s)
{
    s->last_activity_us = jp_time_now_us();
}
