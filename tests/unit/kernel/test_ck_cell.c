/*
 * test_ck_cell.c - unit tests for kernel/engine/ck_cell.c: how ck_split cuts a cell into
 * top-level chunks and classifies them (directives, types, functions, declarations,
 * statements, the trailing expression), the `T * x` ambiguity decided by a typedef-name
 * predicate that knows "pt", "size_t" and "FILE", unbalanced input, and the helpers
 * ck_declarators, ck_type_names and ck_match. Does not test code generation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ck_cell.h"
#include "ck_lex.h"
#include "jp_err.h"

#define NOKIND (-1) /* ends the list of kinds given to expect_kinds */

struct split {
    const char *src;
    struct ck_toks t;
    struct ck_chunks c;
};

static int calls_seen;

static int is_type(void *ctx, const char *name, size_t len)
{
    static const char *const types[] = {"pt", "size_t", "FILE", NULL};

    assert_ptr_equal(ctx, &calls_seen);
    calls_seen++;
    for (const char *const *t = types; *t; t++)
        if (strlen(*t) == len && memcmp(*t, name, len) == 0)
            return 1;
    return 0;
}

/* Lex and split src with the test predicate; checks that the chunks tile the tokens. */
static void split_with(struct split *s, const char *src, ck_is_type_fn fn)
{
    memset(s, 0, sizeof *s);
    s->src = src;
    assert_int_equal(ck_lex(src, strlen(src), &s->t), 0);
    assert_int_equal(ck_split(src, &s->t, fn, &calls_seen, &s->c), 0);
    size_t next = 0;
    for (size_t i = 0; i < s->c.n; i++) {
        assert_int_equal(s->c.v[i].tb, next);
        assert_true(s->c.v[i].te > s->c.v[i].tb);
        assert_true(s->c.v[i].te <= s->t.n - 1);
        next = s->c.v[i].te;
    }
    assert_int_equal(next, s->t.n - 1);
}

static void split(struct split *s, const char *src)
{
    split_with(s, src, is_type);
}

static void split_dispose(struct split *s)
{
    ck_chunks_dispose(&s->c);
    ck_toks_dispose(&s->t);
}

/* The source text of chunk i. */
static void chunk_text_is(const struct split *s, size_t i, const char *want)
{
    assert_true(i < s->c.n);
    const struct ck_tok *a = &s->t.v[s->c.v[i].tb], *b = &s->t.v[s->c.v[i].te - 1];
    size_t len = b->start + b->len - a->start;
    if (len != strlen(want) || memcmp(s->src + a->start, want, len) != 0)
        fail_msg("chunk %zu is \"%.*s\", want \"%s\"", i, (int)len, s->src + a->start, want);
}

/* The source text of tokens [a, b). */
static void range_text_is(const struct split *s, size_t a, size_t b, const char *want)
{
    if (a == b) {
        assert_string_equal("", want);
        return;
    }
    const struct ck_tok *x = &s->t.v[a], *y = &s->t.v[b - 1];
    size_t len = y->start + y->len - x->start;
    if (len != strlen(want) || memcmp(s->src + x->start, want, len) != 0)
        fail_msg("range is \"%.*s\", want \"%s\"", (int)len, s->src + x->start, want);
}

static void tok_text_is(const struct split *s, size_t tok, const char *want)
{
    range_text_is(s, tok, tok + 1, want);
}

/* Split src and check the kinds of its chunks (NOKIND-terminated list). */
static void expect_kinds(const char *src, ...)
{
    struct split s;
    va_list ap;
    size_t n = 0;

    split(&s, src);
    va_start(ap, src);
    for (;;) {
        int k = va_arg(ap, int);
        if (k == NOKIND)
            break;
        if (n >= s.c.n)
            fail_msg("\"%s\": only %zu chunks", src, s.c.n);
        if ((int)s.c.v[n].kind != k)
            fail_msg("\"%s\": chunk %zu has kind %d, want %d", src, n, s.c.v[n].kind, k);
        n++;
    }
    va_end(ap);
    if (n != s.c.n)
        fail_msg("\"%s\": %zu chunks, want %zu", src, s.c.n, n);
    split_dispose(&s);
}

/* ---- ck_split ---------------------------------------------------------------------- */

static void test_ck_split_empty_cell(void **state)
{
    struct split s;

    (void)state;
    split(&s, "");
    assert_int_equal(s.c.n, 0);
    split_dispose(&s);
    split(&s, "  /* only a comment */\n// and another\n");
    assert_int_equal(s.c.n, 0);
    split_dispose(&s);
}

static void test_ck_split_example_cell(void **state)
{
    struct split s;

    (void)state;
    split(&s, "#include <math.h>\n"
              "typedef struct { double x, y; } pt;\n"
              "double *v = malloc(1000 * sizeof *v);\n"
              "for (int i = 0; i < 1000; i++) v[i] = sin(i);\n"
              "double norm(pt p) { return sqrt(p.x*p.x + p.y*p.y); }");
    assert_int_equal(s.c.n, 5);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_INCLUDE);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_TYPE);
    assert_int_equal(s.c.v[2].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[3].kind, CK_CHUNK_STMT);
    assert_int_equal(s.c.v[4].kind, CK_CHUNK_FUNC);
    chunk_text_is(&s, 0, "#include <math.h>");
    chunk_text_is(&s, 1, "typedef struct { double x, y; } pt;");
    chunk_text_is(&s, 2, "double *v = malloc(1000 * sizeof *v);");
    chunk_text_is(&s, 3, "for (int i = 0; i < 1000; i++) v[i] = sin(i);");
    chunk_text_is(&s, 4, "double norm(pt p) { return sqrt(p.x*p.x + p.y*p.y); }");
    assert_true(s.c.v[1].flags & CK_F_TYPEDEF);
    assert_true(s.c.v[1].flags & CK_F_TAGBODY);
    assert_int_equal(s.c.v[2].flags, 0);
    assert_int_equal(s.c.v[4].flags, 0);
    /* the function body: '{' recorded, te-1 is its '}' */
    tok_text_is(&s, s.c.v[4].body_open, "{");
    tok_text_is(&s, s.c.v[4].te - 1, "}");
    tok_text_is(&s, s.c.v[4].spec_end, "norm");
    split_dispose(&s);
}

