/*
 * ck_intro.c - is_complete, completion, inspection and header harvesting (ck_intro.h).
 *
 * Completion candidates come from four places: C keywords, the session's symbols and
 * prelude names (macros, typedefs, tags, enum constants), the names the included headers
 * declare, and the kernel's magics. Cursor positions are Unicode code points as the
 * messaging protocol (5.2+) requires; they are converted to byte offsets here.
 */
#include "ck_intro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_cell.h"
#include "ck_job.h"
#include "ck_lex.h"
#include "jp_err.h"

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ---- is_complete ---- */

const char *ck_is_complete(const char *code, size_t len, char *indent, size_t indentlen)
{
    struct ck_toks t = {0};
    const char *res = "complete";
    int depth = 0;
    if (indentlen)
        indent[0] = '\0';
    if (ck_lex(code, len, &t))
        return "unknown";
    for (size_t i = 0; i + 1 < t.n; i++) {
        const struct ck_tok *k = &t.v[i];
        if (k->unterminated && k->kind != CK_TOK_DIRECTIVE) {
            res = "invalid"; /* a string or char literal cut by a newline */
            if (i + 2 == t.n)
                res = "incomplete";
            goto out;
        }
        if (k->kind != CK_TOK_PUNCT || k->len != 1)
            continue;
        char c = code[k->start];
        if (c == '(' || c == '[' || c == '{')
            depth++;
        else if (c == ')' || c == ']' || c == '}') {
            if (--depth < 0) {
                res = "invalid";
                goto out;
            }
        }
    }
    if (t.unterminated_comment || t.trailing_backslash || depth > 0) {
        res = "incomplete";
        for (int d = 0; d < depth && (size_t)(d * 4 + 5) <= indentlen && d < 15; d++)
            memcpy(indent + d * 4, "    ", 5);
    }
out:
    ck_toks_dispose(&t);
    return res;
}

/* ---- names table ---- */

void ck_names_dispose(struct ck_names *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].decl);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

static int names_add(struct ck_names *t, const char *name, size_t len, enum ck_name_kind kind,
                     const char *decl, size_t decl_len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct ck_name *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    struct ck_name e = {xstrndup(name, len), kind, xstrndup(decl, decl_len)};
    if (!e.name || !e.decl) {
        free(e.name);
        free(e.decl);
        return JP_ENOMEM;
    }
    t->v[t->n++] = e;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct ck_name *)a)->name, ((const struct ck_name *)b)->name);
}

const struct ck_name *ck_names_find(const struct ck_names *t, const char *name, size_t len)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(t->v[mid].name, name, len);
        if (c == 0 && t->v[mid].name[len] != '\0')
            c = 1;
        if (c == 0)
            return &t->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* typedef names known while scanning, for the splitter's predicate */
struct tdset {
    char **v;
    size_t n, cap;
    /* open-addressing hash of indices into v */
    size_t *slots;
    size_t nslots;
};

