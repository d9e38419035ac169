/*
 * test_ck_sess.c - unit tests for kernel/engine/ck_sess.c: the session (init, clone,
 * header typedef names, include lists, symbol lookup) and ck_gen's code generation over
 * sessions of several cells, cloned and committed the way the kernel does it. Each
 * generated file is checked for the parts that matter (labels, moved initializers,
 * prelude contents, warnings) and then compiled for real with `gcc -fsyntax-only` against
 * kernel/include, so a generator change that produces invalid C fails here. Nothing is
 * linked or run. Works in one temporary directory for the whole binary.
 */
#include <dirent.h>
#include <limits.h>
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
#include "ck_sess.h"
#include "jp_buf.h"
#include "jp_err.h"

static char tmpdir[256];
static char incflag[PATH_MAX + 8]; /* -I<repo>/kernel/include */

/* A session of cells, as the kernel holds it between executions. */
struct fx {
    struct ck_session s;
    int cells; /* cells generated so far: the next one is In[cells + 1] */
};

static int file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

/* kernel/include is found from the working directory (the Makefile runs tests from the
 * repository root) or, failing that, from the directories above the test binary. */
static int find_include_dir(char *out, size_t outlen)
{
    char dir[PATH_MAX], probe[PATH_MAX + 64];
    ssize_t n;

    if (getcwd(dir, sizeof dir)) {
        snprintf(probe, sizeof probe, "%s/kernel/include/cnote.h", dir);
        if (file_exists(probe)) {
            snprintf(out, outlen, "%s/kernel/include", dir);
            return 0;
        }
    }
    n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return -1;
    dir[n] = '\0';
    for (int up = 0; up < 10; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            break;
        *slash = '\0';
        snprintf(probe, sizeof probe, "%s/kernel/include/cnote.h", dir);
        if (file_exists(probe)) {
            snprintf(out, outlen, "%s/kernel/include", dir);
            return 0;
        }
    }
    return -1;
}

