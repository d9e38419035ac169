/*
 * test_k8s_pod.c - unit tests for server/k8s_pod.c: the profiles file (tests/data/k8s/
 * profiles.yaml) loaded and listed, merging (dicts merged, null deletes, lists replaced),
 * per-profile timeouts and ports, the Pod built for a CPU, a GPU (tolerations, nodeSelector,
 * priority class), a MIG and a no-storage profile compared with golden files
 * (tests/data/k8s/pod-*.json; K8S_GOLDEN_UPDATE=1 rewrites them), the Secret and connection
 * file, and the validation errors (GPU in requests only, fractional GPUs, bad labels, unknown
 * keys and profiles, a working directory escaping the user's root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jp_err.h"
#include "k8s_config.h"
#include "k8s_names.h"
#include "k8s_pod.h"

#define DATA "tests/data/k8s"
#define KID "0d9a7b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

static struct k8s_profiles *g_p;

static struct k8s_pod_params params(const char *profile)
{
    struct k8s_pod_params a = {
        .kernel_id = KID,
        .pod_name = "cnote-kernel-" KID,
        .secret_name = "cnote-kernel-" KID,
        .instance = "cnote-server-0",
        .user = "Alice@Example.com",
        .kernel_name = "cnote",
        .profile = profile,
        .workdir_rel = "projects/./demo//",
    };
    return a;
}

static void check_golden(const json_t *got, const char *name)
{
    char path[256], why[256];
    snprintf(path, sizeof path, DATA "/%s", name);
    if (getenv("K8S_GOLDEN_UPDATE")) {
        assert_int_equal(json_dump_file(got, path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
        FILE *f = fopen(path, "a");
        fputc('\n', f);
        fclose(f);
    }
    json_error_t err;
    json_t *want = json_load_file(path, 0, &err);
    if (!want)
        fail_msg("%s: %s", path, err.text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
        fprintf(stderr, "got:\n%s\n", g);
        free(g);
        fail_msg("%s differs (rerun with K8S_GOLDEN_UPDATE=1 after checking)", path);
    }
    json_decref(want);
    (void)why;
}

static json_t *build(const struct k8s_profiles *p, const struct k8s_pod_params *a)
{
    char why[512];
    json_t *pod = NULL;
    int rc = k8s_pod_make(p, a, &pod, why, sizeof why);
    if (rc)
        fail_msg("k8s_pod_make: %s", why);
    return pod;
}

static void test_pod_build_cpu_default_golden(void **state)
{
    (void)state;
    struct k8s_pod_params a = params(NULL);
    json_t *pod = build(g_p, &a);
    check_golden(pod, "pod-cpu.json");
    /* the explicit slug builds the same pod */
    a.profile = "cpu";
    json_t *again = build(g_p, &a);
    assert_true(json_equal(pod, again));
    json_decref(again);
    json_decref(pod);
}

static void test_pod_build_gpu_golden(void **state)
{
    (void)state;
    struct k8s_pod_params a = params("gpu");
    json_t *pod = build(g_p, &a);
    check_golden(pod, "pod-gpu.json");
    json_t *c = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    json_t *lim = json_object_get(json_object_get(c, "resources"), "limits");
    assert_string_equal(json_string_value(json_object_get(lim, "nvidia.com/gpu")), "1");
    json_decref(pod);
}

static void test_pod_build_mig_golden(void **state)
{
    (void)state;
    struct k8s_pod_params a = params("mig");
    a.workdir_rel = "";
    json_t *pod = build(g_p, &a);
    check_golden(pod, "pod-mig.json");
    json_decref(pod);
}

static void test_pod_build_no_storage_golden(void **state)
{
    (void)state;
    struct k8s_pod_params a = params("scratch");
    a.user = "bob";
    a.kernel_name = NULL;
    a.namespace = "other-ns";
    a.shell_port = 7001; /* explicit ports win over the profile's */
    json_t *pod = build(g_p, &a);
    check_golden(pod, "pod-nostorage.json");
    json_decref(pod);
}

