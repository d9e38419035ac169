/*
 * api_admin.c - the admin REST API of multi-user mode (JupyterHub-like where it fits) and a
 * user's own API tokens. Every /api/admin route needs an admin; every change is audited.
 *
 *   GET    /api/admin/users                      users with last activity, kernels, GPUs
 *   POST   /api/admin/users                      {name, admin?, password?} -> 201
 *   GET    /api/admin/users/{name}               one user (+ quota)
 *   PATCH  /api/admin/users/{name}               {admin?, password?}
 *   DELETE /api/admin/users/{name}               stops their kernels, removes them -> 204
 *   GET    /api/admin/users/{name}/tokens        their tokens (never the token text)
 *   POST   /api/admin/users/{name}/tokens        {note?, expires_in?} -> 201 {id, token}
 *   DELETE /api/admin/users/{name}/tokens/{id}   revoke -> 204
 *   GET|PUT /api/admin/users/{name}/quota        {max_kernels, max_gpus, max_idle_s}
 *   GET|PUT /api/admin/quotas                    the defaults
 *   GET    /api/admin/kernels                    every kernel: owner, state, idle, pod, GPUs
 *   DELETE /api/admin/kernels/{id}               stop one -> 204
 *   POST   /api/admin/users/{name}/kernels       start a kernel for a user ahead of time
 *                                                ({name?, profile?}) -> 201 model
 *   DELETE /api/admin/users/{name}/kernels       stop all of a user's kernels -> 204
 *   GET    /api/admin/audit?limit=N              the audit log, newest first
 *   GET|POST /api/tokens, DELETE /api/tokens/{id}  the caller's own tokens
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "contents.h"
#include "jp_err.h"
#include "jp_log.h"
#include "jp_time.h"
#include "k8s_prov.h"
#include "kmgr.h"
#include "srv.h"
#include "users.h"

static void ignore_done(void *arg, int status, const char *kernel_id, const char *reason)
{
    (void)arg;
    (void)status;
    (void)kernel_id;
    (void)reason;
}

/* Split "/a/b/c" (after the /api/admin prefix) into at most 4 segments, in place. */
static int segments(char *path, char *seg[4])
{
    int n = 0;
    char *p = path;
    while (*p == '/')
        p++;
    while (*p && n < 4) {
        seg[n++] = p;
        char *e = strchr(p, '/');
        if (!e)
            break;
        *e = '\0';
        p = e + 1;
        while (*p == '/')
            p++;
    }
    if (*p && n == 4 && strchr(p, '/'))
        return -1;
    return n;
}

static json_t *quota_json(const struct users_quota *q)
{
    return json_pack("{s:i, s:i, s:i}", "max_kernels", q->max_kernels, "max_gpus", q->max_gpus,
                     "max_idle_s", q->max_idle_s);
}

static int quota_from(const json_t *b, struct users_quota *q)
{
    const char *keys[] = {"max_kernels", "max_gpus", "max_idle_s"};
    int *f[] = {&q->max_kernels, &q->max_gpus, &q->max_idle_s};
    if (!json_is_object(b))
        return -1;
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(b, keys[i]);
        if (!v)
            continue;
        if (json_is_null(v))
            *f[i] = -1;
        else if (json_is_integer(v) && json_integer_value(v) >= -1 &&
                 json_integer_value(v) <= 1000000)
            *f[i] = (int)json_integer_value(v);
        else
            return -1;
    }
    return 0;
}

/* Every kernel with what an admin wants to see. owner NULL: all. */
static json_t *kernels_of(struct srv *s, const char *owner)
{
    json_t *all = kmgr_list(s->kmgr), *out = json_array(), *k;
    size_t i;
    int64_t now = jp_time_now_us(), at;
    json_array_foreach(all, i, k)
    {
        const char *id = json_string_value(json_object_get(k, "id"));
        const char *o = id ? kmgr_owner(s->kmgr, id) : NULL;
        const char *la = json_string_value(json_object_get(k, "last_activity"));
        if (!o || (owner && strcmp(o, owner) != 0))
            continue;
        json_t *x = json_deep_copy(k);
        int64_t started = kmgr_started_us(s->kmgr, id);
        json_object_set_new(x, "owner", json_string(o));
        if (la && jp_time_parse(la, &at) == 0)
            json_object_set_new(x, "idle_s", json_integer((now - at) / 1000000));
        if (started)
            json_object_set_new(x, "age_s", json_integer((now - started) / 1000000));
        json_object_set_new(x, "gpus", json_integer(srv_kernel_gpus(s, k)));
        json_array_append_new(out, x);
    }
    json_decref(all);
    return out;
}

