/*
 * kmgr.h - the kernel manager: starts kernels from kernelspecs through a provisioner (the
 * local one: a child process with a fresh connection file and random key), owns the
 * server's ZeroMQ sockets to each kernel on the server's libuv loop, and keeps each
 * kernel's state accurate: execution_state from IOPub status, last_activity, connections
 * (counted by the caller), heartbeats. It auto-restarts a kernel that dies (a bounded
 * number of tries), interrupts by signal or by message per the kernelspec's
 * interrupt_mode, shuts down gracefully (shutdown_request) then forcefully, restarts with
 * the same ports and key, culls idle kernels as Jupyter Server does, and can adopt kernels
 * that survived a server restart. No HTTP here: server/api_kernels.c is the HTTP layer.
 *
 * Threading: everything runs on the loop thread; callbacks fire from the loop, never from
 * inside the call that registered them (a call that fails fires nothing). Callbacks may call
 * any kmgr_* function except kmgr_free.
 */
#ifndef KMGR_H
#define KMGR_H

#include <sys/types.h>
#include <uv.h>

#include <jansson.h>

#include "jp_buf.h"
#include "jp_msg.h"
#include "kspecs.h"

/* Zero fields take the defaults below. */
struct kmgr_opts {
    const char *runtime_dir; /* where connection files go (created 0700 if missing); NULL:
                              * $JUPYTER_RUNTIME_DIR, $XDG_RUNTIME_DIR/jupyter or
                              * ~/.local/share/jupyter/runtime */
    const char *ip;          /* address kernels bind, default "127.0.0.1" */
    int restart_limit;       /* consecutive failed auto-restarts before "dead"; default 5;
                              * negative: never auto-restart */
    int time_to_dead_ms;     /* liveness poll / heartbeat period; default 3000 */
    int shutdown_wait_ms;    /* graceful shutdown wait before SIGTERM, then SIGKILL; default 5000 */
    int kernel_info_timeout_ms; /* start/restart/adopt: wait for kernel_info_reply;
                                 * default 60000 */
    int cull_idle_timeout_s;    /* 0: culling off (Jupyter's default) */
    int cull_interval_s;        /* default 300 */
    int cull_connected;         /* also cull kernels with connections */
    int cull_busy;              /* also cull busy kernels */
};

/* A message from a kernel as the callbacks see it: header and parent_header parsed, the four
 * JSON parts as the kernel sent them (for relays that forward bytes without re-encoding),
 * the content parsed only when someone asks (kmgr_msg_content). Borrowed for the duration of
 * the callback. */
struct kmgr_msg {
    const char *channel;         /* "shell", "control", "stdin" or "iopub" */
    const char *msg_type;        /* header.msg_type */
    const json_t *header;        /* object */
    const json_t *parent_header; /* object ({} when none) */
    struct jp_frame parts[4];    /* raw header, parent_header, metadata, content */
    const struct jp_frame *buffers;
    size_t n_buffers;
    json_t *content_; /* private: the parsed content once asked for */
    int content_tried_;
};
/* The content object (borrowed like the message), parsed on first use; NULL when it is not a
 * JSON object. */
const json_t *kmgr_msg_content(struct kmgr_msg *msg);
/* header.msg_id / parent_header.msg_id / parent_header.session, or "". */
const char *kmgr_msg_id(const struct kmgr_msg *msg);
const char *kmgr_msg_parent_id(const struct kmgr_msg *msg);
const char *kmgr_msg_parent_session(const struct kmgr_msg *msg);

/* Events for the layers above (sessions, the WebSocket bridge of part 2). Any may be NULL. */
struct kmgr_events {
    /* every IOPub message of a kernel (borrowed for the duration of the call) */
    void (*on_iopub)(void *ctx, const char *kernel_id, struct kmgr_msg *m);
    /* replies on shell/control/stdin of requests sent with kmgr_send (borrowed) */
    void (*on_reply)(void *ctx, const char *kernel_id, struct kmgr_msg *m);
    /* lifecycle: "ready" (answered kernel_info and was heard on IOPub, after every launch),
     * "restarting" (died, being restarted), "dead" (gave up), "autorestarted", "culled",
     * "removed" (shut down and forgotten) */
    void (*on_lifecycle)(void *ctx, const char *kernel_id, const char *event);
};

