/*
 * test_plot.c - unit tests for kernel/exec/cnote_plot.c, the SVG emitter behind plot_*:
 * nice ticks and their labels, well-formed output (checked by a small XML parser here), the
 * number of marks per series, decimation bounds (a million points stay under 1 MB), escaping of
 * user text, NaN/Inf, empty and constant data, histogram bins, heatmap cells and colour ramp,
 * and what the cnote.h entry points publish (ck_rt_publish is replaced by a recorder). Linked
 * with cnote_plot.o alone: the rest of the executor needs its control socket.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ck_rt.h"
#include "cnote_plot.h"

/* ---- ck_rt_publish recorder ---- */

static char published_mime[2][32];
static char *published_data[2];
static int published_n, published_calls;

int ck_rt_publish(const char *msg_type, const char *id, const struct ck_mime_part *parts, int n)
{
    assert_string_equal(msg_type, "display_data");
    assert_null(id);
    assert_true(n >= 1 && n <= 2);
    for (int i = 0; i < 2; i++) {
        free(published_data[i]);
        published_data[i] = NULL;
    }
    for (int i = 0; i < n; i++) {
        snprintf(published_mime[i], sizeof published_mime[i], "%s", parts[i].mime);
        published_data[i] = malloc(parts[i].len + 1);
        assert_non_null(published_data[i]);
        memcpy(published_data[i], parts[i].data, parts[i].len);
        published_data[i][parts[i].len] = '\0';
    }
    published_n = n;
    published_calls++;
    return 0;
}

/* ---- helpers ---- */

/* A small XML well-formedness check: balanced, properly nested elements, quoted attributes,
 * no stray '<' or '&' in text, no control characters. Returns the number of elements. */