static void test_ck_split_trailing_expression(void **state)
{
    struct split s;

    (void)state;
    split(&s, "double norm(pt p) { return p.x; }\nnorm(p) * 2");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_EXPR);
    assert_true(s.c.v[1].flags & CK_F_NOSEMI);
    chunk_text_is(&s, 1, "norm(p) * 2");
    split_dispose(&s);
}

static void test_ck_split_trailing_expression_forms(void **state)
{
    (void)state;
    expect_kinds("x", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("\"hi\"", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("'a'", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("x = 1", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("*p", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("sizeof(pt)", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("(pt *)p", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("x ? a : b", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("_Generic(x, int: 1, default: 0)", CK_CHUNK_EXPR, NOKIND);
    expect_kinds("int x = 1;\nx", CK_CHUNK_DECL, CK_CHUNK_EXPR, NOKIND);
    expect_kinds("f();\n  g(1, 2)  \n", CK_CHUNK_STMT, CK_CHUNK_EXPR, NOKIND);
}

static void test_ck_split_expression_with_semicolon_is_stmt(void **state)
{
    (void)state;
    expect_kinds("x;", CK_CHUNK_STMT, NOKIND);
    expect_kinds("f();", CK_CHUNK_STMT, NOKIND);
    expect_kinds("printf(\"%d\\n\", x);", CK_CHUNK_STMT, NOKIND);
    expect_kinds("*p = 3;", CK_CHUNK_STMT, NOKIND);
    expect_kinds("a = b = c;", CK_CHUNK_STMT, NOKIND);
    expect_kinds("FOO(x);", CK_CHUNK_STMT, NOKIND);
}

static void test_ck_split_star_with_unknown_is_stmt(void **state)
{
    struct split s;

    (void)state;
    split(&s, "x * y;");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT);
    assert_int_equal(s.c.v[0].flags, 0);
    split_dispose(&s);
}

static void test_ck_split_star_with_type_is_decl(void **state)
{
    struct split s;

    (void)state;
    calls_seen = 0;
    split(&s, "pt * y;");
    assert_true(calls_seen > 0); /* the predicate was asked, with our ctx */
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    tok_text_is(&s, s.c.v[0].spec_end, "*");
    split_dispose(&s);
}

static void test_ck_split_no_predicate(void **state)
{
    struct split s;

    (void)state;
    split_with(&s, "pt * y;", NULL);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT);
    split_dispose(&s);
    split_with(&s, "pt y;", NULL); /* two identifiers still make a declaration */
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    split_dispose(&s);
}

static void test_ck_split_two_identifiers_is_decl(void **state)
{
    struct split s;

    (void)state;
    split(&s, "unknown_t z;");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    tok_text_is(&s, s.c.v[0].spec_end, "z");
    split_dispose(&s);
    expect_kinds("unknown_t const *z;", CK_CHUNK_DECL, NOKIND);
    expect_kinds("a b", CK_CHUNK_DECL, NOKIND);
}

static void test_ck_split_header_types(void **state)
{
    (void)state;
    expect_kinds("size_t n = sizeof(int);", CK_CHUNK_DECL, NOKIND);
    expect_kinds("FILE *f = fopen(\"x\", \"r\");", CK_CHUNK_DECL, NOKIND);
    expect_kinds("pt *arr[3];", CK_CHUNK_DECL, NOKIND);
    expect_kinds("const pt origin = {0, 0};", CK_CHUNK_DECL, NOKIND);
    expect_kinds("pt arr[] = {{1, 2}, {3, 4}};", CK_CHUNK_DECL, NOKIND);
    /* a cast of a known type is still an expression */
    expect_kinds("n = (size_t)3;", CK_CHUNK_STMT, NOKIND);
}

static void test_ck_split_typedef_in_cell_known_later(void **state)
{
    struct split s;

    (void)state;
    split(&s, "typedef int myint; myint * q;\nmyint * r");
    assert_int_equal(s.c.n, 3);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_TYPE);
    assert_int_equal(s.c.v[0].flags, CK_F_TYPEDEF);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[2].kind, CK_CHUNK_DECL);
    assert_true(s.c.v[2].flags & CK_F_NOSEMI);
    split_dispose(&s);
    /* used before its typedef: still an expression statement */
    expect_kinds("later * q;\ntypedef int later;", CK_CHUNK_STMT, CK_CHUNK_TYPE, NOKIND);
}

static void test_ck_split_typedef_several_names(void **state)
{
    (void)state;
    expect_kinds("typedef int A, *PA; PA * p; A * q;", CK_CHUNK_TYPE, CK_CHUNK_DECL, CK_CHUNK_DECL,
                 NOKIND);
    expect_kinds("typedef int (*cmp_fn)(const void *, const void *); cmp_fn * c;", CK_CHUNK_TYPE,
                 CK_CHUNK_DECL, NOKIND);
    expect_kinds("typedef struct node { struct node *next; } node; node * head;", CK_CHUNK_TYPE,
                 CK_CHUNK_DECL, NOKIND);
}

static void test_ck_split_struct_definition_is_type(void **state)
{
    struct split s;

    (void)state;
    split(&s, "struct S { int a; };");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_TYPE);
    assert_int_equal(s.c.v[0].flags, CK_F_TAGBODY);
    tok_text_is(&s, s.c.v[0].tag_tok, "struct");
    tok_text_is(&s, s.c.v[0].tag_open, "{");
    tok_text_is(&s, s.c.v[0].tag_close, "}");
    assert_int_equal(s.c.v[0].tag_open, 2);
    assert_int_equal(s.c.v[0].tag_close, 6);
    split_dispose(&s);
}

static void test_ck_split_struct_with_declarator_is_decl(void **state)
{
    struct split s;
    struct ck_declarator d[4];

    (void)state;
    split(&s, "struct S { int a; } s = {1};");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[0].flags, CK_F_TAGBODY);
    tok_text_is(&s, s.c.v[0].tag_tok, "struct");
    tok_text_is(&s, s.c.v[0].spec_end, "s");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 4), 1);
    tok_text_is(&s, d[0].name, "s");
    range_text_is(&s, d[0].ib, d[0].ie, "{1}");
    split_dispose(&s);
}

