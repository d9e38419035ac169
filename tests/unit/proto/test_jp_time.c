/*
 * test_jp_time.c - unit tests for proto/jp_time.c: formatting known instants (expected values
 * computed independently with Python's datetime), dates before 1970 and at the ends of the
 * four-digit range, parsing with and without fractions and offsets, and rejection of
 * malformed input without touching the output. Does not test other modules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jp_err.h"
#include "jp_time.h"

/* 2026-11-29T02:53:06.123456Z, from Python datetime */
#define T_2026 INT64_C(1795920786123456)

static void check_format(int64_t us, const char *want)
{
    char buf[JP_TIME_LEN];

    assert_int_equal(jp_time_format(us, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

static void check_parse(const char *s, int64_t want)
{
    int64_t got = -12345;

    assert_int_equal(jp_time_parse(s, &got), 0);
    assert_true(got == want);
}

static void check_parse_fails(const char *s)
{
    int64_t got = 777;

    assert_int_equal(jp_time_parse(s, &got), JP_EINVAL);
    assert_true(got == 777);
}

static void test_jp_time_format_epoch(void **state)
{
    (void)state;
    check_format(0, "1970-01-01T00:00:00.000000Z");
}

static void test_jp_time_format_known_instant(void **state)
{
    (void)state;
    check_format(T_2026, "2026-11-29T02:53:06.123456Z");
    check_format(INT64_C(1709251199999999), "2024-02-29T23:59:59.999999Z");
    check_format(INT64_C(951868800000000), "2000-03-01T00:00:00.000000Z");
}

static void test_jp_time_format_before_1970(void **state)
{
    (void)state;
    check_format(-1, "1969-12-31T23:59:59.999999Z");
    check_format(INT64_C(-2208988800000000), "1900-01-01T00:00:00.000000Z");
    check_format(INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z");
}

static void test_jp_time_format_year_range(void **state)
{
    char buf[JP_TIME_LEN] = "untouched";

    (void)state;
    check_format(INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z");
    assert_int_equal(jp_time_format(INT64_C(253402300800000000), buf, sizeof buf), JP_EINVAL);
    assert_int_equal(jp_time_format(INT64_MAX, buf, sizeof buf), JP_EINVAL);
    assert_int_equal(jp_time_format(INT64_MIN, buf, sizeof buf), JP_EINVAL);
}

static void test_jp_time_format_small_buffer(void **state)
{
    char buf[JP_TIME_LEN];

    (void)state;
    assert_int_equal(jp_time_format(0, buf, JP_TIME_LEN - 1), JP_EINVAL);
    assert_int_equal(jp_time_format(0, NULL, JP_TIME_LEN), JP_EINVAL);
}

static void test_jp_time_parse_utc_z(void **state)
{
    (void)state;
    check_parse("2026-11-29T02:53:06.123456Z", T_2026);
    check_parse("2026-11-29t02:53:06.123456z", T_2026);
    check_parse("2026-11-29 02:53:06.123456Z", T_2026);
}

static void test_jp_time_parse_no_offset_is_utc(void **state)
{
    (void)state;
    check_parse("2026-11-29T02:53:06.123456", T_2026);
    check_parse("1970-01-01T00:00:00", 0);
}

static void test_jp_time_parse_fraction_lengths(void **state)
{
    (void)state;
    check_parse("2026-11-29T02:53:06Z", T_2026 - 123456);
    check_parse("2026-11-29T02:53:06.1Z", T_2026 - 23456);
    check_parse("2026-11-29T02:53:06.123Z", T_2026 - 456);
    /* digits past microseconds are truncated */
    check_parse("2026-11-29T02:53:06.123456789Z", T_2026);
}

static void test_jp_time_parse_offsets(void **state)
{
    (void)state;
    /* Python: datetime.fromisoformat('2025-01-01T10:00:00.123+01:00') */
    check_parse("2025-01-01T10:00:00.123+01:00", INT64_C(1735722000123000));
    check_parse("2025-01-01T10:00:00-05:30", INT64_C(1735745400000000));
    check_parse("2025-01-01T10:00:00-0530", INT64_C(1735745400000000));
    check_parse("2026-11-29T03:53:06.123456+0100", T_2026);
    check_parse("2026-11-29T02:53:06.123456+00:00", T_2026);
    check_parse("2026-11-29T02:53:06.123456-00:00", T_2026);
}

static void test_jp_time_parse_leap_day(void **state)
{
    (void)state;
    check_parse("2024-02-29T23:59:59.999999Z", INT64_C(1709251199999999));
    check_parse("2000-02-29T00:00:00Z", INT64_C(951782400000000));
    check_parse_fails("2023-02-29T00:00:00Z");
    check_parse_fails("1900-02-29T00:00:00Z");
}

static void test_jp_time_parse_invalid_input(void **state)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "2026-11-29",
        "2026-11-29T",
        "2026-11-29T02:53",
        "2026-11-29T02:53:6Z",
        "26-11-29T02:53:06Z",
        "2026/11/29T02:53:06Z",
        "2026-11-29X02:53:06Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-29T24:00:00Z",
        "2026-11-29T23:60:00Z",
        "2026-11-29T23:59:60Z",
        "2026-11-29T02:53:06.Z",
        "2026-11-29T02:53:06.1234567890Z",
        "2026-11-29T02:53:06Zjunk",
        "2026-11-29T02:53:06 ",
        "2026-11-29T02:53:06+01",
        "2026-11-29T02:53:06+01:",
        "2026-11-29T02:53:06+1:00",
        "2026-11-29T02:53:06+24:00",
        "2026-11-29T02:53:06+01:60",
        "2026-11-29T02:53:06+01:00Z",
        "-2026-11-29T02:53:06Z",
        "+2026-11-29T02:53:06Z",
        "2026-11-29T02:53:06.12a",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_parse_fails(bad[i]);
}

static void test_jp_time_parse_null_arguments(void **state)
{
    int64_t us = 5;

    (void)state;
    assert_int_equal(jp_time_parse(NULL, &us), JP_EINVAL);
    assert_true(us == 5);
    assert_int_equal(jp_time_parse("1970-01-01T00:00:00Z", NULL), JP_EINVAL);
}

static void test_jp_time_format_parse_round_trip(void **state)
{
    static const int64_t samples[] = {0,
                                      1,
                                      -1,
                                      999999,
                                      T_2026,
                                      INT64_C(-62135596800000000),
                                      INT64_C(253402300799999999),
                                      INT64_C(4102444800000000)};
    char buf[JP_TIME_LEN];
    int64_t back;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        assert_int_equal(jp_time_format(samples[i], buf, sizeof buf), 0);
        assert_int_equal(jp_time_parse(buf, &back), 0);
        assert_true(back == samples[i]);
    }
}

static void test_jp_time_now_us_plausible(void **state)
{
    int64_t a, b;
    char buf[JP_TIME_LEN];

    (void)state;
    a = jp_time_now_us();
    b = jp_time_now_us();
    assert_true(a > INT64_C(1577836800000000)); /* after 2020-01-01 */
    assert_true(b >= a - 1000000);
    assert_int_equal(jp_time_format(a, buf, sizeof buf), 0);
    assert_int_equal(strlen(buf), 27);
}

static void test_jp_time_mono_ms_monotonic(void **state)
{
    int64_t a, b;

    (void)state;
    a = jp_time_mono_ms();
    b = jp_time_mono_ms();
    assert_true(a >= 0);
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_time_format_epoch),
        cmocka_unit_test(test_jp_time_format_known_instant),
        cmocka_unit_test(test_jp_time_format_before_1970),
        cmocka_unit_test(test_jp_time_format_year_range),
        cmocka_unit_test(test_jp_time_format_small_buffer),
        cmocka_unit_test(test_jp_time_parse_utc_z),
        cmocka_unit_test(test_jp_time_parse_no_offset_is_utc),
        cmocka_unit_test(test_jp_time_parse_fraction_lengths),
        cmocka_unit_test(test_jp_time_parse_offsets),
        cmocka_unit_test(test_jp_time_parse_leap_day),
        cmocka_unit_test(test_jp_time_parse_invalid_input),
        cmocka_unit_test(test_jp_time_parse_null_arguments),
        cmocka_unit_test(test_jp_time_format_parse_round_trip),
        cmocka_unit_test(test_jp_time_now_us_plausible),
        cmocka_unit_test(test_jp_time_mono_ms_monotonic),
    };

    return cmocka_run_group_tests_name("jp_time", tests, NULL, NULL);
}
