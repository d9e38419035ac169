/*
 * k8s_config.h - how to reach the Kubernetes API: in-cluster service-account credentials or a
 * kubeconfig file (parsed with k8s_yaml). Produces a plain struct the HTTP client (k8s_http.c)
 * turns into libcurl options; does no network I/O itself.
 *
 * Kubeconfig: path NULL means each file of $KUBECONFIG (a colon-separated list) in order,
 * else ~/.kube/config. Files are not merged as kubectl does: the first existing file decides
 * the context (current-context, or the named one must be in it); clusters and users are looked
 * up in that same file. Relative file paths (certificate-authority, client-certificate,
 * client-key, tokenFile) resolve against that file's directory. Supported: cluster server,
 * certificate-authority(-data), insecure-skip-tls-verify, tls-server-name; user token,
 * tokenFile, client-certificate(-data), client-key(-data), username/password; context
 * namespace. Users with exec or auth-provider fail with a clear "not supported, use a token
 * or client certificate" error (JP_EINVAL).
 */
#ifndef K8S_CONFIG_H
#define K8S_CONFIG_H

#include <stddef.h>

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Every string is malloc'd or NULL; *_pem buffers are the decoded bytes, NUL-terminated
 * (len excludes the NUL). */
struct k8s_conn {
    char *server;  /* "https://host:port" (no trailing slash); IPv6 hosts bracketed */
    char *ca_file; /* PEM bundle path, or NULL */
    char *ca_pem;  /* certificate-authority-data decoded, or NULL */
    size_t ca_pem_len;
    int insecure_skip_tls_verify;
    char *tls_server_name; /* SNI / name to verify instead of the server's host, or NULL */
    char *token;           /* static bearer token, or NULL */
    char *token_file;      /* bearer token to (re-)read: SA token or user.tokenFile, or NULL */
    char *client_cert_file;
    char *client_cert_pem;
    size_t client_cert_pem_len;
    char *client_key_file;
    char *client_key_pem; /* secret: wiped on free */
    size_t client_key_pem_len;
    char *username;
    char *password;  /* secret: wiped on free */
    char *namespace; /* never NULL on success: context/SA namespace, else "default" */
    char *context;   /* the context used; "in-cluster" for k8s_conn_in_cluster */
    char *source;    /* the kubeconfig path, or the service-account directory */
};

/* Fill *out (overwritten; free with k8s_conn_free) from a kubeconfig. path: see above.
 * context NULL: current-context. 0; JP_ENOENT (no file, no such context/cluster/user);
 * JP_EINVAL (malformed, unsupported auth); JP_EIO; JP_ENOMEM. why gets the detail. On
 * failure *out is left zeroed. */
int k8s_conn_from_kubeconfig(const char *path, const char *context, struct k8s_conn *out, char *why,
                             size_t whylen);

/* In-cluster: server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (IPv6 hosts
 * bracketed; port default 443), ca.crt, token (as token_file, to be re-read) and namespace
 * from sa_dir (NULL: K8S_SA_DIR). JP_ENOENT when the env var or the token file is missing. */
int k8s_conn_in_cluster(const char *sa_dir, struct k8s_conn *out, char *why, size_t whylen);

/* The usual choice: kubeconfig given -> that file; else KUBERNETES_SERVICE_HOST set ->
 * in-cluster; else $KUBECONFIG / ~/.kube/config. context as above. */
int k8s_conn_auto(const char *kubeconfig, const char *context, struct k8s_conn *out, char *why,
                  size_t whylen);

/* Release the members (wiping secrets) and zero the struct; the struct itself is the
 * caller's. NULL-safe. */
void k8s_conn_free(struct k8s_conn *c);

/* The bearer token to send now: token_file re-read (trailing whitespace stripped; at most
 * 64 KiB) when set, else a copy of token. *out malloc'd (caller wipes and frees), or NULL with
 * 0 when the connection has no token auth. JP_EIO / JP_ENOMEM with why. */
int k8s_conn_read_token(const struct k8s_conn *c, char **out, char *why, size_t whylen);

/* Base64 (standard alphabet, padding, whitespace ignored on decode). decode: *out malloc'd
 * and NUL-terminated, *outlen excludes the NUL; 0, JP_EINVAL (bad input) or JP_ENOMEM.
 * encode: a malloc'd NUL-terminated string or NULL. */
int k8s_base64_decode(const char *in, size_t len, char **out, size_t *outlen);
char *k8s_base64_encode(const void *in, size_t len);

#endif