static json_t *user_json(struct srv *s, const char *name)
{
    struct user u;
    struct users_quota q;
    char c[JP_TIME_LEN], l[JP_TIME_LEN];
    if (users_get(s->users, name, &u) != 0)
        return NULL;
    jp_time_format(u.created_us, c, sizeof c);
    jp_time_format(u.last_activity_us, l, sizeof l);
    json_t *ks = kernels_of(s, name);
    int gpus = srv_gpus_in_use(s, name);
    json_t *o = json_pack("{s:s, s:b, s:s, s:s*, s:I, s:i}", "name", u.name, "admin", u.admin,
                          "created", c, "last_activity", u.last_activity_us ? l : NULL, "kernels",
                          (json_int_t)json_array_size(ks), "gpus", gpus);
    if (users_quota_effective(s->users, name, &q) == 0)
        json_object_set_new(o, "quota", quota_json(&q));
    json_decref(ks);
    return o;
}

static void stop_all_of(struct srv *s, const char *name)
{
    json_t *ks = kernels_of(s, name), *k;
    size_t i;
    json_array_foreach(ks, i, k)
    {
        const char *id = json_string_value(json_object_get(k, "id"));
        if (id)
            kmgr_shutdown(s->kmgr, id, ignore_done, NULL);
    }
    json_decref(ks);
}

static int token_post(struct srv *s, struct srv_req *r, struct srv_resp *resp, const char *name)
{
    int empty;
    json_t *b = srv_body_json(r, resp, &empty);
    if (!b && !empty)
        return 0;
    const char *note = json_string_value(json_object_get(b, "note"));
    json_int_t exp = json_integer_value(json_object_get(b, "expires_in"));
    int64_t tid = 0;
    if (exp < 0 ||
        (json_object_get(b, "expires_in") && !json_is_integer(json_object_get(b, "expires_in")) &&
         !json_is_null(json_object_get(b, "expires_in")))) {
        json_decref(b);
        srv_error(resp, 400, "expires_in must be a number of seconds (0 or absent: never)", NULL);
        return 0;
    }
    char *tok = users_token_new(s->users, name, note, exp, &tid);
    if (!tok) {
        json_decref(b);
        srv_error(resp, 404, "No such user", NULL);
        return 0;
    }
    json_t *d = json_pack("{s:I}", "token_id", (json_int_t)tid);
    users_audit(s->users, r->user, "token_new", name, d);
    json_decref(d);
    srv_json(resp, 201,
             json_pack("{s:I, s:s, s:s*, s:I}", "id", (json_int_t)tid, "token", tok, "note", note,
                       "expires_in", exp));
    OPENSSL_cleanse(tok, strlen(tok));
    free(tok);
    json_decref(b);
    return 0;
}

