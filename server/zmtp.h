/*
 * zmtp.h - the server's end of a kernel's ZeroMQ channels, spoken directly on the libuv loop:
 * a connecting ZMTP 3.0 peer (NULL security mechanism) of socket type DEALER or SUB, over TCP or
 * a Unix socket (tcp://ip:port, ipc://path), compatible with libzmq's ROUTER, REP, PUB and XPUB.
 *
 * Why not libzmq here: every message through a libzmq socket crosses its I/O thread twice (an
 * eventfd wakeup each way, a ZMQ_EVENTS poll per socket per turn), which made the server's
 * relay cost more CPU than the kernel's reply itself (docs/architecture.md, "ZeroMQ in the
 * server"). The kernels keep libzmq; this file only replaces the server's client sockets.
 *
 * Semantics follow libzmq's for a connecting socket with the options the server used: it
 * connects at once and retries every 10 ms, doubling to 1 s, while the peer is absent or after
 * the connection breaks; messages sent before the handshake wait in order (at most
 * ZT_MAX_QUEUED of them, then zt_send answers JP_ETOOBIG); a message half written when the
 * connection breaks is lost, the rest are sent on the next connection; a SUB subscribes to
 * everything on each connection. A peer that breaks the protocol (bad greeting, incompatible
 * socket type, an ERROR command, a message over max_msg bytes) is disconnected with a log line
 * and retried like a broken connection.
 *
 * Threading and lifetime: everything on the loop thread; callbacks fire from the loop. zt_close
 * may be called from inside the socket's own message callback: nothing more is delivered and
 * the memory goes when the loop has closed the handles.
 */
#ifndef ZMTP_H
#define ZMTP_H

#include <stddef.h>
#include <uv.h>

#include "jp_wire.h"

#define ZT_MAX_QUEUED 1000   /* messages waiting to be written (libzmq's default SNDHWM) */
#define ZT_MAX_ROUTING_ID 64 /* bytes of a DEALER's routing id */

enum zt_type { ZT_DEALER, ZT_SUB };

struct zt_sock;

/* A whole multipart message; parts and their bytes are valid during the call only. */
typedef void (*zt_msg_fn)(void *arg, const struct jp_frame *parts, size_t n);

struct zt_opts {
    enum zt_type type;
    const char *routing_id; /* DEALER: the Identity property (copied, <= 64 bytes), or NULL */
    size_t max_msg;         /* bytes of one incoming message, 0 for the default (1 GiB) */
    zt_msg_fn on_msg;
    void *arg;
};

/* Parse endpoint (tcp://IPv4:port, tcp://[IPv6]:port, tcp://host:port resolved once, or
 * ipc://path) and start connecting. Returns NULL on a bad endpoint or no memory (errno set). */
struct zt_sock *zt_open(uv_loop_t *loop, const char *endpoint, const struct zt_opts *o);

/* Queue one message (the parts are copied) and write what the socket takes now. Returns 0,
 * JP_ETOOBIG when ZT_MAX_QUEUED messages are waiting, JP_ENOMEM, or JP_EINVAL (no parts). */
int zt_send(struct zt_sock *s, const struct jp_frame *parts, size_t n);

/* Stop and free (asynchronously); s must not be used after. NULL is ignored. */
void zt_close(struct zt_sock *s);

/* 1 while a handshake with the peer has completed and the connection is up. */
int zt_connected(const struct zt_sock *s);

/* Messages waiting to be written (queued or partly written). */
size_t zt_queued(const struct zt_sock *s);
/* Stop (paused != 0) or resume reading the peer's messages once the connection is up: what
 * the kernel sends meanwhile waits in the socket buffers and then in the kernel, which is how
 * a relay passes back-pressure on (the handshake is still read). At most one read buffer of
 * messages already received is delivered after the pause. Kept across reconnections. */
void zt_pause_reading(struct zt_sock *s, int paused);

#endif
