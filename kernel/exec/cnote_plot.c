/*
 * cnote_plot.c - the plots of cnote.h (plot, plot_line, plot_scatter, plot_hist, plot_heatmap
 * and their _svg forms), drawn as SVG by a small emitter of our own: line, scatter and
 * histogram series on shared axes with "nice" ticks (1, 2 or 5 x 10^k), tick and axis labels,
 * a title and a legend; heatmaps of a matrix with a colour bar.
 *
 * Big data is reduced to what the pixels can show, so the SVG stays small whatever the
 * number of points: a line keeps, per pixel column, its first, lowest, highest and last point
 * (the envelope a rasteriser would draw anyway); more than SCATTER_EXACT visible scatter points
 * become one mark per occupied cell of a grid of about 2 pixels; heatmaps over HEAT_MAX cells
 * a side show block means, and their cells are drawn as one path per colour. Values that are
 * not finite (or beyond +-1e300, so that every span stays finite) are skipped: a gap in a line.
 * Every piece of user text is XML-escaped. Text widths are estimated, not measured (no fonts
 * here). The emitter is pure (ck_plot_svg, ck_plot_heatmap_svg, see cnote_plot.h); only the
 * cnote.h entry points at the end publish, through ck_rt_publish (cnote_rt.c). Runs inside the
 * executor, in the cell's thread; unit-tested by tests/unit/kernel/test_plot.c.
 */
#include "cnote_plot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/cnote.h"
#include "ck_rt.h"
#include "ck_sbuf.h"

#define DEF_W 640
#define DEF_H 400
#define BIG 1e300          /* larger magnitudes are treated as not finite */
#define PX_LIMIT 1e9       /* pixel coordinates are clamped to +-this before printing */
#define SCATTER_EXACT 2000 /* up to this many visible points, one circle each */
#define MARK_R 2.5         /* scatter mark radius */
#define CHAR_W 7.0         /* estimated width of a character of the 12 px font */
#define HEAT_MAX 160       /* heatmap cells a side before block means */
#define RAMP_N 64          /* heatmap colour levels */
#define MAX_TICKS 64
#define LABEL_MAX 60 /* characters of a legend label or tick label */

/* Okabe-Ito-like colours: distinct for colour-blind readers, all readable on white */
static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#6a3d9a", "#8c564b", "#4d4d4d"};
#define PALETTE_N (sizeof palette / sizeof palette[0])

/* ---- output buffer: ck_sbuf.h, plus the helpers below ---- */

