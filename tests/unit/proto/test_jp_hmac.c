/*
 * test_jp_hmac.c - unit tests for proto/jp_hmac.c: known-answer signatures (RFC 4231 test
 * cases 1, 2 and 6, keys of one block and just over it, and Jupyter-shaped frames whose HMACs were
 * computed independently with Python's hmac module), empty keys, case-insensitive verification,
 * wrong, malformed and missing signatures, and the replay history (refusal, window eviction, many
 * insertions through the hash set). Does not test the wire format (test_jp_wire.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jp_err.h"
#include "jp_hmac.h"

/* RFC 4231 section 4.3, test case 2: key "Jefe", data "what do ya want for nothing?" */
#define RFC4231_TC2 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

#define JKEY "4f9c6b1e-2d1f-4c3a-9b7e-0123456789ab"
#define JHEADER                                                                                    \
    "{\"msg_id\":\"m1\",\"msg_type\":\"kernel_info_request\",\"username\":\"u\",\"session\":"      \
    "\"s\",\"date\":\"2026-11-29T02:53:06.123456Z\",\"version\":\"5.3\"}"
/* python3: hmac.new(JKEY, JHEADER + b"{}{}{}", hashlib.sha256).hexdigest() */
#define JSIG "0512a9777d8071dcf93363541597dcf326488b1ca2fb8caee0efeb19181596bd"
/* python3: hmac.new(JKEY, b"", hashlib.sha256).hexdigest() */
#define JSIG_EMPTY "82508756ac39ac6eeb40d12fc5832d80c8a933b0cb6c1cc4c55609ff8d529893"
/* python3: hmac.new("clé-ü".encode(), b'{"a":1}{}{}{"text":"hé"}', sha256).hexdigest() */
#define UTF8_SIG "d9738fa7235fdbc82254f9444fba3bed28ffbe5ff17ae03f7831e3901e1d0168"

struct frames4 {
    const void *parts[4];
    size_t lens[4];
};

static struct frames4 make4(const char *a, const char *b, const char *c, const char *d)
{
    struct frames4 f = {{a, b, c, d}, {strlen(a), strlen(b), strlen(c), strlen(d)}};

    return f;
}

static struct jp_signer *signer(const char *key, size_t history)
{
    struct jp_signer *s = jp_signer_new(key, strlen(key), history);

    assert_non_null(s);
    return s;
}

static void test_jp_signer_sign_rfc4231_split_across_frames(void **state)
{
    struct jp_signer *s = signer("Jefe", 0);
    struct frames4 f = make4("what do ", "ya want ", "for ", "nothing?");
    char out[JP_SIG_HEX_LEN + 1];

    (void)state;
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, RFC4231_TC2);
    /* the frame boundaries do not matter, only the concatenation */
    f = make4("", "what do ya want for nothing?", "", "");
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, RFC4231_TC2);
    jp_signer_free(s);
}

static struct jp_signer *signer_bytes(unsigned char byte, size_t len)
{
    unsigned char key[200];
    struct jp_signer *s;

    assert_true(len <= sizeof key);
    memset(key, byte, len);
    s = jp_signer_new(key, len, 0);
    assert_non_null(s);
    return s;
}

/* RFC 4231 test cases 1 (a 20-byte key) and 6 (a 131-byte key, hashed first because it is
 * longer than SHA-256's 64-byte block) */
static void test_jp_signer_sign_rfc4231_short_and_long_keys(void **state)
{
    struct jp_signer *s = signer_bytes(0x0b, 20);
    struct frames4 f = make4("Hi ", "There", "", "");
    char out[JP_SIG_HEX_LEN + 1];

    (void)state;
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    jp_signer_free(s);
    s = signer_bytes(0xaa, 131);
    f = make4("Test Using Larger Than Block-Size Key", " - Hash Key First", "", "");
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, out, strlen(out)), 0);
    jp_signer_free(s);
}

/* keys of exactly one block (used as they are) and one byte more (hashed); expected values
 * from python3: hmac.new(b"k" * n, b'{"a":1}{}{}{}', hashlib.sha256).hexdigest() */
static void test_jp_signer_sign_key_at_block_boundary(void **state)
{
    static const char *const want[2] = {
        "81b028997288dfd320667cdecec76aea7a3e823e5bddf4265200f854d4c9c63c",
        "bb7c2c3284aafad7f6878dab80d7dccdaf81d3b6ae976eca3c20dd2c3a1e3e34"};
    struct frames4 f = make4("{\"a\":1}", "{}", "{}", "{}");
    char out[JP_SIG_HEX_LEN + 1];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct jp_signer *s = signer_bytes('k', 64 + i);
        assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
        assert_string_equal(out, want[i]);
        /* signing twice gives the same: the keyed states are not consumed */
        assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
        assert_string_equal(out, want[i]);
        jp_signer_free(s);
    }
}

