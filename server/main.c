/*
 * main.c - cnote-server: the composition root. Reads options (defaults, then a JSON config
 * file, then CNOTE_* environment variables, then the command line, later ones winning),
 * builds the managers (contents, kernelspecs, kernels, sessions), starts the HTTP layer on
 * one libuv loop and runs it until SIGINT/SIGTERM. On exit it stops accepting, closes the
 * clients and leaves kernels running unless told to shut them down.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <jansson.h>

#include "auth.h"
#include "contents.h"
#include "http.h"
#include "jp_log.h"
#include "jp_time.h"
#include "k8s_config.h"
#include "k8s_prov.h"
#include "kmgr.h"
#include "kspecs.h"
#include "sessions.h"
#include "srv.h"
#include "store.h"
#include "users.h"
#include "ws.h"

static const char usage[] =
    "usage: cnote-server [options]\n"
    "       cnote-server user add NAME [--admin] [--password-stdin] | delete NAME | list |\n"
    "                         token NAME [--note N] [--expires-in S] | admin NAME on|off |\n"
    "                         passwd NAME   [--data-dir DIR]  (users.db: multi-user mode)\n"
    "  --ip ADDR                 address to listen on (default 127.0.0.1)      CNOTE_IP\n"
    "  --port N                  port (default 8888; 0 = any free port)       CNOTE_PORT\n"
    "  --root DIR                notebook directory (default .)               CNOTE_ROOT\n"
    "  --token TOKEN             access token ('' = none, loopback only)      CNOTE_TOKEN\n"
    "  --base-url /prefix/       URL prefix behind a proxy                    CNOTE_BASE_URL\n"
    "  --certfile F --keyfile F  TLS                                          "
    "CNOTE_CERTFILE/KEYFILE\n"
    "  --trust-proxy             honour X-Forwarded-* headers                 CNOTE_TRUST_PROXY\n"
    "  --allow-remote-access     accept any Host header                       "
    "CNOTE_ALLOW_REMOTE_ACCESS\n"
    "  --allow-origin ORIGIN     CORS origin ('*' for any)                    CNOTE_ALLOW_ORIGIN\n"
    "  --max-body-size BYTES     request body limit (default 512 MiB)         CNOTE_MAX_BODY_SIZE\n"
    "  --request-timeout S       idle/slow connection timeout (default 30)    "
    "CNOTE_REQUEST_TIMEOUT\n"
    "  --runtime-dir DIR         kernel connection files ($JUPYTER_RUNTIME_DIR) CNOTE_RUNTIME_DIR\n"
    "  --data-dir DIR            server state and config sections             CNOTE_DATA_DIR\n"
    "  --cull-idle-timeout S --cull-interval S --cull-connected --cull-busy   CNOTE_CULL_*\n"
    "  --shutdown-kernels-on-exit                                             "
    "CNOTE_SHUTDOWN_KERNELS_ON_EXIT\n"
    "  --allow-hidden            show and write dot files                     CNOTE_ALLOW_HIDDEN\n"
    "  --ws-queue-limit BYTES    per-client WebSocket send queue; past it\n"
    "                            stream/display output is dropped (32 MiB)    "
    "CNOTE_WS_QUEUE_LIMIT\n"
    "  --ws-replay-limit BYTES   kept for a disconnected client (32 MiB)      "
    "CNOTE_WS_REPLAY_LIMIT\n"
    "  --no-offline-buffer       keep nothing while no client is connected    "
    "CNOTE_NO_OFFLINE_BUFFER\n"
    "  --limit-rate              Jupyter's IOPub rate limits (off by default) CNOTE_LIMIT_RATE\n"
    "  --iopub-msg-rate-limit N  messages/s (1000)                            "
    "CNOTE_IOPUB_MSG_RATE_LIMIT\n"
    "  --iopub-data-rate-limit N stream bytes/s (1000000)                     "
    "CNOTE_IOPUB_DATA_RATE_LIMIT\n"
    "  --rate-limit-window S     seconds (3)                                  "
    "CNOTE_RATE_LIMIT_WINDOW\n"
    "  --kernel-env-allow LIST   env names a client may set when starting a\n"
    "                            kernel, comma list, X* = prefix (KERNEL_*)   "
    "CNOTE_KERNEL_ENV_ALLOW\n"
    "  --web-dir DIR             the built web app (default <bin>/../web)     CNOTE_WEB_DIR\n"
    "  --autosave-seconds N      the web app's autosave, 0 = off (120)        "
    "CNOTE_AUTOSAVE_SECONDS\n"
    "  --kernel-provisioner local|kubernetes  where kernels run (kubernetes when\n"
    "                            --k8s-config is given)                       "
    "CNOTE_KERNEL_PROVISIONER\n"
    "  --k8s-config FILE         kernel pod profiles (YAML/JSON)              CNOTE_K8S_CONFIG\n"
    "  --kubeconfig FILE         API server credentials (default: in-cluster,\n"
    "                            else $KUBECONFIG or ~/.kube/config)          CNOTE_KUBECONFIG\n"
    "  --k8s-context NAME --k8s-namespace NS  kubeconfig context, pod namespace\n"
    "  --instance-id ID          label of this server's pods (host name)      CNOTE_INSTANCE_ID\n"
    "  --k8s-user NAME           the user whose storage subPath pods mount    CNOTE_K8S_USER\n"
    "  --metrics-token T         bearer token for GET /metrics (else an admin,\n"
    "                            or the server token)                         CNOTE_METRICS_TOKEN\n"
    "  --metrics-public          /metrics without authentication              "
    "CNOTE_METRICS_PUBLIC\n"
    "  --log-format text|json    one JSON object per log line with json       CNOTE_LOG_FORMAT\n"
    "  --user-runtime-dir DIR    multi-user mode: the users' kernel directories\n"
    "                            (/run/cnote; each user's 0700, theirs)       "
    "CNOTE_USER_RUNTIME_DIR\n"
    "  --config FILE             JSON file with any of these options (keys as the long\n"
    "                            names with '_' for '-': {\"port\": 9000})      CNOTE_CONFIG\n"
    "  --log-level LEVEL         debug, info, warn, error                     CNOTE_LOG_LEVEL\n";

struct opt_def {
    const char *name; /* long option without "--" */
    int kind;         /* 0 string, 1 int, 2 flag, 3 size */
    size_t off;
    size_t len;
};

