/*
 * api_misc.c - the small REST services: /api (version), /api/status, /api/me,
 * /api/config/<section> (JSON files in the data dir, PATCH merging with null deleting keys
 * as Jupyter Server does), /api/kernelspecs and the kernelspec resource files, the services
 * a Jupyter Server without terminals does not have, and the pages (placeholder app, login,
 * logout). Thin handlers; no sockets.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "jp_buf.h"
#include "jp_time.h"
#include "kmgr.h"
#include "kspecs.h"
#include "srv.h"
#include "ws.h"

#define JUPYTER_SERVER_COMPAT_VERSION "2.21.1"

int api_root(struct srv_req *r, struct srv_resp *resp)
{
    (void)r;
    srv_json(resp, 200, json_pack("{s:s}", "version", JUPYTER_SERVER_COMPAT_VERSION));
    return 0;
}

int api_status(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    char last[JP_TIME_LEN];
    jp_time_format(s->last_activity_us, last, sizeof last);
    srv_json(resp, 200,
             json_pack("{s:i,s:s,s:i,s:s}", "connections", wsb_connections(s->wsb), "last_activity",
                       last, "kernels", s->kmgr ? (int)kmgr_count(s->kmgr) : 0, "started",
                       s->started));
    return 0;
}

int api_me(struct srv_req *r, struct srv_resp *resp)
{
    json_t *perms = json_object();
    char *q = srv_query(r, "permissions");
    if (q && *q) {
        json_error_t e;
        json_t *want = json_loads(q, 0, &e);
        if (!json_is_object(want)) {
            json_decref(want);
            json_decref(perms);
            free(q);
            srv_error(resp, 400,
                      "permissions should be a JSON dict of {\"resource\": "
                      "[\"action\",]} requested",
                      NULL);
            return 0;
        }
        /* single-user server: the user may do everything asked */
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            if (json_is_array(v))
                json_object_set(perms, k, v);
        }
        json_decref(want);
    }
    free(q);
    json_t *id =
        json_pack("{s:s,s:s,s:s,s:s,s:n,s:n}", "username", SRV_USERNAME, "name", SRV_USERNAME,
                  "display_name", "cnote", "initials", "C", "avatar_url", "color");
    srv_json(resp, 200, json_pack("{s:o,s:o}", "identity", id, "permissions", perms));
    return 0;
}

/* ---- config sections ---- */

static int section_path(struct srv *s, const char *section, char *out, size_t len)
{
    for (const char *p = section; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return -1;
    snprintf(out, len, "%s/serverconfig/%s.json", s->o.data_dir, section);
    return 0;
}

static json_t *load_section(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        return json_object();
    }
    return j;
}

/* Jupyter's recursive_update: null deletes, objects merge, empty objects are pruned. */
static void merge(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(patch, tmp, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            merge(t, v);
            if (json_object_size(t) == 0)
                json_object_del(target, k);
        } else {
            json_object_set(target, k, v);
        }
    }
}

static int save_section(struct srv *s, const char *path, json_t *j)
{
    char dir[4200], tmp[4300];
    snprintf(dir, sizeof dir, "%s/serverconfig", s->o.data_dir);
    mkdir(s->o.data_dir, 0700);
    mkdir(dir, 0700);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
        return -1;
    return rename(tmp, path);
}

int api_config(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    char path[4400];
    if (section_path(s, r->params[0], path, sizeof path)) {
        srv_error(resp, 404, "Not Found", NULL);
        return 0;
    }
    if (strcmp(r->method, "GET") == 0) {
        srv_json(resp, 200, load_section(path));
        return 0;
    }
    if (strcmp(r->method, "PATCH") != 0 && strcmp(r->method, "PUT") != 0) {
        srv_error(resp, 405, "Method Not Allowed", NULL);
        return 0;
    }
    int empty;
    json_t *body = srv_body_json(r, resp, &empty);
    if (!body) {
        if (empty)
            srv_error(resp, 400, "Invalid JSON in body of request", NULL);
        return 0;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        srv_error(resp, 400, "config section must be a JSON object", NULL);
        return 0;
    }
    json_t *cur = strcmp(r->method, "PUT") == 0 ? json_object() : load_section(path);
    merge(cur, body);
    json_decref(body);
    if (save_section(s, path, cur)) {
        json_decref(cur);
        srv_error(resp, 500, "cannot save the config section", NULL);
        return 0;
    }
    if (strcmp(r->method, "PUT") == 0) {
        json_decref(cur);
        srv_json(resp, 204, NULL);
    } else {
        srv_json(resp, 200, cur);
    }
    return 0;
}

/* ---- kernelspecs ---- */

int api_kernelspecs(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    json_t *specs = json_object();
    const struct kspec *dspec = kspecs_default(s->kspecs);
    const char *def = dspec ? dspec->name : "";
    for (size_t i = 0; i < s->kspecs->n; i++)
        json_object_set_new(specs, s->kspecs->v[i].name,
                            kspecs_model(&s->kspecs->v[i], s->o.base_url));
    srv_json(resp, 200, json_pack("{s:s,s:o}", "default", def, "kernelspecs", specs));
    return 0;
}

int api_kernelspec(struct srv_req *r, struct srv_resp *resp)
{
    const struct kspec *k = kspecs_find(r->srv->kspecs, r->params[0]);
    if (!k) {
        char msg[300];
        snprintf(msg, sizeof msg, "Kernel spec %s not found", r->params[0]);
        srv_error(resp, 404, msg, NULL);
        return 0;
    }
    srv_json(resp, 200, kspecs_model(k, r->srv->o.base_url));
    return 0;
}