static int xml_check(const char *s)
{
    const char *stack[64];
    size_t stack_len[64];
    int depth = 0, elements = 0;
    const char *p = s;
    while (*p) {
        unsigned char c = (unsigned char)*p;
        assert_true(c >= 0x20 || c == '\n' || c == '\t');
        if (c == '&') {
            const char *end = strchr(p, ';');
            assert_non_null(end);
            assert_true(end - p <= 8);
            p = end + 1;
            continue;
        }
        if (c != '<') {
            assert_true(c != '>');
            p++;
            continue;
        }
        if (p[1] == '/') {
            const char *name = p + 2;
            size_t len = strcspn(name, ">");
            assert_true(depth > 0);
            depth--;
            assert_int_equal(len, stack_len[depth]);
            assert_memory_equal(name, stack[depth], len);
            p = name + len + 1;
            continue;
        }
        const char *name = p + 1;
        size_t len = strcspn(name, " \n/>");
        assert_true(len > 0);
        elements++;
        p = name + len;
        /* attributes: name="value" */
        for (;;) {
            while (*p == ' ' || *p == '\n')
                p++;
            if (*p == '/' || *p == '>')
                break;
            size_t an = strcspn(p, "=");
            assert_true(an > 0 && p[an] == '=' && p[an + 1] == '"');
            p += an + 2;
            while (*p != '"') {
                assert_true(*p && *p != '<');
                if (*p == '&') {
                    const char *end = strchr(p, ';');
                    assert_true(end && end - p <= 8);
                }
                p++;
            }
            p++;
        }
        if (*p == '/') {
            assert_int_equal(p[1], '>');
            p += 2;
        } else {
            assert_true(depth < 64);
            stack[depth] = name;
            stack_len[depth++] = len;
            p++;
        }
    }
    assert_int_equal(depth, 0);
    return elements;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Vertices of every <polyline> in s. */
static int polyline_points(const char *s, int *lines)
{
    int n = 0;
    *lines = 0;
    for (const char *p = strstr(s, "<polyline points=\""); p;
         p = strstr(p + 1, "<polyline points=\"")) {
        (*lines)++;
        const char *q = p + strlen("<polyline points=\"");
        const char *end = strchr(q, '"');
        n++;
        for (; q < end; q++)
            n += *q == ' ';
    }
    return n;
}

static char *render(const struct cnote_series *s, int ns, const struct cnote_plot_opts *o,
                    size_t *len, long *points)
{
    char *svg = ck_plot_svg(s, ns, o, len, points);
    assert_non_null(svg);
    assert_int_equal(strlen(svg), *len);
    assert_memory_equal(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39);
    xml_check(svg);
    assert_null(strstr(svg, "nan"));
    assert_null(strstr(svg, "inf"));
    return svg;
}

/* ---- ticks ---- */

static int nice(double step)
{
    double m = step / pow(10, floor(log10(step) + 1e-9));
    return fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9;
}

static void test_ck_plot_ticks_nice_steps(void **state)
{
    double t[64], step;
    (void)state;
    assert_int_equal(ck_plot_ticks(0, 1, 5, t, 64, &step), 6);
    assert_true(fabs(step - 0.2) < 1e-12);
    assert_true(t[0] == 0 && fabs(t[5] - 1) < 1e-12);

    assert_int_equal(ck_plot_ticks(0, 97, 5, t, 64, &step), 5);
    assert_true(step == 20 && t[4] == 80);

    assert_int_equal(ck_plot_ticks(-3.7, 12.2, 4, t, 64, &step), 3);
    assert_true(step == 5 && t[0] == 0 && t[2] == 10);

    const double cases[][2] = {{1e6, 5e6}, {-1e300, 1e300},  {1e-9, 3e-9},
                               {-7, -6.9}, {123456, 123457}, {0.001, 1000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = ck_plot_ticks(cases[i][0], cases[i][1], 5, t, 64, &step);
        assert_true(n >= 2 && n <= 6);
        assert_true(nice(step));
        for (int k = 0; k < n; k++) {
            assert_true(t[k] >= cases[i][0] - step * 1e-6 && t[k] <= cases[i][1] + step * 1e-6);
            if (k)
                assert_true(fabs(t[k] - t[k - 1] - step) <= step * 1e-6);
        }
    }
}

static void test_ck_plot_ticks_degenerate(void **state)
{
    double t[8], step;
    (void)state;
    assert_int_equal(ck_plot_ticks(1, 1, 5, t, 8, &step), 0);
    assert_int_equal(ck_plot_ticks(2, 1, 5, t, 8, &step), 0);
    assert_int_equal(ck_plot_ticks(NAN, 1, 5, t, 8, &step), 0);
    assert_int_equal(ck_plot_ticks(0, INFINITY, 5, t, 8, &step), 0);
    assert_int_equal(ck_plot_ticks(-1e308, 1e308, 5, t, 8, &step), 0); /* span overflows */
    /* a span of one ulp: k + 1 == k for such k, the cap ends the loop */
    int n = ck_plot_ticks(1, nextafter(1, 2), 5, t, 8, &step);
    assert_true(n >= 1 && n <= 8);
}

static void test_ck_plot_tick_label_digits(void **state)
{
    char b[40];
    (void)state;
    ck_plot_tick_label(b, sizeof b, 0.2, 0.2, 0);
    assert_string_equal(b, "0.2");
    ck_plot_tick_label(b, sizeof b, 0.1 * 3, 0.1, 0); /* 0.30000000000000004 */
    assert_string_equal(b, "0.3");
    ck_plot_tick_label(b, sizeof b, -0.25, 0.05, 0);
    assert_string_equal(b, "-0.25");
    ck_plot_tick_label(b, sizeof b, 1500, 500, 0);
    assert_string_equal(b, "1500");
    ck_plot_tick_label(b, sizeof b, 0, 0.5, 0);
    assert_string_equal(b, "0");
    ck_plot_tick_label(b, sizeof b, 2.5e6, 5e5, 1);
    assert_string_equal(b, "2.5e+06");
    ck_plot_tick_label(b, sizeof b, 2e-5, 1e-5, 1);
    assert_string_equal(b, "2e-05");
}

/* ---- lines ---- */

static void test_ck_plot_svg_small_line_keeps_every_point(void **state)
{
    double x[100], y[100];
    size_t len;
    long pts;
    (void)state;
    for (int i = 0; i < 100; i++) {
        x[i] = i * 0.1;
        y[i] = sin(x[i]);
    }
    struct cnote_series s = {.x = x, .y = y, .n = 100};
    struct cnote_plot_opts o = {.title = "sine", .xlabel = "t", .ylabel = "sin t"};
    char *svg = render(&s, 1, &o, &len, &pts);
    int lines;
    assert_int_equal(pts, 100);
    assert_int_equal(polyline_points(svg, &lines), 100);
    assert_int_equal(lines, 1);
    assert_int_equal(count(svg, "class=\"cn-line\""), 1);
    assert_non_null(strstr(svg, ">sine</text>"));
    assert_non_null(strstr(svg, ">sin t</text>"));
    assert_non_null(strstr(svg, "stroke=\"#0072b2\"")); /* first colour of the cycle */
    assert_null(strstr(svg, "cn-legend"));              /* no labels, no legend */
    free(svg);
}

static void test_ck_plot_svg_million_point_line_is_small(void **state)
{
    const int n = 1000000;
    double *y = malloc(n * sizeof *y);
    size_t len;
    long pts;
    (void)state;
    assert_non_null(y);
    for (int i = 0; i < n; i++) {
        y[i] = sin(i * 1e-4) + ((i * 7919L) % 1000) * 1e-4; /* a wave with fine noise */
    }
    struct cnote_series s = {.y = y, .n = n};
    char *svg = render(&s, 1, NULL, &len, &pts);
    int lines, v = polyline_points(svg, &lines);
    assert_int_equal(pts, n);
    assert_true(len < 200 * 1024);
    assert_true(v > 600 && v <= 4 * 620); /* the envelope: at most 4 vertices a pixel column */
    assert_int_equal(lines, 1);
    free(svg);
    free(y);
}

static void test_ck_plot_svg_scribble_line_is_bounded(void **state)
{
    /* x jumps back and forth: every point starts a new pixel column */
    const int n = 1000000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    size_t len;
    long pts;
    (void)state;
    assert_true(x && y);
    uint32_t r = 12345;
    for (int i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (r >> 8) / 16777216.0;
        r = r * 1664525u + 1013904223u;
        y[i] = (r >> 8) / 16777216.0;
    }
    struct cnote_series s = {.x = x, .y = y, .n = n};
    char *svg = render(&s, 1, NULL, &len, &pts);
    assert_true(len < 1024 * 1024);
    free(svg);
    free(x);
    free(y);
}

static void test_ck_plot_svg_nan_and_inf_make_gaps(void **state)
{
    double y[10] = {0, 1, 2, NAN, 4, 5, INFINITY, 7, 8, -INFINITY};
    size_t len;
    long pts;
    (void)state;
    struct cnote_series s = {.y = y, .n = 10};
    char *svg = render(&s, 1, NULL, &len, &pts);
    int lines, v = polyline_points(svg, &lines);
    assert_int_equal(pts, 7);
    assert_int_equal(lines, 3); /* 0-2, 4-5, 7-8 */
    assert_int_equal(v, 7);
    free(svg);

    double all_nan[3] = {NAN, NAN, NAN};
    struct cnote_series s2 = {.y = all_nan, .n = 3};
    svg = render(&s2, 1, NULL, &len, &pts);
    assert_int_equal(pts, 0);
    assert_int_equal(count(svg, "<polyline"), 0);
    free(svg);
}

static void test_ck_plot_svg_empty_and_constant(void **state)
{
    size_t len;
    long pts;
    (void)state;
    char *svg = render(NULL, 0, NULL, &len, &pts);
    assert_int_equal(pts, 0);
    assert_non_null(strstr(svg, "cn-frame"));
    free(svg);

    double c[50];
    for (int i = 0; i < 50; i++)
        c[i] = 3.5;
    struct cnote_series s = {.y = c, .n = 50};
    svg = render(&s, 1, NULL, &len, &pts);
    int lines;
    assert_true(polyline_points(svg, &lines) >= 2);
    assert_non_null(strstr(svg, ">3.50</text>")); /* the value is a tick */
    free(svg);

    double one = 42, zero = 0;
    struct cnote_series single[2] = {{.y = &one, .n = 1, .kind = CNOTE_SCATTER},
                                     {.x = &zero, .y = &zero, .n = 1}};
    svg = render(single, 2, NULL, &len, &pts);
    assert_int_equal(count(svg, "<circle"), 1);
    free(svg);

    struct cnote_series bad = {.y = NULL, .n = 5};
    svg = render(&bad, 1, NULL, &len, &pts);
    assert_int_equal(pts, 0);
    free(svg);
}

static void test_ck_plot_svg_limits_clip_far_points(void **state)
{
    double x[3] = {0, 1e12, 2e12}, y[3] = {0, 1e12, -1e12};
    size_t len;
    long pts;
    (void)state;
    struct cnote_series s = {.x = x, .y = y, .n = 3};
    struct cnote_plot_opts o = {.xmin = 0, .xmax = 1, .ymin = 0, .ymax = 1};
    char *svg = render(&s, 1, &o, &len, &pts);
    /* every coordinate printed stays near the plot area */
    int lines;
    polyline_points(svg, &lines);
    assert_true(lines >= 1);
    const char *p = strstr(svg, "<polyline points=\"") + 18;
    while (*p != '"') {
        double v = strtod(p, (char **)&p);
        assert_true(v >= -3 && v <= 700);
        if (*p == ',' || *p == ' ')
            p++;
    }
    free(svg);
}

/* ---- scatter, histograms, legend ---- */

static void test_ck_plot_svg_scatter_one_circle_per_point(void **state)
{
    double x[50], y[50];
    size_t len;
    long pts;
    (void)state;
    for (int i = 0; i < 50; i++) {
        x[i] = i;
        y[i] = (i * 37) % 50;
    }
    struct cnote_series s = {.x = x, .y = y, .n = 50, .kind = CNOTE_SCATTER};
    char *svg = render(&s, 1, NULL, &len, &pts);
    assert_int_equal(count(svg, "<circle"), 50);
    assert_int_equal(count(svg, "class=\"cn-scatter\""), 1);
    free(svg);
}

static void test_ck_plot_svg_million_point_scatter_is_small(void **state)
{
    const int n = 1000000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    size_t len;
    long pts;
    (void)state;
    assert_true(x && y);
    uint32_t r = 99;
    for (int i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (r >> 8) / 16777216.0;
        r = r * 1664525u + 1013904223u;
        y[i] = x[i] + (r >> 8) / 16777216.0 * 0.3;
    }
    struct cnote_series s = {.x = x, .y = y, .n = n, .kind = CNOTE_SCATTER};
    char *svg = render(&s, 1, NULL, &len, &pts);
    assert_int_equal(pts, n);
    assert_true(len < 1024 * 1024);
    assert_int_equal(count(svg, "<circle"), 0);
    assert_int_equal(count(svg, "class=\"cn-dots\""), 1);
    free(svg);
    free(x);
    free(y);
}

static void test_ck_plot_svg_hist_bins(void **state)
{
    double v[100];
    size_t len;
    long pts;
    (void)state;
    for (int i = 0; i < 100; i++)
        v[i] = i;
    struct cnote_series s = {.y = v, .n = 100, .kind = CNOTE_HIST};
    struct cnote_plot_opts o = {.bins = 10};
    char *svg = render(&s, 1, &o, &len, &pts);
    const char *g = strstr(svg, "class=\"cn-hist\"");
    assert_non_null(g);
    assert_int_equal(count(g, "<rect"), 10);
    /* equal counts: every bar has the same height */
    const char *h = strstr(g, "height=\"");
    assert_non_null(h);
    char first[16];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(h, "/"), h);
    assert_int_equal(count(g, first), 10);
    free(svg);

    double same[5] = {2, 2, 2, 2, 2};
    struct cnote_series s1 = {.y = same, .n = 5, .kind = CNOTE_HIST};
    svg = render(&s1, 1, NULL, &len, &pts);
    assert_int_equal(count(strstr(svg, "class=\"cn-hist\""), "<rect"), 1);
    free(svg);
}

static void test_ck_plot_svg_legend_and_colours(void **state)
{
    double a[20], b[20], c[20];
    size_t len;
    long pts;
    (void)state;
    for (int i = 0; i < 20; i++) {
        a[i] = i;
        b[i] = 20 - i;
        c[i] = i % 5;
    }
    struct cnote_series s[3] = {
        {.y = a, .n = 20, .label = "up"},
        {.y = b, .n = 20, .label = "down", .kind = CNOTE_SCATTER, .color = "teal"},
        {.y = c, .n = 20, .label = "saw"},
    };
    char *svg = render(s, 3, NULL, &len, &pts);
    const char *legend = strstr(svg, "class=\"cn-legend\"");
    assert_non_null(legend);
    assert_non_null(strstr(legend, ">up</text>"));
    assert_non_null(strstr(legend, ">down</text>"));
    assert_non_null(strstr(legend, ">saw</text>"));
    assert_int_equal(count(svg, "stroke=\"#0072b2\""), 2); /* series 1 and its legend entry */
    assert_int_equal(count(svg, "fill=\"teal\""), 2);
    assert_int_equal(count(svg, "stroke=\"#d55e00\""), 2); /* the cycle skips given colours */
    assert_int_equal(pts, 60);
    free(svg);

    struct cnote_plot_opts o = {.legend = -1};
    svg = render(s, 3, &o, &len, &pts);
    assert_null(strstr(svg, "cn-legend"));
    free(svg);
}

static void test_ck_plot_svg_escapes_text(void **state)
{
    double y[2] = {0, 1};
    size_t len;
    long pts;
    (void)state;
    struct cnote_series s = {.y = y, .n = 2, .label = "x\xff<y>", .color = "\"/><script"};
    struct cnote_plot_opts o = {.title = "a<b & \"c\" 'd'\x01", .xlabel = "</text>"};
    char *svg = render(&s, 1, &o, &len, &pts);
    assert_non_null(strstr(svg, ">a&lt;b &amp; &quot;c&quot; &apos;d&apos; </text>"));
    assert_non_null(strstr(svg, ">&lt;/text&gt;</text>"));
    assert_non_null(strstr(svg, ">x\xef\xbf\xbd&lt;y&gt;</text>"));
    assert_non_null(strstr(svg, "stroke=\"&quot;/&gt;&lt;script\""));
    assert_null(strstr(svg, "<script"));
    assert_null(strstr(svg, "\x01"));
    free(svg);

    /* a long title is cut on a character boundary */
    char title[400];
    for (int i = 0; i < 199; i++)
        memcpy(title + 2 * i, "\xc3\xa9", 2);
    title[398] = '\0';
    o = (struct cnote_plot_opts){.title = title};
    svg = render(&s, 1, &o, &len, &pts);
    assert_non_null(strstr(svg, "\xc3\xa9\xe2\x80\xa6</text>"));
    free(svg);
}

/* ---- heatmaps ---- */

/* Sum of the cells covered by the heatmap paths (each run is "M<c> <r>h<k>v1h-<k>z"). */
static long heat_cells(const char *svg, int *paths)
{
    long cells = 0;
    *paths = 0;
    for (const char *p = strstr(svg, "class=\"cn-cells\""); p;
         p = strstr(p + 1, "class=\"cn-cells\"")) {
        (*paths)++;
        const char *d = strstr(p, " d=\"") + 4, *end = strchr(d, '"');
        for (const char *h = strchr(d, 'h'); h && h < end; h = strchr(h + 1, 'h'))
            if (h[1] != '-')
                cells += strtol(h + 1, NULL, 10);
    }
    return cells;
}

static void test_ck_plot_heatmap_cells_cover_the_matrix(void **state)
{
    double a[30 * 20];
    size_t len;
    int paths;
    (void)state;
    for (int i = 0; i < 30 * 20; i++)
        a[i] = i;
    a[7] = NAN;
    struct cnote_plot_opts o = {.title = "ramp"};
    char *svg = ck_plot_heatmap_svg(a, 30, 20, &o, &len);
    assert_non_null(svg);
    xml_check(svg);
    assert_int_equal(heat_cells(svg, &paths), 30 * 20 - 1);
    assert_true(paths >= 32 && paths <= 64);
    assert_non_null(strstr(svg, "viewBox=\"0 0 20 30\""));
    assert_non_null(strstr(svg, "class=\"cn-colorbar\""));
    assert_non_null(strstr(svg, ">ramp</text>"));
    /* the first cell is the lowest value: the darkest colour, and row 0 is at the top */
    unsigned char rgb[3];
    char dark[40];
    ck_plot_ramp(0.5 / 64, rgb);
    snprintf(dark, sizeof dark, "fill=\"#%02x%02x%02x\" d=\"M0 0h", rgb[0], rgb[1], rgb[2]);
    assert_non_null(strstr(svg, dark));
    free(svg);
}

static void test_ck_plot_heatmap_big_matrix_is_block_means(void **state)
{
    const int n = 1000;
    double *a = malloc((size_t)n * n * sizeof *a);
    size_t len;
    int paths;
    (void)state;
    assert_non_null(a);
    uint32_t r = 7;
    for (int i = 0; i < n * n; i++) {
        r = r * 1664525u + 1013904223u;
        a[i] = (r >> 8) / 16777216.0 + (i / n) * 0.01;
    }
    char *svg = ck_plot_heatmap_svg(a, n, n, NULL, &len);
    assert_non_null(svg);
    xml_check(svg);
    assert_true(len < 1024 * 1024);
    assert_int_equal(heat_cells(svg, &paths), 160 * 160);
    free(svg);
    free(a);
}

static void test_ck_plot_heatmap_empty_and_constant(void **state)
{
    double a[6] = {1, 1, 1, 1, 1, 1};
    size_t len;
    int paths;
    (void)state;
    char *svg = ck_plot_heatmap_svg(NULL, 3, 3, NULL, &len);
    assert_non_null(svg);
    xml_check(svg);
    assert_int_equal(heat_cells(svg, &paths), 0);
    free(svg);
    svg = ck_plot_heatmap_svg(a, 2, 3, NULL, &len);
    assert_non_null(svg);
    xml_check(svg);
    assert_int_equal(heat_cells(svg, &paths), 6);
    assert_int_equal(paths, 1);
    assert_null(strstr(svg, "nan"));
    free(svg);
}

static void test_ck_plot_ramp_lightness_rises(void **state)
{
    (void)state;
    double prev = -1;
    for (int i = 0; i <= 100; i++) {
        unsigned char c[3];
        ck_plot_ramp(i / 100.0, c);
        double lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        assert_true(lum >= prev);
        prev = lum;
    }
    unsigned char lo[3], hi[3], nan[3];
    ck_plot_ramp(-1, lo);
    ck_plot_ramp(2, hi);
    ck_plot_ramp(NAN, nan);
    assert_true(lo[2] > lo[1] && hi[0] > hi[2]); /* violet to yellow */
    assert_memory_equal(nan, lo, 3);
}

/* ---- what the cnote.h functions publish ---- */

static void test_plot_line_publishes_svg_and_text(void **state)
{
    double y[3] = {1, 4, 9};
    (void)state;
    published_calls = 0;
    plot_line(NULL, y, 3, "squares");
    assert_int_equal(published_calls, 1);
    assert_int_equal(published_n, 2);
    assert_string_equal(published_mime[0], "image/svg+xml");
    assert_string_equal(published_mime[1], "text/plain");
    assert_string_equal(published_data[1], "<plot: squares, 3 points>");
    xml_check(published_data[0]);

    plot_hist(y, 3, 0, NULL);
    assert_string_equal(published_data[1], "<plot: 3 points>");
    plot_heatmap(y, 1, 3, "row");
    assert_string_equal(published_data[1], "<heatmap: row, 1 x 3>");
    assert_int_equal(published_calls, 3);

    char *svg = plot_svg(NULL, 0, NULL);
    assert_non_null(svg);
    free(svg);
    for (int i = 0; i < 2; i++) {
        free(published_data[i]);
        published_data[i] = NULL;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_plot_ticks_nice_steps),
        cmocka_unit_test(test_ck_plot_ticks_degenerate),
        cmocka_unit_test(test_ck_plot_tick_label_digits),
        cmocka_unit_test(test_ck_plot_svg_small_line_keeps_every_point),
        cmocka_unit_test(test_ck_plot_svg_million_point_line_is_small),
        cmocka_unit_test(test_ck_plot_svg_scribble_line_is_bounded),
        cmocka_unit_test(test_ck_plot_svg_nan_and_inf_make_gaps),
        cmocka_unit_test(test_ck_plot_svg_empty_and_constant),
        cmocka_unit_test(test_ck_plot_svg_limits_clip_far_points),
        cmocka_unit_test(test_ck_plot_svg_scatter_one_circle_per_point),
        cmocka_unit_test(test_ck_plot_svg_million_point_scatter_is_small),
        cmocka_unit_test(test_ck_plot_svg_hist_bins),
        cmocka_unit_test(test_ck_plot_svg_legend_and_colours),
        cmocka_unit_test(test_ck_plot_svg_escapes_text),
        cmocka_unit_test(test_ck_plot_heatmap_cells_cover_the_matrix),
        cmocka_unit_test(test_ck_plot_heatmap_big_matrix_is_block_means),
        cmocka_unit_test(test_ck_plot_heatmap_empty_and_constant),
        cmocka_unit_test(test_ck_plot_ramp_lightness_rises),
        cmocka_unit_test(test_plot_line_publishes_svg_and_text),
    };
    return cmocka_run_group_tests_name("cnote_plot", tests, NULL, NULL);
}
