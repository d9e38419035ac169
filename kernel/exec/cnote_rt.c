/*
 * cnote_rt.c - the runtime behind cnote.h: display functions and the display of a cell's
 * trailing value. Builds the JSON of display_data / update_display_data / clear_output
 * content by hand (the executor links no JSON library) and sends it to the front, which
 * checks it and publishes it on IOPub. Runs inside the executor, in the cell's thread.
 */
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/cnote.h"
#include "ck_frame.h"
#include "exec.h"

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_add(struct sbuf *b, const void *d, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* JSON string literal of n bytes (invalid UTF-8 is left for the front to repair). */
static void sb_json_str(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_add(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        switch (c) {
        case '"':
            sb_add(b, "\\\"", 2);
            break;
        case '\\':
            sb_add(b, "\\\\", 2);
            break;
        case '\n':
            sb_add(b, "\\n", 2);
            break;
        case '\t':
            sb_add(b, "\\t", 2);
            break;
        case '\r':
            sb_add(b, "\\r", 2);
            break;
        default:
            sb_add(b, esc, 6);
        }
    }
    sb_add(b, s + run, n - run);
    sb_add(b, "\"", 1);
}

static void sb_base64(struct sbuf *b, const unsigned char *d, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    sb_add(b, "\"", 1);
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
        sb_add(b, out, 4);
    }
    sb_add(b, "\"", 1);
}

static int is_text_mime(const char *mime)
{
    return strncmp(mime, "text/", 5) == 0 || strcmp(mime, "image/svg+xml") == 0 ||
           strcmp(mime, "application/json") == 0 || strstr(mime, "+json") != NULL ||
           strcmp(mime, "application/javascript") == 0;
}

static void send_display(const char *msg_type, const char *id, const char *mime, const void *data,
                         size_t len)
{
    struct sbuf b = {0};
    if (!mime || (!data && len))
        return;
    sb_adds(&b, "{\"msg_type\":");
    sb_json_str(&b, msg_type, strlen(msg_type));
    sb_adds(&b, ",\"content\":{\"data\":{");
    sb_json_str(&b, mime, strlen(mime));
    sb_adds(&b, ":");
    if (strcmp(mime, "application/json") == 0 || strstr(mime, "+json"))
        sb_add(&b, data, len); /* a JSON value, not a string; the front validates it */
    else if (is_text_mime(mime))
        sb_json_str(&b, data, len);
    else
        sb_base64(&b, data, len);
    if (strcmp(mime, "text/plain") != 0 && is_text_mime(mime) == 0) {
        /* an image alone still needs a text/plain fallback for consoles */
        char alt[96];
        snprintf(alt, sizeof alt, "<%s, %zu bytes>", mime, len);
        sb_adds(&b, ",\"text/plain\":");
        sb_json_str(&b, alt, strlen(alt));
    }
    sb_adds(&b, "},\"metadata\":{}");
    if (id) {
        sb_adds(&b, ",\"transient\":{\"display_id\":");
        sb_json_str(&b, id, strlen(id));
        sb_adds(&b, "}");
    }
    sb_adds(&b, "}}");
    if (!b.failed)
        ck_exec_send_wait(CKF_DISPLAY, b.p, b.len, CKF_ACK);
    free(b.p);
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

static void char_literal(struct sbuf *b, int c)
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
    sb_adds(b, tmp);
}

static void string_literal(struct sbuf *b, const char *s)
{
    size_t max = 4096, i;
    sb_adds(b, "\"");
    for (i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            sb_add(b, tmp, 2);
        } else if (c == '\n') {
            sb_adds(b, "\\n");
        } else if (c == '\t') {
            sb_adds(b, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            sb_adds(b, tmp);
        } else {
            sb_add(b, &s[i], 1);
        }
    }
    sb_adds(b, "\"");
    if (s[i])
        sb_adds(b, "...");
}

void __ck_show(int kind, const char *tname, const char *declared, const void *v, size_t size)
{
    struct sbuf b = {0};
    char tmp[128];
    switch (kind) {
    case __CK_VOID:
        return;
    case __CK_BOOL:
        sb_adds(&b, *(const _Bool *)v ? "true" : "false");
        break;
    case __CK_CHAR:
        char_literal(&b, *(const char *)v);
        break;
    case __CK_SCHAR:
        snprintf(tmp, sizeof tmp, "%d", *(const signed char *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_UCHAR:
        snprintf(tmp, sizeof tmp, "%u", *(const unsigned char *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_SHORT:
        snprintf(tmp, sizeof tmp, "%d", *(const short *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_USHORT:
        snprintf(tmp, sizeof tmp, "%u", *(const unsigned short *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_INT:
        snprintf(tmp, sizeof tmp, "%d", *(const int *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_UINT:
        snprintf(tmp, sizeof tmp, "%u", *(const unsigned *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_LONG:
        snprintf(tmp, sizeof tmp, "%ld", *(const long *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_ULONG:
        snprintf(tmp, sizeof tmp, "%lu", *(const unsigned long *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_LLONG:
        snprintf(tmp, sizeof tmp, "%lld", *(const long long *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_ULLONG:
        snprintf(tmp, sizeof tmp, "%llu", *(const unsigned long long *)v);
        sb_adds(&b, tmp);
        break;
    case __CK_FLOAT:
        fmt_real(tmp, sizeof tmp, *(const float *)v, FLT_DECIMAL_DIG);
        sb_adds(&b, tmp);
        break;
    case __CK_DOUBLE:
        fmt_real(tmp, sizeof tmp, *(const double *)v, DBL_DECIMAL_DIG);
        sb_adds(&b, tmp);
        break;
    case __CK_LDOUBLE:
        fmt_real(tmp, sizeof tmp, *(const long double *)v, 21);
        sb_adds(&b, tmp);
        break;
    case __CK_STR: {
        const char *s = *(const char *const *)v;
        if (s)
            string_literal(&b, s);
        else
            sb_adds(&b, "(char *) NULL");
        break;
    }
    case __CK_PTR: {
        const void *p = *(const void *const *)v;
        snprintf(tmp, sizeof tmp, "(%s) %p", declared ? declared : tname ? tname : "pointer", p);
        if (!p)
            snprintf(tmp, sizeof tmp, "(%s) NULL", declared ? declared : tname ? tname : "pointer");
        sb_adds(&b, tmp);
        break;
    }
    default: {
        const char *what = kind == __CK_STRUCT ? "struct" : kind == __CK_UNION ? "union" : "value";
        snprintf(tmp, sizeof tmp, "<%s: %zu bytes>", declared ? declared : what, size);
        sb_adds(&b, tmp);
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
