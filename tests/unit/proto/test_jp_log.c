/*
 * test_jp_log.c - unit tests for proto/jp_log.c: the text line (unchanged format), the JSON
 * line (exact output for the house "words key=value key=\"quoted\"" style, integers as numbers,
 * reserved and repeated keys left in the message, escaping of control characters, quotes and
 * invalid UTF-8), the longest message still giving a whole valid line, random bytes always
 * giving valid JSON (checked with jansson), and the format switch. Lines written by
 * jp_log_write are caught by pointing fd 2 at a temporary file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "jp_log.h"

#define TS "2026-11-29T02:53:06.123456Z"
#define HEAD(lvl, comp) "{\"time\":\"" TS "\",\"level\":\"" lvl "\",\"component\":\"" comp "\""

static void check_json(enum jp_log_level lvl, const char *module, const char *msg, const char *want)
{
    char out[JP_LOG_JSON_MAX];
    size_t n = jp_log_json_line(out, sizeof out, TS, lvl, module, msg);

    assert_int_equal(n, strlen(out));
    assert_string_equal(out, want);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, out);
    json_decref(j);
}

static void test_jp_log_json_line_fields(void **state)
{
    (void)state;
    check_json(JP_LOG_INFO, "kmgr", "kernel ready kernel_id=ab-12 name=python3 pid=42",
               HEAD("info", "kmgr") ",\"message\":\"kernel ready\",\"kernel_id\":\"ab-12\","
                                    "\"name\":\"python3\",\"pid\":42}\n");
    check_json(JP_LOG_WARN, "kspecs",
               "skipping kernelspec path=/a/b c reason=\"No such file or directory\"",
               HEAD("warn", "kspecs") ",\"message\":\"skipping kernelspec c\",\"path\":\"/a/b\","
                                      "\"reason\":\"No such file or directory\"}\n");
    /* plain words after the fields join the message, spacing inside a stretch is kept */
    check_json(JP_LOG_ERROR, "ws", "dropped:  bad kernel_id=k1 (too  big) n=3 tail",
               HEAD("error", "ws") ",\"message\":\"dropped:  bad (too  big) tail\","
                                   "\"kernel_id\":\"k1\",\"n\":3}\n");
    check_json(JP_LOG_DEBUG, "x", "", HEAD("debug", "x") ",\"message\":\"\"}\n");
    check_json(JP_LOG_DEBUG, "x", "  only words  ",
               HEAD("debug", "x") ",\"message\":\"only words\"}\n");
    check_json(JP_LOG_INFO, "x", "a=1 b=2",
               HEAD("info", "x") ",\"message\":\"\",\"a\":1,\"b\":2}\n");
}

static void test_jp_log_json_line_values(void **state)
{
    (void)state;
    check_json(JP_LOG_INFO, "x",
               "m a=0 b=-5 c=007 d=1234567890123456 e=123456789012345 f=12a g=- h=3.5 i= "
               "j=\"12\" k=\"\" l=-0x1",
               HEAD("info", "x") ",\"message\":\"m\",\"a\":0,\"b\":-5,\"c\":\"007\","
                                 "\"d\":\"1234567890123456\",\"e\":123456789012345,\"f\":\"12a\","
                                 "\"g\":\"-\",\"h\":\"3.5\",\"i\":\"\",\"j\":\"12\",\"k\":\"\","
                                 "\"l\":\"-0x1\"}\n");
    /* a quoted value ends at a quote followed by a space or the end */
    check_json(JP_LOG_INFO, "x", "m why=\"a \"b\" c\" n=1",
               HEAD("info", "x") ",\"message\":\"m c\\\"\",\"why\":\"a \\\"b\",\"n\":1}\n");
    check_json(JP_LOG_INFO, "x", "m why=\"cut short x=1",
               HEAD("info", "x") ",\"message\":\"m\",\"why\":\"cut short x=1\"}\n");
    check_json(JP_LOG_INFO, "x", "m why=\"a\"b c",
               HEAD("info", "x") ",\"message\":\"m\",\"why\":\"a\\\"b c\"}\n");
    /* keys: [A-Za-z_][A-Za-z0-9_.-]*, else plain words */
    check_json(JP_LOG_INFO, "x", "1a=2 =3 a:b=4 k.v-2=5 _u=6",
               HEAD("info", "x") ",\"message\":\"1a=2 =3 a:b=4\",\"k.v-2\":5,\"_u\":6}\n");
}