static int group_setup(void **state)
{
    char inc[PATH_MAX];
    const char *base = getenv("TMPDIR");

    (void)state;
    if (find_include_dir(inc, sizeof inc)) {
        fprintf(stderr, "test_ck_sess: cannot find kernel/include/cnote.h\n");
        return -1;
    }
    snprintf(incflag, sizeof incflag, "-I%s", inc);
    snprintf(tmpdir, sizeof tmpdir, "%s/test_ck_sess.XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char p[512];
    struct dirent *e;
    DIR *d = opendir(tmpdir);

    (void)state;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (!f || ck_session_init(&f->s)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    ck_session_dispose(&f->s);
    free(f);
    return 0;
}

/* Write code to the temporary directory and compile it; fails the test with gcc's output
 * when gcc does not accept it. object: compile to an object file (assembler included)
 * instead of checking syntax only. */
static void compile_code(const char *code, const char *name, int object)
{
    char path[sizeof tmpdir + 64], obj[sizeof tmpdir + 64];
    struct jp_buf out;
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s.c", tmpdir, name);
    snprintf(obj, sizeof obj, "%s/%s.o", tmpdir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(code, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    char *syntax[] = {
        "gcc", "-fsyntax-only", "-Werror=implicit-function-declaration", incflag, path, NULL};
    char *full[] = {"gcc", "-c", "-fPIC", "-Werror=implicit-function-declaration", incflag, "-o",
                    obj,   path, NULL};
    jp_buf_init(&out, 1 << 20);
    int rc = ck_run(object ? full : syntax, tmpdir, &out, 60000);
    if (rc != 0) {
        fprintf(stderr, "---- generated %s:\n%s\n---- gcc (exit %d):\n%s\n", path, code, rc,
                out.data ? out.data : "");
        jp_buf_dispose(&out);
        fail_msg("gcc rejected the generated code for %s", name);
    }
    jp_buf_dispose(&out);
    unlink(obj);
}

/* Generate a cell against the session the way the kernel does (clone, generate, commit
 * once compiled) and compile the result. g is the caller's to inspect and dispose. */
static void run_cell_as(struct fx *f, const char *src, struct ck_gen *g, int object)
{
    struct ck_session next;
    char cell[32];
    int rc;

    f->cells++;
    snprintf(cell, sizeof cell, "In[%d]", f->cells);
    assert_int_equal(ck_session_clone(&next, &f->s), 0);
    memset(g, 0, sizeof *g);
    rc = ck_gen(&next, src, strlen(src), cell, g);
    if (rc) {
        ck_session_dispose(&next);
        fail_msg("ck_gen(%s) = %d: %s", src, rc, g->warnings.data ? g->warnings.data : "");
    }
    assert_non_null(g->code.data);
    assert_true(g->fn[0] != '\0');
    snprintf(cell, sizeof cell, "cell%d", f->cells);
    compile_code(g->code.data, cell, object);
    ck_session_dispose(&f->s);
    f->s = next;
}

static void run_cell(struct fx *f, const char *src, struct ck_gen *g)
{
    run_cell_as(f, src, g, 0);
}

/* Run a cell whose generated text is not inspected. */
static void run_quiet(struct fx *f, const char *src)
{
    struct ck_gen g;

    run_cell(f, src, &g);
    ck_gen_dispose(&g);
}

static const char *code_of(const struct ck_gen *g)
{
    return g->code.data ? g->code.data : "";
}

static const char *warnings_of(const struct ck_gen *g)
{
    return g->warnings.data ? g->warnings.data : "";
}

#define assert_has(hay, needle)                                                                    \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("missing \"%s\" in:\n%s", (needle), (hay));                                   \
    } while (0)
#define assert_lacks(hay, needle)                                                                  \
    do {                                                                                           \
        if (strstr((hay), (needle)))                                                               \
            fail_msg("unexpected \"%s\" in:\n%s", (needle), (hay));                                \
    } while (0)

/* The generated text after the cell function's opening: what runs when the cell runs. */
static const char *body_of(const struct ck_gen *g)
{
    char head[80];
    const char *p;

    snprintf(head, sizeof head, "void %s(void)\n{", g->fn);
    p = strstr(code_of(g), head);
    return p ? p : "";
}

/* How many times needle occurs in hay. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- session ------------------------------------------------------------------------ */

static void test_ck_session_init_default_includes(void **state)
{
    struct fx *f = *state;
    char *inc;

    assert_true(f->s.n_items >= 6);
    for (size_t i = 0; i < f->s.n_items; i++)
        assert_int_equal(f->s.items[i].kind, CK_ITEM_INCLUDE);
    assert_int_equal(f->s.n_syms, 0);
    assert_int_equal(f->s.serial, 0);
    inc = ck_session_includes(&f->s);
    assert_non_null(inc);
    assert_true(strncmp(inc, "#include <cnote.h>\n", 19) == 0);
    assert_has(inc, "#include <stdio.h>\n");
    assert_has(inc, "#include <stdlib.h>\n");
    assert_has(inc, "#include <stdbool.h>\n");
    free(inc);
}

static void test_ck_session_dispose_twice(void **state)
{
    struct ck_session s;

    (void)state;
    assert_int_equal(ck_session_init(&s), 0);
    ck_session_dispose(&s);
    assert_null(s.items);
    ck_session_dispose(&s);
}

static void test_ck_session_includes_after_include_cell(void **state)
{
    struct fx *f = *state;
    char *inc;

    run_quiet(f, "#include <math.h>\nint x;");
    inc = ck_session_includes(&f->s);
    assert_non_null(inc);
    assert_has(inc, "#include <math.h>\n");
    assert_lacks(inc, "int x");
    free(inc);
    /* the same include again is not repeated */
    run_quiet(f, "#include <math.h>\n#include <stdio.h>");
    inc = ck_session_includes(&f->s);
    assert_int_equal(count_of(inc, "<math.h>"), 1);
    assert_int_equal(count_of(inc, "<stdio.h>"), 1);
    free(inc);
}

static void test_ck_session_includes_plus_adds_cell_includes(void **state)
{
    struct fx *f = *state;
    const char *cell = "#include <math.h>\n#include <stdio.h>\n  #  include \"local.h\"\n"
                       "int y; /* #include <not.h> */\n#define X 1";
    char *inc = ck_session_includes_plus(&f->s, cell, strlen(cell));

    assert_non_null(inc);
    assert_true(strncmp(inc, "#include <cnote.h>\n", 19) == 0);
    assert_int_equal(count_of(inc, "<math.h>"), 1);
    assert_int_equal(count_of(inc, "<stdio.h>"), 1); /* already in the prelude */
    assert_has(inc, "#  include \"local.h\"\n");
    assert_lacks(inc, "not.h");
    assert_lacks(inc, "#define");
    free(inc);
    /* the session itself is unchanged */
    inc = ck_session_includes(&f->s);
    assert_lacks(inc, "math.h");
    free(inc);
    inc = ck_session_includes_plus(&f->s, "", 0);
    assert_non_null(inc);
    free(inc);
}

static void test_ck_session_set_hdr_types_sorted_and_is_type(void **state)
{
    struct fx *f = *state;
    char *names[] = {"size_t", "FILE", "pt", "int8_t"};
    char *other[] = {"only_t"};
    char longname[300];

    assert_int_equal(ck_session_set_hdr_types(&f->s, names, 4), 0);
    assert_int_equal(f->s.n_hdr_types, 4);
    for (size_t i = 1; i < f->s.n_hdr_types; i++)
        assert_true(strcmp(f->s.hdr_types[i - 1], f->s.hdr_types[i]) < 0);
    assert_true(ck_session_is_type(&f->s, "size_t", 6));
    assert_true(ck_session_is_type(&f->s, "FILE", 4));
    assert_true(ck_session_is_type(&f->s, "pt", 2));
    assert_true(ck_session_is_type(&f->s, "ptr", 2)); /* only len bytes count */
    assert_false(ck_session_is_type(&f->s, "size", 4));
    assert_false(ck_session_is_type(&f->s, "int", 3));
    memset(longname, 'a', sizeof longname);
    assert_false(ck_session_is_type(&f->s, longname, sizeof longname));
    /* the names were copied */
    names[0] = "changed";
    assert_true(ck_session_is_type(&f->s, "size_t", 6));
    /* replacing drops the old names */
    assert_int_equal(ck_session_set_hdr_types(&f->s, other, 1), 0);
    assert_false(ck_session_is_type(&f->s, "size_t", 6));
    assert_true(ck_session_is_type(&f->s, "only_t", 6));
    assert_int_equal(ck_session_set_hdr_types(&f->s, NULL, 0), 0);
    assert_false(ck_session_is_type(&f->s, "only_t", 6));
}

static void test_ck_session_is_type_after_typedef_cell(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    assert_false(ck_session_is_type(&f->s, "pt", 2));
    run_quiet(f, "typedef struct { double x, y; } pt;\ntypedef int A, *PA;\nstruct tag { int a; };"
                 "\nenum { RED, GREEN };");
    assert_true(ck_session_is_type(&f->s, "pt", 2));
    assert_true(ck_session_is_type(&f->s, "A", 1));
    assert_true(ck_session_is_type(&f->s, "PA", 2));
    /* tags and enum constants are not typedef names */
    assert_false(ck_session_is_type(&f->s, "tag", 3));
    assert_false(ck_session_is_type(&f->s, "RED", 3));
    /* the splitter of the next cell uses it: `pt * q;` declares q */
    run_cell(f, "pt * q;\nPA * r;", &g);
    assert_has(code_of(&g), "pt * q __asm__(\"q__ck2\");");
    assert_has(code_of(&g), "PA * r __asm__(\"r__ck2\");");
    assert_non_null(ck_session_find(&f->s, "q", 1));
    ck_gen_dispose(&g);
}

static void test_ck_session_clone_is_deep(void **state)
{
    struct fx *f = *state;
    struct ck_session c;
    struct ck_gen g;
    char *names[] = {"size_t"};

    run_quiet(f, "typedef int T;\nint a = 1;\nint f1(T x) { return x + a; }");
    assert_int_equal(ck_session_set_hdr_types(&f->s, names, 1), 0);
    assert_int_equal(ck_session_clone(&c, &f->s), 0);
    assert_int_equal(c.serial, f->s.serial);
    assert_int_equal(c.n_items, f->s.n_items);
    assert_int_equal(c.n_syms, f->s.n_syms);
    assert_int_equal(c.n_hdr_types, 1);
    assert_true(ck_session_is_type(&c, "size_t", 6));
    assert_true(c.syms[0].name != f->s.syms[0].name);
    assert_string_equal(c.syms[0].label, f->s.syms[0].label);
    /* generating into the clone leaves the original alone */
    memset(&g, 0, sizeof g);
    const char *cell = "long a = 2;\ntypedef long T;";
    assert_int_equal(ck_gen(&c, cell, strlen(cell), "In[9]", &g), 0);
    assert_string_equal(ck_session_find(&c, "a", 1)->type, "long");
    assert_string_equal(ck_session_find(&f->s, "a", 1)->type, "int");
    assert_int_equal(c.serial, f->s.serial + 1);
    assert_null(ck_session_find(&c, "f1", 2)); /* stale there: T changed */
    assert_non_null(ck_session_find(&f->s, "f1", 2));
    ck_gen_dispose(&g);
    ck_session_dispose(&c);
}

static void test_ck_session_find_newest_live(void **state)
{
    struct fx *f = *state;
    const struct ck_sym *y;

    assert_null(ck_session_find(&f->s, "x", 1));
    run_quiet(f, "int x = 1;\nint twice(int v) { return 2 * v; }");
    y = ck_session_find(&f->s, "x", 1);
    assert_non_null(y);
    assert_int_equal(y->kind, CK_SYM_VAR);
    assert_string_equal(y->name, "x");
    assert_string_equal(y->label, "x__ck1");
    assert_string_equal(y->type, "int");
    assert_string_equal(y->cell, "In[1]");
    assert_int_equal(y->line, 1);
    assert_false(y->stale);
    y = ck_session_find(&f->s, "twice", 5);
    assert_non_null(y);
    assert_int_equal(y->kind, CK_SYM_FUNC);
    assert_string_equal(y->label, "twice__ck1");
    assert_string_equal(y->type, "int twice(int v)");
    assert_int_equal(y->line, 2);
    assert_null(ck_session_find(&f->s, "xx", 2));
    assert_null(ck_session_find(&f->s, "twic", 4));
}

/* ---- ck_gen: globals ---------------------------------------------------------------- */

static void test_ck_gen_global_nonconst_init_becomes_assignment(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "double *v = malloc(10 * sizeof *v);", &g);
    assert_has(code_of(&g), "double *v __asm__(\"v__ck1\");");
    assert_lacks(code_of(&g), "__asm__(\"v__ck1\") =");
    assert_has(body_of(&g), "v = malloc(10 * sizeof *v);");
    assert_string_equal(g.fn, "__ck_cell_1");
    assert_false(g.has_main);
    assert_int_equal(g.warnings.len, 0);
    ck_gen_dispose(&g);
    const struct ck_sym *y = ck_session_find(&f->s, "v", 1);
    assert_non_null(y);
    assert_string_equal(y->type, "double *");
    assert_string_equal(y->decl, "extern double *v __asm__(\"v__ck1\");");
    /* later cells see it through the extern declaration */
    run_cell(f, "v[0] = 1.5;\nv[0]", &g);
    assert_has(code_of(&g), "extern double *v __asm__(\"v__ck1\");");
    assert_lacks(code_of(&g), "\ndouble *v __asm__");
    ck_gen_dispose(&g);
}

static void test_ck_gen_const_global_keeps_initializer(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "const int K = 7;\nstatic const double PI = 3.14;\nint g2 = K + 1;", &g);
    assert_has(code_of(&g), "const int K __asm__(\"K__ck1\") = 7;");
    assert_has(code_of(&g), "const double PI __asm__(\"PI__ck1\") = 3.14;");
    assert_lacks(code_of(&g), "static");
    assert_has(code_of(&g), "int g2 __asm__(\"g2__ck1\");");
    assert_has(body_of(&g), "g2 = K + 1;");
    assert_lacks(body_of(&g), "K = 7");
    ck_gen_dispose(&g);
    run_cell(f, "K + PI", &g);
    assert_has(code_of(&g), "extern const int K __asm__(\"K__ck1\");");
    ck_gen_dispose(&g);
}

static void test_ck_gen_brace_and_string_initializers_stay(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f,
             "typedef struct { double x, y; } pt;\npt p = {3, 4};\nchar *msg = \"hi\";\n"
             "int grid[2][2] = {{1, 2}, {3, 4}};",
             &g);
    assert_has(code_of(&g), "pt p __asm__(\"p__ck1\") = {3, 4};");
    assert_has(code_of(&g), "char *msg __asm__(\"msg__ck1\") = \"hi\";");
    assert_has(code_of(&g), "int grid[2][2] __asm__(\"grid__ck1\") = {{1, 2}, {3, 4}};");
    assert_lacks(body_of(&g), "p = ");
    ck_gen_dispose(&g);
    run_quiet(f, "p.x + grid[1][1]");
}

