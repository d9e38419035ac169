/*
 * k8s_pod.c - the kernel-pod profiles file and the Pod / Secret / connection-file builders.
 * Loading merges every profile's override into the top level, fills the built-in defaults,
 * normalises scalars (numbers in quantities, labels and env become strings) and validates
 * everything, so that building a Pod later can only fail on the per-kernel parameters. The
 * Pod shape follows the shared plan (restricted security, secret-fed connection file,
 * readiness on the shell port); see k8s_pod.h for the file format.
 */
#include "k8s_pod.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jp_err.h"
#include "k8s_config.h"
#include "k8s_names.h"
#include "k8s_yaml.h"

static const char DEFAULTS[] =
    "{\"image_pull_policy\": \"IfNotPresent\", \"image_pull_secrets\": [],"
    " \"command\": [\"cnote-kernel\", \"--connection-env\", \"CNOTE_CONNECTION\","
    " \"--ip-env\", \"CNOTE_POD_IP\"], \"args\": [], \"resources\": {},"
    " \"node_selector\": {}, \"tolerations\": [], \"affinity\": {}, \"env\": {},"
    " \"labels\": {}, \"annotations\": {},"
    " \"storage\": {\"claim_name\": \"cnote-notebooks\", \"mount_path\": \"/home/cnote/work\","
    " \"sub_path\": \"{user}\"},"
    " \"security\": {\"run_as_user\": 1000, \"run_as_group\": 100, \"fs_group\": 100},"
    " \"termination_grace_s\": 5,"
    " \"timeouts\": {\"schedule_s\": 300, \"pull_s\": 600, \"ready_s\": 120, \"delete_s\": 30},"
    " \"ports\": {\"shell\": 50001, \"iopub\": 50002, \"stdin\": 50003, \"control\": 50004,"
    " \"hb\": 50005}}";

/* the keys of a setting block (top level and override) */
static const char *const SETTING_KEYS[] = {"image",
                                           "image_pull_policy",
                                           "image_pull_secrets",
                                           "command",
                                           "args",
                                           "resources",
                                           "node_selector",
                                           "tolerations",
                                           "affinity",
                                           "priority_class_name",
                                           "env",
                                           "labels",
                                           "annotations",
                                           "storage",
                                           "security",
                                           "termination_grace_s",
                                           "timeouts",
                                           "ports",
                                           "warm_pool",
                                           NULL};
static const char *const STORAGE_KEYS[] = {"claim_name", "mount_path", "sub_path", NULL};
static const char *const SECURITY_KEYS[] = {"run_as_user", "run_as_group", "fs_group", NULL};
static const char *const TIMEOUT_KEYS[] = {"schedule_s", "pull_s", "ready_s", "delete_s", NULL};
static const char *const PORT_KEYS[] = {"shell", "iopub", "stdin", "control", "hb", NULL};
static const char *const RESOURCE_KEYS[] = {"requests", "limits", NULL};
static const char *const PROFILE_KEYS[] = {"slug",    "display_name", "description",
                                           "default", "override",     NULL};
static const char *const RESERVED_ENV[] = {"CNOTE_CONNECTION", "CNOTE_POD_IP", "CNOTE_KERNEL_ID",
                                           NULL};

struct profile {
    char *slug, *display_name, *description;
    int is_default;
    json_t *eff; /* effective settings */
    int gpus;
    char *gpu_resource;
};

struct k8s_profiles {
    char *namespace;
    int warm_max_gpus; /* -1: no pool limit */
    struct profile *v;
    size_t n;
    size_t def;
};

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return 1;
    return 0;
}

static int check_keys(const json_t *o, const char *const *allowed, const char *where, char *why,
                      size_t whylen)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)o, k, v)
    {
        if (!in_list(allowed, k)) {
            char list[400] = "";
            for (const char *const *a = allowed; *a; a++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", *a);
            }
            say(why, whylen, "%s: unknown key '%s' (allowed: %s)", where, k, list);
            return JP_EINVAL;
        }
    }
    return 0;
}

/* mappings merge recursively; everything else (null included) replaces */
static int merge(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)src, k, v)
    {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v)) {
            if (merge(d, v))
                return JP_ENOMEM;
        } else if (json_object_set_new(dst, k, json_deep_copy(v))) {
            return JP_ENOMEM;
        }
    }
    return 0;
}

/* fill absent or null keys from the defaults, one level into the fixed blocks */
static int fill_defaults(json_t *eff, const json_t *defaults)
{
    const char *k;
    json_t *dv;

    json_object_foreach((json_t *)defaults, k, dv)
    {
        json_t *v = json_object_get(eff, k);
        if (!strcmp(k, "storage") && json_is_null(v))
            continue; /* storage: null = no volume */
        if (!v || json_is_null(v)) {
            if (json_object_set_new(eff, k, json_deep_copy(dv)))
                return JP_ENOMEM;
        } else if (json_is_object(v) && json_is_object(dv)) {
            const char *k2;
            json_t *dv2;
            json_object_foreach(dv, k2, dv2)
            {
                json_t *v2 = json_object_get(v, k2);
                if ((!v2 || json_is_null(v2)) && json_object_set_new(v, k2, json_deep_copy(dv2)))
                    return JP_ENOMEM;
            }
        }
    }
    return 0;
}

static void strip_nulls(json_t *o)
{
    const char *k;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(o, tmp, k, v)
    {
        if (json_is_null(v))
            json_object_del(o, k);
        else if (json_is_object(v))
            strip_nulls(v);
    }
}

