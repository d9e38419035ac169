/*
 * test_jp_buf.c - unit tests for proto/jp_buf.c: appends within and past the cap, formatted
 * appends that grow the buffer, take/consume/reset, and unchanged contents when an
 * allocation fails. Does not test other modules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "failalloc.h"
#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_err.h"

static void test_jp_buf_init_empty(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.limit, 100);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_appends_and_terminates(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_add(&b, "abc", 3), 0);
    assert_int_equal(jp_buf_adds(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_true(b.cap >= b.len + 1);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_binary_with_nul(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_add(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_zero_length(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 0);
    assert_int_equal(jp_buf_add(&b, "", 0), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_exactly_limit(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 5);
    assert_int_equal(jp_buf_add(&b, "12345", 5), 0);
    assert_int_equal(b.len, 5);
    assert_int_equal(b.cap, 6); /* never more than limit + 1 */
    assert_int_equal(jp_buf_add(&b, "x", 1), JP_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "12345");
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_over_limit_unchanged(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 8);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    assert_int_equal(jp_buf_adds(&b, "123456"), JP_ETOOBIG);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    /* a length that would overflow len + n */
    assert_int_equal(jp_buf_add(&b, "x", SIZE_MAX), JP_ETOOBIG);
    assert_string_equal(b.data, "abc");
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_grows_many_times(void **state)
{
    struct jp_buf b;
    char chunk[100];
    int i;

    (void)state;
    memset(chunk, 'z', sizeof chunk);
    jp_buf_init(&b, 1 << 20);
    for (i = 0; i < 1000; i++)
        assert_int_equal(jp_buf_add(&b, chunk, sizeof chunk), 0);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(b.data[99999], 'z');
    jp_buf_dispose(&b);
}

static void test_jp_buf_addf_formats(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_addf(&b, "%s=%d", "x", 42), 0);
    assert_int_equal(jp_buf_addf(&b, ",%05.1f", 2.5), 0);
    assert_string_equal(b.data, "x=42,002.5");
    assert_int_equal(b.len, strlen("x=42,002.5"));
    jp_buf_dispose(&b);
}

static void test_jp_buf_addf_grows_past_spare_room(void **state)
{
    struct jp_buf b;
    char big[500];

    (void)state;
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jp_buf_init(&b, 10000);
    assert_int_equal(jp_buf_adds(&b, "ab"), 0);
    assert_int_equal(jp_buf_addf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 2 + 2 + 499);
    assert_int_equal(b.data[2], '<');
    assert_int_equal(b.data[b.len - 1], '>');
    assert_int_equal(b.data[b.len], '\0');
    jp_buf_dispose(&b);
}

static void test_jp_buf_addf_over_limit_unchanged(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 10);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    /* fits the allocation (64 bytes) but not the limit */
    assert_int_equal(jp_buf_addf(&b, "%s", "0123456789"), JP_ETOOBIG);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    /* larger than the allocation and the limit */
    jp_buf_dispose(&b);
    assert_int_equal(jp_buf_addf(&b, "%0100d", 7), JP_ETOOBIG);
    assert_int_equal(b.len, 0);
    jp_buf_dispose(&b);
}

static void test_jp_buf_take_returns_content(void **state)
{
    struct jp_buf b;
    char *s;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "hello"), 0);
    s = jp_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    jp_free(s);
    /* reusable afterwards */
    assert_int_equal(jp_buf_adds(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    jp_buf_dispose(&b);
}

static void test_jp_buf_take_empty_gives_empty_string(void **state)
{
    struct jp_buf b;
    char *s;

    (void)state;
    jp_buf_init(&b, 100);
    s = jp_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    jp_free(s);
}

static void test_jp_buf_consume_prefix(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "abcdef"), 0);
    jp_buf_consume(&b, 2);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "cdef");
    jp_buf_consume(&b, 0);
    assert_string_equal(b.data, "cdef");
    jp_buf_consume(&b, 4);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    jp_buf_consume(&b, 0); /* on an empty buffer */
    jp_buf_dispose(&b);
}