static void test_ck_split_enum_and_union(void **state)
{
    struct split s;

    (void)state;
    split(&s, "enum { A, B };");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_TYPE);
    assert_true(s.c.v[0].flags & CK_F_TAGBODY);
    tok_text_is(&s, s.c.v[0].tag_tok, "enum");
    split_dispose(&s);
    expect_kinds("enum color { RED, GREEN = 2, BLUE }; enum color c = RED;", CK_CHUNK_TYPE,
                 CK_CHUNK_DECL, NOKIND);
    expect_kinds("enum E { X = 1, Y } e = X;", CK_CHUNK_DECL, NOKIND);
    expect_kinds("union U { int a; float b; };", CK_CHUNK_TYPE, NOKIND);
    expect_kinds("struct { int a; } anon_v;", CK_CHUNK_DECL, NOKIND);
    expect_kinds("struct S s;\nstruct S *p = NULL;", CK_CHUNK_DECL, CK_CHUNK_DECL, NOKIND);
}

static void test_ck_split_struct_declaration_only(void **state)
{
    struct split s;

    (void)state;
    split(&s, "struct S s;");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[0].flags & CK_F_TAGBODY, 0);
    split_dispose(&s);
    expect_kinds("struct Fwd;", CK_CHUNK_TYPE, NOKIND);
}

static void test_ck_split_struct_attribute_after_body(void **state)
{
    struct split s;

    (void)state;
    split(&s, "struct P2 { char c; int i; } __attribute__((packed));");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_TYPE);
    split_dispose(&s);
}

static void test_ck_split_struct_attribute_before_tag(void **state)
{
    struct split s;

    (void)state;
    split(&s, "struct __attribute__((packed)) P { char c; int i; };\nint x;");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_TYPE);
    assert_true(s.c.v[0].flags & CK_F_TAGBODY);
    chunk_text_is(&s, 0, "struct __attribute__((packed)) P { char c; int i; };");
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_DECL);
    split_dispose(&s);
    split(&s, "struct __attribute__((aligned(8))) S { int a; } s = {1};");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_true(s.c.v[0].flags & CK_F_TAGBODY);
    split_dispose(&s);
    split(&s, "struct __attribute__((packed)) { char c; } q;");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    split_dispose(&s);
}

static void test_ck_split_static_assert_is_type(void **state)
{
    (void)state;
    expect_kinds("_Static_assert(1, \"x\");", CK_CHUNK_TYPE, NOKIND);
    expect_kinds("static_assert(sizeof(int) == 4, \"x\");", CK_CHUNK_TYPE, NOKIND);
}

static void test_ck_split_if_else_one_stmt(void **state)
{
    struct split s;

    (void)state;
    split(&s, "if (a) b(); else c();");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT);
    split_dispose(&s);
    split(&s, "if (a) { b(); } else if (c) { d(); } else e(); f();");
    assert_int_equal(s.c.n, 2);
    chunk_text_is(&s, 0, "if (a) { b(); } else if (c) { d(); } else e();");
    chunk_text_is(&s, 1, "f();");
    split_dispose(&s);
    split(&s, "if (a) {\n  b();\n}\nelse {\n  c();\n}\nx");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_EXPR);
    split_dispose(&s);
    /* without else the if ends at its block */
    expect_kinds("if (a) { b(); }\nc();", CK_CHUNK_STMT, CK_CHUNK_STMT, NOKIND);
}

static void test_ck_split_do_while_one_stmt(void **state)
{
    struct split s;

    (void)state;
    split(&s, "do { } while (0); x;");
    assert_int_equal(s.c.n, 2);
    chunk_text_is(&s, 0, "do { } while (0);");
    split_dispose(&s);
    split(&s, "do { i++; if (i > 3) { break; } } while (1);\ni");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_EXPR);
    split_dispose(&s);
}

