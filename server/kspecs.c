/*
 * kspecs.c - kernelspec discovery (see kspecs.h). Walks the Jupyter data directories in
 * jupyter_core's order (JUPYTER_PATH entries, the user data dir, the caller's prefixes, then
 * /usr/local/share/jupyter and /usr/share/jupyter), loads every <dir>/kernels/<name>/kernel.json
 * whose directory name is a valid kernel name, keeps the first spec found for each lower-cased
 * name, and builds the KernelSpecModel of Jupyter Server's /api/kernelspecs (spec fields as
 * jupyter_client's KernelSpec.to_dict writes them, resources as kernelspec_model lists them).
 * It does not watch directories (the caller rescans), serve files or start processes; it only
 * resolves a resource name to a path inside the spec's directory. Called by the kernel manager
 * and the kernelspecs HTTP service.
 */
#include "kspecs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "jp_buf.h"
#include "jp_err.h"
#include "jp_log.h"

#define KSPEC_NAME_MAX 127
#define KSPEC_PATH_MAX 4096

static int name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* jupyter_client's _kernel_name_pat: ASCII letters, digits, '.', '_', '-'. */
static int kernel_name_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!name_char_ok(s[n]))
            return 0;
    return n > 0 && n <= KSPEC_NAME_MAX;
}

/* A plain file name in a directory: no separator, no leading dot (so neither "." nor ".."
 * nor hidden files), only the characters kernel names use, so it can also go into a URL
 * unescaped. */
