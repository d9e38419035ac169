/*
 * cnote.h - the API a notebook cell can call (it is included in every cell).
 *
 * Rich output goes to the notebook as display_data messages: each display_* call
 * publishes one output with the given MIME type. A display created with an id can later
 * be replaced in place with update_display_*. Text given to the display functions must
 * be UTF-8; binary images are passed as bytes and base64-encoded by the kernel.
 * Everything here is implemented by the cnote executor process that runs the cells;
 * names starting with __ck_ are internal.
 */
#ifndef CNOTE_H
#define CNOTE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Publish one output of MIME type `mime` (e.g. "text/html"); binary data (image/png,
 * image/jpeg, application/octet-stream...) is base64-encoded for you. */
void display_mime(const char *mime, const void *data, size_t len);
void display_text(const char *text);
void display_html(const char *html);
void display_markdown(const char *markdown);
void display_latex(const char *latex);
void display_svg(const char *svg);
void display_json(const char *json); /* a JSON document, sent as application/json */
void display_png(const void *png, size_t len);
void display_jpeg(const void *jpeg, size_t len);
/* printf-style HTML */
void display_htmlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Displays with an id (any string): update_display_* replaces every output shown with it. */
void display_mime_id(const char *id, const char *mime, const void *data, size_t len);
void display_html_id(const char *id, const char *html);
void display_text_id(const char *id, const char *text);
void update_display_mime(const char *id, const char *mime, const void *data, size_t len);
void update_display_html(const char *id, const char *html);
void update_display_text(const char *id, const char *text);

/* Clear this cell's output; with wait != 0 only when the next output arrives. */
void clear_output(int wait);

/* Non-zero once the user asked to interrupt: long loops may poll it to stop cleanly. */
int cnote_interrupted(void);

/* ---- tables and progress ---- */

/* Show a row-major rows x cols matrix (a[r * cols + c]) as an HTML table, with a text/plain
 * copy in the same output. Numbers are written in the shortest form that reads back exactly,
 * as a cell's value is; past 10 rows or columns only the first and last 5 are shown, with
 * ellipsis cells between. The caption says "rows x cols". display_matrixf: the same for float. */
void display_matrix(const double *a, int rows, int cols);
void display_matrixf(const float *a, int rows, int cols);

/* A progress bar that updates in place (one output, then update_display_data messages):
 *     struct cnote_progress *p = progress_start("fitting", n);
 *     for (long i = 0; i < n; i++) { step(i); progress_update(p, i + 1); }
 *     progress_end(p);
 * progress_start shows the bar at 0 (label may be NULL; total <= 0 means unknown: the count
 * is shown instead of a bar) and returns a handle, NULL when out of memory. progress_update
 * sets how much is done; it redraws at most every 100 ms, and when done reaches total, so it
 * is cheap to call on every iteration. progress_end shows the final state with the elapsed time
 * and frees p. All three accept NULL. Call them from one thread at a time. */
struct cnote_progress;
struct cnote_progress *progress_start(const char *label, long total);
void progress_update(struct cnote_progress *p, long done);
void progress_end(struct cnote_progress *p);

/* ---- plots (SVG, with a text/plain description) ---- */

/* What a series draws. CNOTE_LINE: points joined in order (a non-finite value leaves a gap);
 * CNOTE_SCATTER: a mark per point; CNOTE_HIST: bars counting the values of y in bins (x is
 * not used; several histograms of one plot share their bins). */
enum cnote_plot_kind { CNOTE_LINE, CNOTE_SCATTER, CNOTE_HIST };

struct cnote_series {
    const double *x;   /* NULL: 0, 1, ..., n-1 */
    const double *y;   /* n values; NaN and infinite values are skipped */
    int n;             /* number of points */
    const char *label; /* legend text; NULL: not in the legend */
    int kind;          /* enum cnote_plot_kind; 0 is CNOTE_LINE */
    const char *color; /* a CSS colour ("#d55e00", "teal"); NULL: the next default colour */
};