static void test_jp_buf_reset_keeps_allocation(void **state)
{
    struct jp_buf b;
    char *before;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    before = b.data;
    jp_buf_reset(&b);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    jp_buf_dispose(&b);
    jp_buf_reset(&b); /* on a buffer with no allocation */
    assert_null(b.data);
}

static void test_jp_buf_dispose_twice(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 100);
    assert_int_equal(jp_buf_adds(&b, "abc"), 0);
    jp_buf_dispose(&b);
    jp_buf_dispose(&b);
    assert_null(b.data);
    assert_int_equal(b.limit, 100);
}

static void test_jp_buf_add_nomem_unchanged(void **state)
{
    struct jp_buf b;
    char chunk[200];
    long live;

    (void)state;
    memset(chunk, 'k', sizeof chunk);
    live = failalloc_live();
    jp_buf_init(&b, 10000);
    failalloc_arm(1, FAILALLOC_ALL);
    assert_int_equal(jp_buf_adds(&b, "first"), JP_ENOMEM);
    failalloc_disarm();
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(jp_buf_adds(&b, "first"), 0);
    failalloc_arm(1, FAILALLOC_ALL);
    assert_int_equal(jp_buf_add(&b, chunk, sizeof chunk), JP_ENOMEM); /* needs to grow */
    failalloc_arm(1, FAILALLOC_ALL);
    assert_int_equal(jp_buf_addf(&b, "%.*s", 150, chunk), JP_ENOMEM);
    failalloc_disarm();
    assert_string_equal(b.data, "first");
    assert_int_equal(b.len, 5);
    failalloc_arm(1, FAILALLOC_ALL);
    jp_buf_dispose(&b);
    assert_null(jp_buf_take(&b)); /* the "" it would return cannot be allocated */
    failalloc_disarm();
    assert_int_equal(failalloc_live(), live);
}

