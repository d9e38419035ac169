/*
 * test_nbjson.c - unit tests for server/nbjson.c: Python float repr (a table of values whose
 * expected text came from CPython 3.11's repr, including powers of two, subnormals and
 * random bit patterns), json.dumps(indent=1, sort_keys=True, ensure_ascii=False) layout and
 * escapes, nbformat's split_lines / rejoin_lines / strip_transient shape by shape, the
 * byte-identical read-write round trip of the fixtures in tests/data/notebooks (written by the
 * real nbformat, see tests/data/make_notebooks.py), reader errors, and out-of-memory
 * behaviour by failing the Nth allocation. Does not test the contents manager.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "failalloc.h"
#include "jp_buf.h"
#include "jp_err.h"
#include "nbjson.h"

#ifndef NBJSON_TESTDATA
#define NBJSON_TESTDATA "tests/data/notebooks"
#endif

static const char *const fixtures[] = {"rich_v45.ipynb", "v40_noids.ipynb", "attachments_v44.ipynb",
                                       "empty.ipynb", "floats.ipynb"};

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof path, "%s/%s", NBJSON_TESTDATA, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* nbjson_dumps of a JSON text, compared with the expected Python output. */
static void check_dumps(const char *json, const char *want)
{
    json_error_t err;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    struct jp_buf b;

    assert_non_null(v);
    jp_buf_init(&b, 1 << 20);
    assert_int_equal(nbjson_dumps(v, &b), 0);
    assert_string_equal(b.data, want);
    jp_buf_dispose(&b);
    json_decref(v);
}

static json_t *load(const char *json)
{
    json_error_t err;
    json_t *v = json_loads(json, JSON_ALLOW_NUL, &err);

    if (!v)
        fail_msg("bad test JSON: %s", err.text);
    return v;
}

/* Compare a value with a JSON text (structural equality). */
static void check_equal(const json_t *got, const char *want_json)
{
    json_t *want = load(want_json);

    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);

        fail_msg("got %s\nwant %s", g, want_json);
    }
    json_decref(want);
}

/* ---- floats ---------------------------------------------------------------------------- */

