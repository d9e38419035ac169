/*
 * ck_cell.c - top-level chunking and classification of a cell (see ck_cell.h).
 *
 * A chunk ends at a ';' at bracket depth 0, or at the '}' that closes a function body
 * or a statement's block (not a struct body or a brace initializer). A chunk starting
 * with `if` continues through `else`; `do { } while ();` runs to its ';'. #if groups
 * are kept whole. Classification follows the C rule that a typedef name is known once
 * declared, with one extra heuristic: two identifiers in a row start a declaration even
 * when the first is unknown (an expression can never look like that).
 */
#include "ck_cell.h"

#include <stdlib.h>
#include <string.h>

#include "jp_err.h"

#define TOK(i) (&t->v[(i)])
#define IS(i, s) ck_tok_is(src, TOK(i), (s))

size_t ck_match(const char *src, const struct ck_toks *t, size_t i)
{
    int depth = 0;
    for (size_t j = i; j < t->n; j++) {
        const struct ck_tok *k = TOK(j);
        if (k->kind != CK_TOK_PUNCT || k->len != 1)
            continue;
        char c = src[k->start];
        if (c == '(' || c == '[' || c == '{')
            depth++;
        else if (c == ')' || c == ']' || c == '}') {
            if (--depth == 0)
                return j;
        }
    }
    return t->n - 1;
}

static int push(struct ck_chunks *c, const struct ck_chunk *ch)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct ck_chunk *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = *ch;
    return 0;
}

