/*
 * test_ck_intro.c - unit tests for kernel/engine/ck_intro.c: is_complete (complete,
 * incomplete with the indent for open brackets, unterminated comments and literals,
 * invalid closers), completion (keywords, session symbols and prelude names, header names,
 * magics, cursor positions in code points), the names scan of preprocessed text and the
 * harvest that runs the preprocessor, the word under the cursor, and inspection of
 * session, prelude and header names. Needs no man pages: only the declaration part of an
 * inspection is checked.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ck_intro.h"
#include "ck_sess.h"
#include "jp_buf.h"
#include "jp_err.h"

#define assert_has(hay, needle)                                                                    \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("missing \"%s\" in:\n%s", (needle), (hay));                                   \
    } while (0)

/* Generate a cell into s the way the kernel does (clone, generate, commit); nothing is
 * compiled here. */
static void add_cell(struct ck_session *s, const char *src, const char *cell)
{
    struct ck_session next;
    struct ck_gen g = {0};

    assert_int_equal(ck_session_clone(&next, s), 0);
    assert_int_equal(ck_gen(&next, src, strlen(src), cell, &g), 0);
    ck_gen_dispose(&g);
    ck_session_dispose(s);
    *s = next;
}

/* ---- ck_is_complete ----------------------------------------------------------------- */

static const char *complete(const char *code, char *indent, size_t indentlen)
{
    return ck_is_complete(code, strlen(code), indent, indentlen);
}

static void test_ck_is_complete_complete(void **state)
{
    char indent[64] = "junk";

    (void)state;
    assert_string_equal(complete("int x = 1;", indent, sizeof indent), "complete");
    assert_string_equal(indent, "");
    assert_string_equal(complete("", indent, sizeof indent), "complete");
    assert_string_equal(complete("int f(void) { return 0; }\nf()", indent, sizeof indent),
                        "complete");
    assert_string_equal(complete("#include <stdio.h>\n", indent, sizeof indent), "complete");
    assert_string_equal(complete("char *s = \"{(\"; // {", indent, sizeof indent), "complete");
    assert_string_equal(complete("/* { */ x", indent, sizeof indent), "complete");
}

static void test_ck_is_complete_open_brackets_indent(void **state)
{
    char indent[64];

    (void)state;
    assert_string_equal(complete("int f(void) {", indent, sizeof indent), "incomplete");
    assert_string_equal(indent, "    ");
    assert_string_equal(complete("if (a) {\n  if (b) {\n", indent, sizeof indent), "incomplete");
    assert_string_equal(indent, "        ");
    assert_string_equal(complete("f(1,\n", indent, sizeof indent), "incomplete");
    assert_string_equal(indent, "    ");
    assert_string_equal(complete("int a[] = {[0", indent, sizeof indent), "incomplete");
    assert_string_equal(indent, "        ");
}

static void test_ck_is_complete_indent_limits(void **state)
{
    char indent[64];
    char small[6] = "xxxxx";
    char deep[41];

    (void)state;
    memset(deep, '{', 40);
    deep[40] = '\0';
    assert_string_equal(complete(deep, indent, sizeof indent), "incomplete");
    assert_int_equal(strlen(indent), 60); /* at most 15 levels */
    /* a short buffer gets as many levels as fit, NUL-terminated */
    assert_string_equal(complete("{{{", small, sizeof small), "incomplete");
    assert_string_equal(small, "    ");
    /* no buffer at all */
    assert_string_equal(complete("{", NULL, 0), "incomplete");
}

static void test_ck_is_complete_unterminated_comment(void **state)
{
    char indent[64];

    (void)state;
    assert_string_equal(complete("int x; /* more to come", indent, sizeof indent), "incomplete");
    assert_string_equal(indent, "");
    assert_string_equal(complete("/*\n", indent, sizeof indent), "incomplete");
}

static void test_ck_is_complete_trailing_backslash(void **state)
{
    char indent[64];

    (void)state;
    assert_string_equal(complete("#define X \\", indent, sizeof indent), "incomplete");
    assert_string_equal(complete("#define X \\\n", indent, sizeof indent), "incomplete");
    assert_string_equal(complete("#define X \\\n  1", indent, sizeof indent), "complete");
}