static int users_route(struct srv *s, struct srv_req *r, struct srv_resp *resp, char **seg, int n)
{
    const char *m = r->method;
    if (n == 1) {
        if (strcmp(m, "GET") == 0) {
            json_t *list = users_list(s->users), *u, *out = json_array();
            size_t i;
            json_array_foreach(list, i, u)
            {
                json_t *x = user_json(s, json_string_value(json_object_get(u, "name")));
                if (x)
                    json_array_append_new(out, x);
            }
            json_decref(list);
            srv_json(resp, 200, out);
            return 0;
        }
        if (strcmp(m, "POST") != 0)
            goto method;
        int empty;
        json_t *b = srv_body_json(r, resp, &empty);
        if (!b) {
            if (empty)
                srv_error(resp, 400, "No JSON data provided", NULL);
            return 0;
        }
        const char *name = json_string_value(json_object_get(b, "name"));
        const char *pw = json_string_value(json_object_get(b, "password"));
        char why[300] = "";
        int rc = name ? users_add(s->users, name, json_is_true(json_object_get(b, "admin")), pw,
                                  why, sizeof why)
                      : JP_EINVAL;
        if (rc == 0) {
            users_audit(s->users, r->user, "user_add", name, NULL);
            srv_json(resp, 201, user_json(s, name));
        } else {
            srv_error(resp, rc == JP_EIO ? 409 : 400, why[0] ? why : "name is required", NULL);
        }
        json_decref(b);
        return 0;
    }
    const char *name = seg[1];
    struct user u;
    if (users_get(s->users, name, &u) != 0) {
        srv_error(resp, 404, "No such user", NULL);
        return 0;
    }
    if (n == 2) {
        if (strcmp(m, "GET") == 0) {
            srv_json(resp, 200, user_json(s, name));
        } else if (strcmp(m, "PATCH") == 0) {
            int empty;
            json_t *b = srv_body_json(r, resp, &empty);
            if (!b) {
                if (empty)
                    srv_error(resp, 400, "No JSON data provided", NULL);
                return 0;
            }
            json_t *adm = json_object_get(b, "admin");
            const char *pw = json_string_value(json_object_get(b, "password"));
            if (adm && json_is_boolean(adm)) {
                if (!json_is_true(adm) && strcmp(name, r->user) == 0) {
                    json_decref(b);
                    srv_error(resp, 400, "An admin cannot take away their own admin role", NULL);
                    return 0;
                }
                users_set_admin(s->users, name, json_is_true(adm));
                users_audit(s->users, r->user, json_is_true(adm) ? "admin_grant" : "admin_revoke",
                            name, NULL);
            }
            if (pw) {
                users_set_password(s->users, name, pw);
                users_audit(s->users, r->user, "password_set", name, NULL);
            }
            json_decref(b);
            srv_json(resp, 200, user_json(s, name));
        } else if (strcmp(m, "DELETE") == 0) {
            if (strcmp(name, r->user) == 0) {
                srv_error(resp, 400, "An admin cannot delete themselves", NULL);
                return 0;
            }
            stop_all_of(s, name);
            users_delete(s->users, name);
            users_audit(s->users, r->user, "user_delete", name, NULL);
            srv_json(resp, 204, NULL);
        } else {
            goto method;
        }
        return 0;
    }
    if (strcmp(seg[2], "tokens") == 0) {
        if (n == 3 && strcmp(m, "GET") == 0) {
            srv_json(resp, 200, users_token_list(s->users, name));
            return 0;
        }
        if (n == 3 && strcmp(m, "POST") == 0)
            return token_post(s, r, resp, name);
        if (n == 4 && strcmp(m, "DELETE") == 0) {
            char *end;
            long long id = strtoll(seg[3], &end, 10);
            if (*end || users_token_revoke(s->users, name, id) != 0) {
                srv_error(resp, 404, "No such token", NULL);
                return 0;
            }
            users_audit(s->users, r->user, "token_revoke", name, NULL);
            srv_json(resp, 204, NULL);
            return 0;
        }
        goto method;
    }
    if (strcmp(seg[2], "quota") == 0 && n == 3) {
        struct users_quota q;
        if (strcmp(m, "GET") == 0) {
            users_quota_get(s->users, name, &q);
            srv_json(resp, 200, quota_json(&q));
            return 0;
        }
        if (strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0)
            goto method;
        int empty;
        json_t *b = srv_body_json(r, resp, &empty);
        users_quota_get(s->users, name, &q);
        if (!b || quota_from(b, &q) != 0) {
            json_decref(b);
            if (resp->status == 0)
                srv_error(resp, 400,
                          "A quota is {max_kernels, max_gpus, max_idle_s}: integers, -1 or null "
                          "for the default",
                          NULL);
            return 0;
        }
        users_quota_set(s->users, name, &q);
        users_audit(s->users, r->user, "quota_set", name, b);
        json_decref(b);
        srv_json(resp, 200, quota_json(&q));
        return 0;
    }
    if (strcmp(seg[2], "kernels") == 0 && n == 3) {
        if (strcmp(m, "DELETE") == 0) {
            stop_all_of(s, name);
            users_audit(s->users, r->user, "kernels_stop_all", name, NULL);
            srv_json(resp, 204, NULL);
            return 0;
        }
        if (strcmp(m, "GET") == 0) {
            srv_json(resp, 200, kernels_of(s, name));
            return 0;
        }
        if (strcmp(m, "POST") != 0)
            goto method;
        /* a kernel for the user ahead of time, in their own storage */
        int empty;
        json_t *b = srv_body_json(r, resp, &empty);
        if (!b && !empty)
            return 0;
        const char *kname = json_string_value(json_object_get(b, "name"));
        const char *prof = json_string_value(json_object_get(b, "profile"));
        struct srv_req as = *r;
        snprintf(as.user, sizeof as.user, "%s", u.name);
        as.user_id = u.id;
        as.user_admin = u.admin;
        if (srv_quota_check(s, &as, prof, resp) != 0) {
            json_decref(b);
            return 0;
        }
        struct contents *c = srv_contents(s, &as);
        char *cwd = NULL, id[37], why[400] = "";
        if (c)
            contents_fs_path(c, "", &cwd);
        json_t *env = prof ? json_pack("{s:s}", "KERNEL_PROFILE", prof) : NULL;
        int rc = kmgr_start_owned(s->kmgr, u.name, kname, cwd, env, NULL, id, why, sizeof why, NULL,
                                  NULL);
        free(cwd);
        json_decref(env);
        json_decref(b);
        if (rc) {
            srv_error(resp, rc == JP_ENOENT ? 404 : 500, why[0] ? why : "cannot start", NULL);
            return 0;
        }
        srv_persist_kernel(s, id);
        srv_add_prespawned(s, u.name, id);
        json_t *d = json_pack("{s:s, s:s*}", "kernel_id", id, "profile", prof);
        users_audit(s->users, r->user, "kernel_spawn", name, d);
        json_decref(d);
        srv_json(resp, 201, kmgr_model(s->kmgr, id));
        return 0;
    }
    srv_error(resp, 404, "Not Found", NULL);
    return 0;
method:
    srv_error(resp, 405, "Method Not Allowed", NULL);
    return 0;
}

