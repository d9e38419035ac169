/*
 * jp_buf.h - a growable byte buffer with a mandatory size cap (after curl's dynbuf).
 *
 * Every buffer that holds bytes from the network or from a child process is a jp_buf
 * with a cap, so no input can grow memory without bound. The content is always kept
 * NUL-terminated (the terminator is not counted in len) so text can be used directly.
 * Does not do I/O. Used by proto/, the kernel and the server.
 */
#ifndef JP_BUF_H
#define JP_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct jp_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t limit; /* maximum len; appends past it fail with JP_ETOOBIG */
};

/* Set up an empty buffer that may hold at most `limit` bytes. Allocates nothing. */
void jp_buf_init(struct jp_buf *b, size_t limit);
/* Release the memory; the buffer is empty (same limit) and reusable afterwards. */
void jp_buf_dispose(struct jp_buf *b);
/* Forget the content, keep the allocation. */
void jp_buf_reset(struct jp_buf *b);
/* Append bytes. 0, JP_ENOMEM or JP_ETOOBIG; on failure the buffer is unchanged. */
int jp_buf_add(struct jp_buf *b, const void *data, size_t len);
int jp_buf_adds(struct jp_buf *b, const char *s);
int jp_buf_addf(struct jp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int jp_buf_vaddf(struct jp_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Append `s` as a JSON string literal, quotes included: '"', '\\' and control characters
 * escaped, valid UTF-8 passed through, each invalid byte written as \ufffd, so the result is
 * always valid JSON. 0, JP_ENOMEM or JP_ETOOBIG; on failure the buffer is unchanged. */
int jp_buf_add_jstr(struct jp_buf *b, const char *s);
/* The same for n bytes that may contain NULs (each written as \ufffd, as jansson cannot
 * carry "\u0000" by default). */
int jp_buf_add_jstrn(struct jp_buf *b, const char *s, size_t n);
/* The same without the quotes: only the escaped text, for a JSON string built in pieces (each
 * piece whole UTF-8: a sequence cut by the end of a piece becomes U+FFFDs). */
int jp_buf_add_jesc(struct jp_buf *b, const char *s, size_t n);
/* Length (1-4) of the valid UTF-8 sequence at p, which has `left` bytes; 0 when the bytes
 * there are not one (overlong forms, surrogates and sequences cut short included). */
size_t jp_utf8_len(const unsigned char *p, size_t left);
/* Take ownership of the content (a NUL-terminated heap string, "" if empty; NULL on
 * out-of-memory); the buffer is left empty. Release the string with jp_free (jp_alloc.h). */
char *jp_buf_take(struct jp_buf *b);
/* Remove the first n bytes (n <= len). */
void jp_buf_consume(struct jp_buf *b, size_t n);

#endif
