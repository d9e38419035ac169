/*
 * test_ck_lex.c - unit tests for kernel/engine/ck_lex.c: comments (line, block,
 * unterminated), string and character literals with escapes and encoding prefixes,
 * directives (only as the first token of a line, continued with backslashes, with comments
 * and quotes inside), numbers, punctuators, line numbers, CRLF text, the trailing-backslash
 * flag and keyword detection. Does not test the cell splitter or the code generator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ck_lex.h"
#include "jp_err.h"

/* Tokenize a NUL-terminated text into t (zero-initialised or used before); the caller
 * disposes t. */
static void lex(const char *src, struct ck_toks *t)
{
    assert_int_equal(ck_lex(src, strlen(src), t), 0);
    assert_true(t->n >= 1);
    assert_int_equal(t->v[t->n - 1].kind, CK_TOK_EOF);
}

/* Assert that token i has the given kind and spelling. */
static void tok_is(const char *src, const struct ck_toks *t, size_t i, enum ck_tok_kind kind,
                   const char *text)
{
    assert_true(i < t->n);
    assert_int_equal(t->v[i].kind, kind);
    assert_int_equal(t->v[i].len, strlen(text));
    assert_memory_equal(src + t->v[i].start, text, strlen(text));
}

static void test_ck_lex_empty_gives_eof(void **state)
{
    struct ck_toks t = {0};

    (void)state;
    lex("", &t);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.v[0].start, 0);
    assert_int_equal(t.v[0].len, 0);
    assert_int_equal(t.v[0].line, 1);
    assert_false(t.unterminated_comment);
    assert_false(t.trailing_backslash);
    ck_toks_dispose(&t);
    assert_null(t.v);
    assert_int_equal(t.n, 0);
    ck_toks_dispose(&t); /* twice is harmless */
}

static void test_ck_lex_simple_declaration(void **state)
{
    const char *s = "int x = 42;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 6);
    tok_is(s, &t, 0, CK_TOK_IDENT, "int");
    tok_is(s, &t, 1, CK_TOK_IDENT, "x");
    tok_is(s, &t, 2, CK_TOK_PUNCT, "=");
    tok_is(s, &t, 3, CK_TOK_NUMBER, "42");
    tok_is(s, &t, 4, CK_TOK_PUNCT, ";");
    assert_int_equal(t.v[5].start, strlen(s));
    ck_toks_dispose(&t);
}

static void test_ck_lex_reuses_disposed_or_filled_toks(void **state)
{
    const char *a = "a b c d e", *b = "z";
    struct ck_toks t = {0};

    (void)state;
    lex(a, &t);
    assert_int_equal(t.n, 6);
    /* a second call on the same struct starts over */
    assert_int_equal(ck_lex(b, strlen(b), &t), 0);
    assert_int_equal(t.n, 2);
    tok_is(b, &t, 0, CK_TOK_IDENT, "z");
    ck_toks_dispose(&t);
}

static void test_ck_lex_many_tokens_grow(void **state)
{
    char src[3001];
    struct ck_toks t = {0};

    (void)state;
    for (int i = 0; i < 1000; i++)
        memcpy(src + 3 * i, "a; ", 3);
    src[3000] = '\0';
    lex(src, &t);
    assert_int_equal(t.n, 2001);
    tok_is(src, &t, 1998, CK_TOK_IDENT, "a");
    tok_is(src, &t, 1999, CK_TOK_PUNCT, ";");
    ck_toks_dispose(&t);
}

static void test_ck_lex_line_comment_skipped(void **state)
{
    const char *s = "a // b c\nd";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 3);
    tok_is(s, &t, 0, CK_TOK_IDENT, "a");
    tok_is(s, &t, 1, CK_TOK_IDENT, "d");
    assert_int_equal(t.v[1].line, 2);
    ck_toks_dispose(&t);
}

static void test_ck_lex_line_comment_continued_by_backslash(void **state)
{
    const char *s = "a // b \\\n still comment\nc";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 3);
    tok_is(s, &t, 1, CK_TOK_IDENT, "c");
    assert_int_equal(t.v[1].line, 3);
    ck_toks_dispose(&t);
}

