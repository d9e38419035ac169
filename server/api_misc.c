/*
 * api_misc.c - the small REST services: /api (version), /api/status, /api/me,
 * /api/config/<section> (JSON files in the data dir, PATCH merging with null deleting keys
 * as Jupyter Server does), /api/kernelspecs and the kernelspec resource files, the services
 * a Jupyter Server without terminals does not have, and the login and logout pages (the
 * app's own page is web.c's). Thin handlers; no sockets.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "jp_buf.h"
#include "jp_err.h"
#include "jp_time.h"
#include "kmgr.h"
#include "kspecs.h"
#include "srv.h"
#include "users.h"
#include "web.h"
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
    struct srv *s = r->srv;
    const char *who = s->multi && r->user[0] ? r->user : SRV_USERNAME;
    char initials[2] = {(char)(who[0] >= 'a' && who[0] <= 'z' ? who[0] - 32 : who[0]), 0};
    json_t *id = json_pack("{s:s,s:s,s:s,s:s,s:n,s:n}", "username", who, "name", who,
                           "display_name", s->multi ? who : "cnote", "initials",
                           s->multi ? initials : "C", "avatar_url", "color");
    if (s->multi)
        json_object_set_new(id, "admin", json_boolean(r->user_admin)); /* cnote: the app's menu */
    srv_json(resp, 200, json_pack("{s:o,s:o}", "identity", id, "permissions", perms));
    return 0;
}

/* ---- config sections ---- */

/* The directory of config sections: the server's, or in multi-user mode the user's own
 * (<data-dir>/users/<user>/serverconfig: one user's settings never change another's). */
static void section_dir(struct srv *s, const struct srv_req *r, char *out, size_t len)
{
    if (s->multi && r->user[0])
        snprintf(out, len, "%s/users/%s/serverconfig", s->o.data_dir, r->user);
    else
        snprintf(out, len, "%s/serverconfig", s->o.data_dir);
}

