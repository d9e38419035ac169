/*
 * web.c - serves the notebook web app that esbuild built into the web dir (--web-dir, by
 * default <dir of the binary>/../web): index.html, templated with the base URL and the page
 * config, for the app's routes, and the assets under /static. Files are read whole on each
 * request, up to WEB_MAX_FILE, so a rebuild shows at the next reload and memory stays
 * bounded; there is no cache in the server (browsers cache by ETag and, for the hashed
 * chunks, for a year). It does not build the app, and knows nothing of the REST API. The
 * router (router.c) calls web_page and web_static; the login page borrows web_html_escape.
 */
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"

#define WEB_MAX_PAGE ((size_t)1 << 20) /* index.html */

/* Scripts only from our own origin: HTML and SVG from notebook outputs are sanitised by the
 * app, and this makes a script that slipped through inert as well. Inline styles stay allowed
 * because sanitised outputs and CodeMirror use them. */
static const char page_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'self'";

int web_html_escape(struct jp_buf *b, const char *s)
{
    int rc = 0;
    for (const char *p = s; *p && !rc; p++) {
        switch (*p) {
        case '&':
            rc = jp_buf_adds(b, "&amp;");
            break;
        case '<':
            rc = jp_buf_adds(b, "&lt;");
            break;
        case '>':
            rc = jp_buf_adds(b, "&gt;");
            break;
        case '"':
            rc = jp_buf_adds(b, "&quot;");
            break;
        case '\'':
            rc = jp_buf_adds(b, "&#39;");
            break;
        default:
            rc = jp_buf_add(b, p, 1);
        }
    }
    return rc;
}

/* Open a regular file for reading without following a final symlink; st filled. The fd, or
 * -1 when it is absent, not a regular file or bigger than max. */
