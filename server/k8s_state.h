/*
 * k8s_state.h - the life of a kernel pod as a state machine, pure: pod objects, Events and a
 * clock go in (the caller's clock: tests inject one), actions come out. k8s_prov.c feeds it
 * from its watches and its 1-second tick and carries out the actions (tell kmgr, delete the
 * pod). No I/O here.
 *
 *   creating -> scheduling -> pulling -> starting -> connecting (kmgr connects as soon as the
 *   container runs and the pod has an IP: the kernel answering kernel_info is the readiness
 *   that counts, so the first readiness probe's period is not waited for)
 *        \___________\___________\__________\____ failed (reason) / gone (ended, deleted)
 *   stopping (DELETE sent) -> gone
 *
 * Each waiting stage has its own timeout (k8s_timeouts: schedule_s for creating/scheduling,
 * pull_s for pulling, ready_s for starting/connecting, delete_s for stopping). A launch that
 * cannot succeed fails at once with a reason a user can act on: Unschedulable ("no node can
 * run this kernel now: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."), image pull
 * errors that waiting does not fix, container creation errors; a pod that ends says how
 * (OOMKilled, exit code, evicted) and a pod deleted underneath says so.
 */
#ifndef K8S_STATE_H
#define K8S_STATE_H

#include <stdint.h>

#include <jansson.h>

#include "k8s_pod.h"

enum k8s_stage {
    K8S_CREATING,
    K8S_SCHEDULING,
    K8S_PULLING,
    K8S_STARTING,
    K8S_CONNECTING,
    K8S_STOPPING,
    K8S_FAILED,
    K8S_GONE
};
const char *k8s_stage_name(enum k8s_stage s);

enum k8s_action {
    K8S_ACT_NONE,  /* nothing new */
    K8S_ACT_STAGE, /* moved to another waiting stage (sm->note says what happens) */
    K8S_ACT_UP,    /* Ready with an IP (sm->ip): connect */
    K8S_ACT_FAIL,  /* the launch cannot succeed (sm->why): delete the pod, report */
    K8S_ACT_EXIT   /* the pod ended or is gone (sm->why): report (and delete what is left) */
};

struct k8s_sm {
    enum k8s_stage stage;
    int64_t since_ms; /* when the stage began */
    int up;           /* UP was returned */
    int answered;     /* set by the caller: the kernel answered over its sockets */
    int seen;         /* a pod object was seen */
    int deleted;      /* someone else deleted the pod (deletionTimestamp before our stop) */
    char uid[64];     /* the pod's uid once known: namesakes are ignored */
    char ip[64], node[254];
    char note[512]; /* what the last stage change or event said */
    char why[1400]; /* the reason of FAIL / EXIT */
};

/* A fresh machine in stage creating at now_ms. */
void k8s_sm_init(struct k8s_sm *sm, int64_t now_ms);
/* A pod object from the cache or a watch (NULL: deleted / not there any more). */
enum k8s_action k8s_sm_pod(struct k8s_sm *sm, const json_t *pod, int64_t now_ms);
/* A core/v1 Event about the pod (only for its uid). */
enum k8s_action k8s_sm_event(struct k8s_sm *sm, const json_t *event, int64_t now_ms);
/* Time passes: FAIL when a waiting stage outlived its timeout (EXIT, for stopping). */
enum k8s_action k8s_sm_tick(struct k8s_sm *sm, const struct k8s_timeouts *to, int64_t now_ms);
/* The server asked the pod to go (DELETE sent). */
void k8s_sm_stopping(struct k8s_sm *sm, int64_t now_ms);
/* Is the machine finished (failed or gone)? */
int k8s_sm_done(const struct k8s_sm *sm);

#endif
