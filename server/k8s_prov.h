/*
 * k8s_prov.h - the Kubernetes provisioner: each kernel runs in its own pod.
 *
 * Plugged into kmgr as a remote provisioner (kmgr_set_provisioner). A launch creates a Secret
 * holding the kernel's connection file (ports and HMAC key chosen here) and a Pod built from
 * the profiles (k8s_pod.h); once the pod is Ready with an IP, kmgr connects to podIP:ports.
 * A pod cache fed by list-then-watch (with bookmarks; re-list on 410 Gone, on a dropped or
 * silent watch and every few minutes) drives a per-kernel state machine - creating,
 * scheduling, pulling, starting, connecting, ready, stopping - with a timeout per stage and
 * fast failure with the reason a user can act on (unschedulable, image not found, OOMKilled,
 * evicted, deleted). A second watch on the namespace's Pod events feeds each kernel's launch
 * progress. On start-up, pods labelled with this server's instance are adopted (kmgr_adopt of
 * the stored records) or deleted when no kernel claims them.
 */
#ifndef K8S_PROV_H
#define K8S_PROV_H

#include <uv.h>

#include <jansson.h>

#include "k8s_http.h"
#include "k8s_pod.h"
#include "kmgr.h"

struct k8s_prov;

struct k8s_prov_opts {
    const char *namespace; /* where kernel pods go */
    const char *instance;  /* this server's instance id (label cnote.io/instance) */
    const char *user;      /* single-user mode's user name */
    const char *root;      /* the contents root (a kernel's cwd is made relative to it) */
    int resync_s;          /* full re-list period; default 300 */
    int watch_timeout_s;   /* server-side watch timeout; default 240 */
};

/* A provisioner using http and profiles (both taken: freed with the provisioner), plugged
 * into kmgr (all kernelspecs when all, else those naming cnote-kubernetes-provisioner).
 * Starts the pod and event watches. NULL with why on failure. */
struct k8s_prov *k8s_prov_new(uv_loop_t *loop, struct kmgr *kmgr, struct k8s_http *http,
                              struct k8s_profiles *profiles, const struct k8s_prov_opts *o, int all,
                              char *why, size_t whylen);
/* Stop watching and free; pods are left running (a later server adopts them). */
void k8s_prov_free(struct k8s_prov *p);

/* A kernel's launch progress (new reference): {"kernel_id", "pod", "stage", "message",
 * "node", "ip", "profile", "events": [{"time", "stage", "type", "reason", "message"}]}, or
 * NULL when the kernel is not a pod of this provisioner. */
json_t *k8s_prov_progress(struct k8s_prov *p, const char *kernel_id);

/* The pod's log (the kernel container, last tail lines; 0: all); done gets the HTTP status of
 * the API answer (0: transport error) and the text. JP_ENOENT when the kernel has no pod. */
int k8s_prov_log(struct k8s_prov *p, const char *kernel_id, int tail, k8s_done_fn done, void *arg);

/* Called with the seconds from creating a pod to its container running (a metric). */
void k8s_prov_on_launch(struct k8s_prov *p, void (*fn)(void *ctx, double seconds), void *ctx);

/* GPUs a profile asks for (slug NULL or "": the default profile; unknown: 0). */
int k8s_prov_profile_gpus(struct k8s_prov *p, const char *slug);

/* The profiles for REST: new reference (k8s_profiles_list). */
json_t *k8s_prov_profiles(struct k8s_prov *p);

struct k8s_prov_stats {
    unsigned long lists, watches, relists_gone, watches_throttled, watch_events, pods_cached,
        kernels, warm_claimed, warm_ready, warm_starting;
    struct k8s_http_stats http;
};
void k8s_prov_stats(struct k8s_prov *p, struct k8s_prov_stats *out);

#endif
