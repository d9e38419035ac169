/*
 * test_ck_diag.c - unit tests for kernel/engine/ck_diag.c: which gcc and clang diagnostics
 * reach the user. Warnings in the current cell stay with their notes; warnings in generated
 * code, earlier cells and headers go; errors always stay; the kernel's cell function is never
 * named; "inlined from" a cell line counts as the cell's; a real gcc run over a file shaped
 * like a generated cell keeps only the user's warning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ck_diag.h"
#include "ck_job.h"

/* Filter text for cell and return the kept text (static buffer). */
static const char *filtered(const char *text, const char *cell)
{
    static char res[8192];
    struct jp_buf b;
    jp_buf_init(&b, 1 << 20);
    assert_int_equal(ck_diag_filter(text, cell, &b), 0);
    snprintf(res, sizeof res, "%.*s", (int)b.len, b.data ? b.data : "");
    jp_buf_dispose(&b);
    return res;
}

static void test_ck_diag_filter_keeps_cell_warning_with_notes(void **state)
{
    (void)state;
    const char *out = "In[4]: In function \xe2\x80\x98__ck_cell_4\xe2\x80\x99:\n"
                      "In[4]:2:9: warning: unused variable \xe2\x80\x98y\xe2\x80\x99 "
                      "[-Wunused-variable]\n"
                      "In[4]:3:5: warning: passing argument 1 of 'puts' makes pointer from "
                      "integer without a cast [-Wint-conversion]\n"
                      "/usr/include/stdio.h:694:29: note: expected 'const char *' but argument "
                      "is of type 'int'\n";
    assert_string_equal(filtered(out, "In[4]"),
                        "In[4]:2:9: warning: unused variable \xe2\x80\x98y\xe2\x80\x99 "
                        "[-Wunused-variable]\n"
                        "In[4]:3:5: warning: passing argument 1 of 'puts' makes pointer from "
                        "integer without a cast [-Wint-conversion]\n"
                        "/usr/include/stdio.h:694:29: note: expected 'const char *' but "
                        "argument is of type 'int'\n");
}

static void test_ck_diag_filter_drops_generated_code_warning(void **state)
{
    (void)state;
    const char *out = "<cnote>: In function '__ck_cell_18':\n"
                      "<cnote>:1:21: warning: cast between incompatible function types from "
                      "'int (*)(void)' to 'int (*)(int,  char **)' [-Wcast-function-type]\n"
                      "<cnote>:1:21: warning: function called through a non-compatible type\n"
                      "<cnote>:1:21: note: if this code is reached, the program will abort\n";
    assert_string_equal(filtered(out, "In[18]"), "");
}

static void test_ck_diag_filter_drops_earlier_cell_and_header_warnings(void **state)
{
    (void)state;
    const char *out = "In[2]:1:19: warning: unused function 'g' [-Wunused-function]\n"
                      "In file included from In[5]:1:\n"
                      "./mylib.h:3:12: warning: 'helper' defined but not used "
                      "[-Wunused-function]\n"
                      "In[5]:2:7: warning: unused variable 'z' [-Wunused-variable]\n"
                      "2 warnings generated.\n";
    assert_string_equal(filtered(out, "In[5]"),
                        "In[5]:2:7: warning: unused variable 'z' [-Wunused-variable]\n");
}

static void test_ck_diag_filter_keeps_function_context(void **state)
{
    (void)state;
    const char *out = "In[3]: In function 'norm':\n"
                      "In[3]:4:12: warning: unused variable 'k' [-Wunused-variable]\n"
                      "In[3]: At top level:\n"
                      "In[3]:9:1: warning: return type defaults to 'int' [-Wimplicit-int]\n";
    assert_string_equal(filtered(out, "In[3]"),
                        "In[3]: In function 'norm':\n"
                        "In[3]:4:12: warning: unused variable 'k' [-Wunused-variable]\n"
                        "In[3]:9:1: warning: return type defaults to 'int' [-Wimplicit-int]\n");
}

static void test_ck_diag_filter_function_line_only_before_shown_message(void **state)
{
    (void)state;
    /* the first warning in f is about generated code, the second is the user's */
    const char *out = "In[3]: In function 'f':\n"
                      "In[2]:1:9: warning: old macro [-Wfoo]\n"
                      "In[3]:5:3: warning: mine [-Wbar]\n"
                      "In[3]: In function 'h':\n"
                      "<cnote>:1:1: warning: not mine [-Wbaz]\n";
    assert_string_equal(filtered(out, "In[3]"), "In[3]: In function 'f':\n"
                                                "In[3]:5:3: warning: mine [-Wbar]\n");
}

static void test_ck_diag_filter_keeps_errors_everywhere(void **state)
{
    (void)state;
    const char *out = "<cnote>:16:8: error: unknown type name 'size_t'\n"
                      "In[7]: In function '__ck_cell_7':\n"
                      "<cnote>:1:1: warning: generated [-Wx]\n"
                      "In[7]:2:1: error: 'y' undeclared (first use in this function)\n"
                      "In[7]:2:1: note: each undeclared identifier is reported only once for "
                      "each function it appears in\n";
    assert_string_equal(filtered(out, "In[7]"),
                        "<cnote>:16:8: error: unknown type name 'size_t'\n"
                        "In[7]:2:1: error: 'y' undeclared (first use in this function)\n"
                        "In[7]:2:1: note: each undeclared identifier is reported only once for "
                        "each function it appears in\n");
}

