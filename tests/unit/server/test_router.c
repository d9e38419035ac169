/*
 * test_router.c - unit tests for server/router.c: route matching by segment, captures,
 * rest-of-path captures, method mismatch (405) versus no route (404), and query decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "srv.h"

static void free_params(char *p[SRV_MAX_PARAMS])
{
    for (int i = 0; i < SRV_MAX_PARAMS; i++)
        free(p[i]);
}

static const struct srv_route *match(const char *method, const char *path, char *p[SRV_MAX_PARAMS],
                                     int *matched)
{
    memset(p, 0, sizeof(char *) * SRV_MAX_PARAMS);
    return srv_route_match(method, path, p, matched);
}

static void test_srv_route_match_literal_and_capture(void **state)
{
    (void)state;
    char *p[SRV_MAX_PARAMS];
    int m;
    const struct srv_route *r = match("GET", "/api/kernels", p, &m);
    assert_non_null(r);
    assert_ptr_equal(r->fn, api_kernels);
    free_params(p);
    r = match("GET", "/api/kernels/abc-def", p, &m);
    assert_non_null(r);
    assert_ptr_equal(r->fn, api_kernel);
    assert_string_equal(p[0], "abc-def");
    free_params(p);
    r = match("POST", "/api/kernels/k1/restart", p, &m);
    assert_non_null(r);
    assert_ptr_equal(r->fn, api_kernel_action);
    assert_string_equal(p[0], "k1");
    assert_string_equal(p[1], "restart");
    free_params(p);
}

static void test_srv_route_match_is_by_segment(void **state)
{
    (void)state;
    char *p[SRV_MAX_PARAMS];
    int m;
    assert_null(match("GET", "/api/kernels/a/b/c", p, &m));
    assert_int_equal(m, 0);
    free_params(p);
    assert_null(match("GET", "/api/kernelsx", p, &m));
    free_params(p);
    assert_null(match("GET", "/api/kernels/", p, &m)); /* empty capture never matches */
    free_params(p);
}

static void test_srv_route_match_rest_of_path(void **state)
{
    (void)state;
    char *p[SRV_MAX_PARAMS];
    int m;
    const struct srv_route *r = match("GET", "/api/contents", p, &m);
    assert_non_null(r);
    assert_string_equal(p[0], "");
    free_params(p);
    r = match("PUT", "/api/contents/a b/c.ipynb", p, &m);
    assert_non_null(r);
    assert_ptr_equal(r->fn, api_contents);
    assert_string_equal(p[0], "a b/c.ipynb");
    free_params(p);
    r = match("GET", "/files/x/y.png", p, &m);
    assert_non_null(r);
    assert_string_equal(p[0], "x/y.png");
    free_params(p);
}

static void test_srv_route_match_wrong_method_is_405(void **state)
{
    (void)state;
    char *p[SRV_MAX_PARAMS];
    int m = 0;
    assert_null(match("PUT", "/api/kernels", p, &m));
    assert_int_equal(m, 1);
    free_params(p);
    m = 0;
    assert_null(match("GET", "/no/such/thing", p, &m));
    assert_int_equal(m, 0);
    free_params(p);
}

static void test_srv_query_decodes(void **state)
{
    (void)state;
    struct srv_req r;
    memset(&r, 0, sizeof r);
    r.query = "token=a%2Bb&content=1&empty&sp=a+b&1700000000000";
    char *v = srv_query(&r, "token");
    assert_string_equal(v, "a+b");
    free(v);
    v = srv_query(&r, "content");
    assert_string_equal(v, "1");
    free(v);
    v = srv_query(&r, "empty");
    assert_string_equal(v, "");
    free(v);
    v = srv_query(&r, "sp");
    assert_string_equal(v, "a b");
    free(v);
    assert_null(srv_query(&r, "missing"));
    assert_null(srv_query(&r, "tok"));
    r.query = "bad=%zz%4";
    v = srv_query(&r, "bad");
    assert_string_equal(v, "%zz%4"); /* invalid escapes are kept as they are */
    free(v);
}

static void test_srv_error_shape(void **state)
{
    (void)state;
    struct srv_resp resp;
    memset(&resp, 0, sizeof resp);
    jp_buf_init(&resp.body, 1 << 16);
    srv_error(&resp, 404, "Kernel does not exist: x", NULL);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.content_type, "application/json");
    assert_string_equal(resp.body.data,
                        "{\"message\":\"Kernel does not exist: x\",\"reason\":null}");
    jp_buf_dispose(&resp.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srv_route_match_literal_and_capture),
        cmocka_unit_test(test_srv_route_match_is_by_segment),
        cmocka_unit_test(test_srv_route_match_rest_of_path),
        cmocka_unit_test(test_srv_route_match_wrong_method_is_405),
        cmocka_unit_test(test_srv_query_decodes),
        cmocka_unit_test(test_srv_error_shape),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