static void test_profiles_list_and_settings(void **state)
{
    (void)state;
    json_t *list = k8s_profiles_list(g_p);
    json_t *want = json_loads(
        "[{\"slug\":\"cpu\",\"display_name\":\"CPU only\",\"description\":\"0.25 CPU, 2 GiB\","
        "\"default\":true,\"gpus\":0,\"gpu_resource\":null},"
        "{\"slug\":\"gpu\",\"display_name\":\"1 NVIDIA GPU\",\"description\":\"A whole GPU on a "
        "GPU node\",\"default\":false,\"gpus\":1,\"gpu_resource\":\"nvidia.com/gpu\"},"
        "{\"slug\":\"mig\",\"display_name\":\"MIG 1g.10gb\",\"description\":\"\","
        "\"default\":false,\"gpus\":1,\"gpu_resource\":\"nvidia.com/mig-1g.10gb\"},"
        "{\"slug\":\"scratch\",\"display_name\":\"No storage\",\"description\":\"Ephemeral "
        "kernel without the notebooks volume\",\"default\":false,\"gpus\":0,"
        "\"gpu_resource\":null}]",
        0, NULL);
    assert_non_null(want);
    if (!json_equal(list, want))
        fail_msg("list: %s", json_dumps(list, JSON_COMPACT));
    json_decref(list);
    json_decref(want);

    assert_string_equal(k8s_profiles_namespace(g_p), "cnote");
    struct k8s_timeouts t = k8s_profiles_timeouts(g_p, NULL);
    assert_int_equal(t.schedule_s, 120); /* top level */
    assert_int_equal(t.pull_s, 600);     /* built-in default */
    assert_int_equal(t.ready_s, 120);
    assert_int_equal(t.delete_s, 30);
    t = k8s_profiles_timeouts(g_p, "gpu");
    assert_int_equal(t.schedule_s, 600);
    assert_int_equal(t.pull_s, 1200);
    t = k8s_profiles_timeouts(g_p, "unknown"); /* the default's */
    assert_int_equal(t.schedule_s, 120);
    struct k8s_ports ports = k8s_profiles_ports(g_p, "scratch");
    assert_int_equal(ports.shell, 6001);
    assert_int_equal(ports.hb, 6005);
    ports = k8s_profiles_ports(g_p, NULL);
    assert_int_equal(ports.shell, 50001);
    assert_int_equal(ports.stdin_port, 50003);

    char why[256];
    assert_string_equal(k8s_profiles_resolve(g_p, NULL, why, sizeof why), "cpu");
    assert_string_equal(k8s_profiles_resolve(g_p, "", why, sizeof why), "cpu");
    assert_string_equal(k8s_profiles_resolve(g_p, "mig", why, sizeof why), "mig");
    assert_null(k8s_profiles_resolve(g_p, "tpu", why, sizeof why));
    assert_string_equal(why, "unknown profile 'tpu' (valid: cpu, gpu, mig, scratch)");

    /* merged: the MIG profile's memory request was deleted by null, cpu kept */
    const json_t *eff = k8s_profiles_effective(g_p, "mig");
    json_t *req = json_object_get(json_object_get(eff, "resources"), "requests");
    assert_null(json_object_get(req, "memory"));
    assert_string_equal(json_string_value(json_object_get(req, "cpu")), "250m");
    assert_null(k8s_profiles_effective(g_p, "nope"));
}

static void test_pod_unknown_profile_and_bad_params(void **state)
{
    char why[512];
    json_t *pod = NULL;
    (void)state;

    struct k8s_pod_params a = params("tpu");
    assert_int_equal(k8s_pod_make(g_p, &a, &pod, why, sizeof why), JP_ENOENT);
    assert_null(pod);
    assert_non_null(strstr(why, "valid: cpu, gpu, mig, scratch"));
    assert_null(k8s_pod_build(g_p, &a, why, sizeof why));

    const char *escapes[] = {"..", "../bob", "a/../../b", "a/..", "/etc", "x/../.."};
    for (size_t i = 0; i < sizeof escapes / sizeof *escapes; i++) {
        a = params(NULL);
        a.workdir_rel = escapes[i];
        assert_int_equal(k8s_pod_make(g_p, &a, &pod, why, sizeof why), JP_EINVAL);
        assert_non_null(strstr(why, "user's root"));
    }
    /* names that merely contain dots are fine */
    a = params(NULL);
    a.workdir_rel = "..hidden/a..b/...";
    pod = build(g_p, &a);
    json_t *c = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "workingDir")),
                        "/home/cnote/work/..hidden/a..b/...");
    json_decref(pod);
    pod = NULL;

    a = params(NULL);
    a.instance = "bad instance!";
    assert_int_equal(k8s_pod_make(g_p, &a, &pod, why, sizeof why), JP_EINVAL);
    assert_non_null(strstr(why, "instance"));
    a = params(NULL);
    a.pod_name = "Cnote_Kernel";
    assert_int_equal(k8s_pod_make(g_p, &a, &pod, why, sizeof why), JP_EINVAL);
    assert_non_null(strstr(why, "pod name"));
    a = params(NULL);
    a.user = NULL;
    assert_int_equal(k8s_pod_make(g_p, &a, &pod, why, sizeof why), JP_EINVAL);
    a = params(NULL);
    a.namespace = "Bad_NS";
    assert_int_equal(k8s_pod_make(g_p, &a, &pod, why, sizeof why), JP_EINVAL);
}

