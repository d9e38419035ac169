/*
 * test_k8s_yaml.c - unit tests for server/k8s_yaml.c: core-schema typing of plain scalars,
 * quoted and block scalars staying strings, explicit tags, flow and block collections,
 * anchors and aliases (copied, not shared), the billion-laughs bound, errors with line and
 * column, non-scalar keys and multiple documents rejected, JSON input, and file loading with
 * its size limit.
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

#include "jp_err.h"
#include "k8s_yaml.h"

static json_t *parse(const char *text, char *why)
{
    return k8s_yaml_parse(text, strlen(text), why, 256);
}

static void expect_json(const char *yaml, const char *json)
{
    char why[256];
    json_t *got = parse(yaml, why);
    if (!got)
        fail_msg("parse failed: %s", why);
    json_t *want = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        fail_msg("got %s, want %s", g, json);
    }
    json_decref(got);
    json_decref(want);
}

static void test_parse_core_schema_scalars(void **state)
{
    (void)state;
    expect_json("a: ~\nb: null\nc:\nd: Null\ne: NULL\n",
                "{\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"e\":null}");
    expect_json("[true, True, TRUE, false, False, FALSE, yes, no, on, off]",
                "[true,true,true,false,false,false,\"yes\",\"no\",\"on\",\"off\"]");
    expect_json("[0, 1, -7, +3, 0o17, 0x1F, 0123, 9223372036854775807, 99999999999999999999]",
                "[0,1,-7,3,15,31,123,9223372036854775807,\"99999999999999999999\"]");
    expect_json("[1.5, -0.25, .5, 1e3, 2.5E-1, 1., .inf, .nan, 1.2.3, 1e, 0x, 12abc]",
                "[1.5,-0.25,0.5,1000.0,0.25,1.0,\".inf\",\".nan\",\"1.2.3\",\"1e\",\"0x\","
                "\"12abc\"]");
    expect_json("[\"1\", '2', \"true\", 'null', \"\", plain text, 500m, 4Gi]",
                "[\"1\",\"2\",\"true\",\"null\",\"\",\"plain text\",\"500m\",\"4Gi\"]");
    expect_json("a: !!str 123\nb: !!int \"42\"\nc: !!float 3\nd: !!bool true\ne: !custom x\n",
                "{\"a\":\"123\",\"b\":42,\"c\":3.0,\"d\":true,\"e\":\"x\"}");
    expect_json("s: |\n  line1\n  line2\nf: >\n  folded\n  text\n",
                "{\"s\":\"line1\\nline2\\n\",\"f\":\"folded text\\n\"}");
    expect_json("42", "42");
}

static void test_parse_collections_and_keys(void **state)
{
    (void)state;
    expect_json("apiVersion: v1\nclusters:\n- name: c\n  cluster:\n    server: https://x:6443\n"
                "    insecure-skip-tls-verify: true\n",
                "{\"apiVersion\":\"v1\",\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":"
                "\"https://x:6443\",\"insecure-skip-tls-verify\":true}}]}");
    /* keys are strings whatever they look like; duplicates: last wins */
    expect_json("1: a\ntrue: b\nnull: c\nk: 1\nk: 2\n",
                "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\",\"k\":2}");
    expect_json("{a: [1, {b: c}], d: {}}", "{\"a\":[1,{\"b\":\"c\"}],\"d\":{}}");
    /* JSON is YAML */
    expect_json("{\"x\": [1, 2.5, \"s\", null, true]}", "{\"x\":[1,2.5,\"s\",null,true]}");
}