/* Scalars become strings (numbers printed as YAML would write them). New reference or NULL. */
static json_t *as_string(const json_t *v)
{
    char buf[64];

    if (json_is_string(v))
        return json_incref((json_t *)v);
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return json_string(buf);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        /* shortest form that round-trips */
        for (int prec = 1; prec <= 17; prec++) {
            char b2[64];
            snprintf(b2, sizeof b2, "%.*g", prec, json_real_value(v));
            if (strtod(b2, NULL) == json_real_value(v)) {
                memcpy(buf, b2, sizeof buf);
                break;
            }
        }
        return json_string(buf);
    }
    if (json_is_boolean(v))
        return json_string(json_is_true(v) ? "true" : "false");
    return NULL;
}

/* Every value of a mapping to a string; JP_EINVAL names the first that is not a scalar. */
static int stringify_map(json_t *o, const char *where, char *why, size_t whylen)
{
    const char *k;
    json_t *v;

    if (!json_is_object(o)) {
        say(why, whylen, "%s must be a mapping", where);
        return JP_EINVAL;
    }
    json_object_foreach(o, k, v)
    {
        json_t *s = as_string(v);
        if (!s) {
            say(why, whylen, "%s.%s must be a string or number", where, k);
            return JP_EINVAL;
        }
        if (json_object_set_new(o, k, s))
            return JP_ENOMEM;
    }
    return 0;
}

static int string_list(const json_t *a, int nonempty, const char *where, char *why, size_t whylen)
{
    size_t i;
    json_t *v;

    if (!json_is_array(a) || (nonempty && json_array_size(a) == 0)) {
        say(why, whylen, "%s must be a %slist of strings", where, nonempty ? "non-empty " : "");
        return JP_EINVAL;
    }
    json_array_foreach(a, i, v) if (!json_is_string(v))
    {
        say(why, whylen, "%s[%zu] must be a string", where, i);
        return JP_EINVAL;
    }
    return 0;
}

static int is_extended_resource(const char *name)
{
    const char *slash = strchr(name, '/');
    if (!slash)
        return 0;
    /* native resources live in the kubernetes.io domain (and its subdomains) */
    size_t dl = (size_t)(slash - name);
    static const char kio[] = "kubernetes.io";
    if (dl >= sizeof kio - 1 && !memcmp(slash - (sizeof kio - 1), kio, sizeof kio - 1) &&
        (dl == sizeof kio - 1 || slash[-(int)sizeof kio] == '.'))
        return 0;
    return 1;
}

static int is_gpu_resource(const char *name)
{
    return !strncmp(name, "nvidia.com/", 11) || !strcmp(name, "amd.com/gpu") ||
           !strncmp(name, "gpu.intel.com/", 14);
}

/* "2" or 2 -> 2; -1 if not a whole non-negative number */
static long long whole(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 12)
        return -1;
    return atoll(s);
}

static int check_resources(json_t *res, const char *where, int *gpus, const char **gpu_res,
                           char *why, size_t whylen)
{
    char w[160];
    int rc;

    if (!json_is_object(res)) {
        say(why, whylen, "%s.resources must be a mapping", where);
        return JP_EINVAL;
    }
    snprintf(w, sizeof w, "%s.resources", where);
    if ((rc = check_keys(res, RESOURCE_KEYS, w, why, whylen)))
        return rc;
    json_t *req = json_object_get(res, "requests"), *lim = json_object_get(res, "limits");
    snprintf(w, sizeof w, "%s.resources.requests", where);
    if (req && (rc = stringify_map(req, w, why, whylen)))
        return rc;
    snprintf(w, sizeof w, "%s.resources.limits", where);
    if (lim && (rc = stringify_map(lim, w, why, whylen)))
        return rc;

    const char *k;
    json_t *v;
    json_object_foreach(req, k, v)
    {
        if (!is_extended_resource(k))
            continue;
        json_t *l = json_object_get(lim, k);
        if (!l) {
            say(why, whylen,
                "%s.resources: %s is set in requests only; extended resources such as GPUs go "
                "in limits (requests may be left out or must equal the limit)",
                where, k);
            return JP_EINVAL;
        }
        if (strcmp(json_string_value(l), json_string_value(v))) {
            say(why, whylen, "%s.resources: %s request (%s) must equal its limit (%s)", where, k,
                json_string_value(v), json_string_value(l));
            return JP_EINVAL;
        }
    }
    *gpus = 0;
    *gpu_res = NULL;
    json_object_foreach(lim, k, v)
    {
        if (!is_extended_resource(k))
            continue;
        long long n = whole(v);
        if (n < 0) {
            say(why, whylen, "%s.resources.limits.%s must be a whole number, not '%s'", where, k,
                json_string_value(v));
            return JP_EINVAL;
        }
        if (!*gpu_res && is_gpu_resource(k) && n > 0) {
            *gpu_res = k;
            *gpus = (int)n;
        }
    }
    return 0;
}

static int check_label_map(json_t *m, int values_too, const char *where, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    int rc;

    if ((rc = stringify_map(m, where, why, whylen)))
        return rc;
    json_object_foreach(m, k, v)
    {
        if (!k8s_label_key_ok(k)) {
            say(why, whylen, "%s: '%s' is not a valid label/annotation key", where, k);
            return JP_EINVAL;
        }
        if (values_too && !k8s_label_value_ok(json_string_value(v))) {
            say(why, whylen,
                "%s: '%s' is not a valid label value for %s (at most 63 characters of "
                "[A-Za-z0-9_.-], alphanumeric at both ends)",
                where, json_string_value(v), k);
            return JP_EINVAL;
        }
    }
    return 0;
}

static int env_name_ok(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("-._", *s)))
            return 0;
    return 1;
}

