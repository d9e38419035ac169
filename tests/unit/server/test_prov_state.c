/*
 * test_prov_state.c - unit tests for server/k8s_state.c, the kernel pod state machine: pod
 * objects shaped as the API server sends them (status from a kubelet and the scheduler),
 * Events, and an injected clock. Covers the happy path to Ready, each fast failure with the
 * reason a user sees (unschedulable GPU, image not found, container config errors), pods that
 * end (OOMKilled, exit codes, evicted), pods deleted underneath, namesakes, and every stage's
 * timeout including the forced end of a stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "k8s_state.h"

static const struct k8s_timeouts TO = {300, 600, 120, 30};

/* A pod: uid, node (or NULL), phase, container state object (or NULL), Ready, podIP. */
static json_t *pod(const char *uid, const char *node, const char *phase, json_t *state, int ready,
                   const char *ip)
{
    json_t *p =
        json_pack("{s:{s:s, s:s}, s:{}, s:{s:s, s:[]}}", "metadata", "name", "cnote-kernel-x",
                  "uid", uid, "spec", "status", "phase", phase, "conditions");
    json_t *status = json_object_get(p, "status");
    if (node) {
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
        json_array_append_new(json_object_get(status, "conditions"),
                              json_pack("{s:s, s:s}", "type", "PodScheduled", "status", "True"));
    }
    if (state)
        json_object_set_new(
            status, "containerStatuses",
            json_pack("[{s:s, s:o, s:b}]", "name", "kernel", "state", state, "ready", ready));
    json_array_append_new(
        json_object_get(status, "conditions"),
        json_pack("{s:s, s:s}", "type", "Ready", "status", ready ? "True" : "False"));
    if (ip)
        json_object_set_new(status, "podIP", json_string(ip));
    return p;
}

static json_t *waiting(const char *reason, const char *msg)
{
    return json_pack("{s:{s:s, s:s}}", "waiting", "reason", reason, "message", msg);
}

static json_t *running(void)
{
    return json_pack("{s:{s:s}}", "running", "startedAt", "2026-11-29T10:00:00Z");
}

static json_t *terminated(const char *reason, int code)
{
    return json_pack("{s:{s:s, s:i}}", "terminated", "reason", reason, "exitCode", code);
}

static enum k8s_action feed(struct k8s_sm *sm, json_t *p, int64_t now)
{
    enum k8s_action a = k8s_sm_pod(sm, p, now);
    json_decref(p);
    return a;
}

static void test_happy_path_to_ready(void **state)
{
    struct k8s_sm sm;
    (void)state;
    k8s_sm_init(&sm, 0);
    assert_int_equal(sm.stage, K8S_CREATING);
    assert_int_equal(feed(&sm, pod("u1", NULL, "Pending", NULL, 0, NULL), 10), K8S_ACT_STAGE);
    assert_int_equal(sm.stage, K8S_SCHEDULING);
    assert_string_equal(sm.uid, "u1");
    assert_int_equal(
        feed(&sm, pod("u1", "node-1", "Pending", waiting("ContainerCreating", ""), 0, NULL), 20),
        K8S_ACT_STAGE);
    assert_int_equal(sm.stage, K8S_PULLING);
    assert_string_equal(sm.node, "node-1");
    /* a transient pull error keeps waiting */
    assert_int_equal(
        feed(&sm, pod("u1", "node-1", "Pending", waiting("ErrImagePull", "i/o timeout"), 0, NULL),
             25),
        K8S_ACT_NONE);
    assert_int_equal(sm.stage, K8S_PULLING);
    /* running without an IP yet: starting */
    assert_int_equal(feed(&sm, pod("u1", "node-1", "Pending", running(), 0, NULL), 30),
                     K8S_ACT_STAGE);
    assert_int_equal(sm.stage, K8S_STARTING);
    /* running with an IP: connect now, before the readiness probe says Ready */
    assert_int_equal(feed(&sm, pod("u1", "node-1", "Running", running(), 0, "10.1.2.3"), 40),
                     K8S_ACT_UP);
    assert_int_equal(sm.stage, K8S_CONNECTING);
    assert_string_equal(sm.ip, "10.1.2.3");
    assert_true(sm.up);
    /* Ready later, the same status again: nothing new */
    assert_int_equal(feed(&sm, pod("u1", "node-1", "Running", running(), 1, "10.1.2.3"), 50),
                     K8S_ACT_NONE);
    /* once the kernel answered, no timeout however long it runs */
    sm.answered = 1;
    assert_int_equal(k8s_sm_tick(&sm, &TO, 10 * 3600 * 1000LL), K8S_ACT_NONE);
}

