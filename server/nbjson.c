/*
 * nbjson.c - nbformat's notebook JSON writer and reader transforms in C (see nbjson.h).
 *
 * The writer is a port of the behaviour of CPython's json encoder with indent=1,
 * sort_keys=True, separators=(",", ": ") and ensure_ascii=False (Lib/json/encoder.py,
 * Modules/_json.c) and of float.__repr__ (Python/pystrtod.c, 'r' format: shortest
 * round-trip digits, fixed notation while the decimal exponent is in [-4, 16)). The line
 * transforms follow nbformat/v4/rwbase.py (split_lines, rejoin_lines, strip_transient) key
 * for key. Does no I/O and knows nothing of HTTP or files; server/contents.c calls it.
 */
#include "nbjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_err.h"

/* ---- floats: Python repr ---------------------------------------------------------------- */

/* Split the output of "%.*e" into its digits (no dot, no sign) and decimal exponent. */
static void parse_e(const char *s, char *digits, size_t *ndigits, int *exp10)
{
    size_t n = 0;
    const char *p = s;

    if (*p == '-')
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    digits[n] = '\0';
    *ndigits = n;
    *exp10 = (int)strtol(p + 1, NULL, 10);
}

/* Build "[-]d.ddde<exp>" from digits so strtod can check a candidate. */
static void make_e(char *out, size_t outlen, int neg, const char *digits, size_t n, int exp10)
{
    snprintf(out, outlen, "%s%c%s%.*se%d", neg ? "-" : "", digits[0], n > 1 ? "." : "",
             (int)(n - 1), digits + 1, exp10);
}

/* Add one unit in the last place of an n-digit decimal, renormalising 99..9 -> 10..0. */
static void digits_increment(char *digits, size_t n, int *exp10)
{
    size_t i = n;

    while (i > 0) {
        i--;
        if (digits[i] != '9') {
            digits[i]++;
            return;
        }
        digits[i] = '0';
    }
    /* all nines: the value is now 10^n of the old unit; keep n digits */
    digits[0] = '1';
    (*exp10)++;
}

/* Shortest digit string that reads back as v (|v| finite, non-zero), like David Gay's dtoa
 * mode 0: the correctly rounded p-digit decimal for the smallest p that round-trips. At a
 * power of two the gap below v is half the gap above, so the nearest p-digit decimal can
 * miss while the next one up still reads back; that candidate is tried too. */
static void shortest_digits(double v, char *digits, size_t *ndigits, int *exp10)
{
    char buf[64], cand[64];
    int p;

    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v) {
            parse_e(buf, digits, ndigits, exp10);
            return;
        }
        if (strtod(buf, NULL) < v ? v > 0 : v < 0) {
            /* the nearest candidate is closer to zero than v: try one unit further out */
            char d[32];
            size_t n;
            int e;

            parse_e(buf, d, &n, &e);
            digits_increment(d, n, &e);
            make_e(cand, sizeof cand, v < 0, d, n, e);
            if (strtod(cand, NULL) == v) {
                memcpy(digits, d, n + 1);
                *ndigits = n;
                *exp10 = e;
                return;
            }
        }
    }
    /* 17 digits always round-trip; not reached */
    snprintf(buf, sizeof buf, "%.16e", v);
    parse_e(buf, digits, ndigits, exp10);
}

size_t nbjson_format_double(double v, char *out)
{
    char digits[32];
    size_t n, len = 0;
    int exp10, decpt;

    if (isnan(v))
        return (size_t)snprintf(out, NBJSON_DOUBLE_LEN, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, NBJSON_DOUBLE_LEN, "%s", v < 0 ? "-Infinity" : "Infinity");
    if (v == 0)
        return (size_t)snprintf(out, NBJSON_DOUBLE_LEN, "%s", signbit(v) ? "-0.0" : "0.0");

    shortest_digits(v, digits, &n, &exp10);
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    decpt = exp10 + 1; /* v = 0.d1d2... x 10^decpt */
    if (v < 0)
        out[len++] = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out[len++] = '0';
            out[len++] = '.';
            for (int i = 0; i < -decpt; i++)
                out[len++] = '0';
            memcpy(out + len, digits, n);
            len += n;
        } else if ((size_t)decpt >= n) {
            memcpy(out + len, digits, n);
            len += n;
            for (size_t i = n; i < (size_t)decpt; i++)
                out[len++] = '0';
            out[len++] = '.';
            out[len++] = '0';
        } else {
            memcpy(out + len, digits, (size_t)decpt);
            len += (size_t)decpt;
            out[len++] = '.';
            memcpy(out + len, digits + decpt, n - (size_t)decpt);
            len += n - (size_t)decpt;
        }
        out[len] = '\0';
        return len;
    }
    out[len++] = digits[0];
    if (n > 1) {
        out[len++] = '.';
        memcpy(out + len, digits + 1, n - 1);
        len += n - 1;
    }
    len += (size_t)snprintf(out + len, NBJSON_DOUBLE_LEN - len, "e%c%02d", exp10 < 0 ? '-' : '+',
                            abs(exp10));
    return len;
}