struct kmgr;

/* Completion of an asynchronous start/restart/shutdown: status 0 or a negative JP_E* code
 * with a human-readable reason. */
typedef void (*kmgr_done_fn)(void *arg, int status, const char *kernel_id, const char *reason);

/* A manager on `loop`. specs is borrowed and must outlive the manager (a kernel copies what it
 * needs from its spec at start, so the caller may rescan in place). Creates the runtime dir,
 * raises RLIMIT_NOFILE to its hard limit and ZeroMQ's socket limit so 1000+ kernels fit. Its
 * own watchers do not keep the loop alive. NULL on failure. */
struct kmgr *kmgr_new(uv_loop_t *loop, const struct kspecs *specs, const struct kmgr_opts *o,
                      const struct kmgr_events *ev, void *ev_ctx);
/* Stop watching and free everything; with shutdown_kernels the kernels are stopped first
 * (blocking, bounded: shutdown_request, shutdown_wait_ms, SIGTERM, SIGKILL) and their
 * connection files removed, otherwise they are left running with their files (for a later
 * kmgr_adopt). Pending done callbacks are dropped without firing. Handles are closed, so the
 * memory is released when the loop runs again (uv_run). */
void kmgr_free(struct kmgr *m, int shutdown_kernels);

/* Start a kernel of kernelspec `name` (NULL: kspecs_default) in cwd,
 * with extra environment (object of strings, borrowed, may be NULL) and an optional id (NULL:
 * a new uuid). Returns 0 and the new id in id_out (37 bytes) once the process is launched
 * (state "starting"); done (may be NULL) fires when the kernel answered kernel_info or the
 * start failed. Errors before launch: JP_ENOENT (no such kernelspec), JP_EIO (spawn failed,
 * reason in why), JP_EINVAL (id already used). */
int kmgr_start(struct kmgr *m, const char *name, const char *cwd, const json_t *env, const char *id,
               char id_out[37], char *why, size_t whylen, kmgr_done_fn done, void *arg);
/* The same for a user (multi-user mode): the kernel belongs to owner from the start (a pod
 * kernel runs with that user's storage). */
int kmgr_start_owned(struct kmgr *m, const char *owner, const char *name, const char *cwd,
                     const json_t *env, const char *id, char id_out[37], char *why, size_t whylen,
                     kmgr_done_fn done, void *arg);
/* KernelModel {id, name, last_activity, execution_state, connections}; NULL if unknown. */
json_t *kmgr_model(struct kmgr *m, const char *id);
/* Array of KernelModels, in start order. */
json_t *kmgr_list(struct kmgr *m);
/* The same list written as compact JSON straight into `out` (the hot path of GET
 * /api/kernels). 0, or JP_ENOMEM/JP_ETOOBIG with `out` unchanged. */
int kmgr_list_write(struct kmgr *m, struct jp_buf *out);
size_t kmgr_count(struct kmgr *m);
int kmgr_exists(struct kmgr *m, const char *id);
/* 0 or JP_ENOENT. Signal mode: SIGINT to the kernel's process group; message mode (or a
 * kernel whose pid is unknown): interrupt_request on control. Returns without waiting; a
 * dead kernel is left alone (0). */
int kmgr_interrupt(struct kmgr *m, const char *id);
/* Graceful shutdown (interrupt, shutdown_request, wait, SIGTERM, SIGKILL); the kernel is
 * forgotten when it is gone, then done fires. 0 or JP_ENOENT. */
int kmgr_shutdown(struct kmgr *m, const char *id, kmgr_done_fn done, void *arg);
/* Restart with the same ports and key; done fires after kernel_info answered (status 0) or the
 * timeout / a failure (JP_ETIMEOUT / JP_EIO; JP_EDEAD if the new process dies and exhausts
 * the auto-restarts). A dead kernel is simply launched again. 0 or JP_ENOENT. */