/* relative, no "..", no absolute; 1 if ok */
static int rel_path_ok(const char *s)
{
    if (s[0] == '/')
        return 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

static int int_in(const json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int validate(json_t *eff, const char *where, struct profile *pr, char *why, size_t whylen)
{
    char w[160];
    int rc;
    json_t *v;

    if ((rc = check_keys(eff, SETTING_KEYS, where, why, whylen)))
        return rc;
    v = json_object_get(eff, "image");
    if (!json_is_string(v) || !json_string_length(v)) {
        say(why, whylen, "%s: image is not set", where);
        return JP_EINVAL;
    }
    v = json_object_get(eff, "image_pull_policy");
    if (!json_is_string(v) ||
        (strcmp(json_string_value(v), "Always") && strcmp(json_string_value(v), "IfNotPresent") &&
         strcmp(json_string_value(v), "Never"))) {
        say(why, whylen, "%s: image_pull_policy must be Always, IfNotPresent or Never", where);
        return JP_EINVAL;
    }
    /* image_pull_secrets: names or {name: x} */
    v = json_object_get(eff, "image_pull_secrets");
    if (!json_is_array(v)) {
        say(why, whylen, "%s: image_pull_secrets must be a list", where);
        return JP_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (json_is_object(e))
            json_array_set(v, i, json_object_get(e, "name"));
        e = json_array_get(v, i);
        if (!json_is_string(e) || !k8s_dns1123_subdomain_ok(json_string_value(e))) {
            say(why, whylen, "%s: image_pull_secrets[%zu] is not a Secret name", where, i);
            return JP_EINVAL;
        }
    }
    snprintf(w, sizeof w, "%s.command", where);
    if ((rc = string_list(json_object_get(eff, "command"), 1, w, why, whylen)))
        return rc;
    snprintf(w, sizeof w, "%s.args", where);
    if ((rc = string_list(json_object_get(eff, "args"), 0, w, why, whylen)))
        return rc;
    const char *gres = NULL;
    if ((rc = check_resources(json_object_get(eff, "resources"), where, &pr->gpus, &gres, why,
                              whylen)))
        return rc;
    if (gres && !(pr->gpu_resource = strdup(gres)))
        return JP_ENOMEM;
    snprintf(w, sizeof w, "%s.node_selector", where);
    if ((rc = check_label_map(json_object_get(eff, "node_selector"), 1, w, why, whylen)))
        return rc;
    snprintf(w, sizeof w, "%s.labels", where);
    if ((rc = check_label_map(json_object_get(eff, "labels"), 1, w, why, whylen)))
        return rc;
    snprintf(w, sizeof w, "%s.annotations", where);
    if ((rc = check_label_map(json_object_get(eff, "annotations"), 0, w, why, whylen)))
        return rc;
    v = json_object_get(eff, "tolerations");
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        if (!json_is_object(json_array_get(v, i))) {
            say(why, whylen, "%s: tolerations[%zu] must be a mapping", where, i);
            return JP_EINVAL;
        }
    if (!json_is_array(v)) {
        say(why, whylen, "%s: tolerations must be a list", where);
        return JP_EINVAL;
    }
    if (!json_is_object(json_object_get(eff, "affinity"))) {
        say(why, whylen, "%s: affinity must be a mapping", where);
        return JP_EINVAL;
    }
    v = json_object_get(eff, "priority_class_name");
    if (v && (!json_is_string(v) || !k8s_dns1123_subdomain_ok(json_string_value(v)))) {
        say(why, whylen, "%s: priority_class_name must be a PriorityClass name", where);
        return JP_EINVAL;
    }

    /* env: scalars -> strings; mappings are EnvVar bodies (valueFrom) */
    json_t *env = json_object_get(eff, "env");
    const char *k;
    if (!json_is_object(env)) {
        say(why, whylen, "%s: env must be a mapping", where);
        return JP_EINVAL;
    }
    json_object_foreach(env, k, v)
    {
        if (!env_name_ok(k) || in_list(RESERVED_ENV, k)) {
            say(why, whylen, "%s: env name '%s' is %s", where, k,
                env_name_ok(k) ? "reserved for cnote" : "not valid");
            return JP_EINVAL;
        }
        if (json_is_object(v)) {
            if (!json_is_object(json_object_get(v, "valueFrom")) &&
                !json_is_string(json_object_get(v, "value"))) {
                say(why, whylen, "%s: env %s must be a scalar or {valueFrom: ...}", where, k);
                return JP_EINVAL;
            }
            continue;
        }
        json_t *s = as_string(v);
        if (!s) {
            say(why, whylen, "%s: env %s must be a scalar or {valueFrom: ...}", where, k);
            return JP_EINVAL;
        }
        json_object_set_new(env, k, s);
    }

    json_t *st = json_object_get(eff, "storage");
    if (!json_is_null(st)) {
        snprintf(w, sizeof w, "%s.storage", where);
        if (!json_is_object(st)) {
            say(why, whylen, "%s must be a mapping or null", w);
            return JP_EINVAL;
        }
        if ((rc = check_keys(st, STORAGE_KEYS, w, why, whylen)))
            return rc;
        const char *cn = json_string_value(json_object_get(st, "claim_name"));
        const char *mp = json_string_value(json_object_get(st, "mount_path"));
        const char *sp = json_string_value(json_object_get(st, "sub_path"));
        if (!cn || !k8s_dns1123_subdomain_ok(cn)) {
            say(why, whylen, "%s.claim_name must be a PersistentVolumeClaim name", w);
            return JP_EINVAL;
        }
        if (!mp || mp[0] != '/' || !rel_path_ok(mp + 1)) {
            say(why, whylen, "%s.mount_path must be an absolute path without '..'", w);
            return JP_EINVAL;
        }
        if (!sp || !rel_path_ok(sp)) {
            say(why, whylen, "%s.sub_path must be a relative path without '..'", w);
            return JP_EINVAL;
        }
        for (const char *b = strchr(sp, '{'); b; b = strchr(b + 1, '{'))
            if (strncmp(b, "{user}", 6)) {
                say(why, whylen, "%s.sub_path: only the {user} placeholder is known", w);
                return JP_EINVAL;
            }
    }

    json_t *sec = json_object_get(eff, "security");
    snprintf(w, sizeof w, "%s.security", where);
    if (!json_is_object(sec) || (rc = check_keys(sec, SECURITY_KEYS, w, why, whylen))) {
        if (!json_is_object(sec))
            say(why, whylen, "%s must be a mapping", w);
        return JP_EINVAL;
    }
    if (!int_in(json_object_get(sec, "run_as_user"), 1, 2147483647) ||
        !int_in(json_object_get(sec, "run_as_group"), 0, 2147483647) ||
        !int_in(json_object_get(sec, "fs_group"), 0, 2147483647)) {
        say(why, whylen, "%s: run_as_user must be a non-root uid (> 0), groups ids >= 0", w);
        return JP_EINVAL;
    }
    if (!int_in(json_object_get(eff, "termination_grace_s"), 0, 3600)) {
        say(why, whylen, "%s: termination_grace_s must be 0..3600", where);
        return JP_EINVAL;
    }
    json_t *to = json_object_get(eff, "timeouts");
    snprintf(w, sizeof w, "%s.timeouts", where);
    if (!json_is_object(to) || (rc = check_keys(to, TIMEOUT_KEYS, w, why, whylen))) {
        if (!json_is_object(to))
            say(why, whylen, "%s must be a mapping", w);
        return JP_EINVAL;
    }
    for (const char *const *t = TIMEOUT_KEYS; *t; t++)
        if (!int_in(json_object_get(to, *t), 1, 86400)) {
            say(why, whylen, "%s.%s must be 1..86400 seconds", w, *t);
            return JP_EINVAL;
        }
    json_t *po = json_object_get(eff, "ports");
    snprintf(w, sizeof w, "%s.ports", where);
    if (!json_is_object(po) || (rc = check_keys(po, PORT_KEYS, w, why, whylen))) {
        if (!json_is_object(po))
            say(why, whylen, "%s must be a mapping", w);
        return JP_EINVAL;
    }
    for (const char *const *t = PORT_KEYS; *t; t++) {
        if (!int_in(json_object_get(po, *t), 1, 65535)) {
            say(why, whylen, "%s.%s must be 1..65535", w, *t);
            return JP_EINVAL;
        }
        for (const char *const *u = PORT_KEYS; u < t; u++)
            if (json_integer_value(json_object_get(po, *u)) ==
                json_integer_value(json_object_get(po, *t))) {
                say(why, whylen, "%s: %s and %s are the same port", w, *u, *t);
                return JP_EINVAL;
            }
    }
    return 0;
}

void k8s_profiles_free(struct k8s_profiles *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].slug);
        free(p->v[i].display_name);
        free(p->v[i].description);
        free(p->v[i].gpu_resource);
        json_decref(p->v[i].eff);
    }
    free(p->v);
    free(p->namespace);
    free(p);
}