/* ---- the writer ------------------------------------------------------------------------- */

static int dump_string(const char *s, size_t len, struct jp_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    int rc;

    if ((rc = jp_buf_add(out, "\"", 1)) < 0)
        return rc;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[6];
        size_t elen = 2;

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        esc[0] = '\\';
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        }
        if ((rc = jp_buf_add(out, s + run, i - run)) < 0 || (rc = jp_buf_add(out, esc, elen)) < 0)
            return rc;
        run = i + 1;
    }
    if ((rc = jp_buf_add(out, s + run, len - run)) < 0)
        return rc;
    return jp_buf_add(out, "\"", 1);
}

static int newline_indent(struct jp_buf *out, size_t level)
{
    int rc = jp_buf_add(out, "\n", 1);

    for (size_t i = 0; rc == 0 && i < level; i++)
        rc = jp_buf_add(out, " ", 1);
    return rc;
}

struct key {
    const char *s;
    size_t len;
    json_t *value;
};

/* Python sorts str keys by code point; UTF-8 byte order is the same order. */
static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int dump_value(const json_t *v, size_t level, struct jp_buf *out);

static int dump_object(const json_t *v, size_t level, struct jp_buf *out)
{
    /* jansson's iterators take a non-const object; nothing here modifies it */
    json_t *obj = (json_t *)v;
    size_t n = json_object_size(obj), i = 0;
    struct key *keys;
    void *it;
    int rc = 0;

    if (n == 0)
        return jp_buf_add(out, "{}", 2);
    keys = jp_malloc(n * sizeof *keys);
    if (!keys)
        return JP_ENOMEM;
    for (it = json_object_iter(obj); it && i < n; it = json_object_iter_next(obj, it), i++) {
        keys[i].s = json_object_iter_key(it);
        keys[i].len = json_object_iter_key_len(it);
        keys[i].value = json_object_iter_value(it);
    }
    n = i;
    qsort(keys, n, sizeof *keys, key_cmp);
    rc = jp_buf_add(out, "{", 1);
    for (i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = jp_buf_add(out, ",", 1);
        if (rc == 0)
            rc = newline_indent(out, level + 1);
        if (rc == 0)
            rc = dump_string(keys[i].s, keys[i].len, out);
        if (rc == 0)
            rc = jp_buf_add(out, ": ", 2);
        if (rc == 0)
            rc = dump_value(keys[i].value, level + 1, out);
    }
    if (rc == 0)
        rc = newline_indent(out, level);
    if (rc == 0)
        rc = jp_buf_add(out, "}", 1);
    jp_free(keys);
    return rc;
}

static int dump_array(const json_t *v, size_t level, struct jp_buf *out)
{
    size_t n = json_array_size(v);
    int rc;

    if (n == 0)
        return jp_buf_add(out, "[]", 2);
    rc = jp_buf_add(out, "[", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = jp_buf_add(out, ",", 1);
        if (rc == 0)
            rc = newline_indent(out, level + 1);
        if (rc == 0)
            rc = dump_value(json_array_get(v, i), level + 1, out);
    }
    if (rc == 0)
        rc = newline_indent(out, level);
    if (rc == 0)
        rc = jp_buf_add(out, "]", 1);
    return rc;
}

static int dump_value(const json_t *v, size_t level, struct jp_buf *out)
{
    char num[NBJSON_DOUBLE_LEN];

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return dump_object(v, level, out);
    case JSON_ARRAY:
        return dump_array(v, level, out);
    case JSON_STRING:
        return dump_string(json_string_value(v), json_string_length(v), out);
    case JSON_INTEGER:
        return jp_buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return jp_buf_add(out, num, nbjson_format_double(json_real_value(v), num));
    case JSON_TRUE:
        return jp_buf_add(out, "true", 4);
    case JSON_FALSE:
        return jp_buf_add(out, "false", 5);
    case JSON_NULL:
    default:
        return jp_buf_add(out, "null", 4);
    }
}

int nbjson_dumps(const json_t *v, struct jp_buf *out)
{
    if (!v)
        return JP_EINVAL;
    return dump_value(v, 0, out);
}

/* ---- split_lines / rejoin_lines / strip_transient --------------------------------------- */