static const struct {
    double v;
    const char *repr;
} float_table[] = {
    {0x1.999999999999ap-4, "0.1"},
    {0x1.999999999999ap-3, "0.2"},
    {0x1.3333333333333p-2, "0.3"},
    {0x1.5555555555555p-2, "0.3333333333333333"},
    {0x1.5555555555555p-1, "0.6666666666666666"},
    {0x1.4f8b588e368f1p-17, "1e-05"},
    {0x1.1c37937e08000p+53, "1e+16"},
    {0x1.0000000000000p+1, "2.0"},
    {0x1.4000000000000p+3, "10.0"},
    {0x1.8000000000000p+0, "1.5"},
    {0x1.9000000000000p+6, "100.0"},
    {0x1.c6bf526340000p+49, "1000000000000000.0"},
    {0x1.1c37937e07fffp+53, "9999999999999998.0"},
    {0x1.a36e2eb1c432dp-14, "0.0001"},
    {0x1.cd5f99c38b04bp-14, "0.00011"},
    {0x1.a36e2eb1c432dp-17, "1.25e-05"},
    {0x1.b69b4ba630f35p+56, "1.2345678901234568e+17"},
    {0x1.0f0cf064dd592p+73, "1e+22"},
    {0x1.52d02c7e14af6p+76, "1e+23"},
    {0x0.0000000000001p-1022, "5e-324"},
    {0x1.fffffffffffffp+1023, "1.7976931348623157e+308"},
    {0x1.0000000000000p-1022, "2.2250738585072014e-308"},
    {0x1.3333333333334p-2, "0.30000000000000004"},
    {0x1.0000000000001p+0, "1.0000000000000002"},
    {0x1.1666666666666p+2, "4.35"},
    {0x1.921f9f01b866ep+1, "3.14159"},
    {0x1.5bf0a8b145769p+1, "2.718281828459045"},
    {0x1.fe185ca57c517p+78, "6.02214076e+23"},
    {0x1.0000000000000p+16, "65536.0"},
    {-0x1.ad7f29abcaf48p-24, "-1e-07"},
    {-0x1.12e0be826d695p-32, "-2.5e-10"},
    {0x1.249ad2594c37dp+332, "1e+100"},
    {0x1.1eb2d66005835p+997, "1.5e+300"},
    {0x1.0000000000000p+53, "9007199254740992.0"},
    {0x1.0000000000000p+53, "9007199254740992.0"},
    {0x0.00000000007e8p-1022, "1e-320"},
    {0x1.edd2f1a9fbe77p+6, "123.456"},
    {0x1.0000000000000p-1, "0.5"},
    {0x1.0000000000000p-1022, "2.2250738585072014e-308"},
    {0x0.0000000000003p-1022, "1.5e-323"},
    {0x1.0000000000000p+1023, "8.98846567431158e+307"},
    {0x1.0000000000000p+60, "1.152921504606847e+18"},
    {0x1.0000000000000p+53, "9007199254740992.0"},
    {0x1.0000000000000p+54, "1.8014398509481984e+16"},
    {0x1.0000000000000p-20, "9.5367431640625e-07"},
    {0x1.b1ae4d6e2ef50p+69, "1e+21"},
    {0x1.38a388a43c000p+53, "1.1e+16"},
    {0x1.5ee2a2eb5a5c4p+53, "1.2345678901234568e+16"},
    {0x0.0000000000001p-1022, "5e-324"},
    {0x1.0000000000000p-1000, "9.332636185032189e-302"},
    {0x1.0000000000000p-700, "1.90109156629516e-211"},
    {0x1.0000000000000p-300, "4.909093465297727e-91"},
    {0x1.0000000000000p-100, "7.888609052210118e-31"},
    {0x1.0000000000000p-60, "8.673617379884035e-19"},
    {0x1.0000000000000p-1, "0.5"},
    {0x1.0000000000000p+0, "1.0"},
    {0x1.0000000000000p+1, "2.0"},
    {0x1.0000000000000p+10, "1024.0"},
    {0x1.0000000000000p+52, "4503599627370496.0"},
    {0x1.0000000000000p+53, "9007199254740992.0"},
    {0x1.0000000000000p+64, "1.8446744073709552e+19"},
    {0x1.0000000000000p+100, "1.2676506002282294e+30"},
    {0x1.0000000000000p+300, "2.037035976334486e+90"},
    {0x1.0000000000000p+700, "5.260135901548374e+210"},
    {0x1.0000000000000p+1000, "1.0715086071862673e+301"},
    {0x1.0000000000000p+1023, "8.98846567431158e+307"},
    {-0x1.1494c73cf256dp+475, "-1.0539756485530688e+143"},
    {-0x1.b5fab8f4d3e27p+438, "-1.2143721666352482e+132"},
    {-0x1.de805ec99108dp+128, "-6.360375184993316e+38"},
    {0x1.b48767734d7c1p+827, "1.526087629730313e+249"},
    {-0x1.445508201e2bdp+431, "-7.02551513787579e+129"},
    {0x1.d6b79965eda32p-246, "1.6260771785726701e-74"},
    {-0x1.c69292f45e678p+221, "-5.984009685093657e+66"},
    {0x1.b9e86830c71c2p+925, "4.8959585264576934e+278"},
    {-0x1.c67eda13ffe79p-557, "-3.7634144828029947e-168"},
    {0x1.91425cb008853p-261, "4.2301541954837196e-79"},
    {0x1.3edc618187993p+806, "5.315422088462547e+242"},
    {0x1.caf9c4dabb481p-443, "7.893354548061464e-134"},
    {-0x1.7d15f17362f25p-865, "-6.0511296129096725e-261"},
    {-0x1.ff9c0cf44dd3fp+575, "-2.471417988383651e+173"},
    {-0x1.b7f62b1852f27p-473, "-7.046717376279707e-143"},
    {-0x1.e86cb0ab8ab67p-633, "-5.352667702512672e-191"},
    {0x1.abd72fb710734p+599, "3.467443581611296e+180"},
    {0x1.778aaf6fa5db8p+832, "4.201212419249933e+250"},
    {-0x1.99753a7677796p-45, "-4.545896140860994e-14"},
    {-0x1.b0d389d95847ep-409, "-1.278808376866442e-123"},
    {-0x1.558a628518867p-519, "-7.773821756658801e-157"},
    {-0x1.a65d003d71684p+335, "-1.1547680013076696e+101"},
    {0x1.b938b8743feb6p-765, "8.88116792998917e-231"},
    {0x1.08a650f3ebdd3p-877, "1.0259476444142278e-264"},
    {-0x1.b2b8f30b17d0bp+531, "-1.1937126864956989e+160"},
    {-0x1.092253deffa38p-615, "-7.616900394922395e-186"},
    {-0x1.21cc007b37e14p+116, "-9.404446511312006e+34"},
    {0x1.7f61376c468aep+313, "2.4990667113411633e+94"},
    {-0x1.91e2370c6a5b8p-651, "-1.6800925191972358e-196"},
    {0x1.094ead7a94dedp-223, "7.688121853400444e-68"},
    {0x1.0334684e55160p-66, "1.3722183439346506e-20"},
    {0x1.d8474a3ea284dp+181, "5.654411402250841e+54"},
    {0x1.d0ea67ff12229p-1005, "5.2964948879303666e-303"},
    {0x1.1d2dfa9964aefp-675, "7.106101800028059e-204"},
    {-0x1.1149075139237p-389, "-8.466578551422606e-118"},
    {0x1.2a6b24735af1cp+643, "4.254739997646274e+193"},
    {-0x1.fe1daff666589p-814, "-1.82394811931708e-245"},
    {-0x1.2ec3ffee5a5b2p+745, "-2.1888367315112703e+224"},
    {0x1.cd2aad7185ddap-683, "4.48880712297644e-206"},
    {0x1.5cca7b53302fcp+17, "178580.96347620327"},
    {-0x1.7166666666666p+8, "-369.4"},
    {0x1.a000000000000p+4, "26.0"},
    {-0x1.adc6c8bc9cd3ep+9, "-859.553001"},
    {-0x1.8800000000000p+9, "-784.0"},
    {0x1.5a95604189375p+9, "693.167"},
    {-0x1.b100000000000p+9, "-866.0"},
    {0x1.5b80000000000p+9, "695.0"},
    {-0x1.1e80000000000p+9, "-573.0"},
    {-0x1.e0341f212d773p+5, "-60.02545"},
    {-0x1.9a00000000000p+7, "-205.0"},
    {0x1.0900000000000p+7, "132.5"},
    {0x1.16828f5c28f5cp+9, "557.02"},
    {-0x1.4635c28f5c28fp+8, "-326.21"},
    {-0x1.4ed4395810625p+8, "-334.829"},
    {0x1.0200000000000p+9, "516.0"},
    {-0x1.6d674dbdf8f47p+9, "-730.80706"},
    {-0x1.8f00000000000p+9, "-798.0"},
    {-0x1.187ae147ae148p+6, "-70.12"},
    {-0x1.425264c2f837bp+9, "-644.6437"},
    {-0x1.379d532617c1cp+9, "-623.2291"},
    {-0x1.999999999999ap-4, "-0.1"},
    {-0x1.999999999999ap-3, "-0.2"},
    {-0x1.3333333333333p-2, "-0.3"},
    {-0x1.5555555555555p-2, "-0.3333333333333333"},
    {-0x1.5555555555555p-1, "-0.6666666666666666"},
    {-0x1.4f8b588e368f1p-17, "-1e-05"},
    {-0x1.1c37937e08000p+53, "-1e+16"},
    {-0x1.0000000000000p+1, "-2.0"},
    {-0x1.4000000000000p+3, "-10.0"},
    {-0x1.8000000000000p+0, "-1.5"},
};

