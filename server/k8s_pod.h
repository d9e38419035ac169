/*
 * k8s_pod.h - kernel pod profiles (the pod-template configuration) and the builders of the
 * kernel Pod, its Secret and the connection file it carries. Pure: JSON in, JSON out; no
 * network. The provisioner (k8s_prov.c) loads the file once, lists profiles for REST, and
 * builds a Pod + Secret per kernel launch.
 *
 * Configuration file (YAML or JSON; --k8s-config, from ConfigMap cnote-kernel-profiles key
 * profiles.yaml). Every key is optional except image; the defaults are shown:
 *
 *   namespace: cnote                  # default: the connection's namespace (k8s_conn)
 *   image: cnote-kernel:latest        # REQUIRED (here or in every profile)
 *   image_pull_policy: IfNotPresent   # Always | IfNotPresent | Never
 *   image_pull_secrets: []            # ["regcred", ...]
 *   command: [cnote-kernel, --connection-env, CNOTE_CONNECTION, --ip-env, CNOTE_POD_IP]
 *   args: []
 *   resources:                        # quantities: strings or numbers
 *     requests: {cpu: "250m", memory: 512Mi}
 *     limits: {memory: 4Gi}           # GPUs: {"nvidia.com/gpu": 1} or {"nvidia.com/mig-1g.10gb":
 * 1} node_selector: {}                 # {"nvidia.com/gpu.present": "true"} tolerations: [] # list
 * of Toleration objects, as in a Pod affinity: {}                      # an Affinity object, as in
 * a Pod priority_class_name: null env: {}                           # NAME: value (scalars become
 * strings) or NAME: {valueFrom: ...} labels: {}                        # extra pod labels (cnote's
 * own labels win) annotations: {}                   # extra pod annotations (cnote's own win)
 *   storage:                          # null: no volume (and no workingDir)
 *     claim_name: cnote-notebooks
 *     mount_path: /home/cnote/work
 *     sub_path: "{user}"              # {user} = the user's slug; "" mounts the whole claim
 *   security: {run_as_user: 1000, run_as_group: 100, fs_group: 100}
 *   termination_grace_s: 5
 *   timeouts: {schedule_s: 300, pull_s: 600, ready_s: 120, delete_s: 30}
 *   ports: {shell: 50001, iopub: 50002, stdin: 50003, control: 50004, hb: 50005}
 *   profiles:                         # absent/empty: one implicit profile "default"
 *     - slug: cpu                     # DNS-1123 label, unique
 *       display_name: CPU             # default: the slug
 *       description: ""
 *       default: true                 # at most one; none marked: the first
 *       override: {...}               # any top-level key above except namespace/profiles
 *
 * Effective settings of a profile = the top level with override merged in: mappings merge
 * recursively, a null value deletes the key (falling back to the built-in default where there
 * is one; storage: null removes the volume), anything else (lists, scalars) replaces. Unknown keys
 * are errors (typos must not pass silently). Validation (at load, for every profile): image set;
 * policy valid; label keys/values and annotation keys valid; extended resources (any name with a
 * '/' outside kubernetes.io, GPUs and MIG slices included) must be whole numbers, set in limits,
 * and equal in requests if there; ports 1..65535 and distinct; timeouts > 0; env names not
 * CNOTE_CONNECTION, CNOTE_POD_IP or CNOTE_KERNEL_ID; mount_path absolute; sub_path relative without
 * "..", only the {user} placeholder.
 */
#ifndef K8S_POD_H
#define K8S_POD_H

#include <stddef.h>

#include <jansson.h>

struct k8s_profiles;

struct k8s_timeouts {
    int schedule_s; /* Pending without PodScheduled=True */
    int pull_s;     /* scheduled, image not yet pulled */
    int ready_s;    /* container started, not yet Ready */
    int delete_s;   /* after DELETE, until the pod is gone */
};

struct k8s_ports {
    int shell, iopub, stdin_port, control, hb;
};

/* Load and validate a configuration file (k8s_yaml_load_file), or build from parsed JSON
 * (borrowed). NULL with why on any error. */
struct k8s_profiles *k8s_profiles_load(const char *path, char *why, size_t whylen);
struct k8s_profiles *k8s_profiles_from_json(const json_t *cfg, char *why, size_t whylen);
void k8s_profiles_free(struct k8s_profiles *p);

/* New reference: [{"slug", "display_name", "description", "default": bool, "gpus": int,
 * "gpu_resource": string|null}] in file order. gpus/gpu_resource describe the profile's first
 * limit named nvidia.com/..., amd.com/gpu or gpu.intel.com/... (0/null when none). */
json_t *k8s_profiles_list(const struct k8s_profiles *p);
/* The configured namespace, or NULL (use the connection's). Borrowed. */
const char *k8s_profiles_namespace(const struct k8s_profiles *p);
/* The canonical slug for slug (NULL or "": the default profile), or NULL with why = "unknown
 * profile 'x' (valid: a, b)". Borrowed. */
const char *k8s_profiles_resolve(const struct k8s_profiles *p, const char *slug, char *why,
                                 size_t whylen);
