/*
 * test_ck_plan.c - unit tests for kernel/engine/ck_plan.c: splitting `cc -###` lines, a
 * plan read from the real gcc (two commands, cc1 then as, with the placeholders in place),
 * the driver fallback for a compiler whose -### output is not understood, and that a plan's
 * commands really compile a file.
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

#include "ck_job.h"
#include "ck_plan.h"

static void free_argv(char **v)
{
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static void test_ck_plan_split_quotes_and_escapes(void **state)
{
    (void)state;
    char **v =
        ck_plan_split(" /usr/lib/cc1 -quiet \"-mtune=generic\" \"a b\" \"q\\\"x\" -o /tmp/x.s");
    assert_non_null(v);
    assert_string_equal(v[0], "/usr/lib/cc1");
    assert_string_equal(v[1], "-quiet");
    assert_string_equal(v[2], "-mtune=generic");
    assert_string_equal(v[3], "a b");
    assert_string_equal(v[4], "q\"x");
    assert_string_equal(v[5], "-o");
    assert_string_equal(v[6], "/tmp/x.s");
    assert_null(v[7]);
    free_argv(v);
}

static void test_ck_plan_split_empty_line(void **state)
{
    (void)state;
    char **v = ck_plan_split("   ");
    assert_non_null(v);
    assert_null(v[0]);
    free_argv(v);
}

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ckplan-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char *argv[] = {"rm", "-rf", dir, NULL};
    return ck_run(argv, NULL, NULL, 10000) == 0 ? 0 : -1;
}

static void test_ck_plan_make_gcc_is_direct(void **state)
{
    (void)state;
    char *flags[] = {"-fPIC", "-O2", NULL};
    struct ck_plan p;
    assert_int_equal(ck_plan_make("gcc", flags, dir, &p), 0);
    assert_int_equal(p.direct, 1);
    assert_int_equal(p.n, 2); /* cc1, then as */
    assert_non_null(strstr(p.argv[0][0], "cc1"));
    char **a0 = ck_plan_argv(&p, 0, "x.c", "x.o", "x.s");
    char **a1 = ck_plan_argv(&p, 1, "x.c", "x.o", "x.s");
    int has_src = 0, has_asm0 = 0, has_obj = 0, has_asm1 = 0;
    for (char **q = a0; *q; q++) {
        has_src |= strcmp(*q, "x.c") == 0;
        has_asm0 |= strcmp(*q, "x.s") == 0;
    }
    for (char **q = a1; *q; q++) {
        has_obj |= strcmp(*q, "x.o") == 0;
        has_asm1 |= strcmp(*q, "x.s") == 0;
    }
    assert_true(has_src && has_asm0 && has_obj && has_asm1);
    free(a0);
    free(a1);
    ck_plan_dispose(&p);
}

static void test_ck_plan_commands_compile_a_file(void **state)
{
    (void)state;
    char src[128], obj[128], as[128];
    snprintf(src, sizeof src, "%s/t.c", dir);
    snprintf(obj, sizeof obj, "%s/t.o", dir);
    snprintf(as, sizeof as, "%s/t.s", dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs("int plan_answer(void) { return 42; }\n", f);
    fclose(f);
    char *flags[] = {"-fPIC", "-O0", NULL};
    struct ck_plan p;
    assert_int_equal(ck_plan_make("gcc", flags, dir, &p), 0);
    for (int i = 0; i < p.n; i++) {
        char **a = ck_plan_argv(&p, i, src, obj, as);
        assert_int_equal(ck_run(a, dir, NULL, 20000), 0);
        free(a);
    }
    assert_int_equal(access(obj, R_OK), 0);
    struct jp_buf out;
    jp_buf_init(&out, 1 << 16);
    char *nm[] = {"nm", obj, NULL};
    assert_int_equal(ck_run(nm, NULL, &out, 10000), 0);
    assert_non_null(strstr(out.data, "plan_answer"));
    jp_buf_dispose(&out);
    ck_plan_dispose(&p);
}

static void test_ck_plan_make_unknown_output_falls_back_to_driver(void **state)
{
    (void)state;
    /* `true -###` prints nothing: the plan is the plain driver command */
    char *flags[] = {"-O1", NULL};
    struct ck_plan p;
    assert_int_equal(ck_plan_make("true", flags, dir, &p), 0);
    assert_int_equal(p.direct, 0);
    assert_int_equal(p.n, 1);
    char **a = ck_plan_argv(&p, 0, "s.c", "s.o", "s.s");
    assert_string_equal(a[0], "true");
    assert_string_equal(a[1], "-c");
    assert_string_equal(a[2], "-O1");
    assert_string_equal(a[3], "-o");
    assert_string_equal(a[4], "s.o");
    assert_string_equal(a[5], "s.c");
    assert_null(a[6]);
    free(a);
    ck_plan_dispose(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_plan_split_quotes_and_escapes),
        cmocka_unit_test(test_ck_plan_split_empty_line),
        cmocka_unit_test(test_ck_plan_make_gcc_is_direct),
        cmocka_unit_test(test_ck_plan_commands_compile_a_file),
        cmocka_unit_test(test_ck_plan_make_unknown_output_falls_back_to_driver),
    };
    return cmocka_run_group_tests_name("ck_plan", tests, setup_dir, remove_dir);
}
