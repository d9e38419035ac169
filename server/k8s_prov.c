/*
 * k8s_prov.c - kernels in Kubernetes pods (see k8s_prov.h).
 *
 * Everything runs on the loop thread: HTTP answers and watch chunks arrive as k8s_http
 * callbacks, stage timeouts are checked by one 1-second tick. A kernel's pod is identified by
 * name and uid; an object with the same name but another uid (a namesake) is ignored, and
 * every DELETE carries the uid as a precondition so a re-created namesake is never deleted.
 */
#include "k8s_prov.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jp_err.h"
#include "jp_log.h"
#include "jp_time.h"
#include "jp_uuid.h"
#include "k8s_names.h"
#include "k8s_state.h"
#include "k8s_watch.h"

#define TICK_MS 1000
#define MAX_PROGRESS 100
#define WATCH_IDLE_MS 90000
#define CREATE_RETRY_MS 30000

struct kpod {
    struct k8s_prov *p;
    struct kpod *next;
    char id[40];
    char kernel_name[128];
    char pod[160], secret[160];
    char profile[64];
    char message[1024]; /* the last progress message */
    struct k8s_sm sm;
    int adopting;            /* find the pod once the cache is synced */
    int exited;              /* reported exited */
    int creating;            /* 1: a create request is in flight; 2/3: pod/secret create to retry */
    int forgotten;           /* on the graveyard list, freed by its create callback */
    char pending_exit[1400]; /* ended: reported once the pod object is gone */
    int warm;                /* an unclaimed pod of a warm pool (id is "warm-..."); no kernel */
    int claimed;             /* a warm pod just claimed: report it up from the loop */
    char warm_key[65];       /* the key in a warm pod's connection */
    int64_t pending_ms;
    int64_t create_deadline_ms, launched_ms;
    struct k8s_timeouts to;
    json_t *pod_json;    /* the Pod to create (kept for retries) */
    json_t *secret_json; /* the Secret to create */
    json_t *progress;    /* array */
};

struct k8s_prov {
    uv_loop_t *loop;
    struct kmgr *kmgr;
    struct k8s_http *http;
    struct k8s_profiles *profiles;
    char ns[64], instance[64], user[256], user_slug[64], root[4096];
    char selector[512]; /* escaped labelSelector */
    int resync_s, watch_timeout_s;
    json_t *cache;    /* pod name -> Pod */
    json_t *list_acc; /* pages of a list in progress */
    struct k8s_req *list_req, *watch_req, *ev_req;
    struct k8s_watch_parser *wp, *ep;
    char rv[128];
    int synced, relist_due, backoff_ms;
    int64_t relist_at_ms, last_list_ms, ev_retry_at_ms, rewatch_at_ms;
    int ev_backoff_ms;
    uv_timer_t tick;
    struct kpod *head, *grave;
    struct k8s_prov_stats st;
    void (*on_launch)(void *ctx, double seconds);
    void *on_launch_ctx;
    uv_timer_t kick; /* reports claimed warm pods up from the loop */
    int64_t warm_retry_ms;
    int freeing, closing;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *path)
{
    /* "a.b.c" lookup of a string */
    char key[128];
    const json_t *cur = o;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p = dot ? dot + 1 : p + n;
    }
    return json_string_value(cur);
}

static struct kpod *kp_find(struct k8s_prov *p, const char *id)
{
    for (struct kpod *k = p->head; k; k = k->next)
        if (strcmp(k->id, id) == 0)
            return k;
    return NULL;
}

static struct kpod *kp_by_uid(struct k8s_prov *p, const char *uid)
{
    for (struct kpod *k = p->head; uid && k; k = k->next)
        if (k->sm.uid[0] && strcmp(k->sm.uid, uid) == 0)
            return k;
    return NULL;
}

static void progress_add(struct kpod *k, const char *type, const char *reason, const char *msg)
{
    char ts[JP_TIME_LEN];
    size_t n = json_array_size(k->progress);

    if (n) {
        json_t *last = json_array_get(k->progress, n - 1);
        if (strcmp(jstr(last, "message") ? jstr(last, "message") : "", msg ? msg : "") == 0 &&
            strcmp(jstr(last, "reason") ? jstr(last, "reason") : "", reason ? reason : "") == 0)
            return;
    }
    if (n >= MAX_PROGRESS)
        json_array_remove(k->progress, 1); /* keep the first entry */
    jp_time_format(jp_time_now_us(), ts, sizeof ts);
    json_array_append_new(k->progress,
                          json_pack("{s:s, s:s, s:s, s:s, s:s}", "time", ts, "stage",
                                    k8s_stage_name(k->sm.stage), "type", type ? type : "Normal",
                                    "reason", reason ? reason : "", "message", msg ? msg : ""));
    if (msg && *msg)
        snprintf(k->message, sizeof k->message, "%s", msg);
    jp_log(strcmp(type ? type : "", "Warning") == 0 ? JP_LOG_WARN : JP_LOG_INFO, "k8s",
           "kernel_id=%s pod=%s stage=%s reason=%s message=\"%s\"", k->id, k->pod,
           k8s_stage_name(k->sm.stage), reason ? reason : "", msg ? msg : "");
}

static void ignore_done(void *arg, long status, const char *body, size_t len)
{
    (void)arg;
    (void)body;
    (void)len;
    if (status == 0 || status >= 500)
        jp_log(JP_LOG_WARN, "k8s", "clean-up request failed status=%ld", status);
}

/* DELETE a pod, guarded by its uid when known; 404 and 409 (another uid) are fine. */
static void delete_pod(struct k8s_prov *p, const char *name, const char *uid, int grace)
{
    char path[512], body[256];
    if (!name || !*name)
        return;
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", p->ns, name);
    if (uid && *uid)
        snprintf(body, sizeof body,
                 "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":%d,"
                 "\"propagationPolicy\":\"Background\",\"preconditions\":{\"uid\":\"%s\"}}",
                 grace, uid);
    else
        snprintf(body, sizeof body,
                 "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":%d,"
                 "\"propagationPolicy\":\"Background\"}",
                 grace);
    k8s_http_request(p->http, "DELETE", path, body, NULL, 0, ignore_done, NULL);
}

