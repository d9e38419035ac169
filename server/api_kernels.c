/*
 * api_kernels.c - /api/kernels: list, start (201 + Location), get, delete (204 once the
 * kernel is gone), interrupt (204, without waiting) and restart (200 once the kernel answers
 * kernel_info, 500 on failure), with Jupyter Server's shapes and messages. A thin HTTP layer
 * over kmgr; the working directory of a new kernel comes from the contents root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "contents.h"
#include "jp_err.h"
#include "jp_log.h"
#include "kmgr.h"
#include "srv.h"

/* Jupyter's kernel id pattern: \w+-\w+-\w+-\w+-\w+ */
static int valid_id(const char *id)
{
    int dashes = 0, run = 0;
    for (const char *p = id; *p; p++) {
        if (*p == '-') {
            if (!run)
                return 0;
            dashes++;
            run = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '_') {
            run++;
        } else {
            return 0;
        }
    }
    return dashes == 4 && run;
}

static void not_found(struct srv_resp *resp, const char *id)
{
    char msg[300];
    snprintf(msg, sizeof msg, "Kernel does not exist: %s", id);
    srv_error(resp, 404, msg, NULL);
}

static void location(struct srv *s, struct srv_resp *resp, const char *id)
{
    char loc[600];
    snprintf(loc, sizeof loc, "%sapi/kernels/%s", s->o.base_url, id);
    srv_header_add(resp, "Location", loc);
}

/* A pod kernel is up: 201 with its model, as for a local one. */
static void kernel_started(struct srv *s, const char *id, const char *session_id,
                           struct srv_resp *resp)
{
    (void)session_id;
    location(s, resp, id);
    srv_json(resp, 201, kmgr_model(s->kmgr, id));
}

/* Is env name `name` in the comma list `allow` ("X*" entries are prefixes)? */
static int env_allowed(const char *allow, const char *name)
{
    const char *p = allow;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n && p[n - 1] == '*') {
            if (strncmp(name, p, n - 1) == 0)
                return 1;
        } else if (n && strlen(name) == n && strncmp(name, p, n) == 0) {
            return 1;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* The environment a client may give a new kernel (what gateway clients send as "env"): names
 * on the allow-list only (others are dropped and logged), string values of at most 4096
 * bytes without NUL, CR or LF (else 400, like Enterprise Gateway); KERNEL_USERNAME is the
 * authenticated user whenever the server authenticates. NULL with *bad set on a 400. */
static json_t *kernel_env(struct srv *s, const struct srv_req *r, json_t *in, char *bad,
                          size_t badlen)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    if (!out)
        return NULL;
    if (in && !json_is_object(in) && !json_is_null(in)) {
        snprintf(bad, badlen, "env must be an object of strings");
        json_decref(out);
        return NULL;
    }
    json_object_foreach(in, k, v)
    {
        if (!env_allowed(s->o.kernel_env_allow, k)) {
            jp_log(JP_LOG_INFO, "kernels", "env dropped (not allowed) name=%s", k);
            continue;
        }
        const char *sv = json_string_value(v);
        size_t n = json_string_length(v);
        if (!sv || n > 4096 || strlen(sv) != n || strpbrk(sv, "\r\n")) {
            snprintf(bad, badlen,
                     "env value of %s must be a string of at most 4096 bytes without NUL, "
                     "CR or LF",
                     k);
            json_decref(out);
            return NULL;
        }
        json_object_set(out, k, v);
    }
    if (s->o.token[0] || s->multi)
        json_object_set_new(out, "KERNEL_USERNAME",
                            json_string(s->multi && r->user[0] ? r->user : SRV_USERNAME));
    return out;
}

/* The directory of an API path, walking up until one exists; the root when none does. */
char *api_kernel_cwd(struct srv *s, const struct srv_req *r, const char *path)
{
    char *p = strdup(path ? path : "");
    struct contents *c = srv_contents(s, r);
    while (p && c) {
        char *fs = NULL;
        if (contents_fs_path(c, p, &fs) == 0 && fs) {
            struct stat st;
            if (stat(fs, &st) == 0 && S_ISDIR(st.st_mode)) {
                free(p);
                return fs;
            }
            free(fs);
        }
        if (!*p)
            break;
        char *slash = strrchr(p, '/');
        if (slash)
            *slash = '\0';
        else
            p[0] = '\0';
    }
    free(p);
    return strdup(s->o.root);
}