static void test_nbjson_format_double_matches_python_repr(void **state)
{
    char out[NBJSON_DOUBLE_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof float_table / sizeof float_table[0]; i++) {
        size_t n = nbjson_format_double(float_table[i].v, out);

        if (strcmp(out, float_table[i].repr) != 0)
            fail_msg("%a: got %s, want %s", float_table[i].v, out, float_table[i].repr);
        assert_int_equal(n, strlen(out));
    }
}

static void test_nbjson_format_double_special_values(void **state)
{
    char out[NBJSON_DOUBLE_LEN];

    (void)state;
    nbjson_format_double(0.0, out);
    assert_string_equal(out, "0.0");
    nbjson_format_double(-0.0, out);
    assert_string_equal(out, "-0.0");
    nbjson_format_double(NAN, out);
    assert_string_equal(out, "NaN");
    nbjson_format_double(INFINITY, out);
    assert_string_equal(out, "Infinity");
    nbjson_format_double(-INFINITY, out);
    assert_string_equal(out, "-Infinity");
    nbjson_format_double(-1.7976931348623157e308, out);
    assert_string_equal(out, "-1.7976931348623157e+308");
    nbjson_format_double(-4.9406564584124654e-324, out);
    assert_string_equal(out, "-5e-324");
}

static void test_nbjson_format_double_fixed_exponent_boundaries(void **state)
{
    char out[NBJSON_DOUBLE_LEN];

    (void)state;
    nbjson_format_double(1e-4, out);
    assert_string_equal(out, "0.0001");
    nbjson_format_double(9.99e-5, out);
    assert_string_equal(out, "9.99e-05");
    nbjson_format_double(1e15, out);
    assert_string_equal(out, "1000000000000000.0");
    nbjson_format_double(9999999999999998.0, out);
    assert_string_equal(out, "9999999999999998.0");
    nbjson_format_double(1e16, out);
    assert_string_equal(out, "1e+16");
    nbjson_format_double(1.5e16, out);
    assert_string_equal(out, "1.5e+16");
    nbjson_format_double(1e100, out);
    assert_string_equal(out, "1e+100");
}