static int build_profile(struct profile *pr, const json_t *base, const json_t *entry,
                         const json_t *defaults, size_t index, char *why, size_t whylen)
{
    char where[160];
    int rc;

    if (entry) {
        snprintf(where, sizeof where, "profiles[%zu]", index);
        if (!json_is_object(entry)) {
            say(why, whylen, "%s must be a mapping", where);
            return JP_EINVAL;
        }
        if ((rc = check_keys(entry, PROFILE_KEYS, where, why, whylen)))
            return rc;
        json_t *slug = json_object_get(entry, "slug");
        if (!json_is_string(slug) || !k8s_dns1123_label_ok(json_string_value(slug))) {
            say(why, whylen,
                "%s: slug must be a DNS-1123 label (lower-case alphanumerics and '-', at most "
                "63)",
                where);
            return JP_EINVAL;
        }
        snprintf(where, sizeof where, "profile '%s'", json_string_value(slug));
        json_t *dn = json_object_get(entry, "display_name");
        json_t *de = json_object_get(entry, "description");
        json_t *df = json_object_get(entry, "default");
        json_t *ov = json_object_get(entry, "override");
        if ((dn && !json_is_string(dn) && !json_is_null(dn)) ||
            (de && !json_is_string(de) && !json_is_null(de)) ||
            (df && !json_is_boolean(df) && !json_is_null(df)) ||
            (ov && !json_is_object(ov) && !json_is_null(ov))) {
            say(why, whylen,
                "%s: display_name and description must be strings, default a boolean, "
                "override a mapping",
                where);
            return JP_EINVAL;
        }
        pr->slug = strdup(json_string_value(slug));
        pr->display_name =
            strdup(json_is_string(dn) ? json_string_value(dn) : json_string_value(slug));
        pr->description = strdup(json_is_string(de) ? json_string_value(de) : "");
        pr->is_default = json_is_true(df);
        pr->eff = json_deep_copy(base);
        if (!pr->slug || !pr->display_name || !pr->description || !pr->eff)
            return JP_ENOMEM;
        if (json_is_object(ov)) {
            if ((rc = check_keys(ov, SETTING_KEYS, where, why, whylen)))
                return rc;
            if (merge(pr->eff, ov))
                return JP_ENOMEM;
        }
    } else {
        snprintf(where, sizeof where, "profile 'default'");
        pr->slug = strdup("default");
        pr->display_name = strdup("Default");
        pr->description = strdup("");
        pr->is_default = 1;
        pr->eff = json_deep_copy(base);
        if (!pr->slug || !pr->display_name || !pr->description || !pr->eff)
            return JP_ENOMEM;
    }
    if (fill_defaults(pr->eff, defaults))
        return JP_ENOMEM;
    json_t *st = json_incref(json_object_get(pr->eff, "storage"));
    strip_nulls(pr->eff);
    if (json_is_null(st))
        json_object_set(pr->eff, "storage", st);
    json_decref(st);
    return validate(pr->eff, where, pr, why, whylen);
}

