/*
 * test_metrics.c - unit tests for server/metrics.c: the exact text of a small registry (each
 * type, HELP and TYPE lines, the dropped-series counter), escaping of HELP text and label
 * values, refusal of invalid names, labels, values and type clashes, cumulative histogram
 * buckets with +Inf, gauge reset, the per-metric series cap, value formatting, and a render that
 * fails on a full buffer leaving it as it was. The rendered text of a sample registry is also
 * checked line by line by a strict exposition-format checker written here, and, when the
 * project's .venv has prometheus_client (a dependency of jupyter_server), by its parser.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jp_buf.h"
#include "jp_err.h"
#include "metrics.h"

#define DROPPED                                                                                    \
    "# HELP cnote_metrics_dropped_series_total Series not recorded because their metric "          \
    "reached its series limit.\n"                                                                  \
    "# TYPE cnote_metrics_dropped_series_total counter\n"

static const char *const L_METHOD_CODE[] = {"method", "code", NULL};
static const char *const L_USER[] = {"user", NULL};

static char *render(const struct metrics *m)
{
    struct jp_buf b;

    jp_buf_init(&b, 64 << 20);
    assert_int_equal(metrics_render(m, &b), 0);
    char *s = jp_buf_take(&b);
    assert_non_null(s);
    return s;
}

static void assert_render(const struct metrics *m, const char *want)
{
    char *s = render(m);

    assert_string_equal(s, want);
    free(s);
}

static void test_metrics_render_empty(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();

    assert_non_null(m);
    assert_render(m, DROPPED "cnote_metrics_dropped_series_total 0\n");
    metrics_free(m);
    metrics_free(NULL);
}

static void test_metrics_render_each_type(void **state)
{
    (void)state;
    static const double b[] = {0.1, 0.5, 1};
    struct metrics *m = metrics_new();
    const char *get200[] = {"GET", "200", NULL}, *post500[] = {"POST", "500", NULL};
    const char *alice[] = {"alice", NULL};

    assert_int_equal(metrics_counter_add(m, "cnote_http_requests_total", "HTTP requests.",
                                         L_METHOD_CODE, get200, 1),
                     0);
    assert_int_equal(
        metrics_counter_add(m, "cnote_http_requests_total", "ignored", L_METHOD_CODE, post500, 2),
        0);
    assert_int_equal(
        metrics_counter_add(m, "cnote_http_requests_total", NULL, L_METHOD_CODE, get200, 2.5), 0);
    assert_int_equal(metrics_gauge_set(m, "cnote_ws_clients", "Open WebSockets.", NULL, NULL, 7),
                     0);
    assert_int_equal(metrics_gauge_set(m, "cnote_ws_clients", NULL, NULL, NULL, 3), 0);
    assert_int_equal(metrics_gauge_add(m, "cnote_user_kernels", "Kernels.", L_USER, alice, 2), 0);
    assert_int_equal(metrics_gauge_add(m, "cnote_user_kernels", NULL, L_USER, alice, -1), 0);
    assert_int_equal(
        metrics_histogram_observe(m, "cnote_pod_launch_seconds", "Pod launch time.", b, 3, 0.3), 0);
    assert_int_equal(metrics_histogram_observe(m, "cnote_pod_launch_seconds", NULL, b, 3, 2), 0);
    assert_render(m, "# HELP cnote_http_requests_total HTTP requests.\n"
                     "# TYPE cnote_http_requests_total counter\n"
                     "cnote_http_requests_total{method=\"GET\",code=\"200\"} 3.5\n"
                     "cnote_http_requests_total{method=\"POST\",code=\"500\"} 2\n"
                     "# HELP cnote_ws_clients Open WebSockets.\n"
                     "# TYPE cnote_ws_clients gauge\n"
                     "cnote_ws_clients 3\n"
                     "# HELP cnote_user_kernels Kernels.\n"
                     "# TYPE cnote_user_kernels gauge\n"
                     "cnote_user_kernels{user=\"alice\"} 1\n"
                     "# HELP cnote_pod_launch_seconds Pod launch time.\n"
                     "# TYPE cnote_pod_launch_seconds histogram\n"
                     "cnote_pod_launch_seconds_bucket{le=\"0.1\"} 0\n"
                     "cnote_pod_launch_seconds_bucket{le=\"0.5\"} 1\n"
                     "cnote_pod_launch_seconds_bucket{le=\"1\"} 1\n"
                     "cnote_pod_launch_seconds_bucket{le=\"+Inf\"} 2\n"
                     "cnote_pod_launch_seconds_sum 2.3\n"
                     "cnote_pod_launch_seconds_count 2\n" DROPPED
                     "cnote_metrics_dropped_series_total 0\n");
    metrics_free(m);
}

static void test_metrics_render_escapes(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    const char *v[] = {"a\\b\"c\nd", NULL}, *bad[] = {"x\xff"
                                                      "y",
                                                      NULL};

    assert_int_equal(metrics_gauge_set(m, "g", "line one\nback\\slash \"quoted\"", L_USER, v, 1),
                     0);
    assert_int_equal(metrics_gauge_set(m, "g", NULL, L_USER, bad, 2), 0);
    /* the cleaned value names the same series */
    assert_int_equal(metrics_gauge_set(m, "g", NULL, L_USER, bad, 3), 0);
    assert_render(m, "# HELP g line one\\nback\\\\slash \"quoted\"\n"
                     "# TYPE g gauge\n"
                     "g{user=\"a\\\\b\\\"c\\nd\"} 1\n"
                     "g{user=\"x\xef\xbf\xbdy\"} 3\n" DROPPED
                     "cnote_metrics_dropped_series_total 0\n");
    metrics_free(m);
}

