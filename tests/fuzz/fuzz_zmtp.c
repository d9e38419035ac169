/*
 * fuzz_zmtp.c - libFuzzer target for what a kernel (or anything listening on a kernel's port)
 * can send to the server's ZMTP client (server/zmtp.c). A listening Unix socket in the abstract
 * namespace stands in for the kernel; zt_open connects a DEALER or a SUB to it (first byte),
 * the peer answers with a valid greeting and READY (second byte odd) or not, then the rest of
 * the input, in chunks of a size taken from the third byte so that frames straddle reads, and
 * closes. The loop runs until the client has dropped the connection. Checks: no crash, no
 * out-of-bounds access, no leak (ASan), every delivered message within the size limit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "jp_log.h"
#include "zmtp.h"

#define LIMIT 4096

static size_t delivered;

static void on_msg(void *arg, const struct jp_frame *parts, size_t n)
{
    size_t total = 0;
    (void)arg;
    for (size_t i = 0; i < n; i++)
        total += parts[i].len;
    if (total > LIMIT)
        abort();
    delivered++;
}

static void peer_write(int fd, const void *d, size_t n)
{
    const unsigned char *p = d;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client hung up first, or is not reading: fine */
        p += w;
        n -= (size_t)w;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uv_loop_t loop;
    static int lfd = -1;
    static char ep[64];
    if (lfd < 0) {
        jp_log_set_level("error");
        uv_loop_init(&loop);
        struct sockaddr_un a = {0};
        a.sun_family = AF_UNIX;
        int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "cnote-fuzz-zmtp-%d", getpid());
        snprintf(ep, sizeof ep, "ipc://@%s", a.sun_path + 1);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (bind(lfd, (struct sockaddr *)&a, (socklen_t)(sizeof(sa_family_t) + 1 + (size_t)n)) ||
            listen(lfd, 4))
            abort();
    }
    if (size < 3)
        return 0;
    struct zt_opts o = {data[0] & 1 ? ZT_SUB : ZT_DEALER, "fuzz", LIMIT, on_msg, NULL};
    int handshake = data[1] & 1;
    size_t chunk = (size_t)data[2] * 7 + 1;
    data += 3;
    size -= 3;
    struct zt_sock *s = zt_open(&loop, ep, &o);
    if (!s)
        abort();
    /* connect() on a Unix socket completes at once */
    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (c < 0)
        abort();
    if (handshake) {
        unsigned char g[64] = {0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1, 'N', 'U', 'L', 'L'};
        static const unsigned char ready_router[] = {
            4,   26,  5,   'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't',
            '-', 'T', 'y', 'p', 'e', 0,   0,   0,   6,  'R', 'O', 'U', 'T', 'E', 'R'};
        static const unsigned char ready_pub[] = {4,   23,  5,   'R', 'E', 'A', 'D', 'Y', 11,
                                                  'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y',
                                                  'p', 'e', 0,   0,   0,   3,   'P', 'U', 'B'};
        peer_write(c, g, sizeof g);
        if (o.type == ZT_SUB)
            peer_write(c, ready_pub, sizeof ready_pub);
        else
            peer_write(c, ready_router, sizeof ready_router);
    }
    for (size_t off = 0; off < size; off += chunk) {
        peer_write(c, data + off, size - off < chunk ? size - off : chunk);
        for (int i = 0; i < 2; i++)
            uv_run(&loop, UV_RUN_NOWAIT);
    }
    close(c);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    zt_close(s);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    /* drain connections the client made again after being dropped */
    int fl;
    while ((fl = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
        close(fl);
    return 0;
}