static void test_ck_split_loops_and_switch(void **state)
{
    struct split s;

    (void)state;
    split(&s, "while (1) { } x = 2;");
    assert_int_equal(s.c.n, 2);
    chunk_text_is(&s, 0, "while (1) { }");
    split_dispose(&s);
    expect_kinds("for (;;) ;", CK_CHUNK_STMT, NOKIND);
    expect_kinds("for (int i = 0; i < 3; i++) { s += i; }\ns", CK_CHUNK_STMT, CK_CHUNK_EXPR,
                 NOKIND);
    expect_kinds("switch (x) { case 1: break; default: x = 0; }", CK_CHUNK_STMT, NOKIND);
    expect_kinds("{ int local = 1; use(local); }", CK_CHUNK_STMT, NOKIND);
    expect_kinds("goto end; end: ;", CK_CHUNK_STMT, CK_CHUNK_STMT, NOKIND);
}

static void test_ck_split_label_return_and_empty(void **state)
{
    (void)state;
    expect_kinds("again: x++;", CK_CHUNK_STMT, NOKIND);
    expect_kinds("return;", CK_CHUNK_STMT, NOKIND);
    expect_kinds(";;", CK_CHUNK_STMT, CK_CHUNK_STMT, NOKIND);
    expect_kinds("break", CK_CHUNK_STMT, NOKIND);
}

static void test_ck_split_stmt_keyword_without_semicolon(void **state)
{
    struct split s;

    (void)state;
    split(&s, "if (a) b()");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT); /* never shown as a value */
    assert_true(s.c.v[0].flags & CK_F_NOSEMI);
    split_dispose(&s);
    expect_kinds("return x", CK_CHUNK_STMT, NOKIND);
}

static void test_ck_split_compound_literal_stmt(void **state)
{
    struct split s;

    (void)state;
    split(&s, "p = (pt){1, 2};\nq = f((pt){3, 4});");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT);
    chunk_text_is(&s, 0, "p = (pt){1, 2};");
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_STMT);
    split_dispose(&s);
}

static void test_ck_split_braces_in_literals(void **state)
{
    (void)state;
    expect_kinds("char *s = \"a;b{c\";", CK_CHUNK_DECL, NOKIND);
    expect_kinds("char c = '}';", CK_CHUNK_DECL, NOKIND);
    expect_kinds("puts(\"}\"); /* ; } */ x", CK_CHUNK_STMT, CK_CHUNK_EXPR, NOKIND);
}

static void test_ck_split_ifdef_group_is_one_pp(void **state)
{
    struct split s;

    (void)state;
    split(&s, "#ifdef X\nint a;\n#else\nint b;\n#endif\nint c;");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_PP);
    chunk_text_is(&s, 0, "#ifdef X\nint a;\n#else\nint b;\n#endif");
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_DECL);
    split_dispose(&s);
}

static void test_ck_split_nested_if_groups(void **state)
{
    struct split s;

    (void)state;
    split(&s, "#if A\n#ifndef B\nint a;\n#endif\n#elif C\nint c;\n#endif\nx");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_PP);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_EXPR);
    split_dispose(&s);
    /* no #endif: the group runs to the end */
    split(&s, "#if 1\nint a;\nint b;");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_PP);
    split_dispose(&s);
}

static void test_ck_split_directive_kinds(void **state)
{
    (void)state;
    expect_kinds("#include <stdio.h>\n#include \"x.h\"\n# include_next <y.h>", CK_CHUNK_INCLUDE,
                 CK_CHUNK_INCLUDE, CK_CHUNK_INCLUDE, NOKIND);
    expect_kinds("#define X 1\n#undef X\n#define F(a) \\\n  (a)", CK_CHUNK_DEFINE, CK_CHUNK_DEFINE,
                 CK_CHUNK_DEFINE, NOKIND);
    expect_kinds("#pragma once\n#error no\n#line 3\n#", CK_CHUNK_PP, CK_CHUNK_PP, CK_CHUNK_PP,
                 CK_CHUNK_PP, NOKIND);
    /* words that merely start like a directive name */
    expect_kinds("#includex\n#defined\n#iffy", CK_CHUNK_PP, CK_CHUNK_PP, CK_CHUNK_PP, NOKIND);
}

static void test_ck_split_directive_inside_function(void **state)
{
    struct split s;

    (void)state;
    split(&s, "int f(void) {\n#ifdef X\nreturn 1;\n#endif\nreturn 0;\n}\nf()");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_EXPR);
    split_dispose(&s);
}

static void test_ck_split_define_then_use(void **state)
{
    (void)state;
    expect_kinds("#define SQ(x) ((x)*(x))\nint y = SQ(3);", CK_CHUNK_DEFINE, CK_CHUNK_DECL, NOKIND);
}

static void test_ck_split_function_with_attributes(void **state)
{
    struct split s;
    struct ck_declarator d;

    (void)state;
    split(&s, "__attribute__((noinline)) int f(int a, char *b) { return a; }");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(s.c.v[0].flags, 0);
    tok_text_is(&s, s.c.v[0].spec_end, "f");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], &d, 1), 1);
    tok_text_is(&s, d.name, "f");
    assert_true(d.is_func);
    range_text_is(&s, d.db, d.de, "f(int a, char *b)");
    split_dispose(&s);
    split(&s, "static int __attribute__((unused)) g(void) { return 1; }");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(s.c.v[0].flags, CK_F_STATIC);
    split_dispose(&s);
}

