/*
 * fuzz_k8s.c - libFuzzer target for what the Kubernetes provisioner reads from outside: the
 * watch stream (cut into chunks at sizes taken from the input), YAML (kubeconfigs, the profiles
 * file) and the profiles built from it into a pod, and pod/Event objects fed to the pod state
 * machine. The first byte picks the part; nothing may crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "k8s_pod.h"
#include "k8s_state.h"
#include "k8s_watch.h"
#include "k8s_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_event(void *ctx, const char *type, json_t *obj)
{
    struct k8s_sm *sm = ctx;
    if (strcmp(type, "ERROR") == 0 || strcmp(type, "BOOKMARK") == 0)
        return;
    if (strcmp(type, "DELETED") == 0)
        k8s_sm_pod(sm, NULL, 2);
    else if (json_object_get(obj, "involvedObject"))
        k8s_sm_event(sm, obj, 3);
    else
        k8s_sm_pod(sm, obj, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct k8s_timeouts to = {1, 1, 1, 1};
    char why[512];
    struct k8s_sm sm;

    if (size < 2)
        return 0;
    k8s_sm_init(&sm, 0);
    switch (data[0] % 3) {
    case 0: { /* watch stream in chunks of data[1] % 37 + 1 bytes, into the state machine */
        struct k8s_watch_parser *p = k8s_watch_new(4096, on_event, &sm);
        size_t step = (size_t)(data[1] % 37) + 1;
        for (size_t off = 2; off < size; off += step)
            k8s_watch_feed(p, (const char *)data + off, off + step <= size ? step : size - off);
        k8s_watch_end(p);
        k8s_sm_tick(&sm, &to, 1000000);
        k8s_watch_free(p);
        break;
    }
    case 1: { /* YAML, then as a profiles file, then a pod from it */
        json_t *j = k8s_yaml_parse((const char *)data + 1, size - 1, why, sizeof why);
        struct k8s_profiles *pr = j ? k8s_profiles_from_json(j, why, sizeof why) : NULL;
        if (pr) {
            struct k8s_pod_params pp = {0};
            json_t *pod = NULL;
            pp.kernel_id = "0d9a7b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
            pp.pod_name = "cnote-kernel-x";
            pp.secret_name = "cnote-kernel-x";
            pp.instance = "fuzz";
            pp.user = "Fuzz User";
            pp.workdir_rel = "a/b";
            if (k8s_pod_make(pr, &pp, &pod, why, sizeof why) == 0)
                json_decref(pod);
            json_decref(k8s_profiles_list(pr));
            k8s_profiles_free(pr);
        }
        json_decref(j);
        break;
    }
    default: { /* one JSON object as a pod, then as an Event */
        json_t *j = json_loadb((const char *)data + 1, size - 1, 0, NULL);
        if (j) {
            k8s_sm_pod(&sm, j, 1);
            k8s_sm_event(&sm, j, 2);
            k8s_sm_pod(&sm, j, 3);
            k8s_sm_tick(&sm, &to, 100000);
            json_decref(j);
        }
        break;
    }
    }
    return 0;
}
