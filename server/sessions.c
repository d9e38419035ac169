/*
 * sessions.c - the in-memory session table (see sessions.h). Small: a few sessions per
 * open notebook, so linear search is fine.
 */
#include "sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jp_uuid.h"

struct session *sessions_add(struct sessions *s, const char *id, const char *path, const char *name,
                             const char *type, const char *kernel_id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct session *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    struct session *x = &s->v[s->n];
    memset(x, 0, sizeof *x);
    if (id)
        snprintf(x->id, sizeof x->id, "%s", id);
    else if (jp_uuid_v4(x->id))
        return NULL;
    x->path = strdup(path ? path : "");
    x->name = strdup(name ? name : "");
    x->type = strdup(type ? type : "");
    snprintf(x->kernel_id, sizeof x->kernel_id, "%s", kernel_id ? kernel_id : "");
    if (!x->path || !x->name || !x->type) {
        free(x->path);
        free(x->name);
        free(x->type);
        return NULL;
    }
    s->n++;
    return x;
}

struct session *sessions_get(struct sessions *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].id, id) == 0)
            return &s->v[i];
    return NULL;
}

struct session *sessions_by_path(struct sessions *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].path, path) == 0)
            return &s->v[i];
    return NULL;
}

struct session *sessions_by_kernel(struct sessions *s, const char *kernel_id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].kernel_id, kernel_id) == 0)
            return &s->v[i];
    return NULL;
}

int sessions_set(char **field, const char *value)
{
    char *v = strdup(value ? value : "");
    if (!v)
        return -1;
    free(*field);
    *field = v;
    return 0;
}

void sessions_remove(struct sessions *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].id, id) == 0) {
            free(s->v[i].path);
            free(s->v[i].name);
            free(s->v[i].type);
            memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
            s->n--;
            return;
        }
}

void sessions_dispose(struct sessions *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].path);
        free(s->v[i].name);
        free(s->v[i].type);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

json_t *sessions_model(const struct session *x, json_t *kernel_model)
{
    json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", x->id, "path", x->path, "name", x->name,
                          "type", x->type, "kernel", kernel_model ? kernel_model : json_null());
    if (m && strcmp(x->type, "notebook") == 0)
        json_object_set_new(m, "notebook",
                            json_pack("{s:s,s:s}", "path", x->path, "name", x->name));
    return m;
}