/* ---- dumps ----------------------------------------------------------------------------- */

static void test_nbjson_dumps_scalars(void **state)
{
    (void)state;
    check_dumps("null", "null");
    check_dumps("true", "true");
    check_dumps("false", "false");
    check_dumps("0", "0");
    check_dumps("-0", "0");
    check_dumps("9223372036854775807", "9223372036854775807");
    check_dumps("-9223372036854775808", "-9223372036854775808");
    check_dumps("1.0", "1.0");
    check_dumps("1E5", "100000.0");
    check_dumps("1e-5", "1e-05");
    check_dumps("-0.0", "-0.0");
    check_dumps("2.50", "2.5");
}

static void test_nbjson_dumps_empty_containers(void **state)
{
    (void)state;
    check_dumps("[]", "[]");
    check_dumps("{}", "{}");
    check_dumps("{\"a\": [], \"b\": {}}", "{\n \"a\": [],\n \"b\": {}\n}");
    check_dumps("[[], {}]", "[\n [],\n {}\n]");
}

static void test_nbjson_dumps_indent_one_space_per_level(void **state)
{
    (void)state;
    check_dumps("{\"x\": {\"y\": [1, [2, {\"z\": null}]]}}", "{\n"
                                                             " \"x\": {\n"
                                                             "  \"y\": [\n"
                                                             "   1,\n"
                                                             "   [\n"
                                                             "    2,\n"
                                                             "    {\n"
                                                             "     \"z\": null\n"
                                                             "    }\n"
                                                             "   ]\n"
                                                             "  ]\n"
                                                             " }\n"
                                                             "}");
}

static void test_nbjson_dumps_sorts_keys_by_code_point(void **state)
{
    (void)state;
    check_dumps("{\"b\": 1, \"a\": 2, \"B\": 3, \"\\u00e9\": 4, \"z\": 5, \"\": 6, \"10\": 7, "
                "\"9\": 8, \"\\ud83c\\udf89\": 9, \"\\uffff\": 10, \"ab\": 11}",
                "{\n \"\": 6,\n \"10\": 7,\n \"9\": 8,\n \"B\": 3,\n \"a\": 2,\n \"ab\": 11,\n"
                " \"b\": 1,\n \"z\": 5,\n \"\xc3\xa9\": 4,\n \"\xef\xbf\xbf\": 10,\n"
                " \"\xf0\x9f\x8e\x89\": 9\n}");
}

static void test_nbjson_dumps_string_escapes(void **state)
{
    (void)state;
    check_dumps("\"q\\\" b\\\\ s/ n\\n r\\r t\\t b\\b f\\f\"",
                "\"q\\\" b\\\\ s/ n\\n r\\r t\\t b\\b f\\f\"");
    check_dumps("\"\\u0000\\u0001\\u001f\\u000b\\u001b\\u007f\"",
                "\"\\u0000\\u0001\\u001f\\u000b\\u001b\x7f\"");
    /* non-ASCII stays raw UTF-8, U+2028 included; JSON's "\/" comes back as "/" */
    check_dumps("\"\\u00fc \\u2028 \\ud83d\\ude00 \\/\"",
                "\"\xc3\xbc \xe2\x80\xa8 \xf0\x9f\x98\x80 /\"");
    check_dumps("{\"k\\n\\u00e9\": \"v\"}", "{\n \"k\\n\xc3\xa9\": \"v\"\n}");
}

static void test_nbjson_dumps_respects_buffer_limit(void **state)
{
    json_t *v = load("{\"a\": \"0123456789\"}");
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 10);
    assert_int_equal(nbjson_dumps(v, &b), JP_ETOOBIG);
    jp_buf_dispose(&b);
    json_decref(v);
}

/* ---- split / rejoin / strip -------------------------------------------------------------- */

