/*
 * test_jp_buf.c - unit tests for proto/jp_buf.c: appends within and past the cap, formatted
 * appends that grow the buffer, take/consume/reset, and unchanged contents when an
 * allocation fails. Does not test other modules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "failalloc.h"
#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_err.h"

static void test_jp_buf_init_empty(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.limit, 100);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_appends_and_terminates(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_add(&b, "abc", 3), 0);
    assert_int_equal(jp_buf_adds(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_true(b.cap >= b.len + 1);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_binary_with_nul(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_add(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_zero_length(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 0);
    assert_int_equal(jp_buf_add(&b, "", 0), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_exactly_limit(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 5);
    assert_int_equal(jp_buf_add(&b, "12345", 5), 0);
    assert_int_equal(b.len, 5);
    assert_int_equal(b.cap, 6); /* never more than limit + 1 */
    assert_int_equal(jp_buf_add(&b, "x", 1), JP_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "12345");
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_over_limit_unchanged(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 8);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    assert_int_equal(jp_buf_adds(&b, "123456"), JP_ETOOBIG);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    /* a length that would overflow len + n */
    assert_int_equal(jp_buf_add(&b, "x", SIZE_MAX), JP_ETOOBIG);
    assert_string_equal(b.data, "abc");
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_grows_many_times(void **state)
{
    struct jp_buf b;
    char chunk[100];
    int i;

    (void)state;
    memset(chunk, 'z', sizeof chunk);
    jp_buf_init(&b, 1 << 20);
    for (i = 0; i < 1000; i++)
        assert_int_equal(jp_buf_add(&b, chunk, sizeof chunk), 0);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(b.data[99999], 'z');
    jp_buf_dispose(&b);
}

static void test_jp_buf_addf_formats(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_addf(&b, "%s=%d", "x", 42), 0);
    assert_int_equal(jp_buf_addf(&b, ",%05.1f", 2.5), 0);
    assert_string_equal(b.data, "x=42,002.5");
    assert_int_equal(b.len, strlen("x=42,002.5"));
    jp_buf_dispose(&b);
}

static void test_jp_buf_addf_grows_past_spare_room(void **state)
{
    struct jp_buf b;
    char big[500];

    (void)state;
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jp_buf_init(&b, 10000);
    assert_int_equal(jp_buf_adds(&b, "ab"), 0);
    assert_int_equal(jp_buf_addf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 2 + 2 + 499);
    assert_int_equal(b.data[2], '<');
    assert_int_equal(b.data[b.len - 1], '>');
    assert_int_equal(b.data[b.len], '\0');
    jp_buf_dispose(&b);
}

static void test_jp_buf_addf_over_limit_unchanged(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 10);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    /* fits the allocation (64 bytes) but not the limit */
    assert_int_equal(jp_buf_addf(&b, "%s", "0123456789"), JP_ETOOBIG);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    /* larger than the allocation and the limit */
    jp_buf_dispose(&b);
    assert_int_equal(jp_buf_addf(&b, "%0100d", 7), JP_ETOOBIG);
    assert_int_equal(b.len, 0);
    jp_buf_dispose(&b);
}

static void test_jp_buf_take_returns_content(void **state)
{
    struct jp_buf b;
    char *s;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "hello"), 0);
    s = jp_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    jp_free(s);
    /* reusable afterwards */
    assert_int_equal(jp_buf_adds(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    jp_buf_dispose(&b);
}

static void test_jp_buf_take_empty_gives_empty_string(void **state)
{
    struct jp_buf b;
    char *s;

    (void)state;
    jp_buf_init(&b, 100);
    s = jp_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    jp_free(s);
}

static void test_jp_buf_consume_prefix(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "abcdef"), 0);
    jp_buf_consume(&b, 2);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "cdef");
    jp_buf_consume(&b, 0);
    assert_string_equal(b.data, "cdef");
    jp_buf_consume(&b, 4);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    jp_buf_consume(&b, 0); /* on an empty buffer */
    jp_buf_dispose(&b);
}

static void test_jp_buf_reset_keeps_allocation(void **state)
{
    struct jp_buf b;
    char *before;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    before = b.data;
    jp_buf_reset(&b);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    jp_buf_dispose(&b);
    jp_buf_reset(&b); /* on a buffer with no allocation */
    assert_null(b.data);
}

static void test_jp_buf_dispose_twice(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    jp_buf_dispose(&b);
    jp_buf_dispose(&b);
    assert_null(b.data);
    assert_int_equal(b.limit, 100);
}

static void test_jp_buf_add_nomem_unchanged(void **state)
{
    struct jp_buf b;
    char chunk[200];
    long live;

    (void)state;
    memset(chunk, 'k', sizeof chunk);
    live = failalloc_live();
    jp_buf_init(&b, 10000);
    failalloc_arm(1, FAILALLOC_ALL);
    assert_int_equal(jp_buf_adds(&b, "first"), JP_ENOMEM);
    failalloc_disarm();
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(jp_buf_adds(&b, "first"), 0);
    failalloc_arm(1, FAILALLOC_ALL);
    assert_int_equal(jp_buf_add(&b, chunk, sizeof chunk), JP_ENOMEM); /* needs to grow */
    failalloc_arm(1, FAILALLOC_ALL);
    assert_int_equal(jp_buf_addf(&b, "%.*s", 150, chunk), JP_ENOMEM);
    failalloc_disarm();
    assert_string_equal(b.data, "first");
    assert_int_equal(b.len, 5);
    failalloc_arm(1, FAILALLOC_ALL);
    jp_buf_dispose(&b);
    assert_null(jp_buf_take(&b)); /* the "" it would return cannot be allocated */
    failalloc_disarm();
    assert_int_equal(failalloc_live(), live);
}

