/*
 * store.h - the server's state that must survive a restart, in SQLite: the running local
 * kernels (id, kernelspec, pid, connection file, cwd) and the sessions bound to them. Written
 * on every change (small rows, WAL mode); read once at start-up so the server can adopt the
 * kernels that are still alive and bring their sessions back.
 */
#ifndef STORE_H
#define STORE_H

#include "kmgr.h"
#include "sessions.h"

struct store;

/* Open (creating) the database at path. NULL on failure (logged). */
struct store *store_open(const char *path);
void store_close(struct store *st);
int store_put_kernel(struct store *st, const struct kmgr_record *rec);
int store_del_kernel(struct store *st, const char *id);
int store_put_session(struct store *st, const struct session *x);
int store_del_session(struct store *st, const char *id);
/* Call fn for every stored kernel, then sfn for every stored session. 0 or -1. */
int store_load(struct store *st, void (*fn)(void *ctx, const struct kmgr_record *rec),
               void (*sfn)(void *ctx, const struct session *x), void *ctx);

#endif