/* For short fixed markup only: user text goes through svg_text. */
static void svg_printf(struct ck_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void svg_printf(struct ck_sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->failed = 1;
    else
        ck_sb_add(b, tmp, (size_t)n);
}

/* A coordinate given in tenths of a pixel, without a useless ".0". */
static void svg_tenths(struct ck_sbuf *b, long long t)
{
    char tmp[32];
    const char *sign = "";
    if (t < 0) {
        sign = "-";
        t = -t;
    }
    if (t % 10)
        snprintf(tmp, sizeof tmp, "%s%lld.%lld", sign, t / 10, t % 10);
    else
        snprintf(tmp, sizeof tmp, "%s%lld", sign, t / 10);
    ck_sb_adds(b, tmp);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static long long tenths(double v)
{
    return llround(clampd(v, -PX_LIMIT, PX_LIMIT) * 10);
}

static void svg_num(struct ck_sbuf *b, double v)
{
    svg_tenths(b, tenths(v));
}

/* Length of the UTF-8 sequence at u, 0 when it is not one XML may carry. */
static size_t utf8_len(const unsigned char *u)
{
    size_t n;
    if (u[0] >= 0xc2 && u[0] <= 0xdf)
        n = 2;
    else if (u[0] >= 0xe0 && u[0] <= 0xef)
        n = 3;
    else if (u[0] >= 0xf0 && u[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((u[i] & 0xc0) != 0x80) /* the terminating NUL stops this too */
            return 0;
    if ((u[0] == 0xe0 && u[1] < 0xa0) || (u[0] == 0xf0 && u[1] < 0x90)) /* overlong */
        return 0;
    if ((u[0] == 0xed && u[1] >= 0xa0) || (u[0] == 0xf4 && u[1] >= 0x90)) /* surrogate, >10FFFF */
        return 0;
    if (u[0] == 0xef && u[1] == 0xbf && u[2] >= 0xbe) /* U+FFFE, U+FFFF */
        return 0;
    return n;
}

/* s as XML character data or attribute value: markup characters escaped, control characters
 * (not allowed in XML 1.0) as spaces, bytes that are not UTF-8 as U+FFFD; cut after max
 * characters with an ellipsis. */
static void svg_text(struct ck_sbuf *b, const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t chars = 0; *u; chars++) {
        if (chars == max) {
            ck_sb_adds(b, "\xe2\x80\xa6");
            return;
        }
        size_t n = *u < 0x80 ? 1 : utf8_len(u);
        switch (*u) {
        case '&':
            ck_sb_adds(b, "&amp;");
            break;
        case '<':
            ck_sb_adds(b, "&lt;");
            break;
        case '>':
            ck_sb_adds(b, "&gt;");
            break;
        case '"':
            ck_sb_adds(b, "&quot;");
            break;
        case '\'':
            ck_sb_adds(b, "&apos;");
            break;
        default:
            if (*u < 0x20 || *u == 0x7f)
                ck_sb_add(b, " ", 1);
            else if (n)
                ck_sb_add(b, u, n);
            else
                ck_sb_adds(b, "\xef\xbf\xbd");
        }
        u += n ? n : 1;
    }
}

/* Characters svg_text would write for s (at most max + 1, the ellipsis). */
static size_t text_chars(const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t chars = 0;
    for (; *u && chars <= max; chars++) {
        size_t n = *u < 0x80 ? 1 : utf8_len(u);
        u += n ? n : 1;
    }
    return chars;
}

static void text_el(struct ck_sbuf *b, double x, double y, const char *attrs, const char *s,
                    size_t max)
{
    ck_sb_adds(b, "<text x=\"");
    svg_num(b, x);
    ck_sb_adds(b, "\" y=\"");
    svg_num(b, y);
    ck_sb_adds(b, "\"");
    if (attrs) {
        ck_sb_adds(b, " ");
        ck_sb_adds(b, attrs);
    }
    ck_sb_adds(b, ">");
    svg_text(b, s, max);
    ck_sb_adds(b, "</text>\n");
}

/* ---- ticks ---- */

int ck_plot_ticks(double lo, double hi, int target, double *ticks, int cap, double *step)
{
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi) || !isfinite(hi - lo) || cap < 1)
        return 0;
    if (target < 1)
        target = 1;
    double raw = (hi - lo) / target;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    double st = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
    if (!(st > 0) || !isfinite(st))
        return 0;
    /* k as a double: lo / st may be beyond any integer type; cap bounds the loop when k + 1
     * rounds back to k */
    double k0 = ceil(lo / st - 1e-9), k1 = floor(hi / st + 1e-9);
    int n = 0;
    for (double k = k0; k <= k1 && n < cap; k++) {
        double v = k * st;
        ticks[n++] = fabs(v) < st * 1e-9 ? 0 : v;
    }
    *step = st;
    return n;
}

void ck_plot_tick_label(char *buf, size_t n, double v, double step, int sci)
{
    int e = (int)floor(log10(step) + 1e-9);
    if (v == 0) {
        snprintf(buf, n, "0");
    } else if (sci) {
        int digits = (int)floor(log10(fabs(v)) + 1e-9) - e + 1;
        snprintf(buf, n, "%.*g", digits < 1 ? 1 : digits > 17 ? 17 : digits, v);
    } else {
        snprintf(buf, n, "%.*f", e < 0 ? (-e > 17 ? 17 : -e) : 0, v);
    }
}

struct axis {
    double t[MAX_TICKS];
    char lab[MAX_TICKS][40];
    int n;
    double maxw; /* estimated width of the widest label */
};

/* Ticks of [lo, hi] about `target` apart; integer: only whole numbers (heatmap indices). */
static void axis_make(struct axis *a, double lo, double hi, int target, int integer)
{
    double step = 1;
    a->n = ck_plot_ticks(lo, hi,
                         target < 2    ? 2
                         : target > 40 ? 40
                                       : target,
                         a->t, MAX_TICKS, &step);
    if (integer && a->n && step < 1) {
        step = 1;
        a->n = 0;
        for (double k = ceil(lo); k <= hi && a->n < MAX_TICKS; k++)
            a->t[a->n++] = k;
    }
    double big = 0;
    for (int i = 0; i < a->n; i++)
        big = fmax(big, fabs(a->t[i]));
    int sci = big >= 1e6 || (big > 0 && big < 1e-3);
    a->maxw = 0;
    for (int i = 0; i < a->n; i++) {
        ck_plot_tick_label(a->lab[i], sizeof a->lab[i], a->t[i], step, sci);
        a->maxw = fmax(a->maxw, (double)strlen(a->lab[i]) * CHAR_W);
    }
}

/* ---- frame: where the plot area is and what it shows ---- */

struct frame {
    int w, h;
    double left, top, pw, ph; /* plot area, in SVG pixels */
    double x0, x1, y0, y1;    /* data at its left, right, bottom and top edges */
    int yflip;                /* y0 at the top instead (heatmaps: row 0 first) */
};

static int usable(double v)
{
    return v >= -BIG && v <= BIG; /* false for NaN and infinities */
}

/* Pixel position in the plot area (0 at its left / top). */
static double px_of(const struct frame *f, double x)
{
    return clampd((x - f->x0) / (f->x1 - f->x0) * f->pw, -PX_LIMIT, PX_LIMIT);
}

static double py_of(const struct frame *f, double y)
{
    double t = (y - f->y0) / (f->y1 - f->y0) * f->ph;
    return clampd(f->yflip ? t : f->ph - t, -PX_LIMIT, PX_LIMIT);
}

static int has_text(const char *s)
{
    return s && *s;
}

static void frame_size(struct frame *f, const struct cnote_plot_opts *o)
{
    int w = o->width > 0 ? o->width : DEF_W, h = o->height > 0 ? o->height : DEF_H;
    f->w = w < 160 ? 160 : w > 4096 ? 4096 : w;
    f->h = h < 120 ? 120 : h > 4096 ? 4096 : h;
    f->top = has_text(o->title) ? 36 : 14;
    double bottom = 30 + (has_text(o->xlabel) ? 20 : 0);
    f->ph = fmax(20, f->h - f->top - bottom);
}

/* After frame_size and the y axis: the left margin fits the y labels, then the x axis. */
static void frame_across(struct frame *f, const struct cnote_plot_opts *o, const struct axis *ay,
                         struct axis *ax, double right, int integer)
{
    f->left = 10 + ay->maxw + 8 + (has_text(o->ylabel) ? 22 : 0);
    f->pw = fmax(20, f->w - f->left - right);
    axis_make(ax, f->x0, f->x1, (int)(f->pw / 90), integer);
    /* long labels (1e+06 style, many decimals) need fewer ticks */
    if (ax->n > 1 && (ax->maxw + 14) * ax->n > f->pw)
        axis_make(ax, f->x0, f->x1, (int)(f->pw / (ax->maxw + 14)), integer);
}

static void svg_open(struct ck_sbuf *b, const struct frame *f)
{
    svg_printf(b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
               f->w, f->h, f->w, f->h, f->w, f->h);
}

/* Grid, frame, ticks, tick labels, axis labels and title. */
static void draw_axes(struct ck_sbuf *b, const struct frame *f, const struct cnote_plot_opts *o,
                      const struct axis *ax, const struct axis *ay, int grid)
{
    double bottom = f->top + f->ph;
    if (grid && (ax->n || ay->n)) {
        ck_sb_adds(b, "<path class=\"cn-grid\" stroke=\"#e6e6e6\" d=\"");
        for (int i = 0; i < ax->n; i++) {
            ck_sb_adds(b, "M");
            svg_num(b, f->left + px_of(f, ax->t[i]));
            ck_sb_adds(b, " ");
            svg_num(b, f->top);
            ck_sb_adds(b, "v");
            svg_num(b, f->ph);
        }
        for (int i = 0; i < ay->n; i++) {
            ck_sb_adds(b, "M");
            svg_num(b, f->left);
            ck_sb_adds(b, " ");
            svg_num(b, f->top + py_of(f, ay->t[i]));
            ck_sb_adds(b, "h");
            svg_num(b, f->pw);
        }
        ck_sb_adds(b, "\"/>\n");
    }
    ck_sb_adds(b, "<rect class=\"cn-frame\" x=\"");
    svg_num(b, f->left);
    ck_sb_adds(b, "\" y=\"");
    svg_num(b, f->top);
    ck_sb_adds(b, "\" width=\"");
    svg_num(b, f->pw);
    ck_sb_adds(b, "\" height=\"");
    svg_num(b, f->ph);
    ck_sb_adds(b, "\" fill=\"none\" stroke=\"#777\"/>\n");
    if (ax->n || ay->n) {
        ck_sb_adds(b, "<path class=\"cn-ticks\" stroke=\"#777\" d=\"");
        for (int i = 0; i < ax->n; i++) {
            ck_sb_adds(b, "M");
            svg_num(b, f->left + px_of(f, ax->t[i]));
            ck_sb_adds(b, " ");
            svg_num(b, bottom);
            ck_sb_adds(b, "v5");
        }
        for (int i = 0; i < ay->n; i++) {
            ck_sb_adds(b, "M");
            svg_num(b, f->left);
            ck_sb_adds(b, " ");
            svg_num(b, f->top + py_of(f, ay->t[i]));
            ck_sb_adds(b, "h-5");
        }
        ck_sb_adds(b, "\"/>\n");
    }
    ck_sb_adds(b, "<g class=\"cn-xticks\" fill=\"#333\" text-anchor=\"middle\">\n");
    for (int i = 0; i < ax->n; i++)
        text_el(b, f->left + px_of(f, ax->t[i]), bottom + 18, NULL, ax->lab[i], LABEL_MAX);
    ck_sb_adds(b, "</g>\n<g class=\"cn-yticks\" fill=\"#333\" text-anchor=\"end\">\n");
    for (int i = 0; i < ay->n; i++)
        text_el(b, f->left - 8, f->top + py_of(f, ay->t[i]) + 4, NULL, ay->lab[i], LABEL_MAX);
    ck_sb_adds(b, "</g>\n");
    if (has_text(o->xlabel))
        text_el(b, f->left + f->pw / 2, bottom + 38, "class=\"cn-xlabel\" text-anchor=\"middle\"",
                o->xlabel, (size_t)(f->pw / CHAR_W));
    if (has_text(o->ylabel)) {
        double cy = f->top + f->ph / 2;
        ck_sb_adds(b, "<text class=\"cn-ylabel\" text-anchor=\"middle\" transform=\"translate(16 ");
        svg_num(b, cy);
        ck_sb_adds(b, ") rotate(-90)\">");
        svg_text(b, o->ylabel, (size_t)(f->ph / CHAR_W));
        ck_sb_adds(b, "</text>\n");
    }
    if (has_text(o->title))
        text_el(b, f->w / 2.0, 23,
                "class=\"cn-title\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"",
                o->title, (size_t)(f->w / 8.5));
}

/* The nested <svg> clips what is drawn inside to the plot area, without ids (which would
 * clash between plots shown inline in one page). */
static void plot_area_open(struct ck_sbuf *b, const struct frame *f, const char *extra)
{
    ck_sb_adds(b, "<svg class=\"cn-area\" x=\"");
    svg_num(b, f->left);
    ck_sb_adds(b, "\" y=\"");
    svg_num(b, f->top);
    ck_sb_adds(b, "\" width=\"");
    svg_num(b, f->pw);
    ck_sb_adds(b, "\" height=\"");
    svg_num(b, f->ph);
    ck_sb_adds(b, "\" overflow=\"hidden\"");
    if (extra) {
        ck_sb_adds(b, " ");
        ck_sb_adds(b, extra);
    }
    ck_sb_adds(b, ">\n");
}

/* ---- lines ---- */

/* Liang-Barsky: clip the segment to the box; 0 when nothing of it is inside. */
static int clip_segment(double *ax, double *ay, double *bx, double *by, const double box[4])
{
    double dx = *bx - *ax, dy = *by - *ay, t0 = 0, t1 = 1;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {*ax - box[0], box[1] - *ax, *ay - box[2], box[3] - *ay};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0)
                return 0;
            continue;
        }
        double r = q[i] / p[i];
        if (p[i] < 0) {
            if (r > t1)
                return 0;
            if (r > t0)
                t0 = r;
        } else {
            if (r < t0)
                return 0;
            if (r < t1)
                t1 = r;
        }
    }
    double x0 = *ax, y0 = *ay;
    *ax = x0 + t0 * dx;
    *ay = y0 + t0 * dy;
    *bx = x0 + t1 * dx;
    *by = y0 + t1 * dy;
    return 1;
}

