/*
 * ck_lex.c - the C tokenizer behind cell splitting, completion and is_complete.
 *
 * A hand-written scanner over the raw cell bytes. It keeps byte offsets so callers can
 * cut the original text (code generation copies user text verbatim, never re-spelled
 * tokens). Comments are skipped; directives are single tokens; `#` and `##` elsewhere
 * are punctuators. It does not understand trigraphs or digraphs.
 */
#include "ck_lex.h"

#include <stdlib.h>
#include <string.h>

#include "jp_err.h"

const char *const ck_keywords[] = {
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "_Alignas",
    "_Alignof",
    "_Atomic",
    "_Bool",
    "_Complex",
    "_Generic",
    "_Imaginary",
    "_Noreturn",
    "_Static_assert",
    "_Thread_local",
    "__attribute__",
    "__typeof__",
    "typeof",
    "__asm__",
    "asm",
    "__inline",
    "__inline__",
    "__restrict",
    "__restrict__",
    "__extension__",
    "__auto_type",
    "__thread",
    "__const",
    "__volatile__",
    "__signed__",
    "_Float128",
    "__int128",
    NULL,
};

int ck_is_keyword(const char *word, size_t len)
{
    for (const char *const *k = ck_keywords; *k; k++)
        if (strlen(*k) == len && memcmp(*k, word, len) == 0)
            return 1;
    return 0;
}

int ck_tok_is_keyword(const char *src, const struct ck_tok *tok)
{
    return tok->kind == CK_TOK_IDENT && ck_is_keyword(src + tok->start, tok->len);
}

int ck_tok_is(const char *src, const struct ck_tok *tok, const char *s)
{
    size_t n = strlen(s);
    return (tok->kind == CK_TOK_PUNCT || tok->kind == CK_TOK_IDENT) && tok->len == n &&
           memcmp(src + tok->start, s, n) == 0;
}

static int push(struct ck_toks *t, enum ck_tok_kind kind, size_t start, size_t len, int line,
                int unterminated)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct ck_tok *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return JP_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (struct ck_tok){kind, start, len, line, unterminated};
    return 0;
}

static int is_ident_start(unsigned char c)
{
    return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static int is_ident_char(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Skip a backslash-newline at i (also "\\\r\n"); returns the new index. */
static size_t skip_splices(const char *s, size_t len, size_t i, int *line)
{
    while (i < len && s[i] == '\\') {
        if (i + 1 < len && s[i + 1] == '\n') {
            i += 2;
            (*line)++;
        } else if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
            i += 3;
            (*line)++;
        } else {
            break;
        }
    }
    return i;
}

/* Scan a quoted literal starting at the opening quote s[i]; returns the index after it. */
static size_t scan_quoted(const char *s, size_t len, size_t i, int *line, int *unterminated)
{
    char q = s[i++];
    while (i < len) {
        char c = s[i];
        if (c == '\\') {
            if (i + 1 < len && s[i + 1] == '\n') {
                (*line)++;
            } else if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
                (*line)++; /* a CRLF splice */
                i++;
            }
            i += 2;
            continue;
        }
        if (c == '\n')
            break; /* a raw newline ends an unterminated literal */
        i++;
        if (c == q)
            return i;
    }
    *unterminated = 1;
    return i > len ? len : i;
}