static void test_metrics_invalid_refused(void **state)
{
    (void)state;
    static const double b[] = {1, 2}, b13[] = {1, 3}, bdesc[] = {2, 1}, binf[] = {1, INFINITY};
    struct metrics *m = metrics_new();
    const char *one[] = {"x", NULL}, *two[] = {"x", "y", NULL},
               *four[] = {"a", "b", "c", "d", NULL};
    const char *n_four[] = {"a", "b", "c", "d", NULL}, *n_dup[] = {"a", "a", NULL};
    const char *n_res[] = {"__name", NULL}, *n_colon[] = {"a:b", NULL}, *n_digit[] = {"1a", NULL};
    const char *n_other[] = {"group", NULL}, *n_null[] = {NULL};

    assert_int_equal(metrics_counter_add(m, "1abc", "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "a-b", "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "", "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, NULL, "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "a b", "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "caf\xc3\xa9", "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(
        metrics_counter_add(m, "cnote_metrics_dropped_series_total", "h", NULL, NULL, 1),
        JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", NULL, NULL, NULL, 1), JP_EINVAL); /* no help */
    assert_int_equal(metrics_counter_add(m, "ok", "h", n_four, four, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", n_dup, two, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", n_res, one, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", n_colon, one, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", n_digit, one, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", L_USER, two, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", L_USER, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", NULL, one, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", NULL, NULL, -1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", NULL, NULL, NAN), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", NULL, NULL, INFINITY), JP_EINVAL);
    assert_int_equal(metrics_gauge_set(m, "ok", "h", NULL, NULL, NAN), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "ok", "h", b, 0, 1), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "ok", "h", NULL, 2, 1), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "ok", "h", bdesc, 2, 1), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "ok", "h", binf, 2, 1), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "ok", "h", b, 2, NAN), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "ok:x", "h", b, 65, 1), JP_EINVAL);
    /* nothing above created a metric */
    assert_render(m, DROPPED "cnote_metrics_dropped_series_total 0\n");

    /* the first use fixes type and label names */
    assert_int_equal(metrics_counter_add(m, "ok", "h", L_USER, one, 1), 0);
    assert_int_equal(metrics_gauge_set(m, "ok", "h", L_USER, one, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", n_other, one, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "ok", "h", n_null, n_null, 1), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "ok", "h", b, 2, 1), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "hist", "h", b, 2, 1), 0);
    assert_int_equal(metrics_histogram_observe(m, "hist", "h", b, 1, 1), JP_EINVAL);
    assert_int_equal(metrics_histogram_observe(m, "hist", "h", b13, 2, 1), JP_EINVAL);
    assert_int_equal(metrics_counter_add(m, "hist", "h", NULL, NULL, 1), JP_EINVAL);
    assert_int_equal(metrics_gauge_reset(m, "hist"), JP_EINVAL);
    assert_int_equal(metrics_gauge_reset(m, "ok"), JP_EINVAL);
    assert_render(m, "# HELP ok h\n# TYPE ok counter\nok{user=\"x\"} 1\n"
                     "# HELP hist h\n# TYPE hist histogram\n"
                     "hist_bucket{le=\"1\"} 1\nhist_bucket{le=\"2\"} 1\n"
                     "hist_bucket{le=\"+Inf\"} 1\nhist_sum 1\nhist_count 1\n" DROPPED
                     "cnote_metrics_dropped_series_total 0\n");
    metrics_free(m);
}

static void test_metrics_histogram_cumulative(void **state)
{
    (void)state;
    static const double b[] = {0.25, 1, 10};
    static const double obs[] = {0.25, 0.1, 1, 3, 10, 11, 1e9, -5};
    struct metrics *m = metrics_new();

    for (size_t i = 0; i < sizeof obs / sizeof *obs; i++)
        assert_int_equal(metrics_histogram_observe(m, "lat_seconds", "h", b, 3, obs[i]), 0);
    assert_int_equal(metrics_histogram_observe(m, "lat_seconds", "h", b, 3, INFINITY), 0);
    /* a bound equal to the value counts it (le is "less or equal") */
    assert_render(m, "# HELP lat_seconds h\n# TYPE lat_seconds histogram\n"
                     "lat_seconds_bucket{le=\"0.25\"} 3\n"
                     "lat_seconds_bucket{le=\"1\"} 4\n"
                     "lat_seconds_bucket{le=\"10\"} 6\n"
                     "lat_seconds_bucket{le=\"+Inf\"} 9\n"
                     "lat_seconds_sum +Inf\n"
                     "lat_seconds_count 9\n" DROPPED "cnote_metrics_dropped_series_total 0\n");
    metrics_free(m);
}

static void test_metrics_gauge_reset_drops_series(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    const char *a[] = {"a", NULL}, *b[] = {"b", NULL};

    assert_int_equal(metrics_gauge_reset(m, "unknown"), 0);
    assert_int_equal(metrics_gauge_set(m, "k", "h", L_USER, a, 1), 0);
    assert_int_equal(metrics_gauge_set(m, "k", "h", L_USER, b, 2), 0);
    assert_int_equal(metrics_gauge_reset(m, "k"), 0);
    assert_render(m,
                  "# HELP k h\n# TYPE k gauge\n" DROPPED "cnote_metrics_dropped_series_total 0\n");
    assert_int_equal(metrics_gauge_set(m, "k", "h", L_USER, b, 5), 0);
    assert_int_equal(metrics_gauge_add(m, "k", "h", L_USER, a, 1), 0);
    assert_render(m, "# HELP k h\n# TYPE k gauge\nk{user=\"b\"} 5\nk{user=\"a\"} 1\n" DROPPED
                     "cnote_metrics_dropped_series_total 0\n");
    metrics_free(m);
}

static void test_metrics_series_cap(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    char v[32];
    const char *vals[] = {v, NULL};

    for (int i = 0; i < METRICS_MAX_SERIES; i++) {
        snprintf(v, sizeof v, "u%d", i);
        assert_int_equal(metrics_counter_add(m, "c_total", "h", L_USER, vals, 1), 0);
    }
    snprintf(v, sizeof v, "u%d", METRICS_MAX_SERIES);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", L_USER, vals, 1), JP_ETOOBIG);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", L_USER, vals, 1), JP_ETOOBIG);
    /* existing series still count; other metrics are not affected */
    snprintf(v, sizeof v, "u%d", 1234);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", L_USER, vals, 1), 0);
    assert_int_equal(metrics_gauge_set(m, "other", "h", L_USER, vals, 1), 0);
    char *s = render(m);
    size_t lines = 0;
    for (char *p = s; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + METRICS_MAX_SERIES + 3 + 3);
    assert_non_null(strstr(s, "\nc_total{user=\"u1234\"} 2\n"));
    assert_non_null(strstr(s, "\nc_total{user=\"u9999\"} 1\n"));
    assert_null(strstr(s, "u10000"));
    assert_non_null(strstr(s, "\ncnote_metrics_dropped_series_total 2\n"));
    free(s);
    /* a reset gauge may fill up again */
    for (int i = 0; i < METRICS_MAX_SERIES; i++) {
        snprintf(v, sizeof v, "u%d", i);
        assert_int_equal(metrics_gauge_set(m, "other", "h", L_USER, vals, i), 0);
    }
    assert_int_equal(metrics_gauge_set(m, "other", "h", L_USER, (const char *[]){"new", NULL}, 1),
                     JP_ETOOBIG);
    assert_int_equal(metrics_gauge_reset(m, "other"), 0);
    assert_int_equal(metrics_gauge_set(m, "other", "h", L_USER, (const char *[]){"new", NULL}, 1),
                     0);
    metrics_free(m);
}