/* Writes polylines from a stream of points, clipped to the plot area (plus a margin); b NULL:
 * only follows along (the counting pass). */
struct pen {
    struct ck_sbuf *b;
    double box[4]; /* xmin, xmax, ymin, ymax */
    int have_prev, open;
    double px, py;    /* previous point */
    long long lx, ly; /* last vertex written, in tenths */
};

static void pen_close(struct pen *p)
{
    if (p->open && p->b)
        ck_sb_adds(p->b, "\"/>\n");
    p->open = 0;
}

static void pen_gap(struct pen *p)
{
    pen_close(p);
    p->have_prev = 0;
}

static void pen_vertex(struct pen *p, long long x, long long y)
{
    if (p->b) {
        svg_tenths(p->b, x);
        ck_sb_add(p->b, ",", 1);
        svg_tenths(p->b, y);
    }
    p->lx = x;
    p->ly = y;
}

static void pen_point(struct pen *p, double x, double y)
{
    if (!p->have_prev) {
        p->have_prev = 1;
        p->px = x;
        p->py = y;
        return;
    }
    double ax = p->px, ay = p->py, bx = x, by = y;
    p->px = x;
    p->py = y;
    if (!clip_segment(&ax, &ay, &bx, &by, p->box)) {
        pen_close(p);
        return;
    }
    long long a10x = tenths(ax), a10y = tenths(ay), b10x = tenths(bx), b10y = tenths(by);
    if (!p->open || a10x != p->lx || a10y != p->ly) {
        pen_close(p);
        if (p->b)
            ck_sb_adds(p->b, "<polyline points=\"");
        p->open = 1;
        pen_vertex(p, a10x, a10y);
    }
    if (b10x != p->lx || b10y != p->ly) {
        if (p->b)
            ck_sb_add(p->b, " ", 1);
        pen_vertex(p, b10x, b10y);
    }
}