static void delete_secret(struct k8s_prov *p, const char *name)
{
    char path[512];
    if (!name || !*name)
        return;
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets/%s", p->ns, name);
    k8s_http_request(p->http, "DELETE", path, NULL, NULL, 0, ignore_done, NULL);
}

/* The message of a Kubernetes Status answer, or the body's start. */
static void status_message(const char *body, size_t len, char *out, size_t outlen)
{
    json_t *st = json_loadb(body, len, 0, NULL);
    const char *m = jstr(st, "message");
    if (m)
        snprintf(out, outlen, "%s", m);
    else
        snprintf(out, outlen, "%.*s", (int)(len > 300 ? 300 : len), body);
    json_decref(st);
}

/* ---- carrying out the state machine's actions ----------------------------------------- */

static void kp_exit(struct kpod *k, const char *cause)
{
    if (k->exited)
        return;
    k->exited = 1;
    if (k->warm) {
        /* a warm pod that failed or went away: the pool makes another, a little later */
        jp_log(JP_LOG_WARN, "k8s", "warm pod lost pod=%s reason=\"%s\"", k->pod, cause);
        k->p->warm_retry_ms = jp_time_mono_ms() + 10000;
        return;
    }
    kmgr_prov_exited(k->p->kmgr, k->id, cause);
}

static void kp_act(struct kpod *k, enum k8s_action a)
{
    switch (a) {
    case K8S_ACT_NONE:
        return;
    case K8S_ACT_STAGE:
        progress_add(k, "Normal", k8s_stage_name(k->sm.stage), k->sm.note);
        return;
    case K8S_ACT_UP:
        progress_add(k, "Normal", "Ready", k->sm.note);
        if (k->warm)
            return; /* waits in the pool for a kernel to claim it */
        if (k->p->on_launch && k->launched_ms && !k->adopting)
            k->p->on_launch(k->p->on_launch_ctx,
                            (double)(jp_time_mono_ms() - k->launched_ms) / 1000.0);
        k->adopting = 0;
        kmgr_prov_up(k->p->kmgr, k->id, k->sm.ip);
        return;
    case K8S_ACT_FAIL:
        progress_add(k, "Warning", "LaunchFailed", k->sm.why);
        if (k->sm.uid[0])
            delete_pod(k->p, k->pod, k->sm.uid, 0);
        kp_exit(k, k->sm.why);
        return;
    case K8S_ACT_EXIT:
        progress_add(k, "Normal", "Gone", k->sm.why);
        if (k->sm.uid[0] && json_object_get(k->p->cache, k->pod))
            delete_pod(k->p, k->pod, k->sm.uid, 0); /* an ended pod stays until deleted */
        if (k->sm.uid[0] && json_object_get(k->p->cache, k->pod) &&
            kmgr_stopping(k->p->kmgr, k->id)) {
            /* a shutdown or restart: done when the pod is gone, not before */
            snprintf(k->pending_exit, sizeof k->pending_exit, "%s", k->sm.why);
            k->pending_ms = jp_time_mono_ms();
            return;
        }
        kp_exit(k, k->sm.why);
        return;
    }
}

static void kp_on_pod(struct kpod *k, const json_t *pod)
{
    if (k->exited)
        return;
    if (k->pending_exit[0]) {
        if (!pod)
            kp_exit(k, k->pending_exit);
        return;
    }
    kp_act(k, k8s_sm_pod(&k->sm, pod, jp_time_mono_ms()));
}

/* ---- creating -------------------------------------------------------------------------- */

static void kp_free(struct kpod *k);

