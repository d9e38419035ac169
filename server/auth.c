/*
 * auth.c - authentication and request checks (see auth.h).
 *
 * Order, as in Jupyter Server's JupyterHandler.prepare: Host check, identify the user
 * (token, then login cookie), XSRF for unsafe methods of cookie-authenticated requests,
 * then require authentication (API: 403; pages: redirect to the login page), and for the
 * REST API reject cross-origin requests that a token did not authenticate (404, like
 * Jupyter). The login cookie is an HMAC of a per-start secret: it proves the browser once
 * presented the token, and it dies with the server process. No I/O here.
 */
#include "auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "jp_uuid.h"

static char login_value[65];
static char xsrf_value[65];

void auth_hmac_hex(const char *key, const char *msg, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), md, &n);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    OPENSSL_cleanse(md, sizeof md);
}

int auth_init(struct srv *s)
{
    if (jp_random_hex(s->cookie_secret, 32) || jp_random_hex(s->xsrf_secret, 32))
        return -1;
    if (!s->o.token_set) {
        if (jp_random_hex(s->o.token, 24))
            return -1;
        s->o.token_set = 1;
    }
    auth_hmac_hex(s->cookie_secret, "cnote-login", login_value);
    auth_hmac_hex(s->xsrf_secret, "cnote-xsrf", xsrf_value);
    return 0;
}

const char *auth_xsrf_value(struct srv *s)
{
    (void)s;
    return xsrf_value;
}

static int const_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}

int auth_token_ok(struct srv *s, const char *candidate)
{
    return s->o.token[0] && candidate && const_eq(candidate, s->o.token);
}

char *auth_cookie(struct srv_req *r, const char *name)
{
    const char *h = r->header(r, "cookie");
    size_t nl = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';')
            h++;
        size_t n = strcspn(h, ";");
        if (n > nl && memcmp(h, name, nl) == 0 && h[nl] == '=') {
            const char *v = h + nl + 1;
            size_t vl = n - nl - 1;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            return strndup(v, vl);
        }
        h += n;
    }
    return NULL;
}

static void cookie_name(struct srv *s, char *out, size_t len)
{
    snprintf(out, len, "cnote-auth-%d", s->o.port);
}

void auth_set_login_cookie(struct srv *s, struct srv_resp *resp)
{
    char name[64], v[512];
    cookie_name(s, name, sizeof name);
    snprintf(v, sizeof v, "%s=%s; Path=%s; HttpOnly; SameSite=Lax%s", name, login_value,
             s->o.base_url, s->o.certfile[0] ? "; Secure" : "");
    srv_header_add(resp, "Set-Cookie", v);
}

void auth_set_xsrf_cookie(struct srv *s, struct srv_resp *resp)
{
    char v[512];
    snprintf(v, sizeof v, "_xsrf=%s; Path=%s; SameSite=Lax%s", xsrf_value, s->o.base_url,
             s->o.certfile[0] ? "; Secure" : "");
    srv_header_add(resp, "Set-Cookie", v);
}

/* "host:port", "[::1]:port" -> host */
static void host_only(const char *h, char *out, size_t len)
{
    if (*h == '[') {
        const char *e = strchr(h, ']');
        size_t n = e ? (size_t)(e - h - 1) : strlen(h + 1);
        snprintf(out, len, "%.*s", (int)n, h + 1);
        return;
    }
    size_t n = strcspn(h, ":");
    snprintf(out, len, "%.*s", (int)n, h);
}