static int section_path(struct srv *s, const struct srv_req *r, const char *section, char *out,
                        size_t len)
{
    char dir[4200];
    for (const char *p = section; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return -1;
    section_dir(s, r, dir, sizeof dir);
    snprintf(out, len, "%s/%s.json", dir, section);
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

static int save_section(struct srv *s, const struct srv_req *r, const char *path, json_t *j)
{
    char dir[4200], tmp[4300];
    section_dir(s, r, dir, sizeof dir);
    mkdir(s->o.data_dir, 0700);
    if (s->multi && r->user[0]) {
        char up[4200];
        snprintf(up, sizeof up, "%s/users", s->o.data_dir);
        mkdir(up, 0700);
        snprintf(up, sizeof up, "%s/users/%s", s->o.data_dir, r->user);
        mkdir(up, 0700);
    }
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
    if (section_path(s, r, r->params[0], path, sizeof path)) {
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
    if (save_section(s, r, path, cur)) {
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

/* Inline styles only (no script): light and dark follow the system, with text contrast of
 * at least 4.5:1 and a visible focus ring. */
static const char login_style[] =
    ":root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#57606a;--border:#8c959f;"
    "--panel:#f6f8fa;--accent:#0969da;--accent-fg:#fff;--focus:#0969da;--error-bg:#ffebe9;"
    "--error-fg:#82071e}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;"
    "--border:#6e7681;--panel:#161b22;--accent:#4493f8;--accent-fg:#0d1117;--focus:#79c0ff;"
    "--error-bg:#3c1618;--error-fg:#ffa198}}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,sans-serif}\n"
    "main{max-width:24rem;margin:10vh auto;padding:2rem;background:var(--panel);"
    "border:1px solid var(--border);border-radius:8px}\n"
    "h1{font-size:1.5rem;margin:0 0 1rem}\n"
    "label{display:block;font-weight:600;margin-bottom:.25rem}\n"
    "input{box-sizing:border-box;width:100%;padding:.5rem;font:inherit;color:var(--fg);"
    "background:var(--bg);border:1px solid var(--border);border-radius:4px}\n"
    "button{margin-top:1rem;padding:.5rem 1.25rem;font:inherit;font-weight:600;"
    "color:var(--accent-fg);background:var(--accent);border:1px solid var(--accent);"
    "border-radius:4px;cursor:pointer}\n"
    ":focus-visible{outline:3px solid var(--focus);outline-offset:2px}\n"
    ".error{background:var(--error-bg);color:var(--error-fg);padding:.5rem .75rem;"
    "border-radius:4px}\n"
    ".hint{color:var(--muted);font-size:.875rem}\n";

/* No script at all; the inline style above is the only thing besides the form. */
static const char login_csp[] = "default-src 'none'; style-src 'unsafe-inline'; "
                                "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                                "frame-ancestors 'self'";

/* The login form (status 200, or 401 with the error shown in a role="alert" element). next
 * must already be safe. */
static void login_page(struct srv *s, struct srv_resp *resp, int status, const char *next,
                       const char *error)
{
    struct jp_buf *b = &resp->body;
    jp_buf_reset(b);
    jp_buf_addf(b,
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>Log in - cnote</title>\n<style>\n%s</style>\n</head>\n"
                "<body data-page=\"login\">\n<main>\n<h1>Log in to cnote</h1>\n",
                login_style);
    if (error) {
        jp_buf_adds(b, "<p class=\"error\" role=\"alert\">");
        web_html_escape(b, error);
        jp_buf_adds(b, "</p>\n");
    }
    jp_buf_adds(b, "<form method=\"post\" action=\"");
    web_html_escape(b, s->o.base_url);
    jp_buf_adds(b, "login\">\n");
    if (s->multi)
        jp_buf_adds(b, "<label for=\"username\">User name</label>\n"
                       "<input type=\"text\" id=\"username\" name=\"username\" "
                       "autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\n");
    jp_buf_adds(b, s->multi ? "<label for=\"password\">Password</label>\n"
                            : "<label for=\"password\">Token</label>\n");
    jp_buf_adds(b, "<input type=\"password\" id=\"password\" name=\"password\" "
                   "autocomplete=\"current-password\" required");
    if (!s->multi)
        jp_buf_adds(b, " autofocus");
    if (error)
        jp_buf_adds(b, " aria-invalid=\"true\"");
    jp_buf_adds(b, ">\n<input type=\"hidden\" name=\"_xsrf\" value=\"");
    web_html_escape(b, auth_xsrf_value(s));
    jp_buf_adds(b, "\">\n<input type=\"hidden\" name=\"next\" value=\"");
    web_html_escape(b, next);
    jp_buf_adds(b, "\">\n<button type=\"submit\">Log in</button>\n</form>\n");
    if (!s->multi)
        jp_buf_adds(b, "<p class=\"hint\">The token is in the URL cnote-server printed when it "
                       "started (<code>?token=...</code>).</p>\n");
    jp_buf_adds(b, "</main>\n</body>\n</html>\n");
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "text/html; charset=utf-8");
    /* the page carries the _xsrf value: never stored by a cache */
    srv_header_add(resp, "Cache-Control", "no-store");
    srv_header_add(resp, "Content-Security-Policy", login_csp);
    auth_set_xsrf_cookie(s, resp);
}

int page_login(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    int post = strcmp(r->method, "POST") == 0;
    char *next = post ? form_field(r, "next") : srv_query(r, "next");
    const char *safe = safe_next(s, next) ? next : s->o.base_url;
    if (post && s->multi) {
        char *user = form_field(r, "username"), *pw = form_field(r, "password");
        struct user u;
        int retry = 0;
        /* the socket's peer; behind a trusted proxy, the address it forwards */
        const char *fwd = s->o.trust_proxy ? r->header(r, "x-forwarded-for") : NULL;
        char ip[64];
        snprintf(ip, sizeof ip, "%.*s", fwd ? (int)strcspn(fwd, ", ") : 63, fwd ? fwd : r->peer);
        int rc = user && pw ? users_login(s->users, user, pw, ip, &u, &retry) : JP_EINVAL;
        if (rc == 0) {
            srv_set_user_cookie(s, resp, u.id); /* users_login audited it */
            resp->status = 302;
            srv_header_add(resp, "Location", safe);
        } else if (rc == JP_ERANGE) {
            char msg[200], ra[16];
            snprintf(msg, sizeof msg, "Too many failed logins. Try again in %d s.", retry);
            users_audit(s->users, "", "login_throttled", user ? user : "", NULL);
            login_page(s, resp, 429, safe, msg);
            snprintf(ra, sizeof ra, "%d", retry);
            srv_header_add(resp, "Retry-After", ra);
        } else {
            login_page(s, resp, 401, safe, "Invalid user name or password.");
        }
        if (pw)
            OPENSSL_cleanse(pw, strlen(pw));
        free(pw);
        free(user);
    } else if (post) {
        char *pw = form_field(r, "password");
        if (auth_token_ok(s, pw)) {
            auth_set_login_cookie(s, resp);
            resp->status = 302;
            srv_header_add(resp, "Location", safe);
        } else {
            login_page(s, resp, 401, safe, "Invalid token. Check it and try again.");
        }
        if (pw)
            OPENSSL_cleanse(pw, strlen(pw));
        free(pw);
    } else {
        login_page(s, resp, 200, safe, NULL);
    }
    free(next);
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