static void test_parse_anchors_aliases(void **state)
{
    char why[256];
    (void)state;
    expect_json("base: &b {cpu: 1, mem: 2Gi}\ncopy: *b\nlist: [&s str, *s]\n",
                "{\"base\":{\"cpu\":1,\"mem\":\"2Gi\"},\"copy\":{\"cpu\":1,\"mem\":\"2Gi\"},"
                "\"list\":[\"str\",\"str\"]}");
    /* the copies are independent values */
    json_t *v = parse("a: &x {k: 1}\nb: *x\n", why);
    assert_non_null(v);
    assert_ptr_not_equal(json_object_get(v, "a"), json_object_get(v, "b"));
    json_decref(v);
    /* an anchored key used as a value */
    expect_json("&k name: *k\n", "{\"name\":\"name\"}");

    json_t *bad = parse("a: *nope\n", why);
    assert_null(bad);
    assert_non_null(strstr(why, "line 1, column 4"));
    assert_non_null(strstr(why, "unknown anchor"));
}

static void test_parse_billion_laughs_bounded(void **state)
{
    char why[256];
    (void)state;
    const char *lol = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                      "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                      "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    assert_null(parse(lol, why));
    assert_non_null(strstr(why, "alias expansion limit"));
    /* a modest expansion is fine */
    json_t *v = parse("a: &a [1, 2, 3]\nb: &b [*a, *a, *a]\nc: [*b, *b]\n", why);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "c")), 2);
    json_decref(v);
}

static void test_parse_errors(void **state)
{
    char why[256];
    (void)state;

    assert_null(parse("a: [1, 2\nb: c\n", why));
    assert_non_null(strstr(why, "line "));
    assert_non_null(strstr(why, "column "));

    assert_null(parse("a: b\n  c: d\n", why));
    assert_non_null(strstr(why, "line 2"));

    assert_null(parse("? [a, b]\n: c\n", why));
    assert_non_null(strstr(why, "mapping keys must be scalars"));
    assert_non_null(strstr(why, "line 1"));

    assert_null(parse("{? {a: b} : c}", why));
    assert_non_null(strstr(why, "mapping keys must be scalars"));

    assert_null(parse("a: 1\n---\nb: 2\n", why));
    assert_non_null(strstr(why, "more than one document"));
    assert_non_null(strstr(why, "line 2"));

    assert_null(parse("", why));
    assert_non_null(strstr(why, "empty"));
    assert_null(parse("# only a comment\n", why));

    assert_null(parse("a: !!int abc\n", why));
    assert_non_null(strstr(why, "does not match its tag"));

    assert_null(k8s_yaml_parse(NULL, 0, why, sizeof why));
    /* not NUL-terminated input: only len bytes are read */
    json_t *v = k8s_yaml_parse("a: 1zzzz", 4, why, sizeof why);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    /* deep nesting is refused, not a stack overflow */
    char deep[2100];
    memset(deep, '[', 2000);
    deep[2000] = '\0';
    assert_null(parse(deep, why));
}

static void test_load_file(void **state)
{
    char why[512], path[] = "/tmp/test_k8s_yaml_XXXXXX";
    (void)state;

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "kind: Config\nitems: [1, 2]\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    json_t *v = k8s_yaml_load_file(path, why, sizeof why);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "kind")), "Config");
    json_decref(v);

    /* errors name the file */
    FILE *f = fopen(path, "w");
    fputs("a: [\n", f);
    fclose(f);
    assert_null(k8s_yaml_load_file(path, why, sizeof why));
    assert_memory_equal(why, path, strlen(path));
    assert_non_null(strstr(why, "line "));

    /* too large */
    f = fopen(path, "w");
    char *big = malloc(K8S_YAML_MAX_FILE + 2);
    memset(big, '#', K8S_YAML_MAX_FILE + 1);
    fwrite(big, 1, K8S_YAML_MAX_FILE + 1, f);
    fclose(f);
    free(big);
    assert_null(k8s_yaml_load_file(path, why, sizeof why));
    assert_non_null(strstr(why, "larger than"));
    unlink(path);

    assert_null(k8s_yaml_load_file("/nonexistent/x.yaml", why, sizeof why));
    assert_non_null(strstr(why, "No such file"));
    assert_null(k8s_yaml_load_file("/tmp", why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_core_schema_scalars),
        cmocka_unit_test(test_parse_collections_and_keys),
        cmocka_unit_test(test_parse_anchors_aliases),
        cmocka_unit_test(test_parse_billion_laughs_bounded),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