static void check_jstr(const char *in, const char *want)
{
    struct jp_buf b;

    jp_buf_init(&b, 1000);
    assert_int_equal(jp_buf_add_jstr(&b, in), 0);
    assert_string_equal(b.data, want);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_jstr_escapes(void **state)
{
    (void)state;
    check_jstr("", "\"\"");
    check_jstr("plain id-1", "\"plain id-1\"");
    check_jstr("a\"b\\c", "\"a\\\"b\\\\c\"");
    check_jstr("l1\nl2\tx\r\x01\x1f", "\"l1\\nl2\\tx\\r\\u0001\\u001f\"");
    check_jstr("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* a lone continuation byte, a truncated sequence, an overlong '/', a surrogate */
    check_jstr("a\x80"
               "b",
               "\"a\\ufffdb\"");
    check_jstr("\xe2\x82", "\"\\ufffd\\ufffd\"");
    check_jstr("\xc0\xaf", "\"\\ufffd\\ufffd\"");
    check_jstr("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
}

/* whatever the bytes, the result parses as JSON and valid text comes back unchanged */
static void test_jp_buf_add_jstr_parses(void **state)
{
    unsigned seed = 12345;
    char in[64];
    struct jp_buf b;

    (void)state;
    for (int round = 0; round < 2000; round++) {
        size_t n = (seed = seed * 1103515245u + 12345u) % (sizeof in - 1);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (char)((seed >> 16) % 255 + 1);
        }
        in[n] = '\0';
        jp_buf_init(&b, 1000);
        assert_int_equal(jp_buf_add_jstr(&b, in), 0);
        json_error_t err;
        json_t *v = json_loads(b.data, JSON_DECODE_ANY, &err);
        assert_non_null(v);
        assert_true(json_is_string(v));
        json_t *direct = json_string(in); /* NULL when `in` is not valid UTF-8 */
        if (direct)
            assert_string_equal(json_string_value(v), in);
        json_decref(direct);
        json_decref(v);
        jp_buf_dispose(&b);
    }
}

/* the counted form: NULs inside, a sequence cut by the end, a long run (one allocation) */
static void test_jp_buf_add_jstrn_counted(void **state)
{
    struct jp_buf b;
    char big[5000];

    (void)state;
    jp_buf_init(&b, 100000);
    assert_int_equal(jp_buf_add_jstrn(&b, "a\0b\xe2\x82", 5), 0);
    assert_string_equal(b.data, "\"a\\ufffdb\\ufffd\\ufffd\"");
    jp_buf_reset(&b);
    assert_int_equal(jp_buf_add_jstrn(&b, "\xe2\x82\xac", 3), 0); /* whole: kept */
    assert_string_equal(b.data, "\"\xe2\x82\xac\"");
    jp_buf_reset(&b);
    memset(big, 'x', sizeof big);
    big[100] = '"';
    assert_int_equal(jp_buf_add_jstrn(&b, big, sizeof big), 0);
    assert_int_equal(b.len, sizeof big + 3); /* quotes and one backslash */
    json_error_t err;
    json_t *v = json_loads(b.data, JSON_DECODE_ANY, &err);
    assert_non_null(v);
    assert_int_equal(json_string_length(v), sizeof big);
    json_decref(v);
    jp_buf_dispose(&b);
    /* a tight limit: the size hint must not make a fitting string fail */
    jp_buf_init(&b, 200);
    assert_int_equal(jp_buf_add_jstrn(&b, big + 200, 150), 0);
    assert_int_equal(b.len, 152);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_jstr_over_limit_unchanged(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 8);
    assert_int_equal(jp_buf_adds(&b, "ab"), 0);
    assert_int_equal(jp_buf_add_jstr(&b, "\n\n\n"), JP_ETOOBIG);
    assert_string_equal(b.data, "ab");
    assert_int_equal(b.len, 2);
    jp_buf_dispose(&b);
}

static int setup_failalloc(void **state)
{
    (void)state;
    failalloc_install();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_buf_init_empty),
        cmocka_unit_test(test_jp_buf_add_appends_and_terminates),
        cmocka_unit_test(test_jp_buf_add_binary_with_nul),
        cmocka_unit_test(test_jp_buf_add_zero_length),
        cmocka_unit_test(test_jp_buf_add_exactly_limit),
        cmocka_unit_test(test_jp_buf_add_over_limit_unchanged),
        cmocka_unit_test(test_jp_buf_add_grows_many_times),
        cmocka_unit_test(test_jp_buf_addf_formats),
        cmocka_unit_test(test_jp_buf_addf_grows_past_spare_room),
        cmocka_unit_test(test_jp_buf_addf_over_limit_unchanged),
        cmocka_unit_test(test_jp_buf_take_returns_content),
        cmocka_unit_test(test_jp_buf_take_empty_gives_empty_string),
        cmocka_unit_test(test_jp_buf_consume_prefix),
        cmocka_unit_test(test_jp_buf_reset_keeps_allocation),
        cmocka_unit_test(test_jp_buf_dispose_twice),
        cmocka_unit_test(test_jp_buf_add_nomem_unchanged),
        cmocka_unit_test(test_jp_buf_add_jstr_escapes),
        cmocka_unit_test(test_jp_buf_add_jstr_parses),
        cmocka_unit_test(test_jp_buf_add_jstr_over_limit_unchanged),
        cmocka_unit_test(test_jp_buf_add_jstrn_counted),
    };

    return cmocka_run_group_tests_name("jp_buf", tests, setup_failalloc, NULL);
}
