/*
 * cnote_plot.h - the SVG emitter behind the plot_* functions of cnote.h (cnote_plot.c), for
 * the runtime and for its unit tests. Pure functions: they draw into a string and publish
 * nothing.
 */
#ifndef CNOTE_PLOT_H
#define CNOTE_PLOT_H

#include <stddef.h>

#include "../include/cnote.h"

/* The SVG document of plot(s, nseries, o) (o may be NULL), NUL-terminated; *len gets its
 * length and *points (if not NULL) the number of finite points drawn or counted. The caller
 * frees it. NULL when out of memory. */
char *ck_plot_svg(const struct cnote_series *s, int nseries, const struct cnote_plot_opts *o,
                  size_t *len, long *points);

/* The SVG document of a heatmap of the row-major rows x cols matrix a (see plot_heatmap). */
char *ck_plot_heatmap_svg(const double *a, int rows, int cols, const struct cnote_plot_opts *o,
                          size_t *len);

/* "Nice" ticks for the interval [lo, hi]: multiples of a step of 1, 2 or 5 x 10^k chosen so
 * that about `target` intervals fit, written to ticks[] (at most cap of them, increasing).
 * *step gets the step. Returns the number of ticks, 0 when hi <= lo or either is not finite. */
int ck_plot_ticks(double lo, double hi, int target, double *ticks, int cap, double *step);

/* The label of tick v of an axis whose ticks are `step` apart: as many decimals as the step
 * needs ("0.25", "1500"), or exponent form ("2.5e+06") when sci is non-zero. */
void ck_plot_tick_label(char *buf, size_t n, double v, double step, int sci);

/* The heatmap colour ramp at t in [0, 1] (dark blue-purple through teal and green to yellow;
 * lightness rises monotonically), as 8-bit RGB. */
void ck_plot_ramp(double t, unsigned char rgb[3]);

#endif
