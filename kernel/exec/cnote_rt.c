/*
 * cnote_rt.c - the runtime behind cnote.h: display functions and the display of a cell's
 * trailing value. Builds the JSON of display_data / update_display_data / clear_output
 * content by hand (the executor links no JSON library) and sends it to the front, which
 * checks it and publishes it on IOPub. Runs inside the executor, in the cell's thread.
 * Also the matrix table (display_matrix) and the progress bar (progress_*); plots are in
 * cnote_plot.c, which publishes through ck_rt_publish (ck_rt.h).
 */
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../include/cnote.h"
#include "ck_frame.h"
#include "ck_rt.h"
#include "ck_sbuf.h"
#include "exec.h"

/* JSON string literal of n bytes (invalid UTF-8 is left for the front to repair). */
static void sb_json_str(struct ck_sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    ck_sb_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ck_sb_add(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        switch (c) {
        case '"':
            ck_sb_add(b, "\\\"", 2);
            break;
        case '\\':
            ck_sb_add(b, "\\\\", 2);
            break;
        case '\n':
            ck_sb_add(b, "\\n", 2);
            break;
        case '\t':
            ck_sb_add(b, "\\t", 2);
            break;
        case '\r':
            ck_sb_add(b, "\\r", 2);
            break;
        default:
            ck_sb_add(b, esc, 6);
        }
    }
    ck_sb_add(b, s + run, n - run);
    ck_sb_add(b, "\"", 1);
}

static void sb_base64(struct ck_sbuf *b, const unsigned char *d, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    ck_sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)d[i + 1] << 8;
        if (i + 2 < n)
            v |= d[i + 2];
        out[0] = tbl[(v >> 18) & 63];
        out[1] = tbl[(v >> 12) & 63];
        out[2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[3] = i + 2 < n ? tbl[v & 63] : '=';
        ck_sb_add(b, out, 4);
    }
    ck_sb_add(b, "\"", 1);
}

static int is_text_mime(const char *mime)
{
    return strncmp(mime, "text/", 5) == 0 || strcmp(mime, "image/svg+xml") == 0 ||
           strcmp(mime, "application/json") == 0 || strstr(mime, "+json") != NULL ||
           strcmp(mime, "application/javascript") == 0;
}

int ck_rt_publish(const char *msg_type, const char *id, const struct ck_mime_part *parts, int n)
{
    struct ck_sbuf b = {0};
    int rc = -1;
    if (!msg_type || !parts || n < 1)
        return -1;
    for (int i = 0; i < n; i++)
        if (!parts[i].mime || (!parts[i].data && parts[i].len))
            return -1;
    ck_sb_adds(&b, "{\"msg_type\":");
    sb_json_str(&b, msg_type, strlen(msg_type));
    ck_sb_adds(&b, ",\"content\":{\"data\":{");
    for (int i = 0; i < n; i++) {
        const char *mime = parts[i].mime;
        if (i)
            ck_sb_adds(&b, ",");
        sb_json_str(&b, mime, strlen(mime));
        ck_sb_adds(&b, ":");
        if (strcmp(mime, "application/json") == 0 || strstr(mime, "+json"))
            ck_sb_add(&b, parts[i].data, parts[i].len); /* a JSON value; the front validates it */
        else if (is_text_mime(mime))
            sb_json_str(&b, parts[i].data, parts[i].len);
        else
            sb_base64(&b, parts[i].data, parts[i].len);
    }
    ck_sb_adds(&b, "},\"metadata\":{}");
    if (id) {
        ck_sb_adds(&b, ",\"transient\":{\"display_id\":");
        sb_json_str(&b, id, strlen(id));
        ck_sb_adds(&b, "}");
    }
    ck_sb_adds(&b, "}}");
    if (!b.failed)
        rc = ck_exec_send_wait(CKF_DISPLAY, b.p, b.len, CKF_ACK);
    free(b.p);
    return rc;
}

static void send_display(const char *msg_type, const char *id, const char *mime, const void *data,
                         size_t len)
{
    struct ck_mime_part parts[2] = {{mime, data, len}, {"text/plain", NULL, 0}};
    char alt[96];
    int n = 1;
    if (mime && strcmp(mime, "text/plain") != 0 && is_text_mime(mime) == 0) {
        /* an image alone still needs a text/plain fallback for consoles */
        snprintf(alt, sizeof alt, "<%s, %zu bytes>", mime, len);
        parts[1].data = alt;
        parts[1].len = strlen(alt);
        n = 2;
    }
    ck_rt_publish(msg_type, id, parts, n);
}

