/*
 * ck_lex.h - a C tokenizer for cell text. It knows comments, string and character
 * literals (with u8/u/U/L prefixes), numbers, identifiers, punctuators, backslash-newline
 * joins and preprocessor lines (a `#` that is the first token on a line makes the whole
 * logical line one CK_TOK_DIRECTIVE token). It does not preprocess or expand macros and
 * never fails: malformed input (an unterminated string or comment) becomes a token with
 * the `unterminated` flag set, so callers such as is_complete can see it.
 * Used by the cell splitter, the code generator, completion and inspection.
 */
#ifndef CK_LEX_H
#define CK_LEX_H

#include <stddef.h>

enum ck_tok_kind {
    CK_TOK_EOF = 0,
    CK_TOK_IDENT,
    CK_TOK_NUMBER,
    CK_TOK_STRING,
    CK_TOK_CHAR,
    CK_TOK_PUNCT,
    CK_TOK_DIRECTIVE,
};

struct ck_tok {
    enum ck_tok_kind kind;
    size_t start; /* byte offset in the source */
    size_t len;
    int line;         /* 1-based physical line of the first byte */
    int unterminated; /* string, char, comment or directive that ran into the end */
};

struct ck_toks {
    struct ck_tok *v;
    size_t n, cap;
    int unterminated_comment; /* a block comment ran into the end of the text */
    int trailing_backslash;   /* the text ends with a backslash-newline or backslash */
};

/* Tokenize len bytes of src into t (which must be zero-initialised or disposed). The last
 * token is always CK_TOK_EOF. 0 or JP_ENOMEM. */
int ck_lex(const char *src, size_t len, struct ck_toks *t);
void ck_toks_dispose(struct ck_toks *t);

/* True when token tok (of src) is the punctuator or identifier spelled s. */
int ck_tok_is(const char *src, const struct ck_tok *tok, const char *s);
/* True when an identifier token is a C keyword (C11 plus common GNU spellings). */
int ck_tok_is_keyword(const char *src, const struct ck_tok *tok);
/* True when the NUL-terminated word is a C keyword. */
int ck_is_keyword(const char *word, size_t len);
/* The C keywords, NULL-terminated, for completion. */
extern const char *const ck_keywords[];

#endif