static void test_ck_is_complete_unterminated_literal(void **state)
{
    char indent[64];

    (void)state;
    /* the literal is still being typed */
    assert_string_equal(complete("puts(\"abc", indent, sizeof indent), "incomplete");
    assert_string_equal(complete("char c = '", indent, sizeof indent), "incomplete");
    /* cut by a newline with more after it: the compiler will reject it */
    assert_string_equal(complete("puts(\"abc\n);", indent, sizeof indent), "invalid");
}

static void test_ck_is_complete_invalid_closer(void **state)
{
    char indent[64];

    (void)state;
    assert_string_equal(complete("}", indent, sizeof indent), "invalid");
    assert_string_equal(complete("f(1));", indent, sizeof indent), "invalid");
    assert_string_equal(complete("int a[3]];\n{", indent, sizeof indent), "invalid");
    assert_string_equal(indent, "");
}

/* ---- ck_complete -------------------------------------------------------------------- */

static long find_match(const struct ck_completion *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->matches[i], name) == 0)
            return (long)i;
    return -1;
}

static void match_is(const struct ck_completion *c, const char *name, const char *type)
{
    long i = find_match(c, name);
    if (i < 0)
        fail_msg("no completion \"%s\" among %zu", name, c->n);
    assert_string_equal(c->types[i], type);
}

static void assert_sorted(const struct ck_completion *c)
{
    for (size_t i = 1; i < c->n; i++)
        assert_true(strcmp(c->matches[i - 1], c->matches[i]) < 0);
}

static void test_ck_complete_keywords(void **state)
{
    struct ck_session s;
    struct ck_completion c;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    assert_int_equal(ck_complete(&s, NULL, "whi", 3, &c), 0);
    assert_int_equal(c.n, 1);
    match_is(&c, "while", "keyword");
    assert_int_equal(c.cursor_start, 0);
    assert_int_equal(c.cursor_end, 3);
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, NULL, "x = un", 6, &c), 0);
    match_is(&c, "union", "keyword");
    match_is(&c, "unsigned", "keyword");
    assert_int_equal(c.cursor_start, 4);
    assert_sorted(&c);
    ck_completion_dispose(&c);
    /* GNU spellings starting with __ are not offered */
    assert_int_equal(ck_complete(&s, NULL, "__attr", 6, &c), 0);
    assert_int_equal(c.n, 0);
    ck_completion_dispose(&c);
    ck_session_dispose(&s);
}

static void test_ck_complete_session_symbols(void **state)
{
    struct ck_session s;
    struct ck_completion c;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s,
             "#define COUNT_MAX 10\ntypedef int count_t;\nstruct counter_s { int n; };\n"
             "enum { COUNT_RED, COUNT_BLUE };\nint counter = 0;\n"
             "int count_items(void) { return counter; }",
             "In[1]");
    assert_int_equal(ck_complete(&s, NULL, "cou", 3, &c), 0);
    match_is(&c, "counter", "variable");
    match_is(&c, "count_items", "function");
    match_is(&c, "count_t", "type");
    match_is(&c, "counter_s", "type");
    assert_sorted(&c);
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, NULL, "COUNT_", 6, &c), 0);
    match_is(&c, "COUNT_MAX", "macro");
    match_is(&c, "COUNT_RED", "type");
    match_is(&c, "COUNT_BLUE", "type");
    assert_int_equal(c.n, 3);
    ck_completion_dispose(&c);
    ck_session_dispose(&s);
}

static void test_ck_complete_skips_stale_and_internal(void **state)
{
    struct ck_session s;
    struct ck_completion c;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s, "typedef int T;\nT tval;\nint tkeep;", "In[1]");
    add_cell(&s, "typedef long T;", "In[2]");
    assert_int_equal(ck_complete(&s, NULL, "t", 1, &c), 0);
    assert_true(find_match(&c, "tval") < 0);
    match_is(&c, "tkeep", "variable");
    match_is(&c, "typedef", "keyword");
    ck_completion_dispose(&c);
    /* an anonymous struct's generated tag is internal */
    add_cell(&s, "struct { int a; } anon;", "In[3]");
    assert_int_equal(ck_complete(&s, NULL, "__ck", 4, &c), 0);
    assert_int_equal(c.n, 0);
    ck_completion_dispose(&c);
    ck_session_dispose(&s);
}