static void test_ck_gen_array_brace_list_gets_size(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "int v[] = {1,2,3};\nchar s[] = \"abc\";\nint d[] = {[4] = 1};", &g);
    assert_has(code_of(&g), "int v[3] __asm__(\"v__ck1\") = {1,2,3};");
    /* a string or designators: the compiler counts */
    assert_has(code_of(&g), "char s[] __asm__(\"s__ck1\") = \"abc\";");
    assert_has(code_of(&g), "int d[] __asm__(\"d__ck1\") = {[4] = 1};");
    ck_gen_dispose(&g);
    run_cell(f, "sizeof v / sizeof v[0]", &g);
    assert_has(code_of(&g), "extern int v[3] __asm__(\"v__ck1\");");
    ck_gen_dispose(&g);
}

static void test_ck_gen_array_nested_braces_counted(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "typedef struct { int a, b; } two;\ntwo t[] = {{1, 2}, {3, 4}, {5, 6},};", &g);
    assert_has(code_of(&g), "two t[3] __asm__(\"t__ck1\")");
    ck_gen_dispose(&g);
    run_quiet(f, "sizeof t / sizeof t[0]");
}

static void test_ck_gen_same_variable_rerun_becomes_assignment(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "double w = 1.5;");
    run_cell(f, "double w = 2.5;", &g);
    assert_lacks(code_of(&g), "w__ck2");
    assert_lacks(code_of(&g), "\ndouble w __asm__");
    assert_has(code_of(&g), "extern double w __asm__(\"w__ck1\");");
    assert_has(body_of(&g), "w = 2.5;");
    assert_int_equal(g.warnings.len, 0);
    ck_gen_dispose(&g);
    assert_string_equal(ck_session_find(&f->s, "w", 1)->label, "w__ck1");
    /* without an initializer: nothing at all to do */
    run_cell(f, "double  w;", &g);
    assert_lacks(code_of(&g), "w__ck3");
    assert_lacks(body_of(&g), "w =");
    ck_gen_dispose(&g);
    assert_string_equal(ck_session_find(&f->s, "w", 1)->label, "w__ck1");
}