/* A forgotten kernel's create answer: free it (deleting what the answer created). */
static int buried(struct kpod *k, long status, const char *body, size_t len, int is_pod)
{
    struct k8s_prov *p = k->p;
    if (!k->forgotten)
        return 0;
    if (is_pod && (status == 201 || status == 200)) {
        json_t *o = json_loadb(body, len, 0, NULL);
        delete_pod(p, k->pod, jstr(o, "metadata.uid"), 0);
        json_decref(o);
    }
    if (!is_pod && (status == 201 || status == 200))
        delete_secret(p, k->secret);
    for (struct kpod **pp = &p->grave; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    kp_free(k);
    return 1;
}

static void create_pod(struct kpod *k);

static int retryable(long status)
{
    return status == 0 || status == 429 || status >= 500;
}

static void pod_created(void *arg, long status, const char *body, size_t len)
{
    struct kpod *k = arg;
    char msg[1024], why[1200];

    if (buried(k, status, body, len, 1))
        return;
    k->creating = 0;
    if (k->exited || k8s_sm_done(&k->sm)) {
        if (status == 201) {
            json_t *o = json_loadb(body, len, 0, NULL);
            delete_pod(k->p, k->pod, jstr(o, "metadata.uid"), 0);
            json_decref(o);
        }
        return;
    }
    if (status == 201 || status == 200) {
        json_t *o = json_loadb(body, len, 0, NULL);
        const char *uid = jstr(o, "metadata.uid");
        snprintf(k->sm.uid, sizeof k->sm.uid, "%s", uid ? uid : "");
        json_decref(o);
        progress_add(k, "Normal", "Created", "pod created, waiting for a node");
        const json_t *cached = json_object_get(k->p->cache, k->pod);
        kp_on_pod(k, cached ? cached : NULL);
        return;
    }
    status_message(body, len, msg, sizeof msg);
    if (retryable(status) && jp_time_mono_ms() < k->create_deadline_ms) {
        progress_add(k, "Warning", "APIUnavailable", msg);
        k->creating = 2; /* retried by the tick */
        return;
    }
    if (status == 403)
        snprintf(why, sizeof why, "the cluster refused the kernel pod (403): %s", msg);
    else if (status == 409)
        snprintf(why, sizeof why, "a pod named %s already exists: %s", k->pod, msg);
    else if (status == 422)
        snprintf(why, sizeof why, "the kernel pod is invalid (422): %s", msg);
    else if (status == 0)
        snprintf(why, sizeof why, "the Kubernetes API is unreachable: %s", msg);
    else
        snprintf(why, sizeof why, "creating the kernel pod failed (%ld): %s", status, msg);
    snprintf(k->sm.why, sizeof k->sm.why, "%s", why);
    k->sm.stage = K8S_FAILED;
    kp_act(k, K8S_ACT_FAIL);
}

static void secret_created(void *arg, long status, const char *body, size_t len)
{
    struct kpod *k = arg;
    char msg[1024];

    if (buried(k, status, body, len, 0))
        return;
    k->creating = 0;
    if (k->exited || k8s_sm_done(&k->sm))
        return;
    if (status == 201 || status == 200 || status == 409) {
        create_pod(k);
        return;
    }
    status_message(body, len, msg, sizeof msg);
    if (retryable(status) && jp_time_mono_ms() < k->create_deadline_ms) {
        progress_add(k, "Warning", "APIUnavailable", msg);
        k->creating = 3;
        return;
    }
    snprintf(k->sm.why, sizeof k->sm.why, "creating the kernel's secret failed (%ld): %s", status,
             msg);
    k->sm.stage = K8S_FAILED;
    kp_act(k, K8S_ACT_FAIL);
}

static void create_secret(struct kpod *k)
{
    char path[256];
    char *body = json_dumps(k->secret_json, JSON_COMPACT);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", k->p->ns);
    k->creating = 1;
    if (!body || !k8s_http_request(k->p->http, "POST", path, body, NULL, 0, secret_created, k))
        k->creating = 3;
    free(body);
}

static void create_pod(struct kpod *k)
{
    char path[256];
    char *body = json_dumps(k->pod_json, JSON_COMPACT);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", k->p->ns);
    k->creating = 1;
    if (!body || !k8s_http_request(k->p->http, "POST", path, body, NULL, 0, pod_created, k))
        k->creating = 2;
    free(body);
}

/* ---- kmgr provisioner ops ----------------------------------------------------------------- */

static void kp_free(struct kpod *k)
{
    if (!k)
        return;
    json_decref(k->pod_json);
    json_decref(k->secret_json);
    json_decref(k->progress);
    free(k);
}

static struct kpod *kp_new(struct k8s_prov *p, const char *id)
{
    struct kpod *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->p = p;
    snprintf(k->id, sizeof k->id, "%s", id);
    snprintf(k->secret, sizeof k->secret, "cnote-kernel-%s", id);
    k->progress = json_array();
    k->next = p->head;
    p->head = k;
    p->st.kernels++;
    return k;
}

static void kp_unlink(struct kpod *k)
{
    struct k8s_prov *p = k->p;
    for (struct kpod **pp = &p->head; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    if (p->st.kernels)
        p->st.kernels--;
}

/* The profile a launch asks for: the client's KERNEL_PROFILE, else the kernelspec's
 * provisioner config, else the default. */
static const char *wanted_profile(const struct kmgr_launch *l)
{
    const char *v = json_string_value(json_object_get(l->env, "KERNEL_PROFILE"));
    if (v && *v)
        return v;
    return jstr(l->spec, "metadata.kernel_provisioner.config.profile");
}

/* ---- warm pools ---------------------------------------------------------------------------
 * Per profile, `warm_pool` pods run ahead of demand without per-user storage, each with a
 * connection (and key) of its own in its Secret. A launch of that profile claims a running one:
 * the pod is relabelled for the kernel and user, kmgr takes over its key and connects at once;
 * the pool makes a new pod. Warm pods hold GPUs too: all of them together at most
 * warm_pool_max_gpus. Unclaimed warm pods are not kernels: a new server deletes them (orphans)
 * and makes its own. */

static void ignore_done(void *arg, long status, const char *body, size_t len);
static void create_secret(struct kpod *k);
static struct kpod *kp_new(struct k8s_prov *p, const char *id);
static void kick_cb(uv_timer_t *t);

static int claim_warm(struct k8s_prov *p, struct kmgr_launch *l, const char *slug)
{
    struct kpod *w = NULL;
    char path[512], user[64];
    for (struct kpod *k = p->head; k && !w; k = k->next)
        if (k->warm && !k->exited && k->sm.up && strcmp(k->profile, slug) == 0 &&
            !k->pending_exit[0])
            w = k;
    if (!w)
        return 0;
    /* the warm pod becomes the kernel's */
    snprintf(w->id, sizeof w->id, "%s", l->kernel_id);
    snprintf(w->kernel_name, sizeof w->kernel_name, "%s", l->kernel_name ? l->kernel_name : "");
    w->warm = 0;
    w->claimed = 1;
    w->launched_ms = jp_time_mono_ms();
    struct k8s_ports ports = k8s_profiles_ports(p->profiles, slug);
    l->ports[0] = ports.shell;
    l->ports[1] = ports.iopub;
    l->ports[2] = ports.stdin_port;
    l->ports[3] = ports.control;
    l->ports[4] = ports.hb;
    snprintf(l->key_out, sizeof l->key_out, "%s", w->warm_key);
    memset(w->warm_key, 0, sizeof w->warm_key);
    k8s_slug(l->owner && *l->owner ? l->owner : p->user, user, sizeof user);
    json_t *patch =
        json_pack("{s:{s:{s:s, s:s, s:n}, s:{s:s, s:s}}}", "metadata", "labels",
                  "cnote.io/kernel-id", l->kernel_id, "cnote.io/user", user, "cnote.io/warm",
                  "annotations", "cnote.io/user", l->owner && *l->owner ? l->owner : p->user,
                  "cnote.io/kernel-name", l->kernel_name ? l->kernel_name : "");
    char *body = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
    json_decref(patch);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", p->ns, w->pod);
    if (body)
        k8s_http_request(p->http, "PATCH", path, body, "application/merge-patch+json", 0,
                         ignore_done, NULL);
    free(body);
    progress_add(w, "Normal", "Claimed", "a warm pod from the pool: starting at once");
    p->st.warm_claimed++;
    uv_timer_start(&p->kick, kick_cb, 0, 0); /* kmgr hears of it from the loop, not from here */
    return 1;
}

static void warm_new(struct k8s_prov *p, const char *slug)
{
    char id[40], hex[9], podname[160], why[300];
    struct k8s_pod_params pp;
    json_t *pod = NULL;
    struct kpod *k;
    char *conn;

    if (jp_random_hex(hex, 4) != 0)
        return;
    snprintf(id, sizeof id, "warm-%s", hex);
    snprintf(podname, sizeof podname, "cnote-warm-%s-%s", slug, hex);
    if (!(k = kp_new(p, id)))
        return;
    snprintf(k->secret, sizeof k->secret, "cnote-warm-%s", hex);
    struct k8s_ports ports = k8s_profiles_ports(p->profiles, slug);
    memset(&pp, 0, sizeof pp);
    pp.kernel_id = id;
    pp.pod_name = podname;
    pp.secret_name = k->secret;
    pp.namespace = p->ns;
    pp.instance = p->instance;
    pp.user = "warm-pool";
    pp.kernel_name = "";
    pp.profile = slug;
    pp.workdir_rel = "";
    pp.shell_port = ports.shell;
    pp.iopub_port = ports.iopub;
    pp.stdin_port = ports.stdin_port;
    pp.control_port = ports.control;
    pp.hb_port = ports.hb;
    if (jp_random_hex(k->warm_key, 32) != 0 ||
        k8s_pod_make(p->profiles, &pp, &pod, why, sizeof why) != 0) {
        jp_log(JP_LOG_WARN, "k8s", "cannot make a warm pod profile=%s reason=\"%s\"", slug, why);
        kp_unlink(k);
        kp_free(k);
        p->warm_retry_ms = jp_time_mono_ms() + 30000;
        return;
    }
    /* no per-user storage in a pool pod; marked as warm */
    json_t *spec = json_object_get(pod, "spec");
    json_t *c0 = json_array_get(json_object_get(spec, "containers"), 0);
    json_object_del(spec, "volumes");
    json_object_del(c0, "volumeMounts");
    json_object_del(c0, "workingDir");
    json_object_set_new(json_object_get(json_object_get(pod, "metadata"), "labels"),
                        "cnote.io/warm", json_string("true"));
    conn = k8s_conn_json(p->profiles, &pp, k->warm_key);
    k->secret_json = conn ? k8s_secret_build(&pp, p->ns, conn) : NULL;
    if (conn) {
        memset(conn, 0, strlen(conn));
        free(conn);
    }
    k->pod_json = pod;
    k->warm = 1;
    snprintf(k->pod, sizeof k->pod, "%s", podname);
    snprintf(k->profile, sizeof k->profile, "%s", slug);
    k->to = k8s_profiles_timeouts(p->profiles, slug);
    k8s_sm_init(&k->sm, jp_time_mono_ms());
    k->create_deadline_ms = jp_time_mono_ms() + CREATE_RETRY_MS;
    k->launched_ms = jp_time_mono_ms();
    if (!k->secret_json) {
        kp_unlink(k);
        kp_free(k);
        return;
    }
    jp_log(JP_LOG_INFO, "k8s", "warm pod for the pool pod=%s profile=%s", podname, slug);
    create_secret(k);
}

/* Keep every pool full (within the pools' GPU limit); drop warm pods that ended. */
static void warm_tick(struct k8s_prov *p, int64_t now)
{
    int max_gpus = k8s_profiles_warm_max_gpus(p->profiles), held = 0;
    struct kpod *k, *next;

    for (k = p->head; k; k = next) {
        next = k->next;
        if (k->warm && k->exited) {
            delete_secret(p, k->secret);
            kp_unlink(k);
            if (k->creating == 1) {
                k->forgotten = 1;
                k->next = p->grave;
                p->grave = k;
            } else {
                kp_free(k);
            }
        } else if (k->warm) {
            held += k8s_profiles_gpus(p->profiles, k->profile);
        }
    }
    if (!p->synced || now < p->warm_retry_ms)
        return;
    for (size_t i = 0; k8s_profiles_slug_at(p->profiles, i); i++) {
        const char *slug = k8s_profiles_slug_at(p->profiles, i);
        int want = k8s_profiles_warm(p->profiles, slug), have = 0;
        int gpus = k8s_profiles_gpus(p->profiles, slug);
        for (k = p->head; k; k = k->next)
            if (k->warm && !k->exited && strcmp(k->profile, slug) == 0)
                have++;
        while (have < want && (max_gpus < 0 || held + gpus <= max_gpus)) {
            warm_new(p, slug);
            have++;
            held += gpus;
        }
    }
}

static void kick_cb(uv_timer_t *t)
{
    struct k8s_prov *p = t->data;
    struct kpod *next;
    for (struct kpod *k = p->head; k; k = next) {
        next = k->next; /* kmgr_prov_up may end in op_forget, which frees k */
        if (k->claimed) {
            k->claimed = 0;
            if (p->on_launch)
                p->on_launch(p->on_launch_ctx, 0);
            kmgr_prov_up(p->kmgr, k->id, k->sm.ip);
        }
    }
}

static int op_launch(void *ctx, struct kmgr_launch *l, char *why, size_t whylen)
{
    struct k8s_prov *p = ctx;
    struct kpod *k = kp_find(p, l->kernel_id);
    struct k8s_pod_params pp;
    const char *slug, *rel = "";
    char uroot[4400];
    size_t rl;
    char podname[160];
    char *conn;
    int rc;

    slug = k8s_profiles_resolve(p->profiles, wanted_profile(l), why, whylen);
    if (!slug)
        return JP_ENOENT;
    if (!k && claim_warm(p, l, slug))
        return 0;
    /* the notebook's directory relative to the user's root (<root>/<user> in multi-user mode),
     * which is what the pod mounts */
    if (l->owner && *l->owner) {
        char us[K8S_SLUG_MAX + 1];
        k8s_slug(l->owner, us, sizeof us); /* the user's directory, and their pods' subPath */
        snprintf(uroot, sizeof uroot, "%s/%s", p->root, us);
    } else
        snprintf(uroot, sizeof uroot, "%s", p->root);
    rl = strlen(uroot);
    if (l->cwd && strncmp(l->cwd, uroot, rl) == 0 && (l->cwd[rl] == '/' || !l->cwd[rl]))
        rel = l->cwd[rl] == '/' ? l->cwd + rl + 1 : "";
    if (k && k->creating == 1) {
        snprintf(why, whylen, "the kernel's pod is still being created");
        return JP_EIO;
    }
    /* -r<N> for restarts; a name still taken (an adopted pod's) moves on to the next N */
    for (int n = l->n;; n++) {
        if (n == 0)
            snprintf(podname, sizeof podname, "cnote-kernel-%s", l->kernel_id);
        else
            snprintf(podname, sizeof podname, "cnote-kernel-%s-r%d", l->kernel_id, n);
        if (!json_object_get(p->cache, podname) || n > l->n + 100)
            break;
    }
    struct k8s_ports ports = k8s_profiles_ports(p->profiles, slug);
    memset(&pp, 0, sizeof pp);
    pp.kernel_id = l->kernel_id;
    pp.pod_name = podname;
    pp.secret_name = NULL;
    pp.namespace = p->ns;
    pp.instance = p->instance;
    pp.user = l->owner && *l->owner ? l->owner : p->user;
    pp.kernel_name = l->kernel_name;
    pp.profile = slug;
    pp.workdir_rel = rel;
    pp.shell_port = ports.shell;
    pp.iopub_port = ports.iopub;
    pp.stdin_port = ports.stdin_port;
    pp.control_port = ports.control;
    pp.hb_port = ports.hb;
    if (!k && !(k = kp_new(p, l->kernel_id))) {
        snprintf(why, whylen, "out of memory");
        return JP_ENOMEM;
    }
    pp.secret_name = k->secret;
    if (k->sm.uid[0] && !k8s_sm_done(&k->sm)) /* a restart while the old pod is there */
        delete_pod(p, k->pod, k->sm.uid, 0);
    json_decref(k->pod_json);
    json_decref(k->secret_json);
    k->pod_json = k->secret_json = NULL;
    rc = k8s_pod_make(p->profiles, &pp, &k->pod_json, why, whylen);
    conn = rc == 0 ? k8s_conn_json(p->profiles, &pp, l->key) : NULL;
    if (rc == 0 && conn)
        k->secret_json = k8s_secret_build(&pp, p->ns, conn);
    if (conn) {
        memset(conn, 0, strlen(conn));
        free(conn);
    }
    if (rc != 0 || !k->secret_json) {
        if (rc == 0)
            snprintf(why, whylen, "out of memory");
        kp_unlink(k);
        kp_free(k);
        return rc ? rc : JP_ENOMEM;
    }
    snprintf(k->pod, sizeof k->pod, "%s", podname);
    snprintf(k->profile, sizeof k->profile, "%s", slug);
    snprintf(k->kernel_name, sizeof k->kernel_name, "%s", l->kernel_name ? l->kernel_name : "");
    k->exited = k->adopting = 0;
    k->pending_exit[0] = '\0';
    k8s_sm_init(&k->sm, jp_time_mono_ms());
    k->to = k8s_profiles_timeouts(p->profiles, slug);
    progress_add(k, "Normal", "Creating",
                 l->n ? "restarting: creating a new kernel pod" : "creating the kernel pod");
    l->ports[0] = ports.shell;
    l->ports[1] = ports.iopub;
    l->ports[2] = ports.stdin_port;
    l->ports[3] = ports.control;
    l->ports[4] = ports.hb;
    k->create_deadline_ms = jp_time_mono_ms() + CREATE_RETRY_MS;
    k->launched_ms = jp_time_mono_ms();
    if (l->n == 0)
        create_secret(k);
    else
        create_pod(k);
    return 0;
}

static void op_stop(void *ctx, const char *id)
{
    struct k8s_prov *p = ctx;
    struct kpod *k = kp_find(p, id);

    if (!k)
        return;
    if (k->exited || k8s_sm_done(&k->sm)) {
        kp_exit(k, "kernel pod stopped");
        return;
    }
    k8s_sm_stopping(&k->sm, jp_time_mono_ms());
    progress_add(k, "Normal", "Stopping", "deleting the kernel pod");
    if (k->sm.uid[0])
        delete_pod(p, k->pod, k->sm.uid, k->to.delete_s > 5 ? 5 : k->to.delete_s);
    else
        kp_exit(k, "kernel pod stopped before it was created");
}

static void op_adopt(void *ctx, const char *id)
{
    struct k8s_prov *p = ctx;
    struct kpod *k = kp_find(p, id);

    if (!k && !(k = kp_new(p, id)))
        return;
    k->adopting = 1;
    k->to = k8s_profiles_timeouts(p->profiles, NULL);
    k8s_sm_init(&k->sm, jp_time_mono_ms());
    progress_add(k, "Normal", "Adopting", "looking for the kernel pod after a server restart");
}

static void op_forget(void *ctx, const char *id)
{
    struct k8s_prov *p = ctx;
    struct kpod *k = kp_find(p, id);

    if (!k)
        return;
    if (k->pod[0] && (k->sm.uid[0] || k->creating))
        delete_pod(p, k->pod, k->sm.uid, 0);
    delete_secret(p, k->secret);
    kp_unlink(k);
    if (k->creating == 1) {
        /* a create request still points at it: its callback frees it */
        k->forgotten = 1;
        k->exited = 1;
        k->sm.stage = K8S_FAILED;
        k->next = p->grave;
        p->grave = k;
        return;
    }
    kp_free(k);
}

static json_t *op_describe(void *ctx, const char *id)
{
    struct k8s_prov *p = ctx;
    struct kpod *k = kp_find(p, id);
    if (!k)
        return NULL;
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s?, s:s?}", "provisioner", "kubernetes", "stage",
        k->sm.up && !k->exited && kmgr_ready(p->kmgr, id) ? "ready" : k8s_stage_name(k->sm.stage),
        "message", k->message, "pod", k->pod, "profile", k->profile[0] ? k->profile : NULL, "node",
        k->sm.node[0] ? k->sm.node : NULL);
}