static void test_nbjson_split_lines_python_line_boundaries(void **state)
{
    json_t *nb = load("{\"cells\": [{\"cell_type\": \"raw\", \"source\": "
                      "\"a\\r\\nb\\rc\\nd\\u000be\\u000cf\\u001cg\\u001dh\\u001ei\\u0085j\\u2028k"
                      "\\u2029l\"}]}");

    (void)state;
    assert_int_equal(nbjson_split_lines(nb), 0);
    check_equal(json_object_get(json_array_get(json_object_get(nb, "cells"), 0), "source"),
                "[\"a\\r\\n\", \"b\\r\", \"c\\n\", \"d\\u000b\", \"e\\u000c\", \"f\\u001c\", "
                "\"g\\u001d\", \"h\\u001e\", \"i\\u0085\", \"j\\u2028\", \"k\\u2029\", \"l\"]");
    json_decref(nb);
}

static void test_nbjson_split_lines_edge_strings(void **state)
{
    json_t *nb = load("{\"cells\": [{\"cell_type\": \"markdown\", \"source\": \"\"},"
                      "{\"cell_type\": \"markdown\", \"source\": \"\\n\\n\"},"
                      "{\"cell_type\": \"markdown\", \"source\": \"no newline\"},"
                      "{\"cell_type\": \"markdown\", \"source\": \"x\\r\"},"
                      "{\"cell_type\": \"markdown\", \"source\": \"nul\\u0000\\nok\"},"
                      "{\"cell_type\": \"markdown\", \"source\": [\"already\\n\", \"split\"]},"
                      "{\"cell_type\": \"markdown\", \"source\": \"\\u00e9\\u0085\\u00e9\"}]}");
    json_t *cells;

    (void)state;
    assert_int_equal(nbjson_split_lines(nb), 0);
    cells = json_object_get(nb, "cells");
    check_equal(json_object_get(json_array_get(cells, 0), "source"), "[]");
    check_equal(json_object_get(json_array_get(cells, 1), "source"), "[\"\\n\", \"\\n\"]");
    check_equal(json_object_get(json_array_get(cells, 2), "source"), "[\"no newline\"]");
    check_equal(json_object_get(json_array_get(cells, 3), "source"), "[\"x\\r\"]");
    check_equal(json_object_get(json_array_get(cells, 4), "source"), "[\"nul\\u0000\\n\", \"ok\"]");
    check_equal(json_object_get(json_array_get(cells, 5), "source"), "[\"already\\n\", \"split\"]");
    check_equal(json_object_get(json_array_get(cells, 6), "source"),
                "[\"\\u00e9\\u0085\", \"\\u00e9\"]");
    json_decref(nb);
}

static void test_nbjson_split_lines_outputs_and_attachments(void **state)
{
    json_t *nb =
        load("{\"cells\": [{\"cell_type\": \"code\", \"source\": \"\", \"outputs\": ["
             "{\"output_type\": \"stream\", \"name\": \"stdout\", \"text\": \"a\\nb\"},"
             "{\"output_type\": \"error\", \"text\": \"e\\nf\", \"traceback\": [\"t\\nu\"]},"
             "{\"output_type\": \"execute_result\", \"data\": {\"text/plain\": \"1\\n2\","
             " \"text/html\": \"<b>\\n</b>\", \"image/png\": \"iVBO\\nRw==\","
             " \"image/svg+xml\": \"<svg>\\n</svg>\", \"application/javascript\": \"x;\\ny;\","
             " \"application/json\": {\"k\": \"v\\nw\"}, \"application/x-foo\": \"p\\nq\"}},"
             "{\"output_type\": \"display_data\", \"data\": {\"text/markdown\": \"# h\\nbody\"}}]},"
             "{\"cell_type\": \"markdown\", \"source\": \"s\", \"attachments\": {\"f.txt\":"
             " {\"text/plain\": \"l1\\nl2\", \"image/png\": \"AA\\nBB\"}},"
             " \"outputs\": [{\"output_type\": \"stream\", \"text\": \"not\\nsplit\"}]}]}");
    json_t *cells, *outs;

    (void)state;
    assert_int_equal(nbjson_split_lines(nb), 0);
    cells = json_object_get(nb, "cells");
    outs = json_object_get(json_array_get(cells, 0), "outputs");
    check_equal(json_array_get(outs, 0),
                "{\"output_type\": \"stream\", \"name\": \"stdout\", \"text\": [\"a\\n\", \"b\"]}");
    check_equal(json_array_get(outs, 1), "{\"output_type\": \"error\", \"text\": \"e\\nf\", "
                                         "\"traceback\": [\"t\\nu\"]}");
    check_equal(json_object_get(json_array_get(outs, 2), "data"),
                "{\"text/plain\": [\"1\\n\", \"2\"], \"text/html\": [\"<b>\\n\", \"</b>\"],"
                " \"image/png\": \"iVBO\\nRw==\", \"image/svg+xml\": [\"<svg>\\n\", \"</svg>\"],"
                " \"application/javascript\": [\"x;\\n\", \"y;\"],"
                " \"application/json\": {\"k\": \"v\\nw\"}, \"application/x-foo\": \"p\\nq\"}");
    check_equal(json_object_get(json_array_get(outs, 3), "data"),
                "{\"text/markdown\": [\"# h\\n\", \"body\"]}");
    /* attachments are split in every cell type; outputs only in code cells */
    check_equal(json_array_get(cells, 1),
                "{\"cell_type\": \"markdown\", \"source\": [\"s\"], \"attachments\": {\"f.txt\":"
                " {\"text/plain\": [\"l1\\n\", \"l2\"], \"image/png\": \"AA\\nBB\"}},"
                " \"outputs\": [{\"output_type\": \"stream\", \"text\": \"not\\nsplit\"}]}");
    json_decref(nb);
}