struct k8s_profiles *k8s_profiles_from_json(const json_t *cfg, char *why, size_t whylen)
{
    struct k8s_profiles *p = NULL;
    json_t *base = NULL, *defaults = NULL;
    int rc = JP_ENOMEM;

    if (why && whylen)
        why[0] = '\0';
    if (!json_is_object(cfg)) {
        say(why, whylen, "the kernel profiles configuration must be a mapping");
        return NULL;
    }
    json_t *ns = json_object_get(cfg, "namespace");
    json_t *list = json_object_get(cfg, "profiles");
    if (ns && !json_is_null(ns) &&
        (!json_is_string(ns) || !k8s_dns1123_label_ok(json_string_value(ns)))) {
        say(why, whylen, "namespace must be a DNS-1123 label");
        return NULL;
    }
    if (list && !json_is_null(list) && !json_is_array(list)) {
        say(why, whylen, "profiles must be a list");
        return NULL;
    }
    base = json_deep_copy(cfg);
    defaults = json_loads(DEFAULTS, 0, NULL);
    p = calloc(1, sizeof *p);
    if (!base || !defaults || !p)
        goto out;
    json_object_del(base, "namespace");
    json_object_del(base, "profiles");
    p->warm_max_gpus = -1;
    json_t *wmg = json_object_get(base, "warm_pool_max_gpus");
    if (wmg) {
        if (!json_is_integer(wmg) || json_integer_value(wmg) < 0 ||
            json_integer_value(wmg) > 100000) {
            say(why, whylen, "warm_pool_max_gpus must be a non-negative integer");
            rc = JP_EINVAL;
            goto out;
        }
        p->warm_max_gpus = (int)json_integer_value(wmg);
        json_object_del(base, "warm_pool_max_gpus");
    }
    if ((rc = check_keys(base, SETTING_KEYS, "top level", why, whylen))) {
        /* say which keys the top level allows besides the settings */
        size_t l = why ? strlen(why) : 0;
        if (why && l + 1 < whylen && l > 0 && why[l - 1] == ')')
            snprintf(why + l - 1, whylen - l + 1, ", namespace, profiles)");
        goto out;
    }
    if (json_is_string(ns) && !(p->namespace = strdup(json_string_value(ns)))) {
        rc = JP_ENOMEM;
        goto out;
    }
    size_t n = json_array_size(list);
    p->v = calloc(n ? n : 1, sizeof *p->v);
    if (!p->v) {
        rc = JP_ENOMEM;
        goto out;
    }
    if (n == 0) {
        p->n = 1;
        if ((rc = build_profile(&p->v[0], base, NULL, defaults, 0, why, whylen)))
            goto out;
    }
    int have_default = 0;
    for (size_t i = 0; i < n; i++) {
        p->n = i + 1;
        if ((rc = build_profile(&p->v[i], base, json_array_get(list, i), defaults, i, why, whylen)))
            goto out;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->v[j].slug, p->v[i].slug)) {
                say(why, whylen, "profiles: slug '%s' is used twice", p->v[i].slug);
                rc = JP_EINVAL;
                goto out;
            }
        if (p->v[i].is_default) {
            if (have_default) {
                say(why, whylen, "profiles: more than one default ('%s' and '%s')",
                    p->v[p->def].slug, p->v[i].slug);
                rc = JP_EINVAL;
                goto out;
            }
            have_default = 1;
            p->def = i;
        }
    }
    if (n > 0 && !have_default)
        p->v[0].is_default = 1;
    rc = 0;
out:
    if (rc == JP_ENOMEM && why && whylen && !why[0])
        say(why, whylen, "out of memory");
    json_decref(base);
    json_decref(defaults);
    if (rc) {
        k8s_profiles_free(p);
        return NULL;
    }
    return p;
}

struct k8s_profiles *k8s_profiles_load(const char *path, char *why, size_t whylen)
{
    char inner[512];
    json_t *cfg = k8s_yaml_load_file(path, why, whylen);
    if (!cfg)
        return NULL;
    struct k8s_profiles *p = k8s_profiles_from_json(cfg, inner, sizeof inner);
    json_decref(cfg);
    if (!p)
        say(why, whylen, "%s: %s", path, inner);
    return p;
}

json_t *k8s_profiles_list(const struct k8s_profiles *p)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < p->n; i++) {
        const struct profile *pr = &p->v[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:i, s:o}", "slug", pr->slug, "display_name",
                              pr->display_name, "description", pr->description, "default",
                              pr->is_default, "gpus", pr->gpus, "gpu_resource",
                              pr->gpu_resource ? json_string(pr->gpu_resource) : json_null());
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

const char *k8s_profiles_namespace(const struct k8s_profiles *p)
{
    return p->namespace;
}

static const struct profile *find(const struct k8s_profiles *p, const char *slug)
{
    if (!slug || !*slug)
        return &p->v[p->def];
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].slug, slug))
            return &p->v[i];
    return NULL;
}

const char *k8s_profiles_resolve(const struct k8s_profiles *p, const char *slug, char *why,
                                 size_t whylen)
{
    const struct profile *pr = find(p, slug);
    if (pr)
        return pr->slug;
    if (why && whylen) {
        snprintf(why, whylen, "unknown profile '%s' (valid: ", slug);
        for (size_t i = 0; i < p->n; i++) {
            size_t l = strlen(why);
            snprintf(why + l, whylen - l, "%s%s", i ? ", " : "", p->v[i].slug);
        }
        size_t l = strlen(why);
        snprintf(why + l, whylen - l, ")");
    }
    return NULL;
}

const json_t *k8s_profiles_effective(const struct k8s_profiles *p, const char *slug)
{
    const struct profile *pr = find(p, slug);
    return pr ? pr->eff : NULL;
}