/* The points of one pixel column that a line keeps: first, lowest, highest, last. */
struct column {
    int open;
    double col;
    long idx[4];
    double x[4], y[4]; /* first, min, max, last */
};

static void column_flush(struct column *c, struct pen *p)
{
    int order[4] = {0, 1, 2, 3};
    /* min and max in the order they came: the envelope keeps the line's direction */
    if (c->idx[2] < c->idx[1]) {
        order[1] = 2;
        order[2] = 1;
    }
    long last = -1;
    for (int k = 0; k < 4; k++) {
        int j = order[k];
        if (c->idx[j] == last)
            continue;
        last = c->idx[j];
        pen_point(p, c->x[j], c->y[j]);
    }
    c->open = 0;
}

/* One pass over a line series, every stride-th point; returns the number of columns seen
 * (each writes at most 4 vertices). */
static long line_pass(struct ck_sbuf *b, const struct frame *f, const struct cnote_series *s,
                      long stride)
{
    struct pen pen = {.b = b, .box = {-2, f->pw + 2, -2, f->ph + 2}};
    struct column c = {0};
    long cols = 0;
    for (long i = 0; i < s->n; i += stride) {
        double x = s->x ? s->x[i] : (double)i, y = s->y[i];
        if (!usable(x) || !usable(y)) {
            if (c.open) {
                cols++;
                column_flush(&c, &pen);
            }
            pen_gap(&pen);
            continue;
        }
        double px = px_of(f, x), py = py_of(f, y), col = floor(px);
        if (c.open && col != c.col) {
            cols++;
            column_flush(&c, &pen);
        }
        if (!c.open) {
            c.open = 1;
            c.col = col;
            for (int k = 0; k < 3; k++) {
                c.idx[k] = i;
                c.x[k] = px;
                c.y[k] = py;
            }
        }
        if (py < c.y[1]) {
            c.idx[1] = i;
            c.x[1] = px;
            c.y[1] = py;
        }
        if (py > c.y[2]) {
            c.idx[2] = i;
            c.x[2] = px;
            c.y[2] = py;
        }
        c.idx[3] = i;
        c.x[3] = px;
        c.y[3] = py;
    }
    if (c.open) {
        cols++;
        column_flush(&c, &pen);
    }
    pen_close(&pen);
    return cols;
}

static void attr_color(struct ck_sbuf *b, const char *name, const char *color)
{
    ck_sb_adds(b, " ");
    ck_sb_adds(b, name);
    ck_sb_adds(b, "=\"");
    svg_text(b, color, 64);
    ck_sb_adds(b, "\"");
}

static void draw_line(struct ck_sbuf *b, const struct frame *f, const struct cnote_series *s,
                      const char *color)
{
    ck_sb_adds(b, "<g class=\"cn-line\" fill=\"none\"");
    attr_color(b, "stroke", color);
    ck_sb_adds(b, " stroke-width=\"1.5\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n");
    /* Ordered x gives at most 4 vertices a pixel column. Points that jump back and forth
     * make new columns all the time: past the budget, take every stride-th point so that the
     * output stays bounded (such a scribble shows as a filled area anyway). */
    long budget = 12 * ((long)f->pw + 2) + 64;
    long stride = 1;
    if (4 * line_pass(NULL, f, s, 1) > budget)
        stride = (4L * s->n + budget - 1) / budget;
    line_pass(b, f, s, stride);
    ck_sb_adds(b, "</g>\n");
}

/* ---- scatter ---- */