static void test_ck_gen_variable_new_type_new_label(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "double w = 1.5;");
    run_cell(f, "long w = 3;", &g);
    assert_has(code_of(&g), "long w __asm__(\"w__ck2\");");
    assert_lacks(code_of(&g), "w__ck1");
    assert_has(body_of(&g), "w = 3;");
    ck_gen_dispose(&g);
    const struct ck_sym *y = ck_session_find(&f->s, "w", 1);
    assert_string_equal(y->label, "w__ck2");
    assert_string_equal(y->type, "long");
    run_cell(f, "w", &g);
    assert_has(code_of(&g), "extern long w __asm__(\"w__ck2\");");
    assert_lacks(code_of(&g), "double w");
    /* the display names the declared type */
    assert_has(body_of(&g), "\"long\"");
    ck_gen_dispose(&g);
}

static void test_ck_gen_variable_redefined_warns_users(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "int counter = 0;\nint bump(void) { return ++counter; }");
    assert_string_equal(ck_session_find(&f->s, "bump", 4)->refs, "counter ");
    run_cell(f, "long counter = 5;", &g);
    assert_has(warnings_of(&g), "'counter'");
    assert_has(warnings_of(&g), "'bump' (defined in In[1])");
    ck_gen_dispose(&g);
}

static void test_ck_gen_multiple_declarators(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "int a = 1, b, *c = &a, arr[2] = {5, 6};", &g);
    assert_has(code_of(&g), "int a __asm__(\"a__ck1\");");
    assert_has(code_of(&g), "int b __asm__(\"b__ck1\");");
    assert_has(code_of(&g), "int *c __asm__(\"c__ck1\");");
    assert_has(code_of(&g), "int arr[2] __asm__(\"arr__ck1\") = {5, 6};");
    assert_has(body_of(&g), "a = 1;");
    assert_has(body_of(&g), "c = &a;");
    ck_gen_dispose(&g);
    assert_string_equal(ck_session_find(&f->s, "c", 1)->type, "int *");
    run_quiet(f, "*c + b + arr[1]");
}

static void test_ck_gen_trailing_decl_without_semicolon(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "int y = 5", &g);
    assert_has(code_of(&g), "int y __asm__(\"y__ck1\");");
    assert_has(body_of(&g), "y = 5;");
    ck_gen_dispose(&g);
}

static void test_ck_gen_tag_body_declaration(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "struct P { int a; } p = {1};\nstruct { int b; } q;", &g);
    /* the tag body becomes a type of its own; the object is declared with the tag */
    assert_has(code_of(&g), "struct P { int a; };");
    assert_has(code_of(&g), "__asm__(\"p__ck1\") = {1};");
    assert_has(code_of(&g), "__ck_anon1_");
    assert_has(code_of(&g), "__asm__(\"q__ck1\");");
    ck_gen_dispose(&g);
    run_cell(f, "p.a + q.b", &g);
    assert_has(code_of(&g), "struct P { int a; };");
    ck_gen_dispose(&g);
}

static void test_ck_gen_struct_attribute_before_tag(void **state)
{
    struct fx *f = *state;

    run_quiet(f, "struct __attribute__((packed)) P { char c; int i; };");
    run_quiet(f, "struct P q = {1, 2};\nsizeof q");
}

static void test_ck_gen_enum_type_and_constants(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "enum color { RED, GREEN = 2, BLUE };");
    run_cell(f, "enum color c = GREEN;\nc == GREEN", &g);
    assert_has(code_of(&g), "enum color { RED, GREEN = 2, BLUE };");
    assert_has(code_of(&g), "enum color c __asm__(\"c__ck2\");");
    ck_gen_dispose(&g);
}

