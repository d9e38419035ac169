/*
 * test_jp_conn.c - unit tests for proto/jp_conn.c: parsing valid connection files and each
 * kind of invalid one (not JSON, not an object, missing or mistyped fields, ports out of
 * range, unsupported schemes), loading from disk, saving with mode 0600 and reading back,
 * atomic replacement without leftover temporary files, endpoints for tcp and ipc, and
 * out-of-memory behaviour of parse. Works in a fresh temporary directory per test.
 */
#include <dirent.h>
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

#include "failalloc.h"
#include "jp_conn.h"
#include "jp_err.h"

#define GOOD                                                                                       \
    "{\"shell_port\":50011,\"iopub_port\":50012,\"stdin_port\":50013,\"control_port\":50014,"      \
    "\"hb_port\":50015,\"ip\":\"127.0.0.1\",\"key\":\"4f9c-uuid\",\"transport\":\"tcp\","          \
    "\"signature_scheme\":\"hmac-sha256\",\"kernel_name\":\"c\"}"

struct tmpdir {
    char path[256];
};

static int setup_tmpdir(void **state)
{
    struct tmpdir *t = calloc(1, sizeof *t);
    const char *base = getenv("TMPDIR");

    if (!t)
        return -1;
    snprintf(t->path, sizeof t->path, "%s/test_jp_conn.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(t->path)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown_tmpdir(void **state)
{
    struct tmpdir *t = *state;
    char p[512];
    struct dirent *e;
    DIR *d = opendir(t->path);

    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", t->path, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(t->path);
    free(t);
    return 0;
}

static int count_entries(const char *dir)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static int parse(const char *text, struct jp_conn *c, char *why, size_t whylen)
{
    return jp_conn_parse(text, strlen(text), c, why, whylen);
}

/* GOOD with one member replaced (value NULL removes it). */
static char *good_with(const char *key, const char *value_json)
{
    json_t *o = json_loads(GOOD, 0, NULL);
    char *s;

    assert_non_null(o);
    if (value_json)
        json_object_set_new(o, key, json_loads(value_json, JSON_DECODE_ANY, NULL));
    else
        json_object_del(o, key);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(s);
    return s;
}

static void expect_invalid(const char *key, const char *value_json, int want, const char *why_has)
{
    struct jp_conn c;
    char why[200] = "";
    char *text = good_with(key, value_json);
    int rc;

    memset(&c, 0xab, sizeof c);
    rc = parse(text, &c, why, sizeof why);
    if (rc != want)
        print_error("%s=%s: rc %d why \"%s\"\n", key, value_json ? value_json : "(absent)", rc,
                    why);
    assert_int_equal(rc, want);
    assert_non_null(strstr(why, why_has));
    assert_null(c.key); /* zeroed */
    assert_int_equal(c.ports[0], 0);
    assert_string_equal(c.transport, "");
    free(text);
}

static void test_jp_conn_parse_valid(void **state)
{
    struct jp_conn c;
    char why[100] = "stale";

    (void)state;
    assert_int_equal(parse(GOOD, &c, why, sizeof why), 0);
    assert_string_equal(why, "");
    assert_string_equal(c.transport, "tcp");
    assert_string_equal(c.ip, "127.0.0.1");
    assert_int_equal(c.ports[JP_CH_SHELL], 50011);
    assert_int_equal(c.ports[JP_CH_IOPUB], 50012);
    assert_int_equal(c.ports[JP_CH_STDIN], 50013);
    assert_int_equal(c.ports[JP_CH_CONTROL], 50014);
    assert_int_equal(c.ports[JP_CH_HB], 50015);
    assert_string_equal(c.signature_scheme, "hmac-sha256");
    assert_string_equal(c.key, "4f9c-uuid");
    assert_int_equal(c.key_len, 9);
    assert_string_equal(c.kernel_name, "c");
    jp_conn_dispose(&c);
    assert_null(c.key);
    jp_conn_dispose(&c); /* idempotent */
    jp_conn_dispose(NULL);
}

static void test_jp_conn_parse_defaults_and_extras(void **state)
{
    static const char *text =
        "{\"shell_port\":1,\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4,\"hb_port\":0,"
        "\"ip\":\"/tmp/k\",\"key\":\"\",\"transport\":\"ipc\",\"curve_publickey\":\"x\","
        "\"extra\":{\"nested\":[1,2]}}";
    struct jp_conn c;

    (void)state;
    assert_int_equal(parse(text, &c, NULL, 0), 0);
    assert_string_equal(c.signature_scheme, "hmac-sha256");
    assert_string_equal(c.kernel_name, "");
    assert_string_equal(c.key, "");
    assert_int_equal(c.key_len, 0);
    assert_int_equal(c.ports[JP_CH_HB], 0);
    assert_string_equal(c.transport, "ipc");
    jp_conn_dispose(&c);
}

static void test_jp_conn_parse_port_limits(void **state)
{
    struct jp_conn c;
    char *text;

    (void)state;
    text = good_with("hb_port", "65535");
    assert_int_equal(parse(text, &c, NULL, 0), 0);
    assert_int_equal(c.ports[JP_CH_HB], 65535);
    jp_conn_dispose(&c);
    free(text);
}

static void test_jp_conn_parse_missing_port(void **state)
{
    (void)state;
    expect_invalid("shell_port", NULL, JP_EINVAL, "missing \"shell_port\"");
    expect_invalid("hb_port", NULL, JP_EINVAL, "missing \"hb_port\"");
}

static void test_jp_conn_parse_port_out_of_range(void **state)
{
    (void)state;
    expect_invalid("iopub_port", "65536", JP_EINVAL, "out of range");
    expect_invalid("iopub_port", "-1", JP_EINVAL, "out of range");
    expect_invalid("iopub_port", "9223372036854775807", JP_EINVAL, "out of range");
}

static void test_jp_conn_parse_port_wrong_type(void **state)
{
    (void)state;
    expect_invalid("control_port", "\"50014\"", JP_EINVAL, "not an integer");
    expect_invalid("control_port", "50014.0", JP_EINVAL, "not an integer");
    expect_invalid("control_port", "null", JP_EINVAL, "not an integer");
    expect_invalid("control_port", "true", JP_EINVAL, "not an integer");
}

static void test_jp_conn_parse_wrong_scheme(void **state)
{
    (void)state;
    expect_invalid("signature_scheme", "\"hmac-sha1\"", JP_EINVAL, "signature_scheme");
    expect_invalid("signature_scheme", "\"\"", JP_EINVAL, "signature_scheme");
    expect_invalid("signature_scheme", "\"HMAC-SHA256\"", JP_EINVAL, "signature_scheme");
    expect_invalid("signature_scheme", "256", JP_EINVAL, "not a string");
}

static void test_jp_conn_parse_bad_transport_ip_key(void **state)
{
    char longip[300], json_ip[310];

    (void)state;
    expect_invalid("transport", "\"udp\"", JP_EINVAL, "transport");
    expect_invalid("transport", NULL, JP_EINVAL, "missing \"transport\"");
    expect_invalid("ip", NULL, JP_EINVAL, "missing \"ip\"");
    expect_invalid("ip", "\"\"", JP_EINVAL, "empty");
    expect_invalid("ip", "[]", JP_EINVAL, "not a string");
    memset(longip, '1', 256);
    longip[256] = '\0';
    snprintf(json_ip, sizeof json_ip, "\"%s\"", longip);
    expect_invalid("ip", json_ip, JP_EINVAL, "longer than 255");
    expect_invalid("key", NULL, JP_EINVAL, "missing \"key\"");
    expect_invalid("key", "123", JP_EINVAL, "\"key\" is not a string");
    expect_invalid("kernel_name", "5", JP_EINVAL, "not a string");
}

static void test_jp_conn_parse_not_json(void **state)
{
    struct jp_conn c;
    char why[200];

    (void)state;
    assert_int_equal(parse("not json", &c, why, sizeof why), JP_EPARSE);
    assert_non_null(strstr(why, "invalid JSON"));
    assert_int_equal(parse("", &c, why, sizeof why), JP_EPARSE);
    assert_int_equal(parse("{\"shell_port\":1", &c, why, sizeof why), JP_EPARSE);
    assert_int_equal(jp_conn_parse(GOOD "\0", sizeof GOOD, &c, why, sizeof why), JP_EPARSE);
    assert_int_equal(parse("[1,2]", &c, why, sizeof why), JP_EINVAL);
    assert_non_null(strstr(why, "not a JSON object"));
    assert_null(c.key);
}

static void test_jp_conn_parse_why_truncated_safely(void **state)
{
    struct jp_conn c;
    char why[8];

    (void)state;
    assert_int_equal(parse("[]", &c, why, sizeof why), JP_EINVAL);
    assert_int_equal(strlen(why), sizeof why - 1);
    assert_int_equal(parse("[]", &c, NULL, 0), JP_EINVAL);
}

static void test_jp_conn_load_missing_file(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c;
    char path[512], why[300];

    snprintf(path, sizeof path, "%s/nope.json", t->path);
    assert_int_equal(jp_conn_load(path, &c, why, sizeof why), JP_EIO);
    assert_non_null(strstr(why, "cannot open"));
    assert_null(c.key);
    /* a directory opens but cannot be read */
    assert_int_equal(jp_conn_load(t->path, &c, why, sizeof why), JP_EIO);
}

static void test_jp_conn_load_valid_file(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c;
    char path[512];

    snprintf(path, sizeof path, "%s/kernel-1.json", t->path);
    write_file(path, GOOD);
    assert_int_equal(jp_conn_load(path, &c, NULL, 0), 0);
    assert_string_equal(c.key, "4f9c-uuid");
    assert_int_equal(c.ports[JP_CH_CONTROL], 50014);
    jp_conn_dispose(&c);
}

static void test_jp_conn_load_not_json(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c;
    char path[512], why[200];

    snprintf(path, sizeof path, "%s/bad.json", t->path);
    write_file(path, "shell_port = 5");
    assert_int_equal(jp_conn_load(path, &c, why, sizeof why), JP_EPARSE);
    write_file(path, "");
    assert_int_equal(jp_conn_load(path, &c, why, sizeof why), JP_EPARSE);
}

static void test_jp_conn_load_too_large(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c;
    char path[512], why[300];
    FILE *f;
    int i;

    snprintf(path, sizeof path, "%s/huge.json", t->path);
    f = fopen(path, "w");
    assert_non_null(f);
    for (i = 0; i < 1100; i++)
        fprintf(f, "%01023d\n", 0);
    fclose(f);
    assert_int_equal(jp_conn_load(path, &c, why, sizeof why), JP_EINVAL);
    assert_non_null(strstr(why, "larger than"));
}

static struct jp_conn sample(void)
{
    struct jp_conn c;

    memset(&c, 0, sizeof c);
    memcpy(c.transport, "tcp", 4);
    memcpy(c.ip, "127.0.0.1", 10);
    c.ports[JP_CH_SHELL] = 1;
    c.ports[JP_CH_IOPUB] = 2;
    c.ports[JP_CH_STDIN] = 65535;
    c.ports[JP_CH_CONTROL] = 0;
    c.ports[JP_CH_HB] = 5;
    memcpy(c.signature_scheme, "hmac-sha256", 12);
    c.key = "s\xc3\xa9\x63ret \"quoted\"";
    c.key_len = strlen(c.key);
    memcpy(c.kernel_name, "cnote", 6);
    return c;
}

static void test_jp_conn_save_load_round_trip(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c = sample(), back;
    char path[512];
    struct stat st;
    int i;

    snprintf(path, sizeof path, "%s/kernel-abc.json", t->path);
    assert_int_equal(jp_conn_save(&c, path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(count_entries(t->path), 1); /* no temporary file left behind */
    assert_int_equal(jp_conn_load(path, &back, NULL, 0), 0);
    assert_string_equal(back.transport, c.transport);
    assert_string_equal(back.ip, c.ip);
    for (i = 0; i < JP_CH_COUNT; i++)
        assert_int_equal(back.ports[i], c.ports[i]);
    assert_string_equal(back.signature_scheme, c.signature_scheme);
    assert_int_equal(back.key_len, c.key_len);
    assert_memory_equal(back.key, c.key, c.key_len);
    assert_string_equal(back.kernel_name, c.kernel_name);
    jp_conn_dispose(&back);
}

static void test_jp_conn_save_replaces_and_ignores_umask(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c = sample(), back;
    char path[512];
    struct stat st;
    mode_t old;

    snprintf(path, sizeof path, "%s/kernel-x.json", t->path);
    write_file(path, "old contents");
    chmod(path, 0644);
    old = umask(0);
    c.ports[JP_CH_HB] = 4242;
    assert_int_equal(jp_conn_save(&c, path), 0);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(jp_conn_load(path, &back, NULL, 0), 0);
    assert_int_equal(back.ports[JP_CH_HB], 4242);
    jp_conn_dispose(&back);
    assert_int_equal(count_entries(t->path), 1);
}

static void test_jp_conn_save_default_scheme(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c = sample(), back;
    char path[512];

    snprintf(path, sizeof path, "%s/k.json", t->path);
    c.signature_scheme[0] = '\0';
    c.key = NULL;
    c.key_len = 0;
    assert_int_equal(jp_conn_save(&c, path), 0);
    assert_int_equal(jp_conn_load(path, &back, NULL, 0), 0);
    assert_string_equal(back.signature_scheme, "hmac-sha256");
    assert_string_equal(back.key, "");
    jp_conn_dispose(&back);
}

static void test_jp_conn_save_missing_directory(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c = sample();
    char path[512];

    snprintf(path, sizeof path, "%s/no/such/dir/k.json", t->path);
    assert_int_equal(jp_conn_save(&c, path), JP_EIO);
    assert_int_equal(count_entries(t->path), 0);
}

static void test_jp_conn_save_invalid_struct(void **state)
{
    struct tmpdir *t = *state;
    struct jp_conn c = sample();
    char path[512];

    snprintf(path, sizeof path, "%s/k.json", t->path);
    memcpy(c.transport, "udp", 4);
    assert_int_equal(jp_conn_save(&c, path), JP_EINVAL);
    c = sample();
    c.ports[JP_CH_IOPUB] = 70000;
    assert_int_equal(jp_conn_save(&c, path), JP_EINVAL);
    c = sample();
    c.key = "bad\xff";
    c.key_len = 4;
    assert_int_equal(jp_conn_save(&c, path), JP_EINVAL);
    c = sample();
    memset(c.ip, 'x', sizeof c.ip); /* not terminated */
    assert_int_equal(jp_conn_save(&c, path), JP_EINVAL);
    assert_int_equal(jp_conn_save(NULL, path), JP_EINVAL);
    assert_int_equal(count_entries(t->path), 0);
}

static void test_jp_conn_endpoint_tcp_and_ipc(void **state)
{
    struct jp_conn c = sample();
    char out[64];

    (void)state;
    assert_int_equal(jp_conn_endpoint(&c, JP_CH_SHELL, out, sizeof out),
                     (int)strlen("tcp://127.0.0.1:1"));
    assert_string_equal(out, "tcp://127.0.0.1:1");
    assert_int_equal(jp_conn_endpoint(&c, JP_CH_STDIN, out, sizeof out), 21);
    assert_string_equal(out, "tcp://127.0.0.1:65535");
    memcpy(c.transport, "ipc", 4);
    memcpy(c.ip, "/run/k", 7);
    assert_int_equal(jp_conn_endpoint(&c, JP_CH_HB, out, sizeof out), 14);
    assert_string_equal(out, "ipc:///run/k-5");
}

static void test_jp_conn_endpoint_small_buffer(void **state)
{
    struct jp_conn c = sample();
    char out[17];

    (void)state;
    /* "tcp://127.0.0.1:1" is 17 characters: one more byte is needed for the NUL */
    assert_int_equal(jp_conn_endpoint(&c, JP_CH_SHELL, out, sizeof out), JP_ERANGE);
    assert_int_equal(jp_conn_endpoint(&c, JP_CH_SHELL, NULL, 0), JP_ERANGE);
}

static void test_jp_conn_endpoint_invalid(void **state)
{
    struct jp_conn c = sample();
    char out[64];

    (void)state;
    assert_int_equal(jp_conn_endpoint(&c, JP_CH_COUNT, out, sizeof out), JP_EINVAL);
    assert_int_equal(jp_conn_endpoint(&c, (enum jp_channel) - 1, out, sizeof out), JP_EINVAL);
    memcpy(c.transport, "udp", 4);
    assert_int_equal(jp_conn_endpoint(&c, JP_CH_SHELL, out, sizeof out), JP_EINVAL);
}

static void test_jp_conn_channel_name_all(void **state)
{
    (void)state;
    assert_string_equal(jp_conn_channel_name(JP_CH_SHELL), "shell");
    assert_string_equal(jp_conn_channel_name(JP_CH_IOPUB), "iopub");
    assert_string_equal(jp_conn_channel_name(JP_CH_STDIN), "stdin");
    assert_string_equal(jp_conn_channel_name(JP_CH_CONTROL), "control");
    assert_string_equal(jp_conn_channel_name(JP_CH_HB), "hb");
    assert_string_equal(jp_conn_channel_name(JP_CH_COUNT), "");
}

static void test_jp_conn_parse_nomem_each_allocation(void **state)
{
    /* short tokens only: see failalloc.h on jansson's lexer */
    static const char *text =
        "{\"shell_port\":1,\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4,"
        "\"hb_port\":5,\"ip\":\"127.0.0.1\",\"key\":\"k3y\",\"transport\":\"tcp\"}";
    struct jp_conn c;
    long live, n;
    int rc, hit, done = 0;

    (void)state;
    failalloc_install();
    live = failalloc_live();
    for (n = 1; n < 10000 && !done; n++) {
        failalloc_arm(n, FAILALLOC_ALL);
        rc = parse(text, &c, NULL, 0);
        hit = failalloc_hit();
        failalloc_disarm();
        if (hit) {
            assert_true(rc == JP_ENOMEM || rc == JP_EPARSE);
            assert_null(c.key);
            assert_int_equal(failalloc_live(), live);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(c.key, "k3y");
            jp_conn_dispose(&c);
            done = 1;
        }
    }
    assert_true(done);
    assert_true(n > 10);
    assert_int_equal(failalloc_live(), live);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmpdir, teardown_tmpdir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_conn_parse_valid),
        cmocka_unit_test(test_jp_conn_parse_defaults_and_extras),
        cmocka_unit_test(test_jp_conn_parse_port_limits),
        cmocka_unit_test(test_jp_conn_parse_missing_port),
        cmocka_unit_test(test_jp_conn_parse_port_out_of_range),
        cmocka_unit_test(test_jp_conn_parse_port_wrong_type),
        cmocka_unit_test(test_jp_conn_parse_wrong_scheme),
        cmocka_unit_test(test_jp_conn_parse_bad_transport_ip_key),
        cmocka_unit_test(test_jp_conn_parse_not_json),
        cmocka_unit_test(test_jp_conn_parse_why_truncated_safely),
        T(test_jp_conn_load_missing_file),
        T(test_jp_conn_load_valid_file),
        T(test_jp_conn_load_not_json),
        T(test_jp_conn_load_too_large),
        T(test_jp_conn_save_load_round_trip),
        T(test_jp_conn_save_replaces_and_ignores_umask),
        T(test_jp_conn_save_default_scheme),
        T(test_jp_conn_save_missing_directory),
        T(test_jp_conn_save_invalid_struct),
        cmocka_unit_test(test_jp_conn_endpoint_tcp_and_ipc),
        cmocka_unit_test(test_jp_conn_endpoint_small_buffer),
        cmocka_unit_test(test_jp_conn_endpoint_invalid),
        cmocka_unit_test(test_jp_conn_channel_name_all),
        cmocka_unit_test(test_jp_conn_parse_nomem_each_allocation),
    };

    return cmocka_run_group_tests_name("jp_conn", tests, NULL, NULL);
}
