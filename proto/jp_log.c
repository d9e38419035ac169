/*
 * jp_log.c - the log line writer (see jp_log.h). Formats into one buffer and writes it
 * with a single write(2) so lines from several processes do not interleave. In the JSON
 * format the formatted message is split into its key=value fields and written as one JSON
 * object, still into stack buffers (no allocation while logging).
 */
#include "jp_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jp_buf.h"
#include "jp_time.h"

enum jp_log_level jp_log_threshold = JP_LOG_INFO;
static int log_json;

void jp_log_set_format(const char *name)
{
    if (name && strcmp(name, "json") == 0)
        log_json = 1;
    else if (name && strcmp(name, "text") == 0)
        log_json = 0;
}

/* A bounded writer: never overflows, keeps room for the NUL. */
struct jw {
    char *p;
    size_t len, size;
};

static void jw_add(struct jw *w, const char *s, size_t n)
{
    if (w->size == 0)
        return;
    if (n > w->size - 1 - w->len)
        n = w->size - 1 - w->len;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void jw_adds(struct jw *w, const char *s)
{
    jw_add(w, s, strlen(s));
}

/* A JSON string literal of n bytes: at most 6 output bytes per input byte, plus the quotes. */
static void jw_str(struct jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    jw_add(w, "\"", 1);
    while (p < end) {
        size_t run = 0, k;
        while (p + run < end && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        jw_add(w, (const char *)p, run);
        p += run;
        if (p == end)
            break;
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            jw_add(w, e, 2);
            p++;
        } else if (*p < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            jw_add(w, e, 6);
            p++;
        } else if ((k = jp_utf8_len(p, (size_t)(end - p))) != 0) {
            jw_add(w, (const char *)p, k);
            p += k;
        } else {
            jw_add(w, "\\ufffd", 6);
            p++;
        }
    }
    jw_add(w, "\"", 1);
}

static int key_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

/* -?(0|[1-9][0-9]*), at most 15 digits (exact in a double, so in every JSON reader). */
static int is_integer(const char *s, size_t n)
{
    size_t i = n && s[0] == '-';
    if (i == n || n - i > 15 || (s[i] == '0' && n - i > 1))
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

#define MAX_FIELDS 32

struct field {
    const char *key, *val;
    size_t klen, vlen;
    int quoted;
};

/* If a key=value token starts at s[i], fill *f and return the index after it, else 0. */
static size_t parse_field(const char *s, size_t n, size_t i, struct field *f)
{
    size_t k = i, j;

    if (!key_char(s[k], 1))
        return 0;
    while (k < n && key_char(s[k], 0))
        k++;
    if (k == n || s[k] != '=')
        return 0;
    f->key = s + i;
    f->klen = k - i;
    k++;
    if (k < n && s[k] == '"') {
        for (j = k + 1; j < n && !(s[j] == '"' && (j + 1 == n || s[j + 1] == ' ')); j++)
            ;
        f->val = s + k + 1;
        f->vlen = j - k - 1;
        f->quoted = 1;
        return j < n ? j + 1 : n;
    }
    for (j = k; j < n && s[j] != ' '; j++)
        ;
    f->val = s + k;
    f->vlen = j - k;
    f->quoted = 0;
    return j;
}

static int key_taken(const struct field *f, size_t nf, const char *key, size_t klen)
{
    static const char *const reserved[] = {"time", "level", "component", "message"};
    for (size_t i = 0; i < 4; i++)
        if (strlen(reserved[i]) == klen && memcmp(reserved[i], key, klen) == 0)
            return 1;
    for (size_t i = 0; i < nf; i++)
        if (f[i].klen == klen && memcmp(f[i].key, key, klen) == 0)
            return 1;
    return 0;
}

size_t jp_log_json_line(char *out, size_t size, const char *time, enum jp_log_level lvl,
                        const char *module, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct field f[MAX_FIELDS];
    size_t nf = 0, n = strlen(msg), i = 0, mlen = 0;
    /* the message words, each stretch between fields kept as written, joined by one space;
     * never longer than msg */
    char words[JP_LOG_MSG_MAX];
    struct jw w = {out, 0, size};

    if (size)
        out[0] = '\0';
    if (n >= sizeof words)
        n = sizeof words - 1;
    while (i < n) {
        size_t start, end;
        while (i < n && msg[i] == ' ')
            i++;
        start = end = i;
        /* a stretch of plain words, up to the next field */
        while (i < n) {
            struct field t;
            size_t next = nf < MAX_FIELDS ? parse_field(msg, n, i, &t) : 0;
            if (next && !key_taken(f, nf, t.key, t.klen)) {
                f[nf++] = t;
                i = next;
                break;
            }
            while (i < n && msg[i] != ' ')
                i++;
            end = i;
            while (i < n && msg[i] == ' ')
                i++;
        }
        if (end > start) {
            if (mlen)
                words[mlen++] = ' ';
            memcpy(words + mlen, msg + start, end - start);
            mlen += end - start;
        }
    }
    jw_adds(&w, "{\"time\":");
    jw_str(&w, time, strlen(time));
    jw_adds(&w, ",\"level\":\"");
    jw_adds(&w, names[lvl]);
    jw_adds(&w, "\",\"component\":");
    jw_str(&w, module, strnlen(module, 63));
    jw_adds(&w, ",\"message\":");
    jw_str(&w, words, mlen);
    for (i = 0; i < nf; i++) {
        jw_adds(&w, ",");
        jw_str(&w, f[i].key, f[i].klen);
        jw_adds(&w, ":");
        if (!f[i].quoted && is_integer(f[i].val, f[i].vlen))
            jw_add(&w, f[i].val, f[i].vlen);
        else
            jw_str(&w, f[i].val, f[i].vlen);
    }
    jw_adds(&w, "}\n");
    return w.len;
}

void jp_log_set_level(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0)
            jp_log_threshold = (enum jp_log_level)i;
}

void jp_log_write(enum jp_log_level lvl, const char *module, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[JP_LOG_MSG_MAX], ts[JP_TIME_LEN];
    va_list ap;
    jp_time_format(jp_time_now_us(), ts, sizeof ts);
    if (log_json) {
        char json[JP_LOG_JSON_MAX];
        va_start(ap, fmt);
        int m = vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        if (m < 0)
            line[0] = '\0';
        size_t len = jp_log_json_line(json, sizeof json, ts, lvl, module, line);
        ssize_t w = write(2, json, len);
        (void)w;
        return;
    }
    int n = snprintf(line, sizeof line, "%s %s %s ", ts, names[lvl], module);
    if (n < 0)
        return;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}