static void draw_scatter(struct ck_sbuf *b, const struct frame *f, const struct cnote_series *s,
                         const char *color)
{
    long visible = 0;
    for (long i = 0; i < s->n; i++) {
        double x = s->x ? s->x[i] : (double)i, y = s->y[i];
        if (!usable(x) || !usable(y))
            continue;
        double px = px_of(f, x), py = py_of(f, y);
        if (px >= -MARK_R && px <= f->pw + MARK_R && py >= -MARK_R && py <= f->ph + MARK_R)
            visible++;
    }
    ck_sb_adds(b, "<g class=\"cn-scatter\"");
    attr_color(b, "fill", color);
    ck_sb_adds(b, ">\n");
    if (visible <= SCATTER_EXACT) {
        for (long i = 0; i < s->n; i++) {
            double x = s->x ? s->x[i] : (double)i, y = s->y[i];
            if (!usable(x) || !usable(y))
                continue;
            double px = px_of(f, x), py = py_of(f, y);
            if (px < -MARK_R || px > f->pw + MARK_R || py < -MARK_R || py > f->ph + MARK_R)
                continue;
            ck_sb_adds(b, "<circle cx=\"");
            svg_num(b, px);
            ck_sb_adds(b, "\" cy=\"");
            svg_num(b, py);
            ck_sb_adds(b, "\" r=\"2.5\"/>\n");
        }
    } else {
        /* one round dot per occupied cell, a run of cells as one stroke: at most ~40000 cells
         * whatever the number of points */
        double c = fmax(2.0, sqrt(f->pw * f->ph / 40000.0));
        long nx = (long)(f->pw / c) + 1, ny = (long)(f->ph / c) + 1;
        unsigned char *cell = calloc((size_t)(nx * ny), 1);
        if (!cell) {
            b->failed = 1;
            return;
        }
        for (long i = 0; i < s->n; i++) {
            double x = s->x ? s->x[i] : (double)i, y = s->y[i];
            if (!usable(x) || !usable(y))
                continue;
            double px = px_of(f, x), py = py_of(f, y);
            if (px < 0 || py < 0 || px > f->pw || py > f->ph)
                continue;
            long ix = (long)(px / c), iy = (long)(py / c);
            cell[(iy < ny ? iy : ny - 1) * nx + (ix < nx ? ix : nx - 1)] = 1;
        }
        ck_sb_adds(b, "<path class=\"cn-dots\" fill=\"none\"");
        attr_color(b, "stroke", color);
        ck_sb_adds(b, " stroke-width=\"5\" stroke-linecap=\"round\" d=\"");
        for (long iy = 0; iy < ny; iy++) {
            for (long ix = 0; ix < nx; ix++) {
                if (!cell[iy * nx + ix])
                    continue;
                long start = ix;
                while (ix + 1 < nx && cell[iy * nx + ix + 1])
                    ix++;
                ck_sb_adds(b, "M");
                svg_num(b, (start + 0.5) * c);
                ck_sb_adds(b, " ");
                svg_num(b, (iy + 0.5) * c);
                ck_sb_adds(b, "h");
                svg_num(b, (ix - start) * c);
            }
        }
        ck_sb_adds(b, "\"/>\n");
        free(cell);
    }
    ck_sb_adds(b, "</g>\n");
}

/* ---- histograms ---- */

struct bins {
    int n;
    double lo, hi;
    long *count; /* n per histogram series, in series order */
    long max;
};

static void draw_hist(struct ck_sbuf *b, const struct frame *f, const struct bins *h,
                      const long *count, const char *color, int translucent)
{
    ck_sb_adds(b, "<g class=\"cn-hist\"");
    attr_color(b, "fill", color);
    ck_sb_adds(b, translucent ? " fill-opacity=\"0.55\"" : "");
    ck_sb_adds(b, " stroke=\"#fff\" stroke-width=\"0.5\">\n");
    double base = clampd(py_of(f, 0), -2, f->ph + 2);
    for (int i = 0; i < h->n; i++) {
        if (!count[i])
            continue;
        double x0 = clampd(px_of(f, h->lo + (h->hi - h->lo) * i / h->n), -2, f->pw + 2);
        double x1 = clampd(px_of(f, h->lo + (h->hi - h->lo) * (i + 1) / h->n), -2, f->pw + 2);
        double top = clampd(py_of(f, (double)count[i]), -2, f->ph + 2);
        ck_sb_adds(b, "<rect x=\"");
        svg_num(b, x0);
        ck_sb_adds(b, "\" y=\"");
        svg_num(b, fmin(top, base));
        ck_sb_adds(b, "\" width=\"");
        svg_num(b, x1 - x0);
        ck_sb_adds(b, "\" height=\"");
        svg_num(b, fabs(base - top));
        ck_sb_adds(b, "\"/>\n");
    }
    ck_sb_adds(b, "</g>\n");
}

/* ---- legend ---- */

static void draw_legend(struct ck_sbuf *b, const struct frame *f, const struct cnote_series *s,
                        int nseries, const char *const *colors)
{
    int n = 0;
    size_t chars = 0;
    for (int k = 0; k < nseries; k++) {
        if (!colors[k] || !has_text(s[k].label))
            continue;
        n++;
        size_t c = text_chars(s[k].label, 40);
        chars = c > chars ? c : chars;
    }
    if (!n)
        return;
    double lh = 18, w = 40 + chars * CHAR_W, h = 8 + n * lh;
    double x = f->left + f->pw - w - 8, y = f->top + 8;
    ck_sb_adds(b, "<g class=\"cn-legend\">\n<rect x=\"");
    svg_num(b, x);
    ck_sb_adds(b, "\" y=\"");
    svg_num(b, y);
    ck_sb_adds(b, "\" width=\"");
    svg_num(b, w);
    ck_sb_adds(b, "\" height=\"");
    svg_num(b, h);
    ck_sb_adds(b, "\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n");
    int j = 0;
    for (int k = 0; k < nseries; k++) {
        if (!colors[k] || !has_text(s[k].label))
            continue;
        double cy = y + 4 + lh * (j++ + 0.5);
        if (s[k].kind == CNOTE_SCATTER) {
            ck_sb_adds(b, "<circle cx=\"");
            svg_num(b, x + 18);
            ck_sb_adds(b, "\" cy=\"");
            svg_num(b, cy);
            ck_sb_adds(b, "\" r=\"3.5\"");
            attr_color(b, "fill", colors[k]);
        } else if (s[k].kind == CNOTE_HIST) {
            ck_sb_adds(b, "<rect x=\"");
            svg_num(b, x + 11);
            ck_sb_adds(b, "\" y=\"");
            svg_num(b, cy - 5);
            ck_sb_adds(b, "\" width=\"14\" height=\"10\"");
            attr_color(b, "fill", colors[k]);
        } else {
            ck_sb_adds(b, "<path d=\"M");
            svg_num(b, x + 8);
            ck_sb_adds(b, " ");
            svg_num(b, cy);
            ck_sb_adds(b, "h20\" stroke-width=\"2\"");
            attr_color(b, "stroke", colors[k]);
        }
        ck_sb_adds(b, "/>\n");
        text_el(b, x + 34, cy + 4, "fill=\"#222\"", s[k].label, 40);
    }
    ck_sb_adds(b, "</g>\n");
}