#define S(field) offsetof(struct srv_opts, field), sizeof(((struct srv_opts *)0)->field)
static const struct opt_def defs[] = {
    {"ip", 0, S(ip)},
    {"port", 1, S(port)},
    {"root", 0, S(root)},
    {"token", 0, S(token)},
    {"base-url", 0, S(base_url)},
    {"certfile", 0, S(certfile)},
    {"keyfile", 0, S(keyfile)},
    {"trust-proxy", 2, S(trust_proxy)},
    {"allow-remote-access", 2, S(allow_remote_access)},
    {"allow-origin", 0, S(allow_origin)},
    {"max-body-size", 3, S(max_body_size)},
    {"request-timeout", 1, S(request_timeout_s)},
    {"runtime-dir", 0, S(runtime_dir)},
    {"data-dir", 0, S(data_dir)},
    {"cull-idle-timeout", 1, S(cull_idle_timeout)},
    {"cull-interval", 1, S(cull_interval)},
    {"cull-connected", 2, S(cull_connected)},
    {"cull-busy", 2, S(cull_busy)},
    {"shutdown-kernels-on-exit", 2, S(shutdown_kernels_on_exit)},
    {"allow-hidden", 2, S(allow_hidden)},
    {"ws-queue-limit", 3, S(ws_queue_limit)},
    {"ws-replay-limit", 3, S(ws_replay_limit)},
    {"no-offline-buffer", 2, S(no_offline_buffer)},
    {"limit-rate", 2, S(limit_rate)},
    {"iopub-msg-rate-limit", 1, S(iopub_msg_rate_limit)},
    {"iopub-data-rate-limit", 3, S(iopub_data_rate_limit)},
    {"rate-limit-window", 1, S(rate_limit_window)},
    {"kernel-env-allow", 0, S(kernel_env_allow)},
    {"web-dir", 0, S(web_dir)},
    {"autosave-seconds", 1, S(autosave_seconds)},
    {"kernel-provisioner", 0, S(kernel_provisioner)},
    {"k8s-config", 0, S(k8s_config)},
    {"kubeconfig", 0, S(kubeconfig)},
    {"k8s-context", 0, S(k8s_context)},
    {"k8s-namespace", 0, S(k8s_namespace)},
    {"instance-id", 0, S(instance_id)},
    {"k8s-user", 0, S(k8s_user)},
    {"metrics-token", 0, S(metrics_token)},
    {"metrics-public", 2, S(metrics_public)},
    {"log-format", 0, S(log_format)},
    {"user-runtime-dir", 0, S(user_runtime_dir)},
};