static void test_metrics_value_format(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();

    assert_int_equal(metrics_gauge_set(m, "a", "h", NULL, NULL, 0.1), 0);
    assert_int_equal(metrics_gauge_set(m, "b", "h", NULL, NULL, 1.0 / 3), 0);
    assert_int_equal(metrics_gauge_set(m, "c", "h", NULL, NULL, 1e21), 0);
    assert_int_equal(metrics_gauge_set(m, "d", "h", NULL, NULL, -0.5), 0);
    assert_int_equal(metrics_gauge_set(m, "e", "h", NULL, NULL, -INFINITY), 0);
    assert_int_equal(metrics_gauge_set(m, "f", "h", NULL, NULL, 123456789012.0), 0);
    assert_int_equal(metrics_counter_add(m, "g", "h", NULL, NULL, 0), 0);
    assert_int_equal(metrics_gauge_set(m, "h", "h", NULL, NULL, 50), 0);
    assert_int_equal(metrics_gauge_set(m, "i", "h", NULL, NULL, 1e-5), 0);
    assert_int_equal(metrics_gauge_set(m, "j", "h", NULL, NULL, 0.00025), 0);
    assert_int_equal(metrics_gauge_set(m, "k", "h", NULL, NULL, 1e20), 0);
    assert_int_equal(metrics_gauge_set(m, "l", "h", NULL, NULL, 2.5e-300), 0);
    assert_render(m, "# HELP a h\n# TYPE a gauge\na 0.1\n"
                     "# HELP b h\n# TYPE b gauge\nb 0.3333333333333333\n"
                     "# HELP c h\n# TYPE c gauge\nc 1e+21\n"
                     "# HELP d h\n# TYPE d gauge\nd -0.5\n"
                     "# HELP e h\n# TYPE e gauge\ne -Inf\n"
                     "# HELP f h\n# TYPE f gauge\nf 123456789012\n"
                     "# HELP g h\n# TYPE g counter\ng 0\n"
                     "# HELP h h\n# TYPE h gauge\nh 50\n"
                     "# HELP i h\n# TYPE i gauge\ni 1e-05\n"
                     "# HELP j h\n# TYPE j gauge\nj 0.00025\n"
                     "# HELP k h\n# TYPE k gauge\nk 100000000000000000000\n"
                     "# HELP l h\n# TYPE l gauge\nl 2.5e-300\n" DROPPED
                     "cnote_metrics_dropped_series_total 0\n");
    metrics_free(m);
}