static int file_name_ok(const char *s)
{
    size_t n = 0;

    if (!s || s[0] == '.')
        return 0;
    for (; s[n]; n++)
        if (!name_char_ok(s[n]))
            return 0;
    return n > 0 && n <= 255;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A string field that must be a string when present. */
static int opt_string(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return !v || json_is_string(v);
}

/* Validate kernel.json the way jupyter_client's KernelSpec traits would, and build the dict
 * of KernelSpec.to_dict: argv, env, display_name, language, interrupt_mode, metadata and
 * kernel_protocol_version when set. NULL (with why) when it is not a usable spec. */
static json_t *spec_normalize(const json_t *raw, const char **why)
{
    const json_t *argv = json_object_get(raw, "argv");
    const json_t *env = json_object_get(raw, "env");
    const json_t *meta = json_object_get(raw, "metadata");
    const json_t *mode = json_object_get(raw, "interrupt_mode");
    const json_t *kpv = json_object_get(raw, "kernel_protocol_version");
    const char *key;
    json_t *v, *out;
    size_t i;

    if (!json_is_object(raw)) {
        *why = "not a JSON object";
        return NULL;
    }
    if (!json_is_array(argv) || json_array_size(argv) == 0) {
        *why = "argv is not a non-empty array";
        return NULL;
    }
    json_array_foreach(argv, i, v)
    {
        if (!json_is_string(v)) {
            *why = "argv holds a non-string";
            return NULL;
        }
    }
    if (!json_is_string(json_object_get(raw, "display_name"))) {
        *why = "display_name is missing or not a string";
        return NULL;
    }
    if (!opt_string(raw, "language") || !opt_string(raw, "kernel_protocol_version")) {
        *why = "language or kernel_protocol_version is not a string";
        return NULL;
    }
    if (env && !json_is_object(env)) {
        *why = "env is not an object";
        return NULL;
    }
    json_object_foreach((json_t *)env, key, v)
    {
        if (!json_is_string(v)) {
            *why = "env holds a non-string value";
            return NULL;
        }
    }
    if (meta && !json_is_object(meta)) {
        *why = "metadata is not an object";
        return NULL;
    }
    if (mode && (!json_is_string(mode) || (strcasecmp(json_string_value(mode), "signal") != 0 &&
                                           strcasecmp(json_string_value(mode), "message") != 0))) {
        *why = "interrupt_mode is neither signal nor message";
        return NULL;
    }
    out = json_pack("{s:O, s:o, s:O, s:s, s:s, s:o}", "argv", argv, "env",
                    env ? json_deep_copy(env) : json_object(), "display_name",
                    json_object_get(raw, "display_name"), "language",
                    json_string_value(json_object_get(raw, "language"))
                        ? json_string_value(json_object_get(raw, "language"))
                        : "",
                    "interrupt_mode",
                    mode && strcasecmp(json_string_value(mode), "message") == 0 ? "message"
                                                                                : "signal",
                    "metadata", meta ? json_deep_copy(meta) : json_object());
    if (!out) {
        *why = "out of memory";
        return NULL;
    }
    if (kpv && json_string_length(kpv) > 0 &&
        json_object_set(out, "kernel_protocol_version", (json_t *)kpv) != 0) {
        json_decref(out);
        *why = "out of memory";
        return NULL;
    }
    return out;
}

static int kspecs_push(struct kspecs *k, size_t *cap, const char *name, const char *dir,
                       json_t *spec)
{
    struct kspec *s;

    if (k->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct kspec *nv = realloc(k->v, ncap * sizeof *nv);
        if (!nv)
            return JP_ENOMEM;
        k->v = nv;
        *cap = ncap;
    }
    s = &k->v[k->n];
    s->name = strdup(name);
    s->dir = strdup(dir);
    if (!s->name || !s->dir) {
        free(s->name);
        free(s->dir);
        return JP_ENOMEM;
    }
    s->spec = spec;
    k->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the specs of one data directory (<data>/kernels/<name>/kernel.json) that are not known
 * yet. Entries are taken in name order so a directory with two names differing only in case
 * resolves the same way every time. */
static int scan_data_dir(struct kspecs *k, size_t *cap, const char *data)
{
    char kdir[KSPEC_PATH_MAX], sdir[KSPEC_PATH_MAX], file[KSPEC_PATH_MAX + 16];
    char lname[KSPEC_NAME_MAX + 1];
    char **names = NULL;
    size_t nn = 0, ncap = 0;
    struct dirent *e;
    DIR *d;
    int rc = 0;

    if ((size_t)snprintf(kdir, sizeof kdir, "%s/kernels", data) >= sizeof kdir)
        return 0;
    d = opendir(kdir);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (!kernel_name_ok(e->d_name) || strcmp(e->d_name, ".") == 0 ||
            strcmp(e->d_name, "..") == 0)
            continue;
        if (nn == ncap) {
            size_t c2 = ncap ? ncap * 2 : 16;
            char **nv = realloc(names, c2 * sizeof *nv);
            if (!nv) {
                rc = JP_ENOMEM;
                goto out;
            }
            names = nv;
            ncap = c2;
        }
        if (!(names[nn] = strdup(e->d_name))) {
            rc = JP_ENOMEM;
            goto out;
        }
        nn++;
    }
    if (nn)
        qsort(names, nn, sizeof *names, cmp_str);
    for (size_t i = 0; i < nn; i++) {
        json_error_t jerr;
        const char *why = NULL;
        json_t *raw, *spec;
        size_t j;

        for (j = 0; names[i][j]; j++)
            lname[j] =
                (names[i][j] >= 'A' && names[i][j] <= 'Z') ? (char)(names[i][j] + 32) : names[i][j];
        lname[j] = '\0';
        if (kspecs_find(k, lname))
            continue;
        if ((size_t)snprintf(sdir, sizeof sdir, "%s/%s", kdir, names[i]) >= sizeof sdir)
            continue;
        if (!is_dir(sdir))
            continue;
        snprintf(file, sizeof file, "%s/kernel.json", sdir);
        if (!is_file(file))
            continue;
        raw = json_load_file(file, 0, &jerr);
        if (!raw) {
            jp_log(JP_LOG_WARN, "kspecs", "skipping kernelspec path=%s reason=\"%s\"", file,
                   jerr.text);
            continue;
        }
        spec = spec_normalize(raw, &why);
        json_decref(raw);
        if (!spec) {
            jp_log(JP_LOG_WARN, "kspecs", "skipping kernelspec path=%s reason=\"%s\"", file, why);
            continue;
        }
        if ((rc = kspecs_push(k, cap, lname, sdir, spec)) != 0) {
            json_decref(spec);
            goto out;
        }
    }
out:
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

static int cmp_spec(const void *a, const void *b)
{
    return strcmp(((const struct kspec *)a)->name, ((const struct kspec *)b)->name);
}

int kspecs_scan(struct kspecs *out, const char *const *extra_data_dirs)
{
    struct kspecs k = {NULL, 0};
    struct jp_buf jp;
    char user[KSPEC_PATH_MAX];
    const char *env = getenv("JUPYTER_PATH");
    const char *ddir = getenv("JUPYTER_DATA_DIR");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    size_t cap = 0;
    int rc = 0;

    jp_buf_init(&jp, 1 << 20);
    /* JUPYTER_PATH: ':'-separated, empty entries ignored */
    if (env && *env) {
        const char *p = env;
        while (*p) {
            const char *q = strchr(p, ':');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            if (len > 0 && len < KSPEC_PATH_MAX) {
                jp_buf_reset(&jp);
                if (jp_buf_add(&jp, p, len) != 0) {
                    rc = JP_ENOMEM;
                    goto out;
                }
                if ((rc = scan_data_dir(&k, &cap, jp.data)) != 0)
                    goto out;
            }
            p += len;
            if (*p == ':')
                p++;
        }
    }
    /* the user data dir, as jupyter_core.paths.jupyter_data_dir on Linux */
    user[0] = '\0';
    if (ddir && *ddir)
        snprintf(user, sizeof user, "%s", ddir);
    else if (xdg && *xdg)
        snprintf(user, sizeof user, "%s/jupyter", xdg);
    else if (home && *home)
        snprintf(user, sizeof user, "%s/.local/share/jupyter", home);
    if (user[0] && (rc = scan_data_dir(&k, &cap, user)) != 0)
        goto out;
    for (size_t i = 0; extra_data_dirs && extra_data_dirs[i]; i++)
        if ((rc = scan_data_dir(&k, &cap, extra_data_dirs[i])) != 0)
            goto out;
    if ((rc = scan_data_dir(&k, &cap, "/usr/local/share/jupyter")) != 0)
        goto out;
    if ((rc = scan_data_dir(&k, &cap, "/usr/share/jupyter")) != 0)
        goto out;
    if (k.n)
        qsort(k.v, k.n, sizeof *k.v, cmp_spec);
out:
    jp_buf_dispose(&jp);
    if (rc) {
        kspecs_dispose(&k);
        return rc;
    }
    *out = k;
    return 0;
}

void kspecs_dispose(struct kspecs *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].name);
        free(k->v[i].dir);
        json_decref(k->v[i].spec);
    }
    free(k->v);
    k->v = NULL;
    k->n = 0;
}