static void test_ck_complete_cursor_in_code_points(void **state)
{
    struct ck_session s;
    struct ck_completion c;
    /* "é" and "→" are 2 and 3 bytes but one code point each */
    const char *code = "s = \"\xc3\xa9\xe2\x86\x92\"; cou";

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s, "int counter;", "In[1]");
    assert_int_equal(ck_complete(&s, NULL, code, 13, &c), 0);
    match_is(&c, "counter", "variable");
    assert_int_equal(c.cursor_start, 10);
    assert_int_equal(c.cursor_end, 13);
    ck_completion_dispose(&c);
    /* the cursor inside a word: the rest of the word is replaced too */
    assert_int_equal(ck_complete(&s, NULL, "x = \xc3\xa9 + counter;", 9, &c), 0);
    match_is(&c, "counter", "variable");
    assert_int_equal(c.cursor_start, 8);
    assert_int_equal(c.cursor_end, 15);
    ck_completion_dispose(&c);
    /* a cursor past the end is clamped to the text */
    assert_int_equal(ck_complete(&s, NULL, "cou", 99, &c), 0);
    match_is(&c, "counter", "variable");
    assert_int_equal(c.cursor_end, 3);
    ck_completion_dispose(&c);
    ck_session_dispose(&s);
}

static void test_ck_complete_empty_prefix(void **state)
{
    struct ck_session s;
    struct ck_completion c;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s, "int counter;", "In[1]");
    /* nothing typed at the start: nothing offered */
    assert_int_equal(ck_complete(&s, NULL, "", 0, &c), 0);
    assert_int_equal(c.n, 0);
    ck_completion_dispose(&c);
    /* after '(' or a space: everything from the session and the keywords */
    assert_int_equal(ck_complete(&s, NULL, "f(", 2, &c), 0);
    match_is(&c, "counter", "variable");
    match_is(&c, "int", "keyword");
    assert_int_equal(c.cursor_start, 2);
    assert_int_equal(c.cursor_end, 2);
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, NULL, "x;", 2, &c), 0);
    assert_int_equal(c.n, 0);
    ck_completion_dispose(&c);
    ck_session_dispose(&s);
}

static void test_ck_complete_magics(void **state)
{
    struct ck_session s;
    struct ck_completion c;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s, "int lib_count;", "In[1]");
    assert_int_equal(ck_complete(&s, NULL, "%l", 2, &c), 0);
    assert_int_equal(c.n, 2);
    match_is(&c, "%ldflags", "magic");
    match_is(&c, "%lib", "magic");
    assert_true(find_match(&c, "lib_count") < 0);
    assert_int_equal(c.cursor_start, 0);
    assert_int_equal(c.cursor_end, 2);
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, NULL, "%%ti", 4, &c), 0);
    assert_int_equal(c.n, 1);
    match_is(&c, "%%time", "magic");
    assert_int_equal(c.cursor_start, 0);
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, NULL, "int x;\n%", 8, &c), 0);
    assert_true(c.n >= 9);
    match_is(&c, "%cflags", "magic");
    assert_int_equal(c.cursor_start, 7);
    ck_completion_dispose(&c);
    ck_session_dispose(&s);
}

static const char hdr_text[] = "typedef unsigned long size_t;\n"
                               "typedef struct _IO_FILE FILE;\n"
                               "extern FILE *stdout;\n"
                               "int printf(const char *restrict fmt, ...);\n"
                               "int puts(const char *s);\n"
                               "int puts(const char *);\n"
                               "size_t strlen(const char *s);\n"
                               "int _private_helper(void);\n"
                               "enum { PUT_A, PUT_B = 3 };\n"
                               "#define EOF (-1)\n"
                               "#define PUTS_MAX 4\n"
                               "#define __INTERNAL 1\n"
                               "#define FUNC_LIKE(a) ((a) + 1)\n"
                               "static inline int pure_fn(int x) { return x; }\n";

static void scan_hdr(struct ck_names *names, char ***tds, size_t *ntd)
{
    memset(names, 0, sizeof *names);
    assert_int_equal(ck_names_scan(hdr_text, strlen(hdr_text), names, tds, ntd), 0);
}

