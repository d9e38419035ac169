/*
 * test_kspecs.c - unit tests for server/kspecs.c: discovery order (JUPYTER_PATH entries, the
 * user data dir, the caller's extra dirs), first-found-wins per lower-cased name, invalid
 * kernel.json files and invalid directory names skipped, the KernelSpecModel shape (spec
 * defaults as jupyter_client writes them, resources for the files present), and resource
 * lookups refusing anything but a plain file name. Works in a fresh temporary tree per test,
 * with HOME, JUPYTER_PATH, JUPYTER_DATA_DIR and XDG_DATA_HOME pointed into it.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "jp_err.h"
#include "kspecs.h"

struct tree {
    char root[256];
};

static char g_root[256];

static void mkdirs(const char *path)
{
    char tmp[1024];

    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static void write_file(const char *path, const char *text)
{
    char dir[1024];
    char *slash;
    FILE *f;

    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    mkdirs(dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* <root>/<data>/kernels/<name>/kernel.json */
static void put_spec(const char *data, const char *name, const char *json)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s/kernels/%s/kernel.json", g_root, data, name);
    write_file(p, json);
}

static void put_file(const char *data, const char *name, const char *file, const char *text)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s/kernels/%s/%s", g_root, data, name, file);
    write_file(p, text);
}