int kmgr_restart(struct kmgr *m, const char *id, kmgr_done_fn done, void *arg);
/* The caller's count of client connections to a kernel (for the model and culling). */
void kmgr_connections(struct kmgr *m, const char *id, int delta);
/* Mark activity (a client sent something), for last_activity and culling. */
void kmgr_touch(struct kmgr *m, const char *id);
/* Send a message on "shell", "control" or "stdin" (m borrowed; identities ignored); replies
 * come back through on_reply. 0, JP_ENOENT, JP_EIO (dead, or the queue is full), JP_EINVAL
 * (another channel name). */
int kmgr_send(struct kmgr *m, const char *id, const char *channel, const struct jp_msg *msg);
/* The same with the four JSON parts given as bytes (header, parent_header, metadata, content;
 * signed as they are, not parsed) and optional binary buffers: what a relay uses. */
int kmgr_send_raw(struct kmgr *m, const char *id, const char *channel,
                  const struct jp_frame parts[4], const struct jp_frame *buffers, size_t n_buffers);
/* The kernel is ready (answered kernel_info since its last launch) / has been given up. */
int kmgr_ready(struct kmgr *m, const char *id);
/* Back-pressure from the clients: hold != 0 stops reading the kernel's IOPub, so that its
 * output waits in the kernel (whose own flow control then pauses the cell); 0 reads again.
 * A hold ends by itself after KMGR_HOLD_MAX_MS, and a new one is refused until the caller has
 * released it: clients that read nothing cannot stop a kernel (the caller's per-client limits
 * take over). Survives restarts (the new sockets are held too). 0 or JP_ENOENT. */
#define KMGR_HOLD_MAX_MS 1000
int kmgr_hold_iopub(struct kmgr *m, const char *id, int hold);

/* What the server stores to adopt a kernel after its own restart. */
struct kmgr_record {
    char id[37];
    char name[128];
    pid_t pid;
    char connection_file[4096];
    char cwd[4096];
    int remote;     /* runs under the remote provisioner (a Kubernetes pod) */
    char owner[65]; /* the user who started it ("" in single-user mode) */
};

/* ---- remote provisioners ---------------------------------------------------------------
 * A kernel can run somewhere else than a local child process (a Kubernetes pod: k8s_prov.c).
 * kmgr still picks the ports and key and owns the ZeroMQ sockets; the provisioner makes the
 * kernel run, says where it listens (kmgr_prov_up) and when it stopped (kmgr_prov_exited).
 * Remote kernels are interrupted by message, are not restarted automatically when they die
 * (the provisioner's reason is the kernel's), and their shutdown is shutdown_request, then
 * prov->stop after shutdown_wait_ms. The provisioner's calls may come at any time on the loop
 * (never from inside its own ops called by kmgr). */
struct kmgr_launch {
    const char *kernel_id;
    const char *kernel_name;
    const char *cwd;    /* working directory the server would use (an absolute path) */
    const json_t *env;  /* the client's extra environment, or NULL */
    const json_t *spec; /* kernel.json (its metadata may name a profile), or NULL */
    const char *key;    /* the connection's HMAC key */
    const char *owner;  /* the user it runs for ("" in single-user mode) */
    int ports[5];       /* out: shell, iopub, stdin, control, hb ports the kernel
                         * will listen on (set by launch) */
    int n;              /* launches of this kernel before this one */
    char key_out[129];  /* out: set by launch when the kernel has a key of its own (a warm pod
                         * claimed from a pool): kmgr signs with it from then on */
};
struct kmgr_prov {
    void *ctx;
    /* Start the kernel; 0, or an error code with why (the start or restart then fails). */
    int (*launch)(void *ctx, struct kmgr_launch *l, char *why, size_t whylen);
    /* Stop what runs (delete the pod); report kmgr_prov_exited when it is gone. */
    void (*stop)(void *ctx, const char *kernel_id);
    /* After a server restart: find the kernel's pod; kmgr_prov_up or kmgr_prov_exited. */
    void (*adopt)(void *ctx, const char *kernel_id);
    /* The kernel is forgotten: remove everything left of it (pod, secret). */
    void (*forget)(void *ctx, const char *kernel_id);
    /* Launch details for the kernel model (new reference: {"stage", "message", ...}) or NULL. */
    json_t *(*describe)(void *ctx, const char *kernel_id);
};
/* Use prov for every kernelspec (all) or only for kernelspecs whose metadata has
 * kernel_provisioner.provisioner_name "cnote-kubernetes-provisioner". prov is copied. */