static void test_nbjson_split_lines_tolerates_odd_shapes(void **state)
{
    json_t *nb = load("{\"cells\": [1, \"x\", {\"cell_type\": \"code\", \"source\": 5, "
                      "\"outputs\": {\"not\": \"a list\"}, \"attachments\": [1]},"
                      "{\"cell_type\": \"code\", \"outputs\": [7, {\"output_type\": 3}]}]}");
    json_t *copy = json_deep_copy(nb);

    (void)state;
    assert_int_equal(nbjson_split_lines(nb), 0);
    assert_int_equal(nbjson_rejoin_lines(nb), 0);
    assert_true(json_equal(nb, copy));
    json_decref(nb);
    json_decref(copy);
    nb = load("{\"nocells\": true}");
    assert_int_equal(nbjson_split_lines(nb), 0);
    assert_int_equal(nbjson_rejoin_lines(nb), 0);
    nbjson_strip_transient(nb);
    json_decref(nb);
}

static void test_nbjson_rejoin_lines_joins_what_nbformat_joins(void **state)
{
    json_t *nb = load(
        "{\"cells\": [{\"cell_type\": \"code\", \"source\": [\"a\\n\", \"b\"], \"outputs\": ["
        "{\"output_type\": \"stream\", \"text\": [\"x\\n\", \"y\"]},"
        "{\"output_type\": \"error\", \"text\": [\"e\", \"f\"], \"traceback\": [\"t\", \"u\"]},"
        "{\"output_type\": \"execute_result\", \"data\": {\"text/plain\": [\"1\\n\", \"2\"],"
        " \"image/png\": [\"AA\", \"BB\"], \"application/json\": [\"keep\", \"me\"],"
        " \"application/vnd.x+json\": [\"keep\"], \"text/html\": [\"<b>\", 3],"
        " \"text/empty\": []}}]},"
        "{\"cell_type\": \"raw\", \"source\": [], \"attachments\": {\"a\": {\"text/plain\":"
        " [\"p\", \"q\"]}}, \"outputs\": [{\"output_type\": \"stream\", \"text\": [\"n\"]}]}]}");
    json_t *cells;

    (void)state;
    assert_int_equal(nbjson_rejoin_lines(nb), 0);
    cells = json_object_get(nb, "cells");
    check_equal(json_array_get(cells, 0),
                "{\"cell_type\": \"code\", \"source\": \"a\\nb\", \"outputs\": ["
                "{\"output_type\": \"stream\", \"text\": \"x\\ny\"},"
                "{\"output_type\": \"error\", \"text\": \"ef\", \"traceback\": [\"t\", \"u\"]},"
                "{\"output_type\": \"execute_result\", \"data\": {\"text/plain\": \"1\\n2\","
                " \"image/png\": \"AABB\", \"application/json\": [\"keep\", \"me\"],"
                " \"application/vnd.x+json\": [\"keep\"], \"text/html\": [\"<b>\", 3],"
                " \"text/empty\": \"\"}}]}");
    check_equal(json_array_get(cells, 1),
                "{\"cell_type\": \"raw\", \"source\": \"\", \"attachments\": {\"a\": "
                "{\"text/plain\": \"pq\"}}, \"outputs\": [{\"output_type\": \"stream\", "
                "\"text\": [\"n\"]}]}");
    json_decref(nb);
}

static void test_nbjson_strip_transient_removes_transient_keys(void **state)
{
    json_t *nb = load("{\"metadata\": {\"orig_nbformat\": 3, \"orig_nbformat_minor\": 0,"
                      " \"signature\": \"sha256:x\", \"kept\": 1},"
                      " \"cells\": [{\"metadata\": {\"trusted\": true, \"tags\": []}},"
                      " {\"metadata\": {\"trusted\": false}}, {}]}");

    (void)state;
    nbjson_strip_transient(nb);
    check_equal(nb, "{\"metadata\": {\"kept\": 1}, \"cells\": [{\"metadata\": {\"tags\": []}},"
                    " {\"metadata\": {}}, {}]}");
    json_decref(nb);
}

