/*
 * persist.c - writes the state that must survive a restart (kernels and sessions) to the
 * store as it changes. Called by the REST services and the kernel lifecycle events; a server
 * without a store (it could not be opened) simply keeps nothing.
 */
#include <stdio.h>
#include <string.h>

#include "kmgr.h"
#include "sessions.h"
#include "srv.h"
#include "store.h"

void srv_persist_kernel(struct srv *s, const char *kernel_id)
{
    struct kmgr_record rec;
    if (s->store && s->kmgr && kmgr_record(s->kmgr, kernel_id, &rec) == 0)
        store_put_kernel(s->store, &rec);
}

void srv_persist_session(struct srv *s, const char *session_id)
{
    struct session *x = sessions_get(s->sessions, session_id);
    if (!s->store)
        return;
    if (x)
        store_put_session(s->store, x);
    else
        store_del_session(s->store, session_id);
}
