/*
 * test_zmtp.c - server/zmtp.c against real libzmq peers (ROUTER, REP, PUB) on loopback TCP and
 * Unix sockets, driven on a real libuv loop: the handshake and routing id, multipart messages
 * with short, long, empty and 8 MiB frames both ways, messages queued before the peer exists,
 * reconnection after the peer goes and comes back, SUB receiving everything in order, the
 * heartbeat envelope against REP, refused peers (wrong socket type, not ZMTP at all) retried
 * without a crash, the incoming size limit, the send queue bound, bad endpoints, and closing a
 * socket from inside its own callback. Every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>
#include <zmq.h>

#include "jp_err.h"
#include "jp_log.h"
#include "zmtp.h"

#define MAXMSG 2048

struct rx {
    size_t n_msgs;
    /* the last message, copied */
    size_t nparts;
    size_t lens[16];
    unsigned char *data[16];
    /* sequence numbers seen (SUB test) */
    long seq[MAXMSG];
    size_t nseq;
    struct zt_sock *close_me; /* closed from inside the callback */
};

struct fx {
    uv_loop_t loop;
    void *ctx;
    struct rx rx;
};

static void rx_clear(struct rx *r)
{
    for (size_t i = 0; i < r->nparts; i++)
        free(r->data[i]);
    r->nparts = 0;
}

static void on_msg(void *arg, const struct jp_frame *parts, size_t n)
{
    struct rx *r = arg;
    rx_clear(r);
    r->n_msgs++;
    for (size_t i = 0; i < n && i < 16; i++) {
        r->lens[i] = parts[i].len;
        r->data[i] = malloc(parts[i].len + 1);
        memcpy(r->data[i], parts[i].data, parts[i].len);
        r->data[i][parts[i].len] = 0;
    }
    r->nparts = n < 16 ? n : 16;
    if (n == 1 && parts[0].len >= 4 && memcmp(parts[0].data, "seq ", 4) == 0 && r->nseq < MAXMSG)
        r->seq[r->nseq++] = strtol((const char *)r->data[0] + 4, NULL, 10);
    if (r->close_me) {
        zt_close(r->close_me);
        r->close_me = NULL;
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    f->ctx = zmq_ctx_new();
    jp_log_set_level(getenv("ZT_DEBUG") ? "debug" : "error");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rx_clear(&f->rx);
    /* let closed sockets free themselves */
    for (int i = 0; i < 10; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    zmq_ctx_term(f->ctx);
    free(f);
    return 0;
}

/* Run the loop until *flag (or the deadline); returns 1 when the flag was seen. */
static int spin_until(struct fx *f, int (*cond)(void *), void *arg, int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (cond(arg))
            return 1;
        usleep(1000);
    }
    return cond(arg);
}

static void spin(struct fx *f, int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static int is_connected(void *s)
{
    return zt_connected(s);
}

struct want {
    struct rx *rx;
    size_t n;
};

static int have_msgs(void *w)
{
    return ((struct want *)w)->rx->n_msgs >= ((struct want *)w)->n;
}

/* Receive one multipart message on a libzmq socket while the uv loop keeps running. */
static int zrecv(struct fx *f, void *sock, zmq_msg_t *parts, int max, int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 1) == 1) {
            int n = 0, more = 1;
            while (more && n < max) {
                zmq_msg_init(&parts[n]);
                assert_true(zmq_msg_recv(&parts[n], sock, 0) >= 0);
                more = zmq_msg_more(&parts[n]);
                n++;
            }
            return n;
        }
    }
    return 0;
}

static void zclose_parts(zmq_msg_t *parts, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

static void *zbind(struct fx *f, int type, const char *ep, char *out, size_t outlen)
{
    void *s = zmq_socket(f->ctx, type);
    int zero = 0, hwm = 100000; /* set before bind: the listener copies the options */
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    assert_int_equal(zmq_bind(s, ep), 0);
    size_t len = outlen;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, out, &len);
    return s;
}