static void test_ck_split_static_inline_function(void **state)
{
    struct split s;

    (void)state;
    split(&s, "static inline int sq(int x) { return x*x; }");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(s.c.v[0].flags, CK_F_STATIC | CK_F_INLINE);
    split_dispose(&s);
    split(&s, "static __inline__ __attribute__((always_inline)) int h(void) { return 0; }");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(s.c.v[0].flags, CK_F_STATIC | CK_F_INLINE);
    split_dispose(&s);
}

static void test_ck_split_storage_flags(void **state)
{
    struct split s;

    (void)state;
    split(&s, "static int counter;\nextern int e;\nstatic const int K = 3;\n"
              "_Thread_local int tl;\n__thread int t2;\nint const *q;");
    assert_int_equal(s.c.n, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(s.c.v[i].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[0].flags, CK_F_STATIC);
    assert_int_equal(s.c.v[1].flags, CK_F_EXTERN);
    assert_int_equal(s.c.v[2].flags, CK_F_STATIC | CK_F_CONST);
    assert_int_equal(s.c.v[3].flags, CK_F_THREAD);
    assert_int_equal(s.c.v[4].flags, CK_F_THREAD);
    assert_int_equal(s.c.v[5].flags, CK_F_CONST);
    split_dispose(&s);
}

static void test_ck_split_function_pointer_decl(void **state)
{
    struct split s;
    struct ck_declarator d[2];

    (void)state;
    split(&s, "int (*fp)(int) = f;");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 2), 1);
    tok_text_is(&s, d[0].name, "fp");
    assert_false(d[0].is_func);
    assert_true(d[0].has_eq);
    range_text_is(&s, d[0].db, d[0].de, "(*fp)(int)");
    range_text_is(&s, d[0].ib, d[0].ie, "f");
    split_dispose(&s);
    split(&s, "void (*handlers[4])(int);");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 2), 1);
    tok_text_is(&s, d[0].name, "handlers");
    assert_false(d[0].is_func);
    assert_false(d[0].unsized_array);
    split_dispose(&s);
}

static void test_ck_split_function_returning_pointer_to_function(void **state)
{
    struct split s;
    struct ck_declarator d;

    (void)state;
    split(&s, "int (*get(void))(int) { return 0; }");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], &d, 1), 1);
    tok_text_is(&s, d.name, "get");
    assert_true(d.is_func);
    split_dispose(&s);
}

static void test_ck_split_prototype_is_decl(void **state)
{
    struct split s;
    struct ck_declarator d[2];

    (void)state;
    split(&s, "int f(int);\nint g(int) __attribute__((pure)), h(void);");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 2), 1);
    tok_text_is(&s, d[0].name, "f");
    assert_true(d[0].is_func);
    assert_false(d[0].has_eq);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_DECL);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[1], d, 2), 2);
    tok_text_is(&s, d[0].name, "g");
    assert_true(d[0].is_func);
    range_text_is(&s, d[0].db, d[0].de, "g(int) __attribute__((pure))");
    tok_text_is(&s, d[1].name, "h");
    assert_true(d[1].is_func);
    split_dispose(&s);
}

static void test_ck_split_function_then_decl(void **state)
{
    struct split s;

    (void)state;
    split(&s, "void f(void) {} int g;");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_FUNC);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_DECL);
    split_dispose(&s);
    expect_kinds("int main(void) { return 0; }", CK_CHUNK_FUNC, NOKIND);
    /* brace initializers inside a body do not end the function early */
    expect_kinds("int g(void) { struct { int a; } v = {1}; int w[] = {1, 2}; return v.a; }\ng()",
                 CK_CHUNK_FUNC, CK_CHUNK_EXPR, NOKIND);
}

static void test_ck_split_trailing_decl_without_semicolon(void **state)
{
    struct split s;
    struct ck_declarator d;

    (void)state;
    split(&s, "int y = 5");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[0].flags, CK_F_NOSEMI);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], &d, 1), 1);
    tok_text_is(&s, d.name, "y");
    range_text_is(&s, d.ib, d.ie, "5");
    split_dispose(&s);
    split(&s, "long double ld");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_true(s.c.v[0].flags & CK_F_NOSEMI);
    split_dispose(&s);
    split(&s, "static int k = 1");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[0].flags, CK_F_STATIC | CK_F_NOSEMI);
    split_dispose(&s);
}

static void test_ck_split_special_type_specifiers(void **state)
{
    (void)state;
    expect_kinds("_Atomic(int) ai;", CK_CHUNK_DECL, NOKIND);
    expect_kinds("_Atomic int aj;", CK_CHUNK_DECL, NOKIND);
    expect_kinds("__typeof__(1.0) dd = 2;", CK_CHUNK_DECL, NOKIND);
    expect_kinds("unsigned u = 3u;", CK_CHUNK_DECL, NOKIND);
    expect_kinds("_Alignas(16) char buf[16];", CK_CHUNK_DECL, NOKIND);
    expect_kinds("__auto_type z = 1;", CK_CHUNK_DECL, NOKIND);
}

