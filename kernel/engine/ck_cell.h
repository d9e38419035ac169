/*
 * ck_cell.h - splitting a cell into top-level chunks and classifying each one: a
 * directive, a type definition, a function definition, a declaration of globals or
 * prototypes, a statement, or the trailing expression whose value the cell shows.
 * Works on ck_lex tokens; decides `T * x;` style ambiguities with a typedef-name
 * predicate supplied by the caller (names harvested from headers and earlier cells) plus
 * the typedefs of the cell itself. Produces no code; ck_gen.c does that.
 */
#ifndef CK_CELL_H
#define CK_CELL_H

#include <stddef.h>

#include "ck_lex.h"

enum ck_chunk_kind {
    CK_CHUNK_INCLUDE, /* #include line */
    CK_CHUNK_DEFINE,  /* #define or #undef line */
    CK_CHUNK_PP,      /* any other directive, or a whole #if ... #endif group: file scope */
    CK_CHUNK_TYPE,    /* typedef, tag definition without declarators, _Static_assert */
    CK_CHUNK_FUNC,    /* function definition */
    CK_CHUNK_DECL,    /* declaration of objects and/or functions (prototypes) */
    CK_CHUNK_STMT,    /* statement: runs in the cell function */
    CK_CHUNK_EXPR,    /* trailing expression without ';': its value is shown */
};

enum {
    CK_F_STATIC = 1 << 0,
    CK_F_EXTERN = 1 << 1,
    CK_F_INLINE = 1 << 2,
    CK_F_CONST = 1 << 3, /* const among the declaration specifiers */
    CK_F_TYPEDEF = 1 << 4,
    CK_F_TAGBODY = 1 << 5, /* the specifiers contain struct/union/enum { ... } */
    CK_F_NOSEMI = 1 << 6,  /* the cell ended without the closing ';' */
    CK_F_THREAD = 1 << 7,  /* _Thread_local / __thread */
};

struct ck_chunk {
    enum ck_chunk_kind kind;
    size_t tb, te;   /* token range [tb, te), including a final ';' */
    size_t spec_end; /* TYPE/FUNC/DECL: first token after the declaration specifiers */
    unsigned flags;
    size_t tag_tok;             /* CK_F_TAGBODY: the struct/union/enum keyword */
    size_t tag_open, tag_close; /* CK_F_TAGBODY: the braces of the tag body */
    size_t body_open;           /* FUNC: the '{' of the body (te-1 is its '}') */
};

struct ck_chunks {
    struct ck_chunk *v;
    size_t n, cap;
};

/* Returns non-zero when name (len bytes) is a typedef name known outside this cell. */
typedef int (*ck_is_type_fn)(void *ctx, const char *name, size_t len);

/* Split and classify. src/t: the cell and its tokens. 0 or JP_ENOMEM. */
int ck_split(const char *src, const struct ck_toks *t, ck_is_type_fn is_type, void *ctx,
             struct ck_chunks *out);
void ck_chunks_dispose(struct ck_chunks *c);

/* One declarator of a DECL chunk: `*p = expr` in `int x, *p = expr;`. */
struct ck_declarator {
    size_t db, de;     /* token range of the declarator (no initializer) */
    size_t name;       /* token index of the declared identifier */
    size_t ib, ie;     /* initializer token range (after '='), ib == ie when none */
    int has_eq;        /* an '=' follows the declarator (even with nothing after it) */
    int is_func;       /* the name is directly followed by a parameter list */
    int unsized_array; /* name followed by [] */
};

/* Split the declarators of a DECL or FUNC chunk (FUNC: the single declarator before the
 * body). Returns the number found (at most max), or JP_EINVAL when a declarator has no
 * identifier. */
int ck_declarators(const char *src, const struct ck_toks *t, const struct ck_chunk *c,
                   struct ck_declarator *out, int max);

/* For a typedef chunk, call fn for every declared typedef name; for a tag definition,
 * call tag_fn (may be NULL) with the tag name and fn for each enum constant. */
void ck_type_names(const char *src, const struct ck_toks *t, const struct ck_chunk *c,
                   void (*fn)(void *ctx, size_t tok), void *ctx);

/* Index of the matching closing bracket for the opener at tok i, or t->n-1 (EOF). */
size_t ck_match(const char *src, const struct ck_toks *t, size_t i);

#endif