static void test_ck_lex_line_comment_at_end(void **state)
{
    const char *s = "x // no newline";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 2);
    assert_false(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_block_comment_skipped(void **state)
{
    const char *s = "a /* b\n c */ d /**/e/* ** / */f";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    tok_is(s, &t, 0, CK_TOK_IDENT, "a");
    tok_is(s, &t, 1, CK_TOK_IDENT, "d");
    tok_is(s, &t, 2, CK_TOK_IDENT, "e");
    tok_is(s, &t, 3, CK_TOK_IDENT, "f");
    assert_int_equal(t.v[1].line, 2);
    assert_false(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_block_comment_unterminated(void **state)
{
    const char *s = "int a; /* open\n more";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 4);
    assert_true(t.unterminated_comment);
    assert_int_equal(t.v[3].line, 2);
    ck_toks_dispose(&t);
}

static void test_ck_lex_block_comment_star_at_end(void **state)
{
    const char *s = "/*";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 1);
    assert_true(t.unterminated_comment);
    lex("/* x *", &t);
    assert_true(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_comment_markers_in_strings(void **state)
{
    const char *s = "\"/* not\" x '//' y";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    tok_is(s, &t, 0, CK_TOK_STRING, "\"/* not\"");
    tok_is(s, &t, 1, CK_TOK_IDENT, "x");
    tok_is(s, &t, 2, CK_TOK_CHAR, "'//'");
    tok_is(s, &t, 3, CK_TOK_IDENT, "y");
    assert_false(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_string_with_escapes(void **state)
{
    const char *s = "\"a\\\"b\\\\\" \"\\n\\t\\x41\\101\" \"\"";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 4);
    tok_is(s, &t, 0, CK_TOK_STRING, "\"a\\\"b\\\\\"");
    tok_is(s, &t, 1, CK_TOK_STRING, "\"\\n\\t\\x41\\101\"");
    tok_is(s, &t, 2, CK_TOK_STRING, "\"\"");
    for (size_t i = 0; i < 3; i++)
        assert_false(t.v[i].unterminated);
    ck_toks_dispose(&t);
}

static void test_ck_lex_char_with_escapes(void **state)
{
    const char *s = "'a' '\\'' '\\\\' '\"' '\\0'";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 6);
    tok_is(s, &t, 0, CK_TOK_CHAR, "'a'");
    tok_is(s, &t, 1, CK_TOK_CHAR, "'\\''");
    tok_is(s, &t, 2, CK_TOK_CHAR, "'\\\\'");
    tok_is(s, &t, 3, CK_TOK_CHAR, "'\"'");
    tok_is(s, &t, 4, CK_TOK_CHAR, "'\\0'");
    ck_toks_dispose(&t);
}

static void test_ck_lex_encoding_prefixes(void **state)
{
    const char *s = "u8\"a\" L\"b\" U\"c\" u\"d\" L'e' u'f' U'g' u8'h'";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 9);
    tok_is(s, &t, 0, CK_TOK_STRING, "u8\"a\"");
    tok_is(s, &t, 1, CK_TOK_STRING, "L\"b\"");
    tok_is(s, &t, 2, CK_TOK_STRING, "U\"c\"");
    tok_is(s, &t, 3, CK_TOK_STRING, "u\"d\"");
    tok_is(s, &t, 4, CK_TOK_CHAR, "L'e'");
    tok_is(s, &t, 5, CK_TOK_CHAR, "u'f'");
    tok_is(s, &t, 6, CK_TOK_CHAR, "U'g'");
    tok_is(s, &t, 7, CK_TOK_CHAR, "u8'h'");
    ck_toks_dispose(&t);
}

static void test_ck_lex_prefix_lookalikes_are_identifiers(void **state)
{
    /* only u8, u, U and L glue to a quote; other identifiers stay separate */
    const char *s = "x\"a\" LL\"b\" u16\"c\" L";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 8);
    tok_is(s, &t, 0, CK_TOK_IDENT, "x");
    tok_is(s, &t, 1, CK_TOK_STRING, "\"a\"");
    tok_is(s, &t, 2, CK_TOK_IDENT, "LL");
    tok_is(s, &t, 3, CK_TOK_STRING, "\"b\"");
    tok_is(s, &t, 4, CK_TOK_IDENT, "u16");
    tok_is(s, &t, 5, CK_TOK_STRING, "\"c\"");
    tok_is(s, &t, 6, CK_TOK_IDENT, "L");
    ck_toks_dispose(&t);
}

static void test_ck_lex_string_unterminated_at_newline(void **state)
{
    const char *s = "\"abc\nint x;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    tok_is(s, &t, 0, CK_TOK_STRING, "\"abc");
    assert_true(t.v[0].unterminated);
    /* the next line lexes normally */
    tok_is(s, &t, 1, CK_TOK_IDENT, "int");
    assert_int_equal(t.v[1].line, 2);
    assert_false(t.v[1].unterminated);
    ck_toks_dispose(&t);
}

