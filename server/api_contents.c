/*
 * api_contents.c - /api/contents, its checkpoints, and /files/: the thin HTTP layer over
 * the contents manager (contents.c). It parses query arguments and bodies, maps the manager's
 * status and JSON onto the response, and adds Location and Last-Modified headers as Jupyter
 * Server does. No file system access of its own except serving /files/ bytes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "contents.h"
#include "jp_time.h"
#include "srv.h"

static void encode_path(struct jp_buf *b, const char *p)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) || strchr("-._~/", c)) {
            jp_buf_add(b, p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            jp_buf_add(b, e, 3);
        }
    }
}

static void location(struct srv *s, struct srv_resp *resp, const char *path)
{
    struct jp_buf b;
    jp_buf_init(&b, 16384);
    jp_buf_addf(&b, "%sapi/contents/", s->o.base_url);
    encode_path(&b, path);
    srv_header_add(resp, "Location", b.data ? b.data : "");
    jp_buf_dispose(&b);
}

static void last_modified(struct srv_resp *resp, json_t *model)
{
    const char *lm = json_string_value(json_object_get(model, "last_modified"));
    int64_t us;
    if (!lm || jp_time_parse(lm, &us))
        return;
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    char buf[64];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    srv_header_add(resp, "Last-Modified", buf);
}

/* "0"/"1" query flags: -1 when present but invalid. */
static int flag(struct srv_req *r, const char *name, int dflt)
{
    char *v = srv_query(r, name);
    int res = dflt;
    if (v)
        res = strcmp(v, "1") == 0 ? 1 : strcmp(v, "0") == 0 ? 0 : -1;
    free(v);
    return res;
}

static void reply(struct srv_resp *resp, int status, json_t *out)
{
    if (status == 204) {
        json_decref(out);
        srv_json(resp, 204, NULL);
        return;
    }
    srv_json(resp, status, out ? out : json_pack("{s:s,s:n}", "message", "error", "reason"));
}

/* ".../checkpoints" and ".../checkpoints/<id>" are routed here by api_contents. */
static int checkpoints_route(struct srv_req *r, struct srv_resp *resp)
{
    char *p = r->params[0];
    size_t n = strlen(p);
    const char *tail = "/checkpoints";
    size_t tl = strlen(tail);
    if (n > tl && strcmp(p + n - tl, tail) == 0) {
        p[n - tl] = '\0';
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0) {
            srv_error(resp, 405, "Method Not Allowed", NULL);
            return 1;
        }
        api_checkpoints(r, resp);
        return 1;
    }
    char *cp = strstr(p, "/checkpoints/");
    while (cp && strstr(cp + 1, "/checkpoints/"))
        cp = strstr(cp + 1, "/checkpoints/");
    if (cp && !strchr(cp + 13, '/') && cp[13]) {
        *cp = '\0';
        free(r->params[1]);
        r->params[1] = strdup(cp + 13);
        if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "DELETE") != 0) {
            srv_error(resp, 405, "Method Not Allowed", NULL);
            return 1;
        }
        api_checkpoint(r, resp);
        return 1;
    }
    return 0;
}

static int contents_impl(struct srv_req *r, struct srv_resp *resp);
static int files_impl(struct srv_req *r, struct srv_resp *resp);

/* Both run with the user's file-system identity in multi-user mode. */
int api_contents(struct srv_req *r, struct srv_resp *resp)
{
    int fs = srv_fs_enter(r->srv, r);
    int rc = contents_impl(r, resp);
    srv_fs_leave(fs);
    return rc;
}

int api_files(struct srv_req *r, struct srv_resp *resp)
{
    int fs = srv_fs_enter(r->srv, r);
    int rc = files_impl(r, resp);
    srv_fs_leave(fs);
    return rc;
}

