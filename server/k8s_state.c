/*
 * k8s_state.c - a kernel pod's state machine (see k8s_state.h). Pure functions of the pod
 * objects, Events and the clock they are given.
 */
#include "k8s_state.h"

#include <stdio.h>
#include <string.h>

static const char *const names[] = {"creating",   "scheduling", "pulling", "starting",
                                    "connecting", "stopping",   "failed",  "gone"};

const char *k8s_stage_name(enum k8s_stage s)
{
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}

static const char *str(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

static int has(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

static const json_t *condition(const json_t *pod, const char *type)
{
    const json_t *c;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
    {
        const char *t = str(c, "type", NULL);
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

/* The status of the container named "kernel" (else the first). */
static const json_t *kernel_status(const json_t *pod)
{
    const json_t *cs = json_object_get(json_object_get(pod, "status"), "containerStatuses");
    const json_t *c;
    size_t i;
    json_array_foreach(cs, i, c)
    {
        const char *n = str(c, "name", NULL);
        if (n && strcmp(n, "kernel") == 0)
            return c;
    }
    return json_array_get(cs, 0);
}

/* Why a pod that ended ended, in words a user can act on. */
static void ended_why(const json_t *pod, char *out, size_t outlen)
{
    const json_t *cs = kernel_status(pod);
    const json_t *t = json_object_get(json_object_get(cs, "state"), "terminated");
    const char *sreason = str(pod, "status", "reason"), *smsg = str(pod, "status", "message");

    if (!t)
        t = json_object_get(json_object_get(cs, "lastState"), "terminated");
    if (sreason && strcmp(sreason, "Evicted") == 0) {
        snprintf(out, outlen, "kernel pod was evicted: %s", smsg ? smsg : "");
        return;
    }
    if (t) {
        const char *r = str(t, "reason", NULL), *m = str(t, "message", NULL);
        long long code = (long long)json_integer_value(json_object_get(t, "exitCode"));
        if (r && strcmp(r, "OOMKilled") == 0)
            snprintf(out, outlen,
                     "OOMKilled: the kernel ran out of memory (exit code %lld); pick a profile "
                     "with a higher memory limit",
                     code);
        else
            snprintf(out, outlen, "kernel pod ended: %s (exit code %lld)%s%s", r ? r : "Error",
                     code, m ? ": " : "", m ? m : "");
        return;
    }
    snprintf(out, outlen, "kernel pod %s%s%s", sreason ? sreason : "ended", smsg ? ": " : "",
             smsg ? smsg : "");
}

/* Image and container problems that waiting does not fix. */
static int fatal_waiting(const char *reason, const char *msg)
{
    static const char *const always[] = {"ImagePullBackOff",     "InvalidImageName",
                                         "ErrImageNeverPull",    "CreateContainerConfigError",
                                         "CreateContainerError", "RunContainerError"};
    if (!reason)
        return 0;
    for (size_t i = 0; i < sizeof always / sizeof *always; i++)
        if (strcmp(reason, always[i]) == 0)
            return 1;
    return strcmp(reason, "ErrImagePull") == 0 &&
           (has(msg, "not found") || has(msg, "manifest unknown") || has(msg, "unauthorized") ||
            has(msg, "denied") || has(msg, "does not exist"));
}

void k8s_sm_init(struct k8s_sm *sm, int64_t now_ms)
{
    memset(sm, 0, sizeof *sm);
    sm->stage = K8S_CREATING;
    sm->since_ms = now_ms;
}

int k8s_sm_done(const struct k8s_sm *sm)
{
    return sm->stage == K8S_FAILED || sm->stage == K8S_GONE;
}

static enum k8s_action to_stage(struct k8s_sm *sm, enum k8s_stage s, const char *note,
                                int64_t now_ms)
{
    if (sm->stage == s)
        return K8S_ACT_NONE;
    sm->stage = s;
    sm->since_ms = now_ms;
    snprintf(sm->note, sizeof sm->note, "%s", note ? note : "");
    return K8S_ACT_STAGE;
}

static enum k8s_action fail(struct k8s_sm *sm, int64_t now_ms)
{
    sm->stage = K8S_FAILED;
    sm->since_ms = now_ms;
    return K8S_ACT_FAIL;
}

static enum k8s_action gone(struct k8s_sm *sm, int64_t now_ms)
{
    sm->stage = K8S_GONE;
    sm->since_ms = now_ms;
    sm->up = 0;
    return K8S_ACT_EXIT;
}

void k8s_sm_stopping(struct k8s_sm *sm, int64_t now_ms)
{
    if (k8s_sm_done(sm))
        return;
    sm->stage = K8S_STOPPING;
    sm->since_ms = now_ms;
    snprintf(sm->note, sizeof sm->note, "deleting the kernel pod");
}

enum k8s_action k8s_sm_pod(struct k8s_sm *sm, const json_t *pod, int64_t now_ms)
{
    const char *uid, *phase, *ip, *node;

    if (k8s_sm_done(sm))
        return K8S_ACT_NONE;
    if (!pod) {
        if (!sm->seen && sm->stage == K8S_CREATING)
            return K8S_ACT_NONE; /* not created yet, or a list older than the create */
        snprintf(sm->why, sizeof sm->why, "%s",
                 sm->stage == K8S_STOPPING && !sm->deleted
                     ? "kernel pod deleted"
                     : "kernel pod was deleted (by someone else, or its node was lost)");
        return gone(sm, now_ms);
    }
    uid = str(pod, "metadata", "uid");
    if (!sm->uid[0] && uid)
        snprintf(sm->uid, sizeof sm->uid, "%s", uid);
    if (!uid || strcmp(uid, sm->uid) != 0)
        return K8S_ACT_NONE; /* a namesake */
    sm->seen = 1;
    phase = str(pod, "status", "phase");
    ip = str(pod, "status", "podIP");
    node = str(pod, "spec", "nodeName");
    if (node)
        snprintf(sm->node, sizeof sm->node, "%s", node);
    if (ip)
        snprintf(sm->ip, sizeof sm->ip, "%s", ip);
    if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp") &&
        sm->stage != K8S_STOPPING)
        sm->deleted = 1;
    if (phase && (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0)) {
        char how[900];
        ended_why(pod, how, sizeof how);
        if (sm->deleted)
            snprintf(sm->why, sizeof sm->why,
                     "kernel pod was deleted (by someone else, or its node was lost); %s", how);
        else
            snprintf(sm->why, sizeof sm->why, "%s", how);
        return gone(sm, now_ms);
    }
    if (sm->stage == K8S_STOPPING)
        return K8S_ACT_NONE;
    if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp")) {
        k8s_sm_stopping(sm, now_ms);
        snprintf(sm->note, sizeof sm->note, "the kernel pod is being deleted");
        return K8S_ACT_STAGE;
    }
    if (!node) {
        const json_t *c = condition(pod, "PodScheduled");
        const char *r = c ? str(c, "reason", NULL) : NULL;
        if (r && strcmp(r, "Unschedulable") == 0) {
            const char *m = str(c, "message", NULL);
            snprintf(sm->why, sizeof sm->why, "no node can run this kernel now: %s",
                     m ? m : "unschedulable");
            return fail(sm, now_ms);
        }
        return to_stage(sm, K8S_SCHEDULING, "waiting for a node", now_ms);
    }
    const json_t *cs = kernel_status(pod);
    const json_t *w = json_object_get(json_object_get(cs, "state"), "waiting");
    if (w) {
        const char *r = str(w, "reason", NULL), *m = str(w, "message", NULL);
        if (fatal_waiting(r, m)) {
            if (has(r, "Image") || has(r, "Pull"))
                snprintf(sm->why, sizeof sm->why, "image not found or not pullable (%s): %s", r,
                         m ? m : "");
            else
                snprintf(sm->why, sizeof sm->why, "the kernel container cannot be created (%s): %s",
                         r, m ? m : "");
            return fail(sm, now_ms);
        }
        return to_stage(sm, K8S_PULLING, r ? r : "pulling the image", now_ms);
    }
    if (!cs || !json_object_get(json_object_get(cs, "state"), "running"))
        return to_stage(sm, K8S_PULLING, "on a node, creating the container", now_ms);
    if (!ip || !*ip || !phase || strcmp(phase, "Running") != 0)
        return to_stage(sm, K8S_STARTING, "the kernel is starting", now_ms);
    if (sm->up)
        return K8S_ACT_NONE;
    sm->up = 1;
    to_stage(sm, K8S_CONNECTING, "the kernel container runs; connecting to it", now_ms);
    return K8S_ACT_UP;
}

enum k8s_action k8s_sm_event(struct k8s_sm *sm, const json_t *ev, int64_t now_ms)
{
    const char *reason = str(ev, "reason", NULL), *msg = str(ev, "message", NULL);

    if (k8s_sm_done(sm) || !reason || sm->stage == K8S_STOPPING || sm->up)
        return K8S_ACT_NONE;
    snprintf(sm->note, sizeof sm->note, "%s", msg ? msg : reason);
    if (strcmp(reason, "FailedScheduling") == 0 && sm->stage <= K8S_SCHEDULING &&
        (has(msg, "Insufficient") || has(msg, "didn't match") || has(msg, "untolerated") ||
         has(msg, "nodes are available"))) {
        snprintf(sm->why, sizeof sm->why, "no node can run this kernel now: %s", msg);
        return fail(sm, now_ms);
    }
    if ((strcmp(reason, "Failed") == 0 || strcmp(reason, "BackOff") == 0 ||
         strcmp(reason, "InspectFailed") == 0) &&
        sm->stage <= K8S_PULLING && (has(msg, "image") || has(msg, "Image")) &&
        (strcmp(reason, "Failed") != 0 || fatal_waiting("ErrImagePull", msg) ||
         has(msg, "ImagePullBackOff") || has(msg, "InvalidImageName"))) {
        snprintf(sm->why, sizeof sm->why, "image not found or not pullable: %s", msg);
        return fail(sm, now_ms);
    }
    return K8S_ACT_NONE;
}

enum k8s_action k8s_sm_tick(struct k8s_sm *sm, const struct k8s_timeouts *to, int64_t now_ms)
{
    int limit;
    const char *what;

    switch (sm->stage) {
    case K8S_CREATING:
    case K8S_SCHEDULING:
        limit = to->schedule_s;
        what = "a node to run the kernel pod";
        break;
    case K8S_PULLING:
        limit = to->pull_s;
        what = "the kernel image to be pulled and its container created";
        break;
    case K8S_STARTING:
    case K8S_CONNECTING:
        if (sm->answered)
            return K8S_ACT_NONE;
        limit = to->ready_s;
        what = sm->up ? "the kernel to answer" : "the kernel pod to become ready";
        break;
    case K8S_STOPPING:
        limit = to->delete_s;
        what = NULL;
        break;
    default:
        return K8S_ACT_NONE;
    }
    if (limit <= 0 || now_ms - sm->since_ms < (int64_t)limit * 1000)
        return K8S_ACT_NONE;
    if (!what) {
        snprintf(sm->why, sizeof sm->why, "kernel pod did not go away within %d s: forced", limit);
        return gone(sm, now_ms);
    }
    snprintf(sm->why, sizeof sm->why, "timed out after %d s waiting for %s%s%s", limit, what,
             sm->note[0] ? " (last: " : "", sm->note[0] ? sm->note : "");
    if (sm->note[0])
        strncat(sm->why, ")", sizeof sm->why - strlen(sm->why) - 1);
    return fail(sm, now_ms);
}