static void test_ck_lex_string_unterminated_at_end(void **state)
{
    const char *s = "x = 'a";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 4);
    tok_is(s, &t, 2, CK_TOK_CHAR, "'a");
    assert_true(t.v[2].unterminated);
    ck_toks_dispose(&t);
}

static void test_ck_lex_string_ends_in_backslash(void **state)
{
    /* an escape that runs past the end must not read beyond the text */
    const char *s = "\"ab\\";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0].kind, CK_TOK_STRING);
    assert_int_equal(t.v[0].len, strlen(s));
    assert_true(t.v[0].unterminated);
    ck_toks_dispose(&t);
}

static void test_ck_lex_string_continued_by_backslash_newline(void **state)
{
    const char *s = "\"ab\\\ncd\" x";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 3);
    tok_is(s, &t, 0, CK_TOK_STRING, "\"ab\\\ncd\"");
    assert_false(t.v[0].unterminated);
    assert_int_equal(t.v[1].line, 2);
    ck_toks_dispose(&t);
}

static void test_ck_lex_string_continued_by_backslash_crlf(void **state)
{
    const char *s = "\"ab\\\r\ncd\";\r\nint w;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 6);
    tok_is(s, &t, 0, CK_TOK_STRING, "\"ab\\\r\ncd\"");
    assert_false(t.v[0].unterminated);
    tok_is(s, &t, 1, CK_TOK_PUNCT, ";");
    assert_int_equal(t.v[1].line, 2);
    tok_is(s, &t, 2, CK_TOK_IDENT, "int");
    assert_int_equal(t.v[2].line, 3);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_is_one_token(void **state)
{
    const char *s = "#include <stdio.h>\n  #  define X (1 + 2)\nint y;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 6);
    tok_is(s, &t, 0, CK_TOK_DIRECTIVE, "#include <stdio.h>");
    tok_is(s, &t, 1, CK_TOK_DIRECTIVE, "#  define X (1 + 2)");
    assert_int_equal(t.v[1].line, 2);
    tok_is(s, &t, 2, CK_TOK_IDENT, "int");
    assert_int_equal(t.v[2].line, 3);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_only_first_on_line(void **state)
{
    /* '#' and '##' after another token on the line are punctuators */
    const char *s = "a # b ## c\n#x";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 7);
    tok_is(s, &t, 1, CK_TOK_PUNCT, "#");
    tok_is(s, &t, 3, CK_TOK_PUNCT, "##");
    tok_is(s, &t, 5, CK_TOK_DIRECTIVE, "#x");
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_after_leading_comment(void **state)
{
    const char *s = "/* c */ #define A 1\nx";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 3);
    tok_is(s, &t, 0, CK_TOK_DIRECTIVE, "#define A 1");
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_backslash_continued(void **state)
{
    const char *s = "#define M(a) \\\n  ((a) + \\\r\n   1)\nint z;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    tok_is(s, &t, 0, CK_TOK_DIRECTIVE, "#define M(a) \\\n  ((a) + \\\r\n   1)");
    assert_int_equal(t.v[0].line, 1);
    assert_false(t.v[0].unterminated);
    tok_is(s, &t, 1, CK_TOK_IDENT, "int");
    assert_int_equal(t.v[1].line, 4);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_block_comment_spans_lines(void **state)
{
    const char *s = "#define X 1 /* a\nb */ + 2\ny";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 3);
    tok_is(s, &t, 0, CK_TOK_DIRECTIVE, "#define X 1 /* a\nb */ + 2");
    tok_is(s, &t, 1, CK_TOK_IDENT, "y");
    assert_int_equal(t.v[1].line, 3);
    assert_false(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_unterminated_comment(void **state)
{
    const char *s = "#define X 1 /* open\nint y;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0].kind, CK_TOK_DIRECTIVE);
    assert_true(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_comment_opener_in_string(void **state)
{
    /* a comment opener inside a quoted string in a directive opens no comment */
    const char *s = "#define OPEN \"/*\"\nint x;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    tok_is(s, &t, 0, CK_TOK_DIRECTIVE, "#define OPEN \"/*\"");
    tok_is(s, &t, 1, CK_TOK_IDENT, "int");
    assert_int_equal(t.v[1].line, 2);
    assert_false(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_comment_opener_in_line_comment(void **state)
{
    const char *s = "#include <stdio.h> // see /* there\nint y;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    assert_int_equal(t.v[0].kind, CK_TOK_DIRECTIVE);
    tok_is(s, &t, 1, CK_TOK_IDENT, "int");
    assert_false(t.unterminated_comment);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_apostrophe_in_text(void **state)
{
    /* an unmatched quote in #error text stays inside the directive line */
    const char *s = "#error don't\nint z;";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    tok_is(s, &t, 0, CK_TOK_DIRECTIVE, "#error don't");
    assert_false(t.v[0].unterminated);
    tok_is(s, &t, 1, CK_TOK_IDENT, "int");
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_trailing_backslash_at_end(void **state)
{
    const char *s = "#define X \\";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0].kind, CK_TOK_DIRECTIVE);
    assert_true(t.v[0].unterminated);
    assert_true(t.trailing_backslash);
    ck_toks_dispose(&t);
}

static void test_ck_lex_directive_trailing_backslash_newline(void **state)
{
    const char *s = "#define X \\\n";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.v[0].kind, CK_TOK_DIRECTIVE);
    assert_true(t.trailing_backslash);
    ck_toks_dispose(&t);
}

static void test_ck_lex_trailing_backslash_flag(void **state)
{
    struct ck_toks t = {0};

    (void)state;
    lex("int x; \\", &t);
    assert_true(t.trailing_backslash);
    assert_int_equal(t.n, 4);
    lex("int x; \\\n", &t);
    assert_true(t.trailing_backslash);
    lex("int x; \\\r\n", &t);
    assert_true(t.trailing_backslash);
    /* a splice in the middle is not trailing */
    lex("in\\\nt x;", &t);
    assert_false(t.trailing_backslash);
    lex("int x;", &t);
    assert_false(t.trailing_backslash);
    ck_toks_dispose(&t);
}

static void test_ck_lex_backslash_newline_splice_lines(void **state)
{
    const char *s = "a \\\n b\nc";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.v[0].line, 1);
    assert_int_equal(t.v[1].line, 2);
    assert_int_equal(t.v[2].line, 3);
    ck_toks_dispose(&t);
}

static void test_ck_lex_stray_backslash_is_punct(void **state)
{
    const char *s = "a \\ b";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 4);
    tok_is(s, &t, 1, CK_TOK_PUNCT, "\\");
    assert_false(t.trailing_backslash);
    ck_toks_dispose(&t);
}

static void test_ck_lex_numbers(void **state)
{
    const char *s = "1e-5 0x1p+3 1.5f .5 0xFFull 1E+10L 0777 3.";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 9);
    tok_is(s, &t, 0, CK_TOK_NUMBER, "1e-5");
    tok_is(s, &t, 1, CK_TOK_NUMBER, "0x1p+3");
    tok_is(s, &t, 2, CK_TOK_NUMBER, "1.5f");
    tok_is(s, &t, 3, CK_TOK_NUMBER, ".5");
    tok_is(s, &t, 4, CK_TOK_NUMBER, "0xFFull");
    tok_is(s, &t, 5, CK_TOK_NUMBER, "1E+10L");
    tok_is(s, &t, 6, CK_TOK_NUMBER, "0777");
    tok_is(s, &t, 7, CK_TOK_NUMBER, "3.");
    ck_toks_dispose(&t);
}

static void test_ck_lex_numbers_sign_only_after_exponent(void **state)
{
    const char *s = "1+2 0x1e-1 a-1";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 8);
    tok_is(s, &t, 0, CK_TOK_NUMBER, "1");
    tok_is(s, &t, 1, CK_TOK_PUNCT, "+");
    tok_is(s, &t, 2, CK_TOK_NUMBER, "2");
    /* a pp-number: 0x1e-1 is one token in C as well */
    tok_is(s, &t, 3, CK_TOK_NUMBER, "0x1e-1");
    tok_is(s, &t, 4, CK_TOK_IDENT, "a");
    tok_is(s, &t, 5, CK_TOK_PUNCT, "-");
    tok_is(s, &t, 6, CK_TOK_NUMBER, "1");
    ck_toks_dispose(&t);
}

static void test_ck_lex_numbers_digit_separator(void **state)
{
    /* 1'000 is C23 (not C11); it must lex without trouble and not start a char literal */
    const char *s = "1'000 + 2";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 4);
    tok_is(s, &t, 0, CK_TOK_NUMBER, "1'000");
    tok_is(s, &t, 1, CK_TOK_PUNCT, "+");
    ck_toks_dispose(&t);
    lex("1'", &t);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0].kind, CK_TOK_NUMBER);
    ck_toks_dispose(&t);
}