static void test_ck_gen_extern_and_prototype_kept(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "extern char **environ;\nint fib(int n);", &g);
    assert_has(code_of(&g), "extern");
    assert_has(code_of(&g), "char **environ;");
    assert_has(code_of(&g), "int fib(int n);");
    assert_lacks(code_of(&g), "__ck1\")");
    ck_gen_dispose(&g);
    assert_null(ck_session_find(&f->s, "fib", 3)); /* declared, not defined */
    run_cell(f, "int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }", &g);
    assert_has(code_of(&g), "int fib(int n) __asm__(\"fib__ck2\");");
    ck_gen_dispose(&g);
    run_cell_as(f, "fib(10) + (environ != 0)", &g, 1);
    assert_has(code_of(&g), "int fib(int n) __asm__(\"fib__ck2\");");
    ck_gen_dispose(&g);
}

static void test_ck_gen_prototype_of_known_function_not_repeated(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "int sq(int x) { return x * x; }");
    run_cell(f, "int sq(int x);\nsq(3)", &g);
    /* the prelude's labelled declaration is enough: no plain one is added */
    assert_lacks(code_of(&g), "int sq(int x);\n#line 1 \"<cnote>\"\nvoid");
    assert_int_equal(count_of(code_of(&g), "int sq(int x)"), 1);
    ck_gen_dispose(&g);
}

/* ---- ck_gen: functions -------------------------------------------------------------- */

static void test_ck_gen_function_gets_label(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell_as(f, "int twice(int x) { return 2 * x; }", &g, 1);
    assert_has(code_of(&g), "int twice(int x) __asm__(\"twice__ck1\");");
    assert_has(code_of(&g), "int twice(int x) { return 2 * x; }");
    /* a cell of definitions only still has a (empty) function to run */
    assert_has(code_of(&g), "void __ck_cell_1(void) {}");
    ck_gen_dispose(&g);
}

static void test_ck_gen_function_redefinition_new_label(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "int twice(int x) { return 2 * x; }\nint user(void) { return twice(1); }");
    assert_string_equal(ck_session_find(&f->s, "user", 4)->refs, "twice ");
    run_cell_as(f, "int twice(int x) { return x + x; }", &g, 1);
    assert_has(code_of(&g), "int twice(int x) __asm__(\"twice__ck2\");");
    /* the prelude does not declare the old one */
    assert_lacks(code_of(&g), "twice__ck1");
    assert_has(code_of(&g), "int user(void) __asm__(\"user__ck1\");");
    assert_has(warnings_of(&g), "function 'twice' was redefined");
    assert_has(warnings_of(&g), "'user' (defined in In[1])");
    ck_gen_dispose(&g);
    assert_string_equal(ck_session_find(&f->s, "twice", 5)->label, "twice__ck2");
    run_cell(f, "twice(4)", &g);
    assert_has(code_of(&g), "int twice(int x) __asm__(\"twice__ck2\");");
    assert_lacks(code_of(&g), "twice__ck1");
    ck_gen_dispose(&g);
}

static void test_ck_gen_identical_function_emits_nothing(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "int twice(int x) {\n    return 2 * x;\n}");
    /* only whitespace differs: the same definition */
    run_cell(f, "int twice(int x) { return 2 * x; }", &g);
    assert_lacks(code_of(&g), "twice__ck2");
    assert_lacks(code_of(&g), "return 2 * x");
    assert_has(code_of(&g), "int twice(int x) __asm__(\"twice__ck1\");");
    assert_int_equal(g.warnings.len, 0);
    ck_gen_dispose(&g);
    assert_string_equal(ck_session_find(&f->s, "twice", 5)->label, "twice__ck1");
}

static void test_ck_gen_static_function_loses_static(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "static int helper(int x) { return x + 1; }\nstatic int sv = 2;", &g);
    assert_lacks(code_of(&g), "static");
    assert_has(code_of(&g), "int helper(int x) __asm__(\"helper__ck1\");");
    assert_has(code_of(&g), "int sv __asm__(\"sv__ck1\");");
    assert_has(body_of(&g), "sv = 2;");
    ck_gen_dispose(&g);
    /* usable from the next cell, which could not reach a static one */
    run_cell_as(f, "helper(sv)", &g, 1);
    assert_has(code_of(&g), "int helper(int x) __asm__(\"helper__ck1\");");
    assert_lacks(code_of(&g), "static int helper");
    ck_gen_dispose(&g);
}

static void test_ck_gen_static_inline_goes_to_prelude(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;
    const char *sq = "static inline int sq(int x) { return x * x; }";

    run_cell(f, sq, &g);
    assert_has(code_of(&g), sq);
    assert_lacks(code_of(&g), "sq__ck");
    ck_gen_dispose(&g);
    assert_null(ck_session_find(&f->s, "sq", 2));
    run_cell(f, "sq(3)", &g);
    /* verbatim in the prelude, before this cell's function */
    const char *at = strstr(code_of(&g), sq);
    assert_non_null(at);
    assert_true(at < strstr(code_of(&g), "void __ck_cell_2(void)"));
    assert_lacks(code_of(&g), "sq__ck");
    ck_gen_dispose(&g);
    /* re-running it is not a redefinition */
    run_cell(f, sq, &g);
    assert_int_equal(count_of(code_of(&g), sq), 1);
    ck_gen_dispose(&g);
    /* a changed one replaces it */
    run_quiet(f, "static inline int sq(int x) { return x * x * 1; }");
    run_cell(f, "sq(4)", &g);
    assert_lacks(code_of(&g), sq);
    assert_has(code_of(&g), "return x * x * 1;");
    ck_gen_dispose(&g);
}