static void test_ck_complete_header_names(void **state)
{
    struct ck_session s;
    struct ck_names hdr;
    struct ck_completion c;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    scan_hdr(&hdr, NULL, NULL);
    assert_int_equal(ck_complete(&s, &hdr, "pu", 2, &c), 0);
    match_is(&c, "puts", "function");
    match_is(&c, "pure_fn", "function");
    assert_true(find_match(&c, "printf") < 0);
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, &hdr, "PUT", 3, &c), 0);
    match_is(&c, "PUTS_MAX", "macro");
    match_is(&c, "PUT_A", "constant");
    match_is(&c, "PUT_B", "constant");
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, &hdr, "x = st", 6, &c), 0);
    match_is(&c, "stdout", "variable");
    match_is(&c, "strlen", "function");
    match_is(&c, "static", "keyword");
    match_is(&c, "struct", "keyword");
    assert_sorted(&c);
    ck_completion_dispose(&c);
    /* reserved names only when the prefix asks for them */
    assert_int_equal(ck_complete(&s, &hdr, "_p", 2, &c), 0);
    match_is(&c, "_private_helper", "function");
    ck_completion_dispose(&c);
    assert_int_equal(ck_complete(&s, &hdr, "si", 2, &c), 0);
    match_is(&c, "size_t", "type");
    match_is(&c, "signed", "keyword");
    match_is(&c, "sizeof", "keyword");
    ck_completion_dispose(&c);
    /* header names need a prefix: after '(' only the session and keywords */
    assert_int_equal(ck_complete(&s, &hdr, "f(", 2, &c), 0);
    assert_true(find_match(&c, "puts") < 0);
    ck_completion_dispose(&c);
    ck_names_dispose(&hdr);
    ck_session_dispose(&s);
}

static void test_ck_completion_dispose_twice(void **state)
{
    struct ck_completion c = {0};

    (void)state;
    ck_completion_dispose(&c);
    ck_completion_dispose(&c);
    assert_null(c.matches);
}

/* ---- ck_names_scan / ck_names_find / ck_names_harvest ------------------------------- */

static void test_ck_names_scan_kinds(void **state)
{
    struct ck_names n;
    char **tds = NULL;
    size_t ntd = 0;
    const struct ck_name *e;

    (void)state;
    scan_hdr(&n, &tds, &ntd);
    /* sorted and unique */
    for (size_t i = 1; i < n.n; i++)
        assert_true(strcmp(n.v[i - 1].name, n.v[i].name) < 0);
    e = ck_names_find(&n, "size_t", 6);
    assert_non_null(e);
    assert_int_equal(e->kind, CK_NAME_TYPE);
    assert_string_equal(e->decl, "typedef unsigned long size_t;");
    assert_int_equal(ck_names_find(&n, "FILE", 4)->kind, CK_NAME_TYPE);
    e = ck_names_find(&n, "stdout", 6);
    assert_non_null(e);
    assert_int_equal(e->kind, CK_NAME_VAR);
    assert_string_equal(e->decl, "extern FILE *stdout;");
    e = ck_names_find(&n, "printf", 6);
    assert_non_null(e);
    assert_int_equal(e->kind, CK_NAME_FUNC);
    assert_string_equal(e->decl, "int printf(const char *restrict fmt, ...);");
    assert_int_equal(ck_names_find(&n, "strlen", 6)->kind, CK_NAME_FUNC);
    assert_int_equal(ck_names_find(&n, "pure_fn", 7)->kind, CK_NAME_FUNC);
    e = ck_names_find(&n, "PUT_B", 5);
    assert_non_null(e);
    assert_int_equal(e->kind, CK_NAME_CONST);
    assert_string_equal(e->decl, "enum { PUT_A, PUT_B = 3 };");
    e = ck_names_find(&n, "EOF", 3);
    assert_non_null(e);
    assert_int_equal(e->kind, CK_NAME_MACRO);
    assert_string_equal(e->decl, "#define EOF (-1)");
    assert_int_equal(ck_names_find(&n, "FUNC_LIKE", 9)->kind, CK_NAME_MACRO);
    /* reserved macro names are left out */
    assert_null(ck_names_find(&n, "__INTERNAL", 10));
    /* a name declared twice is listed once */
    size_t puts_count = 0;
    for (size_t i = 0; i < n.n; i++)
        puts_count += strcmp(n.v[i].name, "puts") == 0;
    assert_int_equal(puts_count, 1);
    /* the typedef names, for the splitter */
    assert_int_equal(ntd, 2);
    int saw_size = 0, saw_file = 0;
    for (size_t i = 0; i < ntd; i++) {
        saw_size |= strcmp(tds[i], "size_t") == 0;
        saw_file |= strcmp(tds[i], "FILE") == 0;
        free(tds[i]);
    }
    free(tds);
    assert_true(saw_size && saw_file);
    ck_names_dispose(&n);
    assert_null(n.v);
    ck_names_dispose(&n);
}