static int contents_impl(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    const char *path = r->params[0] ? r->params[0] : "";
    json_t *out = NULL;
    int st;

    if (!srv_contents(s, r)) {
        srv_error(resp, 500, "The user's notebook directory cannot be created", NULL);
        return 0;
    }
    if (r->params[0] && checkpoints_route(r, resp))
        return 0;

    if (strcmp(r->method, "GET") == 0) {
        int content = flag(r, "content", 1), hash = flag(r, "hash", 0);
        if (content < 0 || hash < 0) {
            char msg[100];
            snprintf(msg, sizeof msg, "%s %s is not 0 or 1", content < 0 ? "Content" : "Hash",
                     "value");
            srv_error(resp, 400, msg, NULL);
            return 0;
        }
        char *type = srv_query(r, "type"), *format = srv_query(r, "format");
        st = contents_get(srv_contents(s, r), path, type, format, content, hash, &out);
        free(type);
        free(format);
        if (st == 200)
            last_modified(resp, out);
        reply(resp, st, out);
        return 0;
    }
    int empty = 0;
    json_t *body = NULL;
    if (strcmp(r->method, "DELETE") != 0) {
        body = srv_body_json(r, resp, &empty);
        if (!body && !empty)
            return 0;
        if (body && !json_is_object(body)) {
            json_decref(body);
            srv_error(resp, 400, "Invalid JSON in body of request", NULL);
            return 0;
        }
    }
    if (strcmp(r->method, "POST") == 0) {
        st = contents_create(srv_contents(s, r), path, body, &out);
    } else if (strcmp(r->method, "PUT") == 0) {
        if (!body) {
            st = contents_create(srv_contents(s, r), path, NULL, &out);
        } else if (json_object_get(body, "copy_from")) {
            json_decref(body);
            srv_error(resp, 400, "Cannot copy with PUT, only POST", NULL);
            return 0;
        } else {
            st = contents_save(srv_contents(s, r), path, body, &out);
        }
    } else if (strcmp(r->method, "PATCH") == 0) {
        json_t *npj = json_object_get(body, "path");
        const char *np = json_string_value(npj);
        if (np && strlen(np) != json_string_length(npj)) {
            json_decref(body);
            srv_error(resp, 400, "a path must not contain a NUL byte", NULL);
            return 0;
        }
        if (!np) {
            json_decref(body);
            srv_error(resp, 400, "PATCH needs a path", NULL);
            return 0;
        }
        st = contents_rename(srv_contents(s, r), path, np, &out);
    } else if (strcmp(r->method, "DELETE") == 0) {
        st = contents_delete(srv_contents(s, r), path, &out);
    } else {
        json_decref(body);
        srv_error(resp, 405, "Method Not Allowed", NULL);
        return 0;
    }
    json_decref(body);
    if ((st == 200 || st == 201) && out) {
        const char *mp = json_string_value(json_object_get(out, "path"));
        location(s, resp, mp ? mp : path);
    }
    reply(resp, st, out);
    return 0;
}

int api_checkpoints(struct srv_req *r, struct srv_resp *resp)
{
    json_t *out = NULL;
    int st;
    if (strcmp(r->method, "GET") == 0) {
        st = contents_checkpoints_list(srv_contents(r->srv, r), r->params[0], &out);
    } else {
        st = contents_checkpoint_create(srv_contents(r->srv, r), r->params[0], &out);
        if (st == 201) {
            char loc[8192];
            const char *id = json_string_value(json_object_get(out, "id"));
            snprintf(loc, sizeof loc, "%sapi/contents/%s/checkpoints/%s", r->srv->o.base_url,
                     r->params[0], id ? id : "checkpoint");
            srv_header_add(resp, "Location", loc);
        }
    }
    reply(resp, st, out);
    return 0;
}

int api_checkpoint(struct srv_req *r, struct srv_resp *resp)
{
    json_t *out = NULL;
    int st;
    if (strcmp(r->method, "POST") == 0)
        st = contents_checkpoint_restore(srv_contents(r->srv, r), r->params[0], r->params[1], &out);
    else
        st = contents_checkpoint_delete(srv_contents(r->srv, r), r->params[0], r->params[1], &out);
    reply(resp, st, out);
    return 0;
}

static const char *file_mime(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } t[] = {{".ipynb", "application/x-ipynb+json"},
             {".json", "application/json"},
             {".txt", "text/plain; charset=UTF-8"},
             {".md", "text/markdown; charset=UTF-8"},
             {".c", "text/plain; charset=UTF-8"},
             {".h", "text/plain; charset=UTF-8"},
             {".csv", "text/csv; charset=UTF-8"},
             {".html", "text/html; charset=UTF-8"},
             {".png", "image/png"},
             {".jpg", "image/jpeg"},
             {".jpeg", "image/jpeg"},
             {".gif", "image/gif"},
             {".svg", "image/svg+xml"},
             {".pdf", "application/pdf"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof t / sizeof *t; i++)
        if (strcasecmp(dot, t[i].ext) == 0)
            return t[i].mime;
    return "application/octet-stream";
}

static int files_impl(struct srv_req *r, struct srv_resp *resp)
{
    char *fs = NULL;
    struct stat sb;
    struct contents *c = srv_contents(r->srv, r);
    int st = c ? contents_fs_path(c, r->params[0], &fs) : 500;
    FILE *f = st == 0 && fs && stat(fs, &sb) == 0 && S_ISREG(sb.st_mode) ? fopen(fs, "rb") : NULL;
    free(fs);
    if (!f) {
        srv_error(resp, st ? st : 404, st == 400 ? "Bad Request" : "Not Found", NULL);
        return 0;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(buf, 1, sizeof buf, f)) > 0)
        rc = jp_buf_add(&resp->body, buf, n);
    int err = ferror(f);
    fclose(f);
    if (rc || err) {
        jp_buf_reset(&resp->body);
        srv_error(resp, rc ? 413 : 404, rc ? "File too large" : "Not Found", NULL);
        return 0;
    }
    resp->status = 200;
    const char *mime = file_mime(r->params[0]);
    snprintf(resp->content_type, sizeof resp->content_type, "%s", mime);
    char *dl = srv_query(r, "download");
    if ((dl && strcmp(dl, "0") != 0) || strcmp(mime, "application/x-ipynb+json") == 0) {
        const char *base = strrchr(r->params[0], '/');
        char cd[1024];
        snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", base ? base + 1 : r->params[0]);
        srv_header_add(resp, "Content-Disposition", cd);
    }
    free(dl);
    srv_header_add(resp, "Content-Security-Policy", "sandbox allow-scripts");
    return 0;
}
