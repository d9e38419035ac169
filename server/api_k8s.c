/*
 * api_k8s.c - what the Kubernetes provisioner adds to the REST API:
 *   GET /api/kernels/{id}/progress  a kernel's launch progress (stage, message, pod events)
 *   GET /api/kernels/{id}/log       its pod's log (?tail=N lines, default 500), text/plain
 *   GET /api/cnote/profiles         the kernel profiles users can pick (KERNEL_PROFILE)
 *   GET /api/cnote/k8s              the provisioner's counters (API requests, watches, cache)
 * and the wait that makes POST /api/kernels and /api/sessions answer a pod kernel only once it
 * runs (201) or failed (500 with the reason), as Enterprise Gateway does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jp_err.h"
#include "k8s_prov.h"
#include "kmgr.h"
#include "srv.h"

int api_kernel_get_sub(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    const char *id = r->params[0], *what = r->params[1];
    char msg[300];

    if (!kmgr_exists(s->kmgr, id) || !srv_may_use_kernel(s, r, id)) {
        snprintf(msg, sizeof msg, "Kernel does not exist: %s", id);
        srv_error(resp, 404, msg, NULL);
        return 0;
    }
    if (strcmp(what, "progress") == 0) {
        json_t *pr = k8s_prov_progress(s->k8s, id);
        if (!pr) {
            json_t *m = kmgr_model(s->kmgr, id);
            pr = json_pack("{s:s, s:s, s:s, s:[]}", "kernel_id", id, "stage",
                           kmgr_ready(s->kmgr, id) ? "ready" : "local", "message",
                           "a local kernel process", "events");
            json_decref(m);
        } else if (kmgr_ready(s->kmgr, id)) {
            json_object_set_new(pr, "stage", json_string("ready"));
        }
        srv_json(resp, 200, pr);
        return 0;
    }
    if (strcmp(what, "log") == 0)
        return api_kernel_log(r, resp);
    srv_error(resp, 404, "Not Found", NULL);
    return 0;
}

static void log_done(void *arg, long status, const char *body, size_t len)
{
    struct srv_resp resp = {0};
    jp_buf_init(&resp.body, 64u << 20);
    if (status == 200) {
        resp.status = 200;
        snprintf(resp.content_type, sizeof resp.content_type, "text/plain; charset=utf-8");
        jp_buf_add(&resp.body, body, len);
    } else {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot read the kernel pod's log (%ld): %.400s", status, body);
        srv_error(&resp, status == 404 ? 404 : 502, msg, NULL);
    }
    srv_async_answer(arg, &resp);
}

int api_kernel_log(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    char *t = srv_query(r, "tail");
    int tail = t ? atoi(t) : 500;
    free(t);
    if (tail < 0)
        tail = 0;
    if (!s->k8s || !kmgr_is_remote(s->kmgr, r->params[0])) {
        srv_error(resp, 404, "This kernel is a local process: its output is in the server log",
                  NULL);
        return 0;
    }
    void *h = srv_async_hold(r);
    if (k8s_prov_log(s->k8s, r->params[0], tail, log_done, h) != 0) {
        srv_async_release(h);
        srv_error(resp, 404, "The kernel has no pod yet", NULL);
        return 0;
    }
    return SRV_ASYNC;
}

int api_profiles(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    srv_json(resp, 200,
             json_pack("{s:s, s:o}", "provisioner", s->k8s ? "kubernetes" : "local", "profiles",
                       s->k8s ? k8s_prov_profiles(s->k8s) : json_array()));
    return 0;
}

int api_k8s_stats(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    struct k8s_prov_stats st;
    if (!s->k8s) {
        srv_error(resp, 404, "Kernels are local processes here (no --k8s-config)", NULL);
        return 0;
    }
    k8s_prov_stats(s->k8s, &st);
    srv_json(resp, 200,
             json_pack(
                 "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}}",
                 "warm_ready", (json_int_t)st.warm_ready, "warm_starting",
                 (json_int_t)st.warm_starting, "warm_claimed", (json_int_t)st.warm_claimed, "lists",
                 (json_int_t)st.lists, "watches", (json_int_t)st.watches, "relists_gone",
                 (json_int_t)st.relists_gone, "watches_throttled", (json_int_t)st.watches_throttled,
                 "watch_events", (json_int_t)st.watch_events, "pods_cached",
                 (json_int_t)st.pods_cached, "kernels", (json_int_t)st.kernels, "http", "requests",
                 (json_int_t)st.http.requests, "failures", (json_int_t)st.http.failures,
                 "in_flight", (json_int_t)st.http.in_flight, "token_reads",
                 (json_int_t)st.http.token_reads, "throttled", (json_int_t)st.http.throttled));
    return 0;
}

struct remote_wait {
    void *handle;
    struct srv *srv;
    srv_remote_answer_fn answer;
    char session_id[64];
};

static void remote_ready(void *arg, int status, const char *kernel_id, const char *reason)
{
    struct remote_wait *w = arg;
    struct srv_resp resp = {0};
    jp_buf_init(&resp.body, 1 << 20);
    if (status == 0) {
        w->answer(w->srv, kernel_id, w->session_id, &resp);
    } else {
        char msg[1400];
        snprintf(msg, sizeof msg, "Kernel failed to start: %s",
                 reason && *reason ? reason : "launch failed");
        srv_error(&resp, 500, msg, reason);
        srv_remote_failed(w->srv, kernel_id, w->session_id);
    }
    srv_async_answer(w->handle, &resp);
    free(w);
}

int srv_wait_remote(struct srv_req *r, const char *kernel_id, const char *session_id,
                    srv_remote_answer_fn answer)
{
    struct srv *s = r->srv;
    struct remote_wait *w;
    if (!kmgr_is_remote(s->kmgr, kernel_id) || !(w = calloc(1, sizeof *w)))
        return 0;
    w->srv = s;
    w->answer = answer;
    snprintf(w->session_id, sizeof w->session_id, "%s", session_id ? session_id : "");
    w->handle = srv_async_hold(r);
    if (kmgr_wait_ready(s->kmgr, kernel_id, remote_ready, w) != 0) {
        srv_async_release(w->handle);
        free(w);
        return 0;
    }
    return SRV_ASYNC;
}