void display_mime(const char *mime, const void *data, size_t len)
{
    send_display("display_data", NULL, mime, data, len);
}

#define TEXT_DISPLAY(fn, mime)                                                                     \
    void fn(const char *s)                                                                         \
    {                                                                                              \
        if (s)                                                                                     \
            display_mime(mime, s, strlen(s));                                                      \
    }
TEXT_DISPLAY(display_text, "text/plain")
TEXT_DISPLAY(display_html, "text/html")
TEXT_DISPLAY(display_markdown, "text/markdown")
TEXT_DISPLAY(display_latex, "text/latex")
TEXT_DISPLAY(display_svg, "image/svg+xml")
TEXT_DISPLAY(display_json, "application/json")

void display_png(const void *png, size_t len)
{
    display_mime("image/png", png, len);
}

void display_jpeg(const void *jpeg, size_t len)
{
    display_mime("image/jpeg", jpeg, len);
}

void display_htmlf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        display_mime("text/html", s, (size_t)n);
        free(s);
    }
}

void display_mime_id(const char *id, const char *mime, const void *data, size_t len)
{
    send_display("display_data", id, mime, data, len);
}

void display_html_id(const char *id, const char *html)
{
    if (html)
        display_mime_id(id, "text/html", html, strlen(html));
}

void display_text_id(const char *id, const char *text)
{
    if (text)
        display_mime_id(id, "text/plain", text, strlen(text));
}

void update_display_mime(const char *id, const char *mime, const void *data, size_t len)
{
    if (id)
        send_display("update_display_data", id, mime, data, len);
}

void update_display_html(const char *id, const char *html)
{
    if (html)
        update_display_mime(id, "text/html", html, strlen(html));
}

void update_display_text(const char *id, const char *text)
{
    if (text)
        update_display_mime(id, "text/plain", text, strlen(text));
}

void clear_output(int wait)
{
    char msg[80];
    int n = snprintf(msg, sizeof msg, "{\"msg_type\":\"clear_output\",\"content\":{\"wait\":%s}}",
                     wait ? "true" : "false");
    ck_exec_send_wait(CKF_DISPLAY, msg, (size_t)n, CKF_ACK);
}

/* Shortest %g form that reads back as the same value, without an exponent for magnitudes
 * below 1e16 (10.0 shows as "10", not "1e+01"), as Python's repr does. */
static void fmt_real(char *out, size_t n, long double v, int digits)
{
    int p = 1;
    for (; p < digits; p++) {
        snprintf(out, n, "%.*Lg", p, v);
        /* read back in the value's own precision */
        if (digits == FLT_DECIMAL_DIG   ? strtof(out, NULL) == (float)v
            : digits == DBL_DECIMAL_DIG ? strtod(out, NULL) == (double)v
                                        : strtold(out, NULL) == v)
            break;
    }
    char *e = strchr(out, 'e');
    if (e) {
        int exp10 = (int)strtol(e + 1, NULL, 10);
        if (exp10 >= 0 && exp10 < 16 && exp10 + 1 > p)
            p = exp10 + 1;
    }
    snprintf(out, n, "%.*Lg", p, v);
}

/* ---- display_matrix: an HTML table and its text/plain copy in one output ---- */

#define MAT_EDGE 5 /* past 2 * MAT_EDGE rows (columns), the first and last MAT_EDGE are shown */

/* Rows (columns) shown of n, the ellipsis included. */
static int mat_shown(int n)
{
    return n <= 2 * MAT_EDGE ? n : 2 * MAT_EDGE + 1;
}

/* Index of the k-th shown row (column) of n; -1 for the ellipsis. */
static int mat_index(int n, int k)
{
    if (n <= 2 * MAT_EDGE || k < MAT_EDGE)
        return k;
    return k == MAT_EDGE ? -1 : n - (2 * MAT_EDGE + 1 - k);
}