static int set_opt(struct srv_opts *o, const struct opt_def *d, const char *v)
{
    char *field = (char *)o + d->off;
    char *end;
    switch (d->kind) {
    case 0:
        if (strlen(v) >= d->len)
            return -1;
        memcpy(field, v, strlen(v) + 1);
        if (strcmp(d->name, "token") == 0)
            o->token_set = 1;
        return 0;
    case 1: {
        long n = strtol(v, &end, 10);
        if (*v == '\0' || *end || n < 0 || n > INT_MAX)
            return -1;
        *(int *)(void *)field = (int)n;
        return 0;
    }
    case 2:
        *(int *)(void *)field = !(strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || !*v);
        return 0;
    default: {
        unsigned long long n = strtoull(v, &end, 10);
        if (*v == '\0' || *end)
            return -1;
        *(size_t *)(void *)field = (size_t)n;
        return 0;
    }
    }
}

static const struct opt_def *find_def(const char *name)
{
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

static int load_config(struct srv_opts *o, const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!json_is_object(j)) {
        fprintf(stderr, "cnote-server: bad config file %s: %s\n", path, e.text);
        json_decref(j);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        char name[64];
        snprintf(name, sizeof name, "%s", k);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '-';
        const struct opt_def *d = find_def(name);
        char buf[4096];
        if (json_is_string(v))
            snprintf(buf, sizeof buf, "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else if (json_is_boolean(v))
            snprintf(buf, sizeof buf, "%d", json_is_true(v));
        else
            buf[0] = '\1';
        if (!d || buf[0] == '\1' || set_opt(o, d, buf)) {
            fprintf(stderr, "cnote-server: bad option in %s: %s\n", path, k);
            json_decref(j);
            return -1;
        }
    }
    json_decref(j);
    return 0;
}

static int load_env(struct srv_opts *o)
{
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        char env[96] = "CNOTE_";
        size_t n = 6;
        for (const char *p = defs[i].name; *p && n + 1 < sizeof env; p++)
            env[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        env[n] = '\0';
        const char *v = getenv(env);
        if (v && set_opt(o, &defs[i], v)) {
            fprintf(stderr, "cnote-server: bad value in %s\n", env);
            return -1;
        }
    }
    return 0;
}

static int is_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 || strcmp(ip, "localhost") == 0;
}