static void test_metrics_render_full_buffer_unchanged(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct jp_buf b;

    jp_buf_init(&b, 64);
    assert_int_equal(jp_buf_adds(&b, "keep"), 0);
    assert_int_equal(metrics_gauge_set(m, "g", "h", NULL, NULL, 1), 0);
    assert_int_equal(metrics_render(m, &b), JP_ETOOBIG);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    jp_buf_dispose(&b);
    metrics_free(m);
}

/* ---- a strict checker of the text format 0.0.4 ---- */

static int is_name(const char **p, int colon)
{
    const char *s = *p;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
          (colon && *s == ':')))
        return 0;
    for (s++; (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9') || (colon && *s == ':');
         s++)
        ;
    *p = s;
    return 1;
}

/* A Go ParseFloat-style value (as the Prometheus text parser reads it), up to the end. */
static int is_value(const char *s, const char *end, double *out)
{
    char buf[64], *e;
    size_t n = (size_t)(end - s);

    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "NaN")) {
        *out = !strcmp(buf, "NaN") ? NAN : buf[0] == '+' ? INFINITY : -INFINITY;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.e", buf[i]))
            return 0;
    *out = strtod(buf, &e);
    return *e == '\0';
}

struct family {
    char name[256];
    char type[16];
    int help, typed;
    double last_le, last_cum, inf_count;
    int saw_inf;
};