/* Warm pool: pods of the profile kept running, without per-user storage, for kernels to claim
 * ("warm_pool: N" in the profile or at the top level; 0 = none, at most 100); the GPUs all warm
 * pods may hold ("warm_pool_max_gpus" at the top level; -1 = no limit). */
int k8s_profiles_warm(const struct k8s_profiles *p, const char *slug);
int k8s_profiles_warm_max_gpus(const struct k8s_profiles *p);
/* GPUs (nvidia.com/..., amd.com/gpu, gpu.intel.com/...) a profile asks for. */
int k8s_profiles_gpus(const struct k8s_profiles *p, const char *slug);
/* The slug of the i-th profile, or NULL past the end. */
const char *k8s_profiles_slug_at(const struct k8s_profiles *p, size_t i);
/* Timeouts / ports of a profile (unknown slug: the default profile's). */
struct k8s_timeouts k8s_profiles_timeouts(const struct k8s_profiles *p, const char *slug);
struct k8s_ports k8s_profiles_ports(const struct k8s_profiles *p, const char *slug);
/* The effective (merged, defaults applied) settings of a profile; borrowed; NULL if unknown. */
const json_t *k8s_profiles_effective(const struct k8s_profiles *p, const char *slug);

struct k8s_pod_params {
    const char *kernel_id;   /* uuid; label cnote.io/kernel-id, env CNOTE_KERNEL_ID */
    const char *pod_name;    /* DNS-1123 subdomain */
    const char *secret_name; /* DNS-1123 subdomain; holds key connection.json */
    const char *namespace;   /* NULL: the profiles' namespace, else metadata.namespace omitted */
    const char *instance;    /* server instance id: label cnote.io/instance (label value) */
    const char *user;        /* raw user name: slug in label cnote.io/user, raw in annotation */
    const char *kernel_name; /* kernelspec name: annotation cnote.io/kernel-name (may be NULL) */
    const char *profile;     /* NULL or "": the default profile */
    const char *workdir_rel; /* notebook dir relative to the user's root ("" or NULL: root);
                              * no absolute path, no ".." component */
    int shell_port, iopub_port, stdin_port, control_port, hb_port; /* 0: the profile's */
};

/* The kernel Pod: 0 and *out a new reference, or a negative code with why:
 * JP_ENOENT (unknown profile; why lists the valid slugs) or JP_EINVAL (bad names, workdir
 * escaping, invalid instance label...) or JP_ENOMEM.
 * Shape: metadata {name, namespace?, labels {app.kubernetes.io/name: cnote-kernel,
 * app.kubernetes.io/managed-by: cnote, app.kubernetes.io/component: kernel, cnote.io/kernel-id,
 * cnote.io/instance, cnote.io/user: slug, cnote.io/profile: slug, + extra}, annotations
 * {cnote.io/user: raw, cnote.io/kernel-name, cluster-autoscaler.kubernetes.io/safe-to-evict:
 * "false", + extra}}; spec {restartPolicy Never, automountServiceAccountToken false,
 * enableServiceLinks false, terminationGracePeriodSeconds, securityContext {runAsNonRoot,
 * runAsUser, runAsGroup, fsGroup, seccompProfile RuntimeDefault}, imagePullSecrets?,
 * nodeSelector?, tolerations?, affinity?, priorityClassName?, containers [{name "kernel",
 * image, imagePullPolicy, command, args?, workingDir? (mount_path[/workdir_rel]), env
 * [CNOTE_CONNECTION secretKeyRef, CNOTE_POD_IP fieldRef status.podIP, CNOTE_KERNEL_ID,
 * config env sorted by name], ports [shell, iopub, stdin, control, hb], resources,
 * readinessProbe {tcpSocket {port: shell}, periodSeconds 1}, securityContext
 * {allowPrivilegeEscalation false, capabilities {drop [ALL]}}, volumeMounts?}], volumes?
 * [{name "notebooks", persistentVolumeClaim {claimName}}]}. */
int k8s_pod_make(const struct k8s_profiles *p, const struct k8s_pod_params *params, json_t **out,
                 char *why, size_t whylen);
/* The same, returning the Pod or NULL (the code lost; why still says what went wrong). */
json_t *k8s_pod_build(const struct k8s_profiles *p, const struct k8s_pod_params *params, char *why,
                      size_t whylen);

/* The Secret (new reference): type Opaque, data {"connection.json": base64}, same cnote
 * labels as the pod (without the profile's extra labels). namespace NULL: omitted. NULL on
 * bad arguments / out of memory. */
json_t *k8s_secret_build(const struct k8s_pod_params *params, const char *namespace,
                         const char *connection_json);

/* The connection file for the pod (malloc'd JSON text): {"shell_port"...,"hb_port", "ip":
 * "0.0.0.0", "key", "transport": "tcp", "signature_scheme": "hmac-sha256", "kernel_name"}.
 * Ports from params, 0 taken from the profile (p may be NULL: the defaults 50001..50005). */
char *k8s_conn_json(const struct k8s_profiles *p, const struct k8s_pod_params *params,
                    const char *key);

#endif