static void test_ck_names_scan_uses_typedefs_in_order(void **state)
{
    const char *text = "typedef int myint;\nmyint * p;\nmyint (*handler)(int);\n";
    struct ck_names n = {0};

    (void)state;
    assert_int_equal(ck_names_scan(text, strlen(text), &n, NULL, NULL), 0);
    /* `myint * p` is a declaration because myint is known by then */
    assert_int_equal(ck_names_find(&n, "p", 1)->kind, CK_NAME_VAR);
    assert_int_equal(ck_names_find(&n, "handler", 7)->kind, CK_NAME_VAR);
    assert_int_equal(ck_names_find(&n, "myint", 5)->kind, CK_NAME_TYPE);
    ck_names_dispose(&n);
}

static void test_ck_names_scan_empty_and_garbage(void **state)
{
    struct ck_names n = {0};
    char **tds = NULL;
    size_t ntd = 7;
    const char *junk = "}}} int ( ; typedef ; #define\n\"unterminated";

    (void)state;
    assert_int_equal(ck_names_scan("", 0, &n, &tds, &ntd), 0);
    assert_int_equal(n.n, 0);
    assert_int_equal(ntd, 0);
    free(tds);
    assert_int_equal(ck_names_scan(junk, strlen(junk), &n, NULL, NULL), 0);
    ck_names_dispose(&n);
}

static void test_ck_names_find_exact_only(void **state)
{
    struct ck_names n;

    (void)state;
    scan_hdr(&n, NULL, NULL);
    assert_null(ck_names_find(&n, "pu", 2));
    assert_null(ck_names_find(&n, "putsx", 5));
    assert_non_null(ck_names_find(&n, "putsx", 4)); /* only len bytes count */
    assert_null(ck_names_find(&n, "", 0));
    ck_names_dispose(&n);
    assert_null(ck_names_find(&n, "puts", 4)); /* empty table */
}

static int remove_tree(const char *dir)
{
    char p[512];
    struct dirent *e;
    DIR *d = opendir(dir);

    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    return rmdir(dir);
}

static void test_ck_names_harvest_system_headers(void **state)
{
    char dir[256];
    const char *base = getenv("TMPDIR");
    struct ck_names n = {0};
    char **tds = NULL;
    size_t ntd = 0;
    int saw_size = 0, saw_file = 0;

    (void)state;
    snprintf(dir, sizeof dir, "%s/test_ck_intro.XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(ck_names_harvest("gcc", dir, "#include <stddef.h>\n#include <stdio.h>\n", dir,
                                      &n, &tds, &ntd),
                     0);
    for (size_t i = 0; i < ntd; i++) {
        saw_size |= strcmp(tds[i], "size_t") == 0;
        saw_file |= strcmp(tds[i], "FILE") == 0;
        free(tds[i]);
    }
    free(tds);
    assert_true(saw_size);
    assert_true(saw_file);
    assert_non_null(ck_names_find(&n, "printf", 6));
    assert_int_equal(ck_names_find(&n, "printf", 6)->kind, CK_NAME_FUNC);
    assert_int_equal(ck_names_find(&n, "EOF", 3)->kind, CK_NAME_MACRO);
    ck_names_dispose(&n);
    /* a header that does not exist: the preprocessor fails */
    assert_int_equal(
        ck_names_harvest("gcc", dir, "#include <no_such_header_ck.h>\n", dir, &n, NULL, NULL),
        JP_EIO);
    ck_names_dispose(&n);
    assert_int_equal(remove_tree(dir), 0);
}

/* ---- ck_word_at --------------------------------------------------------------------- */