static void display_matrix_of(const void *a, int is_float, int rows, int cols)
{
    struct ck_sbuf html = {0}, text = {0};
    char tmp[64];
    if (rows < 0 || cols < 0 || (!a && rows && cols))
        return;
    int sr = mat_shown(rows), sc = mat_shown(cols);
    char(*cell)[40] = malloc(((size_t)sr * (size_t)sc + 1) * sizeof *cell);
    if (!cell)
        return;
    size_t width = 0; /* of the widest cell text, "..." included */
    for (int r = 0; r < sr; r++)
        for (int c = 0; c < sc; c++) {
            int ri = mat_index(rows, r), ci = mat_index(cols, c);
            char *out = cell[r * sc + c];
            size_t at = (size_t)ri * (size_t)cols + (size_t)ci;
            if (ri < 0 || ci < 0)
                snprintf(out, sizeof *cell, "...");
            else if (is_float)
                fmt_real(out, sizeof *cell, ((const float *)a)[at], FLT_DECIMAL_DIG);
            else
                fmt_real(out, sizeof *cell, ((const double *)a)[at], DBL_DECIMAL_DIG);
            if (strlen(out) > width)
                width = strlen(out);
        }

    snprintf(tmp, sizeof tmp, "%d x %d", rows, cols);
    ck_sb_adds(&html, "<table class=\"cnote-matrix\"><caption>");
    ck_sb_adds(&html, tmp);
    ck_sb_adds(&html, "</caption>\n<thead><tr><th></th>");
    for (int c = 0; c < sc; c++) {
        int ci = mat_index(cols, c);
        snprintf(tmp, sizeof tmp, "%d", ci);
        ck_sb_adds(&html, "<th>");
        ck_sb_adds(&html, ci < 0 ? "&#8943;" : tmp);
        ck_sb_adds(&html, "</th>");
    }
    ck_sb_adds(&html, "</tr></thead>\n<tbody>\n");
    for (int r = 0; r < sr; r++) {
        int ri = mat_index(rows, r);
        snprintf(tmp, sizeof tmp, "%d", ri);
        ck_sb_adds(&html, "<tr><th>");
        ck_sb_adds(&html, ri < 0 ? "&#8942;" : tmp);
        ck_sb_adds(&html, "</th>");
        for (int c = 0; c < sc; c++) {
            int ci = mat_index(cols, c);
            ck_sb_adds(&html, "<td>");
            /* the numbers are printf output: nothing to escape */
            ck_sb_adds(&html, ri < 0   ? (ci < 0 ? "&#8945;" : "&#8942;")
                              : ci < 0 ? "&#8943;"
                                       : cell[r * sc + c]);
            ck_sb_adds(&html, "</td>");
        }
        ck_sb_adds(&html, "</tr>\n");
    }
    ck_sb_adds(&html, "</tbody></table>");

    /* text/plain, numpy-like: [[1 2 ... 9]\n [...]] */
    snprintf(tmp, sizeof tmp, "%d x %d\n", rows, cols);
    ck_sb_adds(&text, tmp);
    if (!sr || !sc)
        ck_sb_adds(&text, "[]");
    for (int r = 0; r < sr && sc; r++) {
        ck_sb_adds(&text, r ? "\n [" : "[[");
        if (mat_index(rows, r) < 0) {
            ck_sb_adds(&text, "...");
            continue;
        }
        for (int c = 0; c < sc; c++) {
            const char *v = cell[r * sc + c];
            if (c)
                ck_sb_adds(&text, " ");
            for (size_t pad = strlen(v); pad < width; pad++)
                ck_sb_adds(&text, " ");
            ck_sb_adds(&text, v);
        }
        ck_sb_adds(&text, r == sr - 1 ? "]]" : "]");
    }
    if (!html.failed && !text.failed) {
        struct ck_mime_part parts[2] = {{"text/html", html.p, html.len},
                                        {"text/plain", text.p, text.len}};
        ck_rt_publish("display_data", NULL, parts, 2);
    }
    free(cell);
    free(html.p);
    free(text.p);
}

void display_matrix(const double *a, int rows, int cols)
{
    display_matrix_of(a, 0, rows, cols);
}

void display_matrixf(const float *a, int rows, int cols)
{
    display_matrix_of(a, 1, rows, cols);
}

/* ---- progress bar: one display, then update_display_data at most every 100 ms ---- */

#define PROGRESS_EVERY 0.1 /* seconds between redraws */

struct cnote_progress {
    char id[80];
    char *label;
    long total, done, shown; /* shown: done at the last redraw */
    double start, last;      /* clock at progress_start and at the last redraw */
};