static void test_ck_split_multiline_cell(void **state)
{
    struct split s;

    (void)state;
    split(&s, "#include <stdio.h>\n"
              "#define N 3\n"
              "static int table[N] = {1, 2, 3};\n"
              "struct acc { int sum; };\n"
              "static int add(struct acc *a, int x)\n"
              "{\n"
              "    a->sum += x;\n"
              "    return a->sum;\n"
              "}\n"
              "struct acc total = {0};\n"
              "for (int i = 0; i < N; i++)\n"
              "    add(&total, table[i]);\n"
              "printf(\"%d\\n\", total.sum);\n"
              "total.sum\n");
    assert_int_equal(s.c.n, 9);
    enum ck_chunk_kind want[] = {CK_CHUNK_INCLUDE, CK_CHUNK_DEFINE, CK_CHUNK_DECL,
                                 CK_CHUNK_TYPE,    CK_CHUNK_FUNC,   CK_CHUNK_DECL,
                                 CK_CHUNK_STMT,    CK_CHUNK_STMT,   CK_CHUNK_EXPR};
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(s.c.v[i].kind, want[i]);
    assert_int_equal(s.c.v[4].flags, CK_F_STATIC);
    assert_int_equal(s.t.v[s.c.v[6].tb].line, 11);
    assert_int_equal(s.t.v[s.c.v[8].tb].line, 14);
    split_dispose(&s);
}

static void count_name(void *ctx, size_t tok)
{
    (void)tok;
    (*(size_t *)ctx)++;
}

static void test_ck_split_unbalanced_does_not_crash(void **state)
{
    static const char *const inputs[] = {"{ { (",
                                         "}}}",
                                         ")",
                                         "((((",
                                         "]",
                                         "int f(",
                                         "struct {",
                                         "if (",
                                         "do",
                                         "else",
                                         "if (a) else",
                                         "int x = ",
                                         "struct",
                                         "typedef",
                                         "static",
                                         "enum { A, ",
                                         "= 3;",
                                         "x[;",
                                         "f(}",
                                         "#if X\nint a;",
                                         "int (*",
                                         "int a[] = {",
                                         "do { } while",
                                         "case 1:",
                                         ":",
                                         "a:",
                                         "} else {",
                                         "int f() } {",
                                         "(pt){1,",
                                         "\"unterminated",
                                         "'",
                                         "/* open",
                                         "\\",
                                         "#define X \\",
                                         "int ;",
                                         "pt",
                                         NULL};

    (void)state;
    for (const char *const *in = inputs; *in; in++) {
        struct split s;
        split(&s, *in);
        for (size_t i = 0; i < s.c.n; i++) {
            if (s.c.v[i].kind == CK_CHUNK_DECL || s.c.v[i].kind == CK_CHUNK_FUNC) {
                struct ck_declarator d[8];
                int n = ck_declarators(s.src, &s.t, &s.c.v[i], d, 8);
                assert_true(n == JP_EINVAL || (n >= 0 && n <= 8));
            }
            size_t count = 0;
            ck_type_names(s.src, &s.t, &s.c.v[i], count_name, &count);
            assert_true(count < s.t.n);
        }
        split_dispose(&s);
    }
}

static void test_ck_split_unbalanced_kinds(void **state)
{
    struct split s;

    (void)state;
    split(&s, "{ { (");
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_STMT);
    assert_true(s.c.v[0].flags & CK_F_NOSEMI);
    split_dispose(&s);
    split(&s, "int x = 1; f(");
    assert_int_equal(s.c.n, 2);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(s.c.v[1].kind, CK_CHUNK_EXPR);
    split_dispose(&s);
}

static void test_ck_split_reuses_output(void **state)
{
    struct split s;
    const char *b = "x";

    (void)state;
    split(&s, "a; b; c; d;");
    assert_int_equal(s.c.n, 4);
    /* a second split into the same chunks starts over */
    struct ck_toks t = {0};
    assert_int_equal(ck_lex(b, 1, &t), 0);
    assert_int_equal(ck_split(b, &t, NULL, NULL, &s.c), 0);
    assert_int_equal(s.c.n, 1);
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_EXPR);
    ck_toks_dispose(&t);
    split_dispose(&s);
    split_dispose(&s); /* twice is harmless */
}

static void test_ck_split_many_chunks_grow(void **state)
{
    char src[4001];
    struct split s;

    (void)state;
    for (int i = 0; i < 1000; i++)
        memcpy(src + 4 * i, "x++;", 4);
    src[4000] = '\0';
    split(&s, src);
    assert_int_equal(s.c.n, 1000);
    split_dispose(&s);
}

/* ---- ck_declarators ----------------------------------------------------------------- */

static void test_ck_declarators_several_with_initializers(void **state)
{
    struct split s;
    struct ck_declarator d[8];

    (void)state;
    split(&s, "int a, *b = &a, c[3] = {1,2,3}, d[] = {4, 5};");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 8), 4);
    tok_text_is(&s, d[0].name, "a");
    tok_text_is(&s, d[1].name, "b");
    tok_text_is(&s, d[2].name, "c");
    tok_text_is(&s, d[3].name, "d");
    range_text_is(&s, d[0].db, d[0].de, "a");
    range_text_is(&s, d[1].db, d[1].de, "*b");
    range_text_is(&s, d[2].db, d[2].de, "c[3]");
    range_text_is(&s, d[3].db, d[3].de, "d[]");
    assert_false(d[0].has_eq);
    assert_int_equal(d[0].ib, d[0].ie);
    range_text_is(&s, d[1].ib, d[1].ie, "&a");
    range_text_is(&s, d[2].ib, d[2].ie, "{1,2,3}");
    range_text_is(&s, d[3].ib, d[3].ie, "{4, 5}");
    for (int i = 1; i < 4; i++)
        assert_true(d[i].has_eq);
    assert_false(d[0].unsized_array);
    assert_false(d[1].unsized_array);
    assert_false(d[2].unsized_array);
    assert_true(d[3].unsized_array);
    for (int i = 0; i < 4; i++)
        assert_false(d[i].is_func);
    split_dispose(&s);
}