static int finish_opts(struct srv_opts *o)
{
    /* base_url: always "/x/y/" */
    char b[256];
    const char *in = o->base_url[0] ? o->base_url : "/";
    snprintf(b, sizeof b, "%s%s", in[0] == '/' ? "" : "/", in);
    size_t n = strlen(b);
    if (b[n - 1] != '/' && n + 1 < sizeof b) {
        b[n] = '/';
        b[n + 1] = '\0';
    }
    snprintf(o->base_url, sizeof o->base_url, "%s", b);
    char real[PATH_MAX];
    if (!realpath(o->root[0] ? o->root : ".", real)) {
        fprintf(stderr, "cnote-server: root %s: %s\n", o->root, strerror(errno));
        return -1;
    }
    snprintf(o->root, sizeof o->root, "%s", real);
    if (o->token_set && !o->token[0] && !is_loopback(o->ip)) {
        fprintf(stderr,
                "cnote-server: refusing to run without a token on a non-loopback "
                "address (%s); give --token or --ip 127.0.0.1\n",
                o->ip);
        return -1;
    }
    if ((o->certfile[0] != 0) != (o->keyfile[0] != 0)) {
        fprintf(stderr, "cnote-server: --certfile and --keyfile go together\n");
        return -1;
    }
    const char *home = getenv("HOME");
    if (!o->data_dir[0])
        snprintf(o->data_dir, sizeof o->data_dir, "%s/.local/share/cnote", home ? home : "/tmp");
    /* kernels run in other directories: their connection files need absolute paths */
    char cwd[PATH_MAX], abs[sizeof o->data_dir];
    if (o->data_dir[0] != '/' && getcwd(cwd, sizeof cwd)) {
        snprintf(abs, sizeof abs, "%s/%s", cwd, o->data_dir);
        snprintf(o->data_dir, sizeof o->data_dir, "%s", abs);
    }
    if (o->web_dir[0] && o->web_dir[0] != '/' && getcwd(cwd, sizeof cwd)) {
        char wabs[sizeof o->web_dir];
        if ((size_t)snprintf(wabs, sizeof wabs, "%s/%s", cwd, o->web_dir) >= sizeof wabs) {
            fprintf(stderr, "cnote-server: --web-dir %s: path too long\n", o->web_dir);
            return -1;
        }
        snprintf(o->web_dir, sizeof o->web_dir, "%s", wabs);
    }
    if (o->runtime_dir[0] && o->runtime_dir[0] != '/' && getcwd(cwd, sizeof cwd)) {
        snprintf(abs, sizeof abs, "%s/%s", cwd, o->runtime_dir);
        snprintf(o->runtime_dir, sizeof o->runtime_dir, "%s", abs);
    }
    const char *jrd = getenv("JUPYTER_RUNTIME_DIR");
    if (!o->runtime_dir[0] && jrd && *jrd)
        snprintf(o->runtime_dir, sizeof o->runtime_dir, "%s", jrd);
    if (!o->runtime_dir[0]) {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg)
            snprintf(o->runtime_dir, sizeof o->runtime_dir, "%s/cnote", xdg);
        else
            snprintf(o->runtime_dir, sizeof o->runtime_dir, "%s/runtime", o->data_dir);
    }
    return 0;
}

static int parse_args(struct srv_opts *o, int argc, char **argv)
{
    const char *config = getenv("CNOTE_CONFIG");
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
    if (config && *config && load_config(o, config))
        return -1;
    if (load_env(o))
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "--log-level") == 0 && i + 1 < argc) {
            jp_log_set_level(argv[++i]);
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            goto bad;
        char name[64];
        const char *eq = strchr(a + 2, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - a - 2 : (long)strlen(a + 2)), a + 2);
        const struct opt_def *d = find_def(name);
        if (!d)
            goto bad;
        const char *v = eq ? eq + 1 : NULL;
        if (!v && d->kind == 2)
            v = "1";
        if (!v && i + 1 < argc)
            v = argv[++i];
        if (!v || set_opt(o, d, v)) {
            fprintf(stderr, "cnote-server: bad value for --%s\n", name);
            return -1;
        }
        continue;
    bad:
        fprintf(stderr, "cnote-server: unknown argument %s\n%s", a, usage);
        return -1;
    }
    return finish_opts(o);
}

static struct srv server;

static void on_iopub(void *ctx, const char *kernel_id, struct kmgr_msg *m)
{
    struct srv *s = ctx;
    wsb_on_iopub(s->wsb, kernel_id, m);
}

static void on_reply(void *ctx, const char *kernel_id, struct kmgr_msg *m)
{
    struct srv *s = ctx;
    wsb_on_reply(s->wsb, kernel_id, m);
}

static void on_lifecycle(void *ctx, const char *kernel_id, const char *event)
{
    struct srv *s = ctx;
    jp_log(JP_LOG_INFO, "server", "kernel event kernel_id=%s event=%s", kernel_id, event);
    wsb_on_lifecycle(s->wsb, kernel_id, event);
    if (strcmp(event, "removed") == 0 || strcmp(event, "culled") == 0)
        store_del_kernel(s->store, kernel_id);
    else if (strcmp(event, "autorestarted") == 0)
        srv_persist_kernel(s, kernel_id);
}