/* ---- the pod cache: list, then watch ------------------------------------------------------ */

static void start_list(struct k8s_prov *p, const char *cont);
static void start_watch(struct k8s_prov *p);

static void schedule_relist(struct k8s_prov *p, int delay_ms)
{
    if (p->freeing)
        return;
    p->relist_due = 1;
    p->relist_at_ms = jp_time_mono_ms() + delay_ms;
}

static void backoff_relist(struct k8s_prov *p)
{
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : 500;
    if (p->backoff_ms > 10000)
        p->backoff_ms = 10000;
    schedule_relist(p, p->backoff_ms);
}

/* Pods labelled as ours that no kernel claims: left by a server that is gone. */
static void sweep_orphans(struct k8s_prov *p)
{
    const char *name;
    json_t *pod;

    json_object_foreach(p->cache, name, pod)
    {
        const char *id = jstr(json_object_get(pod, "metadata"), "labels.cnote.io/kernel-id");
        json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
        id = json_string_value(json_object_get(labels, "cnote.io/kernel-id"));
        if (!id || kmgr_exists(p->kmgr, id) ||
            json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
            continue;
        int tracked = 0; /* a warm pod, or one claimed whose relabelling has not landed */
        for (struct kpod *k = p->head; k && !tracked; k = k->next)
            tracked = strcmp(k->pod, name) == 0;
        if (tracked)
            continue;
        jp_log(JP_LOG_INFO, "k8s", "deleting an orphaned kernel pod pod=%s kernel_id=%s", name, id);
        char secret[160];
        if (strncmp(id, "warm-", 5) == 0)
            snprintf(secret, sizeof secret, "cnote-warm-%s", id + 5);
        else
            snprintf(secret, sizeof secret, "cnote-kernel-%s", id);
        delete_pod(p, name, jstr(pod, "metadata.uid"), 0);
        delete_secret(p, secret);
    }
}

/* After a full list: every kernel compares with the new cache. */
static void cache_replaced(struct k8s_prov *p)
{
    struct kpod *k, *next;

    p->synced = 1;
    for (k = p->head; k; k = next) {
        next = k->next;
        if (k->adopting)
            continue; /* the tick handles adoption */
        const json_t *pod = k->pod[0] ? json_object_get(p->cache, k->pod) : NULL;
        if (pod || k->sm.seen)
            kp_on_pod(k, pod);
    }
    sweep_orphans(p);
}

static void list_done(void *arg, long status, const char *body, size_t len)
{
    struct k8s_prov *p = arg;
    json_t *o, *it;
    size_t i;
    const char *cont;

    p->list_req = NULL;
    if (status != 200) {
        char msg[400];
        status_message(body, len, msg, sizeof msg);
        jp_log(JP_LOG_WARN, "k8s", "listing kernel pods failed status=%ld message=\"%s\"", status,
               msg);
        json_decref(p->list_acc);
        p->list_acc = NULL;
        backoff_relist(p);
        return;
    }
    if (!(o = json_loadb(body, len, 0, NULL))) {
        backoff_relist(p);
        return;
    }
    if (!p->list_acc)
        p->list_acc = json_object();
    json_array_foreach(json_object_get(o, "items"), i, it)
    {
        const char *name = jstr(it, "metadata.name");
        if (name)
            json_object_set(p->list_acc, name, it);
    }
    cont = jstr(o, "metadata.continue");
    if (cont && *cont) {
        start_list(p, cont);
        json_decref(o);
        return;
    }
    snprintf(p->rv, sizeof p->rv, "%s",
             jstr(o, "metadata.resourceVersion") ? jstr(o, "metadata.resourceVersion") : "");
    json_decref(o);
    json_decref(p->cache);
    p->cache = p->list_acc;
    p->list_acc = NULL;
    p->st.lists++;
    p->st.pods_cached = json_object_size(p->cache);
    p->backoff_ms = 0;
    p->last_list_ms = jp_time_mono_ms();
    cache_replaced(p);
    start_watch(p);
}

/* Percent-escape a query value (RFC 3986 unreserved characters pass). */
static void qescape(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)in; *c && o + 4 < outlen; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            out[o++] = (char)*c;
        } else {
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        }
    }
    out[o] = '\0';
}

