/*
 * firehose: a minimal Jupyter kernel for bench/ws that prints as fast as it can, so that the
 * IOPub throughput of a server can be measured above what a real kernel produces (the C
 * kernel spends most of its time JSON-encoding its output).
 *
 * What it does: binds the five sockets of its connection file (tcp only), signs what it sends
 * with HMAC-SHA256, answers kernel_info_request, shutdown_request and any other *_request
 * (with a bare {"status": "ok"}), brackets every request with IOPub busy/idle, echoes
 * heartbeats, and runs one kind of cell: `firehose N SIZE` publishes N stream messages of SIZE
 * bytes of stdout text each (lines of 63 'x' and a newline). The stream content is JSON-encoded
 * once; only the header and the signature are made per message. Its IOPub socket has no
 * high-water mark, so a slow server gets every message late rather than some never.
 *
 * What it does not do: check the signatures of requests, stdin, comms, interrupts (SIGINT is
 * ignored: servers interrupt before shutting down), anything else a kernel should do.
 * Run as `firehose -f CONNECTION_FILE` from the kernelspec bench/ws/run writes.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <zmq.h>

struct kern {
    void *ctx, *shell, *control, *stdin_s, *iopub, *hb;
    EVP_MAC_CTX *mac; /* keyed once; copied per message */
    char session[37];
    int count;   /* execution_count */
    int running; /* cleared by shutdown_request */
};