static void test_unschedulable_gpu_fails_fast(void **state)
{
    struct k8s_sm sm;
    json_t *p = pod("u2", NULL, "Pending", NULL, 0, NULL);
    (void)state;
    json_array_append_new(json_object_get(json_object_get(p, "status"), "conditions"),
                          json_pack("{s:s, s:s, s:s, s:s}", "type", "PodScheduled", "status",
                                    "False", "reason", "Unschedulable", "message",
                                    "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."));
    k8s_sm_init(&sm, 0);
    assert_int_equal(feed(&sm, p, 5), K8S_ACT_FAIL);
    assert_int_equal(sm.stage, K8S_FAILED);
    assert_non_null(strstr(sm.why, "no node can run this kernel now"));
    assert_non_null(strstr(sm.why, "Insufficient nvidia.com/gpu"));
    assert_true(k8s_sm_done(&sm));
    /* finished machines ignore everything */
    assert_int_equal(feed(&sm, pod("u2", "n", "Running", running(), 1, "1.2.3.4"), 6),
                     K8S_ACT_NONE);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 1000000000), K8S_ACT_NONE);
}

static void test_image_errors(void **state)
{
    static const char *const fatal[][2] = {
        {"ErrImagePull", "rpc error: code = NotFound desc = failed to pull: nope:1: not found"},
        {"ImagePullBackOff", "Back-off pulling image \"nope:1\""},
        {"InvalidImageName", "couldn't parse image reference \"NOPE::\""},
        {"CreateContainerConfigError", "secret \"cnote-kernel-x\" not found"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++) {
        struct k8s_sm sm;
        k8s_sm_init(&sm, 0);
        assert_int_equal(
            feed(&sm, pod("u3", "n1", "Pending", waiting(fatal[i][0], fatal[i][1]), 0, NULL), 1),
            K8S_ACT_FAIL);
        assert_non_null(strstr(sm.why, fatal[i][0]));
        assert_non_null(strstr(sm.why, fatal[i][1]));
        if (i < 3)
            assert_non_null(strstr(sm.why, "image not found or not pullable"));
        else
            assert_non_null(strstr(sm.why, "cannot be created"));
    }
}

static void test_pod_endings(void **state)
{
    struct k8s_sm sm;
    json_t *p;
    (void)state;
    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u4", "n1", "Running", running(), 1, "10.0.0.9"), 1);
    assert_true(sm.up);
    assert_int_equal(feed(&sm, pod("u4", "n1", "Failed", terminated("OOMKilled", 137), 0, NULL), 2),
                     K8S_ACT_EXIT);
    assert_non_null(strstr(sm.why, "OOMKilled"));
    assert_non_null(strstr(sm.why, "137"));
    assert_false(sm.up);

    k8s_sm_init(&sm, 0);
    assert_int_equal(
        feed(&sm, pod("u5", "n1", "Succeeded", terminated("Completed", 0), 0, NULL), 1),
        K8S_ACT_EXIT);
    assert_non_null(strstr(sm.why, "Completed (exit code 0)"));

    k8s_sm_init(&sm, 0);
    p = pod("u6", "n1", "Failed", NULL, 0, NULL);
    json_object_set_new(json_object_get(p, "status"), "reason", json_string("Evicted"));
    json_object_set_new(json_object_get(p, "status"), "message",
                        json_string("The node was low on resource: memory."));
    assert_int_equal(feed(&sm, p, 1), K8S_ACT_EXIT);
    assert_non_null(strstr(sm.why, "evicted: The node was low on resource: memory."));
}

static void test_deleted_and_namesakes(void **state)
{
    struct k8s_sm sm;
    (void)state;
    k8s_sm_init(&sm, 0);
    /* a list that predates the create says nothing */
    assert_int_equal(k8s_sm_pod(&sm, NULL, 1), K8S_ACT_NONE);
    assert_int_equal(sm.stage, K8S_CREATING);
    feed(&sm, pod("u7", "n1", "Running", running(), 1, "10.0.0.7"), 2);
    /* a pod of the same name with another uid is someone else's */
    assert_int_equal(feed(&sm, pod("other", "n1", "Failed", terminated("Error", 1), 0, NULL), 3),
                     K8S_ACT_NONE);
    assert_true(sm.up);
    assert_int_equal(k8s_sm_pod(&sm, NULL, 4), K8S_ACT_EXIT);
    assert_non_null(strstr(sm.why, "deleted (by someone else"));

    /* deletionTimestamp: stopping, then gone means deleted */
    k8s_sm_init(&sm, 0);
    json_t *p = pod("u8", "n1", "Running", running(), 1, "10.0.0.8");
    feed(&sm, json_incref(p), 1);
    json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                        json_string("2026-11-29T10:00:00Z"));
    assert_int_equal(feed(&sm, json_incref(p), 2), K8S_ACT_STAGE);
    assert_int_equal(sm.stage, K8S_STOPPING);
    /* the kernel ends on SIGTERM: the pod says Completed, the user hears it was deleted */
    json_object_set_new(json_object_get(p, "status"), "phase", json_string("Succeeded"));
    json_object_set_new(
        json_object_get(p, "status"), "containerStatuses",
        json_pack("[{s:s, s:o}]", "name", "kernel", "state", terminated("Completed", 0)));
    assert_int_equal(feed(&sm, p, 3), K8S_ACT_EXIT);
    assert_non_null(strstr(sm.why, "kernel pod was deleted (by someone else"));
    assert_non_null(strstr(sm.why, "Completed (exit code 0)"));

    /* our own stop: the pod goes, and that is all */
    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u8b", "n1", "Running", running(), 1, "10.0.0.8"), 1);
    k8s_sm_stopping(&sm, 2);
    assert_int_equal(k8s_sm_pod(&sm, NULL, 3), K8S_ACT_EXIT);
    assert_string_equal(sm.why, "kernel pod deleted");
}