static void test_ck_declarators_string_array(void **state)
{
    struct split s;
    struct ck_declarator d;

    (void)state;
    split(&s, "char s[] = \"x\";");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], &d, 1), 1);
    tok_text_is(&s, d.name, "s");
    assert_true(d.unsized_array);
    assert_true(d.has_eq);
    range_text_is(&s, d.ib, d.ie, "\"x\"");
    split_dispose(&s);
    split(&s, "const char *names[] = {\"a\", \"b\"};");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], &d, 1), 1);
    tok_text_is(&s, d.name, "names");
    assert_true(d.unsized_array);
    split_dispose(&s);
}

static void test_ck_declarators_initializer_with_commas(void **state)
{
    struct split s;
    struct ck_declarator d[4];

    (void)state;
    split(&s, "int x = f(1, 2), y = (3, 4), z[2][2] = {{1, 2}, {3, 4}};");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 4), 3);
    range_text_is(&s, d[0].ib, d[0].ie, "f(1, 2)");
    range_text_is(&s, d[1].ib, d[1].ie, "(3, 4)");
    tok_text_is(&s, d[2].name, "z");
    range_text_is(&s, d[2].db, d[2].de, "z[2][2]");
    range_text_is(&s, d[2].ib, d[2].ie, "{{1, 2}, {3, 4}}");
    split_dispose(&s);
}

static void test_ck_declarators_max_limits(void **state)
{
    struct split s;
    struct ck_declarator d[2];

    (void)state;
    split(&s, "int a, b, c, d;");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 2), 2);
    tok_text_is(&s, d[1].name, "b");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 0), 0);
    split_dispose(&s);
}

static void test_ck_declarators_attribute_and_asm(void **state)
{
    struct split s;
    struct ck_declarator d[2];

    (void)state;
    split(&s, "int v __attribute__((aligned(16))) = 3, w __asm__(\"ww\");");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 2), 2);
    tok_text_is(&s, d[0].name, "v");
    assert_false(d[0].is_func);
    range_text_is(&s, d[0].ib, d[0].ie, "3");
    tok_text_is(&s, d[1].name, "w");
    assert_false(d[1].is_func);
    split_dispose(&s);
}

static void test_ck_declarators_empty_equals(void **state)
{
    struct split s;
    struct ck_declarator d;

    (void)state;
    split(&s, "int x =");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], &d, 1), 1);
    assert_true(d.has_eq);
    assert_int_equal(d.ib, d.ie);
    split_dispose(&s);
}

static void test_ck_declarators_no_name_is_einval(void **state)
{
    struct split s;
    struct ck_declarator d;

    (void)state;
    split(&s, "int *;");
    assert_int_equal(s.c.v[0].kind, CK_CHUNK_DECL);
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], &d, 1), JP_EINVAL);
    split_dispose(&s);
}

static void test_ck_declarators_func_chunk(void **state)
{
    struct split s;
    struct ck_declarator d[2];

    (void)state;
    split(&s, "double norm(pt p) { return p.x; }");
    assert_int_equal(ck_declarators(s.src, &s.t, &s.c.v[0], d, 2), 1);
    tok_text_is(&s, d[0].name, "norm");
    assert_true(d[0].is_func);
    assert_int_equal(d[0].de, s.c.v[0].body_open);
    range_text_is(&s, d[0].db, d[0].de, "norm(pt p)");
    split_dispose(&s);
}

/* ---- ck_type_names ------------------------------------------------------------------ */

struct names_seen {
    const struct split *s;
    char text[256];
};

static void on_name(void *ctx, size_t tok)
{
    struct names_seen *n = ctx;
    const struct ck_tok *k = &n->s->t.v[tok];
    size_t used = strlen(n->text);

    assert_int_equal(k->kind, CK_TOK_IDENT);
    assert_true(used + k->len + 2 < sizeof n->text);
    memcpy(n->text + used, n->s->src + k->start, k->len);
    n->text[used + k->len] = ' ';
    n->text[used + k->len + 1] = '\0';
}

static void type_names_are(const char *src, size_t chunk, const char *want)
{
    struct split s;
    struct names_seen n = {&s, ""};

    split(&s, src);
    assert_true(chunk < s.c.n);
    ck_type_names(s.src, &s.t, &s.c.v[chunk], on_name, &n);
    assert_string_equal(n.text, want);
    split_dispose(&s);
}

static void test_ck_type_names_typedefs(void **state)
{
    (void)state;
    type_names_are("typedef int A, *PA, (*FN)(int);", 0, "A PA FN ");
    type_names_are("typedef struct { double x, y; } pt2;", 0, "pt2 ");
    type_names_are("typedef int (*cmp_fn)(const void *, const void *);", 0, "cmp_fn ");
}

static void test_ck_type_names_enum_constants(void **state)
{
    (void)state;
    type_names_are("enum { A, B = 2, C };", 0, "A B C ");
    type_names_are("enum E { X = (1 + 2), Y = f(3, 4), Z, };", 0, "X Y Z ");
    type_names_are("typedef enum { R, G } color;", 0, "R G color ");
    type_names_are("enum F { P } f = P;", 0, "P ");
}

