/*
 * metrics.c - the Prometheus registry (see metrics.h). Metrics live in an array searched by
 * name (there are few); each counter or gauge keeps its series in insertion order with an
 * open-addressing index on a hash of the label values, so that a gauge rebuilt at scrape time
 * from thousands of kernels stays linear. A histogram has one series (no labels): per-bucket
 * counts, made cumulative when rendered. Rendering follows the text exposition format 0.0.4
 * (prometheus/docs, "Exposition formats"): HELP escapes backslash and newline, label values
 * escape backslash, double quote and newline. Not thread-safe; no I/O.
 */
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jp_buf.h"
#include "jp_err.h"

#define DROPPED_NAME "cnote_metrics_dropped_series_total"
#define DROPPED_HELP "Series not recorded because their metric reached its series limit."
#define NAME_MAX_LEN 200

enum metric_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct series {
    char *values[METRICS_MAX_LABELS];
    uint64_t hash;
    double value;
};

struct metric {
    char *name;
    char *help;
    enum metric_type type;
    size_t nlabels;
    char *label_names[METRICS_MAX_LABELS];
    struct series *series;
    size_t nseries, series_cap;
    uint32_t *index; /* series position + 1, 0 = empty; index_size is a power of two */
    size_t index_size;
    double *bounds;    /* histogram: nbuckets upper bounds */
    uint64_t *buckets; /* histogram: nbuckets + 1 counts (the last is +Inf), not cumulative */
    size_t nbuckets;
    double sum;
    uint64_t count;
};

struct metrics {
    struct metric *v;
    size_t n, cap;
    uint64_t dropped;
};

struct metrics *metrics_new(void)
{
    return calloc(1, sizeof(struct metrics));
}

static void series_clear(struct metric *mt)
{
    for (size_t i = 0; i < mt->nseries; i++)
        for (size_t j = 0; j < mt->nlabels; j++)
            free(mt->series[i].values[j]);
    mt->nseries = 0;
    if (mt->index)
        memset(mt->index, 0, mt->index_size * sizeof *mt->index);
}

static void metric_dispose(struct metric *mt)
{
    series_clear(mt);
    free(mt->series);
    free(mt->index);
    for (size_t j = 0; j < mt->nlabels; j++)
        free(mt->label_names[j]);
    free(mt->name);
    free(mt->help);
    free(mt->bounds);
    free(mt->buckets);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        metric_dispose(&m->v[i]);
    free(m->v);
    free(m);
}

static int name_ok(const char *s, int colon)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int metric_name_ok(const char *s)
{
    return name_ok(s, 1) && strcmp(s, DROPPED_NAME) != 0;
}

/* Label names: no colon, and "__" is reserved for Prometheus itself. */
static int label_name_ok(const char *s)
{
    return name_ok(s, 0) && strncmp(s, "__", 2) != 0;
}

static size_t count_labels(const char *const *v)
{
    size_t n = 0;

    while (v && v[n] && n <= METRICS_MAX_LABELS)
        n++;
    return n;
}

/* `s` itself when it is valid UTF-8, else a malloc'd copy in *tmp with each invalid byte
 * replaced by U+FFFD; NULL on out-of-memory. */
static const char *utf8_clean(const char *s, char **tmp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, k;

    *tmp = NULL;
    while (i < len) {
        k = p[i] < 0x80 ? 1 : jp_utf8_len(p + i, len - i);
        if (!k)
            break;
        i += k;
    }
    if (i == len)
        return s;
    char *o = malloc(len * 3 + 1), *q = o;
    if (!o)
        return NULL;
    for (i = 0; i < len;) {
        k = p[i] < 0x80 ? 1 : jp_utf8_len(p + i, len - i);
        if (k) {
            memcpy(q, p + i, k);
            q += k;
            i += k;
        } else {
            memcpy(q, "\xef\xbf\xbd", 3);
            q += 3;
            i++;
        }
    }
    *q = '\0';
    *tmp = o;
    return o;
}

static uint64_t hash_values(const char *const *v, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* 0xff never occurs in UTF-8: a separator */
    }
    return h;
}

