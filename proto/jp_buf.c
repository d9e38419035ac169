/*
 * jp_buf.c - growable, capped, always NUL-terminated byte buffer (see jp_buf.h).
 *
 * Grows geometrically up to the buffer's limit and refuses to pass it, leaving the content
 * unchanged on any failure. Does not do I/O and does not wipe memory (callers holding secrets
 * wipe before dispose). The JSON string escaper looks for bytes to escape 16 at a time (SSE2)
 * or 8 at a time (a uint64_t, elsewhere) and copies the clean stretches whole: stream output is
 * the kernel's bulk. Used by the codecs in proto/, the kernel and the server.
 */
#include "jp_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "jp_alloc.h"
#include "jp_err.h"

#define JP_BUF_MIN_CAP 64

void jp_buf_init(struct jp_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    /* cap must hold limit + 1 for the terminator without overflowing */
    b->limit = limit < SIZE_MAX - 1 ? limit : SIZE_MAX - 2;
}

void jp_buf_dispose(struct jp_buf *b)
{
    jp_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void jp_buf_reset(struct jp_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Make room for `extra` more bytes plus the terminator. */
static int ensure(struct jp_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > b->limit - b->len)
        return JP_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : JP_BUF_MIN_CAP;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->limit + 1)
        ncap = b->limit + 1;
    p = jp_realloc(b->data, ncap);
    if (!p)
        return JP_ENOMEM;
    if (!b->data)
        p[0] = '\0';
    b->data = p;
    b->cap = ncap;
    return 0;
}

int jp_buf_add(struct jp_buf *b, const void *data, size_t len)
{
    int rc;

    rc = ensure(b, len);
    if (rc < 0)
        goto out;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
out:
    return rc;
}

int jp_buf_adds(struct jp_buf *b, const char *s)
{
    return jp_buf_add(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

size_t jp_utf8_len(const unsigned char *p, size_t left)
{
    if (!left)
        return 0;
    size_t need = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 1;
    return need > left ? 0 : utf8_len(p);
}

int jp_buf_add_jstr(struct jp_buf *b, const char *s)
{
    return jp_buf_add_jstrn(b, s, strlen(s));
}

/* Append n bytes when they fit in the allocation without growing (the common case once the
 * buffer was sized); the terminator is left to the caller. Otherwise jp_buf_add. The fast path
 * keeps len + n < cap <= limit + 1, so the limit holds and the terminator still has room. */
static inline int put(struct jp_buf *b, const void *data, size_t n)
{
    if (n < b->cap - b->len) {
        memcpy(b->data + b->len, data, n);
        b->len += n;
        return 0;
    }
    return jp_buf_add(b, data, n);
}

/* True for the bytes a JSON string cannot hold as they are: controls, '"', '\\', and the
 * bytes >= 0x80 that start (or are not) a UTF-8 sequence to check. */
static inline int special(unsigned char c)
{
    return c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
}

#if !defined(__SSE2__)
#define ONES ((uint64_t)0x0101010101010101)
#define HIGHS ((uint64_t)0x8080808080808080)
/* Whether any of the 8 bytes of w is special(): x - n*ONES & ~x & HIGHS is non-zero exactly
 * when some byte of x is below n (n <= 0x80), and (x ^ c*ONES) has a zero byte where x holds
 * c. Which byte it is does not matter here (the caller looks byte by byte then). */
static inline int special8(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), bs = w ^ (ONES * '\\');
    uint64_t hit = ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs) | w;
    return (hit & HIGHS) != 0;
}
#endif

#if defined(__SSE2__)
static inline unsigned special16(__m128i x)
{
    const __m128i sp = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                  bslash = _mm_set1_epi8('\\');
    /* signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them too */
    __m128i m = _mm_or_si128(_mm_cmplt_epi8(x, sp),
                             _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)));
    return (unsigned)_mm_movemask_epi8(m);
}

/* Copy the clean bytes at *pp straight into the spare room of b, 16 at a time, and escape
 * '\n', '\t', '"' and '\\' among them, stopping at any other special() byte, near the end of
 * the input or when the room runs short: each block is stored whole before it is checked (the bytes
 * past the clean ones are beyond len, so they do not count). len stays below cap <= limit + 1, so
 * the limit holds. */