/* Length of the line boundary at s[i] (0 if none), as Python's str.splitlines sees it. */
static size_t boundary_len(const unsigned char *s, size_t len, size_t i)
{
    switch (s[i]) {
    case '\n':
    case 0x0b:
    case 0x0c:
    case 0x1c:
    case 0x1d:
    case 0x1e:
        return 1;
    case '\r':
        return i + 1 < len && s[i + 1] == '\n' ? 2 : 1;
    case 0xc2: /* U+0085 NEXT LINE */
        return i + 1 < len && s[i + 1] == 0x85 ? 2 : 0;
    case 0xe2: /* U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR */
        return i + 2 < len && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9) ? 3 : 0;
    default:
        return 0;
    }
}

/* str.splitlines(True) of a JSON string: a new array, NULL on out-of-memory. */
static json_t *split_string(const json_t *str)
{
    const unsigned char *s = (const unsigned char *)json_string_value(str);
    size_t len = json_string_length(str), start = 0, i = 0;
    json_t *lines = json_array();

    if (!lines)
        return NULL;
    while (i < len) {
        size_t b = boundary_len(s, len, i);

        if (!b) {
            i++;
            continue;
        }
        i += b;
        if (json_array_append_new(lines, json_stringn_nocheck((const char *)s + start, i - start)) <
            0)
            goto fail;
        start = i;
    }
    if (start < len && json_array_append_new(
                           lines, json_stringn_nocheck((const char *)s + start, len - start)) < 0)
        goto fail;
    return lines;
fail:
    json_decref(lines);
    return NULL;
}

/* "".join(list) when every item is a string; NULL when not (or out of memory: *oom set). */
static json_t *join_strings(const json_t *list, int *oom)
{
    size_t total = 0, n = json_array_size(list), off = 0;
    json_t *joined;
    char *buf;

    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);

        if (!json_is_string(item))
            return NULL;
        total += json_string_length(item);
    }
    buf = jp_malloc(total + 1);
    if (!buf) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);

        memcpy(buf + off, json_string_value(item), json_string_length(item));
        off += json_string_length(item);
    }
    joined = json_stringn_nocheck(buf, total);
    jp_free(buf);
    if (!joined)
        *oom = 1;
    return joined;
}

/* Replace obj[key] (a string) by its lines. */
static int split_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key), *lines;

    if (!json_is_string(v))
        return 0;
    lines = split_string(v);
    if (!lines || json_object_set_new(obj, key, lines) < 0)
        return JP_ENOMEM;
    return 0;
}

/* Replace obj[key] (a list of strings) by their concatenation. */
static int join_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key), *joined;
    int oom = 0;

    if (!json_is_array(v))
        return 0;
    joined = join_strings(v, &oom);
    if (!joined)
        return oom ? JP_ENOMEM : 0;
    if (json_object_set_new(obj, key, joined) < 0)
        return JP_ENOMEM;
    return 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* rwbase._is_json_mime */
static int is_json_mime(const char *key, size_t len)
{
    return strcmp(key, "application/json") == 0 ||
           (starts_with(key, "application/") && ends_with(key, len, "+json"));
}

/* rwbase._split_mimebundle: text/..., image/svg+xml and application/javascript strings. */
static int split_mimebundle(json_t *bundle)
{
    void *it;

    if (!json_is_object(bundle))
        return 0;
    for (it = json_object_iter(bundle); it; it = json_object_iter_next(bundle, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it), *lines;

        if (!json_is_string(v) ||
            !(starts_with(key, "text/") || strcmp(key, "application/javascript") == 0 ||
              strcmp(key, "image/svg+xml") == 0))
            continue;
        lines = split_string(v);
        if (!lines || json_object_iter_set_new(bundle, it, lines) < 0)
            return JP_ENOMEM;
    }
    return 0;
}

/* rwbase._rejoin_mimebundle: every non-JSON mime whose value is a list of strings. */
static int rejoin_mimebundle(json_t *bundle)
{
    void *it;

    if (!json_is_object(bundle))
        return 0;
    for (it = json_object_iter(bundle); it; it = json_object_iter_next(bundle, it)) {
        json_t *v = json_object_iter_value(it), *joined;
        int oom = 0;

        if (!json_is_array(v) ||
            is_json_mime(json_object_iter_key(it), json_object_iter_key_len(it)))
            continue;
        joined = join_strings(v, &oom);
        if (oom)
            return JP_ENOMEM;
        if (joined && json_object_iter_set_new(bundle, it, joined) < 0)
            return JP_ENOMEM;
    }
    return 0;
}