/* ---- read / write ------------------------------------------------------------------------ */

static void test_nbjson_write_notebook_fixtures_byte_identical(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        size_t len;
        char *data = slurp(fixtures[i], &len), err[128];
        json_t *nb = NULL;
        struct jp_buf b;

        assert_int_equal(nbjson_read_notebook(data, len, &nb, err, sizeof err), 0);
        jp_buf_init(&b, 1 << 24);
        assert_int_equal(nbjson_write_notebook(nb, &b), 0);
        if (b.len != len || memcmp(b.data, data, len) != 0)
            fail_msg("%s: written bytes differ from nbformat's (%zu vs %zu)", fixtures[i], b.len,
                     len);
        jp_buf_dispose(&b);
        json_decref(nb);
        free(data);
    }
}

static void test_nbjson_read_notebook_rejoins_like_nbformat(void **state)
{
    size_t len;
    char *data = slurp("rich_v45.ipynb", &len), err[128];
    json_t *nb = NULL, *cells, *out0;

    (void)state;
    assert_int_equal(nbjson_read_notebook(data, len, &nb, err, sizeof err), 0);
    cells = json_object_get(nb, "cells");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cells, 1), "source")),
                        "print(\"hello\")\nfor i in range(3):\n    print(i)\n");
    out0 = json_array_get(json_object_get(json_array_get(cells, 1), "outputs"), 0);
    assert_string_equal(json_string_value(json_object_get(out0, "text")), "hello\n0\n1\n2\n");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cells, 5), "source")), "");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cells, 7), "source")),
                        "raw \\LaTeX\r\nwith CRLF\r\nlines\rand a lone CR\n");
    json_decref(nb);
    free(data);
}

static void test_nbjson_read_notebook_rejects_what_it_cannot_hold(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[1, 2]",
        "{\"cells\": {}}",
        "{\"metadata\": {}}",
        "{\"cells\": [], \"x\": NaN}",
        "{\"cells\": [], \"x\": 1e400}",
        "\xef\xbb\xbf{\"cells\": []}",
        "{\"cells\": [], \"k\\u0000\": 1}",
        "{\"cells\": [], \"x\": \"\xff\"}",
    };
    json_t *nb = (json_t *)0x1;
    char err[128];
    size_t len;
    char *data;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(nbjson_read_notebook(bad[i], strlen(bad[i]), &nb, err, sizeof err),
                         JP_EPARSE);
        assert_ptr_equal(nb, (json_t *)0x1);
        assert_true(strlen(err) > 0);
    }
    data = slurp("bigint.ipynb", &len);
    assert_int_equal(nbjson_read_notebook(data, len, &nb, err, sizeof err), JP_EPARSE);
    assert_non_null(strstr(err, "too big integer"));
    free(data);
}

static void test_nbjson_write_notebook_strips_and_splits_a_copy(void **state)
{
    json_t *nb = load("{\"nbformat\": 4, \"nbformat_minor\": 5, \"metadata\": {\"signature\": "
                      "\"x\"}, \"cells\": [{\"cell_type\": \"code\", \"id\": \"a\", \"metadata\":"
                      " {\"trusted\": true}, \"source\": \"x = 1\\ny\", \"outputs\": [],"
                      " \"execution_count\": null}]}");
    json_t *before = json_deep_copy(nb);
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 1 << 16);
    assert_int_equal(nbjson_write_notebook(nb, &b), 0);
    assert_string_equal(b.data, "{\n"
                                " \"cells\": [\n"
                                "  {\n"
                                "   \"cell_type\": \"code\",\n"
                                "   \"execution_count\": null,\n"
                                "   \"id\": \"a\",\n"
                                "   \"metadata\": {},\n"
                                "   \"outputs\": [],\n"
                                "   \"source\": [\n"
                                "    \"x = 1\\n\",\n"
                                "    \"y\"\n"
                                "   ]\n"
                                "  }\n"
                                " ],\n"
                                " \"metadata\": {},\n"
                                " \"nbformat\": 4,\n"
                                " \"nbformat_minor\": 5\n"
                                "}\n");
    assert_true(json_equal(nb, before)); /* the caller's notebook is untouched */
    jp_buf_dispose(&b);
    json_decref(nb);
    json_decref(before);
}