#define SPEC(disp)                                                                                 \
    "{\"argv\":[\"k\",\"-f\",\"{connection_file}\"],\"display_name\":\"" disp "\","                \
    "\"language\":\"c\"}"

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    char p[1024];
    const char *base = getenv("TMPDIR");

    snprintf(g_root, sizeof g_root, "%s/test_kspecs.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_root))
        return -1;
    snprintf(p, sizeof p, "%s/p1:%s/p2::", g_root, g_root);
    setenv("JUPYTER_PATH", p, 1);
    snprintf(p, sizeof p, "%s/user", g_root);
    setenv("JUPYTER_DATA_DIR", p, 1);
    snprintf(p, sizeof p, "%s/xdg", g_root);
    setenv("XDG_DATA_HOME", p, 1);
    snprintf(p, sizeof p, "%s/home", g_root);
    setenv("HOME", p, 1);
    *state = g_root;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static const char *display(const struct kspecs *k, const char *name)
{
    const struct kspec *s = kspecs_find(k, name);
    return s ? json_string_value(json_object_get(s->spec, "display_name")) : NULL;
}

static void test_kspecs_scan_precedence(void **state)
{
    struct kspecs k;
    char extra[1024];
    const char *dirs[2] = {extra, NULL};

    (void)state;
    snprintf(extra, sizeof extra, "%s/prefix/share/jupyter", g_root);
    put_spec("p1", "tka", SPEC("p1-a"));
    put_spec("p2", "tka", SPEC("p2-a"));
    put_spec("p2", "tkb", SPEC("p2-b"));
    put_spec("user", "tkb", SPEC("user-b"));
    put_spec("user", "tkc", SPEC("user-c"));
    put_spec("prefix/share/jupyter", "tkc", SPEC("prefix-c"));
    put_spec("prefix/share/jupyter", "tkd", SPEC("prefix-d"));
    assert_int_equal(kspecs_scan(&k, dirs), 0);
    assert_string_equal(display(&k, "tka"), "p1-a");
    assert_string_equal(display(&k, "tkb"), "p2-b");
    assert_string_equal(display(&k, "tkc"), "user-c");
    assert_string_equal(display(&k, "tkd"), "prefix-d");
    assert_null(kspecs_find(&k, "tke"));
    /* the spec's directory is its resource dir */
    assert_non_null(strstr(kspecs_find(&k, "tka")->dir, "/p1/kernels/tka"));
    kspecs_dispose(&k);
    assert_int_equal(k.n, 0);
    assert_null(k.v);
}

static void test_kspecs_scan_user_dir_fallbacks(void **state)
{
    struct kspecs k;

    (void)state;
    unsetenv("JUPYTER_DATA_DIR");
    put_spec("xdg/jupyter", "tkx", SPEC("xdg"));
    put_spec("home/.local/share/jupyter", "tkh", SPEC("home"));
    assert_int_equal(kspecs_scan(&k, NULL), 0);
    assert_string_equal(display(&k, "tkx"), "xdg");
    assert_null(kspecs_find(&k, "tkh"));
    kspecs_dispose(&k);

    unsetenv("XDG_DATA_HOME");
    assert_int_equal(kspecs_scan(&k, NULL), 0);
    assert_null(kspecs_find(&k, "tkx"));
    assert_string_equal(display(&k, "tkh"), "home");
    kspecs_dispose(&k);
}

static void test_kspecs_scan_case_insensitive_names(void **state)
{
    struct kspecs k;

    (void)state;
    put_spec("p1", "TkMixed", SPEC("mixed"));
    put_spec("p2", "tkmixed", SPEC("later"));
    assert_int_equal(kspecs_scan(&k, NULL), 0);
    assert_non_null(kspecs_find(&k, "tkmixed"));
    assert_string_equal(kspecs_find(&k, "tkmixed")->name, "tkmixed");
    assert_string_equal(display(&k, "TKMIXED"), "mixed");
    kspecs_dispose(&k);
}

static void test_kspecs_scan_invalid_specs_skipped(void **state)
{
    struct kspecs k;

    (void)state;
    put_spec("p1", "tkjson", "{\"argv\": [\"k\"], ");
    put_spec("p1", "tknoargv", "{\"display_name\":\"x\",\"language\":\"c\"}");
    put_spec("p1", "tkemptyargv", "{\"argv\":[],\"display_name\":\"x\"}");
    put_spec("p1", "tkargvnum", "{\"argv\":[\"k\",1],\"display_name\":\"x\"}");
    put_spec("p1", "tknodisp", "{\"argv\":[\"k\"]}");
    put_spec("p1", "tkmode", "{\"argv\":[\"k\"],\"display_name\":\"x\",\"interrupt_mode\":\"x\"}");
    put_spec("p1", "tkenv", "{\"argv\":[\"k\"],\"display_name\":\"x\",\"env\":{\"A\":1}}");
    put_spec("p1", "tkarray", "[1, 2]");
    /* a broken spec does not hide a valid one of the same name further down the path */
    put_spec("p2", "tkjson", SPEC("good"));
    /* a directory without kernel.json, and a kernel.json that is a directory */
    {
        char p[1024];
        snprintf(p, sizeof p, "%s/p1/kernels/tkempty", g_root);
        mkdirs(p);
        snprintf(p, sizeof p, "%s/p1/kernels/tkdir/kernel.json", g_root);
        mkdirs(p);
    }
    assert_int_equal(kspecs_scan(&k, NULL), 0);
    assert_string_equal(display(&k, "tkjson"), "good");
    assert_null(kspecs_find(&k, "tknoargv"));
    assert_null(kspecs_find(&k, "tkemptyargv"));
    assert_null(kspecs_find(&k, "tkargvnum"));
    assert_null(kspecs_find(&k, "tknodisp"));
    assert_null(kspecs_find(&k, "tkmode"));
    assert_null(kspecs_find(&k, "tkenv"));
    assert_null(kspecs_find(&k, "tkarray"));
    assert_null(kspecs_find(&k, "tkempty"));
    assert_null(kspecs_find(&k, "tkdir"));
    kspecs_dispose(&k);
}

static void test_kspecs_scan_bad_names_skipped(void **state)
{
    struct kspecs k;

    (void)state;
    put_spec("p1", "tk bad", SPEC("space"));
    put_spec("p1", "tk+plus", SPEC("plus"));
    put_spec("p1", "tk\xc3\xa9", SPEC("utf8"));
    put_spec("p1", "tk.ok_1-2", SPEC("ok"));
    assert_int_equal(kspecs_scan(&k, NULL), 0);
    assert_null(kspecs_find(&k, "tk bad"));
    assert_null(kspecs_find(&k, "tk+plus"));
    assert_null(kspecs_find(&k, "tk\xc3\xa9"));
    assert_string_equal(display(&k, "tk.ok_1-2"), "ok");
    for (size_t i = 0; i < k.n; i++)
        assert_null(strpbrk(k.v[i].name, " +\xc3"));
    kspecs_dispose(&k);
}

static void test_kspecs_model_shape(void **state)
{
    struct kspecs k;
    json_t *mo, *spec, *res;
    const struct kspec *s;

    (void)state;
    put_spec("p1", "tkfull",
             "{\"argv\":[\"k\",\"{connection_file}\"],\"display_name\":\"Full\",\"language\":"
             "\"c\",\"interrupt_mode\":\"message\",\"env\":{\"A\":\"${HOME}/x\"},\"metadata\":{"
             "\"debugger\":true},\"kernel_protocol_version\":\"5.3\",\"extra\":1}");
    put_file("p1", "tkfull", "logo-64x64.png", "png");
    put_file("p1", "tkfull", "logo-32x32.png", "png");
    put_file("p1", "tkfull", "logo-svg.svg", "<svg/>");
    put_file("p1", "tkfull", "kernel.js", "js");
    put_file("p1", "tkfull", "other.txt", "x");
    put_spec("p1", "tkmin", "{\"argv\":[\"k\"],\"display_name\":\"Min\"}");
    assert_int_equal(kspecs_scan(&k, NULL), 0);

    s = kspecs_find(&k, "tkfull");
    assert_non_null(s);
    mo = kspecs_model(s, "/base/");
    assert_non_null(mo);
    assert_string_equal(json_string_value(json_object_get(mo, "name")), "tkfull");
    spec = json_object_get(mo, "spec");
    assert_true(json_is_array(json_object_get(spec, "argv")));
    assert_string_equal(json_string_value(json_object_get(spec, "display_name")), "Full");
    assert_string_equal(json_string_value(json_object_get(spec, "language")), "c");
    assert_string_equal(json_string_value(json_object_get(spec, "interrupt_mode")), "message");
    assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "env"), "A")),
                        "${HOME}/x");
    assert_true(json_is_true(json_object_get(json_object_get(spec, "metadata"), "debugger")));
    assert_string_equal(json_string_value(json_object_get(spec, "kernel_protocol_version")), "5.3");
    assert_null(json_object_get(spec, "extra"));
    res = json_object_get(mo, "resources");
    assert_int_equal(json_object_size(res), 4);
    assert_string_equal(json_string_value(json_object_get(res, "logo-64x64")),
                        "/base/kernelspecs/tkfull/logo-64x64.png");
    assert_string_equal(json_string_value(json_object_get(res, "logo-32x32")),
                        "/base/kernelspecs/tkfull/logo-32x32.png");
    assert_string_equal(json_string_value(json_object_get(res, "logo-svg")),
                        "/base/kernelspecs/tkfull/logo-svg.svg");
    assert_string_equal(json_string_value(json_object_get(res, "kernel.js")),
                        "/base/kernelspecs/tkfull/kernel.js");
    assert_null(json_object_get(res, "kernel.css"));
    json_decref(mo);

    /* base_url without a trailing slash, and NULL meaning "/" */
    mo = kspecs_model(s, "/b");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(mo, "resources"), "kernel.js")),
        "/b/kernelspecs/tkfull/kernel.js");
    json_decref(mo);
    mo = kspecs_model(s, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(mo, "resources"), "kernel.js")),
        "/kernelspecs/tkfull/kernel.js");
    json_decref(mo);

    /* defaults as KernelSpec.to_dict writes them */
    mo = kspecs_model(kspecs_find(&k, "tkmin"), "/");
    spec = json_object_get(mo, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "language")), "");
    assert_string_equal(json_string_value(json_object_get(spec, "interrupt_mode")), "signal");
    assert_true(json_is_object(json_object_get(spec, "env")));
    assert_true(json_is_object(json_object_get(spec, "metadata")));
    assert_null(json_object_get(spec, "kernel_protocol_version"));
    assert_int_equal(json_object_size(json_object_get(mo, "resources")), 0);
    json_decref(mo);
    assert_null(kspecs_model(NULL, "/"));
    kspecs_dispose(&k);
}