static void test_ck_word_at_identifier(void **state)
{
    char name[64];

    (void)state;
    assert_int_equal(ck_word_at("x = counter + 1", 7, name, sizeof name), 0);
    assert_string_equal(name, "counter");
    assert_int_equal(ck_word_at("x = counter + 1", 4, name, sizeof name), 0);
    assert_string_equal(name, "counter");
    assert_int_equal(ck_word_at("x = counter + 1", 11, name, sizeof name), 0);
    assert_string_equal(name, "counter");
    assert_int_equal(ck_word_at("sqrt", 0, name, sizeof name), 0);
    assert_string_equal(name, "sqrt");
}

static void test_ck_word_at_call_open_paren(void **state)
{
    char name[64];

    (void)state;
    assert_int_equal(ck_word_at("printf(", 7, name, sizeof name), 0);
    assert_string_equal(name, "printf");
    assert_int_equal(ck_word_at("y = norm  (", 11, name, sizeof name), 0);
    assert_string_equal(name, "norm");
}

static void test_ck_word_at_utf8_before_cursor(void **state)
{
    char name[64];
    const char *code = "s = \"\xc3\xa9\xe2\x86\x92\"; value";

    (void)state;
    /* the cursor counts code points: 12 is inside "value" */
    assert_int_equal(ck_word_at(code, 12, name, sizeof name), 0);
    assert_string_equal(name, "value");
}

static void test_ck_word_at_nothing(void **state)
{
    char name[64], tiny[4];

    (void)state;
    assert_int_equal(ck_word_at("", 0, name, sizeof name), JP_ENOENT);
    assert_int_equal(ck_word_at("a + ", 4, name, sizeof name), JP_ENOENT);
    assert_int_equal(ck_word_at("(", 1, name, sizeof name), JP_ENOENT);
    /* too long for the buffer */
    assert_int_equal(ck_word_at("counter", 3, tiny, sizeof tiny), JP_ENOENT);
    assert_int_equal(ck_word_at("abc", 3, tiny, sizeof tiny), 0);
    assert_string_equal(tiny, "abc");
}

/* ---- ck_inspect --------------------------------------------------------------------- */

static void test_ck_inspect_session_function(void **state)
{
    struct ck_session s;
    struct jp_buf out;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s, "\nint twice(int x) { return 2 * x; }", "In[4]");
    jp_buf_init(&out, 1 << 20);
    assert_int_equal(ck_inspect(&s, NULL, "twice", 0, &out), 1);
    assert_has(out.data, "function twice: int twice(int x)\n");
    assert_has(out.data, "defined in In[4], line 2\n");
    assert_has(out.data, "int twice(int x) { return 2 * x; }");
    jp_buf_dispose(&out);
    ck_session_dispose(&s);
}

static void test_ck_inspect_session_variable(void **state)
{
    struct ck_session s;
    struct jp_buf out;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s, "double *samples = 0;", "In[2]");
    jp_buf_init(&out, 1 << 20);
    assert_int_equal(ck_inspect(&s, NULL, "samples", 1, &out), 1);
    assert_has(out.data, "variable samples: double *\ndefined in In[2], line 1\n");
    jp_buf_dispose(&out);
    ck_session_dispose(&s);
}

static void test_ck_inspect_prelude_names(void **state)
{
    struct ck_session s;
    struct jp_buf out;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    add_cell(&s, "#define LIMIT_CK 10\ntypedef struct { int a; } thing_ck;", "In[1]");
    jp_buf_init(&out, 1 << 20);
    assert_int_equal(ck_inspect(&s, NULL, "LIMIT_CK", 0, &out), 1);
    assert_has(out.data, "macro (defined in In[1], line 1):\n#define LIMIT_CK 10\n");
    jp_buf_reset(&out);
    assert_int_equal(ck_inspect(&s, NULL, "thing_ck", 0, &out), 1);
    assert_has(out.data, "type (defined in In[1], line 2):\ntypedef struct { int a; } thing_ck;");
    jp_buf_dispose(&out);
    ck_session_dispose(&s);
}