/* Options of a plot; a zeroed struct (or a NULL pointer) gives the defaults. */
struct cnote_plot_opts {
    const char *title, *xlabel, *ylabel; /* NULL: none */
    int width, height;                   /* pixels; 0: 640 x 400 */
    int legend;                          /* 0: a legend when a series has a label; < 0: none */
    int bins;                            /* CNOTE_HIST bins; 0: chosen from the count */
    double xmin, xmax, ymin, ymax;       /* axis limits, used when min < max; else the data's */
};

/* Draw nseries series on shared axes: "nice" ticks (1, 2 or 5 x 10^k), tick labels, axis
 * labels, title and legend. Big data stays small: a line keeps the min/max envelope of each
 * pixel column and more than 2000 scatter points become one mark per occupied cell of a
 * 2-pixel grid, so a million points make an SVG well under 1 MB. */
void plot(const struct cnote_series *s, int nseries, const struct cnote_plot_opts *o);
/* One series with a title; x may be NULL (0, 1, ..., n-1). */
void plot_line(const double *x, const double *y, int n, const char *title);
void plot_scatter(const double *x, const double *y, int n, const char *title);
/* A histogram of n values in `bins` bins (0: chosen from n). */
void plot_hist(const double *v, int n, int bins, const char *title);
/* A row-major rows x cols matrix as coloured cells (row 0 at the top) with a colour bar;
 * matrices bigger than 160 x 160 are shown as means of blocks. NaN cells are left grey. */
void plot_heatmap(const double *a, int rows, int cols, const char *title);
void plot_heatmap_opts(const double *a, int rows, int cols, const struct cnote_plot_opts *o);
/* The SVG text of plot() or plot_heatmap_opts() without displaying it (to save it in a file);
 * the caller frees it. NULL when out of memory. */
char *plot_svg(const struct cnote_series *s, int nseries, const struct cnote_plot_opts *o);
char *plot_heatmap_svg(const double *a, int rows, int cols, const struct cnote_plot_opts *o);

/* ---- internal: used by the code the kernel generates ---- */
struct __ck_void {
    char __ck_unused;
};
enum __ck_kind {
    __CK_VOID,
    __CK_BOOL,
    __CK_CHAR,
    __CK_SCHAR,
    __CK_UCHAR,
    __CK_SHORT,
    __CK_USHORT,
    __CK_INT,
    __CK_UINT,
    __CK_LONG,
    __CK_ULONG,
    __CK_LLONG,
    __CK_ULLONG,
    __CK_FLOAT,
    __CK_DOUBLE,
    __CK_LDOUBLE,
    __CK_STR,
    __CK_PTR,
    __CK_STRUCT,
    __CK_UNION,
    __CK_OTHER
};
#define __CK_KIND(v)                                                                               \
    _Generic((v), struct __ck_void: __CK_VOID, _Bool: __CK_BOOL, char: __CK_CHAR,                  \
             signed char: __CK_SCHAR, unsigned char: __CK_UCHAR, short: __CK_SHORT,                \
             unsigned short: __CK_USHORT, int: __CK_INT, unsigned: __CK_UINT, long: __CK_LONG,     \
             unsigned long: __CK_ULONG, long long: __CK_LLONG, unsigned long long: __CK_ULLONG,    \
             float: __CK_FLOAT, double: __CK_DOUBLE, long double: __CK_LDOUBLE,                    \
             char *: __CK_STR, const char *: __CK_STR,                                             \
             default: (__builtin_classify_type(v) == 5    ? __CK_PTR                               \
                       : __builtin_classify_type(v) == 12 ? __CK_STRUCT                            \
                       : __builtin_classify_type(v) == 13 ? __CK_UNION                             \
                                                          : __CK_OTHER))
#define __CK_TNAME(v)                                                                              \
    _Generic((v), void *: "void *", const void *: "const void *", int *: "int *",                  \
             const int *: "const int *", unsigned *: "unsigned int *", long *: "long *",           \
             unsigned long *: "unsigned long *", long long *: "long long *", short *: "short *",   \
             float *: "float *", double *: "double *", const double *: "const double *",           \
             char **: "char **", unsigned char *: "unsigned char *", signed char *: "signed char *",\
             default: (const char *)0)
void __ck_show(int kind, const char *tname, const char *declared, const void *v, size_t size);
void __ck_main_returned(int rc);

#ifdef __cplusplus
}
#endif
#endif
