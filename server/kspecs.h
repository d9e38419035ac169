/*
 * kspecs.h - kernelspec discovery, as jupyter_client does it: every directory
 * <data dir>/kernels/<name>/kernel.json in JUPYTER_PATH, the user data dir
 * (JUPYTER_DATA_DIR or ~/.local/share/jupyter), {sys.prefix}/share/jupyter (the prefixes
 * given by the caller), /usr/local/share/jupyter and /usr/share/jupyter, earlier ones
 * winning; names are [A-Za-z0-9._-]+ compared case-insensitively. Produces the
 * KernelSpecModel JSON of Jupyter Server's /api/kernelspecs. No HTTP, no processes.
 */
#ifndef KSPECS_H
#define KSPECS_H

#include <jansson.h>

struct kspec {
    char *name;
    char *dir;    /* resource directory (holds kernel.json and logos) */
    json_t *spec; /* kernel.json as loaded (argv, display_name, language, env, ...) */
};

struct kspecs {
    struct kspec *v;
    size_t n;
};

/* Scan the standard directories plus extra data dirs (NULL-terminated, may be NULL; searched
 * after JUPYTER_PATH and the user dir, before the system dirs). Invalid kernel.json files are
 * skipped (logged). 0 or JP_ENOMEM. */
int kspecs_scan(struct kspecs *out, const char *const *extra_data_dirs);
void kspecs_dispose(struct kspecs *k);
const struct kspec *kspecs_find(const struct kspecs *k, const char *name);
/* The default kernelspec (what GET /api/kernelspecs calls "default" and a start without a
 * name gets): "cnote" if present, else "python3", else the first; NULL when there is none. */
const struct kspec *kspecs_default(const struct kspecs *k);
/* {"name", "spec": {...}, "resources": {"logo-64x64":
 * "<base_url>kernelspecs/<name>/logo-64x64.png", ...}} */
json_t *kspecs_model(const struct kspec *s, const char *base_url);
/* The path of a resource file of the spec (logo, kernel.js...), refusing anything that is not a
 * plain file name in its directory. Malloc'd, or NULL. */
char *kspecs_resource(const struct kspec *s, const char *file);

#endif