int api_admin(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    char *path = strdup(r->params[0] ? r->params[0] : ""), *seg[4] = {0};
    int n;

    if (!s->multi) {
        free(path);
        srv_error(resp, 404,
                  "The admin API needs multi-user mode (cnote-server user add NAME "
                  "--admin)",
                  NULL);
        return 0;
    }
    if (!r->user_admin) {
        free(path);
        users_audit(s->users, r->user, "admin_denied", r->path, NULL);
        srv_error(resp, 403, "Forbidden: this needs an admin", NULL);
        return 0;
    }
    n = path ? segments(path, seg) : -1;
    if (n <= 0) {
        srv_error(resp, 404, "Not Found", NULL);
    } else if (strcmp(seg[0], "users") == 0) {
        users_route(s, r, resp, seg, n);
    } else if (strcmp(seg[0], "quotas") == 0 && n == 1) {
        struct users_quota q;
        users_quota_defaults(s->users, &q);
        if (strcmp(r->method, "GET") == 0) {
            srv_json(resp, 200, quota_json(&q));
        } else if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "PATCH") == 0) {
            int empty;
            json_t *b = srv_body_json(r, resp, &empty);
            if (!b || quota_from(b, &q) != 0 || q.max_kernels < 0 || q.max_gpus < 0 ||
                q.max_idle_s < 0) {
                if (resp->status == 0)
                    srv_error(resp, 400, "Default quotas are non-negative integers", NULL);
            } else {
                users_quota_set_defaults(s->users, &q);
                users_audit(s->users, r->user, "quota_defaults_set", "", b);
                srv_json(resp, 200, quota_json(&q));
            }
            json_decref(b);
        } else {
            srv_error(resp, 405, "Method Not Allowed", NULL);
        }
    } else if (strcmp(seg[0], "kernels") == 0 && n <= 2) {
        if (n == 1 && strcmp(r->method, "GET") == 0) {
            srv_json(resp, 200, kernels_of(s, NULL));
        } else if (n == 2 && strcmp(r->method, "DELETE") == 0) {
            const char *owner = kmgr_owner(s->kmgr, seg[1]);
            if (!owner) {
                srv_error(resp, 404, "No such kernel", NULL);
            } else {
                json_t *d = json_pack("{s:s}", "kernel_id", seg[1]);
                users_audit(s->users, r->user, "kernel_stop", owner, d);
                json_decref(d);
                kmgr_shutdown(s->kmgr, seg[1], ignore_done, NULL);
                srv_json(resp, 204, NULL);
            }
        } else {
            srv_error(resp, 405, "Method Not Allowed", NULL);
        }
    } else if (strcmp(seg[0], "audit") == 0 && n == 1) {
        char *l = srv_query(r, "limit");
        srv_json(resp, 200, users_audit_list(s->users, l ? atoi(l) : 100));
        free(l);
    } else {
        srv_error(resp, 404, "Not Found", NULL);
    }
    free(path);
    return 0;
}

int api_tokens(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    const char *rest = r->params[0] ? r->params[0] : "";
    if (!s->multi || !r->user[0]) {
        srv_error(resp, 404, "API tokens per user need multi-user mode", NULL);
        return 0;
    }
    if (!*rest || strcmp(rest, "/") == 0) {
        if (strcmp(r->method, "GET") == 0) {
            srv_json(resp, 200, users_token_list(s->users, r->user));
            return 0;
        }
        if (strcmp(r->method, "POST") == 0)
            return token_post(s, r, resp, r->user);
    } else if (strcmp(r->method, "DELETE") == 0) {
        char *end;
        long long id = strtoll(rest + (*rest == '/'), &end, 10);
        if (*end || end == rest + (*rest == '/') ||
            users_token_revoke(s->users, r->user, id) != 0) {
            srv_error(resp, 404, "No such token", NULL);
            return 0;
        }
        users_audit(s->users, r->user, "token_revoke", r->user, NULL);
        srv_json(resp, 204, NULL);
        return 0;
    }
    srv_error(resp, 405, "Method Not Allowed", NULL);
    return 0;
}