static void test_ck_lex_dot_not_number(void **state)
{
    const char *s = "a.b ...";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    tok_is(s, &t, 1, CK_TOK_PUNCT, ".");
    tok_is(s, &t, 3, CK_TOK_PUNCT, "...");
    ck_toks_dispose(&t);
}

static void test_ck_lex_punctuators(void **state)
{
    const char *s = "p->x <<= >>= ... ++ -- << >> <= >= == != && || *= /= %= += -= &= ^= |= ?:";
    const char *want[] = {
        "->", "<<=", ">>=", "...", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&",
        "||", "*=",  "/=",  "%=",  "+=", "-=", "&=", "^=", "|=", "?",  ":",  NULL};
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    tok_is(s, &t, 0, CK_TOK_IDENT, "p");
    tok_is(s, &t, 2, CK_TOK_IDENT, "x");
    size_t i = 1;
    for (const char *const *w = want; *w; w++) {
        tok_is(s, &t, i, CK_TOK_PUNCT, *w);
        i += i == 1 ? 2 : 1;
    }
    assert_int_equal(t.n, i + 1);
    ck_toks_dispose(&t);
}

static void test_ck_lex_punctuators_longest_match(void **state)
{
    const char *s = "a+++b..c<<=d";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 10);
    tok_is(s, &t, 1, CK_TOK_PUNCT, "++");
    tok_is(s, &t, 2, CK_TOK_PUNCT, "+");
    tok_is(s, &t, 4, CK_TOK_PUNCT, ".");
    tok_is(s, &t, 5, CK_TOK_PUNCT, ".");
    tok_is(s, &t, 7, CK_TOK_PUNCT, "<<=");
    ck_toks_dispose(&t);
}