static void test_ck_type_names_struct_gives_nothing(void **state)
{
    (void)state;
    type_names_are("struct S { int a, b; };", 0, "");
    type_names_are("union U { int a; };", 0, "");
    type_names_are("_Static_assert(1, \"x\");", 0, "");
}

/* ---- ck_match ----------------------------------------------------------------------- */

static void test_ck_match_brackets(void **state)
{
    const char *src = "f(a[1], {b}) [x] {";
    struct ck_toks t = {0};

    (void)state;
    assert_int_equal(ck_lex(src, strlen(src), &t), 0);
    /* f ( a [ 1 ] , { b } ) [ x ] { EOF */
    assert_int_equal(ck_match(src, &t, 1), 10);
    assert_int_equal(ck_match(src, &t, 3), 5);
    assert_int_equal(ck_match(src, &t, 7), 9);
    assert_int_equal(ck_match(src, &t, 11), 13);
    assert_int_equal(ck_match(src, &t, 14), t.n - 1); /* unclosed: EOF */
    ck_toks_dispose(&t);
}

static void test_ck_match_ignores_literals(void **state)
{
    const char *src = "( \")\" ')' )";
    struct ck_toks t = {0};

    (void)state;
    assert_int_equal(ck_lex(src, strlen(src), &t), 0);
    assert_int_equal(ck_match(src, &t, 0), 3);
    ck_toks_dispose(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_split_empty_cell),
        cmocka_unit_test(test_ck_split_example_cell),
        cmocka_unit_test(test_ck_split_trailing_expression),
        cmocka_unit_test(test_ck_split_trailing_expression_forms),
        cmocka_unit_test(test_ck_split_expression_with_semicolon_is_stmt),
        cmocka_unit_test(test_ck_split_star_with_unknown_is_stmt),
        cmocka_unit_test(test_ck_split_star_with_type_is_decl),
        cmocka_unit_test(test_ck_split_no_predicate),
        cmocka_unit_test(test_ck_split_two_identifiers_is_decl),
        cmocka_unit_test(test_ck_split_header_types),
        cmocka_unit_test(test_ck_split_typedef_in_cell_known_later),
        cmocka_unit_test(test_ck_split_typedef_several_names),
        cmocka_unit_test(test_ck_split_struct_definition_is_type),
        cmocka_unit_test(test_ck_split_struct_with_declarator_is_decl),
        cmocka_unit_test(test_ck_split_enum_and_union),
        cmocka_unit_test(test_ck_split_struct_declaration_only),
        cmocka_unit_test(test_ck_split_struct_attribute_after_body),
        cmocka_unit_test(test_ck_split_struct_attribute_before_tag),
        cmocka_unit_test(test_ck_split_static_assert_is_type),
        cmocka_unit_test(test_ck_split_if_else_one_stmt),
        cmocka_unit_test(test_ck_split_do_while_one_stmt),
        cmocka_unit_test(test_ck_split_loops_and_switch),
        cmocka_unit_test(test_ck_split_label_return_and_empty),
        cmocka_unit_test(test_ck_split_stmt_keyword_without_semicolon),
        cmocka_unit_test(test_ck_split_compound_literal_stmt),
        cmocka_unit_test(test_ck_split_braces_in_literals),
        cmocka_unit_test(test_ck_split_ifdef_group_is_one_pp),
        cmocka_unit_test(test_ck_split_nested_if_groups),
        cmocka_unit_test(test_ck_split_directive_kinds),
        cmocka_unit_test(test_ck_split_directive_inside_function),
        cmocka_unit_test(test_ck_split_define_then_use),
        cmocka_unit_test(test_ck_split_function_with_attributes),
        cmocka_unit_test(test_ck_split_static_inline_function),
        cmocka_unit_test(test_ck_split_storage_flags),
        cmocka_unit_test(test_ck_split_function_pointer_decl),
        cmocka_unit_test(test_ck_split_function_returning_pointer_to_function),
        cmocka_unit_test(test_ck_split_prototype_is_decl),
        cmocka_unit_test(test_ck_split_function_then_decl),
        cmocka_unit_test(test_ck_split_trailing_decl_without_semicolon),
        cmocka_unit_test(test_ck_split_special_type_specifiers),
        cmocka_unit_test(test_ck_split_multiline_cell),
        cmocka_unit_test(test_ck_split_unbalanced_does_not_crash),
        cmocka_unit_test(test_ck_split_unbalanced_kinds),
        cmocka_unit_test(test_ck_split_reuses_output),
        cmocka_unit_test(test_ck_split_many_chunks_grow),
        cmocka_unit_test(test_ck_declarators_several_with_initializers),
        cmocka_unit_test(test_ck_declarators_string_array),
        cmocka_unit_test(test_ck_declarators_initializer_with_commas),
        cmocka_unit_test(test_ck_declarators_max_limits),
        cmocka_unit_test(test_ck_declarators_attribute_and_asm),
        cmocka_unit_test(test_ck_declarators_empty_equals),
        cmocka_unit_test(test_ck_declarators_no_name_is_einval),
        cmocka_unit_test(test_ck_declarators_func_chunk),
        cmocka_unit_test(test_ck_type_names_typedefs),
        cmocka_unit_test(test_ck_type_names_enum_constants),
        cmocka_unit_test(test_ck_type_names_struct_gives_nothing),
        cmocka_unit_test(test_ck_match_brackets),
        cmocka_unit_test(test_ck_match_ignores_literals),
    };

    return cmocka_run_group_tests_name("ck_cell", tests, NULL, NULL);
}