static int geti(const json_t *o, const char *block, const char *key)
{
    return (int)json_integer_value(json_object_get(json_object_get(o, block), key));
}

int k8s_profiles_warm(const struct k8s_profiles *p, const char *slug)
{
    const struct profile *pr = p ? find(p, slug) : NULL;
    const json_t *v = pr ? json_object_get(pr->eff, "warm_pool") : NULL;
    return json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 100
               ? (int)json_integer_value(v)
               : 0;
}

int k8s_profiles_warm_max_gpus(const struct k8s_profiles *p)
{
    return p ? p->warm_max_gpus : -1;
}

int k8s_profiles_gpus(const struct k8s_profiles *p, const char *slug)
{
    const struct profile *pr = p ? find(p, slug) : NULL;
    return pr ? pr->gpus : 0;
}

const char *k8s_profiles_slug_at(const struct k8s_profiles *p, size_t i)
{
    return p && i < p->n ? p->v[i].slug : NULL;
}

struct k8s_timeouts k8s_profiles_timeouts(const struct k8s_profiles *p, const char *slug)
{
    const struct profile *pr = find(p, slug);
    if (!pr)
        pr = &p->v[p->def];
    struct k8s_timeouts t = {
        geti(pr->eff, "timeouts", "schedule_s"), geti(pr->eff, "timeouts", "pull_s"),
        geti(pr->eff, "timeouts", "ready_s"), geti(pr->eff, "timeouts", "delete_s")};
    return t;
}

struct k8s_ports k8s_profiles_ports(const struct k8s_profiles *p, const char *slug)
{
    struct k8s_ports d = {50001, 50002, 50003, 50004, 50005};
    if (!p)
        return d;
    const struct profile *pr = find(p, slug);
    if (!pr)
        pr = &p->v[p->def];
    struct k8s_ports t = {geti(pr->eff, "ports", "shell"), geti(pr->eff, "ports", "iopub"),
                          geti(pr->eff, "ports", "stdin"), geti(pr->eff, "ports", "control"),
                          geti(pr->eff, "ports", "hb")};
    return t;
}

/* ---- builders -------------------------------------------------------------------------- */

static void params_ports(const struct k8s_profiles *p, const struct k8s_pod_params *a,
                         struct k8s_ports *out)
{
    *out = k8s_profiles_ports(p, a->profile);
    if (a->shell_port > 0)
        out->shell = a->shell_port;
    if (a->iopub_port > 0)
        out->iopub = a->iopub_port;
    if (a->stdin_port > 0)
        out->stdin_port = a->stdin_port;
    if (a->control_port > 0)
        out->control = a->control_port;
    if (a->hb_port > 0)
        out->hb = a->hb_port;
}

/* the cnote labels every kernel object carries; NULL on bad input (why) or no memory */
static json_t *base_labels(const struct k8s_pod_params *a, char *why, size_t whylen)
{
    char slug[K8S_SLUG_MAX + 1];

    if (!a->kernel_id || !k8s_label_value_ok(a->kernel_id) || !*a->kernel_id) {
        say(why, whylen, "kernel id '%s' is not a valid label value",
            a->kernel_id ? a->kernel_id : "(null)");
        return NULL;
    }
    if (!a->instance || !*a->instance || !k8s_label_value_ok(a->instance)) {
        say(why, whylen,
            "server instance id '%s' is not a valid label value (at most 63 characters of "
            "[A-Za-z0-9_.-], alphanumeric at both ends)",
            a->instance ? a->instance : "(null)");
        return NULL;
    }
    if (!a->user || k8s_slug(a->user, slug, sizeof slug) < 0) {
        say(why, whylen, "no user name");
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "app.kubernetes.io/name", "cnote-kernel",
                     "app.kubernetes.io/managed-by", "cnote", "app.kubernetes.io/component",
                     "kernel", "cnote.io/kernel-id", a->kernel_id, "cnote.io/instance", a->instance,
                     "cnote.io/user", slug);
}

/* "a//b/./c/" -> "a/b/c"; NULL when escaping ("..") or absolute (why set) */
static char *normalize_rel(const char *rel, char *why, size_t whylen)
{
    size_t n = strlen(rel);
    char *out = malloc(n + 1), *o = out;
    const char *p = rel;

    if (!out)
        return NULL;
    if (rel[0] == '/') {
        say(why, whylen, "working directory '%s' must be relative to the user's root", rel);
        free(out);
        return NULL;
    }
    while (*p) {
        size_t seg = strcspn(p, "/");
        if (seg == 2 && p[0] == '.' && p[1] == '.') {
            say(why, whylen, "working directory '%s' escapes the user's root", rel);
            free(out);
            return NULL;
        }
        if (seg > 0 && !(seg == 1 && p[0] == '.')) {
            if (o > out)
                *o++ = '/';
            memcpy(o, p, seg);
            o += seg;
        }
        p += seg;
        if (*p == '/')
            p++;
    }
    *o = '\0';
    return out;
}

static json_t *port_entry(const char *name, int port)
{
    return json_pack("{s:s, s:i, s:s}", "name", name, "containerPort", port, "protocol", "TCP");
}

/* config env (sorted by name) appended to arr */
static int add_env(json_t *arr, const json_t *env)
{
    size_t n = json_object_size(env), i = 0;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    const char *k;
    json_t *v;

    if (!names)
        return JP_ENOMEM;
    json_object_foreach((json_t *)env, k, v) names[i++] = k;
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
            const char *t = names[b];
            names[b] = names[b - 1];
            names[b - 1] = t;
        }
    int rc = 0;
    for (i = 0; i < n && !rc; i++) {
        v = json_object_get(env, names[i]);
        json_t *e;
        if (json_is_object(v)) {
            e = json_deep_copy(v);
            if (e && json_object_set_new(e, "name", json_string(names[i]))) {
                json_decref(e);
                e = NULL;
            }
            /* put name first for readability: rebuild */
            if (e) {
                json_t *o = json_pack("{s:s}", "name", names[i]);
                if (o)
                    json_object_update(o, e);
                json_decref(e);
                e = o;
            }
        } else {
            e = json_pack("{s:s, s:O}", "name", names[i], "value", v);
        }
        if (!e || json_array_append_new(arr, e))
            rc = JP_ENOMEM;
    }
    free(names);
    return rc;
}