static void test_jp_log_json_line_reserved_and_repeated_keys(void **state)
{
    (void)state;
    check_json(JP_LOG_INFO, "x", "message=hi a=1 time=now a=2 level=9 component=c",
               HEAD("info", "x") ",\"message\":\"message=hi time=now a=2 level=9 component=c\","
                                 "\"a\":1}\n");
}

static void test_jp_log_json_line_too_many_fields(void **state)
{
    (void)state;
    char msg[1024], out[JP_LOG_JSON_MAX];
    size_t n = 0;

    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "%sk%d=%d", i ? " " : "", i, i);
    jp_log_json_line(out, sizeof out, TS, JP_LOG_INFO, "x", msg);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 4 + 32);
    assert_int_equal(json_integer_value(json_object_get(j, "k31")), 31);
    assert_null(json_object_get(j, "k32"));
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "k32=32 k33=33 k34=34 k35=35 k36=36 k37=37 k38=38 k39=39");
    json_decref(j);
}

static void test_jp_log_json_line_escapes(void **state)
{
    (void)state;
    check_json(JP_LOG_INFO, "mo\"d",
               "tab\there\x01 nl\n q\" bs\\ del\x7f caf\xc3\xa9 bad\xff\xc3 k=\x1f",
               "{\"time\":\"" TS "\",\"level\":\"info\",\"component\":\"mo\\\"d\","
               "\"message\":\"tab\\u0009here\\u0001 nl\\u000a q\\\" bs\\\\ del\x7f caf\xc3\xa9 "
               "bad\\ufffd\\ufffd\",\"k\":\"\\u001f\"}\n");
    /* an overlong form and a surrogate are invalid too */
    check_json(JP_LOG_INFO, "x", "a \xc0\xaf \xed\xa0\x80",
               HEAD("info", "x") ",\"message\":\"a \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"}\n");
}

static void test_jp_log_json_line_longest_message_fits(void **state)
{
    (void)state;
    char msg[JP_LOG_MSG_MAX], out[JP_LOG_JSON_MAX], mod[200];

    memset(mod, 1, sizeof mod - 1);
    mod[sizeof mod - 1] = '\0';
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < sizeof msg - 1; i++)
            msg[i] = kind == 0 ? '\x01' : kind == 1 ? "a= "[i % 3] : "a=\x02 "[i % 4];
        msg[sizeof msg - 1] = '\0';
        size_t n = jp_log_json_line(out, sizeof out, TS, JP_LOG_ERROR, mod, msg);
        assert_true(n < sizeof out - 1);
        assert_memory_equal(out + n - 2, "}\n", 2);
        json_t *j = json_loads(out, 0, NULL);
        assert_non_null(j);
        json_decref(j);
    }
    /* a buffer too small cuts the line short without overflowing */
    char small[16];
    memset(small, 'z', sizeof small);
    assert_int_equal(jp_log_json_line(small, 10, TS, JP_LOG_INFO, "x", "m"), 9);
    assert_string_equal(small, "{\"time\":\"");
    assert_int_equal(small[11], 'z');
}