static void test_stage_timeouts(void **state)
{
    struct k8s_sm sm;
    (void)state;
    k8s_sm_init(&sm, 1000);
    feed(&sm, pod("u9", NULL, "Pending", NULL, 0, NULL), 1000);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 1000 + 299999), K8S_ACT_NONE);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 1000 + 300000), K8S_ACT_FAIL);
    assert_non_null(strstr(sm.why, "timed out after 300 s waiting for a node"));
    assert_non_null(strstr(sm.why, "(last: waiting for a node)"));

    /* pulling gets pull_s from when pulling began */
    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u10", "n1", "Pending", waiting("ContainerCreating", ""), 0, NULL), 250000);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 250000 + 599000), K8S_ACT_NONE);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 250000 + 600000), K8S_ACT_FAIL);
    assert_non_null(strstr(sm.why, "600 s waiting for the kernel image"));

    /* starting: ready_s, first for the container, then for the kernel to answer */
    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u11", "n1", "Pending", running(), 0, NULL), 5000);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 5000 + 120000), K8S_ACT_FAIL);
    assert_non_null(strstr(sm.why, "120 s waiting for the kernel pod to become ready"));
    k8s_sm_init(&sm, 0);
    assert_int_equal(feed(&sm, pod("u11b", "n1", "Running", running(), 0, "10.0.0.11"), 5000),
                     K8S_ACT_UP);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 5000 + 119999), K8S_ACT_NONE);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 5000 + 120000), K8S_ACT_FAIL);
    assert_non_null(strstr(sm.why, "120 s waiting for the kernel to answer"));

    /* a stop that takes too long is forced */
    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u12", "n1", "Running", running(), 1, "10.0.0.12"), 1);
    k8s_sm_stopping(&sm, 10000);
    assert_int_equal(sm.stage, K8S_STOPPING);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 10000 + 29999), K8S_ACT_NONE);
    assert_int_equal(k8s_sm_tick(&sm, &TO, 10000 + 30000), K8S_ACT_EXIT);
    assert_non_null(strstr(sm.why, "forced"));
    assert_string_equal(k8s_stage_name(sm.stage), "gone");
}

static void test_events(void **state)
{
    struct k8s_sm sm;
    json_t *ev;
    (void)state;
    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u13", NULL, "Pending", NULL, 0, NULL), 1);
    ev = json_pack("{s:s, s:s, s:s}", "type", "Normal", "reason", "Scheduled", "message",
                   "Successfully assigned cnote/x to n1");
    assert_int_equal(k8s_sm_event(&sm, ev, 2), K8S_ACT_NONE);
    assert_string_equal(sm.note, "Successfully assigned cnote/x to n1");
    json_decref(ev);
    ev = json_pack("{s:s, s:s, s:s}", "type", "Warning", "reason", "FailedScheduling", "message",
                   "0/3 nodes are available: 3 Insufficient nvidia.com/mig-1g.10gb.");
    assert_int_equal(k8s_sm_event(&sm, ev, 3), K8S_ACT_FAIL);
    assert_non_null(strstr(sm.why, "Insufficient nvidia.com/mig-1g.10gb"));
    json_decref(ev);

    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u14", "n1", "Pending", waiting("ContainerCreating", ""), 0, NULL), 1);
    ev = json_pack("{s:s, s:s, s:s}", "type", "Normal", "reason", "BackOff", "message",
                   "Back-off pulling image \"nope:1\"");
    assert_int_equal(k8s_sm_event(&sm, ev, 2), K8S_ACT_FAIL);
    assert_non_null(strstr(sm.why, "image not found or not pullable"));
    json_decref(ev);

    /* once up, events only inform */
    k8s_sm_init(&sm, 0);
    feed(&sm, pod("u15", "n1", "Running", running(), 1, "10.0.0.15"), 1);
    ev = json_pack("{s:s, s:s, s:s}", "type", "Warning", "reason", "FailedScheduling", "message",
                   "0/1 nodes are available");
    assert_int_equal(k8s_sm_event(&sm, ev, 2), K8S_ACT_NONE);
    json_decref(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path_to_ready),
        cmocka_unit_test(test_unschedulable_gpu_fails_fast),
        cmocka_unit_test(test_image_errors),
        cmocka_unit_test(test_pod_endings),
        cmocka_unit_test(test_deleted_and_namesakes),
        cmocka_unit_test(test_stage_timeouts),
        cmocka_unit_test(test_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