static void start_list(struct k8s_prov *p, const char *cont)
{
    char path[4096], esc[2048] = "";

    if (cont)
        qescape(cont, esc, sizeof esc);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods?labelSelector=%s&limit=500%s%s", p->ns,
             p->selector, cont ? "&continue=" : "", esc);
    p->relist_due = 0;
    p->rewatch_at_ms = 0;
    if (p->watch_req) {
        k8s_http_cancel(p->watch_req);
        p->watch_req = NULL;
    }
    if (!cont) {
        json_decref(p->list_acc);
        p->list_acc = NULL;
    }
    p->list_req = k8s_http_request(p->http, "GET", path, NULL, NULL, 30000, list_done, p);
    if (!p->list_req)
        backoff_relist(p);
}

static void on_pod_event(void *ctx, const char *type, json_t *obj)
{
    struct k8s_prov *p = ctx;
    const char *name = jstr(obj, "metadata.name");
    struct kpod *k;

    p->st.watch_events++;
    if (strcmp(type, "ERROR") == 0) {
        jp_log(JP_LOG_INFO, "k8s", "pod watch error code=%lld message=\"%s\"",
               (long long)json_integer_value(json_object_get(obj, "code")),
               jstr(obj, "message") ? jstr(obj, "message") : "");
        return;
    }
    if (strcmp(type, "BOOKMARK") == 0 || !name)
        return;
    if (strcmp(type, "DELETED") == 0)
        json_object_del(p->cache, name);
    else
        json_object_set(p->cache, name, obj);
    p->st.pods_cached = json_object_size(p->cache);
    for (k = p->head; k; k = k->next)
        if (!k->adopting && strcmp(k->pod, name) == 0) {
            kp_on_pod(k, strcmp(type, "DELETED") == 0 ? NULL : obj);
            break;
        }
}