void ck_chunks_dispose(struct ck_chunks *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

static int directive_is(const char *src, const struct ck_tok *k, const char *word)
{
    size_t i = k->start + 1, end = k->start + k->len, n = strlen(word);
    while (i < end && (src[i] == ' ' || src[i] == '\t'))
        i++;
    if (end - i < n || memcmp(src + i, word, n) != 0)
        return 0;
    return i + n == end || !((src[i + n] >= 'a' && src[i + n] <= 'z') || src[i + n] == '_');
}

static const char *const storage_words[] = {
    "static", "extern",   "auto",       "register",  "_Thread_local", "__thread",
    "inline", "__inline", "__inline__", "_Noreturn", "__extension__", NULL};
static const char *const qual_words[] = {"const",      "volatile",     "restrict",
                                         "__restrict", "__restrict__", "_Atomic",
                                         "__const",    "__volatile__", NULL};
static const char *const type_words[] = {
    "void",     "char",  "short",    "int",      "long",      "float",      "double",      "signed",
    "unsigned", "_Bool", "_Complex", "__int128", "_Float128", "__signed__", "__auto_type", NULL};

static int in_list(const char *src, const struct ck_tok *k, const char *const *list)
{
    if (k->kind != CK_TOK_IDENT)
        return 0;
    for (; *list; list++)
        if (strlen(*list) == k->len && memcmp(*list, src + k->start, k->len) == 0)
            return 1;
    return 0;
}

struct local_types {
    const char *src;
    const struct ck_toks *t;
    size_t *names; /* token indices of typedef names declared in this cell */
    size_t n, cap;
};

static int known_type(const char *src, const struct ck_tok *k, ck_is_type_fn is_type, void *ctx,
                      const struct local_types *lt)
{
    if (k->kind != CK_TOK_IDENT || ck_is_keyword(src + k->start, k->len))
        return 0;
    for (size_t i = 0; i < lt->n; i++) {
        const struct ck_tok *o = &lt->t->v[lt->names[i]];
        if (o->len == k->len && memcmp(src + o->start, src + k->start, k->len) == 0)
            return 1;
    }
    return is_type && is_type(ctx, src + k->start, k->len);
}

/*
 * Parse declaration specifiers from tb. Returns the index after them and sets *has_type
 * when a type specifier was seen; flags and tag positions go into ch.
 */
static size_t parse_specs(const char *src, const struct ck_toks *t, size_t tb, size_t te,
                          ck_is_type_fn is_type, void *ctx, const struct local_types *lt,
                          struct ck_chunk *ch, int *has_type)
{
    size_t i = tb;
    *has_type = 0;
    while (i < te) {
        const struct ck_tok *k = TOK(i);
        if (k->kind != CK_TOK_IDENT)
            break;
        if (in_list(src, k, storage_words)) {
            if (IS(i, "static"))
                ch->flags |= CK_F_STATIC;
            else if (IS(i, "extern"))
                ch->flags |= CK_F_EXTERN;
            else if (IS(i, "_Thread_local") || IS(i, "__thread"))
                ch->flags |= CK_F_THREAD;
            else if (IS(i, "inline") || IS(i, "__inline") || IS(i, "__inline__"))
                ch->flags |= CK_F_INLINE;
            i++;
        } else if (IS(i, "typedef")) {
            ch->flags |= CK_F_TYPEDEF;
            i++;
        } else if (in_list(src, k, qual_words)) {
            if (IS(i, "const") || IS(i, "__const"))
                ch->flags |= CK_F_CONST;
            /* _Atomic(T) is a type specifier */
            if (IS(i, "_Atomic") && i + 1 < te && IS(i + 1, "(")) {
                i = ck_match(src, t, i + 1) + 1;
                *has_type = 1;
            } else {
                i++;
            }
        } else if (in_list(src, k, type_words)) {
            *has_type = 1;
            i++;
        } else if (IS(i, "struct") || IS(i, "union") || IS(i, "enum")) {
            *has_type = 1;
            size_t kw = i++;
            while (i < te && (IS(i, "__attribute__") || IS(i, "_Alignas"))) {
                if (i + 1 < te && IS(i + 1, "("))
                    i = ck_match(src, t, i + 1) + 1;
                else
                    i++;
            }
            if (i < te && TOK(i)->kind == CK_TOK_IDENT && !ck_tok_is_keyword(src, TOK(i)))
                i++;
            if (i < te && IS(i, "{")) {
                ch->flags |= CK_F_TAGBODY;
                ch->tag_tok = kw;
                ch->tag_open = i;
                ch->tag_close = ck_match(src, t, i);
                i = ch->tag_close + 1;
            }
        } else if (IS(i, "__attribute__") || IS(i, "_Alignas") || IS(i, "__typeof__") ||
                   IS(i, "typeof") || IS(i, "__typeof") || IS(i, "__declspec")) {
            if (!IS(i, "__attribute__") && !IS(i, "_Alignas"))
                *has_type = 1;
            if (i + 1 < te && IS(i + 1, "("))
                i = ck_match(src, t, i + 1) + 1;
            else
                i++;
        } else if (!*has_type && known_type(src, k, is_type, ctx, lt)) {
            *has_type = 1;
            i++;
        } else if (!*has_type && i + 1 < te && TOK(i + 1)->kind == CK_TOK_IDENT &&
                   !ck_tok_is_keyword(src, k) &&
                   (!ck_tok_is_keyword(src, TOK(i + 1)) || in_list(src, TOK(i + 1), qual_words))) {
            /* `unknown_t x` : two identifiers in a row can only be a declaration */
            *has_type = 1;
            i++;
        } else {
            break;
        }
    }
    return i;
}

static const char *const stmt_words[] = {"if",      "for",   "while",    "do",   "switch",
                                         "return",  "break", "continue", "goto", "case",
                                         "default", "else",  NULL};

static void classify(const char *src, const struct ck_toks *t, ck_is_type_fn is_type, void *ctx,
                     const struct local_types *lt, struct ck_chunk *ch)
{
    size_t tb = ch->tb, te = ch->te;
    const struct ck_tok *first = TOK(tb);

    if (in_list(src, first, stmt_words) || IS(tb, "{") || IS(tb, ";") ||
        (first->kind == CK_TOK_IDENT && tb + 1 < te && IS(tb + 1, ":") &&
         !ck_tok_is_keyword(src, first))) {
        ch->kind = CK_CHUNK_STMT;
        return;
    }
    if (IS(tb, "_Static_assert") || IS(tb, "static_assert")) {
        ch->kind = CK_CHUNK_TYPE;
        return;
    }
    int has_type = 0;
    size_t se = parse_specs(src, t, tb, te, is_type, ctx, lt, ch, &has_type);
    ch->spec_end = se;
    int has_storage = ch->flags & (CK_F_STATIC | CK_F_EXTERN | CK_F_TYPEDEF | CK_F_THREAD);
    if (!has_type && !has_storage) {
        ch->flags = 0;
        ch->kind = CK_CHUNK_STMT;
        return;
    }
    if (ch->flags & CK_F_TYPEDEF) {
        ch->kind = CK_CHUNK_TYPE;
        return;
    }
    /* `struct S { ... };` with no declarator */
    if (se >= te - 1 && IS(te - 1, ";")) {
        ch->kind = CK_CHUNK_TYPE;
        return;
    }
    if (se == te || (se + 1 == te && (ch->flags & CK_F_NOSEMI) == 0 && IS(se, ";"))) {
        ch->kind = CK_CHUNK_TYPE;
        return;
    }
    /* A function definition ends with the body's '}' and has no '=' at depth 0. */
    if (IS(te - 1, "}")) {
        int depth = 0;
        size_t open = 0;
        for (size_t i = se; i < te; i++) {
            const struct ck_tok *k = TOK(i);
            if (k->kind != CK_TOK_PUNCT || k->len != 1)
                continue;
            char c = src[k->start];
            if (c == '=' && depth == 0)
                break;
            if (c == '{' && depth == 0) {
                open = i;
                break;
            }
            if (c == '(' || c == '[' || c == '{')
                depth++;
            else if (c == ')' || c == ']' || c == '}')
                depth--;
        }
        if (open && ck_match(src, t, open) == te - 1) {
            ch->kind = CK_CHUNK_FUNC;
            ch->body_open = open;
            return;
        }
    }
    ch->kind = CK_CHUNK_DECL;
}

/* Where does the chunk that starts at token i end? Returns the index after its last token;
 * *closed tells whether a ';' or a block's '}' ended it (not the end of the cell). */
static size_t chunk_end(const char *src, const struct ck_toks *t, size_t i, int *closed)
{
    *closed = 1;
    size_t end = t->n - 1; /* EOF */
    size_t j = i;
    int is_if = IS(i, "if"), is_do = IS(i, "do");
    int saw_eq = 0, saw_tag = 0;
    while (j < end) {
        const struct ck_tok *k = TOK(j);
        if (k->kind == CK_TOK_DIRECTIVE) {
            /* a directive inside a chunk (e.g. #ifdef inside a function) is part of it */
            j++;
            continue;
        }
        if (IS(j, ";")) {
            j++;
            if (is_if && j < end && IS(j, "else")) {
                is_if = IS(j + 1, "if");
                j++;
                continue;
            }
            return j;
        }
        if (IS(j, "="))
            saw_eq = 1;
        if (IS(j, "struct") || IS(j, "union") || IS(j, "enum"))
            saw_tag = 1;
        if (IS(j, "(") || IS(j, "[")) {
            j = ck_match(src, t, j) + 1;
            continue;
        }
        if (IS(j, "{")) {
            size_t close = ck_match(src, t, j);
            int tag_body = saw_tag && j > i &&
                           (IS(j - 1, "struct") || IS(j - 1, "union") || IS(j - 1, "enum") ||
                            (TOK(j - 1)->kind == CK_TOK_IDENT && j >= i + 2 &&
                             (IS(j - 2, "struct") || IS(j - 2, "union") || IS(j - 2, "enum"))) ||
                            IS(j - 1, ")") ||
                            (TOK(j - 1)->kind == CK_TOK_IDENT && j >= i + 2 && IS(j - 2, ")")));
            /* the ')' before the body, or before the tag in `struct __attribute__((x)) S {` */
            size_t paren = j - 1;
            if (tag_body && !IS(j - 1, ")") && j >= i + 2)
                paren = j - 2;
            if (tag_body && IS(paren, ")")) {
                /* `struct S __attribute__((packed)) {` : still a tag body only if the
                 * parenthesised group is an attribute */
                size_t k2 = paren;
                int depth = 0;
                while (k2 > i) {
                    if (IS(k2, ")"))
                        depth++;
                    else if (IS(k2, "("))
                        depth--;
                    if (depth == 0)
                        break;
                    k2--;
                }
                tag_body = k2 > i && (IS(k2 - 1, "__attribute__") || IS(k2 - 1, "_Alignas"));
            }
            int init = saw_eq || (j > i && (IS(j - 1, "=") || IS(j - 1, ",")));
            if (!init && j > i && IS(j - 1, ")")) {
                /* `(pt){1, 2}`: a compound literal when the parenthesis starts the chunk or
                 * follows an operator; a parameter list follows a name or a ')' */
                size_t open = j - 1;
                int depth = 0;
                while (open > i) {
                    if (IS(open, ")"))
                        depth++;
                    else if (IS(open, "(") && --depth == 0)
                        break;
                    open--;
                }
                init = IS(open, "(") && (open == i || (TOK(open - 1)->kind == CK_TOK_PUNCT &&
                                                       !IS(open - 1, ")") && !IS(open - 1, "]")));
            }
            j = close + 1;
            if (tag_body || init)
                continue;
            if (close >= end) {
                *closed = 0;
                return end;
            }
            /* a body or block ended: the chunk ends here unless it goes on */
            if (is_do)
                continue;
            if (is_if && IS(j, "else")) {
                is_if = IS(j + 1, "if");
                j++;
                continue;
            }
            return j;
        }
        j++;
    }
    *closed = 0;
    return end;
}

static int add_local_typedefs(const char *src, const struct ck_toks *t, const struct ck_chunk *ch,
                              struct local_types *lt);

int ck_split(const char *src, const struct ck_toks *t, ck_is_type_fn is_type, void *ctx,
             struct ck_chunks *out)
{
    struct local_types lt = {src, t, NULL, 0, 0};
    size_t end = t->n - 1;
    size_t i = 0;
    int rc = 0;

    out->n = 0;
    while (i < end) {
        struct ck_chunk ch;
        memset(&ch, 0, sizeof ch);
        const struct ck_tok *k = TOK(i);
        ch.tb = i;
        if (k->kind == CK_TOK_DIRECTIVE) {
            if (directive_is(src, k, "if") || directive_is(src, k, "ifdef") ||
                directive_is(src, k, "ifndef")) {
                int depth = 0;
                size_t j = i;
                for (; j < end; j++) {
                    const struct ck_tok *d = TOK(j);
                    if (d->kind != CK_TOK_DIRECTIVE)
                        continue;
                    if (directive_is(src, d, "if") || directive_is(src, d, "ifdef") ||
                        directive_is(src, d, "ifndef"))
                        depth++;
                    else if (directive_is(src, d, "endif") && --depth == 0)
                        break;
                }
                ch.te = j < end ? j + 1 : end;
                ch.kind = CK_CHUNK_PP;
            } else {
                ch.te = i + 1;
                if (directive_is(src, k, "include") || directive_is(src, k, "include_next"))
                    ch.kind = CK_CHUNK_INCLUDE;
                else if (directive_is(src, k, "define") || directive_is(src, k, "undef"))
                    ch.kind = CK_CHUNK_DEFINE;
                else
                    ch.kind = CK_CHUNK_PP;
            }
        } else {
            int closed;
            ch.te = chunk_end(src, t, i, &closed);
            if (!closed)
                ch.flags |= CK_F_NOSEMI;
            unsigned keep = ch.flags;
            classify(src, t, is_type, ctx, &lt, &ch);
            ch.flags |= keep;
            if (!closed && ch.kind == CK_CHUNK_STMT && !in_list(src, TOK(ch.tb), stmt_words) &&
                !IS(ch.tb, "{"))
                ch.kind = CK_CHUNK_EXPR;
            if (ch.kind == CK_CHUNK_TYPE && (ch.flags & CK_F_TYPEDEF)) {
                rc = add_local_typedefs(src, t, &ch, &lt);
                if (rc)
                    goto out;
            }
        }
        rc = push(out, &ch);
        if (rc)
            goto out;
        i = ch.te;
    }
    /* Only the last chunk may be an expression; an earlier unterminated one is a statement
     * (the compiler will then say what is missing). */
    for (size_t c = 0; c + 1 < out->n; c++)
        if (out->v[c].kind == CK_CHUNK_EXPR)
            out->v[c].kind = CK_CHUNK_STMT;
out:
    free(lt.names);
    return rc;
}

struct collect {
    struct local_types *lt;
    int rc;
};

static void collect_name(void *ctx, size_t tok)
{
    struct collect *c = ctx;
    struct local_types *lt = c->lt;
    if (c->rc)
        return;
    if (lt->n == lt->cap) {
        size_t cap = lt->cap ? lt->cap * 2 : 8;
        size_t *v = realloc(lt->names, cap * sizeof *v);
        if (!v) {
            c->rc = JP_ENOMEM;
            return;
        }
        lt->names = v;
        lt->cap = cap;
    }
    lt->names[lt->n++] = tok;
}

static int add_local_typedefs(const char *src, const struct ck_toks *t, const struct ck_chunk *ch,
                              struct local_types *lt)
{
    struct collect c = {lt, 0};
    ck_type_names(src, t, ch, collect_name, &c);
    return c.rc;
}

int ck_declarators(const char *src, const struct ck_toks *t, const struct ck_chunk *c,
                   struct ck_declarator *out, int max)
{
    size_t i = c->spec_end;
    size_t end = c->kind == CK_CHUNK_FUNC ? c->body_open : c->te;
    int n = 0;

    if (end > c->tb && c->kind != CK_CHUNK_FUNC && IS(end - 1, ";"))
        end--;
    while (i < end && n < max) {
        struct ck_declarator d;
        memset(&d, 0, sizeof d);
        d.db = i;
        d.name = (size_t)-1;
        /* declarator up to '=' or ',' at depth 0 */
        while (i < end && !IS(i, "=") && !IS(i, ",")) {
            if (IS(i, "(") || IS(i, "[")) {
                if (IS(i, "[") && d.name != (size_t)-1 && i == d.name + 1 && i + 1 < end &&
                    IS(i + 1, "]"))
                    d.unsized_array = 1;
                if (IS(i, "(") && d.name != (size_t)-1 && i == d.name + 1)
                    d.is_func = 1;
                if (IS(i, "(") && i > c->tb &&
                    (IS(i - 1, "__attribute__") || IS(i - 1, "__asm__") || IS(i - 1, "asm"))) {
                    i = ck_match(src, t, i) + 1;
                    continue;
                }
                if (d.name == (size_t)-1) {
                    i++; /* grouping parenthesis: look inside for the name */
                    continue;
                }
                i = ck_match(src, t, i) + 1;
                continue;
            }
            if (d.name == (size_t)-1 && TOK(i)->kind == CK_TOK_IDENT &&
                !ck_tok_is_keyword(src, TOK(i)))
                d.name = i;
            i++;
        }
        d.de = i;
        if (d.name == (size_t)-1)
            return JP_EINVAL;
        if (i < end && IS(i, "=")) {
            d.has_eq = 1;
            i++;
            d.ib = i;
            while (i < end && !IS(i, ",")) {
                if (IS(i, "(") || IS(i, "[") || IS(i, "{"))
                    i = ck_match(src, t, i) + 1;
                else
                    i++;
            }
            d.ie = i;
        }
        out[n++] = d;
        if (i < end && IS(i, ","))
            i++;
    }
    return n;
}

void ck_type_names(const char *src, const struct ck_toks *t, const struct ck_chunk *c,
                   void (*fn)(void *ctx, size_t tok), void *ctx)
{
    if (c->flags & CK_F_TAGBODY && IS(c->tag_tok, "enum")) {
        /* enum constants: identifiers at depth 1 after '{' or ',' */
        size_t i = c->tag_open + 1;
        int expect = 1;
        while (i < c->tag_close) {
            if (expect && TOK(i)->kind == CK_TOK_IDENT)
                fn(ctx, i);
            expect = 0;
            if (IS(i, "(") || IS(i, "[") || IS(i, "{")) {
                i = ck_match(src, t, i) + 1;
                continue;
            }
            if (IS(i, ","))
                expect = 1;
            i++;
        }
    }
    if (!(c->flags & CK_F_TYPEDEF))
        return;
    struct ck_declarator d[32];
    int n = ck_declarators(src, t, c, d, 32);
    for (int k = 0; k < n; k++)
        fn(ctx, d[k].name);
}