int api_kernels(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    if (strcmp(r->method, "GET") == 0) {
        resp->status = 200;
        jp_buf_reset(&resp->body);
        if (kmgr_list_write_owner(s->kmgr, &resp->body, srv_list_owner(s, r)) != 0) {
            srv_error(resp, 500, "Out of memory listing kernels", NULL);
            return 0;
        }
        snprintf(resp->content_type, sizeof resp->content_type, "application/json");
        return 0;
    }
    int empty;
    json_t *body = srv_body_json(r, resp, &empty);
    if (!body && !empty)
        return 0;
    if (body && !json_is_object(body)) {
        json_decref(body);
        srv_error(resp, 400, "Invalid JSON in body of request", NULL);
        return 0;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *path = json_string_value(json_object_get(body, "path"));
    const char *want = json_string_value(json_object_get(body, "kernel_id"));
    char bad[300] = "";
    json_t *env = kernel_env(s, r, json_object_get(body, "env"), bad, sizeof bad);
    if (!env) {
        json_decref(body);
        srv_error(resp, 400, bad[0] ? bad : "Out of memory", NULL);
        return 0;
    }
    char pre[37];
    if (!want && srv_take_prespawned(
                     s, r, name, json_string_value(json_object_get(env, "KERNEL_PROFILE")), pre)) {
        /* a kernel an admin started for this user ahead of time, ready now */
        json_decref(env);
        json_decref(body);
        location(s, resp, pre);
        srv_json(resp, 201, kmgr_model(s->kmgr, pre));
        return 0;
    }
    if (srv_quota_check(s, r, json_string_value(json_object_get(env, "KERNEL_PROFILE")), resp)) {
        json_decref(env);
        json_decref(body);
        return 0;
    }
    if (s->multi && !srv_contents(s, r)) {
        json_decref(env);
        json_decref(body);
        srv_error(resp, 500, "The user's notebook directory cannot be created", NULL);
        return 0;
    }
    char *cwd = api_kernel_cwd(s, r, path);
    char id[37], why[300] = "";
    int rc =
        kmgr_start_owned(s->kmgr, r->user, name, cwd, env, want, id, why, sizeof why, NULL, NULL);
    free(cwd);
    json_decref(env);
    json_decref(body);
    if (rc == JP_ENOENT) {
        char msg[400];
        snprintf(msg, sizeof msg, "No such kernel named %s", name ? name : "(default)");
        srv_error(resp, 404, msg, NULL);
        return 0;
    }
    if (rc) {
        srv_error(resp, 500, *why ? why : "Kernel failed to start", NULL);
        return 0;
    }
    srv_persist_kernel(s, id);
    int waiting = srv_wait_remote(r, id, NULL, kernel_started);
    if (waiting)
        return waiting;
    location(s, resp, id);
    srv_json(resp, 201, kmgr_model(s->kmgr, id));
    return 0;
}

void api_kernel_shutdown_done(void *arg, int status, const char *kernel_id, const char *reason)
{
    (void)kernel_id;
    struct srv_resp resp = {0};
    jp_buf_init(&resp.body, 1 << 20);
    if (status == 0 || status == JP_ENOENT)
        srv_json(&resp, 204, NULL);
    else
        srv_error(&resp, 500, reason ? reason : "shutdown failed", NULL);
    srv_async_answer(arg, &resp);
}

int api_kernel(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    const char *id = r->params[0];
    if (!valid_id(id) || !kmgr_exists(s->kmgr, id) || !srv_may_use_kernel(s, r, id)) {
        not_found(resp, id);
        return 0;
    }
    if (strcmp(r->method, "GET") == 0) {
        srv_json(resp, 200, kmgr_model(s->kmgr, id));
        return 0;
    }
    void *h = srv_async_hold(r);
    if (kmgr_shutdown(s->kmgr, id, api_kernel_shutdown_done, h) != 0) {
        srv_async_release(h);
        not_found(resp, id);
        return 0;
    }
    return SRV_ASYNC;
}

struct restart_ctx {
    void *handle;
    struct srv *srv;
};

static void restart_done(void *arg, int status, const char *kernel_id, const char *reason)
{
    struct restart_ctx *c = arg;
    struct srv_resp resp = {0};
    jp_buf_init(&resp.body, 1 << 20);
    json_t *model = status == 0 ? kmgr_model(c->srv->kmgr, kernel_id) : NULL;
    if (model)
        srv_persist_kernel(c->srv, kernel_id); /* a new pid */
    if (model)
        srv_json(&resp, 200, model);
    else
        srv_error(&resp, 500, reason && *reason ? reason : "Exception restarting kernel", NULL);
    srv_async_answer(c->handle, &resp);
    free(c);
}

int api_kernel_action(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    const char *id = r->params[0], *action = r->params[1];
    if (strcmp(action, "interrupt") != 0 && strcmp(action, "restart") != 0) {
        srv_error(resp, 404, "Not Found", NULL);
        return 0;
    }
    if (!valid_id(id) || !kmgr_exists(s->kmgr, id) || !srv_may_use_kernel(s, r, id)) {
        not_found(resp, id);
        return 0;
    }
    if (strcmp(action, "interrupt") == 0) {
        kmgr_interrupt(s->kmgr, id);
        srv_json(resp, 204, NULL);
        return 0;
    }
    struct restart_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        srv_error(resp, 500, "out of memory", NULL);
        return 0;
    }
    c->srv = s;
    c->handle = srv_async_hold(r);
    if (kmgr_restart(s->kmgr, id, restart_done, c) != 0) {
        srv_async_release(c->handle);
        free(c);
        not_found(resp, id);
        return 0;
    }
    return SRV_ASYNC;
}