static struct k8s_profiles *from_text(const char *json, char *why, size_t whylen)
{
    json_error_t err;
    json_t *cfg = json_loads(json, 0, &err);
    if (!cfg)
        fail_msg("test JSON: %s", err.text);
    struct k8s_profiles *p = k8s_profiles_from_json(cfg, why, whylen);
    json_decref(cfg);
    return p;
}

static void expect_invalid(const char *json, const char *needle)
{
    char why[512] = "";
    struct k8s_profiles *p = from_text(json, why, sizeof why);
    if (p) {
        k8s_profiles_free(p);
        fail_msg("accepted: %s", json);
    }
    if (!strstr(why, needle))
        fail_msg("why '%s' lacks '%s'", why, needle);
}

static void test_profiles_validation_errors(void **state)
{
    (void)state;
    /* GPUs: limits only, whole numbers, requests equal if present */
    expect_invalid("{\"image\":\"i\",\"resources\":{\"requests\":{\"nvidia.com/gpu\":1}}}",
                   "nvidia.com/gpu is set in requests only");
    expect_invalid("{\"image\":\"i\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":0.5}}}",
                   "must be a whole number, not '0.5'");
    expect_invalid("{\"image\":\"i\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1.5\"}}}",
                   "whole number");
    expect_invalid("{\"image\":\"i\",\"profiles\":[{\"slug\":\"g\",\"override\":{\"resources\":"
                   "{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"1\"},\"requests\":{"
                   "\"nvidia.com/mig-1g.10gb\":2}}}}]}",
                   "request (2) must equal its limit (1)");
    expect_invalid("{\"image\":\"i\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":[1]}}}",
                   "must be a string or number");
    /* labels */
    expect_invalid("{\"image\":\"i\",\"labels\":{\"bad key!\":\"x\"}}", "not a valid label");
    expect_invalid("{\"image\":\"i\",\"labels\":{\"team\":\"has space\"}}",
                   "not a valid label value");
    expect_invalid("{\"image\":\"i\",\"node_selector\":{\"k\":\"-x\"}}", "node_selector");
    expect_invalid("{\"image\":\"i\",\"annotations\":{\"a/b/c\":\"x\"}}", "annotations");
    /* structure */
    expect_invalid("{\"image\":\"i\",\"imagePullPolicy\":\"Always\"}",
                   "unknown key 'imagePullPolicy'");
    expect_invalid("{\"image\":\"i\",\"profiles\":[{\"slug\":\"a\",\"overide\":{}}]}",
                   "unknown key 'overide'");
    expect_invalid("{\"image\":\"i\",\"profiles\":[{\"slug\":\"a\",\"override\":{\"namespace\":"
                   "\"x\"}}]}",
                   "unknown key 'namespace'");
    expect_invalid("{\"profiles\":[{\"slug\":\"a\"}]}", "image is not set");
    expect_invalid("{\"image\":\"i\",\"image_pull_policy\":\"Sometimes\"}", "image_pull_policy");
    expect_invalid("{\"image\":\"i\",\"profiles\":[{\"slug\":\"a\"},{\"slug\":\"a\"}]}",
                   "used twice");
    expect_invalid("{\"image\":\"i\",\"profiles\":[{\"slug\":\"a\",\"default\":true},"
                   "{\"slug\":\"b\",\"default\":true}]}",
                   "more than one default");
    expect_invalid("{\"image\":\"i\",\"profiles\":[{\"slug\":\"Bad_Slug\"}]}", "DNS-1123");
    expect_invalid("{\"image\":\"i\",\"env\":{\"CNOTE_CONNECTION\":\"x\"}}", "reserved");
    expect_invalid("{\"image\":\"i\",\"env\":{\"1BAD\":\"x\"}}", "not valid");
    expect_invalid("{\"image\":\"i\",\"env\":{\"L\":[1]}}", "valueFrom");
    expect_invalid("{\"image\":\"i\",\"storage\":{\"sub_path\":\"{kernel}\"}}", "placeholder");
    expect_invalid("{\"image\":\"i\",\"storage\":{\"sub_path\":\"../x\"}}", "sub_path");
    expect_invalid("{\"image\":\"i\",\"storage\":{\"mount_path\":\"rel\"}}", "mount_path");
    expect_invalid("{\"image\":\"i\",\"security\":{\"run_as_user\":0}}", "non-root");
    expect_invalid("{\"image\":\"i\",\"ports\":{\"shell\":50002}}", "same port");
    expect_invalid("{\"image\":\"i\",\"ports\":{\"hb\":70000}}", "1..65535");
    expect_invalid("{\"image\":\"i\",\"timeouts\":{\"ready_s\":0}}", "ready_s");
    expect_invalid("{\"image\":\"i\",\"command\":[]}", "command");
    expect_invalid("{\"image\":\"i\",\"namespace\":\"Bad\"}", "namespace");
    expect_invalid("[1]", "must be a mapping");
}

