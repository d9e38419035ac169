/*
 * ck_sess.c - session state and code generation (see ck_sess.h for the model).
 *
 * The generated file for a cell is laid out as:
 *   #include <cnote.h>, then every prelude item in order, each after a #line naming the
 *   cell it came from; the extern declarations of live symbols (with their labels) that
 *   this cell does not redefine; this cell's file-scope parts in source order; and
 *   `void __ck_cell_N(void)` holding the statements, the initializers moved out of file
 *   scope (as assignments), the trailing expression's display and a call to main().
 * Initializers stay at file scope only where C requires a constant anyway: const objects,
 * arrays and brace or string initializers; everything else becomes an assignment so that
 * `double *v = malloc(...)` runs when the cell runs, as a user expects.
 */
#include "ck_sess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_cell.h"
#include "ck_lex.h"
#include "jp_err.h"

#define TOK(i) (&t->v[(i)])
#define IS(i, s) ck_tok_is(src, TOK(i), (s))
#define CHECK(expr)                                                                                \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc)                                                                                    \
            goto out;                                                                              \
    } while (0)

static const char *const default_includes[] = {"#include <stdio.h>",
                                               "#include <stdlib.h>",
                                               "#include <string.h>",
                                               "#include <stddef.h>",
                                               "#include <stdint.h>",
                                               "#include <stdbool.h>",
                                               NULL};

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

static void item_dispose(struct ck_item *it)
{
    free(it->key);
    free(it->text);
    free(it->cell);
    free(it->names);
}

static void sym_dispose(struct ck_sym *y)
{
    free(y->name);
    free(y->label);
    free(y->decl);
    free(y->type);
    free(y->text);
    free(y->cell);
    free(y->refs);
}

void ck_session_dispose(struct ck_session *s)
{
    for (size_t i = 0; i < s->n_items; i++)
        item_dispose(&s->items[i]);
    for (size_t i = 0; i < s->n_syms; i++)
        sym_dispose(&s->syms[i]);
    for (size_t i = 0; i < s->n_hdr_types; i++)
        free(s->hdr_types[i]);
    free(s->items);
    free(s->syms);
    free(s->hdr_types);
    memset(s, 0, sizeof *s);
}

/* Append an item (fields copied). */
static int add_item(struct ck_session *s, enum ck_item_kind kind, const char *key, const char *text,
                    const char *cell, int line, const char *names)
{
    if (s->n_items == s->cap_items) {
        size_t cap = s->cap_items ? s->cap_items * 2 : 32;
        struct ck_item *v = realloc(s->items, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        s->items = v;
        s->cap_items = cap;
    }
    struct ck_item it = {kind,          xstrdup(key), xstrdup(text),
                         xstrdup(cell), line,         xstrdup(names ? names : "")};
    if (!it.key || !it.text || !it.cell || !it.names) {
        item_dispose(&it);
        return JP_ENOMEM;
    }
    s->items[s->n_items++] = it;
    return 0;
}

static void remove_item(struct ck_session *s, size_t i)
{
    item_dispose(&s->items[i]);
    memmove(&s->items[i], &s->items[i + 1], (s->n_items - i - 1) * sizeof *s->items);
    s->n_items--;
}

static long find_item(const struct ck_session *s, const char *key)
{
    for (size_t i = 0; i < s->n_items; i++)
        if (strcmp(s->items[i].key, key) == 0)
            return (long)i;
    return -1;
}

int ck_session_init(struct ck_session *s)
{
    memset(s, 0, sizeof *s);
    for (const char *const *p = default_includes; *p; p++) {
        int rc = add_item(s, CK_ITEM_INCLUDE, *p, *p, "<cnote>", 1, "");
        if (rc) {
            ck_session_dispose(s);
            return rc;
        }
    }
    return 0;
}

int ck_session_clone(struct ck_session *d, const struct ck_session *s)
{
    memset(d, 0, sizeof *d);
    d->serial = s->serial;
    d->pch_items = s->pch_items;
    for (size_t i = 0; i < s->n_items; i++) {
        const struct ck_item *it = &s->items[i];
        if (add_item(d, it->kind, it->key, it->text, it->cell, it->line, it->names))
            goto fail;
    }
    if (s->n_syms) {
        d->syms = calloc(s->n_syms, sizeof *d->syms);
        if (!d->syms)
            goto fail;
        d->cap_syms = s->n_syms;
        for (size_t i = 0; i < s->n_syms; i++) {
            const struct ck_sym *y = &s->syms[i];
            struct ck_sym c = {y->kind,          xstrdup(y->name), xstrdup(y->label),
                               xstrdup(y->decl), xstrdup(y->type), xstrdup(y->text),
                               xstrdup(y->cell), y->line,          xstrdup(y->refs),
                               y->stale};
            d->syms[d->n_syms++] = c;
            if (!c.name || !c.label || !c.decl || !c.type || !c.text || !c.cell || !c.refs)
                goto fail;
        }
    }
    if (ck_session_set_hdr_types(d, s->hdr_types, s->n_hdr_types))
        goto fail;
    return 0;
fail:
    ck_session_dispose(d);
    return JP_ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ck_session_set_hdr_types(struct ck_session *s, char *const *names, size_t n)
{
    char **v = n ? calloc(n, sizeof *v) : NULL;
    if (n && !v)
        return JP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i] = xstrdup(names[i]);
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return JP_ENOMEM;
        }
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 0; i < s->n_hdr_types; i++)
        free(s->hdr_types[i]);
    free(s->hdr_types);
    s->hdr_types = v;
    s->n_hdr_types = n;
    return 0;
}

static int word_in(const char *list, const char *name, size_t len)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == len && memcmp(p, name, len) == 0)
            return 1;
        p = e;
    }
    return 0;
}