static int open_regular(const char *path, size_t max, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || (unsigned long long)st->st_size > max) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read at most size bytes of fd into b (a file that shrank meanwhile gives what is there). */
static int read_fd(int fd, size_t size, struct jp_buf *b)
{
    char buf[65536];
    size_t got = 0;
    while (got < size) {
        size_t want = size - got < sizeof buf ? size - got : sizeof buf;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (jp_buf_add(b, buf, (size_t)n) != 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static void text_answer(struct srv_resp *resp, int status, const char *msg)
{
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "text/plain; charset=utf-8");
    jp_buf_reset(&resp->body);
    jp_buf_adds(&resp->body, msg);
}

/* ---- the page ---- */

/* The page config as JSON safe inside <script type="application/json">: '<' (which could
 * start "</script" or "<!--"), '>' and '&' only occur in strings there, as \u escapes. */
static int add_config(struct jp_buf *b, struct srv *s)
{
    json_t *c = json_pack("{s:s,s:i,s:s}", "baseUrl", s->o.base_url, "autosaveSeconds",
                          s->o.autosave_seconds, "version", SRV_CNOTE_VERSION);
    char *text = c ? json_dumps(c, JSON_COMPACT) : NULL;
    json_decref(c);
    if (!text)
        return -1;
    int rc = 0;
    for (const char *p = text; *p && !rc; p++) {
        if (*p == '<')
            rc = jp_buf_adds(b, "\\u003c");
        else if (*p == '>')
            rc = jp_buf_adds(b, "\\u003e");
        else if (*p == '&')
            rc = jp_buf_adds(b, "\\u0026");
        else
            rc = jp_buf_add(b, p, 1);
    }
    free(text);
    return rc;
}

/* index.html with every __CNOTE_BASE__ and __CNOTE_CONFIG__ replaced. */
static int render(struct srv *s, const char *tpl, size_t len, struct jp_buf *out)
{
    static const char base_mark[] = "__CNOTE_BASE__", config_mark[] = "__CNOTE_CONFIG__";
    const size_t bl = sizeof base_mark - 1, cl = sizeof config_mark - 1;
    const char *p = tpl, *end = tpl + len;
    int rc = 0;
    while (!rc && p < end) {
        const char *m = memmem(p, (size_t)(end - p), "__CNOTE_", 8);
        if (!m)
            return jp_buf_add(out, p, (size_t)(end - p));
        rc = jp_buf_add(out, p, (size_t)(m - p));
        size_t left = (size_t)(end - m);
        if (rc) {
            break;
        } else if (left >= bl && memcmp(m, base_mark, bl) == 0) {
            rc = web_html_escape(out, s->o.base_url);
            p = m + bl;
        } else if (left >= cl && memcmp(m, config_mark, cl) == 0) {
            rc = add_config(out, s);
            p = m + cl;
        } else {
            rc = jp_buf_add(out, m, 8);
            p = m + 8;
        }
    }
    return rc;
}

static void placeholder(struct srv *s, struct srv_resp *resp)
{
    struct jp_buf *b = &resp->body;
    jp_buf_reset(b);
    jp_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<title>cnote</title></head><body data-page=\"placeholder\">\n<main>\n"
                   "<h1>cnote</h1>\n<p>The cnote server is running, but the notebook web app "
                   "is not built: run <code>make</code> in the source tree (it builds "
                   "<code>build/web</code>), or point <code>--web-dir</code> at a built app. "
                   "Meanwhile use JupyterLab with <code>--gateway-url</code>, or the REST API "
                   "under <code>");
    web_html_escape(b, s->o.base_url);
    jp_buf_adds(b, "api/</code>.</p>\n</main>\n</body></html>\n");
    resp->status = 200;
    snprintf(resp->content_type, sizeof resp->content_type, "text/html; charset=utf-8");
}

int web_page(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    char path[sizeof s->o.web_dir + 16];
    struct stat st;
    struct jp_buf tpl;
    jp_buf_init(&tpl, WEB_MAX_PAGE);
    snprintf(path, sizeof path, "%s/index.html", s->o.web_dir);
    int fd = open_regular(path, WEB_MAX_PAGE, &st);
    if (fd < 0) {
        placeholder(s, resp);
    } else {
        int rc = read_fd(fd, (size_t)st.st_size, &tpl);
        close(fd);
        jp_buf_reset(&resp->body);
        if (rc || render(s, tpl.data ? tpl.data : "", tpl.len, &resp->body)) {
            jp_buf_dispose(&tpl);
            text_answer(resp, 500, "cannot read the web app's index.html");
            return 0;
        }
        resp->status = 200;
        snprintf(resp->content_type, sizeof resp->content_type, "text/html; charset=utf-8");
    }
    jp_buf_dispose(&tpl);
    /* the page names the current build's assets: revalidate it every time */
    srv_header_add(resp, "Cache-Control", "no-cache");
    srv_header_add(resp, "Content-Security-Policy", page_csp);
    auth_set_xsrf_cookie(s, resp);
    return 0;
}

/* ---- static files ---- */

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml; charset=utf-8"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".ttf", "font/ttf"},
    {".json", "application/json; charset=utf-8"},
    {".map", "application/json; charset=utf-8"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* A relative path we are willing to look up: segments that are not empty, not "." or ".."
 * and not hidden (no dot first), no backslash and no control byte. The realpath check
 * after it is what really keeps requests inside the directory; this refuses the obvious
 * attempts early and keeps dot files private. */
static int rel_ok(const char *rel)
{
    if (!rel || !*rel || strlen(rel) > 1024)
        return 0;
    const char *seg = rel;
    for (const char *p = rel;; p++) {
        if (*p == '/' || *p == '\0') {
            if (p == seg || *seg == '.')
                return 0;
            if (!*p)
                return 1;
            seg = p + 1;
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') {
            return 0;
        }
    }
}

/* Does Accept-Encoding (RFC 9110 12.5.3) allow gzip? "gzip" or "x-gzip" with q > 0, or
 * "*" with q > 0 when gzip is not named. */
static int accepts_gzip(const char *ae)
{
    int named = 0, star = 0;
    double gzip_q = 0, star_q = 0;
    while (ae && *ae) {
        size_t n = strcspn(ae, ",");
        char item[128];
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), ae);
        char *name = item;
        while (*name == ' ' || *name == '\t')
            name++;
        size_t nl = strcspn(name, " \t;");
        double q = 1;
        const char *params = name + nl;
        const char *qp = strstr(params, "q=");
        if (!qp)
            qp = strstr(params, "Q=");
        if (qp)
            q = strtod(qp + 2, NULL);
        if ((nl == 4 && strncasecmp(name, "gzip", 4) == 0) ||
            (nl == 6 && strncasecmp(name, "x-gzip", 6) == 0)) {
            named = 1;
            gzip_q = q > gzip_q ? q : gzip_q;
        } else if (nl == 1 && name[0] == '*') {
            star = 1;
            star_q = q;
        }
        ae += n;
        if (*ae == ',')
            ae++;
    }
    return named ? gzip_q > 0 : star && star_q > 0;
}

