/*
 * k8s_config.c - Kubernetes API connection settings from in-cluster service-account files or
 * a kubeconfig (client-go's clientcmd semantics, minus merging of several files and minus
 * exec/auth-provider plugins). Reads files only; the HTTP client applies the result.
 */
#include "k8s_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "jp_err.h"
#include "k8s_yaml.h"

#define MAX_TOKEN ((size_t)64 << 10)
#define MAX_SMALL_FILE ((size_t)1 << 20)

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* ---- base64 ---------------------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *k8s_base64_encode(const void *in, size_t len)
{
    const unsigned char *s = in;
    char *out, *o;

    if (len > ((size_t)-1 / 4) * 3 - 3)
        return NULL;
    out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    o = out;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < len)
            v |= s[i + 2];
        *o++ = B64[(v >> 18) & 63];
        *o++ = B64[(v >> 12) & 63];
        *o++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? B64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

int k8s_base64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
    unsigned char *buf, *o;
    unsigned acc = 0;
    int bits = 0, pad = 0;

    buf = malloc(len / 4 * 3 + 4);
    if (!buf)
        return JP_ENOMEM;
    o = buf;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i], v;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad) /* data after padding */
            goto bad;
        const char *q = c ? strchr(B64, c) : NULL;
        if (!q)
            goto bad;
        v = (int)(q - B64);
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (bits >= 6 || pad > 2 || (acc & ((1u << bits) - 1)))
        goto bad;
    *o = '\0';
    *out = (char *)buf;
    *outlen = (size_t)(o - buf);
    return 0;
bad:
    free(buf);
    return JP_EINVAL;
}

/* ---- helpers --------------------------------------------------------------------------- */

static int read_small(const char *path, size_t max, char **out, size_t *outlen, char *why,
                      size_t whylen)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f) {
        say(why, whylen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? JP_ENOENT : JP_EIO;
    }
    buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return JP_ENOMEM;
    }
    n = fread(buf, 1, max + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n > max) {
        say(why, whylen, "%s: %s", path, err ? "read error" : "file too large");
        free(buf);
        return err ? JP_EIO : JP_ETOOBIG;
    }
    buf[n] = '\0';
    *out = buf;
    if (outlen)
        *outlen = n;
    return 0;
}

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        n--;
    s[n] = '\0';
    while (s[i] && strchr(" \t\r\n", s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

static void wipe_free(char *s, size_t n)
{
    if (s) {
        OPENSSL_cleanse(s, n ? n : strlen(s));
        free(s);
    }
}

void k8s_conn_free(struct k8s_conn *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->ca_file);
    free(c->ca_pem);
    free(c->tls_server_name);
    wipe_free(c->token, 0);
    free(c->token_file);
    free(c->client_cert_file);
    free(c->client_cert_pem);
    free(c->client_key_file);
    wipe_free(c->client_key_pem, c->client_key_pem_len);
    free(c->username);
    wipe_free(c->password, 0);
    free(c->namespace);
    free(c->context);
    free(c->source);
    memset(c, 0, sizeof *c);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* path resolved against dir unless absolute; malloc'd */
static char *resolve(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir)
        return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, path);
    return s;
}

/* The list entry {"name": name, key: {...}} of a kubeconfig section; borrowed or NULL. */
static json_t *named(const json_t *cfg, const char *section, const char *key, const char *name)
{
    json_t *list = json_object_get(cfg, section), *e;
    size_t i;

    json_array_foreach(list, i, e)
    {
        json_t *n = json_object_get(e, "name");
        if (json_is_string(n) && !strcmp(json_string_value(n), name)) {
            json_t *v = json_object_get(e, key);
            /* an entry without its body: answer the entry itself, which has none of the
             * fields looked up in a body */
            return json_is_object(v) ? v : e;
        }
    }
    return NULL;
}

