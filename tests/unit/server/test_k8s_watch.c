/*
 * test_k8s_watch.c - unit tests for server/k8s_watch.c: events split at every byte, several
 * events per chunk, CRLF and blank lines, multi-MiB objects, BOOKMARK and resourceVersion
 * tracking, ERROR events and 410 Gone, garbage lines, a line over the limit (never buffered)
 * followed by a good one, the end-of-stream partial line, and reset between connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jp_err.h"
#include "k8s_watch.h"

struct seen {
    int n;
    char types[16][16];
    char names[16][64];
    size_t sizes[16];
};

static void on_event(void *ctx, const char *type, json_t *object)
{
    struct seen *s = ctx;
    if (s->n < 16) {
        snprintf(s->types[s->n], sizeof s->types[0], "%s", type);
        const char *name =
            json_string_value(json_object_get(json_object_get(object, "metadata"), "name"));
        snprintf(s->names[s->n], sizeof s->names[0], "%s", name ? name : "");
        json_t *d = json_object_get(json_object_get(object, "data"), "blob");
        s->sizes[s->n] = json_string_length(d);
    }
    s->n++;
}

#define EV_ADDED                                                                                   \
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\","              \
    "\"resourceVersion\":\"101\"}}}\n"
#define EV_MODIFIED                                                                                \
    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\","           \
    "\"resourceVersion\":\"102\"},\"status\":{\"phase\":\"Running\"}}}\n"
#define EV_BOOKMARK                                                                                \
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":"       \
    "\"250\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n"
#define EV_GONE                                                                                    \
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"   \
    "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (250)\",\"reason\":"         \
    "\"Expired\",\"code\":410}}\n"

static void test_feed_byte_by_byte(void **state)
{
    struct seen s = {0};
    const char *stream = EV_ADDED EV_MODIFIED EV_BOOKMARK;
    (void)state;

    struct k8s_watch_parser *p = k8s_watch_new(0, on_event, &s);
    assert_non_null(p);
    assert_null(k8s_watch_last_rv(p));
    int total = 0;
    for (size_t i = 0; stream[i]; i++)
        total += k8s_watch_feed(p, stream + i, 1);
    assert_int_equal(total, 3);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.types[0], "ADDED");
    assert_string_equal(s.names[0], "p1");
    assert_string_equal(s.types[1], "MODIFIED");
    assert_string_equal(s.types[2], "BOOKMARK");
    assert_string_equal(k8s_watch_last_rv(p), "250");
    assert_int_equal(k8s_watch_events(p), 3);
    assert_int_equal(k8s_watch_malformed(p), 0);
    assert_false(k8s_watch_gone(p));
    k8s_watch_free(p);
}

static void test_feed_many_events_one_chunk_crlf_blank(void **state)
{
    struct seen s = {0};
    const char *stream = "\n\r\n" EV_ADDED "\r\n   \n" EV_MODIFIED;
    (void)state;

    struct k8s_watch_parser *p = k8s_watch_new(0, on_event, &s);
    /* the same with CR before each LF */
    char crlf[1024];
    size_t o = 0;
    for (const char *c = EV_ADDED EV_MODIFIED; *c; c++) {
        if (*c == '\n')
            crlf[o++] = '\r';
        crlf[o++] = *c;
    }
    crlf[o] = '\0';
    assert_int_equal(k8s_watch_feed(p, stream, strlen(stream)), 2);
    assert_int_equal(k8s_watch_feed(p, crlf, o), 2);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.types[3], "MODIFIED");
    assert_string_equal(k8s_watch_last_rv(p), "102");
    assert_int_equal(k8s_watch_malformed(p), 0);
    k8s_watch_free(p);
}

static char *big_event(size_t blob, const char *name, const char *rv)
{
    char *s = malloc(blob + 256);
    int n = snprintf(s, 256,
                     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"%s\","
                     "\"resourceVersion\":\"%s\"},\"data\":{\"blob\":\"",
                     name, rv);
    memset(s + n, 'z', blob);
    strcpy(s + n + blob, "\"}}}\n");
    return s;
}

static void test_feed_huge_object_in_odd_chunks(void **state)
{
    struct seen s = {0};
    (void)state;

    char *ev = big_event((size_t)6 << 20, "huge", "7");
    size_t len = strlen(ev);
    struct k8s_watch_parser *p = k8s_watch_new(0, on_event, &s);
    size_t off = 0, step = 1;
    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        assert_true(k8s_watch_feed(p, ev + off, n) >= 0);
        off += n;
        step = step * 3 + 7; /* 1, 10, 37, ... growing odd sizes */
    }
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "huge");
    assert_int_equal(s.sizes[0], (size_t)6 << 20);
    assert_string_equal(k8s_watch_last_rv(p), "7");
    /* and one more ordinary event after it */
    assert_int_equal(k8s_watch_feed(p, EV_ADDED, strlen(EV_ADDED)), 1);
    free(ev);
    k8s_watch_free(p);
}