static const char *mime_of(const char *file)
{
    const char *dot = strrchr(file, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript";
    if (strcmp(dot, ".css") == 0)
        return "text/css";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

static int read_file(const char *path, struct jp_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(buf, 1, sizeof buf, f)) > 0)
        rc = jp_buf_add(b, buf, n);
    fclose(f);
    return rc;
}

int api_kernelspec_resource(struct srv_req *r, struct srv_resp *resp)
{
    const struct kspec *k = kspecs_find(r->srv->kspecs, r->params[0]);
    char *path = k ? kspecs_resource(k, r->params[1]) : NULL;
    if (!path || read_file(path, &resp->body)) {
        free(path);
        srv_error(resp, 404, "Not Found", NULL);
        return 0;
    }
    free(path);
    resp->status = 200;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", mime_of(r->params[1]));
    srv_header_add(resp, "Cache-Control", "max-age=2592000");
    return 0;
}

int api_not_here(struct srv_req *r, struct srv_resp *resp)
{
    (void)r;
    /* Jupyter Server without the terminals extension has no such route */
    srv_error(resp, 404, "Not Found", NULL);
    return 0;
}

int api_nbconvert(struct srv_req *r, struct srv_resp *resp)
{
    (void)r;
    /* no exporters: JupyterLab then offers no "Save and Export As" formats, without errors */
    srv_json(resp, 200, json_object());
    return 0;
}

/* ---- pages ---- */

static void html(struct srv_resp *resp, int status, const char *body)
{
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "text/html; charset=UTF-8");
    jp_buf_reset(&resp->body);
    jp_buf_adds(&resp->body, body);
}

int page_root(struct srv_req *r, struct srv_resp *resp)
{
    struct jp_buf b;
    jp_buf_init(&b, 1 << 16);
    jp_buf_addf(&b,
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>cnote</title></head><body>\n<h1>cnote</h1>\n"
                "<p>The cnote server is running. The notebook web app is not installed yet; use "
                "JupyterLab with <code>--gateway-url</code>, or the REST API under "
                "<code>%sapi/</code>.</p>\n</body></html>\n",
                r->srv->o.base_url);
    html(resp, 200, b.data ? b.data : "");
    jp_buf_dispose(&b);
    auth_set_xsrf_cookie(r->srv, resp);
    return 0;
}

/* form field from an x-www-form-urlencoded body */
static char *form_field(struct srv_req *r, const char *name)
{
    struct srv_req tmp = *r;
    char *q = strndup(r->body ? r->body : "", r->body_len);
    if (!q)
        return NULL;
    tmp.query = q;
    char *v = srv_query(&tmp, name);
    free(q);
    return v;
}

/* Only same-site, base_url-relative redirects: no "//evil", no scheme. */
static int safe_next(struct srv *s, const char *next)
{
    size_t bl = strlen(s->o.base_url);
    return next && strncmp(next, s->o.base_url, bl) == 0 && next[1] != '/' && next[1] != '\\' &&
           !strchr(next, '\r') && !strchr(next, '\n');
}

int page_login(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    if (strcmp(r->method, "POST") == 0) {
        char *pw = form_field(r, "password");
        char *next = form_field(r, "next");
        if (auth_token_ok(s, pw)) {
            auth_set_login_cookie(s, resp);
            resp->status = 302;
            srv_header_add(resp, "Location", safe_next(s, next) ? next : s->o.base_url);
        } else {
            html(resp, 401,
                 "<!DOCTYPE html><html><body><h1>Invalid credentials</h1>"
                 "<p><a href=\"login\">Try again</a></p></body></html>\n");
        }
        free(pw);
        free(next);
        return 0;
    }
    char *next = srv_query(r, "next");
    struct jp_buf b;
    jp_buf_init(&b, 1 << 16);
    jp_buf_addf(&b,
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cnote "
                "login</title></head><body>\n<form method=\"post\" action=\"%slogin\">\n"
                "<label for=\"password\">Token</label>\n<input type=\"password\" "
                "id=\"password\" name=\"password\" autofocus>\n<input type=\"hidden\" "
                "name=\"_xsrf\" value=\"%s\">\n<input type=\"hidden\" name=\"next\" value=\"",
                s->o.base_url, auth_xsrf_value(s));
    const char *nv = safe_next(s, next) ? next : s->o.base_url;
    for (const char *p = nv; *p; p++) {
        if (*p == '"')
            jp_buf_adds(&b, "&quot;");
        else if (*p == '<')
            jp_buf_adds(&b, "&lt;");
        else if (*p == '&')
            jp_buf_adds(&b, "&amp;");
        else
            jp_buf_add(&b, p, 1);
    }
    jp_buf_adds(&b, "\">\n<button type=\"submit\">Log in</button>\n</form>\n</body></html>\n");
    html(resp, 200, b.data ? b.data : "");
    jp_buf_dispose(&b);
    free(next);
    auth_set_xsrf_cookie(s, resp);
    return 0;
}

int page_logout(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    char v[256];
    snprintf(v, sizeof v, "cnote-auth-%d=; Path=%s; Max-Age=0", s->o.port, s->o.base_url);
    srv_header_add(resp, "Set-Cookie", v);
    resp->status = 302;
    char loc[512];
    snprintf(loc, sizeof loc, "%slogin", s->o.base_url);
    srv_header_add(resp, "Location", loc);
    return 0;
}