static char *sub_path_for(const char *tmpl, const char *slug)
{
    size_t n = 0, sl = strlen(slug);
    for (const char *t = tmpl; *t;)
        if (!strncmp(t, "{user}", 6)) {
            n += sl;
            t += 6;
        } else {
            n++;
            t++;
        }
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *t = tmpl; *t;)
        if (!strncmp(t, "{user}", 6)) {
            memcpy(o, slug, sl);
            o += sl;
            t += 6;
        } else {
            *o++ = *t++;
        }
    *o = '\0';
    return out;
}

int k8s_pod_make(const struct k8s_profiles *p, const struct k8s_pod_params *a, json_t **out,
                 char *why, size_t whylen)
{
    json_t *pod = NULL, *labels = NULL, *annotations = NULL;
    char *rel = NULL, *subpath = NULL;
    char slug[K8S_SLUG_MAX + 1];
    int rc = JP_EINVAL;

    if (why && whylen)
        why[0] = '\0';
    if (!out || !p || !a)
        return JP_EINVAL;
    *out = NULL;
    const struct profile *pr = find(p, a->profile);
    if (!pr) {
        k8s_profiles_resolve(p, a->profile, why, whylen);
        return JP_ENOENT;
    }
    const json_t *eff = pr->eff;
    if (!a->pod_name || !k8s_dns1123_subdomain_ok(a->pod_name)) {
        say(why, whylen, "pod name '%s' is not a DNS-1123 subdomain",
            a->pod_name ? a->pod_name : "(null)");
        return JP_EINVAL;
    }
    if (!a->secret_name || !k8s_dns1123_subdomain_ok(a->secret_name)) {
        say(why, whylen, "secret name '%s' is not a DNS-1123 subdomain",
            a->secret_name ? a->secret_name : "(null)");
        return JP_EINVAL;
    }
    const char *ns = a->namespace ? a->namespace : p->namespace;
    if (ns && !k8s_dns1123_label_ok(ns)) {
        say(why, whylen, "namespace '%s' is not a DNS-1123 label", ns);
        return JP_EINVAL;
    }
    json_t *ours = base_labels(a, why, whylen);
    if (!ours)
        return why && why[0] ? JP_EINVAL : JP_ENOMEM;
    k8s_slug(a->user, slug, sizeof slug);
    if (!(rel = normalize_rel(a->workdir_rel ? a->workdir_rel : "", why, whylen))) {
        rc = why && why[0] ? JP_EINVAL : JP_ENOMEM;
        goto out;
    }
    struct k8s_ports ports;
    params_ports(p, a, &ports);

    rc = JP_ENOMEM;
    labels = json_deep_copy(json_object_get(eff, "labels"));
    annotations = json_deep_copy(json_object_get(eff, "annotations"));
    if (!labels || !annotations || json_object_update(labels, ours) ||
        json_object_set_new(labels, "cnote.io/profile", json_string(pr->slug)) ||
        json_object_set_new(annotations, "cnote.io/user", json_string(a->user)) ||
        json_object_set_new(annotations, "cluster-autoscaler.kubernetes.io/safe-to-evict",
                            json_string("false")))
        goto out;
    if (a->kernel_name &&
        json_object_set_new(annotations, "cnote.io/kernel-name", json_string(a->kernel_name)))
        goto out;

    json_t *meta = json_pack("{s:s}", "name", a->pod_name);
    if (!meta)
        goto out;
    if (ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    json_object_set(meta, "labels", labels);
    json_object_set(meta, "annotations", annotations);

    const json_t *sec = json_object_get(eff, "security");
    json_t *spec = json_pack(
        "{s:s, s:b, s:b, s:I, s:{s:b, s:O, s:O, s:O, s:{s:s}}}", "restartPolicy", "Never",
        "automountServiceAccountToken", 0, "enableServiceLinks", 0, "terminationGracePeriodSeconds",
        (json_int_t)json_integer_value(json_object_get(eff, "termination_grace_s")),
        "securityContext", "runAsNonRoot", 1, "runAsUser", json_object_get(sec, "run_as_user"),
        "runAsGroup", json_object_get(sec, "run_as_group"), "fsGroup",
        json_object_get(sec, "fs_group"), "seccompProfile", "type", "RuntimeDefault");
    pod = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", meta,
                    "spec", spec);
    if (!pod)
        goto out;

    json_t *ips = json_object_get(eff, "image_pull_secrets");
    if (json_array_size(ips) > 0) {
        json_t *arr = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(ips, i, v) json_array_append_new(arr, json_pack("{s:O}", "name", v));
        json_object_set_new(spec, "imagePullSecrets", arr);
    }
    if (json_object_size(json_object_get(eff, "node_selector")))
        json_object_set_new(spec, "nodeSelector",
                            json_deep_copy(json_object_get(eff, "node_selector")));
    if (json_array_size(json_object_get(eff, "tolerations")))
        json_object_set_new(spec, "tolerations",
                            json_deep_copy(json_object_get(eff, "tolerations")));
    if (json_object_size(json_object_get(eff, "affinity")))
        json_object_set_new(spec, "affinity", json_deep_copy(json_object_get(eff, "affinity")));
    if (json_object_get(eff, "priority_class_name"))
        json_object_set(spec, "priorityClassName", json_object_get(eff, "priority_class_name"));

    /* the container */
    json_t *env =
        json_pack("[{s:s, s:{s:{s:s, s:s}}}, {s:s, s:{s:{s:s}}}, {s:s, s:s}]", "name",
                  "CNOTE_CONNECTION", "valueFrom", "secretKeyRef", "name", a->secret_name, "key",
                  "connection.json", "name", "CNOTE_POD_IP", "valueFrom", "fieldRef", "fieldPath",
                  "status.podIP", "name", "CNOTE_KERNEL_ID", "value", a->kernel_id);
    if (!env || add_env(env, json_object_get(eff, "env"))) {
        json_decref(env);
        goto out;
    }
    json_t *cports =
        json_pack("[o, o, o, o, o]", port_entry("shell", ports.shell),
                  port_entry("iopub", ports.iopub), port_entry("stdin", ports.stdin_port),
                  port_entry("control", ports.control), port_entry("hb", ports.hb));
    json_t *resources = json_object();
    const json_t *res = json_object_get(eff, "resources");
    if (resources && json_object_size(json_object_get(res, "requests")))
        json_object_set_new(resources, "requests",
                            json_deep_copy(json_object_get(res, "requests")));
    if (resources && json_object_size(json_object_get(res, "limits")))
        json_object_set_new(resources, "limits", json_deep_copy(json_object_get(res, "limits")));
    json_t *c =
        json_pack("{s:s, s:O, s:O, s:O, s:o, s:o, s:o, s:{s:{s:i}, s:i}, s:{s:b, s:{s:[s]}}}",
                  "name", "kernel", "image", json_object_get(eff, "image"), "imagePullPolicy",
                  json_object_get(eff, "image_pull_policy"), "command",
                  json_object_get(eff, "command"), "env", env, "ports", cports, "resources",
                  resources, "readinessProbe", "tcpSocket", "port", ports.shell, "periodSeconds", 1,
                  "securityContext", "allowPrivilegeEscalation", 0, "capabilities", "drop", "ALL");
    if (!c || json_object_set_new(spec, "containers", json_pack("[o]", c)))
        goto out;
    if (json_array_size(json_object_get(eff, "args")))
        json_object_set(c, "args", json_object_get(eff, "args"));

    const json_t *st = json_object_get(eff, "storage");
    if (json_is_object(st)) {
        const char *mp = json_string_value(json_object_get(st, "mount_path"));
        size_t ml = strlen(mp);
        while (ml > 1 && mp[ml - 1] == '/')
            ml--;
        size_t wl = ml + strlen(rel) + 2;
        char *wd = malloc(wl);
        if (!wd)
            goto out;
        if (*rel)
            snprintf(wd, wl, "%.*s/%s", (int)ml, mp, rel);
        else
            snprintf(wd, wl, "%.*s", (int)ml, mp);
        json_object_set_new(c, "workingDir", json_string(wd));
        subpath = sub_path_for(json_string_value(json_object_get(st, "sub_path")), slug);
        if (!subpath) {
            free(wd);
            goto out;
        }
        json_t *vm = json_pack("{s:s, s:s#}", "name", "notebooks", "mountPath", mp, (int)ml);
        free(wd);
        if (vm && *subpath)
            json_object_set_new(vm, "subPath", json_string(subpath));
        json_object_set_new(c, "volumeMounts", json_pack("[o]", vm));
        json_object_set_new(spec, "volumes",
                            json_pack("[{s:s, s:{s:O}}]", "name", "notebooks",
                                      "persistentVolumeClaim", "claimName",
                                      json_object_get(st, "claim_name")));
        if (!json_object_get(spec, "volumes") || !json_object_get(c, "volumeMounts"))
            goto out;
    }
    *out = pod;
    pod = NULL;
    rc = 0;
out:
    if (rc == JP_ENOMEM && why && whylen && !why[0])
        say(why, whylen, "out of memory");
    json_decref(ours);
    json_decref(labels);
    json_decref(annotations);
    json_decref(pod);
    free(rel);
    free(subpath);
    return rc;
}