int ck_session_is_type(const struct ck_session *s, const char *name, size_t len)
{
    char buf[256];
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, name, len);
    buf[len] = '\0';
    const char *key = buf;
    if (s->n_hdr_types && bsearch(&key, s->hdr_types, s->n_hdr_types, sizeof(char *), cmp_str))
        return 1;
    for (size_t i = 0; i < s->n_items; i++)
        if (s->items[i].kind == CK_ITEM_TYPE && strncmp(s->items[i].key, "t:", 2) == 0 &&
            word_in(s->items[i].names, name, len))
            return 1;
    return 0;
}

const struct ck_sym *ck_session_find(const struct ck_session *s, const char *name, size_t len)
{
    for (size_t i = s->n_syms; i-- > 0;) {
        const struct ck_sym *y = &s->syms[i];
        if (!y->stale && strlen(y->name) == len && memcmp(y->name, name, len) == 0)
            return y;
    }
    return NULL;
}

char *ck_session_includes(const struct ck_session *s)
{
    struct jp_buf b;
    jp_buf_init(&b, 1 << 20);
    if (jp_buf_adds(&b, "#include <cnote.h>\n")) {
        jp_buf_dispose(&b);
        return NULL;
    }
    for (size_t i = 0; i < s->n_items; i++)
        if (s->items[i].kind == CK_ITEM_INCLUDE &&
            (jp_buf_adds(&b, s->items[i].text) || jp_buf_adds(&b, "\n"))) {
            jp_buf_dispose(&b);
            return NULL;
        }
    return jp_buf_take(&b);
}

size_t ck_session_include_prefix(const struct ck_session *s)
{
    size_t n = 0;
    while (n < s->n_items && s->items[n].kind == CK_ITEM_INCLUDE)
        n++;
    return n;
}

char *ck_session_pch_text(const struct ck_session *s, size_t n)
{
    struct jp_buf b;
    jp_buf_init(&b, 1 << 20);
    int rc = jp_buf_adds(&b, "#include <cnote.h>\n");
    for (size_t i = 0; !rc && i < n && i < s->n_items; i++)
        rc = jp_buf_addf(&b, "%s\n", s->items[i].text);
    if (rc) {
        jp_buf_dispose(&b);
        return NULL;
    }
    return jp_buf_take(&b);
}

char *ck_session_includes_plus(const struct ck_session *s, const char *src, size_t len)
{
    struct ck_toks t = {0};
    char *base = ck_session_includes(s);
    if (!base || ck_lex(src, len, &t)) {
        free(base);
        return NULL;
    }
    struct jp_buf b;
    jp_buf_init(&b, 1 << 20);
    int rc = jp_buf_adds(&b, base);
    for (size_t i = 0; !rc && i + 1 < t.n; i++) {
        const struct ck_tok *k = &t.v[i];
        if (k->kind != CK_TOK_DIRECTIVE)
            continue;
        const char *d = src + k->start + 1;
        while (*d == ' ' || *d == '\t')
            d++;
        if (strncmp(d, "include", 7) != 0)
            continue;
        char *line = xstrndup(src + k->start, k->len);
        if (!line) {
            rc = JP_ENOMEM;
            break;
        }
        if (!strstr(base, line))
            rc = jp_buf_addf(&b, "%s\n", line);
        free(line);
    }
    free(base);
    ck_toks_dispose(&t);
    if (rc) {
        jp_buf_dispose(&b);
        return NULL;
    }
    return jp_buf_take(&b);
}

/* ---- code generation ---------------------------------------------------------------- */

struct gen {
    struct ck_session *s;
    const char *src;
    const struct ck_toks *t;
    const char *cell;
    struct ck_gen *g;
    struct jp_buf filescope; /* this cell's file-scope text */
    struct jp_buf body;      /* statements of the cell function */
    char *redefined;         /* space-separated names this cell defines: hidden from the prelude */
    size_t redefined_len;
};

static int is_skipped_spec(const char *src, const struct ck_tok *k)
{
    return ck_tok_is(src, k, "static") || ck_tok_is(src, k, "inline") ||
           ck_tok_is(src, k, "__inline") || ck_tok_is(src, k, "__inline__") ||
           ck_tok_is(src, k, "extern");
}

/*
 * Append the source text of tokens [a, b). With strip set, storage-class words are left out
 * and so is the token range [cut_a, cut_b] (a tag body moved elsewhere); `insert` is written
 * in place of that range.
 */
static int append_toks(struct jp_buf *b, const char *src, const struct ck_toks *t, size_t a,
                       size_t b_end, int strip, size_t cut_a, size_t cut_b, const char *insert)
{
    int rc = 0;
    if (a >= b_end)
        return 0;
    size_t pos = TOK(a)->start;
    for (size_t i = a; i < b_end; i++) {
        const struct ck_tok *k = TOK(i);
        int drop = strip && is_skipped_spec(src, k);
        int cut = cut_a && i >= cut_a && i <= cut_b;
        if (drop || cut) {
            if ((rc = jp_buf_add(b, src + pos, k->start - pos)))
                return rc;
            if (cut && i == cut_a && insert && (rc = jp_buf_adds(b, insert)))
                return rc;
            if ((rc = jp_buf_adds(b, " ")))
                return rc;
            pos = k->start + k->len;
        }
    }
    const struct ck_tok *last = TOK(b_end - 1);
    return jp_buf_add(b, src + pos, last->start + last->len - pos);
}

/* Collapse whitespace for comparing declarations. */
static char *squash(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1), *p = o;
    if (!o)
        return NULL;
    int sp = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
            sp = p != o;
            continue;
        }
        if (sp)
            *p++ = ' ';
        sp = 0;
        *p++ = s[i];
    }
    *p = '\0';
    return o;
}

static int line_directive(struct jp_buf *b, int line, const char *cell)
{
    return jp_buf_addf(b, "#line %d \"%s\"\n", line, cell);
}

static struct ck_sym *find_sym_mut(struct ck_session *s, const char *name)
{
    for (size_t i = s->n_syms; i-- > 0;)
        if (!s->syms[i].stale && strcmp(s->syms[i].name, name) == 0)
            return &s->syms[i];
    return NULL;
}

