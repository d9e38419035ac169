/*
 * ws.h - the kernel WebSocket bridge: clients of /api/kernels/<id>/channels on one side, the
 * kernel manager's ZeroMQ sockets on the other. No libwebsockets here (http.c is the
 * transport, through struct wsb_transport), no ZeroMQ (kmgr.c owns the sockets).
 *
 * What it does, as Jupyter Server does it unless said otherwise:
 * - framing: the legacy JSON text framing (binary with 32-bit offsets when a message has
 *   buffers) and the v1.kernel.websocket.jupyter.org binary framing (64-bit offsets);
 *   kernel messages are relayed with their JSON parts as the kernel wrote them (never
 *   parsed and re-encoded), client messages are signed as the client wrote them (v1) or
 *   re-serialized from its JSON (legacy);
 * - routing: the server has one set of sockets per kernel (not one per client); a reply goes
 *   to the client that sent the request (by msg_id, else by the parent's session), IOPub goes
 *   to every client, each message framed once per framing and shared between clients;
 * - one live client per (kernel, session_id): a second one replaces the first;
 * - synthetic IOPub status "restarting" / "dead" when the kernel died / could not be
 *   restarted; the clients are closed when the kernel is removed;
 * - offline buffering: when the last client of a kernel leaves, what the kernel sends for it
 *   is kept (bounded) and replayed to a client that comes back with the same session_id;
 * - back-pressure: every client has a bounded send queue; past the bound only IOPub stream and
 *   display output is dropped for that client (never replies, status, errors or input
 *   requests), with one notice on its stderr stream and a log line per episode;
 * - Jupyter's IOPub rate limits, off unless configured.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>

#include "kmgr.h"

/* Bytes free before every piece the bridge hands out for writing (the transport may write
 * its frame header there; LWS_PRE). */
#define WSB_HEADROOM 16

struct wsb_opts {
    size_t queue_limit;     /* per client send queue, bytes; 0: 32 MiB */
    size_t replay_limit;    /* offline buffer per kernel, bytes; 0: 32 MiB */
    int no_offline;         /* do not buffer while no client is connected */
    int limit_rate;         /* Jupyter's IOPub rate limits */
    int msg_rate_limit;     /* messages/s; 0: 1000 */
    size_t data_rate_limit; /* bytes/s of stream output; 0: 1000000 */
    int rate_window_s;      /* 0: 3 */
};

/* How the bridge asks the transport for things (called on the loop thread, never after
 * wsb_closed for that client). */
struct wsb_transport {
    void (*want_write)(void *tctx);                          /* call wsb_peek when writable */
    void (*close)(void *tctx, int code, const char *reason); /* close the connection */
};

/* One piece of a WebSocket message to write: WSB_HEADROOM bytes before data may be
 * overwritten during the write and must be restored after it (they may belong to the
 * previous piece, which other clients still need). */
struct wsb_piece {
    unsigned char *data;
    size_t len;
    int binary; /* message type (meaningful on the first piece) */
    int first;  /* first piece of a message */
    int final;  /* last piece of a message */
};

struct wsb;
struct wsb_client;

/* kmgr NULL (unit tests): any kernel id is accepted and client messages go nowhere. */
struct wsb *wsb_new(struct kmgr *kmgr, const struct wsb_opts *o);
void wsb_free(struct wsb *b);
/* Late binding (the manager is created after the bridge, with the bridge as its events). */
void wsb_set_kmgr(struct wsb *b, struct kmgr *kmgr);

/* kmgr events (see kmgr.h); ctx is the bridge. */
void wsb_on_iopub(void *ctx, const char *kernel_id, struct kmgr_msg *m);
void wsb_on_reply(void *ctx, const char *kernel_id, struct kmgr_msg *m);
void wsb_on_lifecycle(void *ctx, const char *kernel_id, const char *event);

/* A client connected to a kernel's channels (v1: the v1 subprotocol was selected). NULL when
 * the kernel is unknown or memory is short. A live client with the same session_id on the
 * same kernel is closed ("replaced"). kernel_id NULL: an /api/events/subscribe client, which
 * only receives what the server publishes (nothing yet) and is counted nowhere. */
struct wsb_client *wsb_open(struct wsb *b, const char *kernel_id, const char *session_id, int v1,
                            const struct wsb_transport *t, void *tctx);
/* One whole message from the client. 0, or -1 when the connection should be closed. Bad
 * messages are logged and dropped (0). */
int wsb_receive(struct wsb_client *c, const void *data, size_t len, int binary);
/* The next piece to write: 1 and *p filled, or 0 when the queue is empty. */
int wsb_peek(struct wsb_client *c, struct wsb_piece *p);
/* The piece returned by wsb_peek was written. */
void wsb_advance(struct wsb_client *c);
/* The connection is gone: forget the client (frees it). */
void wsb_closed(struct wsb_client *c);

/* Connected kernel clients, all kernels (for /api/status). */
int wsb_connections(const struct wsb *b);
/* Messages and bytes relayed: from kernels (IOPub and replies, counted once per message) and
 * from clients. */
struct wsb_counters {
    unsigned long long kernel_msgs, kernel_bytes, client_msgs, client_bytes;
    unsigned long long iopub_holds; /* times every client of a kernel was behind */
};
void wsb_get_counters(const struct wsb *b, struct wsb_counters *out);
/* Bytes queued for a client (tests, logs). */
size_t wsb_queued(const struct wsb_client *c);

#endif