static void test_kspecs_resource_refuses_tricks(void **state)
{
    struct kspecs k;
    const struct kspec *s;
    char *p;
    char sub[1024];

    (void)state;
    put_spec("p1", "tkres", SPEC("res"));
    put_file("p1", "tkres", "logo-64x64.png", "png");
    put_file("p1", "tkres", ".hidden", "h");
    put_file("p1", "secret.txt", "x", "x");
    snprintf(sub, sizeof sub, "%s/p1/kernels/tkres/subdir", g_root);
    mkdirs(sub);
    assert_int_equal(kspecs_scan(&k, NULL), 0);
    s = kspecs_find(&k, "tkres");
    assert_non_null(s);

    p = kspecs_resource(s, "logo-64x64.png");
    assert_non_null(p);
    assert_non_null(strstr(p, "/p1/kernels/tkres/logo-64x64.png"));
    free(p);
    p = kspecs_resource(s, "kernel.json");
    assert_non_null(p);
    free(p);

    assert_null(kspecs_resource(s, NULL));
    assert_null(kspecs_resource(s, ""));
    assert_null(kspecs_resource(s, "."));
    assert_null(kspecs_resource(s, ".."));
    assert_null(kspecs_resource(s, "../kernel.json"));
    assert_null(kspecs_resource(s, "../../tkres/kernel.json"));
    assert_null(kspecs_resource(s, "../secret.txt/x"));
    assert_null(kspecs_resource(s, "/etc/passwd"));
    assert_null(kspecs_resource(s, "subdir"));
    assert_null(kspecs_resource(s, "subdir/../kernel.json"));
    assert_null(kspecs_resource(s, ".hidden"));
    assert_null(kspecs_resource(s, "logo-64x64.png/"));
    assert_null(kspecs_resource(s, "logo%2f64.png"));
    assert_null(kspecs_resource(s, "missing.png"));
    assert_null(kspecs_resource(s, "a\\b"));
    assert_null(kspecs_resource(NULL, "logo-64x64.png"));
    kspecs_dispose(&k);
}

static void test_kspecs_find_and_dispose_edge_cases(void **state)
{
    struct kspecs k = {NULL, 0};

    (void)state;
    assert_null(kspecs_find(NULL, "x"));
    assert_null(kspecs_find(&k, NULL));
    assert_null(kspecs_find(&k, "x"));
    kspecs_dispose(&k);
    kspecs_dispose(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kspecs_scan_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kspecs_scan_user_dir_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kspecs_scan_case_insensitive_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kspecs_scan_invalid_specs_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kspecs_scan_bad_names_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kspecs_model_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kspecs_resource_refuses_tricks, setup, teardown),
        cmocka_unit_test(test_kspecs_find_and_dispose_edge_cases),
    };
    return cmocka_run_group_tests_name("kspecs", tests, NULL, NULL);
}
