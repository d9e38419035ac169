/*
 * ck_diag.c - filtering compiler diagnostics down to the user's own lines (see ck_diag.h).
 * Reads gcc's and clang's plain format: "FILE:LINE:COL: SEVERITY: text" (column optional),
 * context lines before a message, notes after it. Quotes around names vary with the locale
 * ('f' or ‘f’), so nothing here depends on them.
 */
#include "ck_diag.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jp_err.h"

enum line_kind {
    L_ERROR,   /* error or fatal error: starts a group */
    L_WARNING, /* starts a group */
    L_NOTE,    /* belongs to the group before it */
    L_FN,      /* "FILE: In function 'f':" - context */
    L_CONTEXT, /* other context: include chains, "In function 'f'," + "inlined from" */
    L_DROP,    /* never shown */
    L_OTHER    /* anything else: belongs to the group before it */
};

struct slice {
    const char *p;
    size_t n;
};

/* "In[3]:2:5" -> "In[3]": strip up to two trailing ":digits". */
static struct slice loc_file(const char *p, size_t n)
{
    for (int k = 0; k < 2; k++) {
        size_t i = n;
        while (i > 0 && isdigit((unsigned char)p[i - 1]))
            i--;
        if (i == n || i == 0 || p[i - 1] != ':')
            break;
        n = i - 1;
    }
    struct slice s = {p, n};
    return s;
}

/* Does the location text p[0..n) ("FILE:L:C") end in ":digits" ("cc1" does not)? */
static int has_line(const char *p, size_t n)
{
    size_t i = n;
    while (i > 0 && isdigit((unsigned char)p[i - 1]))
        i--;
    return i < n && i > 1 && p[i - 1] == ':';
}

static int slice_is(struct slice s, const char *z)
{
    return s.p && strlen(z) == s.n && memcmp(s.p, z, s.n) == 0;
}

static const char *find_in(const char *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(p + i, needle, m) == 0)
            return p + i;
    return NULL;
}

/* Classify one line; *file is the file of its location (p == NULL when it has none). */
static enum line_kind classify(const char *p, size_t n, struct slice *file)
{
    static const struct {
        const char *mark;
        enum line_kind kind;
    } sev[] = {{": fatal error: ", L_ERROR},
               {": error: ", L_ERROR},
               {": warning: ", L_WARNING},
               {": note: ", L_NOTE}};
    file->p = NULL;
    file->n = 0;
    /* clang's summary line */
    if (find_in(p, n, " generated.") && n > 0 && isdigit((unsigned char)p[0]))
        return L_DROP;
    const char *s = p;
    while (s < p + n && (*s == ' ' || *s == '\t'))
        s++;
    size_t left = (size_t)(p + n - s);
    if (left >= 5 && memcmp(s, "from ", 5) == 0 && s > p) {
        *file = loc_file(s + 5, left - 5 - (p[n - 1] == ':' || p[n - 1] == ','));
        return L_CONTEXT; /* "                 from X:3:" in an include chain */
    }
    if (left >= 13 && memcmp(s, "inlined from ", 13) == 0) {
        const char *at = find_in(s, left, " at ");
        if (at) {
            size_t l = (size_t)(p + n - (at + 4));
            *file = loc_file(at + 4, l - (l && (p[n - 1] == ':' || p[n - 1] == ',')));
        }
        return L_CONTEXT;
    }
    if (n >= 22 && memcmp(p, "In file included from ", 22) == 0)
        return L_CONTEXT; /* the user's #include line is not their warning */
    if (n >= 12 && memcmp(p, "In function ", 12) == 0)
        return L_CONTEXT; /* "In function 'memcpy'," before "inlined from" lines */
    /* the earliest severity mark decides: a message may quote another */
    const char *best = NULL;
    enum line_kind kind = L_OTHER;
    for (size_t i = 0; i < sizeof sev / sizeof sev[0]; i++) {
        const char *m = find_in(p, n, sev[i].mark);
        if (m && (!best || m < best)) {
            best = m;
            kind = sev[i].kind;
        }
    }
    if (best) {
        size_t ln = (size_t)(best - p);
        if (has_line(p, ln))
            *file = loc_file(p, ln);
        return kind;
    }
    const char *c = find_in(p, n, ": In ");
    if (c && p[n - 1] == ':') {
        *file = loc_file(p, (size_t)(c - p));
        return find_in(c, (size_t)(p + n - c), " function ") ? L_FN : L_CONTEXT;
    }
    if (find_in(p, n, ": At top level:"))
        return L_DROP;
    return L_OTHER;
}

