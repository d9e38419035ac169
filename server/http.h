/*
 * http.h - start and stop the HTTP layer (http.c) on the server's loop.
 */
#ifndef HTTP_H
#define HTTP_H

#include "srv.h"

/* Listen on s->o.ip:s->o.port (port 0: any free port, written back to s->o.port). 0 or -1. */
int http_start(struct srv *s);
/* Stop listening and close every connection. */
void http_stop(struct srv *s);

#endif