const struct kspec *kspecs_default(const struct kspecs *k)
{
    const struct kspec *s = kspecs_find(k, "cnote");
    if (!s)
        s = kspecs_find(k, "python3");
    if (!s && k && k->n)
        s = &k->v[0];
    return s;
}

const struct kspec *kspecs_find(const struct kspecs *k, const char *name)
{
    if (!k || !name)
        return NULL;
    for (size_t i = 0; i < k->n; i++)
        if (strcasecmp(k->v[i].name, name) == 0)
            return &k->v[i];
    return NULL;
}

/* resources[key] = "<base_url>kernelspecs/<name>/<file>" */
static int add_resource(json_t *res, const char *base, const char *name, const char *key,
                        const char *file)
{
    struct jp_buf b;
    size_t blen = strlen(base);
    int rc;

    jp_buf_init(&b, 16384);
    rc = jp_buf_addf(&b, "%s%skernelspecs/%s/%s", base, blen && base[blen - 1] == '/' ? "" : "/",
                     name, file);
    if (rc == 0)
        rc = json_object_set_new(res, key, json_stringn(b.data, b.len)) == 0 ? 0 : JP_ENOMEM;
    jp_buf_dispose(&b);
    return rc;
}

json_t *kspecs_model(const struct kspec *s, const char *base_url)
{
    static const char *const fixed[] = {"kernel.js", "kernel.css"};
    const char *base = base_url && *base_url ? base_url : "/";
    char path[KSPEC_PATH_MAX + 300];
    json_t *model, *res;
    struct dirent *e;
    DIR *d;

    if (!s)
        return NULL;
    res = json_object();
    model = json_pack("{s:s, s:O, s:o}", "name", s->name, "spec", s->spec, "resources", res);
    if (!model)
        return NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, fixed[i]);
        if (is_file(path) && add_resource(res, base, s->name, fixed[i], fixed[i]) != 0)
            goto fail;
    }
    /* every logo-* file, keyed by its stem (jupyter_server's kernelspec_model) */
    d = opendir(s->dir);
    while (d && (e = readdir(d)) != NULL) {
        char key[256];
        const char *dot;

        if (strncmp(e->d_name, "logo-", 5) != 0 || !file_name_ok(e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
        if (!is_file(path))
            continue;
        dot = strrchr(e->d_name, '.');
        snprintf(key, sizeof key, "%.*s",
                 (int)(dot ? (size_t)(dot - e->d_name) : strlen(e->d_name)), e->d_name);
        if (add_resource(res, base, s->name, key, e->d_name) != 0) {
            closedir(d);
            goto fail;
        }
    }
    if (d)
        closedir(d);
    return model;
fail:
    json_decref(model);
    return NULL;
}

char *kspecs_resource(const struct kspec *s, const char *file)
{
    struct jp_buf b;
    char *path;

    if (!s || !file_name_ok(file))
        return NULL;
    jp_buf_init(&b, KSPEC_PATH_MAX + 300);
    if (jp_buf_addf(&b, "%s/%s", s->dir, file) != 0 || !is_file(b.data)) {
        jp_buf_dispose(&b);
        return NULL;
    }
    path = strdup(b.data);
    jp_buf_dispose(&b);
    return path;
}