/* The coarse clock costs a few nanoseconds: progress_update may run on every iteration. */
static double progress_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fmt_seconds(char *out, size_t n, double s)
{
    if (s < 10)
        snprintf(out, n, "%.1f s", s);
    else if (s < 60)
        snprintf(out, n, "%.0f s", s);
    else if (s < 3600)
        snprintf(out, n, "%d min %02d s", (int)s / 60, (int)s % 60);
    else
        snprintf(out, n, "%d h %02d min", (int)(s / 3600), (int)s / 60 % 60);
}

static void sb_html_text(struct ck_sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            ck_sb_adds(b, "&amp;");
        else if (*s == '<')
            ck_sb_adds(b, "&lt;");
        else if (*s == '>')
            ck_sb_adds(b, "&gt;");
        else if (*s == '"')
            ck_sb_adds(b, "&quot;");
        else
            ck_sb_add(b, s, 1);
    }
}

static void progress_send(struct cnote_progress *p, const char *msg_type, int final)
{
    struct ck_sbuf html = {0}, text = {0};
    char num[96], secs[32], eta[48] = "";
    double now = progress_clock(), elapsed = now - p->start;
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
    fmt_seconds(secs, sizeof secs, elapsed);
    if (!final && p->total > 0 && p->done > 0 && p->done < p->total) {
        char left[32];
        fmt_seconds(left, sizeof left, elapsed * (double)(p->total - p->done) / (double)p->done);
        snprintf(eta, sizeof eta, ", ETA %s", left);
    }
    if (p->total > 0)
        snprintf(num, sizeof num, "%3d%% %ld/%ld", (int)(frac * 100), p->done, p->total);
    else
        snprintf(num, sizeof num, "%ld", p->done);

    if (p->label && *p->label) {
        ck_sb_adds(&text, p->label);
        ck_sb_adds(&text, ": ");
    }
    ck_sb_adds(&html, "<div class=\"cnote-progress\" style=\"font-family:monospace\">");
    if (p->label && *p->label) {
        sb_html_text(&html, p->label);
        ck_sb_adds(&html, " ");
    }
    if (p->total > 0) {
        int filled = (int)(frac * 30 + 0.5);
        ck_sb_adds(&text, "[");
        for (int i = 0; i < 30; i++)
            ck_sb_adds(&text, i < filled ? "#" : " ");
        ck_sb_adds(&text, "] ");
        char bar[256];
        snprintf(bar, sizeof bar,
                 "<span style=\"display:inline-block;width:16em;height:0.9em;"
                 "vertical-align:middle;border:1px solid #888;background:#eee\">"
                 "<span style=\"display:block;height:100%%;width:%.1f%%;background:#0072b2\">"
                 "</span></span> ",
                 frac * 100);
        ck_sb_adds(&html, bar);
    }
    char tail[200];
    snprintf(tail, sizeof tail, "%s%s %s%s%s", num, p->total > 0 ? "" : " done",
             final ? "in " : "(", secs, final ? "" : eta);
    if (!final)
        snprintf(tail + strlen(tail), sizeof tail - strlen(tail), ")");
    ck_sb_adds(&text, tail);
    ck_sb_adds(&html, tail);
    ck_sb_adds(&html, "</div>");
    if (!html.failed && !text.failed) {
        struct ck_mime_part parts[2] = {{"text/html", html.p, html.len},
                                        {"text/plain", text.p, text.len}};
        ck_rt_publish(msg_type, p->id, parts, 2);
    }
    free(html.p);
    free(text.p);
    p->shown = p->done;
    p->last = now;
}

struct cnote_progress *progress_start(const char *label, long total)
{
    static unsigned serial;
    struct cnote_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (label && !(p->label = strdup(label))) {
        free(p);
        return NULL;
    }
    p->total = total > 0 ? total : 0;
    p->start = progress_clock();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* unique in the notebook: pid, a counter and the time */
    snprintf(p->id, sizeof p->id, "cnote-progress-%ld-%u-%lld%09ld", (long)getpid(), ++serial,
             (long long)ts.tv_sec, ts.tv_nsec);
    progress_send(p, "display_data", 0);
    return p;
}

void progress_update(struct cnote_progress *p, long done)
{
    if (!p)
        return;
    p->done = done;
    if (done == p->shown)
        return;
    /* completion is drawn at once, and once */
    int complete = p->total > 0 && done >= p->total;
    if (complete ? p->shown >= p->total : progress_clock() - p->last < PROGRESS_EVERY)
        return;
    progress_send(p, "update_display_data", 0);
}