static const char *str(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* Decode a *-data field into *pem; 0 when absent. */
static int decode_field(const json_t *o, const char *key, char **pem, size_t *len, char *why,
                        size_t whylen)
{
    const char *s = str(o, key);
    if (!s)
        return 0;
    int rc = k8s_base64_decode(s, strlen(s), pem, len);
    if (rc == JP_EINVAL)
        say(why, whylen, "%s is not valid base64", key);
    return rc;
}

static int dup_field(const json_t *o, const char *key, const char *dir, int is_path, char **out)
{
    const char *s = str(o, key);
    if (!s)
        return 0;
    *out = is_path ? resolve(dir, s) : strdup(s);
    return *out ? 0 : JP_ENOMEM;
}

/* Which file to use: the first existing one that has the context (or a current-context). */
static int pick_file(const char *context, char **path_out, json_t **cfg_out, char *why,
                     size_t whylen)
{
    const char *env = getenv("KUBECONFIG");
    char tried[512] = "";
    char err[512] = "";

    if (env && *env) {
        char *list = strdup(env), *save = NULL;
        if (!list)
            return JP_ENOMEM;
        for (char *f = strtok_r(list, ":", &save); f; f = strtok_r(NULL, ":", &save)) {
            if (!*f || !file_exists(f))
                continue;
            json_t *cfg = k8s_yaml_load_file(f, err, sizeof err);
            if (!cfg) {
                say(why, whylen, "%s", err);
                free(list);
                return JP_EINVAL;
            }
            const char *ctx = context ? context : str(cfg, "current-context");
            if (ctx && named(cfg, "contexts", "context", ctx)) {
                *path_out = strdup(f);
                *cfg_out = cfg;
                free(list);
                return *path_out ? 0 : JP_ENOMEM;
            }
            json_decref(cfg);
            size_t l = strlen(tried);
            snprintf(tried + l, sizeof tried - l, "%s%s", l ? ", " : "", f);
        }
        free(list);
        if (context)
            say(why, whylen, "no file in KUBECONFIG has context '%s' (existing files: %s)", context,
                tried[0] ? tried : "none");
        else
            say(why, whylen, "no file in KUBECONFIG has a current-context (existing files: %s)",
                tried[0] ? tried : "none");
        return JP_ENOENT;
    }
    const char *home = getenv("HOME");
    if (!home || !*home) {
        say(why, whylen, "no kubeconfig: KUBECONFIG and HOME are unset");
        return JP_ENOENT;
    }
    size_t n = strlen(home) + sizeof "/.kube/config";
    char *p = malloc(n);
    if (!p)
        return JP_ENOMEM;
    snprintf(p, n, "%s/.kube/config", home);
    if (!file_exists(p)) {
        say(why, whylen, "no kubeconfig: %s does not exist and KUBECONFIG is unset", p);
        free(p);
        return JP_ENOENT;
    }
    *cfg_out = k8s_yaml_load_file(p, why, whylen);
    if (!*cfg_out) {
        free(p);
        return JP_EINVAL;
    }
    *path_out = p;
    return 0;
}

int k8s_conn_from_kubeconfig(const char *path, const char *context, struct k8s_conn *out, char *why,
                             size_t whylen)
{
    struct k8s_conn c;
    json_t *cfg = NULL;
    char *file = NULL, *dir = NULL;
    int rc;

    memset(&c, 0, sizeof c);
    if (out)
        memset(out, 0, sizeof *out);
    if (!out)
        return JP_EINVAL;
    if (path) {
        if (!file_exists(path)) {
            say(why, whylen, "%s: no such file", path);
            return JP_ENOENT;
        }
        cfg = k8s_yaml_load_file(path, why, whylen);
        if (!cfg)
            return JP_EINVAL;
        file = strdup(path);
        if (!file) {
            rc = JP_ENOMEM;
            goto out;
        }
    } else if ((rc = pick_file(context, &file, &cfg, why, whylen))) {
        return rc;
    }
    if (!json_is_object(cfg)) {
        say(why, whylen, "%s: not a kubeconfig (top level is not a mapping)", file);
        rc = JP_EINVAL;
        goto out;
    }
    dir = strdup(file);
    if (!dir) {
        rc = JP_ENOMEM;
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");

    const char *ctx_name = context ? context : str(cfg, "current-context");
    if (!ctx_name) {
        say(why, whylen, "%s: no current-context (name one with --kube-context)", file);
        rc = JP_ENOENT;
        goto out;
    }
    json_t *ctx = named(cfg, "contexts", "context", ctx_name);
    if (!ctx) {
        say(why, whylen, "%s: no context named '%s'", file, ctx_name);
        rc = JP_ENOENT;
        goto out;
    }
    const char *cluster_name = str(ctx, "cluster");
    json_t *cluster = cluster_name ? named(cfg, "clusters", "cluster", cluster_name) : NULL;
    if (!cluster) {
        say(why, whylen, "%s: context '%s': no cluster named '%s'", file, ctx_name,
            cluster_name ? cluster_name : "");
        rc = JP_ENOENT;
        goto out;
    }
    const char *user_name = str(ctx, "user");
    json_t *user = NULL;
    if (user_name && !(user = named(cfg, "users", "user", user_name))) {
        say(why, whylen, "%s: context '%s': no user named '%s'", file, ctx_name, user_name);
        rc = JP_ENOENT;
        goto out;
    }

    const char *server = str(cluster, "server");
    if (!server) {
        say(why, whylen, "%s: cluster '%s' has no server", file, cluster_name);
        rc = JP_EINVAL;
        goto out;
    }
    c.server = strdup(server);
    if (!c.server) {
        rc = JP_ENOMEM;
        goto out;
    }
    size_t sl = strlen(c.server);
    while (sl > 0 && c.server[sl - 1] == '/')
        c.server[--sl] = '\0';
    c.insecure_skip_tls_verify = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
    if ((rc = dup_field(cluster, "certificate-authority", dir, 1, &c.ca_file)) ||
        (rc = decode_field(cluster, "certificate-authority-data", &c.ca_pem, &c.ca_pem_len, why,
                           whylen)) ||
        (rc = dup_field(cluster, "tls-server-name", dir, 0, &c.tls_server_name)))
        goto out;

    if (user) {
        int has_plugin = json_object_get(user, "exec") || json_object_get(user, "auth-provider");
        if ((rc = dup_field(user, "token", dir, 0, &c.token)) ||
            (rc = dup_field(user, "tokenFile", dir, 1, &c.token_file)) ||
            (rc = dup_field(user, "client-certificate", dir, 1, &c.client_cert_file)) ||
            (rc = decode_field(user, "client-certificate-data", &c.client_cert_pem,
                               &c.client_cert_pem_len, why, whylen)) ||
            (rc = dup_field(user, "client-key", dir, 1, &c.client_key_file)) ||
            (rc = decode_field(user, "client-key-data", &c.client_key_pem, &c.client_key_pem_len,
                               why, whylen)) ||
            (rc = dup_field(user, "username", dir, 0, &c.username)) ||
            (rc = dup_field(user, "password", dir, 0, &c.password)))
            goto out;
        int has_cert = c.client_cert_file || c.client_cert_pem;
        int has_key = c.client_key_file || c.client_key_pem;
        if (has_cert != has_key) {
            say(why, whylen, "%s: user '%s' has a client %s without its %s", file, user_name,
                has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
            rc = JP_EINVAL;
            goto out;
        }
        if (has_plugin && !c.token && !c.token_file && !has_cert && !c.username) {
            say(why, whylen,
                "%s: user '%s' authenticates with an %s plugin, which cnote does not support; "
                "use a token (e.g. a ServiceAccount token) or a client certificate",
                file, user_name, json_object_get(user, "exec") ? "exec" : "auth-provider");
            rc = JP_EINVAL;
            goto out;
        }
    }
    const char *ns = str(ctx, "namespace");
    c.namespace = strdup(ns ? ns : "default");
    c.context = strdup(ctx_name);
    c.source = file;
    file = NULL;
    if (!c.namespace || !c.context) {
        rc = JP_ENOMEM;
        goto out;
    }
    *out = c;
    memset(&c, 0, sizeof c);
    rc = 0;
out:
    k8s_conn_free(&c);
    json_decref(cfg);
    free(file);
    free(dir);
    return rc;
}

int k8s_conn_in_cluster(const char *sa_dir, struct k8s_conn *out, char *why, size_t whylen)
{
    struct k8s_conn c;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char *ns = NULL;
    int rc;

    memset(&c, 0, sizeof c);
    if (!out)
        return JP_EINVAL;
    memset(out, 0, sizeof *out);
    if (!sa_dir)
        sa_dir = K8S_SA_DIR;
    if (!host || !*host) {
        say(why, whylen, "not in a cluster: KUBERNETES_SERVICE_HOST is unset");
        return JP_ENOENT;
    }
    if (!port || !*port)
        port = "443";
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5) {
        say(why, whylen, "KUBERNETES_SERVICE_PORT '%s' is not a port", port);
        return JP_EINVAL;
    }
    int v6 = strchr(host, ':') != NULL && host[0] != '[';
    size_t n = strlen(host) + strlen(port) + 16;
    c.server = malloc(n);
    if (!c.server)
        return JP_ENOMEM;
    snprintf(c.server, n, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);

    c.token_file = resolve(sa_dir, "token");
    c.ca_file = resolve(sa_dir, "ca.crt");
    c.source = strdup(sa_dir);
    c.context = strdup("in-cluster");
    char *ns_path = resolve(sa_dir, "namespace");
    if (!c.token_file || !c.ca_file || !c.source || !c.context || !ns_path) {
        free(ns_path);
        rc = JP_ENOMEM;
        goto out;
    }
    if (access(c.token_file, R_OK) != 0) {
        say(why, whylen, "%s: %s (no service-account token mounted?)", c.token_file,
            strerror(errno));
        free(ns_path);
        rc = JP_ENOENT;
        goto out;
    }
    if (!file_exists(c.ca_file)) {
        free(c.ca_file);
        c.ca_file = NULL;
    }
    if (read_small(ns_path, 4096, &ns, NULL, NULL, 0) == 0) {
        trim(ns);
        if (!*ns) {
            free(ns);
            ns = NULL;
        }
    }
    free(ns_path);
    c.namespace = ns ? ns : strdup("default");
    if (!c.namespace) {
        rc = JP_ENOMEM;
        goto out;
    }
    *out = c;
    memset(&c, 0, sizeof c);
    rc = 0;
out:
    k8s_conn_free(&c);
    return rc;
}

int k8s_conn_auto(const char *kubeconfig, const char *context, struct k8s_conn *out, char *why,
                  size_t whylen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");

    if (!kubeconfig && host && *host)
        return k8s_conn_in_cluster(NULL, out, why, whylen);
    return k8s_conn_from_kubeconfig(kubeconfig, context, out, why, whylen);
}

int k8s_conn_read_token(const struct k8s_conn *c, char **out, char *why, size_t whylen)
{
    *out = NULL;
    if (c->token_file) {
        char *t;
        size_t n;
        int rc = read_small(c->token_file, MAX_TOKEN, &t, &n, why, whylen);
        if (rc)
            return rc;
        trim(t);
        if (!*t) {
            say(why, whylen, "%s: empty token", c->token_file);
            OPENSSL_cleanse(t, n);
            free(t);
            return JP_EIO;
        }
        *out = t;
        return 0;
    }
    if (c->token) {
        *out = strdup(c->token);
        return *out ? 0 : JP_ENOMEM;
    }
    return 0;
}