static void test_ck_diag_filter_macro_from_earlier_cell_expanded_here(void **state)
{
    (void)state;
    const char *out = "In[1]:2:17: warning: comparison of integer expressions of different "
                      "signedness [-Wsign-compare]\n"
                      "In[4]:3:5: note: in expansion of macro 'LESS'\n";
    assert_string_equal(filtered(out, "In[4]"), out);
    assert_string_equal(filtered(out, "In[5]"), "");
}

static void test_ck_diag_filter_inlined_from_cell_line(void **state)
{
    (void)state;
    const char *out = "In function 'memcpy',\n"
                      "    inlined from 'copy' at In[6]:3:5:\n"
                      "/usr/include/x86_64-linux-gnu/bits/string_fortified.h:29:10: warning: "
                      "'__builtin_memcpy' writing 16 bytes into a region of size 8 overflows the "
                      "destination [-Wstringop-overflow=]\n"
                      "In function 'memcpy',\n"
                      "    inlined from 'other' at In[2]:3:5:\n"
                      "/usr/include/x86_64-linux-gnu/bits/string_fortified.h:29:10: warning: "
                      "not this one [-Wstringop-overflow=]\n";
    assert_string_equal(filtered(out, "In[6]"),
                        "In function 'memcpy',\n"
                        "    inlined from 'copy' at In[6]:3:5:\n"
                        "/usr/include/x86_64-linux-gnu/bits/string_fortified.h:29:10: warning: "
                        "'__builtin_memcpy' writing 16 bytes into a region of size 8 overflows the "
                        "destination [-Wstringop-overflow=]\n");
}

static void test_ck_diag_filter_keeps_flag_warnings(void **state)
{
    (void)state;
    const char *out = "cc1: warning: command-line option '-Wfoo' is valid for C++ but not for "
                      "C\n";
    assert_string_equal(filtered(out, "In[1]"), out);
}

static void test_ck_diag_filter_empty_input(void **state)
{
    (void)state;
    assert_string_equal(filtered("", "In[1]"), "");
}

/* A real gcc -Wall -Wextra run over a file laid out like a generated cell. */
static void test_ck_diag_filter_real_gcc_output(void **state)
{
    (void)state;
    char dir[] = "/tmp/ckdiag-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/cell.c", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#line 1 \"In[1]\"\n"
          "static inline int old(int a) { int unused_old; return a; }\n"
          "#line 1 \"<cnote>\"\n"
          "int main(void);\n"
          "void __ck_cell_2(void);\n"
          "void __ck_cell_2(void)\n"
          "{\n"
          "#line 2 \"In[2]\"\n"
          "{ int unused_new = 1; }\n"
          "#line 1 \"<cnote>\"\n"
          "((int (*)(int, char **))main)(1, (char *[]){\"cell\", 0});\n"
          "}\n",
          f);
    fclose(f);
    char *argv[] = {"gcc",
                    "-c",
                    "-Wall",
                    "-Wextra",
                    "-fdiagnostics-color=never",
                    "-fno-diagnostics-show-caret",
                    path,
                    "-o",
                    "/dev/null",
                    NULL};
    struct jp_buf out;
    jp_buf_init(&out, 1 << 20);
    ck_run(argv, dir, &out, 20000);
    /* the generated code warns (cast of main, old's unused variable): the filter hides it */
    assert_non_null(out.data);
    assert_non_null(strstr(out.data, "<cnote>"));
    assert_non_null(strstr(out.data, "unused_old"));
    const char *kept = filtered(out.data, "In[2]");
    assert_non_null(strstr(kept, "In[2]:2:7: warning: unused variable"));
    assert_null(strstr(kept, "<cnote>"));
    assert_null(strstr(kept, "unused_old"));
    assert_null(strstr(kept, "__ck_cell_"));
    jp_buf_dispose(&out);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_diag_filter_keeps_cell_warning_with_notes),
        cmocka_unit_test(test_ck_diag_filter_drops_generated_code_warning),
        cmocka_unit_test(test_ck_diag_filter_drops_earlier_cell_and_header_warnings),
        cmocka_unit_test(test_ck_diag_filter_keeps_function_context),
        cmocka_unit_test(test_ck_diag_filter_function_line_only_before_shown_message),
        cmocka_unit_test(test_ck_diag_filter_keeps_errors_everywhere),
        cmocka_unit_test(test_ck_diag_filter_macro_from_earlier_cell_expanded_here),
        cmocka_unit_test(test_ck_diag_filter_inlined_from_cell_line),
        cmocka_unit_test(test_ck_diag_filter_keeps_flag_warnings),
        cmocka_unit_test(test_ck_diag_filter_empty_input),
        cmocka_unit_test(test_ck_diag_filter_real_gcc_output),
    };
    return cmocka_run_group_tests_name("ck_diag", tests, NULL, NULL);
}