static void test_jp_signer_sign_jupyter_known_answer(void **state)
{
    struct jp_signer *s = signer(JKEY, 0);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");
    char out[JP_SIG_HEX_LEN + 1];

    (void)state;
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, JSIG);
    f = make4("", "", "", "");
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, JSIG_EMPTY);
    jp_signer_free(s);
}

static void test_jp_signer_sign_utf8_key(void **state)
{
    struct jp_signer *s = signer("cl\xc3\xa9-\xc3\xbc", 0);
    struct frames4 f = make4("{\"a\":1}", "{}", "{}", "{\"text\":\"h\xc3\xa9\"}");
    char out[JP_SIG_HEX_LEN + 1];

    (void)state;
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, UTF8_SIG);
    jp_signer_free(s);
}

static void test_jp_signer_sign_empty_key_gives_empty(void **state)
{
    struct jp_signer *s = jp_signer_new(NULL, 0, 16);
    struct frames4 f = make4("a", "b", "c", "d");
    char out[JP_SIG_HEX_LEN + 1];

    (void)state;
    assert_non_null(s);
    assert_false(jp_signer_enabled(s));
    memset(out, 'x', sizeof out);
    assert_int_equal(jp_signer_sign(s, f.parts, f.lens, out), 0);
    assert_string_equal(out, "");
    jp_signer_free(s);
}

static void test_jp_signer_verify_empty_key_accepts_anything(void **state)
{
    struct jp_signer *s = jp_signer_new("", 0, 16);
    struct frames4 f = make4("a", "b", "c", "d");

    (void)state;
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, "", 0), 0);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, "garbage", 7), 0);
    /* and no replay check either */
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), 0);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), 0);
    jp_signer_free(s);
}

static void test_jp_signer_enabled_with_key(void **state)
{
    struct jp_signer *s = signer("k", 0);

    (void)state;
    assert_true(jp_signer_enabled(s));
    assert_false(jp_signer_enabled(NULL));
    jp_signer_free(s);
    jp_signer_free(NULL);
}

static void test_jp_signer_new_null_key_with_length(void **state)
{
    (void)state;
    assert_null(jp_signer_new(NULL, 4, 0));
}

static void test_jp_signer_verify_correct(void **state)
{
    struct jp_signer *s = signer(JKEY, 16);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");

    (void)state;
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, strlen(JSIG)), 0);
    jp_signer_free(s);
}

static void test_jp_signer_verify_uppercase_hex(void **state)
{
    struct jp_signer *s = signer(JKEY, 16);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");
    char upper[] = JSIG;
    size_t i;

    (void)state;
    for (i = 0; upper[i]; i++) {
        if (upper[i] >= 'a' && upper[i] <= 'f')
            upper[i] = (char)(upper[i] - 'a' + 'A');
    }
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, upper, 64), 0);
    jp_signer_free(s);
}

static void test_jp_signer_verify_wrong_signature(void **state)
{
    struct jp_signer *s = signer(JKEY, 16);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");
    char bad[] = JSIG;

    (void)state;
    bad[63] = bad[63] == '0' ? '1' : '0';
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, bad, 64), JP_ESIG);
    bad[63] = JSIG[63];
    bad[0] = bad[0] == '0' ? '1' : '0';
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, bad, 64), JP_ESIG);
    /* right signature, different content */
    f = make4(JHEADER, "{}", "{}", "{ }");
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), JP_ESIG);
    jp_signer_free(s);
}

static void test_jp_signer_verify_wrong_key(void **state)
{
    struct jp_signer *s = signer(JKEY "x", 16);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");

    (void)state;
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), JP_ESIG);
    jp_signer_free(s);
}

static void test_jp_signer_verify_malformed_signature(void **state)
{
    struct jp_signer *s = signer(JKEY, 16);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");
    char bad[] = JSIG "00";

    (void)state;
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 63), JP_ESIG);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, bad, 66), JP_ESIG);
    bad[10] = 'g';
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, bad, 64), JP_ESIG);
    bad[10] = ' ';
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, bad, 64), JP_ESIG);
    /* the correct one is still accepted: failures are not recorded */
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), 0);
    jp_signer_free(s);
}

static void test_jp_signer_verify_unsigned(void **state)
{
    struct jp_signer *s = signer(JKEY, 16);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");

    (void)state;
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, "", 0), JP_EUNSIGNED);
    jp_signer_free(s);
}