static int watch_data(void *arg, const char *data, size_t len)
{
    struct k8s_prov *p = arg;
    k8s_watch_feed(p->wp, data, len);
    return 0;
}

static void watch_done(void *arg, long status, const char *body, size_t len)
{
    struct k8s_prov *p = arg;
    const char *rv = k8s_watch_last_rv(p->wp);

    (void)body;
    (void)len;
    p->watch_req = NULL;
    k8s_watch_end(p->wp);
    if (k8s_watch_gone(p->wp) || status == 410) {
        p->st.relists_gone++;
        jp_log(JP_LOG_INFO, "k8s", "pod watch expired (410 Gone): listing again");
        schedule_relist(p, 0);
        return;
    }
    if (status == 200) {
        if (rv && *rv)
            snprintf(p->rv, sizeof p->rv, "%s", rv);
        start_watch(p);
        return;
    }
    if (status == 429) {
        /* throttled: the cache is right up to the last event; resume from there, later */
        if (rv && *rv)
            snprintf(p->rv, sizeof p->rv, "%s", rv);
        p->st.watches_throttled++;
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : 1000;
        if (p->backoff_ms > 10000)
            p->backoff_ms = 10000;
        p->rewatch_at_ms = jp_time_mono_ms() + p->backoff_ms;
        return;
    }
    jp_log(JP_LOG_WARN, "k8s", "pod watch ended status=%ld: listing again", status);
    backoff_relist(p);
}

