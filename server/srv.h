/*
 * srv.h - the server's composition: options, the shared state every service handler sees,
 * and the request/response model the HTTP layer (http.c, the only file that includes
 * libwebsockets.h) hands to handlers. Handlers are plain functions registered in a route
 * table (router.c); each service is a thin HTTP layer over a manager (contents, kmgr,
 * sessions). Errors are always JSON {"message", "reason"}.
 */
#ifndef SRV_H
#define SRV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <jansson.h>

#include "jp_buf.h"

/* The user name of the single-user server (/api/me, KERNEL_USERNAME). */
#define SRV_USERNAME "cnote"
/* cnote's version, as the web app's page config gives it. */
#define SRV_CNOTE_VERSION "0.1.0"

struct srv_opts {
    char ip[64];
    int port;
    char root[4096];
    char token[256];
    int token_set;      /* a token was given (possibly ""), else one is generated */
    char base_url[256]; /* always starts and ends with '/' */
    char certfile[4096], keyfile[4096];
    int trust_proxy; /* honour X-Forwarded-Proto/-For/-Host */
    int allow_remote_access;
    char allow_origin[256];
    size_t max_body_size;  /* default 512 MiB */
    int request_timeout_s; /* slow or half-open connections */
    char runtime_dir[4096];
    char data_dir[4096]; /* config sections, state database */
    int cull_idle_timeout, cull_interval, cull_connected, cull_busy;
    int shutdown_kernels_on_exit;
    char config_file[4096];
    int allow_hidden;
    /* kernel WebSockets */
    size_t ws_queue_limit;  /* per-client send queue; 0: 32 MiB */
    size_t ws_replay_limit; /* offline buffer per kernel; 0: 32 MiB */
    int no_offline_buffer;
    int limit_rate; /* Jupyter's IOPub rate limits (off by default) */
    int iopub_msg_rate_limit;
    size_t iopub_data_rate_limit;
    int rate_limit_window;
    char kernel_env_allow[1024]; /* names allowed in POST /api/kernels env; "X*" = prefix */
    /* the web app */
    char web_dir[4096];   /* the built app (index.html, static/); default <bin>/../web */
    int autosave_seconds; /* the app's autosave interval, in its page config; 0 = off */
    /* Kubernetes (k8s_prov.c) */
    char kernel_provisioner[32]; /* "local" (default) or "kubernetes" */
    char k8s_config[4096];       /* the profiles / pod template file: turns Kubernetes on */
    char kubeconfig[4096];       /* else in-cluster credentials, else $KUBECONFIG */
    char k8s_context[256];
    char k8s_namespace[64]; /* default: the profiles', else the connection's */
    char instance_id[64];   /* default: the host name */
    char k8s_user[256];     /* single-user mode's user (the pods' storage subPath) */
    /* /metrics and logs */
    char metrics_token[256];     /* a scraper's bearer token */
    int metrics_public;          /* no authentication for /metrics */
    char log_format[16];         /* "text" (default) or "json" */
    char user_runtime_dir[4096]; /* multi-user: users' kernel directories (/run/cnote) */
};

struct contents;
struct kmgr;
struct kspecs;
struct sessions;
struct store;
struct wsb;
struct k8s_prov;
struct users;
struct metrics;

struct srv {
    struct srv_opts o;
    uv_loop_t *loop;
    struct contents *contents;
    struct kspecs *kspecs;
    struct kmgr *kmgr;
    struct sessions *sessions;
    struct store *store;      /* may be NULL: then nothing survives a restart */
    char started[40];         /* ISO 8601 */
    int64_t last_activity_us; /* formatted only when /api/status asks */
    char cookie_secret[65];   /* hex, random per server start */
    char xsrf_secret[65];
    int connections;      /* unused: see wsb_connections */
    struct wsb *wsb;      /* the kernel WebSocket bridge */
    struct k8s_prov *k8s; /* the Kubernetes provisioner, or NULL */
    struct users *users;  /* accounts (multiuser.c); multi-user mode when multi is set */
    int multi;
    void *user_contents; /* multiuser.c: per-user contents managers */
    struct metrics *metrics;
    char login_secret[65]; /* HMAC key of user login cookies (per start) */
    void *http;            /* http.c's state */
};

#define SRV_MAX_PARAMS 4
#define SRV_ASYNC 1000 /* a handler's "answer comes later" status */