static void test_ck_lex_identifiers_with_dollar_and_utf8(void **state)
{
    const char *s = "_a1 $x caf\xc3\xa9 9z";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 5);
    tok_is(s, &t, 0, CK_TOK_IDENT, "_a1");
    tok_is(s, &t, 1, CK_TOK_IDENT, "$x");
    tok_is(s, &t, 2, CK_TOK_IDENT, "caf\xc3\xa9");
    tok_is(s, &t, 3, CK_TOK_NUMBER, "9z");
    ck_toks_dispose(&t);
}

static void test_ck_lex_line_numbers(void **state)
{
    const char *s = "a\n\nb /* x\ny */ c\n  \"s\"\n#d\ne";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 7);
    assert_int_equal(t.v[0].line, 1);
    assert_int_equal(t.v[1].line, 3);
    assert_int_equal(t.v[2].line, 4);
    assert_int_equal(t.v[3].line, 5);
    tok_is(s, &t, 4, CK_TOK_DIRECTIVE, "#d");
    assert_int_equal(t.v[4].line, 6);
    assert_int_equal(t.v[5].line, 7);
    assert_int_equal(t.v[6].line, 7); /* EOF */
    ck_toks_dispose(&t);
}

static void test_ck_lex_crlf_text(void **state)
{
    const char *s = "#include <a.h>\r\nint x;\r\n// c\r\nx = 1;\r\n";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_int_equal(t.n, 9);
    /* the directive stops before the newline (its CR is whitespace to the compiler) */
    assert_int_equal(t.v[0].kind, CK_TOK_DIRECTIVE);
    assert_true(t.v[0].len == strlen("#include <a.h>") || t.v[0].len == strlen("#include <a.h>\r"));
    tok_is(s, &t, 1, CK_TOK_IDENT, "int");
    assert_int_equal(t.v[1].line, 2);
    tok_is(s, &t, 4, CK_TOK_IDENT, "x");
    assert_int_equal(t.v[4].line, 4);
    assert_int_equal(t.v[8].line, 5);
    assert_false(t.trailing_backslash);
    ck_toks_dispose(&t);
}

