/*
 * test_jp_uuid.c - unit tests for proto/jp_uuid.c: the shape of version 4 UUIDs (dashes,
 * version and variant nibbles, lowercase hex), that consecutive values differ, and random hex
 * strings of several lengths including zero and more than one internal chunk. Does not test
 * the quality of the kernel's random generator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jp_uuid.h"

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_uuid_shape(const char *u)
{
    size_t i;

    assert_int_equal(strlen(u), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else
            assert_true(is_lower_hex(u[i]));
    }
    assert_int_equal(u[14], '4');
    assert_non_null(strchr("89ab", u[19]));
}

static void test_jp_uuid_v4_shape(void **state)
{
    char u[JP_UUID_LEN];
    int i;

    (void)state;
    for (i = 0; i < 200; i++) {
        memset(u, 'X', sizeof u);
        assert_int_equal(jp_uuid_v4(u), 0);
        check_uuid_shape(u);
    }
}

static void test_jp_uuid_v4_unique(void **state)
{
    char a[JP_UUID_LEN], b[JP_UUID_LEN];

    (void)state;
    assert_int_equal(jp_uuid_v4(a), 0);
    assert_int_equal(jp_uuid_v4(b), 0);
    assert_string_not_equal(a, b);
}

static void check_hex(size_t nbytes)
{
    char buf[2 * 300 + 2];
    size_t i;

    memset(buf, 'X', sizeof buf);
    assert_int_equal(jp_random_hex(buf, nbytes), 0);
    assert_int_equal(strlen(buf), 2 * nbytes);
    for (i = 0; i < 2 * nbytes; i++)
        assert_true(is_lower_hex(buf[i]));
    assert_int_equal(buf[2 * nbytes + 1], 'X'); /* nothing written past the NUL */
}

static void test_jp_random_hex_lengths(void **state)
{
    (void)state;
    check_hex(0);
    check_hex(1);
    check_hex(16);
    check_hex(32);
    check_hex(64);
    check_hex(65);
    check_hex(300);
}

static void test_jp_random_hex_unique(void **state)
{
    char a[65], b[65];

    (void)state;
    assert_int_equal(jp_random_hex(a, 32), 0);
    assert_int_equal(jp_random_hex(b, 32), 0);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_uuid_v4_shape),
        cmocka_unit_test(test_jp_uuid_v4_unique),
        cmocka_unit_test(test_jp_random_hex_lengths),
        cmocka_unit_test(test_jp_random_hex_unique),
    };

    return cmocka_run_group_tests_name("jp_uuid", tests, NULL, NULL);
}