static void die(const char *what)
{
    fprintf(stderr, "firehose: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(2);
}

static void uuid4(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        die("getrandom");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* header JSON for a message of msg_type; returns its length in out */
static size_t header(struct kern *k, const char *msg_type, char *out, size_t cap)
{
    char id[37], day[24];
    struct timespec ts;
    struct tm tm;
    uuid4(id);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(out, cap,
                     "{\"msg_id\":\"%s\",\"session\":\"%s\",\"username\":\"firehose\",\"date\":"
                     "\"%.19s.%06uZ\",\"msg_type\":\"%s\",\"version\":\"5.3\"}",
                     id, k->session, day, (unsigned)(ts.tv_nsec / 1000) % 1000000u, msg_type);
    if (n < 0 || (size_t)n >= cap)
        die("header too long");
    return (size_t)n;
}

/* Send [prefix frames..., "<IDS|MSG>", signature, header, parent, "{}", content] on sock.
 * content is sent without a copy when it is const (the stream text, alive all run long). */
static void send_msg(struct kern *k, void *sock, zmq_msg_t *prefix, int nprefix,
                     const char *msg_type, const char *parent, size_t parent_n, const char *content,
                     size_t content_n, int content_const)
{
    char h[512], sig[65];
    size_t hn = header(k, msg_type, h, sizeof h);
    unsigned char mac[32];
    size_t macn = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(k->mac);
    if (!c || !EVP_MAC_update(c, (const unsigned char *)h, hn) ||
        !EVP_MAC_update(c, (const unsigned char *)parent, parent_n) ||
        !EVP_MAC_update(c, (const unsigned char *)"{}", 2) ||
        !EVP_MAC_update(c, (const unsigned char *)content, content_n) ||
        !EVP_MAC_final(c, mac, &macn, sizeof mac))
        die("HMAC");
    EVP_MAC_CTX_free(c);
    for (size_t i = 0; i < macn; i++)
        snprintf(sig + 2 * i, 3, "%02x", mac[i]);
    for (int i = 0; i < nprefix; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, &prefix[i]);
        if (zmq_msg_send(&copy, sock, ZMQ_SNDMORE) < 0)
            die("zmq_msg_send");
    }
    if (zmq_send(sock, "<IDS|MSG>", 9, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, sig, 2 * macn, ZMQ_SNDMORE) < 0 || zmq_send(sock, h, hn, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, parent, parent_n, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, "{}", 2, ZMQ_SNDMORE) < 0 ||
        (content_const ? zmq_send_const(sock, content, content_n, 0)
                       : zmq_send(sock, content, content_n, 0)) < 0)
        die("zmq_send");
}

static void publish(struct kern *k, const char *topic, const char *msg_type, const char *parent,
                    size_t parent_n, const char *content, size_t content_n, int content_const)
{
    zmq_msg_t t;
    zmq_msg_init_size(&t, strlen(topic));
    memcpy(zmq_msg_data(&t), topic, strlen(topic));
    send_msg(k, k->iopub, &t, 1, msg_type, parent, parent_n, content, content_n, content_const);
    zmq_msg_close(&t);
}

static void status(struct kern *k, const char *state, const char *parent, size_t parent_n)
{
    char c[64];
    int n = snprintf(c, sizeof c, "{\"execution_state\":\"%s\"}", state);
    publish(k, "status", "status", parent, parent_n, c, (size_t)n, 0);
}

static char *stream_content; /* {"name":"stdout","text":"..."} for the current SIZE */
static size_t stream_content_n, stream_size;

static void make_stream_content(size_t size)
{
    static const char head[] = "{\"name\":\"stdout\",\"text\":\"";
    if (stream_content && stream_size == size)
        return;
    /* an earlier buffer is not freed: zmq_send_const messages may still point into it */
    size_t lines = size / 64 + 1;
    stream_content = malloc(sizeof head + size + lines + 2);
    if (!stream_content)
        die("malloc");
    char *p = stream_content;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    for (size_t i = 0; i < size; i++) {
        if (i % 64 == 63) {
            *p++ = '\\';
            *p++ = 'n';
        } else {
            *p++ = 'x';
        }
    }
    *p++ = '"';
    *p++ = '}';
    stream_content_n = (size_t)(p - stream_content);
    stream_size = size;
}

static void handle(struct kern *k, void *sock, zmq_msg_t *parts, int n)
{
    int d = -1;
    for (int i = 0; i < n; i++)
        if (zmq_msg_size(&parts[i]) == 9 && memcmp(zmq_msg_data(&parts[i]), "<IDS|MSG>", 9) == 0) {
            d = i;
            break;
        }
    if (d < 0 || d + 5 >= n)
        return;
    const char *hdr = zmq_msg_data(&parts[d + 2]);
    size_t hdr_n = zmq_msg_size(&parts[d + 2]);
    json_t *h = json_loadb(hdr, hdr_n, 0, NULL);
    json_t *c = json_loadb(zmq_msg_data(&parts[d + 5]), zmq_msg_size(&parts[d + 5]), 0, NULL);
    const char *type = json_string_value(json_object_get(h, "msg_type"));
    if (!type || !c) {
        json_decref(h);
        json_decref(c);
        return;
    }
    status(k, "busy", hdr, hdr_n);
    char reply_type[128];
    const char *us = strstr(type, "_request");
    snprintf(reply_type, sizeof reply_type, "%.*s_reply", (int)(us ? us - type : 0), type);
    char *reply = NULL;
    if (strcmp(type, "kernel_info_request") == 0) {
        reply = strdup("{\"status\":\"ok\",\"protocol_version\":\"5.3\",\"implementation\":"
                       "\"firehose\",\"implementation_version\":\"0.1\",\"language_info\":"
                       "{\"name\":\"text\",\"version\":\"1\",\"mimetype\":\"text/plain\","
                       "\"file_extension\":\".txt\"},\"banner\":\"bench/ws firehose\","
                       "\"help_links\":[]}");
    } else if (strcmp(type, "execute_request") == 0) {
        const char *code = json_string_value(json_object_get(c, "code"));
        unsigned long msgs = 0, size = 0;
        if (code && sscanf(code, "firehose %lu %lu", &msgs, &size) == 2 && size > 0 &&
            size <= (64u << 20)) {
            make_stream_content(size);
            for (unsigned long i = 0; i < msgs; i++)
                publish(k, "stream.stdout", "stream", hdr, hdr_n, stream_content, stream_content_n,
                        1);
        }
        k->count++;
        json_t *r = json_pack("{s:s,s:i,s:{}}", "status", "ok", "execution_count", k->count,
                              "user_expressions");
        reply = json_dumps(r, JSON_COMPACT);
        json_decref(r);
    } else if (strcmp(type, "shutdown_request") == 0) {
        json_t *r =
            json_pack("{s:s,s:O}", "status", "ok", "restart",
                      json_object_get(c, "restart") ? json_object_get(c, "restart") : json_false());
        reply = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        k->running = 0;
    } else {
        reply = strdup("{\"status\":\"ok\"}");
    }
    if (us)
        send_msg(k, sock, parts, d, reply_type, hdr, hdr_n, reply, strlen(reply), 0);
    status(k, "idle", hdr, hdr_n);
    free(reply);
    json_decref(h);
    json_decref(c);
}

static void *bind_socket(struct kern *k, int type, const char *ip, json_t *conn, const char *key)
{
    char ep[128];
    json_int_t port = json_integer_value(json_object_get(conn, key));
    void *s = zmq_socket(k->ctx, type);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (type == ZMQ_PUB)
        zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
    snprintf(ep, sizeof ep, "tcp://%s:%lld", ip, (long long)port);
    if (zmq_bind(s, ep) != 0)
        die(ep);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "-f") != 0) {
        fprintf(stderr, "usage: firehose -f CONNECTION_FILE\n");
        return 2;
    }
    signal(SIGINT, SIG_IGN);
    json_error_t err;
    json_t *conn = json_load_file(argv[2], 0, &err);
    const char *ip = json_string_value(json_object_get(conn, "ip"));
    const char *key = json_string_value(json_object_get(conn, "key"));
    const char *transport = json_string_value(json_object_get(conn, "transport"));
    if (!ip || !key || !transport || strcmp(transport, "tcp") != 0) {
        fprintf(stderr, "firehose: connection file %s: need ip, key and tcp transport\n", argv[2]);
        return 2;
    }
    struct kern k = {.running = 1};
    uuid4(k.session);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    k.mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (!k.mac || !EVP_MAC_init(k.mac, (const unsigned char *)key, strlen(key), params))
        die("HMAC key");
    k.ctx = zmq_ctx_new();
    k.shell = bind_socket(&k, ZMQ_ROUTER, ip, conn, "shell_port");
    k.control = bind_socket(&k, ZMQ_ROUTER, ip, conn, "control_port");
    k.stdin_s = bind_socket(&k, ZMQ_ROUTER, ip, conn, "stdin_port");
    k.iopub = bind_socket(&k, ZMQ_PUB, ip, conn, "iopub_port");
    k.hb = bind_socket(&k, ZMQ_REP, ip, conn, "hb_port");
    while (k.running) {
        zmq_pollitem_t it[3] = {
            {k.control, 0, ZMQ_POLLIN, 0}, {k.shell, 0, ZMQ_POLLIN, 0}, {k.hb, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("zmq_poll");
        }
        for (int i = 0; i < 3; i++) {
            if (!(it[i].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_t parts[64];
            int n = 0, more = 1;
            while (more) {
                zmq_msg_t tmp;
                zmq_msg_init(&tmp);
                if (zmq_msg_recv(&tmp, it[i].socket, 0) < 0)
                    die("zmq_msg_recv");
                more = zmq_msg_more(&tmp);
                if (n < 64) {
                    zmq_msg_init(&parts[n]);
                    zmq_msg_move(&parts[n++], &tmp);
                }
                zmq_msg_close(&tmp);
            }
            if (it[i].socket == k.hb) {
                for (int j = 0; j < n; j++)
                    zmq_msg_send(&parts[j], k.hb, j < n - 1 ? ZMQ_SNDMORE : 0);
            } else {
                handle(&k, it[i].socket, parts, n);
            }
            for (int j = 0; j < n; j++)
                zmq_msg_close(&parts[j]);
        }
    }
    zmq_close(k.shell);
    zmq_close(k.control);
    zmq_close(k.stdin_s);
    zmq_close(k.iopub);
    zmq_close(k.hb);
    zmq_ctx_term(k.ctx);
    EVP_MAC_CTX_free(k.mac);
    EVP_MAC_free(mac);
    json_decref(conn);
    return 0;
}