static void test_profiles_implicit_default_and_null_storage(void **state)
{
    char why[512];
    (void)state;
    /* no profiles: one implicit "default"; GPU limit with equal request is fine */
    struct k8s_profiles *p = from_text(
        "{\"image\":\"cnote-kernel\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"2\"},"
        "\"requests\":{\"nvidia.com/gpu\":2}},\"env\":{\"FLAG\":true,\"PI\":3.5,\"SECRET\":"
        "{\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\",\"key\":\"k\"}}}},"
        "\"image_pull_secrets\":[{\"name\":\"a\"},\"b\"]}",
        why, sizeof why);
    if (!p)
        fail_msg("%s", why);
    json_t *list = k8s_profiles_list(p);
    assert_int_equal(json_array_size(list), 1);
    json_t *only = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(only, "slug")), "default");
    assert_true(json_is_true(json_object_get(only, "default")));
    assert_int_equal(json_integer_value(json_object_get(only, "gpus")), 2);
    json_decref(list);
    assert_null(k8s_profiles_namespace(p));

    struct k8s_pod_params a = params(NULL);
    a.workdir_rel = NULL;
    json_t *pod = build(p, &a);
    json_t *spec = json_object_get(pod, "spec");
    json_t *c = json_array_get(json_object_get(spec, "containers"), 0);
    assert_null(json_object_get(json_object_get(pod, "metadata"), "namespace"));
    assert_string_equal(json_string_value(json_object_get(c, "workingDir")), "/home/cnote/work");
    json_t *env = json_object_get(c, "env");
    assert_int_equal(json_array_size(env), 6);
    assert_string_equal(json_string_value(json_object_get(json_array_get(env, 3), "name")), "FLAG");
    assert_string_equal(json_string_value(json_object_get(json_array_get(env, 3), "value")),
                        "true");
    assert_string_equal(json_string_value(json_object_get(json_array_get(env, 4), "value")), "3.5");
    assert_non_null(json_object_get(json_array_get(env, 5), "valueFrom"));
    json_t *ips = json_object_get(spec, "imagePullSecrets");
    assert_int_equal(json_array_size(ips), 2);
    /* the subPath is the user's slug */
    char slug[K8S_SLUG_MAX + 1];
    k8s_slug("Alice@Example.com", slug, sizeof slug);
    json_t *vm = json_array_get(json_object_get(c, "volumeMounts"), 0);
    assert_string_equal(json_string_value(json_object_get(vm, "subPath")), slug);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(pod, "metadata"), "labels"), "cnote.io/user")),
        slug);
    json_decref(pod);
    k8s_profiles_free(p);

    /* top-level storage: null, whole-claim sub_path in a profile */
    p = from_text("{\"image\":\"i\",\"storage\":null,\"profiles\":[{\"slug\":\"a\"},{\"slug\":"
                  "\"b\",\"override\":{\"storage\":{\"sub_path\":\"\"}}}]}",
                  why, sizeof why);
    if (!p)
        fail_msg("%s", why);
    a = params("a");
    pod = build(p, &a);
    spec = json_object_get(pod, "spec");
    c = json_array_get(json_object_get(spec, "containers"), 0);
    assert_null(json_object_get(spec, "volumes"));
    assert_null(json_object_get(c, "volumeMounts"));
    assert_null(json_object_get(c, "workingDir"));
    json_decref(pod);
    a = params("b");
    pod = build(p, &a);
    c = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    vm = json_array_get(json_object_get(c, "volumeMounts"), 0);
    assert_string_equal(json_string_value(json_object_get(vm, "mountPath")), "/home/cnote/work");
    assert_null(json_object_get(vm, "subPath"));
    json_decref(pod);
    k8s_profiles_free(p);
    k8s_profiles_free(NULL);
}