static inline void copy_clean16(struct jp_buf *b, const unsigned char **pp,
                                const unsigned char *end)
{
    const unsigned char *p = *pp;
    char *d, *dend;

    if (!b->data || b->cap - b->len < 18)
        return;
    d = b->data + b->len;
    /* a block of 16, or up to 15 clean bytes and a 2-byte escape, from d <= dend: len stays
     * below cap (room for the terminator) */
    dend = b->data + b->cap - 18;
    while (end - p >= 16 && d <= dend) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        _mm_storeu_si128((__m128i *)(void *)d, x);
        unsigned bits = special16(x);
        if (bits) {
            unsigned n = (unsigned)__builtin_ctz(bits);
            p += n;
            d += n;
            /* the usual ones (a line end, a quote) are written here too, without leaving the
             * loop; the rest (other controls, UTF-8) are the caller's */
            char e = *p == '\n' ? 'n' : *p == '"' ? '"' : *p == '\\' ? '\\' : *p == '\t' ? 't' : 0;
            if (!e)
                break;
            d[0] = '\\';
            d[1] = e;
            d += 2;
            p++;
            continue;
        }
        p += 16;
        d += 16;
    }
    b->len = (size_t)(d - b->data);
    *pp = p;
}
#endif

/* Length of the leading run of p[0..n) with no special() byte: 16 bytes at a time with SSE2
 * (every x86-64), 8 at a time in a uint64_t elsewhere, then byte by byte. */
static size_t clean_run(const unsigned char *p, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        unsigned bits = special16(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
#else
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        if (special8(w))
            break;
    }
#endif
    while (i < n && !special(p[i]))
        i++;
    return i;
}

/* Append the escaped form of s[0..len) (no quotes, no terminator); on failure part of it may
 * have been appended: the callers undo that. */
static int escape(struct jp_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t run;
    int rc = 0;

    /* one allocation for the usual case (little to escape); if even that does not fit under
     * the limit the appends below say so */
    if (len > 64)
        (void)ensure(b, len + len / 8 + 2);
    while (rc == 0 && p < end) {
#if defined(__SSE2__)
        copy_clean16(b, &p, end);
        if (p == end)
            break;
#endif
        /* copy the longest stretch that needs no escaping in one append */
        run = clean_run(p, (size_t)(end - p));
        if (run) {
            rc = put(b, p, run);
            p += run;
            continue;
        }
        char esc[7] = {'\\', 0};
        size_t n = *p >= 0x80 ? jp_utf8_len(p, (size_t)(end - p)) : 0;
        if (*p == '"' || *p == '\\') {
            esc[1] = (char)*p;
            rc = put(b, esc, 2);
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
            rc = put(b, esc, 2);
        } else if (*p == 0) {
            rc = put(b, "\\ufffd", 6);
        } else if (*p < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            rc = put(b, esc, 6);
        } else if (n) {
            rc = put(b, p, n);
            p += n - 1;
        } else {
            rc = put(b, "\\ufffd", 6);
        }
        p++;
    }
    return rc;
}

static int undo(struct jp_buf *b, size_t start, int rc)
{
    if (rc != 0) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return rc;
}

int jp_buf_add_jstrn(struct jp_buf *b, const char *s, size_t len)
{
    size_t start = b->len;
    int rc = jp_buf_add(b, "\"", 1);

    if (rc == 0)
        rc = escape(b, s, len);
    if (rc == 0)
        rc = jp_buf_add(b, "\"", 1); /* and the terminator */
    return undo(b, start, rc);
}

int jp_buf_add_jesc(struct jp_buf *b, const char *s, size_t len)
{
    size_t start = b->len;
    int rc = escape(b, s, len);

    if (rc == 0)
        rc = jp_buf_add(b, "", 0); /* the terminator */
    return undo(b, start, rc);
}

int jp_buf_addf(struct jp_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = jp_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int jp_buf_vaddf(struct jp_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    size_t avail;
    int n, rc;

    /* First try to format straight into the spare room; most calls fit. */
    avail = b->data ? b->cap - b->len : 0;
    va_copy(ap2, ap);
    n = vsnprintf(avail ? b->data + b->len : NULL, avail, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        rc = JP_EINVAL;
        goto out;
    }
    if ((size_t)n < avail) {
        if ((size_t)n > b->limit - b->len) {
            b->data[b->len] = '\0';
            rc = JP_ETOOBIG;
            goto out;
        }
        b->len += (size_t)n;
        rc = 0;
        goto out;
    }
    if (avail)
        b->data[b->len] = '\0'; /* undo the partial write: the buffer stays unchanged */
    rc = ensure(b, (size_t)n);
    if (rc < 0)
        goto out;
    va_copy(ap2, ap);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
out:
    return rc;
}

char *jp_buf_take(struct jp_buf *b)
{
    char *s = b->data;

    if (!s) {
        s = jp_malloc(1);
        if (s)
            s[0] = '\0';
        return s;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return s;
}

void jp_buf_consume(struct jp_buf *b, size_t n)
{
    if (n >= b->len) {
        jp_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}