static void test_jp_signer_verify_replay_refused(void **state)
{
    struct jp_signer *s = signer(JKEY, 16);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");

    (void)state;
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), 0);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), JP_EREPLAY);
    /* the same signature in upper case is the same digest */
    assert_int_equal(
        jp_signer_verify(s, f.parts, f.lens,
                         "0512A9777D8071DCF93363541597DCF326488B1CA2FB8CAEE0EFEB19181596BD", 64),
        JP_EREPLAY);
    jp_signer_free(s);
}

static void test_jp_signer_verify_history_zero_allows_replay(void **state)
{
    struct jp_signer *s = signer(JKEY, 0);
    struct frames4 f = make4(JHEADER, "{}", "{}", "{}");

    (void)state;
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), 0);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, JSIG, 64), 0);
    jp_signer_free(s);
}

/* Sign content "{"n":i}" with signer s. */
static void sign_n(const struct jp_signer *s, int i, struct frames4 *f, char *content,
                   char sig[JP_SIG_HEX_LEN + 1])
{
    snprintf(content, 32, "{\"n\":%d}", i);
    *f = make4("{}", "{}", "{}", content);
    assert_int_equal(jp_signer_sign(s, f->parts, f->lens, sig), 0);
}

static void test_jp_signer_verify_history_window_evicts_oldest(void **state)
{
    struct jp_signer *s = signer("key", 2);
    struct frames4 f;
    char content[32], sig[JP_SIG_HEX_LEN + 1];

    (void)state;
    sign_n(s, 1, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    sign_n(s, 2, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    sign_n(s, 1, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), JP_EREPLAY);
    sign_n(s, 3, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    /* 1 fell out of the window of 2; 2 and 3 are remembered */
    sign_n(s, 1, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    sign_n(s, 3, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), JP_EREPLAY);
    sign_n(s, 2, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    jp_signer_free(s);
}

static void test_jp_signer_verify_history_many_insertions(void **state)
{
    enum { HISTORY = 37, TOTAL = 5000 };
    struct jp_signer *s = signer("key", HISTORY);
    struct frames4 f;
    char content[32], sig[JP_SIG_HEX_LEN + 1];
    int i;

    (void)state;
    /* exercises eviction with backward-shift deletion many times over */
    for (i = 0; i < TOTAL; i++) {
        sign_n(s, i, &f, content, sig);
        assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    }
    /* the last HISTORY are all still found (refusal does not change the history) */
    for (i = TOTAL - HISTORY; i < TOTAL; i++) {
        sign_n(s, i, &f, content, sig);
        assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), JP_EREPLAY);
    }
    /* an older one is accepted again, and then refused */
    sign_n(s, TOTAL - HISTORY - 1, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), JP_EREPLAY);
    /* which evicted the oldest remembered one */
    sign_n(s, TOTAL - HISTORY, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    jp_signer_free(s);
}

static void test_jp_signer_verify_history_of_one(void **state)
{
    struct jp_signer *s = signer("key", 1);
    struct frames4 f;
    char content[32], sig[JP_SIG_HEX_LEN + 1];

    (void)state;
    sign_n(s, 1, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), JP_EREPLAY);
    sign_n(s, 2, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    sign_n(s, 1, &f, content, sig);
    assert_int_equal(jp_signer_verify(s, f.parts, f.lens, sig, 64), 0);
    jp_signer_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_signer_sign_rfc4231_split_across_frames),
        cmocka_unit_test(test_jp_signer_sign_rfc4231_short_and_long_keys),
        cmocka_unit_test(test_jp_signer_sign_key_at_block_boundary),
        cmocka_unit_test(test_jp_signer_sign_jupyter_known_answer),
        cmocka_unit_test(test_jp_signer_sign_utf8_key),
        cmocka_unit_test(test_jp_signer_sign_empty_key_gives_empty),
        cmocka_unit_test(test_jp_signer_verify_empty_key_accepts_anything),
        cmocka_unit_test(test_jp_signer_enabled_with_key),
        cmocka_unit_test(test_jp_signer_new_null_key_with_length),
        cmocka_unit_test(test_jp_signer_verify_correct),
        cmocka_unit_test(test_jp_signer_verify_uppercase_hex),
        cmocka_unit_test(test_jp_signer_verify_wrong_signature),
        cmocka_unit_test(test_jp_signer_verify_wrong_key),
        cmocka_unit_test(test_jp_signer_verify_malformed_signature),
        cmocka_unit_test(test_jp_signer_verify_unsigned),
        cmocka_unit_test(test_jp_signer_verify_replay_refused),
        cmocka_unit_test(test_jp_signer_verify_history_zero_allows_replay),
        cmocka_unit_test(test_jp_signer_verify_history_window_evicts_oldest),
        cmocka_unit_test(test_jp_signer_verify_history_many_insertions),
        cmocka_unit_test(test_jp_signer_verify_history_of_one),
    };

    return cmocka_run_group_tests_name("jp_hmac", tests, NULL, NULL);
}