void kmgr_set_provisioner(struct kmgr *m, const struct kmgr_prov *prov, int all);
/* From the provisioner: the kernel listens on ip (the ports kmgr chose). 0 or JP_ENOENT. */
int kmgr_prov_up(struct kmgr *m, const char *id, const char *ip);
/* From the provisioner: the kernel is gone or could not start, with a reason for users. */
int kmgr_prov_exited(struct kmgr *m, const char *id, const char *cause);
/* The user a kernel belongs to ("" in single-user mode); set right after kmgr_start, before
 * the loop runs (a remote launch reads it from the loop). NULL for an unknown id. */
int kmgr_set_owner(struct kmgr *m, const char *id, const char *owner);
const char *kmgr_owner(struct kmgr *m, const char *id);
/* When the kernel was started (or adopted by this server), in jp_time_now_us units; 0 when
 * unknown. */
int64_t kmgr_started_us(struct kmgr *m, const char *id);
/* kmgr_list_write for one owner's kernels only (owner NULL: all). */
int kmgr_list_write_owner(struct kmgr *m, struct jp_buf *out, const char *owner);
/* Running kernels of an owner (not dead, not shutting down). */
int kmgr_count_owner(struct kmgr *m, const char *owner);
/* Multi-user isolation of local kernels: map(ctx, owner, &uid, &gid, home, homelen) gives the
 * account an owner's local kernels run under (0), or refuses (non-zero, why in home). A kernel
 * of such an owner then runs under that uid (setpriv, no new privileges, no supplementary
 * groups), with HOME set, its connection file 0600 in a per-user directory 0700 of the runtime
 * dir (the runtime dir itself 0711), and ZeroMQ over ipc sockets in that directory instead of
 * TCP: no other user can read its key or reach its sockets. */
typedef int (*kmgr_user_map_fn)(void *ctx, const char *owner, uid_t *uid, gid_t *gid, char *home,
                                size_t homelen);
/* dir: where the per-user directories go (made 0711; every directory above it must be
 * traversable); NULL or "": the runtime dir. 0, or JP_EIO (logged) when dir cannot be used. */
int kmgr_set_user_map(struct kmgr *m, kmgr_user_map_fn map, void *ctx, const char *dir);
/* Is a shutdown or restart of this kernel under way? */
int kmgr_stopping(struct kmgr *m, const char *id);
/* Is this kernel remote? */
int kmgr_is_remote(struct kmgr *m, const char *id);
/* done fires when the kernel is ready (status 0) or its launch failed (with the reason); at
 * once from the loop when it is ready already. 0, JP_ENOENT or JP_ENOMEM. */
int kmgr_wait_ready(struct kmgr *m, const char *id, kmgr_done_fn done, void *arg);
/* Fill rec for kernel id; 0 or JP_ENOENT. */
int kmgr_record(struct kmgr *m, const char *id, struct kmgr_record *rec);
/* Adopt a kernel a previous server started: reconnect with its connection file; done fires
 * with 0 when it answers kernel_info, or JP_EDEAD (then it is forgotten, its connection file
 * removed and its process, if any, killed). rec->pid 0 means unknown: liveness is then judged
 * by heartbeats only, and a shutdown ends with the shutdown_reply. 0 or JP_EINVAL (bad record,
 * unreadable connection file, id in use). */
int kmgr_adopt(struct kmgr *m, const struct kmgr_record *rec, kmgr_done_fn done, void *arg);

#endif
