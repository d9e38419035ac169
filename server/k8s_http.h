/*
 * k8s_http.h - the Kubernetes API client transport: libcurl's multi interface driven by the
 * server's libuv loop (no threads), HTTPS with the cluster's CA, a bearer token that is re-read
 * from its file (a rotating service-account token) at most every 60 s and at once after a 401,
 * client certificates, and streamed responses for watches and logs.
 *
 * Threading: everything on the loop thread. Callbacks fire from the loop, never from inside the
 * call that started the request. A cancelled request fires nothing.
 */
#ifndef K8S_HTTP_H
#define K8S_HTTP_H

#include <stddef.h>
#include <uv.h>

/* Where and how to reach the API server. Strings are copied. */
struct k8s_http_opts {
    const char *server;  /* "https://host:port" */
    const char *ca_file; /* PEM file, or NULL */
    const char *ca_pem;  /* PEM bytes (ca_len), or NULL */
    size_t ca_len;
    int insecure;           /* skip TLS verification (kubeconfig insecure-skip-tls-verify) */
    const char *token;      /* static bearer token, or NULL */
    const char *token_file; /* bearer token re-read from this file, or NULL */
    const char *cert_file, *key_file; /* client certificate, or NULL */
    const char *cert_pem, *key_pem;   /* the same as PEM bytes */
    size_t cert_len, key_len;
    const char *username, *password; /* basic auth, or NULL */
};

struct k8s_http;
struct k8s_req;

/* status: the HTTP status, or 0 when no response came (body then holds curl's error text).
 * body is NUL-terminated and borrowed for the duration of the call (for streams: what is left
 * unread, usually nothing). */
typedef void (*k8s_done_fn)(void *arg, long status, const char *body, size_t len);
/* A chunk of a streamed response body (only for 2xx answers); return 0 to go on, non-zero to
 * end the stream (done then fires with the status). */
typedef int (*k8s_data_fn)(void *arg, const char *data, size_t len);

struct k8s_http *k8s_http_new(uv_loop_t *loop, const struct k8s_http_opts *o, char *why,
                              size_t whylen);
/* Cancel everything in flight (nothing fires) and free. */
void k8s_http_free(struct k8s_http *h);

/* A request: method "GET", "POST", "PATCH", "PUT" or "DELETE"; path with its query string
 * (already escaped); body (may be NULL) sent with content_type (NULL: application/json).
 * timeout_ms 0: 30 s. Responses are capped at 64 MiB. At most 32 such requests are in flight
 * (the rest wait their turn, in order); 429 and 503 answers are retried after Retry-After
 * (1-10 s), up to 5 times, before done sees them. NULL when it could not be started (out
 * of memory). */
struct k8s_req *k8s_http_request(struct k8s_http *h, const char *method, const char *path,
                                 const char *body, const char *content_type, long timeout_ms,
                                 k8s_done_fn done, void *arg);
/* A streamed GET (watch, log follow): data fires with each chunk of a 2xx body, done at the
 * end. idle_ms > 0: the stream is ended (status 0, "idle") when nothing arrived for that long. */
struct k8s_req *k8s_http_stream(struct k8s_http *h, const char *path, long idle_ms,
                                k8s_data_fn data, k8s_done_fn done, void *arg);
/* Stop a request; its callbacks never fire. Safe from inside its own callbacks. */
void k8s_http_cancel(struct k8s_req *r);

struct k8s_http_stats {
    unsigned long requests;  /* started */
    unsigned long failures;  /* transport errors and 5xx */
    unsigned long in_flight; /* now */
    unsigned long token_reads;
    unsigned long throttled; /* 429/503 answers retried */
};
void k8s_http_stats(const struct k8s_http *h, struct k8s_http_stats *out);

#endif
