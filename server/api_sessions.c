/*
 * api_sessions.c - /api/sessions: list, create (201 + Location, also when a session for the
 * path already exists), get, patch (path, name, type, kernel by id or by name) and delete
 * (204, the kernel is shut down too; 410 when the kernel was already gone), with Jupyter
 * Server's shapes, status codes and messages. Sessions whose kernel has died or been culled
 * disappear when listed or fetched, as in Jupyter Server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jp_err.h"
#include "kmgr.h"
#include "sessions.h"
#include "srv.h"

static void location(struct srv *s, struct srv_resp *resp, const char *id)
{
    char loc[600];
    snprintf(loc, sizeof loc, "%sapi/sessions/%s", s->o.base_url, id);
    srv_header_add(resp, "Location", loc);
}

/* Drop sessions whose kernel is gone. */
static void prune(struct srv *s)
{
    for (size_t i = 0; i < s->sessions->n;) {
        if (!kmgr_exists(s->kmgr, s->sessions->v[i].kernel_id)) {
            char sid[37];
            snprintf(sid, sizeof sid, "%s", s->sessions->v[i].id);
            sessions_remove(s->sessions, sid);
            srv_persist_session(s, sid);
        } else
            i++;
    }
}

static json_t *model(struct srv *s, const struct session *x)
{
    return sessions_model(x, kmgr_model(s->kmgr, x->kernel_id));
}

/* A session's pod kernel is up: 201 with the session. */
static void session_started(struct srv *s, const char *kernel_id, const char *session_id,
                            struct srv_resp *resp)
{
    struct session *x = sessions_get(s->sessions, session_id);
    (void)kernel_id;
    if (!x) {
        srv_error(resp, 500, "the session was deleted while its kernel started", NULL);
        return;
    }
    location(s, resp, x->id);
    srv_json(resp, 201, model(s, x));
}

static void shutdown_ignored(void *arg, int status, const char *kernel_id, const char *reason);

/* A pod kernel failed to start: forget it (and its session), so nothing dead lingers. */
void srv_remote_failed(struct srv *s, const char *kernel_id, const char *session_id)
{
    if (session_id && *session_id && sessions_get(s->sessions, session_id)) {
        sessions_remove(s->sessions, session_id);
        srv_persist_session(s, session_id);
    }
    if (kmgr_exists(s->kmgr, kernel_id))
        kmgr_shutdown(s->kmgr, kernel_id, shutdown_ignored, NULL);
}

/* Is this session the request's user's? (Sessions belong to their kernel's owner; in
 * multi-user mode a user sees only their own, an admin may open anyone's by id.) */
static int mine(struct srv *s, const struct srv_req *r, const struct session *x, int listing)
{
    const char *owner;
    if (!s->multi)
        return 1;
    owner = kmgr_owner(s->kmgr, x->kernel_id);
    if (!owner)
        return 0;
    return strcmp(owner, r->user) == 0 || (!listing && r->user_admin);
}

static struct session *by_path(struct srv *s, const struct srv_req *r, const char *path)
{
    for (size_t i = 0; i < s->sessions->n; i++)
        if (strcmp(s->sessions->v[i].path, path) == 0 && mine(s, r, &s->sessions->v[i], 1))
            return &s->sessions->v[i];
    return NULL;
}

/* Start a kernel for a session: 0 and id, or an answer already written to resp. */
static int start_kernel(struct srv *s, const struct srv_req *r, const char *name, const char *path,
                        char id[37], struct srv_resp *resp)
{
    if (srv_take_prespawned(s, r, name, NULL, id))
        return 0; /* a kernel started for this user ahead of time */
    if (srv_quota_check(s, r, NULL, resp))
        return -1;
    char *cwd = api_kernel_cwd(s, r, path);
    char why[300] = "";
    json_t *env = json_pack("{s:s}", "JPY_SESSION_NAME", path ? path : "");
    int rc =
        kmgr_start_owned(s->kmgr, r->user, name, cwd, env, NULL, id, why, sizeof why, NULL, NULL);
    json_decref(env);
    free(cwd);
    if (rc == JP_ENOENT) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "The '%s' kernel is not available. Please pick another "
                 "suitable kernel instead, or install that kernel.",
                 name ? name : "default");
        json_t *e = json_pack("{s:s,s:s,s:n}", "message", msg, "short_message", "Kernel not found",
                              "reason");
        srv_json(resp, 501, e);
        return -1;
    }
    if (rc) {
        srv_error(resp, 501, *why ? why : "Kernel failed to start", NULL);
        return -1;
    }
    srv_persist_kernel(s, id);
    return 0;
}

/* The request's JSON body; NULL with a 400 already answered when there is none. */
static json_t *session_body(struct srv_req *r, struct srv_resp *resp)
{
    int empty;
    json_t *body = srv_body_json(r, resp, &empty);
    if (!body && empty)
        srv_error(resp, 400, "No JSON data provided", NULL);
    return body;
}

