/* ck_sbuf.c - see ck_sbuf.h */
#include "ck_sbuf.h"

#include <stdlib.h>
#include <string.h>

void ck_sb_add(struct ck_sbuf *b, const void *d, size_t n)
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

void ck_sb_adds(struct ck_sbuf *b, const char *s)
{
    ck_sb_add(b, s, strlen(s));
}