static int host_allowed(struct srv *s, const char *host)
{
    char h[256];
    if (!host)
        return 1; /* HTTP/1.0 scripts */
    host_only(host, h, sizeof h);
    for (char *p = h; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
           strcmp(h, s->o.ip) == 0;
}

/* Origin "http://host:port" must name the same host:port as the Host header. */
static int same_origin(const char *origin, const char *host)
{
    const char *p = strstr(origin, "://");
    if (!p || !host)
        return 0;
    p += 3;
    size_t n = strcspn(p, "/");
    return strlen(host) == n && strncasecmp(p, host, n) == 0;
}

static int is_api(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
}

int auth_check(struct srv *s, struct srv_req *r, struct srv_resp *resp, int public_route)
{
    const char *host = r->header(r, "host");
    /* Behind a trusted reverse proxy the public name is X-Forwarded-Host and the proxy, not
     * this server, decides which names are served: no Host allow-list then. */
    const char *fwd = s->o.trust_proxy ? r->header(r, "x-forwarded-host") : NULL;
    if (fwd)
        host = fwd;
    if (!s->o.allow_remote_access && !s->o.trust_proxy && !host_allowed(s, host)) {
        srv_error(resp, 403, "Blocked request with a host not on the allow list", "host");
        return -1;
    }
    int authed = 0;
    r->user[0] = '\0';
    r->user_admin = !s->multi; /* single-user mode: the one user manages everything */
    /* multi-user mode: users' tokens and login cookies only (multiuser.c) */
    char *qt = s->multi ? NULL : srv_query(r, "token");
    if (qt && auth_token_ok(s, qt)) {
        authed = r->token_auth = 1;
        auth_set_login_cookie(s, resp); /* so the browser keeps working without ?token= */
    }
    free(qt);
    const char *ah = s->multi ? NULL : r->header(r, "authorization");
    if (s->multi)
        authed = srv_user_auth(s, r, resp);
    if (!authed && ah) {
        const char *sp = strchr(ah, ' ');
        if (sp && ((size_t)(sp - ah) == 5 || (size_t)(sp - ah) == 6) &&
            (strncasecmp(ah, "token", 5) == 0 || strncasecmp(ah, "bearer", 6) == 0)) {
            while (*sp == ' ')
                sp++;
            if (auth_token_ok(s, sp))
                authed = r->token_auth = 1;
        }
    }
    if (!authed && !s->multi) {
        char name[64];
        cookie_name(s, name, sizeof name);
        char *c = auth_cookie(r, name);
        if (c && const_eq(c, login_value))
            authed = 1;
        free(c);
    }
    if (!s->o.token[0] && !s->multi)
        authed = 1; /* --token '' (refused unless on loopback): no authentication */

    int unsafe = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
                 strcmp(r->method, "OPTIONS") != 0;
    if (unsafe && !r->token_auth && !(public_route && strcmp(r->path, "/login") == 0)) {
        const char *hx = r->header(r, "x-xsrftoken");
        if (!hx)
            hx = r->header(r, "x-csrftoken");
        char *qx = hx ? NULL : srv_query(r, "_xsrf");
        char *cx = auth_cookie(r, "_xsrf");
        const char *given = hx ? hx : qx;
        int ok = given && cx && const_eq(given, cx) && const_eq(cx, xsrf_value);
        if (!ok) {
            srv_error(resp, 403,
                      given ? "XSRF cookie does not match POST argument"
                            : "'_xsrf' argument missing from POST",
                      "xsrf");
            free(qx);
            free(cx);
            return -1;
        }
        free(qx);
        free(cx);
    }
    if (!authed && !public_route) {
        if (is_api(r->path)) {
            srv_error(resp, 403, "Forbidden", "authentication required");
        } else {
            /* next= is percent-encoded, so a path with '&', '#' or spaces comes back whole */
            static const char hex[] = "0123456789ABCDEF";
            char loc[3072];
            int n = snprintf(loc, sizeof loc, "%slogin?next=", s->o.base_url);
            const char *parts[2] = {s->o.base_url, r->path[0] == '/' ? r->path + 1 : r->path};
            for (int k = 0; k < 2 && n > 0; k++) {
                for (const unsigned char *p = (const unsigned char *)parts[k];
                     *p && (size_t)n + 4 < sizeof loc; p++) {
                    if (isalnum(*p) || strchr("-._~/", *p)) {
                        loc[n++] = (char)*p;
                    } else {
                        loc[n++] = '%';
                        loc[n++] = hex[*p >> 4];
                        loc[n++] = hex[*p & 15];
                    }
                }
            }
            loc[n > 0 ? n : 0] = '\0';
            resp->status = 302;
            srv_header_add(resp, "Location", loc);
        }
        return -1;
    }
    const char *origin = r->header(r, "origin");
    if (is_api(r->path) && origin && !r->token_auth && strcmp(s->o.allow_origin, "*") != 0 &&
        strcmp(origin, s->o.allow_origin) != 0 && !same_origin(origin, host)) {
        srv_error(resp, 404, "Not Found", "cross-origin");
        return -1;
    }
    if (origin && (s->o.allow_origin[0] || r->token_auth)) {
        srv_header_add(resp, "Access-Control-Allow-Origin",
                       strcmp(s->o.allow_origin, "*") == 0 ? "*" : origin);
    }
    return 0;
}

void auth_cors_preflight(struct srv *s, struct srv_req *r, struct srv_resp *resp)
{
    const char *origin = r->header(r, "origin");
    resp->status = 204;
    if (origin && s->o.allow_origin[0])
        srv_header_add(resp, "Access-Control-Allow-Origin",
                       strcmp(s->o.allow_origin, "*") == 0 ? "*" : s->o.allow_origin);
    srv_header_add(resp, "Access-Control-Allow-Headers",
                   "accept, content-type, authorization, x-xsrftoken");
    srv_header_add(resp, "Access-Control-Allow-Methods", "GET, PUT, POST, PATCH, DELETE, OPTIONS");
}