static void test_ck_gen_main_is_called(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "int main(void) { puts(\"hi\"); return 0; }", &g);
    assert_true(g.has_main);
    assert_has(code_of(&g), "int main(void) __asm__(\"main__ck1\");");
    assert_has(body_of(&g), "__ck_main_returned(");
    assert_has(body_of(&g), "main)(1, ");
    ck_gen_dispose(&g);
    run_cell(f, "int main(int argc, char **argv) { return argc + (argv[0] != 0); }", &g);
    assert_true(g.has_main);
    assert_has(code_of(&g), "main__ck2");
    assert_lacks(code_of(&g), "main__ck1");
    ck_gen_dispose(&g);
    /* a cell that does not define main does not call it */
    run_cell(f, "1", &g);
    assert_false(g.has_main);
    assert_lacks(body_of(&g), "__ck_main_returned");
    ck_gen_dispose(&g);
}

static void test_ck_gen_function_using_new_global_same_cell(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "int total = 0;\nvoid add(int x) { total += x; }\nadd(3);\ntotal", &g);
    assert_has(body_of(&g), "total = 0;");
    assert_has(body_of(&g), "add(3);");
    assert_has(body_of(&g), "__ck_show(");
    ck_gen_dispose(&g);
    assert_string_equal(ck_session_find(&f->s, "add", 3)->refs, "total ");
}

static void test_ck_gen_function_with_directives_inside(void **state)
{
    struct fx *f = *state;

    run_quiet(f, "int which(void) {\n#ifdef __GNUC__\n    return 1;\n#else\n    return 2;\n"
                 "#endif\n}\nwhich()");
}

static void test_ck_gen_bad_function_is_einval(void **state)
{
    struct fx *f = *state;
    struct ck_session next;
    struct ck_gen g = {0};

    assert_int_equal(ck_session_clone(&next, &f->s), 0);
    assert_int_equal(ck_gen(&next, "int x { }", 9, "In[1]", &g), JP_EINVAL);
    assert_has(warnings_of(&g), "In[1]:1: cannot understand this function definition");
    ck_gen_dispose(&g);
    ck_session_dispose(&next);
}

static void test_ck_gen_declaration_without_name_is_einval(void **state)
{
    struct fx *f = *state;
    struct ck_session next;
    struct ck_gen g = {0};

    assert_int_equal(ck_session_clone(&next, &f->s), 0);
    assert_int_equal(ck_gen(&next, "\nint *;", 7, "In[2]", &g), JP_EINVAL);
    assert_has(warnings_of(&g), "In[2]:2: cannot find the declared name");
    ck_gen_dispose(&g);
    ck_session_dispose(&next);
    /* the committed session never saw it */
    assert_int_equal(f->s.serial, 0);
}

/* ---- ck_gen: types and macros ------------------------------------------------------- */

static void test_ck_gen_typedef_change_makes_stale(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f,
              "typedef struct { int a; } T;\nT t1;\nT *tp = NULL;\nint use(T x) { return x.a; }\n"
              "int other = 3;");
    run_cell(f, "typedef struct { long a, b; } T;\nT t2;", &g);
    assert_has(code_of(&g), "typedef struct { long a, b; } T;");
    assert_lacks(code_of(&g), "int a; } T;");
    assert_lacks(code_of(&g), "t1__ck1");
    assert_lacks(code_of(&g), "use__ck1");
    assert_has(warnings_of(&g), "type 'T' changed; 't1' (defined in In[1])");
    assert_has(warnings_of(&g), "'tp'");
    assert_has(warnings_of(&g), "'use'");
    assert_lacks(warnings_of(&g), "'other'");
    ck_gen_dispose(&g);
    assert_null(ck_session_find(&f->s, "t1", 2));
    assert_null(ck_session_find(&f->s, "tp", 2));
    assert_null(ck_session_find(&f->s, "use", 3));
    assert_non_null(ck_session_find(&f->s, "t2", 2));
    assert_non_null(ck_session_find(&f->s, "other", 5));
    run_cell(f, "t2.b + other", &g);
    assert_lacks(code_of(&g), "t1__ck1");
    assert_has(code_of(&g), "extern T t2 __asm__(\"t2__ck2\");");
    ck_gen_dispose(&g);
    /* defining a stale name again gives it a new label */
    run_cell(f, "T t1;", &g);
    assert_has(code_of(&g), "T t1 __asm__(\"t1__ck4\");");
    ck_gen_dispose(&g);
    assert_string_equal(ck_session_find(&f->s, "t1", 2)->label, "t1__ck4");
}

static void test_ck_gen_identical_typedef_rerun_is_quiet(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "typedef struct { int a; } T;\nT t1;");
    run_cell(f, "typedef struct {  int a;  } T;", &g);
    assert_int_equal(g.warnings.len, 0);
    assert_int_equal(count_of(code_of(&g), "} T;"), 1); /* the prelude's copy only */
    ck_gen_dispose(&g);
    assert_non_null(ck_session_find(&f->s, "t1", 2));
}

static void test_ck_gen_struct_tag_change_makes_stale(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "struct P { int a; };\nstruct P p;");
    run_cell(f, "struct P { long a, b; };", &g);
    assert_has(warnings_of(&g), "'p' (defined in In[1])");
    ck_gen_dispose(&g);
    assert_null(ck_session_find(&f->s, "p", 1));
}

static void test_ck_gen_define_redefined_only_newest(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "#define N 3", &g);
    assert_has(code_of(&g), "#define N 3\n");
    ck_gen_dispose(&g);
    run_cell(f, "#define N 4\nint arr[N];", &g);
    assert_lacks(code_of(&g), "#define N 3");
    assert_has(code_of(&g), "#define N 4\n");
    assert_has(code_of(&g), "int arr[N] __asm__(\"arr__ck2\");");
    ck_gen_dispose(&g);
    run_cell(f, "sizeof arr / sizeof arr[0] + N", &g);
    assert_int_equal(count_of(code_of(&g), "#define N"), 1);
    assert_has(code_of(&g), "#define N 4\n");
    ck_gen_dispose(&g);
    run_cell(f, "#undef N\n#define M(a) ((a) * 2)", &g);
    ck_gen_dispose(&g);
    run_cell(f, "M(21)", &g);
    assert_lacks(code_of(&g), "#define N");
    assert_has(code_of(&g), "#undef N\n");
    assert_has(code_of(&g), "#define M(a) ((a) * 2)\n");
    ck_gen_dispose(&g);
}