static void adopt_done(void *arg, int status, const char *kernel_id, const char *reason)
{
    struct srv *s = arg;
    if (status == 0) {
        jp_log(JP_LOG_INFO, "server", "adopted kernel kernel_id=%s", kernel_id);
        srv_persist_kernel(s, kernel_id);
    } else {
        jp_log(JP_LOG_INFO, "server", "kernel from the last run is gone kernel_id=%s reason=\"%s\"",
               kernel_id, reason ? reason : "");
        store_del_kernel(s->store, kernel_id);
    }
}

static void load_kernel(void *ctx, const struct kmgr_record *rec)
{
    struct srv *s = ctx;
    if (kmgr_adopt(s->kmgr, rec, adopt_done, s) != 0)
        store_del_kernel(s->store, rec->id);
}

static void load_session(void *ctx, const struct session *x)
{
    struct srv *s = ctx;
    sessions_add(s->sessions, x->id, x->path, x->name, x->type, x->kernel_id);
}

/* `cnote-server user ...` (users.h: users_cli) with --data-dir DIR / CNOTE_DATA_DIR taken out
 * of the arguments. */
static int user_command(int argc, char **argv)
{
    char dir[4096] = "", **rest = calloc((size_t)argc + 1, sizeof *rest);
    const char *env = getenv("CNOTE_DATA_DIR"), *home = getenv("HOME");
    int n = 0;

    if (!rest)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            snprintf(dir, sizeof dir, "%s", argv[++i]);
        else if (strncmp(argv[i], "--data-dir=", 11) == 0)
            snprintf(dir, sizeof dir, "%s", argv[i] + 11);
        else
            rest[n++] = argv[i];
    }
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s", env && *env ? env : "");
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s/.local/share/cnote", home ? home : "/tmp");
    mkdir(dir, 0700);
    int rc = users_cli(n, rest, dir);
    free(rest);
    return rc;
}

/* The Kubernetes provisioner, when configured: 0, or -1 after saying why on stderr. */
static int k8s_setup(struct srv *s)
{
    struct srv_opts *o = &s->o;
    struct k8s_conn c;
    struct k8s_http_opts ho;
    struct k8s_profiles *profiles;
    struct k8s_http *http;
    char why[1024], host[64] = "";
    int kube = strcmp(o->kernel_provisioner, "kubernetes") == 0;

    if (o->kernel_provisioner[0] && !kube && strcmp(o->kernel_provisioner, "local") != 0) {
        fprintf(stderr, "cnote-server: --kernel-provisioner must be local or kubernetes\n");
        return -1;
    }
    if (!o->k8s_config[0]) {
        if (kube) {
            fprintf(stderr, "cnote-server: --kernel-provisioner kubernetes needs --k8s-config "
                            "FILE (the kernel pod profiles)\n");
            return -1;
        }
        return 0;
    }
    if (!(profiles = k8s_profiles_load(o->k8s_config, why, sizeof why))) {
        fprintf(stderr, "cnote-server: %s: %s\n", o->k8s_config, why);
        return -1;
    }
    memset(&c, 0, sizeof c);
    if (k8s_conn_auto(o->kubeconfig[0] ? o->kubeconfig : NULL,
                      o->k8s_context[0] ? o->k8s_context : NULL, &c, why, sizeof why) != 0) {
        fprintf(stderr, "cnote-server: Kubernetes credentials: %s\n", why);
        k8s_profiles_free(profiles);
        return -1;
    }
    memset(&ho, 0, sizeof ho);
    ho.server = c.server;
    ho.ca_file = c.ca_file;
    ho.ca_pem = c.ca_pem;
    ho.ca_len = c.ca_pem_len;
    ho.insecure = c.insecure_skip_tls_verify;
    ho.token = c.token;
    ho.token_file = c.token_file;
    ho.cert_file = c.client_cert_file;
    ho.key_file = c.client_key_file;
    ho.cert_pem = c.client_cert_pem;
    ho.cert_len = c.client_cert_pem_len;
    ho.key_pem = c.client_key_pem;
    ho.key_len = c.client_key_pem_len;
    ho.username = c.username;
    ho.password = c.password;
    http = k8s_http_new(s->loop, &ho, why, sizeof why);
    if (!http) {
        fprintf(stderr, "cnote-server: Kubernetes API %s: %s\n", c.server, why);
        k8s_conn_free(&c);
        k8s_profiles_free(profiles);
        return -1;
    }
    struct k8s_prov_opts po = {0};
    const char *pns = k8s_profiles_namespace(profiles);
    char ns[64];
    snprintf(ns, sizeof ns, "%s",
             o->k8s_namespace[0] ? o->k8s_namespace
             : pns && *pns       ? pns
                                 : c.namespace);
    if (!o->instance_id[0]) {
        gethostname(host, sizeof host - 1);
        for (char *p = host; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                  *p == '_' || (*p >= 'A' && *p <= 'Z')))
                *p = '-';
    }
    po.namespace = ns;
    po.instance = o->instance_id[0] ? o->instance_id : host[0] ? host : "cnote";
    po.user = o->k8s_user[0] ? o->k8s_user : "default";
    char root[PATH_MAX];
    po.root = realpath(o->root[0] ? o->root : ".", root) ? root : o->root;
    /* --kernel-provisioner local with a --k8s-config: only kernelspecs that name the Kubernetes
     * provisioner run in pods */
    s->k8s = k8s_prov_new(s->loop, s->kmgr, http, profiles, &po,
                          strcmp(o->kernel_provisioner, "local") != 0, why, sizeof why);
    if (!s->k8s) {
        fprintf(stderr, "cnote-server: Kubernetes provisioner: %s\n", why);
        k8s_http_free(http);
        k8s_profiles_free(profiles);
        k8s_conn_free(&c);
        return -1;
    }
    k8s_prov_on_launch(s->k8s, srv_metrics_launch, s);
    jp_log(JP_LOG_INFO, "server", "kernels run as Kubernetes pods api=%s namespace=%s instance=%s",
           c.server, ns, po.instance);
    k8s_conn_free(&c);
    return 0;
}