static void test_secret_and_connection_file(void **state)
{
    (void)state;
    struct k8s_pod_params a = params("gpu");
    char *conn = k8s_conn_json(g_p, &a, "0123abcd-key");
    assert_non_null(conn);
    json_t *cj = json_loads(conn, 0, NULL);
    json_t *want = json_loads("{\"shell_port\":50001,\"iopub_port\":50002,\"stdin_port\":50003,"
                              "\"control_port\":50004,\"hb_port\":50005,\"ip\":\"0.0.0.0\","
                              "\"key\":\"0123abcd-key\",\"transport\":\"tcp\","
                              "\"signature_scheme\":\"hmac-sha256\",\"kernel_name\":\"cnote\"}",
                              0, NULL);
    assert_true(json_equal(cj, want));
    json_decref(cj);
    json_decref(want);

    json_t *s = k8s_secret_build(&a, "cnote", conn);
    assert_non_null(s);
    check_golden(s, "secret.json");
    const char *b64 =
        json_string_value(json_object_get(json_object_get(s, "data"), "connection.json"));
    char *dec;
    size_t n;
    assert_int_equal(k8s_base64_decode(b64, strlen(b64), &dec, &n), 0);
    assert_string_equal(dec, conn);
    free(dec);
    json_decref(s);
    free(conn);

    /* profile ports (scratch: 600x) and explicit ones; no profiles: the defaults */
    a = params("scratch");
    a.hb_port = 7005;
    conn = k8s_conn_json(g_p, &a, "k");
    cj = json_loads(conn, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(cj, "shell_port")), 6001);
    assert_int_equal(json_integer_value(json_object_get(cj, "hb_port")), 7005);
    json_decref(cj);
    free(conn);
    conn = k8s_conn_json(NULL, &a, "k");
    cj = json_loads(conn, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(cj, "shell_port")), 50001);
    json_decref(cj);
    free(conn);
    assert_null(k8s_secret_build(&a, NULL, NULL));
}

static void test_profiles_load_errors(void **state)
{
    char why[512];
    (void)state;
    assert_null(k8s_profiles_load(DATA "/missing.yaml", why, sizeof why));
    assert_non_null(strstr(why, "missing.yaml"));
    assert_null(k8s_profiles_load(DATA "/kubeconfig-token.yaml", why, sizeof why));
    assert_non_null(strstr(why, "kubeconfig-token.yaml: top level: unknown key"));
}

static int setup(void **state)
{
    char why[512];
    (void)state;
    g_p = k8s_profiles_load(DATA "/profiles.yaml", why, sizeof why);
    if (!g_p) {
        fprintf(stderr, "profiles.yaml: %s\n", why);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    k8s_profiles_free(g_p);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_build_cpu_default_golden),
        cmocka_unit_test(test_pod_build_gpu_golden),
        cmocka_unit_test(test_pod_build_mig_golden),
        cmocka_unit_test(test_pod_build_no_storage_golden),
        cmocka_unit_test(test_profiles_list_and_settings),
        cmocka_unit_test(test_pod_unknown_profile_and_bad_params),
        cmocka_unit_test(test_profiles_validation_errors),
        cmocka_unit_test(test_profiles_implicit_default_and_null_storage),
        cmocka_unit_test(test_secret_and_connection_file),
        cmocka_unit_test(test_profiles_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