static void start_watch(struct k8s_prov *p)
{
    char path[2048];
    int t = p->watch_timeout_s + (int)(jp_time_mono_ms() % 30);

    k8s_watch_reset(p->wp);
    k8s_watch_set_rv(p->wp, p->rv);
    snprintf(path, sizeof path,
             "/api/v1/namespaces/%s/pods?labelSelector=%s&watch=1&allowWatchBookmarks=true&"
             "resourceVersion=%s&timeoutSeconds=%d",
             p->ns, p->selector, p->rv, t);
    p->st.watches++;
    p->watch_req = k8s_http_stream(p->http, path, WATCH_IDLE_MS, watch_data, watch_done, p);
    if (!p->watch_req)
        backoff_relist(p);
}

/* ---- Pod events: launch progress ---------------------------------------------------------- */

static void start_events(struct k8s_prov *p);

static void on_k8s_event(void *ctx, const char *type, json_t *ev)
{
    struct k8s_prov *p = ctx;
    struct kpod *k;

    if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0)
        return;
    if (!(k = kp_by_uid(p, jstr(ev, "involvedObject.uid"))) || k->exited)
        return;
    progress_add(k, jstr(ev, "type"), jstr(ev, "reason"), jstr(ev, "message"));
    kp_act(k, k8s_sm_event(&k->sm, ev, jp_time_mono_ms()));
}

static int events_data(void *arg, const char *data, size_t len)
{
    struct k8s_prov *p = arg;
    k8s_watch_feed(p->ep, data, len);
    return 0;
}

static void events_done(void *arg, long status, const char *body, size_t len)
{
    struct k8s_prov *p = arg;
    (void)body;
    (void)len;
    p->ev_req = NULL;
    k8s_watch_end(p->ep);
    if (status == 200 && !k8s_watch_gone(p->ep)) {
        p->ev_backoff_ms = 0;
        start_events(p);
        return;
    }
    k8s_watch_set_rv(p->ep, "");
    p->ev_backoff_ms = p->ev_backoff_ms ? p->ev_backoff_ms * 2 : 500;
    if (p->ev_backoff_ms > 10000)
        p->ev_backoff_ms = 10000;
    p->ev_retry_at_ms = jp_time_mono_ms() + p->ev_backoff_ms;
}

static void start_events(struct k8s_prov *p)
{
    char path[1024], rv[160];
    const char *last = k8s_watch_last_rv(p->ep);

    snprintf(rv, sizeof rv, "%s", last ? last : "");
    k8s_watch_reset(p->ep);
    k8s_watch_set_rv(p->ep, rv);
    snprintf(path, sizeof path,
             "/api/v1/namespaces/%s/events?fieldSelector=involvedObject.kind%%3DPod&watch=1&"
             "allowWatchBookmarks=true&timeoutSeconds=%d%s%s",
             p->ns, p->watch_timeout_s, rv[0] ? "&resourceVersion=" : "", rv);
    p->ev_retry_at_ms = 0;
    p->ev_req = k8s_http_stream(p->http, path, WATCH_IDLE_MS, events_data, events_done, p);
    if (!p->ev_req)
        p->ev_retry_at_ms = jp_time_mono_ms() + 5000;
}

/* ---- the tick: timeouts, retries, adoption, re-lists ------------------------------------ */