static void test_ck_gen_define_change_makes_stale(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "#define N 4\nint arr[N];\nint plain;");
    /* the same definition again changes nothing */
    run_cell(f, "#define N  4\nint arr[N];", &g);
    assert_int_equal(g.warnings.len, 0);
    assert_lacks(code_of(&g), "arr__ck2");
    ck_gen_dispose(&g);
    assert_non_null(ck_session_find(&f->s, "arr", 3));
    /* a new value would silently change the extern declaration's size: arr is hidden */
    run_cell(f, "#define N 5", &g);
    assert_has(warnings_of(&g), "macro 'N' changed; 'arr' (defined in In[1])");
    assert_lacks(warnings_of(&g), "'plain'");
    ck_gen_dispose(&g);
    assert_null(ck_session_find(&f->s, "arr", 3));
    assert_non_null(ck_session_find(&f->s, "plain", 5));
    run_cell(f, "int arr[N];\nsizeof arr", &g);
    assert_has(code_of(&g), "int arr[N] __asm__(\"arr__ck4\");");
    ck_gen_dispose(&g);
    /* after #undef the old declaration would not even compile */
    run_cell(f, "#undef N", &g);
    assert_has(warnings_of(&g), "macro 'N' changed; 'arr' (defined in In[4])");
    ck_gen_dispose(&g);
    run_cell(f, "plain", &g);
    assert_lacks(code_of(&g), "arr");
    ck_gen_dispose(&g);
}

static void test_ck_gen_pp_groups_kept_pragmas_not(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "#ifndef LIMIT\n#define LIMIT 10\n#endif\n#pragma GCC diagnostic ignored \"-Wall\"",
             &g);
    assert_has(code_of(&g), "#pragma GCC");
    ck_gen_dispose(&g);
    run_cell(f, "LIMIT", &g);
    assert_has(code_of(&g), "#ifndef LIMIT\n#define LIMIT 10\n#endif\n");
    assert_lacks(code_of(&g), "#pragma");
    ck_gen_dispose(&g);
}

static void test_ck_gen_include_in_cell(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "#include <math.h>\nsqrt(2.0)", &g);
    assert_has(code_of(&g), "#line 1 \"In[1]\"\n#include <math.h>\n");
    ck_gen_dispose(&g);
    run_cell(f, "#include <math.h>\nfabs(-1.0)", &g);
    /* the prelude has it from In[1]; this cell's copy is harmless */
    assert_has(code_of(&g), "#line 1 \"In[1]\"\n#include <math.h>\n");
    ck_gen_dispose(&g);
    run_cell(f, "floor(2.5)", &g);
    assert_int_equal(count_of(code_of(&g), "#include <math.h>"), 1);
    ck_gen_dispose(&g);
}

/* ---- ck_gen: statements and the trailing expression --------------------------------- */

static void test_ck_gen_statements_in_cell_function(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "int i;\nfor (i = 0; i < 3; i++)\n    printf(\"%d\\n\", i);\nif (i) puts(\"x\")",
             &g);
    assert_has(body_of(&g), "#line 2 \"In[1]\"\nfor (i = 0; i < 3; i++)\n    printf(");
    /* a statement without ';' at the end gets one */
    assert_has(body_of(&g), "if (i) puts(\"x\");\n");
    assert_lacks(body_of(&g), "__ck_show");
    ck_gen_dispose(&g);
}

static void test_ck_gen_trailing_expression_shown(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "1 + 2", &g);
    assert_has(body_of(&g), "__typeof__(1 + 2)");
    assert_has(body_of(&g), "__ck_show(__CK_KIND(__ck_v), __CK_TNAME(__ck_v), 0, &__ck_v");
    ck_gen_dispose(&g);
    /* a global shows with its declared type */
    run_quiet(f, "const char *name = \"cnote\";");
    run_cell(f, "name", &g);
    assert_has(body_of(&g), "__CK_TNAME(__ck_v), \"const char *\", &__ck_v");
    ck_gen_dispose(&g);
    /* a character literal shows as a char, not an int */
    run_cell(f, "'a'", &g);
    assert_has(body_of(&g), "(char)('a')");
    ck_gen_dispose(&g);
    run_quiet(f, "\"hi\"");
    run_quiet(f, "name[0] == 'c' ? 1.5 : 2.5");
}

static void test_ck_gen_void_trailing_call(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "void hello(void) { puts(\"x\"); }");
    run_cell_as(f, "hello()", &g, 1);
    assert_has(body_of(&g), "__ck_show(");
    assert_has(body_of(&g), "__builtin_types_compatible_p(__typeof__(hello()), void)");
    ck_gen_dispose(&g);
}

static void test_ck_gen_declared_type_with_quotes_escaped(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_quiet(f, "int arr2[sizeof \"a\\\"b\"];");
    run_cell(f, "arr2", &g);
    assert_has(body_of(&g), "\"int [sizeof \\\"a\\\\\\\"b\\\"]\"");
    ck_gen_dispose(&g);
}

static void test_ck_gen_empty_cell(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "", &g);
    assert_string_equal(g.fn, "__ck_cell_1");
    assert_has(code_of(&g), "void __ck_cell_1(void) {}");
    ck_gen_dispose(&g);
    run_cell(f, "/* nothing */\n// at all\n", &g);
    assert_string_equal(g.fn, "__ck_cell_2");
    ck_gen_dispose(&g);
}