static int str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Apply bundle_fn to every value of cell.attachments. */
static int each_attachment(json_t *cell, int (*bundle_fn)(json_t *))
{
    json_t *att = json_object_get(cell, "attachments");
    void *it;
    int rc;

    if (!json_is_object(att))
        return 0;
    for (it = json_object_iter(att); it; it = json_object_iter_next(att, it))
        if ((rc = bundle_fn(json_object_iter_value(it))) < 0)
            return rc;
    return 0;
}

int nbjson_split_lines(json_t *nb)
{
    json_t *cells = json_object_get(nb, "cells");
    int rc;

    for (size_t i = 0; i < json_array_size(cells); i++) {
        json_t *cell = json_array_get(cells, i), *outputs;

        if (!json_is_object(cell))
            continue;
        if ((rc = split_member(cell, "source")) < 0 ||
            (rc = each_attachment(cell, split_mimebundle)) < 0)
            return rc;
        if (!str_is(json_object_get(cell, "cell_type"), "code"))
            continue;
        outputs = json_object_get(cell, "outputs");
        for (size_t j = 0; j < json_array_size(outputs); j++) {
            json_t *out = json_array_get(outputs, j);
            json_t *type = json_object_get(out, "output_type");

            if (str_is(type, "execute_result") || str_is(type, "display_data"))
                rc = split_mimebundle(json_object_get(out, "data"));
            else if (str_is(type, "stream"))
                rc = split_member(out, "text");
            else
                rc = 0;
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int nbjson_rejoin_lines(json_t *nb)
{
    json_t *cells = json_object_get(nb, "cells");
    int rc;

    for (size_t i = 0; i < json_array_size(cells); i++) {
        json_t *cell = json_array_get(cells, i), *outputs;

        if (!json_is_object(cell))
            continue;
        if ((rc = join_member(cell, "source")) < 0 ||
            (rc = each_attachment(cell, rejoin_mimebundle)) < 0)
            return rc;
        if (!str_is(json_object_get(cell, "cell_type"), "code"))
            continue;
        outputs = json_object_get(cell, "outputs");
        for (size_t j = 0; j < json_array_size(outputs); j++) {
            json_t *out = json_array_get(outputs, j);
            json_t *type = json_object_get(out, "output_type");

            if (!json_is_object(out))
                continue;
            if (str_is(type, "execute_result") || str_is(type, "display_data"))
                rc = rejoin_mimebundle(json_object_get(out, "data"));
            else if (json_is_string(type) && json_string_length(type) > 0)
                rc = join_member(out, "text");
            else
                rc = 0;
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

void nbjson_strip_transient(json_t *nb)
{
    json_t *meta = json_object_get(nb, "metadata");
    json_t *cells = json_object_get(nb, "cells");

    if (json_is_object(meta)) {
        json_object_del(meta, "orig_nbformat");
        json_object_del(meta, "orig_nbformat_minor");
        json_object_del(meta, "signature");
    }
    for (size_t i = 0; i < json_array_size(cells); i++) {
        json_t *cmeta = json_object_get(json_array_get(cells, i), "metadata");

        if (json_is_object(cmeta))
            json_object_del(cmeta, "trusted");
    }
}

int nbjson_write_notebook(const json_t *nb, struct jp_buf *out)
{
    json_t *copy;
    int rc;

    if (!json_is_object(nb))
        return JP_EINVAL;
    copy = json_deep_copy(nb);
    if (!copy)
        return JP_ENOMEM;
    rc = nbjson_split_lines(copy);
    if (rc == 0) {
        nbjson_strip_transient(copy);
        rc = nbjson_dumps(copy, out);
    }
    if (rc == 0)
        rc = jp_buf_add(out, "\n", 1);
    json_decref(copy);
    return rc;
}

int nbjson_read_notebook(const char *data, size_t len, json_t **out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *nb;
    int rc;

    nb = json_loadb(data, len, JSON_ALLOW_NUL, &jerr);
    if (!nb) {
        if (errlen)
            snprintf(err, errlen, "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        /* jansson reports its own allocation failures as errors too */
        return json_error_code(&jerr) == json_error_out_of_memory ? JP_ENOMEM : JP_EPARSE;
    }
    if (!json_is_object(nb) || !json_is_array(json_object_get(nb, "cells"))) {
        if (errlen)
            snprintf(err, errlen, "%s",
                     json_is_object(nb) ? "the notebook has no \"cells\" list"
                                        : "the notebook is not a JSON object");
        json_decref(nb);
        return JP_EPARSE;
    }
    rc = nbjson_rejoin_lines(nb);
    if (rc < 0) {
        json_decref(nb);
        return rc;
    }
    nbjson_strip_transient(nb);
    *out = nb;
    return 0;
}