static int suffix_of(const char *sample, const char *family, const char *suf)
{
    size_t fl = strlen(family);
    return !strncmp(sample, family, fl) && !strcmp(sample + fl, suf);
}

/* Returns NULL when the text is well formed, else a description of the first problem. */
static const char *check_exposition(const char *text, char *why, size_t whylen)
{
    struct family fam = {0};
    char seen[64][256];
    size_t nseen = 0;
    int lineno = 0;

    if (!*text || text[strlen(text) - 1] != '\n')
        return "text does not end with a newline";
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        const char *eol = strchr(line, '\n'), *p = line;
        lineno++;
#define BAD(msg)                                                                                   \
    do {                                                                                           \
        snprintf(why, whylen, "line %d: %s: %.*s", lineno, msg, (int)(eol - line), line);          \
        return why;                                                                                \
    } while (0)
        if (eol == line)
            BAD("empty line");
        if (!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7)) {
            int help = p[2] == 'H';
            const char *n = p + 7;
            p = n;
            if (!is_name(&p, 1) || *p != ' ')
                BAD("bad metric name");
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(p - n), n);
            if (strcmp(name, fam.name) != 0) {
                for (size_t i = 0; i < nseen; i++)
                    if (!strcmp(seen[i], name))
                        BAD("family appears twice");
                if (fam.name[0] && !strcmp(fam.type, "histogram") && !fam.saw_inf)
                    BAD("previous histogram has no +Inf bucket");
                memset(&fam, 0, sizeof fam);
                fam.last_le = -INFINITY;
                snprintf(fam.name, sizeof fam.name, "%s", name);
                snprintf(seen[nseen++], sizeof seen[0], "%s", name);
            }
            p++;
            if (help) {
                if (fam.help++ || fam.typed)
                    BAD("HELP repeated or after TYPE");
                for (; p < eol; p++)
                    if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
                        BAD("bad escape in HELP");
                    else if (*p == '\\')
                        p++;
            } else {
                if (fam.typed++)
                    BAD("TYPE repeated");
                snprintf(fam.type, sizeof fam.type, "%.*s", (int)(eol - p), p);
                if (strcmp(fam.type, "counter") && strcmp(fam.type, "gauge") &&
                    strcmp(fam.type, "histogram"))
                    BAD("bad type");
            }
            continue;
        }
        if (*p == '#')
            BAD("unexpected comment");
        const char *n = p;
        if (!is_name(&p, 1))
            BAD("bad sample name");
        char sname[256];
        snprintf(sname, sizeof sname, "%.*s", (int)(p - n), n);
        if (!fam.typed)
            BAD("sample before its TYPE");
        int hist = !strcmp(fam.type, "histogram");
        int bucket = hist && suffix_of(sname, fam.name, "_bucket");
        if (hist ? !(bucket || suffix_of(sname, fam.name, "_sum") ||
                     suffix_of(sname, fam.name, "_count"))
                 : strcmp(sname, fam.name) != 0)
            BAD("sample outside its family");
        char le[64] = "";
        int nlab = 0;
        if (*p == '{') {
            char labels[8][64];
            p++;
            while (*p != '}') {
                const char *ln = p;
                if (!is_name(&p, 0) || p[0] != '=' || p[1] != '"')
                    BAD("bad label name");
                if (nlab == 8)
                    BAD("too many labels");
                snprintf(labels[nlab], sizeof labels[0], "%.*s", (int)(p - ln), ln);
                for (int i = 0; i < nlab; i++)
                    if (!strcmp(labels[i], labels[nlab]))
                        BAD("duplicate label");
                int is_le = !strcmp(labels[nlab], "le");
                nlab++;
                p += 2;
                const char *vs = p;
                for (; *p != '"'; p++) {
                    if (p >= eol || *p == '\n')
                        BAD("unterminated label value");
                    if (*p == '\\') {
                        if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                            BAD("bad escape in label value");
                        p++;
                    }
                }
                if (is_le)
                    snprintf(le, sizeof le, "%.*s", (int)(p - vs), vs);
                p++;
                if (*p == ',')
                    p++;
                else if (*p != '}')
                    BAD("expected , or }");
            }
            p++;
        }
        if (*p != ' ')
            BAD("expected a space before the value");
        p++;
        const char *ve = memchr(p, ' ', (size_t)(eol - p));
        double v, lev;
        if (!is_value(p, ve ? ve : eol, &v))
            BAD("bad value");
        if (ve)
            BAD("unexpected timestamp");
        if (bucket) {
            if (nlab != 1 || !is_value(le, le + strlen(le), &lev))
                BAD("bucket without a single le");
            if (fam.saw_inf || !(lev > fam.last_le) || v < fam.last_cum)
                BAD("buckets not increasing and cumulative");
            fam.last_le = lev;
            fam.last_cum = v;
            if (isinf(lev)) {
                fam.saw_inf = 1;
                fam.inf_count = v;
            }
        } else if (hist && suffix_of(sname, fam.name, "_count")) {
            if (!fam.saw_inf || v != fam.inf_count)
                BAD("_count differs from the +Inf bucket");
        }
