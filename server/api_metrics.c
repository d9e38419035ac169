/*
 * api_metrics.c - GET /metrics in the Prometheus text format: kernels by state and user,
 * WebSocket clients, messages and bytes relayed, HTTP error answers by code, Kubernetes API
 * requests and failures, pod launch latency (a histogram), users. Behind --metrics-token (a
 * bearer token for the scraper), an admin (multi-user mode) or the server token (single-user
 * mode), unless --metrics-public.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "k8s_prov.h"
#include "kmgr.h"
#include "metrics.h"
#include "srv.h"
#include "users.h"
#include "ws.h"

static const double LAUNCH_BUCKETS[] = {0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600};

static struct {
    struct wsb_counters ws;
    unsigned long long k8s_requests, k8s_failures, k8s_throttled;
} seen;

static struct metrics *reg(struct srv *s)
{
    if (!s->metrics)
        s->metrics = metrics_new();
    return s->metrics;
}

void srv_metrics_response(struct srv *s, int status)
{
    static const char *const names[] = {"code", NULL};
    char code[8];
    if (status < 400 || !reg(s))
        return;
    snprintf(code, sizeof code, "%d", status);
    const char *values[] = {code, NULL};
    metrics_counter_add(s->metrics, "cnote_http_errors_total",
                        "HTTP answers with an error status, by status code", names, values, 1);
}

void srv_metrics_launch(void *ctx, double seconds)
{
    struct srv *s = ctx;
    if (reg(s))
        metrics_histogram_observe(s->metrics, "cnote_pod_launch_seconds",
                                  "Time from creating a kernel pod to its kernel running",
                                  LAUNCH_BUCKETS, sizeof LAUNCH_BUCKETS / sizeof *LAUNCH_BUCKETS,
                                  seconds);
}

static void counter_to(struct metrics *m, const char *name, const char *help, const char *label,
                       const char *value, unsigned long long now, unsigned long long *was)
{
    const char *names[] = {label, NULL}, *values[] = {value, NULL};
    if (now >= *was)
        metrics_counter_add(m, name, help, label ? names : NULL, label ? values : NULL,
                            (double)(now - *was));
    *was = now;
}

static int allowed(struct srv *s, struct srv_req *r)
{
    const char *ah = r->header(r, "authorization");
    const char *sp = ah ? strchr(ah, ' ') : NULL;
    if (s->o.metrics_public)
        return 1;
    if (s->o.metrics_token[0] && sp) {
        while (*sp == ' ')
            sp++;
        if (strlen(sp) == strlen(s->o.metrics_token) &&
            CRYPTO_memcmp(sp, s->o.metrics_token, strlen(sp)) == 0)
            return 1;
    }
    return s->multi ? r->user_admin && r->user[0] : r->token_auth;
}

int api_metrics(struct srv_req *r, struct srv_resp *resp)
{
    struct srv *s = r->srv;
    struct metrics *m = reg(s);
    static const char *const state_user[] = {"state", "user", NULL};

    if (!allowed(s, r)) {
        srv_error(resp, 403, "Forbidden: /metrics needs the metrics token or an admin", NULL);
        return 0;
    }
    if (!m) {
        srv_error(resp, 500, "out of memory", NULL);
        return 0;
    }
    metrics_gauge_reset(m, "cnote_kernels");
    json_t *all = kmgr_list(s->kmgr), *k;
    size_t i;
    metrics_gauge_set(m, "cnote_kernels", "Kernels by execution state and user", state_user,
                      (const char *const[]){"idle", "", NULL}, 0);
    metrics_gauge_reset(m, "cnote_kernels");
    json_array_foreach(all, i, k)
    {
        const char *id = json_string_value(json_object_get(k, "id"));
        const char *st = json_string_value(json_object_get(k, "execution_state"));
        const char *owner = id ? kmgr_owner(s->kmgr, id) : "";
        const char *values[] = {st ? st : "unknown", owner ? owner : "", NULL};
        metrics_gauge_add(m, "cnote_kernels", "Kernels by execution state and user", state_user,
                          values, 1);
    }
    json_decref(all);
    metrics_gauge_set(m, "cnote_websocket_clients", "Kernel WebSocket clients connected", NULL,
                      NULL, wsb_connections(s->wsb));
    struct wsb_counters c;
    wsb_get_counters(s->wsb, &c);
    counter_to(m, "cnote_messages_relayed_total", "Messages relayed, by origin", "from", "kernels",
               c.kernel_msgs, &seen.ws.kernel_msgs);
    counter_to(m, "cnote_messages_relayed_total", "Messages relayed, by origin", "from", "clients",
               c.client_msgs, &seen.ws.client_msgs);
    counter_to(m, "cnote_bytes_relayed_total", "Bytes relayed, by origin", "from", "kernels",
               c.kernel_bytes, &seen.ws.kernel_bytes);
    counter_to(m, "cnote_bytes_relayed_total", "Bytes relayed, by origin", "from", "clients",
               c.client_bytes, &seen.ws.client_bytes);
    counter_to(m, "cnote_iopub_holds_total",
               "Times a kernel's output was held back because all its clients were behind", NULL,
               NULL, c.iopub_holds, &seen.ws.iopub_holds);
    if (s->k8s) {
        struct k8s_prov_stats st;
        k8s_prov_stats(s->k8s, &st);
        counter_to(m, "cnote_k8s_api_requests_total", "Kubernetes API requests made", NULL, NULL,
                   st.http.requests, &seen.k8s_requests);
        counter_to(m, "cnote_k8s_api_failures_total",
                   "Kubernetes API requests that failed (no answer or 5xx)", NULL, NULL,
                   st.http.failures, &seen.k8s_failures);
        counter_to(m, "cnote_k8s_api_throttled_total",
                   "Kubernetes API answers 429/503 retried after Retry-After", NULL, NULL,
                   st.http.throttled, &seen.k8s_throttled);
        metrics_gauge_set(m, "cnote_k8s_pods_cached", "Kernel pods in the server's cache", NULL,
                          NULL, (double)st.pods_cached);
    }
    if (s->multi)
        metrics_gauge_set(m, "cnote_users", "User accounts", NULL, NULL, users_count(s->users));
    if (metrics_render(m, &resp->body) != 0) {
        srv_error(resp, 500, "out of memory", NULL);
        return 0;
    }
    resp->status = 200;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", METRICS_CONTENT_TYPE);
    return 0;
}