json_t *k8s_pod_build(const struct k8s_profiles *p, const struct k8s_pod_params *params, char *why,
                      size_t whylen)
{
    json_t *pod = NULL;
    k8s_pod_make(p, params, &pod, why, whylen);
    return pod;
}

json_t *k8s_secret_build(const struct k8s_pod_params *a, const char *namespace,
                         const char *connection_json)
{
    if (!a || !connection_json || !a->secret_name || !k8s_dns1123_subdomain_ok(a->secret_name))
        return NULL;
    json_t *labels = base_labels(a, NULL, 0);
    char *b64 = k8s_base64_encode(connection_json, strlen(connection_json));
    json_t *s = NULL;
    if (labels && b64) {
        s = json_pack("{s:s, s:s, s:{s:s, s:O}, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                      "Secret", "metadata", "name", a->secret_name, "labels", labels, "type",
                      "Opaque", "data", "connection.json", b64);
        if (s && namespace)
            json_object_set_new(json_object_get(s, "metadata"), "namespace",
                                json_string(namespace));
    }
    json_decref(labels);
    free(b64);
    return s;
}

char *k8s_conn_json(const struct k8s_profiles *p, const struct k8s_pod_params *params,
                    const char *key)
{
    struct k8s_ports ports;

    if (!params || !key)
        return NULL;
    params_ports(p, params, &ports);
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:s}", "shell_port",
                          ports.shell, "iopub_port", ports.iopub, "stdin_port", ports.stdin_port,
                          "control_port", ports.control, "hb_port", ports.hb, "ip", "0.0.0.0",
                          "key", key, "transport", "tcp", "signature_scheme", "hmac-sha256",
                          "kernel_name", params->kernel_name ? params->kernel_name : "");
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