struct srv_header {
    char *name, *value;
};

struct srv_req {
    struct srv *srv;
    char method[8];
    char *path;  /* decoded, base_url removed, starts with '/' */
    char *query; /* raw query string, may be "" */
    char *body;
    size_t body_len;
    char *params[SRV_MAX_PARAMS]; /* captured by the route pattern */
    int token_auth;               /* authenticated by token (not cookie) */
    /* multi-user mode: who is asking ("" when nobody or in single-user mode) */
    char user[65];
    int64_t user_id;
    int user_admin; /* 1 in single-user mode */
    char peer[64];  /* the client's address (the socket's; a proxy's when behind one) */
    void *conn;     /* http.c's connection, for async answers */
    /* header lookup: lower-case name; NULL if absent. Implemented by http.c. */
    const char *(*header)(struct srv_req *r, const char *name);
    void *hctx;
};

struct srv_resp {
    int status;
    char content_type[96];
    struct jp_buf body;
    struct srv_header headers[8];
    int n_headers;
};

/* Query parameter `name` (decoded, malloc'd) or NULL. */
char *srv_query(const struct srv_req *r, const char *name);
/* Add a response header (copied). */
void srv_header_add(struct srv_resp *resp, const char *name, const char *value);
/* A JSON response (body stolen; NULL body means no content). */
void srv_json(struct srv_resp *resp, int status, json_t *body);
/* A JSON error {"message": msg, "reason": reason-or-null}. */
void srv_error(struct srv_resp *resp, int status, const char *msg, const char *reason);
/* Parse the request body as a JSON object/array; on failure answer 400 "Invalid JSON in body
 * of request" and return NULL. An empty body gives NULL without an error (*empty set). */
json_t *srv_body_json(struct srv_req *r, struct srv_resp *resp, int *empty);
/* Answer a request whose handler returned SRV_ASYNC. conn is req->conn. Safe when the client
 * has gone (the answer is dropped). Takes the response's contents. */
void srv_async_answer(void *conn, struct srv_resp *resp);
/* Keep a connection handle for an async answer (http.c); srv_async_release gives it up
 * when the handler ends up answering synchronously after all. */
void *srv_async_hold(struct srv_req *r);
void srv_async_release(void *handle);

typedef int (*srv_handler_fn)(struct srv_req *r, struct srv_resp *resp);

struct srv_route {
    const char *method;  /* "GET", ..., or "*" */
    const char *pattern; /* "/api/kernels/{id}", "{path*}" captures the rest (may be empty) */
    srv_handler_fn fn;
    int public; /* no authentication needed */
};

/* Every route of the server, NULL-terminated (router.c gathers them from the services). */
extern const struct srv_route srv_routes[];
/* Match method+path; params filled (malloc'd). Returns the route, or NULL with *method_ok
 * telling whether the path matched for another method (405). */
const struct srv_route *srv_route_match(const char *method, const char *path,
                                        char *params[SRV_MAX_PARAMS], int *path_matched);

/* Service entry points (api_*.c). */
int api_root(struct srv_req *r, struct srv_resp *resp);
int api_status(struct srv_req *r, struct srv_resp *resp);
int api_me(struct srv_req *r, struct srv_resp *resp);
int api_config(struct srv_req *r, struct srv_resp *resp);
int api_kernelspecs(struct srv_req *r, struct srv_resp *resp);
int api_kernelspec(struct srv_req *r, struct srv_resp *resp);
int api_kernelspec_resource(struct srv_req *r, struct srv_resp *resp);
int api_kernels(struct srv_req *r, struct srv_resp *resp);
int api_kernel(struct srv_req *r, struct srv_resp *resp);
/* Shared by kernels and sessions: the working directory for a kernel started for an API path
 * (malloc'd), and the kmgr_done_fn that answers a held request (srv_async_hold) 204 once a
 * kernel is gone, 500 with the reason if it could not be stopped. */
