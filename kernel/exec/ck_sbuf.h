/*
 * ck_sbuf.h - the growing, NUL-terminated text buffer the exec runtime builds its frames, HTML
 * and SVG in. A failed allocation sets `failed` and later appends do nothing, so a caller checks
 * once at the end. Shared by cnote_rt.c and cnote_plot.c (ck_ names: the executor exports its
 * symbols to cells).
 */
#ifndef CK_SBUF_H
#define CK_SBUF_H

#include <stddef.h>

struct ck_sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

void ck_sb_add(struct ck_sbuf *b, const void *d, size_t n);
void ck_sb_adds(struct ck_sbuf *b, const char *s);

#endif
