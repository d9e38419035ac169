/*
 * metrics.h - a small Prometheus registry for one thread (the server's loop): counters and
 * gauges with up to METRICS_MAX_LABELS labels, histograms with fixed buckets and no labels,
 * rendered in the text exposition format 0.0.4 for GET /metrics. Metrics are created by their
 * first use (name, help, type and label names are fixed then) and rendered in that order,
 * series in the order they appeared. Not thread-safe, no HTTP, no authentication.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

struct jp_buf;
struct metrics;

#define METRICS_MAX_LABELS 3
/* Series kept per metric; a call that would create one more is dropped and counted in
 * cnote_metrics_dropped_series_total (always rendered, last). */
#define METRICS_MAX_SERIES 10000
/* Distinct metrics in one registry. */
#define METRICS_MAX_METRICS 256
/* Buckets of a histogram, +Inf not counted. */
#define METRICS_MAX_BUCKETS 64
/* The media type to serve the rendered text with. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* An empty registry, or NULL on out-of-memory. */
struct metrics *metrics_new(void);
/* NULL-safe. */
void metrics_free(struct metrics *m);

/*
 * Counters and gauges. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* (a counter is named as it
 * is exposed, "..._total" included); `help` is any text (escaped on output). `label_names` and
 * `label_values` are NULL-terminated arrays of the same length (0 to METRICS_MAX_LABELS; NULL
 * means none); label names match [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__"; values are
 * any text (escaped on output; invalid UTF-8 bytes become U+FFFD). The first call for a name
 * fixes its type, help and label names; a later call that disagrees on the type or the label
 * names fails with JP_EINVAL and changes nothing.
 * Return 0; JP_EINVAL (bad name, labels, type clash; a negative, infinite or NaN counter
 * increment; a NaN gauge value); JP_ETOOBIG (the metric already has METRICS_MAX_SERIES series
 * and this would be a new one: dropped and counted; or the registry is full); JP_ENOMEM.
 */
int metrics_counter_add(struct metrics *m, const char *name, const char *help,
                        const char *const *label_names, const char *const *label_values, double v);
int metrics_gauge_set(struct metrics *m, const char *name, const char *help,
                      const char *const *label_names, const char *const *label_values, double v);
/* Adds v (may be negative) to a gauge series, starting from 0. Same returns as above. */
int metrics_gauge_add(struct metrics *m, const char *name, const char *help,
                      const char *const *label_names, const char *const *label_values, double v);
/* Drop every series of gauge `name` (its HELP and TYPE stay), for gauges recomputed at scrape
 * time (kernels by state and user). 0 (also when the name is unknown); JP_EINVAL when the name
 * belongs to a metric that is not a gauge. */
int metrics_gauge_reset(struct metrics *m, const char *name);

/*
 * Histograms: `buckets` are the upper bounds, finite and strictly increasing, 1 to
 * METRICS_MAX_BUCKETS of them (+Inf is implied). The first call fixes help and buckets; a later
 * call with other buckets fails with JP_EINVAL. v must not be NaN. Rendered as cumulative
 * name_bucket{le="..."} lines, le="+Inf", name_sum and name_count.
 * 0, JP_EINVAL, JP_ETOOBIG (registry full) or JP_ENOMEM.
 */
int metrics_histogram_observe(struct metrics *m, const char *name, const char *help,
                              const double *buckets, size_t nbuckets, double v);

/* Append the whole registry in the text format 0.0.4 to `out`: for each metric "# HELP",
 * "# TYPE", then its samples; values in the shortest form that reads back exactly, "+Inf",
 * "-Inf" or "NaN". 0, or JP_ENOMEM / JP_ETOOBIG with `out` as it was. */
int metrics_render(const struct metrics *m, struct jp_buf *out);

#endif