/* Does If-None-Match list etag (weak comparison, RFC 9110 13.1.2), or "*"? */
static int none_match(const char *inm, const char *etag)
{
    size_t el = strlen(etag);
    while (inm && *inm) {
        while (*inm == ' ' || *inm == '\t' || *inm == ',')
            inm++;
        size_t n = strcspn(inm, ",");
        const char *t = inm;
        size_t tl = n;
        while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
            tl--;
        if (tl >= 2 && t[0] == 'W' && t[1] == '/') {
            t += 2;
            tl -= 2;
        }
        if ((tl == 1 && *t == '*') || (tl == el && memcmp(t, etag, el) == 0))
            return 1;
        inm += n;
    }
    return 0;
}

/* Resolve dir/rel and open it when it is a regular file strictly below root (a resolved
 * directory path). The fd, or -1. */
static int open_below(const char *root, const char *rel, const char *suffix, struct stat *st)
{
    char want[PATH_MAX * 2], real[PATH_MAX];
    size_t rl = strlen(root);
    if ((size_t)snprintf(want, sizeof want, "%s/%s%s", root, rel, suffix) >= sizeof want)
        return -1;
    if (!realpath(want, real) || strncmp(real, root, rl) != 0 || real[rl] != '/')
        return -1;
    return open_regular(real, WEB_MAX_FILE, st);
}

int web_static(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    const char *rel = r->params[0];
    char dir[sizeof s->o.web_dir + 16], root[PATH_MAX];
    struct stat st;
    if (!rel_ok(rel)) {
        text_answer(resp, 404, "404: Not Found");
        return 0;
    }
    snprintf(dir, sizeof dir, "%s/static", s->o.web_dir);
    if (!realpath(dir, root)) {
        text_answer(resp, 404, "404: Not Found");
        return 0;
    }
    int gz = 0, fd = -1;
    if (accepts_gzip(r->header(r, "accept-encoding"))) {
        fd = open_below(root, rel, ".gz", &st);
        gz = fd >= 0;
    }
    if (fd < 0)
        fd = open_below(root, rel, "", &st);
    /* the representation depends on Accept-Encoding, whether or not a .gz exists today */
    srv_header_add(resp, "Vary", "Accept-Encoding");
    if (fd < 0) {
        text_answer(resp, 404, "404: Not Found");
        return 0;
    }
    char etag[96];
    snprintf(etag, sizeof etag, "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec,
             gz ? "-gz" : "");
    srv_header_add(resp, "ETag", etag);
    /* chunk names carry a hash of their content: a changed chunk is a new URL */
    int hashed = strncmp(rel, "chunks/", 7) == 0;
    srv_header_add(resp, "Cache-Control",
                   hashed ? "public, max-age=31536000, immutable" : "no-cache");
    if (none_match(r->header(r, "if-none-match"), etag)) {
        close(fd);
        jp_buf_reset(&resp->body);
        resp->content_type[0] = '\0';
        resp->status = 304;
        return 0;
    }
    jp_buf_reset(&resp->body);
    int rc = read_fd(fd, (size_t)st.st_size, &resp->body);
    close(fd);
    if (rc) {
        text_answer(resp, 500, "cannot read the file");
        return 0;
    }
    if (gz)
        srv_header_add(resp, "Content-Encoding", "gzip");
    resp->status = 200;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", type_of(rel));
    return 0;
}