static void test_ck_gen_line_directives(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell(f, "\n\ndouble d = 2;\n\nint k(void) { return 1; }\n\nd * k()", &g);
    assert_has(code_of(&g), "#line 3 \"In[1]\"\ndouble d __asm__");
    assert_has(code_of(&g), "#line 5 \"In[1]\"\nint k(void) {");
    assert_has(body_of(&g), "#line 3 \"In[1]\"\nd = 2;");
    assert_has(body_of(&g), "#line 7 \"In[1]\"\n{ __auto_type");
    ck_gen_dispose(&g);
    /* later cells name the cell a prelude item came from */
    run_quiet(f, "#define TWO 2\n\ntypedef int num;");
    run_cell(f, "TWO", &g);
    assert_has(code_of(&g), "#line 1 \"In[2]\"\n#define TWO 2\n");
    assert_has(code_of(&g), "#line 3 \"In[2]\"\ntypedef int num;\n");
    ck_gen_dispose(&g);
}

static void test_ck_gen_serial_names_each_cell(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    for (int i = 1; i <= 3; i++) {
        char want[32];
        run_cell(f, "0", &g);
        snprintf(want, sizeof want, "__ck_cell_%d", i);
        assert_string_equal(g.fn, want);
        assert_int_equal(f->s.serial, (unsigned)i);
        ck_gen_dispose(&g);
    }
}

static void test_ck_gen_example_session(void **state)
{
    struct fx *f = *state;
    struct ck_gen g;

    run_cell_as(f,
                "#include <math.h>\n"
                "typedef struct { double x, y; } pt;\n"
                "double *v = malloc(1000 * sizeof *v);\n"
                "for (int i = 0; i < 1000; i++) v[i] = sin(i);\n"
                "double norm(pt p) { return sqrt(p.x*p.x + p.y*p.y); }",
                &g, 1);
    assert_has(code_of(&g), "typedef struct { double x, y; } pt;");
    assert_has(code_of(&g), "double *v __asm__(\"v__ck1\");");
    assert_has(code_of(&g), "double norm(pt p) __asm__(\"norm__ck1\");");
    assert_has(body_of(&g), "v = malloc(1000 * sizeof *v);");
    assert_has(body_of(&g), "for (int i = 0; i < 1000; i++) v[i] = sin(i);");
    ck_gen_dispose(&g);
    run_cell_as(f, "pt p = {3, 4};\nnorm(p) * 2", &g, 1);
    assert_has(code_of(&g), "double norm(pt p) __asm__(\"norm__ck1\");");
    assert_has(code_of(&g), "pt p __asm__(\"p__ck2\") = {3, 4};");
    assert_has(body_of(&g), "__typeof__(norm(p) * 2)");
    ck_gen_dispose(&g);
    run_cell_as(f, "double norm(pt p) { return fabs(p.x) + fabs(p.y); }\nnorm(p)", &g, 1);
    assert_has(code_of(&g), "norm__ck3");
    assert_lacks(code_of(&g), "norm__ck1");
    ck_gen_dispose(&g);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ck_session_init_default_includes),
        T(test_ck_session_dispose_twice),
        T(test_ck_session_includes_after_include_cell),
        T(test_ck_session_includes_plus_adds_cell_includes),
        T(test_ck_session_set_hdr_types_sorted_and_is_type),
        T(test_ck_session_is_type_after_typedef_cell),
        T(test_ck_session_clone_is_deep),
        T(test_ck_session_find_newest_live),
        T(test_ck_gen_global_nonconst_init_becomes_assignment),
        T(test_ck_gen_const_global_keeps_initializer),
        T(test_ck_gen_brace_and_string_initializers_stay),
        T(test_ck_gen_array_brace_list_gets_size),
        T(test_ck_gen_array_nested_braces_counted),
        T(test_ck_gen_same_variable_rerun_becomes_assignment),
        T(test_ck_gen_variable_new_type_new_label),
        T(test_ck_gen_variable_redefined_warns_users),
        T(test_ck_gen_multiple_declarators),
        T(test_ck_gen_trailing_decl_without_semicolon),
        T(test_ck_gen_tag_body_declaration),
        T(test_ck_gen_struct_attribute_before_tag),
        T(test_ck_gen_enum_type_and_constants),
        T(test_ck_gen_extern_and_prototype_kept),
        T(test_ck_gen_prototype_of_known_function_not_repeated),
        T(test_ck_gen_function_gets_label),
        T(test_ck_gen_function_redefinition_new_label),
        T(test_ck_gen_identical_function_emits_nothing),
        T(test_ck_gen_static_function_loses_static),
        T(test_ck_gen_static_inline_goes_to_prelude),
        T(test_ck_gen_main_is_called),
        T(test_ck_gen_function_using_new_global_same_cell),
        T(test_ck_gen_function_with_directives_inside),
        T(test_ck_gen_bad_function_is_einval),
        T(test_ck_gen_declaration_without_name_is_einval),
        T(test_ck_gen_typedef_change_makes_stale),
        T(test_ck_gen_identical_typedef_rerun_is_quiet),
        T(test_ck_gen_struct_tag_change_makes_stale),
        T(test_ck_gen_define_redefined_only_newest),
        T(test_ck_gen_define_change_makes_stale),
        T(test_ck_gen_pp_groups_kept_pragmas_not),
        T(test_ck_gen_include_in_cell),
        T(test_ck_gen_statements_in_cell_function),
        T(test_ck_gen_trailing_expression_shown),
        T(test_ck_gen_void_trailing_call),
        T(test_ck_gen_declared_type_with_quotes_escaped),
        T(test_ck_gen_empty_cell),
        T(test_ck_gen_line_directives),
        T(test_ck_gen_serial_names_each_cell),
        T(test_ck_gen_example_session),
    };
#undef T

    return cmocka_run_group_tests_name("ck_sess", tests, group_setup, group_teardown);
}