static void test_jp_log_json_line_random_bytes_valid(void **state)
{
    (void)state;
    char msg[300], out[JP_LOG_JSON_MAX];
    static const char alphabet[] = "ab=\" \\\x01\x7f\xc3\xa9\xff\xe2\x82\xac"
                                   "019-_.";
    unsigned seed = 12345;

    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(round % 290);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            msg[i] = (seed >> 16) & 1 ? alphabet[(seed >> 17) % (sizeof alphabet - 1)]
                                      : (char)(seed >> 20);
            if (!msg[i])
                msg[i] = 'x';
        }
        msg[n] = '\0';
        jp_log_json_line(out, sizeof out, TS, JP_LOG_INFO, "fz", msg);
        json_error_t err;
        json_t *j = json_loads(out, 0, &err);
        if (!j)
            fail_msg("round %d: not JSON (%s): %s", round, err.text, out);
        assert_true(json_is_string(json_object_get(j, "message")));
        json_decref(j);
    }
}

/* Run jp_log_write with fd 2 pointed at a file; returns what it wrote (malloc'd). */
static char *capture(enum jp_log_level lvl, const char *module, const char *msg)
{
    char path[] = "/tmp/test_jp_log_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    static char buf[JP_LOG_JSON_MAX + 1];

    assert_true(fd >= 0 && saved >= 0);
    unlink(path);
    fflush(stderr);
    assert_int_equal(dup2(fd, 2), 2);
    jp_log(lvl, module, "%s", msg);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return strdup(buf);
}

static int looks_like_time(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (size_t i = 0; i < sizeof pat - 1; i++)
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    return 1;
}

static void test_jp_log_write_text_default(void **state)
{
    (void)state;
    char *s = capture(JP_LOG_WARN, "srv", "listening ip=127.0.0.1 port=8888 why=\"a b\"");

    assert_true(looks_like_time(s));
    assert_string_equal(s + 27, " WARN srv listening ip=127.0.0.1 port=8888 why=\"a b\"\n");
    free(s);
    /* below the threshold nothing is written */
    s = capture(JP_LOG_DEBUG, "srv", "hidden");
    assert_string_equal(s, "");
    free(s);
    /* the text line is still cut at 2046 bytes plus the newline */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    s = capture(JP_LOG_ERROR, "srv", big);
    assert_int_equal(strlen(s), 2047);
    assert_int_equal(s[2046], '\n');
    free(s);
}

static void test_jp_log_write_json_and_switch(void **state)
{
    (void)state;
    jp_log_set_format("json");
    char *s = capture(JP_LOG_INFO, "srv", "listening ip=127.0.0.1 port=8888 why=\"a b\"");
    json_t *j = json_loads(s, 0, NULL);

    assert_non_null(j);
    assert_int_equal(s[strlen(s) - 1], '\n');
    assert_true(looks_like_time(json_string_value(json_object_get(j, "time"))));
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "component")), "srv");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "listening");
    assert_string_equal(json_string_value(json_object_get(j, "ip")), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(j, "port")), 8888);
    assert_string_equal(json_string_value(json_object_get(j, "why")), "a b");
    assert_int_equal(json_object_size(j), 7);
    json_decref(j);
    free(s);

    /* unknown names and NULL keep the format; "text" switches back */
    jp_log_set_format("yaml");
    jp_log_set_format(NULL);
    s = capture(JP_LOG_INFO, "srv", "still json");
    assert_int_equal(s[0], '{');
    free(s);
    jp_log_set_format("text");
    s = capture(JP_LOG_INFO, "srv", "plain");
    assert_string_equal(s + 27, " INFO srv plain\n");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_log_json_line_fields),
        cmocka_unit_test(test_jp_log_json_line_values),
        cmocka_unit_test(test_jp_log_json_line_reserved_and_repeated_keys),
        cmocka_unit_test(test_jp_log_json_line_too_many_fields),
        cmocka_unit_test(test_jp_log_json_line_escapes),
        cmocka_unit_test(test_jp_log_json_line_longest_message_fits),
        cmocka_unit_test(test_jp_log_json_line_random_bytes_valid),
        cmocka_unit_test(test_jp_log_write_text_default),
        cmocka_unit_test(test_jp_log_write_json_and_switch),
    };
    return cmocka_run_group_tests_name("jp_log", tests, NULL, NULL);
}