static void test_error_410_sets_gone(void **state)
{
    struct seen s = {0};
    (void)state;

    struct k8s_watch_parser *p = k8s_watch_new(0, on_event, &s);
    assert_int_equal(k8s_watch_feed(p, EV_ADDED EV_GONE, strlen(EV_ADDED EV_GONE)), 2);
    assert_string_equal(s.types[1], "ERROR");
    assert_true(k8s_watch_gone(p));
    /* the Status does not move the resume point */
    assert_string_equal(k8s_watch_last_rv(p), "101");
    k8s_watch_reset(p);
    assert_false(k8s_watch_gone(p));
    assert_string_equal(k8s_watch_last_rv(p), "101");

    /* an ERROR that is not 410 is passed on without setting gone */
    const char *e500 = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500}}\n";
    assert_int_equal(k8s_watch_feed(p, e500, strlen(e500)), 1);
    assert_false(k8s_watch_gone(p));
    k8s_watch_free(p);
}

static void test_garbage_lines_are_counted_and_skipped(void **state)
{
    struct seen s = {0};
    const char *stream = "not json\n"
                         "{\"type\":\"ADDED\"}\n"
                         "{\"type\":1,\"object\":{}}\n"
                         "[1,2,3]\n"
                         "{\"type\":\"ADDED\",\"object\":\"x\"}\n"
                         "{\"type\":\"ADDED\",\"object\":{}, trailing}\n" EV_ADDED "\x01\x02\xff\n";
    (void)state;

    struct k8s_watch_parser *p = k8s_watch_new(0, on_event, &s);
    assert_int_equal(k8s_watch_feed(p, stream, strlen(stream)), 1);
    assert_int_equal(s.n, 1);
    assert_int_equal(k8s_watch_malformed(p), 7);
    assert_int_equal(k8s_watch_events(p), 1);
    /* an event with a metadata-less object keeps the previous resource version */
    const char *norv = "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\"}}\n";
    assert_int_equal(k8s_watch_feed(p, norv, strlen(norv)), 1);
    assert_string_equal(k8s_watch_last_rv(p), "101");
    k8s_watch_free(p);
}

static void test_oversized_line_dropped_then_resync(void **state)
{
    struct seen s = {0};
    (void)state;

    /* default limit 16 MiB; a 20 MiB line fed in 1 MiB chunks, then a good line */
    char *ev = big_event((size_t)20 << 20, "toobig", "900");
    size_t len = strlen(ev);
    struct k8s_watch_parser *p = k8s_watch_new(0, on_event, &s);
    for (size_t off = 0; off < len; off += (size_t)1 << 20) {
        size_t n = len - off < ((size_t)1 << 20) ? len - off : ((size_t)1 << 20);
        assert_int_equal(k8s_watch_feed(p, ev + off, n), 0);
    }
    assert_int_equal(k8s_watch_oversized(p), 1);
    assert_int_equal(s.n, 0);
    assert_int_equal(k8s_watch_feed(p, EV_ADDED, strlen(EV_ADDED)), 1);
    assert_string_equal(s.names[0], "p1");
    assert_string_equal(k8s_watch_last_rv(p), "101");
    free(ev);

    /* small explicit limit: the over-long line and the good one in the same chunk */
    struct seen s2 = {0};
    struct k8s_watch_parser *q = k8s_watch_new(64, on_event, &s2);
    char buf[512];
    memset(buf, 'g', 200);
    buf[200] = '\n';
    const char *small = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"d\"}}}\n";
    strcpy(buf + 201, small);
    assert_int_equal(k8s_watch_feed(q, buf, strlen(buf)), 1);
    assert_int_equal(k8s_watch_oversized(q), 1);
    assert_string_equal(s2.types[0], "DELETED");
    k8s_watch_free(q);
    k8s_watch_free(p);
}

static void test_end_of_stream_and_set_rv(void **state)
{
    struct seen s = {0};
    (void)state;

    struct k8s_watch_parser *p = k8s_watch_new(0, on_event, &s);
    assert_int_equal(k8s_watch_set_rv(p, "55"), 0);
    assert_string_equal(k8s_watch_last_rv(p), "55");
    /* no trailing newline: nothing until the stream ends */
    assert_int_equal(k8s_watch_feed(p, EV_ADDED, strlen(EV_ADDED) - 1), 0);
    assert_int_equal(k8s_watch_end(p), 1);
    assert_string_equal(k8s_watch_last_rv(p), "101");
    assert_int_equal(k8s_watch_end(p), 0);
    /* reset drops a partial line */
    assert_int_equal(k8s_watch_feed(p, "{\"type\":", 8), 0);
    k8s_watch_reset(p);
    assert_int_equal(k8s_watch_feed(p, EV_MODIFIED, strlen(EV_MODIFIED)), 1);
    assert_int_equal(k8s_watch_malformed(p), 0);
    assert_int_equal(k8s_watch_set_rv(p, NULL), 0);
    assert_null(k8s_watch_last_rv(p));
    assert_null(k8s_watch_new(0, NULL, NULL));
    k8s_watch_free(NULL);
    k8s_watch_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_byte_by_byte),
        cmocka_unit_test(test_feed_many_events_one_chunk_crlf_blank),
        cmocka_unit_test(test_feed_huge_object_in_odd_chunks),
        cmocka_unit_test(test_error_410_sets_gone),
        cmocka_unit_test(test_garbage_lines_are_counted_and_skipped),
        cmocka_unit_test(test_oversized_line_dropped_then_resync),
        cmocka_unit_test(test_end_of_stream_and_set_rv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