static void test_ck_inspect_header_name(void **state)
{
    struct ck_session s;
    struct ck_names hdr;
    struct jp_buf out;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    scan_hdr(&hdr, NULL, NULL);
    jp_buf_init(&out, 1 << 20);
    assert_int_equal(ck_inspect(&s, &hdr, "PUTS_MAX", 0, &out), 1);
    assert_true(strncmp(out.data, "#define PUTS_MAX 4\n", 19) == 0);
    jp_buf_dispose(&out);
    ck_names_dispose(&hdr);
    ck_session_dispose(&s);
}

static void test_ck_inspect_session_shadows_header(void **state)
{
    struct ck_session s;
    struct ck_names hdr;
    struct jp_buf out;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    scan_hdr(&hdr, NULL, NULL);
    add_cell(&s, "int puts(const char *s) { return s != 0; }", "In[1]");
    jp_buf_init(&out, 1 << 20);
    assert_int_equal(ck_inspect(&s, &hdr, "puts", 0, &out), 1);
    assert_true(strncmp(out.data, "function puts: ", 15) == 0);
    assert_null(strstr(out.data, "int puts(const char *);"));
    jp_buf_dispose(&out);
    ck_names_dispose(&hdr);
    ck_session_dispose(&s);
}

static void test_ck_inspect_keyword(void **state)
{
    struct ck_session s;
    struct jp_buf out;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    jp_buf_init(&out, 1 << 20);
    assert_int_equal(ck_inspect(&s, NULL, "typedef", 0, &out), 1);
    assert_true(strncmp(out.data, "typedef: C keyword\n", 19) == 0);
    jp_buf_dispose(&out);
    ck_session_dispose(&s);
}

static void test_ck_inspect_unknown_or_odd_name(void **state)
{
    struct ck_session s;
    struct jp_buf out;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    jp_buf_init(&out, 1 << 20);
    /* not an identifier: no man page is even asked for */
    assert_int_equal(ck_inspect(&s, NULL, "a b;rm", 0, &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(ck_inspect(&s, NULL, "zz_ck_no_such_name_zz", 0, &out), 0);
    assert_int_equal(out.len, 0);
    jp_buf_dispose(&out);
    ck_session_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_is_complete_complete),
        cmocka_unit_test(test_ck_is_complete_open_brackets_indent),
        cmocka_unit_test(test_ck_is_complete_indent_limits),
        cmocka_unit_test(test_ck_is_complete_unterminated_comment),
        cmocka_unit_test(test_ck_is_complete_trailing_backslash),
        cmocka_unit_test(test_ck_is_complete_unterminated_literal),
        cmocka_unit_test(test_ck_is_complete_invalid_closer),
        cmocka_unit_test(test_ck_complete_keywords),
        cmocka_unit_test(test_ck_complete_session_symbols),
        cmocka_unit_test(test_ck_complete_skips_stale_and_internal),
        cmocka_unit_test(test_ck_complete_cursor_in_code_points),
        cmocka_unit_test(test_ck_complete_empty_prefix),
        cmocka_unit_test(test_ck_complete_magics),
        cmocka_unit_test(test_ck_complete_header_names),
        cmocka_unit_test(test_ck_completion_dispose_twice),
        cmocka_unit_test(test_ck_names_scan_kinds),
        cmocka_unit_test(test_ck_names_scan_uses_typedefs_in_order),
        cmocka_unit_test(test_ck_names_scan_empty_and_garbage),
        cmocka_unit_test(test_ck_names_find_exact_only),
        cmocka_unit_test(test_ck_names_harvest_system_headers),
        cmocka_unit_test(test_ck_word_at_identifier),
        cmocka_unit_test(test_ck_word_at_call_open_paren),
        cmocka_unit_test(test_ck_word_at_utf8_before_cursor),
        cmocka_unit_test(test_ck_word_at_nothing),
        cmocka_unit_test(test_ck_inspect_session_function),
        cmocka_unit_test(test_ck_inspect_session_variable),
        cmocka_unit_test(test_ck_inspect_prelude_names),
        cmocka_unit_test(test_ck_inspect_header_name),
        cmocka_unit_test(test_ck_inspect_session_shadows_header),
        cmocka_unit_test(test_ck_inspect_keyword),
        cmocka_unit_test(test_ck_inspect_unknown_or_odd_name),
    };

    return cmocka_run_group_tests_name("ck_intro", tests, NULL, NULL);
}