char *api_kernel_cwd(struct srv *s, const struct srv_req *r, const char *path);
void api_kernel_shutdown_done(void *handle, int status, const char *kernel_id, const char *reason);
int api_kernel_action(struct srv_req *r, struct srv_resp *resp);
int api_sessions(struct srv_req *r, struct srv_resp *resp);
int api_session(struct srv_req *r, struct srv_resp *resp);
int api_contents(struct srv_req *r, struct srv_resp *resp);
int api_checkpoints(struct srv_req *r, struct srv_resp *resp);
int api_checkpoint(struct srv_req *r, struct srv_resp *resp);
int api_files(struct srv_req *r, struct srv_resp *resp);
int api_not_here(struct srv_req *r, struct srv_resp *resp);
int api_nbconvert(struct srv_req *r, struct srv_resp *resp);
int page_login(struct srv_req *r, struct srv_resp *resp);
int page_logout(struct srv_req *r, struct srv_resp *resp);

int api_kernel_get_sub(struct srv_req *r, struct srv_resp *resp);
int api_kernel_log(struct srv_req *r, struct srv_resp *resp);
int api_profiles(struct srv_req *r, struct srv_resp *resp);
int api_k8s_stats(struct srv_req *r, struct srv_resp *resp);
/* A pod kernel just started for a request: answer once it runs (answer() fills the 201) or
 * failed (500 with the reason, then srv_remote_failed cleans up). SRV_ASYNC, or 0 when the
 * kernel is local (answer now). */
typedef void (*srv_remote_answer_fn)(struct srv *s, const char *kernel_id, const char *session_id,
                                     struct srv_resp *resp);
int srv_wait_remote(struct srv_req *r, const char *kernel_id, const char *session_id,
                    srv_remote_answer_fn answer);
void srv_remote_failed(struct srv *s, const char *kernel_id, const char *session_id);

/* ---- multi-user mode (multiuser.c) ---- */
/* The contents manager of the request's user (<root>/<user>, created 0700 on first use); the
 * server's own in single-user mode. NULL when it cannot be made (answer 500). */
struct contents *srv_contents(struct srv *s, const struct srv_req *r);
/* GPUs a kernel (its model) holds: its pod profile's, 0 for local or dead kernels; and all a
 * user's running kernels hold. */
int srv_kernel_gpus(struct srv *s, const json_t *model);
int srv_gpus_in_use(struct srv *s, const char *user);
/* Do a user's file operations with their uid (setfsuid; multi-user mode as root): returns
 * what srv_fs_leave needs. */
int srv_fs_enter(struct srv *s, const struct srv_req *r);
void srv_fs_leave(int entered);
/* Kernels an admin started for a user ahead of time: the user's next start of a matching
 * kernel (kernel name and profile, when given) gets one of them, ready, instead of a new one. */
void srv_add_prespawned(struct srv *s, const char *user, const char *kernel_id);
int srv_take_prespawned(struct srv *s, const struct srv_req *r, const char *kernel_name,
                        const char *profile, char id_out[37]);
/* May the request's user use this kernel (own it, or admin)? Always in single-user mode. */
int srv_may_use_kernel(struct srv *s, const struct srv_req *r, const char *kernel_id);
/* The owner to list for (NULL: everyone's, single-user mode). */
const char *srv_list_owner(const struct srv *s, const struct srv_req *r);
/* Before starting a kernel for the request's user: 0, or an answer already in resp (403 with
 * the limit named) when a quota would be exceeded. profile may be NULL. */
int srv_quota_check(struct srv *s, const struct srv_req *r, const char *profile,
                    struct srv_resp *resp);
/* Identify a user by API token or login cookie; 1 and r->user* set when one did. */
int srv_user_auth(struct srv *s, struct srv_req *r, struct srv_resp *resp);
/* Set the login cookie of a user (multi-user mode). */
void srv_set_user_cookie(struct srv *s, struct srv_resp *resp, int64_t user_id);
int api_admin(struct srv_req *r, struct srv_resp *resp);
int api_tokens(struct srv_req *r, struct srv_resp *resp);
int api_metrics(struct srv_req *r, struct srv_resp *resp);
/* Count an answer with an error status; observe a pod launch (api_metrics.c). */
void srv_metrics_response(struct srv *s, int status);
void srv_metrics_launch(void *ctx, double seconds);
/* Open users.db and turn multi-user mode on when it has users; the per-user culler. */
int srv_multiuser_init(struct srv *s);
void srv_multiuser_free(struct srv *s);

/* Mark server activity (for /api/status). */
void srv_touch(struct srv *s);
/* Record a (re)started kernel / a changed or removed session in the state database. */
void srv_persist_kernel(struct srv *s, const char *kernel_id);
void srv_persist_session(struct srv *s, const char *session_id);

#endif