static void check_jstr(const char *in, const char *want)
{
    struct jp_buf b;

    jp_buf_init(&b, 1000);
    assert_int_equal(jp_buf_add_jstr(&b, in), 0);
    assert_string_equal(b.data, want);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_jstr_escapes(void **state)
{
    (void)state;
    check_jstr("", "\"\"");
    check_jstr("plain id-1", "\"plain id-1\"");
    check_jstr("a\"b\\c", "\"a\\\"b\\\\c\"");
    check_jstr("l1\nl2\tx\r\x01\x1f", "\"l1\\nl2\\tx\\r\\u0001\\u001f\"");
    check_jstr("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* a lone continuation byte, a truncated sequence, an overlong '/', a surrogate */
    check_jstr("a\x80"
               "b",
               "\"a\\ufffdb\"");
    check_jstr("\xe2\x82", "\"\\ufffd\\ufffd\"");
    check_jstr("\xc0\xaf", "\"\\ufffd\\ufffd\"");
    check_jstr("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
}

/* whatever the bytes, the result parses as JSON and valid text comes back unchanged */
static void test_jp_buf_add_jstr_parses(void **state)
{
    unsigned seed = 12345;
    char in[64];
    struct jp_buf b;

    (void)state;
    for (int round = 0; round < 2000; round++) {
        size_t n = (seed = seed * 1103515245u + 12345u) % (sizeof in - 1);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (char)((seed >> 16) % 255 + 1);
        }
        in[n] = '\0';
        jp_buf_init(&b, 1000);
        assert_int_equal(jp_buf_add_jstr(&b, in), 0);
        json_error_t err;
        json_t *v = json_loads(b.data, JSON_DECODE_ANY, &err);
        assert_non_null(v);
        assert_true(json_is_string(v));
        json_t *direct = json_string(in); /* NULL when `in` is not valid UTF-8 */
        if (direct)
            assert_string_equal(json_string_value(v), in);
        json_decref(direct);
        json_decref(v);
        jp_buf_dispose(&b);
    }
}

/* the counted form: NULs inside, a sequence cut by the end, a long run (one allocation) */
static void test_jp_buf_add_jstrn_counted(void **state)
{
    struct jp_buf b;
    char big[5000];

    (void)state;
    jp_buf_init(&b, 100000);
    assert_int_equal(jp_buf_add_jstrn(&b, "a\0b\xe2\x82", 5), 0);
    assert_string_equal(b.data, "\"a\\ufffdb\\ufffd\\ufffd\"");
    jp_buf_reset(&b);
    assert_int_equal(jp_buf_add_jstrn(&b, "\xe2\x82\xac", 3), 0); /* whole: kept */
    assert_string_equal(b.data, "\"\xe2\x82\xac\"");
    jp_buf_reset(&b);
    memset(big, 'x', sizeof big);
    big[100] = '"';
    assert_int_equal(jp_buf_add_jstrn(&b, big, sizeof big), 0);
    assert_int_equal(b.len, sizeof big + 3); /* quotes and one backslash */
    json_error_t err;
    json_t *v = json_loads(b.data, JSON_DECODE_ANY, &err);
    assert_non_null(v);
    assert_int_equal(json_string_length(v), sizeof big);
    json_decref(v);
    jp_buf_dispose(&b);
    /* a tight limit: the size hint must not make a fitting string fail */
    jp_buf_init(&b, 200);
    assert_int_equal(jp_buf_add_jstrn(&b, big + 200, 150), 0);
    assert_int_equal(b.len, 152);
    jp_buf_dispose(&b);
}

static void test_jp_buf_add_jstr_over_limit_unchanged(void **state)
{
    struct jp_buf b;

    (void)state;
    jp_buf_init(&b, 8);
    assert_int_equal(jp_buf_adds(&b, "ab"), 0);
    assert_int_equal(jp_buf_add_jstr(&b, "\n\n\n"), JP_ETOOBIG);
    assert_string_equal(b.data, "ab");
    assert_int_equal(b.len, 2);
    jp_buf_dispose(&b);
}

/* ---- the escaper against a reference ------------------------------------------------ */

/* The byte-by-byte escaper jp_buf_add_jstrn replaced (kept as the reference the word-at-a-time
 * one must match byte for byte, failures included). */
static int ref_jstrn(struct jp_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len, run;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    int rc = jp_buf_add(b, "\"", 1);

    while (rc == 0 && p < end) {
        for (run = 0;
             p + run < end && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\';
             run++)
            ;
        if (run) {
            rc = jp_buf_add(b, p, run);
            p += run;
            continue;
        }
        char esc[7] = {'\\', 0};
        size_t n = *p >= 0x80 ? jp_utf8_len(p, (size_t)(end - p)) : 0;
        if (*p == '"' || *p == '\\') {
            esc[1] = (char)*p;
            rc = jp_buf_add(b, esc, 2);
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
            rc = jp_buf_add(b, esc, 2);
        } else if (*p == 0) {
            rc = jp_buf_add(b, "\\ufffd", 6);
        } else if (*p < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            rc = jp_buf_add(b, esc, 6);
        } else if (n) {
            rc = jp_buf_add(b, p, n);
            p += n - 1;
        } else {
            rc = jp_buf_add(b, "\\ufffd", 6);
        }
        p++;
    }
    if (rc == 0)
        rc = jp_buf_add(b, "\"", 1);
    if (rc != 0) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return rc;
}

/* jp_buf_add_jstrn(in) gives what the reference gives (after `prefix` bytes already in the
 * buffer, under `limit`): same return, same bytes, terminated. */
static void check_same(const void *in, size_t n, size_t prefix, size_t limit)
{
    struct jp_buf got, want;
    char pre[64];
    int rg, rw;

    assert_true(prefix <= sizeof pre);
    memset(pre, 'p', prefix);
    jp_buf_init(&got, limit);
    jp_buf_init(&want, limit);
    if (prefix) {
        assert_int_equal(jp_buf_add(&got, pre, prefix), 0);
        assert_int_equal(jp_buf_add(&want, pre, prefix), 0);
    }
    rg = jp_buf_add_jstrn(&got, in, n);
    rw = ref_jstrn(&want, in, n);
    assert_int_equal(rg, rw);
    assert_int_equal(got.len, want.len);
    if (want.len)
        assert_memory_equal(got.data, want.data, want.len);
    if (got.data)
        assert_int_equal(got.data[got.len], '\0');
    /* jp_buf_add_jesc: the same without the quotes, under a limit 2 bytes lower */
    if (limit >= 2 && limit - 2 >= prefix) {
        struct jp_buf e;
        jp_buf_init(&e, limit - 2);
        if (prefix)
            assert_int_equal(jp_buf_add(&e, pre, prefix), 0);
        assert_int_equal(jp_buf_add_jesc(&e, in, n), rw);
        if (rw == 0) {
            assert_int_equal(e.len, want.len - 2);
            assert_memory_equal(e.data, want.data, prefix);
            assert_memory_equal(e.data + prefix, want.data + prefix + 1, want.len - prefix - 2);
        } else {
            assert_int_equal(e.len, prefix);
        }
        if (e.data)
            assert_int_equal(e.data[e.len], '\0');
        jp_buf_dispose(&e);
    }
    jp_buf_dispose(&got);
    jp_buf_dispose(&want);
}

/* the byte classes the scanner must stop at (or not), one or more bytes each */
static const struct {
    const char *s;
    size_t n;
} specials[] = {
    {"\"", 1},
    {"\\", 1},
    {"\n", 1},
    {"\t", 1},
    {"\r", 1},
    {"\0", 1},
    {"\x01", 1},
    {"\x08", 1},
    {"\x0c", 1},
    {"\x1f", 1},
    {" ", 1},                /* 0x20: the first plain byte */
    {"\x7f", 1},             /* DEL: plain */
    {"/", 1},                /* plain */
    {"\x80", 1},             /* lone continuation */
    {"\xbf", 1},             /* lone continuation */
    {"\xc0\xaf", 2},         /* overlong '/' */
    {"\xc1\xbf", 2},         /* overlong */
    {"\xc2\x80", 2},         /* U+0080, the first 2-byte */
    {"\xc3\xa9", 2},         /* é */
    {"\xdf\xbf", 2},         /* U+07FF */
    {"\xe0\x80\xaf", 3},     /* overlong */
    {"\xe0\xa0\x80", 3},     /* U+0800 */
    {"\xe2\x82\xac", 3},     /* € */
    {"\xed\x9f\xbf", 3},     /* U+D7FF */
    {"\xed\xa0\x80", 3},     /* surrogate U+D800 */
    {"\xed\xbf\xbf", 3},     /* surrogate U+DFFF */
    {"\xef\xbf\xbf", 3},     /* U+FFFF */
    {"\xf0\x8f\xbf\xbf", 4}, /* overlong */
    {"\xf0\x90\x80\x80", 4}, /* U+10000 */
    {"\xf0\x9f\x98\x80", 4}, /* 😀 */
    {"\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF */
    {"\xf4\x90\x80\x80", 4}, /* past U+10FFFF */
    {"\xf5\x80\x80\x80", 4}, /* never a lead byte */
    {"\xf8\x88\x80\x80\x80", 5},
    {"\xfe", 1},
    {"\xff", 1},
    {"\xe2\x82", 2},      /* cut short */
    {"\xf0\x9f\x98", 3},  /* cut short */
    {"\xc3", 1},          /* cut short */
    {"\xe2(\xac", 3},     /* a bad continuation */
    {"\xf0\x9f\x98(", 4}, /* a bad last continuation */
};

/* each class at every position around the 8- and 16-byte word boundaries, in runs of plain
 * bytes of several lengths, alone, twice, and at the very end (sequences cut by the end) */
static void test_jp_buf_add_jstrn_word_boundaries(void **state)
{
    unsigned char in[160];

    (void)state;
    for (size_t c = 0; c < sizeof specials / sizeof specials[0]; c++) {
        size_t sn = specials[c].n;
        for (size_t pos = 0; pos < 48; pos++) {
            for (size_t tail = 0; tail < 40; tail += (tail < 18 ? 1 : 7)) {
                size_t n = pos + sn + tail;
                memset(in, 'a', sizeof in);
                memcpy(in + pos, specials[c].s, sn);
                check_same(in, n, 0, 100000);
                /* the same again 17 bytes on (two in one word, or in the next) */
                if (n + 17 + sn <= sizeof in) {
                    memcpy(in + pos + 17, specials[c].s, sn);
                    check_same(in, n + 17 + sn, 0, 100000);
                }
            }
            /* cut by the end of the input at every length */
            for (size_t cut = 1; cut <= sn; cut++) {
                memset(in, 'a', sizeof in);
                memcpy(in + pos, specials[c].s, sn);
                check_same(in, pos + cut, 0, 100000);
            }
        }
    }
}

/* random mixes of plain bytes, the classes above and random bytes, compared whole, after a
 * prefix, and under limits around the exact size (where the reference fails, so must it) */
static void test_jp_buf_add_jstrn_random_vs_reference(void **state)
{
    unsigned seed = 777;
    unsigned char in[600];

    (void)state;
    for (int round = 0; round < 4000; round++) {
        size_t n = (seed = seed * 1103515245u + 12345u) >> 16 & 511;
        size_t i = 0;
        while (i < n) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            if (r % 4 == 0) {
                size_t c = (r >> 4) % (sizeof specials / sizeof specials[0]);
                size_t k = specials[c].n < n - i ? specials[c].n : n - i;
                memcpy(in + i, specials[c].s, k);
                i += k;
            } else if (r % 4 == 1) {
                in[i++] = (unsigned char)(r >> 8);
            } else {
                size_t k = (r >> 4) % 40;
                for (; k && i < n; k--)
                    in[i++] = (unsigned char)('a' + (k % 26));
            }
        }
        check_same(in, n, round % 7, 100000);
        if (round % 16 == 0) {
            struct jp_buf w;
            jp_buf_init(&w, 100000);
            assert_int_equal(ref_jstrn(&w, (const char *)in, n), 0);
            size_t exact = w.len;
            jp_buf_dispose(&w);
            for (size_t lim = exact > 8 ? exact - 8 : 0; lim <= exact + 8; lim++)
                check_same(in, n, 0, lim);
        }
    }
}

/* buffers filled to their last bytes: an escape or a clean block right where the room (the
 * limit) ends, after every prefix length that shifts the room against the 16-byte blocks */
static void test_jp_buf_add_jstrn_room_boundaries(void **state)
{
    static const char esc[] = "\n\t\"\\\x01\xc3";
    unsigned char in[80];

    (void)state;
    for (size_t e = 0; e < sizeof esc - 1; e++) {
        for (size_t pos = 0; pos < 40; pos++) {
            for (size_t n = pos + 1; n <= pos + 24 && n <= sizeof in; n += 3) {
                memset(in, 'k', sizeof in);
                in[pos] = (unsigned char)esc[e];
                struct jp_buf w;
                jp_buf_init(&w, 100000);
                assert_int_equal(ref_jstrn(&w, (const char *)in, n), 0);
                size_t exact = w.len;
                jp_buf_dispose(&w);
                for (size_t prefix = 0; prefix < 20; prefix++)
                    for (size_t lim = prefix + exact - 3; lim <= prefix + exact + 20; lim++)
                        check_same(in, n, prefix, lim);
            }
        }
    }
}

static void test_jp_buf_add_jstrn_long_and_empty(void **state)
{
    static unsigned char big[300000];
    struct jp_buf b;

    (void)state;
    check_same("", 0, 0, 100);
    check_same("", 0, 5, 100);
    check_same("", 0, 0, 1); /* "\"\"" does not fit */
    jp_buf_init(&b, 10);
    assert_int_equal(jp_buf_add_jstrn(&b, "", 0), 0);
    assert_string_equal(b.data, "\"\"");
    jp_buf_dispose(&b);

    /* long clean runs, then with a rare escape, then a line every 64 bytes (the stream case) */
    memset(big, 'x', sizeof big);
    check_same(big, sizeof big, 0, (size_t)1 << 30);
    check_same(big, sizeof big, 3, sizeof big + 5); /* just fits */
    check_same(big, sizeof big, 3, sizeof big + 4); /* one short */
    big[123457] = '"';
    big[299999] = '\n';
    check_same(big, sizeof big, 0, (size_t)1 << 30);
    for (size_t i = 63; i < sizeof big; i += 64)
        big[i] = '\n';
    check_same(big, sizeof big, 0, (size_t)1 << 30);
    /* all non-ASCII: 3-byte characters back to back, one broken in the middle */
    for (size_t i = 0; i + 3 <= sizeof big; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3);
    check_same(big, sizeof big, 0, (size_t)1 << 30);
    big[150001] = 'x';
    check_same(big, sizeof big, 0, (size_t)1 << 30);
}

/* a failed allocation anywhere leaves the buffer as it was */
static void test_jp_buf_add_jstrn_nomem_unchanged(void **state)
{
    static unsigned char in[5000];
    struct jp_buf b;

    (void)state;
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = i % 10 == 9 ? '\n' : i % 97 == 0 ? 0xff : 'y';
    for (long fail = 1; fail < 40; fail++) {
        jp_buf_init(&b, 1000000);
        assert_int_equal(jp_buf_adds(&b, "pre"), 0);
        failalloc_arm(fail, FAILALLOC_JP);
        int rc = jp_buf_add_jstrn(&b, (const char *)in, sizeof in);
        failalloc_disarm();
        if (rc) {
            assert_int_equal(rc, JP_ENOMEM);
            assert_string_equal(b.data, "pre");
            assert_int_equal(b.len, 3);
        } else {
            jp_buf_consume(&b, 3);
            struct jp_buf w;
            jp_buf_init(&w, 1000000);
            assert_int_equal(ref_jstrn(&w, (const char *)in, sizeof in), 0);
            assert_int_equal(b.len, w.len);
            assert_memory_equal(b.data, w.data, w.len);
            jp_buf_dispose(&w);
        }
        jp_buf_dispose(&b);
    }
}

static int setup_failalloc(void **state)
{
    (void)state;
    failalloc_install();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_buf_init_empty),
        cmocka_unit_test(test_jp_buf_add_appends_and_terminates),
        cmocka_unit_test(test_jp_buf_add_binary_with_nul),
        cmocka_unit_test(test_jp_buf_add_zero_length),
        cmocka_unit_test(test_jp_buf_add_exactly_limit),
        cmocka_unit_test(test_jp_buf_add_over_limit_unchanged),
        cmocka_unit_test(test_jp_buf_add_grows_many_times),
        cmocka_unit_test(test_jp_buf_addf_formats),
        cmocka_unit_test(test_jp_buf_addf_grows_past_spare_room),
        cmocka_unit_test(test_jp_buf_addf_over_limit_unchanged),
        cmocka_unit_test(test_jp_buf_take_returns_content),
        cmocka_unit_test(test_jp_buf_take_empty_gives_empty_string),
        cmocka_unit_test(test_jp_buf_consume_prefix),
        cmocka_unit_test(test_jp_buf_reset_keeps_allocation),
        cmocka_unit_test(test_jp_buf_dispose_twice),
        cmocka_unit_test(test_jp_buf_add_nomem_unchanged),
        cmocka_unit_test(test_jp_buf_add_jstr_escapes),
        cmocka_unit_test(test_jp_buf_add_jstr_parses),
        cmocka_unit_test(test_jp_buf_add_jstr_over_limit_unchanged),
        cmocka_unit_test(test_jp_buf_add_jstrn_counted),
        cmocka_unit_test(test_jp_buf_add_jstrn_word_boundaries),
        cmocka_unit_test(test_jp_buf_add_jstrn_random_vs_reference),
        cmocka_unit_test(test_jp_buf_add_jstrn_room_boundaries),
        cmocka_unit_test(test_jp_buf_add_jstrn_long_and_empty),
        cmocka_unit_test(test_jp_buf_add_jstrn_nomem_unchanged),
    };

    return cmocka_run_group_tests_name("jp_buf", tests, setup_failalloc, NULL);
}
