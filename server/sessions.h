/*
 * sessions.h - the session manager behind /api/sessions: which notebook (path, name, type)
 * is bound to which kernel. Kept in memory and, through store.c, in SQLite so that sessions
 * survive a server restart. It does not start kernels itself: api_sessions.c asks kmgr.
 */
#ifndef SESSIONS_H
#define SESSIONS_H

#include <jansson.h>

struct session {
    char id[37];
    char *path, *name, *type;
    char kernel_id[37];
};

struct sessions {
    struct session *v;
    size_t n, cap;
};

/* Add a session (strings copied) with the given id (NULL: a new uuid); returns it, or NULL on
 * out-of-memory. */
struct session *sessions_add(struct sessions *s, const char *id, const char *path, const char *name,
                             const char *type, const char *kernel_id);
struct session *sessions_get(struct sessions *s, const char *id);
struct session *sessions_by_path(struct sessions *s, const char *path);
struct session *sessions_by_kernel(struct sessions *s, const char *kernel_id);
/* Replace a string field (copied). 0 or -1. */
int sessions_set(char **field, const char *value);
void sessions_remove(struct sessions *s, const char *id);
void sessions_dispose(struct sessions *s);
/* SessionModel with the kernel model given (stolen; may be NULL -> null). */
json_t *sessions_model(const struct session *x, json_t *kernel_model);

#endif