static struct zt_sock *zopen(struct fx *f, const char *ep, enum zt_type type, const char *rid,
                             size_t max_msg)
{
    struct zt_opts o = {type, rid, max_msg, on_msg, &f->rx};
    struct zt_sock *s = zt_open(&f->loop, ep, &o);
    assert_non_null(s);
    return s;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_zmtp_dealer_router_roundtrip(void **state)
{
    struct fx *f = *state;
    char ep[256];
    void *router = zbind(f, ZMQ_ROUTER, "tcp://127.0.0.1:*", ep, sizeof ep);
    struct zt_sock *s = zopen(f, ep, ZT_DEALER, "rid-1234", 0);
    assert_true(spin_until(f, is_connected, s, 2000));

    /* short, empty and long (> 255 bytes) frames */
    char long_part[300];
    memset(long_part, 'L', sizeof long_part);
    struct jp_frame out[3] = {{"hello", 5}, {"", 0}, {long_part, sizeof long_part}};
    assert_int_equal(zt_send(s, out, 3), 0);
    zmq_msg_t in[8];
    int n = zrecv(f, router, in, 8, 2000);
    assert_int_equal(n, 4);
    assert_int_equal(zmq_msg_size(&in[0]), 8); /* our Identity became the routing id */
    assert_memory_equal(zmq_msg_data(&in[0]), "rid-1234", 8);
    assert_int_equal(zmq_msg_size(&in[1]), 5);
    assert_memory_equal(zmq_msg_data(&in[1]), "hello", 5);
    assert_int_equal(zmq_msg_size(&in[2]), 0);
    assert_int_equal(zmq_msg_size(&in[3]), sizeof long_part);
    assert_memory_equal(zmq_msg_data(&in[3]), long_part, sizeof long_part);

    /* the reply: a small frame, an 8 MiB frame (bigger than the read buffer), a small one */
    size_t big = 8u << 20;
    unsigned char *b = malloc(big);
    for (size_t i = 0; i < big; i++)
        b[i] = (unsigned char)(i * 7 + (i >> 13));
    zmq_send(router, "rid-1234", 8, ZMQ_SNDMORE);
    zmq_send(router, "head", 4, ZMQ_SNDMORE);
    zmq_send(router, b, big, ZMQ_SNDMORE);
    zmq_send(router, "tail", 4, 0);
    struct want w = {&f->rx, 1};
    assert_true(spin_until(f, have_msgs, &w, 5000));
    assert_int_equal(f->rx.nparts, 3);
    assert_int_equal(f->rx.lens[0], 4);
    assert_memory_equal(f->rx.data[0], "head", 4);
    assert_int_equal(f->rx.lens[1], big);
    assert_memory_equal(f->rx.data[1], b, big);
    assert_memory_equal(f->rx.data[2], "tail", 4);

    /* a 100 KiB frame: more than the read buffer starts with, less than it grows to */
    zmq_send(router, "rid-1234", 8, ZMQ_SNDMORE);
    zmq_send(router, b + 1000, 100 * 1024, 0);
    w.n = 2;
    assert_true(spin_until(f, have_msgs, &w, 5000));
    assert_int_equal(f->rx.nparts, 1);
    assert_int_equal(f->rx.lens[0], 100 * 1024);
    assert_memory_equal(f->rx.data[0], b + 1000, 100 * 1024);

    /* many small messages in one burst arrive whole and in order */
    for (int i = 0; i < 500; i++) {
        char t[32];
        int len = snprintf(t, sizeof t, "seq %d", i);
        zmq_send(router, "rid-1234", 8, ZMQ_SNDMORE);
        zmq_send(router, t, (size_t)len, 0);
    }
    w.n = 502;
    assert_true(spin_until(f, have_msgs, &w, 5000));
    assert_int_equal(f->rx.nseq, 500);
    for (int i = 0; i < 500; i++)
        assert_int_equal(f->rx.seq[i], i);
    free(b);
    zclose_parts(in, n);
    zt_close(s);
    zmq_close(router);
}

static void test_zmtp_queued_before_peer_binds(void **state)
{
    struct fx *f = *state;
    char ep[256], bound[256];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", free_port());
    struct zt_sock *s = zopen(f, ep, ZT_DEALER, "q", 0);
    for (int i = 0; i < 3; i++) {
        char t[8];
        snprintf(t, sizeof t, "m%d", i);
        struct jp_frame fr = {t, strlen(t)};
        assert_int_equal(zt_send(s, &fr, 1), 0);
    }
    spin(f, 60); /* a few refused connects */
    assert_false(zt_connected(s));
    assert_int_equal(zt_queued(s), 3);
    void *router = zbind(f, ZMQ_ROUTER, ep, bound, sizeof bound);
    for (int i = 0; i < 3; i++) {
        zmq_msg_t in[4];
        int n = zrecv(f, router, in, 4, 3000);
        assert_int_equal(n, 2);
        char t[8];
        snprintf(t, sizeof t, "m%d", i);
        assert_int_equal(zmq_msg_size(&in[1]), strlen(t));
        assert_memory_equal(zmq_msg_data(&in[1]), t, strlen(t));
        zclose_parts(in, n);
    }
    assert_int_equal(zt_queued(s), 0);
    zt_close(s);
    zmq_close(router);
}

static void test_zmtp_reconnects_after_peer_restart(void **state)
{
    struct fx *f = *state;
    char ep[256], bound[256];
    void *router = zbind(f, ZMQ_ROUTER, "tcp://127.0.0.1:*", ep, sizeof ep);
    struct zt_sock *s = zopen(f, ep, ZT_DEALER, "again", 0);
    assert_true(spin_until(f, is_connected, s, 2000));
    zmq_close(router);
    spin(f, 50);
    assert_false(zt_connected(s));
    router = zbind(f, ZMQ_ROUTER, ep, bound, sizeof bound);
    assert_true(spin_until(f, is_connected, s, 3000));
    struct jp_frame fr = {"after", 5};
    assert_int_equal(zt_send(s, &fr, 1), 0);
    zmq_msg_t in[4];
    int n = zrecv(f, router, in, 4, 3000);
    assert_int_equal(n, 2);
    assert_memory_equal(zmq_msg_data(&in[1]), "after", 5);
    zclose_parts(in, n);
    zt_close(s);
    zmq_close(router);
}

/* A SUB connected to a libzmq PUB bound on loopback, its subscription in effect: it reaches
 * the PUB a little after the handshake, so probes are published until one is heard. */
static struct zt_sock *sub_ready(struct fx *f, void **pub)
{
    char ep[256];
    *pub = zbind(f, ZMQ_PUB, "tcp://127.0.0.1:*", ep, sizeof ep);
    struct zt_sock *s = zopen(f, ep, ZT_SUB, NULL, 0);
    assert_true(spin_until(f, is_connected, s, 2000));
    for (int i = 0; i < 2000 && !f->rx.n_msgs; i++) {
        zmq_send(*pub, "probe", 5, 0);
        spin(f, 1);
    }
    assert_true(f->rx.n_msgs > 0);
    spin(f, 20); /* the probes still on their way */
    return s;
}

static void test_zmtp_sub_gets_everything_in_order(void **state)
{
    struct fx *f = *state;
    void *pub;
    struct zt_sock *s = sub_ready(f, &pub);
    struct want w = {&f->rx, 1};
    size_t base = f->rx.n_msgs;
    for (int i = 0; i < 1000; i++) {
        char t[32];
        int len = snprintf(t, sizeof t, "seq %d", i);
        zmq_send(pub, t, (size_t)len, 0);
    }
    w.n = base + 1000;
    assert_true(spin_until(f, have_msgs, &w, 5000));
    assert_int_equal(f->rx.nseq, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(f->rx.seq[i], i);
    /* a 10-part message with a 1 MiB part */
    unsigned char *mb = calloc(1, 1 << 20);
    mb[12345] = 42;
    for (int i = 0; i < 10; i++) {
        if (i == 5)
            zmq_send(pub, mb, 1 << 20, ZMQ_SNDMORE);
        else
            zmq_send(pub, "p", 1, i < 9 ? ZMQ_SNDMORE : 0);
    }
    w.n++;
    assert_true(spin_until(f, have_msgs, &w, 5000));
    assert_int_equal(f->rx.nparts, 10);
    assert_int_equal(f->rx.lens[5], 1 << 20);
    assert_int_equal(f->rx.data[5][12345], 42);
    assert_int_equal(f->rx.lens[9], 1);
    free(mb);
    zt_close(s);
    zmq_close(pub);
}

/* zt_pause_reading: nothing is delivered while paused (the messages wait in the socket buffers
 * and in the PUB), everything arrives in order after resuming */
static void test_zmtp_pause_reading_holds_messages(void **state)
{
    struct fx *f = *state;
    void *pub;
    struct zt_sock *s = sub_ready(f, &pub);
    size_t base = f->rx.n_msgs;
    zt_pause_reading(s, 1);
    zt_pause_reading(s, 1); /* idempotent */
    char t[1024];
    memset(t, ' ', sizeof t);
    for (int i = 0; i < 1000; i++) {
        snprintf(t, 32, "seq %d", i);
        t[strlen(t)] = ' ';
        zmq_send(pub, t, sizeof t, 0);
    }
    spin(f, 300);
    assert_int_equal(f->rx.n_msgs, base);
    assert_true(zt_connected(s));
    zt_pause_reading(s, 0);
    struct want w = {&f->rx, base + 1000};
    assert_true(spin_until(f, have_msgs, &w, 5000));
    assert_int_equal(f->rx.nseq, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(f->rx.seq[i], i);
    zt_pause_reading(NULL, 1); /* ignored */
    zt_close(s);
    zmq_close(pub);
}

static void test_zmtp_heartbeat_envelope_with_rep_over_ipc(void **state)
{
    struct fx *f = *state;
    char ep[256], path[128];
    snprintf(path, sizeof path, "/tmp/cnote-test-zmtp-%d", (int)getpid());
    snprintf(ep, sizeof ep, "ipc://%s", path);
    void *rep = zbind(f, ZMQ_REP, ep, ep, sizeof ep);
    struct zt_sock *s = zopen(f, ep, ZT_DEALER, NULL, 0);
    struct jp_frame ping[2] = {{"", 0}, {"ping", 4}};
    assert_int_equal(zt_send(s, ping, 2), 0);
    zmq_msg_t in[4];
    int n = zrecv(f, rep, in, 4, 3000);
    assert_int_equal(n, 1); /* REP took the empty delimiter as the envelope */
    assert_memory_equal(zmq_msg_data(&in[0]), "ping", 4);
    zmq_send(rep, zmq_msg_data(&in[0]), 4, 0);
    struct want w = {&f->rx, 1};
    assert_true(spin_until(f, have_msgs, &w, 3000));
    assert_int_equal(f->rx.nparts, 2);
    assert_int_equal(f->rx.lens[0], 0);
    assert_memory_equal(f->rx.data[1], "ping", 4);
    zclose_parts(in, n);
    zt_close(s);
    zmq_close(rep);
    unlink(path);
}

struct acceptor {
    int fd, accepted;
    const char *say;
};

static void accept_all(struct acceptor *a)
{
    int c;
    while ((c = accept(a->fd, NULL, NULL)) >= 0) {
        a->accepted++;
        if (write(c, a->say, strlen(a->say)) < 0) {
        }
        close(c);
    }
}

static void test_zmtp_refused_peers_are_retried(void **state)
{
    struct fx *f = *state;
    char ep[256];
    /* wrong socket type: a DEALER cannot talk to a PUB */
    void *pub = zbind(f, ZMQ_PUB, "tcp://127.0.0.1:*", ep, sizeof ep);
    struct zt_sock *s = zopen(f, ep, ZT_DEALER, NULL, 0);
    spin(f, 200);
    assert_false(zt_connected(s));
    zt_close(s);
    zmq_close(pub);

    /* not ZMTP at all: an HTTP-ish answer, then close; the socket retries with back-off */
    struct acceptor a = {socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), 0,
                         "HTTP/1.1 400 Bad Request\r\n\r\n"};
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof sa;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(a.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    listen(a.fd, 16);
    getsockname(a.fd, (struct sockaddr *)&sa, &len);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    s = zopen(f, ep, ZT_SUB, NULL, 0);
    for (int i = 0; i < 300; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        accept_all(&a);
        usleep(1000);
    }
    assert_false(zt_connected(s));
    assert_in_range(a.accepted, 2, 60); /* retried, backing off from 10 ms */
    zt_close(s);
    close(a.fd);
}

static void test_zmtp_incoming_size_limit(void **state)
{
    struct fx *f = *state;
    char ep[256];
    /* a PUB (no routing ids, so a quick reconnect is not mistaken for a duplicate peer) */
    void *pub = zbind(f, ZMQ_PUB, "tcp://127.0.0.1:*", ep, sizeof ep);
    struct zt_sock *s = zopen(f, ep, ZT_SUB, NULL, 1000);
    assert_true(spin_until(f, is_connected, s, 2000));
    char big[2000] = {0};
    int dropped = 0;
    for (int i = 0; i < 2000 && !dropped; i++) { /* until the subscription is in place */
        zmq_send(pub, big, sizeof big, 0);
        spin(f, 1);
        dropped = !zt_connected(s);
    }
    assert_true(dropped);
    assert_int_equal(f->rx.n_msgs, 0); /* dropped with the connection, never delivered */
    /* it comes back and a message within the limit goes through */
    assert_true(spin_until(f, is_connected, s, 3000));
    for (int i = 0; i < 2000 && !f->rx.n_msgs; i++) {
        zmq_send(pub, "small", 5, 0);
        spin(f, 1);
    }
    assert_true(f->rx.n_msgs > 0);
    assert_int_equal(f->rx.lens[0], 5);
    assert_memory_equal(f->rx.data[0], "small", 5);
    zt_close(s);
    zmq_close(pub);
}

static void test_zmtp_send_queue_bound_and_bad_endpoints(void **state)
{
    struct fx *f = *state;
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", free_port());
    struct zt_sock *s = zopen(f, ep, ZT_DEALER, NULL, 0);
    struct jp_frame fr = {"x", 1};
    for (int i = 0; i < ZT_MAX_QUEUED; i++)
        assert_int_equal(zt_send(s, &fr, 1), 0);
    assert_int_equal(zt_send(s, &fr, 1), JP_ETOOBIG);
    assert_int_equal(zt_send(s, &fr, 0), JP_EINVAL);
    zt_close(s);

    struct zt_opts o = {ZT_DEALER, NULL, 0, on_msg, &f->rx};
    const char *bad[] = {"udp://127.0.0.1:5",
                         "tcp://127.0.0.1",
                         "tcp://127.0.0.1:0",
                         "tcp://127.0.0.1:70000",
                         "tcp://[::1:5",
                         "tcp://:5",
                         "ipc://",
                         "tcp://127.0.0.1:12x",
                         "tcp://no-such-host.invalid:5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(zt_open(&f->loop, bad[i], &o));
    char rid[ZT_MAX_ROUTING_ID + 2];
    memset(rid, 'r', sizeof rid - 1);
    rid[sizeof rid - 1] = 0;
    struct zt_opts lo = {ZT_DEALER, rid, 0, on_msg, &f->rx};
    assert_null(zt_open(&f->loop, ep, &lo)); /* routing id too long */
    rid[ZT_MAX_ROUTING_ID] = 0; /* the longest allowed goes through the handshake whole */
    char rep[256];
    void *router = zbind(f, ZMQ_ROUTER, "tcp://127.0.0.1:*", rep, sizeof rep);
    s = zt_open(&f->loop, rep, &lo);
    assert_non_null(s);
    assert_int_equal(zt_send(s, &fr, 1), 0);
    zmq_msg_t in[4];
    int n = zrecv(f, router, in, 4, 3000);
    assert_int_equal(n, 2);
    assert_int_equal(zmq_msg_size(&in[0]), ZT_MAX_ROUTING_ID);
    assert_memory_equal(zmq_msg_data(&in[0]), rid, ZT_MAX_ROUTING_ID);
    zclose_parts(in, n);
    zt_close(s);
    zmq_close(router);
    /* IPv6 literal in brackets parses (whether ::1 answers does not matter here) */
    s = zt_open(&f->loop, "tcp://[::1]:5", &o);
    assert_non_null(s);
    zt_close(s);
    zt_close(NULL);
}

static void test_zmtp_close_inside_callback(void **state)
{
    struct fx *f = *state;
    char ep[256];
    void *router = zbind(f, ZMQ_ROUTER, "tcp://127.0.0.1:*", ep, sizeof ep);
    struct zt_sock *s = zopen(f, ep, ZT_DEALER, "cb", 0);
    assert_true(spin_until(f, is_connected, s, 2000));
    f->rx.close_me = s;
    for (int i = 0; i < 5; i++) { /* several in one read: only the first is delivered */
        zmq_send(router, "cb", 2, ZMQ_SNDMORE);
        zmq_send(router, "bye", 3, 0);
    }
    struct want w = {&f->rx, 1};
    assert_true(spin_until(f, have_msgs, &w, 2000));
    spin(f, 50);
    assert_int_equal(f->rx.n_msgs, 1);
    zmq_close(router);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zmtp_dealer_router_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_queued_before_peer_binds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_reconnects_after_peer_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_sub_gets_everything_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_pause_reading_holds_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_heartbeat_envelope_with_rep_over_ipc, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_refused_peers_are_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_incoming_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_send_queue_bound_and_bad_endpoints, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zmtp_close_inside_callback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