/* ---- plot() ---- */

struct range {
    int any;
    double lo, hi;
};

static void range_add(struct range *r, double v)
{
    if (!usable(v))
        return;
    if (!r->any) {
        r->any = 1;
        r->lo = r->hi = v;
    }
    r->lo = fmin(r->lo, v);
    r->hi = fmax(r->hi, v);
}

/* The interval shown for r: padded by fractions of its span, widened when it is one value,
 * [0, 1] when empty. Never empty and always finite. */
static void range_finish(const struct range *r, double pad_lo, double pad_hi, double *lo,
                         double *hi)
{
    if (!r->any) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double a = r->lo, z = r->hi;
    if (a == z) {
        double d = a != 0 ? fabs(a) * 0.05 : 0.5;
        *lo = a - d;
        *hi = z + d;
        return;
    }
    *lo = a - (z - a) * pad_lo;
    *hi = z + (z - a) * pad_hi;
}

static int series_ok(const struct cnote_series *s)
{
    return s->y && s->n > 0;
}

static int series_kind(const struct cnote_series *s)
{
    return s->kind == CNOTE_SCATTER || s->kind == CNOTE_HIST ? s->kind : CNOTE_LINE;
}

/* Shared bins of every histogram series; 0 or -1 when out of memory. */
static int bins_make(struct bins *h, const struct cnote_series *s, int nseries, int nhist, int want)
{
    struct range r = {0};
    long most = 0;
    for (int k = 0; k < nseries; k++) {
        if (!series_ok(&s[k]) || series_kind(&s[k]) != CNOTE_HIST)
            continue;
        long used = 0;
        for (long i = 0; i < s[k].n; i++)
            if (usable(s[k].y[i])) {
                range_add(&r, s[k].y[i]);
                used++;
            }
        most = used > most ? used : most;
    }
    /* Rice's rule, 2 n^(1/3), unless asked */
    h->n = want > 0 ? (want > 1000 ? 1000 : want) : (int)ceil(2 * cbrt((double)most));
    h->n = h->n < 1 ? 1 : h->n > 200 && want <= 0 ? 200 : h->n;
    range_finish(&r, 0, 0, &h->lo, &h->hi);
    h->count = calloc((size_t)nhist * (size_t)h->n, sizeof *h->count);
    if (!h->count)
        return -1;
    h->max = 0;
    int j = 0;
    for (int k = 0; k < nseries; k++) {
        if (!series_ok(&s[k]) || series_kind(&s[k]) != CNOTE_HIST)
            continue;
        long *c = h->count + (size_t)j++ * (size_t)h->n;
        for (long i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (!usable(v))
                continue;
            long bin = (long)((v - h->lo) / (h->hi - h->lo) * h->n);
            bin = bin < 0 ? 0 : bin >= h->n ? h->n - 1 : bin;
            if (++c[bin] > h->max)
                h->max = c[bin];
        }
    }
    return 0;
}

static char *finish(struct ck_sbuf *b, size_t *len)
{
    if (b->failed) {
        free(b->p);
        return NULL;
    }
    if (len)
        *len = b->len;
    return b->p;
}

char *ck_plot_svg(const struct cnote_series *s, int nseries, const struct cnote_plot_opts *o,
                  size_t *len, long *points)
{
    static const struct cnote_plot_opts defaults;
    struct ck_sbuf b = {0};
    struct frame f = {0};
    struct bins h = {0};
    struct axis *ax = NULL, *ay = NULL;
    const char **colors = NULL;
    struct range xr = {0}, yr = {0};
    int nhist = 0, nother = 0;
    long drawn = 0;

    if (!o)
        o = &defaults;
    if (!s || nseries < 0)
        nseries = 0;
    for (int k = 0; k < nseries; k++) {
        if (!series_ok(&s[k]))
            continue;
        if (series_kind(&s[k]) == CNOTE_HIST) {
            nhist++;
            for (long i = 0; i < s[k].n; i++)
                drawn += usable(s[k].y[i]);
            continue;
        }
        nother++;
        for (long i = 0; i < s[k].n; i++) {
            double x = s[k].x ? s[k].x[i] : (double)i, y = s[k].y[i];
            if (usable(x) && usable(y)) {
                range_add(&xr, x);
                range_add(&yr, y);
                drawn++;
            }
        }
    }
    if (nhist) {
        if (bins_make(&h, s, nseries, nhist, o->bins)) {
            b.failed = 1;
            goto out;
        }
        range_add(&xr, h.lo);
        range_add(&xr, h.hi);
        range_add(&yr, 0);
        range_add(&yr, (double)h.max);
    }
    /* lines and marks get a margin; bars start on the axis */
    range_finish(&xr, nother ? 0.03 : 0, nother ? 0.03 : 0, &f.x0, &f.x1);
    range_finish(&yr, nhist && yr.lo == 0 ? 0 : 0.05, 0.05, &f.y0, &f.y1);
    if (usable(o->xmin) && usable(o->xmax) && o->xmin < o->xmax) {
        f.x0 = o->xmin;
        f.x1 = o->xmax;
    }
    if (usable(o->ymin) && usable(o->ymax) && o->ymin < o->ymax) {
        f.y0 = o->ymin;
        f.y1 = o->ymax;
    }

    ax = malloc(sizeof *ax);
    ay = malloc(sizeof *ay);
    colors = calloc((size_t)nseries + 1, sizeof *colors);
    if (!ax || !ay || !colors) {
        b.failed = 1;
        goto out;
    }
    frame_size(&f, o);
    axis_make(ay, f.y0, f.y1, (int)(f.ph / 45), 0);
    frame_across(&f, o, ay, ax, 20, 0);

    svg_open(&b, &f);
    draw_axes(&b, &f, o, ax, ay, 1);
    plot_area_open(&b, &f, NULL);
    int cycle = 0, j = 0;
    for (int k = 0; k < nseries; k++) {
        if (!series_ok(&s[k]))
            continue;
        colors[k] = s[k].color && *s[k].color ? s[k].color : palette[cycle++ % PALETTE_N];
        switch (series_kind(&s[k])) {
        case CNOTE_HIST:
            draw_hist(&b, &f, &h, h.count + (size_t)j++ * (size_t)h.n, colors[k], nhist > 1);
            break;
        case CNOTE_SCATTER:
            draw_scatter(&b, &f, &s[k], colors[k]);
            break;
        default:
            draw_line(&b, &f, &s[k], colors[k]);
        }
    }
    ck_sb_adds(&b, "</svg>\n");
    if (o->legend >= 0)
        draw_legend(&b, &f, s, nseries, colors);
    ck_sb_adds(&b, "</svg>\n");
    if (points)
        *points = drawn;
out:
    free(h.count);
    free(ax);
    free(ay);
    free(colors);
    return finish(&b, len);
}

