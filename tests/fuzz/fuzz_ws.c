/*
 * fuzz_ws.c - libFuzzer target for what a WebSocket client can send to the kernel bridge
 * (server/ws.c): the first byte picks the client's framing (v1 binary, legacy text, legacy
 * binary), the rest is one whole message. The bridge runs without a kernel manager, so
 * parsed messages are routed and dropped; the target checks that nothing crashes, reads out
 * of bounds or leaks, and that a kernel reply routed afterwards still reaches the client.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jp_log.h"
#include "ws.h"

static int writes;

static void want_write(void *t)
{
    (void)t;
    writes++;
}

static void close_conn(void *t, int code, const char *reason)
{
    (void)t;
    (void)code;
    (void)reason;
}

static const struct wsb_transport transport = {want_write, close_conn};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        jp_log_set_level("error");
        quiet = 1;
    }
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    struct wsb_opts o = {0};
    o.queue_limit = 1 << 20;
    struct wsb *b = wsb_new(NULL, &o);
    struct wsb_client *c = wsb_open(b, "k-1-2-3-4", "S", mode == 0, &transport, NULL);
    if (!c)
        abort();
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *msg = malloc(size - 1 ? size - 1 : 1);
    memcpy(msg, data + 1, size - 1);
    wsb_receive(c, msg, size - 1, mode != 1);
    free(msg);

    /* the client still gets a reply meant for its session */
    json_t *h =
        json_pack("{s:s,s:s,s:s}", "msg_id", "r", "msg_type", "kernel_info_reply", "session", "K");
    json_t *p = json_pack("{s:s,s:s}", "msg_id", "nope", "session", "S");
    struct kmgr_msg m;
    memset(&m, 0, sizeof m);
    m.channel = "shell";
    m.msg_type = "kernel_info_reply";
    m.header = h;
    m.parent_header = p;
    static char hs[] = "{\"msg_id\":\"r\",\"msg_type\":\"kernel_info_reply\",\"session\":\"K\"}";
    static char ps[] = "{\"msg_id\":\"nope\",\"session\":\"S\"}";
    m.parts[0] = (struct jp_frame){hs, sizeof hs - 1};
    m.parts[1] = (struct jp_frame){ps, sizeof ps - 1};
    m.parts[2] = (struct jp_frame){"{}", 2};
    m.parts[3] = (struct jp_frame){"{\"status\":\"ok\"}", 15};
    size_t before = wsb_queued(c);
    wsb_on_reply(b, "k-1-2-3-4", &m);
    if (wsb_queued(c) <= before)
        abort();
    json_decref(h);
    json_decref(p);
    struct wsb_piece piece;
    while (wsb_peek(c, &piece))
        wsb_advance(c);
    wsb_closed(c);
    wsb_free(b);
    return 0;
}