/* Add or replace the live symbol `y->name` (fields are taken over). */
static int put_sym(struct ck_session *s, struct ck_sym *y)
{
    for (size_t i = 0; i < s->n_syms; i++)
        if (strcmp(s->syms[i].name, y->name) == 0) {
            sym_dispose(&s->syms[i]);
            memmove(&s->syms[i], &s->syms[i + 1], (s->n_syms - i - 1) * sizeof *s->syms);
            s->n_syms--;
            i--;
        }
    if (s->n_syms == s->cap_syms) {
        size_t cap = s->cap_syms ? s->cap_syms * 2 : 32;
        struct ck_sym *v = realloc(s->syms, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        s->syms = v;
        s->cap_syms = cap;
    }
    s->syms[s->n_syms++] = *y;
    memset(y, 0, sizeof *y);
    return 0;
}

static int mark_redefined(struct gen *G, const char *name)
{
    size_t n = strlen(name);
    char *p = realloc(G->redefined, G->redefined_len + n + 2);
    if (!p)
        return JP_ENOMEM;
    G->redefined = p;
    memcpy(p + G->redefined_len, name, n);
    p[G->redefined_len + n] = ' ';
    p[G->redefined_len + n + 1] = '\0';
    G->redefined_len += n + 1;
    return 0;
}

/* Warn about functions that were compiled against the old definition of `name`. */
static int warn_stale_callers(struct gen *G, const char *name, const char *what)
{
    int rc = 0;
    for (size_t i = 0; i < G->s->n_syms; i++) {
        const struct ck_sym *y = &G->s->syms[i];
        if (y->stale || y->kind != CK_SYM_FUNC || strcmp(y->name, name) == 0)
            continue;
        if (word_in(G->redefined, y->name, strlen(y->name)))
            continue; /* being redefined in this very cell */
        if (word_in(y->refs, name, strlen(name)))
            CHECK(jp_buf_addf(&G->g->warnings,
                              "warning: %s '%s' was redefined; '%s' (defined in %s) was compiled "
                              "against the old one and still uses it - re-run %s to update it\n",
                              what, name, y->name, y->cell, y->cell));
    }
out:
    return rc;
}

static char *tok_str(const char *src, const struct ck_tok *k)
{
    return xstrndup(src + k->start, k->len);
}

/* Identifiers of [a, b) that name live symbols or this cell's definitions. */
static char *collect_refs(struct gen *G, size_t a, size_t b)
{
    const char *src = G->src;
    const struct ck_toks *t = G->t;
    struct jp_buf r;
    jp_buf_init(&r, 1 << 20);
    for (size_t i = a; i < b; i++) {
        const struct ck_tok *k = TOK(i);
        if (k->kind != CK_TOK_IDENT || ck_tok_is_keyword(src, k))
            continue;
        if (i > 0 && (IS(i - 1, ".") || IS(i - 1, "->")))
            continue;
        if (!ck_session_find(G->s, src + k->start, k->len))
            continue;
        if (word_in(r.data, src + k->start, k->len))
            continue;
        if (jp_buf_add(&r, src + k->start, k->len) || jp_buf_adds(&r, " ")) {
            jp_buf_dispose(&r);
            return NULL;
        }
    }
    return jp_buf_take(&r);
}

static int new_label(struct gen *G, const char *name, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s__ck%u", name, G->s->serial);
    return n < 0 || (size_t)n >= outlen ? JP_ERANGE : 0;
}

/* Mark symbols whose declaration mentions any of `names` as stale and warn. */
static int stale_by_type(struct gen *G, const char *names, const char *what)
{
    int rc = 0;
    struct ck_toks tk = {0};
    int shown = (int)strlen(names); /* the names without the list's trailing space */
    while (shown > 0 && names[shown - 1] == ' ')
        shown--;
    for (size_t i = 0; i < G->s->n_syms; i++) {
        struct ck_sym *y = &G->s->syms[i];
        if (y->stale)
            continue;
        CHECK(ck_lex(y->type, strlen(y->type), &tk));
        for (size_t j = 0; j + 1 < tk.n; j++) {
            if (tk.v[j].kind != CK_TOK_IDENT)
                continue;
            if (word_in(names, y->type + tk.v[j].start, tk.v[j].len)) {
                y->stale = 1;
                CHECK(jp_buf_addf(&G->g->warnings,
                                  "warning: %s '%.*s' changed; '%s' (defined in %s) was built "
                                  "with the old definition and is hidden from now on - re-run "
                                  "%s to define it again\n",
                                  what, shown, names, y->name, y->cell, y->cell));
                break;
            }
        }
    }
out:
    ck_toks_dispose(&tk);
    return rc;
}

/* Record a type-like item: identical text is a no-op; a changed one replaces the old entry
 * in place and makes symbols that used it stale. */
static int put_type_item(struct gen *G, enum ck_item_kind kind, const char *key, const char *text,
                         int line, const char *names, int *is_new)
{
    int rc = 0;
    long at = find_item(G->s, key);
    *is_new = 1;
    if (at >= 0) {
        struct ck_item *it = &G->s->items[at];
        char *a = squash(it->text), *b = squash(text);
        if (!a || !b) {
            free(a);
            free(b);
            return JP_ENOMEM;
        }
        int same = strcmp(a, b) == 0;
        free(a);
        free(b);
        if (same) {
            *is_new = 0;
            return 0;
        }
        char *nt = xstrdup(text), *nc = xstrdup(G->cell), *nn = xstrdup(names);
        if (!nt || !nc || !nn) {
            free(nt);
            free(nc);
            free(nn);
            return JP_ENOMEM;
        }
        free(it->text);
        free(it->cell);
        free(it->names);
        it->text = nt;
        it->cell = nc;
        it->names = nn;
        it->line = line;
        if (*names)
            CHECK(stale_by_type(G, names, "type"));
        return 0;
    }
    rc = add_item(G->s, kind, key, text, G->cell, line, names);
out:
    return rc;
}

struct names_ctx {
    struct jp_buf *b;
    const char *src;
    const struct ck_toks *t;
    int rc;
};

static void add_name(void *ctx, size_t tok)
{
    struct names_ctx *c = ctx;
    const struct ck_tok *k = &c->t->v[tok];
    if (!c->rc)
        c->rc = jp_buf_add(c->b, c->src + k->start, k->len);
    if (!c->rc)
        c->rc = jp_buf_adds(c->b, " ");
}

/* The tag name of a struct/union/enum in the specifiers, or NULL. */
static char *tag_name(struct gen *G, const struct ck_chunk *c)
{
    const char *src = G->src;
    const struct ck_toks *t = G->t;
    for (size_t i = c->tag_tok + 1; i < c->tag_open; i++)
        if (TOK(i)->kind == CK_TOK_IDENT && !ck_tok_is_keyword(src, TOK(i)))
            return tok_str(src, TOK(i));
    return NULL;
}

static int gen_type(struct gen *G, const struct ck_chunk *c)
{
    const char *src = G->src;
    const struct ck_toks *t = G->t;
    struct jp_buf text, names;
    int rc = 0, is_new;
    char *key = NULL, *tag = NULL;
    jp_buf_init(&text, 16 << 20);
    jp_buf_init(&names, 1 << 20);
    CHECK(append_toks(&text, src, t, c->tb, c->te, 0, 0, 0, NULL));
    if (c->flags & CK_F_NOSEMI)
        CHECK(jp_buf_adds(&text, ";"));
    struct names_ctx nc = {&names, src, t, 0};
    ck_type_names(src, t, c, add_name, &nc);
    CHECK(nc.rc);
    if (c->flags & CK_F_TAGBODY)
        tag = tag_name(G, c);
    if (c->flags & CK_F_TYPEDEF) {
        /* key by the first declared name; names lists typedefs (and enum constants) */
        const char *n = names.data ? names.data : "";
        size_t l = strcspn(n, " ");
        if (!(key = malloc(l + 3)))
            CHECK(JP_ENOMEM);
        memcpy(key, "t:", 2);
        memcpy(key + 2, n, l);
        key[l + 2] = '\0';
        if (tag)
            CHECK(jp_buf_addf(&names, "%s ", tag));
    } else if (tag) {
        if (!(key = malloc(strlen(tag) + 3)))
            CHECK(JP_ENOMEM);
        memcpy(key, "s:", 2);
        memcpy(key + 2, tag, strlen(tag) + 1);
        CHECK(jp_buf_addf(&names, "%s ", tag));
    } else {
        key = squash(text.data ? text.data : "");
        if (!key)
            CHECK(JP_ENOMEM);
    }
    CHECK(put_type_item(G, CK_ITEM_TYPE, key, text.data ? text.data : "", TOK(c->tb)->line,
                        names.data ? names.data : "", &is_new));
    if (!is_new)
        goto out; /* identical to what the prelude already has */
    CHECK(line_directive(&G->filescope, TOK(c->tb)->line, G->cell));
    CHECK(jp_buf_adds(&G->filescope, text.data ? text.data : ""));
    CHECK(jp_buf_adds(&G->filescope, "\n"));
out:
    free(key);
    free(tag);
    jp_buf_dispose(&text);
    jp_buf_dispose(&names);
    return rc;
}

/* Count the elements of a brace initializer without designators; 0 when unknown. */
static long count_init(const char *src, const struct ck_toks *t, size_t ib, size_t ie)
{
    if (ib >= ie || !IS(ib, "{") || ck_match(src, t, ib) != ie - 1)
        return 0;
    long n = 0;
    int item = 0;
    for (size_t i = ib + 1; i < ie - 1; i++) {
        if (IS(i, "[") || (IS(i, ".") && !item))
            return 0; /* designators: leave the array unsized */
        if (IS(i, "(") || IS(i, "[") || IS(i, "{")) {
            i = ck_match(src, t, i);
            item = 1;
            continue;
        }
        if (IS(i, ",")) {
            n += item;
            item = 0;
            continue;
        }
        item = 1;
    }
    return n + item;
}

static int gen_decl(struct gen *G, const struct ck_chunk *c)
{
    const char *src = G->src;
    const struct ck_toks *t = G->t;
    struct ck_declarator d[64];
    struct jp_buf specs, tmp, decl;
    char *tag = NULL, *anon = NULL;
    int rc = 0;
    int line = TOK(c->tb)->line;

    jp_buf_init(&specs, 16 << 20);
    jp_buf_init(&tmp, 16 << 20);
    jp_buf_init(&decl, 16 << 20);
    int n = ck_declarators(src, t, c, d, 64);
    if (n <= 0) {
        CHECK(
            jp_buf_addf(&G->g->warnings, "%s:%d: cannot find the declared name\n", G->cell, line));
        CHECK(JP_EINVAL);
    }
    /* A tag body in the specifiers becomes a type of its own. */
    if (c->flags & CK_F_TAGBODY) {
        tag = tag_name(G, c);
        struct jp_buf tt;
        jp_buf_init(&tt, 16 << 20);
        if (!tag) {
            char name[48];
            snprintf(name, sizeof name, "__ck_anon%u_%zu", G->s->serial, c->tag_tok);
            anon = xstrdup(name);
            if (!anon)
                CHECK(JP_ENOMEM);
        }
        rc = append_toks(&tt, src, t, c->tag_tok, c->tag_tok + 1, 0, 0, 0, NULL);
        if (!rc && anon)
            rc = jp_buf_addf(&tt, " %s", anon);
        if (!rc)
            rc = jp_buf_adds(&tt, " ");
        if (!rc)
            rc = append_toks(&tt, src, t, c->tag_tok + 1, c->tag_close + 1, 0, 0, 0, NULL);
        if (!rc)
            rc = jp_buf_adds(&tt, ";");
        if (!rc) {
            struct jp_buf names;
            jp_buf_init(&names, 1 << 20);
            struct names_ctx nc = {&names, src, t, 0};
            ck_type_names(src, t, c, add_name, &nc);
            rc = nc.rc;
            if (!rc)
                rc = jp_buf_addf(&names, "%s ", tag ? tag : anon);
            char key[300];
            snprintf(key, sizeof key, "s:%s", tag ? tag : anon);
            int is_new;
            if (!rc)
                rc = put_type_item(G, CK_ITEM_TYPE, key, tt.data, line, names.data, &is_new);
            if (!rc && is_new)
                rc = line_directive(&G->filescope, line, G->cell);
            if (!rc && is_new)
                rc = jp_buf_addf(&G->filescope, "%s\n", tt.data);
            jp_buf_dispose(&names);
        }
        jp_buf_dispose(&tt);
        CHECK(rc);
        /* specifiers with the body cut out (and the generated tag name for anonymous ones) */
        CHECK(
            append_toks(&specs, src, t, c->tb, c->spec_end, 1, c->tag_tok + 1, c->tag_close, anon));
        if (tag && !anon) {
            /* the tag name stays; only the body goes */
            jp_buf_reset(&specs);
            CHECK(append_toks(&specs, src, t, c->tb, c->spec_end, 1, c->tag_open, c->tag_close,
                              NULL));
        }
    } else {
        CHECK(append_toks(&specs, src, t, c->tb, c->spec_end, 1, 0, 0, NULL));
    }
    const char *sp = specs.data ? specs.data : "";

    for (int k = 0; k < n; k++) {
        char *name = tok_str(src, TOK(d[k].name));
        char label[320];
        if (!name)
            CHECK(JP_ENOMEM);
        struct ck_sym *old = find_sym_mut(G->s, name);
        jp_buf_reset(&decl);
        rc = append_toks(&decl, src, t, d[k].db, d[k].de, 0, 0, 0, NULL);
        if (rc) {
            free(name);
            goto out;
        }
        if (d[k].is_func || (c->flags & CK_F_EXTERN)) {
            /* A prototype or extern declaration: known symbols are declared by the prelude
             * already; anything else (a library function, a forward declaration) is kept
             * verbatim for this and later cells. */
            if (!old || word_in(G->redefined, name, strlen(name))) {
                jp_buf_reset(&tmp);
                rc = jp_buf_addf(&tmp, "%s%s %s;", (c->flags & CK_F_EXTERN) ? "extern " : "", sp,
                                 decl.data);
                char key[300];
                snprintf(key, sizeof key, "x:%s", name);
                int is_new;
                if (!rc)
                    rc = put_type_item(G, CK_ITEM_EXTERN, key, tmp.data, line, "", &is_new);
                if (!rc)
                    rc = line_directive(&G->filescope, line, G->cell);
                if (!rc)
                    rc = jp_buf_addf(&G->filescope, "%s\n", tmp.data);
            }
            free(name);
            CHECK(rc);
            continue;
        }
        int has_init = d[k].ib < d[k].ie || d[k].has_eq;
        int in_place =
            (c->flags & CK_F_CONST) || d[k].unsized_array ||
            (d[k].ib < d[k].ie && (IS(d[k].ib, "{") || TOK(d[k].ib)->kind == CK_TOK_STRING));
        /* array declarators keep their initializer too (arrays cannot be assigned) */
        for (size_t i = d[k].name + 1; i < d[k].de; i++)
            if (IS(i, "["))
                in_place = in_place || has_init;
        /* so does a const pointer (`char *const p = ...`): it cannot be assigned either */
        for (size_t i = d[k].db; i < d[k].name; i++)
            if (IS(i, "const"))
                in_place = in_place || has_init;
        if (d[k].unsized_array && has_init) {
            long cnt = count_init(src, t, d[k].ib, d[k].ie);
            if (cnt > 0) {
                /* give the array its length so later cells can take sizeof */
                jp_buf_reset(&decl);
                rc = append_toks(&decl, src, t, d[k].db, d[k].name + 1, 0, 0, 0, NULL);
                if (!rc)
                    rc = jp_buf_addf(&decl, "[%ld]", cnt);
                if (!rc && d[k].name + 3 < d[k].de)
                    rc = append_toks(&decl, src, t, d[k].name + 3, d[k].de, 0, 0, 0, NULL);
                if (rc) {
                    free(name);
                    goto out;
                }
            }
        }
        /* type text: the declaration with the name left out */
        jp_buf_reset(&tmp);
        rc = jp_buf_addf(&tmp, "%s ", sp);
        if (!rc && d[k].name > d[k].db)
            rc = append_toks(&tmp, src, t, d[k].db, d[k].name, 0, 0, 0, NULL);
        if (!rc && d[k].name + 1 < d[k].de)
            rc = append_toks(&tmp, src, t, d[k].name + 1, d[k].de, 0, 0, 0, NULL);
        char *type = rc ? NULL : squash(tmp.data);
        char *full = NULL;
        if (!rc && type) {
            jp_buf_reset(&tmp);
            rc = jp_buf_addf(&tmp, "%s %s", sp, decl.data);
            full = rc ? NULL : squash(tmp.data);
        }
        if (!type || !full) {
            free(name);
            free(type);
            free(full);
            CHECK(rc ? rc : JP_ENOMEM);
        }
        int reuse = old && old->kind == CK_SYM_VAR && !in_place && strcmp(old->text, full) == 0 &&
                    !word_in(G->redefined, name, strlen(name));
        if (reuse) {
            /* the same global again: keep the object, run the initializer as an assignment */
            free(type);
            free(full);
            if (has_init) {
                rc = line_directive(&G->body, TOK(d[k].ib)->line, G->cell);
                if (!rc)
                    rc = jp_buf_addf(&G->body, "%s = ", name);
                if (!rc)
                    rc = append_toks(&G->body, src, t, d[k].ib, d[k].ie, 0, 0, 0, NULL);
                if (!rc)
                    rc = jp_buf_adds(&G->body, ";\n");
            }
            free(name);
            CHECK(rc);
            continue;
        }
        rc = new_label(G, name, label, sizeof label);
        if (!rc && old && !word_in(G->redefined, name, strlen(name)))
            rc = warn_stale_callers(G, name, "variable");
        if (!rc)
            rc = mark_redefined(G, name);
        /* definition in this cell */
        if (!rc)
            rc = line_directive(&G->filescope, line, G->cell);
        if (!rc)
            rc = jp_buf_addf(&G->filescope, "%s %s __asm__(\"%s\")", sp, decl.data, label);
        if (!rc && has_init && in_place) {
            rc = jp_buf_adds(&G->filescope, " = ");
            if (!rc)
                rc = append_toks(&G->filescope, src, t, d[k].ib, d[k].ie, 0, 0, 0, NULL);
        }
        if (!rc)
            rc = jp_buf_adds(&G->filescope, ";\n");
        if (!rc && has_init && !in_place) {
            rc = line_directive(&G->body, TOK(d[k].ib)->line, G->cell);
            if (!rc)
                rc = jp_buf_addf(&G->body, "%s = ", name);
            if (!rc)
                rc = append_toks(&G->body, src, t, d[k].ib, d[k].ie, 0, 0, 0, NULL);
            if (!rc)
                rc = jp_buf_adds(&G->body, ";\n");
        }
        struct ck_sym y = {CK_SYM_VAR,       name, NULL,        NULL, type, full,
                           xstrdup(G->cell), line, xstrdup(""), 0};
        if (!rc) {
            jp_buf_reset(&tmp);
            rc = jp_buf_addf(&tmp, "extern %s %s __asm__(\"%s\");", sp, decl.data, label);
        }
        y.label = xstrdup(label);
        y.decl = rc ? NULL : xstrdup(tmp.data);
        if (!rc && (!y.label || !y.decl || !y.cell || !y.refs))
            rc = JP_ENOMEM;
        if (!rc)
            rc = put_sym(G->s, &y);
        sym_dispose(&y);
        CHECK(rc);
    }
out:
    free(tag);
    free(anon);
    jp_buf_dispose(&specs);
    jp_buf_dispose(&tmp);
    jp_buf_dispose(&decl);
    return rc;
}

static int gen_func(struct gen *G, const struct ck_chunk *c)
{
    const char *src = G->src;
    const struct ck_toks *t = G->t;
    struct ck_declarator d;
    struct jp_buf proto, text;
    char *name = NULL, *full = NULL;
    char label[320];
    int rc = 0;
    int line = TOK(c->tb)->line;

    jp_buf_init(&proto, 16 << 20);
    jp_buf_init(&text, 64 << 20);
    if (ck_declarators(src, t, c, &d, 1) != 1 || !d.is_func) {
        CHECK(jp_buf_addf(&G->g->warnings, "%s:%d: cannot understand this function definition\n",
                          G->cell, line));
        CHECK(JP_EINVAL);
    }
    if (!(name = tok_str(src, TOK(d.name))))
        CHECK(JP_ENOMEM);
    CHECK(append_toks(&text, src, t, c->tb, c->te, 0, 0, 0, NULL));
    if (!(full = squash(text.data)))
        CHECK(JP_ENOMEM);

    /* `static inline` helpers are copied into every later cell, like header code */
    if ((c->flags & CK_F_STATIC) && (c->flags & CK_F_INLINE)) {
        char key[300];
        int is_new;
        snprintf(key, sizeof key, "f:%s", name);
        CHECK(put_type_item(G, CK_ITEM_TYPE, key, text.data, line, "", &is_new));
        if (!is_new)
            goto out;
        CHECK(line_directive(&G->filescope, line, G->cell));
        CHECK(jp_buf_addf(&G->filescope, "%s\n", text.data));
        goto out;
    }
    struct ck_sym *old = find_sym_mut(G->s, name);
    if (old && old->kind == CK_SYM_FUNC && strcmp(old->text, full) == 0 &&
        !word_in(G->redefined, name, strlen(name)))
        goto out; /* the same definition again: nothing to compile */
    if (strcmp(name, "main") == 0)
        G->g->has_main = 1;
    CHECK(new_label(G, name, label, sizeof label));
    if (old && !word_in(G->redefined, name, strlen(name)))
        CHECK(warn_stale_callers(G, name, "function"));
    CHECK(mark_redefined(G, name));
    /* prototype with the label, then the definition as written (minus static/inline) */
    CHECK(append_toks(&proto, src, t, c->tb, c->spec_end, 1, 0, 0, NULL));
    CHECK(jp_buf_adds(&proto, " "));
    CHECK(append_toks(&proto, src, t, d.db, d.de, 0, 0, 0, NULL));
    CHECK(jp_buf_addf(&proto, " __asm__(\"%s\");", label));
    CHECK(line_directive(&G->filescope, line, G->cell));
    CHECK(jp_buf_addf(&G->filescope, "%s\n", proto.data));
    CHECK(line_directive(&G->filescope, line, G->cell));
    CHECK(append_toks(&G->filescope, src, t, c->tb, c->te, 1, 0, 0, NULL));
    CHECK(jp_buf_adds(&G->filescope, "\n"));

    struct ck_sym y = {CK_SYM_FUNC,
                       xstrdup(name),
                       xstrdup(label),
                       xstrdup(proto.data),
                       NULL,
                       full,
                       xstrdup(G->cell),
                       line,
                       collect_refs(G, c->body_open, c->te),
                       0};
    full = NULL;
    /* type: the prototype without the label */
    jp_buf_reset(&text);
    rc = append_toks(&text, src, t, c->tb, c->spec_end, 1, 0, 0, NULL);
    if (!rc)
        rc = jp_buf_adds(&text, " ");
    if (!rc)
        rc = append_toks(&text, src, t, d.db, d.de, 0, 0, 0, NULL);
    y.type = rc ? NULL : squash(text.data);
    if (!rc && (!y.name || !y.label || !y.decl || !y.type || !y.cell || !y.refs))
        rc = JP_ENOMEM;
    if (!rc)
        rc = put_sym(G->s, &y);
    sym_dispose(&y);
out:
    free(name);
    free(full);
    jp_buf_dispose(&proto);
    jp_buf_dispose(&text);
    return rc;
}

static int gen_define(struct gen *G, const struct ck_chunk *c)
{
    const char *src = G->src;
    const struct ck_toks *t = G->t;
    const struct ck_tok *k = TOK(c->tb);
    int rc = 0;
    /* the macro name: the identifier after define/undef */
    size_t i = k->start + 1, end = k->start + k->len;
    while (i < end && (src[i] == ' ' || src[i] == '\t'))
        i++;
    while (i < end && src[i] >= 'a' && src[i] <= 'z')
        i++;
    while (i < end && (src[i] == ' ' || src[i] == '\t'))
        i++;
    size_t ns = i;
    while (i < end && (src[i] == '_' || (src[i] >= 'a' && src[i] <= 'z') ||
                       (src[i] >= 'A' && src[i] <= 'Z') || (src[i] >= '0' && src[i] <= '9')))
        i++;
    char key[300], name[260];
    snprintf(name, sizeof name, "%.*s", (int)(i - ns), src + ns);
    snprintf(key, sizeof key, "d:%s", name);
    char *text = xstrndup(src + k->start, k->len);
    if (!text)
        return JP_ENOMEM;
    long at = find_item(G->s, key);
    if (at >= 0) {
        /* The same definition again (a cell re-run) stays where it is: moved to this cell it
         * would come after the extern declarations that use it (`extern int arr[N]`). */
        char *a = squash(G->s->items[at].text), *b = squash(text);
        int same = a && b && strcmp(a, b) == 0;
        if (!a || !b)
            rc = JP_ENOMEM;
        free(a);
        free(b);
        if (rc || same) {
            free(text);
            return rc;
        }
    }
    while ((at = find_item(G->s, key)) >= 0)
        remove_item(G->s, (size_t)at);
    rc = add_item(G->s, CK_ITEM_DEFINE, key, text, G->cell, k->line, name);
    /* globals declared with the name would read differently from now on, or not compile
     * after #undef: hide them like globals of a changed type */
    if (!rc && *name)
        rc = stale_by_type(G, name, "macro");
    if (!rc)
        rc = line_directive(&G->filescope, k->line, G->cell);
    if (!rc)
        rc = jp_buf_addf(&G->filescope, "%s\n", text);
    free(text);
    return rc;
}

static int gen_show(struct gen *G, const struct ck_chunk *c)
{
    const char *src = G->src;
    const struct ck_toks *t = G->t;
    int rc = 0;
    struct jp_buf e;
    jp_buf_init(&e, 64 << 20);
    CHECK(append_toks(&e, src, t, c->tb, c->te, 0, 0, 0, NULL));
    const char *type = NULL;
    if (c->te == c->tb + 1 && TOK(c->tb)->kind == CK_TOK_IDENT) {
        const struct ck_sym *y = ck_session_find(G->s, src + TOK(c->tb)->start, TOK(c->tb)->len);
        if (y && y->kind == CK_SYM_VAR)
            type = y->type;
    }
    int is_char =
        c->te == c->tb + 1 && TOK(c->tb)->kind == CK_TOK_CHAR && src[TOK(c->tb)->start] == '\'';
    CHECK(line_directive(&G->body, TOK(c->tb)->line, G->cell));
    CHECK(jp_buf_addf(&G->body,
                      "{ __auto_type __ck_v = __builtin_choose_expr("
                      "__builtin_types_compatible_p(__typeof__(%s), void), "
                      "((void)(%s), (struct __ck_void){0}), %s(%s));\n",
                      e.data, e.data, is_char ? "(char)" : "", e.data));
    CHECK(jp_buf_adds(&G->body, "__ck_show(__CK_KIND(__ck_v), __CK_TNAME(__ck_v), "));
    if (type) {
        CHECK(jp_buf_adds(&G->body, "\""));
        for (const char *p = type; *p; p++)
            CHECK(*p == '"' || *p == '\\' ? jp_buf_addf(&G->body, "\\%c", *p)
                                          : jp_buf_add(&G->body, p, 1));
        CHECK(jp_buf_adds(&G->body, "\""));
    } else {
        CHECK(jp_buf_adds(&G->body, "0"));
    }
    CHECK(jp_buf_adds(&G->body, ", &__ck_v, sizeof __ck_v); }\n"));
out:
    jp_buf_dispose(&e);
    return rc;
}

int ck_gen(struct ck_session *s, const char *src, size_t len, const char *cell, struct ck_gen *g)
{
    struct ck_toks tk = {0};
    struct ck_chunks ch = {0};
    struct gen G = {s, src, &tk, cell, g, {0}, {0}, NULL, 0};
    int rc = 0;
    int has_stmts = 0;

    jp_buf_init(&g->code, 256 << 20);
    jp_buf_init(&g->warnings, 1 << 20);
    jp_buf_init(&G.filescope, 128 << 20);
    jp_buf_init(&G.body, 128 << 20);
    g->fn[0] = '\0';
    g->has_main = 0;
    s->serial++;
    CHECK(ck_lex(src, len, &tk));
    CHECK(ck_split(src, &tk, (ck_is_type_fn)ck_session_is_type, s, &ch));
    const struct ck_toks *t = &tk;
    for (size_t i = 0; i < ch.n; i++) {
        const struct ck_chunk *c = &ch.v[i];
        switch (c->kind) {
        case CK_CHUNK_INCLUDE: {
            const struct ck_tok *k = TOK(c->tb);
            char *text = xstrndup(src + k->start, k->len);
            char *key = text ? squash(text) : NULL;
            if (!key) {
                free(text);
                CHECK(JP_ENOMEM);
            }
            if (find_item(s, key) < 0)
                rc = add_item(s, CK_ITEM_INCLUDE, key, text, cell, k->line, "");
            if (!rc)
                rc = line_directive(&G.filescope, k->line, cell);
            if (!rc)
                rc = jp_buf_addf(&G.filescope, "%s\n", text);
            free(text);
            free(key);
            CHECK(rc);
            break;
        }
        case CK_CHUNK_DEFINE:
            CHECK(gen_define(&G, c));
            break;
        case CK_CHUNK_PP: {
            /* #pragma and #if groups: kept for later cells unless it is a pragma */
            const struct ck_tok *k = TOK(c->tb);
            const struct ck_tok *last = TOK(c->te - 1);
            char *text = xstrndup(src + k->start, last->start + last->len - k->start);
            if (!text)
                CHECK(JP_ENOMEM);
            int is_new = 1;
            if (strncmp(text, "#pragma", 7) != 0)
                rc = put_type_item(&G, CK_ITEM_PP, text, text, k->line, "", &is_new);
            if (!rc && is_new)
                rc = line_directive(&G.filescope, k->line, cell);
            if (!rc && is_new)
                rc = jp_buf_addf(&G.filescope, "%s\n", text);
            free(text);
            CHECK(rc);
            break;
        }
        case CK_CHUNK_TYPE:
            CHECK(gen_type(&G, c));
            break;
        case CK_CHUNK_DECL:
            CHECK(gen_decl(&G, c));
            break;
        case CK_CHUNK_FUNC:
            CHECK(gen_func(&G, c));
            break;
        case CK_CHUNK_STMT:
            has_stmts = 1;
            CHECK(line_directive(&G.body, TOK(c->tb)->line, cell));
            CHECK(append_toks(&G.body, src, t, c->tb, c->te, 0, 0, 0, NULL));
            CHECK(jp_buf_adds(&G.body, (c->flags & CK_F_NOSEMI) ? ";\n" : "\n"));
            break;
        case CK_CHUNK_EXPR:
            has_stmts = 1;
            CHECK(gen_show(&G, c));
            break;
        }
    }

    /* assemble: prelude, live declarations, this cell */
    /* what the precompiled header holds is left out (it only stays valid while those
     * items are unchanged: the caller checks that before setting pch_items) */
    size_t skip = s->pch_items <= ck_session_include_prefix(s) ? s->pch_items : 0;
    if (!s->pch_items)
        CHECK(jp_buf_adds(&g->code, "#include <cnote.h>\n"));
    for (size_t i = skip; i < s->n_items; i++) {
        const struct ck_item *it = &s->items[i];
        if (strcmp(it->cell, cell) == 0)
            continue; /* this cell's own items are emitted in place below */
        if (strcmp(it->cell, "<cnote>") != 0)
            CHECK(line_directive(&g->code, it->line, it->cell));
        CHECK(jp_buf_addf(&g->code, "%s\n", it->text));
    }
    CHECK(jp_buf_adds(&g->code, "#line 1 \"<cnote>\"\n"));
    for (size_t i = 0; i < s->n_syms; i++) {
        const struct ck_sym *y = &s->syms[i];
        if (y->stale || strcmp(y->cell, cell) == 0)
            continue;
        CHECK(jp_buf_addf(&g->code, "%s\n", y->decl));
    }
    if (G.filescope.len)
        CHECK(jp_buf_add(&g->code, G.filescope.data, G.filescope.len));
    if (has_stmts || G.body.len || g->has_main) {
        snprintf(g->fn, sizeof g->fn, "__ck_cell_%u", s->serial);
        CHECK(jp_buf_addf(&g->code, "#line 1 \"<cnote>\"\nvoid %s(void);\nvoid %s(void)\n{\n",
                          g->fn, g->fn));
        if (G.body.len)
            CHECK(jp_buf_add(&g->code, G.body.data, G.body.len));
        if (g->has_main)
            CHECK(jp_buf_adds(&g->code,
                              "#line 1 \"<cnote>\"\n__ck_main_returned(((int (*)(int, char **))"
                              "main)(1, (char *[]){\"cell\", 0}));\n"));
        CHECK(jp_buf_adds(&g->code, "}\n"));
    } else {
        /* nothing to run, but the definitions must still be compiled and loaded */
        snprintf(g->fn, sizeof g->fn, "__ck_cell_%u", s->serial);
        CHECK(jp_buf_addf(&g->code, "#line 1 \"<cnote>\"\nvoid %s(void);\nvoid %s(void) {}\n",
                          g->fn, g->fn));
    }
out:
    ck_toks_dispose(&tk);
    ck_chunks_dispose(&ch);
    jp_buf_dispose(&G.filescope);
    jp_buf_dispose(&G.body);
    free(G.redefined);
    return rc;
}

void ck_gen_dispose(struct ck_gen *g)
{
    jp_buf_dispose(&g->code);
    jp_buf_dispose(&g->warnings);
}

int ck_session_put_func(struct ck_session *s, const char *name, const char *label, const char *decl,
                        const char *type, const char *cell, int line)
{
    struct ck_sym y = {CK_SYM_FUNC,   xstrdup(name), xstrdup(label), xstrdup(decl), xstrdup(type),
                       xstrdup(decl), xstrdup(cell), line,           xstrdup(""),   0};
    int rc = 0;
    if (!y.name || !y.label || !y.decl || !y.type || !y.text || !y.cell || !y.refs)
        rc = JP_ENOMEM;
    if (!rc)
        rc = put_sym(s, &y);
    sym_dispose(&y);
    return rc;
}