static struct metric *find(const struct metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].name, name) == 0)
            return &m->v[i];
    return NULL;
}

static int index_rebuild(struct metric *mt, size_t size)
{
    uint32_t *idx = calloc(size, sizeof *idx);

    if (!idx)
        return JP_ENOMEM;
    for (size_t i = 0; i < mt->nseries; i++) {
        size_t at = (size_t)mt->series[i].hash & (size - 1);
        while (idx[at])
            at = (at + 1) & (size - 1);
        idx[at] = (uint32_t)(i + 1);
    }
    free(mt->index);
    mt->index = idx;
    mt->index_size = size;
    return 0;
}

/* The series of `mt` with these (clean) label values, created with value 0 if new.
 * 0 with *out set, JP_ETOOBIG (cap reached, counted), JP_ENOMEM. */
static int series_get(struct metrics *m, struct metric *mt, const char *const *values,
                      struct series **out)
{
    uint64_t h = hash_values(values, mt->nlabels);
    size_t at = 0, j;

    if (mt->index_size) {
        for (at = (size_t)h & (mt->index_size - 1); mt->index[at];
             at = (at + 1) & (mt->index_size - 1)) {
            struct series *s = &mt->series[mt->index[at] - 1];
            if (s->hash != h)
                continue;
            for (j = 0; j < mt->nlabels && strcmp(s->values[j], values[j]) == 0; j++)
                ;
            if (j == mt->nlabels) {
                *out = s;
                return 0;
            }
        }
    }
    if (mt->nseries >= METRICS_MAX_SERIES) {
        m->dropped++;
        return JP_ETOOBIG;
    }
    if (mt->nseries == mt->series_cap) {
        size_t cap = mt->series_cap ? mt->series_cap * 2 : 4;
        struct series *v = realloc(mt->series, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        mt->series = v;
        mt->series_cap = cap;
    }
    /* keep the index at most half full */
    if ((mt->nseries + 1) * 2 > mt->index_size) {
        int rc = index_rebuild(mt, mt->index_size ? mt->index_size * 2 : 8);
        if (rc)
            return rc;
        for (at = (size_t)h & (mt->index_size - 1); mt->index[at];
             at = (at + 1) & (mt->index_size - 1))
            ;
    }
    struct series *s = &mt->series[mt->nseries];
    memset(s, 0, sizeof *s);
    for (j = 0; j < mt->nlabels; j++) {
        s->values[j] = strdup(values[j]);
        if (!s->values[j]) {
            while (j--)
                free(s->values[j]);
            return JP_ENOMEM;
        }
    }
    s->hash = h;
    mt->index[at] = (uint32_t)(mt->nseries + 1);
    mt->nseries++;
    *out = s;
    return 0;
}

/* The metric called `name`, created if new; JP_EINVAL when it exists with another type or
 * other label names. */
static int metric_get(struct metrics *m, const char *name, const char *help, enum metric_type type,
                      const char *const *label_names, size_t nlabels, struct metric **out)
{
    struct metric *mt = find(m, name);

    if (mt) {
        if (mt->type != type || mt->nlabels != nlabels)
            return JP_EINVAL;
        for (size_t j = 0; j < nlabels; j++)
            if (strcmp(mt->label_names[j], label_names[j]) != 0)
                return JP_EINVAL;
        *out = mt;
        return 0;
    }
    if (!help)
        return JP_EINVAL;
    if (m->n >= METRICS_MAX_METRICS)
        return JP_ETOOBIG;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct metric *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    mt = &m->v[m->n];
    memset(mt, 0, sizeof *mt);
    mt->type = type;
    char *tmp;
    const char *h = utf8_clean(help, &tmp);
    mt->name = strdup(name);
    mt->help = h ? strdup(h) : NULL;
    free(tmp);
    int ok = mt->name && mt->help;
    for (size_t j = 0; ok && j < nlabels; j++) {
        mt->label_names[j] = strdup(label_names[j]);
        ok = mt->label_names[j] != NULL;
        mt->nlabels = j + 1;
    }
    if (!ok) {
        metric_dispose(mt);
        return JP_ENOMEM;
    }
    m->n++;
    *out = mt;
    return 0;
}

enum op { OP_ADD, OP_SET };

static int record(struct metrics *m, enum metric_type type, enum op op, const char *name,
                  const char *help, const char *const *label_names, const char *const *label_values,
                  double v)
{
    size_t n = count_labels(label_names);
    const char *clean[METRICS_MAX_LABELS];
    char *tmp[METRICS_MAX_LABELS] = {0};
    struct metric *mt;
    struct series *s;
    int rc;

    if (!m || !metric_name_ok(name) || n > METRICS_MAX_LABELS || count_labels(label_values) != n)
        return JP_EINVAL;
    if (isnan(v) || (type == MT_COUNTER && (v < 0 || isinf(v))))
        return JP_EINVAL;
    for (size_t j = 0; j < n; j++) {
        if (!label_name_ok(label_names[j]))
            return JP_EINVAL;
        for (size_t k = 0; k < j; k++)
            if (strcmp(label_names[j], label_names[k]) == 0)
                return JP_EINVAL;
    }
    rc = metric_get(m, name, help, type, label_names, n, &mt);
    if (rc)
        return rc;
    for (size_t j = 0; j < n; j++) {
        clean[j] = utf8_clean(label_values[j], &tmp[j]);
        if (!clean[j]) {
            rc = JP_ENOMEM;
            goto out;
        }
    }
    rc = series_get(m, mt, clean, &s);
    if (rc)
        goto out;
    if (op == OP_SET)
        s->value = v;
    else
        s->value += v;
out:
    for (size_t j = 0; j < n; j++)
        free(tmp[j]);
    return rc;
}

int metrics_counter_add(struct metrics *m, const char *name, const char *help,
                        const char *const *label_names, const char *const *label_values, double v)
{
    return record(m, MT_COUNTER, OP_ADD, name, help, label_names, label_values, v);
}

int metrics_gauge_set(struct metrics *m, const char *name, const char *help,
                      const char *const *label_names, const char *const *label_values, double v)
{
    return record(m, MT_GAUGE, OP_SET, name, help, label_names, label_values, v);
}

int metrics_gauge_add(struct metrics *m, const char *name, const char *help,
                      const char *const *label_names, const char *const *label_values, double v)
{
    return record(m, MT_GAUGE, OP_ADD, name, help, label_names, label_values, v);
}

int metrics_gauge_reset(struct metrics *m, const char *name)
{
    struct metric *mt = m && name ? find(m, name) : NULL;

    if (!mt)
        return 0;
    if (mt->type != MT_GAUGE)
        return JP_EINVAL;
    series_clear(mt);
    return 0;
}

int metrics_histogram_observe(struct metrics *m, const char *name, const char *help,
                              const double *buckets, size_t nbuckets, double v)
{
    struct metric *mt;
    size_t i;
    int rc;

    if (!m || !metric_name_ok(name) || !buckets || nbuckets == 0 ||
        nbuckets > METRICS_MAX_BUCKETS || isnan(v))
        return JP_EINVAL;
    for (i = 0; i < nbuckets; i++)
        if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
            return JP_EINVAL;
    mt = find(m, name);
    if (mt) {
        if (mt->type != MT_HISTOGRAM || mt->nbuckets != nbuckets ||
            memcmp(mt->bounds, buckets, nbuckets * sizeof *buckets) != 0)
            return JP_EINVAL;
    } else {
        double *bounds = malloc(nbuckets * sizeof *bounds);
        uint64_t *counts = calloc(nbuckets + 1, sizeof *counts);
        rc = bounds && counts ? metric_get(m, name, help, MT_HISTOGRAM, NULL, 0, &mt) : JP_ENOMEM;
        if (rc) {
            free(bounds);
            free(counts);
            return rc;
        }
        memcpy(bounds, buckets, nbuckets * sizeof *bounds);
        mt->bounds = bounds;
        mt->buckets = counts;
        mt->nbuckets = nbuckets;
    }
    for (i = 0; i < nbuckets && !(v <= mt->bounds[i]); i++)
        ;
    mt->buckets[i]++;
    mt->sum += v;
    mt->count++;
    return 0;
}

/* ---- rendering ---- */

struct out {
    struct jp_buf *b;
    int rc;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->rc == 0)
        o->rc = jp_buf_add(o->b, s, n);
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* The fewest significant digits that read back as the same double, written without an
 * exponent when the decimal exponent is in [-4, 21) (as Go's FormatFloat(v, 'g', -1) and
 * prometheus_client write le values, so bucket labels look alike across exporters). */
static void fmt_value(char *buf, size_t size, double v)
{
    int prec = 1;
    long exp;

    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (; prec < 17; prec++) {
        snprintf(buf, size, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, size, "%.*e", prec - 1, v);
    exp = strtol(strchr(buf, 'e') + 1, NULL, 10);
    if (exp >= -4 && exp < 21)
        snprintf(buf, size, "%.*g", prec > exp + 1 ? prec : (int)exp + 1, v);
}

static void put_value(struct out *o, double v)
{
    char buf[40];

    fmt_value(buf, sizeof buf, v);
    puts_(o, buf);
}

/* HELP text: backslash and newline escaped. Label values: double quote too. */
static void put_escaped(struct out *o, const char *s, int quote)
{
    while (*s) {
        size_t run = 0;
        while (s[run] && s[run] != '\\' && s[run] != '\n' && !(quote && s[run] == '"'))
            run++;
        put(o, s, run);
        s += run;
        if (!*s)
            break;
        put(o, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"", 2);
        s++;
    }
}

static void put_header(struct out *o, const char *name, const char *help, const char *type)
{
    puts_(o, "# HELP ");
    puts_(o, name);
    puts_(o, " ");
    put_escaped(o, help, 0);
    puts_(o, "\n# TYPE ");
    puts_(o, name);
    puts_(o, " ");
    puts_(o, type);
    puts_(o, "\n");
}

static void render_metric(struct out *o, const struct metric *mt)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    put_header(o, mt->name, mt->help, types[mt->type]);
    if (mt->type == MT_HISTOGRAM) {
        uint64_t cum = 0;
        char num[40];
        for (size_t i = 0; i <= mt->nbuckets; i++) {
            cum += mt->buckets[i];
            if (i < mt->nbuckets)
                fmt_value(num, sizeof num, mt->bounds[i]);
            else
                snprintf(num, sizeof num, "+Inf");
            puts_(o, mt->name);
            puts_(o, "_bucket{le=\"");
            puts_(o, num);
            snprintf(num, sizeof num, "\"} %llu\n", (unsigned long long)cum);
            puts_(o, num);
        }
        puts_(o, mt->name);
        puts_(o, "_sum ");
        put_value(o, mt->sum);
        puts_(o, "\n");
        puts_(o, mt->name);
        snprintf(num, sizeof num, "_count %llu\n", (unsigned long long)mt->count);
        puts_(o, num);
        return;
    }
    for (size_t i = 0; i < mt->nseries; i++) {
        const struct series *s = &mt->series[i];
        puts_(o, mt->name);
        for (size_t j = 0; j < mt->nlabels; j++) {
            puts_(o, j ? "," : "{");
            puts_(o, mt->label_names[j]);
            puts_(o, "=\"");
            put_escaped(o, s->values[j], 1);
            puts_(o, "\"");
        }
        puts_(o, mt->nlabels ? "} " : " ");
        put_value(o, s->value);
        puts_(o, "\n");
    }
}

int metrics_render(const struct metrics *m, struct jp_buf *b)
{
    struct out o = {b, 0};
    size_t start = b->len;
    char num[40];

    if (!m)
        return JP_EINVAL;
    for (size_t i = 0; i < m->n; i++)
        render_metric(&o, &m->v[i]);
    put_header(&o, DROPPED_NAME, DROPPED_HELP, "counter");
    snprintf(num, sizeof num, "%llu\n", (unsigned long long)m->dropped);
    puts_(&o, DROPPED_NAME " ");
    puts_(&o, num);
    if (o.rc && b->data) {
        b->len = start;
        b->data[start] = '\0';
    }
    return o.rc;
}