void progress_end(struct cnote_progress *p)
{
    if (!p)
        return;
    progress_send(p, "update_display_data", 1);
    free(p->label);
    free(p);
}

static void char_literal(struct ck_sbuf *b, int c)
{
    char tmp[16];
    if (c == '\'' || c == '\\')
        snprintf(tmp, sizeof tmp, "'\\%c'", c);
    else if (c == '\n')
        snprintf(tmp, sizeof tmp, "'\\n'");
    else if (c == '\t')
        snprintf(tmp, sizeof tmp, "'\\t'");
    else if (c == 0)
        snprintf(tmp, sizeof tmp, "'\\0'");
    else if (c >= 0x20 && c < 0x7f)
        snprintf(tmp, sizeof tmp, "'%c'", c);
    else
        snprintf(tmp, sizeof tmp, "'\\x%02x'", (unsigned char)c);
    ck_sb_adds(b, tmp);
}

static void string_literal(struct ck_sbuf *b, const char *s)
{
    size_t max = 4096, i;
    ck_sb_adds(b, "\"");
    for (i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            ck_sb_add(b, tmp, 2);
        } else if (c == '\n') {
            ck_sb_adds(b, "\\n");
        } else if (c == '\t') {
            ck_sb_adds(b, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            ck_sb_adds(b, tmp);
        } else {
            ck_sb_add(b, &s[i], 1);
        }
    }
    ck_sb_adds(b, "\"");
    if (s[i])
        ck_sb_adds(b, "...");
}

void __ck_show(int kind, const char *tname, const char *declared, const void *v, size_t size)
{
    struct ck_sbuf b = {0};
    char tmp[128];
    switch (kind) {
    case __CK_VOID:
        return;
    case __CK_BOOL:
        ck_sb_adds(&b, *(const _Bool *)v ? "true" : "false");
        break;
    case __CK_CHAR:
        char_literal(&b, *(const char *)v);
        break;
    case __CK_SCHAR:
        snprintf(tmp, sizeof tmp, "%d", *(const signed char *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_UCHAR:
        snprintf(tmp, sizeof tmp, "%u", *(const unsigned char *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_SHORT:
        snprintf(tmp, sizeof tmp, "%d", *(const short *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_USHORT:
        snprintf(tmp, sizeof tmp, "%u", *(const unsigned short *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_INT:
        snprintf(tmp, sizeof tmp, "%d", *(const int *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_UINT:
        snprintf(tmp, sizeof tmp, "%u", *(const unsigned *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_LONG:
        snprintf(tmp, sizeof tmp, "%ld", *(const long *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_ULONG:
        snprintf(tmp, sizeof tmp, "%lu", *(const unsigned long *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_LLONG:
        snprintf(tmp, sizeof tmp, "%lld", *(const long long *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_ULLONG:
        snprintf(tmp, sizeof tmp, "%llu", *(const unsigned long long *)v);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_FLOAT:
        fmt_real(tmp, sizeof tmp, *(const float *)v, FLT_DECIMAL_DIG);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_DOUBLE:
        fmt_real(tmp, sizeof tmp, *(const double *)v, DBL_DECIMAL_DIG);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_LDOUBLE:
        fmt_real(tmp, sizeof tmp, *(const long double *)v, 21);
        ck_sb_adds(&b, tmp);
        break;
    case __CK_STR: {
        const char *s = *(const char *const *)v;
        if (s)
            string_literal(&b, s);
        else
            ck_sb_adds(&b, "(char *) NULL");
        break;
    }
    case __CK_PTR: {
        const void *p = *(const void *const *)v;
        snprintf(tmp, sizeof tmp, "(%s) %p", declared ? declared : tname ? tname : "pointer", p);
        if (!p)
            snprintf(tmp, sizeof tmp, "(%s) NULL", declared ? declared : tname ? tname : "pointer");
        ck_sb_adds(&b, tmp);
        break;
    }
    default: {
        const char *what = kind == __CK_STRUCT ? "struct" : kind == __CK_UNION ? "union" : "value";
        snprintf(tmp, sizeof tmp, "<%s: %zu bytes>", declared ? declared : what, size);
        ck_sb_adds(&b, tmp);
        break;
    }
    }
    if (!b.failed)
        ck_exec_send(CKF_RESULT, b.p, b.len);
    free(b.p);
}

void __ck_main_returned(int rc)
{
    if (rc)
        fprintf(stderr, "main() returned %d\n", rc);
}