static void on_signal(uv_signal_t *h, int sig)
{
    jp_log(JP_LOG_INFO, "server", "stopping signal=%d", sig);
    http_stop(&server);
    if (server.kmgr) {
        kmgr_free(server.kmgr, server.o.shutdown_kernels_on_exit);
        server.kmgr = NULL;
    }
    wsb_free(server.wsb);
    server.wsb = NULL;
    k8s_prov_free(server.k8s);
    server.k8s = NULL;
    srv_multiuser_free(&server);
    uv_signal_stop(h);
    uv_stop(h->loop);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    struct srv *s = &server;
    char exe[PATH_MAX], extra[PATH_MAX + 32];
    s->o.port = 8888;
    snprintf(s->o.ip, sizeof s->o.ip, "127.0.0.1");
    s->o.max_body_size = (size_t)512 << 20;
    snprintf(s->o.kernel_env_allow, sizeof s->o.kernel_env_allow, "KERNEL_*");
    s->o.request_timeout_s = 30;
    s->o.cull_interval = 300;
    s->o.autosave_seconds = 120;
    jp_log_set_level(getenv("CNOTE_LOG_LEVEL"));
    if (argc >= 2 && strcmp(argv[1], "user") == 0)
        return user_command(argc, argv);
    jp_log_set_format(getenv("CNOTE_LOG_FORMAT"));
    if (parse_args(&s->o, argc, argv))
        return 2;
    if (s->o.log_format[0])
        jp_log_set_format(s->o.log_format);
    signal(SIGPIPE, SIG_IGN);

    /* cnote's own kernelspec ships next to the binary (build/share/jupyter) */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(extra, sizeof extra, "%s/../share/jupyter", exe);
    const char *extra_dirs[] = {extra, NULL};
    /* and so does the built web app (build/web) */
    if (!s->o.web_dir[0]) {
        char web[PATH_MAX + 16];
        snprintf(web, sizeof web, "%s/../web", exe);
        if (!realpath(web, s->o.web_dir))
            snprintf(s->o.web_dir, sizeof s->o.web_dir, "%s", web);
    }

    s->loop = uv_default_loop();
    s->last_activity_us = jp_time_now_us();
    jp_time_format(s->last_activity_us, s->started, sizeof s->started);
    static struct kspecs specs;
    static struct sessions sessions;
    s->kspecs = &specs;
    s->sessions = &sessions;
    if (kspecs_scan(&specs, extra_dirs) != 0)
        return 1;
    struct contents_opts co = {s->o.allow_hidden, s->o.max_body_size};
    s->contents = contents_new(s->o.root, &co);
    if (!s->contents) {
        fprintf(stderr, "cnote-server: cannot use root %s\n", s->o.root);
        return 1;
    }
    mkdir(s->o.data_dir, 0700);
    struct kmgr_opts ko = {0};
    ko.runtime_dir = s->o.runtime_dir;
    ko.ip = "127.0.0.1";
    ko.cull_idle_timeout_s = s->o.cull_idle_timeout;
    ko.cull_interval_s = s->o.cull_interval;
    ko.cull_connected = s->o.cull_connected;
    ko.cull_busy = s->o.cull_busy;
    struct wsb_opts wo = {0};
    wo.queue_limit = s->o.ws_queue_limit;
    wo.replay_limit = s->o.ws_replay_limit;
    wo.no_offline = s->o.no_offline_buffer;
    wo.limit_rate = s->o.limit_rate;
    wo.msg_rate_limit = s->o.iopub_msg_rate_limit;
    wo.data_rate_limit = s->o.iopub_data_rate_limit;
    wo.rate_window_s = s->o.rate_limit_window;
    s->wsb = wsb_new(NULL, &wo);
    static const struct kmgr_events events = {on_iopub, on_reply, on_lifecycle};
    s->kmgr = kmgr_new(s->loop, &specs, &ko, &events, s);
    if (!s->wsb || !s->kmgr || auth_init(s) || http_start(s))
        return 1;
    wsb_set_kmgr(s->wsb, s->kmgr);
    if (srv_multiuser_init(s) != 0)
        return 1;
    if (k8s_setup(s) != 0)
        return 1;
    char dbpath[4200];
    snprintf(dbpath, sizeof dbpath, "%s/state.db", s->o.data_dir);
    s->store = store_open(dbpath);
    if (s->store)
        store_load(s->store, load_kernel, load_session, s);

    uv_signal_t sigint, sigterm;
    uv_signal_init(s->loop, &sigint);
    uv_signal_init(s->loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);

    const char *scheme = s->o.certfile[0] ? "https" : "http";
    if (s->multi)
        printf("cnote-server is running at:\n    %s://%s:%d%s\n(multi-user mode: log in with "
               "a user name and password, or use a user's API token)\n",
               scheme, s->o.ip, s->o.port, s->o.base_url);
    else if (s->o.token[0])
        printf("cnote-server is running at:\n    %s://%s:%d%s?token=%s\n", scheme, s->o.ip,
               s->o.port, s->o.base_url, s->o.token);
    else
        printf("cnote-server is running at:\n    %s://%s:%d%s\n", scheme, s->o.ip, s->o.port,
               s->o.base_url);
    fflush(stdout);
    jp_log(JP_LOG_INFO, "server", "listening ip=%s port=%d root=%s", s->o.ip, s->o.port, s->o.root);
    char index[sizeof s->o.web_dir + 16];
    snprintf(index, sizeof index, "%s/index.html", s->o.web_dir);
    if (access(index, R_OK) != 0)
        jp_log(JP_LOG_WARN, "server",
               "the web app is not built (run make): a placeholder page is served web_dir=%s",
               s->o.web_dir);

    uv_run(s->loop, UV_RUN_DEFAULT);

    /* let lws and the managers close their handles */
    uv_walk(s->loop, close_handle, NULL);
    uv_run(s->loop, UV_RUN_DEFAULT);
    uv_loop_close(s->loop);
    contents_free(s->contents);
    store_close(s->store);
    sessions_dispose(&sessions);
    kspecs_dispose(&specs);
    return 0;
}