static void shutdown_ignored(void *arg, int status, const char *kernel_id, const char *reason)
{
    (void)arg;
    (void)status;
    (void)kernel_id;
    (void)reason;
}

int api_sessions(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    prune(s);
    if (strcmp(r->method, "GET") == 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->sessions->n; i++)
            if (mine(s, r, &s->sessions->v[i], 1))
                json_array_append_new(a, model(s, &s->sessions->v[i]));
        srv_json(resp, 200, a);
        return 0;
    }
    json_t *body = session_body(r, resp);
    if (!body)
        return 0;
    const char *path = json_string_value(json_object_get(body, "path"));
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *kernel = json_object_get(body, "kernel");
    if (!path || !type) {
        srv_error(resp, 400,
                  path ? "Missing field in JSON data: type" : "Missing field in JSON data: path",
                  NULL);
        json_decref(body);
        return 0;
    }
    struct session *x = by_path(s, r, path);
    if (!x) {
        const char *kid = json_string_value(json_object_get(kernel, "id"));
        const char *kname = json_string_value(json_object_get(kernel, "name"));
        char id[37];
        if (kid && kmgr_exists(s->kmgr, kid) && srv_may_use_kernel(s, r, kid)) {
            snprintf(id, sizeof id, "%s", kid);
        } else if (start_kernel(s, r, kname, path, id, resp)) {
            json_decref(body);
            return 0;
        }
        x = sessions_add(s->sessions, NULL, path, name ? name : "", type, id);
        if (!x) {
            json_decref(body);
            srv_error(resp, 500, "out of memory", NULL);
            return 0;
        }
    }
    json_decref(body);
    srv_persist_session(s, x->id);
    int waiting = srv_wait_remote(r, x->kernel_id, x->id, session_started);
    if (waiting)
        return waiting;
    location(s, resp, x->id);
    srv_json(resp, 201, model(s, x));
    return 0;
}

int api_session(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    prune(s);
    struct session *x = sessions_get(s->sessions, r->params[0]);
    if (x && !mine(s, r, x, 0))
        x = NULL; /* someone else's: as if it did not exist */
    if (!x) {
        char msg[300];
        snprintf(msg, sizeof msg, "Session not found: session_id='%s'", r->params[0]);
        srv_error(resp, 404, msg, NULL);
        return 0;
    }
    if (strcmp(r->method, "GET") == 0) {
        srv_json(resp, 200, model(s, x));
        return 0;
    }
    if (strcmp(r->method, "DELETE") == 0) {
        char kid[37], sid[37];
        snprintf(kid, sizeof kid, "%s", x->kernel_id);
        snprintf(sid, sizeof sid, "%s", x->id);
        sessions_remove(s->sessions, x->id);
        srv_persist_session(s, sid);
        if (!kmgr_exists(s->kmgr, kid)) {
            srv_error(resp, 410, "Kernel deleted before session", NULL);
            return 0;
        }
        /* answered once the kernel is gone, as Jupyter Server does (a client that lists
         * kernels right after the 204 must not see it) */
        void *h = srv_async_hold(r);
        if (kmgr_shutdown(s->kmgr, kid, api_kernel_shutdown_done, h) != 0) {
            srv_async_release(h);
            srv_json(resp, 204, NULL);
            return 0;
        }
        return SRV_ASYNC;
    }
    json_t *body = session_body(r, resp);
    if (!body)
        return 0;
    const char *path = json_string_value(json_object_get(body, "path"));
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *type = json_string_value(json_object_get(body, "type"));
    json_t *kernel = json_object_get(body, "kernel");
    if (json_is_object(kernel)) {
        const char *kid = json_string_value(json_object_get(kernel, "id"));
        const char *kname = json_string_value(json_object_get(kernel, "name"));
        if (kid) {
            if (!kmgr_exists(s->kmgr, kid) || !srv_may_use_kernel(s, r, kid)) {
                char msg[300];
                snprintf(msg, sizeof msg, "No such kernel: %s", kid);
                srv_error(resp, 400, msg, NULL);
                json_decref(body);
                return 0;
            }
            snprintf(x->kernel_id, sizeof x->kernel_id, "%s", kid);
        } else if (kname) {
            char id[37], old[37];
            if (start_kernel(s, r, kname, path ? path : x->path, id, resp)) {
                json_decref(body);
                return 0;
            }
            snprintf(old, sizeof old, "%s", x->kernel_id);
            snprintf(x->kernel_id, sizeof x->kernel_id, "%s", id);
            if (kmgr_exists(s->kmgr, old))
                kmgr_shutdown(s->kmgr, old, shutdown_ignored, NULL);
        }
    }
    int bad = (path && sessions_set(&x->path, path)) || (name && sessions_set(&x->name, name)) ||
              (type && sessions_set(&x->type, type));
    json_decref(body);
    if (bad) {
        srv_error(resp, 500, "out of memory", NULL);
        return 0;
    }
    srv_persist_session(s, x->id);
    srv_json(resp, 200, model(s, x));
    return 0;
}