struct filter {
    const char *cell;
    struct jp_buf *out;
    struct jp_buf ctx;   /* context lines waiting for their message */
    struct jp_buf group; /* the open group: context, message, notes */
    int open;
    enum line_kind kind; /* of the open group's message, L_NOTE for orphan notes */
    int generated;       /* its message is located in generated code */
    int located;         /* its message has a source location */
    int mine;            /* something in it is located in the current cell */
    int ctx_mine;        /* a waiting "inlined from" line is located in the current cell */
    struct jp_buf fn;    /* the last "In function 'f':" line not yet shown */
};

static int add_line(struct jp_buf *b, const char *p, size_t n)
{
    int rc = jp_buf_add(b, p, n);
    return rc ? rc : jp_buf_add(b, "\n", 1);
}

static int close_group(struct filter *f)
{
    int rc = 0;
    if (!f->open)
        return 0;
    int keep;
    if (f->kind == L_ERROR)
        keep = 1;
    else if (f->kind == L_WARNING)
        keep = !f->located || (!f->generated && f->mine);
    else
        keep = f->mine;
    if (keep) {
        /* the function's name, before the first message shown in it */
        if (f->fn.len)
            rc = jp_buf_add(f->out, f->fn.data, f->fn.len);
        jp_buf_reset(&f->fn);
        if (!rc && f->group.len)
            rc = jp_buf_add(f->out, f->group.data, f->group.len);
    }
    jp_buf_reset(&f->group);
    f->open = 0;
    f->mine = 0;
    return rc;
}

static int feed(struct filter *f, const char *p, size_t n)
{
    struct slice file;
    enum line_kind k = classify(p, n, &file);
    int in_cell = slice_is(file, f->cell);
    int rc = 0;
    switch (k) {
    case L_DROP:
        if (find_in(p, n, ": At top level:")) {
            /* what follows is outside any function */
            rc = close_group(f);
            jp_buf_reset(&f->fn);
        }
        return rc;
    case L_FN:
        if ((rc = close_group(f)))
            return rc;
        jp_buf_reset(&f->fn);
        jp_buf_reset(&f->ctx);
        f->ctx_mine = 0;
        /* the kernel's cell function means nothing to the user: no line for it */
        if (find_in(p, n, "__ck_cell_") || slice_is(file, "<cnote>"))
            return 0;
        return add_line(&f->fn, p, n);
    case L_CONTEXT:
        if ((rc = close_group(f)))
            return rc;
        if (in_cell && find_in(p, n, "inlined from "))
            f->ctx_mine = 1; /* for the message that follows */
        return add_line(&f->ctx, p, n);
    case L_ERROR:
    case L_WARNING:
        if ((rc = close_group(f)))
            return rc;
        f->open = 1;
        f->kind = k;
        f->located = file.p != NULL;
        f->generated = slice_is(file, "<cnote>");
        f->mine = f->ctx_mine || in_cell;
        f->ctx_mine = 0;
        if (f->ctx.len)
            rc = jp_buf_add(&f->group, f->ctx.data, f->ctx.len);
        jp_buf_reset(&f->ctx);
        if (!rc)
            rc = add_line(&f->group, p, n);
        return rc;
    case L_NOTE:
        if (!f->open) {
            /* a note with no message before it stands alone */
            f->open = 1;
            f->kind = L_NOTE;
            f->located = file.p != NULL;
            f->generated = 0;
        }
        f->mine = f->mine || in_cell;
        /* notes about generated code would only confuse */
        if (slice_is(file, "<cnote>"))
            return 0;
        return add_line(&f->group, p, n);
    case L_OTHER:
        if (!f->open) {
            /* text outside any group (a tool's message): shown as it is */
            return add_line(f->out, p, n);
        }
        return add_line(&f->group, p, n);
    }
    return 0;
}

int ck_diag_filter(const char *text, const char *cell, struct jp_buf *out)
{
    struct filter f;
    memset(&f, 0, sizeof f);
    f.cell = cell;
    f.out = out;
    jp_buf_init(&f.ctx, 1 << 20);
    jp_buf_init(&f.group, 64 << 20);
    jp_buf_init(&f.fn, 1 << 16);
    int rc = 0;
    for (const char *p = text; !rc && p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n)
            rc = feed(&f, p, n);
        p = e ? e + 1 : NULL;
    }
    if (!rc)
        rc = close_group(&f);
    jp_buf_dispose(&f.ctx);
    jp_buf_dispose(&f.group);
    jp_buf_dispose(&f.fn);
    return rc;
}
