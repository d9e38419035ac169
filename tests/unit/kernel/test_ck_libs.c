/*
 * test_ck_libs.c - unit tests for kernel/engine/ck_libs.c: which libraries a cell's
 * #include lines imply (each once, OpenBLAS before LAPACKE, paths and quotes allowed, other
 * headers and non-include lines ignored), and finding a library's file in given directories
 * (first listed file name wins, the bare soname when nothing is on disk).
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

#include "ck_libs.h"

static void test_ck_libs_implied_cblas_is_openblas(void **state)
{
    (void)state;
    struct ck_lib_need v[4];
    size_t n = ck_libs_implied("#include <stdio.h>\n#include <cblas.h>\n", v, 4);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].lib->name, "openblas");
    assert_string_equal(v[0].header, "cblas.h");
    assert_string_equal(v[0].lib->package, "libopenblas-dev");
    assert_string_equal(v[0].lib->files[0], "libopenblas.so.0");
}

static void test_ck_libs_implied_lapacke_loads_openblas_first(void **state)
{
    (void)state;
    struct ck_lib_need v[4];
    size_t n = ck_libs_implied("#include <lapacke.h>\n", v, 4);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].lib->name, "openblas");
    assert_string_equal(v[1].lib->name, "lapacke");
    assert_string_equal(v[1].lib->package, "liblapacke-dev");
    assert_string_equal(v[1].header, "lapacke.h");
}

static void test_ck_libs_implied_each_library_once(void **state)
{
    (void)state;
    struct ck_lib_need v[8];
    size_t n = ck_libs_implied("#include <cblas.h>\n"
                               "# include \"lapacke.h\"\n"
                               "#include <openblas/cblas.h>\n"
                               "#include <f77blas.h>\n"
                               "#include <lapack.h>\n",
                               v, 8);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].lib->name, "openblas");
    assert_string_equal(v[0].header, "cblas.h");
    assert_string_equal(v[1].lib->name, "lapacke");
}

static void test_ck_libs_implied_ignores_other_lines(void **state)
{
    (void)state;
    struct ck_lib_need v[4];
    assert_int_equal(ck_libs_implied("// #include <cblas.h> in a comment is not at line start\n"
                                     "#define X 1\n"
                                     "#include <math.h>\n"
                                     "#include <cblas.hpp>\n"
                                     "#include <cblas.h\n"
                                     "int cblas = 3;\n",
                                     v, 4),
                     0);
    assert_int_equal(ck_libs_implied("", v, 4), 0);
}

static void test_ck_libs_implied_counts_beyond_max(void **state)
{
    (void)state;
    struct ck_lib_need v[1];
    assert_int_equal(ck_libs_implied("#include <lapacke.h>\n", v, 1), 2);
    assert_string_equal(v[0].lib->name, "openblas");
}

static void test_ck_libs_for_header_table(void **state)
{
    (void)state;
    const struct ck_lib *const *l = ck_libs_for_header("cblas.h");
    assert_non_null(l);
    assert_string_equal(l[0]->name, "openblas");
    assert_null(l[1]);
    l = ck_libs_for_header("x86_64-linux-gnu/lapacke_utils.h");
    assert_non_null(l);
    assert_string_equal(l[1]->name, "lapacke");
    assert_null(ck_libs_for_header("stdio.h"));
    assert_null(ck_libs_for_header("mycblas.h"));
}

static void touch(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static void test_ck_libs_locate_prefers_first_file_name(void **state)
{
    (void)state;
    char d1[] = "/tmp/cklibs-XXXXXX", d2[] = "/tmp/cklibs-XXXXXX";
    assert_non_null(mkdtemp(d1));
    assert_non_null(mkdtemp(d2));
    const struct ck_lib *ob = ck_libs_for_header("cblas.h")[0];
    const char *dirs[] = {d1, d2, NULL};
    char path[512];
    /* nothing there: the bare soname, for the loader's cache */
    assert_int_equal(ck_libs_locate(ob, dirs, path, sizeof path), 0);
    assert_string_equal(path, "libopenblas.so.0");
    /* only the generic BLAS in d1 */
    touch(d1, "libblas.so.3");
    assert_int_equal(ck_libs_locate(ob, dirs, path, sizeof path), 1);
    char want[512];
    snprintf(want, sizeof want, "%s/libblas.so.3", d1);
    assert_string_equal(path, want);
    /* OpenBLAS in d2 wins over the generic BLAS in d1 */
    touch(d2, "libopenblas.so.0");
    assert_int_equal(ck_libs_locate(ob, dirs, path, sizeof path), 1);
    snprintf(want, sizeof want, "%s/libopenblas.so.0", d2);
    assert_string_equal(path, want);
    char p[512];
    snprintf(p, sizeof p, "%s/libblas.so.3", d1);
    unlink(p);
    snprintf(p, sizeof p, "%s/libopenblas.so.0", d2);
    unlink(p);
    rmdir(d1);
    rmdir(d2);
}

/* The machines we run on have OpenBLAS and LAPACKE installed (scripts/setup.sh). */
static void test_ck_libs_locate_system_openblas_and_lapacke(void **state)
{
    (void)state;
    const struct ck_lib *const *l = ck_libs_for_header("lapacke.h");
    char path[512];
    assert_int_equal(ck_libs_locate(l[0], NULL, path, sizeof path), 1);
    assert_non_null(strstr(path, "libopenblas.so"));
    assert_int_equal(ck_libs_locate(l[1], NULL, path, sizeof path), 1);
    assert_non_null(strstr(path, "liblapacke.so"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_libs_implied_cblas_is_openblas),
        cmocka_unit_test(test_ck_libs_implied_lapacke_loads_openblas_first),
        cmocka_unit_test(test_ck_libs_implied_each_library_once),
        cmocka_unit_test(test_ck_libs_implied_ignores_other_lines),
        cmocka_unit_test(test_ck_libs_implied_counts_beyond_max),
        cmocka_unit_test(test_ck_libs_for_header_table),
        cmocka_unit_test(test_ck_libs_locate_prefers_first_file_name),
        cmocka_unit_test(test_ck_libs_locate_system_openblas_and_lapacke),
    };
    return cmocka_run_group_tests_name("ck_libs", tests, NULL, NULL);
}
