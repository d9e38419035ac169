/*
 * jp_buf.c - growable, capped, always NUL-terminated byte buffer (see jp_buf.h).
 *
 * Grows geometrically up to the buffer's limit and refuses to pass it, leaving the content
 * unchanged on any failure. Does not do I/O and does not wipe memory (callers holding secrets
 * wipe before dispose). Used by the codecs in proto/, the kernel and the server.
 */
#include "jp_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