static void test_ck_lex_binary_bytes_do_not_crash(void **state)
{
    const char s[] = {'a', '\0', 'b', '\x01', '@', '`', '\x7f', '"', '\0', '"'};
    struct ck_toks t = {0};

    (void)state;
    assert_int_equal(ck_lex(s, sizeof s, &t), 0);
    assert_int_equal(t.v[t.n - 1].kind, CK_TOK_EOF);
    assert_int_equal(t.v[t.n - 1].start, sizeof s);
    for (size_t i = 0; i + 1 < t.n; i++)
        assert_true(t.v[i].start + t.v[i].len <= sizeof s);
    ck_toks_dispose(&t);
}

static void test_ck_lex_length_not_nul(void **state)
{
    /* only len bytes are read: the rest of the buffer is ignored */
    const char *s = "abc def";
    struct ck_toks t = {0};

    (void)state;
    assert_int_equal(ck_lex(s, 2, &t), 0);
    assert_int_equal(t.n, 2);
    tok_is(s, &t, 0, CK_TOK_IDENT, "ab");
    ck_toks_dispose(&t);
}

static void test_ck_tok_is_matches_punct_and_ident(void **state)
{
    const char *s = "if -> \"if\" 12";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_true(ck_tok_is(s, &t.v[0], "if"));
    assert_false(ck_tok_is(s, &t.v[0], "i"));
    assert_false(ck_tok_is(s, &t.v[0], "iff"));
    assert_true(ck_tok_is(s, &t.v[1], "->"));
    assert_false(ck_tok_is(s, &t.v[1], "-"));
    /* a string or number spelled the same is not matched */
    assert_false(ck_tok_is(s, &t.v[2], "\"if\""));
    assert_false(ck_tok_is(s, &t.v[3], "12"));
    ck_toks_dispose(&t);
}

static void test_ck_tok_is_keyword_detection(void **state)
{
    const char *s = "int integer typeof __attribute__ _Static_assert main \"int\" static";
    struct ck_toks t = {0};

    (void)state;
    lex(s, &t);
    assert_true(ck_tok_is_keyword(s, &t.v[0]));
    assert_false(ck_tok_is_keyword(s, &t.v[1]));
    assert_true(ck_tok_is_keyword(s, &t.v[2]));
    assert_true(ck_tok_is_keyword(s, &t.v[3]));
    assert_true(ck_tok_is_keyword(s, &t.v[4]));
    assert_false(ck_tok_is_keyword(s, &t.v[5]));
    assert_false(ck_tok_is_keyword(s, &t.v[6])); /* a string */
    assert_true(ck_tok_is_keyword(s, &t.v[7]));
    ck_toks_dispose(&t);
}

static void test_ck_is_keyword_by_length(void **state)
{
    (void)state;
    assert_true(ck_is_keyword("while", 5));
    assert_true(ck_is_keyword("whilex", 5)); /* only len bytes count */
    assert_false(ck_is_keyword("whil", 4));
    assert_false(ck_is_keyword("", 0));
    assert_true(ck_is_keyword("_Bool", 5));
    assert_false(ck_is_keyword("bool", 4));
    assert_false(ck_is_keyword("printf", 6));
}