/* ---- out of memory ------------------------------------------------------------------------ */

static void test_nbjson_write_notebook_out_of_memory_fails_cleanly(void **state)
{
    size_t len;
    char *data = slurp("rich_v45.ipynb", &len), err[128];
    json_t *nb = NULL;
    long n, live;

    (void)state;
    assert_int_equal(nbjson_read_notebook(data, len, &nb, err, sizeof err), 0);
    for (n = 1;; n++) {
        struct jp_buf b;
        int rc, hit;

        live = failalloc_live();
        jp_buf_init(&b, 1 << 24);
        failalloc_arm(n, FAILALLOC_ALL);
        rc = nbjson_write_notebook(nb, &b);
        hit = failalloc_hit();
        failalloc_disarm();
        jp_buf_dispose(&b);
        assert_int_equal(failalloc_live(), live);
        if (!hit) {
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, JP_ENOMEM);
    }
    assert_true(n > 10);
    json_decref(nb);
    free(data);
}

static void test_nbjson_read_notebook_out_of_memory_fails_cleanly(void **state)
{
    size_t len;
    char *data = slurp("v40_noids.ipynb", &len), err[128];
    long n, live;

    (void)state;
    /* proto-side failures only in the parser (failalloc.h: jansson's lexer ignores a failed
     * token-buffer growth), then the jansson side on the rejoin of an already parsed tree */
    for (n = 1;; n++) {
        json_t *nb = NULL;
        int rc, hit;

        live = failalloc_live();
        failalloc_arm(n, FAILALLOC_JP);
        rc = nbjson_read_notebook(data, len, &nb, err, sizeof err);
        hit = failalloc_hit();
        failalloc_disarm();
        if (!hit) {
            assert_int_equal(rc, 0);
            json_decref(nb);
            assert_int_equal(failalloc_live(), live);
            break;
        }
        assert_int_equal(rc, JP_ENOMEM);
        assert_null(nb);
        assert_int_equal(failalloc_live(), live);
    }
    for (n = 1;; n++) {
        json_t *nb = load("{\"cells\": [{\"cell_type\": \"code\", \"source\": [\"a\", \"b\"],"
                          " \"attachments\": {\"x\": {\"text/plain\": [\"p\", \"q\"]}},"
                          " \"outputs\": [{\"output_type\": \"stream\", \"text\": [\"c\"]},"
                          " {\"output_type\": \"display_data\", \"data\": {\"text/plain\":"
                          " [\"d\", \"e\"]}}]}]}");
        int rc, hit;

        failalloc_arm(n, FAILALLOC_ALL);
        rc = nbjson_rejoin_lines(nb);
        hit = failalloc_hit();
        failalloc_disarm();
        json_decref(nb);
        if (!hit) {
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, JP_ENOMEM);
    }
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nbjson_format_double_matches_python_repr),
        cmocka_unit_test(test_nbjson_format_double_special_values),
        cmocka_unit_test(test_nbjson_format_double_fixed_exponent_boundaries),
        cmocka_unit_test(test_nbjson_dumps_scalars),
        cmocka_unit_test(test_nbjson_dumps_empty_containers),
        cmocka_unit_test(test_nbjson_dumps_indent_one_space_per_level),
        cmocka_unit_test(test_nbjson_dumps_sorts_keys_by_code_point),
        cmocka_unit_test(test_nbjson_dumps_string_escapes),
        cmocka_unit_test(test_nbjson_dumps_respects_buffer_limit),
        cmocka_unit_test(test_nbjson_split_lines_python_line_boundaries),
        cmocka_unit_test(test_nbjson_split_lines_edge_strings),
        cmocka_unit_test(test_nbjson_split_lines_outputs_and_attachments),
        cmocka_unit_test(test_nbjson_split_lines_tolerates_odd_shapes),
        cmocka_unit_test(test_nbjson_rejoin_lines_joins_what_nbformat_joins),
        cmocka_unit_test(test_nbjson_strip_transient_removes_transient_keys),
        cmocka_unit_test(test_nbjson_write_notebook_fixtures_byte_identical),
        cmocka_unit_test(test_nbjson_read_notebook_rejoins_like_nbformat),
        cmocka_unit_test(test_nbjson_read_notebook_rejects_what_it_cannot_hold),
        cmocka_unit_test(test_nbjson_write_notebook_strips_and_splits_a_copy),
        cmocka_unit_test(test_nbjson_write_notebook_out_of_memory_fails_cleanly),
        cmocka_unit_test(test_nbjson_read_notebook_out_of_memory_fails_cleanly),
    };

    failalloc_install();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