static size_t hash(const char *s, size_t n)
{
    size_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int td_has(void *ctx, const char *name, size_t len)
{
    struct tdset *s = ctx;
    if (!s->nslots)
        return 0;
    for (size_t h = hash(name, len) & (s->nslots - 1);; h = (h + 1) & (s->nslots - 1)) {
        size_t i = s->slots[h];
        if (i == 0)
            return 0;
        const char *v = s->v[i - 1];
        if (strlen(v) == len && memcmp(v, name, len) == 0)
            return 1;
    }
}

static int td_add(struct tdset *s, const char *name, size_t len)
{
    if (td_has(s, name, len))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 128;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    if ((s->n + 1) * 2 > s->nslots) {
        size_t ns = s->nslots ? s->nslots * 2 : 512;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
            return JP_ENOMEM;
        for (size_t i = 0; i < s->n; i++) {
            size_t h = hash(s->v[i], strlen(s->v[i])) & (ns - 1);
            while (slots[h])
                h = (h + 1) & (ns - 1);
            slots[h] = i + 1;
        }
        free(s->slots);
        s->slots = slots;
        s->nslots = ns;
    }
    char *c = xstrndup(name, len);
    if (!c)
        return JP_ENOMEM;
    s->v[s->n++] = c;
    size_t h = hash(name, len) & (s->nslots - 1);
    while (s->slots[h])
        h = (h + 1) & (s->nslots - 1);
    s->slots[h] = s->n;
    return 0;
}

struct scan_ctx {
    struct tdset *td;
    const char *src;
    const struct ck_toks *t;
    struct ck_names *out;
    const struct ck_chunk *chunk;
    int rc;
};

static void scan_type_name(void *ctx, size_t tok)
{
    struct scan_ctx *c = ctx;
    const struct ck_tok *k = &c->t->v[tok];
    if (c->rc)
        return;
    const struct ck_tok *a = &c->t->v[c->chunk->tb], *b = &c->t->v[c->chunk->te - 1];
    size_t dl = b->start + b->len - a->start;
    int is_typedef = (c->chunk->flags & CK_F_TYPEDEF) != 0;
    if (is_typedef)
        c->rc = td_add(c->td, c->src + k->start, k->len);
    if (!c->rc)
        c->rc =
            names_add(c->out, c->src + k->start, k->len, is_typedef ? CK_NAME_TYPE : CK_NAME_CONST,
                      c->src + a->start, dl > 400 ? 0 : dl);
}

int ck_names_scan(const char *text, size_t len, struct ck_names *out, char ***typedefs,
                  size_t *n_typedefs)
{
    struct ck_toks t = {0};
    struct ck_chunks ch = {0};
    struct tdset td = {0};
    int rc;

    if ((rc = ck_lex(text, len, &t)))
        goto out;
    /* typedefs must be known before later declarations are classified: split in one go,
     * the splitter learns the cell's own typedefs as it goes */
    if ((rc = ck_split(text, &t, td_has, &td, &ch)))
        goto out;
    for (size_t i = 0; i < ch.n && !rc; i++) {
        const struct ck_chunk *c = &ch.v[i];
        struct scan_ctx sc = {&td, text, &t, out, c, 0};
        if (c->kind == CK_CHUNK_TYPE || (c->kind == CK_CHUNK_DECL && (c->flags & CK_F_TAGBODY))) {
            ck_type_names(text, &t, c, scan_type_name, &sc);
            rc = sc.rc;
        }
        if (rc)
            break;
        if (c->kind == CK_CHUNK_DEFINE) {
            const struct ck_tok *k = &t.v[c->tb];
            const char *p = text + k->start + 1, *e = text + k->start + k->len;
            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            if (e - p > 7 && memcmp(p, "define", 6) == 0) {
                p += 6;
                while (p < e && (*p == ' ' || *p == '\t'))
                    p++;
                const char *n0 = p;
                while (p < e && (*p == '_' || (*p >= 'a' && *p <= 'z') ||
                                 (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
                    p++;
                if (p > n0 && !(n0[0] == '_' && n0[1] == '_'))
                    rc = names_add(out, n0, (size_t)(p - n0), CK_NAME_MACRO, text + k->start,
                                   k->len > 400 ? 0 : k->len);
            }
        } else if (c->kind == CK_CHUNK_DECL || c->kind == CK_CHUNK_FUNC) {
            struct ck_declarator d[32];
            int n = ck_declarators(text, &t, c, d, 32);
            const struct ck_tok *a = &t.v[c->tb], *b = &t.v[c->te - 1];
            size_t dl = b->start + b->len - a->start;
            for (int k = 0; k < n && !rc; k++) {
                const struct ck_tok *nm = &t.v[d[k].name];
                rc = names_add(out, text + nm->start, nm->len,
                               d[k].is_func ? CK_NAME_FUNC : CK_NAME_VAR, text + a->start,
                               dl > 600 ? 0 : dl);
            }
        }
    }
    if (rc)
        goto out;
    if (out->n) /* v is NULL when nothing was found */
        qsort(out->v, out->n, sizeof *out->v, cmp_name);
    /* drop duplicates, keeping the first (any declaration will do) */
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (w && strcmp(out->v[w - 1].name, out->v[i].name) == 0) {
            if (!*out->v[w - 1].decl && *out->v[i].decl) {
                char *tmp = out->v[w - 1].decl;
                out->v[w - 1].decl = out->v[i].decl;
                out->v[i].decl = tmp;
            }
            free(out->v[i].name);
            free(out->v[i].decl);
            continue;
        }
        out->v[w++] = out->v[i];
    }
    out->n = w;
    if (typedefs) {
        *typedefs = td.v;
        *n_typedefs = td.n;
        td.v = NULL;
        td.n = 0;
    }
out:
    for (size_t i = 0; i < td.n; i++)
        free(td.v[i]);
    free(td.v);
    free(td.slots);
    ck_toks_dispose(&t);
    ck_chunks_dispose(&ch);
    return rc;
}

int ck_names_harvest(const char *cc, const char *incdir, const char *includes, const char *dir,
                     struct ck_names *out, char ***typedefs, size_t *n_typedefs)
{
    char iflag[4096 + 8];
    snprintf(iflag, sizeof iflag, "-I%s", incdir);
    char path[4096];
    struct jp_buf pp;
    int rc = 0;
    snprintf(path, sizeof path, "%s/harvest.c", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return JP_EIO;
    fputs(includes, f);
    if (fclose(f))
        return JP_EIO;
    char *argv[] = {(char *)cc, "-E", "-P", "-dD", "-w", iflag, "harvest.c", NULL};
    jp_buf_init(&pp, 64 << 20);
    if (ck_run(argv, dir, &pp, 20000) != 0) {
        rc = JP_EIO;
        goto out;
    }
    rc = ck_names_scan(pp.data ? pp.data : "", pp.len, out, typedefs, n_typedefs);
out:
    jp_buf_dispose(&pp);
    return rc;
}

/* ---- completion ---- */

static size_t cp_to_byte(const char *s, size_t cp)
{
    size_t i = 0, n = 0;
    while (s[i] && n < cp) {
        i++;
        while ((s[i] & 0xC0) == 0x80)
            i++;
        n++;
    }
    return i;
}

static size_t byte_to_cp(const char *s, size_t b)
{
    size_t n = 0;
    for (size_t i = 0; i < b && s[i]; i++)
        if ((s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static int ident_char(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

struct cand {
    struct ck_completion *c;
    const char *prefix;
    size_t plen;
    size_t cap;
    int rc;
};

static void cand_add(struct cand *k, const char *name, const char *type)
{
    if (k->rc || strncmp(name, k->prefix, k->plen) != 0 || strncmp(name, "__ck", 4) == 0)
        return;
    for (size_t i = 0; i < k->c->n; i++)
        if (strcmp(k->c->matches[i], name) == 0)
            return;
    if (k->c->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 32;
        char **m = realloc(k->c->matches, cap * sizeof *m);
        if (!m) {
            k->rc = JP_ENOMEM;
            return;
        }
        k->c->matches = m;
        char **t = realloc(k->c->types, cap * sizeof *t);
        if (!t) {
            k->rc = JP_ENOMEM;
            return;
        }
        k->c->types = t;
        k->cap = cap;
    }
    char *a = xstrndup(name, strlen(name)), *b = xstrndup(type, strlen(type));
    if (!a || !b) {
        free(a);
        free(b);
        k->rc = JP_ENOMEM;
        return;
    }
    k->c->matches[k->c->n] = a;
    k->c->types[k->c->n] = b;
    k->c->n++;
}

static const char *const magics[] = {"%cflags", "%ldflags",  "%lib", "%reset",   "%who",
                                     "%%time",  "%memlimit", "%cc",  "%threads", NULL};

static void cand_words(struct cand *k, const char *list, const char *type)
{
    const char *p = list;
    char w[256];
    while (p && *p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n && n < sizeof w) {
            memcpy(w, p, n);
            w[n] = '\0';
            cand_add(k, w, type);
        }
        p += n;
    }
}

static int cmp_pstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ck_complete(const struct ck_session *s, const struct ck_names *hdr, const char *code,
                size_t cursor, struct ck_completion *out)
{
    memset(out, 0, sizeof *out);
    size_t b = cp_to_byte(code, cursor);
    size_t start = b, end = b;
    while (start > 0 && ident_char(code[start - 1]))
        start--;
    while (code[end] && ident_char(code[end]))
        end++;
    int magic = start > 0 && code[start - 1] == '%';
    size_t ms = start;
    while (magic && ms > 0 && code[ms - 1] == '%')
        ms--;
    char prefix[256];
    size_t plen = magic ? b - ms : b - start;
    if (plen >= sizeof prefix)
        plen = sizeof prefix - 1;
    memcpy(prefix, code + (magic ? ms : start), plen);
    prefix[plen] = '\0';
    struct cand k = {out, prefix, plen, 0, 0};
    if (magic) {
        for (const char *const *m = magics; *m; m++)
            cand_add(&k, *m, "magic");
        start = ms;
    } else if (plen > 0 || (b > 0 && (code[b - 1] == '(' || code[b - 1] == ' '))) {
        for (size_t i = 0; i < s->n_syms; i++)
            if (!s->syms[i].stale)
                cand_add(&k, s->syms[i].name,
                         s->syms[i].kind == CK_SYM_FUNC ? "function" : "variable");
        for (size_t i = 0; i < s->n_items; i++)
            cand_words(&k, s->items[i].names,
                       s->items[i].kind == CK_ITEM_DEFINE ? "macro" : "type");
        for (const char *const *kw = ck_keywords; *kw; kw++)
            if (strncmp(*kw, "__", 2) != 0)
                cand_add(&k, *kw, "keyword");
        if (hdr && plen > 0) {
            /* binary search to the first name with the prefix */
            size_t lo = 0, hi = hdr->n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (strncmp(hdr->v[mid].name, prefix, plen) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            static const char *const kinds[] = {"function", "variable", "type", "macro",
                                                "constant"};
            for (size_t i = lo; i < hdr->n && strncmp(hdr->v[i].name, prefix, plen) == 0; i++) {
                if (hdr->v[i].name[0] == '_' && (plen == 0 || prefix[0] != '_'))
                    continue; /* reserved names only when asked for */
                cand_add(&k, hdr->v[i].name, kinds[hdr->v[i].kind]);
            }
        }
    }
    if (k.rc) {
        ck_completion_dispose(out);
        return k.rc;
    }
    /* sort matches (types travel along) */
    for (size_t i = 0; i < out->n; i++) {
        /* pack type after a NUL so one sort keeps pairs together */
        size_t a = strlen(out->matches[i]), t = strlen(out->types[i]);
        char *p = realloc(out->matches[i], a + t + 2);
        if (!p) {
            ck_completion_dispose(out);
            return JP_ENOMEM;
        }
        memcpy(p + a + 1, out->types[i], t + 1);
        out->matches[i] = p;
    }
    if (out->n) /* matches is NULL when there are none */
        qsort(out->matches, out->n, sizeof *out->matches, cmp_pstr);
    for (size_t i = 0; i < out->n; i++) {
        const char *t = out->matches[i] + strlen(out->matches[i]) + 1;
        char *c = xstrndup(t, strlen(t));
        if (!c) {
            ck_completion_dispose(out);
            return JP_ENOMEM;
        }
        free(out->types[i]);
        out->types[i] = c;
    }
    out->cursor_start = byte_to_cp(code, start);
    out->cursor_end = byte_to_cp(code, end);
    return 0;
}

void ck_completion_dispose(struct ck_completion *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->matches[i]);
        free(c->types[i]);
    }
    free(c->matches);
    free(c->types);
    memset(c, 0, sizeof *c);
}

/* ---- inspection ---- */

int ck_word_at(const char *code, size_t cursor, char *name, size_t namelen)
{
    size_t b = cp_to_byte(code, cursor);
    size_t start = b, end = b;
    while (start > 0 && ident_char(code[start - 1]))
        start--;
    while (code[end] && ident_char(code[end]))
        end++;
    if (end == start && start > 0 && code[start - 1] == '(') {
        /* `printf(|`: the function being called */
        end = start - 1;
        while (end > 0 && code[end - 1] == ' ')
            end--;
        start = end;
        while (start > 0 && ident_char(code[start - 1]))
            start--;
    }
    if (end == start || end - start >= namelen)
        return JP_ENOENT;
    memcpy(name, code + start, end - start);
    name[end - start] = '\0';
    return 0;
}

static int man_page(const char *name, int lines, struct jp_buf *out)
{
    struct jp_buf m;
    int rc = 0;
    char *argv[] = {"man", "-P", "cat", "3", (char *)name, NULL};
    for (const char *p = name; *p; p++)
        if (!ident_char(*p))
            return 0;
    jp_buf_init(&m, 1 << 20);
    setenv("MANWIDTH", "80", 1);
    setenv("MAN_KEEP_FORMATTING", "", 1);
    unsetenv("MAN_KEEP_FORMATTING");
    if (ck_run(argv, NULL, &m, 5000) == 0 && m.len) {
        /* strip overstrike (c\bc) formatting and keep the first lines */
        int n = 0;
        for (size_t i = 0; i < m.len && n < lines && !rc; i++) {
            if (i + 1 < m.len && m.data[i + 1] == '\b') {
                i++;
                continue;
            }
            rc = jp_buf_add(out, &m.data[i], 1);
            if (m.data[i] == '\n')
                n++;
        }
        if (!rc && n >= lines)
            rc = jp_buf_adds(out, "...\n");
        jp_buf_dispose(&m);
        return rc ? rc : 1;
    }
    jp_buf_dispose(&m);
    return 0;
}

int ck_inspect(const struct ck_session *s, const struct ck_names *hdr, const char *name, int detail,
               struct jp_buf *out)
{
    int found = 0, rc = 0;
    const struct ck_sym *y = ck_session_find(s, name, strlen(name));
    if (y) {
        rc = jp_buf_addf(out, "%s %s: %s\ndefined in %s, line %d\n\n%s\n",
                         y->kind == CK_SYM_FUNC ? "function" : "variable", name, y->type, y->cell,
                         y->line, y->kind == CK_SYM_FUNC ? y->text : "");
        found = 1;
    }
    for (size_t i = 0; !rc && !found && i < s->n_items; i++) {
        const struct ck_item *it = &s->items[i];
        const char *p = it->names;
        size_t n = strlen(name);
        while (p && *p) {
            while (*p == ' ')
                p++;
            size_t l = strcspn(p, " ");
            if (l == n && memcmp(p, name, n) == 0) {
                rc = jp_buf_addf(out, "%s (defined in %s, line %d):\n%s\n",
                                 it->kind == CK_ITEM_DEFINE ? "macro" : "type", it->cell, it->line,
                                 it->text);
                found = 1;
                break;
            }
            p += l;
        }
    }
    const struct ck_name *h = hdr ? ck_names_find(hdr, name, strlen(name)) : NULL;
    if (!rc && !found && h) {
        rc = jp_buf_addf(out, "%s\n", *h->decl ? h->decl : h->name);
        found = 1;
    }
    if (!rc && !found && ck_is_keyword(name, strlen(name))) {
        rc = jp_buf_addf(out, "%s: C keyword\n", name);
        found = 1;
    }
    if (!rc && (!y || !found)) {
        if (found)
            rc = jp_buf_adds(out, "\n");
        int m = rc ? 0 : man_page(name, detail > 0 ? 400 : 40, out);
        if (m < 0)
            rc = m;
        else if (m > 0)
            found = 1;
    }
    return rc ? rc : found;
}