#undef BAD
    }
    return NULL;
}

static struct metrics *sample_registry(void)
{
    static const double b[] = {0.05, 0.5, 5, 50};
    struct metrics *m = metrics_new();
    const char *vals[][3] = {
        {"alice", "idle", NULL}, {"bob \"b\"", "busy", NULL}, {"c\\d\ne", "starting", NULL}};
    const char *const ln[] = {"user", "state", NULL};

    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            metrics_gauge_set(m, "cnote_kernels", "Kernels by user and state.", ln, vals[i], i + 1),
            0);
        assert_int_equal(metrics_counter_add(m, "cnote_ws_messages_total",
                                             "Messages relayed.\nBoth ways \\o/", ln, vals[i],
                                             10 * i + 0.5),
                         0);
    }
    assert_int_equal(metrics_counter_add(m, "cnote:api_errors_total", "API errors.", NULL, NULL, 4),
                     0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(metrics_histogram_observe(m, "cnote_pod_launch_seconds",
                                                   "Time from create to running.", b, 4, i * 3.7),
                         0);
    return m;
}

static void test_metrics_render_passes_strict_checker(void **state)
{
    (void)state;
    struct metrics *m = sample_registry();
    char *s = render(m), why[512];
    const char *bad = check_exposition(s, why, sizeof why);

    if (bad)
        fail_msg("%s", bad);
    /* the checker itself refuses broken text */
    assert_non_null(check_exposition("# TYPE a gauge\na{x=\"\\t\"} 1\n", why, sizeof why));
    assert_non_null(check_exposition("a 1\n", why, sizeof why));
    assert_non_null(check_exposition("# TYPE a gauge\na 1 2 3\n", why, sizeof why));
    assert_non_null(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                                     "h_bucket{le=\"+Inf\"} 1\n",
                                     why, sizeof why));
    assert_null(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                                 "h_bucket{le=\"+Inf\"} 1\nh_count 1\n",
                                 why, sizeof why));
    free(s);
    metrics_free(m);
}