static void test_ck_keywords_list_terminated_and_known(void **state)
{
    size_t n = 0;
    int saw_int = 0, saw_alignas = 0;

    (void)state;
    for (const char *const *k = ck_keywords; *k; k++) {
        n++;
        saw_int |= strcmp(*k, "int") == 0;
        saw_alignas |= strcmp(*k, "_Alignas") == 0;
        assert_true(ck_is_keyword(*k, strlen(*k)));
    }
    assert_true(n >= 44); /* at least C11's list */
    assert_true(saw_int);
    assert_true(saw_alignas);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_lex_empty_gives_eof),
        cmocka_unit_test(test_ck_lex_simple_declaration),
        cmocka_unit_test(test_ck_lex_reuses_disposed_or_filled_toks),
        cmocka_unit_test(test_ck_lex_many_tokens_grow),
        cmocka_unit_test(test_ck_lex_line_comment_skipped),
        cmocka_unit_test(test_ck_lex_line_comment_continued_by_backslash),
        cmocka_unit_test(test_ck_lex_line_comment_at_end),
        cmocka_unit_test(test_ck_lex_block_comment_skipped),
        cmocka_unit_test(test_ck_lex_block_comment_unterminated),
        cmocka_unit_test(test_ck_lex_block_comment_star_at_end),
        cmocka_unit_test(test_ck_lex_comment_markers_in_strings),
        cmocka_unit_test(test_ck_lex_string_with_escapes),
        cmocka_unit_test(test_ck_lex_char_with_escapes),
        cmocka_unit_test(test_ck_lex_encoding_prefixes),
        cmocka_unit_test(test_ck_lex_prefix_lookalikes_are_identifiers),
        cmocka_unit_test(test_ck_lex_string_unterminated_at_newline),
        cmocka_unit_test(test_ck_lex_string_unterminated_at_end),
        cmocka_unit_test(test_ck_lex_string_ends_in_backslash),
        cmocka_unit_test(test_ck_lex_string_continued_by_backslash_newline),
        cmocka_unit_test(test_ck_lex_string_continued_by_backslash_crlf),
        cmocka_unit_test(test_ck_lex_directive_is_one_token),
        cmocka_unit_test(test_ck_lex_directive_only_first_on_line),
        cmocka_unit_test(test_ck_lex_directive_after_leading_comment),
        cmocka_unit_test(test_ck_lex_directive_backslash_continued),
        cmocka_unit_test(test_ck_lex_directive_block_comment_spans_lines),
        cmocka_unit_test(test_ck_lex_directive_unterminated_comment),
        cmocka_unit_test(test_ck_lex_directive_comment_opener_in_string),
        cmocka_unit_test(test_ck_lex_directive_comment_opener_in_line_comment),
        cmocka_unit_test(test_ck_lex_directive_apostrophe_in_text),
        cmocka_unit_test(test_ck_lex_directive_trailing_backslash_at_end),
        cmocka_unit_test(test_ck_lex_directive_trailing_backslash_newline),
        cmocka_unit_test(test_ck_lex_trailing_backslash_flag),
        cmocka_unit_test(test_ck_lex_backslash_newline_splice_lines),
        cmocka_unit_test(test_ck_lex_stray_backslash_is_punct),
        cmocka_unit_test(test_ck_lex_numbers),
        cmocka_unit_test(test_ck_lex_numbers_sign_only_after_exponent),
        cmocka_unit_test(test_ck_lex_numbers_digit_separator),
        cmocka_unit_test(test_ck_lex_dot_not_number),
        cmocka_unit_test(test_ck_lex_punctuators),
        cmocka_unit_test(test_ck_lex_punctuators_longest_match),
        cmocka_unit_test(test_ck_lex_identifiers_with_dollar_and_utf8),
        cmocka_unit_test(test_ck_lex_line_numbers),
        cmocka_unit_test(test_ck_lex_crlf_text),
        cmocka_unit_test(test_ck_lex_binary_bytes_do_not_crash),
        cmocka_unit_test(test_ck_lex_length_not_nul),
        cmocka_unit_test(test_ck_tok_is_matches_punct_and_ident),
        cmocka_unit_test(test_ck_tok_is_keyword_detection),
        cmocka_unit_test(test_ck_is_keyword_by_length),
        cmocka_unit_test(test_ck_keywords_list_terminated_and_known),
    };

    return cmocka_run_group_tests_name("ck_lex", tests, NULL, NULL);
}