static void adopt_check(struct kpod *k)
{
    struct k8s_prov *p = k->p;
    const char *name;
    json_t *pod, *found = NULL;

    json_object_foreach(p->cache, name, pod)
    {
        json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
        const char *id = json_string_value(json_object_get(labels, "cnote.io/kernel-id"));
        if (id && strcmp(id, k->id) == 0 &&
            !json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
            found = pod;
    }
    k->adopting = 0;
    if (!found) {
        k->sm.stage = K8S_GONE;
        kp_exit(k, "its kernel pod is gone");
        return;
    }
    snprintf(k->pod, sizeof k->pod, "%s", jstr(found, "metadata.name"));
    snprintf(k->sm.uid, sizeof k->sm.uid, "%s",
             jstr(found, "metadata.uid") ? jstr(found, "metadata.uid") : "");
    json_t *labels = json_object_get(json_object_get(found, "metadata"), "labels");
    const char *prof = json_string_value(json_object_get(labels, "cnote.io/profile"));
    snprintf(k->profile, sizeof k->profile, "%s", prof ? prof : "");
    k->to = k8s_profiles_timeouts(p->profiles, prof);
    progress_add(k, "Normal", "Adopted", "found the kernel pod after a server restart");
    kp_on_pod(k, found);
}

static void tick_cb(uv_timer_t *t)
{
    struct k8s_prov *p = t->data;
    int64_t now = jp_time_mono_ms();
    struct kpod *k, *next;

    if (p->rewatch_at_ms && now >= p->rewatch_at_ms && !p->watch_req && !p->list_req) {
        p->rewatch_at_ms = 0;
        start_watch(p);
    }
    if (p->relist_due && now >= p->relist_at_ms && !p->list_req)
        start_list(p, NULL);
    else if (!p->list_req && !p->relist_due && p->last_list_ms &&
             now - p->last_list_ms > (int64_t)p->resync_s * 1000)
        start_list(p, NULL); /* safety net: do not trust a watch forever */
    if (!p->ev_req && p->ev_retry_at_ms && now >= p->ev_retry_at_ms)
        start_events(p);
    warm_tick(p, now);
    for (k = p->head; k; k = next) {
        next = k->next;
        if (k->creating == 2)
            create_pod(k);
        else if (k->creating == 3)
            create_secret(k);
        if (k->adopting && p->synced)
            adopt_check(k);
        else if (!k->exited && k->pending_exit[0]) {
            if (now - k->pending_ms > (int64_t)k->to.delete_s * 1000)
                kp_exit(k, k->pending_exit); /* deleted, not yet seen gone: enough waiting */
        } else if (!k->exited) {
            if (k->sm.up && !k->sm.answered && kmgr_ready(p->kmgr, k->id))
                k->sm.answered = 1;
            kp_act(k, k8s_sm_tick(&k->sm, &k->to, now));
        }
    }
}

/* ---- life ------------------------------------------------------------------------------ */

struct k8s_prov *k8s_prov_new(uv_loop_t *loop, struct kmgr *kmgr, struct k8s_http *http,
                              struct k8s_profiles *profiles, const struct k8s_prov_opts *o, int all,
                              char *why, size_t whylen)
{
    struct k8s_prov *p;
    char sel[512];
    struct kmgr_prov ops = {NULL, op_launch, op_stop, op_adopt, op_forget, op_describe};

    if (!loop || !kmgr || !http || !profiles || !o || !o->namespace || !o->instance) {
        snprintf(why, whylen, "the Kubernetes provisioner needs a namespace and an instance id");
        return NULL;
    }
    if (!k8s_dns1123_label_ok(o->namespace) || !k8s_label_value_ok(o->instance) || !*o->instance) {
        snprintf(why, whylen, "invalid namespace '%s' or instance id '%s'", o->namespace,
                 o->instance);
        return NULL;
    }
    if (!(p = calloc(1, sizeof *p))) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->kmgr = kmgr;
    p->http = http;
    p->profiles = profiles;
    snprintf(p->ns, sizeof p->ns, "%s", o->namespace);
    snprintf(p->instance, sizeof p->instance, "%s", o->instance);
    snprintf(p->user, sizeof p->user, "%s", o->user && *o->user ? o->user : "default");
    snprintf(p->root, sizeof p->root, "%s", o->root ? o->root : "");
    while (strlen(p->root) > 1 && p->root[strlen(p->root) - 1] == '/')
        p->root[strlen(p->root) - 1] = '\0';
    p->resync_s = o->resync_s > 0 ? o->resync_s : 300;
    p->watch_timeout_s = o->watch_timeout_s > 0 ? o->watch_timeout_s : 240;
    snprintf(sel, sizeof sel, "app.kubernetes.io/managed-by=cnote,cnote.io/instance=%s",
             p->instance);
    qescape(sel, p->selector, sizeof p->selector);
    p->cache = json_object();
    p->wp = k8s_watch_new(0, on_pod_event, p);
    p->ep = k8s_watch_new(0, on_k8s_event, p);
    if (!p->cache || !p->wp || !p->ep) {
        json_decref(p->cache);
        k8s_watch_free(p->wp);
        k8s_watch_free(p->ep);
        free(p);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    uv_timer_init(loop, &p->tick);
    p->tick.data = p;
    uv_timer_init(loop, &p->kick);
    p->kick.data = p;
    uv_unref((uv_handle_t *)&p->kick);
    uv_timer_start(&p->tick, tick_cb, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&p->tick);
    ops.ctx = p;
    kmgr_set_provisioner(kmgr, &ops, all);
    start_list(p, NULL);
    start_events(p);
    jp_log(JP_LOG_INFO, "k8s", "kubernetes provisioner ready namespace=%s instance=%s", p->ns,
           p->instance);
    return p;
}

static void prov_close_cb(uv_handle_t *h)
{
    struct k8s_prov *p = h->data;
    if (--p->closing == 0)
        free(p);
}

void k8s_prov_free(struct k8s_prov *p)
{
    if (!p)
        return;
    p->freeing = 1;
    k8s_http_free(p->http); /* cancels every request: no callback fires */
    while (p->head) {
        struct kpod *k = p->head;
        p->head = k->next;
        kp_free(k);
    }
    while (p->grave) {
        struct kpod *k = p->grave;
        p->grave = k->next;
        kp_free(k);
    }
    json_decref(p->cache);
    json_decref(p->list_acc);
    k8s_watch_free(p->wp);
    k8s_watch_free(p->ep);
    k8s_profiles_free(p->profiles);
    p->closing = 2;
    uv_close((uv_handle_t *)&p->tick, prov_close_cb);
    uv_close((uv_handle_t *)&p->kick, prov_close_cb);
}

json_t *k8s_prov_progress(struct k8s_prov *p, const char *kernel_id)
{
    struct kpod *k = p ? kp_find(p, kernel_id) : NULL;
    if (!k)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:O}", "kernel_id", k->id, "pod",
                     k->pod, "stage", k8s_stage_name(k->sm.stage), "message", k->message, "node",
                     k->sm.node[0] ? k->sm.node : NULL, "ip", k->sm.ip[0] ? k->sm.ip : NULL,
                     "profile", k->profile[0] ? k->profile : NULL, "events", k->progress);
}

int k8s_prov_log(struct k8s_prov *p, const char *kernel_id, int tail, k8s_done_fn done, void *arg)
{
    struct kpod *k = p ? kp_find(p, kernel_id) : NULL;
    char path[512];

    if (!k || !k->pod[0])
        return JP_ENOENT;
    if (tail > 0)
        snprintf(path, sizeof path,
                 "/api/v1/namespaces/%s/pods/%s/log?container=kernel&tailLines=%d", p->ns, k->pod,
                 tail);
    else
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/log?container=kernel", p->ns,
                 k->pod);
    return k8s_http_request(p->http, "GET", path, NULL, NULL, 15000, done, arg) ? 0 : JP_ENOMEM;
}

int k8s_prov_profile_gpus(struct k8s_prov *p, const char *slug)
{
    const char *s = p ? k8s_profiles_resolve(p->profiles, slug, NULL, 0) : NULL;
    return s ? k8s_profiles_gpus(p->profiles, s) : 0;
}

json_t *k8s_prov_profiles(struct k8s_prov *p)
{
    return p ? k8s_profiles_list(p->profiles) : json_array();
}

void k8s_prov_stats(struct k8s_prov *p, struct k8s_prov_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!p)
        return;
    *out = p->st;
    for (struct kpod *k = p->head; k; k = k->next)
        if (k->warm && !k->exited) {
            if (k->sm.up)
                out->warm_ready++;
            else
                out->warm_starting++;
        }
    if (out->kernels >= out->warm_ready + out->warm_starting)
        out->kernels -= out->warm_ready + out->warm_starting;
    k8s_http_stats(p->http, &out->http);
}

void k8s_prov_on_launch(struct k8s_prov *p, void (*fn)(void *ctx, double seconds), void *ctx)
{
    if (!p)
        return;
    p->on_launch = fn;
    p->on_launch_ctx = ctx;
}
