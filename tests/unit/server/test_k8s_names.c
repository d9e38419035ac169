/*
 * test_k8s_names.c - unit tests for server/k8s_names.c: DNS-1123 label and subdomain rules
 * (characters, ends, 63 and 253 character limits), label keys (prefix/name) and values, and
 * the user-name slug (unchanged names kept, everything else hashed, never over 63, distinct
 * names distinct).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jp_err.h"
#include "k8s_names.h"

static void fill(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
}

static void test_dns1123_label_rules(void **state)
{
    char buf[300];
    (void)state;

    assert_true(k8s_dns1123_label_ok("a"));
    assert_true(k8s_dns1123_label_ok("cnote-kernel-1"));
    assert_true(k8s_dns1123_label_ok("0abc"));
    assert_false(k8s_dns1123_label_ok(""));
    assert_false(k8s_dns1123_label_ok(NULL));
    assert_false(k8s_dns1123_label_ok("-a"));
    assert_false(k8s_dns1123_label_ok("a-"));
    assert_false(k8s_dns1123_label_ok("A"));
    assert_false(k8s_dns1123_label_ok("a.b"));
    assert_false(k8s_dns1123_label_ok("a_b"));
    fill(buf, 'a', 63);
    assert_true(k8s_dns1123_label_ok(buf));
    fill(buf, 'a', 64);
    assert_false(k8s_dns1123_label_ok(buf));
}

static void test_dns1123_subdomain_rules(void **state)
{
    char buf[300];
    (void)state;

    assert_true(k8s_dns1123_subdomain_ok("cnote-kernel-0d9a7b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"));
    assert_true(k8s_dns1123_subdomain_ok("a.b.c"));
    assert_false(k8s_dns1123_subdomain_ok("a..b"));
    assert_false(k8s_dns1123_subdomain_ok(".a"));
    assert_false(k8s_dns1123_subdomain_ok("a."));
    assert_false(k8s_dns1123_subdomain_ok("a.-b"));
    assert_false(k8s_dns1123_subdomain_ok(""));
    /* 253 in all: four labels of 63 plus three dots = 255 is too long, 253 fits */
    fill(buf, 'a', 253);
    for (int i = 63; i < 253; i += 64)
        buf[i] = '.';
    assert_int_equal(strlen(buf), 253);
    assert_true(k8s_dns1123_subdomain_ok(buf));
    fill(buf, 'a', 254);
    for (int i = 63; i < 254; i += 64)
        buf[i] = '.';
    assert_false(k8s_dns1123_subdomain_ok(buf));
}

static void test_label_key_and_value_rules(void **state)
{
    char buf[300];
    (void)state;

    assert_true(k8s_label_value_ok(""));
    assert_true(k8s_label_value_ok("Alice_B.c-1"));
    assert_false(k8s_label_value_ok("_a"));
    assert_false(k8s_label_value_ok("a b"));
    assert_false(k8s_label_value_ok("a/b"));
    fill(buf, 'x', 63);
    assert_true(k8s_label_value_ok(buf));
    fill(buf, 'x', 64);
    assert_false(k8s_label_value_ok(buf));

    assert_true(k8s_label_key_ok("app"));
    assert_true(k8s_label_key_ok("app.kubernetes.io/managed-by"));
    assert_true(k8s_label_key_ok("cnote.io/kernel-id"));
    assert_true(k8s_label_key_ok("nvidia.com/gpu.present"));
    assert_false(k8s_label_key_ok(""));
    assert_false(k8s_label_key_ok("/name"));
    assert_false(k8s_label_key_ok("prefix/"));
    assert_false(k8s_label_key_ok("a/b/c"));
    assert_false(k8s_label_key_ok("Upper.Case/name"));
    assert_false(k8s_label_key_ok("bad key"));
    fill(buf, 'k', 64);
    assert_false(k8s_label_key_ok(buf));
}

static void slug_ok(const char *in, char *out)
{
    int n = k8s_slug(in, out, K8S_SLUG_MAX + 1);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    assert_true(n <= K8S_SLUG_MAX);
    assert_true(k8s_dns1123_label_ok(out));
    assert_true(k8s_label_value_ok(out));
}

static int hashed(const char *s)
{
    size_t n = strlen(s);
    return n >= 9 && s[n - 9] == '-' && strspn(s + n - 8, "0123456789abcdef") == 8;
}

static void test_slug_unchanged_names(void **state)
{
    char out[K8S_SLUG_MAX + 1], buf[80];
    (void)state;

    slug_ok("alice", out);
    assert_string_equal(out, "alice");
    slug_ok("bob-2", out);
    assert_string_equal(out, "bob-2");
    fill(buf, 'a', 63);
    slug_ok(buf, out);
    assert_string_equal(out, buf);
}

static void test_slug_changed_names_are_hashed(void **state)
{
    char a[K8S_SLUG_MAX + 1], b[K8S_SLUG_MAX + 1], buf[200];
    (void)state;

    slug_ok("Alice", a);
    assert_true(hashed(a));
    assert_memory_equal(a, "alice-", 6);
    slug_ok("alice", b);
    assert_string_not_equal(a, b);

    slug_ok("alice@example.com", a);
    assert_memory_equal(a, "alice-example-com-", 18);
    assert_true(hashed(a));
    slug_ok("alice.example.com", b);
    assert_memory_equal(b, "alice-example-com-", 18);
    assert_string_not_equal(a, b);

    slug_ok("--a--b--", a);
    assert_memory_equal(a, "a-b-", 4);
    assert_true(hashed(a));

    slug_ok("", a);
    assert_memory_equal(a, "x-", 2);
    assert_int_equal(strlen(a), 10);
    slug_ok("日本語", b);
    assert_memory_equal(b, "x-", 2);
    assert_string_not_equal(a, b);

    /* long: truncated to 54 + '-' + 8 */
    fill(buf, 'b', 100);
    slug_ok(buf, a);
    assert_int_equal(strlen(a), 63);
    assert_true(hashed(a));
    fill(buf, 'b', 64);
    slug_ok(buf, b);
    assert_int_equal(strlen(b), 63);
    assert_string_not_equal(a, b);
    /* a cut that lands on a separator does not leave "--" */
    snprintf(buf, sizeof buf, "%.*s-%s", 53,
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccc", "dddddddddddddddddd");
    slug_ok(buf, a);
    assert_null(strstr(a, "--"));

    /* a raw name that looks like a hashed slug is hashed too, so it cannot collide */
    slug_ok("Alice", a);
    slug_ok(a, b);
    assert_string_not_equal(a, b);
    assert_true(strlen(b) > strlen(a));

    /* deterministic */
    slug_ok("Some User", a);
    slug_ok("Some User", b);
    assert_string_equal(a, b);
}

static void test_slug_bad_arguments(void **state)
{
    char out[K8S_SLUG_MAX + 1];
    (void)state;

    assert_int_equal(k8s_slug(NULL, out, sizeof out), JP_EINVAL);
    assert_int_equal(k8s_slug("a", NULL, 64), JP_EINVAL);
    assert_int_equal(k8s_slug("a", out, K8S_SLUG_MAX), JP_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns1123_label_rules),
        cmocka_unit_test(test_dns1123_subdomain_rules),
        cmocka_unit_test(test_label_key_and_value_rules),
        cmocka_unit_test(test_slug_unchanged_names),
        cmocka_unit_test(test_slug_changed_names_are_hashed),
        cmocka_unit_test(test_slug_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