/* prometheus_client's own parser, from the project's .venv (jupyter_server depends on it). */
static const char PY_CHECK[] =
    "import sys\n"
    "from prometheus_client.parser import text_string_to_metric_families as parse\n"
    "fams = {f.name: f for f in parse(open(sys.argv[1]).read())}\n"
    "k = fams['cnote_kernels']\n"
    "assert k.type == 'gauge', k.type\n"
    "got = sorted((s.labels['user'], s.labels['state'], s.value) for s in k.samples)\n"
    "assert got == [('alice', 'idle', 1.0), ('bob \"b\"', 'busy', 2.0),\n"
    "               ('c\\\\d\\ne', 'starting', 3.0)], got\n"
    "w = fams['cnote_ws_messages']\n"
    "assert w.type == 'counter' and w.documentation == 'Messages relayed.\\nBoth ways \\\\o/'\n"
    "assert sum(s.value for s in w.samples) == 31.5\n"
    "assert fams['cnote:api_errors'].samples[0].value == 4\n"
    "h = fams['cnote_pod_launch_seconds']\n"
    "assert h.type == 'histogram'\n"
    "b = [(s.labels['le'], s.value) for s in h.samples if s.name.endswith('_bucket')]\n"
    "assert b == [('0.05', 1), ('0.5', 1), ('5', 2), ('50', 14), ('+Inf', 20)], b\n"
    "c = [s.value for s in h.samples if s.name.endswith('_count')]\n"
    "assert c == [20], c\n"
    "assert fams['cnote_metrics_dropped_series'].samples[0].value == 0\n"
    "print('prometheus_client parsed', len(fams), 'families')\n";

static void test_metrics_render_passes_prometheus_parser(void **state)
{
    (void)state;
    char py[1100], txt[] = "/tmp/test_metrics_XXXXXX", cwd[1024];
    if (!getcwd(cwd, sizeof cwd))
        fail();
    snprintf(py, sizeof py, "%s/.venv/bin/python", cwd);
    if (access(py, X_OK) != 0 ||
        system("\"$PWD/.venv/bin/python\" -c 'import prometheus_client.parser' 2>/dev/null") != 0) {
        fprintf(stderr, "test_metrics: no prometheus_client in .venv; parser check skipped\n");
        skip();
    }
    struct metrics *m = sample_registry();
    char *s = render(m);
    int fd = mkstemp(txt);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(py, py, "-c", PY_CHECK, txt, (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    unlink(txt);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    free(s);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render_empty),
        cmocka_unit_test(test_metrics_render_each_type),
        cmocka_unit_test(test_metrics_render_escapes),
        cmocka_unit_test(test_metrics_invalid_refused),
        cmocka_unit_test(test_metrics_histogram_cumulative),
        cmocka_unit_test(test_metrics_gauge_reset_drops_series),
        cmocka_unit_test(test_metrics_series_cap),
        cmocka_unit_test(test_metrics_value_format),
        cmocka_unit_test(test_metrics_render_full_buffer_unchanged),
        cmocka_unit_test(test_metrics_render_passes_strict_checker),
        cmocka_unit_test(test_metrics_render_passes_prometheus_parser),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