/* ---- heatmaps ---- */

void ck_plot_ramp(double t, unsigned char rgb[3])
{
    /* Anchors from dark violet through blue, teal and green to yellow; their luminance rises
     * (about 0.08, 0.30, 0.45, 0.67, 0.87), so the ramp reads in grey too. Linear between. */
    static const double stops[5][3] = {
        {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double pos = t * 4;
    int i = pos >= 4 ? 3 : (int)pos;
    double u = pos - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * u);
}

static void ramp_hex(char out[8], int level)
{
    unsigned char rgb[3];
    ck_plot_ramp((level + 0.5) / RAMP_N, rgb);
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

char *ck_plot_heatmap_svg(const double *a, int rows, int cols, const struct cnote_plot_opts *o,
                          size_t *len)
{
    static const struct cnote_plot_opts defaults;
    struct ck_sbuf b = {0};
    struct frame f = {.yflip = 1};
    struct axis *ax = NULL, *ay = NULL, *ac = NULL;
    double *mean = NULL;
    unsigned char *level = NULL;
    struct range vr = {0};
    char hex[8];

    if (!o)
        o = &defaults;
    if (!a || rows <= 0 || cols <= 0)
        rows = cols = 0;
    long gr = rows < HEAT_MAX ? rows : HEAT_MAX, gc = cols < HEAT_MAX ? cols : HEAT_MAX;
    ax = malloc(sizeof *ax);
    ay = malloc(sizeof *ay);
    ac = malloc(sizeof *ac);
    mean = malloc((size_t)(gr * gc + 1) * sizeof *mean);
    level = malloc((size_t)(gr * gc + 1));
    if (!ax || !ay || !ac || !mean || !level) {
        b.failed = 1;
        goto out;
    }
    /* block means of the finite values: cell (i, j) covers rows [i*rows/gr, (i+1)*rows/gr) */
    for (long i = 0; i < gr; i++) {
        long r0 = i * rows / gr, r1 = (i + 1) * rows / gr;
        for (long j = 0; j < gc; j++) {
            long c0 = j * cols / gc, c1 = (j + 1) * cols / gc;
            double sum = 0;
            long n = 0;
            for (long r = r0; r < r1; r++)
                for (long c = c0; c < c1; c++) {
                    double v = a[(size_t)r * (size_t)cols + (size_t)c];
                    if (usable(v)) {
                        sum += v;
                        n++;
                    }
                }
            mean[i * gc + j] = n ? sum / n : NAN;
            if (n)
                range_add(&vr, sum / n);
        }
    }
    double vlo, vhi;
    range_finish(&vr, 0, 0, &vlo, &vhi);
    for (long k = 0; k < gr * gc; k++) {
        double v = mean[k];
        if (!usable(v))
            level[k] = 255;
        else if (vr.lo == vr.hi)
            level[k] = RAMP_N / 2; /* one value: the middle of the bar, whose range is padded */
        else {
            long q = (long)((v - vr.lo) / (vr.hi - vr.lo) * RAMP_N);
            level[k] = (unsigned char)(q < 0 ? 0 : q >= RAMP_N ? RAMP_N - 1 : q);
        }
    }

    f.x0 = -0.5;
    f.x1 = cols ? cols - 0.5 : 0.5;
    f.y0 = -0.5;
    f.y1 = rows ? rows - 0.5 : 0.5;
    frame_size(&f, o);
    if (rows) {
        axis_make(ay, f.y0, f.y1, (int)(f.ph / 45), 1);
        axis_make(ac, vlo, vhi, (int)(f.ph / 45), 0);
    } else {
        ay->n = ac->n = 0;
        ay->maxw = ac->maxw = 0;
    }
    frame_across(&f, o, ay, ax, 20 + 14 + 14 + 6 + ac->maxw, 1);
    if (!rows)
        ax->n = 0;

    svg_open(&b, &f);
    draw_axes(&b, &f, o, ax, ay, 0);
    char extra[160];
    snprintf(extra, sizeof extra,
             "viewBox=\"0 0 %ld %ld\" preserveAspectRatio=\"none\" shape-rendering=\"crispEdges\"",
             gc ? gc : 1, gr ? gr : 1);
    plot_area_open(&b, &f, extra);
    svg_printf(&b, "<rect class=\"cn-missing\" width=\"%ld\" height=\"%ld\" fill=\"#d9d9d9\"/>\n",
               gc ? gc : 1, gr ? gr : 1);
    /* one path per colour level; a run of equal cells in a row is one rectangle */
    for (int q = 0; q < RAMP_N; q++) {
        int open = 0;
        for (long i = 0; i < gr; i++)
            for (long j = 0; j < gc; j++) {
                if (level[i * gc + j] != q)
                    continue;
                long start = j;
                while (j + 1 < gc && level[i * gc + j + 1] == q)
                    j++;
                if (!open) {
                    ramp_hex(hex, q);
                    svg_printf(&b, "<path class=\"cn-cells\" fill=\"%s\" d=\"", hex);
                    open = 1;
                }
                svg_printf(&b, "M%ld %ldh%ldv1h-%ldz", start, i, j - start + 1, j - start + 1);
            }
        if (open)
            ck_sb_adds(&b, "\"/>\n");
    }
    ck_sb_adds(&b, "</svg>\n");

    /* colour bar: RAMP_N bands, its own ticks */
    double bx = f.left + f.pw + 14;
    ck_sb_adds(&b, "<svg class=\"cn-colorbar\" x=\"");
    svg_num(&b, bx);
    ck_sb_adds(&b, "\" y=\"");
    svg_num(&b, f.top);
    ck_sb_adds(&b, "\" width=\"14\" height=\"");
    svg_num(&b, f.ph);
    svg_printf(&b,
               "\" viewBox=\"0 0 1 %d\" preserveAspectRatio=\"none\" "
               "shape-rendering=\"crispEdges\">\n",
               RAMP_N);
    for (int q = 0; q < RAMP_N; q++) {
        ramp_hex(hex, q);
        svg_printf(&b, "<rect y=\"%d\" width=\"1\" height=\"1\" fill=\"%s\"/>\n", RAMP_N - 1 - q,
                   hex);
    }
    ck_sb_adds(&b, "</svg>\n<g class=\"cn-cticks\" fill=\"#333\">\n");
    for (int i = 0; i < ac->n; i++) {
        double y = f.top + f.ph - (ac->t[i] - vlo) / (vhi - vlo) * f.ph;
        ck_sb_adds(&b, "<path stroke=\"#777\" d=\"M");
        svg_num(&b, bx + 14);
        ck_sb_adds(&b, " ");
        svg_num(&b, y);
        ck_sb_adds(&b, "h4\"/>\n");
        text_el(&b, bx + 21, y + 4, NULL, ac->lab[i], LABEL_MAX);
    }
    ck_sb_adds(&b, "</g>\n</svg>\n");
out:
    free(ax);
    free(ay);
    free(ac);
    free(mean);
    free(level);
    return finish(&b, len);
}

/* ---- the cnote.h entry points ---- */

/* Bytes of s that fit in max without cutting a UTF-8 sequence. */
static int utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return (int)max;
}

static void publish_svg(char *svg, size_t len, const char *alt)
{
    struct ck_mime_part parts[2] = {{"image/svg+xml", svg, len}, {"text/plain", alt, strlen(alt)}};
    ck_rt_publish("display_data", NULL, parts, 2);
    free(svg);
}

void plot(const struct cnote_series *s, int nseries, const struct cnote_plot_opts *o)
{
    size_t len;
    long points = 0;
    char *svg = ck_plot_svg(s, nseries, o, &len, &points);
    char alt[200];
    if (!svg)
        return;
    if (o && has_text(o->title))
        snprintf(alt, sizeof alt, "<plot: %.*s, %ld points>", utf8_cut(o->title, 120), o->title,
                 points);
    else
        snprintf(alt, sizeof alt, "<plot: %ld points>", points);
    publish_svg(svg, len, alt);
}

static void plot_one(const double *x, const double *y, int n, int bins, const char *title, int kind)
{
    struct cnote_series s = {.x = x, .y = y, .n = n, .kind = kind};
    struct cnote_plot_opts o = {.title = title, .bins = bins};
    plot(&s, 1, &o);
}

void plot_line(const double *x, const double *y, int n, const char *title)
{
    plot_one(x, y, n, 0, title, CNOTE_LINE);
}

void plot_scatter(const double *x, const double *y, int n, const char *title)
{
    plot_one(x, y, n, 0, title, CNOTE_SCATTER);
}

void plot_hist(const double *v, int n, int bins, const char *title)
{
    plot_one(NULL, v, n, bins, title, CNOTE_HIST);
}

void plot_heatmap_opts(const double *a, int rows, int cols, const struct cnote_plot_opts *o)
{
    size_t len;
    char *svg = ck_plot_heatmap_svg(a, rows, cols, o, &len);
    char alt[200];
    if (!svg)
        return;
    if (o && has_text(o->title))
        snprintf(alt, sizeof alt, "<heatmap: %.*s, %d x %d>", utf8_cut(o->title, 120), o->title,
                 a ? rows : 0, a ? cols : 0);
    else
        snprintf(alt, sizeof alt, "<heatmap: %d x %d>", a ? rows : 0, a ? cols : 0);
    publish_svg(svg, len, alt);
}

void plot_heatmap(const double *a, int rows, int cols, const char *title)
{
    struct cnote_plot_opts o = {.title = title};
    plot_heatmap_opts(a, rows, cols, &o);
}

char *plot_svg(const struct cnote_series *s, int nseries, const struct cnote_plot_opts *o)
{
    return ck_plot_svg(s, nseries, o, NULL, NULL);
}

char *plot_heatmap_svg(const double *a, int rows, int cols, const struct cnote_plot_opts *o)
{
    return ck_plot_heatmap_svg(a, rows, cols, o, NULL);
}