static const char *const puncts3[] = {"<<=", ">>=", "...", NULL};
static const char *const puncts2[] = {
    "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
    "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "##", NULL};

int ck_lex(const char *s, size_t len, struct ck_toks *t)
{
    size_t i = 0;
    int line = 1;
    int line_start = 1; /* no token yet on this line: a '#' here starts a directive */
    int rc;

    t->n = 0;
    t->unterminated_comment = 0;
    t->trailing_backslash = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            line++;
            i++;
            line_start = 1;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            i++;
            continue;
        }
        if (c == '\\') {
            size_t j = skip_splices(s, len, i, &line);
            if (j != i) {
                i = j;
                if (i == len)
                    t->trailing_backslash = 1;
                continue;
            }
            if (i + 1 == len) {
                t->trailing_backslash = 1;
                i++;
                continue;
            }
        }
        if (c == '/' && i + 1 < len && s[i + 1] == '/') {
            while (i < len && s[i] != '\n') {
                if (s[i] == '\\' && i + 1 < len && s[i + 1] == '\n') {
                    line++;
                    i++;
                }
                i++;
            }
            continue;
        }
        if (c == '/' && i + 1 < len && s[i + 1] == '*') {
            i += 2;
            int closed = 0;
            while (i < len) {
                if (s[i] == '*' && i + 1 < len && s[i + 1] == '/') {
                    i += 2;
                    closed = 1;
                    break;
                }
                if (s[i] == '\n')
                    line++;
                i++;
            }
            if (!closed)
                t->unterminated_comment = 1;
            continue;
        }
        size_t start = i;
        int start_line = line, unterminated = 0;
        enum ck_tok_kind kind;
        if (c == '#' && line_start) {
            /* A directive runs to the end of the logical line; comments inside it are kept. */
            while (i < len && s[i] != '\n') {
                if (s[i] == '\\') {
                    size_t j = skip_splices(s, len, i, &line);
                    if (j != i) {
                        i = j;
                        if (i == len)
                            t->trailing_backslash = unterminated = 1;
                        continue;
                    }
                    if (i + 1 == len)
                        t->trailing_backslash = unterminated = 1;
                } else if (s[i] == '"' || s[i] == '\'') {
                    /* no comment starts inside quotes; a lone ' (#error don't) stops at
                     * the newline like the directive */
                    int quote_open = 0;
                    i = scan_quoted(s, len, i, &line, &quote_open);
                    continue;
                } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '/') {
                    /* a line comment: nothing in it opens a block comment */
                    while (i < len && s[i] != '\n') {
                        size_t j = skip_splices(s, len, i, &line);
                        i = j != i ? j : i + 1;
                    }
                    break;
                } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
                    size_t j = i + 2;
                    while (j < len && !(s[j] == '*' && j + 1 < len && s[j + 1] == '/')) {
                        if (s[j] == '\n')
                            line++;
                        j++;
                    }
                    if (j >= len) {
                        t->unterminated_comment = 1;
                        i = len;
                        break;
                    }
                    i = j + 2;
                    continue;
                }
                i++;
            }
            kind = CK_TOK_DIRECTIVE;
        } else if (c == '"' || c == '\'') {
            i = scan_quoted(s, len, i, &line, &unterminated);
            kind = c == '"' ? CK_TOK_STRING : CK_TOK_CHAR;
        } else if (is_ident_start(c)) {
            while (i < len && is_ident_char((unsigned char)s[i]))
                i++;
            /* Encoding prefixes glue to a following literal: u8"x", L'x', U"x", u"x". */
            size_t n = i - start;
            if (i < len && (s[i] == '"' || s[i] == '\'') &&
                ((n == 1 && (c == 'L' || c == 'u' || c == 'U')) ||
                 (n == 2 && s[start] == 'u' && s[start + 1] == '8'))) {
                kind = s[i] == '"' ? CK_TOK_STRING : CK_TOK_CHAR;
                i = scan_quoted(s, len, i, &line, &unterminated);
            } else {
                kind = CK_TOK_IDENT;
            }
        } else if ((c >= '0' && c <= '9') ||
                   (c == '.' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')) {
            /* pp-number: digits, letters, dots, and signs after e/E/p/P */
            i++;
            while (i < len) {
                unsigned char d = (unsigned char)s[i];
                if ((d == '+' || d == '-') && strchr("eEpP", s[i - 1]))
                    i++;
                else if (is_ident_char(d) || d == '.' || d == '\'')
                    i++;
                else
                    break;
            }
            kind = CK_TOK_NUMBER;
        } else {
            size_t n = 1;
            for (const char *const *p = puncts3; *p; p++)
                if (i + 3 <= len && memcmp(s + i, *p, 3) == 0)
                    n = 3;
            if (n == 1)
                for (const char *const *p = puncts2; *p; p++)
                    if (i + 2 <= len && memcmp(s + i, *p, 2) == 0)
                        n = 2;
            i += n;
            kind = CK_TOK_PUNCT;
        }
        if (i > len)
            i = len;
        rc = push(t, kind, start, i - start, start_line, unterminated);
        if (rc)
            return rc;
        line_start = 0;
        if (kind == CK_TOK_DIRECTIVE)
            line_start = 1;
    }
    return push(t, CK_TOK_EOF, len, 0, line, 0);
}

void ck_toks_dispose(struct ck_toks *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}
